/*
 * persist_private.h: what the persist*.c files share (server/, private to them): the store's
 * state in this process, the record formats' encoding helpers, and the calls between the files.
 *   persist.c          batching, confirms after the flush, definitions, messages, open/close
 *   persist_page.c     paging: scratch segments out, read-back jobs in, deleting paged ranges
 *   persist_recover.c  rebuilding the broker from the store at start-up
 *   persist_dump.c     warrenctl store-dump / store-verify
 *   persist_record.c   the record codec: every store record's encoder and decoder
 * The record formats are listed below, with the codec's calls.
 */
#ifndef WARREN_PERSIST_PRIVATE_H
#define WARREN_PERSIST_PRIVATE_H

#include <string.h>

#include "server/persist/persist.h"
#include "store/store.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct batch_ctx;

struct persist_state {
	struct persist_hooks hooks;
	struct event_base *base;
	uint64_t disk_free_limit;
	bool disk_low;       /* the disk alarm is raised */
	uint64_t disk_avail; /* free bytes at the last check (UINT64_MAX: none yet) */
	struct store *st;
	struct event *flush_ev, *completion_ev, *disk_ev;
	char *dir;
	struct store_batch *cur;
	struct batch_ctx *ctx;
	uint64_t cur_gen;   /* numbers the open batch (cur) */
	uint64_t done_gen;  /* the greatest batch that completed without failing */
	uint64_t commit_us; /* how long a batch takes from submit to done (a moving average) */
	unsigned inflight;  /* batches submitted, not yet complete: while one is, cur stays open */
	uint64_t next_qid;
	uint64_t next_xid;    /* delayed exchanges' ids */
	struct queue **dirty; /* queues whose delivered mark changed */
	size_t ndirty, capdirty;
	bool failed;
	/* The open batch holds a message for a queue with consumers (an ack may cancel its write). */
	bool cancellable;
	bool recovering; /* rebuilding from the store: nothing is written back */
	bool closing;    /* in persist_close: no new jobs (recovery finishes what they leave) */
	/* the scratch segment being gathered by a run of persist_page_out */
	struct buf seg;
	uint64_t seg_qid, seg_first;
	unsigned seg_ri;
	uint32_t seg_n;
	/* a cluster node (persist_cluster.c): its store before the tables open, and its role */
	struct store *rst;
	struct event *role_ev;
	enum persist_role role;
	unsigned demotions;
	char master[300];      /* the master's replication address, as last reported */
	char master_info[256]; /* and what it said it serves on (its advertised addresses) */
	int64_t not_replicated_logged; /* CLOCK_MONOTONIC s of the last warning */
};
extern struct persist_state ps;

/* persist.c: the tables are open (ps.st): watch the store and rebuild the broker from it. */
int persist_start(const char *dir, char *err, size_t errlen);
/* persist_cluster.c */
/* A group lacked its quorum ack: its waiters fail, the store goes on (logged once a second). */
void persist_cluster_not_replicated(void);
/* persist_close's part: a replica's store (the tables never opened) and the role watch. */
void persist_cluster_close(void);

/* Room for n more bytes (grown to twice what is needed). */
static inline void buf_reserve(struct buf *b, size_t n)
{
	if (n > b->cap - b->len) {
		b->cap = (b->cap + n) * 2;
		b->p = xreallocarray(b->p, 1, b->cap);
	}
}

static inline void buf_add(struct buf *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		b->cap = (b->cap + n) * 2;
		b->p = xreallocarray(b->p, 1, b->cap);
	}
	if (n > 0)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void buf_u8(struct buf *b, uint8_t v)
{
	buf_add(b, &v, 1);
}

static inline void buf_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	amqp_store_u32(x, v);
	buf_add(b, x, 4);
}

static inline void buf_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	amqp_store_u64(x, v);
	buf_add(b, x, 8);
}

static inline void buf_str(struct buf *b, const void *s, size_t n)
{
	buf_u8(b, (uint8_t)n);
	buf_add(b, s, n);
}

