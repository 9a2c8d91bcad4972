/*
 * persist.c: the one file of server/ that talks to store/. It writes durable definitions (durable
 * exchanges, non-exclusive durable queues, bindings between durable ends) and persistent messages
 * in durable queues: a message's bytes once, however many queues hold it, and one entry per queue.
 * Writes made while handling a batch of input go to the store as one batch; publisher confirms
 * that depend on it go out only when the store says it is durable. At start-up it rebuilds the
 * broker from the store.
 *
 * Records (all integers big-endian):
 *   defs    'x' vhost name             -> type, flags, arguments
 *           'q' vhost name             -> qid(8), flags, arguments
 *           'b' vhost source kind dest key args -> (empty)     (names as 1-byte length + bytes)
 *   msgs    id(8)                      -> exchange, routing key (1-byte length + bytes),
 *                                         properties (4-byte length + bytes), body
 *   refs    id(8)                      -> entries that hold the message(4), when more than one
 *   entries qid(8) level(1) seq(8)     -> message id(8), body size(8), expiry(8: ms since the
 *                                         epoch, 0 = none); level is 255 - priority level, so
 *                                         that key order is delivery order
 *   meta    "delivered" qid(8)         -> the highest seq delivered from that queue(8)
 *           "dead" qid(8) level(1) lo(8) -> hi(8): entries purged, being deleted
 *   scratch qid(8) level(1) seq(8)     -> a segment: transient entries paged out of memory
 *                                         from seq on: count(4), then per entry seq(8),
 *                                         flags(1), expiry(8), id(8), length(4), a msgs record
 *
 * Paging: a queue's entries beyond its head (struct qpage) are read back by jobs on the store
 * thread (page_in_job), in order with the batches, so a read always sees every write before it.
 * A message's record is shared by its durable entries; a copy read back for one queue releases its
 * reference through the store's counts, so copies of one message never need to find each other.
 */
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "server/server.h"
#include "store/store.h"

struct persist_waiter {
	LIST_ENTRY(persist_waiter) ch_entry;
	struct channel *ch; /* NULL once the channel is gone */
	uint64_t seq;       /* a publisher confirm, or */
	uint8_t *reply;     /* an encoded method frame to send (a declare-ok and the like) */
	size_t reply_len;
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct batch_ctx {
	struct persist_waiter **w;
	size_t n, cap;
};

static struct {
	struct store *st;
	struct event *flush_ev, *completion_ev, *disk_ev;
	char *dir;
	struct store_batch *cur;
	struct batch_ctx *ctx;
	uint64_t cur_gen;  /* numbers the open batch (cur) */
	unsigned inflight; /* batches submitted, not yet complete: while one is, cur stays open */
	uint64_t next_qid;
	struct queue **dirty; /* queues whose delivered mark changed */
	size_t ndirty, capdirty;
	bool failed;
	bool recovering; /* rebuilding from the store: nothing is written back */
	bool closing;    /* in persist_close: no new jobs (recovery finishes what they leave) */
	/* the scratch segment being gathered by a run of persist_page_out */
	struct buf seg;
	uint64_t seg_qid, seg_first;
	unsigned seg_ri;
	uint32_t seg_n;
} ps;

bool persist_enabled(void)
{
	return ps.st != NULL;
}

/* ---- encoding helpers ---- */

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		b->cap = (b->cap + n) * 2;
		b->p = xreallocarray(b->p, 1, b->cap);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_u8(struct buf *b, uint8_t v)
{
	buf_add(b, &v, 1);
}

static void buf_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };

	buf_add(b, x, 4);
}

static void buf_u64(struct buf *b, uint64_t v)
{
	buf_u32(b, (uint32_t)(v >> 32));
	buf_u32(b, (uint32_t)v);
}

static void buf_str(struct buf *b, const char *s, size_t n)
{
	buf_u8(b, (uint8_t)n);
	buf_add(b, s, n);
}

static uint64_t get_u64(const uint8_t *p)
{
	return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
	    (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
	    (uint64_t)p[6] << 8 | p[7];
}

/* A reader over a record that came from disk: every read is checked against what is left. */
struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) { /* a record shorter than its fields say: corrupt */
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p != NULL ? p[0] : 0;
}

static uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);

	return p != NULL ? get_u64(p) : 0;
}

static struct amqp_bytes rd_str(struct rd *r)
{
	size_t n = rd_u8(r);
	const uint8_t *p = rd_take(r, n);

	return (struct amqp_bytes){ p, p != NULL ? n : 0 };
}

/* ---- batching ---- */

/*
 * With the store idle, a new batch leaves after FLUSH_LINGER_US rather than at once: long enough
 * for the consumers of what it holds to ack, which cancels those writes (persist_remove), short
 * next to the flush itself. While a batch is in flight the open one waits for it anyway.
 */
#define FLUSH_LINGER_US 200

static void flush_soon(void)
{
	static const struct timeval linger = { 0, FLUSH_LINGER_US };

	if (!evtimer_pending(ps.flush_ev, NULL))
		evtimer_add(ps.flush_ev, &linger);
}

static struct store_batch *batch(void)
{
	if (ps.cur == NULL) {
		ps.cur = store_batch_new();
		ps.ctx = xcalloc(1, sizeof(*ps.ctx));
		ps.cur_gen++;
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
	if (status != 0 && !ps.failed) {
		ps.failed = true;
		log_error("store: %s: publishers get basic.nack and are blocked until the broker "
		          "restarts",
		    store_last_error(ps.st));
		broker_set_alarm(ALARM_STORE, true);
	}
	for (i = 0; i < ctx->n; i++) {
		struct persist_waiter *w = ctx->w[i];
		if (w->ch != NULL) {
			LIST_REMOVE(w, ch_entry);
			if (w->reply == NULL) {
				channel_confirm(w->ch, w->seq, status == 0);
				channel_confirm_flush(w->ch);
			} else if (status != 0) {
				channel_error(w->ch, AMQP_INTERNAL_ERROR, 0, "the store failed: %s",
				    store_last_error(ps.st));
			} else if (w->ch->state == CH_OPEN) {
				conn_send_raw(w->ch->conn, w->reply, w->reply_len);
			}
		}
		free(w->reply);
		free(w);
	}
	free(ctx->w);
	free(ctx);
}

static void write_delivered_marks(void)
{
	uint8_t key[9 + 8], val[8];
	size_t i;

	for (i = 0; i < ps.ndirty; i++) {
		struct queue *q = ps.dirty[i];
		q->delivered_dirty = false;
		if (!q->deleted) {
			memcpy(key, "delivered", 9);
			for (int k = 0; k < 8; k++) {
				key[9 + k] = (uint8_t)(q->qid >> (56 - 8 * k));
				val[k] = (uint8_t)(q->delivered_hi >> (56 - 8 * k));
			}
			store_batch_put(batch(), STORE_META, key, sizeof(key), val, sizeof(val));
		}
		queue_unref(q);
	}
	ps.ndirty = 0;
}

/* Hand what was written since the last batch to the store. */
static void submit_batch(void)
{
	write_delivered_marks();
	if (ps.cur == NULL)
		return;
	ps.inflight++;
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
	low = avail < broker.cfg.disk_free_limit;
	if (low != ((broker.alarms & ALARM_DISK) != 0)) {
		if (low)
			log_warn(
			    "disk alarm: %llu bytes free in %s (limit %llu): blocking publishers",
			    (unsigned long long)avail, ps.dir,
			    (unsigned long long)broker.cfg.disk_free_limit);
		else
			log_info("disk alarm cleared: %llu bytes free in %s",
			    (unsigned long long)avail, ps.dir);
		broker_set_alarm(ALARM_DISK, low);
	}
}

bool persist_confirm_after_flush(struct channel *ch, uint64_t seq)
{
	struct persist_waiter *w;
	struct batch_ctx *ctx;

	if (ps.st == NULL || ps.cur == NULL)
		return false;
	if (ps.failed) {
		channel_confirm(ch, seq, false);
		return true;
	}
	ctx = ps.ctx;
	w = xcalloc(1, sizeof(*w));
	w->ch = ch;
	w->seq = seq;
	LIST_INSERT_HEAD(&ch->store_waiters, w, ch_entry);
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap != 0 ? ctx->cap * 2 : 64;
		ctx->w = xreallocarray(ctx->w, ctx->cap, sizeof(*ctx->w));
	}
	ctx->w[ctx->n++] = w;
	return true;
}

