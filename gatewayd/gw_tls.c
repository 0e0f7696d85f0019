/*
 * TLS termination with OpenSSL: one SSL_CTX per Gateway server, built from
 * the Secret's PEM (tls.crt with its chain, tls.key, ca.crt) and rebuilt
 * when the PEM or the mode changes.  TLS 1.2 is the minimum (EdgeMesh's
 * unset minProtocolVersion meant TLS 1.0 only).  SNI picks among the
 * servers on the same port by host.  MUTUAL (or, as in EdgeMesh, no mode
 * with a ca.crt) requires a client certificate that chains to ca.crt.
 */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/socket.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gatewayd.h"
#include "log.h"

struct tls_entry {
	char *cert, *key, *ca, *mode;
	SSL_CTX *ctx;
};

static struct hmap *tls_cache;
static struct gw *tls_gw;

static void
tls_entry_free(void *v)
{
	struct tls_entry *e = v;

	free(e->cert);
	free(e->key);
	free(e->ca);
	free(e->mode);
	if (e->ctx != NULL)
		SSL_CTX_free(e->ctx);
	free(e);
}

void
gw_tls_flush_cache(void)
{
	if (tls_cache != NULL)
		hmap_free(tls_cache, tls_entry_free);
	tls_cache = NULL;
}

