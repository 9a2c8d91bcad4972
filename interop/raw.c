/*
 * raw.c: the raw-socket client of the interop tests: bounded reads and writes, frames encoded and
 * decoded with Warren's codec, the handshake step by step, and expectations on what comes back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "interop/raw.h"

#define RECV_CHUNK 65536

/* ---- Byte buffers ---- */

static void wb_reserve(struct wbuf *w, size_t n)
{
	size_t cap = w->cap != 0 ? w->cap : 256;

	ck_assert_msg(n <= SIZE_MAX / 2 - w->len, "wbuf overflow");
	while (cap < w->len + n)
		cap *= 2;
	if (cap != w->cap) {
		w->p = realloc(w->p, cap);
		ck_assert_ptr_nonnull(w->p);
		w->cap = cap;
	}
}

void wb_bytes(struct wbuf *w, const void *p, size_t n)
{
	wb_reserve(w, n);
	if (n > 0)
		memcpy(w->p + w->len, p, n);
	w->len += n;
}

void wb_u8(struct wbuf *w, uint8_t v)
{
	wb_bytes(w, &v, 1);
}

void wb_u16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };

	wb_bytes(w, b, 2);
}

void wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	wb_bytes(w, b, 4);
}

void wb_u64(struct wbuf *w, uint64_t v)
{
	wb_u32(w, (uint32_t)(v >> 32));
	wb_u32(w, (uint32_t)v);
}

void wb_shortstr(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);

	ck_assert_uint_le(n, 255);
	wb_u8(w, (uint8_t)n);
	wb_bytes(w, s, n);
}

void wb_longstr(struct wbuf *w, const void *p, size_t n)
{
	wb_u32(w, (uint32_t)n);
	wb_bytes(w, p, n);
}

void wb_put_u32_at(struct wbuf *w, size_t offset, uint32_t v)
{
	ck_assert_uint_le(offset + 4, w->len);
	w->p[offset] = (uint8_t)(v >> 24);
	w->p[offset + 1] = (uint8_t)(v >> 16);
	w->p[offset + 2] = (uint8_t)(v >> 8);
	w->p[offset + 3] = (uint8_t)v;
}

void wb_free(struct wbuf *w)
{
	free(w->p);
	w->p = NULL;
	w->len = w->cap = 0;
}

/* ---- The socket ---- */

void raw_connect_to(struct raw *r, const char *host, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->frame_max = AMQP_FRAME_MIN_SIZE;
	ck_assert_msg(inet_pton(AF_INET, host, &sa.sin_addr) == 1, "bad broker address %s", host);
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(r->fd, 0);
	ck_assert_msg(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s:%d: %s",
	    host, port, strerror(errno));
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	r->cap = RECV_CHUNK;
	r->buf = malloc(r->cap);
	ck_assert_ptr_nonnull(r->buf);
}

void raw_connect(struct raw *r)
{
	raw_connect_to(r, broker.host, broker.port);
}

void raw_close(struct raw *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	free(r->buf);
	free(r->start_payload);
	r->buf = r->start_payload = NULL;
	wb_free(&r->out);
	r->corked = false;
}

void raw_cork(struct raw *r)
{
	r->corked = true;
}

void raw_uncork(struct raw *r)
{
	struct wbuf out = r->out;

	r->corked = false;
	r->out = (struct wbuf){ 0 };
	if (out.len > 0)
		raw_write(r, out.p, out.len);
	wb_free(&out);
}

int raw_write_try(struct raw *r, const void *p, size_t n)
{
	const uint8_t *b = p;
	int64_t deadline = now_ms() + WAIT_MS;

	if (r->corked) {
		wb_bytes(&r->out, p, n);
		return 0;
	}

	while (n > 0) {
		ssize_t k = send(r->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (k > 0) {
			b += k;
			n -= (size_t)k;
		} else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = r->fd, .events = POLLOUT };
			int64_t left = deadline - now_ms();

			if (left <= 0)
				return -1; /* the broker stopped reading */
			poll(&pfd, 1, (int)left);
		} else if (k < 0 && errno == EINTR) {
			continue;
		} else {
			return -1;
		}
	}
	return 0;
}