/* A reader over a record that came from disk: every read is checked against what is left. */
struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline const uint8_t *rd_take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || n > r->left) { /* a record shorter than its fields say: corrupt */
		r->bad = true;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static inline uint8_t rd_u8(struct rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p != NULL ? p[0] : 0;
}

static inline uint32_t rd_u32(struct rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p != NULL ? amqp_load_u32(p) : 0;
}

static inline uint64_t rd_u64(struct rd *r)
{
	const uint8_t *p = rd_take(r, 8);

	return p != NULL ? amqp_load_u64(p) : 0;
}

static inline struct amqp_bytes rd_str(struct rd *r)
{
	size_t n = rd_u8(r);
	const uint8_t *p = rd_take(r, n);

	return (struct amqp_bytes){ p, p != NULL ? n : 0 };
}

/*
 * persist_record.c: the record codec. Records (store format 3; integers big-endian, names as a
 * 1-byte length and the bytes):
 *   defs    'x' vhost name             -> type(1), flags(1: auto-delete 1, internal 2), arguments
 *           'q' vhost name             -> qid(8), flags(1: auto-delete 1), arguments
 *           'b' vhost source kind('q' or 'x') dest key args -> (empty), or for a binding
 *                                         from an x-consistent-hash exchange its place in
 *                                         the exchange's ring (8, never 0)
 *   msgs    id(8)                      -> exchange, routing key, properties (4-byte length +
 *                                         bytes), body
 *   refs    id(8)                      -> entries that hold the message(4), when more than one
 *   entries qid(8) level(1) seq(8)     -> message id(8), body size(8), expiry(8: ms since the
 *                                         epoch, 0 = none); then (format 3, optional) its
 *                                         delivery count(4: the times it was returned to the
 *                                         queue; written again at each return, and 24 bytes
 *                                         with none mean 0), and for a
 *                                         message whose msgs record is at most ENTRY_INLINE_MAX
 *                                         bytes, that record itself: each of its entries holds
 *                                         a copy, and msgs and refs nothing of it; level is 255 -
 *                                         priority level (ring), so that key order is delivery
 *                                         order
 *   meta    "delivered" qid(8)         -> the highest seq delivered from that queue(8)
 *           "dead" qid(8) level(1) lo(8) -> hi(8): entries purged, being deleted
 *   scratch qid(8) level(1) seq(8)     -> a segment: transient entries paged out of memory
 *                                         from seq on: count(4), then per entry seq(8),
 *                                         redelivered(1), delivery count(4), expiry(8), id(8),
 *                                         length(4), a msgs record (scratch is emptied at every
 *                                         start: its layout is this process's own)
 *           0(8) xid(8) due(8) seq(8)  -> a transient delayed message (or any on a non-durable
 *                                         exchange) out of memory: a msgs record
 *   delayed xid(8) due(8) seq(8)       -> a persistent message waiting in the durable
 *                                         x-delayed-message exchange whose record names xid
 *                                         (type 5's value: type, flags, xid(8), arguments),
 *                                         due at ms since the epoch: a msgs record
 * Each encoder appends to a struct buf or fills a fixed-size array; each decoder checks the bytes
 * it is given (from disk) and returns RECORD_OK with the fields (strings as slices into the record)
 * or a RECORD_E_* code, which record_strerror names.
 */
enum record_err {
	RECORD_OK = 0,
	RECORD_E_SHORT = -1, /* the record ends before its fields do (truncated) */
	RECORD_E_LONG = -2,  /* bytes left over after its fields */
	RECORD_E_KIND = -3,  /* not a record of the type asked for */
	RECORD_E_VALUE = -4, /* a field out of range (an exchange type, a queue id 0, ...) */
};
const char *record_strerror(int err);

/* The kind of a defs record ('x', 'q', 'b', or another byte), or RECORD_E_SHORT. */
int record_def_kind(const void *key, size_t klen);
/* The key into k, and the value into v unless v is NULL (a delete needs only the key). */
void record_exchange_encode(struct buf *k, struct buf *v, const struct rec_exchange *x);
int record_exchange_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_exchange *x);
void record_queue_encode(struct buf *k, struct buf *v, const struct rec_queue *q);
int record_queue_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_queue *q);
/*
 * A binding is its key; its value is empty, but for a consistent-hash exchange's binding, whose
 * value is its ring_seq (exchange type 4 came after store format 3: older builds refuse such an
 * exchange's record, and so never read those values).
 */
