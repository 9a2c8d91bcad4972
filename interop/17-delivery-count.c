/*
 * 17-delivery-count: delivery counts and limits (issue 15). A message returned to its queue
 * (basic.reject or basic.nack with requeue, basic.recover, its channel or connection closed with it
 * unacked) is delivered next with header x-delivery-count, the number of returns so far, and
 * redelivered set; its first delivery has no such header. With x-delivery-limit N a message
 * returned for the (N+1)th time is dead-lettered with reason delivery_limit, or dropped without a
 * dead-letter exchange. The count of a persistent message in a durable queue survives a restart
 * (clean or kill -9); a transient one's survives paging out and back.
 *
 * RabbitMQ 3.10 counts on quorum queues only, so in oracle mode the queues here are quorum ones
 * (durable); on Warren they are plain queues, as every queue counts. RabbitMQ's quorum queues also
 * put x-delivery-count 0 on a first basic.get, where Warren puts nothing (DIFFERENCES.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "interop/client.h"

/* ---- helpers ---- */

/*
 * A queue whose messages are counted, with more arguments (n of them): a quorum queue against
 * RabbitMQ, a plain one on Warren.
 */
static const char *counted_queue(
    conn_t c, amqp_channel_t ch, const char *what, int n, const amqp_table_entry_t *more)
{
	const char *q = uniq(what);
	amqp_table_entry_t e[8];
	int k;

	for (k = 0; k < n; k++)
		e[k] = more[k];
	if (broker_is_oracle())
		e[k++] = ent_str("x-queue-type", "quorum");
	amqp_queue_declare(c, ch, B(q), 0, broker_is_oracle(), 0, 0, (amqp_table_t){ k, e });
	client_ok(c, fmt("queue.declare %s", q));
	return q;
}

static void delete_queue(conn_t c, amqp_channel_t ch, const char *q)
{
	CHECK_RPC(c, amqp_queue_delete(c, ch, B(q), 0, 0));
}

/* Publish on channel 1 (in confirm mode) and wait for the confirm: the message is queued. */
static void put_props(conn_t c, const char *q, const amqp_basic_properties_t *p, const char *body)
{
	publish_confirmed(c, 1, "", q, p, body);
}

static void put(conn_t c, const char *q, const char *body)
{
	put_props(c, q, NULL, body);
}

/* m's x-delivery-count, or -1 when it has none (it must be a long when it is there). */
static int64_t delivery_count(const struct msg *m)
{
	const amqp_field_value_t *v;

	if (!(m->props->_flags & AMQP_BASIC_HEADERS_FLAG) ||
	    (v = table_get(&m->props->headers, "x-delivery-count")) == NULL)
		return -1;
	ck_assert_msg(v->kind == AMQP_FIELD_KIND_I64, "x-delivery-count of kind '%c'", v->kind);
	return v->value.i64;
}

static bool redelivered(const struct msg *m)
{
	return m->id == AMQP_BASIC_DELIVER_METHOD ? ((amqp_basic_deliver_t *)m->method)->redelivered
	                                          : ((amqp_basic_get_ok_t *)m->method)->redelivered;
}

static uint64_t tag_of(const struct msg *m)
{
	return m->id == AMQP_BASIC_DELIVER_METHOD
	    ? ((amqp_basic_deliver_t *)m->method)->delivery_tag
	    : ((amqp_basic_get_ok_t *)m->method)->delivery_tag;
}

/* A delivery (basic.deliver or basic.get-ok) of body, returned n times before. */
static void check_delivery(const struct msg *m, const char *body, int64_t n)
{
	int64_t got = delivery_count(m);

	ck_assert_msg(m->body_len == strlen(body) && memcmp(m->body, body, m->body_len) == 0,
	    "delivered \"%s\", expected \"%s\"", (char *)m->body, body);
	/* RabbitMQ's quorum queues say 0 on a first basic.get; Warren says nothing. */
	if (n == 0 && got == 0 && m->id == AMQP_BASIC_GET_OK_METHOD && broker_is_oracle())
		got = -1;
	ck_assert_msg(got == (n > 0 ? n : -1), "x-delivery-count %lld, expected %s", (long long)got,
	    n > 0 ? fmt("%lld", (long long)n) : "none");
	ck_assert_msg(redelivered(m) == (n > 0), "redelivered %d after %lld returns",
	    redelivered(m), (long long)n);
}

