/*
 * 11-access-permissions.c: RabbitMQ's permission table, every operation once allowed and once refused.
 */
#include "interop/access.h"

/* ---- the permission table ---- */

static const char matrix_users[] = "admin:{H}\n"
                                   "conf:{H}\n"
                                   "writer:{H}\n"
                                   "reader:{H}\n"
                                   "binder:{H}\n"
                                   "nocfg:{H}\n"
                                   "none:{H}\n"
                                   "gen:{H}\n"
                                   "aeuser:{H}\n"
                                   "dlxuser:{H}\n"
                                   "defpub:{H}\n";
/*
 * Resources: queues q-a, q-b, exchanges x-a, x-a2, x-b, x-c (direct). Each user's expressions
 * reach the "a" side only, for one permission (or two, for binds).
 */
static const struct vfile matrix_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions admin .* .* .*\n"
	    "permissions conf '^(q|x)-a' '' ''\n"
	    "permissions writer '' '^(q|x)-a' ''\n"
	    "permissions reader '' '' '^(q|x)-a'\n"
	    "permissions binder '' '^(q|x)-a' '^(q|x)-a'\n"
	    "permissions nocfg '' .* .*\n"
	    "permissions none '' '' ''\n"
	    "permissions gen '^amq\\.gen-' '' ''\n"
	    "permissions aeuser '^x-ae' '^x-a$' '^x-ae'\n"
	    "permissions dlxuser '^q-dlx' '^x-a$' '^q-dlx'\n"
	    "permissions defpub '' '^amq\\.default$' ''\n" },
	{ NULL, NULL },
};

static void matrix_start(void)
{
	spawn_with(matrix_users, matrix_vhosts, NULL);
}

/* The resources every matrix test expects (idempotent). */
static void matrix_setup(void)
{
	conn_t a = as("admin");

	declare_queue(a, 1, "q-a");
	declare_queue(a, 1, "q-b");
	declare_exchange(a, 1, "x-a", "direct");
	declare_exchange(a, 1, "x-a2", "direct");
	declare_exchange(a, 1, "x-b", "direct");
	declare_exchange(a, 1, "x-c", "direct");
	client_close(a);
}

/* A queue of admin's with one message in it. */
static void admin_queue_with(const char *q, const char *body)
{
	conn_t a = as("admin");

	declare_queue(a, 1, q);
	publish_confirmed(a, 1, "", q, NULL, body);
	client_close(a);
}

/* exchange.declare: configure on the exchange. */

START_TEST(exchange_declare_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	declare_exchange(c, 1, uniq("x-a-decl"), "direct");
	client_close(c);
}
END_TEST

