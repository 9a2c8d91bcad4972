/*
 * persist_record.c: the record codec: every record the broker keeps in the store, as bytes, one
 * encoder and one decoder per type, used by the writers (persist.c, persist_page.c), recovery
 * (persist_recover.c) and warrenctl store-dump / store-verify (persist_dump.c). Decoders take
 * bytes from disk: every read goes through the bounds-checked reader of persist_private.h, and a
 * record shorter or longer than its fields, or with a field out of range, is an error
 * (RECORD_E_*), never a read past its end. Decoded strings are slices into the record. The
 * formats (store format 2, see STORE_FORMAT_VERSION) are listed in persist_private.h; all
 * integers are big-endian.
 */
#include <string.h>

#include "server/persist/persist_private.h"

const char *record_strerror(int err)
{
	switch (err) {
	case RECORD_OK: return "ok";
	case RECORD_E_SHORT: return "shorter than its fields";
	case RECORD_E_LONG: return "longer than its fields";
	case RECORD_E_KIND: return "not a record of this kind";
	case RECORD_E_VALUE: return "a field out of range";
	default: return "unknown error";
	}
}

/* The reader's verdict on a record read to its end: short, trailing bytes, or whole. */
static int rd_end(const struct rd *r)
{
	if (r->bad)
		return RECORD_E_SHORT;
	return r->left > 0 ? RECORD_E_LONG : RECORD_OK;
}

/* ---- definitions ---- */

int record_def_kind(const void *key, size_t klen)
{
	if (klen < 1) /* no kind byte */
		return RECORD_E_SHORT;
	return ((const uint8_t *)key)[0];
}

/* kind, vhost, name: the start of every definition's key. */
static void def_key(struct buf *k, char kind, struct amqp_bytes vhost, struct amqp_bytes name)
{
	buf_u8(k, (uint8_t)kind);
	buf_str(k, vhost.ptr, vhost.len);
	buf_str(k, name.ptr, name.len);
}

static int def_key_decode(
    struct rd *k, char kind, struct amqp_bytes *vhost, struct amqp_bytes *name)
{
	uint8_t got = rd_u8(k);

	*vhost = rd_str(k);
	*name = rd_str(k);
	if (k->bad)
		return RECORD_E_SHORT;
	return got == (uint8_t)kind ? RECORD_OK : RECORD_E_KIND;
}

void record_exchange_encode(struct buf *k, struct buf *v, const struct rec_exchange *x)
{
	def_key(k, 'x', x->vhost, x->name);
	if (v == NULL)
		return;
	buf_u8(v, x->type);
	buf_u8(v, (uint8_t)(x->auto_delete | x->internal << 1));
	if (x->type == EX_DELAYED)
		buf_u64(v, x->xid);
	buf_add(v, x->args.ptr, x->args.len);
}

int record_exchange_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_exchange *x)
{
	struct rd k = { key, klen, false }, v = { val, vlen, false };
	uint8_t flags;
	int r;

	if ((r = def_key_decode(&k, 'x', &x->vhost, &x->name)) != 0)
		return r;
	if (k.left > 0)
		return RECORD_E_LONG;
	x->type = rd_u8(&v);
	flags = rd_u8(&v);
	if (v.bad)
		return RECORD_E_SHORT;
	if (x->type > EX_DELAYED)
		return RECORD_E_VALUE;
	x->xid = 0;
	if (x->type == EX_DELAYED) {
		x->xid = rd_u64(&v);
		if (v.bad)
			return RECORD_E_SHORT;
		if (x->xid == 0) /* ids start at 1 */
			return RECORD_E_VALUE;
	}
	x->auto_delete = flags & 1;
	x->internal = (flags >> 1) & 1;
	x->args = (struct amqp_bytes){ v.p, v.left };
	return RECORD_OK;
}

void record_queue_encode(struct buf *k, struct buf *v, const struct rec_queue *q)
{
	def_key(k, 'q', q->vhost, q->name);
	if (v == NULL)
		return;
	buf_u64(v, q->qid);
	buf_u8(v, (uint8_t)q->auto_delete);
	buf_add(v, q->args.ptr, q->args.len);
}

