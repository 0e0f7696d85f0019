/*
 * The client check of socksd and dnsd.  See srcgate.h.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "replica.h"
#include "srcgate.h"

#define DERIVE_MISS_SECS  1.0  /* a source that does not match: derive again after */
#define DERIVE_EVERY_SECS 30.0 /* and in any case after */

static bool
same_set(const struct srcrange_set *a, const struct srcrange_set *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (a->r[i].bits != b->r[i].bits || !ip_addr_equal(&a->r[i].a, &b->r[i].a))
			return false;
	return true;
}

int
srcgate_init(struct srcgate *g, const char (*ranges)[50], size_t n, struct replica *const *rep,
	     const char *node, char *why, size_t len)
{
	struct ip_range r;
	size_t i;

	memset(g, 0, sizeof(*g));
	g->derived_at = -1;
	g->replica = rep;
	g->node = node;
	for (i = 0; i < n; i++)
		if (ip_range_parse(ranges[i], &r, why, len) == -1 ||
		    srcrange_add(&g->fixed, &r) == -1)
			return -1;
	return 0;
}

static void
srcgate_derive(struct srcgate *g, double now)
{
	struct ip_addr node[EM_MAX_ADDRS];
	const struct em_object *o;
	struct srcrange_set s;
	size_t i, n = 0;
	char why[128], text[1024];

	g->derived_at = now;
	if (g->replica != NULL && *g->replica != NULL &&
	    (o = replica_get(*g->replica, EM_TOPIC_PEERS, g->node)) != NULL)
		for (i = 0; i < o->u.peer->naddrs && n < EM_MAX_ADDRS; i++)
			if (ip_addr_parse(o->u.peer->addrs[i], &node[n]) == 0)
				n++;
	if (srcrange_local(&s, node, n, why, sizeof(why)) == -1) {
		log_warnx("client source ranges: %s; keeping the last ones", why);
		return;
	}
	if (same_set(&s, &g->derived))
		return;
	g->derived = s;
	srcrange_text(&s, text, sizeof(text));
	log_info("clients allowed from %s (the default: loopback, local addresses%s)", text,
		 n > 0 ? " and the subnets of interfaces without a Node address"
		       : "; no Node addresses known yet, so no pod subnets");
}

bool
srcgate_allows(struct srcgate *g, const struct sockaddr *sa, double now)
{
	struct ip_addr a;

	if (ip_addr_from_sockaddr(sa, &a) == -1)
		return sa->sa_family == AF_UNIX;
	if (g->fixed.n > 0)
		return srcrange_match(&g->fixed, &a);
	if (g->derived_at < 0 || now - g->derived_at >= DERIVE_EVERY_SECS)
		srcgate_derive(g, now);
	if (srcrange_match(&g->derived, &a))
		return true;
	if (now - g->derived_at < DERIVE_MISS_SECS)
		return false;
	srcgate_derive(g, now);
	return srcrange_match(&g->derived, &a);
}

bool
srcgate_log_refused(struct srcgate *g, const char *what, const struct sockaddr *sa, double now)
{
	char text[INET6_ADDRSTRLEN], key[128], more[64];
	struct ip_addr a;
	const char *m;

	g->refused++;
	snprintf(key, sizeof(key), "%s refused: not in commonConfig.clientSourceRanges", what);
	if ((m = log_repeat_at(key, now, more, sizeof(more))) == NULL)
		return false;
	if (ip_addr_from_sockaddr(sa, &a) == -1)
		snprintf(text, sizeof(text), "?");
	else
		ip_addr_text(&a, text, sizeof(text));
	log_info("%s from %s refused: not in commonConfig.clientSourceRanges%s%s", what, text,
		 g->fixed.n > 0 ? "" : " (default: this node and its pods)", m);
	return true;
}
