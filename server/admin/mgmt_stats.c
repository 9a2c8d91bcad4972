/*
 * mgmt_stats.c: the statistics sampler. Every collect_statistics_interval (warren.conf(5);
 * STATS_INTERVAL_MS, 5 s, RabbitMQ's default) it copies each counter of every queue, channel and connection, and the broker's
 * totals, into slot `head` of its ring; a rate is the difference of the last two samples over the
 * time between them. The counters are incremented where things happen (model and protocol
 * layers), so the message path pays one integer increment and nothing is allocated for statistics.
 * Queues keep less (struct queue_stats): the last sample's low 32 bits of each counter, and what
 * each moved by in the last interval only while the queue is active; an idle queue's rates are 0.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

static struct {
	struct event *ev;
	unsigned head;              /* the slot the last sample went into */
	uint64_t at[STATS_SAMPLES]; /* when each slot was sampled (loop ms) */
	unsigned taken;             /* samples taken so far (up to STATS_SAMPLES) */
} S;

double mgmt_rate_of(const struct rate_ring *ring)
{
	unsigned prev = (S.head + STATS_SAMPLES - 1) % STATS_SAMPLES;
	uint64_t dt;

	if (S.taken < 2 || (dt = S.at[S.head] - S.at[prev]) == 0 || ring->s[S.head] < ring->s[prev])
		return 0.0;
	return (double)(ring->s[S.head] - ring->s[prev]) * 1000.0 / (double)dt;
}

static void sample_msg(struct msg_stats *m)
{
	unsigned i;

	for (i = 0; i < MS_COUNT; i++)
		m->ring[i].s[S.head] = m->n[i];
}

double mgmt_delta_rate(uint32_t delta)
{
	unsigned prev = (S.head + STATS_SAMPLES - 1) % STATS_SAMPLES;
	uint64_t dt;

	if (S.taken < 2 || (dt = S.at[S.head] - S.at[prev]) == 0)
		return 0.0;
	return (double)delta * 1000.0 / (double)dt;
}

double mgmt_queue_rate(const struct queue_stats *qs, enum msg_stat i)
{
	return qs->rates != NULL && i < QS_COUNT ? mgmt_delta_rate(qs->rates->delta[i]) : 0.0;
}

/* Moves of 2^32 or more in one interval would wrap: four billion messages in five seconds. */
static void sample_queue(struct queue_stats *qs)
{
	uint32_t d[QS_COUNT], moved = 0;
	unsigned i;

	for (i = 0; i < QS_COUNT; i++) {
		d[i] = (uint32_t)qs->n[i] - qs->last[i];
		qs->last[i] = (uint32_t)qs->n[i];
		moved |= d[i];
	}
	if (moved == 0) {
		free(qs->rates);
		qs->rates = NULL;
		return;
	}
	if (qs->rates == NULL)
		qs->rates = xmalloc(sizeof(*qs->rates));
	memcpy(qs->rates->delta, d, sizeof(d));
}

static void sample_io(struct io_stats *io)
{
	unsigned i;

	for (i = 0; i < IO_COUNT; i++)
		io->ring[i].s[S.head] = io->n[i];
}

static void sample(void)
{
	struct hmap_iter vi, qi;
	const void *k;
	size_t kl;
	void *val;
	struct conn *c;
	struct channel *ch;

	S.head = (S.head + 1) % STATS_SAMPLES;
	S.at[S.head] = now_ms();
	if (S.taken < STATS_SAMPLES)
		S.taken++;
	sample_msg(&broker.totals);
	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, &k, &kl, &val)) {
		struct vhost *v = val;
		hmap_iter_init(&v->queues, &qi);
		while (hmap_iter_next(&qi, &k, &kl, &val))
			sample_queue(&((struct queue *)val)->stats);
	}
	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		sample_io(&c->io);
		LIST_FOREACH(ch, &c->channels, entry)
		sample_msg(&ch->stats);
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	sample();
}

void mgmt_stats_start(struct event_base *base, unsigned interval_ms)
{
	struct timeval tv = { interval_ms / 1000, (interval_ms % 1000) * 1000 };

	if (S.ev != NULL)
		return;
	sample(); /* the first sample now: rates show from the second */
	S.ev = event_new(base, -1, EV_PERSIST, timer_cb, NULL);
	event_add(S.ev, &tv);
}

void mgmt_stats_stop(void)
{
	if (S.ev != NULL)
		event_free(S.ev);
	S.ev = NULL;
}
