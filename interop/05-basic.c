/*
 * 05-basic: publishing (routing outcomes, returns, properties, large messages), consumers (tags,
 * exclusivity, cancel, round-robin, prefetch), basic.get, and acknowledgements (ack, nack,
 * reject, recover, redelivery). The content-framing errors are in 05-basic-frames.c.
 */
#include <stdlib.h>
#include <string.h>

#include "interop/basic.h"
#include "interop/client.h"

/* ---- Comparing decoded field values (rabbitmq-c's types) ---- */

static bool bytes_eq(amqp_bytes_t a, amqp_bytes_t b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.bytes, b.bytes, a.len) == 0);
}

static bool table_eq(const amqp_table_t *a, const amqp_table_t *b);

static bool value_eq(const amqp_field_value_t *a, const amqp_field_value_t *b)
{
	int i;

	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case AMQP_FIELD_KIND_BOOLEAN: return !a->value.boolean == !b->value.boolean;
	case AMQP_FIELD_KIND_I8: return a->value.i8 == b->value.i8;
	case AMQP_FIELD_KIND_U8: return a->value.u8 == b->value.u8;
	case AMQP_FIELD_KIND_I16: return a->value.i16 == b->value.i16;
	case AMQP_FIELD_KIND_U16: return a->value.u16 == b->value.u16;
	case AMQP_FIELD_KIND_I32: return a->value.i32 == b->value.i32;
	case AMQP_FIELD_KIND_U32: return a->value.u32 == b->value.u32;
	case AMQP_FIELD_KIND_I64: return a->value.i64 == b->value.i64;
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP: return a->value.u64 == b->value.u64;
	case AMQP_FIELD_KIND_F32: return memcmp(&a->value.f32, &b->value.f32, 4) == 0;
	case AMQP_FIELD_KIND_F64: return memcmp(&a->value.f64, &b->value.f64, 8) == 0;
	case AMQP_FIELD_KIND_DECIMAL:
		return a->value.decimal.decimals == b->value.decimal.decimals &&
		    a->value.decimal.value == b->value.decimal.value;
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES: return bytes_eq(a->value.bytes, b->value.bytes);
	case AMQP_FIELD_KIND_VOID: return true;
	case AMQP_FIELD_KIND_TABLE: return table_eq(&a->value.table, &b->value.table);
	case AMQP_FIELD_KIND_ARRAY:
		if (a->value.array.num_entries != b->value.array.num_entries)
			return false;
		for (i = 0; i < a->value.array.num_entries; i++)
			if (!value_eq(&a->value.array.entries[i], &b->value.array.entries[i]))
				return false;
		return true;
	default: return false;
	}
}

/* Tables are equal with their entries in the same order (nothing may reorder them). */
static bool table_eq(const amqp_table_t *a, const amqp_table_t *b)
{
	int i;

	if (a->num_entries != b->num_entries)
		return false;
	for (i = 0; i < a->num_entries; i++)
		if (!bytes_eq(a->entries[i].key, b->entries[i].key) ||
		    !value_eq(&a->entries[i].value, &b->entries[i].value))
			return false;
	return true;
}

