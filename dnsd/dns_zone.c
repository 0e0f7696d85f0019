/*
 * The cluster zone: Kubernetes DNS-based service discovery (schema 1.0.1)
 * answered from the services and endpoints the controller pushes.
 *
 *   <zone>                               SOA, NS
 *   dns-version.<zone>                   TXT "1.0.1"
 *   ns.dns.<zone>                        A/AAAA of our listen address
 *   <svc>.<ns>.svc.<zone>                A/AAAA ClusterIPs; headless: ready
 *                                        endpoint IPs; ExternalName: CNAME
 *   <host>.<svc>.<ns>.svc.<zone>         A/AAAA of a ready endpoint (its
 *                                        hostname, else its dashed IP)
 *   _<port>._<proto>.<svc>.<ns>.svc.<zone>  SRV per named port
 *   <a-b-c-d>.<ns>.pod.<zone>            A (IPv6: dashes for colons)
 *   d.c.b.a.in-addr.arpa, ip6.arpa       PTR of ClusterIPs, endpoint IPs
 *
 * svc.<zone>, pod.<zone>, <ns>.svc.<zone> (while the namespace has a
 * service), <ns>.pod.<zone>, _<proto>.<svc>... and dns.<zone> are empty
 * non-terminals: NODATA, not NXDOMAIN.  Every negative answer carries the
 * zone's SOA, whose minimum is the record TTL.  Like CoreDNS, endpoint
 * host names and their PTRs exist for every service with ready
 * endpoints, not only headless ones (the spec allows a superset).
 *
 * Lookups are hash-based: services by "ns/name", namespaces by name,
 * endpoint host labels per service, reverse entries by address.
 */
#include <sys/types.h>

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "log.h"
#include "model.h"

#define DNS_SCHEMA_VERSION "1.0.1"
#define HOSTMAP_MIN	   8 /* hosts searched linearly below this */
#define SOA_REFRESH	   7200
#define SOA_RETRY	   1800
#define SOA_EXPIRE	   86400

struct zip {
	uint8_t len; /* 4 or 16 */
	uint8_t addr[16];
};

struct zaddr {
	struct zip ip;
	uint32_t host; /* index into hosts */
};

struct zhost {
	const char *hostname; /* the endpoint's, NULL: dashed first IP */
	uint32_t first, n;    /* range of eps */
};

struct zentry {
	char *ns, *name; /* lowercased */
	struct em_service *svc;
	struct em_endpoints *eps;
	/* derived from svc and eps by entry_build */
	bool headless, external;
	size_t ncips;
	struct zip cips[EM_MAX_IPS];
	size_t neps;	     /* ready endpoint addresses */
	struct zaddr *addrs; /* grouped by host */
	size_t nhosts;
	struct zhost *hosts;
	struct dns_map *hostmap; /* label -> host index + 1, when many */
};

struct zref {
	struct zentry *e;
	int32_t host; /* -1: a ClusterIP */
};

struct zrev {
	size_t n, cap;
	struct zref *refs;
};

struct dns_zone {
	struct dns_name apex, nshost, hostmaster, arpa4, arpa6;
	uint32_t ttl, serial;
	bool synced;
	struct zip nsaddr;	 /* len 0: none */
	struct dns_map *entries; /* "ns/name" -> zentry */
	struct dns_map *nss;	 /* ns -> number of services */
	struct dns_map *rev;	 /* address octets -> zrev */
	size_t nsvc, neps;
};

enum zkind {
	ZN_APEX,
	ZN_ENT,
	ZN_VERSION,
	ZN_NSHOST,
	ZN_SVC,
	ZN_EXTERNAL,
	ZN_HOST,
	ZN_SRV,
	ZN_POD,
};

struct znode {
	enum zkind kind;
	struct zentry *e;
	size_t host;
	const uint8_t *port; /* SRV: port name and protocol */
	size_t portlen;
	int proto;
	struct zip pod;
};

static const char *const proto_labels[] = {"tcp", "udp", "sctp"};

/*
 * Helpers
 */

static bool
label_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > DNS_LABEL_MAX)
		return false;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

static char *
lowerdup(const char *s)
{
	char *d = xstrdup(s), *p;

	for (p = d; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + ('a' - 'A'));
	return d;
}

static void
label_lower(const char *s, char *out, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + ('a' - 'A')) : s[i];
	out[i] = '\0';
}

static int
zip_parse(const char *s, struct zip *ip)
{
	if (s == NULL)
		return -1;
	if (inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->len = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->addr) == 1) {
		ip->len = 16;
		return 0;
	}
	return -1;
}

