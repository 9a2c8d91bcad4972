/*
 * http.c: the management HTTP listener (management_listen, RabbitMQ's port 15672) on libevent's
 * evhttp: limits on headers, bodies and idle clients; HTTP Basic authentication checked on auth's
 * pool (access_check_password; the pool's cache answers a user seen lately at once); RabbitMQ's
 * management tags; who may see and do what; and the route table from /api/... paths to the
 * handlers of mgmt_*.c, whose answers http_reply.c sends. Paths outside /api/ are the web UI's
 * files (http_static.c). The same route table serves the control socket's "api" command
 * (control_api.c), through the request's struct mgmt_io instead of evhttp.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/admin/mgmt.h"

static struct {
	struct evhttp *http, *https;
	struct evhttp_bound_socket *sock, *tls_sock;
} H;

static const struct mgmt_route routes[] = {
	{ "overview", M_GET, 0, mgmt_overview },
	{ "whoami", M_GET, 0, mgmt_whoami },
	{ "nodes", M_GET, TAG_MONITORING, mgmt_nodes },
	{ "nodes/*", M_GET, TAG_MONITORING, mgmt_node },
	{ "vhosts", M_GET, 0, mgmt_vhosts },
	{ "vhosts/*", M_GET | M_PUT | M_DELETE, 0, mgmt_vhost_route },
	{ "vhosts/*/permissions", M_GET, TAG_ADMINISTRATOR, mgmt_permissions },
	{ "vhosts/*/topic-permissions", M_GET, TAG_ADMINISTRATOR, mgmt_topic_permissions },
	{ "vhosts/*/connections", M_GET, 0, mgmt_connections },
	{ "vhosts/*/channels", M_GET, 0, mgmt_channels },
	{ "exchanges", M_GET, 0, mgmt_exchanges },
	{ "exchanges/*", M_GET, 0, mgmt_exchanges },
	{ "exchanges/*/*", M_GET | M_PUT | M_DELETE, 0, mgmt_exchange },
	{ "exchanges/*/*/publish", M_POST, 0, mgmt_exchange_publish },
	{ "exchanges/*/*/bindings/source", M_GET, 0, mgmt_exchange_bindings },
	{ "exchanges/*/*/bindings/destination", M_GET, 0, mgmt_exchange_bindings },
	{ "queues", M_GET, 0, mgmt_queues },
	{ "queues/*", M_GET, 0, mgmt_queues },
	{ "queues/*/*", M_GET | M_PUT | M_DELETE, 0, mgmt_queue },
	{ "queues/*/*/contents", M_DELETE, 0, mgmt_queue_contents },
	{ "queues/*/*/get", M_POST, 0, mgmt_queue_get },
	{ "queues/*/*/bindings", M_GET, 0, mgmt_queue_bindings },
	{ "bindings", M_GET, 0, mgmt_bindings },
	{ "bindings/*", M_GET, 0, mgmt_bindings },
	{ "bindings/*/e/*/q/*", M_GET | M_POST, 0, mgmt_binding_list },
	{ "bindings/*/e/*/e/*", M_GET | M_POST, 0, mgmt_binding_list },
	{ "bindings/*/e/*/q/*/*", M_GET | M_DELETE, 0, mgmt_binding },
	{ "bindings/*/e/*/e/*/*", M_GET | M_DELETE, 0, mgmt_binding },
	{ "connections", M_GET, 0, mgmt_connections },
	{ "connections/*", M_GET | M_DELETE, 0, mgmt_connection },
	{ "connections/*/channels", M_GET, 0, mgmt_channels },
	{ "channels", M_GET, 0, mgmt_channels },
	{ "channels/*", M_GET, 0, mgmt_channel },
	{ "consumers", M_GET, 0, mgmt_consumers },
	{ "consumers/*", M_GET, 0, mgmt_consumers },
	{ "users", M_GET, TAG_ADMINISTRATOR, mgmt_users },
	{ "users/without-permissions", M_GET, TAG_ADMINISTRATOR, mgmt_users_without_permissions },
	{ "users/bulk-delete", M_POST, TAG_ADMINISTRATOR, mgmt_users_bulk_delete },
	{ "users/*", M_GET | M_PUT | M_DELETE, TAG_ADMINISTRATOR, mgmt_user },
	{ "users/*/permissions", M_GET, TAG_ADMINISTRATOR, mgmt_permissions },
	{ "users/*/topic-permissions", M_GET, TAG_ADMINISTRATOR, mgmt_topic_permissions },
	{ "permissions", M_GET, TAG_ADMINISTRATOR, mgmt_permissions },
	{ "permissions/*/*", M_GET | M_PUT | M_DELETE, TAG_ADMINISTRATOR, mgmt_permission },
	{ "topic-permissions", M_GET, TAG_ADMINISTRATOR, mgmt_topic_permissions },
	{ "topic-permissions/*/*", M_GET | M_PUT | M_DELETE, TAG_ADMINISTRATOR,
	    mgmt_topic_permission },
	{ "policies", M_GET, TAG_POLICYMAKER, mgmt_policies },
	{ "policies/*", M_GET, TAG_POLICYMAKER, mgmt_policies },
	{ "policies/*/*", M_GET | M_PUT | M_DELETE, TAG_POLICYMAKER, mgmt_policy },
	{ "operator-policies", M_GET, TAG_ADMINISTRATOR, mgmt_policies },
	{ "operator-policies/*", M_GET, TAG_ADMINISTRATOR, mgmt_policies },
	{ "operator-policies/*/*", M_GET | M_PUT | M_DELETE, TAG_ADMINISTRATOR, mgmt_policy },
	{ "vhost-limits", M_GET, 0, mgmt_vhost_limits },
	{ "vhost-limits/*", M_GET, 0, mgmt_vhost_limits },
	{ "vhost-limits/*/*", M_PUT | M_DELETE, TAG_ADMINISTRATOR, mgmt_vhost_limit },
	{ "user-limits", M_GET, 0, mgmt_user_limits },
	{ "user-limits/*", M_GET, 0, mgmt_user_limits },
	{ "user-limits/*/*", M_PUT | M_DELETE, TAG_ADMINISTRATOR, mgmt_user_limit },
	{ "definitions", M_GET | M_POST, TAG_ADMINISTRATOR, mgmt_definitions },
	{ "definitions/*", M_GET | M_POST, TAG_ADMINISTRATOR, mgmt_definitions },
	{ "aliveness-test/*", M_GET, 0, mgmt_aliveness },
	{ "health/checks/alarms", M_GET, 0, mgmt_health_alarms },
	{ "health/checks/local-alarms", M_GET, 0, mgmt_health_alarms },
	{ "health/checks/port-listener/*", M_GET, 0, mgmt_health_port },
	{ "health/checks/protocol-listener/*", M_GET, 0, mgmt_health_protocol },
	{ "health/checks/virtual-hosts", M_GET, 0, mgmt_health_vhosts },
	{ "health/checks/certificate-expiration/*/*", M_GET, 0, mgmt_health_certificates },
	{ "health/checks/master", M_GET, 0, mgmt_health_master },
	{ "cluster", M_GET, 0, mgmt_cluster },
	{ "cluster/nodes/*", M_DELETE, TAG_ADMINISTRATOR, mgmt_cluster_remove },
	{ "cluster/promote", M_POST, TAG_ADMINISTRATOR, mgmt_cluster_promote },
	{ "health/checks/node-is-quorum-critical", M_GET, 0, mgmt_health_single_node },
	{ "health/checks/node-is-mirror-sync-critical", M_GET, 0, mgmt_health_single_node },
};

