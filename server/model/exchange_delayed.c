/*
 * exchange_delayed.c: the delayed exchange, x-delayed-message, as RabbitMQ's plugin: it routes as
 * its x-delayed-type (direct, fanout, topic or headers), except that a message with a positive
 * x-delay header (milliseconds) waits that long first, and is then routed with the bindings in
 * force at that time. Unlike the plugin, a persistent message on a durable exchange is in the
 * store before its confirm and survives any stop; delays are 64-bit (capped at DELAY_MAX_MS); and
 * only a window of the next due messages is in memory, whatever the number waiting.
 *
 * Each exchange keeps its window as a min-heap by (due, seq) (due: ms since the epoch; seq: one
 * broker-wide counter, so equal dues go in publish order); the exchanges wait for their heap's
 * top in a min-heap of their own, under one wall-clock timer (a timerfd, see "the timer"). The
 * window holds every waiting message with a key up to `hi`; the `out` others are in the store
 * only (persist_delay.c: a persistent message on a durable exchange is written there on arrival,
 * whatever the window; a transient one only when the window overflows and its greatest half is
 * written out). When the window runs low a job reads the next ones back; a message written out
 * while the read is in flight, with a key under what the read returns, stops the read's result
 * short of it (side_*), so the window never misses a key below hi.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "server/model/model.h"

#define DELAY_WINDOW_MAX 65536                 /* messages in memory before the window is cut */
#define DELAY_WINDOW_BYTES (16u * 1024 * 1024) /* ... or bytes */
#define DELAY_WINDOW_KEEP 32768                /* what a cut keeps: the next due ones */
#define DELAY_WINDOW_KEEP_BYTES (8u * 1024 * 1024)
#define DELAY_READ_BELOW 8192 /* a window this small reads the next ones back */
/*
 * ... and so does one whose every message is due within DELAY_AHEAD_MS, as soon as it has room
 * for DELAY_READ_MIN more (and a quarter of DELAY_READ_BYTES): a burst due together is read
 * ahead of its time, not as it goes out. One read is in flight at a time, and it waits for the
 * store's group in flight and the writes queued before it (L: 100-300 ms on a loaded disk);
 * each takes what the window has room for (up to DELAY_READ_MAX and DELAY_READ_BYTES), so reads
 * grow with the rate D the window empties at, and it never runs dry while DELAY_WINDOW_MAX is
 * at least 2 D L: 65,536 covers L = 327 ms at 100,000 messages a second.
 */
#define DELAY_AHEAD_MS 5000
#define DELAY_READ_MIN 1024
#define DELAY_READ_MAX 32768
#define DELAY_READ_BYTES (4u * 1024 * 1024)

struct dentry {
	uint64_t due, seq;
	struct message *m;
	bool stored;  /* in the store (the delayed table if durable, else scratch) */
	bool durable; /* in the delayed table */
};

struct delay {
	struct exchange *x;
	struct dentry *heap; /* min-heap by (due, seq) */
	size_t n, cap;
	uint64_t bytes;          /* body bytes in the heap */
	uint64_t out;            /* waiting in the store, not in memory */
	uint64_t hi_due, hi_seq; /* every waiting message with a key up to this is in the heap */
	bool reading;            /* a read of the next ones is in flight */
	uint64_t gen;            /* numbers reads: one that comes back to a new exchange is stale */
	bool side;               /* written out during the read: the least key of those */
	uint64_t side_due, side_seq;
	struct delay_timer timer; /* its turn, for the heap's top (delay_timer.c) */
};

static struct hmap delays; /* xid -> struct delay (its x->xid is the key) */
static bool delays_ready;
static uint64_t delay_seq; /* the last seq given (recovered: past every stored one) */

static int key_cmp(uint64_t d1, uint64_t s1, uint64_t d2, uint64_t s2)
{
	if (d1 != d2)
		return d1 < d2 ? -1 : 1;
	if (s1 != s2)
		return s1 < s2 ? -1 : 1;
	return 0;
}

static int dentry_cmp(const void *a, const void *b)
{
	const struct dentry *x = a, *y = b;

	return key_cmp(x->due, x->seq, y->due, y->seq);
}

/* Wall-clock milliseconds, not the loop's cached time: a due time must never come early. */
static uint64_t wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

/* ---- the heap ---- */

