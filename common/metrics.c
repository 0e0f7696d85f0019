/* Metric names, sample sets and the Prometheus text format (see metrics.h). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

const struct em_metric_desc em_metric_descs[EM_M__COUNT] = {
    [EM_M_DAEMON_UP] = {"edgemesh_daemon_up", EM_MT_GAUGE,
			"1 while the daemon is connected to the controller"},
    [EM_M_DAEMON_READY] = {"edgemesh_daemon_ready", EM_MT_GAUGE,
			   "1 when the daemon has its state and its listeners"},
    [EM_M_DAEMON_RESTARTS] = {"edgemesh_daemon_restarts_total", EM_MT_COUNTER,
			      "New processes of the daemon seen since the controller started"},
    [EM_M_DAEMON_RSS] = {"edgemesh_daemon_resident_memory_bytes", EM_MT_GAUGE,
			 "Resident set size of the daemon"},
    [EM_M_DAEMON_FDS] = {"edgemesh_daemon_open_fds", EM_MT_GAUGE,
			 "Open file descriptors of the daemon"},
    [EM_M_DAEMON_UPTIME] = {"edgemesh_daemon_uptime_seconds", EM_MT_GAUGE,
			    "Seconds since the daemon started"},
    [EM_M_STATE_VERSION] = {"edgemesh_state_version", EM_MT_GAUGE,
			    "Version of the state the controller serves"},
    [EM_M_REGISTRY_OBJECTS] = {"edgemesh_registry_objects", EM_MT_GAUGE,
			       "Objects in the controller's state, by topic"},
    [EM_M_PEER_UP] = {"edgemesh_peer_up", EM_MT_GAUGE,
		      "1 while a tunnel session with the peer is up, by path"},
    [EM_M_PEER_RTT] = {"edgemesh_peer_rtt_seconds", EM_MT_GAUGE,
		       "Round-trip time of the tunnel session's keepalive"},
    [EM_M_PEER_TX] = {"edgemesh_peer_sent_bytes_total", EM_MT_COUNTER,
		      "Bytes sent to the peer through the tunnel"},
    [EM_M_PEER_RX] = {"edgemesh_peer_received_bytes_total", EM_MT_COUNTER,
		      "Bytes received from the peer through the tunnel"},
    [EM_M_PEER_STREAMS] = {"edgemesh_peer_streams", EM_MT_GAUGE,
			   "Open streams in the tunnel session with the peer"},
    [EM_M_HANDSHAKES] = {"edgemesh_tunnel_handshakes_total", EM_MT_COUNTER,
			 "Completed tunnel handshakes"},
    [EM_M_HANDSHAKE_FAILURES] = {"edgemesh_tunnel_handshake_failures_total", EM_MT_COUNTER,
				 "Failed tunnel handshakes, by reason"},
    [EM_M_SVC_CONNS] = {"edgemesh_service_connections_total", EM_MT_COUNTER,
			"Connections and UDP flows proxied to a service"},
    [EM_M_SVC_FAILURES] = {"edgemesh_service_connection_failures_total", EM_MT_COUNTER,
			   "Connections to a service that found no usable endpoint"},
    [EM_M_SVC_PICKS] = {"edgemesh_service_endpoint_picks_total", EM_MT_COUNTER,
			"Endpoints picked by the load balancer, by where they are"},
    [EM_M_SVC_UDP_FLOWS] = {"edgemesh_service_udp_flows", EM_MT_GAUGE,
			    "Open UDP flows of a service"},
    [EM_M_RULE_RESYNCS] = {"edgemesh_proxy_rule_resyncs_total", EM_MT_COUNTER,
			   "Times proxyd installed its redirect rules whole"},
    [EM_M_RULES_DISPLACED] = {"edgemesh_proxy_rules_displaced_total", EM_MT_COUNTER,
			      "Times proxyd found its redirect rules displaced or deleted"},
    [EM_M_DNS_QUERIES] = {"edgemesh_dns_queries_total", EM_MT_COUNTER,
			  "DNS queries answered, by type and rcode"},
    [EM_M_DNS_CACHE_HITS] = {"edgemesh_dns_cache_hits_total", EM_MT_COUNTER,
			     "Forwarded names answered from the cache"},
    [EM_M_DNS_UPSTREAM_LATENCY] = {"edgemesh_dns_upstream_latency_seconds", EM_MT_HISTOGRAM,
				   "Time the upstream servers took to answer"},
    [EM_M_GW_REQUESTS] = {"edgemesh_gateway_requests_total", EM_MT_COUNTER,
			  "Gateway requests, by route and status code"},
    [EM_M_GW_DURATION] = {"edgemesh_gateway_request_duration_seconds", EM_MT_HISTOGRAM,
			  "Time from a request's head to its response's head"},
    [EM_M_REGISTRY_UP] = {"edgemesh_registry_up", EM_MT_GAUGE,
			  "1 while the registry (files or Kubernetes API) is read without error"},
    [EM_M_ISTIO_CRDS] = {"edgemesh_registry_istio_crds", EM_MT_GAUGE,
			 "1 when the API serves the Istio CRDs (Kubernetes source only)"},
    [EM_M_PEER_PSK_MISMATCH] = {"edgemesh_peer_psk_mismatch", EM_MT_GAUGE,
				"1 while the peer presents another PSK (theirs: its fingerprint)"},
    [EM_M_DNS_UPSTREAM_UP] = {"edgemesh_dns_upstream_up", EM_MT_GAUGE,
			      "1 when the upstream answered the last query sent to it"},
    [EM_M_DAEMON_PRIVS] = {"edgemesh_daemon_privileges", EM_MT_GAUGE,
			   "1, labelled with what the daemon runs with: uid, effective "
			   "capabilities, seccomp mode, no_new_privs, Landlock"},
    [EM_M_PEER_UNREACHABLE] = {"edgemesh_peer_reports_unreachable", EM_MT_GAUGE,
			       "1 while the peer reports that it cannot dial this node directly"},
    [EM_M_TUNNEL_KEY] = {"edgemesh_tunnel_key_info", EM_MT_GAUGE,
			 "1, labelled with this node's tunnel public key (base64): what the "
			 "Node annotation edgemesh-c.io/tunnel-key pins"},
    [EM_M_SVC_KERNEL_UDP_FLOWS] = {"edgemesh_service_kernel_udp_flows_total", EM_MT_COUNTER,
				   "UDP flows a service port's kernel path started (its DNAT "
				   "rule's counter, read every 10 s; 0 again when proxyd rewrites "
				   "the port's rules)"},
    [EM_M_OUT_OF_PORTS] = {"edgemesh_connect_out_of_ports", EM_MT_GAUGE,
			   "1 while a connect of the daemon found no local port free in the "
			   "last 60 s (target: the last such destination)"},
};

const double em_histogram_bounds[12] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
					0.05,	0.1,   0.25,   0.5,   1,    2.5};

static const char *const type_names[] = {"counter", "gauge", "histogram"};
static const char *const part_suffix[] = {"", "_bucket", "_sum", "_count"};

/* Append k="v" with Prometheus escaping; -1 when it does not fit. */
static int
label_append(char *dst, size_t cap, const char *k, const char *v)
{
	size_t n = strlen(dst);
	const char *p;

	if (n > 0 && n + 1 < cap)
		dst[n++] = ',';
	if (n + strlen(k) + 3 >= cap)
		return -1;
	n += (size_t)snprintf(dst + n, cap - n, "%s=\"", k);
	for (p = v; *p != '\0'; p++) {
		if (n + 3 >= cap)
			return -1;
		if (*p == '\\' || *p == '"') {
			dst[n++] = '\\';
			dst[n++] = *p;
		} else if (*p == '\n') {
			dst[n++] = '\\';
			dst[n++] = 'n';
		} else
			dst[n++] = *p;
	}
	if (n + 2 > cap)
		return -1;
	dst[n++] = '"';
	dst[n] = '\0';
	return 0;
}

