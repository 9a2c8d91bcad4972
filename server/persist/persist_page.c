/*
 * persist_page.c: paging between queues and the store. Transient entries leave memory as scratch
 * segments (one record per run of entries); a job on the store thread reads the next entries of a
 * queue's priority level back, merging the entries table and scratch in seq order; purged and
 * deleted ranges are deleted by jobs in chunks. See struct qpage in server.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h"

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
	record_segment_end(&ps.seg, ps.seg_n);
	record_entry_key(key, ps.seg_qid, ps.seg_ri, ps.seg_first);
	store_batch_put(batch(), STORE_SCRATCH, key, sizeof(key), ps.seg.p, ps.seg.len);
	ps.seg.len = 0;
	ps.seg_n = 0;
}

void persist_page_out(struct queue *q, unsigned ri, const struct qentry *e)
{
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
		record_segment_begin(&ps.seg);
	}
	record_segment_add(&ps.seg, e->seq, e->redelivered, e->delivery_count, e->expires_at, e->m);
	ps.seg_n++;
}

void persist_page_out_done(void)
{
	segment_flush();
}

/* A message from its msgs record (NULL if the record is malformed). */
static struct message *message_from_record(const uint8_t *p, size_t len)
{
	struct rec_message r;

	if (record_message_decode(p, len, &r) != RECORD_OK ||
	    amqp_properties_decode(
	        r.props.ptr, r.props.len, &(struct amqp_basic_properties){ 0 }) != 0)
		return NULL;
	return ps.hooks.message(&r);
}

/*
 * A read of paged entries. On the store thread page_in_job fills out (records of: seq(8),
 * flags(1), delivery count(4), expiry(8), size(8), id(8), record length(4), record);
 * page_in_done turns them into queue entries on the loop.
 */
enum { PG_OK = 1, PG_STORED = 2, PG_SHARED = 4, PG_REDELIVERED = 8, PG_IN_ENTRY = 16 };

/* An entry taken by a read; a message record it held is copied to inl (the cursor's is reused). */
struct page_ent {
	struct rec_entry e;
	size_t inl_off; /* where its record is in inl, if e.record.len > 0 */
};

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
	struct buf ents;         /* entries: struct page_ent */
	struct buf inl;          /* the message records held in them */
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
	uint64_t qid, first, last;
	unsigned ri;
	uint32_t n;

	if (record_entry_key_decode(key, klen, &qid, &ri, &first) != RECORD_OK)
		return 0;
	if (first > pr->hi)
		return 1;
	if (pr->nsegs > 0 && (pr->seg_entries >= pr->max || pr->segs.len >= pr->max_bytes)) {
		pr->next_seg_first = first;
		return 1;
	}
	/* Its count and last seq; a malformed one is skipped, and reported as missing entries. */
	if (record_segment_check(val, vlen, &n, &last) != RECORD_OK)
		return 0;
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
	struct page_ent pe = { 0 };
	struct rec_entry e;

	if (record_entry_decode(key, klen, val, vlen, &e) != RECORD_OK)
		return 0;
	if (e.seq > pr->hi || (pr->next_seg_first != 0 && e.seq >= pr->next_seg_first))
		return 1; /* out of range, or after a segment left for the next read */
	if ((pr->nents >= pr->max || pr->ent_bytes >= pr->max_bytes) && e.seq > pr->seg_last) {
		pr->ents_more = true;
		return 1;
	}
	pe.e = e;
	if (e.record.len > 0) {
		pe.inl_off = pr->inl.len;
		buf_add(&pr->inl, e.record.ptr, e.record.len);
	}
	pe.e.record.ptr = NULL;
	buf_add(&pr->ents, &pe, sizeof(pe));
	pr->nents++;
	pr->ent_bytes += e.size;
	return 0;
}