void reply_after_store(struct channel *ch, const struct amqp_method *m)
{
	struct persist_waiter *w;
	struct batch_ctx *ctx;
	uint8_t buf[1024];
	int n;

	/* Nothing written this turn (or no store): the reply goes now. */
	if (ps.st == NULL || ps.cur == NULL) {
		conn_send_method(ch->conn, ch->id, m);
		return;
	}
	if ((n = amqp_method_frame_encode(ch->id, m, buf, sizeof(buf))) < 0) {
		conn_send_method(ch->conn, ch->id, m);
		return;
	}
	ctx = ps.ctx;
	w = xcalloc(1, sizeof(*w));
	w->ch = ch;
	w->reply = xmalloc((size_t)n);
	memcpy(w->reply, buf, (size_t)n);
	w->reply_len = (size_t)n;
	LIST_INSERT_HEAD(&ch->store_waiters, w, ch_entry);
	if (ctx->n == ctx->cap) {
		ctx->cap = ctx->cap != 0 ? ctx->cap * 2 : 64;
		ctx->w = xreallocarray(ctx->w, ctx->cap, sizeof(*ctx->w));
	}
	ctx->w[ctx->n++] = w;
}

void persist_channel_gone(struct channel *ch)
{
	struct persist_waiter *w;

	while ((w = LIST_FIRST(&ch->store_waiters)) != NULL) {
		LIST_REMOVE(w, ch_entry);
		w->ch = NULL;
	}
}

/* ---- definitions ---- */

static void def_key(struct buf *k, char kind, const struct vhost *v, const char *name, size_t nlen)
{
	buf_u8(k, (uint8_t)kind);
	buf_str(k, v->name, strlen(v->name));
	buf_str(k, name, nlen);
}

void persist_exchange(const struct exchange *x, bool add)
{
	struct buf k = { 0 }, v = { 0 };

	if (ps.st == NULL || ps.recovering || !x->durable || x->name_len == 0 ||
	    strncmp(x->name, "amq.", 4) == 0)
		return;
	def_key(&k, 'x', x->vhost, x->name, x->name_len);
	if (add) {
		buf_u8(&v, (uint8_t)x->type);
		buf_u8(&v, (uint8_t)(x->auto_delete | x->internal << 1));
		buf_add(&v, x->args, x->args_len);
		store_batch_put(batch(), STORE_DEFS, k.p, k.len, v.p, v.len);
	} else {
		store_batch_del(batch(), STORE_DEFS, k.p, k.len);
	}
	free(k.p);
	free(v.p);
}

static bool queue_durable(const struct queue *q)
{
	return ps.st != NULL && q->durable && !q->exclusive;
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
	def_key(&k, 'q', q->vhost, q->name, q->name_len);
	if (add) {
		if (q->qid == 0)
			q->qid = ++ps.next_qid;
		buf_u64(&v, q->qid);
		buf_u8(&v, (uint8_t)q->auto_delete);
		buf_add(&v, q->args, q->args_len);
		store_batch_put(batch(), STORE_DEFS, k.p, k.len, v.p, v.len);
	} else {
		store_batch_del(batch(), STORE_DEFS, k.p, k.len);
	}
	free(k.p);
	free(v.p);
}

void persist_binding(const struct binding *b, bool add)
{
	struct buf k = { 0 };
	const struct exchange *src = b->source;
	bool durable = b->dq != NULL ? queue_durable(b->dq) : (b->de->durable && ps.st != NULL);

	if (!defs_writable() || !src->durable || !durable)
		return;
	def_key(&k, 'b', src->vhost, src->name, src->name_len);
	if (b->dq != NULL) {
		buf_u8(&k, 'q');
		buf_str(&k, b->dq->name, b->dq->name_len);
	} else {
		buf_u8(&k, 'x');
		buf_str(&k, b->de->name, b->de->name_len);
	}
	buf_str(&k, b->key, b->key_len);
	buf_add(&k, b->args, b->args_len);
	if (add)
		store_batch_put(batch(), STORE_DEFS, k.p, k.len, "", 0);
	else
		store_batch_del(batch(), STORE_DEFS, k.p, k.len);
	free(k.p);
}

/* ---- messages ---- */

#define ENTRY_KEY_LEN 17
#define ENTRY_VAL_LEN 24

static void put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static void entry_key(uint8_t key[ENTRY_KEY_LEN], uint64_t qid, unsigned ri, uint64_t seq)
{
	put_u64(key, qid);
	key[8] = (uint8_t)(255 - ri);
	put_u64(key + 9, seq);
}

/* A message as the msgs table holds it. */
static void message_record(struct buf *v, const struct message *m)
{
	buf_str(v, m->exchange, m->exchange_len);
	buf_str(v, m->routing_key, m->rk_len);
	buf_u32(v, m->props_len);
	buf_add(v, m->props, m->props_len);
	buf_add(v, m->body, (size_t)m->body_have);
}

bool persist_entry_stored(const struct queue *q, const struct message *m)
{
	return queue_durable(q) && m->persistent;
}

