/*
 * 13-paging: long queues keep their head in memory and the rest in the store. Messages come back
 * in order and byte for byte through consumers and basic.get while their queue reads ahead; purge
 * and delete drop paged messages from the disk too; a restart (clean or kill -9) finds a paged
 * queue whole; priorities and TTLs hold across paging; transient messages page out under memory
 * pressure instead of blocking publishers; arrivals that follow the paged entries out while a read
 * is held back by a slow disk are read back too. Warren-only: the tests restart warrend and read
 * its store with warrenctl.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"

/* Well past the 4,096 entries at which a queue starts to page. */
#define N 20000

static amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
	.delivery_mode = 2 };

/* Message i's body: its number, then filler of a length that varies with i. */
static size_t body_of(unsigned i, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "m%06u-", i);
	size_t len = (size_t)n + (i * 131) % 700, k;

	for (k = (size_t)n; k < len && k < cap; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	return len < cap ? len : cap;
}

/* Start this test's warrend (config: NULL or warren.conf text); channel 1 in confirm mode. */
static conn_t start_publishing(const char *config)
{
	conn_t c;

	own_broker_start(config);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	return c;
}

/* Publishes on channel 1 (in confirm mode) so far, and how many of them are confirmed. */
static uint64_t published, confirmed;

static void wait_confirmed(conn_t c, uint64_t upto)
{
	struct msg m;

	while (confirmed < upto) {
		amqp_basic_ack_t *a;
		client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
		a = m.method;
		ck_assert_msg(a->multiple || a->delivery_tag == confirmed + 1,
		    "confirm for tag %llu after %llu", (unsigned long long)a->delivery_tag,
		    (unsigned long long)confirmed);
		if (a->delivery_tag > confirmed)
			confirmed = a->delivery_tag;
		msg_free(&m);
	}
}

static void publish_one(
    conn_t c, const char *queue, const amqp_basic_properties_t *props, const void *body, size_t len)
{
	ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_empty_bytes, B(queue), 0, 0, props,
	                     (amqp_bytes_t){ len, (void *)body }),
	    0);
	/* A window of 256 confirms in flight. */
	if (++published - confirmed > 256)
		wait_confirmed(c, published - 128);
}

/* Publish messages first..first+n-1, every one confirmed on return. */
static void publish_range(
    conn_t c, const char *queue, unsigned first, unsigned n, const amqp_basic_properties_t *props)
{
	char body[800];
	unsigned i;

	for (i = 0; i < n; i++) {
		size_t len = body_of(first + i, body, sizeof(body));
		publish_one(c, queue, props, body, len);
	}
	wait_confirmed(c, published);
}

static void check_body(const struct msg *m, unsigned want)
{
	char body[800];
	size_t len = body_of(want, body, sizeof(body));

	ck_assert_msg(m->body_len == len && memcmp(m->body, body, len) == 0,
	    "expected message %u, got \"%.12s\" (%zu bytes)", want, (const char *)m->body,
	    m->body_len);
}

/* Consume n messages and check they are first, first+1, ... in order; ack every 100. */
static void consume_in_order(conn_t c, const char *queue, unsigned first, unsigned n)
{
	struct msg m;
	unsigned i;

	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 500, 0));
	consume(c, 1, queue, "pager", false);
	for (i = 0; i < n; i++) {
		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		check_body(&m, first + i);
		if (i % 100 == 99 || i == n - 1)
			ck_assert_int_eq(amqp_basic_ack(c, 1,
			                     ((amqp_basic_deliver_t *)m.method)->delivery_tag, 1),
			    0);
		msg_free(&m);
	}
	CHECK_RPC(c, amqp_basic_cancel(c, 1, B("pager")));
}

/* warrenctl store-verify on the stopped broker's data; returns its output. */
static const char *verify_store(void)
{
	static char out[4096];
	FILE *p =
	    popen(fmt("'%s' store-verify --data-dir '%s' 2>&1", WARRENCTL_PATH, broker.data), "r");
	size_t n;
	int st;

	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	ck_assert_msg(st == 0, "store-verify failed: %s", out);
	return out;
}

