/*
 * 04-queue: queue.declare (names, flags, counts, arguments and their validation), exclusive and
 * auto-delete lifetimes, bind / unbind / purge / delete, and the queue features driven by
 * arguments: message TTL, queue expiry, length limits, dead-lettering and priorities.
 */
#include <stdlib.h>
#include <string.h>

#include "interop/client.h"

/* queue.declare with every flag spelled out; the caller checks the outcome. */
static amqp_queue_declare_ok_t *qdeclare(conn_t c, amqp_channel_t ch, const char *q, bool passive,
    bool durable, bool exclusive, bool auto_delete, amqp_table_t args)
{
	return amqp_queue_declare(c, ch, B(q), passive, durable, exclusive, auto_delete, args);
}

#define LOCKED_405                                                                                \
	"RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost '/'. It " \
	"could be originally declared on another connection or the exclusive property value "     \
	"does not match that of the original declaration."

/* ---- Declare ---- */

/* RabbitMQ names server-named queues "amq.gen-" and 22 characters of URL-safe base64. */
START_TEST(server_named_queue)
{
	conn_t c = client_connect_ch1();
	amqp_queue_declare_ok_t *ok =
	    qdeclare(c, 1, "", false, false, true, false, amqp_empty_table);
	const char *name;
	size_t i;

	client_ok(c, "queue.declare \"\"");
	name = fmt("%.*s", (int)ok->queue.len, (char *)ok->queue.bytes);
	ck_assert_msg(strncmp(name, "amq.gen-", 8) == 0, "server-named queue \"%s\"", name);
	ck_assert_uint_eq(strlen(name), 8 + 22);
	for (i = 8; i < 30; i++)
		ck_assert_msg(
		    strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		        name[i]) != NULL,
		    "server-named queue \"%s\"", name);
	publish(c, 1, "", name, "to a generated name");
	expect_get(c, 1, name, "to a generated name");
	client_close(c);
}
END_TEST

START_TEST(passive_missing_404)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	qdeclare(c, 1, q, true, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no queue '%s' in vhost '/'", q));
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}
END_TEST

START_TEST(declare_ok_counts_messages)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_queue_declare_ok_t *ok;

	ok = qdeclare(c, 1, q, false, false, false, false, amqp_empty_table);
	client_ok(c, "queue.declare");
	ck_assert_uint_eq(ok->message_count, 0);
	ck_assert_uint_eq(ok->consumer_count, 0);
	publish_confirmed(c, 1, "", q, NULL, "1");
	publish_confirmed(c, 1, "", q, NULL, "2");
	ok = qdeclare(c, 1, q, false, false, false, false, amqp_empty_table);
	client_ok(c, "queue.declare again");
	ck_assert_uint_eq(ok->message_count, 2);
	client_close(c);
}
END_TEST

START_TEST(declare_ok_counts_consumers)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_queue_declare_ok_t *ok;

	client_open(c, 2);
	declare_queue(c, 1, q);
	consume(c, 2, q, "a", false);
	consume(c, 2, q, "b", false);
	ok = qdeclare(c, 1, q, true, false, false, false, amqp_empty_table);
	client_ok(c, "passive declare");
	ck_assert_uint_eq(ok->consumer_count, 2);
	ck_assert_uint_eq(ok->message_count, 0);
	client_close(c);
}
END_TEST

START_TEST(redeclare_same_ok)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue_args(c, 1, q, TABLE(ent_int("x-max-length", 5)));
	declare_queue_args(c, 1, q, TABLE(ent_int("x-max-length", 5)));
	client_close(c);
}
END_TEST

START_TEST(redeclare_other_durable_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	qdeclare(c, 1, q, false, true, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'durable' for queue '%s' in vhost '/': "
	        "received 'true' but current is 'false'",
	        q));
	client_close(c);
}
END_TEST

START_TEST(redeclare_other_auto_delete_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	qdeclare(c, 1, q, false, false, false, true, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'auto_delete' for queue '%s' in vhost '/': "
	        "received 'true' but current is 'false'",
	        q));
	client_close(c);
}
END_TEST

/* Redeclaring a queue as exclusive is a lock failure (405), not an inequivalence. */
START_TEST(redeclare_as_exclusive_405)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	qdeclare(c, 1, q, false, false, true, false, amqp_empty_table);
	rpc_channel_error(c, 1, 405, fmt(LOCKED_405, q));
	client_close(c);
}
END_TEST

/*
 * The owner redeclaring its exclusive queue without exclusive: 405 as well, even with every
 * other property the same (pika's TestQueueRedeclareWithDifferentValues redeclares this way).
 */
