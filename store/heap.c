/*
 * heap.c: the msgs table's layout (store format 4). Message records (larger than an entry holds:
 * 489 bytes and up) are written once into a Berkeley DB heap file, msgs-heap-NNNNNN.db, which puts
 * each where there is room and never splits a page; their keys (message ids) map to where they
 * are in a small btree, msgs-index.db: file number (4), page (4), index (2), value length (4),
 * big-endian. A heap record is the key's length (1), the key, then the value, so that a file can
 * be read without the index.
 *
 * Why: in a btree of 64 KiB pages, as format 3 kept them, every page split logged the whole page
 * (the log was twice the bodies at 4 KiB), and every delete logged the whole record again, for
 * undo: a message's life wrote four and a half times its body, and a cluster's replicas applied
 * all of it. Here a delete only removes the index entry: the heap record stays, dead, until its
 * file goes. Files are written one at a time (the current one, until it reaches HEAP_FILE_BYTES);
 * one whose records are all dead is removed; one that is mostly dead is collected, its live
 * records moved to the current file a few MiB at a time (GC_STEP_BYTES, between groups), after
 * which it is empty. Every move and removal is a transaction: the index points at one copy or the
 * other, and a removal commits (durably) after the index entries that left the file.
 *
 * How many records each file holds, and their bytes, are counted here (store thread only),
 * counted again from the index at every open. A transaction's changes to the counts are kept
 * aside until it ends (store_heap_txn_end), and dropped if it aborts.
 *
 * A format-3 store's msgs.db is copied into this layout when the tables are opened (a thousand
 * records a transaction; a crash part of the way through copies again at the next open, the
 * index keeping the newest copy), then removed.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_private.h"

#define PAGE_BYTES 65536
#define HEAP_FILE_BYTES (128u << 20) /* a heap file this large is full: the next is begun */
#define GC_STEP_BYTES (2u << 20)     /* live bytes moved per step of a file's collection */
#define IVAL_LEN 14                  /* an index value */
#define MIGRATE_RECORDS 1000         /* format-3 records moved per transaction */
#define OPEN_TRIES 200               /* a new file refused in a replication lockout: tries ... */
#define OPEN_RETRY_US 10000          /* ... this far apart */
#define REMOVALS_PER_STEP 4          /* empty files removed per upkeep step */

static const char legacy_file[] = "msgs.db";

struct heap_file {
	uint32_t no;
	DB *db;
	uint64_t live, bytes;    /* live records in it, and their values' bytes */
	int64_t dlive, dbytes;   /* the open transaction's changes to them */
	bool collecting, gc_end; /* being collected; its records all read */
	DB_HEAP_RID gc_from;     /* where collection goes on (a record already read) */
	bool gc_started;
};

struct store_heap {
	struct heap_file *f; /* by number; the last one is the current file */
	size_t n, cap;
	uint64_t file_bytes; /* HEAP_FILE_BYTES, or the test hook's */
	bool collect_all;    /* test hook: every full file is collected (files come and go) */
	uint8_t *buf;        /* a record being written: length, key, value */
	size_t bufcap;
	bool stalled; /* upkeep failed: not again until a group has committed */
};

