/*
 * dnsd engine: wire format (parser, builder, compression, EDNS,
 * truncation), the cluster zone (Kubernetes DNS spec), the cache and the
 * forwarder (against small UDP/TCP responders forked by the test).
 *
 * Queries are encoded here by hand and responses decoded with
 * dns_msg_scan, so the builder is not tested against itself alone.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <ev.h>

#include "../../dnsd/dns.h"
#include "log.h"
#include "model.h"

#define MAXRR 8192

/* ---- encoding queries by hand ---- */

static size_t
put_name(uint8_t *p, const char *name)
{
	size_t o = 0, l;
	const char *s = name, *dot;

	if (strcmp(name, ".") == 0 || *name == '\0') {
		p[0] = 0;
		return 1;
	}
	while (*s != '\0') {
		dot = strchr(s, '.');
		l = dot != NULL ? (size_t)(dot - s) : strlen(s);
		p[o++] = (uint8_t)l;
		memcpy(p + o, s, l);
		o += l;
		s += l;
		if (*s == '.')
			s++;
	}
	p[o++] = 0;
	return o;
}

static void
w16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t
r16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
r32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* edns < 0: no OPT */
static size_t
q_make(uint8_t *buf, uint16_t id, const char *name, uint16_t qtype, uint16_t qclass, int edns,
       bool do_bit)
{
	size_t o = 12;

	memset(buf, 0, 12);
	w16(buf, id);
	w16(buf + 2, DNS_F_RD);
	w16(buf + 4, 1);
	w16(buf + 10, edns >= 0 ? 1 : 0);
	o += put_name(buf + o, name);
	w16(buf + o, qtype);
	w16(buf + o + 2, qclass);
	o += 4;
	if (edns >= 0) {
		buf[o] = 0;
		w16(buf + o + 1, DNS_T_OPT);
		w16(buf + o + 3, (uint16_t)edns);
		buf[o + 5] = 0;
		buf[o + 6] = 0;
		w16(buf + o + 7, do_bit ? DNS_EDNS_DO : 0);
		w16(buf + o + 9, 0);
		o += 11;
	}
	return o;
}

static void
parse_ok(const uint8_t *buf, size_t len, struct dns_query *q)
{
	int rc = dns_msg_parse_query(buf, len, q);

	ck_assert_int_eq(rc, 0);
}

/* ---- decoding responses ---- */

struct resp {
	uint8_t msg[DNS_MSG_MAX];
	size_t len;
	struct dns_hdr h;
	struct dns_rr rr[MAXRR];
	size_t n;
};

static struct resp R;

static void
resp_scan(struct resp *r)
{
	ck_assert_msg(dns_msg_scan(r->msg, r->len, &r->h, r->rr, MAXRR, &r->n, NULL) == 0,
		      "response does not parse");
}

static int
rcode(const struct resp *r)
{
	return r->h.flags & DNS_F_RCODE;
}

static void
name_at(const struct resp *r, size_t off, char *buf, size_t size)
{
	struct dns_name n;

	ck_assert(dns_msg_read_name(r->msg, r->len, &off, &n, NULL) == 0);
	ck_assert(dns_name_to_text(&n, buf, size) == 0);
}

static void
rr_owner(const struct resp *r, size_t i, char *buf, size_t size)
{
	name_at(r, r->rr[i].name_off, buf, size);
}

static size_t
count(const struct resp *r, enum dns_section sec, uint16_t type)
{
	size_t i, n = 0;

	for (i = 0; i < r->n; i++)
		if (r->rr[i].section == sec && (type == 0 || r->rr[i].type == type))
			n++;
	return n;
}

/* Index of the record of type with owner and, when data is not NULL, this
 * address (A/AAAA) or target name (CNAME/PTR/NS/SRV) or text (TXT). */
static ssize_t
find(const struct resp *r, enum dns_section sec, uint16_t type, const char *owner, const char *data)
{
	char buf[DNS_NAME_TEXT_MAX], ip[INET6_ADDRSTRLEN];
	const struct dns_rr *rr;
	size_t i;

	for (i = 0; i < r->n; i++) {
		rr = &r->rr[i];
		if (rr->section != sec || rr->type != type)
			continue;
		rr_owner(r, i, buf, sizeof(buf));
		if (owner != NULL && strcmp(buf, owner) != 0)
			continue;
		if (data == NULL)
			return (ssize_t)i;
		switch (type) {
		case DNS_T_A:
		case DNS_T_AAAA:
			inet_ntop(type == DNS_T_A ? AF_INET : AF_INET6, r->msg + rr->rdata_off, ip,
				  sizeof(ip));
			if (strcmp(ip, data) == 0)
				return (ssize_t)i;
			break;
		case DNS_T_CNAME:
		case DNS_T_PTR:
		case DNS_T_NS:
			name_at(r, rr->rdata_off, buf, sizeof(buf));
			if (strcmp(buf, data) == 0)
				return (ssize_t)i;
			break;
		case DNS_T_SRV:
			name_at(r, rr->rdata_off + 6, buf, sizeof(buf));
			if (strcmp(buf, data) == 0)
				return (ssize_t)i;
			break;
		case DNS_T_TXT:
			if (rr->rdlen == strlen(data) + 1 &&
			    memcmp(r->msg + rr->rdata_off + 1, data, strlen(data)) == 0)
				return (ssize_t)i;
			break;
		}
	}
	return -1;
}

static bool
has(const struct resp *r, enum dns_section sec, uint16_t type, const char *owner, const char *data)
{
	return find(r, sec, type, owner, data) != -1;
}

/* ---- model objects ---- */

static struct em_service *
svc_new(const char *ns, const char *name, const char *cip)
{
	struct em_service *s = xcalloc(1, sizeof(*s));

	s->ns = xstrdup(ns);
	s->name = xstrdup(name);
	s->type = EM_SVC_CLUSTER_IP;
	s->cluster_ip = xstrdup(cip);
	s->headless = strcmp(cip, "None") == 0;
	s->external_name = xstrdup("");
	s->hash_arg = xstrdup("");
	s->affinity_timeout = 10800;
	if (*cip != '\0' && !s->headless) {
		s->cluster_ips[0] = xstrdup(cip);
		s->n_cluster_ips = 1;
	}
	return s;
}

static void
svc_port(struct em_service *s, const char *name, uint16_t port, int proto)
{
	struct em_port *p;

	s->ports = xreallocarray(s->ports, s->nports + 1, sizeof(*s->ports));
	p = &s->ports[s->nports++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	p->port = port;
	p->target_port = port;
	p->target_port_name = xstrdup("");
	p->proto = (uint8_t)proto;
}

static struct em_service *
svc_external(const char *ns, const char *name, const char *target)
{
	struct em_service *s = svc_new(ns, name, "");

	s->type = EM_SVC_EXTERNAL_NAME;
	free(s->external_name);
	s->external_name = xstrdup(target);
	return s;
}

static struct em_endpoints *
eps_new(const char *ns, const char *name)
{
	struct em_endpoints *e = xcalloc(1, sizeof(*e));

	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
	return e;
}

static void
eps_port(struct em_endpoints *e, const char *name, uint16_t port, int proto)
{
	struct em_port *p;

	e->ports = xreallocarray(e->ports, e->nports + 1, sizeof(*e->ports));
	p = &e->ports[e->nports++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	p->port = port;
	p->target_port_name = xstrdup("");
	p->proto = (uint8_t)proto;
}

static void
eps_add(struct em_endpoints *e, const char *ip, const char *hostname, bool ready)
{
	struct em_endpoint *ep;

	e->eps = xreallocarray(e->eps, e->neps + 1, sizeof(*e->eps));
	ep = &e->eps[e->neps++];
	memset(ep, 0, sizeof(*ep));
	ep->ip = xstrdup(ip);
	ep->node = xstrdup("node-a");
	ep->hostname = xstrdup(hostname);
	ep->zone = xstrdup("");
	ep->pod = xstrdup("");
	ep->ready = ready;
}

/* ---- asking a zone ---- */

static struct dns_name chased;

static enum dns_zone_result
ask_full(struct dns_zone *z, const char *name, uint16_t qtype, uint16_t qclass, int edns,
	 size_t limit, bool allow_chase)
{
	uint8_t qb[600];
	struct dns_query q;
	struct dns_msg_builder b;
	enum dns_zone_result res;
	size_t qlen;

	qlen = q_make(qb, 0xbeef, name, qtype, qclass, edns, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	res = dns_zone_answer(z, &q, &b, allow_chase ? &chased : NULL);
	if (res == DNS_ZONE_FORWARD)
		return res;
	R.len = dns_msg_finish(&b, limit);
	resp_scan(&R);
	ck_assert_int_eq(R.h.id, 0xbeef);
	ck_assert(R.h.flags & DNS_F_QR);
	return res;
}

static enum dns_zone_result
ask(struct dns_zone *z, const char *name, uint16_t qtype)
{
	return ask_full(z, name, qtype, DNS_C_IN, -1, DNS_MSG_MAX, true);
}

#define ASK_OK(z, name, type) ck_assert_int_eq(ask(z, name, type), DNS_ZONE_ANSWERED)

/* NOERROR, no answer, the zone's SOA in Authority */
static void
assert_nodata(const char *apex, uint32_t ttl)
{
	ssize_t i;

	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert_int_eq(R.h.ancount, 0);
	i = find(&R, DNS_SEC_AUTHORITY, DNS_T_SOA, apex, NULL);
	ck_assert_msg(i != -1, "no SOA in authority");
	ck_assert_uint_eq(R.rr[i].ttl, ttl);
	ck_assert_uint_eq(r32(R.msg + R.rr[i].rdata_off + R.rr[i].rdlen - 4), ttl);
	ck_assert(R.h.flags & DNS_F_AA);
}

static void
assert_nxdomain(const char *apex)
{
	ck_assert_int_eq(rcode(&R), DNS_R_NXDOMAIN);
	ck_assert(has(&R, DNS_SEC_AUTHORITY, DNS_T_SOA, apex, NULL));
	ck_assert(R.h.flags & DNS_F_AA);
}

#define CL "cluster.local"

/*
 *   default/kubernetes  ClusterIP 10.96.0.1     https 443/TCP
 *   default/web         ClusterIP 10.96.0.10    http 80/TCP, "" 8080/TCP, dns 53/UDP
 *   default/dual        10.96.0.20 + fd00::20   http 80/TCP
 *   default/db          headless  db-0 10.1.0.1 ready, 10.1.0.2 ready (no hostname),
 *                                 db-2 10.1.0.3 not ready; mysql 3306/TCP
 *   default/empty       headless, only not-ready endpoints
 *   default/pnr         headless, publishNotReadyAddresses, 10.1.1.1 not ready
 *   default/ext         ExternalName example.com
 *   default/alias       ExternalName kubernetes.default.svc.cluster.local
 *   default/dangling    ExternalName nothere.default.svc.cluster.local
 *   prod/api            ClusterIP 10.96.1.1, endpoints 10.2.0.1 ready
 *   prod/v6h            headless  fd00::1:5 ready, hostname v6-0
 */
static struct dns_zone *
fixture(void)
{
	struct dns_zone *z = dns_zone_new(CL, 30, "169.254.96.16");
	struct em_service *s;
	struct em_endpoints *e;

	ck_assert_ptr_nonnull(z);
	dns_zone_set_synced(z, true);

	s = svc_new("default", "kubernetes", "10.96.0.1");
	svc_port(s, "https", 443, EM_PROTO_TCP);
	dns_zone_upsert_service(z, s);

	s = svc_new("default", "web", "10.96.0.10");
	svc_port(s, "http", 80, EM_PROTO_TCP);
	svc_port(s, "", 8080, EM_PROTO_TCP);
	svc_port(s, "dns", 53, EM_PROTO_UDP);
	dns_zone_upsert_service(z, s);

	s = svc_new("default", "dual", "10.96.0.20");
	s->cluster_ips[1] = xstrdup("fd00::20");
	s->n_cluster_ips = 2;
	svc_port(s, "http", 80, EM_PROTO_TCP);
	dns_zone_upsert_service(z, s);

	/* endpoints first, the service after */
	e = eps_new("default", "db");
	eps_port(e, "mysql", 3306, EM_PROTO_TCP);
	eps_add(e, "10.1.0.1", "db-0", true);
	eps_add(e, "10.1.0.2", "", true);
	eps_add(e, "10.1.0.3", "db-2", false);
	eps_add(e, "10.1.0.2", "", true); /* listed twice: answered once */
	dns_zone_upsert_endpoints(z, e);
	s = svc_new("default", "db", "None");
	svc_port(s, "mysql", 3306, EM_PROTO_TCP);
	dns_zone_upsert_service(z, s);

	s = svc_new("default", "empty", "None");
	dns_zone_upsert_service(z, s);
	e = eps_new("default", "empty");
	eps_add(e, "10.1.2.1", "", false);
	dns_zone_upsert_endpoints(z, e);

	s = svc_new("default", "pnr", "None");
	s->publish_not_ready = true;
	dns_zone_upsert_service(z, s);
	e = eps_new("default", "pnr");
	eps_add(e, "10.1.1.1", "", false);
	dns_zone_upsert_endpoints(z, e);

	dns_zone_upsert_service(z, svc_external("default", "ext", "example.com"));
	dns_zone_upsert_service(
	    z, svc_external("default", "alias", "kubernetes.default.svc.cluster.local"));
	dns_zone_upsert_service(
	    z, svc_external("default", "dangling", "nothere.default.svc.cluster.local."));

	s = svc_new("prod", "api", "10.96.1.1");
	svc_port(s, "grpc", 9000, EM_PROTO_TCP);
	dns_zone_upsert_service(z, s);
	e = eps_new("prod", "api");
	eps_port(e, "grpc", 9443, EM_PROTO_TCP);
	eps_add(e, "10.2.0.1", "", true);
	dns_zone_upsert_endpoints(z, e);

	s = svc_new("prod", "v6h", "None");
	dns_zone_upsert_service(z, s);
	e = eps_new("prod", "v6h");
	eps_port(e, "http", 8080, EM_PROTO_TCP);
	eps_add(e, "fd00::1:5", "v6-0", true);
	dns_zone_upsert_endpoints(z, e);
	return z;
}

/* ==== dns_msg: names ==== */

START_TEST(test_name_text)
{
	struct dns_name n, p;
	char buf[DNS_NAME_TEXT_MAX];
	char big[400];

	ck_assert_int_eq(dns_name_from_text(&n, "WWW.Example.COM."), 0);
	ck_assert_uint_eq(n.nlabels, 3);
	ck_assert_uint_eq(n.len, 17);
	ck_assert_int_eq(dns_name_to_text(&n, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "www.example.com");

	ck_assert_int_eq(dns_name_from_text(&n, "."), 0);
	ck_assert_uint_eq(n.nlabels, 0);
	ck_assert_uint_eq(n.len, 1);
	ck_assert_int_eq(dns_name_to_text(&n, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, ".");

	/* escapes: a dot inside a label, a byte as \DDD */
	ck_assert_int_eq(dns_name_from_text(&n, "a\\.b.c\\009d"), 0);
	ck_assert_uint_eq(n.nlabels, 2);
	ck_assert_int_eq(dns_name_to_text(&n, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "a\\.b.c\\009d");
	ck_assert_int_eq(dns_name_from_text(&n, "a\\256"), -1);

	/* empty labels, long labels, long names */
	ck_assert_int_eq(dns_name_from_text(&n, "a..b"), -1);
	ck_assert_int_eq(dns_name_from_text(&n, ".a"), -1);
	memset(big, 'x', 64);
	big[64] = '\0';
	ck_assert_int_eq(dns_name_from_text(&n, big), -1);
	big[63] = '\0';
	ck_assert_int_eq(dns_name_from_text(&n, big), 0);
	memset(big, 'a', sizeof(big));
	for (size_t i = 1; i < sizeof(big) - 1; i += 2)
		big[i] = '.';
	big[253] = '\0'; /* 127 one-octet labels: 255 octets on the wire */
	ck_assert_int_eq(dns_name_from_text(&n, big), 0);
	ck_assert_uint_eq(n.len, 255);
	big[253] = '.';
	big[254] = 'a';
	big[255] = '\0';
	ck_assert_int_eq(dns_name_from_text(&n, big), -1);

	/* the subdomain test works on label boundaries */
	dns_name_from_text(&p, "cluster.local");
	dns_name_from_text(&n, "a.Cluster.LOCAL");
	ck_assert(dns_name_is_subdomain(&n, &p));
	ck_assert(dns_name_is_subdomain(&p, &p));
	dns_name_from_text(&n, "xcluster.local");
	ck_assert(!dns_name_is_subdomain(&n, &p));
	dns_name_from_text(&n, "local");
	ck_assert(!dns_name_is_subdomain(&n, &p));
	dns_name_from_text(&n, "cluster.local.org");
	ck_assert(!dns_name_is_subdomain(&n, &p));
	dns_name_from_text(&p, ".");
	ck_assert(dns_name_is_subdomain(&n, &p));

	/* too small output buffers fail cleanly */
	dns_name_from_text(&n, "abc.def");
	ck_assert_int_eq(dns_name_to_text(&n, buf, 4), -1);
	ck_assert_int_eq(dns_name_to_text(&n, buf, 8), 0);
}
END_TEST

/* ==== dns_msg: parsing queries ==== */

START_TEST(test_parse_basic)
{
	uint8_t b[512];
	struct dns_query q;
	char buf[DNS_NAME_TEXT_MAX];
	size_t len;

	len = q_make(b, 0x1234, "WWW.Example.COM", DNS_T_AAAA, DNS_C_IN, 4096, true);
	parse_ok(b, len, &q);
	ck_assert_uint_eq(q.id, 0x1234);
	ck_assert(q.has_question);
	ck_assert_uint_eq(q.qtype, DNS_T_AAAA);
	ck_assert_uint_eq(q.qclass, DNS_C_IN);
	ck_assert_int_eq(dns_name_to_text(&q.name, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "www.example.com");
	ck_assert_int_eq(memcmp(q.qname_raw, "\003WWW\007Example\003COM", 17), 0);
	ck_assert(q.edns);
	ck_assert(q.do_bit);
	ck_assert_uint_eq(q.edns_size, 4096);
	ck_assert_uint_eq(dns_msg_udp_limit(&q), 4096);

	len = q_make(b, 1, "a", DNS_T_A, DNS_C_IN, 100, false);
	parse_ok(b, len, &q);
	ck_assert_uint_eq(q.edns_size, 512);
	ck_assert(!q.do_bit);
	ck_assert_uint_eq(dns_msg_udp_limit(&q), 512);

	len = q_make(b, 1, "a", DNS_T_A, DNS_C_IN, 65000, false);
	parse_ok(b, len, &q);
	ck_assert_uint_eq(dns_msg_udp_limit(&q), DNS_EDNS_UDP_MAX);

	len = q_make(b, 1, "a", DNS_T_A, DNS_C_IN, -1, false);
	parse_ok(b, len, &q);
	ck_assert(!q.edns);
	ck_assert_uint_eq(dns_msg_udp_limit(&q), 512);

	/* the root name */
	len = q_make(b, 1, ".", DNS_T_NS, DNS_C_IN, -1, false);
	parse_ok(b, len, &q);
	ck_assert_uint_eq(q.name.nlabels, 0);
}
END_TEST

START_TEST(test_parse_errors)
{
	uint8_t b[1024];
	struct dns_query q;
	size_t len;

	len = q_make(b, 7, "example.com", DNS_T_A, DNS_C_IN, -1, false);
	/* no reply at all: short, or a response */
	ck_assert_int_eq(dns_msg_parse_query(b, 11, &q), -1);
	ck_assert_int_eq(dns_msg_parse_query(b, 0, &q), -1);
	b[2] |= 0x80;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), -1);
	b[2] &= 0x7f;

	/* QDCOUNT must be 1 */
	w16(b + 4, 0);
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);
	ck_assert(!q.has_question);
	ck_assert_uint_eq(q.id, 7);
	w16(b + 4, 2);
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);
	w16(b + 4, 1);

	/* opcode NOTIFY, UPDATE */
	b[2] = (uint8_t)((b[2] & 0x87) | (4 << 3));
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_NOTIMP);
	b[2] = (uint8_t)((b[2] & 0x87) | (5 << 3));
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_NOTIMP);
	b[2] &= 0x87;
	parse_ok(b, len, &q);

	/* qtype OPT */
	len = q_make(b, 7, "example.com", DNS_T_OPT, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);

	/* label type 0x40, 0x80 */
	len = q_make(b, 7, "example.com", DNS_T_A, DNS_C_IN, -1, false);
	b[12] = 0x47;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);
	b[12] = 0x87;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);

	/* a 64-octet label */
	memset(b, 0, sizeof(b));
	w16(b + 4, 1);
	b[12] = 64;
	memset(b + 13, 'a', 64);
	b[77] = 0;
	w16(b + 78, 1);
	w16(b + 80, 1);
	ck_assert_int_eq(dns_msg_parse_query(b, 82, &q), DNS_R_FORMERR);

	/* a 257-octet name: 4 labels of 63 + 1 of 1 */
	memset(b, 0, sizeof(b));
	w16(b + 4, 1);
	len = 12;
	for (int i = 0; i < 4; i++) {
		b[len++] = 63;
		memset(b + len, 'a', 63);
		len += 63;
	}
	b[len++] = 1;
	b[len++] = 'a';
	b[len++] = 0;
	w16(b + len, 1);
	w16(b + len + 2, 1);
	len += 4;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);
	/* 255 exactly is fine: 3 x 63, 1 x 61 */
	memset(b, 0, sizeof(b));
	w16(b + 4, 1);
	len = 12;
	for (int i = 0; i < 4; i++) {
		b[len] = i < 3 ? 63 : 61;
		memset(b + len + 1, 'a', b[len]);
		len += 1 + (size_t)b[len];
	}
	b[len++] = 0;
	w16(b + len, 1);
	w16(b + len + 2, 1);
	len += 4;
	parse_ok(b, len, &q);
	ck_assert_uint_eq(q.name.len, 255);

	/* a record in the answer section of a query is skipped, if well-formed */
	len = q_make(b, 7, "example.com", DNS_T_A, DNS_C_IN, -1, false);
	w16(b + 6, 1);
	b[len++] = 0xc0;
	b[len++] = 12;
	memcpy(b + len, "\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x01\x02\x03\x04", 14);
	len += 14;
	parse_ok(b, len, &q);
	ck_assert_int_eq(dns_msg_parse_query(b, len - 1, &q), DNS_R_FORMERR);
}
END_TEST

