/*
 * access.c: the broker's side of auth/: the user database in force (built-in guest, or the users
 * file and vhost files from the configuration), logins checked on auth's worker pool so the loop
 * never hashes a password or waits for saslauthd, vhost access and limits at connection.open,
 * RabbitMQ's permission table on every operation (403 on the channel), and the users half of a
 * reload (reload.c): a new database loaded and checked, then put in force, disconnecting users
 * who lost their vhost (320).
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "server/proto/proto.h"

struct user_count {
	char *name;
	unsigned long n;
};

static struct {
	struct hmap users; /* user name -> struct user_count (open connections) */
	struct auth_pool *pool;
	struct event *pool_ev;
	const char *users_file, *vhost_dir;
	enum auth_backend backend;
	bool saslauthd; /* libsasl2 initialised */
} ac;

/* A name from a client, safe for a log line: control characters become '?'. */
static const char *printable_bytes(struct amqp_bytes b, char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < b.len && i + 1 < len; i++)
		buf[i] = b.ptr[i] < 0x20 || b.ptr[i] == 0x7f ? '?' : (char)b.ptr[i];
	buf[i] = '\0';
	return buf;
}

static const char *printable(const char *s)
{
	static char buf[256];

	return printable_bytes(amqp_cstr(s), buf, sizeof(buf));
}

/* A connection's login came back from the pool. */
static void conn_login_cb(struct access_wait *w, int result, const char *why)
{
	struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, login_wait));
	char text[400];

	if (result == AUTH_E_UNAVAILABLE) {
		snprintf(text, sizeof(text),
		    "user '%s': saslauthd could not check the password: %s", printable(c->user),
		    why);
		conn_login_done(c, false, text);
		return;
	}
	conn_login_done(c, result == AUTH_OK, NULL);
}

/* Every check's opaque is a struct access_wait: a connection's, or the HTTP API's. */
static void pool_cb(void *opaque, int result, const char *why, void *arg)
{
	struct access_wait *w = opaque;

	w->done(w, result, why);
}

static void pool_event_cb(evutil_socket_t fd, short what, void *arg)
{
	auth_pool_complete(ac.pool, pool_cb, NULL);
}

int access_init(const struct broker_config *cfg)
{
	struct auth_pool_config pc = { .threads = cfg->auth_threads,
		.cache_ttl_ms = cfg->auth_cache_ttl * 1000,
		.no_cache = cfg->auth_cache_ttl == 0 };
	struct auth_saslauthd_config sc = { cfg->saslauthd_path, cfg->saslauthd_service };
	struct auth_db *db;
	char err[512];

	ac.users_file = cfg->users_file;
	ac.vhost_dir = cfg->vhost_dir;
	ac.backend = cfg->password_backend;
	if (ac.users_file != NULL) {
		if (auth_db_load_backend(
		        ac.users_file, ac.vhost_dir, ac.backend, &db, err, sizeof(err)) != 0) {
			log_error("%s", err);
			return -1;
		}
		broker_set_auth(db);
		log_info("users from %s, vhosts from %s: %zu users, %zu vhosts", ac.users_file,
		    ac.vhost_dir != NULL ? ac.vhost_dir : "(none)", auth_db_user_count(db),
		    auth_db_vhost_count(db));
	}
	if (ac.backend == AUTH_BACKEND_SASLAUTHD) {
		if (auth_saslauthd_init(&sc, err, sizeof(err)) != AUTH_OK) {
			log_error("%s", err);
			return -1;
		}
		ac.saslauthd = true;
		log_info("passwords of users without a hash in %s are checked by saslauthd at %s "
		         "(service %s)",
		    ac.users_file, sc.path != NULL ? sc.path : AUTH_SASLAUTHD_PATH,
		    sc.service != NULL ? sc.service : AUTH_SASLAUTHD_SERVICE);
	}
	if (auth_pool_new(&pc, broker.auth, &ac.pool) != 0) {
		log_error("cannot start the password-check threads");
		return -1;
	}
	ac.pool_ev = event_new(
	    broker.base, auth_pool_fd(ac.pool), EV_READ | EV_PERSIST, pool_event_cb, NULL);
	event_add(ac.pool_ev, NULL);
	return 0;
}

