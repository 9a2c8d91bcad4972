/*
 * queue.c: queues: a ring of entries per priority level (queue_ring.c), ordered by a sequence
 * number so that a requeued message goes back to its old place; delivery to consumers in round
 * robin, or with x-dispatch least-unacked to the one with the fewest unacked messages (highest
 * consumer priority first either way), bounded by their prefetch credit; message TTL, queue
 * expiry, max-length with its overflow modes, and dead-lettering. Long queues page: see struct
 * qpage.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

static void queue_schedule_ttl(struct queue *q);

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
static void ring_page_out_back(struct queue *q, unsigned ri, bool force)
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
static void tail_page_out(struct queue *q, unsigned ri, bool force)
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
static void ring_page_in(struct queue *q, unsigned ri)
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

static void queue_wake_waiters(struct queue *q)
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
		ring_page_in(q, i);
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
	ring_page_in(q, ri);
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
					tail_page_out(q, i, true);
				else
					ring_page_out_back(q, i, true);
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
	ring_page_in(q, ri);
}

/* ---- life cycle ---- */

static void queue_expire_cb(evutil_socket_t fd, short what, void *arg);
static void queue_ttl_cb(evutil_socket_t fd, short what, void *arg);

struct queue *queue_new(struct vhost *v, struct amqp_bytes name, bool durable, bool exclusive,
    bool auto_delete, struct conn *owner, struct amqp_bytes args, const struct queue_args *qa)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	broker.queues_created++;
	q->name = xbytesdup(name);
	q->name_len = name.len;
	q->vhost = v;
	q->refs = 1;
	q->durable = durable;
	q->exclusive = exclusive;
	q->auto_delete = auto_delete;
	q->owner = owner; /* the protocol layer puts an exclusive queue on its owner's list */
	if (args.len > 0) {
		q->args = xmalloc(args.len);
		memcpy(q->args, args.ptr, args.len);
		q->args_len = args.len;
	}
	q->qa = *qa;
	q->nrings = (unsigned)qa->max_priority + 1;
	q->rings = xcalloc(q->nrings, sizeof(*q->rings));
	TAILQ_INIT(&q->consumers);
	LIST_INIT(&q->bound_by);
	q->ttl_ev = evtimer_new(broker.base, queue_ttl_cb, q);
	if (qa->has_expires) {
		q->expire_ev = evtimer_new(broker.base, queue_expire_cb, q);
		queue_touch(q);
	}
	hmap_put(&v->queues, q->name, q->name_len, q);
	TAILQ_INSERT_TAIL(&broker.all_queues, q, all_entry);
	persist_queue(q, true);
	return q;
}

void queue_unref(struct queue *q)
{
	unsigned i;

	if (--q->refs > 0)
		return;
	TAILQ_REMOVE(&broker.all_queues, q, all_entry);
	for (i = 0; i < q->nrings; i++) {
		free(q->rings[i].v);
		if (q->pages != NULL)
			free(q->pages[i].tail.v);
	}
	free(q->rings);
	free(q->pages);
	free(q->load_waiters);
	if (q->ttl_ev != NULL)
		event_free(q->ttl_ev);
	if (q->expire_ev != NULL)
		event_free(q->expire_ev);
	queue_args_free(&q->qa);
	free(q->args);
	free(q->name);
	free(q);
}

static void queue_drop_all(struct queue *q)
{
	struct qentry e;
	unsigned i;

	for (i = 0; i < q->nrings; i++) {
		while (q->rings[i].len > 0) {
			queue_ring_pop(&q->rings[i], &e);
			persist_remove(q, e.m, e.seq);
			message_unref(e.m);
		}
		if (q->pages != NULL) {
			struct qpage *pg = &q->pages[i];
			while (pg->tail.len > 0) {
				queue_ring_pop(&pg->tail, &e);
				persist_remove(q, e.m, e.seq);
				message_unref(e.m);
			}
			if (qpage_active(pg))
				persist_drop_paged(q, i, pg->lo, pg->hi);
			pg->count = pg->bytes = 0;
			pg->loading = false;
			pg->suspect = pg->widened = false;
			pg->widened_from = pg->uncounted = pg->past = 0;
		}
	}
	q->page_gen++; /* reads in flight come back to nothing */
	q->count = 0;
	q->bytes = 0;
}