START_TEST(test_parse_truncated)
{
	uint8_t b[512], c[512];
	struct dns_query q;
	size_t len, i;
	int rc;

	len = q_make(b, 9, "host.example.org", DNS_T_A, DNS_C_IN, 1232, true);
	parse_ok(b, len, &q);
	for (i = 0; i < len; i++) {
		/* a copy of exactly i octets, so a sanitizer sees any overread */
		uint8_t *p = malloc(i == 0 ? 1 : i);

		memcpy(p, b, i);
		rc = dns_msg_parse_query(p, i, &q);
		if (i < DNS_HDR_LEN)
			ck_assert_int_eq(rc, -1);
		else
			ck_assert_int_eq(rc, DNS_R_FORMERR);
		free(p);
	}
	/* trailing garbage after the records is tolerated */
	memcpy(c, b, len);
	c[len] = 0xff;
	parse_ok(c, len + 1, &q);
}
END_TEST

START_TEST(test_compression_loops)
{
	uint8_t b[256];
	struct dns_query q;
	struct dns_name n;
	size_t off, len;
	char buf[DNS_NAME_TEXT_MAX];

	/* qname is a pointer to itself */
	memset(b, 0, sizeof(b));
	w16(b + 4, 1);
	b[12] = 0xc0;
	b[13] = 12;
	w16(b + 14, 1);
	w16(b + 16, 1);
	ck_assert_int_eq(dns_msg_parse_query(b, 18, &q), DNS_R_FORMERR);
	/* ... into the header */
	b[13] = 0;
	ck_assert_int_eq(dns_msg_parse_query(b, 18, &q), DNS_R_FORMERR);
	/* ... forwards */
	b[13] = 16;
	ck_assert_int_eq(dns_msg_parse_query(b, 18, &q), DNS_R_FORMERR);
	/* ... past the end */
	b[12] = 0xff;
	b[13] = 0xff;
	ck_assert_int_eq(dns_msg_parse_query(b, 18, &q), DNS_R_FORMERR);
	/* a pointer cut in half */
	b[12] = 0xc0;
	ck_assert_int_eq(dns_msg_parse_query(b, 13, &q), DNS_R_FORMERR);

	/* message: @12 "\3foo\3com\0", @21 "\3bar" ptr->12, @27 "\3baz" ptr->21 */
	memset(b, 0, sizeof(b));
	len = 12;
	memcpy(b + len, "\003foo\003com\000", 9);
	len += 9;
	memcpy(b + len, "\003bar\xc0\x0c", 6);
	len += 6;
	memcpy(b + len, "\003baz\xc0\x15", 6);
	len += 6;
	off = 27;
	ck_assert_int_eq(dns_msg_read_name(b, len, &off, &n, NULL), 0);
	ck_assert_uint_eq(off, 33);
	dns_name_to_text(&n, buf, sizeof(buf));
	ck_assert_str_eq(buf, "baz.bar.foo.com");

	/* a loop through two names: @21 points to @27 which points back to @21 */
	b[26] = 27;
	off = 27;
	ck_assert_int_eq(dns_msg_read_name(b, len, &off, &n, NULL), -1);
	off = 21;
	ck_assert_int_eq(dns_msg_read_name(b, len, &off, &n, NULL), -1);

	/* a pointer to a pointer to ... that is backwards each time is fine */
	memset(b, 0, sizeof(b));
	memcpy(b + 12, "\001a\000", 3);
	for (off = 15; off + 2 <= 200; off += 2) {
		b[off] = 0xc0;
		b[off + 1] = (uint8_t)(off == 15 ? 12 : off - 2);
	}
	off = 197;
	ck_assert_int_eq(dns_msg_read_name(b, 200, &off, &n, NULL), 0);
	ck_assert_uint_eq(n.nlabels, 1);
	ck_assert_uint_eq(off, 199);
}
END_TEST

START_TEST(test_edns)
{
	uint8_t b[512], out[512];
	struct dns_query q;
	struct dns_msg_builder bl;
	size_t len, n;

	/* two OPT records */
	len = q_make(b, 5, "a.example", DNS_T_A, DNS_C_IN, 1232, false);
	memcpy(b + len, b + len - 11, 11);
	len += 11;
	w16(b + 10, 2);
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);
	ck_assert(!q.edns);
	ck_assert(q.has_question);

	/* OPT not owned by the root */
	len = q_make(b, 5, "a.example", DNS_T_A, DNS_C_IN, -1, false);
	w16(b + 10, 1);
	memcpy(b + len, "\001x\000\000\051\004\000\000\000\000\000\000\000", 13);
	len += 13;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);

	/* an option longer than the rdata */
	len = q_make(b, 5, "a.example", DNS_T_A, DNS_C_IN, 1232, false);
	w16(b + len - 2, 6);
	memcpy(b + len, "\x00\x0a\x00\x08\x01\x02", 6);
	len += 6;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_FORMERR);
	/* a well-formed cookie option */
	len = q_make(b, 5, "a.example", DNS_T_A, DNS_C_IN, 1232, false);
	w16(b + len - 2, 12);
	memcpy(b + len, "\x00\x0a\x00\x08\x01\x02\x03\x04\x05\x06\x07\x08", 12);
	len += 12;
	parse_ok(b, len, &q);
	ck_assert(q.edns);
	/* rdata running past the message */
	ck_assert_int_eq(dns_msg_parse_query(b, len - 1, &q), DNS_R_FORMERR);

	/* version 1: BADVERS, answered with an OPT of version 0, ext rcode 1 */
	len = q_make(b, 5, "a.example", DNS_T_A, DNS_C_IN, 1232, true);
	b[len - 5] = 1;
	ck_assert_int_eq(dns_msg_parse_query(b, len, &q), DNS_R_BADVERS);
	ck_assert(q.edns);
	dns_msg_init(&bl, out, sizeof(out), &q);
	dns_msg_set_rcode(&bl, DNS_R_BADVERS);
	n = dns_msg_finish(&bl, 512);
	memcpy(R.msg, out, n);
	R.len = n;
	resp_scan(&R);
	ck_assert_int_eq(rcode(&R), 0);
	ck_assert_uint_eq(R.h.arcount, 1);
	ck_assert_uint_eq(R.rr[0].type, DNS_T_OPT);
	ck_assert_uint_eq(R.rr[0].ttl >> 24, 1);	  /* 16 >> 4 */
	ck_assert_uint_eq((R.rr[0].ttl >> 16) & 0xff, 0); /* version */
	ck_assert(R.rr[0].ttl & DNS_EDNS_DO);		  /* DO echoed */
}
END_TEST

