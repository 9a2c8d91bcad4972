/*
 * auth.h: authentication and authorization. Parses the SASL responses of the mechanisms Warren
 * offers (PLAIN, AMQPLAIN) with strict bounds, and checks credentials against the user store.
 * Strings returned by the parsers are slices into the caller's response buffer.
 */
#ifndef WARREN_AUTH_H
#define WARREN_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "amqp/amqp.h"

enum auth_err {
	AUTH_OK = 0,
	AUTH_E_MALFORMED = -1, /* the response does not parse for its mechanism */
	AUTH_E_MECHANISM = -2, /* a mechanism Warren does not offer */
	AUTH_E_REFUSED = -3,   /* unknown user or wrong password: the same answer for both */
};

const char *auth_strerror(int err);

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
 * Check credentials against the built-in user store (guest/guest until the users file of the
 * security issue). The comparison takes the same time whether or not the user exists.
 */
int auth_check_password(const struct auth_credentials *c);
/* True if user may connect only from loopback (guest, as in RabbitMQ). */
bool auth_user_loopback_only(struct amqp_bytes user);

#endif /* WARREN_AUTH_H */
