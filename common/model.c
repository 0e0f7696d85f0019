#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "model.h"

static const char *topic_names[EM_TOPIC_COUNT] = {
    [EM_TOPIC_SERVICES] = "services", [EM_TOPIC_ENDPOINTS] = "endpoints",
    [EM_TOPIC_PEERS] = "peers",	      [EM_TOPIC_GATEWAYS] = "gateways",
    [EM_TOPIC_SELF] = "self",
};

const char *
em_topic_name(enum em_topic t)
{
	if ((unsigned)t >= EM_TOPIC_COUNT)
		return "unknown";
	return topic_names[t];
}

const char *
em_proto_name(int p)
{
	switch (p) {
	case EM_PROTO_TCP:
		return "TCP";
	case EM_PROTO_UDP:
		return "UDP";
	case EM_PROTO_SCTP:
		return "SCTP";
	}
	return "?";
}

int
em_proto_parse(const char *s)
{
	if (strcasecmp(s, "tcp") == 0)
		return EM_PROTO_TCP;
	if (strcasecmp(s, "udp") == 0)
		return EM_PROTO_UDP;
	if (strcasecmp(s, "sctp") == 0)
		return EM_PROTO_SCTP;
	return -1;
}

const char *
em_lb_name(int lb)
{
	switch (lb) {
	case EM_LB_ROUND_ROBIN:
		return "ROUND_ROBIN";
	case EM_LB_RANDOM:
		return "RANDOM";
	case EM_LB_CONSISTENT_HASH:
		return "CONSISTENT_HASH";
	}
	return "?";
}

char *
xstrdup(const char *s)
{
	char *p;

	if ((p = strdup(s == NULL ? "" : s)) == NULL)
		fatal("xstrdup");
	return p;
}

void *
xcalloc(size_t n, size_t sz)
{
	void *p;

	if ((p = calloc(n == 0 ? 1 : n, sz == 0 ? 1 : sz)) == NULL)
		fatal("xcalloc");
	return p;
}

void *
xreallocarray(void *p, size_t n, size_t sz)
{
	void *q;

	if ((q = reallocarray(p, n == 0 ? 1 : n, sz == 0 ? 1 : sz)) == NULL)
		fatal("xreallocarray");
	return q;
}

static void
ports_free(struct em_port *ports, size_t n)
{
	size_t i;

	if (ports == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(ports[i].name);
		free(ports[i].target_port_name);
	}
	free(ports);
}

void
em_service_free(struct em_service *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->flat) {
		free(s); /* one block */
		return;
	}
	free(s->ns);
	free(s->name);
	free(s->cluster_ip);
	for (i = 0; i < s->n_cluster_ips && i < EM_MAX_IPS; i++)
		free(s->cluster_ips[i]);
	free(s->external_name);
	free(s->hash_arg);
	ports_free(s->ports, s->nports);
	free(s);
}

void
em_endpoints_free(struct em_endpoints *e)
{
	size_t i;

	if (e == NULL)
		return;
	if (e->flat) {
		free(e); /* one block */
		return;
	}
	free(e->ns);
	free(e->name);
	ports_free(e->ports, e->nports);
	for (i = 0; i < e->neps && e->eps != NULL; i++) {
		free(e->eps[i].ip);
		free(e->eps[i].node);
		free(e->eps[i].hostname);
		free(e->eps[i].zone);
		free(e->eps[i].pod);
	}
	free(e->eps);
	free(e);
}

void
em_peer_free(struct em_peer *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->name);
	for (i = 0; i < p->naddrs && i < EM_MAX_ADDRS; i++)
		free(p->addrs[i]);
	free(p->pubkey);
	free(p);
}

static void
gw_server_clear(struct em_gw_server *s)
{
	size_t i;

	free(s->protocol);
	for (i = 0; i < s->nhosts && s->hosts != NULL; i++)
		free(s->hosts[i]);
	free(s->hosts);
	free(s->tls_mode);
	free(s->credential);
	if (s->key_pem != NULL) {
		explicit_bzero(s->key_pem, strlen(s->key_pem));
		free(s->key_pem);
	}
	free(s->cert_pem);
	free(s->ca_pem);
}

void
em_gateway_free(struct em_gateway *g)
{
	size_t i;

	if (g == NULL)
		return;
	free(g->ns);
	free(g->name);
	for (i = 0; i < g->nservers && g->servers != NULL; i++)
		gw_server_clear(&g->servers[i]);
	free(g->servers);
	for (i = 0; i < g->nroutes && g->routes != NULL; i++) {
		for (size_t j = 0; j < g->routes[i].nhosts; j++)
			free(g->routes[i].hosts[j]);
		free(g->routes[i].hosts);
		free(g->routes[i].prefix);
		free(g->routes[i].exact);
		free(g->routes[i].regex);
		free(g->routes[i].dest_host);
		free(g->routes[i].dest_ns);
	}
	free(g->routes);
	free(g);
}

