/*
 * handle_basic.c: the basic class: publish (checks, routing, mandatory returns, confirms), qos,
 * consume and cancel, get, ack / nack / reject, and recover, with RabbitMQ's codes and texts.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/proto/proto.h"

#define NAMEF "%.*s"
#define NAMEA(b) (int)(b).len, (const char *)(b).ptr

/* A copy of v's message whose headers lack BCC (it must never reach a consumer), or NULL. */
static struct message *strip_bcc(struct msg_view *v)
{
	const struct amqp_table *h = msg_view_headers(v);
	const struct message *m = v->m;
	struct amqp_basic_properties np;
	struct amqp_table_entry *kept;
	struct amqp_table nh;
	struct message *n = NULL;
	uint8_t *hb = NULL, *pb = NULL;
	uint32_t i, k = 0;
	long hs;
	int pl;

	if (h == NULL || amqp_table_get(h, "BCC") == NULL)
		return NULL;
	np = *v->props;
	kept = amqp_arena_alloc(&v->pool, h->n * sizeof(*kept));
	for (i = 0; i < h->n; i++)
		if (!amqp_bytes_eq_cstr(h->entries[i].key, "BCC"))
			kept[k++] = h->entries[i];
	nh = (struct amqp_table){ k, kept };
	if ((hs = amqp_table_encoded_size(&nh)) < 0)
		goto out;
	hb = xmalloc((size_t)hs);
	if (amqp_table_encode(&nh, hb, (size_t)hs) != hs)
		goto out;
	np.headers = (struct amqp_bytes){ hb + 4, (size_t)hs - 4 };
	pb = xmalloc(m->props_len + 16);
	if ((pl = amqp_properties_encode(&np, pb, m->props_len + 16)) < 0)
		goto out;
	n = message_with_props(m, (struct amqp_bytes){ pb, (size_t)pl });
	n->has_ttl = m->has_ttl;
	n->ttl_ms = m->ttl_ms;
out:
	free(hb);
	free(pb);
	return n;
}

static void send_return(struct channel *ch, const struct message *m, int code, const char *text)
{
	struct amqp_method r = { .id = AMQP_ID_basic_return };

	ch->stats.n[MS_RETURN_UNROUTABLE]++;
	broker.totals.n[MS_RETURN_UNROUTABLE]++;
	r.u.basic_return.reply_code = (uint16_t)code;
	r.u.basic_return.reply_text = amqp_cstr(text);
	r.u.basic_return.exchange =
	    (struct amqp_bytes){ (const uint8_t *)m->exchange, m->exchange_len };
	r.u.basic_return.routing_key =
	    (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len };
	conn_send_content(ch->conn, ch->id, &r, m, 0);
}

size_t basic_enqueue(
    struct exchange *x, struct msg_view *v, bool *rejected, bool *stored, bool *long_queue)
{
	struct message *m = (struct message *)v->m;
	struct route_result rr;
	struct message *stripped = NULL, *qm;
	size_t i, n;
	int r;

	*rejected = *stored = *long_queue = false;
	route_result_init(&rr);
	if (x != NULL)
		exchange_route(x, v, &rr);
	/*
	 * Delayed exchanges reached take it now, before a queue's publish can route again; one
	 * that took it counts as a route (routed when due, never returned).
	 */
	n = rr.n;
	if (delay_routed > 0)
		n += delay_accept(v, stored);
	if (rr.n > 0) {
		stripped = strip_bcc(v);
		qm = stripped != NULL ? stripped : m;
		for (i = 0; i < rr.n; i++) {
			if ((r = queue_publish(rr.queues[i], qm)) < 0)
				*rejected = true;
			else if (r > 0)
				*stored = true;
			if (rr.queues[i]->count > FLOW_QUEUE_LEN)
				*long_queue = true;
		}
	}
	if (n > 0)
		broker.counters.routed++;
	message_unref(stripped);
	route_result_free(&rr);
	return n;
}

