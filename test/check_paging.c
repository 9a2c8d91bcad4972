/*
 * check_paging.c: the queue's side of reading paged entries back (queue_paged_in in queue.c),
 * driven with made-up reads and no store: a read whose range ends before entries that followed the
 * paged ones out while it was in flight (issue 12), and the invariant checks: counted entries the
 * store lacks, entries it holds uncounted or past the paged range. Whatever the store held, the
 * queue ends up counting exactly what it can deliver.
 *
 * Also the rings themselves (queue_ring.c: order, growth across the wrap, requeue by seq, the ring
 * of a priority, the ring to deliver from), and paging with a store in a temporary directory:
 * where a ring pages out and in (the boundaries PAGE_HIGH, PAGE_KEEP and PAGE_READ of queue.c),
 * persistent entries read back from the entries table and transient ones from scratch segments,
 * every message back in order and intact.
 */
#include <check.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h" /* ps and the codec: the entries a requeue wrote */
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
		v[n].e = (struct qentry){ s == lost ? NULL : message(), s, 0, false, 0 };
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

/* ---- a limit lowered on a queue whose head is paged (queue_trim in queue.c) ---- */

/* A policy's settings put in force: max_len (or, if bytes, max_bytes) with overflow ov. */
static void limit(uint64_t n, bool bytes, enum overflow ov)
{
	struct queue_args qa;

	memset(&qa, 0, sizeof(qa));
	qa.has_max_len = !bytes;
	qa.has_max_bytes = bytes;
	qa.max_len = n;
	qa.max_bytes = n * SIZE;
	qa.overflow = ov;
	queue_settings_replace(q, &qa);
}

/* The queue's ready entries, in memory and in order, are seqs first..first+n-1. */
static void expect_seqs(uint64_t first, size_t n)
{
	size_t i;

	ck_assert_uint_eq(q->count, n);
	ck_assert_uint_eq(q->rings[0].len, n);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(queue_ring_at(&q->rings[0], i)->seq, first + i);
}

/*
 * drop-head lowered to 3 with all 10 paged and 2 behind them: nothing goes until the head is back,
 * then each read's entries go at once, and the tail once the reads are through.
 */
START_TEST(a_lowered_limit_drops_through_paged_entries)
{
	page_out(10, 1, 10);
	arrive(); /* seqs 11 and 12, in the tail */
	arrive();
	limit(3, _i == 1, OVERFLOW_DROP_HEAD);
	check_counts(2, 10); /* the head is paged: it waits for the read */
	read_back(1, 4, 4, 0);
	check_counts(2, 6); /* 4 back, 4 dropped */
	ck_assert_uint_eq(q->rings[0].len, 0);
	arrive(); /* past the limit behind a paged head: taken, the head goes later */
	check_counts(3, 6);
	read_back(5, 10, 10, 0);
	expect_seqs(11, 3); /* 5-10 dropped; the tail, 11-13, is back in the ring */
	ck_assert_uint_eq(q->bytes, 3 * SIZE);
}
END_TEST

/* reject-publish lowered below what the queue holds: it keeps it all (RabbitMQ does). */
START_TEST(reject_publish_keeps_what_it_holds)
{
	struct message *m;

	page_out(10, 1, 10);
	limit(3, _i == 1, OVERFLOW_REJECT_PUBLISH);
	read_back(1, 10, 10, 0);
	expect_seqs(1, 10);
	m = message();
	ck_assert_int_eq(queue_publish(q, m), -1); /* and takes nothing more */
	message_unref(m);
	expect_seqs(1, 10);
}
END_TEST

/* ---- the rings (queue_ring.c) ---- */

/* A new message at seq, appended (push) or put in its place (insert). */
static void ring_push_seq(struct qring *r, uint64_t seq)
{
	struct qentry e = { message(), seq, 0, false, 0 };

	queue_ring_push(r, &e);
}

