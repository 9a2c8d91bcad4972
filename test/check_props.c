/*
 * check_props.c: content headers and the 14 properties of class basic (amqp/props.c), and the
 * method / header / body order the assembler accepts (amqp/assemble.c). The malformed cases live in
 * check_malformed.c; these are the inputs that must work, with their exact bytes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "test/check_util.h"

static const uint16_t all_flags[14] = { AMQP_P_CONTENT_TYPE, AMQP_P_CONTENT_ENCODING,
	AMQP_P_HEADERS, AMQP_P_DELIVERY_MODE, AMQP_P_PRIORITY, AMQP_P_CORRELATION_ID,
	AMQP_P_REPLY_TO, AMQP_P_EXPIRATION, AMQP_P_MESSAGE_ID, AMQP_P_TIMESTAMP, AMQP_P_TYPE,
	AMQP_P_USER_ID, AMQP_P_APP_ID, AMQP_P_CLUSTER_ID };

/* The properties with every field set to a value of its own; headers holds a nested table. */
static struct amqp_basic_properties full_props(void)
{
	static uint8_t long255[255];
	struct amqp_basic_properties p;
	size_t i;

	for (i = 0; i < sizeof(long255); i++)
		long255[i] = (uint8_t)(i * 7 + 1);
	memset(&p, 0, sizeof(p));
	p.flags = AMQP_P_ALL;
	p.content_type = amqp_cstr("application/json");
	p.content_encoding = (struct amqp_bytes){ NULL, 0 };
	/* {"x-a": I -7, "x-t": F {"k": S "v"}} */
	p.headers =
	    AMQP_BYTES("\x03x-aI\xff\xff\xff\xf9\x03x-tF\x00\x00\x00\x08\x01kS\x00\x00\x00\x01v");
	p.delivery_mode = 2;
	p.priority = 9;
	p.correlation_id = amqp_cstr("corr-1");
	p.reply_to = amqp_cstr("amq.rabbitmq.reply-to");
	p.expiration = amqp_cstr("60000");
	p.message_id = (struct amqp_bytes){ long255, sizeof(long255) };
	p.timestamp = 0x0000000065A1B2C3ull;
	p.type = amqp_cstr("t");
	p.user_id = amqp_cstr("guest");
	p.app_id = amqp_cstr("warren-test");
	p.cluster_id = AMQP_BYTES("c\0d");
	return p;
}

static void props_eq(const struct amqp_basic_properties *a, const struct amqp_basic_properties *b)
{
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert(amqp_bytes_eq(a->content_type, b->content_type));
	ck_assert(amqp_bytes_eq(a->content_encoding, b->content_encoding));
	ck_assert(amqp_bytes_eq(a->headers, b->headers));
	ck_assert_uint_eq(a->delivery_mode, b->delivery_mode);
	ck_assert_uint_eq(a->priority, b->priority);
	ck_assert(amqp_bytes_eq(a->correlation_id, b->correlation_id));
	ck_assert(amqp_bytes_eq(a->reply_to, b->reply_to));
	ck_assert(amqp_bytes_eq(a->expiration, b->expiration));
	ck_assert(amqp_bytes_eq(a->message_id, b->message_id));
	ck_assert_uint_eq(a->timestamp, b->timestamp);
	ck_assert(amqp_bytes_eq(a->type, b->type));
	ck_assert(amqp_bytes_eq(a->user_id, b->user_id));
	ck_assert(amqp_bytes_eq(a->app_id, b->app_id));
	ck_assert(amqp_bytes_eq(a->cluster_id, b->cluster_id));
}

