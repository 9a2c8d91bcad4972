/*
 * consumer.c: consumers: whether one can take a message now (its prefetch credit, its channel's
 * global credit and flow, its connection's output), delivering a message to it, and cancelling it
 * from either side.
 */
#include <stdlib.h>
#include <string.h>

#include "server/proto/proto.h"

void consumer_unref(struct consumer *c)
{
	if (--c->refs > 0)
		return;
	free(c->args);
	free(c->tag);
	free(c);
}

bool consumer_ready(const struct consumer *c)
{
	const struct channel *ch = c->ch;

	if (c->cancelled || ch->state != CH_OPEN || conn_output_full(ch->conn))
		return false;
	/* As RabbitMQ, a channel at its global prefetch holds back its no-ack consumers too. */
	if (ch->prefetch_global != 0 && ch->unacked_count >= ch->prefetch_global)
		return false;
	return c->no_ack || c->prefetch == 0 || c->unacked < c->prefetch;
}

void consumer_deliver(struct consumer *c, struct qentry *e)
{
	struct channel *ch = c->ch;
	struct amqp_method m = { .id = AMQP_ID_basic_deliver };
	struct amqp_basic_deliver *d = &m.u.basic_deliver;
	unsigned k = c->no_ack ? MS_DELIVER_NO_ACK : MS_DELIVER;

	c->queue->stats.n[k]++;
	ch->stats.n[k]++;
	broker.totals.n[k]++;
	if (e->redelivered) {
		c->queue->stats.n[MS_REDELIVER]++;
		ch->stats.n[MS_REDELIVER]++;
		broker.totals.n[MS_REDELIVER]++;
	}

	d->consumer_tag = (struct amqp_bytes){ (const uint8_t *)c->tag, c->tag_len };
	d->redelivered = e->redelivered;
	d->exchange = (struct amqp_bytes){ (const uint8_t *)e->m->exchange, e->m->exchange_len };
	d->routing_key = (struct amqp_bytes){ (const uint8_t *)e->m->routing_key, e->m->rk_len };
	if (c->no_ack) {
		d->delivery_tag = ++ch->next_tag;
		if (persist_removal_holds(c->queue, e->m))
			conn_hold(ch->conn);
		conn_send_content(ch->conn, ch->id, &m, e->m, e->delivery_count);
		persist_remove(c->queue, e->m, e->seq);
		message_unref(e->m);
		return;
	}
	if (persist_delivered(c->queue, e->m, e->seq))
		conn_hold(ch->conn);
	d->delivery_tag = channel_add_unacked(ch, c->queue, e, c);
	conn_send_content(ch->conn, ch->id, &m, e->m, e->delivery_count);
}

void consumer_cancel(struct consumer *c, bool notify)
{
	struct channel *ch = c->ch;
	struct queue *q = c->queue;
	struct amqp_method m = { .id = AMQP_ID_basic_cancel };

	if (c->cancelled)
		return;
	c->cancelled = true;
	TAILQ_REMOVE(&q->consumers, c, q_entry);
	q->nconsumers--;
	LIST_REMOVE(c, ch_entry);
	hmap_del(&ch->consumer_tags, c->tag, c->tag_len);
	if (notify && ch->conn->caps.cancel_notify && ch->state == CH_OPEN && !ch->hold_cancels) {
		m.u.basic_cancel.consumer_tag =
		    (struct amqp_bytes){ (const uint8_t *)c->tag, c->tag_len };
		m.u.basic_cancel.nowait = true;
		conn_send_method(ch->conn, ch->id, &m);
	}
	/* With single active consumer, the next one in line takes over. */
	if (q->qa.single_active && q->nconsumers > 0)
		broker_kick(q);
	if (!q->deleted)
		queue_consumer_gone(q);
	consumer_unref(c);
}