bool persist_enqueue(struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at)
{
	uint8_t key[ENTRY_KEY_LEN], id[8], val[ENTRY_VAL_LEN], n[4];
	struct buf v = { 0 };

	if (!queue_durable(q) || !m->persistent)
		return false;
	put_u64(id, m->id);
	if (!m->stored) {
		/* The bytes once, whatever the number of queues. */
		message_record(&v, m);
		m->batch_op = (uint32_t)store_batch_put(batch(), STORE_MSGS, id, 8, v.p, v.len);
		m->batch_gen = ps.cur_gen;
		free(v.p);
		m->stored = true;
		m->durable_refs = 1;
	} else {
		/* Routed to several durable queues: the store counts the entries. */
		m->durable_refs++;
		m->shared = true;
		n[0] = (uint8_t)(m->durable_refs >> 24);
		n[1] = (uint8_t)(m->durable_refs >> 16);
		n[2] = (uint8_t)(m->durable_refs >> 8);
		n[3] = (uint8_t)m->durable_refs;
		store_batch_put(batch(), STORE_REFS, id, 8, n, 4);
	}
	entry_key(key, q->qid, queue_ring_index(q, m), seq);
	memcpy(val, id, 8);
	put_u64(val + 8, m->body_size);
	put_u64(val + 16, expires_at);
	store_batch_put(batch(), STORE_ENTRIES, key, sizeof(key), val, sizeof(val));
	return true;
}

void persist_remove(struct queue *q, struct message *m, uint64_t seq)
{
	uint8_t key[ENTRY_KEY_LEN], id[8];

	if (!queue_durable(q) || !m->persistent || !m->stored)
		return;
	if (m->batch_gen == ps.cur_gen && ps.cur != NULL && !m->shared) {
		/* Its writes have not left yet: cancel them instead (its record, then its entry). */
		store_batch_cancel(ps.cur, m->batch_op);
		store_batch_cancel(ps.cur, m->batch_op + 1);
		m->stored = false;
		return;
	}
	entry_key(key, q->qid, queue_ring_index(q, m), seq);
	store_batch_del(batch(), STORE_ENTRIES, key, sizeof(key));
	put_u64(id, m->id);
	if (m->shared)
		store_batch_release(batch(), STORE_REFS, STORE_MSGS, id, 8);
	else
		store_batch_del(batch(), STORE_MSGS, id, 8);
}

void persist_delivered(struct queue *q, const struct message *m, uint64_t seq)
{
	/* Only entries the store holds need the mark: transient messages cost no disk write. */
	if (!queue_durable(q) || !m->stored || seq <= q->delivered_hi)
		return;
	q->delivered_hi = seq;
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

/* ---- paging ---- */

bool persist_can_page(void)
{
	return ps.st != NULL && !ps.failed && !ps.closing;
}

/* Submit what was written, so that a job submitted next sees it. */
static void submit_current(void)
{
	submit_batch();
}

#define SEGMENT_MAX (1024 * 1024) /* bytes in one scratch segment */

/* Write the gathered segment (if any) into the batch. */
static void segment_flush(void)
{
	uint8_t key[ENTRY_KEY_LEN];

	if (ps.seg_n == 0)
		return;
	ps.seg.p[0] = (uint8_t)(ps.seg_n >> 24);
	ps.seg.p[1] = (uint8_t)(ps.seg_n >> 16);
	ps.seg.p[2] = (uint8_t)(ps.seg_n >> 8);
	ps.seg.p[3] = (uint8_t)ps.seg_n;
	entry_key(key, ps.seg_qid, ps.seg_ri, ps.seg_first);
	store_batch_put(batch(), STORE_SCRATCH, key, sizeof(key), ps.seg.p, ps.seg.len);
	ps.seg.len = 0;
	ps.seg_n = 0;
}

void persist_page_out(struct queue *q, unsigned ri, const struct qentry *e)
{
	uint8_t hdr[29];
	struct buf rec = { 0 };

	if (persist_entry_stored(q, e->m))
		return; /* the store holds it already */
	if (q->qid == 0)
		q->qid = ++ps.next_qid; /* scratch keys need one; it is never written to defs */
	if (ps.seg_n > 0 && (ps.seg_qid != q->qid || ps.seg_ri != ri || ps.seg.len > SEGMENT_MAX))
		segment_flush();
	if (ps.seg_n == 0) {
		ps.seg_qid = q->qid;
		ps.seg_ri = ri;
		ps.seg_first = e->seq;
		ps.seg.len = 0;
		buf_u32(&ps.seg, 0); /* the count, filled in by segment_flush */
	}
	message_record(&rec, e->m);
	put_u64(hdr, e->seq);
	hdr[8] = e->redelivered;
	put_u64(hdr + 9, e->expires_at);
	put_u64(hdr + 17, e->m->id);
	hdr[25] = (uint8_t)(rec.len >> 24);
	hdr[26] = (uint8_t)(rec.len >> 16);
	hdr[27] = (uint8_t)(rec.len >> 8);
	hdr[28] = (uint8_t)rec.len;
	buf_add(&ps.seg, hdr, sizeof(hdr));
	buf_add(&ps.seg, rec.p, rec.len);
	free(rec.p);
	ps.seg_n++;
}

void persist_page_out_done(struct queue *q, unsigned ri)
{
	segment_flush();
}

/* A message from its msgs record (NULL if the record is malformed). */
static struct message *message_from_record(const uint8_t *p, size_t len)
{
	struct rd v = { p, len, false };
	struct amqp_bytes ex, rk, props;
	struct message *m;
	const uint8_t *n;
	uint32_t plen;

	ex = rd_str(&v);
	rk = rd_str(&v);
	n = rd_take(&v, 4);
	plen = n != NULL ? (uint32_t)n[0] << 24 | (uint32_t)n[1] << 16 | (uint32_t)n[2] << 8 | n[3]
	                 : 0;
	props.ptr = rd_take(&v, plen);
	props.len = plen;
	if (v.bad ||
	    amqp_properties_decode(props.ptr, props.len, &(struct amqp_basic_properties){ 0 }) != 0)
		return NULL;
	m = message_new(ex, rk, props, v.left);
	message_append_body(m, v.p, v.left);
	return m;
}

/*
 * A read of paged entries. On the store thread page_in_job fills out (records of: seq(8),
 * flags(1), expiry(8), size(8), id(8), record length(4), record); page_in_done turns them into
 * queue entries on the loop.
 */
enum { PG_OK = 1, PG_STORED = 2, PG_SHARED = 4, PG_REDELIVERED = 8 };

struct page_read {
	struct queue *q;
	unsigned ri;
	uint64_t gen, qid, lo, hi, recover_mark, max_bytes;
	size_t max;
	/* store thread */
	struct buf segs;     /* the scratch segments taken, as read */
	struct buf seg_keys; /* their keys, to delete them */
	size_t seg_entries, nsegs;
	uint64_t seg_last;       /* the last seq in them (0: none) */
	uint64_t next_seg_first; /* the first seq of the next segment in range (0: none) */
	struct buf ents;         /* entries: seq(8) id(8) size(8) expiry(8) */
	size_t nents;
	bool ents_more;
	uint64_t ent_bytes;
	struct buf out;
	size_t nout;
	uint64_t upto;
	bool range_done;
	char err[128];
};

static int take_segment(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct page_read *pr = arg;
	const uint8_t *v = val, *p;
	uint64_t first, last = 0;
	uint32_t n, i, reclen;
	size_t left;

	if (klen != ENTRY_KEY_LEN || vlen < 4)
		return 0;
	first = get_u64((const uint8_t *)key + 9);
	if (first > pr->hi)
		return 1;
	if (pr->nsegs > 0 && (pr->seg_entries >= pr->max || pr->segs.len >= pr->max_bytes)) {
		pr->next_seg_first = first;
		return 1;
	}
	n = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
	/* Find its last seq (and check its shape). */
	for (i = 0, p = v + 4, left = vlen - 4; i < n; i++) {
		if (left < 29)
			return 0; /* malformed: skipped, and reported as missing entries */
		reclen =
		    (uint32_t)p[25] << 24 | (uint32_t)p[26] << 16 | (uint32_t)p[27] << 8 | p[28];
		if (left - 29 < reclen)
			return 0;
		last = get_u64(p);
		p += 29 + reclen;
		left -= 29 + reclen;
	}
	buf_add(&pr->segs, val, vlen);
	buf_add(&pr->seg_keys, key, klen);
	pr->seg_entries += n;
	pr->nsegs++;
	pr->seg_last = last;
	return 0;
}

static int take_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct page_read *pr = arg;
	uint64_t seq;

	if (klen != ENTRY_KEY_LEN || vlen != ENTRY_VAL_LEN)
		return 0;
	seq = get_u64((const uint8_t *)key + 9);
	if (seq > pr->hi || (pr->next_seg_first != 0 && seq >= pr->next_seg_first))
		return 1; /* out of range, or after a segment left for the next read */
	if ((pr->nents >= pr->max || pr->ent_bytes >= pr->max_bytes) && seq > pr->seg_last) {
		pr->ents_more = true;
		return 1;
	}
	buf_u64(&pr->ents, seq);
	buf_add(&pr->ents, val, 8);                       /* id */
	buf_add(&pr->ents, (const uint8_t *)val + 8, 8);  /* size */
	buf_add(&pr->ents, (const uint8_t *)val + 16, 8); /* expiry */
	pr->nents++;
	pr->ent_bytes += get_u64((const uint8_t *)val + 8);
	return 0;
}

