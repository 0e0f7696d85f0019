/* Subscribe like a daemon, take the snapshot into a replica, print it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "replica.h"

static int
cmp_obj(const void *a, const void *b)
{
	const struct em_object *const *x = a, *const *y = b;
	int c = strcmp((*x)->u.svc->ns, (*y)->u.svc->ns);

	return c != 0 ? c : strcmp((*x)->u.svc->name, (*y)->u.svc->name);
}

static void
print_service(const struct em_service *s, const struct em_endpoints *e)
{
	char ports[512] = "", lb[128];
	size_t i, n = 0, j;

	for (i = 0; i < s->nports; i++)
		n += (size_t)snprintf(ports + n, n < sizeof(ports) ? sizeof(ports) - n : 0,
				      "%s%s%s%u/%s", i ? "," : "", s->ports[i].name,
				      s->ports[i].name[0] ? ":" : "", s->ports[i].port,
				      em_proto_name(s->ports[i].proto));
	if (s->lb == EM_LB_CONSISTENT_HASH)
		snprintf(lb, sizeof(lb), "CONSISTENT_HASH(%s%s%s)",
			 s->hash == EM_HASH_HEADER	? "header "
			 : s->hash == EM_HASH_SOURCE_IP ? "sourceIP"
			 : s->hash == EM_HASH_COOKIE	? "cookie "
							: "?",
			 s->hash_arg, "");
	else
		snprintf(lb, sizeof(lb), "%s", em_lb_name(s->lb));
	if (s->affinity_client_ip)
		snprintf(lb + strlen(lb), sizeof(lb) - strlen(lb), " affinity=ClientIP/%us",
			 s->affinity_timeout);
	printf("%s/%s  %s  %s  lb=%s%s\n", s->ns, s->name,
	       s->type == EM_SVC_EXTERNAL_NAME ? s->external_name
	       : s->cluster_ip[0]	       ? s->cluster_ip
					       : "-",
	       ports, lb, s->proxy_label ? "  [service-proxy-name label]" : "");
	if (e == NULL || e->neps == 0) {
		printf("    (no endpoints)\n");
		return;
	}
	for (i = 0; i < e->neps; i++) {
		printf("    %-15s node=%-12s %s%s", e->eps[i].ip,
		       e->eps[i].node[0] ? e->eps[i].node : "-",
		       e->eps[i].ready ? "ready" : "not-ready", e->eps[i].pod[0] ? "  pod=" : "");
		printf("%s  ports=", e->eps[i].pod);
		for (j = 0; j < e->nports; j++)
			printf("%s%u", j ? "," : "", e->ports[j].port);
		printf("\n");
	}
}

static json_t *
service_json(const struct em_service *s, const struct em_endpoints *e)
{
	json_t *ports = json_array(), *eps = json_array();
	size_t i;

	for (i = 0; i < s->nports; i++)
		json_array_append_new(ports, json_pack("{s:s, s:i, s:s}", "name", s->ports[i].name,
						       "port", (int)s->ports[i].port, "protocol",
						       em_proto_name(s->ports[i].proto)));
	for (i = 0; e != NULL && i < e->neps; i++)
		json_array_append_new(eps, json_pack("{s:s, s:s, s:b, s:s}", "ip", e->eps[i].ip,
						     "node", e->eps[i].node, "ready",
						     e->eps[i].ready, "pod", e->eps[i].pod));
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:b, s:o}", "namespace", s->ns, "name", s->name,
			 "cluster_ip", s->cluster_ip, "ports", ports, "lb", em_lb_name(s->lb),
			 "affinity_client_ip", s->affinity_client_ip, "endpoints", eps);
}

int
ctl_services(const struct em_config *cfg, int json)
{
	const uint32_t topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
	struct replica *r;
	struct replica_iter it;
	const struct em_object *o, **v = NULL, *eo;
	char key[EM_KEY_LEN];
	size_t n = 0, i, cap = 0;
	json_t *arr = NULL, *out;

	if ((r = ctl_fetch_state(cfg, topics, 0)) == NULL)
		return 1;
	replica_iter_init(&it);
	while (replica_next(r, EM_TOPIC_SERVICES, &it, &o)) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n++] = o;
	}
	qsort(v, n, sizeof(*v), cmp_obj);
	if (json)
		arr = json_array();
	else
		printf("%zu services (state version %llu)\n", n,
		       (unsigned long long)replica_version(r));
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "%s/%s", v[i]->u.svc->ns, v[i]->u.svc->name);
		eo = replica_get(r, EM_TOPIC_ENDPOINTS, key);
		if (json)
			json_array_append_new(arr,
					      service_json(v[i]->u.svc, eo ? eo->u.eps : NULL));
		else
			print_service(v[i]->u.svc, eo ? eo->u.eps : NULL);
	}
	if (json) {
		out = json_pack("{s:I, s:o}", "state_version", (json_int_t)replica_version(r),
				"services", arr);
		ctl_json_print(out);
	}
	free(v);
	replica_free(r);
	return 0;
}
