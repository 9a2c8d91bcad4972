/*
 * http_reply.c: the management API's answers (docs/management.md): JSON documents with
 * RabbitMQ's headers, errors in its {"error","reason"} shape (AMQP reply codes mapped to HTTP
 * statuses), answers that wait until the store has what a request changed, and lists streamed
 * chunk by chunk as the client takes them; the request's reference count. An answer goes out
 * through evhttp, or through the request's struct mgmt_io for the control socket's "api" command
 * (control_api.c). The listener, the route table and the login are http.c's.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

void mgmt_ref(struct mreq *r)
{
	r->refs++;
}

void mgmt_unref(struct mreq *r)
{
	size_t i;

	if (--r->refs > 0)
		return;
	for (i = 0; i < r->nsegs; i++)
		free(r->segs[i]);
	if (r->params != NULL) {
		evhttp_clear_headers(r->params);
		free(r->params);
	}
	free(r->user);
	json_decref(r->body);
	json_decref(r->stored_json);
	mgmt_list_free(r->list);
	free(r);
}

/* The answer is complete: the connection may serve its next request. */
static void mreq_done(struct mreq *r)
{
	evhttp_connection_set_closecb(r->evcon, NULL, NULL);
	r->req = NULL;
	mgmt_unref(r);
}

static void add_common_headers(struct mreq *r, bool json)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	if (json)
		evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "Vary", "accept, accept-encoding, origin");
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

void mgmt_reply_json(struct mreq *r, int status, json_t *body)
{
	struct evbuffer *buf;

	if (r->gone || r->replied) {
		json_decref(body);
		return;
	}
	r->replied = true;
	buf = evbuffer_new();
	if (r->method != M_HEAD) /* HEAD: the status and headers a GET would get, no body */
		mgmt_dump(body, buf);
	json_decref(body);
	if (r->io != NULL) {
		r->io->reply(r, status, buf);
	} else {
		add_common_headers(r, true);
		evhttp_send_reply(r->req, status, status_text(status), buf);
		mreq_done(r);
	}
	evbuffer_free(buf);
}

void mgmt_reply_empty(struct mreq *r, int status)
{
	if (r->gone || r->replied)
		return;
	r->replied = true;
	if (r->io != NULL) {
		r->io->reply(r, status, NULL);
		return;
	}
	add_common_headers(r, false);
	evhttp_send_reply(r->req, status, status_text(status), NULL);
	mreq_done(r);
}

void mgmt_reply_buffer(struct mreq *r, int status, struct evbuffer *body)
{
	if (r->gone || r->replied)
		return;
	r->replied = true;
	if (r->method == M_HEAD && body != NULL)
		evbuffer_drain(body, evbuffer_get_length(body));
	evhttp_send_reply(r->req, status, status_text(status), body);
	mreq_done(r);
}

/*
 * A script's request (X-Requested-With: XMLHttpRequest, as the web UI and jQuery send): its
 * 401 has no WWW-Authenticate, so that the browser does not open its own login dialog over the
 * UI's login form.
 */
static bool from_script(struct mreq *r)
{
	const char *x = mgmt_header(r, "X-Requested-With");

	return x != NULL && strcasecmp(x, "XMLHttpRequest") == 0;
}

void mgmt_error(struct mreq *r, int status, const char *error, const char *fmt, ...)
{
	char reason[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (status == 401 && !from_script(r))
		mgmt_add_header(r, "WWW-Authenticate", "Basic realm=\"RabbitMQ Management\"");
	mgmt_reply_json(
	    r, status, json_pack("{s:s, s:s%}", "error", error, "reason", reason, strlen(reason)));
}

void mgmt_not_found(struct mreq *r)
{
	mgmt_error(r, 404, "Object Not Found", "Not Found");
}

void mgmt_amqp_error(struct mreq *r, int code, const char *text)
{
	if (code == AMQP_NOT_FOUND)
		mgmt_error(r, 404, "not_found", "%s", text);
	else if (code == AMQP_ACCESS_REFUSED)
		mgmt_error(r, 401, "not_authorised", "%s", text);
	else
		mgmt_error(r, 400, "bad_request", "%s", text);
}

static void stored_cb(struct persist_waiter *w, int status)
{
	struct mreq *r = (struct mreq *)((char *)w - offsetof(struct mreq, stored));

	json_t *body = r->stored_json;

	r->stored_json = NULL;
	if (status != 0) {
		json_decref(body);
		mgmt_error(
		    r, 500, "internal_server_error", "the store failed: %s", persist_last_error());
	} else if (body != NULL) {
		mgmt_reply_json(r, r->stored_code, body);
	} else {
		mgmt_reply_empty(r, r->stored_code);
	}
	mgmt_unref(r);
}

void mgmt_reply_json_after_store(struct mreq *r, int status, json_t *body)
{
	r->stored_code = status;
	r->stored_json = body;
	r->stored.done = stored_cb;
	r->refs++;
	if (!persist_wait(&r->stored)) {
		r->refs--;
		r->stored_json = NULL;
		if (body != NULL)
			mgmt_reply_json(r, status, body);
		else
			mgmt_reply_empty(r, status);
	}
}

void mgmt_reply_after_store(struct mreq *r, int status)
{
	mgmt_reply_json_after_store(r, status, NULL);
}

const char *mgmt_query(struct mreq *r, const char *key)
{
	return r->params != NULL ? evhttp_find_header(r->params, key) : NULL;
}

void mgmt_add_header(struct mreq *r, const char *name, const char *value)
{
	if (r->io == NULL && !r->gone && !r->replied)
		evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

const char *mgmt_header(struct mreq *r, const char *name)
{
	if (r->io != NULL)
		return r->io->header(r, name);
	return r->req != NULL ? evhttp_find_header(evhttp_request_get_input_headers(r->req), name)
	                      : NULL;
}

void mgmt_stream_start(struct mreq *r)
{
	r->replied = true;
	if (r->io != NULL) {
		r->io->stream_start(r);
		return;
	}
	add_common_headers(r, true);
	evhttp_send_reply_start(r->req, 200, "OK");
}

static void chunk_cb(struct evhttp_connection *evcon, void *arg)
{
	struct mreq *r = arg;
	void (*more)(struct mreq *) = r->more;

	r->more = NULL;
	if (!r->gone && more != NULL)
		more(r);
}

void mgmt_stream_chunk(struct mreq *r, struct evbuffer *buf, void (*more)(struct mreq *r))
{
	if (r->gone)
		return;
	if (evbuffer_get_length(buf) == 0) { /* nothing to wait for: go on now */
		more(r);
		return;
	}
	r->more = more;
	if (r->io != NULL)
		r->io->stream_chunk(r, buf);
	else
		evhttp_send_reply_chunk_with_cb(r->req, buf, chunk_cb, r);
}

void mgmt_stream_end(struct mreq *r)
{
	if (r->gone)
		return;
	if (r->io != NULL) {
		r->io->stream_end(r);
		return;
	}
	evhttp_send_reply_end(r->req);
	mreq_done(r);
}
