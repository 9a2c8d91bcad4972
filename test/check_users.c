/*
 * check_users.c: password hashes (auth/password.c) and the users file (auth/users.c), with the
 * password check over a database (auth/db.c). Stored strings and files sit in heap buffers of
 * exactly their size (a stored string with its NUL, a file without one), so AddressSanitizer
 * catches a read past the end. The fixed hashes were made with Python's hashlib.scrypt, which
 * cross-checks Warren's encoding; most use ln=4,r=1 so the suite stays fast.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "test/check_util.h"

/* hashlib.scrypt(password, salt, n=16, r=1, p=1, dklen=32) */
#define H_ALICE \
	"$scrypt$ln=4,r=1,p=1$SYlQorTOCMexuyzxaJjJdw$ecHumLBeSAsN8IcFS383hkgzJfIBCVj8cVk2eSq0YjU"
#define H_BOB \
	"$scrypt$ln=4,r=1,p=1$5DMHtl3mX0CFuYNEcPeF6g$9NcuEnasS1oMVzAkfoZl2F0Nf2XfJDXRxvGJ8ULzu/4"
#define H_EMPTY \
	"$scrypt$ln=4,r=1,p=1$AjXJHuNDjpSmCvCQmfGFmg$10HB0rk/eUVpBHeJiOE19VxYqsI5B/p5oUudYTr6sO4"
/* RFC 7914's third test vector: "pleaseletmein", salt "SodiumChloride", N=16384, r=8, p=1. */
#define H_RFC                                                              \
	"$scrypt$ln=14,r=8,p=1$U29kaXVtQ2hsb3JpZGU$cCO9yzr9c0hGHAbNgf046/" \
	"2o+7qQT44+qbVD9lRdofLVQylVYT8"                                    \
	"Pz2LUlwUkKpr55h6F3A1lHkDfzwF7RVdYhw"

/* A C string in a heap buffer of exactly strlen + 1 bytes. */
static char *cstr_exact(const char *s)
{
	return (char *)heap_copy(s, strlen(s) + 1);
}

static int verify(const char *stored, const char *password)
{
	char *exact = cstr_exact(stored);
	int r = auth_verify_password(exact, amqp_cstr(password));

	free(exact);
	return r;
}

/* ---- hashes ---- */

START_TEST(test_hash_round_trip_default_cost)
{
	char out[AUTH_HASH_MAX];
	struct auth_scrypt_params sp;

	ck_assert_int_eq(auth_hash_password(amqp_cstr("correct horse"), out, sizeof(out)), AUTH_OK);
	ck_assert_msg(strncmp(out, "$scrypt$ln=14,r=8,p=1$", 22) == 0, "%s", out);
	ck_assert_int_eq(auth_hash_parse(out, &sp), AUTH_OK);
	ck_assert_uint_eq(sp.salt_len, AUTH_SALT_LEN);
	ck_assert_uint_eq(sp.hash_len, AUTH_HASH_LEN);
	ck_assert_int_eq(verify(out, "correct horse"), AUTH_OK);
	ck_assert_int_eq(verify(out, "correct horsE"), AUTH_E_REFUSED);
}
END_TEST

START_TEST(test_hash_rfc7914_vector)
{
	ck_assert_int_eq(verify(H_RFC, "pleaseletmein"), AUTH_OK);
	ck_assert_int_eq(verify(H_RFC, "pleaseletmeout"), AUTH_E_REFUSED);
}
END_TEST

START_TEST(test_hash_python_vectors)
{
	ck_assert_int_eq(verify(H_ALICE, "alice-pw"), AUTH_OK);
	ck_assert_int_eq(verify(H_BOB, "bob-pw"), AUTH_OK);
	ck_assert_int_eq(verify(H_ALICE, "bob-pw"), AUTH_E_REFUSED);
	ck_assert_int_eq(verify(H_ALICE, ""), AUTH_E_REFUSED);
	ck_assert_int_eq(verify(H_ALICE, "alice-pw "), AUTH_E_REFUSED);
	ck_assert_int_eq(verify(H_EMPTY, ""), AUTH_OK);
	ck_assert_int_eq(verify(H_EMPTY, " "), AUTH_E_REFUSED);
}
END_TEST