START_TEST(persistent_messages_page_and_come_back_in_order)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("pq"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "pq", 0, N, &persistent);
	ck_assert_uint_eq(queue_count(c, 1, "pq"), N);
	consume_in_order(c, "pq", 0, N);
	ck_assert_uint_eq(queue_count(c, 1, "pq"), 0);
	client_close(c);
	own_broker_stop();
	ck_assert_ptr_nonnull(strstr(verify_store(), "0 messages (0 bytes) in 0 queue entries"));
	broker_cleanup(&broker);
}
END_TEST

START_TEST(basic_get_waits_for_paged_messages)
{
	conn_t c;
	struct msg m;
	unsigned i;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("gq"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "gq", 0, N / 2, &persistent);
	for (i = 0; i < N / 2; i++) {
		ck_assert_msg(get_msg(c, 1, "gq", true, &m), "basic.get-empty at message %u", i);
		check_body(&m, i);
		ck_assert_uint_eq(((amqp_basic_get_ok_t *)m.method)->message_count, N / 2 - i - 1);
		msg_free(&m);
	}
	ck_assert(!get_msg(c, 1, "gq", true, &m));
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

START_TEST(paged_queue_survives_restarts)
{
	conn_t c;
	struct msg m;
	uint64_t tag;
	unsigned i;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("rq"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "rq", 0, N, &persistent);
	/* Take the first ten, ack five: the other five come back redelivered. */
	for (i = 0; i < 10; i++) {
		ck_assert(get_msg(c, 1, "rq", false, &m));
		check_body(&m, i);
		tag = ((amqp_basic_get_ok_t *)m.method)->delivery_tag;
		if (i < 5)
			ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
		msg_free(&m);
	}
	/* A durable declare is answered after its store write: the acks and marks are durable. */
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("sync"), 0, 1, 0, 0, amqp_empty_table));
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "rq"), N - 5);
	for (i = 5; i < 10; i++) {
		ck_assert(get_msg(c, 1, "rq", true, &m));
		check_body(&m, i);
		ck_assert(((amqp_basic_get_ok_t *)m.method)->redelivered);
		msg_free(&m);
	}
	ck_assert(get_msg(c, 1, "rq", true, &m));
	check_body(&m, 10);
	ck_assert(!((amqp_basic_get_ok_t *)m.method)->redelivered);
	msg_free(&m);
	client_close(c);
	/* A clean stop in the middle of the queue, then the rest, in order. */
	own_broker_restart(false);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "rq"), N - 11);
	consume_in_order(c, "rq", 11, N - 11);
	client_close(c);
	own_broker_stop();
	ck_assert_ptr_nonnull(strstr(verify_store(), "0 messages (0 bytes) in 0 queue entries"));
	broker_cleanup(&broker);
}
END_TEST

START_TEST(purge_and_delete_drop_paged_messages)
{
	conn_t c;
	amqp_queue_purge_ok_t *p;
	amqp_queue_delete_ok_t *d;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("purged"), 0, 1, 0, 0, amqp_empty_table));
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("deleted"), 0, 1, 0, 0, amqp_empty_table));
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("kept"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "purged", 0, N, &persistent);
	publish_range(c, "deleted", 0, N, &persistent);
	publish_range(c, "kept", 0, 3, &persistent);
	p = amqp_queue_purge(c, 1, B("purged"));
	client_ok(c, "queue.purge");
	ck_assert_uint_eq(p->message_count, N);
	d = amqp_queue_delete(c, 1, B("deleted"), 0, 0);
	client_ok(c, "queue.delete");
	ck_assert_uint_eq(d->message_count, N);
	ck_assert_uint_eq(queue_count(c, 1, "purged"), 0);
	/* A purged queue takes new messages as usual. */
	publish_range(c, "purged", N, 1, &persistent);
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "purged"), 1);
	ck_assert_uint_eq(queue_count(c, 1, "kept"), 3);
	ck_assert(!queue_exists(c, 1, "deleted"));
	client_close(c);
	own_broker_stop();
	ck_assert_ptr_nonnull(strstr(verify_store(), " in 4 queue entries"));
	broker_cleanup(&broker);
}
END_TEST

