/*
 * 16-hash-dispatch: spreading load. The consistent-hash exchange (x-consistent-hash, as RabbitMQ's
 * rabbitmq_consistent_hash_exchange plugin): binding keys are weights, checked as the plugin
 * checks them; messages spread in proportion to the weights (a chi-square test over 100,000
 * routing keys); a new queue takes about 1/(n+1) of the keys and no key moves elsewhere; the hash
 * of a header (hash-header) or a property (hash-property); unbinding; exchange-to-exchange
 * bindings; and a durable exchange's ring after a restart. Then a queue's x-dispatch argument
 * (Warren's own): least-unacked spares a slow consumer that round robin keeps feeding.
 *
 * In oracle mode RabbitMQ needs the plugin enabled (rabbitmq-plugins enable
 * rabbitmq_consistent_hash_exchange); x-dispatch is Warren's, so its tests are Warren-only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interop/client.h"

#define CHX "x-consistent-hash"

/* A unique name of its own (uniq's buffers are reused after 63 calls of uniq or fmt). */
#define NAME(var, what) \
	char var[96];   \
	snprintf(var, sizeof(var), "%s", uniq(what))

/* Declare a consistent-hash exchange with these arguments. */
static void declare_chx(conn_t c, const char *x, bool durable, amqp_table_t args)
{
	amqp_exchange_declare(c, 1, B(x), B(CHX), 0, durable, 0, 0, args);
	client_ok(c, fmt("exchange.declare %s " CHX, x));
}

/* n exclusive queues named prefix-0 ... */
static void declare_queues(conn_t c, const char *prefix, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		amqp_queue_declare(c, 1, B(fmt("%s-%d", prefix, i)), 0, 0, 1, 0, amqp_empty_table);
		client_ok(c, "queue.declare");
	}
}

/*
 * Publish n messages to x on channel 2 in confirm mode, message i with routing key "key-i" and
 * the properties props(i) give (NULL: none), in batches whose confirms are awaited, so that
 * the messages are in their queues afterwards.
 */
typedef const amqp_basic_properties_t *(*props_fn)(int i);
static void publish_keys(conn_t c, const char *x, int n, props_fn props)
{
	const int batch = 2000;
	int i, j;

	for (i = 0; i < n; i += batch) {
		client_open(c, 2);
		CHECK_RPC(c, amqp_confirm_select(c, 2));
		for (j = i; j < n && j < i + batch; j++)
			publish_props(c, 2, x, fmt("key-%d", j), false,
			    props != NULL ? props(j) : NULL, "m", 1);
		wait_confirms(c, 2, (uint64_t)(j - i));
		client_close_channel(c, 2);
	}
}

/*
 * Consume every queue prefix-0 ... prefix-(nq-1) (no-ack) until n messages came, and record in
 * where[i] which queue the message with routing key "key-i" went to (-1: none came).
 */
static void drain_keys(conn_t c, const char *prefix, int nq, int n, int *where)
{
	struct msg m;
	int i, got = 0, q, k;

	for (i = 0; i < n; i++)
		where[i] = -1;
	for (q = 0; q < nq; q++)
		consume(c, 1, fmt("%s-%d", prefix, q), fmt("q%d", q), true);
	while (got < n) {
		ck_assert_msg(client_next(c, &m, WAIT_MS) == 1, "%d of %d messages came", got, n);
		ck_assert_uint_eq(m.id, AMQP_BASIC_DELIVER_METHOD);
		amqp_basic_deliver_t *d = m.method;
		ck_assert_int_eq(
		    sscanf(fmt("%.*s", (int)d->consumer_tag.len, (char *)d->consumer_tag.bytes),
		        "q%d", &q),
		    1);
		ck_assert_int_eq(
		    sscanf(fmt("%.*s", (int)d->routing_key.len, (char *)d->routing_key.bytes),
		        "key-%d", &k),
		    1);
		ck_assert(k >= 0 && k < n);
		ck_assert_msg(where[k] == -1, "key-%d came twice", k);
		where[k] = q;
		msg_free(&m);
		got++;
	}
	for (q = 0; q < nq; q++)
		CHECK_RPC(c, amqp_basic_cancel(c, 1, B(fmt("q%d", q))));
	client_quiet(c, QUIET_MS); /* and no more */
}