static void out_entry(struct page_read *pr, uint64_t seq, uint8_t flags, uint64_t expires,
    uint64_t size, uint64_t id, const void *rec, size_t reclen)
{
	buf_u64(&pr->out, seq);
	buf_u8(&pr->out, flags);
	buf_u64(&pr->out, expires);
	buf_u64(&pr->out, size);
	buf_u64(&pr->out, id);
	buf_u32(&pr->out, (uint32_t)((flags & PG_OK) ? reclen : 0));
	if (flags & PG_OK)
		buf_add(&pr->out, rec, reclen);
	pr->nout++;
	pr->upto = seq;
}

/*
 * On the store thread: whole scratch segments from lo (up to about max entries), and the entries
 * of the entries table before the next segment, merged in seq order.
 */
static int page_in_job(struct store_txn *t, void *arg)
{
	struct page_read *pr = arg;
	uint8_t from[ENTRY_KEY_LEN];
	const uint8_t *sp, *ep;
	size_t i, seg_left = 0, ent_left;
	uint32_t segs_left = (uint32_t)pr->nsegs;
	int r;

	entry_key(from, pr->qid, pr->ri, pr->lo);
	if ((r = store_txn_range(t, STORE_SCRATCH, from, sizeof(from), 9, take_segment, pr)) != 0 ||
	    (r = store_txn_range(t, STORE_ENTRIES, from, sizeof(from), 9, take_entry, pr)) != 0)
		return r;
	segs_left = (uint32_t)pr->nsegs;
	sp = pr->segs.p;
	ep = pr->ents.p;
	ent_left = pr->nents;
	for (;;) {
		uint64_t s0, s1;
		if (seg_left == 0 && segs_left > 0) {
			seg_left =
			    (size_t)sp[0] << 24 | (size_t)sp[1] << 16 | (size_t)sp[2] << 8 | sp[3];
			sp += 4;
			segs_left--;
			continue;
		}
		s0 = seg_left > 0 ? get_u64(sp) : UINT64_MAX;
		s1 = ent_left > 0 ? get_u64(ep) : UINT64_MAX;
		if (s0 == UINT64_MAX && s1 == UINT64_MAX)
			break;
		if (s0 < s1) {
			uint32_t reclen = (uint32_t)sp[25] << 24 | (uint32_t)sp[26] << 16 |
			    (uint32_t)sp[27] << 8 | sp[28];
			out_entry(pr, s0, PG_OK | (sp[8] ? PG_REDELIVERED : 0), get_u64(sp + 9), 0,
			    get_u64(sp + 17), sp + 29, reclen);
			sp += 29 + reclen;
			seg_left--;
		} else {
			const void *mv = NULL, *rv;
			size_t mlen = 0, rlen;
			uint8_t flags = PG_STORED;
			if (s1 <= pr->recover_mark)
				flags |= PG_REDELIVERED;
			if ((r = store_txn_get(t, STORE_REFS, ep + 8, 8, &rv, &rlen)) < 0)
				return r;
			if (r == 0)
				flags |= PG_SHARED;
			if ((r = store_txn_get(t, STORE_MSGS, ep + 8, 8, &mv, &mlen)) < 0)
				return r;
			if (r == 0)
				flags |= PG_OK;
			out_entry(pr, s1, flags, get_u64(ep + 24), get_u64(ep + 16),
			    get_u64(ep + 8), mv, mlen);
			ep += 32;
			ent_left--;
		}
	}
	/* The segments taken leave scratch: their entries are in memory now. */
	for (i = 0; i < pr->nsegs; i++)
		if ((r = store_txn_del(
		         t, STORE_SCRATCH, pr->seg_keys.p + i * ENTRY_KEY_LEN, ENTRY_KEY_LEN)) != 0)
			return r;
	pr->range_done = pr->next_seg_first == 0 && !pr->ents_more;
	return 0;
}