void raw_write(struct raw *r, const void *p, size_t n)
{
	ck_assert_msg(
	    raw_write_try(r, p, n) == 0, "write to the broker failed: %s", strerror(errno));
}

void raw_send_frame(struct raw *r, uint8_t type, uint16_t channel, const void *payload, size_t n)
{
	struct wbuf w = { 0 };

	wb_u8(&w, type);
	wb_u16(&w, channel);
	wb_u32(&w, (uint32_t)n);
	wb_bytes(&w, payload, n);
	wb_u8(&w, AMQP_FRAME_END);
	raw_write(r, w.p, w.len);
	wb_free(&w);
}

void raw_send_method(struct raw *r, uint16_t channel, const struct amqp_method *m)
{
	static uint8_t buf[1 << 17];
	int n = amqp_method_frame_encode(channel, m, buf, sizeof(buf));

	ck_assert_msg(n > 0, "cannot encode %s: %s", amqp_method_str(m->id), amqp_strerror(n));
	raw_write(r, buf, (size_t)n);
}

void raw_send_content(struct raw *r, uint16_t channel, const struct amqp_basic_properties *props,
    const void *body, size_t n)
{
	static const struct amqp_basic_properties none;
	uint8_t praw[8192], hdr[8300];
	const uint8_t *b = body;
	size_t chunk = r->frame_max - AMQP_FRAME_OVERHEAD;
	int plen, hlen;

	plen = amqp_properties_encode(props != NULL ? props : &none, praw, sizeof(praw));
	ck_assert_int_gt(plen, 0);
	hlen = amqp_content_header_encode(
	    AMQP_BASIC_CLASS, n, (struct amqp_bytes){ praw, (size_t)plen }, hdr, sizeof(hdr));
	ck_assert_int_gt(hlen, 0);
	raw_send_frame(r, AMQP_FRAME_HEADER, channel, hdr, (size_t)hlen);
	while (n > 0) {
		size_t k = n < chunk ? n : chunk;

		raw_send_frame(r, AMQP_FRAME_BODY, channel, b, k);
		b += k;
		n -= k;
	}
}

void raw_publish(struct raw *r, uint16_t channel, const char *exchange, const char *routing_key,
    const void *body, size_t n)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };

	m.u.basic_publish.exchange = amqp_cstr(exchange);
	m.u.basic_publish.routing_key = amqp_cstr(routing_key);
	raw_send_method(r, channel, &m);
	raw_send_content(r, channel, NULL, body, n);
}

/* Wait (bounded) for more bytes: 1 when some arrived (or to retry), else RAW_TIMEOUT or RAW_EOF. */
static int fill(struct raw *r, size_t need, int64_t deadline)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	int64_t left = deadline - now_ms();
	ssize_t k;

	if (r->eof)
		return RAW_EOF;
	if (need > r->cap) {
		r->buf = realloc(r->buf, need);
		ck_assert_ptr_nonnull(r->buf);
		r->cap = need;
	}
	if (r->have == r->cap) {
		r->cap *= 2;
		r->buf = realloc(r->buf, r->cap);
		ck_assert_ptr_nonnull(r->buf);
	}
	if (left <= 0)
		return RAW_TIMEOUT;
	k = poll(&pfd, 1, (int)left);
	if (k < 0 && errno == EINTR)
		return 1; /* the caller parses again and comes back with the same deadline */
	if (k <= 0)
		return RAW_TIMEOUT;
	k = recv(r->fd, r->buf + r->have, r->cap - r->have, 0);
	if (k > 0) {
		r->have += (size_t)k;
		return 1;
	}
	if (k < 0 && (errno == EINTR || errno == EAGAIN))
		return 1;
	r->eof = true; /* orderly close, or ECONNRESET */
	return RAW_EOF;
}

static void drop_last(struct raw *r)
{
	if (r->drop == 0)
		return;
	memmove(r->buf, r->buf + r->drop, r->have - r->drop);
	r->have -= r->drop;
	r->drop = 0;
}

