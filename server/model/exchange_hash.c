/*
 * exchange_hash.c: the consistent-hash exchange, x-consistent-hash, as RabbitMQ's plugin
 * (rabbitmq_consistent_hash_exchange 3.10) routes. A binding's key is its weight, and each
 * destination owns consecutive buckets, as many as the weight of its first binding, in the order
 * the bindings were made. A message goes to the owner of the bucket that jump consistent hash
 * (Lamping and Veach) picks for a hash of its routing key, or of the header named by the
 * exchange's `hash-header` argument, or of the property named by `hash-property`
 * (`message_id`, `correlation_id`, `timestamp`); a message without that header or property
 * hashes as one fixed value, so all of them go to the same destination, as in RabbitMQ. Adding
 * a binding appends buckets, so the only keys that move are those the new destination takes
 * (about weight / total of them); removing one renumbers the buckets after it, as the plugin
 * does. A lookup is the jump (expected ln n steps for n buckets) then a binary search over the
 * destinations: no allocation. The hash itself is not RabbitMQ's (erlang:phash2), so a given key
 * may go to another destination than it would there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/model/model.h"

enum hash_on {
	HASH_ROUTING_KEY,
	HASH_HEADER,
	HASH_MESSAGE_ID,
	HASH_CORRELATION_ID,
	HASH_TIMESTAMP
};

/* A destination's buckets: from the previous slot's end up to this end. */
struct hash_slot {
	uint64_t end;
	struct binding *b; /* the binding that holds them */
};

struct hash_ring {
	struct hash_slot *v; /* in ring_seq order */
	size_t n, cap;
	uint64_t last_seq; /* the greatest ring_seq given or recovered */
	enum hash_on on;
	char *header; /* HASH_HEADER: its name */
};

#define HASH_SEED 0xcbf29ce484222325ULL /* FNV-1a's offset basis */
/* What a message without the header or property hashes as (RabbitMQ hashes `undefined`). */
#define HASH_UNDEFINED 0x9e3779b97f4a7c15ULL

/* ---- arguments and weights ---- */

/* hash-header and hash-property, as found in args: NULL when absent (or args do not decode). */
static void hash_args_find(const struct amqp_table *t, const struct amqp_field_value **header,
    const struct amqp_field_value **property)
{
	*header = amqp_table_get(t, "hash-header");
	*property = amqp_table_get(t, "hash-property");
}

int hash_args_check(
    struct amqp_bytes args, const char *exchange, const char *vhost, char *err, size_t errlen)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *h, *p;
	int code = 0;

	amqp_arena_init(&pool);
	if (amqp_table_decode(args, &pool, &t) != 0)
		goto out;
	hash_args_find(&t, &h, &p);
	/* RabbitMQ 3.10 fails with 541 INTERNAL_ERROR on a value that is not a string. */
	if (h != NULL && h->type != AMQP_FIELD_LONGSTR) {
		snprintf(err, errlen,
		    "invalid type '%s' for arg 'hash-header' in exchange '%s' in vhost '%s'",
		    field_type_word(h->type), exchange, vhost);
		code = AMQP_PRECONDITION_FAILED;
	} else if (p != NULL && p->type != AMQP_FIELD_LONGSTR) {
		snprintf(err, errlen,
		    "invalid type '%s' for arg 'hash-property' in exchange '%s' in vhost '%s'",
		    field_type_word(p->type), exchange, vhost);
		code = AMQP_PRECONDITION_FAILED;
	} else if (h != NULL && p != NULL) {
		snprintf(err, errlen, "hash-header and hash-property are mutually exclusive");
		code = AMQP_PRECONDITION_FAILED;
	} else if (p != NULL && !amqp_bytes_eq_cstr(p->v.bytes, "message_id") &&
	    !amqp_bytes_eq_cstr(p->v.bytes, "correlation_id") &&
	    !amqp_bytes_eq_cstr(p->v.bytes, "timestamp")) {
		snprintf(err, errlen, "Unsupported property: %.*s",
		    (int)(p->v.bytes.len > 255 ? 255 : p->v.bytes.len),
		    (const char *)p->v.bytes.ptr);
		code = AMQP_PRECONDITION_FAILED;
	}
out:
	amqp_arena_reset(&pool);
	return code;
}

int hash_weight_parse(struct amqp_bytes key, uint32_t *weight)
{
	size_t i = 0;
	bool neg = false, zero = true;
	uint64_t n = 0;

	/* As Erlang's list_to_integer: an optional sign, then digits and nothing else. */
	if (i < key.len && (key.ptr[i] == '+' || key.ptr[i] == '-'))
		neg = key.ptr[i++] == '-';
	if (i == key.len)
		return HASH_WEIGHT_NOT_INTEGER;
	for (; i < key.len; i++) {
		if (key.ptr[i] < '0' || key.ptr[i] > '9')
			return HASH_WEIGHT_NOT_INTEGER;
		if (key.ptr[i] != '0')
			zero = false;
		if (n <= HASH_WEIGHT_MAX) /* past it, only whether it is an integer matters */
			n = n * 10 + (uint64_t)(key.ptr[i] - '0');
	}
	if (neg || zero)
		return HASH_WEIGHT_NOT_POSITIVE;
	if (n > HASH_WEIGHT_MAX)
		return HASH_WEIGHT_TOO_LARGE;
	*weight = (uint32_t)n;
	return 0;
}

