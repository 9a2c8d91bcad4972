/*
 * forward.c: what a listener does with an accepted socket on a cluster node (docs/cluster.md):
 * hand it up to be served (a master, a single node), hand it up to be refused with a reason (a
 * replica without a master), or splice it as bytes to the master's matching address (a replica
 * with one): amqp to the master's amqp, amqps to its amqps, TLS passing through untouched.
 *
 * A splice is two sockets, each written by a bufferevent and read by an event of its own: bytes
 * read go on with a send at once when nothing waits for the other socket, else straight into its
 * output (libevent 2.1's own reads take 4 KiB per turn of the loop, which held a splice to a third
 * of the master's rate). A side stops being read while the other's output is above FWD_HIGH,
 * until it drains to FWD_LOW; an end of input half-closes the other socket once its output is
 * written; the splice ends when both ways have ended, or when either socket fails (TCP keepalive
 * finds one gone silent). The client's
 * socket is not read until the master has answered the connect, so a connect that fails (or takes
 * FWD_CONNECT_MS) hands it up untouched, to be refused.
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

#define FWD_HIGH (256 * 1024)     /* bytes waiting for one side before the other is not read */
#define FWD_LOW (64 * 1024)       /* ... and read again once they are down to this */
#define FWD_CONNECT_MS 2000       /* the master's connect: refused after this long */
#define FWD_READ_MIN 4096         /* bytes read at once: from this, doubling while reads fill */
#define FWD_READ_MAX (128 * 1024) /* ... what was offered, up to this (writes too) */
/* A peer gone silent (a partition): TCP keepalive ends the splice after 30 s + 3 x 10 s. */
#define FWD_KEEPIDLE 30
#define FWD_KEEPINTVL 10
#define FWD_KEEPCNT 3

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
	size_t peak;                  /* the most bytes one splice's output has held */
} fw;

/* One side of a splice: the client's socket, or the master's. */
struct side {
	struct bufferevent *bev; /* writes this side, and owns its socket */
	struct event *rev;       /* reads it (libevent 2.1's own reads take 4 KiB at a time) */
	size_t read_size; /* bytes taken at once: FWD_READ_MIN, doubling while reads fill it */
	bool eof;         /* its input has ended */
	bool paused;      /* not read: the other side's output is above FWD_HIGH */
	struct splice *s;
};

/* One forwarded connection. */
struct splice {
	struct side client, master; /* client.bev: NULL until the master has answered */
	int fd;                     /* the client's socket, until client.bev owns it */
	struct event_base *base;
	struct sockaddr_storage peer;
	int peerlen;
	bool tls, dying;
	char name[128]; /* the client's address, for the log */
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

void net_forward_stats(unsigned *live, uint64_t *spliced, uint64_t *failed, size_t *peak)
{
	*live = fw.live;
	*spliced = fw.spliced;
	*failed = fw.failed;
	*peak = fw.peak;
}

static void side_free(struct side *d)
{
	if (d->rev != NULL)
		event_free(d->rev);
	if (d->bev != NULL)
		bufferevent_free(d->bev);
}

static void splice_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct splice *s = arg;

	if (s->client.bev == NULL && s->fd >= 0)
		evutil_closesocket(s->fd);
	side_free(&s->client);
	side_free(&s->master);
	fw.live--;
	free(s);
}

/* Ends a splice: nothing more is read or written; freed on the loop, outside any callback. */
static void splice_end(struct splice *s)
{
	struct side *d[2] = { &s->client, &s->master };
	int i;

	if (s->dying)
		return;
	s->dying = true;
	for (i = 0; i < 2; i++) {
		if (d[i]->rev != NULL)
			event_del(d[i]->rev);
		if (d[i]->bev != NULL) {
			bufferevent_disable(d[i]->bev, EV_READ | EV_WRITE);
			bufferevent_setcb(d[i]->bev, NULL, NULL, NULL, NULL);
		}
	}
	event_base_once(s->base, -1, EV_TIMEOUT, splice_free_cb, s, NULL);
}