int raw_read(struct raw *r, struct amqp_frame *f, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	drop_last(r);
	for (;;) {
		size_t consumed;
		int e = amqp_frame_parse(r->buf, r->have, r->frame_max, f, &consumed);

		if (e == 0) {
			r->drop = consumed;
			return RAW_FRAME;
		}
		ck_assert_msg(e == AMQP_E_NEED_MORE,
		    "the broker sent a bad frame (%s); first byte 0x%02x, frame_max %u",
		    amqp_strerror(e), r->buf[0], r->frame_max);
		if ((e = fill(r, consumed, deadline)) != 1)
			return e;
	}
}

size_t raw_read_bytes(struct raw *r, void *out, size_t n, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	drop_last(r);
	while (r->have < n && fill(r, n, deadline) == 1)
		;
	if (r->have < n)
		n = r->have;
	memcpy(out, r->buf, n);
	r->drop = n;
	return n;
}

static const char *frame_desc(const struct amqp_frame *f)
{
	if (f->type == AMQP_FRAME_METHOD && f->size >= 4) {
		uint32_t id = ((uint32_t)f->payload[0] << 24) | ((uint32_t)f->payload[1] << 16) |
		    ((uint32_t)f->payload[2] << 8) | f->payload[3];

		return fmt("%s on channel %u", amqp_method_str(id), f->channel);
	}
	return fmt("frame type %u on channel %u, %u bytes", f->type, f->channel, f->size);
}

int raw_next_method(struct raw *r, uint16_t *channel, struct amqp_method *m, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct amqp_frame f;
	int e;

	for (;;) {
		int64_t left = deadline - now_ms();

		if ((e = raw_read(r, &f, left > 0 ? (int)left : 0)) != RAW_FRAME)
			return e;
		if (f.type == AMQP_FRAME_HEARTBEAT)
			continue;
		ck_assert_msg(
		    f.type == AMQP_FRAME_METHOD, "expected a method, got %s", frame_desc(&f));
		e = amqp_method_decode(f.payload, f.size, m);
		ck_assert_msg(e == 0, "cannot decode %s: %s", frame_desc(&f), amqp_strerror(e));
		*channel = f.channel;
		return RAW_FRAME;
	}
}

void raw_expect_method(struct raw *r, uint16_t channel, uint32_t id, struct amqp_method *m)
{
	struct amqp_method local;
	uint16_t ch;
	int e;

	if (m == NULL)
		m = &local;
	e = raw_next_method(r, &ch, m, WAIT_MS);
	ck_assert_msg(e == RAW_FRAME, "expected %s on channel %u, got %s", amqp_method_str(id),
	    channel, e == RAW_EOF ? "the connection closed" : "nothing in time");
	if (m->id == AMQP_ID_connection_close && id != AMQP_ID_connection_close)
		ck_abort_msg("expected %s on channel %u, got connection.close %u \"%.*s\"",
		    amqp_method_str(id), channel, m->u.connection_close.reply_code,
		    (int)m->u.connection_close.reply_text.len,
		    (const char *)m->u.connection_close.reply_text.ptr);
	if (m->id == AMQP_ID_channel_close && id != AMQP_ID_channel_close)
		ck_abort_msg("expected %s on channel %u, got channel.close %u \"%.*s\"",
		    amqp_method_str(id), channel, m->u.channel_close.reply_code,
		    (int)m->u.channel_close.reply_text.len,
		    (const char *)m->u.channel_close.reply_text.ptr);
	ck_assert_msg(m->id == id && ch == channel, "expected %s on channel %u, got %s on %u",
	    amqp_method_str(id), channel, amqp_method_str(m->id), ch);
}

void raw_expect_content(
    struct raw *r, uint16_t channel, struct amqp_content_header *h, uint8_t **body)
{
	struct amqp_frame f;
	uint64_t got = 0;
	int e;

