/*
 * 16-warrenctl: rabbitmqctl's commands in warrenctl(8), against a private warrend whose HTTP API
 * is turned off (management_listen = none): everything goes over the control socket. What AMQP
 * declares, each list command shows, as a table (info lines, header, tab-separated rows; -q, -s,
 * --no-table-headers) and as JSON; the queue commands act as AMQP then sees; unknown queues,
 * vhosts and connections exit 1 with a clear message; close_connection closes a rabbitmq-c
 * client with 320 CONNECTION_FORCED and the reason; definitions export and import (the API's
 * /api/definitions: without a users file only what is in force already); a list of thousands of
 * queues streams; and the control socket's api command refuses garbage. A second warrend, with a
 * users file and a vhost directory, takes a RabbitMQ export's users, vhosts, permissions and
 * limits into its files through import_definitions, and policies and vhost limits through
 * set_policy and set_vhost_limits and the like.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"

#define OUT_MAX (2u << 20)

static bool broker_bad;
static char users_path[300], vdir[300]; /* the files group's users file and vhost directory */

static void start(void)
{
	char err[256];

	if (getenv("WARREN_TEST_BROKER") != NULL) /* warrenctl talks to warrend only */
		return;
	if (broker_spawn_config(&broker, "management_listen = none\n", err, sizeof(err)) != 0) {
		broker_print_log(&broker, 40);
		ck_abort_msg("cannot start warrend: %s", err);
	}
}

/*
 * The same with a users file and a vhost directory: what import_definitions writes there. guest
 * (password guest) is the administrator; the HTTP API is off.
 */
static void start_files(void)
{
	char err[256], cmd[4096], hash[300];
	FILE *p;

	if (getenv("WARREN_TEST_BROKER") != NULL)
		return;
	p = popen("printf '%s\\n' guest | '" WARRENCTL_PATH "' hash-password", "r");
	if (p == NULL || fgets(hash, sizeof(hash), p) == NULL || pclose(p) != 0)
		ck_abort_msg("warrenctl hash-password failed");
	hash[strcspn(hash, "\n")] = '\0';
	if (broker_prepare(&broker, "", err, sizeof(err)) != 0)
		ck_abort_msg("%s", err);
	snprintf(users_path, sizeof(users_path), "%s/users", broker.dir);
	snprintf(vdir, sizeof(vdir), "%s/vhosts", broker.dir);
	snprintf(cmd, sizeof(cmd),
	    "printf '%%s\\n' '# users' 'guest:%s:administrator' > %s && chmod 600 %s && mkdir %s "
	    "&& "
	    "printf '%%s\\n' 'vhost /' 'permissions guest .* .* .*' > %s/default.vhost && "
	    "printf '%%s\\n' 'users_file = %s' 'vhost_dir = %s' 'management_listen = none' "
	    "> %s/warren.conf",
	    hash, users_path, users_path, vdir, vdir, users_path, vdir, broker.dir);
	if (system(cmd) != 0 || broker_respawn(&broker, err, sizeof(err)) != 0) {
		broker_print_log(&broker, 40);
		ck_abort_msg("cannot start warrend: %s", err);
	}
}

static void stop(void)
{
	int status;

	if (broker.pid == 0)
		return;
	if (broker_terminate(&broker, 10000, &status) != 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || broker_log_count(&broker, "runtime error") > 0 ||
	    broker_log_count(&broker, "Sanitizer") > 0) {
		fprintf(stderr, "warrend ended badly on SIGTERM (wait status 0x%x)\n", status);
		broker_print_log(&broker, 60);
		broker_bad = true;
	}
	broker_cleanup(&broker);
}

/* What one warrenctl run printed, and its exit status. */
struct run {
	int status;
	char *out, *err;
	size_t outlen, errlen;
};

static struct run last;
/* A file the next run reads as its standard input (then forgotten), or NULL. */
static const char *ctl_stdin;

/* Run warrenctl ARGS... --data-dir DATA (both outputs read as they come, bounded in time). */
static int ctl_argv(const char *const *args)
{
	const char *argv[40] = { WARRENCTL_PATH };
	int out[2], err[2], status, i, open_fds = 2;
	int64_t deadline = now_ms() + 30000;
	pid_t pid;

	for (i = 0; args[i] != NULL && i < 36; i++)
		argv[i + 1] = args[i];
	argv[++i] = "--data-dir";
	argv[++i] = broker.data;
	argv[++i] = NULL;
	free(last.out);
	free(last.err);
	last = (struct run){ .out = calloc(1, OUT_MAX + 1), .err = calloc(1, OUT_MAX + 1) };
	ck_assert(last.out != NULL && last.err != NULL);
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	ck_assert_int_ge(pid = fork(), 0);
	if (pid == 0) {
		int in = open(ctl_stdin != NULL ? ctl_stdin : "/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	ctl_stdin = NULL;
	close(out[1]);
	close(err[1]);
	while (open_fds > 0) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
			{ .fd = err[0], .events = POLLIN } };
		int64_t left = deadline - now_ms();

		ck_assert_msg(left > 0 && poll(p, 2, (int)left) > 0, "warrenctl ran over 30 s");
		for (i = 0; i < 2; i++) {
			char *buf = i == 0 ? last.out : last.err;
			size_t *len = i == 0 ? &last.outlen : &last.errlen;
			ssize_t n;

			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP)))
				continue;
			n = read(p[i].fd, buf + *len, OUT_MAX - *len);
			ck_assert_msg(n >= 0 || errno == EINTR, "read: %s", strerror(errno));
			if (n == 0) {
				close(p[i].fd);
				*(i == 0 ? &out[0] : &err[0]) = -1;
				open_fds--;
			} else if (n > 0) {
				*len += (size_t)n;
				ck_assert_msg(*len < OUT_MAX, "warrenctl printed too much");
			}
		}
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	last.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return last.status;
}
#define CTL(...) ctl_argv((const char *const[]){ __VA_ARGS__, NULL })

/* The last run succeeded and printed exactly want. */
static void out_is(const char *want)
{
	ck_assert_msg(last.status == 0, "exit %d, stderr: %s", last.status, last.err);
	ck_assert_str_eq(last.out, want);
}

/* The last run succeeded and its output holds want. */
static void out_has(const char *want)
{
	ck_assert_msg(last.status == 0, "exit %d, stderr: %s", last.status, last.err);
	ck_assert_msg(strstr(last.out, want) != NULL, "no \"%s\" in:\n%s", want, last.out);
}

/* The last run failed with status and said want on stderr. */
static void failed_with(int status, const char *want)
{
	ck_assert_msg(last.status == status, "exit %d (want %d), out: %s, err: %s", last.status,
	    status, last.out, last.err);
	ck_assert_msg(strstr(last.err, want) != NULL, "no \"%s\" in stderr:\n%s", want, last.err);
}

static void declare_durable_queue(conn_t c, const char *q, amqp_table_t args)
{
	amqp_queue_declare(c, 1, B(q), 0, 1, 0, 0, args);
	client_ok(c, fmt("queue.declare %s", q));
}