/* The next basic.deliver on ch: body, returned n times; its delivery tag. */
static uint64_t expect_counted(conn_t c, amqp_channel_t ch, const char *body, int64_t n)
{
	struct msg m;
	uint64_t tag;

	client_expect(c, ch, AMQP_BASIC_DELIVER_METHOD, &m);
	check_delivery(&m, body, n);
	tag = tag_of(&m);
	msg_free(&m);
	return tag;
}

/* basic.get (acking mode) on q: body, returned n times; its delivery tag. */
static uint64_t get_counted(conn_t c, amqp_channel_t ch, const char *q, const char *body, int64_t n)
{
	struct msg m;
	uint64_t tag;

	ck_assert_msg(get_msg(c, ch, q, false, &m), "basic.get on %s: get-empty", q);
	check_delivery(&m, body, n);
	tag = tag_of(&m);
	msg_free(&m);
	return tag;
}

/* A dead-letter target: a fanout exchange and a queue bound to it, consumed on channel 2. */
static void dead_letter_target(conn_t c, const char **dlx, const char **dlq)
{
	*dlx = uniq("dlx");
	*dlq = uniq("dlq");
	client_open(c, 2);
	declare_exchange(c, 1, *dlx, "fanout");
	declare_queue(c, 1, *dlq);
	bind_queue(c, 1, *dlq, *dlx, "");
	consume(c, 2, *dlq, NULL, true);
}

static const char *header_str(const struct msg *m, const char *key)
{
	const amqp_field_value_t *v = table_get(&m->props->headers, key);

	ck_assert_msg(v != NULL && v->kind == AMQP_FIELD_KIND_UTF8, "no string header %s", key);
	return fmt("%.*s", (int)v->value.bytes.len, (const char *)v->value.bytes.bytes);
}

/* ---- counting ---- */

START_TEST(first_delivery_has_no_count)
{
	conn_t c = client_connect_ch1();
	const char *q = counted_queue(c, 1, "q", 0, NULL);

	put(c, q, "fresh");
	consume(c, 1, q, "c", false);
	ck_assert_int_eq(amqp_basic_ack(c, 1, expect_counted(c, 1, "fresh", 0), 0), 0);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

START_TEST(reject_with_requeue_counts)
{
	conn_t c = client_connect_ch1();
	const char *q = counted_queue(c, 1, "q", 0, NULL);
	uint64_t tag;
	int n;

	put(c, q, "rejected");
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 0));
	consume(c, 1, q, "c", false);
	for (n = 0; n < 3; n++) {
		tag = expect_counted(c, 1, "rejected", n);
		ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 1), 0);
	}
	ck_assert_int_eq(amqp_basic_ack(c, 1, expect_counted(c, 1, "rejected", 3), 0), 0);
	CHECK_RPC(c, amqp_basic_cancel(c, 1, B("c")));
	expect_get(c, 1, q, NULL);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* Through basic.get, and with nack (single and multiple). */
