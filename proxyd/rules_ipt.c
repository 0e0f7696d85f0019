/*
 * iptables fallback (where nft is absent), with EdgeMesh's chain names and
 * comments (edgemesh-features §3.2) so that users' greps keep working:
 *
 *   nat    PREROUTING -> KUBE-PORTALS-CONTAINER  -p tcp|udp -d VIP --dport P -j DNAT BIP:PORT
 *   nat    OUTPUT     -> KUBE-PORTALS-HOST       (same)
 *
 * A UDP port the kernel forwards (rules.c) gets its own chain, jumped to
 * from the top of both chains, balanced as kube-proxy does (statistic nth
 * cascade for round robin over flows, random with probability 1/(N-i)),
 * and a masquerade of its DNATed flows:
 *
 *   KUBE-PORTALS-CONTAINER|HOST  -p udp -d VIP --dport P -j KUBE-PORTALS-U<VIP><PORT> (hex)
 *   KUBE-PORTALS-U...            -s EP -j RETURN  (a pod asking its own service: proxyd)
 *                                [-m statistic ...] -j DNAT --to-destination EP:PORT
 *   nat POSTROUTING -> KUBE-PORTALS-MASQ  -m conntrack --ctstate DNAT --ctproto udp --ctorigdst VIP
 *                                         --ctorigdstport P -j MASQUERADE
 *
 * The jumps are inserted at position 1 (before kube-proxy's KUBE-SERVICES).
 * The mangle chains of versions that sent UDP through TPROXY are removed
 * by the full install.
 * Without sets a service change is still one rule per chain, applied with
 * iptables-restore --noflush; the full install rewrites our chains only.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxyd.h"

#define JUMP_COMMENT "handle ClusterIPs; NOTE: this must be before the NodePort rules"

#define KCHAIN_PREFIX ":KUBE-PORTALS-U" /* a kernel-forwarded port's chain, in iptables-save */

/* the mangle jumps (the last two) are only removed: UDP TPROXY of older versions */
#define JUMPS_NAT 3
static const struct {
	const char *table, *hook, *chain;
} jumps[] = {
    {"nat", "PREROUTING", "KUBE-PORTALS-CONTAINER"},
    {"nat", "OUTPUT", "KUBE-PORTALS-HOST"},
    {"nat", "POSTROUTING", "KUBE-PORTALS-MASQ"},
    {"mangle", "PREROUTING", "KUBE-PORTALS-CONTAINER"},
    {"mangle", "OUTPUT", "KUBE-PORTALS-HOST"},
};

static void
ipt_rule(FILE *f, const char *op, const char *chain, const char *key, const char *comment,
	 const char *bip, unsigned port)
{
	char ip[46];
	uint16_t sport;
	int proto;
	const char *pn;

	if (rules_key_parse(key, ip, sizeof(ip), &sport, &proto) == -1)
		return;
	pn = proto == EM_PROTO_UDP ? "udp" : "tcp";
	fprintf(f,
		"%s %s -m comment --comment \"%s\" -p %s -m %s -d %s/32 --dport %u "
		"-j DNAT --to-destination %s:%u\n",
		op, chain, comment, pn, pn, ip, sport, bip, port);
}

static void
ipt_rules(FILE *f, const char *op, struct hmap *m, const char *bip, unsigned port)
{
	struct hmap_iter it;
	const char *k;
	void *v;

	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v)) {
		ipt_rule(f, op, "KUBE-PORTALS-CONTAINER", k, v, bip, port);
		ipt_rule(f, op, "KUBE-PORTALS-HOST", k, v, bip, port);
	}
}

/* A kernel-forwarded port's jumps and masquerade: op "-A", "-I" (at 1) or "-D" */
static void
ipt_kernel_jumps(FILE *f, const char *op, const char *key, const struct rules_kernel *k)
{
	static const char *const chains[] = {"KUBE-PORTALS-CONTAINER", "KUBE-PORTALS-HOST"};
	char ip[46], ch[64];
	uint16_t port;
	int proto;
	size_t i;

	if (rules_key_parse(key, ip, sizeof(ip), &port, &proto) == -1)
		return;
	rules_kernel_chain(ch, sizeof(ch), key, 1);
	for (i = 0; i < 2; i++)
		fprintf(f,
			"%s %s%s -m comment --comment \"%s\" -p udp -m udp -d %s/32 --dport %u "
			"-j %s\n",
			op, chains[i], strcmp(op, "-I") == 0 ? " 1" : "", k->comment, ip, port, ch);
	fprintf(f,
		"%s KUBE-PORTALS-MASQ -m comment --comment \"%s\" -p udp -m conntrack --ctstate "
		"DNAT --ctproto udp --ctorigdst %s/32 --ctorigdstport %u -j MASQUERADE\n",
		strcmp(op, "-D") == 0 ? "-D" : "-A", k->comment, ip, port);
}

