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
 *   entries qid(8) seq(8)              -> message id(8)
 *   meta    "delivered" qid(8)         -> the highest seq delivered from that queue(8)
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
	uint64_t next_qid;
	struct queue **dirty; /* queues whose delivered mark changed */
	size_t ndirty, capdirty;
	bool failed;
	bool recovering; /* rebuilding from the store: nothing is written back */
} ps;

bool persist_enabled(void)
{
	return ps.st != NULL;
}

/* ---- encoding helpers ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

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

static struct store_batch *batch(void)
{
	if (ps.cur == NULL) {
		ps.cur = store_batch_new();
		ps.ctx = xcalloc(1, sizeof(*ps.ctx));
		event_active(ps.flush_ev, 0, 0);
	}
	return ps.cur;
}

static void batch_done(void *arg, int status)
{
	struct batch_ctx *ctx = arg;
	size_t i;

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

/* Hand what this turn of the loop wrote to the store. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
	write_delivered_marks();
	if (ps.cur == NULL)
		return;
	store_submit(ps.st, ps.cur, batch_done, ps.ctx);
	ps.cur = NULL;
	ps.ctx = NULL;
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

static void entry_key(uint8_t key[16], uint64_t qid, uint64_t seq)
{
	for (int i = 0; i < 8; i++) {
		key[i] = (uint8_t)(qid >> (56 - 8 * i));
		key[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
	}
}

bool persist_enqueue(struct queue *q, struct message *m, uint64_t seq)
{
	uint8_t key[16], id[8];
	struct buf v = { 0 };

	if (!queue_durable(q) || !m->persistent)
		return false;
	for (int i = 0; i < 8; i++)
		id[i] = (uint8_t)(m->id >> (56 - 8 * i));
	if (m->durable_refs++ == 0) {
		/* The bytes once, whatever the number of queues. */
		buf_str(&v, m->exchange, m->exchange_len);
		buf_str(&v, m->routing_key, m->rk_len);
		buf_u32(&v, m->props_len);
		buf_add(&v, m->props, m->props_len);
		buf_add(&v, m->body, (size_t)m->body_have);
		store_batch_put(batch(), STORE_MSGS, id, 8, v.p, v.len);
		free(v.p);
	}
	entry_key(key, q->qid, seq);
	store_batch_put(batch(), STORE_ENTRIES, key, 16, id, 8);
	return true;
}

void persist_remove(struct queue *q, struct message *m, uint64_t seq)
{
	uint8_t key[16], id[8];

	if (!queue_durable(q) || !m->persistent || m->durable_refs == 0)
		return;
	entry_key(key, q->qid, seq);
	store_batch_del(batch(), STORE_ENTRIES, key, 16);
	if (--m->durable_refs == 0) {
		for (int i = 0; i < 8; i++)
			id[i] = (uint8_t)(m->id >> (56 - 8 * i));
		store_batch_del(batch(), STORE_MSGS, id, 8);
	}
}

