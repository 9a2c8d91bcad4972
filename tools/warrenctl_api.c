/*
 * warrenctl_api.c: warrenctl's side of the control socket's "api" command: a management API
 * request sent as one line (and a body), and its answer read line by line: the status line
 * ("ok 200", "error 404"), the body (a JSON document, or a list one object a line) and the end
 * line ("."), each wait bounded by the timeout, each line by ANSWER_LINE_MAX.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/warrenctl.h"

#define ANSWER_LINE_MAX (64u << 20) /* the longest answer line: a definitions document */

/* ---- Talking to warrend ---- */

/* Percent-encode s for a path segment, a query value or a control-line word. */
const char *api_enc(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s != '\0' && n + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return out;
}

static int write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read more bytes (waiting at most the timeout): 1, 0 at EOF, -1 on an error (printed). */
static int fill(struct api_answer *a)
{
	struct pollfd p = { .fd = a->fd, .events = POLLIN };
	ssize_t n;
	int r;

	if (a->start > 0) {
		memmove(a->buf, a->buf + a->start, a->len - a->start);
		a->len -= a->start;
		a->start = 0;
	}
	if (a->len == a->cap) {
		if (a->cap >= ANSWER_LINE_MAX + 2) {
			fprintf(stderr, "warrenctl: an answer line longer than %u bytes\n",
			    ANSWER_LINE_MAX);
			return -1;
		}
		a->cap = a->cap * 2 < ANSWER_LINE_MAX + 2 ? a->cap * 2 : ANSWER_LINE_MAX + 2;
		if ((a->buf = realloc(a->buf, a->cap)) == NULL) {
			fprintf(stderr, "warrenctl: out of memory\n");
			exit(EXIT_FAILURE);
		}
	}
	while ((r = poll(&p, 1, a->timeout * 1000)) < 0 && errno == EINTR)
		;
	if (r == 0) {
		fprintf(stderr, "warrenctl: no answer from warrend within %d s\n", a->timeout);
		return -1;
	}
	while ((n = read(a->fd, a->buf + a->len, a->cap - a->len)) < 0 && errno == EINTR)
		;
	if (n < 0) {
		fprintf(stderr, "warrenctl: reading the control socket: %s\n", strerror(errno));
		return -1;
	}
	a->len += (size_t)n;
	return n > 0;
}

/* The next line of the answer (NUL-terminated, valid until the next call), or NULL (printed). */
char *api_line(struct api_answer *a)
{
	char *nl;
	int r;

	for (;;) {
		nl = memchr(a->buf + a->start, '\n', a->len - a->start);
		if (nl != NULL) {
			char *line = a->buf + a->start;
			*nl = '\0';
			a->start = (size_t)(nl - a->buf) + 1;
			return line;
		}
		if ((r = fill(a)) <= 0) {
			if (r == 0)
				fprintf(stderr,
				    "warrenctl: warrend closed the control socket before "
				    "the end of its answer\n");
			return NULL;
		}
	}
}

void api_close(struct api_answer *a)
{
	if (a->fd >= 0)
		close(a->fd);
	free(a->buf);
	a->fd = -1;
	a->buf = NULL;
}

void api_answer_init(struct ctl_opts *o, struct api_answer *a)
{
	*a = (struct api_answer){ .fd = -1, .timeout = o->timeout, .cap = 65536 };
	if ((a->buf = malloc(a->cap)) == NULL) {
		fprintf(stderr, "warrenctl: out of memory\n");
		exit(EXIT_FAILURE);
	}
}

