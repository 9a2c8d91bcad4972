/*
 * check_golden.c: Warren's codec against librabbitmq's, an independent implementation. For every
 * method librabbitmq 0.11 knows, both structs get the same values; the two encoders must write the
 * same bytes (Warren's with the 4-byte class and method ids in front), and each decoder must read
 * the other's bytes back to the same values. The same for basic properties and for field tables in
 * every type letter the two share. connection.update-secret(-ok), which librabbitmq 0.11 lacks,
 * is held against bytes written by hand.
 *
  * Both libraries use the amqp_ prefix, but no function name is shared; a few macros are, and are
 * dropped below before Warren's header defines its own.
 */
#include <amqp.h>
#include <amqp_framing.h>
#undef AMQP_FRAME_END   /* 206 there, 0xCE here */
#undef AMQP_BASIC_CLASS /* (0x003C) there, 60 here */

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "test/check_util.h"

#ifdef AMQP_CONNECTION_UPDATE_SECRET_METHOD
#define RMQ_HAS_UPDATE_SECRET 1
#else
/* Stand-ins so the X-macro below compiles; librabbitmq is never asked about these two. */
#define RMQ_HAS_UPDATE_SECRET 0
typedef struct {
	amqp_bytes_t new_secret;
	amqp_bytes_t reason;
} amqp_connection_update_secret_t;
typedef struct {
	char dummy;
} amqp_connection_update_secret_ok_t;
#endif

/* ---- the same table, built twice ---- */

struct pair {
	struct amqp_table w;
	amqp_table_t r;
};

static amqp_bytes_t rbytes(struct amqp_bytes b)
{
	return (amqp_bytes_t){ b.len, (void *)(uintptr_t)b.ptr };
}

/* Entry i of the Warren tree and of the librabbitmq tree of a pair. */
#define W(pp, i) (pp)->w.entries[i]
#define R(pp, i) (pp)->r.entries[i]

static void *take(struct arena *a, size_t n)
{
	return arena_take(a, n > 0 ? n : 1);
}

static void pair_alloc(struct arena *a, struct pair *p, int n)
{
	p->w = (struct amqp_table){ (uint32_t)n,
		take(a, (size_t)n * sizeof(struct amqp_table_entry)) };
	p->r = (amqp_table_t){ n, take(a, (size_t)n * sizeof(amqp_table_entry_t)) };
	memset(p->w.entries, 0, (size_t)n * sizeof(struct amqp_table_entry));
	memset(p->r.entries, 0, (size_t)n * sizeof(amqp_table_entry_t));
}

static void key(struct pair *p, int i, struct amqp_bytes k, uint8_t type)
{
	W(p, i).key = k;
	W(p, i).value.type = type;
	R(p, i).key = rbytes(k);
	R(p, i).value.kind = type;
}

/*
 * A table using every type letter the two libraries share, with nested tables and arrays; one
 * variant in four gives an empty table. Values depend on variant, method and k.
 */
