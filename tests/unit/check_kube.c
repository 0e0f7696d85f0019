/*
 * The Kubernetes API source, its pure parts (controller/kube_util.c,
 * kube_client.c) and the list/watch state machine of kube_watch.c driven
 * without a network: kube_http_get() is replaced here by a stub that
 * records the request, and the tests play the server by calling the
 * recorded data/done callbacks.  The state is the real ctl_state.c.
 *
 *	kubeconfig: token, tokenFile, client cert/key (files, inline data),
 *	  CA file/data, insecure-skip-tls-verify, current-context, relative paths
 *	mode selection: master, kubeconfig, in-cluster, metaServer (+ https)
 *	watch lines split at every byte boundary, over-long lines, garbage
 *	list pages scanned item by item
 *	relist after 410 (HTTP status and in-stream): vanished objects
 *	  deleted, unchanged ones not put again
 *	the qps/burst token bucket
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../../controller/kube_source.h"

static struct em_config cfg;

/* ---- stubs for what kube_source.c and kube_http.c provide ---- */

struct kube_req {
	int dummy;
};

static struct {
	struct ev_loop *loop;
	struct state *st;
	struct kube_client client;
	struct kube_req req;
	char path[8192];
	kube_data_cb data;
	kube_done_cb done;
	void *arg;
	int nreq, cancelled, synced;
	/* deltas */
	int nup, ndel;
	char last[EM_KEY_LEN];
} S;

struct ev_loop *
kube_loop(struct reg_kube *rk)
{
	return S.loop;
}

struct kube_http *
kube_http(struct reg_kube *rk)
{
	return NULL;
}

struct kube_client *
kube_client(struct reg_kube *rk)
{
	return &S.client;
}

struct state *
kube_state(struct reg_kube *rk)
{
	return S.st;
}

long
kube_watch_timeout(struct reg_kube *rk)
{
	return 300;
}

void
kube_dirty(struct reg_kube *rk)
{
}

void
kube_synced(struct reg_kube *rk, struct kube_watch *kw)
{
	S.synced++;
}

void
kube_cache_put(struct reg_kube *rk, const json_t *obj)
{
}

void
kube_gateway_refs(struct reg_kube *rk, const char *ns, const char *name,
		  const struct kobj_gateway *gw)
{
}

struct kube_req *
kube_http_get(struct kube_http *h, struct kube_client *c, const char *path, long stall, long total,
	      kube_data_cb data_cb, kube_done_cb done_cb, void *arg)
{
	snprintf(S.path, sizeof(S.path), "%s", path);
	S.data = data_cb;
	S.done = done_cb;
	S.arg = arg;
	S.nreq++;
	return &S.req;
}

void
kube_http_cancel(struct kube_http *h, struct kube_req *r)
{
	S.cancelled++;
}

static void
emit(void *arg, enum em_topic t, uint64_t version, const char *key, const struct pub *p)
{
	if (t != EM_TOPIC_SERVICES)
		return;
	if (p != NULL)
		S.nup++;
	else
		S.ndel++;
	snprintf(S.last, sizeof(S.last), "%s", key);
}

static void
setup(void)
{
	memset(&S, 0, sizeof(S));
	S.loop = ev_loop_new(EVFLAG_AUTO);
	S.st = state_new(&cfg, emit, NULL);
}

static void
teardown(void)
{
	state_free(S.st);
	ev_loop_destroy(S.loop);
}

/* Answer the pending request with status and body, in pieces of `step`. */
static void
respond(long status, const char *body, size_t step, int end)
{
	size_t len = strlen(body), i, n;
	kube_done_cb done = S.done;
	void *arg = S.arg;
	int rc = 0;

	for (i = 0; i < len && rc == 0; i += n) {
		n = len - i < step ? len - i : step;
		rc = S.data(arg, status, body + i, n);
	}
	if (end || rc == -1)
		done(arg, rc == -1 ? CURLE_WRITE_ERROR : CURLE_OK, status, "");
	state_commit(S.st);
}

