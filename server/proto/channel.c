/*
 * channel.c: channels: their state, the method / header / body sequence of each command, soft
 * errors (channel.close, then everything but close and close-ok discarded), the unacked deliveries
 * ordered by delivery tag, and publisher confirms coalesced into multiple-acks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/proto/proto.h"

struct channel *channel_open(struct conn *c, uint16_t id)
{
	struct channel *ch;
	struct amqp_method m = { .id = AMQP_ID_channel_open_ok };

	ch = xcalloc(1, sizeof(*ch));
	ch->conn = c;
	ch->id = id;
	ch->state = CH_OPEN;
	LIST_INIT(&ch->consumers);
	LIST_INIT(&ch->store_waiters);
	hmap_init(&ch->consumer_tags);
	conn_channel_add(c, ch);
	broker.counters.channels_opened++;
	conn_send_method(c, id, &m);
	return ch;
}

/* Drop everything the channel holds; the struct stays (closing) or goes (free). */
static void channel_forget_store_waits(struct channel *ch);

static void channel_release(struct channel *ch)
{
	struct consumer *cons;
	size_t i;

	while ((cons = LIST_FIRST(&ch->consumers)) != NULL)
		consumer_cancel(cons, false);
	hmap_clear(&ch->consumer_tags);
	direct_reply_release(ch);
	channel_requeue_all(ch, false);
	message_unref(ch->pending);
	ch->pending = NULL;
	ch->asm_state = (struct amqp_assembler){ 0 };
	for (i = 0; i < ch->txp_len; i++)
		message_unref(ch->txp[i].m);
	ch->txp_len = 0;
	ch->cs_len = 0;
	ch->cs_head = 0;
}

void channel_free(struct channel *ch)
{
	channel_forget_store_waits(ch);
	channel_release(ch);
	broker.counters.channels_closed++;
	free(ch->ua);
	free(ch->cs);
	free(ch->txp);
	free(ch);
}

/* Forget the channel in its connection and free it. */
static void channel_close_done(struct channel *ch)
{
	conn_channel_remove(ch->conn, ch);
	channel_free(ch);
}

void channel_error(struct channel *ch, int code, uint32_t method_id, const char *fmt, ...)
{
	struct amqp_method m = { .id = AMQP_ID_channel_close };
	char text[512];
	int n;
	va_list ap;

	n = snprintf(text, sizeof(text), "%s - ", amqp_reply_name(code));
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (!amqp_reply_is_soft(code)) {
		conn_error(ch->conn, code, method_id, "%s", text + n);
		return;
	}
	if (ch->state == CH_CLOSING)
		return;
	log_info("%s: channel %u: closing with %d %s", ch->conn->peer, ch->id, code, text);
	m.u.channel_close.reply_code = (uint16_t)code;
	m.u.channel_close.reply_text = amqp_cstr(text);
	if (m.u.channel_close.reply_text.len > 255)
		m.u.channel_close.reply_text.len = 255;
	m.u.channel_close.class_id = (uint16_t)(method_id >> 16);
	m.u.channel_close.method_id = (uint16_t)method_id;
	conn_send_method(ch->conn, ch->id, &m);
	ch->state = CH_CLOSING;
	channel_release(ch);
}

/* ---- The channel and access classes on an open channel ---- */

void handle_channel_open(struct channel *ch, const struct amqp_method *m)
{
	conn_error(ch->conn, AMQP_CHANNEL_ERROR, m->id, "second 'channel.open' seen");
}

void handle_channel_flow(struct channel *ch, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_channel_flow_ok };

	/*
	 * As RabbitMQ, which leaves flow control to TCP and connection.blocked: pausing a channel's
	 * deliveries is refused, and clients' own test suites expect that error.
	 */
	if (!m->u.channel_flow.active) {
		conn_error(ch->conn, AMQP_NOT_IMPLEMENTED, m->id, "active=false");
		return;
	}
	r.u.channel_flow_ok.active = 1;
	conn_send_method(ch->conn, ch->id, &r);
}

void handle_channel_close(struct channel *ch, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_channel_close_ok };

	(void)m;
	conn_send_method(ch->conn, ch->id, &r);
	channel_close_done(ch);
}

