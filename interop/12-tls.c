/*
 * 12-tls: amqps end to end with librabbitmq's SSL socket and certificates the test makes with the
 * openssl command: a CA, a server certificate for 127.0.0.1, client certificates (valid, expired,
 * from an unknown CA). PLAIN over TLS works; a client refuses a server certificate from a CA it
 * does not trust; warrend refuses expired and unknown client certificates; EXTERNAL logs in with
 * a valid one, and is offered only where certificates are verified; TLS below 1.2 is refused.
 * Certificate reloads: with a second CA and a server certificate from it written over the files
 * warrend started with, a client that trusts only the new CA fails until warrend reloads
 * (warrenctl reload or SIGHUP) and succeeds after, while a connection opened before carries on;
 * a key that does not load is refused by the reload, and the certificate in force stays.
 * Warren-only: the oracle has no amqps listener.
 */
#include <amqp_ssl_socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "interop/client.h"

#ifndef WARRENCTL_PATH
#error "build with -DWARRENCTL_PATH='\"/path/to/warrenctl\"'"
#endif

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

/* A second CA and a server certificate for 127.0.0.1 from it: what a reload puts in force. */
static void make_second_ca(void)
{
	sh("cd %s && exec >/dev/null 2>&1 && "
	   "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca2.key -out ca2.crt -days 3 -subj "
	   "'/CN=Warren Test CA 2' && "
	   "openssl req -newkey rsa:2048 -nodes -keyout server2.key -out server2.csr -subj "
	   "'/CN=127.0.0.1' && "
	   "openssl x509 -req -in server2.csr -CA ca2.crt -CAkey ca2.key -CAcreateserial -out "
	   "server2.crt -days 3 -extfile san.ext",
	    pki);
}

/* Write name's contents over the file warrend reads, by rename (never half a file). */
static void install(const char *from, const char *to)
{
	sh("cd %s && cp %s .%s.tmp && mv .%s.tmp %s", pki, from, to, to, to);
}

static void start_with(const char *verify, const char *extra)
{
	char conf[1024], err[256];

	if (getenv("WARREN_TEST_BROKER") != NULL)
		return;
	make_pki();
	snprintf(conf, sizeof(conf),
	    "listen_tls = 127.0.0.1:0\ntls_cert = %s/server.crt\ntls_key = %s/server.key\n"
	    "tls_ca = %s/ca.crt\ntls_verify = %s\n%s",
	    pki, pki, pki, verify, extra);
	if (broker_spawn_config(&broker, conf, err, sizeof(err)) != 0)
		ck_abort_msg("cannot start warrend: %s", err);
	ck_assert_int_gt(broker.tls_port, 0);
}

static void start(const char *verify)
{
	start_with(verify, "");
}

static void start_optional(void)
{
	start("optional");
}

/* EXTERNAL names the user by the certificate's first e-mail subjectAltName. */
static void start_san(void)
{
	start_with("optional", "tls_login_name = san_email\n");
	if (getenv("WARREN_TEST_BROKER") == NULL) /* CN "nobody", e-mail SAN "guest" */
		sh("cd %s && exec >/dev/null 2>&1 && "
		   "openssl req -new -key guest.key -out sanmail.csr -subj '/CN=nobody' && "
		   "printf 'subjectAltName=email:guest\\n' > sanmail.ext && "
		   "openssl x509 -req -in sanmail.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
		   "-out "
		   "sanmail.crt -days 3 -extfile sanmail.ext",
		    pki);
}

static void start_required(void)
{
	start("required");
}

