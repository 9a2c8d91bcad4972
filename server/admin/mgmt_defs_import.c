/*
 * mgmt_defs_import.c: definitions into the broker, from RabbitMQ 3.10's JSON document (what
 * `rabbitmqctl export_definitions` writes, or mgmt_defs_export.c). Exchanges, queues and bindings
 * are declared as exchange.declare, queue.declare and queue.bind would, with the same checks
 * (model/validate.c, queue_args_parse): first every one is checked, and one that cannot be
 * declared (a bad type or argument, an inequivalent redeclare, a binding to nothing) fails the
 * whole import with nothing changed; then they are applied. What lives elsewhere in Warren is not
 * imported but reported, a line each: users (the users file, and a hash Warren cannot check),
 * vhosts and permissions (the vhost files), policies and parameters (Warren has none), and the
 * objects of vhosts that do not exist.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt_defs.h"

/* An item's common fields. */
struct item {
	const json_t *o;
	const char *name, *vhost;
	struct vhost *v;
	struct evbuffer *args; /* the encoded arguments */
};

static const char *str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

/* Read o's name, vhost and arguments: 0; 1 when its vhost does not exist (reported); -1 (err). */
static int item_read(struct item *it, const json_t *o, const char *what, const char *name_key,
    struct evbuffer *report, char *err, size_t errlen)
{
	char why[256];

	it->o = o;
	if (!json_is_object(o) ||
	    (it->name = json_string_value(json_object_get(o, name_key))) == NULL) {
		snprintf(err, errlen, "%s: an entry without a %s", what, name_key);
		return -1;
	}
	it->vhost = str_or(o, "vhost", "/");
	if ((it->v = vhost_find(amqp_cstr(it->vhost))) == NULL) {
		evbuffer_add_printf(report,
		    "%s '%s' in vhost '%s' not imported: the vhost does not exist\n", what,
		    it->name, it->vhost);
		return 1;
	}
	evbuffer_drain(it->args, evbuffer_get_length(it->args));
	if (mgmt_json_to_table(json_object_get(o, "arguments"), it->args, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s '%s' in vhost '%s': %s", what, it->name, it->vhost, why);
		return -1;
	}
	return 0;
}

static struct amqp_bytes args_of(struct item *it)
{
	return (struct amqp_bytes){ evbuffer_pullup(it->args, -1), evbuffer_get_length(it->args) };
}

static int flag(
    const struct item *it, const char *what, const char *key, bool *out, char *err, size_t errlen)
{
	if (mgmt_json_bool(it->o, key, false, out) == 0)
		return 0;
	snprintf(err, errlen, "%s '%s' in vhost '%s': %s must be true or false", what, it->name,
	    it->vhost, key);
	return -1;
}

/* Check one exchange, and declare it if apply. */
static int exchange_item(struct item *it, bool apply, char *err, size_t errlen)
{
	struct amqp_bytes nb = amqp_cstr(it->name);
	bool durable, auto_delete, internal;
	enum exchange_type t;
	struct exchange *x;
	char why[512];
	int code;

	if (flag(it, "exchange", "durable", &durable, err, errlen) != 0 ||
	    flag(it, "exchange", "auto_delete", &auto_delete, err, errlen) != 0 ||
	    flag(it, "exchange", "internal", &internal, err, errlen) != 0)
		return -1;
	if (exchange_type_parse(amqp_cstr(str_or(it->o, "type", "")), &t) != 0) {
		snprintf(err, errlen, "exchange '%s' in vhost '%s': unknown exchange type '%s'",
		    it->name, it->vhost, str_or(it->o, "type", ""));
		return -1;
	}
	if ((x = vhost_exchange(it->v, nb)) != NULL) {
		code = validate_exchange_equivalent(
		    x, t, durable, auto_delete, internal, args_of(it), why, sizeof(why));
	} else if (nb.len == 0) {
		code = AMQP_ACCESS_REFUSED;
		snprintf(why, sizeof(why), "the default exchange cannot be declared");
	} else {
		code = validate_exchange_new(it->v, nb, args_of(it), why, sizeof(why));
	}
	if (code != 0) {
		snprintf(err, errlen, "exchange '%s' in vhost '%s': %s", it->name, it->vhost, why);
		return -1;
	}
	if (apply && x == NULL)
		exchange_new(it->v, nb, t, durable, auto_delete, internal, args_of(it));
	return 0;
}

/* Check one queue, and declare it if apply (the vhost's queue limit is reported, not failed). */
static int queue_item(
    struct item *it, bool apply, struct evbuffer *report, char *err, size_t errlen)
{
	struct amqp_bytes nb = amqp_cstr(it->name);
	const char *type = str_or(it->o, "type", "classic");
	bool durable, auto_delete;
	struct auth_limits lim;
	struct queue_args qa;
	struct queue *q;
	char why[512];
	int code = 0;

