/*
 * handle_connection.c: the connection class: the handshake (start, start-ok, tune, tune-ok, open)
 * with RabbitMQ's checks and reply texts, close in both directions, and update-secret.
 */
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "config.h"
#include "server/proto/proto.h"

static struct amqp_table_entry str_entry(const char *key, const char *value)
{
	struct amqp_table_entry e = { amqp_cstr(key), { .type = AMQP_FIELD_LONGSTR } };

	e.value.v.bytes = amqp_cstr(value);
	return e;
}

static struct amqp_table_entry bool_entry(const char *key, bool value)
{
	struct amqp_table_entry e = { amqp_cstr(key), { .type = AMQP_FIELD_BOOL } };

	e.value.v.b = value;
	return e;
}

void conn_send_start(struct conn *c)
{
	/* Exactly the RabbitMQ capabilities Warren implements. */
	struct amqp_table_entry caps[] = {
		bool_entry("publisher_confirms", true),
		bool_entry("exchange_exchange_bindings", true),
		bool_entry("basic.nack", true),
		bool_entry("consumer_cancel_notify", true),
		bool_entry("connection.blocked", true),
		bool_entry("consumer_priorities", true),
		bool_entry("authentication_failure_close", true),
		bool_entry("per_consumer_qos", true),
		bool_entry("direct_reply_to", true),
	};
	static char cluster[300];
	char host[256] = "localhost";
	struct amqp_table_entry props[7];
	struct amqp_table t;
	struct amqp_method m = { .id = AMQP_ID_connection_start };
	uint8_t buf[2048];
	int n;

	if (cluster[0] == '\0') {
		gethostname(host, sizeof(host) - 1);
		snprintf(cluster, sizeof(cluster), "warren@%s", host);
	}
	/*
	 * Clients and their test suites choose what to expect by product and version (amqp091-go
	 * runs its RabbitMQ cases only for product "RabbitMQ"; the Java client's tests compare the
	 * version with 3.7, 3.8, ...): Warren answers as the RabbitMQ whose behaviour it follows,
	 * and names itself in platform and information.
	 */
	props[0] = str_entry("product", "RabbitMQ");
	props[1] = str_entry("version", WARREN_RABBITMQ_VERSION);
	props[2] = str_entry("platform", "Warren " PACKAGE_VERSION " (C11, libevent)");
	props[3] = str_entry("copyright", "Copyright (c) 2026 the Warren authors");
	props[4] = str_entry("information",
	    "Warren " PACKAGE_VERSION
	    ", an AMQP 0-9-1 broker that behaves as RabbitMQ " WARREN_RABBITMQ_VERSION
	    " towards its clients");
	props[5] = str_entry("cluster_name", cluster);
	props[6] =
	    (struct amqp_table_entry){ amqp_cstr("capabilities"), { .type = AMQP_FIELD_TABLE } };
	props[6].value.v.table = (struct amqp_table){ sizeof(caps) / sizeof(caps[0]), caps };
	t = (struct amqp_table){ sizeof(props) / sizeof(props[0]), props };
	n = amqp_table_encode(&t, buf, sizeof(buf));
	if (n < 4) {
		log_error("%s: cannot encode server-properties", c->peer);
		return;
	}
	m.u.connection_start.version_major = 0;
	m.u.connection_start.version_minor = 9;
	m.u.connection_start.server_properties = (struct amqp_bytes){ buf + 4, (size_t)n - 4 };
	/* EXTERNAL only where a verified client certificate can name the user. */
	m.u.connection_start.mechanisms =
	    amqp_cstr(c->tls && c->tls_verify ? AUTH_MECHANISMS " EXTERNAL" : AUTH_MECHANISMS);
	m.u.connection_start.locales = amqp_cstr("en_US");
	conn_send_method(c, 0, &m);
}

/* Read the capabilities the client advertises in client-properties. */
static void read_client_caps(struct conn *c, struct amqp_bytes props)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *caps, *v;
	static const struct {
		const char *name;
		size_t off;
	} known[] = {
		{ "authentication_failure_close", offsetof(struct conn_caps, auth_failure_close) },
		{ "consumer_cancel_notify", offsetof(struct conn_caps, cancel_notify) },
		{ "connection.blocked", offsetof(struct conn_caps, blocked) },
		{ "publisher_confirms", offsetof(struct conn_caps, confirms) },
		{ "basic.nack", offsetof(struct conn_caps, nack) },
		{ "exchange_exchange_bindings", offsetof(struct conn_caps, e2e_bindings) },
		{ "per_consumer_qos", offsetof(struct conn_caps, per_consumer_qos) },
	};
	size_t i;

	amqp_arena_init(&pool);
	if (amqp_table_decode(props, &pool, &t) == 0 &&
	    (caps = amqp_table_get(&t, "capabilities")) != NULL && caps->type == AMQP_FIELD_TABLE) {
		for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
			v = amqp_table_get(&caps->v.table, known[i].name);
			if (v != NULL && v->type == AMQP_FIELD_BOOL)
				*(bool *)((char *)&c->caps + known[i].off) = v->v.b;
		}
	}
	amqp_arena_reset(&pool);
}

