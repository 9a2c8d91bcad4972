/*
 * mgmt_bindings.c: bindings through the management API, with RabbitMQ 3.10's paths: every
 * binding (and per vhost), those of an exchange (as source or destination) and of a queue, those
 * between a source and a destination (GET, and POST to bind), and one binding by its
 * properties_key (GET, DELETE to unbind). The default exchange's implicit binding to every queue
 * is listed as RabbitMQ lists it. Binds and unbinds make queue.bind's and exchange.bind's checks,
 * in their order.
 */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

/* RabbitMQ's properties_key: the routing key quoted, and "~" and a digest of the arguments. */
static void properties_key(
    const char *key, size_t klen, const uint8_t *args, size_t alen, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, n = 0;

	if (klen == 0 && alen == 0) {
		snprintf(out, outlen, "~");
		return;
	}
	for (i = 0; i < klen && n + 4 < outlen; i++) {
		unsigned char c = (unsigned char)key[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.') {
			out[n++] = (char)c;
		} else if (c == ' ') {
			out[n++] = '+';
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	if (alen > 0 && n + 12 < outlen) {
		uint32_t h = 2166136261u; /* FNV-1a over the encoded arguments */
		unsigned char d[4], b64[9];
		for (i = 0; i < alen; i++)
			h = (h ^ args[i]) * 16777619u;
		d[0] = (unsigned char)(h >> 24), d[1] = (unsigned char)(h >> 16);
		d[2] = (unsigned char)(h >> 8), d[3] = (unsigned char)h;
		EVP_EncodeBlock(b64, d, 4);
		b64[6] = '\0'; /* drop the padding */
		for (i = 0; i < 6; i++)
			b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
		snprintf(out + n, outlen - n, "~%s", b64);
	}
}

static json_t *binding_json(const char *vhost, const char *src, size_t srclen, const char *dst,
    size_t dstlen, bool to_queue, const char *key, size_t klen, const uint8_t *args, size_t alen)
{
	char pk[1200];
	json_t *o;

	properties_key(key, klen, args, alen, pk, sizeof(pk));
	o = json_pack("{s:s%, s:s, s:s%, s:s, s:s%, s:s}", "source", src, srclen, "vhost", vhost,
	    "destination", dst, dstlen, "destination_type", to_queue ? "queue" : "exchange",
	    "routing_key", key, klen, "properties_key", pk);
	json_object_set_new(o, "arguments", mgmt_table_to_json((struct amqp_bytes){ args, alen }));
	return o;
}

static json_t *json_of(const struct binding *b)
{
	const struct exchange *s = b->source;

	if (b->dq != NULL)
		return binding_json(s->vhost->name, s->name, s->name_len, b->dq->name,
		    b->dq->name_len, true, b->key, b->key_len, b->args, b->args_len);
	return binding_json(s->vhost->name, s->name, s->name_len, b->de->name, b->de->name_len,
	    false, b->key, b->key_len, b->args, b->args_len);
}

static json_t *default_binding(const struct queue *q)
{
	return binding_json(
	    q->vhost->name, "", 0, q->name, q->name_len, true, q->name, q->name_len, NULL, 0);
}

static const struct mgmt_list_ops binding_ops = { .render = mgmt_snapshot_render,
	.free_row = mgmt_snapshot_free,
	.default_sort = { "vhost", "source", "destination", "routing_key" } };

/* Which bindings a list wants. */
struct bfilter {
	const char *vhost; /* NULL: every vhost the user sees */
	const char *src;   /* NULL: any source */
	const char *dst;   /* NULL: any destination */
	int dst_queue;     /* 1 queues, 0 exchanges, -1 either */
};

static void add(struct mgmt_list *l, struct mreq *r, json_t *j)
{
	mgmt_list_add(l, r, j, j);
}

static void gather_vhost(
    struct mgmt_list *l, struct mreq *r, struct vhost *v, const struct bfilter *f)
{
	struct hmap_iter it;
	const void *k;
	size_t kl;
	void *val;
	struct binding *b;

	if (f->src == NULL || f->src[0] == '\0') { /* the default exchange's */
		hmap_iter_init(&v->queues, &it);
		while (hmap_iter_next(&it, &k, &kl, &val)) {
			struct queue *q = val;
			if (f->dst_queue != 0 && (f->dst == NULL || strcmp(f->dst, q->name) == 0))
				add(l, r, default_binding(q));
		}
	}
	hmap_iter_init(&v->exchanges, &it);
	while (hmap_iter_next(&it, &k, &kl, &val)) {
		struct exchange *x = val;
		if (f->src != NULL && strcmp(f->src, x->name) != 0)
			continue;
		LIST_FOREACH(b, &x->bindings, src_entry)
		{
			if (f->dst_queue == 1 && b->dq == NULL)
				continue;
			if (f->dst_queue == 0 && b->de == NULL)
				continue;
			if (f->dst != NULL &&
			    strcmp(f->dst, b->dq != NULL ? b->dq->name : b->de->name) != 0)
				continue;
			add(l, r, json_of(b));
		}
	}
}

static void send_bindings(struct mreq *r, const struct bfilter *f)
{
	struct mgmt_list *l = mgmt_list_new(&binding_ops);
	struct hmap_iter vi;
	const void *k;
	size_t kl;
	void *val;

	if (mgmt_list_begin(l, r) != 0) {
		mgmt_list_free(l);
		return;
	}
	hmap_iter_init(&broker.vhosts, &vi);
	while (hmap_iter_next(&vi, &k, &kl, &val)) {
		struct vhost *v = val;
		if ((f->vhost != NULL && strcmp(v->name, f->vhost) != 0) ||
		    !mgmt_sees_vhost(r, v->name))
			continue;
		gather_vhost(l, r, v, f);
	}
	mgmt_list_send(l, r);
}

void mgmt_bindings(struct mreq *r)
{
	struct bfilter f = { .vhost = r->nsegs == 2 ? r->arg[0] : NULL, .dst_queue = -1 };

	if (f.vhost != NULL && mgmt_vhost(r, f.vhost) == NULL)
		return;
	send_bindings(r, &f);
}

void mgmt_exchange_bindings(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	const char *name = strcmp(r->arg[1], "amq.default") == 0 ? "" : r->arg[1];
	struct bfilter f = { .vhost = r->arg[0], .dst_queue = -1 };

	if (v == NULL)
		return;
	if (vhost_exchange(v, amqp_cstr(name)) == NULL) {
		mgmt_not_found(r);
		return;
	}
	if (strcmp(r->segs[4], "source") == 0) {
		f.src = name;
	} else {
		f.dst = name;
		f.dst_queue = 0;
	}
	send_bindings(r, &f);
}

void mgmt_queue_bindings(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	struct bfilter f = { .vhost = r->arg[0], .dst = r->arg[1], .dst_queue = 1 };

	if (v == NULL)
		return;
	if (vhost_queue(v, amqp_cstr(r->arg[1])) == NULL) {
		mgmt_not_found(r);
		return;
	}
	send_bindings(r, &f);
}

/* bindings/{vhost}/e/{src}/{q|e}/{dst}[/{props}]: the endpoints, checked as queue.bind does. */
struct ends {
	struct vhost *v;
	const char *src, *dst;
	bool to_queue;
	struct exchange *xs, *xd;
	struct queue *qd;
};

/* Look the ends up for a GET: 404 unless both exist. */
static bool ends_find(struct mreq *r, struct ends *e)
{
	e->src = strcmp(r->arg[1], "amq.default") == 0 ? "" : r->arg[1];
	e->dst = r->arg[2];
	e->to_queue = strcmp(r->segs[4], "q") == 0;
	if ((e->v = mgmt_vhost(r, r->arg[0])) == NULL)
		return false;
	e->xs = vhost_exchange(e->v, amqp_cstr(e->src));
	if (e->to_queue)
		e->qd = vhost_queue(e->v, amqp_cstr(e->dst));
	else
		e->xd = vhost_exchange(e->v, amqp_cstr(e->dst));
	if (e->xs == NULL || (e->qd == NULL && e->xd == NULL)) {
		mgmt_not_found(r);
		return false;
	}
	return true;
}

/* A bind or unbind: the default exchange (403), write on the destination, read on the source. */
static bool ends_writable(struct mreq *r, struct ends *e)
{
	if (!mgmt_vhost_access(r, e->v->name))
		return false;
	if (e->src[0] == '\0' || (!e->to_queue && e->dst[0] == '\0')) {
		mgmt_amqp_error(
		    r, AMQP_ACCESS_REFUSED, "operation not permitted on the default exchange");
		return false;
	}
	if (!mgmt_permitted(r, e->v->name, AUTH_WRITE,
	        e->to_queue ? AUTH_RES_QUEUE : AUTH_RES_EXCHANGE, amqp_cstr(e->dst)) ||
	    !mgmt_permitted(r, e->v->name, AUTH_READ, AUTH_RES_EXCHANGE, amqp_cstr(e->src)))
		return false;
	if (e->qd != NULL && e->qd->exclusive) {
		mgmt_error(r, 400, "bad_request",
		    "405 RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in "
		    "vhost '%s'",
		    e->qd->name, e->v->name);
		return false;
	}
	return true;
}

static bool topic_readable(struct mreq *r, struct ends *e, const char *key, size_t klen)
{
	return e->xs->type != EX_TOPIC ||
	    mgmt_topic_permitted(r, e->v->name, e->src,
	        (struct amqp_bytes){ (const uint8_t *)key, klen }, AUTH_READ);
}

void mgmt_binding_list(struct mreq *r)
{
	struct ends e = { 0 };
	struct bfilter f;
	struct evbuffer *ab;
	const char *key;
	char err[512], pk[1200];
	int code;

	if (r->method == M_GET || r->method == M_HEAD) {
		if (!ends_find(r, &e))
			return;
		f = (struct bfilter){
			.vhost = e.v->name, .src = e.src, .dst = e.dst, .dst_queue = e.to_queue
		};
		send_bindings(r, &f);
		return;
	}
	if (!ends_find(r, &e) || !ends_writable(r, &e))
		return;
	key = mgmt_json_str(r->body, "routing_key", "");
	if (strlen(key) > 255) {
		mgmt_error(r, 400, "bad_request", "routing_key longer than 255 bytes");
		return;
	}
	if (!topic_readable(r, &e, key, strlen(key)))
		return;
	ab = evbuffer_new();
	if (mgmt_json_to_table(json_object_get(r->body, "arguments"), ab, err, sizeof(err)) != 0) {
		mgmt_error(r, 400, "bad_request", "%s", err);
	} else if ((code = validate_binding(e.xs, amqp_cstr(key),
	                (struct amqp_bytes){ evbuffer_pullup(ab, -1), evbuffer_get_length(ab) },
	                err, sizeof(err))) != 0) {
		mgmt_amqp_error(r, code, err);
	} else {
		struct amqp_bytes args = { evbuffer_pullup(ab, -1), evbuffer_get_length(ab) };
		exchange_bind(e.xs, e.qd, e.xd, amqp_cstr(key), args);
		properties_key(key, strlen(key), args.ptr, args.len, pk, sizeof(pk));
		mgmt_add_header(r, "Location", pk);
		mgmt_reply_after_store(r, 201);
	}
	evbuffer_free(ab);
}

void mgmt_binding(struct mreq *r)
{
	struct ends e = { 0 };
	struct binding *b, *found = NULL;
	char pk[1200], *key;
	uint8_t *args;

	if (!ends_find(r, &e))
		return;
	if (e.src[0] == '\0' && e.qd != NULL) { /* the default exchange's implicit binding */
		properties_key(e.qd->name, e.qd->name_len, NULL, 0, pk, sizeof(pk));
		if (r->method == M_DELETE) {
			mgmt_amqp_error(r, AMQP_ACCESS_REFUSED,
			    "operation not permitted on the default exchange");
		} else if (strcmp(pk, r->arg[3]) == 0) {
			mgmt_reply_json(r, 200, default_binding(e.qd));
		} else {
			mgmt_not_found(r);
		}
		return;
	}
	LIST_FOREACH(b, &e.xs->bindings, src_entry)
	{
		if ((e.qd != NULL && b->dq != e.qd) || (e.xd != NULL && b->de != e.xd))
			continue;
		properties_key(b->key, b->key_len, b->args, b->args_len, pk, sizeof(pk));
		if (strcmp(pk, r->arg[3]) == 0) {
			found = b;
			break;
		}
	}
	if (found == NULL) {
		mgmt_not_found(r);
		return;
	}
	if (r->method != M_DELETE) {
		mgmt_reply_json(r, 200, json_of(found));
		return;
	}
	if (!ends_writable(r, &e) || !topic_readable(r, &e, found->key, found->key_len))
		return;
	/* Copies: unbinding frees the binding the slices would point into. */
	key = xstrndup(found->key, found->key_len);
	args = xmalloc(found->args_len + 1);
	if (found->args_len > 0)
		memcpy(args, found->args, found->args_len);
	exchange_unbind(e.xs, e.qd, e.xd,
	    (struct amqp_bytes){ (const uint8_t *)key, found->key_len },
	    (struct amqp_bytes){ args, found->args_len });
	free(key);
	free(args);
	mgmt_reply_after_store(r, 204);
}
