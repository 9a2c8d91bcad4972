/*
 * fuzz_frame.c: libFuzzer target for the frame layer. The input's first two bytes set up the run:
 * byte 0 is (chunk pattern << 4) | (frame_max choice << 1) | expect-protocol-header, byte 1 seeds
 * the chunk sizes; the rest is a byte stream. The stream goes through amqp_splitter in chunks, each
 * in its own exact-size heap buffer (an empty read passes NULL), and every frame the splitter
 * yields must be the one amqp_frame_parse cuts from the whole stream at the same place; errors must
 * agree too. Method and header frames are decoded, and every channel's amqp_assembler is held
 * against a small model.
 */
#include <stdbool.h>

#include "test/fuzz/fuzz.h"

static const uint32_t frame_maxes[8] = { 0, 8, 64, 512, 4096, 8192, 131072, 1u << 20 };

/* What each channel's assembler should say, modelled with counts up rather than down. */
struct channel_model {
	enum amqp_asm_state state;
	uint16_t class_id;
	uint64_t want, got;
};

static struct amqp_assembler assemblers[65536];
static struct channel_model models[65536];
static bool touched[65536];
static uint16_t touched_list[65536];
static size_t ntouched;

static void reset_channels(void)
{
	size_t i;

	for (i = 0; i < ntouched; i++) {
		memset(&assemblers[touched_list[i]], 0, sizeof(assemblers[0]));
		memset(&models[touched_list[i]], 0, sizeof(models[0]));
		touched[touched_list[i]] = false;
	}
	ntouched = 0;
}

static int model_step(struct channel_model *c, uint8_t type, uint32_t method_id,
    uint16_t header_class, uint64_t body_size, uint32_t size)
{
	const struct amqp_method_desc *d;

	switch (c->state) {
	case AMQP_ASM_IDLE:
		if (type != AMQP_FRAME_METHOD)
			return AMQP_E_UNEXPECTED_FRAME;
		d = amqp_method_lookup(method_id);
		FUZZ_CHECK(d != NULL);
		if ((d->flags & AMQP_MF_CONTENT) == 0)
			return AMQP_ASM_METHOD;
		c->state = AMQP_ASM_HEADER;
		c->class_id = d->class_id;
		return AMQP_ASM_CONTENT_METHOD;
	case AMQP_ASM_HEADER:
		if (type != AMQP_FRAME_HEADER)
			return AMQP_E_UNEXPECTED_FRAME;
		if (header_class != c->class_id)
			return AMQP_E_BAD_HEADER;
		c->want = body_size;
		c->got = 0;
		c->state = body_size == 0 ? AMQP_ASM_IDLE : AMQP_ASM_BODY;
		return body_size == 0 ? AMQP_ASM_COMPLETE : AMQP_ASM_GOT_HEADER;
	case AMQP_ASM_BODY:
		if (type != AMQP_FRAME_BODY)
			return AMQP_E_UNEXPECTED_FRAME;
		if (size > c->want - c->got)
			return AMQP_E_BODY_SIZE;
		c->got += size;
		if (c->got < c->want)
			return AMQP_ASM_GOT_BODY;
		c->state = AMQP_ASM_IDLE;
		return AMQP_ASM_COMPLETE;
	}
	FUZZ_CHECK(!"a channel state");
	return 0;
}

/* Decode one frame the splitter gave, as a broker would, and step its channel's assembler. */
static void on_frame(const struct amqp_frame *f)
{
	struct amqp_content_header h;
	struct amqp_method m;
	uint8_t *payload = fuzz_dup(f->payload, f->size);
	uint32_t method_id = 0;
	uint16_t header_class = 0;
	uint64_t body_size = 0;
	int want, got;

	switch (f->type) {
	case AMQP_FRAME_HEARTBEAT: FUZZ_CHECK(f->channel == 0 && f->size == 0); goto out;
	case AMQP_FRAME_METHOD:
		if (amqp_method_decode(payload, f->size, &m) != 0)
			goto out; /* a broker closes the connection here */
		method_id = m.id;
		break;
	case AMQP_FRAME_HEADER:
		if (amqp_content_header_decode(payload, f->size, &h) == 0) {
			header_class = h.class_id;
			body_size = h.body_size;
		} else if (f->size >= 12) {
			/* The assembler judges only class and size: give it the raw ones. */
			header_class = (uint16_t)((payload[0] << 8) | payload[1]);
			body_size = amqp_load_u64(payload + 4);
		} else {
			goto out;
		}
		break;
	case AMQP_FRAME_BODY: break;
	default: FUZZ_CHECK(!"a frame type the parser accepts");
	}
	if (!touched[f->channel]) {
		touched[f->channel] = true;
		touched_list[ntouched++] = f->channel;
	}
	want =
	    model_step(&models[f->channel], f->type, method_id, header_class, body_size, f->size);
	got = amqp_assembler_step(
	    &assemblers[f->channel], f->type, method_id, header_class, body_size, f->size);
	FUZZ_CHECK(got == want);
	if (got < 0) { /* the broker closes the channel; start it afresh */
		memset(&assemblers[f->channel], 0, sizeof(assemblers[0]));
		memset(&models[f->channel], 0, sizeof(models[0]));
	}
	FUZZ_CHECK(assemblers[f->channel].state == models[f->channel].state);
out:
	free(payload);
}

