/*
 * check_table.c: field tables and arrays (amqp/table.c). A hand-written table holding every type
 * letter decodes to exactly the values written (negative numbers, float and double bit patterns,
 * decimals), re-encodes to the same bytes, and agrees with amqp_table_encoded_size; lookup, deep
 * equality, the nesting and entry limits at their exact edges, and the pool.
 */
#include <check.h>
#include <float.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "test/check_util.h"

/* Every type letter, with values that show sign, width and bit patterns. */
static const uint8_t every_type[] = {
	1,
	't',
	't',
	0x01, /* true */
	1,
	'b',
	'b',
	0xFB, /* -5 */
	1,
	'B',
	'B',
	0xFA, /* 250 */
	1,
	's',
	's',
	0xFF,
	0xFE, /* -2 */
	1,
	'u',
	'u',
	0xFD,
	0xE8, /* 65000 */
	1,
	'I',
	'I',
	0xFF,
	0xFE,
	0x79,
	0x60, /* -100000 */
	1,
	'i',
	'i',
	0xEE,
	0x6B,
	0x28,
	0x00, /* 4000000000 */
	1,
	'l',
	'l',
	0xFF,
	0xFF,
	0xFF,
	0xFF,
	0xFF,
	0xFF,
	0xFF,
	0xFE, /* -2 */
	1,
	'f',
	'f',
	0xC0,
	0x49,
	0x0F,
	0xDB, /* -pi as a float */
	2,
	'f',
	'n',
	'f',
	0x7F,
	0xC0,
	0x00,
	0x01, /* a NaN with a payload */
	1,
	'd',
	'd',
	0x40,
	0x09,
	0x21,
	0xFB,
	0x54,
	0x44,
	0x2D,
	0x18, /* pi */
	2,
	'd',
	'z',
	'd',
	0x80,
	0,
	0,
	0,
	0,
	0,
	0,
	0, /* -0.0 */
	1,
	'D',
	'D',
	0x02,
	0x00,
	0x00,
	0x30,
	0x39, /* 123.45 */
	1,
	'S',
	'S',
	0,
	0,
	0,
	5,
	'h',
	'e',
	'l',
	'l',
	'o',
	1,
	'x',
	'x',
	0,
	0,
	0,
	3,
	0x00,
	0xFF,
	0x00,
	1,
	'A',
	'A',
	0,
	0,
	0,
	12,
	'I',
	0,
	0,
	0,
	1,
	'S',
	0,
	0,
	0,
	1,
	'a',
	'V',
	1,
	'T',
	'T',
	0x00,
	0x00,
	0x00,
	0x00,
	0x65,
	0xA1,
	0xB2,
	0xC3,
	1,
	'F',
	'F',
	0,
	0,
	0,
	3,
	1,
	'k',
	'V',
	1,
	'V',
	'V',
};

static const struct amqp_field_value *get(const struct amqp_table *t, const char *key, uint8_t type)
{
	const struct amqp_field_value *v = amqp_table_get(t, key);

	ck_assert_msg(v != NULL, "no key %s", key);
	ck_assert_uint_eq(v->type, type);
	return v;
}

