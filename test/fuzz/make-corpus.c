/*
 * make-corpus.c: writes the fuzzers' seed corpus, test/fuzz/corpus/<target>/<name>, byte by byte.
 *
 * It encodes with its own little writer, not with amqp/, so a codec bug cannot leak into the seeds;
 * only the method table (amqp/methods.def, which is data) is shared, to give every method a seed.
 * Run it by hand after changing the seeds: `make fuzz-corpus` in a build directory. The committed
 * corpus also holds inputs the fuzzers found (regress-*), which this program never touches.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct buf {
	uint8_t d[16384];
	size_t n;
};

static const char *outdir;

static void need(struct buf *b, size_t n)
{
	if (n > sizeof(b->d) - b->n) {
		fprintf(stderr, "make-corpus: seed too large\n");
		exit(1);
	}
}

static void u8(struct buf *b, unsigned v)
{
	need(b, 1);
	b->d[b->n++] = (uint8_t)v;
}

static void u16(struct buf *b, unsigned v)
{
	u8(b, v >> 8);
	u8(b, v);
}

static void u32(struct buf *b, uint32_t v)
{
	u16(b, v >> 16);
	u16(b, v & 0xFFFF);
}

static void u64(struct buf *b, uint64_t v)
{
	u32(b, (uint32_t)(v >> 32));
	u32(b, (uint32_t)v);
}

static void raw(struct buf *b, const void *p, size_t n)
{
	need(b, n);
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void sstr(struct buf *b, const char *s)
{
	u8(b, (unsigned)strlen(s));
	raw(b, s, strlen(s));
}

static void lstr(struct buf *b, const char *s)
{
	u32(b, (uint32_t)strlen(s));
	raw(b, s, strlen(s));
}

/* Reserve a 4-byte length; close_len() fills it with what was written since. */
static size_t open_len(struct buf *b)
{
	size_t at = b->n;

	u32(b, 0);
	return at;
}

static void close_len(struct buf *b, size_t at)
{
	uint32_t n = (uint32_t)(b->n - at - 4);

	b->d[at] = (uint8_t)(n >> 24);
	b->d[at + 1] = (uint8_t)(n >> 16);
	b->d[at + 2] = (uint8_t)(n >> 8);
	b->d[at + 3] = (uint8_t)n;
}

/* Write b to outdir/target/name. */
static void emit(const char *target, const char *name, const struct buf *b)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0777) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(b->d, 1, b->n, f) != b->n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* ---- field tables (entries only; the caller writes the length) ---- */

static void key(struct buf *b, const char *k, char type)
{
	sstr(b, k);
	u8(b, (uint8_t)type);
}

/* One value of every type letter RabbitMQ uses, with its type letter, for tables and arrays. */
static void every_value(struct buf *b, int with_keys)
{
	static const char letters[] = "tbBsuIilfdDSxTV";
	char k[2] = { 0, 0 };
	size_t i;

	for (i = 0; letters[i] != '\0'; i++) {
		k[0] = letters[i];
		if (with_keys)
			key(b, k, letters[i]);
		else
			u8(b, (uint8_t)letters[i]);
		switch (letters[i]) {
		case 't': u8(b, 1); break;
		case 'b': u8(b, 0x80); break;
		case 'B': u8(b, 0xFF); break;
		case 's': u16(b, 0x8001); break;
		case 'u': u16(b, 0xFFFF); break;
		case 'I': u32(b, 0x80000000u); break;
		case 'i': u32(b, 0xFFFFFFFFu); break;
		case 'l': u64(b, 0x8000000000000001ull); break;
		case 'f': u32(b, 0x3FC00000u); break;           /* 1.5f */
		case 'd': u64(b, 0x400921FB54442D18ull); break; /* pi */
		case 'D':
			u8(b, 2);
			u32(b, 12345);
			break;
		case 'S': lstr(b, "long string"); break;
		case 'x': lstr(b, "\x01\x02\x03"); break;
		case 'T': u64(b, 1700000000); break;
		case 'V': break;
		}
	}
}

