/*
 * admin.h: the admin layer: the configuration file, reloads, the control socket and main().
 */
#ifndef WARREN_SERVER_ADMIN_H
#define WARREN_SERVER_ADMIN_H

#include "server/proto/proto.h"

/* The management HTTP API's settings (warren.conf(5) management_*). */
struct mgmt_config {
	const char *listen;     /* ADDR:PORT, or "none" */
	const char *tls_listen; /* HTTPS (amqps' TLS context): ADDR:PORT, or "none" */
	size_t max_headers;     /* bytes of request line and headers */
	size_t max_body;        /* bytes of a request body */
	unsigned timeout;       /* seconds a client may stay silent (or not read) */
	unsigned sample_ms;     /* collect_statistics_interval: the rates' sample interval */
};
#define MGMT_DEFAULT_LISTEN "127.0.0.1:15672"
/* The Prometheus endpoint (warren.conf(5) prometheus_listen): ADDR:PORT, or "none". */
#define PROM_DEFAULT_LISTEN "127.0.0.1:15692"

/* main.c */
/* cluster.c: a cluster node's keys of warren.conf (docs/cluster.md). */
#define CLUSTER_MAX_PEERS 15
struct cluster_options {
	char *host; /* cluster_listen; NULL: a single node */
	unsigned port;
	char *peer_hosts[CLUSTER_MAX_PEERS];
	unsigned peer_ports[CLUSTER_MAX_PEERS];
	size_t npeers;
	bool join;
	unsigned priority, ack_timeout_ms, heartbeat_ms, heartbeat_timeout_ms, retry_ms;
	char *advertise_amqp, *advertise_amqps; /* HOST:PORT replicas forward to; NULL: derived */
};

struct server_options {
	const char *config_file;
	const char *listen[SERVER_MAX_LISTENERS];
	int nlisten;
	const char *listen_tls[SERVER_MAX_LISTENERS];
	int nlisten_tls;
	const char *data_dir;
	const char *control_socket; /* NULL: DATA_DIR/control.sock; "none": no control socket */
	enum log_level log_level;
	struct mgmt_config mgmt;
	const char *prometheus_listen; /* ADDR:PORT, or "none" */
	struct cluster_options cluster;
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

/* cluster.c */
void cluster_config_defaults(struct cluster_options *c);
/* One cluster_* key: NULL, or the reason the value is wrong. */
const char *cluster_config_apply(struct cluster_options *c, const char *key, const char *value);
/* The keys together (after the file): NULL, or what is wrong. */
const char *cluster_config_check(const struct cluster_options *c);
/*
 * Open the store replicated (instead of persist_open) and follow the role: AMQP listeners once
 * master; on losing the master role, every connection closed with 320 and the loop stopped, after
 * which main calls cluster_reexec_if_demoted. 0, or -1 with err.
 */
int cluster_open(struct event_base *base, const struct server_options *opt, char **argv, char *err,
    size_t errlen);
/*
 * Once the listeners are open (a cluster node listens as a single node does, and forwards or
 * refuses while a replica): what this node will tell replicas, while master, that it serves AMQP
 * on. 0, or -1 with err when no address can be advertised.
 */
int cluster_advertise(char *err, size_t errlen);
void cluster_free(void);
/*
 * After the loop: if this node lost the master role, execute warrend again (or, if SIGTERM or
 * SIGINT came meanwhile, exit 0 at once); does not return then. Else nothing.
 */
void cluster_reexec_if_demoted(void);

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

/* http.c: the management HTTP API (docs/management.md). */
/* Listen on mc->listen and serve /api/; the bound address goes to ready_fd as "ADDR:PORT http". */
int http_start(struct event_base *base, const struct mgmt_config *mc, int ready_fd);
/*
 * An evhttp listener on addr ("ADDR:PORT", "[V6]:PORT"; port 0 picks one) with these limits and
 * every method RabbitMQ's API takes, requests to cb (https: over amqps' TLS context): the bound
 * address into bound, or NULL with the reason logged as "KEY ADDR: ...".
 */
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct http_limits {
	size_t max_headers, max_body; /* bytes */
	unsigned timeout;             /* seconds a client may stay silent */
};
struct evhttp *http_listener(struct event_base *base, const char *key, const char *addr,
    const struct http_limits *lim, void (*cb)(struct evhttp_request *, void *), bool https,
    struct evhttp_bound_socket **sock, char *bound, size_t boundlen);
/* Stop accepting (shutdown); requests in progress go on until http_free. */
void http_stop_listening(void);
void http_free(void);

/* prom_http.c: the Prometheus endpoint (docs/management.md), without authentication. */
/* Listen on listen and serve /metrics; the bound address goes to ready_fd as "ADDR:PORT prometheus". */
int prom_start(struct event_base *base, const char *listen, int ready_fd);
/* Stop accepting; scrapes in progress go on until prom_free. */
void prom_stop_listening(void);
void prom_free(void);

#endif /* WARREN_SERVER_ADMIN_H */
