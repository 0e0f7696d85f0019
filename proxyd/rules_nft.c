/*
 * nftables backend: one table `ip edgemesh`, two sets of clusterIP . port
 * (svc_tcp, svc_udp), fixed chains, and for each UDP port the kernel
 * forwards (rules.c) its own chain, an element of the verdict map
 * udp_kernel and of the set svc_udp_kernel.  A service change is one
 * element add or delete (a kernel-forwarded port: its chain rewritten); the
 * full install replaces the table in one atomic nft -f transaction.
 *
 *   nat prerouting/output  ip daddr . udp dport vmap @udp_kernel  (jump udp_VIP_PORT)
 *                          ip daddr . tcp dport @svc_tcp dnat to BIP:PORT
 *                          ip daddr . udp dport @svc_udp dnat to BIP:PORT
 *   udp_VIP_PORT           ip saddr { endpoints } return  (a pod asking its own service)
 *                          counter dnat to numgen inc|random mod N map { i : ep . port }
 *   nat postrouting        DNATed, original destination in @svc_udp_kernel: masquerade
 *
 * A pod that asks its own service goes to proxyd as before: the kernel path
 * would send its datagram back out the bridge port it came in by, which a
 * bridge without hairpin mode drops.  The masquerade keeps what the pod
 * saw when proxyd relayed (the node's address) and brings its answer back
 * through this node's conntrack even when the client is on the same
 * bridge with br_netfilter off.
 *
 * UDP is DNATed too, not TPROXYed: TPROXY does not reach us from pods on a
 * bridge with br_netfilter on; proxy_ct.c finds the ClusterIP in conntrack.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxyd.h"

struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 256;
		b->s = xreallocarray(b->s, b->cap, 1);
	}
}

static int
nft_exec(struct sbuf *b, const char *what)
{
	static const char *const argv[] = {"nft", "-f", "-", NULL};
	char out[1024];

	if (rules_run(argv, b->s, b->len, out, sizeof(out)) == -1) {
		log_warnx("nft %s failed: %s", what, out);
		return -1;
	}
	return 0;
}

/* elements of one proto from a map of keys, "a . p, b . q" */
static size_t
nft_elements(struct sbuf *b, struct hmap *m, int proto, const char *sep)
{
	struct hmap_iter it;
	const char *k;
	void *v;
	char ip[46];
	uint16_t port;
	int pr;
	size_t n = 0;

	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v)) {
		if (rules_key_parse(k, ip, sizeof(ip), &port, &pr) == -1 || pr != proto)
			continue;
		sb_printf(b, "%s%s . %u", n ? sep : "", ip, port);
		n++;
	}
	return n;
}

/* "add chain ..; add rule .." of a kernel-forwarded port (the chain exists: flush) */
static void
nft_kernel_chain(struct sbuf *b, const char *key, const struct rules_kernel *k, int exists)
{
	char ch[64], ip[INET_ADDRSTRLEN];
	size_t i;

	rules_kernel_chain(ch, sizeof(ch), key, 0);
	sb_printf(b, "%s chain ip edgemesh %s\n", exists ? "flush" : "add", ch);
	/* an endpoint asking its own service: to proxyd, as before (no hairpin needed) */
	sb_printf(b, "add rule ip edgemesh %s ip saddr { ", ch);
	for (i = 0; i < k->n; i++) {
		inet_ntop(AF_INET, &k->eps[i].sin_addr, ip, sizeof(ip));
		sb_printf(b, "%s%s", i ? ", " : "", ip);
	}
	sb_printf(b, " } return\n");
	sb_printf(
	    b, "add rule ip edgemesh %s meta l4proto udp counter dnat to numgen %s mod %zu map { ",
	    ch, k->random ? "random" : "inc", k->n);
	for (i = 0; i < k->n; i++) {
		inet_ntop(AF_INET, &k->eps[i].sin_addr, ip, sizeof(ip));
		sb_printf(b, "%s%zu : %s . %u", i ? ", " : "", i, ip, ntohs(k->eps[i].sin_port));
	}
	sb_printf(b, " } comment \"%s\"\n", k->comment);
}

