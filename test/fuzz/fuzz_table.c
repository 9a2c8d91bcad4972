/*
 * fuzz_table.c: libFuzzer target for field tables. The input is a table's entries (the bytes inside
 * its 4-byte length). amqp_table_validate and amqp_table_decode must agree; a decoded tree must
 * re-encode to exactly the input (tables are canonical but for bools, whose nonzero octets all
 * decode to true and re-encode as 1), decode again to an equal tree, and re-encode identically.
 * amqp_table_eq must ignore the order of keys, but not the order among duplicate keys.
 */
#include <stdbool.h>

#include "test/fuzz/fuzz.h"

static void canon_entries(uint8_t *p, size_t len, bool keys);

/* Canonicalise the value of type `type` at p[*off] (bools to 0 or 1) and step over it. */
static void canon_value(uint8_t *p, size_t len, size_t *off, uint8_t type)
{
	size_t n, inner;

	FUZZ_CHECK(*off <= len);
	switch (type) {
	case 't':
		FUZZ_CHECK(1 <= len - *off);
		p[*off] = p[*off] != 0;
		n = 1;
		break;
	case 'b':
	case 'B': n = 1; break;
	case 's':
	case 'u': n = 2; break;
	case 'I':
	case 'i':
	case 'f': n = 4; break;
	case 'l':
	case 'd':
	case 'T': n = 8; break;
	case 'D': n = 5; break;
	case 'V': n = 0; break;
	case 'S':
	case 'x':
	case 'F':
	case 'A':
		FUZZ_CHECK(4 <= len - *off);
		inner = amqp_load_u32(p + *off);
		FUZZ_CHECK(inner <= len - *off - 4);
		if (type == 'F' || type == 'A')
			canon_entries(p + *off + 4, inner, type == 'F');
		n = 4 + inner;
		break;
	default: FUZZ_CHECK(!"a type letter the codec accepted");
	}
	FUZZ_CHECK(n <= len - *off);
	*off += n;
}

/* Canonicalise a well-formed table's entries (keys) or an array's values (no keys) in place. */
static void canon_entries(uint8_t *p, size_t len, bool keys)
{
	size_t off = 0;
	uint8_t type;

	while (off < len) {
		if (keys) {
			FUZZ_CHECK((size_t)p[off] + 1 <= len - off);
			off += 1 + (size_t)p[off];
		}
		FUZZ_CHECK(off < len);
		type = p[off++];
		canon_value(p, len, &off, type);
	}
	FUZZ_CHECK(off == len);
}

static bool inside(struct amqp_bytes b, const uint8_t *data, size_t size)
{
	if (b.len == 0)
		return true;
	return b.ptr >= data && b.ptr <= data + size && b.len <= (size_t)(data + size - b.ptr);
}

static void check_tree_value(
    const struct amqp_field_value *v, const uint8_t *data, size_t size, int depth, size_t *nodes);

/* Every slice of the tree points into the input, and the tree stays within the limits. */
static void check_tree(
    const struct amqp_table *t, const uint8_t *data, size_t size, int depth, size_t *nodes)
{
	uint32_t i;

	FUZZ_CHECK(depth <= AMQP_TABLE_MAX_DEPTH);
	FUZZ_CHECK(t->n == 0 || t->entries != NULL);
	for (i = 0; i < t->n; i++) {
		FUZZ_CHECK(inside(t->entries[i].key, data, size));
		++*nodes;
		check_tree_value(&t->entries[i].value, data, size, depth, nodes);
	}
}

static void check_tree_value(
    const struct amqp_field_value *v, const uint8_t *data, size_t size, int depth, size_t *nodes)
{
	uint32_t i;

	switch (v->type) {
	case AMQP_FIELD_LONGSTR:
	case AMQP_FIELD_BYTES: FUZZ_CHECK(inside(v->v.bytes, data, size)); break;
	case AMQP_FIELD_TABLE: check_tree(&v->v.table, data, size, depth + 1, nodes); break;
	case AMQP_FIELD_ARRAY:
		FUZZ_CHECK(depth + 1 <= AMQP_TABLE_MAX_DEPTH);
		FUZZ_CHECK(v->v.array.n == 0 || v->v.array.values != NULL);
		for (i = 0; i < v->v.array.n; i++) {
			++*nodes;
			check_tree_value(&v->v.array.values[i], data, size, depth + 1, nodes);
		}
		break;
	default: break;
	}
}

/*
 * amqp_table_get finds the first of duplicate keys (for the first few keys without a NUL), and
 * amqp_table_find_raw the same entry's value in the encoded bytes, its type letter first.
 */