static void server_properties(struct buf *b)
{
	size_t caps;

	key(b, "capabilities", 'F');
	caps = open_len(b);
	key(b, "publisher_confirms", 't');
	u8(b, 1);
	key(b, "exchange_exchange_bindings", 't');
	u8(b, 1);
	key(b, "basic.nack", 't');
	u8(b, 1);
	key(b, "consumer_cancel_notify", 't');
	u8(b, 1);
	key(b, "connection.blocked", 't');
	u8(b, 1);
	key(b, "authentication_failure_close", 't');
	u8(b, 1);
	key(b, "per_consumer_qos", 't');
	u8(b, 1);
	close_len(b, caps);
	key(b, "product", 'S');
	lstr(b, "Warren");
	key(b, "version", 'S');
	lstr(b, "0.1.0");
	key(b, "platform", 'S');
	lstr(b, "C11");
	key(b, "cluster_name", 'S');
	lstr(b, "warren@localhost");
}

static void queue_arguments(struct buf *b)
{
	key(b, "x-message-ttl", 'I');
	u32(b, 60000);
	key(b, "x-expires", 'l');
	u64(b, 3600000);
	key(b, "x-max-length", 'I');
	u32(b, 1000);
	key(b, "x-max-length-bytes", 'l');
	u64(b, 1048576);
	key(b, "x-overflow", 'S');
	lstr(b, "reject-publish");
	key(b, "x-dead-letter-exchange", 'S');
	lstr(b, "dlx");
	key(b, "x-dead-letter-routing-key", 'S');
	lstr(b, "dead");
	key(b, "x-max-priority", 'b');
	u8(b, 10);
	key(b, "x-queue-type", 'S');
	lstr(b, "classic");
	key(b, "x-single-active-consumer", 't');
	u8(b, 0);
}

static void exchange_arguments(struct buf *b)
{
	key(b, "alternate-exchange", 'S');
	lstr(b, "unrouted");
}

static void header_arguments(struct buf *b)
{
	size_t a;

	key(b, "x-match", 'S');
	lstr(b, "any");
	key(b, "format", 'S');
	lstr(b, "pdf");
	key(b, "tags", 'A');
	a = open_len(b);
	u8(b, 'S');
	lstr(b, "a");
	u8(b, 'I');
	u32(b, 7);
	close_len(b, a);
}

/* ---- methods, one seed each, from the method table ---- */

enum kind { K_BIT, K_OCTET, K_SHORT, K_LONG, K_LONGLONG, K_SHORTSTR, K_LONGSTR, K_TABLE, K_TS };
#define AMQP_F_BIT K_BIT
#define AMQP_F_OCTET K_OCTET
#define AMQP_F_SHORT K_SHORT
#define AMQP_F_LONG K_LONG
#define AMQP_F_LONGLONG K_LONGLONG
#define AMQP_F_SHORTSTR K_SHORTSTR
#define AMQP_F_LONGSTR K_LONGSTR
#define AMQP_F_TABLE K_TABLE
#define AMQP_F_TIMESTAMP K_TS

struct field {
	int kind;
	const char *name;
};
struct method {
	const char *name;
	unsigned cid, mid;
	struct field fields[10];
};

#define F(type, fname, wire) { AMQP_F_##type, wire },
#define METHOD(cls, m, wire, cid, mid, flags, fields) { wire, cid, mid, { fields{ -1, NULL } } },
static const struct method methods[] = {
#include "amqp/methods.def"
};
#undef METHOD
#undef F

/* A plausible value for a string field, by its name. */
static const char *str_for(const char *name)
{
	static const struct {
		const char *name, *value;
	} v[] = { { "mechanisms", "PLAIN AMQPLAIN" }, { "locales", "en_US" },
		{ "mechanism", "PLAIN" }, { "response", "\0guest\0guest" }, { "locale", "en_US" },
		{ "virtual-host", "/" }, { "exchange", "amq.topic" }, { "type", "topic" },
		{ "queue", "orders" }, { "routing-key", "orders.eu.new" },
		{ "consumer-tag", "amq.ctag-1" }, { "reply-text", "NOT_FOUND - no queue 'x'" },
		{ "source", "amq.direct" }, { "destination", "events" },
		{ "reason", "low on memory" }, { "realm", "/data" } };
	size_t i;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		if (strcmp(v[i].name, name) == 0)
			return v[i].value;
	return "";
}

/* A plausible value for a short field, by its name. */
static unsigned short_for(const char *name)
{
	if (strcmp(name, "reply-code") == 0)
		return 404;
	if (strcmp(name, "channel-max") == 0)
		return 2047;
	if (strcmp(name, "heartbeat") == 0)
		return 60;
	return 0;
}