struct ival {
	uint32_t no;
	DB_HEAP_RID rid;
	uint32_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ival_encode(uint8_t out[IVAL_LEN], const struct ival *iv)
{
	put32(out, iv->no);
	put32(out + 4, iv->rid.pgno);
	out[8] = (uint8_t)(iv->rid.indx >> 8);
	out[9] = (uint8_t)iv->rid.indx;
	put32(out + 10, iv->len);
}

/* EINVAL for a value that is not an index value. */
static int ival_decode(const DBT *v, struct ival *iv)
{
	const uint8_t *p = v->data;

	if (v->size != IVAL_LEN)
		return EINVAL;
	memset(iv, 0, sizeof(*iv));
	iv->no = get32(p);
	iv->rid.pgno = get32(p + 4);
	iv->rid.indx = (db_indx_t)(p[8] << 8 | p[9]);
	iv->len = get32(p + 10);
	return 0;
}

static void file_name(char *out, size_t len, uint32_t no)
{
	snprintf(out, len, "msgs-heap-%06u.db", no);
}

static struct heap_file *find_file(struct store_heap *h, uint32_t no)
{
	size_t lo = 0, hi = h->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (h->f[mid].no == no)
			return &h->f[mid];
		if (h->f[mid].no < no)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct heap_file *current(struct store_heap *h)
{
	return h->n > 0 ? &h->f[h->n - 1] : NULL;
}

/* Open (create if missing) file no in txn. */
static int open_file(struct store *st, DB_TXN *txn, uint32_t no, DB **out)
{
	char name[32];
	DB *db = NULL;
	int r;

	*out = NULL;
	file_name(name, sizeof(name), no);
	if ((r = db_create(&db, st->env, 0)) != 0)
		return r;
	if ((r = db->set_pagesize(db, PAGE_BYTES)) != 0 ||
	    (r = db->open(db, txn, name, NULL, DB_HEAP,
	         DB_CREATE | DB_THREAD | (txn == NULL ? DB_AUTO_COMMIT : 0), 0600)) != 0) {
		db->close(db, 0);
		return r;
	}
	*out = db;
	return 0;
}

/* Add file no (its handle db) in order. */
static struct heap_file *add_file(struct store_heap *h, uint32_t no, DB *db)
{
	size_t i;

