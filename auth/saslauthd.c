/*
 * saslauthd.c: passwords checked by saslauthd through Cyrus SASL (libsasl2). Each check makes a
 * server connection object and calls sasl_checkpass, which with pwcheck_method "saslauthd" sends
 * the name, the password, the service and an empty realm over saslauthd's unix socket and reads
 * "OK" or "NO". Every option libsasl2 asks for comes first from our SASL_CB_GETOPT callback, which
 * names that one method and shuts every door to an auxprop store (sasldb keeps passwords in
 * clear): auto_transition is off, so a successful check never writes a copy of the password
 * anywhere; the auxprop plugin list names no plugin; and the plugin directory and the SASL
 * configuration directory point at nothing, so no plugin is loaded and no file can change this.
 * A check blocks for a round trip to saslauthd and whatever it asks (PAM, LDAP), so the pool's
 * threads run it, each with its own connection object; libsasl2's mutexes are pthread ones.
 * Without libsasl2 (no HAVE_SASL) initialisation fails and checks say it is unavailable.
 */
#include "config.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_SASL
#include <sasl/sasl.h>
#include <sys/un.h>
#endif

#include "auth/auth_private.h"

#ifdef HAVE_SASL

/* The application name libsasl2 knows us by (it would read /etc/sasl2/warren.conf: it reads none). */
#define APPNAME "warren"
/* Not a directory: libsasl2 finds no plugins and no configuration file there. */
#define NOWHERE "/dev/null"

static struct {
	char *path, *service;
	bool ready;
} sa;

/* The options libsasl2 asks for; SASL_FAIL leaves the rest to its defaults. */
static int getopt_cb(
    void *context, const char *plugin, const char *option, const char **result, unsigned *len)
{
	const char *v;

	if (strcmp(option, "pwcheck_method") == 0)
		v = "saslauthd";
	else if (strcmp(option, "saslauthd_path") == 0)
		v = sa.path;
	else if (strcmp(option, "auto_transition") == 0)
		v = "no"; /* never copy a checked password into an auxprop store */
	else if (strcmp(option, "auxprop_plugin") == 0)
		v = "none-warren-uses-no-auxprop-store";
	else if (strcmp(option, "canon_user_plugin") == 0)
		v = "INTERNAL";
	else
		return SASL_FAIL;
	*result = v;
	if (len != NULL)
		*len = (unsigned)strlen(v);
	return SASL_OK;
}

static int getpath_cb(void *context, const char **path)
{
	*path = NOWHERE;
	return SASL_OK;
}

static int getconfpath_cb(void *context, char **path)
{
	*path = (char *)NOWHERE;
	return SASL_OK;
}

/* libsasl2's messages: a check keeps the first warning or error as its reason; others drop. */
static int log_cb(void *context, int level, const char *message)
{
	char *why = context;

	if (why != NULL && why[0] == '\0' && level <= SASL_LOG_WARN && message != NULL)
		snprintf(why, 256, "%s", message);
	return SASL_OK;
}

/* libsasl2 stores every callback as int (*)(void); void (*)(void) is C's generic function type. */
#define CB(f) ((int (*)(void))(void (*)(void))(f))

