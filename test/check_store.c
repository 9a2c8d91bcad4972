/*
 * check_store.c: the store (store/) and the broker's records in it (the codec's own cases are in
 * check_records.c).
 *   store    a store in a temporary directory: batches, cancelled writes, jobs (range, get, put,
 *            delete, release), read jobs (back before their group's flush, even a failing one;
 *            no writes), counted references, scans, the last key, reopening (scratch
 *            emptied), the FORMAT file's cases, the LOCK, a failing flush, a table file of garbage
 *   fixture  a store written through the broker's writers (test/store_fixture.c) holds exactly
 *            the records that the code before the codec wrote (test/fixtures/store-v2.records,
 *            read through test/record_fixture.h); store-dump prints the same
 *            (store-v2.dump); recovery rebuilds the broker from them; corrupt records stop the
 *            start or show in store-verify
 */
#include <check.h>
#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/persist/persist_private.h"
#include "server/server.h"
#include "test/check_util.h"
#include "test/record_fixture.h"
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
	ck_assert_str_eq(buf, "warren-store 5\n");
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

/*
 * A msgs.db as format 3 kept it (a btree of 64 KiB pages), written with Berkeley DB directly into
 * the (closed) store's environment: n records, record i made by fill.
 */
static void write_legacy_msgs(
    size_t n, void (*fill)(size_t i, DBT *k, DBT *v, void *arg), void *arg)
{
	DB_ENV *env;
	DB *db;
	size_t i;

	ck_assert_int_eq(db_env_create(&env, 0), 0);
	ck_assert_int_eq(
	    env->open(env, dir,
	        DB_CREATE | DB_INIT_TXN | DB_INIT_LOG | DB_INIT_LOCK | DB_INIT_MPOOL | DB_RECOVER,
	        0600),
	    0);
	ck_assert_int_eq(db_create(&db, env, 0), 0);
	ck_assert_int_eq(db->set_pagesize(db, 65536), 0);
	ck_assert_int_eq(
	    db->open(db, NULL, "msgs.db", NULL, DB_BTREE, DB_CREATE | DB_AUTO_COMMIT, 0600), 0);
	for (i = 0; i < n; i++) {
		DBT k = { 0 }, v = { 0 };
		fill(i, &k, &v, arg);
		ck_assert_int_eq(db->put(db, NULL, &k, &v, DB_AUTO_COMMIT), 0);
	}
	ck_assert_int_eq(db->close(db, 0), 0);
	ck_assert_int_eq(env->txn_checkpoint(env, 0, 0, DB_FORCE), 0);
	ck_assert_int_eq(env->close(env, 0), 0);
}

/* Record i of the migration test: key "m%05zu", value i % 7000 + 1 bytes of (i + j) & 0xff. */
static uint8_t legacy_buf[7001];
static char legacy_key[16];

static void legacy_record(size_t i, DBT *k, DBT *v, void *arg)
{
	size_t j, len = i % 7000 + 1;

	(void)arg;
	k->size = (uint32_t)snprintf(legacy_key, sizeof(legacy_key), "m%05zu", i);
	k->data = legacy_key;
	for (j = 0; j < len; j++)
		legacy_buf[j] = (uint8_t)(i + j);
	v->data = legacy_buf;
	v->size = (uint32_t)len;
}

struct legacy_check {
	size_t seen, bad;
};

static int legacy_check_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct legacy_check *c = arg;
	DBT k = { 0 }, v = { 0 };

	legacy_record(c->seen++, &k, &v, NULL);
	if (klen != k.size || memcmp(key, k.data, klen) != 0 || vlen != v.size ||
	    memcmp(val, v.data, vlen) != 0)
		c->bad++;
	return 0;
}

