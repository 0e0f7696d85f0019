/*
 * Upstreams: the ready endpoints of a route's destination service, the
 * service port mapped to the endpoint port by name (or the only one, or
 * targetPort), balanced per service port by common/lb.c as the service's
 * DestinationRule says (ROUND_ROBIN, RANDOM, consistent hash on a header,
 * a cookie or the source IP; sessionAffinity ClientIP wins), as proxyd
 * does.  A balancer is rebuilt when the replica changed since it was
 * built.  A local endpoint (our node, or no node) is dialled here; a
 * remote one goes through tunneld (gw_conn_up.c hands it one end of a
 * socketpair).
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gatewayd.h"
#include "log.h"
#include "replica.h"

struct gw_lb {
	struct lb lb;
	uint64_t version; /* the replica's when built */
	size_t n;
	struct gw_pick *eps; /* the balancer's endpoints, in its order */
	char why[300];	     /* when n == 0 */
};

static void
gw_lb_free(void *arg)
{
	struct gw_lb *l = arg;

	lb_free(&l->lb);
	free(l->eps);
	free(l);
}

void
gw_upstream_free(struct gw *g)
{
	hmap_free(g->lbs, gw_lb_free);
	g->lbs = NULL;
}

/* The endpoint port serving service port sp, NULL if none. */
static const struct em_port *
ep_port(const struct em_port *sp, const struct em_endpoints *eps)
{
	const struct em_port *ep = NULL;
	size_t i;

	for (i = 0; i < eps->nports && ep == NULL; i++)
		if (eps->ports[i].proto == EM_PROTO_TCP &&
		    strcmp(eps->ports[i].name, sp->name) == 0)
			ep = &eps->ports[i];
	if (ep == NULL && eps->nports == 1)
		ep = &eps->ports[0];
	for (i = 0; i < eps->nports && ep == NULL; i++)
		if (sp->target_port != 0 && eps->ports[i].port == sp->target_port)
			ep = &eps->ports[i];
	return ep;
}

/* Rebuild l from the replica: service, port, ready endpoints, policy. */
static void
gw_lb_build(struct gw *g, struct gw_lb *l, const char *key, uint16_t port)
{
	const struct em_object *so, *eo;
	const struct em_service *svc;
	const struct em_endpoints *eps;
	const struct em_port *sp = NULL, *ep;
	const char *self = g->d->cfg.node_name;
	struct lb_conf conf;
	char **ids;
	size_t i;

	l->n = 0;
	if ((so = replica_get(g->d->replica, EM_TOPIC_SERVICES, key)) == NULL) {
		snprintf(l->why, sizeof(l->why), "no service %s", key);
		goto empty;
	}
	svc = so->u.svc;
	for (i = 0; i < svc->nports; i++)
		if (svc->ports[i].proto == EM_PROTO_TCP &&
		    (svc->ports[i].port == port || (port == 0 && svc->nports == 1))) {
			sp = &svc->ports[i];
			break;
		}
	if (sp == NULL) {
		snprintf(l->why, sizeof(l->why), "service %s has no TCP port %u", key, port);
		goto empty;
	}
	if (lb_conf_service(&conf, svc, &g->d->cfg))
		log_warnx_once(key,
			       "service %s: LoadBalancer policy conflicted with sessionAffinity: "
			       "ClientIP; using round robin with affinity",
			       key);
	lb_reconf(&l->lb, &conf);
	if ((eo = replica_get(g->d->replica, EM_TOPIC_ENDPOINTS, key)) == NULL) {
		snprintf(l->why, sizeof(l->why), "service %s has no endpoints", key);
		goto empty;
	}
	eps = eo->u.eps;
	if ((ep = ep_port(sp, eps)) == NULL) {
		snprintf(l->why, sizeof(l->why), "service %s: no endpoint port for port %u", key,
			 sp->port);
		goto empty;
	}
	free(l->eps);
	l->eps = xcalloc(eps->neps ? eps->neps : 1, sizeof(*l->eps));
	ids = xcalloc(eps->neps ? eps->neps : 1, sizeof(char *));
	for (i = 0; i < eps->neps; i++) {
		const struct em_endpoint *e = &eps->eps[i];
		struct gw_pick *pk = &l->eps[l->n];

		if (!e->ready)
			continue;
		lb_endpoint_id(pk->id, sizeof(pk->id), e, ep->port);
		snprintf(pk->ip, sizeof(pk->ip), "%s", e->ip);
		pk->port = ep->port;
		snprintf(pk->node, sizeof(pk->node), "%s", e->node);
		pk->remote = e->node[0] != '\0' && strcmp(e->node, self) != 0;
		ids[l->n++] = pk->id;
	}
	lb_set_endpoints(&l->lb, ids, l->n);
	free(ids);
	if (l->n == 0)
		snprintf(l->why, sizeof(l->why), "service %s has no ready endpoint", key);
	return;
empty:
	lb_set_endpoints(&l->lb, NULL, 0);
}

/* The balancer of service key port, up to date. */
static struct gw_lb *
gw_lb_get(struct gw *g, const char *key, uint16_t port)
{
	struct lb_conf conf;
	struct gw_lb *l;
	char k[EM_KEY_LEN + 8];
	uint64_t v = replica_version(g->d->replica);

	snprintf(k, sizeof(k), "%s:%u", key, port);
	if ((l = hmap_get(g->lbs, k)) == NULL) {
		l = xcalloc(1, sizeof(*l));
		memset(&conf, 0, sizeof(conf));
		lb_init(&l->lb, &conf);
		hmap_put(g->lbs, k, l);
	} else if (l->version == v)
		return l;
	l->version = v;
	gw_lb_build(g, l, key, port);
	return l;
}

int
gw_upstream_sticky(struct gw *g, const char *key, uint16_t port)
{
	return lb_is_sticky(&gw_lb_get(g, key, port)->lb);
}

int
gw_upstream_pick(struct gw *g, const char *key, uint16_t port, const char *client, const char *head,
		 size_t headlen, const struct gw_pick *tried, size_t ntried, struct gw_pick *out,
		 int *status, char *why, size_t whylen)
{
	struct gw_lb *l = gw_lb_get(g, key, port);
	unsigned char *skip;
	char hkey[256];
	const char *hk = NULL;
	size_t i, k;
	int idx;

	*status = 503;
	if (l->n == 0) {
		snprintf(why, whylen, "%s", l->why);
		return -1;
	}
	skip = xcalloc(l->n, 1);
	for (i = 0; i < l->n; i++)
		for (k = 0; k < ntried; k++)
			if (strcmp(l->eps[i].id, tried[k].id) == 0)
				skip[i] = 1;
	if (head != NULL && lb_wants_peek(&l->lb) &&
	    lb_http_key(&l->lb, head, headlen, hkey, sizeof(hkey)) == 1)
		hk = hkey;
	idx = lb_pick(&l->lb, client, hk, hk != NULL ? strlen(hk) : 0, skip, ev_now(g->d->loop));
	free(skip);
	if (idx == -1) {
		snprintf(why, whylen, "service %s: every ready endpoint was tried", key);
		return -1;
	}
	*out = l->eps[idx];
	return 0;
}

int
gw_upstream_connect(const struct gw_pick *p)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, p->ip, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(p->port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, p->ip, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(p->port);
		sl = sizeof(*s6);
	} else {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) == -1 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}