/* the key "ip:port/udp" as an element "ip . port" */
static void
nft_key_elem(struct sbuf *b, const char *key)
{
	char ip[46];
	uint16_t port;
	int pr;

	if (rules_key_parse(key, ip, sizeof(ip), &port, &pr) == 0)
		sb_printf(b, "%s . %u", ip, port);
}

static void
nft_kernel_add(struct sbuf *b, const char *key, const struct rules_kernel *k)
{
	char ch[64];

	rules_kernel_chain(ch, sizeof(ch), key, 0);
	nft_kernel_chain(b, key, k, 0);
	sb_printf(b, "add element ip edgemesh udp_kernel { ");
	nft_key_elem(b, key);
	sb_printf(b, " : jump %s }\nadd element ip edgemesh svc_udp_kernel { ", ch);
	nft_key_elem(b, key);
	sb_printf(b, " }\n");
}

static void
nft_kernel_del(struct sbuf *b, const char *key)
{
	char ch[64];

	rules_kernel_chain(ch, sizeof(ch), key, 0);
	sb_printf(b, "delete element ip edgemesh udp_kernel { ");
	nft_key_elem(b, key);
	sb_printf(b, " }\ndelete element ip edgemesh svc_udp_kernel { ");
	nft_key_elem(b, key);
	sb_printf(b, " }\ndelete chain ip edgemesh %s\n", ch);
}

/* "VERB element ip edgemesh svc_tcp|udp { ... }" for m's elements of proto, if any. */
static void
nft_element_op(struct sbuf *b, const char *verb, struct hmap *m, int proto)
{
	size_t mark = b->len;

	sb_printf(b, "%s element ip edgemesh svc_%s { ", verb,
		  proto == EM_PROTO_TCP ? "tcp" : "udp");
	if (nft_elements(b, m, proto, ", ") == 0)
		b->len = mark;
	else
		sb_printf(b, " }\n");
}

static int
nft_full(struct proxyd *p)
{
	struct sbuf b = {NULL, 0, 0};
	char bip[INET_ADDRSTRLEN];
	size_t n;
	int rc, proto;
	struct hmap_iter it;
	const char *k;
	void *v;

	inet_ntop(AF_INET, &p->bind_ip, bip, sizeof(bip));
	sb_printf(&b, "table ip edgemesh {}\ndelete table ip edgemesh\ntable ip edgemesh {\n");
	for (proto = EM_PROTO_TCP; proto <= EM_PROTO_UDP; proto++) {
		sb_printf(&b, "\tset svc_%s { type ipv4_addr . inet_service;",
			  proto == EM_PROTO_TCP ? "tcp" : "udp");
		size_t mark = b.len;
		sb_printf(&b, " elements = { ");
		n = nft_elements(&b, p->rules, proto, ", ");
		if (n == 0)
			b.len = mark;
		else
			sb_printf(&b, " }");
		sb_printf(&b, " }\n");
	}
	sb_printf(&b, "\tset svc_udp_kernel { type ipv4_addr . inet_service; }\n"
		      "\tmap udp_kernel { type ipv4_addr . inet_service : verdict; }\n");
	sb_printf(
	    &b,
	    "\tchain nat_prerouting { type nat hook prerouting priority -110; policy accept; "
	    "ip daddr . udp dport vmap @udp_kernel; "
	    "ip daddr . tcp dport @svc_tcp dnat to %s:%u; "
	    "ip daddr . udp dport @svc_udp dnat to %s:%u; }\n"
	    "\tchain nat_output { type nat hook output priority -110; policy accept; "
	    "ip daddr . udp dport vmap @udp_kernel; "
	    "ip daddr . tcp dport @svc_tcp dnat to %s:%u; "
	    "ip daddr . udp dport @svc_udp dnat to %s:%u; }\n"
	    "\tchain nat_postrouting { type nat hook postrouting priority 110; policy accept; "
	    "meta l4proto udp ct status dnat ct original ip daddr . ct original proto-dst "
	    "@svc_udp_kernel masquerade; }\n}\n",
	    bip, p->port, bip, p->port, bip, p->port, bip, p->port);
	hmap_iter_init(&it);
	while (hmap_next(p->kern, &it, &k, &v))
		nft_kernel_add(&b, k, v);
	rc = nft_exec(&b, "full install");
	free(b.s);
	return rc;
}

