/*
 * 12-tls: amqps end to end with librabbitmq's SSL socket and certificates the test makes with the
 * openssl command: a CA, a server certificate for 127.0.0.1, client certificates (valid, expired,
 * from an unknown CA). PLAIN over TLS works; a client refuses a server certificate from a CA it
 * does not trust; warrend refuses expired and unknown client certificates; EXTERNAL logs in with
 * a valid one, and is offered only where certificates are verified; TLS below 1.2 is refused.
 * Warren-only: the oracle has no amqps listener.
 */
#include <amqp_ssl_socket.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"

#define SKIP_IN_ORACLE()                                                                    \
	do {                                                                                \
		if (getenv("WARREN_TEST_BROKER") != NULL) {                                 \
			harness_skip(                                                       \
			    tcase_name(), "Warren only (no amqps listener on the oracle)"); \
			return;                                                             \
		}                                                                           \
	} while (0)

static char pki[64]; /* the directory holding the certificates */

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Run a shell command (openssl), quietly; it must succeed. */
static void sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	ck_assert_msg(r == 0, "command failed (%d): %s", r, cmd);
}

/* Make a CA, a server certificate and client certificates in pki/. */
static void make_pki(void)
{
	char tmpl[] = "/tmp/warren-pki-XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(pki, sizeof(pki), "%s", tmpl);
	sh("cd %s && exec >/dev/null 2>&1 && "
	   "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3 -subj "
	   "'/CN=Warren Test CA' && "
	   "openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.crt -days "
	   "3 -subj '/CN=Other CA' && "
	   "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext && "
	   "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "
	   "'/CN=127.0.0.1' && "
	   "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out "
	   "server.crt -days 3 -extfile san.ext && "
	   "openssl req -newkey rsa:2048 -nodes -keyout guest.key -out guest.csr -subj '/CN=guest' "
	   "&& "
	   "openssl x509 -req -in guest.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out "
	   "guest.crt -days 3 && "
	   "openssl x509 -req -in guest.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial "
	   "-out stranger.crt -days 3 && "
	   "mkdir -p db && : > db/index && echo 1000 > db/serial && "
	   "printf "
	   "'[ca]\\ndefault_ca=d\\n[d]\\ndatabase=db/index\\nserial=db/serial\\nnew_certs_dir=db\\n"
	   "default_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf && "
	   "openssl ca -batch -config ca.cnf -cert ca.crt -keyfile ca.key -in guest.csr -out "
	   "expired.crt "
	   "-startdate 20200101000000Z -enddate 20200102000000Z",
	    pki);
}

static void start(const char *verify)
{
	char conf[1024], err[256];

	if (getenv("WARREN_TEST_BROKER") != NULL)
		return;
	make_pki();
	snprintf(conf, sizeof(conf),
	    "listen_tls = 127.0.0.1:0\ntls_cert = %s/server.crt\ntls_key = %s/server.key\n"
	    "tls_ca = %s/ca.crt\ntls_verify = %s\n",
	    pki, pki, pki, verify);
	if (broker_spawn_config(&broker, conf, err, sizeof(err)) != 0)
		ck_abort_msg("cannot start warrend: %s", err);
	ck_assert_int_gt(broker.tls_port, 0);
}

static void start_optional(void)
{
	start("optional");
}

static void start_required(void)
{
	start("required");
}

static void stop(void)
{
	int status;

	if (broker.pid == 0)
		return;
	broker_terminate(&broker, 5000, &status);
	broker_cleanup(&broker);
	sh("rm -rf %s", pki);
}

/* Open an amqps socket: ca (NULL: no verification of the server), client cert (NULL: none). */
static amqp_connection_state_t tls_open(const char *ca, const char *cert, bool old_tls, int *status)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_ssl_socket_new(c);
	char cap[128], crt[128], key[128];
	struct timeval tv = { 5, 0 };

	ck_assert_ptr_nonnull(s);
	if (ca != NULL) {
		snprintf(cap, sizeof(cap), "%s/%s", pki, ca);
		ck_assert_int_eq(amqp_ssl_socket_set_cacert(s, cap), AMQP_STATUS_OK);
		amqp_ssl_socket_set_verify_peer(s, 1);
		amqp_ssl_socket_set_verify_hostname(s, 0);
	} else {
		amqp_ssl_socket_set_verify_peer(s, 0);
		amqp_ssl_socket_set_verify_hostname(s, 0);
	}
	if (cert != NULL) {
		snprintf(crt, sizeof(crt), "%s/%s.crt", pki, cert);
		snprintf(
		    key, sizeof(key), "%s/guest.key", pki); /* every client cert uses guest.key */
		ck_assert_int_eq(amqp_ssl_socket_set_key(s, crt, key), AMQP_STATUS_OK);
	}
	if (old_tls)
		amqp_ssl_socket_set_ssl_versions(s, AMQP_TLSv1, AMQP_TLSv1_1);
	*status = amqp_socket_open_noblock(s, broker.host, broker.tls_port, &tv);
	return c;
}

