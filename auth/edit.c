/*
 * edit.c: changing the users file and the vhost files from a program (the management API, a
 * definitions import) so that they stay the truth. An edit is a transaction over the files as
 * they are on disk: auth_edit_begin loads them (they must be valid, as a reload would load them),
 * each change rewrites one line of a file's text in memory (the user's line, a permissions or
 * topic-permissions line, a limit), keeping every other line, comment and blank line as it was
 * (a changed line is replaced where it stands, a new one appended at the end), then
 * auth_edit_check parses the edited set exactly as a reload will, and auth_edit_commit writes the
 * changed files atomically (auth_file_replace, file.c: a temporary file in the same directory,
 * fsync, rename, fsync of the directory). Files are written in an order that leaves a valid set after every step: a users
 * file that gains users before the vhost files that name them, one that loses users after them.
 * Everything here blocks on the disk (and hashing is the caller's): run it off the event loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth_private.h"

struct edit_file {
	char *path;
	char *name; /* the vhost's name */
	size_t namelen;
	uint8_t *buf;
	size_t len;
	bool changed, created, removed, gone;
};

struct auth_edit {
	char *users_path, *vhosts_dir;
	enum auth_backend backend;
	struct auth_db *db; /* the files as they were at begin */
	uint8_t *users;
	size_t users_len;
	bool users_changed, users_lost;
	struct edit_file *files;
	size_t nfiles;
};

/* ---- Text ---- */

/* A line of a buffer: [off, off + n), the newline (if any) not included. */
struct line {
	size_t off, n, next;
};

static bool line_next(const uint8_t *buf, size_t len, size_t at, struct line *l)
{
	const uint8_t *nl;

	if (at >= len)
		return false;
	nl = memchr(buf + at, '\n', len - at);
	l->off = at;
	l->n = nl != NULL ? (size_t)(nl - (buf + at)) : len - at;
	l->next = nl != NULL ? l->off + l->n + 1 : len;
	return true;
}

static bool line_blank(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

static bool line_blank_or_comment(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	return i == n || s[i] == '#';
}

/* Replace line l of *buf with text (NULL: delete the line and its newline). */
static void text_replace(uint8_t **buf, size_t *len, const struct line *l, const char *text)
{
	size_t tl = text != NULL ? strlen(text) : 0;
	size_t from = l->off, to = text != NULL ? l->off + l->n : l->next;
	uint8_t *nb = auth_xmalloc(*len - (to - from) + tl + 1);

	memcpy(nb, *buf, from);
	if (tl > 0)
		memcpy(nb + from, text, tl);
	memcpy(nb + from + tl, *buf + to, *len - to);
	*len = *len - (to - from) + tl;
	free(*buf);
	*buf = nb;
}

/* Append text as a line (after a newline, if the text does not end with one). */
static void text_append(uint8_t **buf, size_t *len, const char *text)
{
	size_t tl = strlen(text);
	bool nl = *len > 0 && (*buf)[*len - 1] != '\n';
	uint8_t *nb = auth_xmalloc(*len + nl + tl + 2);

	memcpy(nb, *buf, *len);
	if (nl)
		nb[*len] = '\n';
	memcpy(nb + *len + nl, text, tl);
	nb[*len + nl + tl] = '\n';
	*len += nl + tl + 1;
	free(*buf);
	*buf = nb;
}

/* A growing C string. */
struct str {
	char *p;
	size_t n, cap;
};

static void str_add(struct str *s, const char *t, size_t n)
{
	if (s->n + n + 1 > s->cap) {
		s->cap = (s->n + n + 1) * 2;
		s->p = auth_xreallocarray(s->p, s->cap, 1);
	}
	memcpy(s->p + s->n, t, n);
	s->n += n;
	s->p[s->n] = '\0';
}

/*
 * Add a vhost file's field: as it is when the parser reads it back so, else in single quotes
 * with quotes doubled. Control characters cannot be written: -1.
 */
static int str_field(struct str *s, const char *f, size_t n)
{
	bool quote = n == 0 || f[0] == '\'' || f[0] == '"' || f[0] == '#';
	size_t i;

	if (auth_has_control(f, n))
		return -1;
	for (i = 0; i < n; i++)
		if (f[i] == ' ' || f[i] == '\t')
			quote = true;
	str_add(s, " ", s->n > 0 && s->p[s->n - 1] != '\n' ? 1 : 0);
	if (!quote) {
		str_add(s, f, n);
		return 0;
	}
	str_add(s, "'", 1);
	for (i = 0; i < n; i++)
		str_add(s, f[i] == '\'' ? "''" : f + i, 1 + (f[i] == '\''));
	str_add(s, "'", 1);
	return 0;
}

static bool bytes_eq(const char *a, size_t alen, struct amqp_bytes b)
{
	return alen == b.len && (alen == 0 || memcmp(a, b.ptr, alen) == 0);
}

/* ---- The users file ---- */

/* The line of user in the users text: true and *l, or false. */
static bool users_find(const struct auth_edit *e, struct amqp_bytes user, struct line *l)
{
	const uint8_t *s, *colon;
	size_t at = 0;

	while (line_next(e->users, e->users_len, at, l)) {
		at = l->next;
		s = e->users + l->off;
		if (line_blank(s, l->n) || s[0] == '#') /* as users.c skips them */
			continue;
		if ((colon = memchr(s, ':', l->n)) == NULL)
			continue;
		if (bytes_eq((const char *)s, (size_t)(colon - s), user))
			return true;
	}
	return false;
}

static bool tag_ok(const char *t, size_t n)
{
	size_t i;

	if (n == 0 || n > 64)
		return false;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
		        (t[i] >= '0' && t[i] <= '9') || t[i] == '_' || t[i] == '-'))
			return false;
	return true;
}

