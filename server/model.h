/*
 * model.h: the model layer: messages, vhosts, exchanges and routing, queues and their rings,
 * dead-lettering, and the consumer as queues see it (its functions, consumer.c, are the protocol
 * layer's, reached from queue.c through broker.events).
 * Included by server/server.h only, after what comes before it there.
 */
#ifndef WARREN_SERVER_MODEL_H
#define WARREN_SERVER_MODEL_H

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
	bool shared;           /* the store may count several entries for it: release, not delete */
	uint32_t batch_op;     /* its record's put in the open store batch, if batch_gen is that */
	uint64_t batch_gen;
	char *exchange; /* NUL-terminated, in the same allocation */
	char *routing_key;
	/* exchange, routing key, properties and (small) body follow */
};
struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
    struct amqp_bytes props, uint64_t body_size);
/* The same, with props already decoded: its delivery mode and priority are taken from that. */
struct message *message_new_decoded(struct amqp_bytes exchange, struct amqp_bytes routing_key,
    struct amqp_bytes props, uint64_t body_size, const struct amqp_basic_properties *decoded);
static inline struct message *message_ref(struct message *m)
{
	m->refs++;
	return m;
}
void message_unref(struct message *m);
/* Free the spare blocks kept for small messages (at exit). */
void message_pool_free(void);
/* Append body bytes; the caller has checked they fit body_size. */
void message_append_body(struct message *m, const uint8_t *p, size_t len);
/* The first property-flags word (AMQP_P_*): which properties the message has. */
static inline uint16_t message_prop_flags(const struct message *m)
{
	return m->props_len >= 2 ? amqp_load_u16(m->props) : 0;
}
/* Decode the message's properties (slices into m->props). */
int message_properties(const struct message *m, struct amqp_basic_properties *p);
/*
 * p was decoded from src, the encoded properties m was made from: move its slices onto m's own
 * copy, so that they outlive src.
 */
void message_adopt_props(
    const struct message *m, struct amqp_basic_properties *p, const uint8_t *src);
/* A copy of m with different properties (used to strip BCC or add x-death). */
struct message *message_with_props(const struct message *m, struct amqp_bytes props);
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
static inline void msg_view_init(struct msg_view *v, const struct message *m)
{
	v->m = m;
	v->props_state = v->headers_state = 0;
}
/* The same, with m's properties already decoded in *p (slices into m->props; p outlives v). */
static inline void msg_view_init_decoded(
    struct msg_view *v, const struct message *m, const struct amqp_basic_properties *p)
{
	v->m = m;
	v->props = p;
	v->props_state = 1;
	v->headers_state = 0;
}
const struct amqp_basic_properties *msg_view_decode_props(struct msg_view *v);
const struct amqp_table *msg_view_decode_headers(struct msg_view *v);
/* The properties, or NULL when they do not decode. */
static inline const struct amqp_basic_properties *msg_view_props(struct msg_view *v)
{
	return v->props_state > 0 ? v->props : msg_view_decode_props(v);
}
/* The headers table, or NULL when there is none (or it does not decode). */
static inline const struct amqp_table *msg_view_headers(struct msg_view *v)
{
	if (!(message_prop_flags(v->m) & AMQP_P_HEADERS))
		return NULL;
	return v->headers_state > 0 ? &v->headers : msg_view_decode_headers(v);
}
static inline void msg_view_done(struct msg_view *v)
{
	if (v->headers_state != 0)
		amqp_arena_reset(&v->pool);
	v->headers_state = 0;
}

/* vhost.c */
struct vhost {
	char *name;
	struct hmap exchanges;
	struct hmap queues;
	uint64_t next_gen;    /* for amq.gen- names */
	unsigned long nconns; /* open connections, for max-connections */
	bool dying;           /* being freed: no auto-delete cascades */
};
struct vhost *vhost_find(struct amqp_bytes name);
struct vhost *vhost_create(const char *name);
void vhost_free(struct vhost *v);
struct exchange *vhost_exchange(struct vhost *v, struct amqp_bytes name);
struct queue *vhost_queue(struct vhost *v, struct amqp_bytes name);