static void declare_durable_exchange(conn_t c, const char *x, const char *type)
{
	amqp_exchange_declare(c, 1, B(x), B(type), 0, 1, 0, 0, amqp_empty_table);
	client_ok(c, fmt("exchange.declare %s", x));
}

/* A JSON array's element whose key is value, or NULL. */
static json_t *find(json_t *a, const char *key, const char *value)
{
	json_t *o;
	size_t i;

	json_array_foreach(a, i, o)
	{
		const char *s = json_string_value(json_object_get(o, key));
		if (s != NULL && strcmp(s, value) == 0)
			return o;
	}
	return NULL;
}

/* Lists as AMQP made them: the table and JSON forms and their options. */
START_TEST(lists)
{
	amqp_table_entry_t e = ent_i32("x-max-length", 10);
	const char *q = uniq("ctl-q"), *x = uniq("ctl-x"), *cq = uniq("ctl-c");
	conn_t c, cons;
	json_error_t jerr;
	json_t *a, *o;

	SKIP_IN_ORACLE();
	ck_assert_int_eq(broker.http_port, 0); /* the HTTP API is off */
	c = client_connect_ch1();
	declare_durable_queue(c, q, (amqp_table_t){ 1, &e });
	declare_durable_exchange(c, x, "topic");
	bind_queue(c, 1, q, x, "a.#");
	publish_confirmed(c, 1, "", q, NULL, "one");
	cons = client_connect_ch1();
	declare_queue(cons, 1, cq);
	consume(cons, 1, cq, "ctl-tag", false);

	CTL("list_queues");
	out_has("Timeout: 60.0 seconds ...\nListing queues for vhost / ...\nname\tmessages\n");
	out_has(fmt("\n%s\t1\n", q));
	out_has(fmt("\n%s\t0\n", cq));
	CTL("-q", "list_queues", "name", "durable", "arguments", "messages_ready", "consumers");
	ck_assert_msg(
	    strncmp(last.out, "name\tdurable\targuments\tmessages_ready\tconsumers\n", 48) == 0,
	    "%s", last.out);
	out_has(fmt("\n%s\ttrue\t[{\"x-max-length\",10}]\t1\t0\n", q));
	out_has(fmt("\n%s\tfalse\t[]\t0\t1\n", cq));
	/* RabbitMQ's memory columns; no policy and no exclusive consumer print as nothing */
	CTL("-q", "--no-table-headers", "list_queues", "name", "policy", "exclusive_consumer_tag",
	    "messages_ram", "message_bytes_ram", "message_bytes_unacknowledged");
	out_has(fmt("%s\t\t\t1\t3\t0\n", q));
	/* consumer capacity: 0 without a consumer, 1 with one that can take the next message */
	CTL("-q", "--no-table-headers", "list_queues", "name", "consumer_utilisation",
	    "head_message_timestamp");
	out_has(fmt("%s\t0\t\n", q));
	out_has(fmt("%s\t1\t\n", cq));
	CTL("list_queues", "--no-table-headers", "-q", "name,exclusive", "auto_delete");
	ck_assert_msg(strstr(last.out, "name") == NULL, "%s", last.out);
	out_has(fmt("%s\tfalse\tfalse\n", q));
	CTL("-s", "list_queues", "-p", "/");
	ck_assert_msg(strncmp(last.out, "name", 4) != 0 && strstr(last.out, "Listing") == NULL,
	    "%s", last.out);
	CTL("list_queues", "--formatter", "json", "name", "messages", "arguments");
	ck_assert_int_eq(last.status, 0);
	ck_assert_msg(strncmp(last.out, "[\n{", 3) == 0, "%s", last.out);
	a = json_loads(last.out, 0, &jerr);
	ck_assert_msg(json_is_array(a), "not a JSON array (%s): %s", jerr.text, last.out);
	o = find(a, "name", q);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "messages")), 1);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(o, "arguments"), "x-max-length")),
	    10);
	ck_assert_int_eq(json_object_size(o), 3);
	json_decref(a);

	CTL("list_exchanges");
	out_has("Listing exchanges for vhost / ...\nname\ttype\n");
	out_has(fmt("\n%s\ttopic\n", x));
	out_has("\namq.direct\tdirect\n");
	CTL("list_bindings");
	out_has("source_name\tsource_kind\tdestination_name\tdestination_kind\trouting_key\t"
	        "arguments\n");
	out_has(fmt("\n%s\texchange\t%s\tqueue\ta.#\t[]\n", x, q));
	out_has(fmt("\n\texchange\t%s\tqueue\t%s\t[]\n", q, q));
	CTL("list_bindings", "--formatter=json");
	a = json_loads(last.out, 0, &jerr);
	ck_assert_msg(json_is_array(a), "%s", last.out);
	o = find(a, "source_name", x);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "destination_kind")), "queue");
	ck_assert_str_eq(json_string_value(json_object_get(o, "routing_key")), "a.#");
	json_decref(a);

	CTL("list_connections");
	out_has("Listing connections ...\nuser\tpeer_host\tpeer_port\tstate\n");
	out_has("\nguest\t127.0.0.1\t");
	out_has("\trunning\n");
	CTL("-q", "list_connections", "user", "vhost", "channels", "ssl", "protocol");
	out_has("\nguest\t/\t1\tfalse\tAMQP 0-9-1\n");
	CTL("list_channels");
	out_has("Listing channels ...\nname\tuser\tconsumer_count\tmessages_unacknowledged\n");
	out_has(" (1)\tguest\t1\t0\n");
	CTL("list_consumers");
	out_has("Listing consumers in vhost / ...\nqueue_name\tchannel_name\tconsumer_tag\t"
	        "ack_required\tprefetch_count\tactive\targuments\n");
	out_has(fmt("\n%s\t", cq));
	out_has(" (1)\tctl-tag\ttrue\t0\ttrue\t[]\n");
	CTL("list_users");
	out_is("Listing users ...\nuser\ttags\nguest\t[administrator]\n");
	CTL("list_users", "--formatter", "json");
	out_is("[\n{\"user\":\"guest\",\"tags\":[\"administrator\"]}\n]\n");
	CTL("list_vhosts");
	out_is("Listing vhosts ...\nname\n/\n");
	CTL("list_permissions");
	out_is("Listing permissions for vhost \"/\" ...\nuser\tconfigure\twrite\tread\n"
	       "guest\t.*\t.*\t.*\n");
	CTL("status");
	out_has("Status of node warren@");
	out_has("\nProduct name: Warren\n");
	out_has("\nRabbitMQ version: 3.10.8\n");
	out_has("\nConnection count: 2\n");
	out_has(fmt("\nInterface: 127.0.0.1, port: %d, protocol: amqp", broker.port));
	CTL("status", "--formatter", "json");
	a = json_loads(last.out, 0, &jerr);
	ck_assert_msg(json_is_object(a), "%s", last.out);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(a, "totals"), "connection_count")),
	    2);
	json_decref(a);

	/* errors: a vhost that is not there, a column that is not one, a formatter */
	CTL("list_queues", "-p", "nosuch");
	failed_with(1, "Error:\nVirtual host 'nosuch' does not exist\n");
	CTL("list_permissions", "--vhost", "nosuch");
	failed_with(1, "Virtual host 'nosuch' does not exist");
	CTL("list_queues", "pid");
	failed_with(2, "Info key(s) pid are not supported");
	CTL("list_queues", "--formatter", "erlang");
	failed_with(2, "the formatters are table and json");
	CTL("list_connections", "-p", "/");
	failed_with(2, "takes no -p");
	client_close(cons);
	client_close(c);
}
END_TEST

