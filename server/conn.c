/*
 * conn.c: client connections. Reads frames off the socket (the size checked against frame_max from
 * the 7-byte header, before the payload is waited for), hands channel-0 methods to
 * handle_connection.c and the rest to their channels, writes frames, and runs the connection's
 * timer: the handshake timeout, heartbeats in both directions, and the wait for close-ok. A
 * connection is never freed inside its own callback: it is marked dead and freed on the next turn
 * of the loop.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/server.h"

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);
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

/* c's staged bytes join its output (before the output is read, written or added to directly). */
static void conn_unstage(struct conn *c)
{
	if (stage_conn == c)
		stage_commit();
}

/* Room for up to n bytes in the stage for c, or NULL: not a direct connection, or n too large. */
static uint8_t *stage_room(struct conn *c, size_t n)
{
	if (!c->direct_write || n > STAGE_CAP)
		return NULL;
	if (stage_conn != c || stage_len + n > STAGE_CAP)
		stage_commit();
	if (stage == NULL)
		stage = xmalloc(STAGE_CAP);
	stage_conn = c;
	return stage + stage_len;
}

/* Bytes waiting to be written, staged ones included. */
static size_t conn_out_len(struct conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (stage_conn == c ? stage_len : 0);
}

/* Append bytes to the output, through the stage where they fit. */
static void conn_out_add(struct conn *c, const void *p, size_t n)
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

/* Frames are encoded here before they are copied into an output buffer (one loop, one buffer). */
static uint8_t scratch[2 * 131072 + 4096];

#define CLOSE_TIMEOUT_MS 3000
/* After close-ok, close-oks to further closes wait in the output up to this (a client that sends
 * closes and never reads gets no more). */
#define LINGER_OUTPUT_MAX 65536
/* Output above which a connection's input is no longer read, until the output drains. */
#define READ_PAUSE_OUTPUT (4 * broker.cfg.out_high)
/*
 * Bytes taken from a plain socket at once: from READ_MIN, doubling while reads fill what was
 * offered, up to READ_MAX, and halving again when they come back small. A busy publisher is read
 * in large steps; an idle or trickling connection (or one that sends half a frame and stops)
 * holds a small buffer.
 */
#define READ_MIN 4096
#define READ_MAX (256 * 1024)

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static void conn_flush_cb(evutil_socket_t fd, short what, void *arg);
static void conn_sock_read_cb(evutil_socket_t fd, short what, void *arg);
static bool conn_write_now(struct conn *c);

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
	}
	return false;
}

static void conn_arm_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

/* Watch the socket for input, or stop (the input buffer keeps what was read). */
static void conn_read_enable(struct conn *c, bool on)
{
	if (c->rev == NULL) {
		if (on)
			bufferevent_enable(c->bev, EV_READ);
		else
			bufferevent_disable(c->bev, EV_READ);
	} else if (on) {
		event_add(c->rev, NULL); /* no system call when it is already added */
	} else {
		event_del(c->rev);
	}
}

struct conn *conn_attach(struct bufferevent *bev, const char *peer, bool loopback, bool direct)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->loopback = loopback;
	c->bev = bev;
	c->state = CONN_HANDSHAKE;
	c->frame_max = AMQP_FRAME_MIN_SIZE;
	c->channel_max = broker.cfg.channel_max;
	hmap_init(&c->high_channels);
	LIST_INIT(&c->channels);
	LIST_INIT(&c->exclusive_queues);
	c->last_recv = c->last_send = now_ms();
	c->timer = evtimer_new(bufferevent_get_base(bev), conn_timer_cb, c);
	if (flush_ev == NULL)
		flush_ev = event_new(bufferevent_get_base(bev), -1, 0, conn_flush_cb, NULL);
	LIST_INSERT_HEAD(&conns, c, entry);
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, broker.cfg.out_low, 0);
	/* libevent reads and writes 4 KiB at a time by default: one syscall per 4 KiB frame. */
	bufferevent_set_max_single_read(c->bev, 256 * 1024);
	bufferevent_set_max_single_write(c->bev, 256 * 1024);
	/*
	 * A direct connection reads its socket itself (conn_sock_read_cb) and is written at the end
	 * of each batch of callbacks (conn_flush_cb); libevent only writes what the socket would not
	 * take at once.
	 */
	c->direct_write = direct;
	c->read_size = READ_MIN;
	if (direct) {
		/* A new bufferevent starts with writing enabled. */
		bufferevent_disable(c->bev, EV_WRITE);
		c->rev = event_new(bufferevent_get_base(bev), bufferevent_getfd(bev),
		    EV_READ | EV_PERSIST, conn_sock_read_cb, c);
	}
	conn_read_enable(c, true);
	if (!direct)
		bufferevent_enable(c->bev, EV_WRITE);
	conn_arm_timer(c, (uint64_t)broker.cfg.handshake_timeout * 1000);
	return c;
}

