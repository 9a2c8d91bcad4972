/*
 * control.h: what control.c (the control socket: its clients, their command line and body, the
 * bounds) and control_api.c (the "api" command: a management API request answered on the socket)
 * share, private to them. Everything runs on the event loop's thread.
 *
 * A client is owned by control.c: it is freed when its answer is written or when it goes away
 * (EOF, an error, CONTROL_TIMEOUT without progress). control_api.c holds a client only while it
 * answers on it, and hears of its going through control_api_gone.
 */
#ifndef WARREN_SERVER_ADMIN_CONTROL_H
#define WARREN_SERVER_ADMIN_CONTROL_H

#include "server/admin/admin.h"

struct control_client;
struct evbuffer;

/* The largest body an "api" command may carry (import_definitions). */
#define CONTROL_BODY_MAX (64u << 20)

/* control.c */
/* Queue the bytes of buf (emptied) for the client. */
void control_write(struct control_client *cl, struct evbuffer *buf);
/* Call fn(arg) once everything queued so far is written; not at all if the client goes first. */
void control_when_written(struct control_client *cl, void (*fn)(void *arg), void *arg);
/* handle answers on cl from now on: control_api_gone(handle) if cl goes before it finishes. */
void control_hold(struct control_client *cl, void *handle);
/* The answer is complete (handle let go): close once it is written. */
void control_finish(struct control_client *cl);

/* control_api.c */
/*
 * Run "api METHOD TARGET [NAME=VALUE...]" (words[0] is "api"; the NAME=VALUE words already
 * percent-decoded) with body (NULL: none). The answer goes to cl, now or later.
 */
void control_api_run(struct control_client *cl, char **words, size_t nwords, struct evbuffer *body);
/* The client of handle went away before its answer was complete. */
void control_api_gone(void *handle);

#endif /* WARREN_SERVER_ADMIN_CONTROL_H */
