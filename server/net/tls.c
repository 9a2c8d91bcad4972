/*
 * tls.c: amqps listeners through OpenSSL: TLS 1.2 and 1.3 only, the configured certificate, key,
 * CA and ciphers, client certificates optional or required, all reloaded with the rest of the
 * configuration (reload.c: a new context is built and checked first, then put in force for new
 * connections; connections keep the context they started with). A verified client certificate
 * names the user for the SASL mechanism EXTERNAL: its subject CN, or the whole subject DN, as
 * configured.
 */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/net/net.h"

static SSL_CTX *tls_ctx; /* the context new connections get */

/* What names an EXTERNAL user (broker_config's tls_name; warren.conf is not reloaded). */
static int tls_name_rule = TLS_NAME_CN;

static void log_ssl_errors(const char *what)
{
	unsigned long e;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_error("%s: %s", what, buf);
	}
}

/*
 * "what: reason" into err from OpenSSL's first queued error (the lowest layer's: the system's
 * "No such file or directory", PEM's "no start line"); the whole queue to the debug log, cleared.
 */
static void ssl_error(const char *what, char *err, size_t errlen)
{
	unsigned long e, first = 0;
	const char *reason;
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_debug("%s: %s", what, buf);
		if (first == 0)
			first = e;
	}
	reason = first != 0 ? ERR_reason_error_string(first) : NULL;
	snprintf(err, errlen, "%s: %s", what, reason != NULL ? reason : "not accepted by OpenSSL");
}

#define SESSION_CONTEXT "warren-amqp" /* which sessions a client may resume: AMQP's */

/* Build a context from the configuration: NULL with "FILE: reason" in err if any part is wrong. */
static SSL_CTX *tls_build(const struct broker_config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int mode = SSL_VERIFY_NONE;

	if (ctx == NULL) {
		ssl_error("TLS", err, errlen);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		ssl_error(cfg->tls_cert, err, errlen);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(cfg->tls_key, err, errlen);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: not the key of the certificate in %s", cfg->tls_key,
		    cfg->tls_cert);
		goto fail;
	}
	if (cfg->tls_ciphers != NULL && SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) {
		ssl_error("tls_ciphers", err, errlen);
		goto fail;
	}
	if (cfg->tls_ciphersuites != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
		ssl_error("tls_ciphersuites", err, errlen);
		goto fail;
	}
	if (cfg->tls_ca != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
			ssl_error(cfg->tls_ca, err, errlen);
			goto fail;
		}
	}
	if (cfg->tls_verify != TLS_VERIFY_NONE) {
		mode = SSL_VERIFY_PEER;
		if (cfg->tls_verify == TLS_VERIFY_REQUIRED)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	}
	SSL_CTX_set_verify(ctx, mode, NULL);
	SSL_CTX_set_verify_depth(ctx, 8);
	/*
	 * Sessions are cached (OpenSSL's default), and with a client certificate asked for OpenSSL
	 * resumes one only under a session id context: without it, a client resuming a TLS 1.2
	 * session (the Java client does on its second connection) got an internal_error alert.
	 */
	if (SSL_CTX_set_session_id_context(
	        ctx, (const unsigned char *)SESSION_CONTEXT, sizeof(SESSION_CONTEXT) - 1) != 1) {
		ssl_error("TLS session id context", err, errlen);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_init(const struct broker_config *cfg)
{
	char err[512];

	tls_name_rule = cfg->tls_name;
	if (cfg->tls_cert == NULL)
		return 0;
	if ((tls_ctx = tls_build(cfg, err, sizeof(err))) == NULL) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

int tls_reload_load(
    const struct broker_config *cfg, struct ssl_ctx_st **out, char *err, size_t errlen)
{
	*out = NULL;
	if (cfg->tls_cert == NULL)
		return 0;
	return (*out = tls_build(cfg, err, errlen)) != NULL ? 0 : -1;
}

void tls_reload_discard(struct ssl_ctx_st *ctx)
{
	SSL_CTX_free(ctx);
}

/* The subject and issuer of a certificate, RFC 2253, for a line of text. */
static void cert_names(X509 *cert, char *out, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	out[0] = '\0';
	if (b == NULL)
		return;
	BIO_puts(b, "subject ");
	X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
	BIO_puts(b, ", issuer ");
	X509_NAME_print_ex(b, X509_get_issuer_name(cert), 0, XN_FLAG_RFC2253);
	if ((n = BIO_read(b, out, (int)len - 1)) > 0)
		out[n] = '\0';
	BIO_free(b);
}

bool tls_reload_apply(struct ssl_ctx_st *ctx, char *what, size_t len)
{
	X509 *old = tls_ctx != NULL ? SSL_CTX_get0_certificate(tls_ctx) : NULL;
	X509 *cert = SSL_CTX_get0_certificate(ctx);
	bool changed = old == NULL || cert == NULL || X509_cmp(old, cert) != 0;
	char names[512] = "";

	if (cert != NULL)
		cert_names(cert, names, sizeof(names));
	snprintf(what, len, "TLS certificate %s: %s", changed ? "changed" : "unchanged", names);
	SSL_CTX_free(tls_ctx); /* connections hold their own references */
	tls_ctx = ctx;
	return changed;
}

void tls_free(void)
{
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
}

bool tls_configured(void)
{
	return tls_ctx != NULL;
}

struct bufferevent *tls_wrap(struct event_base *base, int fd, const char *peer)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(tls_ctx)) == NULL) {
		log_ssl_errors(peer);
		evutil_closesocket(fd);
		return NULL;
	}
	/* The output's start may move between a write the socket did not take and its retry. */
	SSL_set_mode(ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	bev = bufferevent_openssl_socket_new(
	    base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_error("%s: cannot create a TLS buffer", peer);
		SSL_free(ssl);
		evutil_closesocket(fd);
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl) && SSL_shutdown(ssl) < 0)
		ERR_clear_error(); /* the socket took nothing, or the peer is gone: no matter */
}