static void page_in_done(void *arg, int status)
{
	struct page_read *pr = arg;
	struct paged_entry *v = NULL;
	struct rd rd = { pr->out.p, pr->out.len, false };
	size_t i, n = 0;
	bool lost = false;

	if (status != 0) {
		log_error("store: reading paged messages of queue '%s': %s%s%s", pr->q->name,
		    store_last_error(ps.st), pr->err[0] != '\0' ? ": " : "", pr->err);
		pr->nout = 0;
		pr->range_done = false;
	}
	if (pr->nout > 0)
		v = xcalloc(pr->nout, sizeof(*v));
	for (i = 0; i < pr->nout; i++) {
		uint64_t seq = rd_u64(&rd), expires, size, id;
		uint8_t flags = rd_u8(&rd);
		const uint8_t *lenp, *rec;
		uint32_t reclen;
		struct message *m = NULL;

		expires = rd_u64(&rd);
		size = rd_u64(&rd);
		id = rd_u64(&rd);
		lenp = rd_take(&rd, 4);
		reclen = lenp != NULL ? (uint32_t)lenp[0] << 24 | (uint32_t)lenp[1] << 16 |
		        (uint32_t)lenp[2] << 8 | lenp[3]
		                      : 0;
		rec = rd_take(&rd, reclen);
		if (rd.bad)
			break;
		if ((flags & PG_OK) && (m = message_from_record(rec, reclen)) != NULL) {
			m->id = id;
			m->stored = (flags & PG_STORED) != 0;
			m->shared = (flags & PG_SHARED) != 0;
			v[n].ok = true;
		} else {
			/* A placeholder that carries the size for the queue's accounting. */
			struct amqp_bytes none = { (const uint8_t *)"", 0 };
			m = message_new(none, none, none, size);
			m->body_have = 0;
			lost = true;
		}
		v[n].e = (struct qentry){ m, seq, expires, (flags & PG_REDELIVERED) != 0 };
		n++;
	}
	if (lost)
		log_error(
		    "store: queue '%s' in vhost '%s': a paged message is missing from the store",
		    pr->q->name, pr->q->vhost->name);
	queue_paged_in(pr->q, pr->ri, pr->gen, v, n, pr->upto, pr->range_done);
	queue_unref(pr->q);
	free(v);
	free(pr->segs.p);
	free(pr->seg_keys.p);
	free(pr->ents.p);
	free(pr->out.p);
	free(pr);
}

void persist_page_in(
    struct queue *q, unsigned ri, uint64_t lo, uint64_t hi, size_t max, uint64_t max_bytes)
{
	struct page_read *pr = xcalloc(1, sizeof(*pr));

	pr->q = queue_ref(q);
	pr->ri = ri;
	pr->gen = q->page_gen;
	pr->qid = q->qid;
	pr->lo = lo;
	pr->hi = hi;
	pr->max = max;
	pr->max_bytes = max_bytes;
	pr->recover_mark = q->recover_mark;
	submit_current();
	store_submit_job(ps.st, page_in_job, page_in_done, pr);
}

/*
 * Deleting paged entries: a job deletes up to REAP_CHUNK entries (releasing their messages) and
 * scratch records per run, and runs again until the range is empty. For a durable queue, a "dead"
 * record written with the purge says the range is gone even if the broker stops before the job
 * ends; recovery skips such entries and starts the job again.
 */
#define REAP_CHUNK 4096

struct reap {
	uint64_t qid, lo, hi;
	unsigned ri;
	bool whole_queue; /* every entry of qid (a queue that is gone) */
	bool has_dead;
	bool more;
	struct buf keys;
	size_t n;
};

static void dead_key(uint8_t key[4 + ENTRY_KEY_LEN], uint64_t qid, unsigned ri, uint64_t lo)
{
	memcpy(key, "dead", 4);
	entry_key(key + 4, qid, ri, lo);
}

static int reap_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct reap *rp = arg;

	if (klen != ENTRY_KEY_LEN)
		return 0;
	if (!rp->whole_queue && get_u64((const uint8_t *)key + 9) > rp->hi)
		return 1;
	if (rp->n == REAP_CHUNK) {
		rp->more = true;
		return 1;
	}
	buf_add(&rp->keys, key, klen);
	buf_add(&rp->keys, vlen >= 8 ? val : "\0\0\0\0\0\0\0\0", 8);
	rp->n++;
	return 0;
}

static int reap_job(struct store_txn *t, void *arg)
{
	struct reap *rp = arg;
	uint8_t from[ENTRY_KEY_LEN], dk[4 + ENTRY_KEY_LEN];
	size_t i;
	int r, k;

	rp->more = false;
	entry_key(from, rp->qid, rp->ri, rp->lo);
	for (k = 0; k < 2; k++) {
		enum store_table tb = k == 0 ? STORE_ENTRIES : STORE_SCRATCH;
		rp->keys.len = 0;
		rp->n = 0;
		if ((r = store_txn_range(t, tb, from, sizeof(from), rp->whole_queue ? 8 : 9,
		         reap_collect, rp)) != 0)
			return r;
		for (i = 0; i < rp->n; i++) {
			const uint8_t *e = rp->keys.p + i * (ENTRY_KEY_LEN + 8);
			if ((r = store_txn_del(t, tb, e, ENTRY_KEY_LEN)) != 0)
				return r;
			if (k == 0 &&
			    (r = store_txn_release(
			         t, STORE_REFS, STORE_MSGS, e + ENTRY_KEY_LEN, 8)) != 0)
				return r;
		}
	}
	if (!rp->more && rp->has_dead) {
		dead_key(dk, rp->qid, rp->ri, rp->lo);
		if ((r = store_txn_del(t, STORE_META, dk, sizeof(dk))) != 0)
			return r;
	}
	return 0;
}

static void reap_done(void *arg, int status)
{
	struct reap *rp = arg;

	if (status == 0 && rp->more && ps.st != NULL && !ps.closing) {
		store_submit_job(ps.st, reap_job, reap_done, rp);
		return;
	}
	free(rp->keys.p);
	free(rp);
}

static void reap_start(uint64_t qid, unsigned ri, uint64_t lo, uint64_t hi, bool whole, bool dead)
{
	struct reap *rp;

	if (ps.closing)
		return; /* the next start finds the entries and deletes them */
	rp = xcalloc(1, sizeof(*rp));
	rp->qid = qid;
	rp->ri = whole ? 0 : ri;
	rp->lo = whole ? 0 : lo;
	rp->hi = hi;
	rp->whole_queue = whole;
	rp->has_dead = dead;
	if (whole) /* from the queue's first key: level 255 is ring 0, so start below every level */
		rp->ri = 255;
	submit_current();
	store_submit_job(ps.st, reap_job, reap_done, rp);
}

void persist_drop_paged(struct queue *q, unsigned ri, uint64_t lo, uint64_t hi)
{
	uint8_t dk[4 + ENTRY_KEY_LEN], hv[8];
	bool dead = false;

	if (ps.st == NULL)
		return;
	if (queue_durable(q) && !q->deleted) {
		/* The purge holds across a restart even if the job has not finished. */
		dead_key(dk, q->qid, ri, lo);
		put_u64(hv, hi);
		store_batch_put(batch(), STORE_META, dk, sizeof(dk), hv, sizeof(hv));
		dead = true;
	}
	reap_start(q->qid, ri, lo, hi, false, dead);
}

