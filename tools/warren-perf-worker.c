/*
 * warren-perf-worker.c: the threads of warren-perf, each with its own connection.
 *
 * A producer encodes its message once (basic.publish, content header, body frames) and copies it
 * into a batch buffer as many times as one write should carry. Per batch it only patches the send
 * time into each copy's body and hands the whole buffer to one send(), so the cost per message is
 * a few stores, not a system call. The batch is as large as the confirm window, the rate limit and
 * the message count allow (and --batch, by default about 128 KiB). Publisher confirms are settled
 * in a ring of window flags, so acks and nacks may come in any order, single or multiple.
 *
 * A consumer reads whatever the socket holds, parses the frames in place, takes the time once
 * per read (every message in it arrived then), and queues its acks so that all the acks of one
 * read go out in one write. A churn worker opens a connection and a channel, declares a queue and
 * closes, over and over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/warren-perf.h"

#define CALL_MS 10000     /* a synchronous call during setup */
#define POLL_NS 100000000 /* 100 ms: how often an idle worker looks at the stop flag */
#define CONFIRM_GRACE_NS 10000000000ull /* after the end, wait this long for outstanding confirms */
#define BATCH_BYTES (128 * 1024)        /* a batch's default size */

void perf_queue_name(const struct perf_opts *o, int i, char *buf, size_t cap)
{
	snprintf(buf, cap, o->queue_pattern, i);
}

size_t perf_stamp_len(size_t size)
{
	if (size >= 8)
		return 8;
	return size >= 4 ? size : 0;
}

/* The send time: ns with 8 bytes, else the low bytes of the time in µs. Little-endian. */
static void stamp_put(uint8_t *p, size_t k, uint64_t now_ns)
{
	uint64_t v = k == 8 ? now_ns : now_ns / 1000;
	size_t i;

	for (i = 0; i < k; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The latency of a message stamped with stamp_put, in ns; false if the stamp is not plausible. */
static bool stamp_latency(const uint8_t *p, size_t k, uint64_t now_ns, uint64_t *lat)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < k; i++)
		v |= (uint64_t)p[i] << (8 * i);
	if (k == 8) {
		if (v > now_ns)
			return false; /* not one of ours */
		*lat = now_ns - v;
		return true;
	}
	/* k bytes of µs: the difference modulo 2^(8k) is right while latency < 2^(8k) µs */
	*lat = (((now_ns / 1000) - v) & ((UINT64_C(1) << (8 * k)) - 1)) * 1000;
	return true;
}

static void worker_fail(struct perf_worker *w, struct perf_conn *c, const char *what)
{
	if (w->failed)
		return;
	w->failed = true;
	snprintf(
	    w->error, sizeof(w->error), "%s", c != NULL && c->error[0] != '\0' ? c->error : what);
}

static bool stopping(const struct perf_worker *w)
{
	return atomic_load_explicit(&w->run->stop, memory_order_relaxed);
}

/* Append a field-table entry KEY = longstr VALUE at args + *n (the caller sized args for it). */
static void put_longstr_arg(uint8_t *args, size_t *n, const char *key, const char *value)
{
	size_t klen = strlen(key), vlen = strlen(value);

	args[(*n)++] = (uint8_t)klen;
	memcpy(args + *n, key, klen);
	*n += klen;
	args[(*n)++] = 'S';
	amqp_store_u32(args + *n, (uint32_t)vlen);
	*n += 4;
	memcpy(args + *n, value, vlen);
	*n += vlen;
}

int perf_queue_declare(
    struct perf_conn *c, const struct perf_opts *o, const char *name, uint32_t *count)
{
	struct amqp_method m = { .id = AMQP_ID_queue_declare }, reply;
	/* "x-dispatch" and "x-queue-type" as longstrs of at most 64 bytes each (checked by the
	 * options): 16 + 64 and 18 + 64 bytes */
	uint8_t args[192];
	size_t n = 0;

