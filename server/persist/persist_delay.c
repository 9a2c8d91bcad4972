/*
 * persist_delay.c: the messages waiting in x-delayed-message exchanges, in the store. Each is one
 * record keyed (exchange id, due, seq), so that a cursor from a key on reads the next due ones in
 * order: a persistent message on a durable exchange in the delayed table (logged, so the
 * publisher's confirm waits for it and it survives a crash), anything else in scratch (unlogged,
 * emptied at every start: lost with the process, as the plugin loses transient ones on a
 * restart). The model keeps only a window of the next due messages in memory
 * (model/exchange_delayed.c) and reads the next ones back with jobs on the store thread, which
 * see every write submitted before them; deleting an exchange deletes its records by jobs in
 * chunks, and a start deletes those of ids no exchange record names.
 *
 * The read-back is a read job (store_submit_read): its answer does not wait for the commit and
 * log flush of the group it ran in, which under load took 100-200 ms and let a window of due
 * messages run dry. That is safe because what it returns cannot be undone by that group
 * failing: it reads records with keys past the window's, which only arrivals write (the window's
 * own are deleted as they are routed, and a delete never reaches what the read returns). A
 * message put in the failing group and returned is one that was published: it is delivered when
 * due though its publisher's confirm is a failure, as one still in memory then is, and with the
 * store failed nothing more is read. A delete in the failing group leaves its record on disk, to
 * come back at the next start, as any record a failed batch deleted does. At least once, never
 * lost; and the side keys (exchange_delayed.c) already cover writes after the read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h"

uint64_t persist_delay_xid(void)
{
	return ++ps.next_xid;
}

bool persist_delay_can_store(void)
{
	return ps.st != NULL && !ps.failed && !ps.closing && !ps.recovering;
}

bool persist_delay_put(
    const struct exchange *x, uint64_t due, uint64_t seq, const struct message *m, bool durable)
{
	uint8_t key[DELAY_SCRATCH_KEY_LEN];
	struct buf v = { 0 };

	if (ps.st == NULL || ps.closing)
		return false;
	record_message_encode(&v, m);
	if (durable) {
		record_delay_key(key, x->xid, due, seq);
		store_batch_put(batch(), STORE_DELAYED, key, DELAY_KEY_LEN, v.p, v.len);
	} else {
		record_delay_scratch_key(key, x->xid, due, seq);
		store_batch_put(batch(), STORE_SCRATCH, key, DELAY_SCRATCH_KEY_LEN, v.p, v.len);
	}
	free(v.p);
	return true;
}

void persist_delay_del(const struct exchange *x, uint64_t due, uint64_t seq, bool durable)
{
	uint8_t key[DELAY_SCRATCH_KEY_LEN];

	if (ps.st == NULL || ps.closing)
		return;
	if (durable) {
		record_delay_key(key, x->xid, due, seq);
		store_batch_del(batch(), STORE_DELAYED, key, DELAY_KEY_LEN);
	} else {
		record_delay_scratch_key(key, x->xid, due, seq);
		store_batch_del(batch(), STORE_SCRATCH, key, DELAY_SCRATCH_KEY_LEN);
	}
}

/* ---- reading the next due messages back ---- */

/* One table's side of a read: its records from the start key, up to the read's limits. */
struct delay_side {
	struct buf recs; /* per record: due(8) seq(8) length(4) msgs record */
	size_t n;
	uint64_t bytes;
	bool more; /* stopped at a limit: the table holds more */
};

struct delay_read {
	uint64_t xid, gen, due, seq, max_bytes;
	size_t max;
	bool durable_side;         /* which side take_delayed fills */
	struct delay_side side[2]; /* 0: the delayed table, 1: scratch */
	/* the result, merged */
	struct buf out; /* per record: due(8) seq(8) durable(1) length(4) msgs record */
	size_t nout;
	bool end;
	uint64_t through_due, through_seq;
};

static int take_delayed(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct delay_read *dr = arg;
	struct delay_side *s = &dr->side[dr->durable_side ? 0 : 1];
	uint64_t xid, due, seq;

	if (record_delay_key_decode(key, klen, &xid, &due, &seq) != RECORD_OK || xid != dr->xid)
		return 0; /* not a delayed message's key: store-verify reports it */
	if (s->n >= dr->max || s->bytes >= dr->max_bytes) {
		s->more = true;
		return 1;
	}
	buf_u64(&s->recs, due);
	buf_u64(&s->recs, seq);
	buf_u32(&s->recs, (uint32_t)vlen);
	buf_add(&s->recs, val, vlen);
	s->n++;
	s->bytes += vlen;
	return 0;
}

/* A side's next record (false at its end). */
static bool side_peek(struct rd *r, uint64_t *due, uint64_t *seq)
{
	struct rd c = *r;

	if (c.left == 0)
		return false;
	*due = rd_u64(&c);
	*seq = rd_u64(&c);
	return !c.bad;
}