/* ---- recovery ---- */

struct dead_range {
	uint64_t qid, lo, hi;
	unsigned level;
};

struct recovery {
	struct hmap queues; /* qid (8 bytes) -> queue */
	struct hmap marks;  /* qid (8 bytes) -> delivered mark (heap u64) */
	struct hmap orphan_qids;
	struct dead_range *dead;
	size_t ndead, capdead;
	/* the run of entries being counted: one queue's priority level */
	struct queue *run_q;
	uint64_t run_qid;
	unsigned run_level;
	uint64_t run_count, run_bytes, run_lo, run_hi;
	uint64_t nentries, nqueues, nexchanges, nbindings, orphans, dead_entries;
	bool corrupt;
};

static struct vhost *recover_vhost(struct amqp_bytes name)
{
	struct vhost *v = vhost_find(name);

	/* Definitions of a vhost that is no longer configured: keep them on disk, load nothing. */
	return v;
}

static int recover_exchange(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rd k = { key, klen, false }, v = { val, vlen, false };
	struct amqp_bytes vh, name;
	uint8_t type, flags;
	struct vhost *vhost;

	if (rd_u8(&k) != 'x')
		return 0;
	vh = rd_str(&k);
	name = rd_str(&k);
	type = rd_u8(&v);
	flags = rd_u8(&v);
	if (k.bad || v.bad || type > EX_HEADERS) {
		rc->corrupt = true;
		return 0;
	}
	if ((vhost = recover_vhost(vh)) == NULL || vhost_exchange(vhost, name) != NULL)
		return 0;
	exchange_new(vhost, name, (enum exchange_type)type, true, flags & 1, (flags >> 1) & 1,
	    (struct amqp_bytes){ v.p, v.left });
	rc->nexchanges++;
	return 0;
}

static int recover_queue(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rd k = { key, klen, false }, v = { val, vlen, false };
	struct amqp_bytes vh, name;
	struct queue_args qa;
	struct vhost *vhost;
	struct queue *q;
	uint64_t qid;
	uint8_t flags;
	char err[512], *qname;

	if (rd_u8(&k) != 'q')
		return 0;
	vh = rd_str(&k);
	name = rd_str(&k);
	qid = rd_u64(&v);
	flags = rd_u8(&v);
	if (k.bad || v.bad || qid == 0) {
		rc->corrupt = true;
		return 0;
	}
	if ((vhost = recover_vhost(vh)) == NULL || vhost_queue(vhost, name) != NULL)
		return 0;
	qname = xbytesdup(name);
	if (queue_args_parse((struct amqp_bytes){ v.p, v.left }, &qa, qname, vhost->name, err,
	        sizeof(err)) != 0) {
		log_warn("store: queue '%s': %s; recovered without its arguments", qname, err);
		memset(&qa, 0, sizeof(qa));
	}
	free(qname);
	q = queue_new(
	    vhost, name, true, false, flags & 1, NULL, (struct amqp_bytes){ v.p, v.left }, &qa);
	q->qid = qid;
	if (qid > ps.next_qid)
		ps.next_qid = qid;
	hmap_put(&rc->queues, &q->qid, sizeof(q->qid), q);
	rc->nqueues++;
	return 0;
}

static int recover_binding(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rd k = { key, klen, false };
	struct amqp_bytes vh, src, dst, rk;
	struct vhost *vhost;
	struct exchange *x, *dx = NULL;
	struct queue *dq = NULL;
	uint8_t kind;

	if (rd_u8(&k) != 'b')
		return 0;
	vh = rd_str(&k);
	src = rd_str(&k);
	kind = rd_u8(&k);
	dst = rd_str(&k);
	rk = rd_str(&k);
	if (k.bad) {
		rc->corrupt = true;
		return 0;
	}
	if ((vhost = recover_vhost(vh)) == NULL || (x = vhost_exchange(vhost, src)) == NULL)
		return 0;
	if (kind == 'q')
		dq = vhost_queue(vhost, dst);
	else
		dx = vhost_exchange(vhost, dst);
	if (dq == NULL && dx == NULL)
		return 0;
	exchange_bind(x, dq, dx, rk, (struct amqp_bytes){ k.p, k.left });
	rc->nbindings++;
	return 0;
}

static int recover_meta(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	const uint8_t *k = key;
	uint64_t *mark;

	if (klen == 17 && memcmp(key, "delivered", 9) == 0 && vlen == 8) {
		mark = xmalloc(2 * sizeof(*mark));
		mark[0] = get_u64(k + 9);
		mark[1] = get_u64(val);
		hmap_put(&rc->marks, &mark[0], sizeof(mark[0]), mark);
	} else if (klen == 4 + ENTRY_KEY_LEN && memcmp(key, "dead", 4) == 0 && vlen == 8) {
		if (rc->ndead == rc->capdead) {
			rc->capdead = rc->capdead != 0 ? rc->capdead * 2 : 8;
			rc->dead = xreallocarray(rc->dead, rc->capdead, sizeof(*rc->dead));
		}
		rc->dead[rc->ndead++] =
		    (struct dead_range){ get_u64(k + 4), get_u64(k + 13), get_u64(val), k[12] };
	}
	return 0;
}

static bool entry_dead(const struct recovery *rc, uint64_t qid, unsigned level, uint64_t seq)
{
	size_t i;

	for (i = 0; i < rc->ndead; i++)
		if (rc->dead[i].qid == qid && rc->dead[i].level == level && seq >= rc->dead[i].lo &&
		    seq <= rc->dead[i].hi)
			return true;
	return false;
}

/* The run of counted entries ends: the queue learns it has them, to read back as needed. */
static void recover_run_end(struct recovery *rc)
{
	if (rc->run_q != NULL && rc->run_count > 0)
		queue_recover_paged(rc->run_q, 255 - rc->run_level, rc->run_count, rc->run_bytes,
		    rc->run_lo, rc->run_hi);
	rc->run_q = NULL;
	rc->run_count = rc->run_bytes = 0;
}

