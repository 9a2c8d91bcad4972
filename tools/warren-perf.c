/*
 * warren-perf.c: a load generator for AMQP 0-9-1 brokers, in the spirit of RabbitMQ's PerfTest.
 *
 * main parses the options, declares the exchange, queues and bindings on a setup connection,
 * starts the consumers and waits until each is consuming, then starts the producers (or the churn
 * workers), each thread with its own connection. Every second it prints the rates and latencies
 * of the last second on stderr; at the end, when the time is up, the message counts are reached or
 * the queues are drained, it stops the threads and prints a summary as text or JSON on stdout.
 * See warren-perf(1).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "tools/warren-perf.h"

#define TICK_NS 100000000ull      /* how often main looks at the workers */
#define IDLE_END_NS 2000000000ull /* after the producers finish, stop once nothing came for this */
#define READY_TIMEOUT_S 30        /* consumers must be consuming within this */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: warren-perf [options]\n"
	    "  --uri URI             amqp://user:pass@host:port/vhost "
	    "(amqp://guest:guest@127.0.0.1:5672/%%2f)\n"
	    "  --host HOST, --port PORT\n"
	    "  --producers N         producer threads (1)\n"
	    "  --consumers N         consumer threads (1)\n"
	    "  --queues N            queues, named by --queue-pattern (1)\n"
	    "  --queue-pattern PAT   printf pattern with one %%d (perf-%%d)\n"
	    "  --exchange NAME       (warren-perf-TYPE; \"\" is the default exchange)\n"
	    "  --exchange-type T     direct, fanout or topic (direct)\n"
	    "  --routing-key KEY     producers publish with KEY (the queue's name)\n"
	    "  --binding-key KEY     queues are bound with KEY (the queue's name)\n"
	    "  --dispatch MODE       queues declared with x-dispatch MODE (Warren's; none)\n"
	    "  --queue-type TYPE     queues declared with x-queue-type TYPE (quorum for "
	    "RabbitMQ's\n"
	    "                        replicated queues; none)\n"
	    "  --size BYTES          message body size (16)\n"
	    "  --persistent          delivery mode 2, durable queues\n"
	    "  --properties          content type, correlation id and a headers table, as apps "
	    "send\n"
	    "  --confirm WINDOW      publisher confirms, at most WINDOW unconfirmed per producer\n"
	    "  --mandatory           publish with mandatory set\n"
	    "  --rate R              messages per second per producer (0: unlimited)\n"
	    "  --pmessages N         each producer publishes N messages, then stops\n"
	    "  --batch N             at most N messages per write (about 128 KiB)\n"
	    "  --prefetch N          basic.qos prefetch count (0: unlimited)\n"
	    "  --multi-ack N         ack every Nth message with multiple (1)\n"
	    "  --autoack             consume with no-ack\n"
	    "  --cmessages N         each consumer stops after N messages\n"
	    "  --producer-only       no consumers\n"
	    "  --consumer-only       no producers; stop once the queues are drained\n"
	    "  --churn               connection churn: each producer thread connects, declares, "
	    "closes\n"
	    "  --idle-connections N  hold N more connections open, idle, for the run\n"
	    "  --time SECONDS        run time (10; 0: until the message counts are reached)\n"
	    "  --cleanup             delete the queues and the exchange at the end\n"
	    "  --json                print the summary as JSON\n"
	    "  --quiet               no progress lines\n"
	    "  --version, --help\n");
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "warren-perf: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

static long long parse_num(const char *s, const char *opt, long long min, long long max)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		die("bad value for %s", opt);
	return v;
}

/* Decode %XX escapes of a URI part of length n into out (cap bytes); false if malformed. */
static bool uri_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned v;

		if (o + 1 >= cap)
			return false;
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (n - i < 3 || sscanf(s + i + 1, "%2x", &v) != 1)
			return false;
		out[o++] = (char)v;
		i += 2;
	}
	out[o] = '\0';
	return true;
}

