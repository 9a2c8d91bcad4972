/*
 * check_routing.c: unit tests for the topic trie and headers matching, against RabbitMQ's rules:
 * words split on '.', empty words count ("" is no words), '*' is exactly one word, '#' zero or more;
 * and for the consistent-hash exchange's weights and ring.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

struct hits {
	void *dests[64];
	int n;
};

static void collect(void *dest, void *arg)
{
	struct hits *h = arg;

	if (h->n < 64)
		h->dests[h->n++] = dest;
}

/* Does pattern match key? Checked with a fresh trie holding that one pattern. */
static bool topic_matches(const char *pattern, const char *key)
{
	struct topic_trie *t = topic_trie_new();
	struct hits h = { .n = 0 };
	int dest;

	topic_trie_add(t, amqp_cstr(pattern), &dest);
	topic_trie_match(t, amqp_cstr(key), collect, &h);
	topic_trie_free(t);
	return h.n > 0;
}

static const struct {
	const char *pattern, *key;
	bool match;
} topic_cases[] = {
	{ "a.b.c", "a.b.c", true },
	{ "a.b.c", "a.b", false },
	{ "a.b.c", "a.b.c.d", false },
	{ "*.b.c", "x.b.c", true },
	{ "*.b.c", "b.c", false },
	{ "*.b.c", "x.y.b.c", false },
	{ "a.#", "a", true },
	{ "a.#", "a.b", true },
	{ "a.#", "a.b.c", true },
	{ "a.#", "b.a", false },
	{ "#", "", true },
	{ "#", "anything.at.all", true },
	{ "#.c", "c", true },
	{ "#.c", "a.b.c", true },
	{ "#.c", "a.b.c.d", false },
	{ "a.#.c", "a.c", true },
	{ "a.#.c", "a.b.c", true },
	{ "a.#.c", "a.b.b.c", true },
	{ "a.#.c", "a.b", false },
	{ "a.*.#", "a.b", true },
	{ "a.*.#", "a.b.c.d", true },
	{ "a.*.#", "a", false },
	{ "#.#", "", true },
	{ "#.#", "a.b", true },
	{ "a..b", "a..b", true },
	{ "a.*.b", "a..b", true },
	{ "a.b", "a..b", false },
	{ "", "", true },
	{ "", "a", false },
	{ "*", "a", true },
	{ "*", "", false }, /* "" is zero words */
	{ "#", "a", true },
	{ "*", "a.b", false },
	{ "*.*", "a.", true },
	{ "#.*", "", false },
	{ "#.*", "a.b.c", true },
	{ "*.#.*", "a", false },
	{ "*.#.*", "a.b", true },
	{ "stock.#.nyse", "stock.usd.eur.nyse", true },
	{ "stock.#.nyse", "stock.nyse", true },
	{ "#.b.#", "b", true },
	{ "#.b.#", "a.b.c", true },
	{ "#.b.#", "a.c", false },
};

START_TEST(test_topic_rules)
{
	ck_assert_msg(
	    topic_matches(topic_cases[_i].pattern, topic_cases[_i].key) == topic_cases[_i].match,
	    "pattern '%s' key '%s': expected %s", topic_cases[_i].pattern, topic_cases[_i].key,
	    topic_cases[_i].match ? "match" : "no match");
}
END_TEST

START_TEST(test_topic_remove_prunes)
{
	struct topic_trie *t = topic_trie_new();
	struct hits h = { .n = 0 };
	int d1, d2;
	struct topic_binding *b1 = topic_trie_add(t, amqp_cstr("a.*.c"), &d1);
	struct topic_binding *b2 = topic_trie_add(t, amqp_cstr("a.#"), &d2);

	topic_trie_match(t, amqp_cstr("a.b.c"), collect, &h);
	ck_assert_int_eq(h.n, 2);
	topic_trie_remove(t, b1);
	h.n = 0;
	topic_trie_match(t, amqp_cstr("a.b.c"), collect, &h);
	ck_assert_int_eq(h.n, 1);
	ck_assert_ptr_eq(h.dests[0], &d2);
	topic_trie_remove(t, b2);
	h.n = 0;
	topic_trie_match(t, amqp_cstr("a.b.c"), collect, &h);
	ck_assert_int_eq(h.n, 0);
	topic_trie_free(t);
}
END_TEST

