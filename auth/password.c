/*
 * password.c: salted slow password hashes. scrypt (RFC 7914) through OpenSSL 3's EVP_KDF, stored
 * as "$scrypt$ln=14,r=8,p=1$<salt>$<hash>" (PHC string format; base64 without padding). The
 * parser is strict (one spelling per value, canonical base64, bounded parameters) and treats the
 * string as hostile: a malformed one is AUTH_E_INVALID, never a crash or a huge allocation.
 * Passwords never outlive a call here except in the caller's buffers.
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "auth/auth_private.h"

#define SCRYPT_MAXMEM (256u << 20)

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 without padding into out (cap bytes, NUL-terminated): the length, or 0 if no room. */
static size_t b64_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
	size_t i, at = 0, need = len / 3 * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
	uint32_t v;

	if (need >= cap)
		return 0;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[at++] = b64chars[v >> 18 & 63];
		out[at++] = b64chars[v >> 12 & 63];
		out[at++] = b64chars[v >> 6 & 63];
		out[at++] = b64chars[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[at++] = b64chars[v >> 18 & 63];
		out[at++] = b64chars[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[at++] = b64chars[v >> 18 & 63];
		out[at++] = b64chars[v >> 12 & 63];
		out[at++] = b64chars[v >> 6 & 63];
	}
	out[at] = '\0';
	return at;
}

static int b64_value(char c)
{
	const char *p = c != '\0' ? strchr(b64chars, c) : NULL;

	return p != NULL ? (int)(p - b64chars) : -1;
}

/*
 * Decode len characters of unpadded base64 into out (cap bytes). Canonical only: a length that is
 * 1 mod 4 and unused low bits that are not zero are errors, so each value has one spelling.
 */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t i, at = 0, need = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
	uint32_t acc = 0;
	int bits = 0, v;

	if (len % 4 == 1 || need > cap)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64_value(in[i])) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[at++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* leftover bits must be zero */
		return -1;
	*outlen = at;
	return 0;
}

static bool params_ok(unsigned ln, unsigned r, unsigned p)
{
	if (ln < 1 || ln > 20 || r < 1 || r > 64 || p < 1 || p > 16)
		return false;
	return (uint64_t)128 * r << ln <= SCRYPT_MAXMEM; /* scrypt's V array: 128 * r * N bytes */
}

static int scrypt(
    struct amqp_bytes password, const struct auth_scrypt_params *sp, uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *ctx = NULL;
	uint64_t n = (uint64_t)1 << sp->ln, maxmem = (uint64_t)SCRYPT_MAXMEM * 2;
	uint32_t r = sp->r, p = sp->p;
	OSSL_PARAM params[7];
	int ret = AUTH_E_CRYPTO;

	if ((kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL)) == NULL)
		return AUTH_E_CRYPTO;
	if ((ctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	/* OpenSSL wants a non-const pointer but only reads the password and salt. */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD,
	    password.len > 0 ? (void *)password.ptr : (void *)"", password.len);
	params[1] =
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)sp->salt, sp->salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	params[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) != 1)
		goto out;
	ret = AUTH_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ret;
}

int auth_hash_format(const struct auth_scrypt_params *sp, char *out, size_t outlen)
{
	char salt64[128], hash64[128];
	int n;

	if (outlen > 0)
		out[0] = '\0';
	if (!params_ok(sp->ln, sp->r, sp->p) || sp->salt_len < 8 || sp->salt_len > 64 ||
	    sp->hash_len < 16 || sp->hash_len > 64)
		return AUTH_E_INVALID;
	b64_encode(sp->salt, sp->salt_len, salt64, sizeof(salt64));
	b64_encode(sp->hash, sp->hash_len, hash64, sizeof(hash64));
	n = snprintf(
	    out, outlen, "$scrypt$ln=%u,r=%u,p=%u$%s$%s", sp->ln, sp->r, sp->p, salt64, hash64);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return AUTH_E_SPACE;
	}
	return AUTH_OK;
}

