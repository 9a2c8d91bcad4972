/*
 * conn_write.c: writing a connection's output. What a direct (plain socket) connection sends is
 * staged, added to its output in one piece and written with one writev once the current callbacks
 * are done (conn_flush_cb), without waiting a turn for the socket to be reported writable; only
 * what the socket does not take is left to libevent. Methods are encoded in place, content is
 * method, header and body frames split at the client's frame_max, large bodies added by reference.
 * Output backpressure: above out_high a connection's consumers wait until it drains to out_low.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "server/proto/conn_private.h"

/* Connections with output to write once the current callbacks are done (see conn_flush_cb). */
static LIST_HEAD(, conn) to_flush = LIST_HEAD_INITIALIZER(to_flush);
static struct event *flush_ev;

/*
 * What a direct connection sends is first put in one staging buffer shared by all connections and
 * added to the connection's output in one piece: when another connection sends, when the stage is
 * full, and before anything reads or writes that output. A run of deliveries to one consumer thus
 * costs one evbuffer_add, not one each. A well-filled stage is not even copied: the output takes
 * the block itself by reference and gives it back to a small free list once it is written.
 */
#define STAGE_CAP (64 * 1024)
#define STAGE_GIVE_MIN (8 * 1024) /* below this, the bytes are copied and the block kept */
#define STAGE_SPARE_MAX 8         /* written blocks kept for reuse */
static uint8_t *stage;
static size_t stage_len;
static struct conn *stage_conn;
static void *stage_spare[STAGE_SPARE_MAX];
static unsigned stage_nspare;
static bool stage_closed; /* at exit: blocks written from now on are freed */

/* Frames are encoded here before they are copied into an output buffer (one loop, one buffer). */
static uint8_t scratch[2 * 131072 + 4096];

static void conn_flush_cb(evutil_socket_t fd, short what, void *arg);

static void stage_block_done(const void *data, size_t len, void *arg)
{
	if (!stage_closed && stage_nspare < STAGE_SPARE_MAX)
		stage_spare[stage_nspare++] = arg;
	else
		free(arg);
}

static void stage_commit(void)
{
	struct evbuffer *out;

	if (stage_conn != NULL && stage_len > 0) {
		out = bufferevent_get_output(stage_conn->bev);
		if (stage_len < STAGE_GIVE_MIN) {
			evbuffer_add(out, stage, stage_len);
		} else {
			evbuffer_add_reference(out, stage, stage_len, stage_block_done, stage);
			stage = stage_nspare > 0 ? stage_spare[--stage_nspare] : NULL;
		}
	}
	stage_len = 0;
	stage_conn = NULL;
}

/* Free the staging blocks (at exit, once every connection is gone). */
static void stage_free(void)
{
	stage_closed = true;
	free(stage);
	stage = NULL;
	while (stage_nspare > 0)
		free(stage_spare[--stage_nspare]);
}

void conn_unstage(struct conn *c)
{
	if (stage_conn == c)
		stage_commit();
}

/* Room for up to n bytes in the stage for c, or NULL: not a direct connection, or n too large. */
static uint8_t *stage_room(struct conn *c, size_t n)
{
	if (!c->direct || n > STAGE_CAP)
		return NULL;
	if (stage_conn != c || stage_len + n > STAGE_CAP)
		stage_commit();
	if (stage == NULL)
		stage = xmalloc(STAGE_CAP);
	stage_conn = c;
	return stage + stage_len;
}

size_t conn_out_len(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (stage_conn == c ? stage_len : 0);
}

void conn_out_add(struct conn *c, const void *p, size_t n)
{
	uint8_t *at = stage_room(c, n);

	if (at != NULL) {
		memcpy(at, p, n);
		stage_len += n;
		return;
	}
	conn_unstage(c);
	evbuffer_add(bufferevent_get_output(c->bev), p, n);
}

