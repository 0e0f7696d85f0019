/*
 * edgemeshctl trace SERVICE[:PORT] | IP:PORT | NAME[:PORT]
 *
 * The way a request to a Service goes, hop by hop, each hop measured:
 *   name     the node's dnsd answers the name (a real query, timed)
 *   service  ClusterIP:port, protocol, the DestinationRule's policy
 *   endpoint each ready endpoint: on this node (a TCP connect, timed) or on
 *            another node: the tunnel path to it (direct, punched, ws, or
 *            relayed via a node) and the far end's dial (a stream opened
 *            through tunneld to the endpoint, timed: session + the far
 *            node's connect)
 *   probe    a real connection to ClusterIP:port through the redirect rules
 *            and proxyd, as a pod's would go (timed)
 * Exit 0 when the probe connected, 1 when a hop failed (named).
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "byteorder.h"
#include "ctl.h"
#include "replica.h"

#define TRACE_TIMEOUT_MS 3000
#define TRACE_EPS_MAX	 8

struct trace {
	const struct em_config *cfg;
	int json;
	json_t *hops;
	int failed;
};

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void hop(struct trace *, const char *kind, int ok, double ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
hop(struct trace *tr, const char *kind, int ok, double ms, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!ok)
		tr->failed = 1;
	if (tr->json)
		json_array_append_new(tr->hops, json_pack("{s:s, s:b, s:f, s:s}", "hop", kind, "ok",
							  ok, "ms", ms, "what", what));
	else if (ms >= 0)
		printf("%-9s %s %8.3f ms  %s\n", kind, ok ? "ok  " : "FAIL", ms, what);
	else
		printf("%-9s %s %11s  %s\n", kind, ok ? "ok  " : "FAIL", "", what);
}

#define TRACE_HOLD_MS 300 /* the probe waits this long for a close or a first byte */

/*
 * A nonblocking TCP connect with a deadline; ms taken, or -1 with errno.
 * hold: then wait TRACE_HOLD_MS for the far side: a reset or close means
 * proxyd found no endpoint (-1, ECONNRESET); a first byte or silence is
 * a connection that stands (*banner: a byte came).
 */
static double
tcp_probe_hold(const char *ip, uint16_t port, int hold, int *banner)
{
	struct sockaddr_in sa;
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	double t0 = now_ms(), ms;
	int fd, err = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 && errno != EINPROGRESS)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, TRACE_TIMEOUT_MS) != 1) {
		errno = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
		errno = err;
		goto fail;
	}
	ms = now_ms() - t0; /* the connect; the hold below is not timed */
	if (hold) {
		char b;

		pfd.events = POLLIN;
		*banner = 0;
		if (poll(&pfd, 1, TRACE_HOLD_MS) == 1) {
			if (recv(fd, &b, 1, MSG_PEEK) != 1) {
				errno = ECONNRESET;
				goto fail;
			}
			*banner = 1;
		}
	}
	close(fd);
	return ms;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

static double
tcp_probe(const char *ip, uint16_t port)
{
	return tcp_probe_hold(ip, port, 0, NULL);
}

/* One A query to the node's dnsd; the first address in the answer. */
static double
dns_probe(const struct em_config *cfg, const char *name, char *ip, size_t iplen)
{
	uint8_t q[512], r[1500];
	struct sockaddr_in sa;
	struct timeval tv = {TRACE_TIMEOUT_MS / 1000, 0};
	size_t n = 12, off, l;
	const char *p, *dot;
	double t0 = now_ms();
	ssize_t got;
	int fd, an, i;

	memset(q, 0, 12);
	q[0] = 0x7e, q[1] = 0x11, q[2] = 0x01, q[5] = 1; /* id, RD, one question */
	for (p = name; *p != '\0' && n < sizeof(q) - 70; p = *dot ? dot + 1 : dot) {
		dot = strchr(p, '.') ? strchr(p, '.') : p + strlen(p);
		if ((l = (size_t)(dot - p)) == 0 || l > 63)
			return -1;
		q[n++] = (uint8_t)l;
		memcpy(q + n, p, l);
		n += l;
	}
	q[n++] = 0, q[n++] = 0, q[n++] = 1, q[n++] = 0, q[n++] = 1; /* root, A, IN */
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)cfg->dns.listen_port);
	inet_pton(AF_INET, cfg->bridge_ip, &sa.sin_addr);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    (got = recv(fd, r, sizeof(r), 0)) < 12 || r[0] != 0x7e || r[1] != 0x11) {
		close(fd);
		return -1;
	}
	close(fd);
	an = be16_get(r + 6);
	for (off = n; an-- > 0 && off + 12 <= (size_t)got;) {
		for (i = 0; off < (size_t)got && r[off] != 0 && (r[off] & 0xc0) != 0xc0; i++)
			off += 1u + r[off];
		off += off < (size_t)got && (r[off] & 0xc0) == 0xc0 ? 2 : 1;
		if (off + 10 > (size_t)got)
			break;
		l = be16_get(r + off + 8);
		if (r[off] == 0 && r[off + 1] == 1 && l == 4 && off + 14 <= (size_t)got) {
			inet_ntop(AF_INET, r + off + 10, ip, (socklen_t)iplen);
			return now_ms() - t0;
		}
		off += 10 + l;
	}
	errno = ENOENT;
	return -1;
}

