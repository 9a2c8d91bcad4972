/*
 * persist.c: server/'s way to store/ (with persist_page.c, persist_recover.c and persist_dump.c,
 * which share persist_private.h). It writes durable definitions (durable exchanges, non-exclusive
 * durable queues, bindings between durable ends) and persistent messages in durable queues: a
 * message's bytes once, however many queues hold it, and one entry per queue.
 * Writes made while handling a batch of input go to the store as one batch; publisher confirms
 * that depend on it go out only when the store says it is durable. At start-up it rebuilds the
 * broker from the store.
 *
 * The records and their encoding are persist_record.c's (listed in persist_private.h).
 *
 * Paging: a queue's entries beyond its head (struct qpage) are read back by jobs on the store
 * thread (page_in_job), in order with the batches, so a read always sees every write before it.
 * A read covers the range paged when it was submitted; what is paged out while it is in flight
 * lies past that range, and the queue reads it next (queue_paged_in's `through`).
 * A message's record is shared by its durable entries; a copy read back for one queue releases its
 * reference through the store's counts, so copies of one message never need to find each other.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "server/persist/persist_private.h"

struct batch_ctx {
	struct persist_waiter **w;
	size_t n, cap;
	uint64_t gen, submitted_us;
};

struct persist_state ps;

/* ---- batching ---- */

/*
 * With the store idle, a new batch leaves after FLUSH_LINGER_US rather than at once: long enough
 * for the consumers of what it holds to ack, which cancels those writes (persist_remove), short
 * next to the flush itself. While a batch is in flight the open one waits for it anyway. (The
 * timer is libevent's, whose clock moves a kernel tick at a time: it fires 1-4 ms later.) A batch
 * that a client waits on (a confirm, a declare-ok) and that holds no message a consumer could
 * cancel leaves at the end of the turn instead (persist_wait): one publisher awaiting each
 * confirm got 229 a second from the linger, with a flush of 0.2 ms.
 */
#define FLUSH_LINGER_US 200

static void flush_soon(void)
{
	static const struct timeval linger = { 0, FLUSH_LINGER_US };

	if (!evtimer_pending(ps.flush_ev, NULL))
		evtimer_add(ps.flush_ev, &linger);
}

uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct store_batch *batch(void)
{
	if (ps.cur == NULL) {
		ps.cur = store_batch_new();
		ps.ctx = xcalloc(1, sizeof(*ps.ctx));
		ps.ctx->gen = ++ps.cur_gen;
		ps.cancellable = false;
		if (ps.inflight == 0)
			flush_soon();
	}
	return ps.cur;
}

static void batch_done(void *arg, int status)
{
	struct batch_ctx *ctx = arg;
	size_t i;

	/* The store is free: what gathered meanwhile goes as the next group. */
	if (--ps.inflight == 0 && ps.cur != NULL && ps.flush_ev != NULL)
		event_active(ps.flush_ev, 0, 0);
	if (status == 0 && ctx->gen > ps.done_gen) {
		uint64_t took = mono_us() - ctx->submitted_us;
		ps.done_gen = ctx->gen;
		ps.commit_us = ps.commit_us == 0 ? took : (7 * ps.commit_us + took) / 8;
	}
	if (status == STORE_E_NOT_REPLICATED || status == STORE_E_NOT_MASTER ||
	    (status != 0 && ps.rst != NULL &&
	        (ps.role != PERSIST_MASTER || !persist_cluster_is_master()))) {
		/* These waiters fail; the store goes on (or, no longer master, is closed soon). */
		persist_cluster_not_replicated();
	} else if (status != 0 && !ps.failed) {
		ps.failed = true;
		log_error("store: %s: publishers get basic.nack and are blocked until the broker "
		          "restarts",
		    store_last_error(ps.st));
		ps.hooks.alarm(ALARM_STORE, true);
	}
	/* Each waiter is its owner's, which may free it. */
	for (i = 0; i < ctx->n; i++)
		ctx->w[i]->done(ctx->w[i], status);
	free(ctx->w);
	free(ctx);
}