int record_queue_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_queue *q)
{
	struct rd k = { key, klen, false }, v = { val, vlen, false };
	int r;

	if ((r = def_key_decode(&k, 'q', &q->vhost, &q->name)) != 0)
		return r;
	if (k.left > 0)
		return RECORD_E_LONG;
	q->qid = rd_u64(&v);
	q->auto_delete = rd_u8(&v) & 1;
	if (v.bad)
		return RECORD_E_SHORT;
	if (q->qid == 0) /* ids start at 1 */
		return RECORD_E_VALUE;
	q->args = (struct amqp_bytes){ v.p, v.left };
	return RECORD_OK;
}

void record_binding_encode(struct buf *k, const struct rec_binding *b)
{
	def_key(k, 'b', b->vhost, b->source);
	buf_u8(k, b->dest_kind);
	buf_str(k, b->dest.ptr, b->dest.len);
	buf_str(k, b->key.ptr, b->key.len);
	buf_add(k, b->args.ptr, b->args.len);
}

void record_binding_value(struct buf *v, const struct rec_binding *b)
{
	if (b->ring_seq != 0)
		buf_u64(v, b->ring_seq);
}

int record_binding_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_binding *b)
{
	struct rd k = { key, klen, false }, v = { val, vlen, false };
	int r;

	if ((r = def_key_decode(&k, 'b', &b->vhost, &b->source)) != 0)
		return r;
	b->dest_kind = rd_u8(&k);
	b->dest = rd_str(&k);
	b->key = rd_str(&k);
	if (k.bad)
		return RECORD_E_SHORT;
	if (b->dest_kind != 'q' && b->dest_kind != 'x')
		return RECORD_E_VALUE;
	b->args = (struct amqp_bytes){ k.p, k.left };
	/* The value: empty, or a consistent-hash binding's place in its ring (never 0). */
	b->ring_seq = vlen > 0 ? rd_u64(&v) : 0;
	if ((r = rd_end(&v)) != RECORD_OK)
		return r;
	return vlen > 0 && b->ring_seq == 0 ? RECORD_E_VALUE : RECORD_OK;
}

/* ---- messages and their reference counts ---- */

size_t record_message_len(const struct message *m)
{
	return 1 + m->exchange_len + 1 + m->rk_len + 4 + m->props_len + (size_t)m->body_have;
}

void record_message_encode(struct buf *v, const struct message *m)
{
	buf_reserve(v, record_message_len(m));
	buf_str(v, m->exchange, m->exchange_len);
	buf_str(v, m->routing_key, m->rk_len);
	buf_u32(v, m->props_len);
	buf_add(v, m->props, m->props_len);
	buf_add(v, m->body, (size_t)m->body_have);
}

int record_message_decode(const void *val, size_t vlen, struct rec_message *m)
{
	struct rd v = { val, vlen, false };
	uint32_t plen;

	m->exchange = rd_str(&v);
	m->routing_key = rd_str(&v);
	plen = rd_u32(&v);
	m->props.ptr = rd_take(&v, plen);
	m->props.len = plen;
	if (v.bad)
		return RECORD_E_SHORT;
	m->body = (struct amqp_bytes){ v.p, v.left };
	return RECORD_OK;
}

int record_id_decode(const void *key, size_t klen, uint64_t *id)
{
	if (klen != ID_KEY_LEN)
		return klen < ID_KEY_LEN ? RECORD_E_SHORT : RECORD_E_LONG;
	*id = amqp_load_u64(key);
	return RECORD_OK;
}

void record_refs_value(uint8_t val[REFS_VAL_LEN], uint32_t n)
{
	amqp_store_u32(val, n);
}

int record_refs_decode(
    const void *key, size_t klen, const void *val, size_t vlen, uint64_t *id, uint32_t *n)
{
	int r;

	if ((r = record_id_decode(key, klen, id)) != 0)
		return r;
	if (vlen != REFS_VAL_LEN)
		return vlen < REFS_VAL_LEN ? RECORD_E_SHORT : RECORD_E_LONG;
	*n = amqp_load_u32(val);
	return RECORD_OK;
}

/* ---- queue entries ---- */

void record_entry_key(uint8_t key[ENTRY_KEY_LEN], uint64_t qid, unsigned ri, uint64_t seq)
{
	amqp_store_u64(key, qid);
	key[8] = (uint8_t)(255 - ri);
	amqp_store_u64(key + 9, seq);
}

