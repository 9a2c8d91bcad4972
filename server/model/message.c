/*
 * message.c: a published message as one refcounted block: the struct, its exchange and routing key,
 * its encoded properties and, up to MESSAGE_INLINE_MAX, its body. Larger bodies get a buffer of their
 * own that grows as body frames arrive, so a header that declares a huge size costs nothing until
 * the bytes come. Every byte is accounted in broker.mem_used.
 */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

#define MESSAGE_INLINE_MAX (64 * 1024)
#define BODY_FIRST_CHUNK (1024 * 1024)

/*
 * Small messages (the struct and up to a few hundred bytes) come from per-size free lists: a
 * broker with many messages in flight otherwise spends more in malloc and free than in routing.
 * At most POOL_KEEP spare blocks of each size are kept.
 */
#define POOL_STEP 64
#define POOL_CLASSES 8 /* blocks of 64, 128, ... 512 bytes */
#define POOL_KEEP 8192

struct pool_block {
	struct pool_block *next;
};
static struct pool_block *pool[POOL_CLASSES];
static unsigned pool_len[POOL_CLASSES];

static struct message *message_alloc(size_t *size)
{
	size_t k = (*size - 1) / POOL_STEP;
	struct pool_block *b;

	if (k >= POOL_CLASSES)
		return xmalloc(*size);
	*size = (k + 1) * POOL_STEP;
	if ((b = pool[k]) == NULL)
		return xmalloc(*size);
	pool[k] = b->next;
	pool_len[k]--;
	return (struct message *)b;
}

static void message_free(struct message *m, size_t size)
{
	size_t k = (size - 1) / POOL_STEP;
	struct pool_block *b = (struct pool_block *)m;

	if (k >= POOL_CLASSES || pool_len[k] >= POOL_KEEP) {
		free(m);
		return;
	}
	b->next = pool[k];
	pool[k] = b;
	pool_len[k]++;
}

void message_pool_free(void)
{
	struct pool_block *b;
	size_t k;

	for (k = 0; k < POOL_CLASSES; k++) {
		while ((b = pool[k]) != NULL) {
			pool[k] = b->next;
			free(b);
		}
		pool_len[k] = 0;
	}
}

static void message_parse_meta(struct message *m, const struct amqp_basic_properties *decoded)
{
	struct amqp_basic_properties p;

	if (!(message_prop_flags(m) & (AMQP_P_DELIVERY_MODE | AMQP_P_PRIORITY)))
		return;
	if (decoded == NULL) {
		if (message_properties(m, &p) != 0)
			return;
		decoded = &p;
	}
	m->persistent = (decoded->flags & AMQP_P_DELIVERY_MODE) && decoded->delivery_mode == 2;
	m->priority = (decoded->flags & AMQP_P_PRIORITY) ? decoded->priority : 0;
}

struct message *message_new(struct amqp_bytes exchange, struct amqp_bytes routing_key,
    struct amqp_bytes props, uint64_t body_size)
{
	return message_new_decoded(exchange, routing_key, props, body_size, NULL);
}

struct message *message_new_decoded(struct amqp_bytes exchange, struct amqp_bytes routing_key,
    struct amqp_bytes props, uint64_t body_size, const struct amqp_basic_properties *decoded)
{
	size_t inline_body = body_size <= MESSAGE_INLINE_MAX ? (size_t)body_size : 0;
	size_t size = sizeof(struct message) + exchange.len + 1 + routing_key.len + 1 + props.len +
	    inline_body;
	struct message *m = message_alloc(&size);
	uint8_t *p = (uint8_t *)(m + 1);

	memset(m, 0, sizeof(*m));
	m->refs = 1;
	m->id = ++broker.next_message_id;
	m->exchange = (char *)p;
	memcpy(p, exchange.ptr, exchange.len);
	p[exchange.len] = '\0';
	m->exchange_len = (uint8_t)exchange.len;
	p += exchange.len + 1;
	m->routing_key = (char *)p;
	memcpy(p, routing_key.ptr, routing_key.len);
	p[routing_key.len] = '\0';
	m->rk_len = (uint8_t)routing_key.len;
	p += routing_key.len + 1;
	m->props = p;
	m->props_len = (uint32_t)props.len;
	if (props.len > 0)
		memcpy(p, props.ptr, props.len);
	p += props.len;
	m->body_size = body_size;
	m->body = inline_body > 0 || body_size == 0 ? p : NULL;
	m->alloc_size = size;
	broker_mem_add((int64_t)size);
	message_parse_meta(m, decoded);
	return m;
}