START_TEST(test_error_replies)
{
	uint8_t b[512], out[512];
	struct dns_query q;
	struct dns_msg_builder bl;
	size_t len, n;
	int rc;

	/* FORMERR without a question: header only, id and RD kept */
	len = q_make(b, 0x4321, "x.example", DNS_T_A, DNS_C_IN, -1, false);
	w16(b + 4, 2);
	rc = dns_msg_parse_query(b, len, &q);
	ck_assert_int_eq(rc, DNS_R_FORMERR);
	dns_msg_init(&bl, out, sizeof(out), &q);
	dns_msg_set_rcode(&bl, rc);
	n = dns_msg_finish(&bl, 512);
	ck_assert_uint_eq(n, 12);
	ck_assert_uint_eq(r16(out), 0x4321);
	ck_assert_uint_eq(r16(out + 2), DNS_F_QR | DNS_F_RD | DNS_F_RA | DNS_R_FORMERR);
	ck_assert_uint_eq(r16(out + 4), 0);

	/* NOTIMP keeps the opcode */
	len = q_make(b, 0x4321, "x.example", DNS_T_A, DNS_C_IN, -1, false);
	b[2] = (uint8_t)((b[2] & 0x87) | (2 << 3));
	rc = dns_msg_parse_query(b, len, &q);
	ck_assert_int_eq(rc, DNS_R_NOTIMP);
	dns_msg_init(&bl, out, sizeof(out), &q);
	dns_msg_set_rcode(&bl, rc);
	n = dns_msg_finish(&bl, 512);
	ck_assert_uint_eq(n, 12);
	ck_assert_uint_eq((r16(out + 2) >> 11) & 0xf, 2);
	ck_assert_uint_eq(r16(out + 2) & 0xf, DNS_R_NOTIMP);

	/* FORMERR with a question echoes it in its original case */
	len = q_make(b, 0x4321, "X.Example", DNS_T_OPT, DNS_C_IN, -1, false);
	rc = dns_msg_parse_query(b, len, &q);
	ck_assert_int_eq(rc, DNS_R_FORMERR);
	dns_msg_init(&bl, out, sizeof(out), &q);
	dns_msg_set_rcode(&bl, rc);
	n = dns_msg_finish(&bl, 512);
	ck_assert_uint_eq(n, len);
	ck_assert_int_eq(memcmp(out + 12, b + 12, len - 12), 0);
}
END_TEST

/* ==== dns_msg: building ==== */

START_TEST(test_build_roundtrip)
{
	uint8_t qb[512];
	struct dns_query q;
	struct dns_msg_builder b;
	struct dns_name owner, t1, t2, mname, rname, apex;
	struct dns_soa soa;
	const uint8_t a4[4] = {192, 0, 2, 1};
	uint8_t a6[16];
	char buf[DNS_NAME_TEXT_MAX];
	ssize_t i;
	size_t qlen;

	qlen = q_make(qb, 77, "Svc.NS.svc.cluster.local", DNS_T_ANY, DNS_C_IN, 1232, true);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	inet_pton(AF_INET6, "2001:db8::1", a6);
	dns_name_from_text(&owner, "svc.ns.svc.cluster.local");
	dns_name_from_text(&t1, "target.ns.svc.cluster.local");
	dns_name_from_text(&t2, "other.example");
	dns_name_from_text(&apex, "cluster.local");
	dns_name_from_text(&mname, "ns.dns.cluster.local");
	dns_name_from_text(&rname, "hostmaster.cluster.local");
	dns_msg_set_flags(&b, DNS_F_AA);
	ck_assert_int_eq(dns_msg_add_a(&b, &owner, 30, a4), 0);
	ck_assert_int_eq(dns_msg_add_aaaa(&b, &owner, 30, a6), 0);
	ck_assert_int_eq(dns_msg_add_cname(&b, &owner, 30, &t2), 0);
	ck_assert_int_eq(dns_msg_add_ptr(&b, &owner, 30, &t1), 0);
	ck_assert_int_eq(dns_msg_add_srv(&b, &owner, 30, 1, 2, 3, &t1), 0);
	ck_assert_int_eq(dns_msg_add_txt(&b, &owner, 30, "1.0.1"), 0);
	ck_assert_int_eq(dns_msg_section(&b, DNS_SEC_AUTHORITY), 0);
	ck_assert_int_eq(dns_msg_add_ns(&b, &apex, 30, &mname), 0);
	soa.mname = &mname;
	soa.rname = &rname;
	soa.serial = 11;
	soa.refresh = 12;
	soa.retry = 13;
	soa.expire = 14;
	soa.minimum = 15;
	ck_assert_int_eq(dns_msg_add_soa(&b, &apex, 30, &soa), 0);
	ck_assert_int_eq(dns_msg_section(&b, DNS_SEC_ADDITIONAL), 0);
	ck_assert_int_eq(dns_msg_add_a(&b, &t1, 40, a4), 0);
	/* sections only go forward */
	ck_assert_int_eq(dns_msg_section(&b, DNS_SEC_ANSWER), -1);
	R.len = dns_msg_finish(&b, DNS_MSG_MAX);
	resp_scan(&R);

	ck_assert_uint_eq(R.h.id, 77);
	ck_assert(R.h.flags & DNS_F_AA);
	ck_assert(R.h.flags & DNS_F_RD);
	ck_assert(!(R.h.flags & DNS_F_TC));
	ck_assert_uint_eq(R.h.qdcount, 1);
	ck_assert_uint_eq(R.h.ancount, 6);
	ck_assert_uint_eq(R.h.nscount, 2);
	ck_assert_uint_eq(R.h.arcount, 2);
	/* the owner of the answers points at the question (case kept) */
	ck_assert_uint_eq(R.msg[R.rr[0].name_off], 0xc0);
	ck_assert_uint_eq(R.msg[R.rr[0].name_off + 1], 12);
	rr_owner(&R, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "svc.ns.svc.cluster.local");
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "svc.ns.svc.cluster.local", "192.0.2.1"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_AAAA, NULL, "2001:db8::1"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, NULL, "other.example"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "target.ns.svc.cluster.local"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_TXT, NULL, "1.0.1"));
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SRV, NULL, "target.ns.svc.cluster.local");
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off), 1);
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off + 2), 2);
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off + 4), 3);
	/* SRV target never compressed: 6 + full name */
	ck_assert_uint_eq(R.rr[i].rdlen, 6 + t1.len);
	/* PTR target compressed against "ns.svc.cluster.local" of the question */
	i = find(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, NULL);
	ck_assert_uint_eq(R.rr[i].rdlen, 1 + 6 + 2);
	ck_assert(has(&R, DNS_SEC_AUTHORITY, DNS_T_NS, "cluster.local", "ns.dns.cluster.local"));
	i = find(&R, DNS_SEC_AUTHORITY, DNS_T_SOA, "cluster.local", NULL);
	ck_assert_int_ne(i, -1);
	name_at(&R, R.rr[i].rdata_off, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ns.dns.cluster.local");
	ck_assert_uint_eq(r32(R.msg + R.rr[i].rdata_off + R.rr[i].rdlen - 20), 11);
	ck_assert_uint_eq(r32(R.msg + R.rr[i].rdata_off + R.rr[i].rdlen - 4), 15);
	i = find(&R, DNS_SEC_ADDITIONAL, DNS_T_A, "target.ns.svc.cluster.local", "192.0.2.1");
	ck_assert_uint_eq(R.rr[i].ttl, 40);
	i = find(&R, DNS_SEC_ADDITIONAL, DNS_T_OPT, NULL, NULL);
	ck_assert_int_ne(i, -1);
	ck_assert(R.rr[i].ttl & DNS_EDNS_DO);
	ck_assert_uint_eq(R.rr[i].class, DNS_EDNS_UDP_MAX);
}
END_TEST

START_TEST(test_txt_long)
{
	uint8_t qb[512];
	struct dns_query q;
	struct dns_msg_builder b;
	struct dns_name owner;
	char text[600];
	size_t qlen;

	memset(text, 'x', 599);
	text[599] = '\0';
	qlen = q_make(qb, 1, "t.example", DNS_T_TXT, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	dns_name_from_text(&owner, "t.example");
	ck_assert_int_eq(dns_msg_add_txt(&b, &owner, 1, text), 0);
	R.len = dns_msg_finish(&b, DNS_MSG_MAX);
	resp_scan(&R);
	/* 255 + 255 + 89, each with its length octet */
	ck_assert_uint_eq(R.rr[0].rdlen, 599 + 3);
	ck_assert_uint_eq(R.msg[R.rr[0].rdata_off], 255);
	ck_assert_uint_eq(R.msg[R.rr[0].rdata_off + 256], 255);
	ck_assert_uint_eq(R.msg[R.rr[0].rdata_off + 512], 89);
}
END_TEST

static void
build_many_a(struct dns_msg_builder *b, const struct dns_query *q, int n, int extra)
{
	struct dns_name owner, other;
	uint8_t a4[4] = {10, 0, 0, 0};
	int i;

	dns_msg_init(b, R.msg, sizeof(R.msg), q);
	owner = q->name;
	for (i = 0; i < n; i++) {
		a4[3] = (uint8_t)i;
		ck_assert_int_eq(dns_msg_add_a(b, &owner, 5, a4), 0);
	}
	dns_msg_section(b, DNS_SEC_ADDITIONAL);
	dns_name_from_text(&other, "extra.example");
	for (i = 0; i < extra; i++) {
		a4[3] = (uint8_t)i;
		ck_assert_int_eq(dns_msg_add_a(b, &other, 5, a4), 0);
	}
}

START_TEST(test_truncation)
{
	uint8_t qb[512];
	struct dns_query q;
	struct dns_msg_builder b;
	size_t qlen;

	/* 40 A records: 12 + 17 + 40 * 16 = 669 > 512 */
	qlen = q_make(qb, 1, "many.example", DNS_T_A, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	build_many_a(&b, &q, 40, 0);
	R.len = dns_msg_finish(&b, dns_msg_udp_limit(&q));
	ck_assert_uint_le(R.len, 512);
	resp_scan(&R);
	ck_assert(R.h.flags & DNS_F_TC);
	ck_assert_uint_eq(R.h.ancount, 0);
	ck_assert_uint_eq(R.h.qdcount, 1);

	/* the same over TCP: everything */
	build_many_a(&b, &q, 40, 0);
	R.len = dns_msg_finish(&b, DNS_MSG_MAX);
	resp_scan(&R);
	ck_assert(!(R.h.flags & DNS_F_TC));
	ck_assert_uint_eq(R.h.ancount, 40);

	/* an EDNS client with room for it: everything, plus the OPT */
	qlen = q_make(qb, 1, "many.example", DNS_T_A, DNS_C_IN, 1232, false);
	parse_ok(qb, qlen, &q);
	build_many_a(&b, &q, 40, 0);
	R.len = dns_msg_finish(&b, dns_msg_udp_limit(&q));
	resp_scan(&R);
	ck_assert(!(R.h.flags & DNS_F_TC));
	ck_assert_uint_eq(R.h.ancount, 40);
	ck_assert_uint_eq(count(&R, DNS_SEC_ADDITIONAL, DNS_T_OPT), 1);

	/* EDNS client, too small: TC, and the OPT is still there */
	build_many_a(&b, &q, 80, 0);
	R.len = dns_msg_finish(&b, dns_msg_udp_limit(&q));
	ck_assert_uint_le(R.len, 1232);
	resp_scan(&R);
	ck_assert(R.h.flags & DNS_F_TC);
	ck_assert_uint_eq(R.h.ancount, 0);
	ck_assert_uint_eq(R.h.arcount, 1);
	ck_assert_uint_eq(count(&R, DNS_SEC_ADDITIONAL, DNS_T_OPT), 1);

	/* answers fit, additional does not: additional goes, no TC */
	qlen = q_make(qb, 1, "many.example", DNS_T_A, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	build_many_a(&b, &q, 20, 20);
	R.len = dns_msg_finish(&b, 512);
	resp_scan(&R);
	ck_assert(!(R.h.flags & DNS_F_TC));
	ck_assert_uint_eq(R.h.ancount, 20);
	ck_assert_uint_eq(R.h.arcount, 0);
}
END_TEST

START_TEST(test_overflow_cap)
{
	uint8_t qb[512], buf[600];
	struct dns_query q;
	struct dns_msg_builder b;
	struct dns_name owner;
	uint8_t a4[4] = {10, 0, 0, 0};
	size_t qlen, len;
	int i, added = 0;

	qlen = q_make(qb, 1, "many.example", DNS_T_A, DNS_C_IN, 1232, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, buf, sizeof(buf), &q);
	owner = q.name;
	for (i = 0; i < 100; i++) {
		a4[3] = (uint8_t)i;
		if (dns_msg_add_a(&b, &owner, 5, a4) == -1)
			break;
		added++;
	}
	ck_assert(b.overflow);
	ck_assert_int_lt(added, 100);
	/* nothing more goes in after an overflow */
	ck_assert_int_eq(dns_msg_add_a(&b, &owner, 5, a4), -1);
	/* TCP: what fit stays, with TC */
	len = dns_msg_finish(&b, DNS_MSG_MAX);
	ck_assert_uint_le(len, sizeof(buf));
	memcpy(R.msg, buf, len);
	R.len = len;
	resp_scan(&R);
	ck_assert(R.h.flags & DNS_F_TC);
	ck_assert_uint_eq(R.h.ancount, (unsigned)added);
	ck_assert_uint_eq(count(&R, DNS_SEC_ADDITIONAL, DNS_T_OPT), 1);
}
END_TEST

START_TEST(test_msg_truncate)
{
	uint8_t qb[512];
	struct dns_query q;
	struct dns_msg_builder b;
	size_t qlen, n;

	qlen = q_make(qb, 1, "many.example", DNS_T_A, DNS_C_IN, 4096, true);
	parse_ok(qb, qlen, &q);
	build_many_a(&b, &q, 100, 0);
	R.len = dns_msg_finish(&b, DNS_MSG_MAX);
	ck_assert_uint_gt(R.len, 1232);
	/* fits already: unchanged */
	ck_assert_uint_eq(dns_msg_truncate(R.msg, R.len, DNS_MSG_MAX), R.len);
	n = dns_msg_truncate(R.msg, R.len, 512);
	ck_assert_uint_le(n, 512);
	R.len = n;
	resp_scan(&R);
	ck_assert(R.h.flags & DNS_F_TC);
	ck_assert_uint_eq(R.h.ancount, 0);
	ck_assert_uint_eq(R.h.qdcount, 1);
	ck_assert_uint_eq(R.h.arcount, 1);
	ck_assert_uint_eq(R.rr[0].type, DNS_T_OPT);
	ck_assert(R.rr[0].ttl & DNS_EDNS_DO);
	/* malformed input */
	ck_assert_uint_eq(dns_msg_truncate(R.msg, 11, 512), 0);

	/* strip_opt */
	qlen = q_make(qb, 1, "many.example", DNS_T_A, DNS_C_IN, 4096, false);
	parse_ok(qb, qlen, &q);
	build_many_a(&b, &q, 3, 0);
	R.len = dns_msg_finish(&b, DNS_MSG_MAX);
	n = dns_msg_strip_opt(R.msg, R.len);
	ck_assert_uint_eq(n, R.len - DNS_OPT_LEN);
	R.len = n;
	resp_scan(&R);
	ck_assert_uint_eq(R.h.arcount, 0);
	ck_assert_uint_eq(R.h.ancount, 3);
	ck_assert_uint_eq(dns_msg_strip_opt(R.msg, R.len), R.len);

	/* an OPT not owned by the root (found by the fuzzer): dropped when
	 * truncating, and the message is not stripped (not cacheable) */
	memset(R.msg, 0, 12);
	w16(R.msg + 2, DNS_F_QR);
	w16(R.msg + 10, 1);
	R.len = 12;
	R.len += put_name(R.msg + R.len, "x.example");
	w16(R.msg + R.len, DNS_T_OPT);
	w16(R.msg + R.len + 2, 1232);
	memset(R.msg + R.len + 4, 0, 6);
	w16(R.msg + R.len + 8, 600);
	R.len += 10 + 600;
	ck_assert_uint_eq(dns_msg_strip_opt(R.msg, R.len), 0);
	n = dns_msg_truncate(R.msg, R.len, 512);
	ck_assert_uint_eq(n, 12);
	R.len = n;
	resp_scan(&R);
	ck_assert_uint_eq(R.h.arcount, 0);
	ck_assert(R.h.flags & DNS_F_TC);
}
END_TEST

START_TEST(test_append_answers)
{
	uint8_t qb[512], up[1024];
	struct dns_query q, q2;
	struct dns_msg_builder b;
	struct dns_name owner, target, real;
	uint8_t a4[4] = {93, 184, 216, 34};
	size_t qlen, ulen;

	/* upstream: www.example.com CNAME real.example.com, real A 93.184.216.34 */
	qlen = q_make(qb, 3, "www.example.com", DNS_T_A, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q2);
	dns_msg_init(&b, up, sizeof(up), &q2);
	dns_name_from_text(&target, "www.example.com");
	dns_name_from_text(&real, "real.example.com");
	dns_msg_add_cname(&b, &target, 100, &real);
	dns_msg_add_a(&b, &real, 200, a4);
	dns_msg_set_rcode(&b, DNS_R_NOERROR);
	ulen = dns_msg_finish(&b, sizeof(up));

	/* ours: ext.default.svc.cluster.local CNAME www.example.com, then theirs */
	qlen = q_make(qb, 4, "ext.default.svc.cluster.local", DNS_T_A, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	owner = q.name;
	dns_msg_add_cname(&b, &owner, 30, &target);
	ck_assert_int_eq(dns_msg_append_answers(&b, up, ulen), 0);
	R.len = dns_msg_finish(&b, 512);
	resp_scan(&R);
	ck_assert_uint_eq(R.h.ancount, 3);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, "ext.default.svc.cluster.local",
		      "www.example.com"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, "www.example.com", "real.example.com"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "real.example.com", "93.184.216.34"));
	ck_assert_uint_eq(R.rr[2].ttl, 200);

	/* an NXDOMAIN upstream passes its rcode on */
	up[3] = (uint8_t)((up[3] & 0xf0) | DNS_R_NXDOMAIN);
	w16(up + 6, 0);
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	dns_msg_add_cname(&b, &owner, 30, &target);
	ck_assert_int_eq(dns_msg_append_answers(&b, up, 12 + 21), 0);
	R.len = dns_msg_finish(&b, 512);
	resp_scan(&R);
	ck_assert_int_eq(rcode(&R), DNS_R_NXDOMAIN);
	ck_assert_uint_eq(R.h.ancount, 1);
	/* garbage is refused */
	ck_assert_int_eq(dns_msg_append_answers(&b, up, 5), -1);
}
END_TEST

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)rng_state;
}