	e = raw_read(r, &f, WAIT_MS);
	ck_assert_msg(e == RAW_FRAME && f.type == AMQP_FRAME_HEADER && f.channel == channel,
	    "expected a content header on channel %u", channel);
	e = amqp_content_header_decode(f.payload, f.size, h);
	ck_assert_msg(e == 0, "bad content header: %s", amqp_strerror(e));
	ck_assert_uint_le(h->body_size, 1u << 28);
	/*
	 * The header's slices point into the read buffer: keep a copy of the properties behind the
	 * body, in the same allocation, so that freeing the body frees them too.
	 */
	*body = malloc(h->body_size + 1 + h->raw_properties.len);
	ck_assert_ptr_nonnull(*body);
	{
		uint8_t *props = *body + h->body_size + 1;

		memcpy(props, h->raw_properties.ptr, h->raw_properties.len);
		h->raw_properties.ptr = props;
		ck_assert_int_eq(
		    amqp_properties_decode(props, h->raw_properties.len, &h->props), 0);
	}
	while (got < h->body_size) {
		e = raw_read(r, &f, WAIT_MS);
		ck_assert_msg(e == RAW_FRAME && f.type == AMQP_FRAME_BODY && f.channel == channel,
		    "expected a body frame on channel %u after %llu of %llu bytes", channel,
		    (unsigned long long)got, (unsigned long long)h->body_size);
		ck_assert_uint_le(f.size, h->body_size - got);
		memcpy(*body + got, f.payload, f.size);
		got += f.size;
	}
}

static void expect_close(struct raw *r, uint16_t channel, int code, const char *text,
    uint32_t method_id, bool connection)
{
	uint32_t id = connection ? AMQP_ID_connection_close : AMQP_ID_channel_close;
	struct amqp_method m;
	uint16_t ch;
	int e = raw_next_method(r, &ch, &m, WAIT_MS);
	const char *what = connection ? "connection.close" : "channel.close";

	ck_assert_msg(e == RAW_FRAME, "expected %s %d, got %s", what, code,
	    e == RAW_EOF ? "the connection closed" : "nothing in time");
	if (connection && m.id == AMQP_ID_channel_close)
		ck_abort_msg("expected connection.close %d, got channel.close %u \"%.*s\"", code,
		    m.u.channel_close.reply_code, (int)m.u.channel_close.reply_text.len,
		    (const char *)m.u.channel_close.reply_text.ptr);
	if (!connection && m.id == AMQP_ID_connection_close)
		ck_abort_msg("expected channel.close %d, got connection.close %u \"%.*s\"", code,
		    m.u.connection_close.reply_code, (int)m.u.connection_close.reply_text.len,
		    (const char *)m.u.connection_close.reply_text.ptr);
	ck_assert_msg(m.id == id && ch == channel, "expected %s on channel %u, got %s on %u", what,
	    channel, amqp_method_str(m.id), ch);
	if (connection) {
		const struct amqp_connection_close *c = &m.u.connection_close;

		check_reply(what, c->reply_code, c->reply_text.ptr, c->reply_text.len, code, text);
		if (method_id != RAW_ANY_METHOD)
			ck_assert_msg(AMQP_METHOD_ID(c->class_id, c->method_id) == method_id,
			    "%s names %u.%u, expected %u.%u", what, c->class_id, c->method_id,
			    method_id >> 16, method_id & 0xFFFF);
	} else {
		const struct amqp_channel_close *c = &m.u.channel_close;

		check_reply(what, c->reply_code, c->reply_text.ptr, c->reply_text.len, code, text);
		if (method_id != RAW_ANY_METHOD)
			ck_assert_msg(AMQP_METHOD_ID(c->class_id, c->method_id) == method_id,
			    "%s names %u.%u, expected %u.%u", what, c->class_id, c->method_id,
			    method_id >> 16, method_id & 0xFFFF);
	}
	m.id = connection ? AMQP_ID_connection_close_ok : AMQP_ID_channel_close_ok;
	if (connection) {
		static const uint8_t close_ok[] = { 1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 51, 0xCE };

		raw_write_try(r, close_ok, sizeof(close_ok)); /* the broker may be gone already */
		raw_expect_eof(r, WAIT_MS);
	} else {
		raw_send_method(r, channel, &m);
	}
}