/* amqp://[user[:password]@]host[:port][/vhost], as RabbitMQ's URI spec reads it. */
static void parse_uri(struct perf_opts *o, const char *uri)
{
	const char *p, *at, *slash, *colon, *host_end;

	if (strncmp(uri, "amqp://", 7) != 0)
		die("%s: only amqp:// URIs", uri);
	p = uri + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = p + strlen(p);
	at = memchr(p, '@', (size_t)(slash - p));
	if (at != NULL) {
		colon = memchr(p, ':', (size_t)(at - p));
		if (!uri_decode(
		        p, (size_t)((colon != NULL ? colon : at) - p), o->user, sizeof(o->user)) ||
		    (colon != NULL &&
		        !uri_decode(
		            colon + 1, (size_t)(at - colon - 1), o->password, sizeof(o->password))))
			die("%s: bad user or password", uri);
		p = at + 1;
	}
	if (*p == '[') { /* an IPv6 address */
		host_end = memchr(p, ']', (size_t)(slash - p));
		if (host_end == NULL)
			die("%s: bad host", uri);
		p++;
		colon = host_end + 1 < slash && host_end[1] == ':' ? host_end + 1 : NULL;
	} else {
		colon = memchr(p, ':', (size_t)(slash - p));
		host_end = colon != NULL ? colon : slash;
	}
	if (host_end > p) {
		if ((size_t)(host_end - p) >= sizeof(o->host))
			die("%s: host too long", uri);
		memcpy(o->host, p, (size_t)(host_end - p));
		o->host[host_end - p] = '\0';
	}
	if (colon != NULL) {
		char port[8] = { 0 };

		if ((size_t)(slash - colon - 1) >= sizeof(port))
			die("%s: bad port", uri);
		memcpy(port, colon + 1, (size_t)(slash - colon - 1));
		o->port = (int)parse_num(port, "the URI's port", 1, 65535);
	}
	if (*slash == '/' && !uri_decode(slash + 1, strlen(slash + 1), o->vhost, sizeof(o->vhost)))
		die("%s: bad vhost", uri);
}

/* The pattern must hold exactly one %d and no other conversion. */
static void check_pattern(const char *pat)
{
	int convs = 0;
	const char *p;

	for (p = pat; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '%') {
			p++;
			continue;
		}
		if (p[1] != 'd')
			die("--queue-pattern %s: only %%d and %%%% may follow a %%", pat);
		convs++;
		p++;
	}
	if (convs != 1)
		die("--queue-pattern %s: needs exactly one %%d", pat);
}

enum {
	OPT_URI = 256,
	OPT_HOST,
	OPT_PORT,
	OPT_PRODUCERS,
	OPT_CONSUMERS,
	OPT_QUEUES,
	OPT_PATTERN,
	OPT_EXCHANGE,
	OPT_XTYPE,
	OPT_RKEY,
	OPT_BKEY,
	OPT_SIZE,
	OPT_PERSISTENT,
	OPT_PROPERTIES,
	OPT_DISPATCH,
	OPT_QUEUE_TYPE,
	OPT_CONFIRM,
	OPT_MANDATORY,
	OPT_RATE,
	OPT_PMESSAGES,
	OPT_BATCH,
	OPT_PREFETCH,
	OPT_MULTI_ACK,
	OPT_AUTOACK,
	OPT_CMESSAGES,
	OPT_PRODUCER_ONLY,
	OPT_CONSUMER_ONLY,
	OPT_CHURN,
	OPT_IDLE,
	OPT_TIME,
	OPT_CLEANUP,
	OPT_JSON,
	OPT_QUIET,
	OPT_VERSION,
	OPT_HELP
};

