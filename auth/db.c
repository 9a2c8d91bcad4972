/*
 * db.c: struct auth_db as a whole: building one from the users file and a directory of vhost
 * files (all or nothing), the default database of a broker without a users file, references,
 * user lookups, the password check that never says whether a user exists, and which backend
 * checks whose password.
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_private.h"

/* The well-known guest/guest of a blank RabbitMQ node: scrypt of "guest", default cost. */
static const char guest_hash[] =
    "$scrypt$ln=14,r=8,p=1$HQnk7ow0/QAi3JeMm1T1kg$2paEQ9ODZ60kfS2wX77tnw4cKM386RZd6VkuvNQ4JtM";

struct auth_db *auth_db_new(void)
{
	struct auth_db *db = auth_xcalloc(1, sizeof(*db));

	atomic_init(&db->refs, 1);
	return db;
}

void auth_db_set_backend(struct auth_db *db, enum auth_backend backend)
{
	db->backend = backend;
}

struct auth_db *auth_db_ref(struct auth_db *db)
{
	atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
	return db;
}

void auth_db_unref(struct auth_db *db)
{
	size_t i;

	if (db == NULL || atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) != 1)
		return;
	auth_users_free(db);
	for (i = 0; i < db->nvhosts; i++)
		auth_vhost_free(db->vhosts[i]);
	free(db->vhosts);
	free(db);
}

/*
 * A stored string with the cost of the first user's hash (or the default cost) whose hash is
 * random bytes, which no password produces: checking an unknown user then costs one scrypt of the
 * same size as checking a known one.
 */
static int make_dummy(struct auth_db *db)
{
	struct auth_scrypt_params sp;
	size_t i;

	for (i = 0; i < db->nusers; i++)
		if (db->users[i].kind == AUTH_PW_SCRYPT &&
		    auth_hash_parse(db->users[i].hash, &sp) == AUTH_OK)
			break;
	if (i == db->nusers)
		sp = (struct auth_scrypt_params){
			.ln = AUTH_SCRYPT_LN, .r = AUTH_SCRYPT_R, .p = AUTH_SCRYPT_P
		};
	sp.salt_len = AUTH_SALT_LEN;
	sp.hash_len = AUTH_HASH_LEN;
	if (RAND_bytes(sp.salt, (int)sp.salt_len) != 1 ||
	    RAND_bytes(sp.hash, (int)sp.hash_len) != 1)
		return AUTH_E_CRYPTO;
	return auth_hash_format(&sp, db->dummy_hash, sizeof(db->dummy_hash));
}