/* Encode method m's payload with every bit set (bits) or cleared, into b. */
static void method_payload(struct buf *b, const struct method *m, int bits)
{
	const struct field *f;
	size_t at = 0, t;
	int pos = 0;

	u16(b, m->cid);
	u16(b, m->mid);
	for (f = m->fields; f->name != NULL; f++) {
		if (f->kind != K_BIT)
			pos = 0;
		switch (f->kind) {
		case K_BIT:
			if (pos == 0 || pos == 8) {
				at = b->n;
				u8(b, 0);
				pos = 0;
			}
			if (bits)
				b->d[at] |= (uint8_t)(1u << pos);
			pos++;
			break;
		case K_OCTET: u8(b, strcmp(f->name, "version-major") == 0 ? 0 : 9); break;
		case K_SHORT: u16(b, short_for(f->name)); break;
		case K_LONG: u32(b, strcmp(f->name, "frame-max") == 0 ? 131072 : 3); break;
		case K_LONGLONG:
		case K_TS: u64(b, 42); break;
		case K_SHORTSTR: sstr(b, str_for(f->name)); break;
		case K_LONGSTR:
			/* The response has NULs: write it with its length. */
			if (strcmp(f->name, "response") == 0) {
				u32(b, 12);
				raw(b, "\0guest\0guest", 12);
			} else {
				lstr(b, str_for(f->name));
			}
			break;
		case K_TABLE:
			t = open_len(b);
			if (strcmp(f->name, "server-properties") == 0 ||
			    strcmp(f->name, "client-properties") == 0)
				server_properties(b);
			else if (strncmp(m->name, "queue.declare", 13) == 0)
				queue_arguments(b);
			else if (strcmp(m->name, "exchange.declare") == 0)
				exchange_arguments(b);
			else if (strcmp(m->name, "queue.bind") == 0)
				header_arguments(b);
			close_len(b, t);
			break;
		}
	}
}

static void file_name(char *out, size_t cap, const char *prefix, const char *method)
{
	size_t i, n;

	n = (size_t)snprintf(out, cap, "%s", prefix);
	for (i = 0; method[i] != '\0' && n + 1 < cap; i++)
		out[n++] = method[i] == '.' ? '-' : method[i];
	out[n] = '\0';
}

/* ---- frames ---- */

static size_t frame_open(struct buf *b, unsigned type, unsigned channel)
{
	u8(b, type);
	u16(b, channel);
	return open_len(b);
}

static void frame_close(struct buf *b, size_t at)
{
	close_len(b, at);
	u8(b, 0xCE);
}

static const struct method *method_named(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, name) == 0)
			return &methods[i];
	fprintf(stderr, "make-corpus: no method %s\n", name);
	exit(1);
}

static void method_frame(struct buf *b, unsigned channel, const char *name)
{
	size_t at = frame_open(b, 1, channel);

	method_payload(b, method_named(name), 1);
	frame_close(b, at);
}

/* Property list with every property of class basic present (flags word onward). */
static void all_properties(struct buf *b)
{
	size_t t;

	u16(b, 0xFFFC);
	sstr(b, "application/json");
	sstr(b, "gzip");
	t = open_len(b);
	every_value(b, 1);
	close_len(b, t);
	u8(b, 2);
	u8(b, 5);
	sstr(b, "corr-1");
	sstr(b, "amq.rabbitmq.reply-to");
	sstr(b, "60000");
	sstr(b, "msg-1");
	u64(b, 1700000000);
	sstr(b, "order.created");
	sstr(b, "guest");
	sstr(b, "warren-test");
	sstr(b, "");
}

static void header_payload(struct buf *b, uint64_t body_size, int props)
{
	u16(b, 60);
	u16(b, 0);
	u64(b, body_size);
	switch (props) {
	case 0: u16(b, 0); break;
	case 1: all_properties(b); break;
	case 2: /* delivery-mode 2 and content-type, the common publish */
		u16(b, 0x9000);
		sstr(b, "text/plain");
		u8(b, 2);
		break;
	}
}

static void header_frame(struct buf *b, unsigned channel, uint64_t body_size, int props)
{
	size_t at = frame_open(b, 2, channel);

	header_payload(b, body_size, props);
	frame_close(b, at);
}

static void body_frame(struct buf *b, unsigned channel, const char *text)
{
	size_t at = frame_open(b, 3, channel);

	raw(b, text, strlen(text));
	frame_close(b, at);
}

static void heartbeat(struct buf *b)
{
	frame_close(b, frame_open(b, 8, 0));
}