/* access.request, which RabbitMQ answers with a dummy ticket. */
void handle_access_request(struct channel *ch, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_access_request_ok };

	(void)m;
	r.u.access_request_ok.ticket = 1;
	conn_send_method(ch->conn, ch->id, &r);
}

/*
 * A frame out of the method / header / body order: 505 with RabbitMQ's words, naming
 * basic.publish once a publish has begun.
 */
static void sequence_error(
    struct channel *ch, const struct amqp_assembler *a, uint8_t type, uint16_t cls)
{
	switch (a->state) {
	case AMQP_ASM_IDLE:
		conn_error(ch->conn, AMQP_UNEXPECTED_FRAME, 0,
		    "expected method frame, got non method frame instead");
		return;
	case AMQP_ASM_HEADER:
		if (type == AMQP_FRAME_HEADER)
			conn_error(ch->conn, AMQP_UNEXPECTED_FRAME, AMQP_ID_basic_publish,
			    "expected content header for class %u, got one for class %u instead",
			    a->class_id, cls);
		else
			conn_error(ch->conn, AMQP_UNEXPECTED_FRAME, AMQP_ID_basic_publish,
			    "expected content header for class %u, got non content header frame "
			    "instead",
			    a->class_id);
		return;
	case AMQP_ASM_BODY:
		conn_error(ch->conn, AMQP_UNEXPECTED_FRAME, AMQP_ID_basic_publish,
		    "expected content body, got non content body frame instead");
		return;
	}
}

/* The pending message's decoded properties, moved onto its own copy of their bytes. */
static void channel_keep_props(struct channel *ch)
{
	struct amqp_content_header *h = &ch->pending_header;

	message_adopt_props(ch->pending, &h->props, h->raw_properties.ptr);
}

static void channel_content_header(struct channel *ch, const struct amqp_frame *f)
{
	struct amqp_content_header *h = &ch->pending_header;
	int r;

	uint16_t cls = amqp_peek_header_class(f->payload, f->size);
	struct amqp_assembler before = ch->asm_state;

	/* The order first (505, with RabbitMQ's words), then the header's own bytes. */
	if (before.state != AMQP_ASM_HEADER || before.class_id != cls) {
		r = amqp_assembler_step(&ch->asm_state, AMQP_FRAME_HEADER, 0, cls, 0, f->size);
		if (r < 0) {
			sequence_error(ch, &before, AMQP_FRAME_HEADER, cls);
			return;
		}
		ch->asm_state = before;
	}
	if ((r = amqp_content_header_check(f->payload, f->size, h)) != 0) {
		conn_error(ch->conn, amqp_err_reply_code(r), AMQP_ID_basic_publish,
		    "content header: %s", amqp_strerror(r));
		return;
	}
	r = amqp_assembler_step(
	    &ch->asm_state, AMQP_FRAME_HEADER, 0, h->class_id, h->body_size, f->size);
	if (h->body_size > broker.cfg.max_message_size) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_basic_publish,
		    "message size %llu is larger than configured max size %llu",
		    (unsigned long long)h->body_size,
		    (unsigned long long)broker.cfg.max_message_size);
		return;
	}
	ch->pending = message_new_decoded(
	    ch->pending_exchange, ch->pending_rk, h->raw_properties, h->body_size, &h->props);
	channel_keep_props(ch);
	if (r == AMQP_ASM_COMPLETE)
		basic_publish_complete(ch);
}

/*
 * basic.publish and basic.ack, the methods of every message, read by amqp/'s peeks: the generic
 * decoder clears and fills a whole method union. Anything unusual (another length, a frame out of
 * order) is left to the generic path, which reports it. True when handled.
 */