	if (h->n == h->cap) {
		h->cap = h->cap != 0 ? h->cap * 2 : 8;
		if ((h->f = realloc(h->f, h->cap * sizeof(*h->f))) == NULL)
			abort();
	}
	for (i = h->n; i > 0 && h->f[i - 1].no > no; i--)
		h->f[i] = h->f[i - 1];
	memset(&h->f[i], 0, sizeof(h->f[i]));
	h->f[i].no = no;
	h->f[i].db = db;
	h->n++;
	return &h->f[i];
}

static void drop_file(struct store_heap *h, struct heap_file *f)
{
	size_t i = (size_t)(f - h->f);

	memmove(&h->f[i], &h->f[i + 1], (h->n - i - 1) * sizeof(*h->f));
	h->n--;
}

/* The number of a heap file from its name: true if name is msgs-heap-N.db. */
static bool heap_file_no(const char *name, unsigned *no)
{
	char tail[8];

	return sscanf(name, "msgs-heap-%u.%7s", no, tail) == 2 && strcmp(tail, "db") == 0;
}

/* Begin the next heap file (its own transaction): 0 or an error. */
static int begin_file(struct store *st)
{
	struct store_heap *h = st->heap;
	uint32_t no = h->n > 0 ? current(h)->no + 1 : 1;
	DB_TXN *txn = NULL;
	DB *db = NULL;
	int r;

	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		return r;
	if ((r = open_file(st, txn, no, &db)) != 0) {
		txn->abort(txn);
		return r;
	}
	if ((r = txn->commit(txn, 0)) != 0) {
		db->close(db, 0);
		return r;
	}
	add_file(h, no, db);
	/* Its name durable before any record in it is: a checkpoint may free the log that made it. */
	return store_sync_dir(st->dir) != 0 ? errno : 0;
}

/* Where key k's record is: 0, DB_NOTFOUND, or an error (EINVAL: not an index value). */
static int index_get(struct store *st, DB_TXN *txn, DBT *k, struct ival *iv, uint32_t flags)
{
	uint8_t buf[IVAL_LEN];
	DBT v = { 0 };
	int r;

	v.data = buf;
	v.ulen = sizeof(buf);
	v.flags = DB_DBT_USERMEM;
	if ((r = st->db[STORE_MSGS]->get(st->db[STORE_MSGS], txn, k, &v, flags)) != 0)
		return r == DB_BUFFER_SMALL ? EINVAL : r;
	return ival_decode(&v, iv);
}

static void count(struct heap_file *f, int64_t records, int64_t bytes)
{
	f->dlive += records;
	f->dbytes += bytes;
}

/* The whole record rec (length, key, value) appended to the current file; its place in *iv. */
static int append(struct store *st, DB_TXN *txn, const DBT *rec, uint32_t vlen, struct ival *iv)
{
	struct heap_file *f = current(st->heap);
	DBT rk = { 0 };
	int r;

	memset(iv, 0, sizeof(*iv));
	rk.data = &iv->rid;
	rk.ulen = sizeof(iv->rid);
	rk.flags = DB_DBT_USERMEM;
	if ((r = f->db->put(f->db, txn, &rk, (DBT *)rec, DB_APPEND)) != 0)
		return r;
	iv->no = f->no;
	iv->len = vlen;
	count(f, 1, vlen);
	return 0;
}

/* Index entry k -> iv, replacing (and uncounting) the one there was. */
static int index_put(struct store *st, DB_TXN *txn, DBT *k, const struct ival *iv)
{
	uint8_t enc[IVAL_LEN];
	struct ival old;
	struct heap_file *of;
	DBT v = { 0 };
	int r;

	ival_encode(enc, iv);
	v.data = enc;
	v.size = IVAL_LEN;
	r = st->db[STORE_MSGS]->put(st->db[STORE_MSGS], txn, k, &v, DB_NOOVERWRITE);
	if (r != DB_KEYEXIST)
		return r;
	if ((r = index_get(st, txn, k, &old, DB_RMW)) != 0)
		return r;
	if ((of = find_file(st->heap, old.no)) != NULL)
		count(of, -1, -(int64_t)old.len);
	return st->db[STORE_MSGS]->put(st->db[STORE_MSGS], txn, k, &v, 0);
}

int store_heap_put(struct store *st, DB_TXN *txn, DBT *k, const DBT *v)
{
	struct store_heap *h = st->heap;
	struct ival iv;
	DBT rec = { 0 };
	size_t need = 1 + (size_t)k->size + v->size;
	int r;

	if (k->size > 255 || current(h) == NULL)
		return EINVAL;
	if (need > h->bufcap) {
		h->bufcap = need > 2 * h->bufcap ? need : 2 * h->bufcap;
		if ((h->buf = realloc(h->buf, h->bufcap)) == NULL)
			abort();
	}
	h->buf[0] = (uint8_t)k->size;
	memcpy(h->buf + 1, k->data, k->size);
	if (v->size > 0)
		memcpy(h->buf + 1 + k->size, v->data, v->size);
	rec.data = h->buf;
	rec.size = (uint32_t)need;
	if ((r = append(st, txn, &rec, v->size, &iv)) != 0)
		return r;
	return index_put(st, txn, k, &iv);
}

/* The value of the record iv names (its key: k) into v. */
static int read_value(struct store *st, DB_TXN *txn, const DBT *k, const struct ival *iv, DBT *v)
{
	struct heap_file *f = find_file(st->heap, iv->no);
	DBT rk = { 0 };
	uint32_t flags = v->flags;
	int r;

	if (f == NULL)
		return EINVAL; /* an index entry naming no file: corrupt */
	rk.data = (void *)&iv->rid;
	rk.size = sizeof(iv->rid);
	v->flags |= DB_DBT_PARTIAL;
	v->doff = 1 + k->size;
	v->dlen = iv->len;
	r = f->db->get(f->db, txn, &rk, v, 0);
	v->flags = flags;
	v->doff = v->dlen = 0;
	if (r == 0 && v->size != iv->len)
		r = EINVAL;
	return r == DB_NOTFOUND ? EINVAL : r;
}

int store_heap_get(struct store *st, DB_TXN *txn, DBT *k, DBT *v)
{
	struct ival iv;
	int r;

	if ((r = index_get(st, txn, k, &iv, 0)) != 0)
		return r;
	return read_value(st, txn, k, &iv, v);
}

int store_heap_index_value(struct store *st, DB_TXN *txn, const DBT *k, const DBT *ivdbt, DBT *v)
{
	struct ival iv;
	int r;

	if ((r = ival_decode(ivdbt, &iv)) != 0)
		return r;
	return read_value(st, txn, k, &iv, v);
}

int store_heap_del(struct store *st, DB_TXN *txn, DBT *k)
{
	struct heap_file *f;
	struct ival iv;
	int r;

	if ((r = index_get(st, txn, k, &iv, DB_RMW)) != 0)
		return r;
	if ((f = find_file(st->heap, iv.no)) != NULL)
		count(f, -1, -(int64_t)iv.len);
	return st->db[STORE_MSGS]->del(st->db[STORE_MSGS], txn, k, 0);
}

void store_heap_txn_end(struct store *st, bool committed)
{
	struct store_heap *h = st->heap;

	for (size_t i = 0; h != NULL && i < h->n; i++) {
		struct heap_file *f = &h->f[i];
		if (committed) {
			h->stalled = false;
			f->live = (uint64_t)((int64_t)f->live + f->dlive);
			f->bytes = (uint64_t)((int64_t)f->bytes + f->dbytes);
		}
		f->dlive = f->dbytes = 0;
	}
}

/* ---- upkeep: a new file, empty ones removed, mostly empty ones collected ---- */

static uint64_t file_size(const struct heap_file *f)
{
	DB_MPOOLFILE *mpf = f->db->get_mpf(f->db);
	db_pgno_t last = 0;

	/* Pages still in the cache count: the file grows only as they are written. */
	if (mpf->get_last_pgno(mpf, &last) != 0)
		return 0;
	return ((uint64_t)last + 1) * PAGE_BYTES;
}

/* A file (not the current one) with no live record left: removed durably. */
static int remove_file(struct store *st, struct heap_file *f)
{
	char name[32];
	DB_TXN *txn = NULL;
	int r;

	file_name(name, sizeof(name), f->no);
	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		return r;
	/* Its pages need not reach the disk: the file goes. */
	f->db->close(f->db, DB_NOSYNC);
	f->db = NULL;
	if ((r = st->env->dbremove(st->env, txn, name, NULL, 0)) != 0) {
		txn->abort(txn);
	} else if ((r = txn->commit(txn, 0)) == 0) {
		drop_file(st->heap, f);
		return 0;
	}
	/* Not removed: open it again, to try later. */
	if (open_file(st, NULL, f->no, &f->db) != 0) {
		store_set_error(st, "%s/%s: open again after a failed removal: %s", st->dir, name,
		    db_strerror(r));
		drop_file(st->heap, f); /* empty anyway: nothing points into it */
	}
	return r;
}

/*
 * The file most worth collecting, or NULL: not the current one, grown to half a file at least,
 * and less than half live (of its data pages: the meta and first region page hold none).
 */
static struct heap_file *gc_candidate(struct store_heap *h)
{
	struct heap_file *best = NULL;

