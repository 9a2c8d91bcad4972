/*
 * mgmt_messages.c: messages through the management API: POST /api/exchanges/{vhost}/{name}/publish
 * (routed as basic.publish is, through proto's basic_enqueue, answered {"routed":...} once the
 * store holds what it wrote, as RabbitMQ answers after the publisher confirm) and POST
 * /api/queues/{vhost}/{name}/get (basic.get count times, then ack, requeue or reject each as
 * ackmode says; requeued messages go back to their places, redelivered).
 */
#include <event2/buffer.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/mgmt.h"

#define MAX_GET 10000

/* The properties object of a publish, encoded: 0, or -1 with err. */
static int props_from_json(const json_t *o, struct amqp_basic_properties *p, struct evbuffer *hdrs,
    char *err, size_t errlen)
{
	static const struct {
		const char *key;
		uint16_t flag;
		size_t off;
	} strs[] = {
		{ "content_type", AMQP_P_CONTENT_TYPE,
		    offsetof(struct amqp_basic_properties, content_type) },
		{ "content_encoding", AMQP_P_CONTENT_ENCODING,
		    offsetof(struct amqp_basic_properties, content_encoding) },
		{ "correlation_id", AMQP_P_CORRELATION_ID,
		    offsetof(struct amqp_basic_properties, correlation_id) },
		{ "reply_to", AMQP_P_REPLY_TO, offsetof(struct amqp_basic_properties, reply_to) },
		{ "expiration", AMQP_P_EXPIRATION,
		    offsetof(struct amqp_basic_properties, expiration) },
		{ "message_id", AMQP_P_MESSAGE_ID,
		    offsetof(struct amqp_basic_properties, message_id) },
		{ "type", AMQP_P_TYPE, offsetof(struct amqp_basic_properties, type) },
		{ "user_id", AMQP_P_USER_ID, offsetof(struct amqp_basic_properties, user_id) },
		{ "app_id", AMQP_P_APP_ID, offsetof(struct amqp_basic_properties, app_id) },
		{ "cluster_id", AMQP_P_CLUSTER_ID,
		    offsetof(struct amqp_basic_properties, cluster_id) },
	};
	const char *key;
	json_t *v;
	uint64_t n;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (o == NULL || json_is_null(o))
		return 0;
	if (!json_is_object(o)) {
		snprintf(err, errlen, "properties must be an object");
		return -1;
	}
	json_object_foreach((json_t *)o, key, v)
	{
		for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
			if (strcmp(key, strs[i].key) == 0)
				break;
		if (i < sizeof(strs) / sizeof(strs[0])) {
			if (!json_is_string(v) || json_string_length(v) > 255) {
				snprintf(err, errlen,
				    "property %s must be a string of at most 255 bytes", key);
				return -1;
			}
			p->flags |= strs[i].flag;
			*(struct amqp_bytes *)((char *)p + strs[i].off) =
			    (struct amqp_bytes){ (const uint8_t *)json_string_value(v),
				    json_string_length(v) };
		} else if (strcmp(key, "delivery_mode") == 0) {
			if (mgmt_json_uint(o, key, 0, 255, &n) != 0) {
				snprintf(err, errlen, "delivery_mode must be 1 or 2");
				return -1;
			}
			p->flags |= AMQP_P_DELIVERY_MODE;
			p->delivery_mode = (uint8_t)n;
		} else if (strcmp(key, "priority") == 0) {
			if (mgmt_json_uint(o, key, 0, 255, &n) != 0) {
				snprintf(err, errlen, "priority must be a number from 0 to 255");
				return -1;
			}
			p->flags |= AMQP_P_PRIORITY;
			p->priority = (uint8_t)n;
		} else if (strcmp(key, "timestamp") == 0) {
			if (mgmt_json_uint(o, key, 0, UINT64_MAX, &n) != 0) {
				snprintf(err, errlen, "timestamp must be a number");
				return -1;
			}
			p->flags |= AMQP_P_TIMESTAMP;
			p->timestamp = n;
		} else if (strcmp(key, "headers") == 0) {
			if (mgmt_json_to_table(v, hdrs, err, errlen) != 0)
				return -1;
			p->flags |= AMQP_P_HEADERS;
		} else {
			snprintf(err, errlen, "unknown property %s", key);
			return -1;
		}
	}
	if (p->flags & AMQP_P_HEADERS)
		p->headers =
		    (struct amqp_bytes){ evbuffer_pullup(hdrs, -1), evbuffer_get_length(hdrs) };
	return 0;
}

