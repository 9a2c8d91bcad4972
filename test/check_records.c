/*
 * check_records.c: the record codec (server/persist/persist_record.c): every record type's golden
 * bytes, each decoder fed every truncation and corruption of valid records (exactly as long as
 * given, so ASan sees a read past the end): an error or a shorter tail, never a crash; malformed
 * records refused; the fixtures' records (test/record_fixture.h) decode and encode again to the
 * same bytes; the delayed exchange's records.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/persist/persist_private.h"
#include "server/server.h"
#include "test/check_util.h"
#include "test/record_fixture.h"

/* What a decoder made of one record (the fields of its type). */
struct decoded {
	struct rec_exchange x;
	struct rec_queue q;
	struct rec_binding b;
	struct rec_message m;
	struct rec_entry e;
	struct dead_range d;
	struct {
		uint64_t id, qid, mark;
		uint32_t n, count;
	} u;
};

static int decode(
    enum rtype t, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen, struct decoded *out)
{
	uint64_t last;
	int r;

	switch (t) {
	case R_EXCHANGE: return record_exchange_decode(k, klen, v, vlen, &out->x);
	case R_QUEUE: return record_queue_decode(k, klen, v, vlen, &out->q);
	case R_BINDING: return record_binding_decode(k, klen, v, vlen, &out->b);
	case R_MESSAGE:
		if ((r = record_id_decode(k, klen, &out->u.id)) != 0)
			return r;
		return record_message_decode(v, vlen, &out->m);
	case R_REFS: return record_refs_decode(k, klen, v, vlen, &out->u.id, &out->u.n);
	case R_ENTRY:
		if ((r = record_entry_decode(k, klen, v, vlen, &out->e)) != 0 ||
		    out->e.record.len == 0)
			return r;
		return record_message_decode(out->e.record.ptr, out->e.record.len, &out->m);
	case R_DELIVERED:
		return record_delivered_decode(k, klen, v, vlen, &out->u.qid, &out->u.mark);
	case R_DEAD: return record_dead_decode(k, klen, v, vlen, &out->d);
	case R_SEGMENT:
		if ((r = record_entry_key_decode(k, klen, &out->e.qid, &out->e.ri, &out->e.seq)) !=
		    0)
			return r;
		return record_segment_check(v, vlen, &out->u.count, &last);
	}
	return RECORD_E_KIND;
}

/* Decode heap copies of exactly the lengths given (a read past them is an ASan error). */
static int decode_exact(enum rtype t, const uint8_t *k, size_t klen, const uint8_t *v, size_t vlen)
{
	uint8_t *kc = heap_copy(k, klen), *vc = heap_copy(v, vlen);
	struct decoded out;
	int r = decode(t, kc, klen, vc, vlen, &out);

	free(kc);
	free(vc);
	ck_assert_msg(r == RECORD_OK || (r < 0 && strcmp(record_strerror(r), "unknown error") != 0),
	    "decoder returned %d", r);
	return r;
}

static struct frecord fx[128];
static size_t nfx;

static void records_setup(void)
{
	size_t i, n = load_fixture("store-v2.records", fx, 64);

	/* Not format 2's scratch segment: scratch is emptied at every start, its layout is free. */
	for (i = nfx = 0; i < n; i++)
		if (fx[i].type != R_SEGMENT)
			fx[nfx++] = fx[i];
	ck_assert_uint_ge(nfx, 20);
	nfx += load_fixture("store-v3.records", fx + nfx, 64);
	ck_assert_uint_ge(nfx, 40);
}

/* A struct message over a decoded msgs record (slices), as the writers see one. */
static struct message message_over(const struct rec_message *rm, uint64_t id)
{
	struct message m = { 0 };

	m.exchange = (char *)(uintptr_t)rm->exchange.ptr;
	m.exchange_len = (uint8_t)rm->exchange.len;
	m.routing_key = (char *)(uintptr_t)rm->routing_key.ptr;
	m.rk_len = (uint8_t)rm->routing_key.len;
	m.props = (uint8_t *)(uintptr_t)rm->props.ptr;
	m.props_len = (uint32_t)rm->props.len;
	m.body = (uint8_t *)(uintptr_t)rm->body.ptr;
	m.body_have = m.body_size = rm->body.len;
	m.id = id;
	return m;
}

