/*
 * The Kubernetes API registry source: one watcher per resource, the puts
 * and deletes of one loop iteration committed together, and a disk cache
 * (stateDir/registry-cache.json, written atomically at most every few
 * seconds) that a restarted controller serves until the API answers.
 * While the API is unreachable nothing is deleted: the last known state
 * keeps serving.  Secrets never go to the disk cache.
 *
 * The cache holds no object text in memory: every new version of an object
 * is appended to a journal file (registry-cache.json.journal), and a cache
 * write merges the journal and the previous cache file, keeping exactly the
 * versions the watchers hold (by key and resourceVersion), then empties
 * the journal.  Both files have one object per line.
 *
 *	Services		/api/v1/services
 *	EndpointSlices		/apis/discovery.k8s.io/v1/endpointslices
 *	  (404: Endpoints	/api/v1/endpoints)
 *	Nodes			/api/v1/nodes
 *	DestinationRules, Gateways, VirtualServices
 *				/apis/networking.istio.io/v1alpha3/... (404: none)
 *	Secrets, only with modules.edgeGateway.enable, and only those that a
 *	  Gateway server's tls.credentialName names (in the Gateway's
 *	  namespace): one list+watch each, /api/v1/namespaces/<ns>/secrets
 *	  ?fieldSelector=metadata.name=<name>, started and stopped as Gateways
 *	  come and go.  Nothing else of the cluster's Secrets is ever fetched.
 *
 * EDGEMESH_KUBE_WATCH_TIMEOUT (seconds, default 300) sets the watch
 * timeoutSeconds base; tests lower it to see stalls detected quickly.
 */
#include <sys/stat.h>

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_source.h"
#include "log.h"

#define KUBE_CACHE_FILE	    "registry-cache.json"
#define KUBE_CACHE_DELAY    2.	/* seconds after a change */
#define KUBE_CACHE_MIN_GAP  10. /* seconds between two writes */
#define KUBE_CACHE_MAX	    (512u * 1024 * 1024)
#define KUBE_CACHE_LINE_MAX (64u * 1024 * 1024)

static const struct kube_res kube_endpoints = {
    "endpoints", "/api/v1/endpoints", "v1", "Endpoints", KOBJ_ENDPOINTS, NULL, 0, 1, NULL};

static const struct kube_res kube_resources[] = {
    {"services", "/api/v1/services", "v1", "Service", KOBJ_SERVICE, NULL, 0, 1, NULL},
    {"endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", "discovery.k8s.io/v1",
     "EndpointSlice", KOBJ_ENDPOINTSLICE, NULL, 0, 1, &kube_endpoints},
    {"nodes", "/api/v1/nodes", "v1", "Node", KOBJ_NODE, NULL, 0, 1, NULL},
    {"destinationrules", "/apis/networking.istio.io/v1alpha3/destinationrules",
     "networking.istio.io/v1alpha3", "DestinationRule", KOBJ_DESTINATIONRULE, NULL, 1, 1, NULL},
    {"gateways", "/apis/networking.istio.io/v1alpha3/gateways", "networking.istio.io/v1alpha3",
     "Gateway", KOBJ_GATEWAY, NULL, 1, 1, NULL},
    {"virtualservices", "/apis/networking.istio.io/v1alpha3/virtualservices",
     "networking.istio.io/v1alpha3", "VirtualService", KOBJ_VIRTUALSERVICE, NULL, 1, 1, NULL},
};
#define KUBE_NRES (sizeof(kube_resources) / sizeof(kube_resources[0]))

/* The list+watch of one Secret that Gateways name. */
struct kube_secret {
	struct kube_res res;
	char name[EM_KEY_LEN + 16]; /* "secret ns/name" for logs */
	char path[EM_KEY_LEN + 64];
	char query[EM_KEY_LEN * 3 + 64];
	struct kube_watch *kw;
	int mark;
};

/* A Gateway's credentialNames, as "ns/name" keys of the Secrets. */
struct kube_gwref {
	size_t n;
	char **keys;
};