static const struct kube_res svc_res = {
    "services", "/api/v1/services", "v1", "Service", KOBJ_SERVICE, NULL, 0, 1, NULL};

static char *
svc_json(const char *name, const char *rv, int port, int item)
{
	char *s;

	if (asprintf(&s,
		     "{%s\"metadata\":{\"namespace\":\"default\",\"name\":\"%s\","
		     "\"resourceVersion\":\"%s\"},\"spec\":{\"clusterIP\":\"10.96.0.%d\",\"ports\":"
		     "[{\"name\":\"http\",\"port\":%d,\"protocol\":\"TCP\"}]}}",
		     item ? "" : "\"apiVersion\":\"v1\",\"kind\":\"Service\",", name, rv,
		     (int)(strlen(name) % 200) + 1, port) == -1)
		abort();
	return s;
}

/* A list body of services "name:rv:port" ... NULL. */
static char *
list_json(const char *rv, const char *cont, ...)
{
	char *body = NULL, *items = strdup(""), *it, *t, name[64], irv[64];
	const char *spec;
	va_list ap;
	int port;

	va_start(ap, cont);
	while ((spec = va_arg(ap, const char *)) != NULL) {
		if (sscanf(spec, "%63[^:]:%63[^:]:%d", name, irv, &port) != 3)
			abort();
		it = svc_json(name, irv, port, 1);
		if (asprintf(&t, "%s%s%s", items, items[0] ? "," : "", it) == -1)
			abort();
		free(it);
		free(items);
		items = t;
	}
	va_end(ap);
	if (asprintf(&body,
		     "{\"kind\":\"ServiceList\",\"apiVersion\":\"v1\",\"metadata\":"
		     "{\"resourceVersion\":\"%s\"%s%s%s},\"items\":[%s]}",
		     rv, cont ? ",\"continue\":\"" : "", cont ? cont : "", cont ? "\"" : "",
		     items) == -1)
		abort();
	free(items);
	return body;
}

static char *
event_json(const char *type, const char *name, const char *rv, int port)
{
	char *o = svc_json(name, rv, port, 0), *e;

	if (asprintf(&e, "{\"type\":\"%s\",\"object\":%s}\n", type, o) == -1)
		abort();
	free(o);
	return e;
}

/* ---- kubeconfig and modes ---- */

static char tmpdir[] = "/tmp/check_kube.XXXXXX";

static void
write_file(const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
kc_setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	unsetenv("KUBERNETES_PORT");
	config_defaults(&cfg);
}

static int
kc_init(struct kube_client *c, const char *kubeconfig, char *err, size_t errlen)
{
	config_defaults(&cfg);
	snprintf(cfg.kube.kubeconfig, sizeof(cfg.kube.kubeconfig), "%s/%s", tmpdir, kubeconfig);
	return kube_client_init(c, &cfg, err, errlen);
}

START_TEST(test_kubeconfig_token_and_paths)
{
	struct kube_client c;
	char err[1024], want[600];

	kc_setup();
	write_file("kc",
		   "apiVersion: v1\nkind: Config\ncurrent-context: b\n"
		   "contexts:\n- name: a\n  context: {cluster: ca, user: ua}\n"
		   "- name: b\n  context: {cluster: cb, user: ub}\n"
		   "clusters:\n- name: ca\n  cluster: {server: 'https://a.example:1/'}\n"
		   "- name: cb\n  cluster:\n    server: https://b.example:6443/\n"
		   "    certificate-authority: pki/ca.crt\n"
		   "users:\n- name: ua\n  user: {token: wrong}\n"
		   "- name: ub\n  user:\n    token: tok-b\n    client-certificate: pki/c.crt\n"
		   "    client-key: /abs/c.key\n");
	ck_assert_int_eq(kc_init(&c, "kc", err, sizeof(err)), 0);
	ck_assert_int_eq(c.mode, KUBE_MODE_KUBECONFIG);
	ck_assert_str_eq(c.server, "https://b.example:6443"); /* current-context b */
	ck_assert_str_eq(c.token, "tok-b");
	snprintf(want, sizeof(want), "%s/pki/ca.crt", tmpdir); /* relative to the file */
	ck_assert_str_eq(c.ca_file, want);
	snprintf(want, sizeof(want), "%s/pki/c.crt", tmpdir);
	ck_assert_str_eq(c.cert_file, want);
	ck_assert_str_eq(c.key_file, "/abs/c.key");
	ck_assert(!c.insecure);
	kube_client_free(&c);
}
END_TEST

