/*
 * check_frame.c: cutting a byte stream into frames (amqp/frame.c). amqp_frame_parse on whole
 * buffers, the protocol header, and the incremental splitter: a stream of several frames, with and
 * without the client's protocol header, fed split at every byte boundary, a byte at a time and in
 * random chunks, must give exactly the frames amqp_frame_parse finds in the whole stream.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "test/check_util.h"

/* ---- amqp_frame_parse ---- */

START_TEST(test_heartbeat_frame)
{
	struct amqp_frame f;
	size_t used;
	static const uint8_t want[8] = { 8, 0, 0, 0, 0, 0, 0, 0xCE };
	uint8_t *exact = heap_copy(amqp_heartbeat_frame, 8);

	ck_assert_mem_eq(amqp_heartbeat_frame, want, 8);
	ck_assert_int_eq(amqp_frame_parse(exact, 8, 0, &f, &used), 0);
	ck_assert_uint_eq(f.type, AMQP_FRAME_HEARTBEAT);
	ck_assert_uint_eq(f.channel, 0);
	ck_assert_uint_eq(f.size, 0);
	ck_assert_uint_eq(used, 8);
	free(exact);
}
END_TEST

START_TEST(test_encode_and_parse)
{
	uint8_t buf[64], *exact;
	struct amqp_frame f;
	size_t used;
	int n;

	n = amqp_frame_encode(buf, sizeof(buf), AMQP_FRAME_BODY, 0xBEEF, "hello", 5);
	ck_assert_int_eq(n, 13);
	ck_assert_mem_eq(buf, "\x03\xbe\xef\x00\x00\x00\x05hello\xce", 13);
	exact = heap_copy(buf, 13);
	ck_assert_int_eq(amqp_frame_parse(exact, 13, 0, &f, &used), 0);
	ck_assert_uint_eq(f.type, AMQP_FRAME_BODY);
	ck_assert_uint_eq(f.channel, 0xBEEF);
	ck_assert_uint_eq(f.size, 5);
	ck_assert_ptr_eq(f.payload, exact + 7);
	ck_assert_uint_eq(used, 13);
	free(exact);
	/* Too small: nothing written past cap. */
	for (size_t cap = 0; cap < 13; cap++) {
		exact = malloc(cap > 0 ? cap : 1);
		ck_assert_int_eq(amqp_frame_encode(exact, cap, 3, 1, "hello", 5), AMQP_E_NO_SPACE);
		free(exact);
	}
	/* The payload may already sit at buf + 7 (encoded in place). */
	memcpy(buf + 7, "xyz", 3);
	ck_assert_int_eq(amqp_frame_encode(buf, sizeof(buf), 2, 9, buf + 7, 3), 11);
	ck_assert_mem_eq(buf, "\x02\x00\x09\x00\x00\x00\x03xyz\xce", 11);
	amqp_frame_put_header(buf, 1, 0x0102, 0);
	ck_assert_mem_eq(buf, "\x01\x01\x02\x00\x00\x00\x00\xce", 8);
}
END_TEST

/* A prefix of a frame asks for more: *consumed is 0 before the header is whole, then the total. */
START_TEST(test_need_more_consumed)
{
	uint8_t frame[20];
	struct amqp_frame f;
	size_t used, k;
	uint8_t *exact;

	ck_assert_int_eq(amqp_frame_encode(frame, sizeof(frame), 1, 5, "0123456789AB", 12), 20);
	for (k = 0; k < 20; k++) {
		exact = heap_copy(frame, k);
		used = 12345;
		ck_assert_int_eq(amqp_frame_parse(exact, k, 4096, &f, &used), AMQP_E_NEED_MORE);
		ck_assert_uint_eq(used, k < 7 ? 0 : 20);
		free(exact);
	}
}
END_TEST

