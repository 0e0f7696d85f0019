/*
 * Endpoints (core/v1) and EndpointSlices (discovery.k8s.io/v1, v1beta1)
 * -> struct em_endpoints.
 *
 * Endpoints: subsets are flattened; addresses are ready, notReadyAddresses
 * are not; ports are united by (name, protocol).  EndpointSlices: each
 * endpoint's first address is used ("fungible; clients may use the
 * first"), conditions.ready absent means ready, FQDN slices carry no
 * endpoints.  All the slices of one Service are joined by
 * kobj_slices_join().  Either way an address appears once (a ready copy
 * wins).  The model keeps one port list per service, so subsets or slices
 * that give one port name different numbers keep the first (with a warning).
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "kobj.h"

#define EPS_MAX		   10000 /* endpoints per object */
#define EPS_MAX_SUBSETS	   1000
#define SLICE_MAX_ADDRS	   100
#define LABEL_SERVICE_NAME "kubernetes.io/service-name"

static void
ep_clear(struct em_endpoint *e)
{
	free(e->ip);
	free(e->node);
	free(e->hostname);
	free(e->zone);
	free(e->pod);
	memset(e, 0, sizeof(*e));
}

static struct em_endpoint *
eps_append(struct em_endpoints *e, size_t *cap)
{
	struct em_endpoint *ep;

	if (e->neps == *cap) {
		*cap = *cap < 8 ? 8 : *cap * 2;
		e->eps = xreallocarray(e->eps, *cap, sizeof(*e->eps));
	}
	ep = &e->eps[e->neps++];
	memset(ep, 0, sizeof(*ep));
	return ep;
}

static int
eps_ip_cmp(const void *a, const void *b)
{
	const struct em_endpoint *const *x = a, *const *y = b;
	int r;

	if ((r = strcmp((*x)->ip, (*y)->ip)) != 0)
		return r;
	if ((*x)->ready != (*y)->ready)
		return (*x)->ready ? -1 : 1;	 /* a ready copy first */
	return *x < *y ? -1 : (*x > *y ? 1 : 0); /* then the earliest */
}

/* Drop repeated addresses, keeping the order of the survivors. */
static void
eps_dedupe(struct em_endpoints *e)
{
	struct em_endpoint **idx;
	bool *drop;
	size_t i, n;

	if (e->neps < 2)
		return;
	idx = xcalloc(e->neps, sizeof(*idx));
	drop = xcalloc(e->neps, sizeof(*drop));
	for (i = 0; i < e->neps; i++)
		idx[i] = &e->eps[i];
	qsort(idx, e->neps, sizeof(*idx), eps_ip_cmp);
	for (i = 1; i < e->neps; i++)
		if (strcmp(idx[i]->ip, idx[i - 1]->ip) == 0)
			drop[idx[i] - e->eps] = true;
	for (i = 0, n = 0; i < e->neps; i++) {
		if (drop[i]) {
			ep_clear(&e->eps[i]);
			continue;
		}
		if (n != i)
			e->eps[n] = e->eps[i];
		n++;
	}
	e->neps = n;
	free(idx);
	free(drop);
}

/* Add a port unless (name, proto) is there; 1 if it was there with another number. */
static int
eps_port_unite(struct em_endpoints *e, const char *name, uint16_t port, uint8_t proto)
{
	size_t i;

	for (i = 0; i < e->nports; i++) {
		if (e->ports[i].proto == proto && strcmp(e->ports[i].name, name) == 0)
			return e->ports[i].port != port ? 1 : 0;
	}
	if (e->nports >= EM_MAX_PORTS)
		return 0;
	e->ports = xreallocarray(e->ports, e->nports + 1, sizeof(*e->ports));
	memset(&e->ports[e->nports], 0, sizeof(e->ports[e->nports]));
	e->ports[e->nports].name = xstrdup(name);
	e->ports[e->nports].target_port_name = xstrdup("");
	e->ports[e->nports].port = port;
	e->ports[e->nports].proto = proto;
	e->nports++;
	return 0;
}