void access_free(void)
{
	if (ac.pool_ev != NULL)
		event_free(ac.pool_ev);
	ac.pool_ev = NULL;
	auth_pool_free(ac.pool);
	ac.pool = NULL;
	if (ac.saslauthd)
		auth_saslauthd_done(); /* after the pool: no thread is in libsasl2 now */
	ac.saslauthd = false;
	hmap_clear(&ac.users); /* connections are gone by now: the counts went with them */
}

int access_reload_load(struct auth_db **out, char *err, size_t errlen)
{
	*out = NULL;
	if (ac.users_file == NULL)
		return 0;
	return auth_db_load_backend(ac.users_file, ac.vhost_dir, ac.backend, out, err, errlen) ==
	        AUTH_OK
	    ? 0
	    : -1;
}

unsigned access_reload_apply(struct auth_db *db)
{
	broker_set_auth(db);
	if (ac.pool != NULL)
		auth_pool_set_db(ac.pool, db);
	return conn_access_changed();
}

int access_check_password(struct access_wait *w, const struct auth_credentials *cr)
{
	bool at_once;

	if (ac.pool == NULL) /* no pool (unit tests): check here */
		return auth_db_check_password(broker.auth, cr) == AUTH_OK ? AUTH_OK
		                                                          : AUTH_E_REFUSED;
	if (auth_pool_submit(ac.pool, cr, w, &at_once) != AUTH_OK)
		return AUTH_E_BUSY;
	return at_once ? AUTH_OK : 1; /* at once: a user who logged in lately, no thread needed */
}

void access_check_cancel(struct access_wait *w)
{
	if (ac.pool != NULL)
		auth_pool_cancel(ac.pool, w);
}

void access_login(struct conn *c, const struct auth_credentials *cr)
{
	int r;

	c->login_wait.done = conn_login_cb;
	if ((r = access_check_password(&c->login_wait, cr)) == AUTH_E_BUSY)
		conn_login_done(c, false, "too many password checks waiting");
	else if (r <= 0)
		conn_login_done(c, r == AUTH_OK, NULL);
}

void access_cancel(struct conn *c)
{
	access_check_cancel(&c->login_wait);
}

static struct amqp_bytes user_of(const struct conn *c)
{
	return amqp_cstr(c->user);
}

static struct amqp_bytes vhost_of(const struct conn *c)
{
	return amqp_cstr(c->vhost->name);
}

bool access_vhost(struct conn *c, struct vhost *v)
{
	struct auth_limits lim;

	if (!auth_vhost_access(broker.auth, user_of(c), amqp_cstr(v->name))) {
		conn_error(c, AMQP_NOT_ALLOWED, AMQP_ID_connection_open,
		    "access to vhost '%s' refused for user '%s'", v->name, c->user);
		return false;
	}
	if (broker.cfg.user_max_connections > 0) {
		struct user_count *u = hmap_get(&ac.users, c->user, strlen(c->user));
		if (u != NULL && u->n >= broker.cfg.user_max_connections) {
			conn_error(c, AMQP_NOT_ALLOWED, AMQP_ID_connection_open,
			    "access to vhost '%s' refused for user '%s': user connection limit "
			    "(%lu) is reached",
			    v->name, c->user, broker.cfg.user_max_connections);
			return false;
		}
	}
	if (auth_vhost_limits(broker.auth, amqp_cstr(v->name), &lim) && lim.max_connections >= 0 &&
	    v->nconns >= (unsigned long)lim.max_connections) {
		conn_error(c, AMQP_NOT_ALLOWED, AMQP_ID_connection_open,
		    "access to vhost '%s' refused for user '%s': connection limit (%ld) is reached",
		    v->name, c->user, lim.max_connections);
		return false;
	}
	return true;
}

