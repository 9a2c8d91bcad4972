/*
 * check_auth_warrenctl.c: warrenctl(8) as a user runs it: hash-password reads a password from
 * standard input (a pipe here, not a terminal) and prints a hash or a users-file line that
 * verifies; check-config reports "FILE:LINE: reason" or ok, also for the files a warren.conf
 * names; reload fails clearly without a broker (11-access and 12-tls run it against one); usage
 * errors exit 2.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "amqp/amqp.h"
#include "auth/auth.h"

struct run {
	int status; /* the exit code, or -1 if it died of a signal */
	char out[4096], err[4096];
};

static void slurp(int fd, char *buf, size_t cap)
{
	ssize_t n;
	size_t at = 0;

	lseek(fd, 0, SEEK_SET);
	while (at + 1 < cap && (n = read(fd, buf + at, cap - 1 - at)) > 0)
		at += (size_t)n;
	buf[at] = '\0';
	close(fd);
}

/* Run warrenctl with args (NULL-terminated) and input on its standard input. */
static void run(struct run *r, const char *input, const char *const *args)
{
	char outname[] = "/tmp/warrenctl-out.XXXXXX", errname[] = "/tmp/warrenctl-err.XXXXXX";
	const char *argv[16] = { WARRENCTL_PATH };
	int in[2], out, err, st, i;
	pid_t pid;

	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_ge(out = mkstemp(outname), 0);
	ck_assert_int_ge(err = mkstemp(errname), 0);
	unlink(outname);
	unlink(errname);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out, 1);
		dup2(err, 2);
		close(in[1]);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(in[0]);
	/*
	 * A usage error exits before reading: the write may then find no reader, which is EPIPE
	 * here (SIGPIPE ignored in this process), not a failure of the test.
	 */
	signal(SIGPIPE, SIG_IGN);
	if (input != NULL) {
		ssize_t n = write(in[1], input, strlen(input));

		ck_assert_msg(n == (ssize_t)strlen(input) || (n < 0 && errno == EPIPE),
		    "write to warrenctl: %zd", n);
	}
	close(in[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

START_TEST(test_hash_password_plain)
{
	struct run r;
	char *nl;

	run(&r, "s3cret pass\n", ARGS("hash-password"));
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_str_eq(r.err, "");
	ck_assert((nl = strchr(r.out, '\n')) != NULL && nl[1] == '\0');
	*nl = '\0';
	ck_assert_int_eq(auth_verify_password(r.out, amqp_cstr("s3cret pass")), AUTH_OK);
	ck_assert_int_eq(auth_verify_password(r.out, amqp_cstr("s3cret pass\n")), AUTH_E_REFUSED);
	ck_assert(strncmp(r.out, "$scrypt$ln=14,r=8,p=1$", 22) == 0);
	/* CRLF and no newline at all */
	run(&r, "pw\r\n", ARGS("hash-password"));
	ck_assert_int_eq(r.status, 0);
	*strchr(r.out, '\n') = '\0';
	ck_assert_int_eq(auth_verify_password(r.out, amqp_cstr("pw")), AUTH_OK);
	run(&r, "pw", ARGS("hash-password"));
	ck_assert_int_eq(r.status, 0);
	*strchr(r.out, '\n') = '\0';
	ck_assert_int_eq(auth_verify_password(r.out, amqp_cstr("pw")), AUTH_OK);
}
END_TEST

START_TEST(test_hash_password_user_line)
{
	struct auth_db *db = auth_db_new();
	struct auth_credentials c = { amqp_cstr("dave smith"), amqp_cstr("pa:ss") };
	struct run r;
	char err[256];

	run(&r, "pa:ss\nignored second line\n", ARGS("hash-password", "--user", "dave smith"));
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert(strncmp(r.out, "dave smith:$scrypt$", 19) == 0);
	/* the line goes straight into a users file */
	ck_assert_msg(auth_db_parse_users(db, "users", (const uint8_t *)r.out, strlen(r.out), err,
	                  sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_int_eq(auth_db_finish(db, err, sizeof(err)), AUTH_OK);
	ck_assert_int_eq(auth_db_check_password(db, &c), AUTH_OK);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_hash_password_refusals)
{
	struct run r;

	run(&r, "\n", ARGS("hash-password"));
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err, "warrenctl: empty password\n");
	ck_assert_str_eq(r.out, "");
	run(&r, "", ARGS("hash-password"));
	ck_assert_int_eq(r.status, 1);
	run(&r, "pw\n", ARGS("hash-password", "--user", "a:b"));
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(
	    r.err, "warrenctl: a user name is 1 to 255 bytes without ':' or control characters\n");
	run(&r, "pw\n", ARGS("hash-password", "--user", ""));
	ck_assert_int_eq(r.status, 2);
	run(&r, "pw\n", ARGS("hash-password", "extra"));
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err, "usage: warrenctl hash-password [--user NAME]\n");
	run(&r, "pw\n", ARGS("hash-password", "--bogus"));
	ck_assert_int_eq(r.status, 2);
}
END_TEST

START_TEST(test_check_config)
{
	char dir[] = "/tmp/warrenctl-cfg.XXXXXX", users[128], vdir[128], vfile[160], want[512];
	char copy[] = "/tmp/warrenctl-copy.XXXXXX", fp_etc[128];
	struct run r;
	FILE *f;

	run(&r, NULL,
	    ARGS("check-config", "--users", WARREN_SRCDIR "/etc/users", "--vhosts",
	        WARREN_SRCDIR "/etc/vhosts"));
	ck_assert_msg(r.status == 0, "%s", r.err);
	ck_assert_msg(strncmp(r.out, "ok: 3 users, 2 vhosts\nfiles: sha256 ", 36) == 0 &&
	        strlen(r.out) == 36 + 64 + 1,
	    "%s", r.out);
	memcpy(fp_etc, r.out + 22, 80); /* "files: sha256 ", 64 digits, "\n" and the NUL */
	run(&r, NULL, ARGS("check-config", "--users", WARREN_SRCDIR "/etc/users"));
	ck_assert_int_eq(r.status, 0);
	ck_assert_msg(
	    strncmp(r.out, "ok: 3 users, 0 vhosts\nfiles: sha256 ", 36) == 0, "%s", r.out);
	ck_assert_str_ne(r.out + 22, fp_etc); /* without the vhost files: another fingerprint */
	/* copies elsewhere: the same fingerprint (what a cluster's nodes compare); a byte more: not */
	ck_assert_ptr_nonnull(mkdtemp(copy));
	snprintf(want, sizeof(want), "cp -r %s/etc/users %s/etc/vhosts %s/", WARREN_SRCDIR,
	    WARREN_SRCDIR, copy);
	ck_assert_int_eq(system(want), 0);
	snprintf(users, sizeof(users), "%s/users", copy);
	snprintf(vdir, sizeof(vdir), "%s/vhosts", copy);
	run(&r, NULL, ARGS("check-config", "--users", users, "--vhosts", vdir));
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.out + 22, fp_etc);
	ck_assert_ptr_nonnull(f = fopen(users, "a"));
	fputs("# a comment\n", f);
	fclose(f);
	run(&r, NULL, ARGS("check-config", "--users", users, "--vhosts", vdir));
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_ne(r.out + 22, fp_etc);
	snprintf(want, sizeof(want), "rm -r %s", copy);
	ck_assert_int_eq(system(want), 0);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(users, sizeof(users), "%s/users", dir);
	snprintf(vdir, sizeof(vdir), "%s/vhosts", dir);
	snprintf(vfile, sizeof(vfile), "%s/a.vhost", vdir);
	ck_assert_int_eq(mkdir(vdir, 0700), 0);
	ck_assert_ptr_nonnull(f = fopen(users, "w"));
	fputs("# users\nbob:!\n", f);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(vfile, "w"));
	fputs("vhost a\npermissions bob .* .* .*\npermissions alice .* .* .*\n", f);
	fclose(f);
	run(&r, NULL, ARGS("check-config", "--users", users, "--vhosts", vdir));
	ck_assert_int_eq(r.status, 1);
	snprintf(want, sizeof(want), "%s:3: no user 'alice' in the users file\n", vfile);
	ck_assert_str_eq(r.err, want);
	ck_assert_str_eq(r.out, "");
	unlink(vfile);
	rmdir(vdir);
	run(&r, NULL, ARGS("check-config", "--users", users, "--vhosts", vdir));
	ck_assert_int_eq(r.status, 1);
	snprintf(want, sizeof(want), "%s: No such file or directory\n", vdir);
	ck_assert_str_eq(r.err, want);
	unlink(users);
	rmdir(dir);
	run(&r, NULL, ARGS("check-config", "--vhosts", vdir));
	ck_assert_int_eq(r.status, 2);
	ck_assert_str_eq(r.err,
	    "usage: warrenctl check-config {--config FILE | --users FILE [--vhosts DIR] "
	    "[--saslauthd]}\n");
}
END_TEST

