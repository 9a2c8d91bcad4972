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

#include <openssl/evp.h>

#include "server/proto/proto.h"

#define REPLY_PREFIX "amq.rabbitmq.reply-to."

static struct hmap tokens; /* token -> channel */

/*
 * A token in RabbitMQ's shape, which clients match: two base64 parts joined by '.'. RabbitMQ's
 * first part encodes the consuming channel's Erlang process id (31 bytes in the external term
 * format: node "reply@<8 digits>", id, serial, creation; 44 characters ending in "=="), its
 * second 16 random bytes (24 characters ending in "=="). Warren writes the same 31 bytes with the
 * channel's serial number as the id and serial, and a creation number drawn once per process; the
 * second part makes the address unguessable.
 */
static void make_token(char *out, size_t outlen)
{
	static uint32_t creation, node;
	static uint64_t serial;
	uint8_t pid[31], rnd[16];
	unsigned char p1[48], p2[32];
	char name[16];
	uint32_t words[3];
	uint64_t id;
	size_t i;

	if (creation == 0) {
		arc4random_buf(&creation, sizeof(creation));
		creation |= 1;
		node = arc4random_uniform(100000000);
	}
	id = ++serial;
	snprintf(name, sizeof(name), "reply@%08u", (unsigned)node);
	pid[0] = 131; /* the external term format's version */
	pid[1] = 'X'; /* NEW_PID_EXT */
	pid[2] = 'v'; /* ATOM_UTF8_EXT, a 16-bit length, the node's name */
	pid[3] = 0;
	pid[4] = 14;
	memcpy(pid + 5, name, 14);
	words[0] = (uint32_t)(id & 0x7fff); /* id, serial, creation: big-endian 32-bit words */
	words[1] = (uint32_t)(id >> 15);
	words[2] = creation;
	for (i = 0; i < 12; i++)
		pid[19 + i] = (uint8_t)(words[i / 4] >> (24 - 8 * (i % 4)));
	arc4random_buf(rnd, sizeof(rnd));
	EVP_EncodeBlock(p1, pid, sizeof(pid));
	EVP_EncodeBlock(p2, rnd, sizeof(rnd));
	snprintf(out, outlen, "%s.%s", (const char *)p1, (const char *)p2);
}

bool direct_reply_is_queue(struct amqp_bytes name)
{
	return amqp_bytes_eq_cstr(name, DIRECT_REPLY_QUEUE);
}

int direct_reply_consume(struct channel *ch, struct amqp_bytes tag, bool no_ack)
{
	if (!no_ack)
		return -1;
	if (ch->reply_tag == NULL) {
		char token[96];
		make_token(token, sizeof(token));
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
	conn_send_content(ch->conn, ch->id, &d, m, 0);
	return 1;
}
