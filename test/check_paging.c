/*
 * check_paging.c: the queue's side of reading paged entries back (queue_paged_in in queue.c),
 * driven with made-up reads and no store: a read whose range ends before entries that followed the
 * paged ones out while it was in flight (issue 12), and the invariant checks: counted entries the
 * store lacks, entries it holds uncounted or past the paged range. Whatever the store held, the
 * queue ends up counting exactly what it can deliver.
 */
#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define SIZE 100 /* every message's body size */

static struct queue *q;
static struct qpage *pg;

static void setup(void)
{
	struct broker_config cfg;
	struct queue_args qa;

	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	broker_init(event_base_new(), &cfg);
	memset(&qa, 0, sizeof(qa));
	/* broker_init made the vhost "/" for the default user. */
	q = queue_new(vhost_find(amqp_cstr("/")), amqp_cstr("q"), false, false, false, NULL,
	    (struct amqp_bytes){ NULL, 0 }, &qa);
	q->pages = xcalloc(q->nrings, sizeof(*q->pages));
	pg = &q->pages[0];
}

static void teardown(void)
{
	/* Each case runs in its own process (Check's fork mode): the OS reclaims the rest. */
}

static struct message *message(void)
{
	static const uint8_t body[SIZE];
	struct message *m =
	    message_new(amqp_cstr(""), amqp_cstr("q"), (struct amqp_bytes){ NULL, 0 }, SIZE);

	message_append_body(m, body, SIZE);
	return m;
}

/* count entries with seqs in [lo, hi] leave memory (as ring_page_out_back or tail_page_out). */
static void page_out(uint64_t count, uint64_t lo, uint64_t hi)
{
	if (pg->count == 0)
		pg->lo = lo;
	pg->hi = hi;
	pg->count += count;
	pg->bytes += count * SIZE;
	q->count += count;
	q->bytes += count * SIZE;
	if (hi > q->next_seq)
		q->next_seq = hi;
}

/* A publish while entries are paged: it joins the tail. */
static void arrive(void)
{
	struct message *m = message();

	ck_assert_int_eq(queue_publish(q, m), 0);
	message_unref(m);
}

/*
 * A read comes back with the entries of seqs from..to (none if from is 0), those in lost without
 * their message; the store held nothing else up to through.
 */
static void read_back(uint64_t from, uint64_t to, uint64_t through, uint64_t lost)
{
	struct paged_entry v[64];
	uint64_t s;
	size_t n = 0;

	pg->loading = true;
	for (s = from; from != 0 && s <= to; s++) {
		ck_assert_uint_lt(n, 64);
		v[n].e = (struct qentry){ s == lost ? NULL : message(), s, 0, false };
		v[n].size = SIZE;
		n++;
	}
	queue_paged_in(q, 0, q->page_gen, v, n, through);
}

/* The queue counts what it holds in memory plus what it still counts as paged. */
static void check_counts(uint64_t in_memory, uint64_t paged)
{
	ck_assert_uint_eq(q->rings[0].len + pg->tail.len, in_memory);
	ck_assert_uint_eq(pg->count, paged);
	ck_assert_uint_eq(q->count, in_memory + paged);
	ck_assert_uint_eq(q->bytes, (in_memory + paged) * SIZE);
}

/* Issue 12: 5 more paged out while the read of 1-10 was in flight; they are read next. */
START_TEST(a_read_ends_at_its_own_range)
{
	page_out(10, 1, 10);
	page_out(5, 11, 15); /* the read of [1, 10] is in flight */
	read_back(1, 10, 10, 0);
	check_counts(10, 5);
	ck_assert_uint_eq(pg->lo, 11);
	ck_assert(!pg->suspect);
	read_back(11, 15, 15, 0);
	check_counts(15, 0);
	ck_assert(!pg->suspect);
}
END_TEST

/* A read that stopped at its size limit: the next one goes on after its last entry. */
START_TEST(a_partial_read_goes_on_after_its_last_entry)
{
	page_out(10, 1, 10);
	read_back(1, 4, 4, 0);
	check_counts(4, 6);
	ck_assert_uint_eq(pg->lo, 5);
	read_back(5, 10, 10, 0);
	check_counts(10, 0);
}
END_TEST

/* 3 counted, not in [1, 10] nor up to the tail: taken off the count; the tail follows. */
START_TEST(missing_entries_are_taken_off_the_count)
{
	page_out(10, 1, 10);
	arrive();
	arrive();
	ck_assert_uint_eq(pg->tail.len, 2);
	read_back(1, 7, 10, 0);
	check_counts(9, 0);
	ck_assert_uint_eq(pg->tail.len, 0); /* in the ring, after the 7 */
	ck_assert(!pg->suspect);
}
END_TEST

/* 3 counted entries are past hi, before the tail: found, not dropped. */
START_TEST(entries_past_the_range_are_found)
{
	page_out(10, 1, 10);
	q->next_seq = 20; /* seqs 11-20 were given to entries the queue lost track of */
	read_back(1, 7, 10, 0);
	check_counts(7, 3);
	ck_assert(pg->suspect && pg->widened);
	ck_assert_uint_eq(pg->lo, 11);
	ck_assert_uint_eq(pg->hi, 20);
	read_back(14, 16, 20, 0);
	check_counts(10, 0);
	ck_assert(!pg->suspect && !pg->widened);
}
END_TEST

/* Past the range, 2 of the 3: the third is taken off. */
START_TEST(the_search_past_the_range_ends_at_the_tail)
{
	page_out(10, 1, 10);
	q->next_seq = 20;
	arrive(); /* seq 21: the search stops before it */
	read_back(1, 7, 10, 0);
	ck_assert_uint_eq(pg->hi, 20);
	read_back(14, 15, 20, 0);
	check_counts(10, 0);
	ck_assert_uint_eq(q->rings[0].v[q->rings[0].len - 1].seq, 21);
}
END_TEST

/* The store holds more than counted: all are counted and read, up to hi. */
START_TEST(uncounted_entries_are_counted)
{
	page_out(2, 1, 10);
	read_back(1, 5, 5, 0);
	check_counts(5, 0);
	ck_assert(pg->suspect);
	arrive(); /* behind what may still be in the store */
	ck_assert_uint_eq(pg->tail.len, 1);
	read_back(6, 8, 10, 0);
	check_counts(9, 0);
	ck_assert(!pg->suspect);
	ck_assert_uint_eq(pg->tail.len, 0);
}
END_TEST

/* An entry whose message record is gone cannot be delivered: it leaves the count. */
START_TEST(an_entry_without_its_message_leaves_the_count)
{
	page_out(10, 1, 10);
	read_back(1, 10, 10, 4);
	check_counts(9, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("paging");
	TCase *tc = tcase_create("paged_in");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_read_ends_at_its_own_range);
	tcase_add_test(tc, a_partial_read_goes_on_after_its_last_entry);
	tcase_add_test(tc, missing_entries_are_taken_off_the_count);
	tcase_add_test(tc, entries_past_the_range_are_found);
	tcase_add_test(tc, the_search_past_the_range_ends_at_the_tail);
	tcase_add_test(tc, uncounted_entries_are_counted);
	tcase_add_test(tc, an_entry_without_its_message_leaves_the_count);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
