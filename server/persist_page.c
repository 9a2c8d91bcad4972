/*
 * persist_page.c: paging between queues and the store. Transient entries leave memory as scratch
 * segments (one record per run of entries); a job on the store thread reads the next entries of a
 * queue's priority level back, merging the entries table and scratch in seq order; purged and
 * deleted ranges are deleted by jobs in chunks. See struct qpage in server.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist_private.h"

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
	amqp_store_u32(ps.seg.p, ps.seg_n);
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
	amqp_store_u64(hdr, e->seq);
	hdr[8] = e->redelivered;
	amqp_store_u64(hdr + 9, e->expires_at);
	amqp_store_u64(hdr + 17, e->m->id);
	amqp_store_u32(hdr + 25, (uint32_t)rec.len);
	buf_add(&ps.seg, hdr, sizeof(hdr));
	buf_add(&ps.seg, rec.p, rec.len);
	free(rec.p);
	ps.seg_n++;
}

void persist_page_out_done(void)
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
	plen = n != NULL ? amqp_load_u32(n) : 0;
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
	bool range_done; /* nothing more in [lo, hi] */
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
	first = amqp_load_u64((const uint8_t *)key + 9);
	if (first > pr->hi)
		return 1;
	if (pr->nsegs > 0 && (pr->seg_entries >= pr->max || pr->segs.len >= pr->max_bytes)) {
		pr->next_seg_first = first;
		return 1;
	}
	n = amqp_load_u32(v);
	/* Find its last seq (and check its shape). */
	for (i = 0, p = v + 4, left = vlen - 4; i < n; i++) {
		if (left < 29)
			return 0; /* malformed: skipped, and reported as missing entries */
		reclen = amqp_load_u32(p + 25);
		if (left - 29 < reclen)
			return 0;
		last = amqp_load_u64(p);
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
	seq = amqp_load_u64((const uint8_t *)key + 9);
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
	pr->ent_bytes += amqp_load_u64((const uint8_t *)val + 8);
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
	uint32_t segs_left;
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
			seg_left = amqp_load_u32(sp);
			sp += 4;
			segs_left--;
			continue;
		}
		s0 = seg_left > 0 ? amqp_load_u64(sp) : UINT64_MAX;
		s1 = ent_left > 0 ? amqp_load_u64(ep) : UINT64_MAX;
		if (s0 == UINT64_MAX && s1 == UINT64_MAX)
			break;
		if (s0 < s1) {
			uint32_t reclen = amqp_load_u32(sp + 25);
			out_entry(pr, s0, PG_OK | (sp[8] ? PG_REDELIVERED : 0),
			    amqp_load_u64(sp + 9), 0, amqp_load_u64(sp + 17), sp + 29, reclen);
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
			out_entry(pr, s1, flags, amqp_load_u64(ep + 24), amqp_load_u64(ep + 16),
			    amqp_load_u64(ep + 8), mv, mlen);
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

/*
 * An entry of the entries table whose message record is missing or malformed: the message cannot
 * come back, so the entry goes (releasing its reference to the record), or every start would count
 * it again.
 */
static void page_forget_entry(const struct page_read *pr, uint64_t seq, uint64_t id)
{
	uint8_t key[ENTRY_KEY_LEN], idk[8];

	entry_key(key, pr->qid, pr->ri, seq);
	amqp_store_u64(idk, id);
	store_batch_del(batch(), STORE_ENTRIES, key, sizeof(key));
	store_batch_release(batch(), STORE_REFS, STORE_MSGS, idk, sizeof(idk));
}

static void page_in_done(void *arg, int status)
{
	struct page_read *pr = arg;
	struct paged_entry *v = NULL;
	struct rd rd = { pr->out.p, pr->out.len, false };
	uint64_t through, lost = 0, lost_lo = 0, lost_hi = 0;
	size_t i, n = 0;
	bool current = !pr->q->deleted && pr->gen == pr->q->page_gen;

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
		reclen = lenp != NULL ? amqp_load_u32(lenp) : 0;
		rec = rd_take(&rd, reclen);
		if (rd.bad)
			break;
		if ((flags & PG_OK) && (m = message_from_record(rec, reclen)) != NULL) {
			m->id = id;
			m->stored = (flags & PG_STORED) != 0;
			m->shared = (flags & PG_SHARED) != 0;
			size = m->body_size;
		} else {
			m = NULL;
			if (lost++ == 0)
				lost_lo = seq;
			lost_hi = seq;
			if ((flags & PG_STORED) && current && persist_can_page())
				page_forget_entry(pr, seq, id);
		}
		v[n].e = (struct qentry){ m, seq, expires, (flags & PG_REDELIVERED) != 0 };
		v[n].size = size;
		n++;
	}
	if (lost > 0 && current)
		log_error(
		    "store: queue '%s' in vhost '%s': %llu paged messages (seqs %llu-%llu) have "
		    "an entry but no readable message record in the store: dropped",
		    pr->q->name, pr->q->vhost->name, (unsigned long long)lost,
		    (unsigned long long)lost_lo, (unsigned long long)lost_hi);
	/* How far the store has nothing more: the read's end, or its last entry if it stopped. */
	if (status != 0)
		through = 0;
	else if (pr->range_done && i == pr->nout)
		through = pr->hi;
	else
		through = n > 0 ? v[n - 1].e.seq : 0;
	queue_paged_in(pr->q, pr->ri, pr->gen, v, n, through);
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

static int reap_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct reap *rp = arg;

	if (klen != ENTRY_KEY_LEN)
		return 0;
	if (!rp->whole_queue && amqp_load_u64((const uint8_t *)key + 9) > rp->hi)
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

void reap_start(uint64_t qid, unsigned ri, uint64_t lo, uint64_t hi, bool whole, bool dead)
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
		amqp_store_u64(hv, hi);
		store_batch_put(batch(), STORE_META, dk, sizeof(dk), hv, sizeof(hv));
		dead = true;
	}
	reap_start(q->qid, ri, lo, hi, false, dead);
	/*
	 * reap_start sent the batch holding the purge (or the delete) ahead of its job: the reply
	 * to it (reply_after_store) waits for a batch after that one, not for none.
	 */
	if (queue_durable(q) && !ps.closing)
		(void)batch();
}
