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

void handle_exchange_declare(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_exchange_declare *d = &m->u.exchange_declare;
	struct vhost *v = ch->conn->vhost;
	struct exchange *x = vhost_exchange(v, d->exchange);
	struct amqp_method r = { .id = AMQP_ID_exchange_declare_ok };
	enum exchange_type type;
	char err[512];
	int code;

	if (d->passive) {
		if (x == NULL) {
			channel_error(ch, AMQP_NOT_FOUND, AMQP_ID_exchange_declare,
			    "no exchange '" NAMEF "' in vhost '%s'", NAMEA(d->exchange), v->name);
			return;
		}
		goto ok;
	}
	/*
	 * As RabbitMQ since 3.12.14 and 3.13.3 (May 2024), and pika's tests since 1.4: a channel
	 * error 406. RabbitMQ 3.10 closed the connection with 503 (interop/DIFFERENCES.md).
	 */
	if (d->type.len == 0) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_exchange_declare,
		    "invalid exchange type ''");
		return;
	}
	if (exchange_type_parse(d->type, &type) != 0) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_exchange_declare,
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
		if ((code = validate_exchange_new(
		         v, d->exchange, type, d->arguments, err, sizeof(err))) != 0) {
			channel_error(ch, code, AMQP_ID_exchange_declare, "%s", err);
			return;
		}
		if (!check_alternate_access(ch, d->exchange, d->arguments))
			return;
		x = exchange_new(
		    v, d->exchange, type, d->durable, d->auto_delete, d->internal, d->arguments);
		log_debug("%s: declared exchange '%s' (%s)", ch->conn->peer, x->name,
		    exchange_type_name(type));
	} else if ((code = validate_exchange_equivalent(x, type, d->durable, d->auto_delete,
	                d->internal, d->arguments, err, sizeof(err))) != 0) {
		channel_error(ch, code, AMQP_ID_exchange_declare, "%s", err);
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
	char err[512];
	int code;

	/* The name first, then the permission, then whether it is in use. */
	if ((code = validate_exchange_delete(v, d->exchange, NULL, false, err, sizeof(err))) != 0) {
		channel_error(ch, code, AMQP_ID_exchange_delete, "%s", err);
		return;
	}
	if (!access_check(
	        ch, AMQP_ID_exchange_delete, AUTH_CONFIGURE, AUTH_RES_EXCHANGE, d->exchange))
		return;
	x = vhost_exchange(v, d->exchange);
	if (x != NULL) {
		if ((code = validate_exchange_delete(
		         v, d->exchange, x, d->if_unused, err, sizeof(err))) != 0) {
			channel_error(ch, code, AMQP_ID_exchange_delete, "%s", err);
			return;
		}
		exchange_delete(x);
	}
	if (!d->nowait)
		reply_after_store(ch, &r);
}

/* Validate x-match in a headers binding's arguments, a consistent-hash binding's weight. */
bool check_binding(struct channel *ch, uint32_t mid, struct exchange *x, struct amqp_bytes key,
    struct amqp_bytes args)
{
	char err[1280];
	int code;

	if ((code = validate_binding(x, key, args, err, sizeof(err))) == 0)
		return true;
	channel_error(ch, code, mid, "%s", err);
	return false;
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
		if (!check_binding(ch, m->id, xs, key, args))
			return;
		exchange_bind(xs, NULL, xd, key, args);
	} else {
		exchange_unbind(xs, NULL, xd, key, args);
	}
	if (!nowait)
		reply_after_store(ch, &r);
}