START_TEST(priorities_hold_across_paging)
{
	amqp_table_entry_t e = ent_int("x-max-priority", 4);
	amqp_basic_properties_t props = persistent;
	char body[800];
	struct msg m;
	conn_t c;
	unsigned i, next[5], prio;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("prio"), 0, 1, 0, 0, (amqp_table_t){ 1, &e }));
	props._flags |= AMQP_BASIC_PRIORITY_FLAG;
	for (i = 0; i < N; i++) {
		size_t len = body_of(i, body, sizeof(body));
		props.priority = (uint8_t)(i % 5);
		publish_one(c, "prio", &props, body, len);
	}
	wait_confirmed(c, published);
	/* Highest priority first; within a priority, publication order. */
	for (prio = 0; prio < 5; prio++)
		next[prio] = prio;
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 500, 0));
	consume(c, 1, "prio", "pager", true);
	for (prio = 5; prio-- > 0;) {
		while (next[prio] < N) {
			client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
			check_body(&m, next[prio]);
			next[prio] += 5;
			msg_free(&m);
		}
	}
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

START_TEST(ttl_expires_paged_messages)
{
	amqp_table_entry_t e = ent_int("x-message-ttl", 300);
	struct msg m;
	conn_t c;
	int64_t until;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(
	    c, amqp_queue_declare(c, 1, B("ttl-durable"), 0, 1, 0, 0, (amqp_table_t){ 1, &e }));
	publish_range(c, "ttl-durable", 0, N / 2, &persistent);
	/* Every message expires, the paged ones too, without a consumer to reach them. */
	until = now_ms() + 15000;
	while (queue_count(c, 1, "ttl-durable") > 0) {
		ck_assert_msg(now_ms() < until, "paged messages did not expire");
		sleep_ms(20); /* pacing the poll */
	}
	publish_range(c, "ttl-durable", N, 1, &persistent);
	ck_assert(get_msg(c, 1, "ttl-durable", true, &m));
	check_body(&m, N);
	msg_free(&m);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

START_TEST(transient_messages_page_under_memory_pressure)
{
	static char big[65536];
	conn_t c;
	struct msg m;
	unsigned i, n = 1600; /* 100 MiB through a broker limited to 48 MiB */

	SKIP_IN_ORACLE();
	c = start_publishing("memory_limit = 48MiB\n");
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("tq"), 0, 0, 0, 0, amqp_empty_table));
	for (i = 0; i < n; i++) {
		int len = snprintf(big, sizeof(big), "t%06u-", i);
		memset(big + len, 'a' + (int)(i % 26), sizeof(big) - (size_t)len);
		/* A blocked publisher would wait here for its confirms until the test times out. */
		publish_one(c, "tq", NULL, big, sizeof(big));
	}
	wait_confirmed(c, published);
	ck_assert_uint_eq(queue_count(c, 1, "tq"), n);
	for (i = 0; i < n; i++) {
		char head[16];
		ck_assert(get_msg(c, 1, "tq", true, &m));
		snprintf(head, sizeof(head), "t%06u-", i);
		ck_assert_uint_eq(m.body_len, sizeof(big));
		ck_assert_msg(memcmp(m.body, head, strlen(head)) == 0 &&
		        ((const char *)m.body)[sizeof(big) - 1] == 'a' + (int)(i % 26),
		    "message %u altered", i);
		msg_free(&m);
	}
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/*
 * A clean restart with a million persistent messages queued: they are all there afterwards, in
 * order. WARREN_MILLION sets the number (default 1,000,000). The restart's time is printed.
 */