/* The client went away: evhttp frees the request after this returns. */
static void mreq_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct mreq *r = arg;

	r->gone = true;
	r->req = NULL;
	access_check_cancel(&r->login);
	mgmt_list_free(r->list);
	r->list = NULL;
	mgmt_unref(r);
}

/* ---- Who may see and do what ---- */

bool mgmt_sees_vhost(const struct mreq *r, const char *vhost)
{
	/* A vhost deleted from the files stays in the model (empty) until a restart: hidden. */
	if (!auth_vhost_exists(broker.auth, amqp_cstr(vhost)))
		return false;
	if (r->superuser) /* the operator: only permissions are skipped */
		return true;
	if (r->tags & (TAG_MONITORING | TAG_ADMINISTRATOR))
		return true;
	return auth_vhost_access(broker.auth, amqp_cstr(r->user), amqp_cstr(vhost));
}

bool mgmt_vhost_access(struct mreq *r, const char *vhost)
{
	if (r->superuser)
		return true;
	if (auth_vhost_access(broker.auth, amqp_cstr(r->user), amqp_cstr(vhost)))
		return true;
	mgmt_error(r, 401, "not_authorised", "User not authorised to access virtual host");
	return false;
}

bool mgmt_permitted(struct mreq *r, const char *vhost, enum auth_perm perm, enum auth_resource kind,
    struct amqp_bytes name)
{
	if (r->superuser)
		return true;
	if (auth_permitted(broker.auth, amqp_cstr(r->user), amqp_cstr(vhost), perm, kind, name))
		return true;
	log_info("management: user '%s' denied %s on %s '%.*s' in vhost '%s'", r->user,
	    perm == AUTH_CONFIGURE   ? "configure"
	        : perm == AUTH_WRITE ? "write"
	                             : "read",
	    kind == AUTH_RES_QUEUE ? "queue" : "exchange", (int)name.len, (const char *)name.ptr,
	    vhost);
	mgmt_error(r, 401, "not_authorised", "Access refused.");
	return false;
}

