/*
 * harness.c: the broker under test (a private warrend, or WARREN_TEST_BROKER), unique names,
 * clocks, reply-text checks and the Check runner shared by the interop programs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "interop/harness.h"

#ifndef WARREND_PATH
#error "build with -DWARREND_PATH='\"/path/to/warrend\"'"
#endif

#define READY_TIMEOUT_MS 10000 /* warrend opens its store and binds well within this */
#define STOP_TIMEOUT_MS 10000
#define LOG_TAIL_LINES 60

struct broker broker;

static SRunner *runner;
static int failed_before_group; /* failures counted when the running group started */
static bool broker_failed;      /* a group's warrend did not exit 0 on SIGTERM */
static char run_id[16];         /* distinguishes this run's names from earlier runs' */

bool broker_is_oracle(void)
{
	const char *o = getenv("WARREN_TEST_ORACLE");

	return broker.pid == 0 && (o == NULL || strcmp(o, "0") != 0);
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The ring of static buffers behind uniq() and fmt(). */
static char *ring_next(void)
{
	static char ring[64][256];
	static unsigned at;

	return ring[at++ % 64];
}

const char *fmt(const char *f, ...)
{
	char *s = ring_next();
	va_list ap;

	va_start(ap, f);
	vsnprintf(s, 256, f, ap);
	va_end(ap);
	return s;
}

const char *uniq(const char *what)
{
	static unsigned counter;

	return fmt("%s-%s-%ld-%u", what, run_id, (long)getpid(), ++counter);
}

void harness_skip(const char *test, const char *why)
{
	fprintf(stderr, "skip: %s: %s\n", test, why);
}

void check_reply(
    const char *what, int code, const void *text, size_t len, int want_code, const char *want_text)
{
	const char *name = amqp_reply_name(want_code);
	size_t n = strlen(name);
	const char *t = text;

	ck_assert_msg(code == want_code, "%s: reply code %d, expected %d (reply-text \"%.*s\")",
	    what, code, want_code, (int)len, t);
	ck_assert_msg(len >= n && memcmp(t, name, n) == 0 &&
	        (len == n || (len >= n + 3 && memcmp(t + n, " - ", 3) == 0)),
	    "%s: reply-text \"%.*s\" does not start with \"%s - \"", what, (int)len, t, name);
	if (want_text == NULL)
		return;
	n = strlen(want_text);
	if (n > 0 && want_text[n - 1] == '*')
		ck_assert_msg(len >= n - 1 && memcmp(t, want_text, n - 1) == 0,
		    "%s: reply-text \"%.*s\" does not start with \"%.*s\"", what, (int)len, t,
		    (int)(n - 1), want_text);
	else
		ck_assert_msg(len == n && memcmp(t, want_text, n) == 0,
		    "%s: reply-text \"%.*s\", expected \"%s\"", what, (int)len, t, want_text);
}

/*
 * Read warrend's ready lines ("ADDR:PORT\n") from fd until it closes it, by deadline (now_ms()
 * time). 0, -1 on failure, 1 at the deadline.
 */
static int read_ready(int fd, struct broker *b, int64_t deadline, char *err, size_t errlen)
{
	char buf[1024], *line, *save = NULL, *colon, *sp;
	size_t have = 0;

	/*
	 * One "ADDR:PORT" line per listener ("ADDR:PORT amqps" for TLS, "... http", "...
	 * prometheus"), then EOF.
	 */
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0) {
			snprintf(err, errlen, "no ready line from warrend within %d ms",
			    READY_TIMEOUT_MS);
			return 1;
		}
		if (poll(&p, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (have += (size_t)n) == sizeof(buf) - 1)
			break;
	}
	buf[have] = '\0';
	b->port = b->tls_port = b->http_port = b->prom_port = 0;
	for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		bool tls = (sp = strchr(line, ' ')) != NULL && strcmp(sp, " amqps") == 0;
		bool http = sp != NULL && strcmp(sp, " http") == 0;
		bool prom = sp != NULL && strcmp(sp, " prometheus") == 0;
		if (sp != NULL)
			*sp = '\0';
		if ((colon = strrchr(line, ':')) == NULL ||
		    (size_t)(colon - line) >= sizeof(b->host) || atoi(colon + 1) <= 0 ||
		    atoi(colon + 1) > 65535) {
			snprintf(err, errlen, "bad ready line \"%s\"", line);
			return -1;
		}
		*colon = '\0';
		if (http) {
			b->http_port = atoi(colon + 1);
		} else if (prom) {
			b->prom_port = atoi(colon + 1);
		} else if (tls) {
			b->tls_port = atoi(colon + 1);
		} else if (b->port == 0) {
			memcpy(b->host, line, (size_t)(colon - line) + 1); /* fits: checked above */
			b->port = atoi(colon + 1);
		}
	}
	if (b->port == 0) {
		snprintf(err, errlen, "warrend closed its ready fd without an address");
		return -1;
	}
	return 0;
}

