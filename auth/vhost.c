/*
 * vhost.c: one vhost file (warren.conf(5)): the vhost's name, its limits and its users'
 * permissions, one directive a line:
 *
 *	vhost /
 *	max-connections 100
 *	max-queues unlimited
 *	permissions alice '^alice\.' '.*' '.*'
 *	topic-permissions alice amq.topic '^orders\.' '.*'
 *	policy ttl '^orders\.' '{"message-ttl":60000}' priority 1 apply-to queues
 *	operator-policy cap '.*' '{"max-length":100000}'
 *
 * Fields are separated by spaces or tabs. A field that starts with ' or " runs to the same quote
 * and holds anything but control characters, verbatim (regular expressions need no escaping); a
 * doubled quote inside stands for one. Lines whose first non-blank byte is '#' are comments.
 * "vhost" comes first; each user appears in at most one permissions line, and once per exchange
 * in topic-permissions lines; users must be in the users file, except under the saslauthd
 * backend, where any name of 1 to 255 bytes may be given permissions. policy.c parses the policy
 * and operator-policy lines. Every error is
 * "FILE:LINE: reason".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_private.h"

void auth_fields_free(struct auth_fields *fl)
{
	int i;

	for (i = 0; i < fl->n; i++)
		free(fl->f[i]);
	fl->n = 0;
}

int auth_fields_split(struct auth_fields *fl, const uint8_t *s, size_t n, const char *file,
    unsigned line, char *err, size_t errlen)
{
	size_t i = 0, start, at;
	uint8_t q;
	char *buf;

	fl->n = 0;
	while (i < n) {
		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		if (fl->n == AUTH_MAX_FIELDS) {
			auth_errf(err, errlen, file, line, "too many fields");
			return -1;
		}
		buf =
		    auth_xmalloc(n - i + 1); /* a field is never longer than the rest of the line */
		at = 0;
		fl->f[fl->n] = buf;
		fl->n++;
		if (s[i] == '\'' || s[i] == '"') {
			q = s[i++];
			for (;;) {
				if (i == n) {
					auth_errf(
					    err, errlen, file, line, "unterminated %c quote", q);
					return -1;
				}
				if (s[i] == q && i + 1 < n && s[i + 1] == q) {
					buf[at++] = (char)q;
					i += 2;
					continue;
				}
				if (s[i] == q) {
					i++;
					break;
				}
				if (s[i] < 0x20 || s[i] == 0x7f)
					goto control;
				buf[at++] = (char)s[i++];
			}
			if (i < n && s[i] != ' ' && s[i] != '\t') {
				auth_errf(err, errlen, file, line,
				    "expected a space after the closing quote");
				return -1;
			}
		} else {
			start = i;
			while (i < n && s[i] != ' ' && s[i] != '\t') {
				if (s[i] < 0x20 || s[i] == 0x7f)
					goto control;
				i++;
			}
			memcpy(buf, s + start, i - start);
			at = i - start;
		}
		buf[at] = '\0';
		fl->len[fl->n - 1] = at;
	}
	return 0;
control:
	auth_errf(err, errlen, file, line, "control character 0x%02x%s", s[i],
	    s[i] == '\r' ? " (CRLF line ends?)" : "");
	return -1;
}

static int grant_cmp(const void *a, const void *b)
{
	const struct auth_grant *x = *(struct auth_grant *const *)a;
	const struct auth_grant *y = *(struct auth_grant *const *)b;

	return auth_bytes_cmp(x->user, x->userlen, y->user, y->userlen);
}

static int topic_cmp(const void *a, const void *b)
{
	const struct auth_topic_grant *x = *(struct auth_topic_grant *const *)a;
	const struct auth_topic_grant *y = *(struct auth_topic_grant *const *)b;
	int c = auth_bytes_cmp(x->user, x->userlen, y->user, y->userlen);

	return c != 0 ? c
	              : auth_bytes_cmp(x->exchange, x->exchangelen, y->exchange, y->exchangelen);
}

static int vhost_cmp(const void *a, const void *b)
{
	const struct auth_vhost *x = *(struct auth_vhost *const *)a;
	const struct auth_vhost *y = *(struct auth_vhost *const *)b;

	return auth_bytes_cmp(x->name, x->namelen, y->name, y->namelen);
}

