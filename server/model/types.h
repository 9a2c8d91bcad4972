/*
 * types.h: the model's objects: messages, vhosts, exchanges and bindings, queues and their rings,
 * consumers as queues see them. The model's functions are in model.h; the persistence layer
 * includes only this (it stores these objects, and calls none of the model's functions).
 */
#ifndef WARREN_SERVER_MODEL_TYPES_H
#define WARREN_SERVER_MODEL_TYPES_H

#include "server/base/base.h"

/* message.c: a published message, shared by the queues it is routed to. */
struct message {
	uint32_t refs;
	uint8_t exchange_len, rk_len;
	bool persistent;
	uint8_t priority;
	bool has_ttl;
	uint32_t props_len;
	uint64_t ttl_ms; /* from the expiration property */
	uint64_t id;
	uint64_t body_size, body_have, body_cap;
	uint8_t *props; /* encoded property list, flags word onward, forwarded verbatim */
	uint8_t *body;
	size_t alloc_size;     /* accounted against broker.mem_used */
	uint32_t durable_refs; /* durable queue entries written for it when it was routed */
	bool stored;           /* its bytes are in the store, under id, for its durable entries */
	bool shared;       /* several durable entries: the store counts them (or each has a copy) */
	bool in_entry;     /* its bytes are in its entries (a copy each), not under id in msgs */
	uint32_t batch_op; /* its first put in the open store batch, if batch_gen is that */
	uint64_t batch_gen;
	char *exchange; /* NUL-terminated, in the same allocation */
	char *routing_key;
	/* exchange, routing key, properties and (small) body follow */
};
/*
 * A message's properties and headers table, decoded at most once and passed along while it is
 * published: the publish checks, routing (CC, BCC, headers exchanges), BCC stripping, and the
 * routing of a dead-lettered copy. Each part is decoded on first use; slices point into the
 * message's encoded properties, so a view lives no longer than its message. msg_view_done frees
 * what decoding the headers took.
 */
struct msg_view {
	const struct message *m;
	const struct amqp_basic_properties
	    *props; /* own, or the caller's (msg_view_init_decoded) */
	struct amqp_basic_properties own;
	struct amqp_table headers;
	struct amqp_arena pool;
	int8_t props_state, headers_state; /* 0 not yet, 1 decoded, -1 undecodable or none */
};

/* vhost.c */
struct vhost {
	char *name;
	struct hmap exchanges;
	struct hmap queues;
	uint64_t next_gen;    /* for amq.gen- names */
	unsigned long nconns; /* open connections, for max-connections */
	bool dying;           /* being freed: no auto-delete cascades */
};

/*
 * exchange.c: declare, delete, bind and route. The values are stored (an exchange record's type
 * byte): a new type takes the next value, and a store holding it is refused by older builds.
 */
enum exchange_type { EX_DIRECT, EX_FANOUT, EX_TOPIC, EX_HEADERS, EX_CONSISTENT_HASH, EX_DELAYED };
/* Its name in exchange.declare (and in the store's dump). */
static inline const char *exchange_type_name(enum exchange_type t)
{
	switch (t) {
	case EX_DIRECT: return "direct";
	case EX_FANOUT: return "fanout";
	case EX_TOPIC: return "topic";
	case EX_HEADERS: return "headers";
	case EX_CONSISTENT_HASH: return "x-consistent-hash";
	case EX_DELAYED: return "x-delayed-message";
	}
	return "unknown";
}
struct binding {
	LIST_ENTRY(binding) src_entry; /* in the source exchange's list */
	LIST_ENTRY(binding) dst_entry; /* in the destination's list of bindings to it */
	struct exchange *source;
	struct queue *dq;    /* destination queue, or */
	struct exchange *de; /* destination exchange */
	char *key;
	size_t key_len;
	uint8_t *args; /* encoded table entries */
	size_t args_len;
	struct amqp_arena args_pool; /* decoded args (headers exchanges) */
	struct amqp_table args_table;
	struct binding *next_same_key; /* direct exchange: chain per routing key */
	struct topic_binding *topic;   /* topic exchange: trie handle */
	/*
	 * Consistent-hash exchange: the binding's place in its source's ring (bindings made later
	 * have greater ones; stored with a durable binding, so a restart keeps the order), its
	 * weight (the key), and whether it holds its destination's buckets (the first binding to a
	 * destination does; as in RabbitMQ's plugin, a second one adds none).
	 */
	uint64_t ring_seq;
	uint32_t weight;
	bool in_ring;
};
LIST_HEAD(binding_list, binding);
struct exchange {
	char *name;
	size_t name_len;
	struct vhost *vhost;
	enum exchange_type type;
	/* how it routes: its type, or a delayed exchange's x-delayed-type (exchange_delayed.c) */
	enum exchange_type route_type;
	bool durable, auto_delete, internal;
	uint8_t *args; /* encoded arguments as declared */
	size_t args_len;
	char *alternate;              /* alternate-exchange name, or NULL */
	struct binding_list bindings; /* where this exchange routes to */
	struct binding_list bound_to; /* exchange-to-exchange bindings that target this one */
	size_t nbindings;
	struct hmap direct;      /* EX_DIRECT: key -> first binding */
	struct topic_trie *trie; /* EX_TOPIC */
	struct hash_ring *ring;  /* EX_CONSISTENT_HASH */
	struct delay *delay;     /* EX_DELAYED: the messages waiting for their time */
	uint64_t xid;            /* EX_DELAYED: its id in the store (delayed messages' keys) */
	uint64_t route_mark;     /* loop guard while routing */
};
/* Route a message: every destination queue once (loops and duplicates removed). */
#define ROUTE_INLINE 16
struct route_result {
	struct queue **queues; /* inline until more than ROUTE_INLINE queues match */
	size_t n, cap;
	struct queue *inline_queues[ROUTE_INLINE];
};