static bool dir_has(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* As collect, for large values: "key:length:first byte;". */
static int collect_sizes(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	struct text *t = arg;

	t->n += (size_t)snprintf(t->s + t->n, sizeof(t->s) - t->n, "%.*s:%zu:%c;", (int)klen,
	    (const char *)key, vlen, vlen > 0 ? *(const char *)val : '-');
	return 0;
}

/*
 * Format 4's msgs: records of any size (one larger than a heap page) kept, written again, read,
 * scanned in key order, deleted and released, across a reopen.
 */
START_TEST(store_msgs_heap_keeps_records)
{
	static char big[150000], other[5000];
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct text t;

	memset(big, 'b', sizeof(big) - 1);
	memset(other, 'o', sizeof(other) - 1);
	put(b, STORE_MSGS, "m3", big);
	put(b, STORE_MSGS, "m1", "one");
	put(b, STORE_MSGS, "m2", other);
	put(b, STORE_MSGS, "m4", "four");
	ck_assert_int_eq(submit_wait(st, b), 0);
	b = store_batch_new();
	put(b, STORE_MSGS, "m2", "two"); /* a put replaces */
	store_batch_del(b, STORE_MSGS, "m4", 2);
	store_batch_del(b, STORE_MSGS, "m9", 2); /* not there: fine */
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	ck_assert(
	    dir_has("msgs-heap-000001.db") && dir_has("msgs-index.db") && !dir_has("msgs.db"));
	st = open_ok();
	t.n = 0;
	ck_assert_int_eq(store_scan(st, STORE_MSGS, collect_sizes, &t), 0);
	ck_assert_str_eq(t.s, "m1:3:o;m2:3:t;m3:149999:b;");
	b = store_batch_new();
	store_batch_release(b, STORE_REFS, STORE_MSGS, "m3", 2);
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "m1=one;m2=two;");
	store_close(st);
}
END_TEST

/*
 * A format-3 store's msgs.db (2,500 records of 1 to 7,000 bytes: three transactions' worth) is
 * moved into the heap at the open: every record as it was, msgs.db gone, FORMAT 4, and said once.
 */
START_TEST(store_format_3_msgs_moved_into_the_heap)
{
	struct legacy_check c = { 0, 0 };
	struct store *st = open_ok();
	char last[16];
	size_t klen = sizeof(last);

	store_close(st);
	write_legacy_msgs(2500, legacy_record, NULL);
	write_file("FORMAT", "warren-store 3\n", 15);
	st = open_ok();
	ck_assert_msg(strstr(store_notice(st), "store format 3 read as format 5") != NULL &&
	        strstr(store_notice(st), "msgs.db: message records moved into heap files") != NULL,
	    "%s", store_notice(st));
	ck_assert(!dir_has("msgs.db"));
	ck_assert_int_eq(store_scan(st, STORE_MSGS, legacy_check_one, &c), 0);
	ck_assert_uint_eq(c.seen, 2500);
	ck_assert_uint_eq(c.bad, 0);
	ck_assert_int_eq(store_last_key(st, STORE_MSGS, last, &klen), 0);
	ck_assert_int_eq(memcmp(last, "m02499", 6), 0);
	store_close(st);
	st = open_ok();
	ck_assert_str_eq(store_notice(st), "");
	c.seen = 0;
	ck_assert_int_eq(store_scan(st, STORE_MSGS, legacy_check_one, &c), 0);
	ck_assert_uint_eq(c.seen, 2500);
	ck_assert_uint_eq(c.bad, 0);
	store_close(st);
}
END_TEST

/* How many heap files the store has. */
static int heap_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += strncmp(e->d_name, "msgs-heap-", 10) == 0;
	closedir(d);
	return n;
}

/* Record i of the collection test: "m%04d" -> 4,000 bytes of i & 0xff. */
static void gc_record(int i, char *key, size_t klen, char *val)
{
	snprintf(key, klen, "m%04d", i);
	memset(val, 'a' + i % 26, 4000);
	val[4000] = '\0';
}

static int gc_check_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	int *bad = arg, i;
	char k[16], v[4001];

	if (sscanf((const char *)key, "m%4d", &i) != 1)
		return ++*bad, 0;
	gc_record(i, k, sizeof(k), v);
	*bad += klen != strlen(k) || memcmp(key, k, klen) != 0 || vlen != 4000 ||
	    memcmp(val, v, vlen) != 0;
	return 0;
}

/* Wait (10 s at most) until the store has at most n heap files. */
static void wait_heap_files(int n)
{
	for (int i = 0; i < 1000 && heap_files() > n; i++)
		usleep(10000);
	ck_assert_int_le(heap_files(), n);
}

/*
 * Heap files of 1 MiB (the test hook): 2,000 records of 4,000 bytes fill several; deleting all
 * but one in a hundred leaves them mostly dead, so their live records are moved to the current
 * file and they are removed; deleting the rest removes the last full one; the records left are
 * intact through it all and after a reopen.
 */
