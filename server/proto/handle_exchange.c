/*
 * handle_exchange.c: the exchange class: declare (passive, equivalence, reserved names), delete
 * (if-unused), and exchange-to-exchange bind and unbind, with RabbitMQ's reply codes and texts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/proto/proto.h"

#define NAMEF "%.*s"
#define NAMEA(b) (int)(b).len, (const char *)(b).ptr

static bool reserved_name(struct amqp_bytes name)
{
	return name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0;
}

/* The alternate-exchange argument, if any, must be a string. */
static bool check_alternate(
    struct channel *ch, uint32_t mid, struct amqp_bytes name, struct amqp_bytes args)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	bool ok = true;

	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) == 0 &&
	    (v = amqp_table_get(&t, "alternate-exchange")) != NULL &&
	    v->type != AMQP_FIELD_LONGSTR) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, mid,
		    "invalid type '%s' for arg 'alternate-exchange' in exchange '" NAMEF
		    "' in vhost '%s'",
		    field_type_word(v->type), NAMEA(name), ch->conn->vhost->name);
		ok = false;
	}
	amqp_arena_reset(&pool);
	return ok;
}

/* Creating an exchange with an alternate exchange: write on the AE and read on the exchange. */
static bool check_alternate_access(
    struct channel *ch, struct amqp_bytes name, struct amqp_bytes args)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	bool ok = true;

	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) == 0 &&
	    (v = amqp_table_get(&t, "alternate-exchange")) != NULL && v->type == AMQP_FIELD_LONGSTR)
		ok = access_check(
		         ch, AMQP_ID_exchange_declare, AUTH_READ, AUTH_RES_EXCHANGE, name) &&
		    access_check(
		        ch, AMQP_ID_exchange_declare, AUTH_WRITE, AUTH_RES_EXCHANGE, v->v.bytes);
	amqp_arena_reset(&pool);
	return ok;
}

static const char *yn(bool b)
{
	return b ? "true" : "false";
}

/* An existing exchange must match what is declared, as RabbitMQ's assert_equivalence. */
static bool exchange_equivalent(struct channel *ch, struct exchange *x,
    const struct amqp_exchange_declare *d, enum exchange_type type)
{
	const char *vh = ch->conn->vhost->name;
	struct amqp_arena pool;
	struct amqp_table t;
	struct amqp_table cur;
	const struct amqp_field_value *v, *cv;
	char got[160], now[160];
	bool cur_ok;

#define INEQ(arg, got, cur)                                                                 \
	do {                                                                                \
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_exchange_declare,       \
		    "inequivalent arg '" arg                                                \
		    "' for exchange '%s' in vhost '%s': received '%s' but current is '%s'", \
		    x->name, vh, got, cur);                                                 \
		return false;                                                               \
	} while (0)
	if (x->type != type)
		INEQ("type", exchange_type_name(type), exchange_type_name(x->type));
	if (x->durable != d->durable)
		INEQ("durable", yn(d->durable), yn(x->durable));
	if (x->auto_delete != d->auto_delete)
		INEQ("auto_delete", yn(d->auto_delete), yn(x->auto_delete));
	if (x->internal != d->internal)
		INEQ("internal", yn(d->internal), yn(x->internal));
	/* Of the arguments, RabbitMQ compares alternate-exchange only. */
	amqp_arena_init(&pool);
	if (amqp_table_decode(d->arguments, &pool, &t) == 0)
		v = amqp_table_get(&t, "alternate-exchange");
	else
		v = NULL;
	cur_ok = amqp_table_decode((struct amqp_bytes){ x->args, x->args_len }, &pool, &cur) == 0;
	cv = cur_ok ? amqp_table_get(&cur, "alternate-exchange") : NULL;
	if ((v == NULL) != (cv == NULL) || (v != NULL && !amqp_field_value_eq(v, cv))) {
		arg_describe(v, got, sizeof(got));
		arg_describe(cv, now, sizeof(now));
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_exchange_declare,
		    "inequivalent arg 'alternate-exchange' for exchange '%s' in vhost '%s': "
		    "received %s but current is %s",
		    x->name, vh, got, now);
		amqp_arena_reset(&pool);
		return false;
	}
	amqp_arena_reset(&pool);
	return true;
