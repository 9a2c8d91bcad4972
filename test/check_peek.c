/*
 * check_peek.c: the big-endian helpers (amqp.h) and the fast-path peeks (amqp/peek.c) a broker runs
 * on every message. Golden bytes for each; every truncation and a trailing byte refused; and
 * wherever a peek says yes, the generic decoder must accept the same payload with the same fields,
 * so the fast path never takes a frame the ordinary path would have refused.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "test/check_util.h"

/* ---- big-endian helpers ---- */

START_TEST(test_be_golden)
{
	static const uint8_t b[8] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF };
	uint8_t out[8];

	ck_assert_uint_eq(amqp_load_u16(b), 0x0123);
	ck_assert_uint_eq(amqp_load_u32(b), 0x01234567u);
	ck_assert_uint_eq(amqp_load_u64(b), 0x0123456789ABCDEFull);
	ck_assert_uint_eq(amqp_load_u32(b + 4), 0x89ABCDEFu); /* high bit set: no sign extension */
	ck_assert_uint_eq(
	    amqp_load_u64((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff"), UINT64_MAX);
	memset(out, 0, sizeof(out));
	amqp_store_u16(out, 0x0123);
	ck_assert_mem_eq(out, b, 2);
	amqp_store_u32(out, 0x01234567u);
	ck_assert_mem_eq(out, b, 4);
	amqp_store_u64(out, 0x0123456789ABCDEFull);
	ck_assert_mem_eq(out, b, 8);
}
END_TEST

/* Stores and loads round-trip for values with every byte different. */
START_TEST(test_be_round_trip)
{
	uint64_t v = 0x8000000000000001ull * (uint64_t)(_i + 1) ^ ((uint64_t)_i << 29);
	uint8_t buf[8];

	amqp_store_u64(buf, v);
	ck_assert_uint_eq(amqp_load_u64(buf), v);
	amqp_store_u32(buf, (uint32_t)v);
	ck_assert_uint_eq(amqp_load_u32(buf), (uint32_t)v);
	amqp_store_u16(buf, (uint16_t)v);
	ck_assert_uint_eq(amqp_load_u16(buf), (uint16_t)v);
}
END_TEST

/* ---- frame size and method id ---- */

START_TEST(test_peek_frame_size)
{
	uint8_t buf[16];

	amqp_frame_put_header(buf, AMQP_FRAME_BODY, 7, 5);
	ck_assert_uint_eq(amqp_peek_frame_size(buf), 5);
	/* An oversized header is all the caller has: the size is read without the payload. */
	ck_assert_uint_eq(
	    amqp_peek_frame_size((const uint8_t *)"\x01\x00\x00\xff\xff\xff\xf8"), 0xFFFFFFF8u);
}
END_TEST

static const struct {
	uint8_t type;
	const char *payload;
	size_t len;
	uint32_t want;
} method_id_cases[] = {
	{ AMQP_FRAME_METHOD, "\x00\x3c\x00\x28", 4, AMQP_ID_basic_publish },
	{ AMQP_FRAME_METHOD, "\x00\x14\x00\x0a\x00", 5, AMQP_ID_channel_open },
	{ AMQP_FRAME_METHOD, "\x00\x0a\x00\x33", 4, AMQP_ID_connection_close_ok },
	{ AMQP_FRAME_METHOD, "\xff\xff\xff\xff", 4, 0xFFFFFFFFu }, /* unknown ids are still ids */
	{ AMQP_FRAME_METHOD, "\x00\x3c\x00", 3, 0 },               /* too short */
	{ AMQP_FRAME_METHOD, "", 0, 0 },
	{ AMQP_FRAME_HEADER, "\x00\x3c\x00\x28", 4, 0 }, /* not a method frame */
	{ AMQP_FRAME_BODY, "\x00\x3c\x00\x28", 4, 0 },
	{ AMQP_FRAME_HEARTBEAT, "", 0, 0 },
};

START_TEST(test_peek_method_id)
{
	uint8_t *p = heap_copy(method_id_cases[_i].payload, method_id_cases[_i].len);
	struct amqp_frame f = { .type = method_id_cases[_i].type,
		.size = (uint32_t)method_id_cases[_i].len,
		.payload = p };

	ck_assert_uint_eq(amqp_peek_method_id(&f), method_id_cases[_i].want);
	free(p);
}
END_TEST

START_TEST(test_peek_header_class)
{
	uint8_t *p = heap_copy("\x00\x3c\x00\x00", 4);

	ck_assert_uint_eq(amqp_peek_header_class(p, 4), AMQP_BASIC_CLASS);
	ck_assert_uint_eq(amqp_peek_header_class(p, 2), AMQP_BASIC_CLASS);
	ck_assert_uint_eq(amqp_peek_header_class(p, 1), 0);
	ck_assert_uint_eq(amqp_peek_header_class(p, 0), 0);
	free(p);
}
END_TEST

/* ---- basic.publish and basic.ack ---- */

static int encode(const struct amqp_method *m, uint8_t *buf, size_t cap)
{
	int n = amqp_method_encode(m, buf, cap);

	ck_assert_int_gt(n, 0);
	return n;
}

/* Publishes with empty, short and 255-byte names, and each combination of the bits. */
static struct amqp_method publish_case(int i, char *names)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	static const size_t lens[] = { 0, 1, 7, 255 };

	memset(names, 'a' + i % 26, 512);
	m.u.basic_publish.ticket = (uint16_t)(i * 4099);
	m.u.basic_publish.exchange = (struct amqp_bytes){ (const uint8_t *)names, lens[i % 4] };
	m.u.basic_publish.routing_key =
	    (struct amqp_bytes){ (const uint8_t *)names + 256, lens[(i / 4) % 4] };
	m.u.basic_publish.mandatory = (i / 16) & 1;
	m.u.basic_publish.immediate = (i / 32) & 1;
	return m;
}

START_TEST(test_peek_publish)
{
	char names[512];
	struct amqp_method m = publish_case(_i, names), d;
	struct amqp_basic_publish p;
	uint8_t buf[1024], *exact;
	size_t n = (size_t)encode(&m, buf, sizeof(buf)), len;

	exact = heap_copy(buf, n);
	ck_assert(amqp_peek_basic_publish(exact, n, &p));
	ck_assert_int_eq(amqp_method_decode(exact, n, &d), 0);
	ck_assert_uint_eq(p.ticket, d.u.basic_publish.ticket);
	ck_assert(amqp_bytes_eq(p.exchange, m.u.basic_publish.exchange));
	ck_assert(amqp_bytes_eq(p.routing_key, m.u.basic_publish.routing_key));
	ck_assert_ptr_eq(p.exchange.ptr, d.u.basic_publish.exchange.ptr); /* slices of the input */
	ck_assert_int_eq(p.mandatory, m.u.basic_publish.mandatory);
	ck_assert_int_eq(p.immediate, m.u.basic_publish.immediate);
	free(exact);
	/* Every truncation is refused, each read staying inside its exact-length copy. */
	for (len = 0; len < n; len++) {
		exact = heap_copy(buf, len);
		ck_assert_msg(
		    !amqp_peek_basic_publish(exact, len, &p), "accepted %zu of %zu", len, n);
		free(exact);
	}
	/* A byte after the bits: not exactly the fields, left to the decoder (which says 501). */
	buf[n] = 0;
	exact = heap_copy(buf, n + 1);
	ck_assert(!amqp_peek_basic_publish(exact, n + 1, &p));
	free(exact);
}
END_TEST

START_TEST(test_peek_ack)
{
	struct amqp_method m = { .id = AMQP_ID_basic_ack }, d;
	struct amqp_basic_ack a;
	uint8_t buf[64], *exact;
	size_t n, len;

	m.u.basic_ack.delivery_tag = _i == 0 ? 0 : _i == 1 ? UINT64_MAX : 0x0102030405060708ull;
	m.u.basic_ack.multiple = _i & 1;
	n = (size_t)encode(&m, buf, sizeof(buf));
	ck_assert_uint_eq(n, 13);
	exact = heap_copy(buf, n);
	ck_assert(amqp_peek_basic_ack(exact, n, &a));
	ck_assert_int_eq(amqp_method_decode(exact, n, &d), 0);
	ck_assert_uint_eq(a.delivery_tag, m.u.basic_ack.delivery_tag);
	ck_assert_uint_eq(a.delivery_tag, d.u.basic_ack.delivery_tag);
	ck_assert_int_eq(a.multiple, d.u.basic_ack.multiple);
	free(exact);
	for (len = 0; len < n; len++) {
		exact = heap_copy(buf, len);
		ck_assert(!amqp_peek_basic_ack(exact, len, &a));
		free(exact);
	}
	buf[n] = 0;
	exact = heap_copy(buf, n + 1);
	ck_assert(!amqp_peek_basic_ack(exact, n + 1, &a));
	free(exact);
}
END_TEST

/* Other methods are not taken for a publish or an ack, whatever their length. */
START_TEST(test_peek_other_methods)
{
	static const uint32_t ids[] = { AMQP_ID_basic_nack, AMQP_ID_basic_reject,
		AMQP_ID_basic_deliver, AMQP_ID_basic_get, AMQP_ID_channel_open };
	struct amqp_basic_publish p;
	struct amqp_basic_ack a;
	uint8_t buf[32];
	size_t len;

	memset(buf, 0, sizeof(buf));
	amqp_store_u32(buf, ids[_i]);
	for (len = 0; len <= sizeof(buf); len++) {
		uint8_t *exact = heap_copy(buf, len);
		ck_assert(!amqp_peek_basic_publish(exact, len, &p));
		ck_assert(!amqp_peek_basic_ack(exact, len, &a));
		free(exact);
	}
}
END_TEST

/*
 * Mutated publishes and acks (bytes flipped, lengths changed): whenever a peek says yes, the
 * generic decoder accepts the same bytes with the same fields.
 */
START_TEST(test_peek_agrees_with_decoder)
{
	char names[512];
	struct amqp_method m, d;
	struct amqp_basic_publish p;
	struct amqp_basic_ack a;
	uint8_t buf[1024];
	unsigned seed = (unsigned)_i * 2654435761u + 1;
	int round, n, taken = 0;

	for (round = 0; round < 2000; round++) {
		seed = seed * 1103515245u + 12345u;
		if (seed & 0x10000) {
			m = publish_case((int)(seed >> 20) % 64, names);
		} else {
			m = (struct amqp_method){ .id = AMQP_ID_basic_ack };
			m.u.basic_ack.delivery_tag = seed;
		}
		n = encode(&m, buf, sizeof(buf) - 8);
		seed = seed * 1103515245u + 12345u;
		buf[(seed >> 8) % (unsigned)n] ^= (uint8_t)(1u << ((seed >> 4) % 8));
		if (seed & 0x1000)
			n += (int)((seed >> 24) % 5) - 2;
		if (n < 0)
			n = 0;
		uint8_t *exact = heap_copy(buf, (size_t)n);
		if (amqp_peek_basic_publish(exact, (size_t)n, &p)) {
			taken++;
			ck_assert_int_eq(amqp_method_decode(exact, (size_t)n, &d), 0);
			ck_assert_uint_eq(d.id, AMQP_ID_basic_publish);
			ck_assert(amqp_bytes_eq(p.exchange, d.u.basic_publish.exchange));
			ck_assert(amqp_bytes_eq(p.routing_key, d.u.basic_publish.routing_key));
			ck_assert_int_eq(p.mandatory, d.u.basic_publish.mandatory);
			ck_assert_int_eq(p.immediate, d.u.basic_publish.immediate);
		}
		if (amqp_peek_basic_ack(exact, (size_t)n, &a)) {
			taken++;
			ck_assert_int_eq(amqp_method_decode(exact, (size_t)n, &d), 0);
			ck_assert_uint_eq(d.id, AMQP_ID_basic_ack);
			ck_assert_uint_eq(a.delivery_tag, d.u.basic_ack.delivery_tag);
			ck_assert_int_eq(a.multiple, d.u.basic_ack.multiple);
		}
		free(exact);
	}
	ck_assert_int_gt(taken, 100); /* the mutations leave many valid: the check has teeth */
}
END_TEST

static Suite *peek_suite(void)
{
	Suite *s = suite_create("peek");
	TCase *tb = tcase_create("big-endian");
	TCase *tp = tcase_create("peek");

	tcase_add_test(tb, test_be_golden);
	tcase_add_loop_test(tb, test_be_round_trip, 0, 64);
	suite_add_tcase(s, tb);
	tcase_add_test(tp, test_peek_frame_size);
	tcase_add_loop_test(tp, test_peek_method_id, 0,
	    (int)(sizeof(method_id_cases) / sizeof(method_id_cases[0])));
	tcase_add_test(tp, test_peek_header_class);
	tcase_add_loop_test(tp, test_peek_publish, 0, 64);
	tcase_add_loop_test(tp, test_peek_ack, 0, 4);
	tcase_add_loop_test(tp, test_peek_other_methods, 0, 5);
	tcase_add_loop_test(tp, test_peek_agrees_with_decoder, 0, 4);
	suite_add_tcase(s, tp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peek_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
