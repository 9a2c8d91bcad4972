/*
 * 08-hostile: malformed and hostile input over raw sockets: truncated frames and silence, bad
 * field tables, unknown methods, bad property lists, content frames out of place, garbage and
 * abrupt disconnects. Each test keeps a second, well-behaved connection (the witness) open and
 * checks at the end that it never noticed.
 */
#include <stdlib.h>
#include <string.h>

#include "interop/raw.h"

#define HANDSHAKE_TIMEOUT_MS 10000 /* RabbitMQ's and Warren's handshake_timeout */

static struct raw witness;

/* Open the witness connection (channel 1). */
static void witness_begin(void)
{
	raw_login(&witness, NULL);
	raw_channel_open(&witness, 1);
}

/* The witness still gets answers. */
static void witness_end(void)
{
	raw_ping(&witness, 1);
	raw_close(&witness);
}

/* A logged-in connection with channel 1 open. */
static void hostile_begin(struct raw *r)
{
	witness_begin();
	raw_login(r, NULL);
	raw_channel_open(r, 1);
}

/* A method frame on channel ch from raw payload bytes (class, method, arguments). */
static void send_payload(struct raw *r, uint16_t ch, const struct wbuf *w)
{
	raw_send_frame(r, AMQP_FRAME_METHOD, ch, w->p, w->len);
}

/* queue.declare of a new queue with the given encoded arguments (without their length). */
static void queue_declare_with_args(struct raw *r, const void *args, size_t n, uint32_t len)
{
	struct wbuf w = { 0 };

	wb_u16(&w, 50);
	wb_u16(&w, 10);
	wb_u16(&w, 0);
	wb_shortstr(&w, uniq("q"));
	wb_u8(&w, 0);
	wb_u32(&w, len);
	wb_bytes(&w, args, n);
	send_payload(r, 1, &w);
	wb_free(&w);
}

/* ---- Silence ---- */

/* A connection that stops mid-frame during the handshake is dropped by the handshake timeout. */
START_TEST(truncated_frame_then_silence_dropped)
{
	static const uint8_t part[] = { 1, 0, 0, 0, 0, 1, 0, 0, 10, 0 };
	int64_t start, took;
	struct raw r;

	witness_begin();
	raw_connect(&r);
	raw_hello(&r);
	raw_write(&r, part, sizeof(part)); /* a start-ok frame header and 3 bytes of 256 */
	start = now_ms();
	raw_expect_eof(&r, HANDSHAKE_TIMEOUT_MS + 3000);
	took = now_ms() - start;
	ck_assert_msg(
	    took >= HANDSHAKE_TIMEOUT_MS - 1500, "dropped after %lld ms", (long long)took);
	raw_close(&r);
	witness_end();
}
END_TEST

/* ---- Field tables ---- */

/*
 * An unknown field-value type letter: 502 SYNTAX_ERROR. RabbitMQ 3.10 resets the TCP connection
 * without a connection.close.
 */
START_TEST(unknown_field_type_502)
{
	static const uint8_t args[] = { 5, 'x', '-', 'f', 'o', 'o', 'Z', 0, 0, 0, 0 };
	struct raw r;

	WARREN_ONLY();
	hostile_begin(&r);
	queue_declare_with_args(&r, args, sizeof(args), sizeof(args));
	raw_expect_connection_close(&r, 502, NULL, RAW_ANY_METHOD);
	raw_close(&r);
	witness_end();
}
END_TEST

/* Tables nested deeper than Warren's bound (32): 502. RabbitMQ 3.10 accepts them. */
START_TEST(tables_nested_too_deep_502)
{
	struct wbuf w = { 0 };
	size_t at[64];
	int i, depth = 64;
	struct raw r;

	WARREN_ONLY();
	hostile_begin(&r);
	for (i = 0; i < depth; i++) {
		wb_shortstr(&w, "x");
		wb_u8(&w, 'F');
		at[i] = w.len;
		wb_u32(&w, 0);
	}
	for (i = depth - 1; i >= 0; i--)
		wb_put_u32_at(&w, at[i], (uint32_t)(w.len - at[i] - 4));
	queue_declare_with_args(&r, w.p, w.len, (uint32_t)w.len);
	raw_expect_connection_close(&r, 502, NULL, RAW_ANY_METHOD);
	wb_free(&w);
	raw_close(&r);
	witness_end();
}
END_TEST

