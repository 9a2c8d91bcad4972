/*
 * warrenctl_rmq.c: rabbitmqctl's commands in warrenctl(8): status, list_queues, list_exchanges,
 * list_bindings, list_connections, list_channels, list_consumers, list_users, list_vhosts,
 * list_permissions, list_policies, list_operator_policies, close_connection, purge_queue,
 * delete_queue, export_definitions and import_definitions (set_policy and clear_policy are
 * warrenctl_policy.c's, the vhost limits' verbs warrenctl_limits.c's). Each is one or a few management API requests sent on a running warrend's
 * control socket ("api METHOD TARGET [NAME=VALUE...]", server/admin/control_api.c), so they work
 * with the HTTP API turned off; warrend answers with the API's JSON (a list one object a line,
 * streamed) and this file prints it as rabbitmqctl 3.10 does: info lines ("Listing queues for
 * vhost / ..."; -q drops them), a header row (--no-table-headers drops it) and tab-separated
 * rows, or with --formatter json rabbitmqctl's JSON array. Rows are printed as they arrive.
 * The requests themselves are warrenctl_api.c's.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "tools/warrenctl.h"

#define BODY_MAX (64u << 20) /* as warrend's CONTROL_BODY_MAX */
#define COLUMNS_MAX 32

/* ---- Printing ---- */

void ctl_info(const struct ctl_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet || o->json)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout); /* before an error on stderr */
}

/* A string in a table cell: tabs and line ends escaped so that a row stays one line. */
static void cell_str(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\t')
			fputs("\\t", stdout);
		else if (*s == '\n')
			fputs("\\n", stdout);
		else if (*s == '\r')
			fputs("\\r", stdout);
		else
			putchar(*s);
	}
}

/* A value as rabbitmqctl prints Erlang terms in a table: [{"x-max-length",10}]. */
static void term(const json_t *v)
{
	const char *k, *s;
	json_t *x;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		putchar('"');
		for (s = json_string_value(v); *s != '\0'; s++) {
			if (*s == '"' || *s == '\\')
				putchar('\\');
			putchar(*s);
		}
		putchar('"');
		break;
	case JSON_INTEGER: printf("%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: printf("%g", json_real_value(v)); break;
	case JSON_TRUE: fputs("true", stdout); break;
	case JSON_FALSE: fputs("false", stdout); break;
	case JSON_NULL: fputs("undefined", stdout); break;
	case JSON_OBJECT:
		putchar('[');
		i = 0;
		json_object_foreach((json_t *)v, k, x)
		{
			printf("%s{\"", i++ > 0 ? "," : "");
			cell_str(k);
			fputs("\",", stdout);
			term(x);
			putchar('}');
		}
		putchar(']');
		break;
	case JSON_ARRAY:
		putchar('[');
		json_array_foreach(v, i, x)
		{
			if (i > 0)
				putchar(',');
			term(x);
		}
		putchar(']');
		break;
	}
}

/* A table cell: strings as they are, lists of names as [a, b], tables as Erlang terms. */
static void cell(const json_t *v)
{
	json_t *x;
	size_t i;

	if (v == NULL || json_is_null(v)) /* as rabbitmqctl prints a queue without a policy */
		return;
	if (json_is_string(v)) {
		cell_str(json_string_value(v));
	} else if (json_is_array(v)) {
		putchar('[');
		json_array_foreach(v, i, x)
		{
			if (i > 0)
				fputs(", ", stdout);
			if (json_is_string(x))
				cell_str(json_string_value(x));
			else
				term(x);
		}
		putchar(']');
	} else if (json_is_object(v)) {
		term(v);
	} else {
		term(v);
	}
}

/* The value at a dotted path ("queue.name"), borrowed, or NULL. */
static json_t *path_get(json_t *o, const char *path)
{
	char part[128];
	const char *dot;

	while (json_is_object(o)) {
		dot = strchrnul(path, '.');
		if ((size_t)(dot - path) >= sizeof(part))
			return NULL;
		memcpy(part, path, (size_t)(dot - path));
		part[dot - path] = '\0';
		o = json_object_get(o, part);
		if (*dot == '\0')
			return o;
		path = dot + 1;
	}
	return NULL;
}

/* ---- The list commands ---- */

/* A column: rabbitmqctl's name, and the dotted path of the API's field (or a constant). */
struct col {
	const char *name;
	const char *path; /* "=VALUE": the same value in every row; "~PATH": printed as JSON */
};

struct listing {
	const char *target; /* the API path; %s is the vhost when per_vhost, else the user */
	bool per_vhost;     /* -p VHOST, default "/" */
	bool per_user;      /* the first word is a user name (not a column) */
	const char *info;   /* the info line; %s is the vhost or the user */
	const struct col *cols;
	const char *defaults; /* the columns without any asked for */
};

static const struct col queue_cols[] = { { "name", "name" }, { "durable", "durable" },
	{ "auto_delete", "auto_delete" }, { "exclusive", "exclusive" },
	{ "arguments", "arguments" }, { "messages", "messages" },
	{ "messages_ready", "messages_ready" },
	{ "messages_unacknowledged", "messages_unacknowledged" },
	{ "message_bytes", "message_bytes" }, { "message_bytes_ready", "message_bytes_ready" },
	{ "message_bytes_unacknowledged", "message_bytes_unacknowledged" },
	{ "messages_ram", "messages_ram" }, { "messages_ready_ram", "messages_ready_ram" },
	{ "messages_unacknowledged_ram", "messages_unacknowledged_ram" },
	{ "message_bytes_ram", "message_bytes_ram" }, { "policy", "policy" },
	{ "exclusive_consumer_tag", "exclusive_consumer_tag" }, { "consumers", "consumers" },
	{ "consumer_utilisation", "consumer_utilisation" },
	{ "consumer_capacity", "consumer_capacity" }, { "memory", "memory" },
	{ "head_message_timestamp", "head_message_timestamp" }, { "state", "state" },
	{ "type", "type" }, { NULL, NULL } };