/* One ports[] list; with optional, a missing port means "all ports" (0). */
static int
eps_parse_ports(struct kobj_ctx *c, const json_t *parent, const char *base, struct em_endpoints *e,
		bool optional)
{
	char path[128], ppath[160], q[96];
	const json_t *ports, *o;
	uint16_t port;
	uint8_t proto;
	const char *name;
	size_t i;

	if (kobj_arr(c, parent, base, "ports", 0, EM_MAX_PORTS, &ports) == -1)
		return -1;
	if (ports == NULL)
		return 0;
	kobj_path(path, sizeof(path), base, "ports");
	for (i = 0; i < json_array_size(ports); i++) {
		o = json_array_get(ports, i);
		kobj_path_idx(ppath, sizeof(ppath), path, i);
		if (!json_is_object(o)) {
			kobj_err(c, ppath, "expected a mapping");
			return -1;
		}
		port = 0;
		if (kobj_str(c, o, ppath, "name", 0, 63, &name) == -1 ||
		    kobj_port(c, o, ppath, "port", optional ? 0 : KOBJ_REQ, &port) == -1 ||
		    kobj_proto(c, o, ppath, &proto) == -1)
			return -1;
		if (eps_port_unite(e, name, port, proto) == 1)
			kobj_warn(c, ppath,
				  "port \"%s\" has another number in another "
				  "subset; keeping the first",
				  kobj_quote(name, q, sizeof(q)));
	}
	return 0;
}

static int
eps_parse_target(struct kobj_ctx *c, const json_t *o, const char *base, struct em_endpoint *ep)
{
	const json_t *ref;
	const char *s;

	if (kobj_obj(c, o, base, "targetRef", 0, &ref) == -1)
		return -1;
	s = "";
	if (ref != NULL) {
		char path[200];

		kobj_path(path, sizeof(path), base, "targetRef");
		if (kobj_str(c, ref, path, "name", 0, 253, &s) == -1)
			return -1;
	}
	ep->pod = xstrdup(s);
	return 0;
}

/* An Endpoints address: {ip, hostname, nodeName, targetRef}. */
static int
eps_parse_addr(struct kobj_ctx *c, const json_t *a, const char *path, struct em_endpoints *e,
	       size_t *cap, bool ready)
{
	struct em_endpoint *ep;
	const char *ip, *s;
	char q[96], ipath[200];

	if (!json_is_object(a)) {
		kobj_err(c, path, "expected a mapping");
		return -1;
	}
	if (kobj_str(c, a, path, "ip", KOBJ_REQ | KOBJ_NONEMPTY, 64, &ip) == -1)
		return -1;
	if (!kobj_is_ip(ip, NULL)) {
		kobj_path(ipath, sizeof(ipath), path, "ip");
		kobj_err(c, ipath, "\"%s\" is not an IP address", kobj_quote(ip, q, sizeof(q)));
		return -1;
	}
	ep = eps_append(e, cap);
	ep->ip = xstrdup(ip);
	ep->ready = ready;
	ep->zone = xstrdup("");
	if (kobj_str(c, a, path, "hostname", 0, 63, &s) == -1)
		return -1;
	ep->hostname = xstrdup(s);
	if (kobj_str(c, a, path, "nodeName", 0, 253, &s) == -1)
		return -1;
	ep->node = xstrdup(s);
	return eps_parse_target(c, a, path, ep);
}

static int
eps_parse_addrs(struct kobj_ctx *c, const json_t *subset, const char *base, const char *key,
		struct em_endpoints *e, size_t *cap, bool ready)
{
	char path[128], apath[160];
	const json_t *addrs;
	size_t i;

	if (kobj_arr(c, subset, base, key, 0, EPS_MAX, &addrs) == -1)
		return -1;
	if (addrs == NULL)
		return 0;
	if (e->neps + json_array_size(addrs) > EPS_MAX) {
		kobj_err(c, base, "more than %d addresses", EPS_MAX);
		return -1;
	}
	kobj_path(path, sizeof(path), base, key);
	for (i = 0; i < json_array_size(addrs); i++) {
		kobj_path_idx(apath, sizeof(apath), path, i);
		if (eps_parse_addr(c, json_array_get(addrs, i), apath, e, cap, ready) == -1)
			return -1;
	}
	return 0;
}

