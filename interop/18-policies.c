/*
 * 18-policies: policies and operator policies (issue 15 point 1), each behaviour checked on
 * Warren and, in oracle mode, on RabbitMQ 3.10: a message TTL by policy, max-length by policy on
 * a queue that already holds more (dropped at once, from the head), a policy against an argument
 * (the smaller number wins; the argument's overflow wins), an operator policy capping a policy,
 * the highest priority winning, apply-to exchanges (an alternate exchange by policy), a
 * dead-letter exchange by policy with x-death, a delivery limit by policy, and a policy removed
 * (the queue back to its arguments). Warren only: x-dispatch by policy, a durable queue's policy
 * after a restart, a bad policy line refused by a reload with FILE:LINE.
 *
 * On Warren the policies are written through the management API (which edits the vhost file and
 * reloads before it answers) or, for the TTL, as a line in the vhost file followed by SIGHUP. On
 * RabbitMQ they are set with rabbitmqctl: WARREN_TEST_RABBITMQCTL holds the command that runs it
 * against the node under test (docs/testing.md), e.g.
 * "sh ../shared/tools/rabbitmq-node.sh ctl policy 5694"; without it the oracle run skips.
 * RabbitMQ applies a changed policy to existing queues asynchronously, so checks of existing
 * queues poll (bounded) until the queue shows it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/http.h"

static char vdir[200];

/* ---- The broker: a warrend with a users file and a vhost directory, or RabbitMQ ---- */