START_TEST(nack_with_requeue_counts)
{
	conn_t c = client_connect_ch1();
	const char *q = counted_queue(c, 1, "q", 0, NULL);
	uint64_t tag;

	put(c, q, "nacked");
	tag = get_counted(c, 1, q, "nacked", 0);
	ck_assert_int_eq(amqp_basic_nack(c, 1, tag, 0, 1), 0);
	tag = get_counted(c, 1, q, "nacked", 1);
	ck_assert_int_eq(amqp_basic_nack(c, 1, tag, 1, 1), 0);
	tag = get_counted(c, 1, q, "nacked", 2);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
	expect_get(c, 1, q, NULL);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

START_TEST(recover_counts)
{
	conn_t c = client_connect_ch1();
	const char *q = counted_queue(c, 1, "q", 0, NULL);

	put(c, q, "recovered");
	consume(c, 1, q, "c", false);
	expect_counted(c, 1, "recovered", 0);
	CHECK_RPC(c, amqp_basic_recover(c, 1, 1));
	expect_counted(c, 1, "recovered", 1);
	CHECK_RPC(c, amqp_basic_recover(c, 1, 1));
	ck_assert_int_eq(amqp_basic_ack(c, 1, expect_counted(c, 1, "recovered", 2), 0), 0);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* A consumer's channel closed, then a basic.get's connection, each with the message unacked. */
START_TEST(channel_and_connection_close_count)
{
	conn_t c = client_connect_ch1(), c2;
	const char *q = counted_queue(c, 1, "q", 0, NULL);

	put(c, q, "abandoned");
	client_open(c, 2);
	consume(c, 2, q, "c", false);
	expect_counted(c, 2, "abandoned", 0);
	client_close_channel(c, 2);
	c2 = client_connect_ch1();
	get_counted(c2, 1, q, "abandoned", 1);
	client_close(c2);
	c2 = client_connect_ch1();
	ck_assert_int_eq(amqp_basic_ack(c2, 1, get_counted(c2, 1, q, "abandoned", 2), 0), 0);
	expect_get(c2, 1, q, NULL);
	client_close(c2);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* The count replaces an x-delivery-count the publisher set; the other headers stay. */
START_TEST(publisher_header_replaced)
{
	conn_t c = client_connect_ch1();
	const char *q = counted_queue(c, 1, "q", 0, NULL);
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_HEADERS_FLAG };
	struct msg m;
	int i, seen;

	p.headers = TABLE(ent_str("x-delivery-count", "mine"), ent_str("app", "kept"));
	put_props(c, q, &p, "labelled");
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 0));
	consume(c, 1, q, "c", false);
	/* The first delivery: the message as published. */
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq(header_str(&m, "x-delivery-count"), "mine");
	ck_assert_str_eq(header_str(&m, "app"), "kept");
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag_of(&m), 1), 0);
	msg_free(&m);
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	check_delivery(&m, "labelled", 1);
	ck_assert_str_eq(header_str(&m, "app"), "kept");
	for (i = seen = 0; i < m.props->headers.num_entries; i++)
		seen += bytes_is(m.props->headers.entries[i].key, "x-delivery-count");
	ck_assert_int_eq(seen, 1);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag_of(&m), 0), 0);
	msg_free(&m);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* ---- limits ---- */

/* x-delivery-limit 2: the third return dead-letters the message (delivery_limit). */
START_TEST(past_the_limit_dead_lettered)
{
	conn_t c = client_connect_ch1();
	const char *dlx, *dlq, *q;
	const amqp_field_value_t *xd, *v;
	struct msg m;
	int n;

	dead_letter_target(c, &dlx, &dlq);
	q = counted_queue(c, 1, "q", 2,
	    (amqp_table_entry_t[]){
	        ent_int("x-delivery-limit", 2), ent_str("x-dead-letter-exchange", dlx) });
	put(c, q, "limited");
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 0));
	consume(c, 1, q, "c", false);
	for (n = 0; n < 3; n++)
		ck_assert_int_eq(amqp_basic_reject(c, 1, expect_counted(c, 1, "limited", n), 1), 0);
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "limited");
	/* RabbitMQ's dead-lettered copy carries no count: the header is a delivery's only. */
	ck_assert_int_eq(delivery_count(&m), -1);
	xd = table_get(&m.props->headers, "x-death");
	ck_assert_msg(xd != NULL && xd->kind == AMQP_FIELD_KIND_ARRAY &&
	        xd->value.array.num_entries == 1 &&
	        xd->value.array.entries[0].kind == AMQP_FIELD_KIND_TABLE,
	    "no x-death");
	v = table_get(&xd->value.array.entries[0].value.table, "reason");
	ck_assert(v != NULL && bytes_is(v->value.bytes, "delivery_limit"));
	v = table_get(&xd->value.array.entries[0].value.table, "queue");
	ck_assert(v != NULL && bytes_is(v->value.bytes, q));
	ck_assert_str_eq(header_str(&m, "x-first-death-reason"), "delivery_limit");
	ck_assert_str_eq(header_str(&m, "x-first-death-queue"), q);
	msg_free(&m);
	client_quiet(c, QUIET_MS);
	ck_assert_uint_eq(queue_count(c, 1, q), 0);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* With no dead-letter exchange it is dropped; x-delivery-limit 0 allows no return at all. */
