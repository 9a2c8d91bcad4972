/*
 * auth.h: authentication and authorization. Parses the SASL responses of the mechanisms Warren
 * offers (PLAIN, AMQPLAIN) with strict bounds; hashes and verifies passwords (scrypt); loads the
 * users file and the vhost files into an immutable, refcounted struct auth_db; answers RabbitMQ's
 * permission checks against it; and runs the slow password checks on a bounded worker pool whose
 * completions the event loop collects through a file descriptor.
 *
 * Strings returned by the SASL parsers are slices into the caller's response buffer. Every other
 * name passed in is a (pointer, length) slice the callee does not keep. A struct auth_db is built
 * by one thread (auth_db_load or the auth_db_parse_* functions), then never changes: any thread
 * may read it while it holds a reference. Nothing here includes a server/ header or uses libevent.
 */
#ifndef WARREN_AUTH_H
#define WARREN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp/amqp.h"

enum auth_err {
	AUTH_OK = 0,
	AUTH_E_MALFORMED = -1,    /* the response does not parse for its mechanism */
	AUTH_E_MECHANISM = -2,    /* a mechanism Warren does not offer */
	AUTH_E_REFUSED = -3,      /* unknown user or wrong password: the same answer for both */
	AUTH_E_INVALID = -4,      /* a malformed stored hash or out-of-range parameters */
	AUTH_E_SPACE = -5,        /* the output buffer is too small */
	AUTH_E_CRYPTO = -6,       /* OpenSSL failed (no scrypt, no randomness) */
	AUTH_E_CONFIG = -7,       /* a users or vhost file is invalid: the error text says where */
	AUTH_E_BUSY = -8,         /* the pool's queue of pending checks is full */
	AUTH_E_SYSTEM = -9,       /* the OS failed (threads, file descriptors): errno says why */
	AUTH_E_UNAVAILABLE = -10, /* the password service (saslauthd) did not answer */
	AUTH_E_NOT_FOUND = -11,   /* an edit names a user, vhost or permission that is not there */
	AUTH_E_UNSUPPORTED = -12, /* an edit the files cannot express (the error text says why) */
};

const char *auth_strerror(int err);

/* What a policy applies to (policy.c). */
enum auth_apply_to { AUTH_APPLY_ALL, AUTH_APPLY_QUEUES, AUTH_APPLY_EXCHANGES };

/* ---- SASL (sasl.c) ---- */

struct auth_credentials {
	struct amqp_bytes user;
	struct amqp_bytes password;
};

/* Parse a SASL response for mechanism ("PLAIN" or "AMQPLAIN") into user and password slices. */
int auth_parse_response(
    struct amqp_bytes mechanism, struct amqp_bytes response, struct auth_credentials *out);
/* Whether mechanism is one Warren offers on a plain TCP listener. */
bool auth_mechanism_offered(struct amqp_bytes mechanism);
/* The mechanisms as announced in connection.start. */
#define AUTH_MECHANISMS "PLAIN AMQPLAIN"

/*
 * Check credentials against the built-in guest/guest user, for a broker started without a users
 * file. The comparison takes the same time whether or not the user exists. With a users file, use
 * auth_db_check_password (or the pool) instead.
 */
int auth_check_password(const struct auth_credentials *c);
/* True if user may connect only from loopback (guest, as in RabbitMQ's loopback_users). */
bool auth_user_loopback_only(struct amqp_bytes user);

/* ---- Password hashes (password.c) ---- */

/*
 * A stored hash is a PHC-style string naming the algorithm and its parameters:
 *
 *	$scrypt$ln=14,r=8,p=1$<salt>$<hash>
 *
 * N = 2^ln, r and p as in RFC 7914; salt (16 random bytes) and hash (32 bytes) in standard base64
 * without padding. ln=14, r=8, p=1 costs 16 MiB and about 60 ms on the 2-core reference machine
 * (ln=15 took 150 ms there); verification reads the parameters from the string, so raising them
 * later needs no migration. Bounds on what a stored string may ask for: 1 <= ln <= 20,
 * 1 <= r <= 64, 1 <= p <= 16, 128 * r * 2^ln <= 256 MiB; salt 8..64 bytes, hash 16..64 bytes.
 */