void record_binding_encode(struct buf *k, const struct rec_binding *b);
void record_binding_value(struct buf *v, const struct rec_binding *b);
int record_binding_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_binding *b);

#define ID_KEY_LEN 8 /* msgs and refs: a message id */
#define REFS_VAL_LEN 4
/* A message as the msgs table holds it (appended to v), and its length. */
void record_message_encode(struct buf *v, const struct message *m);
size_t record_message_len(const struct message *m);
int record_message_decode(const void *val, size_t vlen, struct rec_message *m);
/* A msgs or refs key: the message id. */
int record_id_decode(const void *key, size_t klen, uint64_t *id);
void record_refs_value(uint8_t val[REFS_VAL_LEN], uint32_t n);
int record_refs_decode(
    const void *key, size_t klen, const void *val, size_t vlen, uint64_t *id, uint32_t *n);

#define ENTRY_KEY_LEN 17       /* entries and scratch */
#define ENTRY_VAL_LEN 24       /* format 2's: no count, no message record */
#define ENTRY_VAL_COUNT_LEN 28 /* with the delivery count (and then the record, if any) */
/*
 * A message whose msgs record is this long or shorter goes into its entries instead (one write
 * and one delete per entry, where msgs would add a write and a delete in a table of 64 KiB pages).
 */
#define ENTRY_INLINE_MAX 488
struct rec_entry {
	uint64_t qid, seq;
	unsigned ri; /* the priority level (ring): 255 - the key's level byte */
	uint64_t id, size, expires_at;
	uint32_t delivery_count;  /* times returned to the queue (0 in a 24-byte entry) */
	struct amqp_bytes record; /* the msgs record it holds (len 0: none, it is in msgs) */
};
void record_entry_key(uint8_t key[ENTRY_KEY_LEN], uint64_t qid, unsigned ri, uint64_t seq);
int record_entry_key_decode(
    const void *key, size_t klen, uint64_t *qid, unsigned *ri, uint64_t *seq);
void record_entry_value(
    uint8_t val[ENTRY_VAL_LEN], uint64_t id, uint64_t size, uint64_t expires_at);
/* An entry with a delivery count (the message in msgs). */
void record_entry_value_count(uint8_t val[ENTRY_VAL_COUNT_LEN], uint64_t id, uint64_t size,
    uint64_t expires_at, uint32_t delivery_count);
/* An entry with the message's msgs record in it (record_message_len(m) <= ENTRY_INLINE_MAX). */
void record_entry_value_with(struct buf *v, uint64_t id, uint64_t size, uint64_t expires_at,
    uint32_t delivery_count, const struct message *m);
/* The record it holds is not checked: record_message_decode it. */
int record_entry_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_entry *e);

/* Delayed messages' keys (delayed table; scratch with 8 zero bytes before) and records. */
#define DELAY_KEY_LEN 24
#define DELAY_SCRATCH_KEY_LEN 32
struct rec_delay {
	uint64_t xid, due, seq;
	struct rec_message msg;
};
void record_delay_key(uint8_t key[DELAY_KEY_LEN], uint64_t xid, uint64_t due, uint64_t seq);
void record_delay_scratch_key(
    uint8_t key[DELAY_SCRATCH_KEY_LEN], uint64_t xid, uint64_t due, uint64_t seq);
/* Either kind of key (RECORD_E_KIND: a scratch key of another kind). */
int record_delay_key_decode(
    const void *key, size_t klen, uint64_t *xid, uint64_t *due, uint64_t *seq);
/* A whole record: its key, and its value as a msgs record. */
int record_delay_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct rec_delay *d);