/* A direct connection's output is written once the current callbacks are done (conn_flush_cb). */
static void flush_later(struct conn *c)
{
	if (c->flush_queued)
		return;
	c->flush_queued = true;
	LIST_INSERT_HEAD(&to_flush, c, flush_entry);
	event_active(flush_ev, EV_TIMEOUT, 0);
}

/* ---- holding the output for the store ---- */

struct conn_hold {
	struct persist_waiter pw; /* first: persistence hands this back */
	struct conn *c;           /* NULL once the connection is gone */
	LIST_ENTRY(conn_hold) entry;
};

/*
 * The batch is durable, or failed: a failed batch lets the output go too (its waiters, publishers
 * and the like, are told; a master that lost its majority is about to close its connections).
 */
static void hold_done(struct persist_waiter *pw, int status)
{
	struct conn_hold *h = (struct conn_hold *)pw;
	struct conn *c = h->c;

	(void)status;
	if (c == NULL) { /* the connection went first (hold_forget) */
		free(h);
		return;
	}
	LIST_REMOVE(h, entry);
	free(h);
	if (--c->holds > 0 || c->state == CONN_DEAD || c->close_after_flush)
		return;
	if (c->direct)
		flush_later(c);
	else
		bufferevent_enable(c->bev, EV_WRITE);
}

void conn_hold(struct conn *c)
{
	uint64_t gen = persist_open_gen();
	struct conn_hold *h;

	if (gen == 0 || c->hold_gen == gen || c->state == CONN_DEAD || c->close_after_flush)
		return;
	h = xcalloc(1, sizeof(*h));
	h->pw.done = hold_done;
	if (!persist_wait(&h->pw)) {
		free(h);
		return;
	}
	h->c = c;
	LIST_INSERT_HEAD(&c->holdings, h, entry);
	c->hold_gen = gen;
	if (c->holds++ > 0)
		return;
	/* A direct connection's libevent writes only what the socket did not take: off as well. */
	bufferevent_disable(c->bev, EV_WRITE);
	conn_unstage(c);
	c->hold_from = evbuffer_get_length(bufferevent_get_output(c->bev));
}

/*
 * What the output holds past hold_from goes (a TLS connection's is still plain text: its
 * bufferevent encrypts only while writing is on, and conn_hold turned it off).
 */
void conn_drop_held(struct conn *c)
{
	struct evbuffer *out, *keep;

	if (c->holds == 0)
		return;
	conn_unstage(c);
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) <= c->hold_from)
		return;
	keep = evbuffer_new();
	/*
	 * A plain socket's bufferevent keeps its output's start frozen outside its own writes
	 * (conn_write_now); TLS's does not freeze it, and accepts the moved start on a retried write
	 * (tls_wrap's SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
	 */
	if (c->direct)
		evbuffer_unfreeze(out, 1);
	evbuffer_remove_buffer(out, keep, c->hold_from);
	evbuffer_drain(out, evbuffer_get_length(out));
	evbuffer_add_buffer(out, keep);
	if (c->direct)
		evbuffer_freeze(out, 1);
	evbuffer_free(keep);
}

/* The connection goes: its holds end with nobody to release. */
static void hold_forget(struct conn *c)
{
	struct conn_hold *h;

	while ((h = LIST_FIRST(&c->holdings)) != NULL) {
		LIST_REMOVE(h, entry);
		h->c = NULL;
	}
	c->holds = 0;
}

void conn_write_attach(struct conn *c)
{
	if (flush_ev == NULL)
		flush_ev = event_new(bufferevent_get_base(c->bev), -1, 0, conn_flush_cb, NULL);
	bufferevent_setwatermark(c->bev, EV_WRITE, broker.cfg.out_low, 0);
	/* libevent writes 4 KiB at a time by default: one syscall per 4 KiB frame. */
	bufferevent_set_max_single_write(c->bev, 256 * 1024);
	/* A new bufferevent starts with writing enabled; a direct one writes itself. */
	if (c->direct)
		bufferevent_disable(c->bev, EV_WRITE);
	else
		bufferevent_enable(c->bev, EV_WRITE);
}

