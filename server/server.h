/*
 * server.h: warrend's folder-private header, grouped by file so it reads as a table of contents;
 * the model, protocol and persistence layers' sections are model.h, proto.h and persist.h, which
 * it includes (no .c file includes them itself).
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
 * in here too. accepted, alarm, consumer_cancel and load_done may be left NULL (skipped, as in the
 * unit tests that build a broker alone); consumer_ready and consumer_deliver are called only for
 * consumers, which only the protocol layer makes. All run on the event loop's thread.
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

/* The layers' sections, in the order they build on each other. */
#include "server/model.h"
#include "server/persist.h"
#include "server/proto.h"

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
