/*
 * listener.c: the TCP listeners (ADDR:PORT, IPv6 in brackets) and handing accepted sockets to
 * conn.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/net/net.h"

static struct evconnlistener *listeners[SERVER_MAX_LISTENERS];
static bool listener_tls[SERVER_MAX_LISTENERS];
static int nlisteners;

/* Parse "ADDR:PORT", "[V6]:PORT" or ":PORT" (all IPv4 addresses) into ss. */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char host[256];
	const char *colon;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == colon + 1 || port < 0 || port > 65535)
		return -1;
	if (s[0] == '[') {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*in6);
		return 0;
	}
	in4->sin_family = AF_INET;
	in4->sin_port = htons((uint16_t)port);
	if (host[0] == '\0')
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		return -1;
	*len = sizeof(*in4);
	return 0;
}

static struct net_events net_events;

void net_register_events(const struct net_events *ev)
{
	net_events = *ev;
}

static void accept_cb(
    struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	int one = 1;

	/* Frames go out when written: no Nagle delay waiting for the peer's delayed ack. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (net_proxy_on())
		net_proxy_accepted(evconnlistener_get_base(l), fd, sa, salen, arg != NULL);
	else
		net_forward_accepted(evconnlistener_get_base(l), fd, sa, salen, arg != NULL);
}

void net_accepted_up(
    struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls, const char *refusal)
{
	if (net_events.accepted != NULL)
		net_events.accepted(base, fd, sa, salen, tls, refusal);
	else
		evutil_closesocket(fd);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: keep listening; the backlog holds clients until fds free up. */
	log_warn("accept: %s", evutil_socket_error_to_string(err));
}

int server_listen(struct event_base *base, const char *addr, int ready_fd, bool tls, bool optional)
{
	struct sockaddr_storage ss;
	struct evconnlistener *l;
	socklen_t len;
	char bound[128];

	if (nlisteners == SERVER_MAX_LISTENERS) {
		log_error("listen %s: too many listeners (at most %d)", addr, SERVER_MAX_LISTENERS);
		return -1;
	}
	if (parse_addr(addr, &ss, &len) != 0) {
		log_error("listen %s: not ADDR:PORT", addr);
		return -1;
	}
	/* IPv6 listeners IPv6 only, so that [::]:5672 and 0.0.0.0:5672 both bind (the default). */
	l = evconnlistener_new_bind(base, accept_cb, tls ? (void *)1 : NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	        (ss.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0),
	    1024, (struct sockaddr *)&ss, (int)len);
	if (l == NULL) {
		int err = errno;

		/* The default's IPv6 half on a host without IPv6: IPv4 alone, as RabbitMQ does. */
		if (optional && (err == EAFNOSUPPORT || err == EADDRNOTAVAIL)) {
			log_warn("listen %s: %s; not listening there", addr, strerror(err));
			return 0;
		}
		log_error("listen %s: %s", addr, strerror(err));
		return -1;
	}
	evconnlistener_set_error_cb(l, accept_error_cb);
	len = sizeof(ss);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, &len);
	server_format_addr((struct sockaddr *)&ss, bound, sizeof(bound));
	log_info("listening on %s%s", bound, tls ? " (amqps)" : "");
	if (ready_fd >= 0)
		dprintf(ready_fd, "%s%s\n", bound, tls ? " amqps" : "");
	listener_tls[nlisteners] = tls;
	listeners[nlisteners++] = l;
	return 0;
}

int server_listener(int i, struct sockaddr_storage *ss, bool *tls)
{
	socklen_t len = sizeof(*ss);

	if (i < 0 || i >= nlisteners)
		return -1;
	*tls = listener_tls[i];
	return getsockname(evconnlistener_get_fd(listeners[i]), (struct sockaddr *)ss, &len);
}

void server_stop_listening(void)
{
	int i;

	for (i = 0; i < nlisteners; i++)
		evconnlistener_free(listeners[i]);
	nlisteners = 0;
	net_proxy_drop_pending();
}

void server_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in4->sin_port));
	} else {
		snprintf(buf, len, "unknown");
	}
}