START_TEST(store_heap_files_collected_and_removed)
{
	char key[16], val[4001];
	struct store *st;
	struct store_batch *b = NULL;
	struct text t;
	int i, bad = 0;

	setenv("WARREN_TEST_HEAP_FILE_BYTES", "1048576", 1);
	st = open_ok();
	for (i = 0; i < 2000; i++) {
		if (i % 100 == 0)
			b = store_batch_new();
		gc_record(i, key, sizeof(key), val);
		put(b, STORE_MSGS, key, val);
		if (i % 100 == 99)
			ck_assert_int_eq(submit_wait(st, b), 0);
	}
	ck_assert_int_ge(heap_files(), 6);
	b = store_batch_new();
	for (i = 0; i < 2000; i++) {
		gc_record(i, key, sizeof(key), val);
		if (i % 100 != 50)
			store_batch_del(b, STORE_MSGS, key, strlen(key));
	}
	ck_assert_int_eq(submit_wait(st, b), 0);
	wait_heap_files(2);
	ck_assert_int_eq(store_scan(st, STORE_MSGS, gc_check_one, &bad), 0);
	ck_assert_int_eq(bad, 0);
	b = store_batch_new();
	for (i = 50; i < 2000; i += 100) {
		gc_record(i, key, sizeof(key), val);
		if (i != 1950)
			store_batch_del(b, STORE_MSGS, key, strlen(key));
	}
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	st = open_ok();
	ck_assert_int_le(heap_files(), 2);
	ck_assert_int_eq(store_scan(st, STORE_MSGS, gc_check_one, &bad), 0);
	ck_assert_int_eq(bad, 0);
	b = store_batch_new();
	put(b, STORE_MSGS, "after", "still works");
	store_batch_del(b, STORE_MSGS, "m1950", 5);
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "after=still works;");
	store_close(st);
	unsetenv("WARREN_TEST_HEAP_FILE_BYTES");
}
END_TEST

/*
 * kill -9 while heap files are collected and removed: a child writes 2,000 records into files of
 * 256 KiB and deletes nine in ten (durably: it says so through a pipe); right after that group
 * one file is collected, and after a second of idle time the rest, when the child is killed
 * (0-150 ms after it spoke, or 1,000-1,150 ms), six times at different moments. Each time the store opens again with every record left intact and none of
 * the deleted ones back, and the next round starts from there.
 */
static void gc_child(int fd, int round)
{
	char key[16], val[4001], c = 'd';
	struct store *st = open_ok();
	struct store_batch *b = NULL;
	int i;

	for (i = 0; i < 2000; i++) {
		if (i % 200 == 0)
			b = store_batch_new();
		gc_record(round * 2000 + i, key, sizeof(key), val);
		val[1000] = '\0'; /* 1,000 bytes: several hundred records a file */
		put(b, STORE_MSGS, key, val);
		if (i % 200 == 199)
			ck_assert_int_eq(submit_wait(st, b), 0);
	}
	b = store_batch_new();
	for (i = 0; i < 2000; i++) {
		gc_record(round * 2000 + i, key, sizeof(key), val);
		if (i % 10 != 0)
			store_batch_del(b, STORE_MSGS, key, strlen(key));
	}
	ck_assert_int_eq(submit_wait(st, b), 0);
	ck_assert_int_eq(write(fd, &c, 1), 1);
	for (;;)
		pause();
}

static int gc_count_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	int *n = arg, i;
	char k[16];

	snprintf(k, sizeof(k), "%.*s", (int)(klen < 15 ? klen : 15), (const char *)key);
	if (sscanf(k, "m%d", &i) != 1 || i % 10 != 0 || vlen != 1000 ||
	    memchr(val, 'a' + i % 26, 1) == NULL)
		n[1]++;
	n[0]++;
	return 0;
}

