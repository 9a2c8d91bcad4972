/*
 * cluster.c: the admin layer's side of a cluster node (docs/cluster.md): the cluster_* keys of
 * warren.conf, the role changes the model reports (broker.cluster_role): serve AMQP once
 * master; while a replica, forward each client to the master's AMQP address (which the master
 * tells its replicas: cluster_advertise), or refuse it with a reason when there is none; on losing
 * the master role, close every connection with 320 and execute warrend again, which tears the
 * model down and rejoins as a replica. Also GET /api/cluster and DELETE /api/cluster/nodes/HOST:PORT
 * (warrenctl cluster).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/admin/mgmt.h"

#define NAME_WAIT_MS 2000   /* a demoted node's wait for the new master's name, ... */
#define CLOSE_GRACE_MS 1000 /* ... then its clients' time to answer close-ok */
#define NO_MASTER "no master in the cluster at the moment; try again in a moment"

static struct {
	struct event_base *base;
	const struct server_options *opt;
	char **argv;
	bool serving, reexec, closed, ready;
	struct event *wait_ev;
	struct timespec demoted_at;
	long closed_at;   /* ms after the demotion */
	char master[300]; /* the new master's replication address, once known */
} cl;

/* HOST:PORT into host (a copy) and port: NULL, or the reason it is wrong. */
static const char *parse_addr(const char *s, char **host, unsigned *port)
{
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long p;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return "must be HOST:PORT";
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || !isdigit((unsigned char)colon[1]) || p == 0 || p > 65535)
		return "has a port that is not a number from 1 to 65535";
	if ((size_t)(colon - s) > 255)
		return "has a host name longer than 255 bytes";
	*host = xstrndup(s, (size_t)(colon - s));
	*port = (unsigned)p;
	return NULL;
}

static const char *parse_ms(const char *value, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long n;
	char *end;

	errno = 0;
	if (!isdigit((unsigned char)*value))
		return "";
	n = strtoul(value, &end, 10);
	if (errno != 0 || *end != '\0' || n < lo || n > hi)
		return "";
	*out = (unsigned)n;
	return NULL;
}

void cluster_config_defaults(struct cluster_options *c)
{
	memset(c, 0, sizeof(*c));
	c->priority = 100;
	c->ack_timeout_ms = 1000;
	c->heartbeat_ms = 250;
	c->heartbeat_timeout_ms = 1000;
	c->retry_ms = 1000;
}

