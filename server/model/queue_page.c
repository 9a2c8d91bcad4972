/*
 * queue_page.c: a long queue's paging: entries beyond a ring's head leave memory (persistent ones
 * are in the store already, transient ones go to scratch segments, see struct qpage), come back
 * as consumers near them (persist_page_in, then queue_paged_in), a basic.get waits for a read,
 * and start-up counts what the store holds (queue_recover_paged).
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "server/model/queue_private.h"

/* ---- paging ---- */

#define PAGE_KEEP 2048 /* entries a ring keeps in memory once it pages */
#define PAGE_HIGH 4096 /* ... and the length at which it starts to */
#define PAGE_KEEP_BYTES (4 * 1024 * 1024)
#define PAGE_HIGH_BYTES (16 * 1024 * 1024)
#define PAGE_TAIL 512    /* arrivals held before they follow the paged entries out */
#define PAGE_MIN_KEEP 64 /* what a ring keeps when memory is short */
#define PAGE_MIN_KEEP_BYTES (256 * 1024)
#define PAGE_READ 2048

/*
 * Transient messages page out when message memory is short (broker_mem_pressure), and in a queue
 * that is long by any measure whatever the memory (as RabbitMQ's classic queues since 3.12): a
 * backlog of millions costs a small head in memory, not its size.
 */
#define PAGE_TRANSIENT_COUNT 65536
#define PAGE_TRANSIENT_BYTES (64 * 1024 * 1024)

static bool page_transient(const struct queue *q)
{
	return broker_mem_pressure() || q->count > PAGE_TRANSIENT_COUNT ||
	    q->bytes > PAGE_TRANSIENT_BYTES;
}

/* Queues that drop from the head on overflow need their head in memory: they never page. */
static bool queue_can_page(const struct queue *q)
{
	return persist_can_page() && !q->deleted &&
	    !((q->qa.has_max_len || q->qa.has_max_bytes) && q->qa.overflow == OVERFLOW_DROP_HEAD);
}

static struct qpage *queue_pages(struct queue *q, unsigned ri)
{
	if (q->pages == NULL)
		q->pages = xcalloc(q->nrings, sizeof(*q->pages));
	return &q->pages[ri];
}

/*
 * Is the entry worth paging out now: already in the store, or memory is short. A redelivered one
 * only while nothing of q is unacked: a message returned later goes back into the ring by its
 * seq, which must then be below every paged one. (It comes back redelivered: scratch keeps the
 * flag and the count, and a stored entry has a count or lies under the queue's recovery mark.)
 */
static bool entry_pageable(const struct queue *q, const struct qentry *e, bool pressure)
{
	return (!e->redelivered || q->unacked == 0) && (pressure || persist_entry_stored(q, e->m));
}

static void page_out_entry(struct queue *q, unsigned ri, struct qpage *pg, const struct qentry *e)
{
	persist_page_out(q, ri, e);
	pg->count++;
	pg->bytes += e->m->body_size;
	message_unref(e->m);
}

/*
 * A ring grown past PAGE_HIGH (or past PAGE_KEEP when memory is short, force): its back goes to
 * the store, in front of what is there already.
 */
void queue_page_out_back(struct queue *q, unsigned ri, bool force)
{
	struct qring *r = &q->rings[ri];
	size_t keep = force ? PAGE_MIN_KEEP : PAGE_KEEP;
	uint64_t keep_bytes = force ? PAGE_MIN_KEEP_BYTES : PAGE_KEEP_BYTES;
	struct qpage *pg;
	struct qentry *e;
	size_t n, i;
	uint64_t bytes;
	bool pressure;

	if (force ? r->len <= keep && r->bytes <= keep_bytes
	          : r->len <= PAGE_HIGH && r->bytes <= PAGE_HIGH_BYTES)
		return;
	if (!queue_can_page(q))
		return;
	pg = queue_pages(q, ri);
	if (pg->loading) /* what comes back belongs after what would go out: later */
		return;
	pressure = page_transient(q);
	/* How far back the run goes; then out in seq order, as scratch segments are written. */
	for (n = 0, bytes = r->bytes; (r->len - n > keep || bytes > keep_bytes) && r->len - n > 1;
	     n++) {
		e = queue_ring_at(r, r->len - n - 1);
		if (!entry_pageable(q, e, pressure))
			break;
		bytes -= e->m->body_size;
	}
	if (n == 0)
		return;
	if (!qpage_active(pg))
		pg->hi = queue_ring_at(r, r->len - 1)->seq;
	pg->lo = queue_ring_at(r, r->len - n)->seq;
	for (i = r->len - n; i < r->len; i++)
		page_out_entry(q, ri, pg, queue_ring_at(r, i));
	persist_page_out_done();
	r->len -= n;
	r->bytes = bytes;
}