static struct side *other(struct side *d)
{
	return d == &d->s->client ? &d->s->master : &d->s->client;
}

static size_t output_len(struct side *d)
{
	return evbuffer_get_length(bufferevent_get_output(d->bev));
}

/* Both inputs ended and both outputs written: the splice is over (ended: true). */
static bool splice_done(struct splice *s)
{
	if (!s->client.eof || !s->master.eof || output_len(&s->client) != 0 ||
	    output_len(&s->master) != 0)
		return false;
	splice_end(s);
	return true;
}

/* A side's input has ended: once the other's output is written, end that socket's output. */
static void side_eof(struct side *from)
{
	struct side *to = other(from);

	from->eof = true;
	event_del(from->rev);
	if (splice_done(from->s))
		return;
	bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
	if (output_len(to) == 0)
		shutdown(bufferevent_getfd(to->bev), SHUT_WR); /* else from to's write callback */
}

/*
 * A side's socket is readable: take up to its read size. When nothing waits in the other side's
 * output, the bytes are sent on at once from a buffer on the stack, and only what that socket does
 * not take goes to its output (written by the bufferevent when the socket has room): a hop then
 * costs a recv and a send, no turn of the loop and no change to the polled set. Otherwise they are
 * read straight into that output, behind what waits there. The side stops being read while that
 * output is above FWD_HIGH.
 */
static void side_read_cb(evutil_socket_t fd, short what, void *arg)
{
	static uint8_t buf[FWD_READ_MAX]; /* the loop's thread only */
	struct side *from = arg, *to = other(from);
	struct evbuffer *out = bufferevent_get_output(to->bev);
	struct evbuffer_iovec v;
	ssize_t n = -1, sent = 0;

	if (evbuffer_get_length(out) == 0) {
		n = recv(fd, buf, from->read_size, 0);
		if (n > 0 &&
		    (sent = send(bufferevent_getfd(to->bev), buf, (size_t)n, MSG_NOSIGNAL)) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				log_debug("%s: forwarded connection to %s ends: %s", from->s->name,
				    from->s->target, strerror(errno));
				splice_end(from->s);
				return;
			}
			sent = 0;
		}
		if (n > sent)
			evbuffer_add(out, buf + sent, (size_t)(n - sent));
	} else if (evbuffer_reserve_space(out, (ev_ssize_t)from->read_size, &v, 1) >= 1) {
		n = recv(
		    fd, v.iov_base, v.iov_len < from->read_size ? v.iov_len : from->read_size, 0);
		v.iov_len = n > 0 ? (size_t)n : 0;
		evbuffer_commit_space(out, &v, 1);
	}
	if (n == 0) {
		side_eof(from);
		return;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("%s: forwarded connection to %s ends: %s", from->s->name, from->s->target,
		    strerror(errno));
		splice_end(from->s);
		return;
	}
	if ((size_t)n == from->read_size && from->read_size < FWD_READ_MAX)
		from->read_size *= 2;
	else if ((size_t)n < from->read_size / 4 && from->read_size > FWD_READ_MIN)
		from->read_size /= 2;
	if (evbuffer_get_length(out) > fw.peak)
		fw.peak = evbuffer_get_length(out);
	if (evbuffer_get_length(out) >= FWD_HIGH) {
		/* Read again from to's write callback, once its output is down to FWD_LOW. */
		event_del(from->rev);
		from->paused = true;
		bufferevent_setwatermark(to->bev, EV_WRITE, FWD_LOW, 0);
	}
}

/* A side's output went down to its low mark: read the other side again, or half-close. */
static void side_write_cb(struct bufferevent *bev, void *arg)
{
	struct side *to = arg, *from = other(to);

	if (from->eof) {
		if (output_len(to) == 0 && !splice_done(to->s))
			shutdown(bufferevent_getfd(to->bev), SHUT_WR);
		return;
	}
	if (from->paused) {
		from->paused = false;
		bufferevent_setwatermark(to->bev, EV_WRITE, 0, 0);
		event_add(from->rev, NULL);
	}
}