int auth_edit_check_user_name(struct amqp_bytes user, char *err, size_t errlen)
{
	if (user.len == 0 || user.len > AUTH_NAME_MAX) {
		snprintf(err, errlen, "a user name is 1 to %d bytes", AUTH_NAME_MAX);
		return AUTH_E_UNSUPPORTED;
	}
	if (memchr(user.ptr, ':', user.len) != NULL || auth_has_control(user.ptr, user.len) ||
	    user.ptr[0] == '#' || user.ptr[0] == ' ' || user.ptr[0] == '\t') {
		snprintf(err, errlen,
		    "the users file cannot hold this user name (no ':', control characters, or "
		    "leading '#' or blank)");
		return AUTH_E_UNSUPPORTED;
	}
	return AUTH_OK;
}

int auth_edit_check_tags(const char *tags, char *err, size_t errlen)
{
	const char *p = tags, *comma;

	if (*p == '\0')
		return AUTH_OK;
	for (;;) {
		comma = strchr(p, ',');
		if (!tag_ok(p, comma != NULL ? (size_t)(comma - p) : strlen(p))) {
			snprintf(err, errlen,
			    "the users file cannot hold the tags '%s' (a tag is 1 to 64 letters, "
			    "digits, '_' or '-')",
			    tags);
			return AUTH_E_UNSUPPORTED;
		}
		if (comma == NULL)
			return AUTH_OK;
		p = comma + 1;
	}
}