static bool channel_fast_method(struct channel *ch, const struct amqp_frame *f)
{
	struct amqp_basic_publish pf;
	struct amqp_basic_ack a;

	if (ch->asm_state.state != AMQP_ASM_IDLE)
		return false;
	if (amqp_peek_basic_ack(f->payload, f->size, &a)) {
		basic_ack(ch, a.delivery_tag, a.multiple);
		return true;
	}
	if (!amqp_peek_basic_publish(f->payload, f->size, &pf))
		return false;
	/* Keep the names: the frame's bytes are gone when the content arrives. */
	memcpy(ch->pending_names, pf.exchange.ptr, pf.exchange.len);
	memcpy(ch->pending_names + 256, pf.routing_key.ptr, pf.routing_key.len);
	ch->pending_exchange = (struct amqp_bytes){ ch->pending_names, pf.exchange.len };
	ch->pending_rk = (struct amqp_bytes){ ch->pending_names + 256, pf.routing_key.len };
	ch->pending_mandatory = pf.mandatory;
	ch->pending_immediate = pf.immediate;
	ch->asm_state.state = AMQP_ASM_HEADER; /* as amqp_assembler_step would */
	ch->asm_state.class_id = AMQP_BASIC_CLASS;
	return true;
}

bool channel_publish_frames(struct channel *ch, const struct amqp_frame *f,
    const struct amqp_frame *hf, const struct amqp_frame *bf)
{
	struct amqp_basic_publish pf;
	struct amqp_content_header *h = &ch->pending_header;

	if (ch->state != CH_OPEN || ch->asm_state.state != AMQP_ASM_IDLE ||
	    !amqp_peek_basic_publish(f->payload, f->size, &pf) ||
	    amqp_content_header_check(hf->payload, hf->size, h) != 0 || h->body_size != bf->size ||
	    h->body_size == 0 || h->body_size > broker.cfg.max_message_size)
		return false;
	ch->pending_mandatory = pf.mandatory;
	ch->pending_immediate = pf.immediate;
	ch->pending = message_new_decoded(
	    pf.exchange, pf.routing_key, h->raw_properties, h->body_size, &h->props);
	channel_keep_props(ch);
	message_append_body(ch->pending, bf->payload, bf->size);
	basic_publish_complete(ch);
	return true;
}

void channel_handle_frame(struct channel *ch, const struct amqp_frame *f)
{
	struct amqp_assembler before;
	struct amqp_method m;
	int r, ev;

	if (ch->state == CH_CLOSING) {
		/*
		 * Discard all but channel.close and close-ok until the client's close-ok. As
		 * RabbitMQ, a close that crossed ours is answered and the channel still waits for the
		 * close-ok to ours, which clients that see our close send (Go, Java, pika): freeing
		 * the channel at the client's close would make that close-ok a connection error. An
		 * open before that close-ok is one, as in RabbitMQ.
		 */
		if (f->type != AMQP_FRAME_METHOD ||
		    amqp_method_decode(f->payload, f->size, &m) != 0)
			return;
		if (m.id == AMQP_ID_channel_close_ok) {
			conn_note_broker_closed(ch->conn, ch->id);
			channel_close_done(ch);
		} else if (m.id == AMQP_ID_channel_close) {
			m = (struct amqp_method){ .id = AMQP_ID_channel_close_ok };
			conn_send_method(ch->conn, ch->id, &m);
		} else if (m.id == AMQP_ID_channel_open) {
			conn_error(
			    ch->conn, AMQP_CHANNEL_ERROR, m.id, "second 'channel.open' seen");
		}
		return;
	}
	switch (f->type) {
	case AMQP_FRAME_METHOD:
		if (channel_fast_method(ch, f))
			return;
		if ((r = amqp_method_decode(f->payload, f->size, &m)) != 0) {
			conn_error(ch->conn, amqp_err_reply_code(r), m.id, "cannot decode %s: %s",
			    amqp_method_str(m.id), amqp_strerror(r));
			return;
		}
		before = ch->asm_state;
		ev = amqp_assembler_step(&ch->asm_state, AMQP_FRAME_METHOD, m.id, 0, 0, f->size);
		if (ev < 0) {
			sequence_error(ch, &before, AMQP_FRAME_METHOD, 0);
			return;
		}
		if (ev == AMQP_ASM_CONTENT_METHOD && m.id != AMQP_ID_basic_publish) {
			conn_error(ch->conn, AMQP_COMMAND_INVALID, m.id, "unimplemented method %s",
			    amqp_method_str(m.id));
			return;
		}
		if (ev == AMQP_ASM_CONTENT_METHOD) {
			/* Keep the names: the frame's bytes are gone when the content arrives. */
			struct amqp_basic_publish *p = &m.u.basic_publish;
			memcpy(ch->pending_names, p->exchange.ptr, p->exchange.len);
			memcpy(ch->pending_names + 256, p->routing_key.ptr, p->routing_key.len);
			ch->pending_exchange =
			    (struct amqp_bytes){ ch->pending_names, p->exchange.len };
			ch->pending_rk =
			    (struct amqp_bytes){ ch->pending_names + 256, p->routing_key.len };
			ch->pending_mandatory = p->mandatory;
			ch->pending_immediate = p->immediate;
			return;
		}
		dispatch_method(ch, &m);
		return;
	case AMQP_FRAME_HEADER: channel_content_header(ch, f); return;
	case AMQP_FRAME_BODY:
		before = ch->asm_state;
		ev = amqp_assembler_step(&ch->asm_state, AMQP_FRAME_BODY, 0, 0, 0, f->size);
		if (ev == AMQP_E_BODY_SIZE) {
			conn_error(ch->conn, AMQP_UNEXPECTED_FRAME, AMQP_ID_basic_publish,
			    "content body of %u bytes is larger than the %llu left of the declared "
			    "size",
			    f->size, (unsigned long long)before.remaining);
			return;
		}
		if (ev < 0) {
			sequence_error(ch, &before, AMQP_FRAME_BODY, 0);
			return;
		}
		message_append_body(ch->pending, f->payload, f->size);
		if (ev == AMQP_ASM_COMPLETE)
			basic_publish_complete(ch);
		return;
	default: conn_error(ch->conn, AMQP_FRAME_ERROR, 0, "unexpected frame type %u", f->type);
	}
}