/* Encode again from what was decoded: must give the record's bytes. */
static void reencode(const struct frecord *r)
{
	struct decoded d;
	struct buf k = { 0 }, v = { 0 };
	uint8_t fk[DEAD_KEY_LEN], fv[ENTRY_VAL_COUNT_LEN];
	size_t fklen = 0, fvlen = 0;
	struct rec_segment seg;
	struct rec_segment_entry se;
	uint32_t count = 0;

	ck_assert_int_eq(decode(r->type, r->k, r->klen, r->v, r->vlen, &d), RECORD_OK);
	switch (r->type) {
	case R_EXCHANGE: record_exchange_encode(&k, &v, &d.x); break;
	case R_QUEUE: record_queue_encode(&k, &v, &d.q); break;
	case R_BINDING:
		record_binding_encode(&k, &d.b);
		record_binding_value(&v, &d.b);
		break;
	case R_MESSAGE:
		buf_u64(&k, d.u.id);
		buf_str(&v, d.m.exchange.ptr, d.m.exchange.len);
		buf_str(&v, d.m.routing_key.ptr, d.m.routing_key.len);
		buf_u32(&v, (uint32_t)d.m.props.len);
		buf_add(&v, d.m.props.ptr, d.m.props.len);
		buf_add(&v, d.m.body.ptr, d.m.body.len);
		break;
	case R_REFS:
		buf_u64(&k, d.u.id);
		record_refs_value(fv, d.u.n);
		fvlen = REFS_VAL_LEN;
		break;
	case R_ENTRY:
		record_entry_key(fk, d.e.qid, d.e.ri, d.e.seq);
		fklen = ENTRY_KEY_LEN;
		if (d.e.record.len > 0) {
			struct message m = message_over(&d.m, d.e.id);
			record_entry_value_with(
			    &v, d.e.id, d.e.size, d.e.expires_at, d.e.delivery_count, &m);
		} else if (d.e.delivery_count > 0) {
			record_entry_value_count(
			    fv, d.e.id, d.e.size, d.e.expires_at, d.e.delivery_count);
			fvlen = ENTRY_VAL_COUNT_LEN;
		} else {
			record_entry_value(fv, d.e.id, d.e.size, d.e.expires_at);
			fvlen = ENTRY_VAL_LEN;
		}
		break;
	case R_DELIVERED:
		record_delivered_key(fk, d.u.qid);
		fklen = DELIVERED_KEY_LEN;
		amqp_store_u64(fv, d.u.mark);
		fvlen = 8;
		break;
	case R_DEAD:
		record_dead_key(fk, d.d.qid, d.d.ri, d.d.lo);
		fklen = DEAD_KEY_LEN;
		amqp_store_u64(fv, d.d.hi);
		fvlen = 8;
		break;
	case R_SEGMENT:
		record_entry_key(fk, d.e.qid, d.e.ri, d.e.seq);
		fklen = ENTRY_KEY_LEN;
		/* Each entry's message rebuilt from its record, and added as persist_page_out does. */
		record_segment_begin(&v);
		ck_assert_int_eq(record_segment_open(&seg, r->v, r->vlen), 0);
		while (record_segment_next(&seg, &se) == 1) {
			struct rec_message rm;
			struct message m;
			ck_assert_int_eq(
			    record_message_decode(se.record.ptr, se.record.len, &rm), 0);
			m = message_over(&rm, se.id);
			record_segment_add(
			    &v, se.seq, se.redelivered, se.delivery_count, se.expires_at, &m);
			count++;
		}
		record_segment_end(&v, count);
		break;
	}
	if (fklen > 0)
		buf_add(&k, fk, fklen);
	if (fvlen > 0)
		buf_add(&v, fv, fvlen);
	ck_assert_msg(k.len == r->klen && (k.len == 0 || memcmp(k.p, r->k, k.len) == 0),
	    "%s record: key differs", r->table);
	ck_assert_msg(v.len == r->vlen && (v.len == 0 || memcmp(v.p, r->v, v.len) == 0),
	    "%s record: value differs", r->table);
	free(k.p);
	free(v.p);
}

