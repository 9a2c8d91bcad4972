/*
 * repl.c: a cluster node's store (docs/cluster.md): the environment replicated by Berkeley DB's
 * Replication Manager. Configures the sites, quorum acks, heartbeats and timeouts before the
 * environment opens, starts repmgr, and turns repmgr's events (raised on its own threads, and
 * PERM_FAILED on the committing thread) into a state the loop reads after an eventfd wakes it, as
 * the store thread reports completions. Also the private environment a cluster node keeps its
 * scratch table in, and the status `warrenctl cluster status` and the health check read. And a
 * question each replica asks each new master over a repmgr message channel, answered with what
 * the master was given (store_repl_set_info: Warren's advertised AMQP addresses), on a thread of
 * its own so that neither the loop nor repmgr's threads wait for the answer.
 */
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_private.h"

#define OPEN_RETRIES 3000   /* a new master's tables: tries, ... */
#define OPEN_RETRY_US 10000 /* ... this far apart (30 s in all) */
/*
 * Elections: votes are awaited this long (Berkeley DB's default is 2 s: two replicas that called
 * elections at once then made a failover take 2 s), and a failed one is held again this soon.
 */
#define ELECTION_TIMEOUT_US 300000
#define CHECKPOINT_DELAY_US 250000 /* see the checkpoint delay below */
#define ELECTION_RETRY_US 100000
#define REPMGR_THREADS 3      /* message threads */
#define ASK_TIMEOUT_US 500000 /* a replica's question to the master: answered within, ... */
#define ASK_RETRY_MS 100      /* ... or asked again this much later */
#define ASK_QUESTION "warren:info?"

struct store_repl {
	pthread_mutex_t lock; /* the fields below, shared with repmgr's threads */
	int efd;
	struct store_repl_state state;
	bool caught_up;
	bool alone; /* promoted: serving without the other node of a two-node group */
	uint64_t perm_failed;
	int64_t last_perm_failed_ms;
	char host[256]; /* this node's replication address */
	unsigned port;
	unsigned *peer_ports; /* the peers' replication ports (cluster_peers), ... */
	size_t npeers;
	unsigned user_timeout_ms; /* ... and TCP_USER_TIMEOUT on the connections to and from them */
	char info[256];           /* this node's answer, while master (store_repl_set_info) */
	pthread_cond_t wake;      /* the asking thread: a new master to ask, or stop */
	pthread_t asker;
	bool asker_started, stopping;
	int asked_eid;       /* the master whose answer state.master_info holds; -1: none */
	unsigned open_tries; /* loop thread only: a new master's table opens, ... */
	DB **failed;         /* ... and the handles of those that failed */
	size_t nfailed, capfailed;
};

/*
 * Berkeley DB's waits for other threads are polls that sleep a second between looks
 * (__rep_lockout_int: a new master's rep_start waits there until no message thread is inside
 * rep_process_message, which about one election in three met, making that failover take 1-2 s;
 * __db_rep_enter sleeps 5 s in a lockout). Every caller of __os_yield that asks for a second or
 * more checks its condition again on waking (5.3's src/), and the waits Berkeley DB times by
 * adding up its sleeps (an election's) ask for at most half a second: those stay as asked. So a
 * sleep of a second or more is cut to a look every POLL_US. Process-wide, set before the
 * replicated environment is created.
 */
#define POLL_US 5000