/* Arrivals behind paged entries follow them out once enough have gathered (or memory is short). */
void queue_tail_page_out(struct queue *q, unsigned ri, bool force)
{
	struct qpage *pg = &q->pages[ri];
	struct qentry e;
	bool pressure;

	if ((!force && pg->tail.len < PAGE_TAIL && pg->tail.bytes < PAGE_KEEP_BYTES) ||
	    !queue_can_page(q))
		return;
	pressure = page_transient(q);
	while (pg->tail.len > 0 && entry_pageable(q, queue_ring_at(&pg->tail, 0), pressure)) {
		queue_ring_pop(&pg->tail, &e);
		if (!qpage_active(pg))
			pg->lo = e.seq;
		pg->hi = e.seq;
		page_out_entry(q, ri, pg, &e);
	}
	persist_page_out_done();
}

/* Read the next paged entries of ring ri back before the consumers reach them. */
void queue_ring_page_in(struct queue *q, unsigned ri)
{
	struct qring *r = &q->rings[ri];
	struct qpage *pg;

	if (q->pages == NULL || q->deleted)
		return;
	pg = &q->pages[ri];
	if (pg->loading || !qpage_active(pg) || r->len >= PAGE_KEEP ||
	    r->bytes >= PAGE_KEEP_BYTES || !persist_can_page())
		return;
	pg->loading = true;
	persist_page_in(q, ri, pg->lo, pg->hi, PAGE_READ, PAGE_KEEP_BYTES);
}

void queue_wake_waiters(struct queue *q)
{
	size_t i, n = q->nwaiters;
	struct conn **w = q->load_waiters;

	if (n == 0)
		return;
	q->load_waiters = NULL;
	q->nwaiters = q->capwaiters = 0;
	for (i = 0; i < n; i++)
		if (broker.events.load_done != NULL)
			broker.events.load_done(w[i]);
	free(w);
}

bool queue_wait_load(struct queue *q, struct conn *c)
{
	unsigned i;
	bool loading = false;

	if (q->pages == NULL || q->count == 0 || q->deleted)
		return false;
	for (i = 0; i < q->nrings; i++) {
		queue_ring_page_in(q, i);
		loading |= q->pages[i].loading;
	}
	if (!loading)
		return false;
	if (q->nwaiters == q->capwaiters) {
		q->capwaiters = q->capwaiters != 0 ? q->capwaiters * 2 : 4;
		q->load_waiters =
		    xreallocarray(q->load_waiters, q->capwaiters, sizeof(*q->load_waiters));
	}
	q->load_waiters[q->nwaiters++] = c;
	return true;
}

void queue_forget_waiter(struct queue *q, struct conn *c)
{
	size_t i;

	for (i = 0; i < q->nwaiters; i++) {
		if (q->load_waiters[i] == c) {
			q->load_waiters[i] = q->load_waiters[--q->nwaiters];
			return;
		}
	}
}

/*
 * The reads of ring ri reached hi. If the queue still counts paged entries there, the store holds
 * fewer than it says: an invariant broken. Nothing is written off yet: every seq from hi up to the
 * tail (or the last one given) can only belong to the paged entries, so the reads go on to there
 * first. Then the breach is reported once, with its figures, and the queue counts what the store
 * held.
 */