START_TEST(test_every_type_exact)
{
	struct amqp_bytes raw;
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	uint32_t f32;
	uint64_t f64;
	uint8_t *exact, *enc;
	int n;

	exact = heap_copy(every_type, sizeof(every_type));
	raw = (struct amqp_bytes){ exact, sizeof(every_type) };
	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_validate(raw), 0);
	ck_assert_int_eq(amqp_table_decode(raw, &pool, &t), 0);
	ck_assert_uint_eq(t.n, 19);
	ck_assert(get(&t, "t", 't')->v.b);
	ck_assert_int_eq(get(&t, "b", 'b')->v.i8, -5);
	ck_assert_uint_eq(get(&t, "B", 'B')->v.u8, 250);
	ck_assert_int_eq(get(&t, "s", 's')->v.i16, -2);
	ck_assert_uint_eq(get(&t, "u", 'u')->v.u16, 65000);
	ck_assert_int_eq(get(&t, "I", 'I')->v.i32, -100000);
	ck_assert_uint_eq(get(&t, "i", 'i')->v.u32, 4000000000u);
	ck_assert_int_eq(get(&t, "l", 'l')->v.i64, -2);
	memcpy(&f32, &get(&t, "f", 'f')->v.f, 4);
	ck_assert_uint_eq(f32, 0xC0490FDBu);
	ck_assert(get(&t, "f", 'f')->v.f < -3.14159f && get(&t, "f", 'f')->v.f > -3.1416f);
	memcpy(&f32, &get(&t, "fn", 'f')->v.f, 4);
	ck_assert_uint_eq(f32, 0x7FC00001u); /* the NaN's payload survives */
	memcpy(&f64, &get(&t, "d", 'd')->v.d, 8);
	ck_assert_uint_eq(f64, 0x400921FB54442D18ull);
	ck_assert(get(&t, "d", 'd')->v.d == 3.141592653589793);
	memcpy(&f64, &get(&t, "dz", 'd')->v.d, 8);
	ck_assert_uint_eq(f64, 0x8000000000000000ull);
	v = get(&t, "D", 'D');
	ck_assert_uint_eq(v->v.dec.scale, 2);
	ck_assert_uint_eq(v->v.dec.value, 12345);
	v = get(&t, "S", 'S');
	ck_assert(amqp_bytes_eq_cstr(v->v.bytes, "hello"));
	ck_assert(v->v.bytes.ptr > exact && v->v.bytes.ptr < exact + sizeof(every_type));
	ck_assert(amqp_bytes_eq(get(&t, "x", 'x')->v.bytes, AMQP_BYTES("\0\xff\0")));
	v = get(&t, "A", 'A');
	ck_assert_uint_eq(v->v.array.n, 3);
	ck_assert_uint_eq(v->v.array.values[0].type, 'I');
	ck_assert_int_eq(v->v.array.values[0].v.i32, 1);
	ck_assert_uint_eq(v->v.array.values[1].type, 'S');
	ck_assert(amqp_bytes_eq_cstr(v->v.array.values[1].v.bytes, "a"));
	ck_assert_uint_eq(v->v.array.values[2].type, 'V');
	ck_assert_uint_eq(get(&t, "T", 'T')->v.u64, 0x65A1B2C3ull);
	v = get(&t, "F", 'F');
	ck_assert_uint_eq(v->v.table.n, 1);
	ck_assert_uint_eq(get(&v->v.table, "k", 'V')->type, 'V');
	get(&t, "V", 'V');
	/* Entries keep their wire order. */
	ck_assert(amqp_bytes_eq_cstr(t.entries[0].key, "t"));
	ck_assert(amqp_bytes_eq_cstr(t.entries[18].key, "V"));

	/* Encoding the tree gives the same bytes behind a 4-byte length. */
	ck_assert_int_eq(amqp_table_encoded_size(&t), 4 + (long)sizeof(every_type));
	enc = malloc(4 + sizeof(every_type));
	n = amqp_table_encode(&t, enc, 4 + sizeof(every_type));
	ck_assert_int_eq(n, 4 + (int)sizeof(every_type));
	ck_assert_uint_eq(enc[3], sizeof(every_type));
	ck_assert_mem_eq(enc + 4, every_type, sizeof(every_type));
	free(enc);
	for (size_t cap = 0; cap < 4 + sizeof(every_type); cap++) {
		enc = malloc(cap > 0 ? cap : 1);
		ck_assert_int_eq(amqp_table_encode(&t, enc, cap), AMQP_E_NO_SPACE);
		free(enc);
	}
	amqp_arena_reset(&pool);
	free(exact);
}
END_TEST

