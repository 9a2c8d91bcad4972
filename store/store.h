/*
 * store.h: Warren's durable store, Berkeley DB behind a narrow interface. It knows nothing of
 * AMQP: it keeps opaque records under opaque keys in a few tables of a transactional environment
 * in the data directory.
 *
 * Threads: writes are collected in batches on the caller's thread and applied by the store's own
 * thread; every batch waiting when the thread is free goes into one transaction and one log flush
 * (group commit). When a batch is on stable storage (or has failed), its completion callback runs
 * on the caller's thread (a read job's as soon as it has run), from store_run_completions(),
 * which the caller invokes when store_completion_fd() is readable. Reads (store_scan) are for start-up, before any batch.
 *
 * Ownership: the caller owns a struct store from store_open() until store_close(); a batch belongs
 * to the caller until store_submit(), then to the store until its callback has run.
 */
#ifndef WARREN_STORE_H
#define WARREN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The on-disk format this build writes, recorded in DATA_DIR/FORMAT, and the oldest it reads: a
 * store of an older format it reads is a store of this one (3 only added queue entries that hold
 * their message; 4 keeps msgs in heap files, into which a format-3 msgs.db is moved at the open;
 * 5 keeps entries in several btrees, which an older store gets at the first open that finds its
 * entries.db empty: store/shards.c), so its FORMAT is written again, and older builds refuse it
 * from then on.
 */
#define STORE_FORMAT_VERSION 5
#define STORE_FORMAT_OLDEST 2

enum store_err {
	STORE_OK = 0,
	STORE_E_IO = -1,     /* a file in the data directory could not be read or written */
	STORE_E_FORMAT = -2, /* the data directory has another format version */
	STORE_E_DB = -3,     /* Berkeley DB failed: see the error text */
	STORE_E_FLUSH = -4,  /* the log could not be made durable: nothing in the batch is safe */
	/*
	 * A cluster node's group was committed but a majority did not ack it within the ack timeout
	 * (DB_EVENT_REP_PERM_FAILED): that group's batches only failed (their waiters must not be
	 * told it is safe; its jobs complete with 0: what they read stands); the store goes on.
	 */
	STORE_E_NOT_REPLICATED = -5,
	/*
	 * A cluster node's group failed because the node is no longer the master (Berkeley DB
	 * refuses writes on a replica, EACCES, before the role event reaches the loop): that
	 * group's batches failed, jobs included; the node is on its way to starting again.
	 */
	STORE_E_NOT_MASTER = -6,
};

/*
 * The tables: definitions, message bodies, queue entries, small named values, reference counts of
 * shared records, and scratch: records that need not survive the process (transient data paged
 * out of memory). Scratch is not logged and is emptied every time the store opens. Delayed:
 * messages waiting for their time (logged, like msgs); it came after format 3, and store_open
 * creates it in a store that lacks it, so its absence is no format change. Entries are spread over
 * several btrees by the 8th byte of their keys (a queue's id in its first 8 bytes keeps each queue
 * in one): reads and scans come back in key order all the same, and a range whose prefix is at
 * least 8 bytes reads one btree.
 */
enum store_table {
	STORE_DEFS,
	STORE_MSGS,
	STORE_ENTRIES,
	STORE_META,
	STORE_REFS,
	STORE_SCRATCH,
	STORE_DELAYED,
	STORE_NTABLES
};

struct store;
struct store_batch;

/*
 * Open (creating when empty) the store in dir, running recovery, and start its thread. On failure
 * returns NULL and writes a message naming the file and the reason into err.
 */
struct store *store_open(const char *dir, char *err, size_t errlen);
/* Finish every submitted batch (their callbacks run), stop the thread, checkpoint, close. */
void store_close(struct store *st);

/*
 * A new empty batch; the store copies every key and value given to it. Each call adding an
 * operation returns its index in the batch, which store_batch_cancel takes (before submission:
 * a record written and deleted again before the batch leaves costs the disk nothing).
 */
struct store_batch *store_batch_new(void);
size_t store_batch_put(struct store_batch *b, enum store_table t, const void *key, size_t klen,
    const void *val, size_t vlen);
size_t store_batch_del(struct store_batch *b, enum store_table t, const void *key, size_t klen);
void store_batch_cancel(struct store_batch *b, size_t op);
/*
 * Release one reference to the record under key in table target: its count in table counts (a
 * 4-byte big-endian number; no record there means 1) goes down by one, and at zero both the count
 * and the target record are deleted. The count is read on the store thread, in batch order.
 */
