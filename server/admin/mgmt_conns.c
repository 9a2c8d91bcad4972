/*
 * mgmt_conns.c: the management API's views of the clients, with RabbitMQ 3.10's paths and field
 * names: /api/connections (DELETE closes one), /api/channels and /api/consumers, per vhost and per
 * connection. Users tagged management or policymaker see their own connections and channels;
 * monitoring and administrator see everything. Connections and channels are listed as live
 * objects (mgmt_list_add_live): with ten thousand of them a page makes the JSON of its own rows
 * only.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/admin/mgmt.h"

/* "PEER -> LOCAL", RabbitMQ's connection name, and the two ends split. */
struct conn_names {
	char name[300], peer_host[128], host[128];
	int peer_port, port;
};

static void split_host_port(const char *s, char *host, size_t len, int *port)
{
	const char *colon = strrchr(s, ':');
	size_t n = colon != NULL ? (size_t)(colon - s) : strlen(s);

	if (n > 0 && s[0] == '[') { /* [v6]:port */
		s++;
		n -= n >= 2 ? 2 : n;
	}
	snprintf(host, len, "%.*s", (int)n, s);
	*port = colon != NULL ? atoi(colon + 1) : 0;
}

static void conn_names(const struct conn *c, struct conn_names *n)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char local[160] = "unknown";

	if (getsockname(bufferevent_getfd(c->bev), (struct sockaddr *)&ss, &len) == 0)
		server_format_addr((struct sockaddr *)&ss, local, sizeof(local));
	snprintf(n->name, sizeof(n->name), "%s -> %s", c->peer, local);
	split_host_port(c->peer, n->peer_host, sizeof(n->peer_host), &n->peer_port);
	split_host_port(local, n->host, sizeof(n->host), &n->port);
}

/* A connection the user may see: open (logged in, vhost chosen), theirs unless monitoring. */
static bool sees_conn(const struct mreq *r, const struct conn *c)
{
	if (c->state == CONN_DEAD || c->vhost == NULL || c->user == NULL)
		return false;
	return (r->tags & (TAG_MONITORING | TAG_ADMINISTRATOR)) || strcmp(c->user, r->user) == 0;
}

static json_t *io_json(json_t *o, const struct io_stats *io)
{
	static const char *const names[IO_COUNT] = { "recv_oct", "recv_cnt", "send_oct",
		"send_cnt" };
	unsigned i;

	for (i = 0; i < IO_COUNT; i++)
		mgmt_add_counter(o, names[i], io->n[i], &io->ring[i]);
	return o;
}

/*
 * The client's properties as it sent them, and user_provided_name (its connection_name, which
 * clients set to find their connection here: amqp091-go's, pika's, the Java client's).
 */
static void client_properties(json_t *o, const struct conn *c)
{
	json_t *props =
	    mgmt_table_to_json((struct amqp_bytes){ c->client_props, c->client_props_len });
	json_t *name = json_object_get(props, "connection_name");

	if (json_is_string(name))
		json_object_set(o, "user_provided_name", name);
	json_object_set_new(o, "client_properties", props);
}

static json_t *conn_json(const struct conn *c)
{
	struct conn_names n;
	json_t *o;

	conn_names(c, &n);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:i, s:s, s:i, s:i, s:i, "
	              "s:i, s:i, s:I}",
	    "name", n.name, "node", mgmt_node_name(), "type", "network", "state",
	    conn_state_name(c->state), "user", c->user, "vhost", c->vhost->name, "protocol",
	    "AMQP 0-9-1", "auth_mechanism", c->mechanism, "ssl", c->tls, "peer_host", n.peer_host,
	    "peer_port", n.peer_port, "host", n.host, "port", n.port, "channels",
	    (int)c->open_channels, "channel_max", (int)c->channel_max, "frame_max",
	    (int)c->frame_max, "timeout", (int)c->heartbeat, "connected_at",
	    (json_int_t)c->connected_at);
	client_properties(o, c);
	return io_json(o, &c->io);
}

static const struct mgmt_list_ops consumer_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "queue.vhost", "queue.name", "consumer_tag" } };

static json_t *conn_live_json(const void *obj)
{
	return conn_json(obj);
}

static void *conn_own(const void *obj)
{
	return conn_json(obj);
}

