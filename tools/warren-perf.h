/*
 * warren-perf.h: the parts of warren-perf, the load generator, and what they share.
 *
 * warren-perf.c parses the options, declares the topology, starts one thread per producer,
 * consumer or churn worker and prints the progress and the summary. warren-perf-conn.c is the
 * client side of one AMQP connection on a raw socket, built on Warren's codec: handshake,
 * synchronous calls, buffered non-blocking reads and writes. warren-perf-worker.c holds the
 * threads. warren-perf-stats.c holds the latency histogram and the counters the threads publish
 * to the reporting thread.
 *
 * Ownership: main owns the options and the worker array for the whole run; each worker thread
 * owns its connection and writes only its own counters and histogram, which the main thread
 * reads with relaxed atomic loads while the worker runs.
 */
#ifndef WARREN_PERF_H
#define WARREN_PERF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "amqp/amqp.h"

/* ---- Options (warren-perf.c) ---- */

enum perf_xtype { PERF_DIRECT, PERF_FANOUT, PERF_TOPIC };

struct perf_opts {
	/* the broker */
	char host[256];
	int port;
	char user[256], password[256], vhost[256];
	/* the topology */
	int producers, consumers, queues;
	const char *queue_pattern; /* printf pattern with one %d */
	const char *exchange;      /* NULL: "warren-perf-" and the type */
	enum perf_xtype xtype;
	const char *routing_key, *binding_key; /* NULL: derived from the queue name */
	bool cleanup;                          /* delete the queues and the exchange at the end */
	const char *dispatch;   /* the queues' x-dispatch argument (Warren's), or NULL: none */
	const char *queue_type; /* the queues' x-queue-type argument (quorum...), or NULL: none */
	/* producers */
	size_t size;
	bool persistent, mandatory;
	bool properties;  /* the properties an application's message carries, headers included */
	uint32_t confirm; /* window; 0: no confirms */
	double rate;      /* per producer, msg/s; 0: unlimited */
	uint64_t pmessages;
	uint32_t batch; /* messages per write at most */
	/* consumers */
	uint16_t prefetch;
	uint32_t multi_ack;
	bool autoack;
	uint64_t cmessages;
	bool drain; /* consumer only: stop once the messages queued at the start are delivered */
	/* the run */
	double time; /* seconds; 0: until the message counts are reached */
	bool churn;
	int idle_connections; /* held open (one channel each, no traffic) for the run */
	bool json, quiet;
};

/* ---- Clock ---- */

static inline uint64_t perf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Counters and the latency histogram (warren-perf-stats.c) ---- */

/* Log-linear buckets: 32 per power of two (about 3% wide), values in ns up to 2^40 ns. */
#define PERF_HIST_SUB 32
#define PERF_HIST_BUCKETS (64 + (40 - 6) * PERF_HIST_SUB)

/*
 * A histogram has one writer, its worker thread, which bumps a bucket with a relaxed load and
 * store (no locked instruction); other threads only read it.
 */
struct perf_hist {
	_Atomic uint64_t n[PERF_HIST_BUCKETS];
	_Atomic uint64_t max;
};
void perf_hist_add(struct perf_hist *h, uint64_t ns);
/* dst = the sum of the srcs' buckets (a snapshot). */
void perf_hist_sum(uint64_t *dst, const struct perf_hist *src);
/* The value at quantile q (0..1) of a bucket array, in ns; 0 when empty. */
uint64_t perf_hist_quantile(const uint64_t *n, double q);
uint64_t perf_hist_count(const uint64_t *n);

/* Single-writer counter: a relaxed load and store, no locked instruction. */
static inline void perf_count(_Atomic uint64_t *c, uint64_t k)
{
	atomic_store_explicit(
	    c, atomic_load_explicit(c, memory_order_relaxed) + k, memory_order_relaxed);
}
static inline uint64_t perf_get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- Connection (warren-perf-conn.c) ---- */

struct perf_conn {
	int fd;
	uint8_t *in; /* received bytes, in[in_off .. in_len) not yet parsed */
	size_t in_off, in_len, in_cap;
	uint8_t *out; /* bytes queued with perf_conn_queue, out[out_off .. out_len) unsent */
	size_t out_off, out_len, out_cap;
	uint32_t frame_max;
	bool eof;
	char error[256]; /* the first failure, for the report */
};