/* ---- the binding key is a weight ---- */

START_TEST(binding_key_must_be_a_positive_integer)
{
	static const struct {
		const char *key, *text; /* NULL text: accepted */
	} cases[] = {
		{ "1", NULL },
		{ "+3", NULL },
		{ "007", NULL },
		{ "abc", "PRECONDITION_FAILED - The binding key must be an integer: <<\"abc\">>" },
		{ "", "PRECONDITION_FAILED - The binding key must be an integer: <<>>" },
		{ " 3", "PRECONDITION_FAILED - The binding key must be an integer: <<\" 3\">>" },
		{ "3.5", "PRECONDITION_FAILED - The binding key must be an integer: <<\"3.5\">>" },
		{ "1e3", "PRECONDITION_FAILED - The binding key must be an integer: <<\"1e3\">>" },
		{ "a\"b\\c\n",
		    "PRECONDITION_FAILED - The binding key must be an integer: "
		    "<<\"a\\\"b\\\\c\\n\">>" },
		{ "\x1a", "PRECONDITION_FAILED - The binding key must be an integer: <<26>>" },
		{ "0", "PRECONDITION_FAILED - The binding key must be greater than 0" },
		{ "-1", "PRECONDITION_FAILED - The binding key must be greater than 0" },
		{ "+0", "PRECONDITION_FAILED - The binding key must be greater than 0" },
	};
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	size_t i;

	declare_chx(c, x, false, amqp_empty_table);
	declare_queues(c, q, 1);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		amqp_queue_bind(c, 1, B(fmt("%s-0", q)), B(x), B(cases[i].key), amqp_empty_table);
		if (cases[i].text == NULL) {
			client_ok(c, fmt("queue.bind with key '%s'", cases[i].key));
			continue;
		}
		rpc_channel_error(c, 1, 406, cases[i].text);
		ck_assert_uint_eq(close_method_id, 20); /* queue.bind */
		client_open(c, 1);
		/* Unbinding what was never bound succeeds, whatever the key. */
		amqp_queue_unbind(c, 1, B(fmt("%s-0", q)), B(x), B(cases[i].key), amqp_empty_table);
		client_ok(c, "queue.unbind");
	}
	/* exchange.bind is checked the same way. */
	declare_exchange(c, 1, fmt("%s-dest", x), "fanout");
	amqp_exchange_bind(c, 1, B(fmt("%s-dest", x)), B(x), B("w"), amqp_empty_table);
	rpc_channel_error(
	    c, 1, 406, "PRECONDITION_FAILED - The binding key must be an integer: <<\"w\">>");
	client_close(c);
}
END_TEST

/* RabbitMQ takes any integer, and runs out of memory building the buckets of a large one. */
START_TEST(weight_past_2147483647_refused)
{
	conn_t c;
	NAME(x, "chx");
	NAME(q, "q");

	WARREN_ONLY();
	c = client_connect_ch1();
	declare_chx(c, x, false, amqp_empty_table);
	declare_queues(c, q, 1);
	bind_queue(c, 1, fmt("%s-0", q), x, "2147483647");
	amqp_queue_bind(c, 1, B(fmt("%s-0", q)), B(x), B("2147483648"), amqp_empty_table);
	rpc_channel_error(
	    c, 1, 406, "PRECONDITION_FAILED - The binding key must be at most 2147483647");
	client_open(c, 1);
	amqp_queue_bind(
	    c, 1, B(fmt("%s-0", q)), B(x), B("99999999999999999999999"), amqp_empty_table);
	rpc_channel_error(
	    c, 1, 406, "PRECONDITION_FAILED - The binding key must be at most 2147483647");
	client_close(c);
}
END_TEST

/* ---- the exchange's arguments ---- */

