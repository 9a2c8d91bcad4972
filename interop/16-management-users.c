/*
 * 16-management-users: users, vhosts, permissions and topic permissions through the management
 * API (docs/management.md), definitions export and import, the aliveness test and the health
 * checks, against a private warrend with a users file and a vhost directory. The files stay the
 * truth: every write is checked on disk (the edited line in place or appended, comments kept),
 * and AMQP logins and permission checks (rabbitmq-c) must see the change at once. A warrend
 * without a users file refuses the writes with a reason that names users_file. Warren only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/http.h"

/* RabbitMQ 3.10.8's SHA-256 hash of "s3cret" (test/fixtures/rabbitmq-3.10.8-definitions.json). */
#define RMQ_S3CRET "1ZRz01Fz2lGj+fBTJYkVuk8dt1ffM2xKhXuqbRwsHrPD7xo8"

/* ---- HTTP, one request per connection (as 15-management) ---- */

/* Send a request on a new connection; the descriptor to read the answer from. */
static int send_req(
    const char *user, const char *pw, const char *method, const char *path, const char *body)
{
	return http_send(broker.http_port, user, pw, method, path, body);
}

static void read_resp(int fd, struct http_resp *r)
{
	char *all = NULL, *sep;

	memset(r, 0, sizeof(*r));
	ck_assert_msg(http_read_all(fd, &all, WAIT_MS) >= 0, "no answer within %d ms", WAIT_MS);
	close(fd);
	if (sscanf(all, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = 0;
	sep = strstr(all, "\r\n\r\n");
	snprintf(r->head, sizeof(r->head), "%.*s", sep != NULL ? (int)(sep - all) : 0, all);
	r->body = strdup(sep != NULL ? sep + 4 : "");
	if (strcasestr(r->head, "Transfer-Encoding: chunked") != NULL)
		http_dechunk(r->body);
	free(all);
}

static const char *admin_user = "guest", *admin_pw = "guest";

/* The request as the admin must answer status (and a body containing want, if not NULL). */
static void expect(
    const char *method, const char *path, const char *body, int status, const char *want)
{
	struct http_resp r;

	read_resp(send_req(admin_user, admin_pw, method, path, body), &r);
	ck_assert_msg(r.status == status, "%s %s: status %d, expected %d: %s", method, path,
	    r.status, status, r.body);
	if (want != NULL)
		ck_assert_msg(strstr(r.body, want) != NULL, "%s %s: body %s lacks %s", method, path,
		    r.body, want);
	free(r.body);
}

/* ---- Files and logins ---- */

static char users_path[300], vdir[300];

/* A file's contents (a static buffer: valid until the next call). */
static const char *slurp(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static bool file_has(const char *path, const char *needle)
{
	const char *s = slurp(path);

	return s != NULL && strstr(s, needle) != NULL;
}

/* The line of path that starts with prefix (a static buffer), or "". */
static const char *line_of(const char *path, const char *prefix)
{
	static char line[1024];
	const char *s = slurp(path), *p, *nl;

	line[0] = '\0';
	for (p = s; p != NULL && *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			snprintf(line, sizeof(line), "%.*s", (int)(nl - p), p);
			break;
		}
	}
	return line;
}

static const char *vfile(const char *name)
{
	return fmt("%s/%s", vdir, name);
}

/*
 * Log in over AMQP as user to vhost: 0 when the connection opened, else the close code (403
 * for a refused login, 530 for a vhost refused) or -1.
 */
static int amqp_login_as(const char *user, const char *pw, const char *vhost)
{
	struct timeval tv = { WAIT_MS / 1000, 0 };
	conn_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	amqp_rpc_reply_t r;
	int code = -1;

	ck_assert_int_eq(amqp_socket_open_noblock(s, broker.host, broker.port, &tv), 0);
	amqp_set_handshake_timeout(c, &tv);
	r = amqp_login(c, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, pw);
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		code = 0;
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	} else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		code = ((amqp_connection_close_t *)r.reply.decoded)->reply_code;
	} else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
		code =
		    403; /* the socket closed: a refused login without authentication_failure_close */
	}
	amqp_destroy_connection(c);
	return code;
}

