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
	if (n == 0)
		return; /* memcpy to the line before its first byte is allocated: undefined */
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

/*
 * Open file descriptors: the entries of /proc/self/fd (but the one reading it), counted at most
 * once per statistics interval: with ten thousand connections the kernel takes about 8 ms to list
 * them, which a scrape every second would pay each time.
 */
static double open_fds(void)
{
	static uint64_t counted_at;
	static double last = -1;
	uint64_t now = now_ms();
	DIR *d;
	struct dirent *e;
	long n = 0;

	if (last >= 0 && now - counted_at < STATS_INTERVAL_MS)
		return last;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	counted_at = now;
	last = (double)(n > 0 ? n - 1 : 0);
	return last;
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
	uint64_t paged, paged_bytes;

	queue_paged_totals(q, &paged, &paged_bytes);
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
	case Q_MEMORY: return queue_memory(q);
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
	uint64_t ts = 0;

	q = p->object_started ? held : TAILQ_FIRST(&broker.all_queues);
	p->object_started = true;
	p->qnext = NULL;
	for (; q != NULL; q = TAILQ_NEXT(q, all_entry)) {
		if (evbuffer_get_length(p->out) >= PROM_CHUNK) {
			p->qnext = queue_ref(q);
			break;
		}
		/* As RabbitMQ, a queue whose head has no timestamp has no sample. */
		if (q->deleted || !vhost_wanted(p, q->vhost->name) ||
		    (f->value == Q_HEAD_TS && !queue_head_timestamp(q, &ts)))
			continue;
		line_begin(p, f);
		line_add("{", 1);
		line_label(true, f->src == S_QPUB ? "queue_vhost" : "vhost", q->vhost->name,
		    strlen(q->vhost->name));
		line_label(false, "queue", q->name, q->name_len);
		if (f->value == Q_CAPACITY)
			line_end_double(p, true, queue_consumer_capacity(q));
		else
			line_end_u64(
			    p, true, f->value == Q_HEAD_TS ? ts : queue_value(f->value, q));
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
	while (p->family < prom_nfamilies) {
		const struct prom_family *f = &prom_families[p->family];

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
			return p->family == prom_nfamilies;
	}
	return true;
}
