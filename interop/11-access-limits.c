/*
 * 11-access-limits.c: topic permissions, vhost and user limits, and the user-id property.
 */
#include "interop/access.h"

/* ---- topic permissions ---- */

static const char topic_users[] = "admin:{H}\ntp:{H}\nu1:{H}\nu2:{H}\n";
static const struct vfile topic_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions admin .* .* .*\n"
	    "permissions tp '^q-t' '^(q-t.*|amq\\.topic|amq\\.direct|t-free|t-dest)$' "
	    "'^(q-t.*|amq\\.topic|t-free)$'\n"
	    "topic-permissions tp amq.topic '^orders\\.' '^(orders|audit)\\.'\n"
	    "topic-permissions tp amq.direct '^never$' '^never$'\n"
	    "permissions u1 '' '^amq\\.topic$' ''\n"
	    "permissions u2 '' '^amq\\.topic$' ''\n"
	    "topic-permissions u1 amq.topic '^{username}\\.' '^{username}\\.'\n"
	    "topic-permissions u2 amq.topic '^{username}\\.' '^{username}\\.'\n" },
	{ "tv.vhost",
	    "vhost tv\n"
	    "permissions u1 '' '^amq\\.topic$' ''\n"
	    "topic-permissions u1 amq.topic '^{vhost}\\.{username}\\.' .*\n" },
	{ NULL, NULL },
};

static void topic_start(void)
{
	spawn_with(topic_users, topic_vhosts, NULL);
}

static void topic_setup(void)
{
	conn_t a = as("admin");

	declare_exchange(a, 1, "t-free", "topic");
	declare_exchange(a, 1, "t-dest", "topic");
	client_close(a);
}

static const char *no_topic(const char *key, const char *x, const char *vhost, const char *user)
{
	return fmt("ACCESS_REFUSED - access to topic '%s' in exchange '%s' in vhost '%s' refused "
	           "for user '%s'",
	    key, x, vhost, user);
}

/* admin's queue q bound to x with key; returns q. */
static const char *admin_bound_queue(const char *x, const char *key)
{
	const char *q = uniq("q-t");
	conn_t a = as("admin");

	declare_queue(a, 1, q);
	bind_queue(a, 1, q, x, key);
	client_close(a);
	return q;
}

START_TEST(topic_publish_key_allowed)
{
	const char *q;
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("amq.topic", "orders.#");
	c = as("tp");
	publish_confirmed(c, 1, "amq.topic", "orders.new", NULL, "order");
	client_close(c);
	a = as("admin");
	expect_get(a, 1, q, "order");
	client_close(a);
}
END_TEST

