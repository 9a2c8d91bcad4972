/*
 * persist_cluster.c: a cluster node's persistence (docs/cluster.md). The store is opened
 * replicated and without tables; its role changes (store_event_fd) are read on the loop and
 * reported up through hooks.role. Becoming master opens the tables and rebuilds the broker from
 * them exactly as a single node's start does (persist_start). A group whose commit lacked its
 * quorum ack fails its own waiters only (persist_cluster_not_replicated).
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/persist/persist_private.h"

static const char *role_name(enum persist_role r)
{
	return r == PERSIST_MASTER ? "master" : r == PERSIST_REPLICA ? "replica" : "single";
}

/* The master's replication address into buf, or "" (loop thread). */
static void master_name(int eid, char *buf, size_t len)
{
	struct store_repl_status s;
	size_t i;

	buf[0] = '\0';
	if (eid < 0 || store_repl_status(ps.rst, &s) != 0)
		return;
	for (i = 1; i < s.nsites; i++)
		if (s.sites[i].eid == eid)
			snprintf(buf, len, "%s:%u", s.sites[i].host, s.sites[i].port);
}

static void role_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_repl_state st;
	char master[300];
	enum persist_role was = ps.role;

	store_repl_state(ps.rst, &st);
	master_name(st.master_eid, master, sizeof(master));
	if (st.panic && was == PERSIST_MASTER) {
		log_error(
		    "cluster: the replicated environment panicked: giving up the master role");
		ps.role = PERSIST_REPLICA;
	} else if (was == PERSIST_MASTER &&
	    (st.role != STORE_ROLE_MASTER || st.demotions != ps.demotions)) {
		log_warn("cluster: this node is no longer the master%s%s",
		    master[0] != '\0' ? "; the master is now " : "", master);
		ps.role = PERSIST_REPLICA;
	} else if (st.role == STORE_ROLE_MASTER && was != PERSIST_MASTER) {
		log_info("cluster: this node is now the master");
		ps.role = PERSIST_MASTER;
	} else if (st.role == STORE_ROLE_REPLICA) {
		if (was != PERSIST_REPLICA || strcmp(master, ps.master) != 0)
			log_info("cluster: replica%s%s", master[0] != '\0' ? " of " : "", master);
		if (st.master_info[0] != '\0' && strcmp(st.master_info, ps.master_info) != 0)
			log_info(
			    "cluster: the master %s serves AMQP on %s", master, st.master_info);
		ps.role = PERSIST_REPLICA;
	} else {
		return;
	}
	ps.demotions = st.demotions;
	if (ps.role == was && strcmp(master, ps.master) == 0 &&
	    strcmp(st.master_info, ps.master_info) == 0)
		return;
	snprintf(ps.master, sizeof(ps.master), "%s", master);
	snprintf(ps.master_info, sizeof(ps.master_info), "%s", st.master_info);
	log_debug("cluster: role %s -> %s", role_name(was), role_name(ps.role));
	if (ps.hooks.role != NULL)
		ps.hooks.role(ps.role, master, st.master_info);
}

int persist_open_cluster(
    const char *dir, const struct store_repl_config *rc, char *err, size_t errlen)
{
	if ((ps.rst = store_open_repl(dir, rc, err, errlen)) == NULL)
		return -1;
	ps.role_ev =
	    event_new(ps.base, store_event_fd(ps.rst), EV_READ | EV_PERSIST, role_cb, NULL);
	event_add(ps.role_ev, NULL);
	ps.dir = xstrdup(dir);
	log_info("cluster: replication on %s:%u, %zu peer%s; waiting for a master", rc->host,
	    rc->port, rc->npeers, rc->npeers == 1 ? "" : "s");
	return 0;
}

int persist_cluster_master(char *err, size_t errlen)
{
	struct timespec t0, t1;
	char *dir;

	if (ps.st != NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (store_repl_open_tables(ps.rst, err, errlen) != 0)
		return -1;
	ps.st = ps.rst;
	dir = ps.dir; /* persist_start keeps its own copy */
	ps.dir = NULL;
	if (persist_start(dir, err, errlen) != 0) {
		free(dir);
		return -1;
	}
	free(dir);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_info("cluster: the broker is rebuilt from the replicated store in %.1f ms",
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	return 0;
}

bool persist_cluster_is_master(void)
{
	return ps.rst != NULL && store_repl_role(ps.rst) == STORE_ROLE_MASTER;
}

enum persist_role persist_role(void)
{
	return ps.rst != NULL ? ps.role : PERSIST_SINGLE;
}

int persist_cluster_status(struct store_repl_status *out)
{
	if (ps.rst == NULL)
		return -1;
	return store_repl_status(ps.rst, out) == 0 ? 0 : -1;
}

int persist_cluster_promote(void)
{
	if (ps.rst == NULL)
		return -1;
	return store_repl_promote(ps.rst) == 0 ? 0 : -1;
}

int persist_cluster_remove(const char *host, unsigned port)
{
	if (ps.rst == NULL)
		return -1;
	return store_repl_remove_site(ps.rst, host, port) == 0 ? 0 : -1;
}

const char *persist_cluster_master_name(void)
{
	return ps.master;
}

void persist_cluster_advertise(const char *info)
{
	if (ps.rst != NULL)
		store_repl_set_info(ps.rst, info);
}

void persist_cluster_not_replicated(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == ps.not_replicated_logged)
		return;
	ps.not_replicated_logged = now.tv_sec;
	log_warn("cluster: %s: publishers of that batch get basic.nack", store_last_error(ps.rst));
}

void persist_cluster_close(void)
{
	if (ps.role_ev != NULL)
		event_free(ps.role_ev);
	ps.role_ev = NULL;
	if (ps.rst != NULL) {
		store_close(ps.rst); /* a replica: no batch, no thread */
		free(ps.dir);
		ps.dir = NULL;
	}
	ps.rst = NULL;
}
