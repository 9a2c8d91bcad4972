/*
 * 03-exchange: exchange.declare / delete / bind / unbind, the reserved names, and routing through
 * direct, fanout, topic and headers exchanges, exchange-to-exchange bindings, alternate exchanges
 * and the CC / BCC headers.
 */
#include <stdlib.h>
#include <string.h>

#include "interop/client.h"

/* exchange.declare with every flag spelled out. */
static void xdeclare(conn_t c, amqp_channel_t ch, const char *x, const char *type, bool passive,
    bool durable, bool auto_delete, bool internal, amqp_table_t args)
{
	amqp_exchange_declare(c, ch, B(x), B(type), passive, durable, auto_delete, internal, args);
}

/* Whether a message published to x with routing key rk (and headers) reaches queue q. */
static bool routes(
    conn_t c, const char *x, const char *rk, const amqp_table_t *headers, const char *q)
{
	amqp_basic_properties_t p = { 0 };
	struct msg m;
	bool got;

	if (headers != NULL) {
		p._flags = AMQP_BASIC_HEADERS_FLAG;
		p.headers = *headers;
	}
	publish_confirmed(c, 1, x, rk, &p, "m");
	got = get_msg(c, 1, q, true, &m);
	if (got)
		msg_free(&m);
	return got;
}

/* ---- Declare ---- */

static const char *const types[] = { "direct", "fanout", "topic", "headers" };

START_TEST(declare_each_type)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, types[_i]);
	xdeclare(c, 1, x, types[_i], true, false, false, false, amqp_empty_table);
	client_ok(c, "passive exchange.declare");
	client_close(c);
}
END_TEST

START_TEST(redeclare_same_ok)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "topic");
	declare_exchange(c, 1, x, "topic");
	client_close(c);
}
END_TEST

/* RabbitMQ: "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'X' in vhost '/':
 * received 'fanout' but current is 'direct'". */
START_TEST(redeclare_other_type_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "fanout", false, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'type' for exchange '%s' in vhost '/': "
	        "received 'fanout' but current is 'direct'",
	        x));
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}
END_TEST

START_TEST(redeclare_other_durable_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "direct", false, true, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '%s' in vhost '/': "
	        "received 'true' but current is 'false'",
	        x));
	client_close(c);
}
END_TEST

START_TEST(redeclare_other_auto_delete_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "direct", false, false, true, false, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'auto_delete' for exchange '%s' in vhost "
	        "'/': received 'true' but current is 'false'",
	        x));
	client_close(c);
}
END_TEST

START_TEST(redeclare_other_internal_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "direct", false, false, false, true, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'internal' for exchange '%s' in vhost '/': "
	        "received 'true' but current is 'false'",
	        x));
	client_close(c);
}
END_TEST

/* Of the arguments, RabbitMQ compares only alternate-exchange on redeclare. */
START_TEST(redeclare_other_alternate_exchange_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "direct", false, false, false, false,
	    TABLE(ent_str("alternate-exchange", "ae")));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange '%s' in "
	        "vhost '/': received the value 'ae' of type 'longstr' but current is none",
	        x));
	client_close(c);
}
END_TEST

START_TEST(redeclare_other_arguments_ignored)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "direct", false, false, false, false, TABLE(ent_str("x-foo", "bar")));
	client_ok(c, "redeclare with other arguments");
	client_close(c);
}
END_TEST

/* A passive declare checks existence only: the type and flags it carries are ignored. */
START_TEST(passive_ignores_type_and_flags)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "fanout", true, true, true, false, amqp_empty_table);
	client_ok(c, "passive exchange.declare");
	client_close(c);
}
END_TEST

START_TEST(passive_missing_404)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	xdeclare(c, 1, x, "direct", true, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", x));
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}
END_TEST

