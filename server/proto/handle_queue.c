/*
 * handle_queue.c: the queue class: declare (server-named, passive, exclusive, auto-delete,
 * x-arguments and their equivalence on redeclare), bind, unbind, purge and delete, with RabbitMQ's
 * reply codes and texts. An empty queue name means the channel's last declared queue, as in
 * RabbitMQ.
 */
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/proto/proto.h"

#define NAMEF "%.*s"
#define NAMEA(b) (int)(b).len, (const char *)(b).ptr

/* RabbitMQ's shortcut: "" names the queue this channel declared last. */
bool queue_name_shortcut(struct channel *ch, uint32_t mid, struct amqp_bytes *name)
{
	if (name->len > 0)
		return true;
	if (ch->last_queue_len == 0) {
		channel_error(ch, AMQP_NOT_FOUND, mid, "no previously declared queue");
		return false;
	}
	*name = (struct amqp_bytes){ (const uint8_t *)ch->last_queue, ch->last_queue_len };
	return true;
}

/* Find a queue this connection may use: 404 if missing, 405 if another's exclusive queue. */
struct queue *queue_lookup(struct channel *ch, uint32_t mid, struct amqp_bytes name)
{
	struct vhost *v = ch->conn->vhost;
	struct queue *q = vhost_queue(v, name);

	if (q == NULL) {
		channel_error(ch, AMQP_NOT_FOUND, mid, "no queue '" NAMEF "' in vhost '%s'",
		    NAMEA(name), v->name);
		return NULL;
	}
	if (q->exclusive && q->owner != ch->conn) {
		channel_error(ch, AMQP_RESOURCE_LOCKED, mid,
		    "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. It could "
		    "be originally "
		    "declared on another connection or the exclusive property value does not match "
		    "that of the "
		    "original declaration.",
		    q->name, v->name);
		return NULL;
	}
	return q;
}

static void remember_queue(struct channel *ch, const struct queue *q)
{
	memcpy(ch->last_queue, q->name, q->name_len);
	ch->last_queue_len = q->name_len;
}

static void send_declare_ok(struct channel *ch, const struct queue *q, bool nowait)
{
	struct amqp_method r = { .id = AMQP_ID_queue_declare_ok };

	if (nowait)
		return;
	r.u.queue_declare_ok.queue = (struct amqp_bytes){ (const uint8_t *)q->name, q->name_len };
	r.u.queue_declare_ok.message_count = (uint32_t)q->count;
	r.u.queue_declare_ok.consumer_count = q->nconsumers;
	reply_after_store(ch, &r);
}

/* "amq.gen-" and 22 characters of URL-safe base64 from 16 random bytes, as RabbitMQ. */
void generate_name(const char *prefix, char *out, size_t outlen)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t rnd[16];
	size_t n, i;

	arc4random_buf(rnd, sizeof(rnd));
	n = (size_t)snprintf(out, outlen, "%s", prefix);
	for (i = 0; i < 22 && n + 1 < outlen; i++) {
		unsigned bit = (unsigned)i * 6, byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)(rnd[byte] << 8 | (byte + 1 < 16 ? rnd[byte + 1] : 0));
		out[n++] = b64[(v >> (10 - shift)) & 63];
	}
	out[n] = '\0';
}

