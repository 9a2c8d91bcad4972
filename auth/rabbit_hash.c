/*
 * rabbit_hash.c: RabbitMQ's own password hashes, so that users exported from RabbitMQ keep their
 * passwords in Warren. RabbitMQ stores base64(salt || H(salt || password)) with a 4-byte random
 * salt and H = SHA-256 (rabbit_password_hashing_sha256, its default) or SHA-512
 * (rabbit_password_hashing_sha512); Warren keeps such a hash in the users file as
 * "$rabbitmq-sha256$<base64>" or "$rabbitmq-sha512$<base64>", RabbitMQ's base64 unchanged. These
 * hashes are fast (one digest): they are accepted so that an import loses no login, and a user
 * whose password is set again through Warren gets a scrypt hash. MD5 (rabbit_password_hashing_md5)
 * is not accepted. Also the other way: a Warren hash as RabbitMQ's definitions carry it.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_private.h"

#define RABBIT_SALT 4

static const struct {
	const char *prefix;    /* in the users file */
	const char *algorithm; /* RabbitMQ's hashing_algorithm */
	size_t digest;
} kinds[] = {
	{ "$rabbitmq-sha256$", "rabbit_password_hashing_sha256", 32 },
	{ "$rabbitmq-sha512$", "rabbit_password_hashing_sha512", 64 },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))
#define SCRYPT_ALGORITHM "warren_scrypt"

/* Standard base64 with padding, canonical (re-encoding gives the same text): bytes, or -1. */
static int b64_decode_std(const char *in, size_t len, uint8_t *out, size_t cap)
{
	uint8_t tmp[256];
	char again[400];
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(tmp) || len >= sizeof(again))
		return -1;
	if ((n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len)) < 0)
		return -1;
	n -= (in[len - 1] == '=') + (in[len - 2] == '=');
	if ((size_t)n > cap || n < 0)
		return -1;
	EVP_EncodeBlock((unsigned char *)again, tmp, n);
	if (strlen(again) != len || memcmp(again, in, len) != 0)
		return -1;
	memcpy(out, tmp, (size_t)n);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return n;
}

/* The kind of a "$rabbitmq-..." stored string and its decoded bytes: the kind's index, or -1. */
static int rabbit_parse(const char *stored, uint8_t *raw, size_t cap)
{
	size_t i, pl;
	int n;

	for (i = 0; i < NKINDS; i++) {
		pl = strlen(kinds[i].prefix);
		if (strncmp(stored, kinds[i].prefix, pl) != 0)
			continue;
		n = b64_decode_std(stored + pl, strlen(stored + pl), raw, cap);
		if (n != (int)(RABBIT_SALT + kinds[i].digest))
			return -1;
		return (int)i;
	}
	return -1;
}

bool auth_hash_valid(const char *stored)
{
	struct auth_scrypt_params sp;
	uint8_t raw[RABBIT_SALT + 64];

	if (auth_hash_parse(stored, &sp) == AUTH_OK)
		return true;
	return rabbit_parse(stored, raw, sizeof(raw)) >= 0;
}

bool auth_hash_is_rabbit(const char *stored)
{
	return strncmp(stored, "$rabbitmq-", 10) == 0;
}

int auth_rabbit_verify(const char *stored, struct amqp_bytes password)
{
	uint8_t raw[RABBIT_SALT + 64], got[64];
	unsigned int glen = 0;
	EVP_MD_CTX *ctx;
	int k, ret = AUTH_E_CRYPTO;

	if ((k = rabbit_parse(stored, raw, sizeof(raw))) < 0)
		return AUTH_E_INVALID;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return AUTH_E_CRYPTO;
	if (EVP_DigestInit_ex(ctx, kinds[k].digest == 32 ? EVP_sha256() : EVP_sha512(), NULL) ==
	        1 &&
	    EVP_DigestUpdate(ctx, raw, RABBIT_SALT) == 1 &&
	    EVP_DigestUpdate(ctx, password.ptr, password.len) == 1 &&
	    EVP_DigestFinal_ex(ctx, got, &glen) == 1 && glen == kinds[k].digest)
		ret = CRYPTO_memcmp(got, raw + RABBIT_SALT, glen) == 0 ? AUTH_OK : AUTH_E_REFUSED;
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(got, sizeof(got));
	return ret;
}

int auth_rabbit_hash_import(
    const char *algorithm, const char *hash, char *out, size_t outlen, char *why, size_t whylen)
{
	uint8_t raw[AUTH_HASH_MAX];
	size_t i;
	int n;

	if (algorithm == NULL || *algorithm == '\0')
		algorithm = kinds[0].algorithm; /* RabbitMQ's default */
	if (strcmp(algorithm, SCRYPT_ALGORITHM) == 0) {
		/* Warren's own export: the stored string in base64. */
		n = b64_decode_std(hash, strlen(hash), raw, sizeof(raw) - 1);
		if (n < 0) {
			snprintf(why, whylen, "password_hash is not base64");
			return AUTH_E_INVALID;
		}
		raw[n] = '\0';
		if ((size_t)n >= outlen || memchr(raw, '\0', (size_t)n) != NULL ||
		    !auth_hash_valid((const char *)raw) || auth_hash_is_rabbit((char *)raw)) {
			snprintf(why, whylen, "password_hash is not a Warren scrypt hash");
			return AUTH_E_INVALID;
		}
		memcpy(out, raw, (size_t)n + 1);
		return AUTH_OK;
	}
	for (i = 0; i < NKINDS; i++) {
		if (strcmp(algorithm, kinds[i].algorithm) != 0)
			continue;
		n = snprintf(out, outlen, "%s%s", kinds[i].prefix, hash);
		if (n < 0 || (size_t)n >= outlen || !auth_hash_valid(out)) {
			snprintf(why, whylen,
			    "password_hash is not base64 of a 4-byte salt and a %zu-byte digest",
			    kinds[i].digest);
			out[0] = '\0';
			return AUTH_E_INVALID;
		}
		return AUTH_OK;
	}
	snprintf(why, whylen,
	    "hashing_algorithm %s cannot be verified by Warren (it verifies "
	    "rabbit_password_hashing_sha256, rabbit_password_hashing_sha512 and its own scrypt)",
	    algorithm);
	return AUTH_E_UNSUPPORTED;
}

int auth_rabbit_hash_export(const char *stored, const char **algorithm, char *out, size_t outlen)
{
	size_t i, pl, n;

	*algorithm = kinds[0].algorithm;
	if (outlen > 0)
		out[0] = '\0';
	if (stored == NULL)
		return AUTH_OK; /* no password: RabbitMQ's empty hash */
	for (i = 0; i < NKINDS; i++) {
		pl = strlen(kinds[i].prefix);
		if (strncmp(stored, kinds[i].prefix, pl) == 0) {
			*algorithm = kinds[i].algorithm;
			if (strlen(stored + pl) >= outlen)
				return AUTH_E_SPACE;
			memcpy(out, stored + pl, strlen(stored + pl) + 1);
			return AUTH_OK;
		}
	}
	n = strlen(stored);
	if ((n + 2) / 3 * 4 >= outlen)
		return AUTH_E_SPACE;
	*algorithm = SCRYPT_ALGORITHM;
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)stored, (int)n);
	return AUTH_OK;
}
