/*
 * ui-clients.c: AMQP clients for the web UI's test (interop/ui.sh): opens N connections to
 * HOST:PORT as guest, each with channel 1 in confirm mode consuming from the queue ui.consumed
 * (declared non-durable), prints "ready" and holds them until its standard input closes (or two
 * minutes pass), so the UI has connections, channels and consumers to show and close.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_CONNS 16

static void die(const char *what, amqp_rpc_reply_t r)
{
	fprintf(stderr, "ui-clients: %s failed (reply type %d)\n", what, (int)r.reply_type);
	exit(1);
}

int main(int argc, char **argv)
{
	amqp_connection_state_t c[MAX_CONNS];
	struct timeval tv = { 10, 0 };
	int i, n, port;
	char buf[64];

	if (argc != 4 || (port = atoi(argv[2])) <= 0 || (n = atoi(argv[3])) <= 0 || n > MAX_CONNS) {
		fprintf(stderr, "usage: ui-clients HOST PORT N (N at most %d)\n", MAX_CONNS);
		return 2;
	}
	alarm(120); /* never outlive a test that forgot us */
	for (i = 0; i < n; i++) {
		amqp_socket_t *s;
		amqp_rpc_reply_t r;
		amqp_table_entry_t prop;
		amqp_table_t props = { 1, &prop };
		char name[32];

		c[i] = amqp_new_connection();
		s = amqp_tcp_socket_new(c[i]);
		if (s == NULL ||
		    amqp_socket_open_noblock(s, argv[1], port, &tv) != AMQP_STATUS_OK) {
			fprintf(stderr, "ui-clients: cannot connect to %s:%d\n", argv[1], port);
			return 1;
		}
		/* A name each, as applications set one: the UI shows it under the connection's. */
		snprintf(name, sizeof(name), "ui-client-%d", i);
		prop.key = amqp_cstring_bytes("connection_name");
		prop.value.kind = AMQP_FIELD_KIND_UTF8;
		prop.value.value.bytes = amqp_cstring_bytes(name);
		r = amqp_login_with_properties(
		    c[i], "/", 0, 131072, 0, &props, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
		if (r.reply_type != AMQP_RESPONSE_NORMAL)
			die("login", r);
		amqp_channel_open(c[i], 1);
		if ((r = amqp_get_rpc_reply(c[i])).reply_type != AMQP_RESPONSE_NORMAL)
			die("channel.open", r);
		amqp_confirm_select(c[i], 1);
		if ((r = amqp_get_rpc_reply(c[i])).reply_type != AMQP_RESPONSE_NORMAL)
			die("confirm.select", r);
		amqp_queue_declare(
		    c[i], 1, amqp_cstring_bytes("ui.consumed"), 0, 0, 0, 0, amqp_empty_table);
		if ((r = amqp_get_rpc_reply(c[i])).reply_type != AMQP_RESPONSE_NORMAL)
			die("queue.declare", r);
		amqp_basic_consume(c[i], 1, amqp_cstring_bytes("ui.consumed"), amqp_empty_bytes, 0,
		    0, 0, amqp_empty_table);
		if ((r = amqp_get_rpc_reply(c[i])).reply_type != AMQP_RESPONSE_NORMAL)
			die("basic.consume", r);
	}
	printf("ready\n");
	fflush(stdout);
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0; /* the sockets close with the process */
}