void persist_delivered(struct queue *q, const struct message *m, uint64_t seq)
{
	/* Only entries the store holds need the mark: transient messages cost no disk write. */
	if (!queue_durable(q) || m->durable_refs == 0 || seq <= q->delivered_hi)
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

/* ---- recovery ---- */

struct recovery {
	struct hmap msgs;   /* id (8 bytes) -> message */
	struct hmap queues; /* qid (8 bytes) -> queue */
	struct hmap marks;  /* qid (8 bytes) -> delivered mark (heap u64) */
	uint64_t nmsgs, nentries, nqueues, nexchanges, nbindings, orphans;
	bool corrupt;
	struct buf corrupt_what;
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

static int recover_message(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rd v = { val, vlen, false };
	struct amqp_bytes ex, rk, props;
	struct message *m;
	uint32_t plen;
	const uint8_t *p;
	uint64_t id;

	if (klen != 8) {
		rc->corrupt = true;
		return 0;
	}
	id = get_u64(key);
	ex = rd_str(&v);
	rk = rd_str(&v);
	p = rd_take(&v, 4);
	plen = p != NULL ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
	                 : 0;
	props.ptr = rd_take(&v, plen);
	props.len = plen;
	if (v.bad ||
	    amqp_properties_decode(props.ptr, props.len, &(struct amqp_basic_properties){ 0 }) !=
	        0) {
		rc->corrupt = true;
		return 0;
	}
	m = message_new(ex, rk, props, v.left);
	message_append_body(m, v.p, v.left);
	m->id = id;
	if (id > broker.next_message_id)
		broker.next_message_id = id;
	hmap_put(&rc->msgs, &m->id, sizeof(m->id), m);
	rc->nmsgs++;
	return 0;
}

static int recover_mark(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	uint64_t *mark;

	if (klen != 17 || memcmp(key, "delivered", 9) != 0 || vlen != 8)
		return 0;
	mark = xmalloc(2 * sizeof(*mark));
	mark[0] = get_u64((const uint8_t *)key + 9);
	mark[1] = get_u64(val);
	hmap_put(&rc->marks, &mark[0], sizeof(mark[0]), mark);
	return 0;
}

static int recover_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	uint64_t qid, seq, id, *mark;
	struct queue *q;
	struct message *m;

	if (klen != 16 || vlen != 8) {
		rc->corrupt = true;
		return 0;
	}
	qid = get_u64(key);
	seq = get_u64((const uint8_t *)key + 8);
	id = get_u64(val);
	q = hmap_get(&rc->queues, &qid, sizeof(qid));
	m = hmap_get(&rc->msgs, &id, sizeof(id));
	if (q == NULL || m == NULL) {
		/* An entry whose queue or message is gone: drop it. */
		store_batch_del(batch(), STORE_ENTRIES, key, klen);
		rc->orphans++;
		return 0;
	}
	mark = hmap_get(&rc->marks, &qid, sizeof(qid));
	queue_recover_entry(q, m, seq, mark != NULL && seq <= mark[1]);
	if (mark != NULL && mark[1] > q->delivered_hi)
		q->delivered_hi = mark[1];
	m->durable_refs++;
	rc->nentries++;
	return 0;
}

int persist_open(const char *dir, char *err, size_t errlen)
{
	struct recovery rc = { 0 };
	struct hmap_iter it;
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
	hmap_init(&rc.msgs);
	hmap_init(&rc.queues);
	hmap_init(&rc.marks);
	ps.recovering = true;
	/* Exchanges, then queues, then bindings between them; then messages and entries. */
	if ((r = store_scan(ps.st, STORE_DEFS, recover_exchange, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_DEFS, recover_queue, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_DEFS, recover_binding, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_META, recover_mark, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_MSGS, recover_message, &rc)) != 0 ||
	    (r = store_scan(ps.st, STORE_ENTRIES, recover_entry, &rc)) != 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	ps.recovering = false;
	if (rc.corrupt) {
		snprintf(err, errlen,
		    "%s: a record is shorter than its fields: the store is corrupt", dir);
		r = -1;
		goto out;
	}
	/* Messages no queue holds any more: drop them now. */
	hmap_iter_init(&rc.msgs, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		struct message *m = p;
		if (m->durable_refs == 0) {
			uint8_t id[8];
			for (int i = 0; i < 8; i++)
				id[i] = (uint8_t)(m->id >> (56 - 8 * i));
			store_batch_del(batch(), STORE_MSGS, id, 8);
			rc.orphans++;
		}
		message_unref(m); /* the queues hold their own references */
	}
	log_info(
	    "store %s: recovered %llu exchanges, %llu queues, %llu bindings, %llu messages in %llu "
	    "queue entries (%llu orphans dropped)",
	    dir, (unsigned long long)rc.nexchanges, (unsigned long long)rc.nqueues,
	    (unsigned long long)rc.nbindings, (unsigned long long)rc.nmsgs,
	    (unsigned long long)rc.nentries, (unsigned long long)rc.orphans);
out:
	ps.recovering = false;
	hmap_iter_init(&rc.marks, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		free(p);
	hmap_clear(&rc.marks);
	hmap_clear(&rc.msgs);
	hmap_clear(&rc.queues);
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
	flush_cb(-1, 0, NULL);
	store_close(ps.st); /* runs the last completions */
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
	ps.ndirty = ps.capdirty = 0;
}

/* ---- offline dump and verification (warrenctl store-dump / store-verify) ---- */

struct dump {
	FILE *out;
	bool quiet;           /* verify only */
	struct hmap queues;   /* qid -> struct dump_queue */
	struct hmap messages; /* id -> uint64_t[2]: id, references */
	uint64_t problems, nmsgs, msg_bytes, nentries;
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
	rec = xcalloc(2, sizeof(*rec));
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

	if (klen != 16 || vlen != 8) {
		dump_problem(d, "a queue entry is malformed");
		return 0;
	}
	qid = get_u64(key);
	id = get_u64(val);
	d->nentries++;
	if ((q = hmap_get(&d->queues, &qid, sizeof(qid))) == NULL)
		dump_problem(
		    d, "an entry of queue id %llu, which does not exist", (unsigned long long)qid);
	else
		q->entries++;
	if ((rec = hmap_get(&d->messages, &id, sizeof(id))) == NULL)
		dump_problem(d, "an entry refers to message %llu, which does not exist",
		    (unsigned long long)id);
	else
		rec[1]++;
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
	    (r = store_scan(st, STORE_MSGS, dump_msg, &d)) != 0 ||
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
		free(rec);
	}
	hmap_clear(&d.queues);
	hmap_clear(&d.messages);
	fprintf(out, "%llu messages (%llu bytes) in %llu queue entries, %llu on disk in all: %s\n",
	    (unsigned long long)d.nmsgs, (unsigned long long)d.msg_bytes,
	    (unsigned long long)d.nentries, (unsigned long long)store_disk_usage(st),
	    d.problems == 0 ? "ok" : "PROBLEMS");
	store_close(st);
	if (r == 0 && d.problems > 0) {
		snprintf(err, errlen, "%llu problems", (unsigned long long)d.problems);
		r = -1;
	}
	return r;
}
