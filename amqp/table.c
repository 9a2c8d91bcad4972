/*
 * table.c: AMQP field tables and field arrays with RabbitMQ's type letters. One walker serves both
 * validation (no pool) and decoding into a tree (with a pool); each table is parsed inside a slice of
 * exactly its declared length, nesting is bounded by AMQP_TABLE_MAX_DEPTH and the number of entries
 * by AMQP_TABLE_MAX_ENTRIES. Also the pool the trees live in.
 */
#include <stdlib.h>
#include <string.h>

#include "amqp/wire.h"

/* ---- pool ---- */

struct amqp_arena_block {
	struct amqp_arena_block *next;
	size_t size, used;
	max_align_t data[];
};

#define POOL_BLOCK_MIN 4096

void amqp_arena_init(struct amqp_arena *p)
{
	p->head = NULL;
	p->used = 0;
}

void *amqp_arena_alloc(struct amqp_arena *p, size_t size)
{
	struct amqp_arena_block *b = p->head;
	size_t a = _Alignof(max_align_t), bsize;
	void *r;

	if (size > SIZE_MAX / 2) /* keeps the rounding below from overflowing */
		return NULL;
	size = (size + a - 1) / a * a;
	if (b == NULL || size > b->size - b->used) {
		bsize = size > POOL_BLOCK_MIN ? size : POOL_BLOCK_MIN;
		b = malloc(sizeof(*b) + bsize);
		if (b == NULL)
			return NULL;
		b->size = bsize;
		b->used = 0;
		b->next = p->head;
		p->head = b;
	}
	r = (uint8_t *)b->data + b->used;
	b->used += size;
	p->used += size;
	return r;
}

