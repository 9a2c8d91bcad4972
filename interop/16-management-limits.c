/*
 * 16-management-limits: /api/vhost-limits and /api/user-limits (docs/management.md). A vhost's
 * max-connections and max-queues are set, listed and cleared through the API with RabbitMQ
 * 3.10's JSON, codes and validation texts, only by an administrator, and apply to AMQP at once;
 * on Warren each write is a line of the vhost's file (comments kept, a negative value or a
 * DELETE removes it), and /api/user-limits shows warren.conf's user_max_connections and refuses
 * writes with the reason.
 *
 * Runs against RabbitMQ too: WARREN_TEST_BROKER=127.0.0.1:PORT and WARREN_TEST_HTTP=HTTP_PORT
 * (the node's management listener, docs/testing.md); without the latter the oracle run skips.
 * Where the brokers differ by design (a negative limit listed or not, a limit past 2^31-1, user
 * limits) the test says which it holds.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/http.h"

static char vdir[300];

/* ---- The broker ---- */

/* Warren with a users file (guest, administrator) and a vhost directory; extra: warren.conf. */
static void start_files_with(const char *extra)
{
	char err[256], cmd[4096], hash[300];

	broker_hash_password("16-management-limits", WARRENCTL_PATH, "guest", hash, sizeof(hash));
	if (broker_prepare(&broker, "", err, sizeof(err)) != 0) {
		fprintf(stderr, "16-management-limits: %s\n", err);
		exit(EXIT_FAILURE);
	}
	snprintf(vdir, sizeof(vdir), "%s/vhosts", broker.dir);
	snprintf(cmd, sizeof(cmd),
	    "printf '%%s\\n' 'guest:%s:administrator' > %s/users && chmod 600 %s/users && "
	    "mkdir %s && printf '%%s\\n' 'vhost /' 'permissions guest .* .* .*' > "
	    "%s/default.vhost && printf '%%s\\n' 'users_file = %s/users' 'vhost_dir = %s' '%s' > "
	    "%s/warren.conf",
	    hash, broker.dir, broker.dir, vdir, vdir, broker.dir, vdir, extra, broker.dir);
	if (system(cmd) != 0 || broker_respawn(&broker, err, sizeof(err)) != 0) {
		fprintf(stderr, "16-management-limits: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

static void start(void)
{
	const char *http = getenv("WARREN_TEST_HTTP");

	if (getenv("WARREN_TEST_BROKER") != NULL) {
		/* The harness's fixture has taken the oracle's AMQP address: add its HTTP port. */
		broker.http_port = http != NULL ? atoi(http) : 0;
		return;
	}
	start_files_with("");
}

static void start_capped(void)
{
	start_files_with("user_max_connections = 2");
}

static void stop(void)
{
	if (getenv("WARREN_TEST_BROKER") != NULL)
		return;
	broker_stop_clean("16-management-limits");
}

/* ---- HTTP ---- */

/* A request as user:pw; the answer's status, and its body in *body (malloc'd) if asked. */
static int req_as(const char *user, const char *pw, const char *method, const char *path,
    const char *body, char **out)
{
	return http_request(broker.http_port, user, pw, method, path, body, out);
}

/* As user:pw, the request must answer status, and a body holding want (if not NULL). */
static void expect_as(const char *user, const char *pw, const char *method, const char *path,
    const char *body, int status, const char *want)
{
	char *got = NULL;
	int st = req_as(user, pw, method, path, body, &got);

	ck_assert_msg(st == status, "%s %s as %s: status %d, expected %d: %s", method, path, user,
	    st, status, got);
	if (want != NULL)
		ck_assert_msg(
		    strstr(got, want) != NULL, "%s %s: body %s lacks %s", method, path, got, want);
	free(got);
}

static void expect(
    const char *method, const char *path, const char *body, int status, const char *want)
{
	expect_as("guest", "guest", method, path, body, status, want);
}

/* The body must not hold what (a GET as guest). */
static void expect_lacks(const char *path, const char *what)
{
	char *got = NULL;

	ck_assert_int_eq(req_as("guest", "guest", "GET", path, NULL, &got), 200);
	ck_assert_msg(strstr(got, what) == NULL, "GET %s: %s holds %s", path, got, what);
	free(got);
}

static bool can_run(void)
{
	if (broker_is_oracle() && broker.http_port == 0) {
		harness_skip(tcase_name(), "oracle mode without WARREN_TEST_HTTP");
		return false;
	}
	return true;
}

/* A new vhost that guest may use (its name: a static buffer per call of uniq). */
static const char *new_vhost(const char *what)
{
	const char *v = uniq(what);

	int st;

	expect("PUT", fmt("/api/vhosts/%s", v), "{}", 201, NULL);
	/* RabbitMQ gives the vhost's creator its permissions already (204); Warren does not. */
	st = req_as("guest", "guest", "PUT", fmt("/api/permissions/%s/guest", v),
	    "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", NULL);
	ck_assert_msg(st == 201 || st == 204, "PUT permissions: %d", st);
	return v;
}

static void drop_vhost(const char *v)
{
	expect("DELETE", fmt("/api/vhosts/%s", v), NULL, 204, NULL);
}

/* ---- Vhost limits ---- */

START_TEST(vhost_limits_set_listed_cleared)
{
	char v[128];

	if (!can_run())
		return;
	snprintf(v, sizeof(v), "%s", new_vhost("lim"));
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "[]");
	expect("PUT", fmt("/api/vhost-limits/%s/max-connections", v), "{\"value\": 50}", 204, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 7}", 204, NULL);
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, fmt("[{\"vhost\":\"%s\"", v));
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "\"max-connections\":50");
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "\"max-queues\":7");
	expect("GET", "/api/vhost-limits", NULL, 200, fmt("{\"vhost\":\"%s\",\"value\":{", v));
	/* A new value replaces the old one. */
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 9}", 204, NULL);
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "\"max-queues\":9");
	/* A negative value is no limit: RabbitMQ lists it, Warren's file drops the line. */
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": -1}", 204, NULL);
	if (broker_is_oracle())
		expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "\"max-queues\":-1");
	else
		expect_lacks(fmt("/api/vhost-limits/%s", v), "max-queues");
	expect("DELETE", fmt("/api/vhost-limits/%s/max-connections", v), NULL, 204, NULL);
	expect("DELETE", fmt("/api/vhost-limits/%s/max-connections", v), NULL, 204, NULL);
	expect("DELETE", fmt("/api/vhost-limits/%s/max-queues", v), NULL, 204, NULL);
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "[]");
	expect_lacks("/api/vhost-limits", fmt("\"vhost\":\"%s\",\"value\":{", v));
	drop_vhost(v);
}
END_TEST

