/*
 * client.c: the rabbitmq-c side of the interop tests: login, bounded waits for the broker's next
 * method with its content reassembled, close expectations, and small builders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "interop/client.h"

/*
 * Frames of other channels that arrived while a message's header and body were being read. They
 * are handed out before anything new from the socket, in arrival order.
 */
#define PENDING_CONNS 8
#define PENDING_FRAMES 256
static struct pending {
	conn_t c;
	amqp_frame_t frames[PENDING_FRAMES];
	int head, n;
} pending[PENDING_CONNS];

uint16_t close_class_id, close_method_id;

amqp_bytes_t B(const char *s)
{
	return amqp_cstring_bytes(s);
}

bool bytes_is(amqp_bytes_t b, const char *s)
{
	size_t n = strlen(s);

	return b.len == n && (n == 0 || memcmp(b.bytes, s, n) == 0);
}

static struct pending *pending_of(conn_t c, bool create)
{
	int i;

	for (i = 0; i < PENDING_CONNS; i++)
		if (pending[i].c == c)
			return &pending[i];
	if (!create)
		return NULL;
	for (i = 0; i < PENDING_CONNS; i++)
		if (pending[i].c == NULL) {
			pending[i].c = c;
			pending[i].head = pending[i].n = 0;
			return &pending[i];
		}
	ck_abort_msg("more than %d connections with pending frames", PENDING_CONNS);
	return NULL;
}

static void pending_forget(conn_t c)
{
	struct pending *p = pending_of(c, false);

	if (p != NULL)
		p->c = NULL;
}

static const char *status_text(int status)
{
	return amqp_error_string2(status);
}

/* The next frame before the deadline: 1, or 0 on timeout. A dead connection fails the test. */
static int next_frame(conn_t c, amqp_frame_t *f, int64_t deadline, bool use_pending)
{
	struct pending *p = use_pending ? pending_of(c, false) : NULL;
	int64_t left;
	struct timeval tv;
	int status;

	if (p != NULL && p->n > 0) {
		*f = p->frames[p->head];
		p->head = (p->head + 1) % PENDING_FRAMES;
		p->n--;
		return 1;
	}
	left = deadline - now_ms();
	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	status = amqp_simple_wait_frame_noblock(c, f, &tv);
	if (status == AMQP_STATUS_TIMEOUT)
		return 0;
	ck_assert_msg(status == AMQP_STATUS_OK, "waiting for the broker: %s", status_text(status));
	return 1;
}

static void push_pending(conn_t c, const amqp_frame_t *f)
{
	struct pending *p = pending_of(c, true);

	ck_assert_msg(p->n < PENDING_FRAMES, "too many interleaved frames");
	p->frames[(p->head + p->n) % PENDING_FRAMES] = *f;
	p->n++;
}

/* After a content-bearing method on m->channel: read its header and body frames. */
static void read_content(conn_t c, struct msg *m, int64_t deadline)
{
	amqp_frame_t f;
	size_t got = 0;

	for (;;) {
		ck_assert_msg(next_frame(c, &f, deadline, false) == 1,
		    "no content header after the method on channel %u", m->channel);
		if (f.channel == m->channel)
			break;
		push_pending(c, &f);
	}
	ck_assert_msg(f.frame_type == AMQP_FRAME_HEADER,
	    "expected a content header on channel %u, got frame type %u", m->channel, f.frame_type);
	m->props = f.payload.properties.decoded;
	ck_assert_uint_le(f.payload.properties.body_size, 1u << 30);
	m->body_len = (size_t)f.payload.properties.body_size;
	m->body = malloc(m->body_len + 1);
	ck_assert_ptr_nonnull(m->body);
	while (got < m->body_len) {
		ck_assert_msg(next_frame(c, &f, deadline, false) == 1,
		    "body incomplete on channel %u: %zu of %zu bytes", m->channel, got,
		    m->body_len);
		if (f.channel != m->channel) {
			push_pending(c, &f);
			continue;
		}
		ck_assert_msg(f.frame_type == AMQP_FRAME_BODY,
		    "expected a body frame on channel %u, got frame type %u", m->channel,
		    f.frame_type);
		ck_assert_uint_le(f.payload.body_fragment.len, m->body_len - got);
		memcpy(m->body + got, f.payload.body_fragment.bytes, f.payload.body_fragment.len);
		got += f.payload.body_fragment.len;
	}
	m->body[m->body_len] = '\0';
}

