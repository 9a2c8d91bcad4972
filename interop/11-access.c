/*
 * 11-access: users, vhosts and permissions end to end, through real rabbitmq-c clients. Each group
 * starts its own warrend on a users file and a vhost directory written for it (passwords hashed
 * once per run with warrenctl hash-password), then checks logins (PLAIN and AMQPLAIN, refusals
 * with RabbitMQ's texts, a storm of 100 logins while deliveries keep flowing), RabbitMQ's
 * permission table (every operation once allowed, once refused with 403 on the channel while the
 * connection lives on), topic permissions with {username} and {vhost}, vhost limits, the user-id
 * property and the impersonator tag, reloads on SIGHUP (new users, 320 for users who lost their
 * vhost, invalid files refused with FILE:LINE in the log) and invalid files at start-up.
 * Warren-only: RabbitMQ's users and vhosts cannot be configured from the test.
 */
#include "interop/access.h"

/* ---- logins ---- */

static const char login_users[] = "# users for 11-access logins\n"
                                  "alice:{H}\n"
                                  "bob:{H}\n"
                                  "locked:!:monitoring\n"
                                  "guest:{HG}:administrator\n"
                                  "viewer:{H}\n"
                                  "j\xc3\xb6hn doe:{H}\n";
static const struct vfile login_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions alice .* .* .*\n"
	    "permissions guest .* .* .*\n"
	    "permissions locked .* .* .*\n"
	    "permissions viewer '' '' ''\n"
	    "permissions 'j\xc3\xb6hn doe' .* .* .*\n" },
	{ "other.vhost",
	    "vhost other\n"
	    "permissions alice .* .* .*\n"
	    "permissions bob .* .* .*\n" },
	{ NULL, NULL },
};

static void login_start(void)
{
	spawn_with(login_users, login_vhosts, NULL);
}

START_TEST(login_right_password)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as("alice");
	declare_queue(c, 1, uniq("q-login"));
	client_close(c);
}
END_TEST

START_TEST(login_wrong_password_403)
{
	SKIP_IN_ORACLE();
	login_refused("alice", "wrong");
}
END_TEST

START_TEST(login_unknown_user_403)
{
	SKIP_IN_ORACLE();
	login_refused("nobody", PASSWORD);
}
END_TEST

START_TEST(login_empty_password_403)
{
	SKIP_IN_ORACLE();
	login_refused("alice", "");
}
END_TEST

/* Names compare byte for byte: Alice is not alice. */
START_TEST(login_name_is_case_sensitive_403)
{
	SKIP_IN_ORACLE();
	login_refused("Alice", PASSWORD);
}
END_TEST

START_TEST(login_amqplain)
{
	struct answer a;
	conn_t c;

	SKIP_IN_ORACLE();
	c = handshake(&(struct login){ .user = "alice", .mechanism = "AMQPLAIN" }, &a);
	ck_assert_msg(c != NULL, "AMQPLAIN login refused: %d \"%s\"", a.code, a.text);
	client_open(c, 1);
	declare_queue(c, 1, uniq("q-amqplain"));
	client_close(c);
}
END_TEST

START_TEST(login_amqplain_wrong_password_403)
{
	SKIP_IN_ORACLE();
	refused(&(struct login){ .user = "alice", .password = "wrong", .mechanism = "AMQPLAIN" },
	    403,
	    "ACCESS_REFUSED - Login was refused using authentication mechanism AMQPLAIN. For "
	    "details see the broker logfile.",
	    0, 0);
}
END_TEST

/* The hash "!" keeps the user (its permissions and tags) but refuses every password. */
START_TEST(login_locked_user_403)
{
	SKIP_IN_ORACLE();
	login_refused("locked", PASSWORD);
	login_refused("locked", "!");
}
END_TEST

/* Without authentication_failure_close a refused login is a silent close, as RabbitMQ. */
START_TEST(login_refused_silently_without_capability)
{
	struct answer a;

	SKIP_IN_ORACLE();
	ck_assert_ptr_null(handshake(
	    &(struct login){ .user = "alice", .password = "wrong", .no_failure_close = true }, &a));
	ck_assert_int_eq(a.code, -1);
}
END_TEST

START_TEST(login_no_permissions_530)
{
	SKIP_IN_ORACLE();
	open_refused("bob", "/", "NOT_ALLOWED - access to vhost '/' refused for user 'bob'");
}
END_TEST

START_TEST(login_other_vhost)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as_in("bob", "other");
	client_open(c, 1);
	declare_queue(c, 1, "q-bob");
	client_close(c);
}
END_TEST

START_TEST(login_unknown_vhost_530)
{
	SKIP_IN_ORACLE();
	open_refused("alice", "nowhere", "NOT_ALLOWED - vhost nowhere not found");
}
END_TEST