static const struct col exchange_cols[] = { { "name", "name" }, { "type", "type" },
	{ "durable", "durable" }, { "auto_delete", "auto_delete" }, { "internal", "internal" },
	{ "arguments", "arguments" }, { NULL, NULL } };
static const struct col binding_cols[] = { { "source_name", "source" },
	{ "source_kind", "=exchange" }, { "destination_name", "destination" },
	{ "destination_kind", "destination_type" }, { "routing_key", "routing_key" },
	{ "arguments", "arguments" }, { NULL, NULL } };
static const struct col connection_cols[] = { { "name", "name" }, { "pid", "name" },
	{ "user", "user" }, { "vhost", "vhost" }, { "peer_host", "peer_host" },
	{ "peer_port", "peer_port" }, { "host", "host" }, { "port", "port" }, { "state", "state" },
	{ "channels", "channels" }, { "ssl", "ssl" }, { "protocol", "protocol" },
	{ "auth_mechanism", "auth_mechanism" }, { "timeout", "timeout" },
	{ "frame_max", "frame_max" }, { "channel_max", "channel_max" }, { "recv_oct", "recv_oct" },
	{ "recv_cnt", "recv_cnt" }, { "send_oct", "send_oct" }, { "send_cnt", "send_cnt" },
	{ "connected_at", "connected_at" }, { "client_properties", "client_properties" },
	{ "user_provided_name", "user_provided_name" }, { NULL, NULL } };
static const struct col channel_cols[] = { { "name", "name" }, { "number", "number" },
	{ "user", "user" }, { "vhost", "vhost" }, { "connection", "connection_details.name" },
	{ "transactional", "transactional" }, { "confirm", "confirm" },
	{ "consumer_count", "consumer_count" },
	{ "messages_unacknowledged", "messages_unacknowledged" },
	{ "messages_unconfirmed", "messages_unconfirmed" },
	{ "messages_uncommitted", "messages_uncommitted" },
	{ "acks_uncommitted", "acks_uncommitted" }, { "prefetch_count", "prefetch_count" },
	{ "global_prefetch_count", "global_prefetch_count" }, { NULL, NULL } };
static const struct col consumer_cols[] = { { "queue_name", "queue.name" },
	{ "channel_name", "channel_details.name" }, { "consumer_tag", "consumer_tag" },
	{ "ack_required", "ack_required" }, { "prefetch_count", "prefetch_count" },
	{ "active", "active" }, { "activity_status", "activity_status" },
	{ "exclusive", "exclusive" }, { "arguments", "arguments" }, { NULL, NULL } };
static const struct col user_cols[] = { { "user", "name" }, { "tags", "tags" }, { NULL, NULL } };
static const struct col vhost_cols[] = { { "name", "name" }, { "description", "description" },
	{ "tags", "tags" }, { "tracing", "tracing" },
	{ "default_queue_type", "default_queue_type" }, { "messages", "messages" },
	{ "messages_ready", "messages_ready" },
	{ "messages_unacknowledged", "messages_unacknowledged" }, { NULL, NULL } };
static const struct col permission_cols[] = { { "user", "user" }, { "configure", "configure" },
	{ "write", "write" }, { "read", "read" }, { NULL, NULL } };
static const struct col user_permission_cols[] = { { "vhost", "vhost" },
	{ "configure", "configure" }, { "write", "write" }, { "read", "read" }, { NULL, NULL } };
static const struct col topic_cols[] = { { "user", "user" }, { "exchange", "exchange" },
	{ "write", "write" }, { "read", "read" }, { NULL, NULL } };
static const struct col user_topic_cols[] = { { "vhost", "vhost" }, { "exchange", "exchange" },
	{ "write", "write" }, { "read", "read" }, { NULL, NULL } };
static const struct col policy_cols[] = { { "vhost", "vhost" }, { "name", "name" },
	{ "pattern", "pattern" }, { "apply-to", "apply-to" }, { "definition", "~definition" },
	{ "priority", "priority" }, { NULL, NULL } };

static const struct {
	const char *cmd;
	struct listing l;
} listings[] = {
	{ "list_queues",
	    { "/api/queues/%s", true, false, "Listing queues for vhost %s ...", queue_cols,
	        "name,messages" } },
	{ "list_exchanges",
	    { "/api/exchanges/%s", true, false, "Listing exchanges for vhost %s ...", exchange_cols,
	        "name,type" } },
	{ "list_bindings",
	    { "/api/bindings/%s", true, false, "Listing bindings for vhost %s...", binding_cols,
	        "source_name,source_kind,destination_name,destination_kind,"
	        "routing_key,arguments" } },
	{ "list_connections",
	    { "/api/connections", false, false, "Listing connections ...", connection_cols,
	        "user,peer_host,peer_port,state" } },
	{ "list_channels",
	    { "/api/channels", false, false, "Listing channels ...", channel_cols,
	        "name,user,consumer_count,messages_unacknowledged" } },
	{ "list_consumers",
	    { "/api/consumers/%s", true, false, "Listing consumers in vhost %s ...", consumer_cols,
	        "queue_name,channel_name,consumer_tag,ack_required,"
	        "prefetch_count,active,arguments" } },
	{ "list_users",
	    { "/api/users", false, false, "Listing users ...", user_cols, "user,tags" } },
	{ "list_vhosts",
	    { "/api/vhosts", false, false, "Listing vhosts ...", vhost_cols, "name" } },
	{ "list_permissions",
	    { "/api/vhosts/%s/permissions", true, false, "Listing permissions for vhost \"%s\" ...",
	        permission_cols, "user,configure,write,read" } },
	{ "list_user_permissions",
	    { "/api/users/%s/permissions", false, true, "Listing permissions for user \"%s\" ...",
	        user_permission_cols, "vhost,configure,write,read" } },
	{ "list_topic_permissions",
	    { "/api/vhosts/%s/topic-permissions", true, false,
	        "Listing topic permissions for vhost \"%s\" ...", topic_cols,
	        "user,exchange,write,read" } },
	{ "list_user_topic_permissions",
	    { "/api/users/%s/topic-permissions", false, true,
	        "Listing topic permissions for user \"%s\" ...", user_topic_cols,
	        "vhost,exchange,write,read" } },
	{ "list_policies",
	    { "/api/policies/%s", true, false, "Listing policies for vhost \"%s\" ...", policy_cols,
	        "vhost,name,pattern,apply-to,definition,priority" } },
	{ "list_operator_policies",
	    { "/api/operator-policies/%s", true, false,
	        "Listing operator policy overrides for vhost \"%s\" ...", policy_cols,
	        "vhost,name,pattern,apply-to,definition,priority" } },
};

