/*
 * fuzz_conn.c: libFuzzer target for a whole connection fed from bytes: the code that reads real
 * connections (conn_read.c's direct socket reads, the frames cut in place or pulled up, channels,
 * the handlers, exchanges, queues, consumers) and writes their answers, over a socketpair, with a
 * real broker state but no listener, no store and no password threads.
 *
 * Byte 0 is (chunk pattern << 4) | handshake, byte 1 seeds the chunk sizes (test/fuzz/fuzz.h); the
 * rest is what the client sends. With handshake set the harness first sends, whole, the protocol
 * header, a PLAIN login as guest, tune-ok (frame_max 131072, no heartbeats) and connection.open of
 * "/", so the input starts on an open connection; otherwise the input holds the handshake too. The
 * stream is written in the chunks the pattern gives, the loop run after each until nothing moves
 * and the broker's answers read and dropped, so frames are split at every boundary. Then the
 * client closes, every connection goes, and the broker is freed and built again: nothing carries
 * over from one input to the next. guest's password is hashed once, with scrypt's lowest cost.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/server.h"
#include "test/fuzz/fuzz.h"

static struct event_base *base;
static struct broker_config cfg;
static char users[AUTH_HASH_MAX + 64];
static int client = -1, server = -1;

/* The client's handshake, as the harness sends it when the input asks. */
static uint8_t handshake[512];
static size_t handshake_len;

static void frame(uint8_t *payload, size_t len)
{
	uint8_t *f = handshake + handshake_len;

	FUZZ_CHECK(handshake_len + len + AMQP_FRAME_OVERHEAD <= sizeof(handshake));
	memmove(f + AMQP_FRAME_HEADER_LEN, payload, len);
	amqp_frame_put_header(f, AMQP_FRAME_METHOD, 0, (uint32_t)len);
	handshake_len += len + AMQP_FRAME_OVERHEAD;
}

static void handshake_method(const struct amqp_method *m)
{
	uint8_t buf[256];
	int n = amqp_method_encode(m, buf, sizeof(buf));

	FUZZ_CHECK(n > 0);
	frame(buf, (size_t)n);
}

static void build_handshake(void)
{
	struct amqp_method m = { .id = AMQP_ID_connection_start_ok };

	memcpy(handshake, amqp_protocol_header, AMQP_PROTOCOL_HEADER_LEN);
	handshake_len = AMQP_PROTOCOL_HEADER_LEN;
	m.u.connection_start_ok.mechanism = AMQP_BYTES("PLAIN");
	m.u.connection_start_ok.response = AMQP_BYTES("\0guest\0guest");
	m.u.connection_start_ok.locale = AMQP_BYTES("en_US");
	handshake_method(&m);
	m = (struct amqp_method){ .id = AMQP_ID_connection_tune_ok };
	m.u.connection_tune_ok.channel_max = 2047;
	m.u.connection_tune_ok.frame_max = 131072;
	handshake_method(&m);
	m = (struct amqp_method){ .id = AMQP_ID_connection_open };
	m.u.connection_open.virtual_host = AMQP_BYTES("/");
	handshake_method(&m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char hash[AUTH_HASH_MAX];
	const char *level = getenv("FUZZ_CONN_LOG"); /* to see what an input does: debug */
	enum log_level l = LOG_ERROR;

	if (level != NULL && log_parse_level(level, &l) != 0)
		l = LOG_ERROR;
	log_set_level(l);
	FUZZ_CHECK((base = event_base_new()) != NULL);
	broker_config_defaults(&cfg);
	cfg.max_message_size = 1024 * 1024;
	FUZZ_CHECK(
	    auth_hash_password_params(AMQP_BYTES("guest"), 1, 1, 1, hash, sizeof(hash)) == AUTH_OK);
	snprintf(users, sizeof(users), "guest:%s:administrator\n", hash);
	build_handshake();
	return 0;
}

/* The broker as warrend starts it without a data directory, guest's password cheap to check. */
static void broker_start(void)
{
	static const char vhost[] = "vhost /\npermissions guest .* .* .*\n";
	struct auth_db *db = auth_db_new();
	char err[256];

	memset(&broker, 0, sizeof(broker));
	broker_init(base, &cfg);
	conn_register_events();
	FUZZ_CHECK(auth_db_parse_users(db, "fuzz", (const uint8_t *)users, strlen(users), err,
	               sizeof(err)) == AUTH_OK &&
	    auth_db_parse_vhost(
	        db, "fuzz", (const uint8_t *)vhost, strlen(vhost), err, sizeof(err)) == AUTH_OK &&
	    auth_db_finish(db, err, sizeof(err)) == AUTH_OK);
	auth_db_unref(broker.auth);
	broker.auth = db;
	broker.auth_gen++;
}

/* Read and drop what the broker sent; how many bytes. */
static size_t drain(void)
{
	uint8_t buf[65536];
	size_t total = 0;
	ssize_t n;

	while ((n = recv(client, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/* Bytes the broker has yet to read from its socket (0 once it is closed). */
static int unread(void)
{
	int n = 0;

	if (conn_none_left() || ioctl(server, FIONREAD, &n) != 0)
		return 0;
	return n;
}

/*
 * Run the loop until a turn moves nothing: no input taken, no output, no callback waiting (a
 * paused connection leaves its input unread; the bound is for a broker that never rests).
 */
static void pump(void)
{
	int rounds, before;
	size_t out;

	for (rounds = 0; rounds < 10000 && !conn_none_left(); rounds++) {
		before = unread();
		event_base_loop(base, EVLOOP_NONBLOCK);
		out = drain();
		if (out == 0 && unread() == before &&
		    event_base_get_num_events(base, EVENT_BASE_COUNT_ACTIVE) == 0)
			return;
	}
}

/* Write all of p, then run the loop (and while the socket is full, to make room). */
static void send_all(const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n > 0 && !conn_none_left()) {
		w = send(client, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return; /* the broker closed its end */
		pump();
	}
	pump();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bufferevent *bev;
	struct chunker ch;
	int sv[2];
	size_t n;

	if (size < 2)
		return 0;
	ch = (struct chunker){ (data[0] >> 4) & 7, data[1], data[1], 0 };
	broker_start();
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	client = sv[0];
	server = sv[1];
	FUZZ_CHECK(evutil_make_socket_nonblocking(server) == 0);
	FUZZ_CHECK((bev = bufferevent_socket_new(base, server, BEV_OPT_CLOSE_ON_FREE)) != NULL);
	conn_attach(bev, "fuzz", true, true); /* as conn_accept attaches a TCP client */
	if (data[0] & 1)
		send_all(handshake, handshake_len);
	data += 2;
	size -= 2;
	while (size > 0 && !conn_none_left()) {
		n = next_chunk(&ch, size);
		send_all(data, n);
		data += n;
		size -= n;
	}
	close(client);
	pump();
	conn_destroy_all();
	event_base_loop(base, EVLOOP_NONBLOCK); /* the deferred frees */
	access_free();
	broker_free();
	return 0;
}
