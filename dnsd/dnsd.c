/*
 * edgemesh-dnsd: node-local DNS for cluster names, forwarding and a cache.
 * This file holds main(): options, config, sockets, privileges, the loop,
 * and the controller callbacks that feed the zone.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "dns.h"
#include "log.h"
#include "netaddr.h"
#include "srcgate.h"

#define NORMAL_CACHE_TTL_MAX 3600 /* normal mode: upstream TTLs, capped like CoreDNS */

struct dnsd_state {
	struct em_daemon *d;
	struct dns_zone *zone;
	struct dns_cache *cache;
	struct dns_fwd *fwd;
	struct dns_server *srv;
	struct sockaddr_storage listen;
	bool cache_dns;
	char upstream_desc[256];
	struct srcgate gate; /* commonConfig.clientSourceRanges */
};

static const char *opt_listen, *opt_resolv;
static const struct em_opt dnsd_opts[] = {
    {"listen", 1, NULL, &opt_listen, "ADDR:PORT instead of bridgeDeviceIP:listenPort"},
    {"resolv-conf", 1, NULL, &opt_resolv, "FILE to read upstreams from (/etc/resolv.conf)"},
    {NULL, 0, NULL, NULL, NULL},
};

static in_port_t
ss_port(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
					 : ((const struct sockaddr_in *)ss)->sin_port;
}

static bool
ss_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
}

/*
 * Would sending to up come back to us?  Our own address and port, the
 * bridge address on our port, or any local address on our port when we
 * listen on the wildcard address.
 */
static bool
dnsd_loops(const struct dnsd_state *s, const struct sockaddr_storage *up)
{
	struct sockaddr_storage bridge;
	char port[8];

	if (ss_port(up) != ss_port(&s->listen))
		return false;
	if (up->ss_family == s->listen.ss_family &&
	    memcmp(up, &s->listen,
		   up->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
					     : sizeof(struct sockaddr_in)) == 0)
		return true;
	snprintf(port, sizeof(port), "%u", ntohs(ss_port(&s->listen)));
	if (dns_upstream_parse(s->d->cfg.bridge_ip, &bridge) == 0 && up->ss_family == AF_INET &&
	    ((const struct sockaddr_in *)up)->sin_addr.s_addr ==
		((struct sockaddr_in *)&bridge)->sin_addr.s_addr)
		return true;
	return ss_wildcard(&s->listen) && dns_addr_is_local(up);
}

/* Add an upstream unless it loops back to us or is already listed. */
static void
dnsd_add_upstream(const struct dnsd_state *s, const struct sockaddr_storage *ss,
		  struct sockaddr_storage *out, size_t *n, const char *where)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i;

	if (dnsd_loops(s, ss)) {
		log_warnx("%s: upstream %s is this dnsd; skipped", where,
			  net_addr_text(ss, buf, sizeof(buf)));
		return;
	}
	for (i = 0; i < *n; i++)
		if (memcmp(&out[i], ss, sizeof(*ss)) == 0)
			return;
	if (*n < DNS_UPSTREAMS_MAX)
		out[(*n)++] = *ss;
}

static void
dnsd_describe_upstreams(struct dnsd_state *s, const struct sockaddr_storage *up, size_t n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t i, off = 0;

	s->upstream_desc[0] = '\0';
	for (i = 0; i < n && off < sizeof(s->upstream_desc); i++)
		off +=
		    (size_t)snprintf(s->upstream_desc + off, sizeof(s->upstream_desc) - off, "%s%s",
				     i ? "," : "", net_addr_text(&up[i], buf, sizeof(buf)));
}

/* Normal mode: modules.edgeDNS.upstreamServers, else the host's resolv.conf. */
static size_t
dnsd_normal_upstreams(struct dnsd_state *s, struct sockaddr_storage *out)
{
	const struct em_config *cfg = &s->d->cfg;
	struct sockaddr_storage rc[DNS_UPSTREAMS_MAX], ss;
	const char *path = opt_resolv != NULL ? opt_resolv : "/etc/resolv.conf";
	size_t i, nrc, n = 0;

	for (i = 0; i < cfg->dns.n_upstreams; i++) {
		if (dns_upstream_parse(cfg->dns.upstreams[i], &ss) == -1) {
			log_warnx(
			    "%s: modules.edgeDNS.upstreamServers: %s is not ip[:port]; skipped",
			    cfg->path, cfg->dns.upstreams[i]);
			continue;
		}
		dnsd_add_upstream(s, &ss, out, &n, "modules.edgeDNS.upstreamServers");
	}
	if (cfg->dns.n_upstreams > 0)
		return n;
	if (dns_upstreams_from_resolv_conf(path, &s->listen, 1, rc, DNS_UPSTREAMS_MAX, &nrc) ==
	    -1) {
		log_warn("%s", path);
		return 0;
	}
	for (i = 0; i < nrc; i++)
		dnsd_add_upstream(s, &rc[i], out, &n, path);
	return n;
}