int auth_hash_password_params(
    struct amqp_bytes password, unsigned ln, unsigned r, unsigned p, char *out, size_t outlen)
{
	struct auth_scrypt_params sp = { .ln = ln, .r = r, .p = p };
	int ret;

	if (outlen > 0)
		out[0] = '\0';
	if (!params_ok(ln, r, p))
		return AUTH_E_INVALID;
	sp.salt_len = AUTH_SALT_LEN;
	sp.hash_len = AUTH_HASH_LEN;
	if (RAND_bytes(sp.salt, (int)sp.salt_len) != 1)
		return AUTH_E_CRYPTO;
	if ((ret = scrypt(password, &sp, sp.hash, sp.hash_len)) != AUTH_OK)
		return ret;
	ret = auth_hash_format(&sp, out, outlen);
	OPENSSL_cleanse(&sp, sizeof(sp));
	return ret;
}

int auth_hash_password(struct amqp_bytes password, char *out, size_t outlen)
{
	return auth_hash_password_params(
	    password, AUTH_SCRYPT_LN, AUTH_SCRYPT_R, AUTH_SCRYPT_P, out, outlen);
}

/* "name=" and a decimal of at most 2 digits, no leading zero; advances *s. */
static int parse_param(const char **s, const char *name, unsigned *out)
{
	size_t nl = strlen(name);
	const char *p = *s;
	unsigned v = 0;
	int digits = 0;

	if (strncmp(p, name, nl) != 0 || p[nl] != '=')
		return -1;
	p += nl + 1;
	if (*p == '0') /* no leading zeros, and 0 is out of range for all three */
		return -1;
	while (*p >= '0' && *p <= '9' && digits < 3) {
		v = v * 10 + (unsigned)(*p - '0');
		p++;
		digits++;
	}
	if (digits == 0 || digits > 2)
		return -1;
	*out = v;
	*s = p;
	return 0;
}

int auth_hash_parse(const char *stored, struct auth_scrypt_params *out)
{
	static const char prefix[] = "$scrypt$";
	const char *s = stored, *salt, *hash, *end;

	memset(out, 0, sizeof(*out));
	if (stored == NULL || strncmp(s, prefix, sizeof(prefix) - 1) != 0)
		return AUTH_E_INVALID;
	s += sizeof(prefix) - 1;
	if (parse_param(&s, "ln", &out->ln) != 0 || *s++ != ',')
		return AUTH_E_INVALID;
	if (parse_param(&s, "r", &out->r) != 0 || *s++ != ',')
		return AUTH_E_INVALID;
	if (parse_param(&s, "p", &out->p) != 0 || *s++ != '$')
		return AUTH_E_INVALID;
	if (!params_ok(out->ln, out->r, out->p))
		return AUTH_E_INVALID;
	salt = s;
	if ((hash = strchr(salt, '$')) == NULL)
		return AUTH_E_INVALID;
	hash++;
	end = hash + strlen(hash);
	if (b64_decode(salt, (size_t)(hash - 1 - salt), out->salt, sizeof(out->salt),
	        &out->salt_len) != 0 ||
	    out->salt_len < 8)
		return AUTH_E_INVALID;
	/* A '$' in the hash part fails the alphabet check, so there are exactly five fields. */
	if (b64_decode(hash, (size_t)(end - hash), out->hash, sizeof(out->hash), &out->hash_len) !=
	        0 ||
	    out->hash_len < 16)
		return AUTH_E_INVALID;
	return AUTH_OK;
}

int auth_verify_password(const char *stored, struct amqp_bytes password)
{
	struct auth_scrypt_params sp;
	uint8_t got[64];
	int ret;

	if (stored != NULL && auth_hash_is_rabbit(stored))
		return auth_rabbit_verify(stored, password);
	if (auth_hash_parse(stored, &sp) != AUTH_OK)
		return AUTH_E_INVALID;
	if ((ret = scrypt(password, &sp, got, sp.hash_len)) != AUTH_OK)
		return ret;
	ret = CRYPTO_memcmp(got, sp.hash, sp.hash_len) == 0 ? AUTH_OK : AUTH_E_REFUSED;
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(&sp, sizeof(sp));
	return ret;
}