/* Every property, with a headers table holding every field type. */
static amqp_basic_properties_t all_properties(void)
{
	static amqp_field_value_t items[2];
	static amqp_table_entry_t inner[1], headers[17];
	amqp_basic_properties_t p = { 0 };
	int n = 0;

	items[0].kind = AMQP_FIELD_KIND_UTF8;
	items[0].value.bytes = B("one");
	items[1].kind = AMQP_FIELD_KIND_I32;
	items[1].value.i32 = -2;
	inner[0] = ent_str("nested", "yes");
	headers[n++] = ent_bool("bool", true);
	headers[n] = ent_int("i8", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_I8;
	headers[n++].value.value.i8 = -8;
	headers[n] = ent_int("u8", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_U8;
	headers[n++].value.value.u8 = 200;
	headers[n] = ent_int("i16", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_I16;
	headers[n++].value.value.i16 = -1600;
	headers[n] = ent_int("u16", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_U16;
	headers[n++].value.value.u16 = 60000;
	headers[n++] = ent_i32("i32", -320000);
	headers[n] = ent_int("u32", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_U32;
	headers[n++].value.value.u32 = 4000000000u;
	headers[n++] = ent_int("i64", -(1LL << 40));
	headers[n] = ent_int("f32", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_F32;
	headers[n++].value.value.f32 = 1.5f;
	headers[n] = ent_int("f64", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_F64;
	headers[n++].value.value.f64 = -2.25;
	headers[n] = ent_int("decimal", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_DECIMAL;
	headers[n].value.value.decimal.decimals = 2;
	headers[n++].value.value.decimal.value = 31415;
	headers[n++] = ent_str("string", "s\xc3\xa9");
	headers[n] = ent_str("bytes", "\x01\x00\x02");
	headers[n].value.kind = AMQP_FIELD_KIND_BYTES;
	headers[n++].value.value.bytes = (amqp_bytes_t){ 3, "\x01\x00\x02" };
	headers[n] = ent_int("timestamp", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_TIMESTAMP;
	headers[n++].value.value.u64 = 1700000000;
	headers[n++] = ent_table("table", (amqp_table_t){ 1, inner });
	headers[n] = ent_int("array", 0);
	headers[n].value.kind = AMQP_FIELD_KIND_ARRAY;
	headers[n].value.value.array.num_entries = 2;
	headers[n++].value.value.array.entries = items;
	headers[n] = ent_int("void", 0);
	headers[n++].value.kind = AMQP_FIELD_KIND_VOID;
	ck_assert_int_eq(n, 17);

	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
	    AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
	    AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG |
	    AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG |
	    AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG | AMQP_BASIC_CLUSTER_ID_FLAG;
	p.content_type = B("text/plain");
	p.content_encoding = B("gzip");
	p.headers = (amqp_table_t){ n, headers };
	p.delivery_mode = 2;
	p.priority = 7;
	p.correlation_id = B("corr-1");
	p.reply_to = B("reply.queue");
	p.expiration = B("600000");
	p.message_id = B("msg-1");
	p.timestamp = 1700000001;
	p.type = B("kind");
	p.user_id = B("guest");
	p.app_id = B("interop");
	p.cluster_id = B("cluster-x");
	return p;
}

static void check_same_properties(
    const amqp_basic_properties_t *a, const amqp_basic_properties_t *b)
{
	ck_assert_uint_eq(a->_flags, b->_flags);
	ck_assert(bytes_eq(a->content_type, b->content_type));
	ck_assert(bytes_eq(a->content_encoding, b->content_encoding));
	ck_assert_msg(table_eq(&a->headers, &b->headers), "headers differ");
	ck_assert_uint_eq(a->delivery_mode, b->delivery_mode);
	ck_assert_uint_eq(a->priority, b->priority);
	ck_assert(bytes_eq(a->correlation_id, b->correlation_id));
	ck_assert(bytes_eq(a->reply_to, b->reply_to));
	ck_assert(bytes_eq(a->expiration, b->expiration));
	ck_assert(bytes_eq(a->message_id, b->message_id));
	ck_assert_uint_eq(a->timestamp, b->timestamp);
	ck_assert(bytes_eq(a->type, b->type));
	ck_assert(bytes_eq(a->user_id, b->user_id));
	ck_assert(bytes_eq(a->app_id, b->app_id));
	ck_assert(bytes_eq(a->cluster_id, b->cluster_id));
}

/* ---- Publishing ---- */

START_TEST(publish_to_missing_exchange_404)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");

	publish(c, 1, x, "k", "lost");
	expect_channel_close(c, 1, 404, fmt("NOT_FOUND - no exchange '%s' in vhost '/'", x));
	ck_assert_uint_eq(close_class_id, 60);
	ck_assert_uint_eq(close_method_id, 40);
	client_close(c);
}
END_TEST

/* basic.return 312 "NO_ROUTE" carries the message back with its properties and body intact. */
START_TEST(mandatory_unroutable_returned_intact)
{
	conn_t c = client_connect_ch1();
	amqp_basic_properties_t p = all_properties();
	const char *rk = uniq("nowhere");
	amqp_basic_return_t *ret;
	struct msg m;

	publish_props(c, 1, "", rk, true, &p, "returned body", 13);
	client_expect(c, 1, AMQP_BASIC_RETURN_METHOD, &m);
	ret = m.method;
	check_reply("basic.return", ret->reply_code, ret->reply_text.bytes, ret->reply_text.len,
	    312, "NO_ROUTE");
	ck_assert(bytes_is(ret->exchange, ""));
	ck_assert(bytes_is(ret->routing_key, rk));
	ck_assert_uint_eq(m.body_len, 13);
	ck_assert_mem_eq(m.body, "returned body", 13);
	check_same_properties(&p, m.props);
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(mandatory_to_exchange_without_bindings_returned)
{
	conn_t c = client_connect_ch1();
	const char *x = uniq("x");
	amqp_basic_return_t *ret;
	struct msg m;

	declare_exchange(c, 1, x, "fanout");
	publish_props(c, 1, x, "any", true, NULL, "", 0);
	client_expect(c, 1, AMQP_BASIC_RETURN_METHOD, &m);
	ret = m.method;
	ck_assert_uint_eq(ret->reply_code, 312);
	ck_assert(bytes_is(ret->exchange, x));
	ck_assert(bytes_is(ret->routing_key, "any"));
	ck_assert_uint_eq(m.body_len, 0);
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(unroutable_without_mandatory_dropped)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	publish(c, 1, "", uniq("nowhere"), "dropped");
	publish(c, 1, "", q, "after");
	expect_get(c, 1, q, "after"); /* the round trip orders the quiet */
	client_quiet(c, QUIET_MS);
	client_close(c);
}
END_TEST

/* RabbitMQ: connection.close 540 "NOT_IMPLEMENTED - immediate=true" (60, 40). */
START_TEST(immediate_540)
{
	conn_t c = client_connect_ch1();
	int status = amqp_basic_publish(c, 1, B(""), B("k"), 0, 1, NULL, B("now"));

	ck_assert_int_eq(status, 0);
	expect_connection_close(c, 540, "NOT_IMPLEMENTED - immediate=true");
	ck_assert_uint_eq(close_class_id, 60);
	ck_assert_uint_eq(close_method_id, 40);
	client_drop(c);
}
END_TEST

START_TEST(all_properties_round_trip)
{
	conn_t c = client_connect_ch1();
	amqp_basic_properties_t p = all_properties();
	const char *q = uniq("q");
	struct msg m;

	declare_queue(c, 1, q);
	publish_props(c, 1, "", q, false, &p, "body", 4);
	consume(c, 1, q, NULL, true);
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	check_same_properties(&p, m.props);
	ck_assert_str_eq((char *)m.body, "body");
	msg_free(&m);
	client_close(c);
}
END_TEST

/* RabbitMQ checks user-id against the login: "PRECONDITION_FAILED - user_id property set to
 * 'nobody' but authenticated user was 'guest'" (60, 40). */
START_TEST(user_id_mismatch_406)
{
	conn_t c = client_connect_ch1();
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = B("nobody") };

	publish_props(c, 1, "", uniq("q"), false, &p, "x", 1);
	expect_channel_close(c, 1, 406,
	    "PRECONDITION_FAILED - user_id property set to 'nobody' but authenticated user was "
	    "'guest'");
	client_close(c);
}
END_TEST

START_TEST(empty_body_round_trip)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	publish(c, 1, "", q, "");
	expect_get(c, 1, q, "");
	client_close(c);
}
END_TEST

/* A 1 MiB message published and consumed with frame_max fm arrives byte for byte. */
static void large_message(int fm)
{
	struct client_opts o = { .frame_max = fm };
	conn_t c = client_connect_opts(&o);
	const char *q = uniq("q");
	size_t n = 1 << 20, i;
	uint8_t *body = malloc(n);
	struct msg m;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < n; i++)
		body[i] = (uint8_t)(i * 31 + (i >> 8));
	client_open(c, 1);
	declare_queue(c, 1, q);
	publish_props(c, 1, "", q, false, NULL, body, n);
	consume(c, 1, q, NULL, true);
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_uint_eq(m.body_len, n);
	ck_assert_msg(memcmp(m.body, body, n) == 0, "body differs");
	msg_free(&m);
	free(body);
	client_close(c);
}

START_TEST(large_message_frame_max_131072)
{
	large_message(131072);
}
END_TEST

START_TEST(large_message_frame_max_4096)
{
	large_message(4096);
}
END_TEST

/* ---- Consumers ---- */

/* RabbitMQ's generated tags: "amq.ctag-" and 22 characters of URL-safe base64. */
START_TEST(consume_gets_server_tag)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q"), *tag;
	size_t i;

	declare_queue(c, 1, q);
	tag = consume(c, 1, q, NULL, false);
	ck_assert_msg(strncmp(tag, "amq.ctag-", 9) == 0, "consumer tag \"%s\"", tag);
	ck_assert_uint_eq(strlen(tag), 9 + 22);
	for (i = 9; i < strlen(tag); i++)
		ck_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
		              tag[i]) != NULL);
	client_close(c);
}
END_TEST

/* RabbitMQ: connection.close 530 "NOT_ALLOWED - attempt to reuse consumer tag 'T'" (60, 20). */
START_TEST(duplicate_consumer_tag_530)
{
	conn_t c = client_connect_ch1();
	const char *q1 = uniq("q"), *q2 = uniq("q");

	declare_queue(c, 1, q1);
	declare_queue(c, 1, q2);
	consume(c, 1, q1, "dup", false);
	amqp_basic_consume(c, 1, B(q2), B("dup"), 0, 0, 0, amqp_empty_table);
	rpc_connection_error(c, 530, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'");
	ck_assert_uint_eq(close_class_id, 60);
	ck_assert_uint_eq(close_method_id, 20);
	client_drop(c);
}
END_TEST

/* Consumer tags are per channel. */
START_TEST(same_tag_on_two_channels_ok)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	declare_queue(c, 1, q);
	consume(c, 1, q, "same", false);
	consume(c, 2, q, "same", false);
	client_close(c);
}
END_TEST

START_TEST(consume_missing_queue_404)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	amqp_basic_consume(c, 1, B(q), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 404, fmt("NOT_FOUND - no queue '%s' in vhost '/'", q));
	ck_assert_uint_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

/* RabbitMQ: "ACCESS_REFUSED - queue 'Q' in vhost '/' in exclusive use" (60, 20). */
START_TEST(exclusive_consume_while_others_consume_403)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	declare_queue(c, 1, q);
	consume(c, 2, q, "shared", false);
	amqp_basic_consume(c, 1, B(q), B("alone"), 0, 0, 1, amqp_empty_table);
	rpc_channel_error(
	    c, 1, 403, fmt("ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use", q));
	client_close(c);
}
END_TEST

START_TEST(consume_while_exclusive_consumer_403)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	client_open(c, 2);
	declare_queue(c, 1, q);
	amqp_basic_consume(c, 2, B(q), B("alone"), 0, 0, 1, amqp_empty_table);
	client_ok(c, "exclusive consume");
	amqp_basic_consume(c, 1, B(q), B("second"), 0, 0, 0, amqp_empty_table);
	rpc_channel_error(
	    c, 1, 403, fmt("ACCESS_REFUSED - queue '%s' in vhost '/' in exclusive use", q));
	client_close(c);
}
END_TEST

START_TEST(no_ack_consumer_takes_messages)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	declare_queue(c, 1, q);
	consume(c, 1, q, "t", true);
	publish(c, 1, "", q, "gone");
	expect_deliver(c, 1, "gone");
	CHECK_RPC(c, amqp_basic_cancel(c, 1, B("t")));
	client_close_channel(c, 1); /* nothing unacked to requeue */
	client_open(c, 1);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(cancel_stops_deliveries)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_cancel_ok_t *ok;

	declare_queue(c, 1, q);
	consume(c, 1, q, "t", true);
	ok = amqp_basic_cancel(c, 1, B("t"));
	client_ok(c, "basic.cancel");
	ck_assert(bytes_is(ok->consumer_tag, "t"));
	publish(c, 1, "", q, "stays");
	expect_get(c, 1, q, "stays");
	client_quiet(c, 0);
	client_close(c);
}
END_TEST