/*
 * cacheDNS mode, in EdgeMesh's order: the ClusterIPs of kube-system/coredns
 * and kube-system/kube-dns (autoDetect), then cacheDNS.upstreamServers.
 */
static size_t
dnsd_cache_upstreams(struct dnsd_state *s, struct sockaddr_storage *out)
{
	static const char *const detect[] = {"kube-system/coredns", "kube-system/kube-dns"};
	const struct em_config *cfg = &s->d->cfg;
	const struct em_object *o;
	struct sockaddr_storage ss;
	size_t i, n = 0;

	for (i = 0; cfg->dns.cache_autodetect && s->d->replica != NULL && i < 2; i++) {
		o = replica_get(s->d->replica, EM_TOPIC_SERVICES, detect[i]);
		if (o == NULL || o->u.svc->headless || o->u.svc->cluster_ip[0] == '\0' ||
		    dns_upstream_parse(o->u.svc->cluster_ip, &ss) == -1)
			continue;
		dnsd_add_upstream(s, &ss, out, &n, detect[i]);
	}
	for (i = 0; i < cfg->dns.n_cache_upstreams; i++) {
		if (dns_upstream_parse(cfg->dns.cache_upstreams[i], &ss) == -1) {
			log_warnx("%s: modules.edgeDNS.cacheDNS.upstreamServers: %s is not "
				  "ip[:port]; skipped",
				  cfg->path, cfg->dns.cache_upstreams[i]);
			continue;
		}
		dnsd_add_upstream(s, &ss, out, &n, "modules.edgeDNS.cacheDNS.upstreamServers");
	}
	return n;
}

static void
dnsd_cache_redetect(struct dnsd_state *s)
{
	struct sockaddr_storage up[DNS_UPSTREAMS_MAX];
	char old[sizeof(s->upstream_desc)];
	size_t n;

	n = dnsd_cache_upstreams(s, up);
	memcpy(old, s->upstream_desc, sizeof(old));
	dnsd_describe_upstreams(s, up, n);
	if (strcmp(old, s->upstream_desc) == 0)
		return;
	dns_fwd_set_upstreams(s->fwd, up, n);
	if (s->cache != NULL)
		dns_cache_flush(s->cache);
	if (n == 0)
		log_warnx("cacheDNS: no upstream (no kube-system/coredns or kube-dns service, "
			  "no cacheDNS.upstreamServers); answering SERVFAIL");
	else
		log_info("cacheDNS: upstreams %s", s->upstream_desc);
}

static void
dnsd_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
	    const struct em_object *cur)
{
	struct dnsd_state *s = arg;
	const struct em_object *o = cur != NULL ? cur : old;

	if (o == NULL)
		return;
	if (s->cache_dns) {
		if (t == EM_TOPIC_SERVICES && strcmp(o->u.svc->ns, "kube-system") == 0 &&
		    s->d->ctl_synced)
			dnsd_cache_redetect(s);
		return;
	}
	if (s->zone == NULL)
		return;
	if (t == EM_TOPIC_SERVICES) {
		if (cur != NULL)
			dns_zone_upsert_service(s->zone, em_service_dup(cur->u.svc));
		else
			dns_zone_delete_service(s->zone, old->u.svc->ns, old->u.svc->name);
	} else if (t == EM_TOPIC_ENDPOINTS) {
		if (cur != NULL)
			dns_zone_upsert_endpoints(s->zone, em_endpoints_dup(cur->u.eps));
		else
			dns_zone_delete_endpoints(s->zone, old->u.eps->ns, old->u.eps->name);
	}
}

/*
 * Until the first sync, queries stay queued in the sockets (a restarted
 * dnsd finds those that came while none ran): answering them from an
 * empty zone would only give SERVFAIL.  Bounded: after HOLD_SECONDS we
 * serve anyway (the zone answers SERVFAIL, forwarding works).
 */
#define HOLD_SECONDS 3.0

static void
dnsd_serve(void *arg, const char *why)
{
	struct dnsd_state *s = arg;

	dns_udp_listen(s->srv, true);
	dns_tcp_listen(s->srv, true);
	log_info("serving queries (%s)", why);
}

