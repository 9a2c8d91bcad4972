/*
 * 07-tx: transactions: tx.select / commit / rollback; publishes, acks and returns held until
 * commit and dropped by rollback; and the exclusion of publisher confirms.
 */
#include <string.h>

#include "interop/client.h"

START_TEST(select_commit_rollback_ok)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_tx_select(c, 1));
	CHECK_RPC(c, amqp_tx_commit(c, 1));
	CHECK_RPC(c, amqp_tx_rollback(c, 1));
	CHECK_RPC(c, amqp_tx_commit(c, 1));
	client_close(c);
}
END_TEST

START_TEST(select_twice_ok)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_tx_select(c, 1));
	CHECK_RPC(c, amqp_tx_select(c, 1));
	client_close(c);
}
END_TEST

START_TEST(publishes_invisible_until_commit)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	declare_queue(c, 2, q);
	consume(c, 2, q, "watcher", true);
	CHECK_RPC(c, amqp_tx_select(c, 1));
	publish(c, 1, "", q, "first");
	publish(c, 1, "", q, "second");
	client_quiet(c, QUIET_MS);
	CHECK_RPC(c, amqp_tx_commit(c, 1));
	expect_deliver(c, 2, "first");
	expect_deliver(c, 2, "second");
	client_close(c);
}
END_TEST

START_TEST(rollback_discards_publishes)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_tx_select(c, 1));
	publish(c, 1, "", q, "discarded");
	CHECK_RPC(c, amqp_tx_rollback(c, 1));
	publish(c, 1, "", q, "kept");
	CHECK_RPC(c, amqp_tx_commit(c, 1));
	ck_assert_uint_eq(queue_count(c, 1, q), 1);
	expect_get(c, 1, q, "kept");
	client_close(c);
}
END_TEST

/* Closing a transactional channel rolls back what it had not committed. */
START_TEST(close_discards_uncommitted_publishes)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	declare_queue(c, 1, q);
	CHECK_RPC(c, amqp_tx_select(c, 2));
	publish(c, 2, "", q, "discarded");
	client_close_channel(c, 2);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* Get messages "a" and "b" on a transactional channel 2, unacked; returns the last tag. */
static uint64_t tx_channel_holding_two(conn_t c, const char **q)
{
	uint64_t tag;

	*q = uniq("q");
	client_open(c, 2);
	declare_queue(c, 1, *q);
	publish(c, 1, "", *q, "a");
	publish(c, 1, "", *q, "b");
	CHECK_RPC(c, amqp_tx_select(c, 2));
	get_one(c, 2, *q, "a", &tag);
	get_one(c, 2, *q, "b", &tag);
	return tag;
}

/* An ack in a transaction takes effect at commit: before it, closing the channel requeues. */
START_TEST(ack_held_until_commit)
{
	conn_t c = client_connect_ch1();
	const char *q;
	uint64_t tag = tx_channel_holding_two(c, &q);

	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 1), 0);
	CHECK_RPC(c, amqp_tx_commit(c, 2));
	client_close_channel(c, 2);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(rollback_keeps_messages_unacked)
{
	conn_t c = client_connect_ch1();
	const char *q;
	uint64_t tag = tx_channel_holding_two(c, &q);

	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 1), 0);
	CHECK_RPC(c, amqp_tx_rollback(c, 2));
	ck_assert_uint_eq(queue_count(c, 1, q), 0); /* still unacked, not requeued */
	client_close_channel(c, 2);                 /* now they come back */
	expect_get(c, 1, q, "a");
	expect_get(c, 1, q, "b");
	client_close(c);
}
END_TEST

/* After a rollback the same tags can still be acked. */
START_TEST(ack_after_rollback_commits)
{
	conn_t c = client_connect_ch1();
	const char *q;
	uint64_t tag = tx_channel_holding_two(c, &q);

	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 1), 0);
	CHECK_RPC(c, amqp_tx_rollback(c, 2));
	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 1), 0);
	CHECK_RPC(c, amqp_tx_commit(c, 2));
	client_close_channel(c, 2);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* A reject with requeue in a transaction requeues at commit. */
START_TEST(reject_held_until_commit)
{
	conn_t c = client_connect_ch1();
	const char *q;
	uint64_t tag = tx_channel_holding_two(c, &q);

	ck_assert_int_eq(amqp_basic_reject(c, 2, tag, 1), 0);
	ck_assert_uint_eq(queue_count(c, 1, q), 0);
	CHECK_RPC(c, amqp_tx_commit(c, 2));
	expect_get(c, 1, q, "b");
	client_close(c);
}
END_TEST