START_TEST(test_hash_parameters_parsed)
{
	struct auth_scrypt_params sp;
	char *s = cstr_exact("$scrypt$ln=20,r=2,p=16$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA");

	ck_assert_int_eq(auth_hash_parse(s, &sp), AUTH_OK);
	ck_assert_uint_eq(sp.ln, 20);
	ck_assert_uint_eq(sp.r, 2);
	ck_assert_uint_eq(sp.p, 16);
	ck_assert_uint_eq(sp.salt_len, 8);
	ck_assert_uint_eq(sp.hash_len, 16);
	free(s);
	ck_assert_int_eq(auth_hash_parse(H_RFC, &sp), AUTH_OK);
	ck_assert_uint_eq(sp.ln, 14);
	ck_assert_uint_eq(sp.r, 8);
	ck_assert_uint_eq(sp.p, 1);
	ck_assert_uint_eq(sp.salt_len, 14);
	ck_assert_int_eq(memcmp(sp.salt, "SodiumChloride", 14), 0);
	ck_assert_uint_eq(sp.hash_len, 64);
	ck_assert_uint_eq(sp.hash[0], 0x70);
	ck_assert_uint_eq(sp.hash[63], 0x87);
}
END_TEST

START_TEST(test_hash_salted_and_params_recorded)
{
	char a[AUTH_HASH_MAX], b[AUTH_HASH_MAX];
	struct auth_scrypt_params sp;

	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("pw"), 5, 2, 3, a, sizeof(a)), AUTH_OK);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("pw"), 5, 2, 3, b, sizeof(b)), AUTH_OK);
	ck_assert_str_ne(a, b); /* a fresh salt each time */
	ck_assert_int_eq(auth_hash_parse(a, &sp), AUTH_OK);
	ck_assert_uint_eq(sp.ln, 5);
	ck_assert_uint_eq(sp.r, 2);
	ck_assert_uint_eq(sp.p, 3);
	ck_assert_int_eq(verify(a, "pw"), AUTH_OK);
	ck_assert_int_eq(verify(b, "pw"), AUTH_OK);
	ck_assert_int_eq(verify(b, "pW"), AUTH_E_REFUSED);
}
END_TEST

START_TEST(test_hash_bad_params_and_space)
{
	char out[AUTH_HASH_MAX], small[40];

	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 0, 8, 1, out, sizeof(out)), AUTH_E_INVALID);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 21, 1, 1, out, sizeof(out)), AUTH_E_INVALID);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 4, 0, 1, out, sizeof(out)), AUTH_E_INVALID);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 4, 65, 1, out, sizeof(out)), AUTH_E_INVALID);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 4, 1, 17, out, sizeof(out)), AUTH_E_INVALID);
	/* 128 * 16 * 2^20 = 2 GiB: over the memory bound */
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 20, 16, 1, out, sizeof(out)), AUTH_E_INVALID);
	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("x"), 4, 1, 1, small, sizeof(small)), AUTH_E_SPACE);
	ck_assert_str_eq(small, "");
}
END_TEST

START_TEST(test_hash_binary_password)
{
	static const uint8_t pw[] = { 'a', 0, 0xff, '\n', ':', 'z' };
	char out[AUTH_HASH_MAX];

	ck_assert_int_eq(auth_hash_password_params(
	                     (struct amqp_bytes){ pw, sizeof(pw) }, 4, 1, 1, out, sizeof(out)),
	    AUTH_OK);
	ck_assert_int_eq(auth_verify_password(out, (struct amqp_bytes){ pw, sizeof(pw) }), AUTH_OK);
	ck_assert_int_eq(auth_verify_password(out, (struct amqp_bytes){ pw, 1 }), AUTH_E_REFUSED);
}
END_TEST

START_TEST(test_hash_format_round_trip)
{
	struct auth_scrypt_params sp, back;
	char out[AUTH_HASH_MAX];

	ck_assert_int_eq(auth_hash_parse(H_RFC, &sp), AUTH_OK);
	ck_assert_int_eq(auth_hash_format(&sp, out, sizeof(out)), AUTH_OK);
	ck_assert_str_eq(out, H_RFC);
	ck_assert_int_eq(auth_hash_parse(out, &back), AUTH_OK);
	ck_assert_int_eq(memcmp(&sp, &back, sizeof(sp)), 0);
	ck_assert_int_eq(auth_hash_format(&sp, out, 20), AUTH_E_SPACE);
	sp.salt_len = 4;
	ck_assert_int_eq(auth_hash_format(&sp, out, sizeof(out)), AUTH_E_INVALID);
}
END_TEST