static void make_pair(struct arena *a, int variant, int method, int k, struct pair *p)
{
	struct amqp_field_value *wa, *wa2;
	amqp_field_value_t *ra, *ra2;
	struct pair inner, deep, z;
	uint32_t i;

	if ((k + variant) % GEN_VARIANTS == 0) {
		*p = (struct pair){ { 0, NULL }, { 0, NULL } };
		return;
	}
	pair_alloc(a, p, 17);
	key(p, 0, amqp_cstr("t"), 't');
	W(p, 0).value.v.b = (variant & 1) != 0;
	R(p, 0).value.value.boolean = (variant & 1) != 0;
	key(p, 1, amqp_cstr("b"), 'b');
	W(p, 1).value.v.i8 = R(p, 1).value.value.i8 = (int8_t)(-5 - k);
	key(p, 2, amqp_cstr("B"), 'B');
	W(p, 2).value.v.u8 = R(p, 2).value.value.u8 = (uint8_t)(200 + k);
	key(p, 3, amqp_cstr("s"), 's');
	W(p, 3).value.v.i16 = R(p, 3).value.value.i16 = (int16_t)(-300 - method);
	key(p, 4, amqp_cstr("u"), 'u');
	W(p, 4).value.v.u16 = R(p, 4).value.value.u16 = 60000;
	key(p, 5, amqp_cstr("I"), 'I');
	W(p, 5).value.v.i32 = R(p, 5).value.value.i32 = -100000 - method;
	key(p, 6, amqp_cstr("i"), 'i');
	W(p, 6).value.v.u32 = R(p, 6).value.value.u32 = 4000000000u + (uint32_t)k;
	key(p, 7, amqp_cstr("l"), 'l');
	W(p, 7).value.v.i64 = R(p, 7).value.value.i64 = -(1ll << 40) - k;
	key(p, 8, amqp_cstr("f"), 'f');
	W(p, 8).value.v.f = R(p, 8).value.value.f32 = -1.5f - (float)variant;
	key(p, 9, amqp_cstr("d"), 'd');
	W(p, 9).value.v.d = R(p, 9).value.value.f64 = 1e300 / (1 + method);
	key(p, 10, amqp_cstr("D"), 'D');
	W(p, 10).value.v.dec = (struct amqp_decimal){ 3, 123456u + (uint32_t)k };
	R(p, 10).value.value.decimal = (amqp_decimal_t){ 3, 123456u + (uint32_t)k };
	key(p, 11, gen_str(a, variant, method, k, false), 'S');
	W(p, 11).value.v.bytes = gen_str(a, variant, method, k + 1, true);
	R(p, 11).value.value.bytes = rbytes(W(p, 11).value.v.bytes);
	key(p, 12, amqp_cstr("x"), 'x');
	W(p, 12).value.v.bytes = AMQP_BYTES("\0\x01\xff");
	R(p, 12).value.value.bytes = rbytes(W(p, 12).value.v.bytes);
	key(p, 13, amqp_cstr("T"), 'T');
	W(p, 13).value.v.u64 = R(p, 13).value.value.u64 = gen_longlong(variant, method, k);
	key(p, 14, amqp_cstr("V"), 'V');

	/* "A": [I 7, S "a", A [V], F {"z": u 1}] */
	pair_alloc(a, &z, 1);
	key(&z, 0, amqp_cstr("z"), 'u');
	W(&z, 0).value.v.u16 = R(&z, 0).value.value.u16 = 1;
	wa = take(a, 4 * sizeof(*wa));
	ra = take(a, 4 * sizeof(*ra));
	wa2 = take(a, sizeof(*wa2));
	ra2 = take(a, sizeof(*ra2));
	memset(ra, 0, 4 * sizeof(*ra));
	memset(ra2, 0, sizeof(*ra2));
	wa2[0] = (struct amqp_field_value){ .type = 'V' };
	ra2[0].kind = 'V';
	wa[0] = (struct amqp_field_value){ .type = 'I', .v.i32 = 7 };
	ra[0].kind = 'I';
	ra[0].value.i32 = 7;
	wa[1] = (struct amqp_field_value){ .type = 'S', .v.bytes = AMQP_BYTES("a") };
	ra[1].kind = 'S';
	ra[1].value.bytes = rbytes(wa[1].v.bytes);
	wa[2] = (struct amqp_field_value){ .type = 'A', .v.array = { 1, wa2 } };
	ra[2].kind = 'A';
	ra[2].value.array = (amqp_array_t){ 1, ra2 };
	wa[3] = (struct amqp_field_value){ .type = 'F', .v.table = z.w };
	ra[3].kind = 'F';
	ra[3].value.table = z.r;
	key(p, 15, amqp_cstr("A"), 'A');
	W(p, 15).value.v.array = (struct amqp_array){ 4, wa };
	R(p, 15).value.value.array = (amqp_array_t){ 4, ra };

	/* "F": {"deep": F {"l": l -1}, "e": A []} */
	pair_alloc(a, &deep, 1);
	key(&deep, 0, amqp_cstr("l"), 'l');
	W(&deep, 0).value.v.i64 = R(&deep, 0).value.value.i64 = -1;
	pair_alloc(a, &inner, 2);
	key(&inner, 0, amqp_cstr("deep"), 'F');
	W(&inner, 0).value.v.table = deep.w;
	R(&inner, 0).value.value.table = deep.r;
	key(&inner, 1, amqp_cstr("e"), 'A');
	key(p, 16, amqp_cstr("F"), 'F');
	W(p, 16).value.v.table = inner.w;
	R(p, 16).value.value.table = inner.r;
	for (i = 0; i < p->w.n; i++) /* every key the same in both */
		ck_assert(amqp_bytes_eq(
		    W(p, i).key, (struct amqp_bytes){ R(p, i).key.bytes, R(p, i).key.len }));
}

/* Warren's encoding of the pair's table: the entries, without the length. */
static struct amqp_bytes warren_raw(struct arena *a, const struct amqp_table *t)
{
	long size = amqp_table_encoded_size(t);
	uint8_t *buf;

	ck_assert_int_ge(size, 4);
	buf = arena_take(a, (size_t)size);
	ck_assert_int_eq(amqp_table_encode(t, buf, (size_t)size), size);
	return (struct amqp_bytes){ buf + 4, (size_t)size - 4 };
}

