/*
 * warren-perf-conn.c: warren-perf's client side of one AMQP 0-9-1 connection, on a raw
 * non-blocking socket with Warren's codec. It does the handshake (PLAIN, heartbeats off, frame_max
 * at most 128 KiB), synchronous calls on channel 1, and buffered I/O for the workers' loops: reads
 * land in one buffer that frames are parsed from in place; writes either go straight from the
 * caller's buffer (perf_conn_send_some, the producers' batches) or through an output queue.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/warren-perf.h"

#define PERF_FRAME_MAX 131072    /* what we ask for in tune-ok, at most */
#define PERF_IN_CAP (512 * 1024) /* holds several frames of PERF_FRAME_MAX */
#define PERF_HANDSHAKE_MS 10000  /* each step of the handshake */
#define PERF_CLOSE_MS 5000       /* waiting for close-ok */

int perf_conn_fail(struct perf_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(c->error, sizeof(c->error), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void *perf_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL) {
		fprintf(stderr, "warren-perf: out of memory\n");
		abort();
	}
	return q;
}

/* ---- Output ---- */

void perf_conn_queue(struct perf_conn *c, const void *p, size_t n)
{
	if (n > c->out_cap - c->out_len) {
		size_t cap = c->out_cap != 0 ? c->out_cap : 4096;

		if (c->out_off > 0) { /* reclaim what was sent before growing */
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		while (n > cap - c->out_len)
			cap *= 2;
		if (cap != c->out_cap) {
			c->out = perf_xrealloc(c->out, cap);
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

int perf_conn_queue_method(struct perf_conn *c, const struct amqp_method *m)
{
	uint8_t buf[4096];
	int n = amqp_method_frame_encode(1, m, buf, sizeof(buf));

	if (n < 0)
		return perf_conn_fail(
		    c, "cannot encode %s: %s", amqp_method_str(m->id), amqp_strerror(n));
	perf_conn_queue(c, buf, (size_t)n);
	return 0;
}

static int perf_conn_queue_method_on(struct perf_conn *c, uint16_t channel, struct amqp_method *m)
{
	uint8_t buf[4096];
	int n = amqp_method_frame_encode(channel, m, buf, sizeof(buf));

	if (n < 0)
		return perf_conn_fail(
		    c, "cannot encode %s: %s", amqp_method_str(m->id), amqp_strerror(n));
	perf_conn_queue(c, buf, (size_t)n);
	return 0;
}

long perf_conn_send_some(struct perf_conn *c, const void *p, size_t n)
{
	ssize_t k;

	if (c->fd < 0)
		return -1;
	k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (k >= 0)
		return (long)k;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	return perf_conn_fail(c, "send: %s", strerror(errno));
}

int perf_conn_flush(struct perf_conn *c)
{
	long k;

	if (c->out_off == c->out_len)
		return 0;
	k = perf_conn_send_some(c, c->out + c->out_off, c->out_len - c->out_off);
	if (k < 0)
		return -1;
	c->out_off += (size_t)k;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return 0;
}

/* ---- Input ---- */

int perf_conn_wait(struct perf_conn *c, bool want_write, int64_t timeout_ns)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct timespec ts;
	ssize_t k;
	int r;

	if (c->fd < 0 || c->eof)
		return -1;
	if (want_write)
		pfd.events |= POLLOUT;
	if (c->in_len == c->in_off) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0 && c->in_cap - c->in_len < PERF_FRAME_MAX) {
		/* make room at the end: a frame may need up to frame_max contiguous bytes */
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	if (c->in_len == c->in_cap)
		return 0; /* the caller left whole frames unparsed: parse them first */
	/* Try the read first: under load there is nearly always something, and it saves a poll. */
	k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (k > 0) {
		c->in_len += (size_t)k;
		return 1;
	}
	if (k == 0) {
		c->eof = true;
		return -1;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		c->eof = true;
		return perf_conn_fail(c, "recv: %s", strerror(errno));
	}
	if (timeout_ns <= 0)
		return 0;
	ts.tv_sec = (time_t)(timeout_ns / 1000000000);
	ts.tv_nsec = (long)(timeout_ns % 1000000000);
	r = ppoll(&pfd, 1, &ts, NULL);
	if (r <= 0 || (pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
		return 0;
	k = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (k > 0) {
		c->in_len += (size_t)k;
		return 1;
	}
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	c->eof = true;
	if (k < 0)
		return perf_conn_fail(c, "recv: %s", strerror(errno));
	return -1;
}

int perf_conn_next_frame(struct perf_conn *c, struct amqp_frame *f)
{
	size_t used;
	int r = amqp_frame_parse(c->in + c->in_off, c->in_len - c->in_off, c->frame_max, f, &used);

	if (r == AMQP_E_NEED_MORE)
		return 0;
	if (r < 0)
		return perf_conn_fail(c, "malformed frame from the broker: %s", amqp_strerror(r));
	c->in_off += used;
	return 1;
}

/* ---- Methods that may come at any time ---- */

int perf_conn_handle_async(struct perf_conn *c, const struct amqp_method *m, bool *blocked)
{
	struct amqp_method ok = { 0 };

	switch (m->id) {
	case AMQP_ID_connection_close:
		ok.id = AMQP_ID_connection_close_ok;
		perf_conn_queue_method_on(c, 0, &ok);
		perf_conn_flush(c);
		perf_conn_fail(c, "the broker closed the connection: %u %.*s",
		    m->u.connection_close.reply_code, (int)m->u.connection_close.reply_text.len,
		    (const char *)m->u.connection_close.reply_text.ptr);
		c->eof = true; /* nothing more will come */
		return -1;
	case AMQP_ID_channel_close:
		ok.id = AMQP_ID_channel_close_ok;
		perf_conn_queue_method(c, &ok);
		perf_conn_flush(c);
		return perf_conn_fail(c, "the broker closed the channel: %u %.*s",
		    m->u.channel_close.reply_code, (int)m->u.channel_close.reply_text.len,
		    (const char *)m->u.channel_close.reply_text.ptr);
	case AMQP_ID_connection_blocked:
		if (blocked != NULL)
			*blocked = true;
		return 1;
	case AMQP_ID_connection_unblocked:
		if (blocked != NULL)
			*blocked = false;
		return 1;
	default: return 0;
	}
}

/*
 * Wait up to timeout_ms for the method id on channel, skipping heartbeats, content and other
 * methods (deliveries or confirms still in flight). The decoded method points into the buffer.
 */
static int perf_conn_expect(
    struct perf_conn *c, uint16_t channel, uint32_t id, struct amqp_method *m, int timeout_ms)
{
	uint64_t deadline = perf_now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct amqp_frame f;
	int r;

	for (;;) {
		while ((r = perf_conn_next_frame(c, &f)) == 1) {
			if (f.type != AMQP_FRAME_METHOD)
				continue;
			r = amqp_method_decode(f.payload, f.size, m);
			if (r < 0)
				return perf_conn_fail(
				    c, "malformed method from the broker: %s", amqp_strerror(r));
			if (m->id == id && f.channel == channel)
				return 0;
			if (perf_conn_handle_async(c, m, NULL) < 0)
				return -1;
		}
		if (r < 0)
			return -1;
		uint64_t now = perf_now_ns();
		if (now >= deadline)
			return perf_conn_fail(c, "no %s from the broker within %d ms",
			    amqp_method_str(id), timeout_ms);
		if (perf_conn_flush(c) < 0)
			return -1;
		if (perf_conn_wait(c, c->out_len > c->out_off, (int64_t)(deadline - now)) < 0)
			return perf_conn_fail(c,
			    "the broker closed the socket while we waited for %s",
			    amqp_method_str(id));
	}
}

int perf_conn_call(struct perf_conn *c, const struct amqp_method *m, uint32_t reply_id,
    struct amqp_method *reply, int timeout_ms)
{
	if (perf_conn_queue_method(c, m) < 0 || perf_conn_flush(c) < 0)
		return -1;
	return perf_conn_expect(c, 1, reply_id, reply, timeout_ms);
}

/* ---- Handshake ---- */

/* Little writers for the client-properties table. */
static void put_u8(uint8_t **p, uint8_t v)
{
	*(*p)++ = v;
}

static void put_u32(uint8_t **p, uint32_t v)
{
	put_u8(p, (uint8_t)(v >> 24));
	put_u8(p, (uint8_t)(v >> 16));
	put_u8(p, (uint8_t)(v >> 8));
	put_u8(p, (uint8_t)v);
}

static void put_key(uint8_t **p, const char *key, uint8_t type)
{
	size_t n = strlen(key); /* our own keys, all shorter than 256 bytes */

	put_u8(p, (uint8_t)n);
	memcpy(*p, key, n);
	*p += n;
	put_u8(p, type);
}

static void put_longstr(uint8_t **p, const char *key, const char *v)
{
	size_t n = strlen(v);

	put_key(p, key, 'S');
	put_u32(p, (uint32_t)n);
	memcpy(*p, v, n);
	*p += n;
}

/* Our client-properties: product, version and the capabilities warren-perf handles. */
static size_t client_properties(uint8_t *buf)
{
	static const char *const caps[] = { "publisher_confirms", "basic.nack",
		"consumer_cancel_notify", "connection.blocked", "authentication_failure_close" };
	uint8_t *p = buf, *len_at;
	size_t i;

	put_longstr(&p, "product", "warren-perf");
	put_longstr(&p, "version", PACKAGE_VERSION);
	put_longstr(&p, "platform", "C");
	put_key(&p, "capabilities", 'F');
	len_at = p;
	p += 4;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		put_key(&p, caps[i], 't');
		put_u8(&p, 1);
	}
	uint8_t *end = p;
	p = len_at;
	put_u32(&p, (uint32_t)(end - len_at - 4));
	return (size_t)(end - buf);
}

static int perf_conn_connect(struct perf_conn *c, const struct perf_opts *o)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res, *ai;
	char port[16];
	int one = 1, r;

	snprintf(port, sizeof(port), "%d", o->port);
	r = getaddrinfo(o->host, port, &hints, &res);
	if (r != 0)
		return perf_conn_fail(c, "%s: %s", o->host, gai_strerror(r));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (c->fd < 0)
			continue;
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		r = errno;
		close(c->fd);
		c->fd = -1;
		errno = r;
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return perf_conn_fail(c, "connect %s:%d: %s", o->host, o->port, strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

int perf_conn_open(struct perf_conn *c, const struct perf_opts *o)
{
	struct amqp_method m = { 0 }, reply;
	uint8_t props[512], resp[600];
	size_t ulen = strlen(o->user), plen = strlen(o->password);
	uint32_t frame_max;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->frame_max = AMQP_FRAME_MIN_SIZE;
	c->in_cap = PERF_IN_CAP;
	c->in = perf_xrealloc(NULL, c->in_cap);
	if (perf_conn_connect(c, o) < 0)
		return -1;
	perf_conn_queue(c, amqp_protocol_header, AMQP_PROTOCOL_HEADER_LEN);
	if (perf_conn_expect(c, 0, AMQP_ID_connection_start, &reply, PERF_HANDSHAKE_MS) < 0)
		return -1;

	/* PLAIN: "\0user\0password"; both were checked to be under 256 bytes. */
	resp[0] = 0;
	memcpy(resp + 1, o->user, ulen);
	resp[1 + ulen] = 0;
	memcpy(resp + 2 + ulen, o->password, plen);
	m.id = AMQP_ID_connection_start_ok;
	m.u.connection_start_ok.client_properties =
	    (struct amqp_bytes){ props, client_properties(props) };
	m.u.connection_start_ok.mechanism = amqp_cstr("PLAIN");
	m.u.connection_start_ok.response = (struct amqp_bytes){ resp, 2 + ulen + plen };
	m.u.connection_start_ok.locale = amqp_cstr("en_US");
	if (perf_conn_queue_method_on(c, 0, &m) < 0)
		return -1;
	if (perf_conn_expect(c, 0, AMQP_ID_connection_tune, &reply, PERF_HANDSHAKE_MS) < 0)
		return -1;

	frame_max = reply.u.connection_tune.frame_max;
	if (frame_max == 0 || frame_max > PERF_FRAME_MAX)
		frame_max = PERF_FRAME_MAX;
	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_connection_tune_ok;
	m.u.connection_tune_ok.channel_max = reply.u.connection_tune.channel_max;
	m.u.connection_tune_ok.frame_max = frame_max;
	m.u.connection_tune_ok.heartbeat = 0; /* off: each worker is busy or stopping */
	if (perf_conn_queue_method_on(c, 0, &m) < 0)
		return -1;
	c->frame_max = frame_max;

	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_connection_open;
	m.u.connection_open.virtual_host = amqp_cstr(o->vhost);
	if (perf_conn_queue_method_on(c, 0, &m) < 0)
		return -1;
	if (perf_conn_expect(c, 0, AMQP_ID_connection_open_ok, &reply, PERF_HANDSHAKE_MS) < 0)
		return -1;

	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_channel_open;
	return perf_conn_call(c, &m, AMQP_ID_channel_open_ok, &reply, PERF_HANDSHAKE_MS);
}

void perf_conn_free(struct perf_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_cap = c->out_cap = 0;
}

void perf_conn_close(struct perf_conn *c)
{
	struct amqp_method m = { .id = AMQP_ID_connection_close }, reply;

	if (c->fd >= 0 && !c->eof) {
		m.u.connection_close.reply_code = AMQP_REPLY_SUCCESS;
		m.u.connection_close.reply_text = amqp_cstr("Goodbye");
		/* After close-ok the socket closes at once, as client libraries do (RabbitMQ waits
		 * for the client to close first). */
		if (perf_conn_queue_method_on(c, 0, &m) == 0)
			perf_conn_expect(c, 0, AMQP_ID_connection_close_ok, &reply, PERF_CLOSE_MS);
	}
	perf_conn_free(c);
}
