/*
 * check_auth_pool.c: the password-check pool (auth/pool.c): many checks at once all complete
 * through the descriptor and run their callbacks on the calling thread; a success is cached and a
 * failure is not; a changed password or an expired entry misses; a full queue says AUTH_E_BUSY;
 * a cancelled check never calls back. Users are hashed with cheap parameters (ln=4) unless a test
 * needs checks to take a while.
 */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp/amqp.h"
#include "auth/auth.h"
#include "test/check_util.h"

/* A database with users NAME:PASSWORD given as pairs, hashed with cost ln. */
static struct auth_db *db_with(unsigned ln, const char *const *pairs, size_t n)
{
	char text[8192], hash[AUTH_HASH_MAX], err[512];
	struct auth_db *db = auth_db_new();
	size_t i, at = 0;

	for (i = 0; i + 1 < n; i += 2) {
		ck_assert_int_eq(auth_hash_password_params(
		                     amqp_cstr(pairs[i + 1]), ln, 1, 1, hash, sizeof(hash)),
		    AUTH_OK);
		at += (size_t)snprintf(text + at, sizeof(text) - at, "%s:%s\n", pairs[i], hash);
	}
	ck_assert_msg(auth_db_parse_users(
	                  db, "users", (const uint8_t *)text, at, err, sizeof(err)) == AUTH_OK,
	    "%s", err);
	ck_assert_int_eq(auth_db_finish(db, err, sizeof(err)), AUTH_OK);
	return db;
}

struct result {
	int count;
	int results[256];
	void *opaques[256];
	pthread_t thread;
	bool other_thread;
};

static void record(void *opaque, int result, const char *why, void *arg)
{
	struct result *r = arg;

	if (!pthread_equal(pthread_self(), r->thread))
		r->other_thread = true;
	ck_assert_int_lt(r->count, 256);
	r->opaques[r->count] = opaque;
	r->results[r->count++] = result;
}

/* Wait on the pool's descriptor and complete until want callbacks have run (10 s at most). */
static void wait_for(struct auth_pool *p, struct result *r, int want)
{
	struct pollfd pfd = { .fd = auth_pool_fd(p), .events = POLLIN };
	time_t deadline = time(NULL) + 10;

	r->thread = pthread_self();
	while (r->count < want) {
		ck_assert_msg(
		    time(NULL) < deadline, "only %d of %d checks completed", r->count, want);
		if (poll(&pfd, 1, 200) > 0)
			auth_pool_complete(p, record, r);
	}
}

static int submit(struct auth_pool *p, const char *user, const char *password, void *opaque)
{
	struct auth_credentials c = { amqp_cstr(user), amqp_cstr(password) };

	return auth_pool_submit(p, &c, opaque, NULL);
}

static const char *const users[] = { "alice", "alice-pw", "bob", "bob-pw", "carol", "carol-pw" };

START_TEST(test_pool_hundred_at_once)
{
	struct auth_db *db = db_with(4, users, 6);
	struct auth_pool *p;
	struct result r = { 0 };
	struct auth_pool_stats st;
	char name[32];
	int i, ok = 0, refused = 0;

	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .no_cache = true }, db, &p), AUTH_OK);
	auth_db_unref(db); /* the pool holds its own reference */
	for (i = 0; i < 100; i++) {
		switch (i % 4) {
		case 0:
			ck_assert_int_eq(
			    submit(p, "alice", "alice-pw", (void *)(intptr_t)(i + 1)), 0);
			break;
		case 1:
			ck_assert_int_eq(submit(p, "bob", "wrong", (void *)(intptr_t)(i + 1)), 0);
			break;
		case 2:
			snprintf(name, sizeof(name), "ghost%d", i);
			ck_assert_int_eq(submit(p, name, "x", (void *)(intptr_t)(i + 1)), 0);
			break;
		default:
			ck_assert_int_eq(
			    submit(p, "carol", "carol-pw", (void *)(intptr_t)(i + 1)), 0);
		}
	}
	wait_for(p, &r, 100);
	ck_assert(!r.other_thread);
	for (i = 0; i < 100; i++) {
		intptr_t id = (intptr_t)r.opaques[i] - 1;

		ck_assert(id >= 0 && id < 100);
		ck_assert_int_eq(
		    r.results[i], id % 4 == 0 || id % 4 == 3 ? AUTH_OK : AUTH_E_REFUSED);
		if (r.results[i] == AUTH_OK)
			ok++;
		else
			refused++;
	}
	ck_assert_int_eq(ok, 50);
	ck_assert_int_eq(refused, 50);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.submitted, 100);
	ck_assert_uint_eq(st.verified, 100); /* unknown users are verified too (a dummy hash) */
	ck_assert_uint_eq(st.refused, 50);
	ck_assert_uint_eq(st.cache_hits, 0);
	ck_assert_uint_eq(auth_pool_complete(p, record, &r), 0);
	auth_pool_free(p);
}
END_TEST