/* A permissions line of three '' lets the user open the vhost, and do nothing there. */
START_TEST(login_empty_permissions_open_but_nothing_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as("viewer");
	amqp_queue_declare(c, 1, B("q-viewer"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-viewer", "viewer"));
	client_close(c);
}
END_TEST

/* A guest line in the users file: guest logs in from loopback with the password given there. */
START_TEST(login_guest_from_loopback)
{
	struct client_opts o = { .user = "guest", .password = "guest" };
	conn_t c;

	SKIP_IN_ORACLE();
	c = client_connect_opts(&o);
	client_open(c, 1);
	declare_queue(c, 1, uniq("q-guest"));
	client_close(c);
}
END_TEST

/* Names are bytes: spaces and UTF-8 are kept. */
START_TEST(login_utf8_name_with_space)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as("j\xc3\xb6hn doe");
	declare_queue(c, 1, uniq("q-john"));
	client_close(c);
}
END_TEST

/* ---- a storm of logins ---- */

struct storm_client {
	int index;
	conn_t conn;
	bool ok;
	char why[160];
};

static pthread_barrier_t storm_go;
static atomic_int storm_done;

/* One client of the storm (no Check calls in threads): connect and log in, keep the connection. */
static void *storm_login(void *arg)
{
	struct storm_client *sc = arg;
	struct timeval tv = { 30, 0 };
	amqp_socket_t *s;
	amqp_rpc_reply_t r;
	char user[32];
	int st;

	snprintf(user, sizeof(user), "storm-%03d", sc->index);
	sc->conn = amqp_new_connection();
	s = amqp_tcp_socket_new(sc->conn);
	pthread_barrier_wait(&storm_go);
	if ((st = amqp_socket_open_noblock(s, broker.host, broker.port, &tv)) != AMQP_STATUS_OK) {
		snprintf(sc->why, sizeof(sc->why), "connect: %s", amqp_error_string2(st));
		goto out;
	}
	amqp_set_handshake_timeout(sc->conn, &tv);
	amqp_set_rpc_timeout(sc->conn, &tv);
	r = amqp_login(sc->conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, PASSWORD);
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		snprintf(sc->why, sizeof(sc->why), "%s: login failed (reply type %d, %s)", user,
		    r.reply_type,
		    r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
		        ? amqp_error_string2(r.library_error)
		        : "server exception");
		goto out;
	}
	sc->ok = true;
out:
	atomic_fetch_add(&storm_done, 1);
	return NULL;
}

static void storm_start(void)
{
	size_t cap = 64 * STORM_CLIENTS + 256;
	char *users = malloc(cap), *vhost = malloc(cap);
	size_t nu = 0, nv = 0;
	int i;

	ck_assert(users != NULL && vhost != NULL);
	nu += (size_t)snprintf(users + nu, cap - nu, "admin:{H}\n");
	nv += (size_t)snprintf(vhost + nv, cap - nv, "vhost /\npermissions admin .* .* .*\n");
	for (i = 0; i < STORM_CLIENTS; i++) {
		nu += (size_t)snprintf(users + nu, cap - nu, "storm-%03d:{H}\n", i);
		nv +=
		    (size_t)snprintf(vhost + nv, cap - nv, "permissions storm-%03d '' '' ''\n", i);
	}
	/* The last of 100 scrypt checks on 2 threads may wait seconds: more than the default 10. */
	spawn_with(users, (struct vfile[]){ { "default.vhost", vhost }, { NULL, NULL } },
	    "handshake_timeout = 120\n");
	free(users);
	free(vhost);
}

/*
 * 100 clients log in at once, each a distinct user, so each costs one scrypt on the check pool;
 * meanwhile a consumer connection keeps publishing to itself, and its round trips must stay short:
 * the hashing runs beside the event loop, never on it.
 */