void amqp_arena_reset(struct amqp_arena *p)
{
	struct amqp_arena_block *b, *next;

	for (b = p->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	p->head = NULL;
	p->used = 0;
}

/* ---- decoding ---- */

struct walk {
	struct amqp_arena *pool; /* NULL: validate only */
	bool count;              /* count entries against the limit (the validating walk) */
	uint32_t entries;        /* entries and items seen so far in this tree */
};

static int parse_table(struct walk *w, struct amqp_bytes raw, int depth, struct amqp_table *out);
static int parse_array(struct walk *w, struct amqp_bytes raw, int depth, struct amqp_array *out);

static int count_entry(struct walk *w)
{
	if (!w->count)
		return 0;
	if (w->entries >= AMQP_TABLE_MAX_ENTRIES) /* bounds the memory a decode can take */
		return AMQP_E_TABLE_SIZE;
	w->entries++;
	return 0;
}

/* Read one value of type `type` at c into v (v may be a scratch value when validating). */
static int parse_value(
    struct walk *w, struct cursor *c, uint8_t type, int depth, struct amqp_field_value *v)
{
	struct amqp_bytes raw;
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	int r = 0;

	v->type = type;
	switch (type) {
	case AMQP_FIELD_BOOL:
		r = get_u8(c, &u8);
		v->v.b = u8 != 0;
		break;
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8:
		r = get_u8(c, &u8);
		v->v.u8 = u8;
		break;
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16:
		r = get_u16(c, &u16);
		v->v.u16 = u16;
		break;
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
		r = get_u32(c, &u32);
		v->v.u32 = u32;
		break;
	case AMQP_FIELD_FLOAT:
		r = get_u32(c, &u32);
		memcpy(&v->v.f, &u32, sizeof(float));
		break;
	case AMQP_FIELD_I64:
	case AMQP_FIELD_TIMESTAMP:
		r = get_u64(c, &u64);
		v->v.u64 = u64;
		break;
	case AMQP_FIELD_DOUBLE:
		r = get_u64(c, &u64);
		memcpy(&v->v.d, &u64, sizeof(double));
		break;
	case AMQP_FIELD_DECIMAL:
		if ((r = get_u8(c, &u8)) == 0)
			r = get_u32(c, &u32);
		v->v.dec.scale = u8;
		v->v.dec.value = u32;
		break;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES: r = get_longstr(c, &v->v.bytes); break;
	case AMQP_FIELD_VOID: break;
	case AMQP_FIELD_TABLE:
	case AMQP_FIELD_ARRAY:
		if (depth + 1 > AMQP_TABLE_MAX_DEPTH) /* recursion must stay bounded */
			return AMQP_E_TABLE_DEPTH;
		if ((r = get_longstr(c, &raw)) != 0)
			return r;
		if (type == AMQP_FIELD_TABLE)
			return parse_table(w, raw, depth + 1, &v->v.table);
		return parse_array(w, raw, depth + 1, &v->v.array);
	default: return AMQP_E_FIELD_TYPE;
	}
	return r;
}

/* Parse the entries of a table held in exactly raw. */
static int parse_table(struct walk *w, struct amqp_bytes raw, int depth, struct amqp_table *out)
{
	struct cursor c = cursor_make(raw.ptr, raw.len);
	struct amqp_table_entry scratch, *e;
	struct walk skip = { NULL, false, 0 };
	struct walk *first = w->pool == NULL ? w : &skip;
	uint32_t n = 0, cap = 0;
	uint8_t type;
	int r;

	out->n = 0;
	out->entries = NULL;
	/* First pass: check (validating) or count (filling), so the tree gets one exact array. */
	while (cursor_left(&c) > 0) {
		if ((r = count_entry(first)) != 0)
			return r;
		if ((r = get_shortstr(&c, &scratch.key)) != 0 || (r = get_u8(&c, &type)) != 0)
			return r;
		if ((r = parse_value(first, &c, type, depth, &scratch.value)) != 0)
			return r;
		cap++;
	}
	if (w->pool == NULL || cap == 0)
		return 0;
	/* Second pass: fill. Nested values are walked again with the pool; the count is kept. */
	if ((out->entries = amqp_arena_alloc(w->pool, (size_t)cap * sizeof(*e))) == NULL)
		return AMQP_E_NOMEM;
	c = cursor_make(raw.ptr, raw.len);
	while (cursor_left(&c) > 0 && n < cap) {
		e = &out->entries[n++];
		get_shortstr(&c, &e->key);
		get_u8(&c, &type);
		if ((r = parse_value(w, &c, type, depth, &e->value)) != 0)
			return r;
	}
	out->n = n;
	return 0;
}

static int parse_array(struct walk *w, struct amqp_bytes raw, int depth, struct amqp_array *out)
{
	struct cursor c = cursor_make(raw.ptr, raw.len);
	struct amqp_field_value scratch;
	struct walk skip = { NULL, false, 0 };
	struct walk *first = w->pool == NULL ? w : &skip;
	uint32_t n = 0, cap = 0;
	uint8_t type;
	int r;

	out->n = 0;
	out->values = NULL;
	while (cursor_left(&c) > 0) {
		if ((r = count_entry(first)) != 0)
			return r;
		if ((r = get_u8(&c, &type)) != 0)
			return r;
		if ((r = parse_value(first, &c, type, depth, &scratch)) != 0)
			return r;
		cap++;
	}
	if (w->pool == NULL || cap == 0)
		return 0;
	if ((out->values = amqp_arena_alloc(w->pool, (size_t)cap * sizeof(*out->values))) == NULL)
		return AMQP_E_NOMEM;
	c = cursor_make(raw.ptr, raw.len);
	while (cursor_left(&c) > 0 && n < cap) {
		get_u8(&c, &type);
		if ((r = parse_value(w, &c, type, depth, &out->values[n++])) != 0)
			return r;
	}
	out->n = n;
	return 0;
}

int amqp_table_validate(struct amqp_bytes raw)
{
	struct walk w = { NULL, true, 0 };
	struct amqp_table t;

	return parse_table(&w, raw, 1, &t);
}

int amqp_table_decode(struct amqp_bytes raw, struct amqp_arena *pool, struct amqp_table *out)
{
	struct walk w = { pool, false, 0 };
	int r;

	/* Validate the whole tree first: the fill pass then cannot fail but for memory. */
	if ((r = amqp_table_validate(raw)) != 0)
		return r;
	return parse_table(&w, raw, 1, out);
}

/* ---- encoding ---- */

static void put_table(struct writer *w, const struct amqp_table *t, int depth);

static void put_value(struct writer *w, const struct amqp_field_value *v, int depth)
{
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	uint32_t i;
	size_t at;

	put_u8(w, v->type);
	switch (v->type) {
	case AMQP_FIELD_BOOL: put_u8(w, v->v.b ? 1 : 0); break;
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8: put_u8(w, v->v.u8); break;
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16: put_u16(w, v->v.u16); break;
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32: put_u32(w, v->v.u32); break;
	case AMQP_FIELD_FLOAT:
		memcpy(&u32, &v->v.f, sizeof(u32));
		put_u32(w, u32);
		break;
	case AMQP_FIELD_I64:
	case AMQP_FIELD_TIMESTAMP: put_u64(w, v->v.u64); break;
	case AMQP_FIELD_DOUBLE:
		memcpy(&u64, &v->v.d, sizeof(u64));
		put_u64(w, u64);
		break;
	case AMQP_FIELD_DECIMAL:
		put_u8(w, v->v.dec.scale);
		put_u32(w, v->v.dec.value);
		break;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES: put_longstr(w, v->v.bytes); break;
	case AMQP_FIELD_VOID: break;
	case AMQP_FIELD_TABLE:
		if (depth + 1 > AMQP_TABLE_MAX_DEPTH)
			w->err = w->err ? w->err : AMQP_E_TABLE_DEPTH;
		else
			put_table(w, &v->v.table, depth + 1);
		break;
	case AMQP_FIELD_ARRAY:
		if (depth + 1 > AMQP_TABLE_MAX_DEPTH) {
			w->err = w->err ? w->err : AMQP_E_TABLE_DEPTH;
			break;
		}
		at = w->off;
		put_u32(w, 0);
		for (i = 0; i < v->v.array.n; i++)
			put_value(w, &v->v.array.values[i], depth + 1);
		if (w->err == 0)
			amqp_store_u32(w->p + at, (uint32_t)(w->off - at - 4));
		break;
	default: w->err = w->err ? w->err : AMQP_E_FIELD_TYPE;
	}
}

static void put_table(struct writer *w, const struct amqp_table *t, int depth)
{
	size_t at = w->off;
	uint32_t i;

	put_u32(w, 0);
	for (i = 0; i < t->n; i++) {
		put_shortstr(w, t->entries[i].key);
		put_value(w, &t->entries[i].value, depth);
	}
	if (w->err == 0) {
		if (w->off - at - 4 > UINT32_MAX)
			w->err = AMQP_E_INVALID;
		else
			amqp_store_u32(w->p + at, (uint32_t)(w->off - at - 4));
	}
}

int amqp_table_encode(const struct amqp_table *t, uint8_t *buf, size_t cap)
{
	struct writer w = writer_make(buf, cap);

	put_table(&w, t, 1);
	if (w.err != 0)
		return w.err;
	return w.off > INT32_MAX ? AMQP_E_INVALID : (int)w.off;
}

static long value_size(const struct amqp_field_value *v, int depth);

static long table_size(const struct amqp_table *t, int depth)
{
	long n = 4, s;
	uint32_t i;

	for (i = 0; i < t->n; i++) {
		if (t->entries[i].key.len > 255)
			return AMQP_E_SHORTSTR;
		if ((s = value_size(&t->entries[i].value, depth)) < 0)
			return s;
		n += 1 + (long)t->entries[i].key.len + s;
	}
	return n;
}

static long value_size(const struct amqp_field_value *v, int depth)
{
	long n = 1, s;
	uint32_t i;

	switch (v->type) {
	case AMQP_FIELD_BOOL:
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8: return n + 1;
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16: return n + 2;
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32:
	case AMQP_FIELD_FLOAT: return n + 4;
	case AMQP_FIELD_I64:
	case AMQP_FIELD_TIMESTAMP:
	case AMQP_FIELD_DOUBLE: return n + 8;
	case AMQP_FIELD_DECIMAL: return n + 5;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES: return n + 4 + (long)v->v.bytes.len;
	case AMQP_FIELD_VOID: return n;
	case AMQP_FIELD_TABLE:
		if (depth + 1 > AMQP_TABLE_MAX_DEPTH)
			return AMQP_E_TABLE_DEPTH;
		s = table_size(&v->v.table, depth + 1);
		return s < 0 ? s : n + s;
	case AMQP_FIELD_ARRAY:
		if (depth + 1 > AMQP_TABLE_MAX_DEPTH)
			return AMQP_E_TABLE_DEPTH;
		n += 4;
		for (i = 0; i < v->v.array.n; i++) {
			if ((s = value_size(&v->v.array.values[i], depth + 1)) < 0)
				return s;
			n += s;
		}
		return n;
	default: return AMQP_E_FIELD_TYPE;
	}
}

long amqp_table_encoded_size(const struct amqp_table *t)
{
	return table_size(t, 1);
}

/* ---- lookup and comparison ---- */

int amqp_table_find_raw(struct amqp_bytes raw, const char *key, struct amqp_bytes *value)
{
	struct cursor c = cursor_make(raw.ptr, raw.len);
	struct amqp_bytes k, s;
	const uint8_t *skip;
	size_t at, n;
	uint8_t type;

	while (cursor_left(&c) > 0) {
		if (get_shortstr(&c, &k) != 0 || get_u8(&c, &type) != 0)
			return -1;
		at = c.off - 1; /* the type letter */
		switch (type) {
		case AMQP_FIELD_BOOL:
		case AMQP_FIELD_I8:
		case AMQP_FIELD_U8: n = 1; break;
		case AMQP_FIELD_I16:
		case AMQP_FIELD_U16: n = 2; break;
		case AMQP_FIELD_I32:
		case AMQP_FIELD_U32:
		case AMQP_FIELD_FLOAT: n = 4; break;
		case AMQP_FIELD_DECIMAL: n = 5; break;
		case AMQP_FIELD_I64:
		case AMQP_FIELD_DOUBLE:
		case AMQP_FIELD_TIMESTAMP: n = 8; break;
		case AMQP_FIELD_VOID: n = 0; break;
		case AMQP_FIELD_LONGSTR:
		case AMQP_FIELD_BYTES:
		case AMQP_FIELD_TABLE:
		case AMQP_FIELD_ARRAY: n = SIZE_MAX; break; /* a 4-byte length and the bytes */
		default: return -1;
		}
		if (n == SIZE_MAX ? get_longstr(&c, &s) != 0 : get_bytes(&c, n, &skip) != 0)
			return -1; /* runs past the end of the table */
		if (amqp_bytes_eq_cstr(k, key)) {
			*value = (struct amqp_bytes){ raw.ptr + at, c.off - at };
			return 0;
		}
	}
	return -1;
}

const struct amqp_field_value *amqp_table_get(const struct amqp_table *t, const char *key)
{
	uint32_t i;

	for (i = 0; i < t->n; i++)
		if (amqp_bytes_eq_cstr(t->entries[i].key, key))
			return &t->entries[i].value;
	return NULL;
}

bool amqp_field_value_eq(const struct amqp_field_value *a, const struct amqp_field_value *b)
{
	uint32_t i;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case AMQP_FIELD_BOOL: return a->v.b == b->v.b;
	case AMQP_FIELD_I8:
	case AMQP_FIELD_U8: return a->v.u8 == b->v.u8;
	case AMQP_FIELD_I16:
	case AMQP_FIELD_U16: return a->v.u16 == b->v.u16;
	case AMQP_FIELD_I32:
	case AMQP_FIELD_U32: return a->v.u32 == b->v.u32;
	case AMQP_FIELD_FLOAT: return memcmp(&a->v.f, &b->v.f, sizeof(float)) == 0;
	case AMQP_FIELD_I64:
	case AMQP_FIELD_TIMESTAMP: return a->v.u64 == b->v.u64;
	case AMQP_FIELD_DOUBLE: return memcmp(&a->v.d, &b->v.d, sizeof(double)) == 0;
	case AMQP_FIELD_DECIMAL:
		return a->v.dec.scale == b->v.dec.scale && a->v.dec.value == b->v.dec.value;
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES: return amqp_bytes_eq(a->v.bytes, b->v.bytes);
	case AMQP_FIELD_VOID: return true;
	case AMQP_FIELD_TABLE: return amqp_table_eq(&a->v.table, &b->v.table);
	case AMQP_FIELD_ARRAY:
		if (a->v.array.n != b->v.array.n)
			return false;
		for (i = 0; i < a->v.array.n; i++)
			if (!amqp_field_value_eq(&a->v.array.values[i], &b->v.array.values[i]))
				return false;
		return true;
	default: return false;
	}
}

