/*
 * 10-durable: the store. Durable definitions and persistent messages survive a restart and kill -9,
 * transient ones do not; a confirm never precedes the flush that makes its message durable; a
 * failing flush answers basic.nack and raises an alarm; and a crash test kills warrend at random
 * moments under load, then checks that every confirmed, unacked message is back, byte for byte,
 * that nothing appears that was never published, and that the broker logged no error in the run,
 * the kill or the recovery. Warren-only: RabbitMQ cannot be killed, restarted or given a failing
 * disk from the test.
 *
 * WARREN_CRASH_CYCLES sets the crash test's cycles (default 20; `make crash-long` runs 200).
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/crash.h"

static amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
	.delivery_mode = 2 };

static void stop(void)
{
	own_broker_stop();
	broker_cleanup(&broker);
}

START_TEST(definitions_and_messages_survive_kill9)
{
	conn_t c;
	amqp_basic_properties_t transient = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
		.delivery_mode = 1 };

	SKIP_IN_ORACLE();
	own_broker_start(NULL);
	c = client_connect_ch1();
	CHECK_RPC(
	    c, amqp_exchange_declare(c, 1, B("dx"), B("topic"), 0, 1, 0, 0, amqp_empty_table));
	CHECK_RPC(
	    c, amqp_exchange_declare(c, 1, B("tx"), B("topic"), 0, 0, 0, 0, amqp_empty_table));
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("dq"), 0, 1, 0, 0, amqp_empty_table));
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("tq"), 0, 0, 0, 0, amqp_empty_table));
	CHECK_RPC(
	    c, amqp_queue_declare(c, 1, B("xq"), 0, 1, 1, 0, amqp_empty_table)); /* exclusive */
	bind_queue(c, 1, "dq", "dx", "a.#");
	bind_queue(c, 1, "tq", "dx", "a.#");
	publish_confirmed(c, 1, "dx", "a.b", &persistent, "kept");
	publish_confirmed(c, 1, "dx", "a.c", &transient, "lost: transient message");
	client_drop(c);
	own_broker_restart(true);

	c = client_connect_ch1();
	ck_assert(queue_exists(c, 1, "dq"));
	ck_assert(!queue_exists(c, 1, "tq"));
	ck_assert(!queue_exists(c, 1, "xq"));
	ck_assert_uint_eq(queue_count(c, 1, "dq"), 1);
	expect_get(c, 1, "dq", "kept");
	/* The durable binding came back with its exchange; the transient exchange did not. */
	publish_confirmed(c, 1, "dx", "a.z", &persistent, "routed again");
	expect_get(c, 1, "dq", "routed again");
	amqp_exchange_declare(c, 1, B("tx"), B("topic"), 1, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 404, NULL);
	client_drop(c);
	stop();
}
END_TEST

START_TEST(unacked_messages_come_back_redelivered)
{
	conn_t c;
	struct msg m;
	uint64_t tag;

	SKIP_IN_ORACLE();
	own_broker_start(NULL);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("q"), 0, 1, 0, 0, amqp_empty_table));
	publish_confirmed(c, 1, "", "q", &persistent, "one");
	publish_confirmed(c, 1, "", "q", &persistent, "two");
	get_one(c, 1, "q", "one", &tag); /* delivered, never acked */
	/* A durable declare is answered after its store write, so the delivery mark is durable too. */
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("sync"), 0, 1, 0, 0, amqp_empty_table));
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert(get_msg(c, 1, "q", true, &m));
	ck_assert(bytes_is((amqp_bytes_t){ m.body_len, m.body }, "one"));
	ck_assert(((amqp_basic_get_ok_t *)m.method)->redelivered);
	msg_free(&m);
	ck_assert(get_msg(c, 1, "q", true, &m));
	ck_assert(bytes_is((amqp_bytes_t){ m.body_len, m.body }, "two"));
	msg_free(&m);
	client_drop(c);
	stop();
}
END_TEST