/*
 * fuzz_frame's input starts with two setup bytes: byte 0 is (chunk pattern << 4) | (frame_max
 * choice << 1) | expect-protocol-header, byte 1 seeds the chunk sizes.
 */
static void frame_setup(struct buf *b, unsigned pattern, unsigned fmax, int proto, unsigned seed)
{
	b->n = 0;
	u8(b, (pattern << 4) | (fmax << 1) | (proto ? 1 : 0));
	u8(b, seed);
}

static void client_session(struct buf *b)
{
	raw(b, "AMQP\0\0\x09\x01", 8);
	method_frame(b, 0, "connection.start-ok");
	method_frame(b, 0, "connection.tune-ok");
	method_frame(b, 0, "connection.open");
	method_frame(b, 1, "channel.open");
	method_frame(b, 1, "confirm.select");
	method_frame(b, 1, "basic.publish");
	header_frame(b, 1, 11, 2);
	body_frame(b, 1, "hello");
	body_frame(b, 1, " world");
	method_frame(b, 2, "basic.publish");
	header_frame(b, 2, 0, 1);
	heartbeat(b);
	method_frame(b, 1, "basic.ack");
	method_frame(b, 1, "channel.close");
	method_frame(b, 0, "connection.close");
}

static void server_session(struct buf *b)
{
	method_frame(b, 0, "connection.start");
	method_frame(b, 0, "connection.tune");
	method_frame(b, 0, "connection.open-ok");
	method_frame(b, 1, "channel.open-ok");
	method_frame(b, 1, "basic.consume-ok");
	method_frame(b, 1, "basic.deliver");
	header_frame(b, 1, 3, 1);
	body_frame(b, 1, "abc");
	method_frame(b, 1, "basic.get-ok");
	header_frame(b, 1, 0, 0);
	method_frame(b, 1, "basic.return");
	header_frame(b, 1, 2, 2);
	body_frame(b, 1, "no");
	heartbeat(b);
}

static void topology_session(struct buf *b)
{
	method_frame(b, 1, "exchange.declare");
	method_frame(b, 1, "queue.declare");
	method_frame(b, 1, "queue.bind");
	method_frame(b, 1, "exchange.bind");
	method_frame(b, 1, "basic.qos");
	method_frame(b, 1, "basic.consume");
	method_frame(b, 1, "queue.unbind");
	method_frame(b, 1, "queue.delete");
}

static void frame_seeds(void)
{
	static const struct {
		unsigned pattern, fmax, seed;
	} cfg[] = { { 0, 6, 0 }, { 1, 6, 0 }, { 2, 4, 6 }, { 3, 6, 13 }, { 4, 0, 9 }, { 5, 6, 3 },
		{ 6, 5, 200 }, { 7, 7, 1 } };
	struct buf *b = calloc(1, sizeof(*b));
	char name[64];
	size_t i, at;

	for (i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		frame_setup(b, cfg[i].pattern, cfg[i].fmax, 1, cfg[i].seed);
		client_session(b);
		snprintf(name, sizeof(name), "client-session-%zu", i);
		emit("fuzz_frame", name, b);
	}
	frame_setup(b, 3, 6, 0, 77);
	server_session(b);
	emit("fuzz_frame", "server-session", b);
	frame_setup(b, 1, 6, 0, 0);
	server_session(b);
	emit("fuzz_frame", "server-session-bytewise", b);
	frame_setup(b, 3, 6, 0, 5);
	topology_session(b);
	emit("fuzz_frame", "topology", b);

	/* Content interrupted by a method, and a header with the wrong class. */
	frame_setup(b, 2, 6, 0, 4);
	method_frame(b, 1, "basic.publish");
	method_frame(b, 1, "basic.ack");
	method_frame(b, 1, "basic.publish");
	at = frame_open(b, 2, 1);
	u16(b, 50);
	u16(b, 0);
	u64(b, 0);
	u16(b, 0);
	frame_close(b, at);
	body_frame(b, 1, "stray body");
	emit("fuzz_frame", "unexpected-frames", b);

	/* A body longer than its header said, and heartbeats in the middle of content. */
	frame_setup(b, 4, 6, 0, 2);
	method_frame(b, 3, "basic.publish");
	header_frame(b, 3, 4, 0);
	heartbeat(b);
	body_frame(b, 3, "12");
	body_frame(b, 3, "345");
	emit("fuzz_frame", "body-too-long", b);

	/* Errors the splitter must stop at. */
	frame_setup(b, 0, 6, 0, 0);
	method_frame(b, 0, "connection.close-ok");
	u8(b, 1), u16(b, 0), u32(b, 4), u32(b, 0x000A0033), u8(b, 0xCD);
	emit("fuzz_frame", "bad-frame-end", b);
	frame_setup(b, 1, 0, 0, 0);
	u8(b, 3), u16(b, 1), u32(b, 4089);
	emit("fuzz_frame", "frame-too-large", b);
	frame_setup(b, 3, 6, 1, 9);
	raw(b, "AMQP\0\0\x09\x00", 8);
	emit("fuzz_frame", "bad-protocol-header", b);
	frame_setup(b, 2, 6, 0, 2);
	u8(b, 8), u16(b, 1), u32(b, 0), u8(b, 0xCE);
	emit("fuzz_frame", "heartbeat-on-channel", b);
	frame_setup(b, 0, 6, 0, 0);
	u8(b, 9);
	emit("fuzz_frame", "unknown-frame-type", b);
	free(b);
}

