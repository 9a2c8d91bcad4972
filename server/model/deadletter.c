/*
 * deadletter.c: dead-lettering as RabbitMQ does it. The message is republished to the queue's
 * dead-letter exchange with its routing key (or the queue's x-dead-letter-routing-key), its
 * expiration property removed, and an x-death header that counts each (queue, reason) it died
 * for, newest first, plus x-first-death-{reason,queue,exchange} with the first one; entries
 * without counts (from before RabbitMQ kept them) are grouped as rabbit_dead_letter.erl of 3.10
 * groups them. A message that would come back
 * to a queue it already died in, with no rejection on its way, is dropped for that queue: a cycle.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "server/model/model.h"

#define XDEATH_MAX 64 /* entries kept in x-death */
/* Old entries grouped (quadratic in their number): those past this many are dropped unread. */
#define XDEATH_GROUP_MAX 1024

static struct amqp_field_value str_value(struct amqp_bytes b)
{
	struct amqp_field_value v = { .type = AMQP_FIELD_LONGSTR };

	v.v.bytes = b;
	return v;
}

static struct amqp_table_entry entry(const char *key, struct amqp_field_value v)
{
	return (struct amqp_table_entry){ amqp_cstr(key), v };
}

/* The message's routing keys as RabbitMQ records them: its own, then CC (never BCC). */
static struct amqp_field_value routing_keys(
    struct amqp_arena *pool, const struct message *m, const struct amqp_table *headers)
{
	const struct amqp_field_value *cc = headers != NULL ? amqp_table_get(headers, "CC") : NULL;
	uint32_t n = 1, i;
	struct amqp_field_value v = { .type = AMQP_FIELD_ARRAY };

	if (cc != NULL && cc->type == AMQP_FIELD_ARRAY)
		n += cc->v.array.n;
	v.v.array.values = amqp_arena_alloc(pool, n * sizeof(struct amqp_field_value));
	v.v.array.values[0] =
	    str_value((struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len });
	v.v.array.n = 1;
	for (i = 0; cc != NULL && cc->type == AMQP_FIELD_ARRAY && i < cc->v.array.n; i++)
		if (cc->v.array.values[i].type == AMQP_FIELD_LONGSTR)
			v.v.array.values[v.v.array.n++] = cc->v.array.values[i];
	return v;
}

/* An x-death entry's queue and reason: false if it is not a table that has both. */
static bool death_key(const struct amqp_field_value *d, struct amqp_bytes *q, struct amqp_bytes *r)
{
	const struct amqp_field_value *qv, *rv;

	if (d->type != AMQP_FIELD_TABLE || (qv = amqp_table_get(&d->v.table, "queue")) == NULL ||
	    (rv = amqp_table_get(&d->v.table, "reason")) == NULL ||
	    qv->type != AMQP_FIELD_LONGSTR || rv->type != AMQP_FIELD_LONGSTR)
		return false;
	*q = qv->v.bytes;
	*r = rv->v.bytes;
	return true;
}

static bool death_is(const struct amqp_field_value *d, const char *queue, const char *reason)
{
	struct amqp_bytes q, r;

	return death_key(d, &q, &r) && amqp_bytes_eq_cstr(q, queue) &&
	    amqp_bytes_eq_cstr(r, reason);
}

/* The same (queue, reason) in two x-death entries. */
static bool same_death(const struct amqp_field_value *a, const struct amqp_field_value *b)
{
	struct amqp_bytes qa, ra, qb, rb;

	return death_key(a, &qa, &ra) && death_key(b, &qb, &rb) && qa.len == qb.len &&
	    ra.len == rb.len && memcmp(qa.ptr, qb.ptr, qa.len) == 0 &&
	    memcmp(ra.ptr, rb.ptr, ra.len) == 0;
}

/* An x-death entry's count, of any integer type: true with *out, false if it has none. */
static bool death_count(const struct amqp_field_value *d, int64_t *out)
{
	const struct amqp_field_value *c =
	    d->type == AMQP_FIELD_TABLE ? amqp_table_get(&d->v.table, "count") : NULL;

	return c != NULL && arg_int_value(c, out);
}

