/*
 * 11-access-reload.c: reloads on SIGHUP, and invalid files at start-up.
 */
#include "interop/access.h"

/* ---- reloads ---- */

static const char reload_users[] = "alice:{H}\nbob:{H}\ncarol:{H}\n";
static const char reload_vhost[] = "vhost /\n"
                                   "permissions alice .* .* .*\n"
                                   "permissions bob .* .* .*\n"
                                   "permissions carol .* .* .*\n";

static void reload_start(void)
{
	spawn_with(reload_users,
	    (struct vfile[]){ { "default.vhost", reload_vhost }, { NULL, NULL } }, NULL);
}

/* Log in as user with password until it works: each try a real login (bounded). */
static conn_t login_eventually(const char *user, const char *password, const char *vhost)
{
	const struct login l = { .user = user, .password = password, .vhost = vhost };
	struct answer a;
	conn_t c;
	int i;

	for (i = 0; i < 100; i++) {
		if ((c = handshake(&l, &a)) != NULL)
			return c;
		sleep_ms(20);
	}
	ck_abort_msg("user '%s' still refused after %d logins: %d \"%s\"", user, i, a.code, a.text);
	return NULL;
}

/* A connection with a consumer on a queue of its own, and the queue's name. */
struct watcher {
	conn_t c;
	char q[64];
};

static struct watcher watch(const char *user)
{
	struct watcher w = { .c = as(user) };

	snprintf(w.q, sizeof(w.q), "%s", uniq("q-watch"));
	declare_queue(w.c, 1, w.q);
	consume(w.c, 1, w.q, NULL, true);
	return w;
}

/* The watcher still gets what it publishes to itself. */
static void still_delivers(struct watcher *w, const char *body)
{
	publish(w->c, 1, "", w->q, body);
	expect_deliver(w->c, 1, body);
}

START_TEST(reload_new_user_logs_in)
{
	conn_t c;

	SKIP_IN_ORACLE();
	login_refused("dave", PASSWORD);
	put_file("users", "alice:{H}\nbob:{H}\ncarol:{H}\ndave:{H}\n");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\npermissions dave .* .* .*\n");
	ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
	c = login_eventually("dave", PASSWORD, "/");
	client_open(c, 1);
	declare_queue(c, 1, uniq("q-dave"));
	client_close(c);
}
END_TEST

/* bob loses his permissions line: 320 for bob's connection, alice is untouched. */
START_TEST(reload_lost_vhost_access_320)
{
	struct watcher w;
	conn_t b;

	SKIP_IN_ORACLE();
	w = watch("alice");
	b = as("bob");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions carol .* .* .*\n");
	reload(true);
	expect_connection_close(
	    b, 320, "CONNECTION_FORCED - user 'bob' may no longer use vhost '/'");
	client_drop(b);
	still_delivers(&w, "after bob left");
	alive(w.c, 2);
	open_refused("bob", "/", "NOT_ALLOWED - access to vhost '/' refused for user 'bob'");
	client_close(w.c);
}
END_TEST

/* carol is removed altogether: 320 for her connection, and her logins are refused. */
START_TEST(reload_removed_user_320_and_refused)
{
	struct watcher w;
	conn_t c;

	SKIP_IN_ORACLE();
	w = watch("alice");
	c = as("carol");
	put_file("users", "alice:{H}\nbob:{H}\n");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions bob .* .* .*\n");
	reload(true);
	expect_connection_close(
	    c, 320, "CONNECTION_FORCED - user 'carol' may no longer use vhost '/'");
	client_drop(c);
	login_refused("carol", PASSWORD);
	still_delivers(&w, "after carol left");
	client_close(w.c);
}
END_TEST

/* A changed password takes effect at once (the success cache misses); sessions stay. */
START_TEST(reload_changed_password)
{
	struct watcher w;
	conn_t c;

	SKIP_IN_ORACLE();
	w = watch("alice"); /* also puts alice/secret in the success cache */
	put_file("users", "alice:{H2}\nbob:{H}\ncarol:{H}\n");
	reload(true);
	login_refused("alice", PASSWORD);
	{
		struct client_opts o = { .user = "alice", .password = PASSWORD2 };

		c = client_connect_opts(&o);
		alive(c, 1);
		client_close(c);
	}
	still_delivers(&w, "same session");
	client_close(w.c);
}
END_TEST

/* The message must name the file and line, and the old users still log in. */
static void check_rejected(const char *where)
{
	const char *line = log_line("reload refused");

	ck_assert_msg(line != NULL, "no \"reload refused\" line in the log");
	ck_assert_msg(strstr(line, where) != NULL, "the log says \"%s\", expected it to name %s",
	    line, where);
	ck_assert_msg(strstr(line, where)[strlen(where)] != '\n', "no reason after %s", where);
}