	if (flag(it, "queue", "durable", &durable, err, errlen) != 0 ||
	    flag(it, "queue", "auto_delete", &auto_delete, err, errlen) != 0)
		return -1;
	if (strcmp(type, "classic") != 0) {
		snprintf(err, errlen,
		    "queue '%s' in vhost '%s': type '%s' is not supported (Warren's queues are "
		    "classic)",
		    it->name, it->vhost, type);
		return -1;
	}
	if ((q = vhost_queue(it->v, nb)) != NULL) {
		if (q->exclusive) {
			code = AMQP_RESOURCE_LOCKED;
			snprintf(
			    why, sizeof(why), "an exclusive queue of a connection has the name");
		} else {
			code = validate_queue_equivalent(
			    q, durable, auto_delete, args_of(it), why, sizeof(why));
		}
	} else if (nb.len == 0 || validate_reserved_name(nb)) {
		code = AMQP_ACCESS_REFUSED;
		snprintf(why, sizeof(why), "a reserved or empty name");
	} else if (queue_args_parse(args_of(it), &qa, it->name, it->vhost, why, sizeof(why)) != 0) {
		code = AMQP_PRECONDITION_FAILED;
	} else if (!apply) {
		queue_args_free(&qa);
	} else if (auth_vhost_limits(broker.auth, amqp_cstr(it->vhost), &lim) &&
	    lim.max_queues >= 0 && it->v->queues.count >= (size_t)lim.max_queues) {
		queue_args_free(&qa);
		evbuffer_add_printf(report,
		    "queue '%s' in vhost '%s' not imported: the vhost's queue limit (%ld) is "
		    "reached\n",
		    it->name, it->vhost, lim.max_queues);
	} else {
		queue_new(it->v, nb, durable, false, auto_delete, NULL, args_of(it), &qa);
	}
	if (code != 0) {
		snprintf(err, errlen, "queue '%s' in vhost '%s': %s", it->name, it->vhost, why);
		return -1;
	}
	return 0;
}

/* Whether doc's list key holds an entry named name in vhost (it is declared by this import). */
static bool in_doc(const json_t *doc, const char *key, const char *vhost, const char *name)
{
	const json_t *o;
	size_t i;

	json_array_foreach(json_object_get(doc, key), i, o)
	{
		if (strcmp(str_or(o, "name", ""), name) == 0 &&
		    strcmp(str_or(o, "vhost", "/"), vhost) == 0)
			return true;
	}
	return false;
}

/* Check one binding, and bind if apply. */
static int binding_item(struct item *it, const json_t *doc, bool apply, struct evbuffer *report,
    char *err, size_t errlen)
{
	const char *dst = str_or(it->o, "destination", NULL),
	           *key = str_or(it->o, "routing_key", "");
	const char *dtype = str_or(it->o, "destination_type", "queue");
	bool to_queue = strcmp(dtype, "queue") == 0;
	struct exchange *src, *de = NULL;
	struct queue *dq = NULL;
	char why[512];

	if (it->name[0] == '\0')
		return 0; /* the default exchange's bindings are implicit */
	if (dst == NULL || (!to_queue && strcmp(dtype, "exchange") != 0)) {
		snprintf(err, errlen,
		    "binding from '%s' in vhost '%s': a destination and a destination_type "
		    "(queue or exchange) are needed",
		    it->name, it->vhost);
		return -1;
	}
	src = vhost_exchange(it->v, amqp_cstr(it->name));
	if (to_queue)
		dq = vhost_queue(it->v, amqp_cstr(dst));
	else
		de = vhost_exchange(it->v, amqp_cstr(dst));
	if (!apply) {
		if ((src == NULL && !in_doc(doc, "exchanges", it->vhost, it->name)) ||
		    (dq == NULL && de == NULL &&
		        !in_doc(doc, to_queue ? "queues" : "exchanges", it->vhost, dst))) {
			snprintf(err, errlen,
			    "binding from '%s' to %s '%s' in vhost '%s': no such %s", it->name,
			    dtype, dst, it->vhost, src == NULL ? "source exchange" : "destination");
			return -1;
		}
		return 0;
	}
	if (src == NULL || (dq == NULL && de == NULL)) { /* not declared: already reported */
		evbuffer_add_printf(report,
		    "binding from '%s' to %s '%s' in vhost '%s' not imported: an end is missing\n",
		    it->name, dtype, dst, it->vhost);
		return 0;
	}
	if (validate_binding_args(src, args_of(it), why, sizeof(why)) != 0) {
		evbuffer_add_printf(report,
		    "binding from '%s' to %s '%s' in vhost '%s' not imported: %s\n", it->name,
		    dtype, dst, it->vhost, why);
		return 0;
	}
	exchange_bind(src, dq, de, amqp_cstr(key), args_of(it));
	return 0;
}

/* Check (apply false) or apply every exchange, queue and binding of doc. */
static int objects(const json_t *doc, bool apply, struct evbuffer *report, char *err, size_t errlen)
{
	static const char *const lists[] = { "exchanges", "queues", "bindings" };
	struct evbuffer *quiet = evbuffer_new();
	struct item it = { .args = evbuffer_new() };
	const json_t *o;
	size_t l, i;
	int r = 0;

	for (l = 0; l < 3 && r == 0; l++) {
		json_array_foreach(json_object_get(doc, lists[l]), i, o)
		{
			/* the skipped ones are reported once, when applying */
			r = item_read(&it, o,
			    l == 2       ? "binding from"
			        : l == 0 ? "exchange"
			                 : "queue",
			    l == 2 ? "source" : "name", apply ? report : quiet, err, errlen);
			if (r == 1) {
				r = 0;
				continue;
			}
			if (r == 0 && l == 0)
				r = exchange_item(&it, apply, err, errlen);
			else if (r == 0 && l == 1)
				r = queue_item(&it, apply, report, err, errlen);
			else if (r == 0)
				r = binding_item(&it, doc, apply, report, err, errlen);
			if (r != 0 && apply) { /* the doc contradicts itself: say so, go on */
				evbuffer_add_printf(report, "not imported: %s\n", err);
				r = 0;
			}
			if (r != 0)
				break;
		}
	}
	evbuffer_free(it.args);
	evbuffer_free(quiet);
	return r;
}

/* Whether the vhost files give user exactly these permissions in vhost. */
static bool same_grant(const json_t *p)
{
	const char *vhost = str_or(p, "vhost", "/"), *user = str_or(p, "user", "");
	struct auth_grant_info g;
	size_t i;

	for (i = 0; auth_db_grant_at(broker.auth, amqp_cstr(vhost), i, &g); i++)
		if (g.user.len == strlen(user) && memcmp(g.user.ptr, user, g.user.len) == 0)
			return strcmp(g.configure, str_or(p, "configure", "")) == 0 &&
			    strcmp(g.write, str_or(p, "write", "")) == 0 &&
			    strcmp(g.read, str_or(p, "read", "")) == 0;
	return false;
}

/* What the files hold is not imported: say what differs. */
static void report_access(const json_t *doc, struct evbuffer *report)
{
	static const char *const unsupported[] = { "topic_permissions", "policies", "parameters",
		"global_parameters" };
	const char *name, *algo;
	const json_t *o;
	size_t i, n;

	json_array_foreach(json_object_get(doc, "users"), i, o)
	{
		name = str_or(o, "name", "");
		algo = str_or(o, "hashing_algorithm", "rabbit_password_hashing_sha256");
		if (!auth_user_exists(broker.auth, amqp_cstr(name)))
			evbuffer_add_printf(report,
			    "user '%s' not imported: users are defined in the users file\n", name);
		else if (json_object_get(o, "warren_password_hash") == NULL &&
		    str_or(o, "password_hash", "")[0] != '\0') /* RabbitMQ's own hash */
			evbuffer_add_printf(report,
			    "user '%s': its %s password hash cannot be checked by Warren: the "
			    "users "
			    "file's entry stays\n",
			    name, algo);
	}
	json_array_foreach(json_object_get(doc, "vhosts"), i, o)
	{
		name = str_or(o, "name", "");
		if (vhost_find(amqp_cstr(name)) == NULL)
			evbuffer_add_printf(report,
			    "vhost '%s' not imported: vhosts are defined in vhost files\n", name);
	}
	json_array_foreach(json_object_get(doc, "permissions"), i, o)
	{
		if (!same_grant(o))
			evbuffer_add_printf(report,
			    "permissions of '%s' in vhost '%s' not imported: they are defined in "
			    "vhost files\n",
			    str_or(o, "user", ""), str_or(o, "vhost", "/"));
	}
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if ((n = json_array_size(json_object_get(doc, unsupported[i]))) > 0)
			evbuffer_add_printf(report, "%zu %s not imported: %s\n", n, unsupported[i],
			    i == 0 ? "they are defined in vhost files" : "Warren has none");
}

int mgmt_definitions_import(const json_t *doc, struct evbuffer *report, char *err, size_t errlen)
{
	static const char *const lists[] = { "users", "vhosts", "permissions", "topic_permissions",
		"parameters", "global_parameters", "policies", "queues", "exchanges", "bindings" };
	const json_t *v;
	size_t i;

	if (!json_is_object(doc)) {
		snprintf(err, errlen, "definitions must be a JSON object");
		return -1;
	}
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		if ((v = json_object_get(doc, lists[i])) != NULL && !json_is_array(v)) {
			snprintf(err, errlen, "%s must be an array", lists[i]);
			return -1;
		}
	}
	if (objects(doc, false, report, err, errlen) != 0)
		return -1;
	report_access(doc, report);
	objects(doc, true, report, err, errlen);
	log_info("definitions imported: %zu exchanges, %zu queues, %zu bindings",
	    json_array_size(json_object_get(doc, "exchanges")),
	    json_array_size(json_object_get(doc, "queues")),
	    json_array_size(json_object_get(doc, "bindings")));
	return 0;
}
