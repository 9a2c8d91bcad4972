/*
 * persist_private.h: what the persist*.c files share (server/, private to them): the store's
 * state in this process, the record formats' encoding helpers, and the calls between the files.
 *   persist.c          batching, confirms after the flush, definitions, messages, open/close
 *   persist_page.c     paging: scratch segments out, read-back jobs in, deleting paged ranges
 *   persist_recover.c  rebuilding the broker from the store at start-up
 *   persist_dump.c     warrenctl store-dump / store-verify
 * The record formats are described at the top of persist.c.
 */
#ifndef WARREN_PERSIST_PRIVATE_H
#define WARREN_PERSIST_PRIVATE_H

#include <string.h>

#include "server/server.h"
#include "store/store.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct batch_ctx;

struct persist_state {
	struct store *st;
	struct event *flush_ev, *completion_ev, *disk_ev;
	char *dir;
	struct store_batch *cur;
	struct batch_ctx *ctx;
	uint64_t cur_gen;  /* numbers the open batch (cur) */
	unsigned inflight; /* batches submitted, not yet complete: while one is, cur stays open */
	uint64_t next_qid;
	struct queue **dirty; /* queues whose delivered mark changed */
	size_t ndirty, capdirty;
	bool failed;
	bool recovering; /* rebuilding from the store: nothing is written back */
	bool closing;    /* in persist_close: no new jobs (recovery finishes what they leave) */
	/* the scratch segment being gathered by a run of persist_page_out */
	struct buf seg;
	uint64_t seg_qid, seg_first;
	unsigned seg_ri;
	uint32_t seg_n;
};
extern struct persist_state ps;

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

static inline void buf_str(struct buf *b, const char *s, size_t n)
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

#define ENTRY_KEY_LEN 17
#define ENTRY_VAL_LEN 24

static inline void entry_key(uint8_t key[ENTRY_KEY_LEN], uint64_t qid, unsigned ri, uint64_t seq)
{
	amqp_store_u64(key, qid);
	key[8] = (uint8_t)(255 - ri);
	amqp_store_u64(key + 9, seq);
}

/* A purged range of one queue's priority level, from its "dead" meta record. */
struct dead_range {
	uint64_t qid, lo, hi;
	unsigned level;
};
struct dead_ranges {
	struct dead_range *v;
	size_t n, cap;
};
/* If the meta record is a dead range, add it (true); else false. */
bool dead_ranges_add(
    struct dead_ranges *d, const void *key, size_t klen, const void *val, size_t vlen);
/* Is the entry (qid, level, seq) inside one of the ranges? */
bool dead_ranges_hold(const struct dead_ranges *d, uint64_t qid, unsigned level, uint64_t seq);
void dead_key(uint8_t key[4 + ENTRY_KEY_LEN], uint64_t qid, unsigned ri, uint64_t lo);

static inline bool queue_durable(const struct queue *q)
{
	return ps.st != NULL && q->durable && !q->exclusive;
}

/* persist.c */
struct store_batch *batch(void); /* the open batch, created on demand */
void submit_batch(void);         /* hand the open batch to the store now */
void message_record(struct buf *v, const struct message *m);

/* persist_page.c */
/* Delete paged entries of (qid, ri) in [lo, hi], or every entry of qid (whole), by jobs. */
void reap_start(uint64_t qid, unsigned ri, uint64_t lo, uint64_t hi, bool whole, bool dead);

/* persist_recover.c */
int persist_recover(const char *dir, char *err, size_t errlen);

#endif /* WARREN_PERSIST_PRIVATE_H */