/* A refused login: connection.close 403 if the client asked for it, else just the socket. */
static void refuse_login(struct conn *c, struct amqp_bytes mechanism, const char *why)
{
	struct amqp_method m = { .id = AMQP_ID_connection_close };
	char text[256];

	log_warn("%s: login refused: %s", c->peer, why);
	if (c->caps.auth_failure_close) {
		snprintf(text, sizeof(text),
		    "ACCESS_REFUSED - Login was refused using authentication mechanism %.*s. For "
		    "details see "
		    "the broker logfile.",
		    (int)(mechanism.len > 32 ? 32 : mechanism.len), (const char *)mechanism.ptr);
		m.u.connection_close.reply_code = AMQP_ACCESS_REFUSED;
		m.u.connection_close.reply_text = amqp_cstr(text);
		conn_send_method(c, 0, &m);
	}
	conn_close_after_flush(c);
}

/*
 * A cluster replica that cannot serve (no master, or none reachable): connection.close 320 in
 * place of tune, where RabbitMQ puts its login refusal, so that clients show the reason as they
 * show a refused login's; then the socket closes.
 */
static void refuse_unavailable(struct conn *c)
{
	struct amqp_method m = { .id = AMQP_ID_connection_close };
	char text[300];

	log_info("%s: refused: %s", c->peer, c->refusal);
	snprintf(text, sizeof(text), "CONNECTION_FORCED - %s", c->refusal);
	m.u.connection_close.reply_code = AMQP_CONNECTION_FORCED;
	m.u.connection_close.reply_text = amqp_cstr(text);
	if (m.u.connection_close.reply_text.len > 255)
		m.u.connection_close.reply_text.len = 255;
	conn_send_method(c, 0, &m);
	conn_close_after_flush(c);
}

static void handle_start_ok(struct conn *c, const struct amqp_connection_start_ok *s)
{
	struct auth_credentials cr;
	struct amqp_method m = { .id = AMQP_ID_connection_tune };
	char why[400];

	read_client_caps(c, s->client_properties);
	/* Kept for the management API (client_properties, user_provided_name), as RabbitMQ does. */
	free(c->client_props);
	c->client_props = NULL;
	c->client_props_len = (uint32_t)s->client_properties.len;
	if (c->client_props_len > 0) {
		c->client_props = xmalloc(c->client_props_len);
		memcpy(c->client_props, s->client_properties.ptr, c->client_props_len);
	}
	if (c->refusal != NULL) {
		refuse_unavailable(c);
		return;
	}
	if (amqp_bytes_eq_cstr(s->mechanism, "EXTERNAL") && c->tls && c->tls_verify) {
		char name[256];
		snprintf(c->mechanism, sizeof(c->mechanism), "EXTERNAL");
		if (tls_peer_name(c->bev, name, sizeof(name)) != 0) {
			refuse_login(
			    c, s->mechanism, "EXTERNAL without a verified client certificate");
			return;
		}
		c->user = xstrdup(name);
		/* The certificate is the credential: the user need only exist (and not be locked). */
		conn_login_done(c, auth_user_may_log_in(broker.auth, amqp_cstr(name)), NULL);
		return;
	}
	if (!auth_mechanism_offered(s->mechanism)) {
		conn_error(c, AMQP_COMMAND_INVALID, AMQP_ID_connection_start_ok,
		    "unknown authentication mechanism '%.*s'",
		    (int)(s->mechanism.len > 64 ? 64 : s->mechanism.len),
		    (const char *)s->mechanism.ptr);
		return;
	}
	if (auth_parse_response(s->mechanism, s->response, &cr) != 0) {
		refuse_login(c, s->mechanism, "malformed SASL response");
		return;
	}
	snprintf(c->mechanism, sizeof(c->mechanism), "%.*s", (int)s->mechanism.len,
	    (const char *)s->mechanism.ptr);
	c->user = xbytesdup(cr.user);
	/*
	 * The password check runs on auth's threads; the connection handles nothing until it answers
	 * (conn_read_cb stops reading the socket if the client sends much meanwhile).
	 */
	conn_pause(c, CONN_PAUSE_LOGIN);
	access_login(c, &cr);
	(void)m;
	(void)why;
}

