/*
 * mgmt_health.c: RabbitMQ 3.10's health checks and the aliveness test. Each answers 200
 * {"status":"ok"} or 503 {"status":"failed","reason":...} with RabbitMQ's extra fields (alarms,
 * missing and ports, missing and protocols, virtual-hosts, expired). Warren is a single node, so
 * alarms and local-alarms are the same check, and the quorum and mirror-sync checks answer as
 * RabbitMQ does on a single-node cluster. Any management user may ask (aliveness-test needs access
 * to the vhost).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "server/admin/mgmt.h"

static void ok(struct mreq *r)
{
	mgmt_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* 503 {"status":"failed","reason":reason} and extra's members (stolen). */
static void failed(struct mreq *r, const char *reason, json_t *extra)
{
	json_t *o = json_pack("{s:s, s:s}", "status", "failed", "reason", reason);

	if (extra != NULL)
		json_object_update(o, extra);
	json_decref(extra);
	mgmt_reply_json(r, 503, o);
}

void mgmt_aliveness(struct mreq *r)
{
	static const char qname[] = "aliveness-test", payload[] = "test_message";
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	struct amqp_bytes nb = amqp_cstr(qname);
	struct queue_args qa;
	struct message *m;
	struct qentry e;
	struct queue *q;
	char err[256];

	if (v == NULL || !mgmt_vhost_access(r, v->name))
		return;
	if ((q = vhost_queue(v, nb)) == NULL) {
		if (queue_args_parse((struct amqp_bytes){ NULL, 0 }, &qa, qname, v->name, err,
		        sizeof(err)) != 0) {
			failed(r, err, NULL);
			return;
		}
		q = queue_new(
		    v, nb, false, false, false, NULL, (struct amqp_bytes){ NULL, 0 }, &qa);
	}
	if (q->exclusive) {
		failed(r, "aliveness-test queue is exclusive to a connection", NULL);
		return;
	}
	struct amqp_basic_properties props;
	uint8_t pbuf[16];
	int pn;

	memset(&props, 0, sizeof(props));
	pn = amqp_properties_encode(&props, pbuf, sizeof(pbuf));
	m = message_new(amqp_cstr(""), nb, (struct amqp_bytes){ pbuf, pn > 0 ? (size_t)pn : 0 },
	    sizeof(payload) - 1);
	message_append_body(m, (const uint8_t *)payload, sizeof(payload) - 1);
	queue_publish(q, m);
	message_unref(m);
	if (!queue_pop(q, &e)) {
		failed(r, "aliveness-test queue is empty", NULL);
		return;
	}
	persist_remove(q, e.m, e.seq);
	message_unref(e.m);
	ok(r);
}

void mgmt_health_alarms(struct mreq *r)
{
	static const struct {
		unsigned bit;
		const char *resource;
	} kinds[] = { { ALARM_MEMORY, "memory" }, { ALARM_DISK, "disk" }, { ALARM_STORE, "disk" } };
	bool local = strcmp(r->segs[2], "local-alarms") == 0;
	json_t *list;
	size_t i;

	if (broker.alarms == 0) {
		ok(r);
		return;
	}
	list = json_array();
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (broker.alarms & kinds[i].bit)
			json_array_append_new(list,
			    json_pack("{s:s, s:s}", "node", mgmt_node_name(), "resource",
			        kinds[i].resource));
	failed(r,
	    local ? "There are alarms in effect on the node"
	          : "There are alarms in effect in the cluster",
	    json_pack("{s:o}", "alarms", list));
}

/* The port of the i-th AMQP listener and whether it is amqps: false past the last. */
static bool listener_port(int i, int *port, bool *tls)
{
	struct sockaddr_storage ss;

	if (server_listener(i, &ss, tls) != 0)
		return false;
	*port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                                 : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return true;
}

void mgmt_health_port(struct mreq *r)
{
	json_t *ports = json_array();
	char *end;
	long want = strtol(r->arg[0], &end, 10);
	bool tls;
	int i, port;

	if (end == r->arg[0] || *end != '\0' || want < 0 || want > 65535) {
		json_decref(ports);
		mgmt_error(r, 400, "bad_request", "Invalid port");
		return;
	}
	for (i = 0; listener_port(i, &port, &tls); i++) {
		if (port == want) {
			json_decref(ports);
			mgmt_reply_json(
			    r, 200, json_pack("{s:s, s:i}", "status", "ok", "port", port));
			return;
		}
		json_array_append_new(ports, json_integer(port));
	}
	failed(
	    r, "No active listener", json_pack("{s:i, s:o}", "missing", (int)want, "ports", ports));
}

