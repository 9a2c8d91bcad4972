/*
 * 05-basic-frames: the content of basic.publish frame by frame, which rabbitmq-c always gets
 * right: bodies split into many frames, bodies longer than their header says, headers of the
 * wrong class, methods inside a content sequence, and messages over the maximum size; and
 * commands that must arrive in one read (confirms of unroutable publishes, an ack and a cancel).
 */
#include <stdlib.h>
#include <string.h>

#include "interop/basic.h"
#include "interop/raw.h"

#define MAX_MESSAGE_SIZE 134217728 /* RabbitMQ 3.10's default max_message_size: 128 MiB */

/* Send basic.publish (default exchange) and a content header declaring size bytes. */
static void publish_header(struct raw *r, const char *rk, uint64_t size, uint16_t class_id)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	uint8_t hdr[64];
	int n;

	m.u.basic_publish.routing_key = amqp_cstr(rk);
	raw_send_method(r, 1, &m);
	n = amqp_content_header_encode(class_id, size, AMQP_BYTES("\0\0"), hdr, sizeof(hdr));
	ck_assert_int_gt(n, 0);
	raw_send_frame(r, AMQP_FRAME_HEADER, 1, hdr, (size_t)n);
}

START_TEST(body_in_one_byte_frames_reassembled)
{
	const char *q = uniq("q");
	struct amqp_content_header h;
	uint8_t *body;
	struct raw r;
	int i;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	raw_queue_declare(&r, 1, q);
	publish_header(&r, q, 5, AMQP_BASIC_CLASS);
	for (i = 0; i < 5; i++)
		raw_send_frame(&r, AMQP_FRAME_BODY, 1, "hello" + i, 1);
	raw_basic_get(&r, 1, q, true);
	raw_expect_method(&r, 1, AMQP_ID_basic_get_ok, NULL);
	raw_expect_content(&r, 1, &h, &body);
	ck_assert_uint_eq(h.body_size, 5);
	ck_assert_mem_eq(body, "hello", 5);
	free(body);
	raw_close(&r);
}
END_TEST

/*
 * Body frames carrying more than the header declared: 505 UNEXPECTED_FRAME. RabbitMQ 3.10 notices
 * only at the next frame ("UNEXPECTED_FRAME - expected content body, got non content body frame
 * instead"), so the test sends one.
 */
START_TEST(body_longer_than_declared_505)
{
	struct amqp_method m = { .id = AMQP_ID_basic_qos };
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	publish_header(&r, uniq("nowhere"), 3, AMQP_BASIC_CLASS);
	raw_send_frame(&r, AMQP_FRAME_BODY, 1, "hello", 5);
	raw_send_method(&r, 1, &m);
	raw_expect_connection_close(&r, 505, NULL, RAW_ANY_METHOD);
	raw_close(&r);
}
END_TEST

/* RabbitMQ: "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50
 * instead" (60, 40). */
START_TEST(header_of_another_class_505)
{
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	publish_header(&r, uniq("nowhere"), 0, 50);
	raw_expect_connection_close(&r, 505,
	    "UNEXPECTED_FRAME - expected content header for class 60, got one for class 50 instead",
	    AMQP_ID_basic_publish);
	raw_close(&r);
}
END_TEST

/* RabbitMQ: "UNEXPECTED_FRAME - expected content body, got non content body frame instead". */
START_TEST(method_inside_content_505)
{
	struct amqp_method m = { .id = AMQP_ID_basic_qos };
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	publish_header(&r, uniq("nowhere"), 5, AMQP_BASIC_CLASS);
	raw_send_method(&r, 1, &m);
	raw_expect_connection_close(&r, 505,
	    "UNEXPECTED_FRAME - expected content body, got non content body frame instead",
	    AMQP_ID_basic_publish);
	raw_close(&r);
}
END_TEST

