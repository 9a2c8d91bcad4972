/*
 * 11-access-saslauthd.c: password_backend = saslauthd end to end. Each group runs a fake
 * saslauthd of its own (interop/fake_saslauthd.c) on a temporary unix socket and a warrend
 * pointed at it: a right password logs in and the vhost file's permissions apply; a wrong one
 * gets 403 (or the silent close) exactly as for users of the users file; users with a hash in the
 * users file are still checked by it and never sent to saslauthd, locked ones neither; tags come
 * from the users file; a success is cached; a saslauthd that is down refuses logins with a line
 * in the log while the broker and everyone already in carry on, and logins work again once it is
 * back; a slow saslauthd delays nobody else. Skipped in a build without libsasl2 (the start-up
 * tests in 11-access-reload.c check the refusal then).
 */
#include "config.h"

#include "interop/access.h"
#include "interop/fake_saslauthd.h"

#ifdef HAVE_SASL

#define SERVICE "warren-interop"
#define LDAP_PW "ldap-pass"

static const struct fake_user directory[] = {
	{ "dave", LDAP_PW, FAKE_CHECK },
	{ "erin", "erin-pass", FAKE_CHECK },
	{ "carl", "carl-pass", FAKE_CHECK },
	{ "alice", "directory-pass", FAKE_CHECK }, /* alice has a hash in the users file too */
	{ "locked", LDAP_PW, FAKE_CHECK },
	{ "slow", "slow-pass", FAKE_HOLD },
	{ "fay", "fay-pass", FAKE_CHECK },
	{ "zoe", "zoe-pass", FAKE_CHECK }, /* no permissions anywhere */
	{ NULL, NULL, FAKE_CHECK },
};

static const char sasl_users[] = "alice:{H}\n"
                                 "erin:saslauthd:impersonator\n"
                                 "locked:!\n";
static const struct vfile sasl_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions alice .* .* .*\n"
	    "permissions dave '^dave\\.' '^(dave\\..*|amq\\.default)$' '^dave\\.'\n"
	    "permissions 'dave@example.org' .* .* .*\n"
	    "permissions erin .* .* .*\n"
	    "permissions carl .* .* .*\n"
	    "permissions locked .* .* .*\n"
	    "permissions slow .* .* .*\n"
	    "permissions fay .* .* .*\n" },
	{ NULL, NULL },
};

/* The group's fake saslauthd and its directory (socket and request log). */
static struct fake_saslauthd fake;
static char sasl_dir[64];

static const char *in_sasl_dir(const char *name)
{
	return fmt("%s/%s", sasl_dir, name);
}

/* warren.conf lines for the saslauthd backend on the fake's socket. */
static const char *sasl_conf(const char *more)
{
	return fmt("password_backend = saslauthd\nsaslauthd_path = %s\nsaslauthd_service = %s\n%s",
	    in_sasl_dir("mux"), SERVICE, more);
}

static void make_sasl_dir(void)
{
	char tmpl[] = "/tmp/warren-sasl-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(sasl_dir, sizeof(sasl_dir), "%s", tmpl);
}

static void sasl_start(void)
{
	if (getenv("WARREN_TEST_BROKER") != NULL)
		return;
	make_sasl_dir();
	ck_assert_int_eq(
	    fake_saslauthd_start(&fake, in_sasl_dir("mux"), in_sasl_dir("log"), directory), 0);
	/* three threads: one may be held by "slow" while the others work */
	spawn_with(sasl_users, sasl_vhosts, sasl_conf("auth_threads = 3\n"));
}

static void sasl_stop(void)
{
	fake_saslauthd_stop(&fake);
	if (sasl_dir[0] != '\0') {
		unlink(in_sasl_dir("mux"));
		unlink(in_sasl_dir("log"));
		rmdir(sasl_dir);
	}
	group_stop();
}

/* Log in as user with password, channel 1 open; the test fails if that does not work. */
static conn_t sasl_as(const char *user, const char *password)
{
	struct client_opts o = { .user = user, .password = password };
	conn_t c = client_connect_opts(&o);

	client_open(c, 1);
	return c;
}

static void sasl_refused(const char *user, const char *password)
{
	refused(&(struct login){ .user = user, .password = password }, 403, LOGIN_REFUSED, 0, 0);
}