#define AUTH_SCRYPT_LN 14
#define AUTH_SCRYPT_R 8
#define AUTH_SCRYPT_P 1
#define AUTH_SALT_LEN 16
#define AUTH_HASH_LEN 32
/* Room for any stored string auth_hash_password writes, and the longest one accepted, plus NUL. */
#define AUTH_HASH_MAX 256

struct auth_scrypt_params {
	unsigned ln, r, p;
	uint8_t salt[64];
	size_t salt_len;
	uint8_t hash[64];
	size_t hash_len;
};

/* Hash password with a fresh random salt and the default parameters into out (a C string). */
int auth_hash_password(struct amqp_bytes password, char *out, size_t outlen);
/* The same with explicit cost parameters (tests use cheap ones; the salt is random). */
int auth_hash_password_params(
    struct amqp_bytes password, unsigned ln, unsigned r, unsigned p, char *out, size_t outlen);
/* Write sp (parameters, salt and hash) as a stored string. */
int auth_hash_format(const struct auth_scrypt_params *sp, char *out, size_t outlen);
/* Parse a stored string strictly: AUTH_OK, or AUTH_E_INVALID (never a crash). */
int auth_hash_parse(const char *stored, struct auth_scrypt_params *out);
/*
 * Check password against a stored string: AUTH_OK, AUTH_E_REFUSED for a wrong password, or
 * AUTH_E_INVALID for a malformed string. The hashes are compared in constant time. This is slow
 * (tens of milliseconds) by design: call it from a worker thread, never from the event loop.
 */
int auth_verify_password(const char *stored, struct amqp_bytes password);

/* ---- RabbitMQ's password hashes (rabbit_hash.c) ---- */

/*
 * RabbitMQ's salted hashes, base64(4-byte salt || H(salt || password)), are kept in the users file
 * as "$rabbitmq-sha256$<base64>" (H = SHA-256, rabbit_password_hashing_sha256) or
 * "$rabbitmq-sha512$<base64>", so users imported from RabbitMQ keep their passwords.
 * auth_verify_password checks them too (one digest: fast, unlike scrypt).
 */
/* Whether stored is a hash Warren verifies: $scrypt$ or $rabbitmq-sha256/512$, well formed. */
bool auth_hash_valid(const char *stored);
bool auth_hash_is_rabbit(const char *stored);
int auth_rabbit_verify(const char *stored, struct amqp_bytes password);
/*
 * A definitions file's (hashing_algorithm, password_hash) as a users-file hash into out:
 * AUTH_OK; AUTH_E_INVALID for a malformed hash; AUTH_E_UNSUPPORTED for an algorithm Warren cannot
 * verify (rabbit_password_hashing_md5, others); why says which. An empty hash is the caller's
 * (a user without a password: "!"). NULL or "" algorithm means RabbitMQ's default, SHA-256;
 * "warren_scrypt" is Warren's own export: base64 of the $scrypt$ string.
 */
int auth_rabbit_hash_import(
    const char *algorithm, const char *hash, char *out, size_t outlen, char *why, size_t whylen);
/*
 * A users-file hash (NULL: none) as a definitions file's pair: *algorithm (static) and the
 * password_hash into out. RabbitMQ hashes go back as they came; scrypt as "warren_scrypt" with
 * the stored string in base64 (RabbitMQ 3.10 imports it; such a user cannot log in there).
 */
int auth_rabbit_hash_export(const char *stored, const char **algorithm, char *out, size_t outlen);

/* ---- The user and vhost database (db.c, users.c, vhost.c) ---- */

/*
 * struct auth_db: the users file and every vhost file, parsed and checked as a whole. Loading
 * builds a new one; on any error nothing is returned and the caller keeps the one in force, so a
 * reload either applies entirely or not at all. Refcounted, with atomic counts: the event loop
 * holds one reference for the configuration in force, each pending password check another.
 */
struct auth_db;

/*
 * Load the users file and every "*.vhost" file in vhosts_dir (files whose names start with "." or
 * do not end in ".vhost" are ignored; the rest are read in name order). On error returns
 * AUTH_E_CONFIG with "FILE:LINE: reason" in err (or "FILE: reason" for a file that cannot be read).
 */
