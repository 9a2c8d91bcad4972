/*
 * model.h: the model layer: messages, vhosts, exchanges and routing, queues and their rings,
 * dead-lettering, and the consumer as queues see it (its functions, proto/consumer.c, are the protocol
 * layer's, reached from queue.c through broker.events).
 */
#ifndef WARREN_SERVER_MODEL_H
#define WARREN_SERVER_MODEL_H

#include "server/model/types.h"
#include "server/persist/persist.h"

/* broker.c: process-wide state. */
/*
 * How the lower layers (network, model, persistence) report to the protocol layer above them:
 * the protocol layer registers its functions at start (conn_register_events), and a lower layer
 * calls these, never a protocol function by name. Statistics and cluster role changes are to hook
 * in here too. alarm, consumer_cancel and load_done may be left NULL (skipped, as in the
 * unit tests that build a broker alone); consumer_ready and consumer_deliver are called only for
 * consumers, which only the protocol layer makes. All run on the event loop's thread.
 */
struct broker_events {
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
/*
 * Broker-wide counters for the Prometheus endpoint (admin/prom*.c), incremented where the event
 * happens, as broker.totals is: plain integers, nothing allocated.
 */
enum auth_protocol { AUTH_PROTO_AMQP, AUTH_PROTO_HTTP, AUTH_PROTO_COUNT };
struct broker_counters {
	uint64_t conns_opened, conns_closed;       /* accepted; gone (a connection's whole life) */
	uint64_t channels_opened, channels_closed; /* channel.open; freed */
	uint64_t conns_in_vhost;                   /* open now, past connection.open */
	uint64_t channels_open;                    /* open now, on any connection */
	uint64_t queues_declared;                  /* successful non-passive queue.declare */
	uint64_t received_confirm;                 /* publishes on channels in confirm mode */
	uint64_t routed;                           /* publishes routed to at least one queue */
	uint64_t queue_published;                  /* messages enqueued, once per queue */
	uint64_t auth_ok[AUTH_PROTO_COUNT], auth_failed[AUTH_PROTO_COUNT]; /* password checks */
};
struct broker {
	struct broker_events events;
	/*
	 * cluster.c: a cluster node's role changed (see persist_hooks.role); ok is false when this
	 * node could not take the master role up (its store would not open). Set by the admin layer.
	 */
	void (*cluster_role)(enum persist_role role, const char *master, const char *info, bool ok);
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
	struct event *page_ev;   /* queue_page_all() while memory is past the paging mark */
	struct event *trim_ev;   /* every second: give freed memory back to the system */
	uint64_t mem_peak;       /* the most message memory since the last trim */
	struct msg_stats totals; /* every queue's and channel's counts, summed as they happen */
	uint64_t queues_created, queues_deleted; /* churn, for the overview */
	uint64_t started_ms;                     /* wall clock at start */
	struct broker_counters counters;         /* more counts, for Prometheus */
	/* every queue not yet freed (deleted ones too, while referenced), oldest first */
	TAILQ_HEAD(, queue) all_queues;
};
extern struct broker broker;
void broker_config_defaults(struct broker_config *cfg);
void broker_init(struct event_base *base, const struct broker_config *cfg);
void broker_free(void);
/*
 * cluster.c: a cluster node's role changed (persistence's role hook): on becoming master the
 * broker is rebuilt from the replicated store (persist_cluster_master); then broker.cluster_role.
 */
void cluster_role_changed(enum persist_role role, const char *master, const char *info);
/* recover.c: how persistence reports to the model (persist_init, at broker_init). */
extern const struct persist_hooks broker_persist_hooks;
/* Put the users, vhosts and permissions of db in force (taking its reference); create its vhosts. */
void broker_set_auth(struct auth_db *db);
void broker_mem_add(int64_t delta);
/*
 * Change memory_limit (publishers unblocked again under three quarters of it) or
 * disk_free_limit while running, as rabbitmqctl's set_vm_memory_high_watermark and
 * set_disk_free_limit do (until a restart); either alarm is judged again at once.
 */
void broker_set_mem_limit(uint64_t high);
void broker_set_disk_free_limit(uint64_t limit);
/* Message memory is past half of memory_limit: transient messages page out (as in RabbitMQ). */
static inline bool broker_mem_pressure(void)
{
	return broker.mem_used > broker.cfg.mem_high / 2;
}
/* Raise or clear an alarm; publishers are blocked while any is raised. */
void broker_set_alarm(enum alarm a, bool on);
/* Ask for a dispatch pass over q once the current callbacks are done. */
void broker_kick(struct queue *q);

/* time: milliseconds on the loop's cached clock. */
uint64_t now_ms(void);

/* message.c */
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
/* The expiration property as RabbitMQ parses it: 0 with *ms, or -1 with the reason in why. */
int message_parse_expiration(struct amqp_bytes e, uint64_t *ms, char *why, size_t whylen);
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
/*
 * m's encoded properties with header x-delivery-count = count (a long, replacing one the
 * publisher set), for a delivery of a returned message: a buffer to free, its length in *len; or
 * NULL when m's properties do not decode.
 */
uint8_t *message_props_with_count(const struct message *m, uint32_t count, size_t *len);
/* A copy of m with different properties (used to strip BCC or add x-death). */
struct message *message_with_props(const struct message *m, struct amqp_bytes props);
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
struct vhost *vhost_find(struct amqp_bytes name);
struct vhost *vhost_create(const char *name);
void vhost_free(struct vhost *v);
struct exchange *vhost_exchange(struct vhost *v, struct amqp_bytes name);
struct queue *vhost_queue(struct vhost *v, struct amqp_bytes name);

/* exchange.c: declare, delete, bind and route. */
int exchange_type_parse(struct amqp_bytes s, enum exchange_type *t);
/* The alternate-exchange argument of x (malloc'd), or NULL. */
char *exchange_arg_alternate(const struct exchange *x);
struct exchange *exchange_new(struct vhost *v, struct amqp_bytes name, enum exchange_type type,
    bool durable, bool auto_delete, bool internal, struct amqp_bytes args);
void exchange_free(struct exchange *x);
/* Remove x from its vhost, unbinding everything to and from it. */
void exchange_delete(struct exchange *x);
/* Bind; returns 0, or 1 when an identical binding already existed. */
int exchange_bind(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args);
/* The same, at start-up: ring_seq is the binding's place in a consistent-hash ring (0: last). */
int exchange_bind_recovered(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args, uint64_t ring_seq);
/* Unbind; returns 0, or -1 when no such binding. */
int exchange_unbind(struct exchange *src, struct queue *dq, struct exchange *de,
    struct amqp_bytes key, struct amqp_bytes args);
void binding_free(struct binding *b);
/* Ready a result for exchange_route without allocating. */
void route_result_init(struct route_result *r);
/* Route v's message; its headers are decoded only if CC, BCC or a headers exchange need them. */
void exchange_route(struct exchange *x, struct msg_view *v, struct route_result *out);
void route_result_free(struct route_result *r);

/* exchange_topic.c: a trie over dot-separated words with `*` and `#`. */
struct topic_trie *topic_trie_new(void);
void topic_trie_free(struct topic_trie *t);
struct topic_binding *topic_trie_add(struct topic_trie *t, struct amqp_bytes pattern, void *dest);
void topic_trie_remove(struct topic_trie *t, struct topic_binding *b);
/* Call fn for the dest of each binding whose pattern matches key (a dest may repeat). */
void topic_trie_match(
    struct topic_trie *t, struct amqp_bytes key, void (*fn)(void *dest, void *arg), void *arg);

/*
 * exchange_hash.c: the consistent-hash exchange (x-consistent-hash): a ring of buckets per
 * exchange, each destination holding as many as its binding's weight (the binding key).
 */
#define HASH_WEIGHT_MAX 2147483647u
enum { HASH_WEIGHT_NOT_INTEGER = -1, HASH_WEIGHT_NOT_POSITIVE = -2, HASH_WEIGHT_TOO_LARGE = -3 };
/* A binding key as a weight: 0 with *weight, or HASH_WEIGHT_*. */
int hash_weight_parse(struct amqp_bytes key, uint32_t *weight);
/* A binding key a consistent-hash exchange takes: 0, or 406 with RabbitMQ's reason in err. */
int hash_binding_check(struct amqp_bytes key, char *err, size_t errlen);
/* A new exchange's hash-header and hash-property: 0, or 406 with the reason in err. */
int hash_args_check(
    struct amqp_bytes args, const char *exchange, const char *vhost, char *err, size_t errlen);
/* The ring of an exchange declared with args (what it hashes is read from them). */
struct hash_ring *hash_ring_new(struct amqp_bytes args);
void hash_ring_free(struct hash_ring *r);
/* A new binding b (key checked) at ring_seq (0: last); b->in_ring: it holds the buckets. */
void hash_ring_add(struct hash_ring *r, struct binding *b, uint64_t ring_seq);
/* b goes, and its destination's buckets (as the plugin, even if another binding remains). */
void hash_ring_remove(struct hash_ring *r, struct binding *b);
/* The binding whose destination takes v's message, or NULL when the ring is empty. */
struct binding *hash_ring_route(const struct hash_ring *r, struct msg_view *v);
/* How many buckets the ring has (the weights of the bindings holding them). */
uint64_t hash_ring_buckets(const struct hash_ring *r);

/*
 * exchange_delayed.c: the delayed exchange (x-delayed-message): messages with a positive x-delay
 * wait, in a window in memory and the store beyond it, and are routed as the exchange's
 * x-delayed-type when due. Delays above DELAY_MAX_MS (100 years) are taken as DELAY_MAX_MS.
 */
#define DELAY_MAX_MS 3155760000000ull
/* A new delayed exchange's arguments: x-delayed-type must name direct, fanout, topic or
 * headers: 0, or 406 (or 503 for an unknown type) with RabbitMQ's plugin's reason in err. */
int delay_args_check(struct amqp_bytes args, char *err, size_t errlen);
/* x (EX_DELAYED, its args set) gets its route_type, an id and an empty window. */
void delay_init(struct exchange *x);
/* At start-up: x's id is the one its record holds. */
void delay_set_xid(struct exchange *x, uint64_t xid);
/* x goes: its waiting messages with it, in memory and in the store. */
void delay_free(struct exchange *x);
/* Does the message wait (a positive x-delay, as the plugin reads it): true with the delay. */
bool delay_wanted(struct msg_view *v, uint64_t *delay_ms);
/*
 * Routing met delayed exchange x taking the message (exchange_route): x joins the list that
 * delay_accept empties. The list is empty but between an exchange_route and the delay_accept its
 * caller makes at once, before anything else can route, so a message that reached no delayed
 * exchange costs its caller one test of delay_routed.
 */
void route_add_delayed(struct exchange *x, uint64_t delay_ms);
extern size_t delay_routed; /* delayed exchanges on the list */
/*
 * After exchange_route, when delay_routed: each delayed exchange on the list takes its copy of
 * v's message, and the list is emptied; returns how many took it, *stored when one was written
 * to the store (a confirm waits for that).
 */
size_t delay_accept(struct msg_view *v, bool *stored);
/* Messages waiting in x (in memory and in the store): messages_delayed. */
uint64_t delay_pending(const struct exchange *x);
/* persist_hooks.load_delayed and .delayed_in */
void delay_loaded(uint64_t xid, uint64_t count, uint64_t max_seq);
void delay_read_in(uint64_t xid, uint64_t gen, struct delayed_entry *v, size_t n, bool ok, bool end,
    uint64_t through_due, uint64_t through_seq);

/*
 * delay_timer.c: turns at wall-clock times for the delayed exchanges, under one timerfd armed for
 * the earliest (so never before its time, and not a kernel tick late as libevent 2.1's timers).
 * A turn calls run(t, now, budget), which routes up to budget due messages and returns how many,
 * and either routes one at least or, with nothing due, leaves the timers (delay_timer_clear).
 */
struct delay_timer {
	size_t pos;  /* its place among the timers + 1; 0: no turn wanted */
	uint64_t at; /* when it wants its turn: ms since the epoch, 0 at once */
	unsigned (*run)(struct delay_timer *t, uint64_t now_us, unsigned budget);
};
/* t wants its turn at at_ms (or at once, 0), instead of whenever it wanted it. */
void delay_timer_set(struct delay_timer *t, uint64_t at_ms);
/* t wants no turn. */
void delay_timer_clear(struct delay_timer *t);
/* No delayed exchange is left: the timer's descriptor and event go (made again when wanted). */
void delay_timer_close(void);

/*
 * validate.c: the checks before a declare, delete or bind changes the model, shared by the AMQP
 * handlers and the HTTP API: 0, or an AMQP reply code with RabbitMQ's reason in err.
 */
/* A name with the reserved prefix "amq.". */
bool validate_reserved_name(struct amqp_bytes name);
/*
 * A new exchange: its name not reserved (403), its alternate-exchange a string (406), and a
 * consistent-hash exchange's hash-header or hash-property (406).
 */
int validate_exchange_new(struct vhost *v, struct amqp_bytes name, enum exchange_type type,
    struct amqp_bytes args, char *err, size_t errlen);
/* args' alternate-exchange (a string) into out: true, or false without one. */
bool validate_alternate(struct amqp_bytes args, char *out, size_t outlen);
/* Redeclaring x: the same type, flags and alternate-exchange (406), as assert_equivalence. */
int validate_exchange_equivalent(const struct exchange *x, enum exchange_type type, bool durable,
    bool auto_delete, bool internal, struct amqp_bytes args, char *err, size_t errlen);
/* Deleting name (x when it exists): not the default or an amq. one (403), unused if asked (406). */
int validate_exchange_delete(struct vhost *v, struct amqp_bytes name, const struct exchange *x,
    bool if_unused, char *err, size_t errlen);
/*
 * A binding to x: a headers exchange's x-match must be all, any, all-with-x or any-with-x; a
 * consistent-hash exchange's key must be a weight (406).
 */
int validate_binding(const struct exchange *x, struct amqp_bytes key, struct amqp_bytes args,
    char *err, size_t errlen);
/* Redeclaring q: the same durable, auto_delete and compared x-arguments (406). */
int validate_queue_equivalent(const struct queue *q, bool durable, bool auto_delete,
    struct amqp_bytes args, char *err, size_t errlen);
/* Deleting q: unused, empty if asked (406). */
int validate_queue_delete(
    const struct queue *q, bool if_unused, bool if_empty, char *err, size_t errlen);

/* exchange_headers.c */
bool headers_match(const struct amqp_table *binding_args, const struct amqp_table *headers);

/* queue.c */
/* Are entries of this level in the store, to be read back before the tail? */
static inline bool qpage_active(const struct qpage *pg)
{
	return pg->count > 0 || pg->suspect;
}
struct queue *queue_new(struct vhost *v, struct amqp_bytes name, bool durable, bool exclusive,
    bool auto_delete, struct conn *owner, struct amqp_bytes args, const struct queue_args *qa);
void queue_unref(struct queue *q);
/* Delete q: cancel its consumers, drop its messages and bindings; returns the messages dropped. */
uint64_t queue_delete(struct queue *q);
uint64_t queue_purge(struct queue *q);
/*
 * Put m at the tail. Returns 0 (in memory only), 1 (also written to the store: a confirm waits for
 * it), or -1 if refused by x-overflow reject-publish.
 */
int queue_publish(struct queue *q, struct message *m);
/* Start-up: count entries of ring ri that are in the store (seqs lo..hi) and read the first. */
void queue_recover_paged(
    struct queue *q, unsigned ri, uint64_t count, uint64_t bytes, uint64_t lo, uint64_t hi);
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
/*
 * Put back a delivered message at its old place, redelivered, its delivery count (count, as it
 * was delivered) one more; past x-delivery-limit it is dead-lettered instead ("delivery_limit").
 * Takes over the reference.
 */
void queue_requeue(
    struct queue *q, struct message *m, uint64_t seq, uint64_t expires_at, uint32_t count);
/* Take the head message for basic.get (expired ones are dropped first). */
bool queue_pop(struct queue *q, struct qentry *out);
/*
 * Dead-letter m from q (reason "rejected", "expired", "maxlen", "delivery_limit") if q has a DLX;
 * keeps m's ref.
 */
void queue_dead_letter(struct queue *q, struct message *m, const char *reason);
void queue_dispatch(struct queue *q);
/*
 * As RabbitMQ's consumer_capacity (and consumer_utilisation, its older name): the share of time,
 * a moving average with a half-life of one second, that a ready consumer could take the queue's
 * next message at once; 0 without consumers.
 */
double queue_consumer_capacity(const struct queue *q);
/* Its messages paged out (to the store or scratch), and their body bytes. */
void queue_paged_totals(const struct queue *q, uint64_t *count, uint64_t *bytes);
/* What the queue itself holds in memory, in bytes: its entries and structures, not the bodies. */
uint64_t queue_memory(const struct queue *q);
/* The timestamp property of the first ready message, if it is in memory and has one. */
bool queue_head_timestamp(struct queue *q, uint64_t *ts);
void queue_dispatch_pending(void);
void queue_consumer_gone(struct queue *q);
void queue_touch(struct queue *q); /* restart the x-expires timer */

/* A policy changed the queue's settings: qa (taken over) is now in force, applied at once. */
void queue_settings_replace(struct queue *q, struct queue_args *qa);

/* policy.c: policies and operator policies put in force on queues and exchanges. */
/* Combine the policies that apply to queue name in v with qa (its arguments, parsed). */
void policy_queue_args(struct vhost *v, struct amqp_bytes name, struct queue_args *qa);
/* The alternate exchange a policy gives x (malloc'd), or NULL. */
char *policy_exchange_alternate(struct exchange *x);
/* Re-evaluate every queue and exchange of v (its policies changed). */
void policy_vhost_reapply(struct vhost *v);
/* After broker.auth was replaced: re-evaluate the vhosts whose policies differ from old's. */
void policy_reapply_changed(const struct auth_db *old);

/* queue_args.c: x-arguments, checked as RabbitMQ checks them. */
int queue_args_parse(struct amqp_bytes args, struct queue_args *qa, const char *queue,
    const char *vhost, char *err, size_t errlen);
void queue_args_free(struct queue_args *qa);
/*
 * A new queue's type against its arguments and properties, as RabbitMQ 3.10 declares one: a
 * quorum queue takes no x-max-priority, x-queue-master-locator, x-queue-mode or
 * x-queue-version (the first of them in the table is named), and is durable, not auto-delete,
 * not exclusive. stage 0 checks the arguments (before queue_args_parse checks their values),
 * stage 1 the properties (after). 0, or -1 with the reply text in err.
 */
int queue_type_check(struct amqp_bytes args, int stage, bool durable, bool exclusive,
    bool auto_delete, const char *queue, const char *vhost, char *err, size_t errlen);
/* RabbitMQ's name for a field type ("signedint"), and its description of an argument. */
const char *field_type_word(uint8_t t);
void arg_describe(const struct amqp_field_value *v, char *buf, size_t len);
void arg_value(const struct amqp_field_value *v, char *buf, size_t len);
bool arg_int_value(const struct amqp_field_value *v, int64_t *out);

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
/* The ring of the next message to deliver, or NULL (none, or a level being read back first). */
struct qring *queue_head_ring(struct queue *q);

/* deadletter.c */
/* A copy of m for the dead-letter exchange, with x-death recorded; NULL to drop it. */
struct message *deadletter_message(struct queue *q, const struct message *m, const char *reason);
/* Route a dead-lettered message from q through x, skipping cycles. */
void deadletter_route(struct queue *q, struct exchange *x, struct message *dm, const char *reason);
#endif /* WARREN_SERVER_MODEL_H */