START_TEST(test_all_properties_roundtrip)
{
	struct amqp_basic_properties in = full_props(), out;
	uint8_t buf[1024], again[1024], *exact;
	size_t expect;
	int n;

	ck_assert_int_eq(amqp_table_validate(in.headers), 0);
	/* flags, 11 shortstrs, a longstr, two octets and a timestamp */
	expect = 2 + (1 + 16) + 1 + (4 + in.headers.len) + 1 + 1 + (1 + 6) + (1 + 21) + (1 + 5) +
	    (1 + 255) + 8 + (1 + 1) + (1 + 5) + (1 + 11) + (1 + 3);
	n = amqp_properties_encode(&in, buf, sizeof(buf));
	ck_assert_int_eq(n, (int)expect);
	ck_assert_uint_eq(buf[0], 0xFF); /* the flags word: all 14 bits, bits 1 and 0 clear */
	ck_assert_uint_eq(buf[1], 0xFC);
	ck_assert_uint_eq(buf[2], 16); /* content-type first */
	ck_assert_mem_eq(buf + 3, "application/json", 16);
	ck_assert_uint_eq(buf[19], 0); /* content-encoding, empty */
	exact = heap_copy(buf, (size_t)n);
	ck_assert_int_eq(amqp_properties_decode(exact, (size_t)n, &out), 0);
	props_eq(&in, &out);
	ck_assert_ptr_eq(out.content_type.ptr, exact + 3); /* a slice into the input */
	ck_assert_int_eq(amqp_properties_encode(&out, again, sizeof(again)), n);
	ck_assert_mem_eq(again, buf, (size_t)n);
	free(exact);
}
END_TEST

/* full_props() with every property but `flag` cleared, as the decoder should give it back. */
static struct amqp_basic_properties only(const struct amqp_basic_properties *f, uint16_t flag)
{
	struct amqp_basic_properties p;

	memset(&p, 0, sizeof(p));
	p.flags = flag;
	switch (flag) {
	case AMQP_P_CONTENT_TYPE: p.content_type = f->content_type; break;
	case AMQP_P_CONTENT_ENCODING: p.content_encoding = f->content_encoding; break;
	case AMQP_P_HEADERS: p.headers = f->headers; break;
	case AMQP_P_DELIVERY_MODE: p.delivery_mode = f->delivery_mode; break;
	case AMQP_P_PRIORITY: p.priority = f->priority; break;
	case AMQP_P_CORRELATION_ID: p.correlation_id = f->correlation_id; break;
	case AMQP_P_REPLY_TO: p.reply_to = f->reply_to; break;
	case AMQP_P_EXPIRATION: p.expiration = f->expiration; break;
	case AMQP_P_MESSAGE_ID: p.message_id = f->message_id; break;
	case AMQP_P_TIMESTAMP: p.timestamp = f->timestamp; break;
	case AMQP_P_TYPE: p.type = f->type; break;
	case AMQP_P_USER_ID: p.user_id = f->user_id; break;
	case AMQP_P_APP_ID: p.app_id = f->app_id; break;
	case AMQP_P_CLUSTER_ID: p.cluster_id = f->cluster_id; break;
	default: ck_abort_msg("flag %04x", flag);
	}
	return p;
}

/* Each property alone: its flag bit, its bytes right after the flags, nothing else decoded. */
START_TEST(test_each_property_alone)
{
	struct amqp_basic_properties full = full_props(), in, out, want;
	uint8_t buf[512], *exact;
	int n;

	in = full; /* every field filled, one flag set: only that field may be written */
	in.flags = all_flags[_i];
	want = only(&full, all_flags[_i]);
	n = amqp_properties_encode(&in, buf, sizeof(buf));
	ck_assert_int_ge(n, 3);
	ck_assert_uint_eq(((unsigned)buf[0] << 8) | buf[1], all_flags[_i]);
	switch (all_flags[_i]) {
	case AMQP_P_DELIVERY_MODE:
	case AMQP_P_PRIORITY: ck_assert_int_eq(n, 3); break;
	case AMQP_P_TIMESTAMP: ck_assert_int_eq(n, 10); break;
	case AMQP_P_HEADERS: ck_assert_int_eq(n, 2 + 4 + (int)full.headers.len); break;
	default: ck_assert_int_eq(n, 3 + (int)buf[2]); break;
	}
	exact = heap_copy(buf, (size_t)n);
	ck_assert_int_eq(amqp_properties_decode(exact, (size_t)n, &out), 0);
	props_eq(&out, &want);
	free(exact);
}
END_TEST

