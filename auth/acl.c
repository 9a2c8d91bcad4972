/*
 * acl.c: RabbitMQ's authorization checks over a struct auth_db (the table of which method needs
 * which permission is in auth.h). As rabbit_auth_backend_internal does, a permission's regular
 * expression is searched for anywhere in the name (re:run without anchors: "^$" or "" grants
 * nothing, ".*" everything, "^amq\.gen" a prefix), the default exchange "" is checked as
 * "amq.default", and a user without topic permissions on an exchange may use every routing key.
 *
 * RabbitMQ's expressions are Erlang re (PCRE); Warren's are POSIX extended (regcomp), matched in
 * the C locale byte by byte. The common subset (. * + ? | () [] ^ $ {m,n} and \. escapes)
 * behaves the same; PCRE-only syntax (\d \w \s, (?:...), lazy *? +?, lookaround, backreferences)
 * is refused when the file is loaded rather than silently meaning something else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_private.h"

/*
 * Refuse what Erlang re (PCRE) and POSIX ERE would read differently, or what only glibc accepts,
 * so an expression never silently changes meaning: a backslash before a letter or digit (\d \w
 * \b \1 ...) or before < > ` ' (GNU anchors), a backslash inside [...] (literal in POSIX, an
 * escape in PCRE), "(?" groups and lazy or possessive quantifiers. Returns why, or NULL if fine.
 */
static const char *pcre_only(const char *src)
{
	const char *p = src, *q;
	unsigned char c;

	while (*p != '\0') {
		if (*p == '\\') {
			c = (unsigned char)p[1];
			if (c == '\0')
				return NULL; /* a trailing backslash: regcomp says so */
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || strchr("<>`'", c) != NULL)
				return "a backslash before a letter, digit, <, >, ` or ' "
				       "(Perl and GNU escapes like \\d or \\b are not POSIX; "
				       "write [0-9] or list the characters)";
			p += 2;
			continue;
		}
		if (*p == '[') { /* a bracket expression: "]" first is literal, [:class:] inside */
			q = p + 1;
			if (*q == '^')
				q++;
			if (*q == ']')
				q++;
			for (; *q != '\0' && *q != ']'; q++) {
				if (*q == '\\')
					return "a backslash inside [...] (literal in POSIX, "
					       "an escape in Perl: write [.] rather than [\\.])";
				if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
					const char *close = strchr(q + 2, q[1]);

					while (close != NULL && close[1] != ']')
						close = strchr(close + 1, q[1]);
					if (close == NULL)
						return NULL; /* unbalanced: regcomp says so */
					q = close + 1;
				}
			}
			if (*q == '\0')
				return NULL;
			p = q + 1;
			continue;
		}
		if (p[0] == '(' && p[1] == '?')
			return "a (?...) group (Perl syntax)";
		if (strchr("*+?}", p[0]) != NULL && p[1] != '\0' && strchr("?+", p[1]) != NULL)
			return "a lazy or possessive quantifier like *? or ++ (Perl syntax)";
		p++;
	}
	return NULL;
}

int auth_regex_compile(struct auth_regex *r, const char *src, char *why, size_t whylen)
{
	const char *bad;
	int rc;

	r->compiled = false;
	r->src = auth_xmemdup(src, strlen(src));
	if ((bad = pcre_only(src)) != NULL) {
		snprintf(why, whylen, "%s", bad);
		return -1;
	}
	/* "" is RabbitMQ's synonym for "^$"; an empty ERE would match everything. */
	rc = regcomp(&r->re, src[0] == '\0' ? "^$" : src, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		regerror(rc, &r->re, why, whylen);
		return -1;
	}
	r->compiled = true;
	return 0;
}

void auth_regex_free(struct auth_regex *r)
{
	if (r->compiled)
		regfree(&r->re);
	r->compiled = false;
	free(r->src);
	r->src = NULL;
}

bool auth_regex_search(const struct auth_regex *r, struct amqp_bytes name)
{
	/*
	 * REG_STARTEND: the name is (pointer, length) and may hold NULs. It is copied behind a
	 * terminator all the same (names and keys are short strings, at most 255 bytes), because
	 * some regexec implementations and sanitizers still look for one.
	 */
	char buf[256];
	regmatch_t m = { .rm_so = 0, .rm_eo = (regoff_t)name.len };

	if (!r->compiled || name.len >= sizeof(buf))
		return false;
	if (name.len > 0)
		memcpy(buf, name.ptr, name.len);
	buf[name.len] = '\0';
	return regexec(&r->re, buf, 1, &m, REG_STARTEND) == 0;
}

static const struct auth_grant *grant_in(const struct auth_vhost *v, struct amqp_bytes user)
{
	size_t lo = 0, hi = v->ngrants, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = auth_bytes_cmp(
		    user.ptr, user.len, v->grants[mid]->user, v->grants[mid]->userlen);
		if (c == 0)
			return v->grants[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct auth_grant *auth_grant_find(
    const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost)
{
	const struct auth_vhost *v;

	if (db == NULL || (v = auth_vhost_find(db, vhost)) == NULL)
		return NULL;
	return grant_in(v, user);
}

bool auth_grant_permitted(const struct auth_grant *g, enum auth_perm perm, enum auth_resource kind,
    struct amqp_bytes name)
{
	if (g == NULL || (unsigned)perm > AUTH_READ)
		return false;
	if (kind == AUTH_RES_EXCHANGE && name.len == 0) /* rabbit_access_control does the same */
		name = AMQP_BYTES("amq.default");
	return auth_regex_search(&g->re[perm], name);
}

bool auth_permitted(const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost,
    enum auth_perm perm, enum auth_resource kind, struct amqp_bytes name)
{
	return auth_grant_permitted(auth_grant_find(db, user, vhost), perm, kind, name);
}

bool auth_topic_permitted(const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost,
    struct amqp_bytes exchange, struct amqp_bytes routing_key, enum auth_perm perm)
{
	const struct auth_vhost *v;
	const struct auth_topic_grant *t;
	size_t lo, hi, mid;
	int c;

	if (db == NULL || (v = auth_vhost_find(db, vhost)) == NULL)
		return false;
	if (perm != AUTH_WRITE && perm != AUTH_READ)
		return false;
	lo = 0;
	hi = v->ntopics;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		t = v->topics[mid];
		c = auth_bytes_cmp(user.ptr, user.len, t->user, t->userlen);
		if (c == 0)
			c = auth_bytes_cmp(exchange.ptr, exchange.len, t->exchange, t->exchangelen);
		if (c == 0)
			return auth_regex_search(
			    perm == AUTH_WRITE ? &t->write : &t->read, routing_key);
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return true; /* no topic permissions for this exchange: RabbitMQ allows */
}

bool auth_vhost_access(const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost)
{
	return auth_grant_find(db, user, vhost) != NULL;
}

bool auth_vhost_limits(const struct auth_db *db, struct amqp_bytes vhost, struct auth_limits *out)
{
	const struct auth_vhost *v = db != NULL ? auth_vhost_find(db, vhost) : NULL;

	out->max_connections = out->max_queues = -1;
	if (v == NULL)
		return false;
	out->max_connections = v->max_connections;
	out->max_queues = v->max_queues;
	return true;
}