int auth_db_load(
    const char *users_path, const char *vhosts_dir, struct auth_db **out, char *err, size_t errlen);

/*
 * Who checks passwords (warren.conf(5) password_backend). AUTH_BACKEND_INTERNAL: the users file's
 * scrypt hashes, nothing else. AUTH_BACKEND_SASLAUTHD: a user with a scrypt hash in the users file
 * is still checked against it, a user whose hash is "!" is still refused, and every other name
 * (listed with the hash "saslauthd", or not listed at all) is checked by saslauthd
 * (auth_saslauthd_check); vhost files may then grant permissions to names the users file lacks.
 * A users file that says "saslauthd" is an error under AUTH_BACKEND_INTERNAL.
 */
enum auth_backend { AUTH_BACKEND_INTERNAL, AUTH_BACKEND_SASLAUTHD };

/* auth_db_load for a backend (auth_db_load is this with AUTH_BACKEND_INTERNAL). */
int auth_db_load_backend(const char *users_path, const char *vhosts_dir, enum auth_backend backend,
    struct auth_db **out, char *err, size_t errlen);
/*
 * RabbitMQ's blank-node state, for a broker started without a users file: user guest (password
 * guest, tag administrator) and vhost "/" where guest has ".*" ".*" ".*". Never NULL.
 */
struct auth_db *auth_db_new_default(void);

/*
 * Building a database from memory (auth_db_load uses these; so do tests and warrenctl). Call
 * auth_db_new, then auth_db_parse_users once, then auth_db_parse_vhost once per vhost file, then
 * auth_db_finish; after an error, just unref. `file` names the input in error messages; `buf`
 * need not be NUL-terminated and is not kept.
 */
struct auth_db *auth_db_new(void);
/* Choose the backend of a new database, before auth_db_parse_users (the default is internal). */
void auth_db_set_backend(struct auth_db *db, enum auth_backend backend);
int auth_db_parse_users(
    struct auth_db *db, const char *file, const uint8_t *buf, size_t len, char *err, size_t errlen);
int auth_db_parse_vhost(
    struct auth_db *db, const char *file, const uint8_t *buf, size_t len, char *err, size_t errlen);
int auth_db_finish(struct auth_db *db, char *err, size_t errlen);

struct auth_db *auth_db_ref(struct auth_db *db);
/* Drop a reference; the last one frees the database. NULL is a no-op. */
void auth_db_unref(struct auth_db *db);

size_t auth_db_user_count(const struct auth_db *db);
bool auth_user_exists(const struct auth_db *db, struct amqp_bytes user);
/* It exists and is not locked ("!"): what EXTERNAL, where the certificate is the credential, asks. */
bool auth_user_may_log_in(const struct auth_db *db, struct amqp_bytes user);
/* Whether user carries tag ("administrator", "impersonator", ...): false for an unknown user. */
bool auth_user_has_tag(const struct auth_db *db, struct amqp_bytes user, const char *tag);

size_t auth_db_vhost_count(const struct auth_db *db);
/*
 * The SHA-256 (64 hex digits) of the files a database was loaded from (auth_db_load_backend: the
 * users file and the vhost files, by name within their directories, length and bytes): equal on
 * two nodes whose files are copies. "" for a database not loaded from files.
 */
const char *auth_db_fingerprint(const struct auth_db *db);
/* The i-th vhost's name (in name order), valid while the caller holds its reference. */
struct amqp_bytes auth_db_vhost_name(const struct auth_db *db, size_t i);
bool auth_vhost_exists(const struct auth_db *db, struct amqp_bytes vhost);

/*
 * The slow password check against the database: AUTH_OK or AUTH_E_REFUSED. An unknown user, a
 * locked user ("!" in the users file) and an empty password are refused after a verification
 * against a dummy hash of the same cost, so neither the answer nor its timing says whether the
 * user exists. Call from a worker thread (auth_pool does).
 */
int auth_db_check_password(const struct auth_db *db, const struct auth_credentials *c);
/* Whether saslauthd, not the users file, checks user's password under db (see auth_backend). */
bool auth_db_uses_saslauthd(const struct auth_db *db, struct amqp_bytes user);