/* exchange.c: declare, delete, bind and route. */
enum exchange_type { EX_DIRECT, EX_FANOUT, EX_TOPIC, EX_HEADERS };
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
};
LIST_HEAD(binding_list, binding);
struct exchange {
	char *name;
	size_t name_len;
	struct vhost *vhost;
	enum exchange_type type;
	bool durable, auto_delete, internal;
	uint8_t *args; /* encoded arguments as declared */
	size_t args_len;
	char *alternate;              /* alternate-exchange name, or NULL */
	struct binding_list bindings; /* where this exchange routes to */
	struct binding_list bound_to; /* exchange-to-exchange bindings that target this one */
	size_t nbindings;
	struct hmap direct;      /* EX_DIRECT: key -> first binding */
	struct topic_trie *trie; /* EX_TOPIC */
	uint64_t route_mark;     /* loop guard while routing */
};
const char *exchange_type_name(enum exchange_type t);
int exchange_type_parse(struct amqp_bytes s, enum exchange_type *t);
struct exchange *exchange_new(struct vhost *v, struct amqp_bytes name, enum exchange_type type,
    bool durable, bool auto_delete, bool internal, struct amqp_bytes args);
void exchange_free(struct exchange *x);
/* Remove x from its vhost, unbinding everything to and from it. */
void exchange_delete(struct exchange *x);
/* Bind; returns 0, or 1 when an identical binding already existed. */
int exchange_bind(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args);
/* Unbind; returns 0, or -1 when no such binding. */
int exchange_unbind(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args);
void binding_free(struct binding *b);
/* Route a message: every destination queue once (loops and duplicates removed). */
#define ROUTE_INLINE 16
struct route_result {
	struct queue **queues; /* inline until more than ROUTE_INLINE queues match */
	size_t n, cap;
	struct queue *inline_queues[ROUTE_INLINE];
};
/* Ready a result for exchange_route without allocating. */
void route_result_init(struct route_result *r);
/* Route v's message; its headers are decoded only if CC, BCC or a headers exchange need them. */
void exchange_route(struct exchange *x, struct msg_view *v, struct route_result *out);
void route_result_free(struct route_result *r);

/* exchange_topic.c: a trie over dot-separated words with `*` and `#`. */
struct topic_trie;
struct topic_binding;
struct topic_trie *topic_trie_new(void);
void topic_trie_free(struct topic_trie *t);
struct topic_binding *topic_trie_add(struct topic_trie *t, struct amqp_bytes pattern, void *dest);
void topic_trie_remove(struct topic_trie *t, struct topic_binding *b);
/* Call fn for the dest of each binding whose pattern matches key (a dest may repeat). */
void topic_trie_match(
    struct topic_trie *t, struct amqp_bytes key, void (*fn)(void *dest, void *arg), void *arg);

/* exchange_headers.c */
bool headers_match(const struct amqp_table *binding_args, const struct amqp_table *headers);

/* queue.c */
struct qentry {
	struct message *m;
	uint64_t seq;        /* position in the queue: requeued messages go back to it */
	uint64_t expires_at; /* ms on the loop clock, 0 = never */
	bool redelivered;
};
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
/* Are entries of this level in the store, to be read back before the tail? */
static inline bool qpage_active(const struct qpage *pg)
{
	return pg->count > 0 || pg->suspect;
}
enum overflow { OVERFLOW_DROP_HEAD, OVERFLOW_REJECT_PUBLISH, OVERFLOW_REJECT_PUBLISH_DLX };
struct queue_args {
	bool has_ttl, has_expires, has_max_len, has_max_bytes;
	uint64_t ttl_ms, expires_ms, max_len, max_bytes;
	enum overflow overflow;
	char *dlx;    /* dead-letter exchange, or NULL */
	char *dlx_rk; /* dead-letter routing key, or NULL */
	uint8_t max_priority;
	bool single_active;
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
	uint64_t unacked;
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
};
struct queue *queue_new(struct vhost *v, struct amqp_bytes name, bool durable, bool exclusive,
    bool auto_delete, struct conn *owner, struct amqp_bytes args, const struct queue_args *qa);
static inline struct queue *queue_ref(struct queue *q)
{
	q->refs++;
	return q;
}
void queue_unref(struct queue *q);
/* Delete q: cancel its consumers, drop its messages and bindings; returns the messages dropped. */
uint64_t queue_delete(struct queue *q);
uint64_t queue_purge(struct queue *q);
/*
 * Put m at the tail. Returns 0 (in memory only), 1 (also written to the store: a confirm waits for
 * it), or -1 if refused by x-overflow reject-publish.
 */