static int short_polls(u_long secs, u_long usecs)
{
	struct timespec ts;

	if (secs == 0 && usecs == 0) {
		sched_yield();
		return 0;
	}
	if (secs != 0)
		usecs = POLL_US;
	ts.tv_sec = 0;
	ts.tv_nsec = (long)usecs * 1000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The port of a socket's local (peer false) or remote end; 0 when it has none. */
static unsigned sock_port(int fd, bool peer)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)&ss, &len)
	             : getsockname(fd, (struct sockaddr *)&ss, &len);

	if (r != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* Is fd a connection of repmgr's: accepted on this node's port, or made to a peer's? */
static bool repmgr_conn(const struct store_repl *rp, int fd)
{
	unsigned remote = sock_port(fd, true);
	size_t i;

	if (remote == 0)
		return false; /* a listener, or not connected */
	if (sock_port(fd, false) == rp->port)
		return true;
	for (i = 0; i < rp->npeers; i++)
		if (remote == rp->peer_ports[i])
			return true;
	return false;
}

/*
 * Replication Manager never sets TCP_NODELAY: with quorum acks a commit then waits for Nagle and
 * delayed ACK (44 ms). It does not hand its sockets out, so when it has connected, every connected
 * TCP socket of the process gets the option (warrend's own have it already).
 *
 * Nor does a master ever notice that a peer is gone when the network between them fails: only
 * replicas watch for heartbeats, and TCP keeps the connection up while its retransmissions go
 * unanswered for minutes. A master cut off from the others then went on counting them as
 * connected, and with no commit to fail its quorum ack it passed its health check for as long as
 * the partition lasted. TCP_USER_TIMEOUT on repmgr's own connections (the master's heartbeats are
 * data that must be acknowledged) breaks them once the peer has not acknowledged anything for
 * that long; repmgr then counts the peer as disconnected and retries.
 */
static void tune_sockets(const struct store_repl *rp)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int one = 1, fd, type, domain;
	unsigned timeout = rp->user_timeout_ms;
	socklen_t len;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		fd = atoi(e->d_name);
		len = sizeof(type);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM)
			continue;
		len = sizeof(domain);
		if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
		    (domain != AF_INET && domain != AF_INET6))
			continue;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (repmgr_conn(rp, fd))
			setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
	}
	closedir(d);
}

/*
 * The acks a commit waits for: a majority (quorum) of the group; with two sites Berkeley DB's
 * quorum is the master alone, so there the other site must ack (a confirm then means both disks,
 * and a master whose peer is gone nacks, as a majority of two needs both). Decided by the
 * group's size now: a three-node group with one removed is a two-node group. ALL, not
 * ALL_PEERS: a standby of priority 0 is no peer (it cannot be elected) but must ack.
 */
static u_int32_t ack_policy(struct store *st)
{
	struct store_repl *rp = st->repl;
	DB_REPMGR_SITE *list = NULL;
	u_int count = 0;
	bool peer_up;

	if (st->env->repmgr_site_list(st->env, &count, &list) != 0)
		return DB_REPMGR_ACKS_QUORUM;
	peer_up = count == 1 && list[0].status == DB_REPMGR_CONNECTED;
	free(list);
	if (count != 1)
		return DB_REPMGR_ACKS_QUORUM;
	/* Promoted to serve alone: no ack until the other node is back (then both again). */
	pthread_mutex_lock(&rp->lock);
	if (peer_up)
		rp->alone = false;
	peer_up = !rp->alone;
	pthread_mutex_unlock(&rp->lock);
	return peer_up ? DB_REPMGR_ACKS_ALL : DB_REPMGR_ACKS_NONE;
}