/* A table longer than the rest of its frame: 501. RabbitMQ: "FRAME_ERROR - cannot decode <<...>>"
 * naming the method. */
START_TEST(table_past_end_of_frame_501)
{
	static const uint8_t args[] = { 1, 'k' };
	struct raw r;

	hostile_begin(&r);
	queue_declare_with_args(&r, args, sizeof(args), 2000);
	raw_expect_connection_close(&r, 501, "FRAME_ERROR - *", AMQP_ID_queue_declare);
	raw_close(&r);
	witness_end();
}
END_TEST

/*
 * A string inside a table running past the table's end (the table itself fits its frame): 501.
 * RabbitMQ 3.10 decodes arguments lazily, fails later and resets the TCP connection.
 */
START_TEST(entry_past_end_of_table_501)
{
	static const uint8_t args[] = { 1, 'k', 'S', 0, 0, 0, 5, 'a', 'b' };
	struct raw r;

	WARREN_ONLY();
	hostile_begin(&r);
	queue_declare_with_args(&r, args, sizeof(args), sizeof(args));
	raw_expect_connection_close(&r, 501, "FRAME_ERROR - *", AMQP_ID_queue_declare);
	raw_close(&r);
	witness_end();
}
END_TEST

/* A nested table longer than its parent, whose frame has room after the parent: 501. */
START_TEST(nested_table_overruns_its_parent_501)
{
	/* parent (8 bytes): key "k", 'F', inner length 20; then 20 more bytes in the frame */
	static const uint8_t args[] = { 1, 'k', 'F', 0, 0, 0, 20, 0, 1, 'j', 't', 1, 1, 'i', 't', 1,
		1, 'h', 't', 1, 1, 'g', 't', 1, 1, 'f', 't', 1 };
	struct raw r;

	hostile_begin(&r);
	queue_declare_with_args(&r, args, sizeof(args), 7);
	raw_expect_connection_close(&r, 501, NULL, RAW_ANY_METHOD);
	raw_close(&r);
	witness_end();
}
END_TEST

/* ---- Methods ---- */

/* Bytes after a method's last field: 501 "FRAME_ERROR - cannot decode <<...>>". */
START_TEST(bytes_after_last_field_501)
{
	static const uint8_t args_and_more[] = { 'e', 'x', 't', 'r', 'a' };
	struct raw r;

	hostile_begin(&r);
	queue_declare_with_args(&r, args_and_more, sizeof(args_and_more), 0);
	raw_expect_connection_close(&r, 501, "FRAME_ERROR - *", AMQP_ID_queue_declare);
	raw_close(&r);
	witness_end();
}
END_TEST

START_TEST(truncated_method_501)
{
	struct wbuf w = { 0 };
	struct raw r;

	hostile_begin(&r);
	wb_u16(&w, 50);
	wb_u16(&w, 10);
	wb_u16(&w, 0);
	wb_u8(&w, 5); /* queue name of 5 bytes, 2 present */
	wb_bytes(&w, "ab", 2);
	send_payload(&r, 1, &w);
	raw_expect_connection_close(&r, 501, "FRAME_ERROR - *", AMQP_ID_queue_declare);
	wb_free(&w);
	raw_close(&r);
	witness_end();
}
END_TEST

/* A method frame too short to hold its class and method ids: 501. */
START_TEST(method_frame_without_ids_501)
{
	struct raw r;

	hostile_begin(&r);
	raw_send_frame(&r, AMQP_FRAME_METHOD, 1, "\0\x32", 2);
	raw_expect_connection_close(&r, 501, NULL, RAW_ANY_METHOD);
	raw_close(&r);
	witness_end();
}
END_TEST

/* Unknown class or method: 503 COMMAND_INVALID. RabbitMQ 3.10 resets the TCP connection. */
static void unknown_method(uint16_t class_id, uint16_t method_id)
{
	struct wbuf w = { 0 };
	struct raw r;

	hostile_begin(&r);
	wb_u16(&w, class_id);
	wb_u16(&w, method_id);
	send_payload(&r, 1, &w);
	raw_expect_connection_close(&r, 503, NULL, RAW_ANY_METHOD);
	wb_free(&w);
	raw_close(&r);
	witness_end();
}