static const char *
ssl_err(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (e == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	return buf;
}

static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
	const struct em_gateway *gw = NULL;
	const struct em_gw_server *sv;
	uint16_t port = (uint16_t)(uintptr_t)SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx;

	if (name == NULL || tls_gw == NULL)
		return SSL_TLSEXT_ERR_OK;
	gw_gateways_refresh(tls_gw);
	sv = gw_server_for_host(tls_gw->gws, tls_gw->ngws, port, name, 1, &gw);
	if (sv == NULL || (ctx = gw_tls_ctx(gw, sv)) == NULL)
		return SSL_TLSEXT_ERR_OK; /* keep the default server */
	if (ctx != SSL_get_SSL_CTX(ssl)) {
		SSL_set_SSL_CTX(ssl, ctx);
		SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), NULL);
	}
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
tls_build(const struct em_gateway *gw, const struct em_gw_server *sv)
{
	SSL_CTX *ctx;
	BIO *bio = NULL;
	X509 *x;
	EVP_PKEY *pk = NULL;
	X509_STORE *st;
	int mutual, nca = 0;
	static const unsigned char sid[] = "edgemesh-gatewayd";

	mutual = strcasecmp(sv->tls_mode, "MUTUAL") == 0 ||
		 (sv->tls_mode[0] == '\0' && sv->ca_pem[0] != '\0');
	if (sv->cert_pem[0] == '\0' || sv->key_pem[0] == '\0') {
		log_warnx_once(sv->credential,
			       "gateway %s/%s port %u: Secret %s/%s has no "
			       "tls.crt/tls.key (or does not exist): TLS connections are refused",
			       gw->ns, gw->name, sv->port, gw->ns, sv->credential);
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new: %s", ssl_err());
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);

	bio = BIO_new_mem_buf(sv->cert_pem, -1);
	if (bio == NULL || (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		goto bad;
	if (SSL_CTX_use_certificate(ctx, x) != 1) {
		X509_free(x);
		goto bad;
	}
	X509_free(x);
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
		if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) {
			X509_free(x);
			goto bad;
		}
	ERR_clear_error();
	BIO_free(bio);
	bio = BIO_new_mem_buf(sv->key_pem, -1);
	if (bio == NULL || (pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1)
		goto bad;
	EVP_PKEY_free(pk);
	pk = NULL;
	BIO_free(bio);
	bio = NULL;
	if (mutual) {
		st = SSL_CTX_get_cert_store(ctx);
		if (sv->ca_pem[0] != '\0' && (bio = BIO_new_mem_buf(sv->ca_pem, -1)) != NULL) {
			while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
				if (X509_STORE_add_cert(st, x) == 1)
					nca++;
				X509_free(x);
			}
			ERR_clear_error();
			BIO_free(bio);
			bio = NULL;
		}
		if (nca == 0) {
			log_warnx("gateway %s/%s port %u: mode MUTUAL but Secret %s/%s has no "
				  "usable ca.crt: TLS connections are refused",
				  gw->ns, gw->name, sv->port, gw->ns, sv->credential);
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	log_info("gateway %s/%s port %u: TLS %s with Secret %s/%s", gw->ns, gw->name, sv->port,
		 mutual ? "MUTUAL" : "SIMPLE", gw->ns, sv->credential);
	return ctx;
bad:
	log_warnx("gateway %s/%s port %u: Secret %s/%s: bad certificate or key: %s", gw->ns,
		  gw->name, sv->port, gw->ns, sv->credential, ssl_err());
	if (pk != NULL)
		EVP_PKEY_free(pk);
	if (bio != NULL)
		BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

static int
streq(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") == 0;
}

SSL_CTX *
gw_tls_ctx(const struct em_gateway *gw, const struct em_gw_server *sv)
{
	struct tls_entry *e;
	char key[EM_KEY_LEN + 32];

	snprintf(key, sizeof(key), "%s/%s#%zu", gw->ns, gw->name, (size_t)(sv - gw->servers));
	if (tls_cache == NULL)
		tls_cache = hmap_new();
	e = hmap_get(tls_cache, key);
	if (e != NULL && streq(e->cert, sv->cert_pem) && streq(e->key, sv->key_pem) &&
	    streq(e->ca, sv->ca_pem) && streq(e->mode, sv->tls_mode))
		return e->ctx;
	if (e != NULL)
		tls_entry_free(hmap_del(tls_cache, key));
	e = xcalloc(1, sizeof(*e));
	e->cert = xstrdup(sv->cert_pem);
	e->key = xstrdup(sv->key_pem);
	e->ca = xstrdup(sv->ca_pem);
	e->mode = xstrdup(sv->tls_mode);
	e->ctx = tls_build(gw, sv); /* NULL is cached too: warned once */
	hmap_put(tls_cache, key, e);
	return e->ctx;
}

SSL *
gw_tls_new(struct gw *g, const struct em_gateway *gw, const struct em_gw_server *sv, uint16_t port,
	   int fd)
{
	const struct em_gateway *dgw = NULL;
	const struct em_gw_server *dsv;
	SSL_CTX *ctx;
	SSL *ssl;

	tls_gw = g;
	/* the default server: a "*" one, else the first TLS server on the port */
	if ((dsv = gw_server_for_host(g->gws, g->ngws, port, NULL, 1, &dgw)) != NULL) {
		gw = dgw;
		sv = dsv;
	}
	if ((ctx = gw_tls_ctx(gw, sv)) == NULL)
		return NULL;
	if ((ssl = SSL_new(ctx)) == NULL)
		fatalx("SSL_new: %s", ssl_err());
	SSL_set_app_data(ssl, (void *)(uintptr_t)port);
	if (SSL_set_fd(ssl, fd) != 1)
		fatalx("SSL_set_fd: %s", ssl_err());
	SSL_set_accept_state(ssl);
	return ssl;
}

int
gw_tls_status(struct ssl_st *ssl, int r, int reading)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return RELAY_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return RELAY_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return reading ? 0 : -1;
	case SSL_ERROR_SYSCALL: /* a close without close_notify is an EOF too */
		return reading && ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET) ? 0
											       : -1;
	default:
		return -1;
	}
}

/*
 * A terminated session's I/O, for the HTTP phases and as a relay end:
 * >0 bytes, 0 EOF (close_notify, or a close without it), -1 error,
 * RELAY_WANT_READ / RELAY_WANT_WRITE when OpenSSL needs the socket.
 */
ssize_t
gw_tls_read(void *ssl, char *p, size_t n)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_read(ssl, p, (int)(n > 65536 ? 65536 : n))) > 0)
		return r;
	return gw_tls_status(ssl, r, 1);
}

ssize_t
gw_tls_write(void *ssl, const char *p, size_t n)
{
	int r;

	ERR_clear_error();
	if ((r = SSL_write(ssl, p, (int)(n > 65536 ? 65536 : n))) > 0)
		return r;
	return gw_tls_status(ssl, r, 0);
}

/* close_notify (best effort), then our FIN */
static void
gw_tls_shutdown(void *arg)
{
	SSL *ssl = arg;

	ERR_clear_error();
	SSL_shutdown(ssl);
	shutdown(SSL_get_fd(ssl), SHUT_WR);
}

static size_t
gw_tls_pending(void *arg)
{
	return (size_t)SSL_pending(arg);
}

const struct relay_io gw_tls_io = {gw_tls_read, gw_tls_write, gw_tls_shutdown, gw_tls_pending};
