/*
 * check_store.c: the store (store/) and the record codec (server/persist_record.c).
 *   store    a store in a temporary directory: batches, cancelled writes, jobs (range, get, put,
 *            delete, release), read jobs (back before their group's flush, even a failing one;
 *            no writes), counted references, scans, the last key, reopening (scratch
 *            emptied), the FORMAT file's cases, the LOCK, a failing flush, a table file of garbage
 *   records  every record type: golden bytes, each decoder fed every truncation and corruption
 *            of valid records (exactly as long as given, so ASan sees a read past the end): an
 *            error or a shorter tail, never a crash
 *   fixture  a store written through the broker's writers (test/store_fixture.c) holds exactly
 *            the records that the code before the codec wrote (test/fixtures/store-v2.records);
 *            those records decode and encode again to the same bytes; store-dump prints the same
 *            (store-v2.dump); recovery rebuilds the broker from them; corrupt records stop the
 *            start or show in store-verify
 */
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/persist/persist_private.h"
#include "server/server.h"
#include "test/check_util.h"
#include "test/store_fixture.h"

static char dir[64];

static void dir_setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* ---- store/ ---- */

static struct store *open_ok(void)
{
	char err[1024];
	struct store *st = store_open(dir, err, sizeof(err));

	ck_assert_msg(st != NULL, "store_open: %s", err);
	return st;
}

/* store_open must refuse, with an error that says why. */
static void open_refused(const char *why)
{
	char err[1024] = "";

	ck_assert_ptr_null(store_open(dir, err, sizeof(err)));
	ck_assert_msg(strstr(err, why) != NULL, "error '%s' lacks '%s'", err, why);
}

static void batch_done(void *arg, int status)
{
	int *out = arg;

	*out = status;
}

/* Submit b and wait for its callback; returns its status. */
static int submit_wait(struct store *st, struct store_batch *b)
{
	int status = 1;

	store_submit(st, b, batch_done, &status);
	while (status == 1) {
		struct pollfd p = { store_completion_fd(st), POLLIN, 0 };
		ck_assert_int_ge(poll(&p, 1, 10000), 1);
		store_run_completions(st);
	}
	return status;
}

/* The records of a table as "key=value;" (printable test keys and values). */
struct text {
	char s[4096];
	size_t n;
};

static int collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct text *t = arg;

	t->n += (size_t)snprintf(t->s + t->n, sizeof(t->s) - t->n, "%.*s=%.*s;", (int)klen,
	    (const char *)key, (int)vlen, (const char *)val);
	return 0;
}

static const char *scan(struct store *st, enum store_table tb, struct text *t)
{
	t->n = 0;
	t->s[0] = '\0';
	ck_assert_int_eq(store_scan(st, tb, collect, t), 0);
	return t->s;
}

static void put(struct store_batch *b, enum store_table tb, const char *k, const char *v)
{
	store_batch_put(b, tb, k, strlen(k), v, strlen(v));
}

START_TEST(store_new_directory_gets_format)
{
	char path[128], buf[64] = "";
	struct store *st;
	FILE *f;

	st = open_ok();
	ck_assert_str_eq(store_notice(st), "");
	store_close(st);
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "warren-store 3\n");
}
END_TEST

START_TEST(store_batches_apply_in_order)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct text t;

	put(b, STORE_DEFS, "b", "2");
	put(b, STORE_DEFS, "a", "1");
	put(b, STORE_DEFS, "c", "3");
	store_batch_del(b, STORE_DEFS, "c", 1);
	put(b, STORE_META, "m", "x");
	store_batch_del(b, STORE_META, "absent", 6); /* deleting what is not there is fine */
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_DEFS, &t), "a=1;b=2;");
	b = store_batch_new();
	put(b, STORE_DEFS, "a", "one"); /* a put replaces */
	store_batch_del(b, STORE_DEFS, "b", 1);
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_DEFS, &t), "a=one;");
	ck_assert_str_eq(scan(st, STORE_META, &t), "m=x;");
	ck_assert_str_eq(scan(st, STORE_ENTRIES, &t), "");
	store_close(st);
}
END_TEST