void basic_route_and_enqueue(struct channel *ch, struct exchange *x, struct msg_view *v,
    bool mandatory, bool confirm, uint64_t seq)
{
	struct message *m = (struct message *)v->m;
	bool rejected, stored, long_queue;
	size_t n;
	int r;

	if (x != NULL && x->name_len == 0) {
		r = direct_reply_deliver(x->vhost, m);
		if (r >= 0) { /* a direct reply: no queue in between */
			if (r > 0)
				broker.counters.routed++;
			if (r == 0 && mandatory)
				send_return(ch, m, AMQP_NO_ROUTE, "NO_ROUTE");
			if (confirm)
				channel_confirm_now(ch, seq, true);
			return;
		}
	}
	n = basic_enqueue(x, v, &rejected, &stored, &long_queue);
	if (long_queue)
		ch->conn->feeds_long_queue = true;
	if (n == 0) {
		if (mandatory) {
			send_return(ch, m, AMQP_NO_ROUTE, "NO_ROUTE");
		} else {
			ch->stats.n[MS_DROP_UNROUTABLE]++;
			broker.totals.n[MS_DROP_UNROUTABLE]++;
		}
	}
	/*
	 * A persistent message in a durable queue is confirmed once the store has it on disk; an
	 * unroutable one at once, on its own.
	 */
	if (confirm && n == 0)
		channel_confirm_now(ch, seq, true);
	else if (confirm && (rejected || !stored || !channel_confirm_after_store(ch, seq)))
		channel_confirm(ch, seq, !rejected);
}

/*
 * As RabbitMQ, the CC and BCC headers, when present, must be arrays: otherwise the message is
 * invalid (406). The encoded headers are searched for either key before anything is decoded.
 */
static bool cc_headers_valid(struct channel *ch, struct msg_view *v)
{
	static const char *const keys[] = { "CC", "BCC" };
	const struct amqp_basic_properties *p = msg_view_props(v);
	const struct amqp_field_value *f;
	const struct amqp_table *h;
	size_t k;

	if (p == NULL || !(p->flags & AMQP_P_HEADERS) ||
	    (memmem(p->headers.ptr, p->headers.len, "\002CC", 3) == NULL &&
	        memmem(p->headers.ptr, p->headers.len, "\003BCC", 4) == NULL) ||
	    (h = msg_view_headers(v)) == NULL)
		return true;
	for (k = 0; k < 2; k++) {
		if ((f = amqp_table_get(h, keys[k])) != NULL && f->type != AMQP_FIELD_ARRAY) {
			channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_publish,
			    "invalid message: {unacceptable_type_in_header,\"%s\",%s}", keys[k],
			    field_type_word(f->type));
			return false;
		}
	}
	return true;
}

/*
 * The checks a publish passes before it is routed (each failure closes the channel): true when it
 * may go on. On a direct reply-to request *m becomes the copy with the channel's address in it.
 */
static bool publish_checks(struct channel *ch, struct message **mp, struct msg_view *v)
{
	struct conn *c = ch->conn;
	const struct amqp_basic_properties *p;
	struct message *m = *mp, *rm;
	char why[128];
	bool failed;

	/* Only these three properties are checked here: without them, nothing to look at. */
	if (!(message_prop_flags(m) & (AMQP_P_EXPIRATION | AMQP_P_USER_ID | AMQP_P_REPLY_TO)) ||
	    (p = msg_view_props(v)) == NULL)
		return true;
	if ((p->flags & AMQP_P_EXPIRATION)) {
		if (message_parse_expiration(p->expiration, &m->ttl_ms, why, sizeof(why)) != 0) {
			channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_publish,
			    "invalid expiration '" NAMEF "': %s", NAMEA(p->expiration), why);
			return false;
		}
		m->has_ttl = true;
	}
	if ((p->flags & AMQP_P_USER_ID) && !amqp_bytes_eq_cstr(p->user_id, c->user) &&
	    !access_impersonate(c)) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_publish,
		    "user_id property set to '" NAMEF "' but authenticated user was '%s'",
		    NAMEA(p->user_id), c->user);
		return false;
	}
	rm = direct_reply_rewrite(ch, m, p, &failed);
	if (failed) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_publish,
		    "fast reply consumer does not exist");
		return false;
	}
	if (rm != m) { /* the copy's properties are decoded anew when something needs them */
		msg_view_done(v);
		msg_view_init(v, rm);
		*mp = rm;
	}
	return true;
}