/* Strings that must be refused by the parser and by verification, never crash. */
static const char *const malformed[] = {
	"",
	"$",
	"$scrypt$",
	"$scrypt$ln=4,r=1,p=1$",
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA",
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$",
	"$scrypt$ln=4,r=1,p=1$$AAAAAAAAAAAAAAAAAAAAAA",
	"$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$SCRYPT$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=04,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4a,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=99999999999999999999,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=-4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$r=1,ln=4,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4,r=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4,r=1,p=1,x=2$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4;r=1;p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4, r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=0,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=21,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4,r=65,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4,r=1,p=17$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=20,r=16,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",    /* salt 7 bytes */
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAA",    /* hash 15 bytes */
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", /* 13 chars: 1 mod 4 */
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAB$AAAAAAAAAAAAAAAAAAAAAA",   /* stray low bits */
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA",  /* padding */
	"$scrypt$ln=4,r=1,p=1$AAAAAA-AAAA$AAAAAAAAAAAAAAAAAAAAAA",   /* base64url */
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$",
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA$AA",
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA\n",
	"$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA ",
	" $scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
	("$scrypt$ln=4,r=1,p=1$AAAAAAAAAAA$"
	 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	 "A"),
};

START_TEST(test_hash_malformed)
{
	const char *m = malformed[_i];
	struct auth_scrypt_params sp;
	char *exact = cstr_exact(m);

	ck_assert_msg(auth_hash_parse(exact, &sp) == AUTH_E_INVALID, "parsed: [%s]", m);
	ck_assert_msg(auth_verify_password(exact, amqp_cstr("x")) == AUTH_E_INVALID, "[%s]", m);
	free(exact);
}
END_TEST

/* ---- the users file ---- */

static struct auth_db *users_db(const char *text, char *err, size_t errlen, int *ret)
{
	struct auth_db *db = auth_db_new();
	size_t len = strlen(text);
	uint8_t *exact = heap_copy(text, len);

	err[0] = '\0';
	*ret = auth_db_parse_users(db, "users", exact, len, err, errlen);
	if (*ret == AUTH_OK)
		*ret = auth_db_finish(db, err, errlen);
	free(exact);
	if (*ret != AUTH_OK) {
		auth_db_unref(db);
		return NULL;
	}
	return db;
}

