/*
 * server.h: warrend's folder-private header, grouped by file so it reads as a table of contents.
 * One event loop (struct event_base) owns all broker state; nothing here is thread-safe unless
 * it says so.
 */
#ifndef WARREN_SERVER_H
#define WARREN_SERVER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* log.c */
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
void log_set_level(enum log_level level);
int log_parse_level(const char *s, enum log_level *out);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* xmalloc.c: control-plane allocations that abort on failure. */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* listener.c */
#define SERVER_MAX_LISTENERS 16
struct server_options {
	const char *config_file;
	const char *listen[SERVER_MAX_LISTENERS];
	int nlisten;
	const char *data_dir;
	enum log_level log_level;
};
/* Listen on addr ("ADDR:PORT", port 0 picks one); the bound address goes to ready_fd if >= 0. */
int server_listen(struct event_base *base, const char *addr, int ready_fd);
void server_stop_listening(void);
struct sockaddr;
void server_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/* conn.c */
void conn_accept(struct event_base *base, int fd, struct sockaddr *sa, int salen);
void conn_close_all(int reply_code, const char *reason);

#endif /* WARREN_SERVER_H */