void
em_self_free(struct em_self *s)
{
	if (s == NULL)
		return;
	free(s->node);
	free(s->domain);
	free(s);
}

void
em_object_free(struct em_object *o)
{
	switch (o->topic) {
	case EM_TOPIC_SERVICES:
		em_service_free(o->u.svc);
		break;
	case EM_TOPIC_ENDPOINTS:
		em_endpoints_free(o->u.eps);
		break;
	case EM_TOPIC_PEERS:
		em_peer_free(o->u.peer);
		break;
	case EM_TOPIC_GATEWAYS:
		em_gateway_free(o->u.gw);
		break;
	case EM_TOPIC_SELF:
		em_self_free(o->u.self);
		break;
	default:
		break;
	}
	o->u.any = NULL;
}

const char *
em_object_key(const struct em_object *o, char *buf, size_t len)
{
	switch (o->topic) {
	case EM_TOPIC_SERVICES:
		snprintf(buf, len, "%s/%s", o->u.svc->ns, o->u.svc->name);
		break;
	case EM_TOPIC_ENDPOINTS:
		snprintf(buf, len, "%s/%s", o->u.eps->ns, o->u.eps->name);
		break;
	case EM_TOPIC_PEERS:
		snprintf(buf, len, "%s", o->u.peer->name);
		break;
	case EM_TOPIC_GATEWAYS:
		snprintf(buf, len, "%s/%s", o->u.gw->ns, o->u.gw->name);
		break;
	case EM_TOPIC_SELF:
		snprintf(buf, len, "self");
		break;
	default:
		snprintf(buf, len, "?");
		break;
	}
	return buf;
}

struct em_port *
em_ports_dup(const struct em_port *ports, size_t n)
{
	struct em_port *c = xcalloc(n, sizeof(*c));
	size_t i;

	for (i = 0; i < n; i++) {
		c[i] = ports[i];
		c[i].name = xstrdup(ports[i].name);
		c[i].target_port_name = xstrdup(ports[i].target_port_name);
	}
	return c;
}

struct em_service *
em_service_dup(const struct em_service *s)
{
	struct em_service *c = xcalloc(1, sizeof(*c));
	size_t i;

	*c = *s;
	c->flat = false;
	c->ns = xstrdup(s->ns);
	c->name = xstrdup(s->name);
	c->cluster_ip = xstrdup(s->cluster_ip);
	c->n_cluster_ips = s->n_cluster_ips > EM_MAX_IPS ? EM_MAX_IPS : s->n_cluster_ips;
	for (i = 0; i < EM_MAX_IPS; i++)
		c->cluster_ips[i] = i < c->n_cluster_ips ? xstrdup(s->cluster_ips[i]) : NULL;
	c->external_name = xstrdup(s->external_name);
	c->hash_arg = xstrdup(s->hash_arg);
	c->ports = em_ports_dup(s->ports, s->nports);
	return c;
}

void
em_endpoint_copy(struct em_endpoint *dst, const struct em_endpoint *src)
{
	dst->ip = xstrdup(src->ip);
	dst->node = xstrdup(src->node);
	dst->hostname = xstrdup(src->hostname);
	dst->zone = xstrdup(src->zone);
	dst->pod = xstrdup(src->pod);
	dst->ready = src->ready;
}

/* flat copies: strings laid out after the arrays, "" shared */
struct flat {
	char *p, *empty;
};

static size_t
flat_len(const char *s)
{
	return s[0] == '\0' ? 0 : strlen(s) + 1;
}

static char *
flat_put(struct flat *f, const char *s)
{
	size_t n;
	char *r;

	if (s[0] == '\0')
		return f->empty;
	n = strlen(s) + 1;
	r = memcpy(f->p, s, n);
	f->p += n;
	return r;
}

struct em_endpoints *
em_endpoints_flat(const struct em_endpoints *e)
{
	struct em_endpoints *c;
	struct flat f;
	size_t i, len = 1;
	char *base;

	len += flat_len(e->ns) + flat_len(e->name);
	for (i = 0; i < e->nports; i++)
		len += flat_len(e->ports[i].name) + flat_len(e->ports[i].target_port_name);
	for (i = 0; i < e->neps; i++)
		len += flat_len(e->eps[i].ip) + flat_len(e->eps[i].node) +
		       flat_len(e->eps[i].hostname) + flat_len(e->eps[i].zone) +
		       flat_len(e->eps[i].pod);
	base = xcalloc(1, sizeof(*c) + e->nports * sizeof(*c->ports) + e->neps * sizeof(*c->eps) +
			      len);
	c = (struct em_endpoints *)(void *)base;
	*c = *e;
	c->flat = true;
	c->ports = e->nports > 0 ? (struct em_port *)(void *)(base + sizeof(*c)) : NULL;
	c->eps =
	    e->neps > 0
		? (struct em_endpoint *)(void *)(base + sizeof(*c) + e->nports * sizeof(*c->ports))
		: NULL;
	f.empty = base + sizeof(*c) + e->nports * sizeof(*c->ports) + e->neps * sizeof(*c->eps);
	f.p = f.empty + 1;
	c->ns = flat_put(&f, e->ns);
	c->name = flat_put(&f, e->name);
	for (i = 0; i < e->nports; i++) {
		c->ports[i] = e->ports[i];
		c->ports[i].name = flat_put(&f, e->ports[i].name);
		c->ports[i].target_port_name = flat_put(&f, e->ports[i].target_port_name);
	}
	for (i = 0; i < e->neps; i++) {
		c->eps[i] = e->eps[i];
		c->eps[i].ip = flat_put(&f, e->eps[i].ip);
		c->eps[i].node = flat_put(&f, e->eps[i].node);
		c->eps[i].hostname = flat_put(&f, e->eps[i].hostname);
		c->eps[i].zone = flat_put(&f, e->eps[i].zone);
		c->eps[i].pod = flat_put(&f, e->eps[i].pod);
	}
	return c;
}