START_TEST(test_usage)
{
	struct run r;

	run(&r, NULL, ARGS("frobnicate"));
	ck_assert_int_eq(r.status, 2);
	ck_assert(strncmp(r.err, "warrenctl: unknown command 'frobnicate'\n", 40) == 0);
	run(&r, NULL, ARGS("--help"));
	ck_assert_int_eq(r.status, 0);
	ck_assert(strstr(r.out, "hash-password [--user NAME]") != NULL);
	ck_assert(strstr(r.out, "check-config {--config FILE | --users FILE") != NULL);
	ck_assert(strstr(r.out, "reload [--config FILE") != NULL);
	run(&r, NULL, ARGS("reload", "--socket", "/tmp/s", "--data-dir", "/tmp"));
	ck_assert_int_eq(r.status, 2);
	run(&r, NULL, ARGS("reload", "--timeout", "0"));
	ck_assert_int_eq(r.status, 2);
	run(&r, NULL, ARGS("check-config", "--config", "/dev/null", "--users", "/dev/null"));
	ck_assert_int_eq(r.status, 2);
	run(&r, NULL, ARGS("check-config", "--help"));
	ck_assert_int_eq(r.status, 0);
}
END_TEST

/* check-config --config reads users_file, vhost_dir and password_backend from a warren.conf. */
START_TEST(test_check_config_from_main_file)
{
	char dir[] = "/tmp/warrenctl-main.XXXXXX", path[4][160], want[512];
	struct run r;
	FILE *f;
	int i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path[0], sizeof(path[0]), "%s/warren.conf", dir);
	snprintf(path[1], sizeof(path[1]), "%s/users", dir);
	snprintf(path[2], sizeof(path[2]), "%s/vhosts", dir);
	snprintf(path[3], sizeof(path[3]), "%s/vhosts/a.vhost", dir);
	ck_assert_int_eq(mkdir(path[2], 0700), 0);
	ck_assert_ptr_nonnull(f = fopen(path[1], "w"));
	fputs("bob:!\nerin:saslauthd:monitoring\n", f);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(path[3], "w"));
	fputs("vhost a\npermissions bob .* .* .*\npermissions frank .* .* .*\n", f);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(path[0], "w"));
	fprintf(
	    f, "users_file = %s\nvhost_dir = %s\npassword_backend = saslauthd\n", path[1], path[2]);
	fclose(f);
	run(&r, NULL, ARGS("check-config", "--config", path[0]));
	if (auth_saslauthd_built()) {
		ck_assert_msg(r.status == 0, "%s", r.err);
		ck_assert_msg(
		    strncmp(r.out, "ok: 2 users, 1 vhost\nfiles: sha256 ", 35) == 0, "%s", r.out);
		run(&r, NULL,
		    ARGS("check-config", "--users", path[1], "--vhosts", path[2], "--saslauthd"));
		ck_assert_msg(r.status == 0, "%s", r.err);
	} else {
		ck_assert_int_eq(r.status, 1);
		snprintf(want, sizeof(want), "%s:3: password_backend: warrend was built", path[0]);
		ck_assert_msg(strstr(r.err, want) != NULL, "%s", r.err);
	}
	/* without the saslauthd backend, the same files are wrong */
	run(&r, NULL, ARGS("check-config", "--users", path[1], "--vhosts", path[2]));
	ck_assert_int_eq(r.status, 1);
	snprintf(want, sizeof(want),
	    "%s:2: user 'erin': the password is checked by saslauthd, but password_backend is not "
	    "saslauthd\n",
	    path[1]);
	ck_assert_str_eq(r.err, want);
	for (i = 3; i >= 0; i--)
		i == 2 ? rmdir(path[i]) : unlink(path[i]);
	rmdir(dir);
}
END_TEST

