/*
 * handle_tx.c: the tx and confirm classes. A transaction holds the channel's publishes and
 * acknowledgements until tx.commit and drops them on tx.rollback; a channel is transactional or in
 * confirm mode, never both (406, as RabbitMQ).
 */
#include "server/proto/proto.h"

static void tx_commit(struct channel *ch)
{
	struct msg_view v;
	struct exchange *x;
	size_t i;

	for (i = 0; i < ch->txp_len; i++) {
		struct message *m = ch->txp[i].m;
		x = vhost_exchange(ch->conn->vhost,
		    (struct amqp_bytes){ (const uint8_t *)m->exchange, m->exchange_len });
		if (ch->txp[i].props_decoded)
			msg_view_init_decoded(&v, m, &ch->txp[i].props);
		else
			msg_view_init(&v, m);
		basic_route_and_enqueue(ch, x, &v, ch->txp[i].mandatory, false, 0);
		msg_view_done(&v);
		message_unref(m);
	}
	ch->txp_len = 0;
	channel_tx_end(ch, true);
}

static void tx_rollback(struct channel *ch)
{
	size_t i;

	for (i = 0; i < ch->txp_len; i++)
		message_unref(ch->txp[i].m);
	ch->txp_len = 0;
	channel_tx_end(ch, false);
}

void handle_tx_select(struct channel *ch, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_tx_select_ok };

	if (ch->confirm) {
		channel_error(
		    ch, AMQP_PRECONDITION_FAILED, m->id, "cannot switch from confirm to tx mode");
		return;
	}
	ch->tx = true;
	conn_send_method(ch->conn, ch->id, &r);
}

/* tx.commit and tx.rollback. */
void handle_tx_end(struct channel *ch, const struct amqp_method *m)
{
	bool commit = m->id == AMQP_ID_tx_commit;
	struct amqp_method r = { .id = commit ? AMQP_ID_tx_commit_ok : AMQP_ID_tx_rollback_ok };

	if (!ch->tx) {
		channel_error(ch, AMQP_PRECONDITION_FAILED, m->id, "channel is not transactional");
		return;
	}
	if (commit)
		tx_commit(ch);
	else
		tx_rollback(ch);
	conn_send_method(ch->conn, ch->id, &r);
}

void handle_confirm_select(struct channel *ch, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_confirm_select_ok };

	if (ch->tx) {
		channel_error(
		    ch, AMQP_PRECONDITION_FAILED, m->id, "cannot switch from tx to confirm mode");
		return;
	}
	ch->confirm = true;
	if (!m->u.confirm_select.nowait)
		conn_send_method(ch->conn, ch->id, &r);
}
