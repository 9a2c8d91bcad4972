/*
 * nullbroker.c: the fastest AMQP 0-9-1 "broker" there can be, as a benchmark ceiling.
 *
 * One thread, epoll, non-blocking sockets. It does the handshake (PLAIN or anything, no check),
 * opens channels, answers every declare, bind, qos, consume and confirm.select with its -ok, and
 * relays each basic.publish at once as a basic.deliver to a consumer of the queue named by the
 * routing key (round robin when several consume it), frame by frame: no exchanges, no routing, no
 * queueing, no storage. A publish nobody consumes is dropped. In confirm mode the publisher's acks
 * go out after each read, one multiple ack per channel. Acks from consumers are ignored.
 * Backpressure: when the unsent output of all connections passes HIGH_WATER, publishers are not
 * read until it falls below LOW_WATER. What warren-perf measures against it is the cost of the
 * clients, the kernel and the loopback: whatever a broker does on top shows up as the difference.
 *
 * usage: nullbroker [--listen ADDR:PORT] [--ready-fd FD]   (default 127.0.0.1:5674)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amqp/amqp.h"

#define FRAME_MAX 131072
#define MAX_CHANNELS 64
#define READ_CHUNK (256 * 1024)
#define HIGH_WATER (16u << 20)
#define LOW_WATER (4u << 20)
#define MAX_CONSUMERS 4096

struct channel {
	bool confirm;
	uint64_t published, acked; /* confirm sequence numbers */
	uint64_t next_tag;         /* delivery tags of deliveries on this channel */
	struct consumer *relay;    /* where the content being received goes; NULL: dropped */
	unsigned relay_gen;        /* relay's generation then: a reused slot is not the same */
};

struct conn {
	int fd;
	bool handshake; /* the protocol header has not arrived yet */
	bool publisher, closing;
	uint32_t events; /* what epoll watches for it */
	uint32_t frame_max;
	uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	struct channel ch[MAX_CHANNELS];
	struct conn *next; /* all connections */
};

/* A slot in consumers[]: slots are reused, never moved, so a channel may point at one. */
struct consumer {
	struct conn *conn; /* NULL: a free slot */
	unsigned gen;      /* bumped when the consumer goes */
	uint16_t channel;
	char tag[256], queue[256];
	uint8_t tag_len, queue_len;
};

static int epfd;
static struct conn *conns;
static struct consumer consumers[MAX_CONSUMERS];
static int nconsumers; /* slots in use or used before */
static unsigned rr;    /* round robin among a queue's consumers */
static size_t total_out;
static bool publishers_paused;
static unsigned long gen; /* names for server-named queues and consumer tags */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL) {
		fprintf(stderr, "nullbroker: out of memory\n");
		exit(1);
	}
	return p;
}

static void out_reserve(struct conn *c, size_t n)
{
	if (n <= c->out_cap - c->out_len)
		return;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	while (n > c->out_cap - c->out_len)
		c->out_cap = c->out_cap != 0 ? c->out_cap * 2 : 65536;
	c->out = xrealloc(c->out, c->out_cap);
}

static void out_bytes(struct conn *c, const void *p, size_t n)
{
	out_reserve(c, n);
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	total_out += n;
}

static void send_method(struct conn *c, uint16_t channel, const struct amqp_method *m)
{
	int n;

	out_reserve(c, 4096);
	n = amqp_method_frame_encode(channel, m, c->out + c->out_len, c->out_cap - c->out_len);
	if (n < 0) {
		fprintf(stderr, "nullbroker: cannot encode %s\n", amqp_method_str(m->id));
		exit(1);
	}
	c->out_len += (size_t)n;
	total_out += (size_t)n;
}

/* A frame copied to another connection's channel, body frames cut to its frame_max. */
static void relay_frame(struct consumer *to, const struct amqp_frame *f)
{
	size_t chunk = to->conn->frame_max - AMQP_FRAME_OVERHEAD, off = 0;

	do {
		size_t k = f->size - off < chunk ? f->size - off : chunk;
		uint8_t hdr[AMQP_FRAME_HEADER_LEN] = { f->type, (uint8_t)(to->channel >> 8),
			(uint8_t)to->channel, (uint8_t)(k >> 24), (uint8_t)(k >> 16),
			(uint8_t)(k >> 8), (uint8_t)k };
		static const uint8_t end = AMQP_FRAME_END;

		out_bytes(to->conn, hdr, sizeof(hdr));
		out_bytes(to->conn, f->payload + off, k);
		out_bytes(to->conn, &end, 1);
		off += k;
	} while (off < f->size);
}

/* The next consumer of a queue, round robin; NULL if none. */
static struct consumer *pick(struct amqp_bytes queue)
{
	int i;