/* What must hold for any input: checked on every garbage message below. */
static int
garbage_check(const uint8_t *m, size_t len, size_t *nok)
{
	struct dns_query q;
	struct dns_hdr h;
	struct dns_rr rrs[64];
	size_t n, qend, i, l;
	int rc;

	rc = dns_msg_parse_query(m, len, &q);
	/* no reply at all exactly for short messages and responses */
	ck_assert_int_eq(rc == -1, len < DNS_HDR_LEN || (m[2] & 0x80) != 0);
	ck_assert(rc == -1 || rc == DNS_R_NOERROR || rc == DNS_R_FORMERR || rc == DNS_R_NOTIMP ||
		  rc == DNS_R_BADVERS);
	if (rc != -1)
		ck_assert_uint_eq(q.id, (unsigned)(m[0] << 8 | m[1]));
	if (rc == DNS_R_NOERROR) {
		nok[0]++;
		ck_assert(q.has_question);
		ck_assert_uint_ne(q.qtype, DNS_T_OPT);
		ck_assert_uint_ge(q.edns_size, DNS_UDP_MIN);
		/* a well-formed, lowercased name: labels up to the root octet */
		ck_assert(q.name.len >= 1 && q.name.len <= DNS_NAME_MAX);
		for (i = 0, l = 0; q.name.wire[i] != 0; i += 1 + q.name.wire[i], l++) {
			ck_assert_uint_lt(i + 1 + q.name.wire[i], q.name.len);
			ck_assert_uint_eq(q.name.lab[l], i);
		}
		ck_assert_uint_eq(i + 1, q.name.len);
		ck_assert_uint_eq(l, q.name.nlabels);
		for (i = 0; i < q.name.len; i++) {
			ck_assert(q.name.wire[i] < 'A' || q.name.wire[i] > 'Z');
			ck_assert_uint_eq(q.name.wire[i],
					  (q.qname_raw[i] >= 'A' && q.qname_raw[i] <= 'Z')
					      ? q.qname_raw[i] + 32
					      : q.qname_raw[i]);
		}
	}
	if (dns_msg_scan(m, len, &h, rrs, 64, &n, &qend) == 0) {
		nok[1]++;
		ck_assert_uint_ge(len, DNS_HDR_LEN);
		ck_assert_uint_eq(h.id, (unsigned)(m[0] << 8 | m[1]));
		ck_assert_uint_eq(n, (size_t)h.ancount + h.nscount + h.arcount);
		ck_assert_uint_le(qend, len);
		for (i = 0; i < n; i++) {
			/* every record lies inside the message, after the question */
			ck_assert_uint_ge(rrs[i].name_off, qend);
			ck_assert_uint_eq(rrs[i].rdata_off, rrs[i].ttl_off + 6);
			ck_assert_uint_le(rrs[i].rdata_off + rrs[i].rdlen, len);
			ck_assert_uint_eq(rrs[i].section, i < h.ancount ? DNS_SEC_ANSWER
							  : i < (size_t)h.ancount + h.nscount
							      ? DNS_SEC_AUTHORITY
							      : DNS_SEC_ADDITIONAL);
		}
	}
	return rc;
}

START_TEST(test_garbage)
{
	uint8_t base[512], *m;
	size_t blen, len, i, j, nok[2] = {0, 0}, nerr = 0;

	blen = q_make(base, 1, "www.example.com", DNS_T_A, DNS_C_IN, 1232, true);
	ck_assert_int_eq(garbage_check(base, blen, nok), DNS_R_NOERROR);
	for (i = 0; i < 50000; i++) {
		len = 1 + rng() % 96;
		m = malloc(len);
		if (i % 2 == 0) {
			/* mutate a valid query */
			memcpy(m, base, len < blen ? len : blen);
			for (j = len < blen ? len : blen; j < len; j++)
				m[j] = (uint8_t)rng();
			for (j = 0; j < 1 + rng() % 4; j++)
				m[rng() % len] = (uint8_t)rng();
		} else {
			for (j = 0; j < len; j++)
				m[j] = (uint8_t)rng();
			if (len > 12 && rng() % 2) {
				m[4] = 0;
				m[5] = 1;
			}
		}
		nerr += garbage_check(m, len, nok) == DNS_R_FORMERR;
		free(m);
	}
	/* both outcomes were exercised, not only the early exits */
	ck_assert_msg(nok[0] > 100 && nok[1] > 100 && nerr > 100,
		      "%zu queries parsed, %zu messages scanned, %zu FORMERR", nok[0], nok[1],
		      nerr);
}
END_TEST

/* ==== dns_zone ==== */