/* RabbitMQ answers cancel-ok for a tag it does not know. */
START_TEST(cancel_unknown_tag_ok)
{
	conn_t c = client_connect_ch1();
	amqp_basic_cancel_ok_t *ok = amqp_basic_cancel(c, 1, B("no-such-tag"));

	client_ok(c, "basic.cancel");
	ck_assert(bytes_is(ok->consumer_tag, "no-such-tag"));
	client_close(c);
}
END_TEST

START_TEST(consumers_served_round_robin)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	int i;

	declare_queue(c, 1, q);
	consume(c, 1, q, "a", true);
	consume(c, 1, q, "b", true);
	for (i = 0; i < 4; i++)
		publish(c, 1, "", q, fmt("%d", i));
	for (i = 0; i < 4; i++) {
		struct msg m;
		amqp_basic_deliver_t *d;

		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		d = m.method;
		ck_assert_str_eq((char *)m.body, fmt("%d", i));
		ck_assert(bytes_is(d->consumer_tag, i % 2 == 0 ? "a" : "b"));
		msg_free(&m);
	}
	client_close(c);
}
END_TEST

/* basic.qos global=false: each consumer may hold prefetch_count unacked messages. */
START_TEST(prefetch_per_consumer)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	uint64_t tag;
	int i;

	declare_queue(c, 1, q);
	for (i = 0; i < 5; i++)
		publish(c, 1, "", q, fmt("%d", i));
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 2, 0));
	consume(c, 1, q, "a", false);
	expect_deliver(c, 1, "0");
	tag = expect_deliver(c, 1, "1");
	client_quiet(c, QUIET_MS);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
	expect_deliver(c, 1, "2");
	client_quiet(c, QUIET_MS);
	client_close(c);
}
END_TEST