int record_entry_key_decode(
    const void *key, size_t klen, uint64_t *qid, unsigned *ri, uint64_t *seq)
{
	const uint8_t *k = key;

	if (klen != ENTRY_KEY_LEN)
		return klen < ENTRY_KEY_LEN ? RECORD_E_SHORT : RECORD_E_LONG;
	*qid = amqp_load_u64(k);
	*ri = 255u - k[8];
	*seq = amqp_load_u64(k + 9);
	return RECORD_OK;
}

void record_entry_value(uint8_t val[ENTRY_VAL_LEN], uint64_t id, uint64_t size, uint64_t expires_at)
{
	amqp_store_u64(val, id);
	amqp_store_u64(val + 8, size);
	amqp_store_u64(val + 16, expires_at);
}

void record_entry_value_count(uint8_t val[ENTRY_VAL_COUNT_LEN], uint64_t id, uint64_t size,
    uint64_t expires_at, uint32_t delivery_count)
{
	record_entry_value(val, id, size, expires_at);
	amqp_store_u32(val + ENTRY_VAL_LEN, delivery_count);
}

void record_entry_value_with(struct buf *v, uint64_t id, uint64_t size, uint64_t expires_at,
    uint32_t delivery_count, const struct message *m)
{
	buf_reserve(v, ENTRY_VAL_COUNT_LEN + record_message_len(m));
	buf_u64(v, id);
	buf_u64(v, size);
	buf_u64(v, expires_at);
	buf_u32(v, delivery_count);
	record_message_encode(v, m);
}

int record_entry_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_entry *e)
{
	const uint8_t *v = val;
	int r;

	if ((r = record_entry_key_decode(key, klen, &e->qid, &e->ri, &e->seq)) != 0)
		return r;
	if (vlen < ENTRY_VAL_LEN || (vlen > ENTRY_VAL_LEN && vlen < ENTRY_VAL_COUNT_LEN))
		return RECORD_E_SHORT;
	e->id = amqp_load_u64(v);
	e->size = amqp_load_u64(v + 8);
	e->expires_at = amqp_load_u64(v + 16);
	e->delivery_count = vlen > ENTRY_VAL_LEN ? amqp_load_u32(v + ENTRY_VAL_LEN) : 0;
	e->record =
	    (struct amqp_bytes){ vlen > ENTRY_VAL_COUNT_LEN ? v + ENTRY_VAL_COUNT_LEN : NULL,
		    vlen > ENTRY_VAL_COUNT_LEN ? vlen - ENTRY_VAL_COUNT_LEN : 0 };
	return RECORD_OK;
}

/* ---- meta: delivered marks and dead ranges ---- */

#define DELIVERED "delivered"
#define DEAD "dead"

int record_meta_kind(const void *key, size_t klen)
{
	if (klen >= sizeof(DELIVERED) - 1 && memcmp(key, DELIVERED, sizeof(DELIVERED) - 1) == 0)
		return META_DELIVERED;
	if (klen >= sizeof(DEAD) - 1 && memcmp(key, DEAD, sizeof(DEAD) - 1) == 0)
		return META_DEAD;
	return RECORD_E_KIND;
}

void record_delivered_key(uint8_t key[DELIVERED_KEY_LEN], uint64_t qid)
{
	memcpy(key, DELIVERED, sizeof(DELIVERED) - 1);
	amqp_store_u64(key + sizeof(DELIVERED) - 1, qid);
}

int record_delivered_decode(
    const void *key, size_t klen, const void *val, size_t vlen, uint64_t *qid, uint64_t *mark)
{
	if (record_meta_kind(key, klen) != META_DELIVERED)
		return RECORD_E_KIND;
	if (klen != DELIVERED_KEY_LEN || vlen != 8)
		return klen < DELIVERED_KEY_LEN || vlen < 8 ? RECORD_E_SHORT : RECORD_E_LONG;
	*qid = amqp_load_u64((const uint8_t *)key + sizeof(DELIVERED) - 1);
	*mark = amqp_load_u64(val);
	return RECORD_OK;
}

void record_dead_key(uint8_t key[DEAD_KEY_LEN], uint64_t qid, unsigned ri, uint64_t lo)
{
	memcpy(key, DEAD, sizeof(DEAD) - 1);
	record_entry_key(key + sizeof(DEAD) - 1, qid, ri, lo);
}