static void start_reload(void)
{
	start("optional");
	if (getenv("WARREN_TEST_BROKER") == NULL)
		make_second_ca();
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

/* ---- The PROXY protocol before TLS (proxy_protocol = true) ---- */

static void start_proxy(void)
{
	start_with("optional", "proxy_protocol = true\nhandshake_timeout = 2\n");
}

/*
 * A TLS client (OpenSSL's, not librabbitmq's, which cannot write before its handshake) that sends
 * hdr first, as HAProxy's send-proxy in front of an amqps listener: true when the handshake
 * succeeds and connection.start (a method frame) follows the AMQP protocol header.
 */
static bool tls_start_in(
    SSL_CTX *ctx, const char *hdr, SSL_SESSION *resume, SSL_SESSION **kept, bool *reused)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)broker.tls_port) };
	SSL *ssl;
	unsigned char frame[8];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	ck_assert_int_eq(inet_pton(AF_INET, broker.host, &a.sin_addr), 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 5, 0 }, sizeof(struct timeval));
	if (hdr != NULL)
		ck_assert_int_eq(send(fd, hdr, strlen(hdr), 0), (ssize_t)strlen(hdr));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (resume != NULL)
		ck_assert_int_eq(SSL_set_session(ssl, resume), 1);
	ok = SSL_connect(ssl) == 1 && SSL_write(ssl, "AMQP\0\0\x09\x01", 8) == 8 &&
	    SSL_read(ssl, frame, sizeof(frame)) > 0 && frame[0] == 1;
	if (reused != NULL)
		*reused = SSL_session_reused(ssl) == 1;
	if (kept != NULL) /* after a read: TLS 1.3's ticket comes after the handshake */
		*kept = SSL_get1_session(ssl);
	if (ok)
		SSL_shutdown(ssl); /* a session closed without close_notify is not resumable */
	SSL_free(ssl);
	close(fd);
	return ok;
}

static bool proxied_tls_start(const char *hdr)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	bool ok;

	ck_assert_ptr_nonnull(ctx);
	ok = tls_start_in(ctx, hdr, NULL, NULL, NULL);
	SSL_CTX_free(ctx);
	return ok;
}

/*
 * When the broker ends a TLS connection (here after a frame that is not one, during the
 * handshake, where RabbitMQ closes without an AMQP explanation), the client reads a
 * close_notify, not a bare end of the stream: OpenSSL 3, Python and Java take the latter for a
 * truncation.
 */
START_TEST(server_close_sends_close_notify)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
		.sin_port = htons((uint16_t)broker.tls_port) };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	unsigned char buf[4096];
	int fd = socket(AF_INET, SOCK_STREAM, 0), r, e, rounds = 0;
	SSL *ssl;

	ck_assert_int_eq(inet_pton(AF_INET, broker.host, &a.sin_addr), 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ 5, 0 }, sizeof(struct timeval));
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	ck_assert_int_eq(SSL_connect(ssl), 1);
	ck_assert_int_eq(SSL_write(ssl, "AMQP\0\0\x09\x01", 8), 8);
	ck_assert_int_gt(SSL_read(ssl, buf, sizeof(buf)), 0); /* connection.start */
	ck_assert_int_eq(SSL_write(ssl, "garbage!garbage!", 16), 16);
	while ((r = SSL_read(ssl, buf, sizeof(buf))) > 0 && rounds++ < 100)
		; /* whatever the broker says before it closes */
	e = SSL_get_error(ssl, r);
	ck_assert_msg(e == SSL_ERROR_ZERO_RETURN, "the stream ended without close_notify (%d: %s)",
	    e, ERR_reason_error_string(ERR_peek_error()) ?: "?");
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}
END_TEST

/*
 * A client resumes its TLS session (TLS 1.2 by session id, TLS 1.3 by ticket), as the Java
 * client does on its second connection, while the listener asks for client certificates: it once
 * got an internal_error alert (no session id context).
 */
START_TEST(session_resumed)
{
	int v;

	for (v = 0; v < 2; v++) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
		SSL_SESSION *s = NULL;
		bool reused = true;

		ck_assert_ptr_nonnull(ctx);
		SSL_CTX_set_max_proto_version(ctx, v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION);
		ck_assert(tls_start_in(ctx, NULL, NULL, &s, &reused));
		ck_assert(!reused);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(tls_start_in(ctx, NULL, s, NULL, &reused),
		    "TLS 1.%d: a resumed session was refused", v == 0 ? 2 : 3);
		ck_assert_msg(reused, "TLS 1.%d: the session was not resumed", v == 0 ? 2 : 3);
		SSL_SESSION_free(s);
		SSL_CTX_free(ctx);
	}
}
END_TEST

