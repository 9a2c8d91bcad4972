/*
 * prom_http.c: the Prometheus listener (prometheus_listen, rabbitmq_prometheus's port 15692): a
 * second evhttp, without authentication as rabbitmq_prometheus has none, serving /metrics
 * (aggregated), /metrics/per-object and /metrics/detailed?family=...&vhost=... in Prometheus's
 * text format 0.0.4. An answer is streamed: prom.c writes about PROM_CHUNK bytes, they are sent
 * as one chunk, and the next is written once the client has taken it, so a scrape of 100,000
 * queues holds one chunk at a time and a slow scraper holds no more. Anything else is answered
 * as the management API answers it: 404 {"error","reason"} for an unknown path, 405 for a method
 * other than GET and HEAD, 400 for an unknown family or a malformed query.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "server/admin/prom.h"

/* Request line and headers: a scrape sends a few hundred bytes. */
#define PROM_MAX_HEADERS 8192
/* A GET has no body: anything larger than this is refused (413). */
#define PROM_MAX_BODY 1024
/* A client silent (or not reading) this long is dropped. */
#define PROM_TIMEOUT_S 30

static struct {
	struct evhttp *http;
	struct evhttp_bound_socket *sock;
} P;

static void preq_free(struct prom_req *p)
{
	size_t i;

	prom_release(p);
	for (i = 0; i < p->nvhosts; i++)
		free(p->vhosts[i]);
	if (p->out != NULL)
		evbuffer_free(p->out);
	free(p);
}

/* The client went away in the middle of an answer: evhttp frees the request after this. */
static void preq_close_cb(struct evhttp_connection *evcon, void *arg)
{
	preq_free(arg);
}

/* An error in the management API's shape. */
static void reply_error(
    struct evhttp_request *req, int status, const char *text, const char *error, const char *reason)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	const char *c;

	evbuffer_add_printf(b, "{\"error\":\"%s\",\"reason\":\"", error);
	for (c = reason; *c != '\0'; c++) { /* reason may echo the query: escape it for JSON */
		if (*c == '"' || *c == '\\')
			evbuffer_add_printf(b, "\\%c", *c);
		else if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			evbuffer_add_printf(b, "\\u%04x", (unsigned char)*c);
		else
			evbuffer_add(b, c, 1);
	}
	evbuffer_add(b, "\"}", 2);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_send_reply(req, status, text, b);
	evbuffer_free(b);
}

static void send_more(struct prom_req *p);

static void chunk_cb(struct evhttp_connection *evcon, void *arg)
{
	send_more(arg);
}

/* Write the next chunk and send it, or end the answer. */
static void send_more(struct prom_req *p)
{
	bool done = prom_fill(p);

	if (evbuffer_get_length(p->out) > 0) {
		if (!done) {
			evhttp_send_reply_chunk_with_cb(p->req, p->out, chunk_cb, p);
			return;
		}
		evhttp_send_reply_chunk(p->req, p->out);
	}
	evhttp_connection_set_closecb(p->evcon, NULL, NULL);
	evhttp_send_reply_end(p->req);
	preq_free(p);
}

/* The query of /metrics/detailed: family= (repeatable, RabbitMQ's names) and vhost=. */
static int parse_query(struct prom_req *p, const char *query, char *why, size_t whylen)
{
	struct evkeyvalq params;
	struct evkeyval *kv;
	int g, ret = -1;

	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(query, &params) != 0) {
		snprintf(why, whylen, "malformed query string");
		return -1;
	}
	TAILQ_FOREACH(kv, &params, next)
	{
		if (strcmp(kv->key, "family") == 0) {
			if ((g = prom_group_by_name(kv->value)) < 0) {
				snprintf(why, whylen, "unknown metric family '%.100s'", kv->value);
				goto out;
			}
			p->groups |= 1u << g;
		} else if (strcmp(kv->key, "vhost") == 0) {
			if (p->nvhosts == PROM_MAX_VHOSTS) {
				snprintf(
				    why, whylen, "more than %d vhost filters", PROM_MAX_VHOSTS);
				goto out;
			}
			p->vhosts[p->nvhosts++] = xstrdup(kv->value);
		}
	}
	ret = 0;
out:
	evhttp_clear_headers(&params);
	return ret;
}

static void gencb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct prom_req *p;
	enum prom_mode mode;
	char why[200];

	if (path == NULL) {
		reply_error(req, 404, "Not Found", "Object Not Found", "Not Found");
		return;
	}
	if (strcmp(path, "/metrics") == 0 || strcmp(path, "/metrics/") == 0) {
		mode = PROM_AGGREGATED;
	} else if (strcmp(path, "/metrics/per-object") == 0) {
		mode = PROM_PER_OBJECT;
	} else if (strcmp(path, "/metrics/detailed") == 0) {
		mode = PROM_DETAILED;
	} else {
		reply_error(req, 404, "Not Found", "Object Not Found", "Not Found");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(h, "Allow", "GET, HEAD");
		reply_error(req, 405, "Method Not Allowed", "method_not_allowed",
		    "only GET and HEAD are allowed");
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->mode = mode;
	if (query != NULL && parse_query(p, query, why, sizeof(why)) != 0) {
		preq_free(p);
		reply_error(req, 400, "Bad Request", "bad_request", why);
		return;
	}
	evhttp_add_header(h, "Content-Type", "text/plain; version=0.0.4");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	if (cmd == EVHTTP_REQ_HEAD) {
		preq_free(p);
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	p->req = req;
	p->evcon = evhttp_request_get_connection(req);
	p->out = evbuffer_new();
	evhttp_connection_set_closecb(p->evcon, preq_close_cb, p);
	prom_begin(p);
	evhttp_send_reply_start(req, 200, "OK");
	send_more(p);
}

int prom_start(struct event_base *base, const char *listen, int ready_fd)
{
	static const struct http_limits lim = { PROM_MAX_HEADERS, PROM_MAX_BODY, PROM_TIMEOUT_S };
	char bound[160];

	if ((P.http = http_listener(base, "prometheus_listen", listen, &lim, gencb, false, &P.sock,
	         bound, sizeof(bound))) == NULL)
		return -1;
	log_info("prometheus metrics on http://%s/metrics", bound);
	if (ready_fd >= 0)
		dprintf(ready_fd, "%s prometheus\n", bound);
	return 0;
}

void prom_stop_listening(void)
{
	if (P.sock != NULL)
		evhttp_del_accept_socket(P.http, P.sock);
	P.sock = NULL;
}

void prom_free(void)
{
	if (P.http != NULL)
		evhttp_free(P.http); /* closes its connections: their close callbacks run */
	P.http = NULL;
	P.sock = NULL;
}