bool mgmt_topic_permitted(struct mreq *r, const char *vhost, const char *exchange,
    struct amqp_bytes key, enum auth_perm perm)
{
	if (r->superuser ||
	    auth_topic_permitted(
	        broker.auth, amqp_cstr(r->user), amqp_cstr(vhost), amqp_cstr(exchange), key, perm))
		return true;
	mgmt_error(r, 401, "not_authorised", "Access refused.");
	return false;
}

struct vhost *mgmt_vhost(struct mreq *r, const char *name)
{
	struct vhost *v = vhost_find(amqp_cstr(name));

	if (v == NULL || !mgmt_sees_vhost(r, name)) {
		if (r->method == M_PUT || r->method == M_POST)
			mgmt_error(r, 404, "not_found", "vhost_not_found");
		else
			mgmt_not_found(r);
		return NULL;
	}
	return v;
}

/* ---- Requests ---- */

/* Split /api/a/b/c into decoded segments: 0, or -1 (not under /api, or malformed). */
static int split_path(struct mreq *r, const char *path)
{
	const char *p, *slash;
	size_t n;

	if (strncmp(path, "/api/", 5) != 0)
		return -1;
	for (p = path + 5; *p != '\0'; p = *slash == '/' ? slash + 1 : slash) {
		char *raw, *dec;
		size_t dlen;

		slash = strchrnul(p, '/');
		n = (size_t)(slash - p);
		if (n == 0 && *slash == '\0')
			break; /* a trailing slash */
		if (r->nsegs == MGMT_MAX_SEGS)
			return -1;
		raw = xstrndup(p, n);
		dec = evhttp_uridecode(raw, 0, &dlen);
		free(raw);
		if (dec == NULL)
			return -1;
		if (strlen(dec) != dlen) { /* an encoded NUL */
			free(dec);
			return -1;
		}
		r->segs[r->nsegs++] = dec;
	}
	return 0;
}

