/*
 * mgmt_objects.c: exchanges, queues and bindings through the management API, with RabbitMQ
 * 3.10's paths and fields: list, show, declare (PUT), delete, bind (POST) and unbind, publish to an
 * exchange, get from a queue and purge it. Each write goes through the same model functions and
 * the same checks (model/validate.c, queue_args_parse, the permission table) as its AMQP method,
 * in the same order, so that it behaves as if a client had sent that method as the user; a durable
 * change is answered once the store has it. "amq.default" names the default exchange.
 */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

#define NAMEF "%.*s"
#define NAMEA(b) (int)(b).len, (const char *)(b).ptr

/* A row of a queue or exchange list: found again by name when the stream reaches it. */
struct objrow {
	char *vhost, *name;
	bool queue;
};

static const char *exchange_name(const char *s)
{
	return strcmp(s, "amq.default") == 0 ? "" : s;
}

static struct amqp_bytes bytes_of(const char *s)
{
	return amqp_cstr(s);
}

static json_t *exchange_json(const struct exchange *x)
{
	json_t *o = json_pack("{s:s%, s:s, s:s, s:b, s:b, s:b}", "name", x->name, x->name_len,
	    "vhost", x->vhost->name, "type", exchange_type_name(x->type), "durable", x->durable,
	    "auto_delete", x->auto_delete, "internal", x->internal);

	json_object_set_new(
	    o, "arguments", mgmt_table_to_json((struct amqp_bytes){ x->args, x->args_len }));
	mgmt_policy_fields(o, x->vhost, AUTH_RES_EXCHANGE,
	    (struct amqp_bytes){ (const uint8_t *)x->name, x->name_len });
	/* As the delayed message plugin's management extension: its waiting messages. */
	if (x->type == EX_DELAYED)
		json_object_set_new(
		    o, "messages_delayed", json_integer((json_int_t)delay_pending(x)));
	return o;
}

static void set_num(json_t *o, const char *key, uint64_t n)
{
	json_object_set_new(o, key, json_integer((json_int_t)n));
}

static json_t *queue_json(const struct queue *q)
{
	uint64_t paged, paged_bytes, ts;
	double capacity = queue_consumer_capacity(q);
	const struct consumer *cs;
	json_t *o;

	queue_paged_totals(q, &paged, &paged_bytes);
	/*
	 * RabbitMQ's counts: message_bytes is ready and unacknowledged; "ram" is what is not paged
	 * out (the Prometheus families' numbers, prom.c).
	 */
	o = json_pack("{s:s%, s:s, s:b, s:b, s:b, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, "
	              "s:I, s:I, s:{}}",
	    "name", q->name, q->name_len, "vhost", q->vhost->name, "durable", q->durable,
	    "auto_delete", q->auto_delete, "exclusive", q->exclusive, "node", mgmt_node_name(),
	    "state", "running", "type", "classic", "consumers", (int)q->nconsumers, "messages",
	    (json_int_t)(q->count + q->unacked), "messages_ready", (json_int_t)q->count,
	    "messages_unacknowledged", (json_int_t)q->unacked, "message_bytes",
	    (json_int_t)(q->bytes + q->unacked_bytes), "message_bytes_ready", (json_int_t)q->bytes,
	    "message_bytes_unacknowledged", (json_int_t)q->unacked_bytes, "messages_paged_out",
	    (json_int_t)paged, "effective_policy_definition");
	set_num(o, "message_bytes_paged_out", paged_bytes);
	set_num(o, "messages_ready_ram", q->count > paged ? q->count - paged : 0);
	set_num(o, "messages_unacknowledged_ram", q->unacked);
	set_num(o, "messages_ram", (q->count > paged ? q->count - paged : 0) + q->unacked);
	set_num(o, "message_bytes_ram",
	    (q->bytes > paged_bytes ? q->bytes - paged_bytes : 0) + q->unacked_bytes);
	/* As RabbitMQ 3.10: consumer capacity under both its names, the queue's own memory. */
	json_object_set_new(o, "consumer_capacity", json_real(capacity));
	json_object_set_new(o, "consumer_utilisation", json_real(capacity));
	set_num(o, "memory", queue_memory(q));
	json_object_set_new(o, "head_message_timestamp",
	    queue_head_timestamp((struct queue *)q, &ts) ? json_integer((json_int_t)ts)
	                                                 : json_null());
	/* The tag of an exclusive consumer (basic.consume exclusive), else null, as RabbitMQ. */
	json_object_set_new(o, "exclusive_consumer_tag", json_null());
	TAILQ_FOREACH(cs, &q->consumers, q_entry)
	{
		if (cs->exclusive && !cs->cancelled)
			json_object_set_new(
			    o, "exclusive_consumer_tag", json_stringn(cs->tag, cs->tag_len));
	}
	json_object_set_new(
	    o, "arguments", mgmt_table_to_json((struct amqp_bytes){ q->args, q->args_len }));
	mgmt_policy_fields(o, q->vhost, AUTH_RES_QUEUE,
	    (struct amqp_bytes){ (const uint8_t *)q->name, q->name_len });
	json_object_set_new(o, "message_stats", mgmt_queue_stats(&q->stats));
	return o;
}

