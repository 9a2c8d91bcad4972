/*
 * users.c: the users file (warren.conf(5)). One user a line, "name:hash" or "name:hash:tag,tag";
 * lines starting with "#" and blank lines are ignored. A name is 1 to 255 bytes of anything but
 * ':' and control characters (spaces and UTF-8 included, kept exactly); the hash is a $scrypt$
 * string from `warrenctl hash-password` (or a RabbitMQ hash, "$rabbitmq-sha256$...", from an
 * imported definitions file: rabbit_hash.c), "!" for a user that cannot log in, or "saslauthd" for a
 * user whose password saslauthd checks (only with that backend); a tag is letters,
 * digits, '_' and '-'. Every error is "FILE:LINE: reason". After parsing, the users are sorted by
 * name for binary search, and a name seen twice is an error naming both lines.
 */
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_private.h"

#define TAG_MAX 64

static int user_cmp(const void *a, const void *b)
{
	const struct auth_user *x = a, *y = b;
	int c = auth_bytes_cmp(x->name, x->namelen, y->name, y->namelen);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

const struct auth_user *auth_user_find(const struct auth_db *db, struct amqp_bytes name)
{
	size_t lo = 0, hi = db->nusers, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = auth_bytes_cmp(name.ptr, name.len, db->users[mid].name, db->users[mid].namelen);
		if (c == 0)
			return &db->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

void auth_users_free(struct auth_db *db)
{
	size_t i;

	for (i = 0; i < db->nusers; i++) {
		free(db->users[i].name);
		free(db->users[i].hash);
		free(db->users[i].tags);
	}
	free(db->users);
	db->users = NULL;
	db->nusers = 0;
}

static bool tag_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-';
}

/* Check "tag,tag,...": no empty tag, only tag characters, each at most TAG_MAX bytes. */
static int check_tags(
    const uint8_t *s, size_t n, const char *file, unsigned line, char *err, size_t errlen)
{
	char q[AUTH_QUOTE_MAX];
	size_t i, start = 0;

	for (i = 0; i <= n; i++) {
		if (i < n && s[i] != ',') {
			if (!tag_char(s[i])) {
				auth_errf(err, errlen, file, line,
				    "bad character '%s' in tags (letters, digits, '_' and '-', "
				    "separated by ',')",
				    auth_quote(s + i, 1, q, sizeof(q)));
				return -1;
			}
			continue;
		}
		if (i == start) {
			auth_errf(err, errlen, file, line, "empty tag");
			return -1;
		}
		if (i - start > TAG_MAX) {
			auth_errf(err, errlen, file, line, "tag longer than %d bytes", TAG_MAX);
			return -1;
		}
		start = i + 1;
	}
	return 0;
}

/* Parse one non-blank, non-comment line into u. */
static int parse_line(const struct auth_db *db, struct auth_user *u, const uint8_t *s, size_t n,
    const char *file, unsigned line, char *err, size_t errlen)
{
	const uint8_t *c1, *c2, *hash, *tags = NULL;
	size_t namelen, hashlen, tagslen = 0;
	char q[AUTH_QUOTE_MAX];
	if ((c1 = memchr(s, ':', n)) == NULL) {
		auth_errf(err, errlen, file, line, "expected name:hash[:tags]");
		return -1;
	}
	namelen = (size_t)(c1 - s);
	if (namelen == 0) {
		auth_errf(err, errlen, file, line, "empty user name");
		return -1;
	}
	if (namelen > AUTH_NAME_MAX) {
		auth_errf(err, errlen, file, line, "user name longer than %d bytes", AUTH_NAME_MAX);
		return -1;
	}
	if (auth_has_control(s, namelen)) {
		auth_errf(err, errlen, file, line, "control character in user name '%s'",
		    auth_quote(s, namelen, q, sizeof(q)));
		return -1;
	}
	hash = c1 + 1;
	hashlen = n - namelen - 1;
	if ((c2 = memchr(hash, ':', hashlen)) != NULL) {
		tags = c2 + 1;
		tagslen = (size_t)(s + n - tags);
		hashlen = (size_t)(c2 - hash);
		if (check_tags(tags, tagslen, file, line, err, errlen) != 0)
			return -1;
	}
	u->name = auth_xmemdup(s, namelen);
	u->namelen = namelen;
	u->line = line;
	u->tags = auth_xmemdup(tags != NULL ? tags : (const uint8_t *)"", tagslen);
	if (hashlen == 1 && hash[0] == '!') {
		u->kind = AUTH_PW_LOCKED;
		return 0;
	}
	if (hashlen == 9 && memcmp(hash, "saslauthd", 9) == 0) {
		if (db->backend != AUTH_BACKEND_SASLAUTHD) {
			auth_errf(err, errlen, file, line,
			    "user '%s': the password is checked by saslauthd, but password_backend "
			    "is not saslauthd",
			    auth_quote(s, namelen, q, sizeof(q)));
			return -1;
		}
		u->kind = AUTH_PW_SASLAUTHD;
		return 0;
	}
	u->kind = AUTH_PW_SCRYPT;
	u->hash = auth_xmemdup(hash, hashlen);
	if (hashlen == 0 || auth_has_control(hash, hashlen) || hashlen >= AUTH_HASH_MAX ||
	    !auth_hash_valid(u->hash)) {
		auth_errf(err, errlen, file, line,
		    "user '%s': malformed password hash (expected $scrypt$ln=N,r=N,p=N$salt$hash "
		    "from warrenctl hash-password, $rabbitmq-sha256$... from RabbitMQ, or ! to "
		    "lock "
		    "the user)",
		    auth_quote(s, namelen, q, sizeof(q)));
		return -1;
	}
	SHA256((const unsigned char *)u->hash, hashlen, u->digest);
	return 0;
}

static bool blank(const uint8_t *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

int auth_db_parse_users(
    struct auth_db *db, const char *file, const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct auth_lines lines;
	const uint8_t *s;
	size_t n, i, cap = db->nusers;
	char q[AUTH_QUOTE_MAX];
	int r;

	if (db->users_parsed || db->finished) {
		auth_errf(err, errlen, file, 0, "users already loaded");
		return AUTH_E_CONFIG;
	}
	auth_lines_init(&lines, buf, len);
	while ((r = auth_lines_next(&lines, &s, &n, file, err, errlen)) > 0) {
		if (blank(s, n) || s[0] == '#')
			continue;
		if (db->nusers == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			db->users = auth_xreallocarray(db->users, cap, sizeof(*db->users));
		}
		memset(&db->users[db->nusers], 0, sizeof(db->users[0]));
		/* Counted before parsing, so a half-filled entry is freed with the database. */
		db->nusers++;
		if (parse_line(
		        db, &db->users[db->nusers - 1], s, n, file, lines.line, err, errlen) != 0)
			return AUTH_E_CONFIG;
	}
	if (r < 0)
		return AUTH_E_CONFIG;
	if (db->nusers > 1)
		qsort(db->users, db->nusers, sizeof(*db->users), user_cmp);
	for (i = 1; i < db->nusers; i++) {
		if (auth_bytes_cmp(db->users[i - 1].name, db->users[i - 1].namelen,
		        db->users[i].name, db->users[i].namelen) == 0) {
			auth_errf(err, errlen, file, db->users[i].line,
			    "user '%s' already defined on line %u",
			    auth_quote(db->users[i].name, db->users[i].namelen, q, sizeof(q)),
			    db->users[i - 1].line);
			return AUTH_E_CONFIG;
		}
	}
	db->users_parsed = true;
	return AUTH_OK;
}