/*
 * What differs between two databases (a reload), one line of text per change, in name order:
 * users added, removed, with a changed password or tags; vhosts added or removed; limits,
 * permissions and topic permissions changed. Names are quoted as in error messages. Returns the
 * number of lines passed to cb.
 */
typedef void auth_diff_cb(void *arg, const char *line);
size_t auth_db_diff(
    const struct auth_db *old, const struct auth_db *new_db, auth_diff_cb *cb, void *arg);

/* ---- The database as data (info.c) ---- */

struct auth_user_info {
	struct amqp_bytes name;
	const char *hash; /* the stored hash, NULL for a locked or saslauthd user */
	bool locked, saslauthd;
	const char *tags; /* comma-separated, "" for none */
};
struct auth_grant_info {
	struct amqp_bytes user;
	const char *re[3]; /* configure, write, read, as written */
};
struct auth_topic_info {
	struct amqp_bytes user, exchange;
	const char *write, *read; /* {username} and {vhost} expanded */
};
/* The i-th user (in name order): true, or false past the last. Valid while db is. */
bool auth_db_user_at(const struct auth_db *db, size_t i, struct auth_user_info *out);
/* The i-th permissions line of the vhost-th vhost (auth_db_vhost_name's order), by user. */
bool auth_db_grant_at(
    const struct auth_db *db, size_t vhost, size_t i, struct auth_grant_info *out);
/* The i-th topic-permissions line of the vhost-th vhost, by user then exchange. */
bool auth_db_topic_at(
    const struct auth_db *db, size_t vhost, size_t i, struct auth_topic_info *out);
/* The index of vhost for the two above: true, or false if there is none. */
bool auth_db_vhost_index(const struct auth_db *db, struct amqp_bytes vhost, size_t *out);

/* ---- Editing the users file and the vhost files (edit.c) ---- */

/*
 * A transaction over the users file and the vhost files as they are on disk, for the management
 * API and definitions imports: begin loads them (as a reload would: they must be valid), each
 * change edits one line of a file's text in memory, keeping every other line, comment and blank
 * line (a changed line is replaced in place; a new one appended), check parses the edited set as
 * the reload after the commit will, and commit writes each changed file atomically (temporary
 * file in the same directory, fsync, rename, fsync of the directory), in an order that leaves a
 * loadable set after every step. All of it reads and writes files: never on the event loop.
 * Errors: AUTH_E_NOT_FOUND (no such user, vhost, permission), AUTH_E_UNSUPPORTED (the files
 * cannot express it: a control character, a ':' in a user name, a tag the users file cannot
 * hold, a vhost without vhost_dir), AUTH_E_CONFIG (FILE:LINE: reason from the parser),
 * AUTH_E_SYSTEM (the disk); err says what.
 */
struct auth_edit;
int auth_edit_begin(const char *users_path, const char *vhosts_dir, enum auth_backend backend,
    struct auth_edit **out, char *err, size_t errlen);
/* The database as the files were at begin. */
const struct auth_db *auth_edit_db(const struct auth_edit *e);
void auth_edit_free(struct auth_edit *e);
/* Whether the users file can hold this name, these tags ("a,b"): AUTH_OK or AUTH_E_UNSUPPORTED. */
int auth_edit_check_user_name(struct amqp_bytes user, char *err, size_t errlen);
int auth_edit_check_tags(const char *tags, char *err, size_t errlen);
/*
 * Add or change a user: hash a stored hash (auth_hash_valid), "!" or "saslauthd", or NULL to keep
 * the user's (a new user without one gets "!"); tags NULL to keep them. *created says which.
 */
int auth_edit_user_set(struct auth_edit *e, struct amqp_bytes user, const char *hash,
    const char *tags, bool *created, char *err, size_t errlen);
/* Remove a user, and its permissions and topic permissions in every vhost file. */
int auth_edit_user_remove(struct auth_edit *e, struct amqp_bytes user, char *err, size_t errlen);
/* A new vhost file in vhosts_dir (named after the vhost); *created false if it exists. */
int auth_edit_vhost_add(
    struct auth_edit *e, struct amqp_bytes vhost, bool *created, char *err, size_t errlen);