	for (size_t i = 0; i + 1 < h->n; i++) {
		struct heap_file *f = &h->f[i];
		uint64_t size;
		if (f->collecting && !f->gc_end)
			return f;
		if (f->live == 0 || f->gc_end || (size = file_size(f)) < h->file_bytes / 2)
			continue;
		if ((h->collect_all || f->bytes < (size - 2 * PAGE_BYTES) / 2) &&
		    (best == NULL || f->bytes < best->bytes))
			best = f;
	}
	return best;
}

/* Move up to GC_STEP_BYTES of f's live records to the current file, in one transaction. */
static int gc_step(struct store *st, struct heap_file *f)
{
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT rk = { 0 }, rec = { 0 };
	DB_HEAP_RID rid = f->gc_from, from = f->gc_from;
	bool started = f->gc_started;
	uint64_t moved = 0;
	int r;

	f->collecting = true;
	rk.data = &rid;
	rk.size = sizeof(rid);
	rk.ulen = sizeof(rid);
	rk.flags = DB_DBT_USERMEM;
	rec.flags = DB_DBT_REALLOC;
	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		return r;
	if ((r = f->db->cursor(f->db, txn, &cur, 0)) != 0)
		goto out;
	r = f->gc_started ? cur->get(cur, &rk, &rec, DB_SET) : cur->get(cur, &rk, &rec, DB_FIRST);
	if (r == 0 && f->gc_started)
		r = cur->get(cur, &rk, &rec, DB_NEXT);
	for (; r == 0 && moved < GC_STEP_BYTES; r = cur->get(cur, &rk, &rec, DB_NEXT)) {
		const uint8_t *p = rec.data;
		struct ival at, to;
		DBT k = { 0 };

		f->gc_from = rid;
		f->gc_started = true;
		if (rec.size < 1 || rec.size < 1u + p[0])
			continue; /* not a record of ours: left where it is */
		k.data = (void *)(p + 1);
		k.size = p[0];
		if ((r = index_get(st, txn, &k, &at, DB_RMW)) == DB_NOTFOUND ||
		    (r == 0 &&
		        (at.no != f->no || at.rid.pgno != rid.pgno || at.rid.indx != rid.indx))) {
			r = 0;
			continue; /* dead: deleted, or written again elsewhere */
		}
		if (r != 0 || (r = append(st, txn, &rec, at.len, &to)) != 0 ||
		    (r = index_put(st, txn, &k, &to)) != 0)
			break;
		moved += at.len;
	}
	if (r == DB_NOTFOUND) {
		f->gc_end = true; /* every record read: it is empty once this commits */
		r = 0;
	}
out:
	if (cur != NULL)
		cur->close(cur);
	free(rec.data);
	if (r == 0)
		r = txn->commit(txn, DB_TXN_NOSYNC); /* made durable before any file is removed */
	else
		txn->abort(txn);
	store_heap_txn_end(st, r == 0);
	if (r != 0) { /* undone: read again from where this step began */
		f->gc_from = from;
		f->gc_started = started;
		f->gc_end = false;
	}
	return r;
}

bool store_heap_upkeep_wanted(struct store *st)
{
	struct store_heap *h = st->heap;

	if (h == NULL || h->n == 0 || h->stalled)
		return false;
	for (size_t i = 0; i + 1 < h->n; i++)
		if (h->f[i].live == 0)
			return true;
	return file_size(current(h)) >= h->file_bytes || gc_candidate(h) != NULL;
}

void store_heap_upkeep(struct store *st)
{
	struct store_heap *h = st->heap;
	struct heap_file *f;
	int r;

	if (h == NULL || h->n == 0)
		return;
	if (file_size(current(h)) >= h->file_bytes && (r = begin_file(st)) != 0) {
		h->stalled = true;
		if (!store_lockout(r))
			store_set_error(st, "%s: a new heap file: %s", st->dir, db_strerror(r));
	}
	if ((f = gc_candidate(h)) != NULL && (r = gc_step(st, f)) != 0) {
		h->stalled = true;
		if (!store_lockout(r))
			store_set_error(st, "%s: moving live records out of a heap file: %s",
			    st->dir, db_strerror(r));
	}
	/* A few removals at a time (each a synced commit): a drained backlog's files go over a few
	 * groups rather than stall one. */
	for (size_t i = 0, removed = 0; i + 1 < h->n && removed < REMOVALS_PER_STEP; i++) {
		if (h->f[i].live != 0)
			continue;
		/* Durable before the file goes: every transaction that moved or deleted its records. */
		if (st->env->log_flush(st->env, NULL) != 0 || remove_file(st, &h->f[i]) != 0) {
			h->stalled = true;
			break;
		}
		removed++;
		i--; /* the next file is now at i */
	}
}

/* ---- opening ---- */

int store_heap_placeholders(
    const char *dir, char *notice, size_t noticelen, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat sb;
	char path[4096];
	unsigned no;
	int removed = 0;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, legacy_file) != 0 && !heap_file_no(e->d_name, &no))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/*
		 * A file Berkeley DB made is two pages at least (its meta page and the first
		 * other), written and fsync'ed before the file gets its name; the placeholder a
		 * removal puts there is a meta page of 512 bytes, never fsync'ed.
		 */
		if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size >= 1024)
			continue;
		if (unlink(path) != 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			closedir(d);
			return -1;
		}
		snprintf(notice + strlen(notice), noticelen - strlen(notice),
		    "%s%s: %lld bytes, what an interrupted removal left: removed",
		    notice[0] != '\0' ? "; " : "", path, (long long)sb.st_size);
		removed++;
	}
	closedir(d);
	if (removed > 0 && store_sync_dir(dir) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Count each file's live records and bytes from the index. */
static int count_live(struct store *st, char *err, size_t errlen)
{
	struct store_heap *h = st->heap;
	DBC *cur = NULL;
	DBT k = { 0 }, v = { 0 };
	struct ival iv;
	struct heap_file *f;
	int r;

	k.flags = v.flags = DB_DBT_REALLOC;
	if ((r = st->db[STORE_MSGS]->cursor(st->db[STORE_MSGS], NULL, &cur, 0)) != 0)
		goto fail;
	while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		if (ival_decode(&v, &iv) != 0 || (f = find_file(h, iv.no)) == NULL) {
			char name[32];
			file_name(name, sizeof(name), iv.no);
			snprintf(err, errlen,
			    "%s/msgs-index.db: the store is corrupt: a message %s (%s)", st->dir,
			    v.size != IVAL_LEN ? "has no valid place" : "is in a missing file",
			    name);
			cur->close(cur);
			free(k.data);
			free(v.data);
			return -1;
		}
		f->live++;
		f->bytes += iv.len;
	}
	cur->close(cur);
	free(k.data);
	free(v.data);
	if (r == DB_NOTFOUND)
		return 0;
fail:
	snprintf(err, errlen, "%s/msgs-index.db: %s", st->dir, db_strerror(r));
	return -1;
}