/* A method where the content header belongs. */
START_TEST(method_instead_of_header_505)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	m.u.basic_publish.routing_key = amqp_cstr(uniq("nowhere"));
	raw_send_method(&r, 1, &m);
	m.id = AMQP_ID_basic_qos;
	raw_send_method(&r, 1, &m);
	raw_expect_connection_close(&r, 505, NULL, RAW_ANY_METHOD);
	raw_close(&r);
}
END_TEST

/*
 * A message one byte over the maximum size: channel.close 406 "PRECONDITION_FAILED - message size
 * 134217729 is larger than configured max size 134217728" (60, 40). RabbitMQ judges it once the
 * body is in, so the whole body is sent; a broker may refuse as soon as the header arrives, and
 * must then discard the rest of the body.
 */
START_TEST(message_over_max_size_406)
{
	static uint8_t chunk[131072 - 8];
	uint64_t left = (uint64_t)MAX_MESSAGE_SIZE + 1;
	struct raw r;

	memset(chunk, 'z', sizeof(chunk));
	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	publish_header(&r, uniq("nowhere"), left, AMQP_BASIC_CLASS);
	while (left > 0) {
		size_t k = left < sizeof(chunk) ? (size_t)left : sizeof(chunk);

		raw_send_frame(&r, AMQP_FRAME_BODY, 1, chunk, k);
		left -= k;
	}
	raw_expect_channel_close(&r, 1, 406,
	    "PRECONDITION_FAILED - message size 134217729 is larger than configured max size "
	    "134217728",
	    AMQP_ID_basic_publish);
	raw_channel_open(&r, 1);
	raw_close(&r);
}
END_TEST

/* Publish to a missing exchange on channel 1 and close the channel before reading the answer. */
static void cross_closes(struct raw *r)
{
	struct amqp_method m = { .id = AMQP_ID_channel_close };

	raw_login(r, NULL);
	raw_channel_open(r, 1);
	raw_channel_open(r, 2);
	raw_publish(r, 1, uniq("missing"), "k", "x", 1);
	m.u.channel_close.reply_code = 200;
	m.u.channel_close.reply_text = amqp_cstr("bye");
	raw_send_method(r, 1, &m);
	/* The broker's close was on its way before ours arrived. */
	ck_assert_int_eq(raw_next_method(r, &(uint16_t){ 0 }, &m, WAIT_MS), RAW_FRAME);
	ck_assert_uint_eq(m.id, AMQP_ID_channel_close);
	ck_assert_uint_eq(m.u.channel_close.reply_code, 404);
	raw_expect_method(r, 1, AMQP_ID_channel_close_ok, NULL);
}

/*
 * Crossed channel.close: the client closes a channel the broker is closing. The broker answers
 * the client's close and still waits for the close-ok to its own, which amqp091-go, pika and the
 * Java client send (amqp091-go's TestChannelExceptionWithCloseIssue43); the connection and its
 * other channels carry on, and the number can be opened again.
 */
START_TEST(crossed_channel_close)
{
	struct amqp_method ok = { .id = AMQP_ID_channel_close_ok };
	struct raw r;

	cross_closes(&r);
	raw_send_method(&r, 1, &ok);
	raw_ping(&r, 2);
	raw_channel_open(&r, 1);
	raw_ping(&r, 1);
	raw_close(&r);
}
END_TEST

/*
 * The same, but the client (as rabbitmq-c, which hands the broker's close to the application)
 * never sends that close-ok and opens the number again: as RabbitMQ, a connection error, since
 * the channel is still closing.
 */
START_TEST(crossed_channel_close_then_open_504)
{
	struct amqp_method m = { .id = AMQP_ID_channel_open };
	struct raw r;

	cross_closes(&r);
	raw_send_method(&r, 1, &m);
	raw_expect_connection_close(
	    &r, 504, "CHANNEL_ERROR - second 'channel.open' seen", AMQP_ID_channel_open);
	raw_close(&r);
}
END_TEST