/* The payload: a string as is, or base64 decoded into out. */
static int payload_bytes(const char *s, size_t len, bool base64, struct evbuffer *out)
{
	unsigned char *buf;
	int n;
	size_t pad;

	if (!base64) {
		evbuffer_add(out, s, len);
		return 0;
	}
	if (len % 4 != 0)
		return -1;
	if (len == 0)
		return 0;
	buf = xmalloc(len / 4 * 3 + 1);
	if ((n = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)len)) < 0) {
		free(buf);
		return -1;
	}
	pad = (s[len - 1] == '=') + (s[len - 2] == '=');
	evbuffer_add(out, buf, (size_t)n - pad);
	free(buf);
	return 0;
}

void mgmt_exchange_publish(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	const char *xname = strcmp(r->arg[1], "amq.default") == 0 ? "" : r->arg[1];
	const char *rk = mgmt_json_str(r->body, "routing_key", NULL);
	const char *enc = mgmt_json_str(r->body, "payload_encoding", NULL);
	json_t *payload = json_object_get(r->body, "payload");
	struct evbuffer *hdrs = evbuffer_new(), *body = evbuffer_new();
	struct amqp_basic_properties props;
	struct message *m = NULL;
	struct msg_view view;
	struct exchange *x;
	bool rejected, stored, long_queue; /* stored: persist_wait says whether to wait */
	uint8_t pbuf[65536];
	char err[512];
	size_t routed;
	int n, dr;

	if (v == NULL || !mgmt_vhost_access(r, v->name))
		goto out;
	if (rk == NULL || !json_is_string(payload) || enc == NULL ||
	    json_object_get(r->body, "properties") == NULL) {
		mgmt_error(r, 400, "bad_request", "[%s%s%s%s]",
		    rk == NULL ? "{key_missing,routing_key}," : "",
		    json_object_get(r->body, "properties") == NULL ? "{key_missing,properties},"
		                                                   : "",
		    !json_is_string(payload) ? "{key_missing,payload}," : "",
		    enc == NULL ? "{key_missing,payload_encoding}" : "");
		goto out;
	}
	if ((strcmp(enc, "string") != 0 && strcmp(enc, "base64") != 0) ||
	    payload_bytes(json_string_value(payload), json_string_length(payload),
	        strcmp(enc, "base64") == 0, body) != 0) {
		mgmt_error(r, 400, "bad_request",
		    "payload_encoding must be string or base64 (and the payload valid for it)");
		goto out;
	}
	if (strlen(rk) > 255 ||
	    props_from_json(
	        json_object_get(r->body, "properties"), &props, hdrs, err, sizeof(err)) != 0) {
		mgmt_error(r, 400, "bad_request", "%s",
		    strlen(rk) > 255 ? "routing_key longer than 255 bytes" : err);
		goto out;
	}
	if (evbuffer_get_length(body) > broker.cfg.max_message_size) {
		mgmt_error(r, 400, "bad_request", "message size %zu is larger than max size %llu",
		    evbuffer_get_length(body), (unsigned long long)broker.cfg.max_message_size);
		goto out;
	}
	/* basic.publish's checks, in its order: write permission, exchange, topic, internal. */
	if (!mgmt_permitted(r, v->name, AUTH_WRITE, AUTH_RES_EXCHANGE, amqp_cstr(xname)))
		goto out;
	if ((x = vhost_exchange(v, amqp_cstr(xname))) == NULL) {
		mgmt_error(r, 400, "bad_request", "404 NOT_FOUND - no exchange '%s' in vhost '%s'",
		    xname, v->name);
		goto out;
	}
	if (x->type == EX_TOPIC &&
	    !mgmt_topic_permitted(r, v->name, xname, amqp_cstr(rk), AUTH_WRITE))
		goto out;
	if (x->internal) {
		mgmt_error(r, 400, "bad_request",
		    "403 ACCESS_REFUSED - cannot publish to internal exchange '%s' in vhost '%s'",
		    xname, v->name);
		goto out;
	}
	if ((props.flags & AMQP_P_USER_ID) && !amqp_bytes_eq_cstr(props.user_id, r->user) &&
	    !auth_user_has_tag(broker.auth, amqp_cstr(r->user), "impersonator")) {
		mgmt_error(r, 400, "bad_request",
		    "406 PRECONDITION_FAILED - user_id property set to '%.*s' but authenticated "
		    "user was '%s'",
		    (int)props.user_id.len, (const char *)props.user_id.ptr, r->user);
		goto out;
	}
	pbuf[0] = 0;
	if ((n = amqp_properties_encode(&props, pbuf, sizeof(pbuf))) < 0) {
		mgmt_error(r, 400, "bad_request", "the properties do not fit a content header");
		goto out;
	}
	m = message_new(amqp_cstr(xname), amqp_cstr(rk), (struct amqp_bytes){ pbuf, (size_t)n },
	    evbuffer_get_length(body));
	message_append_body(m, evbuffer_pullup(body, -1), evbuffer_get_length(body));
	if (props.flags & AMQP_P_EXPIRATION) {
		if (message_parse_expiration(props.expiration, &m->ttl_ms, err, sizeof(err)) != 0) {
			mgmt_error(r, 400, "bad_request",
			    "406 PRECONDITION_FAILED - invalid expiration '%.*s': %s",
			    (int)props.expiration.len, (const char *)props.expiration.ptr, err);
			goto out;
		}
		m->has_ttl = true;
	}
	broker.totals.n[MS_PUBLISH]++;
	if (xname[0] == '\0' && (dr = direct_reply_deliver(v, m)) >= 0) {
		routed = (size_t)dr;
		stored = false;
	} else {
		msg_view_init(&view, m);
		routed = basic_enqueue(x, &view, &rejected, &stored, &long_queue);
		msg_view_done(&view);
	}
	if (routed == 0)
		broker.totals.n[MS_DROP_UNROUTABLE]++;
	/* As RabbitMQ's answer follows the publisher confirm: once the store has the message. */
	mgmt_reply_json_after_store(r, 200, json_pack("{s:b}", "routed", routed > 0));
out:
	if (m != NULL)
		message_unref(m);
	evbuffer_free(hdrs);
	evbuffer_free(body);
}