/* ---- comparing librabbitmq's trees with Warren's ---- */

static bool xtable_eq(const amqp_table_t *r, const struct amqp_table *w);

static bool xbytes_eq(amqp_bytes_t r, struct amqp_bytes w)
{
	return r.len == w.len && (w.len == 0 || memcmp(r.bytes, w.ptr, w.len) == 0);
}

static bool xvalue_eq(const amqp_field_value_t *r, const struct amqp_field_value *w)
{
	int i;

	if (r->kind != w->type)
		return false;
	switch (w->type) {
	case 't': return (r->value.boolean != 0) == w->v.b;
	case 'b': return r->value.i8 == w->v.i8;
	case 'B': return r->value.u8 == w->v.u8;
	case 's': return r->value.i16 == w->v.i16;
	case 'u': return r->value.u16 == w->v.u16;
	case 'I': return r->value.i32 == w->v.i32;
	case 'i': return r->value.u32 == w->v.u32;
	case 'l': return r->value.i64 == w->v.i64;
	case 'T': return r->value.u64 == w->v.u64;
	case 'f': return memcmp(&r->value.f32, &w->v.f, sizeof(float)) == 0;
	case 'd': return memcmp(&r->value.f64, &w->v.d, sizeof(double)) == 0;
	case 'D':
		return r->value.decimal.decimals == w->v.dec.scale &&
		    r->value.decimal.value == w->v.dec.value;
	case 'S':
	case 'x': return xbytes_eq(r->value.bytes, w->v.bytes);
	case 'V': return true;
	case 'F': return xtable_eq(&r->value.table, &w->v.table);
	case 'A':
		if (r->value.array.num_entries < 0 ||
		    (uint32_t)r->value.array.num_entries != w->v.array.n)
			return false;
		for (i = 0; i < r->value.array.num_entries; i++)
			if (!xvalue_eq(&r->value.array.entries[i], &w->v.array.values[i]))
				return false;
		return true;
	default: return false;
	}
}

/* Entry by entry, in order: both decoders keep the wire order. */
static bool xtable_eq(const amqp_table_t *r, const struct amqp_table *w)
{
	int i;

	if (r->num_entries < 0 || (uint32_t)r->num_entries != w->n)
		return false;
	for (i = 0; i < r->num_entries; i++)
		if (!xbytes_eq(r->entries[i].key, w->entries[i].key) ||
		    !xvalue_eq(&r->entries[i].value, &w->entries[i].value))
			return false;
	return true;
}

/* A librabbitmq table against Warren's raw entries. */
static void xtable_raw_eq(const amqp_table_t *r, struct amqp_bytes raw, const char *what)
{
	struct amqp_arena pool;
	struct amqp_table t;

	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_decode(raw, &pool, &t), 0);
	ck_assert_msg(xtable_eq(r, &t), "%s: tables differ", what);
	amqp_arena_reset(&pool);
}

/* ---- methods ---- */

struct gfill {
	struct arena *arena;
	int variant, method, k;
};

static void gfill_BIT(bool *w, amqp_boolean_t *r, struct gfill *g)
{
	*w = gen_bit(g->variant, g->method, g->k++);
	*r = *w;
}

static void gfill_OCTET(uint8_t *w, uint8_t *r, struct gfill *g)
{
	*r = *w = gen_octet(g->variant, g->method, g->k++);
}

static void gfill_SHORT(uint16_t *w, uint16_t *r, struct gfill *g)
{
	*r = *w = gen_short(g->variant, g->method, g->k++);
}

static void gfill_LONG(uint32_t *w, uint32_t *r, struct gfill *g)
{
	*r = *w = gen_long(g->variant, g->method, g->k++);
}

static void gfill_LONGLONG(uint64_t *w, uint64_t *r, struct gfill *g)
{
	*r = *w = gen_longlong(g->variant, g->method, g->k++);
}
#define gfill_TIMESTAMP gfill_LONGLONG

static void gfill_SHORTSTR(struct amqp_bytes *w, amqp_bytes_t *r, struct gfill *g)
{
	*w = gen_str(g->arena, g->variant, g->method, g->k++, false);
	*r = rbytes(*w);
}

static void gfill_LONGSTR(struct amqp_bytes *w, amqp_bytes_t *r, struct gfill *g)
{
	*w = gen_str(g->arena, g->variant, g->method, g->k++, true);
	*r = rbytes(*w);
}

static void gfill_TABLE(struct amqp_bytes *w, amqp_table_t *r, struct gfill *g)
{
	struct pair p;

	make_pair(g->arena, g->variant, g->method, g->k++, &p);
	*w = warren_raw(g->arena, &p.w);
	*r = p.r;
}