static json_t *objrow_render(struct mreq *r, void *p)
{
	struct objrow *row = p;
	struct vhost *v = vhost_find(bytes_of(row->vhost));
	struct queue *q;
	struct exchange *x;

	if (v == NULL)
		return NULL;
	if (row->queue)
		return (q = vhost_queue(v, bytes_of(row->name))) != NULL ? queue_json(q) : NULL;
	return (x = vhost_exchange(v, bytes_of(row->name))) != NULL ? exchange_json(x) : NULL;
}

static void objrow_free(void *p)
{
	struct objrow *row = p;

	free(row->vhost);
	free(row->name);
	free(row);
}

static void *objrow_own(const char *vhost, const char *name, bool queue)
{
	struct objrow *row = xmalloc(sizeof(*row));

	row->vhost = xstrdup(vhost);
	row->name = xstrdup(name);
	row->queue = queue;
	return row;
}

static void *queue_own(const void *obj)
{
	const struct queue *q = obj;

	return objrow_own(q->vhost->name, q->name, true);
}

static void *exchange_own(const void *obj)
{
	const struct exchange *x = obj;

	return objrow_own(x->vhost->name, x->name, false);
}

static json_t *queue_live_json(const void *obj)
{
	return queue_json(obj);
}

static json_t *exchange_live_json(const void *obj)
{
	return exchange_json(obj);
}

/* message_stats.NAME or message_stats.NAME_details.rate of a queue. */
static bool stat_key(const struct queue_stats *qs, const char *path, struct mgmt_key *k)
{
	static const char rate[] = "_details.rate";
	size_t n = strlen(path), rl = sizeof(rate) - 1;
	bool is_rate = n > rl && strcmp(path + n - rl, rate) == 0;
	double v = 0;
	unsigned i;

	if (is_rate)
		n -= rl;
	if (n == strlen("deliver_get") && strncmp(path, "deliver_get", n) == 0) {
		for (i = MS_DELIVER; i <= MS_GET_NO_ACK; i++)
			v += is_rate ? mgmt_queue_rate(qs, i) : (double)qs->n[i];
		return mgmt_key_num(k, v, false);
	}
	for (i = 0; i < QS_COUNT; i++)
		if (strlen(mgmt_stat_names[i]) == n && strncmp(path, mgmt_stat_names[i], n) == 0)
			return mgmt_key_num(
			    k, is_rate ? mgmt_queue_rate(qs, i) : (double)qs->n[i], false);
	return false;
}

/* A queue's keys without its JSON: the fields a list is sorted or filtered by. */
static bool queue_key(const void *obj, const char *path, struct mgmt_key *k)
{
	const struct queue *q = obj;

	if (strncmp(path, "message_stats.", 14) == 0)
		return stat_key(&q->stats, path + 14, k);
	if (strcmp(path, "name") == 0)
		return mgmt_key_str(k, q->name);
	if (strcmp(path, "vhost") == 0)
		return mgmt_key_str(k, q->vhost->name);
	if (strcmp(path, "messages") == 0)
		return mgmt_key_num(k, (double)(q->count + q->unacked), false);
	if (strcmp(path, "messages_ready") == 0)
		return mgmt_key_num(k, (double)q->count, false);
	if (strcmp(path, "messages_unacknowledged") == 0)
		return mgmt_key_num(k, (double)q->unacked, false);
	if (strcmp(path, "message_bytes") == 0)
		return mgmt_key_num(k, (double)(q->bytes + q->unacked_bytes), false);
	if (strcmp(path, "message_bytes_ready") == 0)
		return mgmt_key_num(k, (double)q->bytes, false);
	if (strcmp(path, "message_bytes_unacknowledged") == 0)
		return mgmt_key_num(k, (double)q->unacked_bytes, false);
	if (strcmp(path, "consumers") == 0)
		return mgmt_key_num(k, q->nconsumers, false);
	if (strcmp(path, "consumer_utilisation") == 0 || strcmp(path, "consumer_capacity") == 0)
		return mgmt_key_num(k, queue_consumer_capacity(q), false);
	if (strcmp(path, "memory") == 0)
		return mgmt_key_num(k, (double)queue_memory(q), false);
	if (strcmp(path, "durable") == 0)
		return mgmt_key_num(k, q->durable, true);
	if (strcmp(path, "auto_delete") == 0)
		return mgmt_key_num(k, q->auto_delete, true);
	if (strcmp(path, "exclusive") == 0)
		return mgmt_key_num(k, q->exclusive, true);
	return false;
}

