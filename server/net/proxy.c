/*
 * proxy.c: the PROXY protocol (HAProxy's, versions 1 and 2) on the AMQP listeners, as RabbitMQ's
 * proxy_protocol: with it on, every connection starts with a header that names the client's
 * address, which then stands for the socket's peer (logs, the management API, loopback-only
 * users). A header is read without reading past it (the client's AMQP bytes may follow in the
 * same segment); a connection without a valid one within the handshake timeout is closed. A
 * replica that forwards a client to the master (forward.c) sends a version 2 header naming the
 * client, since the master expects one too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/net/net.h"

#define PROXY_MAX 1024 /* a version 2 header with its TLVs; version 1's is at most 107 bytes */

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
	0x54, 0x0a };

static struct {
	bool on;
	uint32_t timeout_s;
} px;

void net_proxy_set(bool on, uint32_t timeout_s)
{
	px.on = on;
	px.timeout_s = timeout_s > 0 ? timeout_s : 10;
}

bool net_proxy_on(void)
{
	return px.on;
}

/* "PROXY TCP4 1.2.3.4 5.6.7.8 1111 2222\r\n": the source address and port. */
static int parse_v1(const char *line, struct sockaddr_storage *src, socklen_t *srclen)
{
	char proto[8], sa[64], da[64];
	unsigned sp, dp;
	char end;
	struct sockaddr_in *in4 = (struct sockaddr_in *)src;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)src;

	if (strncmp(line, "PROXY UNKNOWN", 13) == 0) {
		*srclen = 0; /* the proxy's own connection (a health check): the socket's address */
		return 0;
	}
	if (sscanf(line, "PROXY %7s %63s %63s %u %u%c", proto, sa, da, &sp, &dp, &end) != 6 ||
	    end != '\r' || sp > 65535 || dp > 65535)
		return -1;
	memset(src, 0, sizeof(*src));
	if (strcmp(proto, "TCP4") == 0) {
		struct in_addr d;
		if (inet_pton(AF_INET, sa, &in4->sin_addr) != 1 || inet_pton(AF_INET, da, &d) != 1)
			return -1;
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)sp);
		*srclen = sizeof(*in4);
		return 0;
	}
	if (strcmp(proto, "TCP6") == 0) {
		struct in6_addr d;
		if (inet_pton(AF_INET6, sa, &in6->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, da, &d) != 1)
			return -1;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)sp);
		*srclen = sizeof(*in6);
		return 0;
	}
	return -1;
}

int net_proxy_parse(
    const uint8_t *p, size_t n, struct sockaddr_storage *src, socklen_t *srclen, size_t *used)
{
	size_t i, len;

	if (n > 0 && p[0] == 'P') { /* version 1: one line of at most 107 bytes */
		char line[108];
		if (memcmp(p, "PROXY ", n < 6 ? n : 6) != 0)
			return -1;
		for (i = 1; i < n && i < sizeof(line); i++)
			if (p[i] == '\n') {
				if (p[i - 1] != '\r')
					return -1; /* a line must end in CR LF */
				break;
			}
		if (i >= sizeof(line))
			return -1;
		if (i >= n)
			return 1;
		for (len = 0; len < i; len++)
			if (p[len] == '\0')
				return -1;
		memcpy(line, p, i);
		line[i] = '\0';
		*used = i + 1;
		return parse_v1(line, src, srclen);
	}
	if (memcmp(p, v2_sig, n < 12 ? n : 12) != 0)
		return -1;
	if (n < 16)
		return 1;
	len = 16 + ((size_t)p[14] << 8 | p[15]);
	if ((p[12] & 0xf0) != 0x20 || len > PROXY_MAX)
		return -1;
	if (n < len)
		return 1;
	*used = len;
	memset(src, 0, sizeof(*src));
	*srclen = 0;
	if ((p[12] & 0x0f) == 0x00) /* LOCAL: the proxy's own connection */
		return 0;
	if ((p[12] & 0x0f) != 0x01)
		return -1;
	switch (p[13]) {
	case 0x11: { /* TCP over IPv4: source, destination, their ports */
		struct sockaddr_in *in4 = (struct sockaddr_in *)src;
		if (len < 16 + 12)
			return -1;
		in4->sin_family = AF_INET;
		memcpy(&in4->sin_addr, p + 16, 4);
		memcpy(&in4->sin_port, p + 16 + 8, 2);
		*srclen = sizeof(*in4);
		return 0;
	}
	case 0x21: { /* TCP over IPv6 */
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)src;
		if (len < 16 + 36)
			return -1;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, p + 16, 16);
		memcpy(&in6->sin6_port, p + 16 + 32, 2);
		*srclen = sizeof(*in6);
		return 0;
	}
	case 0x00: return 0; /* UNSPEC: the socket's address */
	default: return -1;  /* UDP, unix sockets: not an AMQP client's */
	}
}

