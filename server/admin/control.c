/*
 * control.c: the control socket warrenctl(8) talks to: a unix stream socket (control_socket, by
 * default DATA_DIR/control.sock) made with mode 0600, which also refuses any peer that is neither
 * warrend's user nor root. A client sends one line holding a command; warrend answers "ok" or
 * "error" on a line of its own, then lines of detail, and closes. The commands are "reload"
 * (reload.c) and "api METHOD TARGET [NAME=VALUE...]", a management API request answered as the
 * operator (control_api.c; a "content-length=N" word says N bytes of body follow the line), and
 * "limit memory|disk BYTES" (memory_limit or disk_free_limit until a restart).
 * Everything a client does is bounded: a line may be CONTROL_LINE_MAX bytes and a body
 * CONTROL_BODY_MAX, a client may go CONTROL_TIMEOUT seconds without sending or taking anything,
 * and at most CONTROL_CLIENTS are served at once (more are closed at once); garbage gets an error
 * line, never a crash or a wait. docs/management.md describes the protocol.
 */
#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/admin/control.h"

#define CONTROL_LINE_MAX 4096
#define CONTROL_TIMEOUT 10
#define CONTROL_CLIENTS 8
#define CONTROL_WORDS 16

struct control_client {
	LIST_ENTRY(control_client) entry;
	struct bufferevent *bev;
	char *line;              /* an "api" command waiting for its body */
	size_t body_len;         /* ... of this many bytes */
	void *api;               /* the api request answering on this client (control_api.c) */
	void (*written)(void *); /* called once the output is written */
	void *written_arg;
	bool finishing; /* the answer is complete: close once written */
};

static struct {
	struct evconnlistener *listener;
	char *path;
	ino_t ino; /* the socket this process made: only that one is removed at exit */
	LIST_HEAD(, control_client) clients;
	unsigned nclients;
} ctl;

static void client_free(struct control_client *cl)
{
	void *api = cl->api;

	cl->api = NULL;
	if (api != NULL)
		control_api_gone(api);
	LIST_REMOVE(cl, entry);
	ctl.nclients--;
	bufferevent_free(cl->bev);
	free(cl->line);
	free(cl);
}

/* The output is written: go on with the answer, or close once it is complete. */
static void written_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;
	void (*fn)(void *) = cl->written;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (fn != NULL) {
		cl->written = NULL;
		fn(cl->written_arg);
	} else if (cl->finishing) {
		client_free(cl);
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	client_free(arg); /* EOF, an error or a timeout: the client is gone or too slow */
}

/* Stop reading (one command a connection) and write from now on. */
static void start_answer(struct control_client *cl)
{
	bufferevent_disable(cl->bev, EV_READ);
	bufferevent_setcb(cl->bev, NULL, written_cb, event_cb, cl);
	bufferevent_enable(cl->bev, EV_WRITE);
}

void control_write(struct control_client *cl, struct evbuffer *buf)
{
	evbuffer_add_buffer(bufferevent_get_output(cl->bev), buf);
}

void control_when_written(struct control_client *cl, void (*fn)(void *arg), void *arg)
{
	cl->written = fn;
	cl->written_arg = arg;
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0) {
		cl->written = NULL;
		fn(arg);
	}
}

void control_hold(struct control_client *cl, void *handle)
{
	cl->api = handle;
}

void control_finish(struct control_client *cl)
{
	cl->api = NULL;
	cl->written = NULL;
	cl->finishing = true;
	if (evbuffer_get_length(bufferevent_get_output(cl->bev)) == 0)
		client_free(cl);
}

/* Send "ok" or "error", the detail lines, and close once written. */
static void answer(struct control_client *cl, bool ok, struct evbuffer *detail)
{
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	evbuffer_add_printf(out, "%s\n", ok ? "ok" : "error");
	if (detail != NULL)
		evbuffer_add_buffer(out, detail);
	start_answer(cl);
	cl->finishing = true;
}

