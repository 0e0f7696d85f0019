/*
 * edgemeshctl doctor: every fault it can see on this node, one line each
 * with what to change; exit 1 when there is any.  What it reads: the
 * config, the controller's status (daemons), the node's metric samples
 * (the facts every daemon reports: peers, PSK fingerprints, DNS upstreams,
 * the registry, proxyd's rules), the state (services without a ready
 * endpoint) and, when it exists, edgecore's config (clusterDNS).
 */
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "replica.h"

void
doctor_fault(struct doctor *dr, const char *kind, const char *subject, const char *fix,
	     const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	dr->n++;
	if (dr->json)
		json_array_append_new(dr->faults,
				      json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "subject",
						subject, "what", what, "fix", fix));
	else
		printf("FAULT %s: %s\n      fix: %s\n", kind, what, fix);
}

static void
check_daemons(struct doctor *dr, const struct ipc_status *st)
{
	const struct em_config *c = dr->cfg;
	const struct ipc_status_row *r;
	char fix[256];
	size_t i;

	for (i = 0; i < st->nrows; i++) {
		r = &st->rows[i];
		snprintf(fix, sizeof(fix),
			 "start it (systemctl start edgemesh-%s, or its container) and read its "
			 "log; or disable its module in %s",
			 r->name, c->path[0] ? c->path : "the config");
		if (!r->connected && (ctl_daemon_wanted(c, r->name) || r->detail[0] != '\0'))
			doctor_fault(dr, "daemon-down", r->name, fix, "%s is down%s%s", r->name,
				     r->detail[0] ? ": " : " (never connected to the controller)",
				     r->detail);
		else if (r->connected && strcmp(r->state, "ok") != 0)
			doctor_fault(dr, "daemon-not-ready", r->name,
				     "read its log (journalctl -u "
				     "edgemesh-<daemon>, or the container's log)",
				     "%s is %s: %s", r->name, r->state, r->detail);
	}
}

/*
 * What to change when a peer cannot dial our tunnel port.  A node with
 * transport ws dials its peers over WebSocket (through wsProxy or
 * HTTPS_PROXY): its TCP listenPort need not be open, but a peer can only
 * dial it back on its WebSocket port.
 */
static void
tunnel_port_fix(const struct em_config *c, char *fix, size_t len)
{
	int ws_port = c->tunnel.ws_port != 0 ? c->tunnel.ws_port : 443;

	if (strcmp(c->tunnel.transport, "ws") == 0)
		snprintf(fix, len,
			 "this node dials its peers over WebSocket (transport ws%s), so TCP %d "
			 "need not be open; for peers to dial it too, make its wsPort %d "
			 "reachable (firewall, or a port mapping 443 to it on the node), or name "
			 "a relay in modules.edgeTunnel.relayNodes",
			 c->tunnel.ws_proxy[0] ? ", through wsProxy" : "", c->tunnel.listen_port,
			 ws_port);
	else
		snprintf(fix, len,
			 "open TCP %d on this node (firewall, security group) or name a relay in "
			 "modules.edgeTunnel.relayNodes",
			 c->tunnel.listen_port);
}