/* A message's properties as RabbitMQ's API shows them. */
static json_t *props_json(const struct message *m)
{
	struct amqp_basic_properties p;
	json_t *o = json_object();

	if (message_properties(m, &p) != 0)
		return o;
#define STR(flag, field)      \
	if (p.flags & (flag)) \
		json_object_set_new(o, #field, mgmt_bytes(p.field.ptr, p.field.len));
	STR(AMQP_P_CONTENT_TYPE, content_type)
	STR(AMQP_P_CONTENT_ENCODING, content_encoding)
	STR(AMQP_P_CORRELATION_ID, correlation_id)
	STR(AMQP_P_REPLY_TO, reply_to)
	STR(AMQP_P_EXPIRATION, expiration)
	STR(AMQP_P_MESSAGE_ID, message_id)
	STR(AMQP_P_TYPE, type)
	STR(AMQP_P_USER_ID, user_id)
	STR(AMQP_P_APP_ID, app_id)
	STR(AMQP_P_CLUSTER_ID, cluster_id)
#undef STR
	if (p.flags & AMQP_P_DELIVERY_MODE)
		json_object_set_new(o, "delivery_mode", json_integer(p.delivery_mode));
	if (p.flags & AMQP_P_PRIORITY)
		json_object_set_new(o, "priority", json_integer(p.priority));
	if (p.flags & AMQP_P_TIMESTAMP)
		json_object_set_new(o, "timestamp", json_integer((json_int_t)p.timestamp));
	if (p.flags & AMQP_P_HEADERS)
		json_object_set_new(o, "headers", mgmt_table_to_json(p.headers));
	return o;
}

static json_t *got_json(
    const struct queue *q, const struct qentry *e, bool base64_always, uint64_t truncate)
{
	const struct message *m = e->m;
	size_t len = m->body_size < truncate ? (size_t)m->body_size : (size_t)truncate;
	json_t *o, *payload = NULL;
	char *b64;

	o = json_pack("{s:I, s:b, s:s%, s:s%, s:I}", "payload_bytes", (json_int_t)m->body_size,
	    "redelivered", e->redelivered, "exchange", m->exchange, (size_t)m->exchange_len,
	    "routing_key", m->routing_key, (size_t)m->rk_len, "message_count",
	    (json_int_t)q->count);
	json_object_set_new(o, "properties", props_json(m));
	/* "auto": the payload as a string when it is UTF-8 without NUL, else base64. */
	if (!base64_always && memchr(m->body, 0, len) == NULL)
		payload = json_stringn((const char *)m->body, len);
	if (payload != NULL) {
		json_object_set_new(o, "payload", payload);
		json_object_set_new(o, "payload_encoding", json_string("string"));
		return o;
	}
	b64 = xmalloc((len + 2) / 3 * 4 + 1);
	EVP_EncodeBlock((unsigned char *)b64, m->body, (int)len);
	json_object_set_new(o, "payload", json_string(b64));
	json_object_set_new(o, "payload_encoding", json_string("base64"));
	free(b64);
	return o;
}

void mgmt_queue_get(struct mreq *r)
{
	struct vhost *v = mgmt_vhost(r, r->arg[0]);
	const char *ackmode = mgmt_json_str(r->body, "ackmode", NULL);
	const char *enc = mgmt_json_str(r->body, "encoding", NULL);
	struct qentry *got = NULL;
	uint64_t count, truncate;
	bool requeue, ack;
	size_t n = 0, i;
	struct queue *q;
	json_t *out;

	if (v == NULL)
		return;
	if (ackmode == NULL || enc == NULL) {
		mgmt_error(r, 400, "bad_request", "[%s%s]",
		    ackmode == NULL ? "{key_missing,ackmode}" : "",
		    enc == NULL
		        ? (ackmode == NULL ? ",{key_missing,encoding}" : "{key_missing,encoding}")
		        : "");
		return;
	}
	if (strcmp(ackmode, "ack_requeue_true") == 0 || strcmp(ackmode, "reject_requeue_true") == 0)
		requeue = true, ack = ackmode[0] == 'a';
	else if (strcmp(ackmode, "ack_requeue_false") == 0 ||
	    strcmp(ackmode, "reject_requeue_false") == 0)
		requeue = false, ack = ackmode[0] == 'a';
	else {
		mgmt_error(r, 400, "bad_request", "Invalid ackmode: %s", ackmode);
		return;
	}
	if (strcmp(enc, "auto") != 0 && strcmp(enc, "base64") != 0) {
		mgmt_error(r, 400, "bad_request", "Unsupported encoding: %s", enc);
		return;
	}
	if (mgmt_json_uint(r->body, "count", 1, MAX_GET, &count) != 0 ||
	    mgmt_json_uint(r->body, "truncate", UINT64_MAX, UINT64_MAX, &truncate) != 0) {
		mgmt_error(r, 400, "bad_request", "count (up to %d) and truncate must be numbers",
		    MAX_GET);
		return;
	}
	if ((q = mgmt_queue_for(r, v, AUTH_READ)) == NULL)
		return;
	queue_touch(q);
	/* As basic.get: what waits for a consumer goes first. */
	if (q->dispatch_pending)
		queue_dispatch(q);
	out = json_array();
	got = xreallocarray(NULL, count > 0 ? count : 1, sizeof(*got));
	/* All are taken before any is requeued, or a requeued one would be taken again. */
	while (n < count && queue_pop(q, &got[n])) {
		struct qentry *e = &got[n++];
		json_array_append_new(out, got_json(q, e, strcmp(enc, "base64") == 0, truncate));
		q->stats.n[MS_GET]++;
		broker.totals.n[MS_GET]++;
		if (e->redelivered) {
			q->stats.n[MS_REDELIVER]++;
			broker.totals.n[MS_REDELIVER]++;
		}
	}
	if (n == 0)
		broker.totals.n[MS_GET_EMPTY]++;
	for (i = 0; i < n; i++) {
		struct qentry *e = &got[i];
		if (ack && !requeue) {
			q->stats.n[MS_ACK]++;
			broker.totals.n[MS_ACK]++;
		}
		if (requeue) {
			(void)persist_delivered(q, e->m, e->seq);
			queue_requeue(q, e->m, e->seq, e->expires_at, e->delivery_count);
			continue;
		}
		if (!ack)
			queue_dead_letter(q, e->m, "rejected");
		persist_remove(q, e->m, e->seq);
		message_unref(e->m);
	}
	free(got);
	if (requeue && n > 0)
		broker_kick(q);
	mgmt_reply_json(r, 200, out);
}