/* Values compared as numbers, strings as bytes, tables through Warren's tree. */
#define same_num(x, y, m, f) ck_assert_msg((uint64_t)(x) == (uint64_t)(y), "%s %s", m, f)
#define rcmp_BIT(r, w, m, f) same_num(*(r) != 0, *(w), m, f)
#define rcmp_OCTET(r, w, m, f) same_num(*(r), *(w), m, f)
#define rcmp_SHORT(r, w, m, f) same_num(*(r), *(w), m, f)
#define rcmp_LONG(r, w, m, f) same_num(*(r), *(w), m, f)
#define rcmp_LONGLONG(r, w, m, f) same_num(*(r), *(w), m, f)
#define rcmp_TIMESTAMP(r, w, m, f) same_num(*(r), *(w), m, f)
#define rcmp_SHORTSTR(r, w, m, f) ck_assert_msg(xbytes_eq(*(r), *(w)), "%s %s", m, f)
#define rcmp_LONGSTR(r, w, m, f) ck_assert_msg(xbytes_eq(*(r), *(w)), "%s %s", m, f)
#define rcmp_TABLE(r, w, m, f) xtable_raw_eq(r, *(w), f)
#define wcmp_BIT(a, b, m, f) same_num(*(a), *(b), m, f)
#define wcmp_OCTET wcmp_BIT
#define wcmp_SHORT wcmp_BIT
#define wcmp_LONG wcmp_BIT
#define wcmp_LONGLONG wcmp_BIT
#define wcmp_TIMESTAMP wcmp_BIT
#define wcmp_SHORTSTR(a, b, m, f) ck_assert_msg(amqp_bytes_eq(*(a), *(b)), "%s %s", m, f)
#define wcmp_LONGSTR wcmp_SHORTSTR
#define wcmp_TABLE wcmp_SHORTSTR

/* Fill Warren's method and librabbitmq's struct (at r, 512 bytes) with the same values. */
static void golden_fill(struct amqp_method *w, void *r, size_t index, int variant, struct arena *a)
{
	struct gfill g = { a, variant, (int)index, 0 };

	memset(w, 0, sizeof(*w));
	memset(r, 0, 512);
	w->id = amqp_methods[index].id;
	switch (w->id) {
#define F(type, name, wire) gfill_##type(&ws->name, &rs->name, &g);
#define METHOD(cls, mm, wire, cid, mid, flags, fields)                         \
	case AMQP_ID_##cls##_##mm: {                                           \
		struct amqp_##cls##_##mm *ws = &w->u.cls##_##mm;               \
		amqp_##cls##_##mm##_t *rs = r;                                 \
		_Static_assert(sizeof(*rs) <= 512, "librabbitmq struct size"); \
		(void)ws;                                                      \
		(void)rs;                                                      \
		fields break;                                                  \
	}
#include "amqp/methods.def"
#undef METHOD
#undef F
	default: ck_abort_msg("no case for %s", amqp_methods[index].name);
	}
}

/* librabbitmq's decoded struct against the values Warren's struct was filled with. */
static void golden_cmp_rmq(const void *r, const struct amqp_method *w)
{
	switch (w->id) {
#define F(type, name, wire) rcmp_##type(&rs->name, &ws->name, mname, wire);
#define METHOD(cls, mm, wire, cid, mid, flags, fields)                 \
	case AMQP_ID_##cls##_##mm: {                                   \
		const struct amqp_##cls##_##mm *ws = &w->u.cls##_##mm; \
		const amqp_##cls##_##mm##_t *rs = r;                   \
		const char *mname = wire;                              \
		(void)ws;                                              \
		(void)rs;                                              \
		(void)mname;                                           \
		fields break;                                          \
	}
#include "amqp/methods.def"
#undef METHOD
#undef F
	default: ck_abort_msg("no case for %08x", (unsigned)w->id);
	}
}

/* Warren's decoded method against the values it was filled with. */
static void golden_cmp_warren(const struct amqp_method *a, const struct amqp_method *b)
{
	ck_assert_uint_eq(a->id, b->id);
	switch (a->id) {
#define F(type, name, wire) wcmp_##type(&x->name, &y->name, mname, wire);
#define METHOD(cls, mm, wire, cid, mid, flags, fields)                \
	case AMQP_ID_##cls##_##mm: {                                  \
		const struct amqp_##cls##_##mm *x = &a->u.cls##_##mm; \
		const struct amqp_##cls##_##mm *y = &b->u.cls##_##mm; \
		const char *mname = wire;                             \
		(void)x;                                              \
		(void)y;                                              \
		(void)mname;                                          \
		fields break;                                         \
	}
#include "amqp/methods.def"
#undef METHOD
#undef F
	default: ck_abort_msg("no case for %08x", (unsigned)a->id);
	}
}

