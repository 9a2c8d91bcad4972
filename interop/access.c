/*
 * access.c: what the 11-access test files share: the files a group's broker reads, starting and
 * stopping it, logins by hand (to see refusals exactly), and the expected reply texts.
 */
#include "interop/access.h"

/* Hashes of PASSWORD, PASSWORD2 and "guest", made once by main() with warrenctl. */
char hash_secret[300], hash_changed[300], hash_guest[300];

/* The directory holding the running group's users file and vhosts/ (not the broker's dir). */
char files[128];
/* A group's warrend did not exit 0 on SIGTERM. */
bool broker_bad;

/* ---- files ---- */

/* The hash a token at p stands for ({H}, {H2}, {HG}), and the token's length; NULL if none. */
static const char *token(const char *p, size_t *len)
{
	if (strncmp(p, "{H}", 3) == 0)
		return *len = 3, hash_secret;
	if (strncmp(p, "{H2}", 4) == 0)
		return *len = 4, hash_changed;
	if (strncmp(p, "{HG}", 4) == 0)
		return *len = 4, hash_guest;
	return NULL;
}

/* tmpl with {H}, {H2} and {HG} replaced by the hashes of PASSWORD, PASSWORD2 and "guest". */
static char *expand(const char *tmpl)
{
	const char *p, *h;
	size_t need = 1, n = 0, k;
	char *out;

	for (p = tmpl; *p != '\0';)
		if ((h = token(p, &k)) != NULL)
			need += strlen(h), p += k;
		else
			need++, p++;
	out = malloc(need);
	ck_assert_ptr_nonnull(out);
	for (p = tmpl; *p != '\0';)
		if ((h = token(p, &k)) != NULL) {
			memcpy(out + n, h, strlen(h));
			n += strlen(h);
			p += k;
		} else {
			out[n++] = *p++;
		}
	out[n] = '\0';
	return out;
}

/* Write files/name (hashes expanded) through a rename, so the broker never reads half of it. */
void put_file(const char *name, const char *tmpl)
{
	char path[256], tmp[300];
	char *text = expand(tmpl);
	const char *slash = strrchr(name, '/');
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", files, name);
	/* A dot file: the broker ignores it in the vhost directory. */
	snprintf(tmp, sizeof(tmp), "%s/%.*s.tmp-%s", files,
	    slash != NULL ? (int)(slash - name + 1) : 0, name, slash != NULL ? slash + 1 : name);
	f = fopen(tmp, "w");
	ck_assert_msg(f != NULL, "%s: %s", tmp, strerror(errno));
	ck_assert(fputs(text, f) >= 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_msg(rename(tmp, path) == 0, "rename %s: %s", path, strerror(errno));
	free(text);
}

void drop_file(const char *name)
{
	ck_assert_int_eq(unlink(fmt("%s/%s", files, name)), 0);
}

/* A fresh files directory with this users file and these vhost files (NULL name ends). */
static void files_create(const char *users, const struct vfile *v)
{
	char tmpl[] = "/tmp/warren-acl-XXXXXX";

	ck_assert_msg(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(files, sizeof(files), "%s", tmpl);
	ck_assert_int_eq(mkdir(fmt("%s/vhosts", files), 0700), 0);
	if (users != NULL)
		put_file("users", users);
	for (; v != NULL && v->name != NULL; v++)
		put_file(fmt("vhosts/%s", v->name), v->text);
}

/* Remove a directory and what is in it, depth levels of subdirectories deep. */
static void remove_dir(const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *e;
	struct stat st;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char sub[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
			remove_dir(sub, depth - 1);
		else
			unlink(sub);
	}
	closedir(d);
	rmdir(path);
}

static void files_remove(void)
{
	if (files[0] != '\0')
		remove_dir(files, 2);
	files[0] = '\0';
}

/* ---- the group's broker ---- */

/* Write the files and start warrend on them, with extra lines for warren.conf. */
void spawn_with(const char *users, const struct vfile *v, const char *extra)
{
	char conf[1024], err[256];

	if (getenv("WARREN_TEST_BROKER") != NULL) /* RabbitMQ: the tests skip themselves */
		return;
	files_create(users, v);
	snprintf(conf, sizeof(conf), "users_file = %s/users\nvhost_dir = %s/vhosts\n%s", files,
	    files, extra != NULL ? extra : "");
	if (broker_spawn_config(&broker, conf, err, sizeof(err)) != 0) {
		broker_print_log(&broker, 40);
		ck_abort_msg("cannot start warrend: %s", err);
	}
}

void group_stop(void)
{
	int status;

	if (broker.pid != 0) {
		if (broker_terminate(&broker, 10000, &status) != 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(
			    stderr, "warrend ended badly on SIGTERM (wait status 0x%x)\n", status);
			broker_print_log(&broker, 60);
			broker_bad = true;
		} else if (getenv("WARREN_TEST_SHOW_LOG") != NULL) {
			broker_print_log(&broker, 200);
		}
		broker_cleanup(&broker);
	}
	files_remove();
}

/* The start-up tests' fixture: no broker, a directory for their files. */
void startup_start(void)
{
	if (getenv("WARREN_TEST_BROKER") == NULL)
		files_create(NULL, NULL);
}

/* The first line of the broker's log containing needle, or NULL (static storage). */
const char *log_line(const char *needle)
{
	static char line[4096];
	FILE *f = fopen(broker.log, "r");

	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL) {
			fclose(f);
			return line;
		}
	fclose(f);
	return NULL;
}

/*
 * SIGHUP, then wait for the broker's answer in its log: "reloaded: ..." or "reload refused ...",
 * which it writes when the reload has been applied (or rejected) and every check is done.
 */
void reload(bool want_ok)
{
	int ok0 = broker_log_count(&broker, "reloaded: "),
	    bad0 = broker_log_count(&broker, "reload refused");
	int64_t deadline = now_ms() + 4 * WAIT_MS; /* a loaded 2-core machine can be slow */

	ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
	for (;;) {
		bool ok = broker_log_count(&broker, "reloaded: ") > ok0,
		     bad = broker_log_count(&broker, "reload refused") > bad0;

		if (ok || bad) {
			ck_assert_msg(ok == want_ok, "reload %s, expected it %s",
			    ok ? "applied" : "refused", want_ok ? "applied" : "refused");
			return;
		}
		ck_assert_msg(now_ms() < deadline, "no reload in the log within %d ms of SIGHUP",
		    4 * WAIT_MS);
		sleep_ms(10);
	}
}

/* ---- warrenctl and the control socket ---- */

/* Read fd to EOF into buf (NUL-terminated), within WAIT_MS: the bytes read, or -1 on timeout. */
static long read_all(int fd, char *buf, size_t cap)
{
	int64_t deadline = now_ms() + 4 * WAIT_MS;
	size_t have = 0;
	ssize_t n;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - now_ms();

		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return -1;
		n = read(fd, buf + have, cap - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (have += (size_t)n) == cap - 1)
			break;
	}
	buf[have] = '\0';
	return (long)have;
}