static void out_entry(struct page_read *pr, uint64_t seq, uint8_t flags, uint32_t count,
    uint64_t expires, uint64_t size, uint64_t id, const void *rec, size_t reclen)
{
	buf_u64(&pr->out, seq);
	buf_u8(&pr->out, flags);
	buf_u32(&pr->out, count);
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
	uint8_t from[ENTRY_KEY_LEN], id[ID_KEY_LEN];
	const struct page_ent *ep;
	struct rec_segment seg;
	struct rec_segment_entry se;
	size_t i, segs_left, ent_left;
	bool have_se = false;
	int r;

	record_entry_key(from, pr->qid, pr->ri, pr->lo);
	if ((r = store_txn_range(t, STORE_SCRATCH, from, sizeof(from), 9, take_segment, pr)) != 0 ||
	    (r = store_txn_range(t, STORE_ENTRIES, from, sizeof(from), 9, take_entry, pr)) != 0)
		return r;
	/* The segments taken lie one after the other in segs, each checked by take_segment. */
	seg = (struct rec_segment){ { pr->segs.p, pr->segs.len, false }, 0 };
	segs_left = pr->nsegs;
	ep = (const struct page_ent *)(void *)pr->ents.p;
	ent_left = pr->nents;
	for (;;) {
		uint64_t s0, s1;
		if (!have_se) {
			while ((r = record_segment_next(&seg, &se)) == 0 && segs_left > 0) {
				record_segment_open(&seg, seg.r.p, seg.r.left);
				segs_left--;
			}
			have_se = r == 1;
		}
		s0 = have_se ? se.seq : UINT64_MAX;
		s1 = ent_left > 0 ? ep->e.seq : UINT64_MAX;
		if (s0 == UINT64_MAX && s1 == UINT64_MAX)
			break;
		if (s0 < s1) {
			out_entry(pr, s0, PG_OK | (se.redelivered ? PG_REDELIVERED : 0),
			    se.delivery_count, se.expires_at, 0, se.id, se.record.ptr,
			    se.record.len);
			have_se = false;
		} else {
			const void *mv = NULL, *rv;
			size_t mlen = 0, rlen;
			uint8_t flags = PG_STORED;
			/* Delivered before a restart, or returned (a count): redelivered. */
			if (s1 <= pr->recover_mark || ep->e.delivery_count > 0)
				flags |= PG_REDELIVERED;
			if (ep->e.record.len > 0) {
				/* The entry holds the message. */
				flags |= PG_OK | PG_IN_ENTRY;
				mv = pr->inl.p + ep->inl_off;
				mlen = ep->e.record.len;
			} else {
				amqp_store_u64(id, ep->e.id);
				if ((r = store_txn_get(t, STORE_REFS, id, sizeof(id), &rv, &rlen)) <
				    0)
					return r;
				if (r == 0)
					flags |= PG_SHARED;
				if ((r = store_txn_get(t, STORE_MSGS, id, sizeof(id), &mv, &mlen)) <
				    0)
					return r;
				if (r == 0)
					flags |= PG_OK;
			}
			out_entry(pr, s1, flags, ep->e.delivery_count, ep->e.expires_at, ep->e.size,
			    ep->e.id, mv, mlen);
			ep++;
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
 * come back, so the entry goes (releasing its reference to the record, unless it held the record
 * itself), or every start would count it again.
 */
static void page_forget_entry(const struct page_read *pr, uint64_t seq, uint64_t id, bool in_entry)
{
	uint8_t key[ENTRY_KEY_LEN], idk[ID_KEY_LEN];

	record_entry_key(key, pr->qid, pr->ri, seq);
	amqp_store_u64(idk, id);
	store_batch_del(batch(), STORE_ENTRIES, key, sizeof(key));
	if (!in_entry)
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
		const uint8_t *rec;
		uint32_t reclen, count;
		struct message *m = NULL;

		count = rd_u32(&rd);
		expires = rd_u64(&rd);
		size = rd_u64(&rd);
		id = rd_u64(&rd);
		reclen = rd_u32(&rd);
		rec = rd_take(&rd, reclen);
		if (rd.bad)
			break;
		if ((flags & PG_OK) && (m = message_from_record(rec, reclen)) != NULL) {
			m->id = id;
			m->stored = (flags & PG_STORED) != 0;
			m->shared = (flags & PG_SHARED) != 0;
			m->in_entry = (flags & PG_IN_ENTRY) != 0;
			size = m->body_size;
		} else {
			m = NULL;
			if (lost++ == 0)
				lost_lo = seq;
			lost_hi = seq;
			if ((flags & PG_STORED) && current && persist_can_page())
				page_forget_entry(pr, seq, id, (flags & PG_IN_ENTRY) != 0);
		}
		v[n].e = (struct qentry){ m, seq, expires, (flags & PG_REDELIVERED) != 0, count };
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
	ps.hooks.paged_in(pr->q, pr->ri, pr->gen, v, n, through);
	ps.hooks.release(pr->q);
	free(v);
	free(pr->segs.p);
	free(pr->seg_keys.p);
	free(pr->ents.p);
	free(pr->inl.p);
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
 * Deleting paged entries: a job deletes up to a chunk of entries (releasing their messages) and
 * scratch records per run, and runs again until the range is empty. For a durable queue, a "dead"
 * record written with the purge says the range is gone even if the broker stops before the job
 * ends; recovery skips such entries and starts the job again.
 *
 * The jobs share the store thread with every publisher's batches, which wait for the group a job
 * rides in: one reap runs at a time (the others wait in line), and its chunk follows how long the
 * last one took, so that a job adds about REAP_TARGET_US to its group. Deleting four queues of
 * 450,000 messages with a chunk of 4,096 each made groups of 100 ms: publishers elsewhere fell
 * from 280,000 to 2,400 confirms a second for five seconds.
 */
#define REAP_CHUNK_MIN 128
#define REAP_CHUNK_MAX 16384
#define REAP_TARGET_US 3000

struct reap {
	uint64_t qid, lo, hi;
	unsigned ri;
	bool whole_queue; /* every entry of qid (a queue that is gone) */
	bool has_dead;
	bool more;
	struct buf keys;
	size_t n, chunk;
	uint64_t took_us;  /* the last job's time on the store thread */
	struct reap *next; /* waiting in line */
};

static struct {
	struct reap *head, *tail; /* waiting for the one running */
	bool running;
} reaps;

static int reap_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct reap *rp = arg;
	uint64_t qid, seq;
	unsigned ri;

	if (record_entry_key_decode(key, klen, &qid, &ri, &seq) != RECORD_OK)
		return 0;
	if (!rp->whole_queue && seq > rp->hi)
		return 1;
	if (rp->n == rp->chunk) {
		rp->more = true;
		return 1;
	}
	buf_add(&rp->keys, key, klen);
	buf_add(&rp->keys, vlen >= 8 ? val : "\0\0\0\0\0\0\0\0", 8);
	buf_u8(
	    &rp->keys, vlen > ENTRY_VAL_COUNT_LEN); /* it holds its message: nothing to release */
	rp->n++;
	return 0;
}

static int reap_job(struct store_txn *t, void *arg)
{
	struct reap *rp = arg;
	uint8_t from[ENTRY_KEY_LEN], dk[DEAD_KEY_LEN];
	size_t i;
	int r, k;
	uint64_t t0 = mono_us();

	rp->more = false;
	record_entry_key(from, rp->qid, rp->ri, rp->lo);
	for (k = 0; k < 2; k++) {
		enum store_table tb = k == 0 ? STORE_ENTRIES : STORE_SCRATCH;
		rp->keys.len = 0;
		rp->n = 0;
		if ((r = store_txn_range(t, tb, from, sizeof(from), rp->whole_queue ? 8 : 9,
		         reap_collect, rp)) != 0)
			return r;
		for (i = 0; i < rp->n; i++) {
			const uint8_t *e = rp->keys.p + i * (ENTRY_KEY_LEN + 9);
			if ((r = store_txn_del(t, tb, e, ENTRY_KEY_LEN)) != 0)
				return r;
			if (k == 0 && e[ENTRY_KEY_LEN + 8] == 0 &&
			    (r = store_txn_release(
			         t, STORE_REFS, STORE_MSGS, e + ENTRY_KEY_LEN, 8)) != 0)
				return r;
		}
	}
	if (!rp->more && rp->has_dead) {
		record_dead_key(dk, rp->qid, rp->ri, rp->lo);
		if ((r = store_txn_del(t, STORE_META, dk, sizeof(dk))) != 0)
			return r;
	}
	rp->took_us = mono_us() - t0;
	return 0;
}

static void reap_free(struct reap *rp)
{
	free(rp->keys.p);
	free(rp);
}

/* The next chunk: scaled by how long the last took against the target, at most doubled. */
size_t reap_next_chunk(size_t chunk, uint64_t took_us)
{
	uint64_t want = took_us == 0 ? chunk * 2 : chunk * REAP_TARGET_US / took_us;

	if (want > chunk * 2)
		want = chunk * 2;
	return want < REAP_CHUNK_MIN ? REAP_CHUNK_MIN
	    : want > REAP_CHUNK_MAX  ? REAP_CHUNK_MAX
	                             : (size_t)want;
}

static void reap_done(void *arg, int status)
{
	struct reap *rp = arg;

	if (status == 0 && rp->more && ps.st != NULL && !ps.closing) {
		rp->chunk = reap_next_chunk(rp->chunk, rp->took_us);
		store_submit_job(ps.st, reap_job, reap_done, rp);
		return;
	}
	reap_free(rp);
	/* The next in line; a closing broker leaves them to the next start (recovery finds them). */
	while ((rp = reaps.head) != NULL && (ps.st == NULL || ps.closing)) {
		reaps.head = rp->next;
		reap_free(rp);
	}
	if ((rp = reaps.head) == NULL) {
		reaps.tail = NULL;
		reaps.running = false;
		return;
	}
	reaps.head = rp->next;
	if (reaps.head == NULL)
		reaps.tail = NULL;
	store_submit_job(ps.st, reap_job, reap_done, rp);
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
	rp->chunk = REAP_CHUNK_FIRST;
	submit_current();
	if (reaps.running) {
		if (reaps.tail != NULL)
			reaps.tail->next = rp;
		else
			reaps.head = rp;
		reaps.tail = rp;
		return;
	}
	reaps.running = true;
	store_submit_job(ps.st, reap_job, reap_done, rp);
}

void persist_drop_paged(struct queue *q, unsigned ri, uint64_t lo, uint64_t hi)
{
	uint8_t dk[DEAD_KEY_LEN], hv[8];
	bool dead = false;

	if (ps.st == NULL)
		return;
	if (queue_durable(q) && !q->deleted) {
		/* The purge holds across a restart even if the job has not finished. */
		record_dead_key(dk, q->qid, ri, lo);
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
