/*
 * policy.c: policies and operator policies, as RabbitMQ 3.10 defines them, from the vhost files
 * (warren.conf(5)):
 *
 *	policy NAME PATTERN DEFINITION [priority N] [apply-to queues|exchanges|all]
 *	operator-policy NAME PATTERN DEFINITION [priority N] [apply-to queues|exchanges|all]
 *
 * DEFINITION is a JSON object, quoted as any field ('{"message-ttl":60000}'); its keys are
 * RabbitMQ 3.10.8's (rabbit_policies and the mirroring validators: 25 keys, each checked for
 * its type and range as RabbitMQ's validators check it) plus Warren's "dispatch" ("x-dispatch"
 * too). Operator policies take only the seven numeric limits RabbitMQ lets them set. The parse
 * keeps the definition as compact JSON with sorted keys, and the values Warren acts on decoded
 * (struct auth_policy_values). Matching: of the policies of a kind that apply to the object's
 * kind and whose pattern is found in its name, the one with the highest priority; RabbitMQ
 * leaves a tie to its store's order, Warren takes the name that sorts first. A policy and an
 * operator policy combine key by key, the smaller number winning where both set one
 * (rabbit_policy:merge_operator_definitions).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_private.h"

enum vkind { V_UINT, V_STR, V_ENUM, V_ANY };

/* One key RabbitMQ 3.10.8 accepts (or Warren's dispatch): how to check it, what Warren does. */
struct policy_key {
	const char *name;
	enum vkind kind;
	long long min;         /* V_UINT */
	const char *values[4]; /* V_ENUM */
	const char *why;       /* "~p is not a valid ..." */
	bool op;               /* an operator policy may set it */
	int pk;                /* enum auth_policy_key, or -1: accepted, not acted on */
};

