/*
 * delay_lateness: how late a delayed exchange delivers (docs/performance.md). Declares an
 * x-delayed-message exchange (x-delayed-type direct) and an exclusive queue bound to it, publishes
 * N messages (default 100,000) whose x-delay makes them due within one second, starting a few
 * seconds ahead, then consumes them (no-ack) and prints how late they came against their due
 * time (wall clock, ms): median, p99 and maximum, and how many came early.
 *
 *   delay_lateness [-p port] [-n messages] [-a seconds ahead] [-P (persistent, durable)]
 *                  [-l (read with librabbitmq)]
 *
 * Lateness is taken at up to three points, so that what the broker adds is told from what this
 * client adds:
 *   routed   when warrend routed the message (its header x-warren-routed), against its own due
 *            time (x-warren-due): only when warrend runs with WARREN_TEST_DELAY_STAMP=1;
 *   arrived  when the bytes reached this client's socket (the kernel's receive time stamp,
 *            SO_TIMESTAMPNS, of the last segment of the read that completed the message: never
 *            earlier than the truth): the broker's lateness up to its send;
 *   read     when this client had read the message.
 * Due times are the broker's when stamped, else computed here (publish time rounded up to the
 * ms, plus the delay: the broker's own is that or later, by how late it read the publish). By
 * default the deliveries are read straight from the socket with a minimal frame parser, which
 * costs about a microsecond a message; -l reads them with librabbitmq, one message per call
 * (only "read" is measured then), as this bench did at first.
 */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
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

/* What was measured of one message (times in us since the epoch; 0: not measured). */
struct seen {
	int64_t due, routed, arrived, read;
};

/* ---- reading deliveries straight from the socket ---- */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* The size of a field value of type t at p (of left bytes), or -1. */
static long value_size(uint8_t t, const uint8_t *p, size_t left)
{
	switch (t) {
	case 't':
	case 'b':
	case 'B': return 1;
	case 's':
	case 'u': return 2;
	case 'I':
	case 'i':
	case 'f': return 4;
	case 'l':
	case 'd':
	case 'T': return 8;
	case 'D': return 5;
	case 'V': return 0;
	case 'S':
	case 'x':
	case 'A':
	case 'F': return left < 4 || be32(p) > left - 4 ? -1 : 4 + (long)be32(p);
	default: return -1;
	}
}

/* The stamps in a content header's headers table (x-warren-due, x-warren-routed), if any. */
static void header_stamps(const uint8_t *p, size_t len, int64_t *due_ms, int64_t *routed)
{
	uint16_t flags;
	size_t off = 14, end;

	*due_ms = *routed = 0;
	if (len < 14)
		return;
	flags = (uint16_t)(p[12] << 8 | p[13]);
	if (!(flags & 0x2000))
		return;
	if (flags & 0x8000) /* content-type, content-encoding: shortstrs before the headers */
		off += off < len ? 1u + p[off] : 0;
	if (flags & 0x4000)
		off += off < len ? 1u + p[off] : 0;
	if (off + 4 > len || be32(p + off) > len - off - 4)
		return;
	end = off + 4 + be32(p + off);
	off += 4;
	while (off < end) {
		uint8_t klen = p[off];
		const uint8_t *key = p + off + 1;
		long vs;
		if (end - off < 2u + klen)
			return;
		off += 1u + klen;
		if ((vs = value_size(p[off], p + off + 1, end - off - 1)) < 0 ||
		    (size_t)vs > end - off - 1)
			return;
		if (p[off] == 'l' && klen == 12 && memcmp(key, "x-warren-due", 12) == 0)
			*due_ms = (int64_t)be64(p + off + 1);
		if (p[off] == 'l' && klen == 15 && memcmp(key, "x-warren-routed", 15) == 0)
			*routed = (int64_t)be64(p + off + 1);
		off += 1u + (size_t)vs;
	}
}

/*
 * Read deliveries from fd until n have come (or none for tmo_s): each body's number indexes
 * seen[]. Returns the number read.
 */
static int read_raw(int fd, int n, int tmo_s, struct seen *seen)
{
	enum { CAP = 1 << 20 };
	static uint8_t buf[CAP];
	size_t len = 0, off;
	int got = 0;
	int64_t due_ms = 0, routed = 0;

	while (got < n) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		char cbuf[CMSG_SPACE(sizeof(struct timespec))];
		struct iovec iov = { buf + len, CAP - len };
		struct msghdr mh = { .msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf,
			.msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm;
		int64_t arrived = 0, now;
		ssize_t r;

		if (poll(&pfd, 1, tmo_s * 1000) <= 0)
			break;
		if ((r = recvmsg(fd, &mh, 0)) <= 0)
			break;
		now = wall_us();
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
				struct timespec ts;
				memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
				arrived = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
			}
		len += (size_t)r;
		for (off = 0; len - off >= 8;) {
			const uint8_t *f = buf + off;
			uint32_t size = be32(f + 3);
			if (size > CAP - 8) {
				fprintf(stderr, "delay_lateness: a frame of %u bytes\n", size);
				return got;
			}
			if (len - off < size + 8)
				break;
			if (f[0] == 2) {
				header_stamps(f + 7, size, &due_ms, &routed);
			} else if (f[0] == 3 && size < 16) {
				char body[16];
				int i;
				memcpy(body, f + 7, size);
				body[size] = '\0';
				i = atoi(body);
				if (i >= 0 && i < n) {
					if (due_ms != 0)
						seen[i].due = due_ms * 1000;
					seen[i].routed = routed;
					seen[i].arrived = arrived;
					seen[i].read = now;
					got++;
				}
			} else if (f[0] == 1 && size >= 4 && be32(f + 7) != (60u << 16 | 60)) {
				fprintf(stderr, "delay_lateness: method %u.%u, not basic.deliver\n",
				    be32(f + 7) >> 16, be32(f + 7) & 0xffff);
				return got;
			}
			off += size + 8;
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
	return got;
}

/* Deliveries through librabbitmq, one message per call (the read time only). */
static int read_librabbitmq(amqp_connection_state_t c, int n, int tmo_s, struct seen *seen)
{
	int got = 0, i;
	char body[32];

	while (got < n) {
		amqp_envelope_t env;
		struct timeval tmo = { tmo_s, 0 };
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
			seen[i].read = wall_us();
			got++;
		}
		amqp_destroy_envelope(&env);
	}
	return got;
}