/* basic.qos global=true: the consumers of the channel share prefetch_count. */
START_TEST(prefetch_per_channel)
{
	conn_t c = client_connect_ch1();
	const char *q1 = uniq("q"), *q2 = uniq("q");
	struct msg m;
	int i;

	declare_queue(c, 1, q1);
	declare_queue(c, 1, q2);
	for (i = 0; i < 3; i++) {
		publish(c, 1, "", q1, "one");
		publish(c, 1, "", q2, "two");
	}
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 3, 1));
	consume(c, 1, q1, "a", false);
	consume(c, 1, q2, "b", false);
	for (i = 0; i < 3; i++) {
		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		msg_free(&m);
	}
	client_quiet(c, QUIET_MS);
	ck_assert_int_eq(amqp_basic_ack(c, 1, 0, 1), 0); /* all of them */
	for (i = 0; i < 3; i++) {
		client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
		msg_free(&m);
	}
	client_quiet(c, QUIET_MS);
	client_close(c);
}
END_TEST

/* RabbitMQ: connection.close 540 "NOT_IMPLEMENTED - prefetch_size!=0 (1)" (60, 10). */
START_TEST(prefetch_size_540)
{
	conn_t c = client_connect_ch1();

	amqp_basic_qos(c, 1, 1, 0, 0);
	rpc_connection_error(c, 540, "NOT_IMPLEMENTED - prefetch_size!=0 (1)");
	ck_assert_uint_eq(close_class_id, 60);
	ck_assert_uint_eq(close_method_id, 10);
	client_drop(c);
}
END_TEST