/* Whether the configuration file at path mentions key. */
static bool conf_sets(const char *path, const char *key)
{
	char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, key) != NULL;
}

/*
 * Start warrend on b's directory (its data, config and log) and wait for its ready line, until
 * deadline at the latest (0: the usual bound). 0 once ready, 1 if it is still starting at an
 * earlier deadline than the usual bound (left running), -1 on failure (it is stopped).
 */
static int broker_exec(
    struct broker *b, bool truncate_log, int64_t deadline, char *err, size_t errlen)
{
	char conf[200], fdarg[16];
	const char *argv[20]; /* the command line, NULL-terminated */
	size_t argc = 0;
	int pfd[2] = { -1, -1 }, status, ret = -1, r;
	int64_t bound = now_ms() + READY_TIMEOUT_MS;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/warren.conf", b->dir);
	argv[argc++] = "warrend";
	argv[argc++] = "--config";
	argv[argc++] = conf;
	argv[argc++] = "--listen";
	argv[argc++] = "127.0.0.1:0";
	/* A warren.conf that sets a listener (to none, or a port) decides; else port 0. */
	if (!conf_sets(conf, "management_listen")) {
		argv[argc++] = "--management-listen";
		argv[argc++] = "127.0.0.1:0";
	}
	if (!conf_sets(conf, "prometheus_listen")) {
		argv[argc++] = "--prometheus-listen";
		argv[argc++] = "127.0.0.1:0";
	}
	argv[argc++] = "--data-dir";
	argv[argc++] = b->data;
	argv[argc++] = "--log-level";
	argv[argc++] = "debug";
	argv[argc++] = "--ready-fd";
	argv[argc++] = fdarg;
	argv[argc] = NULL;
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int logfd =
		    open(b->log, O_WRONLY | O_CREAT | (truncate_log ? O_TRUNC : O_APPEND), 0600);
		int nullfd = open("/dev/null", O_RDONLY);
		int ready = dup(pfd[1]); /* dup clears close-on-exec */

