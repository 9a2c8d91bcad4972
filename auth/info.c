/*
 * info.c: the database read back as data, for the management API's lists and a definitions
 * export: each user (name, stored hash, tags), each vhost's permissions and topic permissions
 * (the expressions as written, topic ones with {username} and {vhost} expanded), by index.
 */
#include <string.h>

#include "auth/auth_private.h"

bool auth_db_user_at(const struct auth_db *db, size_t i, struct auth_user_info *out)
{
	const struct auth_user *u;

	if (i >= db->nusers)
		return false;
	u = &db->users[i];
	out->name = (struct amqp_bytes){ (const uint8_t *)u->name, u->namelen };
	out->hash = u->kind == AUTH_PW_SCRYPT ? u->hash : NULL;
	out->locked = u->kind == AUTH_PW_LOCKED;
	out->saslauthd = u->kind == AUTH_PW_SASLAUTHD;
	out->tags = u->tags;
	return true;
}

bool auth_db_grant_at(const struct auth_db *db, size_t vhost, size_t i, struct auth_grant_info *out)
{
	const struct auth_grant *g;
	int k;

	if (vhost >= db->nvhosts || i >= db->vhosts[vhost]->ngrants)
		return false;
	g = db->vhosts[vhost]->grants[i];
	out->user = (struct amqp_bytes){ (const uint8_t *)g->user, g->userlen };
	for (k = 0; k < 3; k++)
		out->re[k] = g->re[k].src;
	return true;
}

bool auth_db_topic_at(const struct auth_db *db, size_t vhost, size_t i, struct auth_topic_info *out)
{
	const struct auth_topic_grant *t;

	if (vhost >= db->nvhosts || i >= db->vhosts[vhost]->ntopics)
		return false;
	t = db->vhosts[vhost]->topics[i];
	out->user = (struct amqp_bytes){ (const uint8_t *)t->user, t->userlen };
	out->exchange = (struct amqp_bytes){ (const uint8_t *)t->exchange, t->exchangelen };
	out->write = t->write.src;
	out->read = t->read.src;
	return true;
}

bool auth_db_vhost_index(const struct auth_db *db, struct amqp_bytes vhost, size_t *out)
{
	size_t i;

	for (i = 0; i < db->nvhosts; i++) {
		if (db->vhosts[i]->namelen == vhost.len &&
		    (vhost.len == 0 || memcmp(db->vhosts[i]->name, vhost.ptr, vhost.len) == 0)) {
			*out = i;
			return true;
		}
	}
	return false;
}
