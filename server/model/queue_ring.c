/*
 * queue_ring.c: a queue's rings, one per priority level: growable power-of-two circular arrays of
 * entries in sequence order (a requeued entry goes back to its old place), and which ring holds a
 * message and which the next one to deliver. The paging of a ring's back and the read back of its
 * next entries are queue.c's.
 */
#include <stdlib.h>

#include "server/model/model.h"

/* Double the ring's capacity (16 at first), its entries moved to the front in order. */
static void queue_ring_grow(struct qring *r)
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

void queue_ring_push(struct qring *r, const struct qentry *e)
{
	if (r->len == r->cap)
		queue_ring_grow(r);
	*queue_ring_at(r, r->len) = *e;
	r->len++;
	r->bytes += e->m->body_size;
}

void queue_ring_pop(struct qring *r, struct qentry *out)
{
	*out = *queue_ring_at(r, 0);
	r->head = (r->head + 1) & (r->cap - 1);
	r->len--;
	r->bytes -= out->m->body_size;
}

/* Insert by seq: requeues usually land at the front, so search from there. */
void queue_ring_insert(struct qring *r, const struct qentry *e)
{
	size_t pos = 0, i;

	if (r->len == r->cap)
		queue_ring_grow(r);
	r->bytes += e->m->body_size;
	while (pos < r->len && queue_ring_at(r, pos)->seq < e->seq)
		pos++;
	if (pos == 0) {
		r->head = (r->head + r->cap - 1) & (r->cap - 1);
		*queue_ring_at(r, 0) = *e;
		r->len++;
		return;
	}
	for (i = r->len; i > pos; i--)
		*queue_ring_at(r, i) = *queue_ring_at(r, i - 1);
	*queue_ring_at(r, pos) = *e;
	r->len++;
}

/* The ring holding the next message to deliver: the highest priority that has one. */
struct qring *queue_head_ring(struct queue *q)
{
	unsigned i;

	for (i = q->nrings; i-- > 0;) {
		if (q->rings[i].len > 0)
			return &q->rings[i];
		/* Its next entries are being read: lower priorities wait rather than overtake. */
		if (q->pages != NULL && qpage_active(&q->pages[i]))
			return NULL;
	}
	return NULL;
}