START_TEST(test_zone_clusterip)
{
	struct dns_zone *z = fixture();
	ssize_t i;

	ASK_OK(z, "kubernetes.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert(R.h.flags & DNS_F_AA);
	ck_assert(R.h.flags & DNS_F_RA);
	ck_assert_uint_eq(R.h.ancount, 1);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_A, "kubernetes.default.svc.cluster.local", "10.96.0.1");
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(R.rr[i].ttl, 30);
	ck_assert_uint_eq(R.h.nscount, 0);

	/* case-insensitive, the question echoed as asked */
	ASK_OK(z, "KuberNetes.DEFAULT.Svc.Cluster.Local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.0.1"));
	ck_assert_int_eq(memcmp(R.msg + 12, "\012KuberNetes\007DEFAULT\003Svc", 23), 0);
	/* a trailing dot is the same name */
	ASK_OK(z, "web.default.svc.cluster.local.", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.0.10"));

	/* AAAA of an IPv4-only service: NODATA with the SOA */
	ASK_OK(z, "kubernetes.default.svc.cluster.local", DNS_T_AAAA);
	assert_nodata(CL, 30);
	/* MX: NODATA */
	ASK_OK(z, "kubernetes.default.svc.cluster.local", DNS_T_MX);
	assert_nodata(CL, 30);

	/* dual stack */
	ASK_OK(z, "dual.default.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.0.20"));
	ASK_OK(z, "dual.default.svc.cluster.local", DNS_T_AAAA);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_AAAA, NULL, "fd00::20"));
	ASK_OK(z, "dual.default.svc.cluster.local", DNS_T_ANY);
	ck_assert_uint_eq(R.h.ancount, 2);

	/* a ClusterIP service's endpoints have names too (like CoreDNS) */
	ASK_OK(z, "10-2-0-1.api.prod.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.2.0.1"));
	/* but the service name answers with the ClusterIP */
	ASK_OK(z, "api.prod.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.1.1"));
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_headless)
{
	struct dns_zone *z = fixture();

	/* only ready endpoints */
	ASK_OK(z, "db.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert_uint_eq(R.h.ancount, 2);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "db.default.svc.cluster.local", "10.1.0.1"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "db.default.svc.cluster.local", "10.1.0.2"));
	ck_assert(!has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.1.0.3"));
	ASK_OK(z, "db.default.svc.cluster.local", DNS_T_AAAA);
	assert_nodata(CL, 30);

	/* per-endpoint names: hostname, else the dashed IP */
	ASK_OK(z, "db-0.db.default.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(
	    has(&R, DNS_SEC_ANSWER, DNS_T_A, "db-0.db.default.svc.cluster.local", "10.1.0.1"));
	ASK_OK(z, "10-1-0-2.db.default.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.1.0.2"));
	ASK_OK(z, "DB-0.db.default.svc.cluster.local", DNS_T_AAAA);
	assert_nodata(CL, 30);
	/* not ready, or not there */
	ASK_OK(z, "db-2.db.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "10-1-0-3.db.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "10-1-0-1.db.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL); /* it has a hostname: that is its name */
	ASK_OK(z, "x.db-0.db.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);

	/* no ready endpoint: NXDOMAIN, for the names below too */
	ASK_OK(z, "empty.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "10-1-2-1.empty.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);

	/* publishNotReadyAddresses counts every endpoint */
	ASK_OK(z, "pnr.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.1.1.1"));

	/* IPv6 headless */
	ASK_OK(z, "v6h.prod.svc.cluster.local", DNS_T_AAAA);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_AAAA, NULL, "fd00::1:5"));
	ASK_OK(z, "v6h.prod.svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "v6-0.v6h.prod.svc.cluster.local", DNS_T_AAAA);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_AAAA, NULL, "fd00::1:5"));
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_headless_dashed_v6)
{
	struct dns_zone *z = dns_zone_new(CL, 30, NULL);
	struct em_endpoints *e;
	char buf[DNS_NAME_TEXT_MAX];
	ssize_t i;

	dns_zone_set_synced(z, true);
	dns_zone_upsert_service(z, svc_new("ns1", "h", "None"));
	e = eps_new("ns1", "h");
	eps_port(e, "web", 80, EM_PROTO_TCP);
	eps_add(e, "FD00::1", "", true);
	eps_add(e, "10.9.0.1", "Web-A", true); /* hostnames compare lowercased */
	dns_zone_upsert_endpoints(z, e);

	ASK_OK(z, "fd00--1.h.ns1.svc.cluster.local", DNS_T_AAAA);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_AAAA, NULL, "fd00::1"));
	ASK_OK(z, "web-a.h.ns1.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.9.0.1"));
	ASK_OK(z, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
	       DNS_T_PTR);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, NULL);
	ck_assert_int_ne(i, -1);
	name_at(&R, R.rr[i].rdata_off, buf, sizeof(buf));
	ck_assert_str_eq(buf, "fd00--1.h.ns1.svc.cluster.local");
	ASK_OK(z, "1.0.9.10.in-addr.arpa", DNS_T_PTR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "web-a.h.ns1.svc.cluster.local"));
	/* no ports on the service: the SRV names come from the endpoints */
	ASK_OK(z, "_web._tcp.h.ns1.svc.cluster.local", DNS_T_SRV);
	ck_assert_uint_eq(count(&R, DNS_SEC_ANSWER, DNS_T_SRV), 2);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_srv)
{
	struct dns_zone *z = fixture();
	ssize_t i;

	/* ClusterIP: one SRV to the service, its A in Additional */
	ASK_OK(z, "_http._tcp.web.default.svc.cluster.local", DNS_T_SRV);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert_uint_eq(R.h.ancount, 1);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SRV, "_http._tcp.web.default.svc.cluster.local",
		 "web.default.svc.cluster.local");
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off + 4), 80);
	ck_assert(
	    has(&R, DNS_SEC_ADDITIONAL, DNS_T_A, "web.default.svc.cluster.local", "10.96.0.10"));
	ASK_OK(z, "_dns._udp.web.default.svc.cluster.local", DNS_T_SRV);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SRV, NULL, "web.default.svc.cluster.local");
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off + 4), 53);
	/* dual stack: both addresses in Additional */
	ASK_OK(z, "_http._tcp.dual.default.svc.cluster.local", DNS_T_SRV);
	ck_assert_uint_eq(count(&R, DNS_SEC_ADDITIONAL, DNS_T_A), 1);
	ck_assert_uint_eq(count(&R, DNS_SEC_ADDITIONAL, DNS_T_AAAA), 1);

	/* the SRV name has no A: NODATA */
	ASK_OK(z, "_http._tcp.web.default.svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	/* _<proto> under a service is an empty non-terminal */
	ASK_OK(z, "_tcp.web.default.svc.cluster.local", DNS_T_SRV);
	assert_nodata(CL, 30);
	ASK_OK(z, "_udp.web.default.svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "_sctp.web.default.svc.cluster.local", DNS_T_SRV);
	assert_nxdomain(CL);
	/* wrong protocol, unknown port name */
	ASK_OK(z, "_http._udp.web.default.svc.cluster.local", DNS_T_SRV);
	assert_nxdomain(CL);
	ASK_OK(z, "_nope._tcp.web.default.svc.cluster.local", DNS_T_SRV);
	assert_nxdomain(CL);
	ASK_OK(z, "_http._tcp.nope.default.svc.cluster.local", DNS_T_SRV);
	assert_nxdomain(CL);
	ASK_OK(z, "http.tcp.web.default.svc.cluster.local", DNS_T_SRV);
	assert_nxdomain(CL);
	/* SRV at the service name itself: the name exists, no SRV there */
	ASK_OK(z, "web.default.svc.cluster.local", DNS_T_SRV);
	assert_nodata(CL, 30);

	/* headless: one per ready endpoint, to its name, with the endpoint port */
	ASK_OK(z, "_mysql._tcp.db.default.svc.cluster.local", DNS_T_SRV);
	ck_assert_uint_eq(count(&R, DNS_SEC_ANSWER, DNS_T_SRV), 2);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SRV, NULL, "db-0.db.default.svc.cluster.local");
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off + 4), 3306);
	ck_assert(
	    has(&R, DNS_SEC_ANSWER, DNS_T_SRV, NULL, "10-1-0-2.db.default.svc.cluster.local"));
	ck_assert(
	    has(&R, DNS_SEC_ADDITIONAL, DNS_T_A, "db-0.db.default.svc.cluster.local", "10.1.0.1"));
	ck_assert(has(&R, DNS_SEC_ADDITIONAL, DNS_T_A, "10-1-0-2.db.default.svc.cluster.local",
		      "10.1.0.2"));
	/* ClusterIP service: the SRV port is the service port, not the endpoint's */
	ASK_OK(z, "_grpc._tcp.api.prod.svc.cluster.local", DNS_T_SRV);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SRV, NULL, "api.prod.svc.cluster.local");
	ck_assert_uint_eq(r16(R.msg + R.rr[i].rdata_off + 4), 9000);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_ptr)
{
	struct dns_zone *z = fixture();

	ck_assert_int_eq(ask(z, "1.0.96.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_ANSWERED);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert(R.h.flags & DNS_F_AA);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, "1.0.96.10.in-addr.arpa",
		      "kubernetes.default.svc.cluster.local"));
	ASK_OK(z, "1.0.1.10.In-Addr.ARPA", DNS_T_PTR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "db-0.db.default.svc.cluster.local"));
	ASK_OK(z, "2.0.1.10.in-addr.arpa", DNS_T_PTR);
	ck_assert(
	    has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "10-1-0-2.db.default.svc.cluster.local"));
	ASK_OK(z, "1.0.2.10.in-addr.arpa", DNS_T_PTR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "10-2-0-1.api.prod.svc.cluster.local"));
	/* IPv6 ClusterIP fd00::20 */
	ASK_OK(z, "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
	       DNS_T_PTR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "dual.default.svc.cluster.local"));

	/* not ours: forwarded */
	ck_assert_int_eq(ask(z, "3.0.1.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "9.9.9.9.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "96.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "in-addr.arpa", DNS_T_SOA), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "x.1.0.96.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "01.0.96.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "1.0.96.10.in-addr.arpa", DNS_T_A), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "1.0.0.0.ip6.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ck_assert_int_eq(
	    ask_full(z, "1.0.96.10.in-addr.arpa", DNS_T_PTR, DNS_C_CH, -1, DNS_MSG_MAX, true),
	    DNS_ZONE_FORWARD);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_external)
{
	struct dns_zone *z = fixture();
	char buf[DNS_NAME_TEXT_MAX];

	/* a CNAME to a name outside: chase it */
	ck_assert_int_eq(ask(z, "ext.default.svc.cluster.local", DNS_T_A), DNS_ZONE_CHASE);
	ck_assert(
	    has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, "ext.default.svc.cluster.local", "example.com"));
	ck_assert_uint_eq(R.h.ancount, 1);
	dns_name_to_text(&chased, buf, sizeof(buf));
	ck_assert_str_eq(buf, "example.com");
	/* without a chase buffer the CNAME alone */
	ck_assert_int_eq(
	    ask_full(z, "ext.default.svc.cluster.local", DNS_T_A, DNS_C_IN, -1, DNS_MSG_MAX, false),
	    DNS_ZONE_ANSWERED);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	/* CNAME and ANY queries get the CNAME only */
	ASK_OK(z, "ext.default.svc.cluster.local", DNS_T_CNAME);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, NULL, "example.com"));
	ASK_OK(z, "ext.default.svc.cluster.local", DNS_T_ANY);
	ck_assert_uint_eq(R.h.ancount, 1);
	/* nothing below an ExternalName */
	ASK_OK(z, "x.ext.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);

	/* a target in the zone is followed here */
	ASK_OK(z, "alias.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert_uint_eq(R.h.ancount, 2);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, "alias.default.svc.cluster.local",
		      "kubernetes.default.svc.cluster.local"));
	ck_assert(
	    has(&R, DNS_SEC_ANSWER, DNS_T_A, "kubernetes.default.svc.cluster.local", "10.96.0.1"));
	ASK_OK(z, "alias.default.svc.cluster.local", DNS_T_AAAA);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_AUTHORITY, DNS_T_SOA, CL, NULL));
	/* ... to a name that does not exist: NXDOMAIN after the CNAME (RFC 6604) */
	ASK_OK(z, "dangling.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NXDOMAIN);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_CNAME, NULL, "nothere.default.svc.cluster.local"));
	ck_assert(has(&R, DNS_SEC_AUTHORITY, DNS_T_SOA, CL, NULL));
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_cname_loop)
{
	struct dns_zone *z = dns_zone_new(CL, 30, NULL);

	dns_zone_set_synced(z, true);
	dns_zone_upsert_service(z, svc_external("a", "x", "y.a.svc.cluster.local"));
	dns_zone_upsert_service(z, svc_external("a", "y", "x.a.svc.cluster.local"));
	dns_zone_upsert_service(z, svc_external("a", "self", "self.a.svc.cluster.local"));
	ASK_OK(z, "x.a.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, DNS_CNAME_CHAIN_MAX);
	ASK_OK(z, "self.a.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, DNS_CNAME_CHAIN_MAX);
	/* an ExternalName that is not a name: exists, no records */
	dns_zone_upsert_service(z, svc_external("a", "bad", "a..b"));
	ASK_OK(z, "bad.a.svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_pod)
{
	struct dns_zone *z = fixture();

	ASK_OK(z, "10-1-2-3.default.pod.cluster.local", DNS_T_A);
	ck_assert(
	    has(&R, DNS_SEC_ANSWER, DNS_T_A, "10-1-2-3.default.pod.cluster.local", "10.1.2.3"));
	/* any namespace ("pods insecure") */
	ASK_OK(z, "192-168-0-255.whatever.pod.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "192.168.0.255"));
	ASK_OK(z, "10-1-2-3.default.pod.cluster.local", DNS_T_AAAA);
	assert_nodata(CL, 30);
	ASK_OK(z, "fd00--1-2.default.pod.cluster.local", DNS_T_AAAA);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_AAAA, NULL, "fd00::1:2"));
	ASK_OK(z, "10-1-2.default.pod.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "256-1-2-3.default.pod.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "nginx.default.pod.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "x.10-1-2-3.default.pod.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "default.pod.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "pod.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_apex)
{
	struct dns_zone *z = fixture();
	ssize_t i;

	ASK_OK(z, "dns-version.cluster.local", DNS_T_TXT);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_TXT, "dns-version.cluster.local", "1.0.1"));
	ASK_OK(z, "dns-version.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "x.dns-version.cluster.local", DNS_T_TXT);
	assert_nxdomain(CL);

	ASK_OK(z, "cluster.local", DNS_T_SOA);
	ck_assert_uint_eq(R.h.ancount, 1);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SOA, CL, NULL);
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(R.h.nscount, 0);
	ASK_OK(z, "Cluster.Local", DNS_T_NS);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_NS, CL, "ns.dns.cluster.local"));
	ASK_OK(z, "cluster.local", DNS_T_ANY);
	ck_assert_uint_eq(R.h.ancount, 2);
	ASK_OK(z, "cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "ns.dns.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "ns.dns.cluster.local", "169.254.96.16"));
	ASK_OK(z, "dns.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_nxdomain_nodata)
{
	struct dns_zone *z = fixture();

	/* empty non-terminals */
	ASK_OK(z, "svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "default.svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	ASK_OK(z, "Prod.SVC.cluster.local", DNS_T_SRV);
	assert_nodata(CL, 30);
	/* names that are not there */
	ASK_OK(z, "nope.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "nope.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "web.nope.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "foo.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "web.default.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "x.web.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "a.b.c.web.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ASK_OK(z, "a.b._http._tcp.web.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	/* NXDOMAIN has no answers and the SOA with minimum = ttl */
	ck_assert_uint_eq(R.h.ancount, 0);
	ck_assert_uint_eq(R.h.nscount, 1);
	ck_assert_uint_eq(r32(R.msg + R.rr[0].rdata_off + R.rr[0].rdlen - 4), 30);

	/* other classes and zone transfers are refused, never forwarded */
	ck_assert_int_eq(
	    ask_full(z, "web.default.svc.cluster.local", DNS_T_A, DNS_C_CH, -1, DNS_MSG_MAX, true),
	    DNS_ZONE_ANSWERED);
	ck_assert_int_eq(rcode(&R), DNS_R_REFUSED);
	ASK_OK(z, "cluster.local", DNS_T_AXFR);
	ck_assert_int_eq(rcode(&R), DNS_R_REFUSED);
	/* class ANY is IN */
	ck_assert_int_eq(
	    ask_full(z, "web.default.svc.cluster.local", DNS_T_A, DNS_C_ANY, -1, DNS_MSG_MAX, true),
	    DNS_ZONE_ANSWERED);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.0.10"));
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_not_ours)
{
	struct dns_zone *z = fixture();

	ck_assert_int_eq(ask(z, "example.com", DNS_T_A), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "xcluster.local", DNS_T_A), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "local", DNS_T_SOA), DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, "web.default.svc.cluster.local.example.com", DNS_T_A),
			 DNS_ZONE_FORWARD);
	ck_assert_int_eq(ask(z, ".", DNS_T_NS), DNS_ZONE_FORWARD);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_unsynced)
{
	struct dns_zone *z = fixture();

	dns_zone_set_synced(z, false);
	ASK_OK(z, "web.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_SERVFAIL);
	ck_assert_uint_eq(R.h.ancount, 0);
	ck_assert_int_eq(ask(z, "example.com", DNS_T_A), DNS_ZONE_FORWARD);
	dns_zone_set_synced(z, true);
	ASK_OK(z, "web.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_updates)
{
	struct dns_zone *z = fixture();
	struct em_service *s;
	struct em_endpoints *e;
	size_t nsvc, neps, nrev, nsvc0, neps0, nrev0;

	dns_zone_stats(z, &nsvc0, &neps0, &nrev0);
	ck_assert_uint_eq(nsvc0, 11);
	ck_assert_uint_eq(neps0, 5); /* db 2, pnr 1, api 1, v6h 1 */

	/* a new ClusterIP: the old one and its PTR are gone */
	s = svc_new("default", "web", "10.96.0.11");
	svc_port(s, "http", 80, EM_PROTO_TCP);
	dns_zone_upsert_service(z, s);
	ASK_OK(z, "web.default.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.0.11"));
	ck_assert_int_eq(ask(z, "10.0.96.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ASK_OK(z, "11.0.96.10.in-addr.arpa", DNS_T_PTR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "web.default.svc.cluster.local"));
	ASK_OK(z, "_dns._udp.web.default.svc.cluster.local", DNS_T_SRV);
	assert_nxdomain(CL);
	dns_zone_stats(z, &nsvc, NULL, NULL);
	ck_assert_uint_eq(nsvc, nsvc0);

	/* endpoints change: db-0 goes, db-3 comes */
	e = eps_new("default", "db");
	eps_port(e, "mysql", 3306, EM_PROTO_TCP);
	eps_add(e, "10.1.0.4", "db-3", true);
	dns_zone_upsert_endpoints(z, e);
	ASK_OK(z, "db.default.svc.cluster.local", DNS_T_A);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.1.0.4"));
	ASK_OK(z, "db-0.db.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ck_assert_int_eq(ask(z, "1.0.1.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);

	/* endpoints go: a headless service has no name any more */
	dns_zone_delete_endpoints(z, "default", "db");
	ASK_OK(z, "db.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	/* the service goes */
	dns_zone_delete_service(z, "default", "kubernetes");
	ASK_OK(z, "kubernetes.default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ck_assert_int_eq(ask(z, "1.0.96.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	ASK_OK(z, "alias.default.svc.cluster.local", DNS_T_A);
	ck_assert_int_eq(rcode(&R), DNS_R_NXDOMAIN);
	/* deleting what is not there is harmless */
	dns_zone_delete_service(z, "default", "kubernetes");
	dns_zone_delete_service(z, "nope", "nope");
	dns_zone_delete_endpoints(z, "nope", "nope");
	dns_zone_delete_service(z, "Bad Name", "x");

	/* the last service of a namespace: the namespace name goes */
	ASK_OK(z, "prod.svc.cluster.local", DNS_T_A);
	assert_nodata(CL, 30);
	dns_zone_delete_service(z, "prod", "api");
	dns_zone_delete_service(z, "prod", "v6h");
	ASK_OK(z, "prod.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	/* endpoints without a service give no names */
	ASK_OK(z, "10-2-0-1.api.prod.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	ck_assert_int_eq(ask(z, "1.0.2.10.in-addr.arpa", DNS_T_PTR), DNS_ZONE_FORWARD);
	/* ... until the service comes back */
	dns_zone_upsert_service(z, svc_new("prod", "api", "10.96.1.1"));
	ASK_OK(z, "10-2-0-1.api.prod.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.2.0.1"));

	/* invalid names are refused, and freed */
	dns_zone_upsert_service(z, svc_new("default", "Not.A.Label", "10.0.0.1"));
	e = eps_new("", "x");
	dns_zone_upsert_endpoints(z, e);

	/* clear: nothing left, a fresh start works */
	dns_zone_clear(z);
	dns_zone_stats(z, &nsvc, &neps, &nrev);
	ck_assert_uint_eq(nsvc, 0);
	ck_assert_uint_eq(neps, 0);
	ck_assert_uint_eq(nrev, 0);
	ASK_OK(z, "default.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	dns_zone_upsert_service(z, svc_new("default", "web", "10.96.0.10"));
	ASK_OK(z, "web.default.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.96.0.10"));
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_shared_ip)
{
	struct dns_zone *z = dns_zone_new(CL, 30, NULL);
	struct em_endpoints *e;

	/* one pod behind two services: two PTRs, and each goes on its own */
	dns_zone_set_synced(z, true);
	dns_zone_upsert_service(z, svc_new("a", "one", "None"));
	dns_zone_upsert_service(z, svc_new("a", "two", "None"));
	e = eps_new("a", "one");
	eps_add(e, "10.5.0.1", "p", true);
	dns_zone_upsert_endpoints(z, e);
	e = eps_new("a", "two");
	eps_add(e, "10.5.0.1", "p", true);
	dns_zone_upsert_endpoints(z, e);
	ASK_OK(z, "1.0.5.10.in-addr.arpa", DNS_T_PTR);
	ck_assert_uint_eq(R.h.ancount, 2);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "p.one.a.svc.cluster.local"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "p.two.a.svc.cluster.local"));
	dns_zone_delete_service(z, "a", "one");
	ASK_OK(z, "1.0.5.10.in-addr.arpa", DNS_T_PTR);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL, "p.two.a.svc.cluster.local"));
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_custom_domain)
{
	struct dns_zone *z = dns_zone_new("Edge.Example.", 5, NULL);

	ck_assert_ptr_nonnull(z);
	dns_zone_set_synced(z, true);
	dns_zone_upsert_service(z, svc_new("ns", "svc", "10.0.0.5"));
	ASK_OK(z, "svc.ns.svc.edge.example", DNS_T_A);
	ck_assert_uint_eq(R.rr[0].ttl, 5);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.0.0.5"));
	ASK_OK(z, "svc.ns.svc.edge.example", DNS_T_AAAA);
	assert_nodata("edge.example", 5);
	ck_assert_int_eq(ask(z, "svc.ns.svc.cluster.local", DNS_T_A), DNS_ZONE_FORWARD);
	/* no NS address configured: no dns.<zone> names */
	ASK_OK(z, "ns.dns.edge.example", DNS_T_A);
	assert_nxdomain("edge.example");
	dns_zone_free(z);

	ck_assert_ptr_null(dns_zone_new("", 5, NULL));
	ck_assert_ptr_null(dns_zone_new(".", 5, NULL));
	ck_assert_ptr_null(dns_zone_new("a..b", 5, NULL));
	ck_assert_ptr_null(dns_zone_new("cluster.local", 5, "not-an-ip"));
}
END_TEST

START_TEST(test_zone_big_headless)
{
	struct dns_zone *z = dns_zone_new(CL, 30, NULL);
	struct em_endpoints *e;
	char ip[32], host[32];
	int i;

	dns_zone_set_synced(z, true);
	dns_zone_upsert_service(z, svc_new("big", "h", "None"));
	e = eps_new("big", "h");
	eps_port(e, "http", 80, EM_PROTO_TCP);
	for (i = 0; i < 300; i++) {
		snprintf(ip, sizeof(ip), "10.7.%d.%d", i / 250, i % 250 + 1);
		snprintf(host, sizeof(host), "pod-%d", i);
		eps_add(e, ip, host, true);
	}
	dns_zone_upsert_endpoints(z, e);
	/* UDP, no EDNS: TC, nothing inside */
	ck_assert_int_eq(ask_full(z, "h.big.svc.cluster.local", DNS_T_A, DNS_C_IN, -1, 512, true),
			 DNS_ZONE_ANSWERED);
	ck_assert(R.h.flags & DNS_F_TC);
	ck_assert_uint_eq(R.h.ancount, 0);
	/* TCP: all of them */
	ASK_OK(z, "h.big.svc.cluster.local", DNS_T_A);
	ck_assert(!(R.h.flags & DNS_F_TC));
	ck_assert_uint_eq(R.h.ancount, 300);
	/* per-host lookups go through the host map */
	ASK_OK(z, "pod-299.h.big.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.7.1.50"));
	ASK_OK(z, "pod-300.h.big.svc.cluster.local", DNS_T_A);
	assert_nxdomain(CL);
	/* SRV over TCP: 300 answers, their 300 addresses in Additional */
	ck_assert_int_eq(ask_full(z, "_http._tcp.h.big.svc.cluster.local", DNS_T_SRV, DNS_C_IN, -1,
				  DNS_MSG_MAX, true),
			 DNS_ZONE_ANSWERED);
	ck_assert_uint_eq(R.h.ancount, 300);
	ck_assert_uint_eq(R.h.arcount, 300);
	dns_zone_free(z);
}
END_TEST

START_TEST(test_zone_scale)
{
	struct dns_zone *z = dns_zone_new(CL, 30, NULL);
	struct em_service *s;
	struct em_endpoints *e;
	char ns[32], name[32], ip[32], q[128];
	size_t nsvc, neps, nrev;
	struct timespec t0, t1;
	int i, j;

	/* 10k services (every 10th headless), 100k endpoints */
	dns_zone_set_synced(z, true);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 10000; i++) {
		snprintf(ns, sizeof(ns), "ns-%d", i % 100);
		snprintf(name, sizeof(name), "svc-%d", i);
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", 96 + i / 65536, (i / 256) % 256, i % 256);
		s = svc_new(ns, name, i % 10 == 0 ? "None" : ip);
		svc_port(s, "http", 80, EM_PROTO_TCP);
		dns_zone_upsert_service(z, s);
		e = eps_new(ns, name);
		eps_port(e, "http", 8080, EM_PROTO_TCP);
		for (j = 0; j < 10; j++) {
			int k = i * 10 + j;

			snprintf(ip, sizeof(ip), "10.%d.%d.%d", 128 + k / 65536, (k / 256) % 256,
				 k % 256);
			eps_add(e, ip, "", true);
		}
		dns_zone_upsert_endpoints(z, e);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dns_zone_stats(z, &nsvc, &neps, &nrev);
	ck_assert_uint_eq(nsvc, 10000);
	ck_assert_uint_eq(neps, 100000);
	ck_assert_uint_eq(nrev, 100000 + 9000);
	fprintf(stderr, "dns zone: 10k services / 100k endpoints loaded in %.0f ms\n",
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 10000; i += 7) {
		snprintf(q, sizeof(q), "svc-%d.ns-%d.svc.cluster.local", i, i % 100);
		ASK_OK(z, q, DNS_T_A);
		ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
		ck_assert_uint_eq(R.h.ancount, i % 10 == 0 ? 10 : 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	fprintf(stderr, "dns zone: 1429 lookups in %.2f ms\n",
		(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	ASK_OK(z, "10-128-0-0.svc-0.ns-0.svc.cluster.local", DNS_T_A);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "10.128.0.0"));
	ASK_OK(z, "9.3.129.10.in-addr.arpa", DNS_T_PTR); /* k = 66313 */
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_PTR, NULL,
		      "10-129-3-9.svc-6631.ns-31.svc.cluster.local"));

	for (i = 0; i < 10000; i++) {
		snprintf(ns, sizeof(ns), "ns-%d", i % 100);
		snprintf(name, sizeof(name), "svc-%d", i);
		dns_zone_delete_service(z, ns, name);
		dns_zone_delete_endpoints(z, ns, name);
	}
	dns_zone_stats(z, &nsvc, &neps, &nrev);
	ck_assert_uint_eq(nsvc, 0);
	ck_assert_uint_eq(neps, 0);
	ck_assert_uint_eq(nrev, 0);
	dns_zone_free(z);
}
END_TEST

/* ==== dns_cache ==== */

/* An upstream answer: nans A records (the first with ttl1, the rest ttl2),
 * and an SOA in Authority when soa_ttl >= 0. */
static size_t
upstream(uint8_t *out, const char *name, uint16_t qtype, int edns, bool do_bit, int rc, int nans,
	 uint32_t ttl1, uint32_t ttl2, int soa_ttl, uint32_t soa_min)
{
	uint8_t qb[512];
	struct dns_query q;
	struct dns_msg_builder b;
	struct dns_name apex, mname, rname;
	struct dns_soa soa;
	uint8_t a4[4] = {192, 0, 2, 0};
	size_t qlen;
	int i;

	qlen = q_make(qb, 0x5555, name, qtype, DNS_C_IN, edns, do_bit);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, out, DNS_MSG_MAX, &q);
	dns_msg_set_rcode(&b, rc);
	for (i = 0; i < nans; i++) {
		a4[3] = (uint8_t)(i + 1);
		ck_assert_int_eq(dns_msg_add_a(&b, &q.name, i == 0 ? ttl1 : ttl2, a4), 0);
	}
	if (soa_ttl >= 0) {
		dns_msg_section(&b, DNS_SEC_AUTHORITY);
		dns_name_from_text(&apex, "example.com");
		dns_name_from_text(&mname, "ns1.example.com");
		dns_name_from_text(&rname, "hostmaster.example.com");
		soa.mname = &mname;
		soa.rname = &rname;
		soa.serial = 1;
		soa.refresh = soa.retry = soa.expire = 100;
		soa.minimum = soa_min;
		dns_msg_add_soa(&b, &apex, (uint32_t)soa_ttl, &soa);
	}
	return dns_msg_finish(&b, DNS_MSG_MAX);
}

static struct dns_query CQ;

static struct dns_query *
client(uint16_t id, const char *name, uint16_t qtype, uint16_t qclass, int edns, bool do_bit)
{
	uint8_t qb[512];
	size_t qlen = q_make(qb, id, name, qtype, qclass, edns, do_bit);

	parse_ok(qb, qlen, &CQ);
	return &CQ;
}

static int
cache_get(struct dns_cache *c, struct dns_query *q, uint64_t now)
{
	if (dns_cache_get(c, q, now, R.msg, sizeof(R.msg), &R.len) == -1)
		return -1;
	resp_scan(&R);
	return 0;
}

START_TEST(test_cache_hit)
{
	struct dns_cache *c = dns_cache_new(100, 0);
	uint8_t up[DNS_MSG_MAX];
	size_t ulen;

	ulen = upstream(up, "www.example.com", DNS_T_A, -1, false, 0, 1, 300, 0, -1, 0);
	ck_assert_int_eq(dns_cache_put(c,
				       client(1, "www.example.com", DNS_T_A, DNS_C_IN, -1, false),
				       up, ulen, 1000),
			 0);
	ck_assert_uint_eq(dns_cache_count(c), 1);

	/* another client, another id, another case, 10 s later */
	ck_assert_int_eq(
	    cache_get(c, client(0x7777, "WWW.Example.COM", DNS_T_A, DNS_C_IN, -1, false), 11000),
	    0);
	ck_assert_uint_eq(R.h.id, 0x7777);
	ck_assert_uint_eq(R.h.ancount, 1);
	ck_assert_uint_eq(R.rr[0].ttl, 290);
	ck_assert_int_eq(memcmp(R.msg + 12, "\003WWW\007Example\003COM", 17), 0);
	ck_assert(R.h.flags & DNS_F_RD);
	/* the stored copy is untouched: another hit decrements from the original */
	ck_assert_int_eq(
	    cache_get(c, client(2, "www.example.com", DNS_T_A, DNS_C_IN, -1, false), 101500), 0);
	ck_assert_uint_eq(R.rr[0].ttl, 200);
	/* last millisecond: TTL 1; then gone */
	ck_assert_int_eq(
	    cache_get(c, client(2, "www.example.com", DNS_T_A, DNS_C_IN, -1, false), 300999), 0);
	ck_assert_uint_eq(R.rr[0].ttl, 1);
	ck_assert_int_eq(
	    cache_get(c, client(2, "www.example.com", DNS_T_A, DNS_C_IN, -1, false), 301000), -1);
	ck_assert_uint_eq(dns_cache_count(c), 0);

	/* the client's RD bit */
	dns_cache_put(c, client(1, "www.example.com", DNS_T_A, DNS_C_IN, -1, false), up, ulen, 0);
	client(3, "www.example.com", DNS_T_A, DNS_C_IN, -1, false);
	CQ.flags &= (uint16_t)~DNS_F_RD;
	ck_assert_int_eq(cache_get(c, &CQ, 0), 0);
	ck_assert(!(R.h.flags & DNS_F_RD));
	dns_cache_free(c);
}
END_TEST

START_TEST(test_cache_ttl)
{
	struct dns_cache *c = dns_cache_new(100, 0);
	uint8_t up[DNS_MSG_MAX];
	size_t ulen;

	/* the smallest TTL decides */
	ulen = upstream(up, "a.example.com", DNS_T_A, -1, false, 0, 3, 300, 100, -1, 0);
	dns_cache_put(c, client(1, "a.example.com", DNS_T_A, DNS_C_IN, -1, false), up, ulen, 0);
	ck_assert_int_eq(cache_get(c, &CQ, 50000), 0);
	ck_assert_uint_eq(R.rr[0].ttl, 50); /* capped by what is left */
	ck_assert_uint_eq(R.rr[1].ttl, 50);
	ck_assert_int_eq(cache_get(c, &CQ, 100000), -1);

	/* TTL 0: not cached */
	ulen = upstream(up, "a.example.com", DNS_T_A, -1, false, 0, 1, 0, 0, -1, 0);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	/* a TTL with the top bit set counts as 0 */
	ulen = upstream(up, "a.example.com", DNS_T_A, -1, false, 0, 1, 0x80000000u, 0, -1, 0);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	dns_cache_free(c);

	/* max_ttl caps the lifetime and the TTLs handed out */
	c = dns_cache_new(100, 30);
	ulen = upstream(up, "a.example.com", DNS_T_A, -1, false, 0, 1, 300, 0, -1, 0);
	dns_cache_put(c, &CQ, up, ulen, 0);
	ck_assert_int_eq(cache_get(c, &CQ, 10000), 0);
	ck_assert_uint_eq(R.rr[0].ttl, 20);
	ck_assert_int_eq(cache_get(c, &CQ, 29999), 0);
	ck_assert_int_eq(cache_get(c, &CQ, 30000), -1);
	dns_cache_free(c);
}
END_TEST

START_TEST(test_cache_negative)
{
	struct dns_cache *c = dns_cache_new(100, 0);
	uint8_t up[DNS_MSG_MAX];
	size_t ulen;
	ssize_t i;

	/* NXDOMAIN: min(SOA TTL, SOA minimum) */
	ulen =
	    upstream(up, "no.example.com", DNS_T_A, -1, false, DNS_R_NXDOMAIN, 0, 0, 0, 3600, 60);
	client(1, "no.example.com", DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	ck_assert_int_eq(cache_get(c, &CQ, 0), 0);
	ck_assert_int_eq(rcode(&R), DNS_R_NXDOMAIN);
	i = find(&R, DNS_SEC_AUTHORITY, DNS_T_SOA, "example.com", NULL);
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(R.rr[i].ttl, 60);
	ck_assert_int_eq(cache_get(c, &CQ, 59999), 0);
	ck_assert_int_eq(cache_get(c, &CQ, 60000), -1);

	/* NODATA: the SOA TTL when it is smaller */
	ulen = upstream(up, "v4only.example.com", DNS_T_AAAA, -1, false, 0, 0, 0, 0, 10, 60);
	client(1, "v4only.example.com", DNS_T_AAAA, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	ck_assert_int_eq(cache_get(c, &CQ, 9999), 0);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert_uint_eq(R.h.ancount, 0);
	ck_assert_int_eq(cache_get(c, &CQ, 10000), -1);

	/* no SOA, no negative caching */
	ulen = upstream(up, "no.example.com", DNS_T_A, -1, false, DNS_R_NXDOMAIN, 0, 0, 0, -1, 0);
	client(1, "no.example.com", DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	ulen = upstream(up, "no.example.com", DNS_T_A, -1, false, 0, 0, 0, 0, -1, 0);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	dns_cache_free(c);
}
END_TEST

START_TEST(test_cache_refuses)
{
	struct dns_cache *c = dns_cache_new(100, 0);
	uint8_t up[DNS_MSG_MAX];
	size_t ulen;

	client(1, "x.example.com", DNS_T_A, DNS_C_IN, -1, false);
	ulen = upstream(up, "x.example.com", DNS_T_A, -1, false, DNS_R_SERVFAIL, 0, 0, 0, 100, 100);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	ulen = upstream(up, "x.example.com", DNS_T_A, -1, false, DNS_R_REFUSED, 0, 0, 0, 100, 100);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	/* truncated */
	ulen = upstream(up, "x.example.com", DNS_T_A, -1, false, 0, 1, 100, 0, -1, 0);
	up[2] |= DNS_F_TC >> 8;
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	up[2] &= (uint8_t) ~(DNS_F_TC >> 8);
	/* not a response */
	up[2] &= 0x7f;
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	up[2] |= 0x80;
	/* another question */
	client(1, "y.example.com", DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	client(1, "x.example.com", DNS_T_AAAA, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	/* malformed, cut */
	client(1, "x.example.com", DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen - 1, 0), -1);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, 5, 0), -1);
	ck_assert_uint_eq(dns_cache_count(c), 0);
	/* the intact one goes in */
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	/* larger than DNS_CACHE_RESP_MAX: not cached */
	ulen = upstream(up, "x.example.com", DNS_T_A, -1, false, 0, 300, 100, 100, -1, 0);
	ck_assert_uint_gt(ulen, DNS_CACHE_RESP_MAX);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	dns_cache_free(c);

	/* a cache of size 0 holds nothing */
	c = dns_cache_new(0, 0);
	ulen = upstream(up, "x.example.com", DNS_T_A, -1, false, 0, 1, 100, 0, -1, 0);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), -1);
	dns_cache_free(c);
}
END_TEST

START_TEST(test_cache_lru)
{
	struct dns_cache *c = dns_cache_new(3, 0);
	uint8_t up[DNS_MSG_MAX];
	const char *names[] = {"a.example", "b.example", "c.example", "d.example"};
	size_t ulen;
	int i;

	for (i = 0; i < 3; i++) {
		ulen = upstream(up, names[i], DNS_T_A, -1, false, 0, 1, 100, 0, -1, 0);
		client(1, names[i], DNS_T_A, DNS_C_IN, -1, false);
		ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	}
	/* a is used: b is now the oldest */
	ck_assert_int_eq(cache_get(c, client(1, "a.example", DNS_T_A, DNS_C_IN, -1, false), 0), 0);
	ulen = upstream(up, names[3], DNS_T_A, -1, false, 0, 1, 100, 0, -1, 0);
	client(1, names[3], DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	ck_assert_uint_eq(dns_cache_count(c), 3);
	ck_assert_int_eq(cache_get(c, client(1, "b.example", DNS_T_A, DNS_C_IN, -1, false), 0), -1);
	ck_assert_int_eq(cache_get(c, client(1, "a.example", DNS_T_A, DNS_C_IN, -1, false), 0), 0);
	ck_assert_int_eq(cache_get(c, client(1, "c.example", DNS_T_A, DNS_C_IN, -1, false), 0), 0);
	ck_assert_int_eq(cache_get(c, client(1, "d.example", DNS_T_A, DNS_C_IN, -1, false), 0), 0);

	/* the same key again replaces, it does not add */
	ulen = upstream(up, "d.example", DNS_T_A, -1, false, 0, 2, 100, 100, -1, 0);
	client(1, "d.example", DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	ck_assert_uint_eq(dns_cache_count(c), 3);
	ck_assert_int_eq(cache_get(c, &CQ, 0), 0);
	ck_assert_uint_eq(R.h.ancount, 2);

	/* many more: never above the bound */
	for (i = 0; i < 1000; i++) {
		char name[32];

		snprintf(name, sizeof(name), "n%d.example", i);
		ulen = upstream(up, name, DNS_T_A, -1, false, 0, 1, 100, 0, -1, 0);
		client(1, name, DNS_T_A, DNS_C_IN, -1, false);
		ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
		ck_assert_uint_le(dns_cache_count(c), 3);
	}
	dns_cache_flush(c);
	ck_assert_uint_eq(dns_cache_count(c), 0);
	dns_cache_free(c);
}
END_TEST

START_TEST(test_cache_key_and_opt)
{
	struct dns_cache *c = dns_cache_new(100, 0);
	uint8_t up[DNS_MSG_MAX];
	uint8_t small[40];
	size_t ulen, n;

	/* stored from an EDNS exchange, DO clear */
	ulen = upstream(up, "k.example", DNS_T_A, 1232, false, 0, 1, 100, 0, -1, 0);
	client(1, "k.example", DNS_T_A, DNS_C_IN, 1232, false);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	/* the key: DO bit, type, class */
	ck_assert_int_eq(cache_get(c, client(1, "k.example", DNS_T_A, DNS_C_IN, 1232, true), 0),
			 -1);
	ck_assert_int_eq(cache_get(c, client(1, "k.example", DNS_T_AAAA, DNS_C_IN, -1, false), 0),
			 -1);
	ck_assert_int_eq(cache_get(c, client(1, "k.example", DNS_T_A, DNS_C_CH, -1, false), 0), -1);
	ck_assert_int_eq(cache_get(c, client(1, "k.example.", DNS_T_A, DNS_C_IN, -1, false), 0), 0);
	/* a client without EDNS gets no OPT */
	ck_assert_uint_eq(R.h.arcount, 0);
	ck_assert_uint_eq(R.h.ancount, 1);
	/* one with EDNS gets ours */
	ck_assert_int_eq(cache_get(c, client(1, "k.example", DNS_T_A, DNS_C_IN, 4096, false), 0),
			 0);
	ck_assert_uint_eq(R.h.arcount, 1);
	ck_assert_uint_eq(R.rr[1].type, DNS_T_OPT);
	ck_assert(!(R.rr[1].ttl & DNS_EDNS_DO));
	/* too small an output buffer: a miss, nothing written past it */
	ck_assert_int_eq(dns_cache_get(c, &CQ, 0, small, sizeof(small), &n), -1);

	/* DO set: stored and answered with DO */
	ulen = upstream(up, "k.example", DNS_T_A, 1232, true, 0, 1, 100, 0, -1, 0);
	client(1, "k.example", DNS_T_A, DNS_C_IN, 1232, true);
	ck_assert_int_eq(dns_cache_put(c, &CQ, up, ulen, 0), 0);
	ck_assert_uint_eq(dns_cache_count(c), 2);
	ck_assert_int_eq(cache_get(c, &CQ, 0), 0);
	ck_assert(R.rr[1].ttl & DNS_EDNS_DO);
	dns_cache_free(c);
}
END_TEST

/* ==== dns_forward ==== */

/*
 * A responder: a child process answering on 127.0.0.1 over UDP and TCP (same
 * port).  What it does depends on the first label of the name:
 *   ok      A 192.0.2.<tag> over UDP, 192.0.2.<100+tag> over TCP
 *   tc      UDP: TC and nothing else; TCP: 40 A records
 *   bogus   UDP: first a wrong id, then a wrong name, then the answer
 *   fail    SERVFAIL from tag 1, an answer from the others
 *   silent  nothing
 */
struct responder {
	pid_t pid;
	struct sockaddr_storage addr;
};

static size_t
responder_answer(const uint8_t *qm, size_t qlen, bool tcp, int tag, uint8_t *out, size_t cap)
{
	struct dns_query q;
	struct dns_msg_builder b;
	const uint8_t *l;
	uint8_t a4[4] = {192, 0, 2, 0};
	size_t llen;
	int i;

	if (dns_msg_parse_query(qm, qlen, &q) != 0)
		return 0;
	dns_msg_init(&b, out, cap, &q);
	llen = dns_name_label(&q.name, 0, &l);
	if (llen == 6 && memcmp(l, "silent", 6) == 0)
		return 0;
	if (llen == 2 && memcmp(l, "tc", 2) == 0) {
		if (!tcp) {
			dns_msg_set_flags(&b, DNS_F_TC);
			return dns_msg_finish(&b, 512);
		}
		a4[0] = 198;
		a4[1] = 51;
		a4[2] = 100;
		for (i = 0; i < 40; i++) {
			a4[3] = (uint8_t)i;
			dns_msg_add_a(&b, &q.name, 60, a4);
		}
		return dns_msg_finish(&b, cap);
	}
	if (llen == 4 && memcmp(l, "fail", 4) == 0 && tag == 1) {
		dns_msg_set_rcode(&b, DNS_R_SERVFAIL);
		return dns_msg_finish(&b, cap);
	}
	a4[3] = (uint8_t)(tcp ? 100 + tag : tag);
	dns_msg_add_a(&b, &q.name, 60, a4);
	return dns_msg_finish(&b, tcp ? cap : 512);
}

static bool
read_full(int fd, uint8_t *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		if ((r = read(fd, p, n)) <= 0)
			return false;
		p += r;
		n -= (size_t)r;
	}
	return true;
}

static void
responder_run(int udp, int tcp, int tag)
{
	struct pollfd pf[2];
	struct sockaddr_storage from;
	socklen_t fl;
	uint8_t in[DNS_MSG_MAX], out[DNS_MSG_MAX + 2];
	ssize_t n;
	size_t len;
	int c;

	pf[0].fd = udp;
	pf[0].events = POLLIN;
	pf[1].fd = tcp;
	pf[1].events = POLLIN;
	for (;;) {
		if (poll(pf, 2, -1) == -1)
			continue;
		if (pf[0].revents & POLLIN) {
			fl = sizeof(from);
			n = recvfrom(udp, in, sizeof(in), 0, (struct sockaddr *)&from, &fl);
			if (n <= 0)
				continue;
			len = responder_answer(in, (size_t)n, false, tag, out, sizeof(out));
			if (len == 0)
				continue;
			if (n > 12 && in[12] == 5 && memcmp(in + 13, "bogus", 5) == 0) {
				/* a wrong id, then another name, then the answer */
				out[0] ^= 0x5a;
				sendto(udp, out, len, 0, (struct sockaddr *)&from, fl);
				out[0] ^= 0x5a;
				out[13] = 'B';
				out[14] = 'X';
				sendto(udp, out, len, 0, (struct sockaddr *)&from, fl);
				out[13] = 'b';
				out[14] = 'o';
			}
			sendto(udp, out, len, 0, (struct sockaddr *)&from, fl);
		}
		if (pf[1].revents & POLLIN) {
			if ((c = accept(tcp, NULL, NULL)) == -1)
				continue;
			if (read_full(c, in, 2) && read_full(c, in + 2, r16(in))) {
				len = responder_answer(in + 2, r16(in), true, tag, out + 2,
						       sizeof(out) - 2);
				if (len > 0) {
					w16(out, (uint16_t)len);
					(void)!write(c, out, len + 2);
				}
			}
			close(c);
		}
	}
}

/* UDP and TCP sockets on one free port of 127.0.0.1. */
static void
bind_pair(int *udp, int *tcp, struct sockaddr_in *sin)
{
	socklen_t sl;
	int i, one = 1;

	for (i = 0; i < 50; i++) {
		memset(sin, 0, sizeof(*sin));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*udp = socket(AF_INET, SOCK_DGRAM, 0);
		ck_assert_int_ne(*udp, -1);
		ck_assert_int_eq(bind(*udp, (struct sockaddr *)sin, sizeof(*sin)), 0);
		sl = sizeof(*sin);
		getsockname(*udp, (struct sockaddr *)sin, &sl);
		*tcp = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(*tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(*tcp, (struct sockaddr *)sin, sizeof(*sin)) == 0 && listen(*tcp, 16) == 0)
			return;
		close(*udp);
		close(*tcp);
	}
	ck_abort_msg("no free port pair");
}

static void
responder_start(struct responder *r, int tag)
{
	struct sockaddr_in sin;
	int udp, tcp;

	bind_pair(&udp, &tcp, &sin);
	memset(&r->addr, 0, sizeof(r->addr));
	memcpy(&r->addr, &sin, sizeof(sin));
	r->pid = fork();
	ck_assert_int_ne(r->pid, -1);
	if (r->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		responder_run(udp, tcp, tag);
		_exit(0);
	}
	close(udp);
	close(tcp);
}

static void
responder_stop(struct responder *r)
{
	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
}

/* An upstream that never answers: a bound UDP socket nobody reads. */
static int
silent_upstream(struct sockaddr_storage *ss)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, &sin, sizeof(sin));
	return fd;
}