/* Open every msgs-heap-N.db in the directory. */
static int open_files(struct store *st, char *err, size_t errlen)
{
	DIR *d = opendir(st->dir);
	struct dirent *e;
	unsigned no;
	DB *db;
	int r = 0;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", st->dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!heap_file_no(e->d_name, &no))
			continue;
		for (int tries = 0;; tries++) {
			DB_TXN *txn = NULL;
			if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) == 0 &&
			    (r = open_file(st, txn, no, &db)) != 0)
				txn->abort(txn);
			else if (r == 0 && (r = txn->commit(txn, 0)) != 0)
				db->close(db, 0);
			if (r == 0 || !store_lockout(r) || tries == OPEN_TRIES)
				break;
			usleep(OPEN_RETRY_US);
		}
		if (r != 0) {
			snprintf(err, errlen, "%s/%s: %s", st->dir, e->d_name, db_strerror(r));
			break;
		}
		add_file(st->heap, no, db);
	}
	closedir(d);
	return r != 0 ? -1 : 0;
}

/*
 * Copy up to MIGRATE_RECORDS records of legacy, those after *last (none yet: from the first), into
 * the heap, in one transaction. They stay in legacy (deleting them would log each again): a crash
 * part of the way copies them again at the next open, and the index keeps the newest copy.
 */