static void side_take(struct delay_read *dr, struct rd *r, bool durable)
{
	uint64_t due = rd_u64(r), seq = rd_u64(r);
	uint32_t len = rd_u32(r);
	const uint8_t *p = rd_take(r, len);

	if (p == NULL)
		return;
	buf_u64(&dr->out, due);
	buf_u64(&dr->out, seq);
	buf_u8(&dr->out, durable);
	buf_u32(&dr->out, len);
	buf_add(&dr->out, p, len);
	dr->nout++;
	dr->through_due = due;
	dr->through_seq = seq;
}

/* The key after (due, seq): where a read that has read up to it goes on. */
static void key_after(uint64_t *due, uint64_t *seq)
{
	if (*seq == UINT64_MAX) {
		(*due)++;
		*seq = 0;
	} else {
		(*seq)++;
	}
}

/*
 * On the store thread: up to max records of each table after the start key, merged in key order
 * and cut at max. Whatever either table holds past the cut has a greater key than the last taken.
 */
static int delay_read_job(struct store_txn *t, void *arg)
{
	struct delay_read *dr = arg;
	uint8_t from[DELAY_SCRATCH_KEY_LEN];
	uint64_t due = dr->due, seq = dr->seq, d0, s0, d1, s1;
	struct rd r0, r1;
	bool h0, h1;
	int r;

	key_after(&due, &seq);
	record_delay_key(from, dr->xid, due, seq);
	dr->durable_side = true;
	if ((r = store_txn_range(t, STORE_DELAYED, from, DELAY_KEY_LEN, 8, take_delayed, dr)) != 0)
		return r;
	record_delay_scratch_key(from, dr->xid, due, seq);
	dr->durable_side = false;
	if ((r = store_txn_range(
	         t, STORE_SCRATCH, from, DELAY_SCRATCH_KEY_LEN, 16, take_delayed, dr)) != 0)
		return r;
	r0 = (struct rd){ dr->side[0].recs.p, dr->side[0].recs.len, false };
	r1 = (struct rd){ dr->side[1].recs.p, dr->side[1].recs.len, false };
	while (dr->nout < dr->max) {
		h0 = side_peek(&r0, &d0, &s0);
		h1 = side_peek(&r1, &d1, &s1);
		if (!h0 && !h1)
			break;
		if (h0 && (!h1 || d0 < d1 || (d0 == d1 && s0 < s1)))
			side_take(dr, &r0, true);
		else
			side_take(dr, &r1, false);
	}
	dr->end = !dr->side[0].more && !dr->side[1].more && r0.left == 0 && r1.left == 0;
	return 0;
}

static void delay_read_done(void *arg, int status)
{
	struct delay_read *dr = arg;
	struct delayed_entry *v = NULL;
	struct rd rd = { dr->out.p, dr->out.len, false };
	struct rec_message rm;
	size_t i, n = 0;

	if (status != 0) {
		log_error("store: reading delayed messages: %s", store_last_error(ps.st));
		dr->nout = 0;
	}
	if (dr->nout > 0)
		v = xcalloc(dr->nout, sizeof(*v));
	for (i = 0; i < dr->nout; i++) {
		uint64_t due = rd_u64(&rd), seq = rd_u64(&rd);
		bool durable = rd_u8(&rd) != 0;
		uint32_t len = rd_u32(&rd);
		const uint8_t *p = rd_take(&rd, len);
		struct message *m = NULL;

		if (rd.bad)
			break;
		if (record_message_decode(p, len, &rm) == RECORD_OK &&
		    amqp_properties_decode(
		        rm.props.ptr, rm.props.len, &(struct amqp_basic_properties){ 0 }) == 0)
			m = ps.hooks.message(&rm);
		else
			log_error("store: a delayed message (due %llu, seq %llu) is unreadable: "
			          "dropped",
			    (unsigned long long)due, (unsigned long long)seq);
		v[n++] = (struct delayed_entry){ due, seq, m, durable };
	}
	ps.hooks.delayed_in(dr->xid, dr->gen, v, n, status == 0, status == 0 && dr->end,
	    dr->through_due, dr->through_seq);
	free(v);
	free(dr->side[0].recs.p);
	free(dr->side[1].recs.p);
	free(dr->out.p);
	free(dr);
}

void persist_delay_read(
    uint64_t xid, uint64_t gen, uint64_t due, uint64_t seq, size_t max, uint64_t max_bytes)
{
	struct delay_read *dr = xcalloc(1, sizeof(*dr));

	dr->xid = xid;
	dr->gen = gen;
	dr->due = due;
	dr->seq = seq;
	dr->max = max;
	dr->max_bytes = max_bytes;
	dr->through_due = due;
	dr->through_seq = seq;
	submit_batch(); /* so that the job sees every write made so far */
	store_submit_read(ps.st, delay_read_job, delay_read_done, dr);
}

