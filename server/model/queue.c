/*
 * queue.c: queues: a ring of entries per priority level (queue_ring.c), ordered by a sequence
 * number so that a requeued message goes back to its old place; delivery to consumers in round
 * robin, or with x-dispatch least-unacked to the one with the fewest unacked messages (highest
 * consumer priority first either way), bounded by their prefetch credit; message TTL, queue
 * expiry, max-length with its overflow modes, and dead-lettering; settings a policy changes
 * (queue_settings_replace). Long queues page (queue_page.c).
 */
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/model/queue_private.h"

/* ---- life cycle ---- */

static void queue_expire_cb(evutil_socket_t fd, short what, void *arg);
static void queue_ttl_cb(evutil_socket_t fd, short what, void *arg);
static bool queue_drop_head(struct queue *q);

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

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
	policy_queue_args(v, name, &q->qa); /* the policies in force, combined with the arguments */
	q->nrings = (unsigned)qa->max_priority + 1;
	q->rings = xcalloc(q->nrings, sizeof(*q->rings));
	TAILQ_INIT(&q->consumers);
	LIST_INIT(&q->bound_by);
	q->ttl_ev = evtimer_new(broker.base, queue_ttl_cb, q);
	q->use_since_us = mono_us();
	q->use_avg = 1.0;
	if (q->qa.has_expires) {
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
	free(q->stats.rates);
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

/* ---- settings changed by a policy ---- */

void queue_settings_replace(struct queue *q, struct queue_args *qa)
{
	struct queue_args old = q->qa;

	q->qa = *qa;
	memset(qa, 0, sizeof(*qa)); /* its strings are the queue's now */
	if (q->deleted) {
		queue_args_free(&old);
		return;
	}
	/* x-expires: (re)started from now, as RabbitMQ re-arms it, or stopped. */
	if (q->qa.has_expires && q->expire_ev == NULL)
		q->expire_ev = evtimer_new(broker.base, queue_expire_cb, q);
	if (!q->qa.has_expires && q->expire_ev != NULL) {
		event_free(q->expire_ev);
		q->expire_ev = NULL;
	}
	if (q->qa.has_expires && (!old.has_expires || old.expires_ms != q->qa.expires_ms))
		queue_touch(q);
	/* Messages keep the expiry they were given; new ones get the new TTL. */
	queue_schedule_ttl(q);
	/*
	 * A lower limit applies at once: drop-head drops (dead-letters) from the head now, through
	 * paged entries as their reads come back; reject-publish keeps what the queue holds.
	 */
	queue_trim(q);
	queue_args_free(&old);
	broker_kick(q); /* the dispatch may have changed, or room been made */
}

/* ---- message TTL ---- */

void queue_schedule_ttl(struct queue *q)
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
		queue_ring_page_in(q, i);
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

/* Does q hold more than its x-max-length or x-max-length-bytes? */
static bool queue_past_limit(const struct queue *q)
{
	return (q->qa.has_max_len && q->count > q->qa.max_len) ||
	    (q->qa.has_max_bytes && q->bytes > q->qa.max_bytes);
}

void queue_trim(struct queue *q)
{
	unsigned i;

	if (q->qa.overflow != OVERFLOW_DROP_HEAD || q->deleted)
		return;
	while (queue_past_limit(q) && queue_drop_head(q))
		;
	/*
	 * Still past: the head is paged out. Its read (never waited for on the loop) comes back
	 * through queue_paged_in, which trims again.
	 */
	for (i = 0; queue_past_limit(q) && q->pages != NULL && i < q->nrings; i++)
		queue_ring_page_in(q, i);
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
		if (queue_over_limit(q, m->body_size) && q->count == 0) {
			/* Even an empty queue cannot take it (x-max-length 0, or a body too large). */
			queue_dead_letter(q, m, "maxlen");
			return 0;
		}
		/*
		 * Still over with messages left: the head is paged out (a limit lowered on a long
		 * queue). The message joins the tail, and the head goes once it is read back.
		 */
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
		queue_tail_page_out(q, ri, false);
	else
		queue_page_out_back(q, ri, false);
	if (q->pages != NULL && (q->qa.has_max_len || q->qa.has_max_bytes) &&
	    q->qa.overflow == OVERFLOW_DROP_HEAD)
		queue_trim(q); /* past the limit behind a paged head: its read is on the way */
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
	queue_trim(q);
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
			queue_ring_page_in(q, i);
		return false;
	}
	queue_ring_pop(r, out);
	q->count--;
	q->bytes -= out->m->body_size;
	queue_ring_page_in(q, (unsigned)(r - q->rings));
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

/*
 * Consumer capacity, as rabbit_queue_consumers.erl: the moving average (half-life 1 s) of the
 * share of time active, updated at each change between active (a delivery found a ready
 * consumer) and idle (one found none with messages waiting).
 */
#define USE_HALF_LIFE_US 1e6

static double use_avg(uint64_t active, uint64_t idle, double avg)
{
	double t = (double)active + (double)idle, w;

	if (t <= 0)
		return avg;
	w = exp(t * log(0.5) / USE_HALF_LIFE_US);
	return (double)active / t * (1 - w) + avg * w;
}

static void queue_use(struct queue *q, bool active)
{
	uint64_t now;

	if (active != q->use_idle)
		return; /* no change */
	now = mono_us();
	if (active)
		q->use_avg = use_avg(q->use_active_us, now - q->use_since_us, q->use_avg);
	else
		q->use_active_us = now - q->use_since_us;
	q->use_since_us = now;
	q->use_idle = !active;
}

double queue_consumer_capacity(const struct queue *q)
{
	uint64_t now = mono_us();

	if (q->nconsumers == 0)
		return 0;
	if (!q->use_idle)
		return use_avg(now - q->use_since_us, 0, q->use_avg);
	return use_avg(q->use_active_us, now - q->use_since_us, q->use_avg);
}

void queue_paged_totals(const struct queue *q, uint64_t *count, uint64_t *bytes)
{
	*count = *bytes = 0;
	for (unsigned i = 0; q->pages != NULL && i < q->nrings; i++) {
		*count += q->pages[i].count;
		*bytes += q->pages[i].bytes;
	}
}

uint64_t queue_memory(const struct queue *q)
{
	uint64_t n = sizeof(*q) + q->name_len + q->args_len, paged, paged_bytes;
	unsigned i;

	queue_paged_totals(q, &paged, &paged_bytes);
	for (i = 0; i < q->nrings; i++) {
		n += sizeof(q->rings[i]) + q->rings[i].cap * sizeof(struct qentry);
		if (q->pages != NULL)
			n += sizeof(q->pages[i]) + q->pages[i].tail.cap * sizeof(struct qentry);
	}
	/* Each message in memory (ready or unacked), its structure: bodies are shared, elsewhere. */
	n += ((q->count > paged ? q->count - paged : 0) + q->unacked) * sizeof(struct message);
	return n + q->nconsumers * sizeof(struct consumer);
}

bool queue_head_timestamp(struct queue *q, uint64_t *ts)
{
	struct qring *r = queue_head_ring(q);
	const struct amqp_basic_properties *p;
	struct msg_view v;
	bool found;

	if (r == NULL || r->len == 0)
		return false;
	msg_view_init(&v, queue_ring_at(r, 0)->m);
	p = msg_view_props(&v);
	found = p != NULL && (p->flags & AMQP_P_TIMESTAMP) != 0;
	if (found)
		*ts = p->timestamp;
	msg_view_done(&v);
	return found;
}

void queue_dispatch(struct queue *q)
{
	struct consumer *c = NULL;
	struct qentry e;
	bool delivered = false;

	if (q->deleted || q->nconsumers == 0)
		return;
	queue_expire_heads(q);
	while (q->count > 0 && (c = queue_pick_consumer(q)) != NULL) {
		if (!queue_pop(q, &e))
			break;
		delivered = true;
		/* Round robin: the consumer just served goes to the back. */
		if (!q->qa.single_active && TAILQ_NEXT(c, q_entry) != NULL) {
			TAILQ_REMOVE(&q->consumers, c, q_entry);
			TAILQ_INSERT_TAIL(&q->consumers, c, q_entry);
		}
		broker.events.consumer_deliver(c, &e);
		if (q->deleted)
			break;
	}
	if (!q->deleted && q->count > 0 && c == NULL)
		queue_use(q, false); /* messages wait, and no consumer can take them */
	else if (!q->deleted && q->use_idle &&
	    (delivered || (q->count == 0 && queue_pick_consumer(q) != NULL)))
		queue_use(q, true); /* (the consumers looked at only when it was idle) */
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
