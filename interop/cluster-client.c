/*
 * cluster-client.c: the AMQP client interop/18-cluster.sh drives a cluster with (librabbitmq).
 *
 *   cluster-client ports N                  N free loopback ports, one a line
 *   cluster-client publish ADDR QUEUE FILE [MS]  persistent messages "PID-N" with confirms, one
 *                                           at a time (each confirm awaited MS ms, default 2000;
 *                                           every even N padded to 500-3,499 bytes, see
 *                                           pad_len, so the store's heap files see traffic),
 *                                           reconnecting after any failure, until SIGTERM; each
 *                                           confirmed N is appended to FILE (fsync'ed before the
 *                                           next publish), and a nack is counted, not written
 *   cluster-client consume ADDR QUEUE FILE MS   every message of QUEUE (acked) to FILE, one body a
 *                                           line ("PID-N", its padding checked: "corrupt PID-N" if
 *                                           wrong), until none has come for MS ms; those that came
 *                                           with redelivered set also to FILE.redelivered
 *   cluster-client hold ADDR QUEUE FILE N   N messages of QUEUE to FILE, unacked, kept until
 *                                           SIGTERM
 *   cluster-client follow ADDR QUEUE FILE   every message of QUEUE, acked, through any failure
 *                                           (reconnecting), until SIGTERM: a line "PID-N R" each
 *                                           (R: 1 if it came with redelivered set, else 0); with
 *                                           CLUSTER_FOLLOW_US set, that many µs before each ack
 *   cluster-client take ADDR QUEUE FILE N   N messages of QUEUE by basic.get with no-ack, each
 *                                           body a line of FILE; exit 0 if N came
 *   cluster-client login PORT [PORT ...]    a client with a list of addresses: logs in to each in
 *                                           turn until one lets it; a line per try (MS with
 *                                           fractions, TCP connect to open-ok): "ok PORT MS",
 *                                           "refused PORT MS CODE TEXT" (connection.close) or
 *                                           "failed PORT MS WHY"; exit 0 once one let it in;
 *                                           amqps (no certificate check) with CLUSTER_TLS set
 *   cluster-client send PORT QUEUE FILE N   N persistent messages "send-PID-I" on one connection
 *                                           with confirms (all awaited), each confirmed body to
 *                                           FILE; exit 0 if all N were acked
 *
 * ADDR is PORT (on 127.0.0.1) or HOST:PORT (interop/18-cluster-partition.sh's nodes are on
 * addresses of their own, in network namespaces).
 *
 * Everything is bounded: connects and waits time out after 2 s.
 */
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

/* Milliseconds since since (a value of ms_since(0)). */
static long ms_since(long since)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - since;
}

static int ports(int n)
{
	int fds[64], i;

	if (n < 1 || n > 64)
		return 2;
	for (i = 0; i < n; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t len = sizeof(a);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
		    getsockname(fds[i], (struct sockaddr *)&a, &len) != 0)
			return 1;
		printf("%d\n", ntohs(a.sin_port));
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

/* The host and port of ADDR (PORT or HOST:PORT); 0, or -1 when it is neither. */
static int parse_addr(const char *addr, char *host, size_t size, int *port)
{
	const char *colon = strrchr(addr, ':');
	const char *digits = colon == NULL ? addr : colon + 1;
	size_t len = colon == NULL ? 0 : (size_t)(colon - addr);
	char *end;
	long p;

	errno = 0;
	p = strtol(digits, &end, 10);
	if (*digits == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535)
		return -1;
	/* The host and its terminating NUL must fit in host[size]. */
	if (len + 1 > size)
		return -1;
	if (colon == NULL)
		snprintf(host, size, "127.0.0.1");
	else {
		memcpy(host, addr, len);
		host[len] = '\0';
	}
	*port = (int)p;
	return 0;
}

/* A connection and channel 1 on host:port, the queue declared durable; NULL on failure. */
static amqp_connection_state_t open_conn(
    const char *host, int port, const char *queue, bool confirm)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	struct timeval tv = { 2, 0 };
	amqp_rpc_reply_t r;

	if (s == NULL || amqp_socket_open_noblock(s, host, port, &tv) != AMQP_STATUS_OK)
		goto fail;
	r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	if (r.reply_type != AMQP_RESPONSE_NORMAL)
		goto fail;
	amqp_channel_open(c, 1);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
		goto fail;
	amqp_queue_declare(c, 1, amqp_cstring_bytes(queue), 0, 1, 0, 0, amqp_empty_table);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
		goto fail;
	if (confirm) {
		amqp_confirm_select(c, 1);
		if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
			goto fail;
	}
	return c;
fail:
	amqp_destroy_connection(c);
	return NULL;
}