/* 10.0.0.1 -> "10-0-0-1", fd00::1 -> "fd00--1" */
static void
zip_dashed(const struct zip *ip, char *buf, size_t size)
{
	char *p;

	if (inet_ntop(ip->len == 4 ? AF_INET : AF_INET6, ip->addr, buf, (socklen_t)size) == NULL) {
		buf[0] = '\0';
		return;
	}
	for (p = buf; *p != '\0'; p++)
		if (*p == '.' || *p == ':')
			*p = '-';
}

static bool
label_eq(const uint8_t *l, size_t llen, const char *s)
{
	size_t i, n = strlen(s);

	if (n != llen)
		return false;
	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c >= 'A' && c <= 'Z')
			c = (uint8_t)(c + ('a' - 'A'));
		if (c != l[i])
			return false;
	}
	return true;
}

static const char *
host_label(const struct zentry *e, size_t h, char *buf, size_t size)
{
	if (e->hosts[h].hostname != NULL)
		return e->hosts[h].hostname;
	zip_dashed(&e->addrs[e->hosts[h].first].ip, buf, size);
	return buf;
}

/* <svc>.<ns>.svc.<zone>, or <host>.<svc>.<ns>.svc.<zone> */
static int
zone_svc_name(const struct dns_zone *z, const struct zentry *e, const char *host,
	      struct dns_name *out)
{
	const char *labels[4];
	size_t n = 0;

	if (host != NULL)
		labels[n++] = host;
	labels[n++] = e->name;
	labels[n++] = e->ns;
	labels[n++] = "svc";
	return dns_name_from_labels(out, labels, n, &z->apex);
}

/*
 * Namespaces
 */

static void
ns_ref(struct dns_zone *z, const char *ns, int delta)
{
	uintptr_t n = (uintptr_t)dns_map_del(z->nss, ns, strlen(ns));

	if (delta > 0)
		n++;
	else if (n > 0)
		n--;
	if (n > 0)
		dns_map_put(z->nss, ns, strlen(ns), (void *)n);
}

/*
 * Reverse index
 */

static void
rev_add(struct dns_zone *z, const struct zip *ip, struct zentry *e, int32_t host)
{
	struct zrev *r = dns_map_get(z->rev, ip->addr, ip->len);

	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		dns_map_put(z->rev, ip->addr, ip->len, r);
	}
	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 1 : r->cap * 2;
		r->refs = xreallocarray(r->refs, r->cap, sizeof(*r->refs));
	}
	r->refs[r->n].e = e;
	r->refs[r->n].host = host;
	r->n++;
}

static void
rev_free(void *p)
{
	struct zrev *r = p;

	if (r == NULL)
		return;
	free(r->refs);
	free(r);
}

static void
rev_del(struct dns_zone *z, const struct zip *ip, const struct zentry *e)
{
	struct zrev *r = dns_map_get(z->rev, ip->addr, ip->len);
	size_t i = 0;

	if (r == NULL)
		return;
	while (i < r->n) {
		if (r->refs[i].e == e)
			r->refs[i] = r->refs[--r->n];
		else
			i++;
	}
	if (r->n == 0)
		rev_free(dns_map_del(z->rev, ip->addr, ip->len));
}

/*
 * Entries and what is derived from them
 */

static void
entry_unbuild(struct dns_zone *z, struct zentry *e)
{
	size_t i;

	for (i = 0; i < e->ncips; i++)
		rev_del(z, &e->cips[i], e);
	for (i = 0; i < e->neps; i++)
		rev_del(z, &e->addrs[i].ip, e);
	z->neps -= e->neps;
	free(e->addrs);
	free(e->hosts);
	dns_map_free(e->hostmap, NULL);
	e->addrs = NULL;
	e->hosts = NULL;
	e->hostmap = NULL;
	e->ncips = e->neps = e->nhosts = 0;
	e->headless = e->external = false;
}

static ssize_t
entry_find_host(const struct zentry *e, const uint8_t *label, size_t llen)
{
	char buf[INET6_ADDRSTRLEN];
	uintptr_t v;
	size_t i;

	if (e->hostmap != NULL) {
		v = (uintptr_t)dns_map_get(e->hostmap, label, llen);
		return v == 0 ? -1 : (ssize_t)(v - 1);
	}
	for (i = 0; i < e->nhosts; i++)
		if (label_eq(label, llen, host_label(e, i, buf, sizeof(buf))))
			return (ssize_t)i;
	return -1;
}

