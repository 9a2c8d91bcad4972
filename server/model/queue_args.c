/*
 * queue_args.c: the x-arguments of queue.declare, validated as RabbitMQ validates them (a wrong
 * type or value is 406 with RabbitMQ's wording) and parsed into struct queue_args.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

/* RabbitMQ's names for field types, as they appear in its error texts. */
const char *field_type_word(uint8_t t)
{
	switch (t) {
	case AMQP_FIELD_BOOL: return "bool";
	case AMQP_FIELD_I8: return "byte";
	case AMQP_FIELD_U8: return "unsignedbyte";
	case AMQP_FIELD_I16: return "short";
	case AMQP_FIELD_U16: return "unsignedshort";
	case AMQP_FIELD_I32: return "signedint";
	case AMQP_FIELD_U32: return "unsignedint";
	case AMQP_FIELD_I64: return "long";
	case AMQP_FIELD_FLOAT: return "float";
	case AMQP_FIELD_DOUBLE: return "double";
	case AMQP_FIELD_DECIMAL: return "decimal";
	case AMQP_FIELD_LONGSTR: return "longstr";
	case AMQP_FIELD_BYTES: return "binary";
	case AMQP_FIELD_ARRAY: return "array";
	case AMQP_FIELD_TIMESTAMP: return "timestamp";
	case AMQP_FIELD_TABLE: return "table";
	case AMQP_FIELD_VOID: return "void";
	default: return "unknown";
	}
}

/* An integer argument as a signed 64-bit value; false if v is not an integer type. */
bool arg_int_value(const struct amqp_field_value *v, int64_t *out)
{
	switch (v->type) {
	case AMQP_FIELD_I8: *out = v->v.i8; return true;
	case AMQP_FIELD_U8: *out = v->v.u8; return true;
	case AMQP_FIELD_I16: *out = v->v.i16; return true;
	case AMQP_FIELD_U16: *out = v->v.u16; return true;
	case AMQP_FIELD_I32: *out = v->v.i32; return true;
	case AMQP_FIELD_U32: *out = v->v.u32; return true;
	case AMQP_FIELD_I64: *out = v->v.i64; return true;
	default: return false;
	}
}

struct arg_ctx {
	const char *queue, *vhost;
	char *err;
	size_t errlen;
};

/* "invalid arg 'KEY' for queue 'Q' in vhost 'V': DETAIL", RabbitMQ's wording. */
static int __attribute__((format(printf, 3, 4)))
arg_error(const struct arg_ctx *c, const char *key, const char *fmt, ...)
{
	char detail[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->errlen, "invalid arg '%s' for queue '%s' in vhost '%s': %s", key,
	    c->queue, c->vhost, detail);
	return -1;
}

enum int_rule { NON_NEG, POSITIVE };

static int check_int(const struct arg_ctx *c, const char *key, const struct amqp_field_value *v,
    enum int_rule rule, int64_t max, uint64_t *out)
{
	int64_t n;

	if (!arg_int_value(v, &n)) {
		return arg_error(c, key, "\"expected integer, got %s\"", field_type_word(v->type));
	}
	if (n < 0) {
		return arg_error(c, key, "{value_negative,%lld}", (long long)n);
	}
	if (rule == POSITIVE && n == 0) {
		return arg_error(c, key, "{value_zero,0}");
	}
	if (max > 0 && n > max) { /* RabbitMQ's words differ for priorities */
		return arg_error(c, key,
		    strcmp(key, "x-max-priority") == 0 ? "{max_value_exceeded,%lld}"
		                                       : "{value_too_large,%lld}",
		    (long long)n);
	}
	*out = (uint64_t)n;
	return 0;
}

static int check_str(const struct arg_ctx *c, const char *key, const struct amqp_field_value *v,
    struct amqp_bytes *out)
{
	if (v->type != AMQP_FIELD_LONGSTR) {
		return arg_error(c, key, "{unacceptable_type,%s}", field_type_word(v->type));
	}
	*out = v->v.bytes;
	return 0;
}

