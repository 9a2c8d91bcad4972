/*
 * store_private.h: what store.c and repl.c (a cluster node's replication) share: the store itself
 * and the steps of opening one. Nothing outside store/ includes it.
 */
#ifndef WARREN_STORE_PRIVATE_H
#define WARREN_STORE_PRIVATE_H

#include <db.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "store/store.h"

struct store_repl;

struct store_heap; /* heap.c's: the msgs table's heap files */

/*
 * The entries table of a store made by this build is STORE_SHARDS btrees, by the 8th byte of the
 * key (shards.c says why): shard 0 is entries.db (db[STORE_ENTRIES]), shard s >= 1 is
 * entries-S.db, db[STORE_NTABLES + s - 1]. The trees are the tables' btrees and those shards.
 */
#define STORE_SHARDS 16
#define STORE_NTREES (STORE_NTABLES + STORE_SHARDS - 1)

struct store {
	char *dir;
	DB_ENV *env;
	DB_ENV *scratch_env;     /* a cluster node's scratch: a private environment (cluster.md) */
	struct store_repl *repl; /* NULL on a single node: repl.c's state */
	bool env_open;
	DB *db[STORE_NTREES]; /* db[STORE_MSGS]: the msgs table's index (heap.c) */
	unsigned nshards;     /* the entries table's trees: STORE_SHARDS, or 1 in an older store */
	struct store_heap *heap;
	pthread_t thread;
	bool thread_started;
	pthread_t ckpt_thread; /* checkpoints, off the group commits' way (store.c) */
	bool ckpt_started, ckpt_wanted, ckpt_any; /* any: whatever the log written since */
	pthread_mutex_t lock;
	pthread_cond_t wake, ckpt_wake;
	struct store_batch *pending, **pending_tail; /* submitted, not yet applied */
	struct store_batch *done, **done_tail; /* applied (or failed), callbacks not yet run */
	bool stopping;
	int efd;
	int lockfd; /* DATA_DIR/LOCK, held with flock while open */
	char last_error[256];
	unsigned test_delay_ms;
	bool test_fail;
	/* store thread: deletes since each tree was last compacted, and where compaction is */
	uint64_t deletes[STORE_NTREES];
	DBT compact_from[STORE_NTREES];
	bool compacting[STORE_NTREES];
	struct timespec last_work; /* CLOCK_MONOTONIC, when the last group was committed */
	bool group_logged;         /* the group being applied wrote a logged table */
	bool perm_failed;          /* the group being committed raised DB_EVENT_REP_PERM_FAILED */
	/* the log file whose name is durable (directory fsync'ed): both threads set it */
	_Atomic uint32_t synced_log_file;
	char notice[4400]; /* what store_open did that the log should tell (store_notice) */
};

/* store.c */
/* The directory checked and locked, the environment open (rc: replication, or NULL); no table. */
struct store *store_open_env(
    const char *dir, const struct store_repl_config *rc, char *err, size_t errlen);
/* The tables open and the store thread started: 0, or -1 with err (the caller closes st). */
int store_open_tables(struct store *st, char *err, size_t errlen);

/* Open tree i (a table, or a shard) from file: 0 or a Berkeley DB error (ENOENT: not there). */
int store_open_tree(struct store *st, unsigned i, const char *file, bool create);
/* The file of tree i, in buf for a shard. */
const char *store_tree_file(unsigned i, char buf[32]);

void store_set_error(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * A cluster master's operation refused in a replication lockout (a member added or removed, a
 * replica's sync): Berkeley DB's errors that ask the application to try again.
 */
bool store_lockout(int r);
/* fsync a directory: 0, or -1 with errno. */
int store_sync_dir(const char *dir);

/*
 * heap.c: the msgs table. Put, get and delete return 0, DB_NOTFOUND or a Berkeley DB error (EINVAL:
 * corrupt); store_heap_txn_end must follow every transaction they ran in.
 */
int store_heap_put(struct store *st, DB_TXN *txn, DBT *k, const DBT *v);
int store_heap_get(struct store *st, DB_TXN *txn, DBT *k, DBT *v);
int store_heap_del(struct store *st, DB_TXN *txn, DBT *k);
/* The value of key k whose index value (as a cursor on db[STORE_MSGS] reads it) is iv, into v. */
int store_heap_index_value(struct store *st, DB_TXN *txn, const DBT *k, const DBT *iv, DBT *v);
void store_heap_txn_end(struct store *st, bool committed);
/*
 * Before recovery: remove what an interrupted removal of a heap file (or of format 3's msgs.db)
 * can leave under its name, Berkeley DB's placeholder of under 1 KiB whose bytes a power cut
 * dropped, which recovery cannot open (it would refuse the environment). 0, or -1 with err.
 */
int store_heap_placeholders(
    const char *dir, char *notice, size_t noticelen, char *err, size_t errlen);
/* With the index open: the heap files opened and counted, a format-3 msgs.db moved. 0/-1, err. */
int store_heap_open(struct store *st, char *err, size_t errlen);
void store_heap_close(struct store *st);
/* After a durable group, and in idle time: a new file, empty ones removed, a collection step. */
bool store_heap_upkeep_wanted(struct store *st);
void store_heap_upkeep(struct store *st);

/* shards.c: the entries table's trees */
/* The tree holding key of table tb. */
unsigned store_tree(const struct store *st, unsigned tb, const void *key, size_t klen);
/* Keys in Berkeley DB's order (bytes, then length): <0, 0, >0. */
int store_key_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* With the tables open: the shards opened, or made in a store without records in entries.db. */
int store_open_shards(struct store *st, char *err, size_t errlen);
/*
 * A cursor over table tb in key order from the first key >= from (flen 0: the first), merging
 * the shards of the entries table unless prefix_len (the bytes every key read must share with
 * from) names one.
 */
struct store_mcur;
int store_mcur_open(struct store *st, DB_TXN *txn, unsigned tb, const void *from, size_t flen,
    size_t prefix_len, struct store_mcur **out);
/* The next record (valid until the next call): 0, DB_NOTFOUND, or a Berkeley DB error. */
int store_mcur_next(struct store_mcur *mc, DBT **k, DBT **v);
void store_mcur_close(struct store_mcur *mc);

/* repl.c */
/* Before the environment opens: the sites, acks, timeouts and event callback. 0, or -1 with err. */
int store_repl_configure(
    struct store *st, const struct store_repl_config *rc, char *err, size_t errlen);
/* A cluster node's scratch: its private environment, emptied, and the table. 0, or -1 with err. */
/* Is the replicated environment master right now (Berkeley DB's own view; any thread)? */
bool store_repl_env_is_master(struct store *st);
int store_repl_open_scratch(struct store *st, char *err, size_t errlen);
/* Open a table on a new master, in a transaction of its own: 0 or a Berkeley DB error. */
int store_repl_open_table(struct store *st, DB *db, const char *file, bool create);
/*
 * Opening a table on a new master failed with r: wait a little and try again? Then repl.c keeps
 * the failed handle db and closes it later (a close now would sleep 5 s in the same lockout).
 */
bool store_repl_retry_open(struct store *st, DB *db, int r);
/* Before the environment closes: stop the thread that asks the master (a no-op without one). */
void store_repl_stop(struct store *st);
/* After the environment is closed. */
void store_repl_free(struct store *st);

#endif /* WARREN_STORE_PRIVATE_H */
