/*
 * 09-flow: backpressure. A consumer that does not read makes the broker keep messages in the
 * queue, not in its output buffer; when message memory passes memory_limit, a publisher is blocked
 * (connection.blocked, reading paused at its next publish) and unblocked when consumers drain it.
 * Warren-only: RabbitMQ's limits cannot be set from the test.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "interop/harness.h"
#include "interop/raw.h"

#define BODY 1024

/* Encoded publishes waiting to be written, sent without ever blocking the test. */
struct outq {
	uint8_t *p;
	size_t len, off, cap;
};

/* Room for n more bytes (doubling, so filling the queue stays linear). */
static void outq_reserve(struct outq *q, size_t n)
{
	if (n <= q->cap - q->len)
		return;
	while (n > q->cap - q->len)
		q->cap = q->cap != 0 ? q->cap * 2 : 65536;
	q->p = realloc(q->p, q->cap);
	ck_assert_ptr_nonnull(q->p);
}

static void outq_add_publish(struct outq *q, uint16_t channel, const char *rk, uint32_t seq)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	uint8_t body[BODY], props[2] = { 0, 0 };
	size_t need = 512 + BODY;
	int n;

	memset(body, 'a' + (int)(seq % 26), sizeof(body));
	memcpy(body, &seq, sizeof(seq));
	outq_reserve(q, need);
	m.u.basic_publish.routing_key = amqp_cstr(rk);
	n = amqp_method_frame_encode(channel, &m, q->p + q->len, need);
	ck_assert_int_gt(n, 0);
	q->len += (size_t)n;
	n = amqp_content_header_encode(AMQP_BASIC_CLASS, BODY, (struct amqp_bytes){ props, 2 },
	    q->p + q->len + AMQP_FRAME_HEADER_LEN, 64);
	amqp_frame_put_header(q->p + q->len, AMQP_FRAME_HEADER, channel, (uint32_t)n);
	q->len += (size_t)n + AMQP_FRAME_OVERHEAD;
	n = amqp_frame_encode(
	    q->p + q->len, BODY + AMQP_FRAME_OVERHEAD, AMQP_FRAME_BODY, channel, body, BODY);
	q->len += (size_t)n;
}

/* Write what the socket takes now; true when everything is written. */
static bool outq_pump(struct outq *q, int fd)
{
	while (q->off < q->len) {
		ssize_t k = send(fd, q->p + q->off, q->len - q->off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k > 0) {
			q->off += (size_t)k;
			continue;
		}
		ck_assert_msg(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR),
		    "send: %s", strerror(errno));
		return false;
	}
	return true;
}

/* Pump until the socket stays full for quiet_ms (the broker stopped reading) or all is sent. */
static bool outq_pump_until_stuck(struct outq *q, int fd, int quiet_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	while (!outq_pump(q, fd))
		if (poll(&p, 1, quiet_ms) == 0)
			return false;
	return true;
}

static void flow_start(void)
{
	char err[256];

	if (getenv("WARREN_TEST_BROKER") != NULL) /* RabbitMQ: these tests skip themselves */
		return;
	if (broker_spawn_config(&broker, "memory_limit = 1 MiB\n", err, sizeof(err)) != 0)
		ck_abort_msg("cannot start warrend: %s", err);
}

static void flow_stop(void)
{
	int status;

	if (broker.pid == 0)
		return;
	if (getenv("WARREN_TEST_KEEP_LOG") != NULL)
		broker_print_log(&broker, 60);
	broker_terminate(&broker, 5000, &status);
	broker_cleanup(&broker);
}

/* Take one message with basic.get no-ack: 1 if one came, 0 if the queue was empty. */
static int get_one(struct raw *r, const char *q)
{
	struct amqp_method m;
	struct amqp_content_header h;
	uint16_t ch;
	uint8_t *body;

	raw_basic_get(r, 1, q, true);
	ck_assert_int_eq(raw_next_method(r, &ch, &m, WAIT_MS), RAW_FRAME);
	if (m.id == AMQP_ID_basic_get_empty)
		return 0;
	ck_assert_msg(
	    m.id == AMQP_ID_basic_get_ok, "expected get-ok, got %s", amqp_method_str(m.id));
	raw_expect_content(r, 1, &h, &body);
	ck_assert_uint_eq(h.body_size, BODY);
	free(body);
	return 1;
}