static void ring_insert_seq(struct qring *r, uint64_t seq)
{
	struct qentry e = { message(), seq, 0, false, 0 };

	queue_ring_insert(r, &e);
}

/* Pop everything: the seqs must be first, first + 1, ... (n of them); the ring ends empty. */
static void pop_expect(struct qring *r, uint64_t first, size_t n)
{
	struct qentry e;
	size_t i;

	ck_assert_uint_eq(r->len, n);
	ck_assert_uint_eq(r->bytes, n * SIZE);
	for (i = 0; i < n; i++) {
		queue_ring_pop(r, &e);
		ck_assert_uint_eq(e.seq, first + i);
		message_unref(e.m);
	}
	ck_assert_uint_eq(r->len, 0);
	ck_assert_uint_eq(r->bytes, 0);
}

/* First in, first out, across growth while the head is not at the start of the array. */
START_TEST(ring_keeps_order_across_growth)
{
	struct qring r = { 0 };
	struct qentry e;
	uint64_t s;

	for (s = 1; s <= 10; s++)
		ring_push_seq(&r, s);
	ck_assert_uint_eq(r.cap, 16);
	for (s = 1; s <= 6; s++) {
		queue_ring_pop(&r, &e);
		ck_assert_uint_eq(e.seq, s);
		message_unref(e.m);
	}
	for (s = 11; s <= 40; s++) /* wraps, then grows twice with the head inside */
		ring_push_seq(&r, s);
	ck_assert_uint_eq(r.cap, 64);
	ck_assert_uint_eq(queue_ring_at(&r, 0)->seq, 7);
	ck_assert_uint_eq(queue_ring_at(&r, r.len - 1)->seq, 40);
	pop_expect(&r, 7, 34);
	free(r.v);
}
END_TEST

/* A requeue goes back to its place by seq: the front, the middle, the back, an empty ring. */
START_TEST(ring_insert_by_seq)
{
	struct qring r = { 0 };
	static const uint64_t order[] = { 4, 6, 8, 2, 5, 9, 1, 3, 7 };
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		ring_insert_seq(&r, order[i]);
	pop_expect(&r, 1, 9);
	/* With the head wrapped round the end of the array. */
	for (i = 10; i < 22; i++)
		ring_push_seq(&r, i);
	pop_expect(&r, 10, 12);
	for (i = 0; i < 14; i++)
		ring_push_seq(&r, i * 2 + 2);
	ring_insert_seq(&r, 1);
	ring_insert_seq(&r, 15);
	ring_insert_seq(&r, 29); /* the 17th: grows */
	ck_assert_uint_eq(r.len, 17);
	ck_assert_uint_eq(queue_ring_at(&r, 0)->seq, 1);
	ck_assert_uint_eq(queue_ring_at(&r, 8)->seq, 15);
	ck_assert_uint_eq(queue_ring_at(&r, 16)->seq, 29);
	for (i = 1; i < r.len; i++)
		ck_assert_uint_lt(queue_ring_at(&r, i - 1)->seq, queue_ring_at(&r, i)->seq);
	while (r.len > 0) {
		struct qentry e;
		queue_ring_pop(&r, &e);
		message_unref(e.m);
	}
	free(r.v);
}
END_TEST