/* purge_queue and delete_queue act as AMQP sees; missing ones are errors. */
START_TEST(queue_commands)
{
	const char *q = uniq("ctl-purge");
	conn_t c;

	SKIP_IN_ORACLE();
	c = client_connect_ch1();
	declare_queue(c, 1, q);
	publish_confirmed(c, 1, "", q, NULL, "a");
	publish_confirmed(c, 1, "", q, NULL, "b");
	CTL("delete_queue", "--if-empty", q);
	failed_with(1, "not empty");
	ck_assert_int_eq(queue_count(c, 1, q), 2);
	CTL("purge_queue", q);
	out_is(fmt("Purging queue '%s' in vhost '/' ...\n", q));
	ck_assert_int_eq(queue_count(c, 1, q), 0);
	publish_confirmed(c, 1, "", q, NULL, "c");
	CTL("delete_queue", q);
	out_is(fmt("Deleting queue '%s' on vhost '/' ...\n"
	           "Queue was successfully deleted with 1 ready messages\n",
	    q));
	ck_assert(!queue_exists(c, 1, q));
	CTL("-q", "delete_queue", q);
	failed_with(1, fmt("Error:\nno queue '%s' in vhost '/'\n", q));
	ck_assert_str_eq(last.out, "");
	CTL("purge_queue", "nosuch");
	failed_with(1, "no queue 'nosuch' in vhost '/'");
	CTL("delete_queue", "-p", "nosuch", "q");
	failed_with(1, "Virtual host 'nosuch' does not exist");
	CTL("purge_queue");
	failed_with(2, "usage: warrenctl purge_queue");
	client_close(c);
}
END_TEST

/* close_connection: the client gets 320 CONNECTION_FORCED with the reason. */
START_TEST(close_connection)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	const char *name;
	conn_t c, other;

	SKIP_IN_ORACLE();
	c = client_connect_ch1();
	other = client_connect_ch1();
	ck_assert_int_eq(getsockname(amqp_get_sockfd(c), (struct sockaddr *)&sa, &len), 0);
	name = fmt("127.0.0.1:%d -> 127.0.0.1:%d", ntohs(sa.sin_port), broker.port);
	CTL("-q", "list_connections", "name");
	out_has(fmt("\n%s\n", name));
	CTL("close_connection", name, "maintenance window");
	out_is(fmt("Closing connection %s, reason: maintenance window...\n", name));
	expect_connection_close(c, 320, "CONNECTION_FORCED - maintenance window");
	client_drop(c);
	CTL("close_connection", "127.0.0.1:1 -> 127.0.0.1:2", "x");
	failed_with(1, "no connection '127.0.0.1:1 -> 127.0.0.1:2'");
	CTL("close_connection", name);
	failed_with(2, "usage: warrenctl close_connection");
	/* the other one lives on */
	declare_queue(other, 1, uniq("ctl-alive"));
	/* close_all_connections: another vhost's closes none; --limit 1 then --global the rest */
	c = client_connect_ch1();
	CTL("close_all_connections", "-p", "elsewhere", "x");
	out_is("Closing all connections in vhost elsewhere, reason: x...\nClosed 0 connections\n");
	CTL("-q", "close_all_connections", "--limit", "1", "first");
	out_is("");
	CTL("close_all_connections", "--global", "the rest");
	out_has("Closing all connections to this node (across all vhosts), reason: the rest...\n");
	expect_connection_close(other, 320, NULL);
	expect_connection_close(c, 320, NULL);
	client_drop(other);
	client_drop(c);
	CTL("close_all_connections", "--global", "-p", "/", "x");
	ck_assert_int_eq(last.status, 2);
	CTL("close_all_connections", "--limit", "-1", "x");
	ck_assert_int_eq(last.status, 2);
}
END_TEST

/* ping and await_startup against a running warrend: at once, exit 0. */
START_TEST(ping_and_await_startup)
{
	SKIP_IN_ORACLE();
	CTL("ping");
	out_has("Ping succeeded\n");
	CTL("-q", "ping");
	out_is("");
	CTL("await_startup", "--timeout", "5");
	out_is("");
	CTL("ping", "extra");
	ck_assert_int_eq(last.status, 2);
}
END_TEST

/* The base64 of "$scrypt$l", how the export's password_hash of a scrypt user starts. */
#define B64_SCRYPT_PREFIX "JHNjcnlwdCRs"

/*
 * export_definitions: /api/definitions' document, to a file and to standard output; without a
 * users file it imports back (its users, vhosts and permissions are those in force).
 */
START_TEST(definitions)
{
	const char *q = uniq("ctl-dq"), *x = uniq("ctl-dx"), *t = uniq("ctl-tq");
	const char *file = fmt("%s/defs.json", broker.dir);
	json_error_t jerr;
	json_t *doc, *o;
	conn_t c;

	SKIP_IN_ORACLE();
	c = client_connect_ch1();
	declare_durable_queue(c, q, amqp_empty_table);
	declare_durable_exchange(c, x, "fanout");
	declare_queue(c, 1, t); /* transient: exported too, as RabbitMQ does (not exclusive ones) */
	bind_queue(c, 1, q, x, "k");
	CTL("export_definitions", file);
	out_is(fmt("Exporting definitions in JSON to a file at \"%s\" ...\n", file));
	doc = json_load_file(file, 0, &jerr);
	ck_assert_msg(json_is_object(doc), "%s: %s", file, jerr.text);
	ck_assert_str_eq(json_string_value(json_object_get(doc, "rabbit_version")), "3.10.8");
	o = find(json_object_get(doc, "queues"), "name", q);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_is_true(json_object_get(o, "durable")));
	o = find(json_object_get(doc, "queues"), "name", t);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_is_false(json_object_get(o, "durable")));
	o = find(json_object_get(doc, "exchanges"), "name", x);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "type")), "fanout");
	ck_assert_ptr_null(find(json_object_get(doc, "exchanges"), "name", "amq.direct"));
	o = find(json_object_get(doc, "bindings"), "source", x);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "destination")), q);
	o = find(json_object_get(doc, "users"), "name", "guest");
	ck_assert_ptr_nonnull(o);
	/* the API's export: a scrypt hash is warren_scrypt, the base64 of the "$scrypt$..." string */
	ck_assert_str_eq(
	    json_string_value(json_object_get(o, "hashing_algorithm")), "warren_scrypt");
	ck_assert_msg(strncmp(json_string_value(json_object_get(o, "password_hash")),
	                  B64_SCRYPT_PREFIX, strlen(B64_SCRYPT_PREFIX)) == 0,
	    "%s", json_string_value(json_object_get(o, "password_hash")));
	ck_assert_ptr_nonnull(find(json_object_get(doc, "vhosts"), "name", "/"));
	ck_assert_ptr_nonnull(find(json_object_get(doc, "permissions"), "user", "guest"));
	json_decref(doc);
	CTL("export_definitions", "-");
	ck_assert_int_eq(last.status, 0);
	doc = json_loads(last.out, 0, &jerr);
	ck_assert_msg(json_is_object(doc), "%s", last.out);
	ck_assert_ptr_nonnull(find(json_object_get(doc, "queues"), "name", q));
	json_decref(doc);
	CTL("export_definitions", "/nonexistent-dir/defs.json");
	failed_with(1, "/nonexistent-dir/defs.json: No such file or directory");

	/* import brings back what went, and binds it again */
	CTL("-q", "delete_queue", q);
	ck_assert_int_eq(last.status, 0);
	amqp_exchange_delete(c, 1, B(x), 0);
	client_ok(c, "exchange.delete");
	CTL("import_definitions", file);
	out_is(fmt("Importing definitions in JSON from a file at \"%s\" ...\n"
	           "Successfully imported definitions\n",
	    file));
	ck_assert(queue_exists(c, 1, q));
	publish_confirmed(c, 1, x, "any", NULL, "routed again");
	ck_assert_int_eq(queue_count(c, 1, q), 1);
	client_close(c);
}
END_TEST

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * A RabbitMQ export without a users file: its objects import when its users, vhosts and
 * permissions are those in force; one that would change the files is refused naming users_file;
 * a bad file changes nothing.
 */