struct em_service *
em_service_flat(const struct em_service *s)
{
	struct em_service *c;
	struct flat f;
	size_t i, nip = s->n_cluster_ips > EM_MAX_IPS ? EM_MAX_IPS : s->n_cluster_ips, len = 1;
	char *base;

	len += flat_len(s->ns) + flat_len(s->name) + flat_len(s->cluster_ip) +
	       flat_len(s->external_name) + flat_len(s->hash_arg);
	for (i = 0; i < nip; i++)
		len += flat_len(s->cluster_ips[i]);
	for (i = 0; i < s->nports; i++)
		len += flat_len(s->ports[i].name) + flat_len(s->ports[i].target_port_name);
	base = xcalloc(1, sizeof(*c) + s->nports * sizeof(*c->ports) + len);
	c = (struct em_service *)(void *)base;
	*c = *s;
	c->flat = true;
	c->n_cluster_ips = nip;
	c->ports = s->nports > 0 ? (struct em_port *)(void *)(base + sizeof(*c)) : NULL;
	f.empty = base + sizeof(*c) + s->nports * sizeof(*c->ports);
	f.p = f.empty + 1;
	c->ns = flat_put(&f, s->ns);
	c->name = flat_put(&f, s->name);
	c->cluster_ip = flat_put(&f, s->cluster_ip);
	c->external_name = flat_put(&f, s->external_name);
	c->hash_arg = flat_put(&f, s->hash_arg);
	for (i = 0; i < EM_MAX_IPS; i++)
		c->cluster_ips[i] = i < nip ? flat_put(&f, s->cluster_ips[i]) : NULL;
	for (i = 0; i < s->nports; i++) {
		c->ports[i] = s->ports[i];
		c->ports[i].name = flat_put(&f, s->ports[i].name);
		c->ports[i].target_port_name = flat_put(&f, s->ports[i].target_port_name);
	}
	return c;
}

struct em_endpoints *
em_endpoints_dup(const struct em_endpoints *e)
{
	struct em_endpoints *c = xcalloc(1, sizeof(*c));
	size_t i;

	c->ns = xstrdup(e->ns);
	c->name = xstrdup(e->name);
	c->nports = e->nports;
	c->ports = em_ports_dup(e->ports, e->nports);
	c->neps = e->neps;
	c->eps = xcalloc(e->neps, sizeof(*c->eps));
	for (i = 0; i < e->neps; i++)
		em_endpoint_copy(&c->eps[i], &e->eps[i]);
	return c;
}

struct em_peer *
em_peer_dup(const struct em_peer *p)
{
	struct em_peer *c = xcalloc(1, sizeof(*c));
	size_t i;

	c->name = xstrdup(p->name);
	c->naddrs = p->naddrs > EM_MAX_ADDRS ? EM_MAX_ADDRS : p->naddrs;
	for (i = 0; i < c->naddrs; i++)
		c->addrs[i] = xstrdup(p->addrs[i]);
	c->relay = p->relay;
	c->pubkey = xstrdup(p->pubkey);
	return c;
}

/*
 * The Service a route sends to, as "ns/name": dest_host "svc" is in the
 * VirtualService's namespace; "svc.ns" and "svc.ns.svc.<domain>" name theirs.
 * (gatewayd dials it; tunneld lets gatewayd open only these.)
 */
void
em_gw_dest_key(const struct em_gw_route *r, char *out, size_t outlen)
{
	const char *h = r->dest_host, *dot, *dot2;

	if ((dot = strchr(h, '.')) == NULL) {
		snprintf(out, outlen, "%s/%s", r->dest_ns, h);
		return;
	}
	dot2 = strchr(dot + 1, '.');
	snprintf(out, outlen, "%.*s/%.*s",
		 (int)(dot2 != NULL ? dot2 - dot - 1 : (ptrdiff_t)strlen(dot + 1)), dot + 1,
		 (int)(dot - h), h);
}