/* ---- deleting an exchange's delayed messages ---- */

struct delay_reap {
	uint64_t xid;
	bool more;
	struct buf keys;
	size_t n, klen, chunk;
	uint64_t took_us; /* the last job's time on the store thread */
};

static int delay_reap_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct delay_reap *rp = arg;

	if (klen != rp->klen)
		return 0;
	if (rp->n == rp->chunk) {
		rp->more = true;
		return 1;
	}
	buf_add(&rp->keys, key, klen);
	rp->n++;
	return 0;
}

static int delay_reap_job(struct store_txn *t, void *arg)
{
	struct delay_reap *rp = arg;
	uint8_t from[DELAY_SCRATCH_KEY_LEN];
	bool more = false;
	size_t i;
	int r, k;
	uint64_t t0 = mono_us();

	for (k = 0; k < 2; k++) {
		enum store_table tb = k == 0 ? STORE_DELAYED : STORE_SCRATCH;
		rp->klen = k == 0 ? DELAY_KEY_LEN : DELAY_SCRATCH_KEY_LEN;
		if (k == 0)
			record_delay_key(from, rp->xid, 0, 0);
		else
			record_delay_scratch_key(from, rp->xid, 0, 0);
		rp->keys.len = 0;
		rp->n = 0;
		rp->more = false;
		if ((r = store_txn_range(
		         t, tb, from, rp->klen, rp->klen - 16, delay_reap_collect, rp)) != 0)
			return r;
		for (i = 0; i < rp->n; i++)
			if ((r = store_txn_del(t, tb, rp->keys.p + i * rp->klen, rp->klen)) != 0)
				return r;
		more = more || rp->more;
	}
	rp->more = more;
	rp->took_us = mono_us() - t0;
	return 0;
}

static void delay_reap_done(void *arg, int status)
{
	struct delay_reap *rp = arg;

	if (status == 0 && rp->more && ps.st != NULL && !ps.closing) {
		rp->chunk = reap_next_chunk(rp->chunk, rp->took_us);
		store_submit_job(ps.st, delay_reap_job, delay_reap_done, rp);
		return;
	}
	free(rp->keys.p);
	free(rp);
}

void persist_delay_drop(uint64_t xid)
{
	struct delay_reap *rp;

	if (ps.st == NULL || ps.closing)
		return; /* the next start finds the records of an id no exchange names */
	rp = xcalloc(1, sizeof(*rp));
	rp->xid = xid;
	rp->chunk = REAP_CHUNK_FIRST;
	submit_batch(); /* the exchange's record goes first */
	store_submit_job(ps.st, delay_reap_job, delay_reap_done, rp);
}

/* ---- start-up ---- */

struct delay_count {
	const struct hmap *known;
	uint64_t xid, n, max_seq; /* the run of one exchange's records */
	uint64_t total, orphans;
	bool corrupt;
	uint64_t *drop;
	size_t ndrop, capdrop;
};

static void delay_count_end(struct delay_count *dc)
{
	if (dc->n == 0)
		return;
	if (hmap_get(dc->known, &dc->xid, sizeof(dc->xid)) != NULL) {
		ps.hooks.load_delayed(dc->xid, dc->n, dc->max_seq);
		dc->total += dc->n;
	} else {
		if (dc->ndrop == dc->capdrop) {
			dc->capdrop = dc->capdrop != 0 ? dc->capdrop * 2 : 8;
			dc->drop = xreallocarray(dc->drop, dc->capdrop, sizeof(*dc->drop));
		}
		dc->drop[dc->ndrop++] = dc->xid;
		dc->orphans += dc->n;
	}
	if (dc->xid > ps.next_xid)
		ps.next_xid = dc->xid;
	dc->n = 0;
	dc->max_seq = 0;
}

static int delay_count_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct delay_count *dc = arg;
	uint64_t xid, due, seq;

	if (klen != DELAY_KEY_LEN || record_delay_key_decode(key, klen, &xid, &due, &seq) != 0) {
		dc->corrupt = true;
		return 0;
	}
	if (xid != dc->xid) {
		delay_count_end(dc);
		dc->xid = xid;
	}
	dc->n++;
	if (seq > dc->max_seq)
		dc->max_seq = seq;
	return 0;
}

int persist_delay_recover(
    const struct hmap *known, uint64_t *count, uint64_t *orphans, bool *corrupt)
{
	struct delay_count dc = { .known = known };
	size_t i;
	int r;

	if ((r = store_scan(ps.st, STORE_DELAYED, delay_count_one, &dc)) != 0) {
		free(dc.drop);
		return r;
	}
	delay_count_end(&dc);
	for (i = 0; i < dc.ndrop; i++)
		persist_delay_drop(dc.drop[i]);
	free(dc.drop);
	*count = dc.total;
	*orphans = dc.orphans;
	*corrupt = dc.corrupt;
	return 0;
}