static amqp_rpc_reply_t login(amqp_connection_state_t c, bool external)
{
	if (external)
		return amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_EXTERNAL, "guest");
	return amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
}

START_TEST(plain_login_over_tls)
{
	amqp_connection_state_t c;
	int status;

	SKIP_IN_ORACLE();
	c = tls_open("ca.crt", NULL, false, &status);
	ck_assert_int_eq(status, AMQP_STATUS_OK);
	ck_assert_int_eq(login(c, false).reply_type, AMQP_RESPONSE_NORMAL);
	ck_assert_ptr_nonnull(amqp_channel_open(c, 1));
	declare_queue(c, 1, "tls-q");
	publish_confirmed(c, 1, "", "tls-q", NULL, "over tls");
	expect_get(c, 1, "tls-q", "over tls");
	client_close(c);
}
END_TEST

START_TEST(server_cert_from_unknown_ca_refused_by_client)
{
	amqp_connection_state_t c;
	int status;

	SKIP_IN_ORACLE();
	c = tls_open("other-ca.crt", NULL, false, &status);
	ck_assert_int_ne(status, AMQP_STATUS_OK);
	amqp_destroy_connection(c);
}
END_TEST

START_TEST(external_login_with_client_cert)
{
	amqp_connection_state_t c;
	int status;

	SKIP_IN_ORACLE();
	c = tls_open("ca.crt", "guest", false, &status);
	ck_assert_int_eq(status, AMQP_STATUS_OK);
	ck_assert_int_eq(login(c, true).reply_type, AMQP_RESPONSE_NORMAL);
	ck_assert_ptr_nonnull(amqp_channel_open(c, 1));
	client_close(c);
}
END_TEST

/* An expired or unknown certificate is refused: the handshake or the first read fails. */
static void expect_cert_refused(const char *cert)
{
	amqp_connection_state_t c;
	int status;

	c = tls_open("ca.crt", cert, false, &status);
	if (status == AMQP_STATUS_OK) /* TLS 1.3 reports a refused client certificate on read */
		ck_assert_int_ne(login(c, false).reply_type, AMQP_RESPONSE_NORMAL);
	amqp_destroy_connection(c);
}

START_TEST(expired_client_cert_refused)
{
	SKIP_IN_ORACLE();
	expect_cert_refused("expired");
}
END_TEST

START_TEST(client_cert_from_unknown_ca_refused)
{
	SKIP_IN_ORACLE();
	expect_cert_refused("stranger");
}
END_TEST

START_TEST(tls_below_1_2_refused)
{
	amqp_connection_state_t c;
	int status;

	SKIP_IN_ORACLE();
	c = tls_open("ca.crt", NULL, true, &status);
	if (status == AMQP_STATUS_OK)
		ck_assert_int_ne(login(c, false).reply_type, AMQP_RESPONSE_NORMAL);
	amqp_destroy_connection(c);
}
END_TEST

START_TEST(external_not_offered_on_plain_listener)
{
	amqp_connection_state_t c = amqp_new_connection();
	amqp_socket_t *s = amqp_tcp_socket_new(c);

	SKIP_IN_ORACLE();
	ck_assert_int_eq(amqp_socket_open(s, broker.host, broker.port), AMQP_STATUS_OK);
	ck_assert_int_ne(login(c, true).reply_type, AMQP_RESPONSE_NORMAL);
	amqp_destroy_connection(c);
}
END_TEST

START_TEST(required_mode_refuses_no_cert)
{
	SKIP_IN_ORACLE();
	expect_cert_refused(NULL);
}
END_TEST

START_TEST(required_mode_accepts_valid_cert)
{
	amqp_connection_state_t c;
	int status;

	SKIP_IN_ORACLE();
	c = tls_open("ca.crt", "guest", false, &status);
	ck_assert_int_eq(status, AMQP_STATUS_OK);
	ck_assert_int_eq(login(c, true).reply_type, AMQP_RESPONSE_NORMAL);
	client_close(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("12-tls");
	TCase *tc = tcase_create("optional client certificates");

	tcase_add_unchecked_fixture(tc, start_optional, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, plain_login_over_tls);
	tcase_add_test(tc, server_cert_from_unknown_ca_refused_by_client);
	tcase_add_test(tc, external_login_with_client_cert);
	tcase_add_test(tc, expired_client_cert_refused);
	tcase_add_test(tc, client_cert_from_unknown_ca_refused);
	tcase_add_test(tc, tls_below_1_2_refused);
	tcase_add_test(tc, external_not_offered_on_plain_listener);
	suite_add_tcase(s, tc);
	tc = tcase_create("required client certificates");
	tcase_add_unchecked_fixture(tc, start_required, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, required_mode_refuses_no_cert);
	tcase_add_test(tc, required_mode_accepts_valid_cert);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
