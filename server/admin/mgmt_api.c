/*
 * mgmt_api.c: the management API's views of the broker as a whole, with RabbitMQ 3.10's paths and
 * field names: /api/overview, /api/whoami, /api/nodes, /api/vhosts (the clients' views are in
 * mgmt_conns.c). Users tagged management or policymaker see the vhosts they may use; monitoring
 * and administrator see everything.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "server/admin/mgmt.h"

const char *mgmt_node_name(void)
{
	static char name[300];
	char host[256];

	if (name[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';
		snprintf(name, sizeof(name), "warren@%s", host);
	}
	return name;
}

/* RabbitMQ's message_stats: the counters that apply (mask of enum msg_stat bits). */
const char *const mgmt_stat_names[MS_COUNT] = { "publish", "deliver", "deliver_no_ack", "get",
	"get_no_ack", "ack", "redeliver", "confirm", "return_unroutable", "drop_unroutable",
	"get_empty" };

void mgmt_view_msg(struct stats_view *v, const struct msg_stats *st)
{
	unsigned i;

	for (i = 0; i < MS_COUNT; i++) {
		v->n[i] = st->n[i];
		v->rate[i] = mgmt_rate_of(&st->ring[i]);
	}
}

void mgmt_view_add_queue(struct stats_view *v, const struct queue_stats *qs)
{
	unsigned i;

	for (i = 0; i < QS_COUNT; i++) {
		v->n[i] += qs->n[i];
		v->rate[i] += mgmt_queue_rate(qs, i);
	}
}

json_t *mgmt_view_json(const struct stats_view *v, unsigned mask)
{
	json_t *o = json_object();
	char dk[64];
	uint64_t dg = 0;
	double dgr = 0;
	unsigned i;

	for (i = 0; i < MS_COUNT; i++)
		if (mask & (1u << i)) {
			snprintf(dk, sizeof(dk), "%s_details", mgmt_stat_names[i]);
			json_object_set_new(
			    o, mgmt_stat_names[i], json_integer((json_int_t)v->n[i]));
			json_object_set_new(o, dk, mgmt_rate(v->rate[i]));
		}
	for (i = MS_DELIVER; i <= MS_GET_NO_ACK; i++) {
		dg += v->n[i];
		dgr += v->rate[i];
	}
	json_object_set_new(o, "deliver_get", json_integer((json_int_t)dg));
	json_object_set_new(o, "deliver_get_details", mgmt_rate(dgr));
	return o;
}

json_t *mgmt_msg_stats(const struct msg_stats *st, unsigned mask)
{
	struct stats_view v;

	mgmt_view_msg(&v, st);
	return mgmt_view_json(&v, mask);
}

json_t *mgmt_queue_stats(const struct queue_stats *qs)
{
	struct stats_view v;

	memset(&v, 0, sizeof(v));
	mgmt_view_add_queue(&v, qs);
	return mgmt_view_json(&v, QUEUE_STATS);
}

static json_t *exchange_types(void)
{
	static const char *const types[][2] = {
		{ "direct", "AMQP direct exchange, as per the AMQP specification" },
		{ "fanout", "AMQP fanout exchange, as per the AMQP specification" },
		{ "headers", "AMQP headers exchange, as per the AMQP specification" },
		{ "topic", "AMQP topic exchange, as per the AMQP specification" },
		{ "x-consistent-hash", "Consistent Hashing Exchange" },
	};
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		json_array_append_new(a,
		    json_pack("{s:s, s:s, s:b}", "name", types[i][0], "description", types[i][1],
		        "enabled", 1));
	return a;
}

static json_t *listeners_json(void)
{
	struct sockaddr_storage ss;
	char addr[160], *colon;
	json_t *a = json_array();
	bool tls;
	int i;

	for (i = 0; server_listener(i, &ss, &tls) == 0; i++) {
		server_format_addr((struct sockaddr *)&ss, addr, sizeof(addr));
		if ((colon = strrchr(addr, ':')) == NULL)
			continue;
		*colon = '\0';
		if (addr[0] == '[') { /* [v6] */
			memmove(addr, addr + 1, strlen(addr));
			addr[strlen(addr) - 1] = '\0';
		}
		json_array_append_new(a,
		    json_pack("{s:s, s:s, s:s, s:i, s:{}}", "node", mgmt_node_name(), "protocol",
		        tls ? "amqp/ssl" : "amqp", "ip_address", addr, "port", atoi(colon + 1),
		        "socket_opts"));
	}
	return a;
}