static void
check_samples(struct doctor *dr, const struct em_samples *ss)
{
	const struct em_sample *s;
	char a[128], b[128], c[128], fix[300];
	size_t i, k;
	int relay;

	for (i = 0; i < ss->n; i++) {
		s = &ss->s[i];
		switch (s->id) {
		case EM_M_PEER_PSK_MISMATCH:
			doctor_fault(
			    dr, "psk-mismatch", ctl_label(s, "peer", a, sizeof(a)),
			    "give every node the same PSK file (modules.edgeTunnel.psk.path; "
			    "compare `edgemeshctl peers` fingerprints), then restart tunneld",
			    "peer %s presents another PSK: fingerprint %s, ours %s", a,
			    ctl_label(s, "theirs", b, sizeof(b)),
			    ctl_label(s, "ours", c, sizeof(c)));
			break;
		case EM_M_PEER_UP:
			ctl_label(s, "peer", a, sizeof(a));
			for (relay = 0, k = 0; k < dr->cfg->tunnel.n_relays; k++)
				relay |= strcmp(dr->cfg->tunnel.relays[k].node_name, a) == 0;
			if (!relay || s->value != 0)
				break;
			if (strcmp(dr->cfg->tunnel.transport, "ws") == 0)
				snprintf(
				    fix, sizeof(fix),
				    "this node dials over WebSocket (transport ws): serve a wsPort "
				    "on %s (443 by default) reachable from here through wsProxy or "
				    "HTTPS_PROXY if set (its advertiseAddress in relayNodes, the "
				    "proxy's allowed ports), or name another relay",
				    a);
			else
				snprintf(fix, sizeof(fix),
					 "make %s reachable on TCP %d (its advertiseAddress in "
					 "relayNodes, firewalls), or name another relay",
					 a, dr->cfg->tunnel.listen_port);
			doctor_fault(dr, "relay-unreachable", a, fix, "relay %s is unreachable: %s",
				     a, ctl_label(s, "error", b, sizeof(b))[0] ? b : "no session");
			break;
		case EM_M_PEER_UNREACHABLE:
			if (s->value == 0)
				break;
			tunnel_port_fix(dr->cfg, fix, sizeof(fix));
			doctor_fault(dr, "tunnel-port-unreachable",
				     ctl_label(s, "peer", a, sizeof(a)), fix,
				     "peer %s cannot reach this node's tunnel port: %s", a,
				     ctl_label(s, "error", b, sizeof(b)));
			break;
		case EM_M_DNS_UPSTREAM_UP:
			if (s->value != 0)
				break;
			doctor_fault(
			    dr, "dns-upstream", ctl_label(s, "upstream", a, sizeof(a)),
			    "fix modules.edgeDNS.upstreamServers (or the resolv.conf dnsd read "
			    "at start) so it names a resolver this node can reach",
			    "DNS upstream %s did not answer", a);
			break;
		case EM_M_REGISTRY_UP:
			if (s->value != 0)
				break;
			doctor_fault(
			    dr, "registry", ctl_label(s, "source", a, sizeof(a)),
			    "check kubeAPIConfig (master, kubeConfig, metaServer) and that the "
			    "API server or edgecore's metaServer is up; for files, registry.path",
			    "the registry %s is unreachable: %s", a,
			    ctl_label(s, "error", b, sizeof(b)));
			break;
		case EM_M_ISTIO_CRDS:
			if (s->value != 0)
				break;
			doctor_fault(
			    dr, "istio-crds", "networking.istio.io",
			    "kubectl apply -f k8s/base/03-crds-istio.yaml (or EdgeMesh's CRDs)",
			    "the Istio CRDs are not installed: DestinationRules, Gateways and "
			    "VirtualServices are ignored");
			break;
		case EM_M_OUT_OF_PORTS:
			if (s->value == 0)
				break;
			ctl_label(s, "daemon", a, sizeof(a));
			doctor_fault(
			    dr, "out-of-ports", a,
			    "set net.ipv4.tcp_tw_reuse=1 on this node (or widen "
			    "net.ipv4.ip_local_port_range): its connections to that pod hold the "
			    "ports in TIME_WAIT for 60 s after the client closes first",
			    "%s found no local port free to connect to %s in the last minute", a,
			    ctl_label(s, "target", b, sizeof(b)));
			break;
		case EM_M_RULES_DISPLACED:
			if (s->value == 0)
				break;
			doctor_fault(
			    dr, "rules-displaced", "proxyd",
			    "find what rewrites the nat/mangle tables (kube-proxy on an edge "
			    "node, an iptables-restore, a firewall service) and stop it there",
			    "proxyd found its redirect rules displaced or deleted %.0f times "
			    "(it put them back)",
			    s->value);
			break;
		}
	}
}

