/*
 * Istio objects (networking.istio.io v1alpha3, v1beta1, v1) with EdgeMesh
 * semantics:
 *  - DestinationRule: binds to the Service of the same namespace and name
 *    (spec.host is ignored); loadBalancer.simple ROUND_ROBIN or RANDOM, or
 *    consistentHash by httpHeaderName, useSourceIp or httpCookie.
 *    LEAST_CONN, LEAST_REQUEST, PASSTHROUGH or no loadBalancer at all mean
 *    the default (round robin) and a warning.
 *  - Gateway: servers (port, protocol, hosts, tls mode and credentialName).
 *  - VirtualService: gateways, hosts, http routes (uri prefix/exact/regex,
 *    route[0] destination), tcp routes.  Everything else is ignored, with a
 *    warning where a user would expect it to have an effect.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "kobj.h"

#define GW_MAX_SERVERS	64
#define GW_MAX_HOSTS	64
#define VS_MAX_ROUTES	256
#define VS_MAX_MATCHES	64
#define VS_MAX_GATEWAYS 64
#define VS_MAX_URI	1024

/* Go duration ("1h30m", "10s", "1.5s", "250ms") in whole seconds. */
static int
dr_duration(const char *s, uint32_t *out)
{
	static const struct {
		const char *unit;
		double secs;
	} units[] = {
	    {"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3},
	    {"s", 1},	  {"m", 60},	{"h", 3600},
	};
	double total = 0, v, frac;
	size_t i, n, len;

	if (strcmp(s, "0") == 0) {
		*out = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		v = 0;
		for (n = 0; *s >= '0' && *s <= '9'; s++, n++)
			v = v * 10 + (*s - '0');
		if (*s == '.') {
			for (s++, frac = 0.1; *s >= '0' && *s <= '9'; s++, n++, frac /= 10)
				v += (*s - '0') * frac;
		}
		if (n == 0)
			return -1;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			len = strlen(units[i].unit);
			/* "m" must not take the "m" of "ms" */
			if (strncmp(s, units[i].unit, len) == 0 &&
			    !(strcmp(units[i].unit, "m") == 0 && s[1] == 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -1;
		s += strlen(units[i].unit);
		total += v * units[i].secs;
		if (total > 4294967295.0)
			return -1;
	}
	*out = (uint32_t)total;
	return 0;
}

static bool
dr_token(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
			return false;
	return p != s;
}

static int
dr_parse_hash(struct kobj_ctx *c, const json_t *ch, struct kobj_dr *dr)
{
	const char *base = "spec.trafficPolicy.loadBalancer.consistentHash";
	char path[160], q[96];
	const json_t *cookie;
	const char *header, *query, *name, *ttl;
	bool srcip = false;
	int nkeys = 0;

	dr->lb = EM_LB_CONSISTENT_HASH;
	if (kobj_str(c, ch, base, "httpHeaderName", 0, 256, &header) == -1 ||
	    kobj_bool(c, ch, base, "useSourceIp", 0, &srcip) == -1 ||
	    kobj_obj(c, ch, base, "httpCookie", 0, &cookie) == -1 ||
	    kobj_str(c, ch, base, "httpQueryParameterName", 0, 256, &query) == -1)
		return -1;
	nkeys = (*header != '\0') + srcip + (cookie != NULL) + (*query != '\0');
	if (nkeys > 1) {
		kobj_err(c, base,
			 "httpHeaderName, useSourceIp, httpCookie and "
			 "httpQueryParameterName are exclusive");
		return -1;
	}
	if (*header != '\0') {
		if (!dr_token(header)) {
			kobj_path(path, sizeof(path), base, "httpHeaderName");
			kobj_err(c, path, "\"%s\" is not a valid header name",
				 kobj_quote(header, q, sizeof(q)));
			return -1;
		}
		dr->hash = EM_HASH_HEADER;
		free(dr->hash_arg);
		dr->hash_arg = xstrdup(header);
	} else if (srcip) {
		dr->hash = EM_HASH_SOURCE_IP;
	} else if (cookie != NULL) {
		kobj_path(path, sizeof(path), base, "httpCookie");
		if (kobj_str(c, cookie, path, "name", KOBJ_REQ | KOBJ_NONEMPTY, 256, &name) == -1 ||
		    kobj_str(c, cookie, path, "ttl", 0, 64, &ttl) == -1)
			return -1;
		if (!dr_token(name)) {
			kobj_path(path, sizeof(path), base, "httpCookie.name");
			kobj_err(c, path, "\"%s\" is not a valid cookie name",
				 kobj_quote(name, q, sizeof(q)));
			return -1;
		}
		if (*ttl != '\0' && dr_duration(ttl, &dr->cookie_ttl) == -1) {
			kobj_path(path, sizeof(path), base, "httpCookie.ttl");
			kobj_err(c, path, "\"%s\" is not a duration such as \"10s\" or \"1h\"",
				 kobj_quote(ttl, q, sizeof(q)));
			return -1;
		}
		dr->hash = EM_HASH_COOKIE;
		free(dr->hash_arg);
		dr->hash_arg = xstrdup(name);
	} else if (*query != '\0') {
		kobj_warn(c, base,
			  "httpQueryParameterName is not supported; every request "
			  "hashes alike");
		dr->hash = EM_HASH_NONE;
	} else {
		kobj_warn(c, base, "no hash key; every request hashes alike");
		dr->hash = EM_HASH_NONE;
	}
	return 0;
}

int
kobj_dr_parse(const json_t *obj, struct kobj_dr **out, struct kobj_diag *diag)
{
	const char *lbpath = "spec.trafficPolicy.loadBalancer";
	struct kobj_ctx c;
	struct kobj_dr *dr;
	const json_t *spec, *tp, *lb, *simple, *ch;
	const char *host, *s;
	char q[96];

	*out = NULL;
	kobj_ctx_init(&c, "DestinationRule", diag);
	dr = xcalloc(1, sizeof(*dr));
	dr->lb = EM_LB_ROUND_ROBIN;
	dr->hash = EM_HASH_NONE;
	dr->hash_arg = xstrdup("");
	if (kobj_meta(&c, obj, true, &dr->ns, &dr->name) == -1)
		goto fail;
	if (kobj_obj(&c, obj, "", "spec", 0, &spec) == -1 ||
	    kobj_str(&c, spec, "spec", "host", 0, 253, &host) == -1 ||
	    kobj_obj(&c, spec, "spec", "trafficPolicy", 0, &tp) == -1 ||
	    kobj_obj(&c, tp, "spec.trafficPolicy", "loadBalancer", 0, &lb) == -1)
		goto fail;
	if (kobj_get(tp, "portLevelSettings") != NULL)
		kobj_warn(&c, "spec.trafficPolicy.portLevelSettings",
			  "ignored; the policy "
			  "applies to every port");
	if (lb == NULL) {
		kobj_warn(&c, lbpath, "not set; using ROUND_ROBIN");
		*out = dr;
		return 0;
	}
	simple = kobj_get(lb, "simple");
	ch = kobj_get(lb, "consistentHash");
	if (simple != NULL && ch != NULL) {
		kobj_err(&c, lbpath, "simple and consistentHash are exclusive");
		goto fail;
	}
	if (simple != NULL) {
		if (kobj_str(&c, lb, lbpath, "simple", KOBJ_NONEMPTY, 32, &s) == -1)
			goto fail;
		if (strcmp(s, "ROUND_ROBIN") == 0)
			dr->lb = EM_LB_ROUND_ROBIN;
		else if (strcmp(s, "RANDOM") == 0)
			dr->lb = EM_LB_RANDOM;
		else if (strcmp(s, "LEAST_CONN") == 0 || strcmp(s, "LEAST_REQUEST") == 0 ||
			 strcmp(s, "PASSTHROUGH") == 0 || strcmp(s, "UNSPECIFIED") == 0)
			kobj_warn(&c, "spec.trafficPolicy.loadBalancer.simple",
				  "%s is not "
				  "supported; using ROUND_ROBIN",
				  s);
		else {
			kobj_err(
			    &c, "spec.trafficPolicy.loadBalancer.simple",
			    "expected "
			    "ROUND_ROBIN, RANDOM, LEAST_CONN, LEAST_REQUEST or PASSTHROUGH, got "
			    "\"%s\"",
			    kobj_quote(s, q, sizeof(q)));
			goto fail;
		}
	} else if (ch != NULL) {
		if (!json_is_object(ch)) {
			kobj_err(&c, "spec.trafficPolicy.loadBalancer.consistentHash",
				 "expected a mapping");
			goto fail;
		}
		if (dr_parse_hash(&c, ch, dr) == -1)
			goto fail;
	} else {
		kobj_warn(&c, lbpath, "neither simple nor consistentHash; using ROUND_ROBIN");
	}
	*out = dr;
	return 0;
fail:
	kobj_dr_free(dr);
	return -1;
}

void
kobj_dr_free(struct kobj_dr *dr)
{
	if (dr == NULL)
		return;
	free(dr->ns);
	free(dr->name);
	free(dr->hash_arg);
	free(dr);
}

static char *
str_upper(const char *s)
{
	char *u, *p;

	u = xstrdup(s);
	for (p = u; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	return u;
}

static void
gw_server_clear(struct em_gw_server *sv)
{
	free(sv->protocol);
	kobj_strv_free(sv->hosts, sv->nhosts);
	free(sv->tls_mode);
	free(sv->credential);
	free(sv->cert_pem);
	if (sv->key_pem != NULL) {
		explicit_bzero(sv->key_pem, strlen(sv->key_pem));
		free(sv->key_pem);
	}
	free(sv->ca_pem);
	memset(sv, 0, sizeof(*sv));
}

static int
gw_parse_server(struct kobj_ctx *c, const json_t *o, const char *path, struct em_gw_server *sv)
{
	char ppath[160];
	const json_t *port, *tls;
	const char *s, *pname;

	sv->protocol = xstrdup("");
	sv->tls_mode = xstrdup("");
	sv->credential = xstrdup("");
	sv->cert_pem = xstrdup("");
	sv->key_pem = xstrdup("");
	sv->ca_pem = xstrdup("");
	if (!json_is_object(o)) {
		kobj_err(c, path, "expected a mapping");
		return -1;
	}
	if (kobj_obj(c, o, path, "port", KOBJ_REQ, &port) == -1)
		return -1;
	kobj_path(ppath, sizeof(ppath), path, "port");
	if (kobj_port(c, port, ppath, "number", KOBJ_REQ, &sv->port) == -1 ||
	    kobj_str(c, port, ppath, "protocol", KOBJ_REQ | KOBJ_NONEMPTY, 32, &s) == -1 ||
	    kobj_str(c, port, ppath, "name", 0, 253, &pname) == -1)
		return -1;
	free(sv->protocol);
	sv->protocol = str_upper(s);
	if (kobj_str_list(c, o, path, "hosts", KOBJ_REQ | KOBJ_NONEMPTY, GW_MAX_HOSTS, &sv->hosts,
			  &sv->nhosts) == -1)
		return -1;
	if (kobj_obj(c, o, path, "tls", 0, &tls) == -1)
		return -1;
	if (tls != NULL) {
		kobj_path(ppath, sizeof(ppath), path, "tls");
		if (kobj_str(c, tls, ppath, "mode", 0, 32, &s) == -1)
			return -1;
		free(sv->tls_mode);
		sv->tls_mode = str_upper(s);
		if (kobj_str(c, tls, ppath, "credentialName", 0, 253, &s) == -1)
			return -1;
		free(sv->credential);
		sv->credential = xstrdup(s);
	} else if (strcmp(sv->protocol, "HTTPS") == 0) {
		kobj_warn(c, path, "protocol HTTPS without tls");
	}
	return 0;
}

int
kobj_gateway_parse(const json_t *obj, struct kobj_gateway **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct kobj_gateway *gw;
	const json_t *spec, *servers;
	char path[64];
	size_t i, n;

	*out = NULL;
	kobj_ctx_init(&c, "Gateway", diag);
	gw = xcalloc(1, sizeof(*gw));
	if (kobj_meta(&c, obj, true, &gw->ns, &gw->name) == -1)
		goto fail;
	if (kobj_obj(&c, obj, "", "spec", KOBJ_REQ, &spec) == -1 ||
	    kobj_arr(&c, spec, "spec", "servers", KOBJ_REQ, GW_MAX_SERVERS, &servers) == -1)
		goto fail;
	n = json_array_size(servers);
	gw->servers = xcalloc(n, sizeof(*gw->servers));
	for (i = 0; i < n; i++) {
		gw->nservers = i + 1;
		kobj_path_idx(path, sizeof(path), "spec.servers", i);
		if (gw_parse_server(&c, json_array_get(servers, i), path, &gw->servers[i]) == -1)
			goto fail;
	}
	*out = gw;
	return 0;
fail:
	kobj_gateway_free(gw);
	return -1;
}

void
kobj_gateway_free(struct kobj_gateway *gw)
{
	size_t i;

	if (gw == NULL)
		return;
	free(gw->ns);
	free(gw->name);
	for (i = 0; i < gw->nservers; i++)
		gw_server_clear(&gw->servers[i]);
	free(gw->servers);
	free(gw);
}

static void
vs_routes_free(struct kobj_vs_route *r, size_t n)
{
	size_t i, j;

	if (r == NULL)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < r[i].nmatch; j++)
			free(r[i].match[j].uri);
		free(r[i].match);
		free(r[i].dest_host);
	}
	free(r);
}

static int
vs_parse_uri(struct kobj_ctx *c, const json_t *m, const char *path, struct kobj_vs_match *mt)
{
	static const struct {
		const char *key;
		uint8_t kind;
	} kinds[] = {
	    {"prefix", KOBJ_URI_PREFIX},
	    {"exact", KOBJ_URI_EXACT},
	    {"regex", KOBJ_URI_REGEX},
	};
	const json_t *uri;
	char upath[160];
	const char *s;
	size_t i;

	if (kobj_obj(c, m, path, "uri", 0, &uri) == -1)
		return -1;
	if (uri == NULL)
		return 0;
	kobj_path(upath, sizeof(upath), path, "uri");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (kobj_get(uri, kinds[i].key) == NULL)
			continue;
		if (mt->uri_kind != KOBJ_URI_NONE) {
			kobj_err(c, upath, "prefix, exact and regex are exclusive");
			return -1;
		}
		if (kobj_str(c, uri, upath, kinds[i].key, 0, VS_MAX_URI, &s) == -1)
			return -1;
		mt->uri_kind = kinds[i].kind;
		free(mt->uri);
		mt->uri = xstrdup(s);
	}
	if (mt->uri_kind == KOBJ_URI_NONE) {
		kobj_err(c, upath, "expected one of prefix, exact or regex");
		return -1;
	}
	return 0;
}

static int
vs_parse_match(struct kobj_ctx *c, const json_t *m, const char *path, struct kobj_vs_match *mt,
	       bool http)
{
	size_t known = 0;

	mt->uri = xstrdup("");
	if (!json_is_object(m)) {
		kobj_err(c, path, "expected a mapping");
		return -1;
	}
	if (http && vs_parse_uri(c, m, path, mt) == -1)
		return -1;
	if (kobj_port(c, m, path, "port", 0, &mt->port) == -1)
		return -1;
	/* anything beside name, port (and uri) is a condition we ignore */
	known += json_object_get(m, "name") != NULL;
	known += json_object_get(m, "port") != NULL;
	known += http && json_object_get(m, "uri") != NULL;
	mt->other = json_object_size(m) > known;
	if (mt->other)
		kobj_warn(c, path, "only %s conditions are evaluated",
			  http ? "uri and port" : "port");
	return 0;
}

static int
vs_parse_route(struct kobj_ctx *c, const json_t *o, const char *path, struct kobj_vs_route *r,
	       bool http, bool *skip)
{
	char mpath[160], dpath[200];
	const json_t *match, *route, *dest, *port;
	const char *host;
	size_t i, n;

	*skip = false;
	r->dest_host = xstrdup("");
	if (!json_is_object(o)) {
		kobj_err(c, path, "expected a mapping");
		return -1;
	}
	if (kobj_arr(c, o, path, "match", 0, VS_MAX_MATCHES, &match) == -1 ||
	    kobj_arr(c, o, path, "route", 0, 64, &route) == -1)
		return -1;
	if (route == NULL || json_array_size(route) == 0) {
		/* redirect, directResponse: not something we can serve */
		kobj_warn(c, path,
			  "no route; skipped (redirect and directResponse are not "
			  "supported)");
		*skip = true;
		return 0;
	}
	n = match != NULL ? json_array_size(match) : 0;
	r->match = xcalloc(n, sizeof(*r->match));
	kobj_path(mpath, sizeof(mpath), path, "match");
	for (i = 0; i < n; i++) {
		char ipath[180];

		r->nmatch = i + 1;
		kobj_path_idx(ipath, sizeof(ipath), mpath, i);
		if (vs_parse_match(c, json_array_get(match, i), ipath, &r->match[i], http) == -1)
			return -1;
	}
	kobj_path(dpath, sizeof(dpath), path, "route[0]");
	if (!json_is_object(json_array_get(route, 0))) {
		kobj_err(c, dpath, "expected a mapping");
		return -1;
	}
	if (kobj_obj(c, json_array_get(route, 0), dpath, "destination", KOBJ_REQ, &dest) == -1)
		return -1;
	kobj_path(dpath, sizeof(dpath), path, "route[0].destination");
	if (kobj_str(c, dest, dpath, "host", KOBJ_REQ | KOBJ_NONEMPTY, 253, &host) == -1 ||
	    kobj_obj(c, dest, dpath, "port", 0, &port) == -1)
		return -1;
	free(r->dest_host);
	r->dest_host = xstrdup(host);
	kobj_path(dpath, sizeof(dpath), path, "route[0].destination.port");
	if (kobj_port(c, port, dpath, "number", 0, &r->dest_port) == -1)
		return -1;
	if (json_array_size(route) > 1)
		kobj_warn(c, path, "only route[0] is used; weights are ignored");
	return 0;
}

static int
vs_parse_routes(struct kobj_ctx *c, const json_t *spec, const char *key, bool http,
		struct kobj_vs_route **out, size_t *nout)
{
	char base[32], path[64];
	const json_t *a;
	bool skip;
	size_t i;

	*out = NULL;
	*nout = 0;
	if (kobj_arr(c, spec, "spec", key, 0, VS_MAX_ROUTES, &a) == -1)
		return -1;
	if (a == NULL)
		return 0;
	*out = xcalloc(json_array_size(a), sizeof(**out));
	kobj_path(base, sizeof(base), "spec", key);
	for (i = 0; i < json_array_size(a); i++) {
		kobj_path_idx(path, sizeof(path), base, i);
		(*nout)++;
		if (vs_parse_route(c, json_array_get(a, i), path, &(*out)[*nout - 1], http,
				   &skip) == -1)
			return -1;
		if (skip) {
			free((*out)[*nout - 1].dest_host);
			memset(&(*out)[*nout - 1], 0, sizeof(**out));
			(*nout)--;
		}
	}
	return 0;
}

int
kobj_vs_parse(const json_t *obj, struct kobj_vs **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct kobj_vs *vs;
	const json_t *spec;

	*out = NULL;
	kobj_ctx_init(&c, "VirtualService", diag);
	vs = xcalloc(1, sizeof(*vs));
	if (kobj_meta(&c, obj, true, &vs->ns, &vs->name) == -1)
		goto fail;
	if (kobj_obj(&c, obj, "", "spec", KOBJ_REQ, &spec) == -1)
		goto fail;
	if (kobj_str_list(&c, spec, "spec", "hosts", KOBJ_REQ | KOBJ_NONEMPTY, GW_MAX_HOSTS,
			  &vs->hosts, &vs->nhosts) == -1)
		goto fail;
	if (kobj_str_list(&c, spec, "spec", "gateways", KOBJ_NONEMPTY, VS_MAX_GATEWAYS,
			  &vs->gateways, &vs->ngateways) == -1)
		goto fail;
	if (vs->gateways == NULL)
		vs->gateways = xcalloc(1, sizeof(*vs->gateways));
	if (vs_parse_routes(&c, spec, "http", true, &vs->http, &vs->nhttp) == -1 ||
	    vs_parse_routes(&c, spec, "tcp", false, &vs->tcp, &vs->ntcp) == -1)
		goto fail;
	if (kobj_get(spec, "tls") != NULL)
		kobj_warn(&c, "spec.tls", "TLS routes are not supported; ignored");
	*out = vs;
	return 0;
fail:
	kobj_vs_free(vs);
	return -1;
}

void
kobj_vs_free(struct kobj_vs *vs)
{
	if (vs == NULL)
		return;
	free(vs->ns);
	free(vs->name);
	kobj_strv_free(vs->gateways, vs->ngateways);
	kobj_strv_free(vs->hosts, vs->nhosts);
	vs_routes_free(vs->http, vs->nhttp);
	vs_routes_free(vs->tcp, vs->ntcp);
	free(vs);
}

/*
 * spec.gateways entries name a Gateway as "name" or "ns/name".  A bare
 * name matches a Gateway of that name in any namespace, as in EdgeMesh
 * (Istio would look in the VirtualService's namespace only).
 */
bool
kobj_vs_binds(const struct kobj_vs *vs, const struct kobj_gateway *gw)
{
	const char *g, *slash;
	size_t i;

	for (i = 0; i < vs->ngateways; i++) {
		g = vs->gateways[i];
		if ((slash = strchr(g, '/')) == NULL) {
			if (strcmp(g, gw->name) == 0)
				return true;
			continue;
		}
		if ((size_t)(slash - g) == strlen(gw->ns) &&
		    strncmp(g, gw->ns, strlen(gw->ns)) == 0 && strcmp(slash + 1, gw->name) == 0)
			return true;
	}
	return false;
}

/* A server host may carry a namespace ("ns/host", "*" "/host"): drop it. */
static const char *
gw_host_part(const char *h)
{
	const char *slash = strchr(h, '/');

	return slash != NULL ? slash + 1 : h;
}

/* Does a VirtualService's host list fit one of the Gateway's servers? */
static bool
gw_hosts_fit(const struct kobj_gateway *gw, const struct kobj_vs *vs)
{
	size_t i, j, k;

	for (i = 0; i < gw->nservers; i++)
		for (j = 0; j < gw->servers[i].nhosts; j++)
			for (k = 0; k < vs->nhosts; k++) {
				const char *sh = gw_host_part(gw->servers[i].hosts[j]);

				if (strcmp(sh, "*") == 0 || strcmp(vs->hosts[k], "*") == 0 ||
				    strcasecmp(sh, vs->hosts[k]) == 0)
					return true;
			}
	return false;
}

static int
vs_cmp(const void *a, const void *b)
{
	const struct kobj_vs *const *x = a, *const *y = b;
	int r;

	if ((r = strcmp((*x)->ns, (*y)->ns)) != 0)
		return r;
	return strcmp((*x)->name, (*y)->name);
}

static struct em_gw_route *
gw_route_add(struct em_gateway *g, const struct kobj_vs *vs, const struct kobj_vs_route *r,
	     uint8_t kind, uint16_t port)
{
	struct em_gw_route *rt;

	g->routes = xreallocarray(g->routes, g->nroutes + 1, sizeof(*g->routes));
	rt = &g->routes[g->nroutes++];
	memset(rt, 0, sizeof(*rt));
	rt->kind = kind;
	rt->nhosts = vs->nhosts;
	rt->hosts = kobj_strv_copy(vs->hosts, vs->nhosts);
	rt->port = port;
	rt->prefix = xstrdup("");
	rt->exact = xstrdup("");
	rt->regex = xstrdup("");
	rt->dest_host = xstrdup(r->dest_host);
	rt->dest_ns = xstrdup(vs->ns);
	rt->dest_port = r->dest_port;
	return rt;
}

struct em_gateway *
kobj_gateway_publish(const struct kobj_gateway *gw, struct kobj_vs *const *vs, size_t nvs,
		     struct kobj_secret *const *secrets, size_t nsecrets)
{
	struct em_gateway *g;
	struct em_gw_server *sv;
	const struct kobj_secret *sec;
	struct kobj_vs **bound;
	const struct kobj_vs_route *r;
	struct em_gw_route *rt;
	size_t i, j, k, nb = 0;

	g = xcalloc(1, sizeof(*g));
	g->ns = xstrdup(gw->ns);
	g->name = xstrdup(gw->name);
	g->nservers = gw->nservers;
	g->servers = xcalloc(gw->nservers, sizeof(*g->servers));
	for (i = 0; i < gw->nservers; i++) {
		sv = &g->servers[i];
		sv->port = gw->servers[i].port;
		sv->protocol = xstrdup(gw->servers[i].protocol);
		sv->nhosts = gw->servers[i].nhosts;
		sv->hosts = kobj_strv_copy(gw->servers[i].hosts, gw->servers[i].nhosts);
		sv->tls_mode = xstrdup(gw->servers[i].tls_mode);
		sv->credential = xstrdup(gw->servers[i].credential);
		for (j = 0, sec = NULL; sv->credential[0] != '\0' && j < nsecrets; j++) {
			if (secrets[j] != NULL && strcmp(secrets[j]->ns, gw->ns) == 0 &&
			    strcmp(secrets[j]->name, sv->credential) == 0) {
				sec = secrets[j];
				break;
			}
		}
		sv->cert_pem = xstrdup(sec != NULL ? sec->tls_crt : "");
		sv->key_pem = xstrdup(sec != NULL ? sec->tls_key : "");
		sv->ca_pem = xstrdup(sec != NULL ? sec->ca_crt : "");
	}

	bound = xcalloc(nvs, sizeof(*bound));
	for (i = 0; i < nvs; i++)
		if (vs[i] != NULL && kobj_vs_binds(vs[i], gw) && gw_hosts_fit(gw, vs[i]))
			bound[nb++] = vs[i];
	qsort(bound, nb, sizeof(*bound), vs_cmp);
	for (i = 0; i < nb; i++) {
		for (j = 0; j < bound[i]->nhttp; j++) {
			r = &bound[i]->http[j];
			if (r->nmatch == 0) {
				gw_route_add(g, bound[i], r, EM_GW_HTTP,
					     0); /* matches everything */
				continue;
			}
			for (k = 0; k < r->nmatch; k++) {
				/* a match on conditions we cannot evaluate never matches */
				if (r->match[k].uri_kind == KOBJ_URI_NONE && r->match[k].other)
					continue;
				rt = gw_route_add(g, bound[i], r, EM_GW_HTTP, r->match[k].port);
				switch (r->match[k].uri_kind) {
				case KOBJ_URI_PREFIX:
					free(rt->prefix);
					rt->prefix = xstrdup(r->match[k].uri);
					break;
				case KOBJ_URI_EXACT:
					free(rt->exact);
					rt->exact = xstrdup(r->match[k].uri);
					break;
				case KOBJ_URI_REGEX:
					free(rt->regex);
					rt->regex = xstrdup(r->match[k].uri);
					break;
				default:
					break;
				}
			}
		}
	}
	for (i = 0; i < nb; i++) {
		for (j = 0; j < bound[i]->ntcp; j++) {
			r = &bound[i]->tcp[j];
			if (r->nmatch == 0) {
				gw_route_add(g, bound[i], r, EM_GW_TCP, 0);
				continue;
			}
			for (k = 0; k < r->nmatch; k++)
				gw_route_add(g, bound[i], r, EM_GW_TCP, r->match[k].port);
		}
	}
	free(bound);
	return g;
}