START_TEST(test_bool_nonzero_is_true)
{
	static const uint8_t in[] = { 1, 'a', 't', 0x02, 1, 'b', 't', 0x00 };
	struct amqp_arena pool;
	struct amqp_table t;

	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_decode((struct amqp_bytes){ in, sizeof(in) }, &pool, &t), 0);
	ck_assert(amqp_table_get(&t, "a")->v.b);
	ck_assert(!amqp_table_get(&t, "b")->v.b);
	amqp_arena_reset(&pool);
}
END_TEST

START_TEST(test_empty_table)
{
	struct amqp_arena pool;
	struct amqp_table t = { 7, NULL };
	uint8_t buf[4];

	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_validate((struct amqp_bytes){ NULL, 0 }), 0);
	ck_assert_int_eq(amqp_table_decode((struct amqp_bytes){ NULL, 0 }, &pool, &t), 0);
	ck_assert_uint_eq(t.n, 0);
	ck_assert_ptr_null(amqp_table_get(&t, ""));
	ck_assert_int_eq(amqp_table_encoded_size(&t), 4);
	ck_assert_int_eq(amqp_table_encode(&t, buf, sizeof(buf)), 4);
	ck_assert_mem_eq(buf, "\0\0\0\0", 4);
	ck_assert_uint_eq(pool.used, 0);
	amqp_arena_reset(&pool);
}
END_TEST

START_TEST(test_get_duplicates_and_prefixes)
{
	static const uint8_t in[] = { 1, 'k', 'b', 1, 2, 'k', 'k', 'b', 2, 1, 'k', 'b', 3, 0, 'b',
		4 };
	struct amqp_arena pool;
	struct amqp_table t;

	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_decode((struct amqp_bytes){ in, sizeof(in) }, &pool, &t), 0);
	ck_assert_uint_eq(t.n, 4);
	ck_assert_int_eq(amqp_table_get(&t, "k")->v.i8, 1); /* the first of duplicates wins */
	ck_assert_int_eq(amqp_table_get(&t, "kk")->v.i8, 2);
	ck_assert_int_eq(amqp_table_get(&t, "")->v.i8, 4); /* an empty key is a key */
	ck_assert_ptr_null(amqp_table_get(&t, "K"));
	ck_assert_ptr_null(amqp_table_get(&t, "kkk"));
	amqp_arena_reset(&pool);
}
END_TEST

/* Lookup in the encoded table: each value's bytes, type letter first, up to the next key. */
START_TEST(test_find_raw)
{
	static const uint8_t dups[] = { 1, 'k', 'b', 1, 2, 'k', 'k', 'b', 2, 1, 'k', 'b', 3, 0, 'b',
		4 };
	uint8_t *exact = heap_copy(every_type, sizeof(every_type)), bad[] = { 1, 'a', 'Z', 1 };
	struct amqp_bytes raw = { exact, sizeof(every_type) }, v;
	struct amqp_arena pool;
	struct amqp_table t;
	char key[8];
	uint32_t i;
	size_t cut;

	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_decode(raw, &pool, &t), 0);
	for (i = 0; i < t.n; i++) {
		snprintf(key, sizeof(key), "%.*s", (int)t.entries[i].key.len,
		    (const char *)t.entries[i].key.ptr);
		ck_assert_int_eq(amqp_table_find_raw(raw, key, &v), 0);
		ck_assert_uint_eq(v.ptr[0], t.entries[i].value.type);
		/* It ends where the next entry's key (its length byte) starts, or the table ends. */
		ck_assert_ptr_eq(v.ptr + v.len,
		    i + 1 < t.n ? t.entries[i + 1].key.ptr - 1 : exact + sizeof(every_type));
	}
	ck_assert_int_eq(amqp_table_find_raw(raw, "nope", &v), -1);
	/* Cut short anywhere, the last key is not found (and nothing is read past the cut). */
	for (cut = 0; cut < sizeof(every_type); cut++)
		ck_assert_int_eq(
		    amqp_table_find_raw((struct amqp_bytes){ exact, cut }, "V", &v), -1);
	ck_assert_int_eq(
	    amqp_table_find_raw((struct amqp_bytes){ dups, sizeof(dups) }, "k", &v), 0);
	ck_assert(v.len == 2 && v.ptr[0] == 'b' && v.ptr[1] == 1); /* the first of duplicates */
	ck_assert_int_eq(amqp_table_find_raw((struct amqp_bytes){ dups, sizeof(dups) }, "", &v), 0);
	ck_assert_uint_eq(v.ptr[1], 4);
	ck_assert_int_eq(amqp_table_find_raw((struct amqp_bytes){ bad, sizeof(bad) }, "b", &v), -1);
	amqp_arena_reset(&pool);
	free(exact);
}
END_TEST

