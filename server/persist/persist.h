/*
 * persist.h: the persistence layer, server/'s way to store/ (persist*.c).
 */
#ifndef WARREN_SERVER_PERSIST_H
#define WARREN_SERVER_PERSIST_H

#include "server/model/types.h"
#include "store/store.h"

/*
 * persist.c (with persist_page.c, persist_recover.c, persist_dump.c and persist_record.c, the
 * files of server/ that talk to store/). All calls are no-ops without a store.
 */
struct persist_waiter;

/* A node's role: a single node (no cluster), or a cluster node's (docs/cluster.md). */
enum persist_role { PERSIST_SINGLE, PERSIST_REPLICA, PERSIST_MASTER };

/* Definitions and messages as the store's records hold them (slices into the record). */
struct rec_exchange {
	struct amqp_bytes vhost, name, args;
	uint8_t type; /* enum exchange_type */
	bool auto_delete, internal;
	uint64_t xid; /* an x-delayed-message exchange's id (its delayed messages' keys), else 0 */
};
struct rec_queue {
	struct amqp_bytes vhost, name, args;
	uint64_t qid;
	bool auto_delete;
};
struct rec_binding {
	struct amqp_bytes vhost, source, dest, key, args;
	uint8_t dest_kind; /* 'q' (a queue) or 'x' (an exchange) */
	uint64_t ring_seq; /* a consistent-hash exchange's binding: its place in the ring; else 0 */
};
struct rec_message {
	struct amqp_bytes exchange, routing_key, props, body;
};

/*
 * How the persistence layer reports up: the model registers these at start (broker_init, with
 * the loop and the disk limit), and persistence calls them, never a model function by name. It
 * sees the model's objects (model/types.h) because it stores them. All run on the loop's thread.
 */
struct persist_hooks {
	/* The store failed (ALARM_STORE, for good) or the data directory's disk crossed its limit. */
	void (*alarm)(enum alarm a, bool on);
	/* A queue persistence held (for a delivered mark, or a read) is let go: drop the reference. */
	void (*release)(struct queue *q);
	/* A message rebuilt from its record (its properties decode), for a read of paged entries. */
	struct message *(*message)(const struct rec_message *r);
	/*
	 * A read of paged entries (persist_page_in) came back: see queue_paged_in. The hook owns
	 * the references of v's messages, not v; q is still held (release follows).
	 */
	void (*paged_in)(struct queue *q, unsigned ri, uint64_t gen, struct paged_entry *v,
	    size_t n, uint64_t through);
	/*
	 * Start-up (persist_open), in this order: every exchange, then queue, then binding (true,
	 * or for a queue the queue made, when the model took it: a vhost no longer configured takes
	 * nothing); the entries of each queue's ring ri, counted (seqs lo..hi, bytes in all), not
	 * read; then the greatest message id the store names (ids go on past it).
	 */
	bool (*load_exchange)(const struct rec_exchange *x);
	struct queue *(*load_queue)(const struct rec_queue *q);
	bool (*load_binding)(const struct rec_binding *b);
	void (*load_entries)(
	    struct queue *q, unsigned ri, uint64_t count, uint64_t bytes, uint64_t lo, uint64_t hi);
	void (*load_message_id)(uint64_t last);
	/*
	 * Start-up, after the entries: the delayed messages of the exchange with id xid in the
	 * delayed table, counted (not read), and the greatest seq among them.
	 */
	void (*load_delayed)(uint64_t xid, uint64_t count, uint64_t max_seq);
	/*
	 * A read of delayed messages (persist_delay_read) came back: v holds n of xid's messages
	 * in key order (the hook owns their references, not v). The store holds no other message
	 * of xid with a key from the read's start up to (through_due, through_seq), or none after
	 * it at all when end is true. ok is false when the read failed (n is then 0).
	 */
	void (*delayed_in)(uint64_t xid, uint64_t gen, struct delayed_entry *v, size_t n, bool ok,
	    bool end, uint64_t through_due, uint64_t through_seq);
	/*
	 * A cluster node's role changed (or, as a replica, its master did): master is the master's
	 * replication address ("HOST:PORT"), or "" when none is known. PERSIST_REPLICA after
	 * PERSIST_MASTER means this node lost the master role (or its environment panicked): its
	 * model is stale and must go. A replica hears again when its master has told it its
	 * advertised AMQP addresses (info: what the master gave persist_cluster_advertise; "" until
	 * then, and whenever no master is known).
	 */
	void (*role)(enum persist_role role, const char *master, const char *info);
};
void persist_init(
    const struct persist_hooks *hooks, struct event_base *base, uint64_t disk_free_limit);
int persist_open(const char *dir, char *err, size_t errlen);
/*
 * persist_cluster.c: a cluster node opens its store replicated, with no table: the broker stays
 * empty (persistence acts as without a store) until hooks.role says PERSIST_MASTER and the model
 * calls persist_cluster_master, which opens the tables and rebuilds the broker as persist_open
 * does.
 */
int persist_open_cluster(
    const char *dir, const struct store_repl_config *rc, char *err, size_t errlen);