START_TEST(owner_redeclare_without_exclusive_405)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	qdeclare(c, 1, q, false, false, true, false, amqp_empty_table);
	client_ok(c, "exclusive declare");
	qdeclare(c, 1, q, false, false, false, false, amqp_empty_table);
	rpc_channel_error(c, 1, 405, fmt(LOCKED_405, q));
	client_close(c);
}
END_TEST

/*
 * An exclusive queue is never durable, whatever the declare says: redeclares with either
 * durable flag are equivalent, and it is gone with its connection.
 */
START_TEST(exclusive_queue_never_durable)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	qdeclare(c, 1, q, false, true, true, false, amqp_empty_table);
	client_ok(c, "durable exclusive declare");
	qdeclare(c, 1, q, false, false, true, false, amqp_empty_table);
	client_ok(c, "redeclare not durable");
	qdeclare(c, 1, q, false, true, true, false, amqp_empty_table);
	client_ok(c, "redeclare durable");
	client_close(c);
}
END_TEST

START_TEST(redeclare_with_new_argument_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	qdeclare(c, 1, q, false, false, false, false, TABLE(ent_int("x-message-ttl", 5)));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue '%s' in vhost "
	        "'/': received the value '5' of type 'long' but current is none",
	        q));
	client_close(c);
}
END_TEST

START_TEST(redeclare_with_other_argument_value_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue_args(c, 1, q, TABLE(ent_int("x-max-length", 5)));
	qdeclare(c, 1, q, false, false, false, false, TABLE(ent_int("x-max-length", 6)));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - inequivalent arg 'x-max-length' for queue '%s' in vhost "
	        "'/': "
	        "received '6' but current is '5'",
	        q));
	client_close(c);
}
END_TEST

/* Arguments RabbitMQ does not know are not compared; integer widths compare by value. */
START_TEST(redeclare_unknown_argument_and_int_width_ok)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue_args(c, 1, q, TABLE(ent_int("x-message-ttl", 5)));
	declare_queue_args(c, 1, q, TABLE(ent_i32("x-message-ttl", 5), ent_str("x-foo", "bar")));
	client_close(c);
}
END_TEST

START_TEST(passive_ignores_flags_and_arguments)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	qdeclare(c, 1, q, true, true, false, true, TABLE(ent_int("x-max-length", 1)));
	client_ok(c, "passive declare");
	client_close(c);
}
END_TEST

START_TEST(amq_prefix_403)
{
	conn_t c = client_connect_ch1();
	const char *q = fmt("amq.%s", uniq("q"));

	qdeclare(c, 1, q, false, false, false, false, amqp_empty_table);
	rpc_channel_error(
	    c, 1, 403, fmt("ACCESS_REFUSED - queue name '%s' contains reserved prefix 'amq.*'", q));
	client_close(c);
}
END_TEST

/* ---- Argument validation ---- */

/*
 * Invalid arguments: 406 "PRECONDITION_FAILED - invalid arg '<arg>' for queue '<q>' in vhost
 * '/': <reason>". The test asserts the text up to the reason; `reason` is RabbitMQ 3.10's.
 */
static const struct {
	const char *arg;
	char kind; /* 'l' long, 'd' double, 'S' string */
	int64_t l;
	const char *s;
	const char *reason;
} bad_args[] = {
	{ "x-message-ttl", 'S', 0, "100", "\"expected integer, got longstr\"" },
	{ "x-message-ttl", 'l', -1, NULL, "{value_negative,-1}" },
	{ "x-message-ttl", 'l', 1LL << 40, NULL, "{value_too_large,1099511627776}" },
	{ "x-message-ttl", 'd', 100, NULL, "\"expected integer, got double\"" },
	{ "x-expires", 'l', 0, NULL, "{value_zero,0}" },
	{ "x-expires", 'l', -5, NULL, "{value_negative,-5}" },
	{ "x-expires", 'S', 0, "5", "\"expected integer, got longstr\"" },
	{ "x-max-length", 'l', -1, NULL, "{value_negative,-1}" },
	{ "x-max-length", 'S', 0, "1", "\"expected integer, got longstr\"" },
	{ "x-max-length-bytes", 'l', -1, NULL, "{value_negative,-1}" },
	{ "x-overflow", 'S', 0, "foo", "invalid_overflow" },
	{ "x-overflow", 'l', 1, NULL, "{unacceptable_type,long}" },
	{ "x-max-priority", 'l', 256, NULL, "{max_value_exceeded,256}" },
	{ "x-max-priority", 'l', -1, NULL, "{value_negative,-1}" },
	{ "x-max-priority", 'S', 0, "5", "\"expected integer, got longstr\"" },
	{ "x-dead-letter-routing-key", 'S', 0, "k", "routing_key_but_no_dlx_defined" },
	{ "x-queue-mode", 'S', 0, "foo", "\"unsupported queue mode 'foo'\"" },
	{ "x-queue-type", 'S', 0, "foo", "\"unsupported queue type 'foo'\"" },
	{ "x-single-active-consumer", 'S', 0, "yes", "{unacceptable_type,longstr}" },
};