int client_next(conn_t c, struct msg *m, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	amqp_frame_t f;

	memset(m, 0, sizeof(*m));
	if (next_frame(c, &f, deadline, true) == 0)
		return 0;
	ck_assert_msg(f.frame_type == AMQP_FRAME_METHOD,
	    "expected a method, got frame type %u on channel %u", f.frame_type, f.channel);
	m->channel = f.channel;
	m->id = f.payload.method.id;
	m->method = f.payload.method.decoded;
	if (m->id == AMQP_BASIC_DELIVER_METHOD || m->id == AMQP_BASIC_GET_OK_METHOD ||
	    m->id == AMQP_BASIC_RETURN_METHOD)
		read_content(c, m, now_ms() + WAIT_MS);
	return 1;
}

void msg_free(struct msg *m)
{
	free(m->body);
	m->body = NULL;
}

/* A description of a received method for failure messages. */
static const char *describe(const struct msg *m)
{
	if (m->id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *x = m->method;

		return fmt("channel.close %u \"%.*s\" on channel %u", x->reply_code,
		    (int)x->reply_text.len, (char *)x->reply_text.bytes, m->channel);
	}
	if (m->id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *x = m->method;

		return fmt("connection.close %u \"%.*s\"", x->reply_code, (int)x->reply_text.len,
		    (char *)x->reply_text.bytes);
	}
	return fmt("method %u.%u on channel %u", m->id >> 16, m->id & 0xFFFF, m->channel);
}

void client_expect(conn_t c, amqp_channel_t ch, amqp_method_number_t id, struct msg *m)
{
	ck_assert_msg(client_next(c, m, WAIT_MS) == 1,
	    "expected method %u.%u on channel %u: nothing came within %d ms", id >> 16, id & 0xFFFF,
	    ch, WAIT_MS);
	ck_assert_msg(m->id == id && m->channel == ch,
	    "expected method %u.%u on channel %u, got %s", id >> 16, id & 0xFFFF, ch, describe(m));
}

void client_quiet(conn_t c, int ms)
{
	struct msg m;

	if (client_next(c, &m, ms) == 1)
		ck_abort_msg("expected nothing, got %s", describe(&m));
}

