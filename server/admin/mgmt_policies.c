/*
 * mgmt_policies.c: /api/policies and /api/operator-policies (with their per-vhost and per-name
 * forms) in RabbitMQ 3.10's JSON and methods, policies in definitions (export and import), and
 * the policy fields of queues and exchanges. Policies live in the vhost files (auth/policy.c):
 * a PUT or DELETE is an edit of the vhost's file (mgmt_edit.c: the line replaced, appended or
 * removed, the file written atomically, then a reload, which puts the policy in force on every
 * queue and exchange at once). Policies need the policymaker tag (or administrator) and access
 * to the vhost; operator policies need administrator, as in RabbitMQ.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

static bool bytes_is(struct amqp_bytes b, const char *s)
{
	return b.len == strlen(s) && (b.len == 0 || memcmp(b.ptr, s, b.len) == 0);
}

static json_t *bytes_json(struct amqp_bytes b)
{
	return mgmt_bytes(b.ptr, b.len);
}

/* A definition as stored (compact JSON) as an object: {} if it does not parse (it always does). */
static json_t *definition_json(const char *s)
{
	json_t *o = s != NULL ? json_loads(s, 0, NULL) : NULL;

	return o != NULL ? o : json_object();
}

json_t *mgmt_policy_json(struct amqp_bytes vhost, const struct auth_policy_info *pi)
{
	return json_pack("{s:o, s:o, s:s, s:s, s:o, s:I}", "vhost", bytes_json(vhost), "name",
	    bytes_json(pi->name), "pattern", pi->pattern, "apply-to", pi->apply_to, "definition",
	    definition_json(pi->definition), "priority", (json_int_t)pi->priority);
}

/* Which list: /api/policies or /api/operator-policies. */
static bool is_op(const struct mreq *r)
{
	return strcmp(r->segs[0], "operator-policies") == 0;
}

/* GET /api/policies[/{vhost}] and /api/operator-policies[/{vhost}]. */
void mgmt_policies(struct mreq *r)
{
	const char *only = r->nsegs >= 2 ? r->arg[0] : NULL;
	struct auth_policy_info pi;
	struct mgmt_list *l;
	struct amqp_bytes vn;
	bool op = is_op(r);
	size_t v, i;
	json_t *j;

	if (only != NULL && !auth_vhost_exists(broker.auth, amqp_cstr(only))) {
		mgmt_error(r, 404, "Object Not Found", "Not Found");
		return;
	}
	l = mgmt_list_new(&mgmt_snapshot_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (v = 0; v < auth_db_vhost_count(broker.auth); v++) {
		vn = auth_db_vhost_name(broker.auth, v);
		if (only != NULL && !bytes_is(vn, only))
			continue;
		if (!r->superuser && (r->tags & TAG_ADMINISTRATOR) == 0 &&
		    !auth_vhost_access(broker.auth, amqp_cstr(r->user), vn))
			continue; /* a policymaker sees the vhosts it may use */
		for (i = 0; auth_db_policy_at(broker.auth, v, i, &pi); i++) {
			if (pi.op != op)
				continue;
			j = mgmt_policy_json(vn, &pi);
			mgmt_list_add(l, r, j, j);
		}
	}
	mgmt_list_send(l, r);
}

/* ---- Writes ---- */

struct policy_change {
	char *vhost, *name, *pattern, *definition;
	long priority;
	enum auth_apply_to apply_to;
	bool op, created;
};

static void change_free(void *p)
{
	struct policy_change *c = p;

	free(c->vhost);
	free(c->name);
	free(c->pattern);
	free(c->definition);
	free(c);
}

static int put_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct policy_change *c = arg;

	return auth_edit_policy_set(e, amqp_cstr(c->vhost), c->op, amqp_cstr(c->name), c->pattern,
	    c->definition, c->priority, c->apply_to, &c->created, err, errlen);
}

static int delete_job(struct auth_edit *e, void *arg, char *err, size_t errlen)
{
	struct policy_change *c = arg;

	return auth_edit_policy_remove(
	    e, amqp_cstr(c->vhost), c->op, amqp_cstr(c->name), err, errlen);
}

static void put_done(struct mreq *r, int rc, const char *err, void *arg)
{
	struct policy_change *c = arg;

	if (rc == AUTH_E_CONFIG)
		mgmt_error(r, 400, "bad_request", "Validation failed\n\n%s\n", err);
	else if (rc != AUTH_OK)
		mgmt_edit_error(r, rc, err);
	else
		mgmt_reply_empty(r, c->created ? 201 : 204);
}

static void delete_done(struct mreq *r, int rc, const char *err, void *arg)
{
	if (rc == AUTH_E_NOT_FOUND)
		mgmt_error(r, 404, "Object Not Found", "Not Found");
	else if (rc != AUTH_OK)
		mgmt_edit_error(r, rc, err);
	else
		mgmt_reply_empty(r, 204);
}