/* Entries are only counted here: the messages are read when the queue's consumers near them. */
static int recover_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	const uint8_t *k = key;
	uint64_t qid, seq;
	unsigned level;
	struct queue *q;

	if (klen != ENTRY_KEY_LEN || vlen != ENTRY_VAL_LEN) {
		rc->corrupt = true;
		return 0;
	}
	qid = get_u64(k);
	level = k[8];
	seq = get_u64(k + 9);
	if (rc->run_q == NULL || qid != rc->run_qid || level != rc->run_level) {
		recover_run_end(rc);
		rc->run_qid = qid;
		rc->run_level = level;
		q = hmap_get(&rc->queues, &qid, sizeof(qid));
		if (q == NULL) {
			/* An entry whose queue is gone: deleted after the start-up. */
			if (hmap_get(&rc->orphan_qids, &qid, sizeof(qid)) == NULL) {
				uint64_t *p = xmalloc(sizeof(*p));
				*p = qid;
				hmap_put(&rc->orphan_qids, p, sizeof(*p), p);
			}
			rc->orphans++;
			return 0;
		}
		if (255 - level >= q->nrings) {
			rc->corrupt = true;
			return 0;
		}
		rc->run_q = q;
		rc->run_lo = seq;
	}
	if (entry_dead(rc, qid, level, seq)) {
		rc->dead_entries++;
		return 0;
	}
	if (rc->run_count == 0)
		rc->run_lo = seq;
	rc->run_hi = seq;
	rc->run_count++;
	rc->run_bytes += get_u64((const uint8_t *)val + 8);
	rc->nentries++;
	return 0;
}