/* ---- equality ---- */

static struct amqp_table decode_or_fail(struct amqp_arena *pool, const void *raw, size_t len)
{
	struct amqp_table t;

	ck_assert_int_eq(amqp_table_decode((struct amqp_bytes){ raw, len }, pool, &t), 0);
	return t;
}
#define DEC(pool, lit) decode_or_fail(pool, lit, sizeof(lit) - 1)

START_TEST(test_table_eq)
{
	struct amqp_arena p;
	struct amqp_table a, b;

	amqp_arena_init(&p);
	a = DEC(&p,
	    "\x01"
	    "aI\x00\x00\x00\x01"
	    "\x01"
	    "bS\x00\x00\x00\x02xy");
	b = DEC(&p,
	    "\x01"
	    "bS\x00\x00\x00\x02xy"
	    "\x01"
	    "aI\x00\x00\x00\x01");
	ck_assert(amqp_table_eq(&a, &b)); /* order does not matter */
	ck_assert(amqp_table_eq(&b, &a));
	ck_assert(amqp_table_eq(&a, &a));
	b = DEC(&p,
	    "\x01"
	    "bS\x00\x00\x00\x02xz"
	    "\x01"
	    "aI\x00\x00\x00\x01");
	ck_assert(!amqp_table_eq(&a, &b)); /* a value differs */
	b = DEC(&p,
	    "\x01"
	    "bS\x00\x00\x00\x02xy"
	    "\x01"
	    "ai\x00\x00\x00\x01");
	ck_assert(!amqp_table_eq(&a, &b)); /* 'I' and 'i' are different types */
	b = DEC(&p,
	    "\x01"
	    "bS\x00\x00\x00\x02xy"
	    "\x01"
	    "cI\x00\x00\x00\x01");
	ck_assert(!amqp_table_eq(&a, &b)); /* a key differs */
	b = DEC(&p,
	    "\x01"
	    "aI\x00\x00\x00\x01");
	ck_assert(!amqp_table_eq(&a, &b)); /* fewer entries */
	ck_assert(!amqp_table_eq(&b, &a));
	/* Nested tables compare without order too; arrays in order. */
	a = DEC(&p, "\x01nF\x00\x00\x00\x06\x01xV\x01yV");
	b = DEC(&p, "\x01nF\x00\x00\x00\x06\x01yV\x01xV");
	ck_assert(amqp_table_eq(&a, &b));
	a = DEC(&p,
	    "\x01"
	    "aA\x00\x00\x00\x04"
	    "b\x01"
	    "b\x02");
	b = DEC(&p,
	    "\x01"
	    "aA\x00\x00\x00\x04"
	    "b\x02"
	    "b\x01");
	ck_assert(!amqp_table_eq(&a, &b));
	b = DEC(&p,
	    "\x01"
	    "aA\x00\x00\x00\x04"
	    "b\x01"
	    "b\x02");
	ck_assert(amqp_table_eq(&a, &b));
	b = DEC(&p,
	    "\x01"
	    "aA\x00\x00\x00\x02"
	    "b\x01");
	ck_assert(!amqp_table_eq(&a, &b)); /* a shorter array */
	a = DEC(&p, "");
	b = DEC(&p, "");
	ck_assert(amqp_table_eq(&a, &b));
	/* Duplicate keys: equality stays reflexive and symmetric. */
	a = DEC(&p, "\x01kb\x01\x01kb\x02");
	b = DEC(&p, "\x01kb\x01\x01kb\x01");
	ck_assert(amqp_table_eq(&a, &a));
	ck_assert(amqp_table_eq(&b, &b));
	ck_assert(!amqp_table_eq(&a, &b));
	ck_assert(!amqp_table_eq(&b, &a));
	amqp_arena_reset(&p);
}
END_TEST