START_TEST(records_fixture_decodes_and_encodes_again)
{
	size_t i;
	int seen = 0;

	for (i = 0; i < nfx; i++) {
		reencode(&fx[i]);
		seen |= 1 << fx[i].type;
	}
	ck_assert_int_eq(seen, (1 << (R_SEGMENT + 1)) - 1); /* every type */
}
END_TEST

/* Every record cut short, key or value, at every length: an error, or a shorter tail. */
START_TEST(records_truncated)
{
	size_t i, n;
	int r;

	for (i = 0; i < nfx; i++) {
		const struct frecord *x = &fx[i];
		for (n = 0; n < x->klen; n++) {
			r = decode_exact(x->type, x->k, n, x->v, x->vlen);
			/* Only a binding's key ends in a tail (its arguments) that can be cut. */
			if (x->type != R_BINDING)
				ck_assert_msg(r < 0, "%s key cut to %zu: decoded", x->table, n);
		}
		for (n = 0; n < x->vlen; n++) {
			r = decode_exact(x->type, x->k, x->klen, x->v, n);
			/* An entry holding a message ends, as a msgs record does, in a body. */
			if ((x->type == R_ENTRY &&
			        (x->vlen == ENTRY_VAL_LEN ||
			            (n < ENTRY_VAL_COUNT_LEN && n != ENTRY_VAL_LEN))) ||
			    x->type == R_REFS || x->type == R_DELIVERED || x->type == R_DEAD ||
			    x->type == R_SEGMENT)
				ck_assert_msg(r < 0, "%s value cut to %zu: decoded", x->table, n);
		}
	}
}
END_TEST

/* Every byte of every record replaced by a few values: decoded or refused, never a crash. */
START_TEST(records_corrupted_bytes)
{
	static const uint8_t values[] = { 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff };
	uint8_t k[256], v[2048];
	size_t i, j, a;

	for (i = 0; i < nfx; i++) {
		const struct frecord *x = &fx[i];
		for (j = 0; j < x->klen + x->vlen; j++) {
			for (a = 0; a < sizeof(values); a++) {
				memcpy(k, x->k, x->klen);
				memcpy(v, x->v, x->vlen);
				if (j < x->klen)
					k[j] = values[a];
				else
					v[j - x->klen] = values[a];
				decode_exact(x->type, k, x->klen, v, x->vlen);
			}
		}
	}
}
END_TEST

/* Records built by hand that must be refused, each with its error. */
struct bad_record {
	const char *name;
	enum rtype type;
	const char *k, *v; /* hex */
	int err;
};

