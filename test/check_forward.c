/*
 * check_forward.c: a cluster replica's splice (server/net/forward.c) on a real loop, between
 * loopback sockets: bytes both ways and a half-close carried through; a client that sends while
 * the master reads nothing is held back (the splice holds at most its high mark plus one read) and
 * loses nothing once the master reads; a connect that fails hands the client's socket up with a
 * reason; refusing and serving hand it up as they say. Every wait is bounded (5 s).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/server.h"

#define BOUND_MS 5000
#define FWD_BOUND (256 * 1024 + 128 * 1024) /* forward.c's high mark plus one read */
#define SOCK_BUF 65536
#define BIG (16 << 20) /* more than every socket buffer on the way can hold */

static struct event_base *base;
static int up_fd = -1;       /* the last socket handed up, ... */
static char up_refusal[512]; /* ... and its reason ("" to serve) */
static int nup;

static void accepted(
    struct event_base *b, int fd, struct sockaddr *sa, int salen, bool tls, const char *refusal)
{
	up_fd = fd;
	snprintf(up_refusal, sizeof(up_refusal), "%s", refusal != NULL ? refusal : "");
	nup++;
}

static int64_t t_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/*
 * A listening loopback socket; its port into *port. Its sockets, and the clients', take 64 KiB
 * buffers, so that what the kernel holds does not hide what the splice holds.
 */