	for (i = 0; i < nconsumers; i++) {
		struct consumer *s = &consumers[(rr + (unsigned)i) % (unsigned)nconsumers];

		if (s->conn != NULL && s->queue_len == queue.len &&
		    memcmp(s->queue, queue.ptr, queue.len) == 0) {
			rr = (rr + (unsigned)i + 1) % (unsigned)nconsumers;
			return s;
		}
	}
	return NULL;
}

/* Free the consumers of a connection (channel < 0) or of one of its channels. */
static void consumers_drop(struct conn *c, int channel)
{
	int i;

	for (i = 0; i < nconsumers; i++) {
		struct consumer *s = &consumers[i];

		if (s->conn == c && (channel < 0 || s->channel == channel)) {
			s->conn = NULL;
			s->gen++; /* content on its way to it goes nowhere */
		}
	}
}

/* Little writers for the server-properties table. */
static uint8_t *put_key(uint8_t *p, const char *key, uint8_t type)
{
	size_t n = strlen(key);

	*p++ = (uint8_t)n;
	memcpy(p, key, n);
	p += n;
	*p++ = type;
	return p;
}

static uint8_t *put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

/* product and the capabilities warren-perf and librabbitmq look for; buf holds 256 bytes. */
static struct amqp_bytes server_properties(uint8_t *buf)
{
	static const char *const caps[] = { "publisher_confirms", "basic.nack",
		"consumer_cancel_notify" };
	uint8_t *p = buf, *len_at;
	size_t i;

	p = put_key(p, "product", 'S');
	p = put_u32(p, (uint32_t)strlen("warren-nullbroker"));
	memcpy(p, "warren-nullbroker", strlen("warren-nullbroker"));
	p += strlen("warren-nullbroker");
	p = put_key(p, "capabilities", 'F');
	len_at = p;
	p += 4;
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		p = put_key(p, caps[i], 't');
		*p++ = 1;
	}
	put_u32(len_at, (uint32_t)(p - len_at - 4));
	return (struct amqp_bytes){ buf, (size_t)(p - buf) };
}