/*
 * Marks ahead. A cluster's master sends a delivery of a message an earlier batch holds only once
 * a mark at or past it is replicated (persist_delivered; the connection's output is held until
 * then), so that a new master redelivers it with the flag. Waiting for each delivery's own mark
 * would cost every consumer a replicated commit per prefetch window, so the master writes its
 * marks ahead of the deliveries: by the queue's pace (deliveries a µs since the last mark) over
 * four commits' time, capped at MARK_SLACK_MAX, written again with every batch that has new
 * deliveries. While the deliveries stay under a replicated mark nothing waits. The price: after a
 * failover, up to that many messages past the last delivery also come back with redelivered set
 * (the flag says "may have been delivered"); a queue delivering one burst at a time, as at the
 * first mark, writes exact marks. A single node writes delivered_hi itself and never holds.
 */
#define MARK_SLACK_MAX 65536

static bool cluster_master(void)
{
	return ps.role == PERSIST_MASTER && ps.rst != NULL;
}

/* The greatest mark the group holds (folding in the written ones whose batch completed). */
static uint64_t mark_safe(struct queue *q)
{
	unsigned i;

	for (i = 0; i < 2; i++)
		if (q->mark_gen[i] != 0 && q->mark_gen[i] <= ps.done_gen) {
			if (q->mark_val[i] > q->mark_safe)
				q->mark_safe = q->mark_val[i];
			q->mark_gen[i] = 0;
		}
	return q->mark_safe;
}

/* The greatest mark written (replicated or not). */
static uint64_t mark_latest(const struct queue *q)
{
	uint64_t v = q->mark_safe;

	if (q->mark_gen[0] != 0 && q->mark_val[0] > v)
		v = q->mark_val[0];
	if (q->mark_gen[1] != 0 && q->mark_val[1] > v)
		v = q->mark_val[1];
	return v;
}

/* The mark q's record gets in the batch with number gen (ps.cur's). */
static uint64_t mark_value(struct queue *q, uint64_t gen)
{
	uint64_t now, slack = 0, v, latest;
	unsigned slot;

	if (!cluster_master())
		return q->delivered_hi;
	now = mono_us();
	if (q->mark_at_us != 0 && now > q->mark_at_us) {
		/* deliveries over four commits at the pace since the last mark */
		uint64_t commit = ps.commit_us > 1000 ? ps.commit_us : 1000;
		slack = (uint64_t)q->mark_pace * 4 * commit / (now - q->mark_at_us);
		if (slack > MARK_SLACK_MAX)
			slack = MARK_SLACK_MAX;
	}
	q->mark_at_us = now;
	q->mark_pace = 0;
	v = q->delivered_hi + slack;
	latest = mark_latest(q);
	if (v < latest)
		v = latest; /* never back */
	(void)mark_safe(q); /* frees the slot of a mark the group holds */
	slot = q->mark_gen[0] == 0            ? 0
	    : q->mark_gen[1] == 0             ? 1
	    : q->mark_gen[0] < q->mark_gen[1] ? 0
	                                      : 1;
	q->mark_val[slot] = v;
	q->mark_gen[slot] = gen;
	return v;
}

static void write_delivered_marks(void)
{
	uint8_t key[DELIVERED_KEY_LEN], val[8];
	size_t i;

	for (i = 0; i < ps.ndirty; i++) {
		struct queue *q = ps.dirty[i];
		q->delivered_dirty = false;
		if (!q->deleted) {
			record_delivered_key(key, q->qid);
			(void)batch();
			amqp_store_u64(val, mark_value(q, ps.cur_gen));
			store_batch_put(batch(), STORE_META, key, sizeof(key), val, sizeof(val));
		}
		ps.hooks.release(q);
	}
	ps.ndirty = 0;
}

/* Hand what was written since the last batch to the store. */
void submit_batch(void)
{
	write_delivered_marks();
	if (ps.cur == NULL)
		return;
	ps.inflight++;
	ps.ctx->submitted_us = mono_us();
	store_submit(ps.st, ps.cur, batch_done, ps.ctx);
	ps.cur = NULL;
	ps.ctx = NULL;
}

/*
 * At the end of a turn of the loop. While a batch is in flight the store thread is busy with it,
 * so the open batch stays open (it would wait in the store's queue anyway) and gathers further
 * turns' writes; messages acked meanwhile are then never written at all (persist_remove).
 */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	if (ps.inflight == 0)
		submit_batch();
}