static int listener(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), size = SOCK_BUF;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Run the loop until *fd can be accepted from lfd (the loop runs meanwhile); the new socket. */
static int accept_running(int lfd)
{
	int64_t until = t_ms() + BOUND_MS;
	struct pollfd p = { .fd = lfd, .events = POLLIN };

	while (poll(&p, 1, 0) == 0) {
		ck_assert_msg(t_ms() < until, "no connection within 5 s");
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	return accept(lfd, NULL, NULL);
}

/* A connected pair through a listener: *client's end, and the accepted end (returned). */
static int tcp_pair(int *client)
{
	unsigned port;
	int lfd = listener(&port), fd;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(*client, SOL_SOCKET, SO_SNDBUF, &(int){ SOCK_BUF }, sizeof(int));
	ck_assert_int_eq(connect(*client, (struct sockaddr *)&a, sizeof(a)), 0);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	close(lfd);
	evutil_make_socket_nonblocking(fd);
	return fd;
}

/* Hand a new client's accepted socket to forward.c, as the listener does; the client's end. */
static int new_client(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int client, fd = tcp_pair(&client);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	net_forward_accepted(base, fd, (struct sockaddr *)&a, sizeof(a), false);
	return client;
}

/* Read exactly len bytes from fd (blocking, bounded), the loop running in between. */
static void read_running(int fd, char *buf, size_t len)
{
	int64_t until = t_ms() + BOUND_MS;
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		ck_assert_msg(t_ms() < until, "read %zu of %zu bytes in 5 s", got, len);
		event_base_loop(base, EVLOOP_NONBLOCK);
		n = recv(fd, buf + got, len - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			ck_assert_msg(
			    n < 0 && errno == EAGAIN, "recv: %zd (%s)", n, strerror(errno));
	}
}

/* Run the loop until fd reads its end (recv 0), bounded. */
static void eof_running(int fd)
{
	int64_t until = t_ms() + BOUND_MS;
	char c;
	ssize_t n;

	while ((n = recv(fd, &c, 1, MSG_DONTWAIT)) != 0) {
		ck_assert_msg(n < 0 && errno == EAGAIN, "bytes after the end, or an error");
		ck_assert_msg(t_ms() < until, "no end within 5 s");
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* Run the loop until no splice is left (they are freed from the loop), bounded. */
static void none_left(void)
{
	int64_t until = t_ms() + BOUND_MS;
	unsigned live;
	uint64_t spliced, failed;
	size_t peak;

	for (;;) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		net_forward_stats(&live, &spliced, &failed, &peak);
		if (live == 0)
			return;
		ck_assert_msg(t_ms() < until, "%u splices left after 5 s", live);
		usleep(1000);
	}
}

static int master_fd;
static unsigned master_port;

static void setup(void)
{
	char target[64], err[256];

	base = event_base_new();
	net_register_events(&(struct net_events){ .accepted = accepted });
	master_fd = listener(&master_port);
	snprintf(target, sizeof(target), "127.0.0.1:%u", master_port);
	ck_assert_int_eq(net_forward_to(target, NULL, "no amqps here", err, sizeof(err)), 0);
	up_fd = -1;
	nup = 0;
}

static void teardown(void)
{
	none_left();
	close(master_fd);
	net_forward_serve();
	event_base_free(base);
}

START_TEST(bytes_both_ways_and_half_close)
{
	int client = new_client(), m = accept_running(master_fd);
	char buf[16];

	/* Client to master, then the client's half-close reaches the master as its end. */
	ck_assert_int_eq(send(client, "hello", 5, 0), 5);
	ck_assert_int_eq(shutdown(client, SHUT_WR), 0);
	read_running(m, buf, 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	eof_running(m);
	/* The other way still runs; the master's close ends the client's input after its bytes. */
	ck_assert_int_eq(send(m, "world!", 6, 0), 6);
	close(m);
	read_running(client, buf, 6);
	ck_assert_int_eq(memcmp(buf, "world!", 6), 0);
	eof_running(client);
	close(client);
	ck_assert_int_eq(nup, 0); /* nothing was handed up */
}
END_TEST

START_TEST(a_master_that_does_not_read_holds_the_client_back)
{
	int client = new_client(), m = accept_running(master_fd);
	static char out[BIG], in[BIG];
	size_t sent = 0, got = 0, i, peak;
	int64_t until = t_ms() + BOUND_MS, still = 0;
	unsigned live;
	uint64_t spliced, failed;
	ssize_t n = 0;

	for (i = 0; i < sizeof(out); i++)
		out[i] = (char)(i * 7 + i / 4096);
	evutil_make_socket_nonblocking(client);
	/* Send until nothing more is taken for 200 ms of loop turns: the splice stopped reading. */
	while (sent < sizeof(out) && still < 200) {
		ck_assert_msg(t_ms() < until, "still sending after 5 s");
		event_base_loop(base, EVLOOP_NONBLOCK);
		n = send(client, out + sent, sizeof(out) - sent, 0);
		if (n > 0) {
			sent += (size_t)n;
			still = 0;
		} else {
			ck_assert_int_eq(errno, EAGAIN);
			still++;
			usleep(1000);
		}
	}
	ck_assert_msg(sent < sizeof(out), "all 16 MiB went into a master that reads nothing");
	net_forward_stats(&live, &spliced, &failed, &peak);
	ck_assert_msg(peak <= FWD_BOUND, "the splice held %zu bytes (bound %d)", peak, FWD_BOUND);
	fprintf(stderr, "held back after %zu bytes; the splice held at most %zu\n", sent, peak);
	/* The master reads: everything comes through, in order, and the client may send the rest. */
	until = t_ms() + BOUND_MS;
	while (got < sizeof(out)) {
		ck_assert_msg(t_ms() < until, "%zu of %zu bytes through in 5 s", got, sizeof(out));
		if (n <= 0)
			usleep(100);
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (sent < sizeof(out) && (n = send(client, out + sent, sizeof(out) - sent, 0)) > 0)
			sent += (size_t)n;
		n = recv(m, in + got, sizeof(in) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
	}
	ck_assert_int_eq(memcmp(in, out, sizeof(out)), 0);
	net_forward_stats(&live, &spliced, &failed, &peak);
	ck_assert_msg(peak <= FWD_BOUND, "the splice held %zu bytes (bound %d)", peak, FWD_BOUND);
	close(client);
	close(m);
}
END_TEST

START_TEST(a_failed_connect_hands_the_client_up_with_a_reason)
{
	unsigned port;
	int lfd = listener(&port), client;
	int64_t until = t_ms() + BOUND_MS;
	char target[64], err[256];

	close(lfd); /* nothing listens there now: the connect is refused */
	snprintf(target, sizeof(target), "127.0.0.1:%u", port);
	ck_assert_int_eq(net_forward_to(target, NULL, "no amqps here", err, sizeof(err)), 0);
	client = new_client();
	while (nup == 0) {
		ck_assert_msg(t_ms() < until, "not handed up within 5 s");
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_msg(strstr(up_refusal, "cannot reach the master at 127.0.0.1:") != NULL &&
	        strstr(up_refusal, "try again") != NULL,
	    "%s", up_refusal);
	ck_assert_int_ge(up_fd, 0);
	close(up_fd);
	close(client);
}
END_TEST

START_TEST(refuse_serve_and_a_missing_kind)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int client, fd;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* amqps with only an amqp target: refused with the reason given for the missing kind. */
	fd = tcp_pair(&client);
	net_forward_accepted(base, fd, (struct sockaddr *)&a, sizeof(a), true);
	ck_assert_int_eq(nup, 1);
	ck_assert_str_eq(up_refusal, "no amqps here");
	close(up_fd);
	close(client);
	net_forward_refuse("no master in the cluster at the moment; try again in a moment");
	fd = tcp_pair(&client);
	net_forward_accepted(base, fd, (struct sockaddr *)&a, sizeof(a), false);
	ck_assert_int_eq(nup, 2);
	ck_assert_str_eq(
	    up_refusal, "no master in the cluster at the moment; try again in a moment");
	close(up_fd);
	close(client);
	net_forward_serve();
	fd = tcp_pair(&client);
	net_forward_accepted(base, fd, (struct sockaddr *)&a, sizeof(a), false);
	ck_assert_int_eq(nup, 3);
	ck_assert_str_eq(up_refusal, "");
	close(up_fd);
	close(client);
}
END_TEST

/* Run the loop until n sockets were handed up, bounded; close each. */
static void handed_up_running(int n)
{
	int64_t until = t_ms() + BOUND_MS;

	while (nup < n) {
		ck_assert_msg(t_ms() < until, "%d of %d connections handed up in 5 s", nup, n);
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	close(up_fd);
}

/* A client of addr (a numeric IPv4 or IPv6 host) and port: connected, or -1 and errno. */
static int connect_to(const char *host, unsigned port)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	int fd;

	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, host, &a6->sin6_addr), 1);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
	}
	fd = socket(ss.ss_family, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	if (connect(fd, (struct sockaddr *)&ss, sizeof(ss)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether this host has IPv6 and ::1 (CI's containers may not). */
static bool ipv6_loopback(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static unsigned listener_port(int i)
{
	struct sockaddr_storage ss;
	bool tls;

	ck_assert_int_eq(server_listener(i, &ss, &tls), 0);
	ck_assert(!tls);
	return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
	                                : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/*
 * The default listens on 0.0.0.0:5672 and [::]:5672 (as RabbitMQ): an IPv6 wildcard listener is
 * IPv6 only, so both bind the same port, and a client of ::1 (node's "localhost" may be that)
 * and one of 127.0.0.1 each reach theirs.
 */
START_TEST(ipv4_and_ipv6_wildcards_share_a_port)
{
	char addr[64];
	unsigned port;
	int fd;

	net_forward_serve(); /* the fixture forwards to a master: this node serves instead */
	ck_assert_int_eq(server_listen(base, "0.0.0.0:0", -1, false, false), 0);
	port = listener_port(0);
	snprintf(addr, sizeof(addr), "[::]:%u", port);
	if (!ipv6_loopback()) {
		fprintf(stderr,
		    "no IPv6 loopback here: only the optional listener's start is tested\n");
		ck_assert_int_eq(server_listen(base, addr, -1, false, true), 0);
		server_stop_listening();
		return;
	}
	ck_assert_int_eq(server_listen(base, addr, -1, false, true), 0);
	ck_assert_uint_eq(listener_port(1), port);
	ck_assert_int_ge(fd = connect_to("127.0.0.1", port), 0);
	handed_up_running(1);
	close(fd);
	ck_assert_int_ge(fd = connect_to("::1", port), 0);
	handed_up_running(2);
	close(fd);
	/* An address that is no address, and one taken: errors, not listeners. */
	ck_assert_int_eq(server_listen(base, "[::1:5672", -1, false, false), -1);
	ck_assert_int_eq(server_listen(base, addr, -1, false, true), -1);
	server_stop_listening();
	ck_assert_int_lt(fd = connect_to("::1", port), 0);
}
END_TEST

/* ---- The PROXY protocol's headers (proxy.c) ---- */

/* Every proper prefix of a header asks for more; the whole one parses to its length. */
static int parse_whole(const uint8_t *p, size_t n, struct sockaddr_storage *src, unsigned *len)
{
	size_t used = 0, i;
	uint8_t more[300];

	for (i = 0; i < n; i++)
		ck_assert_msg(
		    net_proxy_parse(p, i, src, len, &used) == 1, "prefix %zu of %zu", i, n);
	/* The client's first bytes may follow in the same read: they are not the header's. */
	memcpy(more, p, n);
	memcpy(more + n, "AMQP\0\0\x09\x01", 8);
	ck_assert_int_eq(net_proxy_parse(more, n + 8, src, len, &used), 0);
	ck_assert_uint_eq(used, n);
	return 0;
}

static void addr_is(const struct sockaddr_storage *ss, const char *want)
{
	char got[128];

	server_format_addr((const struct sockaddr *)ss, got, sizeof(got));
	ck_assert_str_eq(got, want);
}

START_TEST(proxy_headers_parse)
{
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 40001 5672\r\n";
	static const char v1_6[] = "PROXY TCP6 2001:db8::7 2001:db8::1 40002 5672\r\n";
	static const char v1_unknown[] =
	    "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
	struct sockaddr_in c4 = { .sin_family = AF_INET, .sin_port = htons(40003) };
	struct sockaddr_in d4 = { .sin_family = AF_INET, .sin_port = htons(5672) };
	struct sockaddr_in6 c6 = { .sin6_family = AF_INET6, .sin6_port = htons(40004) };
	struct sockaddr_in6 d6 = { .sin6_family = AF_INET6, .sin6_port = htons(5672) };
	struct sockaddr_storage src;
	uint8_t h[64];
	unsigned len;
	size_t n;

	parse_whole((const uint8_t *)v1, strlen(v1), &src, &len);
	addr_is(&src, "192.0.2.7:40001");
	parse_whole((const uint8_t *)v1_6, strlen(v1_6), &src, &len);
	addr_is(&src, "[2001:db8::7]:40002");
	parse_whole((const uint8_t *)v1_unknown, strlen(v1_unknown), &src, &len);
	ck_assert_uint_eq(len, 0); /* the proxy's own connection */
	/* Version 2, as the replicas write it, both families, and LOCAL without an address. */
	inet_pton(AF_INET, "192.0.2.8", &c4.sin_addr);
	inet_pton(AF_INET, "198.51.100.1", &d4.sin_addr);
	n = net_proxy_header((struct sockaddr *)&c4, (struct sockaddr *)&d4, h);
	ck_assert_uint_eq(n, 28);
	parse_whole(h, n, &src, &len);
	addr_is(&src, "192.0.2.8:40003");
	inet_pton(AF_INET6, "2001:db8::8", &c6.sin6_addr);
	n = net_proxy_header((struct sockaddr *)&c6, (struct sockaddr *)&d6, h);
	ck_assert_uint_eq(n, 52);
	parse_whole(h, n, &src, &len);
	addr_is(&src, "[2001:db8::8]:40004");
	n = net_proxy_header(
	    (struct sockaddr *)&(struct sockaddr_storage){ 0 }, (struct sockaddr *)&d4, h);
	ck_assert_uint_eq(n, 16);
	parse_whole(h, n, &src, &len);
	ck_assert_uint_eq(len, 0);
}
END_TEST

/* What is not a header: refused (-1) as soon as the bytes show it. */
START_TEST(proxy_headers_refused)
{
	static const char *const bad_v1[] = {
		"AMQP\0\0\x09\x01",                              /* no header at all */
		"PROXY TCP5 192.0.2.7 198.51.100.1 1 2\r\n",     /* no such protocol */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 70000\r\n", /* a port past 65535 */
		"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",   /* the wrong family */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\n",       /* no CR */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n",       /* a port missing */
		"PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 "
		"5 "
		"6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4\r\n", /* longer than 107 bytes */
		"proxy TCP4 192.0.2.7 198.51.100.1 1 2\r\n", /* case matters */
	};
	uint8_t h[64];
	struct sockaddr_in c4 = { .sin_family = AF_INET, .sin_port = htons(1) };
	struct sockaddr_storage src;
	unsigned len;
	size_t used, i;

	for (i = 0; i < sizeof(bad_v1) / sizeof(bad_v1[0]); i++)
		ck_assert_msg(net_proxy_parse((const uint8_t *)bad_v1[i], strlen(bad_v1[i]) + 0,
		                  &src, &len, &used) == -1,
		    "accepted %s", bad_v1[i]);
	/* A NUL inside a version 1 line. */
	ck_assert_int_eq(net_proxy_parse((const uint8_t *)"PROXY TCP4 1.2.3.4\0 1.2.3.4 1 2\r\n",
	                     33, &src, &len, &used),
	    -1);
	/* Version 2 broken one field at a time. */
	net_proxy_header((struct sockaddr *)&c4, (struct sockaddr *)&c4, h);
	h[12] = 0x11; /* version 1 in the version nibble */
	ck_assert_int_eq(net_proxy_parse(h, 28, &src, &len, &used), -1);
	h[12] = 0x22; /* a command after PROXY */
	ck_assert_int_eq(net_proxy_parse(h, 28, &src, &len, &used), -1);
	h[12] = 0x21;
	h[13] = 0x12; /* UDP */
	ck_assert_int_eq(net_proxy_parse(h, 28, &src, &len, &used), -1);
	h[13] = 0x21; /* IPv6 in 12 bytes of addresses */
	ck_assert_int_eq(net_proxy_parse(h, 28, &src, &len, &used), -1);
	h[13] = 0x11;
	h[14] = 0x10; /* 4 KiB of addresses and TLVs: more than a client's header holds */
	ck_assert_int_eq(net_proxy_parse(h, 28, &src, &len, &used), -1);
	h[14] = 0;
	h[3] = 'X'; /* the signature */
	ck_assert_int_eq(net_proxy_parse(h, 4, &src, &len, &used), -1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("forward");
	TCase *tc = tcase_create("splice");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERROR);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, bytes_both_ways_and_half_close);
	tcase_add_test(tc, a_master_that_does_not_read_holds_the_client_back);
	tcase_add_test(tc, a_failed_connect_hands_the_client_up_with_a_reason);
	tcase_add_test(tc, refuse_serve_and_a_missing_kind);
	tcase_add_test(tc, ipv4_and_ipv6_wildcards_share_a_port);
	tcase_add_test(tc, proxy_headers_parse);
	tcase_add_test(tc, proxy_headers_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