void access_user_conn(const struct conn *c, int delta)
{
	struct user_count *u = hmap_get(&ac.users, c->user, strlen(c->user));

	if (u == NULL) {
		if (delta < 0)
			return;
		u = xcalloc(1, sizeof(*u));
		u->name = xstrdup(c->user);
		hmap_put(&ac.users, u->name, strlen(u->name), u);
	}
	u->n += (unsigned long)(long)delta;
	if (u->n == 0) {
		hmap_del(&ac.users, u->name, strlen(u->name));
		free(u->name);
		free(u);
	}
}

bool access_still_allowed(const struct conn *c)
{
	return c->vhost == NULL || auth_vhost_access(broker.auth, user_of(c), vhost_of(c));
}

bool access_check(struct channel *ch, uint32_t mid, enum auth_perm perm, enum auth_resource kind,
    struct amqp_bytes name)
{
	struct conn *c = ch->conn;
	static const char *const perms[] = { "configure", "write", "read" };
	char pbuf[256];

	/* A publisher writes to the same exchange again and again: the last answer is kept. */
	if (ch->perm_gen == broker.auth_gen && ch->perm_ok_kind == (uint8_t)(perm * 2 + kind) &&
	    ch->perm_ok_len == name.len &&
	    (name.len == 0 || memcmp(ch->perm_ok_name, name.ptr, name.len) == 0))
		return true;
	if (auth_permitted(broker.auth, user_of(c), vhost_of(c), perm, kind, name)) {
		if (name.len <= sizeof(ch->perm_ok_name)) {
			ch->perm_gen = broker.auth_gen;
			ch->perm_ok_kind = (uint8_t)(perm * 2 + kind);
			ch->perm_ok_len = (uint8_t)name.len;
			if (name.len > 0)
				memcpy(ch->perm_ok_name, name.ptr, name.len);
		}
		return true;
	}
	log_info("%s: user '%s' denied %s on %s '%s' in vhost '%s'", c->peer, printable(c->user),
	    perms[perm], kind == AUTH_RES_QUEUE ? "queue" : "exchange",
	    printable_bytes(name, pbuf, sizeof(pbuf)), c->vhost->name);
	channel_error(ch, AMQP_ACCESS_REFUSED, mid,
	    "access to %s '%.*s' in vhost '%s' refused for user '%s'",
	    kind == AUTH_RES_QUEUE ? "queue" : "exchange",
	    (int)(name.len == 0 && kind == AUTH_RES_EXCHANGE ? 11 : name.len),
	    name.len == 0 && kind == AUTH_RES_EXCHANGE ? "amq.default" : (const char *)name.ptr,
	    c->vhost->name, c->user);
	return false;
}

bool access_topic(struct channel *ch, uint32_t mid, const struct exchange *x, struct amqp_bytes key,
    enum auth_perm perm)
{
	struct conn *c = ch->conn;

	if (x->type != EX_TOPIC ||
	    auth_topic_permitted(broker.auth, user_of(c), vhost_of(c),
	        (struct amqp_bytes){ (const uint8_t *)x->name, x->name_len }, key, perm))
		return true;
	channel_error(ch, AMQP_ACCESS_REFUSED, mid,
	    "access to topic '%.*s' in exchange '%s' in vhost '%s' refused for user '%s'",
	    (int)key.len, (const char *)key.ptr, x->name, c->vhost->name, c->user);
	return false;
}

bool access_queue_limit(struct channel *ch, struct amqp_bytes name)
{
	struct auth_limits lim;
	struct vhost *v = ch->conn->vhost;

	if (!auth_vhost_limits(broker.auth, amqp_cstr(v->name), &lim) || lim.max_queues < 0 ||
	    v->queues.count < (size_t)lim.max_queues)
		return true;
	channel_error(ch, AMQP_PRECONDITION_FAILED, AMQP_ID_queue_declare,
	    "cannot declare queue '%.*s': queue limit in vhost '%s' (%ld) is reached",
	    (int)name.len, (const char *)name.ptr, v->name, lim.max_queues);
	return false;
}

bool access_impersonate(const struct conn *c)
{
	return auth_user_has_tag(broker.auth, user_of(c), "impersonator");
}
