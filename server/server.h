/*
 * server.h: warrend's folder-private header, grouped by file so it reads as a table of contents.
 * One event loop (struct event_base) owns all broker state; nothing here is thread-safe unless it
 * says so. Ownership: a vhost owns its exchanges and queues; a connection owns its channels; a
 * channel owns its consumers and its unacked deliveries. Messages are refcounted and shared by every
 * queue and delivery that holds them.
 */
#ifndef WARREN_SERVER_H
#define WARREN_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/queue.h>

#include "amqp/amqp.h"
#include "auth/auth.h"

/* The RabbitMQ release whose behaviour Warren follows, announced to clients (server-properties). */
#define WARREN_RABBITMQ_VERSION "3.10.8"

struct event_base;
struct event;
struct bufferevent;
struct evbuffer;
struct sockaddr;

struct conn;
struct channel;
struct vhost;
struct exchange;
struct queue;
struct consumer;
struct qentry;
struct message;

/* log.c */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_set_level(enum log_level level);
int log_parse_level(const char *s, enum log_level *out);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
	do {                                             \
		if (log_enabled(LOG_DEBUG))              \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

/* xmalloc.c: control-plane allocations that abort on failure. */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A NUL-terminated copy of a byte slice. */
char *xbytesdup(struct amqp_bytes b);

/* hmap.c: byte-string keys (not copied: they must outlive their entry) to pointers. */
struct hmap_entry;
struct hmap {
	struct hmap_entry **buckets;
	size_t nbuckets, count;
};
struct hmap_iter {
	const struct hmap *m;
	size_t bucket;
	struct hmap_entry *next;
};
uint64_t hmap_hash(const void *key, size_t len);
void hmap_init(struct hmap *m);
void hmap_clear(struct hmap *m);
void *hmap_get(const struct hmap *m, const void *key, size_t klen);
void hmap_put(struct hmap *m, const void *key, size_t klen, void *value);
void *hmap_del(struct hmap *m, const void *key, size_t klen);
/* Iteration tolerates deleting the entry just returned, and nothing else. */
void hmap_iter_init(const struct hmap *m, struct hmap_iter *it);
bool hmap_iter_next(struct hmap_iter *it, const void **key, size_t *klen, void **value);

/* broker.c: process-wide settings and state. */
struct broker_config {
	uint32_t frame_max;        /* offered in connection.tune */
	uint16_t channel_max;      /* offered in connection.tune */
	uint16_t heartbeat;        /* offered in connection.tune, seconds */
	uint64_t max_message_size; /* bytes; larger bodies are refused */
	uint64_t mem_high;         /* message bytes above which publishers are blocked */
	uint64_t mem_low;          /* ... and below which they are unblocked */
	uint64_t
	    disk_free_limit;    /* free bytes in the data directory under which publishers block */
	const char *users_file; /* NULL: the built-in guest user */
	const char *tls_cert, *tls_key, *tls_ca, *tls_ciphers, *tls_ciphersuites;
	enum { TLS_VERIFY_NONE, TLS_VERIFY_OPTIONAL, TLS_VERIFY_REQUIRED } tls_verify;
	/* EXTERNAL: what names the user: the subject's CN, its whole DN, or its first SAN of a type */
	enum {
		TLS_NAME_CN,
		TLS_NAME_DN,
		TLS_NAME_SAN_EMAIL,
		TLS_NAME_SAN_DNS,
		TLS_NAME_SAN_URI
	} tls_name;
	const char *vhost_dir;
	unsigned auth_threads, auth_cache_ttl;
	enum auth_backend password_backend; /* who checks passwords: the users file, or saslauthd */
	const char *saslauthd_path;         /* saslauthd's socket (NULL: AUTH_SASLAUTHD_PATH) */
	const char *saslauthd_service;      /* the service saslauthd is told (NULL: "warren") */
	unsigned long user_max_connections; /* 0: no limit */
	uint32_t handshake_timeout;         /* seconds from accept to connection.open */
	size_t out_high, out_low;           /* per-connection output watermarks for deliveries */
	bool guest_loopback_only;
};
enum alarm { ALARM_MEMORY = 1, ALARM_DISK = 2, ALARM_STORE = 4 };
/*
 * How the lower layers (network, model, persistence) report to the protocol layer above them:
 * the protocol layer registers its functions at start (conn_register_events), and a lower layer
 * calls these, never a protocol function by name. Statistics and cluster role changes are to hook
 * in here too. A member left NULL is skipped. All run on the event loop's thread.
 */
struct broker_events {
	/* listener.c: a client's socket accepted on a listener (tls: on an amqps one) */
	void (*accepted)(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls);
	/* broker.c: the alarms went from none to some (on) or back: block or unblock publishers */
	void (*alarm)(bool on);
	/* queue.c's dispatch: may c take a message now; hand it entry e (its reference moves) */
	bool (*consumer_ready)(const struct consumer *c);
	void (*consumer_deliver)(struct consumer *c, struct qentry *e);
	/* queue.c: c's queue is gone (notify: tell the client with basic.cancel) */
	void (*consumer_cancel)(struct consumer *c, bool notify);
	/* queue.c: the paged read that waiter's basic.get waited for (queue_wait_load) is in */
	void (*load_done)(struct conn *waiter);
};
struct broker {
	struct broker_events events;
	struct event_base *base;
	struct broker_config cfg;
	struct hmap vhosts;
	uint64_t mem_used; /* bytes held by messages */
	unsigned alarms;   /* enum alarm bits: any blocks publishers */
	bool stopping;
	struct event *dispatch_ev; /* runs queue_dispatch_pending() after the current callbacks */
	struct auth_db *auth;      /* users, vhosts and permissions in force */
	uint64_t auth_gen;         /* changes with auth: what channels cached of it is stale */
	uint64_t exchange_gen; /* changes when an exchange is freed: channels' x_cache is stale */
	TAILQ_HEAD(, queue) dispatch_list;
	uint64_t next_message_id;
	struct event *page_ev; /* queue_page_all() while memory is past the paging mark */
	struct event *trim_ev; /* every second: give freed memory back to the system */
	uint64_t mem_peak;     /* the most message memory since the last trim */
};
extern struct broker broker;
void broker_config_defaults(struct broker_config *cfg);
void broker_init(struct event_base *base, const struct broker_config *cfg);
void broker_free(void);
void broker_mem_add(int64_t delta);
/* Message memory is past half of memory_limit: transient messages page out (as in RabbitMQ). */
static inline bool broker_mem_pressure(void)
{
	return broker.mem_used > broker.cfg.mem_high / 2;
}
/* Raise or clear an alarm; publishers are blocked while any is raised. */
void broker_set_alarm(enum alarm a, bool on);
/* Ask for a dispatch pass over q once the current callbacks are done. */
void broker_kick(struct queue *q);

/* main.c */
#define SERVER_MAX_LISTENERS 16
struct server_options {
	const char *config_file;
	const char *listen[SERVER_MAX_LISTENERS];
	int nlisten;
	const char *listen_tls[SERVER_MAX_LISTENERS];
	int nlisten_tls;
	const char *data_dir;
	const char *control_socket; /* NULL: DATA_DIR/control.sock; "none": no control socket */
	enum log_level log_level;
};
#define SERVER_DEFAULT_DATA_DIR "/var/lib/warren"
#define CONTROL_SOCKET_NAME "control.sock"

/* config.c: the main file, warren.conf(5); errors go to stderr as FILE:LINE: reason. */
int config_load(const char *path, struct server_options *opt, struct broker_config *cfg);
/*
 * Where the control socket is (control_socket, else DATA_DIR/control.sock) into out: 0, 1 when
 * it is turned off ("none"), or -1 when the path does not fit a unix socket address (err says).
 */
int config_control_socket(
    const struct server_options *opt, char *out, size_t len, char *err, size_t errlen);

/* listener.c */
/* Listen on addr ("ADDR:PORT", port 0 picks one), amqps if tls; bound address to ready_fd. */
int server_listen(struct event_base *base, const char *addr, int ready_fd, bool tls);
void server_stop_listening(void);
void server_format_addr(const struct sockaddr *sa, char *buf, size_t len);

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

/* conn.c, conn_read.c, conn_write.c: a connection's life, its reading and its writing. */
enum conn_state {
	CONN_HANDSHAKE, /* waiting for the protocol header */
	CONN_START,     /* connection.start sent, waiting for start-ok */
	CONN_SECURE,    /* waiting for secure-ok */
	CONN_TUNE,      /* connection.tune sent, waiting for tune-ok */
	CONN_OPEN_WAIT, /* waiting for connection.open */
	CONN_OPEN,
	CONN_CLOSING, /* connection.close sent, waiting for close-ok */
	CONN_DEAD,    /* socket closed; freed on the next loop turn */
};
/* Why a connection's input is held, as a bit set: it is read again once no reason is left. */
enum conn_pause {
	CONN_PAUSE_ALARM = 1,  /* at a publish, while a resource alarm is raised */
	CONN_PAUSE_OUTPUT = 2, /* the client does not read its answers */
	CONN_PAUSE_LOGIN = 4,  /* the password is being checked */
	CONN_PAUSE_LOAD = 8,   /* a basic.get waits for load_wait to read ahead */
};
struct conn_caps {
	bool auth_failure_close, cancel_notify, blocked, confirms, nack, e2e_bindings,
	    per_consumer_qos;
};
struct conn {
	LIST_ENTRY(conn) entry;
	struct bufferevent *bev;
	enum conn_state state;
	char peer[128];
	bool loopback;
	char *user;
	struct vhost *vhost;
	struct conn_caps caps;
	uint32_t frame_max;
	uint16_t channel_max;
	uint16_t heartbeat;
	struct channel **low_channels;       /* channels 0-255 by number (allocated on first use) */
	struct hmap high_channels;           /* channels 256 and up, keyed by their id field */
	LIST_HEAD(, channel) channels;       /* every channel, for iteration */
	LIST_HEAD(, queue) exclusive_queues; /* deleted when the connection closes */
	unsigned open_channels;
	/* channels the broker closed lately (0: none), whose late frames are dropped */
	uint16_t broker_closed[4];
	unsigned broker_closed_next;
	struct event *timer;           /* handshake timeout, heartbeats, close timeout */
	uint64_t last_recv, last_send; /* ms on the loop clock */
	bool publisher;                /* has published: blocked by the memory alarm */
	unsigned paused;               /* enum conn_pause bits */
	bool block_sent;               /* connection.blocked sent */
	bool output_full;              /* deliveries paused: output above out_high */
	bool close_after_flush;        /* the socket closes once the output is written */
	bool lingering;                /* close-ok sent: input dropped until the client closes */
	bool linger_error;             /* lingering after a broken frame: its close-ok ends it */
	uint32_t linger_skip;          /* lingering: bytes left of an oversized frame */
	bool counted;                  /* counted in its vhost's nconns */
	bool in_read;                  /* inside conn_read_cb: never re-enter it */
	struct queue *load_wait; /* a basic.get waits for this queue to read ahead (queue.c's) */
	bool feeds_long_queue; /* published into a queue past FLOW_QUEUE_LEN: read in small steps */
	bool tls, tls_verify;  /* an amqps connection; the listener verifies client certificates */
	bool direct;           /* plain socket: read and written by conn.c, not libevent */
	struct event *rev;     /* a direct connection's read event */
	size_t read_size;      /* and how much it takes from the socket at once */
	bool sent;             /* something was written since the last heartbeat tick */
	bool flush_queued;     /* on the list of connections with output to write */
	bool close_logged;     /* the log already says why it closes: no "connection closed" */
	LIST_ENTRY(conn) flush_entry;
	char mechanism[16];
};
void conn_accept(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls);
/*
 * Run a connection over any bufferevent (tests use bufferevent_pair_new); it owns bev. direct: a
 * plain socket bufferevent, whose output conn.c writes itself rather than through libevent.
 */
struct conn *conn_attach(struct bufferevent *bev, const char *peer, bool loopback, bool direct);
/* Close every connection with connection.close (broker shutdown); true when none are left. */
void conn_close_all(int reply_code, const char *reason);
bool conn_none_left(void);
/* Drop every connection at once (process exit). */
void conn_destroy_all(void);
/* The channel with this number, or NULL. */
struct channel *conn_channel(struct conn *c, uint16_t id);
void conn_channel_add(struct conn *c, struct channel *ch);
void conn_channel_remove(struct conn *c, struct channel *ch);
/* The handshake is complete: switch the timer to heartbeats. */
void conn_opened(struct conn *c);
/* Send a method on a channel (0 for the connection). */
void conn_send_method(struct conn *c, uint16_t channel, const struct amqp_method *m);
/* Send method + content header + body frames split at the connection's frame_max. */
void conn_send_content(
    struct conn *c, uint16_t channel, const struct amqp_method *m, const struct message *msg);
/* A hard error: connection.close with code and a formatted text, then tear down. */
void conn_error(struct conn *c, int code, uint32_t method_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The one place a state changes: asserts the transition is legal, logs it at debug level. */
void conn_set_state(struct conn *c, enum conn_state s);
/* RabbitMQ's name for a connection state, as in its error texts ("running"). */
const char *conn_state_name(enum conn_state s);
/* Append already-encoded frames to the output. */
void conn_send_raw(struct conn *c, const void *p, size_t n);
bool conn_output_full(struct conn *c);
void conn_set_blocked(struct conn *c, bool block);
/* Stop reading; close the socket once the output is written. */
void conn_close_after_flush(struct conn *c);
void conn_linger(struct conn *c);
void conn_note_broker_closed(struct conn *c, uint16_t id);
/* Hold the input for why (enum conn_pause), or let go of why and read if nothing else holds it. */
void conn_pause(struct conn *c, unsigned why);
void conn_unpause(struct conn *c, unsigned why);
/* Read again, if nothing holds the connection (after a login, whose pause was let go of first). */
void conn_resume_reading(struct conn *c);
void conn_mem_alarm(bool on);
/* Register the protocol layer's functions in broker.events (at start, after broker_init). */
void conn_register_events(void);

/* handle_connection.c: the handshake and connection-class methods. */
void handle_connection(struct conn *c, const struct amqp_method *m);
void conn_send_start(struct conn *c);

/* channel.c */
enum channel_state { CH_OPEN, CH_CLOSING };
struct unacked {
	uint64_t tag;
	struct message *m;
	struct queue *q; /* holds a reference */
	uint64_t seq;
	struct consumer *consumer; /* holds a reference; NULL for basic.get */
	uint64_t expires_at;       /* kept when requeued */
	uint8_t held; /* settled in the open transaction: 1 + how (settle_kind) at tx.commit */
};
/* How a delivery is settled: basic.ack, a drop (nack or reject without requeue: dead-lettered), a requeue. */
enum settle_kind { SETTLE_ACK, SETTLE_DROP, SETTLE_REQUEUE };
/* A publish's confirm: undecided, decided (sent at the next flush), or already sent on its own. */
enum confirm_state { CONFIRM_PENDING, CONFIRM_ACK, CONFIRM_NACK, CONFIRM_SENT };
struct confirm_slot {
	uint64_t seq;
	uint8_t state; /* enum confirm_state */
};
struct tx_publish {
	struct message *m;
	struct amqp_basic_properties props; /* m's, decoded (slices into m) when props_decoded */
	bool props_decoded, mandatory;
};
struct channel {
	struct conn *conn;
	LIST_ENTRY(channel) entry;
	uint16_t id;
	/* the exchange of the last publish, valid while x_cache_gen is broker.exchange_gen */
	struct exchange *x_cache;
	uint64_t x_cache_gen;
	bool x_cache_writable;     /* the user may publish to it, while x_cache_auth_gen is */
	uint64_t x_cache_auth_gen; /* broker.auth_gen */
	/* the last permission granted (access_check), valid while perm_gen is broker.auth_gen */
	uint64_t perm_gen;
	uint8_t perm_ok_kind, perm_ok_len;
	uint8_t perm_ok_name[255];
	enum channel_state state;
	bool confirm; /* confirm.select done */
	bool
	    hold_cancels; /* basic.cancel notices not sent: queue.delete sends them after its reply */
	bool tx;          /* tx.select done */
	struct amqp_assembler asm_state;
	/* basic.publish being assembled */
	struct message *pending;
	struct amqp_content_header pending_header; /* pending's, props decoded (slices into it) */
	bool pending_mandatory, pending_immediate;
	uint8_t pending_names[2 * 256];
	struct amqp_bytes pending_exchange, pending_rk;
	/* consumers */
	LIST_HEAD(, consumer) consumers;
	struct hmap consumer_tags;
	uint16_t prefetch_default; /* basic.qos global=false: for new consumers */
	uint16_t prefetch_global;  /* basic.qos global=true: whole channel */
	uint32_t unacked_count;
	uint64_t next_tag;
	/* unacked deliveries, ordered by tag */
	struct unacked *ua;
	size_t ua_cap, ua_head, ua_len;
	/* publisher confirms */
	uint64_t confirm_next;
	struct confirm_slot *cs;
	size_t cs_cap, cs_head, cs_len;
	bool confirm_flush_pending;
	/* transactions */
	struct tx_publish *txp;
	size_t txp_len, txp_cap;
	char last_queue[256]; /* the queue "" stands for */
	size_t last_queue_len;
	/* direct reply-to: the consumer tag and this channel's address token */
	char *reply_tag, *reply_token;
	size_t reply_tag_len;
	LIST_HEAD(, store_wait) store_waiters; /* confirms and replies waiting for the store */
};
struct channel *channel_open(struct conn *c, uint16_t id);
/* Release everything the channel holds (unacked go back to their queues) and free it. */
void channel_free(struct channel *ch);
/* A soft error: channel.close with code and text; the channel waits for close-ok. */
void channel_error(struct channel *ch, int code, uint32_t method_id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * A basic.publish with its content header and its one body frame, all three whole (conn.c's fast
 * path): the message is built and published at once. False, with nothing done, when anything is
 * unusual; the frames then go one by one through channel_handle_frame, which reports it.
 */
bool channel_publish_frames(struct channel *ch, const struct amqp_frame *f,
    const struct amqp_frame *hf, const struct amqp_frame *bf);
void channel_handle_frame(struct channel *ch, const struct amqp_frame *f);
/*
 * Record a delivery of queue entry e to cons (NULL: basic.get); the message reference moves to
 * the channel. Returns the delivery tag.
 */
uint64_t channel_add_unacked(
    struct channel *ch, struct queue *q, const struct qentry *e, struct consumer *cons);
/*
 * Settle tag, or every tag up to it (multiple; tag 0: all), as kind says; with hold (a
 * transaction), mark them to be settled so at tx.commit: they are no longer live tags. Returns
 * -1 if tag is not a live one.
 */
int channel_settle(
    struct channel *ch, uint64_t tag, bool multiple, enum settle_kind kind, bool hold);
/* tx.commit settles the held entries as marked; tx.rollback makes them live again. */
void channel_tx_end(struct channel *ch, bool commit);
/* Requeue the unacknowledged messages (keep_held: not those settled in the open transaction). */
void channel_requeue_all(struct channel *ch, bool keep_held);
uint64_t channel_confirm_seq(struct channel *ch);
void channel_confirm(struct channel *ch, uint64_t seq, bool ack);
void channel_confirm_flush(struct channel *ch);
/*
 * The confirm of a publish settled as it is handled (unroutable, a direct reply): sent now, on
 * its own, after its basic.return and before the channel's next command, as RabbitMQ does, even
 * while confirms of earlier publishes wait for the store.
 */
void channel_confirm_now(struct channel *ch, uint64_t seq, bool ack);
void channel_kick_consumers(struct channel *ch);

/*
 * dispatch.c: hand a decoded method on an open channel to its handler, or answer 503 for one
 * that has none.
 */
void dispatch_method(struct channel *ch, const struct amqp_method *m);

/*
 * handle_*.c (and channel.c for the channel and access classes): a handler per method, in the
 * file of its AMQP class, called through dispatch.c's table; each reports its errors itself.
 */
void handle_channel_open(struct channel *ch, const struct amqp_method *m);
void handle_channel_flow(struct channel *ch, const struct amqp_method *m);
void handle_channel_close(struct channel *ch, const struct amqp_method *m);
void handle_access_request(struct channel *ch, const struct amqp_method *m);
void handle_exchange_declare(struct channel *ch, const struct amqp_method *m);
void handle_exchange_delete(struct channel *ch, const struct amqp_method *m);
void handle_exchange_bind(struct channel *ch, const struct amqp_method *m); /* and unbind */
void handle_queue_declare(struct channel *ch, const struct amqp_method *m);
void handle_queue_bind(struct channel *ch, const struct amqp_method *m); /* and unbind */
void handle_queue_purge(struct channel *ch, const struct amqp_method *m);
void handle_queue_delete(struct channel *ch, const struct amqp_method *m);
void handle_basic_qos(struct channel *ch, const struct amqp_method *m);
void handle_basic_consume(struct channel *ch, const struct amqp_method *m);
void handle_basic_cancel(struct channel *ch, const struct amqp_method *m);
void handle_basic_get(struct channel *ch, const struct amqp_method *m);
void handle_basic_ack(struct channel *ch, const struct amqp_method *m);
void handle_basic_nack(struct channel *ch, const struct amqp_method *m);
void handle_basic_reject(struct channel *ch, const struct amqp_method *m);
void handle_basic_recover(struct channel *ch, const struct amqp_method *m); /* and -async */
void handle_confirm_select(struct channel *ch, const struct amqp_method *m);
void handle_tx_select(struct channel *ch, const struct amqp_method *m);
void handle_tx_end(struct channel *ch, const struct amqp_method *m); /* commit, rollback */
/* basic.ack, as handle_basic_ack runs it (the channel's fast path for the commonest method). */
void basic_ack(struct channel *ch, uint64_t tag, bool multiple);
/* handle_queue.c, handle_exchange.c: shared checks. */
bool queue_name_shortcut(struct channel *ch, uint32_t mid, struct amqp_bytes *name);
struct queue *queue_lookup(struct channel *ch, uint32_t mid, struct amqp_bytes name);
bool check_binding_args(
    struct channel *ch, uint32_t mid, struct exchange *x, struct amqp_bytes args);
void generate_name(const char *prefix, char *out, size_t outlen);
/* A complete basic.publish: route it and deliver (or hold it for tx.commit). */
void basic_publish_complete(struct channel *ch);
/* Route v's message through x (NULL: gone) and enqueue it; the caller keeps its reference. */
void basic_route_and_enqueue(struct channel *ch, struct exchange *x, struct msg_view *v,
    bool mandatory, bool confirm, uint64_t seq);

/* direct_reply.c: RabbitMQ's direct reply-to pseudo-queue. */
#define DIRECT_REPLY_QUEUE "amq.rabbitmq.reply-to"
bool direct_reply_is_queue(struct amqp_bytes name);
bool direct_reply_address_alive(struct vhost *v, struct amqp_bytes name);
int direct_reply_consume(struct channel *ch, struct amqp_bytes tag, bool no_ack);
bool direct_reply_cancel(struct channel *ch, struct amqp_bytes tag);
void direct_reply_release(struct channel *ch);
struct message *direct_reply_rewrite(
    struct channel *ch, struct message *m, const struct amqp_basic_properties *p, bool *failed);
int direct_reply_deliver(struct vhost *v, const struct message *m);

/*
 * persist.c (with persist_page.c, persist_recover.c, persist_dump.c and persist_record.c, the
 * files of server/ that talk to store/). All calls are no-ops without a store.
 */
struct persist_waiter;
int persist_open(const char *dir, char *err, size_t errlen);
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
void persist_delivered(struct queue *q, const struct message *m, uint64_t seq);
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
const char *persist_last_error(void);
/* Offline (warrenctl): print the store in AMQP terms, or only check it; -1 with err on problems. */
int persist_dump(const char *dir, FILE *out, bool verify_only, char *err, size_t errlen);
/* Confirm seq on ch when the store has made this turn's writes durable (false: nothing pending). */
bool channel_confirm_after_store(struct channel *ch, uint64_t seq);
/* Send a reply once this turn's store writes are durable (a declare-ok means "it will survive"). */
void reply_after_store(struct channel *ch, const struct amqp_method *m);
/* The same for frames already encoded (a reply and what must follow it). */
void reply_frames_after_store(struct channel *ch, const uint8_t *frames, size_t len);

/* access.c: users, vhosts and permissions (auth/) as the broker applies them. */
void access_default(void);
/* Load the users and vhost files, start saslauthd's client if configured, start the pool. */
int access_init(const struct broker_config *cfg);
void access_free(void);
/* A reload, in two steps: load the files (0 with *out, NULL without a users file; -1 and err). */
int access_reload_load(struct auth_db **out, char *err, size_t errlen);
/* ... then put db in force (it takes the reference); returns the connections closed (320). */
unsigned access_reload_apply(struct auth_db *db);
/* Check a login off the loop; conn_login_done(c, ok) follows. */
void access_login(struct conn *c, const struct auth_credentials *cr);
void access_cancel(struct conn *c);
/* At connection.open: access and max-connections (530 on refusal). */
bool access_vhost(struct conn *c, struct vhost *v);
bool access_still_allowed(const struct conn *c);
/* RabbitMQ's permission table: false after closing the channel with 403. */
bool access_check(struct channel *ch, uint32_t mid, enum auth_perm perm, enum auth_resource kind,
    struct amqp_bytes name);
bool access_topic(struct channel *ch, uint32_t mid, const struct exchange *x, struct amqp_bytes key,
    enum auth_perm perm);
bool access_queue_limit(struct channel *ch, struct amqp_bytes name);
bool access_impersonate(const struct conn *c);
/* Count (or stop counting) an open connection against its user's limit. */
void access_user_conn(const struct conn *c, int delta);
/* The password check's answer; why, when not NULL, says why it failed (for the log). */
void conn_login_done(struct conn *c, bool ok, const char *why);
/* The user database changed: disconnect (320) whoever lost their vhost; returns how many. */
unsigned conn_access_changed(void);

/* tls.c */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
int tls_init(const struct broker_config *cfg);
/* A reload, in two steps: build the context (0 with *out, NULL without TLS; -1 and err) ... */
int tls_reload_load(
    const struct broker_config *cfg, struct ssl_ctx_st **out, char *err, size_t errlen);
void tls_reload_discard(struct ssl_ctx_st *ctx);
/* ... then put it in force for new connections; says in what whether the certificate changed. */
bool tls_reload_apply(struct ssl_ctx_st *ctx, char *what, size_t len);
void tls_free(void);
/* A TLS server buffer over an accepted socket, or NULL (the socket closed, the reason logged). */
struct bufferevent *tls_wrap(struct event_base *base, int fd, const char *peer);
/* The user the verified client certificate of bev names (CN, DN or a SAN): 0, or -1 without one. */
int tls_peer_name(struct bufferevent *bev, char *out, size_t len);

/* reload.c: SIGHUP and `warrenctl reload`. */
/*
 * Re-read the users file, the vhost files and the TLS certificate, key and CA, all or nothing:
 * 0 when the new configuration is in force, -1 when it was rejected and the old one stays. A
 * report (what changed, or FILE:LINE: reason) goes to the log and, if out is not NULL, to out,
 * one line each.
 */
int reload_run(struct evbuffer *out);

/* control.c: the control socket warrenctl(8) talks to. */
/* Listen on path (mode 0600; a stale socket is replaced): 0, or -1 with err. */
int control_open(struct event_base *base, const char *path, char *err, size_t errlen);
/* Stop listening, drop the clients, remove the socket. */
void control_close(void);

/* time: milliseconds on the loop's cached clock. */
uint64_t now_ms(void);

#endif /* WARREN_SERVER_H */