START_TEST(topic_publish_key_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	publish(c, 1, "amq.topic", "billing.x", "refused");
	expect_channel_close(c, 1, 403, no_topic("billing.x", "amq.topic", "/", "tp"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 40);
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(topic_bind_key_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	declare_queue(c, 1, uniq("q-t"));
	bind_queue(c, 1, "", "amq.topic", "audit.#");
	client_close(c);
}
END_TEST

START_TEST(topic_bind_key_denied_403)
{
	const char *q = uniq("q-t");
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	declare_queue(c, 1, q);
	amqp_queue_bind(c, 1, B(q), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

/* RabbitMQ checks the key of an unbind from a topic exchange as it does a bind's. */
START_TEST(topic_unbind_key_denied_403)
{
	const char *q;
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("amq.topic", "billing.#");
	c = as("tp");
	amqp_queue_unbind(c, 1, B(q), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

START_TEST(topic_exchange_bind_key_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	amqp_exchange_bind(c, 1, B("t-dest"), B("amq.topic"), B("orders.#"), amqp_empty_table);
	client_ok(c, "exchange.bind t-dest <- amq.topic orders.#");
	client_close(c);
}
END_TEST

START_TEST(topic_exchange_bind_key_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	amqp_exchange_bind(c, 1, B("t-dest"), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

START_TEST(topic_exchange_unbind_key_denied_403)
{
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	a = as("admin");
	amqp_exchange_bind(a, 1, B("t-dest"), B("amq.topic"), B("billing.#"), amqp_empty_table);
	client_ok(a, "exchange.bind t-dest <- amq.topic billing.#");
	client_close(a);
	c = as("tp");
	amqp_exchange_unbind(c, 1, B("t-dest"), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

/* No topic-permissions line for an exchange: every key is allowed there. */
START_TEST(topic_without_line_allows_every_key)
{
	const char *q;
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("t-free", "#");
	c = as("tp");
	publish_confirmed(c, 1, "t-free", "billing.anything", NULL, "free");
	client_close(c);
	a = as("admin");
	expect_get(a, 1, q, "free");
	client_close(a);
}
END_TEST

/* Topic permissions apply to topic exchanges only. */
START_TEST(topic_permissions_ignored_on_direct_exchange)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	publish_confirmed(c, 1, "amq.direct", "anything", NULL, "direct");
	client_close(c);
}
END_TEST

START_TEST(topic_username_expanded_allowed)
{
	const char *q;
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("amq.topic", "u2.#");
	c = as("u2");
	publish_confirmed(c, 1, "amq.topic", "u2.x", NULL, "mine");
	client_close(c);
	a = as("admin");
	expect_get(a, 1, q, "mine");
	client_close(a);
}
END_TEST

START_TEST(topic_username_expanded_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("u1");
	publish(c, 1, "amq.topic", "u2.x", "not mine");
	expect_channel_close(c, 1, 403, no_topic("u2.x", "amq.topic", "/", "u1"));
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(topic_vhost_expanded_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as_in("u1", "tv");
	client_open(c, 1);
	publish_confirmed(c, 1, "amq.topic", "tv.u1.x", NULL, "in tv");
	client_close(c);
}
END_TEST

START_TEST(topic_vhost_expanded_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as_in("u1", "tv");
	client_open(c, 1);
	publish(c, 1, "amq.topic", "other.u1.x", "refused");
	expect_channel_close(c, 1, 403, no_topic("other.u1.x", "amq.topic", "tv", "u1"));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* ---- vhost limits ---- */

static const char limit_users[] = "admin:{H}\n";
static const struct vfile limit_vhosts[] = {
	{ "default.vhost", "vhost /\npermissions admin .* .* .*\n" },
	{ "lim.vhost", "vhost lim\nmax-connections 3\npermissions admin .* .* .*\n" },
	{ "lim2.vhost", "vhost lim2\nmax-connections 1\npermissions admin .* .* .*\n" },
	{ "lim3.vhost", "vhost lim3\nmax-connections 1\npermissions admin .* .* .*\n" },
	{ "closed.vhost", "vhost closed\nmax-connections 0\npermissions admin .* .* .*\n" },
	{ "qlim1.vhost", "vhost qlim1\nmax-queues 2\npermissions admin .* .* .*\n" },
	{ "qlim2.vhost", "vhost qlim2\nmax-queues 2\npermissions admin .* .* .*\n" },
	{ "qlim3.vhost", "vhost qlim3\nmax-queues 2\npermissions admin .* .* .*\n" },
	{ "noq.vhost", "vhost noq\nmax-queues 0\npermissions admin .* .* .*\n" },
	{ NULL, NULL },
};

static void limit_start(void)
{
	spawn_with(limit_users, limit_vhosts, NULL);
}

static const char *conn_limit(const char *vhost, int n)
{
	return fmt("NOT_ALLOWED - access to vhost '%s' refused for user 'admin': connection limit "
	           "(%d) is reached",
	    vhost, n);
}

static const char *queue_limit(const char *q, const char *vhost, int n)
{
	return fmt(
	    "PRECONDITION_FAILED - cannot declare queue '%s': queue limit in vhost '%s' (%d) "
	    "is reached",
	    q, vhost, n);
}

static conn_t admin_in(const char *vhost)
{
	return user_in("admin", vhost);
}

/* user_max_connections in warren.conf: one user's connections over all vhosts. */
static const char user_limit_users[] = "admin:{H}\nother:{H}\n";
static const struct vfile user_limit_vhosts[] = {
	{ "default.vhost", "vhost /\npermissions admin .* .* .*\npermissions other .* .* .*\n" },
	{ "lim.vhost", "vhost lim\npermissions admin .* .* .*\n" },
	{ NULL, NULL },
};

static void user_limit_start(void)
{
	spawn_with(user_limit_users, user_limit_vhosts, "user_max_connections = 2\n");
}

START_TEST(user_max_connections_one_too_many_530)
{
	conn_t a, b, o;

	SKIP_IN_ORACLE();
	a = user_in("admin", "/");
	b = user_in("admin", "lim"); /* the limit counts every vhost */
	open_refused("admin", "/",
	    "NOT_ALLOWED - access to vhost '/' refused for user 'admin': user connection limit (2) "
	    "is "
	    "reached");
	o = user_in("other", "/"); /* another user is not affected */
	alive(a, 2);
	alive(b, 2);
	alive(o, 2);
	client_close(a);
	client_close(b);
	client_close(o);
}
END_TEST

START_TEST(max_connections_one_too_many_530)
{
	conn_t c[3];
	int i;

	SKIP_IN_ORACLE();
	for (i = 0; i < 3; i++)
		c[i] = admin_in("lim");
	open_refused("admin", "lim", conn_limit("lim", 3));
	for (i = 0; i < 3; i++) {
		alive(c[i], 2);
		client_close(c[i]);
	}
}
END_TEST

/* A closed connection gives its place back. */
START_TEST(max_connections_place_freed_on_close)
{
	struct answer a;
	conn_t c, d = NULL;
	int tries;

	SKIP_IN_ORACLE();
	c = admin_in("lim2");
	open_refused("admin", "lim2", conn_limit("lim2", 1));
	client_close(c);
	/* The broker counts the close when it has torn the connection down: retry, bounded. */
	for (tries = 0; tries < 50 && d == NULL; tries++) {
		d = handshake(&(struct login){ .user = "admin", .vhost = "lim2" }, &a);
		if (d == NULL) {
			check_reply(
			    "connection.close", a.code, a.text, a.len, 530, conn_limit("lim2", 1));
			sleep_ms(20);
		}
	}
	ck_assert_msg(d != NULL, "no place in lim2 after its only connection closed");
	alive(d, 1);
	client_close(d);
}
END_TEST

START_TEST(max_connections_zero_refuses_all_530)
{
	SKIP_IN_ORACLE();
	open_refused("admin", "closed", conn_limit("closed", 0));
}
END_TEST

START_TEST(max_connections_other_vhosts_unaffected)
{
	conn_t c, d;

	SKIP_IN_ORACLE();
	c = admin_in("lim3");
	open_refused("admin", "lim3", conn_limit("lim3", 1));
	d = admin_in("/");
	alive(d, 2);
	client_close(d);
	client_close(c);
}
END_TEST

START_TEST(max_queues_one_too_many_406)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("qlim1");
	declare_queue(c, 1, "qa");
	declare_queue(c, 1, "qb");
	amqp_queue_declare(c, 1, B("qc"), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406, queue_limit("qc", "qlim1", 2));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 10);
	/* The queues there are unaffected, and redeclaring one is not a new queue. */
	client_open(c, 2);
	declare_queue(c, 2, "qa");
	publish_confirmed(c, 2, "", "qa", NULL, "kept");
	expect_get(c, 2, "qa", "kept");
	ck_assert_uint_eq(queue_count(c, 2, "qb"), 0);
	ck_assert(!queue_exists(c, 2, "qc"));
	client_close(c);
}
END_TEST

START_TEST(max_queues_counts_server_named_406)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("qlim2");
	declare_queue(c, 1, "qa");
	declare_queue(c, 1, "qb");
	amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - cannot declare queue 'amq.gen-*");
	client_close(c);
}
END_TEST

START_TEST(max_queues_place_freed_on_delete)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("qlim3");
	declare_queue(c, 1, "qa");
	declare_queue(c, 1, "qb");
	amqp_queue_delete(c, 1, B("qa"), 0, 0);
	client_ok(c, "queue.delete qa");
	declare_queue(c, 1, "qc");
	client_close(c);
}
END_TEST

START_TEST(max_queues_zero_refuses_all_406)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("noq");
	amqp_queue_declare(c, 1, B("q1"), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406, queue_limit("q1", "noq", 0));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* ---- the user-id property ---- */

static const char userid_users[] = "plain:{H}\n"
                                   "imp:{H}:impersonator\n"
                                   "adm:{H}:administrator\n"
                                   "multi:{H}:monitoring,impersonator\n";
static const struct vfile userid_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions plain .* .* .*\n"
	    "permissions imp .* .* .*\n"
	    "permissions adm .* .* .*\n"
	    "permissions multi .* .* .*\n" },
	{ NULL, NULL },
};

static void userid_start(void)
{
	spawn_with(userid_users, userid_vhosts, NULL);
}

/* user publishes with user_id uid to a queue of its own: it must arrive carrying uid. */
static void publish_as(const char *user, const char *uid)
{
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = B(uid) };
	const char *q = uniq("q-uid");
	struct msg m;
	conn_t c = as(user);

	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, &p, "signed");
	ck_assert(get_msg(c, 1, q, true, &m));
	ck_assert(m.props != NULL && (m.props->_flags & AMQP_BASIC_USER_ID_FLAG) &&
	    bytes_is(m.props->user_id, uid));
	msg_free(&m);
	client_close(c);
}

static void publish_as_refused(const char *user, const char *uid)
{
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = B(uid) };
	conn_t c = as(user);

	publish_props(c, 1, "", "nowhere", false, &p, "forged", 6);
	expect_channel_close(c, 1, 406,
	    fmt("PRECONDITION_FAILED - user_id property set to '%s' but authenticated user was "
	        "'%s'",
	        uid, user));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 40);
	alive(c, 2);
	client_close(c);
}

START_TEST(user_id_own_name_allowed)
{
	SKIP_IN_ORACLE();
	publish_as("plain", "plain");
}
END_TEST

START_TEST(user_id_other_user_406)
{
	SKIP_IN_ORACLE();
	publish_as_refused("plain", "imp");
}
END_TEST

START_TEST(user_id_impersonator_may_set_another)
{
	SKIP_IN_ORACLE();
	publish_as("imp", "plain");
}
END_TEST

START_TEST(user_id_administrator_is_not_impersonator_406)
{
	SKIP_IN_ORACLE();
	publish_as_refused("adm", "plain");
}
END_TEST

START_TEST(user_id_impersonator_among_several_tags)
{
	SKIP_IN_ORACLE();
	publish_as("multi", "someone-else");
}
END_TEST

void access_add_topics_limits(Suite *s)
{
	TCase *tc;

	tc = group(s, "topic", topic_start, TEST_TIMEOUT);
	tcase_add_test(tc, topic_publish_key_allowed);
	tcase_add_test(tc, topic_publish_key_denied_403);
	tcase_add_test(tc, topic_bind_key_allowed);
	tcase_add_test(tc, topic_bind_key_denied_403);
	tcase_add_test(tc, topic_unbind_key_denied_403);
	tcase_add_test(tc, topic_exchange_bind_key_allowed);
	tcase_add_test(tc, topic_exchange_bind_key_denied_403);
	tcase_add_test(tc, topic_exchange_unbind_key_denied_403);
	tcase_add_test(tc, topic_without_line_allows_every_key);
	tcase_add_test(tc, topic_permissions_ignored_on_direct_exchange);
	tcase_add_test(tc, topic_username_expanded_allowed);
	tcase_add_test(tc, topic_username_expanded_denied_403);
	tcase_add_test(tc, topic_vhost_expanded_allowed);
	tcase_add_test(tc, topic_vhost_expanded_denied_403);

	tc = group(s, "user-limit", user_limit_start, TEST_TIMEOUT);
	tcase_add_test(tc, user_max_connections_one_too_many_530);

	tc = group(s, "limits", limit_start, TEST_TIMEOUT);
	tcase_add_test(tc, max_connections_one_too_many_530);
	tcase_add_test(tc, max_connections_place_freed_on_close);
	tcase_add_test(tc, max_connections_zero_refuses_all_530);
	tcase_add_test(tc, max_connections_other_vhosts_unaffected);
	tcase_add_test(tc, max_queues_one_too_many_406);
	tcase_add_test(tc, max_queues_counts_server_named_406);
	tcase_add_test(tc, max_queues_place_freed_on_delete);
	tcase_add_test(tc, max_queues_zero_refuses_all_406);

	tc = group(s, "user-id", userid_start, TEST_TIMEOUT);
	tcase_add_test(tc, user_id_own_name_allowed);
	tcase_add_test(tc, user_id_other_user_406);
	tcase_add_test(tc, user_id_impersonator_may_set_another);
	tcase_add_test(tc, user_id_administrator_is_not_impersonator_406);
	tcase_add_test(tc, user_id_impersonator_among_several_tags);
}