/* An upstream port with nothing behind it (ICMP port unreachable). */
static void
closed_upstream(struct sockaddr_storage *ss)
{
	close(silent_upstream(ss));
}

struct fwd_result {
	int calls;
	bool null;
	uint8_t resp[DNS_MSG_MAX];
	size_t len;
};

static void
fwd_done(void *arg, const uint8_t *resp, size_t len)
{
	struct fwd_result *r = arg;

	r->calls++;
	if (resp == NULL) {
		r->null = true;
		return;
	}
	memcpy(r->resp, resp, len);
	r->len = len;
}

static void
guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(int *)w->data = 1;
	ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until *calls reaches want or max seconds pass. */
static void
run_until(struct ev_loop *loop, const int *calls, int want, double max)
{
	ev_timer guard;
	int expired = 0;

	ev_timer_init(&guard, guard_cb, max, 0.);
	guard.data = &expired;
	ev_timer_start(loop, &guard);
	while (*calls < want && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
}

static void
fwd_ask(struct ev_loop *loop, struct dns_fwd *f, const char *name, struct fwd_result *res)
{
	uint8_t qb[512];
	size_t qlen;

	memset(res, 0, sizeof(*res));
	qlen = q_make(qb, 0x1111, name, DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_fwd_query(f, qb, qlen, fwd_done, res), 0);
	/* never called from inside dns_fwd_query */
	ck_assert_int_eq(res->calls, 0);
	run_until(loop, &res->calls, 1, 10.);
	ck_assert_int_eq(res->calls, 1);
	if (!res->null) {
		memcpy(R.msg, res->resp, res->len);
		R.len = res->len;
		resp_scan(&R);
		ck_assert_uint_eq(R.h.id, 0x1111);
	}
}

START_TEST(test_fwd_udp_tcp)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct responder r;
	struct dns_fwd *f;
	struct fwd_result res;

	responder_start(&r, 1);
	f = dns_fwd_new(loop, &r.addr, 1);
	fwd_ask(loop, f, "ok.test", &res);
	ck_assert(!res.null);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "ok.test", "192.0.2.1"));
	ck_assert_uint_eq(dns_fwd_outstanding(f), 0);
	/* TC over UDP: asked again over TCP */
	fwd_ask(loop, f, "tc.test", &res);
	ck_assert(!(R.h.flags & DNS_F_TC));
	ck_assert_uint_eq(R.h.ancount, 40);
	/* answers that do not match are ignored */
	fwd_ask(loop, f, "bogus.test", &res);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "bogus.test", "192.0.2.1"));
	/* TCP only (EdgeMesh's force_tcp) */
	dns_fwd_set_tcp_only(f, true);
	fwd_ask(loop, f, "ok.test", &res);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, "ok.test", "192.0.2.101"));
	dns_fwd_free(f);
	responder_stop(&r);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_fwd_failover)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct sockaddr_storage ups[2];
	struct responder r1, r2;
	struct dns_fwd *f;
	struct fwd_result res;
	int silent;

	/* the first does not answer: the second after the timeout */
	responder_start(&r2, 2);
	silent = silent_upstream(&ups[0]);
	ups[1] = r2.addr;
	f = dns_fwd_new(loop, ups, 2);
	dns_fwd_set_timeout(f, 0.2);
	fwd_ask(loop, f, "ok.test", &res);
	ck_assert(!res.null);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "192.0.2.2"));
	/* the one that answered is asked first from now on */
	fwd_ask(loop, f, "ok.test", &res);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "192.0.2.2"));
	dns_fwd_free(f);

	/* the first is refused (port unreachable) */
	closed_upstream(&ups[0]);
	f = dns_fwd_new(loop, ups, 2);
	fwd_ask(loop, f, "ok.test", &res);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "192.0.2.2"));
	dns_fwd_free(f);

	/* SERVFAIL from the first: the second is asked */
	responder_start(&r1, 1);
	ups[0] = r1.addr;
	f = dns_fwd_new(loop, ups, 2);
	fwd_ask(loop, f, "fail.test", &res);
	ck_assert_int_eq(rcode(&R), DNS_R_NOERROR);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_A, NULL, "192.0.2.2"));
	dns_fwd_free(f);
	/* ... unless it is the only one: its SERVFAIL is the answer */
	f = dns_fwd_new(loop, ups, 1);
	fwd_ask(loop, f, "fail.test", &res);
	ck_assert(!res.null);
	ck_assert_int_eq(rcode(&R), DNS_R_SERVFAIL);
	dns_fwd_free(f);

	/* nobody answers: done(NULL), once */
	closed_upstream(&ups[1]);
	ups[0] = ups[1];
	silent_upstream(&ups[1]);
	f = dns_fwd_new(loop, ups, 2);
	dns_fwd_set_timeout(f, 0.2);
	fwd_ask(loop, f, "ok.test", &res);
	ck_assert(res.null);
	run_until(loop, &res.calls, 2, 0.5);
	ck_assert_int_eq(res.calls, 1);
	dns_fwd_free(f);

	close(silent);
	responder_stop(&r1);
	responder_stop(&r2);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_fwd_limits)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct sockaddr_storage up;
	struct fwd_result r1, r2, r3;
	struct dns_fwd *f;
	uint8_t qb[512];
	size_t qlen;
	int silent;

	memset(&r1, 0, sizeof(r1));
	memset(&r2, 0, sizeof(r2));
	memset(&r3, 0, sizeof(r3));
	silent = silent_upstream(&up);
	f = dns_fwd_new(loop, &up, 1);
	dns_fwd_set_max_outstanding(f, 2);
	qlen = q_make(qb, 1, "silent.test", DNS_T_A, DNS_C_IN, -1, false);
	ck_assert_int_eq(dns_fwd_query(f, qb, qlen, fwd_done, &r1), 0);
	ck_assert_int_eq(dns_fwd_query(f, qb, qlen, fwd_done, &r2), 0);
	ck_assert_int_eq(dns_fwd_query(f, qb, qlen, fwd_done, &r3), -1);
	ck_assert_uint_eq(dns_fwd_outstanding(f), 2);
	/* no question, short */
	w16(qb + 4, 0);
	ck_assert_int_eq(dns_fwd_query(f, qb, qlen, fwd_done, &r3), -1);
	ck_assert_int_eq(dns_fwd_query(f, qb, 5, fwd_done, &r3), -1);
	/* cancel: never called */
	dns_fwd_cancel(f, &r1);
	ck_assert_uint_eq(dns_fwd_outstanding(f), 1);
	/* free: the rest fail */
	dns_fwd_free(f);
	ck_assert_int_eq(r1.calls, 0);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert(r2.null);
	ck_assert_int_eq(r3.calls, 0);

	/* no upstreams at all */
	f = dns_fwd_new(loop, NULL, 0);
	w16(qb + 4, 1);
	ck_assert_int_eq(dns_fwd_query(f, qb, qlen, fwd_done, &r3), -1);
	dns_fwd_free(f);
	close(silent);
	ev_loop_destroy(loop);
}
END_TEST