START_TEST(test_kubeconfig_inline_data_tokenfile_insecure)
{
	struct kube_client c;
	char err[1024], want[600];

	kc_setup();
	write_file("tok", "file-token\n");
	/* "Q0E=" = "CA", "Q0VSVA==" = "CERT", "S0VZ" = "KEY"; one context: no current */
	write_file("kc",
		   "contexts:\n- name: only\n  context: {cluster: c, user: u}\n"
		   "clusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\n"
		   "    certificate-authority-data: Q0E=\n    insecure-skip-tls-verify: true\n"
		   "users:\n- name: u\n  user:\n    tokenFile: tok\n"
		   "    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n");
	ck_assert_int_eq(kc_init(&c, "kc", err, sizeof(err)), 0);
	ck_assert_str_eq(c.server, "https://10.0.0.1:6443");
	ck_assert(c.insecure);
	ck_assert_uint_eq(c.ca.len, 2);
	ck_assert(memcmp(c.ca.data, "CA", 2) == 0);
	ck_assert_uint_eq(c.cert.len, 4);
	ck_assert(memcmp(c.cert.data, "CERT", 4) == 0);
	ck_assert_uint_eq(c.key.len, 3);
	ck_assert(memcmp(c.key.data, "KEY", 3) == 0);
	snprintf(want, sizeof(want), "%s/tok", tmpdir);
	ck_assert_str_eq(c.token_file, want);
	ck_assert_str_eq(c.token, "file-token"); /* read, trimmed */
	/* rotation: a new file is read again */
	write_file("tok.new", "second\n");
	{
		char a[600], b[600];

		snprintf(a, sizeof(a), "%s/tok.new", tmpdir);
		snprintf(b, sizeof(b), "%s/tok", tmpdir);
		ck_assert_int_eq(rename(a, b), 0);
	}
	kube_client_token(&c);
	ck_assert_str_eq(c.token, "second");
	kube_client_free(&c);
}
END_TEST

START_TEST(test_kubeconfig_errors)
{
	struct kube_client c;
	char err[1024];

	kc_setup();
	write_file("kc1", "current-context: nope\ncontexts:\n- name: a\n  context: {cluster: c}\n"
			  "clusters:\n- name: c\n  cluster: {server: 'https://x:1'}\n");
	ck_assert_int_eq(kc_init(&c, "kc1", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "current-context nope not found"));
	kube_client_free(&c);
	write_file("kc2", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
			  "clusters:\n- name: c\n  cluster:\n    server: https://x:1\n"
			  "    certificate-authority-data: '%%%'\n");
	ck_assert_int_eq(kc_init(&c, "kc2", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "not valid base64"));
	kube_client_free(&c);
	write_file("kc3", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
			  "clusters:\n- name: c\n  cluster: {server: 'ftp://x:1'}\n");
	ck_assert_int_eq(kc_init(&c, "kc3", err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "must start with http"));
	kube_client_free(&c);
}
END_TEST