static const struct option long_options[] = {
	{ "uri", required_argument, NULL, OPT_URI },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "producers", required_argument, NULL, OPT_PRODUCERS },
	{ "consumers", required_argument, NULL, OPT_CONSUMERS },
	{ "queues", required_argument, NULL, OPT_QUEUES },
	{ "queue-pattern", required_argument, NULL, OPT_PATTERN },
	{ "exchange", required_argument, NULL, OPT_EXCHANGE },
	{ "exchange-type", required_argument, NULL, OPT_XTYPE },
	{ "routing-key", required_argument, NULL, OPT_RKEY },
	{ "binding-key", required_argument, NULL, OPT_BKEY },
	{ "dispatch", required_argument, NULL, OPT_DISPATCH },
	{ "queue-type", required_argument, NULL, OPT_QUEUE_TYPE },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "persistent", no_argument, NULL, OPT_PERSISTENT },
	{ "properties", no_argument, NULL, OPT_PROPERTIES },
	{ "confirm", required_argument, NULL, OPT_CONFIRM },
	{ "mandatory", no_argument, NULL, OPT_MANDATORY },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "pmessages", required_argument, NULL, OPT_PMESSAGES },
	{ "batch", required_argument, NULL, OPT_BATCH },
	{ "prefetch", required_argument, NULL, OPT_PREFETCH },
	{ "multi-ack", required_argument, NULL, OPT_MULTI_ACK },
	{ "autoack", no_argument, NULL, OPT_AUTOACK },
	{ "cmessages", required_argument, NULL, OPT_CMESSAGES },
	{ "producer-only", no_argument, NULL, OPT_PRODUCER_ONLY },
	{ "consumer-only", no_argument, NULL, OPT_CONSUMER_ONLY },
	{ "churn", no_argument, NULL, OPT_CHURN },
	{ "idle-connections", required_argument, NULL, OPT_IDLE },
	{ "time", required_argument, NULL, OPT_TIME },
	{ "cleanup", no_argument, NULL, OPT_CLEANUP },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void parse_options(struct perf_opts *o, int argc, char **argv)
{
	const char *host = NULL;
	char *end;
	int port = 0, c;

	*o = (struct perf_opts){ .port = 5672,
		.producers = 1,
		.consumers = 1,
		.queues = 1,
		.queue_pattern = "perf-%d",
		.size = 16,
		.multi_ack = 1,
		.time = 10 };
	strcpy(o->host, "127.0.0.1");
	strcpy(o->user, "guest");
	strcpy(o->password, "guest");
	strcpy(o->vhost, "/");
	while ((c = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_URI: parse_uri(o, optarg); break;
		case OPT_HOST: host = optarg; break;
		case OPT_PORT: port = (int)parse_num(optarg, "--port", 1, 65535); break;
		case OPT_PRODUCERS:
			o->producers = (int)parse_num(optarg, "--producers", 0, 1000);
			break;
		case OPT_CONSUMERS:
			o->consumers = (int)parse_num(optarg, "--consumers", 0, 1000);
			break;
		case OPT_QUEUES: o->queues = (int)parse_num(optarg, "--queues", 1, 100000); break;
		case OPT_PATTERN: o->queue_pattern = optarg; break;
		case OPT_EXCHANGE: o->exchange = optarg; break;
		case OPT_XTYPE:
			if (strcmp(optarg, "direct") == 0)
				o->xtype = PERF_DIRECT;
			else if (strcmp(optarg, "fanout") == 0)
				o->xtype = PERF_FANOUT;
			else if (strcmp(optarg, "topic") == 0)
				o->xtype = PERF_TOPIC;
			else
				die("--exchange-type %s: direct, fanout or topic", optarg);
			break;
		case OPT_RKEY: o->routing_key = optarg; break;
		case OPT_BKEY: o->binding_key = optarg; break;
		case OPT_DISPATCH:
			if (strlen(optarg) > 64)
				die("--dispatch %s: longer than 64 bytes", optarg);
			o->dispatch = optarg;
			break;
		case OPT_QUEUE_TYPE:
			if (strlen(optarg) > 64)
				die("--queue-type %s: longer than 64 bytes", optarg);
			o->queue_type = optarg;
			break;
		case OPT_SIZE: o->size = (size_t)parse_num(optarg, "--size", 0, 128 << 20); break;
		case OPT_PERSISTENT: o->persistent = true; break;
		case OPT_PROPERTIES: o->properties = true; break;
		case OPT_CONFIRM:
			o->confirm = (uint32_t)parse_num(optarg, "--confirm", 1, 10000000);
			break;
		case OPT_MANDATORY: o->mandatory = true; break;
		case OPT_RATE:
			o->rate = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(o->rate >= 0))
				die("bad value for %s", "--rate");
			break;
		case OPT_PMESSAGES:
			o->pmessages = (uint64_t)parse_num(optarg, "--pmessages", 0, INT64_MAX);
			break;
		case OPT_BATCH: o->batch = (uint32_t)parse_num(optarg, "--batch", 1, 100000); break;
		case OPT_PREFETCH:
			o->prefetch = (uint16_t)parse_num(optarg, "--prefetch", 0, 65535);
			break;
		case OPT_MULTI_ACK:
			o->multi_ack = (uint32_t)parse_num(optarg, "--multi-ack", 1, 1000000);
			break;
		case OPT_AUTOACK: o->autoack = true; break;
		case OPT_CMESSAGES:
			o->cmessages = (uint64_t)parse_num(optarg, "--cmessages", 0, INT64_MAX);
			break;
		case OPT_PRODUCER_ONLY: o->consumers = 0; break;
		case OPT_CONSUMER_ONLY:
			o->producers = 0;
			o->drain = true;
			break;
		case OPT_CHURN: o->churn = true; break;
		case OPT_IDLE:
			o->idle_connections =
			    (int)parse_num(optarg, "--idle-connections", 0, 1000000);
			break;
		case OPT_TIME:
			o->time = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(o->time >= 0))
				die("bad value for %s", "--time");
			break;
		case OPT_CLEANUP: o->cleanup = true; break;
		case OPT_JSON: o->json = true; break;
		case OPT_QUIET: o->quiet = true; break;
		case OPT_VERSION: printf("warren-perf %s\n", PACKAGE_VERSION); exit(0);
		case OPT_HELP: usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument %s", argv[optind]);
	if (host != NULL) {
		if (strlen(host) >= sizeof(o->host))
			die("--host %s: too long", host);
		strcpy(o->host, host);
	}
	if (port != 0)
		o->port = port;
	if (o->drain)
		o->producers = 0;
	if (o->churn)
		o->consumers = 0;
	check_pattern(o->queue_pattern);
	if (o->prefetch > 0 && o->multi_ack > o->prefetch)
		die("--multi-ack must not exceed --prefetch (%s)",
		    "the broker would stop delivering");
	if (o->time == 0 && o->pmessages == 0 && o->cmessages == 0 && !o->drain)
		die("%s",
		    "--time 0 needs --pmessages, --cmessages or --consumer-only to end the run");
	if (o->producers == 0 && o->consumers == 0 && o->idle_connections == 0)
		die("%s", "nothing to do: no producers, consumers or idle connections");
	if (o->producers == 0 && o->consumers == 0 && o->time == 0)
		die("%s", "--idle-connections alone needs --time");
	if (o->exchange != NULL && strlen(o->exchange) > 255)
		die("--exchange %s: longer than 255 bytes", o->exchange);
}