/* ---- basic.get ---- */

START_TEST(get_ok_counts_remaining_messages)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");
	amqp_basic_get_ok_t *ok;
	struct msg m;

	declare_queue(c, 1, q);
	publish(c, 1, "", q, "a");
	publish(c, 1, "", q, "b");
	publish(c, 1, "", q, "c");
	ck_assert(get_msg(c, 1, q, true, &m));
	ok = m.method;
	ck_assert_uint_eq(ok->message_count, 2);
	ck_assert_uint_eq(ok->delivery_tag, 1);
	ck_assert(!ok->redelivered);
	ck_assert(bytes_is(ok->exchange, ""));
	ck_assert(bytes_is(ok->routing_key, q));
	ck_assert_str_eq((char *)m.body, "a");
	msg_free(&m);
	ck_assert(get_msg(c, 1, q, true, &m));
	ck_assert_uint_eq(((amqp_basic_get_ok_t *)m.method)->message_count, 1);
	ck_assert_uint_eq(((amqp_basic_get_ok_t *)m.method)->delivery_tag, 2);
	msg_free(&m);
	ck_assert(get_msg(c, 1, q, true, &m));
	ck_assert_uint_eq(((amqp_basic_get_ok_t *)m.method)->message_count, 0);
	msg_free(&m);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(get_missing_queue_404)
{
	conn_t c = client_connect_ch1();
	const char *q = uniq("q");

	reply_channel_error(c, 1, amqp_basic_get(c, 1, B(q), 1), 404,
	    fmt("NOT_FOUND - no queue '%s' in vhost '/'", q));
	ck_assert_uint_eq(close_method_id, 70);
	client_close(c);
}
END_TEST