int auth_edit_user_set(struct auth_edit *e, struct amqp_bytes user, const char *hash,
    const char *tags, bool *created, char *err, size_t errlen)
{
	struct str s = { NULL, 0, 0 };
	struct line l;
	char *old_hash = NULL, *old_tags = NULL;
	const uint8_t *p, *c1, *c2;
	int ret;

	*created = false;
	if ((ret = auth_edit_check_user_name(user, err, errlen)) != AUTH_OK)
		return ret;
	if (tags != NULL && (ret = auth_edit_check_tags(tags, err, errlen)) != AUTH_OK)
		return ret;
	if (hash != NULL && strcmp(hash, "!") != 0 && strcmp(hash, "saslauthd") != 0 &&
	    !auth_hash_valid(hash)) {
		snprintf(err, errlen, "not a password hash Warren can verify");
		return AUTH_E_UNSUPPORTED;
	}
	if (users_find(e, user, &l)) {
		p = e->users + l.off;
		c1 = memchr(p, ':', l.n);
		c2 = memchr(c1 + 1, ':', (size_t)(p + l.n - c1 - 1));
		old_hash = auth_xmemdup(c1 + 1, (size_t)((c2 != NULL ? c2 : p + l.n) - c1 - 1));
		old_tags = auth_xmemdup(
		    c2 != NULL ? c2 + 1 : p + l.n, c2 != NULL ? (size_t)(p + l.n - c2 - 1) : 0);
	} else if (hash == NULL) {
		hash = "!"; /* a new user without a password: it cannot log in */
	}
	str_add(&s, (const char *)user.ptr, user.len);
	str_add(&s, ":", 1);
	str_add(&s, hash != NULL ? hash : old_hash, strlen(hash != NULL ? hash : old_hash));
	if (tags == NULL)
		tags = old_tags != NULL ? old_tags : "";
	if (*tags != '\0') {
		str_add(&s, ":", 1);
		str_add(&s, tags, strlen(tags));
	}
	if (old_hash != NULL) {
		text_replace(&e->users, &e->users_len, &l, s.p);
	} else {
		text_append(&e->users, &e->users_len, s.p);
		*created = true;
	}
	e->users_changed = true;
	free(old_hash);
	free(old_tags);
	free(s.p);
	return AUTH_OK;
}

/* ---- The vhost files ---- */

static struct edit_file *file_of(struct auth_edit *e, struct amqp_bytes vhost)
{
	size_t i;

	for (i = 0; i < e->nfiles; i++)
		if (!e->files[i].removed && bytes_eq(e->files[i].name, e->files[i].namelen, vhost))
			return &e->files[i];
	return NULL;
}

/*
 * Find the next directive line of f from *at whose first field is directive and whose next
 * fields are f1 (any, if f1.ptr is NULL) and f2 (if not NULL): true with *l.
 */
static bool vfile_find(const struct edit_file *f, size_t *at, const char *directive,
    struct amqp_bytes f1, const struct amqp_bytes *f2, struct line *l)
{
	struct auth_fields fl = { .n = 0 };
	char err[256];
	bool hit;

	while (line_next(f->buf, f->len, *at, l)) {
		*at = l->next;
		if (line_blank_or_comment(f->buf + l->off, l->n))
			continue;
		if (auth_fields_split(&fl, f->buf + l->off, l->n, f->path, 0, err, sizeof(err)) !=
		    0) {
			auth_fields_free(&fl);
			continue;
		}
		hit = fl.n >= 2 && strcmp(fl.f[0], directive) == 0 &&
		    (f1.ptr == NULL || bytes_eq(fl.f[1], fl.len[1], f1)) &&
		    (f2 == NULL || (fl.n >= 3 && bytes_eq(fl.f[2], fl.len[2], *f2)));
		auth_fields_free(&fl);
		if (hit)
			return true;
	}
	return false;
}

/* Remove every line of f that vfile_find matches: how many. */
static size_t vfile_remove_all(
    struct edit_file *f, const char *directive, struct amqp_bytes f1, const struct amqp_bytes *f2)
{
	struct line l;
	size_t at = 0, n = 0;

	while (vfile_find(f, &at, directive, f1, f2, &l)) {
		text_replace(&f->buf, &f->len, &l, NULL);
		at = l.off;
		n++;
	}
	if (n > 0)
		f->changed = true;
	return n;
}