/* A message's priority picks its ring, the highest ring when past x-max-priority. */
START_TEST(ring_of_a_priority)
{
	struct queue_args qa;
	struct queue *pq;
	struct qentry e;
	struct message *m = message();

	memset(&qa, 0, sizeof(qa));
	qa.max_priority = 3;
	pq = queue_new(vhost_find(amqp_cstr("/")), amqp_cstr("pq"), false, false, false, NULL,
	    (struct amqp_bytes){ NULL, 0 }, &qa);
	ck_assert_uint_eq(pq->nrings, 4);
	m->priority = 0;
	ck_assert_uint_eq(queue_ring_index(pq, m), 0);
	m->priority = 2;
	ck_assert_uint_eq(queue_ring_index(pq, m), 2);
	m->priority = 9;
	ck_assert_uint_eq(queue_ring_index(pq, m), 3);
	ck_assert_uint_eq(queue_ring_index(q, m), 0); /* no priorities: one ring */
	/* The next to deliver comes from the highest ring that has one ... */
	ck_assert_ptr_null(queue_head_ring(pq));
	ring_push_seq(&pq->rings[1], 1);
	ring_push_seq(&pq->rings[3], 2);
	ck_assert_ptr_eq(queue_head_ring(pq), &pq->rings[3]);
	/* ... unless a higher ring's next entries are being read back: then nothing overtakes. */
	pq->pages = xcalloc(pq->nrings, sizeof(*pq->pages));
	pq->pages[2].count = 5;
	ck_assert_ptr_eq(queue_head_ring(pq), &pq->rings[3]);
	queue_ring_pop(&pq->rings[3], &e);
	message_unref(e.m);
	ck_assert_ptr_null(queue_head_ring(pq));
	pq->pages[2].count = 0;
	ck_assert_ptr_eq(queue_head_ring(pq), &pq->rings[1]);
	message_unref(m);
}
END_TEST

/* ---- paging with a store ---- */

#define PAGE_HIGH 4096 /* queue.c's: a ring pages out past this many */
#define PAGE_KEEP 2048 /* ... down to this many, and reads back when under it */
#define PAGE_READ 2048 /* ... this many at a time */

static char store_dir[64];