	m.u.queue_declare.queue = amqp_cstr(name);
	m.u.queue_declare.durable = o->persistent;
	if (o->dispatch != NULL)
		put_longstr_arg(args, &n, "x-dispatch", o->dispatch);
	if (o->queue_type != NULL)
		put_longstr_arg(args, &n, "x-queue-type", o->queue_type);
	if (n > 0)
		m.u.queue_declare.arguments = (struct amqp_bytes){ args, n };
	if (perf_conn_call(c, &m, AMQP_ID_queue_declare_ok, &reply, CALL_MS) < 0)
		return -1;
	if (count != NULL)
		*count = reply.u.queue_declare_ok.message_count;
	return 0;
}

/* ---- Producer ---- */

struct producer {
	struct perf_worker *w;
	const struct perf_opts *o;
	struct perf_conn c;
	uint8_t *buf; /* batch copies of one message */
	size_t msg_len, stamp_off, stamp_len;
	uint32_t batch;
	/* the batch being written */
	uint32_t batch_n;
	size_t off, len;
	uint64_t stamped; /* messages put into batches so far */
	/* confirms: sequence numbers [base, next) are unsettled; settled[seq % window] marks acks */
	uint64_t base, next;
	uint8_t *settled;
	bool blocked;
	/* a basic.return's content is skipped: header, then body_left bytes */
	bool skip_header;
	uint64_t skip_left;
};

/* Encode one message (method, header, body frames) into p->buf, then copy it batch times. */
static int producer_encode(struct producer *p)
{
	const struct perf_opts *o = p->o;
	struct amqp_method m = { .id = AMQP_ID_basic_publish };
	struct amqp_basic_properties props = { 0 };
	uint8_t praw[256], hraw[128];
	struct amqp_table_entry hdr[2] = {
		{ AMQP_BYTES("task"),
		    { .type = AMQP_FIELD_LONGSTR, .v.bytes = AMQP_BYTES("perf") } },
		{ AMQP_BYTES("retries"), { .type = AMQP_FIELD_I32, .v.i32 = 0 } },
	};
	struct amqp_table headers = { 2, hdr };
	long hlen;
	size_t chunk = p->c.frame_max - AMQP_FRAME_OVERHEAD, nbody, len, i;
	int n, plen;

	nbody = o->size == 0 ? 0 : (o->size + chunk - 1) / chunk;
	len = 512 + AMQP_FRAME_OVERHEAD * 2 + nbody * AMQP_FRAME_OVERHEAD + o->size;
	if (o->batch > 0)
		p->batch = o->batch;
	else
		p->batch = len >= BATCH_BYTES ? 1 : (uint32_t)(BATCH_BYTES / len);
	p->buf = malloc(len * p->batch);
	if (p->buf == NULL)
		return perf_conn_fail(&p->c, "out of memory for a batch of %u messages", p->batch);

	m.u.basic_publish.exchange = amqp_cstr(p->w->run->exchange);
	m.u.basic_publish.routing_key = amqp_cstr(p->w->routing_key);
	m.u.basic_publish.mandatory = o->mandatory;
	n = amqp_method_frame_encode(1, &m, p->buf, len);
	if (n < 0)
		return perf_conn_fail(&p->c, "cannot encode basic.publish: %s", amqp_strerror(n));
	p->msg_len = (size_t)n;

	if (o->persistent) {
		props.flags = AMQP_P_DELIVERY_MODE;
		props.delivery_mode = 2;
	}
	if (o->properties) { /* what a Celery task message carries, in small */
		hlen = amqp_table_encode(&headers, hraw, sizeof(hraw));
		if (hlen < 4)
			return perf_conn_fail(&p->c, "cannot encode the headers");
		props.flags |= AMQP_P_CONTENT_TYPE | AMQP_P_HEADERS | AMQP_P_CORRELATION_ID;
		props.content_type = AMQP_BYTES("application/json");
		props.headers = (struct amqp_bytes){ hraw + 4, (size_t)hlen - 4 };
		props.correlation_id = AMQP_BYTES("6f1c2a9e-perf");
	}
	plen = amqp_properties_encode(&props, praw, sizeof(praw));
	n = plen < 0 ? plen
	             : amqp_content_header_encode(AMQP_BASIC_CLASS, o->size,
	                   (struct amqp_bytes){ praw, (size_t)plen },
	                   p->buf + p->msg_len + AMQP_FRAME_HEADER_LEN,
	                   len - p->msg_len - AMQP_FRAME_OVERHEAD);
	if (n < 0)
		return perf_conn_fail(
		    &p->c, "cannot encode the content header: %s", amqp_strerror(n));
	amqp_frame_put_header(p->buf + p->msg_len, AMQP_FRAME_HEADER, 1, (uint32_t)n);
	p->msg_len += (size_t)n + AMQP_FRAME_OVERHEAD;

	p->stamp_off = p->msg_len + AMQP_FRAME_HEADER_LEN;
	p->stamp_len = perf_stamp_len(o->size);
	for (i = 0; i < nbody; i++) {
		size_t k = i + 1 < nbody ? chunk : o->size - i * chunk;

		memset(p->buf + p->msg_len + AMQP_FRAME_HEADER_LEN, 0, k);
		amqp_frame_put_header(p->buf + p->msg_len, AMQP_FRAME_BODY, 1, (uint32_t)k);
		p->msg_len += k + AMQP_FRAME_OVERHEAD;
	}
	for (i = 1; i < p->batch; i++)
		memcpy(p->buf + i * p->msg_len, p->buf, p->msg_len);
	return 0;
}