/* Replace the first line vfile_find matches with text, or append it. */
static void vfile_put(struct edit_file *f, const char *directive, struct amqp_bytes f1,
    const struct amqp_bytes *f2, const char *text)
{
	struct line l;
	size_t at = 0;

	if (vfile_find(f, &at, directive, f1, f2, &l))
		text_replace(&f->buf, &f->len, &l, text);
	else
		text_append(&f->buf, &f->len, text);
	f->changed = true;
}

static struct edit_file *need_vhost(
    struct auth_edit *e, struct amqp_bytes vhost, char *err, size_t errlen)
{
	struct edit_file *f = file_of(e, vhost);

	if (f == NULL)
		snprintf(err, errlen, "no vhost '%.*s'", (int)vhost.len, (const char *)vhost.ptr);
	return f;
}

static int need_user(struct auth_edit *e, struct amqp_bytes user, char *err, size_t errlen)
{
	struct line l;

	if (users_find(e, user, &l) || e->backend == AUTH_BACKEND_SASLAUTHD)
		return AUTH_OK;
	snprintf(err, errlen, "no user '%.*s'", (int)user.len, (const char *)user.ptr);
	return AUTH_E_NOT_FOUND;
}

static int build(
    struct str *s, const char *const *fields, const size_t *lens, int n, char *err, size_t errlen)
{
	int i;

	for (i = 0; i < n; i++) {
		if (str_field(s, fields[i], lens[i]) != 0) {
			snprintf(err, errlen,
			    "a vhost file cannot hold control characters (in '%s' field %d)",
			    fields[0], i);
			free(s->p);
			s->p = NULL;
			return AUTH_E_UNSUPPORTED;
		}
	}
	return AUTH_OK;
}

int auth_edit_permissions_set(struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user,
    const char *const re[3], char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);
	const char *fields[5] = { "permissions", (const char *)user.ptr, re[0], re[1], re[2] };
	size_t lens[5] = { 11, user.len, strlen(re[0]), strlen(re[1]), strlen(re[2]) };
	struct str s = { NULL, 0, 0 };
	int ret;

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if ((ret = need_user(e, user, err, errlen)) != AUTH_OK ||
	    (ret = build(&s, fields, lens, 5, err, errlen)) != AUTH_OK)
		return ret;
	vfile_put(f, "permissions", user, NULL, s.p);
	free(s.p);
	return AUTH_OK;
}

int auth_edit_permissions_remove(
    struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user, char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if (vfile_remove_all(f, "permissions", user, NULL) == 0) {
		snprintf(err, errlen, "no permissions");
		return AUTH_E_NOT_FOUND;
	}
	return AUTH_OK;
}

int auth_edit_topic_set(struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user,
    struct amqp_bytes exchange, const char *write_re, const char *read_re, char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);
	const char *fields[5] = { "topic-permissions", (const char *)user.ptr,
		(const char *)exchange.ptr, write_re, read_re };
	size_t lens[5] = { 17, user.len, exchange.len, strlen(write_re), strlen(read_re) };
	struct str s = { NULL, 0, 0 };
	int ret;

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if ((ret = need_user(e, user, err, errlen)) != AUTH_OK ||
	    (ret = build(&s, fields, lens, 5, err, errlen)) != AUTH_OK)
		return ret;
	vfile_put(f, "topic-permissions", user, &exchange, s.p);
	free(s.p);
	return AUTH_OK;
}

int auth_edit_topic_remove(struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user,
    const struct amqp_bytes *exchange, char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if (vfile_remove_all(f, "topic-permissions", user, exchange) == 0) {
		snprintf(err, errlen, "no topic permissions");
		return AUTH_E_NOT_FOUND;
	}
	return AUTH_OK;
}