START_TEST(store_heap_collection_survives_kill)
{
	int round, n[2];

	setenv("WARREN_TEST_HEAP_FILE_BYTES", "262144", 1);
	srand((unsigned)getpid());
	for (round = 0; round < 6; round++) {
		int pfd[2], status;
		char c;
		pid_t pid;
		struct store *st;
		struct pollfd p;

		ck_assert_int_eq(pipe(pfd), 0);
		ck_assert_int_ge(pid = fork(), 0);
		if (pid == 0) {
			close(pfd[0]);
			gc_child(pfd[1], round);
		}
		close(pfd[1]);
		p = (struct pollfd){ pfd[0], POLLIN, 0 };
		ck_assert_int_eq(poll(&p, 1, 20000), 1);
		ck_assert_int_eq(read(pfd[0], &c, 1), 1);
		close(pfd[0]);
		usleep((useconds_t)(round == 0 ? 0 : (round % 2) * 1000000 + rand() % 150000));
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		st = open_ok();
		n[0] = n[1] = 0;
		ck_assert_int_eq(store_scan(st, STORE_MSGS, gc_count_one, n), 0);
		ck_assert_int_eq(n[1], 0);
		ck_assert_int_eq(n[0], 200 * (round + 1));
		store_close(st);
	}
	unsetenv("WARREN_TEST_HEAP_FILE_BYTES");
}
END_TEST

/*
 * What an interrupted removal leaves under a heap file's (or msgs.db's) name after a power cut:
 * Berkeley DB's placeholder, a meta page of 512 bytes never fsync'ed, so empty or short. Recovery
 * cannot open it; the store removes such files before recovery, says so, and works on. A heap
 * file of 1 KiB or more is left alone (Berkeley DB never names one shorter).
 */
START_TEST(store_removal_placeholders_removed_before_recovery)
{
	static char zeros[1024];
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	struct text t;

	put(b, STORE_MSGS, "m1", "kept");
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	write_file("msgs-heap-000077.db", zeros, 512);
	write_file("msgs.db", zeros, 0);
	st = open_ok();
	ck_assert_msg(strstr(store_notice(st),
	                  "msgs-heap-000077.db: 512 bytes, what an interrupted "
	                  "removal left: removed") != NULL &&
	        strstr(store_notice(st), "msgs.db: 0 bytes") != NULL,
	    "%s", store_notice(st));
	ck_assert(!dir_has("msgs-heap-000077.db") && !dir_has("msgs.db"));
	ck_assert_str_eq(scan(st, STORE_MSGS, &t), "m1=kept;");
	store_close(st);
	write_file("msgs-heap-000078.db", zeros, 1024); /* not a placeholder: opening it fails */
	open_refused("msgs-heap-000078.db");
	ck_assert(dir_has("msgs-heap-000078.db"));
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

/* An entry's key: a queue id's 8 bytes (big-endian), a ring byte, a sequence number's 8. */
static void entry_key(uint8_t k[17], unsigned qid, unsigned seq)
{
	memset(k, 0, 17);
	k[6] = (uint8_t)(qid >> 8);
	k[7] = (uint8_t)qid;
	k[16] = (uint8_t)seq;
}

/* Entries as "qid.seq;" in the order read. */
static int collect_entry(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
	const uint8_t *k = key;
	struct text *t = arg;

	(void)val;
	(void)vlen;
	if (klen != 17)
		t->n += (size_t)snprintf(t->s + t->n, sizeof(t->s) - t->n, "short%zu;", klen);
	else
		t->n += (size_t)snprintf(t->s + t->n, sizeof(t->s) - t->n, "%u.%u;",
		    (unsigned)k[6] << 8 | k[7], (unsigned)k[16]);
	return 0;
}

struct range_read {
	struct text t;
	int status;
};

static int range_job(struct store_txn *t, void *arg)
{
	struct range_read *rr = arg;
	uint8_t from[17];

	entry_key(from, 17, 2);
	rr->t.n = 0;
	return store_txn_range(t, STORE_ENTRIES, from, sizeof(from), 8, collect_entry, &rr->t);
}

static void range_done(void *arg, int status)
{
	((struct range_read *)arg)->status = status;
}

/*
 * Entries of queues 1-20 (2 each; queues 1 and 17 share a btree, as do 2 and 18...) and a short
 * key, written in one batch, then deleted in part: a scan reads them in key order across the
 * btrees, a range within queue 17 reads its own, the last is the greatest, before and after a
 * reopen. Queue 40's first entry (written before, or not) is 40.1 in the scan (extra).
 */
static void entries_written_and_read(struct store *st, const char *extra)
{
	struct store_batch *b = store_batch_new();
	char want[256];
	struct text t = { "", 0 };
	struct range_read rr;
	uint8_t k[17], last[32];
	size_t klen = sizeof(last);

	for (unsigned q = 20; q >= 1; q--) {
		for (unsigned seq = 1; seq <= 2; seq++) {
			entry_key(k, q, seq);
			store_batch_put(b, STORE_ENTRIES, k, sizeof(k), "v", 1);
		}
	}
	entry_key(k, 17, 3);
	store_batch_put(b, STORE_ENTRIES, k, sizeof(k), "v", 1);
	store_batch_put(b, STORE_ENTRIES, "\0\0\0", 3, "v", 1); /* before every other */
	ck_assert_int_eq(submit_wait(st, b), 0);
	b = store_batch_new();
	for (unsigned q = 2; q <= 20; q += 2) { /* even queues lose their second */
		entry_key(k, q, 2);
		store_batch_del(b, STORE_ENTRIES, k, sizeof(k));
	}
	entry_key(k, 17, 1);
	store_batch_del(b, STORE_ENTRIES, k, sizeof(k));
	ck_assert_int_eq(submit_wait(st, b), 0);
	snprintf(want, sizeof(want),
	    "short3;1.1;1.2;2.1;3.1;3.2;4.1;5.1;5.2;6.1;7.1;7.2;8.1;9.1;9.2;10.1;11.1;11.2;12.1;"
	    "13.1;13.2;14.1;15.1;15.2;16.1;17.2;17.3;18.1;19.1;19.2;20.1;%s",
	    extra);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			store_close(st);
			st = open_ok();
		}
		t.n = 0;
		ck_assert_int_eq(store_scan(st, STORE_ENTRIES, collect_entry, &t), 0);
		ck_assert_str_eq(t.s, want);
		rr.status = 1;
		store_submit_read(st, range_job, range_done, &rr);
		wait_for(st, &rr.status);
		ck_assert_int_eq(rr.status, 0);
		ck_assert_str_eq(rr.t.s, "17.2;17.3;");
		klen = sizeof(last);
		ck_assert_int_eq(store_last_key(st, STORE_ENTRIES, last, &klen), 0);
		ck_assert_uint_eq(klen, 17);
		ck_assert_uint_eq(last[7], *extra != '\0' ? 40 : 20);
	}
	store_close(st);
}