int persist_open(const char *dir, char *err, size_t errlen)
{
	struct recovery rc = { 0 };
	struct hmap_iter it;
	uint8_t last[64];
	size_t lastlen = sizeof(last), i;
	void *p;
	int r = 0;

	if ((ps.st = store_open(dir, err, errlen)) == NULL)
		return -1;
	ps.flush_ev = event_new(broker.base, -1, 0, flush_cb, NULL);
	ps.completion_ev = event_new(
	    broker.base, store_completion_fd(ps.st), EV_READ | EV_PERSIST, completion_cb, NULL);
	event_add(ps.completion_ev, NULL);
	ps.dir = xstrdup(dir);
	ps.disk_ev = event_new(broker.base, -1, EV_PERSIST, disk_cb, NULL);
	event_add(ps.disk_ev, &(struct timeval){ 2, 0 });
	disk_cb(-1, 0, NULL);
	hmap_init(&rc.queues);
	hmap_init(&rc.marks);
	hmap_init(&rc.orphan_qids);
	ps.recovering = true;
	/* Exchanges, then queues, then bindings between them; then marks and entries. */
	if ((r = store_scan(ps.st, STORE_DEFS, recover_exchange, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_DEFS, recover_queue, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_DEFS, recover_binding, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_META, recover_meta, &rc)) != 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	/* Delivered marks first: entries read back up to them are redelivered. */
	hmap_iter_init(&rc.marks, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		uint64_t *mark = p;
		struct queue *q = hmap_get(&rc.queues, &mark[0], sizeof(mark[0]));
		if (q != NULL)
			q->delivered_hi = q->recover_mark = mark[1];
	}
	/* Message ids go on from the greatest stored. */
	if ((r = store_last_key(ps.st, STORE_MSGS, last, &lastlen)) < 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	if (r == 0 && lastlen == 8 && get_u64(last) > broker.next_message_id)
		broker.next_message_id = get_u64(last);
	r = 0;
	ps.recovering = false; /* reads of the first entries may be submitted from here on */
	if ((r = store_scan(ps.st, STORE_ENTRIES, recover_entry, &rc)) != 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	recover_run_end(&rc);
	if (rc.corrupt) {
		snprintf(err, errlen,
		    "%s: a record is shorter than its fields: the store is corrupt", dir);
		r = -1;
		goto out;
	}
	/* Finish deleting what was purged or deleted before the stop. */
	for (i = 0; i < rc.ndead; i++)
		reap_start(rc.dead[i].qid, 255 - rc.dead[i].level, rc.dead[i].lo, rc.dead[i].hi,
		    false, true);
	hmap_iter_init(&rc.orphan_qids, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		reap_start(*(uint64_t *)p, 0, 0, 0, true, false);
	log_info("store %s: recovered %llu exchanges, %llu queues, %llu bindings, %llu queued "
	         "messages (%llu entries of deleted queues and %llu purged ones to delete)",
	    dir, (unsigned long long)rc.nexchanges, (unsigned long long)rc.nqueues,
	    (unsigned long long)rc.nbindings, (unsigned long long)rc.nentries,
	    (unsigned long long)rc.orphans, (unsigned long long)rc.dead_entries);
out:
	ps.recovering = false;
	hmap_iter_init(&rc.marks, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		free(p);
	hmap_iter_init(&rc.orphan_qids, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		free(p);
	hmap_clear(&rc.marks);
	hmap_clear(&rc.orphan_qids);
	hmap_clear(&rc.queues);
	free(rc.dead);
	if (r != 0) {
		persist_close();
		return -1;
	}
	return 0;
}

void persist_close(void)
{
	if (ps.st == NULL)
		return;
	submit_batch();
	ps.closing = true;
	store_close(ps.st); /* runs the last completions */
	ps.closing = false;
	ps.st = NULL;
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
}

/* ---- offline dump and verification (warrenctl store-dump / store-verify) ---- */

struct dump {
	FILE *out;
	bool quiet;           /* verify only */
	struct hmap queues;   /* qid -> struct dump_queue */
	struct hmap messages; /* id -> uint64_t[3]: id, entries, counted references (0: none) */
	struct dead_range *dead;
	size_t ndead, capdead;
	uint64_t problems, nmsgs, msg_bytes, nentries, ndead_entries;
};

struct dump_queue {
	uint64_t qid, entries;
	char *label;
};

static void dump_problem(struct dump *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void dump_problem(struct dump *d, const char *fmt, ...)
{
	va_list ap;

	d->problems++;
	fprintf(d->out, "problem: ");
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
}

static int dump_def(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	struct rd k = { key, klen, false }, v = { val, vlen, false };
	uint8_t kind = rd_u8(&k), type, flags, dkind;
	struct amqp_bytes vh = rd_str(&k), name = rd_str(&k), dst, rk;
	struct dump_queue *q;
	uint64_t qid;

	switch (kind) {
	case 'x':
		type = rd_u8(&v);
		flags = rd_u8(&v);
		if (k.bad || v.bad || type > EX_HEADERS) {
			dump_problem(d, "an exchange record is malformed");
			return 0;
		}
		if (!d->quiet)
			fprintf(d->out,
			    "exchange '%.*s' in vhost '%.*s': %s, durable%s%s, %zu bytes of "
			    "arguments\n",
			    (int)name.len, (const char *)name.ptr, (int)vh.len,
			    (const char *)vh.ptr, exchange_type_name((enum exchange_type)type),
			    flags & 1 ? ", auto-delete" : "", flags & 2 ? ", internal" : "",
			    v.left);
		return 0;
	case 'q':
		qid = rd_u64(&v);
		flags = rd_u8(&v);
		if (k.bad || v.bad || qid == 0) {
			dump_problem(d, "a queue record is malformed");
			return 0;
		}
		q = xcalloc(1, sizeof(*q));
		q->qid = qid;
		q->label = xmalloc(name.len + vh.len + 32);
		snprintf(q->label, name.len + vh.len + 32, "'%.*s' in vhost '%.*s'", (int)name.len,
		    (const char *)name.ptr, (int)vh.len, (const char *)vh.ptr);
		hmap_put(&d->queues, &q->qid, sizeof(q->qid), q);
		if (!d->quiet)
			fprintf(d->out, "queue %s: durable%s, id %llu, %zu bytes of arguments\n",
			    q->label, flags & 1 ? ", auto-delete" : "", (unsigned long long)qid,
			    v.left);
		return 0;
	case 'b':
		dkind = rd_u8(&k);
		dst = rd_str(&k);
		rk = rd_str(&k);
		if (k.bad || (dkind != 'q' && dkind != 'x')) {
			dump_problem(d, "a binding record is malformed");
			return 0;
		}
		if (!d->quiet)
			fprintf(d->out,
			    "binding in vhost '%.*s': exchange '%.*s' -> %s '%.*s', key '%.*s'\n",
			    (int)vh.len, (const char *)vh.ptr, (int)name.len,
			    (const char *)name.ptr, dkind == 'q' ? "queue" : "exchange",
			    (int)dst.len, (const char *)dst.ptr, (int)rk.len, (const char *)rk.ptr);
		return 0;
	default: dump_problem(d, "a definition record of unknown kind 0x%02x", kind); return 0;
	}
}

static int dump_msg(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	struct rd v = { val, vlen, false };
	uint64_t *rec;

	if (klen != 8) {
		dump_problem(d, "a message record has a %zu-byte key", klen);
		return 0;
	}
	rd_str(&v);
	rd_str(&v);
	rd_take(&v, 4);
	if (v.bad) {
		dump_problem(d, "message %llu is malformed", (unsigned long long)get_u64(key));
		return 0;
	}
	rec = xcalloc(3, sizeof(*rec));
	rec[0] = get_u64(key);
	hmap_put(&d->messages, &rec[0], sizeof(rec[0]), rec);
	d->nmsgs++;
	d->msg_bytes += vlen;
	return 0;
}

static int dump_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	struct dump_queue *q;
	uint64_t qid, id, *rec;

	const uint8_t *k = key;
	size_t i;
	bool dead = false;

	if (klen != ENTRY_KEY_LEN || vlen != ENTRY_VAL_LEN) {
		dump_problem(d, "a queue entry is malformed");
		return 0;
	}
	qid = get_u64(key);
	id = get_u64(val);
	for (i = 0; i < d->ndead; i++)
		if (d->dead[i].qid == qid && d->dead[i].level == k[8] &&
		    get_u64(k + 9) >= d->dead[i].lo && get_u64(k + 9) <= d->dead[i].hi)
			dead = true;
	if (dead)
		d->ndead_entries++; /* purged: being deleted */
	else if ((q = hmap_get(&d->queues, &qid, sizeof(qid))) == NULL)
		d->ndead_entries++; /* of a deleted queue: being deleted */
	else {
		d->nentries++;
		q->entries++;
	}
	if ((rec = hmap_get(&d->messages, &id, sizeof(id))) == NULL)
		dump_problem(d, "an entry refers to message %llu, which does not exist",
		    (unsigned long long)id);
	else
		rec[1]++;
	return 0;
}

static int dump_refs(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	const uint8_t *v = val;
	uint64_t id, *rec;

	if (klen != 8 || vlen != 4) {
		dump_problem(d, "a reference count is malformed");
		return 0;
	}
	id = get_u64(key);
	if ((rec = hmap_get(&d->messages, &id, sizeof(id))) == NULL)
		dump_problem(d, "a reference count for message %llu, which does not exist",
		    (unsigned long long)id);
	else
		rec[2] = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
	return 0;
}

static int dump_meta(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	const uint8_t *k = key;

	if (klen == 4 + ENTRY_KEY_LEN && memcmp(key, "dead", 4) == 0 && vlen == 8) {
		if (d->ndead == d->capdead) {
			d->capdead = d->capdead != 0 ? d->capdead * 2 : 8;
			d->dead = xreallocarray(d->dead, d->capdead, sizeof(*d->dead));
		}
		d->dead[d->ndead++] =
		    (struct dead_range){ get_u64(k + 4), get_u64(k + 13), get_u64(val), k[12] };
	}
	return 0;
}

int persist_dump(const char *dir, FILE *out, bool verify_only, char *err, size_t errlen)
{
	struct dump d = { .out = out, .quiet = verify_only };
	struct store *st;
	struct hmap_iter it;
	void *p;
	int r;

	if ((st = store_open(dir, err, errlen)) == NULL)
		return -1;
	hmap_init(&d.queues);
	hmap_init(&d.messages);
	if ((r = store_scan(st, STORE_DEFS, dump_def, &d)) != 0 ||
	    (r = store_scan(st, STORE_META, dump_meta, &d)) != 0 ||
	    (r = store_scan(st, STORE_MSGS, dump_msg, &d)) != 0 ||
	    (r = store_scan(st, STORE_REFS, dump_refs, &d)) != 0 ||
	    (r = store_scan(st, STORE_ENTRIES, dump_entry, &d)) != 0) {
		snprintf(err, errlen, "%s", store_last_error(st));
		r = -1;
	}
	hmap_iter_init(&d.queues, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		struct dump_queue *q = p;
		if (!verify_only)
			fprintf(out, "queue %s holds %llu messages\n", q->label,
			    (unsigned long long)q->entries);
		free(q->label);
		free(q);
	}
	hmap_iter_init(&d.messages, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		uint64_t *rec = p;
		if (rec[1] == 0)
			dump_problem(&d, "message %llu is in no queue", (unsigned long long)rec[0]);
		else if (rec[1] != (rec[2] != 0 ? rec[2] : 1))
			dump_problem(&d,
			    "message %llu is in %llu queue entries but counted in %llu",
			    (unsigned long long)rec[0], (unsigned long long)rec[1],
			    (unsigned long long)(rec[2] != 0 ? rec[2] : 1));
		free(rec);
	}
	hmap_clear(&d.queues);
	hmap_clear(&d.messages);
	free(d.dead);
	fprintf(out,
	    "%llu messages (%llu bytes) in %llu queue entries (and %llu being deleted), %llu on "
	    "disk in all: %s\n",
	    (unsigned long long)d.nmsgs, (unsigned long long)d.msg_bytes,
	    (unsigned long long)d.nentries, (unsigned long long)d.ndead_entries,
	    (unsigned long long)store_disk_usage(st), d.problems == 0 ? "ok" : "PROBLEMS");
	store_close(st);
	if (r == 0 && d.problems > 0) {
		snprintf(err, errlen, "%llu problems", (unsigned long long)d.problems);
		r = -1;
	}
	return r;
}
