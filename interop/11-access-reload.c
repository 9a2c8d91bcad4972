/*
 * 11-access-reload.c: reloads on SIGHUP, and invalid files at start-up.
 */
#include "config.h"

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

/* ---- warrenctl reload and the control socket ---- */

/* warrenctl reload for the group's broker: its data directory names the socket. */
static int ctl_reload(struct ctl_run *r)
{
	return warrenctl(r, CTL("reload", "--data-dir", broker.data));
}

/* A permission change through warrenctl: reported, applied to the open connection, nobody dropped. */
START_TEST(warrenctl_reload_applies_permissions)
{
	struct watcher w;
	struct ctl_run r;
	conn_t c;

	SKIP_IN_ORACLE();
	w = watch("carol");
	c = as("alice");
	declare_queue(c, 1, "q-before-ctl");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice '' .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\n");
	ck_assert_msg(ctl_reload(&r) == 0, "warrenctl reload: %d, stderr: %s", r.status, r.err);
	ck_assert_str_eq(r.out,
	    "reloaded: 3 users, 1 vhosts\n"
	    "vhost '/': permissions of 'alice' '.*' '.*' '.*' -> '' '.*' '.*'\n");
	ck_assert_str_eq(r.err, "");
	amqp_queue_declare(c, 1, B("q-after-ctl"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-after-ctl", "alice"));
	still_delivers(&w, "carol was not disturbed");
	client_close(c);
	client_close(w.c);
	/* SIGHUP does the same, and a reload that changes nothing says so */
	reload(true);
	ck_assert_int_eq(ctl_reload(&r), 0);
	ck_assert_str_eq(r.out, "reloaded: 3 users, 1 vhosts\nno changes\n");
}
END_TEST

/* An invalid vhost file: exit 1, FILE:LINE: reason on stderr, the old configuration stays. */
START_TEST(warrenctl_reload_invalid_file_rejected)
{
	struct ctl_run r;
	conn_t c;

	SKIP_IN_ORACLE();
	put_file("users", "alice:{H}\nbob:{H}\ncarol:{H}\ndave:{H}\n");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions bob .* .* .*\n"
	    "permissions carol .* .* .*\npermissions dave .* '[a-' .*\n");
	ck_assert_int_eq(ctl_reload(&r), 1);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(
	    strncmp(r.err, "reload refused, the configuration in force stays\n", 49) == 0 &&
	        strstr(r.err,
	            fmt("\n%s/vhosts/default.vhost:5: bad write regular expression", files)) !=
	            NULL,
	    "stderr: %s", r.err);
	check_rejected(fmt("%s/vhosts/default.vhost:5: ", files));
	login_refused("dave", PASSWORD);
	c = as("bob");
	alive(c, 2);
	client_close(c);
}
END_TEST

/* A user who loses the vhost is closed with 320, and the report counts it. */
START_TEST(warrenctl_reload_reports_closed_connections)
{
	struct ctl_run r;
	conn_t b;

	SKIP_IN_ORACLE();
	b = as("bob");
	put_file("users", "alice:{H}\nbob:{H}\ncarol:{H}\neve:{H}\n");
	put_file("vhosts/default.vhost",
	    "vhost /\npermissions alice .* .* .*\npermissions carol .* .* .*\n"
	    "permissions eve '^eve' '^eve' '^eve'\n");
	ck_assert_msg(ctl_reload(&r) == 0, "stderr: %s", r.err);
	ck_assert_str_eq(r.out,
	    "reloaded: 4 users, 1 vhosts\n"
	    "user 'eve' added\n"
	    "vhost '/': permissions of 'bob' removed\n"
	    "vhost '/': permissions of 'eve' added: '^eve' '^eve' '^eve'\n"
	    "1 connection closed with 320 CONNECTION_FORCED (no access to their vhost any more)\n");
	expect_connection_close(
	    b, 320, "CONNECTION_FORCED - user 'bob' may no longer use vhost '/'");
	client_drop(b);
}
END_TEST

/* The socket is the broker user's alone; garbage gets an error line and the socket lives on. */
START_TEST(control_socket_hostile_input)
{
	static char big[100000];
	struct stat st;
	struct ctl_run r;
	const char *a;
	conn_t c;

	SKIP_IN_ORACLE();
	ck_assert_int_eq(lstat(control_path(), &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	a = control_talk(control_connect(), "frobnicate\n", 11);
	ck_assert_str_eq(
	    a, "error\nunknown command 'frobnicate' (the commands are: reload, api)\n");
	a = control_talk(control_connect(), "\x01\xff\x7f reload\n", 11);
	ck_assert_str_eq(
	    a, "error\nunknown command '??? reload' (the commands are: reload, api)\n");
	a = control_talk(control_connect(), "rel\0oad\n", 8);
	ck_assert_str_eq(a, "error\na NUL byte in the command\n");
	a = control_talk(control_connect(), "\n", 1);
	ck_assert_str_eq(a, "error\nunknown command '' (the commands are: reload, api)\n");
	memset(big, 'x', sizeof(big)); /* no newline at all */
	a = control_talk(control_connect(), big, sizeof(big));
	ck_assert_str_eq(a, "error\nline too long\n");
	big[5000] = '\n'; /* longer than a command line may be (4,096 bytes) */
	a = control_talk(control_connect(), big, 5001);
	ck_assert_str_eq(a, "error\nline too long\n");
	/* a half line, then the client goes: nothing to answer, nothing breaks */
	close(control_connect());
	{
		int fd = control_connect();

		ck_assert_int_eq(write(fd, "relo", 4), 4);
		close(fd);
	}
	/* CRLF is fine; the broker still reloads and serves */
	a = control_talk(control_connect(), "reload\r\n", 8);
	ck_assert_msg(strncmp(a, "ok\nreloaded: ", 13) == 0, "%s", a);
	ck_assert_int_eq(ctl_reload(&r), 0);
	c = as("alice");
	alive(c, 2);
	client_close(c);
}
END_TEST

/*
 * Clients that connect and never send: a few hold the socket's slots (the rest are closed at
 * once), the event loop is not held up, and each is closed when its time is up (10 s).
 */
START_TEST(control_socket_silent_clients)
{
	int fds[8], extra, i;
	char byte;
	conn_t c;

	SKIP_IN_ORACLE();
	for (i = 0; i < 8; i++)
		fds[i] = control_connect();
	/* one more than the broker serves at once: closed without a word */
	extra = control_connect();
	ck_assert_str_eq(control_talk(extra, "reload\n", 7), "");
	c = as("alice"); /* AMQP goes on meanwhile */
	alive(c, 2);
	client_close(c);
	for (i = 0; i < 8; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };

		ck_assert_msg(poll(&p, 1, 15000) == 1, "a silent control client was kept > 15 s");
		ck_assert_int_eq(read(fds[i], &byte, 1), 0);
		close(fds[i]);
	}
	ck_assert_str_eq(control_talk(control_connect(), "reload\n", 7),
	    "ok\nreloaded: 3 users, 1 vhosts\nno changes\n");
}
END_TEST

/* ---- invalid files at start-up ---- */

/* The exit status of the last startup_fails run. */
static int last_exit_status;

/*
 * Start warrend on these files: it must exit non-zero within the bound and say where (file, a
 * name in the files directory, and line, or 0 for none) and why (reason) on stderr. The main
 * file names the users file and the vhost directory, then holds extra; or, when whole is not
 * NULL, holds whole and nothing else.
 */
static void startup_fails_in(const char *users, const struct vfile *v, const char *extra,
    const char *whole, const char *file, int line, const char *reason)
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
	if (whole != NULL)
		snprintf(conf, sizeof(conf), "%s", whole);
	else
		snprintf(conf, sizeof(conf), "users_file = %s/users\nvhost_dir = %s/vhosts\n%s",
		    files, files, extra != NULL ? extra : "");
	put_file("warren.conf", conf);
	ck_assert_int_eq(mkdir(fmt("%s/data", files), 0700), 0);
	if ((pid = fork()) == 0) {
		fd = open(fmt("%s/stderr", files), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(WARREND_PATH, "warrend", "--config", fmt("%s/warren.conf", files), "--listen",
		    "127.0.0.1:0", "--management-listen", "none", "--prometheus-listen", "none",
		    "--data-dir", fmt("%s/data", files), (char *)NULL);
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

static void startup_fails(const char *users, const struct vfile *v, const char *extra,
    const char *file, int line, const char *reason)
{
	startup_fails_in(users, v, extra, NULL, file, line, reason);
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

/* sasldb keeps passwords in clear: no configuration can select it. */
START_TEST(startup_sasldb_refused)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n", ok_vhost, "password_backend = sasldb\n", "warren.conf", 3,
	    "sasldb keeps passwords in clear");
}
END_TEST

START_TEST(startup_saslauthd_path_too_long)
{
	char extra[300];

	SKIP_IN_ORACLE();
	snprintf(extra, sizeof(extra), "saslauthd_path = /%0200d\n", 0);
	startup_fails("alice:{H}\n", ok_vhost, extra, "warren.conf", 3, "saslauthd_path must be");
}
END_TEST

/* A users file that names saslauthd while the backend is internal. */
START_TEST(startup_saslauthd_user_without_backend)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\nerin:saslauthd\n", ok_vhost, NULL, "users", 2,
	    "the password is checked by saslauthd, but password_backend is not saslauthd");
}
END_TEST

#ifdef HAVE_SASL
/* Permissions come from the vhost files: saslauthd without them is refused. */
START_TEST(startup_saslauthd_needs_vhost_dir)
{
	SKIP_IN_ORACLE();
	startup_fails_in("alice:{H}\n", ok_vhost, NULL,
	    fmt("users_file = %s/users\n\npassword_backend = saslauthd\n", files), "warren.conf", 3,
	    "saslauthd needs users_file and vhost_dir");
}
END_TEST
#else
/* A build without libsasl2 refuses the saslauthd backend with FILE:LINE: reason. */
START_TEST(startup_saslauthd_not_built)
{
	SKIP_IN_ORACLE();
	startup_fails("alice:{H}\n", ok_vhost, "password_backend = saslauthd\n", "warren.conf", 3,
	    "warrend was built without Cyrus SASL (libsasl2)");
}
END_TEST
#endif

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
	tcase_add_test(
	    group(s, "warrenctl-reload", reload_start, 30), warrenctl_reload_applies_permissions);
	tcase_add_test(group(s, "warrenctl-reload-bad", reload_start, 30),
	    warrenctl_reload_invalid_file_rejected);
	tcase_add_test(group(s, "warrenctl-reload-320", reload_start, 30),
	    warrenctl_reload_reports_closed_connections);
	tc = group(s, "control-socket", reload_start, 40);
	tcase_add_test(tc, control_socket_hostile_input);
	tcase_add_test(tc, control_socket_silent_clients);

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
	tcase_add_test(tc, startup_sasldb_refused);
	tcase_add_test(tc, startup_saslauthd_path_too_long);
	tcase_add_test(tc, startup_saslauthd_user_without_backend);
#ifdef HAVE_SASL
	tcase_add_test(tc, startup_saslauthd_needs_vhost_dir);
#else
	tcase_add_test(tc, startup_saslauthd_not_built);
#endif
}