static const struct policy_key keys[] = {
	{ "message-ttl", V_UINT, 0, { NULL }, "a valid message TTL", true, AUTH_PK_MESSAGE_TTL },
	{ "expires", V_UINT, 1, { NULL }, "a valid queue expiry", true, AUTH_PK_EXPIRES },
	{ "max-length", V_UINT, 0, { NULL }, "a valid maximum length", true, AUTH_PK_MAX_LENGTH },
	{ "max-length-bytes", V_UINT, 0, { NULL }, "a valid maximum length in bytes", true,
	    AUTH_PK_MAX_LENGTH_BYTES },
	{ "delivery-limit", V_UINT, 0, { NULL }, "a valid delivery limit", true,
	    AUTH_PK_DELIVERY_LIMIT },
	{ "overflow", V_ENUM, 0, { "drop-head", "reject-publish", "reject-publish-dlx", NULL },
	    "a valid overflow value", false, AUTH_PK_OVERFLOW },
	{ "dead-letter-exchange", V_STR, 0, { NULL }, "a valid dead letter exchange name", false,
	    AUTH_PK_DLX },
	{ "dead-letter-routing-key", V_STR, 0, { NULL }, "a valid dead letter routing key", false,
	    AUTH_PK_DLX_RK },
	{ "alternate-exchange", V_STR, 0, { NULL }, "a valid alternate exchange name", false,
	    AUTH_PK_ALTERNATE_EXCHANGE },
	{ "queue-mode", V_ENUM, 0, { "default", "lazy", NULL }, "a valid queue-mode value", false,
	    AUTH_PK_QUEUE_MODE },
	{ "dispatch", V_ENUM, 0, { "round-robin", "least-unacked", NULL }, "a valid dispatch value",
	    false, AUTH_PK_DISPATCH },
	{ "x-dispatch", V_ENUM, 0, { "round-robin", "least-unacked", NULL },
	    "a valid dispatch value", false, AUTH_PK_DISPATCH },
	/* Accepted as RabbitMQ accepts them (definitions import), with no effect in Warren. */
	{ "max-in-memory-length", V_UINT, 0, { NULL }, "a valid maximum memory in bytes", true,
	    -1 },
	{ "max-in-memory-bytes", V_UINT, 0, { NULL }, "a valid maximum memory in bytes", true, -1 },
	{ "dead-letter-strategy", V_ENUM, 0, { "at-most-once", "at-least-once", NULL },
	    "a valid dead letter strategy", false, -1 },
	{ "queue-version", V_ENUM, 0, { NULL }, "a valid queue-version value", false, -1 },
	{ "max-age", V_STR, 0, { NULL }, "a valid max age", false, -1 },
	{ "stream-max-segment-size-bytes", V_UINT, 0, { NULL }, "a valid segment size", false, -1 },
	{ "initial-cluster-size", V_UINT, 0, { NULL }, "a valid cluster size", false, -1 },
	{ "queue-leader-locator", V_ENUM, 0, { "client-local", "balanced", "random", NULL },
	    "a valid queue leader locator value", false, -1 },
	{ "queue-master-locator", V_ENUM, 0, { "min-masters", "client-local", "random", NULL },
	    "a valid queue-master-locator value", false, -1 },
	{ "ha-mode", V_ENUM, 0, { "all", "exactly", "nodes", NULL }, "a valid ha-mode value", false,
	    -1 },
	{ "ha-params", V_ANY, 0, { NULL }, "a valid ha-params value", false, -1 },
	{ "ha-sync-mode", V_ENUM, 0, { "manual", "automatic", NULL }, "a valid ha-sync-mode value",
	    false, -1 },
	{ "ha-sync-batch-size", V_UINT, 1, { NULL }, "a valid ha-sync-batch-size value", false,
	    -1 },
	{ "ha-promote-on-shutdown", V_ENUM, 0, { "when-synced", "always", NULL },
	    "a valid ha-promote-on-shutdown value", false, -1 },
	{ "ha-promote-on-failure", V_ENUM, 0, { "when-synced", "always", NULL },
	    "a valid ha-promote-on-failure value", false, -1 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct policy_key *key_find(const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* The value as RabbitMQ prints it in its errors (~p): 12, <<"text">>, or the JSON. */
static void value_text(const json_t *v, char *buf, size_t len)
{
	char *s;

	if (json_is_string(v)) {
		snprintf(buf, len, "<<\"%.64s\">>", json_string_value(v));
		return;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	snprintf(buf, len, "%.64s", s != NULL ? s : "?");
	free(s);
}

/* Check one key's value; on success set what Warren acts on in out. */
static int check_value(const struct policy_key *k, const json_t *v, struct auth_policy_values *out,
    char *why, size_t whylen)
{
	char t[96];
	size_t i;

	switch (k->kind) {
	case V_UINT:
		if (!json_is_integer(v) || json_integer_value(v) < k->min)
			goto bad;
		if (k->pk >= 0)
			out->n[k->pk] = (uint64_t)json_integer_value(v);
		break;
	case V_STR:
		if (!json_is_string(v))
			goto bad;
		if (k->pk >= 0)
			out->s[k->pk] = json_string_value(v);
		break;
	case V_ENUM:
		if (strcmp(k->name, "queue-version") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > 2)
				goto bad;
			break;
		}
		if (!json_is_string(v))
			goto bad;
		for (i = 0; k->values[i] != NULL; i++)
			if (strcmp(k->values[i], json_string_value(v)) == 0)
				break;
		if (k->values[i] == NULL)
			goto bad;
		if (k->pk >= 0)
			out->s[k->pk] = k->values[i];
		break;
	case V_ANY: break;
	}
	if (k->pk >= 0)
		out->has |= 1u << k->pk;
	return 0;
bad:
	value_text(v, t, sizeof(t));
	snprintf(why, whylen, "%s is not %s", t, k->why);
	return -1;
}

/* The ha-* keys together, as rabbit_mirror_queue_misc checks them. */
static int check_ha(const json_t *o, char *why, size_t whylen)
{
	const json_t *mode = json_object_get(o, "ha-mode"),
	             *params = json_object_get(o, "ha-params");
	const char *m;

	if (mode == NULL) {
		if (params != NULL || json_object_get(o, "ha-sync-mode") != NULL ||
		    json_object_get(o, "ha-promote-on-shutdown") != NULL ||
		    json_object_get(o, "ha-promote-on-failure") != NULL ||
		    json_object_get(o, "ha-sync-batch-size") != NULL) {
			snprintf(why, whylen,
			    "ha-mode must be specified to specify ha-params, ha-sync-mode or "
			    "ha-promote-on-shutdown");
			return -1;
		}
		return 0;
	}
	m = json_string_value(mode);
	if (strcmp(m, "exactly") == 0 &&
	    (!json_is_integer(params) || json_integer_value(params) < 1)) {
		snprintf(why, whylen, "ha-mode=\"exactly\" takes an integer, %s given",
		    params == NULL ? "none" : "another value");
		return -1;
	}
	if (strcmp(m, "nodes") == 0 && !json_is_array(params)) {
		snprintf(why, whylen, "ha-mode=\"nodes\" takes a list of node names");
		return -1;
	}
	if (strcmp(m, "all") == 0 && params != NULL) {
		snprintf(why, whylen, "ha-mode=\"all\" does not take parameters");
		return -1;
	}
	return 0;
}

/* Check a decoded definition; on success set what Warren acts on (strings point into o). */
static int check_object(bool op, json_t *o, struct auth_policy_values *pv, char *why, size_t whylen)
{
	const struct policy_key *k;
	const char *key;
	json_t *v;
	char t[96];

	memset(pv, 0, sizeof(*pv));
	if (!json_is_object(o)) {
		snprintf(why, whylen, "definition must be a dictionary");
		return -1;
	}
	if (json_object_size(o) == 0) {
		snprintf(why, whylen, "no policy provided");
		return -1;
	}
	json_object_foreach(o, key, v)
	{
		k = key_find(key);
		if (k == NULL || (op && !k->op)) {
			value_text(v, t, sizeof(t));
			snprintf(why, whylen,
			    "[{<<\"%.64s\">>,%s}] are not recognised %spolicy settings", key, t,
			    op ? "operator " : "");
			return -1;
		}
		if (check_value(k, v, pv, why, whylen) != 0)
			return -1;
	}
	if (json_object_get(o, "dispatch") != NULL && json_object_get(o, "x-dispatch") != NULL) {
		snprintf(why, whylen, "dispatch and x-dispatch are the same setting: give one");
		return -1;
	}
	return check_ha(o, why, whylen);
}

int auth_policy_definition_check(
    bool op, const char *json, char **canonical, char *why, size_t whylen)
{
	struct auth_policy_values pv;
	json_error_t jerr;
	json_t *o;
	int ret;

	if (canonical != NULL)
		*canonical = NULL;
	if ((o = json_loads(json, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		snprintf(why, whylen, "Could not parse JSON document: %s", jerr.text);
		return -1;
	}
	ret = check_object(op, o, &pv, why, whylen);
	if (ret == 0 && canonical != NULL)
		*canonical = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return ret;
}

/* Decode a checked definition's values into p, with copies of its strings. */
static void policy_values_load(struct auth_policy *p)
{
	struct auth_policy_values pv;
	char why[256];
	json_t *o = json_loads(p->definition, 0, NULL);
	int i;

	memset(&p->values, 0, sizeof(p->values));
	if (o != NULL && check_object(p->op, o, &pv, why, sizeof(why)) == 0) {
		p->values.has = pv.has;
		for (i = 0; i < AUTH_PK_COUNT; i++) {
			p->values.n[i] = pv.n[i];
			if (pv.s[i] != NULL)
				p->strs[i] = auth_xmemdup(pv.s[i], strlen(pv.s[i]));
			p->values.s[i] = p->strs[i];
		}
	}
	json_decref(o);
}

void auth_policy_free(struct auth_policy *p)
{
	int i;

	if (p == NULL)
		return;
	auth_regex_free(&p->pattern);
	for (i = 0; i < AUTH_PK_COUNT; i++)
		free(p->strs[i]);
	free(p->name);
	free(p->definition);
	free(p);
}

int auth_policy_apply_to_parse(const char *s, enum auth_apply_to *out)
{
	if (strcmp(s, "all") == 0)
		*out = AUTH_APPLY_ALL;
	else if (strcmp(s, "queues") == 0)
		*out = AUTH_APPLY_QUEUES;
	else if (strcmp(s, "exchanges") == 0)
		*out = AUTH_APPLY_EXCHANGES;
	else
		return -1;
	return 0;
}

const char *auth_policy_apply_to_name(enum auth_apply_to a)
{
	switch (a) {
	case AUTH_APPLY_QUEUES: return "queues";
	case AUTH_APPLY_EXCHANGES: return "exchanges";
	case AUTH_APPLY_ALL: break;
	}
	return "all";
}

/* A priority: a decimal integer within int32 (rabbitmqctl takes integers). */
static int parse_priority(const char *s, long *out)
{
	char *end;
	long long v;

	if (*s == '\0')
		return -1;
	v = strtoll(s, &end, 10);
	if (*end != '\0' || v < -2147483647LL - 1 || v > 2147483647LL)
		return -1;
	*out = (long)v;
	return 0;
}

int auth_policy_check(bool op, struct amqp_bytes name, const char *pattern, const char *definition,
    char **canonical, char *why, size_t whylen)
{
	struct auth_regex re = { NULL, { 0 }, false };
	char rwhy[256];

	if (name.len == 0 || name.len > AUTH_NAME_MAX) {
		snprintf(why, whylen, "a policy name is 1 to %d bytes", AUTH_NAME_MAX);
		return -1;
	}
	if (auth_regex_compile(&re, pattern, rwhy, sizeof(rwhy)) != 0) {
		auth_regex_free(&re);
		snprintf(
		    why, whylen, "pattern should be regular expression but is invalid: %s", rwhy);
		return -1;
	}
	auth_regex_free(&re);
	return auth_policy_definition_check(op, definition, canonical, why, whylen);
}

static int policy_cmp(const void *a, const void *b)
{
	const struct auth_policy *x = *(struct auth_policy *const *)a;
	const struct auth_policy *y = *(struct auth_policy *const *)b;

	if (x->op != y->op)
		return x->op ? 1 : -1;
	return auth_bytes_cmp(x->name, x->namelen, y->name, y->namelen);
}

void auth_policies_sort(struct auth_vhost *v)
{
	if (v->npolicies > 1)
		qsort(v->policies, v->npolicies, sizeof(*v->policies), policy_cmp);
}

int auth_policy_parse_line(struct auth_vhost *v, struct auth_fields *fl, const char *file,
    unsigned line, char *err, size_t errlen)
{
	bool op = strcmp(fl->f[0], "operator-policy") == 0;
	bool seen_prio = false, seen_apply = false;
	struct auth_policy *p = NULL;
	char q[AUTH_QUOTE_MAX], why[512];
	size_t i;
	int k;

	if (fl->n < 4 || fl->n % 2 != 0) {
		auth_errf(err, errlen, file, line,
		    "expected %s NAME PATTERN DEFINITION [priority N] "
		    "[apply-to queues|exchanges|all]",
		    fl->f[0]);
		return -1;
	}
	for (i = 0; i < v->npolicies; i++) {
		if (v->policies[i]->op == op &&
		    auth_bytes_cmp(
		        v->policies[i]->name, v->policies[i]->namelen, fl->f[1], fl->len[1]) == 0) {
			auth_errf(err, errlen, file, line, "%s '%s' already given on line %u",
			    fl->f[0], auth_quote(fl->f[1], fl->len[1], q, sizeof(q)),
			    v->policies[i]->line);
			return -1;
		}
	}
	p = auth_xcalloc(1, sizeof(*p));
	p->op = op;
	p->line = line;
	p->name = auth_xmemdup(fl->f[1], fl->len[1]);
	p->namelen = fl->len[1];
	for (k = 4; k < fl->n; k += 2) {
		if (strcmp(fl->f[k], "priority") == 0 && !seen_prio) {
			seen_prio = true;
			if (parse_priority(fl->f[k + 1], &p->priority) != 0) {
				auth_errf(err, errlen, file, line,
				    "'%s' priority must be a number (an integer)",
				    auth_quote(fl->f[k + 1], fl->len[k + 1], q, sizeof(q)));
				goto fail;
			}
		} else if (strcmp(fl->f[k], "apply-to") == 0 && !seen_apply) {
			seen_apply = true;
			if (auth_policy_apply_to_parse(fl->f[k + 1], &p->apply_to) != 0) {
				auth_errf(err, errlen, file, line,
				    "apply-to '%s' unrecognised; should be 'queues', 'exchanges' "
				    "or "
				    "'all'",
				    auth_quote(fl->f[k + 1], fl->len[k + 1], q, sizeof(q)));
				goto fail;
			}
		} else {
			auth_errf(err, errlen, file, line,
			    "expected priority N or apply-to queues|exchanges|all (each once), not "
			    "'%s'",
			    auth_quote(fl->f[k], fl->len[k], q, sizeof(q)));
			goto fail;
		}
	}
	if (auth_policy_check(op, (struct amqp_bytes){ (uint8_t *)fl->f[1], fl->len[1] }, fl->f[2],
	        fl->f[3], &p->definition, why, sizeof(why)) != 0) {
		auth_errf(err, errlen, file, line, "%s '%s': %s", fl->f[0],
		    auth_quote(fl->f[1], fl->len[1], q, sizeof(q)), why);
		goto fail;
	}
	if (auth_regex_compile(&p->pattern, fl->f[2], why, sizeof(why)) != 0)
		goto fail; /* checked just above */
	policy_values_load(p);
	v->policies = auth_xreallocarray(v->policies, v->npolicies + 1, sizeof(*v->policies));
	v->policies[v->npolicies++] = p;
	return 0;
fail:
	auth_policy_free(p);
	return -1;
}

/* ---- Matching ---- */

static bool applies(const struct auth_policy *p, enum auth_resource kind)
{
	return p->apply_to == AUTH_APPLY_ALL ||
	    (p->apply_to == AUTH_APPLY_QUEUES) == (kind == AUTH_RES_QUEUE);
}

const struct auth_policy *auth_policy_match(const struct auth_db *db, struct amqp_bytes vhost,
    bool op, enum auth_resource kind, struct amqp_bytes name)
{
	const struct auth_vhost *v = auth_vhost_find(db, vhost);
	const struct auth_policy *best = NULL, *p;
	size_t i;

	if (v == NULL)
		return NULL;
	/* In name order: a later one wins only with a strictly higher priority. */
	for (i = 0; i < v->npolicies; i++) {
		p = v->policies[i];
		if (p->op != op || !applies(p, kind) ||
		    (best != NULL && p->priority <= best->priority))
			continue;
		if (auth_regex_search(&p->pattern, name))
			best = p;
	}
	return best;
}

bool auth_vhost_has_policies(const struct auth_db *db, struct amqp_bytes vhost)
{
	const struct auth_vhost *v = auth_vhost_find(db, vhost);

	return v != NULL && v->npolicies > 0;
}

void auth_policy_info(const struct auth_policy *p, struct auth_policy_info *out)
{
	out->name = (struct amqp_bytes){ (const uint8_t *)p->name, p->namelen };
	out->pattern = p->pattern.src;
	out->apply_to = auth_policy_apply_to_name(p->apply_to);
	out->priority = p->priority;
	out->definition = p->definition;
	out->op = p->op;
	out->values = &p->values;
}

bool auth_db_policy_at(
    const struct auth_db *db, size_t vhost, size_t i, struct auth_policy_info *out)
{
	if (vhost >= db->nvhosts || i >= db->vhosts[vhost]->npolicies)
		return false;
	auth_policy_info(db->vhosts[vhost]->policies[i], out);
	return true;
}

void auth_policy_merge(
    const struct auth_policy *p, const struct auth_policy *op, struct auth_policy_values *out)
{
	int i;

	memset(out, 0, sizeof(*out));
	if (p != NULL)
		*out = p->values;
	if (op == NULL)
		return;
	for (i = 0; i < AUTH_PK_COUNT; i++) {
		if ((op->values.has & (1u << i)) == 0)
			continue;
		if ((out->has & (1u << i)) == 0 ||
		    (i < AUTH_PK_NUMBERS && op->values.n[i] < out->n[i]))
			out->n[i] = op->values.n[i];
		out->s[i] = op->values.s[i] != NULL ? op->values.s[i] : out->s[i];
		out->has |= 1u << i;
	}
}

/* RabbitMQ's merge strategies: the smaller of two numbers for these keys. */
static bool merge_min(const char *key)
{
	static const char *const min_keys[] = { "message-ttl", "expires", "max-length",
		"max-length-bytes", "max-in-memory-length", "max-in-memory-bytes", "delivery-limit",
		NULL };
	int i;

	for (i = 0; min_keys[i] != NULL; i++)
		if (strcmp(min_keys[i], key) == 0)
			return true;
	return false;
}

char *auth_policy_merged_json(const struct auth_policy *p, const struct auth_policy *op)
{
	json_t *a, *b, *pv;
	const char *key;
	json_t *v;
	char *s;

	if (p == NULL && op == NULL)
		return NULL;
	a = json_loads(p != NULL ? p->definition : "{}", 0, NULL);
	b = json_loads(op != NULL ? op->definition : "{}", 0, NULL);
	if (a == NULL || b == NULL) {
		json_decref(a);
		json_decref(b);
		return NULL;
	}
	json_object_foreach(b, key, v)
	{
		pv = json_object_get(a, key);
		if (pv != NULL && merge_min(key) && json_is_integer(pv) && json_is_integer(v) &&
		    json_integer_value(pv) <= json_integer_value(v))
			continue;
		json_object_set(a, key, v);
	}
	s = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(a);
	json_decref(b);
	return s;
}

/* ---- Reloads ---- */

static bool policy_eq(const struct auth_policy *a, const struct auth_policy *b)
{
	return a->priority == b->priority && a->apply_to == b->apply_to &&
	    strcmp(a->pattern.src, b->pattern.src) == 0 &&
	    strcmp(a->definition, b->definition) == 0;
}

bool auth_vhost_policies_equal(
    const struct auth_db *a, const struct auth_db *b, struct amqp_bytes vhost)
{
	const struct auth_vhost *x = a != NULL ? auth_vhost_find(a, vhost) : NULL;
	const struct auth_vhost *y = b != NULL ? auth_vhost_find(b, vhost) : NULL;
	size_t nx = x != NULL ? x->npolicies : 0, ny = y != NULL ? y->npolicies : 0, i;

	if (nx != ny)
		return false;
	for (i = 0; i < nx; i++)
		if (x->policies[i]->op != y->policies[i]->op ||
		    auth_bytes_cmp(x->policies[i]->name, x->policies[i]->namelen,
		        y->policies[i]->name, y->policies[i]->namelen) != 0 ||
		    !policy_eq(x->policies[i], y->policies[i]))
			return false;
	return true;
}

void auth_policies_diff(const char *vq, const struct auth_vhost *a, const struct auth_vhost *b,
    void (*say)(void *d, const char *line), void *d)
{
	char q[AUTH_QUOTE_MAX], line[2048];
	const struct auth_policy *x, *y, *t;
	size_t i = 0, j = 0;
	int c;

	while (i < a->npolicies || j < b->npolicies) {
		x = i < a->npolicies ? a->policies[i] : NULL;
		y = j < b->npolicies ? b->policies[j] : NULL;
		c = x == NULL ? 1 : y == NULL ? -1 : policy_cmp(&x, &y);
		t = c < 0 ? x : y;
		auth_quote(t->name, t->namelen, q, sizeof(q));
		line[0] = '\0';
		if (c < 0) {
			snprintf(line, sizeof(line), "vhost '%s': %s '%s' removed", vq,
			    x->op ? "operator policy" : "policy", q);
			i++;
		} else if (c > 0) {
			snprintf(line, sizeof(line),
			    "vhost '%s': %s '%s' added: pattern '%.80s' apply-to %s priority %ld "
			    "%.200s",
			    vq, y->op ? "operator policy" : "policy", q, y->pattern.src,
			    auth_policy_apply_to_name(y->apply_to), y->priority, y->definition);
			j++;
		} else {
			if (!policy_eq(x, y))
				snprintf(line, sizeof(line),
				    "vhost '%s': %s '%s' changed: pattern '%.80s' apply-to %s "
				    "priority %ld %.200s",
				    vq, y->op ? "operator policy" : "policy", q, y->pattern.src,
				    auth_policy_apply_to_name(y->apply_to), y->priority,
				    y->definition);
			i++;
			j++;
		}
		if (line[0] != '\0')
			say(d, line);
	}
}
