/*
 * 05-basic-qos.c: the third part of 05-basic (rabbitmq-c): prefetch, requeue, TTL and routing
 * details that the Java client's own functional tests (QosTests, QueueSizeLimit, PerMessageTTL,
 * DeadLetterExchange, DirectReplyTo, BindingLifecycle) hold a broker to, each checked against
 * RabbitMQ 3.10.
 */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "interop/basic.h"
#include "interop/client.h"

#define CHECK_RPC(c, call) ((void)(call), client_ok((c), #call))

/* The next delivery on channel 1: its consumer tag's first byte; the message is acked if ack. */
static char next_delivery_tag_letter(conn_t c, bool ack)
{
	struct msg m;
	amqp_basic_deliver_t *d;
	char letter;

	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	d = m.method;
	letter = ((const char *)d->consumer_tag.bytes)[0];
	if (ack)
		ck_assert_int_eq(amqp_basic_ack(c, 1, d->delivery_tag, 0), 0);
	msg_free(&m);
	return letter;
}

/* basic.get is not held to a channel's prefetch: a get left unacked takes no consumer's credit. */
START_TEST(get_not_counted_by_global_prefetch)
{
	conn_t c = client_connect_ch1();
	const char *q1 = uniq("q"), *q2 = uniq("q");
	struct msg m;

	declare_queue(c, 1, q1);
	declare_queue(c, 1, q2);
	publish(c, 1, "", q1, "got");
	publish(c, 1, "", q2, "delivered");
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 1));
	ck_assert(get_msg(c, 1, q1, false, &m)); /* left unacked */
	msg_free(&m);
	consume(c, 1, q2, "b", false);
	expect_deliver(c, 1, "delivered");
	client_close(c);
}
END_TEST

/* A channel at its global prefetch holds back its no-ack consumers too, until an ack. */
START_TEST(no_ack_consumer_held_by_global_prefetch)
{
	conn_t c = client_connect_ch1();
	const char *q1 = uniq("q"), *q2 = uniq("q");
	uint64_t tag;

	declare_queue(c, 1, q1);
	declare_queue(c, 1, q2);
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 1));
	publish(c, 1, "", q1, "held");
	consume(c, 1, q1, "a", false);
	tag = expect_deliver(c, 1, "held");
	consume(c, 1, q2, "b", true);
	publish(c, 1, "", q2, "waits");
	client_quiet(c, QUIET_MS);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
	expect_deliver(c, 1, "waits");
	client_close(c);
}
END_TEST

/*
 * The Java client's QosTests.fairness: a channel-wide prefetch of 1 over three consumed queues,
 * then 100 messages fanned out to all three, taken one at a time (each acked before the next
 * comes) 99 times: every queue has had some of its messages consumed. The credit an ack frees
 * must not go to the same queue each time: handing it to the first consumer of the channel left
 * the other two queues untouched.
 */
START_TEST(global_prefetch_fair_over_queues)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x"), *q[3] = { uniq("q"), uniq("q"), uniq("q") };
	const char *tags[3] = { "a", "b", "c" };
	int i, got[3] = { 0, 0, 0 };

	declare_exchange(c, 1, x, "fanout");
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 1));
	for (i = 0; i < 3; i++) {
		declare_queue(c, 1, q[i]);
		bind_queue(c, 1, q[i], x, "");
		consume(c, 1, q[i], tags[i], false);
	}
	for (i = 0; i < 100; i++)
		publish(c, 1, x, "", "m");
	for (i = 0; i < 99; i++)
		got[next_delivery_tag_letter(c, true) - 'a']++;
	client_open(c, 2);
	for (i = 0; i < 3; i++)
		ck_assert_msg(queue_count(c, 2, q[i]) < 100,
		    "queue %d was never served (deliveries per queue: %d %d %d)", i, got[0], got[1],
		    got[2]);
	client_close(c);
}
END_TEST

/*
 * A publish followed at once by basic.get on the same channel: the waiting consumer gets the
 * message (RabbitMQ hands it over as it is enqueued), the get finds the queue empty.
 */
START_TEST(get_after_publish_leaves_the_consumer_its_message)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_rpc_reply_t r;

	declare_queue(c, 1, q);
	consume(c, 1, q, "a", true);
	publish(c, 1, "", q, "for the consumer");
	r = amqp_basic_get(c, 1, B(q), 1);
	ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
	ck_assert_uint_eq(r.reply.id, AMQP_BASIC_GET_EMPTY_METHOD);
	expect_deliver(c, 1, "for the consumer");
	client_close(c);
}
END_TEST