START_TEST(past_the_limit_dropped)
{
	conn_t c = client_connect_ch1();
	const char *q =
	    counted_queue(c, 1, "q", 1, (amqp_table_entry_t[]){ ent_int("x-delivery-limit", 0) });

	put(c, q, "once");
	put(c, q, "kept");
	ck_assert_int_eq(amqp_basic_nack(c, 1, get_counted(c, 1, q, "once", 0), 0, 1), 0);
	ck_assert_int_eq(amqp_basic_ack(c, 1, get_counted(c, 1, q, "kept", 0), 0), 0);
	expect_get(c, 1, q, NULL);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/*
 * x-delivery-limit must be a non-negative integer, refused in the words RabbitMQ uses for the
 * other integer arguments. RabbitMQ 3.10 takes any value (-1 acts as 0, a string as no limit).
 */
static const struct {
	amqp_field_value_t v;
	const char *reason;
} bad_limits[] = {
	{ { .kind = AMQP_FIELD_KIND_I64, .value.i64 = -1 }, "{value_negative,-1}" },
	{ { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = { 1, "2" } },
	    "\"expected integer, got longstr\"" },
	{ { .kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1 },
	    "\"expected integer, got bool\"" },
};

START_TEST(bad_limit_refused)
{
	amqp_table_entry_t e = { B("x-delivery-limit"), bad_limits[_i].v };
	const char *q = uniq("q");
	conn_t c;

	WARREN_ONLY();
	c = client_connect_ch1();
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, TABLE(e));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue '%s' in vhost '/': "
	        "%s",
	        q, bad_limits[_i].reason));
	client_close(c);
}
END_TEST

/* A redeclare must name the same limit. */
START_TEST(redeclare_compares_the_limit)
{
	conn_t c = client_connect_ch1();
	const char *q =
	    counted_queue(c, 1, "q", 1, (amqp_table_entry_t[]){ ent_int("x-delivery-limit", 2) });
	amqp_table_entry_t e[2] = { ent_i32("x-delivery-limit", 2),
		ent_str("x-queue-type", "quorum") };
	bool oracle = broker_is_oracle();

	/* The same value, of another integer type: equivalent. */
	amqp_queue_declare(c, 1, B(q), 0, oracle, 0, 0, (amqp_table_t){ oracle ? 2 : 1, e });
	client_ok(c, "redeclare");
	e[0] = ent_int("x-delivery-limit", 3);
	amqp_queue_declare(c, 1, B(q), 0, oracle, 0, 0, (amqp_table_t){ oracle ? 2 : 1, e });
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue '%s' in vhost "
	        "'/': received '3' but current is '2'",
	        q));
	client_open(c, 1);
	e[0] = e[1];
	amqp_queue_declare(c, 1, B(q), 0, oracle, 0, 0, (amqp_table_t){ oracle ? 1 : 0, e });
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue '%s' in vhost "
	        "'/': received none but current is the value '2' of type 'long'",
	        q));
	client_open(c, 1);
	delete_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* Warren counts on every queue: a classic one takes x-delivery-limit (RabbitMQ refuses it). */