START_TEST(test_upstream_parse)
{
	struct sockaddr_storage ss;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;

	ck_assert_int_eq(dns_upstream_parse("10.0.0.2", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(s4->sin_port), 53);
	ck_assert_uint_eq(ntohl(s4->sin_addr.s_addr), 0x0a000002);
	ck_assert_int_eq(dns_upstream_parse("10.0.0.2:5353", &ss), 0);
	ck_assert_uint_eq(ntohs(s4->sin_port), 5353);
	ck_assert_int_eq(dns_upstream_parse("fd00::53", &ss), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 53);
	ck_assert_int_eq(dns_upstream_parse("[fd00::53]:54", &ss), 0);
	ck_assert_uint_eq(ntohs(s6->sin6_port), 54);
	ck_assert_int_eq(dns_upstream_parse("[::1]", &ss), 0);
	ck_assert_int_eq(dns_upstream_parse("fe80::1%lo", &ss), 0);
	ck_assert_uint_ne(s6->sin6_scope_id, 0);

	ck_assert_int_eq(dns_upstream_parse("", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("10.0.0.2:0", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("10.0.0.2:70000", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("10.0.0.2:", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("10.0.0.2:x", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("[fd00::1", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("[fd00::1]x", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("dns.example.com", &ss), -1);
	ck_assert_int_eq(dns_upstream_parse("10.0.0.256", &ss), -1);
}
END_TEST

START_TEST(test_resolv_conf)
{
	char path[] = "/tmp/check_dns_resolv.XXXXXX";
	struct sockaddr_storage skip, out[8];
	const struct sockaddr_in *s4;
	char ip[INET6_ADDRSTRLEN];
	size_t n;
	FILE *fp;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ne(fd, -1);
	fp = fdopen(fd, "w");
	fputs("# generated\n"
	      "; another comment\n"
	      "search default.svc.cluster.local svc.cluster.local\n"
	      "nameserver 10.0.0.2\n"
	      "nameserver 169.254.96.16\n"
	      "  nameserver\tfd00::53   # trailing comment\n"
	      "nameserver 127.0.0.53\n"
	      "nameserver 10.0.0.2\n"
	      "nameserver bogus\n"
	      "nameserverx 1.1.1.1\n"
	      "nameserver\n"
	      "options ndots:5\n",
	      fp);
	fclose(fp);

	ck_assert_int_eq(dns_upstream_parse("169.254.96.16", &skip), 0);
	ck_assert_int_eq(dns_upstreams_from_resolv_conf(path, &skip, 1, out, 8, &n), 0);
	ck_assert_uint_eq(n, 3);
	s4 = (const struct sockaddr_in *)&out[0];
	inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
	ck_assert_str_eq(ip, "10.0.0.2");
	ck_assert_uint_eq(ntohs(s4->sin_port), 53);
	ck_assert_int_eq(out[1].ss_family, AF_INET6);
	s4 = (const struct sockaddr_in *)&out[2];
	inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
	ck_assert_str_eq(ip, "127.0.0.53");
	/* our address on another port is not us */
	ck_assert_int_eq(dns_upstream_parse("169.254.96.16:5353", &skip), 0);
	ck_assert_int_eq(dns_upstreams_from_resolv_conf(path, &skip, 1, out, 8, &n), 0);
	ck_assert_uint_eq(n, 4);
	/* bounded by max */
	ck_assert_int_eq(dns_upstreams_from_resolv_conf(path, NULL, 0, out, 1, &n), 0);
	ck_assert_uint_eq(n, 1);
	unlink(path);
	ck_assert_int_eq(dns_upstreams_from_resolv_conf(path, NULL, 0, out, 8, &n), -1);
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* ==== dns_map ==== */

static int
map_sum(const void *key, size_t klen, void *val, void *arg)
{
	*(uintptr_t *)arg += (uintptr_t)val;
	return 0;
}

static int
map_stop(const void *key, size_t klen, void *val, void *arg)
{
	return -1;
}

START_TEST(test_map)
{
	struct dns_map *m = dns_map_new();
	uintptr_t i, sum = 0;
	uint8_t key[8];

	/* binary keys, NUL octets included */
	for (i = 1; i <= 5000; i++) {
		memset(key, 0, sizeof(key));
		memcpy(key, &i, sizeof(i) < sizeof(key) ? sizeof(i) : sizeof(key));
		ck_assert_int_eq(dns_map_put(m, key, sizeof(key), (void *)i), 0);
	}
	ck_assert_uint_eq(dns_map_count(m), 5000);
	memset(key, 0, sizeof(key));
	i = 77;
	memcpy(key, &i, sizeof(i));
	ck_assert_ptr_eq(dns_map_get(m, key, sizeof(key)), (void *)77);
	ck_assert_ptr_null(dns_map_get(m, key, sizeof(key) - 1));
	/* a key that is there is not replaced */
	ck_assert_int_eq(dns_map_put(m, key, sizeof(key), (void *)1), -1);
	ck_assert_ptr_eq(dns_map_get(m, key, sizeof(key)), (void *)77);
	ck_assert_ptr_eq(dns_map_del(m, key, sizeof(key)), (void *)77);
	ck_assert_ptr_null(dns_map_del(m, key, sizeof(key)));
	ck_assert_ptr_null(dns_map_get(m, key, sizeof(key)));
	ck_assert_uint_eq(dns_map_count(m), 4999);
	ck_assert_int_eq(dns_map_foreach(m, map_sum, &sum), 0);
	ck_assert_uint_eq(sum, 5000 * 5001 / 2 - 77);
	ck_assert_int_eq(dns_map_foreach(m, map_stop, NULL), -1);
	/* the empty key */
	ck_assert_int_eq(dns_map_put(m, "", 0, (void *)9), 0);
	ck_assert_ptr_eq(dns_map_get(m, "", 0), (void *)9);
	dns_map_free(m, NULL);
}
END_TEST

START_TEST(test_append_types)
{
	uint8_t qb[512], up[1024];
	struct dns_query q;
	struct dns_msg_builder b;
	struct dns_name owner, t, mname, rname;
	struct dns_soa soa;
	size_t qlen, ulen;
	ssize_t i;
	char buf[DNS_NAME_TEXT_MAX];

	/* upstream: SRV, SOA (compressed names), TXT, NS */
	qlen = q_make(qb, 3, "_x._tcp.example.com", DNS_T_ANY, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, up, sizeof(up), &q);
	owner = q.name;
	dns_name_from_text(&t, "host.example.com");
	dns_name_from_text(&mname, "ns.example.com");
	dns_name_from_text(&rname, "admin.example.com");
	dns_msg_add_srv(&b, &owner, 10, 1, 2, 3, &t);
	soa.mname = &mname;
	soa.rname = &rname;
	soa.serial = 5;
	soa.refresh = soa.retry = soa.expire = 6;
	soa.minimum = 7;
	dns_msg_add_soa(&b, &owner, 10, &soa);
	dns_msg_add_txt(&b, &owner, 10, "hello");
	dns_msg_add_ns(&b, &owner, 10, &mname);
	ulen = dns_msg_finish(&b, sizeof(up));

	qlen = q_make(qb, 4, "other.test", DNS_T_ANY, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	ck_assert_int_eq(dns_msg_append_answers(&b, up, ulen), 0);
	R.len = dns_msg_finish(&b, DNS_MSG_MAX);
	resp_scan(&R);
	ck_assert_uint_eq(R.h.ancount, 4);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SRV, "_x._tcp.example.com", "host.example.com");
	ck_assert_int_ne(i, -1);
	ck_assert_uint_eq(R.rr[i].rdlen, 6 + t.len);
	i = find(&R, DNS_SEC_ANSWER, DNS_T_SOA, "_x._tcp.example.com", NULL);
	ck_assert_int_ne(i, -1);
	name_at(&R, R.rr[i].rdata_off, buf, sizeof(buf));
	ck_assert_str_eq(buf, "ns.example.com");
	ck_assert_uint_eq(r32(R.msg + R.rr[i].rdata_off + R.rr[i].rdlen - 4), 7);
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_TXT, NULL, "hello"));
	ck_assert(has(&R, DNS_SEC_ANSWER, DNS_T_NS, NULL, "ns.example.com"));

	/* a CNAME whose rdata is longer than its name: refused */
	qlen = q_make(qb, 3, "a.example", DNS_T_CNAME, DNS_C_IN, -1, false);
	parse_ok(qb, qlen, &q);
	dns_msg_init(&b, up, sizeof(up), &q);
	owner = q.name;
	dns_msg_add_rr(&b, &owner, DNS_T_CNAME, DNS_C_IN, 5, (const uint8_t *)"\001b\000\000", 4);
	ulen = dns_msg_finish(&b, sizeof(up));
	dns_msg_init(&b, R.msg, sizeof(R.msg), &q);
	ck_assert_int_eq(dns_msg_append_answers(&b, up, ulen), -1);
}
END_TEST

/* ==== the suite ==== */

static Suite *
dns_suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc;

	tc = tcase_create("msg");
	tcase_add_test(tc, test_name_text);
	tcase_add_test(tc, test_parse_basic);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_parse_truncated);
	tcase_add_test(tc, test_compression_loops);
	tcase_add_test(tc, test_edns);
	tcase_add_test(tc, test_error_replies);
	tcase_add_test(tc, test_build_roundtrip);
	tcase_add_test(tc, test_txt_long);
	tcase_add_test(tc, test_truncation);
	tcase_add_test(tc, test_overflow_cap);
	tcase_add_test(tc, test_msg_truncate);
	tcase_add_test(tc, test_append_answers);
	tcase_add_test(tc, test_append_types);
	tcase_add_test(tc, test_map);
	tcase_add_test(tc, test_garbage);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("zone");
	tcase_add_test(tc, test_zone_clusterip);
	tcase_add_test(tc, test_zone_headless);
	tcase_add_test(tc, test_zone_headless_dashed_v6);
	tcase_add_test(tc, test_zone_srv);
	tcase_add_test(tc, test_zone_ptr);
	tcase_add_test(tc, test_zone_external);
	tcase_add_test(tc, test_zone_cname_loop);
	tcase_add_test(tc, test_zone_pod);
	tcase_add_test(tc, test_zone_apex);
	tcase_add_test(tc, test_zone_nxdomain_nodata);
	tcase_add_test(tc, test_zone_not_ours);
	tcase_add_test(tc, test_zone_unsynced);
	tcase_add_test(tc, test_zone_updates);
	tcase_add_test(tc, test_zone_shared_ip);
	tcase_add_test(tc, test_zone_custom_domain);
	tcase_add_test(tc, test_zone_big_headless);
	tcase_add_test(tc, test_zone_scale);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_test(tc, test_cache_hit);
	tcase_add_test(tc, test_cache_ttl);
	tcase_add_test(tc, test_cache_negative);
	tcase_add_test(tc, test_cache_refuses);
	tcase_add_test(tc, test_cache_lru);
	tcase_add_test(tc, test_cache_key_and_opt);
	suite_add_tcase(s, tc);

	tc = tcase_create("forward");
	tcase_add_test(tc, test_fwd_udp_tcp);
	tcase_add_test(tc, test_fwd_failover);
	tcase_add_test(tc, test_fwd_limits);
	tcase_add_test(tc, test_upstream_parse);
	tcase_add_test(tc, test_resolv_conf);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	log_init("check_dns", 0);
	signal(SIGPIPE, SIG_IGN);
	sr = srunner_create(dns_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
