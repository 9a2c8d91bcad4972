/*
 * heap.c: the msgs table's layout. Message records (larger than an entry holds: 489 bytes and up)
 * live in a Berkeley DB heap, msgs-heap.db, which puts each where there is room and never splits
 * a page; their keys (message ids) map to where they are (a heap record id, 6 bytes) in a small
 * btree, msgs-index.db. In a btree of 64 KiB pages, as format 3 kept them, every page split
 * logged the whole page: with 4 KiB messages the log was twice the bodies, and a cluster's
 * replicas applied all of it (docs/performance.md).
 *
 * A format-3 store's msgs.db is moved into this layout when the tables are opened (a thousand
 * records a transaction, so a crash part of the way through leaves every record in one place or
 * the other, and the next open goes on), then removed. Once no message is left, idle time
 * replaces the heap with an empty one: Berkeley DB cannot compact a heap, and the file would
 * otherwise keep the size of the largest backlog.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_private.h"

#define RID_LEN 6                  /* page number (4), index (2), big-endian */
#define MIGRATE_RECORDS 1000       /* format-3 records moved per transaction */
#define RESET_MIN_BYTES (4u << 20) /* an empty heap smaller than this is kept */

static const char legacy_file[] = "msgs.db", heap_file[] = "msgs-heap.db";

static void rid_encode(uint8_t out[RID_LEN], const DB_HEAP_RID *rid)
{
	out[0] = (uint8_t)(rid->pgno >> 24);
	out[1] = (uint8_t)(rid->pgno >> 16);
	out[2] = (uint8_t)(rid->pgno >> 8);
	out[3] = (uint8_t)rid->pgno;
	out[4] = (uint8_t)(rid->indx >> 8);
	out[5] = (uint8_t)rid->indx;
}

/* The heap record id an index value names; EINVAL for a value that is not one. */
static int rid_decode(const DBT *v, DB_HEAP_RID *rid)
{
	const uint8_t *p = v->data;

	if (v->size != RID_LEN)
		return EINVAL;
	memset(rid, 0, sizeof(*rid));
	rid->pgno = (db_pgno_t)p[0] << 24 | (db_pgno_t)p[1] << 16 | (db_pgno_t)p[2] << 8 | p[3];
	rid->indx = (db_indx_t)(p[4] << 8 | p[5]);
	return 0;
}

static DB *heap_db(struct store *st)
{
	return st->db[STORE_MSGS_HEAP];
}

/* Where key k's record is: 0 with *rid, DB_NOTFOUND, or an error. */
static int index_get(struct store *st, DB_TXN *txn, DBT *k, DB_HEAP_RID *rid, uint32_t flags)
{
	uint8_t buf[RID_LEN];
	DBT v = { 0 };
	int r;

	v.data = buf;
	v.ulen = sizeof(buf);
	v.flags = DB_DBT_USERMEM;
	if ((r = st->db[STORE_MSGS]->get(st->db[STORE_MSGS], txn, k, &v, flags)) != 0)
		return r == DB_BUFFER_SMALL ? EINVAL : r;
	return rid_decode(&v, rid);
}

/* A new heap record for v: 0 with its id in out, or an error. */
static int heap_append(struct store *st, DB_TXN *txn, const DBT *v, uint8_t out[RID_LEN])
{
	DB_HEAP_RID rid;
	DBT rk = { 0 };
	int r;

	memset(&rid, 0, sizeof(rid));
	rk.data = &rid;
	rk.ulen = sizeof(rid);
	rk.flags = DB_DBT_USERMEM;
	if ((r = heap_db(st)->put(heap_db(st), txn, &rk, (DBT *)v, DB_APPEND)) != 0)
		return r;
	rid_encode(out, &rid);
	return 0;
}

static int heap_remove(struct store *st, DB_TXN *txn, DB_HEAP_RID *rid)
{
	DBT rk = { 0 };

	rk.data = rid;
	rk.size = sizeof(*rid);
	return heap_db(st)->del(heap_db(st), txn, &rk, 0);
}

