/*
 * mgmt_limits.c: /api/vhost-limits and /api/user-limits in RabbitMQ 3.10's JSON and methods.
 * A vhost's limits are its file's max-connections and max-queues lines (auth/vhost.c): a PUT of
 * /api/vhost-limits/{vhost}/{name} is an edit of that file (mgmt_edit.c: the line replaced or
 * appended, comments kept, the file written atomically, then a reload), a negative value or a
 * DELETE removes the line (no limit, as RabbitMQ's negative). Writes need the administrator tag;
 * reads show the vhosts the user sees, as RabbitMQ's do.
 *
 * Warren's users file has no per-user limits: user_max_connections in warren.conf caps every
 * user's connections. /api/user-limits says so truthfully in RabbitMQ's shape (each user with
 * {"max-connections": N} when it is set, [] when it is not), and refuses PUT and DELETE with 400
 * and the reason: a write the files cannot express.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

#define LIMIT_MAX 2147483647L /* a vhost file's limits are RabbitMQ's 32-bit integers */

json_t *mgmt_vhost_limits_value(struct amqp_bytes vhost)
{
	struct auth_limits lim;
	json_t *value;

	if (!auth_vhost_limits(broker.auth, vhost, &lim) ||
	    (lim.max_connections < 0 && lim.max_queues < 0))
		return NULL;
	value = json_object();
	if (lim.max_connections >= 0)
		json_object_set_new(value, "max-connections", json_integer(lim.max_connections));
	if (lim.max_queues >= 0)
		json_object_set_new(value, "max-queues", json_integer(lim.max_queues));
	return value;
}

/* {"vhost": name, "value": {...}} for a vhost with a limit, else NULL. */
static json_t *vhost_limits_json(struct amqp_bytes vhost)
{
	json_t *value = mgmt_vhost_limits_value(vhost);

	return value == NULL
	    ? NULL
	    : json_pack("{s:o, s:o}", "vhost", mgmt_bytes(vhost.ptr, vhost.len), "value", value);
}

/* GET /api/vhost-limits and /api/vhost-limits/{vhost}. */
void mgmt_vhost_limits(struct mreq *r)
{
	const char *only = r->nsegs >= 2 ? r->arg[0] : NULL;
	struct mgmt_list *l;
	struct amqp_bytes vn;
	size_t v;
	json_t *j;

	if (only != NULL && !auth_vhost_exists(broker.auth, amqp_cstr(only))) {
		mgmt_error(r, 404, "Object Not Found", "Not Found");
		return;
	}
	if (only != NULL && !mgmt_sees_vhost(r, only)) {
		mgmt_error(r, 401, "not_authorised", "User not authorised to access virtual host");
		return;
	}
	l = mgmt_list_new(&mgmt_snapshot_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (v = 0; v < auth_db_vhost_count(broker.auth); v++) {
		vn = auth_db_vhost_name(broker.auth, v); /* NUL-terminated, as the files' names */
		if (only != NULL ? strcmp(only, (const char *)vn.ptr) != 0
		                 : !mgmt_sees_vhost(r, (const char *)vn.ptr))
			continue;
		if ((j = vhost_limits_json(vn)) != NULL)
			mgmt_list_add(l, r, j, j);
	}
	mgmt_list_send(l, r);
}

/* ---- Writes ---- */

struct limit_change {
	char *vhost;
	const char *which; /* "max-connections" or "max-queues" */
	long value;        /* negative: the line removed */
};

static void change_free(void *p)
{
	struct limit_change *c = p;

	free(c->vhost);
	free(c);
}

static int limit_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct limit_change *c = arg;

	return auth_edit_limit_set(e, amqp_cstr(c->vhost), c->which, c->value, err, errlen);
}

static void limit_done(struct mreq *r, int rc, const char *err, void *arg)
{
	(void)arg;
	if (rc == AUTH_E_NOT_FOUND)
		mgmt_error(r, 404, "not_found", "vhost_not_found");
	else if (rc != AUTH_OK)
		mgmt_edit_error(r, rc, err);
	else
		mgmt_reply_empty(r, 204);
}