START_TEST(test_frame_max_edges)
{
	uint8_t *buf = calloc(1, 131072 + 16);
	struct amqp_frame f;
	size_t used;

	/* A frame of exactly frame_max bytes passes; one byte more does not. */
	amqp_frame_put_header(buf, AMQP_FRAME_BODY, 1, 4096 - 8);
	ck_assert_int_eq(amqp_frame_parse(buf, 4096, 4096, &f, &used), 0);
	ck_assert_int_eq(amqp_frame_parse(buf, 4096, 0, &f, &used), 0); /* 0 means 4096 */
	ck_assert_uint_eq(used, 4096);
	amqp_frame_put_header(buf, AMQP_FRAME_BODY, 1, 4096 - 7);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 4096, &f, &used), AMQP_E_FRAME_SIZE);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 0, &f, &used), AMQP_E_FRAME_SIZE);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 4097, &f, &used), AMQP_E_NEED_MORE);
	ck_assert_uint_eq(used, 4097);
	amqp_frame_put_header(buf, AMQP_FRAME_BODY, 1, 131072 - 8);
	ck_assert_int_eq(amqp_frame_parse(buf, 131072, 131072, &f, &used), 0);
	ck_assert_int_eq(amqp_frame_parse(buf, 7, 131071, &f, &used), AMQP_E_FRAME_SIZE);
	/* A frame_max below the frame overhead admits nothing. */
	ck_assert_int_eq(
	    amqp_frame_parse(amqp_heartbeat_frame, 8, 7, &f, &used), AMQP_E_FRAME_SIZE);
	ck_assert_int_eq(amqp_frame_parse(amqp_heartbeat_frame, 8, 8, &f, &used), 0);
	free(buf);
}
END_TEST

START_TEST(test_back_to_back)
{
	uint8_t buf[64];
	struct amqp_frame f;
	size_t used, at = 0;
	int n;

	n = amqp_frame_encode(buf, sizeof(buf), 3, 1, "ab", 2);
	memcpy(buf + n, amqp_heartbeat_frame, 8);
	n += 8;
	n += amqp_frame_encode(buf + n, sizeof(buf) - (size_t)n, 3, 2, "c", 1);
	ck_assert_int_eq(amqp_frame_parse(buf, (size_t)n, 0, &f, &used), 0);
	ck_assert_uint_eq(used, 10);
	at += used;
	ck_assert_int_eq(amqp_frame_parse(buf + at, (size_t)n - at, 0, &f, &used), 0);
	ck_assert_uint_eq(f.type, 8);
	at += used;
	ck_assert_int_eq(amqp_frame_parse(buf + at, (size_t)n - at, 0, &f, &used), 0);
	ck_assert_uint_eq(f.channel, 2);
	ck_assert_uint_eq(f.payload[0], 'c');
	ck_assert_uint_eq(at + used, (size_t)n);
}
END_TEST

START_TEST(test_protocol_header_check)
{
	uint8_t buf[8];
	size_t k, pos;

	ck_assert_mem_eq(amqp_protocol_header, "AMQP\0\0\x09\x01", 8);
	for (k = 0; k < 8; k++)
		ck_assert_int_eq(
		    amqp_protocol_header_check(amqp_protocol_header, k), AMQP_E_NEED_MORE);
	ck_assert_int_eq(amqp_protocol_header_check(amqp_protocol_header, 8), 0);
	ck_assert_int_eq(amqp_protocol_header_check((const uint8_t *)"AMQP\x01\x01\x00\x09", 8), 0);
	for (pos = 0; pos < 8; pos++) {
		memcpy(buf, amqp_protocol_header, 8);
		buf[pos] ^= 0x20;
		for (k = pos + 1; k <= 8; k++)
			ck_assert_int_eq(
			    amqp_protocol_header_check(buf, k), AMQP_E_PROTOCOL_HEADER);
	}
}
END_TEST

/* ---- the splitter ---- */

struct got {
	uint8_t type;
	uint16_t channel;
	uint32_t size;
	uint8_t payload[5000];
};

#define MAX_GOT 16