START_TEST(invalid_argument_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_table_entry_t e;

	switch (bad_args[_i].kind) {
	case 'l': e = ent_int(bad_args[_i].arg, bad_args[_i].l); break;
	case 'S': e = ent_str(bad_args[_i].arg, bad_args[_i].s); break;
	default:
		e = ent_int(bad_args[_i].arg, 0);
		e.value.kind = AMQP_FIELD_KIND_F64;
		e.value.value.f64 = (double)bad_args[_i].l;
	}
	qdeclare(c, 1, q, false, false, false, false, TABLE(e));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/': %s",
	        bad_args[_i].arg, q, bad_args[_i].reason));
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}
END_TEST

/* A dead-letter exchange name of the wrong type has its own wording. */
START_TEST(dead_letter_exchange_wrong_type_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	qdeclare(c, 1, q, false, false, false, false, TABLE(ent_int("x-dead-letter-exchange", 1)));
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - invalid type 'long' for arg 'x-dead-letter-exchange' in "
	        "queue '%s' in vhost '/'",
	        q));
	client_close(c);
}
END_TEST

/* Boundary values RabbitMQ accepts. */
START_TEST(valid_arguments_accepted)
{
	conn_t c = client_connect_ch1();
	amqp_table_entry_t cases[] = {
		ent_int("x-message-ttl", 0),
		ent_int("x-max-length", 0),
		ent_int("x-max-priority", 0),
		ent_int("x-max-priority", 255),
		ent_str("x-overflow", "drop-head"),
		ent_str("x-overflow", "reject-publish"),
		ent_str("x-overflow", "reject-publish-dlx"),
		ent_str("x-queue-mode", "lazy"),
		ent_str("x-queue-mode", "default"),
		ent_str("x-dead-letter-exchange", "no-such-exchange"),
		ent_str("x-foo", "anything"),
		ent_i32("x-expires", 1),
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		declare_queue_args(c, 1, uniq("q"), (amqp_table_t){ 1, &cases[i] });
	client_close(c);
}
END_TEST

/*
 * A quorum queue (Warren runs it as a classic one) is declared under RabbitMQ 3.10's rules:
 * arguments only classic queues take are refused first (the first in the table named, before
 * any value is checked), then the properties: auto-delete, exclusive, non-durable, in that order.
 */
static const struct {
	bool durable, exclusive, auto_delete;
	const char *arg; /* a second argument after x-queue-type, or NULL */
	const char *text;
} quorum_cases[] = {
	{ false, false, false, NULL, "invalid property 'non-durable' for queue '%s' in vhost '/'" },
	{ true, true, false, NULL,
	    "invalid property 'exclusive-owner' for queue '%s' in vhost '/'" },
	{ false, true, false, NULL,
	    "invalid property 'exclusive-owner' for queue '%s' in vhost '/'" },
	{ false, true, true, NULL, "invalid property 'auto-delete' for queue '%s' in vhost '/'" },
	{ true, false, true, NULL, "invalid property 'auto-delete' for queue '%s' in vhost '/'" },
	/* the text for these: "invalid arg 'ARG' for queue 'Q' ... of queue type rabbit_quorum_queue" */
	{ false, false, false, "x-max-priority", NULL },
	{ true, false, false, "x-queue-mode", NULL },
	{ true, false, false, "x-queue-master-locator", NULL },
	{ true, false, false, "x-queue-version", NULL },
};

START_TEST(quorum_queue_rules)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("qq");
	amqp_table_entry_t e[3];
	amqp_table_t args = { 1, e };

	e[0] = ent_str("x-queue-type", "quorum");
	if (quorum_cases[_i].arg != NULL) {
		/* a value of the wrong type too: the queue type's refusal comes first */
		e[1] = ent_str(quorum_cases[_i].arg, "abc");
		/* and only the first such argument in the table is named */
		e[2] = strcmp(quorum_cases[_i].arg, "x-queue-version") == 0
		    ? ent_str("x-queue-mode", "lazy")
		    : ent_int("x-queue-version", 2);
		args.num_entries = 3;
	}
	qdeclare(c, 1, q, false, quorum_cases[_i].durable, quorum_cases[_i].exclusive,
	    quorum_cases[_i].auto_delete, args);
	rpc_channel_error(c, 1, 406,
	    quorum_cases[_i].text != NULL
	        ? fmt("PRECONDITION_FAILED - %s", fmt(quorum_cases[_i].text, q))
	        : fmt("PRECONDITION_FAILED - invalid arg '%s' for queue '%s' in vhost '/' of queue "
	              "type rabbit_quorum_queue",
	              quorum_cases[_i].arg, q));
	client_close(c);
}
END_TEST