START_TEST(hash_header_and_hash_property_exclusive)
{
	conn_t c = client_connect_ch1();
	NAME(x, "chx");

	amqp_exchange_declare(c, 1, B(x), B(CHX), 0, 0, 0, 0,
	    TABLE(ent_str("hash-header", "h"), ent_str("hash-property", "message_id")));
	rpc_channel_error(c, 1, 406,
	    "PRECONDITION_FAILED - hash-header and hash-property are mutually exclusive");
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 10);
	client_open(c, 1);
	amqp_exchange_declare(
	    c, 1, B(x), B(CHX), 0, 0, 0, 0, TABLE(ent_str("hash-property", "app_id")));
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - Unsupported property: app_id");
	client_open(c, 1);
	amqp_exchange_declare(c, 1, B(x), B(CHX), 1, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 404, NULL); /* neither declare made it */
	client_open(c, 1);
	/* Each supported property is taken; an empty header name too. */
	declare_chx(c, fmt("%s-m", x), false, TABLE(ent_str("hash-property", "message_id")));
	declare_chx(c, fmt("%s-c", x), false, TABLE(ent_str("hash-property", "correlation_id")));
	declare_chx(c, fmt("%s-t", x), false, TABLE(ent_str("hash-property", "timestamp")));
	declare_chx(c, fmt("%s-h", x), false, TABLE(ent_str("hash-header", "")));
	/* Redeclaring with other hash arguments is no error: only alternate-exchange is compared. */
	declare_chx(c, fmt("%s-m", x), false, TABLE(ent_str("hash-header", "h")));
	client_close(c);
}
END_TEST

/* RabbitMQ 3.10 closes the connection with 541 INTERNAL_ERROR on a non-string value. */
START_TEST(hash_argument_not_a_string_406)
{
	conn_t c;
	NAME(x, "chx");

	WARREN_ONLY();
	c = client_connect_ch1();
	amqp_exchange_declare(c, 1, B(x), B(CHX), 0, 0, 0, 0, TABLE(ent_i32("hash-header", 5)));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid type 'signedint' for arg 'hash-header' in exchange "
	        "'%s' in vhost '/'",
	        x));
	client_open(c, 1);
	amqp_exchange_declare(
	    c, 1, B(x), B(CHX), 0, 0, 0, 0, TABLE(ent_bool("hash-property", true)));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid type 'bool' for arg 'hash-property' in exchange "
	        "'%s' in vhost '/'",
	        x));
	client_close(c);
}
END_TEST

/* ---- distribution ---- */

/*
 * Three queues weighted 1, 2 and 3 get 100,000 distinct routing keys in proportion: Pearson's
 * chi-square against the weights, 2 degrees of freedom, stays under 9.210 (1% significance).
 */
START_TEST(keys_spread_in_proportion_to_weights)
{
	const int n = 100000, w[3] = { 1, 2, 3 };
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	double chi2 = 0, expect;
	uint32_t got[3], total = 0;
	int i;

	declare_chx(c, x, false, amqp_empty_table);
	declare_queues(c, q, 3);
	for (i = 0; i < 3; i++)
		bind_queue(c, 1, fmt("%s-%d", q, i), x, fmt("%d", w[i]));
	publish_keys(c, x, n, NULL);
	for (i = 0; i < 3; i++) {
		got[i] = queue_count(c, 1, fmt("%s-%d", q, i));
		total += got[i];
		expect = (double)n * w[i] / 6;
		chi2 += (got[i] - expect) * (got[i] - expect) / expect;
	}
	fprintf(stderr, "16-hash-dispatch: weights 1,2,3 over %d keys: %u %u %u, chi-square %.3f\n",
	    n, got[0], got[1], got[2], chi2);
	ck_assert_uint_eq(total, n);
	ck_assert_msg(chi2 < 9.210, "chi-square %.3f: %u %u %u", chi2, got[0], got[1], got[2]);
	client_close(c);
}
END_TEST

/*
 * Four queues of weight 1, then a fifth: about a fifth of 20,000 keys move, every one of them to
 * the new queue; the others stay where they were.
 */
