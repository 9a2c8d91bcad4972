/*
 * conn.c: a client connection's life: accepted (or attached to any bufferevent), its state,
 * changed only through conn_set_state, its channels by number, its timer (the handshake timeout,
 * heartbeats in both directions, the wait for close-ok), errors (connection.close), flow control
 * (connection.blocked) and teardown. Reading is conn_read.c's, writing conn_write.c's. A
 * connection is never freed inside its own callback: it is marked dead and freed on the next turn
 * of the loop.
 */
#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "server/proto/conn_private.h"

static LIST_HEAD(, conn) conns = LIST_HEAD_INITIALIZER(conns);

#define CLOSE_TIMEOUT_MS 3000

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);
static struct event *ack_timeout_ev; /* consumer_timeout's checks */

/* ---- state ---- */

/* The states each state may go to (bit sets), and the names the debug log gives them. */
#define TO(s) (1u << (s))
static const unsigned legal_next[] = {
	[CONN_HANDSHAKE] = TO(CONN_START) | TO(CONN_DEAD),
	[CONN_START] = TO(CONN_SECURE) | TO(CONN_TUNE) | TO(CONN_DEAD),
	[CONN_SECURE] = TO(CONN_TUNE) | TO(CONN_DEAD),
	[CONN_TUNE] = TO(CONN_OPEN_WAIT) | TO(CONN_DEAD),
	[CONN_OPEN_WAIT] = TO(CONN_OPEN) | TO(CONN_CLOSING) | TO(CONN_DEAD),
	[CONN_OPEN] = TO(CONN_CLOSING) | TO(CONN_DEAD),
	[CONN_CLOSING] = TO(CONN_DEAD),
	[CONN_DEAD] = 0,
};
static const char *const state_debug_name[] = { "handshake", "start", "secure", "tune", "open-wait",
	"open", "closing", "dead" };

void conn_set_state(struct conn *c, enum conn_state s)
{
	assert(legal_next[c->state] & TO(s));
	log_debug("%s: state %s -> %s", c->peer, state_debug_name[c->state], state_debug_name[s]);
	c->state = s;
}

const char *conn_state_name(enum conn_state s)
{
	switch (s) {
	case CONN_HANDSHAKE:
	case CONN_START:
	case CONN_SECURE: return "starting";
	case CONN_TUNE: return "tuning";
	case CONN_OPEN_WAIT: return "opening";
	case CONN_OPEN: return "running";
	case CONN_CLOSING:
	case CONN_DEAD: return "closing";
	}
	return "unknown";
}

/* ---- attach ---- */

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		if (IN6_IS_ADDR_V4MAPPED(a))
			return a->s6_addr[12] == 127;
	}
	return false;
}

static void conn_arm_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

struct conn *conn_first(void)
{
	return LIST_FIRST(&conns);
}

struct conn *conn_attach(struct bufferevent *bev, const char *peer, bool loopback, bool direct)
{
	struct conn *c = xcalloc(1, sizeof(*c)); /* CONN_HANDSHAKE, nothing paused */
	static uint64_t serials;
	struct timeval tv;

	gettimeofday(&tv, NULL);
	c->connected_at = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	c->serial = ++serials;

	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	c->loopback = loopback;
	c->bev = bev;
	c->frame_max = AMQP_FRAME_MIN_SIZE;
	c->channel_max = broker.cfg.channel_max;
	hmap_init(&c->high_channels);
	LIST_INIT(&c->channels);
	LIST_INIT(&c->exclusive_queues);
	c->last_recv = c->last_send = now_ms();
	c->timer = evtimer_new(bufferevent_get_base(bev), conn_timer_cb, c);
	LIST_INSERT_HEAD(&conns, c, entry);
	broker.counters.conns_opened++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/*
	 * A direct connection reads its socket itself (conn_read.c) and is written at the end of
	 * each batch of callbacks (conn_write.c); libevent only writes what the socket would not
	 * take at once.
	 */
	c->direct = direct;
	conn_write_attach(c);
	conn_read_attach(c);
	conn_arm_timer(c, (uint64_t)broker.cfg.handshake_timeout * 1000);
	return c;
}

void conn_accept(
    struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls, const char *refusal)
{
	struct bufferevent *bev;
	struct conn *c;
	char peer[128];

	server_format_addr(sa, peer, sizeof(peer));
	if (tls) {
		if ((bev = tls_wrap(base, fd, peer)) == NULL)
			return;
		c = conn_attach(bev, peer, is_loopback(sa), false);
		c->tls = true;
		c->tls_verify = broker.cfg.tls_verify != TLS_VERIFY_NONE;
		if (refusal != NULL)
			c->refusal = xstrdup(refusal);
		log_info(
		    "%s: accepted TLS connection%s", peer, refusal != NULL ? ", to refuse" : "");
		return;
	}
	bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_error("%s: cannot create a buffer for the connection", peer);
		evutil_closesocket(fd);
		return;
	}
	c = conn_attach(bev, peer, is_loopback(sa), true);
	if (refusal != NULL)
		c->refusal = xstrdup(refusal);
	log_info("%s: accepted connection%s", peer, refusal != NULL ? ", to refuse" : "");
}

