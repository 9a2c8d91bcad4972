/*
 * prom.c: the metric families of rabbitmq_prometheus 3.10, in its order, with its names, types,
 * help texts and labels, and where Warren's value for each comes from: the counters kept in
 * queues, channels, connections and the broker (broker.totals, broker.counters), a few gauges
 * read from the process (/proc/self, getrlimit) and the store (the free disk space it last saw).
 * Families Warren has no truthful value for (Erlang's VM, Raft, the message store's I/O) are not
 * written; docs/management.md lists them.
 *
 * /metrics writes every family once, summed: the sums over queues and connections are taken in
 * one pass when the scrape begins (prom_begin), the message counters come from broker.totals.
 * /metrics/per-object writes a sample per queue, channel and connection; /metrics/detailed the
 * groups asked for, per object, under the rabbitmq_detailed_ prefix. Both are written a chunk at
 * a time (prom_fill), resuming where the last chunk stopped.
 */
#include <dirent.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "config.h"
#include "server/admin/mgmt.h" /* mgmt_node_name */
#include "server/admin/prom.h"

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
	Q_PUBLISHED,
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

/*
 * The families, in rabbitmq_prometheus's order: process and alarms (/metrics only), the core
 * collector's (its totals and info not on /metrics/detailed), then the global counters.
 */