int store_heap_put(struct store *st, DB_TXN *txn, DBT *k, const DBT *v)
{
	uint8_t enc[RID_LEN];
	DB_HEAP_RID old;
	DBT iv = { 0 };
	int r;

	if ((r = heap_append(st, txn, v, enc)) != 0)
		return r;
	iv.data = enc;
	iv.size = RID_LEN;
	r = st->db[STORE_MSGS]->put(st->db[STORE_MSGS], txn, k, &iv, DB_NOOVERWRITE);
	if (r != DB_KEYEXIST)
		return r;
	/* A record written again: its old one goes. */
	if ((r = index_get(st, txn, k, &old, DB_RMW)) != 0 || (r = heap_remove(st, txn, &old)) != 0)
		return r;
	return st->db[STORE_MSGS]->put(st->db[STORE_MSGS], txn, k, &iv, 0);
}

int store_heap_get(struct store *st, DB_TXN *txn, DBT *k, DBT *v)
{
	DB_HEAP_RID rid;
	int r;

	if ((r = index_get(st, txn, k, &rid, 0)) != 0)
		return r;
	return store_heap_value(st, txn, &rid, v);
}

int store_heap_value(struct store *st, DB_TXN *txn, const DB_HEAP_RID *rid, DBT *v)
{
	DBT rk = { 0 };
	int r;

	rk.data = (void *)rid;
	rk.size = sizeof(*rid);
	r = heap_db(st)->get(heap_db(st), txn, &rk, v, 0);
	return r == DB_NOTFOUND ? EINVAL : r; /* an index naming no record: corrupt */
}

int store_heap_index_value(struct store *st, DB_TXN *txn, const DBT *iv, DBT *v)
{
	DB_HEAP_RID rid;
	int r;

	if ((r = rid_decode(iv, &rid)) != 0)
		return r;
	return store_heap_value(st, txn, &rid, v);
}

int store_heap_del(struct store *st, DB_TXN *txn, DBT *k)
{
	DB_HEAP_RID rid;
	int r;

	if ((r = index_get(st, txn, k, &rid, DB_RMW)) != 0)
		return r;
	if ((r = heap_remove(st, txn, &rid)) != 0 && r != DB_NOTFOUND)
		return r;
	st->heap_deletes++;
	return st->db[STORE_MSGS]->del(st->db[STORE_MSGS], txn, k, 0);
}

/* Move up to MIGRATE_RECORDS records of legacy into the heap, in one transaction. */
static int migrate_some(struct store *st, DB *legacy, bool *more)
{
	DB_TXN *txn = NULL;
	DBC *cur = NULL;
	DBT k = { 0 }, v = { 0 };
	uint8_t enc[RID_LEN];
	int r, n = 0;

	k.flags = v.flags = DB_DBT_REALLOC;
	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		return r;
	if ((r = legacy->cursor(legacy, txn, &cur, 0)) != 0)
		goto out;
	while (n < MIGRATE_RECORDS && (r = cur->get(cur, &k, &v, DB_NEXT | DB_RMW)) == 0) {
		DBT iv = { 0 };
		iv.data = enc;
		iv.size = RID_LEN;
		if ((r = heap_append(st, txn, &v, enc)) != 0 ||
		    (r = st->db[STORE_MSGS]->put(st->db[STORE_MSGS], txn, &k, &iv, 0)) != 0 ||
		    (r = cur->del(cur, 0)) != 0)
			break;
		n++;
	}
	*more = r == 0;
	if (r == DB_NOTFOUND)
		r = 0;
out:
	if (cur != NULL)
		cur->close(cur);
	free(k.data);
	free(v.data);
	if (r != 0) {
		txn->abort(txn);
		return r;
	}
	return txn->commit(txn, 0);
}

