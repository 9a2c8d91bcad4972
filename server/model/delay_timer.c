/*
 * delay_timer.c: turns at wall-clock times for the delayed exchanges (exchange_delayed.c), each
 * wanting one when the earliest message of its window is due. One timerfd on CLOCK_REALTIME is
 * armed (absolute) for the earliest turn wanted: due times are wall-clock milliseconds, so the
 * kernel wakes the loop at the due time itself, never before, whatever the clock does meanwhile.
 * Not libevent's timers: they are relative and monotonic, and due times are wall-clock (libevent
 * 2.1's default clock, CLOCK_MONOTONIC_COARSE, also made them fire 1-4 ms late; warrend now asks
 * for precise timers, EVENT_BASE_FLAG_PRECISE_TIMER, in main.c). A turn routes at most DELAY_BURST messages in all, earliest due first; what
 * is left is due at once and goes in the next turn, after the loop's other events, so that
 * publishers and consumers are not held up by a burst. Without a timerfd (none to be had), a
 * libevent timer stands in, a tick late.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "server/model/model.h"

#define DELAY_BURST 1024 /* due messages routed per turn of the loop, so others get theirs */

static struct delay_timer **timers; /* a min-heap by at */
static size_t ntimers, captimers;
static int timer_fd = -1;
static struct event *timer_ev;
static uint64_t timer_armed = UINT64_MAX; /* what the timer is set for (UINT64_MAX: nothing) */
static bool timer_running;                /* in timer_cb, which sets the timer when done */

static uint64_t wall_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

static void timers_place(size_t i, struct delay_timer *t)
{
	timers[i] = t;
	t->pos = i + 1;
}

/* timers[i] to its place, up or down. */
static void timers_sift(size_t i)
{
	struct delay_timer *t = timers[i];
	size_t p, c;

	while (i > 0 && timers[p = (i - 1) / 2]->at > t->at) {
		timers_place(i, timers[p]);
		i = p;
	}
	while ((c = 2 * i + 1) < ntimers) {
		if (c + 1 < ntimers && timers[c + 1]->at < timers[c]->at)
			c++;
		if (t->at <= timers[c]->at)
			break;
		timers_place(i, timers[c]);
		i = c;
	}
	timers_place(i, t);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

/* The timer set for the earliest turn wanted (once timer_cb is done, when in it). */
static void timer_rearm(void)
{
	uint64_t at = ntimers > 0 ? timers[0]->at : UINT64_MAX, now;
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };
	struct timeval tv = { 0, 0 };

	if (timer_running || at == timer_armed)
		return;
	if (timer_ev == NULL && broker.base != NULL) {
		if ((timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC)) >= 0) {
			timer_ev =
			    event_new(broker.base, timer_fd, EV_READ | EV_PERSIST, timer_cb, NULL);
			event_add(timer_ev, NULL);
		} else {
			log_warn(
			    "delayed exchanges: timerfd: %s (their timer goes up to a tick late)",
			    strerror(errno));
			timer_ev = evtimer_new(broker.base, timer_cb, NULL);
		}
	}
	if (timer_ev == NULL) /* a broker without a loop (unit tests): nothing is ever due */
		return;
	timer_armed = at;
	if (timer_fd >= 0) {
		/* Zeros disarm it; "at once" is a moment long past (a nanosecond after the epoch). */
		if (at != UINT64_MAX) {
			its.it_value.tv_sec = (time_t)(at / 1000);
			its.it_value.tv_nsec = at == 0 ? 1 : (long)(at % 1000) * 1000000;
		}
		if (timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
			log_error("delayed exchanges: timerfd_settime: %s", strerror(errno));
		return;
	}
	if (at == UINT64_MAX) {
		evtimer_del(timer_ev);
		return;
	}
	now = wall_us();
	if (at <= UINT64_MAX / 1000 && at * 1000 > now) {
		tv.tv_sec = (time_t)((at * 1000 - now) / 1000000);
		tv.tv_usec = (suseconds_t)((at * 1000 - now) % 1000000);
	}
	evtimer_add(timer_ev, &tv);
}

void delay_timer_set(struct delay_timer *t, uint64_t at_ms)
{
	if (t->pos == 0) {
		if (ntimers == captimers) {
			captimers = captimers != 0 ? captimers * 2 : 16;
			timers = xreallocarray(timers, captimers, sizeof(*timers));
		}
		timers[ntimers] = t;
		t->pos = ++ntimers;
	}
	t->at = at_ms;
	timers_sift(t->pos - 1);
	timer_rearm();
}

void delay_timer_clear(struct delay_timer *t)
{
	size_t i = t->pos;

	if (i == 0)
		return;
	t->pos = 0;
	if (i < ntimers) { /* the last one takes its place */
		timers_place(i - 1, timers[--ntimers]);
		timers_sift(i - 1);
	} else {
		ntimers--;
	}
	timer_rearm();
}

void delay_timer_close(void)
{
	if (timer_ev != NULL)
		event_free(timer_ev);
	timer_ev = NULL;
	if (timer_fd >= 0)
		close(timer_fd);
	timer_fd = -1;
	timer_armed = UINT64_MAX;
	if (ntimers == 0) {
		free(timers);
		timers = NULL;
		captimers = 0;
	}
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t expirations, now = wall_us();
	unsigned budget = DELAY_BURST;

	if (fd >= 0 && read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_error("delayed exchanges: timerfd: %s", strerror(errno));
	timer_armed = UINT64_MAX; /* it has gone off */
	timer_running = true;
	/* Each run routes a message at least or leaves the heap (nothing due: no turn wanted). */
	while (ntimers > 0 && timers[0]->at <= now / 1000 && budget > 0)
		budget -= timers[0]->run(timers[0], now, budget);
	timer_running = false;
	timer_rearm();
}
