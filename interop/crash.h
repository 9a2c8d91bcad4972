/*
 * crash.h: the workload and the check of the crash tests, shared by 10-durable (kill -9) and
 * 14-powercut (kill -9 and a power cut). A workload child publishes persistent messages with
 * confirms to one durable queue, takes and acks some, and logs what was confirmed and acked; after
 * the broker's restart the check drains the queue and holds it against that log.
 */
#ifndef WARREN_INTEROP_CRASH_H
#define WARREN_INTEROP_CRASH_H

#include <stdio.h>

/*
 * In a child process: publish to queue (on the default exchange) with confirms, a window of 16,
 * taking and acking the oldest message now and then; each confirm ("C tag multiple") and ack
 * ("A id") goes to log as it happens. Returns when the broker goes away; the child then _exits.
 */
void crash_workload(unsigned cycle, const char *queue, FILE *log);

/* What a check found: messages confirmed, confirmed and acked, and back after the restart. */
struct crash_tally {
	unsigned confirmed, acked, back;
};

/*
 * After the restart: every message in queue must be one the workload published in this cycle,
 * exact, and there once; every one confirmed (by logpath) and not acked must be there. The queue is
 * then deleted. Fails the test otherwise; adds what it found to tally (which may be NULL).
 */
void crash_check(unsigned cycle, const char *queue, const char *logpath, struct crash_tally *tally);

#endif /* WARREN_INTEROP_CRASH_H */
