/*
 * exchange.c: exchanges and bindings, and routing: a message goes to every queue that a chain of
 * matching bindings reaches from the exchange it was published to, once per queue, whatever loops
 * exchange-to-exchange bindings make; an exchange that matches nothing hands the message to its
 * alternate exchange. Routing keys come from the message and its CC and BCC headers.
 */
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

static uint64_t route_mark;

int exchange_type_parse(struct amqp_bytes s, enum exchange_type *t)
{
	static const enum exchange_type all[] = { EX_DIRECT, EX_FANOUT, EX_TOPIC, EX_HEADERS,
		EX_CONSISTENT_HASH, EX_DELAYED };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		if (amqp_bytes_eq_cstr(s, exchange_type_name(all[i]))) {
			*t = all[i];
			return 0;
		}
	}
	return -1;
}

char *exchange_arg_alternate(const struct exchange *x)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *ae;
	char *s = NULL;

	if (x->args_len == 0)
		return NULL;
	amqp_arena_init(&pool);
	if (amqp_table_decode((struct amqp_bytes){ x->args, x->args_len }, &pool, &t) == 0 &&
	    (ae = amqp_table_get(&t, "alternate-exchange")) != NULL &&
	    ae->type == AMQP_FIELD_LONGSTR)
		s = xbytesdup(ae->v.bytes);
	amqp_arena_reset(&pool);
	return s;
}

struct exchange *exchange_new(struct vhost *v, struct amqp_bytes name, enum exchange_type type,
    bool durable, bool auto_delete, bool internal, struct amqp_bytes args)
{
	struct exchange *x = xcalloc(1, sizeof(*x));

	x->name = xbytesdup(name);
	x->name_len = name.len;
	x->vhost = v;
	x->type = type;
	x->route_type = type;
	x->durable = durable;
	x->auto_delete = auto_delete;
	x->internal = internal;
	if (args.len > 0) {
		x->args = xmalloc(args.len);
		memcpy(x->args, args.ptr, args.len);
		x->args_len = args.len;
	}
	/* The argument's alternate exchange, else a policy's (model/policy.c). */
	if ((x->alternate = exchange_arg_alternate(x)) == NULL)
		x->alternate = policy_exchange_alternate(x);
	LIST_INIT(&x->bindings);
	LIST_INIT(&x->bound_to);
	hmap_init(&x->direct);
	if (type == EX_DELAYED)
		delay_init(x); /* routes as its x-delayed-type: route_type */
	if (x->route_type == EX_TOPIC)
		x->trie = topic_trie_new();
	else if (type == EX_CONSISTENT_HASH)
		x->ring = hash_ring_new(args);
	hmap_put(&v->exchanges, x->name, x->name_len, x);
	persist_exchange(x, true);
	return x;
}

void exchange_free(struct exchange *x)
{
	broker.exchange_gen++; /* no channel's x_cache may point here any more */
	hmap_clear(&x->direct);
	topic_trie_free(x->trie);
	hash_ring_free(x->ring);
	delay_free(x);
	free(x->alternate);
	free(x->args);
	free(x->name);
	free(x);
}

/* Unlink b from its source's index, its lists, and free it. */
static void binding_unlink(struct binding *b)
{
	struct exchange *x = b->source;
	struct binding **pp, *head;

	if (x->route_type == EX_DIRECT) {
		head = hmap_get(&x->direct, b->key, b->key_len);
		if (head == b) {
			if (b->next_same_key != NULL)
				hmap_put(&x->direct, b->next_same_key->key,
				    b->next_same_key->key_len, b->next_same_key);
			else
				hmap_del(&x->direct, b->key, b->key_len);
		} else {
			for (pp = &head->next_same_key; *pp != NULL; pp = &(*pp)->next_same_key) {
				if (*pp == b) {
					*pp = b->next_same_key;
					break;
				}
			}
		}
	} else if (x->route_type == EX_TOPIC && b->topic != NULL) {
		topic_trie_remove(x->trie, b->topic);
	} else if (x->type == EX_CONSISTENT_HASH) {
		hash_ring_remove(x->ring, b);
	}
	persist_binding(b, false);
	LIST_REMOVE(b, src_entry);
	LIST_REMOVE(b, dst_entry);
	x->nbindings--;
	free(b->key);
	free(b->args);
	amqp_arena_reset(&b->args_pool);
	free(b);
}

/* Remove a binding; an auto-delete source that loses its last binding goes too. */
void binding_free(struct binding *b)
{
	struct exchange *x = b->source;

	binding_unlink(b);
	if (x->auto_delete && x->nbindings == 0 && !x->vhost->dying) {
		log_debug("exchange '%s': auto-deleted with its last binding", x->name);
		exchange_delete(x);
	}
}

void exchange_delete(struct exchange *x)
{
	/* Bindings from x go quietly; bindings to x may auto-delete their sources. */
	while (!LIST_EMPTY(&x->bindings))
		binding_unlink(LIST_FIRST(&x->bindings));
	while (!LIST_EMPTY(&x->bound_to))
		binding_free(LIST_FIRST(&x->bound_to));
	persist_exchange(x, false);
	hmap_del(&x->vhost->exchanges, x->name, x->name_len);
	exchange_free(x);
}