uint64_t expect_deliver(conn_t c, amqp_channel_t ch, const char *body)
{
	struct msg m;
	uint64_t tag;

	client_expect(c, ch, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_msg(m.body_len == strlen(body) && memcmp(m.body, body, m.body_len) == 0,
	    "delivered \"%s\", expected \"%s\"", (char *)m.body, body);
	tag = ((amqp_basic_deliver_t *)m.method)->delivery_tag;
	msg_free(&m);
	return tag;
}

/* basic.get: returns the get-ok (or NULL for get-empty) and the message in *m. */
static amqp_basic_get_ok_t *do_get(
    conn_t c, amqp_channel_t ch, const char *queue, bool no_ack, struct msg *m)
{
	amqp_rpc_reply_t r = amqp_basic_get(c, ch, B(queue), no_ack);

	client_ok(c, "basic.get");
	memset(m, 0, sizeof(*m));
	if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
		return NULL;
	ck_assert_uint_eq(r.reply.id, AMQP_BASIC_GET_OK_METHOD);
	m->channel = ch;
	m->id = r.reply.id;
	m->method = r.reply.decoded;
	read_content(c, m, now_ms() + WAIT_MS);
	return m->method;
}

bool get_msg(conn_t c, amqp_channel_t ch, const char *queue, bool no_ack, struct msg *m)
{
	return do_get(c, ch, queue, no_ack, m) != NULL;
}

void expect_get(conn_t c, amqp_channel_t ch, const char *queue, const char *body)
{
	struct msg m;
	amqp_basic_get_ok_t *ok = do_get(c, ch, queue, true, &m);

	if (body == NULL) {
		ck_assert_msg(ok == NULL, "basic.get on %s: expected get-empty, got \"%s\"", queue,
		    (char *)m.body);
		return;
	}
	ck_assert_msg(ok != NULL, "basic.get on %s: get-empty, expected \"%s\"", queue, body);
	ck_assert_msg(m.body_len == strlen(body) && memcmp(m.body, body, m.body_len) == 0,
	    "basic.get on %s: \"%s\", expected \"%s\"", queue, (char *)m.body, body);
	msg_free(&m);
}

uint32_t get_one(conn_t c, amqp_channel_t ch, const char *queue, const char *body, uint64_t *tag)
{
	struct msg m;
	amqp_basic_get_ok_t *ok = do_get(c, ch, queue, false, &m);
	uint32_t count;

	ck_assert_msg(ok != NULL, "basic.get on %s: get-empty, expected \"%s\"", queue, body);
	ck_assert_msg(m.body_len == strlen(body) && memcmp(m.body, body, m.body_len) == 0,
	    "basic.get on %s: \"%s\", expected \"%s\"", queue, (char *)m.body, body);
	*tag = ok->delivery_tag;
	count = ok->message_count;
	msg_free(&m);
	return count;
}

/* ---- Connections ---- */

conn_t client_connect_opts(const struct client_opts *o)
{
	static const struct client_opts defaults;
	amqp_table_entry_t caps[] = {
		ent_bool("authentication_failure_close", true),
		ent_bool("consumer_cancel_notify", true),
		ent_bool("connection.blocked", true),
		ent_bool("publisher_confirms", true),
		ent_bool("basic.nack", true),
		ent_bool("exchange_exchange_bindings", true),
		ent_bool("per_consumer_qos", true),
	};
	amqp_table_t captable = { (int)(sizeof(caps) / sizeof(caps[0])), caps };
	amqp_table_entry_t prop[3];
	amqp_table_t props = { 2, prop };
	struct timeval tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };
	conn_t c;
	amqp_socket_t *s;
	amqp_rpc_reply_t r;
	int status;

	if (o == NULL)
		o = &defaults;
	prop[0] = ent_str("product", "warren-interop");
	prop[1] = ent_table("capabilities", captable);
	if (o->name != NULL)
		prop[props.num_entries++] = ent_str("connection_name", o->name);
	c = amqp_new_connection();
	ck_assert_ptr_nonnull(c);
	s = amqp_tcp_socket_new(c);
	ck_assert_ptr_nonnull(s);
	status = amqp_socket_open_noblock(s, broker.host, broker.port, &tv);
	ck_assert_msg(status == AMQP_STATUS_OK, "connect %s:%d: %s", broker.host, broker.port,
	    status_text(status));
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv);
	r = amqp_login_with_properties(c, o->vhost != NULL ? o->vhost : "/", o->channel_max,
	    o->frame_max != 0 ? o->frame_max : AMQP_DEFAULT_FRAME_SIZE, o->heartbeat, &props,
	    AMQP_SASL_METHOD_PLAIN, o->user != NULL ? o->user : "guest",
	    o->password != NULL ? o->password : "guest");
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		ck_abort_msg("login: %s", status_text(r.library_error));
	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *x = r.reply.decoded;

		ck_abort_msg("login refused: %u \"%.*s\"", x->reply_code, (int)x->reply_text.len,
		    (char *)x->reply_text.bytes);
	}
	ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "login failed");
	return c;
}

conn_t client_connect(void)
{
	return client_connect_opts(NULL);
}

void client_open(conn_t c, amqp_channel_t ch)
{
	CHECK_RPC(c, amqp_channel_open(c, ch));
}

void client_close_channel(conn_t c, amqp_channel_t ch)
{
	amqp_rpc_reply_t r = amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS);

	ck_assert_msg(
	    r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_CHANNEL_CLOSE_OK_METHOD,
	    "channel.close on %u got no close-ok", ch);
}

conn_t client_connect_ch1(void)
{
	conn_t c = client_connect();

	client_open(c, 1);
	return c;
}