int queue_publish(struct queue *q, struct message *m);
/* A queue longer than this slows its publishers' reads to libevent's 4 KiB per turn. */
#define FLOW_QUEUE_LEN 32768
/* Start-up: count entries of ring ri that are in the store (seqs lo..hi) and read the first. */
void queue_recover_paged(
    struct queue *q, unsigned ri, uint64_t count, uint64_t bytes, uint64_t lo, uint64_t hi);
/*
 * A read of paged entries came back (persist_page.c): n entries, in seq order, references taken
 * over. The store held no other entry of ring ri with a seq from the read's lo up to through (the
 * read's hi when it reached it, else its last entry's seq; 0 when the read failed).
 */
struct paged_entry {
	struct qentry e; /* e.m is NULL for a message missing from the store */
	uint64_t size;   /* its body size, for the queue's accounting */
};
void queue_paged_in(
    struct queue *q, unsigned ri, uint64_t gen, struct paged_entry *v, size_t n, uint64_t through);
/* Memory is short: page out what every queue holds beyond its head. */
void queue_page_all(void);
/* basic.get found the queue loading: c waits (true) until a read comes back. */
/*
 * A basic.get found the head empty: true when entries are being read back, and then c waits for
 * them (broker.events.load_done(c) tells when; the caller holds a reference to q meanwhile).
 */
bool queue_wait_load(struct queue *q, struct conn *c);
/* c no longer waits (it is going away). */
void queue_forget_waiter(struct queue *q, struct conn *c);
/* Put back a delivered message at its old place, redelivered; takes over the reference. */
void queue_requeue(struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at);
/* Take the head message for basic.get (expired ones are dropped first). */
bool queue_pop(struct queue *q, struct qentry *out);
/* Dead-letter m from q (reason "rejected", "expired", "maxlen") if q has a DLX; keeps m's ref. */
void queue_dead_letter(struct queue *q, struct message *m, const char *reason);
void queue_dispatch(struct queue *q);
void queue_dispatch_pending(void);
void queue_consumer_gone(struct queue *q);
void queue_touch(struct queue *q); /* restart the x-expires timer */
int queue_args_parse(struct amqp_bytes args, struct queue_args *qa, const char *queue,
    const char *vhost, char *err, size_t errlen);
void queue_args_free(struct queue_args *qa);

/* queue_ring.c: a ring of entries (one per priority level), in seq order. */
/* The ith entry from the head; i < r->len (or == r->len with room, to append). */
static inline struct qentry *queue_ring_at(const struct qring *r, size_t i)
{
	return &r->v[(r->head + i) & (r->cap - 1)];
}
/* Append e at the back (the ring grows as needed); its body size counts in r->bytes. */
void queue_ring_push(struct qring *r, const struct qentry *e);
/* Take the head entry into out; the ring is not empty. */
void queue_ring_pop(struct qring *r, struct qentry *out);
/* Put e back at its place by seq (a requeue). */
void queue_ring_insert(struct qring *r, const struct qentry *e);
/* The priority level (ring) that holds m in q. */
unsigned queue_ring_index(const struct queue *q, const struct message *m);
/* The ring of the next message to deliver, or NULL (none, or a level being read back first). */
struct qring *queue_head_ring(struct queue *q);
/* RabbitMQ's name for a field type ("signedint"), and its description of an argument. */
const char *field_type_word(uint8_t t);
void arg_describe(const struct amqp_field_value *v, char *buf, size_t len);
void arg_value(const struct amqp_field_value *v, char *buf, size_t len);
bool arg_int_value(const struct amqp_field_value *v, int64_t *out);

/* deadletter.c */
/* A copy of m for the dead-letter exchange, with x-death recorded; NULL to drop it. */
struct message *deadletter_message(struct queue *q, const struct message *m, const char *reason);
/* Route a dead-lettered message from q through x, skipping cycles. */
void deadletter_route(struct queue *q, struct exchange *x, struct message *dm, const char *reason);

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
void consumer_unref(struct consumer *c);
/* Can c take one more message now? */
bool consumer_ready(const struct consumer *c);
/* Deliver m to c (writes basic.deliver and the content); takes over the entry. */
void consumer_deliver(struct consumer *c, struct qentry *e);
/* Remove c from its queue (and channel); if notify, send basic.cancel to the client. */
void consumer_cancel(struct consumer *c, bool notify);

#endif /* WARREN_SERVER_MODEL_H */