/* A stream of frames of every kind and channel, sizes 0 to frame_max, with or without the header. */
static size_t make_stream(uint8_t *out, size_t cap, bool with_header)
{
	struct amqp_method m;
	static uint8_t body[4096 - 8];
	size_t at = 0, i;
	int n;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	if (with_header) {
		memcpy(out, amqp_protocol_header, 8);
		at = 8;
	}
	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_connection_start_ok;
	m.u.connection_start_ok.client_properties =
	    AMQP_BYTES("\x07productS\x00\x00\x00\x06warren");
	m.u.connection_start_ok.mechanism = amqp_cstr("PLAIN");
	m.u.connection_start_ok.response = AMQP_BYTES("\0guest\0guest");
	m.u.connection_start_ok.locale = amqp_cstr("en_US");
	n = amqp_method_frame_encode(0, &m, out + at, cap - at);
	ck_assert_int_gt(n, 0);
	at += (size_t)n;
	n = amqp_frame_encode(
	    out + at, cap - at, AMQP_FRAME_HEADER, 1, "\0\x3c\0\0\0\0\0\0\0\0\0\x64\0\0", 14);
	at += (size_t)n;
	n = amqp_frame_encode(out + at, cap - at, AMQP_FRAME_BODY, 1, body, 100);
	at += (size_t)n;
	memcpy(out + at, amqp_heartbeat_frame, 8);
	at += 8;
	n = amqp_frame_encode(out + at, cap - at, AMQP_FRAME_BODY, 1, NULL, 0);
	at += (size_t)n;
	n = amqp_frame_encode(out + at, cap - at, AMQP_FRAME_BODY, 0xFFFF, body, sizeof(body));
	at += (size_t)n;
	memcpy(out + at, amqp_heartbeat_frame, 8);
	at += 8;
	ck_assert_uint_le(at, cap);
	return at;
}

/* The frames amqp_frame_parse finds in the whole stream. */
static size_t parse_whole(const uint8_t *s, size_t len, bool with_header, struct got *out)
{
	struct amqp_frame f;
	size_t at = with_header ? 8 : 0, used, n = 0;

	while (at < len) {
		ck_assert_int_eq(amqp_frame_parse(s + at, len - at, 4096, &f, &used), 0);
		ck_assert_uint_lt(n, MAX_GOT);
		out[n].type = f.type;
		out[n].channel = f.channel;
		out[n].size = f.size;
		memcpy(out[n].payload, f.payload, f.size);
		n++;
		at += used;
	}
	return n;
}

/*
 * Feed the stream in chunks ending at cuts[0] < cuts[1] < ... < len, each chunk a heap copy of
 * exactly its length; collect the frames. Returns the count, or a negative error.
 */
static long feed_chunks(bool with_header, const uint8_t *s, size_t len, const size_t *cuts,
    size_t ncuts, struct got *out)
{
	struct amqp_splitter sp;
	struct amqp_frame f;
	size_t start = 0, i, used, left, n = 0;
	uint8_t *chunk, *p;
	int r = 0;

	amqp_splitter_init(&sp, 4096, with_header);
	for (i = 0; i < ncuts && r >= 0; i++) {
		left = cuts[i] - start;
		chunk = heap_copy(s + start, left);
		p = chunk;
		start = cuts[i];
		do {
			r = amqp_splitter_feed(&sp, p, left, &used, &f);
			if (r < 0)
				break;
			ck_assert_uint_le(used, left);
			p += used;
			left -= used;
			if (r == 1) {
				ck_assert_uint_lt(n, MAX_GOT);
				out[n].type = f.type;
				out[n].channel = f.channel;
				out[n].size = f.size;
				memcpy(out[n].payload, f.payload, f.size);
				n++;
			} else {
				ck_assert_uint_eq(left, 0); /* 0 means all input was taken */
			}
		} while (left > 0);
		free(chunk);
	}
	amqp_splitter_free(&sp);
	return r < 0 ? r : (long)n;
}

static void same_frames(const struct got *a, size_t na, const struct got *b, long nb)
{
	size_t i;

	ck_assert_int_eq(nb, (long)na);
	for (i = 0; i < na; i++) {
		ck_assert_uint_eq(a[i].type, b[i].type);
		ck_assert_uint_eq(a[i].channel, b[i].channel);
		ck_assert_uint_eq(a[i].size, b[i].size);
		ck_assert_mem_eq(a[i].payload, b[i].payload, a[i].size);
	}
}

static uint8_t stream[8192];
static struct got want[MAX_GOT], have[MAX_GOT];

/* _i: 0 without the protocol header, 1 with it. Two chunks, split at every byte. */
START_TEST(test_split_every_boundary)
{
	bool hdr = _i != 0;
	size_t len = make_stream(stream, sizeof(stream), hdr), nw, k, cuts[2];

	nw = parse_whole(stream, len, hdr, want);
	ck_assert_uint_eq(nw, 7);
	for (k = 0; k <= len; k++) {
		cuts[0] = k;
		cuts[1] = len;
		same_frames(want, nw, have, feed_chunks(hdr, stream, len, cuts, 2, have));
	}
}
END_TEST