static const struct bad_record bad_records[] = {
	{ "exchange: empty key", R_EXCHANGE, "-", "0000", RECORD_E_SHORT },
	{ "exchange: a queue's key", R_EXCHANGE, "71012f0171", "0000", RECORD_E_KIND },
	{ "exchange: name longer than the key", R_EXCHANGE, "78012f0571", "0000", RECORD_E_SHORT },
	{ "exchange: bytes after the name", R_EXCHANGE, "78012f017100", "0000", RECORD_E_LONG },
	{ "exchange: no flags", R_EXCHANGE, "78012f0171", "00", RECORD_E_SHORT },
	{ "exchange: type 6", R_EXCHANGE, "78012f0171", "0600", RECORD_E_VALUE },
	{ "exchange: type 5 without its id", R_EXCHANGE, "78012f0171", "0500", RECORD_E_SHORT },
	{ "exchange: type 5, id 0", R_EXCHANGE, "78012f0171", "05000000000000000000",
	    RECORD_E_VALUE },
	{ "queue: qid 0", R_QUEUE, "71012f0171", "000000000000000000", RECORD_E_VALUE },
	{ "queue: qid cut short", R_QUEUE, "71012f0171", "00000000000001", RECORD_E_SHORT },
	{ "queue: no flags", R_QUEUE, "71012f0171", "0000000000000001", RECORD_E_SHORT },
	{ "binding: destination kind z", R_BINDING, "62012f01787a01710000", "-", RECORD_E_VALUE },
	{ "binding: no key", R_BINDING, "62012f0178710171", "-", RECORD_E_SHORT },
	{ "binding: vhost longer than the key", R_BINDING, "62ff2f", "-", RECORD_E_SHORT },
	{ "binding: 7-byte ring place", R_BINDING, "62012f017871017101310000", "00000000000001",
	    RECORD_E_SHORT },
	{ "binding: 9-byte ring place", R_BINDING, "62012f017871017101310000", "000000000000000100",
	    RECORD_E_LONG },
	{ "binding: ring place 0", R_BINDING, "62012f017871017101310000", "0000000000000000",
	    RECORD_E_VALUE },
	{ "message: 7-byte id", R_MESSAGE, "00000000000001", "0000000000000000", RECORD_E_SHORT },
	{ "message: 9-byte id", R_MESSAGE, "000000000000000100", "0000000000000000",
	    RECORD_E_LONG },
	{ "message: properties past the end", R_MESSAGE, "0000000000000001", "0000ffffffff00",
	    RECORD_E_SHORT },
	{ "message: no properties length", R_MESSAGE, "0000000000000001", "00000000",
	    RECORD_E_SHORT },
	{ "refs: 3-byte count", R_REFS, "0000000000000001", "000002", RECORD_E_SHORT },
	{ "refs: 5-byte count", R_REFS, "0000000000000001", "0000000002", RECORD_E_LONG },
	{ "entry: 16-byte key", R_ENTRY, "0000000000000001ff00000000000001",
	    "000000000000000100000000000000010000000000000000", RECORD_E_SHORT },
	{ "entry: 18-byte key", R_ENTRY, "0000000000000001ff000000000000000100",
	    "000000000000000100000000000000010000000000000000", RECORD_E_LONG },
	{ "entry: 23-byte value", R_ENTRY, "0000000000000001ff0000000000000001",
	    "0000000000000001000000000000000100000000000000", RECORD_E_SHORT },
	{ "entry: its message's properties past the end", R_ENTRY,
	    "0000000000000001ff0000000000000001",
	    "000000000000000100000000000000010000000000000000"
	    "00000000"
	    "0000ffffffff00",
	    RECORD_E_SHORT },
	{ "entry: a delivery count cut short", R_ENTRY, "0000000000000001ff0000000000000001",
	    "000000000000000100000000000000010000000000000000000000", RECORD_E_SHORT },
	{ "delivered: 16-byte key", R_DELIVERED, "64656c69766572656400000000000001",
	    "0000000000000001", RECORD_E_SHORT },
	{ "delivered: a dead key", R_DELIVERED, "646561640000000000000003ff000000000000000a",
	    "0000000000000014", RECORD_E_KIND },
	{ "dead: 7-byte hi", R_DEAD, "646561640000000000000003ff000000000000000a", "00000000000014",
	    RECORD_E_SHORT },
	{ "dead: key cut short", R_DEAD, "646561640000000000000003ff", "0000000000000014",
	    RECORD_E_SHORT },
	{ "segment: no count", R_SEGMENT, "0000000000000004ff0000000000000005", "000000",
	    RECORD_E_SHORT },
	{ "segment: 2 entries counted, 1 there", R_SEGMENT, "0000000000000004ff0000000000000005",
	    "00000002"
	    "00000000000000050000000000000000000000000000000000000000050000000700000000000000",
	    RECORD_E_SHORT },
	{ "segment: record length past the end", R_SEGMENT, "0000000000000004ff0000000000000005",
	    "00000001"
	    "0000000000000005000000000000000000000000000000000000000005ffffffff00000000000000",
	    RECORD_E_SHORT },
	{ "segment: bytes after its entries", R_SEGMENT, "0000000000000004ff0000000000000005",
	    "00000001"
	    "00000000000000050000000000000000000000000000000000000000050000000700000000000000"
	    "ff",
	    RECORD_E_LONG },
};