/*
 * An unknown type: a channel error 406, as RabbitMQ since 3.12.14 and 3.13.3 (and pika 1.4's
 * test); RabbitMQ 3.10, the oracle here, closed the connection with 503 COMMAND_INVALID. Also for
 * an exchange that exists: the type is checked first.
 */
static void type_refused(conn_t c, const char *text)
{
	if (broker_is_oracle()) {
		rpc_connection_error(c, 503, fmt("COMMAND_INVALID - %s", text));
		ck_assert_uint_eq(close_class_id, 40);
		ck_assert_uint_eq(close_method_id, 10);
		client_drop(c);
		return;
	}
	rpc_channel_error(c, 1, 406, fmt("PRECONDITION_FAILED - %s", text));
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}

START_TEST(unknown_type_refused)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	xdeclare(c, 1, x, "no-such-type", false, false, false, false, amqp_empty_table);
	type_refused(c, "unknown exchange type 'no-such-type'");
	c = client_connect_ch1();
	declare_exchange(c, 1, x, "direct");
	xdeclare(c, 1, x, "x-no-such-type", false, false, false, false, amqp_empty_table);
	type_refused(c, "unknown exchange type 'x-no-such-type'");
}
END_TEST

START_TEST(empty_type_refused)
{
	conn_t c = client_connect_ch1();

	xdeclare(c, 1, uniq("x"), "", false, false, false, false, amqp_empty_table);
	type_refused(c, "invalid exchange type ''");
}
END_TEST

/* RabbitMQ: "ACCESS_REFUSED - exchange name 'amq.X' contains reserved prefix 'amq.*'". */
START_TEST(amq_prefix_new_exchange_403)
{
	conn_t c = client_connect_ch1();
	const char *x = fmt("amq.%s", uniq("x"));

	xdeclare(c, 1, x, "direct", false, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 403,
	    fmt("ACCESS_REFUSED - exchange name '%s' contains reserved prefix 'amq.*'", x));
	client_close(c);
}
END_TEST

/* The predeclared exchanges exist, durable, with their types. */
START_TEST(predeclared_exchanges_exist)
{
	static const char *const names[][2] = { { "amq.direct", "direct" },
		{ "amq.fanout", "fanout" }, { "amq.topic", "topic" }, { "amq.headers", "headers" },
		{ "amq.match", "headers" } };
	conn_t c = client_connect_ch1();
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		xdeclare(
		    c, 1, names[i][0], names[i][1], false, true, false, false, amqp_empty_table);
		client_ok(c, names[i][0]);
	}
	client_close(c);
}
END_TEST

/* Redeclaring amq.direct as non-durable is an inequivalence (406), not a reserved name (403). */
START_TEST(redeclare_amq_direct_non_durable_406)
{
	conn_t c = client_connect_ch1();

	xdeclare(c, 1, "amq.direct", "direct", false, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange 'amq.direct' in vhost "
	    "'/': received 'false' but current is 'true'");
	client_close(c);
}
END_TEST

/* ---- The default exchange ---- */

#define DEFAULT_403 "ACCESS_REFUSED - operation not permitted on the default exchange"

START_TEST(declare_default_exchange_403)
{
	conn_t c = client_connect_ch1();

	xdeclare(c, 1, "", "direct", false, true, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 403, DEFAULT_403);
	client_close(c);
}
END_TEST

START_TEST(delete_default_exchange_403)
{
	conn_t c = client_connect_ch1();

	amqp_exchange_delete(c, 1, B(""), 0);
	rpc_channel_error(c, 1, 403, DEFAULT_403);
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(bind_queue_to_default_exchange_403)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	amqp_queue_bind(c, 1, B(q), B(""), B("other"), amqp_empty_table);
	rpc_channel_error(c, 1, 403, DEFAULT_403);
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(unbind_queue_from_default_exchange_403)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	amqp_queue_unbind(c, 1, B(q), B(""), B(q), amqp_empty_table);
	rpc_channel_error(c, 1, 403, DEFAULT_403);
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_default_as_source_403)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "fanout");
	amqp_exchange_bind(c, 1, B(x), B(""), B("k"), amqp_empty_table);
	rpc_channel_error(c, 1, 403, DEFAULT_403);
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_default_as_destination_403)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "fanout");
	amqp_exchange_bind(c, 1, B(""), B(x), B("k"), amqp_empty_table);
	rpc_channel_error(c, 1, 403, DEFAULT_403);
	client_close(c);
}
END_TEST