/* b as Erlang's ~p prints a binary: <<"text">> when all of it is printable latin1, or <<1,2>>. */
static void erlang_binary(struct amqp_bytes b, char *out, size_t outlen)
{
	size_t i, o = 0;
	bool text = true;
	uint8_t c;

	for (i = 0; i < b.len && text; i++) {
		c = b.ptr[i];
		text = (c >= 32 && c <= 126) || c >= 160 || (c >= 8 && c <= 13) || c == 27;
	}
#define PUT(...) (o += (size_t)snprintf(out + o, o < outlen ? outlen - o : 0, __VA_ARGS__))
	PUT("<<");
	if (text && b.len > 0) {
		PUT("\"");
		for (i = 0; i < b.len; i++) {
			c = b.ptr[i];
			switch (c) {
			case '"': PUT("\\\""); break;
			case '\\': PUT("\\\\"); break;
			case '\b': PUT("\\b"); break;
			case '\t': PUT("\\t"); break;
			case '\n': PUT("\\n"); break;
			case '\v': PUT("\\v"); break;
			case '\f': PUT("\\f"); break;
			case '\r': PUT("\\r"); break;
			case 27: PUT("\\e"); break;
			default: PUT("%c", c);
			}
		}
		PUT("\"");
	} else {
		for (i = 0; i < b.len; i++)
			PUT("%s%u", i > 0 ? "," : "", b.ptr[i]);
	}
	PUT(">>");
#undef PUT
}

int hash_binding_check(struct amqp_bytes key, char *err, size_t errlen)
{
	char shown[4 * 256 + 8];
	uint32_t w;

	switch (hash_weight_parse(key, &w)) {
	case 0: return 0;
	case HASH_WEIGHT_NOT_POSITIVE:
		snprintf(err, errlen, "The binding key must be greater than 0");
		break;
	case HASH_WEIGHT_TOO_LARGE:
		/* RabbitMQ takes any integer, and runs out of memory on a large one. */
		snprintf(err, errlen, "The binding key must be at most %u", HASH_WEIGHT_MAX);
		break;
	default:
		erlang_binary(key, shown, sizeof(shown));
		snprintf(err, errlen, "The binding key must be an integer: %s", shown);
	}
	return AMQP_PRECONDITION_FAILED;
}

/* ---- the ring ---- */

struct hash_ring *hash_ring_new(struct amqp_bytes args)
{
	struct hash_ring *r = xcalloc(1, sizeof(*r));
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *h, *p;

	r->on = HASH_ROUTING_KEY;
	amqp_arena_init(&pool);
	if (args.len > 0 && amqp_table_decode(args, &pool, &t) == 0) {
		hash_args_find(&t, &h, &p);
		if (h != NULL && h->type == AMQP_FIELD_LONGSTR) {
			r->on = HASH_HEADER;
			r->header = xbytesdup(h->v.bytes);
		} else if (p != NULL && p->type == AMQP_FIELD_LONGSTR) {
			if (amqp_bytes_eq_cstr(p->v.bytes, "message_id"))
				r->on = HASH_MESSAGE_ID;
			else if (amqp_bytes_eq_cstr(p->v.bytes, "correlation_id"))
				r->on = HASH_CORRELATION_ID;
			else if (amqp_bytes_eq_cstr(p->v.bytes, "timestamp"))
				r->on = HASH_TIMESTAMP;
		}
	}
	amqp_arena_reset(&pool);
	return r;
}

void hash_ring_free(struct hash_ring *r)
{
	if (r == NULL)
		return;
	free(r->v);
	free(r->header);
	free(r);
}

/* The slot of b's destination, or r->n: a destination has at most one. */
static size_t slot_of_dest(const struct hash_ring *r, const struct binding *b)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].b->dq == b->dq && r->v[i].b->de == b->de)
			return i;
	return r->n;
}

/* Every slot's end again from slot i on (after an insertion or a removal there). */
static void slots_renumber(struct hash_ring *r, size_t i)
{
	uint64_t end = i > 0 ? r->v[i - 1].end : 0;

	for (; i < r->n; i++) {
		end += r->v[i].b->weight;
		r->v[i].end = end;
	}
}

static void slot_remove(struct hash_ring *r, size_t i)
{
	r->v[i].b->in_ring = false;
	memmove(&r->v[i], &r->v[i + 1], (r->n - i - 1) * sizeof(r->v[0]));
	r->n--;
	slots_renumber(r, i);
}