static int
nft_apply(struct proxyd *p)
{
	struct sbuf b = {NULL, 0, 0};
	struct hmap_iter it;
	const struct rules_kernel *was, *now;
	const char *k;
	void *v;
	int rc, proto;

	for (proto = EM_PROTO_TCP; proto <= EM_PROTO_UDP; proto++) {
		nft_element_op(&b, "delete", p->rdel, proto);
		nft_element_op(&b, "add", p->radd, proto);
	}
	hmap_iter_init(&it);
	while (hmap_next(p->kchg, &it, &k, &v)) {
		was = v;
		now = hmap_get(p->kern, k);
		if (was->n > 0 && now != NULL)
			nft_kernel_chain(&b, k, now, 1);
		else if (now != NULL)
			nft_kernel_add(&b, k, now);
		else if (was->n > 0)
			nft_kernel_del(&b, k);
	}
	if (b.len == 0)
		return 0;
	log_debug("nft: %.*s", (int)(b.len > 400 ? 400 : b.len), b.s);
	rc = nft_exec(&b, "element update");
	free(b.s);
	return rc;
}

/* Each kernel-path port's flows: the counter of its chain in the listing
 * out, in one pass over it. */
static void
nft_kernel_counters(struct proxyd *p, const char *out)
{
	struct hmap *byc = rules_kernel_by_chain(p, 0);
	struct rules_kernel *k;
	const char *s, *e, *c;
	char ch[64];

	for (s = out; (s = strstr(s, "chain udp_")) != NULL; s = e) {
		s += 6;
		e = s + strcspn(s, " \n");
		if ((size_t)(e - s) >= sizeof(ch))
			continue;
		memcpy(ch, s, (size_t)(e - s));
		ch[e - s] = '\0';
		if ((k = hmap_get(byc, ch)) != NULL && (c = strstr(e, "counter packets ")) != NULL)
			k->flows = strtoull(c + 16, NULL, 10);
	}
	hmap_free(byc, NULL);
}

static int
nft_check(struct proxyd *p, int elements)
{
	static const char *const argv[] = {"nft", "list", "table", "ip", "edgemesh", NULL};
	const size_t cap = 4u << 20;
	char *out = xcalloc(1, cap), *s, want[64], bip[INET_ADDRSTRLEN];
	size_t n = 0, ndnat = 0;
	int rc = -1;

	if (rules_run(argv, "", 0, out, cap) == -1)
		goto done;
	nft_kernel_counters(p, out);
	inet_ntop(AF_INET, &p->bind_ip, bip, sizeof(bip));
	snprintf(want, sizeof(want), "dnat to %s:%u", bip, p->port);
	for (s = out; (s = strstr(s, want)) != NULL; s++)
		ndnat++;
	if (ndnat != 4 || strstr(out, "tproxy") != NULL)
		goto done;
	if (elements && strlen(out) < cap - 1) {
		/* count set elements: "<digit> . <digit>" */
		for (s = out; (s = strstr(s, " . ")) != NULL; s += 3)
			if (s > out && isdigit((unsigned char)s[-1]) &&
			    isdigit((unsigned char)s[3]))
				n++;
		/* the sets, the map udp_kernel and the endpoints of its chains */
		if (n != hmap_count(p->rules) + 2 * hmap_count(p->kern) + rules_kernel_endpoints(p))
			goto done;
	}
	rc = 0;
done:
	free(out);
	return rc;
}

static int
nft_cleanup(void)
{
	static const char *const argv[] = {"nft", "-f", "-", NULL};
	static const char txt[] = "table ip edgemesh {}\ndelete table ip edgemesh\n";
	char out[512];

	if (rules_run(argv, txt, sizeof(txt) - 1, out, sizeof(out)) == -1) {
		log_debug("nft cleanup: %s", out);
		return -1;
	}
	log_info("nftables: table ip edgemesh removed");
	return 0;
}

const struct rules_backend rules_nft = {
    "nftables", nft_full, nft_apply, nft_check, nft_cleanup,
};