/* exchange_topic.c: a trie over dot-separated words with `*` and `#`. */
struct topic_trie;
struct topic_binding;
/* exchange_hash.c: the consistent-hash exchange's buckets and what it hashes. */
struct hash_ring;
/* exchange_delayed.c: a delayed exchange's window of next-due messages. */
struct delay;
/*
 * A delayed message read back from the store (persist_delay_read): its key, (due: ms since the
 * epoch, seq), and the message (the reference moves to whoever takes it; NULL: unreadable).
 */
struct delayed_entry {
	uint64_t due, seq;
	struct message *m;
	bool durable; /* in the logged table (else in scratch) */
};

/* queue.c */
struct qentry {
	struct message *m;
	uint64_t seq;        /* position in the queue: requeued messages go back to it */
	uint64_t expires_at; /* ms on the loop clock, 0 = never */
	bool redelivered;
	uint32_t delivery_count; /* times returned to the queue (x-delivery-count when above 0) */
};
/* Rings hold many of these: the count lives in what was padding after redelivered. */
_Static_assert(sizeof(struct qentry) <= 4 * sizeof(uint64_t), "struct qentry grew");
struct qring {
	struct qentry *v;
	size_t cap, head, len;
	uint64_t bytes; /* body bytes of its entries */
};
/*
 * A long queue keeps only its head in memory: the entries behind it are paged out to the store
 * (persistent ones in durable queues are there already; others are written to scratch under memory
 * pressure), and read back ahead of the consumers. Per priority level: the ring (head), then
 * `count` entries in the store with seqs in [lo, hi], then `tail`, which takes new arrivals while
 * anything is paged out.
 */
struct qpage {
	struct qring tail;
	uint64_t count, bytes;
	uint64_t lo, hi; /* hi grows as the tail follows the paged entries out, reads or not */
	bool loading;    /* a read of the next entries is in flight */
	/*
	 * The store and the count disagree (an invariant broken): the reads go on to hi whatever the
	 * count, and, if counted entries are still missing there, on to the tail (widened, from seq
	 * widened_from); the queue counts what they find. Figures for the report at the end.
	 */
	bool suspect, widened;
	uint64_t widened_from, uncounted, past;
};
enum overflow { OVERFLOW_DROP_HEAD, OVERFLOW_REJECT_PUBLISH, OVERFLOW_REJECT_PUBLISH_DLX };
/* x-dispatch: which ready consumer gets the next message (of those of the highest priority). */
enum dispatch {
	DISPATCH_ROUND_ROBIN,  /* each in turn (RabbitMQ's way) */
	DISPATCH_LEAST_UNACKED /* the one with the fewest unacked messages; ties in turn */
};
/*
 * A queue's settings in force: its x-arguments combined with the policy and operator policy that
 * apply to it (model/policy.c), so the code that reads them needs no policy of its own.
 */