/* ---- Acknowledgements ---- */

/* Publish bodies "0".."n-1" to a new queue q. */
static const char *queue_with(conn_t c, int n)
{
	const char *q = uniq("q");
	int i;

	declare_queue(c, 1, q);
	for (i = 0; i < n; i++)
		publish(c, 1, "", q, fmt("%d", i));
	return q;
}

/* basic.get on q must return body with the redelivered flag as given (no-ack). */
static void expect_get_redelivered(conn_t c, const char *q, const char *body, bool redelivered)
{
	struct msg m;

	ck_assert_msg(get_msg(c, 1, q, true, &m), "get-empty, expected \"%s\"", body);
	ck_assert_str_eq((char *)m.body, body);
	ck_assert_msg(!((amqp_basic_get_ok_t *)m.method)->redelivered == !redelivered,
	    "\"%s\": redelivered is %d", body, ((amqp_basic_get_ok_t *)m.method)->redelivered);
	msg_free(&m);
}

START_TEST(ack_removes_the_message)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 1);
	uint64_t tag;

	client_open(c, 2);
	get_one(c, 2, q, "0", &tag);
	ck_assert_int_eq(amqp_basic_ack(c, 2, tag, 0), 0);
	client_close_channel(c, 2);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(ack_multiple)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 4);
	uint64_t tag;

	client_open(c, 2);
	get_one(c, 2, q, "0", &tag);
	get_one(c, 2, q, "1", &tag);
	get_one(c, 2, q, "2", &tag);
	ck_assert_uint_eq(tag, 3);
	ck_assert_int_eq(amqp_basic_ack(c, 2, 2, 1), 0); /* 1 and 2 */
	client_close_channel(c, 2);                      /* 3 comes back */
	expect_get_redelivered(c, q, "2", true);
	expect_get_redelivered(c, q, "3", false);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* ack with tag 0 and multiple acknowledges everything outstanding. */
START_TEST(ack_zero_multiple_acks_all)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 2);
	uint64_t tag;

	client_open(c, 2);
	get_one(c, 2, q, "0", &tag);
	get_one(c, 2, q, "1", &tag);
	ck_assert_int_eq(amqp_basic_ack(c, 2, 0, 1), 0);
	client_close_channel(c, 2);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* A requeued message goes back to its place, marked redelivered. */
START_TEST(reject_requeue_keeps_its_place)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 3);
	uint64_t tag;

	get_one(c, 1, q, "0", &tag);
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 1), 0);
	expect_get_redelivered(c, q, "0", true);
	expect_get_redelivered(c, q, "1", false);
	expect_get_redelivered(c, q, "2", false);
	client_close(c);
}
END_TEST

START_TEST(reject_without_requeue_drops)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 2);
	uint64_t tag;

	get_one(c, 1, q, "0", &tag);
	ck_assert_int_eq(amqp_basic_reject(c, 1, tag, 0), 0);
	expect_get_redelivered(c, q, "1", false);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