/* ---- channels ---- */

#define LOW_CHANNELS 256

struct channel *conn_channel(struct conn *c, uint16_t id)
{
	if (id < LOW_CHANNELS)
		return c->low_channels != NULL ? c->low_channels[id] : NULL;
	return hmap_get(&c->high_channels, &id, sizeof(id));
}

void conn_channel_add(struct conn *c, struct channel *ch)
{
	if (ch->id < LOW_CHANNELS) {
		if (c->low_channels == NULL)
			c->low_channels = xcalloc(LOW_CHANNELS, sizeof(*c->low_channels));
		c->low_channels[ch->id] = ch;
	} else {
		hmap_put(&c->high_channels, &ch->id, sizeof(ch->id), ch);
	}
	LIST_INSERT_HEAD(&c->channels, ch, entry);
	c->open_channels++;
	broker.counters.channels_open++;
}

void conn_channel_remove(struct conn *c, struct channel *ch)
{
	if (ch->id < LOW_CHANNELS)
		c->low_channels[ch->id] = NULL;
	else
		hmap_del(&c->high_channels, &ch->id, sizeof(ch->id));
	LIST_REMOVE(ch, entry);
	c->open_channels--;
	broker.counters.channels_open--;
}

/* ---- teardown ---- */

/* Release what the connection holds in the broker: channels, exclusive queues. */
static void conn_release(struct conn *c)
{
	struct channel *ch;
	struct queue *q;

	while ((ch = LIST_FIRST(&c->channels)) != NULL) {
		conn_channel_remove(c, ch);
		channel_free(ch);
	}
	while ((q = LIST_FIRST(&c->exclusive_queues)) != NULL)
		queue_delete(q); /* takes it off the list */
}

static void conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	free(c->low_channels);
	hmap_clear(&c->high_channels);
	free(c->user);
	free(c->refusal);
	free(c->client_props);
	free(c);
}

/* Forget the connection's pending login and queue load, and its place in the vhost's counts. */
static void conn_unaccount(struct conn *c)
{
	if (c->paused & CONN_PAUSE_LOGIN)
		access_cancel(c);
	if (c->load_wait != NULL) {
		queue_forget_waiter(c->load_wait, c);
		queue_unref(c->load_wait);
	}
	c->load_wait = NULL;
	c->paused &= ~(CONN_PAUSE_LOGIN | CONN_PAUSE_LOAD);
	if (c->counted) {
		c->vhost->nconns--;
		access_user_conn(c, -1);
		c->counted = false;
	}
}

void conn_kill(struct conn *c, bool flush)
{
	if (c->state == CONN_DEAD)
		return;
	if (flush && c->direct)
		conn_write_now(c); /* most often the whole close goes out at once */
	conn_unstage(c);           /* written above, or dropped with the connection */
	if (flush && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		c->close_after_flush = true;
		conn_read_enable(c, false);
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		/* libevent writes the rest and calls conn_write_cb when it is out. */
		bufferevent_enable(c->bev, EV_WRITE);
		conn_release(c);
		conn_arm_timer(c, CLOSE_TIMEOUT_MS);
		return;
	}
	/* Its output written and no socket error: a TLS stream ends with close_notify. */
	if (c->tls && !c->io_failed && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		tls_close_notify(c->bev);
	conn_set_state(c, CONN_DEAD);
	conn_write_forget(c);
	conn_unaccount(c);
	conn_release(c);
	evtimer_del(c->timer);
	event_free(c->timer);
	c->timer = NULL;
	if (c->rev != NULL)
		event_free(c->rev);
	c->rev = NULL;
	bufferevent_free(c->bev);
	c->bev = NULL;
	LIST_REMOVE(c, entry);
	broker.counters.conns_closed++;
	if (c->vhost != NULL)
		broker.counters.conns_in_vhost--;
	if (!c->close_logged)
		log_info("%s: connection closed", c->peer);
	event_base_once(broker.base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
	if (broker.stopping && LIST_EMPTY(&conns))
		event_base_loopexit(broker.base, NULL);
}

void conn_close_after_flush(struct conn *c)
{
	conn_kill(c, true);
}

/*
 * The client's connection.close has been answered (the close-ok is in the output): as RabbitMQ,
 * leave closing the socket to the client. Closing it first with input still unread, such as a
 * second connection.close from another of the client's threads, would make the kernel send a
 * reset, which can reach the client before it has read the close-ok. Everything the connection
 * holds in the broker goes now; its input is read and dropped until the client closes, for at
 * most CLOSE_TIMEOUT_MS.
 */
void conn_linger(struct conn *c)
{
	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	conn_release(c);
	conn_unaccount(c);
	c->close_after_flush = c->lingering = true;
	c->paused = 0; /* conn_unaccount saw to the login and the load */
	evtimer_del(c->timer);
	conn_arm_timer(c, CLOSE_TIMEOUT_MS);
	if (c->direct)
		conn_write_now(c); /* the flush callback passes a closing connection by */
	conn_read_enable(c, true);
}

unsigned conn_access_changed(void)
{
	struct conn *c, *next;
	unsigned n = 0;

	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->state == CONN_OPEN && !c->close_after_flush && !access_still_allowed(c)) {
			conn_error(c, AMQP_CONNECTION_FORCED, 0,
			    "user '%s' may no longer use vhost '%s'", c->user, c->vhost->name);
			n++;
		}
	}
	return n;
}