/* A connection's keys without its JSON: the fields a list is sorted or filtered by. */
static bool conn_key(const void *obj, const char *path, struct mgmt_key *k)
{
	const struct conn *c = obj;
	struct conn_names n;

	if (strcmp(path, "name") == 0) {
		conn_names(c, &n);
		return mgmt_key_own(k, xstrdup(n.name));
	}
	if (strcmp(path, "user") == 0)
		return mgmt_key_str(k, c->user);
	if (strcmp(path, "vhost") == 0)
		return mgmt_key_str(k, c->vhost->name);
	if (strcmp(path, "state") == 0)
		return mgmt_key_str(k, conn_state_name(c->state));
	if (strcmp(path, "channels") == 0)
		return mgmt_key_num(k, c->open_channels, false);
	if (strcmp(path, "connected_at") == 0)
		return mgmt_key_num(k, (double)c->connected_at, false);
	if (strcmp(path, "ssl") == 0)
		return mgmt_key_num(k, c->tls, true);
	return false;
}

static const struct mgmt_list_ops conn_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "name" },
	.live_key = conn_key,
	.live_json = conn_live_json,
	.live_own = conn_own };

static void conn_list(struct mreq *r, const char *vhost)
{
	struct mgmt_list *l = mgmt_list_new(&conn_ops);
	struct conn *c;

	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		if (!sees_conn(r, c) || (vhost != NULL && strcmp(c->vhost->name, vhost) != 0))
			continue;
		mgmt_list_add_live(l, r, c);
	}
	mgmt_list_send(l, r);
}

void mgmt_connections(struct mreq *r)
{
	const char *vhost = r->nsegs == 3 ? r->arg[0] : NULL; /* vhosts/{v}/connections */

	if (vhost != NULL && mgmt_vhost(r, vhost) == NULL)
		return;
	conn_list(r, vhost);
}

static struct conn *conn_by_name(struct mreq *r, const char *name)
{
	struct conn_names n;
	struct conn *c;

	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		if (!sees_conn(r, c))
			continue;
		conn_names(c, &n);
		if (strcmp(n.name, name) == 0)
			return c;
	}
	return NULL;
}

void mgmt_connection(struct mreq *r)
{
	struct conn *c = conn_by_name(r, r->arg[0]);
	const char *why;

	if (c == NULL) {
		mgmt_not_found(r);
		return;
	}
	if (r->method != M_DELETE) {
		mgmt_reply_json(r, 200, conn_json(c));
		return;
	}
	why = mgmt_header(r, "X-Reason");
	log_info("management: user '%s' closes connection %s", r->user, r->arg[0]);
	conn_error(
	    c, AMQP_CONNECTION_FORCED, 0, "%s", why != NULL ? why : "Closed via management plugin");
	mgmt_reply_empty(r, 204);
}

static json_t *channel_details(const struct channel *ch, const struct conn_names *n)
{
	char name[320];

	snprintf(name, sizeof(name), "%s (%u)", n->name, ch->id);
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:s}", "connection_name", n->name, "name",
	    name, "node", mgmt_node_name(), "number", (int)ch->id, "peer_host", n->peer_host,
	    "peer_port", n->peer_port, "user", ch->conn->user);
}

static json_t *channel_json(const struct channel *ch, const struct conn_names *n)
{
	const struct consumer *cs;
	unsigned ncons = 0;
	char name[320];
	json_t *o;

	LIST_FOREACH(cs, &ch->consumers, ch_entry)
	ncons++;
	snprintf(name, sizeof(name), "%s (%u)", n->name, ch->id);
	o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:b, s:i, s:I, s:I, s:I, s:i, s:i, "
	              "s:i, s:{s:s, s:s, s:i}}",
	    "name", name, "node", mgmt_node_name(), "number", (int)ch->id, "user", ch->conn->user,
	    "vhost", ch->conn->vhost->name, "state", ch->state == CH_OPEN ? "running" : "closing",
	    "confirm", ch->confirm, "transactional", ch->tx, "consumer_count", (int)ncons,
	    "messages_unacknowledged", (json_int_t)ch->ua_len, "messages_unconfirmed",
	    (json_int_t)ch->cs_len, "messages_uncommitted", (json_int_t)ch->txp_len,
	    "acks_uncommitted", 0, "prefetch_count", (int)ch->prefetch_default,
	    "global_prefetch_count", (int)ch->prefetch_global, "connection_details", "name",
	    n->name, "peer_host", n->peer_host, "peer_port", n->peer_port);
	json_object_set_new(o, "message_stats", mgmt_msg_stats(&ch->stats, ALL_STATS));
	return o;
}

static json_t *channel_live_json(const void *obj)
{
	const struct channel *ch = obj;
	struct conn_names n;

	conn_names(ch->conn, &n);
	return channel_json(ch, &n);
}

static void *channel_own(const void *obj)
{
	return channel_live_json(obj);
}

