/*
 * harness.h: what every interop program shares: the broker under test, names, clocks, reply
 * checks and the Check runner.
 *
 * Each program is one Check suite of several test cases (groups); each group owns one broker,
 * started by an unchecked fixture in the parent process and inherited by the forked test
 * processes. By default the broker is a private warrend on a random loopback port with its data
 * and log in a fresh temporary directory; with WARREN_TEST_BROKER=host:port set, the tests run
 * against that broker instead, which is taken to be RabbitMQ (oracle mode) unless
 * WARREN_TEST_ORACLE=0. Tests of behaviour where Warren deliberately differs from RabbitMQ start
 * with WARREN_ONLY(); interop/DIFFERENCES.md lists them.
 *
 * This header includes neither codec: a test file includes client.h (rabbitmq-c) or raw.h
 * (Warren's own codec over a raw socket), never both, because the two libraries share names.
 */
#ifndef WARREN_INTEROP_HARNESS_H
#define WARREN_INTEROP_HARNESS_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bound on waiting for anything the broker must send. */
#define WAIT_MS 5000
/* How long to listen for something that must not arrive, before a round trip proves it. */
#define QUIET_MS 250
/* Check's per-test bound, in seconds, for groups without long waits. */
#define TEST_TIMEOUT 20

/* A broker: a warrend this process started, or an external one (pid 0). */
struct broker {
	pid_t pid;
	char host[64];
	int port;
	int tls_port;   /* an amqps listener, if the configuration has one */
	int http_port;  /* the management API (management_listen), if on */
	int prom_port;  /* the Prometheus endpoint (prometheus_listen), if on */
	char dir[128];  /* temporary directory holding data/ and warrend.log */
	char log[160];  /* warrend's stderr */
	char data[160]; /* --data-dir */
};

/* The running group's broker, valid in every test. */
extern struct broker broker;

/* True when the broker is RabbitMQ (WARREN_TEST_BROKER set, WARREN_TEST_ORACLE not 0). */
bool broker_is_oracle(void);

/*
 * Start a private warrend listening on 127.0.0.1:0 and wait (bounded) for its ready line. Returns 0,
 * or -1 with a reason in err. Tests that stop their broker (SIGTERM) start their own with this.
 */
int broker_spawn(struct broker *b, char *err, size_t errlen);
/* The same with a warren.conf(5) holding config (the command-line options still win). */
int broker_spawn_config(struct broker *b, const char *config, char *err, size_t errlen);
/*
 * Only make the directory (an empty data/ and the warren.conf) for a broker that broker_respawn
 * starts later: a test can first put something in data/ (or mount a filesystem there).
 */
int broker_prepare(struct broker *b, const char *config, char *err, size_t errlen);
/* Start warrend again on the same directory (after it exited or was killed); the log is appended. */
int broker_respawn(struct broker *b, char *err, size_t errlen);
/*
 * The same, but wait for the ready line only until deadline_ms (now_ms() time): 0 once ready, 1 if
 * warrend is still starting then (b->pid is set: the test may kill it), -1 on failure.
 */
int broker_respawn_until(struct broker *b, int64_t deadline_ms, char *err, size_t errlen);
/* Wait up to timeout_ms for the broker to exit; stores the wait status. 0 if it exited. */
int broker_wait(struct broker *b, int timeout_ms, int *status);
/* SIGTERM, wait up to timeout_ms, then SIGKILL. Stores the wait status; returns 0 if it exited. */
int broker_terminate(struct broker *b, int timeout_ms, int *status);
/* Remove the broker's temporary directory. */
void broker_cleanup(struct broker *b);
/* Print the last lines of the broker's log to stderr. */
void broker_print_log(const struct broker *b, int lines);
/* The size of the broker's log: where the next line will start. */
long broker_log_size(const struct broker *b);
/* How many lines of the broker's log contain needle. */
int broker_log_count(const struct broker *b, const char *needle);
/*
 * Fail the test (printing the log's tail) if the log from offset from on holds an error line (at
 * level error, from Berkeley DB, or a sanitizer's report) that contains none of the strings of the
 * NULL-terminated list expected (NULL: none is expected).
 */
void broker_check_log(const struct broker *b, long from, const char *const *expected);

/* Skip the rest of a test in oracle mode: the behaviour is Warren's and RabbitMQ differs. */
#define WARREN_ONLY()                                                                           \
	do {                                                                                    \
		if (broker_is_oracle()) {                                                       \
			harness_skip(tcase_name(), "Warren only (see interop/DIFFERENCES.md)"); \
			return;                                                                 \
		}                                                                               \
	} while (0)
void harness_skip(const char *test, const char *why);

/* A group of tests with the broker fixture and a time bound in seconds. */
TCase *harness_tcase(Suite *s, const char *name, double timeout);
/* Run the suite in fork mode; returns the process exit status. */
int harness_run(Suite *s);

/*
 * A name no other test, process or earlier run uses: "<what>-<run>-<pid>-<n>". The string lives in a
 * ring of static buffers: it stays valid for the next 63 calls to uniq() or fmt().
 */
const char *uniq(const char *what);
/* printf into the same ring of static buffers. */
const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* Monotonic milliseconds. */
int64_t now_ms(void);
/*
 * Tests that start, stop or kill their own warrend (the group fixture starts none) cannot run
 * against RabbitMQ: SKIP_IN_ORACLE() first. own_broker_start starts one with a warren.conf
 * holding config (NULL: none) into the global broker, or fails the test; own_broker_stop sends
 * SIGTERM and checks that it exited 0 (its directory stays for inspection: broker_cleanup);
 * own_broker_restart kills it (SIGKILL) or stops it so, then starts it again on its directory.
 */
#define SKIP_IN_ORACLE()                                                                        \
	do {                                                                                    \
		if (getenv("WARREN_TEST_BROKER") != NULL) {                                     \
			harness_skip(tcase_name(), "Warren only (see interop/DIFFERENCES.md)"); \
			return;                                                                 \
		}                                                                               \
	} while (0)
void own_broker_start(const char *config);
void own_broker_stop(void);
/*
 * SIGTERM the group's broker, which must exit 0 within ten seconds with no sanitizer report in its
 * log, and remove its directory; otherwise print its log and exit the program (prog names it).
 */
void broker_stop_clean(const char *prog);
/* `warrenctl hash-password` of password into out (warrenctl: its path), or exit the program. */
void broker_hash_password(
    const char *prog, const char *warrenctl, const char *password, char *out, size_t len);
void own_broker_restart(bool kill9);
/* Sleep: only for pacing a poll or for a short wait on something that must not happen. */
void sleep_ms(int ms);

/*
 * Check a close or return: the code, the code's name as the prefix of the text ("NOT_FOUND" or
 * "NOT_FOUND - ..."), and, when want_text is not NULL, the text: exactly, or up to a trailing '*'.
 */
void check_reply(
    const char *what, int code, const void *text, size_t len, int want_code, const char *want_text);

#endif /* WARREN_INTEROP_HARNESS_H */