START_TEST(import_rabbitmq_file)
{
	const char *file = fmt("%s/rabbit.json", broker.dir), *bad = fmt("%s/bad.json", broker.dir);
	conn_t c;

	SKIP_IN_ORACLE();
	write_file(file,
	    "{\"rabbit_version\":\"3.10.8\",\"users\":[{\"name\":\"guest\",\"password_hash\":"
	    "\"bEv8P8Dgs\",\"hashing_algorithm\":\"rabbit_password_hashing_sha256\",\"tags\":"
	    "[\"administrator\"],\"limits\":{}}],\"vhosts\":[{\"name\":\"/\"}],\"permissions\":["
	    "{\"user\":\"guest\",\"vhost\":\"/\",\"configure\":\".*\",\"write\":\".*\","
	    "\"read\":\".*\"}],\"policies\":[],\"queues\":[{\"name\":"
	    "\"imp.q\",\"vhost\":\"/\",\"durable\":true,\"auto_delete\":false,\"arguments\":{"
	    "\"x-max-length\":10}}],"
	    "\"exchanges\":[{\"name\":\"imp.x\",\"vhost\":\"/\",\"type\":\"direct\","
	    "\"durable\":true,\"auto_delete\":false,\"internal\":false,\"arguments\":{}}],"
	    "\"bindings\":[{\"source\":\"imp.x\",\"vhost\":\"/\",\"destination\":\"imp.q\","
	    "\"destination_type\":\"queue\",\"routing_key\":\"k\",\"arguments\":{}}]}\n");
	CTL("-q", "import_definitions", file);
	out_is("");
	ck_assert_str_eq(last.err, "");
	c = client_connect_ch1();
	publish_confirmed(c, 1, "imp.x", "k", NULL, "via the imported binding");
	ck_assert_int_eq(queue_count(c, 1, "imp.q"), 1);
	/* importing it again (from standard input) changes nothing */
	ctl_stdin = file;
	CTL("import_definitions", "-");
	out_is("Importing definitions in JSON from a file at \"standard input\" ...\n"
	       "Successfully imported definitions\n");
	ck_assert_int_eq(queue_count(c, 1, "imp.q"), 1);

	/* new users or vhosts are lines in files this warrend does not have */
	write_file(bad,
	    "{\"users\":[{\"name\":\"bob\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"queues\":[{\"name\":\"imp.never\",\"vhost\":\"/\",\"durable\":true}]}");
	CTL("import_definitions", bad);
	failed_with(1, "users_file");
	write_file(bad, "{\"vhosts\":[{\"name\":\"v2\"}]}");
	CTL("import_definitions", bad);
	failed_with(1, "users_file");
	write_file(bad, "{\"queues\": [}");
	CTL("import_definitions", bad);
	failed_with(1, fmt("%s:1:", bad));
	write_file(bad,
	    "{\"exchanges\":[{\"name\":\"imp.never\",\"vhost\":\"/\",\"type\":\"fanout\"},"
	    "{\"name\":\"imp.never2\",\"vhost\":\"/\",\"type\":\"x-nosuch\"}]}");
	CTL("import_definitions", bad);
	failed_with(1, "exchanges[1]: unknown exchange type 'x-nosuch'");
	write_file(bad, "{\"policies\":[{\"name\":\"p\",\"vhost\":\"/\"}]}");
	CTL("import_definitions", bad);
	failed_with(1, "policies[0]: vhost, name and pattern (strings) and definition");
	write_file(bad,
	    "{\"bindings\":[{\"source\":\"imp.x\",\"vhost\":\"/\",\"destination\":\"nowhere\","
	    "\"destination_type\":\"queue\",\"routing_key\":\"\",\"arguments\":{}}]}");
	CTL("import_definitions", bad);
	failed_with(1, "bindings[0]: no destination queue 'nowhere' in vhost '/'");
	CTL("-q", "list_queues", "name");
	ck_assert_msg(
	    strstr(last.out, "imp.never") == NULL, "a failed import declared: %s", last.out);
	CTL("-q", "list_exchanges", "name");
	ck_assert_msg(
	    strstr(last.out, "imp.never") == NULL, "a failed import declared: %s", last.out);
	write_file(bad, "[]");
	CTL("import_definitions", bad);
	failed_with(1, "not a JSON object");
	CTL("import_definitions", "/nonexistent-dir/x.json");
	failed_with(1, "/nonexistent-dir/x.json: No such file or directory");
	client_close(c);
}
END_TEST

