/*
 * queue_private.h: what queue.c and queue_page.c (a queue's paging) share, private to them.
 */
#ifndef WARREN_SERVER_MODEL_QUEUE_PRIVATE_H
#define WARREN_SERVER_MODEL_QUEUE_PRIVATE_H

#include "server/model/model.h"

/* queue_page.c (each says what it does where it is defined) */
void queue_page_out_back(struct queue *q, unsigned ri, bool force);
void queue_tail_page_out(struct queue *q, unsigned ri, bool force);
void queue_ring_page_in(struct queue *q, unsigned ri);
/* The basic.gets waiting for a read of q go on (broker.events.load_done). */
void queue_wake_waiters(struct queue *q);

/* queue.c */
/* Arm the TTL timer for the head that expires first. */
void queue_schedule_ttl(struct queue *q);
/*
 * drop-head past x-max-length or x-max-length-bytes: drop (dead-letter) from the head down to the
 * limits; a head paged out is read back first, and queue_paged_in trims again.
 */
void queue_trim(struct queue *q);

#endif /* WARREN_SERVER_MODEL_QUEUE_PRIVATE_H */