static const struct mgmt_route *route_find(struct mreq *r)
{
	size_t i, k, nargs;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const char *p = routes[i].pattern;

		for (k = 0, nargs = 0; k < r->nsegs && *p != '\0'; k++) {
			const char *end = strchrnul(p, '/');
			size_t len = (size_t)(end - p);

			if (len == 1 && *p == '*') {
				if (nargs == MGMT_MAX_ARGS)
					break;
				r->arg[nargs++] = r->segs[k];
			} else if (strlen(r->segs[k]) != len || memcmp(r->segs[k], p, len) != 0) {
				break;
			}
			p = *end == '/' ? end + 1 : end;
		}
		if (k == r->nsegs && *p == '\0')
			return &routes[i];
	}
	return NULL;
}

int mgmt_route_path(struct mreq *r, const char *path)
{
	if (split_path(r, path) != 0 || (r->route = route_find(r)) == NULL)
		return 404;
	if (!(r->route->methods & (r->method == M_HEAD ? M_GET : r->method)))
		return 405;
	return 0;
}

static unsigned user_tags(const char *user)
{
	struct amqp_bytes u = amqp_cstr(user);
	unsigned t = 0;

	if (auth_user_has_tag(broker.auth, u, "administrator"))
		t |= TAG_ADMINISTRATOR | TAG_MONITORING | TAG_POLICYMAKER | TAG_MANAGEMENT;
	if (auth_user_has_tag(broker.auth, u, "monitoring"))
		t |= TAG_MONITORING | TAG_MANAGEMENT;
	if (auth_user_has_tag(broker.auth, u, "policymaker"))
		t |= TAG_POLICYMAKER | TAG_MANAGEMENT;
	if (auth_user_has_tag(broker.auth, u, "management"))
		t |= TAG_MANAGEMENT;
	return t;
}

/* The user is who they say: check the tags, parse the body, run the handler. */
static void mreq_run(struct mreq *r)
{
	struct evbuffer *in;
	json_error_t jerr;
	size_t len;

	r->tags = user_tags(r->user);
	if (!(r->tags & TAG_MANAGEMENT)) {
		mgmt_error(r, 401, "not_authorised", "Not management user");
		return;
	}
	if ((r->tags & r->route->need) != r->route->need) {
		mgmt_error(r, 401, "not_authorised", "Not %s user",
		    r->route->need == TAG_ADMINISTRATOR     ? "administrator"
		        : r->route->need == TAG_POLICYMAKER ? "policymaker"
		                                            : "monitor");
		return;
	}
	in = evhttp_request_get_input_buffer(r->req);
	len = evbuffer_get_length(in);
	if ((r->method == M_PUT || r->method == M_POST) && len > 0) {
		r->body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
		if (r->body == NULL || !json_is_object(r->body)) {
			mgmt_error(r, 400, "bad_request", "not_json");
			return;
		}
	}
	r->route->fn(r);
}

static void login_cb(struct access_wait *w, int result, const char *why)
{
	struct mreq *r = (struct mreq *)((char *)w - offsetof(struct mreq, login));

	r->login.done = NULL;
	if (result != AUTH_OK)
		broker.counters.auth_failed[AUTH_PROTO_HTTP]++;
	else
		broker.counters.auth_ok[AUTH_PROTO_HTTP]++;
	if (result != AUTH_OK) {
		log_info(
		    "management: login of user '%s' refused%s%s", r->user, *why ? ": " : "", why);
		mgmt_error(r, 401, "not_authorized", "Login failed");
		return;
	}
	mreq_run(r);
}