/* Group the ready addresses by host label (hostname or dashed IP). */
static void
entry_build_eps(struct zentry *e)
{
	const struct em_endpoints *eps = e->eps;
	struct zaddr *tmp;
	struct dns_map *labels;
	char buf[INET6_ADDRSTRLEN], label[DNS_LABEL_MAX + 1];
	const char *hostname;
	uint32_t *fill;
	uintptr_t v;
	size_t i, n = 0;
	struct zip ip;

	if (eps == NULL || eps->neps == 0)
		return;
	tmp = xcalloc(eps->neps, sizeof(*tmp));
	e->hosts = xcalloc(eps->neps, sizeof(*e->hosts));
	labels = dns_map_new();
	for (i = 0; i < eps->neps; i++) {
		const struct em_endpoint *ep = &eps->eps[i];

		if (!ep->ready && !e->svc->publish_not_ready)
			continue;
		if (zip_parse(ep->ip, &ip) == -1)
			continue;
		hostname = NULL;
		if (ep->hostname != NULL && label_valid(ep->hostname))
			hostname = ep->hostname;
		else
			zip_dashed(&ip, buf, sizeof(buf));
		label_lower(hostname != NULL ? hostname : buf, label, sizeof(label));
		v = (uintptr_t)dns_map_get(labels, label, strlen(label));
		/* the same address listed twice */
		if (v != 0 && hostname == NULL && e->hosts[v - 1].hostname == NULL)
			continue;
		if (v == 0) {
			e->hosts[e->nhosts].hostname = hostname;
			v = ++e->nhosts;
			dns_map_put(labels, label, strlen(label), (void *)v);
		}
		tmp[n].ip = ip;
		tmp[n].host = (uint32_t)(v - 1);
		e->hosts[v - 1].n++;
		n++;
	}
	/* counting sort by host, first appearance order kept */
	fill = xcalloc(e->nhosts + 1, sizeof(*fill));
	for (i = 1; i < e->nhosts; i++)
		e->hosts[i].first = e->hosts[i - 1].first + e->hosts[i - 1].n;
	for (i = 0; i < e->nhosts; i++)
		fill[i] = e->hosts[i].first;
	e->addrs = xcalloc(n == 0 ? 1 : n, sizeof(*e->addrs));
	for (i = 0; i < n; i++)
		e->addrs[fill[tmp[i].host]++] = tmp[i];
	e->neps = n;
	free(fill);
	free(tmp);
	if (e->nhosts >= HOSTMAP_MIN) {
		/* label -> index + 1; hostnames are kept lowercased */
		e->hostmap = labels;
		labels = NULL;
	}
	dns_map_free(labels, NULL);
}

static void
entry_build(struct dns_zone *z, struct zentry *e)
{
	const struct em_service *s = e->svc;
	size_t i;

	if (s == NULL)
		return;
	if (s->type == EM_SVC_EXTERNAL_NAME) {
		e->external = true;
		return;
	}
	e->headless = s->headless || (s->cluster_ip != NULL && strcmp(s->cluster_ip, "None") == 0);
	if (!e->headless) {
		if (s->n_cluster_ips > 0) {
			for (i = 0; i < s->n_cluster_ips && i < EM_MAX_IPS; i++)
				if (zip_parse(s->cluster_ips[i], &e->cips[e->ncips]) == 0)
					e->ncips++;
		} else if (zip_parse(s->cluster_ip, &e->cips[0]) == 0)
			e->ncips = 1;
	}
	entry_build_eps(e);
	for (i = 0; i < e->ncips; i++)
		rev_add(z, &e->cips[i], e, -1);
	for (i = 0; i < e->neps; i++)
		rev_add(z, &e->addrs[i].ip, e, (int32_t)e->addrs[i].host);
	z->neps += e->neps;
}

static void
entry_rebuild(struct dns_zone *z, struct zentry *e)
{
	entry_unbuild(z, e);
	entry_build(z, e);
	z->serial++;
}

static void
entry_free(struct zentry *e)
{
	em_service_free(e->svc);
	em_endpoints_free(e->eps);
	free(e->ns);
	free(e->name);
	free(e);
}

static int
entry_key(const char *ns, const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s", ns, name);

	if (n < 0 || (size_t)n >= size)
		return -1;
	for (; *buf != '\0'; buf++)
		if (*buf >= 'A' && *buf <= 'Z')
			*buf = (char)(*buf + ('a' - 'A'));
	return n;
}

static struct zentry *
entry_get(struct dns_zone *z, const char *ns, const char *name, bool create)
{
	char key[2 * (DNS_LABEL_MAX + 1)];
	struct zentry *e;
	int klen;

	if (ns == NULL || name == NULL || !label_valid(ns) || !label_valid(name))
		return NULL;
	if ((klen = entry_key(ns, name, key, sizeof(key))) == -1)
		return NULL;
	e = dns_map_get(z->entries, key, (size_t)klen);
	if (e != NULL || !create)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->ns = lowerdup(ns);
	e->name = lowerdup(name);
	dns_map_put(z->entries, key, (size_t)klen, e);
	return e;
}