/* ---- unacked deliveries ---- */

static inline struct unacked *ua_at(struct channel *ch, size_t i)
{
	return &ch->ua[(ch->ua_head + i) & (ch->ua_cap - 1)];
}

uint64_t channel_add_unacked(
    struct channel *ch, struct queue *q, const struct qentry *e, struct consumer *cons)
{
	struct unacked *u;
	size_t i, ncap;

	if (ch->ua_len == ch->ua_cap) {
		ncap = ch->ua_cap != 0 ? ch->ua_cap * 2 : 16;
		struct unacked *nv = xreallocarray(NULL, ncap, sizeof(*nv));
		for (i = 0; i < ch->ua_len; i++)
			nv[i] = *ua_at(ch, i);
		free(ch->ua);
		ch->ua = nv;
		ch->ua_cap = ncap;
		ch->ua_head = 0;
	}
	u = ua_at(ch, ch->ua_len++);
	u->tag = ++ch->next_tag;
	u->m = e->m;
	u->q = queue_ref(q);
	u->seq = e->seq;
	u->consumer = cons;
	u->expires_at = e->expires_at; /* a requeued message keeps its expiry, as RabbitMQ */
	u->held = 0;
	u->delivery_count = e->delivery_count;
	u->delivered_ms = (uint32_t)now_ms();
	if (cons != NULL) {
		cons->refs++;
		cons->unacked++;
		ch->unacked_count++; /* as RabbitMQ, basic.get is not held to the prefetch */
	}
	q->unacked++;
	q->unacked_bytes += e->m->body_size;
	return u->tag;
}

/* Settle one live entry. */
static void unacked_settle(struct channel *ch, struct unacked *u, enum settle_kind kind)
{
	struct queue *q = u->q;
	struct consumer *cons = u->consumer;

	q->unacked--;
	q->unacked_bytes -= u->m->body_size;
	if (cons != NULL)
		ch->unacked_count--;
	if (kind == SETTLE_ACK) {
		q->stats.n[MS_ACK]++;
		ch->stats.n[MS_ACK]++;
		broker.totals.n[MS_ACK]++;
	}
	if (kind == SETTLE_REQUEUE) {
		queue_requeue(q, u->m, u->seq, u->expires_at, u->delivery_count);
	} else {
		if (kind == SETTLE_DROP)
			queue_dead_letter(q, u->m, "rejected");
		persist_remove(q, u->m, u->seq);
		message_unref(u->m);
	}
	u->m = NULL;
	if (cons != NULL) {
		cons->unacked--;
		/* An ack frees a consumer that its prefetch held back: then its queue dispatches. */
		if (!cons->cancelled && cons->prefetch != 0 && cons->unacked + 1 >= cons->prefetch)
			broker_kick(cons->queue);
		consumer_unref(cons);
		u->consumer = NULL;
	}
	if (ch->prefetch_global != 0)
		channel_kick_consumers(ch);
	queue_unref(q);
	u->q = NULL;
}

