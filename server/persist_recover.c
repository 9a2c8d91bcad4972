/*
 * persist_recover.c: start-up. Definitions are read in full; queue entries are only counted (key
 * and size): each queue then reads its head back like any paged queue, so start-up time and memory
 * do not depend on the bodies queued. Entries of deleted queues and purged ranges are deleted by
 * jobs after the start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist_private.h"

/* ---- recovery ---- */

struct recovery {
	struct hmap queues; /* qid (8 bytes) -> queue */
	struct hmap marks;  /* qid (8 bytes) -> delivered mark (heap u64) */
	struct hmap orphan_qids;
	struct dead_ranges dead;
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
		mark[0] = amqp_load_u64(k + 9);
		mark[1] = amqp_load_u64(val);
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
	qid = amqp_load_u64(k);
	level = k[8];
	seq = amqp_load_u64(k + 9);
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
			if (qid > ps.next_qid)
				ps.next_qid = qid;
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
	if (dead_ranges_hold(&rc->dead, qid, level, seq)) {
		rc->dead_entries++;
		return 0;
	}
	if (rc->run_count == 0)
		rc->run_lo = seq;
	rc->run_hi = seq;
	rc->run_count++;
	rc->run_bytes += amqp_load_u64((const uint8_t *)val + 8);
	rc->nentries++;
	return 0;
}

int persist_recover(const char *dir, char *err, size_t errlen)
{
	struct recovery rc = { 0 };
	struct hmap_iter it;
	uint8_t last[64];
	size_t lastlen = sizeof(last), i;
	void *p;
	int r = 0;

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
			q->delivered_hi = q->recover_mark = mark[1];
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
	if (r == 0 && lastlen == 8 && amqp_load_u64(last) > broker.next_message_id)
		broker.next_message_id = amqp_load_u64(last);
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
	for (i = 0; i < rc.dead.n; i++)
		reap_start(rc.dead.v[i].qid, 255 - rc.dead.v[i].level, rc.dead.v[i].lo,
		    rc.dead.v[i].hi, false, true);
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
	free(rc.dead.v);
	return r != 0 ? -1 : 0;
}
