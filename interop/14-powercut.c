/*
 * 14-powercut: warrend's data directory on powercut (../shared/tools/powercut), a FUSE filesystem
 * that keeps every write not yet fsync'ed in memory and drops it on SIGUSR1, like a power cut on a
 * strict filesystem (XFS, or ext4 mounted noauto_da_alloc; powercut runs without --auto-da-alloc).
 * Each cycle: producers publish persistent messages with confirms (and take and ack some); at a
 * random moment warrend is killed (SIGKILL) and the power cut; the filesystem is unmounted and
 * mounted again (the machine after the reboot) and warrend restarted. It must start; every
 * message confirmed and not acked must be back, byte for byte, nothing else; and its log must
 * hold no error line for the run, the cut or the recovery. The first cut comes within a second of
 * the very first start on an empty data directory (FORMAT, the tables and the first log file just
 * created). A second group cuts the power while warrend creates its store on an empty directory,
 * 0-250 ms into its first start (start-up takes about 150 ms on powercut), five times.
 *
 * powercut is copied from $(top_srcdir)/../shared/tools/powercut (read-only in CI) and built in a
 * temporary directory, never in the tree. Without that source, /dev/fuse (and root), fusermount3
 * or libfuse3's pkg-config file the test is skipped (exit 77).
 *
 * WARREN_POWERCUT_CYCLES sets the cycles (default 6; `make powercut-long` runs 100).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/crash.h"

static amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
	.delivery_mode = 2 };

#ifndef POWERCUT_SRC
#error "build with -DPOWERCUT_SRC='\"/path/to/shared/tools/powercut\"'"
#endif

#define PRODUCERS 2
#define DEFAULT_CYCLES 6
#define FIRST_STARTS 5            /* cuts during a first start */
#define FIRST_START_WINDOW_MS 250 /* ... at a random moment this long after warrend is started */
#define MOUNT_TIMEOUT_MS 10000    /* powercut mounts, cuts and unmounts well within this */
#define SKIP 77                   /* automake's exit status for a skipped test */

static char build_dir[] = "/tmp/warren-powercut-XXXXXX"; /* powercut is built here */
static char powercut_bin[sizeof(build_dir) + 16];

/* The running powercut: its process, its stderr (copied to powercut.log), its backing directory. */
static struct {
	pid_t pid;
	int errfd;
	FILE *log;
	char backing[200];
} pc = { 0, -1, NULL, "" };

/* Run a command line through sh, its output to stderr; its exit status, or -1. */
static int run(const char *cmd)
{
	int status = system(cmd);

	return status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Copy powercut's stderr to its log until a line holding want has been read (want NULL: until
 * end of file), within the bound. 0, or -1 on timeout or an early end.
 */