static void
entry_maybe_drop(struct dns_zone *z, struct zentry *e)
{
	char key[2 * (DNS_LABEL_MAX + 1)];
	int klen;

	if (e->svc != NULL || e->eps != NULL)
		return;
	entry_unbuild(z, e);
	if ((klen = entry_key(e->ns, e->name, key, sizeof(key))) != -1)
		dns_map_del(z->entries, key, (size_t)klen);
	entry_free(e);
}

/*
 * Zone
 */

struct dns_zone *
dns_zone_new(const char *domain, uint32_t ttl, const char *ns_addr)
{
	struct dns_zone *z;
	const char *hm[] = {"hostmaster"};
	const char *ns[] = {"ns", "dns"};

	z = xcalloc(1, sizeof(*z));
	if (dns_name_from_text(&z->apex, domain) == -1 || z->apex.nlabels == 0 ||
	    dns_name_from_labels(&z->nshost, ns, 2, &z->apex) == -1 ||
	    dns_name_from_labels(&z->hostmaster, hm, 1, &z->apex) == -1 ||
	    (ns_addr != NULL && *ns_addr != '\0' && zip_parse(ns_addr, &z->nsaddr) == -1)) {
		free(z);
		return NULL;
	}
	dns_name_from_text(&z->arpa4, "in-addr.arpa");
	dns_name_from_text(&z->arpa6, "ip6.arpa");
	z->ttl = ttl;
	z->serial = 1;
	z->entries = dns_map_new();
	z->nss = dns_map_new();
	z->rev = dns_map_new();
	return z;
}

static int
entry_free_cb(const void *key, size_t klen, void *val, void *arg)
{
	struct zentry *e = val;

	free(e->addrs);
	free(e->hosts);
	dns_map_free(e->hostmap, NULL);
	entry_free(e);
	return 0;
}

/* Forget every service and endpoint (before a new snapshot). */
void
dns_zone_clear(struct dns_zone *z)
{
	dns_map_foreach(z->entries, entry_free_cb, NULL);
	dns_map_free(z->entries, NULL);
	dns_map_free(z->nss, NULL);
	dns_map_free(z->rev, rev_free);
	z->entries = dns_map_new();
	z->nss = dns_map_new();
	z->rev = dns_map_new();
	z->nsvc = z->neps = 0;
	z->serial++;
}

void
dns_zone_free(struct dns_zone *z)
{
	if (z == NULL)
		return;
	dns_map_foreach(z->entries, entry_free_cb, NULL);
	dns_map_free(z->entries, NULL);
	dns_map_free(z->nss, NULL);
	dns_map_free(z->rev, rev_free);
	free(z);
}

/* Until the first snapshot is in, names in the zone get SERVFAIL. */
void
dns_zone_set_synced(struct dns_zone *z, bool synced)
{
	z->synced = synced;
}

/* entry_get(create) for an upsert of what ("service", "endpoints"); NULL,
 * logged, when ns or name is not a DNS label. */
static struct zentry *
entry_put(struct dns_zone *z, const char *ns, const char *name, const char *what)
{
	struct zentry *e;

	if ((e = entry_get(z, ns, name, true)) == NULL)
		log_warnx("dns_zone_upsert_%s: %s %s/%s: not a DNS label, ignored", what, what,
			  ns != NULL ? ns : "", name != NULL ? name : "");
	return e;
}

void
dns_zone_upsert_service(struct dns_zone *z, struct em_service *svc)
{
	struct zentry *e;

	if ((e = entry_put(z, svc->ns, svc->name, "service")) == NULL) {
		em_service_free(svc);
		return;
	}
	entry_unbuild(z, e);
	if (e->svc == NULL) {
		ns_ref(z, e->ns, 1);
		z->nsvc++;
	} else
		em_service_free(e->svc);
	e->svc = svc;
	entry_rebuild(z, e);
}

void
dns_zone_delete_service(struct dns_zone *z, const char *ns, const char *name)
{
	struct zentry *e;

	if ((e = entry_get(z, ns, name, false)) == NULL || e->svc == NULL)
		return;
	entry_unbuild(z, e);
	ns_ref(z, e->ns, -1);
	z->nsvc--;
	em_service_free(e->svc);
	e->svc = NULL;
	entry_rebuild(z, e);
	entry_maybe_drop(z, e);
}

void
dns_zone_upsert_endpoints(struct dns_zone *z, struct em_endpoints *eps)
{
	struct zentry *e;

	if ((e = entry_put(z, eps->ns, eps->name, "endpoints")) == NULL) {
		em_endpoints_free(eps);
		return;
	}
	entry_unbuild(z, e);
	em_endpoints_free(e->eps);
	e->eps = eps;
	entry_rebuild(z, e);
}

