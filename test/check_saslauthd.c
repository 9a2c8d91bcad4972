/*
 * check_saslauthd.c: the saslauthd backend (auth/saslauthd.c) against the fake saslauthd of the
 * interop tests, over a real unix socket: libsasl2 sends login, password, service and realm, and
 * the answer maps to AUTH_OK, AUTH_E_REFUSED or AUTH_E_UNAVAILABLE (down, garbage, hang-up) with
 * libsasl2's reason; names libsasl2 would alter and passwords it would cut are refused without
 * asking; and the pool sends to saslauthd only the names the database gives it, caching
 * successes. In a build without libsasl2 only the refusal to start is checked.
 */
#include "config.h"

#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "interop/fake_saslauthd.h"

#define SERVICE "warren-test"

#ifdef HAVE_SASL

static const struct fake_user users[] = {
	{ "dave", "ldap-pass", FAKE_CHECK },
	{ "garbled", "pw", FAKE_GARBAGE },
	{ "mute", "pw", FAKE_HANG_UP },
	{ "local", "directory-pw", FAKE_CHECK },
	{ "tagged", "tagged-pw", FAKE_CHECK },
	{ NULL, NULL, FAKE_CHECK },
};

static char dir[64];
static struct fake_saslauthd fake;

static const char *in_dir(const char *name)
{
	static char path[2][128];
	static int at;
	char *p = path[at++ % 2];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

/* Per test (fork mode): a directory, the fake in it, libsasl2 pointed at it. */
static void setup(void)
{
	char tmpl[] = "/tmp/warren-sasl-XXXXXX", err[256];

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s", tmpl);
	ck_assert_int_eq(fake_saslauthd_start(&fake, in_dir("mux"), in_dir("log"), users), 0);
	ck_assert_msg(auth_saslauthd_init(
	                  &(struct auth_saslauthd_config){ .path = fake.path, .service = SERVICE },
	                  err, sizeof(err)) == AUTH_OK,
	    "%s", err);
}

static void teardown(void)
{
	fake_saslauthd_stop(&fake);
	auth_saslauthd_done();
	unlink(fake.path);
	unlink(fake.log);
	rmdir(dir);
}

static int check(const char *user, const char *password, char *why, size_t whylen)
{
	struct auth_credentials c = { amqp_cstr(user), amqp_cstr(password) };

	return auth_saslauthd_check(&c, why, whylen);
}

START_TEST(test_right_password)
{
	char why[256];

	ck_assert_int_eq(check("dave", "ldap-pass", why, sizeof(why)), AUTH_OK);
	ck_assert_str_eq(why, "");
	/* login, the configured service, an empty realm */
	ck_assert_str_eq(fake_saslauthd_last(&fake), "dave\t" SERVICE "\t\tOK\n");
}
END_TEST

START_TEST(test_wrong_password_and_unknown_user)
{
	char why[256];

	ck_assert_int_eq(check("dave", "wrong", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(check("nobody", "ldap-pass", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(check("Dave", "ldap-pass", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, NULL), 3);
}
END_TEST

/* What libsasl2 would trim, cut or refuse is refused before saslauthd is asked. */
START_TEST(test_refused_without_asking)
{
	struct auth_credentials nul_pw = { amqp_cstr("dave"),
		{ (const uint8_t *)"ldap\0pass", 9 } };
	struct auth_credentials nul_user = { { (const uint8_t *)"dave\0x", 6 },
		amqp_cstr("ldap-pass") };
	char why[256];

	ck_assert_int_eq(check("dave", "", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(check(" dave", "ldap-pass", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(check("dave ", "ldap-pass", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(check("dave\t", "ldap-pass", why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(auth_saslauthd_check(&nul_pw, why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(auth_saslauthd_check(&nul_user, why, sizeof(why)), AUTH_E_REFUSED);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, NULL), 0);
}
END_TEST

/* libsasl2 splits NAME@REALM: saslauthd sees both parts; the broker keeps the whole name. */
START_TEST(test_realm_split)
{
	char why[256];

	ck_assert_int_eq(check("dave@example.org", "ldap-pass", why, sizeof(why)), AUTH_OK);
	ck_assert_str_eq(fake_saslauthd_last(&fake), "dave\t" SERVICE "\texample.org\tOK\n");
}
END_TEST

START_TEST(test_down_is_unavailable)
{
	char why[256];

	fake_saslauthd_stop(&fake);
	ck_assert_int_eq(check("dave", "ldap-pass", why, sizeof(why)), AUTH_E_UNAVAILABLE);
	ck_assert_msg(strstr(why, "saslauthd") != NULL, "reason: %s", why);
	unlink(fake.path);
	ck_assert_int_eq(check("dave", "ldap-pass", why, sizeof(why)), AUTH_E_UNAVAILABLE);
	ck_assert_msg(strstr(why, "saslauthd") != NULL, "reason: %s", why);
}
END_TEST

START_TEST(test_garbage_and_hang_up_are_unavailable)
{
	char why[256];

	ck_assert_int_eq(check("garbled", "pw", why, sizeof(why)), AUTH_E_UNAVAILABLE);
	ck_assert_msg(why[0] != '\0', "no reason");
	ck_assert_int_eq(check("mute", "pw", why, sizeof(why)), AUTH_E_UNAVAILABLE);
	ck_assert_msg(why[0] != '\0', "no reason");
	/* and the next check works */
	ck_assert_int_eq(check("dave", "ldap-pass", why, sizeof(why)), AUTH_OK);
}
END_TEST

/* ---- through the pool, with a database for the saslauthd backend ---- */

struct result {
	int count;
	int results[16];
	char whys[16][256];
};

static void record(void *opaque, int result, const char *why, void *arg)
{
	struct result *r = arg;

	ck_assert_int_lt(r->count, 16);
	snprintf(r->whys[r->count], sizeof(r->whys[0]), "%s", why);
	r->results[r->count++] = result;
}

/* Submit one check and wait (10 s at most) for its result. */
static int pool_check(struct auth_pool *p, const char *user, const char *password, char *why)
{
	struct auth_credentials c = { amqp_cstr(user), amqp_cstr(password) };
	struct pollfd pfd = { .fd = auth_pool_fd(p), .events = POLLIN };
	struct result r = { 0 };
	time_t deadline = time(NULL) + 10;

	ck_assert_int_eq(auth_pool_submit(p, &c, NULL, NULL), AUTH_OK);
	while (r.count == 0) {
		ck_assert_msg(time(NULL) < deadline, "no answer from the pool");
		if (poll(&pfd, 1, 200) > 0)
			auth_pool_complete(p, record, &r);
	}
	if (why != NULL)
		snprintf(why, 256, "%s", r.whys[0]);
	return r.results[0];
}

/* local has a scrypt hash, locked is locked, tagged is saslauthd's with a tag, dave is unlisted. */
static struct auth_db *sasl_db(void)
{
	char text[1024], hash[AUTH_HASH_MAX], err[512];
	struct auth_db *db = auth_db_new();
	static const char vhost[] = "vhost /\npermissions dave .* .* .*\n"
	                            "permissions tagged .* .* .*\npermissions local .* .* .*\n";

	auth_db_set_backend(db, AUTH_BACKEND_SASLAUTHD);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("local-pw"), 4, 1, 1, hash, sizeof(hash)), AUTH_OK);
	snprintf(text, sizeof(text), "local:%s\nlocked:!\ntagged:saslauthd:impersonator\n", hash);
	ck_assert_msg(auth_db_parse_users(db, "users", (const uint8_t *)text, strlen(text), err,
	                  sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_msg(auth_db_parse_vhost(db, "v.vhost", (const uint8_t *)vhost, strlen(vhost), err,
	                  sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_int_eq(auth_db_finish(db, err, sizeof(err)), AUTH_OK);
	return db;
}

START_TEST(test_db_routes_names)
{
	struct auth_db *db = sasl_db();

	ck_assert(auth_db_uses_saslauthd(db, amqp_cstr("dave")));
	ck_assert(auth_db_uses_saslauthd(db, amqp_cstr("tagged")));
	ck_assert(!auth_db_uses_saslauthd(db, amqp_cstr("local")));
	ck_assert(!auth_db_uses_saslauthd(db, amqp_cstr("locked")));
	ck_assert(auth_user_has_tag(db, amqp_cstr("tagged"), "impersonator"));
	ck_assert(auth_vhost_access(db, amqp_cstr("dave"), amqp_cstr("/")));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_sends_only_saslauthd_names)
{
	struct auth_db *db = sasl_db();
	struct auth_pool *p;
	struct auth_pool_stats st;

	ck_assert_int_eq(auth_pool_new(NULL, db, &p), AUTH_OK);
	ck_assert_int_eq(pool_check(p, "dave", "ldap-pass", NULL), AUTH_OK);
	ck_assert_int_eq(pool_check(p, "tagged", "tagged-pw", NULL), AUTH_OK);
	ck_assert_int_eq(pool_check(p, "dave", "wrong", NULL), AUTH_E_REFUSED);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, NULL), 3);
	/* a users-file hash wins, even where saslauthd knows another password for the name */
	ck_assert_int_eq(pool_check(p, "local", "local-pw", NULL), AUTH_OK);
	ck_assert_int_eq(pool_check(p, "local", "directory-pw", NULL), AUTH_E_REFUSED);
	ck_assert_int_eq(pool_check(p, "locked", "anything", NULL), AUTH_E_REFUSED);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, NULL), 3);
	/* a success is cached: the second login does not reach saslauthd, even when it is down */
	fake_saslauthd_stop(&fake);
	ck_assert_int_eq(pool_check(p, "dave", "ldap-pass", NULL), AUTH_OK);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.cache_hits, 1);
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_reports_unavailable)
{
	struct auth_db *db = sasl_db();
	struct auth_pool *p;
	char why[256];

	ck_assert_int_eq(auth_pool_new(NULL, db, &p), AUTH_OK);
	fake_saslauthd_stop(&fake);
	ck_assert_int_eq(pool_check(p, "dave", "ldap-pass", why), AUTH_E_UNAVAILABLE);
	ck_assert_msg(strstr(why, "saslauthd") != NULL, "reason: %s", why);
	/* local users still log in */
	ck_assert_int_eq(pool_check(p, "local", "local-pw", why), AUTH_OK);
	ck_assert_str_eq(why, "");
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_cache_off_asks_every_time)
{
	struct auth_db *db = sasl_db();
	struct auth_pool *p;

	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .no_cache = true }, db, &p), AUTH_OK);
	ck_assert_int_eq(pool_check(p, "dave", "ldap-pass", NULL), AUTH_OK);
	ck_assert_int_eq(pool_check(p, "dave", "ldap-pass", NULL), AUTH_OK);
	ck_assert_int_eq(fake_saslauthd_requests(&fake, "dave"), 2);
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_init_refuses_long_path)
{
	char path[200], err[256];

	auth_saslauthd_done();
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(
	    auth_saslauthd_init(&(struct auth_saslauthd_config){ .path = path }, err, sizeof(err)),
	    AUTH_E_CONFIG);
	ck_assert_msg(strstr(err, "saslauthd_path") != NULL, "%s", err);
}
END_TEST

static void add_tests(Suite *s)
{
	TCase *tc = tcase_create("saslauthd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_right_password);
	tcase_add_test(tc, test_wrong_password_and_unknown_user);
	tcase_add_test(tc, test_refused_without_asking);
	tcase_add_test(tc, test_realm_split);
	tcase_add_test(tc, test_down_is_unavailable);
	tcase_add_test(tc, test_garbage_and_hang_up_are_unavailable);
	tcase_add_test(tc, test_db_routes_names);
	tcase_add_test(tc, test_pool_sends_only_saslauthd_names);
	tcase_add_test(tc, test_pool_reports_unavailable);
	tcase_add_test(tc, test_cache_off_asks_every_time);
	tcase_add_test(tc, test_init_refuses_long_path);
	suite_add_tcase(s, tc);
}

#else /* no libsasl2 */

START_TEST(test_not_built)
{
	struct auth_credentials c = { amqp_cstr("dave"), amqp_cstr("ldap-pass") };
	char err[256];

	ck_assert(!auth_saslauthd_built());
	ck_assert_int_ne(
	    auth_saslauthd_init(&(struct auth_saslauthd_config){ 0 }, err, sizeof(err)), AUTH_OK);
	ck_assert_msg(strstr(err, "libsasl2") != NULL, "%s", err);
	ck_assert_int_eq(auth_saslauthd_check(&c, err, sizeof(err)), AUTH_E_UNAVAILABLE);
}
END_TEST

static void add_tests(Suite *s)
{
	TCase *tc = tcase_create("no libsasl2");

	tcase_add_test(tc, test_not_built);
	suite_add_tcase(s, tc);
}

#endif

int main(void)
{
	Suite *s = suite_create("saslauthd");
	SRunner *sr;
	int failed;

	add_tests(s);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