START_TEST(unknown_class_503)
{
	WARREN_ONLY();
	unknown_method(99, 10);
}
END_TEST

START_TEST(unknown_method_503)
{
	WARREN_ONLY();
	unknown_method(50, 99);
}
END_TEST

/* ---- Content ---- */

/* basic.publish to queue q and a content header with these properties bytes. */
static void publish_with_raw_properties(struct raw *r, const char *q, const void *props, size_t n)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	uint8_t hdr[64];
	int len;

	m.u.basic_publish.routing_key = amqp_cstr(q);
	raw_send_method(r, 1, &m);
	len = amqp_content_header_encode(
	    AMQP_BASIC_CLASS, 0, (struct amqp_bytes){ props, n }, hdr, sizeof(hdr));
	ck_assert_int_gt(len, 0);
	raw_send_frame(r, AMQP_FRAME_HEADER, 1, hdr, (size_t)len);
}

/*
 * A property-flags word with the reserved bit 1 set: 502. RabbitMQ 3.10 accepts it and delivers
 * the flags word unchanged (seen with 0x0003).
 */
START_TEST(reserved_property_flag_502)
{
	const char *q = uniq("q");
	struct raw r;

	WARREN_ONLY();
	hostile_begin(&r);
	raw_queue_declare(&r, 1, q);
	publish_with_raw_properties(&r, q, "\x00\x02", 2);
	raw_expect_connection_close(&r, 502, NULL, RAW_ANY_METHOD);
	raw_close(&r);
	witness_end();
}
END_TEST

/*
 * A flags word announcing a content-type that is not there: 501 (truncated). RabbitMQ 3.10 fails
 * when it decodes the properties: connection.close 541 "INTERNAL_ERROR".
 */
/*
 * A continuation flags word with property bits: class basic has only 14 properties, 502. RabbitMQ
 * 3.10 fails when it decodes the properties: connection.close 541 "INTERNAL_ERROR".
 */
START_TEST(property_flags_continuation_with_bits_502)
{
	const char *q = uniq("q");
	struct raw r;

	WARREN_ONLY();
	hostile_begin(&r);
	raw_queue_declare(&r, 1, q);
	publish_with_raw_properties(&r, q, "\x00\x01\x80\x00", 4);
	raw_expect_connection_close(&r, 502, NULL, RAW_ANY_METHOD);
	raw_close(&r);
	witness_end();
}
END_TEST

START_TEST(truncated_property_list_501)
{
	const char *q = uniq("q");
	struct raw r;

	WARREN_ONLY();
	hostile_begin(&r);
	raw_queue_declare(&r, 1, q);
	publish_with_raw_properties(&r, q, "\x80\x00", 2);
	raw_expect_connection_close(&r, 501, NULL, RAW_ANY_METHOD);
	raw_close(&r);
	witness_end();
}
END_TEST