START_TEST(test_users_good_file)
{
	static const char text[] = "# Warren users\n"
	                           "\n"
	                           "alice:" H_ALICE ":administrator,monitoring\n"
	                           "   \t\n"
	                           "bob:" H_BOB "\n"
	                           "carol the admin:!:management\n"
	                           "d\xc3\xa9j\xc3\xa0 vu:" H_EMPTY "\n"
	                           "a#b:" H_BOB ":impersonator\n"
	                           "#alice:" H_BOB "\n"
	                           "eve:" H_BOB ":x_1-Y";
	char err[512];
	struct auth_db *db;
	int r;

	db = users_db(text, err, sizeof(err), &r);
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_uint_eq(auth_db_user_count(db), 6);
	ck_assert(auth_user_exists(db, amqp_cstr("alice")));
	ck_assert(auth_user_exists(db, amqp_cstr("carol the admin")));
	ck_assert(auth_user_exists(db, amqp_cstr("d\xc3\xa9j\xc3\xa0 vu")));
	ck_assert(auth_user_exists(db, amqp_cstr("a#b")));
	ck_assert(auth_user_exists(db, amqp_cstr("eve")));
	ck_assert(!auth_user_exists(db, amqp_cstr("#alice")));
	ck_assert(!auth_user_exists(db, amqp_cstr("Alice")));
	ck_assert(!auth_user_exists(db, amqp_cstr("alic")));
	/* A locked user exists (permissions, tags) but may not log in, not even by certificate. */
	ck_assert(auth_user_may_log_in(db, amqp_cstr("alice")));
	ck_assert(!auth_user_may_log_in(db, amqp_cstr("carol the admin")));
	ck_assert(!auth_user_may_log_in(db, amqp_cstr("nobody")));
	ck_assert(auth_user_has_tag(db, amqp_cstr("alice"), "administrator"));
	ck_assert(auth_user_has_tag(db, amqp_cstr("alice"), "monitoring"));
	ck_assert(!auth_user_has_tag(db, amqp_cstr("alice"), "monitor"));
	ck_assert(!auth_user_has_tag(db, amqp_cstr("alice"), "administrator,monitoring"));
	ck_assert(!auth_user_has_tag(db, amqp_cstr("bob"), "administrator"));
	ck_assert(auth_user_has_tag(db, amqp_cstr("a#b"), "impersonator"));
	ck_assert(auth_user_has_tag(db, amqp_cstr("eve"), "x_1-Y"));
	ck_assert(!auth_user_has_tag(db, amqp_cstr("nobody"), "administrator"));
	ck_assert_uint_eq(auth_db_vhost_count(db), 0);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_users_empty_file)
{
	char err[256];
	struct auth_db *db;
	int r;

	db = users_db("", err, sizeof(err), &r);
	ck_assert_ptr_nonnull(db);
	ck_assert_uint_eq(auth_db_user_count(db), 0);
	auth_db_unref(db);
	db = users_db("# nobody\n\n", err, sizeof(err), &r);
	ck_assert_ptr_nonnull(db);
	ck_assert_uint_eq(auth_db_user_count(db), 0);
	auth_db_unref(db);
}
END_TEST

struct bad_file {
	const char *text;
	size_t len; /* 0: strlen */
	const char *err;
};

static char long_name[300 + sizeof(":" H_BOB "\n")];
static char long_line[70000];
static char long_tag[100 + sizeof("x:" H_BOB ":\n")];

static const struct bad_file bad_users[] = {
	{ "alice\n", 0, "users:1: expected name:hash[:tags]" },
	{ "bob:" H_BOB "\n:" H_BOB "\n", 0, "users:2: empty user name" },
	{ long_name, 0, "users:1: user name longer than 255 bytes" },
	{ "bob:" H_BOB "\n\nal\tice:" H_BOB "\n", 0,
	    "users:3: control character in user name 'al\\x09ice'" },
	{ "alice:" H_ALICE "\r\n", 0,
	    "users:1: user 'alice': malformed password hash (expected "
	    "$scrypt$ln=N,r=N,p=N$salt$hash "
	    "from warrenctl hash-password, $rabbitmq-sha256$... from RabbitMQ, or ! to lock the "
	    "user)" },
	{ "alice:md5$abc\n", 0,
	    "users:1: user 'alice': malformed password hash (expected "
	    "$scrypt$ln=N,r=N,p=N$salt$hash "
	    "from warrenctl hash-password, $rabbitmq-sha256$... from RabbitMQ, or ! to lock the "
	    "user)" },
	{ "alice:\n", 0,
	    "users:1: user 'alice': malformed password hash (expected "
	    "$scrypt$ln=N,r=N,p=N$salt$hash "
	    "from warrenctl hash-password, $rabbitmq-sha256$... from RabbitMQ, or ! to lock the "
	    "user)" },
	{ "alice:!!\n", 0,
	    "users:1: user 'alice': malformed password hash (expected "
	    "$scrypt$ln=N,r=N,p=N$salt$hash "
	    "from warrenctl hash-password, $rabbitmq-sha256$... from RabbitMQ, or ! to lock the "
	    "user)" },
	{ "bob:" H_BOB "\nalice:saslauthd:monitoring\n", 0,
	    "users:2: user 'alice': the password is checked by saslauthd, but password_backend is "
	    "not saslauthd" },
	{ "alice:" H_ALICE ":admin,,x\n", 0, "users:1: empty tag" },
	{ "alice:" H_ALICE ":\n", 0, "users:1: empty tag" },
	{ "alice:" H_ALICE ":adm in\n", 0,
	    "users:1: bad character ' ' in tags (letters, digits, '_' and '-', separated by ',')" },
	{ "alice:" H_ALICE ":a:b\n", 0,
	    "users:1: bad character ':' in tags (letters, digits, '_' and '-', separated by ',')" },
	{ long_tag, 0, "users:1: tag longer than 64 bytes" },
	{ "alice:" H_ALICE "\nbob:" H_BOB "\nalice:" H_BOB "\n", 0,
	    "users:3: user 'alice' already defined on line 1" },
	{ "bob:" H_BOB "\nal\0ice:" H_BOB "\n", sizeof("bob:" H_BOB "\nal\0ice:" H_BOB "\n") - 1,
	    "users:2: NUL byte in the line" },
	{ long_line, 0, "users:2: line longer than 65536 bytes" },
	{ "caf\xc3\xa9\x7f:" H_BOB "\n", 0,
	    "users:1: control character in user name 'caf\\xc3\\xa9\\x7f'" },
};