void conn_accept(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls)
{
	struct bufferevent *bev;
	char peer[128];

	server_format_addr(sa, peer, sizeof(peer));
	if (tls) {
		tls_accept(base, fd, peer, is_loopback(sa));
		return;
	}
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_error("%s: cannot create a buffer for the connection", peer);
		evutil_closesocket(fd);
		return;
	}
	conn_attach(bev, peer, is_loopback(sa), true);
	log_info("%s: accepted connection", peer);
}

/* ---- channels ---- */

#define LOW_CHANNELS 256

struct channel *conn_channel(struct conn *c, uint16_t id)
{
	if (id < LOW_CHANNELS)
		return c->low_channels != NULL ? c->low_channels[id] : NULL;
	return hmap_get(&c->high_channels, &id, sizeof(id));
}

void conn_channel_add(struct conn *c, struct channel *ch)
{
	if (ch->id < LOW_CHANNELS) {
		if (c->low_channels == NULL)
			c->low_channels = xcalloc(LOW_CHANNELS, sizeof(*c->low_channels));
		c->low_channels[ch->id] = ch;
	} else {
		hmap_put(&c->high_channels, &ch->id, sizeof(ch->id), ch);
	}
	LIST_INSERT_HEAD(&c->channels, ch, entry);
	c->open_channels++;
}

void conn_channel_remove(struct conn *c, struct channel *ch)
{
	if (ch->id < LOW_CHANNELS)
		c->low_channels[ch->id] = NULL;
	else
		hmap_del(&c->high_channels, &ch->id, sizeof(ch->id));
	LIST_REMOVE(ch, entry);
	c->open_channels--;
}

/*
 * A channel the broker closed (with an error) and the client acknowledged: frames for it that
 * are already on their way are dropped, not a connection error. A client may race its close-ok
 * with a publish from another thread (streadway/amqp's issue 46): against a broker that answers
 * fast the publish lands after the close-ok. The last four such numbers are remembered, until
 * they are opened again.
 */
void conn_note_broker_closed(struct conn *c, uint16_t id)
{
	c->broker_closed[c->broker_closed_next++ % 4] = id;
}

/* Whether frames for channel id, which is not open, are late ones to drop (see above). */
static bool conn_late_frame(struct conn *c, uint16_t id, bool open)
{
	unsigned i;

	for (i = 0; i < 4; i++) {
		if (c->broker_closed[i] == id) {
			if (open)
				c->broker_closed[i] = 0;
			return !open;
		}
	}
	return false;
}

/* ---- teardown ---- */

/* Release what the connection holds in the broker: channels, exclusive queues. */
static void conn_release(struct conn *c)
{
	struct channel *ch;
	struct queue *q;

	while ((ch = LIST_FIRST(&c->channels)) != NULL) {
		conn_channel_remove(c, ch);
		channel_free(ch);
	}
	while ((q = LIST_FIRST(&c->exclusive_queues)) != NULL)
		queue_delete(q); /* takes it off the list */
}

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	free(c->low_channels);
	hmap_clear(&c->high_channels);
	free(c->user);
	free(c);
}

/* Forget the connection's pending login and queue load, and its place in the vhost's counts. */
static void conn_unaccount(struct conn *c)
{
	if (c->login_pending)
		access_cancel(c);
	c->login_pending = false;
	if (c->load_wait != NULL)
		queue_forget_waiter(c->load_wait, c);
	c->load_wait = NULL;
	if (c->counted) {
		c->vhost->nconns--;
		access_user_conn(c, -1);
		c->counted = false;
	}
}