START_TEST(clean_restart_with_a_million_queued)
{
	const char *env = getenv("WARREN_MILLION");
	unsigned n = env != NULL ? (unsigned)atoi(env) : 1000000, i;
	char body[17], err[256];
	int64_t t0, t1;
	struct msg m;
	conn_t c;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("million"), 0, 1, 0, 0, amqp_empty_table));
	for (i = 0; i < n; i++) {
		snprintf(body, sizeof(body), "n%015u", i);
		publish_one(c, "million", &persistent, body, 16);
	}
	wait_confirmed(c, published);
	client_close(c);
	t0 = now_ms();
	own_broker_stop();
	t1 = now_ms();
	ck_assert_msg(broker_respawn(&broker, err, sizeof(err)) == 0, "%s", err);
	fprintf(stderr, "13-paging: %u persistent messages queued: stop %lld ms, start %lld ms\n",
	    n, (long long)(t1 - t0), (long long)(now_ms() - t1));
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "million"), n);
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 2000, 0));
	consume(c, 1, "million", "drain", false);
	for (i = 0; i < n; i++) {
		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		snprintf(body, sizeof(body), "n%015u", i);
		ck_assert_msg(m.body_len == 16 && memcmp(m.body, body, 16) == 0,
		    "expected message %u, got \"%.16s\"", i, (const char *)m.body);
		if (i % 1000 == 999 || i == n - 1)
			ck_assert_int_eq(amqp_basic_ack(c, 1,
			                     ((amqp_basic_deliver_t *)m.method)->delivery_tag, 1),
			    0);
		msg_free(&m);
	}
	ck_assert_uint_eq(queue_count(c, 1, "million"), 0);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/* Many queues, each short of the paging length, still page once memory passes half the limit. */