void basic_publish_complete(struct channel *ch)
{
	struct conn *c = ch->conn;
	struct vhost *v = c->vhost;
	struct message *m = ch->pending;
	struct exchange *x;
	struct amqp_bytes xn = { (const uint8_t *)m->exchange, m->exchange_len };
	struct msg_view view;
	uint64_t seq = 0;
	bool same;

	ch->pending = NULL;
	msg_view_init_decoded(&view, m, &ch->pending_header.props);
	if (ch->pending_immediate) {
		conn_error(c, AMQP_NOT_IMPLEMENTED, AMQP_ID_basic_publish, "immediate=true");
		goto out;
	}
	/* The exchange of the last publish, and the write permission on it, are kept. */
	same = (x = ch->x_cache) != NULL && ch->x_cache_gen == broker.exchange_gen &&
	    amqp_bytes_eq(xn, (struct amqp_bytes){ (const uint8_t *)x->name, x->name_len });
	if (!same || !ch->x_cache_writable || ch->x_cache_auth_gen != broker.auth_gen) {
		if (!access_check(ch, AMQP_ID_basic_publish, AUTH_WRITE, AUTH_RES_EXCHANGE, xn))
			goto out;
		if (!same) {
			x = vhost_exchange(v, xn);
			ch->x_cache = x;
			ch->x_cache_gen = broker.exchange_gen;
		}
		ch->x_cache_writable = x != NULL;
		ch->x_cache_auth_gen = broker.auth_gen;
	}
	if (x == NULL) {
		channel_error(ch, AMQP_NOT_FOUND, AMQP_ID_basic_publish,
		    "no exchange '" NAMEF "' in vhost '%s'", NAMEA(xn), v->name);
		goto out;
	}
	if (!access_topic(ch, AMQP_ID_basic_publish, x,
	        (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len }, AUTH_WRITE))
		goto out;
	if (x->internal) {
		channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_basic_publish,
		    "cannot publish to internal exchange '%s' in vhost '%s'", x->name, v->name);
		goto out;
	}
	/* Without properties (the common case) there is nothing to check. */
	if (message_prop_flags(m) != 0 &&
	    (!publish_checks(ch, &m, &view) || !cc_headers_valid(ch, &view)))
		goto out;
	c->publisher = true;
	ch->stats.n[MS_PUBLISH]++;
	broker.totals.n[MS_PUBLISH]++;
	if (ch->confirm)
		broker.counters.received_confirm++;
	if (ch->tx) {
		if (ch->txp_len == ch->txp_cap) {
			ch->txp_cap = ch->txp_cap != 0 ? ch->txp_cap * 2 : 16;
			ch->txp = xreallocarray(ch->txp, ch->txp_cap, sizeof(*ch->txp));
		}
		ch->txp[ch->txp_len].m = m;
		ch->txp[ch->txp_len].props_decoded = msg_view_props(&view) != NULL;
		if (ch->txp[ch->txp_len].props_decoded)
			ch->txp[ch->txp_len].props = *view.props;
		ch->txp[ch->txp_len++].mandatory = ch->pending_mandatory;
		m = NULL; /* the transaction holds it */
		goto out;
	}
	if (ch->confirm)
		seq = channel_confirm_seq(ch);
	basic_route_and_enqueue(ch, x, &view, ch->pending_mandatory, ch->confirm, seq);
out:
	msg_view_done(&view);
	message_unref(m);
}