void client_close(conn_t c)
{
	amqp_rpc_reply_t r = amqp_connection_close(c, AMQP_REPLY_SUCCESS);

	ck_assert_msg(r.reply_type == AMQP_RESPONSE_NORMAL, "connection.close got no close-ok");
	client_drop(c);
}

void client_drop(conn_t c)
{
	pending_forget(c);
	amqp_destroy_connection(c);
}

void client_ok(conn_t c, const char *what)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(c);

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return;
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		ck_abort_msg("%s: %s", what, status_text(r.library_error));
	if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
		amqp_channel_close_t *x = r.reply.decoded;

		ck_abort_msg("%s: channel.close %u \"%.*s\"", what, x->reply_code,
		    (int)x->reply_text.len, (char *)x->reply_text.bytes);
	}
	if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *x = r.reply.decoded;

		ck_abort_msg("%s: connection.close %u \"%.*s\"", what, x->reply_code,
		    (int)x->reply_text.len, (char *)x->reply_text.bytes);
	}
	ck_abort_msg("%s: unexpected reply %08x", what, r.reply.id);
}

/* Check a close the broker sent and answer it. */
static void handle_close(conn_t c, amqp_channel_t ch, amqp_method_number_t id, void *method,
    amqp_channel_t want_ch, int code, const char *text, bool connection)
{
	if (connection) {
		amqp_connection_close_t *x = method;
		amqp_connection_close_ok_t ok = { 0 };
		amqp_frame_t f;
		struct timeval tv = { WAIT_MS / 1000, 0 };
		int status;

		if (id == AMQP_CHANNEL_CLOSE_METHOD) {
			amqp_channel_close_t *y = method;

			ck_abort_msg("expected connection.close %d, got channel.close %u \"%.*s\"",
			    code, y->reply_code, (int)y->reply_text.len,
			    (char *)y->reply_text.bytes);
		}
		ck_assert_msg(id == AMQP_CONNECTION_CLOSE_METHOD && ch == 0,
		    "expected connection.close %d, got method %08x on channel %u", code, id, ch);
		check_reply("connection.close", x->reply_code, x->reply_text.bytes,
		    x->reply_text.len, code, text);
		close_class_id = x->class_id;
		close_method_id = x->method_id;
		amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
		/* After close-ok the broker closes the socket. */
		status = amqp_simple_wait_frame_noblock(c, &f, &tv);
		ck_assert_msg(status != AMQP_STATUS_OK && status != AMQP_STATUS_TIMEOUT,
		    "the broker kept the connection open after connection.close-ok");
	} else {
		amqp_channel_close_t *x = method;
		amqp_channel_close_ok_t ok = { 0 };

		if (id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *y = method;

			ck_abort_msg("expected channel.close %d, got connection.close %u \"%.*s\"",
			    code, y->reply_code, (int)y->reply_text.len,
			    (char *)y->reply_text.bytes);
		}
		ck_assert_msg(id == AMQP_CHANNEL_CLOSE_METHOD && ch == want_ch,
		    "expected channel.close %d on channel %u, got method %08x on channel %u", code,
		    want_ch, id, ch);
		check_reply("channel.close", x->reply_code, x->reply_text.bytes, x->reply_text.len,
		    code, text);
		close_class_id = x->class_id;
		close_method_id = x->method_id;
		ck_assert_int_eq(amqp_send_method(c, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok), 0);
	}
}

static void rpc_error(
    conn_t c, amqp_channel_t ch, amqp_rpc_reply_t r, int code, const char *text, bool connection)
{
	const char *what = connection ? "connection.close" : "channel.close";

	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		ck_abort_msg("expected %s %d, the call succeeded", what, code);
	if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
		ck_abort_msg("expected %s %d, got: %s", what, code, status_text(r.library_error));
	handle_close(c, r.reply.id == AMQP_CONNECTION_CLOSE_METHOD ? 0 : ch, r.reply.id,
	    r.reply.decoded, ch, code, text, connection);
}

void rpc_channel_error(conn_t c, amqp_channel_t ch, int code, const char *text)
{
	rpc_error(c, ch, amqp_get_rpc_reply(c), code, text, false);
}