const char *cluster_config_apply(struct cluster_options *c, const char *key, const char *value)
{
	const char *why;

	if (strcmp(key, "cluster_listen") == 0) {
		free(c->host);
		if ((why = parse_addr(value, &c->host, &c->port)) != NULL)
			return "cluster_listen must be HOST:PORT (a port from 1 to 65535)";
	} else if (strcmp(key, "cluster_peers") == 0) {
		char *copy = xstrdup(value), *tok, *save = NULL;
		for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
		     tok = strtok_r(NULL, ", \t", &save)) {
			if (c->npeers == CLUSTER_MAX_PEERS) {
				free(copy);
				return "cluster_peers names more than 15 peers";
			}
			if (parse_addr(tok, &c->peer_hosts[c->npeers], &c->peer_ports[c->npeers]) !=
			    NULL) {
				free(copy);
				return "cluster_peers must be HOST:PORT, HOST:PORT, ... (ports "
				       "from 1 "
				       "to 65535)";
			}
			c->npeers++;
		}
		free(copy);
		if (c->npeers == 0)
			return "cluster_peers names no peer";
	} else if (strcmp(key, "cluster_join") == 0) {
		if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			c->join = true;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			c->join = false;
		else
			return "cluster_join must be yes or no";
	} else if (strcmp(key, "cluster_priority") == 0) {
		if (parse_ms(value, 0, 1000, &c->priority) != NULL)
			return "cluster_priority must be a number from 0 (never master) to 1000";
	} else if (strcmp(key, "cluster_ack_timeout") == 0) {
		if (parse_ms(value, 10, 60000, &c->ack_timeout_ms) != NULL)
			return "cluster_ack_timeout must be milliseconds from 10 to 60000";
	} else if (strcmp(key, "cluster_heartbeat") == 0) {
		if (parse_ms(value, 10, 60000, &c->heartbeat_ms) != NULL)
			return "cluster_heartbeat must be milliseconds from 10 to 60000";
	} else if (strcmp(key, "cluster_heartbeat_timeout") == 0) {
		if (parse_ms(value, 20, 600000, &c->heartbeat_timeout_ms) != NULL)
			return "cluster_heartbeat_timeout must be milliseconds from 20 to 600000";
	} else if (strcmp(key, "cluster_advertise_amqp") == 0 ||
	    strcmp(key, "cluster_advertise_amqps") == 0) {
		bool tls = key[sizeof("cluster_advertise_amqp") - 1] == 's';
		char **dst = tls ? &c->advertise_amqps : &c->advertise_amqp, *host = NULL;
		unsigned port;

		if (parse_addr(value, &host, &port) != NULL || strcmp(host, "0.0.0.0") == 0 ||
		    strcmp(host, "[::]") == 0 || host[0] == '\0') {
			free(host);
			return tls ? "cluster_advertise_amqps must be HOST:PORT, the address "
			             "replicas reach this node's amqps listener at (not 0.0.0.0)"
			           : "cluster_advertise_amqp must be HOST:PORT, the address "
			             "replicas reach this node's AMQP listener at (not 0.0.0.0)";
		}
		free(host);
		free(*dst);
		*dst = xstrdup(value);
	} else if (strcmp(key, "cluster_retry") == 0) {
		if (parse_ms(value, 10, 600000, &c->retry_ms) != NULL)
			return "cluster_retry must be milliseconds from 10 to 600000";
	} else {
		return "unknown key";
	}
	return NULL;
}

const char *cluster_config_check(const struct cluster_options *c)
{
	if (c->host == NULL && (c->npeers > 0 || c->join))
		return "cluster_peers and cluster_join need cluster_listen";
	if (c->host != NULL && c->npeers == 0)
		return "cluster_listen needs cluster_peers (the other members, or one to join "
		       "through)";
	if (c->host != NULL && c->heartbeat_timeout_ms <= c->heartbeat_ms)
		return "cluster_heartbeat_timeout must be longer than cluster_heartbeat";
	if (c->host == NULL && (c->advertise_amqp != NULL || c->advertise_amqps != NULL))
		return "cluster_advertise_amqp and cluster_advertise_amqps need cluster_listen";
	return NULL;
}

/* Every descriptor but the standard three closed at exec: the new process opens its own. */
static void cloexec_all(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int fd, dfd = d != NULL ? dirfd(d) : -1;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		fd = atoi(e->d_name);
		if (fd > 2 && fd != dfd)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	closedir(d);
}

void cluster_reexec_if_demoted(void)
{
	sigset_t stop;

	if (!cl.reexec || !cl.ready)
		return;
	/*
	 * A SIGTERM from here on stays pending across the exec (the new warrend blocks it until
	 * its handlers are in); one that came before is in libevent's queue: run it, and stop.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	event_base_loop(cl.base, EVLOOP_NONBLOCK);
	if (broker.stopping) {
		log_info("cluster: stopping while giving up the master role: exiting now");
		_exit(0);
	}
	log_info("cluster: starting again as a replica");
	cloexec_all();
	execv("/proc/self/exe", cl.argv);
	log_error("cluster: executing warrend again: %s", strerror(errno));
	_exit(1);
}

/* After a demotion: once every connection is gone, or after the grace, stop the loop. */
/* Milliseconds since the demotion. */
static long since_demoted(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - cl.demoted_at.tv_sec) * 1000 +
	    (now.tv_nsec - cl.demoted_at.tv_nsec) / 1000000;
}

/* Every connection closed with 320, naming the new master if one is known. */
static void close_all(void)
{
	char reason[512];

	snprintf(reason, sizeof(reason),
	    "broker forced connection closure with reason 'this node is no longer the master%s%s'",
	    cl.master[0] != '\0' ? "; the master is now " : "", cl.master);
	conn_close_all(AMQP_CONNECTION_FORCED, reason);
	cl.closed = true;
	cl.closed_at = since_demoted();
}

