/*
 * raw.h: a client on a raw TCP socket, built on Warren's codec (amqp/amqp.h), for the tests that
 * need exact control of the bytes on the wire: handshakes, heartbeats, malformed and hostile frames.
 *
 * Every read is bounded by a timeout and returns RAW_FRAME, RAW_TIMEOUT or RAW_EOF; anything the
 * broker sends that does not parse as a frame fails the test. A returned frame (and a method
 * decoded from it) points into the connection's buffer and stays valid until the next read.
 * Do not include together with client.h (rabbitmq-c declares some of the same names).
 */
#ifndef WARREN_INTEROP_RAW_H
#define WARREN_INTEROP_RAW_H

#include "amqp/amqp.h"
#include "interop/harness.h"

enum { RAW_EOF = -1, RAW_TIMEOUT = 0, RAW_FRAME = 1 };

/* For raw_expect_*_close: do not check the class and method ids of the close. */
#define RAW_ANY_METHOD 0xFFFFFFFFu

/* A growable byte buffer for building frames and tables by hand (big-endian). */
struct wbuf {
	uint8_t *p;
	size_t len, cap;
};

struct raw {
	int fd;
	uint8_t *buf; /* bytes received and not yet consumed */
	size_t have, cap;
	size_t drop;        /* length of the frame last returned, dropped on the next read */
	bool eof;           /* the broker closed (or reset) the connection */
	uint32_t frame_max; /* negotiated in tune-ok; 4096 before */
	uint16_t channel_max, heartbeat;
	/* The broker's connection.start (copied) and connection.tune. */
	uint8_t *start_payload;
	size_t start_len;
	struct amqp_connection_start start;
	struct amqp_connection_tune tune;
	/* Between raw_cork and raw_uncork, writes collect here and go out in one send. */
	struct wbuf out;
	bool corked;
};

/* Login parameters; zero fields take the defaults (guest/guest, "/", PLAIN, the broker's tune). */
struct raw_opts {
	const char *user, *password, *vhost, *mechanism;
	uint16_t channel_max;
	uint32_t frame_max;
	uint16_t heartbeat;
	bool no_capabilities; /* send client-properties without a capabilities table */
};

void wb_bytes(struct wbuf *w, const void *p, size_t n);
void wb_u8(struct wbuf *w, uint8_t v);
void wb_u16(struct wbuf *w, uint16_t v);
void wb_u32(struct wbuf *w, uint32_t v);
void wb_u64(struct wbuf *w, uint64_t v);
void wb_shortstr(struct wbuf *w, const char *s);
void wb_longstr(struct wbuf *w, const void *p, size_t n);
/* Patch a big-endian u32 at offset (for a table's length written after its entries). */
void wb_put_u32_at(struct wbuf *w, size_t offset, uint32_t v);
void wb_free(struct wbuf *w);

/* Connect to the group's broker (or to host:port). */
void raw_connect(struct raw *r);
void raw_connect_to(struct raw *r, const char *host, int port);
void raw_close(struct raw *r);

/* Write all bytes; the first fails the test on error, the second returns -1 (peer gone). */
void raw_write(struct raw *r, const void *p, size_t n);
/*
 * Collect what the next raw_* calls write and send it in one write at raw_uncork, so that the
 * broker reads the frames together (one read, for what fits its buffer).
 */
void raw_cork(struct raw *r);
void raw_uncork(struct raw *r);
int raw_write_try(struct raw *r, const void *p, size_t n);
void raw_send_frame(struct raw *r, uint8_t type, uint16_t channel, const void *payload, size_t n);
void raw_send_method(struct raw *r, uint16_t channel, const struct amqp_method *m);
/* A content header and body frames cut to the negotiated frame_max; props may be NULL. */
void raw_send_content(struct raw *r, uint16_t channel, const struct amqp_basic_properties *props,
    const void *body, size_t n);
void raw_publish(struct raw *r, uint16_t channel, const char *exchange, const char *routing_key,
    const void *body, size_t n);

/* Read one frame within timeout_ms. */
int raw_read(struct raw *r, struct amqp_frame *f, int timeout_ms);
/* Read n raw bytes (not frames); returns how many arrived before EOF or the timeout. */
size_t raw_read_bytes(struct raw *r, void *out, size_t n, int timeout_ms);
/* The next method frame, skipping heartbeats; any other frame fails the test. */
int raw_next_method(struct raw *r, uint16_t *channel, struct amqp_method *m, int timeout_ms);
/* The next frame must be method id on channel, within WAIT_MS. m may be NULL. */
void raw_expect_method(struct raw *r, uint16_t channel, uint32_t id, struct amqp_method *m);
/* After a content method: its header and body, reassembled; *body is malloc'd (free it). */
void raw_expect_content(
    struct raw *r, uint16_t channel, struct amqp_content_header *h, uint8_t **body);
/*
 * The next method must be connection.close (channel.close) with this code and text (see
 * check_reply), for the method id (AMQP_METHOD_ID(class, method), 0 for none, RAW_ANY_METHOD).
 * Answers close-ok; for a connection, then expects the broker to close the socket.
 */
void raw_expect_connection_close(struct raw *r, int code, const char *text, uint32_t method_id);
void raw_expect_channel_close(
    struct raw *r, uint16_t channel, int code, const char *text, uint32_t method_id);
/* The broker closes the socket within timeout_ms, sending nothing but heartbeats first. */
void raw_expect_eof(struct raw *r, int timeout_ms);
/* Nothing but heartbeats arrives for ms milliseconds. */
void raw_expect_quiet(struct raw *r, int ms);

/* Handshake steps, each checking the broker's answer. */
void raw_hello(struct raw *r); /* protocol header; expect connection.start */
void raw_start_ok(struct raw *r, const struct raw_opts *o);
void raw_expect_tune(struct raw *r);
void raw_tune_ok(struct raw *r, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat);
void raw_open(struct raw *r, const char *vhost); /* expect open-ok */
/* Connect and run the whole handshake (o may be NULL). */
void raw_login(struct raw *r, const struct raw_opts *o);
void raw_channel_open(struct raw *r, uint16_t channel);
/* A round trip on an open channel (basic.qos 0/0 and its -ok): the broker is alive and caught up. */
void raw_ping(struct raw *r, uint16_t channel);

/* Method builders for the common cases. */
void raw_queue_declare(struct raw *r, uint16_t channel, const char *queue);
void raw_basic_get(struct raw *r, uint16_t channel, const char *queue, bool no_ack);

#endif /* WARREN_INTEROP_RAW_H */