static bool rmq_knows(uint32_t id)
{
	return RMQ_HAS_UPDATE_SECRET ||
	    (id != AMQP_ID_connection_update_secret && id != AMQP_ID_connection_update_secret_ok);
}

/* _i: method _i / GEN_VARIANTS in variant _i % GEN_VARIANTS. */
START_TEST(test_method_golden)
{
	size_t index = (size_t)_i / GEN_VARIANTS;
	const struct amqp_method_desc *d = &amqp_methods[index];
	union {
		max_align_t align;
		uint8_t b[512];
	} rs;
	struct amqp_method w, back;
	struct arena a;
	amqp_pool_t pool;
	void *decoded = NULL;
	uint8_t *wbuf, *rbuf, *exact;
	size_t cap = 16384;
	char h1[256], h2[256];
	int n, rn;

	arena_init(&a);
	golden_fill(&w, rs.b, index, _i % GEN_VARIANTS, &a);
	wbuf = arena_take(&a, cap);
	rbuf = arena_take(&a, cap);
	n = amqp_method_encode(&w, wbuf, cap);
	ck_assert_int_ge(n, 4);
	rn = amqp_encode_method(d->id, rs.b, (amqp_bytes_t){ cap, rbuf });
	if (!rmq_knows(d->id)) {
		ck_assert_int_eq(rn, AMQP_STATUS_UNKNOWN_METHOD); /* test_update_secret covers it */
		arena_free(&a);
		return;
	}
	ck_assert_msg(rn == n - 4 && memcmp(wbuf + 4, rbuf, (size_t)rn) == 0,
	    "%s: warren %s\nlibrabbitmq %s", d->name, hex(wbuf + 4, (size_t)n - 4, h1, sizeof(h1)),
	    hex(rbuf, rn > 0 ? (size_t)rn : 0, h2, sizeof(h2)));
	ck_assert_uint_eq(
	    ((uint32_t)wbuf[0] << 24 | (uint32_t)wbuf[1] << 16 | (uint32_t)wbuf[2] << 8 | wbuf[3]),
	    d->id);

	/* Warren decodes librabbitmq's bytes (behind the ids) to the values it was given. */
	exact = malloc((size_t)rn + 4);
	memcpy(exact, wbuf, 4);
	memcpy(exact + 4, rbuf, (size_t)rn);
	ck_assert_int_eq(amqp_method_decode(exact, (size_t)rn + 4, &back), 0);
	golden_cmp_warren(&w, &back);
	free(exact);

	/* librabbitmq decodes Warren's bytes to the same values. */
	exact = heap_copy(wbuf + 4, (size_t)n - 4);
	init_amqp_pool(&pool, 4096);
	ck_assert_int_eq(
	    amqp_decode_method(d->id, &pool, (amqp_bytes_t){ (size_t)n - 4, exact }, &decoded), 0);
	ck_assert_ptr_nonnull(decoded);
	golden_cmp_rmq(decoded, &w);
	empty_amqp_pool(&pool);
	free(exact);
	arena_free(&a);
}
END_TEST

/* The two methods librabbitmq 0.11 lacks, against bytes written by hand. */
START_TEST(test_update_secret)
{
	static const uint8_t secret[] = { 0x00, 0x0A, 0x00, 0x46, 0x00, 0x00, 0x00, 0x06, 's', '3',
		'c', 'r', '3', 't', 0x06, 'r', 'o', 't', 'a', 't', 'e' };
	static const uint8_t secret_ok[] = { 0x00, 0x0A, 0x00, 0x47 };
	struct amqp_method m = { .id = AMQP_ID_connection_update_secret }, back;
	uint8_t buf[64], *exact;

	m.u.connection_update_secret.new_secret = amqp_cstr("s3cr3t");
	m.u.connection_update_secret.reason = amqp_cstr("rotate");
	ck_assert_int_eq(amqp_method_encode(&m, buf, sizeof(buf)), sizeof(secret));
	ck_assert_mem_eq(buf, secret, sizeof(secret));
	exact = heap_copy(secret, sizeof(secret));
	ck_assert_int_eq(amqp_method_decode(exact, sizeof(secret), &back), 0);
	ck_assert_uint_eq(back.id, AMQP_ID_connection_update_secret);
	ck_assert(amqp_bytes_eq_cstr(back.u.connection_update_secret.new_secret, "s3cr3t"));
	ck_assert(amqp_bytes_eq_cstr(back.u.connection_update_secret.reason, "rotate"));
	free(exact);
	m = (struct amqp_method){ .id = AMQP_ID_connection_update_secret_ok };
	ck_assert_int_eq(amqp_method_encode(&m, buf, sizeof(buf)), sizeof(secret_ok));
	ck_assert_mem_eq(buf, secret_ok, sizeof(secret_ok));
	exact = heap_copy(secret_ok, sizeof(secret_ok));
	ck_assert_int_eq(amqp_method_decode(exact, sizeof(secret_ok), &back), 0);
	ck_assert_uint_eq(back.id, AMQP_ID_connection_update_secret_ok);
	free(exact);
	ck_assert(!amqp_method_carries_content(AMQP_ID_connection_update_secret));
}
END_TEST

