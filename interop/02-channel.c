/*
 * 02-channel: channel.open / close / flow, channel numbering and limits, and the isolation of
 * channel errors: a soft error closes one channel, the others carry on, and the broker drops
 * whatever arrives on a closing channel until the client's close-ok.
 */
#include <string.h>

#include "interop/client.h"

/* queue.declare sent without waiting for the answer (to pipeline methods). */
static void send_queue_declare(conn_t c, amqp_channel_t ch, const char *queue, bool passive)
{
	amqp_queue_declare_t m = { .queue = B(queue), .passive = passive };

	ck_assert_int_eq(amqp_send_method(c, ch, AMQP_QUEUE_DECLARE_METHOD, &m), 0);
}

START_TEST(open_and_close)
{
	conn_t c = client_connect();

	client_open(c, 1);
	client_close_channel(c, 1);
	client_close(c);
}
END_TEST

/* RabbitMQ: connection.close 504 "CHANNEL_ERROR - second 'channel.open' seen" (20, 10). */
START_TEST(open_twice_504)
{
	conn_t c = client_connect_ch1();

	amqp_channel_open(c, 1);
	rpc_connection_error(c, 504, "CHANNEL_ERROR - second 'channel.open' seen");
	ck_assert_uint_eq(close_class_id, 20);
	ck_assert_uint_eq(close_method_id, 10);
	client_drop(c);
}
END_TEST

/* RabbitMQ: connection.close 504 "CHANNEL_ERROR - expected 'channel.open'" naming the method. */
START_TEST(method_on_unopened_channel_504)
{
	conn_t c = client_connect();

	amqp_queue_declare(c, 5, B(uniq("q")), 0, 0, 0, 0, amqp_empty_table);
	rpc_connection_error(c, 504, "CHANNEL_ERROR - expected 'channel.open'");
	ck_assert_uint_eq(close_class_id, 50);
	ck_assert_uint_eq(close_method_id, 10);
	client_drop(c);
}
END_TEST

START_TEST(close_on_unopened_channel_504)
{
	conn_t c = client_connect();

	reply_connection_error(c, amqp_channel_close(c, 7, AMQP_REPLY_SUCCESS), 504,
	    "CHANNEL_ERROR - expected 'channel.open'");
	client_drop(c);
}
END_TEST

/* A channel.close-ok nobody asked for: RabbitMQ says "COMMAND_INVALID - unimplemented method". */
START_TEST(unsolicited_close_ok_503)
{
	conn_t c = client_connect_ch1();
	amqp_channel_close_ok_t ok = { 0 };

	ck_assert_int_eq(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok), 0);
	expect_connection_close(c, 503, NULL);
	ck_assert_uint_eq(close_class_id, 20);
	ck_assert_uint_eq(close_method_id, 41);
	client_drop(c);
}
END_TEST

/*
 * RabbitMQ enforces channel_max as a count of open channels, not as the highest number: with
 * channel_max 10 it opens channel 11.
 */
START_TEST(channel_number_above_channel_max_opens)
{
	struct client_opts o = { .channel_max = 10 };
	conn_t c = client_connect_opts(&o);

	client_open(c, 11);
	client_open(c, 2000);
	client_close(c);
}
END_TEST

/* RabbitMQ: connection.close 530 "NOT_ALLOWED - number of channels opened (2) has reached the
 * negotiated channel_max (2)", class 0 method 0. */
START_TEST(more_channels_than_channel_max_530)
{
	struct client_opts o = { .channel_max = 2 };
	conn_t c = client_connect_opts(&o);

	client_open(c, 1);
	client_open(c, 2);
	amqp_channel_open(c, 3);
	rpc_connection_error(c, 530,
	    "NOT_ALLOWED - number of channels opened (2) has reached the negotiated channel_max "
	    "(2)");
	ck_assert_uint_eq(close_class_id, 0);
	ck_assert_uint_eq(close_method_id, 0);
	client_drop(c);
}
END_TEST

/* A closed channel no longer counts against channel_max. */
START_TEST(closed_channels_free_their_slot)
{
	struct client_opts o = { .channel_max = 1 };
	conn_t c = client_connect_opts(&o);
	int i;

	for (i = 0; i < 3; i++) {
		client_open(c, (amqp_channel_t)(i + 1));
		client_close_channel(c, (amqp_channel_t)(i + 1));
	}
	client_close(c);
}
END_TEST

START_TEST(reuse_channel_number_after_close)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_close_channel(c, 1);
	client_open(c, 1);
	declare_queue(c, 1, q);
	client_close(c);
}
END_TEST

START_TEST(many_channels_are_independent)
{
	conn_t c = client_connect();
	const char *q = uniq("q");
	amqp_channel_t ch;

	for (ch = 1; ch <= 100; ch++)
		client_open(c, ch);
	declare_queue(c, 50, q);
	consume(c, 97, q, "on 97", true);
	publish(c, 3, "", q, "from 3");
	expect_deliver(c, 97, "from 3");
	client_close(c);
}
END_TEST

START_TEST(flow_active_true_ok)
{
	conn_t c = client_connect_ch1();
	amqp_channel_flow_ok_t *ok = amqp_channel_flow(c, 1, 1);

	client_ok(c, "channel.flow");
	ck_assert(ok->active);
	client_close(c);
}
END_TEST

