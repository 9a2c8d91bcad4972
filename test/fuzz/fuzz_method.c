/*
 * fuzz_method.c: libFuzzer target for method frame payloads. When amqp_method_decode accepts the
 * input, re-encoding must give the input back exactly, except that the unused high bits of each bit
 * octet are dropped (decoding ignores them); decoding that encoding again and re-encoding must be
 * byte-identical. The expected bytes come from walking the input with the method table's field
 * kinds, independently of the codec's generated decoders.
 */
#include "test/fuzz/fuzz.h"

/*
 * Walk a payload the decoder accepted (data, copied to canon) with the method's field descriptions:
 * clear the unused high bits of each bit octet in canon, check each table field decodes into a
 * tree, and return the length walked (which must be the whole payload).
 */
static size_t walk_fields(
    const struct amqp_method_desc *d, const uint8_t *data, uint8_t *canon, size_t len)
{
	struct amqp_arena pool;
	struct amqp_table t;
	size_t off = 4, n, bit_at = 0;
	uint8_t i, used = 0;
	int pos = 0;

	amqp_arena_init(&pool);
	for (i = 0; i < d->nfields; i++) {
		if (d->fields[i].kind == AMQP_F_BIT) {
			if (pos == 0 || pos == 8) {
				FUZZ_CHECK(off < len);
				bit_at = off++;
				used = 0;
				pos = 0;
			}
			used |= (uint8_t)(1u << pos++);
			canon[bit_at] = data[bit_at] & used;
			continue;
		}
		pos = 0;
		switch (d->fields[i].kind) {
		case AMQP_F_OCTET: n = 1; break;
		case AMQP_F_SHORT: n = 2; break;
		case AMQP_F_LONG: n = 4; break;
		case AMQP_F_LONGLONG:
		case AMQP_F_TIMESTAMP: n = 8; break;
		case AMQP_F_SHORTSTR:
			FUZZ_CHECK(off < len);
			n = 1 + (size_t)data[off];
			break;
		case AMQP_F_LONGSTR:
		case AMQP_F_TABLE:
			FUZZ_CHECK(4 <= len - off);
			n = 4 + (size_t)amqp_load_u32(data + off);
			break;
		default: FUZZ_CHECK(!"a field kind in the method table");
		}
		FUZZ_CHECK(n <= len - off);
		if (d->fields[i].kind == AMQP_F_TABLE) {
			struct amqp_bytes raw = { data + off + 4, n - 4 };

			FUZZ_CHECK(amqp_table_decode(raw, &pool, &t) == 0);
			amqp_arena_reset(&pool);
		}
		off += n;
	}
	amqp_arena_reset(&pool);
	return off;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct amqp_method_desc *d;
	struct amqp_method m1, m2;
	struct amqp_frame f;
	uint8_t *canon = NULL, *enc = NULL, *enc2 = NULL, *small = NULL, *frame = NULL;
	size_t used;
	int r;

	r = amqp_method_decode(data, size, &m1);
	if (r != 0) {
		FUZZ_CHECK(r == AMQP_E_TRUNCATED || r == AMQP_E_TRAILING ||
		    r == AMQP_E_UNKNOWN_METHOD || r == AMQP_E_FIELD_TYPE ||
		    r == AMQP_E_TABLE_DEPTH || r == AMQP_E_TABLE_SIZE);
		FUZZ_CHECK(r != AMQP_E_UNKNOWN_METHOD ||
		    amqp_method_lookup(((uint32_t)amqp_load_u32(data))) == NULL);
		return 0;
	}
	FUZZ_CHECK(size >= 4 && m1.id == amqp_load_u32(data));
	d = amqp_method_lookup(m1.id);
	FUZZ_CHECK(d != NULL && d->id == m1.id);
	FUZZ_CHECK(d->class_id == amqp_method_class(m1.id) && d->method_id == (m1.id & 0xFFFF));
	FUZZ_CHECK(strcmp(amqp_method_str(m1.id), d->name) == 0);
	FUZZ_CHECK(amqp_method_carries_content(m1.id) == ((d->flags & AMQP_MF_CONTENT) != 0));

	/* Expected encoding: the input with each bit octet reduced to the bits the method uses. */
	canon = fuzz_dup(data, size);
	FUZZ_CHECK(walk_fields(d, data, canon, size) == size);

	enc = fuzz_alloc(size);
	FUZZ_CHECK(amqp_method_encode(&m1, enc, size) == (int)size);
	FUZZ_CHECK(memcmp(enc, canon, size) == 0);

	small = fuzz_alloc(size - 1);
	FUZZ_CHECK(amqp_method_encode(&m1, small, size - 1) == AMQP_E_NO_SPACE);

	FUZZ_CHECK(amqp_method_decode(enc, size, &m2) == 0);
	FUZZ_CHECK(m2.id == m1.id);
	enc2 = fuzz_alloc(size);
	FUZZ_CHECK(amqp_method_encode(&m2, enc2, size) == (int)size);
	FUZZ_CHECK(memcmp(enc, enc2, size) == 0);

	/* As a whole frame, it parses back to the same payload. */
	frame = fuzz_alloc(size + AMQP_FRAME_OVERHEAD);
	FUZZ_CHECK(amqp_method_frame_encode(7, &m1, frame, size + AMQP_FRAME_OVERHEAD) ==
	    (int)(size + AMQP_FRAME_OVERHEAD));
	FUZZ_CHECK(amqp_frame_parse(frame, size + AMQP_FRAME_OVERHEAD,
	               (uint32_t)(size + AMQP_FRAME_OVERHEAD < AMQP_FRAME_MIN_SIZE
	                       ? AMQP_FRAME_MIN_SIZE
	                       : size + AMQP_FRAME_OVERHEAD),
	               &f, &used) == 0);
	FUZZ_CHECK(used == size + AMQP_FRAME_OVERHEAD && f.type == AMQP_FRAME_METHOD &&
	    f.channel == 7 && f.size == size && memcmp(f.payload, enc, size) == 0);

	free(canon);
	free(enc);
	free(enc2);
	free(small);
	free(frame);
	return 0;
}