/* Wait (ms) for the confirm of the one message in flight: 1 ack, 0 nack, -1 failure. */
static int wait_confirm(amqp_connection_state_t c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
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
		if (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
			amqp_connection_close_t *m = f.payload.method.decoded;
			fprintf(stderr, "publish: connection.close %u %.*s\n", m->reply_code,
			    (int)m->reply_text.len, (char *)m->reply_text.bytes);
		}
		return -1; /* a close */
	}
}

/* Message N's padding after "PID-N ": none for odd N, else 500-3,499 bytes of one letter. */
static size_t pad_len(unsigned long n)
{
	return n % 2 != 0 ? 0 : 500 + (size_t)(n * 37 % 3000);
}

static char pad_char(unsigned long n)
{
	return (char)('a' + n % 26);
}

/* The body's "PID-N" (its length), or 0 if its padding is not what publish wrote. */
static size_t body_id(const char *b, size_t len)
{
	const char *sp = memchr(b, ' ', len), *dash = memchr(b, '-', len);
	size_t idlen = sp != NULL ? (size_t)(sp - b) : len, i, pad;
	unsigned long n;

	if (len == 0 || b[0] < '0' || b[0] > '9' || dash == NULL || (size_t)(dash - b) >= idlen)
		return len; /* not publish's (a "send" body): as it is */
	/* N's digits, within the id (the body is not NUL-terminated: strtoul read on past it) */
	n = 0;
	for (const char *d = dash + 1; d < b + idlen && *d >= '0' && *d <= '9'; d++)
		n = n * 10 + (unsigned long)(*d - '0');
	pad = sp != NULL ? len - idlen - 1 : 0;
	if (pad != pad_len(n))
		return 0;
	for (i = 0; i < pad; i++)
		if (sp[1 + i] != pad_char(n))
			return 0;
	return idlen;
}

static int publish(const char *host, int port, const char *queue, const char *file, int wait_ms)
{
	FILE *out = fopen(file, "a");
	amqp_connection_state_t c = NULL;
	amqp_basic_properties_t props = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
		.delivery_mode = 2 };
	unsigned long n = 0, acked = 0, nacked = 0, failed = 0, reconnects = 0;
	char body[3600];
	size_t idlen, len;
	long t;
	int r;

	if (out == NULL)
		return 1;
	while (!stop) {
		if (c == NULL && (c = open_conn(host, port, queue, true)) == NULL) {
			reconnects++;
			usleep(20000);
			continue;
		}
		t = ms_since(0);
		idlen = len = (size_t)snprintf(body, 32, "%ld-%lu", (long)getpid(), ++n);
		if (pad_len(n) > 0) {
			body[len++] = ' ';
			memset(body + len, pad_char(n), pad_len(n));
			len += pad_len(n);
		}
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
		        &props, (amqp_bytes_t){ len, body }) != AMQP_STATUS_OK ||
		    (r = wait_confirm(c, wait_ms)) < 0) {
			failed++; /* unknown: neither confirmed nor written */
			fprintf(stderr,
			    "publish: %.*s unconfirmed (%ld ms): the connection failed\n",
			    (int)idlen, body, ms_since(t));
			amqp_destroy_connection(c);
			c = NULL;
			continue;
		}
		if (r == 0) {
			nacked++;
			continue;
		}
		acked++;
		fprintf(out, "%.*s\n", (int)idlen, body);
		fflush(out);
		fsync(fileno(out));
	}
	if (c != NULL) {
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(c);
	}
	fclose(out);
	fprintf(stderr,
	    "publish: %lu published, %lu acked, %lu nacked, %lu unconfirmed, %lu "
	    "failed connects\n",
	    n, acked, nacked, failed, reconnects);
	return 0;
}

/*
 * consume: every message of queue, acked, each body a line of file (and of file.redelivered if
 * it came with redelivered set), until none has come for quiet_ms. hold > 0: take that many, ack
 * none, and keep them until SIGTERM (the broker's unacked deliveries, for a failover to return).
 */