START_TEST(test_pool_cache_hits_success_only)
{
	struct auth_db *db = db_with(4, users, 6);
	struct auth_pool *p;
	struct result r = { 0 };
	struct auth_pool_stats st;

	ck_assert_int_eq(auth_pool_new(NULL, db, &p), AUTH_OK);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), 0);
	wait_for(p, &r, 1);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), 0);
	wait_for(p, &r, 2);
	ck_assert_int_eq(r.results[0], AUTH_OK);
	ck_assert_int_eq(r.results[1], AUTH_OK);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.verified, 1);
	ck_assert_uint_eq(st.cache_hits, 1);
	/* a failure is never cached, and a cached success is not a key for other passwords */
	ck_assert_int_eq(submit(p, "bob", "wrong", NULL), 0);
	wait_for(p, &r, 3);
	ck_assert_int_eq(submit(p, "bob", "wrong", NULL), 0);
	wait_for(p, &r, 4);
	ck_assert_int_eq(submit(p, "alice", "alice-pw2", NULL), 0);
	wait_for(p, &r, 5);
	ck_assert_int_eq(submit(p, "bob", "alice-pw", NULL), 0);
	wait_for(p, &r, 6);
	ck_assert_int_eq(r.results[2], AUTH_E_REFUSED);
	ck_assert_int_eq(r.results[3], AUTH_E_REFUSED);
	ck_assert_int_eq(r.results[4], AUTH_E_REFUSED);
	ck_assert_int_eq(r.results[5], AUTH_E_REFUSED);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.verified, 5);
	ck_assert_uint_eq(st.cache_hits, 1);
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

/* A set holds four: with one set (cache_slots 4) four users all stay cached, a fifth login
 * gives up the oldest entry only. */
START_TEST(test_pool_cache_set_keeps_four)
{
	static const char *const five[] = { "u1", "p1", "u2", "p2", "u3", "p3", "u4", "p4", "u5",
		"p5" };
	struct auth_db *db = db_with(4, five, 10);
	struct auth_pool *p;
	struct result r = { 0 };
	struct auth_pool_stats st;
	int i, n = 0;

	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .cache_slots = 4 }, db, &p), AUTH_OK);
	for (i = 0; i < 4; i++) { /* four verified, then four hits */
		ck_assert_int_eq(submit(p, five[2 * i], five[2 * i + 1], NULL), 0);
		wait_for(p, &r, ++n);
	}
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(submit(p, five[2 * i], five[2 * i + 1], NULL), 0);
		wait_for(p, &r, ++n);
	}
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.verified, 4);
	ck_assert_uint_eq(st.cache_hits, 4);
	ck_assert_int_eq(submit(p, "u5", "p5", NULL), 0); /* takes u1's slot, the oldest */
	wait_for(p, &r, ++n);
	ck_assert_int_eq(submit(p, "u2", "p2", NULL), 0);
	wait_for(p, &r, ++n);
	ck_assert_int_eq(submit(p, "u1", "p1", NULL), 0);
	wait_for(p, &r, ++n);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.verified, 6);
	ck_assert_uint_eq(st.cache_hits, 5);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(r.results[i], AUTH_OK);
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_changed_password_misses)
{
	static const char *const v1[] = { "alice", "old-pw", "bob", "bob-pw" };
	static const char *const v2[] = { "alice", "new-pw", "bob", "bob-pw" };
	struct auth_db *db1 = db_with(4, v1, 4), *db2 = db_with(4, v2, 4);
	struct auth_pool *p;
	struct result r = { 0 };
	struct auth_pool_stats st;

	ck_assert_int_eq(auth_pool_new(NULL, db1, &p), AUTH_OK);
	ck_assert_int_eq(submit(p, "alice", "old-pw", NULL), 0);
	ck_assert_int_eq(submit(p, "bob", "bob-pw", NULL), 0);
	wait_for(p, &r, 2);
	ck_assert_int_eq(submit(p, "alice", "old-pw", NULL), 0);
	wait_for(p, &r, 3);
	ck_assert_int_eq(r.results[2], AUTH_OK);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.cache_hits, 1);

	auth_pool_set_db(p, db2); /* a reload that changed alice's password */
	ck_assert_int_eq(submit(p, "alice", "old-pw", NULL), 0);
	wait_for(p, &r, 4);
	ck_assert_int_eq(r.results[3], AUTH_E_REFUSED);
	ck_assert_int_eq(submit(p, "alice", "new-pw", NULL), 0);
	wait_for(p, &r, 5);
	ck_assert_int_eq(r.results[4], AUTH_OK);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.cache_hits, 1);
	/* bob's line is a fresh hash in db2 too (new salt): his entry misses once, then hits */
	ck_assert_int_eq(submit(p, "bob", "bob-pw", NULL), 0);
	wait_for(p, &r, 6);
	ck_assert_int_eq(submit(p, "bob", "bob-pw", NULL), 0);
	wait_for(p, &r, 7);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.cache_hits, 2);
	ck_assert_uint_eq(st.verified, 5);
	auth_pool_free(p);
	auth_db_unref(db1);
	auth_db_unref(db2);
}
END_TEST