/* What a quorum queue takes: durable, with the arguments both kinds of queue share. */
START_TEST(quorum_queue_accepted)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("qq");

	qdeclare(c, 1, q, false, true, false, false,
	    TABLE(ent_str("x-queue-type", "quorum"), ent_int("x-message-ttl", 1000),
	        ent_int("x-max-length", 10), ent_str("x-overflow", "reject-publish-dlx"),
	        ent_str("x-dead-letter-exchange", "dlx"),
	        ent_bool("x-single-active-consumer", true), ent_int("x-delivery-limit", 5),
	        ent_int("x-quorum-initial-group-size", 3)));
	client_ok(c, "queue.declare of a quorum queue");
	amqp_queue_delete(c, 1, B(q), 0, 0);
	client_ok(c, "queue.delete");
	client_close(c);
}
END_TEST

/* ---- Exclusive queues ---- */

/* From another connection, every operation on an exclusive queue is 405 RESOURCE_LOCKED. */
START_TEST(exclusive_queue_locked_for_other_connections)
{
	conn_t owner = client_connect_ch1(), other = client_connect_ch1();
	const char *q = uniq("q");
	static const uint16_t methods[] = { 10, 10, 20, 20, 70, 30, 40 };

	qdeclare(owner, 1, q, false, false, true, false, amqp_empty_table);
	client_ok(owner, "exclusive declare");
	switch (_i) {
	case 0: qdeclare(other, 1, q, false, false, false, false, amqp_empty_table); break;
	case 1: qdeclare(other, 1, q, true, false, false, false, amqp_empty_table); break;
	case 2:
		amqp_basic_consume(other, 1, B(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
		break;
	case 3: amqp_queue_bind(other, 1, B(q), B("amq.direct"), B("k"), amqp_empty_table); break;
	case 4: amqp_basic_get(other, 1, B(q), 1); break;
	case 5: amqp_queue_purge(other, 1, B(q)); break;
	default: amqp_queue_delete(other, 1, B(q), 0, 0); break;
	}
	rpc_channel_error(other, 1, 405, fmt(LOCKED_405, q));
	ck_assert_uint_eq(close_method_id, methods[_i]);
	client_close(other);
	client_close(owner);
}
END_TEST

START_TEST(exclusive_queue_shared_by_the_owners_channels)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	qdeclare(c, 1, q, false, false, true, false, amqp_empty_table);
	client_ok(c, "exclusive declare");
	publish(c, 2, "", q, "same connection");
	consume(c, 2, q, NULL, true);
	expect_deliver(c, 2, "same connection");
	client_close(c);
}
END_TEST

START_TEST(exclusive_queue_deleted_with_its_connection)
{
	conn_t owner = client_connect_ch1(), other = client_connect_ch1();
	const char *q = uniq("q");

	qdeclare(owner, 1, q, false, false, true, false, amqp_empty_table);
	client_ok(owner, "exclusive declare");
	client_close(owner);
	wait_queue_gone(other, 1, q, WAIT_MS, 20);
	client_close(other);
}
END_TEST

/* ---- Auto-delete queues ---- */

START_TEST(auto_delete_survives_until_a_first_consumer)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	qdeclare(c, 1, q, false, false, false, true, amqp_empty_table);
	client_ok(c, "auto-delete declare");
	publish(c, 1, "", q, "kept");
	expect_get(c, 1, q, "kept");
	ck_assert(queue_exists(c, 1, q));
	client_close(c);
}
END_TEST

START_TEST(auto_delete_goes_with_its_last_consumer)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	qdeclare(c, 1, q, false, false, false, true, amqp_empty_table);
	client_ok(c, "auto-delete declare");
	consume(c, 2, q, "first", false);
	consume(c, 2, q, "second", false);
	CHECK_RPC(c, amqp_basic_cancel(c, 2, B("first")));
	ck_assert(queue_exists(c, 1, q));
	CHECK_RPC(c, amqp_basic_cancel(c, 2, B("second")));
	wait_queue_gone(c, 1, q, WAIT_MS, 20);
	client_close(c);
}
END_TEST