START_TEST(sasl_right_password_permissions_apply)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = sasl_as("dave", LDAP_PW);
	ck_assert_str_eq(fake_saslauthd_last(&fake), "dave\t" SERVICE "\t\tOK\n");
	declare_queue(c, 1, "dave.q");
	publish_confirmed(c, 1, "", "dave.q", NULL, "from the directory");
	expect_get(c, 1, "dave.q", "from the directory");
	amqp_queue_declare(c, 1, B("q-not-daves"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-not-daves", "dave"));
	client_close(c);
}
END_TEST

START_TEST(sasl_amqplain)
{
	struct answer a;
	conn_t c;

	SKIP_IN_ORACLE();
	c = handshake(
	    &(struct login){ .user = "dave", .password = LDAP_PW, .mechanism = "AMQPLAIN" }, &a);
	ck_assert_msg(c != NULL, "AMQPLAIN login refused: %d \"%s\"", a.code, a.text);
	client_open(c, 1);
	declare_queue(c, 1, "dave.amqplain");
	client_close(c);
}
END_TEST

/* Refusals look exactly like the users file's: 403 with the capability, else a silent close. */
START_TEST(sasl_wrong_password_403)
{
	struct answer a;

	SKIP_IN_ORACLE();
	sasl_refused("dave", "wrong");
	ck_assert_str_eq(
	    fake_saslauthd_last(&fake), "dave\t" SERVICE "\t\tNO authentication failed\n");
	sasl_refused("nobody", LDAP_PW);
	ck_assert_ptr_null(handshake(
	    &(struct login){ .user = "dave", .password = "wrong", .no_failure_close = true }, &a));
	ck_assert_int_eq(a.code, -1);
	ck_assert_ptr_nonnull(log_line("login refused: user 'dave': invalid credentials"));
}
END_TEST

/* The directory knows the user, but no vhost file gives it permissions: 530 at open. */
START_TEST(sasl_user_without_permissions_530)
{
	SKIP_IN_ORACLE();
	refused(&(struct login){ .user = "zoe", .password = "zoe-pass" }, 530,
	    "NOT_ALLOWED - access to vhost '/' refused for user 'zoe'", 10, 40);
	ck_assert_str_eq(fake_saslauthd_last(&fake), "zoe\t" SERVICE "\t\tOK\n");
}
END_TEST

/* A users-file hash wins: saslauthd is never asked about alice, nor about a locked user. */
START_TEST(sasl_local_hash_and_locked_stay_local)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as("alice");
	alive(c, 2);
	client_close(c);
	sasl_refused("alice", "directory-pass");
	sasl_refused("locked", LDAP_PW);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "alice"), 0);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "locked"), 0);
}
END_TEST

/* erin's password is saslauthd's, her tag the users file's: she may set another user-id. */
START_TEST(sasl_tags_from_users_file)
{
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = B("someone") };
	conn_t c;

	SKIP_IN_ORACLE();
	c = sasl_as("erin", "erin-pass");
	declare_queue(c, 1, "erin-q");
	publish_confirmed(c, 1, "", "erin-q", &p, "signed by someone");
	client_close(c);
	c = sasl_as("dave", LDAP_PW);
	publish_props(c, 1, "", "dave.q", false, &p, "forged", 6);
	expect_channel_close(c, 1, 406,
	    "PRECONDITION_FAILED - user_id property set to 'someone' but authenticated user was "
	    "'dave'");
	client_close(c);
}
END_TEST

/* libsasl2 gives saslauthd NAME and REALM apart; the broker's user is the whole name. */
START_TEST(sasl_realm_in_name)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = sasl_as("dave@example.org", LDAP_PW);
	ck_assert_str_eq(fake_saslauthd_last(&fake), "dave\t" SERVICE "\texample.org\tOK\n");
	declare_queue(c, 1, uniq("q-realm")); /* dave@example.org's permissions, not dave's */
	client_close(c);
}
END_TEST

/* A success is remembered (auth_cache_ttl): the second login does not reach saslauthd. */
START_TEST(sasl_success_cached)
{
	int before;
	conn_t c;

	SKIP_IN_ORACLE();
	before = fake_saslauthd_requests(&fake, "carl");
	c = sasl_as("carl", "carl-pass");
	client_close(c);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "carl"), before + 1);
	c = sasl_as("carl", "carl-pass");
	client_close(c);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "carl"), before + 1);
	sasl_refused("carl", "carl-pass-2"); /* a failure is never cached, nor answered from it */
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "carl"), before + 2);
}
END_TEST

/* A login in a thread (no Check calls there): rabbitmq-c's amqp_login, bounded. */
struct bg_login {
	const char *user, *password;
	conn_t conn;
	bool ok;
};

static void *bg_login_run(void *arg)
{
	struct bg_login *b = arg;
	struct timeval tv = { 20, 0 };
	amqp_socket_t *s;

	b->conn = amqp_new_connection();
	s = amqp_tcp_socket_new(b->conn);
	if (amqp_socket_open_noblock(s, broker.host, broker.port, &tv) != AMQP_STATUS_OK)
		return NULL;
	amqp_set_handshake_timeout(b->conn, &tv);
	amqp_set_rpc_timeout(b->conn, &tv);
	b->ok = amqp_login(b->conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, b->user, b->password)
	            .reply_type == AMQP_RESPONSE_NORMAL;
	return NULL;
}

