/*
 * failover_client.c: how long a broker group takes to confirm again after its master dies
 * (bench/cluster-compare.sh; librabbitmq). It publishes persistent 16-byte messages to one
 * queue, one at a time, each confirm awaited, on 127.0.0.1 at the first of PORT... that takes
 * the connection, the queue declare and confirm.select. When a connection fails it tries the
 * ports in turn (the one that failed last), a round every 5 ms, until one confirms again (a
 * nack counts as a failure too); then it appends one line to FILE:
 *
 *   failover PORT LAST_CONFIRM_MS FIRST_CONFIRM_MS
 *
 * with PORT the node that confirmed and both times in ms of CLOCK_REALTIME (so a script can
 * subtract the time it sent its kill). The first confirm of all is written as "ready PORT 0 MS".
 *
 *   failover_client QUEUE TYPE FILE PORT...   TYPE: x-queue-type ("quorum"), or "-" for none
 *
 * It runs until SIGTERM. Every wait is bounded: connects 1 s, replies and confirms 10 s (a
 * quorum queue confirms only once its new leader is elected).
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 8
#define CONFIRM_MS 10000

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Milliseconds of CLOCK_REALTIME, comparable with `date +%s%3N`. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Say on stderr which step failed after the connection was made (a refused connection, the
 * usual answer of a node that is not the master, is not worth a line). */
static void step_failed(amqp_connection_state_t c, int port, const char *step)
{
	amqp_rpc_reply_t r = amqp_get_rpc_reply(c);

	if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD ||
	        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD)) {
		amqp_channel_close_t *m = r.reply.decoded; /* the same first two fields */
		fprintf(stderr, "failover_client: port %d: %s: %u %.*s\n", port, step,
		    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else {
		fprintf(stderr, "failover_client: port %d: %s: %s\n", port, step,
		    r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
		        ? amqp_error_string2(r.library_error)
		        : "failed");
	}
}

/* A connection and channel 1 on 127.0.0.1:port in confirm mode, the queue declared durable
 * (with x-queue-type when type is not "-"); NULL on any failure. */
static amqp_connection_state_t open_conn(int port, const char *queue, const char *type)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	struct timeval tv = { 1, 0 }, rpc = { CONFIRM_MS / 1000, 0 };
	amqp_table_entry_t arg;
	amqp_table_t args = amqp_empty_table;

	if (s == NULL || amqp_socket_open_noblock(s, "127.0.0.1", port, &tv) != AMQP_STATUS_OK)
		goto fail;
	if (amqp_set_rpc_timeout(c, &rpc) != AMQP_STATUS_OK)
		goto fail;
	if (amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type !=
	    AMQP_RESPONSE_NORMAL)
		goto fail;
	amqp_channel_open(c, 1);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
		goto fail;
	if (strcmp(type, "-") != 0) {
		arg.key = amqp_cstring_bytes("x-queue-type");
		arg.value.kind = AMQP_FIELD_KIND_UTF8;
		arg.value.value.bytes = amqp_cstring_bytes(type);
		args = (amqp_table_t){ .num_entries = 1, .entries = &arg };
	}
	amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, args);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
		step_failed(c, port, "queue.declare");
		goto fail;
	}
	amqp_confirm_select(c, 1);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
		step_failed(c, port, "confirm.select");
		goto fail;
	}
	return c;
fail:
	amqp_destroy_connection(c);
	return NULL;
}

/* Wait for the confirm of the one message in flight: 1 ack, 0 nack, -1 failure or timeout. */
static int wait_confirm(amqp_connection_state_t c)
{
	struct timeval tv = { CONFIRM_MS / 1000, 0 };
	amqp_frame_t f;

	for (;;) {
		if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK)
			return -1;
		if (f.frame_type != AMQP_FRAME_METHOD)
			continue;
		if (f.payload.method.id == AMQP_BASIC_ACK_METHOD)
			return 1;
		if (f.payload.method.id == AMQP_BASIC_NACK_METHOD)
			return 0;
		return -1; /* a close */
	}
}

int main(int argc, char **argv)
{
	amqp_basic_properties_t props = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
		.delivery_mode = 2 };
	amqp_connection_state_t c = NULL;
	int ports[MAX_PORTS], nports, cur = 0, i, r;
	long long last_ok = 0;
	unsigned long acked = 0, nacked = 0, failures = 0;
	bool failed = false;
	const char *queue, *type;
	char body[17] = "failover-client!";
	FILE *out;

	if (argc < 5 || argc - 4 > MAX_PORTS) {
		fprintf(stderr,
		    "usage: failover_client QUEUE TYPE FILE PORT... (at most %d ports)\n",
		    MAX_PORTS);
		return 2;
	}
	queue = argv[1];
	type = argv[2];
	nports = argc - 4;
	for (i = 0; i < nports; i++) {
		char *end;
		long p = strtol(argv[4 + i], &end, 10);

		if (*argv[4 + i] == '\0' || *end != '\0' || p < 1 || p > 65535) {
			fprintf(stderr, "failover_client: bad port %s\n", argv[4 + i]);
			return 2;
		}
		ports[i] = (int)p;
	}
	if ((out = fopen(argv[3], "a")) == NULL) {
		perror(argv[3]);
		return 1;
	}
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	while (!stop) {
		if (c == NULL) {
			for (i = 0; i < nports && !stop; i++) {
				if ((c = open_conn(ports[cur], queue, type)) != NULL)
					break;
				cur = (cur + 1) % nports;
			}
			if (c == NULL) {
				usleep(5000); /* a round of refusals: the group has no master yet */
				continue;
			}
		}
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
		        &props, (amqp_bytes_t){ 16, body }) != AMQP_STATUS_OK ||
		    (r = wait_confirm(c)) < 0) {
			fprintf(stderr, "failover_client: port %d: the connection failed\n",
			    ports[cur]);
			failures++;
			failed = true;
			amqp_destroy_connection(c);
			c = NULL;
			continue;
		}
		if (r == 0) {
			/* A nack: not confirmed yet. A new connection, as after a failure: RabbitMQ
			 * 3.10 nacks every later publish on a channel that published to a quorum queue
			 * while it had no leader. */
			nacked++;
			failed = true;
			amqp_connection_close(c, AMQP_REPLY_SUCCESS);
			amqp_destroy_connection(c);
			c = NULL;
			continue;
		}
		if (acked++ == 0 || failed) {
			fprintf(out, "%s %d %lld %lld\n", acked == 1 ? "ready" : "failover",
			    ports[cur], acked == 1 ? 0 : last_ok, now_ms());
			fflush(out);
			failed = false;
		}
		last_ok = now_ms();
	}
	if (c != NULL) {
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(c);
	}
	fclose(out);
	fprintf(stderr, "failover_client: %lu acked, %lu nacked, %lu connection failures\n", acked,
	    nacked, failures);
	return 0;
}