int
kobj_endpoints_parse(const json_t *obj, struct em_endpoints **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct em_endpoints *e;
	const json_t *subsets, *ss;
	char path[64];
	size_t i, cap = 0;

	*out = NULL;
	kobj_ctx_init(&c, "Endpoints", diag);
	e = xcalloc(1, sizeof(*e));
	if (kobj_meta(&c, obj, true, &e->ns, &e->name) == -1)
		goto fail;
	if (kobj_arr(&c, obj, "", "subsets", 0, EPS_MAX_SUBSETS, &subsets) == -1)
		goto fail;
	for (i = 0; subsets != NULL && i < json_array_size(subsets); i++) {
		ss = json_array_get(subsets, i);
		kobj_path_idx(path, sizeof(path), "subsets", i);
		if (!json_is_object(ss)) {
			kobj_err(&c, path, "expected a mapping");
			goto fail;
		}
		if (eps_parse_ports(&c, ss, path, e, false) == -1 ||
		    eps_parse_addrs(&c, ss, path, "addresses", e, &cap, true) == -1 ||
		    eps_parse_addrs(&c, ss, path, "notReadyAddresses", e, &cap, false) == -1)
			goto fail;
	}
	eps_dedupe(e);
	*out = e;
	return 0;
fail:
	em_endpoints_free(e);
	return -1;
}

/* v1beta1 slices carry the node and zone in topology. */
static int
slice_topology(struct kobj_ctx *c, const json_t *o, const char *base, struct em_endpoint *ep)
{
	const json_t *topo;
	const char *s;
	char path[200];

	if (kobj_obj(c, o, base, "topology", 0, &topo) == -1)
		return -1;
	if (topo == NULL)
		return 0;
	kobj_path(path, sizeof(path), base, "topology");
	if (ep->node[0] == '\0') {
		if (kobj_str(c, topo, path, "kubernetes.io/hostname", 0, 253, &s) == -1)
			return -1;
		free(ep->node);
		ep->node = xstrdup(s);
	}
	if (ep->zone[0] == '\0') {
		if (kobj_str(c, topo, path, "topology.kubernetes.io/zone", 0, 253, &s) == -1)
			return -1;
		free(ep->zone);
		ep->zone = xstrdup(s);
	}
	return 0;
}

static int
slice_parse_endpoint(struct kobj_ctx *c, const json_t *o, const char *path, struct kobj_slice *sl,
		     size_t *cap)
{
	struct em_endpoint *ep;
	const json_t *addrs, *cond;
	const char *ip, *s;
	char apath[200], cpath[200], q[96];
	bool ready = true;
	int fam;

	if (!json_is_object(o)) {
		kobj_err(c, path, "expected a mapping");
		return -1;
	}
	if (kobj_arr(c, o, path, "addresses", KOBJ_REQ, SLICE_MAX_ADDRS, &addrs) == -1)
		return -1;
	kobj_path(apath, sizeof(apath), path, "addresses[0]");
	if (!json_is_string(json_array_get(addrs, 0))) {
		kobj_err(c, apath, "expected a string");
		return -1;
	}
	ip = json_string_value(json_array_get(addrs, 0));
	if (!kobj_is_ip(ip, &fam) || (sl->addr_type == KOBJ_ADDR_IPV4) != (fam == AF_INET)) {
		kobj_err(c, apath, "\"%s\" is not an %s address", kobj_quote(ip, q, sizeof(q)),
			 sl->addr_type == KOBJ_ADDR_IPV4 ? "IPv4" : "IPv6");
		return -1;
	}
	if (kobj_obj(c, o, path, "conditions", 0, &cond) == -1)
		return -1;
	kobj_path(cpath, sizeof(cpath), path, "conditions");
	if (cond != NULL && kobj_bool(c, cond, cpath, "ready", 0, &ready) == -1)
		return -1;

	ep = eps_append(sl->eps, cap);
	ep->ip = xstrdup(ip);
	ep->ready = ready;
	if (kobj_str(c, o, path, "hostname", 0, 63, &s) == -1)
		return -1;
	ep->hostname = xstrdup(s);
	if (kobj_str(c, o, path, "nodeName", 0, 253, &s) == -1)
		return -1;
	ep->node = xstrdup(s);
	if (kobj_str(c, o, path, "zone", 0, 253, &s) == -1)
		return -1;
	ep->zone = xstrdup(s);
	if (eps_parse_target(c, o, path, ep) == -1)
		return -1;
	return slice_topology(c, o, path, ep);
}

