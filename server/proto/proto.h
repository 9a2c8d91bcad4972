/*
 * proto.h: the protocol layer: connections (life, reading, writing), the handshake, channels,
 * the dispatch table and the method handlers, direct reply-to.
 */
#ifndef WARREN_SERVER_PROTO_H
#define WARREN_SERVER_PROTO_H

#include "server/model/model.h"
#include "server/net/net.h"

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
/*
 * access.c: a password check on auth's pool for whoever embeds this (a connection's login, an HTTP
 * request): done(w, result, why) runs on the loop with AUTH_OK, AUTH_E_REFUSED or
 * AUTH_E_UNAVAILABLE (why says why then, else "").
 */
struct access_wait {
	void (*done)(struct access_wait *w, int result, const char *why);
};
struct conn_caps {
	bool auth_failure_close, cancel_notify, blocked, confirms, nack, e2e_bindings,
	    per_consumer_qos;
};
struct conn_hold;
struct conn {
	LIST_ENTRY(conn) entry;
	struct bufferevent *bev;
	enum conn_state state;
	char peer[128];
	bool loopback;
	char *user;
	char *refusal; /* a cluster replica that cannot serve: answers start-ok with 320 and this */
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
	bool io_failed;                /* the socket (or TLS) reported an error: no close_notify */
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
	/* output held until the store's batches are durable (conn_hold), and the last one's number */
	unsigned holds;
	uint64_t hold_gen;
	size_t hold_from; /* the output's length when the holding began: what follows is held */
	LIST_HEAD(, conn_hold) holdings;
	char mechanism[16];
	uint8_t
	    *client_props; /* start-ok's client properties as sent (a field table), for the API */
	uint32_t client_props_len;
	struct access_wait login_wait; /* its password check on the pool */
	struct io_stats io;            /* bytes and socket calls, both ways (direct sockets) */
	uint64_t connected_at;         /* wall-clock ms */
	uint64_t serial;               /* unique in this process, for the API's lists */
};
/* Every connection not yet freed, for the management API: the first, then LIST_NEXT(c, entry). */
struct conn *conn_first(void);
void conn_accept(
    struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls, const char *refusal);
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
/*
 * Send method + content header + body frames split at the connection's frame_max; with a
 * delivery_count above 0 (a returned message), its headers carry x-delivery-count.
 */
void conn_send_content(struct conn *c, uint16_t channel, const struct amqp_method *m,
    const struct message *msg, uint32_t delivery_count);
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
/*
 * Nothing more goes out on c (what is in its output, and what is added) until this turn's store
 * batch is durable: a delivery that persistence says must wait for it (persist_delivered). A
 * closing connection writes what it holds regardless.
 */
void conn_hold(struct conn *c);
/*
 * The broker closes c: what its holds kept back goes unsent (deliveries not yet recorded by the
 * group are requeued with the connection, and a new master sends them again), on plain and TLS
 * connections alike.
 */
void conn_drop_held(struct conn *c);
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
	uint32_t delivery_count; /* the entry's, as delivered: a requeue adds one */
	uint32_t delivered_ms;   /* now_ms() when delivered (it wraps): for consumer_timeout */
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
	struct msg_stats stats;                /* what it published, confirmed, got, acked (mgmt) */
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
 * consumer_timeout, as RabbitMQ's: a channel whose oldest unacked delivery is older than
 * timeout_ms (now: now_ms(), truncated as delivered_ms) is closed with 406; its deliveries go
 * back to their queues.
 */
void channel_check_ack_timeout(struct channel *ch, uint32_t now, uint32_t timeout_ms);
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
bool check_binding(struct channel *ch, uint32_t mid, struct exchange *x, struct amqp_bytes key,
    struct amqp_bytes args);
void generate_name(const char *prefix, char *out, size_t outlen);
/* A complete basic.publish: route it and deliver (or hold it for tx.commit). */
void basic_publish_complete(struct channel *ch);
/*
 * Route v's message through x (NULL: gone) into every queue it reaches (BCC stripped), as a
 * publish does: the number of queues; rejected when one refused it (x-overflow), stored when
 * one wrote it to the store (wait before confirming), long_queue when one is past FLOW_QUEUE_LEN.
 * The caller keeps its reference.
 */
size_t basic_enqueue(
    struct exchange *x, struct msg_view *v, bool *rejected, bool *stored, bool *long_queue);
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

/* channel.c: confirms and replies that wait for this turn's store writes. */
/* Confirm seq on ch when the store has made this turn's writes durable (false: nothing pending). */
bool channel_confirm_after_store(struct channel *ch, uint64_t seq);
/* Send a reply once this turn's store writes are durable (a declare-ok means "it will survive"). */
void reply_after_store(struct channel *ch, const struct amqp_method *m);
/* The same for frames already encoded (a reply and what must follow it). */
void reply_frames_after_store(struct channel *ch, const uint8_t *frames, size_t len);

/* consumer.c: the protocol layer's side of a consumer (queues reach it through broker.events). */
void consumer_unref(struct consumer *c);
/* Can c take one more message now? */
bool consumer_ready(const struct consumer *c);
/* Deliver m to c (writes basic.deliver and the content); takes over the entry. */
void consumer_deliver(struct consumer *c, struct qentry *e);
/* Remove c from its queue (and channel); if notify, send basic.cancel to the client. */
void consumer_cancel(struct consumer *c, bool notify);

/* access.c: users, vhosts and permissions (auth/) as the broker applies them. */
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
/*
 * Check cr off the loop for w (user and password are copied): 1 when queued (w->done follows),
 * or answered at once: AUTH_OK (a success the pool's cache knows, or no pool), AUTH_E_REFUSED
 * (no pool), AUTH_E_BUSY (too many checks waiting).
 */
int access_check_password(struct access_wait *w, const struct auth_credentials *cr);
/* w's check is forgotten: its done will not run. */
void access_check_cancel(struct access_wait *w);
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

#endif /* WARREN_SERVER_PROTO_H */