/* Close the socket now (after whatever is already written is flushed, if flush). */
static void conn_kill(struct conn *c, bool flush)
{
	if (c->state == CONN_DEAD)
		return;
	if (flush && c->direct_write)
		conn_write_now(c); /* most often the whole close goes out at once */
	conn_unstage(c);           /* written above, or dropped with the connection */
	if (flush && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		c->close_after_flush = true;
		conn_read_enable(c, false);
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		/* libevent writes the rest and calls conn_write_cb when it is out. */
		bufferevent_enable(c->bev, EV_WRITE);
		conn_release(c);
		conn_arm_timer(c, CLOSE_TIMEOUT_MS);
		return;
	}
	c->state = CONN_DEAD;
	if (c->flush_queued) {
		LIST_REMOVE(c, flush_entry);
		c->flush_queued = false;
	}
	conn_unaccount(c);
	conn_release(c);
	evtimer_del(c->timer);
	event_free(c->timer);
	c->timer = NULL;
	if (c->rev != NULL)
		event_free(c->rev);
	c->rev = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
	LIST_REMOVE(c, entry);
	if (!c->close_logged)
		log_info("%s: connection closed", c->peer);
	event_base_once(broker.base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
	if (broker.stopping && LIST_EMPTY(&conns))
		event_base_loopexit(broker.base, NULL);
}

void conn_close_after_flush(struct conn *c)
{
	conn_kill(c, true);
}

/*
 * The client's connection.close has been answered (the close-ok is in the output): as RabbitMQ,
 * leave closing the socket to the client. Closing it first with input still unread, such as a
 * second connection.close from another of the client's threads, would make the kernel send a
 * reset, which can reach the client before it has read the close-ok. Everything the connection
 * holds in the broker goes now; its input is read and dropped until the client closes, for at
 * most CLOSE_TIMEOUT_MS.
 */
void conn_linger(struct conn *c)
{
	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	conn_release(c);
	conn_unaccount(c);
	c->close_after_flush = c->lingering = true;
	c->blocked = c->read_paused = false;
	evtimer_del(c->timer);
	conn_arm_timer(c, CLOSE_TIMEOUT_MS);
	if (c->direct_write)
		conn_write_now(c); /* the flush callback passes a closing connection by */
	conn_read_enable(c, true);
}

void conn_resume_reading(struct conn *c)
{
	if (c->state == CONN_DEAD || c->close_after_flush || c->blocked || c->read_paused ||
	    c->login_pending || c->load_wait != NULL)
		return;
	c->last_recv = now_ms();
	conn_read_enable(c, true);
	/* Inside the read callback, its loop goes on by itself; elsewhere, frames may be waiting. */
	if (!c->in_read)
		conn_read_cb(c->bev, c);
}

unsigned conn_access_changed(void)
{
	struct conn *c, *next;
	unsigned n = 0;

	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->state == CONN_OPEN && !c->close_after_flush && !access_still_allowed(c)) {
			conn_error(c, AMQP_CONNECTION_FORCED, 0,
			    "user '%s' may no longer use vhost '%s'", c->user, c->vhost->name);
			n++;
		}
	}
	return n;
}

/* ---- output ---- */

bool conn_output_full(struct conn *c)
{
	return c->output_full;
}

static void conn_wrote(struct conn *c)
{
	c->sent = true;
	if (!c->output_full && conn_out_len(c) > broker.cfg.out_high)
		c->output_full = true;
	if (c->direct_write && !c->flush_queued) {
		c->flush_queued = true;
		LIST_INSERT_HEAD(&to_flush, c, flush_entry);
		event_active(flush_ev, EV_TIMEOUT, 0);
	}
}

/*
 * Write a plain connection's output now, without waiting a turn of the loop for the socket to be
 * reported writable (and without the epoll_ctl calls that would take): what the socket does not
 * take is left to libevent, whose write callback turns the direct writes back on once it is out.
 * True when everything went.
 */
static bool conn_write_now(struct conn *c)
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
		/* Once the output is out, what libevent would call. */
		if (c->state != CONN_DEAD && !c->close_after_flush && conn_write_now(c))
			conn_write_cb(c->bev, c);
	}
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