int auth_edit_limit_set(struct auth_edit *e, struct amqp_bytes vhost, const char *which, long value,
    char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);
	char text[64];

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if (strcmp(which, "max-connections") != 0 && strcmp(which, "max-queues") != 0) {
		snprintf(err, errlen, "a vhost file has no limit '%s'", which);
		return AUTH_E_UNSUPPORTED;
	}
	if (value > 0x7fffffffL) {
		snprintf(err, errlen, "%s %ld is out of range", which, value);
		return AUTH_E_UNSUPPORTED;
	}
	if (value < 0) { /* no limit, as RabbitMQ's negative: the line goes */
		vfile_remove_all(f, which, (struct amqp_bytes){ NULL, 0 }, NULL);
		return AUTH_OK;
	}
	snprintf(text, sizeof(text), "%s %ld", which, value);
	vfile_put(f, which, (struct amqp_bytes){ NULL, 0 }, NULL, text);
	return AUTH_OK;
}

int auth_edit_policy_set(struct auth_edit *e, struct amqp_bytes vhost, bool op,
    struct amqp_bytes name, const char *pattern, const char *definition, long priority,
    enum auth_apply_to apply_to, bool *created, char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);
	const char *directive = op ? "operator-policy" : "policy";
	char prio[32], *canonical = NULL;
	const char *fields[8] = { directive, (const char *)name.ptr, pattern, NULL, "priority",
		prio, "apply-to", auth_policy_apply_to_name(apply_to) };
	size_t lens[8];
	struct str s = { NULL, 0, 0 };
	size_t at = 0;
	struct line l;
	int ret, i;

	*created = false;
	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if (auth_policy_check(op, name, pattern, definition, &canonical, err, errlen) != 0)
		return AUTH_E_CONFIG;
	snprintf(prio, sizeof(prio), "%ld", priority);
	fields[3] = canonical;
	for (i = 0; i < 8; i++)
		lens[i] = i == 1 ? name.len : strlen(fields[i]);
	ret = build(&s, fields, lens, 8, err, errlen);
	free(canonical);
	if (ret != AUTH_OK)
		return ret;
	*created = !vfile_find(f, &at, directive, name, NULL, &l);
	vfile_put(f, directive, name, NULL, s.p);
	free(s.p);
	return AUTH_OK;
}

int auth_edit_policy_remove(struct auth_edit *e, struct amqp_bytes vhost, bool op,
    struct amqp_bytes name, char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	if (vfile_remove_all(f, op ? "operator-policy" : "policy", name, NULL) == 0) {
		snprintf(err, errlen, "no %s '%.*s' in vhost '%.*s'",
		    op ? "operator policy" : "policy", (int)name.len, (const char *)name.ptr,
		    (int)vhost.len, (const char *)vhost.ptr);
		return AUTH_E_NOT_FOUND;
	}
	return AUTH_OK;
}

int auth_edit_user_remove(struct auth_edit *e, struct amqp_bytes user, char *err, size_t errlen)
{
	struct line l;
	size_t i;

	if (!users_find(e, user, &l)) {
		snprintf(err, errlen, "no user '%.*s'", (int)user.len, (const char *)user.ptr);
		return AUTH_E_NOT_FOUND;
	}
	text_replace(&e->users, &e->users_len, &l, NULL);
	e->users_changed = e->users_lost = true;
	/* Its permissions go with it, as in RabbitMQ (and the files would not load otherwise). */
	for (i = 0; i < e->nfiles; i++) {
		if (e->files[i].removed)
			continue;
		vfile_remove_all(&e->files[i], "permissions", user, NULL);
		vfile_remove_all(&e->files[i], "topic-permissions", user, NULL);
	}
	return AUTH_OK;
}

/* A file name in the vhost directory for a new vhost: its name, made safe, unused. */
static char *new_file_path(struct auth_edit *e, struct amqp_bytes vhost)
{
	char base[80], *path;
	size_t i, n = 0, k, plen;
	struct stat st;

	if (vhost.len == 1 && vhost.ptr[0] == '/') {
		snprintf(base, sizeof(base), "default");
		n = 7;
	} else {
		for (i = 0; i < vhost.len && n < 60; i++) {
			uint8_t c = vhost.ptr[i];
			bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && n > 0);
			base[n++] = ok ? (char)c : '_';
		}
		base[n] = '\0';
	}
	plen = strlen(e->vhosts_dir) + n + 32;
	path = auth_xmalloc(plen);
	for (k = 1;; k++) {
		bool taken = false;
		if (k == 1)
			snprintf(path, plen, "%s/%s.vhost", e->vhosts_dir, base);
		else
			snprintf(path, plen, "%s/%s-%zu.vhost", e->vhosts_dir, base, k);
		for (i = 0; i < e->nfiles; i++)
			if (strcmp(e->files[i].path, path) == 0)
				taken = true;
		if (!taken && stat(path, &st) != 0 && errno == ENOENT)
			return path;
	}
}