static bool args_equal(struct amqp_bytes a, struct amqp_bytes b)
{
	struct amqp_arena pool;
	struct amqp_table ta, tb;
	bool eq;

	if (amqp_bytes_eq(a, b))
		return true;
	amqp_arena_init(&pool);
	/*
	 * Order-insensitive comparison costs n^2 in the number of entries: beyond a size no real
	 * binding has, tables that differ in their bytes are different.
	 */
	eq = amqp_table_decode(a, &pool, &ta) == 0 && amqp_table_decode(b, &pool, &tb) == 0 &&
	    ta.n <= 256 && amqp_table_eq(&ta, &tb);
	amqp_arena_reset(&pool);
	return eq;
}

static struct binding *binding_find(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args)
{
	struct binding *b;

	LIST_FOREACH(b, &src->bindings, src_entry)
	{
		if (b->dq == dq && b->de == de && b->key_len == key.len &&
		    memcmp(b->key, key.ptr, key.len) == 0 &&
		    args_equal((struct amqp_bytes){ b->args, b->args_len }, args))
			return b;
	}
	return NULL;
}

int exchange_bind(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args)
{
	return exchange_bind_recovered(src, dq, de, key, args, 0);
}

int exchange_bind_recovered(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args, uint64_t ring_seq)
{
	struct binding *b, *head;

	if (binding_find(src, dq, de, key, args) != NULL)
		return 1;
	b = xcalloc(1, sizeof(*b));
	b->source = src;
	b->dq = dq;
	b->de = de;
	b->key = xbytesdup(key);
	b->key_len = key.len;
	if (args.len > 0) {
		b->args = xmalloc(args.len);
		memcpy(b->args, args.ptr, args.len);
		b->args_len = args.len;
	}
	amqp_arena_init(&b->args_pool);
	if (src->route_type == EX_HEADERS &&
	    amqp_table_decode(
	        (struct amqp_bytes){ b->args, b->args_len }, &b->args_pool, &b->args_table) != 0)
		b->args_table = (struct amqp_table){ 0, NULL };
	LIST_INSERT_HEAD(&src->bindings, b, src_entry);
	if (dq != NULL)
		LIST_INSERT_HEAD(&dq->bound_by, b, dst_entry);
	else
		LIST_INSERT_HEAD(&de->bound_to, b, dst_entry);
	src->nbindings++;
	if (src->route_type == EX_DIRECT) {
		head = hmap_get(&src->direct, b->key, b->key_len);
		if (head != NULL) {
			b->next_same_key = head->next_same_key;
			head->next_same_key = b;
		} else {
			hmap_put(&src->direct, b->key, b->key_len, b);
		}
	} else if (src->route_type == EX_TOPIC) {
		b->topic = topic_trie_add(src->trie, key, b);
	} else if (src->type == EX_CONSISTENT_HASH) {
		hash_ring_add(src->ring, b, ring_seq);
	}
	persist_binding(b, true);
	return 0;
}

int exchange_unbind(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args)
{
	struct binding *b = binding_find(src, dq, de, key, args);

	if (b == NULL)
		return -1;
	binding_free(b);
	return 0;
}

/* ---- routing ---- */

struct route_walk {
	struct route_result *out;
	size_t nstack;
	size_t matched; /* destinations found by the exchange being visited */
};

/* Exchanges still to visit; kept between calls so routing does not allocate. */
static struct exchange **route_stack;
static size_t route_stack_cap;

static void route_add_queue(struct route_result *r, struct queue *q)
{
	if (q->route_mark == route_mark || q->deleted)
		return;
	q->route_mark = route_mark;
	if (r->n == r->cap) {
		r->cap *= 2;
		if (r->queues == r->inline_queues) {
			r->queues = xreallocarray(NULL, r->cap, sizeof(*r->queues));
			memcpy(r->queues, r->inline_queues, sizeof(r->inline_queues));
		} else {
			r->queues = xreallocarray(r->queues, r->cap, sizeof(*r->queues));
		}
	}
	r->queues[r->n++] = q;
}

static void route_push(struct route_walk *w, struct exchange *x)
{
	if (x->route_mark == route_mark)
		return; /* visited: a loop, or two paths to the same exchange */
	x->route_mark = route_mark;
	if (w->nstack == route_stack_cap) {
		route_stack_cap = route_stack_cap != 0 ? route_stack_cap * 2 : 16;
		route_stack = xreallocarray(route_stack, route_stack_cap, sizeof(*route_stack));
	}
	route_stack[w->nstack++] = x;
}

static void route_dest(void *dest, void *arg)
{
	struct binding *b = dest;
	struct route_walk *w = arg;

	w->matched++;
	if (b->dq != NULL)
		route_add_queue(w->out, b->dq);
	else
		route_push(w, b->de);
}

