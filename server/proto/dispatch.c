/*
 * dispatch.c: which function handles each method a client sends on an open channel, as one table
 * indexed by method (connection-class methods on channel 0 have their own, in
 * handle_connection.c), and the one answer for every other method: 503 COMMAND_INVALID
 * "unimplemented method", RabbitMQ's words. Content methods (basic.publish) never come here:
 * channel.c assembles the message first.
 */
#include <string.h>

#include "server/proto/proto.h"

struct method_handler {
	void (*fn)(struct channel *ch, const struct amqp_method *m);
	bool names; /* exchange and queue names in it lose CR and LF first, as in RabbitMQ */
};

static const struct method_handler handlers[AMQP_NMETHODS] = {
	[AMQP_IDX_channel_open] = { .fn = handle_channel_open },
	[AMQP_IDX_channel_flow] = { .fn = handle_channel_flow },
	[AMQP_IDX_channel_close] = { .fn = handle_channel_close },
	[AMQP_IDX_access_request] = { .fn = handle_access_request },
	[AMQP_IDX_exchange_declare] = { .fn = handle_exchange_declare, .names = true },
	[AMQP_IDX_exchange_delete] = { .fn = handle_exchange_delete, .names = true },
	[AMQP_IDX_exchange_bind] = { .fn = handle_exchange_bind, .names = true },
	[AMQP_IDX_exchange_unbind] = { .fn = handle_exchange_bind, .names = true },
	[AMQP_IDX_queue_declare] = { .fn = handle_queue_declare, .names = true },
	[AMQP_IDX_queue_bind] = { .fn = handle_queue_bind, .names = true },
	[AMQP_IDX_queue_purge] = { .fn = handle_queue_purge, .names = true },
	[AMQP_IDX_queue_delete] = { .fn = handle_queue_delete, .names = true },
	[AMQP_IDX_queue_unbind] = { .fn = handle_queue_bind, .names = true },
	[AMQP_IDX_basic_qos] = { .fn = handle_basic_qos },
	[AMQP_IDX_basic_consume] = { .fn = handle_basic_consume },
	[AMQP_IDX_basic_cancel] = { .fn = handle_basic_cancel },
	[AMQP_IDX_basic_get] = { .fn = handle_basic_get },
	[AMQP_IDX_basic_ack] = { .fn = handle_basic_ack },
	[AMQP_IDX_basic_reject] = { .fn = handle_basic_reject },
	[AMQP_IDX_basic_recover_async] = { .fn = handle_basic_recover },
	[AMQP_IDX_basic_recover] = { .fn = handle_basic_recover },
	[AMQP_IDX_basic_nack] = { .fn = handle_basic_nack },
	[AMQP_IDX_confirm_select] = { .fn = handle_confirm_select },
	[AMQP_IDX_tx_select] = { .fn = handle_tx_select },
	[AMQP_IDX_tx_commit] = { .fn = handle_tx_end },
	[AMQP_IDX_tx_rollback] = { .fn = handle_tx_end },
};

/* RabbitMQ's strip_cr_lf: CR and LF are dropped from exchange and queue names. */
static void strip_cr_lf(struct amqp_bytes *b, uint8_t buf[256])
{
	size_t i, n = 0;

	if (memchr(b->ptr, '\r', b->len) == NULL && memchr(b->ptr, '\n', b->len) == NULL)
		return;
	for (i = 0; i < b->len; i++)
		if (b->ptr[i] != '\r' && b->ptr[i] != '\n')
			buf[n++] = b->ptr[i];
	*b = (struct amqp_bytes){ buf, n };
}

static void strip_names(struct amqp_method *m)
{
	static uint8_t a[256], b[256];

	switch (m->id) {
	case AMQP_ID_exchange_declare: strip_cr_lf(&m->u.exchange_declare.exchange, a); break;
	case AMQP_ID_exchange_delete: strip_cr_lf(&m->u.exchange_delete.exchange, a); break;
	case AMQP_ID_exchange_bind:
		strip_cr_lf(&m->u.exchange_bind.destination, a);
		strip_cr_lf(&m->u.exchange_bind.source, b);
		break;
	case AMQP_ID_exchange_unbind:
		strip_cr_lf(&m->u.exchange_unbind.destination, a);
		strip_cr_lf(&m->u.exchange_unbind.source, b);
		break;
	case AMQP_ID_queue_declare: strip_cr_lf(&m->u.queue_declare.queue, a); break;
	case AMQP_ID_queue_delete: strip_cr_lf(&m->u.queue_delete.queue, a); break;
	case AMQP_ID_queue_purge: strip_cr_lf(&m->u.queue_purge.queue, a); break;
	case AMQP_ID_queue_bind:
		strip_cr_lf(&m->u.queue_bind.queue, a);
		strip_cr_lf(&m->u.queue_bind.exchange, b);
		break;
	case AMQP_ID_queue_unbind:
		strip_cr_lf(&m->u.queue_unbind.queue, a);
		strip_cr_lf(&m->u.queue_unbind.exchange, b);
		break;
	}
}

void dispatch_method(struct channel *ch, const struct amqp_method *m)
{
	int i = amqp_method_index(m->id);
	const struct method_handler *h = i >= 0 ? &handlers[i] : NULL;
	struct amqp_method stripped;

	if (h == NULL || h->fn == NULL) {
		conn_error(ch->conn, AMQP_COMMAND_INVALID, m->id, "unimplemented method");
		return;
	}
	if (h->names) {
		stripped = *m;
		strip_names(&stripped);
		m = &stripped;
	}
	h->fn(ch, m);
}