/* The next method on channel 0 of the publisher, within WAIT_MS, must be id. */
static void expect_conn_method(struct raw *r, uint32_t id)
{
	struct amqp_method m;
	uint16_t ch;

	ck_assert_int_eq(raw_next_method(r, &ch, &m, WAIT_MS), RAW_FRAME);
	ck_assert_msg(m.id == id && ch == 0, "expected %s, got %s on %u", amqp_method_str(id),
	    amqp_method_str(m.id), ch);
}

START_TEST(memory_alarm_blocks_then_unblocks_publisher)
{
	const char *q = uniq("q");
	struct raw pub, con;
	struct outq out = { 0 };
	struct amqp_method m;
	uint16_t ch;
	uint32_t i, n = 10000, got = 0;
	bool unblocked = false;
	int sndbuf = 65536;

	WARREN_ONLY();
	raw_login(&pub, NULL); /* announces connection.blocked */
	raw_channel_open(&pub, 1);
	{
		/*
		 * x-max-length with drop-head (far above what is published): such a queue keeps
		 * its messages in memory, where a plain one would page them out at half the limit.
		 */
		static const uint8_t args[] = { 12, 'x', '-', 'm', 'a', 'x', '-', 'l', 'e', 'n',
			'g', 't', 'h', 'I', 0x00, 0x0f, 0x42, 0x40 };
		struct amqp_method dm = { .id = AMQP_ID_queue_declare };
		dm.u.queue_declare.queue = amqp_cstr(q);
		dm.u.queue_declare.arguments = (struct amqp_bytes){ args, sizeof(args) };
		raw_send_method(&pub, 1, &dm);
		raw_expect_method(&pub, 1, AMQP_ID_queue_declare_ok, NULL);
	}
	/* Small send buffer: the kernel must not be able to swallow the whole backlog. */
	setsockopt(pub.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	for (i = 0; i < n; i++)
		outq_add_publish(&out, 1, q, i);
	/* 10 MiB of messages against a 1 MiB limit: the broker must stop reading part way. */
	ck_assert_msg(!outq_pump_until_stuck(&out, pub.fd, 500),
	    "all %zu bytes were taken: the publisher was never blocked", out.len);
	expect_conn_method(&pub, AMQP_ID_connection_blocked);

	/* A consumer drains the queue; the broker unblocks the publisher and reads the rest. */
	raw_login(&con, NULL);
	raw_channel_open(&con, 1);
	while (got < n) {
		int k = get_one(&con, q);
		got += (uint32_t)k;
		outq_pump(&out, pub.fd);
		if (!unblocked && raw_next_method(&pub, &ch, &m, 0) == RAW_FRAME) {
			ck_assert_msg(
			    m.id == AMQP_ID_connection_unblocked, "got %s", amqp_method_str(m.id));
			unblocked = true;
		}
		if (k == 0) { /* caught up with the publisher: wait for it */
			struct pollfd p = { .fd = pub.fd, .events = POLLIN | POLLOUT };
			ck_assert_msg(
			    poll(&p, 1, WAIT_MS) > 0, "stuck after %u of %u messages", got, n);
		}
	}
	if (!unblocked)
		expect_conn_method(&pub, AMQP_ID_connection_unblocked);
	ck_assert(outq_pump(&out, pub.fd));
	ck_assert_int_eq(get_one(&con, q), 0);
	free(out.p);
	raw_close(&con);
	raw_close(&pub);
}
END_TEST

/* A passive declare's message count, over the raw connection. */
static uint32_t queue_count(struct raw *r, const char *q)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare }, ok;

	m.u.queue_declare.queue = amqp_cstr(q);
	m.u.queue_declare.passive = true;
	raw_send_method(r, 1, &m);
	raw_expect_method(r, 1, AMQP_ID_queue_declare_ok, &ok);
	return ok.u.queue_declare_ok.message_count;
}