static int migrate_some(struct store *st, DB *legacy, DBT *last, bool *more)
{
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT k = { 0 }, v = { 0 };
	uint32_t flag = last->size > 0 ? DB_SET_RANGE : DB_FIRST;
	int r, n = 0;

	k.flags = v.flags = DB_DBT_REALLOC;
	if (last->size > 0) {
		if ((k.data = malloc(last->size)) == NULL)
			abort();
		memcpy(k.data, last->data, last->size);
		k.size = last->size;
	}
	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		goto out;
	if ((r = legacy->cursor(legacy, txn, &cur, 0)) != 0)
		goto out;
	while (n < MIGRATE_RECORDS && (r = cur->get(cur, &k, &v, flag)) == 0) {
		flag = DB_NEXT;
		if (last->size > 0 && k.size == last->size &&
		    memcmp(k.data, last->data, k.size) == 0)
			continue; /* copied by the last step */
		if ((r = store_heap_put(st, txn, &k, &v)) != 0)
			break;
		n++;
	}
	*more = r == 0;
	if (r == DB_NOTFOUND)
		r = 0;
	if (r == 0 && n > 0) {
		free(last->data);
		*last = k;
		k.data = NULL;
	}
out:
	if (cur != NULL)
		cur->close(cur);
	free(k.data);
	free(v.data);
	if (txn == NULL)
		return r;
	if (r != 0) {
		txn->abort(txn);
		store_heap_txn_end(st, false);
		return r;
	}
	r = txn->commit(txn, DB_TXN_NOSYNC); /* durable before msgs.db goes (its removal syncs) */
	store_heap_txn_end(st, r == 0);
	if (r == 0 && file_size(current(st->heap)) >= st->heap->file_bytes)
		r = begin_file(st);
	/* A checkpoint now and then, so that the logs it writes can go as it goes. */
	if (r == 0)
		r = st->env->txn_checkpoint(st->env, 64 * 1024, 0, 0);
	return r;
}