START_TEST(acked_messages_stay_gone)
{
	conn_t c;
	uint64_t tag;

	SKIP_IN_ORACLE();
	own_broker_start(NULL);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("q"), 0, 1, 0, 0, amqp_empty_table));
	publish_confirmed(c, 1, "", "q", &persistent, "acked");
	publish_confirmed(c, 1, "", "q", &persistent, "purged");
	get_one(c, 1, "q", "acked", &tag);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
	CHECK_RPC(c, amqp_queue_purge(c, 1, B("q")));
	publish_confirmed(c, 1, "", "q", &persistent, "last");
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "q"), 1);
	expect_get(c, 1, "q", "last");
	client_drop(c);
	stop();
}
END_TEST

/* With the flush slowed down, the confirm must wait for it. */
START_TEST(confirm_waits_for_the_flush)
{
	conn_t c;
	struct msg m;
	int64_t t0;

	SKIP_IN_ORACLE();
	setenv("WARREN_TEST_FLUSH_DELAY_MS", "700", 1);
	own_broker_start(NULL);
	unsetenv("WARREN_TEST_FLUSH_DELAY_MS");
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("q"), 0, 1, 0, 0, amqp_empty_table));
	amqp_confirm_select(c, 1);
	client_ok(c, "confirm.select");
	t0 = now_ms();
	publish_props(c, 1, "", "q", false, &persistent, "slow", 4);
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_msg(now_ms() - t0 >= 650,
	    "confirmed after %lld ms, before the 700 ms flush returned",
	    (long long)(now_ms() - t0));
	msg_free(&m);
	client_drop(c);
	stop();
}
END_TEST

/* With every flush failing, publishers get basic.nack and connection.blocked. */
START_TEST(failed_flush_nacks_and_alarms)
{
	conn_t c;
	struct msg m;
	amqp_frame_t f;
	struct timeval tv = { 5, 0 };
	bool blocked = false;

	SKIP_IN_ORACLE();
	/* The durable queue first, on a healthy disk; then a restart onto a failing one. */
	own_broker_start(NULL);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("q"), 0, 1, 0, 0, amqp_empty_table));
	client_close(c);
	{
		char err[256];
		int status;
		broker_terminate(&broker, 5000, &status);
		setenv("WARREN_TEST_FLUSH_FAIL", "1", 1);
		ck_assert_int_eq(broker_respawn(&broker, err, sizeof(err)), 0);
		unsetenv("WARREN_TEST_FLUSH_FAIL");
	}
	c = client_connect_ch1();
	amqp_confirm_select(c, 1);
	client_ok(c, "confirm.select");
	/* The publish is the first write to reach the failing disk. */
	publish_props(c, 1, "", "q", false, &persistent, "doomed", 6);
	/* connection.blocked (channel 0) and basic.nack, in either order. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(amqp_simple_wait_frame_noblock(c, &f, &tv), AMQP_STATUS_OK);
		ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
		if (f.payload.method.id == AMQP_CONNECTION_BLOCKED_METHOD) {
			blocked = true;
			continue;
		}
		ck_assert_msg(f.payload.method.id == AMQP_BASIC_NACK_METHOD,
		    "expected basic.nack, got 0x%08x", f.payload.method.id);
	}
	ck_assert(blocked);
	(void)m;
	client_drop(c);
	stop();
}
END_TEST

/* ---- a FORMAT cut short by a power cut (an older warrend wrote it without fsync) ---- */