static int powercut_read_until(const char *want)
{
	char buf[4096], seen[8192];
	size_t have = 0;
	int64_t deadline = now_ms() + MOUNT_TIMEOUT_MS;

	seen[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = pc.errfd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return -1;
		if ((n = read(pc.errfd, buf, sizeof(buf))) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			return want == NULL ? 0 : -1;
		fwrite(buf, 1, (size_t)n, pc.log);
		fflush(pc.log);
		if (want == NULL)
			continue;
		/* Keep the tail of what was read, enough to hold the wanted line. */
		if ((size_t)n > sizeof(seen) - 1 - have) {
			size_t keep = sizeof(seen) / 2 < have ? sizeof(seen) / 2 : have;
			memmove(seen, seen + have - keep, keep);
			have = keep;
			if ((size_t)n > sizeof(seen) - 1 - have)
				n = (ssize_t)(sizeof(seen) - 1 - have);
		}
		memcpy(seen + have, buf, (size_t)n);
		have += (size_t)n;
		seen[have] = '\0';
		if (strstr(seen, want) != NULL)
			return 0;
	}
}

/* Mount powercut over the broker's data directory and wait for its "mounted" line. */
static void powercut_mount(void)
{
	char path[300];
	int pfd[2];

	snprintf(path, sizeof(path), "%s/powercut.log", broker.dir);
	if (pc.log == NULL)
		ck_assert_ptr_nonnull(pc.log = fopen(path, "a"));
	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	ck_assert_int_ge(pc.pid = fork(), 0);
	if (pc.pid == 0) {
		int nullfd = open("/dev/null", O_RDWR);

		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed test takes it along */
		dup2(nullfd, 0);
		dup2(nullfd, 1);
		dup2(pfd[1], 2);
		execl(powercut_bin, "powercut", pc.backing, broker.data, "-f", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	pc.errfd = pfd[0];
	ck_assert_msg(powercut_read_until("mounted ") == 0, "powercut did not mount %s (see %s)",
	    broker.data, path);
}

/* The power cut (warrend is dead by now): wait until powercut has dropped the dirty data. */
static void powercut_cut(void)
{
	kill(pc.pid, SIGUSR1);
	ck_assert_msg(powercut_read_until("POWER CUT") == 0, "powercut did not report the cut");
}

/* Unmount, and wait for powercut to exit. */
static void powercut_unmount(void)
{
	int status;

	ck_assert_int_eq(run(fmt("fusermount3 -u '%s'", broker.data)), 0);
	ck_assert_msg(powercut_read_until(NULL) == 0, "powercut did not exit after the unmount");
	ck_assert_int_eq(waitpid(pc.pid, &status, 0), pc.pid);
	close(pc.errfd);
	pc.errfd = -1;
	pc.pid = 0;
}

/* Sleep until the monotonic time at_ms: the power cut's random moment. */
static void sleep_until(int64_t at_ms)
{
	int64_t left = at_ms - now_ms();

	if (left > 0)
		sleep_ms((int)left);
}

START_TEST(powercut_cycles)
{
	const char *env = getenv("WARREN_POWERCUT_CYCLES");
	unsigned cycles = env != NULL ? (unsigned)atoi(env) : DEFAULT_CYCLES, cycle, p;
	char err[256], queue[PRODUCERS][48], path[PRODUCERS][300];
	int64_t started;
	long logpos = 0;

	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	/*
	 * Heap files of 256 KiB, each collected once full (the store's test hooks): heap files
	 * are created and removed all through the cycles, so that cuts come in the middle of both.
	 */
	setenv("WARREN_TEST_HEAP_FILE_BYTES", "262144", 1);
	setenv("WARREN_TEST_HEAP_COLLECT_ALL", "1", 1);
	powercut_mount();
	started = now_ms();
	ck_assert_msg(broker_respawn(&broker, err, sizeof(err)) == 0,
	    "warrend did not start on an empty data directory: %s", err);
	for (cycle = 0; cycle < cycles; cycle++) {
		struct crash_tally tally = { 0, 0, 0 };
		pid_t pid[PRODUCERS];
		int64_t cut;
		int status;
		conn_t c;

		c = client_connect_ch1();
		for (p = 0; p < PRODUCERS; p++) {
			snprintf(queue[p], sizeof(queue[p]), "powercut-%u-%u", cycle, p);
			snprintf(path[p], sizeof(path[p]), "%s/%s.log", broker.dir, queue[p]);
			CHECK_RPC(
			    c, amqp_queue_declare(c, 1, B(queue[p]), 0, 1, 0, 0, amqp_empty_table));
		}
		client_close(c);
		for (p = 0; p < PRODUCERS; p++) {
			FILE *log = fopen(path[p], "w");

			ck_assert_ptr_nonnull(log);
			if ((pid[p] = fork()) == 0) {
				crash_workload(cycle, queue[p], log);
				_exit(0);
			}
			fclose(log);
		}
		/*
		 * A random moment, the first within a second of the very first start: the cut is the
		 * experiment, not a synchronisation.
		 */
		if (cycle > 0)
			started = now_ms();
		sleep_until(started + (cycle == 0 ? 100 + rand() % 850 : 100 + rand() % 900));
		cut = now_ms();
		kill(broker.pid, SIGKILL);
		powercut_cut();
		ck_assert_int_eq(broker_wait(&broker, 5000, &status), 0);
		for (p = 0; p < PRODUCERS; p++)
			waitpid(pid[p], &status, 0);
		powercut_unmount();

		/* The machine comes back. */
		powercut_mount();
		if (broker_respawn(&broker, err, sizeof(err)) != 0) {
			broker_print_log(&broker, 60);
			ck_abort_msg(
			    "cycle %u: warrend did not start after the power cut: %s", cycle, err);
		}
		for (p = 0; p < PRODUCERS; p++)
			crash_check(cycle, queue[p], path[p], &tally);
		fprintf(stderr,
		    "cycle %u: cut %lld ms after the %s, %u confirmed (%u of them acked), %u "
		    "back\n",
		    cycle, (long long)(cut - started),
		    cycle == 0 ? "first start" : "producers' start", tally.confirmed, tally.acked,
		    tally.back);
		/* The run, the cut and the recovery: no error in the log. */
		broker_check_log(&broker, logpos, NULL);
		logpos = broker_log_size(&broker);
	}
	own_broker_stop();
	powercut_unmount();
}
END_TEST

/*
 * Power cuts while warrend creates its store on an empty data directory (FORMAT, the tables, the
 * first log file), at a random moment of its first start: after the reboot it must start, with a
 * store that works, and log no error.
 */
START_TEST(cuts_during_the_first_start)
{
	char err[256];
	long logpos = 0;
	unsigned i, during = 0;

	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (i = 0; i < FIRST_STARTS; i++) {
		int64_t started, at;
		int status, r;
		conn_t c;

		ck_assert_int_eq(run(fmt("rm -rf '%s'/* '%s'/.[!.]*", pc.backing, pc.backing)), 0);
		powercut_mount();
		started = now_ms();
		at = started + rand() % FIRST_START_WINDOW_MS;
		ck_assert_int_ge(r = broker_respawn_until(&broker, at, err, sizeof(err)), 0);
		during += r == 1;
		sleep_until(at);
		kill(broker.pid, SIGKILL);
		powercut_cut();
		ck_assert_int_eq(broker_wait(&broker, 5000, &status), 0);
		powercut_unmount();
		fprintf(stderr, "first start %u: cut %lld ms after it began, %s\n", i,
		    (long long)(at - started), r == 1 ? "while it started" : "once it was ready");

		powercut_mount();
		if (broker_respawn(&broker, err, sizeof(err)) != 0) {
			broker_print_log(&broker, 60);
			ck_abort_msg(
			    "first start %u: warrend did not start after the power cut: %s", i,
			    err);
		}
		c = client_connect_ch1();
		CHECK_RPC(c, amqp_queue_declare(c, 1, B("q"), 0, 1, 0, 0, amqp_empty_table));
		publish_confirmed(c, 1, "", "q", &persistent, "after the cut");
		expect_get(c, 1, "q", "after the cut");
		client_close(c);
		broker_check_log(&broker, logpos, NULL);
		own_broker_stop();
		logpos = broker_log_size(&broker);
		powercut_unmount();
	}
	fprintf(stderr, "%u of %u cuts came while warrend was starting\n", during, FIRST_STARTS);
}
END_TEST

/* Unchecked fixture, in the parent: the broker's directory, with data/ to mount powercut on. */
static void setup(void)
{
	char err[256];

	ck_assert_msg(broker_prepare(&broker, NULL, err, sizeof(err)) == 0, "%s", err);
	snprintf(pc.backing, sizeof(pc.backing), "%s/backing", broker.dir);
	ck_assert_int_eq(mkdir(pc.backing, 0700), 0);
}

/* Unchecked fixture: whatever a failed test left mounted goes (lazily), then the directory. */
static void teardown(void)
{
	run(fmt("fusermount3 -u -z '%s' 2>/dev/null", broker.data));
	broker_cleanup(&broker);
}

/* Why the test cannot run here, or NULL (then build_dir is made, for powercut's build). */
static const char *unavailable(void)
{
	if (getenv("WARREN_TEST_BROKER") != NULL)
		return "Warren only: it starts, kills and restarts its own warrend";
	if (access(POWERCUT_SRC "/powercut.c", R_OK) != 0)
		return "no powercut source at " POWERCUT_SRC;
	if (access("/dev/fuse", R_OK | W_OK) != 0)
		return "no /dev/fuse (needs root and /dev/fuse)";
	if (run("command -v fusermount3 >/dev/null && pkg-config --exists fuse3") != 0)
		return "fusermount3 or libfuse3's pkg-config file missing (tools/setup.sh installs "
		       "fuse3 and libfuse3-dev)";
	if (mkdtemp(build_dir) == NULL)
		return "mkdtemp failed";
	snprintf(powercut_bin, sizeof(powercut_bin), "%s/powercut", build_dir);
	return NULL;
}

int main(void)
{
	const char *env = getenv("WARREN_POWERCUT_CYCLES");
	const char *why = unavailable();
	Suite *s;
	TCase *tc;
	char cmd[1024];
	int ret;

	if (why != NULL) { /* before the suite is made: under ASan a skip must leak nothing */
		harness_skip("14-powercut", why);
		return SKIP;
	}
	s = suite_create("14-powercut");
	tc = tcase_create("powercut");
	/* Its own make: not the jobserver or the variables of the make check running this test. */
	snprintf(cmd, sizeof(cmd),
	    "cp -r '%s/.' '%s' && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '%s' powercut "
	    ">&2",
	    POWERCUT_SRC, build_dir, build_dir);
	if (run(cmd) != 0) {
		fprintf(stderr, "cannot build powercut from %s in %s\n", POWERCUT_SRC, build_dir);
		return EXIT_FAILURE;
	}
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60 + 20 * (env != NULL ? atoi(env) : DEFAULT_CYCLES));
	tcase_add_test(tc, powercut_cycles);
	suite_add_tcase(s, tc);
	tc = tcase_create("first-start");
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60 + 20 * FIRST_STARTS);
	tcase_add_test(tc, cuts_during_the_first_start);
	suite_add_tcase(s, tc);
	ret = harness_run(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", build_dir);
	run(cmd);
	return ret;
}