void
dns_zone_delete_endpoints(struct dns_zone *z, const char *ns, const char *name)
{
	struct zentry *e;

	if ((e = entry_get(z, ns, name, false)) == NULL || e->eps == NULL)
		return;
	entry_unbuild(z, e);
	em_endpoints_free(e->eps);
	e->eps = NULL;
	entry_rebuild(z, e);
	entry_maybe_drop(z, e);
}

void
dns_zone_stats(const struct dns_zone *z, size_t *nsvc, size_t *neps, size_t *nrev)
{
	if (nsvc != NULL)
		*nsvc = z->nsvc;
	if (neps != NULL)
		*neps = z->neps;
	if (nrev != NULL)
		*nrev = dns_map_count(z->rev);
}

/*
 * Lookup: name -> node, or -1 for a name that does not exist (NXDOMAIN).
 */

static bool
lab_is(const struct dns_name *n, size_t i, const char *s)
{
	const uint8_t *p;
	size_t l = dns_name_label(n, i, &p);

	return p != NULL && label_eq(p, l, s);
}

/* a-b-c-d (IPv4) or the dashed IPv6 form. */
static int
pod_parse(const uint8_t *l, size_t llen, struct zip *ip)
{
	char buf[DNS_LABEL_MAX + 1];
	size_t i;

	if (llen == 0 || llen > DNS_LABEL_MAX)
		return -1;
	for (i = 0; i < llen; i++) {
		if (l[i] == '\0' || l[i] == '.' || l[i] == ':')
			return -1;
		buf[i] = l[i] == '-' ? '.' : (char)l[i];
	}
	buf[llen] = '\0';
	if (inet_pton(AF_INET, buf, ip->addr) == 1) {
		ip->len = 4;
		return 0;
	}
	for (i = 0; i < llen; i++)
		if (buf[i] == '.')
			buf[i] = ':';
	if (inet_pton(AF_INET6, buf, ip->addr) == 1) {
		ip->len = 16;
		return 0;
	}
	return -1;
}

static const struct em_port *
entry_ports(const struct zentry *e, size_t *n)
{
	if (e->headless) {
		if (e->eps == NULL || e->neps == 0) {
			*n = 0;
			return NULL;
		}
		*n = e->eps->nports;
		return e->eps->ports;
	}
	*n = e->svc->nports;
	return e->svc->ports;
}

static const struct em_port *
entry_find_port(const struct zentry *e, const uint8_t *name, size_t nlen, int proto)
{
	const struct em_port *ports;
	size_t i, n;

	ports = entry_ports(e, &n);
	for (i = 0; i < n; i++) {
		if (ports[i].proto != proto || ports[i].name == NULL || ports[i].name[0] == '\0')
			continue;
		if (name == NULL || label_eq(name, nlen, ports[i].name))
			return &ports[i];
	}
	return NULL;
}

static int
proto_parse(const uint8_t *l, size_t llen)
{
	size_t i;

	if (llen < 2 || l[0] != '_')
		return -1;
	for (i = 0; i < sizeof(proto_labels) / sizeof(proto_labels[0]); i++)
		if (label_eq(l + 1, llen - 1, proto_labels[i]))
			return (int)i;
	return -1;
}

static int
zone_lookup_svc(struct dns_zone *z, const struct dns_name *n, size_t k, struct znode *node)
{
	char key[2 * (DNS_LABEL_MAX + 1)];
	const uint8_t *ns, *svc, *l0, *l1;
	size_t nslen, svclen, l0len, l1len;
	struct zentry *e;
	ssize_t h;
	int proto;

	nslen = dns_name_label(n, k - 2, &ns);
	if (k == 2) {
		node->kind = ZN_ENT;
		return dns_map_get(z->nss, ns, nslen) != NULL ? 0 : -1;
	}
	svclen = dns_name_label(n, k - 3, &svc);
	memcpy(key, ns, nslen);
	key[nslen] = '/';
	memcpy(key + nslen + 1, svc, svclen);
	e = dns_map_get(z->entries, key, nslen + 1 + svclen);
	if (e == NULL || e->svc == NULL)
		return -1;
	node->e = e;
	if (e->external) {
		node->kind = ZN_EXTERNAL;
		return k == 3 ? 0 : -1;
	}
	if (e->headless && e->neps == 0)
		return -1; /* the spec's NXDOMAIN, and nothing below */
	if (k == 3) {
		node->kind = ZN_SVC;
		return 0;
	}
	l0len = dns_name_label(n, 0, &l0);
	if (k == 4) {
		if ((proto = proto_parse(l0, l0len)) != -1) {
			node->kind = ZN_ENT;
			return entry_find_port(e, NULL, 0, proto) != NULL ? 0 : -1;
		}
		if ((h = entry_find_host(e, l0, l0len)) == -1)
			return -1;
		node->kind = ZN_HOST;
		node->host = (size_t)h;
		return 0;
	}
	if (k == 5) {
		l1len = dns_name_label(n, 1, &l1);
		if (l0len < 2 || l0[0] != '_' || (proto = proto_parse(l1, l1len)) == -1)
			return -1;
		if (entry_find_port(e, l0 + 1, l0len - 1, proto) == NULL)
			return -1;
		node->kind = ZN_SRV;
		node->port = l0 + 1;
		node->portlen = l0len - 1;
		node->proto = proto;
		return 0;
	}
	return -1;
}