START_TEST(new_queue_takes_its_share_and_nothing_else_moves)
{
	const int n = 20000, nq = 4;
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	int *before = calloc(n, sizeof(int)), *after = calloc(n, sizeof(int));
	int i, moved = 0;
	double frac;

	ck_assert(before != NULL && after != NULL);
	declare_chx(c, x, false, amqp_empty_table);
	declare_queues(c, q, nq + 1);
	for (i = 0; i < nq; i++)
		bind_queue(c, 1, fmt("%s-%d", q, i), x, "1");
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, nq + 1, n, before);
	bind_queue(c, 1, fmt("%s-%d", q, nq), x, "1");
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, nq + 1, n, after);
	for (i = 0; i < n; i++) {
		ck_assert_int_lt(before[i], nq);
		if (after[i] == before[i])
			continue;
		ck_assert_msg(after[i] == nq, "key-%d moved from queue %d to queue %d", i,
		    before[i], after[i]);
		moved++;
	}
	frac = (double)moved / n;
	fprintf(
	    stderr, "16-hash-dispatch: a fifth queue took %d of %d keys (%.4f)\n", moved, n, frac);
	/* 1/5, give or take 0.02: more than six standard deviations (0.0028) either way */
	ck_assert_msg(fabs(frac - 1.0 / (nq + 1)) < 0.02, "%.4f of the keys moved", frac);
	free(before);
	free(after);
	client_close(c);
}
END_TEST

/* Unbinding a queue: its keys go to the others; with no binding left nothing is routed. */
START_TEST(unbind_hands_keys_to_the_others)
{
	const int n = 3000;
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	int *where = calloc(n, sizeof(int)), i, per[3] = { 0 };
	struct msg m;

	ck_assert(where != NULL);
	declare_chx(c, x, false, amqp_empty_table);
	declare_queues(c, q, 3);
	for (i = 0; i < 3; i++)
		bind_queue(c, 1, fmt("%s-%d", q, i), x, "1");
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(fmt("%s-1", q)), B(x), B("1"), amqp_empty_table));
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, 3, n, where);
	for (i = 0; i < n; i++)
		per[where[i]]++;
	ck_assert_int_eq(per[1], 0);
	ck_assert_int_gt(per[0], n / 3);
	ck_assert_int_gt(per[2], n / 3);
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(fmt("%s-0", q)), B(x), B("1"), amqp_empty_table));
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(fmt("%s-2", q)), B(x), B("1"), amqp_empty_table));
	publish_props(c, 1, x, "key-1", true, NULL, "m", 1);
	client_expect(c, 1, AMQP_BASIC_RETURN_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_return_t *)m.method)->reply_code, 312);
	msg_free(&m);
	free(where);
	client_close(c);
}
END_TEST

/*
 * As the plugin: a second binding to the same queue (another weight) adds no buckets, and
 * unbinding either of them takes the queue out of the ring although the other remains.
 */
START_TEST(second_binding_to_a_queue_adds_nothing)
{
	const int n = 3000;
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	int *where = calloc(n, sizeof(int)), i, per[2] = { 0 };

	ck_assert(where != NULL);
	declare_chx(c, x, false, amqp_empty_table);
	declare_queues(c, q, 2);
	bind_queue(c, 1, fmt("%s-0", q), x, "1");
	bind_queue(c, 1, fmt("%s-0", q), x, "9");
	bind_queue(c, 1, fmt("%s-1", q), x, "1");
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, 2, n, where);
	for (i = 0; i < n; i++)
		per[where[i]]++;
	/* Weights 1 and 1 (not 10 and 1): about half each. */
	ck_assert_msg(per[0] > n * 4 / 10 && per[1] > n * 4 / 10, "%d and %d", per[0], per[1]);
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(fmt("%s-0", q)), B(x), B("9"), amqp_empty_table));
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, 2, n, where);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(where[i], 1);
	free(where);
	client_close(c);
}
END_TEST