int auth_db_finish(struct auth_db *db, char *err, size_t errlen)
{
	if (db->finished)
		return AUTH_OK;
	if (!db->users_parsed) {
		auth_errf(err, errlen, "auth", 0, "no users file loaded");
		return AUTH_E_CONFIG;
	}
	auth_vhosts_sort(db);
	if (make_dummy(db) != AUTH_OK) {
		auth_errf(err, errlen, "auth", 0, "no random numbers from OpenSSL");
		return AUTH_E_CRYPTO;
	}
	db->finished = true;
	return AUTH_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a directory entry is a vhost file: "*.vhost", not hidden. */
static bool vhost_file(const char *name)
{
	size_t n = strlen(name);

	return name[0] != '.' && n > 6 && strcmp(name + n - 6, ".vhost") == 0;
}

/*
 * The fingerprint: SHA-256 over each file read, as its name within its directory, its length and
 * its bytes, in the order read (the users file, then the vhost files by name). Nodes whose files
 * are copies of each other's show the same one, wherever the directories are.
 */
static void fp_add(EVP_MD_CTX *md, const char *path, const uint8_t *buf, size_t len)
{
	const char *base = strrchr(path, '/');
	uint8_t n[8];

	base = base != NULL ? base + 1 : path;
	EVP_DigestUpdate(md, base, strlen(base) + 1);
	for (int i = 0; i < 8; i++)
		n[i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	EVP_DigestUpdate(md, n, sizeof(n));
	EVP_DigestUpdate(md, buf, len);
}

/* Parse every vhost file in dir, in name order. */
static int load_vhosts(
    struct auth_db *db, const char *dir, EVP_MD_CTX *md, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL, *path = NULL;
	size_t n = 0, i, len;
	uint8_t *buf;
	int ret = AUTH_E_CONFIG;

	if ((d = opendir(dir)) == NULL) {
		auth_errf(err, errlen, dir, 0, "%s", strerror(errno));
		return AUTH_E_CONFIG;
	}
	while ((e = readdir(d)) != NULL) {
		if (!vhost_file(e->d_name))
			continue;
		names = auth_xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = auth_xmemdup(e->d_name, strlen(e->d_name));
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		free(path);
		path = auth_xmalloc(strlen(dir) + strlen(names[i]) + 2);
		sprintf(path, "%s/%s", dir, names[i]);
		if (auth_read_file(path, &buf, &len, err, errlen) != AUTH_OK)
			goto out;
		fp_add(md, path, buf, len);
		ret = auth_db_parse_vhost(db, path, buf, len, err, errlen);
		free(buf);
		if (ret != AUTH_OK)
			goto out;
	}
	ret = AUTH_OK;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(path);
	return ret;
}

int auth_db_load(
    const char *users_path, const char *vhosts_dir, struct auth_db **out, char *err, size_t errlen)
{
	return auth_db_load_backend(
	    users_path, vhosts_dir, AUTH_BACKEND_INTERNAL, out, err, errlen);
}

int auth_db_load_backend(const char *users_path, const char *vhosts_dir, enum auth_backend backend,
    struct auth_db **out, char *err, size_t errlen)
{
	struct auth_db *db = auth_db_new();
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *buf = NULL, digest[32];
	size_t len;
	int ret;

	*out = NULL;
	db->backend = backend;
	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort();
	if ((ret = auth_read_file(users_path, &buf, &len, err, errlen)) != AUTH_OK)
		goto out;
	fp_add(md, users_path, buf, len);
	if ((ret = auth_db_parse_users(db, users_path, buf, len, err, errlen)) != AUTH_OK)
		goto out;
	OPENSSL_cleanse(buf, len); /* only hashes, but no need to leave them around */
	if (vhosts_dir != NULL && (ret = load_vhosts(db, vhosts_dir, md, err, errlen)) != AUTH_OK)
		goto out;
	if ((ret = auth_db_finish(db, err, errlen)) != AUTH_OK)
		goto out;
	EVP_DigestFinal_ex(md, digest, NULL);
	for (int i = 0; i < 32; i++)
		snprintf(db->fingerprint + 2 * i, 3, "%02x", digest[i]);
	*out = db;
	db = NULL;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	auth_db_unref(db);
	return ret;
}

const char *auth_db_fingerprint(const struct auth_db *db)
{
	return db->fingerprint;
}

struct auth_db *auth_db_new_default(void)
{
	static const char vhost[] = "vhost /\npermissions guest .* .* .*\n";
	struct auth_db *db = auth_db_new();
	char users[sizeof(guest_hash) + 32], err[256];

	snprintf(users, sizeof(users), "guest:%s:administrator\n", guest_hash);
	if (auth_db_parse_users(db, "default", (const uint8_t *)users, strlen(users), err,
	        sizeof(err)) != AUTH_OK ||
	    auth_db_parse_vhost(db, "default", (const uint8_t *)vhost, strlen(vhost), err,
	        sizeof(err)) != AUTH_OK ||
	    auth_db_finish(db, err, sizeof(err)) != AUTH_OK) {
		fprintf(stderr, "auth: the default database: %s\n", err);
		abort();
	}
	return db;
}

size_t auth_db_user_count(const struct auth_db *db)
{
	return db->nusers;
}

bool auth_user_exists(const struct auth_db *db, struct amqp_bytes user)
{
	return auth_user_find(db, user) != NULL;
}

bool auth_user_may_log_in(const struct auth_db *db, struct amqp_bytes user)
{
	const struct auth_user *u = auth_user_find(db, user);

	return u != NULL && u->kind != AUTH_PW_LOCKED;
}

bool auth_user_has_tag(const struct auth_db *db, struct amqp_bytes user, const char *tag)
{
	const struct auth_user *u = auth_user_find(db, user);
	size_t n = strlen(tag);
	const char *p, *comma;

	if (u == NULL || n == 0)
		return false;
	for (p = u->tags; *p != '\0'; p = *comma != '\0' ? comma + 1 : comma) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		if ((size_t)(comma - p) == n && memcmp(p, tag, n) == 0)
			return true;
	}
	return false;
}

size_t auth_db_vhost_count(const struct auth_db *db)
{
	return db->nvhosts;
}

struct amqp_bytes auth_db_vhost_name(const struct auth_db *db, size_t i)
{
	if (i >= db->nvhosts)
		return (struct amqp_bytes){ NULL, 0 };
	return (struct amqp_bytes){ (const uint8_t *)db->vhosts[i]->name, db->vhosts[i]->namelen };
}

bool auth_vhost_exists(const struct auth_db *db, struct amqp_bytes vhost)
{
	return auth_vhost_find(db, vhost) != NULL;
}

int auth_db_check_password(const struct auth_db *db, const struct auth_credentials *c)
{
	const struct auth_user *u = auth_user_find(db, c->user);
	bool real = u != NULL && u->kind == AUTH_PW_SCRYPT;
	int r;

	/* The same work whatever the user: an unknown or locked one verifies the dummy. */
	r = auth_verify_password(real ? u->hash : db->dummy_hash, c->password);
	if (!real || c->password.len == 0) /* RabbitMQ refuses blank passwords too */
		return AUTH_E_REFUSED;
	return r == AUTH_OK ? AUTH_OK : AUTH_E_REFUSED;
}

bool auth_db_uses_saslauthd(const struct auth_db *db, struct amqp_bytes user)
{
	const struct auth_user *u;

	if (db->backend != AUTH_BACKEND_SASLAUTHD)
		return false;
	u = auth_user_find(db, user);
	return u == NULL || u->kind == AUTH_PW_SASLAUTHD;
}

bool auth_db_verifier(const struct auth_db *db, struct amqp_bytes user, uint8_t out[32])
{
	/* SHA-256("saslauthd"): what a cached saslauthd success was checked by */
	static const uint8_t saslauthd_digest[32] = { 0xdb, 0xb4, 0xbb, 0xdd, 0x5c, 0x6c, 0x85,
		0x6b, 0xb1, 0x01, 0x58, 0x12, 0xa5, 0x75, 0xea, 0x3c, 0x91, 0x76, 0xde, 0xa2, 0xcd,
		0xf9, 0x24, 0x8f, 0x00, 0x45, 0x70, 0x49, 0xad, 0x48, 0xda, 0x36 };
	const struct auth_user *u;

	if (auth_db_uses_saslauthd(db, user)) {
		memcpy(out, saslauthd_digest, 32);
		return true;
	}
	if ((u = auth_user_find(db, user)) == NULL || u->kind != AUTH_PW_SCRYPT)
		return false;
	memcpy(out, u->digest, 32);
	return true;
}
