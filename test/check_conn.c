/*
 * check_conn.c: the connection and channel state machines, driven over a bufferevent pair with no
 * socket: the test speaks AMQP from one end with Warren's own codec, warrend's conn.c runs the
 * other end, and each case checks the exact frames that come back.
 */
#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static struct event_base *base;
static struct bufferevent *client;

static void setup(void)
{
	struct bufferevent *pair[2];
	struct broker_config cfg;

	log_set_level(LOG_ERROR);
	base = event_base_new();
	broker_config_defaults(&cfg);
	cfg.max_message_size = 1024 * 1024;
	broker_init(base, &cfg);
	conn_register_events();
	ck_assert_int_eq(bufferevent_pair_new(base, 0, pair), 0);
	conn_attach(pair[0], "test-peer", true, false);
	client = pair[1];
	bufferevent_enable(client, EV_READ | EV_WRITE);
}

static void teardown(void)
{
	/* Each case runs in its own process (Check's fork mode): the OS reclaims the rest. */
}

static void pump(void)
{
	int i;

	for (i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

static void send_raw(const void *p, size_t n)
{
	bufferevent_write(client, p, n);
	pump();
}

static void send_method(uint16_t channel, const struct amqp_method *m)
{
	uint8_t buf[8192];
	int n = amqp_method_frame_encode(channel, m, buf, sizeof(buf));

	ck_assert_int_gt(n, 0);
	send_raw(buf, (size_t)n);
}

/* Take the next frame the broker sent; false if none is waiting. */
static bool next_frame(struct amqp_frame *f, uint8_t *copy, size_t cap)
{
	struct evbuffer *in = bufferevent_get_input(client);
	size_t len = evbuffer_get_length(in), used;
	const uint8_t *p;

	if (len == 0)
		return false;
	p = evbuffer_pullup(in, -1);
	ck_assert_int_eq(amqp_frame_parse(p, len, 1 << 20, f, &used), 0);
	ck_assert_uint_le(used, cap);
	memcpy(copy, p, used);
	f->payload = copy + (f->payload - p);
	evbuffer_drain(in, used);
	return true;
}

/* The next frame must be method `id` on `channel`; it is decoded into *m (valid until next call). */
static uint8_t mbuf[1 << 17];
static void expect_method(uint16_t channel, uint32_t id, struct amqp_method *m)
{
	struct amqp_frame f;

	ck_assert_msg(
	    next_frame(&f, mbuf, sizeof(mbuf)), "expected %s, got nothing", amqp_method_str(id));
	ck_assert_int_eq(f.type, AMQP_FRAME_METHOD);
	ck_assert_int_eq(amqp_method_decode(f.payload, f.size, m), 0);
	ck_assert_msg(
	    m->id == id, "expected %s, got %s", amqp_method_str(id), amqp_method_str(m->id));
	ck_assert_int_eq(f.channel, channel);
}

static void expect_conn_close(int code)
{
	struct amqp_method m;

	expect_method(0, AMQP_ID_connection_close, &m);
	ck_assert_int_eq(m.u.connection_close.reply_code, code);
}

static void expect_channel_close(uint16_t ch, int code)
{
	struct amqp_method m;

	expect_method(ch, AMQP_ID_channel_close, &m);
	ck_assert_int_eq(m.u.channel_close.reply_code, code);
}

static void expect_nothing(void)
{
	struct amqp_frame f;
	uint8_t buf[256];

	ck_assert_msg(!next_frame(&f, buf, sizeof(buf)), "unexpected frame type %u", f.type);
}

static const uint8_t plain_guest[] = "\0guest\0guest";

static void start_ok(const uint8_t *resp, size_t len)
{
	static const uint8_t caps[] = "\x0c"
	                              "capabilities"
	                              "F\x00\x00\x00\x1f"
	                              "\x1c"
	                              "authentication_failure_close"
	                              "t\x01";
	struct amqp_method m = { .id = AMQP_ID_connection_start_ok };

	m.u.connection_start_ok.client_properties = (struct amqp_bytes){ caps, sizeof(caps) - 1 };
	m.u.connection_start_ok.mechanism = amqp_cstr("PLAIN");
	m.u.connection_start_ok.response = (struct amqp_bytes){ resp, len };
	m.u.connection_start_ok.locale = amqp_cstr("en_US");
	send_method(0, &m);
}

static void tune_ok(uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat)
{
	struct amqp_method m = { .id = AMQP_ID_connection_tune_ok };

	m.u.connection_tune_ok.channel_max = channel_max;
	m.u.connection_tune_ok.frame_max = frame_max;
	m.u.connection_tune_ok.heartbeat = heartbeat;
	send_method(0, &m);
}

static void open_vhost(const char *vhost)
{
	struct amqp_method m = { .id = AMQP_ID_connection_open };

	m.u.connection_open.virtual_host = amqp_cstr(vhost);
	send_method(0, &m);
}

/* Up to tune: header, start, start-ok, tune. */
static void handshake_to_tune(void)
{
	struct amqp_method m;

	send_raw(amqp_protocol_header, sizeof(amqp_protocol_header));
	expect_method(0, AMQP_ID_connection_start, &m);
	start_ok(plain_guest, sizeof(plain_guest) - 1);
	expect_method(0, AMQP_ID_connection_tune, &m);
	ck_assert_int_eq(m.u.connection_tune.frame_max, 131072);
	ck_assert_int_eq(m.u.connection_tune.channel_max, 2047);
	ck_assert_int_eq(m.u.connection_tune.heartbeat, 60);
}

static void handshake(void)
{
	struct amqp_method m;

	handshake_to_tune();
	tune_ok(100, 131072, 0);
	open_vhost("/");
	expect_method(0, AMQP_ID_connection_open_ok, &m);
}

static void open_channel(uint16_t ch)
{
	struct amqp_method m = { .id = AMQP_ID_channel_open };

	send_method(ch, &m);
	expect_method(ch, AMQP_ID_channel_open_ok, &m);
}

START_TEST(test_handshake)
{
	handshake();
	open_channel(1);
	expect_nothing();
}
END_TEST

START_TEST(test_bad_protocol_header)
{
	uint8_t buf[16];

	send_raw("AMQP\x00\x00\x08\x00", 8);
	ck_assert_int_eq(bufferevent_read(client, buf, sizeof(buf)), 8);
	ck_assert_mem_eq(buf, amqp_protocol_header, 8);
	ck_assert(conn_none_left()); /* the broker dropped its side */
}
END_TEST

START_TEST(test_bad_password)
{
	static const uint8_t bad[] = "\0guest\0wrong";
	struct amqp_method m;

	send_raw(amqp_protocol_header, sizeof(amqp_protocol_header));
	expect_method(0, AMQP_ID_connection_start, &m);
	start_ok(bad, sizeof(bad) - 1);
	expect_conn_close(AMQP_ACCESS_REFUSED);
	ck_assert(conn_none_left()); /* the broker dropped its side */
}
END_TEST

/* Refusals before tune-ok close the socket without a word, as RabbitMQ. */
START_TEST(test_frame_max_too_small)
{
	handshake_to_tune();
	tune_ok(100, 1000, 0);
	expect_nothing();
	ck_assert(conn_none_left());
}
END_TEST

START_TEST(test_frame_max_above_offer)
{
	handshake_to_tune();
	tune_ok(100, 262144, 0);
	expect_nothing();
	ck_assert(conn_none_left());
}
END_TEST

START_TEST(test_unknown_vhost)
{
	handshake_to_tune();
	tune_ok(100, 131072, 0);
	open_vhost("/nope");
	expect_conn_close(AMQP_NOT_ALLOWED);
}
END_TEST

START_TEST(test_frame_too_large_before_tune)
{
	uint8_t big[5000 + 8] = { AMQP_FRAME_METHOD, 0, 0, 0, 0, 0x13, 0x88 };
	struct amqp_method m;

	send_raw(amqp_protocol_header, sizeof(amqp_protocol_header));
	expect_method(0, AMQP_ID_connection_start, &m);
	send_raw(big, 7); /* the header alone is enough to refuse it */
	expect_nothing();
	ck_assert(conn_none_left());
}
END_TEST

START_TEST(test_method_on_unopened_channel)
{
	struct amqp_method m = { .id = AMQP_ID_basic_qos };

	handshake();
	m.u.basic_qos.prefetch_count = 1;
	send_method(3, &m);
	expect_conn_close(AMQP_CHANNEL_ERROR);
}
END_TEST

START_TEST(test_second_channel_open)
{
	struct amqp_method m = { .id = AMQP_ID_channel_open };

	handshake();
	open_channel(1);
	send_method(1, &m);
	expect_conn_close(AMQP_CHANNEL_ERROR);
}
END_TEST

/* As RabbitMQ: channel_max bounds how many channels are open, not their numbers. */
START_TEST(test_channel_max_counts_open_channels)
{
	struct amqp_method m = { .id = AMQP_ID_channel_open };
	uint16_t i;

	handshake(); /* channel_max 100 */
	open_channel(1000);
	for (i = 1; i < 100; i++)
		open_channel(i);
	send_method(100, &m);
	expect_conn_close(AMQP_NOT_ALLOWED);
}
END_TEST

START_TEST(test_soft_error_closes_only_channel)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare }, r;

	handshake();
	open_channel(1);
	open_channel(2);
	m.u.queue_declare.queue = amqp_cstr("missing");
	m.u.queue_declare.passive = true;
	send_method(1, &m);
	expect_channel_close(1, AMQP_NOT_FOUND);
	/* Channel 2 still works. */
	m.u.queue_declare.queue = amqp_cstr("q2");
	m.u.queue_declare.passive = false;
	send_method(2, &m);
	expect_method(2, AMQP_ID_queue_declare_ok, &r);
	ck_assert(amqp_bytes_eq_cstr(r.u.queue_declare_ok.queue, "q2"));
}
END_TEST