static void start_files(void)
{
	char err[256], cmd[4096], hash[300];

	broker_hash_password("16-management-users", WARRENCTL_PATH, "guest", hash, sizeof(hash));
	if (broker_prepare(&broker, "", err, sizeof(err)) != 0) {
		fprintf(stderr, "16-management-users: %s\n", err);
		exit(EXIT_FAILURE);
	}
	snprintf(users_path, sizeof(users_path), "%s/users", broker.dir);
	snprintf(vdir, sizeof(vdir), "%s/vhosts", broker.dir);
	snprintf(cmd, sizeof(cmd),
	    "printf '%%s\\n' '# the users: comments stay' '' 'guest:%s:administrator' "
	    "'mgr:%s:management' > %s && chmod 600 %s && mkdir %s && printf '%%s\\n' "
	    "'# the default vhost' 'vhost /' 'permissions guest .* .* .*' '' '# mgr below' "
	    "'permissions mgr .* .* .*' > %s/default.vhost && printf '%%s\\n' "
	    "'users_file = %s' 'vhost_dir = %s' > %s/warren.conf",
	    hash, hash, users_path, users_path, vdir, vdir, users_path, vdir, broker.dir);
	if (system(cmd) != 0 || broker_respawn(&broker, err, sizeof(err)) != 0) {
		fprintf(stderr, "16-management-users: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

static void start_guest(void)
{
	char err[256];

	if (broker_spawn_config(&broker, "", err, sizeof(err)) != 0) {
		fprintf(stderr, "16-management-users: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

/* The group's broker must exit 0 on SIGTERM, with no sanitizer report in its log. */
static void stop_broker(void)
{
	broker_stop_clean("16-management-users");
}

/* ---- Users ---- */

START_TEST(user_put_is_a_line_in_the_users_file_and_a_login)
{
	const char *u = uniq("carol");

	expect("PUT", fmt("/api/users/%s", u), "{\"password\":\"pw1\",\"tags\":\"management\"}",
	    201, NULL);
	ck_assert(file_has(users_path, fmt("\n%s:$scrypt$ln=14,r=8,p=1$", u)));
	ck_assert(file_has(users_path, "# the users: comments stay\n\nguest:"));
	ck_assert(strstr(line_of(users_path, fmt("%s:", u)), ":management") != NULL);
	expect("GET", fmt("/api/users/%s", u), NULL, 200, "\"tags\":[\"management\"]");
	/* the password is good, but no permissions in "/" yet: the vhost is refused */
	ck_assert_int_eq(amqp_login_as(u, "pw1", "/"), 530);
	expect("PUT", fmt("/api/permissions/%%2F/%s", u),
	    "{\"configure\":\"^q\\\\.\",\"write\":\".*\",\"read\":\".*\"}", 201, NULL);
	ck_assert(file_has(vfile("default.vhost"), fmt("\npermissions %s ^q\\. .* .*\n", u)));
	ck_assert(file_has(vfile("default.vhost"), "# mgr below\n"));
	ck_assert_int_eq(amqp_login_as(u, "pw1", "/"), 0);
	expect("GET", fmt("/api/permissions/%%2F/%s", u), NULL, 200, "\"configure\":\"^q\\\\.\"");
	/* a new password replaces the line in place; the old one stops working */
	expect("PUT", fmt("/api/users/%s", u), "{\"password\":\"pw2\",\"tags\":\"\"}", 204, NULL);
	ck_assert(strstr(line_of(users_path, fmt("%s:", u)), "management") == NULL);
	ck_assert_int_eq(amqp_login_as(u, "pw2", "/"), 0);
	ck_assert_int_ne(amqp_login_as(u, "pw1", "/"), 0);
	/* changed permissions apply to the next check */
	expect("PUT", fmt("/api/permissions/%%2F/%s", u),
	    "{\"configure\":\"\",\"write\":\"\",\"read\":\"\"}", 204, NULL);
	ck_assert(file_has(vfile("default.vhost"), fmt("\npermissions %s '' '' ''\n", u)));
	expect("DELETE", fmt("/api/permissions/%%2F/%s", u), NULL, 204, NULL);
	ck_assert_int_eq(amqp_login_as(u, "pw2", "/"), 530);
	expect("DELETE", fmt("/api/permissions/%%2F/%s", u), NULL, 404, NULL);
}
END_TEST

START_TEST(user_delete_takes_its_line_and_permissions)
{
	const char *u = uniq("dave");

	expect("PUT", fmt("/api/users/%s", u), "{\"password\":\"pw\",\"tags\":[]}", 201, NULL);
	expect("PUT", fmt("/api/permissions/%%2F/%s", u),
	    "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 201, NULL);
	expect("PUT", fmt("/api/topic-permissions/%%2F/%s", u),
	    "{\"exchange\":\"amq.topic\",\"write\":\".*\",\"read\":\".*\"}", 201, NULL);
	ck_assert_int_eq(amqp_login_as(u, "pw", "/"), 0);
	expect("DELETE", fmt("/api/users/%s", u), NULL, 204, NULL);
	ck_assert(!file_has(users_path, fmt("\n%s:", u)));
	ck_assert(!file_has(vfile("default.vhost"), u));
	ck_assert(file_has(vfile("default.vhost"), "# the default vhost\nvhost /\n"));
	ck_assert_int_ne(amqp_login_as(u, "pw", "/"), 0);
	expect("GET", fmt("/api/users/%s", u), NULL, 404, NULL);
	expect("DELETE", fmt("/api/users/%s", u), NULL, 404, NULL);
	expect("GET", "/api/users", NULL, 200, "\"name\":\"guest\"");
	expect("GET", "/api/users/without-permissions", NULL, 200, NULL);
}
END_TEST

START_TEST(bulk_delete_and_without_permissions)
{
	const char *a = uniq("bulk"), *b = uniq("bulk");

	expect("PUT", fmt("/api/users/%s", a), "{\"password\":\"x\",\"tags\":\"\"}", 201, NULL);
	expect("PUT", fmt("/api/users/%s", b), "{\"password_hash\":\"\",\"tags\":\"\"}", 201, NULL);
	ck_assert(file_has(users_path, fmt("\n%s:!\n", b))); /* no password: locked */
	expect("GET", "/api/users/without-permissions", NULL, 200, fmt("\"name\":\"%s\"", a));
	expect("POST", "/api/users/bulk-delete",
	    fmt("{\"users\":[\"%s\",\"%s\",\"nobody-at-all\"]}", a, b), 204, NULL);
	ck_assert(!file_has(users_path, a));
	ck_assert(!file_has(users_path, b));
}
END_TEST

START_TEST(rabbitmq_hash_logs_in)
{
	const char *u = uniq("rmq");

	expect("PUT", fmt("/api/users/%s", u),
	    "{\"password_hash\":\"" RMQ_S3CRET "\",\"hashing_algorithm\":"
	    "\"rabbit_password_hashing_sha256\",\"tags\":\"administrator\"}",
	    201, NULL);
	ck_assert(
	    file_has(users_path, fmt("\n%s:$rabbitmq-sha256$" RMQ_S3CRET ":administrator\n", u)));
	expect("PUT", fmt("/api/permissions/%%2F/%s", u),
	    "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 201, NULL);
	ck_assert_int_eq(amqp_login_as(u, "s3cret", "/"), 0);
	ck_assert_int_ne(amqp_login_as(u, "guest", "/"), 0);
	expect("GET", fmt("/api/users/%s", u), NULL, 200,
	    "\"password_hash\":\"" RMQ_S3CRET "\",\"hashing_algorithm\":"
	    "\"rabbit_password_hashing_sha256\"");
	expect("DELETE", fmt("/api/users/%s", u), NULL, 204, NULL);
}
END_TEST

START_TEST(what_the_files_cannot_say_is_refused)
{
	char before_users[16384], before_vhost[16384];

	snprintf(before_users, sizeof(before_users), "%s", slurp(users_path));
	snprintf(before_vhost, sizeof(before_vhost), "%s", slurp(vfile("default.vhost")));
	expect("PUT", "/api/users/bad%3Aname", "{\"password\":\"x\"}", 400, "cannot hold");
	expect("PUT", "/api/users/md5user",
	    "{\"password_hash\":\"AAAA\",\"hashing_algorithm\":\"rabbit_password_hashing_md5\"}",
	    400, "cannot be verified");
	expect("PUT", "/api/users/tagged", "{\"password\":\"x\",\"tags\":\"a b;c\"}", 400, "tags");
	expect("PUT", "/api/permissions/%2F/nobody",
	    "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 400,
	    "vhost_or_user_not_found");
	expect("PUT", "/api/permissions/%2F/mgr", "{\"configure\":\".*\",\"write\":\".*\"}", 400,
	    "read");
	expect("PUT", "/api/permissions/%2F/mgr",
	    "{\"configure\":\"(\",\"write\":\".*\",\"read\":\".*\"}", 400,
	    "default.vhost:6: bad configure regular expression");
	expect("PUT", "/api/permissions/%2F/mgr",
	    "{\"configure\":\"a\\nb\",\"write\":\".*\",\"read\":\".*\"}", 400, "control");
	expect("PUT", "/api/vhosts/described", "{\"description\":\"mine\"}", 400, "description");
	expect("PUT", "/api/vhosts/traced", "{\"tracing\":true}", 400, "tracing");
	ck_assert_str_eq(slurp(users_path), before_users);
	ck_assert_str_eq(slurp(vfile("default.vhost")), before_vhost);
	/* only administrators */
	{
		struct http_resp r;
		read_resp(send_req("mgr", "guest", "GET", "/api/users", NULL), &r);
		ck_assert_int_eq(r.status, 401);
		free(r.body);
		read_resp(send_req("mgr", "guest", "PUT", "/api/vhosts/mine", "{}"), &r);
		ck_assert_int_eq(r.status, 401);
		free(r.body);
	}
}
END_TEST

START_TEST(concurrent_writes_all_land)
{
	const char *names[6];
	struct http_resp r;
	int fds[6], i;

	for (i = 0; i < 6; i++) {
		names[i] = uniq("many");
		fds[i] = send_req(admin_user, admin_pw, "PUT", fmt("/api/users/%s", names[i]),
		    "{\"password\":\"pw\",\"tags\":\"\"}");
	}
	for (i = 0; i < 6; i++) {
		read_resp(fds[i], &r);
		ck_assert_msg(r.status == 201, "%s: %d %s", names[i], r.status, r.body);
		free(r.body);
	}
	for (i = 0; i < 6; i++) {
		ck_assert(file_has(users_path, fmt("\n%s:$scrypt$", names[i])));
		expect("DELETE", fmt("/api/users/%s", names[i]), NULL, 204, NULL);
	}
}
END_TEST

/* ---- Vhosts ---- */

START_TEST(vhost_put_and_delete_are_files)
{
	const char *v = uniq("v");
	conn_t c;

	expect("PUT", fmt("/api/vhosts/%s", v), "{\"tracing\":false}", 201, NULL);
	ck_assert(file_has(vfile(fmt("%s.vhost", v)), fmt("\nvhost %s\n", v)));
	expect("PUT", fmt("/api/vhosts/%s", v), "{}", 204, NULL);
	expect("GET", fmt("/api/vhosts/%s", v), NULL, 200, fmt("\"name\":\"%s\"", v));
	expect("PUT", fmt("/api/permissions/%s/guest", v),
	    "{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}", 201, NULL);
	expect("GET", fmt("/api/vhosts/%s/permissions", v), NULL, 200, "\"user\":\"guest\"");
	c = client_connect_opts(&(struct client_opts){ .vhost = v });
	client_open(c, 1);
	declare_queue(c, 1, "in-the-vhost");
	client_close(c);
	expect("GET", fmt("/api/queues/%s/in-the-vhost", v), NULL, 200, NULL);
	expect("DELETE", fmt("/api/vhosts/%s", v), NULL, 204, NULL);
	ck_assert_ptr_null(slurp(vfile(fmt("%s.vhost", v))));
	expect("GET", fmt("/api/vhosts/%s", v), NULL, 404, NULL);
	expect("GET", fmt("/api/queues/%s/in-the-vhost", v), NULL, 404, NULL);
	ck_assert_int_eq(amqp_login_as("guest", "guest", v), 530);
	expect("DELETE", fmt("/api/vhosts/%s", v), NULL, 404, NULL);
	/* and back: empty */
	expect("PUT", fmt("/api/vhosts/%s", v), NULL, 201, NULL);
	expect("GET", fmt("/api/queues/%s", v), NULL, 200, "[]");
	expect("DELETE", fmt("/api/vhosts/%s", v), NULL, 204, NULL);
}
END_TEST

START_TEST(topic_permissions_are_enforced)
{
	conn_t c;

	expect("PUT", "/api/topic-permissions/%2F/guest",
	    "{\"exchange\":\"amq.topic\",\"write\":\"^ok\\\\.\",\"read\":\".*\"}", 201, NULL);
	ck_assert(
	    file_has(vfile("default.vhost"), "\ntopic-permissions guest amq.topic ^ok\\. .*\n"));
	expect("GET", "/api/topic-permissions", NULL, 200, "\"exchange\":\"amq.topic\"");
	expect("GET", "/api/users/guest/topic-permissions", NULL, 200, "\"write\":\"^ok\\\\.\"");
	c = client_connect_ch1();
	publish(c, 1, "amq.topic", "ok.fine", "x");
	publish(c, 1, "amq.topic", "not.fine", "x");
	expect_channel_close(c, 1, 403, NULL);
	client_drop(c);
	expect("DELETE", "/api/topic-permissions/%2F/guest", NULL, 204, NULL);
	ck_assert(!file_has(vfile("default.vhost"), "topic-permissions"));
	c = client_connect_ch1();
	publish(c, 1, "amq.topic", "not.fine", "x");
	client_close(c);
}
END_TEST

/* ---- Definitions ---- */

START_TEST(rabbitmq_export_imports)
{
	const char *doc = slurp(FIXTURES "/rabbitmq-3.10.8-definitions.json");
	char *copy;
	conn_t c;

	ck_assert_ptr_nonnull(doc);
	copy = strdup(doc);
	expect("POST", "/api/definitions", copy, 204, NULL);
	free(copy);
	/* the users file and a new vhost file */
	ck_assert(file_has(
	    users_path, "\nalice:$rabbitmq-sha256$" RMQ_S3CRET ":management,monitoring\n"));
	ck_assert(file_has(users_path, "\nlocked:!\n"));
	ck_assert(file_has(vfile("orders.vhost"), "\nmax-connections 100\nmax-queues 50\n"));
	ck_assert(
	    file_has(vfile("orders.vhost"), "\ntopic-permissions alice amq.topic ^orders\\. .*\n"));
	/* RabbitMQ's password works over AMQP, and so do the objects */
	ck_assert_int_eq(amqp_login_as("alice", "s3cret", "orders"), 0);
	ck_assert_int_eq(amqp_login_as("guest", "guest", "/"), 0); /* RabbitMQ's guest hash */
	expect("GET", "/api/queues/orders/orders.q", NULL, 200, "\"x-max-length\":100");
	expect("GET", "/api/exchanges/orders/orders.x", NULL, 200,
	    "\"alternate-exchange\":\"orders.ae\"");
	expect("GET", "/api/bindings/orders/e/orders.x/q/orders.q", NULL, 200, "orders.#");
	c = client_connect_opts(&(struct client_opts){ .vhost = "orders" });
	client_open(c, 1);
	publish(c, 1, "orders.x", "orders.new", "routed");
	expect_get(c, 1, "orders.q", "routed");
	client_close(c);
	/* the export has it all, and imports again without a change */
	expect("GET", "/api/definitions", NULL, 200, "\"product_name\":\"Warren\"");
	expect("GET", "/api/definitions", NULL, 200,
	    "{\"value\":{\"max-connections\":100,\"max-queues\":50},\"vhost\":\"orders\","
	    "\"component\":\"vhost-limits\",\"name\":\"limits\"}");
	expect("GET", "/api/definitions/orders", NULL, 200,
	    "\"queues\":[{\"name\":\"orders.q\",\"durable\":true");
	copy = strdup(slurp(FIXTURES "/rabbitmq-3.10.8-definitions.json"));
	expect("POST", "/api/definitions", copy, 204, NULL);
	free(copy);
}
END_TEST

START_TEST(import_is_checked_whole_first)
{
	char before[16384];

	snprintf(before, sizeof(before), "%s", slurp(users_path));
	/* a good user, then a bad policy: nothing is written */
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"never\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"policies\":[{\"name\":\"ttl\",\"vhost\":\"/\",\"pattern\":\".*\","
	    "\"definition\":{\"message-ttl\":-1}}]}",
	    400, "policies[0] ('ttl'): -1 is not a valid message TTL");
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"never\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"queues\":[{\"name\":\"q\",\"vhost\":\"no-such-vhost\",\"durable\":true}]}",
	    400, "no vhost 'no-such-vhost'");
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"never\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"exchanges\":[{\"name\":\"x\",\"vhost\":\"/\",\"type\":\"nope\"}]}",
	    400, "unknown exchange type 'nope'");
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"never\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"parameters\":[{\"component\":\"federation-upstream\",\"name\":\"u\","
	    "\"vhost\":\"/\",\"value\":{}}]}",
	    400, "federation-upstream");
	/* a quorum queue is held to a declare's rules */
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"never\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"queues\":[{\"name\":\"qq\",\"vhost\":\"/\",\"durable\":true,"
	    "\"arguments\":{\"x-queue-type\":\"quorum\",\"x-max-priority\":5}}]}",
	    400, "invalid arg 'x-max-priority' for queue 'qq' in vhost '/'");
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"never\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"queues\":[{\"name\":\"qq\",\"vhost\":\"/\",\"durable\":false,"
	    "\"arguments\":{\"x-queue-type\":\"quorum\"}}]}",
	    400, "invalid property 'non-durable' for queue 'qq' in vhost '/'");
	expect("GET", "/api/queues/%2F/qq", NULL, 404, NULL);
	expect("POST", "/api/definitions", "[1,2]", 400, NULL);
	ck_assert_str_eq(slurp(users_path), before);
	expect("GET", "/api/users/never", NULL, 404, NULL);
	/* a hash Warren cannot verify: imported locked, and said so */
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"md5-user\",\"password_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAA\","
	    "\"hashing_algorithm\":\"rabbit_password_hashing_md5\",\"tags\":[]}]}",
	    200, "{\"warnings\":[{\"user\":\"md5-user\",\"reason\":\"hashing_algorithm");
	ck_assert(file_has(users_path, "\nmd5-user:!\n"));
	ck_assert_int_eq(broker_log_count(&broker, "definitions import: user 'md5-user'"), 1);
	expect("DELETE", "/api/users/md5-user", NULL, 204, NULL);
}
END_TEST

/* ---- Health ---- */

START_TEST(aliveness_and_health_checks)
{
	expect("GET", "/api/aliveness-test/%2F", NULL, 200, "{\"status\":\"ok\"}");
	expect("GET", "/api/aliveness-test/%2F", NULL, 200, "{\"status\":\"ok\"}");
	expect("GET", "/api/queues/%2F/aliveness-test", NULL, 200, "\"messages\":0");
	expect("GET", "/api/aliveness-test/nowhere", NULL, 404, NULL);
	expect("GET", "/api/health/checks/alarms", NULL, 200, "{\"status\":\"ok\"}");
	expect("GET", "/api/health/checks/local-alarms", NULL, 200, "{\"status\":\"ok\"}");
	expect("GET", fmt("/api/health/checks/port-listener/%d", broker.port), NULL, 200,
	    fmt("\"port\":%d", broker.port));
	expect("GET", "/api/health/checks/port-listener/1", NULL, 503,
	    fmt("\"reason\":\"No active listener\",\"missing\":1,\"ports\":[%d]", broker.port));
	expect("GET", "/api/health/checks/port-listener/x", NULL, 400, "Invalid port");
	expect("GET", "/api/health/checks/protocol-listener/amqp091", NULL, 200,
	    "\"protocol\":\"amqp\"");
	expect(
	    "GET", "/api/health/checks/protocol-listener/mqtt", NULL, 503, "\"missing\":\"mqtt\"");
	expect("GET", "/api/health/checks/virtual-hosts", NULL, 200, "{\"status\":\"ok\"}");
	expect("GET", "/api/health/checks/certificate-expiration/1/weeks", NULL, 200,
	    "{\"status\":\"ok\"}");
	expect("GET", "/api/health/checks/certificate-expiration/1/fortnights", NULL, 400,
	    "Time unit not recognised");
	expect(
	    "GET", "/api/health/checks/node-is-quorum-critical", NULL, 200, "single node cluster");
	expect("GET", "/api/health/checks/node-is-mirror-sync-critical", NULL, 200,
	    "single node cluster");
}
END_TEST

/* ---- Without a users file ---- */

START_TEST(writes_without_a_users_file_are_refused)
{
	char *doc;
	struct http_resp r;

	expect("GET", "/api/users", NULL, 200, "\"name\":\"guest\"");
	expect("PUT", "/api/users/x", "{\"password\":\"x\"}", 405, "users_file");
	expect("PUT", "/api/vhosts/x", "{}", 405, "users_file");
	expect("DELETE", "/api/permissions/%2F/guest", NULL, 405, "users_file");
	/* an export imports back: nothing in it needs the files */
	read_resp(send_req(admin_user, admin_pw, "GET", "/api/definitions", NULL), &r);
	ck_assert_int_eq(r.status, 200);
	doc = r.body;
	expect("POST", "/api/definitions", doc, 204, NULL);
	free(doc);
	expect("POST", "/api/definitions",
	    "{\"users\":[{\"name\":\"new\",\"password_hash\":\"\",\"tags\":[]}]}", 405,
	    "users_file");
	expect("POST", "/api/definitions/%2F",
	    "{\"queues\":[{\"name\":\"from-defs\",\"durable\":false,\"arguments\":{}}]}", 204,
	    NULL);
	expect("GET", "/api/queues/%2F/from-defs", NULL, 200, NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("16-management-users");
	TCase *tc;

	if (getenv("WARREN_TEST_BROKER") != NULL) {
		harness_skip("16-management-users", "Warren only (see interop/DIFFERENCES.md)");
		return 77;
	}
	tc = tcase_create("files");
	tcase_add_unchecked_fixture(tc, start_files, stop_broker);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, user_put_is_a_line_in_the_users_file_and_a_login);
	tcase_add_test(tc, user_delete_takes_its_line_and_permissions);
	tcase_add_test(tc, bulk_delete_and_without_permissions);
	tcase_add_test(tc, rabbitmq_hash_logs_in);
	tcase_add_test(tc, what_the_files_cannot_say_is_refused);
	tcase_add_test(tc, concurrent_writes_all_land);
	tcase_add_test(tc, vhost_put_and_delete_are_files);
	tcase_add_test(tc, topic_permissions_are_enforced);
	tcase_add_test(tc, rabbitmq_export_imports);
	tcase_add_test(tc, import_is_checked_whole_first);
	tcase_add_test(tc, aliveness_and_health_checks);
	suite_add_tcase(s, tc);
	tc = tcase_create("guest");
	tcase_add_unchecked_fixture(tc, start_guest, stop_broker);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, writes_without_a_users_file_are_refused);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