START_TEST(store_cancelled_writes_cost_nothing)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct text t;
	size_t op;

	op = store_batch_put(b, STORE_MSGS, "k", 1, "v", 1);
	put(b, STORE_MSGS, "j", "w");
	store_batch_cancel(b, op);
	store_batch_cancel(b, 99); /* out of range: nothing */
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "j=w;");
	store_close(st);
}
END_TEST

/* A count in refs (4 bytes big-endian; none means 1) goes down by one per release. */
START_TEST(store_release_counts_references)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct text t;

	put(b, STORE_MSGS, "m1", "body1");
	store_batch_put(b, STORE_REFS, "m1", 2, "\0\0\0\3", 4);
	put(b, STORE_MSGS, "m2", "body2");
	ck_assert_int_eq(submit_wait(st, b), 0);
	b = store_batch_new();
	store_batch_release(b, STORE_REFS, STORE_MSGS, "m1", 2);
	store_batch_release(b, STORE_REFS, STORE_MSGS, "m2", 2); /* no count: the last reference */
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "m1=body1;");
	b = store_batch_new();
	store_batch_release(b, STORE_REFS, STORE_MSGS, "m1", 2); /* 2 -> 1: the count goes */
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_REFS, &t), "");
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "m1=body1;");
	b = store_batch_new();
	store_batch_release(b, STORE_REFS, STORE_MSGS, "m1", 2);
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "");
	store_close(st);
}
END_TEST

struct job {
	int status;
	struct text seen;
	int get_found, get_missing;
	char got[16];
};

static int job_collect(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct job *j = arg;

	collect(key, klen, val, vlen, &j->seen);
	return klen > 0 && ((const char *)key)[klen - 1] == '3'; /* stop after q13 */
}

/* A job sees the batches before it, reads ranges by prefix, gets, writes and releases. */
static int job_fn(struct store_txn *t, void *arg)
{
	struct job *j = arg;
	const void *v;
	size_t vlen;
	int r;

	if ((r = store_txn_range(t, STORE_ENTRIES, "q1", 2, 2, job_collect, j)) != 0)
		return r;
	j->get_found = store_txn_get(t, STORE_ENTRIES, "q20", 3, &v, &vlen);
	if (j->get_found == 0)
		snprintf(j->got, sizeof(j->got), "%.*s", (int)vlen, (const char *)v);
	j->get_missing = store_txn_get(t, STORE_ENTRIES, "q99", 3, &v, &vlen);
	if ((r = store_txn_put(t, STORE_ENTRIES, "q30", 3, "new", 3)) != 0 ||
	    (r = store_txn_del(t, STORE_ENTRIES, "q11", 3)) != 0 ||
	    (r = store_txn_del(t, STORE_ENTRIES, "q98", 3)) != 0)
		return r;
	return store_txn_release(t, STORE_REFS, STORE_MSGS, "m", 1);
}

START_TEST(store_jobs_see_the_batches_before_them)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct job j = { .status = 1 };
	struct text t;

	put(b, STORE_ENTRIES, "q10", "a");
	put(b, STORE_ENTRIES, "q11", "b");
	put(b, STORE_ENTRIES, "q13", "c");
	put(b, STORE_ENTRIES, "q14", "d");
	put(b, STORE_ENTRIES, "q20", "e");
	put(b, STORE_MSGS, "m", "body");
	store_submit(st, b, NULL, NULL); /* not waited for: the job comes after it anyway */
	store_submit_job(st, job_fn, batch_done, &j); /* its status is j's first member */
	while (j.status == 1) {
		struct pollfd p = { store_completion_fd(st), POLLIN, 0 };
		ck_assert_int_ge(poll(&p, 1, 10000), 1);
		store_run_completions(st);
	}
	ck_assert_int_eq(j.status, 0);
	ck_assert_str_eq(j.seen.s, "q10=a;q11=b;q13=c;");
	ck_assert_int_eq(j.get_found, 0);
	ck_assert_str_eq(j.got, "e");
	ck_assert_int_eq(j.get_missing, 1);
	ck_assert_str_eq(scan(st, STORE_ENTRIES, &t), "q10=a;q13=c;q14=d;q20=e;q30=new;");
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "");
	store_close(st);
}
END_TEST