static void completion_cb(evutil_socket_t fd, short what, void *arg)
{
	store_run_completions(ps.st);
}

/* Every few seconds: block publishers while the data directory's disk is short of space. */
static void disk_cb(evutil_socket_t fd, short what, void *arg)
{
	struct statvfs sv;
	uint64_t avail;
	bool low;

	if (statvfs(ps.dir, &sv) != 0)
		return;
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	ps.disk_avail = avail;
	low = avail < ps.disk_free_limit;
	if (low != ps.disk_low) {
		ps.disk_low = low;
		if (low)
			log_warn(
			    "disk alarm: %llu bytes free in %s (limit %llu): blocking publishers",
			    (unsigned long long)avail, ps.dir,
			    (unsigned long long)ps.disk_free_limit);
		else
			log_info("disk alarm cleared: %llu bytes free in %s",
			    (unsigned long long)avail, ps.dir);
		ps.hooks.alarm(ALARM_DISK, low);
	}
}

void persist_set_disk_free_limit(uint64_t limit)
{
	ps.disk_free_limit = limit;
	if (ps.st != NULL)
		disk_cb(-1, 0, NULL);
}

uint64_t persist_disk_available(void)
{
	return ps.st != NULL ? ps.disk_avail : UINT64_MAX;
}

bool persist_wait(struct persist_waiter *w)
{
	struct batch_ctx *ctx;

	if (ps.st == NULL || ps.cur == NULL)
		return false;
	ctx = ps.ctx;
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap != 0 ? ctx->cap * 2 : 64;
		ctx->w = xreallocarray(ctx->w, ctx->cap, sizeof(*ctx->w));
	}
	ctx->w[ctx->n++] = w;
	/* Someone waits, and no consumer's ack can cancel what the batch holds: no linger. */
	if (!ps.cancellable && ps.inflight == 0)
		event_active(ps.flush_ev, 0, 0);
	return true;
}

bool persist_writing(void)
{
	return ps.st != NULL && ps.cur != NULL;
}

bool persist_failed(void)
{
	return ps.failed;
}

const char *persist_last_error(void)
{
	if (ps.st == NULL && ps.rst != NULL)
		return store_last_error(ps.rst); /* a cluster node's, before its tables open */
	return ps.st != NULL ? store_last_error(ps.st) : "no store";
}

/* ---- definitions ---- */

void persist_exchange(const struct exchange *x, bool add)
{
	struct buf k = { 0 }, v = { 0 };

	if (ps.st == NULL || ps.recovering || !x->durable || x->name_len == 0 ||
	    strncmp(x->name, "amq.", 4) == 0)
		return;
	record_exchange_encode(&k, add ? &v : NULL,
	    &(struct rec_exchange){ .vhost = amqp_cstr(x->vhost->name),
	        .name = { (const uint8_t *)x->name, x->name_len },
	        .args = { x->args, x->args_len },
	        .type = (uint8_t)x->type,
	        .xid = x->xid,
	        .auto_delete = x->auto_delete,
	        .internal = x->internal });
	if (add) {
		store_batch_put(batch(), STORE_DEFS, k.p, k.len, v.p, v.len);
	} else {
		store_batch_del(batch(), STORE_DEFS, k.p, k.len);
	}
	free(k.p);
	free(v.p);
}

/* Definitions are written except while they are being read back. */
static bool defs_writable(void)
{
	return ps.st != NULL && !ps.recovering;
}

void persist_queue(struct queue *q, bool add)
{
	struct buf k = { 0 }, v = { 0 };

	if (!queue_durable(q) || !defs_writable())
		return;
	if (add && q->qid == 0)
		q->qid = ++ps.next_qid;
	record_queue_encode(&k, add ? &v : NULL,
	    &(struct rec_queue){ .vhost = amqp_cstr(q->vhost->name),
	        .name = { (const uint8_t *)q->name, q->name_len },
	        .args = { q->args, q->args_len },
	        .qid = q->qid,
	        .auto_delete = q->auto_delete });
	if (add) {
		store_batch_put(batch(), STORE_DEFS, k.p, k.len, v.p, v.len);
	} else {
		store_batch_del(batch(), STORE_DEFS, k.p, k.len);
	}
	free(k.p);
	free(v.p);
}

