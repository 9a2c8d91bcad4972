/*
 * mgmt_import.c: POST /api/definitions and /api/definitions/{vhost}: an import in RabbitMQ 3.10's
 * JSON. It merges, as RabbitMQ's does: objects already there are left as they are. It is all or
 * nothing where Warren can make it so: the whole document is checked first (shapes, exchange
 * types, queue arguments, policies, every object's vhost and every binding's ends, and what the
 * files cannot express: other parameters, per-user limits), then the users, vhosts, permissions,
 * limits and policies (mgmt_policies.c) go into the files in one transaction (mgmt_edit.c: checked as a reload parses them,
 * written atomically, reloaded), and only then are exchanges, queues and bindings declared. A
 * password hash Warren cannot verify (rabbit_password_hashing_md5) does not stop the import:
 * that user is imported locked ("!") and named, with the reason, in the answer's "warnings"
 * (200 instead of 204) and the log.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

#define NAMEB(s) amqp_cstr(s)

/* ---- Import: checking the document ---- */

struct import {
	json_t *defs;     /* the body */
	char *only;       /* definitions/{vhost}: its objects go there */
	json_t *warnings; /* filled by the worker, read after it */
};

static void import_free(void *p)
{
	struct import *im = p;

	json_decref(im->defs);
	json_decref(im->warnings);
	free(im->only);
	free(im);
}

/* A list member of the document: an array (or missing: empty); else NULL with err. */
static const json_t *list_of(const json_t *defs, const char *key, char *err, size_t errlen)
{
	static json_t *empty;
	const json_t *a = json_object_get(defs, key);
	size_t i;
	json_t *o;

	if (empty == NULL)
		empty = json_array();
	if (a == NULL || json_is_null(a))
		return empty;
	if (!json_is_array(a)) {
		snprintf(err, errlen, "%s must be a list", key);
		return NULL;
	}
	json_array_foreach(a, i, o)
	{
		if (!json_is_object(o)) {
			snprintf(err, errlen, "%s[%zu] must be an object", key, i);
			return NULL;
		}
	}
	return a;
}

/* A string field of a list member: present and a string, else NULL with err. */
static const char *field(
    const json_t *o, const char *list, size_t i, const char *key, char *err, size_t errlen)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		snprintf(err, errlen, "%s[%zu]: %s must be a string (without NUL)", list, i, key);
		return NULL;
	}
	return json_string_value(v);
}

/* The vhost of an object: the path's (definitions/{vhost}), or its own field. */
static const char *vhost_of(
    const struct import *im, const json_t *o, const char *list, size_t i, char *err, size_t errlen)
{
	return im->only != NULL ? im->only : field(o, list, i, "vhost", err, errlen);
}

/* The vhosts the document names (a set), which will exist after the files. */
static json_t *vhost_set(const struct import *im)
{
	const json_t *a = json_object_get(im->defs, "vhosts"), *o;
	json_t *set = json_object();
	size_t i;

	json_array_foreach(a, i, o) if (json_is_string(json_object_get(o, "name")))
	    json_object_set_new(set, json_string_value(json_object_get(o, "name")), json_true());
	return set;
}

static bool vhost_known(const json_t *vset, const char *vhost)
{
	return auth_vhost_exists(broker.auth, NAMEB(vhost)) || json_object_get(vset, vhost) != NULL;
}

/* The key of (vhost, name) in the sets below: unambiguous whatever the names hold. */
static const char *set_key(char *buf, size_t len, const char *vhost, const char *name)
{
	snprintf(buf, len, "%zu:%s/%s", strlen(vhost), vhost, name);
	return buf;
}

/*
 * The (vhost, name) pairs the document declares in list ("exchanges" or "queues"), as a JSON
 * object used as a set: a binding's lookup is then O(1), not a scan (a document of 8 MiB).
 */
static json_t *declared_set(const struct import *im, const char *list)
{
	const json_t *a = json_object_get(im->defs, list), *o;
	json_t *set = json_object();
	const char *v, *n;
	char key[600];
	size_t i;

	json_array_foreach(a, i, o)
	{
		n = json_string_value(json_object_get(o, "name"));
		v = im->only != NULL ? im->only : json_string_value(json_object_get(o, "vhost"));
		if (n != NULL && v != NULL)
			json_object_set_new(set, set_key(key, sizeof(key), v, n), json_true());
	}
	return set;
}