START_TEST(test_pool_removed_user_misses)
{
	static const char *const v2[] = { "bob", "bob-pw" };
	struct auth_db *db1 = db_with(4, users, 6), *db2 = db_with(4, v2, 2);
	struct auth_pool *p;
	struct result r = { 0 };

	ck_assert_int_eq(auth_pool_new(NULL, db1, &p), AUTH_OK);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), 0);
	wait_for(p, &r, 1);
	auth_pool_set_db(p, db2);
	auth_db_unref(db1);
	auth_db_unref(db2);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), 0);
	wait_for(p, &r, 2);
	ck_assert_int_eq(r.results[0], AUTH_OK);
	ck_assert_int_eq(r.results[1], AUTH_E_REFUSED);
	auth_pool_free(p);
}
END_TEST

/* Submit asking for a cached success at once: whether it came so. */
static bool at_once(struct auth_pool *p, const char *user, const char *password)
{
	struct auth_credentials c = { amqp_cstr(user), amqp_cstr(password) };
	bool now = true;

	ck_assert_int_eq(auth_pool_submit(p, &c, NULL, &now), AUTH_OK);
	return now;
}

/* A submit that asks for it answers a cached success at once, and only that. */
START_TEST(test_pool_cached_at_once)
{
	struct auth_db *db = db_with(4, users, 6);
	struct auth_pool *p, *nc;
	struct result r = { 0 };
	struct auth_pool_stats st;

	ck_assert_int_eq(auth_pool_new(NULL, db, &p), AUTH_OK);
	ck_assert(!at_once(p, "alice", "alice-pw")); /* nothing checked yet: through the fd */
	wait_for(p, &r, 1);
	ck_assert_int_eq(r.results[0], AUTH_OK);
	ck_assert(at_once(p, "alice", "alice-pw"));
	/* the answer did not go through the descriptor: nothing is left to complete */
	ck_assert_uint_eq(auth_pool_complete(p, record, &r), 0);
	/* other credentials are checked, and refused, the usual way */
	ck_assert(!at_once(p, "alice", "alice-pw2"));
	wait_for(p, &r, 2);
	ck_assert(!at_once(p, "bob", "alice-pw"));
	wait_for(p, &r, 3);
	ck_assert_int_eq(r.results[1], AUTH_E_REFUSED);
	ck_assert_int_eq(r.results[2], AUTH_E_REFUSED);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.cache_hits, 1);
	ck_assert_uint_eq(st.submitted, 4);
	ck_assert_uint_eq(st.verified, 3);
	auth_pool_free(p);
	/* no_cache: never at once */
	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .no_cache = true }, db, &nc), AUTH_OK);
	ck_assert(!at_once(nc, "alice", "alice-pw"));
	wait_for(nc, &r, 4);
	ck_assert(!at_once(nc, "alice", "alice-pw"));
	wait_for(nc, &r, 5);
	ck_assert_int_eq(r.results[3], AUTH_OK);
	ck_assert_int_eq(r.results[4], AUTH_OK);
	auth_pool_free(nc);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_cache_expires)
{
	struct auth_db *db = db_with(4, users, 6);
	struct auth_pool *p;
	struct result r = { 0 };
	struct auth_pool_stats st;
	struct timespec ts = { 0, 150 * 1000 * 1000 };

	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .cache_ttl_ms = 50 }, db, &p), AUTH_OK);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), 0);
	wait_for(p, &r, 1);
	nanosleep(&ts, NULL);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), 0);
	wait_for(p, &r, 2);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.cache_hits, 0);
	ck_assert_uint_eq(st.verified, 2);
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_busy_and_cancel)
{
	static const char *const slow[] = { "alice", "alice-pw" };
	struct auth_db *db = db_with(14, slow, 2); /* each check takes tens of milliseconds */
	struct auth_pool *p;
	struct result r = { 0 };
	struct auth_pool_stats st;
	int i, busy = 0, queued = 0;

	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .threads = 1, .queue_max = 2 }, db, &p),
	    AUTH_OK);
	for (i = 0; i < 6; i++) {
		int ret = submit(p, "alice", "wrong", (void *)(intptr_t)(i + 1));

		ck_assert(ret == AUTH_OK || ret == AUTH_E_BUSY);
		if (ret == AUTH_E_BUSY)
			busy++;
		else
			queued++;
	}
	/* one thread takes at most one check while six arrive: at least three are refused */
	ck_assert_int_ge(busy, 3);
	ck_assert_int_le(queued, 3);
	auth_pool_stats(p, &st);
	ck_assert_uint_eq(st.busy, (uint64_t)busy);
	/* cancel the first: whether waiting or running, it never calls back */
	auth_pool_cancel(p, (void *)(intptr_t)1);
	wait_for(p, &r, queued - 1);
	ck_assert_int_eq(submit(p, "alice", "alice-pw", (void *)(intptr_t)100), AUTH_OK);
	wait_for(p, &r, queued);
	for (i = 0; i < r.count; i++)
		ck_assert_ptr_ne(r.opaques[i], (void *)(intptr_t)1);
	ck_assert_ptr_eq(r.opaques[r.count - 1], (void *)(intptr_t)100);
	ck_assert_int_eq(r.results[r.count - 1], AUTH_OK);
	auth_pool_free(p);
	auth_db_unref(db);
}
END_TEST