START_TEST(test_discard_until_close_ok)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare }, r;

	handshake();
	open_channel(1);
	m.u.queue_declare.queue = amqp_cstr("missing");
	m.u.queue_declare.passive = true;
	send_method(1, &m);
	expect_channel_close(1, AMQP_NOT_FOUND);
	/* Until close-ok, the channel's frames are dropped without an answer. */
	m.u.queue_declare.queue = amqp_cstr("q");
	m.u.queue_declare.passive = false;
	send_method(1, &m);
	expect_nothing();
	r = (struct amqp_method){ .id = AMQP_ID_channel_close_ok };
	send_method(1, &r);
	expect_nothing();
	open_channel(1); /* the number is free again */
}
END_TEST

START_TEST(test_body_before_header)
{
	uint8_t frame[16];
	int n;

	handshake();
	open_channel(1);
	n = amqp_frame_encode(frame, sizeof(frame), AMQP_FRAME_BODY, 1, "abc", 3);
	send_raw(frame, (size_t)n);
	expect_conn_close(AMQP_UNEXPECTED_FRAME);
}
END_TEST

START_TEST(test_unknown_method)
{
	uint8_t frame[] = { AMQP_FRAME_METHOD, 0, 1, 0, 0, 0, 4, 0, 60, 0, 99, AMQP_FRAME_END };

	handshake();
	open_channel(1);
	send_raw(frame, sizeof(frame));
	expect_conn_close(AMQP_COMMAND_INVALID);
}
END_TEST