static int consume(
    const char *host, int port, const char *queue, const char *file, int quiet_ms, int hold)
{
	char rpath[4200];
	FILE *out = fopen(file, "w"), *re;
	amqp_connection_state_t c;
	unsigned long got = 0, redelivered = 0;
	size_t idlen;
	int tries;

	snprintf(rpath, sizeof(rpath), "%s.redelivered", file);
	if (out == NULL || (re = fopen(rpath, "w")) == NULL)
		return 1;
	for (tries = 0; (c = open_conn(host, port, queue, false)) == NULL; tries++) {
		if (tries == 100) {
			fprintf(stderr, "consume: cannot connect to %s:%d\n", host, port);
			return 1;
		}
		usleep(100000);
	}
	amqp_basic_qos(c, 1, 0, hold > 0 ? (uint16_t)hold : 500, 0);
	amqp_basic_consume(
	    c, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
	if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
		return 1;
	while (hold == 0 || got < (unsigned long)hold) {
		struct timeval tv = { quiet_ms / 1000, (quiet_ms % 1000) * 1000 };
		amqp_envelope_t e;
		amqp_rpc_reply_t r;

		amqp_maybe_release_buffers(c);
		r = amqp_consume_message(c, &e, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT)
			break;
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			fprintf(stderr, "consume: the connection failed after %lu\n", got);
			return 1;
		}
		idlen = body_id(e.message.body.bytes, e.message.body.len);
		if (idlen == 0) {
			fprintf(out, "corrupt %.*s\n",
			    (int)(e.message.body.len < 40 ? e.message.body.len : 40),
			    (char *)e.message.body.bytes);
			/* its bytes, for the log: what came instead */
			fprintf(stderr, "consume: corrupt body, %zu bytes:", e.message.body.len);
			for (size_t k = 0; k < e.message.body.len && k < 256; k++)
				fprintf(
				    stderr, " %02x", ((unsigned char *)e.message.body.bytes)[k]);
			fprintf(stderr, "\n");
		} else
			fprintf(out, "%.*s\n", (int)idlen, (char *)e.message.body.bytes);
		if (e.redelivered) {
			fprintf(re, "%.*s\n", (int)(idlen > 0 ? idlen : e.message.body.len),
			    (char *)e.message.body.bytes);
			redelivered++;
		}
		if (hold == 0)
			amqp_basic_ack(c, 1, e.delivery_tag, 0);
		amqp_destroy_envelope(&e);
		got++;
	}
	fclose(re);
	fclose(out);
	if (hold > 0) { /* holding them unacked until told to stop */
		fprintf(stderr, "hold: %lu messages\n", got);
		while (!stop)
			usleep(50000);
		amqp_destroy_connection(c);
		return 0;
	}
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	fprintf(stderr, "consume: %lu messages (%lu redelivered)\n", got, redelivered);
	return 0;
}

/* Milliseconds, with fractions, since since (a value of ms_since_f(0)). */
static double ms_since_f(double since)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6 - since;
}

