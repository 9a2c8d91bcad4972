/*
 * mgmt.h: the management HTTP API's files (http.c, mgmt_*.c), private to them: one request being
 * answered (struct mreq), the route table's handlers, JSON helpers, the list engine and the
 * statistics sampler. Everything runs on the event loop's thread.
 *
 * A request's life (http.c): evhttp hands it over complete (headers and body within their
 * limits); its path is split into decoded segments; its Basic credentials go to auth's pool
 * (access_check_password), unless the pool's cache of recent successes answers at once; then the
 * route's handler runs. A handler answers with mgmt_reply_* or mgmt_error, at once or later (after
 * the store made a declare durable; a list streamed chunk by chunk as the client reads it). If the
 * client goes away first, the request is marked gone and freed once nothing waits on it.
 *
 * The control socket's "api" command (control_api.c) makes requests too: r->io is set and there
 * is no evhttp request (r->req NULL), so handlers answer only through the functions below
 * (mgmt_reply_*, mgmt_error, mgmt_stream_*, mgmt_add_header, mgmt_header), which call r->io.
 * Its requests are the operator's (r->superuser): no permission checks, the same vhosts seen.
 */
#ifndef WARREN_SERVER_ADMIN_MGMT_H
#define WARREN_SERVER_ADMIN_MGMT_H

#include <jansson.h>

#include "server/admin/admin.h"

struct evhttp_request;
struct evhttp_connection;
struct evkeyvalq;
struct mgmt_list;
struct mgmt_io;

/* RabbitMQ's management tags, as bits. */
enum mgmt_tag {
	TAG_MANAGEMENT = 1,
	TAG_POLICYMAKER = 2,
	TAG_MONITORING = 4,
	TAG_ADMINISTRATOR = 8,
};

#define MGMT_MAX_SEGS 8
#define MGMT_MAX_ARGS 4

enum mgmt_method { M_GET = 1, M_PUT = 2, M_POST = 4, M_DELETE = 8, M_HEAD = 16 };

struct mreq {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	unsigned refs;
	bool gone;    /* the client went away: nothing more is sent */
	bool replied; /* the answer (or its start) went out */
	enum mgmt_method method;
	char *segs[MGMT_MAX_SEGS];
	size_t nsegs;
	const char *arg[MGMT_MAX_ARGS]; /* the route's variable segments, decoded */
	struct evkeyvalq *params;       /* the query's parameters, decoded, or NULL */
	char *user;
	unsigned tags; /* enum mgmt_tag bits */
	json_t *body;  /* the parsed body of a PUT or POST (an object), or NULL */
	const struct mgmt_route *route;
	struct access_wait login;     /* the password check */
	struct persist_waiter stored; /* an answer that waits for the store */
	int stored_code;              /* ... its status (201 or 204) */
	json_t *stored_json;          /* ... and its body, or NULL */
	struct mgmt_list *list;       /* a list being streamed */
	void (*more)(struct mreq *r); /* ... called when the client took the last chunk */
	const struct mgmt_io *io;     /* NULL: HTTP (req, evcon); else the control socket's */
	void *io_arg;                 /* ... its client, until the answer is complete */
	bool superuser; /* warrend's operator (the control socket): every vhost and permission */
};

/*
 * Another way for a request to come in and its answer to go out than HTTP: the control socket
 * (control_api.c). The answer functions below call these instead of evhttp's when r->io is set;
 * the handlers do not know the difference.
 */
struct mgmt_io {
	/* The whole answer (body NULL: none); the request is complete. */
	void (*reply)(struct mreq *r, int status, struct evbuffer *body);
	/* A streamed answer: its start, each chunk (emptied; r->more once taken), its end. */
	void (*stream_start)(struct mreq *r);
	void (*stream_chunk)(struct mreq *r, struct evbuffer *buf);
	void (*stream_end)(struct mreq *r);
	/* A request header's value (X-Reason), or NULL. */
	const char *(*header)(struct mreq *r, const char *name);
	bool lines; /* lists as one JSON object a line, without the array around them */
};