START_TEST(vhost_limit_writes_checked)
{
	char v[128];

	if (!can_run())
		return;
	snprintf(v, sizeof(v), "%s", new_vhost("bad"));
	expect("PUT", fmt("/api/vhost-limits/%s/max-channels", v), "{\"value\": 7}", 400,
	    "Validation failed\\n\\nUnrecognised terms [{<<\\\"max-channels\\\">>,7}] in limits");
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": \"8\"}", 400,
	    "max-queues should be a number, actually was <<\\\"8\\\">>");
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 1.5}", 400,
	    "max-queues should be a number, actually was 1.5");
	expect("PUT", fmt("/api/vhost-limits/%s/max-connections", v), "{\"value\": null}", 400,
	    "max-connections should be a number, actually was null");
	expect(
	    "PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{}", 400, "[{key_missing,value}]");
	expect("PUT", "/api/vhost-limits/no-such-vhost/max-queues", "{\"value\": 3}", 404,
	    "{\"error\":\"not_found\",\"reason\":\"vhost_not_found\"}");
	expect("GET", "/api/vhost-limits/no-such-vhost", NULL, 404, "Object Not Found");
	expect("GET", fmt("/api/vhost-limits/%s/max-queues", v), NULL, 405, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s", v), "{\"value\": 3}", 405, NULL);
	/* RabbitMQ takes any integer; a vhost file holds RabbitMQ's 32-bit limits. */
	if (!broker_is_oracle())
		expect("PUT", fmt("/api/vhost-limits/%s/max-connections", v),
		    "{\"value\": 99999999999}", 400,
		    "max-connections 99999999999 is more than a vhost file holds (2147483647 at "
		    "most)");
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "[]");
	drop_vhost(v);
}
END_TEST

