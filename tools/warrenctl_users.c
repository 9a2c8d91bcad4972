/*
 * warrenctl_users.c: rabbitmqctl's user, vhost and permission commands in warrenctl(8):
 * add_user, delete_user, change_password, clear_password, set_user_tags, add_vhost,
 * delete_vhost, set_permissions, clear_permissions, set_topic_permissions and
 * clear_topic_permissions, as management API requests on the control socket (PUT and DELETE of
 * /api/users/{u}, /api/vhosts/{v}, /api/permissions/{v}/{u} and /api/topic-permissions/{v}/{u}).
 * warrend edits the users file or the vhost's file and reloads, as for any API write, before it
 * answers; without a users_file it refuses, naming it. The lines printed and the refusals are
 * rabbitmqctl 3.10's (the exit status of a refusal is 1, as for warrenctl's other commands).
 * The listings (list_user_permissions and the topic ones) are warrenctl_rmq.c's.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "tools/warrenctl.h"

#define TARGET_MAX (2 * NAME_ENC_MAX + 64)

/* "User "u" does not exist" as rabbitmqctl words it for this command: EXIT_FAILURE. */
static int no_user(const char *user, bool quoted)
{
	fprintf(stderr,
	    quoted ? "Error:\nUser \"%s\" does not exist\n" : "Error:\nUser %s does not exist\n",
	    user);
	return EXIT_FAILURE;
}

/* Refuse a vhost or a user that is not there (checked before a permissions write). */
static int vhost_and_user(struct ctl_opts *o, const char *vhost, const char *user)
{
	if (!api_exists(o, "vhosts", vhost)) {
		fprintf(stderr, "Error:\nVirtual host %s does not exist\n", vhost);
		return EXIT_FAILURE;
	}
	if (!api_exists(o, "users", user))
		return no_user(user, false);
	return 0;
}

/*
 * The password when the command line has none, as rabbitmqctl reads it: a line of standard
 * input, without echo at a terminal. NULL (printed) when there is none.
 */
static char *read_password(void)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (tty) {
		fputs("Password: ", stderr);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	n = getline(&line, &cap, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n <= 0) {
		free(line);
		fprintf(
		    stderr, "Error:\nno password given (on the command line or standard input)\n");
		return NULL;
	}
	line[strcspn(line, "\r\n")] = '\0';
	return line;
}

/* PUT /api/users/{user} with body: 0 or EXIT_FAILURE (printed). */
static int put_user(struct ctl_opts *o, const char *user, json_t *body)
{
	char target[TARGET_MAX], e[NAME_ENC_MAX], *text = json_dumps(body, JSON_COMPACT);
	int r;

	snprintf(target, sizeof(target), "/api/users/%s", api_enc(user, e, sizeof(e)));
	r = api_change(o, "PUT", target, text, NULL);
	free(text);
	json_decref(body);
	return r;
}

/* add_user USER [PASSWORD] and change_password USER [PASSWORD]. */
static int set_password(struct ctl_opts *o, bool add)
{
	const char *user;
	char *pw;
	int r;

	if (o->argc != 1 && o->argc != 2)
		return -1;
	user = o->argv[0];
	ctl_info(o, add ? "Adding user \"%s\" ..." : "Changing password for user \"%s\" ...", user);
	fflush(stdout);
	if (add && api_exists(o, "users", user)) {
		fprintf(stderr, "Error:\nUser \"%s\" already exists\n", user);
		return EXIT_FAILURE;
	}
	if (!add && !api_exists(o, "users", user))
		return no_user(user, true);
	pw = o->argc == 2 ? strdup(o->argv[1]) : read_password();
	if (pw == NULL)
		return EXIT_FAILURE;
	/* A new user has no tags; a changed one keeps its own (no "tags" key). */
	r = put_user(o, user,
	    add ? json_pack("{s:s, s:s}", "password", pw, "tags", "")
	        : json_pack("{s:s}", "password", pw));
	memset(pw, 0, strlen(pw));
	free(pw);
	if (r == 0 && add)
		ctl_info(o,
		    "Done. Don't forget to grant the user permissions to some virtual hosts! "
		    "See 'rabbitmqctl help set_permissions' to learn more.");
	return r;
}

/* clear_password USER: no password login any more (the users file's "!"). */
static int clear_password(struct ctl_opts *o)
{
	if (o->argc != 1)
		return -1;
	ctl_info(o, "Clearing password for user \"%s\" ...", o->argv[0]);
	fflush(stdout);
	if (!api_exists(o, "users", o->argv[0]))
		return no_user(o->argv[0], true);
	return put_user(o, o->argv[0], json_pack("{s:s}", "password_hash", ""));
}

/* set_user_tags USER [TAG...]: the tags replaced (none: cleared), the password kept. */
static int set_user_tags(struct ctl_opts *o)
{
	char tags[1024] = "", shown[1100] = "";
	size_t at = 0, sat = 0;
	int i;

	if (o->argc < 1)
		return -1;
	for (i = 1; i < o->argc; i++) {
		if (strchr(o->argv[i], ',') != NULL) {
			fprintf(stderr,
			    "Error:\ntag \"%s\": a users file separates tags by commas\n",
			    o->argv[i]);
			return EXIT_FAILURE;
		}
		at += (size_t)snprintf(tags + at, at < sizeof(tags) ? sizeof(tags) - at : 0, "%s%s",
		    i > 1 ? "," : "", o->argv[i]);
		sat += (size_t)snprintf(shown + sat, sat < sizeof(shown) ? sizeof(shown) - sat : 0,
		    "%s%s", i > 1 ? ", " : "", o->argv[i]);
	}
	if (at >= sizeof(tags) || sat >= sizeof(shown)) {
		fprintf(stderr, "Error:\ntoo many tags\n");
		return EXIT_FAILURE;
	}
	ctl_info(o, "Setting tags for user \"%s\" to [%s] ...", o->argv[0], shown);
	fflush(stdout);
	if (!api_exists(o, "users", o->argv[0]))
		return no_user(o->argv[0], true);
	return put_user(o, o->argv[0], json_pack("{s:s}", "tags", tags));
}