/*
 * channel.flow active=false: RabbitMQ refuses it, connection.close 540 "NOT_IMPLEMENTED -
 * active=false", and clients' test suites (amqp091-go's TestIntegrationConsumeFlow) expect that.
 */
START_TEST(flow_inactive_540)
{
	conn_t c = client_connect_ch1();
	amqp_channel_flow_t flow = { .active = 0 };

	ck_assert_int_eq(amqp_send_method(c, 1, AMQP_CHANNEL_FLOW_METHOD, &flow), 0);
	expect_connection_close(c, 540, "NOT_IMPLEMENTED - active=false");
	client_drop(c);
}
END_TEST

/* A channel.flow-ok nobody asked for: RabbitMQ says "COMMAND_INVALID - unimplemented method". */
START_TEST(unsolicited_flow_ok_503)
{
	conn_t c = client_connect_ch1();
	amqp_channel_flow_ok_t ok = { .active = 1 };

	ck_assert_int_eq(amqp_send_method(c, 1, AMQP_CHANNEL_FLOW_OK_METHOD, &ok), 0);
	expect_connection_close(c, 503, NULL);
	client_drop(c);
}
END_TEST

/* A soft error closes its channel only: the connection and its other channels carry on. */
START_TEST(soft_error_closes_only_its_channel)
{
	conn_t c = client_connect();
	const char *missing = uniq("missing"), *q = uniq("q");

	client_open(c, 1);
	client_open(c, 2);
	declare_queue(c, 2, q);
	amqp_queue_declare(c, 1, B(missing), 1, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no queue '%s' in vhost '/'", missing));
	publish(c, 2, "", q, "still here");
	expect_get(c, 2, q, "still here");
	client_close(c);
}
END_TEST

/*
 * After the broker's channel.close, it discards everything on that channel until close-ok: the
 * declare and the publish pipelined behind the failing method have no effect and get no answer.
 */
START_TEST(frames_after_close_discarded_until_close_ok)
{
	conn_t c = client_connect_ch1();
	const char *missing = uniq("missing"), *q2 = uniq("q"), *q3 = uniq("q");
	amqp_channel_close_ok_t ok = { 0 };
	amqp_channel_close_t *close;
	struct msg m;

	declare_queue(c, 1, q3);
	send_queue_declare(c, 1, missing, true);
	send_queue_declare(c, 1, q2, false);
	publish(c, 1, "", q3, "dropped");
	client_expect(c, 1, AMQP_CHANNEL_CLOSE_METHOD, &m);
	close = m.method;
	ck_assert_uint_eq(close->reply_code, 404);
	client_quiet(c, QUIET_MS); /* no queue.declare-ok for q2 */
	ck_assert_int_eq(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok), 0);
	client_open(c, 1);
	ck_assert(!queue_exists(c, 1, q2));
	ck_assert_uint_eq(queue_count(c, 1, q3), 0);
	client_close(c);
}
END_TEST

START_TEST(reopen_after_broker_closed_channel)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	amqp_queue_declare(c, 1, B(uniq("missing")), 1, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 404, NULL);
	client_open(c, 1);
	declare_queue(c, 1, q);
	client_close(c);
}
END_TEST

/* A client-initiated channel.close with an error code is just a close: close-ok. */
START_TEST(client_close_with_error_code_gets_close_ok)
{
	conn_t c = client_connect_ch1();
	amqp_rpc_reply_t r = amqp_channel_close(c, 1, 406);

	ck_assert(
	    r.reply_type == AMQP_RESPONSE_NORMAL && r.reply.id == AMQP_CHANNEL_CLOSE_OK_METHOD);
	client_open(c, 1);
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("02-channel");
	TCase *tc;

	tc = harness_tcase(s, "open-close", TEST_TIMEOUT);
	tcase_add_test(tc, open_and_close);
	tcase_add_test(tc, open_twice_504);
	tcase_add_test(tc, method_on_unopened_channel_504);
	tcase_add_test(tc, close_on_unopened_channel_504);
	tcase_add_test(tc, unsolicited_close_ok_503);
	tcase_add_test(tc, channel_number_above_channel_max_opens);
	tcase_add_test(tc, more_channels_than_channel_max_530);
	tcase_add_test(tc, closed_channels_free_their_slot);
	tcase_add_test(tc, reuse_channel_number_after_close);
	tcase_add_test(tc, many_channels_are_independent);
	tcase_add_test(tc, client_close_with_error_code_gets_close_ok);

	tc = harness_tcase(s, "flow", TEST_TIMEOUT);
	tcase_add_test(tc, flow_active_true_ok);
	tcase_add_test(tc, flow_inactive_540);
	tcase_add_test(tc, unsolicited_flow_ok_503);

	tc = harness_tcase(s, "errors", TEST_TIMEOUT);
	tcase_add_test(tc, soft_error_closes_only_its_channel);
	tcase_add_test(tc, frames_after_close_discarded_until_close_ok);
	tcase_add_test(tc, reopen_after_broker_closed_channel);

	return harness_run(s);
}