/* The columns asked for (positional words, each may hold several "a,b"), or the defaults. */
static int pick_columns(const struct ctl_opts *o, const struct listing *l, const struct col **out)
{
	char buf[1024], *w, *save = NULL;
	size_t n = 0, i;
	int k;

	for (k = o->argc > 0 ? 0 : -1; k < o->argc; k++) {
		snprintf(buf, sizeof(buf), "%s", k < 0 ? l->defaults : o->argv[k]);
		for (w = strtok_r(buf, ",", &save); w != NULL; w = strtok_r(NULL, ",", &save)) {
			for (i = 0; l->cols[i].name != NULL && strcmp(l->cols[i].name, w) != 0; i++)
				;
			if (l->cols[i].name == NULL) {
				fprintf(stderr,
				    "Error (argument validation): Info key(s) %s are not "
				    "supported\nThe keys are:",
				    w);
				for (i = 0; l->cols[i].name != NULL; i++)
					fprintf(stderr, "%s %s", i > 0 ? "," : "", l->cols[i].name);
				fputc('\n', stderr);
				return -1;
			}
			if (n == COLUMNS_MAX) {
				fprintf(stderr, "warrenctl: at most %d columns\n", COLUMNS_MAX);
				return -1;
			}
			out[n++] = &l->cols[i];
		}
		save = NULL;
	}
	out[n] = NULL;
	return (int)n;
}