static int delete_user(struct ctl_opts *o)
{
	char target[TARGET_MAX], e[NAME_ENC_MAX], missing[NAME_ENC_MAX + 64];

	if (o->argc != 1)
		return -1;
	ctl_info(o, "Deleting user \"%s\" ...", o->argv[0]);
	fflush(stdout);
	snprintf(target, sizeof(target), "/api/users/%s", api_enc(o->argv[0], e, sizeof(e)));
	snprintf(missing, sizeof(missing), "User \"%s\" does not exist", o->argv[0]);
	return api_change(o, "DELETE", target, NULL, missing);
}

/* add_vhost VHOST (a vhost that exists is left as it is) and delete_vhost VHOST. */
static int vhost_cmd(struct ctl_opts *o, bool add)
{
	char target[TARGET_MAX], e[NAME_ENC_MAX];
	struct api_answer a;
	int r = EXIT_FAILURE;

	if (o->argc != 1)
		return -1;
	ctl_info(o, add ? "Adding vhost \"%s\" ..." : "Deleting vhost \"%s\" ...", o->argv[0]);
	fflush(stdout);
	snprintf(target, sizeof(target), "/api/vhosts/%s", api_enc(o->argv[0], e, sizeof(e)));
	if (add)
		return api_change(o, "PUT", target, "{}", NULL);
	/* rabbitmqctl says this one without "Error:" */
	if (api_request(o, &a, "DELETE", target, NULL, NULL, 0) != 0)
		goto out;
	if (a.status == 404)
		fprintf(stderr, "Virtual host '%s' does not exist\n", o->argv[0]);
	else if (a.status >= 400)
		api_error(&a, NULL);
	else
		r = EXIT_SUCCESS;
out:
	api_close(&a);
	return r;
}

/*
 * set_permissions [-p VHOST] USER CONF WRITE READ, clear_permissions [-p VHOST] USER, and the
 * topic forms: set_topic_permissions [-p VHOST] USER EXCHANGE WRITE READ and
 * clear_topic_permissions [-p VHOST] USER [EXCHANGE] (without one, every exchange's).
 */
static int permissions_cmd(struct ctl_opts *o, bool topic, bool set)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/", *user, *x = NULL;
	char target[TARGET_MAX + NAME_ENC_MAX], ev[NAME_ENC_MAX], eu[NAME_ENC_MAX];
	char ex[NAME_ENC_MAX], *text = NULL;
	struct api_answer a;
	json_t *body;
	int r;

	if (o->argc != (set ? 4 : 1) && !(topic && !set && o->argc == 2))
		return -1;
	user = o->argv[0];
	if (topic && o->argc >= 2)
		x = o->argv[1];
	if (topic && x != NULL)
		ctl_info(o, "%s topic permissions on \"%s\" for user \"%s\" in vhost \"%s\" ...",
		    set ? "Setting" : "Clearing", x, user, vhost);
	else
		ctl_info(o, "%s %spermissions for user \"%s\" in vhost \"%s\" ...",
		    set ? "Setting" : "Clearing", topic ? "topic " : "", user, vhost);
	fflush(stdout);
	if ((r = vhost_and_user(o, vhost, user)) != 0)
		return r;
	snprintf(target, sizeof(target), "/api/%spermissions/%s/%s", topic ? "topic-" : "",
	    api_enc(vhost, ev, sizeof(ev)), api_enc(user, eu, sizeof(eu)));
	if (!set) {
		if (x != NULL)
			snprintf(target + strlen(target), sizeof(target) - strlen(target),
			    "?exchange=%s", api_enc(x, ex, sizeof(ex)));
		/* Nothing to clear is not an error to rabbitmqctl. */
		if (api_request(o, &a, "DELETE", target, NULL, NULL, 0) != 0)
			r = EXIT_FAILURE;
		else if (a.status >= 400 && a.status != 404)
			r = api_error(&a, NULL);
		api_close(&a);
		return r;
	}
	body = topic
	    ? json_pack("{s:s, s:s, s:s}", "exchange", x, "write", o->argv[2], "read", o->argv[3])
	    : json_pack("{s:s, s:s, s:s}", "configure", o->argv[1], "write", o->argv[2], "read",
	          o->argv[3]);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	r = api_change(o, "PUT", target, text, NULL);
	free(text);
	return r;
}

int rmq_users_cmd(struct ctl_opts *o, const char *cmd)
{
	bool topic = strstr(cmd, "topic_") != NULL;

	if (strcmp(cmd, "add_user") == 0 || strcmp(cmd, "change_password") == 0)
		return set_password(o, cmd[0] == 'a');
	if (strcmp(cmd, "clear_password") == 0)
		return clear_password(o);
	if (strcmp(cmd, "set_user_tags") == 0)
		return set_user_tags(o);
	if (strcmp(cmd, "delete_user") == 0)
		return delete_user(o);
	if (strcmp(cmd, "add_vhost") == 0 || strcmp(cmd, "delete_vhost") == 0)
		return vhost_cmd(o, cmd[0] == 'a');
	return permissions_cmd(o, topic, strncmp(cmd, "set_", 4) == 0);
}