void persist_binding(const struct binding *b, bool add)
{
	struct buf k = { 0 }, v = { 0 };
	const struct exchange *src = b->source;
	bool durable = b->dq != NULL ? queue_durable(b->dq) : (b->de->durable && ps.st != NULL);
	struct rec_binding rb;

	if (!defs_writable() || !src->durable || !durable)
		return;
	rb = (struct rec_binding){ .vhost = amqp_cstr(src->vhost->name),
		.source = { (const uint8_t *)src->name, src->name_len },
		.dest_kind = b->dq != NULL ? 'q' : 'x',
		.dest = b->dq != NULL
		    ? (struct amqp_bytes){ (const uint8_t *)b->dq->name, b->dq->name_len }
		    : (struct amqp_bytes){ (const uint8_t *)b->de->name, b->de->name_len },
		.key = { (const uint8_t *)b->key, b->key_len },
		.args = { b->args, b->args_len },
		.ring_seq = src->type == EX_CONSISTENT_HASH ? b->ring_seq : 0 };
	record_binding_encode(&k, &rb);
	if (add) {
		record_binding_value(&v, &rb);
		store_batch_put(
		    batch(), STORE_DEFS, k.p, k.len, v.len > 0 ? v.p : (void *)"", v.len);
	} else {
		store_batch_del(batch(), STORE_DEFS, k.p, k.len);
	}
	free(k.p);
	free(v.p);
}

/* ---- messages ---- */

bool persist_entry_stored(const struct queue *q, const struct message *m)
{
	return queue_durable(q) && m->persistent;
}

/*
 * m's entry in q (durable; m persistent) at seq, with its delivery count, and its bytes if they
 * are not stored yet.
 */
static void entry_write(
    struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at, uint32_t count)
{
	uint8_t key[ENTRY_KEY_LEN], id[ID_KEY_LEN], val[ENTRY_VAL_COUNT_LEN], n[REFS_VAL_LEN];
	struct buf v = { 0 };
	size_t op;

	record_entry_key(key, q->qid, queue_ring_index(q, m), seq);
	if (q->nconsumers > 0) {
		(void)batch(); /* the batch this entry goes into (a new one starts uncancellable) */
		ps.cancellable = true;
	}
	if (m->in_entry || (!m->stored && record_message_len(m) <= ENTRY_INLINE_MAX)) {
		/* A small message: the entry holds it, one write (a copy in each durable queue). */
		record_entry_value_with(&v, m->id, m->body_size, expires_at, count, m);
		op = store_batch_put(batch(), STORE_ENTRIES, key, sizeof(key), v.p, v.len);
		free(v.p);
		if (!m->stored) {
			m->batch_op = (uint32_t)op;
			m->batch_gen = ps.cur_gen;
			m->stored = m->in_entry = true;
			m->durable_refs = 1;
		} else {
			m->durable_refs++;
			m->shared =
			    true; /* several entries: each goes by its key, none is cancelled */
		}
		return;
	}
	amqp_store_u64(id, m->id);
	if (!m->stored) {
		/* The bytes once, whatever the number of queues. */
		record_message_encode(&v, m);
		m->batch_op = (uint32_t)store_batch_put(batch(), STORE_MSGS, id, 8, v.p, v.len);
		m->batch_gen = ps.cur_gen;
		free(v.p);
		m->stored = true;
		m->durable_refs = 1;
	} else {
		/* Routed to several durable queues: the store counts the entries. */
		m->durable_refs++;
		m->shared = true;
		record_refs_value(n, m->durable_refs);
		store_batch_put(batch(), STORE_REFS, id, sizeof(id), n, sizeof(n));
	}
	/* A count of 0 is format 2's 24 bytes, as every entry was before its message's return. */
	record_entry_value_count(val, m->id, m->body_size, expires_at, count);
	store_batch_put(batch(), STORE_ENTRIES, key, sizeof(key), val,
	    count > 0 ? ENTRY_VAL_COUNT_LEN : ENTRY_VAL_LEN);
}