START_TEST(auto_delete_goes_when_consumer_channel_closes)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	qdeclare(c, 1, q, false, false, false, true, amqp_empty_table);
	client_ok(c, "auto-delete declare");
	consume(c, 2, q, NULL, false);
	client_close_channel(c, 2);
	wait_queue_gone(c, 1, q, WAIT_MS, 20);
	client_close(c);
}
END_TEST

/* ---- Bind and unbind ---- */

START_TEST(bind_missing_queue_404)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	amqp_queue_bind(c, 1, B(q), B("amq.direct"), B("k"), amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no queue '%s' in vhost '/'", q));
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(bind_missing_exchange_404)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *x = uniq("x");

	declare_queue(c, 1, q);
	amqp_queue_bind(c, 1, B(q), B(x), B("k"), amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", x));
	client_close(c);
}
END_TEST

/* RabbitMQ 3.10 answers unbind-ok when the queue, the exchange or the binding is missing. */
START_TEST(unbind_missing_queue_ok)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(
	    c, amqp_queue_unbind(c, 1, B(uniq("q")), B("amq.direct"), B("k"), amqp_empty_table));
	client_close(c);
}
END_TEST

START_TEST(unbind_missing_exchange_ok)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(q), B(uniq("x")), B("k"), amqp_empty_table));
	client_close(c);
}
END_TEST

START_TEST(unbind_missing_binding_ok)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(q), B("amq.direct"), B("k"), amqp_empty_table));
	client_close(c);
}
END_TEST

START_TEST(unbind_stops_routing)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	bind_queue(c, 1, q, "amq.direct", q);
	publish_confirmed(c, 1, "amq.direct", q, NULL, "bound");
	CHECK_RPC(c, amqp_queue_unbind(c, 1, B(q), B("amq.direct"), B(q), amqp_empty_table));
	publish_confirmed(c, 1, "amq.direct", q, NULL, "unbound");
	expect_get(c, 1, q, "bound");
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* ---- Purge and delete ---- */

START_TEST(purge_returns_count)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_queue_purge_ok_t *ok;

	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, NULL, "1");
	publish_confirmed(c, 1, "", q, NULL, "2");
	publish_confirmed(c, 1, "", q, NULL, "3");
	ok = amqp_queue_purge(c, 1, B(q));
	client_ok(c, "queue.purge");
	ck_assert_uint_eq(ok->message_count, 3);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(purge_missing_404)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	amqp_queue_purge(c, 1, B(q));
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no queue '%s' in vhost '/'", q));
	ck_assert_uint_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

/* Purge removes ready messages only; an unacked one comes back when its channel closes. */
START_TEST(purge_leaves_unacked_messages)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_queue_purge_ok_t *ok;
	uint64_t tag;

	client_open(c, 2);
	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, NULL, "held");
	publish_confirmed(c, 1, "", q, NULL, "ready");
	get_one(c, 2, q, "held", &tag);
	ok = amqp_queue_purge(c, 1, B(q));
	client_ok(c, "queue.purge");
	ck_assert_uint_eq(ok->message_count, 1);
	client_close_channel(c, 2);
	expect_get(c, 1, q, "held");
	client_close(c);
}
END_TEST

START_TEST(delete_returns_count)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_queue_delete_ok_t *ok;

	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, NULL, "1");
	publish_confirmed(c, 1, "", q, NULL, "2");
	ok = amqp_queue_delete(c, 1, B(q), 0, 0);
	client_ok(c, "queue.delete");
	ck_assert_uint_eq(ok->message_count, 2);
	ck_assert(!queue_exists(c, 1, q));
	client_close(c);
}
END_TEST

/* RabbitMQ 3.10 answers delete-ok (message-count 0) for a queue that does not exist. */
START_TEST(delete_missing_ok)
{
	conn_t c = client_connect_ch1();
	amqp_queue_delete_ok_t *ok = amqp_queue_delete(c, 1, B(uniq("q")), 0, 0);

	client_ok(c, "queue.delete");
	ck_assert_uint_eq(ok->message_count, 0);
	client_close(c);
}
END_TEST

START_TEST(delete_if_empty_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, NULL, "1");
	amqp_queue_delete(c, 1, B(q), 0, 1);
	rpc_channel_error(
	    c, 1, 406, fmt("PRECONDITION_FAILED - queue '%s' in vhost '/' not empty", q));
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 40);
	client_close(c);
}
END_TEST

START_TEST(delete_if_unused_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	declare_queue(c, 1, q);
	consume(c, 2, q, NULL, false);
	amqp_queue_delete(c, 1, B(q), 1, 0);
	rpc_channel_error(
	    c, 1, 406, fmt("PRECONDITION_FAILED - queue '%s' in vhost '/' in use", q));
	client_close(c);
}
END_TEST