void conn_send_content(
    struct conn *c, uint16_t channel, const struct amqp_method *m, const struct message *msg)
{
	struct evbuffer *out;
	size_t off = 0, chunk, maxchunk, body = (size_t)msg->body_size, cap, small;
	uint8_t *buf;
	int n, h;

	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	out = bufferevent_get_output(c->bev);
	maxchunk = c->frame_max - AMQP_FRAME_OVERHEAD;
	/* A small body goes in the same piece as the method and the header. */
	small = body <= BODY_COPY_MAX && body <= maxchunk ? body + AMQP_FRAME_OVERHEAD : 0;
	/* Methods with content carry at most three shortstrs and a few numbers: under 1 KiB. */
	cap = 2 * AMQP_FRAME_OVERHEAD + 1024 + 12 + msg->props_len + small;
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
	h = amqp_content_header_encode(AMQP_BASIC_CLASS, msg->body_size,
	    (struct amqp_bytes){ msg->props, msg->props_len }, buf + n + AMQP_FRAME_HEADER_LEN,
	    cap - (size_t)n - AMQP_FRAME_OVERHEAD);
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

static void conn_send_close(struct conn *c, int code, const char *text, uint32_t method_id)
{
	struct amqp_method m = { .id = AMQP_ID_connection_close };

	m.u.connection_close.reply_code = (uint16_t)code;
	m.u.connection_close.reply_text = amqp_cstr(text);
	if (m.u.connection_close.reply_text.len > 255)
		m.u.connection_close.reply_text.len = 255;
	m.u.connection_close.class_id = (uint16_t)(method_id >> 16);
	m.u.connection_close.method_id = (uint16_t)method_id;
	conn_send_method(c, 0, &m);
}

const char *conn_state_name(enum conn_state s)
{
	switch (s) {
	case CONN_HANDSHAKE:
	case CONN_START:
	case CONN_SECURE: return "starting";
	case CONN_TUNE: return "tuning";
	case CONN_OPEN_WAIT: return "opening";
	case CONN_OPEN: return "running";
	case CONN_CLOSING:
	case CONN_DEAD: return "closing";
	}
	return "unknown";
}

void conn_error(struct conn *c, int code, uint32_t method_id, const char *fmt, ...)
{
	char text[512];
	int n;
	va_list ap;

	if (c->state == CONN_DEAD || c->state == CONN_CLOSING || c->close_after_flush)
		return;
	n = snprintf(text, sizeof(text), "%s - ", amqp_reply_name(code));
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (c->state < CONN_OPEN_WAIT) {
		/* Before tune-ok the client is not trusted with an explanation: as RabbitMQ, close. */
		log_warn("%s: closing connection during the handshake (%s): %d %s", c->peer,
		    conn_state_name(c->state), code, text);
		conn_kill(c, false);
		return;
	}
	log_warn("%s: closing connection: %d %s", c->peer, code, text);
	conn_send_close(c, code, text, method_id);
	c->state = CONN_CLOSING;
	conn_release(c);
	evtimer_del(c->timer);
	conn_arm_timer(c, CLOSE_TIMEOUT_MS);
}

void conn_close_all(int reply_code, const char *reason)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->lingering)
			conn_kill(c, false);
		else if (c->state == CONN_OPEN)
			conn_error(c, reply_code, 0, "%s", reason);
		else if (c->state != CONN_CLOSING) {
			conn_kill(c, false);
		}
	}
}

bool conn_none_left(void)
{
	return LIST_EMPTY(&conns);
}

void conn_destroy_all(void)
{
	while (!LIST_EMPTY(&conns))
		conn_kill(LIST_FIRST(&conns), false);
	if (flush_ev != NULL)
		event_free(flush_ev);
	flush_ev = NULL;
	stage_free();
}

/* ---- flow control ---- */

/* Tell a client that advertised connection.blocked whether it is blocked. */
static void conn_notify_blocked(struct conn *c, bool block)
{
	struct amqp_method m;

	if (!c->caps.blocked || block == c->block_sent || c->state != CONN_OPEN)
		return;
	if (block) {
		m = (struct amqp_method){ .id = AMQP_ID_connection_blocked };
		m.u.connection_blocked.reason =
		    amqp_cstr((broker.alarms & ALARM_MEMORY) ? "low on memory"
		            : (broker.alarms & ALARM_DISK)   ? "low on disk"
		                                             : "store failed");
	} else {
		m = (struct amqp_method){ .id = AMQP_ID_connection_unblocked };
	}
	conn_send_method(c, 0, &m);
	c->block_sent = block;
}

/*
 * Stop reading at a publish while the memory alarm is on (as RabbitMQ, a connection that only
 * consumes and acks keeps going), or resume.
 */
void conn_set_blocked(struct conn *c, bool block)
{
	if (c->state == CONN_DEAD || block == c->blocked)
		return;
	c->blocked = block;
	if (block) {
		conn_read_enable(c, false);
		conn_notify_blocked(c, true);
		log_info("%s: blocked at a publish: resource alarm", c->peer);
		return;
	}
	conn_resume_reading(c);
}

void conn_mem_alarm(bool on)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (on) {
			if (c->publisher)
				conn_notify_blocked(c, true);
			continue;
		}
		conn_notify_blocked(c, false);
		conn_set_blocked(c, false);
	}
}

