/*
 * store.c: the data directory (its FORMAT file and the Berkeley DB environment, opened with
 * recovery), the store thread and group commit: every batch waiting when the thread is free is
 * applied in one transaction, committed without a sync, and then made durable by one log flush, so
 * one fsync covers every waiting publisher. Completions go back through an eventfd.
 *
 * Durability of the directory itself: a file's data is safe only once fsync'ed, and its name only
 * once its directory is. FORMAT is written to a temporary file, fsync'ed, renamed and the directory
 * fsync'ed; the directory is fsync'ed after the environment and its tables are opened (Berkeley DB
 * creates and removes files there), whenever the log has moved on to a new file (before the commit
 * that wrote into it completes), and after the old log files this file removes after a checkpoint
 * (Berkeley DB's auto-remove takes most of them first; a removal a power cut undoes is harmless).
 */
#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_private.h"

#define CHECKPOINT_KB (64 * 1024) /* checkpoint (and so free old logs) after this much log */
#define CACHE_BYTES (16 * 1024 * 1024)
#define COMPACT_AFTER 4096   /* deletes in a table before idle time goes to compacting it */
#define COMPACT_RECORDS 2048 /* records per compaction step, so that new work waits little */
#define COMPACT_IDLE_MS 1000 /* ... and only once the store has had no work for this long */

static const char *const table_files[STORE_NTABLES] = { "defs.db", "msgs-index.db", "entries.db",
	"meta.db", "refs.db", "scratch.db", "delayed.db" };

enum op_kind { OP_PUT, OP_DEL, OP_RELEASE, OP_NONE };

struct op {
	uint8_t kind, table, table2; /* table2: the target of a release */
	uint32_t klen, vlen;
	size_t off; /* key, then value, at data + off */
};

struct store_batch {
	struct op *ops;
	size_t nops, capops;
	uint8_t *data;
	size_t len, cap;
	int (*job)(struct store_txn *t, void *arg); /* a job instead of ops */
	bool read_only; /* a read job: done once it has run (store_submit_read) */
	void (*done)(void *arg, int status);
	void *arg;
	int status;
	struct store_batch *next;
};

struct store_txn {
	struct store *st;
	DB_TXN *txn;
	DBT val; /* the last value read, owned here */
	bool read_only;
};

void store_set_error(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->last_error, sizeof(st->last_error), fmt, ap);
	va_end(ap);
}

/* ---- the directory ---- */

bool store_lockout(int r)
{
	return r == DB_LOCK_DEADLOCK || r == DB_LOCK_NOTGRANTED || r == DB_REP_LOCKOUT;
}

/* fsync a directory: the names created, renamed or removed in it survive a power cut. */
int store_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r, e;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

/* Where the log ends: the file it is being written to and the offset in it. */
static DB_LSN log_end(struct store *st)
{
	DB_LOG_STAT *sp = NULL;
	DB_LSN lsn = { 0, 0 };

	if (st->env->log_stat(st->env, &sp, 0) == 0) {
		lsn.file = sp->st_cur_file;
		lsn.offset = sp->st_cur_offset;
		free(sp);
	}
	return lsn;
}

/*
 * If the log has moved on to a file whose name is not yet durable, fsync the directory. Called
 * after every flush, before its batches complete: a commit is only durable once the file holding
 * it can be found after a power cut.
 */
static int sync_log_file(struct store *st)
{
	uint32_t file = log_end(st).file;

	if (file == st->synced_log_file)
		return 0;
	if (store_sync_dir(st->dir) != 0)
		return -1;
	st->synced_log_file = file;
	return 0;
}

/*
 * Remove the log files no checkpoint needs any more, then (if there were any) fsync the directory.
 * The checkpoint thread passes report false: the last error is the store thread's to set.
 */
static int remove_old_logs(struct store *st, bool report)
{
	char **list = NULL, **p;
	int r;

	if ((r = st->env->log_archive(st->env, &list, DB_ARCH_ABS)) != 0) {
		if (report)
			store_set_error(
			    st, "%s: listing old log files: %s", st->dir, db_strerror(r));
		return STORE_E_DB;
	}
	if (list == NULL)
		return 0;
	for (p = list; *p != NULL; p++) {
		if (unlink(*p) != 0 && errno != ENOENT) {
			if (report)
				store_set_error(st, "%s: %s", *p, strerror(errno));
			free(list);
			return STORE_E_IO;
		}
	}
	free(list);
	if (store_sync_dir(st->dir) != 0) {
		if (report)
			store_set_error(st, "%s: fsync: %s", st->dir, strerror(errno));
		return STORE_E_IO;
	}
	st->synced_log_file = log_end(st).file; /* the fsync covered the current file too */
	return 0;
}

/*
 * A checkpoint (once kbyte KiB of log have been written since the last one; any amount with
 * DB_FORCE), and if one was written, the removal of the log files it made unneeded.
 */
static void checkpoint(struct store *st, uint32_t kbyte, uint32_t flags, bool report)
{
	DB_LSN before = log_end(st), after;

	if (st->env->txn_checkpoint(st->env, kbyte, 0, flags) != 0)
		return;
	after = log_end(st);
	if (after.file != before.file || after.offset != before.offset)
		remove_old_logs(
		    st, report); /* on failure the files stay: only disk space is lost */
}

/*
 * The checkpoint thread. A checkpoint writes the pages the groups dirtied and waits for them
 * (memp_sync): on the store thread, after a group, it held up the next group's commit. Four
 * publishers of 16-byte messages on a cluster master: the checkpoints took 0.36 ms of each 3.6 ms
 * group cycle there. Here the store thread only wakes this one after each group (or after a
 * compaction, for a checkpoint of any size), and checkpoints run beside the commits. On a
 * cluster master a checkpoint also pauses before it logs its record (repl.c's
 * DB_REP_CHECKPOINT_DELAY), which only this thread waits through.
 */