START_TEST(reload_invalid_vhost_file_keeps_old)
{
	struct watcher w;
	conn_t c;

	SKIP_IN_ORACLE();
	w = watch("alice");
	put_file("users", "alice:{H}\nbob:{H}\ncarol:{H}\ndave:{H}\n");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\npermissions dave '(' .* .*\n");
	reload(false);
	check_rejected(fmt("%s/vhosts/default.vhost:5: ", files));
	c = as("bob");
	alive(c, 2);
	client_close(c);
	login_refused("dave", PASSWORD);
	still_delivers(&w, "old configuration");
	client_close(w.c);
}
END_TEST

START_TEST(reload_invalid_users_file_keeps_old)
{
	conn_t c;

	SKIP_IN_ORACLE();
	put_file("users", "alice:{H}\nbob:{H}\ncarol:{H}\nerin:$scrypt$garbage\n");
	reload(false);
	check_rejected(fmt("%s/users:4: ", files));
	c = as("carol");
	client_close(c);
}
END_TEST

/* A user line naming a user the users file lacks: rejected; fixed, then applied. */
START_TEST(reload_fixed_after_rejected)
{
	conn_t c;

	SKIP_IN_ORACLE();
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\npermissions frank .* .* .*\n");
	reload(false);
	check_rejected(fmt("%s/vhosts/default.vhost:5: ", files));
	login_refused("frank", PASSWORD);
	put_file("users", "alice:{H}\nbob:{H}\ncarol:{H}\nfrank:{H}\n");
	reload(true);
	c = as("frank");
	client_close(c);
}
END_TEST

START_TEST(reload_new_vhost)
{
	conn_t c;

	SKIP_IN_ORACLE();
	open_refused("alice", "fresh", "NOT_ALLOWED - vhost fresh not found");
	put_file("vhosts/fresh.vhost", "vhost fresh\npermissions alice .* .* .*\n");
	reload(true);
	c = user_in("alice", "fresh");
	client_close(c);
}
END_TEST

