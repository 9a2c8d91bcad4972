/*
 * sasl.c: the SASL mechanisms PLAIN (RFC 4616) and AMQPLAIN (a field table without its length
 * holding LOGIN and PASSWORD), parsed strictly: no NUL inside a field, the authzid empty or equal to
 * the user, no trailing bytes.
 */
#include <string.h>

#include "auth/auth.h"

const char *auth_strerror(int err)
{
	switch (err) {
	case AUTH_OK: return "success";
	case AUTH_E_MALFORMED: return "malformed SASL response";
	case AUTH_E_MECHANISM: return "unsupported SASL mechanism";
	case AUTH_E_REFUSED: return "access refused";
	case AUTH_E_INVALID: return "malformed password hash or parameters";
	case AUTH_E_SPACE: return "output buffer too small";
	case AUTH_E_CRYPTO: return "OpenSSL failure";
	case AUTH_E_CONFIG: return "invalid users or vhost file";
	case AUTH_E_BUSY: return "too many password checks pending";
	case AUTH_E_SYSTEM: return "system error";
	case AUTH_E_UNAVAILABLE: return "password service unavailable";
	case AUTH_E_NOT_FOUND: return "no such user, vhost or permission";
	case AUTH_E_UNSUPPORTED: return "the users and vhost files cannot express this";
	default: return "unknown error";
	}
}

bool auth_mechanism_offered(struct amqp_bytes mechanism)
{
	return amqp_bytes_eq_cstr(mechanism, "PLAIN") || amqp_bytes_eq_cstr(mechanism, "AMQPLAIN");
}

/* PLAIN: [authzid] NUL authcid NUL passwd, exactly two NULs. */
static int parse_plain(struct amqp_bytes r, struct auth_credentials *out)
{
	const uint8_t *nul1, *nul2, *end = r.ptr + r.len;
	struct amqp_bytes authzid;

	if (r.len == 0 || (nul1 = memchr(r.ptr, 0, r.len)) == NULL)
		return AUTH_E_MALFORMED;
	if ((nul2 = memchr(nul1 + 1, 0, (size_t)(end - nul1 - 1))) == NULL)
		return AUTH_E_MALFORMED;
	if (memchr(nul2 + 1, 0, (size_t)(end - nul2 - 1)) != NULL) /* a NUL inside the password */
		return AUTH_E_MALFORMED;
	authzid = (struct amqp_bytes){ r.ptr, (size_t)(nul1 - r.ptr) };
	out->user = (struct amqp_bytes){ nul1 + 1, (size_t)(nul2 - nul1 - 1) };
	out->password = (struct amqp_bytes){ nul2 + 1, (size_t)(end - nul2 - 1) };
	if (out->user.len == 0)
		return AUTH_E_MALFORMED;
	if (authzid.len != 0 && !amqp_bytes_eq(authzid, out->user)) /* no acting as another user */
		return AUTH_E_MALFORMED;
	return 0;
}

/* AMQPLAIN: table entries (no length prefix) with LOGIN and PASSWORD as long strings. */
static int parse_amqplain(struct amqp_bytes r, struct auth_credentials *out)
{
	struct amqp_arena pool;
	struct amqp_table t;
	const struct amqp_field_value *login, *pass;
	int ret = AUTH_E_MALFORMED;

	amqp_arena_init(&pool);
	if (amqp_table_decode(r, &pool, &t) != 0)
		goto out;
	login = amqp_table_get(&t, "LOGIN");
	pass = amqp_table_get(&t, "PASSWORD");
	if (login == NULL || pass == NULL || login->type != AMQP_FIELD_LONGSTR ||
	    pass->type != AMQP_FIELD_LONGSTR)
		goto out;
	/* The slices point into r, not into the pool, so they outlive the reset below. */
	out->user = login->v.bytes;
	out->password = pass->v.bytes;
	if (out->user.len == 0 || memchr(out->user.ptr, 0, out->user.len) != NULL ||
	    (out->password.len > 0 && memchr(out->password.ptr, 0, out->password.len) != NULL))
		goto out;
	ret = 0;
out:
	amqp_arena_reset(&pool);
	return ret;
}

int auth_parse_response(
    struct amqp_bytes mechanism, struct amqp_bytes response, struct auth_credentials *out)
{
	memset(out, 0, sizeof(*out));
	if (amqp_bytes_eq_cstr(mechanism, "PLAIN"))
		return parse_plain(response, out);
	if (amqp_bytes_eq_cstr(mechanism, "AMQPLAIN"))
		return parse_amqplain(response, out);
	return AUTH_E_MECHANISM;
}

/* Compare in time that depends only on the lengths, never on where the bytes differ. */
static bool const_eq(struct amqp_bytes a, const char *b)
{
	size_t blen = strlen(b), i;
	unsigned diff = a.len != blen;

	for (i = 0; i < a.len; i++)
		diff |= (unsigned)(a.ptr[i] ^ (uint8_t)b[i < blen ? i : 0]);
	return diff == 0;
}

int auth_check_password(const struct auth_credentials *c)
{
	bool user_ok = const_eq(c->user, "guest");
	bool pass_ok = const_eq(c->password, "guest");

	return user_ok && pass_ok ? AUTH_OK : AUTH_E_REFUSED;
}

bool auth_user_loopback_only(struct amqp_bytes user)
{
	return amqp_bytes_eq_cstr(user, "guest");
}
