/*
 * method.c: the method table, and a decoder and an encoder per method, all generated from
 * methods.def. Consecutive bit fields are packed into octets, low bit first, as the spec says; any
 * other field ends a run of bits.
 */
#include <stddef.h>
#include <string.h>

#include "amqp/wire.h"

/* Bit packing state while walking one method's fields. */
struct bits {
	uint8_t *at;   /* encoder: the octet being filled */
	uint8_t octet; /* decoder: the octet being read */
	int pos;       /* next bit; 0 or 8 means a new octet */
};

static int dec_BIT(struct cursor *c, struct bits *b, bool *v)
{
	if (b->pos == 0 || b->pos == 8) {
		if (get_u8(c, &b->octet) != 0)
			return AMQP_E_TRUNCATED;
		b->pos = 0;
	}
	*v = (b->octet >> b->pos++) & 1;
	return 0;
}

static int dec_OCTET(struct cursor *c, struct bits *b, uint8_t *v)
{
	b->pos = 0;
	return get_u8(c, v);
}

static int dec_SHORT(struct cursor *c, struct bits *b, uint16_t *v)
{
	b->pos = 0;
	return get_u16(c, v);
}

static int dec_LONG(struct cursor *c, struct bits *b, uint32_t *v)
{
	b->pos = 0;
	return get_u32(c, v);
}

static int dec_LONGLONG(struct cursor *c, struct bits *b, uint64_t *v)
{
	b->pos = 0;
	return get_u64(c, v);
}

#define dec_TIMESTAMP dec_LONGLONG

static int dec_SHORTSTR(struct cursor *c, struct bits *b, struct amqp_bytes *v)
{
	b->pos = 0;
	return get_shortstr(c, v);
}

static int dec_LONGSTR(struct cursor *c, struct bits *b, struct amqp_bytes *v)
{
	b->pos = 0;
	return get_longstr(c, v);
}

static int dec_TABLE(struct cursor *c, struct bits *b, struct amqp_bytes *v)
{
	int r;

	b->pos = 0;
	if ((r = get_longstr(c, v)) != 0)
		return r;
	return amqp_table_validate(*v);
}

static void enc_BIT(struct writer *w, struct bits *b, bool v)
{
	if (b->pos == 0 || b->pos == 8) {
		b->at = put_space(w, 1);
		if (b->at != NULL)
			*b->at = 0;
		b->pos = 0;
	}
	if (b->at != NULL && v)
		*b->at |= (uint8_t)(1u << b->pos);
	b->pos++;
}

static void enc_OCTET(struct writer *w, struct bits *b, uint8_t v)
{
	b->pos = 0;
	put_u8(w, v);
}

static void enc_SHORT(struct writer *w, struct bits *b, uint16_t v)
{
	b->pos = 0;
	put_u16(w, v);
}

static void enc_LONG(struct writer *w, struct bits *b, uint32_t v)
{
	b->pos = 0;
	put_u32(w, v);
}

static void enc_LONGLONG(struct writer *w, struct bits *b, uint64_t v)
{
	b->pos = 0;
	put_u64(w, v);
}

#define enc_TIMESTAMP enc_LONGLONG

static void enc_SHORTSTR(struct writer *w, struct bits *b, struct amqp_bytes v)
{
	b->pos = 0;
	put_shortstr(w, v);
}

static void enc_LONGSTR(struct writer *w, struct bits *b, struct amqp_bytes v)
{
	b->pos = 0;
	put_longstr(w, v);
}

static void enc_TABLE(struct writer *w, struct bits *b, struct amqp_bytes v)
{
	b->pos = 0;
	put_longstr(w, v); /* the entries, already encoded, behind their length */
}