/* channel.open on a channel the broker is closing, before its close is read: the same 504. */
START_TEST(open_while_closing_504)
{
	struct amqp_method m = { .id = AMQP_ID_channel_open };
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	raw_publish(&r, 1, uniq("missing"), "k", "x", 1);
	raw_send_method(&r, 1, &m);
	raw_expect_channel_close(&r, 1, 404, NULL, AMQP_ID_basic_publish);
	raw_expect_connection_close(
	    &r, 504, "CHANNEL_ERROR - second 'channel.open' seen", AMQP_ID_channel_open);
	raw_close(&r);
}
END_TEST

/*
 * Frames for a channel the broker closed, sent after the client's close-ok: another thread of the
 * client published while it answered the close (streadway/amqp's
 * TestRepeatedChannelExceptionWithPublishAndMaxProcsIssue46). They are dropped and the connection
 * carries on; RabbitMQ closes it with 504 (interop/DIFFERENCES.md).
 */
START_TEST(late_frames_after_broker_close_dropped)
{
	struct amqp_method qos = { .id = AMQP_ID_basic_qos };
	struct raw r;

	WARREN_ONLY();
	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	raw_publish(&r, 1, uniq("missing"), "k", "x", 1);
	raw_expect_channel_close(&r, 1, 404, NULL, AMQP_ID_basic_publish);
	raw_publish(&r, 1, uniq("missing"), "k", "x", 1);
	raw_send_method(&r, 1, &qos);
	raw_channel_open(&r, 2);
	raw_ping(&r, 2);
	raw_channel_open(&r, 1);
	raw_ping(&r, 1);
	raw_close(&r);
}
END_TEST

/* Consume from q on channel 1 with tag "ctag", then delete q there: delete-ok, then the cancel. */
static void delete_consumed_queue(struct raw *r, const char *q, bool durable)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare };
	uint16_t ch;

	m.u.queue_declare.queue = amqp_cstr(q);
	m.u.queue_declare.durable = durable;
	raw_send_method(r, 1, &m);
	raw_expect_method(r, 1, AMQP_ID_queue_declare_ok, NULL);
	m = (struct amqp_method){ .id = AMQP_ID_basic_consume };
	m.u.basic_consume.queue = amqp_cstr(q);
	m.u.basic_consume.consumer_tag = amqp_cstr("ctag");
	raw_send_method(r, 1, &m);
	raw_expect_method(r, 1, AMQP_ID_basic_consume_ok, NULL);
	m = (struct amqp_method){ .id = AMQP_ID_queue_delete };
	m.u.queue_delete.queue = amqp_cstr(q);
	raw_send_method(r, 1, &m);
	raw_expect_method(r, 1, AMQP_ID_queue_delete_ok, NULL);
	ck_assert_int_eq(raw_next_method(r, &ch, &m, WAIT_MS), RAW_FRAME);
	ck_assert_uint_eq(ch, 1);
	ck_assert_uint_eq(m.id, AMQP_ID_basic_cancel);
	ck_assert(amqp_bytes_eq_cstr(m.u.basic_cancel.consumer_tag, "ctag"));
}

/*
 * queue.delete of a queue consumed on the same channel: as RabbitMQ, queue.delete-ok comes before
 * the basic.cancel (amqplib's "cancelled consumer" test closes the connection at the cancel), for
 * a transient and a durable queue (whose delete-ok waits for the store).
 */
START_TEST(queue_delete_ok_before_cancel)
{
	struct raw r;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	delete_consumed_queue(&r, uniq("q"), false);
	delete_consumed_queue(&r, uniq("dq"), true);
	raw_ping(&r, 1);
	raw_close(&r);
}
END_TEST

/* ---- Commands that arrive in one read ---- */

static void publish_mandatory(struct raw *r, const char *rk, const char *body)
{
	struct amqp_method m = { .id = AMQP_ID_basic_publish };

	m.u.basic_publish.routing_key = amqp_cstr(rk);
	m.u.basic_publish.mandatory = true;
	raw_send_method(r, 1, &m);
	raw_send_content(r, 1, NULL, body, strlen(body));
}