/*
 * A requeue that takes a drop-head queue past x-max-length drops from the head, dead-lettering
 * ("maxlen") what falls off: here the requeued message, which goes back before the newer one.
 */
START_TEST(requeue_past_max_length_drops_head)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *dlq = uniq("dlq");
	uint64_t tag;

	client_open(c, 2);
	declare_queue(c, 1, dlq);
	consume(c, 2, dlq, "dl", true);
	declare_queue_args(c, 1, q,
	    TABLE(ent_int("x-max-length", 1), ent_str("x-dead-letter-exchange", ""),
	        ent_str("x-dead-letter-routing-key", dlq)));
	publish(c, 1, "", q, "old");
	get_one(c, 1, q, "old", &tag);
	publish(c, 1, "", q, "new");
	ck_assert_int_eq(amqp_basic_nack(c, 1, tag, 0, 1), 0);
	expect_deliver(c, 2, "old"); /* dead-lettered, "maxlen" */
	ck_assert_uint_eq(queue_count(c, 1, q), 1);
	expect_get(c, 1, q, "new");
	client_close(c);
}
END_TEST

/*
 * A message with a TTL of 0 that no consumer can take at once dies at once (dead-lettered as
 * "expired"): a basic.get right after the publish finds nothing. Per queue and per message.
 */
START_TEST(zero_ttl_without_consumer_dies_at_once)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *q2 = uniq("q"), *dlq = uniq("dlq");
	amqp_basic_properties_t p = { 0 };
	struct msg m;

	declare_queue(c, 1, dlq);
	declare_queue_args(c, 1, q,
	    TABLE(ent_int("x-message-ttl", 0), ent_str("x-dead-letter-exchange", ""),
	        ent_str("x-dead-letter-routing-key", dlq)));
	declare_queue(c, 1, q2);
	publish(c, 1, "", q, "gone");
	ck_assert(!get_msg(c, 1, q, true, &m));
	p._flags = AMQP_BASIC_EXPIRATION_FLAG;
	p.expiration = B("0");
	publish_props(c, 1, "", q2, false, &p, "gone too", 8);
	ck_assert(!get_msg(c, 1, q2, true, &m));
	expect_get(c, 1, dlq, "gone");
	client_close(c);
}
END_TEST

/*
 * A TTL-0 message reaches a consumer ready for it; rejected with requeue, its TTL is up, so it
 * dies instead of coming back (the Java client's TTLHandling.zeroTTLDelivery).
 */
START_TEST(zero_ttl_requeued_dies)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	uint64_t tag;

	declare_queue_args(c, 1, q, TABLE(ent_int("x-message-ttl", 0)));
	consume(c, 1, q, "a", false);
	publish(c, 1, "", q, "once");
	tag = expect_deliver(c, 1, "once");
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 1), 0);
	client_quiet(c, QUIET_MS);
	client_close(c);
}
END_TEST

/* Dead-lettered with an x-dead-letter-routing-key: the CC header is dropped (the key replaces it). */
START_TEST(dead_letter_routing_key_drops_cc)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *dlq = uniq("dlq"), *other = uniq("other");
	amqp_basic_properties_t p = { 0 };
	amqp_field_value_t cc = { .kind = AMQP_FIELD_KIND_ARRAY };
	amqp_field_value_t keys[1] = { { .kind = AMQP_FIELD_KIND_UTF8 } };
	amqp_table_entry_t h;
	struct msg m;
	uint64_t tag;

	client_open(c, 2);
	client_open(c, 3);
	declare_queue(c, 1, dlq);
	declare_queue(c, 1, other);
	consume(c, 2, other, "o", true);
	consume(c, 3, dlq, "d", true);
	declare_queue_args(c, 1, q,
	    TABLE(
	        ent_str("x-dead-letter-exchange", ""), ent_str("x-dead-letter-routing-key", dlq)));
	keys[0].value.bytes = B(other);
	cc.value.array = (amqp_array_t){ 1, keys };
	h = (amqp_table_entry_t){ B("CC"), cc };
	p._flags = AMQP_BASIC_HEADERS_FLAG;
	p.headers = (amqp_table_t){ 1, &h };
	publish_props(c, 1, "", q, false, &p, "x", 1);
	expect_deliver(c, 2, "x"); /* CC routed it there too */
	get_one(c, 1, q, "x", &tag);
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 0), 0);
	client_expect(c, 3, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert(m.props->_flags & AMQP_BASIC_HEADERS_FLAG);
	ck_assert(table_get(&m.props->headers, "CC") == NULL);
	ck_assert(table_get(&m.props->headers, "x-death") != NULL);
	msg_free(&m);
	client_quiet(c, QUIET_MS); /* and the dead letter did not go to the CC'd queue */
	client_close(c);
}
END_TEST