void rpc_connection_error(conn_t c, int code, const char *text)
{
	rpc_error(c, 0, amqp_get_rpc_reply(c), code, text, true);
}

void reply_channel_error(
    conn_t c, amqp_channel_t ch, amqp_rpc_reply_t r, int code, const char *text)
{
	rpc_error(c, ch, r, code, text, false);
}

void reply_connection_error(conn_t c, amqp_rpc_reply_t r, int code, const char *text)
{
	rpc_error(c, 0, r, code, text, true);
}

void expect_channel_close(conn_t c, amqp_channel_t ch, int code, const char *text)
{
	struct msg m;

	ck_assert_msg(client_next(c, &m, WAIT_MS) == 1,
	    "expected channel.close %d on channel %u: nothing came", code, ch);
	if (m.id != AMQP_CHANNEL_CLOSE_METHOD && m.id != AMQP_CONNECTION_CLOSE_METHOD)
		ck_abort_msg(
		    "expected channel.close %d on channel %u, got %s", code, ch, describe(&m));
	handle_close(c, m.channel, m.id, m.method, ch, code, text, false);
	msg_free(&m);
}

void expect_connection_close(conn_t c, int code, const char *text)
{
	struct msg m;

	ck_assert_msg(
	    client_next(c, &m, WAIT_MS) == 1, "expected connection.close %d: nothing came", code);
	if (m.id != AMQP_CHANNEL_CLOSE_METHOD && m.id != AMQP_CONNECTION_CLOSE_METHOD)
		ck_abort_msg("expected connection.close %d, got %s", code, describe(&m));
	handle_close(c, m.channel, m.id, m.method, 0, code, text, true);
	msg_free(&m);
}

/* ---- Publishing and declaring ---- */

void publish_props(conn_t c, amqp_channel_t ch, const char *exchange, const char *rk,
    bool mandatory, const amqp_basic_properties_t *props, const void *body, size_t len)
{
	amqp_bytes_t b = { len, (void *)body };
	int status = amqp_basic_publish(c, ch, B(exchange), B(rk), mandatory, 0, props, b);

	ck_assert_msg(status == AMQP_STATUS_OK, "basic.publish: %s", status_text(status));
}

void publish(conn_t c, amqp_channel_t ch, const char *exchange, const char *rk, const char *body)
{
	publish_props(c, ch, exchange, rk, false, NULL, body, strlen(body));
}

void publish_confirmed(conn_t c, amqp_channel_t ch, const char *exchange, const char *rk,
    const amqp_basic_properties_t *props, const char *body)
{
	struct msg m;

	CHECK_RPC(c, amqp_confirm_select(c, ch));
	publish_props(c, ch, exchange, rk, false, props, body, strlen(body));
	client_expect(c, ch, AMQP_BASIC_ACK_METHOD, &m);
}

void declare_queue_args(conn_t c, amqp_channel_t ch, const char *queue, amqp_table_t args)
{
	amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, ch, B(queue), 0, 0, 0, 0, args);

	client_ok(c, fmt("queue.declare %s", queue));
	ck_assert(bytes_is(ok->queue, queue));
}

void declare_queue(conn_t c, amqp_channel_t ch, const char *queue)
{
	declare_queue_args(c, ch, queue, amqp_empty_table);
}

void declare_exchange(conn_t c, amqp_channel_t ch, const char *exchange, const char *type)
{
	amqp_exchange_declare(c, ch, B(exchange), B(type), 0, 0, 0, 0, amqp_empty_table);
	client_ok(c, fmt("exchange.declare %s %s", exchange, type));
}

void bind_queue_args(conn_t c, amqp_channel_t ch, const char *queue, const char *exchange,
    const char *rk, amqp_table_t args)
{
	amqp_queue_bind(c, ch, B(queue), B(exchange), B(rk), args);
	client_ok(c, fmt("queue.bind %s %s %s", queue, exchange, rk));
}

void bind_queue(
    conn_t c, amqp_channel_t ch, const char *queue, const char *exchange, const char *rk)
{
	bind_queue_args(c, ch, queue, exchange, rk, amqp_empty_table);
}