START_TEST(exchange_declare_denied_403)
{
	const char *x = uniq("x-b-decl");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_declare(c, 1, B(x), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("exchange", x, "conf"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 10);
	client_close(c);
	a = as("admin");
	ck_assert(!exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

/* Write and read on a name are not configure. */
START_TEST(exchange_declare_needs_configure_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("nocfg");
	amqp_exchange_declare(c, 1, B("x-a"), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a", "nocfg"));
	client_close(c);
}
END_TEST

/* Declaring an exchange that exists checks configure all the same. */
START_TEST(exchange_declare_existing_checked_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_declare(c, 1, B("x-b"), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "conf"));
	client_close(c);
}
END_TEST

START_TEST(exchange_declare_passive_needs_nothing)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("none");
	amqp_exchange_declare(c, 1, B("x-b"), B("direct"), 1, 0, 0, 0, amqp_empty_table);
	client_ok(c, "passive exchange.declare x-b");
	client_close(c);
}
END_TEST

/* exchange.declare with alternate-exchange: read on the new exchange, write on the AE. */

START_TEST(exchange_declare_ae_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("aeuser");
	amqp_exchange_declare(c, 1, B(uniq("x-ae")), B("direct"), 0, 0, 0, 0,
	    TABLE(ent_str("alternate-exchange", "x-a")));
	client_ok(c, "exchange.declare with alternate-exchange x-a");
	client_close(c);
}
END_TEST

START_TEST(exchange_declare_ae_needs_write_on_ae_403)
{
	const char *x = uniq("x-ae");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("aeuser");
	amqp_exchange_declare(
	    c, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-b")));
	denied(c, 1, no_access("exchange", "x-b", "aeuser"));
	client_close(c);
	a = as("admin");
	ck_assert(!exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

/* conf may configure x-a-... but not read it: the read check on the new exchange comes first. */
START_TEST(exchange_declare_ae_needs_read_on_exchange_403)
{
	const char *x = uniq("x-a-ae");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_declare(
	    c, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-a")));
	denied(c, 1, no_access("exchange", x, "conf"));
	client_close(c);
}
END_TEST

/* The AE checks apply when the declare creates the exchange, not when it already exists. */
START_TEST(exchange_declare_ae_existing_needs_configure_only)
{
	const char *x = uniq("x-ae-old");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	amqp_exchange_declare(
	    a, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-b")));
	client_ok(a, "exchange.declare with alternate-exchange x-b");
	client_close(a);
	c = as("aeuser");
	amqp_exchange_declare(
	    c, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-b")));
	client_ok(c, "exchange.declare of an existing exchange with its AE");
	client_close(c);
}
END_TEST

/* exchange.delete: configure. */

START_TEST(exchange_delete_allowed)
{
	const char *x = uniq("x-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_exchange(a, 1, x, "fanout");
	c = as("conf");
	amqp_exchange_delete(c, 1, B(x), 0);
	client_ok(c, "exchange.delete");
	client_close(c);
	ck_assert(!exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

START_TEST(exchange_delete_denied_403)
{
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_delete(c, 1, B("x-b"), 0);
	denied(c, 1, no_access("exchange", "x-b", "conf"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 20);
	client_close(c);
	a = as("admin");
	ck_assert(exchange_exists(a, 1, "x-b"));
	client_close(a);
}
END_TEST

START_TEST(exchange_delete_needs_configure_403)
{
	const char *x = uniq("x-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_exchange(a, 1, x, "fanout");
	c = as("nocfg");
	amqp_exchange_delete(c, 1, B(x), 0);
	denied(c, 1, no_access("exchange", x, "nocfg"));
	client_close(c);
	ck_assert(exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

/* queue.declare: configure on the queue. */

START_TEST(queue_declare_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	declare_queue(c, 1, uniq("q-a-decl"));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_denied_403)
{
	const char *q = uniq("q-b-decl");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", q, "conf"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 10);
	client_close(c);
	a = as("admin");
	ck_assert(!queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

START_TEST(queue_declare_needs_configure_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("nocfg");
	amqp_queue_declare(c, 1, B("q-a"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-a", "nocfg"));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_existing_checked_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, B("q-b"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "conf"));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_passive_needs_nothing)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("none");
	ck_assert_uint_eq(queue_count(c, 1, "q-b"), 0);
	client_close(c);
}
END_TEST

/* A server-named queue is checked under its generated name, amq.gen-... */
START_TEST(queue_declare_server_named_allowed)
{
	amqp_queue_declare_ok_t *ok;
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("gen");
	ok = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	client_ok(c, "queue.declare \"\"");
	ck_assert_msg(ok->queue.len > 8 && memcmp(ok->queue.bytes, "amq.gen-", 8) == 0,
	    "server-named queue \"%.*s\"", (int)ok->queue.len, (char *)ok->queue.bytes);
	client_close(c);
}
END_TEST

START_TEST(queue_declare_server_named_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	denied(c, 1, "ACCESS_REFUSED - access to queue 'amq.gen-*");
	client_close(c);
}
END_TEST

/* queue.declare with x-dead-letter-exchange: read on the new queue, write on the DLX. */

START_TEST(queue_declare_dlx_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("dlxuser");
	declare_queue_args(c, 1, uniq("q-dlx"), TABLE(ent_str("x-dead-letter-exchange", "x-a")));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_dlx_needs_write_on_dlx_403)
{
	const char *q = uniq("q-dlx");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("dlxuser");
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, TABLE(ent_str("x-dead-letter-exchange", "x-b")));
	denied(c, 1, no_access("exchange", "x-b", "dlxuser"));
	client_close(c);
	a = as("admin");
	ck_assert(!queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

/* conf may configure q-a-... but not read it: the read check on the queue comes first. */
START_TEST(queue_declare_dlx_needs_read_on_queue_403)
{
	const char *q = uniq("q-a-dlx");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, TABLE(ent_str("x-dead-letter-exchange", "x-a")));
	denied(c, 1, no_access("queue", q, "conf"));
	client_close(c);
}
END_TEST

/* queue.delete: configure. */

START_TEST(queue_delete_allowed)
{
	const char *q = uniq("q-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("conf");
	amqp_queue_delete(c, 1, B(q), 0, 0);
	client_ok(c, "queue.delete");
	client_close(c);
	ck_assert(!queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

START_TEST(queue_delete_denied_403)
{
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_delete(c, 1, B("q-b"), 0, 0);
	denied(c, 1, no_access("queue", "q-b", "conf"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 40);
	client_close(c);
	a = as("admin");
	ck_assert(queue_exists(a, 1, "q-b"));
	client_close(a);
}
END_TEST

START_TEST(queue_delete_needs_configure_403)
{
	const char *q = uniq("q-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("nocfg");
	amqp_queue_delete(c, 1, B(q), 0, 0);
	denied(c, 1, no_access("queue", q, "nocfg"));
	client_close(c);
	ck_assert(queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

/* queue.purge: read. */

START_TEST(queue_purge_allowed)
{
	const char *q = uniq("q-a-purge");
	amqp_queue_purge_ok_t *ok;
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "purged");
	c = as("reader");
	ok = amqp_queue_purge(c, 1, B(q));
	client_ok(c, "queue.purge");
	ck_assert_uint_eq(ok->message_count, 1);
	client_close(c);
}
END_TEST

START_TEST(queue_purge_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_queue_purge(c, 1, B("q-b"));
	denied(c, 1, no_access("queue", "q-b", "reader"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

/* Configure is not enough to purge. */
START_TEST(queue_purge_needs_read_403)
{
	const char *q = uniq("q-a-purge");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "kept");
	c = as("conf");
	amqp_queue_purge(c, 1, B(q));
	denied(c, 1, no_access("queue", q, "conf"));
	client_close(c);
	a = as("admin");
	ck_assert_uint_eq(queue_count(a, 1, q), 1);
	client_close(a);
}
END_TEST

/* queue.bind and queue.unbind: write on the queue, then read on the exchange. */

START_TEST(queue_bind_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	bind_queue(c, 1, "q-a", "x-a", uniq("k"));
	client_close(c);
}
END_TEST

START_TEST(queue_bind_needs_write_on_queue_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_queue_bind(c, 1, B("q-b"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "binder"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(queue_bind_needs_read_on_exchange_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_queue_bind(c, 1, B("q-a"), B("x-b"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	client_close(c);
}
END_TEST

/* Neither allowed: the write check on the queue comes first. */
START_TEST(queue_bind_checks_queue_first_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_queue_bind(c, 1, B("q-b"), B("x-c"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "binder"));
	client_close(c);
}
END_TEST

START_TEST(queue_unbind_allowed)
{
	const char *k = uniq("k");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	bind_queue(c, 1, "q-a", "x-a", k);
	amqp_queue_unbind(c, 1, B("q-a"), B("x-a"), B(k), amqp_empty_table);
	client_ok(c, "queue.unbind");
	client_close(c);
}
END_TEST

START_TEST(queue_unbind_needs_write_on_queue_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_queue_unbind(c, 1, B("q-a"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("queue", "q-a", "reader"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 50);
	client_close(c);
}
END_TEST

START_TEST(queue_unbind_needs_read_on_exchange_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	amqp_queue_unbind(c, 1, B("q-a"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a", "writer"));
	client_close(c);
}
END_TEST

/* exchange.bind and exchange.unbind: write on the destination, then read on the source. */

START_TEST(exchange_bind_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-a2"), B("x-a"), B(uniq("k")), amqp_empty_table);
	client_ok(c, "exchange.bind x-a2 <- x-a");
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_needs_write_on_destination_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-b"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_needs_read_on_source_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-a"), B("x-b"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_checks_destination_first_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-b"), B("x-c"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	client_close(c);
}
END_TEST

START_TEST(exchange_unbind_allowed)
{
	const char *k = uniq("k");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-a2"), B("x-a"), B(k), amqp_empty_table);
	client_ok(c, "exchange.bind");
	amqp_exchange_unbind(c, 1, B("x-a2"), B("x-a"), B(k), amqp_empty_table);
	client_ok(c, "exchange.unbind");
	client_close(c);
}
END_TEST

START_TEST(exchange_unbind_needs_write_on_destination_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_exchange_unbind(c, 1, B("x-a2"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a2", "reader"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 40);
	client_close(c);
}
END_TEST

START_TEST(exchange_unbind_needs_read_on_source_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	amqp_exchange_unbind(c, 1, B("x-a2"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a", "writer"));
	client_close(c);
}
END_TEST

/* basic.publish: write on the exchange; the default exchange is checked as amq.default. */

START_TEST(publish_allowed)
{
	const char *q = uniq("q-pub");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	bind_queue(a, 1, q, "x-a", q);
	c = as("writer");
	publish_confirmed(c, 1, "x-a", q, NULL, "written");
	client_close(c);
	expect_get(a, 1, q, "written");
	client_close(a);
}
END_TEST

START_TEST(publish_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	publish(c, 1, "x-b", "k", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "x-b", "writer"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 40);
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(publish_needs_write_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	publish(c, 1, "x-a", "k", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "x-a", "reader"));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* The permission is checked before the exchange is looked up: 403, not 404. */
START_TEST(publish_denied_before_exchange_lookup_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	publish(c, 1, "x-b-missing", "k", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "x-b-missing", "writer"));
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(publish_default_exchange_as_amq_default_allowed)
{
	const char *q = uniq("q-default");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("defpub");
	publish_confirmed(c, 1, "", q, NULL, "via amq.default");
	client_close(c);
	expect_get(a, 1, q, "via amq.default");
	client_close(a);
}
END_TEST

START_TEST(publish_default_exchange_denied_names_amq_default_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	publish(c, 1, "", "q-a", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "amq.default", "writer"));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* basic.get and basic.consume: read on the queue. */

START_TEST(get_allowed)
{
	const char *q = uniq("q-a-get");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "got");
	c = as("reader");
	expect_get(c, 1, q, "got");
	client_close(c);
}
END_TEST

START_TEST(get_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	reply_channel_error(
	    c, 1, amqp_basic_get(c, 1, B("q-b"), 1), 403, no_access("queue", "q-b", "reader"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 70);
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(get_needs_read_403)
{
	const char *q = uniq("q-a-get");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "kept");
	c = as("writer");
	reply_channel_error(
	    c, 1, amqp_basic_get(c, 1, B(q), 1), 403, no_access("queue", q, "writer"));
	alive(c, 2);
	client_close(c);
	a = as("admin");
	ck_assert_uint_eq(queue_count(a, 1, q), 1);
	client_close(a);
}
END_TEST

/* The permission is checked before the queue is looked up: 403, not 404. */
START_TEST(get_denied_before_queue_lookup_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	reply_channel_error(c, 1, amqp_basic_get(c, 1, B("q-b-missing"), 1), 403,
	    no_access("queue", "q-b-missing", "reader"));
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(consume_allowed)
{
	const char *q = uniq("q-a-consume");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "consumed");
	c = as("reader");
	consume(c, 1, q, NULL, true);
	expect_deliver(c, 1, "consumed");
	client_close(c);
}
END_TEST

START_TEST(consume_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_basic_consume(c, 1, B("q-b"), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "reader"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

/* Direct reply-to checks nothing: a user without any permission may consume from it. */
START_TEST(consume_reply_to_needs_nothing)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("none");
	consume(c, 1, "amq.rabbitmq.reply-to", NULL, true);
	client_close(c);
}
END_TEST

/* A refusal closes its channel only: a consumer on another channel keeps receiving. */
START_TEST(refusal_leaves_other_channels_working)
{
	const char *q = uniq("q-a-other");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("reader");
	consume(c, 1, q, NULL, true);
	client_open(c, 2);
	reply_channel_error(
	    c, 2, amqp_basic_get(c, 2, B("q-b"), 1), 403, no_access("queue", "q-b", "reader"));
	publish_confirmed(a, 1, "", q, NULL, "still delivered");
	expect_deliver(c, 1, "still delivered");
	client_close(c);
	client_close(a);
}
END_TEST

/* Protocol rules that hold whatever the permissions. */

START_TEST(default_exchange_declare_refused_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("admin");
	amqp_exchange_declare(c, 1, B(""), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, "ACCESS_REFUSED - operation not permitted on the default exchange");
	client_close(c);
}
END_TEST

START_TEST(amq_prefix_exchange_refused_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("admin");
	amqp_exchange_declare(c, 1, B("amq.custom"), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(
	    c, 1, "ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'");
	client_close(c);
}
END_TEST

START_TEST(system_exchange_delete_refused_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("admin");
	amqp_exchange_delete(c, 1, B("amq.direct"), 0);
	denied(c, 1,
	    "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
	client_close(c);
}
END_TEST

/*
 * RabbitMQ strips CR and LF from names before using or checking them: "q-\na-..." is declared
 * as "q-a-...", which conf may configure.
 */
START_TEST(names_checked_after_cr_lf_stripped)
{
	const char *u = uniq("q-a-crlf"), *q = fmt("q-\r\n%s", u + 2);
	amqp_queue_declare_ok_t *ok;
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	ok = amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
	client_ok(c, "queue.declare of a name with CR LF");
	ck_assert_msg(bytes_is(ok->queue, u), "declared \"%.*s\", expected \"%s\"",
	    (int)ok->queue.len, (char *)ok->queue.bytes, u);
	client_close(c);
}
END_TEST

/* A users file without guest: the built-in guest/guest is gone. */
START_TEST(guest_absent_from_users_file_403)
{
	SKIP_IN_ORACLE();
	refused(&(struct login){ .user = "guest", .password = "guest" }, 403, LOGIN_REFUSED, 0, 0);
}
END_TEST

void access_add_permissions(Suite *s)
{
	TCase *tc;

	tc = group(s, "permissions", matrix_start, TEST_TIMEOUT);
	tcase_add_test(tc, exchange_declare_allowed);
	tcase_add_test(tc, exchange_declare_denied_403);
	tcase_add_test(tc, exchange_declare_needs_configure_403);
	tcase_add_test(tc, exchange_declare_existing_checked_403);
	tcase_add_test(tc, exchange_declare_passive_needs_nothing);
	tcase_add_test(tc, exchange_declare_ae_allowed);
	tcase_add_test(tc, exchange_declare_ae_needs_write_on_ae_403);
	tcase_add_test(tc, exchange_declare_ae_needs_read_on_exchange_403);
	tcase_add_test(tc, exchange_declare_ae_existing_needs_configure_only);
	tcase_add_test(tc, exchange_delete_allowed);
	tcase_add_test(tc, exchange_delete_denied_403);
	tcase_add_test(tc, exchange_delete_needs_configure_403);
	tcase_add_test(tc, queue_declare_allowed);
	tcase_add_test(tc, queue_declare_denied_403);
	tcase_add_test(tc, queue_declare_needs_configure_403);
	tcase_add_test(tc, queue_declare_existing_checked_403);
	tcase_add_test(tc, queue_declare_passive_needs_nothing);
	tcase_add_test(tc, queue_declare_server_named_allowed);
	tcase_add_test(tc, queue_declare_server_named_denied_403);
	tcase_add_test(tc, queue_declare_dlx_allowed);
	tcase_add_test(tc, queue_declare_dlx_needs_write_on_dlx_403);
	tcase_add_test(tc, queue_declare_dlx_needs_read_on_queue_403);
	tcase_add_test(tc, queue_delete_allowed);
	tcase_add_test(tc, queue_delete_denied_403);
	tcase_add_test(tc, queue_delete_needs_configure_403);
	tcase_add_test(tc, queue_purge_allowed);
	tcase_add_test(tc, queue_purge_denied_403);
	tcase_add_test(tc, queue_purge_needs_read_403);
	tcase_add_test(tc, queue_bind_allowed);
	tcase_add_test(tc, queue_bind_needs_write_on_queue_403);
	tcase_add_test(tc, queue_bind_needs_read_on_exchange_403);
	tcase_add_test(tc, queue_bind_checks_queue_first_403);
	tcase_add_test(tc, queue_unbind_allowed);
	tcase_add_test(tc, queue_unbind_needs_write_on_queue_403);
	tcase_add_test(tc, queue_unbind_needs_read_on_exchange_403);
	tcase_add_test(tc, exchange_bind_allowed);
	tcase_add_test(tc, exchange_bind_needs_write_on_destination_403);
	tcase_add_test(tc, exchange_bind_needs_read_on_source_403);
	tcase_add_test(tc, exchange_bind_checks_destination_first_403);
	tcase_add_test(tc, exchange_unbind_allowed);
	tcase_add_test(tc, exchange_unbind_needs_write_on_destination_403);
	tcase_add_test(tc, exchange_unbind_needs_read_on_source_403);
	tcase_add_test(tc, publish_allowed);
	tcase_add_test(tc, publish_denied_403);
	tcase_add_test(tc, publish_needs_write_403);
	tcase_add_test(tc, publish_denied_before_exchange_lookup_403);
	tcase_add_test(tc, publish_default_exchange_as_amq_default_allowed);
	tcase_add_test(tc, publish_default_exchange_denied_names_amq_default_403);
	tcase_add_test(tc, get_allowed);
	tcase_add_test(tc, get_denied_403);
	tcase_add_test(tc, get_needs_read_403);
	tcase_add_test(tc, get_denied_before_queue_lookup_403);
	tcase_add_test(tc, consume_allowed);
	tcase_add_test(tc, consume_denied_403);
	tcase_add_test(tc, consume_reply_to_needs_nothing);
	tcase_add_test(tc, refusal_leaves_other_channels_working);
	tcase_add_test(tc, default_exchange_declare_refused_403);
	tcase_add_test(tc, amq_prefix_exchange_refused_403);
	tcase_add_test(tc, system_exchange_delete_refused_403);
	tcase_add_test(tc, names_checked_after_cr_lf_stripped);
	tcase_add_test(tc, guest_absent_from_users_file_403);
}