static void method_seeds(void)
{
	struct buf *b = calloc(1, sizeof(*b));
	char name[96];
	size_t i;
	const struct field *f;
	int has_bits;

	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		b->n = 0;
		method_payload(b, &methods[i], 1);
		file_name(name, sizeof(name), "", methods[i].name);
		emit("fuzz_method", name, b);
		has_bits = 0;
		for (f = methods[i].fields; f->name != NULL; f++)
			has_bits |= f->kind == K_BIT;
		if (has_bits) {
			b->n = 0;
			method_payload(b, &methods[i], 0);
			file_name(name, sizeof(name), "bits-clear-", methods[i].name);
			emit("fuzz_method", name, b);
		}
	}
	/* Unused high bits of a bit octet: legal on input, dropped by re-encoding. */
	b->n = 0;
	u16(b, 60), u16(b, 80), u64(b, 7), u8(b, 0xFF);
	emit("fuzz_method", "basic-ack-high-bits", b);
	free(b);
}

static void nest(struct buf *b, int depth, int array)
{
	size_t at;

	if (depth == 0) {
		if (array)
			u8(b, 'V');
		else
			key(b, "leaf", 'V');
		return;
	}
	if (array)
		u8(b, 'A');
	else
		key(b, "t", 'F');
	at = open_len(b);
	nest(b, depth - 1, array);
	close_len(b, at);
}

static void table_seeds(void)
{
	struct buf *b = calloc(1, sizeof(*b));
	size_t at, in;

	b->n = 0;
	emit("fuzz_table", "empty", b);
	every_value(b, 1);
	emit("fuzz_table", "every-type", b);

	b->n = 0;
	key(b, "array", 'A');
	at = open_len(b);
	every_value(b, 0);
	u8(b, 'A');
	in = open_len(b);
	u8(b, 'F');
	u32(b, 0);
	close_len(b, in);
	u8(b, 'F');
	in = open_len(b);
	every_value(b, 1);
	close_len(b, in);
	close_len(b, at);
	key(b, "table", 'F');
	at = open_len(b);
	every_value(b, 1);
	key(b, "inner", 'F');
	in = open_len(b);
	server_properties(b);
	close_len(b, in);
	close_len(b, at);
	emit("fuzz_table", "nested-every-type", b);

	b->n = 0;
	server_properties(b);
	emit("fuzz_table", "server-properties", b);
	b->n = 0;
	queue_arguments(b);
	emit("fuzz_table", "queue-arguments", b);
	b->n = 0;
	header_arguments(b);
	emit("fuzz_table", "headers-binding", b);

	/* The deepest legal nesting (32 levels counting the outer table) and one past it. */
	b->n = 0;
	nest(b, 31, 0);
	emit("fuzz_table", "depth-32-tables", b);
	b->n = 0;
	nest(b, 32, 0);
	emit("fuzz_table", "depth-33-tables", b);
	b->n = 0;
	key(b, "a", 'A');
	at = open_len(b);
	nest(b, 30, 1);
	close_len(b, at);
	emit("fuzz_table", "depth-32-arrays", b);

	/* Non-canonical but legal: a bool of 2, duplicate keys, empty and binary keys. */
	b->n = 0;
	key(b, "flag", 't');
	u8(b, 2);
	key(b, "flag", 't');
	u8(b, 0);
	key(b, "", 'V');
	u8(b, 3), raw(b, "\0\xff\n", 3), u8(b, 'u'), u16(b, 1);
	emit("fuzz_table", "odd-keys", b);

	/* Malformed: a string longer than its table, an unknown letter, a short key. */
	b->n = 0;
	key(b, "s", 'S');
	u32(b, 100);
	raw(b, "abc", 3);
	emit("fuzz_table", "truncated-string", b);
	b->n = 0;
	key(b, "q", 'Q');
	emit("fuzz_table", "unknown-type", b);
	b->n = 0;
	u8(b, 10), raw(b, "abc", 3);
	emit("fuzz_table", "truncated-key", b);
	free(b);
}