static void heap_push(struct delay *d, struct dentry e)
{
	size_t i, p;

	if (d->n == d->cap) {
		d->cap = d->cap != 0 ? d->cap * 2 : 64;
		d->heap = xreallocarray(d->heap, d->cap, sizeof(*d->heap));
	}
	i = d->n++;
	while (i > 0) {
		p = (i - 1) / 2;
		if (dentry_cmp(&d->heap[p], &e) <= 0)
			break;
		d->heap[i] = d->heap[p];
		i = p;
	}
	d->heap[i] = e;
	d->bytes += e.m->body_size;
}

static struct dentry heap_pop(struct delay *d)
{
	struct dentry top = d->heap[0], last = d->heap[--d->n];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < d->n) {
		if (c + 1 < d->n && dentry_cmp(&d->heap[c + 1], &d->heap[c]) < 0)
			c++;
		if (dentry_cmp(&last, &d->heap[c]) <= 0)
			break;
		d->heap[i] = d->heap[c];
		i = c;
	}
	if (d->n > 0)
		d->heap[i] = last;
	d->bytes -= top.m->body_size;
	return top;
}

/* ---- x-delayed-type and x-delay ---- */

static const struct amqp_field_value *delayed_type_arg(
    struct amqp_bytes args, struct amqp_arena *pool, struct amqp_table *t)
{
	if (args.len == 0 || amqp_table_decode(args, pool, t) != 0)
		return NULL;
	return amqp_table_get(t, "x-delayed-type");
}

int delay_args_check(struct amqp_bytes args, char *err, size_t errlen)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *f;
	enum exchange_type type;
	int code = 0;

	amqp_arena_init(&pool);
	f = delayed_type_arg(args, &pool, &t);
	if (f == NULL || f->type != AMQP_FIELD_LONGSTR) {
		snprintf(err, errlen,
		    "Invalid argument, 'x-delayed-type' must be an existing exchange type");
		code = AMQP_PRECONDITION_FAILED;
	} else if (amqp_bytes_eq_cstr(f->v.bytes, "x-delayed-message")) {
		snprintf(err, errlen,
		    "Invalid argument, 'x-delayed-message' can't be used for 'x-delayed-type'");
		code = AMQP_PRECONDITION_FAILED;
	} else if (exchange_type_parse(f->v.bytes, &type) != 0) {
		/* As rabbit_exchange:check_type (since May 2024; 3.10's was 503 on the connection). */
		snprintf(err, errlen, "unknown exchange type '%.*s'",
		    (int)(f->v.bytes.len > 255 ? 255 : f->v.bytes.len),
		    (const char *)f->v.bytes.ptr);
		code = AMQP_PRECONDITION_FAILED;
	} else if (type == EX_CONSISTENT_HASH) {
		snprintf(err, errlen,
		    "Invalid argument, 'x-delayed-type' x-consistent-hash is not supported: use "
		    "direct, fanout, topic or headers");
		code = AMQP_PRECONDITION_FAILED;
	}
	amqp_arena_reset(&pool);
	return code;
}

/* The x-delayed-type of arguments delay_args_check passed (direct if unreadable). */
static enum exchange_type delay_route_type(struct amqp_bytes args)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *f;
	enum exchange_type type = EX_DIRECT;

	amqp_arena_init(&pool);
	if ((f = delayed_type_arg(args, &pool, &t)) == NULL || f->type != AMQP_FIELD_LONGSTR ||
	    exchange_type_parse(f->v.bytes, &type) != 0 || type == EX_DELAYED ||
	    type == EX_CONSISTENT_HASH)
		type = EX_DIRECT;
	amqp_arena_reset(&pool);
	return type;
}

