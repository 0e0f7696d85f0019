/*
 * Listeners: one socket per (address, port) of every server of every
 * Gateway.  The address is 0.0.0.0 unless modules.edgeGateway narrows it:
 * nic (comma list of interface names, "*" all), includeIP and excludeIP
 * (comma lists of IPs or CIDRs; includeIP "*" keeps all, excludeIP "*"
 * drops none, as in EdgeMesh); then every matching IPv4 address of the
 * interfaces up at reconcile time gets its own socket.
 * A change of the gateways reconciles: new ports are opened, ports nobody
 * serves any more are closed, the others are left alone (open connections
 * never notice).  A port that cannot be bound (another program holds it)
 * is logged once and retried every 10 s; until it is bound, gatewayd's
 * health says "degraded" (not ready).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd.h"
#include "log.h"
#include "netaddr.h"
#include "replica.h"

#define GW_MAX_ADDRS 32

static int
gw_cmp(const void *a, const void *b)
{
	const struct em_gateway *const *x = a, *const *y = b;
	int r;

	if ((r = strcmp((*x)->ns, (*y)->ns)) != 0)
		return r;
	return strcmp((*x)->name, (*y)->name);
}

/* The replica's gateways in key order; the array is rebuilt after a change. */
void
gw_gateways_refresh(struct gw *g)
{
	struct replica_iter it;
	const struct em_object *o;
	size_t n;

	if (!g->gws_dirty)
		return;
	n = replica_count(g->d->replica, EM_TOPIC_GATEWAYS);
	free(g->gws);
	g->gws = xcalloc(n + 1, sizeof(*g->gws));
	g->ngws = 0;
	replica_iter_init(&it);
	while (g->ngws < n && replica_next(g->d->replica, EM_TOPIC_GATEWAYS, &it, &o))
		g->gws[g->ngws++] = o->u.gw;
	qsort(g->gws, g->ngws, sizeof(*g->gws), gw_cmp);
	g->gws_dirty = 0;
}

/* Is ip in the comma list of IPs and CIDRs? */
static int
ip_in_list(const char *list, struct in_addr ip)
{
	char buf[256], *tok, *save = NULL, *slash;
	struct in_addr a;
	unsigned long bits;
	uint32_t mask;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save)) {
		bits = 32;
		if ((slash = strchr(tok, '/')) != NULL) {
			*slash = '\0';
			bits = strtoul(slash + 1, NULL, 10);
			if (bits > 32)
				continue;
		}
		if (inet_pton(AF_INET, tok, &a) != 1)
			continue;
		mask = bits == 0 ? 0 : htonl(0xffffffffu << (32 - bits));
		if ((a.s_addr & mask) == (ip.s_addr & mask))
			return 1;
	}
	return 0;
}

static int
name_in_list(const char *list, const char *name)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL; tok = strtok_r(NULL, ", ", &save))
		if (strcmp(tok, "*") == 0 || strcmp(tok, name) == 0)
			return 1;
	return 0;
}

static int
is_all(const char *s)
{
	return s[0] == '\0' || strcmp(s, "*") == 0;
}

static size_t
listen_addrs(struct gw *g, char addrs[][INET_ADDRSTRLEN], size_t max)
{
	const char *nic = g->d->cfg.gateway.nic, *inc = g->d->cfg.gateway.include_ip;
	const char *exc = g->d->cfg.gateway.exclude_ip;
	struct ifaddrs *ifa, *i;
	struct in_addr a;
	size_t n = 0, k;

	if (is_all(nic) && is_all(inc) && is_all(exc)) {
		snprintf(addrs[0], INET_ADDRSTRLEN, "0.0.0.0");
		return 1;
	}
	if (getifaddrs(&ifa) == -1) {
		log_warn("getifaddrs");
		return 0;
	}
	for (i = ifa; i != NULL && n < max; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_addr->sa_family != AF_INET)
			continue;
		if (!is_all(nic) && !name_in_list(nic, i->ifa_name))
			continue;
		a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr;
		if (!is_all(inc) && !ip_in_list(inc, a))
			continue;
		if (!is_all(exc) && ip_in_list(exc, a))
			continue;
		inet_ntop(AF_INET, &a, addrs[n], INET_ADDRSTRLEN);
		for (k = 0; k < n && strcmp(addrs[k], addrs[n]) != 0; k++)
			;
		if (k == n)
			n++;
	}
	freeifaddrs(ifa);
	return n;
}

static void
listener_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct gw_listener *l = w->data;
	struct gw *g = l->g;
	struct sockaddr_storage ss;
	char ip[INET6_ADDRSTRLEN];
	int fd, i;

	for (i = 0; i < 64; i++) {
		if ((fd = net_accept(l->fd, &ss)) == -1) {
			if (errno != EAGAIN)
				log_warn("accept on %s", l->key);
			return;
		}
		if (g->nconns >= GW_MAX_CONNS) {
			log_warnx_once("gw-maxconns", "%d connections: refusing more",
				       GW_MAX_CONNS);
			close(fd);
			continue;
		}
		g->accepted++;
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip,
				  sizeof(ip));
		else
			snprintf(ip, sizeof(ip), "unknown");
		gw_conn_accept(g, l, fd, ip);
	}
}

