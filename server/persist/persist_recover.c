/*
 * persist_recover.c: start-up. Definitions are read in full; queue entries are only counted (key
 * and size): each queue then reads its head back like any paged queue, so start-up time and memory
 * do not depend on the bodies queued. Entries of deleted queues and purged ranges are deleted by
 * jobs after the start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h"

/* ---- recovery ---- */

struct recovery {
	struct hmap queues; /* qid (8 bytes) -> queue */
	struct hmap marks;  /* qid (8 bytes) -> delivered mark (heap u64) */
	struct hmap orphan_qids;
	struct hmap xids; /* delayed exchanges' ids, loaded or not (their messages stay) */
	struct dead_ranges dead;
	/* the run of entries being counted: one queue's priority level */
	struct queue *run_q;
	uint64_t run_qid;
	unsigned run_ri;
	uint64_t run_count, run_bytes, run_lo, run_hi;
	uint64_t nentries, nqueues, nexchanges, nbindings, orphans, dead_entries;
	uint64_t max_id; /* the greatest message id an entry names (those holding their message) */
	bool corrupt;
};

/* A definition record of another kind is left to the scan that reads that kind. */
static bool recover_def(struct recovery *rc, int err)
{
	if (err == RECORD_E_KIND)
		return false;
	if (err != RECORD_OK)
		rc->corrupt = true;
	return err == RECORD_OK;
}

static int recover_exchange(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rec_exchange x;

	if (record_def_kind(key, klen) != 'x' ||
	    !recover_def(rc, record_exchange_decode(key, klen, val, vlen, &x)))
		return 0;
	if (x.xid != 0) {
		uint64_t *p = xmalloc(sizeof(*p));
		*p = x.xid;
		hmap_put(&rc->xids, p, sizeof(*p), p);
		if (x.xid > ps.next_xid) /* ids the model makes meanwhile are past every one read */
			ps.next_xid = x.xid;
	}
	if (ps.hooks.load_exchange(&x))
		rc->nexchanges++;
	return 0;
}

static int recover_queue(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rec_queue rq;
	struct queue *q;

	if (record_def_kind(key, klen) != 'q' ||
	    !recover_def(rc, record_queue_decode(key, klen, val, vlen, &rq)))
		return 0;
	if ((q = ps.hooks.load_queue(&rq)) == NULL)
		return 0;
	q->qid = rq.qid;
	if (rq.qid > ps.next_qid)
		ps.next_qid = rq.qid;
	hmap_put(&rc->queues, &q->qid, sizeof(q->qid), q);
	rc->nqueues++;
	return 0;
}

static int recover_binding(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rec_binding b;

	if (record_def_kind(key, klen) != 'b' ||
	    !recover_def(rc, record_binding_decode(key, klen, val, vlen, &b)))
		return 0;
	if (!ps.hooks.load_binding(&b))
		return 0;
	rc->nbindings++;
	return 0;
}

/* Delivered marks and dead ranges; other meta records are not the broker's (ignored). */
static int recover_meta(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	uint64_t qid, m, *mark;

	if (record_delivered_decode(key, klen, val, vlen, &qid, &m) == RECORD_OK) {
		mark = xmalloc(2 * sizeof(*mark));
		mark[0] = qid;
		mark[1] = m;
		hmap_put(&rc->marks, &mark[0], sizeof(mark[0]), mark);
	} else {
		dead_ranges_add(&rc->dead, key, klen, val, vlen);
	}
	return 0;
}

/* The run of counted entries ends: the queue learns it has them, to read back as needed. */
static void recover_run_end(struct recovery *rc)
{
	if (rc->run_q != NULL && rc->run_count > 0)
		ps.hooks.load_entries(
		    rc->run_q, rc->run_ri, rc->run_count, rc->run_bytes, rc->run_lo, rc->run_hi);
	rc->run_q = NULL;
	rc->run_count = rc->run_bytes = 0;
}

/* Entries are only counted here: the messages are read when the queue's consumers near them. */
static int recover_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct recovery *rc = arg;
	struct rec_entry e;
	struct queue *q;

	if (record_entry_decode(key, klen, val, vlen, &e) != RECORD_OK) {
		rc->corrupt = true;
		return 0;
	}
	if (e.id > rc->max_id)
		rc->max_id = e.id;
	if (rc->run_q == NULL || e.qid != rc->run_qid || e.ri != rc->run_ri) {
		recover_run_end(rc);
		rc->run_qid = e.qid;
		rc->run_ri = e.ri;
		q = hmap_get(&rc->queues, &e.qid, sizeof(e.qid));
		if (q == NULL) {
			/* An entry whose queue is gone: deleted after the start-up. */
			if (hmap_get(&rc->orphan_qids, &e.qid, sizeof(e.qid)) == NULL) {
				uint64_t *p = xmalloc(sizeof(*p));
				*p = e.qid;
				hmap_put(&rc->orphan_qids, p, sizeof(*p), p);
			}
			if (e.qid > ps.next_qid)
				ps.next_qid = e.qid;
			rc->orphans++;
			return 0;
		}
		if (e.ri >= q->nrings) {
			rc->corrupt = true;
			return 0;
		}
		rc->run_q = q;
		rc->run_lo = e.seq;
	}
	if (dead_ranges_hold(&rc->dead, e.qid, e.ri, e.seq)) {
		rc->dead_entries++;
		return 0;
	}
	if (rc->run_count == 0)
		rc->run_lo = e.seq;
	rc->run_hi = e.seq;
	rc->run_count++;
	rc->run_bytes += e.size;
	rc->nentries++;
	return 0;
}