START_TEST(login_storm_while_delivering)
{
	static struct storm_client sc[STORM_CLIENTS];
	pthread_t th[STORM_CLIENTS];
	const int64_t bound_ms = 60000;
	int64_t t0, rtt, max_rtt = 0, sum_rtt = 0, storm_ms;
	int i, rounds = 0, failed = 0;
	char q[64];
	conn_t d;

	SKIP_IN_ORACLE();
	snprintf(q, sizeof(q), "%s", uniq("q-rtt")); /* uniq's buffer is reused by fmt below */
	d = as("admin");
	declare_queue(d, 1, q);
	consume(d, 1, q, "rtt", true);
	/* A warm-up round trip, so the first measured one is not the first ever. */
	publish(d, 1, "", q, "warm-up");
	expect_deliver(d, 1, "warm-up");

	ck_assert_int_eq(pthread_barrier_init(&storm_go, NULL, STORM_CLIENTS + 1), 0);
	atomic_store(&storm_done, 0);
	for (i = 0; i < STORM_CLIENTS; i++) {
		sc[i] = (struct storm_client){ .index = i };
		ck_assert_int_eq(pthread_create(&th[i], NULL, storm_login, &sc[i]), 0);
	}
	pthread_barrier_wait(&storm_go);
	t0 = now_ms();
	while (atomic_load(&storm_done) < STORM_CLIENTS) {
		const char *body = fmt("rtt-%d", rounds);
		int64_t s = now_ms();

		ck_assert_msg(now_ms() - t0 < bound_ms, "%d of %d logins done after %lld ms",
		    atomic_load(&storm_done), STORM_CLIENTS, (long long)bound_ms);
		publish(d, 1, "", q, body);
		expect_deliver(d, 1, body);
		rtt = now_ms() - s;
		sum_rtt += rtt;
		if (rtt > max_rtt)
			max_rtt = rtt;
		rounds++;
		sleep_ms(20); /* pace the probe: about 50 round trips a second */
	}
	storm_ms = now_ms() - t0;
	for (i = 0; i < STORM_CLIENTS; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&storm_go);
	fprintf(stderr,
	    "storm: %d logins in %lld ms; %d delivery round trips meanwhile, max %lld ms, mean "
	    "%lld ms\n",
	    STORM_CLIENTS, (long long)storm_ms, rounds, (long long)max_rtt,
	    (long long)(rounds > 0 ? sum_rtt / rounds : 0));
	for (i = 0; i < STORM_CLIENTS; i++)
		if (!sc[i].ok) {
			if (failed++ < 5)
				fprintf(stderr, "storm client %d: %s\n", i, sc[i].why);
		}
	ck_assert_msg(failed == 0, "%d of %d storm logins failed", failed, STORM_CLIENTS);
	ck_assert_msg(
	    rounds >= 3, "only %d round trips during a %lld ms storm", rounds, (long long)storm_ms);
	ck_assert_msg(max_rtt < 1000, "a delivery round trip took %lld ms during the storm",
	    (long long)max_rtt);
	/* Every storm connection is open and usable. */
	for (i = 0; i < STORM_CLIENTS; i++) {
		client_open(sc[i].conn, 1);
		client_close(sc[i].conn);
	}
	client_close(d);
}
END_TEST

/* ---- the success cache ---- */

static void nocache_start(void)
{
	spawn_with("alice:{H}\n",
	    (struct vfile[]){
	        { "default.vhost", "vhost /\npermissions alice .* .* .*\n" }, { NULL, NULL } },
	    "auth_cache_ttl = 0\n");
}

/*
 * warren.conf(5): "auth_cache_ttl = 0 turns it off", so every login pays for scrypt. A cached
 * login takes about a millisecond; no login checked with scrypt (ln=14, about 60 ms on the
 * 2-core reference machine) can take under 15 ms, so the fastest of several logins tells.
 */
START_TEST(login_cache_ttl_zero_checks_every_login)
{
	int64_t t, fastest = INT64_MAX;
	conn_t c;
	int i;

	SKIP_IN_ORACLE();
	c = as_in("alice", "/"); /* the first login, which any cache would remember */
	client_close(c);
	for (i = 0; i < 5; i++) {
		t = now_ms();
		c = as_in("alice", "/");
		t = now_ms() - t;
		client_close(c);
		if (t < fastest)
			fastest = t;
	}
	ck_assert_msg(fastest >= 15,
	    "a login took %lld ms with auth_cache_ttl = 0: it was answered from the cache",
	    (long long)fastest);
}
END_TEST

void access_add_login(Suite *s)
{
	TCase *tc;

	tc = group(s, "login", login_start, TEST_TIMEOUT);
	tcase_add_test(tc, login_right_password);
	tcase_add_test(tc, login_wrong_password_403);
	tcase_add_test(tc, login_unknown_user_403);
	tcase_add_test(tc, login_empty_password_403);
	tcase_add_test(tc, login_name_is_case_sensitive_403);
	tcase_add_test(tc, login_amqplain);
	tcase_add_test(tc, login_amqplain_wrong_password_403);
	tcase_add_test(tc, login_locked_user_403);
	tcase_add_test(tc, login_refused_silently_without_capability);
	tcase_add_test(tc, login_no_permissions_530);
	tcase_add_test(tc, login_other_vhost);
	tcase_add_test(tc, login_unknown_vhost_530);
	tcase_add_test(tc, login_empty_permissions_open_but_nothing_allowed);
	tcase_add_test(tc, login_guest_from_loopback);
	tcase_add_test(tc, login_utf8_name_with_space);

	tc = group(s, "storm", storm_start, 120);
	tcase_add_test(tc, login_storm_while_delivering);

	tc = group(s, "cache-off", nocache_start, TEST_TIMEOUT);
	tcase_add_test(tc, login_cache_ttl_zero_checks_every_login);
}

int main(void)
{
	Suite *s = suite_create("11-access");
	int ret;

	if (getenv("WARREN_TEST_BROKER") == NULL) {
		make_hash(PASSWORD, hash_secret, sizeof(hash_secret));
		make_hash(PASSWORD2, hash_changed, sizeof(hash_changed));
		make_hash("guest", hash_guest, sizeof(hash_guest));
	}
	access_add_login(s);
	access_add_permissions(s);
	access_add_topics_limits(s);
	access_add_reloads(s);
	access_add_saslauthd(s);
	ret = harness_run(s);
	return ret == EXIT_SUCCESS && !broker_bad ? EXIT_SUCCESS : EXIT_FAILURE;
}
