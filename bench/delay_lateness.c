/*
 * delay_lateness: how late a delayed exchange delivers (docs/performance.md). Declares an
 * x-delayed-message exchange (x-delayed-type direct) and an exclusive queue bound to it, publishes
 * N messages (default 100,000) whose x-delay makes them due within one second, starting a few
 * seconds ahead, then consumes them (no-ack) and prints the lateness of each against its due time
 * (wall clock, ms): median, p99 and maximum, and whether any came early.
 *
 *   delay_lateness [-p port] [-n messages] [-a seconds ahead] [-P (persistent, durable)]
 *
 * The lateness includes this client's own reading: run it with the broker otherwise loaded (for
 * instance by warren-perf) to see the timer's behaviour under load.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static int64_t wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static void die_on(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type != AMQP_RESPONSE_NORMAL) {
		fprintf(stderr, "delay_lateness: %s failed (%d)\n", what, (int)r.reply_type);
		exit(1);
	}
}

static int cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int port = 5672, n = 100000, ahead = 3, opt, i, got = 0, early = 0;
	bool persistent = false;
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	amqp_table_entry_t xe, he;
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_HEADERS_FLAG };
	int64_t t0, *due, *late;
	char xname[64], body[32];

	while ((opt = getopt(argc, argv, "p:n:a:P")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'a': ahead = atoi(optarg); break;
		case 'P': persistent = true; break;
		default:
			fprintf(stderr,
			    "usage: delay_lateness [-p port] [-n messages] [-a seconds] [-P]\n");
			return 2;
		}
	}
	due = calloc((size_t)n, sizeof(*due));
	late = calloc((size_t)n, sizeof(*late));
	if (due == NULL || late == NULL || s == NULL || amqp_socket_open(s, "127.0.0.1", port) != 0)
		return 1;
	die_on(amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"), "login");
	amqp_channel_open(c, 1);
	die_on(amqp_get_rpc_reply(c), "channel.open");
	snprintf(xname, sizeof(xname), "lateness-%d", (int)getpid());
	xe.key = amqp_cstring_bytes("x-delayed-type");
	xe.value.kind = AMQP_FIELD_KIND_UTF8;
	xe.value.value.bytes = amqp_cstring_bytes("direct");
	amqp_exchange_declare(c, 1, amqp_cstring_bytes(xname),
	    amqp_cstring_bytes("x-delayed-message"), 0, persistent, 1, 0, (amqp_table_t){ 1, &xe });
	die_on(amqp_get_rpc_reply(c), "exchange.declare");
	amqp_queue_declare(
	    c, 1, amqp_cstring_bytes(xname), 0, persistent, !persistent, 1, amqp_empty_table);
	die_on(amqp_get_rpc_reply(c), "queue.declare");
	amqp_queue_bind(c, 1, amqp_cstring_bytes(xname), amqp_cstring_bytes(xname),
	    amqp_cstring_bytes("k"), amqp_empty_table);
	die_on(amqp_get_rpc_reply(c), "queue.bind");
	amqp_basic_consume(
	    c, 1, amqp_cstring_bytes(xname), amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
	die_on(amqp_get_rpc_reply(c), "basic.consume");
	if (persistent) {
		p._flags |= AMQP_BASIC_DELIVERY_MODE_FLAG;
		p.delivery_mode = 2;
	}
	he.key = amqp_cstring_bytes("x-delay");
	he.value.kind = AMQP_FIELD_KIND_I64;
	p.headers = (amqp_table_t){ 1, &he };
	/* Due times spread over one second, a few seconds from now: ms i % 1000 of it. */
	t0 = (wall_us() / 1000 + ahead * 1000) * 1000;
	for (i = 0; i < n; i++) {
		int64_t now = wall_us();
		due[i] = t0 + (int64_t)(i % 1000) * 1000;
		he.value.value.i64 = (due[i] - now + 999) / 1000;
		snprintf(body, sizeof(body), "%d", i);
		if (amqp_basic_publish(c, 1, amqp_cstring_bytes(xname), amqp_cstring_bytes("k"), 0,
		        0, &p, amqp_cstring_bytes(body)) != 0)
			return 1;
		/* The due time the broker takes: now (rounded up to the ms) + the delay. */
		due[i] = ((now + 999) / 1000 + he.value.value.i64) * 1000;
	}
	if (wall_us() > t0)
		fprintf(
		    stderr, "delay_lateness: publishing took past the first due time: use -a\n");
	while (got < n) {
		amqp_envelope_t env;
		struct timeval tmo = { ahead + 30, 0 };
		amqp_maybe_release_buffers(c);
		if (amqp_consume_message(c, &env, &tmo, 0).reply_type != AMQP_RESPONSE_NORMAL)
			break;
		/* The body is not NUL-terminated: copy it first. */
		i = -1;
		if (env.message.body.len < sizeof(body)) {
			memcpy(body, env.message.body.bytes, env.message.body.len);
			body[env.message.body.len] = '\0';
			i = atoi(body);
		}
		if (i >= 0 && i < n) {
			late[got] = wall_us() - due[i];
			if (late[got] < 0)
				early++;
			got++;
		}
		amqp_destroy_envelope(&env);
	}
	qsort(late, (size_t)got, sizeof(*late), cmp);
	printf("%d of %d delivered%s, due within one second: lateness median %.2f ms, p99 %.2f ms, "
	       "max %.2f ms, min %.3f ms, %d early\n",
	    got, n, persistent ? " (persistent, durable)" : "", got ? late[got / 2] / 1000.0 : 0,
	    got ? late[(int)(got * 0.99)] / 1000.0 : 0, got ? late[got - 1] / 1000.0 : 0,
	    got ? late[0] / 1000.0 : 0, early);
	amqp_exchange_delete(c, 1, amqp_cstring_bytes(xname), 0);
	amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	free(due);
	free(late);
	return got == n && early == 0 ? 0 : 1;
}