START_TEST(test_topic_same_pattern_twice)
{
	struct topic_trie *t = topic_trie_new();
	struct hits h = { .n = 0 };
	int d1, d2;

	topic_trie_add(t, amqp_cstr("x.y"), &d1);
	topic_trie_add(t, amqp_cstr("x.y"), &d2);
	topic_trie_match(t, amqp_cstr("x.y"), collect, &h);
	ck_assert_int_eq(h.n, 2);
	topic_trie_free(t);
}
END_TEST

/*
 * Words are byte strings: a NUL inside one is a byte like any other (found by fuzz_conn: the word
 * was copied up to its NUL and hashed at its full length, past the copy's end).
 */
START_TEST(test_topic_word_with_nul)
{
	struct topic_trie *t = topic_trie_new();
	struct hits h = { .n = 0 };
	int d;

	topic_trie_add(t, AMQP_BYTES("or\0ders.#"), &d);
	topic_trie_match(t, AMQP_BYTES("or\0ders.eu"), collect, &h);
	ck_assert_int_eq(h.n, 1);
	topic_trie_match(t, AMQP_BYTES("or.eu"), collect, &h);
	topic_trie_match(t, AMQP_BYTES("or\0dxrs.eu"), collect, &h);
	ck_assert_int_eq(h.n, 1);
	topic_trie_free(t);
}
END_TEST

/* With 10,000 bindings of distinct literal keys, a key reaches only the few that can match. */
START_TEST(test_topic_cost_independent_of_bindings)
{
	struct topic_trie *t = topic_trie_new();
	struct hits h = { .n = 0 };
	static int dests[10000];
	char pat[64];
	int i;

	for (i = 0; i < 10000; i++) {
		snprintf(pat, sizeof(pat), "orders.region%d.created", i);
		topic_trie_add(t, amqp_cstr(pat), &dests[i]);
	}
	topic_trie_add(t, amqp_cstr("orders.*.created"), &dests[0]);
	topic_trie_match(t, amqp_cstr("orders.region4242.created"), collect, &h);
	ck_assert_int_eq(h.n, 2);
	topic_trie_free(t);
}
END_TEST

/* ---- headers ---- */

static struct amqp_field_value s(const char *v)
{
	struct amqp_field_value f = { .type = AMQP_FIELD_LONGSTR };

	f.v.bytes = amqp_cstr(v);
	return f;
}

static struct amqp_field_value i32(int32_t v)
{
	struct amqp_field_value f = { .type = AMQP_FIELD_I32 };

	f.v.i32 = v;
	return f;
}

static struct amqp_field_value i64(int64_t v)
{
	struct amqp_field_value f = { .type = AMQP_FIELD_I64 };

	f.v.i64 = v;
	return f;
}

static struct amqp_field_value vd(void)
{
	return (struct amqp_field_value){ .type = AMQP_FIELD_VOID };
}

#define TABLE(...)                                                                                \
	((struct amqp_table){                                                                     \
	    sizeof((struct amqp_table_entry[]){ __VA_ARGS__ }) / sizeof(struct amqp_table_entry), \
	    (struct amqp_table_entry[]){ __VA_ARGS__ } })
#define E(k, v)                 \
	{                       \
		amqp_cstr(k), v \
	}