START_TEST(test_no_properties)
{
	struct amqp_basic_properties in, out;
	uint8_t buf[8];
	static const uint8_t zero[2] = { 0, 0 };

	memset(&in, 0, sizeof(in));
	in.content_type = amqp_cstr("ignored: flag clear");
	ck_assert_int_eq(amqp_properties_encode(&in, buf, sizeof(buf)), 2);
	ck_assert_mem_eq(buf, zero, 2);
	ck_assert_int_eq(amqp_properties_decode(zero, 2, &out), 0);
	ck_assert_uint_eq(out.flags, 0);
	ck_assert_uint_eq(out.content_type.len, 0);
	/* Reserved bits 1 and 0 in the struct are not written. */
	in.flags = 0x0003;
	ck_assert_int_eq(amqp_properties_encode(&in, buf, sizeof(buf)), 2);
	ck_assert_mem_eq(buf, zero, 2);
}
END_TEST

/* A continuation word that is all zero is legal, and dropped from the decoded flags. */
START_TEST(test_continuation_word_zero)
{
	static const uint8_t in[] = { 0x80, 0x01, 0x00, 0x00, 2, 'a', '/' };
	static const uint8_t chain[] = { 0x00, 0x01, 0x00, 0x01, 0x00, 0x00 };
	struct amqp_basic_properties out;
	uint8_t *exact = heap_copy(in, sizeof(in));

	ck_assert_int_eq(amqp_properties_decode(exact, sizeof(in), &out), 0);
	ck_assert_uint_eq(out.flags, AMQP_P_CONTENT_TYPE);
	ck_assert(amqp_bytes_eq_cstr(out.content_type, "a/"));
	free(exact);
	exact = heap_copy(chain, sizeof(chain));
	ck_assert_int_eq(amqp_properties_decode(exact, sizeof(chain), &out), 0);
	ck_assert_uint_eq(out.flags, 0);
	free(exact);
}
END_TEST

START_TEST(test_content_header_roundtrip)
{
	struct amqp_basic_properties p = full_props();
	struct amqp_content_header h;
	uint8_t props[1024], buf[1100], *exact;
	static const uint8_t head[12] = { 0, 60, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08 };
	int np, n;

	np = amqp_properties_encode(&p, props, sizeof(props));
	ck_assert_int_gt(np, 0);
	n = amqp_content_header_encode(AMQP_BASIC_CLASS, 0x0102030405060708ull,
	    (struct amqp_bytes){ props, (size_t)np }, buf, sizeof(buf));
	ck_assert_int_eq(n, 12 + np);
	ck_assert_mem_eq(buf, head, sizeof(head));
	ck_assert_mem_eq(buf + 12, props, (size_t)np);
	exact = heap_copy(buf, (size_t)n);
	ck_assert_int_eq(amqp_content_header_decode(exact, (size_t)n, &h), 0);
	ck_assert_uint_eq(h.class_id, 60);
	ck_assert_uint_eq(h.body_size, 0x0102030405060708ull);
	ck_assert_ptr_eq(h.raw_properties.ptr, exact + 12);
	ck_assert_uint_eq(h.raw_properties.len, (size_t)np);
	props_eq(&p, &h.props);
	free(exact);
	/* Too small an output buffer, at every size. */
	for (size_t cap = 0; cap < (size_t)n; cap++) {
		exact = malloc(cap > 0 ? cap : 1);
		ck_assert_int_eq(amqp_content_header_encode(AMQP_BASIC_CLASS, 1,
		                     (struct amqp_bytes){ props, (size_t)np }, exact, cap),
		    AMQP_E_NO_SPACE);
		free(exact);
	}
	for (size_t cap = 0; cap < (size_t)np; cap++) {
		exact = malloc(cap > 0 ? cap : 1);
		ck_assert_int_eq(amqp_properties_encode(&p, exact, cap), AMQP_E_NO_SPACE);
		free(exact);
	}
}
END_TEST