void mgmt_overview(struct mreq *r)
{
	struct hmap_iter vi, qi;
	const void *k;
	size_t kl;
	void *val;
	uint64_t nq = 0, nx = 0, ncons = 0, ready = 0, unacked = 0, nconn = 0, nch = 0;
	struct conn *c;
	json_t *o;

	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, &k, &kl, &val)) {
		struct vhost *v = val;
		if (!mgmt_sees_vhost(r, v->name))
			continue;
		nx += v->exchanges.count;
		hmap_iter_init(&v->queues, &qi);
		while (hmap_iter_next(&qi, &k, &kl, &val)) {
			struct queue *q = val;
			nq++;
			ncons += q->nconsumers;
			ready += q->count;
			unacked += q->unacked;
		}
	}
	if (r->tags & (TAG_MONITORING | TAG_ADMINISTRATOR)) { /* all: counted as they change */
		nconn = broker.counters.conns_in_vhost;
		nch = broker.counters.channels_open;
	} else {
		for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
			if (c->state == CONN_DEAD || c->vhost == NULL ||
			    strcmp(c->user, r->user) != 0)
				continue;
			nconn++;
			nch += c->open_channels;
		}
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b}", "management_version",
	    WARREN_RABBITMQ_VERSION, "rates_mode", "basic", "product_version", PACKAGE_VERSION,
	    "product_name", "Warren", "rabbitmq_version", WARREN_RABBITMQ_VERSION, "cluster_name",
	    mgmt_node_name(), "node", mgmt_node_name(), "disable_stats", 0, "enable_queue_totals",
	    1);
	json_object_set_new(o, "exchange_types", exchange_types());
	json_object_set_new(o, "sample_retention_policies",
	    json_pack("{s:[i], s:[i], s:[i]}", "global", 600, "basic", 600, "detailed", 600));
	json_object_set_new(o, "message_stats", mgmt_msg_stats(&broker.totals, ALL_STATS));
	json_object_set_new(o, "churn_rates",
	    json_pack("{s:I, s:o, s:I, s:o}", "queue_created", (json_int_t)broker.queues_created,
	        "queue_created_details", mgmt_rate(0), "queue_deleted",
	        (json_int_t)broker.queues_deleted, "queue_deleted_details", mgmt_rate(0)));
	json_object_set_new(o, "queue_totals",
	    json_pack("{s:I, s:I, s:I}", "messages", (json_int_t)(ready + unacked),
	        "messages_ready", (json_int_t)ready, "messages_unacknowledged",
	        (json_int_t)unacked));
	json_object_set_new(o, "object_totals",
	    json_pack("{s:I, s:I, s:I, s:I, s:I}", "channels", (json_int_t)nch, "connections",
	        (json_int_t)nconn, "consumers", (json_int_t)ncons, "exchanges", (json_int_t)nx,
	        "queues", (json_int_t)nq));
	json_object_set_new(o, "statistics_db_event_queue", json_integer(0));
	json_object_set_new(o, "listeners", listeners_json());
	json_object_set_new(o, "contexts", json_array());
	mgmt_reply_json(r, 200, o);
}

static json_t *user_tags_json(const char *user)
{
	static const char *const tags[] = { "administrator", "monitoring", "policymaker",
		"management", "impersonator" };
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (auth_user_has_tag(broker.auth, amqp_cstr(user), tags[i]))
			json_array_append_new(a, json_string(tags[i]));
	return a;
}

void mgmt_whoami(struct mreq *r)
{
	json_t *o = json_pack("{s:s%}", "name", r->user, strlen(r->user));

	json_object_set_new(o, "tags", user_tags_json(r->user));
	mgmt_reply_json(r, 200, o);
}