bool amqp_table_eq(const struct amqp_table *a, const struct amqp_table *b)
{
	uint32_t i, j, nth;

	/*
	 * Order-insensitive, as RabbitMQ stably sorts arguments by key before comparing them: the
	 * nth entry with a given key in a must equal the nth entry with that key in b. (Matching
	 * each entry with the first of its key instead made {k:1, k:2} unequal to itself.)
	 */
	if (a->n != b->n)
		return false;
	/* Fast path, linear: the same keys in the same order (a table against itself or a copy). */
	for (i = 0; i < a->n; i++)
		if (!amqp_bytes_eq(a->entries[i].key, b->entries[i].key) ||
		    !amqp_field_value_eq(&a->entries[i].value, &b->entries[i].value))
			break;
	if (i == a->n)
		return true;
	for (i = 0; i < a->n; i++) {
		for (j = 0, nth = 0; j < i; j++)
			if (amqp_bytes_eq(a->entries[j].key, a->entries[i].key))
				nth++;
		for (j = 0; j < b->n; j++)
			if (amqp_bytes_eq(a->entries[i].key, b->entries[j].key) && nth-- == 0)
				break;
		if (j == b->n || !amqp_field_value_eq(&a->entries[i].value, &b->entries[j].value))
			return false;
	}
	return true;
}
