/*
 * prom.h: the Prometheus endpoint's files, private to them: prom_http.c (the listener on
 * prometheus_listen, a scrape's request, its streamed answer) and prom.c (the metric families of
 * rabbitmq_prometheus 3.10 and where Warren's values come from). Everything runs on the event
 * loop's thread. docs/management.md lists the families and those left out.
 *
 * A scrape's answer is written family by family into a buffer that prom_http.c sends as one
 * chunk each time it passes PROM_CHUNK bytes; the next chunk is written once the client has taken
 * the last. Between chunks the broker goes on, so the position kept in struct prom_req survives
 * queues, connections and exchanges coming and going: a queue is held by a reference, a
 * connection is found again by its serial, a vhost's exchanges are walked with a struct
 * hmap_walk.
 */
#ifndef WARREN_SERVER_ADMIN_PROM_H
#define WARREN_SERVER_ADMIN_PROM_H

#include "server/admin/admin.h"

/* A chunk is sent once the buffer holds this much (about 64 KiB, as the management API's). */
#define PROM_CHUNK 65536
/* At most this many vhost= filters in a query (more is 400). */
#define PROM_MAX_VHOSTS 64

/* The three endpoints. */
enum prom_mode { PROM_AGGREGATED, PROM_PER_OBJECT, PROM_DETAILED };

/*
 * rabbitmq_prometheus's metric groups, named in /metrics/detailed?family=...: prom.c's table
 * maps each name to a bit. Warren fills some of them only partly, and some not at all (their
 * names are accepted and yield nothing).
 */
enum prom_group {
	PG_CONNECTION_CHURN,
	PG_NODE_COARSE,
	PG_NODE,
	PG_NODE_PERSISTER,
	PG_RA,
	PG_AUTH,
	PG_AUTH_DETAILED,
	PG_QUEUE_COARSE,
	PG_QUEUE_CONSUMER_COUNT,
	PG_QUEUE,
	PG_CHANNEL,
	PG_CHANNEL_EXCHANGE,
	PG_CHANNEL_PROCESS,
	PG_CHANNEL_QUEUE,
	PG_CONNECTION_COARSE,
	PG_CONNECTION,
	PG_CHANNEL_QUEUE_EXCHANGE,
	PG_VHOST_STATUS,
	PG_EXCHANGE_BINDINGS,
	PG_EXCHANGE_NAMES,
	PG_COUNT,
	PG_ALWAYS = PG_COUNT /* a family not in a group (build_info, identity_info) */
};

/* Sums over every queue, channel and connection, for /metrics (prom.c). */
struct prom_sums {
	uint64_t q[16], ch[8], c[8];
	uint64_t consumers, publishers, queues;
};

/* One scrape. */
struct prom_req {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	bool gone; /* the client went away */
	enum prom_mode mode;
	uint32_t groups;               /* detailed: bits (1 << enum prom_group) asked for */
	char *vhosts[PROM_MAX_VHOSTS]; /* detailed: the vhost= filter, or none */
	size_t nvhosts;
	struct prom_sums sums;
	/* where the answer is */
	size_t family;          /* index in prom.c's table */
	bool header_done;       /* the family's TYPE and HELP lines are written */
	bool object_started;    /* its walk over objects has begun */
	struct queue *qnext;    /* the next queue to write (held), or NULL at the start or end */
	uint64_t conn_serial;   /* the last connection written (0: none yet) */
	struct hmap_walk vwalk; /* exchange families: the walk over vhosts ... */
	char *vhost;            /* ... the vhost being walked (its name: it may go) */
	struct hmap_walk xwalk; /* ... and the walk over its exchanges */
	struct evbuffer *out;   /* what the current chunk holds */
};

/* prom.c */
/* The group named name (RabbitMQ's family name), or -1. */
int prom_group_by_name(const char *name);
/* Begin a scrape (its mode and filters set): the sums /metrics needs. */
void prom_begin(struct prom_req *p);
/* Write more of the answer into p->out, up to about PROM_CHUNK bytes: true when it is complete. */
bool prom_fill(struct prom_req *p);
/* Let go of what the position holds (the queue reference, the vhost name). */
void prom_release(struct prom_req *p);

#endif /* WARREN_SERVER_ADMIN_PROM_H */