START_TEST(many_short_queues_page_under_memory_pressure)
{
	static char big[65536];
	unsigned i, q, n = 1152; /* 72 MiB over 6 queues, through a broker limited to 48 MiB */
	struct msg m;
	conn_t c;

	SKIP_IN_ORACLE();
	c = start_publishing("memory_limit = 48MiB\n");
	for (q = 0; q < 6; q++)
		CHECK_RPC(
		    c, amqp_queue_declare(c, 1, B(fmt("mq%u", q)), 0, 0, 0, 0, amqp_empty_table));
	for (i = 0; i < n; i++) {
		int len = snprintf(big, sizeof(big), "t%06u-", i);
		memset(big + len, 'a' + (int)(i % 26), sizeof(big) - (size_t)len);
		publish_one(c, fmt("mq%u", i % 6), NULL, big, sizeof(big));
	}
	wait_confirmed(c, published);
	for (i = 0; i < n; i++) {
		char head[16];
		ck_assert(get_msg(c, 1, fmt("mq%u", i % 6), true, &m));
		snprintf(head, sizeof(head), "t%06u-", i);
		ck_assert_msg(m.body_len == sizeof(big) && memcmp(m.body, head, strlen(head)) == 0,
		    "message %u altered", i);
		msg_free(&m);
	}
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/*
 * Issue 12: on a slow disk, a read of a queue's last paged entries was still in flight when a
 * tail's worth (512) of new arrivals followed them out; the read's range ended before those, and
 * its end was taken for the end of everything paged: "512 paged messages are missing from the
 * store", and the 512 (confirmed, in the store) were neither counted nor delivered until a restart.
 * Here every flush takes 300 ms, so the read is in flight while the 512 arrive; every confirmed
 * message must then come back, in order, without a restart.
 */
START_TEST(arrivals_paged_out_during_a_read_come_back)
{
	unsigned i, got = 0, total = 4097 + 512;
	char body[800];
	struct msg m;
	conn_t c;

	SKIP_IN_ORACLE();
	setenv("WARREN_TEST_FLUSH_DELAY_MS", "300", 1);
	c = start_publishing(NULL);
	unsetenv("WARREN_TEST_FLUSH_DELAY_MS");
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("slow"), 0, 1, 0, 0, amqp_empty_table));
	/* 4,097: the queue pages its back out, keeping 2,048 (seqs 1-2,048) in memory. */
	for (i = 0; i < 4097; i++) {
		size_t len = body_of(i, body, sizeof(body));
		ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_empty_bytes, B("slow"), 0, 0,
		                     &persistent, (amqp_bytes_t){ len, body }),
		    0);
	}
	published = 4097;
	wait_confirmed(c, published);
	/*
	 * The first get starts a read of 2,048 (seqs 2,049-4,096), which the 2,049th waits for;
	 * that one leaves 2,047 in memory and starts the read of the last paged entry (4,097), held
	 * by the slow flush its own delete joins.
	 */
	for (i = 0; i < 2049; i++, got++) {
		ck_assert_msg(get_msg(c, 1, "slow", true, &m), "basic.get-empty at message %u", i);
		check_body(&m, i);
		msg_free(&m);
	}
	/* Meanwhile 512 more arrive and follow the paged entries out. */
	for (i = 4097; i < total; i++) {
		size_t len = body_of(i, body, sizeof(body));
		ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_empty_bytes, B("slow"), 0, 0,
		                     &persistent, (amqp_bytes_t){ len, body }),
		    0);
	}
	published = total;
	wait_confirmed(c, published);
	/* Every confirmed message is there, counted and delivered, without a restart. */
	for (; got < total; got++) {
		ck_assert_msg(get_msg(c, 1, "slow", true, &m),
		    "basic.get-empty at message %u of %u (the broker says %u are left)", got, total,
		    queue_count(c, 1, "slow"));
		check_body(&m, got);
		msg_free(&m);
	}
	ck_assert(!get_msg(c, 1, "slow", true, &m));
	ck_assert_int_eq(broker_log_count(&broker, " error "), 0);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/* queue.purge-ok and queue.delete-ok of paged queues come once the store holds the purge. */
START_TEST(purge_and_delete_of_paged_queues_hold_across_kill9)
{
	amqp_queue_purge_ok_t *p;
	conn_t c;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("purged"), 0, 1, 0, 0, amqp_empty_table));
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("deleted"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "purged", 0, N, &persistent);
	publish_range(c, "deleted", 0, N, &persistent);
	p = amqp_queue_purge(c, 1, B("purged"));
	client_ok(c, "queue.purge");
	ck_assert_uint_eq(p->message_count, N);
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "purged"), 0);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B("deleted"), 0, 0));
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert(!queue_exists(c, 1, "deleted"));
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/* A durable queue declared fresh: its declare-ok comes once every write before it is durable. */
static void sync_store(conn_t c)
{
	CHECK_RPC(c, amqp_queue_declare(c, 1, B(uniq("sync")), 0, 1, 0, 0, amqp_empty_table));
}

/*
 * After a restart, sequence numbers go on past the queue's delivered mark. An emptied queue (its
 * mark at 3) started again from 1, and the next restart took a message published then for one
 * delivered before: redelivered.
 */