/* Changed permissions apply to an open connection's next operation, without closing it. */
START_TEST(reload_changed_permissions_apply_to_open_connection)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as("alice");
	declare_queue(c, 1, "q-before");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice '' .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\n");
	reload(true);
	amqp_queue_declare(c, 1, B("q-after"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-after", "alice"));
	client_close(c);
}
END_TEST

/* A lower max-connections refuses new connections but leaves those open alone. */
START_TEST(reload_lower_max_connections_keeps_open_ones)
{
	struct watcher w1, w2;

	SKIP_IN_ORACLE();
	w1 = watch("alice");
	w2 = watch("bob");
	put_file("vhosts/default.vhost",
	    "vhost /\nmax-connections 1\npermissions alice .* .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\n");
	reload(true);
	open_refused("carol", "/",
	    "NOT_ALLOWED - access to vhost '/' refused for user 'carol': connection limit (1) is "
	    "reached");
	still_delivers(&w1, "w1");
	still_delivers(&w2, "w2");
	client_close(w1.c);
	client_close(w2.c);
}
END_TEST

/* A vhost whose file is removed: its connections are closed with 320, new ones refused. */
START_TEST(reload_removed_vhost_320)
{
	struct watcher w;
	conn_t c;

	SKIP_IN_ORACLE();
	put_file("vhosts/extra.vhost", "vhost extra\npermissions alice .* .* .*\n");
	reload(true);
	c = user_in("alice", "extra");
	w = watch("alice");
	drop_file("vhosts/extra.vhost");
	reload(true);
	expect_connection_close(
	    c, 320, "CONNECTION_FORCED - user 'alice' may no longer use vhost 'extra'");
	client_drop(c);
	refused(&(struct login){ .user = "alice", .vhost = "extra" }, 530,
	    "NOT_ALLOWED - vhost extra not found", 10, 40);
	still_delivers(&w, "in /");
	client_close(w.c);
}
END_TEST

/* Files that are not NAME.vhost (notes, editor backups, dot files) are not read. */
START_TEST(reload_ignores_other_files)
{
	conn_t c;

	SKIP_IN_ORACLE();
	put_file("vhosts/README", "these files are read: *.vhost\n");
	put_file("vhosts/default.vhost~", "vhost /\npermissions nobody ( ( (\n");
	put_file("vhosts/.old.vhost", "vhost /\npermissions nobody ( ( (\n");
	put_file("vhosts/extra.vhost", "vhost extra\npermissions alice .* .* .*\n");
	reload(true);
	c = user_in("alice", "extra");
	client_close(c);
}
END_TEST

/* A reload that changes nothing disturbs nobody. */
START_TEST(reload_unchanged_disturbs_nobody)
{
	struct watcher w1, w2;

	SKIP_IN_ORACLE();
	w1 = watch("alice");
	w2 = watch("carol");
	reload(true);
	still_delivers(&w1, "w1");
	still_delivers(&w2, "w2");
	client_quiet(w1.c, QUIET_MS);
	client_close(w1.c);
	client_close(w2.c);
}
END_TEST

/* ---- invalid files at start-up ---- */

/* The exit status of the last startup_fails run. */
static int last_exit_status;

/*
 * Start warrend on these files: it must exit non-zero within the bound and say where (file, a
 * name in the files directory, and line, or 0 for none) and why (reason) on stderr.
 */
static void startup_fails(const char *users, const struct vfile *v, const char *extra,
    const char *file, int line, const char *reason)
{
	char conf[1024], out[8192], tmpl[sizeof(files) + 16];
	const char *where, *at;
	struct broker b;
	FILE *f;
	size_t n;
	int status, fd;
	pid_t pid;

	/* In the group's directory, which the group's teardown removes even if this test fails. */
	snprintf(tmpl, sizeof(tmpl), "%s/run-XXXXXX", files);
	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
	ck_assert_uint_lt(strlen(tmpl), sizeof(files));
	memcpy(files, tmpl, strlen(tmpl) + 1); /* this test process only */
	ck_assert_int_eq(mkdir(fmt("%s/vhosts", files), 0700), 0);
	if (users != NULL)
		put_file("users", users);
	for (; v != NULL && v->name != NULL; v++)
		put_file(fmt("vhosts/%s", v->name), v->text);
	snprintf(conf, sizeof(conf), "users_file = %s/users\nvhost_dir = %s/vhosts\n%s", files,
	    files, extra != NULL ? extra : "");
	put_file("warren.conf", conf);
	ck_assert_int_eq(mkdir(fmt("%s/data", files), 0700), 0);
	if ((pid = fork()) == 0) {
		fd = open(fmt("%s/stderr", files), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(WARREND_PATH, "warrend", "--config", fmt("%s/warren.conf", files), "--listen",
		    "127.0.0.1:0", "--data-dir", fmt("%s/data", files), (char *)NULL);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	memset(&b, 0, sizeof(b));
	b.pid = pid;
	if (broker_wait(&b, 10000, &status) != 0) {
		broker_terminate(&b, 1000, &status);
		ck_abort_msg("warrend started on invalid files (still running after 10 s)");
	}
	ck_assert_ptr_nonnull(f = fopen(fmt("%s/stderr", files), "r"));
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	/* Under ASan, a leak on the error path would also exit non-zero: look for its report. */
	ck_assert_msg(strstr(out, "Sanitizer") == NULL, "warrend:\n%s", out);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 0,
	    "warrend on invalid files: wait status 0x%x, expected a non-zero exit", status);
	last_exit_status = WEXITSTATUS(status);
	where = line > 0 ? fmt("%s/%s:%d: ", files, file, line) : fmt("%s/%s: ", files, file);
	at = strstr(out, where);
	ck_assert_msg(at != NULL, "stderr does not name %s:\n%s", where, out);
	ck_assert_msg(strstr(at, reason) != NULL &&
	        (strchr(at, '\n') == NULL || strstr(at, reason) < strchr(at, '\n')),
	    "stderr names %s but not the reason \"%s\":\n%s", where, reason, out);
}

static const struct vfile ok_vhost[] = {
	{ "default.vhost", "vhost /\npermissions alice .* .* .*\n" },
	{ NULL, NULL },
};

START_TEST(startup_malformed_hash)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n# a comment\nbob:$scrypt$ln=14$nope\n", ok_vhost, NULL, "users",
	    3, "malformed password hash");
}
END_TEST

START_TEST(startup_duplicate_user)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\nbob:{H}\nalice:{H}\n", ok_vhost, NULL, "users", 3, "alice");
}
END_TEST

START_TEST(startup_bad_regex)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n",
	    (struct vfile[]){
	        { "default.vhost", "vhost /\n\npermissions alice .* '[a-' .*\n" }, { NULL, NULL } },
	    NULL, "vhosts/default.vhost", 3, "write");
}
END_TEST

/* Perl's \d would silently mean something else in POSIX: refused. */
START_TEST(startup_perl_regex)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n",
	    (struct vfile[]){ { "default.vhost", "vhost /\npermissions alice '^q\\d+' .* .*\n" },
	        { NULL, NULL } },
	    NULL, "vhosts/default.vhost", 2, "backslash");
}
END_TEST