int record_dead_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct dead_range *d)
{
	if (record_meta_kind(key, klen) != META_DEAD)
		return RECORD_E_KIND;
	if (klen != DEAD_KEY_LEN || vlen != 8)
		return klen < DEAD_KEY_LEN || vlen < 8 ? RECORD_E_SHORT : RECORD_E_LONG;
	record_entry_key_decode(
	    (const uint8_t *)key + sizeof(DEAD) - 1, ENTRY_KEY_LEN, &d->qid, &d->ri, &d->lo);
	d->hi = amqp_load_u64(val);
	return RECORD_OK;
}

/* ---- scratch segments ---- */

void record_segment_begin(struct buf *seg)
{
	seg->len = 0;
	buf_u32(seg, 0); /* the count, set by record_segment_end */
}

void record_segment_add(struct buf *seg, uint64_t seq, bool redelivered, uint32_t delivery_count,
    uint64_t expires_at, const struct message *m)
{
	size_t len = record_message_len(m);

	buf_reserve(seg, SEGMENT_ENTRY_LEN + len);
	buf_u64(seg, seq);
	buf_u8(seg, redelivered);
	buf_u32(seg, delivery_count);
	buf_u64(seg, expires_at);
	buf_u64(seg, m->id);
	buf_u32(seg, (uint32_t)len);
	record_message_encode(seg, m);
}

void record_segment_end(struct buf *seg, uint32_t n)
{
	amqp_store_u32(seg->p, n);
}

int record_segment_open(struct rec_segment *s, const void *val, size_t vlen)
{
	s->r = (struct rd){ val, vlen, false };
	s->left = rd_u32(&s->r);
	return s->r.bad ? RECORD_E_SHORT : RECORD_OK;
}

int record_segment_next(struct rec_segment *s, struct rec_segment_entry *e)
{
	uint32_t len;

	if (s->left == 0)
		return 0;
	e->seq = rd_u64(&s->r);
	e->redelivered = rd_u8(&s->r) != 0;
	e->delivery_count = rd_u32(&s->r);
	e->expires_at = rd_u64(&s->r);
	e->id = rd_u64(&s->r);
	len = rd_u32(&s->r);
	e->record.ptr = rd_take(&s->r, len);
	e->record.len = len;
	if (s->r.bad)
		return RECORD_E_SHORT;
	s->left--;
	return 1;
}

int record_segment_check(const void *val, size_t vlen, uint32_t *n, uint64_t *last)
{
	struct rec_segment s;
	struct rec_segment_entry e;
	int r;

	*last = 0;
	if ((r = record_segment_open(&s, val, vlen)) != 0)
		return r;
	*n = s.left;
	while ((r = record_segment_next(&s, &e)) == 1)
		*last = e.seq;
	return r < 0 ? r : rd_end(&s.r);
}

/* ---- delayed messages ---- */

void record_delay_key(uint8_t key[DELAY_KEY_LEN], uint64_t xid, uint64_t due, uint64_t seq)
{
	amqp_store_u64(key, xid);
	amqp_store_u64(key + 8, due);
	amqp_store_u64(key + 16, seq);
}

void record_delay_scratch_key(
    uint8_t key[DELAY_SCRATCH_KEY_LEN], uint64_t xid, uint64_t due, uint64_t seq)
{
	memset(key, 0, 8); /* queue id 0: no queue's scratch segment has it */
	record_delay_key(key + 8, xid, due, seq);
}

int record_delay_key_decode(
    const void *key, size_t klen, uint64_t *xid, uint64_t *due, uint64_t *seq)
{
	const uint8_t *k = key;

	if (klen == DELAY_SCRATCH_KEY_LEN) {
		if (amqp_load_u64(k) != 0)
			return RECORD_E_KIND;
		k += 8;
		klen -= 8;
	}
	if (klen < DELAY_KEY_LEN)
		return RECORD_E_SHORT;
	if (klen > DELAY_KEY_LEN)
		return RECORD_E_LONG;
	*xid = amqp_load_u64(k);
	*due = amqp_load_u64(k + 8);
	*seq = amqp_load_u64(k + 16);
	return *xid == 0 || *seq == 0 ? RECORD_E_VALUE : RECORD_OK; /* ids and seqs start at 1 */
}

int record_delay_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_delay *d)
{
	int r;

	if ((r = record_delay_key_decode(key, klen, &d->xid, &d->due, &d->seq)) != RECORD_OK)
		return r;
	return record_message_decode(val, vlen, &d->msg);
}