static const struct prom_family families[] = {
	{ M_AGG, PG_ALWAYS, S_NODE, PX_NONE, V_START_TIME, "process_start_time_seconds", "gauge",
	    "Start time of the process since unix epoch in seconds." },
	{ M_AGG, PG_ALWAYS, S_NODE, PX_RABBIT, V_ALARM_DISK, "alarms_free_disk_space_watermark",
	    "untyped", "is 1 if free disk space watermark alarm is in effect" },
	{ M_AGG, PG_ALWAYS, S_NODE, PX_RABBIT, V_ALARM_MEMORY, "alarms_memory_used_watermark",
	    "untyped", "is 1 if VM memory watermark alarm is in effect" },
#define CHURN(v, n, h)                                                          \
	{                                                                       \
		M_ALL, PG_CONNECTION_CHURN, S_NODE, PX_CORE, v, n, "counter", h \
	}
	CHURN(V_CONNS_OPENED, "connections_opened_total", "Total number of connections opened"),
	CHURN(V_CONNS_CLOSED, "connections_closed_total",
	    "Total number of connections closed or terminated"),
	CHURN(V_CHANNELS_OPENED, "channels_opened_total", "Total number of channels opened"),
	CHURN(V_CHANNELS_CLOSED, "channels_closed_total", "Total number of channels closed"),
	CHURN(V_QUEUES_DECLARED, "queues_declared_total", "Total number of queues declared"),
	CHURN(V_QUEUES_CREATED, "queues_created_total", "Total number of queues created"),
	CHURN(V_QUEUES_DELETED, "queues_deleted_total", "Total number of queues deleted"),
#define NODE(g, v, n, h)                                    \
	{                                                   \
		M_ALL, g, S_NODE, PX_CORE, v, n, "gauge", h \
	}
	NODE(PG_NODE_COARSE, V_OPEN_FDS, "process_open_fds", "Open file descriptors"),
	NODE(PG_NODE_COARSE, V_OPEN_SOCKETS, "process_open_tcp_sockets", "Open TCP sockets"),
	NODE(PG_NODE_COARSE, V_RSS, "process_resident_memory_bytes", "Memory used in bytes"),
	NODE(PG_NODE_COARSE, V_DISK_FREE, "disk_space_available_bytes",
	    "Disk space available in bytes"),
	NODE(PG_NODE, V_MAX_FDS, "process_max_fds", "Open file descriptors limit"),
	NODE(PG_NODE, V_MAX_SOCKETS, "process_max_tcp_sockets", "Open TCP sockets limit"),
	NODE(PG_NODE, V_MEMORY_LIMIT, "resident_memory_limit_bytes",
	    "Memory high watermark in bytes"),
	NODE(PG_NODE, V_DISK_LIMIT, "disk_space_available_limit_bytes",
	    "Free disk space low watermark in bytes"),
	NODE(PG_NODE, V_UPTIME, "erlang_uptime_seconds", "Node uptime"),
#define AUTH(v, n, h)                                               \
	{                                                           \
		M_ALL, PG_AUTH, S_AUTH, PX_CORE, v, n, "counter", h \
	}
	AUTH(A_TOTAL, "auth_attempts_total", "Total number of authorization attempts"),
	AUTH(A_OK, "auth_attempts_succeeded_total",
	    "Total number of successful authentication attempts"),
	AUTH(A_FAILED, "auth_attempts_failed_total",
	    "Total number of failed authentication attempts"),
#define QUEUE(g, v, n, t, h)                           \
	{                                              \
		M_ALL, g, S_QUEUE, PX_CORE, v, n, t, h \
	}
	QUEUE(PG_QUEUE_COARSE, Q_READY, "queue_messages_ready", "gauge",
	    "Messages ready to be delivered to consumers"),
	QUEUE(PG_QUEUE_COARSE, Q_UNACKED, "queue_messages_unacked", "gauge",
	    "Messages delivered to consumers but not yet acknowledged"),
	QUEUE(PG_QUEUE_COARSE, Q_MESSAGES, "queue_messages", "gauge",
	    "Sum of ready and unacknowledged messages - total queue depth"),
	QUEUE(PG_QUEUE_CONSUMER_COUNT, Q_CONSUMERS, "queue_consumers", "gauge",
	    "Consumers on a queue"),
	QUEUE(PG_QUEUE, Q_CONSUMERS, "queue_consumers", "gauge", "Consumers on a queue"),
	QUEUE(PG_QUEUE, Q_RAM, "queue_messages_ram", "gauge",
	    "Ready and unacknowledged messages stored in memory"),
	QUEUE(PG_QUEUE, Q_RAM_BYTES, "queue_messages_ram_bytes", "gauge",
	    "Size of ready and unacknowledged messages stored in memory"),
	QUEUE(PG_QUEUE, Q_READY_RAM, "queue_messages_ready_ram", "gauge",
	    "Ready messages stored in memory"),
	QUEUE(PG_QUEUE, Q_UNACKED_RAM, "queue_messages_unacked_ram", "gauge",
	    "Unacknowledged messages stored in memory"),
	QUEUE(PG_QUEUE, Q_BYTES, "queue_messages_bytes", "gauge",
	    "Size in bytes of ready and unacknowledged messages"),
	QUEUE(PG_QUEUE, Q_READY_BYTES, "queue_messages_ready_bytes", "gauge",
	    "Size in bytes of ready messages"),
	QUEUE(PG_QUEUE, Q_UNACKED_BYTES, "queue_messages_unacked_bytes", "gauge",
	    "Size in bytes of all unacknowledged messages"),
	QUEUE(PG_QUEUE, Q_PAGED, "queue_messages_paged_out", "gauge", "Messages paged out to disk"),
	QUEUE(PG_QUEUE, Q_PAGED_BYTES, "queue_messages_paged_out_bytes", "gauge",
	    "Size in bytes of messages paged out to disk"),
#define CHAN(g, v, n, t, h)                              \
	{                                                \
		M_ALL, g, S_CHANNEL, PX_CORE, v, n, t, h \
	}
	CHAN(PG_CHANNEL, C_CONSUMERS, "channel_consumers", "gauge", "Consumers on a channel"),
	CHAN(PG_CHANNEL, C_UNACKED, "channel_messages_unacked", "gauge",
	    "Delivered but not yet acknowledged messages"),
	CHAN(PG_CHANNEL, C_UNCONFIRMED, "channel_messages_unconfirmed", "gauge",
	    "Published but not yet confirmed messages"),
	CHAN(PG_CHANNEL, C_UNCOMMITTED, "channel_messages_uncommitted", "gauge",
	    "Messages received in a transaction but not yet committed"),
	CHAN(PG_CHANNEL, C_ACKS_UNCOMMITTED, "channel_acks_uncommitted", "gauge",
	    "Message acknowledgements in a transaction not yet committed"),
	CHAN(PG_CHANNEL, C_PREFETCH, "consumer_prefetch", "gauge",
	    "Limit of unacknowledged messages for each consumer"),
	CHAN(PG_CHANNEL, C_GLOBAL_PREFETCH, "channel_prefetch", "gauge",
	    "Total limit of unacknowledged messages for all consumers on a channel"),
	CHAN(PG_CHANNEL_EXCHANGE, C_MS + MS_PUBLISH, "channel_messages_published_total", "counter",
	    "Total number of messages published into an exchange on a channel"),
	CHAN(PG_CHANNEL_EXCHANGE, C_MS + MS_CONFIRM, "channel_messages_confirmed_total", "counter",
	    "Total number of messages published into an exchange and confirmed on the channel"),
	CHAN(PG_CHANNEL_EXCHANGE, C_MS + MS_RETURN_UNROUTABLE,
	    "channel_messages_unroutable_returned_total", "counter",
	    "Total number of messages published as mandatory into an exchange and returned to the "
	    "publisher as unroutable"),
	CHAN(PG_CHANNEL_EXCHANGE, C_MS + MS_DROP_UNROUTABLE,
	    "channel_messages_unroutable_dropped_total", "counter",
	    "Total number of messages published as non-mandatory into an exchange and dropped as "
	    "unroutable"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_GET, "channel_get_ack_total", "counter",
	    "Total number of messages fetched with basic.get in manual acknowledgement mode"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_GET_NO_ACK, "channel_get_total", "counter",
	    "Total number of messages fetched with basic.get in automatic acknowledgement mode"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_DELIVER, "channel_messages_delivered_ack_total", "counter",
	    "Total number of messages delivered to consumers in manual acknowledgement mode"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_DELIVER_NO_ACK, "channel_messages_delivered_total",
	    "counter",
	    "Total number of messages delivered to consumers in automatic acknowledgement mode"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_REDELIVER, "channel_messages_redelivered_total", "counter",
	    "Total number of messages redelivered to consumers"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_ACK, "channel_messages_acked_total", "counter",
	    "Total number of messages acknowledged by consumers"),
	CHAN(PG_CHANNEL_QUEUE, C_MS + MS_GET_EMPTY, "channel_get_empty_total", "counter",
	    "Total number of times basic.get operations fetched no message"),
#define CONN(g, v, n, t, h)                           \
	{                                             \
		M_ALL, g, S_CONN, PX_CORE, v, n, t, h \
	}
	CONN(PG_CONNECTION_COARSE, N_RECV_OCT, "connection_incoming_bytes_total", "counter",
	    "Total number of bytes received on a connection"),
	CONN(PG_CONNECTION_COARSE, N_SEND_OCT, "connection_outgoing_bytes_total", "counter",
	    "Total number of bytes sent on a connection"),
	CONN(PG_CONNECTION, N_RECV_CNT, "connection_incoming_packets_total", "counter",
	    "Total number of packets received on a connection"),
	CONN(PG_CONNECTION, N_SEND_CNT, "connection_outgoing_packets_total", "counter",
	    "Total number of packets sent on a connection"),
	CONN(PG_CONNECTION, N_CHANNELS, "connection_channels", "gauge", "Channels on a connection"),
	{ M_ALL, PG_CHANNEL_QUEUE_EXCHANGE, S_QPUB, PX_CORE, Q_PUBLISHED,
	    "queue_messages_published_total", "counter",
	    "Total number of messages published to queues" },
	{ M_DET, PG_VHOST_STATUS, S_VHOST, PX_CLUSTER, 0, "vhost_status", "gauge",
	    "Whether a given vhost is running" },
	{ M_DET, PG_EXCHANGE_BINDINGS, S_EXCHANGE, PX_CLUSTER, 0, "exchange_bindings", "gauge",
	    "Number of bindings for an exchange. This value is cluster-wide." },
	{ M_DET, PG_EXCHANGE_NAMES, S_EXCHANGE, PX_CLUSTER, 1, "exchange_name", "gauge",
	    "Enumerates exchanges without any additional info. This value is cluster-wide. A "
	    "cheaper alternative to `exchange_bindings`" },
#define TOTAL(v, n, h)                                                \
	{                                                             \
		M_TOP, PG_ALWAYS, S_NODE, PX_RABBIT, v, n, "gauge", h \
	}
	TOTAL(V_CONNECTIONS, "connections", "Connections currently open"),
	TOTAL(V_CHANNELS, "channels", "Channels currently open"),
	TOTAL(V_CONSUMERS, "consumers", "Consumers currently connected"),
	TOTAL(V_QUEUES, "queues", "Queues available"),
	{ M_ALL, PG_ALWAYS, S_INFO, PX_RABBIT, I_BUILD, "build_info", "untyped",
	    "RabbitMQ & Erlang/OTP version info" },
	{ M_ALL, PG_ALWAYS, S_INFO, PX_RABBIT, I_IDENTITY, "identity_info", "untyped",
	    "RabbitMQ node & cluster identity info" },
#define GLOBAL(s, v, n, t, h)                                        \
	{                                                            \
		M_TOP, PG_ALWAYS, s, PX_RABBIT, v, "global_" n, t, h \
	}
	GLOBAL(S_GLOBAL, G_CONSUMERS, "consumers", "gauge", "Current number of consumers"),
	GLOBAL(S_GLOBAL_QT, G_ACKED, "messages_acknowledged_total", "counter",
	    "Total number of messages acknowledged by consumers"),
	GLOBAL(S_GLOBAL, G_CONFIRMED, "messages_confirmed_total", "counter",
	    "Total number of messages confirmed to publishers"),
	GLOBAL(S_GLOBAL_QT, G_CONSUME_AUTO_ACK, "messages_delivered_consume_auto_ack_total",
	    "counter",
	    "Total number of messages delivered to consumers using basic.consume with automatic "
	    "acknowledgment"),
	GLOBAL(S_GLOBAL_QT, G_CONSUME_MANUAL_ACK, "messages_delivered_consume_manual_ack_total",
	    "counter",
	    "Total number of messages delivered to consumers using basic.consume with manual "
	    "acknowledgment"),
	GLOBAL(S_GLOBAL_QT, G_GET_AUTO_ACK, "messages_delivered_get_auto_ack_total", "counter",
	    "Total number of messages delivered to consumers using basic.get with automatic "
	    "acknowledgment"),
	GLOBAL(S_GLOBAL_QT, G_GET_MANUAL_ACK, "messages_delivered_get_manual_ack_total", "counter",
	    "Total number of messages delivered to consumers using basic.get with manual "
	    "acknowledgment"),
	GLOBAL(S_GLOBAL_QT, G_DELIVERED, "messages_delivered_total", "counter",
	    "Total number of messages delivered to consumers"),
	GLOBAL(S_GLOBAL_QT, G_GET_EMPTY, "messages_get_empty_total", "counter",
	    "Total number of times basic.get operations fetched no message"),
	GLOBAL(S_GLOBAL, G_RECEIVED_CONFIRM, "messages_received_confirm_total", "counter",
	    "Total number of messages received from publishers expecting confirmations"),
	GLOBAL(S_GLOBAL, G_RECEIVED, "messages_received_total", "counter",
	    "Total number of messages received from publishers"),
	GLOBAL(S_GLOBAL_QT, G_REDELIVERED, "messages_redelivered_total", "counter",
	    "Total number of messages redelivered to consumers"),
	GLOBAL(S_GLOBAL, G_ROUTED, "messages_routed_total", "counter",
	    "Total number of messages routed to queues or streams"),
	GLOBAL(S_GLOBAL, G_DROPPED, "messages_unroutable_dropped_total", "counter",
	    "Total number of messages published as non-mandatory into an exchange and dropped as "
	    "unroutable"),
	GLOBAL(S_GLOBAL, G_RETURNED, "messages_unroutable_returned_total", "counter",
	    "Total number of messages published as mandatory into an exchange and returned to the "
	    "publisher as unroutable"),
	GLOBAL(S_GLOBAL, G_PUBLISHERS, "publishers", "gauge", "Current number of publishers"),
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

/* RabbitMQ's family names for /metrics/detailed, by enum prom_group. */
static const char *const group_names[PG_COUNT] = {
	[PG_CONNECTION_CHURN] = "connection_churn_metrics",
	[PG_NODE_COARSE] = "node_coarse_metrics",
	[PG_NODE] = "node_metrics",
	[PG_NODE_PERSISTER] = "node_persister_metrics",
	[PG_RA] = "ra_metrics",
	[PG_AUTH] = "auth_attempt_metrics",
	[PG_AUTH_DETAILED] = "auth_attempt_detailed_metrics",
	[PG_QUEUE_COARSE] = "queue_coarse_metrics",
	[PG_QUEUE_CONSUMER_COUNT] = "queue_consumer_count",
	[PG_QUEUE] = "queue_metrics",
	[PG_CHANNEL] = "channel_metrics",
	[PG_CHANNEL_EXCHANGE] = "channel_exchange_metrics",
	[PG_CHANNEL_PROCESS] = "channel_process_metrics",
	[PG_CHANNEL_QUEUE] = "channel_queue_metrics",
	[PG_CONNECTION_COARSE] = "connection_coarse_metrics",
	[PG_CONNECTION] = "connection_metrics",
	[PG_CHANNEL_QUEUE_EXCHANGE] = "channel_queue_exchange_metrics",
	[PG_VHOST_STATUS] = "vhost_status",
	[PG_EXCHANGE_BINDINGS] = "exchange_bindings",
	[PG_EXCHANGE_NAMES] = "exchange_names",
};

int prom_group_by_name(const char *name)
{
	int i;

	for (i = 0; i < PG_COUNT; i++)
		if (strcmp(group_names[i], name) == 0)
			return i;
	return -1;
}

/* ---- Writing the text format ---- */

/* One sample line is built here, then added to the output at once. */
static struct {
	char *p;
	size_t len, cap;
} L;

static void line_reserve(size_t n)
{
	if (n > L.cap - L.len) { /* n does not fit in what is left */
		L.cap = (L.len + n) * 2;
		L.p = xreallocarray(L.p, L.cap, 1);
	}
}

static void line_add(const void *p, size_t n)
{
	line_reserve(n);
	memcpy(L.p + L.len, p, n);
	L.len += n;
}

static void line_str(const char *s)
{
	line_add(s, strlen(s));
}

static void line_u64(uint64_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	line_add(d + i, sizeof(d) - i);
}

/* The length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	size_t len, i;
	uint32_t c;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, c = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, c = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, c = p[0] & 0x07;
	else
		return 0;
	if (len > n) /* truncated */
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
	if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return len;
}