/* What is left of a chunk to feed; an empty read passes NULL, as a caller with nothing may. */
static const uint8_t *rest(const uint8_t *chunk, size_t cpos, size_t n)
{
	return cpos < n ? chunk + cpos : NULL;
}

/* The splitter's frame must be the one-shot parser's, byte for byte. */
static void same_frame(
    const struct amqp_frame *a, const struct amqp_frame *b, const uint8_t *wire, size_t wire_len)
{
	uint8_t *enc;

	FUZZ_CHECK(a->type == b->type && a->channel == b->channel && a->size == b->size);
	FUZZ_CHECK(a->size == 0 || memcmp(a->payload, b->payload, a->size) == 0);
	FUZZ_CHECK(wire_len == (size_t)a->size + AMQP_FRAME_OVERHEAD);
	enc = fuzz_alloc(wire_len);
	FUZZ_CHECK(amqp_frame_encode(enc, wire_len, a->type, a->channel, a->payload, a->size) ==
	    (int)wire_len);
	FUZZ_CHECK(memcmp(enc, wire, wire_len) == 0);
	free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amqp_splitter s;
	struct amqp_frame frame, ref;
	struct chunker ch;
	const uint8_t *stream;
	uint8_t *chunk;
	size_t len, pos = 0, off = 0, n, cpos, used, cons;
	uint32_t frame_max;
	bool expect, empty_reads;
	int r, hdr = 0, err = 0;

	if (size < 2)
		return 0;
	expect = data[0] & 1;
	frame_max = frame_maxes[(data[0] >> 1) & 7];
	ch = (struct chunker){ (data[0] >> 4) & 7, data[1], data[1], 0 };
	empty_reads = (data[0] & 0x80) != 0; /* an empty read after every frame */
	stream = data + 2;
	len = size - 2;

	reset_channels();
	amqp_splitter_init(&s, frame_max, expect);
	if (expect) {
		hdr = amqp_protocol_header_check(stream, len);
		if (hdr == 0)
			off = AMQP_PROTOCOL_HEADER_LEN;
	}
	while (err == 0 && pos < len) {
		n = next_chunk(&ch, len - pos);
		chunk = n > 0 ? fuzz_dup(stream + pos, n) : NULL;
		cpos = 0;
		for (;;) {
			r = amqp_splitter_feed(&s, rest(chunk, cpos, n), n - cpos, &used, &frame);
			FUZZ_CHECK(used <= n - cpos);
			cpos += used;
			if (r == 1) {
				FUZZ_CHECK(hdr == 0);
				FUZZ_CHECK(amqp_frame_parse(stream + off, len - off, frame_max,
				               &ref, &cons) == 0);
				/* The splitter stops right after the frame's end byte. */
				FUZZ_CHECK(pos + cpos == off + cons);
				same_frame(&frame, &ref, stream + off, cons);
				off += cons;
				on_frame(&frame);
				if (empty_reads) {
					r = amqp_splitter_feed(&s, NULL, 0, &used, &frame);
					FUZZ_CHECK(r == 0 && used == 0);
				}
				continue;
			}
			if (r == 0) {
				FUZZ_CHECK(cpos == n);
				break;
			}
			err = r;
			if (hdr != 0)
				FUZZ_CHECK(hdr == AMQP_E_PROTOCOL_HEADER && r == hdr);
			else
				FUZZ_CHECK(amqp_frame_parse(stream + off, len - off, frame_max,
				               &ref, &cons) == r);
			/* Errors are sticky. */
			FUZZ_CHECK(amqp_splitter_feed(
			               &s, rest(chunk, cpos, n), n - cpos, &used, &frame) == r);
			FUZZ_CHECK(used == 0);
			break;
		}
		pos += n;
		free(chunk);
	}
	if (err == 0) { /* everything fed: what is left is an incomplete frame at most */
		if (hdr != 0)
			FUZZ_CHECK(hdr == AMQP_E_NEED_MORE);
		else if (off < len)
			FUZZ_CHECK(amqp_frame_parse(stream + off, len - off, frame_max, &ref,
			               &cons) == AMQP_E_NEED_MORE);
	}
	amqp_splitter_free(&s);
	return 0;
}