uint64_t queue_purge(struct queue *q)
{
	uint64_t n = q->count;

	queue_drop_all(q);
	if (q->ttl_ev != NULL)
		evtimer_del(q->ttl_ev);
	return n;
}

uint64_t queue_delete(struct queue *q)
{
	struct consumer *c;
	uint64_t n;

	if (q->deleted)
		return 0;
	q->deleted = true;
	broker.queues_deleted++;
	if (q->exclusive && q->owner != NULL) {
		LIST_REMOVE(q, owner_entry);
		q->owner = NULL;
	}
	log_debug("queue '%s' in vhost '%s': deleted", q->name, q->vhost->name);
	persist_queue(q, false);
	while ((c = TAILQ_FIRST(&q->consumers)) != NULL)
		if (broker.events.consumer_cancel != NULL)
			broker.events.consumer_cancel(c, true);
	while (!LIST_EMPTY(&q->bound_by))
		binding_free(LIST_FIRST(&q->bound_by));
	n = queue_purge(q);
	queue_wake_waiters(q); /* their basic.get finds the queue gone */
	if (q->expire_ev != NULL)
		evtimer_del(q->expire_ev);
	hmap_del(&q->vhost->queues, q->name, q->name_len);
	queue_unref(q);
	return n;
}

/* x-expires: (re)start the timer while the queue is unused. */
void queue_touch(struct queue *q)
{
	struct timeval tv;

	if (q->expire_ev == NULL || q->deleted)
		return;
	if (q->nconsumers > 0) {
		evtimer_del(q->expire_ev);
		return;
	}
	tv.tv_sec = (time_t)(q->qa.expires_ms / 1000);
	tv.tv_usec = (suseconds_t)(q->qa.expires_ms % 1000) * 1000;
	evtimer_add(q->expire_ev, &tv);
}

static void queue_expire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	if (q->nconsumers > 0)
		return;
	log_info("queue '%s' in vhost '%s': expired after %llu ms unused", q->name, q->vhost->name,
	    (unsigned long long)q->qa.expires_ms);
	queue_delete(q);
}

/* ---- message TTL ---- */

static void queue_schedule_ttl(struct queue *q)
{
	struct qring *r = queue_head_ring(q);
	uint64_t now, at, wait;
	struct timeval tv;
	unsigned i;

	if (q->ttl_ev == NULL)
		return;
	/* The earliest expiry among ring heads (each ring is in expiry order for a fixed TTL). */
	at = 0;
	for (i = 0; i < q->nrings; i++) {
		r = &q->rings[i];
		if (r->len > 0 && queue_ring_at(r, 0)->expires_at != 0 &&
		    (at == 0 || queue_ring_at(r, 0)->expires_at < at))
			at = queue_ring_at(r, 0)->expires_at;
	}
	if (at == 0) {
		evtimer_del(q->ttl_ev);
		return;
	}
	now = now_ms();
	wait = at >= now ? at - now + 1 : 0; /* expiry is strict: fire once the clock passes it */
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(q->ttl_ev, &tv);
}

/* Take the head of ring r off the queue and dead-letter it for reason (or drop it). */
static void queue_drop_entry(struct queue *q, struct qring *r, const char *reason)
{
	struct qentry e;

	queue_ring_pop(r, &e);
	q->count--;
	q->bytes -= e.m->body_size;
	queue_dead_letter(q, e.m, reason);
	persist_remove(q, e.m, e.seq);
	message_unref(e.m);
}

/* Drop (dead-letter) expired messages at the ring heads. */
static void queue_expire_heads(struct queue *q)
{
	uint64_t now = 0; /* read when a head has an expiry */
	unsigned i;

	for (i = 0; i < q->nrings; i++) {
		struct qring *r = &q->rings[i];
		/* Strictly past: a TTL of 0 still reaches a consumer that is ready right away. */
		while (r->len > 0 && queue_ring_at(r, 0)->expires_at != 0 &&
		    queue_ring_at(r, 0)->expires_at < (now != 0 ? now : (now = now_ms())))
			queue_drop_entry(q, r, "expired");
		ring_page_in(q, i);
	}
}

static void queue_ttl_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	queue_ref(q);
	queue_expire_heads(q);
	queue_schedule_ttl(q);
	queue_unref(q);
}

/* ---- enqueue ---- */