void handle_basic_qos(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_qos *q = &m->u.basic_qos;
	struct amqp_method r = { .id = AMQP_ID_basic_qos_ok };

	if (q->prefetch_size != 0) {
		conn_error(ch->conn, AMQP_NOT_IMPLEMENTED, AMQP_ID_basic_qos,
		    "prefetch_size!=0 (%u)", q->prefetch_size);
		return;
	}
	if (q->global) {
		ch->prefetch_global = q->prefetch_count;
	} else {
		/*
		 * RabbitMQ applies global=false to consumers created afterwards only. Warren also moves
		 * the channel's existing consumers to the new limit: clients that do not see a broker
		 * named RabbitMQ (kombu, and so Celery) raise the prefetch of a running consumer this
		 * way and expect it to take effect. See docs/protocol.md.
		 */
		struct consumer *c;
		ch->prefetch_default = q->prefetch_count;
		LIST_FOREACH(c, &ch->consumers, ch_entry)
		c->prefetch = q->prefetch_count;
	}
	conn_send_method(ch->conn, ch->id, &r);
	channel_kick_consumers(ch);
}

static bool consumer_priority(struct amqp_bytes args, int32_t *prio)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	bool ok = true;

	*prio = 0;
	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) == 0 &&
	    (v = amqp_table_get(&t, "x-priority")) != NULL) {
		switch (v->type) {
		case AMQP_FIELD_I8: *prio = v->v.i8; break;
		case AMQP_FIELD_U8: *prio = v->v.u8; break;
		case AMQP_FIELD_I16: *prio = v->v.i16; break;
		case AMQP_FIELD_U16: *prio = v->v.u16; break;
		case AMQP_FIELD_I32: *prio = v->v.i32; break;
		case AMQP_FIELD_U32:
			*prio = (int32_t)(v->v.u32 > INT32_MAX ? INT32_MAX : v->v.u32);
			break;
		case AMQP_FIELD_I64:
			*prio = (int32_t)(v->v.i64 > INT32_MAX ? INT32_MAX
			        : v->v.i64 < INT32_MIN         ? INT32_MIN
			                                       : v->v.i64);
			break;
		default: ok = false;
		}
	}
	amqp_arena_reset(&pool);
	return ok;
}

void handle_basic_consume(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_consume *bc = &m->u.basic_consume;
	struct vhost *v = ch->conn->vhost;
	struct amqp_bytes qn = bc->queue, tag = bc->consumer_tag;
	struct amqp_method r = { .id = AMQP_ID_basic_consume_ok };
	struct consumer *c, *other;
	struct queue *q;
	char gen[64];
	int32_t prio;

	if (direct_reply_is_queue(qn)) {
		if (tag.len == 0) {
			generate_name("amq.ctag-", gen, sizeof(gen));
			tag = amqp_cstr(gen);
		}
		if (direct_reply_consume(ch, tag, bc->no_ack) != 0) {
			channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_consume,
			    "reply consumer cannot acknowledge");
			return;
		}
		if (!bc->nowait) {
			r.u.basic_consume_ok.consumer_tag = tag;
			conn_send_method(ch->conn, ch->id, &r);
		}
		return;
	}
	if (!queue_name_shortcut(ch, AMQP_ID_basic_consume, &qn) ||
	    !access_check(ch, AMQP_ID_basic_consume, AUTH_READ, AUTH_RES_QUEUE, qn) ||
	    (q = queue_lookup(ch, AMQP_ID_basic_consume, qn)) == NULL)
		return;
	if (tag.len == 0) {
		do
			generate_name("amq.ctag-", gen, sizeof(gen));
		while (hmap_get(&ch->consumer_tags, gen, strlen(gen)) != NULL);
		tag = amqp_cstr(gen);
	} else if (hmap_get(&ch->consumer_tags, tag.ptr, tag.len) != NULL) {
		conn_error(ch->conn, AMQP_NOT_ALLOWED, AMQP_ID_basic_consume,
		    "attempt to reuse consumer tag '" NAMEF "'", NAMEA(tag));
		return;
	}
	other = TAILQ_FIRST(&q->consumers);
	if ((bc->exclusive && other != NULL) || (other != NULL && other->exclusive)) {
		channel_error(ch, AMQP_ACCESS_REFUSED, AMQP_ID_basic_consume,
		    "queue '%s' in vhost '%s' in exclusive use", q->name, v->name);
		return;
	}
	if (!consumer_priority(bc->arguments, &prio)) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_consume,
		    "invalid arg 'x-priority' for queue '%s' in vhost '%s'", q->name, v->name);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->tag = xbytesdup(tag);
	c->tag_len = tag.len;
	c->queue = q;
	c->ch = ch;
	c->no_ack = bc->no_ack;
	c->exclusive = bc->exclusive;
	c->refs = 1;
	c->prefetch = ch->prefetch_default;
	c->priority = prio;
	if (bc->arguments.len > 0) {
		c->args = xmalloc(bc->arguments.len);
		memcpy(c->args, bc->arguments.ptr, bc->arguments.len);
		c->args_len = bc->arguments.len;
	}
	TAILQ_INSERT_TAIL(&q->consumers, c, q_entry);
	q->nconsumers++;
	q->had_consumer = true;
	LIST_INSERT_HEAD(&ch->consumers, c, ch_entry);
	hmap_put(&ch->consumer_tags, c->tag, c->tag_len, c);
	queue_touch(q);
	if (!bc->nowait) {
		r.u.basic_consume_ok.consumer_tag =
		    (struct amqp_bytes){ (const uint8_t *)c->tag, c->tag_len };
		conn_send_method(ch->conn, ch->id, &r);
	}
	broker_kick(q);
}