static int key_cmp(const void *a, const void *b)
{
	const struct amqp_bytes *x = &((const struct amqp_table_entry *)a)->key;
	const struct amqp_bytes *y = &((const struct amqp_table_entry *)b)->key;
	int c = memcmp(x->ptr, y->ptr, x->len < y->len ? x->len : y->len);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/* A copy of the x-death entry d with count set to value (first if it had none); keys sorted. */
static struct amqp_field_value with_count(
    struct amqp_arena *pool, const struct amqp_field_value *d, bool sort, int64_t value)
{
	const struct amqp_table *t = &d->v.table;
	struct amqp_field_value v = { .type = AMQP_FIELD_TABLE };
	struct amqp_table_entry *e = amqp_arena_alloc(pool, (t->n + 1) * sizeof(*e));
	struct amqp_field_value c = { .type = AMQP_FIELD_I64, .v.i64 = value };
	uint32_t i, n = 0;

	e[n++] = entry("count", c);
	for (i = 0; i < t->n; i++)
		if (!amqp_bytes_eq_cstr(t->entries[i].key, "count"))
			e[n++] = t->entries[i];
	if (sort)
		qsort(e, n, sizeof(*e), key_cmp);
	v.v.table = (struct amqp_table){ n, e };
	return v;
}

static bool is_first_death_key(struct amqp_bytes k)
{
	return amqp_bytes_eq_cstr(k, "x-first-death-reason") ||
	    amqp_bytes_eq_cstr(k, "x-first-death-queue") ||
	    amqp_bytes_eq_cstr(k, "x-first-death-exchange");
}

struct message *deadletter_message(struct queue *q, const struct message *m, const char *reason)
{
	struct amqp_basic_properties p;
	struct amqp_arena pool;
	struct amqp_table headers = { 0, NULL }, nh;
	const struct amqp_field_value *old = NULL, *match;
	struct amqp_field_value death, deaths, *grp;
	bool had_xdeath;
	struct amqp_table_entry *de;
	struct message *dm = NULL;
	struct timeval tv;
	uint8_t *hbuf = NULL, *pbuf = NULL;
	int64_t count = 0;
	uint32_t i, n = 0, nd = 0, nold, ngrp = 0;
	long hsize;
	int plen;
	struct amqp_bytes rk;

	amqp_arena_init(&pool);
	if (message_properties(m, &p) != 0)
		goto out;
	if ((p.flags & AMQP_P_HEADERS) && amqp_table_decode(p.headers, &pool, &headers) != 0)
		goto out;
	old = amqp_table_get(&headers, "x-death");
	had_xdeath = old != NULL;
	if (old != NULL && old->type != AMQP_FIELD_ARRAY)
		old = NULL; /* reset, as RabbitMQ resets an x-death that is not an array */

	/*
	 * The old entries grouped by (queue, reason), as RabbitMQ does for headers from before its
	 * counts: the first entry of each group stands for it, given count = the group's size if it
	 * has none; groups in reverse order of first appearance. The group of this death, if any,
	 * gets count + 1 and keeps its other fields (the first such death's time); else a new entry.
	 */
	nold = old != NULL ? old->v.array.n : 0;
	if (nold > XDEATH_GROUP_MAX) /* a hostile header must not cost the loop seconds */
		nold = XDEATH_GROUP_MAX;
	grp = amqp_arena_alloc(&pool, (nold + 1) * sizeof(*grp));
	for (i = nold; i-- > 0;) {
		const struct amqp_field_value *d = &old->v.array.values[i];
		uint32_t j, size = 1;
		int64_t had;

		for (j = 0; j < i && !same_death(&old->v.array.values[j], d); j++)
			;
		if (j < i)
			continue; /* not the first of its group */
		for (j = i + 1; j < nold; j++)
			size += same_death(&old->v.array.values[j], d);
		/* (a lone entry stays as it is, as RabbitMQ leaves it) */
		grp[ngrp++] = nold > 1 && d->type == AMQP_FIELD_TABLE && !death_count(d, &had)
		    ? with_count(&pool, d, false, size)
		    : *d;
	}
	for (i = 0; i < ngrp && !death_is(&grp[i], q->name, reason); i++)
		;
	match = i < ngrp ? &grp[i] : NULL;
	if (match != NULL) {
		death_count(match, &count); /* none: 0, and this death makes 1 */
		death = with_count(&pool, match, true, count + 1);
	} else {
		/* {count, reason, queue, time, exchange, routing-keys[, original-expiration]} */
		de = amqp_arena_alloc(&pool, 7 * sizeof(*de));
		gettimeofday(&tv, NULL);
		de[n++] =
		    entry("count", (struct amqp_field_value){ .type = AMQP_FIELD_I64, .v.i64 = 1 });
		de[n++] = entry("reason", str_value(amqp_cstr(reason)));
		de[n++] = entry("queue",
		    str_value((struct amqp_bytes){ (const uint8_t *)q->name, q->name_len }));
		de[n++] = entry("time",
		    (struct amqp_field_value){
		        .type = AMQP_FIELD_TIMESTAMP, .v.u64 = (uint64_t)tv.tv_sec });
		de[n++] = entry("exchange",
		    str_value(
		        (struct amqp_bytes){ (const uint8_t *)m->exchange, m->exchange_len }));
		de[n++] = entry("routing-keys", routing_keys(&pool, m, &headers));
		if (p.flags & AMQP_P_EXPIRATION)
			de[n++] = entry("original-expiration", str_value(p.expiration));
		death = (struct amqp_field_value){ .type = AMQP_FIELD_TABLE };
		death.v.table = (struct amqp_table){ n, de };
		if (old != NULL) /* RabbitMQ sorts the keys of an entry added to others */
			qsort(de, n, sizeof(*de), key_cmp);
	}

	/* x-death: this death first, then the other groups. */
	deaths = (struct amqp_field_value){ .type = AMQP_FIELD_ARRAY };
	deaths.v.array.values = amqp_arena_alloc(&pool, (ngrp + 1) * sizeof(*grp));
	deaths.v.array.values[nd++] = death;
	for (i = 0; i < ngrp && nd < XDEATH_MAX; i++)
		if (&grp[i] != match)
			deaths.v.array.values[nd++] = grp[i];
	deaths.v.array.n = nd;

	/*
	 * New headers: the old ones with x-death replaced and x-first-death-* added once; with an
	 * x-dead-letter-routing-key, as RabbitMQ, without CC (the new key replaces every old one).
	 */
	nh.entries = amqp_arena_alloc(&pool, (headers.n + 4) * sizeof(*nh.entries));
	nh.n = 0;
	for (i = 0; i < headers.n; i++)
		if (!amqp_bytes_eq_cstr(headers.entries[i].key, "x-death") &&
		    !(!had_xdeath && is_first_death_key(headers.entries[i].key)) &&
		    !(q->qa.dlx_rk != NULL && amqp_bytes_eq_cstr(headers.entries[i].key, "CC")))
			nh.entries[nh.n++] = headers.entries[i];
	nh.entries[nh.n++] = entry("x-death", deaths);
	if (!had_xdeath) { /* the first death: RabbitMQ's x-first-death-* (replaced if there) */
		nh.entries[nh.n++] = entry("x-first-death-reason", str_value(amqp_cstr(reason)));
		nh.entries[nh.n++] = entry("x-first-death-queue",
		    str_value((struct amqp_bytes){ (const uint8_t *)q->name, q->name_len }));
		nh.entries[nh.n++] = entry("x-first-death-exchange",
		    str_value(
		        (struct amqp_bytes){ (const uint8_t *)m->exchange, m->exchange_len }));
	}
	if ((hsize = amqp_table_encoded_size(&nh)) < 0)
		goto out;
	hbuf = xmalloc((size_t)hsize);
	if (amqp_table_encode(&nh, hbuf, (size_t)hsize) != hsize)
		goto out;
	p.headers = (struct amqp_bytes){ hbuf + 4, (size_t)hsize - 4 };
	p.flags |= AMQP_P_HEADERS;
	p.flags &= (uint16_t)~AMQP_P_EXPIRATION;
	pbuf = xmalloc((size_t)hsize + m->props_len + 16);
	if ((plen = amqp_properties_encode(&p, pbuf, (size_t)hsize + m->props_len + 16)) < 0)
		goto out;
	rk = q->qa.dlx_rk != NULL
	    ? amqp_cstr(q->qa.dlx_rk)
	    : (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len };
	dm = message_new(
	    amqp_cstr(q->qa.dlx), rk, (struct amqp_bytes){ pbuf, (size_t)plen }, m->body_size);
	message_append_body(dm, m->body, (size_t)m->body_have);
out:
	free(hbuf);
	free(pbuf);
	amqp_arena_reset(&pool);
	return dm;
}

/* Did the message die in queue `name` before, with no rejection anywhere in its history? */
static bool deadletter_cycle(const struct amqp_table *headers, const char *name)
{
	const struct amqp_field_value *xd = amqp_table_get(headers, "x-death"), *qn, *r;
	bool seen = false;
	uint32_t i;

	if (xd == NULL || xd->type != AMQP_FIELD_ARRAY)
		return false;
	for (i = 0; i < xd->v.array.n; i++) {
		const struct amqp_field_value *d = &xd->v.array.values[i];
		if (d->type != AMQP_FIELD_TABLE)
			continue;
		r = amqp_table_get(&d->v.table, "reason");
		if (r != NULL && r->type == AMQP_FIELD_LONGSTR &&
		    amqp_bytes_eq_cstr(r->v.bytes, "rejected"))
			return false;
		qn = amqp_table_get(&d->v.table, "queue");
		if (qn != NULL && qn->type == AMQP_FIELD_LONGSTR &&
		    amqp_bytes_eq_cstr(qn->v.bytes, name))
			seen = true;
	}
	return seen;
}

void deadletter_route(struct queue *q, struct exchange *x, struct message *dm, const char *reason)
{
	static const struct amqp_table none = { 0, NULL };
	const struct amqp_table *headers;
	struct route_result rr;
	struct msg_view v;
	size_t i;

	/* One decoding of the copy's properties and headers, for routing and the cycle check. */
	msg_view_init(&v, dm);
	if (msg_view_props(&v) == NULL)
		goto out;
	route_result_init(&rr);
	exchange_route(x, &v, &rr);
	if (delay_routed > 0) { /* into a delayed exchange: it waits there */
		bool stored;
		delay_accept(&v, &stored);
	}
	headers = rr.n > 0 ? msg_view_headers(&v) : NULL;
	for (i = 0; i < rr.n; i++) {
		if (deadletter_cycle(headers != NULL ? headers : &none, rr.queues[i]->name)) {
			log_debug("queue '%s': dead-letter cycle through '%s' (%s): dropped",
			    q->name, rr.queues[i]->name, reason);
			continue;
		}
		queue_publish(rr.queues[i], dm);
	}
	route_result_free(&rr);
out:
	msg_view_done(&v);
}
