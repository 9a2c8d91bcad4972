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
	uint64_t q[20], ch[8], c[8];
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

/* What a family's samples are about: which objects, so which labels. */
enum prom_src {
	S_NODE,      /* one sample for the node */
	S_AUTH,      /* one per protocol: protocol="http", protocol="amqp091" */
	S_QUEUE,     /* one per queue: vhost, queue (the sum on /metrics) */
	S_QPUB,      /* one per queue: queue_vhost, queue */
	S_CHANNEL,   /* one per channel: channel */
	S_CONN,      /* one per connection: channel (RabbitMQ's label name), its name */
	S_VHOST,     /* one per vhost: vhost */
	S_EXCHANGE,  /* one per exchange but the default and internal ones: vhost, exchange, type */
	S_INFO,      /* build_info and identity_info: labels, value 1 */
	S_GLOBAL,    /* rabbitmq_global_*: protocol="amqp091" */
	S_GLOBAL_QT, /* ... and queue_type, for each of RabbitMQ's three queue types */
};

/* Where a family's name begins. */
enum prom_prefix {
	PX_CORE,    /* rabbitmq_, or rabbitmq_detailed_ on /metrics/detailed */
	PX_CLUSTER, /* rabbitmq_cluster_ (on /metrics/detailed) */
	PX_RABBIT,  /* rabbitmq_ */
	PX_NONE,
};

/* S_NODE values. */
enum {
	V_START_TIME,
	V_ALARM_DISK,
	V_ALARM_MEMORY,
	V_CONNS_OPENED,
	V_CONNS_CLOSED,
	V_CHANNELS_OPENED,
	V_CHANNELS_CLOSED,
	V_QUEUES_DECLARED,
	V_QUEUES_CREATED,
	V_QUEUES_DELETED,
	V_OPEN_FDS,
	V_OPEN_SOCKETS,
	V_RSS,
	V_DISK_FREE,
	V_MAX_FDS,
	V_MAX_SOCKETS,
	V_MEMORY_LIMIT,
	V_DISK_LIMIT,
	V_UPTIME,
	V_CONNECTIONS,
	V_CHANNELS,
	V_CONSUMERS,
	V_QUEUES,
};
/* S_AUTH values. */
enum { A_TOTAL, A_OK, A_FAILED };
/* S_QUEUE and S_QPUB values (indexes of prom_sums.q). */
enum {
	Q_READY,
	Q_UNACKED,
	Q_MESSAGES,
	Q_CONSUMERS,
	Q_RAM,
	Q_RAM_BYTES,
	Q_READY_RAM,
	Q_UNACKED_RAM,
	Q_BYTES,
	Q_READY_BYTES,
	Q_UNACKED_BYTES,
	Q_PAGED,
	Q_PAGED_BYTES,
	Q_MEMORY,
	Q_PUBLISHED,
	/* per object only: not summed */
	Q_CAPACITY,
	Q_HEAD_TS,
	Q_COUNT
};
/* S_CHANNEL values: gauges (indexes of prom_sums.ch), then the message counters (C_MS + MS_*). */
enum {
	C_CONSUMERS,
	C_UNACKED,
	C_UNCONFIRMED,
	C_UNCOMMITTED,
	C_ACKS_UNCOMMITTED,
	C_PREFETCH,
	C_GLOBAL_PREFETCH,
	C_GAUGES,
	C_MS = C_GAUGES
};
/* S_CONN values (indexes of prom_sums.c). */
enum { N_RECV_OCT, N_SEND_OCT, N_RECV_CNT, N_SEND_CNT, N_CHANNELS, N_COUNT };
/* S_INFO values. */
enum { I_BUILD, I_IDENTITY };
/* S_GLOBAL and S_GLOBAL_QT values. */
enum {
	G_CONSUMERS,
	G_ACKED,
	G_CONFIRMED,
	G_CONSUME_AUTO_ACK,
	G_CONSUME_MANUAL_ACK,
	G_GET_AUTO_ACK,
	G_GET_MANUAL_ACK,
	G_DELIVERED,
	G_GET_EMPTY,
	G_RECEIVED_CONFIRM,
	G_RECEIVED,
	G_REDELIVERED,
	G_ROUTED,
	G_DROPPED,
	G_RETURNED,
	G_PUBLISHERS,
};
_Static_assert(Q_COUNT <= sizeof(((struct prom_sums *)0)->q) / sizeof(uint64_t), "sums.q");
_Static_assert(C_GAUGES <= sizeof(((struct prom_sums *)0)->ch) / sizeof(uint64_t), "sums.ch");
_Static_assert(N_COUNT <= sizeof(((struct prom_sums *)0)->c) / sizeof(uint64_t), "sums.c");

#define M_AGG (1u << PROM_AGGREGATED)
#define M_OBJ (1u << PROM_PER_OBJECT)
#define M_DET (1u << PROM_DETAILED)
#define M_ALL (M_AGG | M_OBJ | M_DET)
#define M_TOP (M_AGG | M_OBJ)

struct prom_family {
	uint8_t modes;  /* the endpoints that write it (M_*) */
	uint8_t group;  /* enum prom_group, or PG_ALWAYS */
	uint8_t src;    /* enum prom_src */
	uint8_t prefix; /* enum prom_prefix */
	uint8_t value;  /* which value of its source */
	const char *name, *type, *help;
};

/* prom_families.c: the families, in rabbitmq_prometheus's order. */
extern const struct prom_family prom_families[];
extern const size_t prom_nfamilies;
/* The group named name (RabbitMQ's family name), or -1. */
int prom_group_by_name(const char *name);

/* prom.c */
/* Begin a scrape (its mode and filters set): the sums /metrics needs. */
void prom_begin(struct prom_req *p);
/* Write more of the answer into p->out, up to about PROM_CHUNK bytes: true when it is complete. */
bool prom_fill(struct prom_req *p);
/* Let go of what the position holds (the queue reference, the vhost name). */
void prom_release(struct prom_req *p);

#endif /* WARREN_SERVER_ADMIN_PROM_H */