START_TEST(test_bad_end_byte)
{
	uint8_t frame[] = { AMQP_FRAME_METHOD, 0, 1, 0, 0, 0, 4, 0, 20, 0, 10, 0x00 };

	handshake();
	send_raw(frame, sizeof(frame));
	expect_conn_close(AMQP_FRAME_ERROR);
}
END_TEST

/* publish: method, header (with body size), one body frame. */
static void publish(
    uint16_t ch, const char *exchange, const char *key, const char *body, uint64_t declared)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	uint8_t buf[512], props[2] = { 0, 0 };
	int n;

	m.u.basic_publish.exchange = amqp_cstr(exchange);
	m.u.basic_publish.routing_key = amqp_cstr(key);
	send_method(ch, &m);
	n = amqp_content_header_encode(AMQP_BASIC_CLASS, declared, (struct amqp_bytes){ props, 2 },
	    buf + AMQP_FRAME_HEADER_LEN, sizeof(buf) - AMQP_FRAME_OVERHEAD);
	amqp_frame_put_header(buf, AMQP_FRAME_HEADER, ch, (uint32_t)n);
	send_raw(buf, (size_t)n + AMQP_FRAME_OVERHEAD);
	if (body != NULL && *body != '\0') {
		n = amqp_frame_encode(
		    buf, sizeof(buf), AMQP_FRAME_BODY, ch, body, (uint32_t)strlen(body));
		send_raw(buf, (size_t)n);
	}
}

