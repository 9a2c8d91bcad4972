/*
 * fuzz_props.c: libFuzzer target for content headers and basic properties. The input is decoded
 * both as a content header payload and as a bare property list (and, past the header's 12 bytes, as
 * the property list it carries). Accepted property lists re-encode to the input less any
 * continuation flag words (class basic has 14 properties, so they can only be zero), decode again
 * to equal fields, and re-encode identically.
 */
#include <stdbool.h>

#include "test/fuzz/fuzz.h"

static bool props_eq(const struct amqp_basic_properties *a, const struct amqp_basic_properties *b)
{
	return a->flags == b->flags && amqp_bytes_eq(a->content_type, b->content_type) &&
	    amqp_bytes_eq(a->content_encoding, b->content_encoding) &&
	    amqp_bytes_eq(a->headers, b->headers) && a->delivery_mode == b->delivery_mode &&
	    a->priority == b->priority && amqp_bytes_eq(a->correlation_id, b->correlation_id) &&
	    amqp_bytes_eq(a->reply_to, b->reply_to) &&
	    amqp_bytes_eq(a->expiration, b->expiration) &&
	    amqp_bytes_eq(a->message_id, b->message_id) && a->timestamp == b->timestamp &&
	    amqp_bytes_eq(a->type, b->type) && amqp_bytes_eq(a->user_id, b->user_id) &&
	    amqp_bytes_eq(a->app_id, b->app_id) && amqp_bytes_eq(a->cluster_id, b->cluster_id);
}

static bool is_decode_error(int r)
{
	return r == AMQP_E_TRUNCATED || r == AMQP_E_TRAILING || r == AMQP_E_PROPERTY_FLAGS ||
	    r == AMQP_E_FIELD_TYPE || r == AMQP_E_TABLE_DEPTH || r == AMQP_E_TABLE_SIZE;
}

/* Decode buf as a property list; when accepted, round-trip it. Returns the decode result. */
static int check_properties(const uint8_t *buf, size_t len, struct amqp_basic_properties *p1)
{
	struct amqp_basic_properties p2;
	struct amqp_arena pool;
	struct amqp_table t;
	uint8_t *canon, *enc, *enc2, *small;
	uint16_t flags, more;
	size_t skip = 2, clen;
	int r;

	r = amqp_properties_decode(buf, len, p1);
	if (r != 0) {
		FUZZ_CHECK(is_decode_error(r));
		return r;
	}
	/* The expected encoding: the flags word without its continuation bit, then the fields. */
	flags = (uint16_t)((buf[0] << 8) | buf[1]);
	FUZZ_CHECK((flags & 0x0002) == 0 && p1->flags == (flags & AMQP_P_ALL));
	for (more = flags; more & 0x0001; skip += 2) {
		FUZZ_CHECK(2 <= len - skip);
		more = (uint16_t)((buf[skip] << 8) | buf[skip + 1]);
		FUZZ_CHECK((more & 0xFFFE) == 0);
	}
	clen = len - skip + 2;
	canon = fuzz_alloc(clen);
	canon[0] = (uint8_t)(p1->flags >> 8);
	canon[1] = (uint8_t)p1->flags;
	memcpy(canon + 2, buf + skip, len - skip);

	enc = fuzz_alloc(clen);
	FUZZ_CHECK(amqp_properties_encode(p1, enc, clen) == (int)clen);
	FUZZ_CHECK(memcmp(enc, canon, clen) == 0);
	small = fuzz_alloc(clen - 1);
	FUZZ_CHECK(amqp_properties_encode(p1, small, clen - 1) == AMQP_E_NO_SPACE);

	FUZZ_CHECK(amqp_properties_decode(enc, clen, &p2) == 0);
	FUZZ_CHECK(props_eq(p1, &p2));
	enc2 = fuzz_alloc(clen);
	FUZZ_CHECK(amqp_properties_encode(&p2, enc2, clen) == (int)clen);
	FUZZ_CHECK(memcmp(enc, enc2, clen) == 0);

	/* The headers table was validated, so it decodes. */
	if (p1->flags & AMQP_P_HEADERS) {
		amqp_arena_init(&pool);
		FUZZ_CHECK(amqp_table_decode(p1->headers, &pool, &t) == 0);
		amqp_arena_reset(&pool);
	} else {
		FUZZ_CHECK(p1->headers.len == 0);
	}
	free(canon);
	free(enc);
	free(enc2);
	free(small);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amqp_content_header h;
	struct amqp_basic_properties p, tail;
	uint8_t *enc;
	uint64_t body_size;
	int r, rt = 1;

	check_properties(data, size, &p);
	if (size >= 12)
		rt = check_properties(data + 12, size - 12, &tail);

	r = amqp_content_header_decode(data, size, &h);
	if (r != 0) {
		FUZZ_CHECK(is_decode_error(r) || r == AMQP_E_BAD_HEADER);
		/* A well-formed prefix fails only for its properties. */
		if (size >= 12 && data[0] == 0 && data[1] == AMQP_BASIC_CLASS && data[2] == 0 &&
		    data[3] == 0)
			FUZZ_CHECK(r == rt);
		return 0;
	}
	FUZZ_CHECK(size >= 12 && rt == 0);
	body_size = amqp_load_u64(data + 4);
	FUZZ_CHECK(h.class_id == AMQP_BASIC_CLASS && h.body_size == body_size);
	FUZZ_CHECK(h.raw_properties.ptr == data + 12 && h.raw_properties.len == size - 12);
	FUZZ_CHECK(props_eq(&h.props, &tail));

	/* The header re-encodes verbatim: class, zero weight, size, the raw properties. */
	enc = fuzz_alloc(size);
	FUZZ_CHECK(amqp_content_header_encode(
	               h.class_id, h.body_size, h.raw_properties, enc, size) == (int)size);
	FUZZ_CHECK(memcmp(enc, data, size) == 0);
	free(enc);
	enc = fuzz_alloc(size - 1);
	FUZZ_CHECK(amqp_content_header_encode(h.class_id, h.body_size, h.raw_properties, enc,
	               size - 1) == AMQP_E_NO_SPACE);
	free(enc);
	return 0;
}