/* A format-3 store's msgs.db moved into the heap, then removed. */
static int migrate(struct store *st, char *err, size_t errlen)
{
	DB *legacy = NULL;
	DB_TXN *txn = NULL;
	DBT last = { 0 };
	bool more = true;
	int r;

	if ((r = db_create(&legacy, st->env, 0)) != 0)
		goto fail;
	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		goto fail;
	r = legacy->open(legacy, txn, legacy_file, NULL, DB_BTREE, DB_THREAD, 0600);
	if (r != 0)
		txn->abort(txn);
	else
		r = txn->commit(txn, 0);
	if (r == ENOENT) { /* a store of format 4 (or a new one) */
		legacy->close(legacy, 0);
		return 0;
	}
	if (r != 0)
		goto fail;
	while (more)
		if ((r = migrate_some(st, legacy, &last, &more)) != 0)
			goto fail;
	free(last.data);
	last.data = NULL;
	r = legacy->close(legacy, 0);
	legacy = NULL;
	if (r != 0 || (r = st->env->log_flush(st->env, NULL)) != 0 ||
	    (r = st->env->dbremove(st->env, NULL, legacy_file, NULL, DB_AUTO_COMMIT)) != 0)
		goto fail;
	/* Gone for good: moved again after a power cut, it would bring back deleted records. */
	if (store_sync_dir(st->dir) != 0) {
		r = errno;
		goto fail;
	}
	snprintf(st->notice + strlen(st->notice), sizeof(st->notice) - strlen(st->notice),
	    "%s%s/%s: message records moved into heap files (store format 4)",
	    st->notice[0] != '\0' ? "; " : "", st->dir, legacy_file);
	return 0;
fail:
	free(last.data);
	if (legacy != NULL)
		legacy->close(legacy, 0);
	snprintf(err, errlen, "%s/%s: moving its records into heap files: %s", st->dir, legacy_file,
	    db_strerror(r));
	return -1;
}

int store_heap_open(struct store *st, char *err, size_t errlen)
{
	const char *hook = getenv("WARREN_TEST_HEAP_FILE_BYTES");
	int r = 0;

	if ((st->heap = calloc(1, sizeof(*st->heap))) == NULL)
		abort();
	st->heap->file_bytes = hook != NULL ? strtoull(hook, NULL, 10) : HEAP_FILE_BYTES;
	st->heap->collect_all = getenv("WARREN_TEST_HEAP_COLLECT_ALL") != NULL;
	if (open_files(st, err, errlen) != 0 || count_live(st, err, errlen) != 0)
		return -1;
	for (int tries = 0;
	     st->heap->n == 0 || file_size(current(st->heap)) >= st->heap->file_bytes; tries++) {
		if ((r = begin_file(st)) == 0 || !store_lockout(r) || tries == OPEN_TRIES)
			break;
		usleep(OPEN_RETRY_US);
	}
	if (r != 0) {
		snprintf(err, errlen, "%s: a new heap file: %s", st->dir, db_strerror(r));
		return -1;
	}
	return migrate(st, err, errlen);
}

void store_heap_close(struct store *st)
{
	struct store_heap *h = st->heap;

	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++)
		h->f[i].db->close(h->f[i].db, 0);
	free(h->f);
	free(h->buf);
	free(h);
	st->heap = NULL;
}