START_TEST(test_modes)
{
	struct kube_client c;
	char err[1024], want[600];

	kc_setup();
	/* master alone */
	snprintf(cfg.kube.master, sizeof(cfg.kube.master), "http://127.0.0.1:8080/");
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(c.mode, KUBE_MODE_MASTER);
	ck_assert_str_eq(c.server, "http://127.0.0.1:8080");
	kube_client_free(&c);

	/* master overrides the kubeconfig's server */
	write_file("kc", "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c}\n"
			 "clusters:\n- name: c\n  cluster: {server: 'https://x:1'}\n");
	snprintf(cfg.kube.kubeconfig, sizeof(cfg.kube.kubeconfig), "%s/kc", tmpdir);
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(c.mode, KUBE_MODE_KUBECONFIG);
	ck_assert_str_eq(c.server, "http://127.0.0.1:8080");
	kube_client_free(&c);

	/* in-cluster: KUBERNETES_PORT, the SA token and CA */
	config_defaults(&cfg);
	write_file("token", "sa-token\n");
	setenv("EDGEMESH_KUBE_SA_DIR", tmpdir, 1);
	setenv("KUBERNETES_PORT", "tcp://10.96.0.1:443", 1);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("KUBERNETES_SERVICE_PORT_HTTPS", "443", 1);
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(c.mode, KUBE_MODE_INCLUSTER);
	ck_assert_str_eq(c.server, "https://[fd00::1]:443");
	ck_assert_str_eq(c.token, "sa-token");
	snprintf(want, sizeof(want), "%s/ca.crt", tmpdir);
	ck_assert_str_eq(c.ca_file, want);
	kube_client_free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), -1);
	kube_client_free(&c);
	unsetenv("KUBERNETES_PORT");

	/* edge: metaServer; plain http without requireAuthorization */
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(c.mode, KUBE_MODE_METASERVER);
	ck_assert_str_eq(c.server, "http://127.0.0.1:10550");
	ck_assert_ptr_null(c.token);
	kube_client_free(&c);
	/* requireAuthorization: https, the SA token, the CA or insecure */
	cfg.kube.require_authorization = true;
	snprintf(cfg.kube.tls_ca_file, sizeof(cfg.kube.tls_ca_file), "/etc/ca.crt");
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), 0);
	ck_assert_str_eq(c.server, "https://127.0.0.1:10550");
	ck_assert_str_eq(c.token, "sa-token");
	ck_assert_str_eq(c.ca_file, "/etc/ca.crt");
	ck_assert(!c.insecure);
	kube_client_free(&c);
	cfg.kube.insecure_skip_tls_verify = true;
	ck_assert_int_eq(kube_client_init(&c, &cfg, err, sizeof(err)), 0);
	ck_assert(c.insecure);
	ck_assert_str_eq(c.ca_file, "");
	kube_client_free(&c);
	unsetenv("EDGEMESH_KUBE_SA_DIR");
}
END_TEST

/* ---- watch lines ---- */

struct lines_out {
	char got[64][64];
	int n, overlong;
};

static int
line_cb(void *arg, const char *line, size_t len)
{
	struct lines_out *o = arg;

	if (line == NULL) {
		o->overlong++;
		return 0;
	}
	ck_assert_int_lt(o->n, 64);
	snprintf(o->got[o->n++], sizeof(o->got[0]), "%.*s", (int)len, line);
	return 0;
}

START_TEST(test_lines_every_split)
{
	const char *in = "{\"a\":1}\n\n{\"b\":2}\r\n{\"c\":\"x\\ny\"}\npartial";
	size_t len = strlen(in), i, j;

	/* every pair of cut points: three pieces */
	for (i = 0; i <= len; i++)
		for (j = i; j <= len; j++) {
			struct kube_lines l;
			struct lines_out o;

			memset(&o, 0, sizeof(o));
			kube_lines_init(&l, 1024);
			ck_assert_int_eq(kube_lines_feed(&l, in, i, line_cb, &o), 0);
			ck_assert_int_eq(kube_lines_feed(&l, in + i, j - i, line_cb, &o), 0);
			ck_assert_int_eq(kube_lines_feed(&l, in + j, len - j, line_cb, &o), 0);
			ck_assert_int_eq(o.n, 4);
			ck_assert_str_eq(o.got[0], "{\"a\":1}");
			ck_assert_str_eq(o.got[1], "");
			ck_assert_str_eq(o.got[2], "{\"b\":2}\r");
			ck_assert_str_eq(o.got[3], "{\"c\":\"x\\ny\"}");
			ck_assert_uint_eq(l.len, 7); /* "partial" waits for its newline */
			kube_lines_reset(&l);
		}
}
END_TEST