void hash_ring_add(struct hash_ring *r, struct binding *b, uint64_t seq)
{
	size_t i, lo, hi;

	b->ring_seq = seq != 0 ? seq : r->last_seq + 1;
	if (b->ring_seq > r->last_seq)
		r->last_seq = b->ring_seq;
	b->in_ring = false;
	if (hash_weight_parse(
	        (struct amqp_bytes){ (const uint8_t *)b->key, b->key_len }, &b->weight) != 0) {
		/* Bindings are checked before they are made: only a damaged store gets here. */
		log_warn("exchange '%s': binding key '%s' is not a weight; no buckets",
		    b->source->name, b->key);
		b->weight = 0;
		return;
	}
	if ((i = slot_of_dest(r, b)) < r->n) {
		if (r->v[i].b->ring_seq < b->ring_seq)
			return; /* an earlier binding to the same destination holds its buckets */
		slot_remove(r, i); /* start-up reads bindings out of order: the earlier one holds */
	}
	for (lo = 0, hi = r->n; lo < hi;) { /* the first slot made after b */
		size_t mid = lo + (hi - lo) / 2;
		if (r->v[mid].b->ring_seq < b->ring_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (r->n == r->cap) {
		r->cap = r->cap != 0 ? r->cap * 2 : 4;
		r->v = xreallocarray(r->v, r->cap, sizeof(r->v[0]));
	}
	memmove(&r->v[lo + 1], &r->v[lo], (r->n - lo) * sizeof(r->v[0]));
	r->v[lo].b = b;
	r->n++;
	b->in_ring = true;
	slots_renumber(r, lo);
}

void hash_ring_remove(struct hash_ring *r, struct binding *b)
{
	size_t i = slot_of_dest(r, b);

	/*
	 * As the plugin: removing any binding to a destination removes its buckets, even when
	 * another binding to it remains (that one holds none until a restart rebuilds the ring).
	 */
	if (i < r->n)
		slot_remove(r, i);
}

uint64_t hash_ring_buckets(const struct hash_ring *r)
{
	return r->n > 0 ? r->v[r->n - 1].end : 0;
}

/* ---- routing ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* MurmurHash3's finaliser: FNV leaves similar keys ("k1", "k2") too close for the jump. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* What the message's bucket is chosen by. */
static uint64_t message_hash(const struct hash_ring *r, struct msg_view *view)
{
	const struct message *m = view->m;
	const struct amqp_basic_properties *p;
	struct amqp_bytes v;
	char ts[24];
	int n;

	switch (r->on) {
	case HASH_ROUTING_KEY: return mix(fnv(HASH_SEED, m->routing_key, m->rk_len));
	case HASH_HEADER:
		/*
		 * The value as encoded, its type letter first, so that "5" and 5 differ (as they do
		 * in RabbitMQ); found in the encoded headers, which costs no decoding or allocation.
		 */
		if (!(message_prop_flags(m) & AMQP_P_HEADERS) ||
		    (p = msg_view_props(view)) == NULL ||
		    amqp_table_find_raw(p->headers, r->header, &v) != 0)
			return HASH_UNDEFINED;
		return mix(fnv(HASH_SEED, v.ptr, v.len));
	case HASH_MESSAGE_ID:
	case HASH_CORRELATION_ID:
		if ((p = msg_view_props(view)) == NULL)
			return HASH_UNDEFINED;
		if (r->on == HASH_MESSAGE_ID)
			return (p->flags & AMQP_P_MESSAGE_ID)
			    ? mix(fnv(HASH_SEED, p->message_id.ptr, p->message_id.len))
			    : HASH_UNDEFINED;
		return (p->flags & AMQP_P_CORRELATION_ID)
		    ? mix(fnv(HASH_SEED, p->correlation_id.ptr, p->correlation_id.len))
		    : HASH_UNDEFINED;
	case HASH_TIMESTAMP:
		if ((p = msg_view_props(view)) == NULL || !(p->flags & AMQP_P_TIMESTAMP))
			return HASH_UNDEFINED;
		/* As the plugin, its decimal text: it hashes as a routing key of those digits would. */
		n = snprintf(ts, sizeof(ts), "%llu", (unsigned long long)p->timestamp);
		return mix(fnv(HASH_SEED, ts, (size_t)n));
	}
	return HASH_UNDEFINED;
}

/*
 * Jump consistent hash (Lamping and Veach, 2014): a bucket in [0, n) for key; when n grows, a
 * key either stays or moves to one of the new buckets. Computed in double so that n may pass
 * 2^31 (the ring's total is at most a few times 2^31 in practice; double is exact to 2^53).
 */
static uint64_t jump_hash(uint64_t key, uint64_t n)
{
	uint64_t b = 0;
	double j = 0;

	while (j < (double)n) {
		b = (uint64_t)j;
		key = key * 2862933555777941757ULL + 1;
		j = (double)(b + 1) * (2147483648.0 / (double)((key >> 33) + 1));
	}
	return b;
}

struct binding *hash_ring_route(const struct hash_ring *r, struct msg_view *view)
{
	uint64_t bucket;
	size_t lo, hi;

	if (r->n == 0)
		return NULL;
	if (r->n == 1)
		return r->v[0].b;
	bucket = jump_hash(message_hash(r, view), r->v[r->n - 1].end);
	for (lo = 0, hi = r->n - 1; lo < hi;) { /* the first slot ending past the bucket */
		size_t mid = lo + (hi - lo) / 2;
		if (r->v[mid].end > bucket)
			hi = mid;
		else
			lo = mid + 1;
	}
	return r->v[lo].b;
}