/*
 * After a demotion, every 50 ms: the connections are closed once the new master is known (or
 * after NAME_WAIT_MS), then, once they are gone (or after CLOSE_GRACE_MS), warrend executes
 * itself at once: the store is not closed first, as after a crash (its recovery at the next open
 * is what a replica needs anyway, and a demoted environment's operations can sleep 5 s in
 * repmgr's lockout).
 */
static void wait_cb(evutil_socket_t fd, short what, void *arg)
{
	long ms = since_demoted();

	/*
	 * SIGTERM meanwhile: stop rather than start again, and at once, as after a crash (closing
	 * the store of an environment that just lost the master role can sleep in repmgr's lockout).
	 */
	if (broker.stopping) {
		log_info("cluster: stopping while giving up the master role: exiting now");
		_exit(0);
	}

	if (!cl.closed && (cl.master[0] != '\0' || ms >= NAME_WAIT_MS))
		close_all();
	if (cl.closed && (conn_none_left() || ms - cl.closed_at >= CLOSE_GRACE_MS)) {
		cl.ready = true; /* main calls cluster_reexec_if_demoted once the loop is out */
		event_base_loopexit(cl.base, NULL);
	}
}

/*
 * A replica's listeners: forward to the master's addresses, as its answer info says
 * ("amqp=HOST:PORT amqps=HOST:PORT", either missing), or refuse when none is known.
 */