void conn_write_forget(struct conn *c)
{
	hold_forget(c);
	if (c->flush_queued) {
		LIST_REMOVE(c, flush_entry);
		c->flush_queued = false;
	}
}

void conn_write_free(void)
{
	if (flush_ev != NULL)
		event_free(flush_ev);
	flush_ev = NULL;
	stage_free();
}

bool conn_output_full(struct conn *c)
{
	return c->output_full;
}

static void conn_wrote(struct conn *c)
{
	c->sent = true;
	if (!c->output_full && conn_out_len(c) > broker.cfg.out_high)
		c->output_full = true;
	if (c->direct)
		flush_later(c);
}

/*
 * Write a plain connection's output now, without waiting a turn of the loop for the socket to be
 * reported writable (and without the epoll_ctl calls that would take): what the socket does not
 * take is left to libevent, whose write callback turns the direct writes back on once it is out.
 * True when everything went.
 */
bool conn_write_now(struct conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int n;

	conn_unstage(c);
	if (evbuffer_get_length(out) == 0)
		return true;
	/* The bufferevent keeps its output's start frozen outside its own writes. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write(out, bufferevent_getfd(c->bev));
	evbuffer_freeze(out, 1);
	if (n > 0) {
		c->io.n[IO_SEND_OCT] += (uint64_t)n;
		c->io.n[IO_SEND_CNT]++;
	}
	if (n >= 0 && evbuffer_get_length(out) == 0)
		return true;
	/* A full socket waits for writability; an error is reported by libevent's write. */
	bufferevent_enable(c->bev, EV_WRITE);
	return false;
}

static void conn_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	stage_commit();
	while ((c = LIST_FIRST(&to_flush)) != NULL) {
		LIST_REMOVE(c, flush_entry);
		c->flush_queued = false;
		/* Once the output is out, what libevent would call. Held output waits (hold_done). */
		if (c->state != CONN_DEAD && !c->close_after_flush && c->holds == 0 &&
		    conn_write_now(c))
			conn_write_cb(c->bev, c);
	}
}

void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	size_t len = conn_out_len(c);
	struct channel *ch;

	if (c->lingering)
		return; /* the client closes */
	if (c->close_after_flush) {
		if (len == 0)
			conn_kill(c, false);
		return;
	}
	if (c->direct && len == 0)
		bufferevent_disable(bev, EV_WRITE);
	if (c->output_full && len <= broker.cfg.out_low) {
		c->output_full = false;
		LIST_FOREACH(ch, &c->channels, entry)
		channel_kick_consumers(ch);
	}
	if ((c->paused & CONN_PAUSE_OUTPUT) && len <= broker.cfg.out_low)
		conn_unpause(c, CONN_PAUSE_OUTPUT);
}

void conn_send_method(struct conn *c, uint16_t channel, const struct amqp_method *m)
{
	int n;

	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	n = amqp_method_frame_encode(channel, m, scratch, sizeof(scratch));
	if (n < 0) {
		log_error(
		    "%s: cannot encode %s: %s", c->peer, amqp_method_str(m->id), amqp_strerror(n));
		return;
	}
	conn_out_add(c, scratch, (size_t)n);
	conn_wrote(c);
}

void conn_send_raw(struct conn *c, const void *p, size_t n)
{
	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	conn_out_add(c, p, n);
	conn_wrote(c);
}

static void unref_message_cb(const void *data, size_t len, void *arg)
{
	message_unref(arg);
}

/* Bodies larger than this are added to the output by reference, not copied. */
#define BODY_COPY_MAX 4096

