/*
 * validate.c: the checks a declare, a delete or a bind must pass before the model changes, with
 * RabbitMQ's reply codes and texts, shared by the AMQP handlers (proto/handle_*.c, which close the
 * channel with the code) and the HTTP API (admin/mgmt_objects.c, which maps it to a status). Each
 * returns 0, or an AMQP reply code with the reason in err (without the code's name). Permission
 * checks are not here: they belong to whoever asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

#define NAMEF "%.*s"
#define NAMEA(b) (int)(b).len, (const char *)(b).ptr

static const char *yn(bool b)
{
	return b ? "true" : "false";
}

bool validate_reserved_name(struct amqp_bytes name)
{
	return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

/* The alternate-exchange argument, if any; NULL when absent or args do not decode. */
static const struct amqp_field_value *alternate_arg(
    struct amqp_bytes args, struct amqp_arena *pool, struct amqp_table *t)
{
	if (amqp_table_decode(args, pool, t) != 0)
		return NULL;
	return amqp_table_get(t, "alternate-exchange");
}

int validate_exchange_new(struct vhost *v, struct amqp_bytes name, enum exchange_type type,
    struct amqp_bytes args, char *err, size_t errlen)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *a;
	int code = 0;

	if (validate_reserved_name(name)) {
		snprintf(err, errlen, "exchange name '" NAMEF "' contains reserved prefix 'amq.*'",
		    NAMEA(name));
		return AMQP_ACCESS_REFUSED;
	}
	amqp_arena_init(&pool);
	if ((a = alternate_arg(args, &pool, &t)) != NULL && a->type != AMQP_FIELD_LONGSTR) {
		snprintf(err, errlen,
		    "invalid type '%s' for arg 'alternate-exchange' in exchange '" NAMEF
		    "' in vhost '%s'",
		    field_type_word(a->type), NAMEA(name), v->name);
		code = AMQP_PRECONDITION_FAILED;
	}
	amqp_arena_reset(&pool);
	if (code == 0 && type == EX_CONSISTENT_HASH) {
		char *xname = xbytesdup(name);
		code = hash_args_check(args, xname, v->name, err, errlen);
		free(xname);
	}
	if (code == 0 && type == EX_DELAYED)
		code = delay_args_check(args, err, errlen);
	return code;
}

bool validate_alternate(struct amqp_bytes args, char *out, size_t outlen)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *a;
	bool found = false;

	amqp_arena_init(&pool);
	if ((a = alternate_arg(args, &pool, &t)) != NULL && a->type == AMQP_FIELD_LONGSTR &&
	    a->v.bytes.len < outlen) {
		memcpy(out, a->v.bytes.ptr, a->v.bytes.len);
		out[a->v.bytes.len] = '\0';
		found = true;
	}
	amqp_arena_reset(&pool);
	return found;
}

int validate_exchange_equivalent(const struct exchange *x, enum exchange_type type, bool durable,
    bool auto_delete, bool internal, struct amqp_bytes args, char *err, size_t errlen)
{
	const char *vh = x->vhost->name;
	struct amqp_arena pool;
	struct amqp_table t, cur;
	const struct amqp_field_value *a, *ca;
	char got[160], now[160];
	int code = 0;

#define INEQ(arg, got, cur)                                                                 \
	do {                                                                                \
		snprintf(err, errlen,                                                       \
		    "inequivalent arg '" arg                                                \
		    "' for exchange '%s' in vhost '%s': received '%s' but current is '%s'", \
		    x->name, vh, got, cur);                                                 \
		return AMQP_PRECONDITION_FAILED;                                            \
	} while (0)
	if (x->type != type)
		INEQ("type", exchange_type_name(type), exchange_type_name(x->type));
	if (x->durable != durable)
		INEQ("durable", yn(durable), yn(x->durable));
	if (x->auto_delete != auto_delete)
		INEQ("auto_delete", yn(auto_delete), yn(x->auto_delete));
	if (x->internal != internal)
		INEQ("internal", yn(internal), yn(x->internal));
#undef INEQ
	/* Of the arguments, RabbitMQ compares alternate-exchange only. */
	amqp_arena_init(&pool);
	a = alternate_arg(args, &pool, &t);
	ca = alternate_arg((struct amqp_bytes){ x->args, x->args_len }, &pool, &cur);
	if ((a == NULL) != (ca == NULL) || (a != NULL && !amqp_field_value_eq(a, ca))) {
		arg_describe(a, got, sizeof(got));
		arg_describe(ca, now, sizeof(now));
		snprintf(err, errlen,
		    "inequivalent arg 'alternate-exchange' for exchange '%s' in vhost '%s': "
		    "received %s but current is %s",
		    x->name, vh, got, now);
		code = AMQP_PRECONDITION_FAILED;
	}
	amqp_arena_reset(&pool);
	return code;
}

int validate_exchange_delete(struct vhost *v, struct amqp_bytes name, const struct exchange *x,
    bool if_unused, char *err, size_t errlen)
{
	if (name.len == 0) {
		snprintf(err, errlen, "operation not permitted on the default exchange");
		return AMQP_ACCESS_REFUSED;
	}
	if (validate_reserved_name(name)) {
		snprintf(err, errlen,
		    "deletion of system exchange '" NAMEF "' in vhost '%s' not allowed",
		    NAMEA(name), v->name);
		return AMQP_ACCESS_REFUSED;
	}
	if (x != NULL && if_unused && x->nbindings > 0) {
		snprintf(err, errlen, "exchange '%s' in vhost '%s' in use", x->name, v->name);
		return AMQP_PRECONDITION_FAILED;
	}
	return 0;
}

