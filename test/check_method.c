/*
 * check_method.c: the method table and the method codec (amqp/method.c). Every method in
 * amqp_methods[] is filled through the X-macro in methods.def with distinct values, encoded,
 * decoded, compared field by field and re-encoded; the encoded length is predicted independently,
 * bit by bit. Hand-written bytes pin the packing of bit runs (queue.declare, basic.nack,
 * exchange.declare's five bits before a table, a bit between two other fields).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "test/check_util.h"

/* ---- filling a method from the X-macro ---- */

struct fill {
	struct arena *arena;
	int variant, method, k;
	size_t size; /* the encoded length predicted field by field */
	int bitpos;  /* bits used in the current octet; 0 = none open */
};

static void fill_BIT(bool *v, struct fill *f)
{
	if (f->bitpos == 0 || f->bitpos == 8) { /* a new octet opens */
		f->size++;
		f->bitpos = 0;
	}
	f->bitpos++;
	*v = gen_bit(f->variant, f->method, f->k++);
}

static void fill_OCTET(uint8_t *v, struct fill *f)
{
	f->bitpos = 0;
	f->size += 1;
	*v = gen_octet(f->variant, f->method, f->k++);
}

static void fill_SHORT(uint16_t *v, struct fill *f)
{
	f->bitpos = 0;
	f->size += 2;
	*v = gen_short(f->variant, f->method, f->k++);
}

static void fill_LONG(uint32_t *v, struct fill *f)
{
	f->bitpos = 0;
	f->size += 4;
	*v = gen_long(f->variant, f->method, f->k++);
}

static void fill_LONGLONG(uint64_t *v, struct fill *f)
{
	f->bitpos = 0;
	f->size += 8;
	*v = gen_longlong(f->variant, f->method, f->k++);
}

/* No 0-9-1 method has a timestamp field, but methods.def may name the kind. */
#define fill_TIMESTAMP fill_LONGLONG

static void fill_SHORTSTR(struct amqp_bytes *v, struct fill *f)
{
	f->bitpos = 0;
	*v = gen_str(f->arena, f->variant, f->method, f->k++, false);
	f->size += 1 + v->len;
}

static void fill_LONGSTR(struct amqp_bytes *v, struct fill *f)
{
	f->bitpos = 0;
	*v = gen_str(f->arena, f->variant, f->method, f->k++, true);
	f->size += 4 + v->len;
}

/* A table with nested tables and arrays, or an empty one for one variant in four. */
static struct amqp_bytes make_table(struct arena *a, int variant, int method, int k)
{
	struct amqp_table_entry deep[1], nest[3], top[4];
	struct amqp_field_value arr[4];
	struct amqp_table t;
	uint8_t *buf;
	long size;
	int n;

	if ((k + variant) % GEN_VARIANTS == 0)
		return (struct amqp_bytes){ NULL, 0 };
	deep[0] = (struct amqp_table_entry){ amqp_cstr("deep"),
		{ .type = AMQP_FIELD_I64, .v.i64 = -1 - (int64_t)method * 1000 - k } };
	arr[0] = (struct amqp_field_value){ .type = AMQP_FIELD_BOOL, .v.b = (variant & 1) != 0 };
	arr[1] = (struct amqp_field_value){ .type = AMQP_FIELD_DOUBLE, .v.d = 1.5 + k };
	arr[2] = (struct amqp_field_value){ .type = AMQP_FIELD_VOID };
	arr[3] = (struct amqp_field_value){ .type = AMQP_FIELD_TABLE, .v.table = { 1, deep } };
	nest[0] = (struct amqp_table_entry){ amqp_cstr("arr"),
		{ .type = AMQP_FIELD_ARRAY, .v.array = { 4, arr } } };
	nest[1] = (struct amqp_table_entry){ amqp_cstr("bin"),
		{ .type = AMQP_FIELD_BYTES, .v.bytes = AMQP_BYTES("\0\xff\0x") } };
	nest[2] = (struct amqp_table_entry){ amqp_cstr("dec"),
		{ .type = AMQP_FIELD_DECIMAL, .v.dec = { 2, (uint32_t)(314 + method) } } };
	top[0] = (struct amqp_table_entry){ gen_str(a, variant, method, k, false),
		{ .type = AMQP_FIELD_LONGSTR,
		    .v.bytes = gen_str(a, variant, method, k + 1, true) } };
	top[1] = (struct amqp_table_entry){ amqp_cstr("neg"),
		{ .type = AMQP_FIELD_I32, .v.i32 = -(int32_t)(method * 1000 + k) } };
	top[2] = (struct amqp_table_entry){ amqp_cstr("nest"),
		{ .type = AMQP_FIELD_TABLE, .v.table = { 3, nest } } };
	top[3] = (struct amqp_table_entry){ amqp_cstr("ts"),
		{ .type = AMQP_FIELD_TIMESTAMP, .v.u64 = gen_longlong(variant, method, k) } };
	t = (struct amqp_table){ 4, top };
	size = amqp_table_encoded_size(&t);
	ck_assert_int_gt(size, 4);
	buf = arena_take(a, (size_t)size);
	n = amqp_table_encode(&t, buf, (size_t)size);
	ck_assert_int_eq(n, size);
	return (struct amqp_bytes){ buf + 4, (size_t)size - 4 };
}