/* The first subjectAltName of this type (GEN_EMAIL, GEN_DNS, GEN_URI) into out; its length or -1. */
static int san_name(X509 *cert, int type, char *out, size_t len)
{
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int i, n = -1;

	for (i = 0; names != NULL && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
		const ASN1_IA5STRING *s;
		if (g->type != type)
			continue;
		s = g->d.ia5; /* rfc822Name, dNSName and URI are all IA5 strings */
		if (s->length <= 0 || (size_t)s->length >= len ||
		    memchr(s->data, '\0', (size_t)s->length) != NULL)
			break; /* empty, too long or with a NUL inside: no name */
		memcpy(out, s->data, (size_t)s->length);
		out[s->length] = '\0';
		n = s->length;
		break;
	}
	GENERAL_NAMES_free(names);
	return n;
}

int tls_peer_name(struct bufferevent *bev, char *out, size_t len)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	X509 *cert;
	X509_NAME *subject;
	int n = -1;

	if (ssl == NULL || (cert = SSL_get1_peer_certificate(ssl)) == NULL)
		return -1;
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(cert);
		return -1;
	}
	subject = X509_get_subject_name(cert);
	if (tls_name_rule == TLS_NAME_SAN_EMAIL) {
		n = san_name(cert, GEN_EMAIL, out, len);
	} else if (tls_name_rule == TLS_NAME_SAN_DNS) {
		n = san_name(cert, GEN_DNS, out, len);
	} else if (tls_name_rule == TLS_NAME_SAN_URI) {
		n = san_name(cert, GEN_URI, out, len);
	} else if (tls_name_rule == TLS_NAME_DN) {
		/* RFC 2253 order and escaping, as RabbitMQ's ssl_cert_login_from = distinguished_name */
		BIO *b = BIO_new(BIO_s_mem());
		if (b != NULL && X509_NAME_print_ex(b, subject, 0, XN_FLAG_RFC2253) >= 0) {
			n = BIO_read(b, out, (int)len - 1);
			if (n >= 0)
				out[n] = '\0';
		}
		BIO_free(b);
	} else {
		n = X509_NAME_get_text_by_NID(subject, NID_commonName, out, (int)len);
	}
	X509_free(cert);
	return n > 0 ? 0 : -1;
}