/*
 * key="value", escaped as the text format wants (backslash, double quote, newline); a byte that
 * is not UTF-8 becomes U+FFFD, since a label value must be UTF-8.
 */
static void line_label(bool first, const char *key, const char *val, size_t n)
{
	const uint8_t *p = (const uint8_t *)val;
	size_t i = 0, run, k;

	if (!first)
		line_add(",", 1);
	line_str(key);
	line_add("=\"", 2);
	while (i < n) {
		for (run = i;
		     run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '\\' && p[run] != '"';
		     run++)
			;
		line_add(p + i, run - i); /* printable ASCII as it is */
		if ((i = run) == n)
			break;
		if (p[i] == '\\' || p[i] == '"') {
			line_add("\\", 1);
			line_add(p + i, 1);
			i++;
		} else if (p[i] == '\n') {
			line_add("\\n", 2);
			i++;
		} else if ((k = utf8_seq(p + i, n - i)) > 0) {
			line_add(
			    p + i, k); /* other control characters are valid in a label value */
			i += k;
		} else {
			line_add("\xef\xbf\xbd", 3);
			i++;
		}
	}
	line_add("\"", 1);
}

static const char *family_prefix(const struct prom_req *p, const struct prom_family *f)
{
	switch (f->prefix) {
	case PX_CORE: return p->mode == PROM_DETAILED ? "rabbitmq_detailed_" : "rabbitmq_";
	case PX_CLUSTER: return "rabbitmq_cluster_";
	case PX_RABBIT: return "rabbitmq_";
	default: return "";
	}
}

