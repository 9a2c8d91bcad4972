/*
 * persist_dump.c: warrenctl store-dump and store-verify: a stopped broker's store in AMQP terms,
 * and its consistency (every entry's queue and message exist, counts match the entries).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h"

/* ---- offline dump and verification (warrenctl store-dump / store-verify) ---- */

struct dump {
	FILE *out;
	bool quiet;           /* verify only */
	struct hmap queues;   /* qid -> struct dump_queue */
	struct hmap messages; /* id -> uint64_t[3]: id, entries, counted references (0: none) */
	struct dead_ranges dead;
	uint64_t problems, nmsgs, msg_bytes, nentries, ndead_entries;
	struct hmap dxs; /* xid -> struct dump_queue: delayed exchanges (entries: their messages) */
	uint64_t ndelayed, delayed_bytes, ndelayed_dead;
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
	struct rec_exchange x;
	struct rec_queue rq;
	struct rec_binding b;
	struct dump_queue *q;
	char place[40];
	size_t n;
	int kind = record_def_kind(key, klen);

	switch (kind) {
	case 'x':
		if (record_exchange_decode(key, klen, val, vlen, &x) != RECORD_OK) {
			dump_problem(d, "an exchange record is malformed");
			return 0;
		}
		place[0] = '\0';
		if (x.xid != 0) { /* a delayed exchange: its messages are keyed by its id */
			snprintf(place, sizeof(place), ", id %llu", (unsigned long long)x.xid);
			q = xcalloc(1, sizeof(*q));
			q->qid = x.xid;
			n = x.name.len + x.vhost.len + 32;
			q->label = xmalloc(n);
			snprintf(q->label, n, "'%.*s' in vhost '%.*s'", (int)x.name.len,
			    (const char *)x.name.ptr, (int)x.vhost.len, (const char *)x.vhost.ptr);
			if (hmap_get(&d->dxs, &q->qid, sizeof(q->qid)) != NULL) {
				dump_problem(d, "exchange %s has the id of another", q->label);
				free(q->label);
				free(q);
			} else {
				hmap_put(&d->dxs, &q->qid, sizeof(q->qid), q);
			}
		}
		if (!d->quiet)
			fprintf(d->out,
			    "exchange '%.*s' in vhost '%.*s': %s, durable%s%s%s, %zu bytes of "
			    "arguments\n",
			    (int)x.name.len, (const char *)x.name.ptr, (int)x.vhost.len,
			    (const char *)x.vhost.ptr,
			    exchange_type_name((enum exchange_type)x.type),
			    x.auto_delete ? ", auto-delete" : "", x.internal ? ", internal" : "",
			    place, x.args.len);
		return 0;
	case 'q':
		if (record_queue_decode(key, klen, val, vlen, &rq) != RECORD_OK) {
			dump_problem(d, "a queue record is malformed");
			return 0;
		}
		q = xcalloc(1, sizeof(*q));
		q->qid = rq.qid;
		n = rq.name.len + rq.vhost.len + 32;
		q->label = xmalloc(n);
		snprintf(q->label, n, "'%.*s' in vhost '%.*s'", (int)rq.name.len,
		    (const char *)rq.name.ptr, (int)rq.vhost.len, (const char *)rq.vhost.ptr);
		hmap_put(&d->queues, &q->qid, sizeof(q->qid), q);
		if (!d->quiet)
			fprintf(d->out, "queue %s: durable%s, id %llu, %zu bytes of arguments\n",
			    q->label, rq.auto_delete ? ", auto-delete" : "",
			    (unsigned long long)rq.qid, rq.args.len);
		return 0;
	case 'b':
		if (record_binding_decode(key, klen, val, vlen, &b) != RECORD_OK) {
			dump_problem(d, "a binding record is malformed");
			return 0;
		}
		place[0] = '\0';
		if (b.ring_seq != 0) /* a consistent-hash exchange's binding */
			snprintf(place, sizeof(place), ", ring place %llu",
			    (unsigned long long)b.ring_seq);
		if (!d->quiet)
			fprintf(d->out,
			    "binding in vhost '%.*s': exchange '%.*s' -> %s '%.*s', key '%.*s'%s\n",
			    (int)b.vhost.len, (const char *)b.vhost.ptr, (int)b.source.len,
			    (const char *)b.source.ptr, b.dest_kind == 'q' ? "queue" : "exchange",
			    (int)b.dest.len, (const char *)b.dest.ptr, (int)b.key.len,
			    (const char *)b.key.ptr, place);
		return 0;
	default:
		dump_problem(d, "a definition record of unknown kind 0x%02x", kind < 0 ? 0 : kind);
		return 0;
	}
}

static int dump_msg(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	struct rec_message m;
	uint64_t id, *rec;

	if (record_id_decode(key, klen, &id) != RECORD_OK) {
		dump_problem(d, "a message record has a %zu-byte key", klen);
		return 0;
	}
	if (record_message_decode(val, vlen, &m) != RECORD_OK) {
		dump_problem(d, "message %llu is malformed", (unsigned long long)id);
		return 0;
	}
	rec = xcalloc(3, sizeof(*rec));
	rec[0] = id;
	hmap_put(&d->messages, &rec[0], sizeof(rec[0]), rec);
	d->nmsgs++;
	d->msg_bytes += vlen;
	return 0;
}