/* A parked listening socket for key, if it is bound where we want it. */
static int
listener_kept(struct gw *g, const char *key, const struct sockaddr_in *want)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa), tl;
	int fd, t, acc;

	if ((fd = daemon_fd_fetch(g->d, key)) == -1)
		return -1;
	tl = sizeof(t);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &tl) == -1 || t != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &tl) == -1 || !acc ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1 || sa.sin_family != AF_INET ||
	    sa.sin_port != want->sin_port || sa.sin_addr.s_addr != want->sin_addr.s_addr) {
		close(fd);
		return -1;
	}
	log_info("took the listener %s back from the controller", key);
	return fd;
}

static struct gw_listener *
listener_open(struct gw *g, const char *key, const char *addr, uint16_t port)
{
	struct gw_listener *l;
	struct sockaddr_in sin;
	int fd, one = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return NULL;
	/* after a restart: the listener this key had, parked in the controller */
	if (!g->try_kept || (fd = listener_kept(g, key, &sin)) == -1)
		fd = -1;
	if (fd != -1)
		goto have;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("socket");
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(fd, 511) == -1) {
		if (errno == EADDRINUSE)
			log_warnx_once(key,
				       "cannot listen on %s: the port is held by another "
				       "program; this server is skipped (retried every 10 s)",
				       key);
		else
			log_warnx_once(
			    key, "cannot listen on %s: %s%s", key, strerror(errno),
			    errno == EACCES ? " (ports below 1024 need CAP_NET_BIND_SERVICE)" : "");
		close(fd);
		return NULL;
	}
have:
	daemon_fd_keep(g->d, key, fd);
	l = xcalloc(1, sizeof(*l));
	l->g = g;
	snprintf(l->key, sizeof(l->key), "%s", key);
	l->port = port;
	l->fd = fd;
	ev_io_init(&l->w, listener_accept, fd, EV_READ);
	l->w.data = l;
	ev_io_start(g->d->loop, &l->w);
	log_info("listening on %s", key);
	return l;
}

/* forget: the listener goes for good (not a shutdown): the controller drops it too */
static void
listener_close(struct gw *g, struct gw_listener *l, int forget)
{
	ev_io_stop(g->d->loop, &l->w);
	if (forget)
		daemon_fd_forget(g->d, l->key);
	close(l->fd);
	log_info("closed listener %s", l->key);
	free(l);
}

void
gw_listen_reconcile(struct gw *g)
{
	char addrs[GW_MAX_ADDRS][INET_ADDRSTRLEN], key[64];
	struct gw_listener *l;
	struct hmap_iter it;
	const char *k;
	void *v;
	size_t na, i, j, a;
	int failed = 0;

	gw_gateways_refresh(g);
	na = listen_addrs(g, addrs, GW_MAX_ADDRS);
	hmap_iter_init(&it);
	while (hmap_next(g->listeners, &it, &k, &v))
		((struct gw_listener *)v)->seen = 0;
	for (i = 0; i < g->ngws; i++)
		for (j = 0; j < g->gws[i]->nservers; j++) {
			uint16_t port = g->gws[i]->servers[j].port;

			if (port == 0)
				continue;
			for (a = 0; a < na; a++) {
				snprintf(key, sizeof(key), "%s:%u", addrs[a], port);
				if ((l = hmap_get(g->listeners, key)) == NULL) {
					if ((l = listener_open(g, key, addrs[a], port)) == NULL) {
						if (failed++ == 0)
							snprintf(g->unbound, sizeof(g->unbound),
								 "%s", key);
						continue;
					}
					hmap_put(g->listeners, key, l);
				}
				l->seen = 1;
			}
		}
	hmap_iter_init(&it);
	while (hmap_next(g->listeners, &it, &k, &v)) {
		l = v;
		if (!l->seen) {
			hmap_del(g->listeners, l->key);
			listener_close(g, l, 1);
		}
	}
	g->try_kept = 0;
	g->nunbound = (size_t)failed;
	ev_timer_stop(g->d->loop, &g->reconcile);
	if (failed) {
		ev_timer_set(&g->reconcile, 10.0, 0.0);
		ev_timer_start(g->d->loop, &g->reconcile);
	}
}

void
gw_listen_schedule(struct gw *g)
{
	g->gws_dirty = 1;
	ev_timer_stop(g->d->loop, &g->reconcile);
	ev_timer_set(&g->reconcile, 0.05, 0.0);
	ev_timer_start(g->d->loop, &g->reconcile);
}

void
gw_listen_closeall(struct gw *g)
{
	struct hmap_iter it;
	const char *k;
	void *v;

	ev_timer_stop(g->d->loop, &g->reconcile);
	hmap_iter_init(&it);
	while (hmap_next(g->listeners, &it, &k, &v)) {
		hmap_del(g->listeners, ((struct gw_listener *)v)->key);
		listener_close(g, v, 0);
	}
}