struct queue_args {
	bool has_ttl, has_expires, has_max_len, has_max_bytes;
	uint64_t ttl_ms, expires_ms, max_len, max_bytes;
	bool has_overflow, has_dispatch; /* given as arguments (a policy's then gives way) */
	enum overflow overflow;
	char *dlx;    /* dead-letter exchange, or NULL */
	char *dlx_rk; /* dead-letter routing key, or NULL */
	uint8_t max_priority;
	bool single_active;
	enum dispatch dispatch;
	/* x-delivery-limit: a message returned more often than this is dead-lettered */
	bool has_delivery_limit;
	uint64_t delivery_limit;
};
struct queue {
	char *name;
	size_t name_len;
	struct vhost *vhost;
	uint32_t refs;
	bool durable, exclusive, auto_delete, deleted;
	struct conn *owner;            /* exclusive queues */
	LIST_ENTRY(queue) owner_entry; /* in its owner's exclusive_queues */
	uint8_t *args;                 /* as declared */
	size_t args_len;
	struct queue_args qa;
	struct qring *rings; /* one per priority level */
	unsigned nrings;
	struct qpage *pages; /* one per priority level, once the queue has paged; else NULL */
	uint64_t page_gen;   /* bumped when paged entries are dropped: reads in flight are stale */
	uint64_t recover_mark;      /* recovered entries up to this seq were delivered before */
	struct conn **load_waiters; /* connections whose basic.get waits for a read */
	size_t nwaiters, capwaiters;
	uint64_t count, bytes; /* ready messages */
	uint64_t next_seq;
	uint64_t unacked, unacked_bytes; /* delivered, not yet settled: count and body bytes */
	TAILQ_HEAD(, consumer) consumers;
	unsigned nconsumers;
	bool had_consumer;
	struct binding_list bound_by; /* bindings that target this queue */
	TAILQ_ENTRY(queue) dispatch_entry;
	bool dispatch_pending;
	struct event *ttl_ev;    /* next message expiry */
	struct event *expire_ev; /* x-expires */
	uint64_t route_mark;     /* dedupe while routing */
	uint64_t qid;            /* its id in the store (durable queues), else 0 */
	uint64_t
	    delivered_hi; /* highest seq delivered: recovered messages up to it are redelivered */
	bool delivered_dirty;
	/*
	 * A cluster's master writes its marks ahead of delivered_hi (persist.c, "marks ahead"): the
	 * last two written and their batches, the greatest the group is known to hold, and the
	 * pace of deliveries that sets how far ahead.
	 */
	uint64_t mark_val[2], mark_gen[2], mark_safe;
	uint64_t mark_at_us;          /* CLOCK_MONOTONIC µs of the last mark written */
	uint32_t mark_pace;           /* deliveries since */
	struct queue_stats stats;     /* publish, deliver, get, ack, redeliver (mgmt) */
	TAILQ_ENTRY(queue) all_entry; /* in broker.all_queues, from queue_new until freed */
	/*
	 * Consumer capacity (queue_consumer_capacity): whether the last delivery found a ready
	 * consumer (idle: it did not), since when (CLOCK_MONOTONIC us), how long the spell before an
	 * idle one lasted, and the moving average of the active share before the current spell.
	 */
	bool use_idle;
	uint64_t use_since_us, use_active_us;
	double use_avg;
};
/* A queue longer than this slows its publishers' reads to libevent's 4 KiB per turn. */
#define FLOW_QUEUE_LEN 32768
/*
 * A read of paged entries came back (persist_page.c): n entries, in seq order, references taken
 * over. The store held no other entry of ring ri with a seq from the read's lo up to through (the
 * read's hi when it reached it, else its last entry's seq; 0 when the read failed).
 */
struct paged_entry {
	struct qentry e; /* e.m is NULL for a message missing from the store */
	uint64_t size;   /* its body size, for the queue's accounting */
};

/* consumer.c */
struct consumer {
	TAILQ_ENTRY(consumer) q_entry; /* in the queue's list */
	LIST_ENTRY(consumer) ch_entry; /* in the channel's list */
	char *tag;
	size_t tag_len;
	struct queue *queue;
	struct channel *ch;
	bool no_ack, exclusive, cancelled;
	uint32_t refs;
	uint16_t prefetch; /* 0 = unlimited */
	uint32_t unacked;
	int32_t priority;
	uint8_t *args;
	size_t args_len;
};

/* Hold q (queue_unref, the model's, lets go and may free it). */
static inline struct queue *queue_ref(struct queue *q)
{
	q->refs++;
	return q;
}

/* The priority level (ring) that holds m in q. */
static inline unsigned queue_ring_index(const struct queue *q, const struct message *m)
{
	return m->priority < q->nrings ? m->priority : q->nrings - 1;
}

#endif /* WARREN_SERVER_MODEL_TYPES_H */