START_TEST(test_headers_all)
{
	struct amqp_table b =
	    TABLE(E("x-match", s("all")), E("format", s("pdf")), E("type", s("report")));

	ck_assert(headers_match(&b, &TABLE(E("format", s("pdf")), E("type", s("report")))));
	ck_assert(headers_match(
	    &b, &TABLE(E("type", s("report")), E("format", s("pdf")), E("extra", s("1")))));
	ck_assert(!headers_match(&b, &TABLE(E("format", s("pdf")))));
	ck_assert(!headers_match(&b, &TABLE(E("format", s("pdf")), E("type", s("log")))));
}
END_TEST

START_TEST(test_headers_default_is_all)
{
	struct amqp_table b = TABLE(E("format", s("pdf")), E("type", s("report")));

	ck_assert(!headers_match(&b, &TABLE(E("format", s("pdf")))));
	ck_assert(headers_match(&b, &TABLE(E("format", s("pdf")), E("type", s("report")))));
}
END_TEST

START_TEST(test_headers_any)
{
	struct amqp_table b =
	    TABLE(E("x-match", s("any")), E("format", s("pdf")), E("type", s("report")));

	ck_assert(headers_match(&b, &TABLE(E("format", s("pdf")))));
	ck_assert(headers_match(&b, &TABLE(E("type", s("report")))));
	ck_assert(!headers_match(&b, &TABLE(E("format", s("zip")))));
	ck_assert(!headers_match(&b, &TABLE(E("other", s("pdf")))));
}
END_TEST

START_TEST(test_headers_x_keys)
{
	struct amqp_table all = TABLE(E("x-match", s("all")), E("x-tenant", s("t1")));
	struct amqp_table allx = TABLE(E("x-match", s("all-with-x")), E("x-tenant", s("t1")));
	struct amqp_table anyx =
	    TABLE(E("x-match", s("any-with-x")), E("x-tenant", s("t1")), E("k", s("v")));

	/* Plain all skips x- keys: an x- key alone binds like an empty binding (matches all). */
	ck_assert(headers_match(&all, &TABLE(E("x-tenant", s("other")))));
	ck_assert(headers_match(&allx, &TABLE(E("x-tenant", s("t1")))));
	ck_assert(!headers_match(&allx, &TABLE(E("x-tenant", s("t2")))));
	ck_assert(headers_match(&anyx, &TABLE(E("x-tenant", s("t1")))));
	ck_assert(!headers_match(&anyx, &TABLE(E("x-tenant", s("t2")))));
}
END_TEST

START_TEST(test_headers_void_and_numbers)
{
	struct amqp_table presence = TABLE(E("flag", vd()));
	struct amqp_table num = TABLE(E("n", i32(42)));
	struct amqp_table empty_any = TABLE(E("x-match", s("any")));

	ck_assert(headers_match(&presence, &TABLE(E("flag", s("anything")))));
	ck_assert(!headers_match(&presence, &TABLE(E("other", s("x")))));
	/* Integers compare by value across integer types. */
	ck_assert(headers_match(&num, &TABLE(E("n", i64(42)))));
	ck_assert(!headers_match(&num, &TABLE(E("n", i64(43)))));
	ck_assert(!headers_match(&num, &TABLE(E("n", s("42")))));
	/* any with nothing to compare matches nothing; all with nothing matches everything. */
	ck_assert(!headers_match(&empty_any, &TABLE(E("a", s("b")))));
	ck_assert(headers_match(&(struct amqp_table){ 0, NULL }, &TABLE(E("a", s("b")))));
}
END_TEST

/* ---- the consistent-hash exchange ---- */