START_TEST(nack_multiple_requeue_in_order)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 3);
	uint64_t tag;

	get_one(c, 1, q, "0", &tag);
	get_one(c, 1, q, "1", &tag);
	ck_assert_int_eq(amqp_basic_nack(c, 1, tag, 1, 1), 0);
	expect_get_redelivered(c, q, "0", true);
	expect_get_redelivered(c, q, "1", true);
	expect_get_redelivered(c, q, "2", false);
	client_close(c);
}
END_TEST

START_TEST(nack_without_requeue_drops)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 2);
	uint64_t tag;

	get_one(c, 1, q, "0", &tag);
	ck_assert_int_eq(amqp_basic_nack(c, 1, tag, 0, 0), 0);
	expect_get_redelivered(c, q, "1", false);
	expect_get(c, 1, q, NULL);
	client_close(c);
}
END_TEST

/* ack, nack and reject of a tag never delivered: 406 "PRECONDITION_FAILED - unknown delivery tag
 * 42", naming the method. */
START_TEST(unknown_delivery_tag_406)
{
	static const uint16_t methods[] = { 80, 120, 90 };
	conn_t c = client_connect_ch1();

	switch (_i) {
	case 0: amqp_basic_ack(c, 1, 42, 0); break;
	case 1: amqp_basic_nack(c, 1, 42, 0, 1); break;
	default: amqp_basic_reject(c, 1, 42, 1); break;
	}
	expect_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 42");
	ck_assert_uint_eq(close_class_id, 60);
	ck_assert_uint_eq(close_method_id, methods[_i]);
	client_close(c);
}
END_TEST

START_TEST(double_ack_406)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 1);
	uint64_t tag;

	get_one(c, 1, q, "0", &tag);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
	ck_assert_int_eq(amqp_basic_ack(c, 1, tag, 0), 0);
	expect_channel_close(c, 1, 406,
	    fmt("PRECONDITION_FAILED - unknown delivery tag %llu", (unsigned long long)tag));
	client_close(c);
}
END_TEST

START_TEST(ack_zero_without_multiple_406)
{
	conn_t c = client_connect_ch1();

	amqp_basic_ack(c, 1, 0, 0);
	expect_channel_close(c, 1, 406, "PRECONDITION_FAILED - unknown delivery tag 0");
	client_close(c);
}
END_TEST

/* Delivery tags belong to their channel. */
START_TEST(ack_on_another_channel_406)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 1);
	uint64_t tag;

	client_open(c, 2);
	get_one(c, 1, q, "0", &tag);
	amqp_basic_ack(c, 2, tag, 0);
	expect_channel_close(c, 2, 406, NULL);
	client_close(c);
}
END_TEST

START_TEST(recover_requeue_redelivers)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 2);
	struct msg m;

	consume(c, 1, q, "t", false);
	expect_deliver(c, 1, "0");
	expect_deliver(c, 1, "1");
	CHECK_RPC(c, amqp_basic_recover(c, 1, 1));
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "0");
	ck_assert(((amqp_basic_deliver_t *)m.method)->redelivered);
	ck_assert_uint_eq(((amqp_basic_deliver_t *)m.method)->delivery_tag, 3);
	msg_free(&m);
	client_close(c);
}
END_TEST

/* RabbitMQ: connection.close 540 "NOT_IMPLEMENTED - requeue=false" (60, 110). */
START_TEST(recover_without_requeue_540)
{
	conn_t c = client_connect_ch1();

	amqp_basic_recover(c, 1, 0);
	rpc_connection_error(c, 540, "NOT_IMPLEMENTED - requeue=false");
	ck_assert_uint_eq(close_method_id, 110);
	client_drop(c);
}
END_TEST

START_TEST(unacked_requeued_when_channel_closes)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 1);

	client_open(c, 2);
	consume(c, 2, q, "t", false);
	expect_deliver(c, 2, "0");
	client_close_channel(c, 2);
	expect_get_redelivered(c, q, "0", true);
	client_close(c);
}
END_TEST

