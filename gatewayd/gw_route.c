/*
 * Routing, as Istio does it: the servers of every Gateway listening on the
 * port (Gateways in namespace/name order), a server whose hosts take the
 * request's host, then that Gateway's routes in VirtualService order (the
 * controller flattens them: VirtualServices by namespace/name, http[] and
 * match[] in order); the first route whose hosts and uri match wins.
 * uri: exact and regex on the path without the query, regex anchored (a
 * full match, as Envoy's safe_regex), prefix on the path as sent: so
 * `prefix: /` matches every request.
 * Host: without its port, case-insensitive; "*" any, "*.example.com" any
 * name under it.  Unlike EdgeMesh, an IP literal Host is not accepted by
 * every host list: `curl http://<node-ip>:port/` reaches the routes of a
 * VirtualService with hosts ["*"] (as in EdgeMesh's examples), and only
 * those, as in Istio.
 */
#include <ctype.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gatewayd.h"
#include "log.h"

#define RE_CACHE_MAX  256
#define RE_LEN_MAX    1024
#define RE_REPEAT_MAX 1000  /* RE2's bound on {n,m} */
#define RE_WEIGHT_MAX 10000 /* product of the {n,m} bounds */

static struct hmap *re_cache;

static const char *
host_part(const char *h)
{
	const char *slash = strchr(h, '/');

	return slash != NULL ? slash + 1 : h;
}

int
gw_host_match(const char *pattern, const char *host)
{
	size_t pl, hl;

	pattern = host_part(pattern);
	if (strcmp(pattern, "*") == 0)
		return 1;
	if (host == NULL || host[0] == '\0')
		return 0;
	if (pattern[0] == '*' && pattern[1] == '.') {
		pl = strlen(pattern + 1);
		hl = strlen(host);
		return hl > pl && strcasecmp(host + hl - pl, pattern + 1) == 0;
	}
	return strcasecmp(pattern, host) == 0;
}

static int
hosts_match(char *const *hosts, size_t n, const char *host)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (gw_host_match(hosts[i], host))
			return 1;
	return 0;
}

void
gw_host_strip(const char *in, size_t len, char *out, size_t outlen)
{
	const char *e;
	size_t i, n;

	out[0] = '\0';
	if (in == NULL || outlen == 0)
		return;
	if (len > 0 && in[0] == '[') {
		if ((e = memchr(in, ']', len)) == NULL)
			return;
		in++;
		n = (size_t)(e - in);
	} else {
		e = memchr(in, ':', len);
		n = e != NULL ? (size_t)(e - in) : len;
	}
	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n >= outlen)
		return;
	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
}

void
gw_route_cache_clear(void)
{
	struct hmap_iter it;
	const char *k;
	void *v;

	if (re_cache == NULL)
		return;
	hmap_iter_init(&it);
	while (hmap_next(re_cache, &it, &k, &v)) {
		if (v != (void *)re_cache)
			regfree(v);
		if (v != (void *)re_cache)
			free(v);
	}
	hmap_free(re_cache, NULL);
	re_cache = NULL;
}

/* After '[' (at p): the end of the bracket expression, or the string's. */
static const char *
re_bracket_end(const char *p)
{
	const char *q;

	p += p[1] == '^' ? 2 : 1;
	if (*p == ']')
		p++;
	for (; *p != '\0' && *p != ']'; p++)
		if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
			for (q = p + 2; *q != '\0' && !(q[0] == p[1] && q[1] == ']'); q++)
				;
			p = *q != '\0' ? q + 1 : q - 1;
		}
	return p;
}

/*
 * Istio's regexes are RE2's: no back-references, no repetition of a
 * repetition ("a++"), {n,m} up to 1000.  glibc's regcomp() unrolls every
 * repeat (a{1,n} is n copies; each stacked "+" doubles the whole) and
 * back-references make regexec() exponential, so a VirtualService could
 * make gatewayd run out of memory or time: such a regex is refused, as is
 * one whose {n,m} bounds multiply past RE_WEIGHT_MAX.  0 ok, -1 and why.
 */