int
kobj_slice_parse(const json_t *obj, struct kobj_slice **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct kobj_slice *sl;
	const json_t *eps;
	const char *svc, *at;
	char path[64], q[96];
	size_t i, cap = 0;

	*out = NULL;
	kobj_ctx_init(&c, "EndpointSlice", diag);
	sl = xcalloc(1, sizeof(*sl));
	sl->eps = xcalloc(1, sizeof(*sl->eps));
	if (kobj_meta(&c, obj, true, &sl->ns, &sl->name) == -1)
		goto fail;
	if (kobj_label(&c, obj, LABEL_SERVICE_NAME, &svc) == -1)
		goto fail;
	if (svc == NULL || *svc == '\0') {
		kobj_err(&c, "metadata.labels[\"" LABEL_SERVICE_NAME "\"]",
			 "missing: the slice belongs to no Service");
		goto fail;
	}
	if (!kobj_is_dns_subdomain(svc)) {
		kobj_err(&c, "metadata.labels[\"" LABEL_SERVICE_NAME "\"]",
			 "\"%s\" is not a valid Service name", kobj_quote(svc, q, sizeof(q)));
		goto fail;
	}
	sl->service = xstrdup(svc);
	sl->eps->ns = xstrdup(sl->ns);
	sl->eps->name = xstrdup(svc);

	if (kobj_str(&c, obj, "", "addressType", KOBJ_REQ, 16, &at) == -1)
		goto fail;
	if (strcmp(at, "IPv4") == 0)
		sl->addr_type = KOBJ_ADDR_IPV4;
	else if (strcmp(at, "IPv6") == 0)
		sl->addr_type = KOBJ_ADDR_IPV6;
	else if (strcmp(at, "FQDN") == 0)
		sl->addr_type = KOBJ_ADDR_FQDN;
	else {
		kobj_err(&c, "addressType", "expected IPv4, IPv6 or FQDN, got \"%s\"",
			 kobj_quote(at, q, sizeof(q)));
		goto fail;
	}
	if (sl->addr_type == KOBJ_ADDR_FQDN) {
		log_debug("EndpointSlice %s/%s: FQDN slices are not used", sl->ns, sl->name);
		*out = sl;
		return 0;
	}
	if (eps_parse_ports(&c, obj, "", sl->eps, true) == -1)
		goto fail;
	if (kobj_arr(&c, obj, "", "endpoints", 0, EPS_MAX, &eps) == -1)
		goto fail;
	for (i = 0; eps != NULL && i < json_array_size(eps); i++) {
		kobj_path_idx(path, sizeof(path), "endpoints", i);
		if (slice_parse_endpoint(&c, json_array_get(eps, i), path, sl, &cap) == -1)
			goto fail;
	}
	eps_dedupe(sl->eps);
	*out = sl;
	return 0;
fail:
	kobj_slice_free(sl);
	return -1;
}

void
kobj_slice_free(struct kobj_slice *sl)
{
	if (sl == NULL)
		return;
	free(sl->ns);
	free(sl->name);
	free(sl->service);
	em_endpoints_free(sl->eps);
	free(sl);
}

static int
slice_cmp(const void *a, const void *b)
{
	const struct kobj_slice *const *x = a, *const *y = b;

	return strcmp((*x)->name, (*y)->name);
}

struct em_endpoints *
kobj_slices_join(const char *ns, const char *name, struct kobj_slice *const *slices, size_t nslices)
{
	struct em_endpoints *e;
	struct kobj_slice **sorted;
	const struct kobj_slice *sl;
	size_t i, j, n = 0, cap = 0;

	e = xcalloc(1, sizeof(*e));
	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
	/* Sorted by slice name, so the result does not depend on the caller's order. */
	sorted = xcalloc(nslices, sizeof(*sorted));
	for (i = 0; i < nslices; i++) {
		sl = slices[i];
		if (sl == NULL || sl->eps == NULL || sl->addr_type == KOBJ_ADDR_FQDN ||
		    strcmp(sl->ns, ns) != 0 || strcmp(sl->service, name) != 0)
			continue;
		sorted[n++] = slices[i];
	}
	qsort(sorted, n, sizeof(*sorted), slice_cmp);
	for (i = 0; i < n; i++) {
		sl = sorted[i];
		for (j = 0; j < sl->eps->nports; j++)
			if (eps_port_unite(e, sl->eps->ports[j].name, sl->eps->ports[j].port,
					   sl->eps->ports[j].proto) == 1)
				log_debug("%s: %s/%s: port \"%s\" has different numbers in "
					  "different slices",
					  __func__, ns, name, sl->eps->ports[j].name);
		for (j = 0; j < sl->eps->neps; j++)
			em_endpoint_copy(eps_append(e, &cap), &sl->eps->eps[j]);
	}
	free(sorted);
	eps_dedupe(e);
	return e;
}
