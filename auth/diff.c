/*
 * diff.c: what a reload changes, as lines an administrator reads (warrenctl reload prints them):
 * users added, removed, with another password or other tags; vhosts added or removed; a vhost's
 * limits, permissions, topic permissions and policies. Both databases keep their users, vhosts, grants and
 * topic grants sorted by name, so each comparison is one merge walk.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_private.h"

struct diff {
	auth_diff_cb *cb;
	void *arg;
	size_t n;
};

static void say(struct diff *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct diff *d, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	d->cb(d->arg, line);
	d->n++;
}

/* A name or expression for a line of text: printable, cut at 80 bytes (auth_quote). */
#define Q(p, len, buf) auth_quote((p), (len), (buf), sizeof(buf))

static const char *kind_word(const struct auth_user *u)
{
	switch (u->kind) {
	case AUTH_PW_SCRYPT: return "a password hash";
	case AUTH_PW_LOCKED: return "locked (!)";
	case AUTH_PW_SASLAUTHD: return "checked by saslauthd";
	}
	return "?";
}

static void diff_user(struct diff *d, const struct auth_user *a, const struct auth_user *b)
{
	char q[AUTH_QUOTE_MAX], t1[AUTH_QUOTE_MAX], t2[AUTH_QUOTE_MAX];

	Q(b->name, b->namelen, q);
	if (a->kind != b->kind)
		say(d, "user '%s': password %s -> %s", q, kind_word(a), kind_word(b));
	else if (a->kind == AUTH_PW_SCRYPT && memcmp(a->digest, b->digest, 32) != 0)
		say(d, "user '%s': password changed", q);
	if (strcmp(a->tags, b->tags) != 0)
		say(d, "user '%s': tags '%s' -> '%s'", q, Q(a->tags, strlen(a->tags), t1),
		    Q(b->tags, strlen(b->tags), t2));
}

static void diff_users(struct diff *d, const struct auth_db *a, const struct auth_db *b)
{
	char q[AUTH_QUOTE_MAX];
	size_t i = 0, j = 0;
	int c;

	while (i < a->nusers || j < b->nusers) {
		if (i == a->nusers)
			c = 1;
		else if (j == b->nusers)
			c = -1;
		else
			c = auth_bytes_cmp(a->users[i].name, a->users[i].namelen, b->users[j].name,
			    b->users[j].namelen);
		if (c < 0) {
			say(d, "user '%s' removed", Q(a->users[i].name, a->users[i].namelen, q));
			i++;
		} else if (c > 0) {
			say(d, "user '%s' added", Q(b->users[j].name, b->users[j].namelen, q));
			j++;
		} else {
			diff_user(d, &a->users[i++], &b->users[j++]);
		}
	}
}

static const char *limit_text(long n, char *buf, size_t len)
{
	if (n < 0)
		return "unlimited";
	snprintf(buf, len, "%ld", n);
	return buf;
}

/* The three expressions of a grant, quoted, for a line of text. */
static const char *grant_text(const struct auth_grant *g, char *buf, size_t len)
{
	char q[3][AUTH_QUOTE_MAX];
	int k;

	for (k = 0; k < 3; k++)
		Q(g->re[k].src, strlen(g->re[k].src), q[k]);
	snprintf(buf, len, "'%s' '%s' '%s'", q[0], q[1], q[2]);
	return buf;
}

static bool grant_eq(const struct auth_grant *a, const struct auth_grant *b)
{
	int k;

	for (k = 0; k < 3; k++)
		if (strcmp(a->re[k].src, b->re[k].src) != 0)
			return false;
	return true;
}

static void diff_grants(
    struct diff *d, const char *vq, const struct auth_vhost *a, const struct auth_vhost *b)
{
	char q[AUTH_QUOTE_MAX], g1[3 * AUTH_QUOTE_MAX + 16], g2[3 * AUTH_QUOTE_MAX + 16];
	const struct auth_grant *x, *y;
	size_t i = 0, j = 0;
	int c;