START_TEST(test_split_one_byte_chunks)
{
	bool hdr = _i != 0;
	size_t len = make_stream(stream, sizeof(stream), hdr), nw, k;
	size_t *cuts = malloc(len * sizeof(*cuts));

	nw = parse_whole(stream, len, hdr, want);
	for (k = 0; k < len; k++)
		cuts[k] = k + 1;
	same_frames(want, nw, have, feed_chunks(hdr, stream, len, cuts, len, have));
	free(cuts);
}
END_TEST

/* Random chunk sizes from 1 to 600, from a fixed-seed generator so failures reproduce. */
START_TEST(test_split_random_chunks)
{
	bool hdr = (_i & 1) != 0;
	size_t len = make_stream(stream, sizeof(stream), hdr), nw, n, at;
	size_t cuts[8192];
	uint32_t seed = 0x9E3779B9u * (uint32_t)(_i + 1);

	nw = parse_whole(stream, len, hdr, want);
	for (n = 0, at = 0; at < len; n++) {
		seed = seed * 1103515245u + 12345u;
		at += 1 + (seed >> 16) % 600;
		cuts[n] = at < len ? at : len;
	}
	same_frames(want, nw, have, feed_chunks(hdr, stream, len, cuts, n, have));
}
END_TEST

/* A bad protocol header errors, at the first byte that differs, and stays errored. */
START_TEST(test_splitter_bad_protocol_header)
{
	/* 0-9-0, 0-8 (AMQP 0-9's "AMQP\1\1\0\x09" is served as 0-9-1), HTTP, a typo. */
	static const char *bad[] = { "AMQP\0\0\x09\x00", "AMQP\x01\x01\x08\x00", "HTTP/1.1",
		"AMQX\0\0\x09\x01" };
	static const size_t bad_at[] = { 8, 7, 1, 4 };
	struct amqp_splitter sp;
	struct amqp_frame f;
	size_t used, k;
	int r = 0;

	amqp_splitter_init(&sp, 0, true);
	for (k = 0; k < 8; k++) {
		r = amqp_splitter_feed(&sp, (const uint8_t *)bad[_i] + k, 1, &used, &f);
		if (r != 0)
			break;
		ck_assert_uint_eq(used, 1);
	}
	ck_assert_int_eq(r, AMQP_E_PROTOCOL_HEADER);
	ck_assert_uint_eq(k + 1, bad_at[_i]);
	ck_assert_int_eq(
	    amqp_splitter_feed(&sp, amqp_heartbeat_frame, 8, &used, &f), AMQP_E_PROTOCOL_HEADER);
	ck_assert_uint_eq(used, 0);
	amqp_splitter_free(&sp);

	/* The same in one piece. */
	amqp_splitter_init(&sp, 0, true);
	ck_assert_int_eq(amqp_splitter_feed(&sp, (const uint8_t *)bad[_i], 8, &used, &f),
	    AMQP_E_PROTOCOL_HEADER);
	amqp_splitter_free(&sp);
}
END_TEST

/* An oversize frame is refused from its 7-byte header, before any payload or allocation. */
START_TEST(test_splitter_oversize_before_payload)
{
	struct amqp_splitter sp;
	struct amqp_frame f;
	uint8_t hdr[7];
	size_t used, k;
	int r = 0;

	hdr[0] = AMQP_FRAME_BODY;
	be16(hdr + 1, 1);
	be32(hdr + 3, 4096 - 7); /* one byte over frame_max */
	amqp_splitter_init(&sp, 4096, false);
	for (k = 0; k < 7; k++) {
		r = amqp_splitter_feed(&sp, hdr + k, 1, &used, &f);
		if (k < 6)
			ck_assert_int_eq(r, 0);
	}
	ck_assert_int_eq(r, AMQP_E_FRAME_SIZE);
	ck_assert_uint_le(sp.cap, 8); /* no room was reserved for the payload */
	ck_assert_int_eq(amqp_splitter_feed(&sp, hdr, 7, &used, &f), AMQP_E_FRAME_SIZE);
	amqp_splitter_free(&sp);

	/* A 4 GB frame announced in one chunk: refused, and the chunk's header bytes only taken. */
	be32(hdr + 3, 0xFFFFFFFFu);
	amqp_splitter_init(&sp, 131072, true);
	{
		uint8_t in[15];
		memcpy(in, amqp_protocol_header, 8);
		memcpy(in + 8, hdr, 7);
		ck_assert_int_eq(
		    amqp_splitter_feed(&sp, in, sizeof(in), &used, &f), AMQP_E_FRAME_SIZE);
		ck_assert_uint_le(used, sizeof(in));
		ck_assert_uint_le(sp.cap, 8);
	}
	amqp_splitter_free(&sp);
}
END_TEST