static void declare(uint16_t ch, const char *name)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare }, r;

	m.u.queue_declare.queue = amqp_cstr(name);
	send_method(ch, &m);
	expect_method(ch, AMQP_ID_queue_declare_ok, &r);
}

START_TEST(test_publish_get_ack)
{
	struct amqp_method m = { .id = AMQP_ID_basic_get }, r;
	struct amqp_frame f;
	uint8_t buf[256];

	handshake();
	open_channel(1);
	declare(1, "q");
	publish(1, "", "q", "hello", 5);
	m.u.basic_get.queue = amqp_cstr("q");
	send_method(1, &m);
	expect_method(1, AMQP_ID_basic_get_ok, &r);
	ck_assert_int_eq(r.u.basic_get_ok.delivery_tag, 1);
	ck_assert_int_eq(r.u.basic_get_ok.message_count, 0);
	ck_assert(next_frame(&f, buf, sizeof(buf)) && f.type == AMQP_FRAME_HEADER);
	ck_assert(next_frame(&f, buf, sizeof(buf)) && f.type == AMQP_FRAME_BODY);
	ck_assert_int_eq(f.size, 5);
	ck_assert_mem_eq(f.payload, "hello", 5);
	r = (struct amqp_method){ .id = AMQP_ID_basic_ack };
	r.u.basic_ack.delivery_tag = 1;
	send_method(1, &r);
	expect_nothing();
	/* A second ack of the same tag is unknown: 406. */
	send_method(1, &r);
	expect_channel_close(1, AMQP_PRECONDITION_FAILED);
}
END_TEST

START_TEST(test_body_larger_than_declared)
{
	handshake();
	open_channel(1);
	declare(1, "q");
	publish(1, "", "q", "hello", 3);
	expect_conn_close(AMQP_UNEXPECTED_FRAME);
}
END_TEST

START_TEST(test_message_too_large)
{
	handshake();
	open_channel(1);
	publish(1, "", "q", NULL, 2 * 1024 * 1024); /* max_message_size is 1 MiB here */
	expect_channel_close(1, AMQP_PRECONDITION_FAILED);
}
END_TEST

START_TEST(test_publish_missing_exchange)
{
	handshake();
	open_channel(1);
	publish(1, "nope", "k", "x", 1);
	expect_channel_close(1, AMQP_NOT_FOUND);
}
END_TEST

/*
 * One write holding a publish, its header and body frames (with properties), then one whose body
 * is split in two frames, then a publish with immediate set: whole or split, each message arrives
 * intact, and the last is refused as frame by frame.
 */