START_TEST(records_malformed)
{
	const struct bad_record *b = &bad_records[_i];
	uint8_t k[256], v[256];
	size_t klen = unhex(b->k, k, sizeof(k)), vlen = unhex(b->v, v, sizeof(v));
	int r = decode_exact(b->type, k, klen, v, vlen);

	ck_assert_msg(r == b->err, "%s: %d (%s), not %d (%s)", b->name, r, record_strerror(r),
	    b->err, record_strerror(b->err));
}
END_TEST

/* The writers' records, byte for byte, as the formats in persist_private.h say. */
START_TEST(records_golden)
{
	struct buf k = { 0 }, v = { 0 };
	uint8_t key[DEAD_KEY_LEN], val[ENTRY_VAL_COUNT_LEN];
	char h[256];
	static const uint8_t xk[] = { 'x', 1, '/', 2, 'e', 'x' };
	static const uint8_t xv[] = { 3, 3, 0xAA };
	static const uint8_t bk[] = { 'b', 1, '/', 1, 's', 'q', 1, 'd', 2, 'r', 'k', 0xBB };
	static const uint8_t ek[] = { 0, 0, 0, 0, 0, 0, 0, 7, 253, 0, 0, 0, 0, 0, 0, 1, 0 };
	static const uint8_t dk[] = { 'd', 'e', 'a', 'd', 0, 0, 0, 0, 0, 0, 0, 7, 255, 0, 0, 0, 0,
		0, 0, 0, 9 };

	record_exchange_encode(&k, &v,
	    &(struct rec_exchange){ amqp_cstr("/"), amqp_cstr("ex"), { (const uint8_t *)"\xaa", 1 },
	        EX_HEADERS, true, true, 0 });
	ck_assert_msg(k.len == sizeof(xk) && memcmp(k.p, xk, k.len) == 0, "%s",
	    hex(k.p, k.len, h, sizeof(h)));
	ck_assert(v.len == sizeof(xv) && memcmp(v.p, xv, v.len) == 0);
	k.len = 0;
	record_exchange_encode(&k, NULL,
	    &(struct rec_exchange){
	        amqp_cstr("/"), amqp_cstr("ex"), { NULL, 0 }, 0, false, false, 0 });
	ck_assert(k.len == sizeof(xk) && memcmp(k.p, xk, k.len) == 0);
	k.len = 0;
	record_binding_encode(&k,
	    &(struct rec_binding){ amqp_cstr("/"), amqp_cstr("s"), amqp_cstr("d"), amqp_cstr("rk"),
	        { (const uint8_t *)"\xbb", 1 }, 'q', 0 });
	ck_assert_msg(k.len == sizeof(bk) && memcmp(k.p, bk, k.len) == 0, "%s",
	    hex(k.p, k.len, h, sizeof(h)));
	v.len = 0;
	record_binding_value(&v, &(struct rec_binding){ .ring_seq = 0 });
	ck_assert_uint_eq(v.len, 0);
	/* A consistent-hash exchange (type 4) and its binding's place in the ring. */
	record_binding_value(&v, &(struct rec_binding){ .ring_seq = 0x0102030405060708ULL });
	ck_assert(v.len == 8 && memcmp(v.p, "\1\2\3\4\5\6\7\x08", 8) == 0);
	{
		struct rec_binding rb;
		struct rec_exchange rx;
		ck_assert_int_eq(record_binding_decode(k.p, k.len, v.p, v.len, &rb), RECORD_OK);
		ck_assert_uint_eq(rb.ring_seq, 0x0102030405060708ULL);
		ck_assert_int_eq(record_binding_decode(k.p, k.len, "", 0, &rb), RECORD_OK);
		ck_assert_uint_eq(rb.ring_seq, 0);
		ck_assert_int_eq(record_exchange_decode(xk, sizeof(xk), "\4\0", 2, &rx), RECORD_OK);
		ck_assert_uint_eq(rx.type, EX_CONSISTENT_HASH);
	}
	v.len = 0;
	record_entry_key(key, 7, 2, 256);
	ck_assert_int_eq(memcmp(key, ek, ENTRY_KEY_LEN), 0);
	record_dead_key(key, 7, 0, 9);
	ck_assert_int_eq(memcmp(key, dk, DEAD_KEY_LEN), 0);
	record_delivered_key(key, 0x0102030405060708ULL);
	ck_assert_int_eq(memcmp(key, "delivered\1\2\3\4\5\6\7\x08", DELIVERED_KEY_LEN), 0);
	record_entry_value(val, 1, 2, 3);
	ck_assert_int_eq(
	    memcmp(val, "\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\3", ENTRY_VAL_LEN), 0);
	record_entry_value_count(val, 1, 2, 3, 0x01020304);
	ck_assert_int_eq(memcmp(val, "\0\0\0\0\0\0\0\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0\3\1\2\3\4",
	                     ENTRY_VAL_COUNT_LEN),
	    0);
	record_refs_value(val, 0x01020304);
	ck_assert_int_eq(memcmp(val, "\1\2\3\4", REFS_VAL_LEN), 0);
	ck_assert_int_eq(record_meta_kind("other", 5), RECORD_E_KIND);
	ck_assert_int_eq(record_def_kind("", 0), RECORD_E_SHORT);
	free(k.p);
	free(v.p);
}
END_TEST