int
gw_regex_check(const char *re, char *why, size_t len)
{
	unsigned long weight = 1, lo, hi;
	const char *p;
	char *end;
	int rep = 0; /* the last item was a repetition */

	if (strlen(re) > RE_LEN_MAX) {
		snprintf(why, len, "longer than %d bytes", RE_LEN_MAX);
		return -1;
	}
	for (p = re; *p != '\0'; p++) {
		switch (*p) {
		case '\\':
			if (p[1] >= '1' && p[1] <= '9') {
				snprintf(why, len, "back-reference \\%c (RE2 has none)", p[1]);
				return -1;
			}
			if (p[1] != '\0')
				p++;
			rep = 0;
			break;
		case '[':
			if (*(p = re_bracket_end(p)) == '\0')
				p--;
			rep = 0;
			break;
		case '*':
		case '+':
		case '?':
		case '{':
			if (rep) {
				snprintf(why, len, "a repetition of a repetition at offset %zu",
					 (size_t)(p - re));
				return -1;
			}
			rep = 1;
			if (*p != '{')
				break;
			lo = hi = strtoul(p + 1, &end, 10);
			if (*end == ',')
				hi = end[1] == '}' ? lo : strtoul(end + 1, &end, 10);
			if (*end == ',' && end[1] == '}')
				end++;
			if (*end != '}')
				break; /* not a bound: regcomp() decides */
			if (hi > RE_REPEAT_MAX) {
				snprintf(why, len, "repeat bound above %d", RE_REPEAT_MAX);
				return -1;
			}
			if ((weight *= hi > 1 ? hi : 1) > RE_WEIGHT_MAX) {
				snprintf(why, len, "repeat bounds multiply past %d", RE_WEIGHT_MAX);
				return -1;
			}
			p = end;
			break;
		default:
			rep = 0;
			break;
		}
	}
	return 0;
}

static const regex_t *
re_get(const char *re)
{
	char why[128];
	regex_t *r;
	void *v;

	if (re_cache == NULL)
		re_cache = hmap_new();
	if ((v = hmap_get(re_cache, re)) != NULL)
		return v == (void *)re_cache ? NULL : v;
	if (hmap_count(re_cache) >= RE_CACHE_MAX)
		gw_route_cache_clear(), re_cache = hmap_new();
	if (gw_regex_check(re, why, sizeof(why)) == -1) {
		log_warnx_once(re, "route regex \"%s\" refused (%s): it matches nothing", re, why);
		hmap_put(re_cache, re, re_cache);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	if (regcomp(r, re, REG_EXTENDED) != 0) {
		log_warnx_once(re,
			       "route regex \"%s\" does not compile as POSIX ERE: "
			       "it matches nothing",
			       re);
		free(r);
		hmap_put(re_cache, re, re_cache);
		return NULL;
	}
	hmap_put(re_cache, re, r);
	return r;
}

/*
 * Istio's regex is a full match.  The regex is compiled as it is and the
 * match must span the path (POSIX takes the leftmost-longest one): wrapping
 * it in "^(...)$" would let an unbalanced ")" escape the anchors and shift
 * the back-reference numbers.
 */
static int
re_full_match(const regex_t *re, const char *path)
{
	regmatch_t m[1];

	return regexec(re, path, 1, m, 0) == 0 && m[0].rm_so == 0 &&
	       (size_t)m[0].rm_eo == strlen(path);
}

int
gw_uri_match(const struct em_gw_route *r, const char *uri)
{
	const regex_t *re;
	char path[GW_HEAD_MAX];
	size_t n = strcspn(uri, "?#");

	if (n >= sizeof(path))
		n = sizeof(path) - 1;
	memcpy(path, uri, n);
	path[n] = '\0';
	if (r->exact != NULL && r->exact[0] != '\0')
		return strcmp(path, r->exact) == 0;
	if (r->prefix != NULL && r->prefix[0] != '\0')
		return strncmp(uri, r->prefix, strlen(r->prefix)) == 0;
	if (r->regex != NULL && r->regex[0] != '\0')
		return (re = re_get(r->regex)) != NULL && re_full_match(re, path);
	return 1; /* no uri condition */
}

int
gw_server_mode(const struct em_gw_server *s)
{
	const char *p = s->protocol != NULL ? s->protocol : "";
	const char *m = s->tls_mode != NULL ? s->tls_mode : "";
	int terminate = strcasecmp(m, "SIMPLE") == 0 || strcasecmp(m, "MUTUAL") == 0 ||
			(m[0] == '\0' && s->credential != NULL && s->credential[0] != '\0');

	if (strcasecmp(m, "PASSTHROUGH") == 0 || strcasecmp(m, "AUTO_PASSTHROUGH") == 0)
		return GW_M_TLS_PASS;
	if (strcasecmp(p, "TLS") == 0)
		return terminate ? GW_M_TLS_TCP : GW_M_TLS_PASS;
	if (strcasecmp(p, "HTTPS") == 0)
		return GW_M_TLS_HTTP;
	if (strcasecmp(p, "HTTP") == 0 || strcasecmp(p, "HTTP2") == 0 || strcasecmp(p, "GRPC") == 0)
		return terminate ? GW_M_TLS_HTTP : GW_M_HTTP;
	if (strcasecmp(p, "TCP") == 0 || strcasecmp(p, "MONGO") == 0)
		return terminate ? GW_M_TLS_TCP : GW_M_TCP;
	return GW_M_NONE;
}

int
gw_port_mode(struct em_gateway *const *gws, size_t n, uint16_t port, const struct em_gateway **gwp,
	     const struct em_gw_server **svp)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < gws[i]->nservers; j++)
			if (gws[i]->servers[j].port == port) {
				if (gwp != NULL)
					*gwp = gws[i];
				if (svp != NULL)
					*svp = &gws[i]->servers[j];
				return gw_server_mode(&gws[i]->servers[j]);
			}
	return GW_M_NONE;
}