START_TEST(proxy_header_before_tls)
{
	SKIP_IN_ORACLE();
	ck_assert(proxied_tls_start("PROXY TCP4 10.1.2.3 127.0.0.1 40005 5671\r\n"));
	ck_assert_int_eq(broker_log_count(&broker, "10.1.2.3:40005: accepted TLS connection"), 1);
	/* Without the header the TLS handshake is taken for one, and the connection closed. */
	ck_assert(!proxied_tls_start(NULL));
	ck_assert_int_gt(broker_log_count(&broker, "not a valid PROXY protocol header"), 0);
}
END_TEST

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

START_TEST(external_login_by_san_email)
{
	amqp_connection_state_t c;
	int status;

	SKIP_IN_ORACLE();
	c = tls_open("ca.crt", "sanmail", false, &status);
	ck_assert_int_eq(status, AMQP_STATUS_OK);
	ck_assert_int_eq(login(c, true).reply_type, AMQP_RESPONSE_NORMAL);
	ck_assert_ptr_nonnull(amqp_channel_open(c, 1));
	client_close(c);
	/* A certificate without such a name (CN "guest" only) names nobody. */
	c = tls_open("ca.crt", "guest", false, &status);
	ck_assert_int_eq(status, AMQP_STATUS_OK);
	ck_assert_int_ne(login(c, true).reply_type, AMQP_RESPONSE_NORMAL);
	amqp_destroy_connection(c);
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

/* ---- certificate reloads ---- */

/* warrenctl reload for this broker: the exit status, and what it printed (both streams). */
static int ctl_reload(char *out, size_t len)
{
	FILE *p = popen(fmt("'%s' reload --data-dir '%s' 2>&1", WARRENCTL_PATH, broker.data), "r");
	size_t n;
	int st;

	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Whether a client trusting only ca can open an amqps connection and log in. */
static bool trusted_by(const char *ca)
{
	amqp_connection_state_t c;
	bool ok = false;
	int status;

	c = tls_open(ca, NULL, false, &status);
	if (status == AMQP_STATUS_OK)
		ok = login(c, false).reply_type == AMQP_RESPONSE_NORMAL;
	if (ok)
		client_close(c);
	else
		amqp_destroy_connection(c);
	return ok;
}

/* A connection under the old certificate, with a queue and a message in it. */
static amqp_connection_state_t old_connection(void)
{
	amqp_connection_state_t c;
	int status;

	c = tls_open("ca.crt", NULL, false, &status);
	ck_assert_int_eq(status, AMQP_STATUS_OK);
	ck_assert_int_eq(login(c, false).reply_type, AMQP_RESPONSE_NORMAL);
	ck_assert_ptr_nonnull(amqp_channel_open(c, 1));
	declare_queue(c, 1, "tls-reload-q");
	publish_confirmed(c, 1, "", "tls-reload-q", NULL, "before the reload");
	return c;
}

/* The connection from before the reload still works, both ways. */
static void old_connection_works(amqp_connection_state_t c)
{
	expect_get(c, 1, "tls-reload-q", "before the reload");
	publish_confirmed(c, 1, "", "tls-reload-q", NULL, "after the reload");
	expect_get(c, 1, "tls-reload-q", "after the reload");
	client_close(c);
}

START_TEST(cert_reload_with_warrenctl)
{
	amqp_connection_state_t old;
	char out[4096];

	SKIP_IN_ORACLE();
	old = old_connection();
	ck_assert(!trusted_by("ca2.crt"));
	install("server2.crt", "server.crt");
	install("server2.key", "server.key");
	ck_assert_msg(!trusted_by("ca2.crt"), "the new certificate is in force before the reload");
	ck_assert_msg(ctl_reload(out, sizeof(out)) == 0, "warrenctl reload: %s", out);
	ck_assert_msg(strstr(out,
	                  "TLS certificate changed: subject CN=127.0.0.1, issuer "
	                  "CN=Warren Test CA 2\n") != NULL,
	    "warrenctl reload printed: %s", out);
	ck_assert(trusted_by("ca2.crt"));
	ck_assert(!trusted_by("ca.crt"));
	old_connection_works(old);
	/* the same files again: a reload says the certificate is unchanged */
	ck_assert_int_eq(ctl_reload(out, sizeof(out)), 0);
	ck_assert_msg(strstr(out, "TLS certificate unchanged") != NULL, "%s", out);
}
END_TEST

START_TEST(cert_reload_with_sighup)
{
	amqp_connection_state_t old;
	int64_t deadline;
	int before;

	SKIP_IN_ORACLE();
	old = old_connection();
	ck_assert(!trusted_by("ca2.crt"));
	install("server2.crt", "server.crt");
	install("server2.key", "server.key");
	before = broker_log_count(&broker, "reloaded: ");
	ck_assert_int_eq(kill(broker.pid, SIGHUP), 0);
	/* "reloaded: " is the reload's last log line: everything is in force once it is there */
	deadline = now_ms() + 4 * WAIT_MS;
	while (broker_log_count(&broker, "reloaded: ") == before) {
		ck_assert_msg(
		    now_ms() < deadline, "no reload in the log within %d ms", 4 * WAIT_MS);
		sleep_ms(10);
	}
	ck_assert_int_eq(broker_log_count(&broker, "reload: TLS certificate changed"), 1);
	ck_assert(trusted_by("ca2.crt"));
	ck_assert(!trusted_by("ca.crt"));
	old_connection_works(old);
}
END_TEST

/* A key that does not load: the reload is refused with the file's name, the old pair stays. */
START_TEST(cert_reload_bad_key_keeps_old)
{
	char out[4096];

	SKIP_IN_ORACLE();
	sh("cd %s && printf 'not a key\\n' > .server.key.tmp && mv .server.key.tmp server.key",
	    pki);
	ck_assert_int_eq(ctl_reload(out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "reload refused, the configuration in force stays\n") != NULL &&
	        strstr(out, fmt("%s/server.key: ", pki)) != NULL,
	    "%s", out);
	ck_assert(trusted_by("ca.crt"));
	/* a certificate with the wrong key is refused too */
	install("server2.crt", "server.crt");
	install("guest.key", "server.key");
	ck_assert_int_eq(ctl_reload(out, sizeof(out)), 1);
	ck_assert_msg(
	    strstr(out, fmt("%s/server.key: key values mismatch", pki)) != NULL, "%s", out);
	ck_assert(trusted_by("ca.crt"));
	ck_assert(!trusted_by("ca2.crt"));
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
	tcase_add_test(tc, session_resumed);
	tcase_add_test(tc, server_close_sends_close_notify);
	suite_add_tcase(s, tc);
	tc = tcase_create("required client certificates");
	tcase_add_unchecked_fixture(tc, start_required, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, required_mode_refuses_no_cert);
	tcase_add_test(tc, required_mode_accepts_valid_cert);
	suite_add_tcase(s, tc);
	/* each reload test changes the broker's files: one broker each */
	tc = tcase_create("EXTERNAL by subjectAltName");
	tcase_add_unchecked_fixture(tc, start_san, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, external_login_by_san_email);
	suite_add_tcase(s, tc);
	tc = tcase_create("certificate reload: warrenctl");
	tcase_add_unchecked_fixture(tc, start_reload, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cert_reload_with_warrenctl);
	suite_add_tcase(s, tc);
	tc = tcase_create("certificate reload: SIGHUP");
	tcase_add_unchecked_fixture(tc, start_reload, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cert_reload_with_sighup);
	suite_add_tcase(s, tc);
	tc = tcase_create("PROXY protocol");
	tcase_add_unchecked_fixture(tc, start_proxy, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, proxy_header_before_tls);
	suite_add_tcase(s, tc);
	tc = tcase_create("certificate reload: bad key");
	tcase_add_unchecked_fixture(tc, start_reload, stop);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, cert_reload_bad_key_keeps_old);
	suite_add_tcase(s, tc);
	return harness_run(s);
}