static void start_files(void)
{
	char err[256], cmd[4096], hash[300];

	broker_hash_password("18-policies", WARRENCTL_PATH, "guest", hash, sizeof(hash));
	if (broker_prepare(&broker, "", err, sizeof(err)) != 0) {
		fprintf(stderr, "18-policies: %s\n", err);
		exit(EXIT_FAILURE);
	}
	snprintf(vdir, sizeof(vdir), "%s/vhosts", broker.dir);
	snprintf(cmd, sizeof(cmd),
	    "printf '%%s\\n' 'guest:%s:administrator' > %s/users && chmod 600 %s/users && "
	    "mkdir %s && printf '%%s\\n' 'vhost /' 'permissions guest .* .* .*' "
	    "'# policies below' > %s/default.vhost && printf '%%s\\n' "
	    "'users_file = %s/users' 'vhost_dir = %s' > %s/warren.conf",
	    hash, broker.dir, broker.dir, vdir, vdir, broker.dir, vdir, broker.dir);
	if (system(cmd) != 0 || broker_respawn(&broker, err, sizeof(err)) != 0) {
		fprintf(stderr, "18-policies: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

static void stop_files(void)
{
	broker_stop_clean("18-policies");
}

/* A group: on Warren, a broker with files; against RabbitMQ, the harness's. */
static TCase *group(Suite *s, const char *name)
{
	TCase *tc;

	if (getenv("WARREN_TEST_BROKER") != NULL)
		return harness_tcase(s, name, TEST_TIMEOUT);
	tc = tcase_create(name);
	tcase_add_unchecked_fixture(tc, start_files, stop_files);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	suite_add_tcase(s, tc);
	return tc;
}

/* ---- Setting policies ---- */

/* The management API as guest: the status (and the body, malloc'd, if body_out). */
static int api(const char *method, const char *path, const char *body, char **body_out)
{
	return http_request(broker.http_port, "guest", "guest", method, path, body, body_out);
}

/* Run rabbitmqctl with args (NULL-terminated) against the oracle: its exit status. */
static int rabbitmqctl(const char *const *args)
{
	const char *ctl = getenv("WARREN_TEST_RABBITMQCTL");
	const char *argv[24] = { "sh", "-c", NULL, "sh" };
	char script[512];
	int status, k = 4;
	pid_t pid;

	snprintf(script, sizeof(script), "%s \"$@\" >/dev/null", ctl);
	argv[2] = script;
	while (*args != NULL && k < 23)
		argv[k++] = *args++;
	argv[k] = NULL;
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		execvp("sh", (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* In oracle mode, skip unless rabbitmqctl can be run. */
static bool can_set_policies(void)
{
	if (broker_is_oracle() && getenv("WARREN_TEST_RABBITMQCTL") == NULL) {
		harness_skip(tcase_name(), "oracle mode without WARREN_TEST_RABBITMQCTL");
		return false;
	}
	return true;
}

/* Set a policy (op: an operator policy) on vhost "/"; definition is JSON. */
static void policy_set(bool op, const char *name, const char *pattern, const char *definition,
    int priority, const char *apply_to)
{
	char prio[16];
	int status;

	snprintf(prio, sizeof(prio), "%d", priority);
	if (broker_is_oracle()) {
		const char *args[] = { op ? "set_operator_policy" : "set_policy", "--priority",
			prio, "--apply-to", apply_to, name, pattern, definition, NULL };
		ck_assert_msg(rabbitmqctl(args) == 0, "rabbitmqctl set_policy %s failed", name);
		return;
	}
	/* The pattern as a JSON string: its backslashes doubled. */
	char pat[256];
	size_t k = 0;
	for (const char *q = pattern; *q != '\0' && k + 2 < sizeof(pat); q++) {
		if (*q == '\\')
			pat[k++] = '\\';
		pat[k++] = *q;
	}
	pat[k] = '\0';
	status = api("PUT", fmt("/api/%s/%%2F/%s", op ? "operator-policies" : "policies", name),
	    fmt("{\"pattern\":\"%s\",\"definition\":%s,\"priority\":%d,\"apply-to\":\"%s\"}", pat,
	        definition, priority, apply_to),
	    NULL);
	ck_assert_msg(status == 201 || status == 204, "PUT policy %s: %d", name, status);
}

static void policy_clear(bool op, const char *name)
{
	int status;

	if (broker_is_oracle()) {
		const char *args[] = { op ? "clear_operator_policy" : "clear_policy", name, NULL };
		ck_assert_msg(rabbitmqctl(args) == 0, "rabbitmqctl clear_policy %s failed", name);
		return;
	}
	status = api("DELETE", fmt("/api/%s/%%2F/%s", op ? "operator-policies" : "policies", name),
	    NULL, NULL);
	ck_assert_msg(status == 204, "DELETE policy %s: %d", name, status);
}

/*
 * A test's names, kept out of fmt()'s ring of buffers (which the client helpers reuse): up to 8
 * strings, valid for the test.
 */
static char names[8][200];
static int nnames;

static const char *keep(const char *s)
{
	ck_assert_int_lt(nnames, 8);
	snprintf(names[nnames], sizeof(names[0]), "%s", s);
	return names[nnames++];
}

/* A prefix no other test uses, for queue names and the patterns that match them. */
static const char *prefix(const char *what)
{
	nnames = 0;
	return keep(uniq(fmt("pol-%s", what)));
}

/* The queue holds n messages, within a bounded wait (RabbitMQ applies policies asynchronously). */
static void wait_count(conn_t c, const char *q, uint32_t n)
{
	int64_t deadline = now_ms() + 2 * WAIT_MS;
	uint32_t got;

	while ((got = queue_count(c, 1, q)) != n) {
		ck_assert_msg(
		    now_ms() < deadline, "queue %s holds %u messages, expected %u", q, got, n);
		sleep_ms(10);
	}
}

static void put_n(conn_t c, const char *q, int from, int to)
{
	int i;

	for (i = from; i <= to; i++)
		publish_confirmed(c, 1, "", q, NULL, fmt("m%d", i));
}

/* ---- Queues ---- */

/* message-ttl by policy: a message in a queue without x-message-ttl expires. */
START_TEST(ttl_by_policy)
{
	const char *p = prefix("ttl"), *q = keep(fmt("%s.q", p)), *name = keep(fmt("%s-ttl", p));
	conn_t c;

	if (!can_set_policies())
		return;
	if (broker_is_oracle()) {
		policy_set(false, name, fmt("^%s\\.", p), "{\"message-ttl\":100}", 0, "queues");
	} else {
		/* Warren: a line in the vhost file and SIGHUP, as an administrator would. */
		int before = broker_log_count(&broker, "reloaded: ");
		int64_t deadline = now_ms() + 4 * WAIT_MS;
		FILE *f = fopen(fmt("%s/default.vhost", vdir), "a");

		ck_assert(f != NULL);
		fprintf(
		    f, "policy %s '^%s\\.' '{\"message-ttl\": 100}' apply-to queues\n", name, p);
		ck_assert_int_eq(fclose(f), 0);
		ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
		while (broker_log_count(&broker, "reloaded: ") == before) {
			ck_assert_msg(now_ms() < deadline, "no reload after SIGHUP");
			sleep_ms(10);
		}
		ck_assert_int_ge(broker_log_count(&broker, fmt("policy '%s' added", name)), 1);
	}
	c = client_connect_ch1();
	declare_queue(c, 1, q);
	put_n(c, q, 1, 2);
	wait_count(c, q, 0);
	policy_clear(false, name);
	client_close(c);
}
END_TEST

/* max-length by policy on a queue holding more: dropped at once, from the head. */
START_TEST(max_length_on_existing_queue)
{
	const char *p = prefix("maxlen"), *q = keep(fmt("%s.q", p)), *name = keep(fmt("%s-len", p));
	conn_t c;

	if (!can_set_policies())
		return;
	c = client_connect_ch1();
	declare_queue(c, 1, q);
	put_n(c, q, 1, 5);
	ck_assert_uint_eq(queue_count(c, 1, q), 5);
	policy_set(false, name, fmt("^%s\\.", p), "{\"max-length\":2}", 0, "queues");
	wait_count(c, q, 2);
	expect_get(c, 1, q, "m4");
	expect_get(c, 1, q, "m5");
	expect_get(c, 1, q, NULL);
	policy_clear(false, name);
	client_close(c);
}
END_TEST

/* A number field of the queue's JSON in the management API (Warren). */
static uint64_t api_queue_field(const char *q, const char *field)
{
	char *body = NULL, *at;
	uint64_t v;

	ck_assert_int_eq(api("GET", fmt("/api/queues/%%2F/%s", q), NULL, &body), 200);
	at = strstr(body, fmt("\"%s\":", field));
	ck_assert_msg(at != NULL, "no %s in %s", field, body);
	v = strtoull(at + strlen(field) + 3, NULL, 10);
	free(body);
	return v;
}

/* The queue holds n, by the management API's count on Warren, by a passive declare on RabbitMQ. */
static void wait_api_count(conn_t c, const char *q, uint64_t n)
{
	int64_t deadline = now_ms() + 2 * WAIT_MS;
	uint64_t got;

	if (broker_is_oracle()) {
		wait_count(c, q, (uint32_t)n);
		return;
	}
	while ((got = api_queue_field(q, "messages")) != n) {
		ck_assert_msg(now_ms() < deadline, "queue %s holds %llu messages, expected %llu", q,
		    (unsigned long long)got, (unsigned long long)n);
		sleep_ms(10);
	}
}

/*
 * max-length by policy on a long durable queue, most of it paged out on Warren: reject-publish
 * keeps all it holds (and refuses more); drop-head then drops down to the limit at once, reading
 * the paged head back as it goes, and the dropped messages reach the dead-letter exchange in
 * order, the newest staying in the queue.
 */
START_TEST(max_length_on_paged_queue)
{
	enum { N = 8000, MAX = 100 };
	const char *p = prefix("paged"), *q = keep(fmt("%s.q", p)), *dlx = keep(fmt("%s.dlx", p)),
	           *dlq = keep(fmt("%s.dlq", p)), *name = keep(fmt("%s-len", p));
	amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
		.delivery_mode = 2 };
	uint32_t total = N, acked = 0, i;
	int64_t deadline;
	struct msg m;
	conn_t c;

	if (!can_set_policies())
		return;
	c = client_connect_ch1();
	declare_exchange(c, 1, dlx, "fanout");
	declare_queue(c, 1, dlq);
	bind_queue(c, 1, dlq, dlx, "");
	CHECK_RPC(c, amqp_queue_declare(c, 1, B(q), 0, 1, 0, 0, amqp_empty_table));
	client_open(c, 2);
	CHECK_RPC(c, amqp_confirm_select(c, 2));
	for (i = 0; i < N; i++) {
		char body[32];
		int len = snprintf(body, sizeof(body), "m%u", i);

		publish_props(c, 2, "", q, false, &persistent, body, (size_t)len);
	}
	wait_confirms(c, 2, N);
	client_close_channel(c, 2);
	if (!broker_is_oracle())
		ck_assert_uint_gt(api_queue_field(q, "messages_paged_out"), 0);

	/*
	 * reject-publish, then its limit lowered: the queue keeps its N; a publish is refused once
	 * the policy applies. (RabbitMQ 3.10 applies max-length before overflow: a policy that sets
	 * both on a drop-head queue would drop once there, interop/DIFFERENCES.md.)
	 */
	policy_set(false, name, fmt("^%s\\.q$", p),
	    fmt("{\"max-length\":%d,\"overflow\":\"reject-publish\",\"dead-letter-exchange\":"
	        "\"%s\"}",
	        10 * N, dlx),
	    0, "queues");
	policy_set(false, name, fmt("^%s\\.q$", p),
	    fmt("{\"max-length\":%d,\"overflow\":\"reject-publish\",\"dead-letter-exchange\":"
	        "\"%s\"}",
	        MAX, dlx),
	    0, "queues");
	client_open(c, 3);
	CHECK_RPC(c, amqp_confirm_select(c, 3));
	deadline = now_ms() + 2 * WAIT_MS;
	for (;;) { /* RabbitMQ applies the policy asynchronously: until then, publishes go in */
		publish(c, 3, "", q, fmt("late%u", acked));
		ck_assert_msg(client_next(c, &m, WAIT_MS) == 1 && m.channel == 3, "no confirm");
		if (m.id == AMQP_BASIC_NACK_METHOD) {
			msg_free(&m);
			break;
		}
		ck_assert_uint_eq(m.id, AMQP_BASIC_ACK_METHOD);
		msg_free(&m);
		acked++;
		ck_assert_msg(now_ms() < deadline, "reject-publish never applied");
		sleep_ms(10);
	}
	if (!broker_is_oracle())
		ck_assert_uint_eq(acked, 0); /* Warren: in force when the API answered */
	total += acked;
	ck_assert_uint_eq(queue_count(c, 1, q), total);

	/* drop-head: down to MAX at once, the paged head read back and dead-lettered in order. */
	policy_set(false, name, fmt("^%s\\.q$", p),
	    fmt("{\"max-length\":%d,\"dead-letter-exchange\":\"%s\"}", MAX, dlx), 0, "queues");
	wait_api_count(c, q, MAX);
	wait_count(c, dlq, total - MAX);
	consume(c, 1, dlq, "dead", true);
	for (i = 0; i < total - MAX; i++) {
		char want[32];

		if (i < N)
			snprintf(want, sizeof(want), "m%u", i);
		else
			snprintf(want, sizeof(want), "late%u", i - N);
		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		ck_assert_msg(m.body_len == strlen(want) && memcmp(m.body, want, m.body_len) == 0,
		    "dead-lettered message %u: \"%.*s\", expected \"%s\"", i, (int)m.body_len,
		    (const char *)m.body, want);
		msg_free(&m);
	}
	CHECK_RPC(c, amqp_basic_cancel(c, 1, B("dead")));
	for (i = total - MAX; i < total; i++)
		expect_get(c, 1, q, i < N ? fmt("m%u", i) : fmt("late%u", i - N));
	expect_get(c, 1, q, NULL);
	policy_clear(false, name);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(dlq), 0, 0));
	client_close(c);
}
END_TEST

/* A policy against arguments: the smaller max-length wins either way; x-overflow wins. */
START_TEST(smaller_of_policy_and_argument)
{
	const char *p = prefix("min"), *q1 = keep(fmt("%s.arg3", p)), *q2 = keep(fmt("%s.arg9", p)),
	           *q3 = keep(fmt("%s.reject", p)), *name = keep(fmt("%s-min", p));
	conn_t c;

	if (!can_set_policies())
		return;
	policy_set(false, name, fmt("^%s\\.", p), "{\"max-length\":5,\"overflow\":\"drop-head\"}",
	    0, "queues");
	c = client_connect_ch1();
	declare_queue_args(c, 1, q1, TABLE(ent_int("x-max-length", 3)));
	declare_queue_args(c, 1, q2, TABLE(ent_int("x-max-length", 9)));
	declare_queue_args(
	    c, 1, q3, TABLE(ent_int("x-max-length", 2), ent_str("x-overflow", "reject-publish")));
	put_n(c, q1, 1, 7);
	put_n(c, q2, 1, 7);
	ck_assert_uint_eq(queue_count(c, 1, q1), 3); /* the argument's 3 */
	ck_assert_uint_eq(queue_count(c, 1, q2), 5); /* the policy's 5 */
	/* reject-publish (the argument) over the policy's drop-head: the first two stay. */
	client_open(c, 2); /* not in confirm mode: reject-publish's nack would come on 1 */
	publish(c, 2, "", q3, "m1");
	publish(c, 2, "", q3, "m2");
	publish(c, 2, "", q3, "m3");
	wait_count(c, q3, 2);
	expect_get(c, 1, q3, "m1");
	expect_get(c, 1, q3, "m2");
	policy_clear(false, name);
	client_close(c);
}
END_TEST

/* An operator policy caps a policy: per key, the smaller value. */
START_TEST(operator_policy_caps_policy)
{
	const char *p = prefix("op"), *q = keep(fmt("%s.q", p)), *q2 = keep(fmt("%s.r", p)),
	           *name = keep(fmt("%s-pol", p)), *opname = keep(fmt("%s-cap", p));
	conn_t c;

	if (!can_set_policies())
		return;
	policy_set(false, name, fmt("^%s\\.q", p), "{\"max-length\":6}", 0, "queues");
	policy_set(false, fmt("%s-r", p), fmt("^%s\\.r", p), "{\"max-length\":1}", 0, "queues");
	policy_set(true, opname, fmt("^%s\\.", p), "{\"max-length\":2}", 0, "queues");
	c = client_connect_ch1();
	declare_queue(c, 1, q);
	declare_queue(c, 1, q2);
	put_n(c, q, 1, 5);
	put_n(c, q2, 1, 5);
	ck_assert_uint_eq(queue_count(c, 1, q), 2);  /* the operator policy's cap */
	ck_assert_uint_eq(queue_count(c, 1, q2), 1); /* the policy's, smaller than the cap */
	policy_clear(true, opname);
	policy_clear(false, name);
	policy_clear(false, fmt("%s-r", p));
	client_close(c);
}
END_TEST

/* Of two matching policies, the higher priority applies (the other's keys do not mix in). */
START_TEST(highest_priority_wins)
{
	const char *p = prefix("prio"), *q = keep(fmt("%s.q", p)), *lo = keep(fmt("%s-lo", p)),
	           *hi = keep(fmt("%s-hi", p));
	conn_t c;

	if (!can_set_policies())
		return;
	policy_set(
	    false, lo, fmt("^%s\\.", p), "{\"max-length\":1,\"message-ttl\":50}", 1, "queues");
	policy_set(false, hi, fmt("^%s\\.q$", p), "{\"max-length\":3}", 2, "all");
	c = client_connect_ch1();
	declare_queue(c, 1, q);
	put_n(c, q, 1, 4);
	sleep_ms(150); /* longer than the low one's TTL, which must not apply */
	ck_assert_uint_eq(queue_count(c, 1, q), 3);
	expect_get(c, 1, q, "m2");
	policy_clear(false, hi);
	policy_clear(false, lo);
	client_close(c);
}
END_TEST

/* apply-to exchanges: an alternate exchange by policy; a queues-only policy leaves exchanges. */
START_TEST(alternate_exchange_by_policy)
{
	const char *p = prefix("ae"), *x = keep(fmt("%s.x", p)), *ae = keep(fmt("%s.ae", p)),
	           *aq = keep(fmt("%s.aq", p)), *name = keep(fmt("%s-ae", p)),
	           *qname = keep(fmt("%s-qonly", p));
	conn_t c;

	if (!can_set_policies())
		return;
	policy_set(false, qname, fmt("^%s\\.x$", p), fmt("{\"alternate-exchange\":\"%s\"}", ae), 9,
	    "queues");
	policy_set(false, name, fmt("^%s\\.x$", p), fmt("{\"alternate-exchange\":\"%s\"}", ae), 0,
	    "exchanges");
	c = client_connect_ch1();
	declare_exchange(c, 1, ae, "fanout");
	declare_queue(c, 1, aq);
	bind_queue(c, 1, aq, ae, "");
	declare_exchange(c, 1, x, "direct");
	publish_confirmed(c, 1, x, "nowhere", NULL, "unroutable");
	wait_count(c, aq, 1);
	expect_get(c, 1, aq, "unroutable");
	/* Without the policy, the exchange has no alternate any more. */
	policy_clear(false, name);
	{
		int64_t deadline = now_ms() + 2 * WAIT_MS;
		struct msg m;
		int i = 0;
		/* RabbitMQ applies the change asynchronously: until then messages still go there. */
		for (;;) {
			publish_confirmed(c, 1, x, "nowhere", NULL, fmt("after-%d", i++));
			if (queue_count(c, 1, aq) == 0)
				break;
			while (get_msg(c, 1, aq, true, &m))
				msg_free(&m);
			ck_assert_msg(now_ms() < deadline, "the alternate exchange still applies");
			sleep_ms(10);
		}
		if (!broker_is_oracle())
			ck_assert_int_eq(i, 1); /* Warren: at once */
	}
	policy_clear(false, qname);
	client_close(c);
}
END_TEST

/* dead-letter-exchange by policy: a rejected message arrives with x-death. */
START_TEST(dead_letter_exchange_by_policy)
{
	const char *p = prefix("dlx"), *q = keep(fmt("%s.q", p)), *dlx = keep(fmt("%s.dlx", p)),
	           *dlq = keep(fmt("%s.dlq", p)), *name = keep(fmt("%s-dlx", p));
	const amqp_field_value_t *death, *v;
	amqp_table_t *d;
	struct msg m;
	uint64_t tag;
	conn_t c;

	if (!can_set_policies())
		return;
	policy_set(false, name, fmt("^%s\\.q$", p),
	    fmt("{\"dead-letter-exchange\":\"%s\",\"dead-letter-routing-key\":\"dead\"}", dlx), 0,
	    "queues");
	c = client_connect_ch1();
	declare_exchange(c, 1, dlx, "direct");
	declare_queue(c, 1, dlq);
	bind_queue(c, 1, dlq, dlx, "dead");
	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, NULL, "doomed");
	get_one(c, 1, q, "doomed", &tag);
	amqp_basic_reject(c, 1, tag, 0);
	wait_count(c, dlq, 1);
	ck_assert(get_msg(c, 1, dlq, true, &m));
	ck_assert(m.props->_flags & AMQP_BASIC_HEADERS_FLAG);
	death = table_get(&m.props->headers, "x-death");
	ck_assert_msg(death != NULL && death->kind == AMQP_FIELD_KIND_ARRAY &&
	        death->value.array.num_entries == 1,
	    "no x-death");
	ck_assert_int_eq(death->value.array.entries[0].kind, AMQP_FIELD_KIND_TABLE);
	d = &death->value.array.entries[0].value.table;
	v = table_get(d, "reason");
	ck_assert(v != NULL && bytes_is(v->value.bytes, "rejected"));
	v = table_get(d, "queue");
	ck_assert(v != NULL && bytes_is(v->value.bytes, q));
	v = table_get(d, "exchange");
	ck_assert(v != NULL && bytes_is(v->value.bytes, ""));
	msg_free(&m);
	policy_clear(false, name);
	client_close(c);
}
END_TEST

/* delivery-limit by policy: past it, dead-lettered with reason delivery_limit. RabbitMQ 3.10
 * takes the key on quorum queues only: in oracle mode the queue is one. */
START_TEST(delivery_limit_by_policy)
{
	const char *p = prefix("dl"), *q = keep(fmt("%s.q", p)), *dlx = keep(fmt("%s.dlx", p)),
	           *dlq = keep(fmt("%s.dlq", p)), *name = keep(fmt("%s-dl", p));
	const amqp_field_value_t *death, *v;
	struct msg m;
	uint64_t tag;
	conn_t c;
	int i;

	if (!can_set_policies())
		return;
	policy_set(false, name, fmt("^%s\\.q$", p),
	    fmt("{\"delivery-limit\":1,\"dead-letter-exchange\":\"%s\"}", dlx), 0, "queues");
	c = client_connect_ch1();
	declare_exchange(c, 1, dlx, "fanout");
	declare_queue(c, 1, dlq);
	bind_queue(c, 1, dlq, dlx, "");
	if (broker_is_oracle())
		amqp_queue_declare(
		    c, 1, B(q), 0, 1, 0, 0, TABLE(ent_str("x-queue-type", "quorum")));
	else
		amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
	client_ok(c, "queue.declare");
	publish_confirmed(c, 1, "", q, NULL, "limited");
	for (i = 0; i < 2; i++) {
		int64_t deadline = now_ms() + 2 * WAIT_MS;
		while (!get_msg(c, 1, q, false, &m)) {
			ck_assert_msg(now_ms() < deadline, "the message did not come back");
			sleep_ms(10);
		}
		tag = ((amqp_basic_get_ok_t *)m.method)->delivery_tag;
		msg_free(&m);
		amqp_basic_reject(c, 1, tag, 1);
	}
	wait_count(c, dlq, 1);
	ck_assert(get_msg(c, 1, dlq, true, &m));
	death = table_get(&m.props->headers, "x-death");
	ck_assert(death != NULL && death->kind == AMQP_FIELD_KIND_ARRAY);
	v = table_get(&death->value.array.entries[0].value.table, "reason");
	ck_assert(v != NULL && bytes_is(v->value.bytes, "delivery_limit"));
	msg_free(&m);
	ck_assert_uint_eq(queue_count(c, 1, q), 0);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	policy_clear(false, name);
	client_close(c);
}
END_TEST

/* A policy removed: the queue is back to its arguments. */
START_TEST(policy_removed_back_to_arguments)
{
	const char *p = prefix("rm"), *q = keep(fmt("%s.q", p)), *name = keep(fmt("%s-rm", p));
	int64_t deadline;
	int i = 0;
	conn_t c;

	if (!can_set_policies())
		return;
	policy_set(false, name, fmt("^%s\\.", p), "{\"max-length\":1}", 0, "queues");
	c = client_connect_ch1();
	declare_queue_args(c, 1, q, TABLE(ent_int("x-max-length", 4)));
	put_n(c, q, 1, 3);
	ck_assert_uint_eq(queue_count(c, 1, q), 1);
	policy_clear(false, name);
	/* Publish until the queue holds more than the policy's 1 (at once on Warren). */
	deadline = now_ms() + 2 * WAIT_MS;
	while (queue_count(c, 1, q) < 2) {
		publish_confirmed(c, 1, "", q, NULL, fmt("n%d", i++));
		ck_assert_msg(now_ms() < deadline, "max-length 1 still applies");
	}
	if (!broker_is_oracle())
		ck_assert_int_eq(i, 1);
	put_n(c, q, 10, 20);
	ck_assert_uint_eq(queue_count(c, 1, q), 4); /* the argument's */
	client_close(c);
}
END_TEST

/* ---- Warren only ---- */

/* dispatch (x-dispatch) least-unacked by policy: the consumer with fewer unacked gets more. */
START_TEST(dispatch_by_policy)
{
	const char *p = prefix("disp"), *q = keep(fmt("%s.q", p)), *name = keep(fmt("%s-d", p));
	conn_t c;

	WARREN_ONLY();
	policy_set(false, name, fmt("^%s\\.", p), "{\"dispatch\":\"least-unacked\"}", 0, "queues");
	c = client_connect_ch1();
	client_open(c, 2);
	client_open(c, 3);
	declare_queue(c, 1, q);
	consume(c, 2, q, "busy", false);
	publish(c, 1, "", q, "a1");
	publish(c, 1, "", q, "a2");
	expect_deliver(c, 2, "a1");
	expect_deliver(c, 2, "a2"); /* "busy" holds two unacked */
	consume(c, 3, q, "idle", false);
	publish(c, 1, "", q, "b1");
	publish(c, 1, "", q, "b2");
	/* Round robin would give one each; least-unacked gives both to the idle one. */
	expect_deliver(c, 3, "b1");
	expect_deliver(c, 3, "b2");
	client_quiet(c, QUIET_MS);
	policy_clear(false, name);
	client_close(c);
}
END_TEST

/* A durable queue's policy comes from the files again after a restart. */
START_TEST(durable_queue_policy_after_restart)
{
	const char *p = prefix("dur"), *q = keep(fmt("%s.q", p)), *name = keep(fmt("%s-dur", p));
	char err[256], *body = NULL;
	int status;
	conn_t c;

	SKIP_IN_ORACLE();
	start_files(); /* this group's own broker: the test restarts it */
	policy_set(false, name, fmt("^%s\\.", p), "{\"max-length\":2}", 0, "queues");
	c = client_connect_ch1();
	amqp_queue_declare(c, 1, B(q), 0, 1, 0, 0, amqp_empty_table);
	client_ok(c, "queue.declare durable");
	client_close(c);
	broker_terminate(&broker, 10000, &status);
	ck_assert_int_eq(broker_respawn(&broker, err, sizeof(err)), 0);
	c = client_connect_ch1();
	put_n(c, q, 1, 4);
	ck_assert_uint_eq(queue_count(c, 1, q), 2);
	ck_assert_int_eq(api("GET", fmt("/api/queues/%%2F/%s", q), NULL, &body), 200);
	ck_assert_msg(strstr(body, fmt("\"policy\":\"%s\"", name)) != NULL, "%s", body);
	ck_assert_msg(
	    strstr(body, "\"effective_policy_definition\":{\"max-length\":2}") != NULL, "%s", body);
	free(body);
	policy_clear(false, name);
	client_close(c);
	stop_files();
}
END_TEST

/*
 * A drop-head limit in the files when a paged durable queue comes back: the queue is read back
 * and dropped to the limit after recovery, dead-lettering in order, without a client's help.
 */
START_TEST(paged_queue_trimmed_after_restart)
{
	enum { N = 6000, MAX = 50 };
	const char *p = prefix("rtrim"), *q = keep(fmt("%s.q", p)), *dlx = keep(fmt("%s.dlx", p)),
	           *dlq = keep(fmt("%s.dlq", p));
	amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
		.delivery_mode = 2 };
	char err[256], want[32];
	int64_t deadline;
	uint32_t i;
	struct msg m;
	int status;
	FILE *f;
	conn_t c;

	SKIP_IN_ORACLE();
	start_files();
	c = client_connect_ch1();
	amqp_exchange_declare(c, 1, B(dlx), B("fanout"), 0, 1, 0, 0, amqp_empty_table);
	client_ok(c, "exchange.declare durable");
	CHECK_RPC(c, amqp_queue_declare(c, 1, B(dlq), 0, 1, 0, 0, amqp_empty_table));
	bind_queue(c, 1, dlq, dlx, "");
	CHECK_RPC(c, amqp_queue_declare(c, 1, B(q), 0, 1, 0, 0, amqp_empty_table));
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	for (i = 0; i < N; i++) {
		int len = snprintf(want, sizeof(want), "m%u", i);
		publish_props(c, 1, "", q, false, &persistent, want, (size_t)len);
	}
	wait_confirms(c, 1, N);
	client_close(c);
	ck_assert_uint_gt(api_queue_field(q, "messages_paged_out"), 0);
	broker_terminate(&broker, 10000, &status);
	f = fopen(fmt("%s/default.vhost", vdir), "a");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
	    "policy %s-len '^%s\\.q$' '{\"max-length\": %d, \"dead-letter-exchange\": \"%s\"}'\n",
	    p, p, MAX, dlx);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(broker_respawn(&broker, err, sizeof(err)), 0);
	deadline = now_ms() + 4 * WAIT_MS;
	while (api_queue_field(q, "messages") != MAX) {
		ck_assert_msg(now_ms() < deadline, "%s still holds %llu", q,
		    (unsigned long long)api_queue_field(q, "messages"));
		sleep_ms(10);
	}
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, dlq), N - MAX);
	consume(c, 1, dlq, "dead", true);
	for (i = 0; i < N - MAX; i++) {
		snprintf(want, sizeof(want), "m%u", i);
		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		ck_assert_msg(m.body_len == strlen(want) && memcmp(m.body, want, m.body_len) == 0,
		    "dead-lettered message %u: \"%.*s\"", i, (int)m.body_len, (const char *)m.body);
		msg_free(&m);
	}
	CHECK_RPC(c, amqp_basic_cancel(c, 1, B("dead")));
	for (i = N - MAX; i < N; i++)
		expect_get(c, 1, q, fmt("m%u", i));
	expect_get(c, 1, q, NULL);
	client_close(c);
	ck_assert_int_eq(broker_log_count(&broker, " error "), 0);
	stop_files();
}
END_TEST