/* While saslauthd sits on one answer, other logins (both kinds) and deliveries go on. */
START_TEST(sasl_slow_answer_delays_nobody_else)
{
	struct bg_login slow = { .user = "slow", .password = "slow-pass" };
	int64_t deadline = now_ms() + WAIT_MS;
	struct watcher w;
	pthread_t th;
	conn_t c;

	SKIP_IN_ORACLE();
	w = watch("alice");
	ck_assert_int_eq(pthread_create(&th, NULL, bg_login_run, &slow), 0);
	/* wait until saslauthd has the question: from now on the answer is held */
	while (fake_saslauthd_requests(&fake, "slow") == 0) {
		ck_assert_msg(now_ms() < deadline, "saslauthd never asked about 'slow'");
		sleep_ms(5);
	}
	still_delivers(&w, "while saslauthd thinks");
	c = as("alice");
	client_close(c);
	c = sasl_as("fay", "fay-pass"); /* a first login: saslauthd is asked, and answers */
	client_close(c);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "fay"), 1);
	ck_assert(!slow.ok);
	fake_saslauthd_release(&fake);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(slow.ok, "the held login did not complete");
	amqp_connection_close(slow.conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(slow.conn);
	still_delivers(&w, "after");
	client_close(w.c);
}
END_TEST

/* ---- saslauthd down: a group whose test starts and stops the fake itself ---- */

static void down_start(void)
{
	if (getenv("WARREN_TEST_BROKER") != NULL)
		return;
	make_sasl_dir();
	/* no cache: every login asks saslauthd */
	spawn_with(sasl_users, sasl_vhosts, sasl_conf("auth_cache_ttl = 0\n"));
}

static void down_stop(void)
{
	if (sasl_dir[0] != '\0') {
		unlink(in_sasl_dir("mux"));
		unlink(in_sasl_dir("log"));
		rmdir(sasl_dir);
	}
	group_stop();
}

START_TEST(sasl_down_refused_broker_carries_on)
{
	struct fake_saslauthd f;
	struct watcher w;
	const char *line;
	conn_t d, c;

	SKIP_IN_ORACLE();
	ck_assert_int_eq(
	    fake_saslauthd_start(&f, in_sasl_dir("mux"), in_sasl_dir("log"), directory), 0);
	d = sasl_as("dave", LDAP_PW);
	w = watch("alice");
	fake_saslauthd_stop(&f); /* nothing answers on the socket now */
	sasl_refused("dave", LDAP_PW);
	line = log_line("saslauthd could not check the password");
	ck_assert_msg(line != NULL, "no log line about saslauthd");
	ck_assert_msg(strstr(line, "login refused: user 'dave'") != NULL &&
	        strstr(line, "cannot connect to saslauthd") != NULL,
	    "%s", line);
	unlink(in_sasl_dir("mux")); /* and with no socket at all */
	sasl_refused("dave", LDAP_PW);
	/* everyone already in carries on; users of the users file still log in */
	still_delivers(&w, "saslauthd is down");
	declare_queue(d, 1, "dave.down");
	c = as("alice");
	alive(c, 2);
	client_close(c);
	/* saslauthd is back: so are its users */
	ck_assert_int_eq(
	    fake_saslauthd_start(&f, in_sasl_dir("mux"), in_sasl_dir("log"), directory), 0);
	c = sasl_as("dave", LDAP_PW);
	client_close(c);
	fake_saslauthd_stop(&f);
	client_close(d);
	client_close(w.c);
}
END_TEST

void access_add_saslauthd(Suite *s)
{
	TCase *tc = group_with_stop(s, "saslauthd", sasl_start, sasl_stop, 30);

	tcase_add_test(tc, sasl_right_password_permissions_apply);
	tcase_add_test(tc, sasl_amqplain);
	tcase_add_test(tc, sasl_wrong_password_403);
	tcase_add_test(tc, sasl_user_without_permissions_530);
	tcase_add_test(tc, sasl_local_hash_and_locked_stay_local);
	tcase_add_test(tc, sasl_tags_from_users_file);
	tcase_add_test(tc, sasl_realm_in_name);
	tcase_add_test(tc, sasl_success_cached);
	tcase_add_test(tc, sasl_slow_answer_delays_nobody_else);
	tcase_add_test(group_with_stop(s, "saslauthd-down", down_start, down_stop, 30),
	    sasl_down_refused_broker_carries_on);
}

#else /* no libsasl2: nothing to run here */

void access_add_saslauthd(Suite *s)
{
}

#endif
