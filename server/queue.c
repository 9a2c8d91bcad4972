/*
 * queue.c: queues: a ring of entries per priority level, ordered by a sequence number so that a
 * requeued message goes back to its old place; delivery to consumers in round robin (highest
 * consumer priority first), bounded by their prefetch credit; message TTL, queue expiry,
 * max-length with its overflow modes, and dead-lettering.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

/* ---- rings ---- */

static void ring_grow(struct qring *r)
{
	size_t ncap = r->cap != 0 ? r->cap * 2 : 16, i;
	struct qentry *nv = xreallocarray(NULL, ncap, sizeof(*nv));

	for (i = 0; i < r->len; i++)
		nv[i] = r->v[(r->head + i) & (r->cap - 1)];
	free(r->v);
	r->v = nv;
	r->cap = ncap;
	r->head = 0;
}

static inline struct qentry *ring_at(const struct qring *r, size_t i)
{
	return &r->v[(r->head + i) & (r->cap - 1)];
}

static void ring_push(struct qring *r, const struct qentry *e)
{
	if (r->len == r->cap)
		ring_grow(r);
	*ring_at(r, r->len) = *e;
	r->len++;
}

static void ring_pop(struct qring *r, struct qentry *out)
{
	*out = *ring_at(r, 0);
	r->head = (r->head + 1) & (r->cap - 1);
	r->len--;
}

/* Insert by seq: requeues usually land at the front, so search from there. */
static void ring_insert(struct qring *r, const struct qentry *e)
{
	size_t pos = 0, i;

	if (r->len == r->cap)
		ring_grow(r);
	while (pos < r->len && ring_at(r, pos)->seq < e->seq)
		pos++;
	if (pos == 0) {
		r->head = (r->head + r->cap - 1) & (r->cap - 1);
		*ring_at(r, 0) = *e;
		r->len++;
		return;
	}
	for (i = r->len; i > pos; i--)
		*ring_at(r, i) = *ring_at(r, i - 1);
	*ring_at(r, pos) = *e;
	r->len++;
}

/* The ring holding the next message to deliver: the highest priority that has one. */
static struct qring *queue_head_ring(struct queue *q)
{
	unsigned i;

	for (i = q->nrings; i-- > 0;)
		if (q->rings[i].len > 0)
			return &q->rings[i];
	return NULL;
}

static struct qring *queue_ring_for(struct queue *q, const struct message *m)
{
	unsigned p = m->priority;

	if (p >= q->nrings)
		p = q->nrings - 1;
	return &q->rings[p];
}

/* ---- life cycle ---- */

static void queue_expire_cb(evutil_socket_t fd, short what, void *arg);
static void queue_ttl_cb(evutil_socket_t fd, short what, void *arg);

struct queue *queue_new(struct vhost *v, struct amqp_bytes name, bool durable, bool exclusive,
    bool auto_delete, struct conn *owner, struct amqp_bytes args, const struct queue_args *qa)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	q->name = xbytesdup(name);
	q->name_len = name.len;
	q->vhost = v;
	q->refs = 1;
	q->durable = durable;
	q->exclusive = exclusive;
	q->auto_delete = auto_delete;
	q->owner = owner;
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
	persist_queue(q, true);
	return q;
}

void queue_unref(struct queue *q)
{
	unsigned i;

	if (--q->refs > 0)
		return;
	for (i = 0; i < q->nrings; i++)
		free(q->rings[i].v);
	free(q->rings);
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
			ring_pop(&q->rings[i], &e);
			persist_remove(q, e.m, e.seq);
			message_unref(e.m);
		}
	}
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
	log_debug("queue '%s' in vhost '%s': deleted", q->name, q->vhost->name);
	persist_queue(q, false);
	while ((c = TAILQ_FIRST(&q->consumers)) != NULL)
		consumer_cancel(c, true);
	while (!LIST_EMPTY(&q->bound_by))
		binding_free(LIST_FIRST(&q->bound_by));
	n = queue_purge(q);
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
		if (r->len > 0 && ring_at(r, 0)->expires_at != 0 &&
		    (at == 0 || ring_at(r, 0)->expires_at < at))
			at = ring_at(r, 0)->expires_at;
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