START_TEST(test_splitter_errors_in_stream)
{
	struct amqp_splitter sp;
	struct amqp_frame f;
	size_t used;
	uint8_t bad_end[9] = { 3, 0, 1, 0, 0, 0, 1, 'x', 0xCD };
	uint8_t bad_type[1] = { 9 };

	amqp_splitter_init(&sp, 0, false);
	ck_assert_int_eq(
	    amqp_splitter_feed(&sp, bad_end, sizeof(bad_end), &used, &f), AMQP_E_FRAME_END);
	amqp_splitter_free(&sp);
	amqp_splitter_init(&sp, 0, false);
	ck_assert_int_eq(amqp_splitter_feed(&sp, bad_type, 1, &used, &f), AMQP_E_FRAME_TYPE);
	amqp_splitter_free(&sp);
	/* A zero-length feed before anything arrived is not an error. */
	amqp_splitter_init(&sp, 0, true);
	ck_assert_int_eq(amqp_splitter_feed(&sp, bad_type, 0, &used, &f), 0);
	ck_assert_uint_eq(used, 0);
	amqp_splitter_free(&sp);
}
END_TEST

/* After tune, a larger frame_max lets larger frames through the same splitter. */
START_TEST(test_splitter_large_frame)
{
	size_t size = 100000, used;
	uint8_t *buf = calloc(1, size + 8);
	struct amqp_splitter sp;
	struct amqp_frame f;

	amqp_frame_put_header(buf, AMQP_FRAME_BODY, 3, (uint32_t)size);
	buf[7 + size - 1] = 0x5A;
	amqp_splitter_init(&sp, 131072, false);
	ck_assert_int_eq(amqp_splitter_feed(&sp, buf, 1000, &used, &f), 0);
	ck_assert_uint_eq(used, 1000);
	ck_assert_int_eq(amqp_splitter_feed(&sp, buf + 1000, size + 8 - 1000, &used, &f), 1);
	ck_assert_uint_eq(used, size + 8 - 1000);
	ck_assert_uint_eq(f.size, size);
	ck_assert_uint_eq(f.channel, 3);
	ck_assert_uint_eq(f.payload[size - 1], 0x5A);
	amqp_splitter_free(&sp);
	free(buf);
}
END_TEST

static Suite *frame_suite(void)
{
	Suite *s = suite_create("frame");
	TCase *tc = tcase_create("parse");
	TCase *ts = tcase_create("splitter");

	tcase_add_test(tc, test_heartbeat_frame);
	tcase_add_test(tc, test_encode_and_parse);
	tcase_add_test(tc, test_need_more_consumed);
	tcase_add_test(tc, test_frame_max_edges);
	tcase_add_test(tc, test_back_to_back);
	tcase_add_test(tc, test_protocol_header_check);
	suite_add_tcase(s, tc);
	tcase_add_loop_test(ts, test_split_every_boundary, 0, 2);
	tcase_add_loop_test(ts, test_split_one_byte_chunks, 0, 2);
	tcase_add_loop_test(ts, test_split_random_chunks, 0, 32);
	tcase_add_loop_test(ts, test_splitter_bad_protocol_header, 0, 4);
	tcase_add_test(ts, test_splitter_oversize_before_payload);
	tcase_add_test(ts, test_splitter_errors_in_stream);
	tcase_add_test(ts, test_splitter_large_frame);
	tcase_set_timeout(ts, 60);
	suite_add_tcase(s, ts);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