static void fill_TABLE(struct amqp_bytes *v, struct fill *f)
{
	f->bitpos = 0;
	*v = make_table(f->arena, f->variant, f->method, f->k++);
	f->size += 4 + v->len;
}

/* Fill method number `index` of amqp_methods[]; returns the predicted encoded length. */
static size_t fill_method(struct amqp_method *m, size_t index, int variant, struct arena *a)
{
	struct fill f = { a, variant, (int)index, 0, 4, 0 };

	memset(m, 0, sizeof(*m));
	m->id = amqp_methods[index].id;
	switch (m->id) {
#define F(type, name, wire) fill_##type(&s->name, &f);
#define METHOD(cls, mm, wire, cid, mid, flags, fields)                     \
	case AMQP_ID_##cls##_##mm: {                                       \
		struct amqp_##cls##_##mm *s = &m->u.cls##_##mm;            \
		(void)s;                                                   \
		fields ck_assert_int_eq(f.k, amqp_methods[index].nfields); \
		break;                                                     \
	}
#include "amqp/methods.def"
#undef METHOD
#undef F
	default: ck_abort_msg("method %s has no case", amqp_methods[index].name);
	}
	return f.size;
}

/* ---- comparing two decoded methods ---- */

static void cmp_scalar(uint64_t a, uint64_t b, const char *method, const char *field)
{
	ck_assert_msg(a == b, "%s %s: %llu != %llu", method, field, (unsigned long long)a,
	    (unsigned long long)b);
}

static void cmp_bytes(
    struct amqp_bytes a, struct amqp_bytes b, const char *method, const char *field)
{
	ck_assert_msg(
	    amqp_bytes_eq(a, b), "%s %s: %zu bytes != %zu bytes", method, field, a.len, b.len);
}

#define cmp_BIT(a, b, m, w) cmp_scalar(*(a), *(b), m, w)
#define cmp_OCTET(a, b, m, w) cmp_scalar(*(a), *(b), m, w)
#define cmp_SHORT(a, b, m, w) cmp_scalar(*(a), *(b), m, w)
#define cmp_LONG(a, b, m, w) cmp_scalar(*(a), *(b), m, w)
#define cmp_LONGLONG(a, b, m, w) cmp_scalar(*(a), *(b), m, w)
#define cmp_TIMESTAMP(a, b, m, w) cmp_scalar(*(a), *(b), m, w)
#define cmp_SHORTSTR(a, b, m, w) cmp_bytes(*(a), *(b), m, w)
#define cmp_LONGSTR(a, b, m, w) cmp_bytes(*(a), *(b), m, w)

/* Tables: the same bytes, and as trees equal too. */
static void cmp_table(
    struct amqp_bytes a, struct amqp_bytes b, const char *method, const char *field)
{
	struct amqp_arena pool;
	struct amqp_table ta, tb;