static void store_setup(void)
{
	snprintf(store_dir, sizeof(store_dir), "/tmp/check_paging-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(store_dir));
}

/* A broker on a store in store_dir; with pressure, transient messages page at once. */
static void store_start(bool pressure)
{
	struct broker_config cfg;
	char err[512];

	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	if (pressure)
		cfg.mem_high = 1024 * 1024; /* paging starts past half of it */
	broker_init(event_base_new(), &cfg);
	ck_assert_msg(persist_open(store_dir, err, sizeof(err)) == 0, "%s", err);
}

static void store_teardown(void)
{
	char cmd[128];

	persist_close();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/*
 * A message whose body is its number; persistent ones have delivery-mode 2, the others no
 * property (a flags word of 0, as every content header has at least).
 */
static struct message *numbered(unsigned i, bool persistent)
{
	static const uint8_t persistent_props[] = { 0x10, 0x00, 2 }, no_props[] = { 0, 0 };
	char body[SIZE];
	struct message *m = message_new(amqp_cstr(""), amqp_cstr("q"),
	    persistent ? (struct amqp_bytes){ persistent_props, sizeof(persistent_props) }
	               : (struct amqp_bytes){ no_props, sizeof(no_props) },
	    SIZE);

	memset(body, 0, sizeof(body));
	snprintf(body, sizeof(body), "message %u", i);
	message_append_body(m, (const uint8_t *)body, SIZE);
	return m;
}

/* Take the head (waiting for reads back as basic.get does); it must be message i, intact. */
static void pop_numbered(struct queue *dq, unsigned i)
{
	struct qentry e;
	char want[SIZE];

	while (!queue_pop(dq, &e)) {
		ck_assert_msg(dq->pages != NULL && dq->pages[0].loading, "message %u missing", i);
		event_base_loop(broker.base, EVLOOP_ONCE);
	}
	memset(want, 0, sizeof(want));
	snprintf(want, sizeof(want), "message %u", i);
	ck_assert_uint_eq(e.m->body_size, SIZE);
	ck_assert_msg(memcmp(e.m->body, want, SIZE) == 0, "message %u: '%.20s'", i, e.m->body);
	ck_assert_uint_eq(e.seq, i);
	message_unref(e.m);
}

/*
 * _i 0: persistent messages in a durable queue (already in the store: paging drops them from
 * memory, reads come from the entries table); _i 1: transient ones under memory pressure (written
 * to scratch segments, read back from there).
 */
START_TEST(paging_boundaries)
{
	struct queue_args qa;
	struct queue *dq;
	struct qpage *p;
	struct message *m;
	unsigned i, n = PAGE_HIGH + 1;
	bool persistent = _i == 0;

	store_start(!persistent);
	memset(&qa, 0, sizeof(qa));
	dq = queue_new(vhost_find(amqp_cstr("/")), amqp_cstr("dq"), persistent, false, false, NULL,
	    (struct amqp_bytes){ NULL, 0 }, &qa);
	for (i = 1; i <= PAGE_HIGH; i++) {
		m = numbered(i, persistent);
		ck_assert_int_eq(queue_publish(dq, m), persistent ? 1 : 0);
		message_unref(m);
	}
	ck_assert_ptr_null(dq->pages); /* up to PAGE_HIGH: all in memory */
	m = numbered(n, persistent);
	queue_publish(dq, m);
	message_unref(m);
	/* One more: the back goes out, down to PAGE_KEEP. */
	ck_assert_ptr_nonnull(dq->pages);
	p = &dq->pages[0];
	if (persistent) {
		ck_assert_uint_eq(dq->rings[0].len, PAGE_KEEP);
		ck_assert_uint_eq(p->count, n - PAGE_KEEP);
		ck_assert_uint_eq(p->lo, PAGE_KEEP + 1);
		ck_assert_uint_eq(p->hi, n);
	}
	ck_assert_uint_gt(p->count, 0);
	ck_assert_uint_eq(dq->count, n);
	ck_assert_uint_eq(dq->rings[0].len + p->count, n);
	/* Arrivals while entries are paged wait in the tail, behind them. */
	m = numbered(n + 1, persistent);
	queue_publish(dq, m);
	message_unref(m);
	ck_assert_uint_eq(p->tail.len, 1);
	ck_assert_uint_eq(dq->count, n + 1);
	/* The first pop takes the ring under PAGE_KEEP: a read of up to PAGE_READ goes out. */
	pop_numbered(dq, 1);
	if (persistent) {
		ck_assert(p->loading);
		while (p->loading)
			event_base_loop(broker.base, EVLOOP_ONCE);
		ck_assert_uint_eq(dq->rings[0].len, PAGE_KEEP - 1 + PAGE_READ);
		ck_assert_uint_eq(p->count, n - PAGE_KEEP - PAGE_READ);
		ck_assert_uint_eq(p->lo, PAGE_KEEP + PAGE_READ + 1);
	}
	for (i = 2; i <= n + 1; i++)
		pop_numbered(dq, i);
	ck_assert_uint_eq(dq->count, 0);
	ck_assert_uint_eq(p->count, 0);
	ck_assert_uint_eq(p->tail.len, 0);
	ck_assert(!queue_pop(dq, &(struct qentry){ 0 }));
}
END_TEST

/* Take the head, waiting for reads back; it must be message i, returned count times. */
static void pop_counted(struct queue *dq, unsigned i, uint32_t count, struct qentry *e)
{
	while (!queue_pop(dq, e)) {
		ck_assert_msg(dq->pages != NULL && dq->pages[0].loading, "message %u missing", i);
		event_base_loop(broker.base, EVLOOP_ONCE);
	}
	ck_assert_uint_eq(e->seq, i);
	ck_assert_msg(e->delivery_count == count, "message %u: count %u, not %u", i,
	    e->delivery_count, count);
	ck_assert(e->redelivered == (count > 0));
}

/* Until every write made so far is on disk. */
static void store_flush(void)
{
	submit_batch();
	while (ps.inflight > 0 || ps.cur != NULL)
		event_base_loop(broker.base, EVLOOP_ONCE);
}

struct counted {
	uint64_t qid, n;
	uint32_t count;
	bool ok;
};

/* Every entry of qid must have the count c->count, and be 28 bytes long or hold its message. */
static int count_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct counted *c = arg;
	struct rec_entry e;

	ck_assert_int_eq(record_entry_decode(key, klen, val, vlen, &e), RECORD_OK);
	if (e.qid != c->qid)
		return 0;
	c->n++;
	c->ok &= e.delivery_count == c->count && vlen >= ENTRY_VAL_COUNT_LEN;
	return 0;
}

/*
 * Returned messages keep their delivery count: in memory, in the store (rewritten within the
 * batch that wrote the entry, where an ack then cancels the rewrite, and by key in a later one),
 * and through paging out and back in: _i 0 persistent in a durable queue (from the entries table),
 * _i 1 transient (scratch segments).
 */
START_TEST(returned_messages_keep_their_count)
{
	struct queue_args qa;
	struct queue *dq;
	struct message *m;
	struct qentry e, *got;
	struct counted c = { 0, 0, 2, true };
	unsigned i, n = PAGE_HIGH;
	bool persistent = _i == 0;

	store_start(!persistent);
	memset(&qa, 0, sizeof(qa));
	dq = queue_new(vhost_find(amqp_cstr("/")), amqp_cstr("dq"), persistent, false, false, NULL,
	    (struct amqp_bytes){ NULL, 0 }, &qa);
	for (i = 1; i <= n; i++) {
		m = numbered(i, persistent);
		queue_publish(dq, m);
		message_unref(m);
	}
	ck_assert_ptr_null(dq->pages);
	got = xcalloc(n, sizeof(*got));
	/* Twice: all delivered, then all returned (the first time in the batch that wrote them). */
	for (uint32_t round = 0; round < 2; round++) {
		for (i = round + 1; i <= n; i++)
			pop_counted(dq, i, round, &got[i - 1]);
		for (i = round + 1; i <= n; i++)
			queue_requeue(dq, got[i - 1].m, got[i - 1].seq, got[i - 1].expires_at,
			    got[i - 1].delivery_count);
		if (round == 0) {
			/* Message 1 is acked: the writes its return made are cancelled too. */
			pop_counted(dq, 1, 1, &e);
			persist_remove(dq, e.m, e.seq);
			message_unref(e.m);
			store_flush();
		}
	}
	free(got);
	if (persistent) {
		store_flush();
		c.qid = dq->qid;
		ck_assert_int_eq(store_scan(ps.st, STORE_ENTRIES, count_entry, &c), 0);
		ck_assert_uint_eq(c.n, n - 1);
		ck_assert_msg(c.ok, "an entry without its count");
	}
	/* Two arrivals take the ring past PAGE_HIGH: its back pages out, returned ones too. */
	for (i = n + 1; i <= n + 2; i++) {
		m = numbered(i, persistent);
		queue_publish(dq, m);
		message_unref(m);
	}
	ck_assert_ptr_nonnull(dq->pages);
	ck_assert_uint_gt(dq->pages[0].count, 2);
	for (i = 2; i <= n + 2; i++) {
		pop_counted(dq, i, i <= n ? 2 : 0, &e);
		persist_remove(dq, e.m, e.seq);
		message_unref(e.m);
	}
	ck_assert_uint_eq(dq->count, 0);
	if (persistent) {
		store_flush();
		c.n = 0;
		ck_assert_int_eq(store_scan(ps.st, STORE_ENTRIES, count_entry, &c), 0);
		ck_assert_uint_eq(c.n, 0);
	}
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
	tcase_add_loop_test(tc, a_lowered_limit_drops_through_paged_entries, 0, 2);
	tcase_add_loop_test(tc, reject_publish_keeps_what_it_holds, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("ring");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ring_keeps_order_across_growth);
	tcase_add_test(tc, ring_insert_by_seq);
	tcase_add_test(tc, ring_of_a_priority);
	suite_add_tcase(s, tc);
	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, paging_boundaries, 0, 2);
	tcase_add_loop_test(tc, returned_messages_keep_their_count, 0, 2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