/* arguments of a list member as an encoded table into buf: 0, or -1 with err. */
static int args_of(
    const json_t *o, const char *list, size_t i, struct evbuffer *buf, char *err, size_t errlen)
{
	char why[256];

	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (mgmt_json_to_table(json_object_get(o, "arguments"), buf, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "%s[%zu]: %s", list, i, why);
	return -1;
}

static int flag_of(const json_t *o, const char *list, size_t i, const char *key, bool *out,
    char *err, size_t errlen)
{
	if (mgmt_json_bool(o, key, false, out) == 0)
		return 0;
	snprintf(err, errlen, "%s[%zu]: %s must be true or false", list, i, key);
	return -1;
}

/* What the files cannot say: parameters other than vhost-limits, user limits; bad policies. */
static int check_unsupported(const struct import *im, char *err, size_t errlen)
{
	const json_t *a, *o, *val, *lim;
	const char *comp, *key;
	size_t i;

	if (list_of(im->defs, "policies", err, errlen) == NULL ||
	    mgmt_policies_import_check(im->defs, im->only, err, errlen) != 0)
		return -1;
	if ((a = list_of(im->defs, "parameters", err, errlen)) == NULL)
		return -1;
	json_array_foreach(a, i, o)
	{
		comp = json_string_value(json_object_get(o, "component"));
		if (comp == NULL || strcmp(comp, "vhost-limits") != 0) {
			snprintf(err, errlen,
			    "parameters[%zu]: Warren has no runtime parameters of "
			    "component '%s' (only vhost-limits)",
			    i, comp != NULL ? comp : "?");
			return -1;
		}
		if (vhost_of(im, o, "parameters", i, err, errlen) == NULL)
			return -1;
		if (!json_is_object(val = json_object_get(o, "value"))) {
			snprintf(err, errlen, "parameters[%zu]: value must be an object", i);
			return -1;
		}
		json_object_foreach((json_t *)val, key, lim)
		{
			if ((strcmp(key, "max-connections") != 0 &&
			        strcmp(key, "max-queues") != 0) ||
			    !json_is_integer(lim)) {
				snprintf(err, errlen,
				    "parameters[%zu]: a vhost file has max-connections and "
				    "max-queues "
				    "(integers), not '%s'",
				    i, key);
				return -1;
			}
		}
	}
	if ((a = list_of(im->defs, "global_parameters", err, errlen)) == NULL)
		return -1;
	json_array_foreach(a, i, o)
	{
		key = json_string_value(json_object_get(o, "name"));
		if (key == NULL ||
		    (strcmp(key, "cluster_name") != 0 && strcmp(key, "internal_cluster_id") != 0)) {
			snprintf(err, errlen,
			    "global_parameters[%zu]: Warren has no global parameter "
			    "'%s'",
			    i, key != NULL ? key : "?");
			return -1;
		}
	}
	if (im->only != NULL)
		return 0;
	if ((a = list_of(im->defs, "users", err, errlen)) == NULL)
		return -1;
	json_array_foreach(a, i, o)
	{
		lim = json_object_get(o, "limits");
		if (lim != NULL && !(json_is_object(lim) && json_object_size(lim) == 0) &&
		    !(json_is_array(lim) && json_array_size(lim) == 0)) {
			snprintf(err, errlen,
			    "users[%zu]: the users file has no per-user limits "
			    "(user_max_connections "
			    "in warren.conf applies to every user)",
			    i);
			return -1;
		}
		if (field(o, "users", i, "name", err, errlen) == NULL)
			return -1;
	}
	return 0;
}

/* Exchanges, queues and bindings: every one can be declared (or is there already). */
static int check_objects(const struct import *im, char *err, size_t errlen)
{
	json_t *xset = declared_set(im, "exchanges"), *qset = declared_set(im, "queues");
	json_t *vset = vhost_set(im);
	struct evbuffer *ab = evbuffer_new();
	char key[600];
	const json_t *a, *o;
	const char *vh, *name, *s, *dt, *src, *dst;
	struct queue_args qa;
	enum exchange_type t;
	struct vhost *v;
	bool b, durable, auto_delete;
	struct amqp_bytes args;
	size_t i;
	int ret = -1;

	if ((a = list_of(im->defs, "exchanges", err, errlen)) == NULL)
		goto out;
	json_array_foreach(a, i, o)
	{
		if ((vh = vhost_of(im, o, "exchanges", i, err, errlen)) == NULL ||
		    (name = field(o, "exchanges", i, "name", err, errlen)) == NULL ||
		    (s = field(o, "exchanges", i, "type", err, errlen)) == NULL ||
		    args_of(o, "exchanges", i, ab, err, errlen) != 0 ||
		    flag_of(o, "exchanges", i, "durable", &b, err, errlen) != 0 ||
		    flag_of(o, "exchanges", i, "auto_delete", &b, err, errlen) != 0 ||
		    flag_of(o, "exchanges", i, "internal", &b, err, errlen) != 0)
			goto out;
		if (!vhost_known(vset, vh)) {
			snprintf(err, errlen, "exchanges[%zu]: no vhost '%s'", i, vh);
			goto out;
		}
		if (exchange_type_parse(amqp_cstr(s), &t) != 0) {
			snprintf(err, errlen, "exchanges[%zu]: unknown exchange type '%s'", i, s);
			goto out;
		}
		v = vhost_find(NAMEB(vh));
		if (v != NULL && vhost_exchange(v, NAMEB(name)) != NULL)
			continue; /* there already: left as it is */
		if (*name == '\0' || validate_reserved_name(NAMEB(name))) {
			snprintf(
			    err, errlen, "exchanges[%zu]: exchange name '%s' is reserved", i, name);
			goto out;
		}
	}
	if ((a = list_of(im->defs, "queues", err, errlen)) == NULL)
		goto out;
	json_array_foreach(a, i, o)
	{
		if ((vh = vhost_of(im, o, "queues", i, err, errlen)) == NULL ||
		    (name = field(o, "queues", i, "name", err, errlen)) == NULL ||
		    args_of(o, "queues", i, ab, err, errlen) != 0 ||
		    flag_of(o, "queues", i, "durable", &durable, err, errlen) != 0 ||
		    flag_of(o, "queues", i, "auto_delete", &auto_delete, err, errlen) != 0)
			goto out;
		if (!vhost_known(vset, vh)) {
			snprintf(err, errlen, "queues[%zu]: no vhost '%s'", i, vh);
			goto out;
		}
		v = vhost_find(NAMEB(vh));
		if (v != NULL && vhost_queue(v, NAMEB(name)) != NULL)
			continue;
		if (*name == '\0' || validate_reserved_name(NAMEB(name))) {
			snprintf(err, errlen, "queues[%zu]: queue name '%s' is reserved", i, name);
			goto out;
		}
		/* A quorum queue's rules as a declare's (the arguments, then the properties). */
		args = (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
		if (queue_type_check(args, 0, durable, false, auto_delete, name, vh, err, errlen) !=
		        0 ||
		    queue_args_parse(args, &qa, name, vh, err, errlen) != 0)
			goto out;
		queue_args_free(&qa);
		if (queue_type_check(args, 1, durable, false, auto_delete, name, vh, err, errlen) !=
		    0)
			goto out;
	}
	if ((a = list_of(im->defs, "bindings", err, errlen)) == NULL)
		goto out;
	json_array_foreach(a, i, o)
	{
		if ((vh = vhost_of(im, o, "bindings", i, err, errlen)) == NULL ||
		    (src = field(o, "bindings", i, "source", err, errlen)) == NULL ||
		    (dst = field(o, "bindings", i, "destination", err, errlen)) == NULL ||
		    (dt = field(o, "bindings", i, "destination_type", err, errlen)) == NULL ||
		    field(o, "bindings", i, "routing_key", err, errlen) == NULL ||
		    args_of(o, "bindings", i, ab, err, errlen) != 0)
			goto out;
		v = vhost_find(NAMEB(vh));
		if (strcmp(dt, "queue") != 0 && strcmp(dt, "exchange") != 0) {
			snprintf(err, errlen,
			    "bindings[%zu]: destination_type must be queue or exchange", i);
			goto out;
		}
		if (*src == '\0' ||
		    !((v != NULL && vhost_exchange(v, NAMEB(src)) != NULL) ||
		        json_object_get(xset, set_key(key, sizeof(key), vh, src)) != NULL)) {
			snprintf(err, errlen,
			    "bindings[%zu]: no source exchange '%s' in vhost '%s'", i, src, vh);
			goto out;
		}
		if (!(v != NULL &&
		        (strcmp(dt, "queue") == 0 ? vhost_queue(v, NAMEB(dst)) != NULL
		                                  : vhost_exchange(v, NAMEB(dst)) != NULL)) &&
		    json_object_get(strcmp(dt, "queue") == 0 ? qset : xset,
		        set_key(key, sizeof(key), vh, dst)) == NULL) {
			snprintf(err, errlen, "bindings[%zu]: no destination %s '%s' in vhost '%s'",
			    i, dt, dst, vh);
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(xset);
	json_decref(qset);
	json_decref(vset);
	evbuffer_free(ab);
	return ret;
}

/* ---- Import: the files (on the worker) ---- */

static int tags_of(const json_t *t, char *out, size_t len)
{
	size_t i, at = 0, n;
	const char *s;
	json_t *x;

	out[0] = '\0';
	if (t == NULL || json_is_null(t))
		return 0;
	if (json_is_string(t)) {
		for (s = json_string_value(t); *s != '\0' && at + 1 < len; s++)
			if (*s != ' ')
				out[at++] = *s;
		out[at] = '\0';
		return 0;
	}
	if (!json_is_array(t))
		return -1;
	json_array_foreach(t, i, x)
	{
		if (!json_is_string(x) || (n = json_string_length(x)) + at + 2 > len)
			return -1;
		if (at > 0)
			out[at++] = ',';
		memcpy(out + at, json_string_value(x), n);
		out[at += n] = '\0';
	}
	return 0;
}

static int import_users(struct import *im, struct auth_edit *e, char *err, size_t errlen)
{
	const json_t *a = json_object_get(im->defs, "users"), *o;
	char hash[AUTH_HASH_MAX], why[512], tags[1024];
	const char *name, *ph, *alg;
	bool created;
	size_t i;
	int rc;

	json_array_foreach(a, i, o)
	{
		name = json_string_value(json_object_get(o, "name"));
		ph = json_string_value(json_object_get(o, "password_hash"));
		alg = json_string_value(json_object_get(o, "hashing_algorithm"));
		if (tags_of(json_object_get(o, "tags"), tags, sizeof(tags)) != 0) {
			snprintf(err, errlen, "users[%zu]: tags must be a string or a list", i);
			return AUTH_E_INVALID;
		}
		if (ph == NULL || *ph == '\0') {
			snprintf(hash, sizeof(hash), "!");
		} else if (alg != NULL && strcmp(alg, "warren_saslauthd") == 0) {
			snprintf(hash, sizeof(hash), "saslauthd");
		} else if ((rc = auth_rabbit_hash_import(
		                alg, ph, hash, sizeof(hash), why, sizeof(why))) != AUTH_OK) {
			if (rc != AUTH_E_UNSUPPORTED) {
				snprintf(err, errlen, "users[%zu] ('%s'): %s", i, name, why);
				return AUTH_E_INVALID;
			}
			/* Not dropped: imported without a password, and said so. */
			char w[700];
			snprintf(w, sizeof(w),
			    "%s: imported without a password (locked, '!' in the users file); "
			    "give it a new password",
			    why);
			json_array_append_new(
			    im->warnings, json_pack("{s:s, s:s}", "user", name, "reason", w));
			snprintf(hash, sizeof(hash), "!");
		}
		if ((rc = auth_edit_user_set(
		         e, amqp_cstr(name), hash, tags, &created, err, errlen)) != AUTH_OK) {
			char tmp[600];
			snprintf(tmp, sizeof(tmp), "users[%zu] ('%s'): %s", i, name, err);
			snprintf(err, errlen, "%s", tmp);
			return rc;
		}
	}
	return AUTH_OK;
}

/* vhosts, then limits (vhost-limits parameters and the vhosts' own "limits"), permissions. */
static int import_vhosts(struct import *im, struct auth_edit *e, char *err, size_t errlen)
{
	const json_t *a, *o, *val, *lim;
	const char *vh, *key;
	char tmp[700];
	bool created;
	size_t i;
	int rc = AUTH_OK;

	a = json_object_get(im->defs, "vhosts");
	json_array_foreach(a, i, o)
	{
		vh = json_string_value(json_object_get(o, "name"));
		if (vh == NULL) {
			snprintf(err, errlen, "vhosts[%zu]: name must be a string", i);
			return AUTH_E_INVALID;
		}
		if ((rc = auth_edit_vhost_add(e, amqp_cstr(vh), &created, err, errlen)) != AUTH_OK)
			goto fail;
		/* rabbitmqctl's export: "limits": [["max-queues", 10], ...] */
		lim = json_object_get(o, "limits");
		for (size_t k = 0; json_is_array(lim) && k < json_array_size(lim); k++) {
			const json_t *pair = json_array_get(lim, k);
			if (!json_is_array(pair) || json_array_size(pair) != 2 ||
			    !json_is_string(json_array_get(pair, 0)) ||
			    !json_is_integer(json_array_get(pair, 1))) {
				snprintf(err, errlen, "vhosts[%zu]: malformed limits", i);
				return AUTH_E_INVALID;
			}
			if ((rc = auth_edit_limit_set(e, amqp_cstr(vh),
			         json_string_value(json_array_get(pair, 0)),
			         (long)json_integer_value(json_array_get(pair, 1)), err, errlen)) !=
			    AUTH_OK)
				goto fail;
		}
	}
	a = json_object_get(im->defs, "parameters");
	json_array_foreach(a, i, o)
	{
		vh = im->only != NULL ? im->only : json_string_value(json_object_get(o, "vhost"));
		val = json_object_get(o, "value");
		json_object_foreach((json_t *)val, key, lim)
		{
			if ((rc = auth_edit_limit_set(e, amqp_cstr(vh), key,
			         (long)json_integer_value(lim), err, errlen)) != AUTH_OK)
				goto fail;
		}
	}
	return AUTH_OK;
fail:
	snprintf(tmp, sizeof(tmp), "vhost '%s': %s", vh, err);
	snprintf(err, errlen, "%s", tmp);
	return rc;
}

static int import_permissions(struct import *im, struct auth_edit *e, char *err, size_t errlen)
{
	const json_t *a, *o;
	const char *re[3], *vh, *user, *x;
	char tmp[700];
	size_t i;
	int rc;

	a = json_object_get(im->defs, "permissions");
	json_array_foreach(a, i, o)
	{
		if ((vh = field(o, "permissions", i, "vhost", err, errlen)) == NULL ||
		    (user = field(o, "permissions", i, "user", err, errlen)) == NULL ||
		    (re[0] = field(o, "permissions", i, "configure", err, errlen)) == NULL ||
		    (re[1] = field(o, "permissions", i, "write", err, errlen)) == NULL ||
		    (re[2] = field(o, "permissions", i, "read", err, errlen)) == NULL)
			return AUTH_E_INVALID;
		if ((rc = auth_edit_permissions_set(
		         e, amqp_cstr(vh), amqp_cstr(user), re, err, errlen)) != AUTH_OK) {
			snprintf(tmp, sizeof(tmp), "permissions[%zu]: %s", i, err);
			snprintf(err, errlen, "%s", tmp);
			return rc == AUTH_E_NOT_FOUND ? AUTH_E_INVALID : rc;
		}
	}
	a = json_object_get(im->defs, "topic_permissions");
	json_array_foreach(a, i, o)
	{
		if ((vh = field(o, "topic_permissions", i, "vhost", err, errlen)) == NULL ||
		    (user = field(o, "topic_permissions", i, "user", err, errlen)) == NULL ||
		    (x = field(o, "topic_permissions", i, "exchange", err, errlen)) == NULL ||
		    (re[0] = field(o, "topic_permissions", i, "write", err, errlen)) == NULL ||
		    (re[1] = field(o, "topic_permissions", i, "read", err, errlen)) == NULL)
			return AUTH_E_INVALID;
		if ((rc = auth_edit_topic_set(e, amqp_cstr(vh), amqp_cstr(user), amqp_cstr(x),
		         re[0], re[1], err, errlen)) != AUTH_OK) {
			snprintf(tmp, sizeof(tmp), "topic_permissions[%zu]: %s", i, err);
			snprintf(err, errlen, "%s", tmp);
			return rc == AUTH_E_NOT_FOUND ? AUTH_E_INVALID : rc;
		}
	}
	return AUTH_OK;
}

/* The worker's part: every file change of the import, in one transaction. */
static int import_files_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct import *im = arg;
	int rc;

	if (im->only == NULL &&
	    ((rc = import_users(im, e, err, errlen)) != AUTH_OK ||
	        (rc = import_vhosts(im, e, err, errlen)) != AUTH_OK ||
	        (rc = import_permissions(im, e, err, errlen)) != AUTH_OK))
		return rc;
	if (im->only != NULL && (rc = import_vhosts(im, e, err, errlen)) != AUTH_OK)
		return rc; /* a vhost's own import: its limits and policies only */
	return mgmt_policies_import(e, im->defs, im->only, err, errlen);
}

/* ---- Import: the objects (on the loop, after the files) ---- */

/* Declare what is not there yet: exchanges, queues, then bindings. Returns how many failed. */
static unsigned import_objects(struct import *im, char *first, size_t firstlen)
{
	struct evbuffer *ab = evbuffer_new();
	const json_t *a, *o;
	const char *vh, *name, *dt;
	struct amqp_bytes args;
	struct queue_args qa;
	enum exchange_type t;
	bool durable, auto_delete, internal;
	struct exchange *src, *de;
	struct queue *dq;
	struct vhost *v;
	unsigned failed = 0;
	char err[512], msg[640];
	size_t i;

#define FAIL(...)                                             \
	do {                                                  \
		snprintf(msg, sizeof(msg), __VA_ARGS__);      \
		log_error("definitions import: %s", msg);     \
		if (failed++ == 0)                            \
			snprintf(first, firstlen, "%s", msg); \
	} while (0)

	a = json_object_get(im->defs, "exchanges");
	json_array_foreach(a, i, o)
	{
		vh = im->only != NULL ? im->only : json_string_value(json_object_get(o, "vhost"));
		name = json_string_value(json_object_get(o, "name"));
		if ((v = vhost_find(NAMEB(vh))) == NULL) {
			FAIL("exchanges[%zu]: no vhost '%s'", i, vh);
			continue;
		}
		if (vhost_exchange(v, NAMEB(name)) != NULL)
			continue;
		exchange_type_parse(NAMEB(json_string_value(json_object_get(o, "type"))), &t);
		mgmt_json_bool(o, "durable", false, &durable);
		mgmt_json_bool(o, "auto_delete", false, &auto_delete);
		mgmt_json_bool(o, "internal", false, &internal);
		args_of(o, "exchanges", i, ab, err, sizeof(err));
		args = (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
		if (validate_exchange_new(v, NAMEB(name), t, args, err, sizeof(err)) != 0) {
			FAIL("exchanges[%zu]: %s", i, err);
			continue;
		}
		exchange_new(v, NAMEB(name), t, durable, auto_delete, internal, args);
	}
	a = json_object_get(im->defs, "queues");
	json_array_foreach(a, i, o)
	{
		vh = im->only != NULL ? im->only : json_string_value(json_object_get(o, "vhost"));
		name = json_string_value(json_object_get(o, "name"));
		if ((v = vhost_find(NAMEB(vh))) == NULL) {
			FAIL("queues[%zu]: no vhost '%s'", i, vh);
			continue;
		}
		if (vhost_queue(v, NAMEB(name)) != NULL)
			continue;
		mgmt_json_bool(o, "durable", false, &durable);
		mgmt_json_bool(o, "auto_delete", false, &auto_delete);
		args_of(o, "queues", i, ab, err, sizeof(err));
		args = (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
		if (queue_args_parse(args, &qa, name, v->name, err, sizeof(err)) != 0) {
			FAIL("queues[%zu]: %s", i, err);
			continue;
		}
		queue_new(v, NAMEB(name), durable, false, auto_delete, NULL, args, &qa);
	}
	a = json_object_get(im->defs, "bindings");
	json_array_foreach(a, i, o)
	{
		vh = im->only != NULL ? im->only : json_string_value(json_object_get(o, "vhost"));
		dt = json_string_value(json_object_get(o, "destination_type"));
		name = json_string_value(json_object_get(o, "destination"));
		if ((v = vhost_find(NAMEB(vh))) == NULL ||
		    (src = vhost_exchange(
		         v, NAMEB(json_string_value(json_object_get(o, "source"))))) == NULL) {
			FAIL("bindings[%zu]: no source exchange", i);
			continue;
		}
		dq = strcmp(dt, "queue") == 0 ? vhost_queue(v, NAMEB(name)) : NULL;
		de = strcmp(dt, "queue") != 0 ? vhost_exchange(v, NAMEB(name)) : NULL;
		if (dq == NULL && de == NULL) {
			FAIL("bindings[%zu]: no destination %s '%s'", i, dt, name);
			continue;
		}
		args_of(o, "bindings", i, ab, err, sizeof(err));
		args = (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
		if (validate_binding(src,
		        NAMEB(json_string_value(json_object_get(o, "routing_key"))), args, err,
		        sizeof(err)) != 0) {
			FAIL("bindings[%zu]: %s", i, err);
			continue;
		}
		exchange_bind(
		    src, dq, de, NAMEB(json_string_value(json_object_get(o, "routing_key"))), args);
	}
#undef FAIL
	evbuffer_free(ab);
	return failed;
}

/* After the files (and their reload): the objects, then the answer once the store has them. */
static void import_done(struct mreq *r, int rc, const char *err, void *arg)
{
	struct import *im = arg;
	char first[700] = "";
	unsigned failed;
	size_t i;
	json_t *w;

	if (rc != AUTH_OK) {
		log_error("definitions import refused: %s", err);
		mgmt_edit_error(r, rc == AUTH_E_NOT_FOUND ? AUTH_E_INVALID : rc, err);
		return;
	}
	json_array_foreach(im->warnings, i, w) log_warn("definitions import: user '%s': %s",
	    json_string_value(json_object_get(w, "user")),
	    json_string_value(json_object_get(w, "reason")));
	if ((failed = import_objects(im, first, sizeof(first))) > 0) {
		/* Checked before anything was applied: only a race with another client gets here. */
		mgmt_error(r, 400, "bad_request",
		    "the users, vhosts and permissions were imported, but %u object%s could not be "
		    "declared: %s",
		    failed, failed == 1 ? "" : "s", first);
		return;
	}
	log_info("definitions imported by user '%s'", r->user != NULL ? r->user : "?");
	if (json_array_size(im->warnings) > 0)
		mgmt_reply_json_after_store(r, 200, json_pack("{s:O}", "warnings", im->warnings));
	else
		mgmt_reply_after_store(r, 204);
}

/* Whether the document asks anything of the files beyond what is in force (no users_file). */
static bool needs_files(const struct import *im)
{
	static const char *const lists[] = { "users", "vhosts", "permissions", "topic_permissions",
		"parameters", "policies" };
	const json_t *a, *o;
	size_t i, k;

	for (k = 0; k < sizeof(lists) / sizeof(lists[0]); k++) {
		if (im->only != NULL && k < 4)
			continue;
		a = json_object_get(im->defs, lists[k]);
		json_array_foreach(a, i, o)
		{
			const char *n = json_string_value(json_object_get(o, "name"));
			if (k == 1 && n != NULL && auth_vhost_exists(broker.auth, NAMEB(n)))
				continue;
			if (k == 0 && n != NULL && auth_user_exists(broker.auth, NAMEB(n)))
				continue; /* the built-in guest, exported and imported back */
			if (k == 2 &&
			    auth_vhost_access(broker.auth,
			        NAMEB(json_string_value(json_object_get(o, "user")) ?: ""),
			        NAMEB(json_string_value(json_object_get(o, "vhost")) ?: "")))
				continue;
			return true;
		}
	}
	return false;
}

void mgmt_definitions_import(struct mreq *r, const char *only)
{
	struct import *im;
	char err[700];

	if (r->body == NULL) {
		mgmt_error(r, 400, "bad_request", "failed_to_parse_json");
		return;
	}
	im = xcalloc(1, sizeof(*im));
	im->defs = json_incref(r->body);
	im->only = only != NULL ? xstrdup(only) : NULL;
	im->warnings = json_array();
	if ((only == NULL &&
	        (list_of(im->defs, "users", err, sizeof(err)) == NULL ||
	            list_of(im->defs, "vhosts", err, sizeof(err)) == NULL ||
	            list_of(im->defs, "permissions", err, sizeof(err)) == NULL ||
	            list_of(im->defs, "topic_permissions", err, sizeof(err)) == NULL)) ||
	    check_unsupported(im, err, sizeof(err)) != 0 ||
	    check_objects(im, err, sizeof(err)) != 0) {
		log_error("definitions import refused: %s", err);
		mgmt_error(r, 400, "bad_request", "%s", err);
		import_free(im);
		return;
	}
	if (broker.cfg.users_file == NULL) {
		if (needs_files(im)) {
			import_free(im);
			mgmt_files_writable(r); /* 405, naming users_file */
			return;
		}
		import_done(r, AUTH_OK, "", im);
		import_free(im);
		return;
	}
	mgmt_edit_submit(r, import_files_job, import_done, im, import_free);
}