START_TEST(default_exchange_routes_by_queue_name)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	ck_assert(routes(c, "", q, NULL, q));
	ck_assert(!routes(c, "", "other", NULL, q));
	client_close(c);
}
END_TEST

/* ---- Delete ---- */

START_TEST(delete_then_gone)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	declare_exchange(c, 1, x, "direct");
	CHECK_RPC(c, amqp_exchange_delete(c, 1, B(x), 0));
	xdeclare(c, 1, x, "direct", true, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 404, NULL);
	client_close(c);
}
END_TEST

/* RabbitMQ 3.10 answers delete-ok for an exchange that does not exist. */
START_TEST(delete_missing_ok)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_exchange_delete(c, 1, B(uniq("x")), 0));
	client_close(c);
}
END_TEST

/* RabbitMQ: "PRECONDITION_FAILED - exchange 'X' in vhost '/' in use". */
START_TEST(delete_if_unused_while_bound_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, x, "direct");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, "k");
	amqp_exchange_delete(c, 1, B(x), 1);
	rpc_channel_error(
	    c, 1, 406, fmt("PRECONDITION_FAILED - exchange '%s' in vhost '/' in use", x));
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

/* Only bindings from the exchange count as "used": being a binding's destination does not. */
START_TEST(delete_if_unused_when_only_a_destination_ok)
{
	conn_t c = client_connect_ch1();
	const char *src = uniq("x"), *dst = uniq("x");

	declare_exchange(c, 1, src, "fanout");
	declare_exchange(c, 1, dst, "fanout");
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(dst), B(src), B(""), amqp_empty_table));
	CHECK_RPC(c, amqp_exchange_delete(c, 1, B(dst), 1));
	client_close(c);
}
END_TEST

/* RabbitMQ: "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed". */
START_TEST(delete_amq_direct_403)
{
	conn_t c = client_connect_ch1();

	amqp_exchange_delete(c, 1, B("amq.direct"), 0);
	rpc_channel_error(c, 1, 403,
	    "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
	client_close(c);
}
END_TEST

/* ---- Exchange-to-exchange bindings ---- */

START_TEST(exchange_bind_routes_and_unbind_stops)
{
	conn_t c = client_connect_ch1();
	const char *src = uniq("x"), *dst = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, src, "direct");
	declare_exchange(c, 1, dst, "fanout");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, dst, "");
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	ck_assert(routes(c, src, "k", NULL, q));
	ck_assert(!routes(c, src, "other", NULL, q));
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	ck_assert(!routes(c, src, "k", NULL, q));
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_missing_source_404)
{
	conn_t c = client_connect_ch1();
	const char *dst = uniq("x"), *src = uniq("x");

	declare_exchange(c, 1, dst, "fanout");
	amqp_exchange_bind(c, 1, B(dst), B(src), B("k"), amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", src));
	ck_assert_uint_eq(close_class_id, 40);
	ck_assert_uint_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_missing_destination_404)
{
	conn_t c = client_connect_ch1();
	const char *dst = uniq("x"), *src = uniq("x");

	declare_exchange(c, 1, src, "fanout");
	amqp_exchange_bind(c, 1, B(dst), B(src), B("k"), amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", dst));
	client_close(c);
}
END_TEST

/* RabbitMQ 3.10 answers unbind-ok for a binding that does not exist. */
START_TEST(exchange_unbind_missing_binding_ok)
{
	conn_t c = client_connect_ch1();
	const char *a = uniq("x"), *b = uniq("x");

	declare_exchange(c, 1, a, "fanout");
	declare_exchange(c, 1, b, "fanout");
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(a), B(b), B("k"), amqp_empty_table));
	client_close(c);
}
END_TEST