START_TEST(test_publish_whole_and_split)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish }, r;
	struct amqp_basic_properties pr = { 0 };
	uint8_t out[2048], buf[512], props[128];
	size_t at = 0;
	int n, pl, i;
	struct amqp_frame f;
	static const char *const want[] = { "hello", "split" };

	handshake();
	open_channel(1);
	declare(1, "q");
	pr.flags = AMQP_P_CONTENT_TYPE | AMQP_P_DELIVERY_MODE;
	pr.content_type = amqp_cstr("text/plain");
	pr.delivery_mode = 1;
	pl = amqp_properties_encode(&pr, props, sizeof(props));
	ck_assert_int_gt(pl, 2);
	m.u.basic_publish.routing_key = amqp_cstr("q");
	at += (size_t)amqp_method_frame_encode(1, &m, out + at, sizeof(out) - at);
	n = amqp_content_header_encode(AMQP_BASIC_CLASS, 5,
	    (struct amqp_bytes){ props, (size_t)pl }, out + at + AMQP_FRAME_HEADER_LEN,
	    sizeof(out) - at - AMQP_FRAME_OVERHEAD);
	amqp_frame_put_header(out + at, AMQP_FRAME_HEADER, 1, (uint32_t)n);
	at += (size_t)n + AMQP_FRAME_OVERHEAD;
	at += (size_t)amqp_frame_encode(out + at, sizeof(out) - at, AMQP_FRAME_BODY, 1, "hello", 5);
	/* the second message: its body in two frames */
	at += (size_t)amqp_method_frame_encode(1, &m, out + at, sizeof(out) - at);
	props[0] = props[1] = 0; /* no properties */
	n = amqp_content_header_encode(AMQP_BASIC_CLASS, 5, (struct amqp_bytes){ props, 2 },
	    out + at + AMQP_FRAME_HEADER_LEN, sizeof(out) - at - AMQP_FRAME_OVERHEAD);
	amqp_frame_put_header(out + at, AMQP_FRAME_HEADER, 1, (uint32_t)n);
	at += (size_t)n + AMQP_FRAME_OVERHEAD;
	at += (size_t)amqp_frame_encode(out + at, sizeof(out) - at, AMQP_FRAME_BODY, 1, "spl", 3);
	at += (size_t)amqp_frame_encode(out + at, sizeof(out) - at, AMQP_FRAME_BODY, 1, "it", 2);
	send_raw(out, at);
	for (i = 0; i < 2; i++) {
		struct amqp_method g = { .id = AMQP_ID_basic_get };
		struct amqp_content_header h;
		g.u.basic_get.queue = amqp_cstr("q");
		g.u.basic_get.no_ack = true;
		send_method(1, &g);
		expect_method(1, AMQP_ID_basic_get_ok, &r);
		ck_assert(next_frame(&f, buf, sizeof(buf)) && f.type == AMQP_FRAME_HEADER);
		ck_assert_int_eq(amqp_content_header_decode(f.payload, f.size, &h), 0);
		ck_assert_int_eq(h.body_size, 5);
		if (i == 0) { /* the properties, verbatim */
			ck_assert_int_eq(h.props.flags, AMQP_P_CONTENT_TYPE | AMQP_P_DELIVERY_MODE);
			ck_assert(amqp_bytes_eq_cstr(h.props.content_type, "text/plain"));
		} else {
			ck_assert_int_eq(h.props.flags, 0);
		}
		ck_assert(next_frame(&f, buf, sizeof(buf)) && f.type == AMQP_FRAME_BODY);
		ck_assert_uint_eq(f.size, 5);
		ck_assert_mem_eq(f.payload, want[i], 5);
	}
	/* immediate=true, whole in one write: 540, as when it comes frame by frame */
	m.u.basic_publish.immediate = true;
	at = (size_t)amqp_method_frame_encode(1, &m, out, sizeof(out));
	n = amqp_content_header_encode(AMQP_BASIC_CLASS, 1, (struct amqp_bytes){ props, 2 },
	    out + at + AMQP_FRAME_HEADER_LEN, sizeof(out) - at - AMQP_FRAME_OVERHEAD);
	amqp_frame_put_header(out + at, AMQP_FRAME_HEADER, 1, (uint32_t)n);
	at += (size_t)n + AMQP_FRAME_OVERHEAD;
	at += (size_t)amqp_frame_encode(out + at, sizeof(out) - at, AMQP_FRAME_BODY, 1, "x", 1);
	send_raw(out, at);
	expect_conn_close(AMQP_NOT_IMPLEMENTED);
}
END_TEST