/* The n bytes at s with control characters replaced, NUL-terminated in buf, for logs. */
static const char *printable_n(const char *s, size_t n, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < n && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

/* printable(s): s with control characters replaced, for logs (names come from clients). */
static const char *printable(const char *s, char *buf, size_t len)
{
	return printable_n(s, strlen(s), buf, len);
}

/* The connection_name client property (as applications name their connections), printable. */
static bool client_name(const struct conn *c, char *out, size_t len)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *v;
	bool found = false;

	amqp_arena_init(&pool);
	if (amqp_table_decode(
	        (struct amqp_bytes){ c->client_props, c->client_props_len }, &pool, &t) == 0 &&
	    (v = amqp_table_get(&t, "connection_name")) != NULL && v->type == AMQP_FIELD_LONGSTR) {
		printable_n((const char *)v->v.bytes.ptr, v->v.bytes.len, out, len);
		found = true;
	}
	amqp_arena_reset(&pool);
	return found;
}

void conn_login_done(struct conn *c, bool ok, const char *reason)
{
	struct amqp_method m = { .id = AMQP_ID_connection_tune };
	struct amqp_bytes mech = amqp_cstr(c->mechanism);
	char why[400], name[130];

	c->paused &= ~CONN_PAUSE_LOGIN; /* read again below, once tune is sent */
	if (c->state == CONN_DEAD || c->close_after_flush)
		return;
	if (!ok)
		broker.counters.auth_failed[AUTH_PROTO_AMQP]++;
	else
		broker.counters.auth_ok[AUTH_PROTO_AMQP]++;
	if (!ok) {
		if (reason != NULL)
			snprintf(why, sizeof(why), "%s", reason);
		else
			snprintf(why, sizeof(why), "user '%s': invalid credentials",
			    printable(c->user, name, sizeof(name)));
		refuse_login(c, mech, why);
		return;
	}
	if (broker.cfg.guest_loopback_only && auth_user_loopback_only(amqp_cstr(c->user)) &&
	    !c->loopback) {
		snprintf(why, sizeof(why), "user '%s' can only connect via localhost",
		    printable(c->user, name, sizeof(name)));
		refuse_login(c, mech, why);
		return;
	}
	m.u.connection_tune.channel_max = broker.cfg.channel_max;
	m.u.connection_tune.frame_max = broker.cfg.frame_max;
	m.u.connection_tune.heartbeat = broker.cfg.heartbeat;
	conn_send_method(c, 0, &m);
	conn_set_state(c, CONN_TUNE);
	conn_resume_reading(c);
}

/* RabbitMQ's negotiation rule: 0 ("no limit") or above the offer, or under the minimum, fails. */
static bool negotiate(struct conn *c, const char *field, uint32_t value, uint32_t min, uint32_t max)
{
	if (value != 0 && value < min) {
		conn_error(c, AMQP_NOT_ALLOWED, AMQP_ID_connection_tune,
		    "negotiated %s = %u is lower than the minimum allowed value (%u)", field, value,
		    min);
		return false;
	}
	if (value == 0 || value > max) {
		conn_error(c, AMQP_NOT_ALLOWED, AMQP_ID_connection_tune,
		    "negotiated %s = %u%s is higher than the maximum allowed value (%u)", field,
		    value, value == 0 ? " (no limit)" : "", max);
		return false;
	}
	return true;
}

static void handle_tune_ok(struct conn *c, const struct amqp_connection_tune_ok *t)
{
	if (!negotiate(c, "frame_max", t->frame_max, AMQP_FRAME_MIN_SIZE, broker.cfg.frame_max) ||
	    !negotiate(c, "channel_max", t->channel_max, 1, broker.cfg.channel_max))
		return;
	c->frame_max = t->frame_max;
	c->channel_max = t->channel_max;
	c->heartbeat = t->heartbeat;
	conn_set_state(c, CONN_OPEN_WAIT);
}