/* A new store's entries table is 16 btrees (store/shards.c). */
START_TEST(store_entries_spread_over_btrees)
{
	entries_written_and_read(open_ok(), "");
	ck_assert(dir_has("entries.db") && dir_has("entries-1.db") && dir_has("entries-15.db"));
	ck_assert(!dir_has("entries-16.db"));
}
END_TEST

/*
 * An older store's entries stay in entries.db, read and written there, until an open finds it
 * empty; then it gets its btrees, and its other tables are as they were.
 */
START_TEST(store_older_entries_kept_in_one_btree_until_empty)
{
	struct store *st;
	struct store_batch *b;
	struct text t;
	uint8_t k[17];

	setenv("WARREN_TEST_ONE_ENTRIES_TREE", "1", 1); /* as a format-4 build made it */
	st = open_ok();
	unsetenv("WARREN_TEST_ONE_ENTRIES_TREE");
	b = store_batch_new();
	entry_key(k, 40, 1);
	store_batch_put(b, STORE_ENTRIES, k, sizeof(k), "v", 1);
	put(b, STORE_DEFS, "d", "1");
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	ck_assert(!dir_has("entries-1.db"));
	entries_written_and_read(open_ok(), "40.1;");
	ck_assert(!dir_has("entries-1.db"));
	st = open_ok();
	b = store_batch_new();
	store_batch_del(b, STORE_ENTRIES, "\0\0\0", 3);
	for (unsigned q = 1; q <= 40; q++)
		for (unsigned seq = 1; seq <= 3; seq++) {
			entry_key(k, q, seq);
			store_batch_del(b, STORE_ENTRIES, k, sizeof(k));
		}
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	ck_assert(!dir_has("entries-1.db"));
	st = open_ok(); /* entries.db empty: the btrees are made */
	ck_assert(dir_has("entries-1.db") && dir_has("entries-15.db"));
	ck_assert_str_eq(scan(st, STORE_DEFS, &t), "d=1;");
	entries_written_and_read(st, "");
}
END_TEST

/* A store made, the file name removed from it (by hand): the next open is refused with why. */
static void removed_then_refused(const char *name, const char *why)
{
	char path[256];

	store_close(open_ok());
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_int_eq(unlink(path), 0);
	open_refused(why);
}