static bool exchange_key(const void *obj, const char *path, struct mgmt_key *k)
{
	const struct exchange *x = obj;

	if (strcmp(path, "name") == 0)
		return mgmt_key_str(k, x->name);
	if (strcmp(path, "vhost") == 0)
		return mgmt_key_str(k, x->vhost->name);
	if (strcmp(path, "type") == 0)
		return mgmt_key_str(k, exchange_type_name(x->type));
	if (strcmp(path, "durable") == 0)
		return mgmt_key_num(k, x->durable, true);
	if (strcmp(path, "auto_delete") == 0)
		return mgmt_key_num(k, x->auto_delete, true);
	if (strcmp(path, "internal") == 0)
		return mgmt_key_num(k, x->internal, true);
	return false;
}

static const struct mgmt_list_ops queue_list_ops = { .render = objrow_render,
	.free_row = objrow_free,
	.default_sort = { "vhost", "name", NULL },
	.live_key = queue_key,
	.live_json = queue_live_json,
	.live_own = queue_own };

static const struct mgmt_list_ops exchange_list_ops = { .render = objrow_render,
	.free_row = objrow_free,
	.default_sort = { "vhost", "name", NULL },
	.live_key = exchange_key,
	.live_json = exchange_live_json,
	.live_own = exchange_own };

/* GET /api/exchanges, /api/exchanges/{vhost} (and queues). */
static void list_objects(struct mreq *r, bool queues)
{
	const char *only = r->nsegs == 2 ? r->arg[0] : NULL;
	struct hmap_iter vi, oi;
	struct mgmt_list *l;
	const void *k;
	size_t kl;
	void *val;

	if (only != NULL && mgmt_vhost(r, only) == NULL)
		return;
	l = mgmt_list_new(queues ? &queue_list_ops : &exchange_list_ops);
	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, &k, &kl, &val)) {
		struct vhost *v = val;
		if ((only != NULL && strcmp(v->name, only) != 0) || !mgmt_sees_vhost(r, v->name))
			continue;
		hmap_iter_init(queues ? &v->queues : &v->exchanges, &oi);
		while (hmap_iter_next(&oi, &k, &kl, &val))
			mgmt_list_add_live(l, r, val);
	}
	mgmt_list_send(l, r);
}

void mgmt_exchanges(struct mreq *r)
{
	list_objects(r, false);
}

void mgmt_queues(struct mreq *r)
{
	list_objects(r, true);
}

/* The body's arguments as an encoded table into buf: false with 400 answered. */
static bool body_args(struct mreq *r, struct evbuffer *buf)
{
	char err[256];

	if (mgmt_json_to_table(json_object_get(r->body, "arguments"), buf, err, sizeof(err)) == 0)
		return true;
	mgmt_error(r, 400, "bad_request", "%s", err);
	return false;
}

static bool body_bool(struct mreq *r, const char *key, bool dflt, bool *out)
{
	if (mgmt_json_bool(r->body, key, dflt, out) == 0)
		return true;
	mgmt_error(r, 400, "bad_request", "%s must be true or false", key);
	return false;
}

