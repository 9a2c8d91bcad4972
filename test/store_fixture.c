/*
 * store_fixture.c: a store written through the broker's own writers (persist.c, persist_page.c),
 * with one record or more of every type: durable exchanges of several types and flags, with and
 * without arguments; durable queues (one with x-max-priority); bindings to a queue and to an
 * exchange, with and without arguments; persistent messages in one queue and in two, with
 * properties, an empty body and a 300-byte one (small: held by their entries, a copy in each), and
 * a 600-byte one in two queues (in msgs, with a reference count); two of them returned to their
 * queue (entries written again with a delivery count: one holding its message, one of 28 bytes); a
 * delivered mark; a purged range (its dead record); a scratch segment of two transient entries
 * (one returned twice). Everything in it is deterministic
 * (no clock), so its records are the same bytes on every run.
 *
 * store_fixture_write leaves the store open with everything flushed; store_fixture_records prints
 * every record of every table as "TABLE KEY VALUE" (hex) lines, in key order.
 * test/fixtures/store-v3.records is that output (store format 3), and store-v3.dump its
 * store-dump; check_store holds the present writers against them. To make them again:
 *     test/make-store-fixture records >test/fixtures/store-v3.records
 *     test/make-store-fixture dump >test/fixtures/store-v3.dump
 * test/fixtures/store-v2.* are the same from format 2 (written by the code before the record codec,
 * without the 600-byte message): check_store builds a format-2 store from them and reads it.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h"
#include "server/server.h"
#include "test/store_fixture.h"

static const char *const table_names[STORE_NTABLES] = { "defs", "msgs", "entries", "meta", "refs",
	"scratch" };

/* Table entries (the bytes inside a table's length): one long string. */
static size_t table_str(uint8_t *out, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);

	out[0] = (uint8_t)kl;
	memcpy(out + 1, key, kl);
	out[1 + kl] = 'S';
	amqp_store_u32(out + 2 + kl, (uint32_t)vl);
	memcpy(out + 6 + kl, val, vl);
	return 6 + kl + vl;
}

/* A message with properties p (encoded) and a body of len bytes (i * 7 + seed). */
static struct message *fixture_message(const char *exchange, const char *rk,
    const struct amqp_basic_properties *p, size_t len, int seed)
{
	uint8_t props[512], body[600];
	int plen = amqp_properties_encode(p, props, sizeof(props));
	struct message *m;
	size_t i;

	if (plen < 0 || len > sizeof(body))
		abort();
	for (i = 0; i < len; i++)
		body[i] = (uint8_t)(i * 7 + (size_t)seed);
	m = message_new(
	    amqp_cstr(exchange), amqp_cstr(rk), (struct amqp_bytes){ props, (size_t)plen }, len);
	message_append_body(m, body, len);
	return m;
}

/* Run the loop until the store has made every write durable. */
static void fixture_flush(void)
{
	submit_batch();
	while (ps.inflight > 0 || ps.cur != NULL)
		event_base_loop(broker.base, EVLOOP_ONCE);
}