START_TEST(test_content_header_minimal)
{
	static const uint8_t in[] = { 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	struct amqp_content_header h;
	uint8_t *exact = heap_copy(in, sizeof(in));

	ck_assert_int_eq(amqp_content_header_decode(exact, sizeof(in), &h), 0);
	ck_assert_uint_eq(h.body_size, 0);
	ck_assert_uint_eq(h.props.flags, 0);
	ck_assert_uint_eq(h.raw_properties.len, 2);
	free(exact);
}
END_TEST

START_TEST(test_overlong_shortstr_property)
{
	static uint8_t big[256];
	struct amqp_basic_properties p;
	uint8_t buf[600];

	memset(&p, 0, sizeof(p));
	p.flags = AMQP_P_APP_ID;
	p.app_id = (struct amqp_bytes){ big, 256 };
	ck_assert_int_eq(amqp_properties_encode(&p, buf, sizeof(buf)), AMQP_E_SHORTSTR);
	p.app_id.len = 255;
	ck_assert_int_eq(amqp_properties_encode(&p, buf, sizeof(buf)), 2 + 1 + 255);
}
END_TEST

/* ---- the assembler: the orders that must work ---- */

START_TEST(test_assembler_sequences)
{
	struct amqp_assembler a = { AMQP_ASM_IDLE, 0, 0 };

	ck_assert_int_eq(
	    amqp_assembler_step(&a, AMQP_FRAME_METHOD, AMQP_ID_queue_declare, 0, 0, 20),
	    AMQP_ASM_METHOD);
	ck_assert_int_eq(a.state, AMQP_ASM_IDLE);
	/* publish, header of 10 bytes, bodies of 4 and 6 */
	ck_assert_int_eq(amqp_assembler_step(&a, AMQP_FRAME_METHOD, AMQP_ID_basic_publish, 0, 0, 9),
	    AMQP_ASM_CONTENT_METHOD);
	ck_assert_int_eq(a.state, AMQP_ASM_HEADER);
	ck_assert_int_eq(
	    amqp_assembler_step(&a, AMQP_FRAME_HEADER, 0, 60, 10, 14), AMQP_ASM_GOT_HEADER);
	ck_assert_int_eq(amqp_assembler_step(&a, AMQP_FRAME_BODY, 0, 0, 0, 4), AMQP_ASM_GOT_BODY);
	ck_assert_int_eq(amqp_assembler_step(&a, AMQP_FRAME_BODY, 0, 0, 0, 0), AMQP_ASM_GOT_BODY);
	ck_assert_uint_eq(a.remaining, 6);
	ck_assert_int_eq(amqp_assembler_step(&a, AMQP_FRAME_BODY, 0, 0, 0, 6), AMQP_ASM_COMPLETE);
	ck_assert_int_eq(a.state, AMQP_ASM_IDLE);
	/* an empty message: the header completes it */
	ck_assert_int_eq(amqp_assembler_step(&a, AMQP_FRAME_METHOD, AMQP_ID_basic_publish, 0, 0, 9),
	    AMQP_ASM_CONTENT_METHOD);
	ck_assert_int_eq(
	    amqp_assembler_step(&a, AMQP_FRAME_HEADER, 0, 60, 0, 14), AMQP_ASM_COMPLETE);
	/* a body of 2^40 bytes in one accounting step */
	ck_assert_int_eq(amqp_assembler_step(&a, AMQP_FRAME_METHOD, AMQP_ID_basic_deliver, 0, 0, 9),
	    AMQP_ASM_CONTENT_METHOD);
	ck_assert_int_eq(
	    amqp_assembler_step(&a, AMQP_FRAME_HEADER, 0, 60, 1ull << 40, 14), AMQP_ASM_GOT_HEADER);
	ck_assert_int_eq(
	    amqp_assembler_step(&a, AMQP_FRAME_BODY, 0, 0, 0, 131064), AMQP_ASM_GOT_BODY);
	ck_assert_uint_eq(a.remaining, (1ull << 40) - 131064);
}
END_TEST

static Suite *props_suite(void)
{
	Suite *s = suite_create("props");
	TCase *tc = tcase_create("properties");
	TCase *ta = tcase_create("assembler");

	tcase_add_test(tc, test_all_properties_roundtrip);
	tcase_add_loop_test(tc, test_each_property_alone, 0, 14);
	tcase_add_test(tc, test_no_properties);
	tcase_add_test(tc, test_continuation_word_zero);
	tcase_add_test(tc, test_content_header_roundtrip);
	tcase_add_test(tc, test_content_header_minimal);
	tcase_add_test(tc, test_overlong_shortstr_property);
	suite_add_tcase(s, tc);
	tcase_add_test(ta, test_assembler_sequences);
	suite_add_tcase(s, ta);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(props_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