START_TEST(test_confirm_acks_in_order)
{
	struct amqp_method m = { .id = AMQP_ID_confirm_select }, r;

	handshake();
	open_channel(1);
	declare(1, "q");
	send_method(1, &m);
	expect_method(1, AMQP_ID_confirm_select_ok, &r);
	publish(1, "", "q", "a", 1);
	expect_method(1, AMQP_ID_basic_ack, &r);
	ck_assert_int_eq(r.u.basic_ack.delivery_tag, 1);
	publish(1, "", "unrouted", "b", 1);
	expect_method(1, AMQP_ID_basic_ack, &r);
	ck_assert_int_eq(r.u.basic_ack.delivery_tag, 2);
}
END_TEST

START_TEST(test_client_close)
{
	struct amqp_method m = { .id = AMQP_ID_connection_close }, r;

	handshake();
	m.u.connection_close.reply_code = 200;
	send_method(0, &m);
	expect_method(0, AMQP_ID_connection_close_ok, &r);
	/* As RabbitMQ, the client closes the socket; a close sent meanwhile gets its close-ok. */
	ck_assert(!conn_none_left());
	send_method(0, &m);
	expect_method(0, AMQP_ID_connection_close_ok, &r);
	send_method(1, &(struct amqp_method){ .id = AMQP_ID_channel_open });
	expect_nothing();                                  /* dropped */
	bufferevent_flush(client, EV_WRITE, BEV_FINISHED); /* the client closes: EOF */
	pump();
	ck_assert(conn_none_left()); /* the broker dropped its side */
}
END_TEST

START_TEST(test_tx_and_confirm_exclusive)
{
	struct amqp_method m = { .id = AMQP_ID_tx_select }, r;

	handshake();
	open_channel(1);
	send_method(1, &m);
	expect_method(1, AMQP_ID_tx_select_ok, &r);
	m = (struct amqp_method){ .id = AMQP_ID_confirm_select };
	send_method(1, &m);
	expect_channel_close(1, AMQP_PRECONDITION_FAILED);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc = tcase_create("state machine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_bad_protocol_header);
	tcase_add_test(tc, test_bad_password);
	tcase_add_test(tc, test_frame_max_too_small);
	tcase_add_test(tc, test_frame_max_above_offer);
	tcase_add_test(tc, test_unknown_vhost);
	tcase_add_test(tc, test_frame_too_large_before_tune);
	tcase_add_test(tc, test_method_on_unopened_channel);
	tcase_add_test(tc, test_second_channel_open);
	tcase_add_test(tc, test_channel_max_counts_open_channels);
	tcase_add_test(tc, test_soft_error_closes_only_channel);
	tcase_add_test(tc, test_discard_until_close_ok);
	tcase_add_test(tc, test_body_before_header);
	tcase_add_test(tc, test_unknown_method);
	tcase_add_test(tc, test_bad_end_byte);
	tcase_add_test(tc, test_publish_get_ack);
	tcase_add_test(tc, test_body_larger_than_declared);
	tcase_add_test(tc, test_message_too_large);
	tcase_add_test(tc, test_publish_missing_exchange);
	tcase_add_test(tc, test_publish_whole_and_split);
	tcase_add_test(tc, test_confirm_acks_in_order);
	tcase_add_test(tc, test_client_close);
	tcase_add_test(tc, test_tx_and_confirm_exclusive);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(conn_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