START_TEST(test_field_value_eq)
{
	struct amqp_field_value a, b;
	float nan1, nan2;
	uint32_t bits1 = 0x7FC00001u, bits2 = 0x7FC00002u;

	memcpy(&nan1, &bits1, 4);
	memcpy(&nan2, &bits2, 4);
	a = (struct amqp_field_value){ .type = 'b', .v.i8 = 1 };
	b = (struct amqp_field_value){ .type = 'B', .v.u8 = 1 };
	ck_assert(!amqp_field_value_eq(&a, &b)); /* same bits, different letters */
	b.type = 'b';
	ck_assert(amqp_field_value_eq(&a, &b));
	a = (struct amqp_field_value){ .type = 'f', .v.f = nan1 };
	b = (struct amqp_field_value){ .type = 'f', .v.f = nan1 };
	ck_assert(amqp_field_value_eq(&a, &b)); /* bit-exact: a NaN equals itself */
	b.v.f = nan2;
	ck_assert(!amqp_field_value_eq(&a, &b));
	a = (struct amqp_field_value){ .type = 'd', .v.d = 0.0 };
	b = (struct amqp_field_value){ .type = 'd', .v.d = -0.0 };
	ck_assert(!amqp_field_value_eq(&a, &b)); /* and 0.0 is not -0.0 */
	a = (struct amqp_field_value){ .type = 'D', .v.dec = { 2, 100 } };
	b = (struct amqp_field_value){ .type = 'D', .v.dec = { 1, 100 } };
	ck_assert(!amqp_field_value_eq(&a, &b));
	b.v.dec.scale = 2;
	ck_assert(amqp_field_value_eq(&a, &b));
	a = (struct amqp_field_value){ .type = 'V' };
	b = (struct amqp_field_value){ .type = 'V' };
	ck_assert(amqp_field_value_eq(&a, &b));
	a = (struct amqp_field_value){ .type = 'S', .v.bytes = AMQP_BYTES("ab") };
	b = (struct amqp_field_value){ .type = 'x', .v.bytes = AMQP_BYTES("ab") };
	ck_assert(!amqp_field_value_eq(&a, &b));
	b.type = 'S';
	ck_assert(amqp_field_value_eq(&a, &b));
	b.v.bytes = AMQP_BYTES("abc");
	ck_assert(!amqp_field_value_eq(&a, &b));
	a = (struct amqp_field_value){ .type = 'T', .v.u64 = 1 };
	b = (struct amqp_field_value){ .type = 'l', .v.i64 = 1 };
	ck_assert(!amqp_field_value_eq(&a, &b));
	a = (struct amqp_field_value){ .type = 'Z' };
	b = (struct amqp_field_value){ .type = 'Z' };
	ck_assert(!amqp_field_value_eq(&a, &b)); /* an unknown type equals nothing */
}
END_TEST

/* ---- sizes ---- */

static void size_matches_encode(const struct amqp_table *t)
{
	long size = amqp_table_encoded_size(t);
	uint8_t *buf;

	ck_assert_int_ge(size, 4);
	buf = malloc((size_t)size);
	ck_assert_int_eq(amqp_table_encode(t, buf, (size_t)size), size);
	ck_assert_uint_eq(
	    ((uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3]),
	    (uint32_t)size - 4);
	ck_assert_int_eq(amqp_table_validate((struct amqp_bytes){ buf + 4, (size_t)size - 4 }), 0);
	free(buf);
}