/* reload without a running warrend: a clear error, exit 1. */
START_TEST(test_reload_nobody_listening)
{
	struct run r;

	run(&r, NULL, ARGS("reload", "--socket", "/tmp/warrenctl-no-such.sock"));
	ck_assert_int_eq(r.status, 1);
	ck_assert_str_eq(r.err,
	    "warrenctl: cannot connect to /tmp/warrenctl-no-such.sock: No such "
	    "file or directory (is warrend running?)\n");
	run(&r, NULL, ARGS("reload", "--data-dir", "/tmp/warrenctl-no-such-dir"));
	ck_assert_int_eq(r.status, 1);
	ck_assert(strstr(r.err, "/tmp/warrenctl-no-such-dir/control.sock") != NULL);
}
END_TEST

static Suite *warrenctl_suite(void)
{
	Suite *s = suite_create("warrenctl");
	TCase *tc = tcase_create("warrenctl");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hash_password_plain);
	tcase_add_test(tc, test_hash_password_user_line);
	tcase_add_test(tc, test_hash_password_refusals);
	tcase_add_test(tc, test_check_config);
	tcase_add_test(tc, test_check_config_from_main_file);
	tcase_add_test(tc, test_reload_nobody_listening);
	tcase_add_test(tc, test_usage);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(warrenctl_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