/* Mark one sequence number settled; false if it was already. */
static bool producer_settle_one(struct producer *p, uint64_t seq)
{
	uint8_t *f = &p->settled[seq % p->o->confirm];

	if (*f)
		return false;
	*f = 1;
	return true;
}

static int producer_settle(struct producer *p, uint64_t tag, bool multiple, bool nack)
{
	uint64_t k = 0, s;

	if (p->settled == NULL || tag >= p->next || tag == 0)
		return perf_conn_fail(&p->c, "%s for delivery tag %llu, never published",
		    nack ? "basic.nack" : "basic.ack", (unsigned long long)tag);
	if (multiple) {
		for (s = p->base; s <= tag; s++)
			k += producer_settle_one(p, s);
	} else {
		if (tag < p->base || !producer_settle_one(p, tag))
			return perf_conn_fail(&p->c, "a second %s for delivery tag %llu",
			    nack ? "basic.nack" : "basic.ack", (unsigned long long)tag);
		k = 1;
	}
	perf_count(nack ? &p->w->nacked : &p->w->confirmed, k);
	while (p->base < p->next && p->settled[p->base % p->o->confirm]) {
		p->settled[p->base % p->o->confirm] = 0;
		p->base++;
	}
	return 0;
}

/* Handle the frames the broker sent: confirms, returns, blocked, errors. */
static int producer_input(struct producer *p)
{
	struct amqp_frame f;
	struct amqp_method m;
	int r;

	while ((r = perf_conn_next_frame(&p->c, &f)) == 1) {
		if (f.type == AMQP_FRAME_HEADER && p->skip_header) {
			p->skip_header = false;
			if (f.size >= 12) /* class, weight, then the body size */
				p->skip_left = (uint64_t)f.payload[4] << 56 |
				    (uint64_t)f.payload[5] << 48 | (uint64_t)f.payload[6] << 40 |
				    (uint64_t)f.payload[7] << 32 | (uint64_t)f.payload[8] << 24 |
				    (uint64_t)f.payload[9] << 16 | (uint64_t)f.payload[10] << 8 |
				    f.payload[11];
			continue;
		}
		if (f.type == AMQP_FRAME_BODY) {
			p->skip_left -= f.size <= p->skip_left ? f.size : p->skip_left;
			continue;
		}
		if (f.type != AMQP_FRAME_METHOD)
			continue;
		r = amqp_method_decode(f.payload, f.size, &m);
		if (r < 0)
			return perf_conn_fail(&p->c, "malformed method: %s", amqp_strerror(r));
		switch (m.id) {
		case AMQP_ID_basic_ack:
			r = producer_settle(
			    p, m.u.basic_ack.delivery_tag, m.u.basic_ack.multiple, false);
			break;
		case AMQP_ID_basic_nack:
			r = producer_settle(
			    p, m.u.basic_nack.delivery_tag, m.u.basic_nack.multiple, true);
			break;
		case AMQP_ID_basic_return:
			perf_count(&p->w->returned, 1);
			p->skip_header = true;
			break;
		default:
			if (m.id == AMQP_ID_connection_blocked)
				perf_count(&p->w->blocked, 1);
			r = perf_conn_handle_async(&p->c, &m, &p->blocked) < 0 ? -1 : 0;
		}
		if (r < 0)
			return -1;
	}
	return r;
}