/* A PUT body's fields into c: true, or false with 400 answered. */
static bool body_policy(struct mreq *r, struct policy_change *c)
{
	const json_t *b = r->body, *pat, *def, *prio, *apply;
	char why[512];

	if (b == NULL || (pat = json_object_get(b, "pattern")) == NULL) {
		mgmt_error(r, 400, "bad_request", "[{key_missing,pattern}]");
		return false;
	}
	if ((def = json_object_get(b, "definition")) == NULL) {
		mgmt_error(r, 400, "bad_request", "[{key_missing,definition}]");
		return false;
	}
	if (!json_is_string(pat)) {
		mgmt_error(
		    r, 400, "bad_request", "Validation failed\n\npattern should be a string\n");
		return false;
	}
	prio = json_object_get(b, "priority");
	if (prio != NULL && !json_is_null(prio) &&
	    (!json_is_integer(prio) || json_integer_value(prio) < -2147483647LL - 1 ||
	        json_integer_value(prio) > 2147483647LL)) {
		char *t = json_dumps(prio, JSON_COMPACT | JSON_ENCODE_ANY);
		mgmt_error(r, 400, "bad_request",
		    "Validation failed\n\npriority should be a number, actually was %.64s\n",
		    t != NULL ? t : "?");
		free(t);
		return false;
	}
	c->priority = prio != NULL && json_is_integer(prio) ? (long)json_integer_value(prio) : 0;
	apply = json_object_get(b, "apply-to");
	c->apply_to = AUTH_APPLY_ALL;
	if (apply != NULL && !json_is_null(apply) &&
	    (!json_is_string(apply) ||
	        auth_policy_apply_to_parse(json_string_value(apply), &c->apply_to) != 0)) {
		mgmt_error(r, 400, "bad_request",
		    "Validation failed\n\napply-to '%.64s' unrecognised; should be 'queues', "
		    "'exchanges' or 'all'\n",
		    json_is_string(apply) ? json_string_value(apply) : "?");
		return false;
	}
	c->pattern = xstrdup(json_string_value(pat));
	c->definition = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (c->definition == NULL ||
	    auth_policy_check(c->op, amqp_cstr(c->name), c->pattern, c->definition, NULL, why,
	        sizeof(why)) != 0) {
		mgmt_error(r, 400, "bad_request", "Validation failed\n\n%s\n",
		    c->definition != NULL ? why : "definition must be a dictionary");
		return false;
	}
	return true;
}

/* GET, PUT, DELETE /api/policies/{vhost}/{name} (and operator-policies). */
void mgmt_policy(struct mreq *r)
{
	struct amqp_bytes vn = amqp_cstr(r->arg[0]);
	struct auth_policy_info pi;
	struct policy_change *c;
	bool op = is_op(r);
	size_t vi, i;

	if (!auth_db_vhost_index(broker.auth, vn, &vi)) {
		mgmt_error(r, 404, "not_found", "vhost_not_found");
		return;
	}
	if (!r->superuser && (r->tags & TAG_ADMINISTRATOR) == 0 && !mgmt_vhost_access(r, r->arg[0]))
		return;
	if (r->method == M_GET || r->method == M_HEAD) {
		for (i = 0; auth_db_policy_at(broker.auth, vi, i, &pi); i++)
			if (pi.op == op && bytes_is(pi.name, r->arg[1])) {
				mgmt_reply_json(r, 200, mgmt_policy_json(vn, &pi));
				return;
			}
		mgmt_error(r, 404, "Object Not Found", "Not Found");
		return;
	}
	if (!mgmt_files_writable(r))
		return;
	c = xcalloc(1, sizeof(*c));
	c->vhost = xstrdup(r->arg[0]);
	c->name = xstrdup(r->arg[1]);
	c->op = op;
	if (r->method == M_DELETE) {
		mgmt_edit_submit(r, delete_job, delete_done, c, change_free);
		return;
	}
	if (!body_policy(r, c)) {
		change_free(c);
		return;
	}
	mgmt_edit_submit(r, put_job, put_done, c, change_free);
}

/* ---- Queues' and exchanges' fields ---- */

void mgmt_policy_fields(json_t *o, struct vhost *v, enum auth_resource kind, struct amqp_bytes name)
{
	struct amqp_bytes vn = amqp_cstr(v->name);
	const struct auth_policy *p = NULL, *op = NULL;
	struct auth_policy_info pi;
	char *merged;

	if (auth_vhost_has_policies(broker.auth, vn)) {
		p = auth_policy_match(broker.auth, vn, false, kind, name);
		op = auth_policy_match(broker.auth, vn, true, kind, name);
	}
	if (p != NULL) {
		auth_policy_info(p, &pi);
		json_object_set_new(o, "policy", bytes_json(pi.name));
	}
	if (op != NULL) {
		auth_policy_info(op, &pi);
		json_object_set_new(o, "operator_policy", bytes_json(pi.name));
	}
	if (kind != AUTH_RES_QUEUE)
		return;
	merged = auth_policy_merged_json(p, op);
	json_object_set_new(o, "effective_policy_definition", definition_json(merged));
	free(merged);
}