/* librabbitmq's method numbers are Warren's ids. */
START_TEST(test_method_numbers)
{
	ck_assert_uint_eq(AMQP_CONNECTION_START_METHOD, AMQP_ID_connection_start);
	ck_assert_uint_eq(AMQP_BASIC_PUBLISH_METHOD, AMQP_ID_basic_publish);
	ck_assert_uint_eq(AMQP_BASIC_NACK_METHOD, AMQP_ID_basic_nack);
	ck_assert_uint_eq(AMQP_EXCHANGE_UNBIND_OK_METHOD, AMQP_ID_exchange_unbind_ok);
	ck_assert_uint_eq(AMQP_CONFIRM_SELECT_OK_METHOD, AMQP_ID_confirm_select_ok);
	ck_assert_uint_eq(AMQP_BASIC_RECOVER_ASYNC_METHOD, AMQP_ID_basic_recover_async);
	ck_assert_uint_eq(AMQP_CONNECTION_BLOCKED_METHOD, AMQP_ID_connection_blocked);
	ck_assert_uint_eq(AMQP_FRAME_MIN_SIZE, 4096);
}
END_TEST

/* ---- field tables ---- */

/* _i: variant 1..3 of the full table (variant 0 is empty), over several method seeds. */
START_TEST(test_table_golden)
{
	struct arena a;
	struct pair p;
	struct amqp_arena wpool;
	struct amqp_table wt;
	amqp_pool_t pool;
	amqp_table_t rt;
	uint8_t *rbuf, *wbuf, *exact;
	size_t cap = 16384, off = 0;
	int n;

	arena_init(&a);
	make_pair(&a, _i % GEN_VARIANTS, _i, 1, &p);
	rbuf = arena_take(&a, cap);
	wbuf = arena_take(&a, cap);
	ck_assert_int_eq(amqp_encode_table((amqp_bytes_t){ cap, rbuf }, &p.r, &off), 0);
	n = amqp_table_encode(&p.w, wbuf, cap);
	ck_assert_int_eq(n, (int)off);
	ck_assert_mem_eq(wbuf, rbuf, off);
	ck_assert_int_eq(amqp_table_encoded_size(&p.w), n);

	/* librabbitmq reads Warren's bytes, length prefix included. */
	exact = heap_copy(wbuf, (size_t)n);
	init_amqp_pool(&pool, 4096);
	off = 0;
	ck_assert_int_eq(
	    amqp_decode_table((amqp_bytes_t){ (size_t)n, exact }, &pool, &rt, &off), 0);
	ck_assert_uint_eq(off, (size_t)n);
	ck_assert(xtable_eq(&rt, &p.w));
	empty_amqp_pool(&pool);
	free(exact);

	/* Warren reads librabbitmq's bytes, inside the length. */
	exact = heap_copy(rbuf + 4, (size_t)n - 4);
	amqp_arena_init(&wpool);
	ck_assert_int_eq(
	    amqp_table_decode((struct amqp_bytes){ exact, (size_t)n - 4 }, &wpool, &wt), 0);
	ck_assert(amqp_table_eq(&wt, &p.w));
	ck_assert(xtable_eq(&p.r, &wt));
	amqp_arena_reset(&wpool);
	free(exact);
	arena_free(&a);
}
END_TEST