static int
zone_lookup(struct dns_zone *z, const struct dns_name *n, struct znode *node)
{
	size_t k = n->nlabels - z->apex.nlabels;
	const uint8_t *l;
	size_t llen;

	memset(node, 0, sizeof(*node));
	if (k == 0) {
		node->kind = ZN_APEX;
		return 0;
	}
	if (lab_is(n, k - 1, "svc")) {
		if (k == 1) {
			node->kind = ZN_ENT;
			return 0;
		}
		return zone_lookup_svc(z, n, k, node);
	}
	if (lab_is(n, k - 1, "pod")) {
		node->kind = ZN_ENT;
		if (k <= 2)
			return 0;
		if (k > 3)
			return -1;
		llen = dns_name_label(n, 0, &l);
		if (pod_parse(l, llen, &node->pod) == -1)
			return -1;
		node->kind = ZN_POD;
		return 0;
	}
	if (lab_is(n, k - 1, "dns-version")) {
		node->kind = ZN_VERSION;
		return k == 1 ? 0 : -1;
	}
	if (lab_is(n, k - 1, "dns") && z->nsaddr.len != 0) {
		if (k == 1) {
			node->kind = ZN_ENT;
			return 0;
		}
		if (k == 2 && lab_is(n, 0, "ns")) {
			node->kind = ZN_NSHOST;
			return 0;
		}
	}
	return -1;
}

/*
 * Records
 */

static bool
want(uint16_t qtype, uint16_t type)
{
	return qtype == type || qtype == DNS_T_ANY;
}

static int
emit_ip(struct dns_msg_builder *b, const struct dns_name *owner, uint32_t ttl, const struct zip *ip,
	uint16_t qtype, size_t *n)
{
	int rc = 0;

	if (ip->len == 4 && want(qtype, DNS_T_A))
		rc = dns_msg_add_a(b, owner, ttl, ip->addr);
	else if (ip->len == 16 && want(qtype, DNS_T_AAAA))
		rc = dns_msg_add_aaaa(b, owner, ttl, ip->addr);
	else
		return 0;
	if (rc == 0)
		(*n)++;
	return rc;
}

static int
emit_host(struct dns_msg_builder *b, uint32_t ttl, const struct zentry *e, size_t h,
	  const struct dns_name *owner, uint16_t qtype, size_t *n)
{
	size_t i;

	for (i = e->hosts[h].first; i < e->hosts[h].first + e->hosts[h].n; i++)
		if (emit_ip(b, owner, ttl, &e->addrs[i].ip, qtype, n) == -1)
			return -1;
	return 0;
}

/*
 * ClusterIP: one SRV to the service name, its addresses in Additional.
 * Headless: one SRV per ready host to <host>.<svc>..., theirs in Additional.
 */
static int
emit_srv(struct dns_zone *z, struct dns_msg_builder *b, const struct znode *node,
	 const struct dns_name *owner, size_t *n)
{
	const struct zentry *e = node->e;
	const struct em_port *port;
	struct dns_name target;
	char buf[INET6_ADDRSTRLEN];
	size_t i, h, extra = 0;
	uint16_t weight;

	port = entry_find_port(e, node->port, node->portlen, node->proto);
	if (port == NULL)
		return 0;
	if (!e->headless) {
		if (zone_svc_name(z, e, NULL, &target) == -1)
			return 0;
		if (dns_msg_add_srv(b, owner, z->ttl, 0, 100, port->port, &target) == -1)
			return -1;
		(*n)++;
		dns_msg_section(b, DNS_SEC_ADDITIONAL);
		for (i = 0; i < e->ncips; i++)
			if (emit_ip(b, &target, z->ttl, &e->cips[i], DNS_T_ANY, &extra) == -1)
				break;
		return 0;
	}
	weight = (uint16_t)(e->nhosts > 100 ? 1 : 100 / (e->nhosts == 0 ? 1 : e->nhosts));
	for (h = 0; h < e->nhosts; h++) {
		if (zone_svc_name(z, e, host_label(e, h, buf, sizeof(buf)), &target) == -1)
			continue;
		if (dns_msg_add_srv(b, owner, z->ttl, 0, weight, port->port, &target) == -1)
			return -1;
		(*n)++;
	}
	dns_msg_section(b, DNS_SEC_ADDITIONAL);
	for (h = 0; h < e->nhosts; h++) {
		if (zone_svc_name(z, e, host_label(e, h, buf, sizeof(buf)), &target) == -1)
			continue;
		if (emit_host(b, z->ttl, e, h, &target, DNS_T_ANY, &extra) == -1)
			break;
	}
	return 0;
}