/* A file's contents (a static buffer, valid until the next call), or "". */
static const char *slurp(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static int control_fd(void);

/* RabbitMQ 3.10.8's SHA-256 hash of "s3cret" (test/fixtures/rabbitmq-3.10.8-definitions.json). */
#define RMQ_S3CRET "1ZRz01Fz2lGj+fBTJYkVuk8dt1ffM2xKhXuqbRwsHrPD7xo8"

/*
 * With a users file, import_definitions writes a RabbitMQ export's users, vhosts, permissions
 * and limits into the files (a user's RabbitMQ password then logs in), then declares its objects;
 * a hash Warren cannot verify imports its user locked, with a warning; a refused import leaves
 * the files as they were.
 */
START_TEST(import_into_files)
{
	const char *file = fmt("%s/rabbit.json", broker.dir), *bad = fmt("%s/bad.json", broker.dir);
	struct client_opts alice = { .vhost = "orders", .user = "alice", .password = "s3cret" };
	char users_before[16384];
	json_error_t jerr;
	json_t *doc, *o;
	conn_t c;

	SKIP_IN_ORACLE();
	write_file(file,
	    "{\"rabbit_version\":\"3.10.8\",\"users\":[{\"name\":\"alice\",\"password_hash\":"
	    "\"" RMQ_S3CRET "\",\"hashing_algorithm\":\"rabbit_password_hashing_sha256\","
	    "\"tags\":[\"management\"],\"limits\":{}},{\"name\":\"old\",\"password_hash\":"
	    "\"AAAAAAAAAAAAAAAAAAAAAAAA\",\"hashing_algorithm\":\"rabbit_password_hashing_md5\","
	    "\"tags\":[]}],\"vhosts\":[{\"name\":\"orders\"}],\"permissions\":[{\"user\":"
	    "\"alice\",\"vhost\":\"orders\",\"configure\":\".*\",\"write\":\".*\",\"read\":"
	    "\".*\"}],\"parameters\":[{\"value\":{\"max-queues\":5},\"vhost\":\"orders\","
	    "\"component\":\"vhost-limits\",\"name\":\"limits\"}],\"policies\":[],\"queues\":"
	    "[{\"name\":\"orders.q\",\"vhost\":\"orders\",\"durable\":true,\"auto_delete\":"
	    "false,\"arguments\":{}}],\"exchanges\":[],\"bindings\":[]}\n");
	CTL("import_definitions", file);
	out_is(fmt("Importing definitions in JSON from a file at \"%s\" ...\n"
	           "Successfully imported definitions\n",
	    file));
	ck_assert_msg(
	    strstr(last.err,
	        "Warning: user 'old': hashing_algorithm rabbit_password_hashing_md5") != NULL,
	    "%s", last.err);
	ck_assert_msg(strstr(slurp(users_path),
	                  "\nalice:$rabbitmq-sha256$" RMQ_S3CRET ":management\n") != NULL,
	    "%s", slurp(users_path));
	ck_assert_msg(strstr(slurp(users_path), "\nold:!") != NULL, "%s", slurp(users_path));
	ck_assert_msg(strstr(slurp(fmt("%s/orders.vhost", vdir)), "permissions alice ") != NULL,
	    "%s", slurp(fmt("%s/orders.vhost", vdir)));
	ck_assert_msg(strstr(slurp(fmt("%s/orders.vhost", vdir)), "max-queues 5") != NULL, "%s",
	    slurp(fmt("%s/orders.vhost", vdir)));
	c = client_connect_opts(&alice); /* RabbitMQ's password, over AMQP */
	client_open(c, 1);
	ck_assert(queue_exists(c, 1, "orders.q"));
	client_close(c);
	CTL("-q", "list_users");
	out_is("user\ttags\nalice\t[management]\nguest\t[administrator]\nold\t[]\n");
	CTL("-q", "list_permissions", "-p", "orders");
	out_is("user\tconfigure\twrite\tread\nalice\t.*\t.*\t.*\n");
	/* the export gives RabbitMQ's hash back as it came, and guest's as warren_scrypt */
	CTL("export_definitions", "-");
	doc = json_loads(last.out, 0, &jerr);
	ck_assert_msg(json_is_object(doc), "%s", last.out);
	o = find(json_object_get(doc, "users"), "name", "alice");
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "password_hash")), RMQ_S3CRET);
	o = find(json_object_get(doc, "users"), "name", "guest");
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(
	    json_string_value(json_object_get(o, "hashing_algorithm")), "warren_scrypt");
	json_decref(doc);

	/* refused: the files stay as they were */
	snprintf(users_before, sizeof(users_before), "%s", slurp(users_path));
	write_file(bad,
	    "{\"users\":[{\"name\":\"carol\",\"password_hash\":\"\",\"tags\":[]}],"
	    "\"policies\":[{\"name\":\"p\",\"vhost\":\"/\"}]}");
	CTL("import_definitions", bad);
	failed_with(1, "policies[0]: vhost, name and pattern");
	write_file(
	    bad, "{\"users\":[{\"name\":\"carol\",\"password_hash\":\"\",\"tags\":[\"a b\"]}]}");
	CTL("import_definitions", bad);
	ck_assert_int_eq(last.status, 1);
	ck_assert_str_eq(slurp(users_path), users_before);

	/* a client that goes before its import is answered: the import still lands */
	{
		static const char body[] =
		    "{\"users\":[{\"name\":\"dave\",\"password_hash\":\"\",\"tags\":[]}]}";
		const char *line =
		    fmt("api POST /api/definitions content-length=%zu\n%s", sizeof(body) - 1, body);
		int64_t deadline = now_ms() + 10000;
		int fd = control_fd();

		ck_assert_int_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
		close(fd);
		while (strstr(slurp(users_path), "\ndave:!") == NULL && now_ms() < deadline)
			usleep(20000);
		ck_assert_msg(
		    strstr(slurp(users_path), "\ndave:!") != NULL, "%s", slurp(users_path));
	}
	CTL("-q", "list_users");
	out_has("\ndave\t[]\n");
}
END_TEST

/* Thousands of queues stream through the socket and come out as rows. */
/* set_policy, list_policies, clear_policy (and the operator forms): lines of the vhost file. */
START_TEST(policy_commands)
{
	const char *vfile = fmt("%s/default.vhost", vdir);
	char path[400];
	conn_t c;
	int i;

	snprintf(path, sizeof(path), "%s", vfile);
	CTL("set_policy", "--priority", "3", "--apply-to", "queues", "ctl-cap", "^ctl\\.",
	    "{\"max-length\": 2}");
	out_is("Setting policy \"ctl-cap\" for pattern \"^ctl\\.\" to \"{\"max-length\": 2}\" with "
	       "priority \"3\" for vhost \"/\" ...\n");
	ck_assert_msg(strstr(slurp(path),
	                  "policy ctl-cap ^ctl\\. {\"max-length\":2} priority 3 "
	                  "apply-to queues\n") != NULL,
	    "%s", slurp(path));
	/* In force at once: a queue under it keeps two messages. */
	c = client_connect_ch1();
	declare_queue(c, 1, "ctl.q");
	for (i = 0; i < 4; i++)
		publish_confirmed(c, 1, "", "ctl.q", NULL, "m");
	ck_assert_uint_eq(queue_count(c, 1, "ctl.q"), 2);
	client_close(c);
	CTL("-q", "list_policies");
	out_is("vhost\tname\tpattern\tapply-to\tdefinition\tpriority\n"
	       "/\tctl-cap\t^ctl\\.\tqueues\t{\"max-length\":2}\t3\n");
	CTL("set_operator_policy", "ctl-op", ".*", "{\"overflow\": \"drop-head\"}");
	failed_with(1, "are not recognised operator policy settings");
	CTL("set_operator_policy", "ctl-op", ".*", "{\"expires\": 60000}");
	ck_assert_int_eq(last.status, 0);
	CTL("-q", "list_operator_policies", "--formatter", "json");
	out_is("[\n{\"vhost\":\"/\",\"name\":\"ctl-op\",\"pattern\":\".*\",\"apply-to\":\"all\","
	       "\"definition\":{\"expires\":60000},\"priority\":0}\n]\n");
	CTL("set_policy", "bad", ".*", "{\"message-ttl\": -1}");
	failed_with(1, "-1 is not a valid message TTL");
	CTL("clear_operator_policy", "ctl-op");
	ck_assert_int_eq(last.status, 0);
	CTL("clear_policy", "ctl-cap");
	ck_assert_int_eq(last.status, 0);
	CTL("clear_policy", "ctl-cap");
	failed_with(1, "Parameter does not exist");
	ck_assert_msg(strstr(slurp(path), "ctl-") == NULL, "%s", slurp(path));
}
END_TEST