/* RabbitMQ's spellings of a protocol, lowercased, to its listener names. */
static const char *normalize_protocol(const char *p)
{
	static const struct {
		const char *in, *out;
	} map[] = { { "amqp091", "amqp" }, { "amqp0.9.1", "amqp" }, { "amqp0-9-1", "amqp" },
		{ "amqp0_9_1", "amqp" }, { "amqp10", "amqp" }, { "amqp1.0", "amqp" },
		{ "amqp1-0", "amqp" }, { "amqp1_0", "amqp" }, { "amqps", "amqp/ssl" } };
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(p, map[i].in) == 0)
			return map[i].out;
	return p;
}

void mgmt_health_protocol(struct mreq *r)
{
	char want[64];
	json_t *protos = json_array();
	bool tls, seen_amqp = false, seen_amqps = false;
	int i, port;
	size_t k;

	snprintf(want, sizeof(want), "%s", normalize_protocol(r->arg[0]));
	for (k = 0; want[k] != '\0'; k++)
		want[k] = (char)(want[k] >= 'A' && want[k] <= 'Z' ? want[k] + 32 : want[k]);
	for (i = 0; listener_port(i, &port, &tls); i++) {
		const char *name = tls ? "amqp/ssl" : "amqp";
		if (strcmp(name, want) == 0) {
			json_decref(protos);
			mgmt_reply_json(
			    r, 200, json_pack("{s:s, s:s}", "status", "ok", "protocol", want));
			return;
		}
		if (!(tls ? seen_amqps : seen_amqp))
			json_array_append_new(protos, json_string(name));
		*(tls ? &seen_amqps : &seen_amqp) = true;
	}
	if (strcmp(want, "http") == 0) { /* the management listener answering this */
		json_decref(protos);
		mgmt_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "ok", "protocol", want));
		return;
	}
	json_array_append_new(protos, json_string("http"));
	failed(
	    r, "No active listener", json_pack("{s:s, s:o}", "missing", want, "protocols", protos));
}

void mgmt_health_vhosts(struct mreq *r)
{
	size_t i, n = auth_db_vhost_count(broker.auth);
	json_t *down = json_array();
	struct amqp_bytes name;

	/* Every vhost the files name runs in the model; one missing there is down. */
	for (i = 0; i < n; i++) {
		name = auth_db_vhost_name(broker.auth, i);
		if (vhost_find(name) == NULL)
			json_array_append_new(down, mgmt_bytes(name.ptr, name.len));
	}
	if (json_array_size(down) == 0) {
		json_decref(down);
		ok(r);
		return;
	}
	failed(r, "Some virtual hosts are down", json_pack("{s:o}", "virtual-hosts", down));
}

/* When the certificate in a PEM file expires (seconds since the epoch), or -1. */
static long long cert_expiry(const char *path)
{
	FILE *f = path != NULL ? fopen(path, "r") : NULL;
	X509 *x;
	struct tm tm;
	long long t = -1;

	if (f == NULL)
		return -1;
	if ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
		if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1)
			t = (long long)timegm(&tm);
		X509_free(x);
	}
	fclose(f);
	return t;
}

static json_t *expiry_list(long long t, long long limit)
{
	char buf[64];
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || t > limit)
		return json_array();
	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	return json_pack("[s]", buf);
}