START_TEST(test_encoded_size_equals_encode)
{
	static uint8_t big[70000];
	struct amqp_field_value inner[2], outer[3];
	struct amqp_table_entry leaf[2], mid[3], top[3];
	struct amqp_table t;

	leaf[0] = (struct amqp_table_entry){ amqp_cstr(""), { .type = 'V' } };
	leaf[1] = (struct amqp_table_entry){ amqp_cstr("d"), { .type = 'D', .v.dec = { 9, 1 } } };
	inner[0] = (struct amqp_field_value){ .type = 'F', .v.table = { 2, leaf } };
	inner[1] = (struct amqp_field_value){ .type = 'x', .v.bytes = { big, sizeof(big) } };
	outer[0] = (struct amqp_field_value){ .type = 'A', .v.array = { 2, inner } };
	outer[1] = (struct amqp_field_value){ .type = 'A', .v.array = { 0, NULL } };
	outer[2] = (struct amqp_field_value){ .type = 'u', .v.u16 = 7 };
	mid[0] =
	    (struct amqp_table_entry){ amqp_cstr("arr"), { .type = 'A', .v.array = { 3, outer } } };
	mid[1] = (struct amqp_table_entry){ amqp_cstr("f"), { .type = 'f', .v.f = 1.0f } };
	mid[2] =
	    (struct amqp_table_entry){ amqp_cstr("e"), { .type = 'F', .v.table = { 0, NULL } } };
	top[0] =
	    (struct amqp_table_entry){ amqp_cstr("mid"), { .type = 'F', .v.table = { 3, mid } } };
	top[1] = (struct amqp_table_entry){ { big, 255 }, { .type = 't', .v.b = true } };
	top[2] = (struct amqp_table_entry){ amqp_cstr("T"), { .type = 'T', .v.u64 = 1 } };

	t = (struct amqp_table){ 3, top };
	size_matches_encode(&t);
	ck_assert_int_eq(amqp_table_encoded_size(&t),
	    4 + (1 + 3 + 1 + 4) + /* mid */
	        (1 + 3 + 1 + 4) + /* arr */
	        (1 + 4 + (1 + 4 + 2 + 1 + 1 + 1 + 5) + (1 + 4 + 70000)) + (1 + 4) + (1 + 2) +
	        (1 + 1 + 1 + 4) + (1 + 1 + 1 + 4) + (1 + 255 + 1 + 1) + (1 + 1 + 1 + 8));
	t = (struct amqp_table){ 1, mid + 1 };
	size_matches_encode(&t);
	t = (struct amqp_table){ 0, NULL };
	size_matches_encode(&t);
}
END_TEST

START_TEST(test_encode_errors)
{
	static uint8_t big[256];
	struct amqp_table_entry e[2];
	struct amqp_table t = { 2, e };
	uint8_t buf[512];

	e[0] = (struct amqp_table_entry){ amqp_cstr("ok"), { .type = 'V' } };
	e[1] = (struct amqp_table_entry){ { big, 256 }, { .type = 'V' } }; /* a key of 256 bytes */
	ck_assert_int_eq(amqp_table_encoded_size(&t), AMQP_E_SHORTSTR);
	ck_assert_int_eq(amqp_table_encode(&t, buf, sizeof(buf)), AMQP_E_SHORTSTR);
	e[1] = (struct amqp_table_entry){ amqp_cstr("L"), { .type = 'L', .v.u64 = 1 } };
	ck_assert_int_eq(amqp_table_encoded_size(&t), AMQP_E_FIELD_TYPE);
	ck_assert_int_eq(amqp_table_encode(&t, buf, sizeof(buf)), AMQP_E_FIELD_TYPE);
}
END_TEST