	cmp_bytes(a, b, method, field);
	amqp_arena_init(&pool);
	ck_assert_int_eq(amqp_table_decode(a, &pool, &ta), 0);
	ck_assert_int_eq(amqp_table_decode(b, &pool, &tb), 0);
	ck_assert_msg(amqp_table_eq(&ta, &tb), "%s %s: trees differ", method, field);
	amqp_arena_reset(&pool);
}
#define cmp_TABLE(a, b, m, w) cmp_table(*(a), *(b), m, w)

static void cmp_method(const struct amqp_method *a, const struct amqp_method *b)
{
	ck_assert_uint_eq(a->id, b->id);
	switch (a->id) {
#define F(type, name, wire) cmp_##type(&x->name, &y->name, mname, wire);
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
	default: ck_abort_msg("no case for method %08x", (unsigned)a->id);
	}
}

/* ---- round trip of every method ---- */

/* _i runs over amqp_nmethods * GEN_VARIANTS: method _i / GEN_VARIANTS in variant _i % GEN_VARIANTS. */
START_TEST(test_roundtrip_every_method)
{
	size_t index = (size_t)_i / GEN_VARIANTS;
	int variant = _i % GEN_VARIANTS;
	const struct amqp_method_desc *d = &amqp_methods[index];
	struct amqp_method in, out;
	struct arena a;
	uint8_t *buf, *again, *exact;
	size_t expect, cap;
	int n, n2;

	arena_init(&a);
	expect = fill_method(&in, index, variant, &a);
	cap = expect + 64;
	buf = arena_take(&a, cap);
	n = amqp_method_encode(&in, buf, cap);
	ck_assert_msg(n == (int)expect, "%s: encoded %d bytes, predicted %zu", d->name, n, expect);
	ck_assert_uint_eq(((uint32_t)buf[0] << 8) | buf[1], d->class_id);
	ck_assert_uint_eq(((uint32_t)buf[2] << 8) | buf[3], d->method_id);

	/* Decode from a heap copy of exactly the payload, so a read past it is caught. */
	exact = heap_copy(buf, (size_t)n);
	ck_assert_int_eq(amqp_method_decode(exact, (size_t)n, &out), 0);
	cmp_method(&in, &out);

	/* Re-encoding what was decoded gives the same bytes. */
	again = arena_take(&a, cap);
	n2 = amqp_method_encode(&out, again, cap);
	ck_assert_int_eq(n2, n);
	ck_assert_mem_eq(again, buf, (size_t)n);

	/* As a whole frame on a channel, the payload is the same. */
	n2 = amqp_method_frame_encode(7, &in, again, cap);
	ck_assert_int_eq(n2, n + AMQP_FRAME_OVERHEAD);
	ck_assert_uint_eq(again[0], AMQP_FRAME_METHOD);
	ck_assert_uint_eq(again[2], 7);
	ck_assert_mem_eq(again + AMQP_FRAME_HEADER_LEN, buf, (size_t)n);
	ck_assert_uint_eq(again[n2 - 1], AMQP_FRAME_END);
	free(exact);
	arena_free(&a);
}
END_TEST

/* Every output buffer shorter than the encoding is refused, without a write past its end. */
START_TEST(test_encode_no_space_every_length)
{
	struct amqp_method in;
	struct arena a;
	uint8_t *small;
	size_t expect, cap;

	arena_init(&a);
	expect = fill_method(&in, (size_t)_i, 1, &a);
	for (cap = 0; cap < expect; cap++) {
		small = malloc(cap > 0 ? cap : 1);
		ck_assert_ptr_nonnull(small);
		ck_assert_int_eq(amqp_method_encode(&in, small, cap), AMQP_E_NO_SPACE);
		free(small);
	}
	ck_assert_int_eq(amqp_method_frame_encode(0, &in, NULL, 7), AMQP_E_NO_SPACE);
	arena_free(&a);
}
END_TEST

/* ---- the method table ---- */

#define METHOD(cls, m, wire, cid, mid, flags, fields) +1
static const size_t def_count = 0
#include "amqp/methods.def"
    ;
