/*
 * gatewayd's stream rights on tunnel.sock: only the destinations of its
 * gateway routes, that is a ready endpoint (on the node asked for, at the
 * port asked for) of a Service that some Gateway's route sends to
 * (em_gw_dest_key, the same resolution gatewayd makes).  tun_handoff.c asks
 * this after tun_target_kind() said "a service endpoint".
 */
#include <stdio.h>
#include <string.h>

#include "srcrange.h"
#include "tunneld.h"

static int
gw_routes_to(struct tunneld *t, const char *key)
{
	struct replica_iter it;
	const struct em_object *o;
	const struct em_gateway *gw;
	char dest[EM_KEY_LEN];
	size_t i;

	replica_iter_init(&it);
	while (replica_next(t->d->replica, EM_TOPIC_GATEWAYS, &it, &o)) {
		gw = o->u.gw;
		for (i = 0; i < gw->nroutes; i++) {
			em_gw_dest_key(&gw->routes[i], dest, sizeof(dest));
			if (strcmp(dest, key) == 0)
				return 1;
		}
	}
	return 0;
}

int
tun_gw_route_target(struct tunneld *t, const char *node, const struct tun_open_req *r, char *why,
		    size_t len)
{
	struct replica_iter it;
	const struct em_object *o;
	const struct em_endpoints *eps;
	struct ip_addr want, ip;
	char key[EM_KEY_LEN];
	size_t i, j;

	if (ip_addr_parse(r->ip, &want) == -1) {
		snprintf(why, len, "%s is not an IP address", r->ip);
		return 0;
	}
	replica_iter_init(&it);
	while (replica_next(t->d->replica, EM_TOPIC_ENDPOINTS, &it, &o)) {
		eps = o->u.eps;
		for (i = 0; i < eps->neps; i++) {
			if (strcmp(eps->eps[i].node, node) != 0 || !eps->eps[i].ready ||
			    ip_addr_parse(eps->eps[i].ip, &ip) == -1 || !ip_addr_equal(&ip, &want))
				continue;
			for (j = 0; j < eps->nports; j++) {
				if (eps->ports[j].port != r->port ||
				    eps->ports[j].proto != r->proto)
					continue;
				snprintf(key, sizeof(key), "%s/%s", eps->ns, eps->name);
				if (gw_routes_to(t, key))
					return 1;
			}
		}
	}
	snprintf(why, len, "%s:%u on %s is an endpoint of no Service a gateway route sends to",
		 r->ip, r->port, node);
	return 0;
}