/* Parse and validate; on error, err holds the reply text (after "PRECONDITION_FAILED - "). */
int queue_args_parse(struct amqp_bytes args, struct queue_args *qa, const char *queue,
    const char *vhost, char *err, size_t errlen)
{
	struct arg_ctx c = { queue, vhost, err, errlen };
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	struct amqp_bytes s;
	uint64_t n;
	int ret = -1;

	memset(qa, 0, sizeof(*qa));
	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) != 0) {
		snprintf(
		    err, errlen, "invalid arguments for queue '%s' in vhost '%s'", queue, vhost);
		goto out;
	}
	if ((v = amqp_table_get(&t, "x-message-ttl")) != NULL) {
		if (check_int(&c, "x-message-ttl", v, NON_NEG, 4294967295LL, &qa->ttl_ms) != 0)
			goto out;
		qa->has_ttl = true;
	}
	if ((v = amqp_table_get(&t, "x-expires")) != NULL) {
		if (check_int(&c, "x-expires", v, POSITIVE, 4294967295LL, &qa->expires_ms) != 0)
			goto out;
		qa->has_expires = true;
	}
	if ((v = amqp_table_get(&t, "x-max-length")) != NULL) {
		if (check_int(&c, "x-max-length", v, NON_NEG, 0, &qa->max_len) != 0)
			goto out;
		qa->has_max_len = true;
	}
	if ((v = amqp_table_get(&t, "x-max-length-bytes")) != NULL) {
		if (check_int(&c, "x-max-length-bytes", v, NON_NEG, 0, &qa->max_bytes) != 0)
			goto out;
		qa->has_max_bytes = true;
	}
	if ((v = amqp_table_get(&t, "x-max-priority")) != NULL) {
		if (check_int(&c, "x-max-priority", v, NON_NEG, 255, &n) != 0)
			goto out;
		qa->max_priority = (uint8_t)n;
	}
	if ((v = amqp_table_get(&t, "x-overflow")) != NULL) {
		if (check_str(&c, "x-overflow", v, &s) != 0)
			goto out;
		if (amqp_bytes_eq_cstr(s, "drop-head"))
			qa->overflow = OVERFLOW_DROP_HEAD;
		else if (amqp_bytes_eq_cstr(s, "reject-publish"))
			qa->overflow = OVERFLOW_REJECT_PUBLISH;
		else if (amqp_bytes_eq_cstr(s, "reject-publish-dlx"))
			qa->overflow = OVERFLOW_REJECT_PUBLISH_DLX;
		else {
			arg_error(&c, "x-overflow", "invalid_overflow");
			goto out;
		}
		qa->has_overflow = true;
	}
	if ((v = amqp_table_get(&t, "x-dead-letter-exchange")) != NULL) {
		if (v->type !=
		    AMQP_FIELD_LONGSTR) { /* RabbitMQ checks it as an exchange reference */
			snprintf(err, errlen,
			    "invalid type '%s' for arg 'x-dead-letter-exchange' in queue '%s' in "
			    "vhost '%s'",
			    field_type_word(v->type), queue, vhost);
			goto out;
		}
		s = v->v.bytes;
		qa->dlx = xbytesdup(s);
	}
	if ((v = amqp_table_get(&t, "x-dead-letter-routing-key")) != NULL) {
		if (check_str(&c, "x-dead-letter-routing-key", v, &s) != 0)
			goto out;
		if (qa->dlx == NULL) {
			arg_error(&c, "x-dead-letter-routing-key",
			    ""
			    "routing_key_but_no_dlx_defined");
			goto out;
		}
		qa->dlx_rk = xbytesdup(s);
	}
	if ((v = amqp_table_get(&t, "x-queue-mode")) != NULL) {
		if (check_str(&c, "x-queue-mode", v, &s) != 0)
			goto out;
		if (!amqp_bytes_eq_cstr(s, "default") && !amqp_bytes_eq_cstr(s, "lazy")) {
			arg_error(&c, "x-queue-mode", "\"unsupported queue mode '%.*s'\"",
			    (int)(s.len > 64 ? 64 : s.len), (const char *)s.ptr);
			goto out;
		}
	}
	if ((v = amqp_table_get(&t, "x-queue-type")) != NULL) {
		if (check_str(&c, "x-queue-type", v, &s) != 0)
			goto out;
		if (!amqp_bytes_eq_cstr(s, "classic") && !amqp_bytes_eq_cstr(s, "quorum")) {
			arg_error(&c, "x-queue-type", "\"unsupported queue type '%.*s'\"",
			    (int)(s.len > 64 ? 64 : s.len), (const char *)s.ptr);
			goto out;
		}
	}
	if ((v = amqp_table_get(&t, "x-queue-version")) != NULL) { /* classic queues' format */
		if (check_int(&c, "x-queue-version", v, NON_NEG, 0, &n) != 0)
			goto out;
		if (n != 1 && n != 2) {
			arg_error(&c, "x-queue-version", "\"unsupported queue version '%llu'\"",
			    (unsigned long long)n);
			goto out;
		}
	}
	if ((v = amqp_table_get(&t, "x-dispatch")) != NULL) { /* Warren's own */
		if (check_str(&c, "x-dispatch", v, &s) != 0)
			goto out;
		if (amqp_bytes_eq_cstr(s, "round-robin"))
			qa->dispatch = DISPATCH_ROUND_ROBIN;
		else if (amqp_bytes_eq_cstr(s, "least-unacked"))
			qa->dispatch = DISPATCH_LEAST_UNACKED;
		else {
			arg_error(&c, "x-dispatch", "{unsupported_dispatch,<<\"%.*s\">>}",
			    (int)(s.len > 64 ? 64 : s.len), (const char *)s.ptr);
			goto out;
		}
		qa->has_dispatch = true;
	}
	if ((v = amqp_table_get(&t, "x-single-active-consumer")) != NULL) {
		if (v->type != AMQP_FIELD_BOOL) {
			arg_error(&c, "x-single-active-consumer", "{unacceptable_type,%s}",
			    field_type_word(v->type));
			goto out;
		}
		qa->single_active = v->v.b;
	}
	/* RabbitMQ takes it on quorum queues only; Warren on every queue. */
	if ((v = amqp_table_get(&t, "x-delivery-limit")) != NULL) {
		if (check_int(&c, "x-delivery-limit", v, NON_NEG, 0, &qa->delivery_limit) != 0)
			goto out;
		qa->has_delivery_limit = true;
	}
	ret = 0;