/* An exchange as a destination: it takes its share and routes it on. */
START_TEST(exchange_destinations_take_their_share)
{
	const int n = 2000;
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	NAME(f, "fan");
	int *where = calloc(n, sizeof(int)), i, per[2] = { 0 };

	ck_assert(where != NULL);
	declare_chx(c, x, false, amqp_empty_table);
	declare_exchange(c, 1, f, "fanout");
	declare_queues(c, q, 2);
	bind_queue(c, 1, fmt("%s-0", q), x, "1");
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(f), B(x), B("3"), amqp_empty_table));
	bind_queue(c, 1, fmt("%s-1", q), f, "");
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, 2, n, where);
	for (i = 0; i < n; i++)
		per[where[i]]++;
	/* Weights 1 and 3: a quarter and three quarters, roughly. */
	ck_assert_msg(per[0] > n / 5 && per[0] < n * 3 / 10, "%d and %d", per[0], per[1]);
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(f), B(x), B("3"), amqp_empty_table));
	publish_keys(c, x, n, NULL);
	drain_keys(c, q, 2, n, where);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(where[i], 0);
	CHECK_RPC(c, amqp_exchange_delete(c, 1, B(f), 0));
	free(where);
	client_close(c);
}
END_TEST

/* ---- hash-header and hash-property ---- */

static amqp_table_entry_t header_entry;
static amqp_basic_properties_t hash_props;

/* Header "h" with the value v<i mod 50> (a string), and every tenth message without it. */
static const amqp_basic_properties_t *props_header(int i)
{
	if (i % 10 == 9) {
		hash_props = (amqp_basic_properties_t){ 0 };
		return &hash_props;
	}
	header_entry = ent_str("h", fmt("v%d", i % 50));
	hash_props = (amqp_basic_properties_t){ ._flags = AMQP_BASIC_HEADERS_FLAG,
		.headers = { 1, &header_entry } };
	return &hash_props;
}

/* message_id (or correlation_id, or timestamp) with one of 50 values, every tenth without it. */
static int hash_property_kind;
static const amqp_basic_properties_t *props_property(int i)
{
	hash_props = (amqp_basic_properties_t){ 0 };
	if (i % 10 == 9)
		return &hash_props;
	switch (hash_property_kind) {
	case 0:
		hash_props._flags = AMQP_BASIC_MESSAGE_ID_FLAG;
		hash_props.message_id = B(fmt("v%d", i % 50));
		break;
	case 1:
		hash_props._flags = AMQP_BASIC_CORRELATION_ID_FLAG;
		hash_props.correlation_id = B(fmt("v%d", i % 50));
		break;
	default:
		hash_props._flags = AMQP_BASIC_TIMESTAMP_FLAG;
		hash_props.timestamp = 1700000000 + (uint64_t)(i % 50);
	}
	return &hash_props;
}

/*
 * Messages that share the hashed value go to the same queue whatever their routing key, those
 * without it all to one queue (RabbitMQ hashes `undefined`), and the values spread over the nq
 * queues: each takes at least min of them.
 */
static void check_hashed_by_value(const int *where, int n, int nq, int min)
{
	int group[51], i, g, per[8] = { 0 };

	ck_assert_int_le(nq, 8);
	for (g = 0; g < 51; g++)
		group[g] = -1;
	for (i = 0; i < n; i++) {
		g = i % 10 == 9 ? 50 : i % 50;
		if (group[g] == -1)
			group[g] = where[i];
		ck_assert_msg(where[i] == group[g], "key-%d (value %d) went to %d, not %d", i, g,
		    where[i], group[g]);
	}
	for (g = 0; g < 50; g++) /* 45 values: those of messages i % 10 == 9 are never sent */
		if (group[g] >= 0)
			per[group[g]]++;
	for (i = 0; i < nq; i++)
		ck_assert_msg(per[i] >= min, "queue %d took %d of the 50 values", i, per[i]);
}

START_TEST(hash_header_routes_by_its_value)
{
	const int n = 1000;
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	int *where = calloc(n, sizeof(int)), i;

	ck_assert(where != NULL);
	declare_chx(c, x, false, TABLE(ent_str("hash-header", "h")));
	declare_queues(c, q, 3);
	for (i = 0; i < 3; i++)
		bind_queue(c, 1, fmt("%s-%d", q, i), x, "1");
	publish_keys(c, x, n, props_header);
	drain_keys(c, q, 3, n, where);
	check_hashed_by_value(where, n, 3, 5);
	free(where);
	client_close(c);
}
END_TEST