static uint64_t entry_expiry(const struct queue *q, const struct message *m)
{
	uint64_t ttl = UINT64_MAX;

	if (q->qa.has_ttl)
		ttl = q->qa.ttl_ms;
	if (m->has_ttl && m->ttl_ms < ttl)
		ttl = m->ttl_ms;
	if (ttl == UINT64_MAX)
		return 0;
	return now_ms() + ttl; /* the clock is never 0, so neither is this */
}

/* Would one more message of this size pass x-max-length or x-max-length-bytes? */
static bool queue_over_limit(const struct queue *q, uint64_t extra_bytes)
{
	return (q->qa.has_max_len && q->count + 1 > q->qa.max_len) ||
	    (q->qa.has_max_bytes && q->bytes + extra_bytes > q->qa.max_bytes);
}

static struct consumer *queue_pick_consumer(struct queue *q);

/* drop-head: take the head off, dead-lettering it ("maxlen"); false when the queue is empty. */
static bool queue_drop_head(struct queue *q)
{
	struct qring *r = queue_head_ring(q);

	if (r == NULL)
		return false;
	queue_drop_entry(q, r, "maxlen");
	return true;
}

int queue_publish(struct queue *q, struct message *m)
{
	struct qentry e;
	struct qpage *pg;
	unsigned ri;
	bool stored;

	if (q->deleted)
		return 0;
	if (queue_over_limit(q, m->body_size)) {
		if (q->qa.overflow != OVERFLOW_DROP_HEAD) {
			if (q->qa.overflow == OVERFLOW_REJECT_PUBLISH_DLX)
				queue_dead_letter(q, m, "maxlen");
			return -1;
		}
		/* drop-head: make room from the front, dead-lettering what falls off. */
		while (queue_over_limit(q, m->body_size) && queue_drop_head(q))
			;
		if (queue_over_limit(q, m->body_size)) {
			/* Even an empty queue cannot take it (x-max-length 0, or a body too large). */
			queue_dead_letter(q, m, "maxlen");
			return 0;
		}
	}
	e.expires_at = entry_expiry(q, m);
	if (e.expires_at != 0 && e.expires_at <= now_ms() &&
	    (q->count > 0 || queue_pick_consumer(q) == NULL)) {
		/* A TTL of 0 with no consumer to take it at once: as RabbitMQ, it dies now. */
		queue_dead_letter(q, m, "expired");
		return 0;
	}
	e.m = message_ref(m);
	e.seq = ++q->next_seq;
	e.redelivered = false;
	e.delivery_count = 0;
	ri = queue_ring_index(q, m);
	pg = q->pages != NULL ? &q->pages[ri] : NULL;
	if (pg != NULL && (qpage_active(pg) || pg->loading))
		queue_ring_push(&pg->tail, &e); /* behind the paged entries */
	else
		queue_ring_push(&q->rings[ri], &e);
	q->count++;
	q->bytes += m->body_size;
	q->stats.n[MS_PUBLISH]++;
	broker.counters.queue_published++;
	stored = persist_enqueue(q, m, e.seq, e.expires_at);
	if (pg != NULL && pg->tail.len > 0)
		tail_page_out(q, ri, false);
	else
		ring_page_out_back(q, ri, false);
	if (e.expires_at != 0 && q->ttl_ev != NULL && !evtimer_pending(q->ttl_ev, NULL))
		queue_schedule_ttl(q);
	broker_kick(q);
	return stored ? 1 : 0;
}

void queue_requeue(
    struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at, uint32_t count)
{
	struct qentry e = { m, seq, expires_at, true, count < UINT32_MAX ? count + 1 : count };
	bool expired = expires_at != 0 && expires_at <= now_ms();

	/*
	 * As RabbitMQ, a message requeued when its TTL is up (a TTL of 0 too) dies now, and (as its
	 * quorum queues) one returned more often than x-delivery-limit.
	 */
	if (q->deleted || expired ||
	    (q->qa.has_delivery_limit && e.delivery_count > q->qa.delivery_limit)) {
		if (!q->deleted)
			queue_dead_letter(q, m, expired ? "expired" : "delivery_limit");
		persist_remove(q, m, seq);
		message_unref(m);
		return;
	}
	persist_requeue(q, m, seq, expires_at, e.delivery_count);
	queue_ring_insert(&q->rings[queue_ring_index(q, m)], &e);
	q->count++;
	q->bytes += m->body_size;
	/* As RabbitMQ, a requeue past the limits of a drop-head queue drops from the head. */
	while (q->qa.overflow == OVERFLOW_DROP_HEAD &&
	    ((q->qa.has_max_len && q->count > q->qa.max_len) ||
	        (q->qa.has_max_bytes && q->bytes > q->qa.max_bytes)) &&
	    queue_drop_head(q))
		;
	if (expires_at != 0)
		queue_schedule_ttl(q);
	broker_kick(q);
}