void handle_queue_declare(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_queue_declare *d = &m->u.queue_declare;
	struct vhost *v = ch->conn->vhost;
	struct amqp_bytes name = d->queue;
	struct queue_args qa;
	struct queue *q;
	char gen[64], err[512];
	int code;

	if (d->passive) {
		/* The pseudo-queue always "exists", and so does a live channel's reply address. */
		if (direct_reply_is_queue(name) || direct_reply_address_alive(v, name)) {
			struct amqp_method r = { .id = AMQP_ID_queue_declare_ok };
			r.u.queue_declare_ok.queue = name;
			if (!d->nowait)
				reply_after_store(ch, &r);
			return;
		}
		if (name.len == 0 && !queue_name_shortcut(ch, AMQP_ID_queue_declare, &name))
			return;
		if ((q = queue_lookup(ch, AMQP_ID_queue_declare, name)) == NULL)
			return;
		queue_touch(q); /* as RabbitMQ, a passive declare renews an x-expires lease */
		remember_queue(ch, q);
		send_declare_ok(ch, q, d->nowait);
		return;
	}
	if (name.len == 0) {
		do
			generate_name("amq.gen-", gen, sizeof(gen));
		while (vhost_queue(v, amqp_cstr(gen)) != NULL);
		name = amqp_cstr(gen);
	} else if (name.len >= 4 && memcmp(name.ptr, "amq.", 4) == 0 &&
	    vhost_queue(v, name) == NULL) {
		channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_queue_declare,
		    "queue name '" NAMEF "' contains reserved prefix 'amq.*'", NAMEA(name));
		return;
	}
	if (!access_check(ch, AMQP_ID_queue_declare, AUTH_CONFIGURE, AUTH_RES_QUEUE, name))
		return;
	if ((q = vhost_queue(v, name)) != NULL) {
		/* As RabbitMQ, the exclusive flag must match too, even on the owner's connection. */
		if ((q->exclusive && q->owner != ch->conn) || d->exclusive != q->exclusive) {
			channel_error(ch, AMQP_RESOURCE_LOCKED, AMQP_ID_queue_declare,
			    "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. It "
			    "could be "
			    "originally declared on another connection or the exclusive property "
			    "value does not "
			    "match that of the original declaration.",
			    q->name, v->name);
			return;
		}
		if ((code = validate_queue_equivalent(q, d->durable && !d->exclusive,
		         d->auto_delete, d->arguments, err, sizeof(err))) != 0) {
			channel_error(ch, code, AMQP_ID_queue_declare, "%s", err);
			return;
		}
		queue_touch(q);
		remember_queue(ch, q);
		broker.counters.queues_declared++;
		send_declare_ok(ch, q, d->nowait);
		return;
	}
	char *qname = xbytesdup(name);
	code = queue_type_check(d->arguments, 0, d->durable, d->exclusive, d->auto_delete, qname,
	    v->name, err, sizeof(err));
	if (code == 0)
		code = queue_args_parse(d->arguments, &qa, qname, v->name, err, sizeof(err));
	if (code == 0 &&
	    (code = queue_type_check(d->arguments, 1, d->durable, d->exclusive, d->auto_delete,
	         qname, v->name, err, sizeof(err))) != 0)
		queue_args_free(&qa);
	free(qname);
	if (code != 0) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_queue_declare, "%s", err);
		return;
	}
	/* The queue limit, then (with a dead-letter exchange) read on the queue, write on the DLX. */
	if (!access_queue_limit(ch, name) ||
	    (qa.dlx != NULL &&
	        (!access_check(ch, AMQP_ID_queue_declare, AUTH_READ, AUTH_RES_QUEUE, name) ||
	            !access_check(ch, AMQP_ID_queue_declare, AUTH_WRITE, AUTH_RES_EXCHANGE,
	                amqp_cstr(qa.dlx))))) {
		queue_args_free(&qa);
		return;
	}
	/* As RabbitMQ, an exclusive queue is never durable: it dies with its connection. */
	q = queue_new(v, name, d->durable && !d->exclusive, d->exclusive, d->auto_delete,
	    d->exclusive ? ch->conn : NULL, d->arguments, &qa);
	if (q->exclusive)
		LIST_INSERT_HEAD(&ch->conn->exclusive_queues, q, owner_entry);
	log_debug("%s: declared queue '%s'", ch->conn->peer, q->name);
	remember_queue(ch, q);
	broker.counters.queues_declared++;
	send_declare_ok(ch, q, d->nowait);
}

void handle_queue_bind(struct channel *ch, const struct amqp_method *m)
{
	struct vhost *v = ch->conn->vhost;
	bool bind = m->id == AMQP_ID_queue_bind;
	struct amqp_bytes qn = bind ? m->u.queue_bind.queue : m->u.queue_unbind.queue;
	struct amqp_bytes xn = bind ? m->u.queue_bind.exchange : m->u.queue_unbind.exchange;
	struct amqp_bytes key = bind ? m->u.queue_bind.routing_key : m->u.queue_unbind.routing_key;
	struct amqp_bytes args = bind ? m->u.queue_bind.arguments : m->u.queue_unbind.arguments;
	struct amqp_method r = { .id = bind ? AMQP_ID_queue_bind_ok : AMQP_ID_queue_unbind_ok };
	struct exchange *x;
	struct queue *q;

	if (qn.len == 0) {
		if (!queue_name_shortcut(ch, m->id, &qn))
			return;
		if (key.len == 0)
			key = qn; /* and "" as the key, too, means the queue's name */
	}
	if (xn.len == 0) {
		channel_error(ch, AMQP_ACCESS_REFUSED, m->id,
		    "operation not permitted on the default exchange");
		return;
	}
	/* RabbitMQ: write on the queue, read on the exchange. */
	if (!access_check(ch, m->id, AUTH_WRITE, AUTH_RES_QUEUE, qn) ||
	    !access_check(ch, m->id, AUTH_READ, AUTH_RES_EXCHANGE, xn))
		return;
	if (!bind && (vhost_queue(v, qn) == NULL || vhost_exchange(v, xn) == NULL)) {
		/* As RabbitMQ, unbinding what does not exist succeeds. */
		reply_after_store(ch, &r);
		return;
	}
	if ((q = queue_lookup(ch, m->id, qn)) == NULL)
		return;
	if ((x = vhost_exchange(v, xn)) == NULL) {
		channel_error(ch, AMQP_NOT_FOUND, m->id, "no exchange '" NAMEF "' in vhost '%s'",
		    NAMEA(xn), v->name);
		return;
	}
	if (!access_topic(ch, m->id, x, key, AUTH_READ)) /* unbind too, as RabbitMQ */
		return;
	if (bind) {
		if (!check_binding(ch, m->id, x, key, args))
			return;
		exchange_bind(x, q, NULL, key, args);
		if (!m->u.queue_bind.nowait)
			reply_after_store(ch, &r);
		return;
	}
	exchange_unbind(x, q, NULL, key, args);
	reply_after_store(ch, &r);
}