START_TEST(delete_if_unused_and_if_empty_ok_when_both_hold)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 1, 1));
	ck_assert(!queue_exists(c, 1, q));
	client_close(c);
}
END_TEST

/* consumer_cancel_notify: a deleted queue's consumers get basic.cancel with their tag. */
START_TEST(delete_cancels_consumers)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_cancel_t *cancel;
	struct msg m;

	client_open(c, 2);
	declare_queue(c, 1, q);
	consume(c, 2, q, "doomed", false);
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	client_expect(c, 2, AMQP_BASIC_CANCEL_METHOD, &m);
	cancel = m.method;
	ck_assert(bytes_is(cancel->consumer_tag, "doomed"));
	/* The channel stays open. */
	declare_queue(c, 2, uniq("q"));
	client_close(c);
}
END_TEST

START_TEST(delete_removes_bindings)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *x = uniq("x");

	declare_exchange(c, 1, x, "fanout");
	declare_queue(c, 1, q);
	bind_queue(c, 1, q, x, "");
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(q), 0, 0));
	declare_queue(c, 1, q);
	publish_confirmed(c, 1, x, "", NULL, "not routed");
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* ---- TTL, expiry, limits, dead-lettering, priorities ---- */

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

/* The first x-death entry of a dead-lettered message, checked against what RabbitMQ 3.10 puts. */
static void check_x_death(const struct msg *m, const char *queue, const char *reason,
    const char *exchange, const char *rk)
{
	const amqp_field_value_t *xd, *v;
	const amqp_table_t *d;

	ck_assert(m->props->_flags & AMQP_BASIC_HEADERS_FLAG);
	xd = table_get(&m->props->headers, "x-death");
	ck_assert_msg(xd != NULL && xd->kind == AMQP_FIELD_KIND_ARRAY &&
	        xd->value.array.num_entries >= 1 &&
	        xd->value.array.entries[0].kind == AMQP_FIELD_KIND_TABLE,
	    "no x-death array of tables");
	d = &xd->value.array.entries[0].value.table;
	v = table_get(d, "queue");
	ck_assert(v != NULL && v->kind == AMQP_FIELD_KIND_UTF8 && bytes_is(v->value.bytes, queue));
	v = table_get(d, "reason");
	ck_assert(v != NULL && v->kind == AMQP_FIELD_KIND_UTF8 && bytes_is(v->value.bytes, reason));
	v = table_get(d, "exchange");
	ck_assert(
	    v != NULL && v->kind == AMQP_FIELD_KIND_UTF8 && bytes_is(v->value.bytes, exchange));
	v = table_get(d, "count");
	ck_assert(v != NULL && v->kind == AMQP_FIELD_KIND_I64 && v->value.i64 == 1);
	v = table_get(d, "time");
	ck_assert(v != NULL && v->kind == AMQP_FIELD_KIND_TIMESTAMP);
	v = table_get(d, "routing-keys");
	ck_assert(v != NULL && v->kind == AMQP_FIELD_KIND_ARRAY &&
	    v->value.array.num_entries == 1 && bytes_is(v->value.array.entries[0].value.bytes, rk));
	v = table_get(&m->props->headers, "x-first-death-reason");
	ck_assert(v != NULL && bytes_is(v->value.bytes, reason));
	v = table_get(&m->props->headers, "x-first-death-queue");
	ck_assert(v != NULL && bytes_is(v->value.bytes, queue));
	v = table_get(&m->props->headers, "x-first-death-exchange");
	ck_assert(v != NULL && bytes_is(v->value.bytes, exchange));
}