/*
 * Read jobs (store_submit_read). A job that holds the store thread until the test lets it go:
 * what is submitted meanwhile makes up the next group, whole.
 */
struct gate {
	int running[2], release[2];
};

static int gate_job(struct store_txn *t, void *arg)
{
	struct gate *g = arg;
	char c = 0;

	(void)t;
	if (write(g->running[1], &c, 1) != 1 || read(g->release[0], &c, 1) != 1)
		return STORE_E_IO;
	return 0;
}

/* Hold the store thread in a job of its own; gate_open lets it go. */
static void gate_close(struct store *st, struct gate *g)
{
	struct pollfd p;
	char c;

	ck_assert_int_eq(pipe(g->running), 0);
	ck_assert_int_eq(pipe(g->release), 0);
	store_submit_job(st, gate_job, NULL, g);
	p = (struct pollfd){ g->running[0], POLLIN, 0 };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	ck_assert_int_eq(read(g->running[0], &c, 1), 1);
}

static void gate_open(struct gate *g)
{
	char c = 0;

	ck_assert_int_eq(write(g->release[1], &c, 1), 1);
	close(g->running[0]);
	close(g->running[1]);
	close(g->release[0]);
	close(g->release[1]);
}

/* A read job: the range q1* and a get of q20, as job_fn reads them. */
static int read_fn(struct store_txn *t, void *arg)
{
	struct job *j = arg;
	const void *v;
	size_t vlen;
	int r;

	if ((r = store_txn_range(t, STORE_ENTRIES, "q1", 2, 2, job_collect, j)) != 0)
		return r;
	j->get_found = store_txn_get(t, STORE_ENTRIES, "q20", 3, &v, &vlen);
	if (j->get_found == 0)
		snprintf(j->got, sizeof(j->got), "%.*s", (int)vlen, (const char *)v);
	return 0;
}

static void read_done(void *arg, int status)
{
	struct job *j = arg;

	j->status = status;
}

/* Run completions until *flag is no longer 1. */
static void wait_for(struct store *st, const int *flag)
{
	while (*flag == 1) {
		struct pollfd p = { store_completion_fd(st), POLLIN, 0 };
		ck_assert_int_ge(poll(&p, 1, 10000), 1);
		store_run_completions(st);
	}
}

/*
 * A read job comes back as soon as it has run: before the batch ahead of it in its group, whose
 * flush (delayed 1 s here) it does not wait for, yet with that batch's writes in what it read.
 */
START_TEST(store_read_jobs_do_not_wait_for_the_flush)
{
	struct store *st;
	struct store_batch *b;
	struct gate g;
	struct job j = { .status = 1 };
	int bstatus = 1;

	setenv("WARREN_TEST_FLUSH_DELAY_MS", "1000", 1);
	st = open_ok();
	gate_close(st, &g);
	b = store_batch_new();
	put(b, STORE_ENTRIES, "q10", "a");
	put(b, STORE_ENTRIES, "q20", "e");
	store_submit(st, b, batch_done, &bstatus);
	store_submit_read(st, read_fn, read_done, &j);
	gate_open(&g);
	wait_for(st, &j.status);
	ck_assert_int_eq(j.status, 0);
	ck_assert_int_eq(bstatus, 1); /* the batch is still being flushed */
	ck_assert_str_eq(j.seen.s, "q10=a;");
	ck_assert_int_eq(j.get_found, 0);
	ck_assert_str_eq(j.got, "e");
	wait_for(st, &bstatus);
	ck_assert_int_eq(bstatus, 0);
	store_close(st);
}
END_TEST