static void props_seeds(void)
{
	struct buf *b = calloc(1, sizeof(*b));
	size_t at;

	b->n = 0;
	header_payload(b, 0, 0);
	emit("fuzz_props", "header-no-properties", b);
	b->n = 0;
	header_payload(b, 1048576, 1);
	emit("fuzz_props", "header-all-properties", b);
	b->n = 0;
	header_payload(b, 11, 2);
	emit("fuzz_props", "header-persistent-text", b);
	b->n = 0;
	all_properties(b);
	emit("fuzz_props", "properties-all", b);

	/* A header table with nesting, and only the headers property. */
	b->n = 0;
	header_payload(b, 5, -1);
	u16(b, 0x2000);
	at = open_len(b);
	header_arguments(b);
	key(b, "x-death", 'A');
	{
		size_t a = open_len(b), t;

		u8(b, 'F');
		t = open_len(b);
		key(b, "count", 'l');
		u64(b, 1);
		key(b, "queue", 'S');
		lstr(b, "orders");
		key(b, "time", 'T');
		u64(b, 1700000000);
		close_len(b, t);
		close_len(b, a);
	}
	close_len(b, at);
	emit("fuzz_props", "header-x-death", b);

	/* A continuation flags word (all zero: basic has only 14 properties). */
	b->n = 0;
	header_payload(b, 1, -1);
	u16(b, 0x8001);
	u16(b, 0x0000);
	sstr(b, "text/plain");
	emit("fuzz_props", "header-flags-continued", b);

	/* Malformed: reserved flag bit, wrong class, nonzero weight, trailing bytes. */
	b->n = 0;
	header_payload(b, 0, -1);
	u16(b, 0x0002);
	emit("fuzz_props", "header-reserved-flag", b);
	b->n = 0;
	u16(b, 50), u16(b, 0), u64(b, 0), u16(b, 0);
	emit("fuzz_props", "header-wrong-class", b);
	b->n = 0;
	u16(b, 60), u16(b, 1), u64(b, 0), u16(b, 0);
	emit("fuzz_props", "header-weight", b);
	b->n = 0;
	header_payload(b, 0, 0);
	u8(b, 0);
	emit("fuzz_props", "header-trailing", b);
	free(b);
}

/* ---- fuzz_conn: a client's whole side of a connection ---- */

/* A method frame written field by field (the generic seeds set every bit, which a broker refuses). */
static size_t mopen(struct buf *b, unsigned channel, unsigned cid, unsigned mid)
{
	size_t at = frame_open(b, 1, channel);

	u16(b, cid);
	u16(b, mid);
	return at;
}

/* A method whose fields are all zero bytes (an empty shortstr, no bits): channel.open, tx.*. */
static void method_zeros(struct buf *b, unsigned channel, unsigned cid, unsigned mid, size_t zeros)
{
	size_t at = mopen(b, channel, cid, mid);

	while (zeros-- > 0)
		u8(b, 0);
	frame_close(b, at);
}

static void client_handshake(struct buf *b)
{
	size_t at;

	raw(b, "AMQP\0\0\x09\x01", 8);
	at = mopen(b, 0, 10, 11); /* start-ok */
	u32(b, 0);
	sstr(b, "PLAIN");
	u32(b, 12);
	raw(b, "\0guest\0guest", 12);
	sstr(b, "en_US");
	frame_close(b, at);
	at = mopen(b, 0, 10, 31); /* tune-ok */
	u16(b, 2047);
	u32(b, 131072);
	u16(b, 0);
	frame_close(b, at);
	at = mopen(b, 0, 10, 40); /* open */
	sstr(b, "/");
	sstr(b, "");
	u8(b, 0);
	frame_close(b, at);
}