/* ---- Definitions ---- */

json_t *mgmt_policies_export(const char *only)
{
	json_t *a = json_array();
	struct auth_policy_info pi;
	struct amqp_bytes vn;
	size_t v, i;
	json_t *j;

	for (v = 0; v < auth_db_vhost_count(broker.auth); v++) {
		vn = auth_db_vhost_name(broker.auth, v);
		if (only != NULL && !bytes_is(vn, only))
			continue;
		for (i = 0; auth_db_policy_at(broker.auth, v, i, &pi); i++) {
			if (pi.op)
				continue; /* RabbitMQ's export has no operator policies either */
			j = mgmt_policy_json(vn, &pi);
			if (only != NULL)
				json_object_del(j, "vhost");
			json_array_append_new(a, j);
		}
	}
	return a;
}

/* policies[i]'s fields: 0, or -1 with err. */
static int import_fields(const json_t *o, size_t i, const char *only, const char **vhost,
    const char **name, const char **pattern, char **definition, long *priority,
    enum auth_apply_to *apply_to, char *err, size_t errlen)
{
	const json_t *prio = json_object_get(o, "priority"),
	             *apply = json_object_get(o, "apply-to");
	const json_t *def = json_object_get(o, "definition");

	*vhost = only != NULL ? only : json_string_value(json_object_get(o, "vhost"));
	*name = json_string_value(json_object_get(o, "name"));
	*pattern = json_string_value(json_object_get(o, "pattern"));
	if (*vhost == NULL || *name == NULL || *pattern == NULL || !json_is_object(def)) {
		snprintf(err, errlen,
		    "policies[%zu]: vhost, name and pattern (strings) and definition (an object) "
		    "are needed",
		    i);
		return -1;
	}
	*priority = 0;
	if (prio != NULL && !json_is_null(prio)) {
		if (!json_is_integer(prio)) {
			snprintf(err, errlen, "policies[%zu]: priority should be a number", i);
			return -1;
		}
		*priority = (long)json_integer_value(prio);
	}
	*apply_to = AUTH_APPLY_ALL;
	if (apply != NULL && !json_is_null(apply) &&
	    (!json_is_string(apply) ||
	        auth_policy_apply_to_parse(json_string_value(apply), apply_to) != 0)) {
		snprintf(err, errlen,
		    "policies[%zu]: apply-to unrecognised; should be 'queues', 'exchanges' or "
		    "'all'",
		    i);
		return -1;
	}
	*definition = json_dumps(def, JSON_COMPACT | JSON_SORT_KEYS);
	return 0;
}

int mgmt_policies_import_check(const json_t *defs, const char *only, char *err, size_t errlen)
{
	const json_t *a = json_object_get(defs, "policies"), *o;
	const char *vhost, *name, *pattern;
	enum auth_apply_to apply_to;
	char *definition, why[512];
	long priority;
	size_t i;
	int rc;

	json_array_foreach(a, i, o)
	{
		if (import_fields(o, i, only, &vhost, &name, &pattern, &definition, &priority,
		        &apply_to, err, errlen) != 0)
			return -1;
		rc = auth_policy_check(
		    false, amqp_cstr(name), pattern, definition, NULL, why, sizeof(why));
		free(definition);
		if (rc != 0) {
			snprintf(err, errlen, "policies[%zu] ('%.64s'): %s", i, name, why);
			return -1;
		}
	}
	return 0;
}

int mgmt_policies_import(
    struct auth_edit *e, const json_t *defs, const char *only, char *err, size_t errlen)
{
	const json_t *a = json_object_get(defs, "policies"), *o;
	const char *vhost, *name, *pattern;
	enum auth_apply_to apply_to;
	char *definition, tmp[700];
	long priority;
	bool created;
	size_t i;
	int rc;

	json_array_foreach(a, i, o)
	{
		if (import_fields(o, i, only, &vhost, &name, &pattern, &definition, &priority,
		        &apply_to, err, errlen) != 0)
			return AUTH_E_INVALID;
		rc = auth_edit_policy_set(e, amqp_cstr(vhost), false, amqp_cstr(name), pattern,
		    definition, priority, apply_to, &created, err, errlen);
		free(definition);
		if (rc != AUTH_OK) {
			snprintf(tmp, sizeof(tmp), "policies[%zu]: %s", i, err);
			snprintf(err, errlen, "%s", tmp);
			return rc == AUTH_E_NOT_FOUND ? AUTH_E_INVALID : rc;
		}
	}
	return AUTH_OK;
}
