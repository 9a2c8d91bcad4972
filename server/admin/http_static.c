/*
 * http_static.c: the web UI's files (server/admin/www/), served on the management listener at /
 * and under it, beside the API at /api/. The files are built into warrend (tools/embed-www.sh
 * turns them into the table mgmt_assets at build time), so serving one never touches the disk and
 * no request can name anything else: a path is looked up, exactly, among the table's names, and
 * whatever is not one of them (a "..", an encoded slash, a directory, a symlink's name) is 404.
 * Each answer has its Content-Type, an ETag (the file's checksum, so If-None-Match gets 304) with
 * Cache-Control: no-cache (the browser keeps the file and asks whether it changed), and headers
 * that keep the page from being framed or scripts from elsewhere from running in it.
 */
#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

/* Served for "/": the single page (its routes are after '#', which never reaches the server). */
#define INDEX_PATH "/index.html"

/* Scripts, styles and requests only from this origin; no inline script; never in a frame. */
#define UI_CSP                                                                            \
	"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "    \
	"frame-ancestors 'none'"

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* The Content-Type for a file name, by its extension. */
static const char *content_type(const char *name)
{
	const char *dot = strrchr(name, '.');
	size_t i;

	for (i = 0; dot != NULL && i < sizeof(content_types) / sizeof(content_types[0]); i++)
		if (strcmp(dot, content_types[i].ext) == 0)
			return content_types[i].type;
	return "application/octet-stream";
}

const struct mgmt_asset *mgmt_asset_find(const char *name)
{
	const struct mgmt_asset *a;

	for (a = mgmt_assets; a->name != NULL; a++)
		if (strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

/* Does an If-None-Match header (a list of ETags, or "*") name this one? */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t n = strlen(etag);
	const char *p;

	if (strcmp(inm, "*") == 0)
		return true;
	for (p = inm; (p = strstr(p, etag)) != NULL; p += n) {
		const char *end = p + n;
		/* a whole entry: the tag, possibly weak (W/), between commas or the ends */
		if (*end != '\0' && *end != ',' && *end != ' ')
			continue;
		return true;
	}
	return false;
}

void mgmt_static(struct mreq *r, const char *path)
{
	const struct mgmt_asset *a = NULL;
	struct evkeyvalq *out;
	struct evbuffer *body;
	const char *inm;
	size_t dlen;
	char *name;

	if (r->method != M_GET && r->method != M_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow", "GET, HEAD");
		mgmt_error(r, 405, "method_not_allowed", "the UI's files are read-only");
		return;
	}
	/* Decoded, as a browser may encode any byte; an encoded NUL matches no name. */
	name = evhttp_uridecode(path, 0, &dlen);
	if (name != NULL && strlen(name) == dlen)
		a = mgmt_asset_find(strcmp(name, "/") == 0 ? INDEX_PATH : name);
	free(name);
	if (a == NULL) {
		mgmt_not_found(r);
		return;
	}
	out = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(out, "Content-Type", content_type(a->name));
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "ETag", a->etag);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "Content-Security-Policy", UI_CSP);
	inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
	if (inm != NULL && etag_matches(inm, a->etag)) {
		mgmt_reply_buffer(r, 304, NULL);
		return;
	}
	if (r->method == M_HEAD) {
		/* evhttp sends whatever body it is given, even to HEAD: give none, say its length */
		char len[32];

		snprintf(len, sizeof(len), "%zu", a->len);
		evhttp_add_header(out, "Content-Length", len);
		mgmt_reply_buffer(r, 200, NULL);
		return;
	}
	body = evbuffer_new();
	evbuffer_add_reference(body, a->data, a->len, NULL, NULL); /* static: never copied */
	mgmt_reply_buffer(r, 200, body);
	evbuffer_free(body);
}