/* x-death entry i of a delivery: its queue is queue and its count count. */
static void death_at(const amqp_array_t *a, int i, const char *queue, int64_t count)
{
	const amqp_field_value_t *q, *c;

	ck_assert_int_gt(a->num_entries, i);
	ck_assert_int_eq(a->entries[i].kind, AMQP_FIELD_KIND_TABLE);
	q = table_get(&a->entries[i].value.table, "queue");
	c = table_get(&a->entries[i].value.table, "count");
	ck_assert_msg(
	    q != NULL && bytes_is(q->value.bytes, queue), "x-death[%d] is not %s", i, queue);
	ck_assert_msg(c != NULL && c->kind == AMQP_FIELD_KIND_I64 && c->value.i64 == count,
	    "x-death[%d] (%s): count is not %lld", i, queue, (long long)count);
}

/*
 * x-death entries from before RabbitMQ counted them (one per death, no count; the Java client's
 * XDeathHeaderGrowth) are grouped by queue and reason when the message dies again: the first of
 * each group stands for it with the group's size as its count, groups in reverse order of first
 * appearance; the group of this death counts one more; no x-first-death-* is added.
 */
START_TEST(legacy_x_death_grouped)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *dlq = uniq("dlq");
	amqp_basic_properties_t p = { 0 };
	amqp_field_value_t deaths[4], xd = { .kind = AMQP_FIELD_KIND_ARRAY };
	const amqp_field_value_t *got;
	amqp_table_entry_t h, e[4][4];
	const char *queues[4] = { "old-a", "old-a", "old-b", q };
	struct msg m;
	uint64_t tag;
	int i;

	client_open(c, 2);
	declare_queue(c, 1, dlq);
	consume(c, 2, dlq, "d", true);
	declare_queue_args(c, 1, q,
	    TABLE(
	        ent_str("x-dead-letter-exchange", ""), ent_str("x-dead-letter-routing-key", dlq)));
	for (i = 0; i < 4; i++) {
		e[i][0] = ent_str("reason", i < 3 ? "expired" : "rejected");
		e[i][1] = ent_str("queue", queues[i]);
		e[i][2] = ent_str("exchange", "old-x");
		e[i][3] = ent_int("count", 5); /* the last one's only */
		deaths[i].kind = AMQP_FIELD_KIND_TABLE;
		deaths[i].value.table = (amqp_table_t){ i < 3 ? 3 : 4, e[i] };
	}
	xd.value.array = (amqp_array_t){ 4, deaths };
	h = (amqp_table_entry_t){ B("x-death"), xd };
	p._flags = AMQP_BASIC_HEADERS_FLAG;
	p.headers = (amqp_table_t){ 1, &h };
	publish_props(c, 1, "", q, false, &p, "x", 1);
	get_one(c, 1, q, "x", &tag);
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 0), 0);
	client_expect(c, 2, AMQP_BASIC_DELIVER_METHOD, &m); /* RabbitMQ dead-letters later */
	got = table_get(&m.props->headers, "x-death");
	ck_assert(got != NULL && got->kind == AMQP_FIELD_KIND_ARRAY);
	ck_assert_int_eq(got->value.array.num_entries, 3);
	death_at(&got->value.array, 0, q, 6);
	death_at(&got->value.array, 1, "old-b", 1);
	death_at(&got->value.array, 2, "old-a", 2);
	ck_assert(table_get(&m.props->headers, "x-first-death-reason") == NULL);
	msg_free(&m);
	client_close(c);
}
END_TEST