struct canceller {
	struct auth_pool *pool;
	struct result r;
};

/* The callback of check 1 cancels check 2, as a connection closing another would. */
static void cancel_other(void *opaque, int result, const char *why, void *arg)
{
	struct canceller *c = arg;

	record(opaque, result, why, &c->r);
	if (opaque == (void *)(intptr_t)1)
		auth_pool_cancel(c->pool, (void *)(intptr_t)2);
}

START_TEST(test_pool_cancel_inside_callback)
{
	struct auth_db *db = db_with(4, users, 6);
	struct canceller c = { 0 };
	struct result r = { 0 };
	struct auth_pool_stats st;

	ck_assert_int_eq(auth_pool_new(NULL, db, &c.pool), AUTH_OK);
	ck_assert_int_eq(submit(c.pool, "alice", "alice-pw", NULL), 0);
	wait_for(c.pool, &r, 1);
	/* two cache hits: both are finished when submit returns, so one batch holds both */
	ck_assert_int_eq(submit(c.pool, "alice", "alice-pw", (void *)(intptr_t)1), 0);
	ck_assert_int_eq(submit(c.pool, "alice", "alice-pw", (void *)(intptr_t)2), 0);
	auth_pool_stats(c.pool, &st);
	ck_assert_uint_eq(st.cache_hits, 2);
	c.r.thread = pthread_self();
	ck_assert_uint_eq(auth_pool_complete(c.pool, cancel_other, &c), 1);
	ck_assert_int_eq(c.r.count, 1);
	ck_assert_ptr_eq(c.r.opaques[0], (void *)(intptr_t)1);
	ck_assert_uint_eq(auth_pool_complete(c.pool, cancel_other, &c), 0);
	auth_pool_free(c.pool);
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_free_with_pending)
{
	static const char *const slow[] = { "alice", "alice-pw" };
	struct auth_db *db = db_with(14, slow, 2);
	struct auth_pool *p;
	int i;

	ck_assert_int_eq(
	    auth_pool_new(&(struct auth_pool_config){ .threads = 1 }, db, &p), AUTH_OK);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(submit(p, "alice", "alice-pw", NULL), AUTH_OK);
	auth_pool_free(p); /* waits for the running check, drops the rest; ASan checks leaks */
	auth_db_unref(db);
}
END_TEST

START_TEST(test_pool_default_db)
{
	struct auth_db *db = auth_db_new_default();
	struct auth_pool *p;
	struct result r = { 0 };

	ck_assert_int_eq(auth_pool_new(NULL, db, &p), AUTH_OK);
	auth_db_unref(db);
	ck_assert_int_eq(submit(p, "guest", "guest", NULL), AUTH_OK);
	ck_assert_int_eq(submit(p, "guest", "", NULL), AUTH_OK);
	wait_for(p, &r, 2);
	ck_assert_int_eq(r.results[0] + r.results[1], AUTH_OK + AUTH_E_REFUSED);
	auth_pool_free(p);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("auth_pool");
	TCase *tc = tcase_create("pool");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pool_hundred_at_once);
	tcase_add_test(tc, test_pool_cache_hits_success_only);
	tcase_add_test(tc, test_pool_cache_set_keeps_four);
	tcase_add_test(tc, test_pool_changed_password_misses);
	tcase_add_test(tc, test_pool_removed_user_misses);
	tcase_add_test(tc, test_pool_cache_expires);
	tcase_add_test(tc, test_pool_cached_at_once);
	tcase_add_test(tc, test_pool_busy_and_cancel);
	tcase_add_test(tc, test_pool_cancel_inside_callback);
	tcase_add_test(tc, test_pool_free_with_pending);
	tcase_add_test(tc, test_pool_default_db);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