void store_batch_release(struct store_batch *b, enum store_table counts, enum store_table target,
    const void *key, size_t klen);
void store_batch_free(struct store_batch *b);

/*
 * Hand a batch to the store thread. done(arg, status) runs later on the caller's thread from
 * store_run_completions(): status is 0 once the batch is durable, or a negative STORE_E_* code
 * (nothing of it may be relied on). Batches complete in the order they were submitted (a read
 * job, store_submit_read, may come back before them).
 */
void store_submit(
    struct store *st, struct store_batch *b, void (*done)(void *arg, int status), void *arg);
/* A descriptor that becomes readable when completions are waiting. */
int store_completion_fd(const struct store *st);
/* Run the callbacks of completed batches. */
void store_run_completions(struct store *st);
/* The text of the last error (for logs). */
const char *store_last_error(const struct store *st);
/*
 * What store_open repaired that the log should tell (a FORMAT an interrupted write left empty, in
 * a directory without a store, written again), or "". Valid until store_close.
 */
const char *store_notice(const struct store *st);

/*
 * Jobs: fn runs on the store thread inside the transaction of a group, after every batch and job
 * submitted before it, and may read and write through the store_txn calls below. A non-zero return
 * (a STORE_E_* code) fails the whole group. done(arg, status) then runs on the caller's thread,
 * in order with the batches' callbacks.
 */
struct store_txn;
void store_submit_job(struct store *st, int (*fn)(struct store_txn *t, void *arg),
    void (*done)(void *arg, int status), void *arg);
/*
 * A read job: as a job, but fn only reads (store_txn_get, store_txn_range; a write, delete or
 * release fails it with STORE_E_DB), and done(arg, 0) is sent back as soon as fn has run, without
 * waiting for its group's commit and log flush: ahead of the batches submitted before it in the
 * same group, though after every earlier group's. What it read includes the uncommitted writes
 * of the batches before it in its group; if that group then fails (its batches' callbacks get
 * the error), those writes are not on disk although the read returned them, and deletes among
 * them did not happen. Use it only where that is harmless (persist_delay.c says why its
 * read-back is).
 */
void store_submit_read(struct store *st, int (*fn)(struct store_txn *t, void *arg),
    void (*done)(void *arg, int status), void *arg);
/* 0 and the value (valid until the next call on t) when found, 1 when not, or a STORE_E_* code. */
int store_txn_get(struct store_txn *t, enum store_table tb, const void *key, size_t klen,
    const void **val, size_t *vlen);
/*
 * Call fn for each record of tb from the first key >= from, in key order, while the key starts
 * with the first prefix_len bytes of from; fn returns 0 to go on, non-zero to stop. Returns 0 or
 * a STORE_E_* code.
 */
int store_txn_range(struct store_txn *t, enum store_table tb, const void *from, size_t flen,
    size_t prefix_len,
    int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg), void *arg);
int store_txn_put(struct store_txn *t, enum store_table tb, const void *key, size_t klen,
    const void *val, size_t vlen);
int store_txn_del(struct store_txn *t, enum store_table tb, const void *key, size_t klen);
int store_txn_release(struct store_txn *t, enum store_table counts, enum store_table target,
    const void *key, size_t klen);

/*
 * The last (greatest) key of table t into key (at most *klen bytes; *klen is set to its length).
 * Returns 0, 1 when the table is empty, or a STORE_E_* code. Start-up only, like store_scan.
 */
int store_last_key(struct store *st, enum store_table t, void *key, size_t *klen);

/*
 * Call fn for every record of table t in key order (start-up only: no batch may be in flight).
 * fn returns 0 to go on, non-zero to stop (then returned). Returns 0 or a STORE_E_* code.
 */
int store_scan(struct store *st, enum store_table t,
    int (*fn)(const void *key, size_t klen, const void *val, size_t vlen, void *arg), void *arg);

/* Bytes the store's files take on disk (data and logs). */
uint64_t store_disk_usage(const struct store *st);

/*
 * Replication (docs/cluster.md), in store/repl.c. A cluster node opens its store with
 * store_open_repl: the same directory, with Berkeley DB's Replication Manager started and no table
 * open. Role changes are reported on the caller's thread: store_event_fd() becomes readable, and
 * store_repl_state() then says where things stand. Once this node is master, the caller opens the
 * tables (store_repl_open_tables), after which everything above works as on a single node.
 */