/* Start a sample line: the family's full name. */
static void line_begin(const struct prom_req *p, const struct prom_family *f)
{
	L.len = 0;
	line_str(family_prefix(p, f));
	line_str(f->name);
}

/* End it with its value and add it to the output. */
static void line_end_u64(struct prom_req *p, bool labels, uint64_t v)
{
	line_add(labels ? "} " : " ", labels ? 2 : 1);
	line_u64(v);
	line_add("\n", 1);
	evbuffer_add(p->out, L.p, L.len);
}

static void line_end_double(struct prom_req *p, bool labels, double v)
{
	char d[40];

	line_add(labels ? "} " : " ", labels ? 2 : 1);
	line_add(d, (size_t)snprintf(d, sizeof(d), "%.15g", v));
	line_add("\n", 1);
	evbuffer_add(p->out, L.p, L.len);
}

static void write_header(struct prom_req *p, const struct prom_family *f)
{
	const char *px = family_prefix(p, f);

	evbuffer_add_printf(
	    p->out, "# TYPE %s%s %s\n# HELP %s%s %s\n", px, f->name, f->type, px, f->name, f->help);
}

/* ---- Values ---- */

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

static uint64_t wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
}

/* Open file descriptors: the entries of /proc/self/fd (but the one reading it). */
static double open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return (double)(n > 0 ? n - 1 : 0);
}