static void fill_long_inputs(void)
{
	size_t at;

	memset(long_name, 'n', 300);
	strcpy(long_name + 300, ":" H_BOB "\n");
	at = (size_t)snprintf(long_line, sizeof(long_line), "bob:" H_BOB "\n");
	memset(long_line + at, 'x', sizeof(long_line) - at - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	at = (size_t)snprintf(long_tag, sizeof(long_tag), "x:" H_BOB ":");
	memset(long_tag + at, 't', 65);
	long_tag[at + 65] = '\0';
}

START_TEST(test_users_errors)
{
	const struct bad_file *b = &bad_users[_i];
	size_t len = b->len != 0 ? b->len : strlen(b->text);
	uint8_t *exact = heap_copy(b->text, len);
	struct auth_db *db = auth_db_new();
	char err[1024] = "";

	ck_assert_int_eq(
	    auth_db_parse_users(db, "users", exact, len, err, sizeof(err)), AUTH_E_CONFIG);
	ck_assert_str_eq(err, b->err);
	free(exact);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_users_twice_and_order)
{
	struct auth_db *db = auth_db_new();
	char err[256] = "";
	static const char text[] = "bob:" H_BOB "\n";

	/* auth_db_finish needs users */
	ck_assert_int_eq(auth_db_finish(db, err, sizeof(err)), AUTH_E_CONFIG);
	ck_assert_str_eq(err, "auth: no users file loaded");
	ck_assert_int_eq(
	    auth_db_parse_users(db, "u", (const uint8_t *)text, strlen(text), err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(
	    auth_db_parse_users(db, "u2", (const uint8_t *)text, strlen(text), err, sizeof(err)),
	    AUTH_E_CONFIG);
	ck_assert_str_eq(err, "u2: users already loaded");
	auth_db_unref(db);
}
END_TEST

static int check(const struct auth_db *db, const char *user, const char *password)
{
	struct auth_credentials c = { amqp_cstr(user), amqp_cstr(password) };

	return auth_db_check_password(db, &c);
}

START_TEST(test_db_check_password)
{
	static const char text[] = "alice:" H_ALICE "\nbob:" H_BOB "\nlocked:!\nnopw:" H_EMPTY "\n";
	char err[256];
	struct auth_db *db;
	int r;

	db = users_db(text, err, sizeof(err), &r);
	ck_assert_msg(db != NULL, "%s", err);
	ck_assert_int_eq(check(db, "alice", "alice-pw"), AUTH_OK);
	ck_assert_int_eq(check(db, "bob", "bob-pw"), AUTH_OK);
	ck_assert_int_eq(check(db, "alice", "bob-pw"), AUTH_E_REFUSED);
	ck_assert_int_eq(check(db, "bob", "alice-pw"), AUTH_E_REFUSED);
	ck_assert_int_eq(check(db, "carol", "alice-pw"), AUTH_E_REFUSED);
	ck_assert_int_eq(check(db, "", ""), AUTH_E_REFUSED);
	ck_assert_int_eq(check(db, "locked", ""), AUTH_E_REFUSED);
	ck_assert_int_eq(check(db, "locked", "!"), AUTH_E_REFUSED);
	/* The hash matches "", but RabbitMQ refuses blank passwords. */
	ck_assert_int_eq(check(db, "nopw", ""), AUTH_E_REFUSED);
	auth_db_unref(db);
}
END_TEST

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* An unknown user costs a full check at the known users' cost (ln=12 here, ~15 ms). */
START_TEST(test_db_unknown_user_costs_the_same)
{
	char hash[AUTH_HASH_MAX], text[AUTH_HASH_MAX + 16], err[256];
	struct auth_db *db;
	double t0, known = 1e9, unknown = 1e9, d;
	int r, i;

	ck_assert_int_eq(
	    auth_hash_password_params(amqp_cstr("pw"), 12, 8, 1, hash, sizeof(hash)), AUTH_OK);
	snprintf(text, sizeof(text), "alice:%s\n", hash);
	db = users_db(text, err, sizeof(err), &r);
	ck_assert_msg(db != NULL, "%s", err);
	for (i = 0; i < 9; i++) { /* the best of nine: the machine may be busy */
		t0 = seconds();
		ck_assert_int_eq(check(db, "alice", "wrong"), AUTH_E_REFUSED);
		d = seconds() - t0;
		known = d < known ? d : known;
		t0 = seconds();
		ck_assert_int_eq(check(db, "mallory", "wrong"), AUTH_E_REFUSED);
		d = seconds() - t0;
		unknown = d < unknown ? d : unknown;
	}
	ck_assert_msg(unknown > known * 0.5 && unknown < known * 2.0,
	    "known %.4f s, unknown %.4f s", known, unknown);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_db_default)
{
	struct auth_db *db = auth_db_new_default();

	ck_assert_uint_eq(auth_db_user_count(db), 1);
	ck_assert_int_eq(check(db, "guest", "guest"), AUTH_OK);
	ck_assert_int_eq(check(db, "guest", "Guest"), AUTH_E_REFUSED);
	ck_assert(auth_user_has_tag(db, amqp_cstr("guest"), "administrator"));
	ck_assert(auth_vhost_access(db, amqp_cstr("guest"), amqp_cstr("/")));
	ck_assert(auth_permitted(db, amqp_cstr("guest"), amqp_cstr("/"), AUTH_CONFIGURE,
	    AUTH_RES_QUEUE, amqp_cstr("anything")));
	ck_assert(!auth_vhost_access(db, amqp_cstr("guest"), amqp_cstr("other")));
	ck_assert(auth_user_loopback_only(amqp_cstr("guest")));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_strerror_covers_codes)
{
	int e;

	for (e = AUTH_OK; e >= AUTH_E_SYSTEM; e--)
		ck_assert_str_ne(auth_strerror(e), "unknown error");
	ck_assert_str_eq(auth_strerror(-100), "unknown error");
}
END_TEST

static Suite *users_suite(void)
{
	Suite *s = suite_create("users");
	TCase *h = tcase_create("hash"), *u = tcase_create("users");

	tcase_set_timeout(h, 30);
	tcase_add_test(h, test_hash_round_trip_default_cost);
	tcase_add_test(h, test_hash_rfc7914_vector);
	tcase_add_test(h, test_hash_python_vectors);
	tcase_add_test(h, test_hash_parameters_parsed);
	tcase_add_test(h, test_hash_salted_and_params_recorded);
	tcase_add_test(h, test_hash_bad_params_and_space);
	tcase_add_test(h, test_hash_binary_password);
	tcase_add_test(h, test_hash_format_round_trip);
	tcase_add_loop_test(
	    h, test_hash_malformed, 0, (int)(sizeof(malformed) / sizeof(malformed[0])));
	tcase_add_test(h, test_strerror_covers_codes);
	suite_add_tcase(s, h);

	tcase_set_timeout(u, 30);
	tcase_add_test(u, test_users_good_file);
	tcase_add_test(u, test_users_empty_file);
	tcase_add_loop_test(
	    u, test_users_errors, 0, (int)(sizeof(bad_users) / sizeof(bad_users[0])));
	tcase_add_test(u, test_users_twice_and_order);
	tcase_add_test(u, test_db_check_password);
	tcase_add_test(u, test_db_unknown_user_costs_the_same);
	tcase_add_test(u, test_db_default);
	suite_add_tcase(s, u);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	fill_long_inputs();
	sr = srunner_create(users_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