/* set_vhost_limits, list_vhost_limits and clear_vhost_limits: the vhost file's lines, at once. */
START_TEST(vhost_limits_commands)
{
	char path[400];
	conn_t c;

	snprintf(path, sizeof(path), "%s/default.vhost", vdir);
	CTL("set_vhost_limits", "{\"max-connections\": 10, \"max-queues\": 5}");
	out_is("Setting vhost limits to \"{\"max-connections\": 10, \"max-queues\": 5}\" for vhost "
	       "\"/\" ...\n");
	ck_assert_msg(
	    strstr(slurp(path), "\nmax-connections 10\nmax-queues 5\n") != NULL, "%s", slurp(path));
	CTL("list_vhost_limits");
	out_is("Listing limits for vhost \"/\" ...\n{\"max-connections\":10,\"max-queues\":5}\n");
	CTL("-q", "list_vhost_limits", "--global");
	out_has("vhost\tlimits\n");
	out_has("\n/\t{\"max-connections\":10,\"max-queues\":5}\n");
	CTL("list_vhost_limits", "--global", "--formatter", "json");
	out_has(
	    "{\"vhost\":\"/\",\"limits\":\"{\\\"max-connections\\\":10,\\\"max-queues\\\":5}\"}");
	/* The limits given replace them all: max-connections goes; max-queues 0 holds at once. */
	CTL("-q", "set_vhost_limits", "{\"max-queues\": 0}");
	out_is("");
	ck_assert_msg(strstr(slurp(path), "max-connections") == NULL, "%s", slurp(path));
	CTL("-q", "list_vhost_limits");
	out_is("{\"max-queues\":0}\n");
	c = client_connect_ch1();
	amqp_queue_declare(c, 1, B("ctl.limited"), 0, 0, 0, 0, amqp_empty_table);
	rpc_channel_error(c, 1, 406,
	    "PRECONDITION_FAILED - cannot declare queue 'ctl.limited': queue limit in vhost '/' "
	    "(0) is reached");
	CTL("clear_vhost_limits");
	out_is("Clearing vhost \"/\" limits ...\n");
	ck_assert_msg(strstr(slurp(path), "max-") == NULL, "%s", slurp(path));
	client_open(c, 1);
	declare_queue(c, 1, "ctl.limited");
	CHECK_RPC(c, amqp_queue_delete(c, 1, B("ctl.limited"), 0, 0));
	client_close(c);
	CTL("clear_vhost_limits");
	failed_with(1, "Parameter does not exist");
	CTL("-q", "list_vhost_limits", "--formatter", "json");
	out_is("{}\n");
	CTL("set_vhost_limits", "{\"max-channels\": 1}");
	failed_with(1, "Unrecognised terms [{<<\"max-channels\">>,1}] in limits");
	CTL("set_vhost_limits", "{\"max-queues\": \"5\"}");
	failed_with(1, "max-queues should be a number, actually was <<\"5\">>");
	CTL("set_vhost_limits", "{\"max-queues\": 2147483648}");
	failed_with(1, "max-queues 2147483648 is more than a vhost file holds");
	CTL("set_vhost_limits", "-p", "nope", "{}");
	failed_with(1, "Virtual host 'nope' does not exist");
	CTL("list_vhost_limits", "-p", "nope");
	failed_with(1, "Virtual host 'nope' does not exist");
	CTL("list_vhost_limits", "--global", "-p", "/");
	ck_assert_int_eq(last.status, 2);
	ck_assert_msg(strstr(slurp(path), "max-") == NULL, "%s", slurp(path));
}
END_TEST

/* Whether user gets into vhost with password over AMQP (a refusal is not a failure here). */
static bool logs_in(const char *user, const char *password, const char *vhost)
{
	struct timeval tv = { WAIT_MS / 1000, (WAIT_MS % 1000) * 1000 };
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	bool ok;

	ck_assert_int_eq(
	    amqp_socket_open_noblock(s, broker.host, broker.port, &tv), AMQP_STATUS_OK);
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv);
	ok =
	    amqp_login(c, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user, password).reply_type ==
	    AMQP_RESPONSE_NORMAL;
	if (ok)
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	return ok;
}

/*
 * rabbitmqctl's user, vhost and permission commands: the users file and the vhost files change,
 * AMQP logins follow at once, and the lines printed and the refusals are rabbitmqctl 3.10's.
 */
