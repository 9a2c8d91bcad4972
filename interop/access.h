/*
 * access.h: shared by the files of the 11-access program (see 11-access.c for what it tests).
 */
#ifndef WARREN_INTEROP_ACCESS_H
#define WARREN_INTEROP_ACCESS_H
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"

#ifndef WARRENCTL_PATH
#error "build with -DWARRENCTL_PATH='\"/path/to/warrenctl\"'"
#endif

#define PASSWORD "secret"
#define PASSWORD2 "changed"
#define LOGIN_REFUSED                                                                           \
	"ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details " \
	"see the broker logfile."
#define STORM_CLIENTS 100

struct vfile {
	const char *name, *text;
};

struct login {
	const char *user, *password, *vhost;
	const char *mechanism; /* "PLAIN" (NULL) or "AMQPLAIN" */
	bool no_failure_close; /* do not announce authentication_failure_close */
};

/* What the broker answered a handshake with. */
struct answer {
	int code; /* 0: open-ok; -1: the socket closed without connection.close */
	char text[512];
	size_t len;
	uint16_t class_id, method_id;
};

extern char hash_secret[300], hash_changed[300], hash_guest[300];
extern char files[128];
extern bool broker_bad;

/* access.c: the files, the broker, logins by hand, expected texts. */

void put_file(const char *name, const char *tmpl);
void drop_file(const char *name);

void spawn_with(const char *users, const struct vfile *v, const char *extra);

void startup_start(void);

void reload(bool want_ok);

conn_t handshake(const struct login *l, struct answer *a);
void refused(const struct login *l, int code, const char *text, int cls, int mth);
void login_refused(const char *user, const char *password);
void open_refused(const char *user, const char *vhost, const char *text);
conn_t as_in(const char *user, const char *vhost);
conn_t user_in(const char *user, const char *vhost);
conn_t as(const char *user);
void alive(conn_t c, amqp_channel_t ch);
void denied(conn_t c, amqp_channel_t ch, const char *text);
bool exchange_exists(conn_t c, amqp_channel_t ch, const char *x);
void make_hash(const char *password, char *out, size_t len);

TCase *group(Suite *s, const char *name, void (*start)(void), double timeout);
/* The same with a teardown of its own, which should end by calling group_stop(). */
TCase *group_with_stop(
    Suite *s, const char *name, void (*start)(void), void (*stop)(void), double timeout);
/* Stop the group's broker (it must exit 0 on SIGTERM) and remove its files. */
void group_stop(void);

/* warrenctl with args (NULL-terminated): its exit status, and what it printed. */
struct ctl_run {
	int status; /* -1: killed by a signal */
	char out[8192], err[8192];
};
int warrenctl(struct ctl_run *r, const char *const *args);
#define CTL(...) ((const char *const[]){ __VA_ARGS__, NULL })
/* The group broker's control socket: its path, a connection to it. */
const char *control_path(void);
int control_connect(void);
/* Send bytes on a control connection, read the answer to EOF (bounded), close: the answer. */
const char *control_talk(int fd, const void *bytes, size_t len);

/* A connection with a consumer on a queue of its own, and the queue's name. */
struct watcher {
	conn_t c;
	char q[64];
};
struct watcher watch(const char *user);
/* The watcher still gets what it publishes to itself. */
void still_delivers(struct watcher *w, const char *body);

/* The first line of the broker's log containing needle, or NULL (static storage). */
const char *log_line(const char *needle);
/* RabbitMQ's text for a refused operation on a resource. */
const char *no_access(const char *kind, const char *name, const char *user);
/* Each test file adds its groups. */
void access_add_login(Suite *s);
void access_add_permissions(Suite *s);
void access_add_topics_limits(Suite *s);
void access_add_reloads(Suite *s);
void access_add_saslauthd(Suite *s);

#endif /* WARREN_INTEROP_ACCESS_H */
