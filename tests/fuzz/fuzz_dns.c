/*
 * libFuzzer target for the dnsd engine: the input is parsed as a query and
 * answered from a small populated zone (UDP and TCP limits); every reply
 * must parse again.  The input also goes through the paths that read
 * upstream responses (scan, truncate, strip OPT, append, cache put/get).
 *
 * Built and run by `make fuzz` (tests/fuzz/fuzz.mk); by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *       -Icommon -Idnsd tests/fuzz/fuzz_dns.c common/dns_msg.c dnsd/dns_map.c \
 *       dnsd/dns_zone.c dnsd/dns_cache.c common/hmap.c common/model.c common/log.c \
 *       -lev -lsodium -o build/fuzz_dns
 *   mkdir -p build/fuzz_dns_corpus && build/fuzz_dns build/fuzz_dns_corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../dnsd/dns.h"
#include "log.h"
#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct dns_zone *zone;
static struct dns_cache *cache;
static uint8_t out[DNS_MSG_MAX], scratch[DNS_MSG_MAX];

static void
port_add(struct em_port **ports, size_t *n, const char *name, uint16_t port, int proto)
{
	struct em_port *p;

	*ports = xreallocarray(*ports, *n + 1, sizeof(**ports));
	p = &(*ports)[(*n)++];
	memset(p, 0, sizeof(*p));
	p->name = xstrdup(name);
	p->port = port;
	p->target_port_name = xstrdup("");
	p->proto = (uint8_t)proto;
}

static struct em_service *
svc(const char *ns, const char *name, const char *cip, int type, const char *ext)
{
	struct em_service *s = xcalloc(1, sizeof(*s));

	s->ns = xstrdup(ns);
	s->name = xstrdup(name);
	s->type = (uint8_t)type;
	s->cluster_ip = xstrdup(cip);
	s->headless = strcmp(cip, "None") == 0;
	s->external_name = xstrdup(ext);
	s->hash_arg = xstrdup("");
	if (!s->headless && *cip != '\0') {
		s->cluster_ips[0] = xstrdup(cip);
		s->n_cluster_ips = 1;
	}
	port_add(&s->ports, &s->nports, "http", 80, EM_PROTO_TCP);
	port_add(&s->ports, &s->nports, "dns", 53, EM_PROTO_UDP);
	return s;
}

static struct em_endpoints *
eps(const char *ns, const char *name, int n)
{
	struct em_endpoints *e = xcalloc(1, sizeof(*e));
	char ip[32], host[32];
	int i;

	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
	port_add(&e->ports, &e->nports, "http", 8080, EM_PROTO_TCP);
	e->eps = xcalloc((size_t)n, sizeof(*e->eps));
	e->neps = (size_t)n;
	for (i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), i % 3 == 2 ? "fd00::%d" : "10.1.0.%d", i + 1);
		host[0] = '\0';
		if (i % 2 == 0)
			snprintf(host, sizeof(host), "pod-%d", i);
		e->eps[i].ip = xstrdup(ip);
		e->eps[i].hostname = xstrdup(host);
		e->eps[i].node = xstrdup("");
		e->eps[i].zone = xstrdup("");
		e->eps[i].pod = xstrdup("");
		e->eps[i].ready = i % 5 != 4;
	}
	return e;
}

static void
setup(void)
{
	log_init("fuzz_dns", 0);
	zone = dns_zone_new("cluster.local", 30, "169.254.96.16");
	dns_zone_set_synced(zone, true);
	dns_zone_upsert_service(zone, svc("default", "kubernetes", "10.96.0.1", 0, ""));
	dns_zone_upsert_service(zone, svc("default", "web", "fd00::10", 0, ""));
	dns_zone_upsert_service(zone, svc("default", "db", "None", 0, ""));
	dns_zone_upsert_endpoints(zone, eps("default", "db", 40));
	dns_zone_upsert_service(zone,
				svc("default", "ext", "", EM_SVC_EXTERNAL_NAME, "example.com"));
	dns_zone_upsert_service(zone, svc("default", "alias", "", EM_SVC_EXTERNAL_NAME,
					  "db.default.svc.cluster.local"));
	dns_zone_upsert_service(zone, svc("kube-system", "loop", "", EM_SVC_EXTERNAL_NAME,
					  "loop.kube-system.svc.cluster.local"));
	dns_zone_upsert_endpoints(zone, eps("default", "web", 3));
	cache = dns_cache_new(64, 30);
}

static void
check_reply(const uint8_t *msg, size_t len, size_t limit)
{
	struct dns_hdr h;

	if (len > limit || dns_msg_scan(msg, len, &h, NULL, 0, NULL, NULL) == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_msg_builder b;
	struct dns_query q;
	struct dns_name chase;
	struct dns_hdr h;
	size_t len, limit, n;
	int rc;

	if (zone == NULL)
		setup();
	if (size > DNS_MSG_MAX)
		return 0;

	/* as a query */
	rc = dns_msg_parse_query(data, size, &q);
	if (rc != -1) {
		limit = dns_msg_udp_limit(&q);
		dns_msg_init(&b, out, sizeof(out), &q);
		if (rc != 0)
			dns_msg_set_rcode(&b, rc);
		else if (dns_zone_answer(zone, &q, &b, &chase) == DNS_ZONE_FORWARD) {
			if (dns_cache_get(cache, &q, 1000, out, sizeof(out), &len) == 0)
				check_reply(out, dns_msg_truncate(out, len, limit), limit);
			return 0;
		}
		len = dns_msg_finish(&b, limit);
		check_reply(out, len, limit);
		if (rc == 0) {
			/* the same answer again over TCP */
			dns_msg_init(&b, out, sizeof(out), &q);
			dns_zone_answer(zone, &q, &b, NULL);
			len = dns_msg_finish(&b, DNS_MSG_MAX);
			check_reply(out, len, DNS_MSG_MAX);
			/* and our own answer as an upstream's */
			if (dns_cache_put(cache, &q, out, len, 0) == 0 &&
			    dns_cache_get(cache, &q, 1000, scratch, sizeof(scratch), &n) == 0)
				check_reply(scratch, n, sizeof(scratch));
			/* the input as an upstream response to it */
			dns_cache_put(cache, &q, data, size, 0);
			dns_msg_init(&b, out, sizeof(out), &q);
			dns_msg_append_answers(&b, data, size);
			len = dns_msg_finish(&b, limit);
			check_reply(out, len, limit);
		}
	}

	/* as a response */
	(void)dns_msg_scan(data, size, &h, NULL, 0, NULL, NULL);
	memcpy(scratch, data, size);
	len = dns_msg_truncate(scratch, size, DNS_UDP_MIN);
	if (len != 0 && len != size)
		check_reply(scratch, len, DNS_UDP_MIN);
	memcpy(scratch, data, size);
	len = dns_msg_strip_opt(scratch, size);
	if (len != 0 && len != size)
		check_reply(scratch, len, size);
	return 0;
}