/* conn_send_content with these properties (msg's own, or a copy with a delivery count). */
static void send_content(struct conn *c, uint16_t channel, const struct amqp_method *m,
    const struct message *msg, struct amqp_bytes props)
{
	struct evbuffer *out;
	size_t off = 0, chunk, maxchunk, body = (size_t)msg->body_size, cap, small;
	uint8_t *buf;
	int n, h;

	out = bufferevent_get_output(c->bev);
	maxchunk = c->frame_max - AMQP_FRAME_OVERHEAD;
	/* A small body goes in the same piece as the method and the header. */
	small = body <= BODY_COPY_MAX && body <= maxchunk ? body + AMQP_FRAME_OVERHEAD : 0;
	/* Methods with content carry at most three shortstrs and a few numbers: under 1 KiB. */
	cap = 2 * AMQP_FRAME_OVERHEAD + 1024 + 12 + props.len + small;
	if ((buf = stage_room(c, cap)) == NULL) {
		buf = scratch;
		cap = sizeof(scratch);
	}
	n = m->id == AMQP_ID_basic_deliver
	    ? amqp_deliver_frame_encode(channel, &m->u.basic_deliver, buf, cap)
	    : amqp_method_frame_encode(channel, m, buf, cap);
	if (n < 0) {
		log_error(
		    "%s: cannot encode %s: %s", c->peer, amqp_method_str(m->id), amqp_strerror(n));
		return;
	}
	h = amqp_content_header_encode(AMQP_BASIC_CLASS, msg->body_size, props,
	    buf + n + AMQP_FRAME_HEADER_LEN, cap - (size_t)n - AMQP_FRAME_OVERHEAD);
	if (h < 0) {
		log_error("%s: cannot encode a content header: %s", c->peer, amqp_strerror(h));
		return;
	}
	amqp_frame_put_header(buf + n, AMQP_FRAME_HEADER, channel, (uint32_t)h);
	n += h + AMQP_FRAME_OVERHEAD;
	if (small > 0 && body > 0) {
		memcpy(buf + n + AMQP_FRAME_HEADER_LEN, msg->body, body);
		amqp_frame_put_header(buf + n, AMQP_FRAME_BODY, channel, (uint32_t)body);
		n += (int)body + AMQP_FRAME_OVERHEAD;
	}
	if (buf == scratch) {
		conn_unstage(c);
		evbuffer_add(out, scratch, (size_t)n);
	} else {
		stage_len += (size_t)n;
	}
	if (small > 0) {
		conn_wrote(c);
		return;
	}
	/* Large bodies are added by reference, after what is staged. */
	conn_unstage(c);
	while (off < body) {
		uint8_t hdr[AMQP_FRAME_HEADER_LEN + 1];
		chunk = body - off < maxchunk ? body - off : maxchunk;
		amqp_frame_put_header(hdr, AMQP_FRAME_BODY, channel, 0);
		amqp_store_u32(hdr + 3, (uint32_t)chunk); /* the size, with no payload behind it */
		evbuffer_add(out, hdr, AMQP_FRAME_HEADER_LEN);
		/* The output holds a reference on the message until the bytes are written. */
		message_ref((struct message *)msg);
		evbuffer_add_reference(out, msg->body + off, chunk, unref_message_cb, (void *)msg);
		evbuffer_add(out, (const uint8_t[]){ AMQP_FRAME_END }, 1);
		off += chunk;
	}
	conn_wrote(c);
}

void conn_send_content(struct conn *c, uint16_t channel, const struct amqp_method *m,
    const struct message *msg, uint32_t delivery_count)
{
	struct amqp_bytes props = { msg->props, msg->props_len };
	uint8_t *counted = NULL;

	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	/* A returned message says how often in its headers (re-encoded here, the message as it is). */
	if (delivery_count > 0 &&
	    (counted = message_props_with_count(msg, delivery_count, &props.len)) != NULL)
		props.ptr = counted;
	send_content(c, channel, m, msg, props);
	if (counted != NULL) /* not even a call on the common path */
		free(counted);
}