const char *consume(conn_t c, amqp_channel_t ch, const char *queue, const char *tag, bool no_ack)
{
	amqp_basic_consume_ok_t *ok = amqp_basic_consume(c, ch, B(queue),
	    tag != NULL ? B(tag) : amqp_empty_bytes, 0, no_ack, 0, amqp_empty_table);

	client_ok(c, fmt("basic.consume %s", queue));
	return fmt("%.*s", (int)ok->consumer_tag.len, (char *)ok->consumer_tag.bytes);
}

uint32_t queue_count(conn_t c, amqp_channel_t ch, const char *queue)
{
	amqp_queue_declare_ok_t *ok =
	    amqp_queue_declare(c, ch, B(queue), 1, 0, 0, 0, amqp_empty_table);

	client_ok(c, fmt("queue.declare passive %s", queue));
	return ok->message_count;
}

bool queue_exists(conn_t c, amqp_channel_t ch, const char *queue)
{
	amqp_rpc_reply_t r;

	amqp_queue_declare(c, ch, B(queue), 1, 0, 0, 0, amqp_empty_table);
	r = amqp_get_rpc_reply(c);
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return true;
	rpc_channel_error(c, ch, 404, NULL);
	client_open(c, ch);
	return false;
}

void wait_queue_gone(
    conn_t c, amqp_channel_t ch, const char *queue, int timeout_ms, int interval_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (queue_exists(c, ch, queue)) {
		ck_assert_msg(
		    now_ms() < deadline, "queue %s still exists after %d ms", queue, timeout_ms);
		sleep_ms(interval_ms);
	}
}

void wait_confirms(conn_t c, amqp_channel_t ch, uint64_t n)
{
	uint8_t *acked = calloc(n + 1, 1);
	uint64_t left = n, t;
	struct msg m;

	ck_assert_ptr_nonnull(acked);
	while (left > 0) {
		amqp_basic_ack_t *a;

		client_expect(c, ch, AMQP_BASIC_ACK_METHOD, &m);
		a = m.method;
		ck_assert_msg(a->delivery_tag >= 1 && a->delivery_tag <= n,
		    "confirm for tag %llu, only %llu published",
		    (unsigned long long)a->delivery_tag, (unsigned long long)n);
		ck_assert_msg(!acked[a->delivery_tag], "tag %llu confirmed twice",
		    (unsigned long long)a->delivery_tag);
		for (t = a->multiple ? 1 : a->delivery_tag; t <= a->delivery_tag; t++)
			if (!acked[t]) {
				acked[t] = 1;
				left--;
			}
	}
	free(acked);
}

/* ---- Tables ---- */

amqp_table_entry_t ent_int(const char *key, int64_t v)
{
	amqp_table_entry_t e = { .key = B(key) };

	e.value.kind = AMQP_FIELD_KIND_I64;
	e.value.value.i64 = v;
	return e;
}

amqp_table_entry_t ent_i32(const char *key, int32_t v)
{
	amqp_table_entry_t e = { .key = B(key) };

	e.value.kind = AMQP_FIELD_KIND_I32;
	e.value.value.i32 = v;
	return e;
}

amqp_table_entry_t ent_str(const char *key, const char *v)
{
	amqp_table_entry_t e = { .key = B(key) };

	e.value.kind = AMQP_FIELD_KIND_UTF8;
	e.value.value.bytes = B(v);
	return e;
}

amqp_table_entry_t ent_bool(const char *key, bool v)
{
	amqp_table_entry_t e = { .key = B(key) };

	e.value.kind = AMQP_FIELD_KIND_BOOLEAN;
	e.value.value.boolean = v;
	return e;
}

amqp_table_entry_t ent_table(const char *key, amqp_table_t v)
{
	amqp_table_entry_t e = { .key = B(key) };

	e.value.kind = AMQP_FIELD_KIND_TABLE;
	e.value.value.table = v;
	return e;
}

const amqp_field_value_t *table_get(const amqp_table_t *t, const char *key)
{
	int i;

	for (i = 0; i < t->num_entries; i++)
		if (bytes_is(t->entries[i].key, key))
			return &t->entries[i].value;
	return NULL;
}