/* One login to 127.0.0.1:port, its outcome on stdout: 0 when it was let in. */
static int login_once(int port)
{
	amqp_connection_state_t c = amqp_new_connection();
	bool tls = getenv("CLUSTER_TLS") != NULL;
	amqp_socket_t *s = tls ? amqp_ssl_socket_new(c) : amqp_tcp_socket_new(c);
	struct timeval tv = { 2, 0 };
	amqp_rpc_reply_t r;
	double t = ms_since_f(0);
	int st, ret = 1;

	if (tls && s != NULL) {
		/* Which node's certificate answers is the test's to see (openssl s_client). */
		amqp_ssl_socket_set_verify_peer(s, 0);
		amqp_ssl_socket_set_verify_hostname(s, 0);
	}
	if (s == NULL ||
	    (st = amqp_socket_open_noblock(s, "127.0.0.1", port, &tv)) != AMQP_STATUS_OK) {
		printf("failed %d %.2f %s\n", port, ms_since_f(t),
		    s == NULL ? "no socket" : amqp_error_string2(st));
		goto out;
	}
	/* CLUSTER_PROXY="ADDR PORT": a PROXY protocol header naming that client, as HAProxy's. */
	if (getenv("CLUSTER_PROXY") != NULL) {
		char hdr[160], src[64];
		unsigned sport;
		int n;

		if (sscanf(getenv("CLUSTER_PROXY"), "%63s %u", src, &sport) != 2) {
			printf("failed %d CLUSTER_PROXY is not 'ADDR PORT'\n", port);
			goto out;
		}
		n = snprintf(
		    hdr, sizeof(hdr), "PROXY TCP4 %s 127.0.0.1 %u %d\r\n", src, sport, port);
		if (send(amqp_socket_get_sockfd(s), hdr, (size_t)n, MSG_NOSIGNAL) != n) {
			printf("failed %d cannot send the PROXY header\n", port);
			goto out;
		}
	}
	amqp_set_handshake_timeout(c, &tv);
	amqp_set_rpc_timeout(c, &tv);
	r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	if (r.reply_type == AMQP_RESPONSE_NORMAL) {
		/* CLUSTER_HOLD_MS: the connection stays that long, for the test to look at it. */
		if (getenv("CLUSTER_HOLD_MS") != NULL) {
			struct sockaddr_in here;
			socklen_t len = sizeof(here);

			getsockname(amqp_socket_get_sockfd(s), (struct sockaddr *)&here, &len);
			printf("ok %d %.2f %u\n", port, ms_since_f(t), ntohs(here.sin_port));
			fflush(stdout);
			usleep((useconds_t)atoi(getenv("CLUSTER_HOLD_MS")) * 1000);
		} else {
			printf("ok %d %.2f\n", port, ms_since_f(t));
		}
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
		ret = 0;
	} else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
	    r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
		amqp_connection_close_t *m = r.reply.decoded;
		printf("refused %d %.2f %u %.*s\n", port, ms_since_f(t), m->reply_code,
		    (int)m->reply_text.len, (char *)m->reply_text.bytes);
	} else {
		printf("failed %d %.2f %s\n", port, ms_since_f(t),
		    r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
		        ? amqp_error_string2(r.library_error)
		        : "unexpected reply");
	}
out:
	fflush(stdout);
	amqp_destroy_connection(c);
	return ret;
}

static int send_n(const char *host, int port, const char *queue, const char *file, int n)
{
	FILE *out = fopen(file, "w");
	amqp_connection_state_t c;
	amqp_basic_properties_t props = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
		.delivery_mode = 2 };
	char body[48];
	int i, acked = 0;

	if (out == NULL || (c = open_conn(host, port, queue, true)) == NULL) {
		fprintf(stderr, "send: cannot open a channel through %s:%d\n", host, port);
		return 1;
	}
	for (i = 1; i <= n; i++) {
		snprintf(body, sizeof(body), "send-%ld-%d", (long)getpid(), i);
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(queue), 0, 0,
		        &props, amqp_cstring_bytes(body)) != AMQP_STATUS_OK ||
		    wait_confirm(c, 5000) != 1)
			break;
		fprintf(out, "%s\n", body);
		acked++;
	}
	fclose(out);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	fprintf(stderr, "send: %d of %d acked through %d\n", acked, n, port);
	return acked == n ? 0 : 1;
}

/* follow: consume and ack everything, reconnecting after any failure, until SIGTERM. */
static int follow(const char *host, int port, const char *queue, const char *file)
{
	FILE *out = fopen(file, "w");
	amqp_connection_state_t c = NULL;
	unsigned long got = 0, redelivered = 0, reconnects = 0;
	const char *pace = getenv("CLUSTER_FOLLOW_US");
	useconds_t pause = pace != NULL ? (useconds_t)strtoul(pace, NULL, 10) : 0;
	size_t idlen;

	if (out == NULL)
		return 1;
	while (!stop) {
		struct timeval tv = { 0, 200000 };
		amqp_envelope_t e;
		amqp_rpc_reply_t r;

		if (c == NULL) {
			if ((c = open_conn(host, port, queue, false)) == NULL) {
				reconnects++;
				usleep(20000);
				continue;
			}
			amqp_basic_qos(c, 1, 0, 50, 0);
			amqp_basic_consume(c, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0,
			    0, amqp_empty_table);
			if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
				amqp_destroy_connection(c);
				c = NULL;
				continue;
			}
		}
		amqp_maybe_release_buffers(c);
		r = amqp_consume_message(c, &e, &tv, 0);
		if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
		    r.library_error == AMQP_STATUS_TIMEOUT)
			continue;
		if (r.reply_type != AMQP_RESPONSE_NORMAL) {
			amqp_destroy_connection(c);
			c = NULL;
			reconnects++;
			continue;
		}
		idlen = body_id(e.message.body.bytes, e.message.body.len);
		if (idlen == 0)
			fprintf(out, "corrupt %d\n", e.redelivered ? 1 : 0);
		else
			fprintf(out, "%.*s %d\n", (int)idlen, (char *)e.message.body.bytes,
			    e.redelivered ? 1 : 0);
		fflush(out);
		got++;
		redelivered += e.redelivered ? 1 : 0;
		if (pause > 0)
			usleep(pause);
		amqp_basic_ack(c, 1, e.delivery_tag, 0);
		amqp_destroy_envelope(&e);
	}
	if (c != NULL) {
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
		amqp_destroy_connection(c);
	}
	fclose(out);
	fprintf(stderr, "follow: %lu messages (%lu redelivered), %lu reconnects\n", got,
	    redelivered, reconnects);
	return 0;
}