static void check_get(const struct amqp_table *t, struct amqp_bytes raw)
{
	struct amqp_bytes v;
	char k[256];
	uint32_t i, j;

	for (i = 0; i < t->n && i < 16; i++) {
		if (memchr(t->entries[i].key.ptr, 0, t->entries[i].key.len) != NULL)
			continue;
		if (t->entries[i].key.len != 0)
			memcpy(k, t->entries[i].key.ptr, t->entries[i].key.len);
		k[t->entries[i].key.len] = '\0';
		for (j = 0; !amqp_bytes_eq(t->entries[j].key, t->entries[i].key); j++)
			;
		FUZZ_CHECK(amqp_table_get(t, k) == &t->entries[j].value);
		FUZZ_CHECK(amqp_table_find_raw(raw, k, &v) == 0);
		FUZZ_CHECK(v.len >= 1 && inside(v, raw.ptr, raw.len));
		FUZZ_CHECK(v.ptr[0] == t->entries[j].value.type);
		FUZZ_CHECK(v.ptr == t->entries[j].key.ptr + t->entries[j].key.len);
	}
}

static int key_cmp(struct amqp_bytes a, struct amqp_bytes b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n != 0 ? memcmp(a.ptr, b.ptr, n) : 0;

	return c != 0 ? c : (a.len > b.len) - (a.len < b.len);
}

/*
 * Order does not matter, but the order of duplicate keys does (RabbitMQ sorts arguments stably
 * before comparing): a stably sorted copy of a small table compares equal to it, both ways.
 */
static void check_sorted_eq(const struct amqp_table *t, struct amqp_arena *pool)
{
	struct amqp_table s = { t->n, NULL };
	struct amqp_table_entry e;
	uint32_t i, j;

	if (t->n < 2 || t->n > 256) /* insertion sort and amqp_table_eq are quadratic */
		return;
	s.entries = amqp_arena_alloc(pool, t->n * sizeof(*s.entries));
	FUZZ_CHECK(s.entries != NULL);
	memcpy(s.entries, t->entries, t->n * sizeof(*s.entries));
	for (i = 1; i < s.n; i++) {
		e = s.entries[i];
		for (j = i; j > 0 && key_cmp(s.entries[j - 1].key, e.key) > 0; j--)
			s.entries[j] = s.entries[j - 1];
		s.entries[j] = e;
	}
	FUZZ_CHECK(amqp_table_eq(t, &s));
	FUZZ_CHECK(amqp_table_eq(&s, t));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct amqp_bytes raw = { data, size };
	struct amqp_arena pool;
	struct amqp_table t1, t2;
	uint8_t *canon = NULL, *enc = NULL, *enc2 = NULL, *small = NULL;
	size_t nodes = 0;
	long need;
	int rv, rd, n;

	amqp_arena_init(&pool);
	rv = amqp_table_validate(raw);
	rd = amqp_table_decode(raw, &pool, &t1);
	FUZZ_CHECK(rv == rd);
	if (rv != 0) {
		FUZZ_CHECK(rv == AMQP_E_TRUNCATED || rv == AMQP_E_FIELD_TYPE ||
		    rv == AMQP_E_TABLE_DEPTH || rv == AMQP_E_TABLE_SIZE);
		FUZZ_CHECK(amqp_err_reply_code(rv) == AMQP_FRAME_ERROR ||
		    amqp_err_reply_code(rv) == AMQP_SYNTAX_ERROR);
		{ /* a raw lookup in malformed bytes reads none past them */
			struct amqp_bytes v;
			if (amqp_table_find_raw(raw, "a", &v) == 0)
				FUZZ_CHECK(v.len >= 1 && inside(v, data, size));
		}
		goto out;
	}
	check_tree(&t1, data, size, 1, &nodes);
	FUZZ_CHECK(nodes <= AMQP_TABLE_MAX_ENTRIES);
	check_get(&t1, raw);
	FUZZ_CHECK(amqp_table_eq(&t1, &t1));
	check_sorted_eq(&t1, &pool);

	/* Re-encoding gives the input back, with bools made canonical. */
	need = amqp_table_encoded_size(&t1);
	FUZZ_CHECK(need >= 4 && (size_t)need == size + 4);
	enc = fuzz_alloc((size_t)need);
	n = amqp_table_encode(&t1, enc, (size_t)need);
	FUZZ_CHECK(n == need);
	FUZZ_CHECK(amqp_load_u32(enc) == size);
	canon = fuzz_dup(data, size);
	canon_entries(canon, size, true);
	FUZZ_CHECK(size == 0 || memcmp(enc + 4, canon, size) == 0);

	/* One byte short: the encoder must refuse without writing past its buffer. */
	small = fuzz_alloc((size_t)need - 1);
	FUZZ_CHECK(amqp_table_encode(&t1, small, (size_t)need - 1) == AMQP_E_NO_SPACE);

	/* The canonical encoding decodes to an equal tree and re-encodes to itself. */
	raw.ptr = enc + 4;
	FUZZ_CHECK(amqp_table_decode(raw, &pool, &t2) == 0);
	FUZZ_CHECK(amqp_table_eq(&t1, &t2));
	FUZZ_CHECK(amqp_table_eq(&t2, &t1));
	FUZZ_CHECK(amqp_table_encoded_size(&t2) == need);
	enc2 = fuzz_alloc((size_t)need);
	FUZZ_CHECK(amqp_table_encode(&t2, enc2, (size_t)need) == need);
	FUZZ_CHECK(memcmp(enc, enc2, (size_t)need) == 0);
out:
	free(canon);
	free(enc);
	free(enc2);
	free(small);
	amqp_arena_reset(&pool);
	return 0;
}