/*
 * ... and so, when that flush fails, the read has returned a write that is not on disk (the
 * batch's callback has the error): store.h says where that is harmless.
 */
START_TEST(store_read_job_ahead_of_a_failed_flush)
{
	struct store *st;
	struct store_batch *b;
	struct gate g;
	struct job j = { .status = 1 };
	int bstatus = 1;

	setenv("WARREN_TEST_FLUSH_FAIL", "1", 1);
	st = open_ok();
	gate_close(st, &g);
	b = store_batch_new();
	put(b, STORE_ENTRIES, "q10", "a");
	store_submit(st, b, batch_done, &bstatus);
	store_submit_read(st, read_fn, read_done, &j);
	gate_open(&g);
	wait_for(st, &bstatus);
	ck_assert_int_eq(j.status, 0);
	ck_assert_str_eq(j.seen.s, "q10=a;");
	ck_assert_int_eq(bstatus, STORE_E_FLUSH);
	store_close(st);
}
END_TEST

/* A read job that writes is a bug: it fails, and its group with it. */
static int bad_read_fn(struct store_txn *t, void *arg)
{
	(void)arg;
	return store_txn_put(t, STORE_ENTRIES, "q30", 3, "new", 3);
}

START_TEST(store_read_job_may_not_write)
{
	struct store *st = open_ok();
	struct store_batch *b;
	struct gate g;
	struct job j = { .status = 1 };
	int bstatus = 1;
	struct text t;

	gate_close(st, &g);
	b = store_batch_new();
	put(b, STORE_ENTRIES, "q10", "a");
	store_submit(st, b, batch_done, &bstatus);
	store_submit_read(st, bad_read_fn, read_done, &j);
	gate_open(&g);
	wait_for(st, &j.status);
	wait_for(st, &bstatus);
	ck_assert_int_eq(j.status, STORE_E_DB);
	ck_assert_int_eq(bstatus, STORE_E_DB);
	ck_assert_ptr_nonnull(strstr(store_last_error(st), "write in a read job"));
	ck_assert_str_eq(scan(st, STORE_ENTRIES, &t), "");
	store_close(st);
}
END_TEST

START_TEST(store_last_key_is_the_greatest)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	uint8_t key[8];
	size_t klen = sizeof(key);

	ck_assert_int_eq(store_last_key(st, STORE_MSGS, key, &klen), 1);
	put(b, STORE_MSGS, "id2", "x");
	put(b, STORE_MSGS, "id9", "x");
	put(b, STORE_MSGS, "id10", "x");
	ck_assert_int_eq(submit_wait(st, b), 0);
	klen = sizeof(key);
	ck_assert_int_eq(store_last_key(st, STORE_MSGS, key, &klen), 0);
	ck_assert_uint_eq(klen, 3);
	ck_assert_int_eq(memcmp(key, "id9", 3), 0);
	store_close(st);
}
END_TEST

/* Reopened: what was written is there; scratch (not logged) starts empty. */
START_TEST(store_reopen_keeps_records_and_empties_scratch)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct text t;
	enum store_table tb;

	for (tb = 0; tb < STORE_NTABLES; tb++)
		put(b, tb, "key", "value");
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_SCRATCH, &t), "key=value;");
	store_close(st);
	st = open_ok();
	for (tb = 0; tb < STORE_NTABLES; tb++)
		ck_assert_str_eq(scan(st, tb, &t), tb == STORE_SCRATCH ? "" : "key=value;");
	store_close(st);
}
END_TEST

START_TEST(store_one_broker_per_directory)
{
	struct store *st = open_ok();

	open_refused("another warrend is using this data directory");
	store_close(st);
	store_close(open_ok());
}
END_TEST