/*
 * A delayed exchange's record (type 5: type, flags, its id, arguments) and a delayed message's
 * keys (delayed table: xid, due, seq; scratch: 8 zero bytes first) and value (a msgs record):
 * golden bytes, every truncation, every byte corrupted, and the hand-made malformed ones.
 */
START_TEST(records_delayed)
{
	static const uint8_t xk[] = { 'x', 1, '/', 2, 'd', 'x' };
	static const uint8_t xv[] = { 5, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0xAA };
	static const uint8_t dk[] = { 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		0, 0, 3 };
	static const uint8_t mv[] = { 1, 'x', 1, 'k', 0, 0, 0, 2, 0, 0, 'h', 'i' };
	static const uint8_t values[] = { 0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff };
	struct buf k = { 0 }, v = { 0 };
	uint8_t key[DELAY_SCRATCH_KEY_LEN], kc[64], vc[64];
	struct rec_exchange rx;
	struct rec_delay rd;
	uint64_t xid, due, seq;
	size_t n, j, a;
	char h[256];

	record_exchange_encode(&k, &v,
	    &(struct rec_exchange){ amqp_cstr("/"), amqp_cstr("dx"), { (const uint8_t *)"\xaa", 1 },
	        EX_DELAYED, false, false, 9 });
	ck_assert(k.len == sizeof(xk) && memcmp(k.p, xk, k.len) == 0);
	ck_assert_msg(v.len == sizeof(xv) && memcmp(v.p, xv, v.len) == 0, "%s",
	    hex(v.p, v.len, h, sizeof(h)));
	ck_assert_int_eq(record_exchange_decode(xk, sizeof(xk), xv, sizeof(xv), &rx), RECORD_OK);
	ck_assert(
	    rx.type == EX_DELAYED && rx.xid == 9 && rx.args.len == 1 && rx.args.ptr[0] == 0xAA);
	/* Cut inside its id: short; an id of 0 or a type past 5: out of range. */
	for (n = 2; n < 10; n++) {
		uint8_t *c = heap_copy(xv, n);
		ck_assert_int_eq(record_exchange_decode(xk, sizeof(xk), c, n, &rx), RECORD_E_SHORT);
		free(c);
	}
	ck_assert_int_eq(record_exchange_decode(xk, sizeof(xk), "\5\0\0\0\0\0\0\0\0\0", 10, &rx),
	    RECORD_E_VALUE);
	ck_assert_int_eq(record_exchange_decode(xk, sizeof(xk), "\6\0", 2, &rx), RECORD_E_VALUE);
	/* Other types carry no id. */
	ck_assert_int_eq(record_exchange_decode(xk, sizeof(xk), "\4\0", 2, &rx), RECORD_OK);
	ck_assert_uint_eq(rx.xid, 0);

	record_delay_key(key, 9, 256, 3);
	ck_assert_int_eq(memcmp(key, dk, DELAY_KEY_LEN), 0);
	record_delay_scratch_key(key, 9, 256, 3);
	ck_assert(
	    memcmp(key, "\0\0\0\0\0\0\0\0", 8) == 0 && memcmp(key + 8, dk, DELAY_KEY_LEN) == 0);
	ck_assert_int_eq(
	    record_delay_key_decode(key, DELAY_SCRATCH_KEY_LEN, &xid, &due, &seq), RECORD_OK);
	ck_assert(xid == 9 && due == 256 && seq == 3);
	ck_assert_int_eq(record_delay_decode(dk, sizeof(dk), mv, sizeof(mv), &rd), RECORD_OK);
	ck_assert(rd.xid == 9 && rd.due == 256 && rd.seq == 3 && rd.msg.body.len == 2 &&
	    rd.msg.props.len == 2 && rd.msg.exchange.len == 1 && rd.msg.routing_key.len == 1);
	/* Keys cut short, one byte long, a scratch key of another kind, id or seq 0. */
	for (n = 0; n < DELAY_KEY_LEN; n++) {
		uint8_t *c = heap_copy(dk, n);
		ck_assert_int_eq(record_delay_key_decode(c, n, &xid, &due, &seq), RECORD_E_SHORT);
		free(c);
	}
	memcpy(kc, dk, sizeof(dk));
	kc[DELAY_KEY_LEN] = 0;
	ck_assert_int_eq(
	    record_delay_key_decode(kc, DELAY_KEY_LEN + 1, &xid, &due, &seq), RECORD_E_LONG);
	key[7] = 1;
	ck_assert_int_eq(
	    record_delay_key_decode(key, DELAY_SCRATCH_KEY_LEN, &xid, &due, &seq), RECORD_E_KIND);
	memset(kc, 0, DELAY_KEY_LEN);
	kc[DELAY_KEY_LEN - 1] = 1;
	ck_assert_int_eq(
	    record_delay_key_decode(kc, DELAY_KEY_LEN, &xid, &due, &seq), RECORD_E_VALUE);
	memcpy(kc, dk, sizeof(dk));
	kc[DELAY_KEY_LEN - 1] = 0;
	ck_assert_int_eq(
	    record_delay_key_decode(kc, DELAY_KEY_LEN, &xid, &due, &seq), RECORD_E_VALUE);
	/* The value cut inside its fields: short. */
	for (n = 0; n < 10; n++) {
		uint8_t *c = heap_copy(mv, n);
		ck_assert_int_eq(record_delay_decode(dk, sizeof(dk), c, n, &rd), RECORD_E_SHORT);
		free(c);
	}
	/* Any byte of key or value corrupted: decoded or refused, never a read past the end. */
	for (j = 0; j < sizeof(dk) + sizeof(mv); j++) {
		for (a = 0; a < sizeof(values); a++) {
			uint8_t *ck, *cv;
			memcpy(kc, dk, sizeof(dk));
			memcpy(vc, mv, sizeof(mv));
			if (j < sizeof(dk))
				kc[j] = values[a];
			else
				vc[j - sizeof(dk)] = values[a];
			ck = heap_copy(kc, sizeof(dk));
			cv = heap_copy(vc, sizeof(mv));
			(void)record_delay_decode(ck, sizeof(dk), cv, sizeof(mv), &rd);
			free(ck);
			free(cv);
		}
	}
	free(k.p);
	free(v.p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("records");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("records");
	tcase_add_checked_fixture(tc, records_setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, records_fixture_decodes_and_encodes_again);
	tcase_add_test(tc, records_truncated);
	tcase_add_test(tc, records_corrupted_bytes);
	tcase_add_loop_test(
	    tc, records_malformed, 0, (int)(sizeof(bad_records) / sizeof(bad_records[0])));
	tcase_add_test(tc, records_golden);
	tcase_add_test(tc, records_delayed);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
