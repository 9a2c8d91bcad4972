/*
 * check_auth_edit.c: auth/edit.c (the users and vhost files changed by a program: lines replaced
 * in place or appended, comments and unrelated lines kept, the result checked as a reload parses
 * it, written atomically) and auth/rabbit_hash.c (RabbitMQ's salted SHA-256/512 hashes, and a
 * definitions file's hashes in and out). Each test works in a fresh temporary directory.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "test/check_util.h"

/* hashlib.scrypt(b"alice-pw", salt, n=16, r=1, p=1, dklen=32), as check_users.c */
#define H_ALICE \
	"$scrypt$ln=4,r=1,p=1$SYlQorTOCMexuyzxaJjJdw$ecHumLBeSAsN8IcFS383hkgzJfIBCVj8cVk2eSq0YjU"
/* RabbitMQ 3.10.8's hash of "s3cret" (rabbitmqctl add_user alice s3cret; export_definitions). */
#define RMQ_S3CRET "1ZRz01Fz2lGj+fBTJYkVuk8dt1ffM2xKhXuqbRwsHrPD7xo8"

static char dir[128], users[160], vdir[160];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* The file's contents (a static buffer). */
static const char *slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static const char *vpath(const char *name)
{
	static char p[256];

	snprintf(p, sizeof(p), "%s/%s", vdir, name);
	return p;
}

#define USERS_HEAD "# the users\n\nalice:" H_ALICE ":management\n# bob below\n"
static const char users_text[] = USERS_HEAD "bob:!"; /* no newline at the end */
#define VHOST_HEAD "# the default vhost\nvhost /\n"
static const char vhost_text[] = VHOST_HEAD "permissions alice .* .* .*\n\n# trailing comment\n";

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_auth_edit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(users, sizeof(users), "%s/users", dir);
	snprintf(vdir, sizeof(vdir), "%s/vhosts", dir);
	ck_assert_int_eq(mkdir(vdir, 0755), 0);
	write_file(users, users_text);
	chmod(users, 0640);
	write_file(vpath("default.vhost"), vhost_text);
}

static void teardown(void)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct auth_edit *begin(void)
{
	struct auth_edit *e;
	char err[512];

	ck_assert_msg(
	    auth_edit_begin(users, vdir, AUTH_BACKEND_INTERNAL, &e, err, sizeof(err)) == AUTH_OK,
	    "%s", err);
	return e;
}

static void commit(struct auth_edit *e)
{
	char err[512];

	ck_assert_msg(auth_edit_check(e, NULL, err, sizeof(err)) == AUTH_OK, "%s", err);
	ck_assert_msg(auth_edit_commit(e, err, sizeof(err)) == AUTH_OK, "%s", err);
	auth_edit_free(e);
}

/* The files load as a reload would load them. */
static struct auth_db *load(void)
{
	struct auth_db *db;
	char err[512];

	ck_assert_msg(auth_db_load(users, vdir, &db, err, sizeof(err)) == AUTH_OK, "%s", err);
	return db;
}

/* No temporary file (a hidden one) is left in d. */
static void no_leftovers(const char *d)
{
	DIR *dp = opendir(d);
	struct dirent *de;

	ck_assert_ptr_nonnull(dp);
	while ((de = readdir(dp)) != NULL)
		ck_assert_msg(de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		        strcmp(de->d_name, "..") == 0,
		    "left over in %s: %s", d, de->d_name);
	closedir(dp);
}