START_TEST(test_hash_weights)
{
	static const struct {
		const char *key;
		int r;
		uint32_t w;
	} cases[] = {
		{ "1", 0, 1 },
		{ "+3", 0, 3 },
		{ "007", 0, 7 },
		{ "2147483647", 0, 2147483647u },
		{ "2147483648", HASH_WEIGHT_TOO_LARGE, 0 },
		{ "99999999999999999999999999", HASH_WEIGHT_TOO_LARGE, 0 },
		{ "0", HASH_WEIGHT_NOT_POSITIVE, 0 },
		{ "-0", HASH_WEIGHT_NOT_POSITIVE, 0 },
		{ "000", HASH_WEIGHT_NOT_POSITIVE, 0 },
		{ "-5", HASH_WEIGHT_NOT_POSITIVE, 0 },
		{ "-99999999999999999999999999", HASH_WEIGHT_NOT_POSITIVE, 0 },
		{ "", HASH_WEIGHT_NOT_INTEGER, 0 },
		{ "+", HASH_WEIGHT_NOT_INTEGER, 0 },
		{ "--1", HASH_WEIGHT_NOT_INTEGER, 0 },
		{ " 1", HASH_WEIGHT_NOT_INTEGER, 0 },
		{ "1 ", HASH_WEIGHT_NOT_INTEGER, 0 },
		{ "1.0", HASH_WEIGHT_NOT_INTEGER, 0 },
		{ "0x10", HASH_WEIGHT_NOT_INTEGER, 0 },
	};
	size_t i;
	uint32_t w;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w = 0;
		ck_assert_msg(hash_weight_parse(amqp_cstr(cases[i].key), &w) == cases[i].r, "'%s'",
		    cases[i].key);
		if (cases[i].r == 0)
			ck_assert_uint_eq(w, cases[i].w);
	}
}
END_TEST

/* A binding of weight key to a fake destination (queue pointer) d. */
static struct binding hash_binding(const char *key, struct queue *d)
{
	return (struct binding){ .key = (char *)key, .key_len = strlen(key), .dq = d };
}

/* Where the routing key rk goes: the destination's index in dests, or -1. */
static int hash_route(const struct hash_ring *r, const char *rk, struct queue *dests)
{
	struct message m = { .routing_key = (char *)rk, .rk_len = (uint8_t)strlen(rk) };
	struct msg_view v;
	struct binding *b;

	msg_view_init(&v, &m);
	b = hash_ring_route(r, &v);
	msg_view_done(&v);
	return b == NULL ? -1 : (int)(b->dq - dests);
}

/*
 * Start-up reads bindings in key order, not in the order they were made: each goes to its
 * place by ring_seq, and of two bindings to one destination the earlier holds its buckets.
 */
START_TEST(test_hash_ring_places)
{
	struct hash_ring *r = hash_ring_new((struct amqp_bytes){ NULL, 0 });
	struct queue d[3];
	struct binding b[4] = { hash_binding("3", &d[0]), hash_binding("1", &d[1]),
		hash_binding("2", &d[2]), hash_binding("7", &d[1]) };
	char rk[16];
	int i, where[2000];

	ck_assert_int_eq(hash_route(r, "k", d), -1); /* no bindings: nowhere */
	hash_ring_add(r, &b[3], 9);                  /* d[1] again, made after the others */
	hash_ring_add(r, &b[2], 4);
	hash_ring_add(r, &b[0], 2);
	hash_ring_add(r, &b[1], 3); /* takes d[1]'s buckets from b[3], made later */
	ck_assert(b[0].in_ring && b[1].in_ring && b[2].in_ring && !b[3].in_ring);
	ck_assert_uint_eq(hash_ring_buckets(r), 6);
	for (i = 0; i < 2000; i++) {
		snprintf(rk, sizeof(rk), "k%d", i);
		where[i] = hash_route(r, rk, d);
		ck_assert(where[i] >= 0 && where[i] < 3);
	}
	/* Made in that order live, the ring is the same: every key goes to the same place. */
	hash_ring_free(r);
	r = hash_ring_new((struct amqp_bytes){ NULL, 0 });
	hash_ring_add(r, &b[0], 0);
	hash_ring_add(r, &b[1], 0);
	hash_ring_add(r, &b[2], 0);
	hash_ring_add(r, &b[3], 0);
	ck_assert(!b[3].in_ring && b[3].ring_seq == 4);
	for (i = 0; i < 2000; i++) {
		snprintf(rk, sizeof(rk), "k%d", i);
		ck_assert_int_eq(hash_route(r, rk, d), where[i]);
	}
	/* Removing either binding of d[1] removes its buckets; later buckets renumber. */
	hash_ring_remove(r, &b[3]);
	ck_assert(!b[1].in_ring);
	ck_assert_uint_eq(hash_ring_buckets(r), 5);
	for (i = 0; i < 2000; i++) {
		snprintf(rk, sizeof(rk), "k%d", i);
		ck_assert_int_ne(hash_route(r, rk, d), 1);
	}
	hash_ring_free(r);
}
END_TEST