static void publish(struct buf *b, unsigned channel, const char *exchange, const char *rk,
    unsigned bits, const char *body, int props)
{
	size_t at = mopen(b, channel, 60, 40);

	u16(b, 0);
	sstr(b, exchange);
	sstr(b, rk);
	u8(b, bits);
	frame_close(b, at);
	header_frame(b, channel, strlen(body), props);
	if (body[0] != '\0')
		body_frame(b, channel, body);
}

/* After the handshake: declare, bind, confirm, publish, consume, ack, get, reject, tx, close. */
static void client_work(struct buf *b)
{
	size_t at;

	method_zeros(b, 1, 20, 10, 1); /* channel.open */
	at = mopen(b, 1, 50, 10);      /* queue.declare orders */
	u16(b, 0);
	sstr(b, "orders");
	u8(b, 0);
	u32(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 50, 20); /* queue.bind orders amq.topic orders.# */
	u16(b, 0);
	sstr(b, "orders");
	sstr(b, "amq.topic");
	sstr(b, "orders.#");
	u8(b, 0);
	u32(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 85, 10); /* confirm.select */
	u8(b, 0);
	frame_close(b, at);
	publish(b, 1, "amq.topic", "orders.eu.new", 0, "hello", 2);
	publish(b, 1, "", "orders", 1, "world", 0);
	publish(b, 1, "", "nowhere", 1, "returned", 0);
	publish(b, 1, "", "orders", 0, "", 0);
	at = mopen(b, 1, 60, 10); /* basic.qos prefetch 2 */
	u32(b, 0);
	u16(b, 2);
	u8(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 60, 20); /* basic.consume orders c1 */
	u16(b, 0);
	sstr(b, "orders");
	sstr(b, "c1");
	u8(b, 0);
	u32(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 60, 80); /* basic.ack 1 */
	u64(b, 1);
	u8(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 60, 120); /* basic.nack 2 requeue */
	u64(b, 2);
	u8(b, 2);
	frame_close(b, at);
	at = mopen(b, 1, 60, 30); /* basic.cancel c1 */
	sstr(b, "c1");
	u8(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 60, 70); /* basic.get orders */
	u16(b, 0);
	sstr(b, "orders");
	u8(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 60, 90); /* basic.reject 3, no requeue */
	u64(b, 3);
	u8(b, 0);
	frame_close(b, at);
	method_zeros(b, 2, 20, 10, 1); /* channel 2: a transaction */
	method_zeros(b, 2, 90, 10, 0);
	publish(b, 2, "", "orders", 0, "in a transaction", 2);
	method_zeros(b, 2, 90, 20, 0);
	heartbeat(b);
	method_zeros(b, 3, 20, 10, 1); /* every property: a direct reply-to with no consumer, 406 */
	publish(b, 3, "", "orders", 0, "props", 1);
	at = mopen(b, 1, 20, 40); /* channel.close */
	u16(b, 200);
	sstr(b, "");
	u32(b, 0);
	frame_close(b, at);
	at = mopen(b, 0, 10, 50); /* connection.close */
	u16(b, 200);
	sstr(b, "");
	u32(b, 0);
	frame_close(b, at);
}

/*
 * The delayed exchange: declared (x-delayed-type direct), bound, and published to with x-delay
 * as a signedint, a long string and a huge long: the messages wait under its timer (a timerfd)
 * until the broker is freed, or come back at once; a declaration with a bad x-delayed-type.
 */
static void delayed_publish(struct buf *b, const char *body, char type, uint64_t delay)
{
	size_t at = mopen(b, 1, 60, 40), tbl;

	u16(b, 0);
	sstr(b, "dx");
	sstr(b, "k");
	u8(b, 0);
	frame_close(b, at);
	at = frame_open(b, 2, 1);
	u16(b, 60);
	u16(b, 0);
	u64(b, strlen(body));
	u16(b, 0x2000); /* headers only */
	tbl = b->n;
	u32(b, 0);
	sstr(b, "x-delay");
	u8(b, (uint8_t)type);
	if (type == 'I') {
		u32(b, (uint32_t)delay);
	} else if (type == 'l') {
		u64(b, delay);
	} else { /* 'S': the decimal digits */
		char digits[24];
		int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)delay);
		u32(b, (uint32_t)n);
		raw(b, digits, (size_t)n);
	}
	b->d[tbl] = (uint8_t)((b->n - tbl - 4) >> 24);
	b->d[tbl + 1] = (uint8_t)((b->n - tbl - 4) >> 16);
	b->d[tbl + 2] = (uint8_t)((b->n - tbl - 4) >> 8);
	b->d[tbl + 3] = (uint8_t)(b->n - tbl - 4);
	frame_close(b, at);
	body_frame(b, 1, body);
}