void handle_queue_purge(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_queue_purge *p = &m->u.queue_purge;
	struct amqp_bytes name = p->queue;
	struct amqp_method r = { .id = AMQP_ID_queue_purge_ok };
	struct queue *q;

	if (!queue_name_shortcut(ch, AMQP_ID_queue_purge, &name) ||
	    !access_check(ch, AMQP_ID_queue_purge, AUTH_READ, AUTH_RES_QUEUE, name) ||
	    (q = queue_lookup(ch, AMQP_ID_queue_purge, name)) == NULL)
		return;
	r.u.queue_purge_ok.message_count = (uint32_t)queue_purge(q);
	if (!p->nowait)
		reply_after_store(ch, &r);
}

/*
 * Delete q and answer: as RabbitMQ, the deleting channel hears delete-ok before the basic.cancel
 * of its own consumers of q (a client that takes the cancel as the end of its work may close the
 * connection at once, and the delete would then never see its answer).
 */
static void queue_delete_answer(struct channel *ch, struct queue *q)
{
	struct amqp_method r = { .id = AMQP_ID_queue_delete_ok },
	                   m = { .id = AMQP_ID_basic_cancel };
	struct evbuffer *frames = evbuffer_new();
	struct consumer *c;
	uint8_t buf[512];
	int n;

	TAILQ_FOREACH(c, &q->consumers, q_entry)
	{
		if (c->ch != ch)
			continue;
		m.u.basic_cancel.consumer_tag =
		    (struct amqp_bytes){ (const uint8_t *)c->tag, c->tag_len };
		m.u.basic_cancel.nowait = true;
		if ((n = amqp_method_frame_encode(ch->id, &m, buf, sizeof(buf))) > 0)
			evbuffer_add(frames, buf, (size_t)n);
	}
	ch->hold_cancels = true;
	r.u.queue_delete_ok.message_count = (uint32_t)queue_delete(q);
	ch->hold_cancels = false;
	if ((n = amqp_method_frame_encode(ch->id, &r, buf, sizeof(buf))) > 0)
		evbuffer_prepend(frames, buf, (size_t)n);
	reply_frames_after_store(ch, evbuffer_pullup(frames, -1), evbuffer_get_length(frames));
	evbuffer_free(frames);
}

void handle_queue_delete(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_queue_delete *d = &m->u.queue_delete;
	struct vhost *v = ch->conn->vhost;
	struct amqp_bytes name = d->queue;
	struct amqp_method r = { .id = AMQP_ID_queue_delete_ok };
	struct queue *q;
	char err[512];
	int code;

	if (!queue_name_shortcut(ch, AMQP_ID_queue_delete, &name) ||
	    !access_check(ch, AMQP_ID_queue_delete, AUTH_CONFIGURE, AUTH_RES_QUEUE, name))
		return;
	q = vhost_queue(v, name);
	if (q != NULL) {
		if (q->exclusive && q->owner != ch->conn) {
			queue_lookup(ch, AMQP_ID_queue_delete, name); /* answers 405 */
			return;
		}
		if ((code = validate_queue_delete(
		         q, d->if_unused, d->if_empty, err, sizeof(err))) != 0) {
			channel_error(ch, code, AMQP_ID_queue_delete, "%s", err);
			return;
		}
		if (!d->nowait && ch->conn->caps.cancel_notify) {
			queue_delete_answer(ch, q);
			return;
		}
		r.u.queue_delete_ok.message_count = (uint32_t)queue_delete(q);
	}
	if (!d->nowait)
		reply_after_store(ch, &r);
}