static bool is_publish(const struct amqp_frame *f)
{
	return amqp_peek_method_id(f) == AMQP_ID_basic_publish;
}

/* ---- input ---- */

/* Dispatch one whole frame. */
static void conn_handle_frame(struct conn *c, const struct amqp_frame *f)
{
	struct amqp_method m;
	struct channel *ch;
	int r;

	if (f->type == AMQP_FRAME_HEARTBEAT)
		return;
	if (c->state == CONN_CLOSING) {
		/* After connection.close only close and close-ok count. */
		if (f->channel != 0 || f->type != AMQP_FRAME_METHOD ||
		    amqp_method_decode(f->payload, f->size, &m) != 0)
			return;
		if (m.id == AMQP_ID_connection_close_ok) {
			conn_kill(c, false);
		} else if (m.id == AMQP_ID_connection_close) {
			m = (struct amqp_method){ .id = AMQP_ID_connection_close_ok };
			conn_send_method(c, 0, &m);
		}
		return;
	}
	if (f->channel == 0) {
		if (f->type != AMQP_FRAME_METHOD) {
			conn_error(c, AMQP_UNEXPECTED_FRAME, 0,
			    "expected method frame on channel 0, got frame type %u", f->type);
			return;
		}
		if ((r = amqp_method_decode(f->payload, f->size, &m)) != 0) {
			conn_error(c, amqp_err_reply_code(r), m.id,
			    "cannot decode %s on channel 0: %s", amqp_method_str(m.id),
			    amqp_strerror(r));
			return;
		}
		if (amqp_method_class(m.id) != 10) {
			conn_error(c, AMQP_CHANNEL_ERROR, m.id,
			    "unexpected method in connection state %s", conn_state_name(c->state));
			return;
		}
		handle_connection(c, &m);
		return;
	}
	if (c->state != CONN_OPEN) {
		conn_error(c, AMQP_UNEXPECTED_FRAME, 0,
		    "frame on channel %u before connection.open", f->channel);
		return;
	}

	ch = conn_channel(c, f->channel);
	if (ch == NULL) {
		if (conn_late_frame(c, f->channel, amqp_peek_method_id(f) == AMQP_ID_channel_open))
			return;
		if (f->type == AMQP_FRAME_METHOD &&
		    (r = amqp_method_decode(f->payload, f->size, &m)) == 0 &&
		    m.id == AMQP_ID_channel_open) {
			/* As RabbitMQ: channel_max limits how many are open, not their numbers. */
			if (c->channel_max != 0 && c->open_channels >= c->channel_max) {
				conn_error(c, AMQP_NOT_ALLOWED, 0,
				    "number of channels opened (%u) has reached the negotiated "
				    "channel_max (%u)",
				    c->open_channels, c->channel_max);
				return;
			}
			channel_open(c, f->channel);
			return;
		}
		if (f->type == AMQP_FRAME_METHOD && r != 0) {
			conn_error(c, amqp_err_reply_code(r), m.id, "cannot decode %s: %s",
			    amqp_method_str(m.id), amqp_strerror(r));
			return;
		}
		if (f->type != AMQP_FRAME_METHOD) {
			conn_error(c, AMQP_UNEXPECTED_FRAME, 0,
			    "expected method frame, got non method frame instead");
			return;
		}
		conn_error(c, AMQP_CHANNEL_ERROR, m.id, "expected 'channel.open'");
		return;
	}
	channel_handle_frame(ch, f);
}

/*
 * A direct connection's socket is readable: take up to its read size at once into the input
 * buffer (libevent 2.1 reads at most 4 KiB per readiness, each after a FIONREAD), so that a turn
 * handles a whole burst and its deliveries go out in one write. A connection that fed a long
 * queue in its last batch takes READ_MIN: a natural brake that leaves the consumers their share
 * of the loop (Warren has no credit flow otherwise).
 */