/* Open a stream to node's ip:port through tunneld, as proxyd would; ms or -1 with why. */
static double
tunnel_probe(const struct em_config *cfg, const char *node, const char *ip, uint16_t port,
	     char *why, size_t len)
{
	struct ipc_tun_open o;
	struct ipc_tun_result res;
	struct ipc_msg m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	double t0 = now_ms(), ms = -1;
	int fd, sp[2];

	snprintf(why, len, "tunneld does not answer on %s/%s", cfg->runtime_dir, IPC_TUNNEL_SOCK);
	if ((fd = ctl_open_quiet(cfg, IPC_TUNNEL_SOCK, 1)) == -1)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == -1) {
		close(fd);
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.id = 1;
	snprintf(o.peer, sizeof(o.peer), "%s", node);
	snprintf(o.ip, sizeof(o.ip), "%s", ip);
	o.port = port;
	o.proto = EM_PROTO_TCP;
	snprintf(o.client, sizeof(o.client), "edgemeshctl trace");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_tun_open(&pk, &o);
	if (ipc_write_frame(fd, IPC_TUN_OPEN, sb.data, sb.size, sp[1]) == 0 &&
	    ctl_recv(fd, IPC_MAX_TUNNEL, &m) == 0) {
		if (ipc_unpack_tun_result(&m, &res, why, len) == 0) {
			if (res.ok)
				ms = now_ms() - t0;
			else
				snprintf(why, len, "%s", res.reason);
		}
		ipc_msg_clear(&m);
	}
	msgpack_sbuffer_destroy(&sb);
	close(sp[0]);
	close(sp[1]);
	close(fd);
	return ms;
}

/*
 * The tunnel path to node from the metric samples, named as `ping` and
 * `peers` name it: direct, punched, ws, relayed via X; or no session.
 */
static void
peer_path(const struct em_samples *ss, const char *node, char *buf, size_t len)
{
	const struct em_sample *s;
	char pat[300], path[64], via[254];
	size_t i;

	snprintf(buf, len, "no session yet");
	snprintf(pat, sizeof(pat), "peer=\"%s\",", node);
	for (i = 0; i < ss->n; i++) {
		s = &ss->s[i];
		if (s->id != EM_M_PEER_UP || strstr(s->labels, pat) == NULL || s->value == 0)
			continue;
		ctl_label(s, "path", path, sizeof(path));
		ctl_label(s, "via", via, sizeof(via));
		if (strcmp(path, "relayed") == 0 && via[0] != '\0')
			snprintf(buf, len, "relayed via %s", via);
		else if (strcmp(path, "punched") == 0)
			snprintf(buf, len, "punched (direct through the NATs)");
		else if (strcmp(path, "ws") == 0)
			snprintf(buf, len, "ws (inside a WebSocket)");
		else
			snprintf(buf, len, "%s", path[0] != '\0' ? path : "direct");
	}
}