START_TEST(startup_unknown_user_in_vhost)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n",
	    (struct vfile[]){
	        { "default.vhost",
	            "vhost /\npermissions alice .* .* .*\npermissions carol .* .* .*\n" },
	        { NULL, NULL } },
	    NULL, "vhosts/default.vhost", 3, "carol");
}
END_TEST

START_TEST(startup_vhost_in_two_files)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n",
	    (struct vfile[]){ { "a.vhost", "vhost /\npermissions alice .* .* .*\n" },
	        { "b.vhost", "# the same vhost again\nvhost /\n" }, { NULL, NULL } },
	    NULL, "vhosts/b.vhost", 2, "/");
}
END_TEST

START_TEST(startup_crlf_refused)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n",
	    (struct vfile[]){
	        { "default.vhost", "vhost /\r\npermissions alice .* .* .*\r\n" }, { NULL, NULL } },
	    NULL, "vhosts/default.vhost", 1, "");
}
END_TEST

START_TEST(startup_unknown_directive)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n",
	    (struct vfile[]){
	        { "default.vhost", "vhost /\npermissions alice .* .* .*\nmax-channels 3\n" },
	        { NULL, NULL } },
	    NULL, "vhosts/default.vhost", 3, "max-channels");
}
END_TEST

START_TEST(startup_missing_users_file)
{
	SKIP_IN_ORACLE();
	startup_fails(NULL, ok_vhost, NULL, "users", 0, "No such file or directory");
}
END_TEST

START_TEST(startup_bad_auth_threads)
{
	SKIP_IN_ORACLE();
	startup_fails(
	    "alice:{H}\n", ok_vhost, "auth_threads = 0\n", "warren.conf", 3, "auth_threads");
}
END_TEST

/* warrend(8): "2 for a usage or configuration error"; the users file is configuration. */
START_TEST(startup_invalid_users_file_exits_2)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\nbob\n", ok_vhost, NULL, "users", 2, "");
	ck_assert_msg(last_exit_status == 2, "exit status %d, expected 2 as warrend(8) says",
	    last_exit_status);
}
END_TEST

void access_add_reloads(Suite *s)
{
	TCase *tc;

	/* Each reload test edits the files: one broker each. */
	tcase_add_test(group(s, "reload-new-user", reload_start, 30), reload_new_user_logs_in);
	tcase_add_test(
	    group(s, "reload-lost-access", reload_start, 30), reload_lost_vhost_access_320);
	tcase_add_test(
	    group(s, "reload-removed-user", reload_start, 30), reload_removed_user_320_and_refused);
	tcase_add_test(group(s, "reload-password", reload_start, 30), reload_changed_password);
	tcase_add_test(
	    group(s, "reload-bad-vhost", reload_start, 30), reload_invalid_vhost_file_keeps_old);
	tcase_add_test(
	    group(s, "reload-bad-users", reload_start, 30), reload_invalid_users_file_keeps_old);
	tcase_add_test(group(s, "reload-fixed", reload_start, 30), reload_fixed_after_rejected);
	tcase_add_test(group(s, "reload-new-vhost", reload_start, 30), reload_new_vhost);
	tcase_add_test(group(s, "reload-permissions", reload_start, 30),
	    reload_changed_permissions_apply_to_open_connection);
	tcase_add_test(group(s, "reload-max-connections", reload_start, 30),
	    reload_lower_max_connections_keeps_open_ones);
	tcase_add_test(
	    group(s, "reload-removed-vhost", reload_start, 30), reload_removed_vhost_320);
	tcase_add_test(
	    group(s, "reload-other-files", reload_start, 30), reload_ignores_other_files);
	tcase_add_test(
	    group(s, "reload-unchanged", reload_start, 30), reload_unchanged_disturbs_nobody);

	tc = group(s, "startup", startup_start, TEST_TIMEOUT);
	tcase_add_test(tc, startup_malformed_hash);
	tcase_add_test(tc, startup_duplicate_user);
	tcase_add_test(tc, startup_bad_regex);
	tcase_add_test(tc, startup_perl_regex);
	tcase_add_test(tc, startup_unknown_user_in_vhost);
	tcase_add_test(tc, startup_vhost_in_two_files);
	tcase_add_test(tc, startup_crlf_refused);
	tcase_add_test(tc, startup_unknown_directive);
	tcase_add_test(tc, startup_missing_users_file);
	tcase_add_test(tc, startup_bad_auth_threads);
	tcase_add_test(tc, startup_invalid_users_file_exits_2);
}