/* ---- Topology ---- */

static const char *xtype_name(enum perf_xtype t)
{
	return t == PERF_FANOUT ? "fanout" : t == PERF_TOPIC ? "topic" : "direct";
}

/* The exchange is ours to declare and delete unless it is the default or an amq.* one. */
static bool own_exchange(const char *x)
{
	return x[0] != '\0' && strncmp(x, "amq.", 4) != 0;
}

/* Declare the exchange, the queues and their bindings; *queued gets the messages already there. */
static int setup(
    const struct perf_opts *o, const char *exchange, uint64_t *queued, char *err, size_t errlen)
{
	struct perf_conn c;
	struct amqp_method m, reply;
	char name[256];
	uint32_t count;
	int i, r = -1;

	*queued = 0;
	if (perf_conn_open(&c, o) < 0)
		goto out;
	if (own_exchange(exchange)) {
		m = (struct amqp_method){ .id = AMQP_ID_exchange_declare };
		m.u.exchange_declare.exchange = amqp_cstr(exchange);
		m.u.exchange_declare.type = amqp_cstr(xtype_name(o->xtype));
		if (perf_conn_call(&c, &m, AMQP_ID_exchange_declare_ok, &reply, 10000) < 0)
			goto out;
	}
	for (i = 0; i < o->queues; i++) {
		perf_queue_name(o, i, name, sizeof(name));
		if (perf_queue_declare(&c, o, name, &count) < 0)
			goto out;
		/* only the queues someone consumes from will be drained */
		if (i < o->consumers)
			*queued += count;
		if (exchange[0] == '\0')
			continue; /* the default exchange binds every queue by its name */
		m = (struct amqp_method){ .id = AMQP_ID_queue_bind };
		m.u.queue_bind.queue = amqp_cstr(name);
		m.u.queue_bind.exchange = amqp_cstr(exchange);
		m.u.queue_bind.routing_key =
		    amqp_cstr(o->binding_key != NULL ? o->binding_key : name);
		if (perf_conn_call(&c, &m, AMQP_ID_queue_bind_ok, &reply, 10000) < 0)
			goto out;
	}
	r = 0;
out:
	if (r < 0)
		snprintf(err, errlen, "%s", c.error);
	perf_conn_close(&c);
	return r;
}