/* A purged range of one queue's priority level, from its "dead" meta record. */
struct dead_range {
	uint64_t qid, lo, hi;
	unsigned ri;
};
enum { META_DELIVERED = 1, META_DEAD = 2 };
#define DELIVERED_KEY_LEN (9 + 8)
#define DEAD_KEY_LEN (4 + ENTRY_KEY_LEN)
/* META_DELIVERED or META_DEAD by the key's name (its fields are not checked), or RECORD_E_KIND. */
int record_meta_kind(const void *key, size_t klen);
void record_delivered_key(uint8_t key[DELIVERED_KEY_LEN], uint64_t qid);
int record_delivered_decode(
    const void *key, size_t klen, const void *val, size_t vlen, uint64_t *qid, uint64_t *mark);
void record_dead_key(uint8_t key[DEAD_KEY_LEN], uint64_t qid, unsigned ri, uint64_t lo);
int record_dead_decode(
    const void *key, size_t klen, const void *val, size_t vlen, struct dead_range *d);

/* A scratch segment: begin, add entries (in seq order), end with their count. */
#define SEGMENT_ENTRY_LEN 33 /* an entry's fields before its msgs record */
void record_segment_begin(struct buf *seg);
void record_segment_add(struct buf *seg, uint64_t seq, bool redelivered, uint32_t delivery_count,
    uint64_t expires_at, const struct message *m);
void record_segment_end(struct buf *seg, uint32_t n);
struct rec_segment_entry {
	uint64_t seq, expires_at, id;
	bool redelivered;
	uint32_t delivery_count;
	struct amqp_bytes record; /* a msgs record */
};
/* Reading a segment's entries: open, then next until it returns 0 (end) or a RECORD_E_* code. */
struct rec_segment {
	struct rd r;
	uint32_t left; /* entries not yet read */
};
int record_segment_open(struct rec_segment *s, const void *val, size_t vlen);
int record_segment_next(struct rec_segment *s, struct rec_segment_entry *e);
/* Check a whole segment: its count and its last seq (0 if none), or a RECORD_E_* code. */
int record_segment_check(const void *val, size_t vlen, uint32_t *n, uint64_t *last);

/* The dead ranges of a store, gathered from its meta records. */
struct dead_ranges {
	struct dead_range *v;
	size_t n, cap;
};
/* If the meta record is a dead range, add it (true); else false. */
bool dead_ranges_add(
    struct dead_ranges *d, const void *key, size_t klen, const void *val, size_t vlen);
/* Is the entry (qid, ring ri, seq) inside one of the ranges? */
bool dead_ranges_hold(const struct dead_ranges *d, uint64_t qid, unsigned ri, uint64_t seq);

static inline bool queue_durable(const struct queue *q)
{
	return ps.st != NULL && q->durable && !q->exclusive;
}

/* persist.c */
struct store_batch *batch(void); /* the open batch, created on demand */
void submit_batch(void);         /* hand the open batch to the store now */

/* persist_page.c */
/* Delete paged entries of (qid, ri) in [lo, hi], or every entry of qid (whole), by jobs. */
void reap_start(uint64_t qid, unsigned ri, uint64_t lo, uint64_t hi, bool whole, bool dead);
/*
 * Jobs that delete what a queue (or a delayed exchange) held: the next chunk's size after one
 * of chunk entries took took_us on the store thread, aiming at about 3 ms a job, so that the
 * publishers' batches in the same group wait little (persist_page.c).
 */
#define REAP_CHUNK_FIRST 1024
size_t reap_next_chunk(size_t chunk, uint64_t took_us);
/* CLOCK_MONOTONIC in microseconds (safe on the store thread too). */
uint64_t mono_us(void);

/* persist_recover.c */
int persist_recover(const char *dir, char *err, size_t errlen);

/* persist_delay.c */
/*
 * Start-up: count the delayed table's messages per exchange (hooks.load_delayed); those of ids no
 * exchange record names (known: xid (8 bytes) -> anything) are deleted by jobs. 0 (*corrupt if a
 * key is malformed) or a STORE_E_* code.
 */
int persist_delay_recover(
    const struct hmap *known, uint64_t *count, uint64_t *orphans, bool *corrupt);

#endif /* WARREN_PERSIST_PRIVATE_H */