/* A kernel-forwarded port's chain, declared (created, or flushed) before */
static void
ipt_kernel_rules(FILE *f, const char *key, const struct rules_kernel *k)
{
	char ch[64], ip[INET_ADDRSTRLEN];
	size_t i;

	rules_kernel_chain(ch, sizeof(ch), key, 1);
	/* an endpoint asking its own service: back to proxyd's DNAT (see rules_nft.c) */
	for (i = 0; i < k->n; i++) {
		inet_ntop(AF_INET, &k->eps[i].sin_addr, ip, sizeof(ip));
		fprintf(f, "-A %s -m comment --comment \"%s\" -s %s/32 -j RETURN\n", ch, k->comment,
			ip);
	}
	for (i = 0; i < k->n; i++) {
		inet_ntop(AF_INET, &k->eps[i].sin_addr, ip, sizeof(ip));
		fprintf(f, "-A %s -m comment --comment \"%s\" -p udp", ch, k->comment);
		if (i + 1 < k->n && k->random)
			fprintf(f, " -m statistic --mode random --probability %.11f",
				1.0 / (double)(k->n - i));
		else if (i + 1 < k->n)
			fprintf(f, " -m statistic --mode nth --every %zu --packet 0", k->n - i);
		fprintf(f, " -j DNAT --to-destination %s:%u\n", ip, ntohs(k->eps[i].sin_port));
	}
}

static void
ipt_kernel_declare(FILE *f, const char *key)
{
	char ch[64];

	rules_kernel_chain(ch, sizeof(ch), key, 1);
	fprintf(f, ":%s - [0:0]\n", ch);
}

/* The kernel-forwarded ports' chains now in the nat table (iptables-save), NULL if none. */
static char **
ipt_kernel_chains_now(size_t *n)
{
	static const char *const argv[] = {"iptables-save", "-t", "nat", NULL};
	const size_t cap = 4u << 20;
	char *out = xcalloc(1, cap), *s, *e, **v = NULL;

	*n = 0;
	if (rules_run(argv, "", 0, out, cap) == 0)
		for (s = out; (s = strstr(s, "\n" KCHAIN_PREFIX)) != NULL; s = e) {
			s += 2;
			e = s + strcspn(s, " \n");
			v = xreallocarray(v, *n + 1, sizeof(*v));
			v[(*n)++] = strndup(s, (size_t)(e - s));
		}
	free(out);
	return v;
}

static int
ipt_restore(char *buf, size_t len, const char *what)
{
	static const char *const argv[] = {"iptables-restore", "--noflush", NULL};
	char out[1024];

	if (rules_run(argv, buf, len, out, sizeof(out)) == -1) {
		log_warnx("iptables-restore %s failed: %s", what, out);
		return -1;
	}
	return 0;
}

/* Jump i in place ("-C"), inserted ("-I") or deleted ("-D"): 0 on success. */
static int
ipt_jump(size_t i, const char *op)
{
	const char *argv[] = {
	    "iptables",	 "-w",	       "-t", jumps[i].table, op,  jumps[i].hook, "-m", "comment",
	    "--comment", JUMP_COMMENT, "-j", jumps[i].chain, NULL};
	char out[512];

	if (rules_run(argv, "", 0, out, sizeof(out)) == 0)
		return 0;
	if (op[1] == 'I')
		log_warnx("iptables -t %s -I %s: %s", jumps[i].table, jumps[i].hook, out);
	return -1;
}

/* Chain i there ("-S" creates nothing): 0 when it is. */
static int
ipt_chain(size_t i)
{
	const char *const argv[] = {"iptables", "-w",		"-t", jumps[i].table,
				    "-S",	jumps[i].chain, NULL};
	char out[512];

	return rules_run(argv, "", 0, out, sizeof(out));
}

/* add: the nat jumps (if missing); else remove every jump, the mangle ones too */
static int
ipt_jumps(int add)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < (add ? JUMPS_NAT : sizeof(jumps) / sizeof(jumps[0])); i++) {
		if (add) {
			if (ipt_jump(i, "-C") == 0)
				continue;
			if (ipt_jump(i, "-I") == -1)
				rc = -1;
		} else
			while (ipt_jump(i, "-D") == 0)
				;
	}
	return rc;
}

