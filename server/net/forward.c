/*
 * forward.c: what a listener does with an accepted socket on a cluster node (docs/cluster.md):
 * hand it up to be served (a master, a single node), hand it up to be refused with a reason (a
 * replica without a master), or splice it as bytes to the master's matching address (a replica
 * with one): amqp to the master's amqp, amqps to its amqps, TLS passing through untouched. A
 * splice is two bufferevents; each side's input moves to the other's output and stops being read
 * while that output is above FWD_HIGH, until it drains to FWD_LOW; an end of input half-closes
 * the other socket once its output is written, and the splice ends when both ways have ended or
 * either fails. The client's socket is not read until the master has answered the connect, so
 * a connect that fails (or takes FWD_CONNECT_MS) hands it up to be refused untouched.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/net/net.h"

#define FWD_HIGH (256 * 1024) /* bytes waiting for one side before the other is not read */
#define FWD_LOW (64 * 1024)   /* ... and read again once they are down to this */
#define FWD_CONNECT_MS 2000   /* the master's connect: refused after this long */

enum fwd_mode { FWD_SERVE, FWD_REFUSE, FWD_FORWARD };

struct fwd_target {
	bool set;
	struct sockaddr_storage ss;
	socklen_t len;
	char name[300];
};

static struct {
	enum fwd_mode mode;
	char reason[256];             /* FWD_REFUSE's, and FWD_FORWARD's for a missing target */
	struct fwd_target plain, tls; /* FWD_FORWARD's */
	unsigned live;                /* splices open or connecting */
	uint64_t spliced, failed;     /* in all */
} fw;

/* One forwarded connection. */
struct splice {
	struct bufferevent *client, *master; /* client: NULL until the master has answered */
	int fd;                              /* the client's socket, until client owns it */
	struct sockaddr_storage peer;
	int peerlen;
	bool tls;
	bool eof_client, eof_master; /* each side's input has ended */
	char name[128];              /* the client's address, for the log */
	char target[300];
};

/* HOST:PORT or [V6]:PORT into t, resolving the host: 0, or -1 with err. */
static int target_parse(struct fwd_target *t, const char *s, char *err, size_t errlen)
{
	struct evutil_addrinfo hints, *ai = NULL;
	char host[256];
	const char *colon, *h = s;
	size_t hl;
	int r;

	memset(t, 0, sizeof(*t));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			goto bad;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || colon[1] == '\0')
		goto bad;
	memcpy(host, h, hl);
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_NUMERICSERV | EVUTIL_AI_ADDRCONFIG;
	if ((r = evutil_getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s: %s", s, evutil_gai_strerror(r));
		return -1;
	}
	memcpy(&t->ss, ai->ai_addr, ai->ai_addrlen);
	t->len = (socklen_t)ai->ai_addrlen;
	evutil_freeaddrinfo(ai);
	snprintf(t->name, sizeof(t->name), "%s", s);
	t->set = true;
	return 0;
bad:
	snprintf(err, errlen, "%s: not HOST:PORT", s);
	return -1;
}

void net_forward_serve(void)
{
	fw.mode = FWD_SERVE;
}

void net_forward_refuse(const char *reason)
{
	fw.mode = FWD_REFUSE;
	snprintf(fw.reason, sizeof(fw.reason), "%s", reason);
}

int net_forward_to(const char *plain, const char *tls, const char *missing, char *err, size_t len)
{
	struct fwd_target p = { 0 }, t = { 0 };

	if (plain != NULL && target_parse(&p, plain, err, len) != 0)
		return -1;
	if (tls != NULL && target_parse(&t, tls, err, len) != 0)
		return -1;
	fw.plain = p;
	fw.tls = t;
	snprintf(fw.reason, sizeof(fw.reason), "%s", missing);
	fw.mode = FWD_FORWARD;
	return 0;
}

void net_forward_stats(unsigned *live, uint64_t *spliced, uint64_t *failed)
{
	*live = fw.live;
	*spliced = fw.spliced;
	*failed = fw.failed;
}

static void splice_free(struct splice *s)
{
	if (s->client != NULL)
		bufferevent_free(s->client);
	else if (s->fd >= 0)
		evutil_closesocket(s->fd);
	if (s->master != NULL)
		bufferevent_free(s->master);
	fw.live--;
	free(s);
}

static struct bufferevent *other(struct splice *s, struct bufferevent *bev)
{
	return bev == s->client ? s->master : s->client;
}

/* The other side's input has ended and its bytes are written: end this side's output too. */
static void half_close(struct bufferevent *to)
{
	shutdown(bufferevent_getfd(to), SHUT_WR);
}

/* Both inputs ended and both outputs written: the splice is over (freed: true). */
static bool splice_done(struct splice *s)
{
	if (!s->eof_client || !s->eof_master ||
	    evbuffer_get_length(bufferevent_get_output(s->client)) != 0 ||
	    evbuffer_get_length(bufferevent_get_output(s->master)) != 0)
		return false;
	splice_free(s);
	return true;
}