static void conn_sock_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t want = c->feeds_long_queue ? READ_MIN : c->read_size;
	struct evbuffer_iovec v;
	ssize_t n = -1;

	/* The bufferevent keeps its input's end frozen outside its own reads. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_reserve_space(in, (ev_ssize_t)want, &v, 1) >= 1) {
		n = recv(fd, v.iov_base, v.iov_len < want ? v.iov_len : want, 0);
		v.iov_len = n > 0 ? (size_t)n : 0;
		evbuffer_commit_space(in, &v, 1);
	}
	evbuffer_freeze(in, 0);
	if (n == 0) {
		conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_EOF, c);
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		conn_event_cb(c->bev, BEV_EVENT_READING | BEV_EVENT_ERROR, c);
		return;
	}
	if ((size_t)n == want && c->read_size < READ_MAX)
		c->read_size *= 2;
	else if ((size_t)n < c->read_size / 4 && c->read_size > READ_MIN)
		c->read_size /= 2;
	conn_read_cb(c->bev, c);
}

/* A frame that cannot be read: the error, then the connection closes once it is written. */
static void conn_bad_frame(struct conn *c, int r, const uint8_t *hdr)
{
	if (r == AMQP_E_FRAME_SIZE)
		conn_error(c, AMQP_FRAME_ERROR, 0, "frame size %u exceeds frame_max %u",
		    amqp_peek_frame_size(hdr) + AMQP_FRAME_OVERHEAD, c->frame_max);
	else
		conn_error(c, amqp_err_reply_code(r), 0, "%s", amqp_strerror(r));
	/*
	 * As RabbitMQ, the client is left to read the close: its input is dropped (frame by frame
	 * while the stream can still be followed) until its close-ok, its own close of the socket,
	 * or CLOSE_TIMEOUT_MS. Closing at once, with the rest of an oversized frame unread, would
	 * reset the connection under the close (the Java client's FrameMax test saw a broken pipe).
	 */
	if (c->state == CONN_CLOSING) {
		c->linger_error = true;
		conn_linger(c);
	}
}

/* Whether the connection takes another frame now. */
static bool conn_reading(const struct conn *c)
{
	return c->state != CONN_DEAD && !c->close_after_flush && !c->blocked && !c->read_paused &&
	    !c->login_pending && c->load_wait == NULL;
}

/*
 * Handle one whole frame; false when it stays in the input: a publish held by an alarm, or a
 * basic.get waiting for its queue to read ahead (handled again afterwards), or the connection died.
 */
static bool conn_take_frame(struct conn *c, const struct amqp_frame *f)
{
	if (broker.alarms != 0 && c->state == CONN_OPEN && is_publish(f)) {
		conn_set_blocked(c, true); /* this publish waits in the buffer */
		return false;
	}
	conn_handle_frame(c, f);
	if (c->state == CONN_DEAD)
		return false;
	if (c->load_wait != NULL) {
		conn_read_enable(c, false);
		return false;
	}
	return true;
}

/*
 * A basic.publish followed, in the same chunk, by its content header and its one body frame: the
 * three are handed to the channel together (channel_publish_frames), which builds the message
 * straight from them. Returns the bytes of the header and body frames so taken, or 0 to go frame
 * by frame (anything unusual is left to that path, which reports it).
 */
static size_t conn_take_publish(
    struct conn *c, const struct amqp_frame *f, const uint8_t *p, size_t len)
{
	struct amqp_frame h, b;
	struct channel *ch;
	size_t used_h, used_b;

	if (c->state != CONN_OPEN || broker.alarms != 0 ||
	    amqp_frame_parse(p, len, c->frame_max, &h, &used_h) != 0 ||
	    h.type != AMQP_FRAME_HEADER || h.channel != f->channel ||
	    amqp_frame_parse(p + used_h, len - used_h, c->frame_max, &b, &used_b) != 0 ||
	    b.type != AMQP_FRAME_BODY || b.channel != f->channel ||
	    (ch = conn_channel(c, f->channel)) == NULL || !channel_publish_frames(ch, f, &h, &b))
		return 0;
	return used_h + used_b;
}

/*
 * Handle the whole frames at the start of the input's first chunk, in place, and drain them at
 * once: 1 when some were, 0 when the first frame is not whole there, -1 to stop reading.
 */
static int conn_take_frames(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	struct amqp_frame f;
	const uint8_t *p;
	size_t off = 0, used, n;
	bool stop = false;
	int r;

	if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
		return 0;
	p = v.iov_base;
	while (v.iov_len - off >= AMQP_FRAME_HEADER_LEN) {
		r = amqp_frame_parse(p + off, v.iov_len - off, c->frame_max, &f, &used);
		if (r == AMQP_E_NEED_MORE)
			break;
		if (r != 0) {
			conn_bad_frame(c, r, p + off);
			if (c->state != CONN_DEAD && off > 0)
				evbuffer_drain(
				    in, off); /* what was handled; the rest is the linger's */
			return -1;
		}
		if (is_publish(&f) &&
		    (n = conn_take_publish(c, &f, p + off + used, v.iov_len - off - used)) > 0) {
			off += used + n;
		} else if (!conn_take_frame(c, &f)) {
			stop = true;
			break;
		} else {
			off += used;
		}
		/* The caller's loop sees to a paused or a full connection. */
		if (!conn_reading(c) || (c->output_full && conn_out_len(c) > READ_PAUSE_OUTPUT))
			break;
	}
	if (c->state == CONN_DEAD)
		return -1;
	if (off > 0)
		evbuffer_drain(in, off);
	return stop ? -1 : off > 0;
}