/* The mangle chains (UDP TPROXY) a proxyd from before UDP DNAT left, if any. */
static void
ipt_mangle_legacy(void)
{
	static const char *const probe[] = {"iptables",		 "-w", "-t", "mangle", "-n", "-L",
					    "KUBE-PORTALS-HOST", NULL};
	static const char *const argv[] = {"iptables-restore", "--noflush", NULL};
	static const char txt[] = "*mangle\n:KUBE-PORTALS-CONTAINER - [0:0]\n"
				  ":KUBE-PORTALS-HOST - [0:0]\n-X KUBE-PORTALS-CONTAINER\n"
				  "-X KUBE-PORTALS-HOST\nCOMMIT\n";
	char out[512];
	size_t i;

	if (rules_run(probe, "", 0, out, sizeof(out)) == -1)
		return; /* none */
	for (i = JUMPS_NAT; i < sizeof(jumps) / sizeof(jumps[0]); i++) {
		const char *del[] = {"iptables",  "-w",		 "-t", jumps[i].table,
				     "-D",	  jumps[i].hook, "-m", "comment",
				     "--comment", JUMP_COMMENT,	 "-j", jumps[i].chain,
				     NULL};

		while (rules_run(del, "", 0, out, sizeof(out)) == 0)
			;
	}
	if (rules_run(argv, txt, sizeof(txt) - 1, out, sizeof(out)) == -1)
		log_warnx("iptables: removing the mangle chains of UDP TPROXY: %s", out);
	else
		log_info("iptables: removed the mangle chains of UDP TPROXY (older version)");
}

/* One iptables-restore of the nat table: full (our chains declared, every
 * rule added) or the delta (rdel deleted, radd added). */
static int
ipt_write(struct proxyd *p, int full)
{
	char bip[INET_ADDRSTRLEN], *buf = NULL, ch[64], **stale = NULL;
	size_t len = 0, nstale = 0, i;
	struct hmap_iter it;
	struct hmap *wanted;
	const struct rules_kernel *was, *now;
	const char *k;
	void *v;
	FILE *f;
	int rc;

	inet_ntop(AF_INET, &p->bind_ip, bip, sizeof(bip));
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	if (full)
		stale = ipt_kernel_chains_now(&nstale);
	if (full) {
		fprintf(f, "*nat\n:KUBE-PORTALS-CONTAINER - [0:0]\n:KUBE-PORTALS-HOST - [0:0]\n"
			   ":KUBE-PORTALS-MASQ - [0:0]\n");
		hmap_iter_init(&it);
		while (hmap_next(p->kern, &it, &k, &v))
			ipt_kernel_declare(f, k);
		wanted = rules_kernel_by_chain(p, 1);
		for (i = 0; i < nstale; i++)
			if (hmap_get(wanted, stale[i]) != NULL)
				stale[i][0] = '\0';
			else
				fprintf(f, ":%s - [0:0]\n", stale[i]);
		hmap_free(wanted, NULL);
		hmap_iter_init(&it);
		while (hmap_next(p->kern, &it, &k, &v)) {
			ipt_kernel_jumps(f, "-A", k, v);
			ipt_kernel_rules(f, k, v);
		}
		ipt_rules(f, "-A", p->rules, bip, p->port);
		for (i = 0; i < nstale; i++) {
			if (stale[i][0])
				fprintf(f, "-X %s\n", stale[i]);
			free(stale[i]);
		}
		free(stale);
	} else {
		fprintf(f, "*nat\n");
		hmap_iter_init(&it);
		while (hmap_next(p->kchg, &it, &k, &v))
			if (((const struct rules_kernel *)v)->n > 0 || hmap_get(p->kern, k) != NULL)
				ipt_kernel_declare(f, k);
		ipt_rules(f, "-D", p->rdel, bip, p->port);
		ipt_rules(f, "-A", p->radd, bip, p->port);
		hmap_iter_init(&it);
		while (hmap_next(p->kchg, &it, &k, &v)) {
			was = v;
			now = hmap_get(p->kern, k);
			if (was->n > 0)
				ipt_kernel_jumps(f, "-D", k, was);
			if (now != NULL) {
				ipt_kernel_jumps(f, "-I", k, now);
				ipt_kernel_rules(f, k, now);
			} else if (was->n > 0) {
				rules_kernel_chain(ch, sizeof(ch), k, 1);
				fprintf(f, "-X %s\n", ch);
			}
		}
	}
	fprintf(f, "COMMIT\n");
	fclose(f);
	rc = ipt_restore(buf, len, full ? "full install" : "update");
	free(buf);
	return rc;
}

static int
ipt_full(struct proxyd *p)
{
	int rc;

	ipt_mangle_legacy();
	if ((rc = ipt_write(p, 1)) == 0)
		rc = ipt_jumps(1);
	return rc;
}

static int
ipt_apply(struct proxyd *p)
{
	return ipt_write(p, 0);
}

/* Each kernel-path port's flows: the packet counters of its chain's DNAT
 * rules ("[pkts:bytes] -A CHAIN ... -j DNAT") in the listing out, in one
 * pass over it. */