/* PUT /api/exchanges/{vhost}/{name}: exchange.declare as the user. */
static void exchange_put(struct mreq *r, struct vhost *v, const char *name)
{
	struct amqp_bytes nb = bytes_of(name), args;
	const char *type = mgmt_json_str(r->body, "type", NULL);
	struct evbuffer *ab = evbuffer_new();
	bool durable, auto_delete, internal;
	enum exchange_type t;
	struct exchange *x;
	char err[512], ae[256];
	int code;

	if (!body_bool(r, "durable", false, &durable) ||
	    !body_bool(r, "auto_delete", false, &auto_delete) ||
	    !body_bool(r, "internal", false, &internal) || !body_args(r, ab))
		goto out;
	args = (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
	if (type == NULL || *type == '\0') {
		mgmt_error(r, 400, "bad_request", "invalid exchange type ''");
		goto out;
	}
	if (exchange_type_parse(bytes_of(type), &t) != 0) {
		mgmt_error(r, 400, "bad_request", "unknown exchange type '%s'", type);
		goto out;
	}
	if (nb.len == 0) {
		mgmt_amqp_error(
		    r, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
		goto out;
	}
	if (!mgmt_permitted(r, v->name, AUTH_CONFIGURE, AUTH_RES_EXCHANGE, nb))
		goto out;
	if ((x = vhost_exchange(v, nb)) != NULL) {
		if ((code = validate_exchange_equivalent(
		         x, t, durable, auto_delete, internal, args, err, sizeof(err))) != 0)
			mgmt_amqp_error(r, code, err);
		else
			mgmt_reply_empty(r, 204);
		goto out;
	}
	if ((code = validate_exchange_new(v, nb, t, args, err, sizeof(err))) != 0) {
		mgmt_amqp_error(r, code, err);
		goto out;
	}
	/* With an alternate exchange: read on the new one, write on the AE. */
	if (validate_alternate(args, ae, sizeof(ae)) &&
	    (!mgmt_permitted(r, v->name, AUTH_READ, AUTH_RES_EXCHANGE, nb) ||
	        !mgmt_permitted(r, v->name, AUTH_WRITE, AUTH_RES_EXCHANGE, bytes_of(ae))))
		goto out;
	x = exchange_new(v, nb, t, durable, auto_delete, internal, args);
	log_debug("management: user '%s' declared exchange '%s' (%s)", r->user, x->name, type);
	mgmt_reply_after_store(r, 201);
out:
	evbuffer_free(ab);
}

static bool query_flag(struct mreq *r, const char *key)
{
	const char *s = mgmt_query(r, key);

	return s != NULL && strcmp(s, "true") == 0;
}

void mgmt_exchange(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	const char *name = exchange_name(r->arg[1]);
	struct amqp_bytes nb = bytes_of(name);
	struct exchange *x;
	char err[512];
	int code;

	if (v == NULL)
		return;
	if (r->method == M_GET || r->method == M_HEAD) {
		if ((x = vhost_exchange(v, nb)) == NULL)
			mgmt_not_found(r);
		else
			mgmt_reply_json(r, 200, exchange_json(x));
		return;
	}
	if (!mgmt_vhost_access(r, v->name))
		return;
	if (r->method == M_PUT) {
		exchange_put(r, v, name);
		return;
	}
	/* DELETE: the name, the permission, then whether it is in use. */
	if ((code = validate_exchange_delete(v, nb, NULL, false, err, sizeof(err))) != 0) {
		mgmt_amqp_error(r, code, err);
		return;
	}
	if (!mgmt_permitted(r, v->name, AUTH_CONFIGURE, AUTH_RES_EXCHANGE, nb))
		return;
	if ((x = vhost_exchange(v, nb)) == NULL) {
		mgmt_not_found(r);
		return;
	}
	if ((code = validate_exchange_delete(
	         v, nb, x, query_flag(r, "if-unused"), err, sizeof(err))) != 0) {
		mgmt_amqp_error(r, code, err);
		return;
	}
	exchange_delete(x);
	mgmt_reply_after_store(r, 204);
}

/* PUT /api/queues/{vhost}/{name}: queue.declare (never exclusive) as the user. */
static void queue_put(struct mreq *r, struct vhost *v, const char *name)
{
	struct amqp_bytes nb = bytes_of(name), args;
	struct evbuffer *ab = evbuffer_new();
	bool durable, auto_delete;
	struct auth_limits lim;
	struct queue_args qa;
	struct queue *q;
	char err[512];
	int code;

	if (!body_bool(r, "durable", false, &durable) ||
	    !body_bool(r, "auto_delete", false, &auto_delete) || !body_args(r, ab))
		goto out;
	args = (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
	if (validate_reserved_name(nb) && vhost_queue(v, nb) == NULL) {
		snprintf(
		    err, sizeof(err), "queue name '%s' contains reserved prefix 'amq.*'", name);
		mgmt_amqp_error(r, AMQP_ACCESS_REFUSED, err);
		goto out;
	}
	if (!mgmt_permitted(r, v->name, AUTH_CONFIGURE, AUTH_RES_QUEUE, nb))
		goto out;
	if ((q = vhost_queue(v, nb)) != NULL) {
		if (q->exclusive) {
			mgmt_error(r, 400, "bad_request",
			    "cannot obtain exclusive access to locked queue '%s' in vhost '%s'",
			    q->name, v->name);
		} else if ((code = validate_queue_equivalent(
		                q, durable, auto_delete, args, err, sizeof(err))) != 0) {
			mgmt_amqp_error(r, code, err);
		} else {
			broker.counters.queues_declared++;
			queue_touch(q);
			mgmt_reply_empty(r, 204);
		}
		goto out;
	}
	if (queue_type_check(
	        args, 0, durable, false, auto_delete, name, v->name, err, sizeof(err)) != 0 ||
	    queue_args_parse(args, &qa, name, v->name, err, sizeof(err)) != 0) {
		mgmt_amqp_error(r, AMQP_PRECONDITION_FAILED, err);
		goto out;
	}
	if (queue_type_check(
	        args, 1, durable, false, auto_delete, name, v->name, err, sizeof(err)) != 0) {
		queue_args_free(&qa);
		mgmt_amqp_error(r, AMQP_PRECONDITION_FAILED, err);
		goto out;
	}
	/* The queue limit, then (with a dead-letter exchange) read on the queue, write on the DLX. */
	if (auth_vhost_limits(broker.auth, bytes_of(v->name), &lim) && lim.max_queues >= 0 &&
	    v->queues.count >= (size_t)lim.max_queues) {
		snprintf(err, sizeof(err),
		    "cannot declare queue '%s': queue limit in vhost '%s' (%ld) is reached", name,
		    v->name, lim.max_queues);
		mgmt_amqp_error(r, AMQP_PRECONDITION_FAILED, err);
		queue_args_free(&qa);
		goto out;
	}
	if (qa.dlx != NULL &&
	    (!mgmt_permitted(r, v->name, AUTH_READ, AUTH_RES_QUEUE, nb) ||
	        !mgmt_permitted(r, v->name, AUTH_WRITE, AUTH_RES_EXCHANGE, bytes_of(qa.dlx)))) {
		queue_args_free(&qa);
		goto out;
	}
	q = queue_new(v, nb, durable, false, auto_delete, NULL, args, &qa);
	broker.counters.queues_declared++;
	log_debug("management: user '%s' declared queue '%s'", r->user, q->name);
	mgmt_reply_after_store(r, 201);
out:
	evbuffer_free(ab);
}

/* The queue for a write (delete, purge, get): permission, then 404 or 400 if exclusive. */
struct queue *mgmt_queue_for(struct mreq *r, struct vhost *v, enum auth_perm perm)
{
	struct amqp_bytes nb = bytes_of(r->arg[1]);
	struct queue *q;

	if (!mgmt_vhost_access(r, v->name) || !mgmt_permitted(r, v->name, perm, AUTH_RES_QUEUE, nb))
		return NULL;
	if ((q = vhost_queue(v, nb)) == NULL) {
		mgmt_not_found(r);
		return NULL;
	}
	if (q->exclusive) {
		mgmt_error(r, 400, "bad_request",
		    "405 RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in "
		    "vhost '%s'",
		    q->name, v->name);
		return NULL;
	}
	return q;
}

void mgmt_queue(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	struct queue *q;
	char err[512];
	int code;

	if (v == NULL)
		return;
	if (r->method == M_GET || r->method == M_HEAD) {
		if ((q = vhost_queue(v, bytes_of(r->arg[1]))) == NULL)
			mgmt_not_found(r);
		else
			mgmt_reply_json(r, 200, queue_json(q));
		return;
	}
	if (r->method == M_PUT) {
		if (mgmt_vhost_access(r, v->name))
			queue_put(r, v, r->arg[1]);
		return;
	}
	if ((q = mgmt_queue_for(r, v, AUTH_CONFIGURE)) == NULL)
		return;
	if ((code = validate_queue_delete(q, query_flag(r, "if-unused"), query_flag(r, "if-empty"),
	         err, sizeof(err))) != 0) {
		mgmt_amqp_error(r, code, err);
		return;
	}
	queue_delete(q);
	mgmt_reply_after_store(r, 204);
}

void mgmt_queue_contents(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	struct queue *q;

	if (v == NULL || (q = mgmt_queue_for(r, v, AUTH_READ)) == NULL)
		return;
	queue_purge(q);
	mgmt_reply_after_store(r, 204);
}
