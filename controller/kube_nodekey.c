/*
 * Publish this node's tunnel public key in the Kubernetes API: tunneld
 * reports it in its METRICS (edgemesh_tunnel_key_info{key=...}); the
 * controller PATCHes its own Node with the annotation edgemesh-c.io/tunnel-key
 * (a JSON merge patch: RBAC needs only "patch" on nodes), at start and
 * whenever the key changes.  Every tunneld then refuses a session from a
 * node presenting another key (tunneld/tun_pin.c).  A refused patch (403:
 * the ClusterRole lacks it) is logged once per key and retried slowly.
 *
 * The file registry is the operator's: the controller never writes it (the
 * annotation goes into the Node's YAML, README: node keys).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kobj.h"
#include "kube_source.h"
#include "log.h"
#include "metrics.h"

#define NODEKEY_PERIOD 2.0 /* seconds between looks at tunneld's report */
#define NODEKEY_RETRY  30.0

struct kube_nodekey {
	struct reg_kube *rk;
	struct server *srv;
	char node[254];
	char published[64]; /* the key the API took last */
	char sending[64];
	struct kube_req *req;
	ev_tstamp next_try;
	long status;
	ev_timer tick;
};

/* key="..." from a sample's labels */
static int
nodekey_from_labels(const char *labels, char *out, size_t len)
{
	const char *p = strstr(labels, "key=\""), *e;

	if (p == NULL || (e = strchr(p + 5, '"')) == NULL || (size_t)(e - p - 5) >= len)
		return -1;
	snprintf(out, len, "%.*s", (int)(e - p - 5), p + 5);
	return 0;
}

static int
nodekey_data(void *arg, long status, const char *buf, size_t len)
{
	struct kube_nodekey *nk = arg;

	nk->status = status;
	return 0;
}

static void
nodekey_done(void *arg, CURLcode rc, long status, const char *err)
{
	struct kube_nodekey *nk = arg;
	char once[400];

	nk->req = NULL;
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		snprintf(nk->published, sizeof(nk->published), "%s", nk->sending);
		log_info("kube: published tunnel key %s on Node %s (%s)", nk->published, nk->node,
			 KOBJ_TUNNEL_KEY);
		return;
	}
	nk->next_try = ev_now(kube_loop(nk->rk)) + NODEKEY_RETRY;
	snprintf(once, sizeof(once), "nodekey:%s:%ld", nk->sending, status);
	if (status == 403)
		log_warnx_once(once,
			       "kube: cannot publish the tunnel key on Node %s: forbidden (the "
			       "ClusterRole needs \"patch\" on nodes, k8s/base/02-rbac.yaml); "
			       "sessions from this node are allowed as first use only",
			       nk->node);
	else
		log_warnx_once(once,
			       "kube: cannot publish the tunnel key on Node %s: %s (HTTP %ld)",
			       nk->node, rc != CURLE_OK ? err : "refused", status);
}

static void
nodekey_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kube_nodekey *nk = w->data;
	const struct em_sample *s;
	char key[64], path[400], patch[256];

	if (nk->req != NULL || ev_now(loop) < nk->next_try)
		return;
	if ((s = server_daemon_sample(nk->srv, "tunneld", EM_M_TUNNEL_KEY)) == NULL ||
	    nodekey_from_labels(s->labels, key, sizeof(key)) == -1)
		return;
	if (strcmp(key, nk->published) == 0)
		return;
	snprintf(nk->sending, sizeof(nk->sending), "%s", key);
	snprintf(path, sizeof(path), "/api/v1/nodes/%s", nk->node);
	snprintf(patch, sizeof(patch), "{\"metadata\":{\"annotations\":{\"%s\":\"%s\"}}}",
		 KOBJ_TUNNEL_KEY, key);
	nk->status = 0;
	nk->req = kube_http_patch(kube_http(nk->rk), kube_client(nk->rk), path, patch, 30,
				  nodekey_data, nodekey_done, nk);
}

struct kube_nodekey *
kube_nodekey_new(struct reg_kube *rk, struct server *srv, const char *node)
{
	struct kube_nodekey *nk;

	if (rk == NULL)
		return NULL;
	nk = xcalloc(1, sizeof(*nk));
	nk->rk = rk;
	nk->srv = srv;
	snprintf(nk->node, sizeof(nk->node), "%s", node);
	ev_timer_init(&nk->tick, nodekey_tick, NODEKEY_PERIOD, NODEKEY_PERIOD);
	nk->tick.data = nk;
	ev_timer_start(kube_loop(rk), &nk->tick);
	return nk;
}

void
kube_nodekey_free(struct kube_nodekey *nk)
{
	if (nk == NULL)
		return;
	ev_timer_stop(kube_loop(nk->rk), &nk->tick);
	kube_http_cancel(kube_http(nk->rk), nk->req);
	free(nk);
}