static const sasl_callback_t global_callbacks[] = {
	{ SASL_CB_GETOPT, CB(getopt_cb), NULL },
	{ SASL_CB_GETPATH, CB(getpath_cb), NULL },
	{ SASL_CB_GETCONFPATH, CB(getconfpath_cb), NULL },
	{ SASL_CB_LOG, CB(log_cb), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

static void *mutex_alloc(void)
{
	pthread_mutex_t *m = auth_xmalloc(sizeof(*m));

	pthread_mutex_init(m, NULL);
	return m;
}

static int mutex_lock(void *m)
{
	return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static int mutex_unlock(void *m)
{
	return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static void mutex_free(void *m)
{
	pthread_mutex_destroy(m);
	free(m);
}

bool auth_saslauthd_built(void)
{
	return true;
}

int auth_saslauthd_init(const struct auth_saslauthd_config *cfg, char *err, size_t errlen)
{
	const char *path = cfg->path != NULL ? cfg->path : AUTH_SASLAUTHD_PATH;
	const char *service = cfg->service != NULL ? cfg->service : AUTH_SASLAUTHD_SERVICE;
	struct sockaddr_un un;
	int r;

	if (sa.ready) {
		snprintf(err, errlen, "saslauthd: already initialised");
		return AUTH_E_SYSTEM;
	}
	if (path[0] == '\0' || strlen(path) >= sizeof(un.sun_path)) {
		snprintf(err, errlen, "saslauthd_path: 1 to %zu bytes", sizeof(un.sun_path) - 1);
		return AUTH_E_CONFIG;
	}
	sa.path = auth_xmemdup(path, strlen(path));
	sa.service = auth_xmemdup(service, strlen(service));
	sasl_set_mutex(mutex_alloc, mutex_lock, mutex_unlock, mutex_free);
	if ((r = sasl_server_init(global_callbacks, APPNAME)) != SASL_OK) {
		snprintf(err, errlen, "saslauthd: libsasl2 did not start: %s",
		    sasl_errstring(r, NULL, NULL));
		free(sa.path);
		free(sa.service);
		sa.path = sa.service = NULL;
		return AUTH_E_SYSTEM;
	}
	sa.ready = true;
	return AUTH_OK;
}

void auth_saslauthd_done(void)
{
	if (!sa.ready)
		return;
	sasl_server_done();
	free(sa.path);
	free(sa.service);
	sa.path = sa.service = NULL;
	sa.ready = false;
}

/* Whether libsasl2's user canonicalisation would give a name other than user (white space). */
static bool name_changes(struct amqp_bytes user)
{
	return user.len == 0 || isspace(user.ptr[0]) || isspace(user.ptr[user.len - 1]);
}

/* libsasl2's answers that mean "no" rather than "could not ask". */
static bool is_refusal(int r)
{
	return r == SASL_BADAUTH || r == SASL_NOUSER || r == SASL_NOAUTHZ || r == SASL_DISABLED ||
	    r == SASL_EXPIRED || r == SASL_NOVERIFY || r == SASL_BADPARAM;
}

int auth_saslauthd_check(const struct auth_credentials *c, char *why, size_t whylen)
{
	char reason[256] = "";
	sasl_callback_t callbacks[] = {
		{ SASL_CB_GETOPT, CB(getopt_cb), NULL },
		{ SASL_CB_LOG, CB(log_cb), reason },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	sasl_conn_t *conn = NULL;
	char *user = NULL, *pass = NULL;
	const void *canon = NULL;
	int r, ret = AUTH_E_REFUSED;

	if (whylen > 0)
		why[0] = '\0';
	if (!sa.ready) {
		snprintf(why, whylen, "saslauthd is not configured");
		return AUTH_E_UNAVAILABLE;
	}
	/* Refused without asking: RabbitMQ refuses blank passwords; libsasl2 takes C strings. */
	if (c->password.len == 0 || memchr(c->password.ptr, 0, c->password.len) != NULL ||
	    c->user.len > AUTH_NAME_MAX || memchr(c->user.ptr, 0, c->user.len) != NULL ||
	    name_changes(c->user) || c->password.len > 4096)
		return AUTH_E_REFUSED;
	user = auth_xmemdup(c->user.ptr, c->user.len);
	pass = auth_xmemdup(c->password.ptr, c->password.len);
	r = sasl_server_new(sa.service, "localhost", NULL, NULL, NULL, callbacks, 0, &conn);
	if (r != SASL_OK) {
		snprintf(why, whylen, "libsasl2: %s", sasl_errstring(r, NULL, NULL));
		ret = AUTH_E_UNAVAILABLE;
		goto out;
	}
	r = sasl_checkpass(conn, user, (unsigned)c->user.len, pass, (unsigned)c->password.len);
	if (r == SASL_OK) {
		/* The name saslauthd said yes to must be the one the broker will use. */
		if (sasl_getprop(conn, SASL_USERNAME, &canon) == SASL_OK && canon != NULL &&
		    strcmp(canon, user) == 0)
			ret = AUTH_OK;
	} else if (!is_refusal(r)) {
		snprintf(
		    why, whylen, "%s", reason[0] != '\0' ? reason : sasl_errstring(r, NULL, NULL));
		ret = AUTH_E_UNAVAILABLE;
	}
out:
	if (conn != NULL)
		sasl_dispose(&conn);
	OPENSSL_cleanse(pass, c->password.len);
	free(pass);
	free(user);
	return ret;
}

#else /* no libsasl2 */

bool auth_saslauthd_built(void)
{
	return false;
}

int auth_saslauthd_init(const struct auth_saslauthd_config *cfg, char *err, size_t errlen)
{
	snprintf(err, errlen, "warrend was built without Cyrus SASL (libsasl2)");
	return AUTH_E_CONFIG;
}

void auth_saslauthd_done(void)
{
}

int auth_saslauthd_check(const struct auth_credentials *c, char *why, size_t whylen)
{
	snprintf(why, whylen, "warrend was built without Cyrus SASL (libsasl2)");
	return AUTH_E_UNAVAILABLE;
}

#endif