START_TEST(user_commands)
{
	const char *pwfile = fmt("%s/ctl-password", broker.dir);
	const char *tab;
	conn_t c;

	CTL("add_user", "ctl-u", "pw1");
	out_is(
	    "Adding user \"ctl-u\" ...\nDone. Don't forget to grant the user permissions to some "
	    "virtual hosts! See 'rabbitmqctl help set_permissions' to learn more.\n");
	ck_assert_msg(
	    strstr(slurp(users_path), "\nctl-u:$scrypt$") != NULL, "%s", slurp(users_path));
	CTL("add_user", "ctl-u", "pw2");
	failed_with(1, "User \"ctl-u\" already exists");
	CTL("add_vhost", "ctl-v");
	out_is("Adding vhost \"ctl-v\" ...\n");
	CTL("add_vhost", "ctl-v"); /* as rabbitmqctl: there already, fine */
	ck_assert_int_eq(last.status, 0);
	ck_assert(!logs_in("ctl-u", "pw1", "ctl-v"));
	CTL("set_permissions", "-p", "ctl-v", "ctl-u", "^ctl-", ".*", ".*");
	out_is("Setting permissions for user \"ctl-u\" in vhost \"ctl-v\" ...\n");
	ck_assert(logs_in("ctl-u", "pw1", "ctl-v"));
	CTL("-q", "list_user_permissions", "ctl-u");
	out_is("vhost\tconfigure\twrite\tread\nctl-v\t^ctl-\t.*\t.*\n");
	CTL("-q", "list_permissions", "-p", "ctl-v");
	out_is("user\tconfigure\twrite\tread\nctl-u\t^ctl-\t.*\t.*\n");
	CTL("set_permissions", "-p", "nope", "ctl-u", ".*", ".*", ".*");
	failed_with(1, "Virtual host nope does not exist");
	CTL("set_permissions", "-p", "ctl-v", "nobody", ".*", ".*", ".*");
	failed_with(1, "User nobody does not exist");
	CTL("list_user_permissions", "nobody");
	failed_with(1, "User \"nobody\" does not exist");
	CTL("list_user_permissions");
	ck_assert_int_eq(last.status, 2);

	/* A new password from standard input; the old one stops working. */
	write_file(pwfile, "pw2\n");
	ctl_stdin = pwfile;
	CTL("change_password", "ctl-u");
	out_is("Changing password for user \"ctl-u\" ...\n");
	ck_assert(logs_in("ctl-u", "pw2", "ctl-v"));
	ck_assert(!logs_in("ctl-u", "pw1", "ctl-v"));
	CTL("change_password", "nobody", "x");
	failed_with(1, "User \"nobody\" does not exist");

	CTL("set_user_tags", "ctl-u", "monitoring", "policymaker");
	out_is("Setting tags for user \"ctl-u\" to [monitoring, policymaker] ...\n");
	CTL("-q", "list_users");
	out_has("\nctl-u\t[monitoring, policymaker]\n");
	ck_assert(logs_in("ctl-u", "pw2", "ctl-v")); /* tags leave the password alone */
	CTL("set_user_tags", "ctl-u");
	out_is("Setting tags for user \"ctl-u\" to [] ...\n");
	CTL("set_user_tags", "ctl-u", "no,commas");
	failed_with(1, "a users file separates tags by commas");

	CTL("set_topic_permissions", "-p", "ctl-v", "ctl-u", "amq.topic", "^a", "^b");
	out_is("Setting topic permissions on \"amq.topic\" for user \"ctl-u\" in vhost \"ctl-v\" "
	       "...\n");
	CTL("-q", "list_topic_permissions", "-p", "ctl-v");
	out_is("user\texchange\twrite\tread\nctl-u\tamq.topic\t^a\t^b\n");
	CTL("-q", "list_user_topic_permissions", "ctl-u", "--formatter", "json");
	out_is(
	    "[\n{\"vhost\":\"ctl-v\",\"exchange\":\"amq.topic\",\"write\":\"^a\",\"read\":\"^b\"}"
	    "\n]\n");
	CTL("clear_topic_permissions", "-p", "ctl-v", "ctl-u");
	out_is("Clearing topic permissions for user \"ctl-u\" in vhost \"ctl-v\" ...\n");
	CTL("-q", "list_topic_permissions", "-p", "ctl-v");
	out_is("");

	CTL("clear_permissions", "-p", "ctl-v", "ctl-u");
	out_is("Clearing permissions for user \"ctl-u\" in vhost \"ctl-v\" ...\n");
	ck_assert(!logs_in("ctl-u", "pw2", "ctl-v"));
	CTL("clear_permissions", "-p", "ctl-v", "ctl-u"); /* nothing left: fine */
	ck_assert_int_eq(last.status, 0);
	CTL("set_permissions", "-p", "ctl-v", "ctl-u", ".*", ".*", ".*");
	CTL("clear_password", "ctl-u");
	out_is("Clearing password for user \"ctl-u\" ...\n");
	ck_assert_msg(strstr(slurp(users_path), "\nctl-u:!") != NULL, "%s", slurp(users_path));
	ck_assert(!logs_in("ctl-u", "pw2", "ctl-v"));

	CTL("delete_vhost", "ctl-v");
	out_is("Deleting vhost \"ctl-v\" ...\n");
	CTL("delete_vhost", "ctl-v");
	failed_with(1, "Virtual host 'ctl-v' does not exist");
	CTL("delete_user", "ctl-u");
	out_is("Deleting user \"ctl-u\" ...\n");
	ck_assert_msg(strstr(slurp(users_path), "ctl-u") == NULL, "%s", slurp(users_path));
	CTL("delete_user", "ctl-u");
	failed_with(1, "User \"ctl-u\" does not exist");
	CTL("-q", "add_user", "ctl-w", "pw");
	out_is("");
	CTL("-q", "delete_user", "ctl-w");
	out_is("");
	/* rabbitmqctl's pid column: the name, which close_connection takes */
	c = client_connect_ch1();
	CTL("-q", "--no-table-headers", "list_connections", "pid", "name");
	ck_assert_int_eq(last.status, 0);
	tab = strchr(last.out, '\t');
	ck_assert_msg(tab != NULL && strncmp(tab + 1, last.out, (size_t)(tab - last.out)) == 0 &&
	        tab[1 + (tab - last.out)] == '\n',
	    "%s", last.out);
	client_close(c);
}
END_TEST

/*
 * set_disk_free_limit and set_vm_memory_high_watermark: the limits change at once, a publisher
 * is blocked and unblocked, status shows the alarms; rabbitmqctl's refusals of bad arguments.
 */
START_TEST(alarm_commands)
{
	struct msg m;
	conn_t c;

	c = client_connect_ch1();
	declare_queue(c, 1, "ctl.alarm");
	CTL("set_disk_free_limit", "mem_relative", "1000");
	out_has(" to 1000 times the total RAM ...\n");
	CTL("status");
	out_has("\nFree disk space alarm on node ");
	publish(c, 1, "", "ctl.alarm", "held");
	client_expect(c, 0, AMQP_CONNECTION_BLOCKED_METHOD, &m);
	msg_free(&m);
	CTL("-q", "set_disk_free_limit", "50MB");
	out_is("");
	client_expect(c, 0, AMQP_CONNECTION_UNBLOCKED_METHOD, &m);
	msg_free(&m);
	ck_assert_uint_eq(queue_count(c, 1, "ctl.alarm"), 1);
	CTL("status");
	out_has("\nAlarms\n\n(none)\n");
	out_has("\nLow free disk space watermark: 50000000 bytes\n");

	/* Message memory: the one message held is over a limit of 0 at once. */
	CTL("set_vm_memory_high_watermark", "absolute", "0");
	out_has(" to 0 bytes ...\n");
	CTL("status");
	out_has("\nMemory alarm on node ");
	/* As RabbitMQ: a connection hears connection.blocked at its next publish, not before. */
	client_quiet(c, 300);
	publish(c, 1, "", "ctl.alarm", "second");
	client_expect(c, 0, AMQP_CONNECTION_BLOCKED_METHOD, &m);
	msg_free(&m);
	CTL("set_vm_memory_high_watermark", "0.4");
	out_has(" to 0.4 ...\n");
	client_expect(c, 0, AMQP_CONNECTION_UNBLOCKED_METHOD, &m);
	msg_free(&m);
	ck_assert_uint_eq(queue_count(c, 1, "ctl.alarm"), 2);
	CTL("-q", "set_vm_memory_high_watermark", "absolute", "1GiB");
	CTL("status");
	out_has("\nMessage memory high watermark: 1073741824 bytes\n");
	CHECK_RPC(c, amqp_queue_delete(c, 1, B("ctl.alarm"), 0, 0));
	client_close(c);

	CTL("set_vm_memory_high_watermark", "1.5");
	failed_with(2, "The threshold should be a fraction between 0.0 and 1.0");
	CTL("set_vm_memory_high_watermark", "absolute", "1Gb");
	failed_with(2, "Invalid units.");
	CTL("set_vm_memory_high_watermark", "abc");
	failed_with(2, "Bad argument.");
	CTL("set_disk_free_limit", "mem_relative", "x");
	failed_with(2, "Bad argument.");
	CTL("set_disk_free_limit");
	ck_assert_int_eq(last.status, 2);
}
END_TEST