static void page_range_end(struct queue *q, unsigned ri, struct qpage *pg)
{
	uint64_t end = pg->tail.len > 0 ? queue_ring_at(&pg->tail, 0)->seq - 1 : q->next_seq;
	char past[128] = "";

	if (pg->count > 0 && !pg->widened && end > pg->hi) {
		pg->suspect = pg->widened = true;
		pg->widened_from = pg->hi + 1;
		pg->hi = end;
		return;
	}
	if (pg->widened)
		snprintf(past, sizeof(past), ", %llu found past the paged range (seqs %llu-%llu)",
		    (unsigned long long)pg->past, (unsigned long long)pg->widened_from,
		    (unsigned long long)pg->hi);
	log_error(
	    "queue '%s' in vhost '%s': the paged entries of priority level %u did not match "
	    "the store: %llu counted were missing from it (%llu bytes), %llu found there were "
	    "not counted%s; the queue now counts what the store holds",
	    q->name, q->vhost->name, ri, (unsigned long long)pg->count,
	    (unsigned long long)pg->bytes, (unsigned long long)pg->uncounted, past);
	q->count -= pg->count;
	q->bytes -= pg->bytes < q->bytes ? pg->bytes : q->bytes;
	pg->count = pg->bytes = 0;
	pg->suspect = pg->widened = false;
	pg->widened_from = pg->uncounted = pg->past = 0;
}

void queue_paged_in(
    struct queue *q, unsigned ri, uint64_t gen, struct paged_entry *v, size_t n, uint64_t through)
{
	struct qpage *pg;
	struct qring *r;
	struct qentry e;
	size_t i;
	bool counted;

	if (q->deleted || gen != q->page_gen || q->pages == NULL) {
		for (i = 0; i < n; i++)
			message_unref(v[i].e.m);
		return;
	}
	pg = &q->pages[ri];
	r = &q->rings[ri];
	pg->loading = false;
	for (i = 0; i < n; i++) {
		counted = pg->count > 0;
		if (counted) {
			pg->count--;
			pg->bytes -= v[i].size < pg->bytes ? v[i].size : pg->bytes;
		} else {
			/* In the store, not counted (an invariant broken too): counted now. */
			pg->suspect = true;
			pg->uncounted++;
		}
		if (pg->widened)
			pg->past++;
		if (v[i].e.m != NULL) {
			queue_ring_push(r, &v[i].e);
			if (!counted) {
				q->count++;
				q->bytes += v[i].size;
			}
		} else if (counted) {
			/* Its message is gone from the store (logged by persist_page.c): it is lost. */
			q->count--;
			q->bytes -= v[i].size < q->bytes ? v[i].size : q->bytes;
		}
	}
	/* Everything the store held up to through is back: the reads go on after it. */
	if (through >= pg->lo)
		pg->lo = through + 1;
	if (pg->lo > pg->hi && (pg->count > 0 || pg->suspect))
		page_range_end(q, ri, pg);
	if (!qpage_active(pg)) {
		while (pg->tail.len > 0) {
			queue_ring_pop(&pg->tail, &e);
			queue_ring_push(r, &e);
		}
	}
	queue_trim(q); /* a limit lowered while these were paged: they may go at once */
	queue_ring_page_in(q, ri);
	queue_schedule_ttl(q);
	broker_kick(q);
	queue_wake_waiters(q);
}

/*
 * Memory is short: every queue pages what it can beyond a small head, not only those published
 * to (broker.c runs this every 100 ms while message memory is above half the limit).
 */
void queue_page_all(void)
{
	struct hmap_iter vi, qi;
	void *v, *p;
	unsigned i;

	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, NULL, NULL, &v)) {
		hmap_iter_init(&((struct vhost *)v)->queues, &qi);
		while (hmap_iter_next(&qi, NULL, NULL, &p)) {
			struct queue *q = p;
			for (i = 0; i < q->nrings; i++) {
				if (q->pages != NULL && q->pages[i].tail.len > 0)
					queue_tail_page_out(q, i, true);
				else
					queue_page_out_back(q, i, true);
			}
		}
	}
}

void queue_recover_paged(
    struct queue *q, unsigned ri, uint64_t count, uint64_t bytes, uint64_t lo, uint64_t hi)
{
	struct qpage *pg = queue_pages(q, ri);

	pg->count += count;
	pg->bytes += bytes;
	pg->lo = lo;
	pg->hi = hi;
	q->count += count;
	q->bytes += bytes;
	if (hi > q->next_seq)
		q->next_seq = hi;
	queue_ring_page_in(q, ri);
}
