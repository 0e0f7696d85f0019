/*
 * edgemesh-gatewayd: ingress gateway for Istio Gateway + VirtualService.
 * This file holds main(): options, config, privileges, the event loop.
 * The engine: gw_listen.c (listeners), gw_conn*.c (connections),
 * gw_http.c (HTTP/1.1), gw_route.c (routing), gw_tls.c (TLS), gw_sni.c
 * (ClientHello peeking), gw_upstream.c (endpoints, balanced by
 * common/lb.c); raw connections run on common/relay.c.
 */
#include <linux/capability.h>

#include <openssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gatewayd.h"
#include "log.h"
#include "tunclient.h"

static void
gatewayd_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
		const struct em_object *cur)
{
	struct gw *g = arg;

	if (t == EM_TOPIC_GATEWAYS)
		gw_listen_schedule(g);
}

static void
gatewayd_synced(void *arg)
{
	struct gw *g = arg;

	gw_listen_schedule(g);
}

static void
gatewayd_reconcile(struct ev_loop *loop, ev_timer *w, int revents)
{
	gw_listen_reconcile(w->data);
}

static void
gatewayd_health(void *arg, struct ipc_health *h)
{
	struct gw *g = arg;

	if (g->nunbound > 0 && strcmp(h->state, "ok") == 0) {
		/* ready = its listeners bound: a port held by another program is not */
		snprintf(h->state, sizeof(h->state), "degraded");
		snprintf(h->detail, sizeof(h->detail),
			 "cannot listen on %s%s (%zu listener%s unbound, retried every 10 s)",
			 g->unbound, g->nunbound > 1 ? " and others" : "", g->nunbound,
			 g->nunbound > 1 ? "s" : "");
		return;
	}
	snprintf(h->detail, sizeof(h->detail),
		 "gateways=%zu listeners=%zu conns=%zu accepted=%llu served=%llu errors=%llu",
		 replica_count(g->d->replica, EM_TOPIC_GATEWAYS), hmap_count(g->listeners),
		 g->nconns, (unsigned long long)g->accepted, (unsigned long long)g->served,
		 (unsigned long long)g->errors);
}

/* Connections in hand: a SIGTERM lets them finish (listeners wait in the controller). */
static size_t
gatewayd_busy(void *arg)
{
	return ((struct gw *)arg)->nconns;
}

static void
gatewayd_shutdown(void *arg)
{
	struct gw *g = arg;

	gw_listen_closeall(g);
}

int
main(int argc, char **argv)
{
	/* listeners come and go with the Gateways: ports below 1024 need this */
	static const int caps[] = {CAP_NET_BIND_SERVICE};
	struct em_daemon d;
	struct gw g;

	daemon_init(&d, "gatewayd", argc, argv, NULL);
	memset(&g, 0, sizeof(g));
	g.d = &d;
	g.listeners = hmap_new();
	g.try_kept = 1;
	g.lbs = hmap_new();
	g.rstats = hmap_new();
	g.gws_dirty = 1;
	OPENSSL_init_ssl(0, NULL);
	privdrop(&d, caps, 1);

	g.tc = tunclient_new(d.loop, d.cfg.runtime_dir, "gatewayd");
	ev_timer_init(&g.reconcile, gatewayd_reconcile, 0.05, 0.0);
	g.reconcile.data = &g;
	d.topics = EM_TOPIC_BIT(EM_TOPIC_GATEWAYS) | EM_TOPIC_BIT(EM_TOPIC_SERVICES) |
		   EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	d.on_change = gatewayd_change;
	d.on_synced = gatewayd_synced;
	d.fill_health = gatewayd_health;
	d.busy = gatewayd_busy;
	d.fill_metrics = gw_stats_fill;
	d.on_shutdown = gatewayd_shutdown;
	d.arg = &g;
	gatewayd_sandbox(&d);
	daemon_start(&d);
	daemon_run(&d);
	gw_listen_closeall(&g);
	tunclient_free(g.tc);
	gw_tls_flush_cache();
	gw_route_cache_clear();
	gw_upstream_free(&g);
	relay_pool_drain(&g.pool);
	hmap_free(g.listeners, NULL);
	gw_stats_free(&g);
	free(g.gws);
	return 0;
}