static void client_delayed(struct buf *b, const char *delayed_type)
{
	size_t at, tbl;

	method_zeros(b, 1, 20, 10, 1); /* channel.open */
	at = mopen(b, 1, 40, 10);      /* exchange.declare dx x-delayed-message */
	u16(b, 0);
	sstr(b, "dx");
	sstr(b, "x-delayed-message");
	u8(b, 0);
	tbl = b->n;
	u32(b, 0);
	sstr(b, "x-delayed-type");
	u8(b, 'S');
	u32(b, (uint32_t)strlen(delayed_type));
	raw(b, delayed_type, strlen(delayed_type));
	b->d[tbl + 3] = (uint8_t)(b->n - tbl - 4);
	frame_close(b, at);
	at = mopen(b, 1, 50, 10); /* queue.declare orders */
	u16(b, 0);
	sstr(b, "orders");
	u8(b, 0);
	u32(b, 0);
	frame_close(b, at);
	at = mopen(b, 1, 50, 20); /* queue.bind orders dx k */
	u16(b, 0);
	sstr(b, "orders");
	sstr(b, "dx");
	sstr(b, "k");
	u8(b, 0);
	u32(b, 0);
	frame_close(b, at);
	delayed_publish(b, "soon", 'I', 1);
	delayed_publish(b, "later", 'S', 3600000);
	delayed_publish(b, "far", 'l', 1ull << 62);
	delayed_publish(b, "now", 'I', 0);
}

/* fuzz_conn's two setup bytes: (chunk pattern << 4) | the harness sends the handshake; a seed. */
static void conn_setup(struct buf *b, unsigned pattern, int handshake, unsigned seed)
{
	b->n = 0;
	u8(b, (pattern << 4) | (handshake ? 1 : 0));
	u8(b, seed);
}

static void conn_seeds(void)
{
	struct buf *b = calloc(1, sizeof(*b));
	char name[64];
	unsigned p;

	for (p = 0; p < 8; p++) {
		conn_setup(b, p, 0, 7 + 13 * p);
		client_handshake(b);
		client_work(b);
		snprintf(name, sizeof(name), "session-%u", p);
		emit("fuzz_conn", name, b);
		conn_setup(b, p, 1, 3 + 29 * p);
		client_work(b);
		snprintf(name, sizeof(name), "after-handshake-%u", p);
		emit("fuzz_conn", name, b);
	}
	/* Publishes whose method, header and body arrive together (the fast path), and split. */
	for (p = 0; p < 2; p++) {
		conn_setup(b, p == 0 ? 0 : 5, 1, 40);
		method_zeros(b, 1, 20, 10, 1);
		for (unsigned i = 0; i < 16; i++)
			publish(b, 1, "", "orders", 0, "0123456789abcdef", (int)(i % 2) * 2);
		emit("fuzz_conn", p == 0 ? "publish-burst" : "publish-burst-split", b);
	}
	conn_setup(b, 0, 1, 21);
	client_delayed(b, "direct");
	emit("fuzz_conn", "delayed-exchange", b);
	conn_setup(b, 3, 1, 22);
	client_delayed(b, "x-delayed-message");
	emit("fuzz_conn", "delayed-exchange-bad-type", b);
	/* A frame larger than frame_max: the close, then the rest dropped until the close-ok. */
	conn_setup(b, 7, 1, 9);
	u8(b, 3);
	u16(b, 1);
	u32(b, 1u << 24);
	raw(b, "xxxxxxxx", 8);
	method_zeros(b, 0, 10, 51, 0); /* close-ok */
	emit("fuzz_conn", "oversized-frame", b);
	conn_setup(b, 0, 0, 0);
	raw(b, "AMQP\0\0\x08\x00", 8);
	emit("fuzz_conn", "bad-protocol-header", b);
	free(b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-corpus DIR (writes DIR/fuzz_*/...)\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0777) != 0 && errno != EEXIST) {
		perror(outdir);
		return 1;
	}
	frame_seeds();
	method_seeds();
	table_seeds();
	props_seeds();
	conn_seeds();
	return 0;
}