bool queue_pop(struct queue *q, struct qentry *out)
{
	struct qring *r;

	queue_expire_heads(q);
	if ((r = queue_head_ring(q)) == NULL) {
		for (unsigned i = 0; q->pages != NULL && i < q->nrings; i++)
			ring_page_in(q, i);
		return false;
	}
	queue_ring_pop(r, out);
	q->count--;
	q->bytes -= out->m->body_size;
	ring_page_in(q, (unsigned)(r - q->rings));
	return true;
}

/* ---- delivery ---- */

/*
 * x-dispatch least-unacked: of the ready consumers of the highest priority, the one with the
 * fewest unacknowledged messages, the first in list order on a tie (the list turns as for round
 * robin, so ties go in turn). One pass over the consumers, as round robin.
 */
static struct consumer *queue_pick_least_unacked(struct queue *q)
{
	struct consumer *c, *best = NULL;

	TAILQ_FOREACH(c, &q->consumers, q_entry)
	{
		if (broker.events.consumer_ready(c) &&
		    (best == NULL || c->priority > best->priority ||
		        (c->priority == best->priority && c->unacked < best->unacked)))
			best = c;
	}
	return best;
}

/* The consumer to deliver to next: highest priority among those ready, first in list order. */
static struct consumer *queue_pick_consumer(struct queue *q)
{
	struct consumer *c, *best = NULL;

	if (q->qa.dispatch == DISPATCH_LEAST_UNACKED && !q->qa.single_active)
		return queue_pick_least_unacked(q);
	TAILQ_FOREACH(c, &q->consumers, q_entry)
	{
		if (q->qa.single_active) /* only the first consumer is active */
			return broker.events.consumer_ready(c) ? c : NULL;
		if (broker.events.consumer_ready(c) &&
		    (best == NULL || c->priority > best->priority))
			best = c;
	}
	return best;
}

void queue_dispatch(struct queue *q)
{
	struct consumer *c;
	struct qentry e;

	if (q->deleted || q->nconsumers == 0)
		return;
	queue_expire_heads(q);
	while (q->count > 0 && (c = queue_pick_consumer(q)) != NULL) {
		if (!queue_pop(q, &e))
			break;
		/* Round robin: the consumer just served goes to the back. */
		if (!q->qa.single_active && TAILQ_NEXT(c, q_entry) != NULL) {
			TAILQ_REMOVE(&q->consumers, c, q_entry);
			TAILQ_INSERT_TAIL(&q->consumers, c, q_entry);
		}
		broker.events.consumer_deliver(c, &e);
		if (q->deleted)
			break;
	}
	queue_schedule_ttl(q);
}

void queue_dispatch_pending(void)
{
	struct queue *q;

	while ((q = TAILQ_FIRST(&broker.dispatch_list)) != NULL) {
		TAILQ_REMOVE(&broker.dispatch_list, q, dispatch_entry);
		q->dispatch_pending = false;
		queue_dispatch(q);
		queue_unref(q);
	}
}

void queue_consumer_gone(struct queue *q)
{
	if (q->nconsumers > 0 || q->deleted)
		return;
	if (q->auto_delete && q->had_consumer) {
		log_debug("queue '%s': auto-deleted with its last consumer", q->name);
		queue_delete(q);
		return;
	}
	queue_touch(q);
}

/* ---- dead-lettering ---- */

void queue_dead_letter(struct queue *q, struct message *m, const char *reason)
{
	struct exchange *x;
	struct message *dm;

	if (q->qa.dlx == NULL || q->deleted)
		return;
	if ((x = vhost_exchange(q->vhost, amqp_cstr(q->qa.dlx))) == NULL) {
		log_debug("queue '%s': dead-letter exchange '%s' missing; message dropped", q->name,
		    q->qa.dlx);
		return;
	}
	dm = deadletter_message(q, m, reason);
	if (dm == NULL)
		return;
	deadletter_route(q, x, dm, reason);
	message_unref(dm);
}