/* Drop (dead-letter) expired messages at the ring heads. */
static void queue_expire_heads(struct queue *q)
{
	uint64_t now = now_ms();
	struct qentry e;
	unsigned i;

	for (i = 0; i < q->nrings; i++) {
		struct qring *r = &q->rings[i];
		/* Strictly past: a TTL of 0 still reaches a consumer that is ready right away. */
		while (r->len > 0 && ring_at(r, 0)->expires_at != 0 &&
		    ring_at(r, 0)->expires_at < now) {
			ring_pop(r, &e);
			q->count--;
			q->bytes -= e.m->body_size;
			queue_dead_letter(q, e.m, "expired");
			persist_remove(q, e.m, e.seq);
			message_unref(e.m);
		}
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

static uint64_t entry_expiry(const struct queue *q, const struct message *m, uint64_t now)
{
	uint64_t ttl = UINT64_MAX;

	if (q->qa.has_ttl)
		ttl = q->qa.ttl_ms;
	if (m->has_ttl && m->ttl_ms < ttl)
		ttl = m->ttl_ms;
	if (ttl == UINT64_MAX)
		return 0;
	return now + ttl; /* now is never 0, so neither is this */
}

/* Would one more message of this size pass x-max-length or x-max-length-bytes? */
static bool queue_over_limit(const struct queue *q, uint64_t extra_bytes)
{
	return (q->qa.has_max_len && q->count + 1 > q->qa.max_len) ||
	    (q->qa.has_max_bytes && q->bytes + extra_bytes > q->qa.max_bytes);
}

int queue_publish(struct queue *q, struct message *m)
{
	struct qentry e;
	struct qring *r;

	if (q->deleted)
		return 0;
	if (queue_over_limit(q, m->body_size)) {
		if (q->qa.overflow != OVERFLOW_DROP_HEAD) {
			if (q->qa.overflow == OVERFLOW_REJECT_PUBLISH_DLX)
				queue_dead_letter(q, m, "maxlen");
			return -1;
		}
		/* drop-head: make room from the front, dead-lettering what falls off. */
		while (queue_over_limit(q, m->body_size) && (r = queue_head_ring(q)) != NULL) {
			ring_pop(r, &e);
			q->count--;
			q->bytes -= e.m->body_size;
			queue_dead_letter(q, e.m, "maxlen");
			persist_remove(q, e.m, e.seq);
			message_unref(e.m);
		}
		if (queue_over_limit(q, m->body_size)) {
			/* Even an empty queue cannot take it (x-max-length 0, or a body too large). */
			queue_dead_letter(q, m, "maxlen");
			return 0;
		}
	}
	e.m = message_ref(m);
	e.seq = ++q->next_seq;
	e.expires_at = entry_expiry(q, m, now_ms());
	e.redelivered = false;
	ring_push(queue_ring_for(q, m), &e);
	q->count++;
	q->bytes += m->body_size;
	if (e.expires_at != 0 && q->ttl_ev != NULL && !evtimer_pending(q->ttl_ev, NULL))
		queue_schedule_ttl(q);
	broker_kick(q);
	return persist_enqueue(q, m, e.seq) ? 1 : 0;
}

void queue_recover_entry(struct queue *q, struct message *m, uint64_t seq, bool redelivered)
{
	struct qentry e = { message_ref(m), seq, 0, redelivered };

	/* Entries come in seq order; TTLs restart from now, as the clock of the old process is gone. */
	e.expires_at = entry_expiry(q, m, now_ms());
	ring_push(queue_ring_for(q, m), &e);
	q->count++;
	q->bytes += m->body_size;
	if (seq > q->next_seq)
		q->next_seq = seq;
	if (e.expires_at != 0)
		queue_schedule_ttl(q);
}

void queue_requeue(struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at)
{
	struct qentry e = { m, seq, expires_at, true };

	if (q->deleted) {
		persist_remove(q, m, seq);
		message_unref(m);
		return;
	}
	ring_insert(queue_ring_for(q, m), &e);
	q->count++;
	q->bytes += m->body_size;
	if (expires_at != 0)
		queue_schedule_ttl(q);
	broker_kick(q);
}

bool queue_pop(struct queue *q, struct qentry *out)
{
	struct qring *r;

	queue_expire_heads(q);
	if ((r = queue_head_ring(q)) == NULL)
		return false;
	ring_pop(r, out);
	q->count--;
	q->bytes -= out->m->body_size;
	return true;
}

/* ---- delivery ---- */

/* The consumer to deliver to next: highest priority among those ready, first in list order. */
static struct consumer *queue_pick_consumer(struct queue *q)
{
	struct consumer *c, *best = NULL;

	TAILQ_FOREACH(c, &q->consumers, q_entry)
	{
		if (q->qa.single_active) /* only the first consumer is active */
			return consumer_ready(c) ? c : NULL;
		if (consumer_ready(c) && (best == NULL || c->priority > best->priority))
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
		consumer_deliver(c, &e);
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