START_TEST(message_ttl_expires_to_dead_letter_exchange)
{
	conn_t c = client_connect_ch1();
	const char *dlx, *dlq, *q = uniq("q");
	struct msg m;

	dead_letter_target(c, &dlx, &dlq);
	declare_queue_args(
	    c, 1, q, TABLE(ent_int("x-message-ttl", 50), ent_str("x-dead-letter-exchange", dlx)));
	publish(c, 1, "", q, "expiring");
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "expiring");
	check_x_death(&m, q, "expired", "", q);
	msg_free(&m);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(per_message_expiration_dead_letters)
{
	conn_t c = client_connect_ch1();
	const char *dlx, *dlq, *q = uniq("q");
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_EXPIRATION_FLAG };
	struct msg m;

	dead_letter_target(c, &dlx, &dlq);
	declare_queue_args(c, 1, q, TABLE(ent_str("x-dead-letter-exchange", dlx)));
	p.expiration = B("50");
	publish_props(c, 1, "", q, false, &p, "short-lived", 11);
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "short-lived");
	check_x_death(&m, q, "expired", "", q);
	/* RabbitMQ removes the expiration property from the dead-lettered copy. */
	ck_assert(!(m.props->_flags & AMQP_BASIC_EXPIRATION_FLAG));
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(dead_letter_routing_key_replaces_the_key)
{
	conn_t c = client_connect_ch1();
	const char *dlq = uniq("dlq"), *q = uniq("q");
	struct msg m;

	client_open(c, 2);
	declare_queue(c, 1, dlq);
	consume(c, 2, dlq, NULL, true);
	/* Through the default exchange, to the queue the new key names. */
	declare_queue_args(c, 1, q,
	    TABLE(ent_int("x-message-ttl", 10), ent_str("x-dead-letter-exchange", ""),
	        ent_str("x-dead-letter-routing-key", dlq)));
	publish(c, 1, "", q, "redirected");
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert(bytes_is(((amqp_basic_deliver_t *)m.method)->routing_key, dlq));
	check_x_death(&m, q, "expired", "", q);
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(reject_without_requeue_dead_letters)
{
	conn_t c = client_connect_ch1();
	const char *dlx, *dlq, *q = uniq("q");
	uint64_t tag;
	struct msg m;

	dead_letter_target(c, &dlx, &dlq);
	declare_queue_args(c, 1, q, TABLE(ent_str("x-dead-letter-exchange", dlx)));
	publish(c, 1, "", q, "rejected");
	get_one(c, 1, q, "rejected", &tag);
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 0), 0);
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m);
	check_x_death(&m, q, "rejected", "", q);
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(queue_expires_when_unused)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue_args(c, 1, q, TABLE(ent_int("x-expires", 200)));
	wait_queue_gone(c, 1, q, WAIT_MS, 400); /* each check renews the lease */
	client_close(c);
}
END_TEST

START_TEST(max_length_drops_head)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue_args(c, 1, q, TABLE(ent_int("x-max-length", 2)));
	publish_confirmed(c, 1, "", q, NULL, "1");
	publish_confirmed(c, 1, "", q, NULL, "2");
	publish_confirmed(c, 1, "", q, NULL, "3");
	ck_assert_uint_eq(queue_count(c, 1, q), 2);
	expect_get(c, 1, q, "2");
	expect_get(c, 1, q, "3");
	client_close(c);
}
END_TEST

START_TEST(max_length_dead_letters_the_dropped_head)
{
	conn_t c = client_connect_ch1();
	const char *dlx, *dlq, *q = uniq("q");
	struct msg m;

	dead_letter_target(c, &dlx, &dlq);
	declare_queue_args(
	    c, 1, q, TABLE(ent_int("x-max-length", 1), ent_str("x-dead-letter-exchange", dlx)));
	publish(c, 1, "", q, "old");
	publish(c, 1, "", q, "new");
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "old");
	check_x_death(&m, q, "maxlen", "", q);
	msg_free(&m);
	expect_get(c, 1, q, "new");
	client_close(c);
}
END_TEST

/* x-overflow reject-publish: the publisher gets basic.nack for what does not fit. */
START_TEST(max_length_reject_publish_nacks)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_nack_t *nack;
	struct msg m;

	declare_queue_args(
	    c, 1, q, TABLE(ent_int("x-max-length", 1), ent_str("x-overflow", "reject-publish")));
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish(c, 1, "", q, "fits");
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 1);
	publish(c, 1, "", q, "refused");
	client_expect(c, 1, AMQP_BASIC_NACK_METHOD, &m);
	nack = m.method;
	ck_assert_uint_eq(nack->delivery_tag, 2);
	ck_assert_uint_eq(queue_count(c, 1, q), 1);
	expect_get(c, 1, q, "fits");
	client_close(c);
}
END_TEST

START_TEST(max_length_reject_publish_without_confirms_drops_quietly)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue_args(
	    c, 1, q, TABLE(ent_int("x-max-length", 1), ent_str("x-overflow", "reject-publish")));
	publish(c, 1, "", q, "fits");
	publish(c, 1, "", q, "dropped");
	expect_get(c, 1, q, "fits");
	expect_get(c, 1, q, NULL);
	client_quiet(c, 0);
	client_close(c);
}
END_TEST