/* Connect, run the handshake and open channel 1; on failure c->error says why. */
int perf_conn_open(struct perf_conn *c, const struct perf_opts *o);
/* connection.close, wait for close-ok (skipping anything else) and the broker's EOF, then free. */
void perf_conn_close(struct perf_conn *c);
/* Close the socket and free the buffers at once. */
void perf_conn_free(struct perf_conn *c);
/* Record the first error (printf-style); returns -1. */
int perf_conn_fail(struct perf_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a method frame on channel 1 to the output queue. */
int perf_conn_queue_method(struct perf_conn *c, const struct amqp_method *m);
/* Append raw bytes to the output queue. */
void perf_conn_queue(struct perf_conn *c, const void *p, size_t n);
/* Send as much of the output queue as the socket takes now; -1 on error. */
int perf_conn_flush(struct perf_conn *c);
/* Send as much of p as the socket takes now: bytes sent (maybe 0), or -1 on error. */
long perf_conn_send_some(struct perf_conn *c, const void *p, size_t n);
/*
 * Wait until the socket is readable (or writable, if want_write) or timeout_ns passes, then read
 * what is there. Returns 1 if bytes arrived, 0 if not, -1 on EOF or error. Frames returned before
 * are invalid afterwards (the buffer moves).
 */
int perf_conn_wait(struct perf_conn *c, bool want_write, int64_t timeout_ns);
/* The next whole frame in the buffer: 1 (*f filled), 0 (need more), -1 (malformed). */
int perf_conn_next_frame(struct perf_conn *c, struct amqp_frame *f);
/*
 * Send m on channel 1 and wait up to timeout_ms for the method reply_id on channel 1, decoded into
 * *reply (which points into the buffer). A channel.close or connection.close fails the call.
 */
int perf_conn_call(struct perf_conn *c, const struct amqp_method *m, uint32_t reply_id,
    struct amqp_method *reply, int timeout_ms);
/*
 * Handle a method that may come at any time: connection.close and channel.close (answered, then
 * -1 with the reason in c->error), blocked/unblocked (*blocked updated), heartbeats. Returns 1 if
 * it was one of those, 0 otherwise.
 */
int perf_conn_handle_async(struct perf_conn *c, const struct amqp_method *m, bool *blocked);

/* ---- Workers (warren-perf-worker.c) ---- */

enum perf_role { PERF_PRODUCER, PERF_CONSUMER, PERF_CHURN };

struct perf_run;

struct perf_worker {
	enum perf_role role;
	int id;
	struct perf_run *run;
	pthread_t thread;
	char queue[256];       /* the queue it publishes to (by routing key) or consumes from */
	char routing_key[256]; /* producers */
	_Atomic uint64_t published, confirmed, nacked, returned, delivered, cycles, blocked;
	_Atomic uint64_t last_ns; /* when it last published (producer) or received (consumer) */
	_Atomic bool done;        /* the thread has finished */
	bool failed;
	char error[300];
	struct perf_hist lat; /* end-to-end latency (consumers), connection cycle time (churn) */
};

/* What the threads share with main for the whole run. */
struct perf_run {
	const struct perf_opts *o;
	const char *exchange; /* the exchange publishes go to */
	uint64_t start_ns;    /* producers start publishing */
	_Atomic bool stop;    /* main tells every worker to finish */
	/* Consumers count themselves in once their basic.consume-ok arrived; producers wait for it. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ready; /* consumers that are consuming, or have failed trying */
};

void *perf_producer_main(void *arg);
void *perf_consumer_main(void *arg);
void *perf_churn_main(void *arg);
/* queue.declare name on c with the run's flags; *count (if not NULL) gets its message count. */
int perf_queue_declare(
    struct perf_conn *c, const struct perf_opts *o, const char *name, uint32_t *count);
/* Queue name number i, from the pattern. */
void perf_queue_name(const struct perf_opts *o, int i, char *buf, size_t cap);
/* The body bytes that carry the send time: min(size, 8), or 0 below 4 (no latency). */
size_t perf_stamp_len(size_t size);

#endif /* WARREN_PERF_H */
