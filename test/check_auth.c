/*
 * check_auth.c: SASL response parsing (auth/sasl.c) for PLAIN and AMQPLAIN, and the password
 * check. Every response sits in a heap buffer of exactly its length.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "test/check_util.h"

struct sasl_case {
	const char *name;
	const char *mechanism;
	const char *response; /* may hold NULs: len says how long */
	size_t len;
	int err;
	const char *user, *password; /* expected on success */
};

#define R(s) s, sizeof(s) - 1

static const struct sasl_case cases[] = {
	{ "PLAIN guest", "PLAIN", R("\0guest\0guest"), 0, "guest", "guest" },
	{ "PLAIN authzid equal to the user", "PLAIN", R("guest\0guest\0guest"), 0, "guest",
	    "guest" },
	{ "PLAIN empty password", "PLAIN", R("\0bob\0"), 0, "bob", "" },
	{ "PLAIN password with spaces and UTF-8", "PLAIN", R("\0u\0p w \xc3\xa9"), 0, "u",
	    "p w \xc3\xa9" },
	{ "PLAIN authzid of another user", "PLAIN", R("admin\0guest\0guest"), AUTH_E_MALFORMED,
	    NULL, NULL },
	{ "PLAIN authzid a prefix of the user", "PLAIN", R("gues\0guest\0guest"), AUTH_E_MALFORMED,
	    NULL, NULL },
	{ "PLAIN no NUL", "PLAIN", R("guestguest"), AUTH_E_MALFORMED, NULL, NULL },
	{ "PLAIN one NUL", "PLAIN", R("\0guestguest"), AUTH_E_MALFORMED, NULL, NULL },
	{ "PLAIN NUL inside the password", "PLAIN", R("\0guest\0gu\0est"), AUTH_E_MALFORMED, NULL,
	    NULL },
	{ "PLAIN NUL ending the password", "PLAIN", R("\0guest\0guest\0"), AUTH_E_MALFORMED, NULL,
	    NULL },
	{ "PLAIN empty user", "PLAIN", R("\0\0guest"), AUTH_E_MALFORMED, NULL, NULL },
	{ "PLAIN empty response", "PLAIN", R(""), AUTH_E_MALFORMED, NULL, NULL },
	{ "PLAIN only NULs", "PLAIN", R("\0\0"), AUTH_E_MALFORMED, NULL, NULL },
	{ "AMQPLAIN LOGIN and PASSWORD", "AMQPLAIN",
	    R("\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"), 0, "guest",
	    "guest" },
	{ "AMQPLAIN PASSWORD first, other keys too", "AMQPLAIN",
	    R("\x08PASSWORDS\x00\x00\x00\x02pw\x01xI\x00\x00\x00\x01\x05LOGINS\x00\x00\x00\x01u"),
	    0, "u", "pw" },
	{ "AMQPLAIN without PASSWORD", "AMQPLAIN", R("\x05LOGINS\x00\x00\x00\x05guest"),
	    AUTH_E_MALFORMED, NULL, NULL },
	{ "AMQPLAIN without LOGIN", "AMQPLAIN", R("\x08PASSWORDS\x00\x00\x00\x05guest"),
	    AUTH_E_MALFORMED, NULL, NULL },
	{ "AMQPLAIN LOGIN not a longstr", "AMQPLAIN",
	    R("\x05LOGINx\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"),
	    AUTH_E_MALFORMED, NULL, NULL },
	{ "AMQPLAIN empty LOGIN", "AMQPLAIN",
	    R("\x05LOGINS\x00\x00\x00\x00\x08PASSWORDS\x00\x00\x00\x05guest"), AUTH_E_MALFORMED,
	    NULL, NULL },
	{ "AMQPLAIN NUL in LOGIN", "AMQPLAIN",
	    R("\x05LOGINS\x00\x00\x00\x03g\x00t\x08PASSWORDS\x00\x00\x00\x01p"), AUTH_E_MALFORMED,
	    NULL, NULL },
	{ "AMQPLAIN truncated table", "AMQPLAIN", R("\x05LOGINS\x00\x00\x00\x05gu"),
	    AUTH_E_MALFORMED, NULL, NULL },
	{ "AMQPLAIN lowercase keys", "AMQPLAIN",
	    R("\x05loginS\x00\x00\x00\x05guest\x08passwordS\x00\x00\x00\x05guest"),
	    AUTH_E_MALFORMED, NULL, NULL },
	{ "AMQPLAIN with a length prefix", "AMQPLAIN",
	    R("\x00\x00\x00\x22\x05LOGINS\x00\x00\x00\x05guest\x08PASSWORDS\x00\x00\x00\x05guest"),
	    AUTH_E_MALFORMED, NULL, NULL },
	{ "EXTERNAL", "EXTERNAL", R("guest"), AUTH_E_MECHANISM, NULL, NULL },
	{ "lowercase plain", "plain", R("\0guest\0guest"), AUTH_E_MECHANISM, NULL, NULL },
	{ "PLAIN with a space", "PLAIN ", R("\0guest\0guest"), AUTH_E_MECHANISM, NULL, NULL },
	{ "empty mechanism", "", R("\0guest\0guest"), AUTH_E_MECHANISM, NULL, NULL },
};