int persist_recover(const char *dir, char *err, size_t errlen)
{
	struct recovery rc = { 0 };
	struct hmap_iter it;
	uint8_t last[64];
	size_t lastlen = sizeof(last), i;
	uint64_t last_id, ndelayed = 0, delayed_orphans = 0;
	bool delayed_corrupt = false;
	void *p;
	int r = 0;

	hmap_init(&rc.xids);
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
	/*
	 * Delivered marks first: entries read back up to them are redelivered. Sequence numbers go
	 * on past the marks and past purged ranges (whose deleting resumes below), and queue ids past
	 * every id the store still names: a new entry must never fall under an old mark or range, nor
	 * a new queue take the id of a deleted one whose entries are still being deleted.
	 */
	hmap_iter_init(&rc.marks, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		uint64_t *mark = p;
		struct queue *q = hmap_get(&rc.queues, &mark[0], sizeof(mark[0]));
		if (q != NULL) {
			q->delivered_hi = q->recover_mark = q->mark_safe = mark[1];
			if (mark[1] > q->next_seq)
				q->next_seq = mark[1];
		}
		if (mark[0] > ps.next_qid)
			ps.next_qid = mark[0];
	}
	for (i = 0; i < rc.dead.n; i++) {
		const struct dead_range *d = &rc.dead.v[i];
		struct queue *q = hmap_get(&rc.queues, &d->qid, sizeof(d->qid));
		if (q != NULL && d->hi > q->next_seq)
			q->next_seq = d->hi;
		if (d->qid > ps.next_qid)
			ps.next_qid = d->qid;
	}
	/* Message ids go on from the greatest stored. */
	if ((r = store_last_key(ps.st, STORE_MSGS, last, &lastlen)) < 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	if (r != 0 || record_id_decode(last, lastlen, &last_id) != RECORD_OK)
		last_id = 0;
	r = 0;
	ps.recovering = false; /* reads of the first entries may be submitted from here on */
	if ((r = store_scan(ps.st, STORE_ENTRIES, recover_entry, &rc)) != 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	recover_run_end(&rc);
	/* Delayed messages: counted per exchange, read back by the exchanges as they need them. */
	if (persist_delay_recover(&rc.xids, &ndelayed, &delayed_orphans, &delayed_corrupt) != 0) {
		snprintf(err, errlen, "%s", store_last_error(ps.st));
		r = -1;
		goto out;
	}
	if (delayed_corrupt)
		rc.corrupt = true;
	/* Message ids go on past every id the store names, in msgs or in an entry. */
	ps.hooks.load_message_id(rc.max_id > last_id ? rc.max_id : last_id);
	if (rc.corrupt) {
		snprintf(err, errlen,
		    "%s: a record is shorter than its fields: the store is corrupt", dir);
		r = -1;
		goto out;
	}
	/* Finish deleting what was purged or deleted before the stop. */
	for (i = 0; i < rc.dead.n; i++)
		reap_start(rc.dead.v[i].qid, rc.dead.v[i].ri, rc.dead.v[i].lo, rc.dead.v[i].hi,
		    false, true);
	hmap_iter_init(&rc.orphan_qids, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		reap_start(*(uint64_t *)p, 0, 0, 0, true, false);
	log_info("store %s: recovered %llu exchanges, %llu queues, %llu bindings, %llu queued "
	         "messages, %llu delayed (%llu entries of deleted queues, %llu purged ones and "
	         "%llu delayed messages of deleted exchanges to delete)",
	    dir, (unsigned long long)rc.nexchanges, (unsigned long long)rc.nqueues,
	    (unsigned long long)rc.nbindings, (unsigned long long)rc.nentries,
	    (unsigned long long)ndelayed, (unsigned long long)rc.orphans,
	    (unsigned long long)rc.dead_entries, (unsigned long long)delayed_orphans);
out:
	ps.recovering = false;
	hmap_iter_init(&rc.marks, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		free(p);
	hmap_iter_init(&rc.orphan_qids, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		free(p);
	hmap_iter_init(&rc.xids, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p))
		free(p);
	hmap_clear(&rc.xids);
	hmap_clear(&rc.marks);
	hmap_clear(&rc.orphan_qids);
	hmap_clear(&rc.queues);
	free(rc.dead.v);
	return r != 0 ? -1 : 0;
}