/* name.ns[.svc[.domain]][:port], ns/name[:port] or IP:PORT -> service and port. */
static const struct em_service *
resolve(struct trace *tr, struct replica *r, const char *target, char *ns, char *name,
	unsigned *port, char *ip)
{
	char t[300], *colon, *p, suffix[300];
	struct replica_iter it;
	const struct em_object *o;
	struct in_addr ia;
	double ms;

	snprintf(t, sizeof(t), "%s", target);
	*port = 0;
	ip[0] = ns[0] = name[0] = '\0';
	if ((colon = strrchr(t, ':')) != NULL) {
		*port = (unsigned)strtoul(colon + 1, &p, 10);
		if (colon[1] == '\0' || *p != '\0' || *port == 0 || *port > 65535)
			return NULL; /* *port 0 with a name: a bad port */
		*colon = '\0';
	}
	if (inet_pton(AF_INET, t, &ia) == 1) {
		snprintf(ip, 46, "%s", t);
	} else if ((p = strchr(t, '/')) != NULL) {
		snprintf(ns, EM_NAME_LEN, "%.*s", (int)(p - t), t);
		snprintf(name, EM_NAME_LEN, "%s", p + 1);
	} else {
		/* a DNS name: ask the node's dnsd, as a pod would */
		snprintf(suffix, sizeof(suffix), ".svc.%s", tr->cfg->cluster_domain);
		if ((p = strstr(t, suffix)) != NULL && p[strlen(suffix)] == '\0')
			*p = '\0';
		p = strchr(t, '.');
		snprintf(name, EM_NAME_LEN, "%.*s", p ? (int)(p - t) : (int)strlen(t), t);
		snprintf(ns, EM_NAME_LEN, "%s", p ? p + 1 : "default");
		snprintf(suffix, sizeof(suffix), "%s.%s.svc.%s", name, ns, tr->cfg->cluster_domain);
		if ((ms = dns_probe(tr->cfg, suffix, ip, 46)) < 0)
			hop(tr, "name", 0, -1, "%s: dnsd at %s:%d gave no address (%s)", suffix,
			    tr->cfg->bridge_ip, tr->cfg->dns.listen_port, strerror(errno));
		else
			hop(tr, "name", 1, ms, "%s -> %s (dnsd at %s)", suffix, ip,
			    tr->cfg->bridge_ip);
	}
	replica_iter_init(&it);
	while (replica_next(r, EM_TOPIC_SERVICES, &it, &o))
		if (ip[0] != '\0'
			? strcmp(o->u.svc->cluster_ip, ip) == 0
			: strcmp(o->u.svc->ns, ns) == 0 && strcmp(o->u.svc->name, name) == 0)
			return o->u.svc;
	return NULL;
}

static void
trace_endpoints(struct trace *tr, struct replica *r, const struct em_service *s,
		const struct em_port *sp, const struct em_samples *ss)
{
	const struct em_object *eo;
	const struct em_endpoints *e;
	const struct em_endpoint *ep;
	char key[EM_KEY_LEN], path[300], why[256];
	size_t i, j, n = 0, ready = 0;
	unsigned port = 0;
	double ms;
	int local;

	snprintf(key, sizeof(key), "%s/%s", s->ns, s->name);
	if ((eo = replica_get(r, EM_TOPIC_ENDPOINTS, key)) == NULL || eo->u.eps->neps == 0) {
		hop(tr, "endpoint", 0, -1, "%s has no endpoints", key);
		return;
	}
	e = eo->u.eps;
	for (j = 0; j < e->nports; j++)
		if ((sp->name[0] != '\0' && strcmp(e->ports[j].name, sp->name) == 0) ||
		    (sp->name[0] == '\0' && e->nports == 1))
			port = e->ports[j].port;
	for (i = 0; i < e->neps; i++)
		ready += e->eps[i].ready;
	hop(tr, "policy", ready > 0, -1, "%s over %zu ready of %zu endpoints%s", em_lb_name(s->lb),
	    ready, e->neps, s->affinity_client_ip ? ", affinity ClientIP" : "");
	for (i = 0; i < e->neps && n < TRACE_EPS_MAX; i++) {
		ep = &e->eps[i];
		if (!ep->ready || port == 0)
			continue;
		n++;
		local = ep->node[0] == '\0' || strcmp(ep->node, tr->cfg->node_name) == 0;
		if (sp->proto != EM_PROTO_TCP) {
			/* a datagram proves nothing without the service's protocol */
			hop(tr, local ? "endpoint" : "node", 1, -1,
			    "%s:%u/%s on %s%s (not probed: only TCP is)", ep->ip, port,
			    em_proto_name(sp->proto), local ? "this node" : "node ",
			    local ? "" : ep->node);
			continue;
		}
		if (local) {
			if ((ms = tcp_probe(ep->ip, (uint16_t)port)) < 0)
				hop(tr, "endpoint", 0, -1, "%s:%u on this node: %s", ep->ip, port,
				    strerror(errno));
			else
				hop(tr, "endpoint", 1, ms, "%s:%u on this node (connect)", ep->ip,
				    port);
			continue;
		}
		peer_path(ss, ep->node, path, sizeof(path));
		hop(tr, "node", 1, -1, "%s:%u on node %s, tunnel path: %s", ep->ip, port, ep->node,
		    path);
		if ((ms = tunnel_probe(tr->cfg, ep->node, ep->ip, (uint16_t)port, why,
				       sizeof(why))) < 0)
			hop(tr, "far-dial", 0, -1, "%s could not reach %s:%u: %s", ep->node, ep->ip,
			    port, why);
		else
			hop(tr, "far-dial", 1, ms,
			    "%s dialled %s:%u (stream open through the tunnel)", ep->node, ep->ip,
			    port);
	}
}