/* A bad policy line: the reload is refused with FILE:LINE and RabbitMQ's reason; nothing changes. */
START_TEST(bad_policy_line_refused)
{
	char path[300];
	int before = broker_log_count(&broker, "reload refused");
	int64_t deadline = now_ms() + 4 * WAIT_MS;
	struct stat st;
	FILE *f;

	WARREN_ONLY();
	snprintf(path, sizeof(path), "%s/default.vhost", vdir);
	ck_assert_int_eq(stat(path, &st), 0);
	f = fopen(path, "a");
	ck_assert(f != NULL);
	fprintf(f, "policy broken '.*' '{\"overflow\":\"sideways\"}'\n");
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
	while (broker_log_count(&broker, "reload refused") == before) {
		ck_assert_msg(now_ms() < deadline, "no refusal after SIGHUP");
		sleep_ms(10);
	}
	ck_assert_int_ge(broker_log_count(&broker,
	                     "default.vhost:4: policy 'broken': <<\"sideways\">> is not a valid "
	                     "overflow value"),
	    1);
	ck_assert_int_eq(truncate(path, st.st_size), 0); /* the file as it was */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("18-policies");
	TCase *tc = group(s, "queues");

	tcase_add_test(tc, bad_policy_line_refused); /* first: it knows the file's line numbers */
	tcase_add_test(tc, ttl_by_policy);
	tcase_add_test(tc, max_length_on_existing_queue);
	tcase_add_test(tc, max_length_on_paged_queue);
	tcase_add_test(tc, smaller_of_policy_and_argument);
	tcase_add_test(tc, operator_policy_caps_policy);
	tcase_add_test(tc, highest_priority_wins);
	tcase_add_test(tc, alternate_exchange_by_policy);
	tcase_add_test(tc, dead_letter_exchange_by_policy);
	tcase_add_test(tc, delivery_limit_by_policy);
	tcase_add_test(tc, policy_removed_back_to_arguments);
	tcase_add_test(tc, dispatch_by_policy);
	tc = tcase_create("restart"); /* no group broker: the test starts and restarts its own */
	tcase_set_timeout(tc, TEST_TIMEOUT);
	suite_add_tcase(s, tc);
	tcase_add_test(tc, durable_queue_policy_after_restart);
	tcase_add_test(tc, paged_queue_trimmed_after_restart);
	return harness_run(s);
}