/* ---- errors ---- */

static void conn_send_close(struct conn *c, int code, const char *text, uint32_t method_id)
{
	struct amqp_method m = { .id = AMQP_ID_connection_close };

	m.u.connection_close.reply_code = (uint16_t)code;
	m.u.connection_close.reply_text = amqp_cstr(text);
	if (m.u.connection_close.reply_text.len > 255)
		m.u.connection_close.reply_text.len = 255;
	m.u.connection_close.class_id = (uint16_t)(method_id >> 16);
	m.u.connection_close.method_id = (uint16_t)method_id;
	conn_send_method(c, 0, &m);
}

void conn_error(struct conn *c, int code, uint32_t method_id, const char *fmt, ...)
{
	char text[512];
	int n;
	va_list ap;

	if (c->state == CONN_DEAD || c->state == CONN_CLOSING || c->close_after_flush)
		return;
	n = snprintf(text, sizeof(text), "%s - ", amqp_reply_name(code));
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (c->state < CONN_OPEN_WAIT) {
		/* Before tune-ok the client is not trusted with an explanation: as RabbitMQ, close. */
		log_warn("%s: closing connection during the handshake (%s): %d %s", c->peer,
		    conn_state_name(c->state), code, text);
		conn_kill(c, false);
		return;
	}
	log_warn("%s: closing connection: %d %s", c->peer, code, text);
	conn_drop_held(c);
	conn_send_close(c, code, text, method_id);
	conn_set_state(c, CONN_CLOSING);
	conn_release(c);
	evtimer_del(c->timer);
	conn_arm_timer(c, CLOSE_TIMEOUT_MS);
}

void conn_close_all(int reply_code, const char *reason)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (c->lingering)
			conn_kill(c, false);
		else if (c->state == CONN_OPEN)
			conn_error(c, reply_code, 0, "%s", reason);
		else if (c->state != CONN_CLOSING) {
			conn_kill(c, false);
		}
	}
}

bool conn_none_left(void)
{
	return LIST_EMPTY(&conns);
}

void conn_destroy_all(void)
{
	while (!LIST_EMPTY(&conns))
		conn_kill(LIST_FIRST(&conns), false);
	conn_write_free();
	if (ack_timeout_ev != NULL)
		event_free(ack_timeout_ev);
	ack_timeout_ev = NULL;
}

/* ---- flow control ---- */

/* Tell a client that advertised connection.blocked whether it is blocked. */
static void conn_notify_blocked(struct conn *c, bool block)
{
	struct amqp_method m;

	if (!c->caps.blocked || block == c->block_sent || c->state != CONN_OPEN)
		return;
	if (block) {
		m = (struct amqp_method){ .id = AMQP_ID_connection_blocked };
		m.u.connection_blocked.reason =
		    amqp_cstr((broker.alarms & ALARM_MEMORY) ? "low on memory"
		            : (broker.alarms & ALARM_DISK)   ? "low on disk"
		                                             : "store failed");
	} else {
		m = (struct amqp_method){ .id = AMQP_ID_connection_unblocked };
	}
	conn_send_method(c, 0, &m);
	c->block_sent = block;
}

/*
 * Stop reading at a publish while the memory alarm is on (as RabbitMQ, a connection that only
 * consumes and acks keeps going), or resume.
 */
void conn_set_blocked(struct conn *c, bool block)
{
	if (c->state == CONN_DEAD || block == ((c->paused & CONN_PAUSE_ALARM) != 0))
		return;
	if (block) {
		conn_pause(c, CONN_PAUSE_ALARM);
		conn_notify_blocked(c, true);
		log_info("%s: blocked at a publish: resource alarm", c->peer);
		return;
	}
	conn_unpause(c, CONN_PAUSE_ALARM);
}

