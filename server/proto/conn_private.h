/*
 * conn_private.h: what the three files of a connection share (server/, private to them).
 *   conn.c        its life: attach, state, channels, timer, errors, flow control, teardown
 *   conn_read.c   reading: the socket, frames cut and handled, pauses, input after a close
 *   conn_write.c  writing: the shared stage, the flush after each turn, methods and content
 * Everything runs on the loop's thread.
 */
#ifndef WARREN_CONN_PRIVATE_H
#define WARREN_CONN_PRIVATE_H

#include "server/proto/proto.h"

/* conn.c */
/* Close the socket now (after whatever is already written is flushed, if flush). */
void conn_kill(struct conn *c, bool flush);
/* The bufferevent's event callback; a direct read reports EOF and errors through it too. */
void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* conn_read.c */
/* Set up a new connection's reading (a direct one reads its socket itself) and start it. */
void conn_read_attach(struct conn *c);
void conn_read_cb(struct bufferevent *bev, void *arg);
/* Watch the socket for input, or stop (the input buffer keeps what was read). */
void conn_read_enable(struct conn *c, bool on);

/* conn_write.c */
/* Set up a new connection's writing (the flush event, its output's watermark). */
void conn_write_attach(struct conn *c);
void conn_write_cb(struct bufferevent *bev, void *arg);
/* c's staged bytes join its output (before the output is read, written or added to directly). */
void conn_unstage(struct conn *c);
/* Bytes waiting to be written, staged ones included. */
size_t conn_out_len(struct conn *c);
/* Append bytes to the output, through the stage where they fit. */
void conn_out_add(struct conn *c, const void *p, size_t n);
/* Write a direct connection's output now; true when everything went. */
bool conn_write_now(struct conn *c);
/* Take c off the list of connections whose output is written after this turn (it is closing). */
void conn_write_forget(struct conn *c);
/* At exit, once every connection is gone: the flush event and the staging blocks. */
void conn_write_free(void);

#endif /* WARREN_CONN_PRIVATE_H */