/* Writes need administrator; a management user sees the vhosts it may use, monitoring all. */
START_TEST(vhost_limits_need_administrator)
{
	const char *mgr = uniq("mgr"), *mon;
	char v[128], m[128];

	if (!can_run())
		return;
	snprintf(m, sizeof(m), "%s", mgr);
	mon = uniq("mon");
	snprintf(v, sizeof(v), "%s", new_vhost("adm"));
	expect("PUT", fmt("/api/users/%s", m), "{\"password\":\"pw\",\"tags\":\"management\"}", 201,
	    NULL);
	expect("PUT", fmt("/api/users/%s", mon), "{\"password\":\"pw\",\"tags\":\"monitoring\"}",
	    201, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 4}", 204, NULL);
	expect_as(m, "pw", "PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 3}", 401,
	    "Not administrator user");
	expect_as(m, "pw", "DELETE", fmt("/api/vhost-limits/%s/max-queues", v), NULL, 401,
	    "Not administrator user");
	expect_as(m, "pw", "GET", fmt("/api/vhost-limits/%s", v), NULL, 401,
	    "User not authorised to access virtual host");
	expect_as(m, "pw", "GET", "/api/vhost-limits", NULL, 200, "[");
	{
		char *got = NULL;
		ck_assert_int_eq(req_as(m, "pw", "GET", "/api/vhost-limits", NULL, &got), 200);
		ck_assert_msg(strstr(got, v) == NULL, "%s sees %s's limits: %s", m, v, got);
		free(got);
	}
	expect_as(mon, "pw", "GET", "/api/vhost-limits", NULL, 200, "\"max-queues\":4");
	expect_as(mon, "pw", "GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "\"max-queues\":4");
	expect("PUT", fmt("/api/permissions/%s/%s", v, m),
	    "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 201, NULL);
	expect_as(m, "pw", "GET", fmt("/api/vhost-limits/%s", v), NULL, 200, "\"max-queues\":4");
	expect("DELETE", fmt("/api/users/%s", m), NULL, 204, NULL);
	expect("DELETE", fmt("/api/users/%s", mon), NULL, 204, NULL);
	drop_vhost(v);
}
END_TEST

/* A connection to vhost v as guest: 0 once open (closed again), else the close code. */
static int login_to(const char *v)
{
	struct timeval tv = { WAIT_MS / 1000, 0 };
	conn_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	amqp_rpc_reply_t r;
	int code = -1;

	ck_assert_int_eq(amqp_socket_open_noblock(s, broker.host, broker.port, &tv), 0);
	amqp_set_handshake_timeout(c, &tv);
	r = amqp_login(c, v, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		code = 0;
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	} else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		code = ((amqp_connection_close_t *)r.reply.decoded)->reply_code;
	}
	amqp_destroy_connection(c);
	return code;
}

/* A limit set through the API holds for the next connection and declare; cleared, it goes. */
START_TEST(vhost_limits_apply_at_once)
{
	char v[128];
	int64_t deadline;
	conn_t c;

	if (!can_run())
		return;
	snprintf(v, sizeof(v), "%s", new_vhost("at-once"));
	expect("PUT", fmt("/api/vhost-limits/%s/max-connections", v), "{\"value\": 1}", 204, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 1}", 204, NULL);
	c = client_connect_opts(&(struct client_opts){ .vhost = v });
	client_open(c, 1);
	ck_assert_int_eq(login_to(v), 530); /* the one connection is c */
	declare_queue(c, 1, "only-one");
	amqp_queue_declare(c, 1, B("one-too-many"), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    fmt("PRECONDITION_FAILED - cannot declare queue 'one-too-many': queue limit in vhost "
	        "'%s' (1) is reached",
	        v));
	client_open(c, 1);
	expect("DELETE", fmt("/api/vhost-limits/%s/max-queues", v), NULL, 204, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s/max-connections", v), "{\"value\": -1}", 204, NULL);
	/* RabbitMQ applies a limit's change asynchronously (a runtime parameter's event). */
	deadline = now_ms() + 2 * WAIT_MS;
	if (!broker_is_oracle())
		ck_assert_int_eq(login_to(v), 0); /* Warren: in force once the API answered */
	while (login_to(v) != 0) {
		ck_assert_msg(now_ms() < deadline, "max-connections 1 still holds");
		sleep_ms(10);
	}
	declare_queue(c, 1, "two-now");
	CHECK_RPC(c, amqp_queue_delete(c, 1, B("only-one"), 0, 0));
	CHECK_RPC(c, amqp_queue_delete(c, 1, B("two-now"), 0, 0));
	client_close(c);
	drop_vhost(v);
}
END_TEST

/* ---- Warren only: the files ---- */

/* Each write is a line of the vhost's file; comments stay; a line written by hand is listed. */
START_TEST(vhost_limits_are_file_lines)
{
	const char *path;
	char v[128], *text = NULL;
	int before;
	FILE *f;

	SKIP_IN_ORACLE();
	snprintf(v, sizeof(v), "%s", new_vhost("file"));
	path = fmt("%s/%s.vhost", vdir, v);
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("# limits below\n", f);
	ck_assert_int_eq(fclose(f), 0);
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 12}", 204, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s/max-connections", v), "{\"value\": 0}", 204, NULL);
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": 13}", 204, NULL);
	{
		FILE *g = fopen(path, "r");
		size_t n;
		ck_assert_ptr_nonnull(g);
		text = calloc(1, 4096);
		n = fread(text, 1, 4095, g);
		fclose(g);
		text[n] = '\0';
	}
	ck_assert_msg(
	    strstr(text, "# limits below\nmax-queues 13\nmax-connections 0\n") != NULL, "%s", text);
	free(text);
	expect("GET", fmt("/api/vhost-limits/%s", v), NULL, 200,
	    "\"value\":{\"max-connections\":0,\"max-queues\":13}");
	expect("PUT", fmt("/api/vhost-limits/%s/max-queues", v), "{\"value\": -7}", 204, NULL);
	expect("DELETE", fmt("/api/vhost-limits/%s/max-connections", v), NULL, 204, NULL);
	{
		FILE *g = fopen(path, "r");
		char buf[4096];
		size_t n;
		ck_assert_ptr_nonnull(g);
		n = fread(buf, 1, sizeof(buf) - 1, g);
		fclose(g);
		buf[n] = '\0';
		ck_assert_msg(
		    strstr(buf, "max-") == NULL && strstr(buf, "# limits below\n") != NULL, "%s",
		    buf);
	}
	/* An administrator's own line, and SIGHUP: the API lists it. */
	before = broker_log_count(&broker, "reloaded: ");
	f = fopen(path, "a");
	ck_assert_ptr_nonnull(f);
	fputs("max-connections 3\n", f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
	{
		int64_t deadline = now_ms() + 4 * WAIT_MS;
		while (broker_log_count(&broker, "reloaded: ") == before) {
			ck_assert_msg(now_ms() < deadline, "no reload after SIGHUP");
			sleep_ms(10);
		}
	}
	expect("GET", "/api/vhost-limits", NULL, 200,
	    fmt("{\"vhost\":\"%s\",\"value\":{\"max-connections\":3}}", v));
	drop_vhost(v);
}
END_TEST