static void
emit_soa(struct dns_zone *z, struct dns_msg_builder *b, size_t *n)
{
	struct dns_soa soa;

	soa.mname = &z->nshost;
	soa.rname = &z->hostmaster;
	soa.serial = z->serial;
	soa.refresh = SOA_REFRESH;
	soa.retry = SOA_RETRY;
	soa.expire = SOA_EXPIRE;
	soa.minimum = z->ttl; /* negative caching TTL (RFC 2308) */
	if (dns_msg_add_soa(b, &z->apex, z->ttl, &soa) == 0 && n != NULL)
		(*n)++;
}

/* Add the records of type qtype at node; *n counts the Answer records. */
static void
emit_node(struct dns_zone *z, struct dns_msg_builder *b, const struct znode *node,
	  const struct dns_name *owner, uint16_t qtype, size_t *n)
{
	const struct zentry *e = node->e;
	size_t i;

	switch (node->kind) {
	case ZN_APEX:
		if (want(qtype, DNS_T_SOA))
			emit_soa(z, b, n);
		if (want(qtype, DNS_T_NS) && dns_msg_add_ns(b, owner, z->ttl, &z->nshost) == 0)
			(*n)++;
		break;
	case ZN_VERSION:
		if (want(qtype, DNS_T_TXT) &&
		    dns_msg_add_txt(b, owner, z->ttl, DNS_SCHEMA_VERSION) == 0)
			(*n)++;
		break;
	case ZN_NSHOST:
		emit_ip(b, owner, z->ttl, &z->nsaddr, qtype, n);
		break;
	case ZN_SVC:
		if (!e->headless) {
			for (i = 0; i < e->ncips; i++)
				if (emit_ip(b, owner, z->ttl, &e->cips[i], qtype, n) == -1)
					break;
		} else {
			for (i = 0; i < e->neps; i++)
				if (emit_ip(b, owner, z->ttl, &e->addrs[i].ip, qtype, n) == -1)
					break;
		}
		break;
	case ZN_HOST:
		emit_host(b, z->ttl, e, node->host, owner, qtype, n);
		break;
	case ZN_SRV:
		if (want(qtype, DNS_T_SRV))
			emit_srv(z, b, node, owner, n);
		break;
	case ZN_POD:
		emit_ip(b, owner, z->ttl, &node->pod, qtype, n);
		break;
	case ZN_ENT:
	case ZN_EXTERNAL:
		break;
	}
}

/*
 * Reverse names: exactly four labels under in-addr.arpa, or 32 nibbles
 * under ip6.arpa.
 */
static int
rev_parse(const struct dns_zone *z, const struct dns_name *n, struct zip *ip)
{
	const uint8_t *l;
	size_t i, llen, j, v, nib;

	memset(ip, 0, sizeof(*ip));
	if (dns_name_is_subdomain(n, &z->arpa4)) {
		if (n->nlabels != 4 + z->arpa4.nlabels)
			return -1;
		for (i = 0; i < 4; i++) {
			llen = dns_name_label(n, i, &l);
			if (llen == 0 || llen > 3 || (llen > 1 && l[0] == '0'))
				return -1;
			for (v = 0, j = 0; j < llen; j++) {
				if (l[j] < '0' || l[j] > '9')
					return -1;
				v = v * 10 + (size_t)(l[j] - '0');
			}
			if (v > 255)
				return -1;
			ip->addr[3 - i] = (uint8_t)v;
		}
		ip->len = 4;
		return 0;
	}
	if (dns_name_is_subdomain(n, &z->arpa6)) {
		if (n->nlabels != 32 + z->arpa6.nlabels)
			return -1;
		for (i = 0; i < 32; i++) {
			llen = dns_name_label(n, i, &l);
			if (llen != 1)
				return -1;
			if (l[0] >= '0' && l[0] <= '9')
				v = (size_t)(l[0] - '0');
			else if (l[0] >= 'a' && l[0] <= 'f')
				v = (size_t)(l[0] - 'a' + 10);
			else
				return -1;
			nib = 31 - i;
			ip->addr[nib / 2] |= (uint8_t)(nib % 2 == 0 ? v << 4 : v);
		}
		ip->len = 16;
		return 0;
	}
	return -1;
}