#undef INEQ
}

void handle_exchange_declare(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_exchange_declare *d = &m->u.exchange_declare;
	struct vhost *v = ch->conn->vhost;
	struct exchange *x = vhost_exchange(v, d->exchange);
	struct amqp_method r = { .id = AMQP_ID_exchange_declare_ok };
	enum exchange_type type;

	if (d->passive) {
		if (x == NULL) {
			channel_error(ch, AMQP_NOT_FOUND, AMQP_ID_exchange_declare,
			    "no exchange '" NAMEF "' in vhost '%s'", NAMEA(d->exchange), v->name);
			return;
		}
		goto ok;
	}
	/* As RabbitMQ 3.10 (the version Warren announces): a connection error, not a channel one. */
	if (d->type.len == 0) {
		conn_error(ch->conn, AMQP_COMMAND_INVALID, AMQP_ID_exchange_declare,
		    "invalid exchange type ''");
		return;
	}
	if (exchange_type_parse(d->type, &type) != 0) {
		conn_error(ch->conn, AMQP_COMMAND_INVALID, AMQP_ID_exchange_declare,
		    "unknown exchange type '" NAMEF "'", NAMEA(d->type));
		return;
	}
	if (d->exchange.len == 0) {
		channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_exchange_declare,
		    "operation not permitted on the default exchange");
		return;
	}
	if (!access_check(
	        ch, AMQP_ID_exchange_declare, AUTH_CONFIGURE, AUTH_RES_EXCHANGE, d->exchange))
		return;
	if (x == NULL) {
		if (reserved_name(d->exchange)) {
			channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_exchange_declare,
			    "exchange name '" NAMEF "' contains reserved prefix 'amq.*'",
			    NAMEA(d->exchange));
			return;
		}
		if (!check_alternate(ch, AMQP_ID_exchange_declare, d->exchange, d->arguments) ||
		    !check_alternate_access(ch, d->exchange, d->arguments))
			return;
		x = exchange_new(
		    v, d->exchange, type, d->durable, d->auto_delete, d->internal, d->arguments);
		log_debug("%s: declared exchange '%s' (%s)", ch->conn->peer, x->name,
		    exchange_type_name(type));
	} else if (!exchange_equivalent(ch, x, d, type)) {
		return;
	}
ok:
	if (!d->nowait)
		reply_after_store(ch, &r);
}

void handle_exchange_delete(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_exchange_delete *d = &m->u.exchange_delete;
	struct vhost *v = ch->conn->vhost;
	struct exchange *x;
	struct amqp_method r = { .id = AMQP_ID_exchange_delete_ok };

	if (d->exchange.len == 0) {
		channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_exchange_delete,
		    "operation not permitted on the default exchange");
		return;
	}
	if (reserved_name(d->exchange)) {
		channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_exchange_delete,
		    "deletion of system exchange '" NAMEF "' in vhost '%s' not allowed",
		    NAMEA(d->exchange), v->name);
		return;
	}
	if (!access_check(
	        ch, AMQP_ID_exchange_delete, AUTH_CONFIGURE, AUTH_RES_EXCHANGE, d->exchange))
		return;
	x = vhost_exchange(v, d->exchange);
	if (x != NULL) {
		if (d->if_unused && x->nbindings > 0) {
			channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_exchange_delete,
			    "exchange '%s' in vhost '%s' in use", x->name, v->name);
			return;
		}
		exchange_delete(x);
	}
	if (!d->nowait)
		reply_after_store(ch, &r);
}

