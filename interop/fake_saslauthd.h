/*
 * fake_saslauthd.h: a stand-in for saslauthd, for tests: a process listening on a unix socket that
 * speaks saslauthd's protocol (the client sends four counted strings, each a 2-byte big-endian
 * length and its bytes: login, password, service, realm; the server answers one counted string
 * that starts with "OK" or "NO") and checks passwords against a table the test gives it. Each
 * connection is served by a process of its own, so a held answer delays nobody else. Every
 * request is recorded in a log file as one line, "login<TAB>service<TAB>realm<TAB>answer"
 * (never the password), so a test can see what was asked.
 */
#ifndef WARREN_FAKE_SASLAUTHD_H
#define WARREN_FAKE_SASLAUTHD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* What the fake does for one login. */
enum fake_how {
	FAKE_CHECK,   /* "OK" for the password, "NO ..." for any other */
	FAKE_HOLD,    /* as FAKE_CHECK, but only after fake_saslauthd_release */
	FAKE_GARBAGE, /* an answer shorter than "OK": a protocol error */
	FAKE_HANG_UP, /* close without answering */
};

struct fake_user {
	const char *login, *password;
	enum fake_how how;
};

struct fake_saslauthd {
	pid_t pid;
	char path[108]; /* the socket */
	char log[160];  /* one line per request */
	int release_fd; /* write end: one byte lets one held answer go */
};

/*
 * Start the fake on path (a stale socket there is replaced), logging to log, with users (ended by
 * a NULL login; the array must outlive nothing: the fake's process has its own copy). It listens
 * before this returns. 0, or -1 with errno.
 */
int fake_saslauthd_start(
    struct fake_saslauthd *f, const char *path, const char *log, const struct fake_user *users);
/* Stop it (SIGTERM and wait): afterwards nothing answers on the socket. Safe to call twice. */
void fake_saslauthd_stop(struct fake_saslauthd *f);
/* Let one held answer (FAKE_HOLD) go. */
void fake_saslauthd_release(struct fake_saslauthd *f);
/* How many requests the log records, and how many of them for login. */
int fake_saslauthd_requests(const struct fake_saslauthd *f, const char *login);
/* The last logged request's line (static storage), or NULL. */
const char *fake_saslauthd_last(const struct fake_saslauthd *f);

#endif /* WARREN_FAKE_SASLAUTHD_H */