size_t net_proxy_header(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out)
{
	const void *sa, *sp, *da = NULL, *dp = NULL;
	size_t alen;

	memcpy(out, v2_sig, 12);
	out[12] = 0x21; /* version 2, PROXY */
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)src;
		const struct sockaddr_in *d = (const struct sockaddr_in *)dst;
		out[13] = 0x11; /* TCP over IPv4 */
		alen = 4;
		sa = &s->sin_addr;
		sp = &s->sin_port;
		if (dst->sa_family == AF_INET) {
			da = &d->sin_addr;
			dp = &d->sin_port;
		}
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)src;
		const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)dst;
		out[13] = 0x21; /* TCP over IPv6 */
		alen = 16;
		sa = &s->sin6_addr;
		sp = &s->sin6_port;
		if (dst->sa_family == AF_INET6) {
			da = &d->sin6_addr;
			dp = &d->sin6_port;
		}
	} else {
		out[12] = 0x20; /* LOCAL: no address to give */
		out[13] = out[14] = out[15] = 0;
		return 16;
	}
	/* source and destination addresses, then their ports (a destination unknown: zeros) */
	out[14] = 0;
	out[15] = (uint8_t)(2 * alen + 4);
	memcpy(out + 16, sa, alen);
	if (da != NULL)
		memcpy(out + 16 + alen, da, alen);
	else
		memset(out + 16 + alen, 0, alen);
	memcpy(out + 16 + 2 * alen, sp, 2);
	if (dp != NULL)
		memcpy(out + 18 + 2 * alen, dp, 2);
	else
		memset(out + 18 + 2 * alen, 0, 2);
	return 16 + 2 * alen + 4;
}

/* ---- Reading a header from an accepted socket ---- */

struct pending {
	LIST_ENTRY(pending) entry;
	struct event *ev;
	struct event_base *base;
	int fd;
	bool tls;
	struct sockaddr_storage peer; /* the socket's */
	socklen_t peerlen;
	uint8_t buf[PROXY_MAX];
	size_t len;
	struct timeval deadline; /* the header must be in by then, however it trickles in */
};

static LIST_HEAD(, pending) pendings = LIST_HEAD_INITIALIZER(pendings);

static void pending_free(struct pending *pd)
{
	LIST_REMOVE(pd, entry);
	event_free(pd->ev);
	free(pd);
}

static void pending_close(struct pending *pd, const char *why)
{
	char name[128];

	server_format_addr((struct sockaddr *)&pd->peer, name, sizeof(name));
	log_warn("%s: closing: %s", name, why);
	evutil_closesocket(pd->fd);
	pending_free(pd);
}

void net_proxy_drop_pending(void)
{
	while (!LIST_EMPTY(&pendings)) {
		evutil_closesocket(LIST_FIRST(&pendings)->fd);
		pending_free(LIST_FIRST(&pendings));
	}
}

static void pending_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pending *pd = arg;
	struct sockaddr_storage src;
	socklen_t srclen = 0;
	size_t used = 0;
	struct event_base *base;
	bool tls;
	ssize_t n;
	int r;
	struct timeval now;

	event_base_gettimeofday_cached(pd->base, &now);
	if ((what & EV_TIMEOUT) || evutil_timercmp(&now, &pd->deadline, >)) {
		pending_close(pd, "no PROXY protocol header in time (proxy_protocol is on)");
		return;
	}
	/* Look without taking: what follows the header is the client's, for the connection. */
	n = recv(fd, pd->buf + pd->len, sizeof(pd->buf) - pd->len, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		pending_close(
		    pd, n == 0 ? "closed before its PROXY protocol header" : strerror(errno));
		return;
	}
	r = net_proxy_parse(pd->buf, pd->len + (size_t)n, &src, &srclen, &used);
	if (r < 0) {
		pending_close(pd, "not a valid PROXY protocol header (proxy_protocol is on)");
		return;
	}
	/* Incomplete: all that came is header, so take it; complete: take the header's rest. */
	n = recv(fd, pd->buf + pd->len, r == 1 ? (size_t)n : used - pd->len, 0);
	if (n <= 0) {
		pending_close(pd, "lost its PROXY protocol header");
		return;
	}
	pd->len += (size_t)n;
	if (r == 1) {
		if (pd->len == sizeof(pd->buf))
			pending_close(pd, "a PROXY protocol header too long");
		return;
	}
	if (srclen == 0) { /* LOCAL or UNKNOWN: the proxy speaks for itself */
		src = pd->peer;
		srclen = pd->peerlen;
	}
	fd = pd->fd;
	base = pd->base;
	tls = pd->tls;
	pending_free(pd);
	net_forward_accepted(base, fd, (struct sockaddr *)&src, (int)srclen, tls);
}

void net_proxy_accepted(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls)
{
	struct pending *pd = xcalloc(1, sizeof(*pd));
	struct timeval tv = { (time_t)px.timeout_s, 0 };

	pd->base = base;
	pd->fd = fd;
	pd->tls = tls;
	if (salen > 0 && (size_t)salen <= sizeof(pd->peer)) {
		memcpy(&pd->peer, sa, (size_t)salen);
		pd->peerlen = (socklen_t)salen;
	}
	event_base_gettimeofday_cached(base, &pd->deadline);
	evutil_timeradd(&pd->deadline, &tv, &pd->deadline);
	evutil_make_socket_nonblocking(fd);
	pd->ev = event_new(base, fd, EV_READ | EV_PERSIST, pending_read_cb, pd);
	LIST_INSERT_HEAD(&pendings, pd, entry);
	event_add(pd->ev, &tv);
}