/* How many messages may go into the next batch now; *wait_ns says when to look again if none. */
static uint32_t producer_allowed(struct producer *p, uint64_t now, uint64_t t0, int64_t *wait_ns)
{
	const struct perf_opts *o = p->o;
	uint64_t n = p->batch;

	*wait_ns = POLL_NS;
	if (o->pmessages > 0 && o->pmessages - p->stamped < n)
		n = o->pmessages - p->stamped;
	if (o->confirm > 0 && o->confirm - (p->next - p->base) < n)
		n = o->confirm - (p->next - p->base);
	if (o->rate > 0) {
		uint64_t due = (uint64_t)(o->rate * (double)(now - t0) / 1e9);

		due = due > p->stamped ? due - p->stamped : 0;
		if (due < n)
			n = due;
		if (n == 0) {
			double next = (double)(p->stamped + 1) / o->rate * 1e9;

			*wait_ns = (int64_t)(t0 + (uint64_t)next) - (int64_t)now;
			if (*wait_ns < 1000)
				*wait_ns = 1000;
		}
	}
	return (uint32_t)n;
}

/* Put n messages stamped with now into the batch buffer. */
static void producer_fill(struct producer *p, uint32_t n, uint64_t now)
{
	uint32_t i;

	for (i = 0; i < n && p->stamp_len > 0; i++)
		stamp_put(p->buf + i * p->msg_len + p->stamp_off, p->stamp_len, now);
	p->batch_n = n;
	p->off = 0;
	p->len = n * p->msg_len;
	p->stamped += n;
	p->next += p->settled != NULL ? n : 0;
}

/*
 * Stop with part of a batch unsent (the broker blocked us, or stopped reading): count the
 * messages already written whole and forget the rest. A message cut in the middle leaves a
 * partial frame on the wire, so the connection can only be dropped, not closed.
 */
static void producer_truncate(struct producer *p)
{
	uint32_t whole = (uint32_t)(p->off / p->msg_len);

	perf_count(&p->w->published, whole);
	p->stamped -= p->batch_n - whole;
	if (p->settled != NULL)
		p->next -= p->batch_n - whole;
	if (p->off % p->msg_len != 0)
		p->c.eof = true; /* perf_conn_close drops it without the close handshake */
	p->len = 0;
}

static void producer_run(struct producer *p)
{
	const struct perf_opts *o = p->o;
	uint64_t t0 = perf_now_ns(), now, grace_end = 0;
	bool finished = false;
	int64_t wait_ns;
	long k;

	for (;;) {
		now = perf_now_ns();
		if (grace_end == 0 &&
		    (stopping(p->w) || (o->pmessages > 0 && p->stamped == o->pmessages)))
			grace_end = now + CONFIRM_GRACE_NS;
		/* a blocked broker will not read the rest of the batch: do not wait for it */
		if (grace_end != 0 && p->len > 0 && (p->blocked || now >= grace_end))
			producer_truncate(p);
		if (grace_end != 0 && p->len == 0)
			finished = true; /* nothing half-written: stop publishing */
		if (grace_end != 0 && now >= grace_end)
			break; /* the broker stopped confirming */
		if (finished && (p->base == p->next || p->c.eof))
			break;
		wait_ns = POLL_NS;
		if (!finished && p->len == 0) {
			uint32_t n = producer_allowed(p, now, t0, &wait_ns);

			if (n > 0)
				producer_fill(p, n, now);
		}
		if (p->len > 0) {
			k = perf_conn_send_some(&p->c, p->buf + p->off, p->len - p->off);
			if (k < 0)
				return worker_fail(p->w, &p->c, "send failed");
			p->off += (size_t)k;
			if (p->off == p->len) {
				perf_count(&p->w->published, p->batch_n);
				atomic_store_explicit(
				    &p->w->last_ns, perf_now_ns(), memory_order_relaxed);
				p->len = 0;
				wait_ns =
				    0; /* the next batch may go at once: only look at the input */
			}
		}
		if (perf_conn_wait(&p->c, p->len > 0, wait_ns) < 0)
			return worker_fail(p->w, &p->c, "the broker closed the connection");
		if (producer_input(p) < 0 || perf_conn_flush(&p->c) < 0)
			return worker_fail(p->w, &p->c, "protocol error");
	}
	if (p->base != p->next)
		fprintf(stderr,
		    "warren-perf: producer %d: %llu confirms still outstanding at the end\n",
		    p->w->id, (unsigned long long)(p->next - p->base));
}