int store_heap_migrate(struct store *st, char *err, size_t errlen)
{
	DB *legacy = NULL;
	DB_TXN *txn = NULL;
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
		if ((r = migrate_some(st, legacy, &more)) != 0)
			goto fail;
	r = legacy->close(legacy, 0);
	legacy = NULL;
	if (r != 0 ||
	    (r = st->env->dbremove(st->env, NULL, legacy_file, NULL, DB_AUTO_COMMIT)) != 0)
		goto fail;
	snprintf(st->notice + strlen(st->notice), sizeof(st->notice) - strlen(st->notice),
	    "%s%s/%s: message records moved into msgs-heap.db (store format 4)",
	    st->notice[0] != '\0' ? "; " : "", st->dir, legacy_file);
	return 0;
fail:
	if (legacy != NULL)
		legacy->close(legacy, 0);
	snprintf(err, errlen, "%s/%s: moving its records into msgs-heap.db: %s", st->dir,
	    legacy_file, db_strerror(r));
	return -1;
}

/* Open (create if missing) the heap file in txn (NULL: a transaction of its own). */
int store_heap_open(struct store *st, DB_TXN *txn, DB **out)
{
	DB *db = NULL;
	int r;

	*out = NULL;
	if ((r = db_create(&db, st->env, 0)) != 0)
		return r;
	if ((r = db->set_pagesize(db, 65536)) != 0 ||
	    (r = db->open(db, txn, heap_file, NULL, DB_HEAP,
	         DB_CREATE | DB_THREAD | (txn == NULL ? DB_AUTO_COMMIT : 0), 0600)) != 0) {
		db->close(db, 0);
		return r;
	}
	*out = db;
	return 0;
}

bool store_heap_reset_wanted(const struct store *st)
{
	return st->heap_deletes > 0 && st->db[STORE_MSGS_HEAP] != NULL;
}

/*
 * Idle time, after deletes: if no message is left and the heap has grown, replace it with an
 * empty one (its removal and the new file's creation in one transaction).
 */
void store_heap_reset(struct store *st)
{
	DBC *cur = NULL;
	DBT k = { 0 }, v = { 0 };
	DB_TXN *txn = NULL;
	DB *db = NULL;
	db_pgno_t last;
	int r;

	st->heap_deletes = 0;
	k.flags = v.flags = DB_DBT_PARTIAL; /* is there a key at all */
	if (st->db[STORE_MSGS]->cursor(st->db[STORE_MSGS], NULL, &cur, 0) != 0)
		return;
	r = cur->get(cur, &k, &v, DB_FIRST);
	cur->close(cur);
	if (r != DB_NOTFOUND ||
	    st->db[STORE_MSGS_HEAP]
	            ->get_mpf(st->db[STORE_MSGS_HEAP])
	            ->get_last_pgno(
	                st->db[STORE_MSGS_HEAP]->get_mpf(st->db[STORE_MSGS_HEAP]), &last) != 0 ||
	    ((uint64_t)last + 1) * 65536 < RESET_MIN_BYTES)
		return; /* pages in the cache count: the file grows only as they are written */
	if (st->env->txn_begin(st->env, NULL, &txn, 0) != 0)
		return;
	/* Its pages need not reach the disk: the file goes. */
	st->db[STORE_MSGS_HEAP]->close(st->db[STORE_MSGS_HEAP], DB_NOSYNC);
	st->db[STORE_MSGS_HEAP] = NULL;
	if ((r = st->env->dbremove(st->env, txn, heap_file, NULL, 0)) != 0 ||
	    (r = store_heap_open(st, txn, &db)) != 0)
		txn->abort(txn);
	else if ((r = txn->commit(txn, 0)) == 0) {
		st->db[STORE_MSGS_HEAP] = db;
		return;
	}
	/* Undone: the old heap is still there (and empty). */
	if (db != NULL)
		db->close(db, DB_NOSYNC);
	if ((r = store_heap_open(st, NULL, &db)) != 0)
		store_set_error(st,
		    "%s/%s: opened again after an empty heap's replacement failed: %s", st->dir,
		    heap_file, db_strerror(r));
	st->db[STORE_MSGS_HEAP] = db;
}
