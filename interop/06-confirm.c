/*
 * 06-confirm: publisher confirms: confirm.select (and nowait), acks numbered from 1 per channel
 * with the multiple flag, returns before acks, and the exclusion of transactions.
 */
#include <string.h>

#include "interop/client.h"

START_TEST(confirm_select_ok)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_confirm_select(c, 1));
	client_close(c);
}
END_TEST

START_TEST(confirm_select_twice_ok)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_confirm_select(c, 1));
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	client_close(c);
}
END_TEST

/* With nowait there is no select-ok: the first thing back is the publish's ack. */
START_TEST(confirm_select_nowait)
{
	conn_t c = client_connect_ch1();
	amqp_confirm_select_t sel = { .nowait = 1 };
	const char *q = uniq("q");
	struct msg m;

	declare_queue(c, 1, q);
	ck_assert_int_eq(amqp_send_method(c, 1, AMQP_CONFIRM_SELECT_METHOD, &sel), 0);
	publish(c, 1, "", q, "x");
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 1);
	client_close(c);
}
END_TEST

/* Acks come for tags 1..n, each exactly once, some perhaps folded into a multiple ack. */
START_TEST(acks_numbered_from_1)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	int i;

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	for (i = 0; i < 5; i++)
		publish(c, 1, "", q, fmt("%d", i));
	wait_confirms(c, 1, 5);
	client_quiet(c, QUIET_MS);
	ck_assert_uint_eq(queue_count(c, 1, q), 5);
	client_close(c);
}
END_TEST

START_TEST(each_channel_counts_from_1)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	struct msg m;

	client_open(c, 2);
	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	CHECK_RPC(c, amqp_confirm_select(c, 2));
	publish(c, 1, "", q, "a");
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 1);
	publish(c, 2, "", q, "b");
	client_expect(c, 2, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 1);
	publish(c, 1, "", q, "c");
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 2);
	client_close(c);
}
END_TEST

/* Reopening a channel restarts its sequence. */
START_TEST(reopened_channel_counts_from_1_again)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	struct msg m;

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish(c, 1, "", q, "a");
	wait_confirms(c, 1, 1);
	client_close_channel(c, 1);
	client_open(c, 1);
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish(c, 1, "", q, "b");
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 1);
	client_close(c);
}
END_TEST

/* An unroutable message is confirmed too (there is nothing left to do for it). */
START_TEST(unroutable_is_acked)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish(c, 1, "", uniq("nowhere"), "x");
	wait_confirms(c, 1, 1);
	client_close(c);
}
END_TEST

/* mandatory and unroutable: basic.return first, then basic.ack. */
START_TEST(return_comes_before_ack)
{
	conn_t c = client_connect_ch1();
	struct msg m;

	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish_props(c, 1, "", uniq("nowhere"), true, NULL, "back", 4);
	client_expect(c, 1, AMQP_BASIC_RETURN_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_return_t *)m.method)->reply_code, 312);
	ck_assert_str_eq((char *)m.body, "back");
	msg_free(&m);
	client_expect(c, 1, AMQP_BASIC_ACK_METHOD, &m);
	ck_assert_uint_eq(((amqp_basic_ack_t *)m.method)->delivery_tag, 1);
	client_close(c);
}
END_TEST

/* One ack per publish, however many queues it reached. */
START_TEST(one_ack_for_a_fanned_out_message)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q1 = uniq("q"), *q2 = uniq("q");

	declare_exchange(c, 1, x, "fanout");
	declare_queue(c, 1, q1);
	declare_queue(c, 1, q2);
	bind_queue(c, 1, q1, x, "");
	bind_queue(c, 1, q2, x, "");
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish(c, 1, x, "", "to both");
	wait_confirms(c, 1, 1);
	client_quiet(c, QUIET_MS);
	client_close(c);
}
END_TEST

START_TEST(persistent_message_acked)
{
	conn_t c = client_connect_ch1();
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2 };
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish_props(c, 1, "", q, false, &p, "persistent", 10);
	wait_confirms(c, 1, 1);
	client_close(c);
}
END_TEST

START_TEST(many_publishes_all_confirmed)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	int i;

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_confirm_select(c, 1));
	for (i = 0; i < 2000; i++)
		publish(c, 1, "", q, "bulk");
	wait_confirms(c, 1, 2000);
	ck_assert_uint_eq(queue_count(c, 1, q), 2000);
	client_close(c);
}
END_TEST

/* A publish that fails closes the channel: no ack for it. */
START_TEST(publish_to_missing_exchange_closes_without_ack)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	CHECK_RPC(c, amqp_confirm_select(c, 1));
	publish(c, 1, x, "k", "lost");
	expect_channel_close(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", x));
	client_close(c);
}
END_TEST

/* RabbitMQ: "PRECONDITION_FAILED - cannot switch from tx to confirm mode" (85, 10). */
START_TEST(confirm_on_tx_channel_406)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_tx_select(c, 1));
	amqp_confirm_select(c, 1);
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode");
	ck_assert_uint_eq(close_class_id, 85);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("06-confirm");
	TCase *tc = harness_tcase(s, "confirm", TEST_TIMEOUT);

	tcase_add_test(tc, confirm_select_ok);
	tcase_add_test(tc, confirm_select_twice_ok);
	tcase_add_test(tc, confirm_select_nowait);
	tcase_add_test(tc, acks_numbered_from_1);
	tcase_add_test(tc, each_channel_counts_from_1);
	tcase_add_test(tc, reopened_channel_counts_from_1_again);
	tcase_add_test(tc, unroutable_is_acked);
	tcase_add_test(tc, return_comes_before_ack);
	tcase_add_test(tc, one_ack_for_a_fanned_out_message);
	tcase_add_test(tc, persistent_message_acked);
	tcase_add_test(tc, many_publishes_all_confirmed);
	tcase_add_test(tc, publish_to_missing_exchange_closes_without_ack);
	tcase_add_test(tc, confirm_on_tx_channel_406);
	return harness_run(s);
}