/* Bytes from one side: onto the other's output, and stop reading past FWD_HIGH. */
static void splice_read_cb(struct bufferevent *from, void *arg)
{
	struct splice *s = arg;
	struct bufferevent *to = other(s, from);
	struct evbuffer *out = bufferevent_get_output(to);

	evbuffer_add_buffer(out, bufferevent_get_input(from));
	if (evbuffer_get_length(out) >= FWD_HIGH) {
		bufferevent_disable(from, EV_READ);
		/* Read again from to's write callback, once its output is down to FWD_LOW. */
		bufferevent_setwatermark(to, EV_WRITE, FWD_LOW, 0);
	}
}

/* A side's output went down to its low mark: read the other side again, or half-close. */
static void splice_write_cb(struct bufferevent *to, void *arg)
{
	struct splice *s = arg;
	struct bufferevent *from = other(s, to);
	bool from_eof = from == s->client ? s->eof_client : s->eof_master;

	if (from_eof) {
		if (evbuffer_get_length(bufferevent_get_output(to)) == 0 && !splice_done(s))
			half_close(to);
		return;
	}
	if (!(bufferevent_get_enabled(from) & EV_READ)) {
		bufferevent_setwatermark(to, EV_WRITE, 0, 0);
		bufferevent_enable(from, EV_READ);
	}
}

static void splice_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct splice *s = arg;
	struct bufferevent *to = other(s, bev);

	if (what & BEV_EVENT_EOF) {
		/* Whatever was read last goes over first (libevent reads before it reports EOF). */
		splice_read_cb(bev, s);
		if (bev == s->client)
			s->eof_client = true;
		else
			s->eof_master = true;
		bufferevent_disable(bev, EV_READ);
		if (splice_done(s))
			return;
		/* Half-close the other side once its output is written (now, or in its write cb). */
		bufferevent_setwatermark(to, EV_WRITE, 0, 0);
		if (evbuffer_get_length(bufferevent_get_output(to)) == 0)
			half_close(to);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		log_debug("%s: forwarded connection to %s ends: %s", s->name, s->target,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		splice_free(s);
	}
}

/* The master could not be reached: the client's socket goes up untouched, to be refused. */
static void splice_refuse(struct splice *s, struct event_base *base, const char *why)
{
	char reason[600];
	int fd = s->fd;

	fw.failed++;
	log_warn("%s: forwarding to the master at %s: %s", s->name, s->target, why);
	snprintf(reason, sizeof(reason),
	    "cannot reach the master at %s (%s); try again in a moment", s->target, why);
	s->fd = -1;
	net_accepted_up(base, fd, (struct sockaddr *)&s->peer, s->peerlen, s->tls, reason);
	splice_free(s);
}

/* The master's connect: splice on success; on failure or timeout, refuse. */
static void connect_cb(struct bufferevent *bev, short what, void *arg)
{
	struct splice *s = arg;
	struct event_base *base = bufferevent_get_base(bev);
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((s->client = bufferevent_socket_new(base, s->fd, BEV_OPT_CLOSE_ON_FREE)) ==
		    NULL) {
			log_error("%s: cannot create a buffer for the connection", s->name);
			splice_free(s);
			return;
		}
		s->fd = -1;
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setcb(s->client, splice_read_cb, splice_write_cb, splice_event_cb, s);
		bufferevent_setcb(s->master, splice_read_cb, splice_write_cb, splice_event_cb, s);
		bufferevent_enable(s->client, EV_READ | EV_WRITE);
		bufferevent_enable(s->master, EV_READ | EV_WRITE);
		fw.spliced++;
		log_info("%s: forwarded to the master at %s", s->name, s->target);
		return;
	}
	splice_refuse(s, base,
	    (what & BEV_EVENT_TIMEOUT) ? "no answer within 2 s"
	                               : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* An accepted socket in FWD_FORWARD: connect to the master's matching address. */
static void forward(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls)
{
	const struct fwd_target *t = tls ? &fw.tls : &fw.plain;
	struct timeval tv = { FWD_CONNECT_MS / 1000, (FWD_CONNECT_MS % 1000) * 1000 };
	struct splice *s;

	if (!t->set) {
		net_accepted_up(base, fd, sa, salen, tls, fw.reason);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	fw.live++;
	s->fd = fd;
	s->tls = tls;
	if (salen > 0 && (size_t)salen <= sizeof(s->peer)) {
		memcpy(&s->peer, sa, (size_t)salen);
		s->peerlen = salen;
	}
	server_format_addr(sa, s->name, sizeof(s->name));
	snprintf(s->target, sizeof(s->target), "%s", t->name);
	s->master = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (s->master == NULL) {
		splice_refuse(s, base, "cannot create a buffer");
		return;
	}
	bufferevent_setcb(s->master, NULL, NULL, connect_cb, s);
	/* libevent times a connect with the write timeout. */
	bufferevent_set_timeouts(s->master, NULL, &tv);
	if (bufferevent_socket_connect(s->master, (struct sockaddr *)&t->ss, (int)t->len) != 0) {
		/* Failed at once (libevent 2.1 then calls no callback: the splice is ours). */
		splice_refuse(s, base, strerror(errno));
		return;
	}
}

void net_forward_accepted(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls)
{
	switch (fw.mode) {
	case FWD_SERVE: net_accepted_up(base, fd, sa, salen, tls, NULL); break;
	case FWD_REFUSE: net_accepted_up(base, fd, sa, salen, tls, fw.reason); break;
	case FWD_FORWARD: forward(base, fd, sa, salen, tls); break;
	}
}
