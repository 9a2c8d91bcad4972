/*
 * reload.c: re-reading the configuration, on SIGHUP or `warrenctl reload` (control.c): the users
 * file, the vhost files, and the TLS certificate, key and CA. All or nothing: everything is loaded
 * and checked first, and only when all of it is valid is any of it put in force, so a rejected
 * reload leaves the configuration in force untouched. The report says what changed (the users
 * and vhosts auth_db_diff finds, the TLS certificate, the connections closed with 320), or why
 * nothing did (FILE:LINE: reason). It goes to the log, "reloaded: ..." last, and to warrenctl.
 * The main file (warren.conf) is not re-read: listeners, limits and the password backend need a
 * restart.
 */
#include <event2/buffer.h>
#include <stdio.h>

#include "server/admin/admin.h"

struct report {
	struct evbuffer *lines; /* what changed, for warrenctl */
	unsigned n;
};

/* One line of the report: logged, and kept for warrenctl. */
static void report_line(void *arg, const char *line)
{
	struct report *r = arg;

	log_info("reload: %s", line);
	evbuffer_add_printf(r->lines, "%s\n", line);
	r->n++;
}

int reload_run(struct evbuffer *out)
{
	struct report r = { NULL, 0 };
	struct auth_db *db = NULL;
	struct ssl_ctx_st *ctx = NULL;
	char err[1024], what[768], line[256];
	unsigned closed = 0;

	if (access_reload_load(&db, err, sizeof(err)) != 0 ||
	    tls_reload_load(&broker.cfg, &ctx, err, sizeof(err)) != 0) {
		auth_db_unref(db);
		log_error("reload refused, the configuration in force stays: %s", err);
		if (out != NULL)
			evbuffer_add_printf(
			    out, "reload refused, the configuration in force stays\n%s\n", err);
		return -1;
	}
	r.lines = evbuffer_new();
	if (db != NULL) {
		auth_db_diff(broker.auth, db, report_line, &r);
		closed = access_reload_apply(db);
		if (closed > 0) {
			snprintf(line, sizeof(line),
			    "%u connection%s closed with 320 CONNECTION_FORCED (no access to "
			    "their vhost any more)",
			    closed, closed == 1 ? "" : "s");
			report_line(&r, line);
		}
	} else {
		report_line(&r, "no users_file: the built-in guest user stays");
	}
	if (ctx != NULL) {
		tls_reload_apply(ctx, what, sizeof(what));
		report_line(&r, what);
	}
	if (r.n == 0)
		report_line(&r, "no changes");
	/* Last in the log: whoever waits for this line finds everything applied. */
	snprintf(line, sizeof(line), "reloaded: %zu users, %zu vhosts",
	    auth_db_user_count(broker.auth), auth_db_vhost_count(broker.auth));
	log_info("%s", line);
	if (out != NULL) {
		evbuffer_add_printf(out, "%s\n", line);
		evbuffer_add_buffer(out, r.lines);
	}
	evbuffer_free(r.lines);
	return 0;
}