void raw_expect_connection_close(struct raw *r, int code, const char *text, uint32_t method_id)
{
	expect_close(r, 0, code, text, method_id, true);
}

void raw_expect_channel_close(
    struct raw *r, uint16_t channel, int code, const char *text, uint32_t method_id)
{
	expect_close(r, channel, code, text, method_id, false);
}

void raw_expect_eof(struct raw *r, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct amqp_frame f;

	for (;;) {
		int64_t left = deadline - now_ms();
		int e = raw_read(r, &f, left > 0 ? (int)left : 0);

		if (e == RAW_EOF)
			return;
		ck_assert_msg(e != RAW_TIMEOUT,
		    "the broker did not close the connection within %d ms", timeout_ms);
		ck_assert_msg(f.type == AMQP_FRAME_HEARTBEAT,
		    "expected the connection to close, got %s", frame_desc(&f));
	}
}

void raw_expect_quiet(struct raw *r, int ms)
{
	int64_t deadline = now_ms() + ms;
	struct amqp_frame f;

	for (;;) {
		int64_t left = deadline - now_ms();
		int e;

		if (left <= 0)
			return;
		e = raw_read(r, &f, (int)left);
		if (e == RAW_TIMEOUT)
			return;
		ck_assert_msg(e != RAW_EOF, "the broker closed the connection");
		ck_assert_msg(
		    f.type == AMQP_FRAME_HEARTBEAT, "expected nothing, got %s", frame_desc(&f));
	}
}

/* ---- Handshake ---- */

void raw_hello(struct raw *r)
{
	struct amqp_method m;
	uint16_t ch;
	int e;

	raw_write(r, amqp_protocol_header, AMQP_PROTOCOL_HEADER_LEN);
	e = raw_next_method(r, &ch, &m, WAIT_MS);
	ck_assert_msg(e == RAW_FRAME && m.id == AMQP_ID_connection_start && ch == 0,
	    "expected connection.start");
	/* Keep connection.start past the next read: copy the frame and decode the copy. */
	r->start_len = r->drop - AMQP_FRAME_OVERHEAD;
	r->start_payload = malloc(r->start_len);
	ck_assert_ptr_nonnull(r->start_payload);
	memcpy(r->start_payload, r->buf + AMQP_FRAME_HEADER_LEN, r->start_len);
	ck_assert_int_eq(amqp_method_decode(r->start_payload, r->start_len, &m), 0);
	r->start = m.u.connection_start;
}

/* client-properties: product and the capabilities RabbitMQ's own clients announce. */
static void client_properties(struct wbuf *w, bool capabilities)
{
	static const char *const caps[] = { "authentication_failure_close",
		"consumer_cancel_notify", "connection.blocked", "publisher_confirms", "basic.nack",
		"exchange_exchange_bindings", "per_consumer_qos" };
	size_t at = w->len, inner;
	size_t i;

	wb_u32(w, 0); /* length, patched below */
	wb_shortstr(w, "product");
	wb_u8(w, 'S');
	wb_longstr(w, "warren-interop", 14);
	if (capabilities) {
		wb_shortstr(w, "capabilities");
		wb_u8(w, 'F');
		inner = w->len;
		wb_u32(w, 0);
		for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
			wb_shortstr(w, caps[i]);
			wb_u8(w, 't');
			wb_u8(w, 1);
		}
		wb_put_u32_at(w, inner, (uint32_t)(w->len - inner - 4));
	}
	wb_put_u32_at(w, at, (uint32_t)(w->len - at - 4));
}