int
ctl_trace(const struct em_config *cfg, const char *target, int json)
{
	const uint32_t topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
	struct trace tr = {cfg, json, json_array(), 0};
	struct em_samples ss = {0};
	const struct em_service *s;
	const struct em_port *sp = NULL;
	char ns[EM_NAME_LEN], name[EM_NAME_LEN], ip[46];
	struct replica *r;
	unsigned port;
	size_t i;
	double ms;
	int banner = 0;
	json_t *out;

	if ((r = ctl_fetch_state(cfg, topics, 0)) == NULL) {
		json_decref(tr.hops);
		return 1;
	}
	ctl_fetch_metrics(cfg, &ss, 1);
	if ((s = resolve(&tr, r, target, ns, name, &port, ip)) == NULL) {
		if (ip[0] == '\0' && name[0] == '\0')
			hop(&tr, "service", 0, -1,
			    "%s: not SERVICE[:PORT], IP:PORT or NAME[:PORT] (PORT 1-65535)",
			    target);
		else
			hop(&tr, "service", 0, -1, "no service %s%s%s%s",
			    ip[0] ? "with ClusterIP " : "", ip[0] ? ip : ns, ip[0] ? "" : "/",
			    ip[0] ? "" : name);
		goto out;
	}
	for (i = 0; i < s->nports; i++)
		if (port == 0 || s->ports[i].port == port) {
			sp = &s->ports[i];
			break;
		}
	if (sp == NULL) {
		hop(&tr, "service", 0, -1, "%s/%s has no port %u", s->ns, s->name, port);
		goto out;
	}
	if (s->cluster_ip[0] == '\0' || s->headless) {
		hop(&tr, "service", 0, -1, "%s/%s has no ClusterIP (headless or none)", s->ns,
		    s->name);
		goto out;
	}
	hop(&tr, "service", 1, -1, "%s/%s %s:%u/%s", s->ns, s->name, s->cluster_ip, sp->port,
	    em_proto_name(sp->proto));
	trace_endpoints(&tr, r, s, sp, &ss);
	if (sp->proto == EM_PROTO_TCP) {
		if ((ms = tcp_probe_hold(s->cluster_ip, (uint16_t)sp->port, 1, &banner)) < 0)
			hop(&tr, "probe", 0, -1, "%s:%u through the rules and proxyd: %s%s",
			    s->cluster_ip, sp->port, strerror(errno),
			    errno == ECONNRESET ? " (proxyd found no usable endpoint)" : "");
		else
			hop(&tr, "probe", 1, ms, "%s:%u through the rules and proxyd (%s)",
			    s->cluster_ip, sp->port,
			    banner ? "connected, the endpoint spoke first"
				   : "connected, held open 0.3 s");
	}
out:
	if (json) {
		out = json_pack("{s:s, s:b, s:o}", "target", target, "ok", !tr.failed, "hops",
				tr.hops);
		ctl_json_print(out);
	} else
		json_decref(tr.hops);
	metrics_free(&ss);
	replica_free(r);
	return tr.failed ? 1 : 0;
}