struct reg_kube {
	struct ev_loop *loop;
	struct state *state;
	struct kube_http *http;
	struct kube_client client;
	struct kube_watch *w[KUBE_NRES];
	struct hmap *gwrefs;  /* Gateway "ns/name" -> struct kube_gwref */
	struct hmap *secrets; /* Secret "ns/name" -> struct kube_secret */
	int gateway;	      /* modules.edgeGateway.enable */
	int secrets_dirty;
	long watch_timeout;
	char cache_path[EM_PATH_MAX + 32];
	char journal_path[EM_PATH_MAX + 48];
	FILE *journal;
	size_t journal_n; /* objects in it */
	int journal_bad;  /* a write failed: one was lost */
	ev_timer commit, cache;
	ev_tstamp cache_last, started;
	int synced;
};

struct ev_loop *
kube_loop(struct reg_kube *rk)
{
	return rk->loop;
}

struct kube_http *
kube_http(struct reg_kube *rk)
{
	return rk->http;
}

struct kube_client *
kube_client(struct reg_kube *rk)
{
	return &rk->client;
}

struct state *
kube_state(struct reg_kube *rk)
{
	return rk->state;
}

long
kube_watch_timeout(struct reg_kube *rk)
{
	return rk->watch_timeout;
}

void
kube_cache_put(struct reg_kube *rk, const json_t *obj)
{
	if (rk->journal == NULL || rk->journal_bad)
		return;
	if (json_dumpf(obj, rk->journal, JSON_COMPACT) == -1 || fputc('\n', rk->journal) == EOF) {
		log_warn("kube: cache journal %s", rk->journal_path);
		rk->journal_bad = 1; /* the next cache write starts over */
		return;
	}
	rk->journal_n++;
}

/* Is this line of the journal or of the old cache a version a watcher holds? */
static int
kube_cache_held(struct reg_kube *rk, char *line, size_t len, struct hmap *written, char *key,
		size_t keylen)
{
	json_t *obj;
	const char *rv;
	size_t i;
	int held = 0;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ',' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (len < 2 || line[0] != '{' || line[len - 1] != '}')
		return 0;
	if ((obj = json_loadb(line, len, 0, NULL)) == NULL)
		return 0;
	rv =
	    json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
	if (kube_obj_key(obj, key, keylen) == 0 && hmap_get(written, key) == NULL)
		for (i = 0; i < KUBE_NRES && !held; i++)
			held = kube_resources[i].cache &&
			       kube_watch_holds(rk->w[i], key, rv != NULL ? rv : "");
	json_decref(obj);
	return held;
}

/* Copy the held versions of in's lines to out; -1 on a write error. */
static int
kube_cache_copy(struct reg_kube *rk, FILE *in, FILE *out, struct hmap *written, size_t *n)
{
	char key[EM_KEY_LEN + 16], *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;

	while ((len = getline(&line, &cap, in)) != -1) {
		if ((size_t)len > KUBE_CACHE_LINE_MAX ||
		    !kube_cache_held(rk, line, (size_t)len, written, key, sizeof(key)))
			continue;
		if (fprintf(out, "%s%s", *n > 0 ? ",\n" : "\n", line) < 0) {
			rc = -1;
			break;
		}
		hmap_put(written, key, written);
		(*n)++;
	}
	free(line);
	return rc;
}

