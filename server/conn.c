/*
 * conn.c: client connections. For now a connection is accepted, its protocol header checked and
 * logged, and it is closed: the AMQP state machines arrive with the broker issue.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "amqp/amqp.h"
#include "server/server.h"

struct conn {
	LIST_ENTRY(conn) entry;
	struct bufferevent *bev;
	char peer[128];
};

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);

static void conn_free(struct conn *c)
{
	LIST_REMOVE(c, entry);
	bufferevent_free(c->bev);
	free(c);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const uint8_t *p =
	    evbuffer_pullup(in, len < AMQP_PROTOCOL_HEADER_LEN ? -1 : AMQP_PROTOCOL_HEADER_LEN);
	int r = amqp_protocol_header_check(p, len);

	if (r == AMQP_E_NEED_MORE)
		return;
	if (r != 0) {
		log_info("%s: bad protocol header, answering AMQP 0-9-1", c->peer);
		bufferevent_write(bev, amqp_protocol_header, AMQP_PROTOCOL_HEADER_LEN);
	} else {
		log_info(
		    "%s: AMQP 0-9-1 protocol header; this build only logs connections", c->peer);
	}
	conn_free(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_info("%s: connection closed", c->peer);
		conn_free(c);
	}
}

void conn_accept(struct event_base *base, int fd, struct sockaddr *sa, int salen)
{
	struct conn *c = xcalloc(1, sizeof(*c));

	server_format_addr(sa, c->peer, sizeof(c->peer));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_error("%s: cannot create a buffer for the connection", c->peer);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&conns, c, entry);
	bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ);
	log_info("%s: accepted connection", c->peer);
}

void conn_close_all(int reply_code, const char *reason)
{
	while (!LIST_EMPTY(&conns))
		conn_free(LIST_FIRST(&conns));
}
