/*
 * mgmt_defs_export.c: definitions out of the broker, as RabbitMQ 3.10's JSON document (what
 * `rabbitmqctl export_definitions` writes): users, vhosts, permissions and topic permissions as
 * the users and vhost files in force say (users without a RabbitMQ password hash: see
 * mgmt_user_json); vhost limits as RabbitMQ's "vhost-limits" parameters;
 * the durable exchanges, queues and bindings, as RabbitMQ exports them (not the default or
 * "amq." exchanges, not exclusive queues, not bindings to or from a transient object or the
 * default exchange's implicit ones). The document is built whole: a definitions file is read and
 * written whole by everything that uses one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "server/admin/mgmt_defs.h"

static json_t *bytes_json(struct amqp_bytes b)
{
	return mgmt_bytes(b.ptr, b.len);
}

static bool wanted(const char *only, const char *vhost)
{
	return only == NULL || strcmp(only, vhost) == 0;
}

/* vhosts, permissions, topic_permissions and the vhost-limits parameters of the auth database. */
static void export_access(const char *only, json_t *doc)
{
	json_t *vhosts = json_object_get(doc, "vhosts"),
	       *perms = json_object_get(doc, "permissions");
	json_t *topics = json_object_get(doc, "topic_permissions");
	json_t *params = json_object_get(doc, "parameters");
	struct auth_grant_info g;
	struct auth_topic_info t;
	struct auth_limits lim;
	struct amqp_bytes vb;
	json_t *o, *value;
	size_t v, i;
	char *name;

	for (v = 0; v < auth_db_vhost_count(broker.auth); v++) {
		vb = auth_db_vhost_name(broker.auth, v);
		name = xstrndup((const char *)vb.ptr, vb.len);
		if (!wanted(only, name)) {
			free(name);
			continue;
		}
		json_array_append_new(vhosts,
		    json_pack("{s:o, s:[], s:{s:s, s:[]}}", "name", bytes_json(vb), "limits",
		        "metadata", "description", "", "tags"));
		for (i = 0; auth_db_grant_at(broker.auth, vb, i, &g); i++)
			json_array_append_new(perms, mgmt_permission_json(name, &g));
		for (i = 0; auth_db_topic_at(broker.auth, vb, i, &t); i++) {
			o = json_object();
			json_object_set_new(o, "user", bytes_json(t.user));
			json_object_set_new(o, "vhost", bytes_json(vb));
			json_object_set_new(o, "exchange", bytes_json(t.exchange));
			json_object_set_new(o, "write", mgmt_bytes(t.write, strlen(t.write)));
			json_object_set_new(o, "read", mgmt_bytes(t.read, strlen(t.read)));
			json_array_append_new(topics, o);
		}
		if (auth_vhost_limits(broker.auth, vb, &lim) &&
		    (lim.max_connections >= 0 || lim.max_queues >= 0)) {
			value = json_object();
			if (lim.max_connections >= 0)
				json_object_set_new(value, "max-connections",
				    json_integer((json_int_t)lim.max_connections));
			if (lim.max_queues >= 0)
				json_object_set_new(
				    value, "max-queues", json_integer((json_int_t)lim.max_queues));
			json_array_append_new(params,
			    json_pack("{s:o, s:s, s:s, s:o}", "vhost", bytes_json(vb), "component",
			        "vhost-limits", "name", "limits", "value", value));
		}
		free(name);
	}
}

static json_t *args_json(const uint8_t *args, size_t len)
{
	return mgmt_table_to_json((struct amqp_bytes){ args, len });
}

/* What RabbitMQ exports of an exchange: durable, and neither the default nor an "amq." one. */
static bool exported_exchange(const struct exchange *x)
{
	return x->durable && x->name_len > 0 && strncmp(x->name, "amq.", 4) != 0;
}

/* The exchanges, queues and bindings of one vhost. */
static void export_objects(struct vhost *v, json_t *doc)
{
	json_t *xs = json_object_get(doc, "exchanges"), *qs = json_object_get(doc, "queues");
	json_t *bs = json_object_get(doc, "bindings"), *o;
	struct hmap_iter it;
	struct binding *b;
	const void *k;
	size_t kl;
	void *val;

	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct exchange *x = val;
		if (!exported_exchange(x))
			continue;
		o = json_pack("{s:s%, s:s, s:s, s:b, s:b, s:b}", "name", x->name, x->name_len,
		    "vhost", v->name, "type", exchange_type_name(x->type), "durable", x->durable,
		    "auto_delete", x->auto_delete, "internal", x->internal);
		json_object_set_new(o, "arguments", args_json(x->args, x->args_len));
		json_array_append_new(xs, o);
	}
	hmap_iter_init(&v->queues, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct queue *q = val;
		if (!q->durable || q->exclusive)
			continue;
		o = json_pack("{s:s%, s:s, s:b, s:b, s:s}", "name", q->name, q->name_len, "vhost",
		    v->name, "durable", q->durable, "auto_delete", q->auto_delete, "type",
		    "classic");
		json_object_set_new(o, "arguments", args_json(q->args, q->args_len));
		json_array_append_new(qs, o);
	}
	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct exchange *x = val;
		/* amq. sources count: a binding from amq.topic to a durable queue is the user's */
		if (!x->durable || x->name_len == 0)
			continue;
		LIST_FOREACH(b, &x->bindings, src_entry)
		{
			bool to_queue = b->dq != NULL;
			if (to_queue ? !b->dq->durable || b->dq->exclusive : !b->de->durable)
				continue;
			o = json_pack("{s:s%, s:s, s:s%, s:s, s:s%}", "source", x->name,
			    x->name_len, "vhost", v->name, "destination",
			    to_queue ? b->dq->name : b->de->name,
			    to_queue ? b->dq->name_len : b->de->name_len, "destination_type",
			    to_queue ? "queue" : "exchange", "routing_key", b->key, b->key_len);
			json_object_set_new(o, "arguments", args_json(b->args, b->args_len));
			json_array_append_new(bs, o);
		}
	}
}

json_t *mgmt_definitions_export(const char *only)
{
	struct auth_user_info u;
	struct hmap_iter vi;
	const void *k;
	size_t kl, i;
	void *val;
	json_t *doc;

	doc =
	    json_pack("{s:s, s:s, s:s, s:s, s:[], s:[], s:[], s:[], s:[], s:[], s:[], s:[], s:[], "
	              "s:[]}",
	        "rabbit_version", WARREN_RABBITMQ_VERSION, "rabbitmq_version",
	        WARREN_RABBITMQ_VERSION, "product_name", "Warren", "product_version",
	        PACKAGE_VERSION, "users", "vhosts", "permissions", "topic_permissions",
	        "parameters", "global_parameters", "policies", "queues", "exchanges", "bindings");
	if (only == NULL)
		for (i = 0; auth_db_user_at(broker.auth, i, &u); i++)
			json_array_append_new(json_object_get(doc, "users"), mgmt_user_json(&u));
	export_access(only, doc);
	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, &k, &kl, &val)) {
		struct vhost *v = val;
		if (wanted(only, v->name))
			export_objects(v, doc);
	}
	return doc;
}