/* A method from the client; false closes the connection. */
static bool on_method(struct conn *c, uint16_t channel, struct amqp_method *m)
{
	struct amqp_method r = { 0 };
	struct channel *ch = &c->ch[channel];
	char name[64];

	switch (m->id) {
	case AMQP_ID_connection_start_ok:
		r.id = AMQP_ID_connection_tune;
		r.u.connection_tune.channel_max = MAX_CHANNELS - 1;
		r.u.connection_tune.frame_max = FRAME_MAX;
		break;
	case AMQP_ID_connection_tune_ok:
		c->frame_max = m->u.connection_tune_ok.frame_max;
		if (c->frame_max < AMQP_FRAME_MIN_SIZE || c->frame_max > FRAME_MAX)
			c->frame_max = FRAME_MAX;
		return true;
	case AMQP_ID_connection_open: r.id = AMQP_ID_connection_open_ok; break;
	case AMQP_ID_connection_close:
		r.id = AMQP_ID_connection_close_ok;
		c->closing = true;
		break;
	case AMQP_ID_channel_open: r.id = AMQP_ID_channel_open_ok; break;
	case AMQP_ID_channel_close:
		consumers_drop(c, channel);
		memset(ch, 0, sizeof(*ch));
		r.id = AMQP_ID_channel_close_ok;
		break;
	case AMQP_ID_channel_flow:
		r.id = AMQP_ID_channel_flow_ok;
		r.u.channel_flow_ok.active = m->u.channel_flow.active;
		break;
	case AMQP_ID_exchange_declare:
		if (m->u.exchange_declare.nowait)
			return true;
		r.id = AMQP_ID_exchange_declare_ok;
		break;
	case AMQP_ID_exchange_delete: r.id = AMQP_ID_exchange_delete_ok; break;
	case AMQP_ID_queue_declare:
		if (m->u.queue_declare.nowait)
			return true;
		r.id = AMQP_ID_queue_declare_ok;
		r.u.queue_declare_ok.queue = m->u.queue_declare.queue;
		if (r.u.queue_declare_ok.queue.len == 0) {
			snprintf(name, sizeof(name), "amq.gen-%lu", ++gen);
			r.u.queue_declare_ok.queue = amqp_cstr(name);
		}
		break;
	case AMQP_ID_queue_bind:
		if (m->u.queue_bind.nowait)
			return true;
		r.id = AMQP_ID_queue_bind_ok;
		break;
	case AMQP_ID_queue_unbind: r.id = AMQP_ID_queue_unbind_ok; break;
	case AMQP_ID_queue_purge: r.id = AMQP_ID_queue_purge_ok; break;
	case AMQP_ID_queue_delete: r.id = AMQP_ID_queue_delete_ok; break;
	case AMQP_ID_basic_qos: r.id = AMQP_ID_basic_qos_ok; break;
	case AMQP_ID_basic_consume: {
		struct consumer *s = NULL;
		int i;

		for (i = 0; i < nconsumers && s == NULL; i++)
			if (consumers[i].conn == NULL)
				s = &consumers[i];
		if (s == NULL && nconsumers == MAX_CONSUMERS)
			return false;
		if (s == NULL)
			s = &consumers[nconsumers++];
		*s = (struct consumer){ .conn = c, .channel = channel, .gen = s->gen };
		if (m->u.basic_consume.consumer_tag.len == 0) {
			snprintf(name, sizeof(name), "amq.ctag-%lu", ++gen);
			m->u.basic_consume.consumer_tag = amqp_cstr(name);
		}
		s->tag_len = (uint8_t)m->u.basic_consume.consumer_tag.len;
		memcpy(s->tag, m->u.basic_consume.consumer_tag.ptr, s->tag_len);
		s->queue_len = (uint8_t)m->u.basic_consume.queue.len;
		memcpy(s->queue, m->u.basic_consume.queue.ptr, s->queue_len);
		if (m->u.basic_consume.nowait)
			return true;
		r.id = AMQP_ID_basic_consume_ok;
		r.u.basic_consume_ok.consumer_tag = m->u.basic_consume.consumer_tag;
		break;
	}
	case AMQP_ID_basic_cancel:
		/* drops every consumer of the channel: warren-perf has one per channel */
		consumers_drop(c, channel);
		if (m->u.basic_cancel.nowait)
			return true;
		r.id = AMQP_ID_basic_cancel_ok;
		r.u.basic_cancel_ok.consumer_tag = m->u.basic_cancel.consumer_tag;
		break;
	case AMQP_ID_confirm_select:
		ch->confirm = true;
		if (m->u.confirm_select.nowait)
			return true;
		r.id = AMQP_ID_confirm_select_ok;
		break;
	case AMQP_ID_basic_publish: {
		struct consumer *s = pick(m->u.basic_publish.routing_key);

		c->publisher = true;
		ch->relay = s;
		ch->relay_gen = s != NULL ? s->gen : 0;
		if (ch->confirm)
			ch->published++;
		if (s == NULL)
			return true;
		r.id = AMQP_ID_basic_deliver;
		r.u.basic_deliver.consumer_tag =
		    (struct amqp_bytes){ (uint8_t *)s->tag, s->tag_len };
		r.u.basic_deliver.delivery_tag = ++s->conn->ch[s->channel].next_tag;
		r.u.basic_deliver.exchange = m->u.basic_publish.exchange;
		r.u.basic_deliver.routing_key = m->u.basic_publish.routing_key;
		send_method(s->conn, s->channel, &r);
		return true;
	}
	case AMQP_ID_basic_ack:
	case AMQP_ID_basic_nack:
	case AMQP_ID_basic_reject:
	case AMQP_ID_connection_close_ok:
	case AMQP_ID_channel_close_ok: return true;
	default:
		fprintf(stderr, "nullbroker: %s is not supported\n", amqp_method_str(m->id));
		return false;
	}
	send_method(c, channel, &r);
	return true;
}

static bool on_frame(struct conn *c, const struct amqp_frame *f)
{
	struct channel *ch = f->channel < MAX_CHANNELS ? &c->ch[f->channel] : NULL;
	struct amqp_method m;

	if (ch == NULL)
		return false;
	switch (f->type) {
	case AMQP_FRAME_METHOD:
		if (amqp_method_decode(f->payload, f->size, &m) != 0)
			return false;
		return on_method(c, f->channel, &m);
	case AMQP_FRAME_HEADER:
	case AMQP_FRAME_BODY:
		if (ch->relay != NULL && ch->relay->gen == ch->relay_gen)
			relay_frame(ch->relay, f);
		return true;
	case AMQP_FRAME_HEARTBEAT: return true;
	default: return false;
	}
}