/* ---- limits at their edges ---- */

/* The same nesting as a tree, for the encoder. */
static void nested_tree(struct amqp_field_value *vals, struct amqp_table_entry *ents, int levels,
    uint8_t kind, struct amqp_table *top)
{
	int i;

	*top = (struct amqp_table){ 0, NULL };
	if (levels < 2)
		return;
	/* vals[i] is the container at level i + 2; the innermost is empty. */
	for (i = levels - 2; i >= 0; i--) {
		vals[i].type = kind;
		if (kind == 'F') {
			vals[i].v.table = (struct amqp_table){ 0, NULL };
			if (i < levels - 2) {
				ents[i + 1] =
				    (struct amqp_table_entry){ amqp_cstr("n"), vals[i + 1] };
				vals[i].v.table = (struct amqp_table){ 1, &ents[i + 1] };
			}
		} else {
			vals[i].v.array = (struct amqp_array){ 0, NULL };
			if (i < levels - 2)
				vals[i].v.array = (struct amqp_array){ 1, &vals[i + 1] };
		}
	}
	ents[0] = (struct amqp_table_entry){ amqp_cstr("n"), vals[0] };
	*top = (struct amqp_table){ 1, &ents[0] };
}

/* Exactly AMQP_TABLE_MAX_DEPTH levels decode and encode; one more is refused both ways. */
START_TEST(test_depth_edge)
{
	uint8_t kind = _i == 0 ? 'F' : 'A';
	uint8_t raw[512], enc[512], *exact;
	struct amqp_field_value vals[AMQP_TABLE_MAX_DEPTH + 1];
	struct amqp_table_entry ents[AMQP_TABLE_MAX_DEPTH + 1];
	struct amqp_arena pool;
	struct amqp_table t, tree;
	size_t len;

	amqp_arena_init(&pool);
	len = nested_raw(raw, sizeof(raw), AMQP_TABLE_MAX_DEPTH, kind);
	exact = heap_copy(raw, len);
	ck_assert_int_eq(amqp_table_validate((struct amqp_bytes){ exact, len }), 0);
	ck_assert_int_eq(amqp_table_decode((struct amqp_bytes){ exact, len }, &pool, &t), 0);
	nested_tree(vals, ents, AMQP_TABLE_MAX_DEPTH, kind, &tree);
	ck_assert(amqp_table_eq(&t, &tree));
	ck_assert_int_eq(amqp_table_encoded_size(&tree), 4 + (long)len);
	ck_assert_int_eq(amqp_table_encode(&tree, enc, sizeof(enc)), 4 + (int)len);
	ck_assert_mem_eq(enc + 4, raw, len);
	free(exact);

	len = nested_raw(raw, sizeof(raw), AMQP_TABLE_MAX_DEPTH + 1, kind);
	exact = heap_copy(raw, len);
	ck_assert_int_eq(
	    amqp_table_validate((struct amqp_bytes){ exact, len }), AMQP_E_TABLE_DEPTH);
	ck_assert_int_eq(
	    amqp_table_decode((struct amqp_bytes){ exact, len }, &pool, &t), AMQP_E_TABLE_DEPTH);
	nested_tree(vals, ents, AMQP_TABLE_MAX_DEPTH + 1, kind, &tree);
	ck_assert_int_eq(amqp_table_encoded_size(&tree), AMQP_E_TABLE_DEPTH);
	ck_assert_int_eq(amqp_table_encode(&tree, enc, sizeof(enc)), AMQP_E_TABLE_DEPTH);
	free(exact);
	amqp_arena_reset(&pool);
}
END_TEST

