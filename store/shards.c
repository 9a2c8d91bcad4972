/*
 * shards.c: the entries table's trees. An entry's key starts with its queue's id (8 bytes,
 * big-endian), then a sequence number that only grows: each queue appends to a run of keys of
 * its own. In one btree only the queue with the greatest id appends at the tree's last page, and
 * Berkeley DB splits any other full leaf in half (__bam_psplit), so every other queue leaves
 * half-empty pages behind it, and each split logs the whole page: with four queues, 58% of
 * entries.db's leaf bytes were free and the splits were 46% of the log's bytes
 * (docs/performance.md). So a store made by this build keeps the table in STORE_SHARDS btrees,
 * chosen by the key's 8th byte, the low byte of a queue's id (queues declared one after the other
 * fall in different trees), and a queue alone in its tree appends at the tree's end. A range
 * within one queue (a prefix of at least 8 bytes) reads one tree; a scan, or a range of a shorter
 * prefix, merges the trees in key order. Keys shorter than 8 bytes are kept in the first.
 *
 * An older store keeps every entry in entries.db (nshards 1). It has no entries-1.db: that file is
 * made last, after entries-15.db down to entries-2.db (each in a transaction of its own), so that
 * its presence says that all are there. A store whose entries.db holds no record (a new one, or an
 * older one once its queues are empty) gets them at an open.
 */
#include <db.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_private.h"

#define SHARD_KEY_BYTE 7 /* the low byte of the queue's id */

/* The tree of shard s. */
static unsigned shard_tree(unsigned s)
{
	return s == 0 ? STORE_ENTRIES : STORE_NTABLES + s - 1;
}

unsigned store_tree(const struct store *st, unsigned tb, const void *key, size_t klen)
{
	if (tb != STORE_ENTRIES || st->nshards == 1 || klen <= SHARD_KEY_BYTE)
		return tb;
	return shard_tree(((const uint8_t *)key)[SHARD_KEY_BYTE] % st->nshards);
}

int store_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* 1 if entries.db holds no record, 0 if it does, or a Berkeley DB error. */
static int entries_empty(struct store *st)
{
	DB *db = st->db[STORE_ENTRIES];
	DBC *cur = NULL;
	DBT k = { 0 }, v = { 0 };
	int r;

	k.flags = v.flags = DB_DBT_PARTIAL; /* nothing of it */
	if ((r = db->cursor(db, NULL, &cur, 0)) != 0)
		return r;
	r = cur->get(cur, &k, &v, DB_FIRST);
	cur->close(cur);
	return r == DB_NOTFOUND ? 1 : r == 0 ? 0 : r;
}

int store_open_shards(struct store *st, char *err, size_t errlen)
{
	char name[32];
	unsigned s;
	int r;

	st->nshards = 1;
	r = store_open_tree(st, shard_tree(1), store_tree_file(shard_tree(1), name), false);
	if (r == ENOENT) {
		/* The test hook makes a store as a format-4 build did (store.h). */
		if ((r = entries_empty(st)) == 0 || getenv("WARREN_TEST_ONE_ENTRIES_TREE") != NULL)
			return 0; /* an older store, with entries: one tree as before */
		if (r != 1) {
			snprintf(err, errlen, "%s/entries.db: %s", st->dir, db_strerror(r));
			return -1;
		}
		for (s = STORE_SHARDS - 1; s >= 1; s--) {
			if ((r = store_open_tree(st, shard_tree(s),
			         store_tree_file(shard_tree(s), name), true)) != 0) {
				snprintf(err, errlen, "%s/%s: %s", st->dir, name, db_strerror(r));
				return -1;
			}
		}
	} else if (r == 0) {
		for (s = 2; s < STORE_SHARDS; s++) {
			r = store_open_tree(
			    st, shard_tree(s), store_tree_file(shard_tree(s), name), false);
			if (r == ENOENT) {
				snprintf(err, errlen,
				    "%s/%s: missing, but entries-1.db is there: the store is "
				    "incomplete (a file removed by hand?)",
				    st->dir, name);
				return -1;
			}
			if (r != 0) {
				snprintf(err, errlen, "%s/%s: %s", st->dir, name, db_strerror(r));
				return -1;
			}
		}
	} else {
		snprintf(err, errlen, "%s/%s: %s", st->dir, store_tree_file(shard_tree(1), name),
		    db_strerror(r));
		return -1;
	}
	st->nshards = STORE_SHARDS;
	return 0;
}

struct store_mcur {
	unsigned n;    /* trees read */
	unsigned last; /* the tree whose record went out last, to move on; n: none yet */
	DBC *c[STORE_SHARDS];
	DBT k[STORE_SHARDS], v[STORE_SHARDS];
	bool live[STORE_SHARDS]; /* c[i] holds a record in k[i], v[i] */
};

int store_mcur_open(struct store *st, DB_TXN *txn, unsigned tb, const void *from, size_t flen,
    size_t prefix_len, struct store_mcur **out)
{
	struct store_mcur *mc = calloc(1, sizeof(*mc));
	unsigned i;
	int r = 0;

	if (mc == NULL)
		abort();
	if (tb != STORE_ENTRIES || st->nshards == 1 ||
	    (prefix_len > SHARD_KEY_BYTE && flen > SHARD_KEY_BYTE))
		mc->n = 1; /* one tree holds every key of the range */
	else
		mc->n = st->nshards;
	mc->last = mc->n;
	for (i = 0; i < mc->n && r == 0; i++) {
		DB *db = st->db[mc->n == 1 ? store_tree(st, tb, from, flen) : shard_tree(i)];

		mc->k[i].flags = mc->v[i].flags = DB_DBT_REALLOC;
		if ((r = db->cursor(db, txn, &mc->c[i], 0)) != 0)
			break;
		if (flen > 0) {
			if ((mc->k[i].data = malloc(flen)) == NULL)
				abort();
			memcpy(mc->k[i].data, from, flen);
			mc->k[i].size = (uint32_t)flen;
			r = mc->c[i]->get(mc->c[i], &mc->k[i], &mc->v[i], DB_SET_RANGE);
		} else {
			r = mc->c[i]->get(mc->c[i], &mc->k[i], &mc->v[i], DB_FIRST);
		}
		mc->live[i] = r == 0;
		if (r == DB_NOTFOUND)
			r = 0;
	}
	if (r != 0) {
		store_mcur_close(mc);
		return r;
	}
	*out = mc;
	return 0;
}

int store_mcur_next(struct store_mcur *mc, DBT **k, DBT **v)
{
	unsigned i, best = mc->n;
	int r;

	if (mc->last < mc->n) {
		i = mc->last;
		r = mc->c[i]->get(mc->c[i], &mc->k[i], &mc->v[i], DB_NEXT);
		mc->live[i] = r == 0;
		if (r != 0 && r != DB_NOTFOUND)
			return r;
	}
	for (i = 0; i < mc->n; i++)
		if (mc->live[i] &&
		    (best == mc->n ||
		        store_key_cmp(
		            mc->k[i].data, mc->k[i].size, mc->k[best].data, mc->k[best].size) < 0))
			best = i;
	mc->last = best;
	if (best == mc->n)
		return DB_NOTFOUND;
	*k = &mc->k[best];
	*v = &mc->v[best];
	return 0;
}

void store_mcur_close(struct store_mcur *mc)
{
	for (unsigned i = 0; i < mc->n; i++) {
		if (mc->c[i] != NULL)
			mc->c[i]->close(mc->c[i]);
		free(mc->k[i].data);
		free(mc->v[i].data);
	}
	free(mc);
}
