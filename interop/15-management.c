/*
 * 15-management: the management HTTP API (docs/management.md) against a private warrend, over a
 * plain socket (one request per connection, "Connection: close"), with rabbitmq-c clients to
 * check that what the API does is what AMQP sees: declares, deletes, binds, publishes, gets and
 * purges through the API behave as the AMQP methods; the users file's tags and permissions decide
 * who sees and does what; and hostile requests (no or wrong credentials, oversized headers and
 * bodies, malformed and deeply nested JSON, a client that stalls) get a 4xx and nothing worse.
 * Warren only: the group's broker is started here with its own configuration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/http.h"

/* Send raw bytes, read the answer; status 0 when the connection closed without one. */
static void http_raw(const void *req, size_t len, struct http_resp *r)
{
	int fd = http_connect(broker.http_port);
	char *all = NULL, *sep;
	size_t off = 0;
	ssize_t n;

	while (off < len && (n = write(fd, (const char *)req + off, len - off)) > 0)
		off += (size_t)n;
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

/* One request as user (NULL: no credentials); body may be NULL. */
static int req_as(const char *user, const char *pw, const char *method, const char *path,
    const char *body, struct http_resp *r)
{
	char *req;
	int n = asprintf(&req,
	    "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s%s%s"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    method, path, user != NULL ? "Authorization: Basic " : "",
	    user != NULL ? http_b64(fmt("%s:%s", user, pw)) : "", user != NULL ? "\r\n" : "",
	    body != NULL ? strlen(body) : 0, body != NULL ? body : "");

	ck_assert_int_gt(n, 0);
	http_raw(req, (size_t)n, r);
	free(req);
	return r->status;
}

static int req(const char *method, const char *path, const char *body, struct http_resp *r)
{
	return req_as("guest", "guest", method, path, body, r);
}

/* The request must answer status (and a body containing want, if not NULL). */
static void expect(
    const char *method, const char *path, const char *body, int status, const char *want)
{
	struct http_resp r;

	req(method, path, body, &r);
	ck_assert_msg(r.status == status, "%s %s: status %d, expected %d: %s", method, path,
	    r.status, status, r.body);
	if (want != NULL)
		ck_assert_msg(strstr(r.body, want) != NULL, "%s %s: body %s lacks %s", method, path,
		    r.body, want);
	free(r.body);
}

static void start_api(void)
{
	char err[256];

	if (broker_spawn_config(&broker,
	        "management_max_body = 64KiB\nmanagement_timeout = 2\n"
	        "collect_statistics_interval = 200\n",
	        err, sizeof(err)) != 0) {
		fprintf(stderr, "15-management: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

/* The group's broker must exit 0 on SIGTERM, with no sanitizer report in its log. */
static void stop_broker(void)
{
	broker_stop_clean("15-management");
}

/* ---- Authentication ---- */

START_TEST(credentials_are_required)
{
	static const char bad_basic[] =
	    "GET /api/whoami HTTP/1.1\r\nAuthorization: Basic !!!!\r\nConnection: close\r\n\r\n";
	struct http_resp r;

	ck_assert_int_eq(req_as(NULL, NULL, "GET", "/api/whoami", NULL, &r), 401);
	ck_assert_ptr_nonnull(strcasestr(r.head, "WWW-Authenticate: Basic"));
	free(r.body);
	ck_assert_int_eq(req_as("guest", "wrong", "GET", "/api/whoami", NULL, &r), 401);
	ck_assert_ptr_nonnull(strstr(r.body, "Login failed"));
	free(r.body);
	ck_assert_int_eq(req_as("nobody", "guest", "GET", "/api/overview", NULL, &r), 401);
	free(r.body);
	http_raw(bad_basic, sizeof(bad_basic) - 1, &r);
	ck_assert_int_eq(r.status, 401);
	free(r.body);
	expect(
	    "GET", "/api/whoami", NULL, 200, "{\"name\":\"guest\",\"tags\":[\"administrator\"]}");
}
END_TEST

/* ---- Objects, as AMQP sees them ---- */

START_TEST(queue_declared_through_the_api_is_an_amqp_queue)
{
	const char *q = uniq("api-q");
	conn_t c;

	expect("PUT", fmt("/api/queues/%%2F/%s", q),
	    "{\"durable\":\"true\",\"arguments\":{\"x-max-length\":2}}", 201, NULL);
	expect("PUT", fmt("/api/queues/%%2F/%s", q),
	    "{\"durable\":true,\"arguments\":{\"x-max-length\":2}}", 204, NULL);
	expect("PUT", fmt("/api/queues/%%2F/%s", q), "{\"durable\":false}", 400,
	    "inequivalent arg 'durable'");
	expect("PUT", "/api/queues/%2F/amq.nope", "{}", 401, "reserved prefix");
	expect("PUT", fmt("/api/queues/%%2F/%s-bad", q), "{\"arguments\":{\"x-max-length\":\"x\"}}",
	    400, "x-max-length");
	c = client_connect_ch1();
	ck_assert_uint_eq(queue_count(c, 1, q), 0);
	publish_confirmed(c, 1, "", q, NULL, "one");
	publish_confirmed(c, 1, "", q, NULL, "two");
	publish_confirmed(c, 1, "", q, NULL, "three"); /* x-max-length 2 drops "one" */
	expect("GET", fmt("/api/queues/%%2F/%s", q), NULL, 200, "\"messages\":2");
	expect("POST", fmt("/api/queues/%%2F/%s/get", q),
	    "{\"count\":1,\"ackmode\":\"ack_requeue_true\",\"encoding\":\"auto\"}", 200,
	    "\"payload\":\"two\"");
	expect("POST", fmt("/api/queues/%%2F/%s/get", q),
	    "{\"count\":5,\"ackmode\":\"ack_requeue_false\",\"encoding\":\"base64\"}", 200,
	    "\"payload\":\"dHdv\",\"payload_encoding\":\"base64\"");
	ck_assert_uint_eq(queue_count(c, 1, q), 0);
	publish_confirmed(c, 1, "", q, NULL, "again");
	expect("DELETE", fmt("/api/queues/%%2F/%s/contents", q), NULL, 204, NULL);
	ck_assert_uint_eq(queue_count(c, 1, q), 0);
	expect("DELETE", fmt("/api/queues/%%2F/%s", q), NULL, 204, NULL);
	expect("DELETE", fmt("/api/queues/%%2F/%s", q), NULL, 404, "Not Found");
	ck_assert(!queue_exists(c, 1, q));
	client_close(c);
}
END_TEST

START_TEST(exchange_binding_and_publish_through_the_api)
{
	const char *x = uniq("api-x"), *q = uniq("api-bq");
	struct http_resp r;
	conn_t c;

	expect("PUT", fmt("/api/exchanges/%%2F/%s", x), "{\"type\":\"topic\",\"durable\":true}",
	    201, NULL);
	expect("PUT", fmt("/api/exchanges/%%2F/%s", x), "{\"type\":\"direct\",\"durable\":true}",
	    400, "inequivalent arg 'type'");
	expect("PUT", "/api/exchanges/%2F/y", "{\"type\":\"bogus\"}", 400, "unknown exchange type");
	expect(
	    "PUT", "/api/exchanges/%2F/amq.foo", "{\"type\":\"direct\"}", 401, "reserved prefix");
	expect("DELETE", "/api/exchanges/%2F/amq.direct", NULL, 401, "not allowed");
	expect("PUT", fmt("/api/queues/%%2F/%s", q), "{}", 201, NULL);
	ck_assert_int_eq(req("POST", fmt("/api/bindings/%%2F/e/%s/q/%s", x, q),
	                     "{\"routing_key\":\"a.*\",\"arguments\":{}}", &r),
	    201);
	ck_assert_ptr_nonnull(strcasestr(r.head, "Location: a.%2A"));
	free(r.body);
	expect("GET", fmt("/api/bindings/%%2F/e/%s/q/%s", x, q), NULL, 200,
	    "\"routing_key\":\"a.*\",\"properties_key\":\"a.%2A\"");
	c = client_connect_ch1();
	publish_confirmed(c, 1, x, "a.b", NULL, "amqp");
	ck_assert_uint_eq(queue_count(c, 1, q), 1);
	expect("POST", fmt("/api/exchanges/%%2F/%s/publish", x),
	    "{\"routing_key\":\"a.c\",\"payload\":\"http\",\"payload_encoding\":\"string\","
	    "\"properties\":{\"delivery_mode\":2,\"headers\":{\"h\":1}}}",
	    200, "{\"routed\":true}");
	expect("POST", fmt("/api/exchanges/%%2F/%s/publish", x),
	    "{\"routing_key\":\"b\",\"payload\":\"x\",\"payload_encoding\":\"string\","
	    "\"properties\":{}}",
	    200, "{\"routed\":false}");
	expect("POST", "/api/exchanges/%2F/amq.default/publish",
	    fmt("{\"routing_key\":\"%s\",\"payload\":\"d\",\"payload_encoding\":\"string\","
	        "\"properties\":{}}",
	        q),
	    200, "{\"routed\":true}");
	expect("POST", "/api/exchanges/%2F/nope/publish",
	    "{\"routing_key\":\"b\",\"payload\":\"x\",\"payload_encoding\":\"string\","
	    "\"properties\":{}}",
	    400, "404 NOT_FOUND");
	ck_assert_uint_eq(queue_count(c, 1, q), 3);
	expect_get(c, 1, q, "amqp");
	expect_get(c, 1, q, "http");
	expect("DELETE", fmt("/api/bindings/%%2F/e/%s/q/%s/a.%%252A", x, q), NULL, 204, NULL);
	publish_confirmed(c, 1, x, "a.b", NULL, "unbound");
	ck_assert_uint_eq(queue_count(c, 1, q), 1);
	expect("DELETE", fmt("/api/exchanges/%%2F/%s", x), NULL, 204, NULL);
	expect("GET", fmt("/api/exchanges/%%2F/%s", x), NULL, 404, NULL);
	client_close(c);
}
END_TEST

START_TEST(lists_page_sort_filter_and_cut_columns)
{
	const char *base = uniq("lst");
	struct http_resp r;
	char top[64];
	int i;

	for (i = 0; i < 5; i++)
		expect("PUT", fmt("/api/queues/%%2F/%s-%d", base, i), "{}", 201, NULL);
	expect("GET", fmt("/api/queues?page=2&page_size=2&name=%s&columns=name", base), NULL, 200,
	    fmt("{\"filtered_count\":5,\"item_count\":2,\"items\":[{\"name\":\"%s-2\"},{\"name\":"
	        "\"%s-3\"}],\"page\":2,\"page_count\":3,\"page_size\":2,",
	        base, base));
	expect("GET",
	    fmt("/api/queues/%%2F?name=%s-%%5B34%%5D&use_regex=true&sort=name&sort_reverse=true&"
	        "columns=name,message_stats.publish",
	        base),
	    NULL, 200,
	    fmt("[{\"name\":\"%s-4\",\"message_stats\":{\"publish\":0}},{\"name\":\"%s-3\","
	        "\"message_stats\":{\"publish\":0}}]",
	        base, base));
	/* a page chosen from more rows than it holds (a heap), by a count and by a statistic */
	snprintf(top, sizeof(top), "%s", uniq("top"));
	base = top; /* fmt's ring of buffers turns over in the loop */
	for (i = 0; i < 8; i++) {
		int m;
		expect("PUT", fmt("/api/queues/%%2F/%s-%d", base, i), "{}", 201, NULL);
		for (m = 0; m < i; m++)
			expect("POST", "/api/exchanges/%2F/amq.default/publish",
			    fmt("{\"routing_key\":\"%s-%d\",\"payload\":\"p\","
			        "\"payload_encoding\":\"string\",\"properties\":{}}",
			        base, i),
			    200, "{\"routed\":true}");
	}
	expect("GET",
	    fmt("/api/queues?page=1&page_size=3&name=%s&sort=messages&sort_reverse=true&"
	        "columns=name,messages",
	        base),
	    NULL, 200,
	    fmt("{\"filtered_count\":8,\"item_count\":3,\"items\":[{\"name\":\"%s-7\","
	        "\"messages\":7},{\"name\":\"%s-6\",\"messages\":6},{\"name\":\"%s-5\","
	        "\"messages\":5}],",
	        base, base, base));
	expect("GET",
	    fmt("/api/queues?page=2&page_size=2&name=%s&sort=message_stats.publish&columns=name",
	        base),
	    NULL, 200, fmt("\"items\":[{\"name\":\"%s-2\"},{\"name\":\"%s-3\"}]", base, base));
	expect("GET", "/api/queues?page=99", NULL, 400, "page_out_of_range");
	expect("GET", "/api/queues?page=1&page_size=501", NULL, 400, "invalid_pagination");
	expect("GET", "/api/queues?name=(&use_regex=true", NULL, 400, "regular expression");
	ck_assert_int_eq(req("GET", "/api/exchanges/%2F?columns=name", NULL, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "{\"name\":\"\"}")); /* the default exchange */
	ck_assert_ptr_null(strstr(r.body, "null"));
	free(r.body);
	expect("GET", "/api/exchanges/%2F/amq.default", NULL, 200, "\"name\":\"\"");
	expect("GET", "/api/overview", NULL, 200, "\"rabbitmq_version\":\"3.10.8\"");
	ck_assert_int_eq(req("HEAD", "/api/overview", NULL, &r), 200); /* no body */
	ck_assert_uint_eq(strlen(r.body), 0);
	free(r.body);
	ck_assert_int_eq(req("HEAD", "/api/queues?page=1", NULL, &r), 200);
	ck_assert_uint_eq(strlen(r.body), 0);
	free(r.body);
	expect("GET", "/api/nodes", NULL, 200, "\"running\":true");
	expect("GET", "/api/vhosts", NULL, 200, "\"name\":\"/\"");
	expect("GET", "/api/vhosts/%2F", NULL, 200, "\"name\":\"/\"");
	expect("GET", "/api/vhosts/nope", NULL, 404, NULL);
	expect("GET", "/api/nothing", NULL, 404, NULL);
	expect("PATCH", "/api/queues", NULL, 405, NULL);
	expect("DELETE", "/api/overview", NULL, 405, NULL);
}
END_TEST

START_TEST(connections_channels_consumers_and_close)
{
	const char *q = uniq("cq"), *q2 = uniq("xq");
	struct http_resp r;
	char *name, *end;
	conn_t c = client_connect_opts(&(struct client_opts){ .name = "orders-app" });

	client_open(c, 1);
	declare_queue(c, 1, q);
	declare_queue(c, 1, q2);
	consume(c, 1, q, "ctag-1", false);
	publish_confirmed(c, 1, "", q, NULL, "m");
	expect_deliver(c, 1, "m");
	ck_assert_int_eq(req("GET", "/api/connections", NULL, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "\"user\":\"guest\""));
	/* The client's properties as sent, and its connection_name as user_provided_name. */
	ck_assert_ptr_nonnull(strstr(r.body, "\"user_provided_name\":\"orders-app\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"product\":\"warren-interop\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"connection_name\":\"orders-app\""));
	ck_assert_ptr_nonnull(strstr(r.body, "\"per_consumer_qos\":true"));
	ck_assert_int_eq(broker_log_count(&broker, "(connection_name 'orders-app')"), 1);
	name = strstr(r.body, "\"name\":\"");
	ck_assert_ptr_nonnull(name);
	name += 8;
	end = strchr(name, '"');
	*end = '\0';
	name = strdup(name);
	free(r.body);
	expect("GET", "/api/channels", NULL, 200, "\"consumer_count\":1");
	expect("GET", "/api/channels", NULL, 200, "\"messages_unacknowledged\":1");
	expect("GET", "/api/consumers/%2F", NULL, 200, "\"consumer_tag\":\"ctag-1\"");
	expect("GET", fmt("/api/queues/%%2F/%s", q), NULL, 200, "\"deliver\":1");
	/* message_bytes counts unacknowledged messages too, as RabbitMQ's: 1 + 4 + 5 bytes */
	publish_confirmed(c, 1, "", q, NULL, "four");
	expect_deliver(c, 1, "four");
	publish_confirmed(c, 1, "", q, NULL, "fiver");
	expect_deliver(c, 1, "fiver");
	ck_assert_int_eq(req("GET", fmt("/api/queues/%%2F/%s", q), NULL, &r), 200);
	ck_assert_msg(strstr(r.body, "\"message_bytes\":10,") != NULL &&
	        strstr(r.body, "\"message_bytes_unacknowledged\":10,") != NULL &&
	        strstr(r.body, "\"message_bytes_ready\":0,") != NULL &&
	        strstr(r.body, "\"messages_unacknowledged_ram\":3,") != NULL &&
	        strstr(r.body, "\"exclusive_consumer_tag\":null") != NULL,
	    "%s", r.body);
	free(r.body);
	amqp_basic_consume(c, 1, B(q2), B("only-me"), 0, 0, 1, amqp_empty_table);
	client_ok(c, "basic.consume exclusive");
	expect("GET", fmt("/api/queues/%%2F/%s", q2), NULL, 200,
	    "\"exclusive_consumer_tag\":\"only-me\"");
	/* "127.0.0.1:port -> 127.0.0.1:port": spaces and '>' encoded in the path */
	{
		char path[512], *o = path;
		const char *p;
		o += sprintf(o, "/api/connections/");
		for (p = name; *p != '\0'; p++)
			o += (*p == ' ' || *p == '>') ? sprintf(o, "%%%02X", *p)
			                              : sprintf(o, "%c", *p);
		expect("GET", path, NULL, 200, "\"protocol\":\"AMQP 0-9-1\"");
		expect("DELETE", path, NULL, 204, NULL);
	}
	expect_connection_close(c, 320, "CONNECTION_FORCED - Closed via management plugin");
	client_drop(c);
	free(name);
}
END_TEST

/* ---- Hostile requests ---- */

START_TEST(oversized_headers_and_bodies_are_refused)
{
	size_t big = 64 * 1024;
	char *hdr = malloc(big + 256), *body = malloc(big + 16);
	struct http_resp r;
	int n;

	memset(body, ' ', big + 8);
	body[big + 8] = '\0';
	body[0] = '{';
	body[big + 7] = '}';
	ck_assert_int_eq(req("PUT", "/api/queues/%2F/big", body, &r), 413);
	free(r.body);
	n = sprintf(hdr, "GET /api/whoami HTTP/1.1\r\nX-Big: ");
	memset(hdr + n, 'a', big);
	n += (int)big;
	n += sprintf(hdr + n, "\r\n\r\n");
	http_raw(hdr, (size_t)n, &r);
	ck_assert_msg(r.status == 0 || (r.status >= 400 && r.status < 500),
	    "oversized headers answered %d", r.status);
	free(r.body);
	free(hdr);
	free(body);
	expect("GET", "/api/whoami", NULL, 200, NULL); /* and the listener goes on */
}
END_TEST

START_TEST(malformed_and_nested_json_is_refused)
{
	size_t depth = 30000, i; /* 60 KB: under management_max_body */
	char *deep = malloc(2 * depth + 1);
	char *nested = malloc(64 * 40 + 64);
	size_t n = 0;

	expect("PUT", "/api/queues/%2F/j", "{bad", 400, "not_json");
	expect("PUT", "/api/queues/%2F/j", "[1,2]", 400, "not_json");
	expect("PUT", "/api/queues/%2F/j", "{\"durable\":\"maybe\"}", 400, "durable");
	for (i = 0; i < depth; i++)
		deep[i] = '[';
	for (i = 0; i < depth; i++)
		deep[depth + i] = ']';
	deep[2 * depth] = '\0';
	expect("PUT", "/api/queues/%2F/j", deep, 400, "not_json");
	/* Arguments nested deeper than an AMQP table may be. */
	n += (size_t)sprintf(nested + n, "{\"arguments\":");
	for (i = 0; i < 40; i++)
		n += (size_t)sprintf(nested + n, "{\"a\":");
	n += (size_t)sprintf(nested + n, "1");
	for (i = 0; i < 41; i++)
		nested[n++] = '}';
	nested[n] = '\0';
	expect("PUT", "/api/queues/%2F/j", nested, 400, "nested deeper");
	expect("PUT", "/api/queues/%2F/%00x", "{}", 404, NULL);
	free(deep);
	free(nested);
}
END_TEST

/* A rate at a dotted path of GET path's JSON (-1 when absent). */
static double rate_at(const char *path, const char *key)
{
	struct http_resp r;
	json_t *j, *o;
	char part[64];
	const char *p = key, *dot;
	double v = -1;

	ck_assert_int_eq(req("GET", path, NULL, &r), 200);
	o = j = json_loads(r.body, 0, NULL);
	ck_assert_ptr_nonnull(j);
	while (o != NULL && *p != '\0') {
		dot = strchrnul(p, '.');
		snprintf(part, sizeof(part), "%.*s", (int)(dot - p), p);
		o = json_object_get(o, part);
		p = *dot != '\0' ? dot + 1 : dot;
	}
	if (o != NULL && json_is_number(o))
		v = json_number_value(o);
	json_decref(j);
	free(r.body);
	return v;
}

/*
 * collect_statistics_interval is 200 ms here: a queue's rates show while messages flow through it,
 * in its vhost's sum too, and fall to 0 once it is idle (the sampler frees what it kept).
 */
START_TEST(rates_follow_traffic)
{
	char q[64], qpath[128], pub[256], idle[128], list[256], want[128];
	struct http_resp r;
	int64_t until = now_ms() + 5000;
	double rate = 0, vrate = 0;
	bool first;

	snprintf(q, sizeof(q), "%s", uniq("rate")); /* fmt's ring of buffers turns over below */
	snprintf(qpath, sizeof(qpath), "/api/queues/%%2F/%s", q);
	snprintf(pub, sizeof(pub),
	    "{\"routing_key\":\"%s\",\"payload\":\"r\",\"payload_encoding\":\"string\","
	    "\"properties\":{}}",
	    q);
	expect("PUT", qpath, "{}", 201, NULL);
	ck_assert_double_eq(rate_at(qpath, "message_stats.publish_details.rate"), 0.0);
	while ((rate <= 0 || vrate <= 0) && now_ms() < until) {
		expect(
		    "POST", "/api/exchanges/%2F/amq.default/publish", pub, 200, "\"routed\":true");
		rate = rate_at(qpath, "message_stats.publish_details.rate");
		vrate = rate_at("/api/vhosts/%2F", "message_stats.publish_details.rate");
	}
	ck_assert_msg(
	    rate > 0 && vrate > 0, "no publish rate after 5 s of publishing: %g, %g", rate, vrate);
	/* Sorted by the rate, the busy queue comes before an idle sibling that a reverse sort by
	 * name would put first. The filter keeps out the earlier tests' queues, whose rates may
	 * not have died down yet on a slow (ASan) build. Publishing goes on while we look: the
	 * rate is the last 200 ms window's, and a slow answer may outlast one window. */
	snprintf(idle, sizeof(idle), "/api/queues/%%2F/%s-idle", q);
	expect("PUT", idle, "{}", 201, NULL);
	snprintf(list, sizeof(list),
	    "/api/queues?page=1&page_size=1&name=%s&sort=message_stats.publish_details.rate&"
	    "sort_reverse=true&columns=name",
	    q);
	snprintf(want, sizeof(want), "\"items\":[{\"name\":\"%s\"}]", q);
	until = now_ms() + 5000;
	do {
		expect(
		    "POST", "/api/exchanges/%2F/amq.default/publish", pub, 200, "\"routed\":true");
		ck_assert_int_eq(req("GET", list, NULL, &r), 200);
		first = strstr(r.body, want) != NULL;
		free(r.body);
	} while (!first && now_ms() < until);
	ck_assert_msg(first, "sorted by publish rate, %s did not come before %s-idle", q, q);
	until = now_ms() + 5000;
	while (rate != 0 && now_ms() < until) {
		sleep_ms(50); /* nothing to wait on: the sampler's next turns */
		rate = rate_at(qpath, "message_stats.publish_details.rate");
	}
	ck_assert_msg(rate == 0, "an idle queue still shows a publish rate of %g", rate);
	ck_assert_double_gt(rate_at(qpath, "message_stats.publish"), 0);
}
END_TEST

/*
 * A queue's consumer capacity (consumer_utilisation, its older name), memory and head message
 * timestamp, in the API and in Prometheus' per-object families: 0 without a consumer, 1 while
 * the consumer takes every message at once, falling below 1 once messages wait behind its
 * prefetch; the head's timestamp property, or null without one.
 */
START_TEST(queue_capacity_memory_and_head_timestamp)
{
	const char *q = uniq("capq");
	char path[128];
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_TIMESTAMP_FLAG,
		.timestamp = 1700000000 };
	conn_t c = client_connect();
	double cap = 1;

	snprintf(path, sizeof(path), "/api/queues/%%2F/%s", q);
	client_open(c, 1);
	declare_queue(c, 1, q);
	ck_assert(rate_at(path, "consumer_utilisation") == 0);
	ck_assert(rate_at(path, "consumer_capacity") == 0);
	ck_assert(rate_at(path, "memory") > 0);
	expect("GET", path, NULL, 200, "\"head_message_timestamp\":null");
	publish_confirmed(c, 1, "", q, &p, "stamped");
	expect("GET", path, NULL, 200, "\"head_message_timestamp\":1700000000");
	CHECK_RPC(c, amqp_basic_qos(c, 1, 0, 1, 0));
	consume(c, 1, q, "cap", false);
	expect_deliver(c, 1, "stamped");
	ck_assert(rate_at(path, "consumer_utilisation") == 1);
	publish_confirmed(c, 1, "", q, NULL, "waits");
	expect("GET", path, NULL, 200, "\"head_message_timestamp\":null");
	for (int i = 0; i < 100 && cap >= 0.95; i++) {
		usleep(50000); /* a moving average of time: nothing to wait on but the clock */
		cap = rate_at(path, "consumer_capacity");
	}
	ck_assert_msg(cap > 0 && cap < 0.95, "capacity %f", cap);
	ck_assert(rate_at(path, "consumer_utilisation") <= cap);
	client_close(c);
}
END_TEST

START_TEST(a_silent_client_is_dropped)
{
	int fd = http_connect(broker.http_port);
	const char *part = "GET /api/whoami HTTP/1.1\r\nHost: x\r\n";
	char *all = NULL;
	int64_t t0 = now_ms();
	long n;

	ck_assert_int_eq(write(fd, part, strlen(part)), (ssize_t)strlen(part));
	/* management_timeout is 2 s: the broker closes the connection (an answer, or none). */
	n = http_read_all(fd, &all, WAIT_MS);
	ck_assert_msg(n >= 0, "a stalled client was still connected after %d ms", WAIT_MS);
	ck_assert_int_ge(now_ms() - t0, 1500);
	free(all);
	close(fd);
	expect("GET", "/api/whoami", NULL, 200, NULL);
}
END_TEST

/* ---- Users, tags and permissions ---- */

static void start_users(void)
{
	char err[256], conf[4096], hash[300];

	broker_hash_password("15-management", WARRENCTL_PATH, "secret", hash, sizeof(hash));
	if (broker_prepare(&broker, "", err, sizeof(err)) != 0) {
		fprintf(stderr, "15-management: %s\n", err);
		exit(EXIT_FAILURE);
	}
	snprintf(conf, sizeof(conf),
	    "printf '%%s\\n' 'admin:%s:administrator' 'mon:%s:monitoring' 'mgr:%s:management' "
	    "'plain:%s' > %s/users && mkdir %s/vhosts && printf '%%s\\n' 'vhost /' "
	    "'permissions admin .* .* .*' 'permissions mgr ^mgr\\. ^mgr\\. ^mgr\\.' "
	    "'permissions plain .* .* .*' > %s/vhosts/default.vhost && printf '%%s\\n' "
	    "'users_file = %s/users' 'vhost_dir = %s/vhosts' > %s/warren.conf",
	    hash, hash, hash, hash, broker.dir, broker.dir, broker.dir, broker.dir, broker.dir,
	    broker.dir);
	if (system(conf) != 0 || broker_respawn(&broker, err, sizeof(err)) != 0) {
		fprintf(stderr, "15-management: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

START_TEST(tags_and_permissions_decide)
{
	struct http_resp r;

	ck_assert_int_eq(req_as("plain", "secret", "GET", "/api/overview", NULL, &r), 401);
	ck_assert_ptr_nonnull(strstr(r.body, "Not management user"));
	free(r.body);
	ck_assert_int_eq(req_as("mgr", "secret", "GET", "/api/nodes", NULL, &r), 401);
	free(r.body);
	ck_assert_int_eq(req_as("mon", "secret", "GET", "/api/nodes", NULL, &r), 200);
	free(r.body);
	ck_assert_int_eq(req_as("mgr", "secret", "PUT", "/api/queues/%2F/other", "{}", &r), 401);
	free(r.body);
	ck_assert_int_eq(req_as("mgr", "secret", "PUT", "/api/queues/%2F/mgr.q", "{}", &r), 201);
	free(r.body);
	/* monitoring sees every vhost, but may use only those it has permissions in */
	ck_assert_int_eq(req_as("mon", "secret", "GET", "/api/queues", NULL, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "mgr.q"));
	free(r.body);
	ck_assert_int_eq(req_as("mon", "secret", "DELETE", "/api/queues/%2F/mgr.q", NULL, &r), 401);
	free(r.body);
	ck_assert_int_eq(req_as("mgr", "secret", "DELETE", "/api/queues/%2F/mgr.q", NULL, &r), 204);
	free(r.body);
	ck_assert_int_eq(req_as("mgr", "secret", "GET", "/api/whoami", NULL, &r), 200);
	ck_assert_ptr_nonnull(strstr(r.body, "[\"management\"]"));
	free(r.body);
}
END_TEST

START_TEST(durable_declares_survive_a_restart)
{
	own_broker_start(NULL);
	expect("PUT", "/api/queues/%2F/keep", "{\"durable\":true}", 201, NULL);
	expect(
	    "PUT", "/api/exchanges/%2F/keepx", "{\"type\":\"fanout\",\"durable\":true}", 201, NULL);
	expect("POST", "/api/bindings/%2F/e/keepx/q/keep", "{}", 201, NULL);
	expect("POST", "/api/exchanges/%2F/keepx/publish",
	    "{\"routing_key\":\"\",\"payload\":\"kept\",\"payload_encoding\":\"string\","
	    "\"properties\":{\"delivery_mode\":2}}",
	    200, "{\"routed\":true}");
	own_broker_restart(true); /* SIGKILL: only what the store had survives */
	expect("GET", "/api/bindings/%2F/e/keepx/q/keep", NULL, 200, "\"destination\":\"keep\"");
	expect("GET", "/api/queues/%2F/keep", NULL, 200, "\"messages\":1");
	own_broker_stop();
	broker_cleanup(&broker);
}
END_TEST

/* ---- The PROXY protocol (proxy_protocol = true) ---- */

static void start_proxy(void)
{
	char err[256];

	if (broker_spawn_config(
	        &broker, "proxy_protocol = true\nhandshake_timeout = 2\n", err, sizeof(err)) != 0) {
		fprintf(stderr, "15-management: cannot start warrend: %s\n", err);
		exit(EXIT_FAILURE);
	}
}

/* A socket to the broker that has sent hdr, as HAProxy's send-proxy would. */
static int proxied_socket(const void *hdr, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)broker.port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, broker.host, &a.sin_addr), 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(send(fd, hdr, len, 0), (ssize_t)len);
	return fd;
}

/* guest's login over such a socket (rabbitmq-c on it): the reply, and the connection. */
static conn_t proxied_login(const void *hdr, size_t len, amqp_rpc_reply_t *r)
{
	struct timeval tv = { 5, 0 };
	conn_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);

	amqp_tcp_socket_set_sockfd(s, proxied_socket(hdr, len));
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv);
	*r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	return c;
}

/*
 * The header's source stands for the client (version 1 and 2): the API shows it, and guest, who
 * may log in from loopback only, is judged by it.
 */
START_TEST(proxy_header_names_the_client)
{
	static const char v1[] = "PROXY TCP4 127.0.0.9 127.0.0.1 40001 5672\r\n";
	static const char v1_far[] = "PROXY TCP4 10.0.0.9 127.0.0.1 40002 5672\r\n";
	static const uint8_t v2_far[] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55,
		0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 10, 0, 0, 8, 127, 0, 0, 1, 0x9c, 0x43,
		0x16, 0x28 }; /* 10.0.0.8:40003 to 127.0.0.1:5672 */
	amqp_rpc_reply_t r;
	conn_t c = proxied_login(v1, strlen(v1), &r), far;

	ck_assert_int_eq(r.reply_type, AMQP_RESPONSE_NORMAL);
	expect("GET", "/api/connections", NULL, 200, "\"peer_host\":\"127.0.0.9\"");
	expect("GET", "/api/connections", NULL, 200, "\"peer_port\":40001");
	far = proxied_login(v1_far, strlen(v1_far), &r);
	ck_assert_int_ne(r.reply_type, AMQP_RESPONSE_NORMAL);
	amqp_destroy_connection(far);
	ck_assert_int_gt(
	    broker_log_count(&broker, "user 'guest' can only connect via localhost"), 0);
	ck_assert_int_gt(broker_log_count(&broker, "10.0.0.9:40002"), 0);
	far = proxied_login(v2_far, sizeof(v2_far), &r);
	ck_assert_int_ne(r.reply_type, AMQP_RESPONSE_NORMAL);
	amqp_destroy_connection(far);
	ck_assert_int_gt(broker_log_count(&broker, "10.0.0.8:40003"), 0);
	client_close(c);
}
END_TEST

/* Without a header, or with a broken one, the connection is closed, at once or in time. */
START_TEST(a_connection_without_a_proxy_header_is_closed)
{
	static const char amqp[] = "AMQP\x00\x00\x09\x01";
	static const char slow[] = "PROXY TCP4 127.0.0.9";
	struct pollfd p = { .events = POLLIN };
	int64_t t0;
	char buf[16];

	p.fd = proxied_socket(amqp, 8);
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_le(recv(p.fd, buf, sizeof(buf), 0), 0);
	close(p.fd);
	ck_assert_int_gt(broker_log_count(&broker, "not a valid PROXY protocol header"), 0);
	/* Half a header, then silence: closed after handshake_timeout (2 s), not before. */
	t0 = now_ms();
	p.fd = proxied_socket(slow, strlen(slow));
	ck_assert_int_eq(poll(&p, 1, 8000), 1);
	ck_assert_int_le(recv(p.fd, buf, sizeof(buf), 0), 0);
	ck_assert_int_ge(now_ms() - t0, 1900);
	close(p.fd);
	ck_assert_int_gt(broker_log_count(&broker, "no PROXY protocol header in time"), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("15-management");
	TCase *tc;

	if (getenv("WARREN_TEST_BROKER") != NULL) {
		harness_skip("15-management", "Warren only (see interop/DIFFERENCES.md)");
		return 77;
	}
	tc = tcase_create("api");
	tcase_add_unchecked_fixture(tc, start_api, stop_broker);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, credentials_are_required);
	tcase_add_test(tc, queue_declared_through_the_api_is_an_amqp_queue);
	tcase_add_test(tc, exchange_binding_and_publish_through_the_api);
	tcase_add_test(tc, lists_page_sort_filter_and_cut_columns);
	tcase_add_test(tc, rates_follow_traffic);
	tcase_add_test(tc, connections_channels_consumers_and_close);
	tcase_add_test(tc, queue_capacity_memory_and_head_timestamp);
	tcase_add_test(tc, oversized_headers_and_bodies_are_refused);
	tcase_add_test(tc, malformed_and_nested_json_is_refused);
	tcase_add_test(tc, a_silent_client_is_dropped);
	tcase_add_test(tc, durable_declares_survive_a_restart);
	suite_add_tcase(s, tc);
	tc = tcase_create("users");
	tcase_add_unchecked_fixture(tc, start_users, stop_broker);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, tags_and_permissions_decide);
	suite_add_tcase(s, tc);
	tc = tcase_create("proxy");
	tcase_add_unchecked_fixture(tc, start_proxy, stop_broker);
	tcase_set_timeout(tc, TEST_TIMEOUT);
	tcase_add_test(tc, proxy_header_names_the_client);
	tcase_add_test(tc, a_connection_without_a_proxy_header_is_closed);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