START_TEST(unacked_requeued_when_connection_closes)
{
	conn_t c = client_connect_ch1(), other = client_connect_ch1();
	const char *q = queue_with(c, 1);
	struct msg m;

	consume(other, 1, q, "t", false);
	expect_deliver(other, 1, "0");
	client_close(other);
	/* The requeue follows the close-ok: wait for it with a consumer. */
	consume(c, 1, q, "back", true);
	client_expect(c, 1, AMQP_BASIC_DELIVER_METHOD, &m);
	ck_assert_str_eq((char *)m.body, "0");
	ck_assert(((amqp_basic_deliver_t *)m.method)->redelivered);
	msg_free(&m);
	client_close(c);
}
END_TEST

START_TEST(delivery_tags_count_per_channel_from_1)
{
	conn_t c = client_connect_ch1();
	const char *q = queue_with(c, 3);
	uint64_t tag;

	client_open(c, 2);
	get_one(c, 1, q, "0", &tag);
	ck_assert_uint_eq(tag, 1);
	get_one(c, 2, q, "1", &tag);
	ck_assert_uint_eq(tag, 1);
	get_one(c, 1, q, "2", &tag);
	ck_assert_uint_eq(tag, 2);
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("05-basic");
	TCase *tc;

	tc = harness_tcase(s, "publish", TEST_TIMEOUT);
	tcase_add_test(tc, publish_to_missing_exchange_404);
	tcase_add_test(tc, mandatory_unroutable_returned_intact);
	tcase_add_test(tc, mandatory_to_exchange_without_bindings_returned);
	tcase_add_test(tc, unroutable_without_mandatory_dropped);
	tcase_add_test(tc, immediate_540);
	tcase_add_test(tc, all_properties_round_trip);
	tcase_add_test(tc, user_id_mismatch_406);
	tcase_add_test(tc, empty_body_round_trip);
	tcase_add_test(tc, large_message_frame_max_131072);
	tcase_add_test(tc, large_message_frame_max_4096);

	tc = harness_tcase(s, "consume", TEST_TIMEOUT);
	tcase_add_test(tc, consume_gets_server_tag);
	tcase_add_test(tc, duplicate_consumer_tag_530);
	tcase_add_test(tc, same_tag_on_two_channels_ok);
	tcase_add_test(tc, consume_missing_queue_404);
	tcase_add_test(tc, exclusive_consume_while_others_consume_403);
	tcase_add_test(tc, consume_while_exclusive_consumer_403);
	tcase_add_test(tc, no_ack_consumer_takes_messages);
	tcase_add_test(tc, cancel_stops_deliveries);
	tcase_add_test(tc, cancel_unknown_tag_ok);
	tcase_add_test(tc, consumers_served_round_robin);
	tcase_add_test(tc, prefetch_per_consumer);
	tcase_add_test(tc, prefetch_per_channel);
	tcase_add_test(tc, prefetch_size_540);

	tc = harness_tcase(s, "get-ack", TEST_TIMEOUT);
	tcase_add_test(tc, get_ok_counts_remaining_messages);
	tcase_add_test(tc, get_missing_queue_404);
	tcase_add_test(tc, ack_removes_the_message);
	tcase_add_test(tc, ack_multiple);
	tcase_add_test(tc, ack_zero_multiple_acks_all);
	tcase_add_test(tc, reject_requeue_keeps_its_place);
	tcase_add_test(tc, reject_without_requeue_drops);
	tcase_add_test(tc, nack_multiple_requeue_in_order);
	tcase_add_test(tc, nack_without_requeue_drops);
	tcase_add_loop_test(tc, unknown_delivery_tag_406, 0, 3);
	tcase_add_test(tc, double_ack_406);
	tcase_add_test(tc, ack_zero_without_multiple_406);
	tcase_add_test(tc, ack_on_another_channel_406);
	tcase_add_test(tc, recover_requeue_redelivers);
	tcase_add_test(tc, recover_without_requeue_540);
	tcase_add_test(tc, unacked_requeued_when_channel_closes);
	tcase_add_test(tc, unacked_requeued_when_connection_closes);
	tcase_add_test(tc, delivery_tags_count_per_channel_from_1);

	basic_frames_tcases(s);
	basic_qos_tcases(s);
	return harness_run(s);
}