/* Connect to o->path and send line (with its newline) and body (if not NULL): 0, or -1 (printed). */
int ctl_send(struct ctl_opts *o, struct api_answer *a, const char *line, size_t n, const char *body,
    size_t blen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memcpy(sa.sun_path, o->path, strlen(o->path) + 1);
	if ((a->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(a->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "warrenctl: cannot connect to %s: %s (is warrend running?)\n",
		    o->path, strerror(errno));
		return -1;
	}
	if (write_all(a->fd, line, n) != 0 || (body != NULL && write_all(a->fd, body, blen) != 0)) {
		fprintf(stderr, "warrenctl: %s: %s\n", o->path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Send "api METHOD TARGET [HEADER...]" (and body) and read the status line: 0 with a->status
 * set, or -1 (printed). header is one NAME=VALUE word or NULL.
 */
int api_request(struct ctl_opts *o, struct api_answer *a, const char *method, const char *target,
    const char *header, const char *body, size_t blen)
{
	char line[4200], *st;
	int n;

	api_answer_init(o, a);
	n = snprintf(line, sizeof(line), "api %s %s%s%s", method, target, header ? " " : "",
	    header ? header : "");
	if (body != NULL)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " content-length=%zu", blen);
	if ((size_t)n + 1 >= sizeof(line)) {
		fprintf(stderr, "warrenctl: the names are too long for a request\n");
		return -1;
	}
	line[n++] = '\n';
	if (ctl_send(o, a, line, (size_t)n, body, blen) != 0 || (st = api_line(a)) == NULL)
		return -1;
	if ((strncmp(st, "ok ", 3) != 0 && strncmp(st, "error ", 6) != 0) ||
	    (a->status = atoi(strchr(st, ' ') + 1)) < 100) {
		/* an older warrend, or a refusal of the command line itself */
		fprintf(stderr, "warrenctl: warrend refused the request: %.200s", st);
		if (strcmp(st, "error") == 0 && (st = api_line(a)) != NULL)
			fprintf(stderr, ": %.200s", st);
		fputc('\n', stderr);
		return -1;
	}
	return 0;
}

/* Read the one JSON document of an answer and its end line: the document, or NULL (printed). */
json_t *api_json(struct api_answer *a)
{
	json_error_t jerr;
	json_t *j;
	char *line;

	if ((line = api_line(a)) == NULL)
		return NULL;
	if (strcmp(line, ".") == 0)
		return json_object(); /* an empty answer (204) */
	if ((j = json_loads(line, 0, &jerr)) == NULL) {
		fprintf(stderr, "warrenctl: warrend's answer is not JSON: %s\n", jerr.text);
		return NULL;
	}
	if ((line = api_line(a)) == NULL || strcmp(line, ".") != 0) {
		json_decref(j);
		if (line != NULL)
			fprintf(stderr, "warrenctl: warrend's answer went on after its document\n");
		return NULL;
	}
	return j;
}

/* Print an error answer's reason as rabbitmqctl does: EXIT_FAILURE. */
int api_error(struct api_answer *a, const char *what)
{
	json_t *j = api_json(a);
	const char *reason = j != NULL ? json_string_value(json_object_get(j, "reason")) : NULL;

	fprintf(stderr, "Error:\n%s\n", what != NULL ? what : reason != NULL ? reason : "failed");
	json_decref(j);
	return EXIT_FAILURE;
}

/* GET target's document: 0 with *out, or EXIT_FAILURE (printed). */
int api_get_json(struct ctl_opts *o, const char *target, json_t **out)
{
	struct api_answer a;
	int r = EXIT_FAILURE;

	*out = NULL;
	if (api_request(o, &a, "GET", target, NULL, NULL, 0) != 0)
		goto out;
	if (a.status >= 400) {
		r = api_error(&a, NULL);
		goto out;
	}
	if ((*out = api_json(&a)) != NULL)
		r = 0;
out:
	api_close(&a);
	return r;
}

/*
 * A PUT or DELETE (body NULL: none) of target: 0 once warrend answers with a document, or
 * EXIT_FAILURE (printed: "Error:" and not_found on a 404 if it is not NULL, else the reason).
 */
int api_change(struct ctl_opts *o, const char *method, const char *target, const char *body,
    const char *not_found)
{
	struct api_answer a;
	json_t *j;
	int r = EXIT_FAILURE;

	if (api_request(o, &a, method, target, NULL, body, body != NULL ? strlen(body) : 0) != 0)
		goto out;
	if (a.status == 404 && not_found != NULL)
		fprintf(stderr, "Error:\n%s\n", not_found);
	else if (a.status >= 400)
		api_error(&a, NULL);
	else if ((j = api_json(&a)) != NULL) {
		json_decref(j);
		r = 0;
	}
out:
	api_close(&a);
	return r;
}

/* Whether /api/{kind}/{name} exists ("vhosts", "users": a GET of it answers 200). */
bool api_exists(struct ctl_opts *o, const char *kind, const char *name)
{
	char target[NAME_ENC_MAX + 64], e[NAME_ENC_MAX];
	struct api_answer a;
	bool yes;

	snprintf(
	    target, sizeof(target), "/api/%s/%s?columns=name", kind, api_enc(name, e, sizeof(e)));
	yes = api_request(o, &a, "GET", target, NULL, NULL, 0) == 0 && a.status == 200;
	api_close(&a);
	return yes;
}

/* The node's name as warrend gives it: 0, or EXIT_FAILURE (printed). */
int api_node_name(struct ctl_opts *o, char *out, size_t cap)
{
	json_t *ov = NULL;
	const char *n;
	int r = api_get_json(o, "/api/overview?columns=node", &ov);

	if (r == 0 && (n = json_string_value(json_object_get(ov, "node"))) != NULL)
		snprintf(out, cap, "%s", n);
	json_decref(ov);
	return r;
}