/* Resident memory: /proc/self/statm's second field, in pages. */
static double resident_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, rss;
	int n;

	if (f == NULL)
		return -1;
	n = fscanf(f, "%lu %lu", &size, &rss);
	fclose(f);
	return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : -1;
}

static double fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return -1;
	return (double)rl.rlim_cur;
}

/* A node value, or a negative one when Warren cannot tell (then no sample is written). */
static double node_value(const struct prom_req *p, unsigned v)
{
	const struct broker_counters *k = &broker.counters;
	uint64_t disk;

	switch (v) {
	case V_START_TIME: return (double)(broker.started_ms / 1000);
	case V_ALARM_DISK: return (broker.alarms & ALARM_DISK) != 0;
	case V_ALARM_MEMORY: return (broker.alarms & ALARM_MEMORY) != 0;
	case V_CONNS_OPENED: return (double)k->conns_opened;
	case V_CONNS_CLOSED: return (double)k->conns_closed;
	case V_CHANNELS_OPENED: return (double)k->channels_opened;
	case V_CHANNELS_CLOSED: return (double)k->channels_closed;
	case V_QUEUES_DECLARED: return (double)k->queues_declared;
	case V_QUEUES_CREATED: return (double)broker.queues_created;
	case V_QUEUES_DELETED: return (double)broker.queues_deleted;
	case V_OPEN_FDS: return open_fds();
	case V_OPEN_SOCKETS:
	case V_CONNECTIONS: return (double)sub0(k->conns_opened, k->conns_closed);
	case V_RSS: return resident_bytes();
	case V_DISK_FREE:
		disk = persist_disk_available();
		return disk == UINT64_MAX ? -1 : (double)disk;
	case V_MAX_FDS:
	case V_MAX_SOCKETS: return fd_limit();
	case V_MEMORY_LIMIT: return (double)broker.cfg.mem_high;
	case V_DISK_LIMIT: return (double)broker.cfg.disk_free_limit;
	case V_UPTIME: return (double)sub0(wall_ms(), broker.started_ms) / 1000.0;
	case V_CHANNELS: return (double)sub0(k->channels_opened, k->channels_closed);
	case V_CONSUMERS: return (double)p->sums.consumers;
	case V_QUEUES: return (double)p->sums.queues;
	}
	return -1;
}

static uint64_t queue_value(unsigned v, const struct queue *q)
{
	uint64_t paged = 0, paged_bytes = 0;
	unsigned i;

	if (q->pages != NULL)
		for (i = 0; i < q->nrings; i++) {
			paged += q->pages[i].count;
			paged_bytes += q->pages[i].bytes;
		}
	switch (v) {
	case Q_READY: return q->count;
	case Q_UNACKED:
	case Q_UNACKED_RAM: return q->unacked;
	case Q_MESSAGES: return q->count + q->unacked;
	case Q_CONSUMERS: return q->nconsumers;
	case Q_RAM: return sub0(q->count, paged) + q->unacked;
	case Q_RAM_BYTES: return sub0(q->bytes, paged_bytes) + q->unacked_bytes;
	case Q_READY_RAM: return sub0(q->count, paged);
	case Q_BYTES: return q->bytes + q->unacked_bytes;
	case Q_READY_BYTES: return q->bytes;
	case Q_UNACKED_BYTES: return q->unacked_bytes;
	case Q_PAGED: return paged;
	case Q_PAGED_BYTES: return paged_bytes;
	case Q_PUBLISHED: return q->stats.n[MS_PUBLISH];
	}
	return 0;
}