/*
 * Jump hash over the buckets: adding a destination moves keys only to it, about weight/total of
 * them; a lookup over 1,000 destinations of weight up to 2^31 - 1 stays within the ring.
 */
START_TEST(test_hash_ring_adding_moves_keys_to_the_new_one)
{
	struct hash_ring *r = hash_ring_new((struct amqp_bytes){ NULL, 0 });
	static struct queue d[1000];
	static struct binding b[1000];
	char rk[16];
	int i, before[10000], moved = 0, w;

	for (i = 0; i < 4; i++) {
		b[i] = hash_binding("1", &d[i]);
		hash_ring_add(r, &b[i], 0);
	}
	for (i = 0; i < 10000; i++) {
		snprintf(rk, sizeof(rk), "key-%d", i);
		before[i] = hash_route(r, rk, d);
	}
	b[4] = hash_binding("1", &d[4]);
	hash_ring_add(r, &b[4], 0);
	for (i = 0; i < 10000; i++) {
		snprintf(rk, sizeof(rk), "key-%d", i);
		w = hash_route(r, rk, d);
		if (w != before[i]) {
			ck_assert_int_eq(w, 4);
			moved++;
		}
	}
	ck_assert_msg(moved > 1800 && moved < 2200, "%d of 10000 moved", moved);
	hash_ring_free(r);
	r = hash_ring_new((struct amqp_bytes){ NULL, 0 });
	for (i = 0; i < 1000; i++) {
		b[i] = hash_binding(i % 2 ? "2147483647" : "1", &d[i]);
		hash_ring_add(r, &b[i], 0);
	}
	ck_assert_uint_eq(hash_ring_buckets(r), 500 * 2147483647ull + 500);
	for (i = 0; i < 10000; i++) {
		snprintf(rk, sizeof(rk), "key-%d", i);
		w = hash_route(r, rk, d);
		ck_assert(w >= 0 && w < 1000);
	}
	hash_ring_free(r);
}
END_TEST

static Suite *routing_suite(void)
{
	Suite *su = suite_create("routing");
	TCase *tc = tcase_create("topic");

	tcase_add_loop_test(
	    tc, test_topic_rules, 0, (int)(sizeof(topic_cases) / sizeof(topic_cases[0])));
	tcase_add_test(tc, test_topic_remove_prunes);
	tcase_add_test(tc, test_topic_same_pattern_twice);
	tcase_add_test(tc, test_topic_word_with_nul);
	tcase_add_test(tc, test_topic_cost_independent_of_bindings);
	suite_add_tcase(su, tc);
	tc = tcase_create("headers");
	tcase_add_test(tc, test_headers_all);
	tcase_add_test(tc, test_headers_default_is_all);
	tcase_add_test(tc, test_headers_any);
	tcase_add_test(tc, test_headers_x_keys);
	tcase_add_test(tc, test_headers_void_and_numbers);
	suite_add_tcase(su, tc);
	tc = tcase_create("consistent-hash");
	tcase_add_test(tc, test_hash_weights);
	tcase_add_test(tc, test_hash_ring_places);
	tcase_add_test(tc, test_hash_ring_adding_moves_keys_to_the_new_one);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	SRunner *sr = srunner_create(routing_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