START_TEST(test_sasl_parse)
{
	const struct sasl_case *c = &cases[_i];
	uint8_t *exact = heap_copy(c->response, c->len);
	struct auth_credentials cred;
	int r;

	r = auth_parse_response(
	    amqp_cstr(c->mechanism), (struct amqp_bytes){ exact, c->len }, &cred);
	ck_assert_msg(
	    r == c->err, "%s: got %d (%s), want %d", c->name, r, auth_strerror(r), c->err);
	if (r == 0) {
		ck_assert_msg(amqp_bytes_eq_cstr(cred.user, c->user), "%s: user", c->name);
		ck_assert_msg(
		    amqp_bytes_eq_cstr(cred.password, c->password), "%s: password", c->name);
		/* The slices point into the response, not into freed memory. */
		ck_assert(
		    cred.user.ptr >= exact && cred.user.ptr + cred.user.len <= exact + c->len);
	}
	ck_assert_str_ne(auth_strerror(r), "unknown error");
	free(exact);
}
END_TEST

START_TEST(test_mechanisms_offered)
{
	ck_assert(auth_mechanism_offered(amqp_cstr("PLAIN")));
	ck_assert(auth_mechanism_offered(amqp_cstr("AMQPLAIN")));
	ck_assert(!auth_mechanism_offered(amqp_cstr("EXTERNAL")));
	ck_assert(!auth_mechanism_offered(amqp_cstr("PLAINX")));
	ck_assert(!auth_mechanism_offered(amqp_cstr("")));
	ck_assert_str_eq(AUTH_MECHANISMS, "PLAIN AMQPLAIN");
}
END_TEST

START_TEST(test_check_password)
{
	struct auth_credentials c;

	c = (struct auth_credentials){ amqp_cstr("guest"), amqp_cstr("guest") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_OK);
	c = (struct auth_credentials){ amqp_cstr("guest"), amqp_cstr("guesT") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ amqp_cstr("guest"), amqp_cstr("guest2") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ amqp_cstr("guest"), amqp_cstr("gues") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ amqp_cstr("guest"), amqp_cstr("") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ amqp_cstr("nobody"), amqp_cstr("guest") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ amqp_cstr("admin"), amqp_cstr("admin") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ amqp_cstr(""), amqp_cstr("") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	c = (struct auth_credentials){ AMQP_BYTES("guest\0"), amqp_cstr("guest") };
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	ck_assert(auth_user_loopback_only(amqp_cstr("guest")));
	ck_assert(!auth_user_loopback_only(amqp_cstr("bob")));
}
END_TEST

/* Parsing then checking, end to end, as the connection handler does. */
START_TEST(test_parse_then_check)
{
	struct auth_credentials c;
	uint8_t *ok = heap_copy("\0guest\0guest", 12), *bad = heap_copy("\0guest\0wrong", 12);

	ck_assert_int_eq(
	    auth_parse_response(amqp_cstr("PLAIN"), (struct amqp_bytes){ ok, 12 }, &c), 0);
	ck_assert_int_eq(auth_check_password(&c), AUTH_OK);
	ck_assert_int_eq(
	    auth_parse_response(amqp_cstr("PLAIN"), (struct amqp_bytes){ bad, 12 }, &c), 0);
	ck_assert_int_eq(auth_check_password(&c), AUTH_E_REFUSED);
	free(ok);
	free(bad);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("sasl");

	tcase_add_loop_test(tc, test_sasl_parse, 0, (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_mechanisms_offered);
	tcase_add_test(tc, test_check_password);
	tcase_add_test(tc, test_parse_then_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