START_TEST(store_format_other_version_refused)
{
	write_file("FORMAT", "warren-store 1\n", 15);
	open_refused("format version 1, this build reads 2 to 3");
	write_file("FORMAT", "warren-store 4\n", 15);
	open_refused("format version 4, this build reads 2 to 3");
}
END_TEST

/* Format 2 is read as format 3 (which only adds entries holding their message): FORMAT says 3. */
START_TEST(store_format_2_becomes_3)
{
	char path[128], buf[64] = "";
	struct store *st;
	FILE *f;

	write_file("FORMAT", "warren-store 2\n", 15);
	st = open_ok();
	ck_assert_msg(strstr(store_notice(st), "store format 2 read as format 3") != NULL, "%s",
	    store_notice(st));
	store_close(st);
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "warren-store 3\n");
	st = open_ok();
	ck_assert_str_eq(store_notice(st), "");
	store_close(st);
}
END_TEST

START_TEST(store_format_garbage_refused)
{
	write_file("FORMAT", "hello\n", 6);
	open_refused("not a Warren format file");
}
END_TEST

START_TEST(store_format_cut_short_without_store_rewritten)
{
	struct store *st;

	write_file("FORMAT", "warren-st", 9);
	st = open_ok();
	ck_assert_ptr_nonnull(strstr(store_notice(st), "written again"));
	store_close(st);
}
END_TEST

START_TEST(store_format_cut_short_beside_a_store_refused)
{
	store_close(open_ok());
	write_file("FORMAT", "\0\0\0\0", 4);
	open_refused("refusing to guess its format");
	write_file("FORMAT", "", 0);
	open_refused("FORMAT: empty");
}
END_TEST

START_TEST(store_format_missing_beside_a_store_refused)
{
	char path[128];

	store_close(open_ok());
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	ck_assert_int_eq(unlink(path), 0);
	open_refused("missing, but");
}
END_TEST

/* A table file that is not a Berkeley DB file at all: refused with its name, no crash. */
START_TEST(store_garbage_table_refused)
{
	static uint8_t junk[4096];
	size_t i;

	store_close(open_ok());
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 131 + 7);
	write_file("defs.db", junk, sizeof(junk));
	open_refused("defs.db");
}
END_TEST

/* A flush that fails fails its batch (and the data is not relied on). */
START_TEST(store_failed_flush_fails_the_batch)
{
	struct store *st;
	struct store_batch *b;

	setenv("WARREN_TEST_FLUSH_FAIL", "1", 1);
	st = open_ok();
	b = store_batch_new();
	put(b, STORE_DEFS, "k", "v");
	ck_assert_int_eq(submit_wait(st, b), STORE_E_FLUSH);
	ck_assert_ptr_nonnull(strstr(store_last_error(st), "log flush failed"));
	store_close(st);
}
END_TEST

/* ---- the record codec ---- */

