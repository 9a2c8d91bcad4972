/*
 * basic.h: the parts of the 05-basic program: 05-basic.c and 05-basic-qos.c (rabbitmq-c) and
 * 05-basic-frames.c (raw frames), which cannot share a translation unit with the others because
 * their client libraries share names.
 */
#ifndef WARREN_INTEROP_BASIC_H
#define WARREN_INTEROP_BASIC_H

#include "interop/harness.h"

/* Add the raw-frame groups of 05-basic to the suite. */
void basic_frames_tcases(Suite *s);
/* Add 05-basic-qos.c's group (prefetch, requeue, TTL and routing details). */
void basic_qos_tcases(Suite *s);

#endif /* WARREN_INTEROP_BASIC_H */