START_TEST(hash_property_routes_by_its_value)
{
	static const char *const names[] = { "message_id", "correlation_id", "timestamp" };
	const int n = 1000;
	conn_t c = client_connect_ch1();
	NAME(x, "chx");
	NAME(q, "q");
	int *where = calloc(n, sizeof(int)), i;

	ck_assert(where != NULL);
	hash_property_kind = _i;
	declare_chx(c, x, false, TABLE(ent_str("hash-property", names[_i])));
	declare_queues(c, q, 3);
	for (i = 0; i < 3; i++)
		bind_queue(c, 1, fmt("%s-%d", q, i), x, "1");
	publish_keys(c, x, n, props_property);
	drain_keys(c, q, 3, n, where);
	check_hashed_by_value(where, n, 3, 5);
	free(where);
	client_close(c);
}
END_TEST

/* ---- restart ---- */

static amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
	.delivery_mode = 2 };
static const amqp_basic_properties_t *props_persistent(int i)
{
	(void)i;
	return &persistent;
}

/* Durable queues dq-0 ... dq-(nq-1), persistent messages: drain what the keys route to. */
static void durable_round(conn_t c, const char *x, int nq, int n, int *where)
{
	publish_keys(c, x, n, props_persistent);
	drain_keys(c, "dq", nq, n, where);
}

/*
 * A durable exchange and its bindings come back with the same ring: bound in an order that is
 * not the order of their keys (RabbitMQ rebuilds its ring in key order, and so moves keys), one
 * unbound before the restart, and one exchange hashing a header; every key goes where it went.
 */
START_TEST(durable_ring_survives_restart)
{
	const int n = 3000, nq = 4;
	static const char *const weights[] = { "3", "1", "2", "5" };
	static const int order[] = { 3, 1, 0, 2 };
	int *before = calloc(n, sizeof(int)), *after = calloc(n, sizeof(int));
	int *hbefore = calloc(n, sizeof(int)), *hafter = calloc(n, sizeof(int));
	conn_t c;
	int i;

	SKIP_IN_ORACLE();
	ck_assert(before != NULL && after != NULL && hbefore != NULL && hafter != NULL);
	own_broker_start(NULL);
	c = client_connect_ch1();
	declare_chx(c, "dchx", true, amqp_empty_table);
	declare_chx(c, "hchx", true, TABLE(ent_str("hash-header", "h")));
	for (i = 0; i < nq; i++)
		CHECK_RPC(
		    c, amqp_queue_declare(c, 1, B(fmt("dq-%d", i)), 0, 1, 0, 0, amqp_empty_table));
	/* Bound in another order than the store reads them back (by destination name). */
	for (i = 0; i < nq; i++) {
		int k = order[i];
		bind_queue(c, 1, fmt("dq-%d", k), "dchx", weights[k]);
		bind_queue(c, 1, fmt("dq-%d", k), "hchx", weights[k]);
	}
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B("dq-1"), B("dchx"), B("1"), amqp_empty_table));
	durable_round(c, "dchx", nq, n, before);
	publish_keys(c, "hchx", n, props_header);
	drain_keys(c, "dq", nq, n, hbefore);
	client_drop(c);
	own_broker_restart(true);

	c = client_connect_ch1();
	durable_round(c, "dchx", nq, n, after);
	publish_keys(c, "hchx", n, props_header);
	drain_keys(c, "dq", nq, n, hafter);
	for (i = 0; i < n; i++) {
		ck_assert_int_ne(before[i], 1);
		ck_assert_msg(before[i] == after[i],
		    "key-%d went to %d, then to %d after the restart", i, before[i], after[i]);
		ck_assert_msg(hbefore[i] == hafter[i], "hash-header: key-%d went to %d, then to %d",
		    i, hbefore[i], hafter[i]);
	}
	check_hashed_by_value(hafter, n, nq, 0);
	/* A binding made after the restart goes after the recovered ones. */
	bind_queue(c, 1, "dq-1", "dchx", "1");
	durable_round(c, "dchx", nq, n, after);
	for (i = 0; i < n; i++)
		ck_assert(after[i] == before[i] || after[i] == 1);
	client_drop(c);
	own_broker_stop();
	broker_cleanup(&broker);
	free(before);
	free(after);
	free(hbefore);
	free(hafter);
}
END_TEST