void *perf_producer_main(void *arg)
{
	struct perf_worker *w = arg;
	struct producer p = { .w = w, .o = w->run->o, .base = 1, .next = 1 };
	struct amqp_method m = { .id = AMQP_ID_confirm_select }, reply;

	if (perf_conn_open(&p.c, p.o) < 0 || producer_encode(&p) < 0) {
		worker_fail(w, &p.c, "cannot connect");
		goto out;
	}
	if (p.o->confirm > 0) {
		p.settled = calloc(p.o->confirm, 1);
		if (p.settled == NULL ||
		    perf_conn_call(&p.c, &m, AMQP_ID_confirm_select_ok, &reply, CALL_MS) < 0) {
			worker_fail(w, &p.c, "confirm.select failed");
			goto out;
		}
	}
	producer_run(&p);
out:
	perf_conn_close(&p.c);
	free(p.buf);
	free(p.settled);
	atomic_store(&w->done, true);
	return NULL;
}

/* ---- Consumer ---- */

struct consumer {
	struct perf_worker *w;
	const struct perf_opts *o;
	struct perf_conn c;
	bool in_content, want_header, first_body;
	uint64_t tag, body_left, delivered;
	uint64_t unacked, last_tag; /* complete messages not acked yet, and the last one's tag */
	bool blocked;
};

static uint64_t get_u64(const uint8_t *b)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

/* One message is complete: count it, ack it (or every multi_ack-th). */
static int consumer_complete(struct consumer *s)
{
	struct amqp_method m = { .id = AMQP_ID_basic_ack };

	s->in_content = false;
	s->delivered++;
	s->last_tag = s->tag;
	perf_count(&s->w->delivered, 1);
	if (s->o->autoack)
		return 0;
	if (++s->unacked < s->o->multi_ack)
		return 0;
	m.u.basic_ack.delivery_tag = s->tag;
	m.u.basic_ack.multiple = s->o->multi_ack > 1;
	s->unacked = 0;
	return perf_conn_queue_method(&s->c, &m);
}

static int consumer_input(struct consumer *s, uint64_t now)
{
	struct amqp_frame f;
	struct amqp_method m;
	uint64_t lat;
	int r;

	while ((r = perf_conn_next_frame(&s->c, &f)) == 1) {
		if (f.type == AMQP_FRAME_HEADER && s->in_content && s->want_header) {
			if (f.size < 12)
				return perf_conn_fail(&s->c, "content header of %u bytes", f.size);
			s->want_header = false;
			s->body_left = get_u64(f.payload + 4);
			if (s->body_left == 0 && consumer_complete(s) < 0)
				return -1;
			continue;
		}
		if (f.type == AMQP_FRAME_BODY && s->in_content && !s->want_header) {
			size_t k = perf_stamp_len(s->o->size);

			if (s->first_body && k > 0 && f.size >= k &&
			    stamp_latency(f.payload, k, now, &lat))
				perf_hist_add(&s->w->lat, lat);
			s->first_body = false;
			if (f.size > s->body_left)
				return perf_conn_fail(
				    &s->c, "body frames longer than the header said");
			s->body_left -= f.size;
			if (s->body_left == 0 && consumer_complete(s) < 0)
				return -1;
			continue;
		}
		if (f.type == AMQP_FRAME_HEARTBEAT)
			continue;
		if (f.type != AMQP_FRAME_METHOD || s->in_content)
			return perf_conn_fail(&s->c, "unexpected frame of type %u", f.type);
		r = amqp_method_decode(f.payload, f.size, &m);
		if (r < 0)
			return perf_conn_fail(&s->c, "malformed method: %s", amqp_strerror(r));
		if (m.id == AMQP_ID_basic_deliver) {
			s->in_content = s->want_header = s->first_body = true;
			s->tag = m.u.basic_deliver.delivery_tag;
			continue;
		}
		if (m.id == AMQP_ID_basic_cancel)
			return perf_conn_fail(&s->c, "the broker cancelled the consumer");
		if (perf_conn_handle_async(&s->c, &m, &s->blocked) < 0)
			return -1;
	}
	return r;
}