/* Remove the vhost's file. */
int auth_edit_vhost_remove(struct auth_edit *e, struct amqp_bytes vhost, char *err, size_t errlen);
/* Set a user's permissions line in vhost (configure, write, read). */
int auth_edit_permissions_set(struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user,
    const char *const re[3], char *err, size_t errlen);
int auth_edit_permissions_remove(
    struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user, char *err, size_t errlen);
int auth_edit_topic_set(struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user,
    struct amqp_bytes exchange, const char *write_re, const char *read_re, char *err,
    size_t errlen);
/* Remove the user's topic permissions on exchange (NULL: on every exchange) in vhost. */
int auth_edit_topic_remove(struct auth_edit *e, struct amqp_bytes vhost, struct amqp_bytes user,
    const struct amqp_bytes *exchange, char *err, size_t errlen);
/*
 * Set "max-connections" or "max-queues": its line replaced or appended; negative (no limit, as
 * RabbitMQ's negative values): its line removed, if there is one.
 */
int auth_edit_limit_set(struct auth_edit *e, struct amqp_bytes vhost, const char *which, long value,
    char *err, size_t errlen);
/*
 * Set a policy (op false) or operator policy (op true) in vhost's file: its line replaced, or
 * appended; definition is JSON (stored compact, keys sorted). Checked as the parser checks it
 * (AUTH_E_CONFIG with RabbitMQ's reason). *created says whether it is new.
 */
int auth_edit_policy_set(struct auth_edit *e, struct amqp_bytes vhost, bool op,
    struct amqp_bytes name, const char *pattern, const char *definition, long priority,
    enum auth_apply_to apply_to, bool *created, char *err, size_t errlen);
int auth_edit_policy_remove(struct auth_edit *e, struct amqp_bytes vhost, bool op,
    struct amqp_bytes name, char *err, size_t errlen);
/* Parse the edited files as a whole: AUTH_OK (and the database, if out), or the parser's error. */
int auth_edit_check(struct auth_edit *e, struct auth_db **out, char *err, size_t errlen);
/* Whether any file was changed. */
bool auth_edit_changed(const struct auth_edit *e);
/* Write the changed files (and remove removed ones), durably. */
int auth_edit_commit(struct auth_edit *e, char *err, size_t errlen);
/* Replace path with buf atomically and durably (same directory, fsync, rename, fsync dir). */
int auth_file_replace(const char *path, const uint8_t *buf, size_t len, char *err, size_t errlen);

/* ---- Authorization (acl.c) ---- */

enum auth_perm { AUTH_CONFIGURE, AUTH_WRITE, AUTH_READ };
enum auth_resource { AUTH_RES_QUEUE, AUTH_RES_EXCHANGE };

