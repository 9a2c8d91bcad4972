/*
 * wire.h: the bounds-checked cursor every decoder in amqp/ reads through, and the matching writer.
 * Private to amqp/. Every check is written `n > c->len - c->off` so it cannot overflow.
 */
#ifndef WARREN_AMQP_WIRE_H
#define WARREN_AMQP_WIRE_H

#include <string.h>

#include "amqp/amqp.h"

struct cursor {
	const uint8_t *p;
	size_t len, off;
};

static inline struct cursor cursor_make(const uint8_t *p, size_t len)
{
	return (struct cursor){ p, len, 0 };
}

static inline size_t cursor_left(const struct cursor *c)
{
	return c->len - c->off;
}

static inline int get_bytes(struct cursor *c, size_t n, const uint8_t **out)
{
	if (n > cursor_left(c)) /* would run past the end of the frame or table */
		return AMQP_E_TRUNCATED;
	*out = c->p + c->off;
	c->off += n;
	return 0;
}

static inline int get_u8(struct cursor *c, uint8_t *v)
{
	const uint8_t *b;
	if (get_bytes(c, 1, &b) != 0)
		return AMQP_E_TRUNCATED;
	*v = b[0];
	return 0;
}

static inline int get_u16(struct cursor *c, uint16_t *v)
{
	const uint8_t *b;
	if (get_bytes(c, 2, &b) != 0)
		return AMQP_E_TRUNCATED;
	*v = amqp_load_u16(b);
	return 0;
}

static inline int get_u32(struct cursor *c, uint32_t *v)
{
	const uint8_t *b;
	if (get_bytes(c, 4, &b) != 0)
		return AMQP_E_TRUNCATED;
	*v = amqp_load_u32(b);
	return 0;
}

static inline int get_u64(struct cursor *c, uint64_t *v)
{
	const uint8_t *b;
	if (get_bytes(c, 8, &b) != 0)
		return AMQP_E_TRUNCATED;
	*v = amqp_load_u64(b);
	return 0;
}

static inline int get_shortstr(struct cursor *c, struct amqp_bytes *s)
{
	uint8_t n;
	if (get_u8(c, &n) != 0 || get_bytes(c, n, &s->ptr) != 0)
		return AMQP_E_TRUNCATED;
	s->len = n;
	return 0;
}

static inline int get_longstr(struct cursor *c, struct amqp_bytes *s)
{
	uint32_t n;
	if (get_u32(c, &n) != 0 || get_bytes(c, n, &s->ptr) != 0)
		return AMQP_E_TRUNCATED;
	s->len = n;
	return 0;
}

struct writer {
	uint8_t *p;
	size_t cap, off;
	int err;
};

static inline struct writer writer_make(uint8_t *p, size_t cap)
{
	return (struct writer){ p, cap, 0, 0 };
}

static inline uint8_t *put_space(struct writer *w, size_t n)
{
	uint8_t *at;
	if (w->err != 0)
		return NULL;
	if (n > w->cap - w->off) { /* output buffer full */
		w->err = AMQP_E_NO_SPACE;
		return NULL;
	}
	at = w->p + w->off;
	w->off += n;
	return at;
}

static inline void put_u8(struct writer *w, uint8_t v)
{
	uint8_t *b = put_space(w, 1);
	if (b != NULL)
		b[0] = v;
}

static inline void put_u16(struct writer *w, uint16_t v)
{
	uint8_t *b = put_space(w, 2);
	if (b != NULL)
		amqp_store_u16(b, v);
}

static inline void put_u32(struct writer *w, uint32_t v)
{
	uint8_t *b = put_space(w, 4);
	if (b != NULL)
		amqp_store_u32(b, v);
}

static inline void put_u64(struct writer *w, uint64_t v)
{
	uint8_t *b = put_space(w, 8);
	if (b != NULL)
		amqp_store_u64(b, v);
}

static inline void put_raw(struct writer *w, const void *data, size_t n)
{
	uint8_t *b = put_space(w, n);
	if (b != NULL && n > 0)
		memcpy(b, data, n);
}

static inline void put_shortstr(struct writer *w, struct amqp_bytes s)
{
	if (s.len > 255) { /* a shortstr's length is one octet */
		if (w->err == 0)
			w->err = AMQP_E_SHORTSTR;
		return;
	}
	put_u8(w, (uint8_t)s.len);
	put_raw(w, s.ptr, s.len);
}

static inline void put_longstr(struct writer *w, struct amqp_bytes s)
{
	if (s.len > UINT32_MAX) {
		if (w->err == 0)
			w->err = AMQP_E_INVALID;
		return;
	}
	put_u32(w, (uint32_t)s.len);
	put_raw(w, s.ptr, s.len);
}

#endif /* WARREN_AMQP_WIRE_H */