bool persist_enqueue(struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at)
{
	if (!queue_durable(q) || !m->persistent)
		return false;
	entry_write(q, m, seq, expires_at, 0);
	return true;
}

/* Are m's writes still in the open batch, and its alone: to be cancelled, not undone? */
static inline bool writes_open(const struct message *m)
{
	return m->batch_gen == ps.cur_gen && ps.cur != NULL && !m->shared;
}

void persist_remove(struct queue *q, struct message *m, uint64_t seq)
{
	uint8_t key[ENTRY_KEY_LEN], id[ID_KEY_LEN];

	if (!queue_durable(q) || !m->persistent || !m->stored)
		return;
	if (writes_open(m)) {
		/* Its writes have not left yet: cancel them instead (its entry; or record, then entry). */
		store_batch_cancel(ps.cur, m->batch_op);
		if (!m->in_entry)
			store_batch_cancel(ps.cur, m->batch_op + 1);
		m->stored = m->in_entry = false;
		return;
	}
	record_entry_key(key, q->qid, queue_ring_index(q, m), seq);
	store_batch_del(batch(), STORE_ENTRIES, key, sizeof(key));
	if (m->in_entry)
		return; /* the copy went with the entry */
	amqp_store_u64(id, m->id);
	if (m->shared)
		store_batch_release(batch(), STORE_REFS, STORE_MSGS, id, 8);
	else
		store_batch_del(batch(), STORE_MSGS, id, 8);
}

void persist_requeue(
    struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at, uint32_t count)
{
	uint8_t key[ENTRY_KEY_LEN], val[ENTRY_VAL_COUNT_LEN];
	struct buf v = { 0 };

	if (!queue_durable(q) || !m->persistent || !m->stored)
		return;
	/*
	 * Writes still in the open batch are cancelled and made afresh, so that batch_op names the
	 * live ones (an ack in this batch cancels those in turn). Otherwise the entry is put again by
	 * its key, with the count (and its copy of the message, if it holds one).
	 */
	if (writes_open(m)) {
		persist_remove(q, m, seq); /* cancels them */
		entry_write(q, m, seq, expires_at, count);
		return;
	}
	record_entry_key(key, q->qid, queue_ring_index(q, m), seq);
	if (m->in_entry) {
		record_entry_value_with(&v, m->id, m->body_size, expires_at, count, m);
		store_batch_put(batch(), STORE_ENTRIES, key, sizeof(key), v.p, v.len);
		free(v.p);
		return;
	}
	record_entry_value_count(val, m->id, m->body_size, expires_at, count);
	store_batch_put(batch(), STORE_ENTRIES, key, sizeof(key), val, sizeof(val));
}

/*
 * On a cluster's master, a delivery of a message the store already holds (its writes not in the
 * open batch) may leave only once the group holds what records it: a mark at or past it (see
 * "marks ahead"), or its removal (no-ack). A message still in the open batch goes at once: its
 * mark or removal joins it in that batch, and both or neither reach the replicas.
 */
static bool delivery_holds(const struct message *m)
{
	return cluster_master() && m->persistent && m->stored &&
	    (ps.cur == NULL || m->batch_gen != ps.cur_gen);
}

bool persist_removal_holds(const struct queue *q, const struct message *m)
{
	if (!queue_durable(q) || !delivery_holds(m))
		return false;
	(void)batch(); /* the removal's batch, which the holder waits for */
	return true;
}

static void mark_dirty(struct queue *q)
{
	if (q->delivered_dirty)
		return;
	q->delivered_dirty = true;
	if (ps.ndirty == ps.capdirty) {
		ps.capdirty = ps.capdirty != 0 ? ps.capdirty * 2 : 16;
		ps.dirty = xreallocarray(ps.dirty, ps.capdirty, sizeof(*ps.dirty));
	}
	ps.dirty[ps.ndirty++] = queue_ref(q);
	event_active(ps.flush_ev, 0, 0);
}