/*
 * As RabbitMQ 3.10, exchange.unbind from or to an exchange that no longer exists answers
 * unbind-ok (aio-pika's clean-up unbinds from an auto-delete exchange that went with its last
 * binding).
 */
START_TEST(exchange_unbind_missing_exchange_ok)
{
	conn_t c = client_connect_ch1();
	const char *src = uniq("x"), *dst = uniq("x");

	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	declare_exchange(c, 1, dst, "fanout");
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(src), B(dst), B("k"), amqp_empty_table));
	/* An auto-delete source goes with its last binding; unbinding again is fine. */
	xdeclare(c, 1, src, "direct", false, false, true, false, amqp_empty_table);
	client_ok(c, "declare auto-delete");
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	xdeclare(c, 1, src, "direct", true, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", src));
	client_open(c, 1);
	CHECK_RPC(c, amqp_exchange_unbind(c, 1, B(dst), B(src), B("k"), amqp_empty_table));
	client_close(c);
}
END_TEST

/* A cycle of exchange bindings still delivers one copy to each queue. */
START_TEST(binding_loop_delivers_once_per_queue)
{
	conn_t c = client_connect_ch1();
	const char *a = uniq("x"), *b = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, a, "fanout");
	declare_exchange(c, 1, b, "fanout");
	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(b), B(a), B(""), amqp_empty_table));
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(a), B(b), B(""), amqp_empty_table));
	bind_queue(c, 1, q, a, "");
	bind_queue(c, 1, q, b, "");
	publish(c, 1, a, "", "once");
	expect_get(c, 1, q, "once");
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* A queue bound twice (two keys) to one exchange gets one copy. */
START_TEST(queue_bound_twice_gets_one_copy)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, x, "topic");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, "a.*");
	bind_queue(c, 1, q, x, "*.b");
	publish(c, 1, x, "a.b", "once");
	expect_get(c, 1, q, "once");
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* RabbitMQ: "ACCESS_REFUSED - cannot publish to internal exchange 'X' in vhost '/'" (60, 40). */
START_TEST(publish_to_internal_exchange_403)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	xdeclare(c, 1, x, "fanout", false, false, false, true, amqp_empty_table);
	client_ok(c, "declare internal");
	publish(c, 1, x, "", "no");
	expect_channel_close(c, 1, 403,
	    fmt("ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '/'", x));
	ck_assert_uint_eq(close_class_id, 60);
	ck_assert_uint_eq(close_method_id, 40);
	client_close(c);
}
END_TEST

START_TEST(internal_exchange_routes_from_another_exchange)
{
	conn_t c = client_connect_ch1();
	const char *front = uniq("x"), *inner = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, front, "fanout");
	xdeclare(c, 1, inner, "fanout", false, false, false, true, amqp_empty_table);
	client_ok(c, "declare internal");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, inner, "");
	CHECK_RPC(c, amqp_exchange_bind(c, 1, B(inner), B(front), B(""), amqp_empty_table));
	ck_assert(routes(c, front, "", NULL, q));
	client_close(c);
}
END_TEST

/* ---- Auto-delete ---- */

START_TEST(auto_delete_exchange_stays_until_first_binding)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	xdeclare(c, 1, x, "direct", false, false, true, false, amqp_empty_table);
	client_ok(c, "declare auto-delete");
	xdeclare(c, 1, x, "direct", true, false, false, false, amqp_empty_table);
	client_ok(c, "still there");
	client_close(c);
}
END_TEST