/* An unknown delivery tag is refused at once, not at commit (406, 60.80). */
START_TEST(unknown_tag_refused_before_commit_406)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_tx_select(c, 1));
	ck_assert_int_eq(amqp_basic_ack(c, 1, 5, 0), 0);
	expect_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 5");
	client_close(c);
}
END_TEST

/*
 * A tag acked in the open transaction is no longer a live tag (as RabbitMQ, found by the Java
 * client's InvalidAcksTx): acking it again is 406 at once.
 */
START_TEST(double_ack_in_tx_406)
{
	conn_t c = client_connect_ch1();
	const char *q;
	uint64_t tag = tx_channel_holding_two(c, &q);

	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 0), 0);
	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 0), 0);
	expect_channel_close(c, 2, 406, NULL);
	client_close(c);
}
END_TEST

/*
 * basic.recover does not redeliver what the open transaction acked (the Java client's
 * Transactions.redeliverAckedUncommitted); after a rollback that tag is live again.
 */
START_TEST(recover_skips_acked_in_tx)
{
	conn_t c = client_connect_ch1();
	const char *q;
	uint64_t tag = tx_channel_holding_two(c, &q);

	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 0), 0); /* "b" */
	CHECK_RPC(c, amqp_basic_recover(c, 2, 1));
	expect_get(c, 1, q, "a"); /* requeued by the recover */
	expect_get(c, 1, q, NULL);
	CHECK_RPC(c, amqp_tx_rollback(c, 2));
	CHECK_RPC(c, amqp_basic_recover(c, 2, 1));
	expect_get(c, 1, q, "b");
	client_close(c);
}
END_TEST

/* A mandatory, unroutable publish is returned at commit, before commit-ok. */
START_TEST(return_sent_at_commit)
{
	conn_t c = client_connect_ch1();
	struct msg m;

	CHECK_RPC(c, amqp_tx_select(c, 1));
	publish_props(c, 1, "", uniq("nowhere"), true, NULL, "back", 4);
	client_quiet(c, QUIET_MS);
	CHECK_RPC(c, amqp_tx_commit(c, 1));
	/* rabbitmq-c queued the return it read before commit-ok. */
	client_expect(c, 1, AMQP_BASIC_RETURN_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "back");
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(rollback_drops_pending_return)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_tx_select(c, 1));
	publish_props(c, 1, "", uniq("nowhere"), true, NULL, "back", 4);
	CHECK_RPC(c, amqp_tx_rollback(c, 1));
	client_quiet(c, QUIET_MS);
	client_close(c);
}
END_TEST

/* RabbitMQ: "PRECONDITION_FAILED - cannot switch from confirm to tx mode" (90, 10). */
START_TEST(select_on_confirm_channel_406)
{
	conn_t c = client_connect_ch1();

	CHECK_RPC(c, amqp_confirm_select(c, 1));
	amqp_tx_select(c, 1);
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode");
	ck_assert_uint_eq(close_class_id, 90);
	ck_assert_uint_eq(close_method_id, 10);
	client_close(c);
}
END_TEST

/* RabbitMQ: "PRECONDITION_FAILED - channel is not transactional" (90, 20). */
START_TEST(commit_without_select_406)
{
	conn_t c = client_connect_ch1();

	amqp_tx_commit(c, 1);
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - channel is not transactional");
	ck_assert_uint_eq(close_class_id, 90);
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(rollback_without_select_406)
{
	conn_t c = client_connect_ch1();

	amqp_tx_rollback(c, 1);
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - channel is not transactional");
	ck_assert_uint_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("07-tx");
	TCase *tc = harness_tcase(s, "tx", TEST_TIMEOUT);

	tcase_add_test(tc, select_commit_rollback_ok);
	tcase_add_test(tc, select_twice_ok);
	tcase_add_test(tc, publishes_invisible_until_commit);
	tcase_add_test(tc, rollback_discards_publishes);
	tcase_add_test(tc, close_discards_uncommitted_publishes);
	tcase_add_test(tc, ack_held_until_commit);
	tcase_add_test(tc, rollback_keeps_messages_unacked);
	tcase_add_test(tc, ack_after_rollback_commits);
	tcase_add_test(tc, reject_held_until_commit);
	tcase_add_test(tc, unknown_tag_refused_before_commit_406);
	tcase_add_test(tc, double_ack_in_tx_406);
	tcase_add_test(tc, recover_skips_acked_in_tx);
	tcase_add_test(tc, return_sent_at_commit);
	tcase_add_test(tc, rollback_drops_pending_return);
	tcase_add_test(tc, select_on_confirm_channel_406);
	tcase_add_test(tc, commit_without_select_406);
	tcase_add_test(tc, rollback_without_select_406);
	return harness_run(s);
}