/* A JSON value as RabbitMQ's validation quotes it: strings as Erlang binaries. */
static void erlang_term(const json_t *v, char *out, size_t len)
{
	char *t;

	if (json_is_string(v)) {
		snprintf(out, len, "<<\"%.64s\">>", json_string_value(v));
		return;
	}
	t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(out, len, "%.64s", t != NULL ? t : "?");
	free(t);
}

/* PUT and DELETE /api/vhost-limits/{vhost}/{name}. */
void mgmt_vhost_limit(struct mreq *r)
{
	const char *name = r->arg[1];
	struct limit_change *c;
	const json_t *val = NULL;
	char term[96];
	json_int_t n;
	bool known = strcmp(name, "max-connections") == 0 || strcmp(name, "max-queues") == 0;

	if (!auth_vhost_exists(broker.auth, amqp_cstr(r->arg[0]))) {
		mgmt_error(r, 404, "not_found", "vhost_not_found");
		return;
	}
	if (r->method == M_DELETE && !known) {
		mgmt_reply_empty(r, 204); /* as RabbitMQ: nothing of that name to clear */
		return;
	}
	if (r->method == M_PUT) {
		if (r->body == NULL || (val = json_object_get(r->body, "value")) == NULL) {
			mgmt_error(r, 400, "bad_request", "[{key_missing,value}]");
			return;
		}
		erlang_term(val, term, sizeof(term));
		if (!known) {
			mgmt_error(r, 400, "bad_request",
			    "Validation failed\n\nUnrecognised terms [{<<\"%.64s\">>,%s}] in "
			    "limits\n",
			    name, term);
			return;
		}
		if (!json_is_integer(val)) {
			mgmt_error(r, 400, "bad_request",
			    "Validation failed\n\n%s should be a number, actually was %s\n", name,
			    term);
			return;
		}
		if ((n = json_integer_value(val)) > LIMIT_MAX) {
			mgmt_error(r, 400, "bad_request",
			    "Validation failed\n\n%s %" JSON_INTEGER_FORMAT
			    " is more than a vhost file holds (%ld at most)\n",
			    name, n, LIMIT_MAX);
			return;
		}
	}
	if (!mgmt_files_writable(r))
		return;
	c = xcalloc(1, sizeof(*c));
	c->vhost = xstrdup(r->arg[0]);
	c->which = strcmp(name, "max-connections") == 0 ? "max-connections" : "max-queues";
	c->value =
	    r->method == M_PUT && json_integer_value(val) >= 0 ? (long)json_integer_value(val) : -1;
	mgmt_edit_submit(r, limit_job, limit_done, c, change_free);
}

/* ---- Users ---- */

/* GET /api/user-limits and /api/user-limits/{user}. */
void mgmt_user_limits(struct mreq *r)
{
	const char *only = r->nsegs >= 2 ? r->arg[0] : NULL;
	unsigned long cap = broker.cfg.user_max_connections;
	struct auth_user_info u;
	struct mgmt_list *l;
	size_t i;
	json_t *j;

	if (only != NULL && !auth_user_exists(broker.auth, amqp_cstr(only))) {
		mgmt_error(r, 404, "Object Not Found", "Not Found");
		return;
	}
	l = mgmt_list_new(&mgmt_snapshot_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (i = 0; cap > 0 && auth_db_user_at(broker.auth, i, &u); i++) {
		if (only != NULL &&
		    (strlen(only) != u.name.len || memcmp(only, u.name.ptr, u.name.len) != 0))
			continue;
		j = json_pack("{s:o, s:{s:I}}", "user", mgmt_bytes(u.name.ptr, u.name.len), "value",
		    "max-connections", (json_int_t)cap);
		mgmt_list_add(l, r, j, j);
	}
	mgmt_list_send(l, r);
}

/* PUT and DELETE /api/user-limits/{user}/{name}: refused, with the reason. */
void mgmt_user_limit(struct mreq *r)
{
	mgmt_error(r, 400, "bad_request",
	    "Warren has no per-user limits: its users file cannot hold them; user_max_connections "
	    "in warren.conf caps the connections of every user (now %lu, 0 for none)",
	    broker.cfg.user_max_connections);
}