void mgmt_health_certificates(struct mreq *r)
{
	const char *unit = r->arg[1];
	char *end;
	long long within = strtoll(r->arg[0], &end, 10), secs;
	long long now = (long long)time(NULL), cert, ca;
	json_t *expired;
	bool tls;
	int i, port;

	if (end == r->arg[0] || *end != '\0' || within < 0 || within > 1000000) {
		mgmt_error(r, 400, "bad_request", "Invalid expiration value.");
		return;
	}
	if (strcasecmp(unit, "days") == 0)
		secs = within * 86400;
	else if (strcasecmp(unit, "weeks") == 0)
		secs = within * 86400 * 7;
	else if (strcasecmp(unit, "months") == 0)
		secs = within * 86400 * 365 / 12;
	else if (strcasecmp(unit, "years") == 0)
		secs = within * 86400 * 365;
	else {
		mgmt_error(r, 400, "bad_request",
		    "Time unit not recognised. Supported units: days, weeks, months, years.");
		return;
	}
	cert = cert_expiry(broker.cfg.tls_cert);
	ca = cert_expiry(broker.cfg.tls_ca);
	expired = json_array();
	for (i = 0; listener_port(i, &port, &tls); i++) {
		if (!tls || ((cert < 0 || cert > now + secs) && (ca < 0 || ca > now + secs)))
			continue;
		json_array_append_new(expired,
		    json_pack("{s:s, s:s, s:i, s:s, s:s, s:o, s:o}", "node", mgmt_node_name(),
		        "protocol", "amqp/ssl", "port", port, "certfile",
		        broker.cfg.tls_cert != NULL ? broker.cfg.tls_cert : "", "cacertfile",
		        broker.cfg.tls_ca != NULL ? broker.cfg.tls_ca : "", "certfile_expires_on",
		        expiry_list(cert, now + secs), "cacertfile_expires_on",
		        expiry_list(ca, now + secs)));
	}
	if (json_array_size(expired) == 0) {
		json_decref(expired);
		ok(r);
		return;
	}
	failed(r, "Certificates expiring", json_pack("{s:o}", "expired", expired));
}

void mgmt_health_single_node(struct mreq *r)
{
	mgmt_reply_json(
	    r, 200, json_pack("{s:s, s:s}", "status", "ok", "reason", "single node cluster"));
}

/*
 * GET /api/health/checks/master (docs/cluster.md): 200 only on a cluster node that is master, has
 * at least a quorum minus one of the other members connected, saw no commit fail its quorum ack
 * in the last second, and whose environment is healthy. HAProxy sends clients by it.
 */
void mgmt_health_master(struct mreq *r)
{
	struct store_repl_status s;
	struct timespec now;
	size_t i, connected = 0, quorum;
	int64_t ms;
	char why[400];

	if (persist_role() == PERSIST_SINGLE) {
		failed(r, "this node is not a cluster node", NULL);
		return;
	}
	/*
	 * A replica answers from what the loop knows: the status below (rep_stat, the site list)
	 * waits for repmgr's locks, and on a replica applying the master's log under load that took
	 * up to 106 ms, every 100 ms of HAProxy's checks, stalling the clients it forwards.
	 */
	if (persist_role() != PERSIST_MASTER) {
		const char *m = persist_cluster_master_name();
		snprintf(why, sizeof(why), "this node is a replica%s%s",
		    m[0] != '\0' ? "; the master is " : "", m);
		failed(r, persist_failed() ? "the store failed" : why, NULL);
		return;
	}
	if (persist_cluster_status(&s) != 0) {
		failed(r, persist_last_error(), NULL);
		return;
	}
	if (s.panic || persist_failed()) {
		failed(r, "the store failed", NULL);
		return;
	}
	if (s.role != STORE_ROLE_MASTER || persist_role() != PERSIST_MASTER) {
		snprintf(why, sizeof(why), "this node is a replica");
		for (i = 1; i < s.nsites; i++)
			if (s.sites[i].master)
				snprintf(why, sizeof(why),
				    "this node is a replica; the master is %s:%u", s.sites[i].host,
				    s.sites[i].port);
		failed(r, why, NULL);
		return;
	}
	for (i = 1; i < s.nsites; i++)
		connected += s.sites[i].connected;
	quorum = s.nsites / 2 + 1;
	/* Promoted by the operator to serve alone (a two-node group): no peer to count on. */
	if (connected + 1 < quorum && !s.alone) {
		snprintf(why, sizeof(why),
		    "%zu of %zu other members connected: a majority needs %zu", connected,
		    s.nsites - 1, quorum - 1);
		failed(r, why, NULL);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (s.last_perm_failed_ms >= 0 && ms - s.last_perm_failed_ms < 1000) {
		failed(r, "a commit was not acknowledged by a majority in the last second", NULL);
		return;
	}
	ok(r);
}
