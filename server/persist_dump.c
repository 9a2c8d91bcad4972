/*
 * persist_dump.c: warrenctl store-dump and store-verify: a stopped broker's store in AMQP terms,
 * and its consistency (every entry's queue and message exist, counts match the entries).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist_private.h"

/* ---- offline dump and verification (warrenctl store-dump / store-verify) ---- */

struct dump {
	FILE *out;
	bool quiet;           /* verify only */
	struct hmap queues;   /* qid -> struct dump_queue */
	struct hmap messages; /* id -> uint64_t[3]: id, entries, counted references (0: none) */
	struct dead_ranges dead;
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
		dump_problem(
		    d, "message %llu is malformed", (unsigned long long)amqp_load_u64(key));
		return 0;
	}
	rec = xcalloc(3, sizeof(*rec));
	rec[0] = amqp_load_u64(key);
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

	if (klen != ENTRY_KEY_LEN || vlen != ENTRY_VAL_LEN) {
		dump_problem(d, "a queue entry is malformed");
		return 0;
	}
	qid = amqp_load_u64(key);
	id = amqp_load_u64(val);
	if (dead_ranges_hold(&d->dead, qid, k[8], amqp_load_u64(k + 9)))
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
	id = amqp_load_u64(key);
	if ((rec = hmap_get(&d->messages, &id, sizeof(id))) == NULL)
		dump_problem(d, "a reference count for message %llu, which does not exist",
		    (unsigned long long)id);
	else
		rec[2] = amqp_load_u32(v);
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
	if ((r = store_scan(st, STORE_DEFS, dump_def, &d)) != 0 ||
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
	free(d.dead.v);
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
