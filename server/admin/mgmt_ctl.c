/*
 * mgmt_ctl.c: the routes only warrend's operator has, through the control socket, for what the
 * HTTP API does not serve yet: users (/api/users), permissions (/api/permissions and
 * /api/vhosts/{vhost}/permissions) and definitions (/api/definitions: GET exports, POST imports).
 * Each answers in RabbitMQ's shape, so that once the API has its own route for a path, http.c
 * finds that one first and this one can go. Users and permissions come from the users and vhost
 * files in force (the auth database), read-only: the files are the truth.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt_defs.h"

static json_t *bytes_json(struct amqp_bytes b)
{
	return mgmt_bytes(b.ptr, b.len);
}

/* A JSON string from a C string that may not be UTF-8 (a regular expression from a file). */
static json_t *str_json(const char *s)
{
	return mgmt_bytes(s, strlen(s));
}

json_t *mgmt_user_json(const struct auth_user_info *u)
{
	json_t *o = json_object(), *tags = json_array();
	const char *p = u->tags, *comma;

	/*
	 * RabbitMQ's import takes only its own hashes (base64): a scrypt string makes it refuse the
	 * whole file. So password_hash is empty (RabbitMQ's user without a password, until
	 * change_password), and warren_password_hash, which RabbitMQ ignores, holds the users
	 * file's string ("$scrypt$...", "!" locked, or "saslauthd").
	 */
	json_object_set_new(o, "name", bytes_json(u->name));
	json_object_set_new(o, "password_hash", json_string(""));
	json_object_set_new(o, "hashing_algorithm", json_string("rabbit_password_hashing_sha256"));
	json_object_set_new(o, "warren_password_hash", str_json(u->hash));
	while (*p != '\0') {
		comma = strchrnul(p, ',');
		if (comma > p)
			json_array_append_new(tags, mgmt_bytes(p, (size_t)(comma - p)));
		p = *comma == ',' ? comma + 1 : comma;
	}
	json_object_set_new(o, "tags", tags);
	json_object_set_new(o, "limits", json_object());
	return o;
}

json_t *mgmt_permission_json(const char *vhost, const struct auth_grant_info *g)
{
	json_t *o = json_object();

	json_object_set_new(o, "user", bytes_json(g->user));
	json_object_set_new(o, "vhost", str_json(vhost));
	json_object_set_new(o, "configure", str_json(g->configure));
	json_object_set_new(o, "write", str_json(g->write));
	json_object_set_new(o, "read", str_json(g->read));
	return o;
}

static const struct mgmt_list_ops by_name_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "name", NULL } };
static const struct mgmt_list_ops permission_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "vhost", "user", NULL } };

/* GET /api/users */
static void users(struct mreq *r)
{
	struct mgmt_list *l = mgmt_list_new(&by_name_ops);
	struct auth_user_info u;
	json_t *j;
	size_t i;

	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (i = 0; auth_db_user_at(broker.auth, i, &u); i++) {
		j = mgmt_user_json(&u);
		mgmt_list_add(l, r, j, j);
	}
	mgmt_list_send(l, r);
}

/* GET /api/permissions, /api/vhosts/{vhost}/permissions */
static void permissions(struct mreq *r)
{
	const char *only = r->nsegs == 3 ? r->arg[0] : NULL;
	struct auth_grant_info g;
	struct mgmt_list *l;
	struct amqp_bytes vb;
	size_t v, i;
	char *name;
	json_t *j;

	if (only != NULL && mgmt_vhost(r, only) == NULL)
		return;
	l = mgmt_list_new(&permission_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (v = 0; v < auth_db_vhost_count(broker.auth); v++) {
		vb = auth_db_vhost_name(broker.auth, v);
		name = xstrndup((const char *)vb.ptr, vb.len);
		if (only == NULL || strcmp(only, name) == 0) {
			for (i = 0; auth_db_grant_at(broker.auth, vb, i, &g); i++) {
				j = mgmt_permission_json(name, &g);
				mgmt_list_add(l, r, j, j);
			}
		}
		free(name);
	}
	mgmt_list_send(l, r);
}

/* GET /api/definitions exports; POST imports the body. */
static void definitions(struct mreq *r)
{
	struct evbuffer *report;
	char err[1024];
	size_t len;

	if (r->method != M_POST) {
		mgmt_reply_json(r, 200, mgmt_definitions_export(NULL));
		return;
	}
	if (r->body == NULL) {
		mgmt_error(r, 400, "bad_request", "not_json");
		return;
	}
	report = evbuffer_new();
	if (mgmt_definitions_import(r->body, report, err, sizeof(err)) != 0) {
		mgmt_error(r, 400, "bad_request", "%s", err);
	} else {
		len = evbuffer_get_length(report);
		mgmt_reply_json_after_store(r, 200,
		    json_pack("{s:s%}", "report",
		        len > 0 ? (const char *)evbuffer_pullup(report, -1) : "", len));
	}
	evbuffer_free(report);
}

const struct mgmt_route mgmt_ctl_routes[] = {
	{ "users", M_GET, TAG_ADMINISTRATOR, users },
	{ "permissions", M_GET, TAG_ADMINISTRATOR, permissions },
	{ "vhosts/*/permissions", M_GET, TAG_ADMINISTRATOR, permissions },
	{ "definitions", M_GET | M_POST, TAG_ADMINISTRATOR, definitions },
};
const size_t mgmt_ctl_nroutes = sizeof(mgmt_ctl_routes) / sizeof(mgmt_ctl_routes[0]);