void handle_basic_cancel(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_cancel *bc = &m->u.basic_cancel;
	struct consumer *c =
	    hmap_get(&ch->consumer_tags, bc->consumer_tag.ptr, bc->consumer_tag.len);
	struct amqp_method r = { .id = AMQP_ID_basic_cancel_ok };

	/*
	 * What an ack just before freed (prefetch credit) goes to this consumer before it goes, as
	 * RabbitMQ's queue sees the ack and then the cancel: the channel holds those deliveries for
	 * basic.recover, or they are requeued when it closes.
	 */
	if (c != NULL && c->queue->dispatch_pending)
		queue_dispatch(c->queue);
	r.u.basic_cancel_ok.consumer_tag = bc->consumer_tag;
	if (!bc->nowait)
		conn_send_method(ch->conn, ch->id, &r);
	if (c != NULL)
		consumer_cancel(c, false);
	else
		direct_reply_cancel(ch, bc->consumer_tag);
}

void handle_basic_get(struct channel *ch, const struct amqp_method *m)
{
	const struct amqp_basic_get *g = &m->u.basic_get;
	struct amqp_bytes qn = g->queue;
	struct amqp_method r;
	struct queue *q;
	struct qentry e;
	unsigned k;

	if (!queue_name_shortcut(ch, AMQP_ID_basic_get, &qn) ||
	    !access_check(ch, AMQP_ID_basic_get, AUTH_READ, AUTH_RES_QUEUE, qn) ||
	    (q = queue_lookup(ch, AMQP_ID_basic_get, qn)) == NULL)
		return;
	queue_touch(q);
	/*
	 * RabbitMQ hands a message to a waiting consumer as it is enqueued; Warren dispatches after
	 * the batch. What is waiting for that goes to the consumers before basic.get takes from the
	 * queue, so a get does not take a message a consumer was due.
	 */
	if (q->dispatch_pending)
		queue_dispatch(q);
	if (!queue_pop(q, &e)) {
		if (queue_wait_load(q, ch->conn)) {
			/* The frame stays unread until the queue's next entries are in. */
			ch->conn->load_wait = queue_ref(q);
			return;
		}
		r = (struct amqp_method){ .id = AMQP_ID_basic_get_empty };
		ch->stats.n[MS_GET_EMPTY]++;
		broker.totals.n[MS_GET_EMPTY]++;
		conn_send_method(ch->conn, ch->id, &r);
		return;
	}
	k = g->no_ack ? MS_GET_NO_ACK : MS_GET;
	q->stats.n[k]++;
	ch->stats.n[k]++;
	broker.totals.n[k]++;
	if (e.redelivered) {
		q->stats.n[MS_REDELIVER]++;
		ch->stats.n[MS_REDELIVER]++;
		broker.totals.n[MS_REDELIVER]++;
	}
	r = (struct amqp_method){ .id = AMQP_ID_basic_get_ok };
	r.u.basic_get_ok.redelivered = e.redelivered;
	r.u.basic_get_ok.exchange =
	    (struct amqp_bytes){ (const uint8_t *)e.m->exchange, e.m->exchange_len };
	r.u.basic_get_ok.routing_key =
	    (struct amqp_bytes){ (const uint8_t *)e.m->routing_key, e.m->rk_len };
	r.u.basic_get_ok.message_count = (uint32_t)q->count;
	if (g->no_ack) {
		r.u.basic_get_ok.delivery_tag = ++ch->next_tag;
		if (persist_removal_holds(q, e.m))
			conn_hold(ch->conn);
		conn_send_content(ch->conn, ch->id, &r, e.m, e.delivery_count);
		persist_remove(q, e.m, e.seq);
		message_unref(e.m);
		return;
	}
	if (persist_delivered(q, e.m, e.seq))
		conn_hold(ch->conn);
	r.u.basic_get_ok.delivery_tag = channel_add_unacked(ch, q, &e, NULL);
	conn_send_content(ch->conn, ch->id, &r, e.m, e.delivery_count);
}