void raw_start_ok(struct raw *r, const struct raw_opts *o)
{
	static const struct raw_opts defaults;
	const char *user, *password, *mech;
	struct wbuf w = { 0 }, resp = { 0 };

	if (o == NULL)
		o = &defaults;
	user = o->user != NULL ? o->user : "guest";
	password = o->password != NULL ? o->password : "guest";
	mech = o->mechanism != NULL ? o->mechanism : "PLAIN";
	if (strcmp(mech, "AMQPLAIN") == 0) {
		/* A field table without its length: LOGIN and PASSWORD. */
		wb_shortstr(&resp, "LOGIN");
		wb_u8(&resp, 'S');
		wb_longstr(&resp, user, strlen(user));
		wb_shortstr(&resp, "PASSWORD");
		wb_u8(&resp, 'S');
		wb_longstr(&resp, password, strlen(password));
	} else {
		wb_u8(&resp, 0);
		wb_bytes(&resp, user, strlen(user));
		wb_u8(&resp, 0);
		wb_bytes(&resp, password, strlen(password));
	}
	wb_u16(&w, 10);
	wb_u16(&w, 11);
	client_properties(&w, !o->no_capabilities);
	wb_shortstr(&w, mech);
	wb_longstr(&w, resp.p, resp.len);
	wb_shortstr(&w, "en_US");
	raw_send_frame(r, AMQP_FRAME_METHOD, 0, w.p, w.len);
	wb_free(&w);
	wb_free(&resp);
}

void raw_expect_tune(struct raw *r)
{
	struct amqp_method m;

	raw_expect_method(r, 0, AMQP_ID_connection_tune, &m);
	r->tune = m.u.connection_tune;
}

void raw_tune_ok(struct raw *r, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat)
{
	struct amqp_method m = { .id = AMQP_ID_connection_tune_ok };

	m.u.connection_tune_ok.channel_max = channel_max;
	m.u.connection_tune_ok.frame_max = frame_max;
	m.u.connection_tune_ok.heartbeat = heartbeat;
	raw_send_method(r, 0, &m);
	r->channel_max = channel_max;
	r->heartbeat = heartbeat;
	if (frame_max >= AMQP_FRAME_MIN_SIZE)
		r->frame_max = frame_max;
}

void raw_open(struct raw *r, const char *vhost)
{
	struct amqp_method m = { .id = AMQP_ID_connection_open };

	m.u.connection_open.virtual_host = amqp_cstr(vhost);
	raw_send_method(r, 0, &m);
	raw_expect_method(r, 0, AMQP_ID_connection_open_ok, NULL);
}

void raw_login(struct raw *r, const struct raw_opts *o)
{
	static const struct raw_opts defaults;

	if (o == NULL)
		o = &defaults;
	raw_connect(r);
	raw_hello(r);
	raw_start_ok(r, o);
	raw_expect_tune(r);
	raw_tune_ok(r, o->channel_max != 0 ? o->channel_max : r->tune.channel_max,
	    o->frame_max != 0 ? o->frame_max : r->tune.frame_max, o->heartbeat);
	raw_open(r, o->vhost != NULL ? o->vhost : "/");
}

void raw_channel_open(struct raw *r, uint16_t channel)
{
	struct amqp_method m = { .id = AMQP_ID_channel_open };

	raw_send_method(r, channel, &m);
	raw_expect_method(r, channel, AMQP_ID_channel_open_ok, NULL);
}

void raw_ping(struct raw *r, uint16_t channel)
{
	struct amqp_method m = { .id = AMQP_ID_basic_qos };

	raw_send_method(r, channel, &m);
	raw_expect_method(r, channel, AMQP_ID_basic_qos_ok, NULL);
}

void raw_queue_declare(struct raw *r, uint16_t channel, const char *queue)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare };

	m.u.queue_declare.queue = amqp_cstr(queue);
	raw_send_method(r, channel, &m);
	raw_expect_method(r, channel, AMQP_ID_queue_declare_ok, NULL);
}

void raw_basic_get(struct raw *r, uint16_t channel, const char *queue, bool no_ack)
{
	struct amqp_method m = { .id = AMQP_ID_basic_get };

	m.u.basic_get.queue = amqp_cstr(queue);
	m.u.basic_get.no_ack = no_ack;
	raw_send_method(r, channel, &m);
}