const struct auth_vhost *auth_vhost_find(const struct auth_db *db, struct amqp_bytes name)
{
	size_t lo = 0, hi = db->nvhosts, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = auth_bytes_cmp(
		    name.ptr, name.len, db->vhosts[mid]->name, db->vhosts[mid]->namelen);
		if (c == 0)
			return db->vhosts[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void auth_vhost_free(struct auth_vhost *v)
{
	size_t i;
	int k;

	if (v == NULL)
		return;
	for (i = 0; i < v->ngrants; i++) {
		for (k = 0; k < 3; k++)
			auth_regex_free(&v->grants[i]->re[k]);
		free(v->grants[i]->user);
		free(v->grants[i]);
	}
	for (i = 0; i < v->ntopics; i++) {
		auth_regex_free(&v->topics[i]->write);
		auth_regex_free(&v->topics[i]->read);
		free(v->topics[i]->user);
		free(v->topics[i]->exchange);
		free(v->topics[i]);
	}
	for (i = 0; i < v->npolicies; i++)
		auth_policy_free(v->policies[i]);
	free(v->policies);
	free(v->grants);
	free(v->topics);
	free(v->name);
	free(v->file);
	free(v);
}

/* A limit: a decimal integer (a negative one means none, as in RabbitMQ) or "unlimited". */
static int parse_limit(const char *s, long *out)
{
	const char *p = s;
	bool neg = false;
	long v = 0;

	if (strcmp(s, "unlimited") == 0) {
		*out = -1;
		return 0;
	}
	if (*p == '-') {
		neg = true;
		p++;
	}
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (0x7fffffffL - (*p - '0')) / 10) /* keep it within int32, like RabbitMQ's */
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (*p != '\0')
		return -1;
	*out = neg ? -1 : v;
	return 0;
}

/* Replace every {username} and {vhost} in src, as RabbitMQ expands topic permissions. */
static char *expand(const char *src, const char *user, const char *vhost)
{
	size_t cap = strlen(src) + 1, at = 0, vlen;
	const char *p = src, *val;
	char *out = auth_xmalloc(cap);

	while (*p != '\0') {
		if (strncmp(p, "{username}", 10) == 0) {
			val = user;
			p += 10;
		} else if (strncmp(p, "{vhost}", 7) == 0) {
			val = vhost;
			p += 7;
		} else {
			val = NULL;
		}
		vlen = val != NULL ? strlen(val) : 1;
		while (at + vlen + 1 > cap)
			out = auth_xreallocarray(out, cap *= 2, 1);
		if (val != NULL)
			memcpy(out + at, val, vlen);
		else
			out[at] = *p++;
		at += vlen;
	}
	out[at] = '\0';
	return out;
}

/* Compile field i as the expression for what; on error say which. */
static int compile(struct auth_regex *r, const char *src, const char *what, const char *file,
    unsigned line, char *err, size_t errlen)
{
	char why[256], q[AUTH_QUOTE_MAX];

	if (auth_regex_compile(r, src, why, sizeof(why)) != 0) {
		auth_errf(err, errlen, file, line, "bad %s regular expression '%s': %s", what,
		    auth_quote(src, strlen(src), q, sizeof(q)), why);
		return -1;
	}
	return 0;
}

static const char *const perm_names[3] = { "configure", "write", "read" };

/* A permissions or topic-permissions line's user: in the users file, or any name for saslauthd. */
static int check_user(const struct auth_db *db, const struct auth_fields *fl, const char *file,
    unsigned line, char *err, size_t errlen)
{
	char q[AUTH_QUOTE_MAX];

	if (auth_user_find(db, (struct amqp_bytes){ (uint8_t *)fl->f[1], fl->len[1] }) != NULL)
		return 0;
	if (db->backend != AUTH_BACKEND_SASLAUTHD) {
		auth_errf(err, errlen, file, line, "no user '%s' in the users file",
		    auth_quote(fl->f[1], fl->len[1], q, sizeof(q)));
		return -1;
	}
	if (fl->len[1] == 0 || fl->len[1] > AUTH_NAME_MAX) {
		auth_errf(err, errlen, file, line, "a user name is 1 to %d bytes", AUTH_NAME_MAX);
		return -1;
	}
	return 0;
}

static int parse_permissions(struct auth_db *db, struct auth_vhost *v, struct auth_fields *fl,
    const char *file, unsigned line, char *err, size_t errlen)
{
	struct auth_grant *g;
	char q[AUTH_QUOTE_MAX];
	size_t i;
	int k;

	if (fl->n != 5) {
		auth_errf(
		    err, errlen, file, line, "expected permissions USER CONFIGURE WRITE READ");
		return -1;
	}
	if (check_user(db, fl, file, line, err, errlen) != 0)
		return -1;
	for (i = 0; i < v->ngrants; i++) {
		if (auth_bytes_cmp(
		        v->grants[i]->user, v->grants[i]->userlen, fl->f[1], fl->len[1]) == 0) {
			auth_errf(err, errlen, file, line,
			    "permissions for user '%s' already given on line %u",
			    auth_quote(fl->f[1], fl->len[1], q, sizeof(q)), v->grants[i]->line);
			return -1;
		}
	}
	g = auth_xcalloc(1, sizeof(*g));
	v->grants = auth_xreallocarray(v->grants, v->ngrants + 1, sizeof(*v->grants));
	v->grants[v->ngrants++] = g;
	g->user = auth_xmemdup(fl->f[1], fl->len[1]);
	g->userlen = fl->len[1];
	g->line = line;
	for (k = 0; k < 3; k++)
		if (compile(&g->re[k], fl->f[2 + k], perm_names[k], file, line, err, errlen) != 0)
			return -1;
	return 0;
}

static int parse_topic(struct auth_db *db, struct auth_vhost *v, struct auth_fields *fl,
    const char *file, unsigned line, char *err, size_t errlen)
{
	struct auth_topic_grant *t;
	char q[AUTH_QUOTE_MAX], q2[AUTH_QUOTE_MAX], *src;
	size_t i;
	int r;

	if (fl->n != 5) {
		auth_errf(
		    err, errlen, file, line, "expected topic-permissions USER EXCHANGE WRITE READ");
		return -1;
	}
	if (check_user(db, fl, file, line, err, errlen) != 0)
		return -1;
	if (fl->len[2] > AUTH_NAME_MAX) {
		auth_errf(
		    err, errlen, file, line, "exchange name longer than %d bytes", AUTH_NAME_MAX);
		return -1;
	}
	for (i = 0; i < v->ntopics; i++) {
		if (auth_bytes_cmp(
		        v->topics[i]->user, v->topics[i]->userlen, fl->f[1], fl->len[1]) == 0 &&
		    auth_bytes_cmp(v->topics[i]->exchange, v->topics[i]->exchangelen, fl->f[2],
		        fl->len[2]) == 0) {
			auth_errf(err, errlen, file, line,
			    "topic permissions for user '%s' on exchange '%s' already given "
			    "on line %u",
			    auth_quote(fl->f[1], fl->len[1], q, sizeof(q)),
			    auth_quote(fl->f[2], fl->len[2], q2, sizeof(q2)), v->topics[i]->line);
			return -1;
		}
	}
	t = auth_xcalloc(1, sizeof(*t));
	v->topics = auth_xreallocarray(v->topics, v->ntopics + 1, sizeof(*v->topics));
	v->topics[v->ntopics++] = t;
	t->user = auth_xmemdup(fl->f[1], fl->len[1]);
	t->userlen = fl->len[1];
	t->exchange = auth_xmemdup(fl->f[2], fl->len[2]);
	t->exchangelen = fl->len[2];
	t->line = line;
	src = expand(fl->f[3], fl->f[1], v->name);
	r = compile(&t->write, src, "write", file, line, err, errlen);
	free(src);
	if (r != 0)
		return -1;
	src = expand(fl->f[4], fl->f[1], v->name);
	r = compile(&t->read, src, "read", file, line, err, errlen);
	free(src);
	return r;
}

static int parse_directive(struct auth_db *db, struct auth_vhost *v, struct auth_fields *fl,
    const char *file, unsigned line, bool *seen_conn, bool *seen_queues, char *err, size_t errlen)
{
	char q[AUTH_QUOTE_MAX];
	const char *key = fl->f[0];
	size_t i;

	if (strcmp(key, "vhost") == 0) {
		if (v->name != NULL) {
			auth_errf(err, errlen, file, line, "a second vhost line");
			return -1;
		}
		if (fl->n != 2) {
			auth_errf(err, errlen, file, line, "expected vhost NAME");
			return -1;
		}
		if (fl->len[1] == 0 || fl->len[1] > AUTH_NAME_MAX) {
			auth_errf(err, errlen, file, line, "a vhost name is 1 to %d bytes",
			    AUTH_NAME_MAX);
			return -1;
		}
		for (i = 0; i < db->nvhosts; i++) {
			if (auth_bytes_cmp(db->vhosts[i]->name, db->vhosts[i]->namelen, fl->f[1],
			        fl->len[1]) == 0) {
				auth_errf(err, errlen, file, line,
				    "vhost '%s' already defined in %s",
				    auth_quote(fl->f[1], fl->len[1], q, sizeof(q)),
				    db->vhosts[i]->file);
				return -1;
			}
		}
		v->name = auth_xmemdup(fl->f[1], fl->len[1]);
		v->namelen = fl->len[1];
		return 0;
	}
	if (v->name == NULL) {
		auth_errf(err, errlen, file, line, "expected vhost NAME before any other line");
		return -1;
	}
	if (strcmp(key, "max-connections") == 0 || strcmp(key, "max-queues") == 0) {
		bool conn = strcmp(key, "max-connections") == 0;
		bool *seen = conn ? seen_conn : seen_queues;

		if (fl->n != 2 ||
		    parse_limit(fl->f[1], conn ? &v->max_connections : &v->max_queues) != 0) {
			auth_errf(err, errlen, file, line,
			    "expected %s N (a number, negative or unlimited for none)", key);
			return -1;
		}
		if (*seen) {
			auth_errf(err, errlen, file, line, "%s given twice", key);
			return -1;
		}
		*seen = true;
		return 0;
	}
	if (strcmp(key, "permissions") == 0)
		return parse_permissions(db, v, fl, file, line, err, errlen);
	if (strcmp(key, "topic-permissions") == 0)
		return parse_topic(db, v, fl, file, line, err, errlen);
	if (strcmp(key, "policy") == 0 || strcmp(key, "operator-policy") == 0)
		return auth_policy_parse_line(v, fl, file, line, err, errlen);
	auth_errf(err, errlen, file, line, "unknown directive '%s'",
	    auth_quote(key, fl->len[0], q, sizeof(q)));
	return -1;
}

int auth_db_parse_vhost(
    struct auth_db *db, const char *file, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct auth_vhost *v = auth_xcalloc(1, sizeof(*v));
	struct auth_lines lines;
	struct auth_fields fl = { .n = 0 };
	bool seen_conn = false, seen_queues = false;
	const uint8_t *s;
	size_t n, i;
	int r, ret = AUTH_E_CONFIG;

	v->max_connections = v->max_queues = -1;
	v->file = auth_xmemdup(file, strlen(file));
	if (!db->users_parsed || db->finished) {
		auth_errf(err, errlen, file, 0,
		    db->finished ? "database already finished" : "load the users file first");
		goto out;
	}
	auth_lines_init(&lines, buf, len);
	while ((r = auth_lines_next(&lines, &s, &n, file, err, errlen)) > 0) {
		for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
			;
		if (i == n || s[i] == '#')
			continue;
		r = auth_fields_split(&fl, s, n, file, lines.line, err, errlen);
		if (r == 0)
			r = parse_directive(
			    db, v, &fl, file, lines.line, &seen_conn, &seen_queues, err, errlen);
		auth_fields_free(&fl);
		if (r != 0)
			goto out;
	}
	if (r < 0)
		goto out;
	if (v->name == NULL) {
		auth_errf(err, errlen, file, lines.line > 0 ? lines.line : 1,
		    "no vhost line in the file");
		goto out;
	}
	if (v->ngrants > 1)
		qsort(v->grants, v->ngrants, sizeof(*v->grants), grant_cmp);
	if (v->ntopics > 1)
		qsort(v->topics, v->ntopics, sizeof(*v->topics), topic_cmp);
	auth_policies_sort(v);
	db->vhosts = auth_xreallocarray(db->vhosts, db->nvhosts + 1, sizeof(*db->vhosts));
	db->vhosts[db->nvhosts++] = v;
	v = NULL;
	ret = AUTH_OK;
out:
	auth_vhost_free(v);
	return ret;
}

void auth_vhosts_sort(struct auth_db *db)
{
	if (db->nvhosts > 1)
		qsort(db->vhosts, db->nvhosts, sizeof(*db->vhosts), vhost_cmp);
}