START_TEST(test_user_added_appended_comments_kept)
{
	struct auth_edit *e = begin();
	struct auth_db *db;
	struct stat st;
	char err[256];
	bool created;

	ck_assert_int_eq(auth_edit_user_set(e, amqp_cstr("carol"), H_ALICE,
	                     "administrator,monitoring", &created, err, sizeof(err)),
	    AUTH_OK);
	ck_assert(created);
	commit(e);
	ck_assert_str_eq(
	    slurp(users), USERS_HEAD "bob:!\ncarol:" H_ALICE ":administrator,monitoring\n");
	ck_assert_int_eq(stat(users, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0640); /* the mode is kept */
	db = load();
	ck_assert(auth_user_has_tag(db, amqp_cstr("carol"), "monitoring"));
	ck_assert_int_eq(
	    auth_db_check_password(
	        db, &(struct auth_credentials){ amqp_cstr("carol"), amqp_cstr("alice-pw") }),
	    AUTH_OK);
	auth_db_unref(db);
	no_leftovers(dir);
}
END_TEST

START_TEST(test_user_changed_in_place)
{
	struct auth_edit *e = begin();
	char err[256];
	bool created;

	/* tags only: the hash is kept */
	ck_assert_int_eq(
	    auth_edit_user_set(e, amqp_cstr("alice"), NULL, "", &created, err, sizeof(err)),
	    AUTH_OK);
	ck_assert(!created);
	/* a password (a hash) only: the tags are kept */
	ck_assert_int_eq(
	    auth_edit_user_set(e, amqp_cstr("bob"), H_ALICE, NULL, &created, err, sizeof(err)),
	    AUTH_OK);
	commit(e);
	ck_assert_str_eq(
	    slurp(users), "# the users\n\nalice:" H_ALICE "\n# bob below\nbob:" H_ALICE);
}
END_TEST

START_TEST(test_user_removed_with_its_permissions)
{
	struct auth_edit *e = begin();
	struct auth_db *db;
	char err[256];

	ck_assert_int_eq(auth_edit_topic_set(e, amqp_cstr("/"), amqp_cstr("alice"),
	                     amqp_cstr("amq.topic"), "^a\\.", ".*", err, sizeof(err)),
	    AUTH_OK);
	commit(e);
	e = begin();
	ck_assert_int_eq(auth_edit_user_remove(e, amqp_cstr("alice"), err, sizeof(err)), AUTH_OK);
	ck_assert_int_eq(
	    auth_edit_user_remove(e, amqp_cstr("nobody"), err, sizeof(err)), AUTH_E_NOT_FOUND);
	commit(e);
	ck_assert_str_eq(slurp(users), "# the users\n\n# bob below\nbob:!");
	ck_assert_str_eq(slurp(vpath("default.vhost")), VHOST_HEAD "\n# trailing comment\n");
	db = load();
	ck_assert(!auth_user_exists(db, amqp_cstr("alice")));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_permissions_set_quoted_and_removed)
{
	struct auth_edit *e = begin();
	const char *re[3] = { "", "it's here", "^(a|b) c$" };
	const char *all[3] = { ".*", ".*", "" };
	struct auth_db *db;
	char err[256];

	ck_assert_int_eq(
	    auth_edit_permissions_set(e, amqp_cstr("/"), amqp_cstr("bob"), re, err, sizeof(err)),
	    AUTH_OK);
	/* alice's line replaced where it stands */
	ck_assert_int_eq(
	    auth_edit_permissions_set(e, amqp_cstr("/"), amqp_cstr("alice"), all, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(auth_edit_permissions_set(
	                     e, amqp_cstr("/"), amqp_cstr("nobody"), all, err, sizeof(err)),
	    AUTH_E_NOT_FOUND);
	ck_assert_int_eq(auth_edit_permissions_set(
	                     e, amqp_cstr("none"), amqp_cstr("bob"), all, err, sizeof(err)),
	    AUTH_E_NOT_FOUND);
	commit(e);
	ck_assert_str_eq(slurp(vpath("default.vhost")),
	    VHOST_HEAD "permissions alice .* .* ''\n\n# trailing comment\n"
	               "permissions bob '' 'it''s here' '^(a|b) c$'\n");
	db = load();
	ck_assert(auth_permitted(db, amqp_cstr("bob"), amqp_cstr("/"), AUTH_WRITE, AUTH_RES_QUEUE,
	    amqp_cstr("it's here")));
	ck_assert(!auth_permitted(
	    db, amqp_cstr("alice"), amqp_cstr("/"), AUTH_READ, AUTH_RES_QUEUE, amqp_cstr("q")));
	auth_db_unref(db);
	e = begin();
	ck_assert_int_eq(
	    auth_edit_permissions_remove(e, amqp_cstr("/"), amqp_cstr("bob"), err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(
	    auth_edit_permissions_remove(e, amqp_cstr("/"), amqp_cstr("bob"), err, sizeof(err)),
	    AUTH_E_NOT_FOUND);
	commit(e);
	ck_assert_str_eq(slurp(vpath("default.vhost")),
	    VHOST_HEAD "permissions alice .* .* ''\n\n# trailing comment\n");
}
END_TEST

START_TEST(test_vhost_added_limits_removed)
{
	struct auth_edit *e = begin();
	struct auth_limits lim;
	struct auth_db *db;
	char err[256];
	bool created;

	ck_assert_int_eq(
	    auth_edit_vhost_add(e, amqp_cstr("orders/eu 1"), &created, err, sizeof(err)), AUTH_OK);
	ck_assert(created);
	ck_assert_int_eq(
	    auth_edit_vhost_add(e, amqp_cstr("/"), &created, err, sizeof(err)), AUTH_OK);
	ck_assert(!created);
	ck_assert_int_eq(
	    auth_edit_limit_set(e, amqp_cstr("orders/eu 1"), "max-queues", 10, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(
	    auth_edit_limit_set(e, amqp_cstr("orders/eu 1"), "max-queues", 20, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(
	    auth_edit_limit_set(e, amqp_cstr("orders/eu 1"), "max-channels", 20, err, sizeof(err)),
	    AUTH_E_UNSUPPORTED);
	commit(e);
	ck_assert_str_eq(slurp(vpath("orders_eu_1.vhost")),
	    "# Created through the management API.\nvhost 'orders/eu 1'\nmax-queues 20\n");
	db = load();
	ck_assert(auth_vhost_limits(db, amqp_cstr("orders/eu 1"), &lim));
	ck_assert_int_eq(lim.max_queues, 20);
	auth_db_unref(db);
	no_leftovers(vdir);
	/* A negative limit is no limit: the line goes (again: nothing to remove, still fine). */
	e = begin();
	ck_assert_int_eq(
	    auth_edit_limit_set(e, amqp_cstr("orders/eu 1"), "max-queues", -1, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(auth_edit_limit_set(
	                     e, amqp_cstr("orders/eu 1"), "max-connections", -5, err, sizeof(err)),
	    AUTH_OK);
	commit(e);
	ck_assert_str_eq(slurp(vpath("orders_eu_1.vhost")),
	    "# Created through the management API.\nvhost 'orders/eu 1'\n");
	db = load();
	ck_assert(auth_vhost_limits(db, amqp_cstr("orders/eu 1"), &lim));
	ck_assert_int_eq(lim.max_queues, -1);
	auth_db_unref(db);
	e = begin();
	ck_assert_int_eq(
	    auth_edit_vhost_remove(e, amqp_cstr("orders/eu 1"), err, sizeof(err)), AUTH_OK);
	commit(e);
	ck_assert_int_eq(access(vpath("orders_eu_1.vhost"), F_OK), -1);
	db = load();
	ck_assert(!auth_vhost_exists(db, amqp_cstr("orders/eu 1")));
	auth_db_unref(db);
}
END_TEST

START_TEST(test_unexpressible_refused)
{
	struct auth_edit *e = begin();
	const char *ctl[3] = { "a\nb", "", "" };
	char err[256];
	bool created;

	ck_assert_int_eq(
	    auth_edit_user_set(e, amqp_cstr("a:b"), H_ALICE, NULL, &created, err, sizeof(err)),
	    AUTH_E_UNSUPPORTED);
	ck_assert_int_eq(
	    auth_edit_user_set(e, amqp_cstr("#x"), H_ALICE, NULL, &created, err, sizeof(err)),
	    AUTH_E_UNSUPPORTED);
	ck_assert_int_eq(
	    auth_edit_user_set(e, amqp_cstr("x"), H_ALICE, "has space", &created, err, sizeof(err)),
	    AUTH_E_UNSUPPORTED);
	ck_assert_int_eq(
	    auth_edit_user_set(e, amqp_cstr("x"), "$md5$abc", NULL, &created, err, sizeof(err)),
	    AUTH_E_UNSUPPORTED);
	ck_assert_int_eq(
	    auth_edit_permissions_set(e, amqp_cstr("/"), amqp_cstr("bob"), ctl, err, sizeof(err)),
	    AUTH_E_UNSUPPORTED);
	ck_assert(!auth_edit_changed(e));
	auth_edit_free(e);
	ck_assert_str_eq(slurp(users), users_text);
}
END_TEST

START_TEST(test_check_reports_file_line)
{
	struct auth_edit *e = begin();
	const char *bad[3] = { "(", ".*", ".*" };
	char err[256];

	ck_assert_int_eq(
	    auth_edit_permissions_set(e, amqp_cstr("/"), amqp_cstr("bob"), bad, err, sizeof(err)),
	    AUTH_OK);
	ck_assert_int_eq(auth_edit_check(e, NULL, err, sizeof(err)), AUTH_E_CONFIG);
	ck_assert_msg(
	    strstr(err, "default.vhost:6: bad configure regular expression") != NULL, "%s", err);
	auth_edit_free(e); /* not committed: the file is as it was */
	ck_assert_str_eq(slurp(vpath("default.vhost")), vhost_text);
}
END_TEST

START_TEST(test_begin_refuses_invalid_files)
{
	struct auth_edit *e;
	char err[256];

	write_file(users, "alice:nothash\n");
	ck_assert_int_eq(auth_edit_begin(users, vdir, AUTH_BACKEND_INTERNAL, &e, err, sizeof(err)),
	    AUTH_E_CONFIG);
	ck_assert_msg(strstr(err, "users:1:") != NULL, "%s", err);
}
END_TEST

START_TEST(test_file_replace_atomic)
{
	char err[256], path[200];

	snprintf(path, sizeof(path), "%s/new", dir);
	ck_assert_int_eq(
	    auth_file_replace(path, (const uint8_t *)"one\n", 4, err, sizeof(err)), AUTH_OK);
	ck_assert_str_eq(slurp(path), "one\n");
	ck_assert_int_eq(
	    auth_file_replace(path, (const uint8_t *)"two", 3, err, sizeof(err)), AUTH_OK);
	ck_assert_str_eq(slurp(path), "two");
	snprintf(path, sizeof(path), "%s/missing-dir/x", dir);
	ck_assert_int_eq(
	    auth_file_replace(path, (const uint8_t *)"x", 1, err, sizeof(err)), AUTH_E_SYSTEM);
	no_leftovers(dir);
}
END_TEST

/* ---- RabbitMQ's hashes ---- */

START_TEST(test_rabbit_sha256_verifies)
{
	char stored[AUTH_HASH_MAX], why[256];

	ck_assert_int_eq(auth_rabbit_hash_import("rabbit_password_hashing_sha256", RMQ_S3CRET,
	                     stored, sizeof(stored), why, sizeof(why)),
	    AUTH_OK);
	ck_assert_str_eq(stored, "$rabbitmq-sha256$" RMQ_S3CRET);
	ck_assert(auth_hash_valid(stored));
	ck_assert_int_eq(auth_verify_password(stored, amqp_cstr("s3cret")), AUTH_OK);
	ck_assert_int_eq(auth_verify_password(stored, amqp_cstr("s3creT")), AUTH_E_REFUSED);
	/* the default algorithm is SHA-256 */
	ck_assert_int_eq(
	    auth_rabbit_hash_import(NULL, RMQ_S3CRET, stored, sizeof(stored), why, sizeof(why)),
	    AUTH_OK);
}
END_TEST

START_TEST(test_rabbit_hash_refusals)
{
	char stored[AUTH_HASH_MAX], why[256];

	ck_assert_int_eq(auth_rabbit_hash_import("rabbit_password_hashing_md5", "AAAA", stored,
	                     sizeof(stored), why, sizeof(why)),
	    AUTH_E_UNSUPPORTED);
	ck_assert_msg(strstr(why, "rabbit_password_hashing_md5") != NULL, "%s", why);
	/* too short, not base64, not canonical */
	ck_assert_int_eq(auth_rabbit_hash_import("rabbit_password_hashing_sha256", "AAAA", stored,
	                     sizeof(stored), why, sizeof(why)),
	    AUTH_E_INVALID);
	ck_assert_int_eq(auth_rabbit_hash_import("rabbit_password_hashing_sha256",
	                     "1ZRz01Fz2lGj+fBTJYkVuk8dt1ffM2xKhXuqbRwsHrPD7xo!", stored,
	                     sizeof(stored), why, sizeof(why)),
	    AUTH_E_INVALID);
	ck_assert(!auth_hash_valid("$rabbitmq-sha256$"));
	ck_assert(!auth_hash_valid("$rabbitmq-sha512$" RMQ_S3CRET)); /* a SHA-256's length */
	ck_assert_int_eq(
	    auth_verify_password("$rabbitmq-sha256$@@", amqp_cstr("x")), AUTH_E_INVALID);
}
END_TEST

START_TEST(test_rabbit_hash_export_round_trip)
{
	char out[AUTH_HASH_MAX * 2], back[AUTH_HASH_MAX], why[256];
	const char *alg;

	ck_assert_int_eq(
	    auth_rabbit_hash_export("$rabbitmq-sha256$" RMQ_S3CRET, &alg, out, sizeof(out)),
	    AUTH_OK);
	ck_assert_str_eq(alg, "rabbit_password_hashing_sha256");
	ck_assert_str_eq(out, RMQ_S3CRET);
	ck_assert_int_eq(auth_rabbit_hash_export(H_ALICE, &alg, out, sizeof(out)), AUTH_OK);
	ck_assert_str_eq(alg, "warren_scrypt");
	ck_assert_int_eq(
	    auth_rabbit_hash_import(alg, out, back, sizeof(back), why, sizeof(why)), AUTH_OK);
	ck_assert_str_eq(back, H_ALICE);
	ck_assert_int_eq(auth_rabbit_hash_export(NULL, &alg, out, sizeof(out)), AUTH_OK);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_users_file_takes_rabbit_hash)
{
	struct auth_db *db;
	char err[256];

	write_file(users, "alice:$rabbitmq-sha256$" RMQ_S3CRET ":administrator\n");
	write_file(vpath("default.vhost"), "vhost /\npermissions alice .* .* .*\n");
	ck_assert_msg(auth_db_load(users, vdir, &db, err, sizeof(err)) == AUTH_OK, "%s", err);
	ck_assert_int_eq(auth_db_check_password(db,
	                     &(struct auth_credentials){ amqp_cstr("alice"), amqp_cstr("s3cret") }),
	    AUTH_OK);
	ck_assert_int_eq(auth_db_check_password(db,
	                     &(struct auth_credentials){ amqp_cstr("alice"), amqp_cstr("guest") }),
	    AUTH_E_REFUSED);
	auth_db_unref(db);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("auth_edit");
	TCase *t = tcase_create("edit");
	TCase *h = tcase_create("rabbit_hash");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_checked_fixture(h, setup, teardown);
	tcase_add_test(t, test_user_added_appended_comments_kept);
	tcase_add_test(t, test_user_changed_in_place);
	tcase_add_test(t, test_user_removed_with_its_permissions);
	tcase_add_test(t, test_permissions_set_quoted_and_removed);
	tcase_add_test(t, test_vhost_added_limits_removed);
	tcase_add_test(t, test_unexpressible_refused);
	tcase_add_test(t, test_check_reports_file_line);
	tcase_add_test(t, test_begin_refuses_invalid_files);
	tcase_add_test(t, test_file_replace_atomic);
	tcase_add_test(h, test_rabbit_sha256_verifies);
	tcase_add_test(h, test_rabbit_hash_refusals);
	tcase_add_test(h, test_rabbit_hash_export_round_trip);
	tcase_add_test(h, test_users_file_takes_rabbit_hash);
	suite_add_tcase(s, t);
	suite_add_tcase(s, h);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