int persist_cluster_master(char *err, size_t errlen);
/* Is the store still master right now (it may have lost the role since hooks.role said so)? */
bool persist_cluster_is_master(void);
enum persist_role persist_role(void);
/* The replication status (store_repl_status): 0, or -1 (persist_last_error says why). */
int persist_cluster_status(struct store_repl_status *out);
/* Take a member out of the group: 0, or -1 (persist_last_error says why). */
int persist_cluster_remove(const char *host, unsigned port);
/* A two-node group's replica, the other node gone: master on its own vote (store_repl_promote). */
int persist_cluster_promote(void);
/* The master's replication address as last reported by hooks.role ("" when none is known). */
const char *persist_cluster_master_name(void);
/* What this node tells replicas while it is master (its AMQP addresses): at most 255 bytes. */
void persist_cluster_advertise(const char *info);
void persist_close(void);
void persist_exchange(const struct exchange *x, bool add);
void persist_queue(struct queue *q, bool add);
void persist_binding(const struct binding *b, bool add);
/* A message entered a queue at seq: true if that was written to the store. */
bool persist_enqueue(struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at);
/* Can q page out at all (there is a store)? Is e's entry already in the store? */
bool persist_can_page(void);
bool persist_entry_stored(const struct queue *q, const struct message *m);
/*
 * Entry e of ring ri leaves memory: written to scratch unless the store holds it already. A run
 * of calls (in seq order) ends with persist_page_out_done, which writes the run's scratch entries
 * as segments (one record for many entries).
 */
void persist_page_out(struct queue *q, unsigned ri, const struct qentry *e);
void persist_page_out_done(void);
/* Read up to max entries (and about max_bytes) of ring ri with seqs in [lo, hi]: queue_paged_in. */
void persist_page_in(
    struct queue *q, unsigned ri, uint64_t lo, uint64_t hi, size_t max, uint64_t max_bytes);
/* Drop the paged entries of ring ri with seqs in [lo, hi] from the store (purge, delete). */
void persist_drop_paged(struct queue *q, unsigned ri, uint64_t lo, uint64_t hi);
void persist_remove(struct queue *q, struct message *m, uint64_t seq);
/* m went back to q at seq, returned count times: its entry is written again with that count. */
void persist_requeue(
    struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at, uint32_t count);
/*
 * m was delivered from q at seq, to be acked: its delivered mark (a restart or failover
 * redelivers it with the flag). True on a cluster's master when the delivery must not reach the
 * client before this turn's batch is durable (replicated): the caller holds its connection's
 * output for it (persist_wait). persist_removal_holds says the same for a no-ack delivery,
 * before its persist_remove.
 */
bool persist_delivered(struct queue *q, const struct message *m, uint64_t seq);
bool persist_removal_holds(const struct queue *q, const struct message *m);
/* The open batch's number (0: none open), so that a holder waits once per batch. */
uint64_t persist_open_gen(void);
/*
 * persist_delay.c: the messages waiting in x-delayed-message exchanges, keyed (xid, due, seq) so
 * that key order is due order: a persistent message on a durable exchange in the delayed table
 * (logged: a waiter waits for it), anything else in scratch (emptied at every start).
 */
/* A new exchange id for delayed messages' keys (never one the store still names). */
uint64_t persist_delay_xid(void);
/* Can delayed messages leave memory at all (a store that has not failed)? */
bool persist_delay_can_store(void);
/* Write x's delayed message m under (due, seq): true when written (false without a store). */
bool persist_delay_put(
    const struct exchange *x, uint64_t due, uint64_t seq, const struct message *m, bool durable);
/* Delete it (delivered). */
void persist_delay_del(const struct exchange *x, uint64_t due, uint64_t seq, bool durable);
/*
 * Read up to max (and about max_bytes) of xid's delayed messages with keys after (due, seq),
 * the two tables merged in key order: hooks.delayed_in, with gen.
 */
void persist_delay_read(
    uint64_t xid, uint64_t gen, uint64_t due, uint64_t seq, size_t max, uint64_t max_bytes);
/* Delete every delayed message of xid (its exchange is gone), by jobs in chunks. */
void persist_delay_drop(uint64_t xid);

/*
 * Something waiting for this turn's store writes to be durable (a publisher confirm, a
 * declare-ok): its owner embeds it, and done(w, status) runs on the loop once the batch they went
 * into is on disk (status 0) or has failed; the owner may free it there. persist_wait returns
 * false when nothing waits to be written (no store, or nothing written this turn): then the owner
 * goes on at once.
 */
struct persist_waiter {
	void (*done)(struct persist_waiter *w, int status);
};
bool persist_wait(struct persist_waiter *w);
/* This turn has written to the store (a waiter would wait). */
bool persist_writing(void);
/* The store has failed: nothing more is made durable until a restart. */
bool persist_failed(void);
/* Free bytes in the data directory's file system at the last check (every 2 s): UINT64_MAX if none. */
uint64_t persist_disk_available(void);
/* Change the free space under which publishers are blocked, and check the disk again now. */
void persist_set_disk_free_limit(uint64_t limit);
const char *persist_last_error(void);
/* Offline (warrenctl): print the store in AMQP terms, or only check it; -1 with err on problems. */
int persist_dump(const char *dir, FILE *out, bool verify_only, char *err, size_t errlen);

#endif /* WARREN_SERVER_PERSIST_H */