struct store_repl_config {
	const char *host; /* this node's replication address */
	unsigned port;
	const char *const *peer_hosts; /* the other members (helpers when joining) */
	const unsigned *peer_ports;
	size_t npeers;
	bool join;                     /* join an existing group instead of forming one */
	unsigned priority;             /* election priority; 0: never master */
	unsigned ack_timeout_ms;       /* a commit's wait for a majority's acks */
	unsigned heartbeat_ms;         /* master's heartbeat period */
	unsigned heartbeat_timeout_ms; /* a replica calls an election after this long without one */
	unsigned retry_ms;             /* connection attempts and elections */
};
enum store_role { STORE_ROLE_NONE, STORE_ROLE_REPLICA, STORE_ROLE_MASTER };
struct store_repl_state {
	enum store_role role;
	unsigned demotions; /* times this node stopped being master (counts even a quick flip) */
	bool panic;         /* the environment panicked: only a restart helps */
	int master_eid;     /* -1: no master known */
	/*
	 * What the master answered when this replica asked it (store_repl_set_info on the master;
	 * Warren: its advertised AMQP addresses): "" until it has, and again at each new master.
	 */
	char master_info[256];
};
struct store *store_open_repl(
    const char *dir, const struct store_repl_config *rc, char *err, size_t errlen);
/* A descriptor readable when the replication state changed (read it with store_repl_state). */
int store_event_fd(const struct store *st);
/* The current state; clears store_event_fd's readiness. */
void store_repl_state(struct store *st, struct store_repl_state *out);
/* The current role, leaving store_event_fd's readiness alone (any thread). */
enum store_role store_repl_role(struct store *st);
/* On becoming master: open the tables (scratch empty) and start the store thread. 0 or -1, err. */
int store_repl_open_tables(struct store *st, char *err, size_t errlen);
/* Is this a replicated store? */
bool store_replicated(const struct store *st);
/*
 * What this node answers, while master, when a replica asks (over a Replication Manager message
 * channel, at each new master): at most 255 bytes, any thread. Replicas read it in master_info.
 */
void store_repl_set_info(struct store *st, const char *info);

#define STORE_REPL_MAX_SITES 16
struct store_repl_site {
	char host[256];
	unsigned port;
	int eid;
	bool connected, local, master;
};
struct store_repl_status {
	enum store_role role;
	size_t nsites; /* every member this node knows, itself first */
	struct store_repl_site sites[STORE_REPL_MAX_SITES];
	uint32_t lsn_file, lsn_offset; /* this node's next log position */
	uint64_t log_queued;           /* records received out of order, waiting */
	/* Replication Manager's counters since this node started (rep_stat): records parked out of
	 * order in all, records asked for again, messages dropped on a congested connection. */
	uint64_t log_queued_total, log_requested, msgs_dropped;
	bool caught_up; /* a replica has synced with its current master (a master: true) */
	bool panic;
	uint64_t perm_failed;        /* commits without their quorum ack, in all */
	int64_t last_perm_failed_ms; /* CLOCK_MONOTONIC ms of the last one, or -1 */
	bool alone; /* promoted (store_repl_promote), the other node not back yet */
};
/* The status (loop thread); 0 or a STORE_E_* code (store_last_error says why). */
int store_repl_status(struct store *st, struct store_repl_status *out);
/*
 * A two-node group whose other node is gone (not connected): this replica becomes master on its
 * own vote and serves alone, its commits waiting for no ack, until the other node is connected
 * again (the operator knows the other is dead; the nodes cannot tell it from a cut link). 0, or
 * an error whose text store_last_error gives (more than two members, the other connected).
 */
int store_repl_promote(struct store *st);
/* Take HOST:PORT out of the group (from the master; a replica forwards it): 0 or STORE_E_*. */
int store_repl_remove_site(struct store *st, const char *host, unsigned port);

/*
 * Test hooks, read from the environment at store_open (never set them in production):
 * WARREN_TEST_FLUSH_DELAY_MS delays every log flush; WARREN_TEST_FLUSH_FAIL=1 makes every flush
 * fail (as a full or failing disk would); WARREN_TEST_ONE_ENTRIES_TREE=1 makes a new store keep
 * its entries in one btree, as a format-4 build did (shards.c).
 */

#endif /* WARREN_STORE_H */