/* Authorization: Basic base64(user:password). */
static void mreq_login(struct mreq *r)
{
	const char *h =
	    evhttp_find_header(evhttp_request_get_input_headers(r->req), "Authorization");
	unsigned char dec[1024];
	struct auth_credentials cr;
	const char *b64, *colon;
	size_t n, pad;
	int len, rc;

	if (h == NULL) {
		mgmt_error(r, 401, "not_authorized", "Basic authentication is required");
		return;
	}
	if (strncasecmp(h, "Basic ", 6) != 0) {
		mgmt_error(r, 401, "not_authorized", "only Basic authentication is supported");
		return;
	}
	for (b64 = h + 6; *b64 == ' '; b64++)
		;
	n = strlen(b64);
	/* Decoded, 3 bytes per 4: the buffer holds user and password of up to about 760 bytes. */
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(dec) - 1 ||
	    (len = EVP_DecodeBlock(dec, (const unsigned char *)b64, (int)n)) < 0) {
		mgmt_error(r, 401, "not_authorized", "malformed Basic credentials");
		return;
	}
	pad = (b64[n - 1] == '=') + (n > 1 && b64[n - 2] == '=');
	len -= (int)pad;
	dec[len] = '\0';
	if ((colon = memchr(dec, ':', (size_t)len)) == NULL || colon == (const char *)dec ||
	    memchr(dec, '\0', (size_t)len) != NULL) {
		OPENSSL_cleanse(dec, sizeof(dec));
		mgmt_error(r, 401, "not_authorized", "malformed Basic credentials");
		return;
	}
	r->user = xstrndup((const char *)dec, (size_t)(colon - (const char *)dec));
	cr.user = amqp_cstr(r->user);
	cr.password = (struct amqp_bytes){ (const uint8_t *)colon + 1,
		(size_t)len - (size_t)(colon + 1 - (const char *)dec) };
	r->login.done = login_cb;
	rc = access_check_password(&r->login, &cr);
	OPENSSL_cleanse(dec, sizeof(dec)); /* the pool keeps its own copy */
	if (rc == 1)
		return; /* login_cb follows */
	r->login.done = NULL;
	if (rc == AUTH_E_BUSY) {
		mgmt_error(r, 503, "service_unavailable", "too many password checks waiting");
	} else if (rc != AUTH_OK) {
		broker.counters.auth_failed[AUTH_PROTO_HTTP]++;
		mgmt_error(r, 401, "not_authorized", "Login failed");
	} else {
		broker.counters.auth_ok[AUTH_PROTO_HTTP]++;
		mreq_run(r);
	}
}

static void gencb(struct evhttp_request *req, void *arg)
{
	struct mreq *r = xcalloc(1, sizeof(*r));
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;

	r->refs = 1;
	r->req = req;
	r->evcon = evhttp_request_get_connection(req);
	evhttp_connection_set_closecb(r->evcon, mreq_close_cb, r);
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET: r->method = M_GET; break;
	case EVHTTP_REQ_HEAD: r->method = M_HEAD; break;
	case EVHTTP_REQ_PUT: r->method = M_PUT; break;
	case EVHTTP_REQ_POST: r->method = M_POST; break;
	case EVHTTP_REQ_DELETE: r->method = M_DELETE; break;
	default: mgmt_reply_empty(r, 405); return;
	}
	if (path != NULL && strncmp(path, "/api/", 5) != 0) {
		mgmt_static(r, path); /* the web UI: no login (its script asks for one) */
		return;
	}
	if (path == NULL || split_path(r, path) != 0 || (r->route = route_find(r)) == NULL) {
		mgmt_not_found(r);
		return;
	}
	if (query != NULL) {
		r->params = xcalloc(1, sizeof(*r->params));
		TAILQ_INIT(r->params);
		if (evhttp_parse_query_str(query, r->params) != 0) {
			mgmt_error(r, 400, "bad_request", "malformed query string");
			return;
		}
	}
	if (!(r->route->methods & (r->method == M_HEAD ? M_GET : r->method))) {
		mgmt_reply_empty(r, 405);
		return;
	}
	mreq_login(r);
}

/* Parse "ADDR:PORT" or "[V6]:PORT" into host and port. */
static int split_addr(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s, *he;
	char *end;
	long p;

	if (s[0] == '[') {
		if ((he = strchr(s, ']')) == NULL || he[1] != ':')
			return -1;
		h = s + 1;
		colon = he + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		he = colon;
	}
	if ((size_t)(he - h) >= hostlen)
		return -1;
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535)
		return -1;
	*port = (uint16_t)p;
	if (host[0] == '\0')
		snprintf(host, hostlen, "0.0.0.0");
	return 0;
}