/* ack, nack, reject. */
static void basic_settle(
    struct channel *ch, uint32_t mid, uint64_t tag, bool multiple, enum settle_kind kind)
{
	/*
	 * In a transaction the tags are settled at tx.commit, but as RabbitMQ they stop being live
	 * tags at once: a second ack is 406, and basic.recover does not redeliver them.
	 */
	if (channel_settle(ch, tag, multiple, kind, ch->tx) != 0)
		channel_error(ch, AMQP_PRECONDITION_FAILED, mid, "unknown delivery tag %llu",
		    (unsigned long long)tag);
}

void basic_ack(struct channel *ch, uint64_t tag, bool multiple)
{
	basic_settle(ch, AMQP_ID_basic_ack, tag, multiple, SETTLE_ACK);
}

void handle_basic_ack(struct channel *ch, const struct amqp_method *m)
{
	basic_ack(ch, m->u.basic_ack.delivery_tag, m->u.basic_ack.multiple);
}

void handle_basic_nack(struct channel *ch, const struct amqp_method *m)
{
	basic_settle(ch, m->id, m->u.basic_nack.delivery_tag, m->u.basic_nack.multiple,
	    m->u.basic_nack.requeue ? SETTLE_REQUEUE : SETTLE_DROP);
}

void handle_basic_reject(struct channel *ch, const struct amqp_method *m)
{
	basic_settle(ch, m->id, m->u.basic_reject.delivery_tag, false,
	    m->u.basic_reject.requeue ? SETTLE_REQUEUE : SETTLE_DROP);
}

/* basic.recover and basic.recover-async (the same but for the -ok). */
void handle_basic_recover(struct channel *ch, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_basic_recover_ok };
	bool requeue = m->id == AMQP_ID_basic_recover ? m->u.basic_recover.requeue
	                                              : m->u.basic_recover_async.requeue;

	if (!requeue) {
		conn_error(ch->conn, AMQP_NOT_IMPLEMENTED, m->id, "requeue=false");
		return;
	}
	channel_requeue_all(ch, true); /* as RabbitMQ, not what an open tx acked */
	if (m->id == AMQP_ID_basic_recover)
		conn_send_method(ch->conn, ch->id, &r);
}