/* RabbitMQ: "UNEXPECTED_FRAME - expected method frame, got non method frame instead" (0, 0). */
START_TEST(body_before_header_505)
{
	struct raw r;

	hostile_begin(&r);
	raw_send_frame(&r, AMQP_FRAME_BODY, 1, "hello", 5);
	raw_expect_connection_close(
	    &r, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead", 0);
	raw_close(&r);
	witness_end();
}
END_TEST

START_TEST(header_without_method_505)
{
	static const uint8_t hdr[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct raw r;

	hostile_begin(&r);
	raw_send_frame(&r, AMQP_FRAME_HEADER, 1, hdr, sizeof(hdr));
	raw_expect_connection_close(
	    &r, 505, "UNEXPECTED_FRAME - expected method frame, got non method frame instead", 0);
	raw_close(&r);
	witness_end();
}
END_TEST

START_TEST(body_on_unopened_channel_505)
{
	struct raw r;

	hostile_begin(&r);
	raw_send_frame(&r, AMQP_FRAME_BODY, 9, "abc", 3);
	raw_expect_connection_close(&r, 505, NULL, 0);
	raw_close(&r);
	witness_end();
}
END_TEST

/* ---- Garbage and disconnects ---- */

/* An HTTP request after the handshake: 501 (RabbitMQ reads "GET " as a huge frame). */
START_TEST(http_request_after_open_501)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct raw r;

	hostile_begin(&r);
	raw_write(&r, req, sizeof(req) - 1);
	raw_expect_connection_close(&r, 501, NULL, 0);
	raw_close(&r);
	witness_end();
}
END_TEST

/* A frame header announcing 4 GiB: refused at once (501), nothing allocated. */
START_TEST(frame_size_4gib_501)
{
	static const uint8_t hdr[] = { 1, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF };
	struct raw r;

	hostile_begin(&r);
	raw_write(&r, hdr, sizeof(hdr));
	raw_expect_connection_close(&r, 501, NULL, 0);
	raw_close(&r);
	witness_end();
}
END_TEST

/* Connections that vanish mid-handshake, mid-frame and mid-content leave the broker serving. */
START_TEST(abrupt_disconnects_leave_others_unharmed)
{
	static const uint8_t half_header[] = { 1, 0, 1, 0 };
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	const char *q = uniq("q");
	struct raw r;
	int i;

	witness_begin();
	raw_queue_declare(&witness, 1, q);
	for (i = 0; i < 10; i++) {
		raw_connect(&r);
		raw_write(&r, "AMQP", 4); /* half a protocol header */
		raw_close(&r);
		raw_connect(&r);
		raw_hello(&r);
		raw_close(&r); /* no start-ok */
		raw_login(&r, NULL);
		raw_channel_open(&r, 1);
		raw_write(&r, half_header, sizeof(half_header));
		raw_close(&r);
		raw_login(&r, NULL);
		raw_channel_open(&r, 1);
		m.u.basic_publish.routing_key = amqp_cstr(q);
		raw_send_method(&r, 1, &m);
		raw_send_frame(&r, AMQP_FRAME_HEADER, 1, "\0\x3c\0\0\0\0\0\0\0\0\0\x10\0\0",
		    14); /* 16-byte body never sent */
		raw_close(&r);
	}
	/* The half-published messages never reached the queue. */
	raw_basic_get(&witness, 1, q, true);
	raw_expect_method(&witness, 1, AMQP_ID_basic_get_empty, NULL);
	witness_end();
}
END_TEST

/* A new connection still completes its handshake after all of the above. */
START_TEST(broker_still_accepts_connections)
{
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	raw_ping(&r, 1);
	raw_close(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("08-hostile");
	TCase *tc;

	tc = harness_tcase(s, "silence", 30);
	tcase_add_test(tc, truncated_frame_then_silence_dropped);

	tc = harness_tcase(s, "tables", TEST_TIMEOUT);
	tcase_add_test(tc, unknown_field_type_502);
	tcase_add_test(tc, tables_nested_too_deep_502);
	tcase_add_test(tc, table_past_end_of_frame_501);
	tcase_add_test(tc, entry_past_end_of_table_501);
	tcase_add_test(tc, nested_table_overruns_its_parent_501);

	tc = harness_tcase(s, "methods", TEST_TIMEOUT);
	tcase_add_test(tc, bytes_after_last_field_501);
	tcase_add_test(tc, truncated_method_501);
	tcase_add_test(tc, method_frame_without_ids_501);
	tcase_add_test(tc, unknown_class_503);
	tcase_add_test(tc, unknown_method_503);

	tc = harness_tcase(s, "content", TEST_TIMEOUT);
	tcase_add_test(tc, reserved_property_flag_502);
	tcase_add_test(tc, property_flags_continuation_with_bits_502);
	tcase_add_test(tc, truncated_property_list_501);
	tcase_add_test(tc, body_before_header_505);
	tcase_add_test(tc, header_without_method_505);
	tcase_add_test(tc, body_on_unopened_channel_505);

	tc = harness_tcase(s, "garbage", TEST_TIMEOUT);
	tcase_add_test(tc, http_request_after_open_501);
	tcase_add_test(tc, frame_size_4gib_501);
	tcase_add_test(tc, abrupt_disconnects_leave_others_unharmed);
	tcase_add_test(tc, broker_still_accepts_connections);

	return harness_run(s);
}