START_TEST(test_lines_bounded)
{
	struct kube_lines l;
	struct lines_out o;
	char big[100];

	memset(&o, 0, sizeof(o));
	memset(big, 'x', sizeof(big));
	kube_lines_init(&l, 16);
	ck_assert_int_eq(kube_lines_feed(&l, "ok\n", 3, line_cb, &o), 0);
	ck_assert_int_eq(kube_lines_feed(&l, big, 10, line_cb, &o), 0);
	ck_assert_int_eq(kube_lines_feed(&l, big, 10, line_cb, &o), 0); /* 20 > 16 */
	ck_assert_int_eq(o.overlong, 1);
	ck_assert_int_eq(kube_lines_feed(&l, big, sizeof(big), line_cb, &o), 0);
	ck_assert_int_eq(o.overlong, 1); /* said once per line */
	ck_assert_uint_le(l.cap, 17);	 /* never grew past the bound */
	ck_assert_int_eq(kube_lines_feed(&l, "x\nafter\n", 8, line_cb, &o), 0);
	ck_assert_int_eq(o.n, 2);
	ck_assert_str_eq(o.got[0], "ok");
	ck_assert_str_eq(o.got[1], "after"); /* the over-long line is gone */
	kube_lines_reset(&l);
}
END_TEST

/* ---- list pages ---- */

struct items_out {
	int n;
	char last[256];
};

static void
item_cb(void *arg, const char *p, size_t n)
{
	struct items_out *o = arg;

	o->n++;
	snprintf(o->last, sizeof(o->last), "%.*s", (int)n, p);
}