static void replica_forward(const char *master, const char *info)
{
	char copy[256], *tok, *save = NULL, *plain = NULL, *tls = NULL, err[400], why[400];

	if (master[0] == '\0') {
		net_forward_refuse(NO_MASTER);
		return;
	}
	if (info[0] == '\0') {
		/* Asked at once when it is announced: answered within milliseconds, in the logs. */
		snprintf(why, sizeof(why),
		    "the master %s has not yet said where it serves AMQP; try again in a moment",
		    master);
		net_forward_refuse(why);
		return;
	}
	snprintf(copy, sizeof(copy), "%s", info);
	for (tok = strtok_r(copy, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
		if (strncmp(tok, "amqp=", 5) == 0)
			plain = tok + 5;
		else if (strncmp(tok, "amqps=", 6) == 0)
			tls = tok + 6;
	}
	snprintf(why, sizeof(why), "the master %s has no %s listener", master,
	    plain == NULL ? "AMQP" : "amqps");
	if (net_forward_to(plain, tls, why, err, sizeof(err)) != 0) {
		log_error("cluster: the master %s advertises %s: %s", master, info, err);
		snprintf(why, sizeof(why), "the master's address %s does not resolve here", info);
		net_forward_refuse(why);
		return;
	}
	log_info("cluster: forwarding AMQP clients to the master %s at %s", master, info);
}

static void role_cb(enum persist_role role, const char *master, const char *info, bool ok)
{
	if (cl.reexec) {
		/* Demoted: the new master's name may come after the demotion itself. */
		if (master[0] != '\0')
			snprintf(cl.master, sizeof(cl.master), "%s", master);
		return;
	}
	if (role == PERSIST_MASTER && ok) {
		if (cl.serving)
			return;
		/* New clients are served here; those forwarded to the old master go with it. */
		net_forward_serve();
		cl.serving = true;
		log_info("cluster: master: serving AMQP");
		return;
	}
	if (role == PERSIST_REPLICA && !cl.serving && ok) {
		replica_forward(master, info); /* a replica's master changed */
		return;
	}
	/* Lost the master role (or could not take it up): the model is stale. */
	net_forward_refuse(NO_MASTER);
	cl.reexec = true;
	snprintf(cl.master, sizeof(cl.master), "%s", master);
	server_stop_listening();
	clock_gettime(CLOCK_MONOTONIC, &cl.demoted_at);
	cl.wait_ev = event_new(cl.base, -1, EV_PERSIST, wait_cb, NULL);
	event_add(cl.wait_ev, &(struct timeval){ 0, 50000 });
	wait_cb(-1, 0, NULL);
}

int cluster_open(struct event_base *base, const struct server_options *opt, char **argv, char *err,
    size_t errlen)
{
	const struct cluster_options *c = &opt->cluster;
	struct store_repl_config rc = { .host = c->host,
		.port = c->port,
		.peer_hosts = (const char *const *)c->peer_hosts,
		.peer_ports = c->peer_ports,
		.npeers = c->npeers,
		.join = c->join,
		.priority = c->priority,
		.ack_timeout_ms = c->ack_timeout_ms,
		.heartbeat_ms = c->heartbeat_ms,
		.heartbeat_timeout_ms = c->heartbeat_timeout_ms,
		.retry_ms = c->retry_ms };

	cl.base = base;
	cl.opt = opt;
	cl.argv = argv;
	broker.cluster_role = role_cb;
	/* Until a master is known, clients are told there is none (the listeners open later). */
	net_forward_refuse(NO_MASTER);
	return persist_open_cluster(opt->data_dir, &rc, err, errlen);
}

/* The first listener of a kind's address as replicas reach it into buf: 0, or -1 without one. */
static int listener_address(bool want_tls, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	bool tls;
	int i;

	for (i = 0; server_listener(i, &ss, &tls) == 0; i++) {
		if (tls != want_tls)
			continue;
		if (ss.ss_family == AF_INET &&
		    ((struct sockaddr_in *)&ss)->sin_addr.s_addr == htonl(INADDR_ANY))
			/* 0.0.0.0 is no address to reach: the host replicas reach this node at. */
			snprintf(buf, len, "%s:%u", cl.opt->cluster.host,
			    ntohs(((struct sockaddr_in *)&ss)->sin_port));
		else if (ss.ss_family == AF_INET6 &&
		    IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr))
			snprintf(buf, len,
			    strchr(cl.opt->cluster.host, ':') != NULL ? "[%s]:%u" : "%s:%u",
			    cl.opt->cluster.host, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
		else
			server_format_addr((struct sockaddr *)&ss, buf, len);
		return 0;
	}
	return -1;
}

int cluster_advertise(char *err, size_t errlen)
{
	const struct cluster_options *c = &cl.opt->cluster;
	char plain[300] = "", tls[300] = "", info[700];

	if (c->advertise_amqp != NULL)
		snprintf(plain, sizeof(plain), "%s", c->advertise_amqp);
	else
		listener_address(false, plain, sizeof(plain));
	if (c->advertise_amqps != NULL)
		snprintf(tls, sizeof(tls), "%s", c->advertise_amqps);
	else
		listener_address(true, tls, sizeof(tls));
	snprintf(info, sizeof(info), "%s%s%s%s%s", plain[0] != '\0' ? "amqp=" : "", plain,
	    plain[0] != '\0' && tls[0] != '\0' ? " " : "", tls[0] != '\0' ? "amqps=" : "", tls);
	if (strlen(info) > 255) {
		snprintf(err, errlen,
		    "the advertised AMQP addresses (%s) are longer than 255 bytes", info);
		return -1;
	}
	persist_cluster_advertise(info);
	log_info(
	    "cluster: replicas will forward AMQP clients to %s while this node is master", info);
	return 0;
}

void cluster_free(void)
{
	if (cl.wait_ev != NULL)
		event_free(cl.wait_ev);
	cl.wait_ev = NULL;
}

/* ---- the management API ---- */

static const char *role_text(enum store_role r)
{
	return r == STORE_ROLE_MASTER ? "master" : r == STORE_ROLE_REPLICA ? "replica" : "starting";
}

/* GET /api/cluster: this node's view of the group. */
void mgmt_cluster(struct mreq *r)
{
	struct store_repl_status s;
	struct timespec now;
	json_t *o, *nodes;
	char lsn[64];
	size_t i;

	if (persist_role() == PERSIST_SINGLE) {
		mgmt_error(r, 404, "not_found", "%s",
		    "this node is not a cluster node (no cluster_listen)");
		return;
	}
	if (persist_cluster_status(&s) != 0) {
		mgmt_error(r, 500, "internal_error", "%s", persist_last_error());
		return;
	}
	nodes = json_array();
	for (i = 0; i < s.nsites; i++) {
		const struct store_repl_site *n = &s.sites[i];
		char name[300];
		snprintf(name, sizeof(name), "%s:%u", n->host, n->port);
		json_array_append_new(nodes,
		    json_pack("{s:s, s:s, s:b, s:b}", "name", name, "role",
		        n->master ? "master" : (n->local ? role_text(s.role) : "replica"),
		        "connected", n->connected, "local", n->local));
	}
	o = json_pack("{s:s, s:o, s:I, s:b, s:I, s:b}", "role", role_text(s.role), "nodes", nodes,
	    "log_queued", (json_int_t)s.log_queued, "caught_up", s.caught_up, "perm_failed",
	    (json_int_t)s.perm_failed, "panic", s.panic);
	snprintf(lsn, sizeof(lsn), "%u/%u", s.lsn_file, s.lsn_offset);
	json_object_set_new(o, "log_position", json_string(lsn));
	json_object_set_new(o, "serving_alone", json_boolean(s.alone));
	json_object_set_new(o, "log_queued_total", json_integer((json_int_t)s.log_queued_total));
	json_object_set_new(o, "log_requested", json_integer((json_int_t)s.log_requested));
	json_object_set_new(o, "msgs_dropped", json_integer((json_int_t)s.msgs_dropped));
	/* The users and vhost files in force: equal on every node whose files are the same. */
	json_object_set_new(o, "files_fingerprint", json_string(auth_db_fingerprint(broker.auth)));
	clock_gettime(CLOCK_MONOTONIC, &now);
	json_object_set_new(o, "last_perm_failed_ms_ago",
	    json_integer(s.last_perm_failed_ms < 0
	            ? -1
	            : (json_int_t)(now.tv_sec * 1000 + now.tv_nsec / 1000000 -
	                  s.last_perm_failed_ms)));
	mgmt_reply_json(r, 200, o);
}

/* POST /api/cluster/promote: a two-node group's replica becomes master, the other node gone. */
void mgmt_cluster_promote(struct mreq *r)
{
	if (persist_role() == PERSIST_SINGLE) {
		mgmt_error(r, 404, "not_found", "%s",
		    "this node is not a cluster node (no cluster_listen)");
		return;
	}
	if (persist_role() == PERSIST_MASTER) {
		mgmt_error(r, 400, "bad_request", "%s", "this node is the master already");
		return;
	}
	if (persist_cluster_promote() != 0) {
		mgmt_error(r, 400, "bad_request", "%s", persist_last_error());
		return;
	}
	log_warn("cluster: promoted by the operator: this node may become master on its own vote");
	mgmt_reply_empty(r, 204);
}

/* DELETE /api/cluster/nodes/HOST:PORT: take a member out of the group. */
void mgmt_cluster_remove(struct mreq *r)
{
	struct store_repl_status s;
	char *host = NULL;
	unsigned port;
	size_t i;

	if (persist_role() == PERSIST_SINGLE) {
		mgmt_error(r, 404, "not_found", "%s",
		    "this node is not a cluster node (no cluster_listen)");
		return;
	}
	if (parse_addr(r->arg[0], &host, &port) != NULL) {
		mgmt_error(
		    r, 400, "bad_request", "%s", "a node is named HOST:PORT (its cluster_listen)");
		return;
	}
	if (persist_cluster_status(&s) != 0) {
		mgmt_error(r, 500, "internal_error", "%s", persist_last_error());
		goto out;
	}
	for (i = 0; i < s.nsites; i++)
		if (strcmp(s.sites[i].host, host) == 0 && s.sites[i].port == port)
			break;
	if (i == s.nsites) {
		mgmt_error(r, 404, "not_found", "%s:%u is not a member of the group", host, port);
		goto out;
	}
	if (s.sites[i].local) {
		mgmt_error(r, 400, "bad_request",
		    "%s:%u is this node: remove it from another member, once it is stopped", host,
		    port);
		goto out;
	}
	if (persist_cluster_remove(host, port) != 0)
		mgmt_error(r, 400, "bad_request", "%s", persist_last_error());
	else
		mgmt_reply_empty(r, 204);
out:
	free(host);
}