static void route_key(struct exchange *x, struct amqp_bytes key, struct route_walk *w)
{
	struct binding *b;

	switch (x->route_type) {
	case EX_DIRECT:
		for (b = hmap_get(&x->direct, key.ptr, key.len); b != NULL; b = b->next_same_key)
			route_dest(b, w);
		break;
	case EX_TOPIC: topic_trie_match(x->trie, key, route_dest, w); break;
	default: break;
	}
}

/* The routing keys a message carries: its own, then each string in CC and BCC. */
static void route_exchange(struct exchange *x, struct msg_view *view, struct route_walk *w)
{
	static const char *const cc_keys[] = { "CC", "BCC" };
	const struct message *m = view->m;
	/* CC and BCC are looked for only in a message with headers; decoded once, when needed. */
	const struct amqp_table *headers = (message_prop_flags(m) & AMQP_P_HEADERS) &&
	        x->route_type != EX_FANOUT && x->route_type != EX_CONSISTENT_HASH
	    ? msg_view_headers(view)
	    : NULL;
	const struct amqp_field_value *v;
	struct binding *b;
	struct vhost *vh = x->vhost;
	struct exchange *ae;
	uint64_t delay_ms;
	size_t i, k;

	w->matched = 0;
	/* A delayed exchange takes a message with a positive x-delay: routed when it is due. */
	if (x->type == EX_DELAYED && delay_wanted(view, &delay_ms)) {
		route_add_delayed(x, delay_ms);
		return;
	}
	if (x->name_len == 0) {
		/* The default exchange: an implicit binding of every queue by its name. */
		struct queue *q = vhost_queue(
		    vh, (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len });
		if (q != NULL) {
			w->matched++;
			route_add_queue(w->out, q);
		}
		for (k = 0; headers != NULL && k < 2; k++) {
			if ((v = amqp_table_get(headers, cc_keys[k])) == NULL ||
			    v->type != AMQP_FIELD_ARRAY)
				continue;
			for (i = 0; i < v->v.array.n; i++) {
				if (v->v.array.values[i].type != AMQP_FIELD_LONGSTR)
					continue;
				if ((q = vhost_queue(vh, v->v.array.values[i].v.bytes)) != NULL) {
					w->matched++;
					route_add_queue(w->out, q);
				}
			}
		}
		return;
	}
	switch (x->route_type) {
	case EX_FANOUT:
		LIST_FOREACH(b, &x->bindings, src_entry)
		route_dest(b, w);
		break;
	case EX_HEADERS: {
		static const struct amqp_table empty = { 0, NULL };
		LIST_FOREACH(b, &x->bindings, src_entry)
		if (headers_match(&b->args_table, headers != NULL ? headers : &empty))
			route_dest(b, w);
		break;
	}
	case EX_CONSISTENT_HASH:
		/* One destination per message; as the plugin, CC and BCC are not looked at. */
		if ((b = hash_ring_route(x->ring, view)) != NULL)
			route_dest(b, w);
		break;
	case EX_DELAYED: /* never a route_type */ break;
	case EX_DIRECT:
	case EX_TOPIC:
		route_key(x, (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len }, w);
		for (k = 0; headers != NULL && k < 2; k++) {
			if ((v = amqp_table_get(headers, cc_keys[k])) == NULL ||
			    v->type != AMQP_FIELD_ARRAY)
				continue;
			for (i = 0; i < v->v.array.n; i++)
				if (v->v.array.values[i].type == AMQP_FIELD_LONGSTR)
					route_key(x, v->v.array.values[i].v.bytes, w);
		}
		break;
	}
	if (w->matched == 0 && x->alternate != NULL &&
	    (ae = vhost_exchange(vh, amqp_cstr(x->alternate))) != NULL)
		route_push(w, ae);
}

void exchange_route(struct exchange *x, struct msg_view *v, struct route_result *out)
{
	const struct message *m = v->m;
	struct route_walk w = { .out = out };
	struct binding *b;
	struct queue *q = NULL;

	out->n = 0;
	/*
	 * The common cases first: no CC/BCC headers, and the default exchange or a direct exchange
	 * whose key is bound to one queue only. One lookup, no walk (out holds one queue inline).
	 */
	if (!(message_prop_flags(m) & AMQP_P_HEADERS)) {
		if (x->name_len == 0)
			q = vhost_queue(x->vhost,
			    (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len });
		else if (x->type == EX_DIRECT &&
		    (b = hmap_get(&x->direct, m->routing_key, m->rk_len)) != NULL &&
		    b->next_same_key == NULL && b->dq != NULL)
			q = b->dq;
		if (q != NULL && !q->deleted) {
			out->queues[out->n++] = q;
			return;
		}
		if (x->name_len == 0 && q == NULL)
			return; /* the default exchange has no alternate */
	}
	route_mark++;
	route_push(&w, x);
	while (w.nstack > 0)
		route_exchange(route_stack[--w.nstack], v, &w);
}

void route_result_init(struct route_result *r)
{
	r->queues = r->inline_queues;
	r->n = 0;
	r->cap = ROUTE_INLINE;
}

void route_result_free(struct route_result *r)
{
	if (r->queues != r->inline_queues)
		free(r->queues);
	route_result_init(r);
}
