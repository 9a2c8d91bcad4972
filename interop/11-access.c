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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"

#ifndef WARRENCTL_PATH
#error "build with -DWARRENCTL_PATH='\"/path/to/warrenctl\"'"
#endif

/* These tests start their own warrend, so they cannot run against RabbitMQ. */
#define SKIP_IN_ORACLE()                                                                        \
	do {                                                                                    \
		if (getenv("WARREN_TEST_BROKER") != NULL) {                                     \
			harness_skip(tcase_name(), "Warren only (see interop/DIFFERENCES.md)"); \
			return;                                                                 \
		}                                                                               \
	} while (0)

#define PASSWORD "secret"
#define PASSWORD2 "changed"
#define LOGIN_REFUSED                                                                           \
	"ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details " \
	"see the broker logfile."
#define STORM_CLIENTS 100

/* Hashes of PASSWORD, PASSWORD2 and "guest", made once by main() with warrenctl. */
static char hash_secret[300], hash_changed[300], hash_guest[300];

/* The directory holding the running group's users file and vhosts/ (not the broker's dir). */
static char files[128];
/* A group's warrend did not exit 0 on SIGTERM. */
static bool broker_bad;

/* ---- files ---- */

struct vfile {
	const char *name, *text;
};

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
static void put_file(const char *name, const char *tmpl)
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

static void drop_file(const char *name)
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
static void spawn_with(const char *users, const struct vfile *v, const char *extra)
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

static void group_stop(void)
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
static void startup_start(void)
{
	if (getenv("WARREN_TEST_BROKER") == NULL)
		files_create(NULL, NULL);
}

/* How many lines of the broker's log contain needle. */
static int log_count(const char *needle)
{
	FILE *f = fopen(broker.log, "r");
	char line[4096];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(f);
	return n;
}

/* The first line of the broker's log containing needle, or NULL (static storage). */
static const char *log_line(const char *needle)
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
static void reload(bool want_ok)
{
	int ok0 = log_count("reloaded: "), bad0 = log_count("reload refused");
	int64_t deadline = now_ms() + 4 * WAIT_MS; /* a loaded 2-core machine can be slow */

	ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
	for (;;) {
		bool ok = log_count("reloaded: ") > ok0, bad = log_count("reload refused") > bad0;

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

/* ---- logins ---- */

struct login {
	const char *user, *password, *vhost;
	const char *mechanism; /* "PLAIN" (NULL) or "AMQPLAIN" */
	bool no_failure_close; /* do not announce authentication_failure_close */
};

/* What the broker answered a handshake with. */
struct answer {
	int code; /* 0: open-ok; -1: the socket closed without connection.close */
	char text[512];
	size_t len;
	uint16_t class_id, method_id;
};

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
static conn_t handshake(const struct login *l, struct answer *a)
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
static void refused(const struct login *l, int code, const char *text, int cls, int mth)
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

static void login_refused(const char *user, const char *password)
{
	refused(&(struct login){ .user = user, .password = password }, 403, LOGIN_REFUSED, 0, 0);
}

static void open_refused(const char *user, const char *vhost, const char *text)
{
	refused(&(struct login){ .user = user, .vhost = vhost }, 530, text, 10, 40);
}

/* Log in as user (password PASSWORD) to vhost; the test fails if that does not work. */
static conn_t as_in(const char *user, const char *vhost)
{
	struct client_opts o = { .user = user, .password = PASSWORD, .vhost = vhost };

	return client_connect_opts(&o);
}

/* Log in as user to vhost with channel 1 open. */
static conn_t user_in(const char *user, const char *vhost)
{
	conn_t c = as_in(user, vhost);

	client_open(c, 1);
	return c;
}

static conn_t as(const char *user)
{
	return user_in(user, "/");
}

/* A round trip on a new channel: the connection works. */
static void alive(conn_t c, amqp_channel_t ch)
{
	client_open(c, ch);
	amqp_exchange_declare(c, ch, B("amq.direct"), B("direct"), 1, 0, 0, 0, amqp_empty_table);
	client_ok(c, "passive exchange.declare");
	client_close_channel(c, ch);
}

/* The last RPC on ch was refused with 403 and text; the next channel works. */
static void denied(conn_t c, amqp_channel_t ch, const char *text)
{
	rpc_channel_error(c, ch, 403, text);
	alive(c, ch + 1);
}

/* RabbitMQ's refusal text for a queue or exchange in vhost "/". */
static const char *no_access(const char *kind, const char *name, const char *user)
{
	return fmt("ACCESS_REFUSED - access to %s '%s' in vhost '/' refused for user '%s'", kind,
	    name, user);
}

static bool exchange_exists(conn_t c, amqp_channel_t ch, const char *x)
{
	amqp_exchange_declare(c, ch, B(x), B("direct"), 1, 0, 0, 0, amqp_empty_table);
	if (amqp_get_rpc_reply(c).reply_type == AMQP_RESPONSE_NORMAL)
		return true;
	rpc_channel_error(c, ch, 404, NULL);
	client_open(c, ch);
	return false;
}

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

/* ---- the permission table ---- */

static const char matrix_users[] = "admin:{H}\n"
                                   "conf:{H}\n"
                                   "writer:{H}\n"
                                   "reader:{H}\n"
                                   "binder:{H}\n"
                                   "nocfg:{H}\n"
                                   "none:{H}\n"
                                   "gen:{H}\n"
                                   "aeuser:{H}\n"
                                   "dlxuser:{H}\n"
                                   "defpub:{H}\n";
/*
 * Resources: queues q-a, q-b, exchanges x-a, x-a2, x-b, x-c (direct). Each user's expressions
 * reach the "a" side only, for one permission (or two, for binds).
 */
static const struct vfile matrix_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions admin .* .* .*\n"
	    "permissions conf '^(q|x)-a' '' ''\n"
	    "permissions writer '' '^(q|x)-a' ''\n"
	    "permissions reader '' '' '^(q|x)-a'\n"
	    "permissions binder '' '^(q|x)-a' '^(q|x)-a'\n"
	    "permissions nocfg '' .* .*\n"
	    "permissions none '' '' ''\n"
	    "permissions gen '^amq\\.gen-' '' ''\n"
	    "permissions aeuser '^x-ae' '^x-a$' '^x-ae'\n"
	    "permissions dlxuser '^q-dlx' '^x-a$' '^q-dlx'\n"
	    "permissions defpub '' '^amq\\.default$' ''\n" },
	{ NULL, NULL },
};

