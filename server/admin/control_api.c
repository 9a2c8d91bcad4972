/*
 * control_api.c: the control socket's "api" command, which warrenctl(8)'s rabbitmqctl verbs
 * (list_queues, delete_queue, close_connection, export_definitions, ...) are made of: one
 * management API request, run by the same route table, handlers, list engine and JSON as HTTP
 * (http.c, mgmt_*.c), for warrend's operator, who may see and do everything (the socket is
 * warrend's user's and root's alone), and answered on the socket instead of in HTTP:
 *
 *	ok 200                       or "error 404": the HTTP status, as a word and a number
 *	{"name":"q1",...}            the body: a JSON document, or a list one object a line
 *	.                            the end of the answer (no JSON line is ".")
 *
 * A list streams as it does over HTTP: each chunk of about 64 KiB is written once the client has
 * taken the one before, so 100,000 queues are never one document in memory, and a client that
 * stops reading is dropped after the control socket's timeout.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/admin/control.h"
#include "server/admin/mgmt.h"

#define CAPI_HEADERS 8

/* The socket's side of a request: its client and headers, until the answer is complete. */
struct capi {
	struct control_client *cl;
	char *hname[CAPI_HEADERS], *hvalue[CAPI_HEADERS];
	size_t nheaders;
};

static void capi_free(struct capi *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->nheaders; i++) {
		free(a->hname[i]);
		free(a->hvalue[i]);
	}
	free(a);
}

/* The answer is complete: let the client close once it is written, and drop the socket's ref. */
static void capi_done(struct mreq *r)
{
	struct capi *a = r->io_arg;
	struct control_client *cl = a->cl;

	r->io_arg = NULL;
	capi_free(a);
	control_finish(cl);
	mgmt_unref(r);
}

static void capi_status(struct mreq *r, int status)
{
	struct capi *a = r->io_arg;
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(b, "%s %d\n", status < 400 ? "ok" : "error", status);
	control_write(a->cl, b);
	evbuffer_free(b);
}

static void capi_reply(struct mreq *r, int status, struct evbuffer *body)
{
	struct capi *a = r->io_arg;
	struct evbuffer_ptr p;
	struct evbuffer *b;
	size_t len;
	char last;

	if (a == NULL)
		return;
	capi_status(r, status);
	b = evbuffer_new();
	if (body != NULL && (len = evbuffer_get_length(body)) > 0) {
		evbuffer_ptr_set(body, &p, len - 1, EVBUFFER_PTR_SET);
		evbuffer_copyout_from(body, &p, &last, 1);
		evbuffer_add_buffer(b, body);
		if (last != '\n') /* the end line must start a line of its own */
			evbuffer_add(b, "\n", 1);
	}
	evbuffer_add(b, ".\n", 2);
	control_write(a->cl, b);
	evbuffer_free(b);
	capi_done(r);
}

static void capi_stream_start(struct mreq *r)
{
	if (r->io_arg != NULL)
		capi_status(r, 200);
}

/* The client took the last chunk: the list writes the next. */
static void capi_written(void *arg)
{
	struct mreq *r = arg;
	void (*more)(struct mreq *) = r->more;

	r->more = NULL;
	if (!r->gone && more != NULL)
		more(r);
}

static void capi_stream_chunk(struct mreq *r, struct evbuffer *buf)
{
	struct capi *a = r->io_arg;

	if (a == NULL)
		return;
	control_write(a->cl, buf);
	control_when_written(a->cl, capi_written, r);
}

static void capi_stream_end(struct mreq *r)
{
	struct capi *a = r->io_arg;
	struct evbuffer *b;

	if (a == NULL)
		return;
	b = evbuffer_new();
	evbuffer_add(b, ".\n", 2);
	control_write(a->cl, b);
	evbuffer_free(b);
	capi_done(r);
}

static const char *capi_header(struct mreq *r, const char *name)
{
	struct capi *a = r->io_arg;
	size_t i;

	for (i = 0; a != NULL && i < a->nheaders; i++)
		if (strcasecmp(a->hname[i], name) == 0)
			return a->hvalue[i];
	return NULL;
}

static const struct mgmt_io capi_io = {
	.reply = capi_reply,
	.stream_start = capi_stream_start,
	.stream_chunk = capi_stream_chunk,
	.stream_end = capi_stream_end,
	.header = capi_header,
	.lines = true,
};

void control_api_gone(void *handle)
{
	struct mreq *r = handle;

	r->gone = true;
	capi_free(r->io_arg);
	r->io_arg = NULL;
	mgmt_list_free(r->list);
	r->list = NULL;
	mgmt_unref(r);
}

static int parse_method(const char *s, enum mgmt_method *out)
{
	static const struct {
		const char *name;
		enum mgmt_method m;
	} methods[] = { { "GET", M_GET }, { "PUT", M_PUT }, { "POST", M_POST },
		{ "DELETE", M_DELETE } };
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(s, methods[i].name) == 0) {
			*out = methods[i].m;
			return 0;
		}
	}
	return -1;
}

void control_api_run(struct control_client *cl, char **words, size_t nwords, struct evbuffer *body)
{
	struct mreq *r = xcalloc(1, sizeof(*r));
	struct capi *a = xcalloc(1, sizeof(*a));
	char *path = NULL, *q, *eq;
	json_error_t jerr;
	size_t i, len;
	int st;

	r->refs = 1;
	r->io = &capi_io;
	r->io_arg = a;
	r->superuser = true;
	r->tags = TAG_MANAGEMENT | TAG_POLICYMAKER | TAG_MONITORING | TAG_ADMINISTRATOR;
	r->user = xstrdup("warrenctl");
	a->cl = cl;
	control_hold(cl, r);
	if (parse_method(words[1], &r->method) != 0) {
		mgmt_error(
		    r, 405, "method_not_allowed", "the methods are GET, PUT, POST and DELETE");
		return;
	}
	for (i = 3; i < nwords; i++) {
		if ((eq = strchr(words[i], '=')) == NULL || eq == words[i] ||
		    a->nheaders == CAPI_HEADERS) {
			mgmt_error(r, 400, "bad_request", "a header is NAME=VALUE (at most %d)",
			    CAPI_HEADERS);
			return;
		}
		a->hname[a->nheaders] = xstrndup(words[i], (size_t)(eq - words[i]));
		a->hvalue[a->nheaders++] = xstrdup(eq + 1);
	}
	path = xstrdup(words[2]);
	if ((q = strchr(path, '?')) != NULL) {
		*q++ = '\0';
		r->params = xcalloc(1, sizeof(*r->params));
		TAILQ_INIT(r->params);
		if (evhttp_parse_query_str(q, r->params) != 0) {
			mgmt_error(r, 400, "bad_request", "malformed query string");
			goto out;
		}
	}
	log_debug("control socket: api %s %s", words[1], path);
	if ((st = mgmt_route_path(r, path)) != 0) {
		if (st == 404)
			mgmt_not_found(r);
		else
			mgmt_error(r, 405, "method_not_allowed", "Method Not Allowed");
		goto out;
	}
	if (body != NULL && (len = evbuffer_get_length(body)) > 0 &&
	    (r->method == M_PUT || r->method == M_POST)) {
		r->body = json_loadb((const char *)evbuffer_pullup(body, -1), len, 0, &jerr);
		if (r->body == NULL || !json_is_object(r->body)) {
			mgmt_error(r, 400, "bad_request", "not_json");
			goto out;
		}
	}
	r->route->fn(r);
out:
	free(path);
}
