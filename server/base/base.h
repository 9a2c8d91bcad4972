/*
 * base.h: what every layer of warrend uses: logging, allocation that aborts on failure, a hash
 * map, and the settings warren.conf(5) gives (struct broker_config), read by every layer.
 * One event loop (struct event_base) owns all broker state; nothing here is thread-safe unless it
 * says so. The layers, lowest first: base; persistence (persist/) and network (net/); the model
 * (model/); the protocol (proto/); admin (admin/). A file includes its own layer's header, which
 * includes those below it; docs/architecture.md draws them.
 */
#ifndef WARREN_SERVER_BASE_H
#define WARREN_SERVER_BASE_H

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
/*
 * A walk that may pause between steps while the map changes (a scrape streamed over several
 * turns of the loop): each entry present for the whole walk is visited exactly once, entries
 * added or removed meanwhile at most once. A step visits the buckets of one residue class
 * modulo the size the map had when the walk began (growth splits a bucket within its class).
 */
struct hmap_walk {
	size_t n0; /* buckets when the walk began (0: not begun) */
	size_t r;  /* the next class to visit */
	bool done;
};
/* Visit one step's entries with fn; false once the walk is over (then nothing was visited). */
bool hmap_walk_step(
    const struct hmap *m, struct hmap_walk *w, void (*fn)(void *value, void *arg), void *arg);

/*
 * Statistics (docs/management.md): counters are plain integers in the objects they count,
 * incremented where the event happens and never allocated; every STATS_INTERVAL_MS the
 * management sampler (admin/mgmt_stats.c) copies each into its ring, whose last two samples give
 * the rate. Nothing else writes a ring.
 */
#define STATS_INTERVAL_MS 5000
#define STATS_SAMPLES 2
struct rate_ring {
	uint64_t s[STATS_SAMPLES];
};
/* RabbitMQ's message_stats, for queues, channels, and the broker as a whole. */
enum msg_stat {
	/* a queue's (the first QS_COUNT) */
	MS_PUBLISH,
	MS_DELIVER,
	MS_DELIVER_NO_ACK,
	MS_GET,
	MS_GET_NO_ACK,
	MS_ACK,
	MS_REDELIVER,
	/* a channel's and the broker's besides */
	MS_CONFIRM,
	MS_RETURN_UNROUTABLE,
	MS_DROP_UNROUTABLE,
	MS_GET_EMPTY,
	MS_COUNT
};
#define QS_COUNT (MS_REDELIVER + 1)
struct msg_stats {
	uint64_t n[MS_COUNT];
	struct rate_ring ring[MS_COUNT];
};
/*
 * A queue's, smaller, for there may be a hundred thousand queues, most of them idle: the counters,
 * the low 32 bits of each at the last sample, and, only while the queue is active (a counter moved
 * in the last interval), what each moved by in that interval (the sampler allocates and frees it).
 * 96 bytes a queue (88 and a pointer), and 28 more while active.
 */
struct queue_rates {
	uint32_t delta[QS_COUNT];
};
struct queue_stats {
	uint64_t n[QS_COUNT];
	uint32_t last[QS_COUNT];
	struct queue_rates *rates;
};
/* A connection's socket traffic. */
enum io_stat { IO_RECV_OCT, IO_RECV_CNT, IO_SEND_OCT, IO_SEND_CNT, IO_COUNT };
struct io_stats {
	uint64_t n[IO_COUNT];
	struct rate_ring ring[IO_COUNT];
};

/* The settings warren.conf(5) gives (config.c fills them; broker.cfg holds those in force). */
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
	uint32_t consumer_timeout;          /* ms a delivery may stay unacked (0: no limit) */
	size_t out_high, out_low;           /* per-connection output watermarks for deliveries */
	bool guest_loopback_only;
	bool proxy_protocol; /* every AMQP connection starts with a PROXY protocol header */
};
enum alarm { ALARM_MEMORY = 1, ALARM_DISK = 2, ALARM_STORE = 4 };

#endif /* WARREN_SERVER_BASE_H */