/* The next method must be a basic.ack on channel 1 for this one tag alone. */
static void expect_single_ack(struct raw *r, uint64_t tag)
{
	struct amqp_method m;

	raw_expect_method(r, 1, AMQP_ID_basic_ack, &m);
	ck_assert_uint_eq(m.u.basic_ack.delivery_tag, tag);
	ck_assert_msg(!m.u.basic_ack.multiple, "ack %llu is a multiple", (unsigned long long)tag);
}

/*
 * Publishes settled as they are handled (unroutable, mandatory or not) each get their own
 * basic.ack, after the publish's basic.return and before the reply to the next command, also when
 * they all arrive in one read (php-amqp's publish-with-confirms test waits for two ack callbacks).
 */
START_TEST(unroutable_confirms_one_ack_each)
{
	struct amqp_method m = { .id = AMQP_ID_confirm_select };
	struct raw r;
	const char *none = uniq("no-such-queue");

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	raw_send_method(&r, 1, &m);
	raw_expect_method(&r, 1, AMQP_ID_confirm_select_ok, NULL);
	raw_cork(&r);
	publish_mandatory(&r, none, "a");
	publish_mandatory(&r, none, "b");
	raw_publish(&r, 1, "", none, "c", 1);
	raw_publish(&r, 1, "", none, "d", 1);
	m = (struct amqp_method){ .id = AMQP_ID_queue_declare };
	m.u.queue_declare.queue = amqp_cstr(uniq("q"));
	raw_send_method(&r, 1, &m);
	raw_uncork(&r);
	for (uint64_t tag = 1; tag <= 4; tag++) {
		if (tag <= 2) {
			struct amqp_content_header h;
			uint8_t *body;

			raw_expect_method(&r, 1, AMQP_ID_basic_return, &m);
			ck_assert_uint_eq(m.u.basic_return.reply_code, 312);
			raw_expect_content(&r, 1, &h, &body);
			ck_assert_int_eq(body[0], tag == 1 ? 'a' : 'b');
			free(body);
		}
		expect_single_ack(&r, tag);
	}
	raw_expect_method(&r, 1, AMQP_ID_queue_declare_ok, NULL);
	raw_close(&r);
}
END_TEST

static void send_qos_consume(struct raw *r, uint16_t ch, const char *q, const char *tag)
{
	struct amqp_method m = { .id = AMQP_ID_basic_qos };

	m.u.basic_qos.prefetch_count = 1;
	raw_send_method(r, ch, &m);
	raw_expect_method(r, ch, AMQP_ID_basic_qos_ok, NULL);
	m = (struct amqp_method){ .id = AMQP_ID_basic_consume };
	m.u.basic_consume.queue = amqp_cstr(q);
	m.u.basic_consume.consumer_tag = amqp_cstr(tag);
	raw_send_method(r, ch, &m);
	raw_expect_method(r, ch, AMQP_ID_basic_consume_ok, NULL);
}

/* The next method must be a basic.deliver on ch of body to consumer tag; returns its tag. */
static uint64_t expect_deliver_raw(
    struct raw *r, uint16_t ch, const char *ctag, const char *body, bool redelivered)
{
	struct amqp_method m;
	struct amqp_content_header h;
	uint8_t *b;
	uint64_t tag;

	raw_expect_method(r, ch, AMQP_ID_basic_deliver, &m);
	ck_assert(amqp_bytes_eq_cstr(m.u.basic_deliver.consumer_tag, ctag));
	ck_assert_int_eq(m.u.basic_deliver.redelivered, redelivered);
	tag = m.u.basic_deliver.delivery_tag;
	raw_expect_content(r, ch, &h, &b);
	ck_assert_uint_eq(h.body_size, strlen(body));
	ck_assert(memcmp(b, body, h.body_size) == 0);
	free(b);
	return tag;
}

/*
 * basic.ack then basic.cancel in one read, with prefetch 1: the message the ack makes room for
 * goes to the cancelling consumer before it goes (its cancel-ok may come first, as from RabbitMQ),
 * so its channel holds it: another consumer with room gets it only after basic.recover, marked
 * redelivered (php-amqp's basic.recover test).
 */