static void cleanup(const struct perf_opts *o, const char *exchange)
{
	struct perf_conn c;
	struct amqp_method m, reply;
	char name[256];
	int i;

	if (perf_conn_open(&c, o) < 0)
		goto out;
	for (i = 0; i < o->queues; i++) {
		perf_queue_name(o, i, name, sizeof(name));
		m = (struct amqp_method){ .id = AMQP_ID_queue_delete };
		m.u.queue_delete.queue = amqp_cstr(name);
		if (perf_conn_call(&c, &m, AMQP_ID_queue_delete_ok, &reply, 30000) < 0)
			goto out;
	}
	if (own_exchange(exchange)) {
		m = (struct amqp_method){ .id = AMQP_ID_exchange_delete };
		m.u.exchange_delete.exchange = amqp_cstr(exchange);
		if (perf_conn_call(&c, &m, AMQP_ID_exchange_delete_ok, &reply, 10000) < 0)
			goto out;
	}
out:
	if (c.error[0] != '\0')
		fprintf(stderr, "warren-perf: cleanup: %s\n", c.error);
	perf_conn_close(&c);
}

/* ---- Reporting ---- */

struct totals {
	uint64_t published, confirmed, nacked, returned, delivered, cycles, blocked;
	uint64_t pub_last_ns, del_last_ns, cyc_last_ns;
	uint64_t hist[PERF_HIST_BUCKETS];
	uint64_t max_ns;
};

static void collect(struct perf_worker *ws, int n, struct totals *t)
{
	int i;

	memset(t, 0, sizeof(*t));
	for (i = 0; i < n; i++) {
		struct perf_worker *w = &ws[i];
		uint64_t last = perf_get(&w->last_ns), max = perf_get(&w->lat.max);

		t->published += perf_get(&w->published);
		t->confirmed += perf_get(&w->confirmed);
		t->nacked += perf_get(&w->nacked);
		t->returned += perf_get(&w->returned);
		t->delivered += perf_get(&w->delivered);
		t->cycles += perf_get(&w->cycles);
		t->blocked += perf_get(&w->blocked);
		perf_hist_sum(t->hist, &w->lat);
		if (max > t->max_ns)
			t->max_ns = max;
		if (w->role == PERF_PRODUCER && last > t->pub_last_ns)
			t->pub_last_ns = last;
		if (w->role == PERF_CONSUMER && last > t->del_last_ns)
			t->del_last_ns = last;
		if (w->role == PERF_CHURN && last > t->cyc_last_ns)
			t->cyc_last_ns = last;
	}
}