const struct em_gw_server *
gw_server_for_host(struct em_gateway *const *gws, size_t n, uint16_t port, const char *host,
		   int tls, const struct em_gateway **gwp)
{
	const struct em_gw_server *s;
	size_t i, j;
	int m;

	for (i = 0; i < n; i++)
		for (j = 0; j < gws[i]->nservers; j++) {
			s = &gws[i]->servers[j];
			m = gw_server_mode(s);
			if (s->port != port || (tls && m != GW_M_TLS_HTTP && m != GW_M_TLS_TCP))
				continue;
			if (hosts_match(s->hosts, s->nhosts, host)) {
				if (gwp != NULL)
					*gwp = gws[i];
				return s;
			}
		}
	return NULL;
}

/* Has gateway g a server on port, of one of the modes in mask, taking host? */
static int
gw_serves(const struct em_gateway *g, uint16_t port, unsigned mask, const char *host,
	  int check_host)
{
	size_t j;

	for (j = 0; j < g->nservers; j++)
		if (g->servers[j].port == port &&
		    (mask & (1u << gw_server_mode(&g->servers[j]))) != 0 &&
		    (!check_host || hosts_match(g->servers[j].hosts, g->servers[j].nhosts, host)))
			return 1;
	return 0;
}

const struct em_gw_route *
gw_route_http(struct em_gateway *const *gws, size_t n, uint16_t port, const char *host,
	      const char *uri)
{
	const struct em_gw_route *r;
	size_t i, j;

	for (i = 0; i < n; i++) {
		if (!gw_serves(gws[i], port, 1u << GW_M_HTTP | 1u << GW_M_TLS_HTTP, host, 1))
			continue;
		for (j = 0; j < gws[i]->nroutes; j++) {
			r = &gws[i]->routes[j];
			if (r->kind == EM_GW_HTTP && (r->port == 0 || r->port == port) &&
			    hosts_match(r->hosts, r->nhosts, host) && gw_uri_match(r, uri))
				return r;
		}
	}
	return NULL;
}

/* sni NULL: plain TCP, hosts do not apply. */
const struct em_gw_route *
gw_route_tcp(struct em_gateway *const *gws, size_t n, uint16_t port, const char *sni)
{
	const struct em_gw_route *r;
	size_t i, j;
	unsigned mask = 1u << GW_M_TCP | 1u << GW_M_TLS_PASS | 1u << GW_M_TLS_TCP;

	for (i = 0; i < n; i++) {
		if (!gw_serves(gws[i], port, mask, sni, sni != NULL))
			continue;
		for (j = 0; j < gws[i]->nroutes; j++) {
			r = &gws[i]->routes[j];
			if (r->kind == EM_GW_TCP && (r->port == 0 || r->port == port) &&
			    (sni == NULL || hosts_match(r->hosts, r->nhosts, sni)))
				return r;
		}
	}
	return NULL;
}

void
gw_dest_key(const struct em_gw_route *r, char *out, size_t outlen)
{
	em_gw_dest_key(r, out, outlen);
}
