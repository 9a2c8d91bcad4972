/*
 * client.h: helpers around rabbitmq-c, the real client library the interop tests drive the broker
 * with: login with the usual client capabilities, bounded waits for whatever the broker sends next
 * (deliveries, returns, confirms, cancels, closes) with the content reassembled, expectations on
 * channel and connection closes, and builders for argument tables.
 *
 * Every RPC is bounded (amqp_set_rpc_timeout) and so is every wait; nothing blocks forever.
 * Do not include together with raw.h (Warren's codec declares some of the same names).
 */
#ifndef WARREN_INTEROP_CLIENT_H
#define WARREN_INTEROP_CLIENT_H

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include "interop/harness.h"

typedef amqp_connection_state_t conn_t;

/* Login parameters; zero fields take the defaults (guest/guest, "/", the broker's tune). */
struct client_opts {
	int channel_max, frame_max, heartbeat;
	const char *vhost, *user, *password;
	const char *name; /* the connection_name client property, as clients set it */
};

/* Connect and log in (the test fails if that does not work); o may be NULL. */
conn_t client_connect(void);
conn_t client_connect_opts(const struct client_opts *o);
/* Open a channel (fails the test unless channel.open-ok comes back). */
void client_open(conn_t c, amqp_channel_t ch);
/* Close a channel (channel.close 200, expect close-ok). */
void client_close_channel(conn_t c, amqp_channel_t ch);
/* A connection with channel 1 open. */
conn_t client_connect_ch1(void);
/* Close the connection politely (connection.close 200, expect close-ok) and free it. */
void client_close(conn_t c);
/* Free a connection the broker closed (or that is past caring). */
void client_drop(conn_t c);

/* The last RPC must have succeeded. */
void client_ok(conn_t c, const char *what);
#define CHECK_RPC(c, call) ((void)(call), client_ok((c), #call))

/*
 * The last RPC must have failed with channel.close (connection.close) carrying this code and text
 * (see check_reply). Answers close-ok.
 */
void rpc_channel_error(conn_t c, amqp_channel_t ch, int code, const char *text);
void rpc_connection_error(conn_t c, int code, const char *text);
/* Same, for the calls that return their reply instead (amqp_channel_close, amqp_basic_get). */
void reply_channel_error(
    conn_t c, amqp_channel_t ch, amqp_rpc_reply_t r, int code, const char *text);
void reply_connection_error(conn_t c, amqp_rpc_reply_t r, int code, const char *text);
/* Same, for a close that arrives on its own (after an asynchronous method such as a publish). */
void expect_channel_close(conn_t c, amqp_channel_t ch, int code, const char *text);
void expect_connection_close(conn_t c, int code, const char *text);
/* The close's class and method ids, as the last expect_* or rpc_* saw them. */
extern uint16_t close_class_id, close_method_id;

/*
 * What the broker sent: a method, with for content-bearing methods (deliver, get-ok, return) its
 * properties and whole body. Heartbeats are handled by rabbitmq-c and never show up.
 */
struct msg {
	amqp_channel_t channel;
	amqp_method_number_t id;
	void *method; /* the decoded method: amqp_basic_deliver_t *, ... */
	amqp_basic_properties_t *props;
	uint8_t *body; /* malloc'd (NUL-terminated for convenience); free with msg_free */
	size_t body_len;
};
/* The next method within timeout_ms: 1, or 0 if nothing came. A dead connection fails the test. */
int client_next(conn_t c, struct msg *m, int timeout_ms);
/* The next method must be id on ch, within WAIT_MS. */
void client_expect(conn_t c, amqp_channel_t ch, amqp_method_number_t id, struct msg *m);
/* Nothing arrives for ms milliseconds. */
void client_quiet(conn_t c, int ms);
void msg_free(struct msg *m);
/* The next method must be a basic.deliver on ch with this body; returns the delivery tag. */
uint64_t expect_deliver(conn_t c, amqp_channel_t ch, const char *body);
/* basic.get on queue must return this body (no_ack); NULL body means get-empty. */
void expect_get(conn_t c, amqp_channel_t ch, const char *queue, const char *body);
/* basic.get: true and the message in *m (msg_free it), or false for get-empty. */
bool get_msg(conn_t c, amqp_channel_t ch, const char *queue, bool no_ack, struct msg *m);
/* basic.get (acking mode); returns the get-ok's message-count, fills the tag. */
uint32_t get_one(conn_t c, amqp_channel_t ch, const char *queue, const char *body, uint64_t *tag);