int warrenctl(struct ctl_run *r, const char *const *args)
{
	const char *argv[16] = { WARRENCTL_PATH };
	int out[2], err[2], status, i;
	pid_t pid;

	for (i = 0; args[i] != NULL && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* warrenctl's answers are short: reading one pipe to EOF cannot block the other */
	ck_assert_msg(read_all(out[0], r->out, sizeof(r->out)) >= 0, "warrenctl: no EOF on stdout");
	ck_assert_msg(read_all(err[0], r->err, sizeof(r->err)) >= 0, "warrenctl: no EOF on stderr");
	close(out[0]);
	close(err[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return r->status;
}

const char *control_path(void)
{
	return fmt("%s/control.sock", broker.data);
}

int control_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", control_path());
	ck_assert_msg(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s: %s",
	    sa.sun_path, strerror(errno));
	return fd;
}

const char *control_talk(int fd, const void *bytes, size_t len)
{
	static char answer[4096];
	size_t at = 0;
	ssize_t n;

	while (at < len) {
		n = write(fd, (const char *)bytes + at, len - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* the broker may close early, on a line too long */
			break;
		at += (size_t)n;
	}
	ck_assert_msg(read_all(fd, answer, sizeof(answer)) >= 0,
	    "the control socket neither answered nor closed within %d ms", 4 * WAIT_MS);
	close(fd);
	return answer;
}

/* ---- watchers ---- */

struct watcher watch(const char *user)
{
	struct watcher w = { .c = as(user) };

	snprintf(w.q, sizeof(w.q), "%s", uniq("q-watch"));
	declare_queue(w.c, 1, w.q);
	consume(w.c, 1, w.q, NULL, true);
	return w;
}

void still_delivers(struct watcher *w, const char *body)
{
	publish(w->c, 1, "", w->q, body);
	expect_deliver(w->c, 1, body);
}

/* ---- logins ---- */

static int wait_frame(conn_t c, amqp_frame_t *f)
{
	struct timeval tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };

	return amqp_simple_wait_frame_noblock(c, f, &tv);
}

/* Record a connection.close, answer close-ok, and see the broker close the socket. */
static void take_close(conn_t c, const amqp_frame_t *f, struct answer *a)
{
	const amqp_connection_close_t *x = f->payload.method.decoded;
	amqp_connection_close_ok_t ok = { 0 };
	amqp_frame_t g;
	int st;

	a->code = x->reply_code;
	a->len = x->reply_text.len < sizeof(a->text) ? x->reply_text.len : sizeof(a->text) - 1;
	memcpy(a->text, x->reply_text.bytes, a->len);
	a->text[a->len] = '\0';
	a->class_id = x->class_id;
	a->method_id = x->method_id;
	amqp_send_method(c, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
	st = wait_frame(c, &g);
	ck_assert_msg(st != AMQP_STATUS_OK && st != AMQP_STATUS_TIMEOUT,
	    "the broker kept the socket open after connection.close-ok");
}

/* One field of an AMQPLAIN response: shortstr key, 'S', longstr value. */
static void put_field(uint8_t *b, size_t *n, const char *key, const char *val)
{
	size_t k = strlen(key), v = strlen(val);

	b[(*n)++] = (uint8_t)k;
	memcpy(b + *n, key, k);
	*n += k;
	b[(*n)++] = 'S';
	b[(*n)++] = (uint8_t)(v >> 24);
	b[(*n)++] = (uint8_t)(v >> 16);
	b[(*n)++] = (uint8_t)(v >> 8);
	b[(*n)++] = (uint8_t)v;
	memcpy(b + *n, val, v);
	*n += v;
}

/*
 * The handshake step by step with rabbitmq-c (which has no AMQPLAIN and stops at the first
 * error): the open connection, or NULL with the broker's close (or the silent close) in *a.
 */
conn_t handshake(const struct login *l, struct answer *a)
{
	const char *user = l->user, *pw = l->password != NULL ? l->password : PASSWORD;
	const char *mech = l->mechanism != NULL ? l->mechanism : "PLAIN";
	amqp_table_entry_t caps[] = { ent_bool(
	    "authentication_failure_close", !l->no_failure_close) };
	amqp_table_t captable = { 1, caps };
	amqp_table_t props =
	    TABLE(ent_str("product", "warren-interop"), ent_table("capabilities", captable));
	struct timeval tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };
	amqp_connection_start_ok_t so;
	amqp_connection_tune_ok_t to;
	amqp_connection_open_t op;
	const amqp_connection_tune_t *t;
	uint8_t resp[1100];
	size_t n = 0;
	amqp_frame_t f;
	conn_t c = amqp_new_connection();
	amqp_socket_t *s;
	int st;

	memset(a, 0, sizeof(*a));
	ck_assert_uint_le(strlen(user) + strlen(pw), 1000);
	ck_assert_ptr_nonnull(c);
	s = amqp_tcp_socket_new(c);
	ck_assert_ptr_nonnull(s);
	st = amqp_socket_open_noblock(s, broker.host, broker.port, &tv);
	ck_assert_msg(st == AMQP_STATUS_OK, "connect: %s", amqp_error_string2(st));
	ck_assert_int_eq(amqp_send_header(c), AMQP_STATUS_OK);
	ck_assert_int_eq(wait_frame(c, &f), AMQP_STATUS_OK);
	ck_assert_msg(f.frame_type == AMQP_FRAME_METHOD &&
	        f.payload.method.id == AMQP_CONNECTION_START_METHOD,
	    "expected connection.start");
	if (strcmp(mech, "AMQPLAIN") == 0) {
		put_field(resp, &n, "LOGIN", user);
		put_field(resp, &n, "PASSWORD", pw);
	} else {
		resp[n++] = 0;
		memcpy(resp + n, user, strlen(user));
		n += strlen(user);
		resp[n++] = 0;
		memcpy(resp + n, pw, strlen(pw));
		n += strlen(pw);
	}
	so = (amqp_connection_start_ok_t){ .client_properties = props,
		.mechanism = B(mech),
		.response = { n, resp },
		.locale = B("en_US") };
	ck_assert_int_eq(amqp_send_method(c, 0, AMQP_CONNECTION_START_OK_METHOD, &so), 0);
	st = wait_frame(c, &f);
	ck_assert_msg(st != AMQP_STATUS_TIMEOUT, "no answer to start-ok within %d ms", WAIT_MS);
	if (st != AMQP_STATUS_OK) {
		a->code = -1;
		goto closed;
	}
	ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
	if (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		take_close(c, &f, a);
		goto closed;
	}
	ck_assert_msg(f.payload.method.id == AMQP_CONNECTION_TUNE_METHOD,
	    "expected connection.tune, got %08x", f.payload.method.id);
	t = f.payload.method.decoded;
	to = (amqp_connection_tune_ok_t){ t->channel_max, t->frame_max, 0 };
	amqp_tune_connection(c, t->channel_max, (int)t->frame_max, 0);
	ck_assert_int_eq(amqp_send_method(c, 0, AMQP_CONNECTION_TUNE_OK_METHOD, &to), 0);
	op = (amqp_connection_open_t){ .virtual_host = B(l->vhost != NULL ? l->vhost : "/"),
		.capabilities = amqp_empty_bytes };
	ck_assert_int_eq(amqp_send_method(c, 0, AMQP_CONNECTION_OPEN_METHOD, &op), 0);
	st = wait_frame(c, &f);
	ck_assert_msg(
	    st == AMQP_STATUS_OK, "no answer to connection.open: %s", amqp_error_string2(st));
	ck_assert_int_eq(f.frame_type, AMQP_FRAME_METHOD);
	if (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
		take_close(c, &f, a);
		goto closed;
	}
	ck_assert_msg(f.payload.method.id == AMQP_CONNECTION_OPEN_OK_METHOD,
	    "expected connection.open-ok, got %08x", f.payload.method.id);
	{
		struct timeval rpc = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };

		amqp_set_rpc_timeout(c, &rpc);
	}
	return c;
closed:
	amqp_destroy_connection(c);
	return NULL;
}

/* The login must be refused with connection.close code/text from class.method cls.mth. */
void refused(const struct login *l, int code, const char *text, int cls, int mth)
{
	struct answer a;
	conn_t c = handshake(l, &a);

	if (c != NULL) {
		client_close(c);
		ck_abort_msg("user '%s' opened vhost '%s'; expected %d", l->user,
		    l->vhost != NULL ? l->vhost : "/", code);
	}
	ck_assert_msg(a.code > 0, "the socket closed without connection.close; expected %d", code);
	check_reply("connection.close", a.code, a.text, a.len, code, text);
	ck_assert_int_eq(a.class_id, cls);
	ck_assert_int_eq(a.method_id, mth);
}

void login_refused(const char *user, const char *password)
{
	refused(&(struct login){ .user = user, .password = password }, 403, LOGIN_REFUSED, 0, 0);
}

void open_refused(const char *user, const char *vhost, const char *text)
{
	refused(&(struct login){ .user = user, .vhost = vhost }, 530, text, 10, 40);
}

/* Log in as user (password PASSWORD) to vhost; the test fails if that does not work. */
conn_t as_in(const char *user, const char *vhost)
{
	struct client_opts o = { .user = user, .password = PASSWORD, .vhost = vhost };

	return client_connect_opts(&o);
}

/* Log in as user to vhost with channel 1 open. */
conn_t user_in(const char *user, const char *vhost)
{
	conn_t c = as_in(user, vhost);

	client_open(c, 1);
	return c;
}

conn_t as(const char *user)
{
	return user_in(user, "/");
}

/* A round trip on a new channel: the connection works. */
void alive(conn_t c, amqp_channel_t ch)
{
	client_open(c, ch);
	amqp_exchange_declare(c, ch, B("amq.direct"), B("direct"), 1, 0, 0, 0, amqp_empty_table);
	client_ok(c, "passive exchange.declare");
	client_close_channel(c, ch);
}

/* The last RPC on ch was refused with 403 and text; the next channel works. */
void denied(conn_t c, amqp_channel_t ch, const char *text)
{
	rpc_channel_error(c, ch, 403, text);
	alive(c, ch + 1);
}

/* RabbitMQ's refusal text for a queue or exchange in vhost "/". */
const char *no_access(const char *kind, const char *name, const char *user)
{
	return fmt("ACCESS_REFUSED - access to %s '%s' in vhost '/' refused for user '%s'", kind,
	    name, user);
}

bool exchange_exists(conn_t c, amqp_channel_t ch, const char *x)
{
	amqp_exchange_declare(c, ch, B(x), B("direct"), 1, 0, 0, 0, amqp_empty_table);
	if (amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL)
		return true;
	rpc_channel_error(c, ch, 404, NULL);
	client_open(c, ch);
	return false;
}

/* The hash of password from warrenctl hash-password, into out. */
void make_hash(const char *password, char *out, size_t len)
{
	FILE *p =
	    popen(fmt("printf '%%s\\n' '%s' | '%s' hash-password", password, WARRENCTL_PATH), "r");

	if (p == NULL || fgets(out, (int)len, p) == NULL || pclose(p) != 0 ||
	    strncmp(out, "$scrypt$", 8) != 0) {
		fprintf(stderr, "11-access: %s hash-password failed\n", WARRENCTL_PATH);
		exit(EXIT_FAILURE);
	}
	out[strcspn(out, "\n")] = '\0';
}

TCase *group(Suite *s, const char *name, void (*start)(void), double timeout)
{
	return group_with_stop(s, name, start, group_stop, timeout);
}

TCase *group_with_stop(
    Suite *s, const char *name, void (*start)(void), void (*stop)(void), double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}