START_TEST(auto_delete_exchange_goes_with_last_unbind)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	xdeclare(c, 1, x, "direct", false, false, true, false, amqp_empty_table);
	client_ok(c, "declare auto-delete");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, "a");
	bind_queue(c, 1, q, x, "b");
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(q), B(x), B("a"), amqp_empty_table));
	xdeclare(c, 1, x, "direct", true, false, false, false, amqp_empty_table);
	client_ok(c, "one binding left");
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(q), B(x), B("b"), amqp_empty_table));
	xdeclare(c, 1, x, "direct", true, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", x));
	client_close(c);
}
END_TEST

START_TEST(auto_delete_exchange_goes_with_its_queue)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	xdeclare(c, 1, x, "fanout", false, false, true, false, amqp_empty_table);
	client_ok(c, "declare auto-delete");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, "");
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	xdeclare(c, 1, x, "fanout", true, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 404, NULL);
	client_close(c);
}
END_TEST

/* ---- Routing ---- */

START_TEST(direct_routes_on_exact_key)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, x, "direct");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, "key");
	ck_assert(routes(c, x, "key", NULL, q));
	ck_assert(!routes(c, x, "Key", NULL, q));
	ck_assert(!routes(c, x, "key.more", NULL, q));
	ck_assert(!routes(c, x, "", NULL, q));
	client_close(c);
}
END_TEST

START_TEST(fanout_ignores_key)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q1 = uniq("q"), *q2 = uniq("q");

	declare_exchange(c, 1, x, "fanout");
	declare_queue(c, 1, q1);
	declare_queue(c, 1, q2);
	bind_queue(c, 1, q1, x, "ignored");
	bind_queue(c, 1, q2, x, "");
	publish(c, 1, x, "anything", "both");
	expect_get(c, 1, q1, "both");
	expect_get(c, 1, q2, "both");
	client_close(c);
}
END_TEST

/* Topic patterns against routing keys, as RabbitMQ 3.10 matches them. */
static const struct {
	const char *pattern, *key;
	bool match;
} topic_cases[] = {
	{ "a.b.c", "a.b.c", true },
	{ "a.b.c", "a.b", false },
	{ "a.*.c", "a.b.c", true },
	{ "a.*.c", "a.c", false },
	{ "a.*.c", "a.b.b.c", false },
	{ "*", "a", true },
	{ "*", "a.b", false },
	{ "*", "", false },
	{ "#", "", true },
	{ "#", "a.b.c", true },
	{ "a.#", "a", true },
	{ "a.#", "a.b.c", true },
	{ "a.#", "b.a", false },
	{ "#.c", "c", true },
	{ "#.c", "a.b.c", true },
	{ "#.c", "c.a", false },
	{ "a.#.b", "a.b", true },
	{ "a.#.b", "a.x.y.b", true },
	{ "a.#.b", "a.b.c", false },
	{ "a.*.#", "a", false },
	{ "a.*.#", "a.b", true },
	{ "#.#", "a.b", true },
	{ "*.*", "a.", true },
	{ "a.*.b", "a..b", true },
	{ "a..b", "a..b", true },
	{ "*.#.*", "a", false },
	{ "*.#.*", "a.b", true },
	{ "A.b", "a.b", false },
};

START_TEST(topic_matching)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, x, "topic");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, topic_cases[_i].pattern);
	ck_assert_msg(routes(c, x, topic_cases[_i].key, NULL, q) == topic_cases[_i].match,
	    "pattern \"%s\", key \"%s\": expected %s", topic_cases[_i].pattern, topic_cases[_i].key,
	    topic_cases[_i].match ? "a match" : "no match");
	client_close(c);
}
END_TEST

/*
 * Headers exchange cases: binding arguments and message headers as "k=v,k=v" (digits make a long,
 * anything else a string), x-match given separately (NULL: absent, which means all).
 */