		if (logfd < 0 || nullfd < 0 || ready < 0)
			_exit(126);
		/* A test process that dies of a failed check takes its warrend with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(nullfd, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		snprintf(fdarg, sizeof(fdarg), "%d", ready);
		execv(WARREND_PATH, (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", WARREND_PATH, strerror(errno));
		_exit(127);
	}
	b->pid = pid;
	close(pfd[1]);
	pfd[1] = -1;
	r = read_ready(
	    pfd[0], b, deadline != 0 && deadline < bound ? deadline : bound, err, errlen);
	if (r == 1 && deadline != 0 && deadline < bound) {
		ret = 1;
		goto out;
	}
	if (r != 0) {
		broker_terminate(b, 1000, &status);
		goto out;
	}
	ret = 0;
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	return ret;
}

int broker_prepare(struct broker *b, const char *config, char *err, size_t errlen)
{
	char tmpl[] = "/tmp/warren-interop-XXXXXX", conf[200];
	FILE *f;

	memset(b, 0, sizeof(*b));
	if (mkdtemp(tmpl) == NULL) {
		snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	snprintf(b->dir, sizeof(b->dir), "%s", tmpl);
	snprintf(b->log, sizeof(b->log), "%s/warrend.log", tmpl);
	snprintf(b->data, sizeof(b->data), "%s/data", tmpl);
	if (mkdir(b->data, 0700) != 0) {
		snprintf(err, errlen, "mkdir %s: %s", b->data, strerror(errno));
		return -1;
	}
	snprintf(conf, sizeof(conf), "%s/warren.conf", tmpl);
	if ((f = fopen(conf, "w")) == NULL || fputs(config != NULL ? config : "", f) < 0 ||
	    fclose(f) != 0) {
		snprintf(err, errlen, "%s: %s", conf, strerror(errno));
		return -1;
	}
	return 0;
}

int broker_spawn_config(struct broker *b, const char *config, char *err, size_t errlen)
{
	if (broker_prepare(b, config, err, errlen) != 0)
		return -1;
	return broker_exec(b, true, 0, err, errlen);
}

int broker_spawn(struct broker *b, char *err, size_t errlen)
{
	return broker_spawn_config(b, NULL, err, errlen);
}

int broker_respawn(struct broker *b, char *err, size_t errlen)
{
	b->pid = 0;
	return broker_exec(b, false, 0, err, errlen);
}

int broker_respawn_until(struct broker *b, int64_t deadline_ms, char *err, size_t errlen)
{
	b->pid = 0;
	return broker_exec(b, false, deadline_ms, err, errlen);
}

/* Wait for the broker to exit within timeout_ms: a pidfd when the kernel has them, else polling. */
static int wait_exit(pid_t pid, int timeout_ms, int *status)
{
	int64_t deadline = now_ms() + timeout_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int ret = -1;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		int64_t left = deadline - now_ms();

		if (r == pid) {
			ret = 0;
			break;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (left <= 0)
			break;
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			poll(&p, 1, (int)left);
		} else {
			sleep_ms(left < 10 ? (int)left : 10);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return ret;
}

int broker_wait(struct broker *b, int timeout_ms, int *status)
{
	*status = 0;
	if (b->pid <= 0)
		return 0;
	if (wait_exit(b->pid, timeout_ms, status) != 0)
		return -1;
	b->pid = 0;
	return 0;
}

int broker_terminate(struct broker *b, int timeout_ms, int *status)
{
	*status = 0;
	if (b->pid <= 0)
		return 0;
	kill(b->pid, SIGTERM);
	if (broker_wait(b, timeout_ms, status) == 0)
		return 0;
	kill(b->pid, SIGKILL);
	broker_wait(b, 1000, status);
	b->pid = 0;
	return -1;
}

/* Remove a directory tree at most two levels deep (the broker's dir and its data/). */
static void remove_tree(const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char sub[512];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
			remove_tree(sub, depth - 1);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

void broker_cleanup(struct broker *b)
{
	if (b->dir[0] != '\0')
		remove_tree(b->dir, 2);
	b->dir[0] = '\0';
}

void broker_print_log(const struct broker *b, int lines)
{
	FILE *f = fopen(b->log, "r");
	char line[1024];
	long *starts;
	long n = 0, i;

	if (f == NULL)
		return;
	starts = calloc((size_t)lines, sizeof(*starts));
	if (starts == NULL) {
		fclose(f);
		return;
	}
	/* Remember where each of the last `lines` lines starts, then print from the oldest. */
	for (;;) {
		long at = ftell(f);

		if (fgets(line, sizeof(line), f) == NULL)
			break;
		starts[n++ % lines] = at;
	}
	fprintf(stderr, "---- last lines of %s ----\n", b->log);
	if (n > 0) {
		fseek(f, starts[n > lines ? n % lines : 0], SEEK_SET);
		for (i = 0; i < lines && fgets(line, sizeof(line), f) != NULL; i++)
			fputs(line, stderr);
	}
	fprintf(stderr, "---- end of %s ----\n", b->log);
	free(starts);
	fclose(f);
}

long broker_log_size(const struct broker *b)
{
	struct stat st;

	return stat(b->log, &st) == 0 ? (long)st.st_size : 0;
}

int broker_log_count(const struct broker *b, const char *needle)
{
	FILE *f = fopen(b->log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* True if a line of warrend's log reports an error: its level, Berkeley DB, or a sanitizer. */
static bool log_line_is_error(const char *line)
{
	const char *sp = strchr(line, ' ');

	return (sp != NULL && strncmp(sp, " error ", 7) == 0) ||
	    strncmp(line, "warrend: berkeley db:", 21) == 0 ||
	    strstr(line, "runtime error:") != NULL ||
	    strstr(line, "ERROR: AddressSanitizer") != NULL;
}

void broker_check_log(const struct broker *b, long from, const char *const *expected)
{
	FILE *f = fopen(b->log, "r");
	char line[1024];
	size_t i;

	ck_assert_msg(f != NULL, "%s: %s", b->log, strerror(errno));
	fseek(f, from, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL) {
		bool known = false;

		if (!log_line_is_error(line))
			continue;
		for (i = 0; expected != NULL && expected[i] != NULL && !known; i++)
			known = strstr(line, expected[i]) != NULL;
		if (known)
			continue;
		line[strcspn(line, "\n")] = '\0';
		fclose(f);
		broker_print_log(b, LOG_TAIL_LINES);
		ck_abort_msg("warrend logged an error: %s", line);
	}
	fclose(f);
}

/* Unchecked fixture, in the parent: start the group's broker (or take WARREN_TEST_BROKER). */
static void broker_start(void)
{
	const char *ext = getenv("WARREN_TEST_BROKER");
	char err[256];

	failed_before_group = runner != NULL ? srunner_ntests_failed(runner) : 0;
	memset(&broker, 0, sizeof(broker));
	if (ext != NULL && *ext != '\0') {
		const char *colon = strrchr(ext, ':');

		ck_assert_msg(
		    colon != NULL && colon != ext && (size_t)(colon - ext) < sizeof(broker.host),
		    "WARREN_TEST_BROKER=%s is not host:port", ext);
		memcpy(broker.host, ext, (size_t)(colon - ext));
		broker.port = atoi(colon + 1);
		ck_assert_msg(broker.port > 0 && broker.port <= 65535,
		    "WARREN_TEST_BROKER=%s: bad port", ext);
		return;
	}
	if (broker_spawn(&broker, err, sizeof(err)) != 0) {
		broker_print_log(&broker, LOG_TAIL_LINES);
		broker_cleanup(&broker);
		ck_abort_msg("cannot start %s: %s", WARREND_PATH, err);
	}
}

/* Unchecked fixture: print the log tail if the group failed; SIGTERM, reap, remove the dir. */
static void broker_stop(void)
{
	int status;

	if (broker.pid == 0)
		return;
	if (runner != NULL && srunner_ntests_failed(runner) > failed_before_group)
		broker_print_log(&broker, LOG_TAIL_LINES);
	if (broker_terminate(&broker, STOP_TIMEOUT_MS, &status) != 0) {
		fprintf(stderr, "warrend did not stop within %d ms of SIGTERM: killed\n",
		    STOP_TIMEOUT_MS);
		broker_failed = true;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "warrend ended badly on SIGTERM (wait status 0x%x)\n", status);
		broker_print_log(&broker, LOG_TAIL_LINES);
		broker_failed = true;
	}
	broker_cleanup(&broker);
}

TCase *harness_tcase(Suite *s, const char *name, double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, broker_start, broker_stop);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

int harness_run(Suite *s)
{
	struct timespec ts;
	int failed;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(run_id, sizeof(run_id), "%lx",
	    (unsigned long)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000) & 0xffffffffUL);
	signal(SIGPIPE, SIG_IGN);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_ENV);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	runner = NULL;
	return failed == 0 && !broker_failed ? EXIT_SUCCESS : EXIT_FAILURE;
}

void broker_stop_clean(const char *prog)
{
	int status = 0;

	broker_terminate(&broker, 10000, &status);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    broker_log_count(&broker, "runtime error") > 0 ||
	    broker_log_count(&broker, "Sanitizer") > 0) {
		broker_print_log(&broker, 40);
		fprintf(stderr, "%s: warrend ended badly (wait status 0x%x)\n", prog, status);
		exit(EXIT_FAILURE);
	}
	broker_cleanup(&broker);
}

void broker_hash_password(
    const char *prog, const char *warrenctl, const char *password, char *out, size_t len)
{
	char cmd[600];
	FILE *p;

	snprintf(
	    cmd, sizeof(cmd), "printf '%%s\\n' '%s' | '%s' hash-password", password, warrenctl);
	if ((p = popen(cmd, "r")) == NULL || fgets(out, (int)len, p) == NULL || pclose(p) != 0) {
		fprintf(stderr, "%s: warrenctl hash-password failed\n", prog);
		exit(EXIT_FAILURE);
	}
	out[strcspn(out, "\n")] = '\0';
}

void own_broker_start(const char *config)
{
	char err[256];

	if (broker_spawn_config(&broker, config, err, sizeof(err)) != 0)
		ck_abort_msg("cannot start warrend: %s", err);
}

void own_broker_stop(void)
{
	int status;

	broker_terminate(&broker, 10000, &status);
	ck_assert_msg(
	    WIFEXITED(status) && WEXITSTATUS(status) == 0, "warrend exited badly (0x%x)", status);
}

void own_broker_restart(bool kill9)
{
	char err[256];
	int status;

	if (kill9) {
		kill(broker.pid, SIGKILL);
		ck_assert_int_eq(broker_wait(&broker, 5000, &status), 0);
	} else {
		own_broker_stop();
	}
	ck_assert_msg(
	    broker_respawn(&broker, err, sizeof(err)) == 0, "cannot restart warrend: %s", err);
}
