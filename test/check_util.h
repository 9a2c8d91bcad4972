/*
 * check_util.h: helpers the Check suites of the codec share: heap copies of exactly an input's
 * length (so AddressSanitizer catches a read one byte past the end), a deterministic generator of
 * distinct field values for filling method structs, and a dump for failure messages. Everything is
 * static inline: each suite is one program and takes what it uses.
 */
#ifndef WARREN_TEST_CHECK_UTIL_H
#define WARREN_TEST_CHECK_UTIL_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"

/* A heap copy of exactly len bytes; free it with free(). A zero-length input still gets a pointer. */
static inline uint8_t *heap_copy(const void *data, size_t len)
{
	uint8_t *p = malloc(len > 0 ? len : 1);

	ck_assert_ptr_nonnull(p);
	if (len > 0)
		memcpy(p, data, len);
	return p;
}

/* Bytes written big-endian, for building inputs by hand. */
static inline void be16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline void be64(uint8_t *b, uint64_t v)
{
	be32(b, (uint32_t)(v >> 32));
	be32(b + 4, (uint32_t)v);
}

/*
 * The raw entries of a table nested `levels` deep into out (cap bytes), the top table counting as
 * one: each level holds one value, the next level, a table ('F', as entry "n") or an array ('A', as
 * its one item). Returns the length.
 */
static inline size_t nested_raw(uint8_t *out, size_t cap, int levels, uint8_t kind)
{
	uint8_t *tmp = malloc(cap);
	size_t len = 0, n;
	int i;

	ck_assert_ptr_nonnull(tmp);
	for (i = levels - 1; i >= 1; i--) {
		n = 0;
		ck_assert_uint_le(len + 7, cap);
		if (i == 1 || kind == 'F') { /* the container at level i is a table: give a key */
			tmp[n++] = 1;
			tmp[n++] = 'n';
		}
		tmp[n++] = kind;
		be32(tmp + n, (uint32_t)len);
		n += 4;
		memcpy(tmp + n, out, len);
		len += n;
		memcpy(out, tmp, len);
	}
	free(tmp);
	return len;
}

/* A hex dump of at most 64 bytes into out (at least 200 bytes), for assertion messages. */
static inline const char *hex(const uint8_t *p, size_t len, char *out, size_t cap)
{
	size_t i, at = 0;

	out[0] = '\0';
	for (i = 0; i < len && i < 64 && at + 4 < cap; i++)
		at += (size_t)snprintf(out + at, cap - at, "%02x ", p[i]);
	if (i < len && at + 4 < cap)
		snprintf(out + at, cap - at, "...");
	return out;
}

/*
 * A bump arena for the strings and tables a test builds. Tests run in forked children, but reset
 * it anyway so a CK_FORK=no run behaves the same.
 */
#define ARENA_SIZE (1u << 20)
struct arena {
	uint8_t *buf;
	size_t used;
};

static inline void arena_init(struct arena *a)
{
	a->buf = malloc(ARENA_SIZE);
	ck_assert_ptr_nonnull(a->buf);
	a->used = 0;
}

static inline void arena_free(struct arena *a)
{
	free(a->buf);
	a->buf = NULL;
	a->used = 0;
}

/* n bytes aligned for any type, so the arena can hold structs as well as strings. */
static inline uint8_t *arena_take(struct arena *a, size_t n)
{
	uint8_t *p;

	a->used =
	    (a->used + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t);
	ck_assert_uint_le(a->used, ARENA_SIZE);
	ck_assert_uint_le(n, ARENA_SIZE - a->used);
	p = a->buf + a->used;
	a->used += n;
	return p;
}

/*
 * Field values for method structs. `variant` (0..GEN_VARIANTS-1) shifts every choice, `method` is
 * the method's index and `k` the field's index in the method, so every field of every method gets a
 * value distinct from its neighbours and from zero. Bits alternate along a run and flip with the
 * variant; over all variants each string field takes each length in the list, 0 and 255 included.
 */
#define GEN_VARIANTS 4

static inline bool gen_bit(int variant, int method, int k)
{
	(void)method;
	return ((k + variant) & 1) == 0;
}

static inline uint8_t gen_octet(int variant, int method, int k)
{
	return (uint8_t)(0x80 | ((method * 5 + k * 3 + variant) & 0x7F));
}

static inline uint16_t gen_short(int variant, int method, int k)
{
	return (uint16_t)(0x8000 | ((method & 0x7F) << 8) | ((k & 0xF) << 4) | (variant & 0xF));
}

static inline uint32_t gen_long(int variant, int method, int k)
{
	return 0x80000000u | ((uint32_t)(method & 0xFF) << 16) | ((uint32_t)(k & 0xFF) << 8) |
	    (uint32_t)(0xA0 + variant);
}

static inline uint64_t gen_longlong(int variant, int method, int k)
{
	return 0x8000000000000000ull | ((uint64_t)(method & 0xFF) << 40) |
	    ((uint64_t)(k & 0xFF) << 24) | 0x00F1E2D3ull | ((uint64_t)variant << 32);
}

static inline size_t gen_strlen(int variant, int k, bool longstr)
{
	static const size_t shortlens[GEN_VARIANTS] = { 0, 255, 1, 37 };
	static const size_t longlens[GEN_VARIANTS] = { 0, 1000, 1, 255 };
	int i = (k + variant) % GEN_VARIANTS;

	return longstr ? longlens[i] : shortlens[i];
}

/* A string of gen_strlen bytes from the arena; its bytes (NUL and 0xFF included) depend on all three. */
static inline struct amqp_bytes gen_str(
    struct arena *a, int variant, int method, int k, bool longstr)
{
	size_t n = gen_strlen(variant, k, longstr), i;
	uint8_t *p = arena_take(a, n);

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(method * 31 + k * 17 + variant * 7 + i * 13);
	return (struct amqp_bytes){ p, n };
}

#endif /* WARREN_TEST_CHECK_UTIL_H */