static const struct {
	const char *xmatch, *binding, *headers;
	bool match;
} headers_cases[] = {
	{ "all", "a=1,b=2", "a=1,b=2", true },
	{ "all", "a=1,b=2", "a=1", false },
	{ "all", "a=1", "a=1,c=3", true },
	{ "all", "a=1", "a=2", false },
	{ "all", "a=1", "a=one", false },
	{ "all", "", "a=1", true },
	{ NULL, "a=1,b=2", "a=1", false },
	{ NULL, "a=1", "a=1,b=2", true },
	{ "any", "a=1,b=2", "b=2", true },
	{ "any", "a=1,b=2", "c=3", false },
	{ "any", "", "a=1", false },
	{ "all", "a=1,x-foo=bar", "a=1", true },
	{ "all-with-x", "a=1,x-foo=bar", "a=1", false },
	{ "all-with-x", "a=1,x-foo=bar", "a=1,x-foo=bar", true },
	{ "any", "x-foo=bar", "x-foo=bar", false },
	{ "any-with-x", "x-foo=bar", "x-foo=bar", true },
	{ "any-with-x", "x-foo=bar,b=2", "b=2", true },
};

/* Parse "k=v,k=v" into entries whose strings point into buf (at least 64 bytes). */
static amqp_table_t parse_pairs(const char *spec, char *buf, amqp_table_entry_t *e, int max)
{
	char *s = buf, *tok, *save = NULL;
	int n = 0;

	ck_assert_uint_lt(strlen(spec), 64);
	strcpy(s, spec);
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		ck_assert(eq != NULL && n < max);
		*eq = '\0';
		if (strspn(eq + 1, "0123456789") == strlen(eq + 1))
			e[n++] = ent_int(tok, atoll(eq + 1));
		else
			e[n++] = ent_str(tok, eq + 1);
	}
	return (amqp_table_t){ n, e };
}

START_TEST(headers_matching)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");
	amqp_table_entry_t be[8], he[8];
	amqp_table_t bt, ht;
	char bbuf[64], hbuf[64];

	bt = parse_pairs(headers_cases[_i].binding, bbuf, be, 7);
	if (headers_cases[_i].xmatch != NULL)
		be[bt.num_entries++] = ent_str("x-match", headers_cases[_i].xmatch);
	ht = parse_pairs(headers_cases[_i].headers, hbuf, he, 8);
	declare_exchange(c, 1, x, "headers");
	declare_queue(c, 1, q);
	bind_queue_args(c, 1, q, x, "", bt);
	ck_assert_msg(routes(c, x, "", &ht, q) == headers_cases[_i].match,
	    "x-match %s, binding \"%s\", headers \"%s\": expected %s",
	    headers_cases[_i].xmatch != NULL ? headers_cases[_i].xmatch : "(none)",
	    headers_cases[_i].binding, headers_cases[_i].headers,
	    headers_cases[_i].match ? "a match" : "no match");
	client_close(c);
}
END_TEST

/* RabbitMQ: "PRECONDITION_FAILED - Invalid x-match field value <<\"foo\">>; expected all, any,
 * all-with-x, or any-with-x" (50, 20). */
START_TEST(headers_bad_x_match_406)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q = uniq("q");

	declare_exchange(c, 1, x, "headers");
	declare_queue(c, 1, q);
	amqp_queue_bind(c, 1, B(q), B(x), B(""), TABLE(ent_str("x-match", "foo")));
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - Invalid x-match field value *");
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(alternate_exchange_takes_unroutable)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *ae = uniq("ae"), *q = uniq("q"), *other = uniq("q");

	declare_exchange(c, 1, ae, "fanout");
	xdeclare(c, 1, x, "direct", false, false, false, false,
	    TABLE(ent_str("alternate-exchange", ae)));
	client_ok(c, "declare with alternate-exchange");
	declare_queue(c, 1, q);
	declare_queue(c, 1, other);
	bind_queue(c, 1, q, ae, "");
	bind_queue(c, 1, other, x, "routed");
	/* Mandatory: the alternate exchange counts as a route, so nothing is returned. */
	publish_props(c, 1, x, "nowhere", true, NULL, "to ae", 5);
	expect_get(c, 1, q, "to ae");
	publish(c, 1, x, "routed", "direct");
	expect_get(c, 1, other, "direct");
	expect_get(c, 1, q, NULL);
	client_quiet(c, 0);
	client_close(c);
}
END_TEST