/* Publishing; the send must succeed (errors come back asynchronously). */
void publish(conn_t c, amqp_channel_t ch, const char *exchange, const char *rk, const char *body);
void publish_props(conn_t c, amqp_channel_t ch, const char *exchange, const char *rk,
    bool mandatory, const amqp_basic_properties_t *props, const void *body, size_t len);

/*
 * Publish and wait for the broker's confirm (the channel is put in confirm mode): afterwards the
 * message is in its queues. RabbitMQ answers some queries (a passive declare's message count)
 * ahead of deliveries still in flight from the same channel, so tests count after this.
 */
void publish_confirmed(conn_t c, amqp_channel_t ch, const char *exchange, const char *rk,
    const amqp_basic_properties_t *props, const char *body);

/* Declarations that must succeed. */
void declare_queue(conn_t c, amqp_channel_t ch, const char *queue);
void declare_queue_args(conn_t c, amqp_channel_t ch, const char *queue, amqp_table_t args);
void declare_exchange(conn_t c, amqp_channel_t ch, const char *exchange, const char *type);
void bind_queue(
    conn_t c, amqp_channel_t ch, const char *queue, const char *exchange, const char *rk);
void bind_queue_args(conn_t c, amqp_channel_t ch, const char *queue, const char *exchange,
    const char *rk, amqp_table_t args);
/* Start a consumer; returns the consumer tag the broker confirmed (static storage). */
const char *consume(conn_t c, amqp_channel_t ch, const char *queue, const char *tag, bool no_ack);
/* The queue's message count (passive declare). */
uint32_t queue_count(conn_t c, amqp_channel_t ch, const char *queue);
/*
 * The queue is gone (passive declare gets 404) within timeout_ms, checking every interval_ms;
 * uses and reopens channel ch. A passive declare renews an x-expires lease: for those queues the
 * interval must exceed the lease.
 */
void wait_queue_gone(
    conn_t c, amqp_channel_t ch, const char *queue, int timeout_ms, int interval_ms);
/* Whether the queue exists now (passive declare; reopens ch after a 404). */
bool queue_exists(conn_t c, amqp_channel_t ch, const char *queue);
/* Confirms: wait until every tag from 1 to n has been acked (multiple expanded); nacks fail. */
void wait_confirms(conn_t c, amqp_channel_t ch, uint64_t n);

/* Tables: TABLE(ent_int("x-max-length", 1), ent_str("x-overflow", "reject-publish")). */
amqp_table_entry_t ent_int(const char *key, int64_t v); /* 'l' */
amqp_table_entry_t ent_i32(const char *key, int32_t v); /* 'I' */
amqp_table_entry_t ent_str(const char *key, const char *v);
amqp_table_entry_t ent_bool(const char *key, bool v);
amqp_table_entry_t ent_table(const char *key, amqp_table_t v);
#define TABLE(...)                                                                             \
	((amqp_table_t){                                                                       \
	    (int)(sizeof((amqp_table_entry_t[]){ __VA_ARGS__ }) / sizeof(amqp_table_entry_t)), \
	    (amqp_table_entry_t[]){ __VA_ARGS__ } })
/* An entry of a decoded table, or NULL. */
const amqp_field_value_t *table_get(const amqp_table_t *t, const char *key);

amqp_bytes_t B(const char *s); /* amqp_cstring_bytes, short */
/* Whether bytes equal a C string. */
bool bytes_is(amqp_bytes_t b, const char *s);

#endif /* WARREN_INTEROP_CLIENT_H */