static void handle_open(struct conn *c, const struct amqp_connection_open *o)
{
	struct amqp_method m = { .id = AMQP_ID_connection_open_ok };
	struct vhost *v = vhost_find(o->virtual_host);
	char name[130];

	/* A vhost a reload removed stays in memory for its connections, but is gone for new ones. */
	if (v == NULL || !auth_vhost_exists(broker.auth, o->virtual_host)) {
		conn_error(c, AMQP_NOT_ALLOWED, AMQP_ID_connection_open, "vhost %.*s not found",
		    (int)o->virtual_host.len, (const char *)o->virtual_host.ptr);
		return;
	}
	if (!access_vhost(c, v))
		return;
	c->vhost = v;
	broker.counters.conns_in_vhost++;
	v->nconns++;
	access_user_conn(c, 1);
	c->counted = true;
	conn_send_method(c, 0, &m);
	conn_set_state(c, CONN_OPEN);
	conn_opened(c);
	if (client_name(c, name, sizeof(name)))
		log_info("%s: user '%s' opened vhost '%s' (connection_name '%s')", c->peer, c->user,
		    v->name, name);
	else
		log_info("%s: user '%s' opened vhost '%s'", c->peer, c->user, v->name);
}

static void conn_start_ok_m(struct conn *c, const struct amqp_method *m)
{
	handle_start_ok(c, &m->u.connection_start_ok);
}

static void conn_tune_ok_m(struct conn *c, const struct amqp_method *m)
{
	handle_tune_ok(c, &m->u.connection_tune_ok);
}

static void conn_open_m(struct conn *c, const struct amqp_method *m)
{
	handle_open(c, &m->u.connection_open);
}

static void conn_close_m(struct conn *c, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_connection_close_ok };

	log_info("%s: client closed the connection (%u %.*s)", c->peer,
	    m->u.connection_close.reply_code, (int)m->u.connection_close.reply_text.len,
	    (const char *)m->u.connection_close.reply_text.ptr);
	c->close_logged = true;
	conn_send_method(c, 0, &r);
	conn_linger(c);
}

/* A close-ok nobody waits for, or the client's own flow notices: nothing to do. */
static void conn_ignore_m(struct conn *c, const struct amqp_method *m)
{
	(void)c;
	(void)m;
}

static void conn_update_secret_m(struct conn *c, const struct amqp_method *m)
{
	struct amqp_method r = { .id = AMQP_ID_connection_update_secret_ok };
	char name[130], reason[256], rbuf[520];

	/*
	 * As RabbitMQ: the secret is for backends whose logins expire (OAuth 2.0 tokens); Warren's,
	 * like RabbitMQ's internal one, never do, so it is accepted unchecked. The connection keeps
	 * its user and permissions either way.
	 */
	snprintf(reason, sizeof(reason), "%.*s", (int)m->u.connection_update_secret.reason.len,
	    (const char *)m->u.connection_update_secret.reason.ptr);
	log_info("%s: user '%s' updated secret, reason: %s", c->peer,
	    printable(c->user, name, sizeof(name)), printable(reason, rbuf, sizeof(rbuf)));
	conn_send_method(c, 0, &r);
}

/* The connection class on channel 0: each method's handler and the state it is taken in. */
#define ANY_STATE (-1)
static const struct {
	void (*fn)(struct conn *c, const struct amqp_method *m);
	int state; /* enum conn_state, or ANY_STATE */
} conn_methods[AMQP_NMETHODS] = {
	[AMQP_IDX_connection_start_ok] = { .fn = conn_start_ok_m, .state = CONN_START },
	[AMQP_IDX_connection_tune_ok] = { .fn = conn_tune_ok_m, .state = CONN_TUNE },
	[AMQP_IDX_connection_open] = { .fn = conn_open_m, .state = CONN_OPEN_WAIT },
	[AMQP_IDX_connection_close] = { .fn = conn_close_m, .state = ANY_STATE },
	[AMQP_IDX_connection_close_ok] = { .fn = conn_ignore_m, .state = ANY_STATE },
	[AMQP_IDX_connection_blocked] = { .fn = conn_ignore_m, .state = ANY_STATE },
	[AMQP_IDX_connection_unblocked] = { .fn = conn_ignore_m, .state = ANY_STATE },
	[AMQP_IDX_connection_update_secret] = { .fn = conn_update_secret_m, .state = CONN_OPEN },
};

void handle_connection(struct conn *c, const struct amqp_method *m)
{
	int i = amqp_method_index(m->id);

	if (i >= 0 && conn_methods[i].fn != NULL &&
	    (conn_methods[i].state == ANY_STATE || conn_methods[i].state == (int)c->state)) {
		conn_methods[i].fn(c, m);
		return;
	}
	conn_error(c, AMQP_CHANNEL_ERROR, m->id, "unexpected method in connection state %s",
	    conn_state_name(c->state));
}
