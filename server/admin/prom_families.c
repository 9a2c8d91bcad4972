/*
 * prom_families.c: the metric families of rabbitmq_prometheus 3.10 that Warren writes, as a
 * table in the plugin's order: the endpoints that write each, its group (the family= name of
 * /metrics/detailed), where its samples come from, its name, type and help text (RabbitMQ's,
 * word for word). prom.c writes them; docs/management.md lists them and those left out.
 */
#include <string.h>

#include "server/admin/prom.h"

/*
 * The families, in rabbitmq_prometheus's order: process and alarms (/metrics only), the core
 * collector's (its totals and info not on /metrics/detailed), then the global counters.
 */
const struct prom_family prom_families[] = {
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
	QUEUE(PG_QUEUE, Q_MEMORY, "queue_process_memory_bytes", "gauge",
	    "Memory in bytes used by the queue (its entries and structures)"),
	{ M_OBJ | M_DET, PG_QUEUE, S_QUEUE, PX_CORE, Q_CAPACITY, "queue_consumer_capacity", "gauge",
	    "Consumer capacity" },
	{ M_OBJ | M_DET, PG_QUEUE, S_QUEUE, PX_CORE, Q_CAPACITY, "queue_consumer_utilisation",
	    "gauge", "Same as consumer capacity" },
	{ M_OBJ | M_DET, PG_QUEUE, S_QUEUE, PX_CORE, Q_HEAD_TS, "queue_head_message_timestamp",
	    "gauge", "Timestamp of the first message in the queue, if any" },
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
const size_t prom_nfamilies = sizeof(prom_families) / sizeof(prom_families[0]);

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
