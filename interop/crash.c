/*
 * crash.c: the crash tests' workload and check (see crash.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interop/client.h"
#include "interop/crash.h"

static amqp_basic_properties_t persistent = { ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
	.delivery_mode = 2 };

/* Message i's body: recognisable, of varied length, so that any corruption shows. */
static size_t crash_body(unsigned cycle, unsigned i, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "c%u-m%u-", cycle, i);
	size_t len = (size_t)n + (i * 37) % 2000, k;

	for (k = (size_t)n; k < len && k < cap; k++)
		buf[k] = (char)('a' + (i + k) % 26);
	return len < cap ? len : cap;
}

/* The workload (see crash.h): the child dies quietly with the broker. */
void crash_workload(unsigned cycle, const char *queue, FILE *log)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);
	amqp_rpc_reply_t r;
	char body[2100];
	unsigned long long confirmed_upto = 0;
	unsigned i;

	if (amqp_socket_open(s, broker.host, broker.port) != 0)
		_exit(0);
	r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
	if (r.reply_type != AMQP_RESPONSE_NORMAL || amqp_channel_open(c, 1) == NULL ||
	    amqp_confirm_select(c, 1) == NULL)
		_exit(0);
	for (i = 0;; i++) {
		size_t n = crash_body(cycle, i, body, sizeof(body));
		if (amqp_basic_publish(c, 1, amqp_empty_bytes, B(queue), 0, 0, &persistent,
		        (amqp_bytes_t){ n, body }) != 0)
			_exit(0);
		if (i % 16 != 15)
			continue;
		/* A window of 16: wait until every publish so far is confirmed. */
		while (confirmed_upto < (unsigned long long)i + 1) {
			amqp_frame_t f;
			struct timeval tv = { 5, 0 };
			if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK)
				_exit(0);
			if (f.frame_type == AMQP_FRAME_METHOD &&
			    f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
				amqp_basic_ack_t *a = f.payload.method.decoded;
				fprintf(log, "C %llu %d\n", (unsigned long long)a->delivery_tag,
				    a->multiple);
				fflush(log);
				if (a->multiple || a->delivery_tag == confirmed_upto + 1)
					confirmed_upto = a->delivery_tag;
			} else if (f.frame_type == AMQP_FRAME_METHOD) {
				_exit(0); /* a nack or a close: this cycle's workload is over */
			}
		}
		/* Now and then take the oldest message and ack it. */
		if (i % 64 == 63) {
			amqp_rpc_reply_t g = amqp_basic_get(c, 1, B(queue), 0);
			amqp_message_t msg;
			unsigned id, cyc;

			if (g.reply_type != AMQP_RESPONSE_NORMAL)
				_exit(0);
			if (g.reply.id != AMQP_BASIC_GET_OK_METHOD)
				continue;
			uint64_t tag = ((amqp_basic_get_ok_t *)g.reply.decoded)->delivery_tag;
			if (amqp_read_message(c, 1, &msg, 0).reply_type != AMQP_RESPONSE_NORMAL)
				_exit(0);
			char head[32];
			size_t hl =
			    msg.body.len < sizeof(head) - 1 ? msg.body.len : sizeof(head) - 1;

			memcpy(head, msg.body.bytes, hl); /* the body is not NUL-terminated */
			head[hl] = '\0';
			if (sscanf(head, "c%u-m%u-", &cyc, &id) == 2 &&
			    amqp_basic_ack(c, 1, tag, 0) == 0) {
				fprintf(log, "A %u\n", id);
				fflush(log);
			}
			amqp_destroy_message(&msg);
		}
		amqp_maybe_release_buffers(c);
	}
}

void crash_check(unsigned cycle, const char *queue, const char *logpath, struct crash_tally *tally)
{
	struct crash_tally found = { 0, 0, 0 };
	static uint8_t confirmed[1 << 20], acked[1 << 20], seen[1 << 20];
	unsigned long long tag, maxtag = 0;
	unsigned id, cyc;
	char line[64];
	int multiple;
	FILE *log;
	conn_t c;
	struct msg m;

	memset(confirmed, 0, sizeof(confirmed));
	memset(acked, 0, sizeof(acked));
	memset(seen, 0, sizeof(seen));
	log = fopen(logpath, "r");
	ck_assert_ptr_nonnull(log);
	while (fgets(line, sizeof(line), log) != NULL) {
		if (sscanf(line, "C %llu %d", &tag, &multiple) == 2 && tag > 0 &&
		    tag <= sizeof(confirmed)) {
			if (multiple)
				for (unsigned long long t = 1; t <= tag; t++)
					confirmed[t - 1] = 1; /* tag t is message t - 1 */
			confirmed[tag - 1] = 1;
			if (tag > maxtag)
				maxtag = tag;
		} else if (sscanf(line, "A %u", &id) == 1 && id < sizeof(acked)) {
			acked[id] = 1;
		}
	}
	fclose(log);
	/* Drain: every message must be one that was published, exact, and only once. */
	c = client_connect_ch1();
	while (get_msg(c, 1, queue, true, &m)) {
		char want[2100];
		size_t n;
		ck_assert_msg(
		    sscanf((const char *)m.body, "c%u-m%u-", &cyc, &id) == 2 && cyc == cycle,
		    "cycle %u, %s: a message that was never published: \"%.40s\"", cycle, queue,
		    (const char *)m.body);
		ck_assert_uint_lt(id, sizeof(seen));
		n = crash_body(cycle, id, want, sizeof(want));
		ck_assert_msg(m.body_len == n && memcmp(m.body, want, n) == 0,
		    "cycle %u, %s: message %u came back altered", cycle, queue, id);
		ck_assert_msg(
		    !seen[id], "cycle %u, %s: message %u came back twice", cycle, queue, id);
		seen[id] = 1;
		found.back++;
		msg_free(&m);
	}
	for (id = 0; id < maxtag; id++) {
		found.confirmed += confirmed[id];
		found.acked += confirmed[id] && acked[id];
		ck_assert_msg(!confirmed[id] || acked[id] || seen[id],
		    "cycle %u, %s: message %u was confirmed, never acked, and is lost", cycle,
		    queue, id);
	}
	if (tally != NULL) {
		tally->confirmed += found.confirmed;
		tally->acked += found.acked;
		tally->back += found.back;
	}
	CHECK_RPC(c, amqp_queue_delete(c, 1, B(queue), 0, 0));
	client_close(c);
}