/* A channel's keys without its JSON. */
static bool channel_key(const void *obj, const char *path, struct mgmt_key *k)
{
	const struct channel *ch = obj;
	const struct consumer *cs;
	struct conn_names n;
	char name[320];
	unsigned ncons = 0;

	if (strcmp(path, "name") == 0) {
		conn_names(ch->conn, &n);
		snprintf(name, sizeof(name), "%s (%u)", n.name, ch->id);
		return mgmt_key_own(k, xstrdup(name));
	}
	if (strcmp(path, "number") == 0)
		return mgmt_key_num(k, ch->id, false);
	if (strcmp(path, "user") == 0)
		return mgmt_key_str(k, ch->conn->user);
	if (strcmp(path, "vhost") == 0)
		return mgmt_key_str(k, ch->conn->vhost->name);
	if (strcmp(path, "messages_unacknowledged") == 0)
		return mgmt_key_num(k, (double)ch->ua_len, false);
	if (strcmp(path, "messages_unconfirmed") == 0)
		return mgmt_key_num(k, (double)ch->cs_len, false);
	if (strcmp(path, "prefetch_count") == 0)
		return mgmt_key_num(k, ch->prefetch_default, false);
	if (strcmp(path, "confirm") == 0)
		return mgmt_key_num(k, ch->confirm, true);
	if (strcmp(path, "transactional") == 0)
		return mgmt_key_num(k, ch->tx, true);
	if (strcmp(path, "consumer_count") == 0) {
		LIST_FOREACH(cs, &ch->consumers, ch_entry)
		ncons++;
		return mgmt_key_num(k, ncons, false);
	}
	return false;
}

static const struct mgmt_list_ops channel_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "name" },
	.live_key = channel_key,
	.live_json = channel_live_json,
	.live_own = channel_own };

void mgmt_channels(struct mreq *r)
{
	struct mgmt_list *l;
	const char *vhost = NULL, *conn = NULL;
	struct conn_names n;
	struct channel *ch;
	struct conn *c;

	if (r->nsegs == 3 && strcmp(r->segs[0], "vhosts") == 0) {
		if (mgmt_vhost(r, (vhost = r->arg[0])) == NULL)
			return;
	} else if (r->nsegs == 3) {
		if (conn_by_name(r, (conn = r->arg[0])) == NULL) {
			mgmt_not_found(r);
			return;
		}
	}
	l = mgmt_list_new(&channel_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		if (!sees_conn(r, c) || (vhost != NULL && strcmp(c->vhost->name, vhost) != 0))
			continue;
		conn_names(c, &n);
		if (conn != NULL && strcmp(n.name, conn) != 0)
			continue;
		LIST_FOREACH(ch, &c->channels, entry)
		mgmt_list_add_live(l, r, ch);
	}
	mgmt_list_send(l, r);
}

void mgmt_channel(struct mreq *r)
{
	struct conn_names n;
	struct channel *ch;
	struct conn *c;
	char name[320];

	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		if (!sees_conn(r, c))
			continue;
		conn_names(c, &n);
		LIST_FOREACH(ch, &c->channels, entry)
		{
			snprintf(name, sizeof(name), "%s (%u)", n.name, ch->id);
			if (strcmp(name, r->arg[0]) == 0) {
				mgmt_reply_json(r, 200, channel_json(ch, &n));
				return;
			}
		}
	}
	mgmt_not_found(r);
}

void mgmt_consumers(struct mreq *r)
{
	const char *vhost = r->nsegs == 2 ? r->arg[0] : NULL;
	struct mgmt_list *l;
	struct conn_names n;
	struct channel *ch;
	struct consumer *cs;
	struct conn *c;
	json_t *j;

	if (vhost != NULL && mgmt_vhost(r, vhost) == NULL)
		return;
	l = mgmt_list_new(&consumer_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	for (c = conn_first(); c != NULL; c = LIST_NEXT(c, entry)) {
		if (c->state == CONN_DEAD || c->vhost == NULL ||
		    !mgmt_sees_vhost(r, c->vhost->name) ||
		    (vhost != NULL && strcmp(c->vhost->name, vhost) != 0))
			continue;
		conn_names(c, &n);
		LIST_FOREACH(ch, &c->channels, entry)
		LIST_FOREACH(cs, &ch->consumers, ch_entry)
		{
			j = json_pack("{s:s%, s:b, s:b, s:b, s:s, s:i, s:{s:s, s:s}}",
			    "consumer_tag", cs->tag, cs->tag_len, "ack_required", !cs->no_ack,
			    "exclusive", cs->exclusive, "active", 1, "activity_status", "up",
			    "prefetch_count", (int)cs->prefetch, "queue", "name", cs->queue->name,
			    "vhost", cs->queue->vhost->name);
			json_object_set_new(j, "arguments",
			    mgmt_table_to_json((struct amqp_bytes){ cs->args, cs->args_len }));
			json_object_set_new(j, "channel_details", channel_details(ch, &n));
			mgmt_list_add(l, r, j, j);
		}
	}
	mgmt_list_send(l, r);
}