START_TEST(missing_alternate_exchange_returns_mandatory)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");
	amqp_basic_return_t *ret;
	struct msg m;

	xdeclare(c, 1, x, "direct", false, false, false, false,
	    TABLE(ent_str("alternate-exchange", uniq("missing"))));
	client_ok(c, "declare with a missing alternate-exchange");
	publish_props(c, 1, x, "nowhere", true, NULL, "back", 4);
	client_expect(c, 1, AMQP_BASIC_RETURN_METHOD, &m);
	ret = m.method;
	ck_assert_uint_eq(ret->reply_code, 312);
	ck_assert(bytes_is(ret->exchange, x));
	msg_free(&m);
	client_close(c);
}
END_TEST

/* A header holding an array of two routing keys (CC or BCC), its values in v[2]. */
static amqp_table_entry_t keys_header(
    amqp_field_value_t *v, const char *name, const char *k1, const char *k2)
{
	amqp_table_entry_t e = { .key = B(name) };
	v[0].kind = v[1].kind = AMQP_FIELD_KIND_UTF8;
	v[0].value.bytes = B(k1);
	v[1].value.bytes = B(k2);
	e.value.kind = AMQP_FIELD_KIND_ARRAY;
	e.value.value.array.num_entries = 2;
	e.value.value.array.entries = v;
	return e;
}

/* Deliver from q (consumer) and return whether the message kept the named header. */
static bool delivered_with_header(conn_t c, const char *q, const char *header)
{
	struct msg m;
	bool has;

	consume(c, 1, q, NULL, true);
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	has = (m.props->_flags & AMQP_BASIC_HEADERS_FLAG) &&
	    table_get(&m.props->headers, header) != NULL;
	msg_free(&m);
	return has;
}

START_TEST(cc_header_adds_routes_and_stays)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *qa = uniq("q"), *qb = uniq("q"), *qc = uniq("q");
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_HEADERS_FLAG };

	declare_exchange(c, 1, x, "direct");
	declare_queue(c, 1, qa);
	declare_queue(c, 1, qb);
	declare_queue(c, 1, qc);
	bind_queue(c, 1, qa, x, "a");
	bind_queue(c, 1, qb, x, "b");
	bind_queue(c, 1, qc, x, "c");
	amqp_field_value_t keys[2] = { 0 };

	p.headers = TABLE(keys_header(keys, "CC", "b", "c"));
	publish_confirmed(c, 1, x, "a", &p, "cc");
	ck_assert_uint_eq(queue_count(c, 1, qa), 1);
	ck_assert_uint_eq(queue_count(c, 1, qb), 1);
	ck_assert_uint_eq(queue_count(c, 1, qc), 1);
	ck_assert(delivered_with_header(c, qb, "CC"));
	client_close(c);
}
END_TEST