/*
 * Input while lingering: after the client's connection.close was answered, as RabbitMQ, each
 * further connection.close gets a close-ok (a client's other threads may each have sent one);
 * after a broken frame, the client's close-ok closes the socket. Everything else is dropped,
 * oversized frames byte by byte as they come.
 */
static void conn_linger_input(struct conn *c, struct evbuffer *in)
{
	static const uint8_t close_ok[] = { AMQP_FRAME_METHOD, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51,
		AMQP_FRAME_END };
	uint8_t hdr[AMQP_FRAME_HEADER_LEN];
	struct amqp_frame f;
	const uint8_t *p;
	size_t len, need;
	uint32_t id;
	int r;

	for (;;) {
		len = evbuffer_get_length(in);
		if (c->linger_skip > 0) { /* the rest of an oversized frame */
			need = len < c->linger_skip ? len : c->linger_skip;
			evbuffer_drain(in, need);
			c->linger_skip -= (uint32_t)need;
			len -= need;
			if (c->linger_skip > 0)
				return;
		}
		if (len < sizeof(hdr))
			return;
		evbuffer_copyout(in, hdr, sizeof(hdr));
		r = amqp_frame_parse(hdr, sizeof(hdr), c->frame_max, &f, &need);
		if (r == AMQP_E_FRAME_SIZE) {
			uint32_t size = amqp_peek_frame_size(hdr);
			c->linger_skip = size > UINT32_MAX - AMQP_FRAME_OVERHEAD
			    ? UINT32_MAX
			    : size + AMQP_FRAME_OVERHEAD;
			continue;
		}
		if (r != AMQP_E_NEED_MORE) {
			evbuffer_drain(in, len); /* not a frame: the stream cannot be followed */
			return;
		}
		if (len < need)
			return;
		p = evbuffer_pullup(in, (ssize_t)need);
		id = 0;
		if (amqp_frame_parse(p, need, c->frame_max, &f, &need) == 0 && f.channel == 0)
			id = amqp_peek_method_id(&f);
		if (id == AMQP_ID_connection_close_ok && c->linger_error) {
			conn_kill(c, false); /* the client has read the broker's close */
			return;
		}
		if (id == AMQP_ID_connection_close && conn_out_len(c) < LINGER_OUTPUT_MAX) {
			conn_out_add(c, close_ok, sizeof(close_ok));
			if (c->direct_write)
				conn_write_now(c);
		}
		evbuffer_drain(in, need);
	}
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[AMQP_FRAME_HEADER_LEN];
	struct amqp_frame f;
	size_t len, need, used;
	const uint8_t *p;
	int r;

	if (c->lingering) {
		conn_linger_input(c, in);
		return;
	}
	c->in_read = true;
	c->last_recv = now_ms(); /* once per read: the clock is the loop's, cached */
	if (c->login_pending && evbuffer_get_length(in) > READ_MAX) {
		/* Waiting for a password check: what the client sends meanwhile is bounded. */
		conn_read_enable(c, false);
		c->in_read = false;
		return;
	}
	c->feeds_long_queue = false; /* set again by this batch's publishes, for the next read */
	while (conn_reading(c)) {
		if (conn_out_len(c) > READ_PAUSE_OUTPUT) {
			/* A client that sends requests but does not read the answers: stop reading. */
			c->read_paused = true;
			conn_read_enable(c, false);
			break;
		}
		len = evbuffer_get_length(in);
		if (c->state == CONN_HANDSHAKE) {
			p = evbuffer_pullup(in,
			    len < AMQP_PROTOCOL_HEADER_LEN ? (ssize_t)len
			                                   : AMQP_PROTOCOL_HEADER_LEN);
			r = len == 0 ? AMQP_E_NEED_MORE : amqp_protocol_header_check(p, len);
			if (r == AMQP_E_NEED_MORE)
				break;
			if (r != 0) {
				log_info("%s: bad protocol header; answering with AMQP 0-9-1's",
				    c->peer);
				conn_out_add(c, amqp_protocol_header, AMQP_PROTOCOL_HEADER_LEN);
				conn_kill(c, true);
				break;
			}
			evbuffer_drain(in, AMQP_PROTOCOL_HEADER_LEN);
			c->last_recv = now_ms();
			conn_send_start(c);
			c->state = CONN_START;
			continue;
		}
		if (len < AMQP_FRAME_HEADER_LEN)
			break;
		/* Most frames lie whole in the buffer's first chunk: handled there, in place. */
		if ((r = conn_take_frames(c, in)) != 0) {
			if (r < 0)
				break;
			continue;
		}
		/* The first frame straddles chunks: check its size, then make it contiguous. */
		evbuffer_copyout(in, hdr, sizeof(hdr));
		r = amqp_frame_parse(hdr, sizeof(hdr), c->frame_max, &f, &need);
		if (r != AMQP_E_NEED_MORE) {
			conn_bad_frame(c, r, hdr);
			break;
		}
		if (len < need)
			break;
		p = evbuffer_pullup(in, (ssize_t)need);
		if ((r = amqp_frame_parse(p, need, c->frame_max, &f, &used)) != 0) {
			conn_bad_frame(c, r, p);
			break;
		}
		if (!conn_take_frame(c, &f))
			break;
		evbuffer_drain(in, used);
	}
	if (c->state != CONN_DEAD) {
		/* Confirms decided by this batch go out as one multiple-ack where possible. */
		struct channel *ch;
		LIST_FOREACH(ch, &c->channels, entry)
		if (ch->confirm_flush_pending)
			channel_confirm_flush(ch);
	}
	if (c->lingering)
		conn_linger_input(c, in); /* what came after the connection.close */
	c->in_read = false; /* c is freed on a later turn of the loop, never during this one */
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
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
	if (c->direct_write && len == 0)
		bufferevent_disable(bev, EV_WRITE);
	if (c->output_full && len <= broker.cfg.out_low) {
		c->output_full = false;
		LIST_FOREACH(ch, &c->channels, entry)
		channel_kick_consumers(ch);
	}
	if (c->read_paused && len <= broker.cfg.out_low) {
		c->read_paused = false;
		conn_resume_reading(c);
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->state != CONN_CLOSING && c->state != CONN_DEAD && !c->close_after_flush) {
			log_info(
			    "%s: client closed the connection without connection.close", c->peer);
			c->close_logged = true;
		}
		conn_kill(c, false);
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	uint64_t now = now_ms(), hb = (uint64_t)c->heartbeat * 1000;

	if (c->lingering) {
		log_debug("%s: the client did not close the socket after close-ok", c->peer);
		conn_kill(c, false);
		return;
	}
	if (c->close_after_flush || c->state == CONN_CLOSING) {
		log_info("%s: no close-ok in time; dropping the connection", c->peer);
		conn_kill(c, false);
		return;
	}
	if (c->state < CONN_OPEN) {
		log_warn("%s: handshake not finished within %u s; dropping the connection", c->peer,
		    broker.cfg.handshake_timeout);
		conn_kill(c, false);
		return;
	}
	if (hb == 0)
		return;
	if (c->read_paused && now - c->last_recv > 4 * hb) {
		log_warn(
		    "%s: the client has not read its output for %llu ms; dropping the connection",
		    c->peer, (unsigned long long)(now - c->last_recv));
		conn_kill(c, false);
		return;
	}
	if (!c->blocked && !c->read_paused && now - c->last_recv > 2 * hb) {
		log_warn(
		    "%s: missed heartbeats from the client for %llu ms; dropping the connection",
		    c->peer, (unsigned long long)(now - c->last_recv));
		conn_kill(c, false);
		return;
	}
	if (c->sent) {
		c->sent = false;
		c->last_send = now;
	} else if (now - c->last_send >= hb / 2) {
		conn_send_raw(c, amqp_heartbeat_frame, sizeof(amqp_heartbeat_frame));
		c->sent = false;
		c->last_send = now;
	}
	conn_arm_timer(c, hb / 2 > 0 ? hb / 2 : 500);
}

/* Called when the handshake completes: switch the timer from handshake timeout to heartbeats. */
void conn_opened(struct conn *c)
{
	evtimer_del(c->timer);
	if (c->heartbeat > 0)
		conn_arm_timer(c, (uint64_t)c->heartbeat * 500);
}
