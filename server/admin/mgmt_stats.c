/*
 * mgmt_stats.c: the statistics sampler. Every STATS_INTERVAL_MS (5 s, RabbitMQ's default sample
 * interval) it copies each counter of every queue, channel and connection, and the broker's
 * totals, into slot `head` of its ring; a rate is the difference of the last two samples over the
 * time between them. The counters are incremented where things happen (model and protocol
 * layers), so the message path pays one integer increment and nothing is allocated for statistics.
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
			sample_msg(&((struct queue *)val)->stats);
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

void mgmt_stats_start(struct event_base *base)
{
	struct timeval tv = { STATS_INTERVAL_MS / 1000, (STATS_INTERVAL_MS % 1000) * 1000 };

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