#undef METHOD

START_TEST(test_table_sorted_and_lookup)
{
	size_t i;
	const struct amqp_method_desc *d;

	ck_assert_uint_eq(amqp_nmethods, def_count);
	ck_assert_uint_eq(amqp_nmethods, 66); /* 0-9-1 with RabbitMQ's extensions */
	for (i = 0; i < amqp_nmethods; i++) {
		d = &amqp_methods[i];
		ck_assert_uint_eq(d->id, AMQP_METHOD_ID(d->class_id, d->method_id));
		if (i > 0)
			ck_assert_msg(
			    amqp_methods[i - 1].id < d->id, "%s is out of order", d->name);
		ck_assert_ptr_eq(amqp_method_lookup(d->id), d);
		ck_assert_str_eq(amqp_method_str(d->id), d->name);
		ck_assert_uint_eq(amqp_method_class(d->id), d->class_id);
		/* Ids next to a method that are not themselves methods are not found. */
		if (i + 1 == amqp_nmethods || amqp_methods[i + 1].id != d->id + 1)
			ck_assert_ptr_null(amqp_method_lookup(d->id + 1));
		if (i == 0 || amqp_methods[i - 1].id != d->id - 1)
			ck_assert_ptr_null(amqp_method_lookup(d->id - 1));
		ck_assert_msg((d->flags & (AMQP_MF_CLIENT | AMQP_MF_SERVER)) != 0,
		    "%s: nobody may send it", d->name);
		ck_assert_ptr_null(d->fields[d->nfields].name); /* the sentinel */
	}
	ck_assert_ptr_null(amqp_method_lookup(0));
	ck_assert_ptr_null(amqp_method_lookup(0xFFFFFFFFu));
	ck_assert_ptr_null(amqp_method_lookup(AMQP_METHOD_ID(60, 41)));
	ck_assert_str_eq(amqp_method_str(AMQP_METHOD_ID(99, 1)), "unknown");
	ck_assert(!amqp_method_carries_content(AMQP_METHOD_ID(99, 1)));
}
END_TEST