/* A btree of the entries table gone: the open is refused, naming it. */
START_TEST(store_entries_btree_missing_refused)
{
	removed_then_refused("entries-7.db", "entries-7.db: missing, but entries-1.db is there");
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
	open_refused("format version 1, this build reads 2 to 5");
	write_file("FORMAT", "warren-store 6\n", 15);
	open_refused("format version 6, this build reads 2 to 5");
}
END_TEST

/*
 * Format 2 is read as format 5 (3 only added entries holding their message, 4 moved msgs into a
 * heap, which a store without msgs.db needs nothing for, 5 spread entries over several btrees,
 * which an empty entries table gets at the open): FORMAT says 5.
 */
START_TEST(store_format_2_becomes_5)
{
	char path[128], buf[64] = "";
	struct store *st;
	FILE *f;

	write_file("FORMAT", "warren-store 2\n", 15);
	st = open_ok();
	ck_assert_msg(strstr(store_notice(st), "store format 2 read as format 5") != NULL, "%s",
	    store_notice(st));
	store_close(st);
	snprintf(path, sizeof(path), "%s/FORMAT", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	ck_assert_str_eq(buf, "warren-store 5\n");
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
	removed_then_refused("FORMAT", "missing, but");
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
 * "warren-store 2", its msgs records in a msgs.db of format 2's layout): read as format 5 (the
 * records moved into the heap), FORMAT written again, the broker rebuilt from it, and store-dump
 * reads it as before (store-v2.dump).
 */
static const struct frecord *v2_msgs[64];
static size_t v2_nmsgs;

static void v2_msg(size_t i, DBT *k, DBT *v, void *arg)
{
	(void)arg;
	k->data = (void *)v2_msgs[i]->k;
	k->size = (uint32_t)v2_msgs[i]->klen;
	v->data = (void *)v2_msgs[i]->v;
	v->size = (uint32_t)v2_msgs[i]->vlen;
}

static void write_v2_store(void)
{
	static struct frecord v2[64];
	static const char *const names[STORE_NTABLES] = { "defs", "msgs", "entries", "meta", "refs",
		"scratch" };
	size_t n = load_fixture("store-v2.records", v2, 64), i;
	struct store *st = open_ok();
	struct store_batch *b = store_batch_new();
	int t;

	v2_nmsgs = 0;
	for (i = 0; i < n; i++) {
		for (t = 0; t < STORE_NTABLES && strcmp(names[t], v2[i].table) != 0; t++)
			;
		ck_assert_int_lt(t, STORE_NTABLES);
		if (t == STORE_MSGS)
			v2_msgs[v2_nmsgs++] = &v2[i];
		else
			store_batch_put(
			    b, (enum store_table)t, v2[i].k, v2[i].klen, v2[i].v, v2[i].vlen);
	}
	ck_assert_int_eq(submit_wait(st, b), 0);
	store_close(st);
	write_legacy_msgs(v2_nmsgs, v2_msg, NULL); /* where format 2 kept them */
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
	ck_assert_str_eq(err, "warren-store 5\n");
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
	tcase_add_test(tc, store_entries_spread_over_btrees);
	tcase_add_test(tc, store_older_entries_kept_in_one_btree_until_empty);
	tcase_add_test(tc, store_entries_btree_missing_refused);
	tcase_add_test(tc, store_one_broker_per_directory);
	tcase_add_test(tc, store_format_other_version_refused);
	tcase_add_test(tc, store_format_2_becomes_5);
	tcase_add_test(tc, store_msgs_heap_keeps_records);
	tcase_add_test(tc, store_format_3_msgs_moved_into_the_heap);
	tcase_add_test(tc, store_heap_files_collected_and_removed);
	tcase_add_test(tc, store_heap_collection_survives_kill);
	tcase_add_test(tc, store_removal_placeholders_removed_before_recovery);
	tcase_add_test(tc, store_format_garbage_refused);
	tcase_add_test(tc, store_format_cut_short_without_store_rewritten);
	tcase_add_test(tc, store_format_cut_short_beside_a_store_refused);
	tcase_add_test(tc, store_format_missing_beside_a_store_refused);
	tcase_add_test(tc, store_garbage_table_refused);
	tcase_add_test(tc, store_failed_flush_fails_the_batch);
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