static void
dnsd_synced(void *arg)
{
	struct dnsd_state *s = arg;

	if (s->zone != NULL)
		dns_zone_set_synced(s->zone, true);
	if (s->cache_dns && s->fwd != NULL)
		dnsd_cache_redetect(s);
}

static void
dnsd_metrics(void *arg, struct em_samples *ss)
{
	struct dnsd_state *s = arg;

	if (s->srv != NULL)
		dns_stats_fill(&s->srv->st, s->srv->fwd, ss);
}

static void
dnsd_health(void *arg, struct ipc_health *h)
{
	struct dnsd_state *s = arg;
	const struct dns_stats *st;
	size_t nsvc = 0, neps = 0, nrev = 0;

	if (s->srv == NULL) {
		snprintf(h->detail, sizeof(h->detail), "disabled (modules.edgeDNS.enable: false)");
		return;
	}
	st = &s->srv->st;
	if (s->zone != NULL)
		dns_zone_stats(s->zone, &nsvc, &neps, &nrev);
	snprintf(h->detail, sizeof(h->detail),
		 "%s services=%zu endpoints=%zu queries=%llu zone=%llu cache_hits=%llu "
		 "forwarded=%llu servfail=%llu formerr=%llu cached=%zu tcp=%zu not_client=%llu "
		 "upstreams=%s",
		 s->cache_dns ? "cacheDNS" : "zone", nsvc, neps, (unsigned long long)st->queries,
		 (unsigned long long)st->zone, (unsigned long long)st->cache_hits,
		 (unsigned long long)st->forwarded, (unsigned long long)st->servfail,
		 (unsigned long long)st->formerr, s->cache != NULL ? dns_cache_count(s->cache) : 0,
		 s->srv->nconns, (unsigned long long)s->gate.refused,
		 s->upstream_desc[0] != '\0' ? s->upstream_desc : "none");
}

/* A socket parked in the controller, if it is bound where we listen. */
static int
dnsd_kept(struct dnsd_state *s, const char *key, int type)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss), tl;
	int fd, t;

	if ((fd = daemon_fd_fetch(s->d, key)) == -1)
		return -1;
	tl = sizeof(t);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) == -1 || t != type ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) == -1 ||
	    !dns_sockaddr_equal(&ss, &s->listen)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The sockets: systemd's if it passed any, else bound here (still privileged). */
static void
dnsd_sockets(struct dnsd_state *s, int *udp, size_t *nudp, int *tcp, size_t *ntcp)
{
	const struct em_config *cfg = &s->d->cfg;
	char addr[INET6_ADDRSTRLEN + 8], port[8], where[64];
	int n;

	if (opt_listen != NULL) {
		if (dns_upstream_parse(opt_listen, &s->listen) == -1)
			fatalx("--listen %s: not ip:port", opt_listen);
	} else {
		snprintf(port, sizeof(port), "%d", cfg->dns.listen_port);
		snprintf(where, sizeof(where), "%s:%s", cfg->bridge_ip, port);
		if (dns_upstream_parse(where, &s->listen) == -1)
			fatalx("commonConfig.bridgeDeviceIP %s, modules.edgeDNS.listenPort %d: "
			       "not an address to listen on",
			       cfg->bridge_ip, cfg->dns.listen_port);
	}
	net_addr_text(&s->listen, addr, sizeof(addr));
	if ((n = dns_listen_activated(udp, nudp, tcp, ntcp, DNS_UDP_LISTEN_MAX)) == -1)
		fatalx("socket activation: unusable sockets (see above); check "
		       "edgemesh-dnsd.socket");
	if (n > 0) {
		log_info("socket activation: %zu UDP and %zu TCP sockets", *nudp, *ntcp);
		if (*nudp == 0 && *ntcp == 0)
			fatalx("socket activation passed no UDP or TCP socket");
		return;
	}
	/* a dnsd that ran before us parked its sockets in the controller */
	udp[0] = dnsd_kept(s, "udp", SOCK_DGRAM);
	tcp[0] = dnsd_kept(s, "tcp", SOCK_STREAM);
	if (udp[0] != -1 && tcp[0] != -1) {
		log_info("took the udp and tcp sockets for %s back from the controller: no query "
			 "was dropped while dnsd was away",
			 addr);
	} else {
		if (udp[0] != -1)
			close(udp[0]);
		if (tcp[0] != -1)
			close(tcp[0]);
		if ((udp[0] = dns_listen_bind(&s->listen, SOCK_DGRAM)) == -1)
			fatal("udp %s", addr);
		if ((tcp[0] = dns_listen_bind(&s->listen, SOCK_STREAM)) == -1)
			fatal("tcp %s", addr);
		log_info("listening on %s udp and tcp", addr);
	}
	*nudp = *ntcp = 1;
	daemon_fd_keep(s->d, "udp", udp[0]);
	daemon_fd_keep(s->d, "tcp", tcp[0]);
}

