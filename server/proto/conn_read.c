/*
 * conn_read.c: reading a connection. A direct (plain socket) connection reads its socket itself,
 * in steps that grow with a busy publisher; the frames that lie whole in the input's first chunk
 * are handled in place (a publish with its header and body in one go), a frame that straddles
 * chunks has its size checked against frame_max from the 7-byte header before the payload is
 * waited for. Channel-0 methods go to handle_connection.c, the rest to their channels. Input is
 * held while any pause reason is set (enum conn_pause), and after a close it is only lingered over.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>

#include "server/proto/conn_private.h"

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

static void conn_sock_read_cb(evutil_socket_t fd, short what, void *arg);

void conn_read_enable(struct conn *c, bool on)
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

void conn_read_attach(struct conn *c)
{
	/* libevent reads 4 KiB at a time by default: one syscall per 4 KiB frame. */
	bufferevent_set_max_single_read(c->bev, READ_MAX);
	c->read_size = READ_MIN;
	if (c->direct)
		c->rev = event_new(bufferevent_get_base(c->bev), bufferevent_getfd(c->bev),
		    EV_READ | EV_PERSIST, conn_sock_read_cb, c);
	conn_read_enable(c, true);
}

/* ---- pauses ---- */

/* Whether the connection takes another frame now: the one test of its pauses. */
static bool conn_reading(const struct conn *c)
{
	return c->state != CONN_DEAD && !c->close_after_flush && c->paused == 0;
}

void conn_pause(struct conn *c, unsigned why)
{
	c->paused |= why;
	/* A login's pause goes on reading, up to READ_MAX (conn_read_cb): a client that gives up
	 * meanwhile is seen at once. */
	if (why != CONN_PAUSE_LOGIN)
		conn_read_enable(c, false);
}

void conn_unpause(struct conn *c, unsigned why)
{
	c->paused &= ~why;
	conn_resume_reading(c);
}

void conn_resume_reading(struct conn *c)
{
	if (!conn_reading(c))
		return;
	c->last_recv = now_ms();
	conn_read_enable(c, true);
	/* Inside the read callback, its loop goes on by itself; elsewhere, frames may be waiting. */
	if (!c->in_read)
		conn_read_cb(c->bev, c);
}

/* ---- frames ---- */

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

static bool is_publish(const struct amqp_frame *f)
{
	return amqp_peek_method_id(f) == AMQP_ID_basic_publish;
}

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
	c->io.n[IO_RECV_OCT] += (uint64_t)n;
	c->io.n[IO_RECV_CNT]++;
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
		conn_pause(c, CONN_PAUSE_LOAD);
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
			if (c->direct)
				conn_write_now(c);
		}
		evbuffer_drain(in, need);
	}
}

void conn_read_cb(struct bufferevent *bev, void *arg)
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
	if ((c->paused & CONN_PAUSE_LOGIN) && evbuffer_get_length(in) > READ_MAX) {
		/* Waiting for a password check: what the client sends meanwhile is bounded. */
		conn_read_enable(c, false);
		c->in_read = false;
		return;
	}
	c->feeds_long_queue = false; /* set again by this batch's publishes, for the next read */
	while (conn_reading(c)) {
		if (conn_out_len(c) > READ_PAUSE_OUTPUT) {
			/* A client that sends requests but does not read the answers: stop reading. */
			conn_pause(c, CONN_PAUSE_OUTPUT);
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
			conn_set_state(c, CONN_START);
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