static void matrix_start(void)
{
	spawn_with(matrix_users, matrix_vhosts, NULL);
}

/* The resources every matrix test expects (idempotent). */
static void matrix_setup(void)
{
	conn_t a = as("admin");

	declare_queue(a, 1, "q-a");
	declare_queue(a, 1, "q-b");
	declare_exchange(a, 1, "x-a", "direct");
	declare_exchange(a, 1, "x-a2", "direct");
	declare_exchange(a, 1, "x-b", "direct");
	declare_exchange(a, 1, "x-c", "direct");
	client_close(a);
}

/* A queue of admin's with one message in it. */
static void admin_queue_with(const char *q, const char *body)
{
	conn_t a = as("admin");

	declare_queue(a, 1, q);
	publish_confirmed(a, 1, "", q, NULL, body);
	client_close(a);
}

/* exchange.declare: configure on the exchange. */

START_TEST(exchange_declare_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	declare_exchange(c, 1, uniq("x-a-decl"), "direct");
	client_close(c);
}
END_TEST

START_TEST(exchange_declare_denied_403)
{
	const char *x = uniq("x-b-decl");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_declare(c, 1, B(x), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("exchange", x, "conf"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 10);
	client_close(c);
	a = as("admin");
	ck_assert(!exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

/* Write and read on a name are not configure. */
START_TEST(exchange_declare_needs_configure_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("nocfg");
	amqp_exchange_declare(c, 1, B("x-a"), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a", "nocfg"));
	client_close(c);
}
END_TEST

/* Declaring an exchange that exists checks configure all the same. */
START_TEST(exchange_declare_existing_checked_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_declare(c, 1, B("x-b"), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "conf"));
	client_close(c);
}
END_TEST

START_TEST(exchange_declare_passive_needs_nothing)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("none");
	amqp_exchange_declare(c, 1, B("x-b"), B("direct"), 1, 0, 0, 0, amqp_empty_table);
	client_ok(c, "passive exchange.declare x-b");
	client_close(c);
}
END_TEST

/* exchange.declare with alternate-exchange: read on the new exchange, write on the AE. */

START_TEST(exchange_declare_ae_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("aeuser");
	amqp_exchange_declare(c, 1, B(uniq("x-ae")), B("direct"), 0, 0, 0, 0,
	    TABLE(ent_str("alternate-exchange", "x-a")));
	client_ok(c, "exchange.declare with alternate-exchange x-a");
	client_close(c);
}
END_TEST

START_TEST(exchange_declare_ae_needs_write_on_ae_403)
{
	const char *x = uniq("x-ae");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("aeuser");
	amqp_exchange_declare(
	    c, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-b")));
	denied(c, 1, no_access("exchange", "x-b", "aeuser"));
	client_close(c);
	a = as("admin");
	ck_assert(!exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

/* conf may configure x-a-... but not read it: the read check on the new exchange comes first. */
START_TEST(exchange_declare_ae_needs_read_on_exchange_403)
{
	const char *x = uniq("x-a-ae");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_declare(
	    c, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-a")));
	denied(c, 1, no_access("exchange", x, "conf"));
	client_close(c);
}
END_TEST

/* The AE checks apply when the declare creates the exchange, not when it already exists. */
START_TEST(exchange_declare_ae_existing_needs_configure_only)
{
	const char *x = uniq("x-ae-old");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	amqp_exchange_declare(
	    a, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-b")));
	client_ok(a, "exchange.declare with alternate-exchange x-b");
	client_close(a);
	c = as("aeuser");
	amqp_exchange_declare(
	    c, 1, B(x), B("direct"), 0, 0, 0, 0, TABLE(ent_str("alternate-exchange", "x-b")));
	client_ok(c, "exchange.declare of an existing exchange with its AE");
	client_close(c);
}
END_TEST

/* exchange.delete: configure. */

START_TEST(exchange_delete_allowed)
{
	const char *x = uniq("x-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_exchange(a, 1, x, "fanout");
	c = as("conf");
	amqp_exchange_delete(c, 1, B(x), 0);
	client_ok(c, "exchange.delete");
	client_close(c);
	ck_assert(!exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

START_TEST(exchange_delete_denied_403)
{
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_exchange_delete(c, 1, B("x-b"), 0);
	denied(c, 1, no_access("exchange", "x-b", "conf"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 20);
	client_close(c);
	a = as("admin");
	ck_assert(exchange_exists(a, 1, "x-b"));
	client_close(a);
}
END_TEST

START_TEST(exchange_delete_needs_configure_403)
{
	const char *x = uniq("x-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_exchange(a, 1, x, "fanout");
	c = as("nocfg");
	amqp_exchange_delete(c, 1, B(x), 0);
	denied(c, 1, no_access("exchange", x, "nocfg"));
	client_close(c);
	ck_assert(exchange_exists(a, 1, x));
	client_close(a);
}
END_TEST

/* queue.declare: configure on the queue. */

START_TEST(queue_declare_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	declare_queue(c, 1, uniq("q-a-decl"));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_denied_403)
{
	const char *q = uniq("q-b-decl");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", q, "conf"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 10);
	client_close(c);
	a = as("admin");
	ck_assert(!queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

START_TEST(queue_declare_needs_configure_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("nocfg");
	amqp_queue_declare(c, 1, B("q-a"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-a", "nocfg"));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_existing_checked_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, B("q-b"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "conf"));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_passive_needs_nothing)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("none");
	ck_assert_uint_eq(queue_count(c, 1, "q-b"), 0);
	client_close(c);
}
END_TEST

/* A server-named queue is checked under its generated name, amq.gen-... */
START_TEST(queue_declare_server_named_allowed)
{
	amqp_queue_declare_ok_t *ok;
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("gen");
	ok = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	client_ok(c, "queue.declare \"\"");
	ck_assert_msg(ok->queue.len > 8 && memcmp(ok->queue.bytes, "amq.gen-", 8) == 0,
	    "server-named queue \"%.*s\"", (int)ok->queue.len, (char *)ok->queue.bytes);
	client_close(c);
}
END_TEST

START_TEST(queue_declare_server_named_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	denied(c, 1, "ACCESS_REFUSED - access to queue 'amq.gen-*");
	client_close(c);
}
END_TEST

/* queue.declare with x-dead-letter-exchange: read on the new queue, write on the DLX. */

START_TEST(queue_declare_dlx_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("dlxuser");
	declare_queue_args(c, 1, uniq("q-dlx"), TABLE(ent_str("x-dead-letter-exchange", "x-a")));
	client_close(c);
}
END_TEST

START_TEST(queue_declare_dlx_needs_write_on_dlx_403)
{
	const char *q = uniq("q-dlx");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("dlxuser");
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, TABLE(ent_str("x-dead-letter-exchange", "x-b")));
	denied(c, 1, no_access("exchange", "x-b", "dlxuser"));
	client_close(c);
	a = as("admin");
	ck_assert(!queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

/* conf may configure q-a-... but not read it: the read check on the queue comes first. */
START_TEST(queue_declare_dlx_needs_read_on_queue_403)
{
	const char *q = uniq("q-a-dlx");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, TABLE(ent_str("x-dead-letter-exchange", "x-a")));
	denied(c, 1, no_access("queue", q, "conf"));
	client_close(c);
}
END_TEST

/* queue.delete: configure. */

START_TEST(queue_delete_allowed)
{
	const char *q = uniq("q-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("conf");
	amqp_queue_delete(c, 1, B(q), 0, 0);
	client_ok(c, "queue.delete");
	client_close(c);
	ck_assert(!queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

START_TEST(queue_delete_denied_403)
{
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	amqp_queue_delete(c, 1, B("q-b"), 0, 0);
	denied(c, 1, no_access("queue", "q-b", "conf"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 40);
	client_close(c);
	a = as("admin");
	ck_assert(queue_exists(a, 1, "q-b"));
	client_close(a);
}
END_TEST

START_TEST(queue_delete_needs_configure_403)
{
	const char *q = uniq("q-a-del");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("nocfg");
	amqp_queue_delete(c, 1, B(q), 0, 0);
	denied(c, 1, no_access("queue", q, "nocfg"));
	client_close(c);
	ck_assert(queue_exists(a, 1, q));
	client_close(a);
}
END_TEST

/* queue.purge: read. */

START_TEST(queue_purge_allowed)
{
	const char *q = uniq("q-a-purge");
	amqp_queue_purge_ok_t *ok;
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "purged");
	c = as("reader");
	ok = amqp_queue_purge(c, 1, B(q));
	client_ok(c, "queue.purge");
	ck_assert_uint_eq(ok->message_count, 1);
	client_close(c);
}
END_TEST

START_TEST(queue_purge_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_queue_purge(c, 1, B("q-b"));
	denied(c, 1, no_access("queue", "q-b", "reader"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

/* Configure is not enough to purge. */
START_TEST(queue_purge_needs_read_403)
{
	const char *q = uniq("q-a-purge");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "kept");
	c = as("conf");
	amqp_queue_purge(c, 1, B(q));
	denied(c, 1, no_access("queue", q, "conf"));
	client_close(c);
	a = as("admin");
	ck_assert_uint_eq(queue_count(a, 1, q), 1);
	client_close(a);
}
END_TEST

/* queue.bind and queue.unbind: write on the queue, then read on the exchange. */

START_TEST(queue_bind_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	bind_queue(c, 1, "q-a", "x-a", uniq("k"));
	client_close(c);
}
END_TEST

START_TEST(queue_bind_needs_write_on_queue_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_queue_bind(c, 1, B("q-b"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "binder"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

START_TEST(queue_bind_needs_read_on_exchange_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_queue_bind(c, 1, B("q-a"), B("x-b"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	client_close(c);
}
END_TEST

/* Neither allowed: the write check on the queue comes first. */
START_TEST(queue_bind_checks_queue_first_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_queue_bind(c, 1, B("q-b"), B("x-c"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "binder"));
	client_close(c);
}
END_TEST

START_TEST(queue_unbind_allowed)
{
	const char *k = uniq("k");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	bind_queue(c, 1, "q-a", "x-a", k);
	amqp_queue_unbind(c, 1, B("q-a"), B("x-a"), B(k), amqp_empty_table);
	client_ok(c, "queue.unbind");
	client_close(c);
}
END_TEST

START_TEST(queue_unbind_needs_write_on_queue_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_queue_unbind(c, 1, B("q-a"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("queue", "q-a", "reader"));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 50);
	client_close(c);
}
END_TEST

START_TEST(queue_unbind_needs_read_on_exchange_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	amqp_queue_unbind(c, 1, B("q-a"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a", "writer"));
	client_close(c);
}
END_TEST

/* exchange.bind and exchange.unbind: write on the destination, then read on the source. */

START_TEST(exchange_bind_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-a2"), B("x-a"), B(uniq("k")), amqp_empty_table);
	client_ok(c, "exchange.bind x-a2 <- x-a");
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_needs_write_on_destination_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-b"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 30);
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_needs_read_on_source_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-a"), B("x-b"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	client_close(c);
}
END_TEST

START_TEST(exchange_bind_checks_destination_first_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-b"), B("x-c"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-b", "binder"));
	client_close(c);
}
END_TEST

START_TEST(exchange_unbind_allowed)
{
	const char *k = uniq("k");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("binder");
	amqp_exchange_bind(c, 1, B("x-a2"), B("x-a"), B(k), amqp_empty_table);
	client_ok(c, "exchange.bind");
	amqp_exchange_unbind(c, 1, B("x-a2"), B("x-a"), B(k), amqp_empty_table);
	client_ok(c, "exchange.unbind");
	client_close(c);
}
END_TEST

START_TEST(exchange_unbind_needs_write_on_destination_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_exchange_unbind(c, 1, B("x-a2"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a2", "reader"));
	ck_assert_int_eq(close_class_id, 40);
	ck_assert_int_eq(close_method_id, 40);
	client_close(c);
}
END_TEST

START_TEST(exchange_unbind_needs_read_on_source_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	amqp_exchange_unbind(c, 1, B("x-a2"), B("x-a"), B("k"), amqp_empty_table);
	denied(c, 1, no_access("exchange", "x-a", "writer"));
	client_close(c);
}
END_TEST

/* basic.publish: write on the exchange; the default exchange is checked as amq.default. */

START_TEST(publish_allowed)
{
	const char *q = uniq("q-pub");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	bind_queue(a, 1, q, "x-a", q);
	c = as("writer");
	publish_confirmed(c, 1, "x-a", q, NULL, "written");
	client_close(c);
	expect_get(a, 1, q, "written");
	client_close(a);
}
END_TEST

START_TEST(publish_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	publish(c, 1, "x-b", "k", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "x-b", "writer"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 40);
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(publish_needs_write_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	publish(c, 1, "x-a", "k", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "x-a", "reader"));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* The permission is checked before the exchange is looked up: 403, not 404. */
START_TEST(publish_denied_before_exchange_lookup_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	publish(c, 1, "x-b-missing", "k", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "x-b-missing", "writer"));
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(publish_default_exchange_as_amq_default_allowed)
{
	const char *q = uniq("q-default");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("defpub");
	publish_confirmed(c, 1, "", q, NULL, "via amq.default");
	client_close(c);
	expect_get(a, 1, q, "via amq.default");
	client_close(a);
}
END_TEST

START_TEST(publish_default_exchange_denied_names_amq_default_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("writer");
	publish(c, 1, "", "q-a", "refused");
	expect_channel_close(c, 1, 403, no_access("exchange", "amq.default", "writer"));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* basic.get and basic.consume: read on the queue. */

START_TEST(get_allowed)
{
	const char *q = uniq("q-a-get");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "got");
	c = as("reader");
	expect_get(c, 1, q, "got");
	client_close(c);
}
END_TEST

START_TEST(get_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	reply_channel_error(
	    c, 1, amqp_basic_get(c, 1, B("q-b"), 1), 403, no_access("queue", "q-b", "reader"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 70);
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(get_needs_read_403)
{
	const char *q = uniq("q-a-get");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "kept");
	c = as("writer");
	reply_channel_error(
	    c, 1, amqp_basic_get(c, 1, B(q), 1), 403, no_access("queue", q, "writer"));
	alive(c, 2);
	client_close(c);
	a = as("admin");
	ck_assert_uint_eq(queue_count(a, 1, q), 1);
	client_close(a);
}
END_TEST

/* The permission is checked before the queue is looked up: 403, not 404. */
START_TEST(get_denied_before_queue_lookup_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	reply_channel_error(c, 1, amqp_basic_get(c, 1, B("q-b-missing"), 1), 403,
	    no_access("queue", "q-b-missing", "reader"));
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(consume_allowed)
{
	const char *q = uniq("q-a-consume");
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	admin_queue_with(q, "consumed");
	c = as("reader");
	consume(c, 1, q, NULL, true);
	expect_deliver(c, 1, "consumed");
	client_close(c);
}
END_TEST

START_TEST(consume_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("reader");
	amqp_basic_consume(c, 1, B("q-b"), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
	denied(c, 1, no_access("queue", "q-b", "reader"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 20);
	client_close(c);
}
END_TEST

/* Direct reply-to checks nothing: a user without any permission may consume from it. */
START_TEST(consume_reply_to_needs_nothing)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("none");
	consume(c, 1, "amq.rabbitmq.reply-to", NULL, true);
	client_close(c);
}
END_TEST

/* A refusal closes its channel only: a consumer on another channel keeps receiving. */
START_TEST(refusal_leaves_other_channels_working)
{
	const char *q = uniq("q-a-other");
	conn_t c, a;

	SKIP_IN_ORACLE();
	matrix_setup();
	a = as("admin");
	declare_queue(a, 1, q);
	c = as("reader");
	consume(c, 1, q, NULL, true);
	client_open(c, 2);
	reply_channel_error(
	    c, 2, amqp_basic_get(c, 2, B("q-b"), 1), 403, no_access("queue", "q-b", "reader"));
	publish_confirmed(a, 1, "", q, NULL, "still delivered");
	expect_deliver(c, 1, "still delivered");
	client_close(c);
	client_close(a);
}
END_TEST

/* Protocol rules that hold whatever the permissions. */

START_TEST(default_exchange_declare_refused_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("admin");
	amqp_exchange_declare(c, 1, B(""), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(c, 1, "ACCESS_REFUSED - operation not permitted on the default exchange");
	client_close(c);
}
END_TEST

START_TEST(amq_prefix_exchange_refused_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("admin");
	amqp_exchange_declare(c, 1, B("amq.custom"), B("direct"), 0, 0, 0, 0, amqp_empty_table);
	denied(
	    c, 1, "ACCESS_REFUSED - exchange name 'amq.custom' contains reserved prefix 'amq.*'");
	client_close(c);
}
END_TEST

START_TEST(system_exchange_delete_refused_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("admin");
	amqp_exchange_delete(c, 1, B("amq.direct"), 0);
	denied(c, 1,
	    "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
	client_close(c);
}
END_TEST

/*
 * RabbitMQ strips CR and LF from names before using or checking them: "q-\na-..." is declared
 * as "q-a-...", which conf may configure.
 */
START_TEST(names_checked_after_cr_lf_stripped)
{
	const char *u = uniq("q-a-crlf"), *q = fmt("q-\r\n%s", u + 2);
	amqp_queue_declare_ok_t *ok;
	conn_t c;

	SKIP_IN_ORACLE();
	matrix_setup();
	c = as("conf");
	ok = amqp_queue_declare(c, 1, B(q), 0, 0, 0, 0, amqp_empty_table);
	client_ok(c, "queue.declare of a name with CR LF");
	ck_assert_msg(bytes_is(ok->queue, u), "declared \"%.*s\", expected \"%s\"",
	    (int)ok->queue.len, (char *)ok->queue.bytes, u);
	client_close(c);
}
END_TEST

/* A users file without guest: the built-in guest/guest is gone. */
START_TEST(guest_absent_from_users_file_403)
{
	SKIP_IN_ORACLE();
	refused(&(struct login){ .user = "guest", .password = "guest" }, 403, LOGIN_REFUSED, 0, 0);
}
END_TEST

/* ---- topic permissions ---- */

static const char topic_users[] = "admin:{H}\ntp:{H}\nu1:{H}\nu2:{H}\n";
static const struct vfile topic_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions admin .* .* .*\n"
	    "permissions tp '^q-t' '^(q-t.*|amq\\.topic|amq\\.direct|t-free|t-dest)$' "
	    "'^(q-t.*|amq\\.topic|t-free)$'\n"
	    "topic-permissions tp amq.topic '^orders\\.' '^(orders|audit)\\.'\n"
	    "topic-permissions tp amq.direct '^never$' '^never$'\n"
	    "permissions u1 '' '^amq\\.topic$' ''\n"
	    "permissions u2 '' '^amq\\.topic$' ''\n"
	    "topic-permissions u1 amq.topic '^{username}\\.' '^{username}\\.'\n"
	    "topic-permissions u2 amq.topic '^{username}\\.' '^{username}\\.'\n" },
	{ "tv.vhost",
	    "vhost tv\n"
	    "permissions u1 '' '^amq\\.topic$' ''\n"
	    "topic-permissions u1 amq.topic '^{vhost}\\.{username}\\.' .*\n" },
	{ NULL, NULL },
};

static void topic_start(void)
{
	spawn_with(topic_users, topic_vhosts, NULL);
}

static void topic_setup(void)
{
	conn_t a = as("admin");

	declare_exchange(a, 1, "t-free", "topic");
	declare_exchange(a, 1, "t-dest", "topic");
	client_close(a);
}

static const char *no_topic(const char *key, const char *x, const char *vhost, const char *user)
{
	return fmt("ACCESS_REFUSED - access to topic '%s' in exchange '%s' in vhost '%s' refused "
	           "for user '%s'",
	    key, x, vhost, user);
}

/* admin's queue q bound to x with key; returns q. */
static const char *admin_bound_queue(const char *x, const char *key)
{
	const char *q = uniq("q-t");
	conn_t a = as("admin");

	declare_queue(a, 1, q);
	bind_queue(a, 1, q, x, key);
	client_close(a);
	return q;
}

START_TEST(topic_publish_key_allowed)
{
	const char *q;
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("amq.topic", "orders.#");
	c = as("tp");
	publish_confirmed(c, 1, "amq.topic", "orders.new", NULL, "order");
	client_close(c);
	a = as("admin");
	expect_get(a, 1, q, "order");
	client_close(a);
}
END_TEST

START_TEST(topic_publish_key_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	publish(c, 1, "amq.topic", "billing.x", "refused");
	expect_channel_close(c, 1, 403, no_topic("billing.x", "amq.topic", "/", "tp"));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 40);
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(topic_bind_key_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	declare_queue(c, 1, uniq("q-t"));
	bind_queue(c, 1, "", "amq.topic", "audit.#");
	client_close(c);
}
END_TEST

START_TEST(topic_bind_key_denied_403)
{
	const char *q = uniq("q-t");
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	declare_queue(c, 1, q);
	amqp_queue_bind(c, 1, B(q), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

/* RabbitMQ checks the key of an unbind from a topic exchange as it does a bind's. */
START_TEST(topic_unbind_key_denied_403)
{
	const char *q;
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("amq.topic", "billing.#");
	c = as("tp");
	amqp_queue_unbind(c, 1, B(q), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

START_TEST(topic_exchange_bind_key_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	amqp_exchange_bind(c, 1, B("t-dest"), B("amq.topic"), B("orders.#"), amqp_empty_table);
	client_ok(c, "exchange.bind t-dest <- amq.topic orders.#");
	client_close(c);
}
END_TEST

START_TEST(topic_exchange_bind_key_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	amqp_exchange_bind(c, 1, B("t-dest"), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

START_TEST(topic_exchange_unbind_key_denied_403)
{
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	a = as("admin");
	amqp_exchange_bind(a, 1, B("t-dest"), B("amq.topic"), B("billing.#"), amqp_empty_table);
	client_ok(a, "exchange.bind t-dest <- amq.topic billing.#");
	client_close(a);
	c = as("tp");
	amqp_exchange_unbind(c, 1, B("t-dest"), B("amq.topic"), B("billing.#"), amqp_empty_table);
	denied(c, 1, no_topic("billing.#", "amq.topic", "/", "tp"));
	client_close(c);
}
END_TEST

/* No topic-permissions line for an exchange: every key is allowed there. */
START_TEST(topic_without_line_allows_every_key)
{
	const char *q;
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("t-free", "#");
	c = as("tp");
	publish_confirmed(c, 1, "t-free", "billing.anything", NULL, "free");
	client_close(c);
	a = as("admin");
	expect_get(a, 1, q, "free");
	client_close(a);
}
END_TEST

/* Topic permissions apply to topic exchanges only. */
START_TEST(topic_permissions_ignored_on_direct_exchange)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("tp");
	publish_confirmed(c, 1, "amq.direct", "anything", NULL, "direct");
	client_close(c);
}
END_TEST

START_TEST(topic_username_expanded_allowed)
{
	const char *q;
	conn_t c, a;

	SKIP_IN_ORACLE();
	topic_setup();
	q = admin_bound_queue("amq.topic", "u2.#");
	c = as("u2");
	publish_confirmed(c, 1, "amq.topic", "u2.x", NULL, "mine");
	client_close(c);
	a = as("admin");
	expect_get(a, 1, q, "mine");
	client_close(a);
}
END_TEST

START_TEST(topic_username_expanded_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	topic_setup();
	c = as("u1");
	publish(c, 1, "amq.topic", "u2.x", "not mine");
	expect_channel_close(c, 1, 403, no_topic("u2.x", "amq.topic", "/", "u1"));
	alive(c, 2);
	client_close(c);
}
END_TEST

START_TEST(topic_vhost_expanded_allowed)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as_in("u1", "tv");
	client_open(c, 1);
	publish_confirmed(c, 1, "amq.topic", "tv.u1.x", NULL, "in tv");
	client_close(c);
}
END_TEST

START_TEST(topic_vhost_expanded_denied_403)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = as_in("u1", "tv");
	client_open(c, 1);
	publish(c, 1, "amq.topic", "other.u1.x", "refused");
	expect_channel_close(c, 1, 403, no_topic("other.u1.x", "amq.topic", "tv", "u1"));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* ---- vhost limits ---- */

static const char limit_users[] = "admin:{H}\n";
static const struct vfile limit_vhosts[] = {
	{ "default.vhost", "vhost /\npermissions admin .* .* .*\n" },
	{ "lim.vhost", "vhost lim\nmax-connections 3\npermissions admin .* .* .*\n" },
	{ "lim2.vhost", "vhost lim2\nmax-connections 1\npermissions admin .* .* .*\n" },
	{ "lim3.vhost", "vhost lim3\nmax-connections 1\npermissions admin .* .* .*\n" },
	{ "closed.vhost", "vhost closed\nmax-connections 0\npermissions admin .* .* .*\n" },
	{ "qlim1.vhost", "vhost qlim1\nmax-queues 2\npermissions admin .* .* .*\n" },
	{ "qlim2.vhost", "vhost qlim2\nmax-queues 2\npermissions admin .* .* .*\n" },
	{ "qlim3.vhost", "vhost qlim3\nmax-queues 2\npermissions admin .* .* .*\n" },
	{ "noq.vhost", "vhost noq\nmax-queues 0\npermissions admin .* .* .*\n" },
	{ NULL, NULL },
};

static void limit_start(void)
{
	spawn_with(limit_users, limit_vhosts, NULL);
}

static const char *conn_limit(const char *vhost, int n)
{
	return fmt("NOT_ALLOWED - access to vhost '%s' refused for user 'admin': connection limit "
	           "(%d) is reached",
	    vhost, n);
}

static const char *queue_limit(const char *q, const char *vhost, int n)
{
	return fmt(
	    "PRECONDITION_FAILED - cannot declare queue '%s': queue limit in vhost '%s' (%d) "
	    "is reached",
	    q, vhost, n);
}

static conn_t admin_in(const char *vhost)
{
	return user_in("admin", vhost);
}

/* user_max_connections in warren.conf: one user's connections over all vhosts. */
static const char user_limit_users[] = "admin:{H}\nother:{H}\n";
static const struct vfile user_limit_vhosts[] = {
	{ "default.vhost", "vhost /\npermissions admin .* .* .*\npermissions other .* .* .*\n" },
	{ "lim.vhost", "vhost lim\npermissions admin .* .* .*\n" },
	{ NULL, NULL },
};

static void user_limit_start(void)
{
	spawn_with(user_limit_users, user_limit_vhosts, "user_max_connections = 2\n");
}

START_TEST(user_max_connections_one_too_many_530)
{
	conn_t a, b, o;

	SKIP_IN_ORACLE();
	a = user_in("admin", "/");
	b = user_in("admin", "lim"); /* the limit counts every vhost */
	open_refused("admin", "/",
	    "NOT_ALLOWED - access to vhost '/' refused for user 'admin': user connection limit (2) "
	    "is "
	    "reached");
	o = user_in("other", "/"); /* another user is not affected */
	alive(a, 2);
	alive(b, 2);
	alive(o, 2);
	client_close(a);
	client_close(b);
	client_close(o);
}
END_TEST

START_TEST(max_connections_one_too_many_530)
{
	conn_t c[3];
	int i;

	SKIP_IN_ORACLE();
	for (i = 0; i < 3; i++)
		c[i] = admin_in("lim");
	open_refused("admin", "lim", conn_limit("lim", 3));
	for (i = 0; i < 3; i++) {
		alive(c[i], 2);
		client_close(c[i]);
	}
}
END_TEST

/* A closed connection gives its place back. */
START_TEST(max_connections_place_freed_on_close)
{
	struct answer a;
	conn_t c, d = NULL;
	int tries;

	SKIP_IN_ORACLE();
	c = admin_in("lim2");
	open_refused("admin", "lim2", conn_limit("lim2", 1));
	client_close(c);
	/* The broker counts the close when it has torn the connection down: retry, bounded. */
	for (tries = 0; tries < 50 && d == NULL; tries++) {
		d = handshake(&(struct login){ .user = "admin", .vhost = "lim2" }, &a);
		if (d == NULL) {
			check_reply(
			    "connection.close", a.code, a.text, a.len, 530, conn_limit("lim2", 1));
			sleep_ms(20);
		}
	}
	ck_assert_msg(d != NULL, "no place in lim2 after its only connection closed");
	alive(d, 1);
	client_close(d);
}
END_TEST

START_TEST(max_connections_zero_refuses_all_530)
{
	SKIP_IN_ORACLE();
	open_refused("admin", "closed", conn_limit("closed", 0));
}
END_TEST

START_TEST(max_connections_other_vhosts_unaffected)
{
	conn_t c, d;

	SKIP_IN_ORACLE();
	c = admin_in("lim3");
	open_refused("admin", "lim3", conn_limit("lim3", 1));
	d = admin_in("/");
	alive(d, 2);
	client_close(d);
	client_close(c);
}
END_TEST

START_TEST(max_queues_one_too_many_406)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("qlim1");
	declare_queue(c, 1, "qa");
	declare_queue(c, 1, "qb");
	amqp_queue_declare(c, 1, B("qc"), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406, queue_limit("qc", "qlim1", 2));
	ck_assert_int_eq(close_class_id, 50);
	ck_assert_int_eq(close_method_id, 10);
	/* The queues there are unaffected, and redeclaring one is not a new queue. */
	client_open(c, 2);
	declare_queue(c, 2, "qa");
	publish_confirmed(c, 2, "", "qa", NULL, "kept");
	expect_get(c, 2, "qa", "kept");
	ck_assert_uint_eq(queue_count(c, 2, "qb"), 0);
	ck_assert(!queue_exists(c, 2, "qc"));
	client_close(c);
}
END_TEST

START_TEST(max_queues_counts_server_named_406)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("qlim2");
	declare_queue(c, 1, "qa");
	declare_queue(c, 1, "qb");
	amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
	rpc_channel_error(c, 1, 406, "PRECONDITION_FAILED - cannot declare queue 'amq.gen-*");
	client_close(c);
}
END_TEST

START_TEST(max_queues_place_freed_on_delete)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("qlim3");
	declare_queue(c, 1, "qa");
	declare_queue(c, 1, "qb");
	amqp_queue_delete(c, 1, B("qa"), 0, 0);
	client_ok(c, "queue.delete qa");
	declare_queue(c, 1, "qc");
	client_close(c);
}
END_TEST

START_TEST(max_queues_zero_refuses_all_406)
{
	conn_t c;

	SKIP_IN_ORACLE();
	c = admin_in("noq");
	amqp_queue_declare(c, 1, B("q1"), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406, queue_limit("q1", "noq", 0));
	alive(c, 2);
	client_close(c);
}
END_TEST

/* ---- the user-id property ---- */

static const char userid_users[] = "plain:{H}\n"
                                   "imp:{H}:impersonator\n"
                                   "adm:{H}:administrator\n"
                                   "multi:{H}:monitoring,impersonator\n";
static const struct vfile userid_vhosts[] = {
	{ "default.vhost",
	    "vhost /\n"
	    "permissions plain .* .* .*\n"
	    "permissions imp .* .* .*\n"
	    "permissions adm .* .* .*\n"
	    "permissions multi .* .* .*\n" },
	{ NULL, NULL },
};

static void userid_start(void)
{
	spawn_with(userid_users, userid_vhosts, NULL);
}

/* user publishes with user_id uid to a queue of its own: it must arrive carrying uid. */
static void publish_as(const char *user, const char *uid)
{
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = B(uid) };
	const char *q = uniq("q-uid");
	struct msg m;
	conn_t c = as(user);

	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, &p, "signed");
	ck_assert(get_msg(c, 1, q, true, &m));
	ck_assert(m.props != NULL && (m.props->_flags & AMQP_BASIC_USER_ID_FLAG) &&
	    bytes_is(m.props->user_id, uid));
	msg_free(&m);
	client_close(c);
}

static void publish_as_refused(const char *user, const char *uid)
{
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_USER_ID_FLAG, .user_id = B(uid) };
	conn_t c = as(user);

	publish_props(c, 1, "", "nowhere", false, &p, "forged", 6);
	expect_channel_close(c, 1, 406,
	    fmt("PRECONDITION_FAILED - user_id property set to '%s' but authenticated user was "
	        "'%s'",
	        uid, user));
	ck_assert_int_eq(close_class_id, 60);
	ck_assert_int_eq(close_method_id, 40);
	alive(c, 2);
	client_close(c);
}

START_TEST(user_id_own_name_allowed)
{
	SKIP_IN_ORACLE();
	publish_as("plain", "plain");
}
END_TEST

START_TEST(user_id_other_user_406)
{
	SKIP_IN_ORACLE();
	publish_as_refused("plain", "imp");
}
END_TEST

START_TEST(user_id_impersonator_may_set_another)
{
	SKIP_IN_ORACLE();
	publish_as("imp", "plain");
}
END_TEST

START_TEST(user_id_administrator_is_not_impersonator_406)
{
	SKIP_IN_ORACLE();
	publish_as_refused("adm", "plain");
}
END_TEST

START_TEST(user_id_impersonator_among_several_tags)
{
	SKIP_IN_ORACLE();
	publish_as("multi", "someone-else");
}
END_TEST

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

/* ---- the program ---- */

/* The hash of password from warrenctl hash-password, into out. */
static void make_hash(const char *password, char *out, size_t len)
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

static TCase *group(Suite *s, const char *name, void (*start)(void), double timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, start, group_stop);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("11-access");
	TCase *tc;
	int ret;

	if (getenv("WARREN_TEST_BROKER") == NULL) {
		make_hash(PASSWORD, hash_secret, sizeof(hash_secret));
		make_hash(PASSWORD2, hash_changed, sizeof(hash_changed));
		make_hash("guest", hash_guest, sizeof(hash_guest));
	}

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

	tc = group(s, "permissions", matrix_start, TEST_TIMEOUT);
	tcase_add_test(tc, exchange_declare_allowed);
	tcase_add_test(tc, exchange_declare_denied_403);
	tcase_add_test(tc, exchange_declare_needs_configure_403);
	tcase_add_test(tc, exchange_declare_existing_checked_403);
	tcase_add_test(tc, exchange_declare_passive_needs_nothing);
	tcase_add_test(tc, exchange_declare_ae_allowed);
	tcase_add_test(tc, exchange_declare_ae_needs_write_on_ae_403);
	tcase_add_test(tc, exchange_declare_ae_needs_read_on_exchange_403);
	tcase_add_test(tc, exchange_declare_ae_existing_needs_configure_only);
	tcase_add_test(tc, exchange_delete_allowed);
	tcase_add_test(tc, exchange_delete_denied_403);
	tcase_add_test(tc, exchange_delete_needs_configure_403);
	tcase_add_test(tc, queue_declare_allowed);
	tcase_add_test(tc, queue_declare_denied_403);
	tcase_add_test(tc, queue_declare_needs_configure_403);
	tcase_add_test(tc, queue_declare_existing_checked_403);
	tcase_add_test(tc, queue_declare_passive_needs_nothing);
	tcase_add_test(tc, queue_declare_server_named_allowed);
	tcase_add_test(tc, queue_declare_server_named_denied_403);
	tcase_add_test(tc, queue_declare_dlx_allowed);
	tcase_add_test(tc, queue_declare_dlx_needs_write_on_dlx_403);
	tcase_add_test(tc, queue_declare_dlx_needs_read_on_queue_403);
	tcase_add_test(tc, queue_delete_allowed);
	tcase_add_test(tc, queue_delete_denied_403);
	tcase_add_test(tc, queue_delete_needs_configure_403);
	tcase_add_test(tc, queue_purge_allowed);
	tcase_add_test(tc, queue_purge_denied_403);
	tcase_add_test(tc, queue_purge_needs_read_403);
	tcase_add_test(tc, queue_bind_allowed);
	tcase_add_test(tc, queue_bind_needs_write_on_queue_403);
	tcase_add_test(tc, queue_bind_needs_read_on_exchange_403);
	tcase_add_test(tc, queue_bind_checks_queue_first_403);
	tcase_add_test(tc, queue_unbind_allowed);
	tcase_add_test(tc, queue_unbind_needs_write_on_queue_403);
	tcase_add_test(tc, queue_unbind_needs_read_on_exchange_403);
	tcase_add_test(tc, exchange_bind_allowed);
	tcase_add_test(tc, exchange_bind_needs_write_on_destination_403);
	tcase_add_test(tc, exchange_bind_needs_read_on_source_403);
	tcase_add_test(tc, exchange_bind_checks_destination_first_403);
	tcase_add_test(tc, exchange_unbind_allowed);
	tcase_add_test(tc, exchange_unbind_needs_write_on_destination_403);
	tcase_add_test(tc, exchange_unbind_needs_read_on_source_403);
	tcase_add_test(tc, publish_allowed);
	tcase_add_test(tc, publish_denied_403);
	tcase_add_test(tc, publish_needs_write_403);
	tcase_add_test(tc, publish_denied_before_exchange_lookup_403);
	tcase_add_test(tc, publish_default_exchange_as_amq_default_allowed);
	tcase_add_test(tc, publish_default_exchange_denied_names_amq_default_403);
	tcase_add_test(tc, get_allowed);
	tcase_add_test(tc, get_denied_403);
	tcase_add_test(tc, get_needs_read_403);
	tcase_add_test(tc, get_denied_before_queue_lookup_403);
	tcase_add_test(tc, consume_allowed);
	tcase_add_test(tc, consume_denied_403);
	tcase_add_test(tc, consume_reply_to_needs_nothing);
	tcase_add_test(tc, refusal_leaves_other_channels_working);
	tcase_add_test(tc, default_exchange_declare_refused_403);
	tcase_add_test(tc, amq_prefix_exchange_refused_403);
	tcase_add_test(tc, system_exchange_delete_refused_403);
	tcase_add_test(tc, names_checked_after_cr_lf_stripped);
	tcase_add_test(tc, guest_absent_from_users_file_403);

	tc = group(s, "topic", topic_start, TEST_TIMEOUT);
	tcase_add_test(tc, topic_publish_key_allowed);
	tcase_add_test(tc, topic_publish_key_denied_403);
	tcase_add_test(tc, topic_bind_key_allowed);
	tcase_add_test(tc, topic_bind_key_denied_403);
	tcase_add_test(tc, topic_unbind_key_denied_403);
	tcase_add_test(tc, topic_exchange_bind_key_allowed);
	tcase_add_test(tc, topic_exchange_bind_key_denied_403);
	tcase_add_test(tc, topic_exchange_unbind_key_denied_403);
	tcase_add_test(tc, topic_without_line_allows_every_key);
	tcase_add_test(tc, topic_permissions_ignored_on_direct_exchange);
	tcase_add_test(tc, topic_username_expanded_allowed);
	tcase_add_test(tc, topic_username_expanded_denied_403);
	tcase_add_test(tc, topic_vhost_expanded_allowed);
	tcase_add_test(tc, topic_vhost_expanded_denied_403);

	tc = group(s, "user-limit", user_limit_start, TEST_TIMEOUT);
	tcase_add_test(tc, user_max_connections_one_too_many_530);

	tc = group(s, "limits", limit_start, TEST_TIMEOUT);
	tcase_add_test(tc, max_connections_one_too_many_530);
	tcase_add_test(tc, max_connections_place_freed_on_close);
	tcase_add_test(tc, max_connections_zero_refuses_all_530);
	tcase_add_test(tc, max_connections_other_vhosts_unaffected);
	tcase_add_test(tc, max_queues_one_too_many_406);
	tcase_add_test(tc, max_queues_counts_server_named_406);
	tcase_add_test(tc, max_queues_place_freed_on_delete);
	tcase_add_test(tc, max_queues_zero_refuses_all_406);

	tc = group(s, "user-id", userid_start, TEST_TIMEOUT);
	tcase_add_test(tc, user_id_own_name_allowed);
	tcase_add_test(tc, user_id_other_user_406);
	tcase_add_test(tc, user_id_impersonator_may_set_another);
	tcase_add_test(tc, user_id_administrator_is_not_impersonator_406);
	tcase_add_test(tc, user_id_impersonator_among_several_tags);

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

	ret = harness_run(s);
	return ret == EXIT_SUCCESS && !broker_bad ? EXIT_SUCCESS : EXIT_FAILURE;
}