static void
ipt_kernel_counters(struct proxyd *p, const char *out)
{
	struct hmap *byc = rules_kernel_by_chain(p, 1);
	struct hmap_iter it;
	struct rules_kernel *k;
	const char *key, *s, *e, *c;
	void *v;
	char ch[64];
	size_t len;

	hmap_iter_init(&it);
	while (hmap_next(p->kern, &it, &key, &v))
		((struct rules_kernel *)v)->flows = 0;
	for (s = out; *s != '\0'; s = *e != '\0' ? e + 1 : e) {
		e = s + strcspn(s, "\n");
		if (*s != '[' ||
		    (c = memmem(s, (size_t)(e - s), "] -A KUBE-PORTALS-U", 19)) == NULL ||
		    memmem(s, (size_t)(e - s), "-j DNAT", 7) == NULL)
			continue;
		c += 5;
		if ((len = strcspn(c, " \n")) >= sizeof(ch))
			continue;
		memcpy(ch, c, len);
		ch[len] = '\0';
		if ((k = hmap_get(byc, ch)) != NULL)
			k->flows += strtoull(s + 1, NULL, 10);
	}
	hmap_free(byc, NULL);
}

/* Our nat chains there, each with its jump (checked, nothing added). */
static int
ipt_frame(void)
{
	size_t i;

	for (i = 0; i < JUMPS_NAT; i++)
		if (ipt_chain(i) == -1 || ipt_jump(i, "-C") == -1)
			return -1;
	return 0;
}

static int
ipt_check(struct proxyd *p, int elements)
{
	static const char *const argv[] = {"iptables-save", "-c", "-t", "nat", NULL};
	const size_t cap = 4u << 20;
	char *out, *s;
	size_t n = 0;
	int rc = -1;

	if (!elements)
		return ipt_frame();
	out = xcalloc(1, cap);
	if (rules_run(argv, "", 0, out, cap) == 0 && ipt_jumps(1) == 0) {
		ipt_kernel_counters(p, out);
		for (s = out; (s = strstr(s, "] -A KUBE-PORTALS-")) != NULL; s++)
			n++;
		/* two rules a service port; a kernel-forwarded one: two jumps, a
		 * masquerade, a RETURN and a DNAT per endpoint; unless the listing was cut */
		size_t nrules = 2 * hmap_count(p->rules) + 3 * hmap_count(p->kern) +
				2 * rules_kernel_endpoints(p);

		if (strlen(out) >= cap - 1 || n == nrules)
			rc = 0;
	}
	free(out);
	return rc;
}

/* Any of our chains there?  Listing one creates nothing; a restore would
 * create empty nat and mangle tables where iptables is nft-based. */
static int
ipt_has_chains(void)
{
	size_t i;

	for (i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++)
		if (ipt_chain(i) == 0)
			return 1;
	return 0;
}

static int
ipt_cleanup(void)
{
	static const char *const argv[] = {"iptables-restore", "--noflush", NULL};
	static const char *const probe[] = {"iptables", "--version", NULL};
	char out[512], *txt = NULL, **kc;
	size_t len = 0, nkc, i;
	FILE *f;
	int rc;

	if (rules_run(probe, "", 0, out, sizeof(out)) == -1)
		return -1;
	if (!ipt_has_chains())
		return 0;
	ipt_jumps(0);
	if ((f = open_memstream(&txt, &len)) == NULL)
		return -1;
	kc = ipt_kernel_chains_now(&nkc);
	fprintf(f, "*nat\n:KUBE-PORTALS-CONTAINER - [0:0]\n:KUBE-PORTALS-HOST - [0:0]\n"
		   ":KUBE-PORTALS-MASQ - [0:0]\n");
	for (i = 0; i < nkc; i++)
		fprintf(f, ":%s - [0:0]\n", kc[i]);
	fprintf(f, "-X KUBE-PORTALS-CONTAINER\n-X KUBE-PORTALS-HOST\n-X KUBE-PORTALS-MASQ\n");
	for (i = 0; i < nkc; i++) {
		fprintf(f, "-X %s\n", kc[i]);
		free(kc[i]);
	}
	free(kc);
	fprintf(f, "COMMIT\n*mangle\n:KUBE-PORTALS-CONTAINER - [0:0]\n:KUBE-PORTALS-HOST - "
		   "[0:0]\n-X KUBE-PORTALS-CONTAINER\n-X KUBE-PORTALS-HOST\nCOMMIT\n");
	fclose(f);
	rc = rules_run(argv, txt, len, out, sizeof(out));
	free(txt);
	if (rc == -1) {
		log_debug("iptables cleanup: %s", out);
		return -1;
	}
	log_info("iptables: KUBE-PORTALS-* chains removed");
	return 0;
}

const struct rules_backend rules_ipt = {
    "iptables", ipt_full, ipt_apply, ipt_check, ipt_cleanup,
};
