/*
 * mgmt_defs.c: /api/definitions and /api/definitions/{vhost}: the export (GET) in RabbitMQ
 * 3.10's JSON, the fields its rabbit_mgmt_wm_definitions keeps: users, vhosts, permissions,
 * topic_permissions, parameters (a vhost's limits are RabbitMQ's vhost-limits parameter),
 * global_parameters, policies (mgmt_policies.c; not operator policies, as RabbitMQ), queues (not exclusive ones), exchanges (not the
 * default or amq.* ones), bindings (not the default exchange's); and the route, whose POST is
 * the import (mgmt_import.c).
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "server/admin/mgmt.h"

#define NAMEB(s) amqp_cstr(s)

static json_t *bytes_json(struct amqp_bytes b)
{
	return mgmt_bytes(b.ptr, b.len);
}

/* ---- Export ---- */

static bool bytes_is(struct amqp_bytes b, const char *s)
{
	return b.len == strlen(s) && (b.len == 0 || memcmp(b.ptr, s, b.len) == 0);
}

static json_t *table_json(const uint8_t *p, size_t len)
{
	return mgmt_table_to_json((struct amqp_bytes){ p, len });
}

/* The exchanges, queues and bindings of v (vhost fields left out when strip). */
static void export_objects(struct vhost *v, bool strip, json_t *qs, json_t *xs, json_t *bs)
{
	struct hmap_iter it;
	const void *k;
	size_t kl;
	void *val;
	json_t *o;

	hmap_iter_init(&v->queues, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct queue *q = val;
		if (q->exclusive)
			continue;
		o = json_pack("{s:s%, s:s, s:b, s:b, s:o}", "name", q->name, q->name_len, "vhost",
		    v->name, "durable", q->durable, "auto_delete", q->auto_delete, "arguments",
		    table_json(q->args, q->args_len));
		if (strip)
			json_object_del(o, "vhost");
		json_array_append_new(qs, o);
	}
	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct exchange *x = val;
		struct amqp_bytes xn = { (const uint8_t *)x->name, x->name_len };
		if (x->name_len == 0 || validate_reserved_name(xn))
			continue;
		o = json_pack("{s:s%, s:s, s:s, s:b, s:b, s:b, s:o}", "name", x->name, x->name_len,
		    "vhost", v->name, "type", exchange_type_name(x->type), "durable", x->durable,
		    "auto_delete", x->auto_delete, "internal", x->internal, "arguments",
		    table_json(x->args, x->args_len));
		if (strip)
			json_object_del(o, "vhost");
		json_array_append_new(xs, o);
	}
	/* Bindings as /api/bindings lists them, from a sourceless default exchange excluded. */
	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct exchange *x = val;
		if (x->name_len == 0)
			continue;
		struct binding *b;
		LIST_FOREACH(b, &x->bindings, src_entry)
		{
			if (b->dq != NULL && b->dq->exclusive)
				continue;
			o = json_pack("{s:s%, s:s, s:s%, s:s, s:s%, s:o}", "source", x->name,
			    x->name_len, "vhost", v->name, "destination",
			    b->dq != NULL ? b->dq->name : b->de->name,
			    b->dq != NULL ? b->dq->name_len : b->de->name_len, "destination_type",
			    b->dq != NULL ? "queue" : "exchange", "routing_key", b->key, b->key_len,
			    "arguments", table_json(b->args, b->args_len));
			if (strip)
				json_object_del(o, "vhost");
			json_array_append_new(bs, o);
		}
	}
}

/* vhost-limits parameters: a vhost's limits as RabbitMQ keeps them. */
static json_t *limits_parameter(struct amqp_bytes name)
{
	json_t *value = mgmt_vhost_limits_value(name);

	if (value == NULL)
		return NULL;
	return json_pack("{s:o, s:s, s:s, s:s}", "value", value, "vhost", "", "component",
	    "vhost-limits", "name", "limits");
}

static void export_all(struct mreq *r, const char *only)
{
	json_t *users = json_array(), *vhosts = json_array(), *perms = json_array(),
	       *topics = json_array(), *params = json_array(), *qs = json_array(),
	       *xs = json_array(), *bs = json_array(), *doc, *p;
	struct auth_user_info u;
	struct auth_grant_info g;
	struct auth_topic_info t;
	struct amqp_bytes vn;
	struct vhost *v;
	size_t i, k, nv = auth_db_vhost_count(broker.auth);
	const char *dl;

	for (i = 0; only == NULL && auth_db_user_at(broker.auth, i, &u); i++)
		json_array_append_new(users, mgmt_user_json(&u));
	for (i = 0; i < nv; i++) {
		vn = auth_db_vhost_name(broker.auth, i);
		if (only != NULL && !bytes_is(vn, only))
			continue;
		if (only == NULL) {
			json_array_append_new(vhosts, json_pack("{s:o}", "name", bytes_json(vn)));
			for (k = 0; auth_db_grant_at(broker.auth, i, k, &g); k++)
				json_array_append_new(perms,
				    json_pack("{s:o, s:o, s:s, s:s, s:s}", "user",
				        bytes_json(g.user), "vhost", bytes_json(vn), "configure",
				        g.re[0], "write", g.re[1], "read", g.re[2]));
			for (k = 0; auth_db_topic_at(broker.auth, i, k, &t); k++)
				json_array_append_new(topics,
				    json_pack("{s:o, s:o, s:o, s:s, s:s}", "user",
				        bytes_json(t.user), "vhost", bytes_json(vn), "exchange",
				        bytes_json(t.exchange), "write", t.write, "read", t.read));
		}
		if ((p = limits_parameter(vn)) != NULL) {
			json_object_set_new(p, "vhost", bytes_json(vn));
			json_array_append_new(params, p);
		}
		if ((v = vhost_find(vn)) != NULL)
			export_objects(v, only != NULL, qs, xs, bs);
	}
	if (only != NULL) {
		doc = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "rabbit_version",
		    WARREN_RABBITMQ_VERSION, "parameters", params, "policies",
		    mgmt_policies_export(only), "queues", qs, "exchanges", xs, "bindings", bs);
		json_decref(users);
		json_decref(vhosts);
		json_decref(perms);
		json_decref(topics);
	} else {
		doc = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:[], s:o, s:o, "
		                "s:o, s:o}",
		    "rabbit_version", WARREN_RABBITMQ_VERSION, "rabbitmq_version",
		    WARREN_RABBITMQ_VERSION, "product_name", "Warren", "product_version",
		    PACKAGE_VERSION, "users", users, "vhosts", vhosts, "permissions", perms,
		    "topic_permissions", topics, "parameters", params, "global_parameters",
		    "policies", mgmt_policies_export(NULL), "queues", qs, "exchanges", xs,
		    "bindings", bs);
	}
	if ((dl = mgmt_query(r, "download")) != NULL && strpbrk(dl, "\r\n\"") == NULL) {
		char h[300];
		snprintf(h, sizeof(h), "attachment; filename=%s", dl);
		mgmt_add_header(r, "Content-Disposition", h);
	}
	mgmt_reply_json(r, 200, doc);
}

void mgmt_definitions(struct mreq *r)
{
	const char *only = r->nsegs == 2 ? r->arg[0] : NULL;

	if (only != NULL && !auth_vhost_exists(broker.auth, NAMEB(only))) {
		if (r->method == M_POST)
			mgmt_error(r, 404, "Object Not Found", "vhost_not_found");
		else
			mgmt_error(r, 400, "bad_request", "vhost_not_found");
		return;
	}
	if (r->method == M_POST)
		mgmt_definitions_import(r, only);
	else
		export_all(r, only);
}