/* Wake the checkpoint thread: a checkpoint once enough log is written, or (any) at once. */
static void ckpt_request(struct store *st, bool any)
{
	pthread_mutex_lock(&st->lock);
	st->ckpt_wanted = true;
	st->ckpt_any |= any;
	pthread_cond_signal(&st->ckpt_wake);
	pthread_mutex_unlock(&st->lock);
}

static void *ckpt_main(void *arg)
{
	struct store *st = arg;
	uint32_t kbyte;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (!st->ckpt_wanted && !st->stopping)
			pthread_cond_wait(&st->ckpt_wake, &st->lock);
		if (st->stopping)
			break;
		kbyte = st->ckpt_any ? 0 : CHECKPOINT_KB;
		st->ckpt_wanted = st->ckpt_any = false;
		pthread_mutex_unlock(&st->lock);
		checkpoint(st, kbyte, 0, false);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

/* ---- batches ---- */

struct store_batch *store_batch_new(void)
{
	struct store_batch *b = calloc(1, sizeof(*b));

	if (b == NULL)
		abort();
	return b;
}

static void batch_add(struct store_batch *b, enum op_kind kind, enum store_table t, const void *key,
    size_t klen, const void *val, size_t vlen)
{
	struct op *o;

	if (b->nops == b->capops) {
		b->capops = b->capops != 0 ? b->capops * 2 : 16;
		if ((b->ops = realloc(b->ops, b->capops * sizeof(*b->ops))) == NULL)
			abort();
	}
	if (klen + vlen > b->cap - b->len) {
		size_t ncap = b->cap != 0 ? b->cap * 2 : 4096;
		while (ncap - b->len < klen + vlen)
			ncap *= 2;
		if ((b->data = realloc(b->data, ncap)) == NULL)
			abort();
		b->cap = ncap;
	}
	o = &b->ops[b->nops++];
	o->kind = (uint8_t)kind;
	o->table = (uint8_t)t;
	o->klen = (uint32_t)klen;
	o->vlen = (uint32_t)vlen;
	o->off = b->len;
	memcpy(b->data + b->len, key, klen);
	if (vlen > 0)
		memcpy(b->data + b->len + klen, val, vlen);
	b->len += klen + vlen;
}

size_t store_batch_put(struct store_batch *b, enum store_table t, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	batch_add(b, OP_PUT, t, key, klen, val, vlen);
	return b->nops - 1;
}

size_t store_batch_del(struct store_batch *b, enum store_table t, const void *key, size_t klen)
{
	batch_add(b, OP_DEL, t, key, klen, NULL, 0);
	return b->nops - 1;
}

void store_batch_cancel(struct store_batch *b, size_t op)
{
	if (op < b->nops)
		b->ops[op].kind = OP_NONE;
}

void store_batch_release(struct store_batch *b, enum store_table counts, enum store_table target,
    const void *key, size_t klen)
{
	batch_add(b, OP_RELEASE, counts, key, klen, NULL, 0);
	b->ops[b->nops - 1].table2 = (uint8_t)target;
}

void store_batch_free(struct store_batch *b)
{
	if (b == NULL)
		return;
	free(b->ops);
	free(b->data);
	free(b);
}

/* ---- the store thread ---- */

/*
 * The transaction an operation on table tb runs in: none for a cluster node's scratch, which lives
 * in a private environment of its own (a transaction cannot cross environments).
 */
#define TXN_FOR(st, tb, txn) ((tb) == STORE_SCRATCH && (st)->scratch_env != NULL ? NULL : (txn))

/* A record of table tb written, read (into v) or deleted: the msgs table's through heap.c. */
static int table_put(struct store *st, DB_TXN *txn, unsigned tb, DBT *k, DBT *v)
{
	DB *db = st->db[store_tree(st, tb, k->data, k->size)];

	if (tb == STORE_MSGS)
		return store_heap_put(st, txn, k, v);
	return db->put(db, TXN_FOR(st, tb, txn), k, v, 0);
}

static int table_get(struct store *st, DB_TXN *txn, unsigned tb, DBT *k, DBT *v)
{
	DB *db = st->db[store_tree(st, tb, k->data, k->size)];

	if (tb == STORE_MSGS)
		return store_heap_get(st, txn, k, v);
	return db->get(db, TXN_FOR(st, tb, txn), k, v, 0);
}

static int table_del(struct store *st, DB_TXN *txn, unsigned tb, DBT *k)
{
	unsigned tree = store_tree(st, tb, k->data, k->size);

	st->deletes[tree]++;
	if (tb == STORE_MSGS)
		return store_heap_del(st, txn, k);
	return st->db[tree]->del(st->db[tree], TXN_FOR(st, tb, txn), k, 0);
}

/* Drop one reference (see store_batch_release); 0 or a Berkeley DB error. */
static int release_ref(
    struct store *st, DB_TXN *txn, unsigned counts, unsigned target, const void *key, size_t klen)
{
	DBT k = { 0 }, v = { 0 };
	uint8_t buf[4];
	uint32_t n = 1;
	int r;

	k.data = (void *)key;
	k.size = (uint32_t)klen;
	v.data = buf;
	v.ulen = sizeof(buf);
	v.flags = DB_DBT_USERMEM;
	r = st->db[counts]->get(st->db[counts], txn, &k, &v, DB_RMW);
	if (r == 0 && v.size == 4)
		n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 |
		    buf[3];
	else if (r != 0 && r != DB_NOTFOUND)
		return r;
	if (n > 2 || (n == 2 && r == 0)) {
		n--;
		if (n == 1) /* one reference left: no count needed */
			return (r = st->db[counts]->del(st->db[counts], txn, &k, 0)) == DB_NOTFOUND
			    ? 0
			    : r;
		buf[0] = (uint8_t)(n >> 24);
		buf[1] = (uint8_t)(n >> 16);
		buf[2] = (uint8_t)(n >> 8);
		buf[3] = (uint8_t)n;
		v.size = 4;
		return st->db[counts]->put(st->db[counts], txn, &k, &v, 0);
	}
	if (r == 0 && (r = st->db[counts]->del(st->db[counts], txn, &k, 0)) != 0 &&
	    r != DB_NOTFOUND)
		return r;
	r = table_del(st, txn, target, &k);
	return r == DB_NOTFOUND ? 0 : r;
}

/* Apply one batch (or run one job) inside txn; 0 or an error. */
static int apply_batch(struct store *st, DB_TXN *txn, const struct store_batch *b)
{
	size_t i;
	int r;

	if (b->job != NULL) {
		struct store_txn t = { st, txn, { 0 }, b->read_only };
		t.val.flags = DB_DBT_REALLOC;
		r = b->job(&t, b->arg);
		free(t.val.data);
		return r;
	}
	for (i = 0; i < b->nops; i++) {
		const struct op *o = &b->ops[i];
		DBT k = { 0 }, v = { 0 };

		k.data = b->data + o->off;
		k.size = o->klen;
		if (o->kind != OP_NONE && o->table != STORE_SCRATCH)
			st->group_logged = true;
		if (o->kind == OP_PUT) {
			v.data = b->data + o->off + o->klen;
			v.size = o->vlen;
			r = table_put(st, txn, o->table, &k, &v);
		} else if (o->kind == OP_DEL) {
			r = table_del(st, txn, o->table, &k);
			if (r == DB_NOTFOUND)
				r = 0; /* deleting what is not there is fine */
		} else if (o->kind == OP_NONE) {
			r = 0;
		} else {
			r = release_ref(st, txn, o->table, o->table2, k.data, k.size);
		}
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- jobs ---- */

void store_submit_job(struct store *st, int (*fn)(struct store_txn *t, void *arg),
    void (*done)(void *arg, int status), void *arg)
{
	struct store_batch *b = store_batch_new();

	b->job = fn;
	store_submit(st, b, done, arg);
}

void store_submit_read(struct store *st, int (*fn)(struct store_txn *t, void *arg),
    void (*done)(void *arg, int status), void *arg)
{
	struct store_batch *b = store_batch_new();

	b->job = fn;
	b->read_only = true;
	store_submit(st, b, done, arg);
}

static int txn_error(struct store_txn *t, const char *what, enum store_table tb, int r)
{
	store_set_error(t->st, "%s/%s: %s: %s", t->st->dir, table_files[tb], what, db_strerror(r));
	return STORE_E_DB;
}

/* A read job's results leave before its group commits: it must not write (a bug: fail it). */
static int read_only_error(struct store_txn *t, const char *what, enum store_table tb)
{
	store_set_error(t->st, "%s/%s: %s in a read job", t->st->dir, table_files[tb], what);
	return STORE_E_DB;
}

int store_txn_get(struct store_txn *t, enum store_table tb, const void *key, size_t klen,
    const void **val, size_t *vlen)
{
	DBT k = { 0 };
	int r;

	k.data = (void *)key;
	k.size = (uint32_t)klen;
	r = table_get(t->st, t->txn, tb, &k, &t->val);
	if (r == DB_NOTFOUND)
		return 1;
	if (r != 0)
		return txn_error(t, "read", tb, r);
	*val = t->val.data;
	*vlen = t->val.size;
	return 0;
}

int store_txn_range(struct store_txn *t, enum store_table tb, const void *from, size_t flen,
    size_t prefix_len,
    int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg), void *arg)
{
	struct store_mcur *mc;
	DBT *k, *v;
	int r, ret = 0;

	if ((r = store_mcur_open(
	         t->st, TXN_FOR(t->st, tb, t->txn), tb, from, flen, prefix_len, &mc)) != 0)
		return txn_error(t, "cursor", tb, r);
	while ((r = store_mcur_next(mc, &k, &v)) == 0) {
		if (k->size < prefix_len || memcmp(k->data, from, prefix_len) != 0)
			break;
		if (tb == STORE_MSGS &&
		    (r = store_heap_index_value(t->st, t->txn, k, v, &t->val)) != 0)
			break;
		if (tb == STORE_MSGS ? fn(k->data, k->size, t->val.data, t->val.size, arg) != 0
		                     : fn(k->data, k->size, v->data, v->size, arg) != 0)
			break;
	}
	if (r != 0 && r != DB_NOTFOUND)
		ret = txn_error(t, "read", tb, r);
	store_mcur_close(mc);
	return ret;
}

int store_txn_put(struct store_txn *t, enum store_table tb, const void *key, size_t klen,
    const void *val, size_t vlen)
{
	DBT k = { 0 }, v = { 0 };
	int r;

	if (t->read_only)
		return read_only_error(t, "write", tb);
	k.data = (void *)key;
	k.size = (uint32_t)klen;
	v.data = (void *)val;
	v.size = (uint32_t)vlen;
	if (tb != STORE_SCRATCH)
		t->st->group_logged = true;
	if ((r = table_put(t->st, t->txn, tb, &k, &v)) != 0)
		return txn_error(t, "write", tb, r);
	return 0;
}

int store_txn_del(struct store_txn *t, enum store_table tb, const void *key, size_t klen)
{
	DBT k = { 0 };
	int r;

	if (t->read_only)
		return read_only_error(t, "delete", tb);
	k.data = (void *)key;
	k.size = (uint32_t)klen;
	if (tb != STORE_SCRATCH)
		t->st->group_logged = true;
	if ((r = table_del(t->st, t->txn, tb, &k)) != 0 && r != DB_NOTFOUND)
		return txn_error(t, "delete", tb, r);
	return 0;
}

int store_txn_release(struct store_txn *t, enum store_table counts, enum store_table target,
    const void *key, size_t klen)
{
	int r;

	if (t->read_only)
		return read_only_error(t, "release", target);
	r = release_ref(t->st, t->txn, counts, target, key, klen);
	t->st->group_logged = true;
	return r != 0 ? txn_error(t, "release", target, r) : 0;
}

/* Hand a list of finished batches and jobs (non-empty) to the loop with status. */
static void complete(struct store *st, struct store_batch *list, int status)
{
	struct store_batch *b;
	uint64_t one = 1;

	pthread_mutex_lock(&st->lock);
	/*
	 * A group without its quorum ack (a cluster node) fails the batches' waiters (confirms), but
	 * a job's reads are as good as ever: it completes (reading paged entries back, a consumer
	 * would otherwise never get them).
	 */
	for (b = list;; b = b->next) {
		b->status = status == STORE_E_NOT_REPLICATED && b->job != NULL ? 0 : status;
		if (b->next == NULL)
			break;
	}
	*st->done_tail = list;
	st->done_tail = &b->next;
	if (write(st->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		store_set_error(st, "eventfd: %s", strerror(errno));
	pthread_mutex_unlock(&st->lock);
}

/*
 * One group: every batch in *list, one transaction, one flush. A read job leaves the list as
 * soon as it has run and goes back to the loop at once (store_submit_read says why it may).
 */
#define LOCKOUT_TRIES 200     /* a group refused in a replication lockout: tries, ... */
#define LOCKOUT_RETRY_US 5000 /* ... this far apart */

/* A group that failed: for good, or (a cluster node no longer master) for this group only. */
static int failed_status(struct store *st)
{
	if (st->repl == NULL || store_repl_env_is_master(st))
		return STORE_E_DB;
	store_set_error(st, "%s: a write failed: this node is no longer the master", st->dir);
	return STORE_E_NOT_MASTER;
}

static int commit_group_once(struct store *st, struct store_batch **list, int *dberr, bool *ran_job)
{
	DB_TXN *txn = NULL;
	struct store_batch *b, **bp;
	int r;

	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0) {
		*dberr = r;
		store_set_error(st, "%s: begin transaction: %s", st->dir, db_strerror(r));
		return failed_status(st);
	}
	st->group_logged = false;
	for (bp = list; (b = *bp) != NULL;) {
		if (b->job != NULL && !b->read_only)
			*ran_job = true;
		if ((r = apply_batch(st, txn, b)) != 0) {
			*dberr = r;
			if (b->job == NULL)
				store_set_error(st, "%s: write: %s", st->dir, db_strerror(r));
			txn->abort(txn);
			store_heap_txn_end(st, false);
			return failed_status(st);
		}
		if (b->read_only) {
			*bp = b->next;
			b->next = NULL;
			complete(st, b, 0);
		} else {
			bp = &b->next;
		}
	}
	/*
	 * Commit without a sync: the flush below makes this and every other commit durable at once.
	 * On a cluster node the commit waits here for a majority's acks; without them it still
	 * returns 0, and the event callback (repl.c) has set perm_failed, on this thread.
	 */
	st->perm_failed = false;
	r = txn->commit(txn, DB_TXN_NOSYNC);
	store_heap_txn_end(st, r == 0);
	if (r != 0) {
		*dberr = r;
		store_set_error(st, "%s: commit: %s", st->dir, db_strerror(r));
		return failed_status(st);
	}
	/* Reads and scratch only (reading paged entries back): nothing to make durable. */
	if (!st->group_logged)
		return 0;
	if (st->test_delay_ms > 0) {
		struct timespec ts = { st->test_delay_ms / 1000,
			(long)(st->test_delay_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	if (st->test_fail) {
		store_set_error(st, "%s: log flush failed (WARREN_TEST_FLUSH_FAIL)", st->dir);
		return STORE_E_FLUSH;
	}
	if ((r = st->env->log_flush(st->env, NULL)) != 0) {
		store_set_error(st, "%s: log flush: %s", st->dir, db_strerror(r));
		return STORE_E_FLUSH;
	}
	if (sync_log_file(st) != 0) {
		store_set_error(st, "%s: fsync after a new log file: %s", st->dir, strerror(errno));
		return STORE_E_FLUSH;
	}
	if (st->perm_failed) {
		store_set_error(st,
		    "%s: a commit was not acknowledged by a majority of the group in time",
		    st->dir);
		return STORE_E_NOT_REPLICATED;
	}
	return 0;
}

/*
 * A cluster master's operations meet repmgr's lockouts (a member added or removed, a replica's
 * sync): Berkeley DB refuses them with DB_LOCK_DEADLOCK (or DB_REP_LOCKOUT) for the application
 * to abort and try again. A group is tried again, 5 ms apart for up to a second, unless it ran a
 * job that writes (a job's scratch deletes are outside the transaction and not undone); then, or
 * after the second, it fails for this group only, as one without its quorum ack does.
 */
static int commit_group(struct store *st, struct store_batch **list)
{
	for (int tries = 0;; tries++) {
		bool ran_job = false;
		int dberr = 0, r = commit_group_once(st, list, &dberr, &ran_job);

		if (r != STORE_E_DB || st->repl == NULL || !store_lockout(dberr))
			return r;
		if (ran_job || tries == LOCKOUT_TRIES) {
			store_set_error(st, "%s: a group met a replication lockout: %s", st->dir,
			    db_strerror(dberr));
			return STORE_E_NOT_REPLICATED;
		}
		usleep(LOCKOUT_RETRY_US);
	}
}

/*
 * Idle time: give the disk back. Berkeley DB keeps a table's file at its largest size, so a table
 * that has seen many deletes is compacted (pages merged, free pages at the end returned to the
 * file system) a few pages at a time, resuming where the last step stopped. True if there is more.
 */
static bool compact_wanted(struct store *st)
{
	if (store_heap_upkeep_wanted(st))
		return true;
	for (int t = 0; t < STORE_NTREES; t++)
		if (st->compacting[t] || st->deletes[t] >= COMPACT_AFTER)
			return true;
	return false;
}

static bool compact_step(struct store *st)
{
	DB_COMPACT c;
	DBT stop = { 0 }, v = { 0 };
	DBC *cur = NULL;
	bool last = false;
	int t, r, n;

	if (store_heap_upkeep_wanted(st)) {
		store_heap_upkeep(st);
		return true;
	}
	for (t = 0; t < STORE_NTREES; t++)
		if (st->compacting[t] || st->deletes[t] >= COMPACT_AFTER)
			break;
	if (t == STORE_NTREES)
		return false;
	if (!st->compacting[t]) {
		st->compacting[t] = true;
		st->deletes[t] = 0;
		free(st->compact_from[t].data);
		memset(&st->compact_from[t], 0, sizeof(st->compact_from[t]));
	}
	/* This step's range: COMPACT_RECORDS records on from where the last one stopped. */
	stop.flags = DB_DBT_REALLOC;
	v.flags = DB_DBT_PARTIAL; /* keys only */
	if ((r = st->db[t]->cursor(st->db[t], NULL, &cur, 0)) == 0) {
		if (st->compact_from[t].size > 0) {
			stop.data = malloc(st->compact_from[t].size);
			if (stop.data == NULL)
				abort();
			memcpy(stop.data, st->compact_from[t].data, st->compact_from[t].size);
			stop.size = st->compact_from[t].size;
			r = cur->get(cur, &stop, &v, DB_SET_RANGE);
		} else {
			r = cur->get(cur, &stop, &v, DB_FIRST);
		}
		for (n = 0; r == 0 && n < COMPACT_RECORDS; n++)
			r = cur->get(cur, &stop, &v, DB_NEXT);
		last = r != 0;
		cur->close(cur);
	}
	memset(&c, 0, sizeof(c));
	r = st->db[t]->compact(st->db[t], NULL,
	    st->compact_from[t].size > 0 ? &st->compact_from[t] : NULL, last ? NULL : &stop, &c,
	    DB_FREE_SPACE, NULL);
	free(st->compact_from[t].data);
	st->compact_from[t] = stop;
	st->compact_from[t].flags = 0;
	if (r != 0 || last) { /* done (or failed: try again after more deletes) */
		st->compacting[t] = false;
		free(st->compact_from[t].data);
		memset(&st->compact_from[t], 0, sizeof(st->compact_from[t]));
		ckpt_request(st, true); /* the logs it wrote can go too */
	}
	return true;
}

static void *store_thread(void *arg)
{
	struct store *st = arg;
	struct store_batch *list;
	int status;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		while (st->pending == NULL && !st->stopping) {
			struct timespec now, until;
			if (!compact_wanted(st)) {
				pthread_cond_wait(&st->wake, &st->lock);
				continue;
			}
			/* Compaction waits until the store has been idle a while. */
			clock_gettime(CLOCK_MONOTONIC, &now);
			until = st->last_work;
			until.tv_sec += COMPACT_IDLE_MS / 1000;
			if (now.tv_sec > until.tv_sec ||
			    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec)) {
				pthread_mutex_unlock(&st->lock);
				compact_step(st);
				pthread_mutex_lock(&st->lock);
			} else {
				pthread_cond_timedwait(&st->wake, &st->lock, &until);
			}
		}
		if (st->pending == NULL && st->stopping)
			break;
		list = st->pending;
		st->pending = NULL;
		st->pending_tail = &st->pending;
		pthread_mutex_unlock(&st->lock);

		status = commit_group(st, &list);
		ckpt_request(st, false);
		clock_gettime(CLOCK_MONOTONIC, &st->last_work);
		if (list != NULL)
			complete(st, list, status);
		/* After the batches' completions: a new heap file, empty ones removed, a GC step. */
		if (status == 0)
			store_heap_upkeep(st);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

void store_submit(
    struct store *st, struct store_batch *b, void (*done)(void *arg, int status), void *arg)
{
	b->done = done;
	b->arg = arg;
	b->next = NULL;
	pthread_mutex_lock(&st->lock);
	*st->pending_tail = b;
	st->pending_tail = &b->next;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
}

int store_completion_fd(const struct store *st)
{
	return st->efd;
}

void store_run_completions(struct store *st)
{
	struct store_batch *list, *b, *next;
	uint64_t n;

	if (read(st->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		store_set_error(st, "eventfd: %s", strerror(errno));
	pthread_mutex_lock(&st->lock);
	list = st->done;
	st->done = NULL;
	st->done_tail = &st->done;
	pthread_mutex_unlock(&st->lock);
	for (b = list; b != NULL; b = next) {
		next = b->next;
		if (b->done != NULL)
			b->done(b->arg, b->status);
		store_batch_free(b);
	}
}

const char *store_last_error(const struct store *st)
{
	return st->last_error;
}

const char *store_notice(const struct store *st)
{
	return st->notice;
}

/* ---- open and close ---- */

#define FORMAT_MAGIC "warren-store "

/* Write dir/name whole and durably: a temporary file, fsync'ed, renamed over name, then dir. */
static int write_durably(
    const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
	char tmp[4096], path[4096];
	const char *what = tmp;
	size_t len = strlen(text);
	ssize_t n;
	int fd, e, ret = STORE_E_IO;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		goto out;
	if ((n = write(fd, text, len)) != (ssize_t)len) {
		if (n >= 0)
			errno = EIO; /* a short write to a regular file: the disk is full */
		goto out;
	}
	if (fsync(fd) != 0)
		goto out;
	e = close(fd);
	fd = -1;
	if (e != 0)
		goto out;
	what = path;
	if (rename(tmp, path) != 0)
		goto out;
	what = dir;
	if (store_sync_dir(dir) != 0)
		goto out;
	ret = 0;
out:
	e = errno;
	if (fd >= 0)
		close(fd);
	if (ret != 0) {
		snprintf(err, errlen, "%s: %s", what, strerror(e));
		unlink(tmp);
	}
	return ret;
}

/*
 * True if the n bytes of buf are what a write of FORMAT cut short by a power cut can leave: nothing,
 * zeros where the data never landed, or the start of the magic without a version.
 */
static bool format_cut_short(const char *buf, size_t n)
{
	size_t text = strnlen(buf, n), i;

	for (i = text; i < n; i++)
		if (buf[i] != '\0')
			return false;
	return text < sizeof(FORMAT_MAGIC) && memcmp(buf, FORMAT_MAGIC, text) == 0;
}

/* 1 and the name of the first file in dir holding store data (a table or a log), 0 if none, -1. */
static int dir_holds_store(const char *dir, char *name, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int i, found = 0;

	if (d == NULL)
		return -1;
	while (found == 0 && (e = readdir(d)) != NULL) {
		found = strncmp(e->d_name, "log.", 4) == 0;
		for (i = 0; i < STORE_NTABLES && found == 0; i++)
			found = strcmp(e->d_name, table_files[i]) == 0;
		if (found != 0)
			snprintf(name, len, "%s", e->d_name);
	}
	closedir(d);
	return found;
}

/*
 * Check DIR/FORMAT, or write it (durably) when the directory holds no store yet. A FORMAT that an
 * older warrend's write left empty or cut short is written again only if the directory holds no
 * store; with one it is refused, with what to do (notice: what was done, for the log).
 */
static int store_check_format(
    const char *dir, char *notice, size_t noticelen, char *err, size_t errlen)
{
	char path[4096], buf[64], file[256];
	ssize_t n = 0;
	int fd, version = 0, holds;

	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return STORE_E_IO;
		}
		buf[n] = '\0';
		if (sscanf(buf, FORMAT_MAGIC "%d", &version) == 1) {
			if (version < STORE_FORMAT_OLDEST || version > STORE_FORMAT_VERSION) {
				snprintf(err, errlen,
				    "%s: format version %d, this build reads %d to %d", path,
				    version, STORE_FORMAT_OLDEST, STORE_FORMAT_VERSION);
				return STORE_E_FORMAT;
			}
			if (version == STORE_FORMAT_VERSION)
				return 0;
			/* Before anything of the new format is written: older builds refuse it now. */
			snprintf(buf, sizeof(buf), FORMAT_MAGIC "%d\n", STORE_FORMAT_VERSION);
			if (write_durably(dir, "FORMAT", buf, err, errlen) != 0)
				return STORE_E_IO;
			snprintf(notice, noticelen,
			    "%s: store format %d read as format %d, which it now is (a warrend "
			    "older "
			    "than this one will refuse it)",
			    path, version, STORE_FORMAT_VERSION);
			return 0;
		}
		if (!format_cut_short(buf, (size_t)n)) {
			snprintf(err, errlen, "%s: not a Warren format file", path);
			return STORE_E_FORMAT;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return STORE_E_IO;
	}
	if ((holds = dir_holds_store(dir, file, sizeof(file))) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return STORE_E_IO;
	}
	/* Data is there but its format is unknown: never guess, never start on an empty store. */
	if (holds > 0 && fd < 0) {
		snprintf(err, errlen, "%s: missing, but %s/%s exists: refusing to guess the format",
		    path, dir, file);
		return STORE_E_FORMAT;
	}
	if (holds > 0) {
		snprintf(err, errlen,
		    "%s: %s (a write cut short by a crash, from a warrend older than this one), "
		    "and the directory holds a store (%s): refusing to guess its format. If it was "
		    "written by a warrend of store format %d to %d, write the line '" FORMAT_MAGIC
		    "%d' into %s, check the store with warrenctl store-verify --data-dir %s, and "
		    "start again; if not, restore the directory from a backup",
		    path, n == 0 ? "empty" : "incomplete", file, STORE_FORMAT_OLDEST,
		    STORE_FORMAT_VERSION, STORE_FORMAT_VERSION, path, dir);
		return STORE_E_FORMAT;
	}
	snprintf(buf, sizeof(buf), FORMAT_MAGIC "%d\n", STORE_FORMAT_VERSION);
	if (write_durably(dir, "FORMAT", buf, err, errlen) != 0)
		return STORE_E_IO;
	if (fd >= 0)
		snprintf(notice, noticelen,
		    "%s was %s (a write cut short by a crash) and the directory held no store: "
		    "written again",
		    path, n == 0 ? "empty" : "incomplete");
	return 0;
}

/*
 * Remove the environment's region files (__db.001, ...): shared memory that recovery rebuilds at
 * every open, so nothing in them is needed; a set that a power cut left half-written would only
 * make Berkeley DB try, and fail, to join it first. Only with the LOCK held.
 */
static int remove_regions(const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	int ret = 0;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return STORE_E_IO;
	}
	while (ret == 0 && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "__db.", 5) != 0 ||
		    strspn(e->d_name + 5, "0123456789") != strlen(e->d_name + 5))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) != 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			ret = STORE_E_IO;
		}
	}
	closedir(d);
	return ret;
}

static void env_errcall(const DB_ENV *env, const char *prefix, const char *msg)
{
	/*
	 * A cluster node's master, preparing a replica's full copy, reads every file of the data
	 * directory as a table, and says so of LOCK and FORMAT; a new master's table opens, tried
	 * again while repmgr holds operations out (repl.c), say each time that they are; an
	 * election that lacked a vote is held again; and a master that lost its role has its last
	 * writes refused as a replica's (its batches fail, and warrend starts again): not errors.
	 * Nor are the progress notes of a wait in a lockout (BDB3505-3508: "waiting N minutes"),
	 * which count polls as seconds: repl.c makes those polls 5 ms apart. Nor is an election
	 * on one vote of two (BDB3531), which is what a promoted node asked for.
	 */
	if (env->app_private != NULL &&
	    ((strstr(msg, "fop_read_meta") != NULL &&
	         (strstr(msg, "/LOCK: ") != NULL || strstr(msg, "/FORMAT: ") != NULL)) ||
	        strncmp(msg, "BDB3509 ", 8) == 0 || strncmp(msg, "BDB3534 ", 8) == 0 ||
	        strncmp(msg, "BDB0111 ", 8) == 0 || strncmp(msg, "BDB3531 ", 8) == 0 ||
	        (strncmp(msg, "BDB350", 6) == 0 && msg[6] >= '5' && msg[6] <= '8' &&
	            msg[7] == ' ')))
		return;
	fprintf(stderr, "warrend: berkeley db: %s\n", msg);
}

/*
 * The directory checked and locked, and the environment opened with recovery; no table yet. rc:
 * NULL for a single node, else the replication it is configured with (repl.c), before the open.
 */
struct store *store_open_env(
    const char *dir, const struct store_repl_config *rc, char *err, size_t errlen)
{
	struct store *st = NULL;
	DB_ENV *env = NULL;
	const char *hook;
	int r;

	char lockpath[4096], parent[4096], notice[sizeof(st->notice)] = "";
	int lockfd;

	if (mkdir(dir, 0700) == 0) {
		/* A new directory: its name must survive a power cut too. */
		snprintf(parent, sizeof(parent), "%s", dir);
		if (store_sync_dir(dirname(parent)) != 0) {
			snprintf(err, errlen, "%s: fsync: %s", parent, strerror(errno));
			return NULL;
		}
	} else if (errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	/* One broker per data directory: a second would corrupt the environment. */
	snprintf(lockpath, sizeof(lockpath), "%s/LOCK", dir);
	if ((lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "%s: %s", lockpath, strerror(errno));
		return NULL;
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "%s: %s", lockpath,
		    errno == EWOULDBLOCK ? "another warrend is using this data directory"
		                         : strerror(errno));
		close(lockfd);
		return NULL;
	}
	if (store_check_format(dir, notice, sizeof(notice), err, errlen) != 0) {
		close(lockfd);
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL || (st->dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		free(st);
		close(lockfd);
		return NULL;
	}
	st->lockfd = lockfd;
	st->efd = -1;
	memcpy(st->notice, notice, sizeof(notice));
	pthread_mutex_init(&st->lock, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* for the idle wait */
		pthread_cond_init(&st->wake, &ca);
		pthread_condattr_destroy(&ca);
		pthread_cond_init(&st->ckpt_wake, NULL);
	}
	st->pending_tail = &st->pending;
	st->done_tail = &st->done;
	if ((hook = getenv("WARREN_TEST_FLUSH_DELAY_MS")) != NULL)
		st->test_delay_ms = (unsigned)strtoul(hook, NULL, 10);
	if ((hook = getenv("WARREN_TEST_FLUSH_FAIL")) != NULL && strcmp(hook, "1") == 0)
		st->test_fail = true;

	if (remove_regions(dir, err, errlen) != 0 ||
	    store_heap_placeholders(dir, st->notice, sizeof(st->notice), err, errlen) != 0)
		goto fail;
	if ((r = db_env_create(&env, 0)) != 0) {
		snprintf(err, errlen, "%s: db_env_create: %s", dir, db_strerror(r));
		goto fail;
	}
	st->env = env;
	env->set_errcall(env, env_errcall);
	env->set_cachesize(env, 0, CACHE_BYTES, 1);
	env->set_lk_max_locks(env, 20000);
	env->set_lk_max_objects(env, 20000);
	env->set_lg_bsize(env, 4 * 1024 * 1024);
	env->set_lg_max(env, 16 * 1024 * 1024);
	/*
	 * Berkeley DB removes log files no checkpoint needs as it goes: without that, they pile up
	 * until the next checkpoint and four publishers with confirms ran a fifth slower. An unlink a
	 * power cut undoes only brings back a log file recovery does not need.
	 */
	env->log_set_config(env, DB_LOG_AUTO_REMOVE, 1);
	if (rc != NULL && store_repl_configure(st, rc, err, errlen) != 0)
		goto fail;
	r = env->open(env, dir,
	    DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER |
	        DB_THREAD | (rc != NULL ? DB_INIT_REP : 0),
	    0600);
	if (r != 0) {
		snprintf(err, errlen, "%s: opening the Berkeley DB environment (with recovery): %s",
		    dir, db_strerror(r));
		goto fail;
	}
	st->env_open = true;
	return st;
fail:
	store_close(st);
	return NULL;
}

const char *store_tree_file(unsigned i, char buf[32])
{
	if (i < STORE_NTABLES)
		return table_files[i];
	snprintf(buf, 32, "entries-%u.db", i - STORE_NTABLES + 1);
	return buf;
}

int store_open_tree(struct store *st, unsigned i, const char *file, bool create)
{
	int r;

	for (;;) {
		/* Message bodies get large pages so that most fit a page, not a chain of overflow pages. */
		if ((r = db_create(&st->db[i], st->env, 0)) == 0 &&
		    (i == STORE_SCRATCH || i == STORE_DELAYED))
			st->db[i]->set_pagesize(st->db[i], 65536);
		if (r == 0 && i == STORE_SCRATCH)
			r = st->db[i]->set_flags(st->db[i], DB_TXN_NOT_DURABLE);
		if (r == 0 && st->repl != NULL)
			r = store_repl_open_table(st, st->db[i], file, create);
		else if (r == 0)
			r = st->db[i]->open(st->db[i], NULL, file, NULL, DB_BTREE,
			    (create ? DB_CREATE : 0) | DB_AUTO_COMMIT | DB_THREAD, 0600);
		if (r == 0)
			return 0;
		if (st->repl != NULL && st->db[i] != NULL &&
		    store_repl_retry_open(st, st->db[i], r)) {
			st->db[i] = NULL; /* kept by repl.c, closed once the tables are open */
			continue;         /* the new master is still busy: again */
		}
		if (st->db[i] != NULL && r == ENOENT) {
			st->db[i]->close(st->db[i], 0);
			st->db[i] = NULL;
		}
		return r;
	}
}

/*
 * Open the tables (scratch emptied: in the environment on a single node, in its own private one on
 * a cluster node) and start the store thread. 0, or -1 with err; the caller closes st on failure.
 */
int store_open_tables(struct store *st, char *err, size_t errlen)
{
	DB_ENV *env = st->env;
	const char *dir = st->dir;
	int r, i;

	if (st->repl != NULL) {
		if (store_repl_open_scratch(st, err, errlen) != 0)
			return -1;
	} else if ((r = env->dbremove(
	                env, NULL, table_files[STORE_SCRATCH], NULL, DB_AUTO_COMMIT)) != 0 &&
	    r != ENOENT) {
		/* Scratch holds nothing of the last process: start it empty. */
		snprintf(err, errlen, "%s/%s: %s", dir, table_files[STORE_SCRATCH], db_strerror(r));
		return -1;
	}
	for (i = 0; i < STORE_NTABLES; i++) {
		if (i == STORE_SCRATCH && st->scratch_env != NULL)
			continue; /* opened by store_repl_open_scratch */
		if ((r = store_open_tree(st, (unsigned)i, table_files[i], true)) != 0) {
			snprintf(err, errlen, "%s/%s: %s", dir, table_files[i], db_strerror(r));
			return -1;
		}
	}
	if (store_open_shards(st, err, errlen) != 0 || store_heap_open(st, err, errlen) != 0)
		return -1;
	/*
	 * Recovery, the scratch table's removal and the tables' creation made and removed files, and
	 * recovery's checkpoint may have left old logs to remove: make all their names durable
	 * before anything is written.
	 */
	if (remove_old_logs(st, true) != 0) {
		snprintf(err, errlen, "%s", st->last_error);
		return -1;
	}
	if (store_sync_dir(dir) != 0) {
		snprintf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		return -1;
	}
	st->synced_log_file = log_end(st).file;
	if ((st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	if ((r = pthread_create(&st->thread, NULL, store_thread, st)) != 0) {
		snprintf(err, errlen, "store thread: %s", strerror(r));
		return -1;
	}
	st->thread_started = true;
	if ((r = pthread_create(&st->ckpt_thread, NULL, ckpt_main, st)) != 0) {
		snprintf(err, errlen, "checkpoint thread: %s", strerror(r));
		return -1;
	}
	st->ckpt_started = true;
	return 0;
}

struct store *store_open(const char *dir, char *err, size_t errlen)
{
	struct store *st = store_open_env(dir, NULL, err, errlen);

	if (st != NULL && store_open_tables(st, err, errlen) != 0) {
		store_close(st);
		return NULL;
	}
	return st;
}

void store_close(struct store *st)
{
	int i;

	if (st == NULL)
		return;
	store_repl_stop(st); /* its thread asks the master through the environment */
	if (st->thread_started) {
		pthread_mutex_lock(&st->lock);
		st->stopping = true;
		pthread_cond_signal(&st->wake);
		pthread_cond_signal(&st->ckpt_wake);
		pthread_mutex_unlock(&st->lock);
		pthread_join(st->thread, NULL);
		if (st->ckpt_started)
			pthread_join(st->ckpt_thread, NULL);
		store_run_completions(st);
	}
	store_heap_close(st);
	for (i = 0; i < STORE_NTREES; i++)
		if (st->db[i] != NULL)
			st->db[i]->close(st->db[i], 0);
	if (st->scratch_env != NULL)
		st->scratch_env->close(st->scratch_env, 0);
	if (st->env != NULL) {
		if (st->env_open && (st->repl == NULL || st->thread_started))
			checkpoint(st, 0, DB_FORCE, true);
		st->env->close(st->env, 0);
	}
	store_repl_free(st); /* after the environment: its callback uses the state */
	if (st->efd >= 0)
		close(st->efd);
	for (i = 0; i < STORE_NTREES; i++)
		free(st->compact_from[i].data);
	close(st->lockfd); /* releases the lock */
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->wake);
	pthread_cond_destroy(&st->ckpt_wake);
	free(st->dir);
	free(st);
}

int store_scan(struct store *st, enum store_table t,
    int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg), void *arg)
{
	struct store_mcur *mc;
	DBT *k, *v, hv = { 0 };
	int r, ret = 0;

	if ((r = store_mcur_open(st, NULL, t, NULL, 0, 0, &mc)) != 0) {
		store_set_error(st, "%s/%s: cursor: %s", st->dir, table_files[t], db_strerror(r));
		return STORE_E_DB;
	}
	hv.flags = DB_DBT_REALLOC;
	while ((r = store_mcur_next(mc, &k, &v)) == 0) {
		if (t == STORE_MSGS && (r = store_heap_index_value(st, NULL, k, v, &hv)) != 0)
			break;
		if ((ret = t == STORE_MSGS ? fn(k->data, k->size, hv.data, hv.size, arg)
		                           : fn(k->data, k->size, v->data, v->size, arg)) != 0)
			break;
	}
	free(hv.data);
	if (r != 0 && r != DB_NOTFOUND) {
		store_set_error(st, "%s/%s: read: %s", st->dir, table_files[t], db_strerror(r));
		ret = STORE_E_DB;
	}
	store_mcur_close(mc);
	return ret;
}

int store_last_key(struct store *st, enum store_table t, void *key, size_t *klen)
{
	uint8_t buf[512];
	unsigned s, n = t == STORE_ENTRIES ? st->nshards : 1;
	size_t cap = *klen;
	int ret = 1;

	/* The greatest of each tree's last keys. */
	for (s = 0; s < n; s++) {
		unsigned tree = s == 0 ? (unsigned)t : STORE_NTABLES + s - 1;
		DBC *cur = NULL;
		DBT k = { 0 }, v = { 0 };
		char name[32];
		int r;

		k.data = buf;
		k.ulen = (uint32_t)(cap < sizeof(buf) ? cap : sizeof(buf));
		k.flags = DB_DBT_USERMEM;
		v.flags = DB_DBT_PARTIAL; /* the key only */
		if ((r = st->db[tree]->cursor(st->db[tree], NULL, &cur, 0)) == 0) {
			r = cur->get(cur, &k, &v, DB_LAST);
			cur->close(cur);
		}
		if (r == DB_NOTFOUND)
			continue;
		if (r != 0) {
			store_set_error(st, "%s/%s: read: %s", st->dir, store_tree_file(tree, name),
			    db_strerror(r));
			return STORE_E_DB;
		}
		if (ret == 1 || store_key_cmp(buf, k.size, key, *klen) > 0) {
			memcpy(key, buf, k.size);
			*klen = k.size;
			ret = 0;
		}
	}
	return ret;
}

uint64_t store_disk_usage(const struct store *st)
{
	DIR *d = opendir(st->dir);
	struct dirent *e;
	struct stat sb;
	char path[4096];
	uint64_t total = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", st->dir, e->d_name);
		if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_blocks * 512;
	}
	closedir(d);
	return total;
}