static uint64_t channel_value(unsigned v, const struct channel *ch)
{
	uint64_t n = 0;
	size_t i;

	if (v >= C_MS)
		return ch->stats.n[v - C_MS];
	switch (v) {
	case C_CONSUMERS: return ch->consumer_tags.count;
	case C_UNACKED: return ch->ua_len;
	case C_UNCONFIRMED: return ch->cs_len;
	case C_UNCOMMITTED: return ch->txp_len;
	case C_ACKS_UNCOMMITTED:
		if (ch->tx) /* the deliveries settled in the open transaction */
			for (i = 0; i < ch->ua_len; i++)
				n += ch->ua[(ch->ua_head + i) % ch->ua_cap].held != 0;
		return n;
	case C_PREFETCH: return ch->prefetch_default;
	case C_GLOBAL_PREFETCH: return ch->prefetch_global;
	}
	return 0;
}

static uint64_t conn_value(unsigned v, const struct conn *c)
{
	switch (v) {
	case N_RECV_OCT: return c->io.n[IO_RECV_OCT];
	case N_SEND_OCT: return c->io.n[IO_SEND_OCT];
	case N_RECV_CNT: return c->io.n[IO_RECV_CNT];
	case N_SEND_CNT: return c->io.n[IO_SEND_CNT];
	case N_CHANNELS: return c->open_channels;
	}
	return 0;
}

static uint64_t global_value(const struct prom_req *p, unsigned v)
{
	const uint64_t *t = broker.totals.n;

	switch (v) {
	case G_CONSUMERS: return p->sums.consumers;
	case G_ACKED: return t[MS_ACK];
	case G_CONFIRMED: return t[MS_CONFIRM];
	case G_CONSUME_AUTO_ACK: return t[MS_DELIVER_NO_ACK];
	case G_CONSUME_MANUAL_ACK: return t[MS_DELIVER];
	case G_GET_AUTO_ACK: return t[MS_GET_NO_ACK];
	case G_GET_MANUAL_ACK: return t[MS_GET];
	case G_DELIVERED:
		return t[MS_DELIVER_NO_ACK] + t[MS_DELIVER] + t[MS_GET_NO_ACK] + t[MS_GET];
	case G_GET_EMPTY: return t[MS_GET_EMPTY];
	case G_RECEIVED_CONFIRM: return broker.counters.received_confirm;
	case G_RECEIVED: return t[MS_PUBLISH];
	case G_REDELIVERED: return t[MS_REDELIVER];
	case G_ROUTED: return broker.counters.routed;
	case G_DROPPED: return t[MS_DROP_UNROUTABLE];
	case G_RETURNED: return t[MS_RETURN_UNROUTABLE];
	case G_PUBLISHERS: return p->sums.publishers;
	}
	return 0;
}

/* ---- Sums ---- */

static void sum_channels(struct prom_req *p)
{
	struct conn *c;
	struct channel *ch;
	unsigned v;

	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		for (v = 0; v < N_COUNT; v++)
			p->sums.c[v] += conn_value(v, c);
		LIST_FOREACH(ch, &c->channels, entry)
		{
			for (v = 0; v < C_GAUGES; v++)
				p->sums.ch[v] += channel_value(v, ch);
			p->sums.consumers += ch->consumer_tags.count;
			p->sums.publishers += ch->stats.n[MS_PUBLISH] > 0;
		}
	}
}

void prom_begin(struct prom_req *p)
{
	struct hmap_iter it;
	struct queue *q;
	void *v;
	unsigned i;

	memset(&p->sums, 0, sizeof(p->sums));
	if (p->mode == PROM_DETAILED)
		return; /* no totals there, and samples are per object */
	hmap_iter_init(&broker.vhosts, &it);
	while (hmap_iter_next(&it, NULL, NULL, &v))
		p->sums.queues += ((struct vhost *)v)->queues.count;
	sum_channels(p);
	if (p->mode != PROM_AGGREGATED)
		return;
	TAILQ_FOREACH(q, &broker.all_queues, all_entry)
	{
		if (q->deleted)
			continue;
		for (i = 0; i < Q_PUBLISHED; i++)
			p->sums.q[i] += queue_value(i, q);
	}
	p->sums.q[Q_PUBLISHED] = broker.counters.queue_published;
}

/* ---- Families ---- */

static bool vhost_wanted(const struct prom_req *p, const char *vhost)
{
	size_t i;

	if (p->nvhosts == 0)
		return true;
	for (i = 0; i < p->nvhosts; i++)
		if (strcmp(p->vhosts[i], vhost) == 0)
			return true;
	return false;
}

static bool family_wanted(const struct prom_req *p, const struct prom_family *f)
{
	if (!(f->modes & (1u << p->mode)))
		return false;
	if (f->group == PG_ALWAYS)
		return true;
	if (p->mode != PROM_DETAILED) /* queue_metrics has the consumers */
		return f->group != PG_QUEUE_CONSUMER_COUNT;
	if (!(p->groups & (1u << f->group)))
		return false;
	return f->group != PG_QUEUE_CONSUMER_COUNT || !(p->groups & (1u << PG_QUEUE));
}

static void write_node(struct prom_req *p, const struct prom_family *f)
{
	double v = node_value(p, f->value);

	if (v < 0)
		return;
	line_begin(p, f);
	line_end_double(p, false, v);
}