/* A decimal integer string, as Erlang's binary_to_integer reads one: true with its value. */
static bool parse_integer(struct amqp_bytes s, int64_t *out)
{
	const uint8_t *p = s.ptr;
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0;

	if (s.len > 0 && (p[0] == '-' || p[0] == '+')) {
		neg = p[0] == '-';
		i = 1;
	}
	if (i == s.len)
		return false;
	for (; i < s.len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		if (v > (UINT64_MAX - 9) / 10) /* far past any delay: saturate */
			v = UINT64_MAX / 2;
		else
			v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > INT64_MAX)
		v = INT64_MAX;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

bool delay_wanted(struct msg_view *v, uint64_t *delay_ms)
{
	const struct amqp_table *h;
	const struct amqp_field_value *f;
	int64_t d;

	if (!(message_prop_flags(v->m) & AMQP_P_HEADERS) || (h = msg_view_headers(v)) == NULL ||
	    (f = amqp_table_get(h, "x-delay")) == NULL)
		return false;
	switch (f->type) {
	case AMQP_FIELD_I8: d = f->v.i8; break;
	case AMQP_FIELD_U8: d = f->v.u8; break;
	case AMQP_FIELD_I16: d = f->v.i16; break;
	case AMQP_FIELD_U16: d = f->v.u16; break;
	case AMQP_FIELD_I32: d = f->v.i32; break;
	case AMQP_FIELD_U32: d = f->v.u32; break;
	case AMQP_FIELD_I64: d = f->v.i64; break;
	case AMQP_FIELD_LONGSTR:
		if (!parse_integer(f->v.bytes, &d))
			return false;
		break;
	default: return false; /* as the plugin: another type is no delay */
	}
	if (d <= 0)
		return false;
	*delay_ms = (uint64_t)d > DELAY_MAX_MS ? DELAY_MAX_MS : (uint64_t)d;
	return true;
}

/*
 * WARREN_TEST_DELAY_STAMP=1 in warrend's environment (benchmarks only, never in production):
 * each due message is routed with two more headers, x-warren-due (its due time, ms since the
 * epoch) and x-warren-routed (when it was routed, us since the epoch), so that bench/
 * delay_lateness can tell the broker's lateness from its own.
 */
static int stamp_wanted = -1;

struct stamp {
	bool on;
	uint64_t due_ms, routed_us;
};

/*
 * A copy of m with its headers changed: x-delay set to -delay_ms (as the plugin does before it
 * routes a due message, so that it is not delayed again and consumers see it came through the
 * delay) when set_delay, BCC dropped when drop_bcc, the test stamp added when st->on. NULL when
 * nothing is to change.
 */
static struct message *headers_rewrite(
    struct msg_view *v, bool set_delay, uint64_t delay_ms, bool drop_bcc, const struct stamp *st)
{
	const struct amqp_table *h = msg_view_headers(v);
	const struct message *m = v->m;
	struct amqp_basic_properties np;
	struct amqp_table_entry *kept;
	struct amqp_table nh;
	struct message *n = NULL;
	uint8_t *hb = NULL, *pb = NULL;
	uint32_t i, k = 0;
	size_t cap;
	long hs;
	int pl;
	bool changed = false;

	if (h == NULL || msg_view_props(v) == NULL)
		return NULL;
	np = *v->props;
	kept = amqp_arena_alloc(&v->pool, ((size_t)h->n + 2) * sizeof(*kept));
	for (i = 0; i < h->n; i++) {
		struct amqp_table_entry e = h->entries[i];
		if (drop_bcc && amqp_bytes_eq_cstr(e.key, "BCC")) {
			changed = true;
			continue;
		}
		if (set_delay && amqp_bytes_eq_cstr(e.key, "x-delay")) {
			int64_t neg = -(int64_t)delay_ms;
			if (neg >= INT32_MIN)
				e.value = (struct amqp_field_value){ .type = AMQP_FIELD_I32,
					.v.i32 = (int32_t)neg };
			else
				e.value = (struct amqp_field_value){ .type = AMQP_FIELD_I64,
					.v.i64 = neg };
			changed = true;
		}
		kept[k++] = e;
	}
	if (st != NULL && st->on) {
		kept[k++] = (struct amqp_table_entry){ amqp_cstr("x-warren-due"),
			{ .type = AMQP_FIELD_I64, .v.i64 = (int64_t)st->due_ms } };
		kept[k++] = (struct amqp_table_entry){ amqp_cstr("x-warren-routed"),
			{ .type = AMQP_FIELD_I64, .v.i64 = (int64_t)st->routed_us } };
		changed = true;
	}
	if (!changed)
		return NULL;
	nh = (struct amqp_table){ k, kept };
	if ((hs = amqp_table_encoded_size(&nh)) < 0)
		goto out;
	hb = xmalloc((size_t)hs);
	if (amqp_table_encode(&nh, hb, (size_t)hs) != hs)
		goto out;
	np.headers = (struct amqp_bytes){ hb + 4, (size_t)hs - 4 };
	cap = m->props_len + (size_t)hs + 16;
	pb = xmalloc(cap);
	if ((pl = amqp_properties_encode(&np, pb, cap)) < 0)
		goto out;
	n = message_with_props(m, (struct amqp_bytes){ pb, (size_t)pl });
	n->has_ttl = m->has_ttl;
	n->ttl_ms = m->ttl_ms;
out:
	free(hb);
	free(pb);
	return n;
}

/* A message read back from the store: its TTL from its expiration, as publish_checks sets it. */
static void message_restore_ttl(struct message *m)
{
	struct amqp_basic_properties p;
	char why[128];

	if (!(message_prop_flags(m) & AMQP_P_EXPIRATION) || message_properties(m, &p) != 0 ||
	    !(p.flags & AMQP_P_EXPIRATION))
		return;
	if (message_parse_expiration(p.expiration, &m->ttl_ms, why, sizeof(why)) == 0)
		m->has_ttl = true;
}

/* ---- the window ---- */

static void delay_arm(struct delay *d);
static void delay_read_next(struct delay *d);

/* Cut an overgrown window: the later half is written out (transient ones) and let go. */
static void delay_cut(struct delay *d)
{
	size_t keep = 0, i;
	uint64_t bytes = 0;

	if (!persist_delay_can_store() ||
	    (d->n <= DELAY_WINDOW_MAX && d->bytes <= DELAY_WINDOW_BYTES))
		return;
	qsort(d->heap, d->n, sizeof(*d->heap), dentry_cmp); /* sorted is a heap too */
	while (keep < d->n && keep < DELAY_WINDOW_KEEP &&
	    (keep == 0 || bytes + d->heap[keep].m->body_size <= DELAY_WINDOW_KEEP_BYTES))
		bytes += d->heap[keep++].m->body_size;
	for (i = keep; i < d->n; i++) {
		struct dentry *e = &d->heap[i];
		if (!e->stored)
			persist_delay_put(d->x, e->due, e->seq, e->m, false);
		if (d->reading &&
		    (!d->side || key_cmp(e->due, e->seq, d->side_due, d->side_seq) < 0)) {
			d->side = true;
			d->side_due = e->due;
			d->side_seq = e->seq;
		}
		message_unref(e->m);
	}
	d->out += d->n - keep;
	d->n = keep;
	d->bytes = bytes;
	d->hi_due = d->heap[keep - 1].due;
	d->hi_seq = d->heap[keep - 1].seq;
}

/*
 * m (the caller's reference) waits in d until due; true if it was written to the store (its
 * confirm then waits for that write: durability for a persistent message on a durable
 * exchange, and for one written to scratch the pace of the store, as backpressure).
 */
static bool delay_add(struct delay *d, struct message *m, uint64_t due)
{
	struct exchange *x = d->x;
	uint64_t seq = ++delay_seq;
	bool durable = m->persistent && x->durable, stored = false;
	bool top;

	/* A persistent message on a durable exchange is in the store before its confirm. */
	if (durable)
		stored = persist_delay_put(x, due, seq, m, true);
	if (key_cmp(due, seq, d->hi_due, d->hi_seq) > 0 && persist_delay_can_store()) {
		/* Past the window: in the store only, read back when its turn nears. */
		if (!stored)
			stored = persist_delay_put(x, due, seq, m, false);
		if (d->reading && (!d->side || key_cmp(due, seq, d->side_due, d->side_seq) < 0)) {
			d->side = true;
			d->side_due = due;
			d->side_seq = seq;
		}
		d->out++;
		message_unref(m);
		return stored;
	}
	top = d->n == 0 || key_cmp(due, seq, d->heap[0].due, d->heap[0].seq) < 0;
	heap_push(d, (struct dentry){ due, seq, m, stored, stored && durable });
	delay_cut(d);
	if (top)
		delay_arm(d);
	return stored && durable;
}

/* The message of e is due: route it as the exchange's type, with the bindings of now. */
static void delay_route(struct delay *d, struct dentry *e)
{
	struct route_result rr;
	struct message *stripped, *qm;
	struct msg_view v;
	bool stored;
	size_t i;

	msg_view_init(&v, e->m);
	route_result_init(&rr);
	exchange_route(d->x, &v, &rr);
	if (delay_routed > 0) /* another delayed exchange it reaches (x-delay < 0: none) */
		delay_accept(&v, &stored);
	if (rr.n > 0) {
		struct stamp st = { stamp_wanted > 0, e->due, stamp_wanted > 0 ? wall_us() : 0 };
		stripped = (message_prop_flags(e->m) & AMQP_P_HEADERS)
		    ? headers_rewrite(&v, false, 0, true, &st)
		    : NULL;
		qm = stripped != NULL ? stripped : e->m;
		for (i = 0; i < rr.n; i++)
			queue_publish(rr.queues[i], qm);
		message_unref(stripped);
		broker.counters.routed++;
	}
	route_result_free(&rr);
	msg_view_done(&v);
	if (e->stored)
		persist_delay_del(d->x, e->due, e->seq, e->durable);
	message_unref(e->m);
}

/* d's turn: route its due messages, up to budget of them (delay_timer.c): how many. */
static unsigned delay_run(struct delay_timer *t, uint64_t now_us, unsigned budget)
{
	struct delay *d = (struct delay *)((char *)t - offsetof(struct delay, timer));
	unsigned n = 0;

	while (d->n > 0 && d->heap[0].due * 1000 <= now_us && n < budget) {
		struct dentry e = heap_pop(d);
		delay_route(d, &e);
		n++;
	}
	delay_read_next(d);
	delay_arm(d);
	return n;
}

/* d wants its turn when its top is due. */
static void delay_arm(struct delay *d)
{
	if (d->n == 0)
		delay_timer_clear(&d->timer);
	else
		delay_timer_set(&d->timer, d->heap[0].due);
}

/*
 * The window runs low (in messages and in bytes, so that large messages are not read back only
 * to be cut again) and the store holds more: read the next ones.
 */
static void delay_read_next(struct delay *d)
{
	size_t max;
	uint64_t max_bytes;
	bool low, soon;

	if (d->reading || d->out == 0 || !persist_delay_can_store())
		return;
	/* What the window has room for, up to a read's limits. */
	max = d->n < DELAY_WINDOW_MAX ? DELAY_WINDOW_MAX - d->n : 0;
	max = max < DELAY_READ_MAX ? max : DELAY_READ_MAX;
	max_bytes = d->bytes < DELAY_WINDOW_BYTES ? DELAY_WINDOW_BYTES - d->bytes : 0;
	max_bytes = max_bytes < DELAY_READ_BYTES ? max_bytes : DELAY_READ_BYTES;
	low = d->n < DELAY_READ_BELOW && d->bytes < DELAY_READ_BYTES;
	soon = max >= DELAY_READ_MIN && max_bytes >= DELAY_READ_BYTES / 4 &&
	    d->hi_due < wall_us() / 1000 + DELAY_AHEAD_MS;
	if (!low && !soon)
		return;
	d->reading = true;
	d->side = false;
	persist_delay_read(d->x->xid, ++d->gen, d->hi_due, d->hi_seq, max, max_bytes);
}

void delay_read_in(uint64_t xid, uint64_t gen, struct delayed_entry *v, size_t n, bool ok, bool end,
    uint64_t through_due, uint64_t through_seq)
{
	struct delay *d = delays_ready ? hmap_get(&delays, &xid, sizeof(xid)) : NULL;
	uint64_t lim_due = UINT64_MAX, lim_seq = UINT64_MAX, taken = 0;
	size_t i;

	if (d == NULL || gen != d->gen || !d->reading) {
		for (i = 0; i < n; i++)
			message_unref(v[i].m);
		return;
	}
	d->reading = false;
	if (!ok) {
		d->side = false;
		return; /* the store has failed (logged): what is in memory still goes out */
	}
	if (!end) {
		lim_due = through_due;
		lim_seq = through_seq;
	}
	/* What was written out meanwhile the read could not see: the window stops short of it. */
	if (d->side && key_cmp(d->side_due, d->side_seq, lim_due, lim_seq) <= 0) {
		lim_due = d->side_due;
		lim_seq = d->side_seq;
		if (lim_seq > 0) {
			lim_seq--;
		} else {
			lim_due--;
			lim_seq = UINT64_MAX;
		}
	}
	d->side = false;
	for (i = 0; i < n; i++) {
		struct delayed_entry *e = &v[i];
		if (key_cmp(e->due, e->seq, lim_due, lim_seq) > 0) {
			message_unref(e->m); /* stays in the store, read again later */
			continue;
		}
		taken++;
		if (e->m == NULL) { /* unreadable (logged): deleted, or it would come back */
			persist_delay_del(d->x, e->due, e->seq, e->durable);
			continue;
		}
		message_restore_ttl(e->m);
		heap_push(d, (struct dentry){ e->due, e->seq, e->m, true, e->durable });
	}
	d->out = taken < d->out ? d->out - taken : 0;
	d->hi_due = lim_due;
	d->hi_seq = lim_seq;
	if (lim_due == UINT64_MAX && lim_seq == UINT64_MAX && d->out > 0) {
		log_warn("exchange '%s' in vhost '%s': %llu delayed messages counted are not in "
		         "the store",
		    d->x->name, d->x->vhost->name, (unsigned long long)d->out);
		d->out = 0;
	}
	delay_cut(d);
	delay_read_next(d);
	delay_arm(d);
}

/* ---- the exchange's side ---- */

void delay_init(struct exchange *x)
{
	struct delay *d = xcalloc(1, sizeof(*d));

	if (!delays_ready) {
		hmap_init(&delays);
		delays_ready = true;
	}
	x->route_type = delay_route_type((struct amqp_bytes){ x->args, x->args_len });
	x->xid = persist_delay_xid();
	x->delay = d;
	d->x = x;
	d->hi_due = d->hi_seq = UINT64_MAX; /* nothing in the store: the window is everything */
	d->timer.run = delay_run;
	if (stamp_wanted < 0)
		stamp_wanted = getenv("WARREN_TEST_DELAY_STAMP") != NULL &&
		    strcmp(getenv("WARREN_TEST_DELAY_STAMP"), "1") == 0;
	hmap_put(&delays, &x->xid, sizeof(x->xid), d);
}

void delay_set_xid(struct exchange *x, uint64_t xid)
{
	hmap_del(&delays, &x->xid, sizeof(x->xid));
	x->xid = xid;
	hmap_put(&delays, &x->xid, sizeof(x->xid), x->delay);
}

void delay_free(struct exchange *x)
{
	struct delay *d = x->delay;
	size_t i;

	if (d == NULL)
		return;
	hmap_del(&delays, &x->xid, sizeof(x->xid));
	for (i = 0; i < d->n; i++)
		message_unref(d->heap[i].m);
	/* Its waiting messages go with it (a read in flight finds no exchange, and drops its own). */
	persist_delay_drop(x->xid);
	delay_timer_clear(&d->timer);
	if (delays.count == 0) /* the last delayed exchange: the timer goes too */
		delay_timer_close();
	free(d->heap);
	free(d);
	x->delay = NULL;
}

void delay_loaded(uint64_t xid, uint64_t count, uint64_t max_seq)
{
	struct delay *d = delays_ready ? hmap_get(&delays, &xid, sizeof(xid)) : NULL;

	if (max_seq > delay_seq)
		delay_seq = max_seq;
	if (d == NULL)
		return;
	/* Nothing of them in memory: the first read starts from the least key, on the loop. */
	d->out += count;
	d->hi_due = d->hi_seq = 0;
	delay_timer_set(&d->timer, 0);
}

uint64_t delay_pending(const struct exchange *x)
{
	return x->delay != NULL ? x->delay->n + x->delay->out : 0;
}

/* The delayed exchanges the last exchange_route reached, for delay_accept. */
size_t delay_routed;
static struct exchange **routed;
static size_t routed_cap;
static uint64_t routed_delay_ms;

size_t delay_accept(struct msg_view *v, bool *stored)
{
	struct message *dm;
	uint64_t due;
	size_t i, n = delay_routed;

	*stored = false;
	delay_routed = 0; /* emptied first: nothing below routes, but be sure */
	due = (wall_us() + 999) / 1000 + routed_delay_ms; /* rounded up: never a moment early */
	for (i = 0; i < n; i++) {
		/* Its own copy, x-delay negated: routed when due, it is not delayed again. */
		dm = headers_rewrite(v, true, routed_delay_ms, false, NULL);
		if (dm == NULL) {
			dm = (struct message *)v->m;
			dm->refs++;
		}
		if (delay_add(routed[i]->delay, dm, due))
			*stored = true;
	}
	return n;
}

void route_add_delayed(struct exchange *x, uint64_t delay_ms)
{
	if (delay_routed == routed_cap) {
		routed_cap = routed_cap != 0 ? routed_cap * 2 : 4;
		routed = xreallocarray(routed, routed_cap, sizeof(*routed));
	}
	routed[delay_routed++] = x;
	routed_delay_ms = delay_ms;
}