bool persist_delivered(struct queue *q, const struct message *m, uint64_t seq)
{
	bool hold;

	/* Only entries the store holds need the mark: transient messages cost no disk write. */
	if (!queue_durable(q) || !m->stored)
		return false;
	q->mark_pace++; /* (read on a cluster's master only) */
	hold = delivery_holds(m) && seq > mark_safe(q);
	/*
	 * A mark in every batch with new deliveries, on a cluster's master too (a batch then always
	 * holds a write and takes a commit: a batch whose writes the consumers' acks all cancelled
	 * would complete at once, and the next leave before any ack could cancel its writes; 4
	 * producers and 4 consumers of 16 B fell from 978,000 msg/s to 295,000 when marks were
	 * written only as the deliveries neared them).
	 */
	if (seq > q->delivered_hi) {
		q->delivered_hi = seq;
		mark_dirty(q);
	} else if (hold && seq > mark_latest(q)) {
		mark_dirty(q);
	}
	if (hold)
		(void)batch(); /* the holder waits for it: it, or one before it, has the mark */
	return hold;
}

uint64_t persist_open_gen(void)
{
	return ps.cur != NULL ? ps.cur_gen : 0;
}

/* ---- dead ranges (purged entries being deleted) ---- */

bool dead_ranges_add(
    struct dead_ranges *d, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct dead_range r;

	if (record_dead_decode(key, klen, val, vlen, &r) != RECORD_OK)
		return false;
	if (d->n == d->cap) {
		d->cap = d->cap != 0 ? d->cap * 2 : 8;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	d->v[d->n++] = r;
	return true;
}

bool dead_ranges_hold(const struct dead_ranges *d, uint64_t qid, unsigned ri, uint64_t seq)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->v[i].qid == qid && d->v[i].ri == ri && seq >= d->v[i].lo &&
		    seq <= d->v[i].hi)
			return true;
	return false;
}

void persist_init(
    const struct persist_hooks *hooks, struct event_base *base, uint64_t disk_free_limit)
{
	ps.hooks = *hooks;
	ps.base = base;
	ps.disk_free_limit = disk_free_limit;
	ps.disk_avail = UINT64_MAX;
}

int persist_open(const char *dir, char *err, size_t errlen)
{
	if ((ps.st = store_open(dir, err, errlen)) == NULL)
		return -1;
	return persist_start(dir, err, errlen);
}

/* The store's tables are open (ps.st): watch it, and rebuild the broker from it. */
int persist_start(const char *dir, char *err, size_t errlen)
{
	if (store_notice(ps.st)[0] != '\0')
		log_warn("store: %s", store_notice(ps.st));
	ps.flush_ev = event_new(ps.base, -1, 0, flush_cb, NULL);
	ps.completion_ev = event_new(
	    ps.base, store_completion_fd(ps.st), EV_READ | EV_PERSIST, completion_cb, NULL);
	event_add(ps.completion_ev, NULL);
	ps.dir = xstrdup(dir);
	ps.disk_ev = event_new(ps.base, -1, EV_PERSIST, disk_cb, NULL);
	event_add(ps.disk_ev, &(struct timeval){ 2, 0 });
	disk_cb(-1, 0, NULL);
	if (persist_recover(dir, err, errlen) != 0) {
		persist_close();
		return -1;
	}
	return 0;
}

void persist_close(void)
{
	if (ps.st == NULL) {
		persist_cluster_close(); /* a replica's store: no tables, no batch */
		return;
	}
	submit_batch();
	ps.closing = true;
	store_close(ps.st); /* runs the last completions */
	ps.closing = false;
	if (ps.rst == ps.st)
		ps.rst = NULL; /* a cluster node's master: closed just now */
	ps.st = NULL;
	persist_cluster_close();
	if (ps.flush_ev != NULL)
		event_free(ps.flush_ev);
	if (ps.completion_ev != NULL)
		event_free(ps.completion_ev);
	if (ps.disk_ev != NULL)
		event_free(ps.disk_ev);
	ps.flush_ev = ps.completion_ev = ps.disk_ev = NULL;
	free(ps.dir);
	ps.dir = NULL;
	free(ps.dirty);
	ps.dirty = NULL;
	free(ps.seg.p);
	memset(&ps.seg, 0, sizeof(ps.seg));
	ps.seg_n = 0;
	ps.ndirty = ps.capdirty = 0;
	ps.disk_low = false;
}