void message_append_body(struct message *m, const uint8_t *p, size_t len)
{
	size_t want;

	if (len == 0)
		return;
	if (m->body_size > MESSAGE_INLINE_MAX && m->body_have + len > m->body_cap) {
		/*
		 * Up to 1 MiB at once, then doubling: a declared size costs memory only as its bytes
		 * arrive, and never past the declared size (already checked against the max).
		 */
		want = m->body_cap < BODY_FIRST_CHUNK ? BODY_FIRST_CHUNK : (size_t)m->body_cap * 2;
		if (want < m->body_have + len)
			want = (size_t)(m->body_have + len);
		if (want > m->body_size)
			want = (size_t)m->body_size;
		m->body = xreallocarray(m->body, 1, want);
		broker_mem_add((int64_t)(want - m->body_cap));
		m->alloc_size += want - m->body_cap;
		m->body_cap = want;
	}
	memcpy(m->body + m->body_have, p, len);
	m->body_have += len;
}

void message_unref(struct message *m)
{
	if (m == NULL || --m->refs > 0)
		return;
	broker_mem_add(-(int64_t)m->alloc_size);
	if (m->body_size > MESSAGE_INLINE_MAX) {
		free(m->body);
		free(m);
		return;
	}
	message_free(m, m->alloc_size);
}

int message_properties(const struct message *m, struct amqp_basic_properties *p)
{
	/* No property at all (a flags word of zero): the common case needs no decoding. */
	if (m->props_len == 2 && m->props[0] == 0 && m->props[1] == 0) {
		memset(p, 0, sizeof(*p));
		return 0;
	}
	return amqp_properties_decode(m->props, m->props_len, p);
}

struct message *message_with_props(const struct message *m, struct amqp_bytes props)
{
	struct message *n = message_new(
	    (struct amqp_bytes){ (const uint8_t *)m->exchange, m->exchange_len },
	    (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len }, props, m->body_size);

	message_append_body(n, m->body, (size_t)m->body_have);
	return n;
}

uint8_t *message_props_with_count(const struct message *m, uint32_t count, size_t *len)
{
	static const char key[] = "x-delivery-count";
	struct amqp_basic_properties p;
	struct amqp_arena arena;
	struct amqp_table headers = { 0, NULL }, nh;
	uint8_t *hbuf = NULL, *pbuf = NULL;
	size_t cap;
	long hsize;
	int plen = -1;
	uint32_t i;

	amqp_arena_init(&arena);
	if (message_properties(m, &p) != 0 ||
	    ((p.flags & AMQP_P_HEADERS) && amqp_table_decode(p.headers, &arena, &headers) != 0))
		goto out;
	/* The publisher's headers, any x-delivery-count of theirs replaced by this one, last. */
	nh.entries = amqp_arena_alloc(&arena, ((size_t)headers.n + 1) * sizeof(*nh.entries));
	nh.n = 0;
	for (i = 0; i < headers.n; i++)
		if (!amqp_bytes_eq_cstr(headers.entries[i].key, key))
			nh.entries[nh.n++] = headers.entries[i];
	nh.entries[nh.n++] =
	    (struct amqp_table_entry){ amqp_cstr(key), { .type = AMQP_FIELD_I64, .v.i64 = count } };
	if ((hsize = amqp_table_encoded_size(&nh)) < 0)
		goto out;
	hbuf = xmalloc((size_t)hsize);
	if (amqp_table_encode(&nh, hbuf, (size_t)hsize) != hsize)
		goto out;
	p.headers = (struct amqp_bytes){ hbuf + 4, (size_t)hsize - 4 };
	p.flags |= AMQP_P_HEADERS;
	/* The old properties with the new headers table in place of the old one: no longer. */
	cap = m->props_len + (size_t)hsize + 8;
	pbuf = xmalloc(cap);
	plen = amqp_properties_encode(&p, pbuf, cap);
out:
	free(hbuf);
	amqp_arena_reset(&arena);
	if (plen < 0) {
		free(pbuf);
		return NULL;
	}
	*len = (size_t)plen;
	return pbuf;
}

