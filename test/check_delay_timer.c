/*
 * check_delay_timer.c: the delayed exchanges' timer (server/model/delay_timer.c) on a real event
 * loop: turns come in the order of their times and never before them (wall clock), a turn moved
 * or withdrawn is taken as it now stands, a turn routes at most 1,024 messages in all and what is
 * left waits for the next turn of the loop (whose other events run in between), and the timer
 * comes back after delay_timer_close.
 */
#include <check.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "server/server.h"

#define N 40

struct turn {
	struct delay_timer t;
	int id;
	int left;    /* messages it has to route (0: it routes none and leaves) */
	int runs;    /* its turns */
	int64_t ran; /* when its last turn came (us) */
};

static struct turn turns[N];
static int order[N * 4], norder;
static unsigned budgets[N * 4];
static int loop_turns; /* turns of the loop seen by another event */

static int64_t now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

static unsigned run(struct delay_timer *t, uint64_t now, unsigned budget)
{
	struct turn *u = (struct turn *)t; /* t is its first member */
	unsigned n = u->left < (int)budget ? (unsigned)u->left : budget;

	ck_assert_int_ge((int64_t)now, (int64_t)t->at * 1000);
	u->runs++;
	u->ran = now_us();
	order[norder] = u->id;
	budgets[norder++] = budget;
	u->left -= (int)n;
	if (u->left == 0)
		delay_timer_clear(t); /* nothing more: no turn wanted */
	return n;
}

static void setup(void)
{
	broker.base = event_base_new();
	memset(turns, 0, sizeof(turns));
	norder = 0;
	loop_turns = 0;
	for (int i = 0; i < N; i++) {
		turns[i].id = i;
		turns[i].t.run = run;
	}
}

static void teardown(void)
{
	delay_timer_close();
	event_base_free(broker.base);
	broker.base = NULL;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(broker.base);
}

/* Run the loop until no turn is wanted by any of turns[] (or 5 s). */
static void run_until_done(void)
{
	struct event *stop = evtimer_new(broker.base, stop_cb, NULL);
	struct timeval five = { 5, 0 };
	int i, pending = 1;

	evtimer_add(stop, &five);
	while (pending) {
		event_base_loop(broker.base, EVLOOP_ONCE);
		for (pending = 0, i = 0; i < N; i++)
			pending |= turns[i].t.pos != 0;
		ck_assert_msg(evtimer_pending(stop, NULL), "turns still waiting after 5 s");
	}
	event_free(stop);
}

/* Times spread over 20-200 ms, some equal: each turn comes once, in time order, never early. */
START_TEST(turns_in_time_order_never_early)
{
	uint64_t t0 = (uint64_t)now_us() / 1000 + 20;
	int i;

	for (i = 0; i < N; i++) {
		turns[i].left = 1;
		delay_timer_set(&turns[i].t, t0 + (uint64_t)((i * 37) % 180 / 3 * 3));
	}
	run_until_done();
	ck_assert_int_eq(norder, N);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(turns[i].runs, 1);
		ck_assert_int_ge(turns[i].ran, (int64_t)turns[i].t.at * 1000);
		ck_assert_int_lt(turns[i].ran, (int64_t)turns[i].t.at * 1000 + 1000000);
		if (i > 0)
			ck_assert_uint_le(turns[order[i - 1]].t.at, turns[order[i]].t.at);
	}
}
END_TEST

/* Turns moved earlier or later, or withdrawn, from anywhere in the heap. */
START_TEST(turns_moved_and_withdrawn)
{
	uint64_t t0 = (uint64_t)now_us() / 1000 + 30;
	int i;

	for (i = 0; i < N; i++) {
		turns[i].left = 1;
		delay_timer_set(&turns[i].t, t0 + (uint64_t)(i * 5));
	}
	for (i = 0; i < N; i += 3)
		delay_timer_clear(&turns[i].t);
	delay_timer_clear(&turns[0].t);           /* twice: no harm */
	delay_timer_set(&turns[N - 2].t, t0);     /* the last first */
	delay_timer_set(&turns[1].t, t0 + N * 5); /* the first last */
	delay_timer_set(&turns[7].t, t0 + 2 * 5); /* to another's time */
	run_until_done();
	for (i = 0; i < N; i++)
		ck_assert_int_eq(turns[i].runs, i % 3 == 0 ? 0 : 1);
	ck_assert_int_eq(order[0], N - 2);
	ck_assert_int_eq(order[norder - 1], 1);
	for (i = 1; i < norder; i++)
		ck_assert_uint_le(turns[order[i - 1]].t.at, turns[order[i]].t.at);
}
END_TEST

static void count_cb(evutil_socket_t fd, short what, void *arg)
{
	struct event *ev = arg;
	struct timeval zero = { 0, 0 };

	loop_turns++;
	evtimer_add(ev, &zero); /* again at the next turn */
}

/*
 * 3,000 messages due at once on one exchange and 10 on another: 1,024 a turn in all, the
 * earliest first, and the loop's other events run between the turns.
 */
START_TEST(a_burst_goes_in_slices)
{
	struct event *count = event_new(broker.base, -1, 0, count_cb, event_self_cbarg());
	struct timeval zero = { 0, 0 };
	uint64_t now = (uint64_t)now_us() / 1000;
	int i;

	evtimer_add(count, &zero);
	turns[0].left = 3000;
	turns[1].left = 10;
	turns[2].left = 0; /* a turn with nothing to route leaves */
	delay_timer_set(&turns[0].t, now - 5);
	delay_timer_set(&turns[1].t, now - 1);
	delay_timer_set(&turns[2].t, 0);
	run_until_done();
	ck_assert_int_eq(turns[0].left, 0);
	ck_assert_int_eq(turns[1].left, 0);
	ck_assert_int_eq(turns[2].runs, 1);
	/* Turns: 2 (at once), then 0 with 1,024, 1,024 and 952 left of the 1,024, then 1. */
	ck_assert_int_eq(order[0], 2);
	for (i = 1; i < norder && order[i] == 0; i++)
		ck_assert_uint_le(budgets[i], 1024);
	ck_assert_int_eq(turns[0].runs, 3);
	ck_assert_int_eq(order[norder - 1], 1);
	ck_assert_uint_eq(budgets[norder - 1], 1024 - 952);
	ck_assert_int_ge(loop_turns, 3); /* the other event ran between the slices */
	event_free(count);
}
END_TEST

/* After delay_timer_close (the last delayed exchange gone), a new turn makes the timer again. */
START_TEST(timer_comes_back_after_close)
{
	turns[0].left = 1;
	delay_timer_set(&turns[0].t, (uint64_t)now_us() / 1000 + 5);
	run_until_done();
	delay_timer_close();
	turns[1].left = 1;
	delay_timer_set(&turns[1].t, (uint64_t)now_us() / 1000 + 5);
	run_until_done();
	ck_assert_int_eq(turns[0].runs, 1);
	ck_assert_int_eq(turns[1].runs, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("delay_timer");
	TCase *tc = tcase_create("timer");
	SRunner *sr;
	int failed;

	log_set_level(LOG_ERROR);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, turns_in_time_order_never_early);
	tcase_add_test(tc, turns_moved_and_withdrawn);
	tcase_add_test(tc, a_burst_goes_in_slices);
	tcase_add_test(tc, timer_comes_back_after_close);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
