/*
 * recover.c: the model's side of the store. The hooks persistence reports through (registered by
 * broker_init): what start-up reads back becomes vhosts' exchanges, queues and bindings; paged
 * messages read back become messages again; alarms and released queues go to the model.
 */
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

/* Definitions of a vhost that is no longer configured stay on disk; nothing of them loads. */
static bool load_exchange(const struct rec_exchange *x)
{
	struct vhost *v = vhost_find(x->vhost);
	struct exchange *nx;

	if (v == NULL || vhost_exchange(v, x->name) != NULL)
		return false;
	nx = exchange_new(
	    v, x->name, (enum exchange_type)x->type, true, x->auto_delete, x->internal, x->args);
	if (nx->delay != NULL)
		delay_set_xid(nx, x->xid);
	return true;
}

static struct queue *load_queue(const struct rec_queue *rq)
{
	struct vhost *v = vhost_find(rq->vhost);
	struct queue_args qa;
	char err[512], *qname;

	if (v == NULL || vhost_queue(v, rq->name) != NULL)
		return NULL;
	qname = xbytesdup(rq->name);
	if (queue_args_parse(rq->args, &qa, qname, v->name, err, sizeof(err)) != 0) {
		log_warn("store: queue '%s': %s; recovered without its arguments", qname, err);
		memset(&qa, 0, sizeof(qa));
	}
	free(qname);
	return queue_new(v, rq->name, true, false, rq->auto_delete, NULL, rq->args, &qa);
}

static bool load_binding(const struct rec_binding *b)
{
	struct vhost *v = vhost_find(b->vhost);
	struct exchange *x, *dx = NULL;
	struct queue *dq = NULL;

	if (v == NULL || (x = vhost_exchange(v, b->source)) == NULL)
		return false;
	if (b->dest_kind == 'q')
		dq = vhost_queue(v, b->dest);
	else
		dx = vhost_exchange(v, b->dest);
	if (dq == NULL && dx == NULL)
		return false;
	exchange_bind_recovered(x, dq, dx, b->key, b->args, b->ring_seq);
	return true;
}

static void load_message_id(uint64_t last)
{
	if (last > broker.next_message_id)
		broker.next_message_id = last;
}

static struct message *message_from_record(const struct rec_message *r)
{
	struct message *m = message_new(r->exchange, r->routing_key, r->props, r->body.len);

	message_append_body(m, r->body.ptr, r->body.len);
	return m;
}

const struct persist_hooks broker_persist_hooks = {
	.alarm = broker_set_alarm,
	.release = queue_unref,
	.message = message_from_record,
	.paged_in = queue_paged_in,
	.load_exchange = load_exchange,
	.load_queue = load_queue,
	.load_binding = load_binding,
	.load_entries = queue_recover_paged,
	.load_message_id = load_message_id,
	.load_delayed = delay_loaded,
	.delayed_in = delay_read_in,
	.role = cluster_role_changed,
};