static void
check_relay_config(struct doctor *dr)
{
	static const char *const examples[] = {"1.1.1.1", "2.2.2.2", "3.3.3.3"};
	const struct em_relay_node *r;
	struct in_addr ia;
	size_t i, j, k;

	for (i = 0; i < dr->cfg->tunnel.n_relays; i++) {
		r = &dr->cfg->tunnel.relays[i];
		if (strchr(r->node_name, '<') != NULL || strchr(r->node_name, '>') != NULL)
			doctor_fault(dr, "relay-placeholder", r->node_name,
				     "put a real node name (and its public address) in "
				     "modules.edgeTunnel.relayNodes, or remove the entry",
				     "relayNodes[%zu] is EdgeMesh's example placeholder \"%s\"", i,
				     r->node_name);
		for (j = 0; j < r->naddrs; j++) {
			for (k = 0; k < sizeof(examples) / sizeof(examples[0]); k++)
				if (strcmp(r->addrs[j], examples[k]) == 0)
					doctor_fault(
					    dr, "relay-placeholder", r->node_name,
					    "set advertiseAddress to the address other nodes reach "
					    "the relay at",
					    "relay %s advertises %s, EdgeMesh's example address",
					    r->node_name, r->addrs[j]);
			if (inet_pton(AF_INET, r->addrs[j], &ia) != 1 &&
			    strchr(r->addrs[j], ':') == NULL)
				doctor_fault(dr, "relay-placeholder", r->node_name,
					     "set advertiseAddress to an IP address",
					     "relay %s advertises \"%s\", not an IP address",
					     r->node_name, r->addrs[j]);
		}
	}
}

static void
check_endpoints(struct doctor *dr, struct replica *r)
{
	struct replica_iter it;
	const struct em_object *o, *eo;
	const struct em_service *s;
	char key[EM_KEY_LEN];
	size_t i, ready;

	replica_iter_init(&it);
	while (replica_next(r, EM_TOPIC_SERVICES, &it, &o)) {
		s = o->u.svc;
		if (s->type == EM_SVC_EXTERNAL_NAME || s->headless || s->cluster_ip[0] == '\0')
			continue;
		snprintf(key, sizeof(key), "%s/%s", s->ns, s->name);
		eo = replica_get(r, EM_TOPIC_ENDPOINTS, key);
		for (ready = 0, i = 0; eo != NULL && i < eo->u.eps->neps; i++)
			ready += eo->u.eps->eps[i].ready;
		if (ready == 0)
			doctor_fault(
			    dr, "no-ready-endpoint", key,
			    "check the service's selector and its pods (kubectl get endpoints, "
			    "kubectl describe pod)",
			    "service %s (%s) has no ready endpoint: connections to it fail", key,
			    s->cluster_ip);
	}
}

int
ctl_doctor(const struct em_config *cfg, const char *edgecore, int json)
{
	const uint32_t topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
	struct doctor dr = {cfg, json_array(), json, 0};
	struct em_samples ss = {0};
	struct ipc_status st;
	struct replica *r;
	char fix[256];
	json_t *out;

	check_relay_config(&dr);
	if (ctl_fetch_status(cfg, &st, 1) == -1) {
		snprintf(fix, sizeof(fix),
			 "start edgemesh-controller (systemctl start edgemesh-controller); check "
			 "commonConfig.runtimeDir (%s)",
			 cfg->runtime_dir);
		doctor_fault(&dr, "daemon-down", "controller", fix,
			     "the controller does not answer on %s/%s", cfg->runtime_dir,
			     IPC_CONTROLLER_SOCK);
	} else {
		check_daemons(&dr, &st);
		if (ctl_fetch_metrics(cfg, &ss, 1) == 0)
			check_samples(&dr, &ss);
		if ((r = ctl_fetch_state(cfg, topics, 1)) != NULL) {
			check_endpoints(&dr, r);
			replica_free(r);
		}
	}
	ctl_check_edgecore(&dr, edgecore);
	if (json) {
		out = json_pack("{s:b, s:o}", "ok", dr.n == 0, "faults", dr.faults);
		ctl_json_print(out);
	} else {
		json_decref(dr.faults);
		if (dr.n == 0)
			printf("no faults found\n");
	}
	metrics_free(&ss);
	return dr.n == 0 ? 0 : 1;
}