/* A write failed (the peer reset, or went away): the splice ends. */
static void side_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct side *d = arg;

	log_debug("%s: forwarded connection to %s ends (%s %s)", d->s->name, d->s->target,
	    d == &d->s->client ? "client" : "master",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	splice_end(d->s);
}

/* A side ready to splice: written by bev, read by an event of its own. */
static void side_start(struct splice *s, struct side *d)
{
	int fd = bufferevent_getfd(d->bev), on = 1, idle = FWD_KEEPIDLE, intvl = FWD_KEEPINTVL,
	    cnt = FWD_KEEPCNT;

	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	d->s = s;
	d->read_size = FWD_READ_MIN;
	d->rev = event_new(bufferevent_get_base(d->bev), fd, EV_READ | EV_PERSIST, side_read_cb, d);
	bufferevent_set_max_single_write(d->bev, FWD_READ_MAX);
	bufferevent_setcb(d->bev, NULL, side_write_cb, side_event_cb, d);
	bufferevent_disable(d->bev, EV_READ);
	bufferevent_enable(d->bev, EV_WRITE);
	event_add(d->rev, NULL);
}

/* The master could not be reached: the client's socket goes up untouched, to be refused. */
static void splice_refuse(struct splice *s, const char *why)
{
	char reason[600];
	int fd = s->fd;

	fw.failed++;
	log_warn("%s: forwarding to the master at %s: %s", s->name, s->target, why);
	snprintf(reason, sizeof(reason),
	    "cannot reach the master at %s (%s); try again in a moment", s->target, why);
	s->fd = -1;
	net_accepted_up(s->base, fd, (struct sockaddr *)&s->peer, s->peerlen, s->tls, reason);
	splice_end(s);
}

/* The master's connect: splice on success; on failure or timeout, refuse. */
static void connect_cb(struct bufferevent *bev, short what, void *arg)
{
	struct splice *s = arg;
	int one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->client.bev = bufferevent_socket_new(s->base, s->fd, BEV_OPT_CLOSE_ON_FREE);
		if (s->client.bev == NULL) {
			log_error("%s: cannot create a buffer for the connection", s->name);
			splice_end(s);
			return;
		}
		if (net_proxy_on()) {
			/* The master expects a PROXY header too: the client's, not this node's. */
			struct sockaddr_storage here = { 0 };
			socklen_t len = sizeof(here);
			uint8_t hdr[64];

			getsockname(s->fd, (struct sockaddr *)&here, &len);
			bufferevent_write(bev, hdr,
			    net_proxy_header(
			        (struct sockaddr *)&s->peer, (struct sockaddr *)&here, hdr));
		}
		s->fd = -1;
		bufferevent_set_timeouts(bev, NULL, NULL);
		side_start(s, &s->client);
		side_start(s, &s->master);
		fw.spliced++;
		log_info("%s: forwarded to the master at %s", s->name, s->target);
		return;
	}
	splice_refuse(s,
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
	s->base = base;
	s->tls = tls;
	if (salen > 0 && (size_t)salen <= sizeof(s->peer)) {
		memcpy(&s->peer, sa, (size_t)salen);
		s->peerlen = salen;
	}
	server_format_addr(sa, s->name, sizeof(s->name));
	snprintf(s->target, sizeof(s->target), "%s", t->name);
	s->master.bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (s->master.bev == NULL) {
		splice_refuse(s, "cannot create a buffer");
		return;
	}
	bufferevent_setcb(s->master.bev, NULL, NULL, connect_cb, s);
	/* libevent times a connect with the write timeout. */
	bufferevent_set_timeouts(s->master.bev, NULL, &tv);
	if (bufferevent_socket_connect(s->master.bev, (struct sockaddr *)&t->ss, (int)t->len) !=
	    0) {
		/* Failed at once (libevent 2.1 then calls no callback: the splice is ours). */
		splice_refuse(s, strerror(errno));
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