void *perf_consumer_main(void *arg)
{
	struct perf_worker *w = arg;
	struct perf_run *run = w->run;
	struct consumer s = { .w = w, .o = run->o };
	struct amqp_method m = { .id = AMQP_ID_basic_qos }, reply;
	char tag[64];
	uint64_t now;

	if (perf_conn_open(&s.c, s.o) < 0) {
		worker_fail(w, &s.c, "cannot connect");
		goto ready;
	}
	if (s.o->prefetch > 0) {
		m.u.basic_qos.prefetch_count = s.o->prefetch;
		if (perf_conn_call(&s.c, &m, AMQP_ID_basic_qos_ok, &reply, CALL_MS) < 0) {
			worker_fail(w, &s.c, "basic.qos failed");
			goto ready;
		}
	}
	snprintf(tag, sizeof(tag), "warren-perf-%d", w->id);
	memset(&m, 0, sizeof(m));
	m.id = AMQP_ID_basic_consume;
	m.u.basic_consume.queue = amqp_cstr(w->queue);
	m.u.basic_consume.consumer_tag = amqp_cstr(tag);
	m.u.basic_consume.no_ack = s.o->autoack;
	if (perf_conn_call(&s.c, &m, AMQP_ID_basic_consume_ok, &reply, CALL_MS) < 0)
		worker_fail(w, &s.c, "basic.consume failed");
ready:
	pthread_mutex_lock(&run->lock);
	run->ready++;
	pthread_cond_broadcast(&run->cond);
	pthread_mutex_unlock(&run->lock);

	/* Deliveries may have come in the read that brought consume-ok: parse before waiting. */
	now = perf_now_ns();
	while (!w->failed) {
		uint64_t before = s.delivered;

		if (consumer_input(&s, now) < 0 || perf_conn_flush(&s.c) < 0) {
			worker_fail(w, &s.c, "protocol error");
			break;
		}
		if (s.delivered != before)
			atomic_store_explicit(&w->last_ns, now, memory_order_relaxed);
		if (stopping(w) || (s.o->cmessages > 0 && s.delivered >= s.o->cmessages))
			break;
		if (perf_conn_wait(&s.c, s.c.out_len > s.c.out_off, POLL_NS) < 0) {
			worker_fail(w, &s.c, "the broker closed the connection");
			break;
		}
		now = perf_now_ns(); /* every message of this read arrived by now */
	}
	if (!w->failed && s.unacked > 0) { /* settle the last, partial multi-ack group */
		m = (struct amqp_method){ .id = AMQP_ID_basic_ack };
		m.u.basic_ack.delivery_tag = s.last_tag;
		m.u.basic_ack.multiple = true;
		perf_conn_queue_method(&s.c, &m);
	}
	perf_conn_close(&s.c);
	atomic_store(&w->done, true);
	return NULL;
}

/* ---- Connection churn ---- */

void *perf_churn_main(void *arg)
{
	struct perf_worker *w = arg;
	const struct perf_opts *o = w->run->o;
	struct perf_conn c;
	uint64_t t0;

	while (!stopping(w)) {
		t0 = perf_now_ns();
		if (perf_conn_open(&c, o) < 0 || perf_queue_declare(&c, o, w->queue, NULL) < 0) {
			worker_fail(w, &c, "cannot connect");
			perf_conn_free(&c);
			break;
		}
		perf_conn_close(&c);
		perf_count(&w->cycles, 1);
		perf_hist_add(&w->lat, perf_now_ns() - t0);
		atomic_store_explicit(&w->last_ns, perf_now_ns(), memory_order_relaxed);
	}
	atomic_store(&w->done, true);
	return NULL;
}
