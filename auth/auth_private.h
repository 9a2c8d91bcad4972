/*
 * auth_private.h: what the files of auth/ share and nothing outside auth/ may include: the layout
 * of struct auth_db (users, vhosts, grants with their compiled regular expressions), allocation
 * wrappers that abort on failure, a line splitter for the configuration files and error
 * formatting. Grouped by the file that defines each function.
 */
#ifndef WARREN_AUTH_PRIVATE_H
#define WARREN_AUTH_PRIVATE_H

#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"

/* Longest user, vhost or exchange name: a shortstr. */
#define AUTH_NAME_MAX 255
/* Longest line in a users or vhost file, and largest file. */
#define AUTH_LINE_MAX 65536
#define AUTH_FILE_MAX (16u << 20)

enum auth_pw_kind {
	AUTH_PW_SCRYPT,    /* hash holds a $scrypt$ string */
	AUTH_PW_LOCKED,    /* "!": the user exists (permissions, tags) but cannot log in */
	AUTH_PW_SASLAUTHD, /* "saslauthd": saslauthd checks the password (AUTH_BACKEND_SASLAUTHD) */
};

struct auth_user {
	char *name; /* NUL-terminated copy; namelen excludes the NUL */
	size_t namelen;
	enum auth_pw_kind kind;
	char *hash;         /* the stored string, NULL when locked */
	uint8_t digest[32]; /* SHA-256 of hash: the pool's cache remembers which hash it verified */
	char *tags;         /* comma-separated, "" for none */
	unsigned line;
};

/* One regular expression as written, and compiled (POSIX extended, no subexpressions). */
struct auth_regex {
	char *src;
	regex_t re;
	bool compiled;
};

/* A permissions line: one user's configure, write and read expressions in one vhost. */
struct auth_grant {
	char *user;
	size_t userlen;
	struct auth_regex re[3]; /* indexed by enum auth_perm */
	unsigned line;
};

/* A topic-permissions line: one user's write and read expressions on one exchange's keys. */
struct auth_topic_grant {
	char *user;
	size_t userlen;
	char *exchange;
	size_t exchangelen;
	struct auth_regex write, read;
	unsigned line;
};

/* A policy or operator-policy line (policy.c). */
struct auth_policy {
	char *name;
	size_t namelen;
	bool op; /* an operator-policy line */
	struct auth_regex pattern;
	enum auth_apply_to apply_to;
	long priority;
	char *definition; /* compact JSON, keys sorted */
	struct auth_policy_values values;
	char *strs[AUTH_PK_COUNT]; /* values.s's copies */
	unsigned line;
};

struct auth_vhost {
	char *name;
	size_t namelen;
	char *file; /* where it was defined, for the duplicate-vhost error */
	long max_connections, max_queues;
	struct auth_grant **grants; /* sorted by user */
	size_t ngrants;
	struct auth_topic_grant **topics; /* sorted by user, then exchange */
	size_t ntopics;
	struct auth_policy **policies; /* policies by name, then operator policies by name */
	size_t npolicies;
};

struct auth_db {
	atomic_uint refs;
	enum auth_backend backend;
	bool users_parsed;
	bool finished;
	struct auth_user *users; /* sorted by name once users are parsed */
	size_t nusers;
	struct auth_vhost **vhosts; /* sorted by name at finish */
	size_t nvhosts;
	/* A hash of a random password with the cost of the first user's hash, for unknown users. */
	char dummy_hash[AUTH_HASH_MAX];
	/* SHA-256 of the files as read (auth_db_load_backend), to compare nodes; "" otherwise. */
	char fingerprint[65];
};