static json_t *node_json(void)
{
	struct rlimit rl;
	uint64_t nconn = 0;
	char pid[32];
	struct conn *c;
	json_t *o;

	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry))
		nconn += c->state != CONN_DEAD;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		rl.rlim_cur = 0;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	o = json_pack("{s:s, s:s, s:b, s:I, s:I, s:b, s:I, s:b, s:I, s:I, s:I, s:i, s:s, s:s}",
	    "name", mgmt_node_name(), "type", "disc", "running", 1, "mem_used",
	    (json_int_t)broker.mem_used, "mem_limit", (json_int_t)broker.cfg.mem_high, "mem_alarm",
	    (broker.alarms & ALARM_MEMORY) != 0, "disk_free_limit",
	    (json_int_t)broker.cfg.disk_free_limit, "disk_free_alarm",
	    (broker.alarms & ALARM_DISK) != 0, "fd_total", (json_int_t)rl.rlim_cur, "sockets_used",
	    (json_int_t)nconn, "uptime", (json_int_t)(mgmt_wall_ms() - broker.started_ms),
	    "processors", (int)sysconf(_SC_NPROCESSORS_ONLN), "os_pid", pid, "rates_mode", "basic");
	json_object_set_new(o, "exchange_types", exchange_types());
	json_object_set_new(o, "auth_mechanisms",
	    json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}]", "name", "PLAIN", "description",
	        "SASL PLAIN authentication mechanism", "enabled", 1, "name", "AMQPLAIN",
	        "description", "QPid AMQPLAIN mechanism", "enabled", 1));
	json_object_set_new(o, "partitions", json_array());
	json_object_set_new(o, "applications", json_array());
	json_object_set_new(o, "enabled_plugins", json_pack("[s]", "rabbitmq_management"));
	return o;
}

void mgmt_nodes(struct mreq *r)
{
	mgmt_reply_json(r, 200, json_pack("[o]", node_json()));
}

void mgmt_node(struct mreq *r)
{
	if (strcmp(r->arg[0], mgmt_node_name()) != 0) {
		mgmt_not_found(r);
		return;
	}
	mgmt_reply_json(r, 200, node_json());
}

/* ---- Vhosts ---- */

static json_t *vhost_json(struct vhost *v)
{
	struct stats_view sum;
	struct hmap_iter qi;
	const void *k;
	size_t kl;
	void *val;
	uint64_t ready = 0, unacked = 0;
	json_t *o;

	memset(&sum, 0, sizeof(sum));
	hmap_iter_init(&v->queues, &qi);
	while (hmap_iter_next(&qi, &k, &kl, &val)) {
		struct queue *q = val;
		ready += q->count;
		unacked += q->unacked;
		mgmt_view_add_queue(&sum, &q->stats);
	}
	o = json_pack("{s:s, s:s, s:[], s:{s:s, s:[]}, s:s, s:b, s:{s:s}, s:I, s:I, s:I}", "name",
	    v->name, "description", "", "tags", "metadata", "description", "", "tags",
	    "default_queue_type", "classic", "tracing", 0, "cluster_state", mgmt_node_name(),
	    "running", "messages", (json_int_t)(ready + unacked), "messages_ready",
	    (json_int_t)ready, "messages_unacknowledged", (json_int_t)unacked);
	json_object_set_new(o, "message_stats", mgmt_view_json(&sum, QUEUE_STATS));
	return o;
}

void mgmt_vhosts(struct mreq *r)
{
	struct mgmt_list *l = mgmt_list_new(&mgmt_snapshot_ops);
	struct hmap_iter vi;
	const void *k;
	size_t kl;
	void *val;
	json_t *j;

	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, &k, &kl, &val)) {
		struct vhost *v = val;
		if (!mgmt_sees_vhost(r, v->name))
			continue;
		j = vhost_json(v);
		mgmt_list_add(l, r, j, j);
	}
	mgmt_list_send(l, r);
}

void mgmt_vhost_get(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);

	if (v != NULL)
		mgmt_reply_json(r, 200, vhost_json(v));
}