static void answer_text(struct control_client *cl, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void answer_text(struct control_client *cl, bool ok, const char *fmt, ...)
{
	struct evbuffer *b = evbuffer_new();
	va_list ap;

	va_start(ap, fmt);
	evbuffer_add_vprintf(b, fmt, ap);
	va_end(ap);
	evbuffer_add(b, "\n", 1);
	answer(cl, ok, b);
	evbuffer_free(b);
}

/* Decode %XX escapes in place: 0, or -1 for a malformed escape or a NUL byte. */
static int percent_decode(char *s)
{
	char *out = s, hex[3] = { 0 };

	for (; *s != '\0'; s++) {
		if (*s != '%') {
			*out++ = *s;
			continue;
		}
		if (!isxdigit((unsigned char)s[1]) || !isxdigit((unsigned char)s[2]))
			return -1;
		hex[0] = s[1];
		hex[1] = s[2];
		if ((*out++ = (char)strtol(hex, NULL, 16)) == '\0')
			return -1;
		s += 2;
	}
	*out = '\0';
	return 0;
}

/* Run "api ..." (line is the client's; its words are cut in place), with body or NULL. */
static void run_api(struct control_client *cl, char *line, struct evbuffer *body)
{
	char *words[CONTROL_WORDS], *save = NULL, *w;
	size_t n = 0;

	for (w = strtok_r(line, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		if (n == CONTROL_WORDS) {
			answer_text(cl, false, "too many words in the command");
			return;
		}
		/* METHOD and TARGET are passed as they are (TARGET is a URI); the rest decoded. */
		if (n >= 3 && percent_decode(w) != 0) {
			answer_text(
			    cl, false, "a malformed %% escape (or a NUL byte) in the command");
			return;
		}
		words[n++] = w;
	}
	if (n < 3) {
		answer_text(cl, false, "usage: api METHOD TARGET [NAME=VALUE...]");
		return;
	}
	start_answer(cl);
	control_api_run(cl, words, n, body);
}

/* The body length an api command announces ("content-length=N"): 0 if none, -1 if bad. */
static long body_length(const char *line)
{
	const char *p = strstr(line, " content-length=");
	char *end;
	long n;

	if (p == NULL)
		return 0;
	p += strlen(" content-length=");
	if (*p < '0' || *p > '9')
		return -1;
	n = strtol(p, &end, 10);
	if ((*end != ' ' && *end != '\0') || n < 0 || (unsigned long)n > CONTROL_BODY_MAX)
		return -1;
	return n;
}

/*
 * "limit memory N" or "limit disk N" (bytes): memory_limit or disk_free_limit changed until a
 * restart (warrenctl's set_vm_memory_high_watermark and set_disk_free_limit). The answer says the
 * limit and whether its alarm is raised now.
 */
static void run_limit(struct control_client *cl, const char *args)
{
	bool memory = strncmp(args, "memory ", 7) == 0, disk = strncmp(args, "disk ", 5) == 0;
	const char *p = args + (memory ? 7 : 5);
	unsigned long long n;
	char *end;

	errno = 0;
	if ((!memory && !disk) || !isdigit((unsigned char)*p) ||
	    ((n = strtoull(p, &end, 10)), errno != 0 || *end != '\0')) {
		answer_text(cl, false, "usage: limit memory|disk BYTES");
		return;
	}
	log_info("control socket: limit %s %llu", memory ? "memory" : "disk", n);
	if (memory)
		broker_set_mem_limit(n);
	else
		broker_set_disk_free_limit(n);
	answer_text(cl, true, "%s %llu %s", memory ? "memory_limit" : "disk_free_limit", n,
	    (broker.alarms & (memory ? ALARM_MEMORY : ALARM_DISK)) ? "alarm" : "clear");
}

/* Run one command line (without its newline). */
static void run(struct control_client *cl, const char *line, size_t len)
{
	struct evbuffer *detail;
	char shown[65];
	size_t i;
	long blen;
	int r;

	if (len == 6 && memcmp(line, "reload", 6) == 0) {
		if (broker.stopping) {
			answer_text(cl, false, "warrend is shutting down");
			return;
		}
		log_info("control socket: reload");
		detail = evbuffer_new();
		r = reload_run(detail);
		answer(cl, r == 0, detail);
		evbuffer_free(detail);
		return;
	}
	if (len >= 6 && memcmp(line, "limit ", 6) == 0) {
		run_limit(cl, line + 6);
		return;
	}
	if (len >= 4 && memcmp(line, "api ", 4) == 0) {
		if ((blen = body_length(line)) < 0) {
			answer_text(cl, false, "content-length must be 0 to %u", CONTROL_BODY_MAX);
			return;
		}
		cl->line = xstrndup(line, len);
		if (blen == 0) {
			run_api(cl, cl->line, NULL);
			return;
		}
		/* Read the body: the read callback runs once it is all in (and reads no further). */
		cl->body_len = (size_t)blen;
		bufferevent_setwatermark(cl->bev, EV_READ, cl->body_len, cl->body_len);
		return;
	}
	for (i = 0; i < len && i + 1 < sizeof(shown); i++)
		shown[i] = line[i] >= 0x20 && line[i] < 0x7f ? line[i] : '?';
	shown[i] = '\0';
	log_warn("control socket: unknown command '%s'", shown);
	detail = evbuffer_new();
	evbuffer_add_printf(detail, "unknown command '%s%s' (the commands are: reload, api)\n",
	    shown, i < len ? "..." : "");
	answer(cl, false, detail);
	evbuffer_free(detail);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;
	struct evbuffer *in = bufferevent_get_input(bev), *body;
	struct evbuffer_ptr eol;
	char line[CONTROL_LINE_MAX + 1];
	size_t len;

	if (cl->line != NULL) { /* an api command's body */
		if (evbuffer_get_length(in) < cl->body_len)
			return;
		body = evbuffer_new();
		evbuffer_remove_buffer(in, body, cl->body_len);
		run_api(cl, cl->line, body);
		evbuffer_free(body);
		return;
	}
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		/* No newline yet: wait, unless the line is already too long. */
		if (evbuffer_get_length(in) > CONTROL_LINE_MAX)
			answer_text(cl, false, "line too long");
		return;
	}
	if ((size_t)eol.pos > CONTROL_LINE_MAX) {
		answer_text(cl, false, "line too long");
		return;
	}
	len = (size_t)eol.pos;
	evbuffer_remove(in, line, len);
	evbuffer_drain(in, 1); /* the newline */
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (memchr(line, '\0', len) != NULL) {
		answer_text(cl, false, "a NUL byte in the command");
		return;
	}
	run(cl, line, len); /* one command per connection */
	if (cl->line != NULL && cl->body_len > 0 && evbuffer_get_length(in) >= cl->body_len)
		read_cb(bev, cl); /* the body came with the line */
}

/* Whether the peer is this process's user or root. */
static bool peer_allowed(int fd)
{
#ifdef SO_PEERCRED
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
#else
	uid_t uid;
	gid_t gid;

	if (getpeereid(fd, &uid, &gid) != 0)
		return false;
	return uid == 0 || uid == geteuid();
#endif
}

static void accept_cb(
    struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct timeval tv = { CONTROL_TIMEOUT, 0 };
	struct control_client *cl;
	struct bufferevent *bev;

	if (ctl.nclients >= CONTROL_CLIENTS || !peer_allowed(fd)) {
		log_warn("control socket: a client refused (%s)",
		    ctl.nclients >= CONTROL_CLIENTS ? "too many at once" : "not warrend's user");
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_socket_new(broker.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		evutil_closesocket(fd);
		return;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->bev = bev;
	LIST_INSERT_HEAD(&ctl.clients, cl, entry);
	ctl.nclients++;
	/* Stop reading past one line's worth: a client cannot make warrend buffer more. */
	bufferevent_setwatermark(bev, EV_READ, 0, CONTROL_LINE_MAX + 2);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setcb(bev, read_cb, NULL, event_cb, cl);
	bufferevent_enable(bev, EV_READ);
}

int control_open(struct event_base *base, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask;
	bool bound = false;
	int fd = -1, probe, r;

	LIST_INIT(&ctl.clients);
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: longer than a unix socket path may be", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket", path);
			return -1;
		}
		/* A socket someone answers on belongs to a running broker; else it is stale. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = probe >= 0 ? connect(probe, (struct sockaddr *)&sa, sizeof(sa)) : -1;
		if (probe >= 0)
			close(probe);
		if (r == 0) {
			snprintf(err, errlen, "%s: another warrend answers on it", path);
			return -1;
		}
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		goto fail;
	mask = umask(0177); /* the socket is born 0600: no moment when others may connect */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(mask);
	if (r != 0)
		goto fail;
	bound = true;
	if (chmod(path, 0600) != 0 || lstat(path, &st) != 0 || listen(fd, 16) != 0)
		goto fail;
	ctl.ino = st.st_ino;
	ctl.listener = evconnlistener_new(base, accept_cb, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (ctl.listener == NULL)
		goto fail;
	ctl.path = xstrdup(path);
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (bound)
		unlink(path);
	return -1;
}

void control_close(void)
{
	struct stat st;

	while (!LIST_EMPTY(&ctl.clients))
		client_free(LIST_FIRST(&ctl.clients));
	if (ctl.listener != NULL)
		evconnlistener_free(ctl.listener);
	ctl.listener = NULL;
	if (ctl.path != NULL && lstat(ctl.path, &st) == 0 && st.st_ino == ctl.ino)
		unlink(ctl.path);
	free(ctl.path);
	ctl.path = NULL;
}
