/*
 * net.h: the network layer: listening sockets and TLS. It reports accepted sockets up through
 * the callback given to server_listen.
 */
#ifndef WARREN_SERVER_NET_H
#define WARREN_SERVER_NET_H

#include "server/base/base.h"

/* listener.c */
#define SERVER_MAX_LISTENERS 16
/*
 * How the network layer reports up: the protocol layer registers its function at start
 * (conn_register_events). Without one, accepted sockets are closed.
 */
struct net_events {
	/*
	 * A client's socket accepted on a listener (tls: on an amqps one). refusal: NULL to serve
	 * it; else this node cannot (a replica without a reachable master): the client is to be
	 * told why (forward.c).
	 */
	void (*accepted)(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls,
	    const char *refusal);
};
void net_register_events(const struct net_events *ev);
/* forward.c's way up: hand fd to the events' accepted (or close it without one). */
void net_accepted_up(
    struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls, const char *refusal);
/*
 * Listen on addr ("ADDR:PORT", port 0 picks one), amqps if tls; bound address to ready_fd. An
 * optional one (the default's IPv6 half) is skipped with a warning where the host has no IPv6.
 */
int server_listen(struct event_base *base, const char *addr, int ready_fd, bool tls, bool optional);
void server_stop_listening(void);
/* The ith listener's bound address and whether it is amqps: 0, or -1 past the last one. */
struct sockaddr_storage;
int server_listener(int i, struct sockaddr_storage *ss, bool *tls);
void server_format_addr(const struct sockaddr *sa, char *buf, size_t len);

/*
 * forward.c: what the listeners do with accepted sockets (docs/cluster.md); the admin layer
 * decides, on the loop thread, as the node's role changes. At start, and on a master or a single
 * node: serve them. On a replica without a master: refuse them, with reason. On a replica: splice
 * each to the master's matching address as bytes (HOST:PORT, resolved now; NULL: the master has
 * none of that kind, and such clients are refused with missing). 0, or -1 with err.
 */
void net_forward_serve(void);
void net_forward_refuse(const char *reason);
int net_forward_to(const char *plain, const char *tls, const char *missing, char *err, size_t len);
/*
 * Splices now open (connecting included); in all, made and failed to connect; the most bytes one
 * splice's output has held (bounded by its high mark plus one read).
 */
void net_forward_stats(unsigned *live, uint64_t *spliced, uint64_t *failed, size_t *peak);
/* listener.c's accepted sockets, before anything is read from them. */
void net_forward_accepted(
    struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls);

/*
 * proxy.c: the PROXY protocol on the AMQP listeners (proxy_protocol). net_proxy_set turns it on
 * for connections accepted from then on; each must send a header within timeout_s seconds.
 */
void net_proxy_set(bool on, uint32_t timeout_s);
bool net_proxy_on(void);
/* An accepted socket: its header read (without reading past it), it goes on to forward.c. */
void net_proxy_accepted(struct event_base *base, int fd, struct sockaddr *sa, int salen, bool tls);
/* Close the sockets still sending their headers (the listeners stop). */
void net_proxy_drop_pending(void);
/*
 * A header (version 1 or 2) at the start of p[0..n): 0 with its length in *used and the
 * client's address in src (*srclen 0: LOCAL or UNKNOWN, the proxy's own connection), 1 when
 * more bytes are needed, -1 when it is not one.
 */
struct sockaddr_storage;
int net_proxy_parse(
    const uint8_t *p, size_t n, struct sockaddr_storage *src, unsigned *srclen, size_t *used);
/* A version 2 header naming src (and dst, where it came in) into out (at least 52 bytes). */
struct sockaddr;
size_t net_proxy_header(const struct sockaddr *src, const struct sockaddr *dst, uint8_t *out);
/* tls.c */
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */
int tls_init(const struct broker_config *cfg);
/* A reload, in two steps: build the context (0 with *out, NULL without TLS; -1 and err) ... */
int tls_reload_load(
    const struct broker_config *cfg, struct ssl_ctx_st **out, char *err, size_t errlen);
void tls_reload_discard(struct ssl_ctx_st *ctx);
/* ... then put it in force for new connections; says in what whether the certificate changed. */
bool tls_reload_apply(struct ssl_ctx_st *ctx, char *what, size_t len);
void tls_free(void);
/* A TLS server buffer over an accepted socket, or NULL (the socket closed, the reason logged). */
struct bufferevent *tls_wrap(struct event_base *base, int fd, const char *peer);
/* Is there a TLS context (tls_cert and tls_key configured)? */
bool tls_configured(void);
/*
 * Send a TLS connection's close_notify (its output written already), as a clean close does: a
 * client then sees the end of the stream, not a truncation, and the session stays resumable.
 * Best effort, never waiting: the socket may not take it.
 */
void tls_close_notify(struct bufferevent *bev);
/* The user the verified client certificate of bev names (CN, DN or a SAN): 0, or -1 without one. */
int tls_peer_name(struct bufferevent *bev, char *out, size_t len);

#endif /* WARREN_SERVER_NET_H */