START_TEST(messages_after_a_restart_are_not_redelivered)
{
	struct msg m;
	conn_t c;
	unsigned i;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("marked"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "marked", 0, 3, &persistent);
	for (i = 0; i < 3; i++) {
		ck_assert(get_msg(c, 1, "marked", false, &m));
		ck_assert_int_eq(
		    amqp_basic_ack(c, 1, ((amqp_basic_get_ok_t *)m.method)->delivery_tag, 0), 0);
		msg_free(&m);
	}
	sync_store(c);
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	published = confirmed = 0;
	publish_range(c, "marked", 3, 1, &persistent);
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert(get_msg(c, 1, "marked", true, &m));
	check_body(&m, 3);
	ck_assert_msg(!((amqp_basic_get_ok_t *)m.method)->redelivered,
	    "a message never delivered came back redelivered");
	msg_free(&m);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/*
 * A deleted queue's paged entries are deleted after its delete-ok by jobs of 4,096 (one flush
 * each, 300 ms here); a kill -9 leaves the rest to the next start. A queue declared then must get
 * an id of its own: given the deleted one's, the start after counted the leftovers as its own.
 */
START_TEST(a_new_queue_never_takes_a_deleted_queues_id)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("gone"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "gone", 0, N, &persistent);
	client_close(c);
	setenv("WARREN_TEST_FLUSH_DELAY_MS", "300", 1);
	own_broker_restart(false);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_delete(c, 1, B("gone"), 0, 0));
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("new"), 0, 1, 0, 0, amqp_empty_table));
	client_drop(c);
	unsetenv("WARREN_TEST_FLUSH_DELAY_MS");
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "new"), 0);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/*
 * A purge of paged entries holds across a crash by a "dead" record of their seqs, until the jobs
 * deleting them are done. After a kill -9 and a restart, new messages must get seqs past that
 * range: inside it, they were deleted with the purged ones, or skipped by the next start.
 */
START_TEST(messages_after_a_purge_and_a_crash_stay)
{
	char body[800];
	conn_t c;
	unsigned i, n = 3000;

	SKIP_IN_ORACLE();
	c = start_publishing(NULL);
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("purged"), 0, 1, 0, 0, amqp_empty_table));
	publish_range(c, "purged", 0, N, &persistent);
	client_close(c);
	setenv("WARREN_TEST_FLUSH_DELAY_MS", "300", 1);
	own_broker_restart(false);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_purge(c, 1, B("purged")));
	client_drop(c);
	own_broker_restart(true);
	unsetenv("WARREN_TEST_FLUSH_DELAY_MS");
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	published = confirmed = 0;
	/* All at once, while the jobs deleting the purged entries are still at work. */
	for (i = 0; i < n; i++) {
		size_t len = body_of(N + i, body, sizeof(body));
		ck_assert_int_eq(amqp_basic_publish(c, 1, amqp_empty_bytes, B("purged"), 0, 0,
		                     &persistent, (amqp_bytes_t){ len, body }),
		    0);
	}
	published = n;
	wait_confirmed(c, published);
	client_drop(c);
	own_broker_restart(true);
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, "purged"), n);
	consume_in_order(c, "purged", N, n);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

static void no_broker(void)
{
}

int main(void)
{
	Suite *s = suite_create("13-paging");
	TCase *tc = tcase_create("paging");

	/* Each test starts (and restarts) its own warrend. */
	tcase_add_unchecked_fixture(tc, no_broker, no_broker);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, persistent_messages_page_and_come_back_in_order);
	tcase_add_test(tc, basic_get_waits_for_paged_messages);
	tcase_add_test(tc, paged_queue_survives_restarts);
	tcase_add_test(tc, purge_and_delete_drop_paged_messages);
	tcase_add_test(tc, priorities_hold_across_paging);
	tcase_add_test(tc, ttl_expires_paged_messages);
	tcase_add_test(tc, transient_messages_page_under_memory_pressure);
	tcase_add_test(tc, many_short_queues_page_under_memory_pressure);
	tcase_add_test(tc, arrivals_paged_out_during_a_read_come_back);
	tcase_add_test(tc, purge_and_delete_of_paged_queues_hold_across_kill9);
	tcase_add_test(tc, messages_after_a_restart_are_not_redelivered);
	tcase_add_test(tc, a_new_queue_never_takes_a_deleted_queues_id);
	tcase_add_test(tc, messages_after_a_purge_and_a_crash_stay);
	suite_add_tcase(s, tc);
	tc = tcase_create("million");
	tcase_add_unchecked_fixture(tc, no_broker, no_broker);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, clean_restart_with_a_million_queued);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