/*
 * An alarm raised or cleared. As RabbitMQ (rabbit_reader's publish_received), a memory or disk
 * alarm blocks a connection, and tells it connection.blocked, at its next publish, not before:
 * a client that only consumes, or publishes no more, hears nothing. A failed store (Warren's own
 * alarm) is told at once to every connection that has published: its confirms have stopped.
 */
void conn_mem_alarm(bool on)
{
	struct conn *c, *next;

	for (c = LIST_FIRST(&conns); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		if (on) {
			if (c->publisher && (broker.alarms & ALARM_STORE))
				conn_notify_blocked(c, true);
			continue;
		}
		conn_notify_blocked(c, false);
		conn_set_blocked(c, false);
	}
}

/* The paged read c's basic.get waited for is in: the frame is read again. */
static void conn_load_done(struct conn *c)
{
	struct queue *q = c->load_wait;

	c->load_wait = NULL;
	queue_unref(q);
	conn_unpause(c, CONN_PAUSE_LOAD);
}

/* consumer_timeout: every channel's oldest unacked delivery, looked at a few times a timeout. */
static void ack_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	uint32_t now = (uint32_t)now_ms();
	struct conn *c;
	struct channel *ch, *next;

	LIST_FOREACH(c, &conns, entry)
	{
		if (c->state != CONN_OPEN)
			continue;
		for (ch = LIST_FIRST(&c->channels); ch != NULL; ch = next) {
			next = LIST_NEXT(ch, entry);
			channel_check_ack_timeout(ch, now, broker.cfg.consumer_timeout);
		}
	}
}

void conn_register_events(void)
{
	uint32_t every = broker.cfg.consumer_timeout / 4;

	net_register_events(&(struct net_events){ .accepted = conn_accept });
	broker.events.alarm = conn_mem_alarm;
	broker.events.consumer_ready = consumer_ready;
	broker.events.consumer_deliver = consumer_deliver;
	broker.events.consumer_cancel = consumer_cancel;
	broker.events.load_done = conn_load_done;
	if (broker.cfg.consumer_timeout > 0 && broker.base != NULL) {
		/* RabbitMQ looks once a minute or so; here a quarter of the timeout, 50 ms to 15 s. */
		every = every < 50 ? 50 : every > 15000 ? 15000 : every;
		ack_timeout_ev = event_new(broker.base, -1, EV_PERSIST, ack_timeout_cb, NULL);
		event_add(ack_timeout_ev, &(struct timeval){ every / 1000, (every % 1000) * 1000 });
	}
}

/* ---- events and the timer ---- */

void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		c->io_failed = (what & BEV_EVENT_ERROR) != 0;
		if (c->state != CONN_CLOSING && c->state != CONN_DEAD && !c->close_after_flush) {
			log_info(
			    "%s: client closed the connection without connection.close", c->peer);
			c->close_logged = true;
		}
		conn_kill(c, false);
	}
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	uint64_t now = now_ms(), hb = (uint64_t)c->heartbeat * 1000;

	if (c->lingering) {
		log_debug("%s: the client did not close the socket after close-ok", c->peer);
		conn_kill(c, false);
		return;
	}
	if (c->close_after_flush || c->state == CONN_CLOSING) {
		log_info("%s: no close-ok in time; dropping the connection", c->peer);
		conn_kill(c, false);
		return;
	}
	if (c->state < CONN_OPEN) {
		log_warn("%s: handshake not finished within %u s; dropping the connection", c->peer,
		    broker.cfg.handshake_timeout);
		conn_kill(c, false);
		return;
	}
	if (hb == 0)
		return;
	if ((c->paused & CONN_PAUSE_OUTPUT) && now - c->last_recv > 4 * hb) {
		log_warn(
		    "%s: the client has not read its output for %llu ms; dropping the connection",
		    c->peer, (unsigned long long)(now - c->last_recv));
		conn_kill(c, false);
		return;
	}
	if (!(c->paused & (CONN_PAUSE_ALARM | CONN_PAUSE_OUTPUT)) && now - c->last_recv > 2 * hb) {
		log_warn(
		    "%s: missed heartbeats from the client for %llu ms; dropping the connection",
		    c->peer, (unsigned long long)(now - c->last_recv));
		conn_kill(c, false);
		return;
	}
	if (c->sent) {
		c->sent = false;
		c->last_send = now;
	} else if (now - c->last_send >= hb / 2) {
		conn_send_raw(c, amqp_heartbeat_frame, sizeof(amqp_heartbeat_frame));
		c->sent = false;
		c->last_send = now;
	}
	conn_arm_timer(c, hb / 2 > 0 ? hb / 2 : 500);
}

/* Called when the handshake completes: switch the timer from handshake timeout to heartbeats. */
void conn_opened(struct conn *c)
{
	evtimer_del(c->timer);
	if (c->heartbeat > 0)
		conn_arm_timer(c, (uint64_t)c->heartbeat * 500);
}