/* ---- x-dispatch ---- */

START_TEST(x_dispatch_checked)
{
	conn_t c;
	NAME(q, "q");

	WARREN_ONLY();
	c = client_connect_ch1();
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 1, TABLE(ent_str("x-dispatch", "fastest")));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid arg 'x-dispatch' for queue '%s' in vhost '/': "
	        "{unsupported_dispatch,<<\"fastest\">>}",
	        q));
	client_open(c, 1);
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 1, TABLE(ent_i32("x-dispatch", 1)));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid arg 'x-dispatch' for queue '%s' in vhost '/': "
	        "{unacceptable_type,signedint}",
	        q));
	client_open(c, 1);
	declare_queue_args(c, 1, q, TABLE(ent_str("x-dispatch", "least-unacked")));
	declare_queue_args(c, 1, q, TABLE(ent_str("x-dispatch", "least-unacked")));
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, TABLE(ent_str("x-dispatch", "round-robin")));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'x-dispatch' for queue '%s' in vhost '/': "
	        "received 'round-robin' but current is 'least-unacked'",
	        q));
	client_open(c, 1);
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'x-dispatch' for queue '%s' in vhost '/': "
	        "received none but current is the value 'least-unacked' of type 'longstr'",
	        q));
	client_open(c, 1);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	client_close(c);
}
END_TEST

/*
 * One connection: consumer "fast" on channel 1 acks each message at once, consumer "slow" on
 * channel 2 acks each slow_ms after it came; both with prefetch 10. Channel 3 publishes n
 * messages one at a time, each after the previous one was delivered (and, when fast got it,
 * after fast's ack: one connection, so the broker reads the ack first). Returns how many slow got.
 */
static int fast_and_slow(conn_t c, const char *q, int n, int slow_ms)
{
	uint64_t tags[64], tag;
	int64_t due[64];
	int nslow = 0, held = 0, i, k;
	struct msg m;

	client_open(c, 2);
	client_open(c, 3);
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 10, 0));
	CHECK_RPC(c, amqp_basic_qos(c, 2, 0, 10, 0));
	consume(c, 1, q, "fast", false);
	consume(c, 2, q, "slow", false);
	for (i = 0; i < n; i++) {
		publish(c, 3, "", q, fmt("m%d", i));
		ck_assert_msg(client_next(c, &m, WAIT_MS) == 1, "message %d never came", i);
		ck_assert_uint_eq(m.id, AMQP_BASIC_DELIVER_METHOD);
		tag = ((amqp_basic_deliver_t *)m.method)->delivery_tag;
		msg_free(&m);
		if (m.channel == 1) {
			ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
		} else {
			ck_assert_uint_eq(m.channel, 2);
			ck_assert_int_lt(held, 64);
			tags[held] = tag;
			due[held++] = now_ms() + slow_ms;
			nslow++;
		}
		/* The slow consumer acks what it has held long enough, oldest first. */
		for (k = 0; k < held && due[k] <= now_ms(); k++)
			ck_assert_int_eq(amqp_basic_ack(c, 2, tags[k], 0), 0);
		memmove(tags, tags + k, (size_t)(held - k) * sizeof(tags[0]));
		memmove(due, due + k, (size_t)(held - k) * sizeof(due[0]));
		held -= k;
	}
	client_close_channel(c, 1);
	client_close_channel(c, 2); /* its unacked messages go back to the queue */
	client_close_channel(c, 3);
	client_open(c, 1);
	return nslow;
}