START_TEST(test_list_scan)
{
	struct items_out o = {0};
	json_t *meta;
	char err[256];
	const char *ok =
	    " {\"kind\":\"ServiceList\", \"metadata\" : {\"continue\":\"a]}\\\"b\","
	    "\"resourceVersion\":\"7\"},\"items\":[ {\"x\":\"}]\"} , {\"y\":[1,{\"z\":2}]} ],"
	    "\"n\":null}\n";

	ck_assert_int_eq(kube_list_scan(ok, strlen(ok), &meta, item_cb, &o, err, sizeof(err)), 0);
	ck_assert_int_eq(o.n, 2);
	ck_assert_str_eq(o.last, "{\"y\":[1,{\"z\":2}]}");
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(meta, "metadata"), "continue")),
	    "a]}\"b");
	ck_assert_ptr_null(json_object_get(meta, "items"));
	json_decref(meta);

	o.n = 0;
	ck_assert_int_eq(kube_list_scan("{\"items\":[]}", 12, &meta, item_cb, &o, err, sizeof(err)),
			 0);
	ck_assert_int_eq(o.n, 0);
	json_decref(meta);
	ck_assert_int_eq(kube_list_scan("{\"items\":[{}", 12, &meta, item_cb, &o, err, sizeof(err)),
			 -1);
	ck_assert_ptr_null(meta);
	ck_assert_int_eq(
	    kube_list_scan("{\"kind\":\"x\"}", 12, &meta, item_cb, &o, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no items");
	ck_assert_int_eq(kube_list_scan("[]", 2, &meta, item_cb, &o, err, sizeof(err)), -1);
	ck_assert_int_eq(
	    kube_list_scan("{\"items\":[]} x", 14, &meta, item_cb, &o, err, sizeof(err)), -1);
	ck_assert_int_eq(
	    kube_list_scan("{\"items\" [] }", 13, &meta, item_cb, &o, err, sizeof(err)), -1);
}
END_TEST

/* ---- list, watch, 410, relist ---- */

static struct kube_watch *
synced_watch(void)
{
	struct kube_watch *kw = kube_watch_new(NULL, &svc_res);
	char *b;

	kube_watch_start(kw);
	ck_assert_int_eq(S.nreq, 1);
	ck_assert_ptr_nonnull(strstr(S.path, "/api/v1/services?limit=500"));
	/* two pages */
	b = list_json("10", "tok+/=", "a:1:80", "b:2:80", NULL);
	respond(200, b, 7, 1);
	free(b);
	ck_assert_ptr_nonnull(strstr(S.path, "continue=tok%2B%2F%3D"));
	b = list_json("10", NULL, "c:3:80", NULL);
	respond(200, b, 4096, 1);
	free(b);
	ck_assert_int_eq(S.synced, 1);
	ck_assert_int_eq(S.nup, 3);
	ck_assert_uint_eq(kube_watch_count(kw), 3);
	ck_assert_ptr_nonnull(strstr(S.path, "watch=1&resourceVersion=10&allowWatchBookmarks"));
	return kw;
}

START_TEST(test_watch_events)
{
	struct kube_watch *kw;
	char *e1 = event_json("ADDED", "d", "11", 80), *e2 = event_json("MODIFIED", "a", "12", 81),
	     *e3 = event_json("DELETED", "b", "13", 80), *all;

	setup();
	kw = synced_watch();
	if (asprintf(&all,
		     "%s%s{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
		     "{\"resourceVersion\":\"20\"}}}\n%s",
		     e1, e2, e3) == -1)
		abort();
	respond(200, all, 3, 0); /* split at awkward places */
	ck_assert_int_eq(S.nup, 5);
	ck_assert_int_eq(S.ndel, 1);
	ck_assert_uint_eq(kube_watch_count(kw), 3);
	ck_assert(!kube_watch_holds(kw, "0/default/b", "2"));
	ck_assert(kube_watch_holds(kw, "0/default/a", "12"));
	/* a clean end: watch again from the last version seen */
	S.done(S.arg, CURLE_OK, 200, "");
	ck_assert_ptr_nonnull(strstr(S.path, "watch=1&resourceVersion=13&"));
	free(e1);
	free(e2);
	free(e3);
	free(all);
	kube_watch_free(kw);
	teardown();
}
END_TEST

START_TEST(test_watch_garbage)
{
	struct kube_watch *kw;
	char *e1 = event_json("ADDED", "d", "11", 80);
	int nreq;

	setup();
	kw = synced_watch();
	nreq = S.nreq;
	respond(200, e1, 5, 0);
	respond(200, "{not json\n", 2, 0); /* ends this watch */
	ck_assert_int_eq(S.nup, 4);
	ck_assert_int_eq(S.nreq, nreq); /* backing off, not relisting */
	ck_assert_uint_eq(kube_watch_count(kw), 4);
	free(e1);
	kube_watch_free(kw);
	teardown();
}
END_TEST

static void
relist_after(int instream)
{
	struct kube_watch *kw;
	char *b;

	setup();
	kw = synced_watch();
	if (instream)
		respond(200,
			"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			"\"reason\":\"Expired\",\"message\":\"too old resource version\"}}\n",
			9, 1);
	else
		respond(410, "{\"kind\":\"Status\",\"code\":410}", 100, 1);
	ck_assert_ptr_nonnull(strstr(S.path, "/api/v1/services?limit=500"));
	/* meanwhile: b deleted, c changed, e added, a unchanged */
	b = list_json("30", NULL, "a:1:80", "c:25:90", "e:26:80", NULL);
	S.nup = S.ndel = 0;
	respond(200, b, 1000, 1);
	free(b);
	ck_assert_int_eq(S.ndel, 1);
	ck_assert_int_eq(S.nup, 2); /* c and e; a not put again */
	ck_assert_uint_eq(kube_watch_count(kw), 3);
	ck_assert(kube_watch_holds(kw, "0/default/a", "1"));
	ck_assert(kube_watch_holds(kw, "0/default/c", "25"));
	ck_assert(!kube_watch_holds(kw, "0/default/b", "2"));
	ck_assert_ptr_nonnull(strstr(S.path, "watch=1&resourceVersion=30&"));
	kube_watch_free(kw);
	teardown();
}

START_TEST(test_relist_410_status)
{
	relist_after(0);
}
END_TEST

START_TEST(test_relist_410_event)
{
	relist_after(1);
}
END_TEST

START_TEST(test_relist_keeps_malformed)
{
	struct kube_watch *kw;
	char *b;

	setup();
	kw = synced_watch();
	respond(410, "{}", 100, 1);
	/* c now malformed: its last good version stays, nothing deleted */
	b = list_json("30", NULL, "a:1:80", "b:2:80", "c:31:99999", NULL);
	S.nup = S.ndel = 0;
	respond(200, b, 1000, 1);
	free(b);
	ck_assert_int_eq(S.ndel, 0);
	ck_assert_int_eq(S.nup, 0);
	ck_assert(kube_watch_holds(kw, "0/default/c", "3"));
	kube_watch_free(kw);
	teardown();
}
END_TEST

START_TEST(test_seed_then_list)
{
	struct kube_watch *kw;
	json_t *o;
	char *s, *b;

	setup();
	kw = kube_watch_new(NULL, &svc_res);
	s = svc_json("old", "5", 80, 0);
	ck_assert_ptr_nonnull(o = json_loads(s, 0, NULL));
	ck_assert_int_eq(kube_watch_seed(kw, o), 0);
	json_decref(o);
	free(s);
	s = svc_json("kept", "6", 80, 0);
	o = json_loads(s, 0, NULL);
	ck_assert_int_eq(kube_watch_seed(kw, o), 0);
	json_decref(o);
	free(s);
	state_commit(S.st);
	ck_assert_int_eq(S.nup, 2);
	kube_watch_start(kw);
	b = list_json("40", NULL, "kept:6:80", NULL);
	S.nup = 0;
	respond(200, b, 1000, 1);
	free(b);
	ck_assert_int_eq(S.ndel, 1); /* old vanished while we were down */
	ck_assert_int_eq(S.nup, 0);
	kube_watch_forget(kw);
	state_commit(S.st);
	ck_assert_int_eq(S.ndel, 2);
	ck_assert_uint_eq(kube_watch_count(kw), 0);
	kube_watch_free(kw);
	ck_assert_int_eq(S.cancelled, 1); /* the watch request */
	teardown();
}
END_TEST

/* ---- qps/burst ---- */

START_TEST(test_bucket)
{
	struct kube_bucket b;
	int i;

	kube_bucket_init(&b, 5, 3, 100.0);
	for (i = 0; i < 3; i++)
		ck_assert(kube_bucket_take(&b, 100.0) == 0); /* the burst */
	ck_assert(kube_bucket_take(&b, 100.0) > 0.19);	     /* 1/5 s */
	ck_assert(kube_bucket_take(&b, 100.0) < 0.21);
	ck_assert(kube_bucket_take(&b, 100.2) == 0);
	ck_assert(kube_bucket_take(&b, 100.3) > 0);
	ck_assert(kube_bucket_take(&b, 110.0) == 0); /* refilled to burst, no more */
	ck_assert(kube_bucket_take(&b, 110.0) == 0);
	ck_assert(kube_bucket_take(&b, 110.0) == 0);
	ck_assert(kube_bucket_take(&b, 110.0) > 0);
}
END_TEST

static Suite *
kube_suite(void)
{
	Suite *s = suite_create("kube");
	TCase *tc = tcase_create("kube");

	tcase_add_test(tc, test_kubeconfig_token_and_paths);
	tcase_add_test(tc, test_kubeconfig_inline_data_tokenfile_insecure);
	tcase_add_test(tc, test_kubeconfig_errors);
	tcase_add_test(tc, test_modes);
	tcase_add_test(tc, test_lines_every_split);
	tcase_add_test(tc, test_lines_bounded);
	tcase_add_test(tc, test_list_scan);
	tcase_add_test(tc, test_watch_events);
	tcase_add_test(tc, test_watch_garbage);
	tcase_add_test(tc, test_relist_410_status);
	tcase_add_test(tc, test_relist_410_event);
	tcase_add_test(tc, test_relist_keeps_malformed);
	tcase_add_test(tc, test_seed_then_list);
	tcase_add_test(tc, test_bucket);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(kube_suite());
	int failed;

	config_defaults(&cfg);
	snprintf(cfg.node_name, sizeof(cfg.node_name), "test-node");
	snprintf(cfg.cluster_domain, sizeof(cfg.cluster_domain), "cluster.local");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
