/*
 * Where the Kubernetes API is and how we authenticate, per kubeAPIConfig,
 * decided as EdgeMesh decides it (cmd/edgemesh-agent/app/server.go):
 *
 *  1. kubeConfig and/or master set: that kubeconfig (its current context;
 *     token, tokenFile, client certificate and key, CA, inline *-data,
 *     insecure-skip-tls-verify), master overriding its server.
 *  2. else KUBERNETES_PORT in the environment (kubelet injects it: the
 *     "cloud" mode): the in-cluster service account, https to
 *     $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT_HTTPS.
 *  3. else ("edge" mode) the KubeEdge metaServer (http://127.0.0.1:10550);
 *     with requireAuthorization https and the service account token, then
 *     insecureSkipTLSVerify, or tlsCaFile + tlsCertFile + tlsPrivateKeyFile.
 *
 * The token file is stat()ed before every request and re-read when it
 * changed, because projected service account tokens rotate.
 * EDGEMESH_KUBE_SA_DIR overrides the service account directory (tests).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "kube_source.h"
#include "log.h"

static const char *const kube_modes[] = {
    [KUBE_MODE_INCLUSTER] = "in-cluster",
    [KUBE_MODE_KUBECONFIG] = "kubeconfig",
    [KUBE_MODE_MASTER] = "master",
    [KUBE_MODE_METASERVER] = "metaServer",
};

const char *
kube_mode_name(enum kube_mode m)
{
	if ((unsigned)m >= sizeof(kube_modes) / sizeof(kube_modes[0]))
		return "?";
	return kube_modes[m];
}

static const char *
kube_sa_dir(void)
{
	const char *d = getenv("EDGEMESH_KUBE_SA_DIR");

	return d != NULL && *d != '\0' ? d : KUBE_SA_DIR;
}

static void
kube_trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 &&
	       (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

/* Read a small file whole (at most max bytes); NUL-terminated. */
static char *
kube_read_file(const char *path, size_t max, struct stat *stp)
{
	struct stat st;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1) {
		close(fd);
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	buf = xcalloc(1, max + 1);
	while (len < max) {
		n = read(fd, buf + len, max - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*stp = st;
	return buf;
}

void
kube_client_token(struct kube_client *c)
{
	struct stat st;
	char *tok;

	if (c->token_file[0] == '\0')
		return;
	if (stat(c->token_file, &st) == -1) {
		if (c->token != NULL)
			log_warn("kube: token file %s", c->token_file);
		return;
	}
	if (c->token != NULL && st.st_ino == c->token_ino &&
	    st.st_mtim.tv_sec == c->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == c->token_mtime.tv_nsec)
		return;
	if ((tok = kube_read_file(c->token_file, KUBE_TOKEN_MAX, &st)) == NULL) {
		log_warn("kube: cannot read token file %s", c->token_file);
		return;
	}
	kube_trim(tok);
	if (c->token != NULL) {
		if (strcmp(c->token, tok) != 0)
			log_info("kube: token in %s changed; using the new one", c->token_file);
		sodium_memzero(c->token, strlen(c->token));
		free(c->token);
	}
	c->token = tok;
	c->token_ino = st.st_ino;
	c->token_mtime = st.st_mtim;
}

static void
kube_set_server(struct kube_client *c, const char *s)
{
	size_t n;

	snprintf(c->server, sizeof(c->server), "%s", s);
	n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		c->server[--n] = '\0';
}

/* A kubeconfig path is relative to the kubeconfig's directory. */
static void
kube_rel_path(char *out, size_t len, const char *kcpath, const char *p)
{
	const char *slash;

	if (p[0] == '/' || (slash = strrchr(kcpath, '/')) == NULL)
		snprintf(out, len, "%s", p);
	else
		snprintf(out, len, "%.*s/%s", (int)(slash - kcpath), kcpath, p);
}

static int
kube_b64(struct kube_blob *b, const char *s, const char *what, char *err, size_t errlen)
{
	size_t n = strlen(s), out;

	b->data = xcalloc(1, n + 1);
	if (sodium_base642bin((unsigned char *)b->data, n, s, n, " \t\r\n", &out, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0) {
		snprintf(err, errlen, "%s: not valid base64", what);
		free(b->data);
		b->data = NULL;
		return -1;
	}
	b->len = out;
	return 0;
}

static const json_t *
kube_named(const json_t *list, const char *name, const char *field)
{
	const json_t *it;
	size_t i;

	if (!json_is_array(list) || name == NULL)
		return NULL;
	json_array_foreach(list, i, it)
	{
		const char *n = json_string_value(json_object_get(it, "name"));

		if (n != NULL && strcmp(n, name) == 0)
			return json_object_get(it, field);
	}
	return NULL;
}

static const char *
kube_jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int
kube_load_kubeconfig(struct kube_client *c, const char *path, char *err, size_t errlen)
{
	struct yaml_doc *docs = NULL;
	const json_t *root, *ctx, *cluster, *user;
	const char *cur, *s;
	size_t ndocs = 0;
	char e[1024];
	int rv = -1;

	if (yaml_json_load_file(path, &docs, &ndocs, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "kubeAPIConfig.kubeConfig: %s", e);
		return -1;
	}
	if (ndocs != 1 || !json_is_object(docs[0].root)) {
		snprintf(err, errlen, "kubeAPIConfig.kubeConfig: %s: expected one YAML mapping",
			 path);
		goto out;
	}
	root = docs[0].root;
	if ((cur = kube_jstr(root, "current-context")) == NULL || *cur == '\0') {
		/* a kubeconfig with a single context may omit current-context */
		const json_t *ctxs = json_object_get(root, "contexts");

		if (json_array_size(ctxs) == 1)
			cur = kube_jstr(json_array_get(ctxs, 0), "name");
	}
	if ((ctx = kube_named(json_object_get(root, "contexts"), cur, "context")) == NULL) {
		snprintf(err, errlen, "%s: current-context %s not found in contexts", path,
			 cur ? cur : "(unset)");
		goto out;
	}
	cluster =
	    kube_named(json_object_get(root, "clusters"), kube_jstr(ctx, "cluster"), "cluster");
	if (cluster == NULL) {
		snprintf(err, errlen, "%s: context %s: cluster %s not found", path, cur,
			 kube_jstr(ctx, "cluster") ? kube_jstr(ctx, "cluster") : "(unset)");
		goto out;
	}
	user = kube_named(json_object_get(root, "users"), kube_jstr(ctx, "user"), "user");
	if ((s = kube_jstr(cluster, "server")) != NULL)
		kube_set_server(c, s);
	if (json_is_true(json_object_get(cluster, "insecure-skip-tls-verify")))
		c->insecure = true;
	if ((s = kube_jstr(cluster, "certificate-authority")) != NULL && *s)
		kube_rel_path(c->ca_file, sizeof(c->ca_file), path, s);
	if ((s = kube_jstr(cluster, "certificate-authority-data")) != NULL && *s &&
	    kube_b64(&c->ca, s, "certificate-authority-data", err, errlen) == -1)
		goto out;
	if (user != NULL) {
		if ((s = kube_jstr(user, "token")) != NULL && *s)
			c->token = xstrdup(s);
		if ((s = kube_jstr(user, "tokenFile")) != NULL && *s)
			kube_rel_path(c->token_file, sizeof(c->token_file), path, s);
		if ((s = kube_jstr(user, "client-certificate")) != NULL && *s)
			kube_rel_path(c->cert_file, sizeof(c->cert_file), path, s);
		if ((s = kube_jstr(user, "client-key")) != NULL && *s)
			kube_rel_path(c->key_file, sizeof(c->key_file), path, s);
		if ((s = kube_jstr(user, "client-certificate-data")) != NULL && *s &&
		    kube_b64(&c->cert, s, "client-certificate-data", err, errlen) == -1)
			goto out;
		if ((s = kube_jstr(user, "client-key-data")) != NULL && *s &&
		    kube_b64(&c->key, s, "client-key-data", err, errlen) == -1)
			goto out;
		if (json_object_get(user, "exec") != NULL ||
		    json_object_get(user, "auth-provider") != NULL)
			log_warnx("kube: %s: user %s: exec and auth-provider plugins are not "
				  "supported; use a token or a client certificate",
				  path, kube_jstr(ctx, "user"));
	}
	rv = 0;
out:
	yaml_json_docs_free(docs, ndocs);
	return rv;
}

int
kube_client_init(struct kube_client *c, const struct em_config *cfg, char *err, size_t errlen)
{
	const char *host, *port, *sa = kube_sa_dir();

	memset(c, 0, sizeof(*c));
	if (cfg->kube.kubeconfig[0] != '\0' || cfg->kube.master[0] != '\0') {
		c->mode = KUBE_MODE_MASTER;
		if (cfg->kube.kubeconfig[0] != '\0') {
			c->mode = KUBE_MODE_KUBECONFIG;
			if (kube_load_kubeconfig(c, cfg->kube.kubeconfig, err, errlen) == -1)
				return -1;
		}
		if (cfg->kube.master[0] != '\0')
			kube_set_server(c, cfg->kube.master);
		if (c->server[0] == '\0') {
			snprintf(err, errlen,
				 "kubeAPIConfig.kubeConfig %s: no cluster.server; "
				 "set it there or set kubeAPIConfig.master",
				 cfg->kube.kubeconfig);
			return -1;
		}
	} else if (getenv("KUBERNETES_PORT") != NULL) {
		c->mode = KUBE_MODE_INCLUSTER;
		host = getenv("KUBERNETES_SERVICE_HOST");
		if ((port = getenv("KUBERNETES_SERVICE_PORT_HTTPS")) == NULL)
			port = getenv("KUBERNETES_SERVICE_PORT");
		if (host == NULL || *host == '\0' || port == NULL || *port == '\0') {
			snprintf(err, errlen,
				 "KUBERNETES_PORT is set (in-cluster mode) but "
				 "KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT are not; set "
				 "kubeAPIConfig.kubeConfig or kubeAPIConfig.master");
			return -1;
		}
		if (strchr(host, ':') != NULL)
			snprintf(c->server, sizeof(c->server), "https://[%s]:%s", host, port);
		else
			snprintf(c->server, sizeof(c->server), "https://%s:%s", host, port);
		snprintf(c->token_file, sizeof(c->token_file), "%s/token", sa);
		snprintf(c->ca_file, sizeof(c->ca_file), "%s/ca.crt", sa);
	} else {
		c->mode = KUBE_MODE_METASERVER;
		if (cfg->kube.require_authorization &&
		    strncmp(cfg->kube.metaserver, "http://", 7) == 0) {
			char tmp[EM_PATH_MAX];

			snprintf(tmp, sizeof(tmp), "https://%s", cfg->kube.metaserver + 7);
			kube_set_server(c, tmp);
		} else
			kube_set_server(c, cfg->kube.metaserver);
		if (c->server[0] == '\0') {
			snprintf(err, errlen, "kubeAPIConfig.metaServer.server is empty");
			return -1;
		}
		if (cfg->kube.require_authorization)
			snprintf(c->token_file, sizeof(c->token_file), "%s/token", sa);
		if (strncmp(c->server, "https://", 8) == 0) {
			if (cfg->kube.insecure_skip_tls_verify)
				c->insecure = true;
			else {
				snprintf(c->ca_file, sizeof(c->ca_file), "%s",
					 cfg->kube.tls_ca_file);
				if (access(cfg->kube.tls_cert_file, R_OK) == 0 &&
				    access(cfg->kube.tls_key_file, R_OK) == 0) {
					snprintf(c->cert_file, sizeof(c->cert_file), "%s",
						 cfg->kube.tls_cert_file);
					snprintf(c->key_file, sizeof(c->key_file), "%s",
						 cfg->kube.tls_key_file);
				}
			}
		}
	}
	if (strncmp(c->server, "http://", 7) != 0 && strncmp(c->server, "https://", 8) != 0) {
		snprintf(err, errlen, "kube API server %s: must start with http:// or https://",
			 c->server);
		return -1;
	}
	if (c->ca_file[0] != '\0' && access(c->ca_file, R_OK) == -1)
		log_warn("kube: CA file %s (TLS verification will fail)", c->ca_file);
	kube_client_token(c);
	if (c->token_file[0] != '\0' && c->token == NULL)
		log_warnx("kube: no token yet in %s; requests go without one until it appears",
			  c->token_file);
	snprintf(c->desc, sizeof(c->desc), "%s %s%s%s%s", kube_mode_name(c->mode), c->server,
		 c->token != NULL || c->token_file[0] ? " token" : "",
		 c->cert_file[0] || c->cert.data ? " client-cert" : "",
		 c->insecure ? " insecure-skip-tls-verify" : "");
	return 0;
}

static void
kube_blob_free(struct kube_blob *b)
{
	if (b->data != NULL) {
		sodium_memzero(b->data, b->len);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
}

void
kube_client_free(struct kube_client *c)
{
	if (c->token != NULL) {
		sodium_memzero(c->token, strlen(c->token));
		free(c->token);
		c->token = NULL;
	}
	kube_blob_free(&c->ca);
	kube_blob_free(&c->cert);
	kube_blob_free(&c->key);
}

void
kube_client_setup(struct kube_client *c, CURL *e, struct curl_slist **hdrs)
{
	struct curl_blob b;
	char *h;
	size_t n;

	kube_client_token(c);
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (c->ca.data != NULL) {
		b = (struct curl_blob){c->ca.data, c->ca.len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (c->ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->cert.data != NULL) {
		b = (struct curl_blob){c->cert.data, c->cert.len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
	} else if (c->cert_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key.data != NULL) {
		b = (struct curl_blob){c->key.data, c->key.len, CURL_BLOB_COPY};
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
	} else if (c->key_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	if (c->token != NULL && c->token[0] != '\0') {
		n = strlen(c->token) + 32;
		h = xcalloc(1, n);
		snprintf(h, n, "Authorization: Bearer %s", c->token);
		*hdrs = curl_slist_append(*hdrs, h);
		sodium_memzero(h, n);
		free(h);
	}
}