static void write_auth(struct prom_req *p, const struct prom_family *f)
{
	static const char *const names[AUTH_PROTO_COUNT] = {
		[AUTH_PROTO_AMQP] = "amqp091", [AUTH_PROTO_HTTP] = "http"
	};
	static const int order[] = { AUTH_PROTO_HTTP, AUTH_PROTO_AMQP };
	const struct broker_counters *k = &broker.counters;
	size_t i;

	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		int pr = order[i];
		uint64_t ok = k->auth_ok[pr], failed = k->auth_failed[pr];

		line_begin(p, f);
		line_add("{", 1);
		line_label(true, "protocol", names[pr], strlen(names[pr]));
		line_end_u64(p, true,
		    f->value == A_TOTAL    ? ok + failed
		        : f->value == A_OK ? ok
		                           : failed);
	}
}

static void write_info(struct prom_req *p, const struct prom_family *f)
{
	const char *node = mgmt_node_name();

	line_begin(p, f);
	line_add("{", 1);
	if (f->value == I_BUILD) {
		line_label(true, "rabbitmq_version", WARREN_RABBITMQ_VERSION,
		    strlen(WARREN_RABBITMQ_VERSION));
		line_label(false, "prometheus_plugin_version", WARREN_RABBITMQ_VERSION,
		    strlen(WARREN_RABBITMQ_VERSION));
		line_label(false, "product_name", "Warren", 6);
		line_label(false, "product_version", PACKAGE_VERSION, strlen(PACKAGE_VERSION));
	} else {
		line_label(true, "rabbitmq_node", node, strlen(node));
		line_label(false, "rabbitmq_cluster", node, strlen(node));
	}
	line_end_u64(p, true, 1);
}

static void write_global(struct prom_req *p, const struct prom_family *f)
{
	static const char *const types[] = { "rabbit_classic_queue", "rabbit_quorum_queue",
		"rabbit_stream_queue" };
	size_t i, n = f->src == S_GLOBAL_QT ? 3 : 1;

	/* Every queue is a classic one (a quorum queue's declaration makes one too). */
	for (i = 0; i < n; i++) {
		line_begin(p, f);
		line_add("{", 1);
		line_label(true, "protocol", "amqp091", 7);
		if (f->src == S_GLOBAL_QT)
			line_label(false, "queue_type", types[i], strlen(types[i]));
		line_end_u64(p, true, i == 0 ? global_value(p, f->value) : 0);
	}
}

/* Per queue, from p->qnext on (a held reference), until the chunk is full: true when done. */
static bool write_queues(struct prom_req *p, const struct prom_family *f)
{
	struct queue *held = p->qnext, *q;

	q = p->object_started ? held : TAILQ_FIRST(&broker.all_queues);
	p->object_started = true;
	p->qnext = NULL;
	for (; q != NULL; q = TAILQ_NEXT(q, all_entry)) {
		if (evbuffer_get_length(p->out) >= PROM_CHUNK) {
			p->qnext = queue_ref(q);
			break;
		}
		if (q->deleted || !vhost_wanted(p, q->vhost->name))
			continue;
		line_begin(p, f);
		line_add("{", 1);
		line_label(true, f->src == S_QPUB ? "queue_vhost" : "vhost", q->vhost->name,
		    strlen(q->vhost->name));
		line_label(false, "queue", q->name, q->name_len);
		line_end_u64(p, true, queue_value(f->value, q));
	}
	if (held != NULL)
		queue_unref(held); /* after its successor was read: this may free it */
	return q == NULL;
}

/* A connection's name, as the management API gives it: "PEER -> LOCAL". */
static void conn_name(const struct conn *c, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char local[160] = "unknown";

	if (c->bev != NULL &&
	    getsockname(bufferevent_getfd(c->bev), (struct sockaddr *)&ss, &sl) == 0)
		server_format_addr((struct sockaddr *)&ss, local, sizeof(local));
	snprintf(out, len, "%s -> %s", c->peer, local);
}

/*
 * Per connection (S_CONN) or per channel of each (S_CHANNEL), newest connection first, until the
 * chunk is full: true when done. A chunk ends between connections, which are found again by
 * serial: those opened meanwhile are newer, before the position, and left out.
 */
static bool write_conns(struct prom_req *p, const struct prom_family *f)
{
	char name[320], chname[340];
	struct channel *ch;
	struct conn *c;
	int n;

	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		if (p->conn_serial != 0 && c->serial >= p->conn_serial)
			continue; /* written in an earlier chunk */
		if (evbuffer_get_length(p->out) >= PROM_CHUNK)
			return false;
		p->conn_serial = c->serial;
		if (f->src == S_CHANNEL && LIST_EMPTY(&c->channels))
			continue;
		conn_name(c, name, sizeof(name));
		if (f->src == S_CONN) {
			line_begin(p, f);
			line_add("{", 1);
			line_label(true, "channel", name, strlen(name));
			line_end_u64(p, true, conn_value(f->value, c));
			continue;
		}
		LIST_FOREACH(ch, &c->channels, entry)
		{
			n = snprintf(chname, sizeof(chname), "%s (%u)", name, ch->id);
			line_begin(p, f);
			line_add("{", 1);
			line_label(true, "channel", chname,
			    n > 0 && (size_t)n < sizeof(chname) ? (size_t)n : strlen(chname));
			line_end_u64(p, true, channel_value(f->value, ch));
		}
	}
	return true;
}