/* A passive queue.declare of a live channel's reply-to address answers declare-ok. */
START_TEST(passive_declare_of_reply_to_address)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_properties_t p = { 0 };
	amqp_queue_declare_ok_t *ok;
	struct msg m;

	client_open(c, 2);
	declare_queue(c, 1, q);
	consume(c, 1, "amq.rabbitmq.reply-to", "r", true);
	p._flags = AMQP_BASIC_REPLY_TO_FLAG;
	p.reply_to = B("amq.rabbitmq.reply-to");
	publish_props(c, 1, "", q, false, &p, "ask", 3);
	ck_assert(get_msg(c, 2, q, true, &m));
	ck_assert(m.props->_flags & AMQP_BASIC_REPLY_TO_FLAG);
	ok = amqp_queue_declare(c, 2, m.props->reply_to, 1, 0, 0, 0, amqp_empty_table);
	client_ok(c, "passive declare of the reply-to address");
	ck_assert(ok != NULL);
	msg_free(&m);
	client_close(c);
}
END_TEST

/*
 * The address has RabbitMQ's shape, which clients match (php-amqp's tests, aio-pika):
 * "amq.rabbitmq.reply-to." and two standard-base64 parts joined by '.', the second ending in "==";
 * each channel gets its own.
 */
START_TEST(reply_to_address_shape)
{
	static const char shape[] =
	    "^amq\\.rabbitmq\\.reply-to\\.[A-Za-z0-9+/]+={0,2}\\.[A-Za-z0-9+/]{22}==$";
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_properties_t p = { 0 };
	char addr[2][256];
	struct msg m;
	regex_t re;

	ck_assert_int_eq(regcomp(&re, shape, REG_EXTENDED | REG_NOSUB), 0);
	declare_queue(c, 1, q);
	p._flags = AMQP_BASIC_REPLY_TO_FLAG;
	p.reply_to = B("amq.rabbitmq.reply-to");
	for (int i = 0; i < 2; i++) {
		client_open(c, (amqp_channel_t)(2 + i));
		consume(c, (amqp_channel_t)(2 + i), "amq.rabbitmq.reply-to", "r", true);
		publish_props(c, (amqp_channel_t)(2 + i), "", q, false, &p, "ask", 3);
		ck_assert(get_msg(c, 1, q, true, &m));
		ck_assert(m.props->_flags & AMQP_BASIC_REPLY_TO_FLAG);
		ck_assert(m.props->reply_to.len < sizeof(addr[i]));
		memcpy(addr[i], m.props->reply_to.bytes, m.props->reply_to.len);
		addr[i][m.props->reply_to.len] = '\0';
		msg_free(&m);
		ck_assert_msg(
		    regexec(&re, addr[i], 0, NULL, 0) == 0, "reply-to address '%s'", addr[i]);
	}
	ck_assert_str_ne(addr[0], addr[1]);
	regfree(&re);
	client_close(c);
}
END_TEST

/* CC and BCC must be arrays (the Java client's CcRoutes.nonArray): 406 with RabbitMQ's text. */
START_TEST(cc_header_not_array_406)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_HEADERS_FLAG };
	amqp_table_entry_t h[2] = { ent_i32("CC", 5), ent_str("BCC", "x") };

	declare_queue(c, 1, q);
	p.headers = (amqp_table_t){ 1, &h[0] };
	publish_props(c, 1, "", q, false, &p, "x", 1);
	expect_channel_close(c, 1, 406,
	    "PRECONDITION_FAILED - invalid message: "
	    "{unacceptable_type_in_header,\"CC\",signedint}");
	client_open(c, 1);
	p.headers = (amqp_table_t){ 1, &h[1] };
	publish_props(c, 1, "", q, false, &p, "x", 1);
	expect_channel_close(c, 1, 406,
	    "PRECONDITION_FAILED - invalid message: {unacceptable_type_in_header,\"BCC\",longstr}");
	client_close(c);
}
END_TEST

void basic_qos_tcases(Suite *s)
{
	TCase *tc = harness_tcase(s, "qos-ttl-routing", TEST_TIMEOUT);

	tcase_add_test(tc, get_not_counted_by_global_prefetch);
	tcase_add_test(tc, no_ack_consumer_held_by_global_prefetch);
	tcase_add_test(tc, global_prefetch_fair_over_queues);
	tcase_add_test(tc, get_after_publish_leaves_the_consumer_its_message);
	tcase_add_test(tc, requeue_past_max_length_drops_head);
	tcase_add_test(tc, zero_ttl_without_consumer_dies_at_once);
	tcase_add_test(tc, zero_ttl_requeued_dies);
	tcase_add_test(tc, dead_letter_routing_key_drops_cc);
	tcase_add_test(tc, legacy_x_death_grouped);
	tcase_add_test(tc, passive_declare_of_reply_to_address);
	tcase_add_test(tc, reply_to_address_shape);
	tcase_add_test(tc, cc_header_not_array_406);
}