/* One line on stderr: the rates and latencies since the previous line. */
static void progress(const struct perf_opts *o, double elapsed, const struct totals *now,
    const struct totals *prev, double dt)
{
	static uint64_t delta[PERF_HIST_BUCKETS];
	unsigned i;

	for (i = 0; i < PERF_HIST_BUCKETS; i++)
		delta[i] = now->hist[i] - prev->hist[i];
	if (o->churn) {
		fprintf(stderr,
		    "warren-perf: %5.1f s  connections %.0f/s  cycle p50 %.0f us p99 %.0f us\n",
		    elapsed, (double)(now->cycles - prev->cycles) / dt,
		    (double)perf_hist_quantile(delta, 0.5) / 1e3,
		    (double)perf_hist_quantile(delta, 0.99) / 1e3);
		return;
	}
	fprintf(stderr,
	    "warren-perf: %5.1f s  published %.0f msg/s  confirmed %.0f msg/s  delivered %.0f msg/s"
	    "  latency p50 %.0f us p99 %.0f us\n",
	    elapsed, (double)(now->published - prev->published) / dt,
	    (double)(now->confirmed - prev->confirmed) / dt,
	    (double)(now->delivered - prev->delivered) / dt,
	    (double)perf_hist_quantile(delta, 0.5) / 1e3,
	    (double)perf_hist_quantile(delta, 0.99) / 1e3);
}