static int
metrics_vadd(struct em_samples *ss, enum em_metric id, enum em_metric_part part, double value,
	     va_list ap)
{
	struct em_sample *s;
	const char *k, *v;

	if (ss->n == (ss->max != 0 ? ss->max : EM_SAMPLES_MAX))
		return -1;
	if (ss->n == ss->cap) {
		ss->cap = ss->cap ? ss->cap * 2 : 64;
		if ((ss->s = reallocarray(ss->s, ss->cap, sizeof(*ss->s))) == NULL)
			fatal("%s: reallocarray", __func__);
	}
	s = &ss->s[ss->n];
	s->id = (uint16_t)id;
	s->part = (uint8_t)part;
	s->value = value;
	s->labels[0] = '\0';
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (label_append(s->labels, sizeof(s->labels), k, v != NULL ? v : "") == -1)
			return -1;
	}
	ss->n++;
	return 0;
}

int
metrics_add_part(struct em_samples *ss, enum em_metric id, enum em_metric_part part, double value,
		 ...)
{
	va_list ap;
	int rc;

	va_start(ap, value);
	rc = metrics_vadd(ss, id, part, value, ap);
	va_end(ap);
	return rc;
}

void
metrics_observe(struct em_histogram *h, double seconds)
{
	size_t i;

	for (i = 0; i < 12 && seconds > em_histogram_bounds[i]; i++)
		;
	if (i < 12)
		h->counts[i]++;
	h->count++;
	h->sum += seconds;
}