void channel_check_ack_timeout(struct channel *ch, uint32_t now, uint32_t timeout_ms)
{
	/* The front entry is the oldest delivery still unacked (settled ones are compacted away). */
	if (ch->ua_len == 0 || ch->state == CH_CLOSING ||
	    (uint32_t)(now - ua_at(ch, 0)->delivered_ms) <= timeout_ms)
		return;
	channel_error(ch, AMQP_PRECONDITION_FAILED, 0,
	    "delivery acknowledgement on channel %u timed out. Timeout value used: %u ms. This "
	    "timeout value can be configured, see consumers doc guide to learn more",
	    ch->id, timeout_ms);
}

/* Drop settled entries from the front. */
static void unacked_compact(struct channel *ch)
{
	while (ch->ua_len > 0 && ua_at(ch, 0)->m == NULL) {
		ch->ua_head = (ch->ua_head + 1) & (ch->ua_cap - 1);
		ch->ua_len--;
	}
}

/* The index of a live entry with this tag, or -1. Tags ascend from front to back. */
static long unacked_find(struct channel *ch, uint64_t tag)
{
	size_t lo = 0, hi = ch->ua_len, mid;

	/* Acks mostly come in order, and tags mostly without gaps: try where it would be. */
	if (hi > 0 && tag >= ua_at(ch, 0)->tag && tag - ua_at(ch, 0)->tag < hi) {
		mid = (size_t)(tag - ua_at(ch, 0)->tag);
		if (ua_at(ch, mid)->tag == tag)
			return ua_at(ch, mid)->m != NULL && !ua_at(ch, mid)->held ? (long)mid : -1;
	}
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ua_at(ch, mid)->tag == tag)
			return ua_at(ch, mid)->m != NULL && !ua_at(ch, mid)->held ? (long)mid : -1;
		if (ua_at(ch, mid)->tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Settle one live entry now, or (hold) mark it to be settled that way at tx.commit. */
static void unacked_settle_or_hold(
    struct channel *ch, struct unacked *u, enum settle_kind kind, bool hold)
{
	if (u->m == NULL || u->held)
		return;
	if (hold)
		u->held = (uint8_t)(kind + 1);
	else
		unacked_settle(ch, u, kind);
}

int channel_settle(
    struct channel *ch, uint64_t tag, bool multiple, enum settle_kind kind, bool hold)
{
	long at;
	size_t i;

	if (multiple && tag == 0) { /* everything outstanding */
		for (i = 0; i < ch->ua_len; i++)
			unacked_settle_or_hold(ch, ua_at(ch, i), kind, hold);
		unacked_compact(ch);
		return 0;
	}
	if ((at = unacked_find(ch, tag)) < 0)
		return -1;
	if (multiple) {
		for (i = 0; i <= (size_t)at; i++)
			unacked_settle_or_hold(ch, ua_at(ch, i), kind, hold);
	} else {
		unacked_settle_or_hold(ch, ua_at(ch, (size_t)at), kind, hold);
	}
	unacked_compact(ch);
	return 0;
}

void channel_tx_end(struct channel *ch, bool commit)
{
	size_t i;

	for (i = 0; i < ch->ua_len; i++) {
		struct unacked *u = ua_at(ch, i);

		if (u->m == NULL || !u->held)
			continue;
		if (commit)
			unacked_settle(ch, u, (enum settle_kind)(u->held - 1));
		else
			u->held = 0;
	}
	unacked_compact(ch);
}

void channel_requeue_all(struct channel *ch, bool keep_held)
{
	size_t i;

	/* Newest first: each goes back in front of the ones after it. */
	for (i = ch->ua_len; i-- > 0;)
		if (ua_at(ch, i)->m != NULL && !(keep_held && ua_at(ch, i)->held))
			unacked_settle(ch, ua_at(ch, i), SETTLE_REQUEUE);
	unacked_compact(ch);
	if (ch->ua_len == 0)
		ch->ua_head = 0;
}

/* ---- waiting for the store ---- */

/* A confirm or a reply waiting for this turn's store writes (persist_wait). */
struct store_wait {
	struct persist_waiter pw; /* first: persistence hands this back */
	LIST_ENTRY(store_wait) ch_entry;
	struct channel *ch; /* NULL once the channel is gone */
	uint64_t seq;       /* a publisher confirm, or */
	uint8_t *reply;     /* encoded frames to send (a declare-ok and the like) */
	size_t reply_len;
};

static void store_wait_done(struct persist_waiter *pw, int status)
{
	struct store_wait *w = (struct store_wait *)pw;

	if (w->ch != NULL) {
		LIST_REMOVE(w, ch_entry);
		if (w->reply == NULL) {
			channel_confirm(w->ch, w->seq, status == 0);
			channel_confirm_flush(w->ch);
		} else if (status != 0) {
			channel_error(w->ch, AMQP_INTERNAL_ERROR, 0, "the store failed: %s",
			    persist_last_error());
		} else if (w->ch->state == CH_OPEN) {
			conn_send_raw(w->ch->conn, w->reply, w->reply_len);
		}
	}
	free(w->reply);
	free(w);
}

static struct store_wait *store_wait_new(struct channel *ch)
{
	struct store_wait *w = xcalloc(1, sizeof(*w));

	w->pw.done = store_wait_done;
	w->ch = ch;
	return w;
}

bool channel_confirm_after_store(struct channel *ch, uint64_t seq)
{
	struct store_wait *w;

	if (!persist_writing())
		return false;
	if (persist_failed()) { /* nothing more becomes durable: nack at once */
		channel_confirm(ch, seq, false);
		return true;
	}
	w = store_wait_new(ch);
	w->seq = seq;
	persist_wait(&w->pw);
	LIST_INSERT_HEAD(&ch->store_waiters, w, ch_entry);
	return true;
}

void reply_after_store(struct channel *ch, const struct amqp_method *m)
{
	uint8_t buf[1024];
	int n;

	if ((n = amqp_method_frame_encode(ch->id, m, buf, sizeof(buf))) < 0) {
		conn_send_method(ch->conn, ch->id, m);
		return;
	}
	reply_frames_after_store(ch, buf, (size_t)n);
}

void reply_frames_after_store(struct channel *ch, const uint8_t *frames, size_t len)
{
	struct store_wait *w = store_wait_new(ch);

	/* Nothing written this turn (or no store): the reply goes now. */
	if (!persist_wait(&w->pw)) {
		free(w);
		conn_send_raw(ch->conn, frames, len);
		return;
	}
	w->reply = xmalloc(len);
	memcpy(w->reply, frames, len);
	w->reply_len = len;
	LIST_INSERT_HEAD(&ch->store_waiters, w, ch_entry);
}

/* The channel goes: its waits complete with nobody to tell. */
static void channel_forget_store_waits(struct channel *ch)
{
	struct store_wait *w;

	while ((w = LIST_FIRST(&ch->store_waiters)) != NULL) {
		LIST_REMOVE(w, ch_entry);
		w->ch = NULL;
	}
}

/* ---- publisher confirms ---- */

uint64_t channel_confirm_seq(struct channel *ch)
{
	struct confirm_slot *s;
	size_t i, ncap;

	if (ch->cs_len == ch->cs_cap) {
		ncap = ch->cs_cap != 0 ? ch->cs_cap * 2 : 16;
		struct confirm_slot *nv = xreallocarray(NULL, ncap, sizeof(*nv));
		for (i = 0; i < ch->cs_len; i++)
			nv[i] = ch->cs[(ch->cs_head + i) & (ch->cs_cap - 1)];
		free(ch->cs);
		ch->cs = nv;
		ch->cs_cap = ncap;
		ch->cs_head = 0;
	}
	s = &ch->cs[(ch->cs_head + ch->cs_len++) & (ch->cs_cap - 1)];
	s->seq = ++ch->confirm_next;
	s->state = CONFIRM_PENDING;
	return s->seq;
}

static struct confirm_slot *confirm_slot(struct channel *ch, uint64_t seq)
{
	struct confirm_slot *front;

	if (ch->cs_len == 0)
		return NULL;
	front = &ch->cs[ch->cs_head];
	if (seq < front->seq || seq - front->seq >= ch->cs_len)
		return NULL;
	return &ch->cs[(ch->cs_head + (size_t)(seq - front->seq)) & (ch->cs_cap - 1)];
}

static void confirm_send(struct channel *ch, uint64_t tag, bool multiple, bool ack)
{
	struct amqp_method m;

	if (ack) {
		m = (struct amqp_method){ .id = AMQP_ID_basic_ack };
		m.u.basic_ack.delivery_tag = tag;
		m.u.basic_ack.multiple = multiple;
	} else {
		m = (struct amqp_method){ .id = AMQP_ID_basic_nack };
		m.u.basic_nack.delivery_tag = tag;
		m.u.basic_nack.multiple = multiple;
		m.u.basic_nack.requeue = false;
	}
	conn_send_method(ch->conn, ch->id, &m);
}

void channel_confirm(struct channel *ch, uint64_t seq, bool ack)
{
	struct confirm_slot *s = confirm_slot(ch, seq);

	if (s == NULL || s->state != CONFIRM_PENDING)
		return;
	s->state = ack ? CONFIRM_ACK : CONFIRM_NACK;
	ch->confirm_flush_pending = true;
	if (ack) {
		ch->stats.n[MS_CONFIRM]++;
		broker.totals.n[MS_CONFIRM]++;
	}
}

void channel_confirm_now(struct channel *ch, uint64_t seq, bool ack)
{
	struct confirm_slot *s;

	channel_confirm_flush(ch); /* what was decided before goes first */
	if ((s = confirm_slot(ch, seq)) == NULL || s->state != CONFIRM_PENDING)
		return;
	if (ch->state == CH_OPEN)
		confirm_send(ch, seq, false, ack);
	s->state = CONFIRM_SENT;
	if (ack) {
		ch->stats.n[MS_CONFIRM]++;
		broker.totals.n[MS_CONFIRM]++;
	}
	channel_confirm_flush(ch); /* pops it when it was at the front */
}

/*
 * Send the decided confirms at the front: runs of the same answer become one multiple. A run
 * stops at a confirm already sent on its own, which is then dropped.
 */
void channel_confirm_flush(struct channel *ch)
{
	struct confirm_slot *s;
	uint64_t last;
	uint8_t state;
	size_t run;

	ch->confirm_flush_pending = false;
	if (ch->state != CH_OPEN)
		return;
	while (ch->cs_len > 0 && (s = &ch->cs[ch->cs_head])->state != CONFIRM_PENDING) {
		state = s->state;
		run = 0;
		last = s->seq;
		while (ch->cs_len > 0 && (s = &ch->cs[ch->cs_head])->state == state) {
			last = s->seq;
			ch->cs_head = (ch->cs_head + 1) & (ch->cs_cap - 1);
			ch->cs_len--;
			run++;
		}
		if (state != CONFIRM_SENT)
			confirm_send(ch, last, run > 1, state == CONFIRM_ACK);
	}
}

void channel_kick_consumers(struct channel *ch)
{
	struct consumer *cons, *first = LIST_FIRST(&ch->consumers), *last = NULL;

	LIST_FOREACH(cons, &ch->consumers, ch_entry)
	{
		broker_kick(cons->queue);
		last = cons;
	}
	/*
	 * The queue kicked first takes the credit an ack freed: the first consumer goes last, so
	 * that a channel-wide prefetch is shared among its queues in turn (as RabbitMQ).
	 */
	if (first != NULL && last != first) {
		LIST_REMOVE(first, ch_entry);
		LIST_INSERT_AFTER(last, first, ch_entry);
	}
}