/* One entry per type letter, so a difference names its letter. */
START_TEST(test_each_type_golden)
{
	static const char letters[] = "tbBsuIilfdDSxATFV";
	struct arena a;
	struct pair full, one;
	uint8_t rbuf[4096], wbuf[4096];
	size_t off = 0;
	int n, i;

	arena_init(&a);
	make_pair(&a, 1, 3, 2, &full);
	for (i = 0; i < (int)full.w.n; i++)
		if (full.w.entries[i].value.type == (uint8_t)letters[_i])
			break;
	ck_assert_int_lt(i, (int)full.w.n);
	one.w = (struct amqp_table){ 1, &full.w.entries[i] };
	one.r = (amqp_table_t){ 1, &full.r.entries[i] };
	ck_assert_int_eq(amqp_encode_table((amqp_bytes_t){ sizeof(rbuf), rbuf }, &one.r, &off), 0);
	n = amqp_table_encode(&one.w, wbuf, sizeof(wbuf));
	ck_assert_msg(n == (int)off && memcmp(wbuf, rbuf, off) == 0, "type '%c'", letters[_i]);
	arena_free(&a);
}
END_TEST

/* ---- basic properties ---- */

static const uint16_t flag_bits[14] = { AMQP_P_CONTENT_TYPE, AMQP_P_CONTENT_ENCODING,
	AMQP_P_HEADERS, AMQP_P_DELIVERY_MODE, AMQP_P_PRIORITY, AMQP_P_CORRELATION_ID,
	AMQP_P_REPLY_TO, AMQP_P_EXPIRATION, AMQP_P_MESSAGE_ID, AMQP_P_TIMESTAMP, AMQP_P_TYPE,
	AMQP_P_USER_ID, AMQP_P_APP_ID, AMQP_P_CLUSTER_ID };
static const amqp_flags_t rmq_bits[14] = { AMQP_BASIC_CONTENT_TYPE_FLAG,
	AMQP_BASIC_CONTENT_ENCODING_FLAG, AMQP_BASIC_HEADERS_FLAG, AMQP_BASIC_DELIVERY_MODE_FLAG,
	AMQP_BASIC_PRIORITY_FLAG, AMQP_BASIC_CORRELATION_ID_FLAG, AMQP_BASIC_REPLY_TO_FLAG,
	AMQP_BASIC_EXPIRATION_FLAG, AMQP_BASIC_MESSAGE_ID_FLAG, AMQP_BASIC_TIMESTAMP_FLAG,
	AMQP_BASIC_TYPE_FLAG, AMQP_BASIC_USER_ID_FLAG, AMQP_BASIC_APP_ID_FLAG,
	AMQP_BASIC_CLUSTER_ID_FLAG };

static void props_fill(
    struct arena *a, int variant, struct amqp_basic_properties *w, amqp_basic_properties_t *r)
{
	struct pair p;
	int k = 0;

	memset(w, 0, sizeof(*w));
	memset(r, 0, sizeof(*r));
#define PSTR(field)                                     \
	w->field = gen_str(a, variant, 99, k++, false); \
	r->field = rbytes(w->field);
	PSTR(content_type)
	PSTR(content_encoding)
	make_pair(a, variant == 0 ? 1 : variant, 99, k++, &p);
	w->headers = warren_raw(a, &p.w);
	r->headers = p.r;
	r->delivery_mode = w->delivery_mode = gen_octet(variant, 99, k++);
	r->priority = w->priority = gen_octet(variant, 99, k++);
	PSTR(correlation_id)
	PSTR(reply_to)
	PSTR(expiration)
	PSTR(message_id)
	r->timestamp = w->timestamp = gen_longlong(variant, 99, k++);
	PSTR(type)
	PSTR(user_id)
	PSTR(app_id)
	PSTR(cluster_id)
#undef PSTR
}

