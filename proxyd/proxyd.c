/*
 * edgemesh-proxyd: service redirect rules, TCP/UDP proxying and load balancing.
 * This file holds main(): options, config, privileges, the event loop.
 *
 * Order: the device and its address, the two listening sockets, the
 * conntrack socket and the rules backend are set up as root; then
 * privdrop() keeps only CAP_NET_ADMIN (rules, conntrack lookups; made
 * inheritable for the nft/iptables children).  Nothing is bound after
 * that: UDP no longer binds flow sockets to ClusterIP:port, so
 * CAP_NET_BIND_SERVICE is not kept.  Rules from a previous run stay in place until the first
 * controller snapshot, then are replaced atomically; connections that
 * arrive before it wait (bounded) instead of being refused.
 */
#include <arpa/inet.h>
#include <linux/capability.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "proxyd.h"

static int opt_cleanup;
static const char *opt_port, *opt_kind;

static const struct em_opt proxyd_opts[] = {
    {"cleanup", 0, &opt_cleanup, NULL,
     "remove the redirect rules, policy routing and the device, then exit"},
    {"port", 1, NULL, &opt_port,
     "the port TCP and UDP service traffic is DNATed to (default 10801)"},
    {"device-kind", 1, NULL, &opt_kind,
     "auto|dummy|bridge|lo: how to create the bridge device (default auto)"},
    {NULL, 0, NULL, NULL, NULL},
};

static void
proxyd_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
	      const struct em_object *cur)
{
	struct proxyd *p = arg;

	if (!p->synced)
		return;
	if (t == EM_TOPIC_SERVICES || t == EM_TOPIC_ENDPOINTS)
		proxy_svc_update(p, key);
}

static void
proxyd_synced(void *arg)
{
	struct proxyd *p = arg;

	proxy_svc_resync(p);
	if (!p->synced) {
		p->synced = 1;
		rules_sync_full(p);
		ev_timer_start(p->loop, &p->rules_check);
		proxy_tcp_synced(p);
	}
	log_info("synced: %zu service ports", hmap_count(p->vips));
}

static void
proxyd_health(void *arg, struct ipc_health *h)
{
	struct proxyd *p = arg;

	snprintf(h->detail, sizeof(h->detail),
		 "services=%zu endpoints=%zu ports=%zu rules=%s tcp=%zu udp=%zu conns=%llu "
		 "tunneled=%llu failed=%llu udp_evicted=%llu",
		 replica_count(p->d->replica, EM_TOPIC_SERVICES),
		 replica_count(p->d->replica, EM_TOPIC_ENDPOINTS), hmap_count(p->vips), p->rb->name,
		 proxy_tcp_count(p), proxy_udp_count(p), (unsigned long long)p->n_conns,
		 (unsigned long long)p->n_tunneled, (unsigned long long)p->n_fail,
		 (unsigned long long)proxy_udp_evicted(p));
}

static void
proxyd_shutdown(void *arg)
{
	proxy_tcp_quiesce(arg);
	log_info("exiting; the redirect rules stay in place (--cleanup removes them)");
}

/* Connections proxyd relays itself (local endpoints, or not yet handed to tunneld). */
static size_t
proxyd_busy(void *arg)
{
	return proxy_tcp_count(arg);
}

int
main(int argc, char **argv)
{
	static struct em_daemon d;
	static struct proxyd p;
	/* NET_ADMIN: the rules (children) and conntrack lookups */
	const int caps[] = {CAP_NET_ADMIN};
	int kind, port;

	daemon_init(&d, "proxyd", argc, argv, proxyd_opts);
	memset(&p, 0, sizeof(p));
	p.d = &d;
	p.loop = d.loop;

	if (opt_cleanup) {
		rules_cleanup_all();
		bridge_route_cleanup();
		bridge_cleanup(d.cfg.bridge_device, d.cfg.bridge_ip);
		log_info("cleanup done");
		return 0;
	}
	port = opt_port ? atoi(opt_port) : PROXY_PORT_DEFAULT;
	if (port <= 0 || port > 65535)
		fatalx("--port %s: not a port number", opt_port);
	p.port = (uint16_t)port;
	if ((kind = bridge_parse_kind(opt_kind)) == -1)
		fatalx("--device-kind %s: use auto, dummy, bridge or lo", opt_kind);
	if (inet_pton(AF_INET, d.cfg.bridge_ip, &p.bind_ip) != 1)
		fatalx("commonConfig.bridgeDeviceIP %s: not an IPv4 address", d.cfg.bridge_ip);
	if (!d.cfg.proxy.enable)
		log_warnx("modules.edgeProxy.enable is false: serving anyway, as proxyd was "
			  "started");
	if (bridge_setup(d.cfg.bridge_device, d.cfg.bridge_ip, kind) == -1)
		fatalx("cannot set up %s with %s", d.cfg.bridge_device, d.cfg.bridge_ip);
	bridge_route_cleanup(); /* what a proxyd from before UDP DNAT left */
	if (proxy_tcp_listen(&p) == -1 || proxy_udp_listen(&p) == -1)
		fatalx("cannot listen on %s:%d", d.cfg.bridge_ip, port);
	if (rules_init(&p, d.cfg.proxy.rules_backend) == -1)
		fatalx("no usable rules backend");

	privdrop(&d, caps, (int)(sizeof(caps) / sizeof(caps[0])));
	rules_caps_for_children();

	proxy_svc_init(&p);
	proxy_tun_init(&p);
	proxy_tcp_start(&p);
	proxy_udp_start(&p);

	d.topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS) |
		   EM_TOPIC_BIT(EM_TOPIC_PEERS) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	d.on_change = proxyd_change;
	d.on_synced = proxyd_synced;
	d.fill_health = proxyd_health;
	d.on_shutdown = proxyd_shutdown;
	d.busy = proxyd_busy;
	d.fill_metrics = proxy_metrics_fill;
	d.arg = &p;
	proxyd_sandbox(&d);
	daemon_start(&d);
	daemon_run(&d);
	return 0;
}