START_TEST(bcc_header_adds_routes_and_is_removed)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *qa = uniq("q"), *qb = uniq("q");
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_HEADERS_FLAG };

	declare_exchange(c, 1, x, "direct");
	declare_queue(c, 1, qa);
	declare_queue(c, 1, qb);
	bind_queue(c, 1, qa, x, "a");
	bind_queue(c, 1, qb, x, "b");
	amqp_field_value_t keys[2] = { 0 };

	p.headers = TABLE(keys_header(keys, "BCC", "b", "nowhere"), ent_str("keep", "me"));
	publish_confirmed(c, 1, x, "a", &p, "bcc");
	ck_assert_uint_eq(queue_count(c, 1, qa), 1);
	ck_assert_uint_eq(queue_count(c, 1, qb), 1);
	ck_assert(!delivered_with_header(c, qb, "BCC"));
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("03-exchange");
	TCase *tc;

	tc = harness_tcase(s, "declare", TEST_TIMEOUT);
	tcase_add_loop_test(tc, declare_each_type, 0, 4);
	tcase_add_test(tc, redeclare_same_ok);
	tcase_add_test(tc, redeclare_other_type_406);
	tcase_add_test(tc, redeclare_other_durable_406);
	tcase_add_test(tc, redeclare_other_auto_delete_406);
	tcase_add_test(tc, redeclare_other_internal_406);
	tcase_add_test(tc, redeclare_other_alternate_exchange_406);
	tcase_add_test(tc, redeclare_other_arguments_ignored);
	tcase_add_test(tc, passive_ignores_type_and_flags);
	tcase_add_test(tc, passive_missing_404);
	tcase_add_test(tc, unknown_type_refused);
	tcase_add_test(tc, empty_type_refused);
	tcase_add_test(tc, amq_prefix_new_exchange_403);
	tcase_add_test(tc, predeclared_exchanges_exist);
	tcase_add_test(tc, redeclare_amq_direct_non_durable_406);

	tc = harness_tcase(s, "default-exchange", TEST_TIMEOUT);
	tcase_add_test(tc, declare_default_exchange_403);
	tcase_add_test(tc, delete_default_exchange_403);
	tcase_add_test(tc, bind_queue_to_default_exchange_403);
	tcase_add_test(tc, unbind_queue_from_default_exchange_403);
	tcase_add_test(tc, exchange_bind_default_as_source_403);
	tcase_add_test(tc, exchange_bind_default_as_destination_403);
	tcase_add_test(tc, default_exchange_routes_by_queue_name);

	tc = harness_tcase(s, "delete", TEST_TIMEOUT);
	tcase_add_test(tc, delete_then_gone);
	tcase_add_test(tc, delete_missing_ok);
	tcase_add_test(tc, delete_if_unused_while_bound_406);
	tcase_add_test(tc, delete_if_unused_when_only_a_destination_ok);
	tcase_add_test(tc, delete_amq_direct_403);
	tcase_add_test(tc, auto_delete_exchange_stays_until_first_binding);
	tcase_add_test(tc, auto_delete_exchange_goes_with_last_unbind);
	tcase_add_test(tc, auto_delete_exchange_goes_with_its_queue);

	tc = harness_tcase(s, "bindings", TEST_TIMEOUT);
	tcase_add_test(tc, exchange_bind_routes_and_unbind_stops);
	tcase_add_test(tc, exchange_bind_missing_source_404);
	tcase_add_test(tc, exchange_bind_missing_destination_404);
	tcase_add_test(tc, exchange_unbind_missing_binding_ok);
	tcase_add_test(tc, exchange_unbind_missing_exchange_ok);
	tcase_add_test(tc, binding_loop_delivers_once_per_queue);
	tcase_add_test(tc, queue_bound_twice_gets_one_copy);
	tcase_add_test(tc, publish_to_internal_exchange_403);
	tcase_add_test(tc, internal_exchange_routes_from_another_exchange);

	tc = harness_tcase(s, "routing", TEST_TIMEOUT);
	tcase_add_test(tc, direct_routes_on_exact_key);
	tcase_add_test(tc, fanout_ignores_key);
	tcase_add_loop_test(tc, topic_matching, 0, sizeof(topic_cases) / sizeof(topic_cases[0]));
	tcase_add_loop_test(
	    tc, headers_matching, 0, sizeof(headers_cases) / sizeof(headers_cases[0]));
	tcase_add_test(tc, headers_bad_x_match_406);
	tcase_add_test(tc, alternate_exchange_takes_unroutable);
	tcase_add_test(tc, missing_alternate_exchange_returns_mandatory);
	tcase_add_test(tc, cc_header_adds_routes_and_stays);
	tcase_add_test(tc, bcc_header_adds_routes_and_is_removed);

	return harness_run(s);
}