static void props_cmp_rmq(const amqp_basic_properties_t *r, const struct amqp_basic_properties *w)
{
	ck_assert_uint_eq(r->_flags, w->flags);
#define PSTR(field, bit)      \
	if (w->flags & (bit)) \
		ck_assert_msg(xbytes_eq(r->field, w->field), "%s", #field);
	PSTR(content_type, AMQP_P_CONTENT_TYPE)
	PSTR(content_encoding, AMQP_P_CONTENT_ENCODING)
	PSTR(correlation_id, AMQP_P_CORRELATION_ID)
	PSTR(reply_to, AMQP_P_REPLY_TO)
	PSTR(expiration, AMQP_P_EXPIRATION)
	PSTR(message_id, AMQP_P_MESSAGE_ID)
	PSTR(type, AMQP_P_TYPE)
	PSTR(user_id, AMQP_P_USER_ID)
	PSTR(app_id, AMQP_P_APP_ID)
	PSTR(cluster_id, AMQP_P_CLUSTER_ID)
#undef PSTR
	if (w->flags & AMQP_P_HEADERS)
		xtable_raw_eq(&r->headers, w->headers, "headers");
	if (w->flags & AMQP_P_DELIVERY_MODE)
		ck_assert_uint_eq(r->delivery_mode, w->delivery_mode);
	if (w->flags & AMQP_P_PRIORITY)
		ck_assert_uint_eq(r->priority, w->priority);
	if (w->flags & AMQP_P_TIMESTAMP)
		ck_assert_uint_eq(r->timestamp, w->timestamp);
}

static void props_cmp_warren(
    const struct amqp_basic_properties *a, const struct amqp_basic_properties *b)
{
	ck_assert_uint_eq(a->flags, b->flags);
#define PSTR(field, bit)      \
	if (a->flags & (bit)) \
		ck_assert_msg(amqp_bytes_eq(a->field, b->field), "%s", #field);
	PSTR(content_type, AMQP_P_CONTENT_TYPE)
	PSTR(content_encoding, AMQP_P_CONTENT_ENCODING)
	PSTR(headers, AMQP_P_HEADERS)
	PSTR(correlation_id, AMQP_P_CORRELATION_ID)
	PSTR(reply_to, AMQP_P_REPLY_TO)
	PSTR(expiration, AMQP_P_EXPIRATION)
	PSTR(message_id, AMQP_P_MESSAGE_ID)
	PSTR(type, AMQP_P_TYPE)
	PSTR(user_id, AMQP_P_USER_ID)
	PSTR(app_id, AMQP_P_APP_ID)
	PSTR(cluster_id, AMQP_P_CLUSTER_ID)
#undef PSTR
	if (a->flags & AMQP_P_DELIVERY_MODE)
		ck_assert_uint_eq(a->delivery_mode, b->delivery_mode);
	if (a->flags & AMQP_P_PRIORITY)
		ck_assert_uint_eq(a->priority, b->priority);
	if (a->flags & AMQP_P_TIMESTAMP)
		ck_assert_uint_eq(a->timestamp, b->timestamp);
}

/*
 * _i / 15 is the variant; _i % 15 picks the one property set (0..13), or all fourteen (14). Both
 * encoders write the same bytes, and each decoder reads the other's back to the same values.
 */
START_TEST(test_properties_golden)
{
	int variant = _i / 15, which = _i % 15;
	struct amqp_basic_properties w, back;
	amqp_basic_properties_t r;
	struct arena a;
	amqp_pool_t pool;
	void *decoded = NULL;
	uint8_t *wbuf, *rbuf, *exact;
	size_t cap = 16384;
	int n, rn;

	arena_init(&a);
	props_fill(&a, variant, &w, &r);
	w.flags = which == 14 ? AMQP_P_ALL : flag_bits[which];
	r._flags = which == 14 ? (amqp_flags_t)AMQP_P_ALL : rmq_bits[which];
	ck_assert_uint_eq(r._flags, w.flags);
	wbuf = arena_take(&a, cap);
	rbuf = arena_take(&a, cap);
	n = amqp_properties_encode(&w, wbuf, cap);
	rn = amqp_encode_properties(AMQP_BASIC_CLASS, &r, (amqp_bytes_t){ cap, rbuf });
	ck_assert_int_gt(n, 2);
	ck_assert_int_eq(rn, n);
	ck_assert_mem_eq(wbuf, rbuf, (size_t)n);

	exact = heap_copy(rbuf, (size_t)rn);
	ck_assert_int_eq(amqp_properties_decode(exact, (size_t)rn, &back), 0);
	props_cmp_warren(&w, &back);
	free(exact);

	exact = heap_copy(wbuf, (size_t)n);
	init_amqp_pool(&pool, 4096);
	ck_assert_int_eq(amqp_decode_properties(
	                     AMQP_BASIC_CLASS, &pool, (amqp_bytes_t){ (size_t)n, exact }, &decoded),
	    0);
	props_cmp_rmq(decoded, &w);
	empty_amqp_pool(&pool);
	free(exact);
	arena_free(&a);
}
END_TEST

static Suite *golden_suite(void)
{
	Suite *s = suite_create("golden");
	TCase *tm = tcase_create("methods");
	TCase *tt = tcase_create("tables");
	TCase *tp = tcase_create("properties");

	tcase_add_loop_test(tm, test_method_golden, 0, (int)amqp_nmethods * GEN_VARIANTS);
	tcase_add_test(tm, test_update_secret);
	tcase_add_test(tm, test_method_numbers);
	suite_add_tcase(s, tm);
	tcase_add_loop_test(tt, test_table_golden, 1, 24);
	tcase_add_loop_test(tt, test_each_type_golden, 0, 17);
	suite_add_tcase(s, tt);
	tcase_add_loop_test(tp, test_properties_golden, 0, 15 * GEN_VARIANTS);
	suite_add_tcase(s, tp);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(golden_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