/* repmgr's events, on its threads (PERM_FAILED: on the committing thread). */
static void event_cb(DB_ENV *env, u_int32_t which, void *info)
{
	struct store *st = env->app_private;
	struct store_repl *rp = st->repl;
	uint64_t one = 1;

	if (which == DB_EVENT_REP_PERM_FAILED) {
		/* The store thread's group: it fails (commit_group reads the flag after the commit). */
		if (st->thread_started && pthread_equal(pthread_self(), st->thread))
			st->perm_failed = true;
		pthread_mutex_lock(&rp->lock);
		rp->perm_failed++;
		rp->last_perm_failed_ms = now_ms();
		pthread_mutex_unlock(&rp->lock);
		return;
	}
	if (which == DB_EVENT_REP_CONNECT_ESTD)
		tune_sockets(
		    rp); /* and the loop looks again: a promoted master's peer may be back */
	pthread_mutex_lock(&rp->lock);
	switch (which) {
	case DB_EVENT_REP_MASTER:
		rp->state.role = STORE_ROLE_MASTER;
		rp->state.master_eid = -1;
		rp->caught_up = true;
		break;
	case DB_EVENT_REP_CLIENT:
	case DB_EVENT_REP_DUPMASTER:
		if (rp->state.role == STORE_ROLE_MASTER)
			rp->state.demotions++;
		rp->state.role = STORE_ROLE_REPLICA;
		rp->caught_up = false;
		break;
	case DB_EVENT_REP_NEWMASTER:
		if (rp->state.role == STORE_ROLE_MASTER) {
			rp->state.demotions++;
			rp->state.role = STORE_ROLE_REPLICA;
		}
		rp->state.master_eid = info != NULL ? *(int *)info : -1;
		rp->caught_up = false; /* until it has synced with this master (STARTUPDONE) */
		rp->state.master_info[0] = '\0';
		rp->asked_eid = -1;
		pthread_cond_signal(&rp->wake); /* ask it */
		break;
	case DB_EVENT_REP_MASTER_FAILURE:
		rp->state.master_eid = -1;
		rp->state.master_info[0] = '\0';
		rp->asked_eid = -1;
		break;
	case DB_EVENT_REP_STARTUPDONE: rp->caught_up = true; break;
	case DB_EVENT_PANIC: rp->state.panic = true; break;
	default: break;
	}
	pthread_mutex_unlock(&rp->lock);
	if (write(rp->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: the counter is full, and the loop will look anyway */
	}
}

static int site(DB_ENV *env, const char *host, unsigned port, bool local, bool legacy)
{
	DB_SITE *s = NULL;
	int r;

	if ((r = env->repmgr_site(env, host, port, &s, 0)) != 0)
		return r;
	r = s->set_config(s, local ? DB_LOCAL_SITE : DB_BOOTSTRAP_HELPER, 1);
	if (r == 0 && legacy)
		r = s->set_config(s, DB_LEGACY, 1);
	s->close(s);
	return r;
}

/* A replica's question, on the master (a repmgr message thread): answer with rp->info. */
static void dispatch_cb(DB_ENV *env, DB_CHANNEL *ch, DBT *req, u_int32_t nreq, u_int32_t flags)
{
	struct store *st = env->app_private;
	struct store_repl *rp = st->repl;
	char answer[sizeof(rp->info)];
	DBT reply;

	if ((flags & DB_REPMGR_NEED_RESPONSE) == 0)
		return; /* nothing else is ever sent on a channel */
	answer[0] = '\0';
	pthread_mutex_lock(&rp->lock);
	/* Only the master answers: a node that lost the role says nothing ("" is asked again). */
	if (nreq == 1 && req[0].size == strlen(ASK_QUESTION) &&
	    memcmp(req[0].data, ASK_QUESTION, req[0].size) == 0 &&
	    rp->state.role == STORE_ROLE_MASTER)
		snprintf(answer, sizeof(answer), "%s", rp->info);
	pthread_mutex_unlock(&rp->lock);
	memset(&reply, 0, sizeof(reply));
	reply.data = answer;
	reply.size = (u_int32_t)strlen(answer) + 1; /* the NUL too: never an empty message */
	ch->send_msg(ch, &reply, 1, 0);
}

/* One question to the master: 0 with its answer in out, or a Berkeley DB error. */
static int ask_master(struct store *st, char *out, size_t len)
{
	DB_CHANNEL *ch = NULL;
	DBT req, resp;
	int r;

	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.data = ASK_QUESTION;
	req.size = (u_int32_t)strlen(ASK_QUESTION);
	resp.flags = DB_DBT_MALLOC;
	if ((r = st->env->repmgr_channel(st->env, DB_EID_MASTER, &ch, 0)) != 0)
		return r;
	r = ch->send_request(ch, &req, 1, &resp, ASK_TIMEOUT_US, 0);
	ch->close(ch, 0);
	if (r != 0)
		return r;
	/* The answer is the master's bytes: bounded, NUL-terminated, and "" when it is no master. */
	if (resp.size == 0 || resp.size > len || ((char *)resp.data)[resp.size - 1] != '\0' ||
	    ((char *)resp.data)[0] == '\0')
		r = DB_REP_UNAVAIL;
	else
		memcpy(out, resp.data, resp.size);
	free(resp.data);
	return r;
}

/*
 * The asking thread: whenever this replica has a master whose answer it lacks, ask it (again
 * every ASK_RETRY_MS while it does not answer: just after an election it may not be connected
 * yet); an answer for a master that has changed meanwhile is dropped.
 */
static void *asker_main(void *arg)
{
	struct store *st = arg;
	struct store_repl *rp = st->repl;
	char answer[sizeof(rp->info)];
	uint64_t one = 1;
	struct timespec until;
	int eid, r;

	pthread_mutex_lock(&rp->lock);
	while (!rp->stopping) {
		eid = rp->state.master_eid;
		if (rp->state.role != STORE_ROLE_REPLICA || eid < 0 || eid == rp->asked_eid) {
			pthread_cond_wait(&rp->wake, &rp->lock);
			continue;
		}
		pthread_mutex_unlock(&rp->lock);
		r = ask_master(st, answer, sizeof(answer));
		pthread_mutex_lock(&rp->lock);
		if (r == 0 && rp->state.master_eid == eid && rp->state.role == STORE_ROLE_REPLICA) {
			snprintf(
			    rp->state.master_info, sizeof(rp->state.master_info), "%s", answer);
			rp->asked_eid = eid;
			if (write(rp->efd, &one, sizeof(one)) < 0) {
				/* EAGAIN only: the loop will look anyway */
			}
			continue;
		}
		if (r != 0 && !rp->stopping) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += ASK_RETRY_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&rp->wake, &rp->lock, &until);
		}
	}
	pthread_mutex_unlock(&rp->lock);
	return NULL;
}