/* take: n messages of queue by basic.get, no-ack (the broker forgets each as it sends it). */
static int take(const char *host, int port, const char *queue, const char *file, int n)
{
	FILE *out = fopen(file, "w");
	amqp_connection_state_t c;
	int got = 0;

	if (out == NULL || (c = open_conn(host, port, queue, false)) == NULL) {
		fprintf(stderr, "take: cannot open a channel through %s:%d\n", host, port);
		return 1;
	}
	while (got < n) {
		amqp_rpc_reply_t r = amqp_basic_get(c, 1, amqp_cstring_bytes(queue), 1);
		amqp_message_t msg;

		if (r.reply_type != AMQP_RESPONSE_NORMAL ||
		    r.reply.id != AMQP_BASIC_GET_OK_METHOD ||
		    amqp_read_message(c, 1, &msg, 0).reply_type != AMQP_RESPONSE_NORMAL)
			break;
		fprintf(out, "%.*s\n", (int)msg.body.len, (char *)msg.body.bytes);
		amqp_destroy_message(&msg);
		got++;
	}
	fclose(out);
	amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(c);
	fprintf(stderr, "take: %d of %d through %d\n", got, n, port);
	return got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
	char host[256];
	int port = 0, i;

	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "ports") == 0)
		return ports(atoi(argv[2]));
	if (argc >= 3 && parse_addr(argv[2], host, sizeof(host), &port) != 0) {
		fprintf(stderr, "cluster-client: %s is neither PORT nor HOST:PORT\n", argv[2]);
		return 2;
	}
	if ((argc == 5 || argc == 6) && strcmp(argv[1], "publish") == 0)
		return publish(host, port, argv[3], argv[4], argc == 6 ? atoi(argv[5]) : 2000);
	if (argc == 6 && strcmp(argv[1], "consume") == 0)
		return consume(host, port, argv[3], argv[4], atoi(argv[5]), 0);
	if (argc == 6 && strcmp(argv[1], "hold") == 0)
		return consume(
		    host, port, argv[3], argv[4], 2000, atoi(argv[5]) > 0 ? atoi(argv[5]) : 1);
	if (strcmp(argv[1], "login") == 0) {
		for (i = 2; i < argc; i++)
			if (login_once(atoi(argv[i])) == 0)
				return 0;
		return 1;
	}
	if (argc == 5 && strcmp(argv[1], "follow") == 0)
		return follow(host, port, argv[3], argv[4]);
	if (argc == 6 && strcmp(argv[1], "take") == 0)
		return take(host, port, argv[3], argv[4], atoi(argv[5]));
	if (argc == 6 && strcmp(argv[1], "send") == 0)
		return send_n(host, port, argv[3], argv[4], atoi(argv[5]));
	fprintf(stderr,
	    "usage: cluster-client ports N | publish ADDR QUEUE FILE [MS] | consume ADDR "
	    "QUEUE FILE QUIET_MS | hold ADDR QUEUE FILE N | follow ADDR QUEUE FILE | take ADDR "
	    "QUEUE FILE N | "
	    "login PORT... "
	    "| send ADDR QUEUE FILE N (ADDR: PORT or HOST:PORT)\n");
	return 2;
}