/* A priority queue delivers the highest priority first, in publish order within a priority. */
START_TEST(priority_queue_orders_by_priority)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	static const struct {
		uint8_t prio;
		const char *body;
	} in[] = { { 1, "p1" }, { 5, "p5a" }, { 9, "p9" }, { 0, "p0" }, { 5, "p5b" },
		{ 200, "p200" } };
	static const char *const out[] = { "p200", "p9", "p5a", "p5b", "p1", "p0" };
	size_t i;

	declare_queue_args(c, 1, q, TABLE(ent_int("x-max-priority", 10)));
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		amqp_basic_properties_t p = { ._flags = AMQP_BASIC_PRIORITY_FLAG };

		p.priority = in[i].prio; /* above x-max-priority counts as the maximum */
		publish_confirmed(c, 1, "", q, &p, in[i].body);
	}
	for (i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		expect_get(c, 1, q, out[i]);
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("04-queue");
	TCase *tc;

	tc = harness_tcase(s, "declare", TEST_TIMEOUT);
	tcase_add_test(tc, server_named_queue);
	tcase_add_test(tc, passive_missing_404);
	tcase_add_test(tc, declare_ok_counts_messages);
	tcase_add_test(tc, declare_ok_counts_consumers);
	tcase_add_test(tc, redeclare_same_ok);
	tcase_add_test(tc, redeclare_other_durable_406);
	tcase_add_test(tc, redeclare_other_auto_delete_406);
	tcase_add_test(tc, redeclare_as_exclusive_405);
	tcase_add_test(tc, owner_redeclare_without_exclusive_405);
	tcase_add_test(tc, exclusive_queue_never_durable);
	tcase_add_test(tc, redeclare_with_new_argument_406);
	tcase_add_test(tc, redeclare_with_other_argument_value_406);
	tcase_add_test(tc, redeclare_unknown_argument_and_int_width_ok);
	tcase_add_test(tc, passive_ignores_flags_and_arguments);
	tcase_add_test(tc, amq_prefix_403);

	tc = harness_tcase(s, "arguments", TEST_TIMEOUT);
	tcase_add_loop_test(tc, invalid_argument_406, 0, sizeof(bad_args) / sizeof(bad_args[0]));
	tcase_add_test(tc, dead_letter_exchange_wrong_type_406);
	tcase_add_test(tc, valid_arguments_accepted);
	tcase_add_loop_test(
	    tc, quorum_queue_rules, 0, sizeof(quorum_cases) / sizeof(quorum_cases[0]));
	tcase_add_test(tc, quorum_queue_accepted);

	tc = harness_tcase(s, "lifetime", TEST_TIMEOUT);
	tcase_add_loop_test(tc, exclusive_queue_locked_for_other_connections, 0, 7);
	tcase_add_test(tc, exclusive_queue_shared_by_the_owners_channels);
	tcase_add_test(tc, exclusive_queue_deleted_with_its_connection);
	tcase_add_test(tc, auto_delete_survives_until_a_first_consumer);
	tcase_add_test(tc, auto_delete_goes_with_its_last_consumer);
	tcase_add_test(tc, auto_delete_goes_when_consumer_channel_closes);

	tc = harness_tcase(s, "bind-purge-delete", TEST_TIMEOUT);
	tcase_add_test(tc, bind_missing_queue_404);
	tcase_add_test(tc, bind_missing_exchange_404);
	tcase_add_test(tc, unbind_missing_queue_ok);
	tcase_add_test(tc, unbind_missing_exchange_ok);
	tcase_add_test(tc, unbind_missing_binding_ok);
	tcase_add_test(tc, unbind_stops_routing);
	tcase_add_test(tc, purge_returns_count);
	tcase_add_test(tc, purge_missing_404);
	tcase_add_test(tc, purge_leaves_unacked_messages);
	tcase_add_test(tc, delete_returns_count);
	tcase_add_test(tc, delete_missing_ok);
	tcase_add_test(tc, delete_if_empty_406);
	tcase_add_test(tc, delete_if_unused_406);
	tcase_add_test(tc, delete_if_unused_and_if_empty_ok_when_both_hold);
	tcase_add_test(tc, delete_cancels_consumers);
	tcase_add_test(tc, delete_removes_bindings);

	tc = harness_tcase(s, "features", TEST_TIMEOUT);
	tcase_add_test(tc, message_ttl_expires_to_dead_letter_exchange);
	tcase_add_test(tc, per_message_expiration_dead_letters);
	tcase_add_test(tc, dead_letter_routing_key_replaces_the_key);
	tcase_add_test(tc, reject_without_requeue_dead_letters);
	tcase_add_test(tc, queue_expires_when_unused);
	tcase_add_test(tc, max_length_drops_head);
	tcase_add_test(tc, max_length_dead_letters_the_dropped_head);
	tcase_add_test(tc, max_length_reject_publish_nacks);
	tcase_add_test(tc, max_length_reject_publish_without_confirms_drops_quietly);
	tcase_add_test(tc, priority_queue_orders_by_priority);

	return harness_run(s);
}