START_TEST(ack_then_cancel_keeps_freed_delivery)
{
	struct amqp_method m = { .id = AMQP_ID_basic_ack };
	const char *q = uniq("q");
	bool cancelled = false, delivered = false;
	struct raw r;
	uint64_t t1, t2;
	uint16_t ch;

	raw_login(&r, NULL);
	raw_channel_open(&r, 1);
	raw_channel_open(&r, 2);
	raw_queue_declare(&r, 1, q);
	raw_publish(&r, 1, "", q, "m1", 2);
	raw_publish(&r, 1, "", q, "m2", 2);
	raw_publish(&r, 1, "", q, "m3", 2);
	raw_ping(&r, 1);
	send_qos_consume(&r, 1, q, "c1");
	t1 = expect_deliver_raw(&r, 1, "c1", "m1", false);
	send_qos_consume(&r, 2, q, "c2");
	t2 = expect_deliver_raw(&r, 2, "c2", "m2", false);
	raw_cork(&r);
	m.u.basic_ack.delivery_tag = t1;
	raw_send_method(&r, 1, &m);
	m = (struct amqp_method){ .id = AMQP_ID_basic_cancel };
	m.u.basic_cancel.consumer_tag = amqp_cstr("c1");
	raw_send_method(&r, 1, &m);
	raw_uncork(&r);
	while (!cancelled || !delivered) {
		struct amqp_content_header h;
		uint8_t *b;

		ck_assert_int_eq(raw_next_method(&r, &ch, &m, WAIT_MS), RAW_FRAME);
		ck_assert_uint_eq(ch, 1);
		if (m.id == AMQP_ID_basic_cancel_ok) {
			ck_assert(!cancelled);
			cancelled = true;
			continue;
		}
		ck_assert_msg(m.id == AMQP_ID_basic_deliver && !delivered, "unexpected %s",
		    amqp_method_str(m.id));
		ck_assert(amqp_bytes_eq_cstr(m.u.basic_deliver.consumer_tag, "c1"));
		raw_expect_content(&r, 1, &h, &b);
		ck_assert(h.body_size == 2 && memcmp(b, "m3", 2) == 0);
		free(b);
		delivered = true;
	}
	/* Consumer 2 gets room, but m3 is held by channel 1 until it recovers. */
	m = (struct amqp_method){ .id = AMQP_ID_basic_ack };
	m.u.basic_ack.delivery_tag = t2;
	raw_send_method(&r, 2, &m);
	raw_expect_quiet(&r, QUIET_MS);
	m = (struct amqp_method){ .id = AMQP_ID_basic_recover };
	m.u.basic_recover.requeue = true;
	raw_send_method(&r, 1, &m);
	raw_expect_method(&r, 1, AMQP_ID_basic_recover_ok, NULL);
	expect_deliver_raw(&r, 2, "c2", "m3", true);
	raw_close(&r);
}
END_TEST

void basic_frames_tcases(Suite *s)
{
	TCase *tc = harness_tcase(s, "content-frames", TEST_TIMEOUT);

	tcase_add_test(tc, body_in_one_byte_frames_reassembled);
	tcase_add_test(tc, body_longer_than_declared_505);
	tcase_add_test(tc, header_of_another_class_505);
	tcase_add_test(tc, method_inside_content_505);
	tcase_add_test(tc, method_instead_of_header_505);
	tcase_add_test(tc, message_over_max_size_406);
	tcase_add_test(tc, crossed_channel_close);
	tcase_add_test(tc, crossed_channel_close_then_open_504);
	tcase_add_test(tc, open_while_closing_504);
	tcase_add_test(tc, late_frames_after_broker_close_dropped);
	tcase_add_test(tc, queue_delete_ok_before_cancel);
	tcase_add_test(tc, unroutable_confirms_one_ack_each);
	tcase_add_test(tc, ack_then_cancel_keeps_freed_delivery);
}