static int dump_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	struct dump_queue *q;
	struct rec_entry e;
	uint64_t *rec;

	if (record_entry_decode(key, klen, val, vlen, &e) != RECORD_OK) {
		dump_problem(d, "a queue entry is malformed");
		return 0;
	}
	if (dead_ranges_hold(&d->dead, e.qid, e.ri, e.seq))
		d->ndead_entries++; /* purged: being deleted */
	else if ((q = hmap_get(&d->queues, &e.qid, sizeof(e.qid))) == NULL)
		d->ndead_entries++; /* of a deleted queue: being deleted */
	else {
		d->nentries++;
		q->entries++;
	}
	rec = hmap_get(&d->messages, &e.id, sizeof(e.id));
	if (e.record.len > 0) {
		/* It holds its message (a copy in each of its queues): counted once, by id. */
		struct rec_message m;
		if (record_message_decode(e.record.ptr, e.record.len, &m) != RECORD_OK)
			dump_problem(d, "message %llu, held by a queue entry, is malformed",
			    (unsigned long long)e.id);
		if (rec == NULL) {
			rec = xcalloc(3, sizeof(*rec));
			rec[0] = e.id;
			rec[2] = UINT64_MAX; /* in entries: copies, not counted references */
			hmap_put(&d->messages, &rec[0], sizeof(rec[0]), rec);
			d->nmsgs++;
			d->msg_bytes += e.record.len;
		} else if (rec[2] != UINT64_MAX) {
			dump_problem(d, "message %llu is both in msgs and in a queue entry",
			    (unsigned long long)e.id);
		}
		rec[1]++;
	} else if (rec == NULL || rec[2] == UINT64_MAX) {
		dump_problem(d, "an entry refers to message %llu, which does not exist",
		    (unsigned long long)e.id);
	} else {
		rec[1]++;
	}
	return 0;
}

static int dump_refs(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	uint64_t id, *rec;
	uint32_t n;

	if (record_refs_decode(key, klen, val, vlen, &id, &n) != RECORD_OK) {
		dump_problem(d, "a reference count is malformed");
		return 0;
	}
	if ((rec = hmap_get(&d->messages, &id, sizeof(id))) == NULL)
		dump_problem(d, "a reference count for message %llu, which does not exist",
		    (unsigned long long)id);
	else
		rec[2] = n;
	return 0;
}

static int dump_delayed(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct dump *d = arg;
	struct dump_queue *x;
	struct rec_delay r;

	if (klen != DELAY_KEY_LEN || record_delay_decode(key, klen, val, vlen, &r) != RECORD_OK) {
		dump_problem(d, "a delayed message is malformed");
		return 0;
	}
	if ((x = hmap_get(&d->dxs, &r.xid, sizeof(r.xid))) == NULL) {
		d->ndelayed_dead++; /* of a deleted exchange: being deleted */
		return 0;
	}
	x->entries++;
	d->ndelayed++;
	d->delayed_bytes += vlen;
	return 0;
}

/* arg: the dump's dead ranges */
static int dump_meta(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	dead_ranges_add(arg, key, klen, val, vlen);
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
	hmap_init(&d.dxs);
	if ((r = store_scan(st, STORE_DEFS, dump_def, &d)) != 0 ||
	    (r = store_scan(st, STORE_DELAYED, dump_delayed, &d)) != 0 ||
	    (r = store_scan(st, STORE_META, dump_meta, &d.dead)) != 0 ||
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
	hmap_iter_init(&d.dxs, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		struct dump_queue *x = p;
		if (!verify_only)
			fprintf(out, "exchange %s holds %llu delayed messages\n", x->label,
			    (unsigned long long)x->entries);
		free(x->label);
		free(x);
	}
	hmap_iter_init(&d.messages, &it);
	while (hmap_iter_next(&it, NULL, NULL, &p)) {
		uint64_t *rec = p;
		if (rec[1] == 0)
			dump_problem(&d, "message %llu is in no queue", (unsigned long long)rec[0]);
		else if (rec[2] != UINT64_MAX && rec[1] != (rec[2] != 0 ? rec[2] : 1))
			dump_problem(&d,
			    "message %llu is in %llu queue entries but counted in %llu",
			    (unsigned long long)rec[0], (unsigned long long)rec[1],
			    (unsigned long long)(rec[2] != 0 ? rec[2] : 1));
		free(rec);
	}
	hmap_clear(&d.queues);
	hmap_clear(&d.messages);
	hmap_clear(&d.dxs);
	free(d.dead.v);
	/* Only with delayed messages, so that a store without them dumps as before. */
	if (d.ndelayed > 0 || d.ndelayed_dead > 0)
		fprintf(out, "%llu delayed messages (%llu bytes) (and %llu being deleted)\n",
		    (unsigned long long)d.ndelayed, (unsigned long long)d.delayed_bytes,
		    (unsigned long long)d.ndelayed_dead);
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