/* Write text (len bytes) to the data directory's FORMAT. */
static void write_format(const char *text, size_t len)
{
	FILE *f = fopen(fmt("%s/FORMAT", broker.data), "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* True if the broker's log holds text. */
static bool log_has(const char *text)
{
	FILE *f = fopen(broker.log, "r");
	char line[2048];
	bool found = false;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

/* An empty FORMAT beside a store: refused, with what to do; doing it brings the store back. */
START_TEST(empty_format_beside_a_store_is_refused)
{
	char err[256];
	conn_t c;

	SKIP_IN_ORACLE();
	own_broker_start(NULL);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("q"), 0, 1, 0, 0, amqp_empty_table));
	publish_confirmed(c, 1, "", "q", &persistent, "kept");
	client_close(c);
	own_broker_stop();
	write_format("", 0);
	ck_assert_int_ne(broker_respawn(&broker, err, sizeof(err)), 0);
	ck_assert_msg(log_has("/FORMAT: empty (a write cut short by a crash") &&
	        log_has("store format 2 to 5, write the line 'warren-store 5' into"),
	    "no advice in the log");
	/* The advice, followed. */
	write_format("warren-store 5\n", 15);
	ck_assert_msg(broker_respawn(&broker, err, sizeof(err)) == 0, "%s", err);
	c = client_connect_ch1();
	expect_get(c, 1, "q", "kept");
	client_close(c);
	stop();
}
END_TEST

/* A FORMAT cut short where there is no store yet (the first start's cut): written again. */
START_TEST(cut_short_format_without_a_store_is_written_again)
{
	char err[256], buf[64] = "";
	FILE *f;

	SKIP_IN_ORACLE();
	ck_assert_int_eq(broker_prepare(&broker, NULL, err, sizeof(err)), 0);
	write_format("warren-st", 9);
	ck_assert_msg(broker_respawn(&broker, err, sizeof(err)) == 0, "%s", err);
	ck_assert(log_has(" warn store: "));
	ck_assert(log_has("/FORMAT was incomplete (a write cut short by a crash) and the directory "
	                  "held no store: written again"));
	f = fopen(fmt("%s/FORMAT", broker.data), "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "warren-store 5\n");
	stop();
}
END_TEST

/* ---- the crash test ---- */

START_TEST(crash_cycles)
{
	const char *env = getenv("WARREN_CRASH_CYCLES");
	unsigned cycles = env != NULL ? (unsigned)atoi(env) : 20, cycle;
	char err[256], queue[32], path[300];
	long logpos = 0;

	SKIP_IN_ORACLE();
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	/* Heap files of 256 KiB, each collected once full (the store's test hooks): files come and go. */
	setenv("WARREN_TEST_HEAP_FILE_BYTES", "262144", 1);
	setenv("WARREN_TEST_HEAP_COLLECT_ALL", "1", 1);
	own_broker_start(NULL);
	for (cycle = 0; cycle < cycles; cycle++) {
		int status;
		struct timespec ts;
		FILE *log;
		pid_t pid;
		conn_t c;

		snprintf(queue, sizeof(queue), "crash-%u", cycle);
		snprintf(path, sizeof(path), "%s/crash-%u.log", broker.dir, cycle);
		c = client_connect_ch1();
		CHECK_RPC(c, amqp_queue_declare(c, 1, B(queue), 0, 1, 0, 0, amqp_empty_table));
		client_close(c);
		log = fopen(path, "w");
		ck_assert_ptr_nonnull(log);
		if ((pid = fork()) == 0) {
			crash_workload(cycle, queue, log);
			_exit(0);
		}
		fclose(log);
		/* A random moment: the kill is the experiment, not a synchronisation. */
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(50 + rand() % 400) * 1000000L;
		nanosleep(&ts, NULL);
		kill(broker.pid, SIGKILL);
		ck_assert_int_eq(broker_wait(&broker, 5000, &status), 0);
		waitpid(pid, &status, 0);
		ck_assert_int_eq(broker_respawn(&broker, err, sizeof(err)), 0);
		crash_check(cycle, queue, path, NULL);
		/* The run, the kill and the recovery: no error in the log. */
		broker_check_log(&broker, logpos, NULL);
		logpos = broker_log_size(&broker);
	}
	stop();
}
END_TEST

static void no_broker(void)
{
}

int main(void)
{
	Suite *s = suite_create("10-durable");
	TCase *tc = tcase_create("durability");

	/* Each test starts (and kills, and restarts) its own warrend. */
	tcase_add_unchecked_fixture(tc, no_broker, no_broker);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, definitions_and_messages_survive_kill9);
	tcase_add_test(tc, unacked_messages_come_back_redelivered);
	tcase_add_test(tc, acked_messages_stay_gone);
	tcase_add_test(tc, confirm_waits_for_the_flush);
	tcase_add_test(tc, failed_flush_nacks_and_alarms);
	tcase_add_test(tc, empty_format_beside_a_store_is_refused);
	tcase_add_test(tc, cut_short_format_without_a_store_is_written_again);
	suite_add_tcase(s, tc);
	tc = tcase_create("crash");
	tcase_add_unchecked_fixture(tc, no_broker, no_broker);
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, crash_cycles);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