struct mgmt_route {
	const char *pattern; /* segments after /api/, '*' for a variable one */
	unsigned methods;    /* enum mgmt_method bits */
	unsigned need;       /* the tag needed (monitoring, administrator), 0: any management tag */
	void (*fn)(struct mreq *r);
};

/* http.c: answers. Each ends the request (a list streams first, then ends it). */
/* cluster.c: GET /api/cluster, DELETE /api/cluster/nodes/HOST:PORT; mgmt_health.c: the check. */
void mgmt_cluster(struct mreq *r);
void mgmt_cluster_remove(struct mreq *r);
void mgmt_cluster_promote(struct mreq *r);
void mgmt_health_master(struct mreq *r);
void mgmt_reply_json(struct mreq *r, int status, json_t *body); /* steals body */
void mgmt_reply_empty(struct mreq *r, int status);
/* An answer whose headers the caller set; body (may be NULL) is emptied, not freed. */
void mgmt_reply_buffer(struct mreq *r, int status, struct evbuffer *body);
/* {"error":error,"reason":reason}, RabbitMQ's shape. */
void mgmt_error(struct mreq *r, int status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mgmt_not_found(struct mreq *r);
/* An AMQP reply code as RabbitMQ's API maps it: 404 not_found, 401 access refused, else 400. */
void mgmt_amqp_error(struct mreq *r, int code, const char *text);
/* Answer status once this turn's store writes are durable (a declare, a delete). */
void mgmt_reply_after_store(struct mreq *r, int status);
/* The same with a JSON body (stolen). */
void mgmt_reply_json_after_store(struct mreq *r, int status, json_t *body);
/* A request header's value (valid while r is), or NULL (X-Reason). */
const char *mgmt_header(struct mreq *r, const char *name);
/* Add a header to r's answer, before it is sent (HTTP only: the control socket's have none). */
void mgmt_add_header(struct mreq *r, const char *name, const char *value);
/* Find r's route for path ("/api/..."; segments decoded into r): 0, or 404, or 405. */
int mgmt_route_path(struct mreq *r, const char *path);
/* A query parameter (decoded, valid while r is), or NULL. */
const char *mgmt_query(struct mreq *r, const char *key);
/* Start streaming: the status line and headers; then mgmt_send_chunk, then mgmt_end. */
void mgmt_stream_start(struct mreq *r);
/* Send buf (emptied) and call more(r) once the client has taken it. */
void mgmt_stream_chunk(struct mreq *r, struct evbuffer *buf, void (*more)(struct mreq *r));
void mgmt_stream_end(struct mreq *r);
/* The user may see vhost v's objects (it has permissions there, or is monitoring or more). */
bool mgmt_sees_vhost(const struct mreq *r, const char *vhost);
/* The user may use vhost v at all (a permissions line): else 401 answered, false. */
bool mgmt_vhost_access(struct mreq *r, const char *vhost);
/* The user's AMQP permission: else 401 "access to ... refused" answered, false. */
bool mgmt_permitted(struct mreq *r, const char *vhost, enum auth_perm perm, enum auth_resource kind,
    struct amqp_bytes name);
/* A topic permission (a topic exchange's routing key): else 401 answered, false. */
bool mgmt_topic_permitted(struct mreq *r, const char *vhost, const char *exchange,
    struct amqp_bytes key, enum auth_perm perm);
/* The named vhost, or NULL with 404 answered. */
struct vhost *mgmt_vhost(struct mreq *r, const char *name);

/* mgmt_json.c */
/* A boolean in a body: true/false, or the strings "true"/"false" (rabbitmqadmin sends those). */
int mgmt_json_bool(const json_t *o, const char *key, bool dflt, bool *out);
/* A non-negative integer, or a string of digits. */
int mgmt_json_uint(const json_t *o, const char *key, uint64_t dflt, uint64_t max, uint64_t *out);
/* A string member, or dflt. */
const char *mgmt_json_str(const json_t *o, const char *key, const char *dflt);
/* A JSON object as an encoded AMQP table (the bytes inside its length): 0, or -1 with err. */
int mgmt_json_to_table(const json_t *o, struct evbuffer *out, char *err, size_t errlen);
/* Encoded table entries as a JSON object (never NULL; {} when they do not decode). */
json_t *mgmt_table_to_json(struct amqp_bytes raw);
json_t *mgmt_bytes(
    const void *p, size_t len); /* a JSON string from bytes (invalid UTF-8 escaped) */
/* Write j, compact, at the end of out. */
void mgmt_dump(const json_t *j, struct evbuffer *out);
/* {"rate": r} */
json_t *mgmt_rate(double r);
/* Add key, and key_details {"rate"} from a counter and its ring. */
void mgmt_add_counter(json_t *o, const char *key, uint64_t v, const struct rate_ring *ring);
/* A counter's rate per second over the last sample interval (mgmt_stats.c). */
double mgmt_rate_of(const struct rate_ring *ring);
/* message_stats: the counters whose bits (1 << enum msg_stat) are in mask, and deliver_get. */
json_t *mgmt_msg_stats(const struct msg_stats *st, unsigned mask);
/* A queue's message_stats. */
json_t *mgmt_queue_stats(const struct queue_stats *qs);
/* Counters and their rates, from any of the kinds that keep them, to sum or to show. */
struct stats_view {
	uint64_t n[MS_COUNT];
	double rate[MS_COUNT];
};
extern const char *const mgmt_stat_names[MS_COUNT];
void mgmt_view_msg(struct stats_view *v, const struct msg_stats *st);
void mgmt_view_add_queue(struct stats_view *v, const struct queue_stats *qs);
json_t *mgmt_view_json(const struct stats_view *v, unsigned mask);
/* A queue counter's rate over the last interval (mgmt_stats.c); a delta's, per second. */
double mgmt_queue_rate(const struct queue_stats *qs, enum msg_stat i);
double mgmt_delta_rate(uint32_t delta);
#define ALL_STATS ((1u << MS_COUNT) - 1)
#define QUEUE_STATS                                                                     \
	(1u << MS_PUBLISH | 1u << MS_DELIVER | 1u << MS_DELIVER_NO_ACK | 1u << MS_GET | \
	    1u << MS_GET_NO_ACK | 1u << MS_ACK | 1u << MS_REDELIVER)
/* Milliseconds since the epoch (wall clock), for *_at fields. */
uint64_t mgmt_wall_ms(void);

/* mgmt_list.c: list endpoints: filter, sort, page and stream rows. */
/*
 * A sort or filter key read straight from an object: a string it owns (or one made for the key,
 * in own, which the list frees), a number, a flag.
 */
struct mgmt_key {
	enum { MK_NONE, MK_OTHER, MK_STR, MK_NUM, MK_BOOL } type;
	const char *s;
	char *own;
	double d;
};
struct mgmt_list_ops {
	/* the row's object, as JSON (new reference), or NULL when it is gone */
	json_t *(*render)(struct mreq *r, void *row);
	void (*free_row)(void *row);
	const char *default_sort[5]; /* dotted paths, NULL-terminated */
	/*
	 * Live rows (mgmt_list_add_live), for lists of many objects: the key at a dotted path read
	 * from the object (false when only its JSON has it: live_json is made then), and the row
	 * kept for streaming once the object is on the page asked for.
	 */
	bool (*live_key)(const void *obj, const char *path, struct mgmt_key *out);
	json_t *(*live_json)(const void *obj);
	void *(*live_own)(const void *obj);
};
struct mgmt_list *mgmt_list_new(const struct mgmt_list_ops *ops);
/* Add a row (the list owns it); its JSON now for the name filter and the sort key. */
void mgmt_list_add(struct mgmt_list *l, struct mreq *r, void *row, json_t *now);
/*
 * Add a live object (a queue, an exchange): its keys are read without JSON where the ops can, and
 * only the rows on the page become owned rows (live_own), in mgmt_list_send, which must follow
 * in the same turn of the loop (the objects are not held).
 */
void mgmt_list_add_live(struct mgmt_list *l, struct mreq *r, const void *obj);
/* Set a key (for live_key): a string the object owns; one made for it (taken); a number or flag. */
bool mgmt_key_str(struct mgmt_key *k, const char *s);
bool mgmt_key_own(struct mgmt_key *k, char *s);
bool mgmt_key_num(struct mgmt_key *k, double d, bool flag);
/* Parse the query (columns, sort, page, ...): 0, or -1 with the error answered. */
int mgmt_list_begin(struct mgmt_list *l, struct mreq *r);
/* Sort, page and stream the rows (takes l). */
void mgmt_list_send(struct mgmt_list *l, struct mreq *r);
void mgmt_list_free(struct mgmt_list *l);
/* A row that holds its JSON (connections, channels, consumers, bindings). */
extern const struct mgmt_list_ops mgmt_snapshot_ops; /* sorted by vhost, name */
json_t *mgmt_snapshot_render(struct mreq *r, void *row);
void mgmt_snapshot_free(void *row);

/* mgmt_api.c: overview, whoami, nodes, vhosts, connections, channels, consumers. */
void mgmt_overview(struct mreq *r);
void mgmt_whoami(struct mreq *r);
void mgmt_nodes(struct mreq *r);
void mgmt_node(struct mreq *r);
void mgmt_vhosts(struct mreq *r);
void mgmt_vhost_get(struct mreq *r);
void mgmt_connections(struct mreq *r);
void mgmt_connection(struct mreq *r);
void mgmt_channels(struct mreq *r);
void mgmt_channel(struct mreq *r);
void mgmt_consumers(struct mreq *r);
/* The node's name, as RabbitMQ's rabbit@host. */
const char *mgmt_node_name(void);

/* mgmt_objects.c: exchanges and queues (mgmt_bindings.c: bindings; mgmt_messages.c: the rest). */
void mgmt_exchanges(struct mreq *r);
void mgmt_exchange(struct mreq *r);
void mgmt_exchange_publish(struct mreq *r);
void mgmt_exchange_bindings(struct mreq *r);
void mgmt_queues(struct mreq *r);
/* The queue {vhost}/{name} of r for a write: vhost access, perm, then 404, or 400 if exclusive. */
struct queue *mgmt_queue_for(struct mreq *r, struct vhost *v, enum auth_perm perm);
void mgmt_queue(struct mreq *r);
void mgmt_queue_contents(struct mreq *r);
void mgmt_queue_bindings(struct mreq *r);
void mgmt_bindings(struct mreq *r);
void mgmt_binding_list(struct mreq *r); /* bindings/{vhost}/e/{src}/{q|e}/{dst} */
void mgmt_binding(struct mreq *r);      /* ... /{props} */

/* mgmt_messages.c: publish and get. */
void mgmt_queue_get(struct mreq *r);

/*
 * http.c: a reference on a request kept across a wait (an edit, the store); the last one frees it.
 * The first is the transport's, dropped when the answer is complete or the client went away.
 */
void mgmt_ref(struct mreq *r);
void mgmt_unref(struct mreq *r);

/* mgmt_edit.c: writes to the users and vhost files, on one worker thread, then a reload. */
/* The edit, on the worker thread: AUTH_OK or an auth_err with err (r is not to be touched). */
typedef int mgmt_edit_fn(struct auth_edit *e, void *arg, char *err, size_t errlen);
/* The answer, on the loop, after the reload (r may be gone: mgmt_reply_* then send nothing). */
typedef void mgmt_edit_done_fn(struct mreq *r, int rc, const char *err, void *arg);
/* Queue fn for the worker; done runs on the loop, then free_arg(arg). r is kept till then. */
void mgmt_edit_submit(struct mreq *r, mgmt_edit_fn *fn, mgmt_edit_done_fn *done, void *arg,
    void (*free_arg)(void *arg));
/* Whether the files can be written (a users_file is configured): else 405 answered. */
bool mgmt_files_writable(struct mreq *r);
/* The HTTP status for an edit's result (204, 404, 400, 500), and an error answer for it. */
int mgmt_edit_status(int rc);
void mgmt_edit_error(struct mreq *r, int rc, const char *err);
/* Stop the worker (at exit): queued edits are dropped, the running one finishes. */
void mgmt_edit_stop(void);

/* mgmt_users.c: users, permissions, topic permissions, vhost PUT and DELETE. */
void mgmt_users(struct mreq *r);
void mgmt_users_without_permissions(struct mreq *r);
void mgmt_users_bulk_delete(struct mreq *r);
void mgmt_user(struct mreq *r);
void mgmt_permissions(struct mreq *r); /* lists: all, per vhost, per user */
void mgmt_permission(struct mreq *r);
void mgmt_topic_permissions(struct mreq *r);
void mgmt_topic_permission(struct mreq *r);
void mgmt_vhost_route(struct mreq *r); /* vhosts/{v}: GET as mgmt_vhost_get, PUT, DELETE */
/* RabbitMQ's JSON for a user of broker.auth (tags as a list). */
json_t *mgmt_user_json(const struct auth_user_info *u);

/* mgmt_defs.c: /api/definitions and /api/definitions/{vhost}, GET (export) and POST (import). */
void mgmt_definitions(struct mreq *r);
/* mgmt_import.c: the import (POST); only: definitions/{vhost}'s vhost, or NULL. */
void mgmt_definitions_import(struct mreq *r, const char *only);

/* mgmt_policies.c: policies and operator policies (the vhost files' lines). */
void mgmt_policies(struct mreq *r); /* lists: all, per vhost */
void mgmt_policy(struct mreq *r);   /* {vhost}/{name}: GET, PUT, DELETE */
json_t *mgmt_policy_json(struct amqp_bytes vhost, const struct auth_policy_info *pi);
/* policy, operator_policy (when set) and, for a queue, effective_policy_definition. */
void mgmt_policy_fields(
    json_t *o, struct vhost *v, enum auth_resource kind, struct amqp_bytes name);
/* Definitions: the policies (only: of that vhost, without their vhost field). */
json_t *mgmt_policies_export(const char *only);
/* An import's policies: checked (on the loop), then written (on the edit worker). */
int mgmt_policies_import_check(const json_t *defs, const char *only, char *err, size_t errlen);
int mgmt_policies_import(
    struct auth_edit *e, const json_t *defs, const char *only, char *err, size_t errlen);

/* mgmt_limits.c: vhost limits (the vhost files' lines) and user limits (warren.conf's). */
/* A vhost's limits as RabbitMQ's value object ({"max-connections": N, ...}), or NULL (none). */
json_t *mgmt_vhost_limits_value(struct amqp_bytes vhost);
void mgmt_vhost_limits(struct mreq *r); /* lists: all, per vhost */
void mgmt_vhost_limit(struct mreq *r);  /* {vhost}/{name}: PUT, DELETE */
void mgmt_user_limits(struct mreq *r);  /* lists: all, per user */
void mgmt_user_limit(struct mreq *r);   /* {user}/{name}: PUT, DELETE, refused */

/* mgmt_health.c: /api/aliveness-test/{vhost} and /api/health/checks/... */
void mgmt_aliveness(struct mreq *r);
void mgmt_health_alarms(struct mreq *r); /* alarms and local-alarms */
void mgmt_health_port(struct mreq *r);
void mgmt_health_protocol(struct mreq *r);
void mgmt_health_vhosts(struct mreq *r);
void mgmt_health_certificates(struct mreq *r);
void mgmt_health_single_node(struct mreq *r); /* node-is-quorum-critical, ...-mirror-sync-... */

/* http_static.c: the web UI's files, built in (tools/embed-www.sh writes www_assets.c). */
struct mgmt_asset {
	const char *name; /* its path, "/index.html" */
	const unsigned char *data;
	size_t len;
	const char *etag; /* quoted */
};
extern const struct mgmt_asset mgmt_assets[]; /* ends with a NULL name */
/* The file whose path is exactly name, or NULL. */
const struct mgmt_asset *mgmt_asset_find(const char *name);
/* Answer a GET or HEAD of a path outside /api/ (raw, still percent-encoded) with a UI file. */
void mgmt_static(struct mreq *r, const char *path);

/* mgmt_stats.c: the sampler. */
void mgmt_stats_start(struct event_base *base, unsigned interval_ms);
void mgmt_stats_stop(void);

#endif /* WARREN_SERVER_ADMIN_MGMT_H */
