/*
 * vhost.c: virtual hosts, each with its own exchanges and queues, created with the exchanges
 * every RabbitMQ vhost has: the default exchange "" and amq.direct, amq.fanout, amq.topic,
 * amq.headers and amq.match.
 */
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

struct vhost *vhost_find(struct amqp_bytes name)
{
	return hmap_get(&broker.vhosts, name.ptr, name.len);
}

struct vhost *vhost_create(const char *name)
{
	static const struct {
		const char *name;
		enum exchange_type type;
	} predeclared[] = {
		{ "", EX_DIRECT },
		{ "amq.direct", EX_DIRECT },
		{ "amq.fanout", EX_FANOUT },
		{ "amq.topic", EX_TOPIC },
		{ "amq.headers", EX_HEADERS },
		{ "amq.match", EX_HEADERS },
	};
	struct vhost *v = xcalloc(1, sizeof(*v));
	size_t i;

	v->name = xstrdup(name);
	hmap_init(&v->exchanges);
	hmap_init(&v->queues);
	hmap_put(&broker.vhosts, v->name, strlen(v->name), v);
	for (i = 0; i < sizeof(predeclared) / sizeof(predeclared[0]); i++)
		exchange_new(v, amqp_cstr(predeclared[i].name), predeclared[i].type, true, false,
		    false, (struct amqp_bytes){ NULL, 0 });
	return v;
}

void vhost_free(struct vhost *v)
{
	struct hmap_iter it;
	void *p;

	v->dying = true;
	/* Queues first: deleting them unbinds them from the exchanges. */
	hmap_iter_init(&v->queues, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		queue_delete(p);
	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		exchange_delete(p);
	hmap_clear(&v->queues);
	hmap_clear(&v->exchanges);
	free(v->name);
	free(v);
}

struct exchange *vhost_exchange(struct vhost *v, struct amqp_bytes name)
{
	return hmap_get(&v->exchanges, name.ptr, name.len);
}

struct queue *vhost_queue(struct vhost *v, struct amqp_bytes name)
{
	return hmap_get(&v->queues, name.ptr, name.len);
}