/* Exactly AMQP_TABLE_MAX_ENTRIES entries (and items, counted together) are accepted. */
START_TEST(test_entries_edge)
{
	size_t n = AMQP_TABLE_MAX_ENTRIES, len, i;
	uint8_t *raw;
	struct amqp_arena pool;
	struct amqp_table t;

	amqp_arena_init(&pool);
	raw = malloc(2 * n + 8);
	if (_i == 0) { /* n entries {"": void} */
		for (i = 0; i < n; i++) {
			raw[2 * i] = 0;
			raw[2 * i + 1] = 'V';
		}
		len = 2 * n;
	} else { /* one entry holding an array of n - 1 voids */
		raw[0] = 0;
		raw[1] = 'A';
		be32(raw + 2, (uint32_t)(n - 1));
		memset(raw + 6, 'V', n - 1);
		len = 6 + n - 1;
	}
	raw = realloc(raw, len); /* exactly its length */
	ck_assert_int_eq(amqp_table_validate((struct amqp_bytes){ raw, len }), 0);
	ck_assert_int_eq(amqp_table_decode((struct amqp_bytes){ raw, len }, &pool, &t), 0);
	if (_i == 0) {
		ck_assert_uint_eq(t.n, n);
		ck_assert_uint_eq(t.entries[n - 1].value.type, 'V');
	} else {
		ck_assert_uint_eq(t.n, 1);
		ck_assert_uint_eq(t.entries[0].value.v.array.n, n - 1);
	}
	ck_assert_int_eq(amqp_table_encoded_size(&t), 4 + (long)len);
	amqp_arena_reset(&pool);
	free(raw);
}
END_TEST

/* ---- the pool ---- */

START_TEST(test_pool)
{
	struct amqp_arena p;
	uint8_t *a, *b, *c;

	amqp_arena_init(&p);
	ck_assert_ptr_null(p.head);
	a = amqp_arena_alloc(&p, 1);
	b = amqp_arena_alloc(&p, 3);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq((uintptr_t)a % alignof(max_align_t), 0);
	ck_assert_uint_eq((uintptr_t)b % alignof(max_align_t), 0);
	ck_assert(b >= a + 1);
	memset(a, 0xAA, 1);
	memset(b, 0xBB, 3);
	c = amqp_arena_alloc(&p, 100000); /* larger than a block: a block of its own */
	ck_assert_ptr_nonnull(c);
	memset(c, 0xCC, 100000);
	ck_assert_uint_eq(a[0], 0xAA);
	ck_assert_uint_eq(b[2], 0xBB);
	ck_assert_uint_ge(p.used, 100000 + 4);
	ck_assert_ptr_null(amqp_arena_alloc(&p, SIZE_MAX)); /* refused, not wrapped */
	amqp_arena_reset(&p);
	ck_assert_ptr_null(p.head);
	ck_assert_uint_eq(p.used, 0);
	a = amqp_arena_alloc(&p, 16);
	ck_assert_ptr_nonnull(a);
	amqp_arena_reset(&p);
	amqp_arena_reset(&p); /* twice is harmless */
}
END_TEST

static Suite *table_suite(void)
{
	Suite *s = suite_create("table");
	TCase *tc = tcase_create("decode");
	TCase *te = tcase_create("eq");
	TCase *tl = tcase_create("limits");

	tcase_add_test(tc, test_every_type_exact);
	tcase_add_test(tc, test_bool_nonzero_is_true);
	tcase_add_test(tc, test_empty_table);
	tcase_add_test(tc, test_get_duplicates_and_prefixes);
	tcase_add_test(tc, test_find_raw);
	tcase_add_test(tc, test_encoded_size_equals_encode);
	tcase_add_test(tc, test_encode_errors);
	suite_add_tcase(s, tc);
	tcase_add_test(te, test_table_eq);
	tcase_add_test(te, test_field_value_eq);
	suite_add_tcase(s, te);
	tcase_add_loop_test(tl, test_depth_edge, 0, 2);
	tcase_add_loop_test(tl, test_entries_edge, 0, 2);
	tcase_add_test(tl, test_pool);
	tcase_set_timeout(tl, 30);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(table_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