/* Round robin (RabbitMQ's way) gives the slow consumer every other message until it is full. */
START_TEST(round_robin_feeds_a_slow_consumer)
{
	conn_t c = client_connect_ch1();
	NAME(q, "q");
	int slow;

	declare_queue(c, 1, q);
	slow = fast_and_slow(c, q, 200, 1000);
	fprintf(stderr, "16-hash-dispatch: round robin: the slow consumer got %d of 200\n", slow);
	ck_assert_int_ge(slow, 10);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	client_close(c);
}
END_TEST

/*
 * least-unacked gives each message to the consumer with the fewest unacked: the slow one, which
 * holds its messages, gets one only when both have none, so far fewer than under round robin.
 */
START_TEST(least_unacked_spares_a_slow_consumer)
{
	conn_t c;
	NAME(rr, "rr");
	NAME(lu, "lu");
	int slow_rr, slow_lu;

	WARREN_ONLY();
	c = client_connect_ch1();
	declare_queue_args(c, 1, rr, TABLE(ent_str("x-dispatch", "round-robin")));
	declare_queue_args(c, 1, lu, TABLE(ent_str("x-dispatch", "least-unacked")));
	slow_rr = fast_and_slow(c, rr, 200, 1000);
	slow_lu = fast_and_slow(c, lu, 200, 1000);
	fprintf(stderr,
	    "16-hash-dispatch: the slow consumer got %d of 200 (round robin), %d (least-unacked)\n",
	    slow_rr, slow_lu);
	/*
	 * Round robin fills its prefetch (10), least-unacked gives it one (a tie, when both have
	 * none); each then gets one more per ack it sends (one a second). The difference stays.
	 */
	ck_assert_int_ge(slow_rr, 10);
	ck_assert_int_ge(slow_lu, 1);
	ck_assert_msg(slow_rr - slow_lu >= 5 && slow_lu * 2 < slow_rr,
	    "least-unacked %d, round robin %d", slow_lu, slow_rr);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(rr), 0, 0));
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(lu), 0, 0));
	client_close(c);
}
END_TEST

/* Two consumers that both ack at once are always tied: least-unacked then takes turns. */
START_TEST(least_unacked_ties_take_turns)
{
	conn_t c;
	NAME(q, "q");
	int slow;

	WARREN_ONLY();
	c = client_connect_ch1();
	declare_queue_args(c, 1, q, TABLE(ent_str("x-dispatch", "least-unacked")));
	slow = fast_and_slow(c, q, 100, 0); /* "slow" acks at the next message */
	ck_assert_int_eq(slow, 50);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	client_close(c);
}
END_TEST

static void no_broker(void)
{
}

int main(void)
{
	Suite *s = suite_create("16-hash-dispatch");
	TCase *tc;

	tc = harness_tcase(s, "consistent-hash", 120);
	tcase_add_test(tc, binding_key_must_be_a_positive_integer);
	tcase_add_test(tc, weight_past_2147483647_refused);
	tcase_add_test(tc, hash_header_and_hash_property_exclusive);
	tcase_add_test(tc, hash_argument_not_a_string_406);
	tcase_add_test(tc, keys_spread_in_proportion_to_weights);
	tcase_add_test(tc, new_queue_takes_its_share_and_nothing_else_moves);
	tcase_add_test(tc, unbind_hands_keys_to_the_others);
	tcase_add_test(tc, second_binding_to_a_queue_adds_nothing);
	tcase_add_test(tc, exchange_destinations_take_their_share);
	tcase_add_test(tc, hash_header_routes_by_its_value);
	tcase_add_loop_test(tc, hash_property_routes_by_its_value, 0, 3);

	tc = tcase_create("consistent-hash-restart");
	tcase_add_unchecked_fixture(tc, no_broker, no_broker); /* the test starts its own */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, durable_ring_survives_restart);
	suite_add_tcase(s, tc);

	tc = harness_tcase(s, "dispatch", 60);
	tcase_add_test(tc, x_dispatch_checked);
	tcase_add_test(tc, round_robin_feeds_a_slow_consumer);
	tcase_add_test(tc, least_unacked_spares_a_slow_consumer);
	tcase_add_test(tc, least_unacked_ties_take_turns);
	return harness_run(s);
}