static void
kube_cache_write(struct reg_kube *rk)
{
	struct ctl_file cf;
	struct hmap *written = hmap_new();
	size_t n = 0;
	FILE *f, *old;

	if (ctl_file_open(&cf, rk->cache_path) == -1) {
		log_warn("kube: cache %s", cf.tmp);
		goto out;
	}
	f = cf.f;
	if (fprintf(f, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[") < 0)
		goto fail;
	/* the newest versions first: what changed since the last write */
	if (rk->journal != NULL) {
		if (fflush(rk->journal) == EOF)
			rk->journal_bad = 1;
		rewind(rk->journal);
		if (kube_cache_copy(rk, rk->journal, f, written, &n) == -1)
			goto fail;
	}
	/* then the old cache for everything that did not change */
	if ((old = fopen(rk->cache_path, "r")) != NULL) {
		if (kube_cache_copy(rk, old, f, written, &n) == -1) {
			fclose(old);
			goto fail;
		}
		fclose(old);
	}
	if (fprintf(f, "\n]}\n") < 0)
		goto fail;
	if (ctl_file_commit(&cf) == -1) {
		log_warn("kube: cache %s: write", rk->cache_path);
		goto journal;
	}
	if (rk->journal != NULL) {
		/* all of it is in the cache now */
		if (ftruncate(fileno(rk->journal), 0) == -1)
			log_warn("kube: cache journal %s", rk->journal_path);
		rewind(rk->journal);
		if (rk->journal_bad)
			log_warnx("kube: cache %s: a journal write had failed; objects "
				  "changed meanwhile come back at the next list",
				  rk->cache_path);
		rk->journal_bad = 0;
		rk->journal_n = 0;
	}
	log_debug("kube: cache %s: %zu objects", rk->cache_path, n);
	goto out;
fail:
	log_warn("kube: cache %s: write", cf.tmp);
	ctl_file_abort(&cf);
journal:
	if (rk->journal != NULL)
		fseek(rk->journal, 0, SEEK_END);
out:
	hmap_free(written, NULL);
	malloc_trim(0);
}

static void
kube_cache_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_kube *rk = w->data;

	rk->cache_last = ev_now(loop);
	kube_cache_write(rk);
}

/* Serve what the last run knew until the API answers. */
static void
kube_cache_load(struct reg_kube *rk)
{
	json_t *it;
	struct stat st;
	char *line = NULL;
	size_t cap = 0, j, n = 0, bad = 0, len;
	ssize_t r;
	FILE *f;

	if (stat(rk->cache_path, &st) == -1)
		return;
	if ((size_t)st.st_size > KUBE_CACHE_MAX) {
		log_warnx("kube: cache %s: larger than %u bytes; ignored", rk->cache_path,
			  KUBE_CACHE_MAX);
		return;
	}
	if ((f = fopen(rk->cache_path, "r")) == NULL) {
		log_warn("kube: cache %s", rk->cache_path);
		return;
	}
	/* one object per line, as kube_cache_write() writes it: no whole tree */
	while ((r = getline(&line, &cap, f)) != -1) {
		len = (size_t)r;
		while (len > 0 &&
		       (line[len - 1] == '\n' || line[len - 1] == ',' || line[len - 1] == '\r'))
			len--;
		if (len < 2 || line[0] != '{' || line[len - 1] != '}')
			continue; /* the list's first and last lines */
		if ((it = json_loadb(line, len, 0, NULL)) == NULL) {
			bad++;
			continue;
		}
		for (j = 0; j < KUBE_NRES; j++)
			if (kube_watch_seed(rk->w[j], it) == 0) {
				n++;
				break;
			}
		json_decref(it);
	}
	free(line);
	fclose(f);
	if (bad > 0)
		log_warnx("kube: cache %s: %zu invalid lines ignored", rk->cache_path, bad);
	state_commit(rk->state);
	log_info("kube: serving %zu objects from %s until the API answers", n, rk->cache_path);
}

/* ---- the Secrets that Gateways name ---- */

static void
kube_gwref_free(void *p)
{
	struct kube_gwref *g = p;

	if (g == NULL)
		return;
	kobj_strv_free(g->keys, g->n);
	free(g);
}

void
kube_gateway_refs(struct reg_kube *rk, const char *ns, const char *name,
		  const struct kobj_gateway *gw)
{
	struct kube_gwref *g;
	char key[EM_KEY_LEN];
	size_t i;

	if (!rk->gateway)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (gw == NULL) {
		kube_gwref_free(hmap_del(rk->gwrefs, key));
		rk->secrets_dirty = 1;
		return;
	}
	g = xcalloc(1, sizeof(*g));
	g->keys = xcalloc(gw->nservers + 1, sizeof(*g->keys));
	for (i = 0; i < gw->nservers; i++) {
		const char *cred = gw->servers[i].credential;
		char sk[EM_KEY_LEN];

		if (cred == NULL || cred[0] == '\0')
			continue;
		if (!kobj_is_dns_subdomain(cred)) {
			log_warnx("kube: Gateway %s: credentialName %s is not a Secret name; "
				  "ignored",
				  key, cred);
			continue;
		}
		snprintf(sk, sizeof(sk), "%s/%s", ns, cred);
		g->keys[g->n++] = xstrdup(sk);
	}
	kube_gwref_free(hmap_put(rk->gwrefs, key, g));
	rk->secrets_dirty = 1;
}

static struct kube_secret *
kube_secret_new(struct reg_kube *rk, const char *key)
{
	struct kube_secret *sec = xcalloc(1, sizeof(*sec));
	const char *slash = strchr(key, '/');
	char enc[EM_KEY_LEN * 3];

	snprintf(sec->name, sizeof(sec->name), "secret %s", key);
	snprintf(sec->path, sizeof(sec->path), "/api/v1/namespaces/%.*s/secrets",
		 (int)(slash - key), key);
	kube_urlenc(enc, sizeof(enc), slash + 1);
	snprintf(sec->query, sizeof(sec->query), "fieldSelector=metadata.name%%3D%s", enc);
	sec->res = (struct kube_res){sec->name,	 sec->path, "v1", "Secret", KOBJ_SECRET,
				     sec->query, 0,	    0,	  NULL};
	sec->kw = kube_watch_new(rk, &sec->res);
	return sec;
}

static void
kube_secret_free(struct kube_secret *sec, int forget)
{
	if (forget)
		kube_watch_forget(sec->kw);
	kube_watch_free(sec->kw);
	free(sec);
}

static void
kube_secret_free_cb(void *p)
{
	kube_secret_free(p, 0);
}

/* One watch per Secret that some Gateway names; none for the others. */
static void
kube_secrets_reconcile(struct reg_kube *rk)
{
	struct hmap_iter it;
	struct kube_secret *sec;
	struct kube_gwref *g;
	const char *key;
	char **gone;
	void *v;
	size_t i, ngone = 0;

	rk->secrets_dirty = 0;
	hmap_iter_init(&it);
	while (hmap_next(rk->secrets, &it, &key, &v))
		((struct kube_secret *)v)->mark = 0;
	hmap_iter_init(&it);
	while (hmap_next(rk->gwrefs, &it, &key, &v)) {
		g = v;
		for (i = 0; i < g->n; i++) {
			if ((sec = hmap_get(rk->secrets, g->keys[i])) == NULL) {
				log_info("kube: secret %s: named by a Gateway; watching it",
					 g->keys[i]);
				sec = kube_secret_new(rk, g->keys[i]);
				hmap_put(rk->secrets, g->keys[i], sec);
				kube_watch_start(sec->kw);
			}
			sec->mark = 1;
		}
	}
	gone = xcalloc(hmap_count(rk->secrets) + 1, sizeof(*gone));
	hmap_iter_init(&it);
	while (hmap_next(rk->secrets, &it, &key, &v))
		if (!((struct kube_secret *)v)->mark)
			gone[ngone++] = xstrdup(key);
	for (i = 0; i < ngone; i++) {
		log_info("kube: secret %s: no Gateway names it any more; watch stopped", gone[i]);
		kube_secret_free(hmap_del(rk->secrets, gone[i]), 1);
		free(gone[i]);
	}
	free(gone);
}

static void
kube_commit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_kube *rk = w->data;
	double d;

	if (rk->secrets_dirty)
		kube_secrets_reconcile(rk);
	state_commit(rk->state);
	if (rk->cache_path[0] == '\0' || ev_is_active(&rk->cache))
		return;
	d = KUBE_CACHE_DELAY;
	if (rk->cache_last > 0 && rk->cache_last + KUBE_CACHE_MIN_GAP > ev_now(loop) + d)
		d = rk->cache_last + KUBE_CACHE_MIN_GAP - ev_now(loop);
	ev_timer_set(&rk->cache, d, 0.);
	ev_timer_start(loop, &rk->cache);
}

void
kube_dirty(struct reg_kube *rk)
{
	if (!ev_is_active(&rk->commit)) {
		ev_timer_set(&rk->commit, 0., 0.);
		ev_timer_start(rk->loop, &rk->commit);
	}
}

void
kube_synced(struct reg_kube *rk, struct kube_watch *kw)
{
	size_t i;

	for (i = 0; i < KUBE_NRES; i++)
		if (!kube_watch_synced(rk->w[i]))
			return;
	if (rk->synced)
		return;
	rk->synced = 1;
	log_info("kube: synced in %.3fs: %zu services, %zu endpoint objects, %zu nodes",
		 ev_time() - rk->started, kube_watch_count(rk->w[0]), kube_watch_count(rk->w[1]),
		 kube_watch_count(rk->w[2]));
}

int
reg_kube_synced(const struct reg_kube *rk)
{
	return rk->synced;
}

int
reg_kube_health(const struct reg_kube *rk, char *err, size_t len, int *istio_missing)
{
	const char *e;
	size_t i;

	*istio_missing = 0;
	err[0] = '\0';
	for (i = 0; i < KUBE_NRES; i++) {
		if (kube_resources[i].optional && kube_watch_absent(rk->w[i]))
			*istio_missing = 1;
		if (err[0] == '\0' && *(e = kube_watch_error(rk->w[i])) != '\0')
			snprintf(err, len, "%s", e);
	}
	if (err[0] == '\0' && !rk->synced)
		snprintf(err, len, "not synced yet");
	return err[0] == '\0';
}

struct reg_kube *
reg_kube_new(struct ev_loop *loop, const struct em_config *cfg, struct state *st)
{
	struct reg_kube *rk = xcalloc(1, sizeof(*rk));
	const char *env;
	char err[1024];
	size_t i;

	rk->loop = loop;
	rk->state = st;
	rk->started = ev_time();
	if (kube_client_init(&rk->client, cfg, err, sizeof(err)) == -1)
		fatalx("%s: %s", cfg->path[0] ? cfg->path : "defaults", err);
	if (strcmp(cfg->kube.content_type, "application/json") != 0)
		log_debug("kube: kubeAPIConfig.contentType %s: we always speak JSON",
			  cfg->kube.content_type);
	rk->watch_timeout = 300;
	if ((env = getenv("EDGEMESH_KUBE_WATCH_TIMEOUT")) != NULL && atol(env) > 0)
		rk->watch_timeout = atol(env);
	rk->http = kube_http_new(loop, cfg->kube.qps, cfg->kube.burst);
	rk->gateway = cfg->gateway.enable;
	rk->gwrefs = hmap_new();
	rk->secrets = hmap_new();
	ev_timer_init(&rk->commit, kube_commit_cb, 0., 0.);
	rk->commit.data = rk;
	ev_timer_init(&rk->cache, kube_cache_cb, 0., 0.);
	rk->cache.data = rk;
	if (cfg->state_dir[0] != '\0') {
		snprintf(rk->cache_path, sizeof(rk->cache_path), "%s/%s", cfg->state_dir,
			 KUBE_CACHE_FILE);
		snprintf(rk->journal_path, sizeof(rk->journal_path), "%s.journal", rk->cache_path);
		/* what a previous run journaled is older than its own cache writes */
		if ((rk->journal = fopen(rk->journal_path, "w+e")) == NULL)
			log_warn("kube: cache journal %s; the disk cache is not kept",
				 rk->journal_path);
	}
	for (i = 0; i < KUBE_NRES; i++)
		rk->w[i] = kube_watch_new(rk, &kube_resources[i]);
	if (rk->journal != NULL)
		kube_cache_load(rk);
	log_info("kube: registry from %s (node %s)", rk->client.desc, cfg->node_name);
	for (i = 0; i < KUBE_NRES; i++)
		kube_watch_start(rk->w[i]);
	/* the Secrets of the Gateways from the cache (the agent's role reads none) */
	if (rk->secrets_dirty)
		kube_secrets_reconcile(rk);
	return rk;
}

void
reg_kube_free(struct reg_kube *rk)
{
	size_t i;

	if (rk == NULL)
		return;
	if (ev_is_active(&rk->cache))
		kube_cache_write(rk);
	for (i = 0; i < KUBE_NRES; i++)
		kube_watch_free(rk->w[i]);
	hmap_free(rk->secrets, kube_secret_free_cb);
	hmap_free(rk->gwrefs, kube_gwref_free);
	if (rk->journal != NULL) {
		fclose(rk->journal);
		unlink(rk->journal_path);
	}
	ev_timer_stop(rk->loop, &rk->commit);
	ev_timer_stop(rk->loop, &rk->cache);
	kube_http_free(rk->http);
	kube_client_free(&rk->client);
	free(rk);
}

/* The credential files the API client reads again while running (sandbox rules). */
size_t
reg_kube_files(const struct reg_kube *rk, const char *files[4])
{
	const char *all[4] = {rk->client.ca_file, rk->client.cert_file, rk->client.key_file,
			      rk->client.token_file};
	size_t i, n = 0;

	for (i = 0; i < 4; i++)
		if (all[i][0] != '\0')
			files[n++] = all[i];
	return n;
}