/*
 * Which checks each AMQP 0-9-1 method makes, from RabbitMQ's access-control guide
 * (https://www.rabbitmq.com/docs/access-control, "How Permissions Work") and rabbit_channel.erl.
 * The first refusal wins and closes the channel with 403 ACCESS_REFUSED, "access to queue 'q' in
 * vhost 'v' refused for user 'u'". RabbitMQ checks configure first, then (2) read before write;
 * binds check write on the destination before read on the source.
 *
 *   method                               configure         write             read
 *   ----------------------------------   ---------------   ---------------   -----------------
 *   exchange.declare passive=0           exchange (1)
 *     ... creating it with an AE (2)                       the AE            exchange
 *   exchange.declare passive=1           -                 -                 -
 *   exchange.delete                      exchange
 *   queue.declare passive=0              queue (1) (3)
 *     ... creating it with a DLX (2)                       the DLX exchange  queue
 *   queue.declare passive=1              -                 -                 -
 *   queue.delete                         queue
 *   queue.purge                          -                 -                 queue
 *   queue.bind / queue.unbind            -                 queue             exchange (4)
 *   exchange.bind / exchange.unbind      -                 destination exch  source exch (4)
 *   basic.publish                        -                 exchange (5)      -
 *   basic.get / basic.consume            -                 -                 queue (6)
 *   everything else (ack, qos, cancel, tx.*, confirm.select, ...)   no check
 *
 * (1) Checked on every non-passive declare, also when the entity already exists.
 * (2) Only when the declare creates the exchange or queue and it carries "alternate-exchange"
 *     (exchange.declare) or "x-dead-letter-exchange" (queue.declare); the read check comes first.
 * (3) A server-named queue (empty name) is checked under the name generated for it
 *     ("amq.gen-..."), before it is created: a user needs a configure regex matching amq.gen
 *     names to declare one. RabbitMQ grants no automatic right to them (1.x did; modern does
 *     not). A queue.declare of "amq.rabbitmq.reply-to" (direct reply-to) checks nothing.
 * (4) When the source exchange exists and is a topic exchange, the binding's routing key is also
 *     checked with auth_topic_permitted(..., AUTH_READ).
 * (5) After the write check: a topic exchange also needs auth_topic_permitted(..., AUTH_WRITE)
 *     on the message's routing key. A user-id property that differs from the user is refused
 *     (406) unless the user has the tag "impersonator" (auth_user_has_tag).
 * (6) basic.consume on "amq.rabbitmq.reply-to" checks nothing.
 *
 * Names are checked after the empty-queue shortcut is expanded (the channel's last declared
 * queue) and after CR and LF are stripped, as RabbitMQ does. The default exchange "" is checked
 * as "amq.default" (auth_permitted does this). Declaring, deleting, or binding to or from the
 * exchange "", deleting an "amq." exchange and creating an "amq." name are refused (403)
 * whatever the permissions: those are protocol rules. At connection.open, auth_vhost_access
 * decides (530 NOT_ALLOWED), then the vhost's max-connections (530 too); at a queue.declare that
 * creates a queue, max-queues (406 PRECONDITION_FAILED).
 */

/*
 * Whether user may perform perm on the named queue or exchange in vhost: the permission's regular
 * expression is searched in the name (unanchored, like Erlang's re:run; "" means "^$"). False if
 * the user has no permissions line in the vhost, or the vhost does not exist.
 */
bool auth_permitted(const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost,
    enum auth_perm perm, enum auth_resource kind, struct amqp_bytes name);
/*
 * Topic authorisation for topic exchanges: perm is AUTH_WRITE (publish) or AUTH_READ (bind). True
 * when user has no topic-permissions line for this exchange in the vhost, as in RabbitMQ.
 */
bool auth_topic_permitted(const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost,
    struct amqp_bytes exchange, struct amqp_bytes routing_key, enum auth_perm perm);
/* connection.open: the vhost exists and user has a permissions line in it (even "" "" ""). */
bool auth_vhost_access(const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost);

/* A vhost's limits; -1 means no limit (RabbitMQ's negative), 0 refuses every one. */
struct auth_limits {
	long max_connections;
	long max_queues;
};
/* Fill out with vhost's limits: true, or false (and no limits) if the vhost does not exist. */
bool auth_vhost_limits(const struct auth_db *db, struct amqp_bytes vhost, struct auth_limits *out);

/*
 * A user's permissions in one vhost, to look up once per connection and keep (with a reference
 * on its database) instead of searching for every check. NULL means no access.
 */
struct auth_grant;
const struct auth_grant *auth_grant_find(
    const struct auth_db *db, struct amqp_bytes user, struct amqp_bytes vhost);
bool auth_grant_permitted(const struct auth_grant *g, enum auth_perm perm, enum auth_resource kind,
    struct amqp_bytes name);

/* ---- Policies and operator policies (policy.c) ---- */

/*
 * A vhost file's "policy" and "operator-policy" lines (warren.conf(5)), as RabbitMQ 3.10 defines
 * policies: a name, a pattern (a regular expression searched in a queue's or exchange's name), an
 * apply-to, a priority and a definition (a JSON object of RabbitMQ's policy keys, checked by
 * RabbitMQ's rules). At most one policy and one operator policy apply to an object: of those that
 * apply to its kind and whose pattern matches, the highest priority (on a tie, the name that
 * sorts first). A policy is valid while the database that holds it is.
 */