void message_adopt_props(
    const struct message *m, struct amqp_basic_properties *p, const uint8_t *src)
{
	static const struct {
		uint16_t flag;
		size_t off;
	} slices[] = {
		{ AMQP_P_CONTENT_TYPE, offsetof(struct amqp_basic_properties, content_type) },
		{ AMQP_P_CONTENT_ENCODING,
		    offsetof(struct amqp_basic_properties, content_encoding) },
		{ AMQP_P_HEADERS, offsetof(struct amqp_basic_properties, headers) },
		{ AMQP_P_CORRELATION_ID, offsetof(struct amqp_basic_properties, correlation_id) },
		{ AMQP_P_REPLY_TO, offsetof(struct amqp_basic_properties, reply_to) },
		{ AMQP_P_EXPIRATION, offsetof(struct amqp_basic_properties, expiration) },
		{ AMQP_P_MESSAGE_ID, offsetof(struct amqp_basic_properties, message_id) },
		{ AMQP_P_TYPE, offsetof(struct amqp_basic_properties, type) },
		{ AMQP_P_USER_ID, offsetof(struct amqp_basic_properties, user_id) },
		{ AMQP_P_APP_ID, offsetof(struct amqp_basic_properties, app_id) },
		{ AMQP_P_CLUSTER_ID, offsetof(struct amqp_basic_properties, cluster_id) },
	};
	size_t i;

	/* Only strings and the headers are slices: without them, nothing to move. */
	if (!(p->flags & ~(AMQP_P_DELIVERY_MODE | AMQP_P_PRIORITY | AMQP_P_TIMESTAMP)))
		return;
	for (i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
		struct amqp_bytes *b = (struct amqp_bytes *)((char *)p + slices[i].off);
		if ((p->flags & slices[i].flag) && b->len > 0)
			b->ptr = m->props + (b->ptr - src);
	}
}

const struct amqp_basic_properties *msg_view_decode_props(struct msg_view *v)
{
	if (v->props_state == 0) {
		v->props_state = message_properties(v->m, &v->own) == 0 ? 1 : -1;
		v->props = &v->own;
	}
	return v->props_state > 0 ? v->props : NULL;
}

const struct amqp_table *msg_view_decode_headers(struct msg_view *v)
{
	const struct amqp_basic_properties *p;

	if (v->headers_state == 0) {
		amqp_arena_init(&v->pool);
		v->headers_state = -1;
		if ((message_prop_flags(v->m) & AMQP_P_HEADERS) &&
		    (p = msg_view_props(v)) != NULL &&
		    amqp_table_decode(p->headers, &v->pool, &v->headers) == 0)
			v->headers_state = 1;
	}
	return v->headers_state > 0 ? &v->headers : NULL;
}

#define NAMEF "%.*s"
#define NAMEA(b) (int)(b).len, (const char *)(b).ptr

/* The expiration property, as RabbitMQ parses it. */
int message_parse_expiration(struct amqp_bytes e, uint64_t *ms, char *why, size_t whylen)
{
	size_t i = 0;
	bool neg = false;
	uint64_t n = 0;

	if (i < e.len && (e.ptr[i] == '-' || e.ptr[i] == '+'))
		neg = e.ptr[i++] == '-';
	if (i == e.len || !isdigit(e.ptr[i])) {
		snprintf(why, whylen, "no_integer");
		return -1;
	}
	for (; i < e.len && isdigit(e.ptr[i]); i++) {
		if (n > (UINT64_MAX - 9) / 10) { /* larger than any TTL could be */
			snprintf(why, whylen, "{value_too_large," NAMEF "}", NAMEA(e));
			return -1;
		}
		n = n * 10 + (uint64_t)(e.ptr[i] - '0');
	}
	if (i < e.len) {
		snprintf(why, whylen, "{leftover_string,\"%.*s\"}", (int)(e.len - i),
		    (const char *)e.ptr + i);
		return -1;
	}
	if (neg && n > 0) {
		snprintf(why, whylen, "{value_negative,-%llu}", (unsigned long long)n);
		return -1;
	}
	*ms = n;
	return 0;
}