int auth_edit_vhost_add(
    struct auth_edit *e, struct amqp_bytes vhost, bool *created, char *err, size_t errlen)
{
	static const char head[] = "# Created through the management API.\n";
	const char *fields[2] = { "vhost", (const char *)vhost.ptr };
	size_t lens[2] = { 5, vhost.len };
	struct str s = { NULL, 0, 0 };
	struct edit_file *f;
	char *path;
	int ret;

	*created = false;
	if (file_of(e, vhost) != NULL)
		return AUTH_OK;
	if (e->vhosts_dir == NULL) {
		snprintf(err, errlen, "no vhost_dir is configured: new vhosts need one");
		return AUTH_E_UNSUPPORTED;
	}
	if (vhost.len == 0 || vhost.len > AUTH_NAME_MAX) {
		snprintf(err, errlen, "a vhost name is 1 to %d bytes", AUTH_NAME_MAX);
		return AUTH_E_UNSUPPORTED;
	}
	str_add(&s, head, sizeof(head) - 1);
	if ((ret = build(&s, fields, lens, 2, err, errlen)) != AUTH_OK)
		return ret;
	str_add(&s, "\n", 1);
	path = new_file_path(e, vhost);
	e->files = auth_xreallocarray(e->files, e->nfiles + 1, sizeof(*e->files));
	f = &e->files[e->nfiles++];
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->name = auth_xmemdup(vhost.ptr, vhost.len);
	f->namelen = vhost.len;
	f->buf = (uint8_t *)s.p;
	f->len = s.n;
	f->changed = f->created = true;
	*created = true;
	return AUTH_OK;
}

int auth_edit_vhost_remove(struct auth_edit *e, struct amqp_bytes vhost, char *err, size_t errlen)
{
	struct edit_file *f = need_vhost(e, vhost, err, errlen);

	if (f == NULL)
		return AUTH_E_NOT_FOUND;
	f->removed = true;
	return AUTH_OK;
}

/* ---- The transaction ---- */

int auth_edit_begin(const char *users_path, const char *vhosts_dir, enum auth_backend backend,
    struct auth_edit **out, char *err, size_t errlen)
{
	struct auth_edit *e = auth_xcalloc(1, sizeof(*e));
	size_t i;
	int ret;

	*out = NULL;
	e->users_path = auth_xmemdup(users_path, strlen(users_path));
	e->vhosts_dir = vhosts_dir != NULL ? auth_xmemdup(vhosts_dir, strlen(vhosts_dir)) : NULL;
	e->backend = backend;
	if ((ret = auth_db_load_backend(users_path, vhosts_dir, backend, &e->db, err, errlen)) !=
	        AUTH_OK ||
	    (ret = auth_read_file(users_path, &e->users, &e->users_len, err, errlen)) != AUTH_OK)
		goto fail;
	e->files = auth_xcalloc(e->db->nvhosts, sizeof(*e->files));
	for (i = 0; i < e->db->nvhosts; i++) {
		struct edit_file *f = &e->files[e->nfiles++];
		f->path = auth_xmemdup(e->db->vhosts[i]->file, strlen(e->db->vhosts[i]->file));
		f->name = auth_xmemdup(e->db->vhosts[i]->name, e->db->vhosts[i]->namelen);
		f->namelen = e->db->vhosts[i]->namelen;
		if ((ret = auth_read_file(f->path, &f->buf, &f->len, err, errlen)) != AUTH_OK)
			goto fail;
	}
	*out = e;
	return AUTH_OK;
fail:
	auth_edit_free(e);
	return ret;
}