	while (i < a->ngrants || j < b->ngrants) {
		x = i < a->ngrants ? a->grants[i] : NULL;
		y = j < b->ngrants ? b->grants[j] : NULL;
		if (x == NULL)
			c = 1;
		else if (y == NULL)
			c = -1;
		else
			c = auth_bytes_cmp(x->user, x->userlen, y->user, y->userlen);
		if (c < 0) {
			say(d, "vhost '%s': permissions of '%s' removed", vq,
			    Q(x->user, x->userlen, q));
			i++;
		} else if (c > 0) {
			say(d, "vhost '%s': permissions of '%s' added: %s", vq,
			    Q(y->user, y->userlen, q), grant_text(y, g2, sizeof(g2)));
			j++;
		} else {
			if (!grant_eq(x, y))
				say(d, "vhost '%s': permissions of '%s' %s -> %s", vq,
				    Q(y->user, y->userlen, q), grant_text(x, g1, sizeof(g1)),
				    grant_text(y, g2, sizeof(g2)));
			i++;
			j++;
		}
	}
}

static int topic_cmp(const struct auth_topic_grant *x, const struct auth_topic_grant *y)
{
	int c = auth_bytes_cmp(x->user, x->userlen, y->user, y->userlen);

	return c != 0 ? c
	              : auth_bytes_cmp(x->exchange, x->exchangelen, y->exchange, y->exchangelen);
}

static void diff_topics(
    struct diff *d, const char *vq, const struct auth_vhost *a, const struct auth_vhost *b)
{
	char q[AUTH_QUOTE_MAX], e[AUTH_QUOTE_MAX];
	const struct auth_topic_grant *x, *y, *t;
	size_t i = 0, j = 0;
	int c;

	while (i < a->ntopics || j < b->ntopics) {
		x = i < a->ntopics ? a->topics[i] : NULL;
		y = j < b->ntopics ? b->topics[j] : NULL;
		c = x == NULL ? 1 : y == NULL ? -1 : topic_cmp(x, y);
		t = c < 0 ? x : y;
		Q(t->user, t->userlen, q);
		Q(t->exchange, t->exchangelen, e);
		if (c < 0) {
			say(d, "vhost '%s': topic permissions of '%s' on '%s' removed", vq, q, e);
			i++;
		} else if (c > 0) {
			say(d, "vhost '%s': topic permissions of '%s' on '%s' added", vq, q, e);
			j++;
		} else {
			if (strcmp(x->write.src, y->write.src) != 0 ||
			    strcmp(x->read.src, y->read.src) != 0)
				say(d, "vhost '%s': topic permissions of '%s' on '%s' changed", vq,
				    q, e);
			i++;
			j++;
		}
	}
}

/* A line from policy.c's diff. */
static void say_line(void *arg, const char *line)
{
	say(arg, "%s", line);
}

static void diff_vhost(struct diff *d, const struct auth_vhost *a, const struct auth_vhost *b)
{
	char vq[AUTH_QUOTE_MAX], n1[32], n2[32];

	Q(b->name, b->namelen, vq);
	if (a->max_connections != b->max_connections)
		say(d, "vhost '%s': max-connections %s -> %s", vq,
		    limit_text(a->max_connections, n1, sizeof(n1)),
		    limit_text(b->max_connections, n2, sizeof(n2)));
	if (a->max_queues != b->max_queues)
		say(d, "vhost '%s': max-queues %s -> %s", vq,
		    limit_text(a->max_queues, n1, sizeof(n1)),
		    limit_text(b->max_queues, n2, sizeof(n2)));
	diff_grants(d, vq, a, b);
	diff_topics(d, vq, a, b);
	auth_policies_diff(vq, a, b, say_line, d);
}

size_t auth_db_diff(
    const struct auth_db *old, const struct auth_db *new_db, auth_diff_cb *cb, void *arg)
{
	struct diff d = { cb, arg, 0 };
	const struct auth_vhost *x, *y;
	char q[AUTH_QUOTE_MAX];
	size_t i = 0, j = 0;
	int c;

	diff_users(&d, old, new_db);
	while (i < old->nvhosts || j < new_db->nvhosts) {
		x = i < old->nvhosts ? old->vhosts[i] : NULL;
		y = j < new_db->nvhosts ? new_db->vhosts[j] : NULL;
		c = x == NULL   ? 1
		    : y == NULL ? -1
		                : auth_bytes_cmp(x->name, x->namelen, y->name, y->namelen);
		if (c < 0) {
			say(&d, "vhost '%s' removed", Q(x->name, x->namelen, q));
			i++;
		} else if (c > 0) {
			say(&d, "vhost '%s' added (%zu users with permissions)",
			    Q(y->name, y->namelen, q), y->ngrants);
			j++;
		} else {
			diff_vhost(&d, x, y);
			i++;
			j++;
		}
	}
	return d.n;
}