int
metrics_add_histogram(struct em_samples *ss, enum em_metric id, const struct em_histogram *h,
		      const char *label, const char *value)
{
	char le[32];
	uint64_t cum = 0;
	size_t i;
	int rc = 0;

	for (i = 0; i < 12; i++) {
		cum += h->counts[i];
		snprintf(le, sizeof(le), "%g", em_histogram_bounds[i]);
		rc |= label != NULL
			  ? metrics_add_part(ss, id, EM_MP_BUCKET, (double)cum, label, value, "le",
					     le, NULL)
			  : metrics_add_part(ss, id, EM_MP_BUCKET, (double)cum, "le", le, NULL);
	}
	rc |= label != NULL
		  ? metrics_add_part(ss, id, EM_MP_BUCKET, (double)h->count, label, value, "le",
				     "+Inf", NULL)
		  : metrics_add_part(ss, id, EM_MP_BUCKET, (double)h->count, "le", "+Inf", NULL);
	rc |= metrics_add_part(ss, id, EM_MP_SUM, h->sum, label, value, NULL);
	rc |= metrics_add_part(ss, id, EM_MP_COUNT, (double)h->count, label, value, NULL);
	return rc != 0 ? -1 : 0;
}

int
metrics_add_from(struct em_samples *ss, const struct em_sample *src, const char *daemon)
{
	struct em_sample *s;

	if (metrics_add_part(ss, (enum em_metric)src->id, (enum em_metric_part)src->part,
			     src->value, "daemon", daemon, NULL) == -1)
		return -1;
	s = &ss->s[ss->n - 1];
	if (src->labels[0] == '\0')
		return 0;
	if (strlen(s->labels) + 1 + strlen(src->labels) + 1 > sizeof(s->labels)) {
		ss->n--;
		return -1;
	}
	strcat(s->labels, ",");
	strcat(s->labels, src->labels);
	return 0;
}

void
metrics_clear(struct em_samples *ss)
{
	ss->n = 0;
}

void
metrics_free(struct em_samples *ss)
{
	free(ss->s);
	memset(ss, 0, sizeof(*ss));
}

void
textbuf_printf(struct em_textbuf *tb, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(tb->p != NULL ? tb->p + tb->len : NULL,
			      tb->p != NULL ? tb->cap - tb->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (tb->p != NULL && tb->len + (size_t)n < tb->cap) {
			tb->len += (size_t)n;
			return;
		}
		tb->cap = (tb->cap + (size_t)n + 1) * 2;
		if ((tb->p = realloc(tb->p, tb->cap)) == NULL)
			fatal("%s: realloc", __func__);
	}
}

void
metrics_render_head(struct em_textbuf *tb, enum em_metric id)
{
	const struct em_metric_desc *d = &em_metric_descs[id];

	textbuf_printf(tb, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
		       type_names[d->type]);
}

static void
render_value(struct em_textbuf *tb, double v)
{
	if (isnan(v))
		textbuf_printf(tb, "NaN\n");
	else if (isinf(v))
		textbuf_printf(tb, "%s\n", v > 0 ? "+Inf" : "-Inf");
	else if (v == (double)(int64_t)v && fabs(v) < 9e15)
		textbuf_printf(tb, "%lld\n", (long long)v);
	else
		textbuf_printf(tb, "%.9g\n", v);
}

void
metrics_render(struct em_textbuf *tb, const char *daemon, const struct em_samples *ss,
	       enum em_metric only)
{
	char dl[96] = "";
	const struct em_sample *s;
	size_t i;

	if (daemon != NULL)
		label_append(dl, sizeof(dl), "daemon", daemon);
	for (i = 0; i < ss->n; i++) {
		s = &ss->s[i];
		if (s->id != only || s->part > EM_MP_COUNT)
			continue;
		if (dl[0] == '\0' && s->labels[0] == '\0')
			textbuf_printf(tb, "%s%s ", em_metric_descs[s->id].name,
				       part_suffix[s->part]);
		else
			textbuf_printf(tb, "%s%s{%s%s%s} ", em_metric_descs[s->id].name,
				       part_suffix[s->part], dl,
				       dl[0] != '\0' && s->labels[0] != '\0' ? "," : "", s->labels);
		render_value(tb, s->value);
	}
}