START_TEST(slow_consumer_leaves_messages_queued)
{
	const char *q = uniq("q");
	struct raw pub, con;
	struct outq out = { 0 };
	struct amqp_method m = { .id = AMQP_ID_basic_consume };
	struct amqp_frame f;
	uint32_t i, n = 20000, queued, bodies = 0;

	WARREN_ONLY();
	raw_login(&con, NULL);
	raw_channel_open(&con, 1);
	raw_queue_declare(&con, 1, q);
	m.u.basic_consume.queue = amqp_cstr(q);
	m.u.basic_consume.no_ack = true;
	raw_send_method(&con, 1, &m);
	raw_expect_method(&con, 1, AMQP_ID_basic_consume_ok, NULL);
	/* The consumer reads nothing now, while 20 MiB are published to it. */
	raw_login(&pub, NULL);
	raw_channel_open(&pub, 1);
	for (i = 0; i < n; i++)
		outq_add_publish(&out, 1, q, i);
	ck_assert(outq_pump_until_stuck(&out, pub.fd, WAIT_MS));
	raw_ping(&pub, 1); /* every publish has been routed */
	/*
	 * The broker stops writing to the consumer above 1 MiB of output, so most messages wait in
	 * the queue (what the kernel's socket buffers hold is all that may leave it besides).
	 */
	queued = queue_count(&pub, q);
	ck_assert_msg(queued >= n / 2,
	    "only %u of %u messages still queued: the broker buffered the rest", queued, n);
	/* The consumer reads again and gets every one. */
	while (bodies < n) {
		ck_assert_msg(
		    raw_read(&con, &f, WAIT_MS) == RAW_FRAME, "stuck at %u of %u", bodies, n);
		bodies += f.type == AMQP_FRAME_BODY;
	}
	ck_assert_uint_eq(queue_count(&pub, q), 0);
	free(out.p);
	raw_close(&pub);
	raw_close(&con);
}
END_TEST

/*
 * A client that pipelines requests and never reads the answers: the broker stops reading it once
 * its output passes a few MiB, so the answers it has not produced stay messages in the queue.
 */
START_TEST(unread_answers_pause_reading)
{
	const char *q = uniq("q");
	struct raw pub, greedy;
	struct outq out = { 0 }, gets = { 0 };
	struct amqp_method m = { .id = AMQP_ID_basic_get };
	struct amqp_frame f;
	uint32_t i, n = 20000, queued, bodies = 0;
	uint8_t buf[256];
	int k;

	WARREN_ONLY();
	raw_login(&pub, NULL);
	raw_channel_open(&pub, 1);
	raw_queue_declare(&pub, 1, q);
	for (i = 0; i < n; i++)
		outq_add_publish(&out, 1, q, i);
	ck_assert(outq_pump_until_stuck(&out, pub.fd, WAIT_MS));
	raw_ping(&pub, 1);
	raw_login(&greedy, NULL);
	raw_channel_open(&greedy, 1);
	m.u.basic_get.queue = amqp_cstr(q);
	m.u.basic_get.no_ack = true;
	k = amqp_method_frame_encode(1, &m, buf, sizeof(buf));
	for (i = 0; i < n; i++) {
		outq_reserve(&gets, (size_t)k);
		memcpy(gets.p + gets.len, buf, (size_t)k);
		gets.len += (size_t)k;
	}
	outq_pump_until_stuck(&gets, greedy.fd, 500);
	raw_ping(&pub, 1);
	queued = queue_count(&pub, q);
	ck_assert_msg(
	    queued > 0, "every get was answered into the output of a client that reads nothing");
	/* Reading again, the client gets every message. */
	while (bodies < n) {
		outq_pump(&gets, greedy.fd);
		ck_assert_msg(
		    raw_read(&greedy, &f, WAIT_MS) == RAW_FRAME, "stuck at %u of %u", bodies, n);
		bodies += f.type == AMQP_FRAME_BODY;
	}
	ck_assert_uint_eq(queue_count(&pub, q), 0);
	free(out.p);
	free(gets.p);
	raw_close(&pub);
	raw_close(&greedy);
}
END_TEST

static void big_start(void)
{
	char err[256];

	if (getenv("WARREN_TEST_BROKER") != NULL) /* RabbitMQ: these tests skip themselves */
		return;
	if (broker_spawn_config(&broker, "memory_limit = 256 MiB\n", err, sizeof(err)) != 0)
		ck_abort_msg("cannot start warrend: %s", err);
}

int main(void)
{
	Suite *s = suite_create("09-flow");
	TCase *tc = tcase_create("memory");

	tcase_add_unchecked_fixture(tc, flow_start, flow_stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, memory_alarm_blocks_then_unblocks_publisher);
	suite_add_tcase(s, tc);
	tc = tcase_create("slow consumer");
	tcase_add_unchecked_fixture(tc, big_start, flow_stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, slow_consumer_leaves_messages_queued);
	tcase_add_test(tc, unread_answers_pause_reading);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