static enum dns_zone_result
zone_reverse(struct dns_zone *z, const struct dns_query *q, struct dns_msg_builder *b)
{
	struct dns_name target;
	char buf[INET6_ADDRSTRLEN];
	const struct zrev *r;
	const struct zref *ref;
	struct zip ip;
	size_t i;
	int rc;

	if (q->qtype != DNS_T_PTR && q->qtype != DNS_T_ANY)
		return DNS_ZONE_FORWARD;
	if (q->qclass != DNS_C_IN && q->qclass != DNS_C_ANY)
		return DNS_ZONE_FORWARD;
	if (rev_parse(z, &q->name, &ip) == -1)
		return DNS_ZONE_FORWARD;
	if ((r = dns_map_get(z->rev, ip.addr, ip.len)) == NULL)
		return DNS_ZONE_FORWARD;
	dns_msg_set_flags(b, DNS_F_AA);
	for (i = 0; i < r->n; i++) {
		ref = &r->refs[i];
		if (ref->host < 0)
			rc = zone_svc_name(z, ref->e, NULL, &target);
		else
			rc = zone_svc_name(z, ref->e,
					   host_label(ref->e, (size_t)ref->host, buf, sizeof(buf)),
					   &target);
		if (rc == -1)
			continue;
		if (dns_msg_add_ptr(b, &q->name, z->ttl, &target) == -1)
			break;
	}
	return DNS_ZONE_ANSWERED;
}

/*
 * Answer q into b (started by dns_msg_init) if it is ours.  For a CNAME to
 * a name outside the zone, the CNAME is in b and, when chase is not NULL,
 * its target is stored there and DNS_ZONE_CHASE returned.
 */
enum dns_zone_result
dns_zone_answer(struct dns_zone *z, const struct dns_query *q, struct dns_msg_builder *b,
		struct dns_name *chase)
{
	struct dns_name cur, target;
	struct znode node;
	size_t n, chain;

	if (!q->has_question)
		return DNS_ZONE_FORWARD;
	if (!dns_name_is_subdomain(&q->name, &z->apex))
		return zone_reverse(z, q, b);
	if (!z->synced) {
		dns_msg_set_rcode(b, DNS_R_SERVFAIL);
		return DNS_ZONE_ANSWERED;
	}
	if ((q->qclass != DNS_C_IN && q->qclass != DNS_C_ANY) || q->qtype == DNS_T_AXFR ||
	    q->qtype == DNS_T_IXFR) {
		dns_msg_set_rcode(b, DNS_R_REFUSED);
		return DNS_ZONE_ANSWERED;
	}
	dns_msg_set_flags(b, DNS_F_AA);
	cur = q->name;
	for (chain = 0;; chain++) {
		if (zone_lookup(z, &cur, &node) == -1) {
			dns_msg_set_rcode(b, DNS_R_NXDOMAIN);
			dns_msg_section(b, DNS_SEC_AUTHORITY);
			emit_soa(z, b, NULL);
			return DNS_ZONE_ANSWERED;
		}
		if (node.kind == ZN_EXTERNAL && q->qtype != DNS_T_CNAME &&
		    dns_name_from_text(&target, node.e->svc->external_name) == 0 &&
		    target.nlabels > 0) {
			if (dns_msg_add_cname(b, &cur, z->ttl, &target) == -1 ||
			    q->qtype == DNS_T_ANY)
				return DNS_ZONE_ANSWERED;
			if (dns_name_is_subdomain(&target, &z->apex)) {
				if (chain + 1 >= DNS_CNAME_CHAIN_MAX)
					return DNS_ZONE_ANSWERED;
				cur = target;
				continue;
			}
			if (chase == NULL)
				return DNS_ZONE_ANSWERED;
			*chase = target;
			return DNS_ZONE_CHASE;
		}
		n = 0;
		if (node.kind == ZN_EXTERNAL) {
			/* a CNAME query, or a target that is not a name */
			if (dns_name_from_text(&target, node.e->svc->external_name) == 0 &&
			    target.nlabels > 0 && dns_msg_add_cname(b, &cur, z->ttl, &target) == 0)
				n++;
		} else
			emit_node(z, b, &node, &cur, q->qtype, &n);
		if (n == 0 && !b->overflow) {
			dns_msg_section(b, DNS_SEC_AUTHORITY);
			emit_soa(z, b, NULL);
		}
		return DNS_ZONE_ANSWERED;
	}
}