/* ---- the figures ---- */

/* One point's lateness over the messages that have it: median, p99, max; early ones counted. */
static int report(const char *what, const struct seen *seen, int n, size_t field, int64_t *late)
{
	int k = 0, i, early = 0;

	for (i = 0; i < n; i++) {
		int64_t t = *(const int64_t *)((const char *)&seen[i] + field);
		if (t == 0 || seen[i].read == 0)
			continue;
		late[k] = t - seen[i].due;
		if (late[k] < 0)
			early++;
		k++;
	}
	if (k == 0)
		return 0;
	qsort(late, (size_t)k, sizeof(*late), cmp);
	printf("  %-8s median %7.2f ms, p99 %7.2f ms, max %7.2f ms, min %7.3f ms, %d early\n", what,
	    late[k / 2] / 1000.0, late[(int)(k * 0.99)] / 1000.0, late[k - 1] / 1000.0,
	    late[0] / 1000.0, early);
	return early;
}

int main(int argc, char **argv)
{
	int port = 5672, n = 100000, ahead = 3, opt, i, got, early = 0, on = 1;
	bool persistent = false, librabbitmq = false, stamped = false;
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	amqp_table_entry_t xe, he;
	amqp_basic_properties_t p = { ._flags = AMQP_BASIC_HEADERS_FLAG };
	int64_t t0, *late, *client_due;
	struct seen *seen;
	char xname[64], body[32];

	while ((opt = getopt(argc, argv, "p:n:a:Pl")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'a': ahead = atoi(optarg); break;
		case 'P': persistent = true; break;
		case 'l': librabbitmq = true; break;
		default:
			fprintf(stderr,
			    "usage: delay_lateness [-p port] [-n messages] [-a seconds] "
			    "[-P] [-l]\n");
			return 2;
		}
	}
	seen = calloc((size_t)n, sizeof(*seen));
	late = calloc((size_t)n, sizeof(*late));
	client_due = calloc((size_t)n, sizeof(*client_due));
	if (n <= 0 || seen == NULL || late == NULL || client_due == NULL || s == NULL ||
	    amqp_socket_open(s, "127.0.0.1", port) != 0)
		return 1;
	/* The kernel stamps what reaches the socket from now on. */
	if (setsockopt(amqp_get_sockfd(c), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) != 0)
		perror("delay_lateness: SO_TIMESTAMPNS");
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
		int64_t now = wall_us(), want = t0 + (int64_t)(i % 1000) * 1000;
		he.value.value.i64 = (want - now + 999) / 1000;
		snprintf(body, sizeof(body), "%d", i);
		if (amqp_basic_publish(c, 1, amqp_cstring_bytes(xname), amqp_cstring_bytes("k"), 0,
		        0, &p, amqp_cstring_bytes(body)) != 0)
			return 1;
		/* The due time the broker takes: arrival (rounded up to the ms) + the delay, or later. */
		client_due[i] = ((now + 999) / 1000 + he.value.value.i64) * 1000;
	}
	if (wall_us() > t0)
		fprintf(
		    stderr, "delay_lateness: publishing took past the first due time: use -a\n");
	if (librabbitmq) {
		got = read_librabbitmq(c, n, ahead + 30, seen);
	} else if (amqp_data_in_buffer(c) || amqp_frames_enqueued(c)) {
		fprintf(stderr, "delay_lateness: librabbitmq holds input already: use -a\n");
		return 1;
	} else {
		got = read_raw(amqp_get_sockfd(c), n, ahead + 30, seen);
	}
	for (i = 0; i < n; i++) {
		if (seen[i].due == 0)
			seen[i].due = client_due[i];
		else
			stamped = true;
	}
	printf("%d of %d delivered%s, due within one second, read with %s; lateness:\n", got, n,
	    persistent ? " (persistent, durable)" : "",
	    librabbitmq ? "librabbitmq" : "a raw reader");
	if (stamped) {
		int k = 0;
		early += report("routed", seen, n, offsetof(struct seen, routed), late);
		/* How much later than this client's reckoning the broker's due times are. */
		for (i = 0; i < n; i++)
			if (seen[i].read != 0)
				late[k++] = seen[i].due - client_due[i];
		qsort(late, (size_t)k, sizeof(*late), cmp);
		if (k > 0)
			printf("  (the broker's due times later than this client's by median %.2f "
			       "ms, p99 %.2f ms, max %.2f ms: its reading of the publishes)\n",
			    late[k / 2] / 1000.0, late[(int)(k * 0.99)] / 1000.0,
			    late[k - 1] / 1000.0);
	}
	early += report("arrived", seen, n, offsetof(struct seen, arrived), late);
	early += report("read", seen, n, offsetof(struct seen, read), late);
	if (got == n) { /* the stream is at a frame's end: librabbitmq can go on */
		amqp_exchange_delete(c, 1, amqp_cstring_bytes(xname), 0);
		amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
		amqp_connection_close(c, AMQP_REPLY_SUCCESS);
	}
	amqp_destroy_connection(c);
	free(seen);
	free(late);
	free(client_due);
	return got == n && early == 0 ? 0 : 1;
}