/* util.c */
void *auth_xmalloc(size_t size);
void *auth_xcalloc(size_t nmemb, size_t size);
void *auth_xreallocarray(void *p, size_t nmemb, size_t size);
char *auth_xmemdup(const void *p, size_t len); /* with a NUL after len bytes */
/* Compare two byte strings: by bytes, then the shorter first (memcmp order on the common part). */
int auth_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* Write "FILE:LINE: " (or "FILE: " when line is 0) and the formatted reason into err. */
void auth_errf(char *err, size_t errlen, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Quote bytes for an error message: printable ASCII as is, others as \xNN, cut at 80 bytes. */
const char *auth_quote(const void *p, size_t len, char *out, size_t cap);
#define AUTH_QUOTE_MAX 400
bool auth_has_control(const void *p, size_t len);

/* Splits a buffer into lines; no NUL byte, no line longer than AUTH_LINE_MAX. */
struct auth_lines {
	const uint8_t *p, *end;
	unsigned line;
};
void auth_lines_init(struct auth_lines *l, const uint8_t *buf, size_t len);
/* The next line (without its newline) in *s and *n: 1, 0 at the end, -1 on error (err set). */
int auth_lines_next(
    struct auth_lines *l, const uint8_t **s, size_t *n, const char *file, char *err, size_t errlen);
/* Read a whole regular file of at most AUTH_FILE_MAX bytes into a heap buffer of its size. */
int auth_read_file(const char *path, uint8_t **out, size_t *len, char *err, size_t errlen);

/* file.c */
/* fsync the directory that holds path: AUTH_OK, or AUTH_E_SYSTEM with err. */
int auth_sync_dir_of(const char *path, char *err, size_t errlen);

/* db.c */
/*
 * The digest of what checks user's password under db, for the pool's cache: a user's stored hash,
 * or a fixed value for saslauthd. False when no password of user can succeed (locked, unknown).
 */
bool auth_db_verifier(const struct auth_db *db, struct amqp_bytes user, uint8_t out[32]);

/* users.c */
const struct auth_user *auth_user_find(const struct auth_db *db, struct amqp_bytes name);
void auth_users_free(struct auth_db *db);

/* vhost.c */
/* A vhost file's line split into fields, quoted ones unquoted (each a heap copy, NUL-terminated). */
#define AUTH_MAX_FIELDS 8
struct auth_fields {
	char *f[AUTH_MAX_FIELDS];
	size_t len[AUTH_MAX_FIELDS];
	int n;
};
/* Split a line into fields: 0 (fl->n may be 0), or -1 with err; free with auth_fields_free. */
int auth_fields_split(struct auth_fields *fl, const uint8_t *s, size_t n, const char *file,
    unsigned line, char *err, size_t errlen);
void auth_fields_free(struct auth_fields *fl);
const struct auth_vhost *auth_vhost_find(const struct auth_db *db, struct amqp_bytes name);
void auth_vhost_free(struct auth_vhost *v);
/* Sort the vhosts by name for lookup (auth_db_finish). */
void auth_vhosts_sort(struct auth_db *db);

/* policy.c */
/* A policy or operator-policy line, added to v: 0, or -1 with "FILE:LINE: reason". */
int auth_policy_parse_line(struct auth_vhost *v, struct auth_fields *fl, const char *file,
    unsigned line, char *err, size_t errlen);
void auth_policy_free(struct auth_policy *p);
/* Sort v's policies for lookup and diffs (at the end of the file). */
void auth_policies_sort(struct auth_vhost *v);
/* The report lines for a vhost's policies (vq: its name, quoted). */
void auth_policies_diff(const char *vq, const struct auth_vhost *a, const struct auth_vhost *b,
    void (*say)(void *d, const char *line), void *d);

/* acl.c */
/* Search re in the name (pointer, length); bytes after a NUL count too (REG_STARTEND). */
bool auth_regex_search(const struct auth_regex *r, struct amqp_bytes name);
/* Compile src ("" as "^$"); on failure put regerror's text into why. */
int auth_regex_compile(struct auth_regex *r, const char *src, char *why, size_t whylen);
void auth_regex_free(struct auth_regex *r);

#endif /* WARREN_AUTH_PRIVATE_H */
