/*
 * iptables fallback (where nft is absent), with EdgeMesh's chain names and
 * comments (edgemesh-features §3.2) so that users' greps keep working:
 *
 *   nat    PREROUTING -> KUBE-PORTALS-CONTAINER  -p tcp|udp -d VIP --dport P -j DNAT BIP:PORT
 *   nat    OUTPUT     -> KUBE-PORTALS-HOST       (same)
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

/* the mangle jumps (the last two) are only removed: UDP TPROXY of older versions */
#define JUMPS_NAT 2
static const struct {
	const char *table, *hook, *chain;
} jumps[] = {
    {"nat", "PREROUTING", "KUBE-PORTALS-CONTAINER"},
    {"nat", "OUTPUT", "KUBE-PORTALS-HOST"},
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

/* add: the nat jumps (if missing); else remove every jump, the mangle ones too */
static int
ipt_jumps(int add)
{
	char out[512];
	size_t i;
	int rc = 0;

	for (i = 0; i < (add ? JUMPS_NAT : sizeof(jumps) / sizeof(jumps[0])); i++) {
		const char *chk[] = {"iptables",  "-w",		 "-t", jumps[i].table,
				     "-C",	  jumps[i].hook, "-m", "comment",
				     "--comment", JUMP_COMMENT,	 "-j", jumps[i].chain,
				     NULL};
		const char *ins[] = {
		    "iptables",	   "-w",	   "-t",      jumps[i].table, add ? "-I" : "-D",
		    jumps[i].hook, "-m",	   "comment", "--comment",    JUMP_COMMENT,
		    "-j",	   jumps[i].chain, NULL};

		if (add) {
			if (rules_run(chk, "", 0, out, sizeof(out)) == 0)
				continue;
			if (rules_run(ins, "", 0, out, sizeof(out)) == -1) {
				log_warnx("iptables -t %s -I %s: %s", jumps[i].table, jumps[i].hook,
					  out);
				rc = -1;
			}
		} else
			while (rules_run(ins, "", 0, out, sizeof(out)) == 0)
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
	char bip[INET_ADDRSTRLEN], *buf = NULL;
	size_t len = 0;
	FILE *f;
	int rc;

	inet_ntop(AF_INET, &p->bind_ip, bip, sizeof(bip));
	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	if (full) {
		fprintf(f, "*nat\n:KUBE-PORTALS-CONTAINER - [0:0]\n:KUBE-PORTALS-HOST - [0:0]\n");
		ipt_rules(f, "-A", p->rules, bip, p->port);
	} else {
		fprintf(f, "*nat\n");
		ipt_rules(f, "-D", p->rdel, bip, p->port);
		ipt_rules(f, "-A", p->radd, bip, p->port);
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

static int
ipt_check(struct proxyd *p)
{
	static const char *const argv[] = {"iptables-save", "-t", "nat", NULL};
	const size_t cap = 4u << 20;
	char *out = xcalloc(1, cap), *s;
	size_t n = 0;
	int rc = -1;

	if (rules_run(argv, "", 0, out, cap) == 0 && ipt_jumps(1) == 0) {
		for (s = out; (s = strstr(s, "\n-A KUBE-PORTALS-")) != NULL; s++)
			n++;
		/* two rules a service port, unless the listing was cut */
		if (strlen(out) >= cap - 1 || n == 2 * hmap_count(p->rules))
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
	char out[512];
	size_t i;

	for (i = 0; i < sizeof(jumps) / sizeof(jumps[0]); i++) {
		const char *const argv[] = {"iptables", "-w",		"-t", jumps[i].table,
					    "-S",	jumps[i].chain, NULL};

		if (rules_run(argv, "", 0, out, sizeof(out)) == 0)
			return 1;
	}
	return 0;
}

static int
ipt_cleanup(void)
{
	static const char *const argv[] = {"iptables-restore", "--noflush", NULL};
	static const char txt[] =
	    "*nat\n:KUBE-PORTALS-CONTAINER - [0:0]\n:KUBE-PORTALS-HOST - "
	    "[0:0]\n-X KUBE-PORTALS-CONTAINER\n-X KUBE-PORTALS-HOST\nCOMMIT\n*mangle\n"
	    ":KUBE-PORTALS-CONTAINER - [0:0]\n:KUBE-PORTALS-HOST - [0:0]\n"
	    "-X KUBE-PORTALS-CONTAINER\n-X KUBE-PORTALS-HOST\nCOMMIT\n";
	static const char *const probe[] = {"iptables", "--version", NULL};
	char out[512];

	if (rules_run(probe, "", 0, out, sizeof(out)) == -1)
		return -1;
	if (!ipt_has_chains())
		return 0;
	ipt_jumps(0);
	if (rules_run(argv, txt, sizeof(txt) - 1, out, sizeof(out)) == -1) {
		log_debug("iptables cleanup: %s", out);
		return -1;
	}
	log_info("iptables: KUBE-PORTALS-* chains removed");
	return 0;
}

const struct rules_backend rules_ipt = {
    "iptables", ipt_full, ipt_apply, ipt_check, ipt_cleanup,
};