int
main(int argc, char **argv)
{
	struct em_daemon d;
	struct dnsd_state s;
	struct sockaddr_storage up[DNS_UPSTREAMS_MAX];
	int udp[DNS_UDP_LISTEN_MAX], tcp[DNS_TCP_LISTEN_MAX];
	size_t nudp = 0, ntcp = 0, nup, i;
	const struct em_config *cfg;
	char why[160];

	daemon_init(&d, "dnsd", argc, argv, dnsd_opts);
	memset(&s, 0, sizeof(s));
	s.d = &d;
	cfg = &d.cfg;
	s.cache_dns = cfg->dns.cache_dns;

	if (cfg->dns.enable || opt_listen != NULL)
		dnsd_sockets(&s, udp, &nudp, tcp, &ntcp);
	else
		log_warnx("modules.edgeDNS.enable is false: not serving DNS");
	privdrop(&d, NULL, 0);

	d.topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_SELF);
	if (nudp + ntcp > 0) {
		if (!s.cache_dns) {
			s.zone = dns_zone_new(cfg->cluster_domain, (uint32_t)cfg->dns.ttl,
					      cfg->bridge_ip);
			if (s.zone == NULL)
				fatalx("commonConfig.clusterDomain %s: not a domain name",
				       cfg->cluster_domain);
			d.topics |= EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
			nup = dnsd_normal_upstreams(&s, up);
			if (nup == 0)
				log_warnx(
				    "no upstream DNS server (modules.edgeDNS.upstreamServers, "
				    "resolv.conf): names outside %s get SERVFAIL",
				    cfg->cluster_domain);
		} else {
			nup = dnsd_cache_upstreams(&s, up);
			if (nup == 0 && !cfg->dns.cache_autodetect)
				fatalx("%s: modules.edgeDNS.cacheDNS: no upstreamServers and "
				       "autoDetect off; set one of them",
				       cfg->path[0] ? cfg->path : "config");
		}
		dnsd_describe_upstreams(&s, up, nup);
		log_info("%s; upstreams %s", s.cache_dns ? "cacheDNS mode" : "zone mode",
			 nup > 0 ? s.upstream_desc : "none yet");
		s.fwd = dns_fwd_new(d.loop, up, nup);
		/* EdgeMesh's force_tcp: UDP to a ClusterIP would have to cross the mesh */
		dns_fwd_set_tcp_only(s.fwd, s.cache_dns);
		if (cfg->dns.cache_size > 0)
			s.cache = dns_cache_new((size_t)cfg->dns.cache_size,
						s.cache_dns ? (uint32_t)cfg->dns.cache_ttl
							    : NORMAL_CACHE_TTL_MAX);
		s.srv = dns_server_new(d.loop, s.zone, s.cache, s.fwd);
		if (srcgate_init(&s.gate, cfg->client_ranges, cfg->n_client_ranges, &d.replica,
				 cfg->node_name, why, sizeof(why)) == -1)
			fatalx("commonConfig.clientSourceRanges: %s", why);
		s.srv->gate = &s.gate;
		if (cfg->n_client_ranges == 0)
			d.topics |= EM_TOPIC_BIT(EM_TOPIC_PEERS); /* our Node addresses */
		for (i = 0; i < nudp; i++)
			dns_udp_add(s.srv, udp[i]);
		for (i = 0; i < ntcp; i++)
			dns_tcp_add(s.srv, tcp[i]);
		dns_udp_listen(s.srv, false);
		dns_tcp_listen(s.srv, false);
		d.on_serve = dnsd_serve; /* queries wait until the first sync */
		d.hold_secs = HOLD_SECONDS;
	}

	d.on_change = dnsd_change;
	d.on_synced = dnsd_synced;
	d.fill_health = dnsd_health;
	d.fill_metrics = dnsd_metrics;
	d.arg = &s;
	dnsd_sandbox(&d, opt_resolv);
	daemon_start(&d);
	daemon_run(&d);

	dns_server_free(s.srv);
	dns_fwd_free(s.fwd);
	dns_cache_free(s.cache);
	dns_zone_free(s.zone);
	return 0;
}
