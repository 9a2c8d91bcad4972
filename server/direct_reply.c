/*
 * direct_reply.c: RabbitMQ's direct reply-to. A channel consumes the pseudo-queue
 * "amq.rabbitmq.reply-to" (no-ack only); its publishes whose reply_to property is that name get it
 * rewritten to "amq.rabbitmq.reply-to.<token>", and a message published to the default exchange
 * with that routing key goes straight to the consuming channel, with no queue in between. Tokens
 * are random, so a reply can only reach the channel that asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

#define REPLY_PREFIX "amq.rabbitmq.reply-to."

static struct hmap tokens; /* token -> channel */

bool direct_reply_is_queue(struct amqp_bytes name)
{
	return amqp_bytes_eq_cstr(name, DIRECT_REPLY_QUEUE);
}

int direct_reply_consume(struct channel *ch, struct amqp_bytes tag, bool no_ack)
{
	if (!no_ack)
		return -1;
	if (ch->reply_tag == NULL) {
		char token[64];
		generate_name("", token, sizeof(token));
		ch->reply_token = xstrdup(token);
		hmap_put(&tokens, ch->reply_token, strlen(ch->reply_token), ch);
	}
	free(ch->reply_tag);
	ch->reply_tag = xbytesdup(tag);
	ch->reply_tag_len = tag.len;
	return 0;
}

bool direct_reply_cancel(struct channel *ch, struct amqp_bytes tag)
{
	if (ch->reply_tag == NULL ||
	    !amqp_bytes_eq(
	        tag, (struct amqp_bytes){ (const uint8_t *)ch->reply_tag, ch->reply_tag_len }))
		return false;
	free(ch->reply_tag);
	ch->reply_tag = NULL;
	return true;
}

void direct_reply_release(struct channel *ch)
{
	if (ch->reply_token != NULL)
		hmap_del(&tokens, ch->reply_token, strlen(ch->reply_token));
	free(ch->reply_token);
	free(ch->reply_tag);
	ch->reply_token = ch->reply_tag = NULL;
}

/*
 * A publish whose reply_to is the pseudo-queue: rewrite it to this channel's address. Returns the
 * message to route (m itself, or a copy with the new properties), or NULL when the channel does not
 * consume the pseudo-queue (RabbitMQ's 406).
 */
struct message *direct_reply_rewrite(
    struct channel *ch, struct message *m, const struct amqp_basic_properties *p, bool *failed)
{
	struct amqp_basic_properties np = *p;
	char addr[128];
	uint8_t *buf;
	int n;
	struct message *nm;

	*failed = false;
	if (!(p->flags & AMQP_P_REPLY_TO) || !amqp_bytes_eq_cstr(p->reply_to, DIRECT_REPLY_QUEUE))
		return m;
	if (ch->reply_tag == NULL) {
		*failed = true;
		return NULL;
	}
	snprintf(addr, sizeof(addr), REPLY_PREFIX "%s", ch->reply_token);
	np.reply_to = amqp_cstr(addr);
	buf = xmalloc(m->props_len + sizeof(addr));
	n = amqp_properties_encode(&np, buf, m->props_len + sizeof(addr));
	if (n < 0) {
		free(buf);
		return m;
	}
	nm = message_with_props(m, (struct amqp_bytes){ buf, (size_t)n });
	nm->has_ttl = m->has_ttl;
	nm->ttl_ms = m->ttl_ms;
	free(buf);
	message_unref(m);
	return nm;
}

/* Whether name is the "amq.rabbitmq.reply-to.<token>" address of a channel in v consuming it. */
bool direct_reply_address_alive(struct vhost *v, struct amqp_bytes name)
{
	size_t plen = sizeof(REPLY_PREFIX) - 1;
	struct channel *ch;

	if (name.len <= plen || memcmp(name.ptr, REPLY_PREFIX, plen) != 0)
		return false;
	ch = hmap_get(&tokens, name.ptr + plen, name.len - plen);
	return ch != NULL && ch->reply_tag != NULL && ch->state == CH_OPEN && ch->conn->vhost == v;
}

/*
 * Deliver m to the channel a "amq.rabbitmq.reply-to.<token>" routing key names. Returns 1 if the
 * key has that form and the channel was found (delivered), 0 if the key has that form but nobody
 * is there (unroutable), -1 if the key is an ordinary one.
 */
int direct_reply_deliver(struct vhost *v, const struct message *m)
{
	struct amqp_method d = { .id = AMQP_ID_basic_deliver };
	size_t plen = sizeof(REPLY_PREFIX) - 1;
	struct channel *ch;

	if (m->exchange_len != 0 || m->rk_len <= plen ||
	    memcmp(m->routing_key, REPLY_PREFIX, plen) != 0)
		return -1;
	ch = hmap_get(&tokens, m->routing_key + plen, m->rk_len - plen);
	if (ch == NULL || ch->reply_tag == NULL || ch->state != CH_OPEN || ch->conn->vhost != v)
		return 0;
	d.u.basic_deliver.consumer_tag =
	    (struct amqp_bytes){ (const uint8_t *)ch->reply_tag, ch->reply_tag_len };
	d.u.basic_deliver.delivery_tag = ++ch->next_tag;
	d.u.basic_deliver.exchange = amqp_cstr("");
	d.u.basic_deliver.routing_key =
	    (struct amqp_bytes){ (const uint8_t *)m->routing_key, m->rk_len };
	conn_send_content(ch->conn, ch->id, &d, m);
	return 1;
}