/* Each X-macro entry's wire name is class "." method, with the C names' underscores as dashes. */
START_TEST(test_names_match_def)
{
	char expect[64];
	size_t i;

#define METHOD(cls, mm, wire, cid, mid, fl, fields)                      \
	snprintf(expect, sizeof(expect), "%s.%s", #cls, #mm);            \
	for (i = 0; expect[i] != '\0'; i++)                              \
		if (expect[i] == '_')                                    \
			expect[i] = '-';                                 \
	ck_assert_str_eq(wire, expect);                                  \
	ck_assert_str_eq(amqp_method_str(AMQP_ID_##cls##_##mm), expect); \
	ck_assert_uint_eq(amqp_method_lookup(AMQP_ID_##cls##_##mm)->flags, (unsigned)(fl));
#include "amqp/methods.def"
#undef METHOD
}
END_TEST

START_TEST(test_content_flags)
{
	static const uint32_t content[] = { AMQP_ID_basic_publish, AMQP_ID_basic_return,
		AMQP_ID_basic_deliver, AMQP_ID_basic_get_ok };
	size_t i, j;
	bool want;

	for (i = 0; i < amqp_nmethods; i++) {
		want = false;
		for (j = 0; j < sizeof(content) / sizeof(content[0]); j++)
			want = want || amqp_methods[i].id == content[j];
		ck_assert_msg(amqp_method_carries_content(amqp_methods[i].id) == want, "%s",
		    amqp_methods[i].name);
		ck_assert_uint_eq((amqp_methods[i].flags & AMQP_MF_CONTENT) != 0, want);
	}
	ck_assert_str_eq(amqp_method_str(AMQP_ID_basic_get_ok), "basic.get-ok");
	ck_assert_uint_eq(AMQP_ID_basic_publish, 0x003C0028u);
	ck_assert_uint_eq(AMQP_ID_exchange_unbind_ok, 0x00280033u);
}
END_TEST

/* A method is synchronous exactly when its class has a method named like it plus "-ok". */
START_TEST(test_sync_flags)
{
	char ok[64];
	size_t i, j;
	bool has_ok;

	for (i = 0; i < amqp_nmethods; i++) {
		snprintf(ok, sizeof(ok), "%s-ok", amqp_methods[i].name);
		has_ok = false;
		for (j = 0; j < amqp_nmethods; j++)
			has_ok = has_ok || strcmp(amqp_methods[j].name, ok) == 0;
		ck_assert_msg(((amqp_methods[i].flags & AMQP_MF_SYNC) != 0) == has_ok, "%s",
		    amqp_methods[i].name);
	}
}
END_TEST

/* ---- bit packing, byte by byte ---- */

static void encode_expect(const struct amqp_method *m, const uint8_t *want, size_t len)
{
	uint8_t buf[512];
	char h1[256], h2[256];
	int n = amqp_method_encode(m, buf, sizeof(buf));
	struct amqp_method back;
	uint8_t *exact;

	ck_assert_msg(n == (int)len && memcmp(buf, want, len) == 0, "got %s want %s",
	    hex(buf, n > 0 ? (size_t)n : 0, h1, sizeof(h1)), hex(want, len, h2, sizeof(h2)));
	exact = heap_copy(want, len);
	ck_assert_int_eq(amqp_method_decode(exact, len, &back), 0);
	cmp_method(m, &back);
	free(exact);
}

/* queue.declare: passive, durable, exclusive, auto-delete, nowait are bits 0..4 of one octet. */
START_TEST(test_bits_queue_declare)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare };
	struct amqp_queue_declare *q = &m.u.queue_declare;
	uint8_t want[] = { 0, 50, 0, 10, 0x12, 0x34, 1, 'q', 0, 0, 0, 0, 0 };
	bool *bits[] = { &q->passive, &q->durable, &q->exclusive, &q->auto_delete, &q->nowait };

	q->ticket = 0x1234;
	q->queue = amqp_cstr("q");
	*bits[_i] = true;
	want[8] = (uint8_t)(1u << _i);
	encode_expect(&m, want, sizeof(want));
}
END_TEST

START_TEST(test_bits_queue_declare_all)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare };
	struct amqp_queue_declare *q = &m.u.queue_declare;
	static const uint8_t want[] = { 0, 50, 0, 10, 0, 0, 1, 'q', 0x15, 0, 0, 0, 0 };
	static const uint8_t high[] = { 0, 50, 0, 10, 0, 0, 1, 'q', 0xFF, 0, 0, 0, 0 };
	struct amqp_method back;
	uint8_t *exact;

	q->queue = amqp_cstr("q");
	q->passive = true;
	q->exclusive = true;
	q->nowait = true;
	encode_expect(&m, want, sizeof(want));

	/* Unused high bits of the octet are ignored when decoding (RabbitMQ does the same). */
	exact = heap_copy(high, sizeof(high));
	ck_assert_int_eq(amqp_method_decode(exact, sizeof(high), &back), 0);
	ck_assert(back.u.queue_declare.passive && back.u.queue_declare.durable);
	ck_assert(back.u.queue_declare.exclusive && back.u.queue_declare.auto_delete);
	ck_assert(back.u.queue_declare.nowait);
	free(exact);
}
END_TEST

/* basic.nack: multiple is bit 0 and requeue bit 1 of the octet after the delivery tag. */
START_TEST(test_bits_basic_nack)
{
	struct amqp_method m = { .id = AMQP_ID_basic_nack };
	uint8_t want[] = { 0, 60, 0, 120, 1, 2, 3, 4, 5, 6, 7, 8, 0 };

	m.u.basic_nack.delivery_tag = 0x0102030405060708ull;
	m.u.basic_nack.multiple = (_i & 1) != 0;
	m.u.basic_nack.requeue = (_i & 2) != 0;
	want[12] = (uint8_t)_i;
	encode_expect(&m, want, sizeof(want));
}
END_TEST

/* exchange.declare: five bits share one octet, and the table after them starts a new field. */
START_TEST(test_bits_exchange_declare)
{
	struct amqp_method m = { .id = AMQP_ID_exchange_declare };
	struct amqp_exchange_declare *x = &m.u.exchange_declare;
	static const uint8_t want[] = { 0, 40, 0, 10, 0, 0, 1, 'x', 6, 'd', 'i', 'r', 'e', 'c', 't',
		0x1A, 0, 0, 0, 3, 1, 'k', 'V' };

	x->exchange = amqp_cstr("x");
	x->type = amqp_cstr("direct");
	x->durable = true;
	x->internal = true;
	x->nowait = true;
	x->arguments = AMQP_BYTES("\x01kV"); /* {"k": void} */
	encode_expect(&m, want, sizeof(want));
}
END_TEST

/* access.request: a shortstr, then five bits in one octet. */
START_TEST(test_bits_access_request)
{
	struct amqp_method m = { .id = AMQP_ID_access_request };
	static const uint8_t want[] = { 0, 30, 0, 10, 2, '/', 'd', 0x11 };

	m.u.access_request.realm = amqp_cstr("/d");
	m.u.access_request.exclusive = true;
	m.u.access_request.read = true;
	encode_expect(&m, want, sizeof(want));
}
END_TEST

/* basic.deliver and basic.get-ok: one bit between other fields takes a whole octet. */
START_TEST(test_bits_between_fields)
{
	struct amqp_method m = { .id = AMQP_ID_basic_deliver };
	static const uint8_t deliver[] = { 0, 60, 0, 60, 1, 'c', 0, 0, 0, 0, 0, 0, 0, 9, 1, 1, 'e',
		0 };
	static const uint8_t get_ok[] = { 0, 60, 0, 71, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 2, 'r', 'k',
		0, 0, 0, 5 };

	m.u.basic_deliver.consumer_tag = amqp_cstr("c");
	m.u.basic_deliver.delivery_tag = 9;
	m.u.basic_deliver.redelivered = true;
	m.u.basic_deliver.exchange = amqp_cstr("e");
	encode_expect(&m, deliver, sizeof(deliver));

	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_basic_get_ok;
	m.u.basic_get_ok.delivery_tag = 9;
	m.u.basic_get_ok.routing_key = amqp_cstr("rk");
	m.u.basic_get_ok.message_count = 5;
	encode_expect(&m, get_ok, sizeof(get_ok));
}
END_TEST

/* Methods without fields encode as their four id bytes only. */
START_TEST(test_no_fields)
{
	struct amqp_method m = { .id = AMQP_ID_tx_commit_ok };
	static const uint8_t want[] = { 0, 90, 0, 21 };

	encode_expect(&m, want, sizeof(want));
	m.id = 0x00630001;
	ck_assert_int_eq(amqp_method_encode(&m, (uint8_t[8]){ 0 }, 8), AMQP_E_UNKNOWN_METHOD);
}
END_TEST

/* A shortstr longer than 255 bytes is refused when encoding, in any shortstr field. */
START_TEST(test_encode_overlong_shortstr)
{
	static uint8_t big[300];
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	uint8_t buf[512];

	m.u.basic_publish.routing_key = (struct amqp_bytes){ big, 256 };
	ck_assert_int_eq(amqp_method_encode(&m, buf, sizeof(buf)), AMQP_E_SHORTSTR);
	m.u.basic_publish.routing_key.len = 255;
	ck_assert_int_eq(amqp_method_encode(&m, buf, sizeof(buf)), 4 + 2 + 1 + 1 + 255 + 1);
	/* A longstr field takes 300 bytes. */
	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_connection_secure;
	m.u.connection_secure.challenge = (struct amqp_bytes){ big, 300 };
	ck_assert_int_eq(amqp_method_encode(&m, buf, sizeof(buf)), 4 + 4 + 300);
}
END_TEST

/* The basic.deliver fast path writes the very bytes of the generic encoder, and its errors. */
START_TEST(test_deliver_fast_path)
{
	static uint8_t big[256];
	struct amqp_method m = { .id = AMQP_ID_basic_deliver };
	struct amqp_basic_deliver *d = &m.u.basic_deliver;
	uint8_t want[1200], got[1200];
	size_t cap;
	int n, k;

	memset(big, 'x', sizeof(big));
	d->consumer_tag = amqp_cstr("amq.ctag-1");
	d->delivery_tag = 0x0102030405060708ULL;
	d->exchange = amqp_cstr("");
	d->routing_key = (struct amqp_bytes){ big, 255 };
	for (k = 0; k < 2; k++) {
		d->redelivered = k == 1;
		n = amqp_method_frame_encode(9, &m, want, sizeof(want));
		ck_assert_int_gt(n, 0);
		ck_assert_int_eq(amqp_deliver_frame_encode(9, d, got, sizeof(got)), n);
		ck_assert_mem_eq(got, want, (size_t)n);
		for (cap = 0; cap < (size_t)n; cap += 37)
			ck_assert_int_eq(
			    amqp_deliver_frame_encode(9, d, got, cap), AMQP_E_NO_SPACE);
	}
	d->exchange = (struct amqp_bytes){ big, 256 };
	ck_assert_int_eq(amqp_deliver_frame_encode(9, d, got, sizeof(got)), AMQP_E_SHORTSTR);
}
END_TEST

/* The flags switch agrees with the table for every method, and knows no other id. */
START_TEST(test_flags_switch)
{
	size_t i;

	for (i = 0; i < amqp_nmethods; i++) {
		ck_assert_int_eq(amqp_method_flags(amqp_methods[i].id), amqp_methods[i].flags);
		ck_assert(amqp_method_carries_content(amqp_methods[i].id) ==
		    ((amqp_methods[i].flags & AMQP_MF_CONTENT) != 0));
	}
	ck_assert_int_eq(amqp_method_flags(0x00630001), -1);
	ck_assert(!amqp_method_carries_content(0x003c0063));
}
END_TEST

/* The index is each method's place in the table, for tables indexed by method. */
START_TEST(test_method_index)
{
	size_t i;

	ck_assert_uint_eq(AMQP_NMETHODS, amqp_nmethods);
	for (i = 0; i < amqp_nmethods; i++)
		ck_assert_int_eq(amqp_method_index(amqp_methods[i].id), (int)i);
	ck_assert_int_eq(amqp_method_index(AMQP_ID_basic_publish), AMQP_IDX_basic_publish);
	ck_assert_int_eq(amqp_method_index(0x00630001), -1);
	ck_assert_int_eq(amqp_method_index(0x003c0063), -1);
	ck_assert_int_eq(amqp_method_index(0), -1);
}
END_TEST

static Suite *method_suite(void)
{
	Suite *s = suite_create("method");
	TCase *tc = tcase_create("roundtrip");
	TCase *tt = tcase_create("table");
	TCase *tb = tcase_create("bits");

	tcase_add_loop_test(tc, test_roundtrip_every_method, 0, (int)amqp_nmethods * GEN_VARIANTS);
	tcase_add_loop_test(tc, test_encode_no_space_every_length, 0, (int)amqp_nmethods);
	tcase_add_test(tc, test_encode_overlong_shortstr);
	tcase_add_test(tc, test_deliver_fast_path);
	suite_add_tcase(s, tc);
	tcase_add_test(tt, test_table_sorted_and_lookup);
	tcase_add_test(tt, test_names_match_def);
	tcase_add_test(tt, test_content_flags);
	tcase_add_test(tt, test_sync_flags);
	tcase_add_test(tt, test_flags_switch);
	tcase_add_test(tt, test_method_index);
	suite_add_tcase(s, tt);
	tcase_add_loop_test(tb, test_bits_queue_declare, 0, 5);
	tcase_add_test(tb, test_bits_queue_declare_all);
	tcase_add_loop_test(tb, test_bits_basic_nack, 0, 4);
	tcase_add_test(tb, test_bits_exchange_declare);
	tcase_add_test(tb, test_bits_access_request);
	tcase_add_test(tb, test_bits_between_fields);
	tcase_add_test(tb, test_no_fields);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(method_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