/* Bytes from hex, into out (at most cap); returns the length. */
static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	if (strcmp(s, "-") == 0)
		return 0;
	while (s[0] != '\0' && s[1] != '\0') {
		ck_assert_uint_lt(n, cap);
		ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

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

enum rtype {
	R_EXCHANGE,
	R_QUEUE,
	R_BINDING,
	R_MESSAGE,
	R_REFS,
	R_ENTRY,
	R_DELIVERED,
	R_DEAD,
	R_SEGMENT
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

/* Which decoder reads a fixture record, by table and key. */
static enum rtype fixture_type(const char *table, const uint8_t *k, size_t klen)
{
	if (strcmp(table, "defs") == 0)
		return record_def_kind(k, klen) == 'x' ? R_EXCHANGE
		    : record_def_kind(k, klen) == 'q'  ? R_QUEUE
		                                       : R_BINDING;
	if (strcmp(table, "msgs") == 0)
		return R_MESSAGE;
	if (strcmp(table, "refs") == 0)
		return R_REFS;
	if (strcmp(table, "entries") == 0)
		return R_ENTRY;
	if (strcmp(table, "meta") == 0)
		return record_meta_kind(k, klen) == META_DELIVERED ? R_DELIVERED : R_DEAD;
	ck_assert_str_eq(table, "scratch");
	return R_SEGMENT;
}

struct frecord {
	char table[16];
	enum rtype type;
	uint8_t k[256], v[2048];
	size_t klen, vlen;
};

/*
 * The records of test/fixtures/NAME: store-v2.records (written by the code before the codec, store
 * format 2) or store-v3.records (format 3: entries that hold their message).
 */
static size_t load_fixture(const char *name, struct frecord *out, size_t cap)
{
	static char line[8192], ks[1024], vs[6000];
	char path[512];
	FILE *f;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, name);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		ck_assert_uint_lt(n, cap);
		ck_assert_int_eq(sscanf(line, "%15s %1023s %5999s", out[n].table, ks, vs), 3);
		out[n].klen = unhex(ks, out[n].k, sizeof(out[n].k));
		out[n].vlen = unhex(vs, out[n].v, sizeof(out[n].v));
		out[n].type = fixture_type(out[n].table, out[n].k, out[n].klen);
		n++;
	}
	fclose(f);
	return n;
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

/* ---- the fixture: the broker's writers, recovery and store-dump ---- */

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

static void fixture_write(void)
{
	char err[512];

	ck_assert_msg(store_fixture_write(dir, err, sizeof(err)) == 0, "%s", err);
}

/* The writers of this build make the records of store format 3, byte for byte. */
START_TEST(fixture_writers_make_the_same_records)
{
	char *want = read_all(FIXTURE_DIR "/store-v3.records"), *got = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&got, &len);

	fixture_write();
	ck_assert_int_eq(store_fixture_records(f), 0);
	fclose(f);
	persist_close();
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
}
END_TEST

/* store-dump (and with it store-verify) reads them as it did. */
START_TEST(fixture_dump_is_the_same)
{
	char *want = read_all(FIXTURE_DIR "/store-v3.dump"), *got = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&got, &len);

	fixture_write();
	persist_close();
	ck_assert_int_eq(store_fixture_dump(dir, f), 0);
	fclose(f);
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
	f = fopen("/dev/null", "w");
	ck_assert_int_eq(persist_dump(dir, f, true, err, sizeof(err)), 0);
	fclose(f);
}
END_TEST