static double rate(uint64_t n, uint64_t start, uint64_t last)
{
	return n > 0 && last > start ? (double)n / ((double)(last - start) / 1e9) : 0;
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void summary(
    const struct perf_opts *o, const struct totals *t, uint64_t start, uint64_t end, int errors)
{
	double pub = rate(t->published, start, t->pub_last_ns);
	double del = rate(t->delivered, start, t->del_last_ns);
	double cyc = rate(t->cycles, start, t->cyc_last_ns);
	double secs = (double)(end - start) / 1e9;
	double p50 = (double)perf_hist_quantile(t->hist, 0.5) / 1e3;
	double p95 = (double)perf_hist_quantile(t->hist, 0.95) / 1e3;
	double p99 = (double)perf_hist_quantile(t->hist, 0.99) / 1e3;
	double max = (double)t->max_ns / 1e3;
	uint64_t samples = perf_hist_count(t->hist);
	struct rusage ru;
	double cpu;

	getrusage(RUSAGE_SELF, &ru); /* all threads: what the client itself cost */
	cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;

	if (o->json) {
		printf("{\"broker\":");
		json_string(o->host);
		printf(",\"port\":%d,\"mode\":\"%s\",\"producers\":%d,\"consumers\":%d,"
		       "\"queues\":%d,\"exchange_type\":\"%s\",\"size\":%zu,\"persistent\":%s,"
		       "\"confirm\":%u,\"rate_limit\":%.1f,\"elapsed_s\":%.3f,",
		    o->port, o->churn ? "churn" : "messages", o->producers, o->consumers, o->queues,
		    xtype_name(o->xtype), o->size, o->persistent ? "true" : "false", o->confirm,
		    o->rate, secs);
		printf("\"published\":%llu,\"confirmed\":%llu,\"nacked\":%llu,\"returned\":%llu,"
		       "\"delivered\":%llu,\"publish_rate\":%.1f,\"deliver_rate\":%.1f,",
		    (unsigned long long)t->published, (unsigned long long)t->confirmed,
		    (unsigned long long)t->nacked, (unsigned long long)t->returned,
		    (unsigned long long)t->delivered, pub, del);
		printf("\"connections\":%llu,\"connection_rate\":%.1f,\"blocked\":%llu,"
		       "\"client_cpu_s\":%.2f,",
		    (unsigned long long)t->cycles, cyc, (unsigned long long)t->blocked, cpu);
		printf("\"latency_us\":{\"samples\":%llu,\"p50\":%.1f,\"p95\":%.1f,\"p99\":%.1f,"
		       "\"max\":%.1f},\"errors\":%d}\n",
		    (unsigned long long)samples, p50, p95, p99, max, errors);
		return;
	}
	printf(
	    "warren-perf: %.1f s against %s:%d, %d producer(s), %d consumer(s), %d queue(s) (%s), "
	    "%zu B, %s%s\n",
	    secs, o->host, o->port, o->producers, o->consumers, o->queues, xtype_name(o->xtype),
	    o->size, o->persistent ? "persistent" : "transient",
	    o->confirm > 0 ? ", confirms" : "");
	if (o->churn) {
		printf("connections %llu (%.1f/s), cycle latency p50 %.0f us, p95 %.0f us, "
		       "p99 %.0f us, max %.0f us\n",
		    (unsigned long long)t->cycles, cyc, p50, p95, p99, max);
	} else {
		printf("published   %llu msg (%.1f msg/s), confirmed %llu, nacked %llu, returned "
		       "%llu\n",
		    (unsigned long long)t->published, pub, (unsigned long long)t->confirmed,
		    (unsigned long long)t->nacked, (unsigned long long)t->returned);
		printf(
		    "delivered   %llu msg (%.1f msg/s)\n", (unsigned long long)t->delivered, del);
		if (samples > 0)
			printf("latency     p50 %.1f us, p95 %.1f us, p99 %.1f us, max %.1f us "
			       "(%llu samples)\n",
			    p50, p95, p99, max, (unsigned long long)samples);
	}
	printf("client CPU  %.2f s\n", cpu);
	if (t->blocked > 0)
		printf("blocked     %llu times by the broker\n", (unsigned long long)t->blocked);
	if (errors > 0)
		printf("errors      %d worker(s) failed (see stderr)\n", errors);
}

/* ---- The run ---- */

/*
 * Open n connections (handshake and a channel each), one after another, and keep only their
 * sockets: they stay idle (no heartbeats) until the run ends. The file limit is raised to the hard
 * limit first. NULL (with the reason printed) when one fails.
 */
static int *open_idle(const struct perf_opts *o, int n)
{
	struct rlimit rl;
	int *fds = calloc((size_t)n, sizeof(*fds)), i;
	struct perf_conn c;

	if (fds == NULL)
		return NULL;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	for (i = 0; i < n; i++) {
		if (perf_conn_open(&c, o) < 0) {
			fprintf(stderr, "warren-perf: idle connection %d: %s\n", i + 1, c.error);
			perf_conn_free(&c);
			while (i-- > 0)
				close(fds[i]);
			free(fds);
			return NULL;
		}
		fds[i] = c.fd;
		c.fd = -1;
		perf_conn_free(&c);
	}
	if (!o->quiet)
		fprintf(stderr, "warren-perf: %d idle connections open\n", n);
	return fds;
}

static bool all_done(struct perf_worker *ws, int n, enum perf_role role)
{
	int i;

	for (i = 0; i < n; i++)
		if ((ws[i].role == role || role == (enum perf_role) - 1) &&
		    !atomic_load(&ws[i].done))
			return false;
	return true;
}

static void start(struct perf_worker *w, void *(*fn)(void *))
{
	int r = pthread_create(&w->thread, NULL, fn, w);

	if (r != 0) {
		fprintf(stderr, "warren-perf: pthread_create: %s\n", strerror(r));
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct perf_opts o;
	struct perf_run run = { .o = &o };
	struct perf_worker *ws;
	struct totals *now, *prev;
	char xname[300], err[256] = "";
	uint64_t queued, expected = 0, t, last_print, idle_since = 0, last_delivered = 0;
	int nw, i, errors = 0, copies;
	struct sigaction sa = { .sa_handler = on_signal };
	int *idle = NULL;

	parse_options(&o, argc, argv);
	if (o.exchange != NULL)
		snprintf(xname, sizeof(xname), "%s", o.exchange);
	else
		snprintf(xname, sizeof(xname), "warren-perf-%s", xtype_name(o.xtype));
	run.exchange = xname;
	if (setup(&o, xname, &queued, err, sizeof(err)) < 0) {
		fprintf(stderr, "warren-perf: setup: %s\n", err);
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (o.idle_connections > 0 && (idle = open_idle(&o, o.idle_connections)) == NULL)
		return 1;
	pthread_mutex_init(&run.lock, NULL);
	pthread_cond_init(&run.cond, NULL);

	nw = o.consumers + o.producers;
	ws = calloc(nw > 0 ? (size_t)nw : 1, sizeof(*ws));
	now = calloc(2, sizeof(*now));
	if (ws == NULL || now == NULL) {
		fprintf(stderr, "warren-perf: out of memory\n");
		return 1;
	}
	prev = now + 1;
	for (i = 0; i < nw; i++) {
		struct perf_worker *w = &ws[i];
		bool consumer = i < o.consumers;
		int k = consumer ? i : i - o.consumers;

		w->role = consumer ? PERF_CONSUMER : o.churn ? PERF_CHURN : PERF_PRODUCER;
		w->id = k;
		w->run = &run;
		perf_queue_name(&o, k % o.queues, w->queue, sizeof(w->queue));
		if (o.routing_key != NULL)
			snprintf(w->routing_key, sizeof(w->routing_key), "%s", o.routing_key);
		else if (o.xtype != PERF_FANOUT)
			snprintf(w->routing_key, sizeof(w->routing_key), "%s", w->queue);
	}

	/* Consumers first, each consuming before a producer starts. */
	if (o.drain)
		run.start_ns = perf_now_ns();
	for (i = 0; i < o.consumers; i++)
		start(&ws[i], perf_consumer_main);
	pthread_mutex_lock(&run.lock);
	while (run.ready < o.consumers) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += READY_TIMEOUT_S;
		if (pthread_cond_timedwait(&run.cond, &run.lock, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&run.lock);
	if (!o.drain)
		run.start_ns = perf_now_ns();
	for (i = o.consumers; i < nw; i++)
		start(&ws[i], o.churn ? perf_churn_main : perf_producer_main);

	/* How many deliveries the producers' messages make, when we can tell. */
	copies = o.xtype == PERF_FANOUT ? o.queues : 1;
	if (o.routing_key != NULL || o.binding_key != NULL || o.exchange != NULL)
		copies = 0;
	if (o.consumers < o.queues)
		copies = 0;

	last_print = run.start_ns;
	collect(ws, nw, prev);
	for (;;) {
		struct timespec ts = { 0, TICK_NS };

		nanosleep(&ts, NULL);
		t = perf_now_ns();
		collect(ws, nw, now);
		if (!o.quiet && t - last_print >= 1000000000u) {
			progress(&o, (double)(t - run.start_ns) / 1e9, now, prev,
			    (double)(t - last_print) / 1e9);
			*prev = *now;
			last_print = t;
		}
		if (interrupted || (nw > 0 && all_done(ws, nw, (enum perf_role) - 1)))
			break;
		if (o.time > 0 && t - run.start_ns >= (uint64_t)(o.time * 1e9))
			break;
		if (o.drain && o.cmessages == 0 && queued > 0 && now->delivered >= queued)
			break;
		if (o.producers > 0 && !o.churn && all_done(ws, nw, PERF_PRODUCER) &&
		    o.cmessages == 0) {
			/* the producers are through: stop once every message is in, or none comes */
			expected = now->published * (uint64_t)copies;
			if (o.consumers == 0 || (copies > 0 && now->delivered >= expected))
				break;
			if (now->delivered != last_delivered || idle_since == 0)
				idle_since = t;
			if (t - idle_since >= IDLE_END_NS)
				break;
			last_delivered = now->delivered;
		}
	}
	atomic_store(&run.stop, true);
	t = perf_now_ns();
	for (i = 0; i < nw; i++) {
		pthread_join(ws[i].thread, NULL);
		if (ws[i].failed) {
			errors++;
			fprintf(stderr, "warren-perf: %s %d: %s\n",
			    ws[i].role == PERF_CONSUMER       ? "consumer"
			        : ws[i].role == PERF_PRODUCER ? "producer"
			                                      : "churn worker",
			    ws[i].id, ws[i].error);
		}
	}
	collect(ws, nw, now);
	for (i = 0; idle != NULL && i < o.idle_connections; i++)
		close(idle[i]);
	free(idle);
	if (o.cleanup)
		cleanup(&o, xname);
	summary(&o, now, run.start_ns, t, errors);
	pthread_mutex_destroy(&run.lock);
	pthread_cond_destroy(&run.cond);
	free(ws);
	free(now);
	return errors > 0 ? 1 : 0;
}