/* An HTTPS connection's bufferevent: amqps' TLS context, the socket set by evhttp. */
static struct bufferevent *https_bev(struct event_base *base, void *arg)
{
	return tls_wrap(base, -1, "HTTP over TLS");
}

struct evhttp *http_listener(struct event_base *base, const char *key, const char *addr,
    const struct http_limits *lim, void (*cb)(struct evhttp_request *, void *), bool https,
    struct evhttp_bound_socket **sock, char *bound, size_t boundlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[256];
	struct evhttp *h;
	uint16_t port;

	*sock = NULL;
	if (split_addr(addr, host, sizeof(host), &port) != 0) {
		log_error("%s %s: not ADDR:PORT", key, addr);
		return NULL;
	}
	if (https && !tls_configured()) {
		log_error(
		    "%s %s: needs tls_cert and tls_key (the TLS context of amqps)", key, addr);
		return NULL;
	}
	h = evhttp_new(base);
	evhttp_set_max_headers_size(h, (ev_ssize_t)lim->max_headers);
	evhttp_set_max_body_size(h, (ev_ssize_t)lim->max_body);
	evhttp_set_timeout(h, (int)lim->timeout);
	evhttp_set_allowed_methods(h,
	    EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
	        EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h, cb, NULL);
	if (https)
		evhttp_set_bevcb(h, https_bev, NULL);
	if ((*sock = evhttp_bind_socket_with_handle(h, host, port)) == NULL) {
		log_error("%s %s: cannot listen: %m", key, addr);
		evhttp_free(h);
		return NULL;
	}
	getsockname(evhttp_bound_socket_get_fd(*sock), (struct sockaddr *)&ss, &sslen);
	server_format_addr((struct sockaddr *)&ss, bound, boundlen);
	return h;
}

/* One listener of the API (https: over TLS): 0, or -1 logged. */
static int listen_on(struct event_base *base, const struct mgmt_config *mc, bool https,
    int ready_fd, struct evhttp **out, struct evhttp_bound_socket **sock)
{
	const struct http_limits lim = { mc->max_headers, mc->max_body, mc->timeout };
	char bound[160];

	*out = http_listener(base, https ? "management_tls_listen" : "management_listen",
	    https ? mc->tls_listen : mc->listen, &lim, gencb, https, sock, bound, sizeof(bound));
	if (*out == NULL)
		return -1;
	log_info("management API on %s://%s/api/", https ? "https" : "http", bound);
	if (ready_fd >= 0)
		dprintf(ready_fd, "%s %s\n", bound, https ? "https" : "http");
	return 0;
}

int http_start(struct event_base *base, const struct mgmt_config *mc, int ready_fd)
{
	if (strcmp(mc->listen, "none") != 0 &&
	    listen_on(base, mc, false, ready_fd, &H.http, &H.sock) != 0)
		return -1;
	if (strcmp(mc->tls_listen, "none") != 0 &&
	    listen_on(base, mc, true, ready_fd, &H.https, &H.tls_sock) != 0)
		return -1;
	mgmt_stats_start(base, mc->sample_ms);
	return 0;
}

void http_stop_listening(void)
{
	if (H.sock != NULL)
		evhttp_del_accept_socket(H.http, H.sock);
	if (H.tls_sock != NULL)
		evhttp_del_accept_socket(H.https, H.tls_sock);
	H.sock = H.tls_sock = NULL;
}

void http_free(void)
{
	mgmt_edit_stop(); /* before the requests it answers go */
	mgmt_stats_stop();
	if (H.http != NULL)
		evhttp_free(H.http); /* closes its connections: their close callbacks run */
	if (H.https != NULL)
		evhttp_free(H.https);
	H.http = H.https = NULL;
	H.sock = H.tls_sock = NULL;
}