void store_repl_set_info(struct store *st, const char *info)
{
	struct store_repl *rp = st->repl;

	pthread_mutex_lock(&rp->lock);
	snprintf(rp->info, sizeof(rp->info), "%s", info);
	pthread_mutex_unlock(&rp->lock);
}

void store_repl_stop(struct store *st)
{
	struct store_repl *rp = st->repl;

	if (rp == NULL || !rp->asker_started)
		return;
	pthread_mutex_lock(&rp->lock);
	rp->stopping = true;
	pthread_cond_signal(&rp->wake);
	pthread_mutex_unlock(&rp->lock);
	pthread_join(rp->asker, NULL);
	rp->asker_started = false;
}

int store_repl_configure(
    struct store *st, const struct store_repl_config *rc, char *err, size_t errlen)
{
	DB_ENV *env = st->env;
	struct store_repl *rp;
	const char *what = "";
	size_t i;
	int r = 0;

	if ((r = db_env_set_func_yield(short_polls)) != 0) {
		snprintf(
		    err, errlen, "%s: replication: yield function: %s", st->dir, db_strerror(r));
		return -1;
	}
	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		abort();
	pthread_mutex_init(&rp->lock, NULL);
	pthread_cond_init(&rp->wake, NULL);
	rp->asked_eid = -1;
	rp->efd = -1;
	rp->state.master_eid = -1;
	rp->last_perm_failed_ms = -1;
	snprintf(rp->host, sizeof(rp->host), "%s", rc->host);
	rp->port = rc->port;
	if (rc->npeers > 0 && (rp->peer_ports = calloc(rc->npeers, sizeof(unsigned))) == NULL)
		abort();
	for (i = 0; i < rc->npeers; i++)
		rp->peer_ports[i] = rc->peer_ports[i];
	rp->npeers = rc->npeers;
	/*
	 * Twice the time replicas wait for a heartbeat before they elect another master: a peer's
	 * kernel acknowledges what reaches it whatever its process is doing, so only a dead link
	 * (or a peer that stopped reading for that long) breaks a connection.
	 */
	rp->user_timeout_ms = 2 * rc->heartbeat_timeout_ms;
	st->repl = rp;
	if ((rp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -1;
	}
	env->app_private = st;
	/*
	 * Forming the group: every member names itself and all the others as legacy sites, so each
	 * counts from the first start and any of them may start first. Joining: helpers only.
	 */
	what = "this node's address (cluster_listen)";
	r = site(env, rc->host, rc->port, true, !rc->join);
	for (i = 0; r == 0 && i < rc->npeers; i++) {
		what = "a peer (cluster_peers)";
		r = site(env, rc->peer_hosts[i], rc->peer_ports[i], false, !rc->join);
	}
	if (r == 0 && (r = env->rep_set_priority(env, rc->priority)) != 0)
		what = "priority";
	if (r == 0 &&
	    (r = env->repmgr_set_ack_policy(env,
	         rc->npeers == 1 && !rc->join ? DB_REPMGR_ACKS_ALL : DB_REPMGR_ACKS_QUORUM)) != 0)
		what = "ack policy";
	if (r == 0 &&
	    ((r = env->rep_set_timeout(env, DB_REP_ACK_TIMEOUT, rc->ack_timeout_ms * 1000)) != 0 ||
	        (r = env->rep_set_timeout(env, DB_REP_HEARTBEAT_SEND, rc->heartbeat_ms * 1000)) !=
	            0 ||
	        (r = env->rep_set_timeout(
	             env, DB_REP_HEARTBEAT_MONITOR, rc->heartbeat_timeout_ms * 1000)) != 0 ||
	        (r = env->rep_set_timeout(env, DB_REP_CONNECTION_RETRY, rc->retry_ms * 1000)) !=
	            0 ||
	        (r = env->rep_set_timeout(env, DB_REP_ELECTION_RETRY, ELECTION_RETRY_US)) != 0 ||
	        (r = env->rep_set_timeout(env, DB_REP_ELECTION_TIMEOUT, ELECTION_TIMEOUT_US)) != 0))
		what = "timeouts";
	/*
	 * A master's checkpoint pauses (DB_REP_CHECKPOINT_DELAY, 30 s by default) between flushing
	 * its cache and logging the checkpoint, to give the replicas time to flush theirs (they
	 * start when the master does, told by a START_SYNC message, on one of repmgr's message
	 * threads): when the store thread ran checkpoints, that stopped every commit for 30 s
	 * (seen after failovers), and it was 0. Checkpoints now run on a thread of their own
	 * (store.c's ckpt_main), which alone waits: 250 ms lets the replicas' flushes finish
	 * before the checkpoint record makes them flush in line with the commits they ack (four
	 * publishers of 16 B without consumers: 145,270-148,972 msg/s in four runs, against 140,878
	 * and 141,317 with no pause).
	 */
	if (r == 0 &&
	    (r = env->rep_set_timeout(env, DB_REP_CHECKPOINT_DELAY, CHECKPOINT_DELAY_US)) != 0)
		what = "checkpoint delay";
	/* Bulk transfer: log records batched per message rather than one each. */
	if (r == 0 && (r = env->rep_set_config(env, DB_REP_CONF_BULK, 1)) != 0)
		what = "bulk transfer";
	/* Deadlocks (a new master's table opens against repmgr's own writes) resolved at once. */
	if (r == 0 && (r = env->set_lk_detect(env, DB_LOCK_DEFAULT)) != 0)
		what = "deadlock detection";
	if (r == 0 && (r = env->set_event_notify(env, event_cb)) != 0)
		what = "event callback";
	if (r == 0 && (r = env->repmgr_msg_dispatch(env, dispatch_cb, 0)) != 0)
		what = "message dispatch";
	if (r != 0) {
		snprintf(err, errlen, "%s: replication: %s: %s", st->dir, what, db_strerror(r));
		return -1;
	}
	return 0;
}

struct store *store_open_repl(
    const char *dir, const struct store_repl_config *rc, char *err, size_t errlen)
{
	struct store *st = store_open_env(dir, rc, err, errlen);
	int r;

	if (st == NULL)
		return NULL;
	/* Three message threads; an election at once if no master answers. */
	if ((r = st->env->repmgr_start(st->env, REPMGR_THREADS, DB_REP_ELECTION)) != 0) {
		snprintf(err, errlen, "%s: starting replication on %s:%u: %s", dir, rc->host,
		    rc->port, db_strerror(r));
		store_close(st);
		return NULL;
	}
	if ((r = pthread_create(&st->repl->asker, NULL, asker_main, st)) != 0) {
		snprintf(err, errlen, "%s: starting a thread: %s", dir, strerror(r));
		store_close(st);
		return NULL;
	}
	st->repl->asker_started = true;
	return st;
}

bool store_repl_env_is_master(struct store *st)
{
	DB_REP_STAT *sp = NULL;
	bool master;

	if (st->env->rep_stat(st->env, &sp, 0) != 0)
		return false;
	master = sp->st_status == DB_REP_MASTER;
	free(sp);
	return master;
}

bool store_replicated(const struct store *st)
{
	return st->repl != NULL;
}

int store_event_fd(const struct store *st)
{
	return st->repl != NULL ? st->repl->efd : -1;
}

void store_repl_state(struct store *st, struct store_repl_state *out)
{
	struct store_repl *rp = st->repl;
	uint64_t n;

	if (read(rp->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new since the last read */
	}
	pthread_mutex_lock(&rp->lock);
	if (rp->asked_eid != rp->state.master_eid || rp->state.role != STORE_ROLE_REPLICA) {
		/* An answer from a master that is no longer this node's: forget it. */
		rp->state.master_info[0] = '\0';
		rp->asked_eid = -1;
	}
	*out = rp->state;
	pthread_mutex_unlock(&rp->lock);
	/* A member added or removed (or a new role): the acks to wait for follow the group's size. */
	if (out->role == STORE_ROLE_MASTER && st->thread_started)
		st->env->repmgr_set_ack_policy(st->env, ack_policy(st));
}

int store_repl_promote(struct store *st)
{
	DB_REPMGR_SITE *list = NULL;
	u_int count = 0, i;
	u_int32_t prio = 0;
	int r;

	if ((r = st->env->repmgr_site_list(st->env, &count, &list)) != 0) {
		snprintf(st->last_error, sizeof(st->last_error), "replication sites: %s",
		    db_strerror(r));
		return STORE_E_DB;
	}
	for (i = 0; i < count && list[i].status != DB_REPMGR_CONNECTED; i++) {
	}
	free(list);
	if (count != 1) {
		snprintf(st->last_error, sizeof(st->last_error),
		    "the group has %u members: a group of three or more elects a master on its "
		    "own; "
		    "promoting is for a two-node group whose other node is gone",
		    count + 1);
		return STORE_E_DB;
	}
	if (i < count) {
		snprintf(st->last_error, sizeof(st->last_error),
		    "the other node is connected: stop it first (two masters would each take "
		    "writes)");
		return STORE_E_DB;
	}
	/*
	 * Two sites elect only with both votes (DB_REPMGR_CONF_2SITE_STRICT): neither can tell a dead
	 * peer from a cut link. The operator can: this site's next election (repmgr retries every
	 * ELECTION_RETRY_US) then needs its own vote only.
	 */
	/* A node of priority 0 (never master) can be made master only by raising it. */
	if ((r = st->env->rep_get_priority(st->env, &prio)) == 0 && prio == 0)
		r = st->env->rep_set_priority(st->env, 1);
	if (r == 0)
		r = st->env->rep_set_config(st->env, DB_REPMGR_CONF_2SITE_STRICT, 0);
	if (r != 0) {
		snprintf(st->last_error, sizeof(st->last_error), "promoting: %s", db_strerror(r));
		return STORE_E_DB;
	}
	pthread_mutex_lock(&st->repl->lock);
	st->repl->alone = true;
	pthread_mutex_unlock(&st->repl->lock);
	return 0;
}

/* The handles of failed opens, once the lockout that failed them is over. */
static void close_failed(struct store_repl *rp)
{
	size_t i;

	for (i = 0; i < rp->nfailed; i++)
		rp->failed[i]->close(rp->failed[i], 0);
	free(rp->failed);
	rp->failed = NULL;
	rp->nfailed = rp->capfailed = 0;
}

enum store_role store_repl_role(struct store *st)
{
	enum store_role r;

	pthread_mutex_lock(&st->repl->lock);
	r = st->repl->state.role;
	pthread_mutex_unlock(&st->repl->lock);
	return r;
}

int store_repl_open_tables(struct store *st, char *err, size_t errlen)
{
	int r, ret;

	/*
	 * Opening a table logs its registration in a transaction of its own, which would wait for a
	 * majority's acks: right after an election the other replica is still syncing with this new
	 * master, and the open waited the whole ack timeout (1 s). Nothing of the broker's is in
	 * those records: they need no acks. And operations held out by repmgr fail at once
	 * (NOWAIT) rather than wait: see store_repl_open_table.
	 */
	if ((r = st->env->repmgr_set_ack_policy(st->env, DB_REPMGR_ACKS_NONE)) != 0 ||
	    (r = st->env->rep_set_config(st->env, DB_REP_CONF_NOWAIT, 1)) != 0) {
		snprintf(err, errlen, "%s: replication: %s", st->dir, db_strerror(r));
		return -1;
	}
	ret = store_open_tables(st, err, errlen);
	close_failed(st->repl);
	if (((r = st->env->rep_set_config(st->env, DB_REP_CONF_NOWAIT, 0)) != 0 ||
	        (r = st->env->repmgr_set_ack_policy(st->env, ack_policy(st))) != 0) &&
	    ret == 0) {
		snprintf(err, errlen, "%s: replication: %s", st->dir, db_strerror(r));
		ret = -1;
	}
	return ret;
}

int store_repl_open_table(struct store *st, DB *db, const char *file, bool create)
{
	DB_TXN *txn = NULL;
	int r;

	/*
	 * An explicit transaction, not DB_AUTO_COMMIT: while repmgr holds operations out (it writes
	 * the group membership database after a new group's first election) an open without one
	 * sleeps 5 s before it fails, and one with a transaction fails at once, to be tried again
	 * 10 ms later (store_repl_retry_open). txn_begin fails at once too, with NOWAIT set.
	 */
	if ((r = st->env->txn_begin(st->env, NULL, &txn, 0)) != 0)
		return r;
	if ((r = db->open(
	         db, txn, file, NULL, DB_BTREE, (create ? DB_CREATE : 0) | DB_THREAD, 0600)) != 0) {
		txn->abort(txn);
		return r;
	}
	return txn->commit(txn, 0);
}

bool store_repl_retry_open(struct store *st, DB *db, int r)
{
	struct store_repl *rp = st->repl;

	if (!store_lockout(r))
		return false;
	if (rp->open_tries++ >= OPEN_RETRIES)
		return false;
	if (rp->nfailed == rp->capfailed) {
		rp->capfailed = rp->capfailed != 0 ? rp->capfailed * 2 : 8;
		if ((rp->failed = realloc(rp->failed, rp->capfailed * sizeof(*rp->failed))) == NULL)
			abort();
	}
	rp->failed[rp->nfailed++] = db;
	usleep(OPEN_RETRY_US);
	return true;
}

int store_repl_open_scratch(struct store *st, char *err, size_t errlen)
{
	char path[4096], file[4200];
	DB_ENV *env = NULL;
	int r;

	snprintf(path, sizeof(path), "%s/scratch", st->dir);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Scratch holds nothing of the last process: start it empty. */
	snprintf(file, sizeof(file), "%s/scratch.db", path);
	if (unlink(file) != 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if ((r = db_env_create(&env, 0)) != 0) {
		snprintf(err, errlen, "%s: db_env_create: %s", path, db_strerror(r));
		return -1;
	}
	st->scratch_env = env;
	env->set_cachesize(env, 0, 8 * 1024 * 1024, 1);
	/* Only the store thread uses it: no log, no transactions, no locks, nothing shared. */
	if ((r = env->open(env, path, DB_CREATE | DB_INIT_MPOOL | DB_PRIVATE, 0600)) != 0 ||
	    (r = db_create(&st->db[STORE_SCRATCH], env, 0)) != 0 ||
	    (r = st->db[STORE_SCRATCH]->set_pagesize(st->db[STORE_SCRATCH], 65536)) != 0 ||
	    (r = st->db[STORE_SCRATCH]->open(st->db[STORE_SCRATCH], NULL, "scratch.db", NULL,
	         DB_BTREE, DB_CREATE, 0600)) != 0) {
		snprintf(err, errlen, "%s: %s", file, db_strerror(r));
		return -1;
	}
	return 0;
}

int store_repl_status(struct store *st, struct store_repl_status *out)
{
	struct store_repl *rp = st->repl;
	DB_REPMGR_SITE *list = NULL;
	DB_REP_STAT *sp = NULL;
	DB_REPMGR_STAT *mp = NULL;
	struct store_repl_state state;
	u_int count = 0, i;
	int r;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&rp->lock);
	state = rp->state;
	out->caught_up = rp->caught_up;
	out->perm_failed = rp->perm_failed;
	out->last_perm_failed_ms = rp->last_perm_failed_ms;
	out->alone = rp->alone;
	pthread_mutex_unlock(&rp->lock);
	out->role = state.role;
	out->panic = state.panic;
	snprintf(out->sites[0].host, sizeof(out->sites[0].host), "%s", rp->host);
	out->sites[0].port = rp->port;
	out->sites[0].eid = -1;
	out->sites[0].connected = true;
	out->sites[0].local = true;
	out->sites[0].master = state.role == STORE_ROLE_MASTER;
	out->nsites = 1;
	if ((r = st->env->repmgr_site_list(st->env, &count, &list)) != 0) {
		snprintf(st->last_error, sizeof(st->last_error), "%s: replication sites: %s",
		    st->dir, db_strerror(r));
		return STORE_E_DB;
	}
	for (i = 0; i < count && out->nsites < STORE_REPL_MAX_SITES; i++) {
		struct store_repl_site *s = &out->sites[out->nsites++];
		snprintf(s->host, sizeof(s->host), "%s", list[i].host);
		s->port = list[i].port;
		s->eid = list[i].eid;
		s->connected = list[i].status == DB_REPMGR_CONNECTED;
		s->master = state.role != STORE_ROLE_MASTER && list[i].eid == state.master_eid;
	}
	free(list);
	if ((r = st->env->rep_stat(st->env, &sp, 0)) != 0) {
		snprintf(st->last_error, sizeof(st->last_error), "%s: replication statistics: %s",
		    st->dir, db_strerror(r));
		return STORE_E_DB;
	}
	out->lsn_file = sp->st_next_lsn.file;
	out->lsn_offset = sp->st_next_lsn.offset;
	out->log_queued = sp->st_log_queued;
	out->log_queued_total = sp->st_log_queued_total;
	out->log_requested = sp->st_log_requested;
	free(sp);
	if (st->env->repmgr_stat(st->env, &mp, 0) == 0) {
		out->msgs_dropped = mp->st_msgs_dropped;
		free(mp);
	}
	return 0;
}

int store_repl_remove_site(struct store *st, const char *host, unsigned port)
{
	DB_SITE *s = NULL;
	int r;

	if ((r = st->env->repmgr_site(st->env, host, port, &s, 0)) == 0)
		r = s->remove(s); /* closes the handle, whatever it returns */
	if (r != 0) {
		snprintf(st->last_error, sizeof(st->last_error), "removing %s:%u: %s", host, port,
		    db_strerror(r));
		return STORE_E_DB;
	}
	return 0;
}

void store_repl_free(struct store *st)
{
	if (st->repl == NULL)
		return;
	free(st->repl->failed); /* closed with the environment */
	free(st->repl->peer_ports);
	if (st->repl->efd >= 0)
		close(st->repl->efd);
	pthread_mutex_destroy(&st->repl->lock);
	pthread_cond_destroy(&st->repl->wake);
	free(st->repl);
	st->repl = NULL;
}