const struct auth_db *auth_edit_db(const struct auth_edit *e)
{
	return e->db;
}

void auth_edit_free(struct auth_edit *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nfiles; i++) {
		free(e->files[i].path);
		free(e->files[i].name);
		free(e->files[i].buf);
	}
	free(e->files);
	free(e->users);
	free(e->users_path);
	free(e->vhosts_dir);
	auth_db_unref(e->db);
	free(e);
}

static int path_cmp(const void *a, const void *b)
{
	const struct edit_file *x = *(struct edit_file *const *)a;
	const struct edit_file *y = *(struct edit_file *const *)b;

	return strcmp(x->path, y->path);
}

int auth_edit_check(struct auth_edit *e, struct auth_db **out, char *err, size_t errlen)
{
	struct auth_db *db = auth_db_new();
	struct edit_file **order = auth_xcalloc(e->nfiles, sizeof(*order));
	size_t i, n = 0;
	int ret;

	if (out != NULL)
		*out = NULL;
	auth_db_set_backend(db, e->backend);
	for (i = 0; i < e->nfiles; i++)
		if (!e->files[i].removed)
			order[n++] = &e->files[i];
	if (n > 1)
		qsort(order, n, sizeof(*order), path_cmp); /* the order a reload reads them in */
	ret = auth_db_parse_users(db, e->users_path, e->users, e->users_len, err, errlen);
	for (i = 0; ret == AUTH_OK && i < n; i++)
		ret = auth_db_parse_vhost(
		    db, order[i]->path, order[i]->buf, order[i]->len, err, errlen);
	if (ret == AUTH_OK)
		ret = auth_db_finish(db, err, errlen);
	free(order);
	if (ret == AUTH_OK && out != NULL) {
		*out = db;
		db = NULL;
	}
	auth_db_unref(db);
	return ret;
}

bool auth_edit_changed(const struct auth_edit *e)
{
	size_t i;

	if (e->users_changed)
		return true;
	for (i = 0; i < e->nfiles; i++)
		if (e->files[i].changed || e->files[i].removed)
			return true;
	return false;
}

static int write_vhost_files(struct auth_edit *e, char *err, size_t errlen)
{
	size_t i;
	int ret;

	for (i = 0; i < e->nfiles; i++) {
		struct edit_file *f = &e->files[i];
		if (f->removed || !f->changed)
			continue;
		if ((ret = auth_file_replace(f->path, f->buf, f->len, err, errlen)) != AUTH_OK)
			return ret;
		f->changed = f->created = false;
	}
	return AUTH_OK;
}

int auth_edit_commit(struct auth_edit *e, char *err, size_t errlen)
{
	size_t i;
	int ret;

	/* Users that are only added go first (the vhost files may name them); lost ones last. */
	if (e->users_lost && (ret = write_vhost_files(e, err, errlen)) != AUTH_OK)
		return ret;
	if (e->users_changed) {
		if ((ret = auth_file_replace(e->users_path, e->users, e->users_len, err, errlen)) !=
		    AUTH_OK)
			return ret;
		e->users_changed = false;
	}
	if ((ret = write_vhost_files(e, err, errlen)) != AUTH_OK)
		return ret;
	for (i = 0; i < e->nfiles; i++) {
		struct edit_file *f = &e->files[i];
		if (!f->removed || f->created || f->gone)
			continue;
		if (unlink(f->path) != 0 && errno != ENOENT) {
			auth_errf(err, errlen, f->path, 0, "cannot remove: %s", strerror(errno));
			return AUTH_E_SYSTEM;
		}
		if ((ret = auth_sync_dir_of(f->path, err, errlen)) != AUTH_OK)
			return ret;
		f->gone = true;
	}
	return AUTH_OK;
}