static int run_listing(struct ctl_opts *o, const char *cmd, const struct listing *l)
{
	const struct col *cols[COLUMNS_MAX + 1];
	char target[NAME_ENC_MAX + 2048], e[NAME_ENC_MAX];
	const char *vhost = o->vhost != NULL ? o->vhost : "/", *name = vhost;
	size_t rows = 0, i;
	struct api_answer a;
	json_t *row, *out;
	json_error_t jerr;
	char *line;
	int n, r = EXIT_FAILURE;

	if (l->per_user) { /* the user, then any columns */
		if (o->argc < 1)
			return -1;
		name = o->argv[0];
		o->argc--;
		o->argv++;
	}
	if ((n = pick_columns(o, l, cols)) < 0)
		return EXIT_USAGE;
	if (o->vhost != NULL && !l->per_vhost) {
		fprintf(stderr, "warrenctl: %s lists every vhost's: it takes no -p\n", cmd);
		return EXIT_USAGE;
	}
	n = snprintf(target, sizeof(target), l->target, api_enc(name, e, sizeof(e)));
	/* Only the fields shown come back. */
	for (i = 0; cols[i] != NULL && (size_t)n < sizeof(target); i++)
		if (cols[i]->path[0] != '=')
			n += snprintf(target + n, sizeof(target) - (size_t)n, "%s%s",
			    n > 0 && strchr(target, '?') ? "," : "?columns=",
			    cols[i]->path + (cols[i]->path[0] == '~'));
	if (strcmp(cmd, "list_queues") == 0)
		ctl_info(o, "Timeout: %d.0 seconds ...", o->timeout);
	ctl_info(o, l->info, name);
	if (api_request(o, &a, "GET", target, NULL, NULL, 0) != 0)
		goto out;
	if (a.status == 404 && (l->per_vhost || l->per_user)) {
		fprintf(stderr,
		    l->per_user ? "Error:\nUser \"%s\" does not exist\n"
		                : "Error:\nVirtual host '%s' does not exist\n",
		    name);
		goto out;
	}
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	while ((line = api_line(&a)) != NULL && strcmp(line, ".") != 0) {
		if ((row = json_loads(line, 0, &jerr)) == NULL) {
			fprintf(stderr, "warrenctl: a row is not JSON: %s\n", jerr.text);
			goto out;
		}
		if (o->json) {
			out = json_object();
			for (i = 0; cols[i] != NULL; i++) {
				json_t *v = cols[i]->path[0] == '='
				    ? json_string(cols[i]->path + 1)
				    : json_incref(
				          path_get(row, cols[i]->path + (cols[i]->path[0] == '~')));
				json_object_set_new(
				    out, cols[i]->name, v != NULL ? v : json_null());
			}
			fputs(rows == 0 ? "[\n" : "\n,", stdout);
			json_dumpf(out, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
			json_decref(out);
		} else {
			if (rows == 0 && !o->no_headers)
				for (i = 0; cols[i] != NULL; i++)
					printf("%s%s", cols[i]->name, cols[i + 1] ? "\t" : "\n");
			for (i = 0; cols[i] != NULL; i++) {
				if (cols[i]->path[0] == '=')
					fputs(cols[i]->path + 1, stdout);
				else if (cols[i]->path[0] == '~') /* as rabbitmqctl: JSON */
					json_dumpf(path_get(row, cols[i]->path + 1), stdout,
					    JSON_COMPACT | JSON_SORT_KEYS);
				else
					cell(path_get(row, cols[i]->path));
				putchar(cols[i + 1] != NULL ? '\t' : '\n');
			}
		}
		json_decref(row);
		rows++;
	}
	if (line == NULL)
		goto out;
	if (o->json)
		fputs(rows == 0 ? "[\n]\n" : "\n]\n", stdout);
	r = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	api_close(&a);
	return r;
}

/* ---- Queues and connections ---- */

/* A DELETE: 0, 404 (not found: the caller says what), or EXIT_FAILURE (printed). */
static int api_delete(struct ctl_opts *o, const char *target, const char *header)
{
	struct api_answer a;
	json_t *j;
	int r = EXIT_FAILURE;

	if (api_request(o, &a, "DELETE", target, header, NULL, 0) != 0)
		goto out;
	if (a.status == 404) {
		json_decref(api_json(&a));
		r = 404;
		goto out;
	}
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	if ((j = api_json(&a)) != NULL) {
		json_decref(j);
		r = 0;
	}
out:
	api_close(&a);
	return r;
}

/* Why a queue was not found: its vhost, or the queue. */
static const char *queue_missing(struct ctl_opts *o, const char *vhost, const char *queue)
{
	static char why[2400];

	if (!api_exists(o, "vhosts", vhost))
		snprintf(why, sizeof(why), "Virtual host '%s' does not exist", vhost);
	else
		snprintf(why, sizeof(why), "no queue '%s' in vhost '%s'", queue, vhost);
	return why;
}

static int queue_cmd(struct ctl_opts *o, const char *cmd)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/", *queue;
	char target[2 * NAME_ENC_MAX + 64], ev[NAME_ENC_MAX], eq[NAME_ENC_MAX];
	json_t *j = NULL;
	json_int_t ready = 0;
	struct api_answer a;
	bool purge = strcmp(cmd, "purge_queue") == 0;
	int r;

	if (o->argc != 1 || (purge && (o->if_empty || o->if_unused)))
		return -1;
	queue = o->argv[0];
	api_enc(vhost, ev, sizeof(ev));
	api_enc(queue, eq, sizeof(eq));
	if (purge) {
		ctl_info(o, "Purging queue '%s' in vhost '%s' ...", queue, vhost);
		snprintf(target, sizeof(target), "/api/queues/%s/%s/contents", ev, eq);
		if ((r = api_delete(o, target, NULL)) == 404)
			fprintf(stderr, "Error:\n%s\n", queue_missing(o, vhost, queue));
		return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	ctl_info(o, "Deleting queue '%s' on vhost '%s' ...", queue, vhost);
	/* How many ready messages go with it: RabbitMQ says so. */
	snprintf(target, sizeof(target), "/api/queues/%s/%s?columns=messages_ready", ev, eq);
	if (api_request(o, &a, "GET", target, NULL, NULL, 0) == 0 && a.status == 200 &&
	    (j = api_json(&a)) != NULL)
		ready = json_integer_value(json_object_get(j, "messages_ready"));
	else if (a.fd >= 0 && a.status == 404)
		fprintf(stderr, "Error:\n%s\n", queue_missing(o, vhost, queue));
	else if (a.fd >= 0 && a.status >= 400)
		api_error(&a, NULL);
	api_close(&a);
	if (j == NULL)
		return EXIT_FAILURE;
	json_decref(j);
	snprintf(target, sizeof(target), "/api/queues/%s/%s%s%s", ev, eq,
	    o->if_empty ? (o->if_unused ? "?if-empty=true&if-unused=true" : "?if-empty=true") : "",
	    !o->if_empty && o->if_unused ? "?if-unused=true" : "");
	if ((r = api_delete(o, target, NULL)) == 404)
		fprintf(stderr, "Error:\n%s\n", queue_missing(o, vhost, queue));
	if (r != 0)
		return EXIT_FAILURE;
	printf(
	    "Queue was successfully deleted with %" JSON_INTEGER_FORMAT " ready messages\n", ready);
	return fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int close_connection(struct ctl_opts *o)
{
	char target[NAME_ENC_MAX + 32], header[NAME_ENC_MAX + 16], e[NAME_ENC_MAX];
	int r;

	if (o->argc != 2 || o->vhost != NULL)
		return -1;
	if (strlen(o->argv[1]) > 200) { /* CONNECTION_FORCED - ... must fit a shortstr */
		fprintf(stderr, "warrenctl: a reason is at most 200 bytes\n");
		return EXIT_USAGE;
	}
	ctl_info(o, "Closing connection %s, reason: %s...", o->argv[0], o->argv[1]);
	snprintf(target, sizeof(target), "/api/connections/%s", api_enc(o->argv[0], e, sizeof(e)));
	snprintf(header, sizeof(header), "x-reason=%s", api_enc(o->argv[1], e, sizeof(e)));
	if ((r = api_delete(o, target, header)) == 404)
		fprintf(stderr, "Error:\nno connection '%s'\n", o->argv[0]);
	return r == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * close_all_connections [-p VHOST | --global] [--limit N] REASON: the vhost's connections (every
 * one with --global), at most N of them (0: all), each closed as close_connection closes one.
 */
static int close_all_connections(struct ctl_opts *o)
{
	const char *vhost = o->vhost != NULL ? o->vhost : "/", *name, *vh;
	char target[NAME_ENC_MAX + 32], header[NAME_ENC_MAX + 16], e[NAME_ENC_MAX];
	struct api_answer a;
	json_t *rows = json_array(), *row;
	json_error_t jerr;
	long limit = 0, closed = 0;
	char *line, *end;
	size_t i;
	int r = EXIT_FAILURE;

	if (o->argc != 1 || (o->global && o->vhost != NULL))
		goto usage;
	if (o->limit != NULL) {
		limit = strtol(o->limit, &end, 10);
		if (*o->limit == '\0' || *end != '\0' || limit < 0)
			goto usage;
	}
	if (strlen(o->argv[0]) > 200) {
		fprintf(stderr, "warrenctl: a reason is at most 200 bytes\n");
		json_decref(rows);
		return EXIT_USAGE;
	}
	if (o->global)
		ctl_info(o,
		    "Closing all connections to this node (across all vhosts), reason: %s...",
		    o->argv[0]);
	else if (limit > 0)
		ctl_info(o, "Closing %ld connections in vhost %s, reason: %s...", limit, vhost,
		    o->argv[0]);
	else
		ctl_info(
		    o, "Closing all connections in vhost %s, reason: %s...", vhost, o->argv[0]);
	/* The names first (the list is streamed one object a line), then one close each. */
	if (api_request(o, &a, "GET", "/api/connections?columns=name,vhost", NULL, NULL, 0) != 0)
		goto out;
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	while ((line = api_line(&a)) != NULL && strcmp(line, ".") != 0)
		if ((row = json_loads(line, 0, &jerr)) != NULL)
			json_array_append_new(rows, row);
	if (line == NULL)
		goto out;
	snprintf(header, sizeof(header), "x-reason=%s", api_enc(o->argv[0], e, sizeof(e)));
	json_array_foreach(rows, i, row)
	{
		name = json_string_value(json_object_get(row, "name"));
		vh = json_string_value(json_object_get(row, "vhost"));
		if (name == NULL || (limit > 0 && closed >= limit) ||
		    (!o->global && (vh == NULL || strcmp(vh, vhost) != 0)))
			continue;
		snprintf(
		    target, sizeof(target), "/api/connections/%s", api_enc(name, e, sizeof(e)));
		if (api_delete(o, target, header) == 0) /* 404: it went meanwhile */
			closed++;
	}
	ctl_info(o, "Closed %ld connections", closed);
	r = EXIT_SUCCESS;
out:
	api_close(&a);
	json_decref(rows);
	return r;
usage:
	json_decref(rows);
	return -1;
}

/* ---- status ---- */

static json_int_t num(json_t *o, const char *path)
{
	return json_integer_value(path_get(o, path));
}

static const char *str(json_t *o, const char *path)
{
	const char *s = json_string_value(path_get(o, path));

	return s != NULL ? s : "";
}

static int status(struct ctl_opts *o)
{
	json_t *ov = NULL, *nodes = NULL, *node, *l, *st = NULL, *a;
	struct api_answer va;
	struct utsname un;
	json_int_t nvhosts = 0;
	char *line;
	size_t i;
	int r = EXIT_FAILURE;

	if (o->argc != 0 || o->vhost != NULL)
		return -1;
	if (api_get_json(o, "/api/overview", &ov) != 0 ||
	    api_get_json(o, "/api/nodes", &nodes) != 0)
		goto out;
	if ((node = json_array_get(nodes, 0)) == NULL) {
		fprintf(stderr, "warrenctl: warrend listed no node\n");
		goto out;
	}
	if (api_request(o, &va, "GET", "/api/vhosts?columns=name", NULL, NULL, 0) != 0 ||
	    va.status != 200) {
		api_close(&va);
		fprintf(stderr, "warrenctl: warrend did not list its vhosts\n");
		goto out;
	}
	while ((line = api_line(&va)) != NULL && strcmp(line, ".") != 0)
		nvhosts++;
	api_close(&va);
	if (line == NULL)
		goto out;
	if (uname(&un) != 0)
		snprintf(un.sysname, sizeof(un.sysname), "unknown");
	a = json_array();
	if (json_is_true(json_object_get(node, "mem_alarm")))
		json_array_append_new(a, json_string("memory"));
	if (json_is_true(json_object_get(node, "disk_free_alarm")))
		json_array_append_new(a, json_string("disk"));
	st = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o}", "node", str(node, "name"), "pid",
	    str(node, "os_pid"), "os", un.sysname, "product_name", str(ov, "product_name"),
	    "product_version", str(ov, "product_version"), "rabbitmq_version",
	    str(ov, "rabbitmq_version"), "uptime", num(node, "uptime") / 1000, "alarms", a);
	json_object_set_new(st, "memory",
	    json_pack("{s:I, s:I}", "message_bytes", num(node, "mem_used"), "limit",
	        num(node, "mem_limit")));
	json_object_set_new(st, "file_descriptors",
	    json_pack("{s:I, s:I}", "sockets_used", num(node, "sockets_used"), "total_limit",
	        num(node, "fd_total")));
	json_object_set_new(st, "disk_free_limit", json_integer(num(node, "disk_free_limit")));
	json_object_set_new(st, "listeners", json_array());
	json_array_foreach(json_object_get(ov, "listeners"), i, l)
	{
		json_array_append_new(json_object_get(st, "listeners"),
		    json_pack("{s:s, s:I, s:s, s:s}", "interface", str(l, "ip_address"), "port",
		        num(l, "port"), "protocol", str(l, "protocol"), "purpose",
		        strcmp(str(l, "protocol"), "amqp") == 0 ? "AMQP 0-9-1"
		                                                : "AMQP 0-9-1 over TLS"));
	}
	json_object_set_new(st, "totals",
	    json_pack("{s:I, s:I, s:I}", "connection_count", num(ov, "object_totals.connections"),
	        "queue_count", num(ov, "object_totals.queues"), "virtual_host_count", nvhosts));
	if (o->json) {
		json_dumpf(st, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		putchar('\n');
		r = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
		goto out;
	}
	ctl_info(o, "Status of node %s ...", str(st, "node"));
	printf("Runtime\n\nOS PID: %s\nOS: %s\nUptime (seconds): %" JSON_INTEGER_FORMAT
	       "\nProduct name: %s\nProduct version: %s\nRabbitMQ version: %s\nNode name: %s\n",
	    str(st, "pid"), un.sysname, num(st, "uptime"), str(st, "product_name"),
	    str(st, "product_version"), str(st, "rabbitmq_version"), str(st, "node"));
	printf("\nAlarms\n\n");
	if (json_array_size(a) == 0)
		printf("(none)\n");
	json_array_foreach(a, i, l)
	{
		printf("%s alarm on node %s\n",
		    strcmp(json_string_value(l), "disk") == 0 ? "Free disk space" : "Memory",
		    str(st, "node"));
	}
	printf("\nMemory\n\nMessage memory used: %" JSON_INTEGER_FORMAT
	       " bytes\nMessage memory high watermark: %" JSON_INTEGER_FORMAT " bytes\n",
	    num(st, "memory.message_bytes"), num(st, "memory.limit"));
	printf("\nFile Descriptors\n\nSockets: %" JSON_INTEGER_FORMAT
	       ", limit: %" JSON_INTEGER_FORMAT "\n",
	    num(st, "file_descriptors.sockets_used"), num(st, "file_descriptors.total_limit"));
	printf("\nFree Disk Space\n\nLow free disk space watermark: %" JSON_INTEGER_FORMAT
	       " bytes\n",
	    num(st, "disk_free_limit"));
	printf("\nTotals\n\nConnection count: %" JSON_INTEGER_FORMAT
	       "\nQueue count: %" JSON_INTEGER_FORMAT "\nVirtual host count: %" JSON_INTEGER_FORMAT
	       "\n",
	    num(st, "totals.connection_count"), num(st, "totals.queue_count"),
	    num(st, "totals.virtual_host_count"));
	printf("\nListeners\n\n");
	json_array_foreach(json_object_get(st, "listeners"), i, l)
	{
		printf("Interface: %s, port: %" JSON_INTEGER_FORMAT ", protocol: %s, purpose: %s\n",
		    str(l, "interface"), num(l, "port"), str(l, "protocol"), str(l, "purpose"));
	}
	r = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	json_decref(ov);
	json_decref(nodes);
	json_decref(st);
	return r;
}

/* ---- Definitions ---- */

static int export_definitions(struct ctl_opts *o)
{
	const char *file;
	json_t *doc = NULL;
	FILE *f = NULL;
	int r = EXIT_FAILURE;

	if (o->argc != 1 || o->vhost != NULL)
		return -1;
	file = o->argv[0];
	if (strcmp(file, "-") != 0)
		ctl_info(o, "Exporting definitions in JSON to a file at \"%s\" ...", file);
	if (api_get_json(o, "/api/definitions", &doc) != 0)
		goto out;
	if (strcmp(file, "-") == 0) {
		f = stdout;
	} else if ((f = fopen(file, "w")) == NULL) {
		fprintf(stderr, "Error:\n%s: %s\n", file, strerror(errno));
		goto out;
	}
	if (json_dumpf(doc, f, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF ||
	    fflush(f) != 0 || (f != stdout && fsync(fileno(f)) != 0)) {
		fprintf(stderr, "Error:\n%s: %s\n", file, strerror(errno));
		goto out;
	}
	r = EXIT_SUCCESS;
out:
	if (f != NULL && f != stdout && fclose(f) != 0 && r == EXIT_SUCCESS) {
		fprintf(stderr, "Error:\n%s: %s\n", file, strerror(errno));
		r = EXIT_FAILURE;
	}
	json_decref(doc);
	return r;
}

/* Read all of f (at most BODY_MAX bytes): the bytes (malloc'ed) and *len, or NULL (printed). */
static char *read_file(FILE *f, const char *name, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *nb;

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			if (cap > BODY_MAX) {
				fprintf(
				    stderr, "Error:\n%s: larger than %u bytes\n", name, BODY_MAX);
				free(buf);
				return NULL;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL)
				break;
			buf = nb;
			cap *= 2;
		}
	}
	if (buf == NULL || ferror(f)) {
		fprintf(stderr, "Error:\n%s: %s\n", name,
		    buf == NULL ? "out of memory" : strerror(errno));
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

static int import_definitions(struct ctl_opts *o)
{
	const char *file;
	struct api_answer a = { .fd = -1 };
	json_error_t jerr;
	json_t *doc = NULL, *ans = NULL, *w;
	char *body = NULL;
	FILE *f = NULL;
	size_t len = 0, i;
	int r = EXIT_FAILURE;

	if (o->argc != 1 || o->vhost != NULL)
		return -1;
	file = o->argv[0];
	ctl_info(o, "Importing definitions in JSON from a file at \"%s\" ...",
	    strcmp(file, "-") == 0 ? "standard input" : file);
	if (strcmp(file, "-") == 0) {
		f = stdin;
	} else if ((f = fopen(file, "r")) == NULL) {
		fprintf(stderr, "Error:\n%s: %s\n", file, strerror(errno));
		goto out;
	}
	if ((body = read_file(f, file, &len)) == NULL)
		goto out;
	/* Say where a file is broken here: warrend only says that it is. */
	if ((doc = json_loadb(body, len, 0, &jerr)) == NULL || !json_is_object(doc)) {
		fprintf(stderr, "Error:\n%s:%d:%d: %s\n", file, jerr.line, jerr.column,
		    doc == NULL ? jerr.text : "not a JSON object");
		goto out;
	}
	if (api_request(o, &a, "POST", "/api/definitions", NULL, body, len) != 0)
		goto out;
	if (a.status >= 400) {
		api_error(&a, NULL);
		goto out;
	}
	if ((ans = api_json(&a)) == NULL)
		goto out;
	/* 204, or 200 with the users imported locked (a hash Warren cannot verify): say which */
	json_array_foreach(json_object_get(ans, "warnings"), i, w)
	{
		fprintf(stderr, "Warning: user '%s': %s\n",
		    json_string_value(json_object_get(w, "user")) ?: "?",
		    json_string_value(json_object_get(w, "reason")) ?: "?");
	}
	ctl_info(o, "Successfully imported definitions");
	r = fflush(stdout) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
out:
	if (f != NULL && f != stdin)
		fclose(f);
	api_close(&a);
	json_decref(doc);
	json_decref(ans);
	free(body);
	return r;
}

/* ---- Options and the table ---- */

static const struct option long_opts[] = { { "vhost", required_argument, NULL, 'p' },
	{ "quiet", no_argument, NULL, 'q' }, { "silent", no_argument, NULL, 's' },
	{ "no-table-headers", no_argument, NULL, 'H' },
	{ "formatter", required_argument, NULL, 'f' }, { "if-empty", no_argument, NULL, 'e' },
	{ "if-unused", no_argument, NULL, 'u' }, { "config", required_argument, NULL, 'c' },
	{ "priority", required_argument, NULL, 'P' }, { "apply-to", required_argument, NULL, 'A' },
	{ "data-dir", required_argument, NULL, 'd' }, { "socket", required_argument, NULL, 'S' },
	{ "timeout", required_argument, NULL, 't' }, { "help", no_argument, NULL, 'h' },
	{ "global", no_argument, NULL, 'G' }, { "limit", required_argument, NULL, 'L' },
	{ NULL, 0, NULL, 0 } };

int rmq_option_takes_value(const char *arg)
{
	static const char *const with[] = { "-p", "--vhost", "--formatter", "-c", "--config", "-d",
		"--data-dir", "--socket", "-t", "--timeout", "--priority", "--apply-to",
		"--limit" };
	size_t i;

	for (i = 0; i < sizeof(with) / sizeof(with[0]); i++)
		if (strcmp(arg, with[i]) == 0)
			return 1;
	return 0;
}

static int rmq_run(const struct cmd *self, int argc, char **argv)
{
	struct ctl_opts o = { .timeout = strcmp(self->name, "await_startup") == 0 ? 300 : 60 };
	char *end;
	long t;
	size_t i;
	int c, r;

	while ((c = getopt_long(argc, argv, "p:qsHeuc:d:t:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'p': o.vhost = optarg; break;
		case 'q': o.quiet = true; break;
		case 's': o.quiet = o.no_headers = true; break;
		case 'H': o.no_headers = true; break;
		case 'e': o.if_empty = true; break;
		case 'u': o.if_unused = true; break;
		case 'c': o.config = optarg; break;
		case 'd': o.dir = optarg; break;
		case 'S': o.sock = optarg; break;
		case 'P': o.priority = optarg; break;
		case 'A': o.apply_to = optarg; break;
		case 'G': o.global = true; break;
		case 'L': o.limit = optarg; break;
		case 'f':
			if (strcmp(optarg, "json") == 0) {
				o.json = true;
			} else if (strcmp(optarg, "table") != 0 && strcmp(optarg, "tsv") != 0) {
				fprintf(stderr, "warrenctl: the formatters are table and json\n");
				return EXIT_USAGE;
			}
			break;
		case 't':
			t = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || t < 1 || t > 86400)
				return cmd_usage(self);
			o.timeout = (int)t;
			break;
		case 'h': printf("usage: warrenctl %s\n", self->usage); return EXIT_SUCCESS;
		default: return cmd_usage(self);
		}
	}
	o.argc = argc - optind;
	o.argv = argv + optind;
	if (o.sock != NULL && (o.config != NULL || o.dir != NULL))
		return cmd_usage(self);
	if ((o.if_empty || o.if_unused) && strcmp(self->name, "delete_queue") != 0)
		return cmd_usage(self);
	if ((o.priority != NULL || o.apply_to != NULL) && strstr(self->name, "_policy") == NULL)
		return cmd_usage(self);
	if (o.global && strcmp(self->name, "list_vhost_limits") != 0 &&
	    strcmp(self->name, "close_all_connections") != 0)
		return cmd_usage(self);
	if (o.limit != NULL && strcmp(self->name, "close_all_connections") != 0)
		return cmd_usage(self);
	if (control_socket_find(o.config, o.dir, o.sock, o.path, sizeof(o.path)) != 0)
		return EXIT_FAILURE;
	for (i = 0; i < sizeof(listings) / sizeof(listings[0]); i++)
		if (strcmp(self->name, listings[i].cmd) == 0)
			return (r = run_listing(&o, self->name, &listings[i].l)) < 0
			    ? cmd_usage(self)
			    : r;
	if (strcmp(self->name, "status") == 0)
		r = status(&o);
	else if (strcmp(self->name, "ping") == 0 || strcmp(self->name, "await_startup") == 0)
		r = rmq_node_cmd(&o, self->name);
	else if (strcmp(self->name, "close_connection") == 0)
		r = close_connection(&o);
	else if (strcmp(self->name, "close_all_connections") == 0)
		r = close_all_connections(&o);
	else if (strcmp(self->name, "export_definitions") == 0)
		r = export_definitions(&o);
	else if (strcmp(self->name, "import_definitions") == 0)
		r = import_definitions(&o);
	else if (strstr(self->name, "_policy") != NULL)
		r = rmq_policy_cmd(&o, self->name);
	else if (strstr(self->name, "vhost_limits") != NULL)
		r = rmq_limits_cmd(&o, self->name);
	else if (strcmp(self->name, "set_vm_memory_high_watermark") == 0 ||
	    strcmp(self->name, "set_disk_free_limit") == 0)
		r = rmq_alarms_cmd(&o, self->name);
	else if (strstr(self->name, "_user") != NULL || strstr(self->name, "_password") != NULL ||
	    strstr(self->name, "permissions") != NULL || strstr(self->name, "_vhost") != NULL)
		r = rmq_users_cmd(&o, self->name);
	else
		r = queue_cmd(&o, self->name);
	return r < 0 ? cmd_usage(self) : r;
}

#define SOCK "[--config FILE | --data-dir DIR | --socket PATH] [--timeout SECONDS]"
#define OUT "[-q] [--no-table-headers] [--formatter json]"

const struct cmd rmq_cmds[] = {
	{ "status", "status [--formatter json] " SOCK,
	    "the running warrend: version, uptime, alarms, memory, listeners, totals", rmq_run },
	{ "ping", "ping [-q] " SOCK, "whether warrend answers (exit status 0) or not (1)",
	    rmq_run },
	{ "await_startup", "await_startup [-q] " SOCK,
	    "wait until warrend has started (its store open, its listeners bound): at most the "
	    "timeout, 300 s by default",
	    rmq_run },
	{ "list_queues", "list_queues [-p VHOST] " OUT " [COLUMN...] " SOCK,
	    "a vhost's queues (name, messages, messages_ready, messages_unacknowledged, "
	    "consumers, durable, auto_delete, exclusive, arguments, ...)",
	    rmq_run },
	{ "list_exchanges", "list_exchanges [-p VHOST] " OUT " [COLUMN...] " SOCK,
	    "a vhost's exchanges", rmq_run },
	{ "list_bindings", "list_bindings [-p VHOST] " OUT " [COLUMN...] " SOCK,
	    "a vhost's bindings", rmq_run },
	{ "list_connections", "list_connections " OUT " [COLUMN...] " SOCK, "every connection",
	    rmq_run },
	{ "list_channels", "list_channels " OUT " [COLUMN...] " SOCK, "every channel", rmq_run },
	{ "list_consumers", "list_consumers [-p VHOST] " OUT " [COLUMN...] " SOCK,
	    "a vhost's consumers", rmq_run },
	{ "list_users", "list_users " OUT " " SOCK, "the users and their tags", rmq_run },
	{ "list_vhosts", "list_vhosts " OUT " [COLUMN...] " SOCK, "the vhosts", rmq_run },
	{ "list_permissions", "list_permissions [-p VHOST] " OUT " " SOCK,
	    "a vhost's permissions lines", rmq_run },
	{ "list_policies", "list_policies [-p VHOST] " OUT " " SOCK,
	    "a vhost's policies (its policy lines)", rmq_run },
	{ "list_operator_policies", "list_operator_policies [-p VHOST] " OUT " " SOCK,
	    "a vhost's operator policies", rmq_run },
	{ "set_policy",
	    "set_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all] NAME "
	    "PATTERN DEFINITION " SOCK,
	    "set a policy (a policy line in the vhost's file; DEFINITION is JSON)", rmq_run },
	{ "clear_policy", "clear_policy [-p VHOST] NAME " SOCK, "remove a policy", rmq_run },
	{ "set_operator_policy",
	    "set_operator_policy [-p VHOST] [--priority N] [--apply-to queues|exchanges|all] "
	    "NAME PATTERN DEFINITION " SOCK,
	    "set an operator policy", rmq_run },
	{ "clear_operator_policy", "clear_operator_policy [-p VHOST] NAME " SOCK,
	    "remove an operator policy", rmq_run },
	{ "set_vhost_limits", "set_vhost_limits [-p VHOST] [-q] DEFINITION " SOCK,
	    "set a vhost's limits, replacing them all (its max-connections and max-queues "
	    "lines; DEFINITION is JSON, a negative value is no limit)",
	    rmq_run },
	{ "clear_vhost_limits", "clear_vhost_limits [-p VHOST] [-q] " SOCK,
	    "remove a vhost's limits", rmq_run },
	{ "list_vhost_limits",
	    "list_vhost_limits [-p VHOST | --global] [-q] [--no-table-headers] [--formatter "
	    "json] " SOCK,
	    "a vhost's limits as JSON, or (--global) every vhost's that has any", rmq_run },
	{ "list_user_permissions", "list_user_permissions " OUT " USER " SOCK,
	    "a user's permissions in every vhost", rmq_run },
	{ "list_topic_permissions", "list_topic_permissions [-p VHOST] " OUT " " SOCK,
	    "a vhost's topic permissions lines", rmq_run },
	{ "list_user_topic_permissions", "list_user_topic_permissions " OUT " USER " SOCK,
	    "a user's topic permissions in every vhost", rmq_run },
	{ "add_user", "add_user [-q] USER [PASSWORD] " SOCK,
	    "add a user (a users-file line, no tags; the password from standard input if not "
	    "given)",
	    rmq_run },
	{ "delete_user", "delete_user [-q] USER " SOCK,
	    "remove a user, and its permissions in every vhost", rmq_run },
	{ "change_password", "change_password [-q] USER [PASSWORD] " SOCK,
	    "set a user's password (from standard input if not given)", rmq_run },
	{ "clear_password", "clear_password [-q] USER " SOCK,
	    "take a user's password away: no password login", rmq_run },
	{ "set_user_tags", "set_user_tags [-q] USER [TAG...] " SOCK,
	    "replace a user's tags (none: clear them)", rmq_run },
	{ "add_vhost", "add_vhost [-q] VHOST " SOCK, "add a vhost (a new vhost file)", rmq_run },
	{ "delete_vhost", "delete_vhost [-q] VHOST " SOCK,
	    "delete a vhost (its file), its queues and exchanges", rmq_run },
	{ "set_permissions", "set_permissions [-p VHOST] [-q] USER CONF WRITE READ " SOCK,
	    "set a user's permissions in a vhost (its permissions line)", rmq_run },
	{ "clear_permissions", "clear_permissions [-p VHOST] [-q] USER " SOCK,
	    "remove a user's permissions in a vhost", rmq_run },
	{ "set_topic_permissions",
	    "set_topic_permissions [-p VHOST] [-q] USER EXCHANGE WRITE READ " SOCK,
	    "set a user's topic permissions on an exchange", rmq_run },
	{ "clear_topic_permissions",
	    "clear_topic_permissions [-p VHOST] [-q] USER [EXCHANGE] " SOCK,
	    "remove a user's topic permissions (on one exchange, or all)", rmq_run },
	{ "set_vm_memory_high_watermark",
	    "set_vm_memory_high_watermark [-q] {FRACTION | absolute SIZE} " SOCK,
	    "change memory_limit until warrend restarts (a fraction of this machine's RAM, or a "
	    "size)",
	    rmq_run },
	{ "set_disk_free_limit", "set_disk_free_limit [-q] {SIZE | mem_relative FRACTION} " SOCK,
	    "change disk_free_limit until warrend restarts", rmq_run },
	{ "close_connection", "close_connection [-q] NAME REASON " SOCK,
	    "close a connection (its name as list_connections shows it) with 320 "
	    "CONNECTION_FORCED and REASON",
	    rmq_run },
	{ "close_all_connections",
	    "close_all_connections [-p VHOST | --global] [--limit N] [-q] REASON " SOCK,
	    "close a vhost's connections (every vhost's with --global), at most N of them",
	    rmq_run },
	{ "purge_queue", "purge_queue [-p VHOST] [-q] QUEUE " SOCK,
	    "remove a queue's ready messages", rmq_run },
	{ "delete_queue", "delete_queue [-p VHOST] [-q] [--if-empty] [--if-unused] QUEUE " SOCK,
	    "delete a queue", rmq_run },
	{ "export_definitions", "export_definitions [-q] FILE|- " SOCK,
	    "write the definitions (RabbitMQ's JSON) to FILE or standard output", rmq_run },
	{ "import_definitions", "import_definitions [-q] FILE|- " SOCK,
	    "import a definitions file: users, vhosts, permissions and limits into the files, "
	    "then exchanges, queues and bindings",
	    rmq_run },
};
const size_t rmq_ncmds = sizeof(rmq_cmds) / sizeof(rmq_cmds[0]);
