/*
 * proxyd's metrics: per service port the connections (and UDP flows) it
 * took, those that found no usable endpoint, and the endpoints the load
 * balancer picked (local or remote); rule resyncs and displacements.  A
 * UDP port the kernel forwards (rules.c) is not seen here: its flows are
 * the counter of its rules, as of the last rules check.
 */
#include <stdio.h>

#include "proxyd.h"

void
proxy_metrics_fill(void *arg, struct em_samples *ss)
{
	struct proxyd *p = arg;
	struct hmap_iter it;
	const struct pd_vip *v;
	const char *key;
	char port[16];
	void *val;

	proxy_udp_count_flows(p);
	hmap_iter_init(&it);
	while (hmap_next(p->vips, &it, &key, &val)) {
		v = val;
		snprintf(port, sizeof(port), "%u", (unsigned)ntohs(v->sa.sin_port));
		metrics_add(ss, EM_M_SVC_CONNS, (double)v->n_conns, "service", v->svc, "port", port,
			    "proto", v->proto == EM_PROTO_UDP ? "udp" : "tcp", NULL);
		metrics_add(ss, EM_M_SVC_FAILURES, (double)v->n_fail, "service", v->svc, "port",
			    port, "proto", v->proto == EM_PROTO_UDP ? "udp" : "tcp", NULL);
		metrics_add(ss, EM_M_SVC_PICKS, (double)v->n_picks[1], "service", v->svc, "port",
			    port, "endpoint", "local", NULL);
		metrics_add(ss, EM_M_SVC_PICKS, (double)v->n_picks[0], "service", v->svc, "port",
			    port, "endpoint", "remote", NULL);
		if (v->proto == EM_PROTO_UDP)
			metrics_add(ss, EM_M_SVC_UDP_FLOWS, (double)v->n_flows, "service", v->svc,
				    "port", port, NULL);
	}
	hmap_iter_init(&it);
	while (hmap_next(p->kern, &it, &key, &val)) {
		const struct rules_kernel *k = val;

		if ((v = hmap_get(p->vips, key)) == NULL)
			continue;
		snprintf(port, sizeof(port), "%u", (unsigned)ntohs(v->sa.sin_port));
		metrics_add(ss, EM_M_SVC_KERNEL_UDP_FLOWS, (double)k->flows, "service", v->svc,
			    "port", port, NULL);
	}
	metrics_add(ss, EM_M_RULE_RESYNCS, (double)p->n_resyncs, NULL);
	metrics_add(ss, EM_M_RULES_DISPLACED, (double)p->n_displaced, NULL);
}