out:
	amqp_arena_reset(&pool);
	if (ret != 0)
		queue_args_free(qa);
	return ret;
}

int queue_type_check(struct amqp_bytes args, int stage, bool durable, bool exclusive,
    bool auto_delete, const char *queue, const char *vhost, char *err, size_t errlen)
{
	static const char *const not_quorum[] = { "x-max-priority", "x-queue-master-locator",
		"x-queue-mode", "x-queue-version" };
	const char *prop = NULL;
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	int ret = 0;
	uint32_t i;
	size_t k;

	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) != 0 ||
	    (v = amqp_table_get(&t, "x-queue-type")) == NULL || v->type != AMQP_FIELD_LONGSTR ||
	    !amqp_bytes_eq_cstr(v->v.bytes, "quorum"))
		goto out; /* not a quorum queue (or queue_args_parse says what is wrong) */
	for (i = 0; stage == 0 && i < t.n && ret == 0; i++)
		for (k = 0; k < sizeof(not_quorum) / sizeof(not_quorum[0]); k++)
			if (amqp_bytes_eq_cstr(t.entries[i].key, not_quorum[k])) {
				snprintf(err, errlen,
				    "invalid arg '%s' for queue '%s' in vhost '%s' of queue type "
				    "rabbit_quorum_queue",
				    not_quorum[k], queue, vhost);
				ret = -1;
				break;
			}
	if (stage == 1)
		prop = auto_delete ? "auto-delete"
		    : exclusive    ? "exclusive-owner"
		    : !durable     ? "non-durable"
		                   : NULL;
	if (prop != NULL) {
		snprintf(err, errlen, "invalid property '%s' for queue '%s' in vhost '%s'", prop,
		    queue, vhost);
		ret = -1;
	}
out:
	amqp_arena_reset(&pool);
	return ret;
}

void queue_args_free(struct queue_args *qa)
{
	free(qa->dlx);
	free(qa->dlx_rk);
	qa->dlx = qa->dlx_rk = NULL;
}

static void arg_plain(const struct amqp_field_value *v, char *val, size_t vlen);

/* "the value '2000' of type 'signedint'", or "none": how RabbitMQ describes an argument. */
void arg_describe(const struct amqp_field_value *v, char *buf, size_t len)
{
	char val[96];

	if (v == NULL) {
		snprintf(buf, len, "none");
		return;
	}
	arg_plain(v, val, sizeof(val));
	snprintf(buf, len, "the value '%s' of type '%s'", val, field_type_word(v->type));
}

/* "'2000'": an argument's value alone, quoted. */
void arg_value(const struct amqp_field_value *v, char *buf, size_t len)
{
	char val[96];

	arg_plain(v, val, sizeof(val));
	snprintf(buf, len, "'%s'", val);
}

static void arg_plain(const struct amqp_field_value *v, char *val, size_t vlen)
{
	switch (v->type) {
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES:
		snprintf(val, vlen, "%.*s", (int)(v->v.bytes.len > 64 ? 64 : v->v.bytes.len),
		    (const char *)v->v.bytes.ptr);
		break;
	case AMQP_FIELD_BOOL: snprintf(val, vlen, "%s", v->v.b ? "true" : "false"); break;
	case AMQP_FIELD_I8: snprintf(val, vlen, "%d", v->v.i8); break;
	case AMQP_FIELD_U8: snprintf(val, vlen, "%u", v->v.u8); break;
	case AMQP_FIELD_I16: snprintf(val, vlen, "%d", v->v.i16); break;
	case AMQP_FIELD_U16: snprintf(val, vlen, "%u", v->v.u16); break;
	case AMQP_FIELD_I32: snprintf(val, vlen, "%d", v->v.i32); break;
	case AMQP_FIELD_U32: snprintf(val, vlen, "%u", v->v.u32); break;
	case AMQP_FIELD_I64: snprintf(val, vlen, "%lld", (long long)v->v.i64); break;
	case AMQP_FIELD_TIMESTAMP: snprintf(val, vlen, "%llu", (unsigned long long)v->v.u64); break;
	case AMQP_FIELD_FLOAT: snprintf(val, vlen, "%g", (double)v->v.f); break;
	case AMQP_FIELD_DOUBLE: snprintf(val, vlen, "%g", v->v.d); break;
	default: snprintf(val, vlen, "...");
	}
}