/* Write the fixture in a child process: the caller's broker starts from the store alone. */
static void fixture_write_in_child(void)
{
	pid_t pid = fork();
	int st;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		char err[512];
		if (store_fixture_write(dir, err, sizeof(err)) != 0) {
			fprintf(stderr, "%s\n", err);
			_exit(1);
		}
		persist_close();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int start_broker(char *err, size_t errlen)
{
	struct broker_config cfg;

	log_set_level(LOG_ERROR);
	broker_config_defaults(&cfg);
	broker_init(event_base_new(), &cfg);
	return persist_open(dir, err, errlen);
}

static struct queue *find_queue(const char *name)
{
	struct queue *q = vhost_queue(vhost_find(amqp_cstr("/")), amqp_cstr(name));

	ck_assert_msg(q != NULL, "queue %s not recovered", name);
	return q;
}

START_TEST(fixture_recovery_rebuilds_the_broker)
{
	struct vhost *v;
	struct exchange *x;
	struct queue *work, *audit, *paged;
	struct qentry e;
	char err[512];
	int i;

	fixture_write_in_child();
	ck_assert_msg(start_broker(err, sizeof(err)) == 0, "%s", err);
	v = vhost_find(amqp_cstr("/"));
	ck_assert_ptr_nonnull(x = vhost_exchange(v, amqp_cstr("orders")));
	ck_assert_int_eq(x->type, EX_TOPIC);
	ck_assert_str_eq(x->alternate, "ae");
	ck_assert_uint_eq(x->nbindings, 2);
	ck_assert_ptr_nonnull(x = vhost_exchange(v, amqp_cstr("ae")));
	ck_assert(x->auto_delete && x->internal && x->type == EX_FANOUT);
	ck_assert_ptr_nonnull(x = vhost_exchange(v, amqp_cstr("hdrs")));
	ck_assert_uint_eq(x->nbindings, 1);
	ck_assert_ptr_null(vhost_exchange(v, amqp_cstr("transient")));
	ck_assert_ptr_null(vhost_queue(v, amqp_cstr("tq")));
	work = find_queue("work");
	audit = find_queue("audit");
	paged = find_queue("paged");
	ck_assert_uint_eq(work->qid, 1);
	ck_assert_uint_eq(work->nrings, 4);
	ck_assert_uint_eq(work->count, 3);
	ck_assert_uint_eq(work->bytes, 910);
	ck_assert_uint_eq(work->delivered_hi, 1);
	ck_assert(audit->auto_delete);
	ck_assert_uint_eq(audit->count, 3);
	ck_assert_uint_eq(paged->count, 0);
	ck_assert_uint_ge(paged->next_seq, 20); /* past the purged range */
	ck_assert_uint_eq(broker.next_message_id, 4);
	ck_assert_uint_eq(ps.next_qid, 3);
	/* Read back (the highest priority first): the returned ones with their counts. */
	for (i = 0; i < 3; i++) {
		static const uint32_t counts[] = { 2, 0, 1 };
		static const uint64_t sizes[] = { 10, 300, 600 };
		while (!queue_pop(work, &e))
			ck_assert_int_eq(event_base_loop(broker.base, EVLOOP_ONCE), 0);
		ck_assert_uint_eq(e.m->body_size, sizes[i]);
		ck_assert_uint_eq(e.delivery_count, counts[i]);
		ck_assert(e.redelivered == (counts[i] > 0));
		message_unref(e.m);
	}
	persist_close();
}
END_TEST

/*
 * A store of format 2 (test/fixtures/store-v2.records, put into the tables as they are, FORMAT
 * "warren-store 2"): read as format 3, FORMAT written again, the broker rebuilt from it, and
 * store-dump reads it as before (store-v2.dump).
 */
static void write_v2_store(void)
{
	static struct frecord v2[64];
	static const char *const names[STORE_NTABLES] = { "defs", "msgs", "entries", "meta", "refs",
		"scratch" };
	size_t n = load_fixture("store-v2.records", v2, 64), i;
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	int t;

	for (i = 0; i < n; i++) {
		for (t = 0; t < STORE_NTABLES && strcmp(names[t], v2[i].table) != 0; t++)
			;
		ck_assert_int_lt(t, STORE_NTABLES);
		store_batch_put(b, (enum store_table)t, v2[i].k, v2[i].klen, v2[i].v, v2[i].vlen);
	}
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	write_file("FORMAT", "warren-store 2\n", 15);
}

START_TEST(fixture_v2_store_is_read)
{
	char *want = read_all(FIXTURE_DIR "/store-v2.dump"), *got = NULL, err[512];
	size_t len = 0;
	struct queue *work, *audit;
	FILE *f;

	write_v2_store();
	ck_assert_msg(start_broker(err, sizeof(err)) == 0, "%s", err);
	work = find_queue("work");
	audit = find_queue("audit");
	ck_assert_uint_eq(work->count, 2);
	ck_assert_uint_eq(work->bytes, 310);
	ck_assert_uint_eq(work->delivered_hi, 1);
	ck_assert_uint_eq(audit->count, 2);
	ck_assert_uint_eq(broker.next_message_id, 3);
	persist_close();
	f = open_memstream(&got, &len);
	ck_assert_int_eq(store_fixture_dump(dir, f), 0);
	fclose(f);
	ck_assert_str_eq(got, want);
	free(got);
	free(want);
	snprintf(err, sizeof(err), "%s/FORMAT", dir);
	f = fopen(err, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(err, sizeof(err), f));
	fclose(f);
	ck_assert_str_eq(err, "warren-store 3\n");
}
END_TEST

/* Put one record into the fixture's store (closed). */
static void add_record(enum store_table tb, const void *k, size_t klen, const void *v, size_t vlen)
{
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();

	store_batch_put(b, tb, k, klen, v, vlen);
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
}

/* A queue entry of the wrong size: warrend refuses to start on the store. */
START_TEST(fixture_corrupt_entry_stops_recovery)
{
	char err[512] = "";

	fixture_write_in_child();
	add_record(STORE_ENTRIES, "\0\0\0\0\0\0\0\1\xff\0\0\0\0\0\0\0", 16, "x", 1);
	ck_assert_int_ne(start_broker(err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "the store is corrupt"));
}
END_TEST

START_TEST(fixture_corrupt_exchange_stops_recovery)
{
	char err[512] = "";

	fixture_write_in_child();
	add_record(STORE_DEFS, "x\1/\3bad", 7, "\x09\0", 2); /* exchange type 9 */
	ck_assert_int_ne(start_broker(err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, "the store is corrupt"));
}
END_TEST

/* store-verify reports a malformed message record, and the entries that refer to it. */
START_TEST(fixture_corrupt_message_found_by_verify)
{
	char *out = NULL, err[256];
	size_t len = 0;
	FILE *f;

	fixture_write_in_child();
	add_record(STORE_MSGS, "\0\0\0\0\0\0\0\4", 8, "\0\0\xff\xff\xff\xff", 6);
	f = open_memstream(&out, &len);
	ck_assert_int_ne(persist_dump(dir, f, true, err, sizeof(err)), 0);
	fclose(f);
	ck_assert_msg(strstr(out, "problem: message 4 is malformed") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "refers to message 4, which does not exist") != NULL, "%s", out);
	ck_assert_str_eq(err, "4 problems");
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("store");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, store_new_directory_gets_format);
	tcase_add_test(tc, store_batches_apply_in_order);
	tcase_add_test(tc, store_cancelled_writes_cost_nothing);
	tcase_add_test(tc, store_release_counts_references);
	tcase_add_test(tc, store_jobs_see_the_batches_before_them);
	tcase_add_test(tc, store_read_jobs_do_not_wait_for_the_flush);
	tcase_add_test(tc, store_read_job_ahead_of_a_failed_flush);
	tcase_add_test(tc, store_read_job_may_not_write);
	tcase_add_test(tc, store_last_key_is_the_greatest);
	tcase_add_test(tc, store_reopen_keeps_records_and_empties_scratch);
	tcase_add_test(tc, store_one_broker_per_directory);
	tcase_add_test(tc, store_format_other_version_refused);
	tcase_add_test(tc, store_format_2_becomes_3);
	tcase_add_test(tc, store_format_garbage_refused);
	tcase_add_test(tc, store_format_cut_short_without_store_rewritten);
	tcase_add_test(tc, store_format_cut_short_beside_a_store_refused);
	tcase_add_test(tc, store_format_missing_beside_a_store_refused);
	tcase_add_test(tc, store_garbage_table_refused);
	tcase_add_test(tc, store_failed_flush_fails_the_batch);
	suite_add_tcase(s, tc);

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

	tc = tcase_create("fixture");
	tcase_add_checked_fixture(tc, dir_setup, dir_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, fixture_writers_make_the_same_records);
	tcase_add_test(tc, fixture_dump_is_the_same);
	tcase_add_test(tc, fixture_recovery_rebuilds_the_broker);
	tcase_add_test(tc, fixture_v2_store_is_read);
	tcase_add_test(tc, fixture_corrupt_entry_stops_recovery);
	tcase_add_test(tc, fixture_corrupt_exchange_stops_recovery);
	tcase_add_test(tc, fixture_corrupt_message_found_by_verify);
	suite_add_tcase(s, tc);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