int store_fixture_write(const char *dir, char *err, size_t errlen)
{
	struct broker_config cfg;
	struct vhost *v;
	struct exchange *orders, *ae, *hdrs;
	struct queue *work, *audit, *paged, *tq;
	struct queue_args qa, noqa;
	struct amqp_basic_properties p;
	struct message *m, *first, *big;
	struct qentry e;
	uint8_t xargs[64], qargs[64], bargs[64];
	size_t xlen, blen, qlen;
	char qerr[256];

	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	broker_init(event_base_new(), &cfg);
	if (persist_open(dir, err, errlen) != 0)
		return -1;
	v = vhost_find(amqp_cstr("/"));
	memset(&noqa, 0, sizeof(noqa));

	/* Exchanges: a topic one with arguments, an internal auto-delete fanout, headers. */
	xlen = table_str(xargs, "alternate-exchange", "ae");
	orders = exchange_new(v, amqp_cstr("orders"), EX_TOPIC, true, false, false,
	    (struct amqp_bytes){ xargs, xlen });
	ae = exchange_new(v, amqp_cstr("ae"), EX_FANOUT, true, true, true, amqp_cstr(""));
	hdrs = exchange_new(v, amqp_cstr("hdrs"), EX_HEADERS, true, false, false, amqp_cstr(""));
	exchange_new(v, amqp_cstr("transient"), EX_DIRECT, false, false, false, amqp_cstr(""));

	/* Queues: one with priorities (arguments), one auto-delete, one to purge; one transient. */
	qargs[0] = 14;
	memcpy(qargs + 1, "x-max-priority", 14);
	qargs[15] = 'I';
	amqp_store_u32(qargs + 16, 3);
	qlen = 20;
	if (queue_args_parse(
	        (struct amqp_bytes){ qargs, qlen }, &qa, "work", "/", qerr, sizeof(qerr)) != 0) {
		snprintf(err, errlen, "x-max-priority: %s", qerr);
		return -1;
	}
	work = queue_new(v, amqp_cstr("work"), true, false, false, NULL,
	    (struct amqp_bytes){ qargs, qlen }, &qa);
	audit = queue_new(v, amqp_cstr("audit"), true, false, true, NULL, amqp_cstr(""), &noqa);
	paged = queue_new(v, amqp_cstr("paged"), true, false, false, NULL, amqp_cstr(""), &noqa);
	tq = queue_new(v, amqp_cstr("tq"), false, false, false, NULL, amqp_cstr(""), &noqa);

	/* Bindings: to a queue, exchange to exchange, with headers arguments. */
	blen = table_str(bargs, "x-match", "all");
	exchange_bind(orders, work, NULL, amqp_cstr("order.*"), amqp_cstr(""));
	exchange_bind(orders, NULL, hdrs, amqp_cstr("#"), amqp_cstr(""));
	exchange_bind(hdrs, audit, NULL, amqp_cstr(""), (struct amqp_bytes){ bargs, blen });
	exchange_bind(ae, audit, NULL, amqp_cstr(""), amqp_cstr(""));

	/* Messages: persistent ones in one queue and in two; a transient one (not written). */
	memset(&p, 0, sizeof(p));
	p.flags = AMQP_P_DELIVERY_MODE | AMQP_P_PRIORITY;
	p.delivery_mode = 2;
	p.priority = 2;
	m = first = fixture_message("orders", "order.new", &p, 10, 1);
	queue_publish(work, m);
	message_unref(m);
	p.flags = AMQP_P_CONTENT_TYPE | AMQP_P_DELIVERY_MODE;
	p.content_type = amqp_cstr("text/plain");
	m = fixture_message("orders", "order.paid", &p, 300, 2);
	queue_publish(work, m);
	queue_publish(audit, m);
	message_unref(m);
	p.flags = AMQP_P_DELIVERY_MODE;
	m = fixture_message("", "audit", &p, 0, 3);
	queue_publish(audit, m);
	message_unref(m);
	m = big = fixture_message("orders", "order.big", &p, 600, 6);
	queue_publish(work, m);
	queue_publish(audit, m);
	message_unref(m);
	p.flags = 0;
	m = fixture_message("", "work", &p, 5, 4);
	queue_publish(work, m);
	message_unref(m);

	/* The first message of work was delivered (its mark), then the turn's writes go. */
	persist_delivered(work, work->rings[2].v[work->rings[2].head].m, 1);
	fixture_flush();

	/* Two were delivered and returned (the queues still hold them): their entries, counted. */
	persist_requeue(work, first, 1, 0, 2);
	persist_requeue(work, big, 3, 0, 1);
	fixture_flush();

	/* A purge of paged seqs 10-20 of "paged": its dead record, with no job to delete it. */
	ps.closing = true;
	persist_drop_paged(paged, 0, 10, 20);
	ps.closing = false;

	/* Two transient entries of tq paged out: one scratch segment. */
	p.flags = AMQP_P_CONTENT_TYPE;
	p.content_type = amqp_cstr("application/json");
	m = fixture_message("", "tq", &p, 4, 5);
	e = (struct qentry){ m, 5, 0, false, 0 };
	persist_page_out(tq, 0, &e);
	e = (struct qentry){ m, 6, 1234567, true, 2 };
	persist_page_out(tq, 0, &e);
	persist_page_out_done();
	message_unref(m);
	fixture_flush();
	return 0;
}

struct printer {
	FILE *out;
	enum store_table t;
};

static int print_record(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct printer *pr = arg;
	const uint8_t *k = key, *v = val;
	size_t i;

	fprintf(pr->out, "%s ", table_names[pr->t]);
	for (i = 0; i < klen; i++)
		fprintf(pr->out, "%02x", k[i]);
	fputc(' ', pr->out);
	for (i = 0; i < vlen; i++)
		fprintf(pr->out, "%02x", v[i]);
	if (vlen == 0)
		fputc('-', pr->out);
	fputc('\n', pr->out);
	return 0;
}

int store_fixture_records(FILE *out)
{
	struct printer pr = { out, STORE_DEFS };

	for (pr.t = 0; pr.t < STORE_NTABLES; pr.t++)
		if (store_scan(ps.st, pr.t, print_record, &pr) != 0)
			return -1;
	return 0;
}

int store_fixture_dump(const char *dir, FILE *out)
{
	char err[512], *text = NULL, *at, *end;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int r;

	if (f == NULL)
		return -1;
	r = persist_dump(dir, f, false, err, sizeof(err));
	fclose(f);
	/* The bytes on disk depend on the file system: "N on disk" becomes "- on disk". */
	if ((end = strstr(text, " on disk in all")) != NULL) {
		for (at = end; at > text && at[-1] >= '0' && at[-1] <= '9'; at--)
			;
		fwrite(text, 1, (size_t)(at - text), out);
		fputs("-", out);
		fputs(end, out);
	} else {
		fputs(text, out);
	}
	if (r != 0)
		fprintf(out, "error: %s\n", err);
	free(text);
	return r;
}