/* Without user_max_connections: no user limits; writes refused with the reason. */
START_TEST(user_limits_none)
{
	SKIP_IN_ORACLE();
	expect("GET", "/api/user-limits", NULL, 200, "[]");
	expect("GET", "/api/user-limits/guest", NULL, 200, "[]");
	expect("GET", "/api/user-limits/nobody", NULL, 404, "Object Not Found");
	expect("PUT", "/api/user-limits/guest/max-connections", "{\"value\": 5}", 400,
	    "Warren has no per-user limits: its users file cannot hold them; user_max_connections "
	    "in warren.conf caps the connections of every user");
	expect("DELETE", "/api/user-limits/guest/max-channels", NULL, 400, "no per-user limits");
}
END_TEST

/* With user_max_connections = 2: every user shows it, in RabbitMQ's shape; it holds. */
START_TEST(user_limits_show_user_max_connections)
{
	conn_t a, b;

	SKIP_IN_ORACLE();
	expect("GET", "/api/user-limits", NULL, 200,
	    "[{\"user\":\"guest\",\"value\":{\"max-connections\":2}}]");
	expect("GET", "/api/user-limits/guest", NULL, 200,
	    "[{\"user\":\"guest\",\"value\":{\"max-connections\":2}}]");
	expect_as("guest", "guest", "PUT", "/api/user-limits/guest/max-connections",
	    "{\"value\": 5}", 400, "(now 2, 0 for none)");
	a = client_connect();
	b = client_connect();
	ck_assert_int_eq(login_to("/"), 530);
	client_close(a);
	client_close(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("16-management-limits");
	TCase *tc;

	if (getenv("WARREN_TEST_BROKER") != NULL) {
		tc = harness_tcase(s, "limits", TEST_TIMEOUT);
		tcase_add_unchecked_fixture(tc, start, stop);
	} else {
		tc = tcase_create("limits");
		tcase_add_unchecked_fixture(tc, start, stop);
		tcase_set_timeout(tc, TEST_TIMEOUT);
		suite_add_tcase(s, tc);
	}
	tcase_add_test(tc, vhost_limits_set_listed_cleared);
	tcase_add_test(tc, vhost_limit_writes_checked);
	tcase_add_test(tc, vhost_limits_need_administrator);
	tcase_add_test(tc, vhost_limits_apply_at_once);
	tcase_add_test(tc, vhost_limits_are_file_lines);
	tcase_add_test(tc, user_limits_none);
	if (getenv("WARREN_TEST_BROKER") == NULL) {
		tc = tcase_create("user_max_connections");
		tcase_add_unchecked_fixture(tc, start_capped, stop);
		tcase_set_timeout(tc, TEST_TIMEOUT);
		suite_add_tcase(s, tc);
		tcase_add_test(tc, user_limits_show_user_max_connections);
	}
	return harness_run(s);
}