/* Validate x-match in a headers binding's arguments. */
bool check_binding_args(
    struct channel *ch, uint32_t mid, struct exchange *x, struct amqp_bytes args)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	bool ok = true;

	if (x->type != EX_HEADERS)
		return true;
	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) == 0 &&
	    (v = amqp_table_get(&t, "x-match")) != NULL) {
		if (v->type != AMQP_FIELD_LONGSTR ||
		    !(amqp_bytes_eq_cstr(v->v.bytes, "all") ||
		        amqp_bytes_eq_cstr(v->v.bytes, "any") ||
		        amqp_bytes_eq_cstr(v->v.bytes, "all-with-x") ||
		        amqp_bytes_eq_cstr(v->v.bytes, "any-with-x"))) {
			if (v->type == AMQP_FIELD_LONGSTR)
				channel_error(ch, AMQP_PRECONDITION_FAILED, mid,
				    "Invalid x-match field value <<\"" NAMEF
				    "\">>; expected all, any, all-with-x, or any-with-x",
				    (int)(v->v.bytes.len > 64 ? 64 : v->v.bytes.len),
				    (const char *)v->v.bytes.ptr);
			else
				channel_error(ch, AMQP_PRECONDITION_FAILED, mid,
				    "Invalid x-match field type; expected longstr");
			ok = false;
		}
	}
	amqp_arena_reset(&pool);
	return ok;
}

void handle_exchange_bind(struct channel *ch, const struct amqp_method *m)
{
	struct vhost *v = ch->conn->vhost;
	bool bind = m->id == AMQP_ID_exchange_bind;
	const struct amqp_exchange_bind *b =
	    &m->u.exchange_bind; /* bind and unbind share a layout */
	struct amqp_bytes src = bind ? b->source : m->u.exchange_unbind.source;
	struct amqp_bytes dst = bind ? b->destination : m->u.exchange_unbind.destination;
	struct amqp_bytes key = bind ? b->routing_key : m->u.exchange_unbind.routing_key;
	struct amqp_bytes args = bind ? b->arguments : m->u.exchange_unbind.arguments;
	bool nowait = bind ? b->nowait : m->u.exchange_unbind.nowait;
	struct exchange *xs, *xd;
	struct amqp_method r = { .id =
		                     bind ? AMQP_ID_exchange_bind_ok : AMQP_ID_exchange_unbind_ok };

	if (src.len == 0 || dst.len == 0) {
		channel_error(ch, AMQP_ACCESS_REFUSED, m->id,
		    "operation not permitted on the default exchange");
		return;
	}
	/* RabbitMQ: write on the destination, read on the source. */
	if (!access_check(ch, m->id, AUTH_WRITE, AUTH_RES_EXCHANGE, dst) ||
	    !access_check(ch, m->id, AUTH_READ, AUTH_RES_EXCHANGE, src))
		return;
	xd = vhost_exchange(v, dst);
	xs = vhost_exchange(v, src);
	if (!bind && (xd == NULL || xs == NULL)) {
		/*
		 * As RabbitMQ 3.10, unbinding from or to an exchange that is gone (an auto-delete source
		 * went with its last binding) succeeds: there is nothing left to unbind.
		 */
		if (!nowait)
			reply_after_store(ch, &r);
		return;
	}
	if (xd == NULL) {
		channel_error(ch, AMQP_NOT_FOUND, m->id, "no exchange '" NAMEF "' in vhost '%s'",
		    NAMEA(dst), v->name);
		return;
	}
	if (xs == NULL) {
		channel_error(ch, AMQP_NOT_FOUND, m->id, "no exchange '" NAMEF "' in vhost '%s'",
		    NAMEA(src), v->name);
		return;
	}
	if (!access_topic(ch, m->id, xs, key, AUTH_READ)) /* unbind too, as RabbitMQ */
		return;
	if (bind) {
		if (!check_binding_args(ch, m->id, xs, args))
			return;
		exchange_bind(xs, NULL, xd, key, args);
	} else {
		exchange_unbind(xs, NULL, xd, key, args);
	}
	if (!nowait)
		reply_after_store(ch, &r);
}