static void conn_free(struct conn *c)
{
	struct conn **pp;

	consumers_drop(c, -1);
	for (pp = &conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	total_out -= c->out_len - c->out_off;
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

/* Watch for input unless it is a paused publisher, and for output while some is unsent. */
static void conn_events(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };

	if (!(c->publisher && publishers_paused))
		ev.events |= EPOLLIN;
	if (c->out_len > c->out_off)
		ev.events |= EPOLLOUT;
	if (ev.events != c->events) {
		epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
		c->events = ev.events;
	}
}

/* Write what the socket takes; false if the peer is gone. */
static bool conn_flush(struct conn *c)
{
	while (c->out_len > c->out_off) {
		ssize_t k = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (k < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->out_off += (size_t)k;
		total_out -= (size_t)k;
	}
	c->out_off = c->out_len = 0;
	return !c->closing;
}

/* Read and handle what arrived; false closes the connection. */
static bool conn_read(struct conn *c)
{
	struct amqp_frame f;
	size_t off = 0, used;
	ssize_t k;
	int i, r;

	k = recv(c->fd, c->in + c->in_len, READ_CHUNK + FRAME_MAX - c->in_len, 0);
	if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
		return false;
	if (k < 0)
		return true;
	c->in_len += (size_t)k;
	if (c->handshake) {
		if (c->in_len < AMQP_PROTOCOL_HEADER_LEN)
			return true;
		if (amqp_protocol_header_check(c->in, AMQP_PROTOCOL_HEADER_LEN) != 0)
			return false;
		struct amqp_method m = { .id = AMQP_ID_connection_start };
		uint8_t props[256];
		m.u.connection_start.version_minor = 9;
		m.u.connection_start.server_properties = server_properties(props);
		m.u.connection_start.mechanisms = amqp_cstr("PLAIN AMQPLAIN");
		m.u.connection_start.locales = amqp_cstr("en_US");
		send_method(c, 0, &m);
		c->handshake = false;
		off = AMQP_PROTOCOL_HEADER_LEN;
	}
	while ((r = amqp_frame_parse(c->in + off, c->in_len - off, FRAME_MAX, &f, &used)) == 0) {
		if (!on_frame(c, &f))
			return false;
		off += used;
		if (c->closing)
			break;
	}
	if (r != 0 && r != AMQP_E_NEED_MORE)
		return false;
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	/* one multiple ack per confirming channel covers the publishes of this read */
	for (i = 0; i < MAX_CHANNELS; i++) {
		struct channel *ch = &c->ch[i];

		if (ch->confirm && ch->published > ch->acked) {
			struct amqp_method m = { .id = AMQP_ID_basic_ack };

			m.u.basic_ack.delivery_tag = ch->published;
			m.u.basic_ack.multiple = ch->published - ch->acked > 1;
			ch->acked = ch->published;
			send_method(c, (uint16_t)i, &m);
		}
	}
	return true;
}

static void on_accept(int lfd)
{
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct conn *c = xrealloc(NULL, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		memset(c, 0, sizeof(*c));
		c->fd = fd;
		c->handshake = true;
		c->events = EPOLLIN;
		c->frame_max = AMQP_FRAME_MIN_SIZE;
		c->in = xrealloc(NULL, READ_CHUNK + FRAME_MAX);
		c->next = conns;
		conns = c;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	}
}

static int listen_on(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(addr, ':');
	int fd, one = 1;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
		fprintf(stderr, "nullbroker: --listen ADDR:PORT\n");
		exit(2);
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "nullbroker: %s: not an IPv4 address\n", host);
		exit(2);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0) {
		fprintf(stderr, "nullbroker: %s: %s\n", addr, strerror(errno));
		exit(1);
	}
	return fd;
}

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:5674";
	int lfd, ready_fd = -1, i, n;
	static int listener; /* its address marks the listening socket's events */
	struct epoll_event evs[64], lev = { .events = EPOLLIN, .data.ptr = &listener };
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct sigaction sig = { .sa_handler = on_signal };

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			addr = argv[++i];
		else if (strcmp(argv[i], "--ready-fd") == 0 && i + 1 < argc)
			ready_fd = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: nullbroker [--listen ADDR:PORT] [--ready-fd FD]\n");
			return 2;
		}
	}
	sigaction(SIGINT, &sig, NULL);
	sigaction(SIGTERM, &sig, NULL);
	lfd = listen_on(addr);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev);
	if (ready_fd >= 0) {
		getsockname(lfd, (struct sockaddr *)&sa, &salen);
		dprintf(ready_fd, "%s:%u\n", inet_ntoa(sa.sin_addr), ntohs(sa.sin_port));
		close(ready_fd);
	}
	while (!quit) {
		n = epoll_wait(epfd, evs, 64, -1);
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if (c == NULL)
				continue; /* its connection was freed earlier in this round */
			if (evs[i].data.ptr == &listener) {
				on_accept(lfd);
				continue;
			}
			if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !conn_read(c)) {
				conn_free(c);
				/* a later event of this round may name c: drop it */
				for (int j = i + 1; j < n; j++)
					if (evs[j].data.ptr == c)
						evs[j].data.ptr = NULL, evs[j].events = 0;
				continue;
			}
		}
		/* write everything the round produced, then pause or resume the publishers */
		for (struct conn *c = conns, *next; c != NULL; c = next) {
			next = c->next;
			if (!conn_flush(c))
				conn_free(c);
		}
		if (total_out > HIGH_WATER)
			publishers_paused = true;
		else if (total_out < LOW_WATER)
			publishers_paused = false;
		for (struct conn *c = conns; c != NULL; c = c->next)
			conn_events(c);
	}
	while (conns != NULL)
		conn_free(conns);
	close(lfd);
	close(epfd);
	return 0;
}