static void write_vhosts(struct prom_req *p, const struct prom_family *f)
{
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&broker.vhosts, &it);
	while (hmap_iter_next(&it, NULL, NULL, &v)) {
		const char *name = ((struct vhost *)v)->name;

		line_begin(p, f);
		line_add("{", 1);
		line_label(true, "vhost", name, strlen(name));
		line_end_u64(p, true, 1);
	}
}

/* The vhost whose name comes next after after (NULL: the first), or NULL. */
static struct vhost *vhost_after(const char *after)
{
	struct vhost *best = NULL;
	struct hmap_iter it;
	void *v;

	hmap_iter_init(&broker.vhosts, &it);
	while (hmap_iter_next(&it, NULL, NULL, &v)) {
		struct vhost *h = v;
		if ((after == NULL || strcmp(h->name, after) > 0) &&
		    (best == NULL || strcmp(h->name, best->name) < 0))
			best = h;
	}
	return best;
}

struct exchange_arg {
	struct prom_req *p;
	const struct prom_family *f;
};

static void write_exchange(void *value, void *arg)
{
	struct exchange_arg *a = arg;
	struct exchange *x = value;
	const char *type = exchange_type_name(x->type);

	if (x->internal || x->name_len == 0)
		return;
	line_begin(a->p, a->f);
	line_add("{", 1);
	line_label(true, "vhost", x->vhost->name, strlen(x->vhost->name));
	line_label(false, "exchange", x->name, x->name_len);
	line_label(false, "type", type, strlen(type));
	line_end_u64(a->p, true, a->f->value == 1 ? 1 : x->nbindings);
}

/* Per exchange, vhost by vhost in name order, until the chunk is full: true when done. */
static bool write_exchanges(struct prom_req *p, const struct prom_family *f)
{
	struct exchange_arg a = { p, f };
	struct vhost *v;

	if (!p->object_started) {
		p->object_started = true;
		if ((v = vhost_after(NULL)) == NULL)
			return true;
		p->vhost = xstrdup(v->name);
		memset(&p->xwalk, 0, sizeof(p->xwalk));
	}
	while (p->vhost != NULL) {
		v = vhost_find(amqp_cstr(p->vhost));
		while (v != NULL && hmap_walk_step(&v->exchanges, &p->xwalk, write_exchange, &a))
			if (evbuffer_get_length(p->out) >= PROM_CHUNK)
				return false;
		v = vhost_after(p->vhost); /* this one is done, or gone */
		free(p->vhost);
		p->vhost = v != NULL ? xstrdup(v->name) : NULL;
		memset(&p->xwalk, 0, sizeof(p->xwalk));
	}
	return true;
}

/* A family's samples, or as many as fit in this chunk: true when they are all written. */
static bool write_samples(struct prom_req *p, const struct prom_family *f)
{
	unsigned v = f->value;

	if (p->mode == PROM_AGGREGATED && f->src >= S_QUEUE && f->src <= S_CONN) {
		line_begin(p, f);
		if (f->src == S_QUEUE || f->src == S_QPUB)
			line_end_u64(p, false, p->sums.q[v]);
		else if (f->src == S_CONN)
			line_end_u64(p, false, p->sums.c[v]);
		else /* message counters: every channel's, closed ones too */
			line_end_u64(
			    p, false, v >= C_MS ? broker.totals.n[v - C_MS] : p->sums.ch[v]);
		return true;
	}
	switch (f->src) {
	case S_NODE: write_node(p, f); return true;
	case S_AUTH: write_auth(p, f); return true;
	case S_INFO: write_info(p, f); return true;
	case S_GLOBAL:
	case S_GLOBAL_QT: write_global(p, f); return true;
	case S_VHOST: write_vhosts(p, f); return true;
	case S_QUEUE:
	case S_QPUB: return write_queues(p, f);
	case S_CHANNEL:
	case S_CONN: return write_conns(p, f);
	case S_EXCHANGE: return write_exchanges(p, f);
	}
	return true;
}

void prom_release(struct prom_req *p)
{
	if (p->qnext != NULL)
		queue_unref(p->qnext);
	p->qnext = NULL;
	free(p->vhost);
	p->vhost = NULL;
}

bool prom_fill(struct prom_req *p)
{
	while (p->family < NFAMILIES) {
		const struct prom_family *f = &families[p->family];

		if (family_wanted(p, f)) {
			if (!p->header_done) {
				write_header(p, f);
				p->header_done = true;
			}
			if (!write_samples(p, f))
				return false; /* the chunk is full: go on from here */
		}
		prom_release(p);
		p->family++;
		p->header_done = p->object_started = false;
		p->conn_serial = 0;
		if (evbuffer_get_length(p->out) >= PROM_CHUNK)
			return p->family == NFAMILIES;
	}
	return true;
}