START_TEST(many_queues)
{
	char prefix[128];
	size_t rows = 0;
	char *p;
	conn_t c;
	int i;

	SKIP_IN_ORACLE();
	snprintf(prefix, sizeof(prefix), "%s", uniq("ctl-many")); /* uniq's ring is reused below */
	c = client_connect_ch1();
	for (i = 0; i < 5000; i++) {
		amqp_queue_declare(c, 1, B(fmt("%s-%d", prefix, i)), 0, 0, 0, 0, amqp_empty_table);
		client_ok(c, "queue.declare");
	}
	CTL("-s", "list_queues", "name", "messages", "arguments");
	ck_assert_int_eq(last.status, 0);
	for (p = last.out; (p = strstr(p, prefix)) != NULL; p++)
		rows++;
	ck_assert_int_eq(rows, 5000);
	client_close(c);
}
END_TEST

/* A connection to the control socket. */
static int control_fd(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control.sock", broker.data);

	ck_assert_int_lt(n, (int)sizeof(sa.sun_path));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Send bytes on the control socket and read the answer to EOF (bounded). */
static const char *talk(const void *bytes, size_t len)
{
	static char answer[65536];
	int64_t deadline = now_ms() + 20000;
	size_t have = 0;
	ssize_t n;
	int fd = control_fd();

	if (len > 0)
		ck_assert_int_eq(write(fd, bytes, len), (ssize_t)len);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		ck_assert_msg(now_ms() < deadline && poll(&p, 1, 20000) == 1, "no answer");
		n = read(fd, answer + have, sizeof(answer) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	answer[have] = '\0';
	return answer;
}
#define TALK(s) talk((s), sizeof(s) - 1)

/* The api command itself: answers, and garbage refused with a clear line. */
START_TEST(api_command)
{
	const char *a;
	conn_t c;

	SKIP_IN_ORACLE();
	a = TALK("api GET /api/vhosts?columns=name\n");
	ck_assert_str_eq(a, "ok 200\n{\"name\":\"/\"}\n.\n");
	a = TALK("api GET /api/vhosts/%2F\n");
	ck_assert_msg(strncmp(a, "ok 200\n{\"name\":\"/\",", 17) == 0, "%s", a);
	ck_assert_msg(strcmp(a + strlen(a) - 4, "}\n.\n") == 0, "%s", a);
	a = TALK("api GET /api/nosuch\n");
	ck_assert_str_eq(
	    a, "error 404\n{\"error\":\"Object Not Found\",\"reason\":\"Not Found\"}\n.\n");
	a = TALK("api PATCH /api/vhosts\n");
	ck_assert_msg(strncmp(a, "error 405\n", 10) == 0, "%s", a);
	a = TALK("api GET /api/overview?columns\x01\n");
	ck_assert_msg(
	    strncmp(a, "ok 200\n", 7) == 0 || strncmp(a, "error 400\n", 10) == 0, "%s", a);
	a = TALK("api GET\n");
	ck_assert_str_eq(a, "error\nusage: api METHOD TARGET [NAME=VALUE...]\n");
	a = TALK("api DELETE /api/connections/x x-reason=%zz\n");
	ck_assert_str_eq(a, "error\na malformed % escape (or a NUL byte) in the command\n");
	a = TALK("api DELETE /api/connections/x x-reason=%00\n");
	ck_assert_str_eq(a, "error\na malformed % escape (or a NUL byte) in the command\n");
	a = TALK("api POST /api/definitions content-length=99999999999\n");
	ck_assert_str_eq(a, "error\ncontent-length must be 0 to 67108864\n");
	a = TALK("api POST /api/definitions content-length=5\n[1,2]");
	ck_assert_str_eq(a, "error 400\n{\"error\":\"bad_request\",\"reason\":\"not_json\"}\n.\n");
	a = TALK("api POST /api/definitions content-length=3\n{\"a");
	ck_assert_str_eq(a, "error 400\n{\"error\":\"bad_request\",\"reason\":\"not_json\"}\n.\n");
	/* a bind through the socket: HTTP's Location header has no place here */
	c = client_connect_ch1();
	declare_queue(c, 1, "ctl-bound");
	a = TALK("api POST /api/bindings/%2F/e/amq.direct/q/ctl-bound content-length=20\n"
	         "{\"routing_key\":\"rk\"}");
	ck_assert_str_eq(a, "ok 201\n.\n");
	publish_confirmed(c, 1, "amq.direct", "rk", NULL, "bound");
	ck_assert_int_eq(queue_count(c, 1, "ctl-bound"), 1);
	client_close(c);
	a = TALK("api GET /api/vhosts a b c d e f g h i j k l m n o p q\n");
	ck_assert_str_eq(a, "error\ntoo many words in the command\n");
	a = TALK("api GET /api/vhosts noequals\n");
	ck_assert_msg(strncmp(a, "error 400\n", 10) == 0, "%s", a);
	/* a body announced and never sent: the client goes, warrend is fine */
	{
		int fd = control_fd();

		ck_assert_int_eq(
		    write(fd, "api POST /api/definitions content-length=100\n{", 47), 47);
		close(fd);
	}
	/* a client that asks for a list and reads nothing, then goes */
	{
		int fd = control_fd();

		ck_assert_int_eq(write(fd, "api GET /api/queues\n", 20), 20);
		close(fd);
	}
	c = client_connect_ch1(); /* AMQP is unaffected */
	declare_queue(c, 1, uniq("ctl-after"));
	client_close(c);
	a = TALK("reload\n");
	ck_assert_msg(strncmp(a, "ok\n", 3) == 0, "%s", a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("16-warrenctl");
	TCase *tc = tcase_create("warrenctl");
	int r;

	tcase_add_unchecked_fixture(tc, start, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, lists);
	tcase_add_test(tc, queue_commands);
	tcase_add_test(tc, close_connection);
	tcase_add_test(tc, definitions);
	tcase_add_test(tc, import_rabbitmq_file);
	tcase_add_test(tc, many_queues);
	tcase_add_test(tc, alarm_commands);
	tcase_add_test(tc, ping_and_await_startup);
	tcase_add_test(tc, api_command);
	suite_add_tcase(s, tc);
	tc = tcase_create("files");
	tcase_add_unchecked_fixture(tc, start_files, stop);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, import_into_files);
	tcase_add_test(tc, policy_commands);
	tcase_add_test(tc, vhost_limits_commands);
	tcase_add_test(tc, user_commands);
	suite_add_tcase(s, tc);
	r = harness_run(s);
	return r == EXIT_SUCCESS && !broker_bad ? EXIT_SUCCESS : EXIT_FAILURE;
}
