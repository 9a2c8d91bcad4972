/*
 * fake_saslauthd.c: the stand-in for saslauthd described in fake_saslauthd.h. The listening
 * process forks a child for each connection; the child reads the four counted strings (bounded:
 * a request larger than saslauthd's own 8 KiB limit, or slower than five seconds, is dropped),
 * logs the request, answers and exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/fake_saslauthd.h"

#define FIELD_MAX 8192
#define READ_TIMEOUT_MS 5000

/* Read exactly n bytes within the bound: 0, or -1. */
static int read_full(int fd, uint8_t *p, size_t n)
{
	size_t have = 0;
	ssize_t r;

	while (have < n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };

		if (poll(&pf, 1, READ_TIMEOUT_MS) <= 0)
			return -1;
		r = read(fd, p + have, n - have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	return 0;
}

/* One counted string into buf (NUL-terminated): its length, or -1. */
static int read_counted(int fd, char *buf, size_t cap)
{
	uint8_t len[2];
	size_t n;

	if (read_full(fd, len, 2) != 0)
		return -1;
	n = (size_t)len[0] << 8 | len[1];
	if (n >= cap || read_full(fd, (uint8_t *)buf, n) != 0)
		return -1;
	buf[n] = '\0';
	return (int)n;
}

static void write_counted(int fd, const char *s, size_t n)
{
	uint8_t out[2 + 256];

	out[0] = (uint8_t)(n >> 8);
	out[1] = (uint8_t)n;
	memcpy(out + 2, s, n);
	if (write(fd, out, n + 2) < 0)
		return;
}

/* Serve one connection (in its own process). */
static void serve(int fd, const struct fake_user *users, const char *log, int release_fd)
{
	static char login[FIELD_MAX], password[FIELD_MAX], service[FIELD_MAX], realm[FIELD_MAX];
	const struct fake_user *u;
	const char *answer;
	char line[FIELD_MAX + 600], byte;
	int logfd, n;

	if (read_counted(fd, login, sizeof(login)) < 0 ||
	    read_counted(fd, password, sizeof(password)) < 0 ||
	    read_counted(fd, service, sizeof(service)) < 0 ||
	    read_counted(fd, realm, sizeof(realm)) < 0)
		return;
	for (u = users; u->login != NULL && strcmp(u->login, login) != 0; u++)
		;
	if (u->login == NULL)
		answer = "NO unknown user";
	else if (strcmp(u->password, password) != 0)
		answer = "NO authentication failed";
	else
		answer = "OK";
	if (u->login != NULL && u->how == FAKE_GARBAGE)
		answer = "?";
	else if (u->login != NULL && u->how == FAKE_HANG_UP)
		answer = "(hung up)";
	n = snprintf(line, sizeof(line), "%s\t%s\t%s\t%s\n", login, service, realm, answer);
	if ((logfd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600)) >= 0) {
		if (write(logfd, line, (size_t)n) < 0)
			n = -1;
		close(logfd);
	}
	if (u->login != NULL && u->how == FAKE_HOLD && read(release_fd, &byte, 1) != 1)
		return;
	if (u->login != NULL && u->how == FAKE_HANG_UP)
		return;
	write_counted(fd, answer, strlen(answer));
}

static void listen_loop(int lfd, const struct fake_user *users, const char *log, int release_fd)
{
	int fd;

	signal(SIGCHLD, SIG_IGN); /* children reap themselves */
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (fork() == 0) {
			close(lfd);
			serve(fd, users, log, release_fd);
			_exit(0);
		}
		close(fd);
	}
}

int fake_saslauthd_start(
    struct fake_saslauthd *f, const char *path, const char *log, const struct fake_user *users)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	sigset_t term, old;
	int lfd, pfd[2];
	pid_t pid;

	memset(f, 0, sizeof(*f));
	f->release_fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path) || strlen(log) >= sizeof(f->log)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(f->log, sizeof(f->log), "%s", log);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	/* Close-on-exec: a warrend started later must not keep the socket or the pipe open. */
	if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 64) != 0 ||
	    pipe2(pfd, O_CLOEXEC) != 0) {
		close(lfd);
		return -1;
	}
	/*
	 * SIGTERM stops the fake, so it must not run a handler it inherited (Check's kills the
	 * whole process group): blocked across the fork, reset in the child, then let in.
	 */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	if ((pid = fork()) == 0) {
		signal(SIGTERM, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(pfd[1]);
		listen_loop(lfd, users, log, pfd[0]);
		_exit(0);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		close(lfd);
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	close(lfd);
	close(pfd[0]);
	f->pid = pid;
	f->release_fd = pfd[1];
	return 0;
}

void fake_saslauthd_stop(struct fake_saslauthd *f)
{
	int status;

	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		while (waitpid(f->pid, &status, 0) < 0 && errno == EINTR)
			;
		f->pid = 0;
	}
	if (f->release_fd >= 0)
		close(f->release_fd); /* held children read EOF and exit */
	f->release_fd = -1;
}

void fake_saslauthd_release(struct fake_saslauthd *f)
{
	if (write(f->release_fd, "x", 1) != 1)
		return;
}

int fake_saslauthd_requests(const struct fake_saslauthd *f, const char *login)
{
	FILE *fp = fopen(f->log, "r");
	char line[FIELD_MAX + 600];
	size_t n = login != NULL ? strlen(login) : 0;
	int count = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (login == NULL || (strncmp(line, login, n) == 0 && line[n] == '\t'))
			count++;
	fclose(fp);
	return count;
}

const char *fake_saslauthd_last(const struct fake_saslauthd *f)
{
	static char line[FIELD_MAX + 600];
	FILE *fp = fopen(f->log, "r");
	bool any = false;

	if (fp == NULL)
		return NULL;
	while (fgets(line, sizeof(line), fp) != NULL)
		any = true;
	fclose(fp);
	return any ? line : NULL;
}