/* A decoder and an encoder per method; `s` is the method's struct in both. */
#define F(type, name, wire)                         \
	if ((r = dec_##type(c, &b, &s->name)) != 0) \
		return r;
#define METHOD(cls, m, wire, cid, mid, flags, fields)                            \
	static int dec_##cls##_##m(struct cursor *c, struct amqp_##cls##_##m *s) \
	{                                                                        \
		struct bits b = { NULL, 0, 0 };                                  \
		int r = 0;                                                       \
		(void)c;                                                         \
		(void)s;                                                         \
		(void)b;                                                         \
		fields return r;                                                 \
	}
#include "amqp/methods.def"
#undef F
#undef METHOD

#define F(type, name, wire) enc_##type(w, &b, s->name);
#define METHOD(cls, m, wire, cid, mid, flags, fields)                                   \
	static void enc_##cls##_##m(struct writer *w, const struct amqp_##cls##_##m *s) \
	{                                                                               \
		struct bits b = { NULL, 0, 0 };                                         \
		(void)w;                                                                \
		(void)s;                                                                \
		(void)b;                                                                \
		fields                                                                  \
	}
#include "amqp/methods.def"
#undef F
#undef METHOD

/* Field names and kinds, ending with a sentinel so that methods without fields stay legal C. */
#define F(type, name, wire) { AMQP_F_##type, wire },
#define METHOD(cls, m, wire, cid, mid, flags, fields) \
	static const struct amqp_field_desc fields_##cls##_##m[] = { fields{ 0, NULL } };
#include "amqp/methods.def"
#undef F
#undef METHOD

#define METHOD(cls, m, wire, cid, mid, flags, fields)                            \
	{ AMQP_METHOD_ID(cid, mid), cid, mid, (flags), wire, fields_##cls##_##m, \
		(uint8_t)(sizeof(fields_##cls##_##m) / sizeof(fields_##cls##_##m[0]) - 1) },
const struct amqp_method_desc amqp_methods[] = {
#include "amqp/methods.def"
};
#undef METHOD
const size_t amqp_nmethods = sizeof(amqp_methods) / sizeof(amqp_methods[0]);

const struct amqp_method_desc *amqp_method_lookup(uint32_t id)
{
	size_t lo = 0, hi = amqp_nmethods, mid;

	/* The table is sorted by id: methods.def lists classes and methods in ascending order. */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (amqp_methods[mid].id == id)
			return &amqp_methods[mid];
		if (amqp_methods[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const char *amqp_method_str(uint32_t id)
{
	const struct amqp_method_desc *d = amqp_method_lookup(id);

	return d != NULL ? d->name : "unknown";
}

int amqp_method_flags(uint32_t id)
{
	/* A switch, not the table's binary search: this runs for every frame. */
	switch (id) {
#define METHOD(cls, mm, wire, ci, mi, flags, fields) \
	case AMQP_ID_##cls##_##mm:                   \
		return (flags);
#include "amqp/methods.def"
#undef METHOD
	default: return -1;
	}
}

int amqp_method_index(uint32_t id)
{
	switch (id) {
#define METHOD(cls, mm, wire, ci, mi, flags, fields) \
	case AMQP_ID_##cls##_##mm:                   \
		return AMQP_IDX_##cls##_##mm;
#include "amqp/methods.def"
#undef METHOD
	default: return -1;
	}
}

bool amqp_method_carries_content(uint32_t id)
{
	int flags = amqp_method_flags(id);

	return flags >= 0 && (flags & AMQP_MF_CONTENT) != 0;
}

uint16_t amqp_method_class(uint32_t id)
{
	return (uint16_t)(id >> 16);
}

int amqp_method_decode(const uint8_t *payload, size_t len, struct amqp_method *m)
{
	struct cursor c = cursor_make(payload, len);
	uint16_t cid, mid;
	int r;

	memset(m, 0, sizeof(*m));
	if (get_u16(&c, &cid) != 0 || get_u16(&c, &mid) != 0)
		return AMQP_E_TRUNCATED;
	m->id = AMQP_METHOD_ID(cid, mid);
	switch (m->id) {
#define METHOD(cls, mm, wire, ci, mi, flags, fields)        \
	case AMQP_ID_##cls##_##mm:                          \
		r = dec_##cls##_##mm(&c, &m->u.cls##_##mm); \
		break;
#include "amqp/methods.def"
#undef METHOD
	default: return AMQP_E_UNKNOWN_METHOD;
	}
	if (r != 0)
		return r;
	if (cursor_left(&c) != 0) /* every byte of a method frame belongs to a field */
		return AMQP_E_TRAILING;
	return 0;
}

int amqp_method_encode(const struct amqp_method *m, uint8_t *buf, size_t cap)
{
	struct writer w = writer_make(buf, cap);

	put_u32(&w, m->id);
	switch (m->id) {
#define METHOD(cls, mm, wire, ci, mi, flags, fields)    \
	case AMQP_ID_##cls##_##mm:                      \
		enc_##cls##_##mm(&w, &m->u.cls##_##mm); \
		break;
#include "amqp/methods.def"
#undef METHOD
	default: return AMQP_E_UNKNOWN_METHOD;
	}
	if (w.err != 0)
		return w.err;
	return w.off > INT32_MAX ? AMQP_E_INVALID : (int)w.off;
}

int amqp_method_frame_encode(
    uint16_t channel, const struct amqp_method *m, uint8_t *buf, size_t cap)
{
	int n;

	if (cap < AMQP_FRAME_OVERHEAD)
		return AMQP_E_NO_SPACE;
	n = amqp_method_encode(m, buf + AMQP_FRAME_HEADER_LEN, cap - AMQP_FRAME_OVERHEAD);
	if (n < 0)
		return n;
	amqp_frame_put_header(buf, AMQP_FRAME_METHOD, channel, (uint32_t)n);
	return n + AMQP_FRAME_OVERHEAD;
}

int amqp_deliver_frame_encode(
    uint16_t channel, const struct amqp_basic_deliver *d, uint8_t *buf, size_t cap)
{
	struct writer w;

	if (cap < AMQP_FRAME_OVERHEAD)
		return AMQP_E_NO_SPACE;
	/* The fields in wire order, written straight: no walk of the method table. */
	w = writer_make(buf + AMQP_FRAME_HEADER_LEN, cap - AMQP_FRAME_OVERHEAD);
	put_u32(&w, AMQP_ID_basic_deliver);
	put_shortstr(&w, d->consumer_tag);
	put_u64(&w, d->delivery_tag);
	put_u8(&w, d->redelivered ? 1 : 0);
	put_shortstr(&w, d->exchange);
	put_shortstr(&w, d->routing_key);
	if (w.err != 0)
		return w.err;
	amqp_frame_put_header(buf, AMQP_FRAME_METHOD, channel, (uint32_t)w.off);
	return (int)w.off + AMQP_FRAME_OVERHEAD;
}