START_TEST(classic_queue_takes_a_limit)
{
	conn_t c;
	const char *q = uniq("q");

	WARREN_ONLY();
	c = client_connect_ch1();
	declare_queue_args(
	    c, 1, q, TABLE(ent_str("x-queue-type", "classic"), ent_int("x-delivery-limit", 1)));
	put(c, q, "classic");
	ck_assert_int_eq(amqp_basic_reject(c, 1, get_counted(c, 1, q, "classic", 0), 1), 0);
	ck_assert_int_eq(amqp_basic_reject(c, 1, get_counted(c, 1, q, "classic", 1), 1), 0);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* ---- across restarts and paging (Warren's own broker) ---- */

static amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
	.delivery_mode = 2 };

/*
 * A persistent message returned twice keeps its count across a restart (_i 0 clean, 1 kill -9):
 * a small one (its entry holds it) and one over 488 bytes (in msgs, its entry 28 bytes).
 */
START_TEST(count_survives_a_restart)
{
	static char big[1000];
	const char *bodies[2] = { "small", big };
	uint64_t tags[2];
	conn_t c;
	int i, n;

	SKIP_IN_ORACLE();
	memset(big, 'b', sizeof(big) - 1);
	own_broker_start(NULL);
	c = client_connect_ch1();
	CHECK_RPC(c, amqp_queue_declare(c, 1, B("dq"), 0, 1, 0, 0, amqp_empty_table));
	for (i = 0; i < 2; i++)
		put_props(c, "dq", &persistent, bodies[i]);
	/* Each round takes both, then returns both (to their places: the same order next time). */
	for (n = 0; n < 4; n++) {
		if (n >= 2) {
			/* A durable declare is answered after its store write: the returns are durable. */
			CHECK_RPC(
			    c, amqp_queue_declare(c, 1, B("sync"), 0, 1, 0, 0, amqp_empty_table));
			client_drop(c);
			own_broker_restart(_i == 1);
			c = client_connect_ch1();
		}
		for (i = 0; i < 2; i++)
			tags[i] = get_counted(c, 1, "dq", bodies[i], n);
		if (n < 3)
			ck_assert_int_eq(amqp_basic_nack(c, 1, tags[1], 1, 1), 0);
	}
	ck_assert_int_eq(amqp_basic_ack(c, 1, tags[1], 1), 0);
	expect_get(c, 1, "dq", NULL);
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/* GET path on the management API: the body (malloc'd), or fail. */
static char *api_get(const char *path)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)broker.http_port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	const char *req = fmt("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
	                      "Authorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\r\n",
	    path); /* guest:guest */
	size_t have = 0, cap = 65536;
	char *buf = malloc(cap);
	int64_t deadline = now_ms() + WAIT_MS;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	ck_assert_msg(
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s", strerror(errno));
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();
		ck_assert_msg(left > 0 && poll(&p, 1, (int)left) > 0, "no answer from the API");
		ck_assert_uint_lt(have, cap - 1);
		if ((n = read(fd, buf + have, cap - have - 1)) <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	buf[have] = '\0';
	ck_assert_msg(strncmp(buf, "HTTP/1.1 200", 12) == 0, "GET %s: %.40s", path, buf);
	return buf;
}

/* The queue's messages_paged_out, from the management API. */
static long paged_out(const char *q)
{
	char *body = api_get(fmt("/api/queues/%%2F/%s", q)), *at;
	long n;

	at = strstr(body, "\"messages_paged_out\":");
	ck_assert_msg(at != NULL, "no messages_paged_out in %s", body);
	n = strtol(at + strlen("\"messages_paged_out\":"), NULL, 10);
	free(body);
	return n;
}

/*
 * Transient messages returned once (then twice), paged out under memory pressure while nothing is
 * unacked, come back from scratch with their counts.
 */
START_TEST(count_survives_paging)
{
	static char body[64 * 1024];
	enum { K = 48 }; /* 3 MiB through a broker limited to 4: paging starts past 2 */
	conn_t c;
	struct msg m;
	uint64_t tag = 0;
	int64_t deadline;
	int i, round;

	SKIP_IN_ORACLE();
	own_broker_start("memory_limit = 4MiB\n");
	c = client_connect_ch1();
	declare_queue(c, 1, "tq");
	for (i = 0; i < K; i++) {
		memset(body, 'a' + i % 26, sizeof(body));
		snprintf(body, sizeof(body), "t%03d", i);
		body[4] = '-';
		publish_props(c, 1, "", "tq", false, NULL, body, sizeof(body));
	}
	for (round = 0; round < 2; round++) {
		/* All taken (read back as needed), then all returned at once. */
		for (i = 0; i < K; i++) {
			ck_assert_msg(get_msg(c, 1, "tq", false, &m), "message %d missing", i);
			ck_assert_uint_eq(m.body_len, sizeof(body));
			ck_assert_msg(m.body[1] - '0' == i / 100 &&
			        m.body[2] - '0' == i / 10 % 10 && m.body[3] - '0' == i % 10 &&
			        m.body[sizeof(body) - 1] == 'a' + i % 26,
			    "message %d: \"%.5s\"", i, m.body);
			ck_assert_int_eq(delivery_count(&m), round > 0 ? round : -1);
			ck_assert(redelivered(&m) == (round > 0));
			tag = tag_of(&m);
			msg_free(&m);
		}
		ck_assert_int_eq(amqp_basic_nack(c, 1, tag, 1, 1), 0);
		/* Memory is short: the returned messages page out (every 100 ms). */
		deadline = now_ms() + WAIT_MS;
		while (paged_out("tq") < K / 2) {
			ck_assert_msg(now_ms() < deadline, "only %ld paged out", paged_out("tq"));
			sleep_ms(20);
		}
	}
	for (i = 0; i < K; i++) {
		ck_assert(get_msg(c, 1, "tq", true, &m));
		ck_assert_msg(m.body[3] - '0' == i % 10, "message %d: \"%.5s\"", i, m.body);
		ck_assert_int_eq(delivery_count(&m), 2);
		msg_free(&m);
	}
	client_close(c);
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

static void no_broker(void)
{
}

/*
 * consumer_timeout (RabbitMQ's, 30 minutes by default; 500 ms here): a delivery left unacked past
 * it closes its channel with 406, and goes back to the queue, counted; a consumer that acks in
 * time is left alone.
 */
START_TEST(unacked_past_consumer_timeout)
{
	conn_t c;
	const char *q;
	int64_t t0;
	int i;

	SKIP_IN_ORACLE();
	own_broker_start("consumer_timeout = 500\n");
	c = client_connect_ch1();
	q = counted_queue(c, 1, "q", 0, NULL);
	put(c, q, "slow");
	client_open(c, 2);
	consume(c, 2, q, "c", false);
	t0 = now_ms();
	expect_counted(c, 2, "slow", 0);
	expect_channel_close(c, 2, 406,
	    "PRECONDITION_FAILED - delivery acknowledgement on channel 2 timed out. Timeout value "
	    "used: 500 ms. This timeout value can be configured, see consumers doc guide to learn "
	    "more");
	ck_assert_int_ge(now_ms() - t0, 450);
	ck_assert_uint_eq(close_class_id, 0);
	ck_assert_uint_eq(close_method_id, 0);
	/* Back in the queue, counted; acked within the timeout this time, over 1.5 s of them. */
	client_open(c, 2);
	consume(c, 2, q, "c", false);
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(
		    amqp_basic_ack(
		        c, 2, expect_counted(c, 2, i == 0 ? "slow" : "again", i == 0 ? 1 : 0), 0),
		    0);
		sleep_ms(250);
		put(c, q, "again");
	}
	ck_assert_int_eq(amqp_basic_ack(c, 2, expect_counted(c, 2, "again", 0), 0), 0);
	client_quiet(c, 700); /* no close: nothing is unacked */
	delete_queue(c, 1, q);
	client_close(c);
	own_broker_stop();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("17-delivery-count");
	TCase *tc = harness_tcase(s, "count", TEST_TIMEOUT);

	tcase_add_test(tc, first_delivery_has_no_count);
	tcase_add_test(tc, reject_with_requeue_counts);
	tcase_add_test(tc, nack_with_requeue_counts);
	tcase_add_test(tc, recover_counts);
	tcase_add_test(tc, channel_and_connection_close_count);
	tcase_add_test(tc, publisher_header_replaced);
	tc = harness_tcase(s, "limit", TEST_TIMEOUT);
	tcase_add_test(tc, past_the_limit_dead_lettered);
	tcase_add_test(tc, past_the_limit_dropped);
	tcase_add_loop_test(
	    tc, bad_limit_refused, 0, (int)(sizeof(bad_limits) / sizeof(bad_limits[0])));
	tcase_add_test(tc, redeclare_compares_the_limit);
	tcase_add_test(tc, classic_queue_takes_a_limit);
	/* Each test starts (and restarts) its own warrend. */
	tc = tcase_create("store");
	tcase_add_unchecked_fixture(tc, no_broker, no_broker);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, count_survives_a_restart, 0, 2);
	tcase_add_test(tc, count_survives_paging);
	tcase_add_test(tc, unacked_past_consumer_timeout);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
