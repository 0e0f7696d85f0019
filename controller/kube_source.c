/*
 * The Kubernetes API registry source: one watcher per resource, the puts
 * and deletes of one loop iteration committed together, and a disk cache
 * (stateDir/registry-cache.json, written atomically at most every few
 * seconds) that a restarted controller serves until the API answers.
 * While the API is unreachable nothing is deleted: the last known state
 * keeps serving.  Secrets never go to the disk cache.
 *
 *	Services		/api/v1/services
 *	EndpointSlices		/apis/discovery.k8s.io/v1/endpointslices
 *	  (404: Endpoints	/api/v1/endpoints)
 *	Nodes			/api/v1/nodes
 *	DestinationRules, Gateways, VirtualServices
 *				/apis/networking.istio.io/v1alpha3/... (404: none)
 *	Secrets of type kubernetes.io/tls, only with modules.edgeGateway.enable
 *	  (all TLS secrets, not only the Gateways' credentialNames)
 *
 * EDGEMESH_KUBE_WATCH_TIMEOUT (seconds, default 300) sets the watch
 * timeoutSeconds base; tests lower it to see stalls detected quickly.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube_source.h"
#include "log.h"

#define KUBE_CACHE_FILE		"registry-cache.json"
#define KUBE_CACHE_DELAY	2.	/* seconds after a change */
#define KUBE_CACHE_MIN_GAP	10.	/* seconds between two writes */
#define KUBE_CACHE_MAX		(512u * 1024 * 1024)

static const struct kube_res kube_endpoints = {
	"endpoints", "/api/v1/endpoints", "v1", "Endpoints", KOBJ_ENDPOINTS, NULL, 0, 1, NULL
};

static const struct kube_res kube_resources[] = {
	{ "services", "/api/v1/services", "v1", "Service", KOBJ_SERVICE, NULL, 0, 1, NULL },
	{ "endpointslices", "/apis/discovery.k8s.io/v1/endpointslices", "discovery.k8s.io/v1",
	    "EndpointSlice", KOBJ_ENDPOINTSLICE, NULL, 0, 1, &kube_endpoints },
	{ "nodes", "/api/v1/nodes", "v1", "Node", KOBJ_NODE, NULL, 0, 1, NULL },
	{ "destinationrules", "/apis/networking.istio.io/v1alpha3/destinationrules",
	    "networking.istio.io/v1alpha3", "DestinationRule", KOBJ_DESTINATIONRULE, NULL, 1, 1,
	    NULL },
	{ "gateways", "/apis/networking.istio.io/v1alpha3/gateways",
	    "networking.istio.io/v1alpha3", "Gateway", KOBJ_GATEWAY, NULL, 1, 1, NULL },
	{ "virtualservices", "/apis/networking.istio.io/v1alpha3/virtualservices",
	    "networking.istio.io/v1alpha3", "VirtualService", KOBJ_VIRTUALSERVICE, NULL, 1, 1,
	    NULL },
	/* all TLS secrets rather than only the gateways' credentialNames */
	{ "secrets", "/api/v1/secrets", "v1", "Secret", KOBJ_SECRET,
	    "fieldSelector=type%3Dkubernetes.io%2Ftls", 0, 0, NULL },
};
#define KUBE_NRES (sizeof(kube_resources) / sizeof(kube_resources[0]))

struct reg_kube {
	struct ev_loop		*loop;
	struct state		*state;
	struct kube_http	*http;
	struct kube_client	 client;
	struct kube_watch	*w[KUBE_NRES];
	long			 watch_timeout;
	char			 cache_path[EM_PATH_MAX + 32];
	ev_timer		 commit, cache;
	ev_tstamp		 cache_last, started;
	int			 synced;
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

static void
kube_cache_write(struct reg_kube *rk)
{
	char tmp[sizeof(rk->cache_path) + 16];
	size_t i, n = 0;
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", rk->cache_path);
	if ((fd = mkstemp(tmp)) == -1) {
		log_warn("kube: cache %s", tmp);
		return;
	}
	if ((f = fdopen(fd, "w")) == NULL) {
		log_warn("kube: cache %s", tmp);
		close(fd);
		unlink(tmp);
		return;
	}
	if (fprintf(f, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[") < 0)
		goto fail;
	for (i = 0; i < KUBE_NRES; i++)
		if (kube_watch_dump(rk->w[i], f, &n) == -1)
			goto fail;
	if (fprintf(f, "\n]}\n") < 0 || fflush(f) == EOF || fsync(fileno(f)) == -1)
		goto fail;
	if (fclose(f) == EOF) {
		f = NULL;
		goto fail;
	}
	if (rename(tmp, rk->cache_path) == -1) {
		log_warn("kube: cache rename %s", rk->cache_path);
		unlink(tmp);
		return;
	}
	log_debug("kube: cache %s: %zu objects", rk->cache_path, n);
	return;
fail:
	log_warn("kube: cache %s: write", tmp);
	if (f != NULL)
		fclose(f);
	unlink(tmp);
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
	json_t *root, *it;
	json_error_t jerr;
	struct stat st;
	size_t i, j, n = 0;

	if (stat(rk->cache_path, &st) == -1)
		return;
	if ((size_t)st.st_size > KUBE_CACHE_MAX) {
		log_warnx("kube: cache %s: larger than %u bytes; ignored", rk->cache_path,
		    KUBE_CACHE_MAX);
		return;
	}
	if ((root = json_load_file(rk->cache_path, 0, &jerr)) == NULL) {
		log_warnx("kube: cache %s:%d:%d: %s; ignored", rk->cache_path, jerr.line,
		    jerr.column, jerr.text);
		return;
	}
	json_array_foreach(json_object_get(root, "items"), i, it)
		for (j = 0; j < KUBE_NRES; j++)
			if (kube_watch_seed(rk->w[j], it) == 0) {
				n++;
				break;
			}
	json_decref(root);
	state_commit(rk->state);
	log_info("kube: serving %zu objects from %s until the API answers", n, rk->cache_path);
}

static void
kube_commit_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reg_kube *rk = w->data;
	double d;

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
	rk->http = kube_http_new(loop);
	ev_timer_init(&rk->commit, kube_commit_cb, 0., 0.);
	rk->commit.data = rk;
	ev_timer_init(&rk->cache, kube_cache_cb, 0., 0.);
	rk->cache.data = rk;
	if (cfg->state_dir[0] != '\0')
		snprintf(rk->cache_path, sizeof(rk->cache_path), "%s/%s", cfg->state_dir,
		    KUBE_CACHE_FILE);
	for (i = 0; i < KUBE_NRES; i++)
		rk->w[i] = kube_watch_new(rk, &kube_resources[i]);
	if (rk->cache_path[0] != '\0')
		kube_cache_load(rk);
	log_info("kube: registry from %s (node %s)", rk->client.desc, cfg->node_name);
	for (i = 0; i < KUBE_NRES; i++) {
		/* Secrets only for the gateway (the agent's role may not read them) */
		if (kube_resources[i].kkind == KOBJ_SECRET && !cfg->gateway.enable)
			kube_watch_disable(rk->w[i]);
		else
			kube_watch_start(rk->w[i]);
	}
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
	ev_timer_stop(rk->loop, &rk->commit);
	ev_timer_stop(rk->loop, &rk->cache);
	kube_http_free(rk->http);
	kube_client_free(&rk->client);
	free(rk);
}