/* The keys Warren acts on; the first AUTH_PK_NUMBERS are numbers (the smaller wins in a merge). */
enum auth_policy_key {
	AUTH_PK_MESSAGE_TTL,
	AUTH_PK_EXPIRES,
	AUTH_PK_MAX_LENGTH,
	AUTH_PK_MAX_LENGTH_BYTES,
	AUTH_PK_DELIVERY_LIMIT,
	AUTH_PK_OVERFLOW, /* strings from here: "drop-head", ... */
	AUTH_PK_DLX,
	AUTH_PK_DLX_RK,
	AUTH_PK_ALTERNATE_EXCHANGE,
	AUTH_PK_QUEUE_MODE,
	AUTH_PK_DISPATCH, /* Warren's: "round-robin" or "least-unacked" */
	AUTH_PK_COUNT
};
#define AUTH_PK_NUMBERS 5
struct auth_policy_values {
	unsigned has;                 /* 1u << enum auth_policy_key for each key given */
	uint64_t n[AUTH_PK_COUNT];    /* the numbers */
	const char *s[AUTH_PK_COUNT]; /* the strings (the policy's, or static) */
};
struct auth_policy;
struct auth_policy_info {
	struct amqp_bytes name;
	const char *pattern, *apply_to; /* apply_to: "all", "queues" or "exchanges" */
	long priority;
	const char *definition; /* compact JSON, keys sorted */
	bool op;                /* an operator policy */
	const struct auth_policy_values *values;
};
/* The policy (op false) or operator policy (op true) that applies to a queue or exchange. */
const struct auth_policy *auth_policy_match(const struct auth_db *db, struct amqp_bytes vhost,
    bool op, enum auth_resource kind, struct amqp_bytes name);
void auth_policy_info(const struct auth_policy *p, struct auth_policy_info *out);
/* The i-th policy of the vhost-th vhost: policies by name, then operator policies by name. */
bool auth_db_policy_at(
    const struct auth_db *db, size_t vhost, size_t i, struct auth_policy_info *out);
bool auth_vhost_has_policies(const struct auth_db *db, struct amqp_bytes vhost);
/* Whether the vhost's policies are the same in a and b (either may be NULL). */
bool auth_vhost_policies_equal(
    const struct auth_db *a, const struct auth_db *b, struct amqp_bytes vhost);
/* What applies when both do (either may be NULL): per key, the smaller number wins. */
void auth_policy_merge(
    const struct auth_policy *p, const struct auth_policy *op, struct auth_policy_values *out);
/* The same as JSON (RabbitMQ's effective_policy_definition), malloc'd; NULL when both are NULL. */
char *auth_policy_merged_json(const struct auth_policy *p, const struct auth_policy *op);
/*
 * Check a policy as the vhost file's parser will (name, pattern, definition): 0, or -1 with
 * RabbitMQ's reason in why. *canonical (if not NULL) gets the definition as stored (malloc'd).
 */
int auth_policy_check(bool op, struct amqp_bytes name, const char *pattern, const char *definition,
    char **canonical, char *why, size_t whylen);
int auth_policy_definition_check(
    bool op, const char *json, char **canonical, char *why, size_t whylen);
/* "all", "queues", "exchanges": 0, else -1. */
int auth_policy_apply_to_parse(const char *s, enum auth_apply_to *out);
const char *auth_policy_apply_to_name(enum auth_apply_to a);

/* ---- saslauthd through Cyrus SASL (saslauthd.c) ---- */

/*
 * Passwords checked by saslauthd (PAM, LDAP, Kerberos, ... behind it) with libsasl2's
 * sasl_checkpass and pwcheck_method saslauthd, set through a SASL_CB_GETOPT callback that also
 * keeps libsasl2 away from every auxprop store: sasldb, which holds passwords in clear, is never
 * read or written (auto_transition off, no auxprop plugin, no plugin directory, no SASL
 * configuration file). Initialise once per process, before the pool starts.
 */
#define AUTH_SASLAUTHD_PATH "/var/run/saslauthd/mux"
#define AUTH_SASLAUTHD_SERVICE "warren"

struct auth_saslauthd_config {
	const char *path;    /* saslauthd's socket; NULL: AUTH_SASLAUTHD_PATH */
	const char *service; /* the service name saslauthd is given (PAM's); NULL: "warren" */
};

