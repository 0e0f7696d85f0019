/*
 * Upstreams: the ready endpoints of a route's destination service, in
 * round robin order (one counter per service port), the service port
 * mapped to the endpoint port by name (or the only one, or targetPort).
 * A local endpoint (our node, or no node) is dialled here; a remote one
 * goes through tunneld (gw_conn.c hands it one end of a socketpair).
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

int
gw_upstream_pick(struct gw *g, const struct em_gw_route *r, struct gw_pick *picks, size_t max,
		 size_t *n, int *status, char *why, size_t whylen)
{
	const struct em_object *so, *eo;
	const struct em_service *svc;
	const struct em_endpoints *eps;
	const struct em_port *sp = NULL, *ep = NULL;
	const char *self = g->d->cfg.node_name;
	char key[EM_KEY_LEN], rrkey[EM_KEY_LEN + 8];
	size_t i, m = 0, start, k;
	uint64_t *ctr;

	*n = 0;
	*status = 503;
	gw_dest_key(r, key, sizeof(key));
	if ((so = replica_get(g->d->replica, EM_TOPIC_SERVICES, key)) == NULL) {
		snprintf(why, whylen, "no service %s", key);
		return -1;
	}
	svc = so->u.svc;
	for (i = 0; i < svc->nports; i++)
		if (svc->ports[i].proto == EM_PROTO_TCP &&
		    (svc->ports[i].port == r->dest_port ||
		     (r->dest_port == 0 && svc->nports == 1))) {
			sp = &svc->ports[i];
			break;
		}
	if (sp == NULL) {
		snprintf(why, whylen, "service %s has no TCP port %u", key, r->dest_port);
		return -1;
	}
	if ((eo = replica_get(g->d->replica, EM_TOPIC_ENDPOINTS, key)) == NULL) {
		snprintf(why, whylen, "service %s has no endpoints", key);
		return -1;
	}
	eps = eo->u.eps;
	for (i = 0; i < eps->nports && ep == NULL; i++)
		if (eps->ports[i].proto == EM_PROTO_TCP &&
		    strcmp(eps->ports[i].name, sp->name) == 0)
			ep = &eps->ports[i];
	if (ep == NULL && eps->nports == 1)
		ep = &eps->ports[0];
	for (i = 0; i < eps->nports && ep == NULL; i++)
		if (sp->target_port != 0 && eps->ports[i].port == sp->target_port)
			ep = &eps->ports[i];
	if (ep == NULL) {
		snprintf(why, whylen, "service %s: no endpoint port for port %u", key, sp->port);
		return -1;
	}
	for (i = 0; i < eps->neps; i++)
		if (eps->eps[i].ready)
			m++;
	if (m == 0) {
		snprintf(why, whylen, "service %s has no ready endpoint", key);
		return -1;
	}
	snprintf(rrkey, sizeof(rrkey), "%s:%u", key, sp->port);
	if ((ctr = hmap_get(g->rr, rrkey)) == NULL) {
		ctr = xcalloc(1, sizeof(*ctr));
		hmap_put(g->rr, rrkey, ctr);
	}
	start = (size_t)((*ctr)++ % m);
	for (i = 0, k = 0; i < eps->neps && *n < max; i++) {
		const struct em_endpoint *e = &eps->eps[(i + 0) % eps->neps];

		if (!e->ready)
			continue;
		if (k++ < start)
			continue;
		snprintf(picks[*n].ip, sizeof(picks[*n].ip), "%s", e->ip);
		picks[*n].port = ep->port;
		snprintf(picks[*n].node, sizeof(picks[*n].node), "%s", e->node);
		picks[*n].remote = e->node[0] != '\0' && strcmp(e->node, self) != 0;
		(*n)++;
	}
	/* wrap around: the ready endpoints before start */
	for (i = 0, k = 0; i < eps->neps && *n < max && k < start; i++) {
		const struct em_endpoint *e = &eps->eps[i];

		if (!e->ready)
			continue;
		k++;
		snprintf(picks[*n].ip, sizeof(picks[*n].ip), "%s", e->ip);
		picks[*n].port = ep->port;
		snprintf(picks[*n].node, sizeof(picks[*n].node), "%s", e->node);
		picks[*n].remote = e->node[0] != '\0' && strcmp(e->node, self) != 0;
		(*n)++;
	}
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