int validate_binding(const struct exchange *x, struct amqp_bytes key, struct amqp_bytes args,
    char *err, size_t errlen)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	int code = 0;

	if (x->type == EX_CONSISTENT_HASH)
		return hash_binding_check(key, err, errlen);
	if (x->route_type != EX_HEADERS) /* a delayed exchange binds as its x-delayed-type */
		return 0;
	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) == 0 &&
	    (v = amqp_table_get(&t, "x-match")) != NULL) {
		if (v->type != AMQP_FIELD_LONGSTR) {
			snprintf(err, errlen, "Invalid x-match field type; expected longstr");
			code = AMQP_PRECONDITION_FAILED;
		} else if (!(amqp_bytes_eq_cstr(v->v.bytes, "all") ||
		               amqp_bytes_eq_cstr(v->v.bytes, "any") ||
		               amqp_bytes_eq_cstr(v->v.bytes, "all-with-x") ||
		               amqp_bytes_eq_cstr(v->v.bytes, "any-with-x"))) {
			snprintf(err, errlen,
			    "Invalid x-match field value <<\"" NAMEF
			    "\">>; expected all, any, all-with-x, or any-with-x",
			    (int)(v->v.bytes.len > 64 ? 64 : v->v.bytes.len),
			    (const char *)v->v.bytes.ptr);
			code = AMQP_PRECONDITION_FAILED;
		}
	}
	amqp_arena_reset(&pool);
	return code;
}

/* The x-arguments RabbitMQ compares on redeclare, and Warren's own x-dispatch and x-delivery-limit. */
static const char *const equivalence_keys[] = { "x-dead-letter-exchange",
	"x-dead-letter-routing-key", "x-delivery-limit", "x-expires", "x-max-length",
	"x-max-length-bytes", "x-max-priority", "x-message-ttl", "x-overflow", "x-queue-mode",
	"x-queue-type", "x-single-active-consumer", "x-dispatch" };

/* As RabbitMQ: equal if of the same type class (any integer width) with equal values. */
static bool args_same(const struct amqp_field_value *a, const struct amqp_field_value *b)
{
	int64_t x, y;

	if (arg_int_value(a, &x) && arg_int_value(b, &y))
		return x == y;
	return amqp_field_value_eq(a, b);
}

int validate_queue_equivalent(const struct queue *q, bool durable, bool auto_delete,
    struct amqp_bytes args, char *err, size_t errlen)
{
	struct amqp_arena pool;
	struct amqp_table dt, cur;
	const struct amqp_field_value *a, *b;
	const char *vh = q->vhost->name;
	char got[160], now[160];
	int code = 0;
	size_t i;

	if (q->durable != durable) {
		snprintf(err, errlen,
		    "inequivalent arg 'durable' for queue '%s' in vhost '%s': received '%s' but "
		    "current is '%s'",
		    q->name, vh, yn(durable), yn(q->durable));
		return AMQP_PRECONDITION_FAILED;
	}
	if (q->auto_delete != auto_delete) {
		snprintf(err, errlen,
		    "inequivalent arg 'auto_delete' for queue '%s' in vhost '%s': received '%s' "
		    "but current is '%s'",
		    q->name, vh, yn(auto_delete), yn(q->auto_delete));
		return AMQP_PRECONDITION_FAILED;
	}
	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &dt) != 0 ||
	    amqp_table_decode((struct amqp_bytes){ q->args, q->args_len }, &pool, &cur) != 0) {
		amqp_arena_reset(&pool);
		return 0;
	}
	for (i = 0; i < sizeof(equivalence_keys) / sizeof(equivalence_keys[0]) && code == 0; i++) {
		a = amqp_table_get(&dt, equivalence_keys[i]);
		b = amqp_table_get(&cur, equivalence_keys[i]);
		if (a == NULL && b == NULL)
			continue;
		if (a != NULL && b != NULL && args_same(a, b))
			continue;
		if (a != NULL && b != NULL) { /* RabbitMQ shows plain values when both are there */
			arg_value(a, got, sizeof(got));
			arg_value(b, now, sizeof(now));
		} else {
			arg_describe(a, got, sizeof(got));
			arg_describe(b, now, sizeof(now));
		}
		snprintf(err, errlen,
		    "inequivalent arg '%s' for queue '%s' in vhost '%s': received %s but current "
		    "is %s",
		    equivalence_keys[i], q->name, vh, got, now);
		code = AMQP_PRECONDITION_FAILED;
	}
	amqp_arena_reset(&pool);
	return code;
}

int validate_queue_delete(
    const struct queue *q, bool if_unused, bool if_empty, char *err, size_t errlen)
{
	if (if_unused && q->nconsumers > 0) {
		snprintf(err, errlen, "queue '%s' in vhost '%s' in use", q->name, q->vhost->name);
		return AMQP_PRECONDITION_FAILED;
	}
	if (if_empty && q->count > 0) {
		snprintf(
		    err, errlen, "queue '%s' in vhost '%s' not empty", q->name, q->vhost->name);
		return AMQP_PRECONDITION_FAILED;
	}
	return 0;
}