/* Whether this build has libsasl2 (configure found it): if not, init always fails. */
bool auth_saslauthd_built(void);
/* Initialise libsasl2 for saslauthd checks: AUTH_OK, or an error with the reason in err. */
int auth_saslauthd_init(const struct auth_saslauthd_config *cfg, char *err, size_t errlen);
/* Release libsasl2 (at exit, after the pool has stopped). Safe without init. */
void auth_saslauthd_done(void);
/*
 * Ask saslauthd about c, blocking (a unix-socket round trip, and whatever saslauthd does): call it
 * from a pool thread. AUTH_OK; AUTH_E_REFUSED for a refusal, an empty password, a password with
 * a NUL byte, or a name that libsasl2 would change (leading or trailing white space); or
 * AUTH_E_UNAVAILABLE when saslauthd could not be asked, with libsasl2's reason in why.
 */
int auth_saslauthd_check(const struct auth_credentials *c, char *why, size_t whylen);

/* ---- The password-check pool (pool.c) ---- */

/*
 * N threads run auth_db_check_password (or auth_saslauthd_check, for the names
 * auth_db_uses_saslauthd gives it) for checks queued by the event loop. Completions come back
 * through auth_pool_fd(): when it is readable, call auth_pool_complete() on the loop thread, which
 * runs each finished check's callback there. A success is cached for ttl_ms under
 * HMAC-SHA256(per-process secret, user || 0 || password) together with a digest of the user's
 * stored hash, so a reconnect storm costs one scrypt per user, and a changed password (or a
 * removed user) misses. A saslauthd success is cached the same way under a digest that says
 * "saslauthd": a password changed in the directory behind saslauthd is not noticed until the
 * entry expires. Failures are never cached. A cache hit completes through the fd, never inside
 * auth_pool_submit, unless the caller asks to take it at once.
 */
struct auth_pool;

struct auth_pool_config {
	unsigned threads;      /* 0: 2 */
	unsigned queue_max;    /* pending checks before auth_pool_submit says AUTH_E_BUSY; 0: 256 */
	unsigned cache_ttl_ms; /* 0: 60000 */
	unsigned cache_slots;  /* success cache entries (sets of 4); 0: 1024 */
	bool no_cache;         /* never cache */
};

/*
 * The callback: opaque as submitted; result AUTH_OK, AUTH_E_REFUSED or AUTH_E_UNAVAILABLE; why
 * the check could not be made (never NULL, "" unless unavailable); arg as given to complete.
 */
typedef void auth_pool_cb(void *opaque, int result, const char *why, void *arg);

/* Start the pool on db (it takes its own reference). NULL cfg means the defaults. */
int auth_pool_new(const struct auth_pool_config *cfg, struct auth_db *db, struct auth_pool **out);
/* Use db for checks submitted from now on (a reload); checks already queued keep the old one. */
void auth_pool_set_db(struct auth_pool *p, struct auth_db *db);
/*
 * Queue a check of c (user and password are copied; the copy is wiped when done). AUTH_OK, or
 * AUTH_E_BUSY when queue_max checks are already waiting: refuse the connection then. With
 * at_once, a cached success is answered here instead: *at_once is set, AUTH_OK returned, and no
 * callback will run for it (a reconnecting client costs no round trip through the pool).
 */
int auth_pool_submit(
    struct auth_pool *p, const struct auth_credentials *c, void *opaque, bool *at_once);
/* Forget every check submitted with opaque: its callback will not run (a connection closed). */
void auth_pool_cancel(struct auth_pool *p, void *opaque);
/* The descriptor to watch for reading (an eventfd on Linux, else a pipe). */
int auth_pool_fd(const struct auth_pool *p);
/* Run the callbacks of every finished check on the calling thread; returns how many ran. */
size_t auth_pool_complete(struct auth_pool *p, auth_pool_cb *cb, void *arg);

struct auth_pool_stats {
	uint64_t submitted, verified, cache_hits, refused, busy;
};
void auth_pool_stats(struct auth_pool *p, struct auth_pool_stats *out);
/* Stop the threads (waiting for checks in progress), drop pending checks unrun, free. */
void auth_pool_free(struct auth_pool *p);

#endif /* WARREN_AUTH_H */
