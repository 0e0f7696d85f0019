/*
 * Load-balancing policies for one service port (edgemesh-features §3.5,
 * §4): ROUND_ROBIN (default), RANDOM, CONSISTENT_HASH on an HTTP header,
 * a cookie or the source IP (the IP only, not ip:port as EdgeMesh does),
 * and Service sessionAffinity ClientIP with its timeout, which wins over
 * the DestinationRule policy as in EdgeMesh.  No event loop here: the
 * callers pass the time and the endpoints to skip (tried or down).
 * proxyd balances its ClusterIP ports with it, gatewayd its destinations.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lb.h"

struct lb_aff {
	char id[320];
	double expires;
};

static void
lb_apply_conf(struct lb *lb, const struct lb_conf *c)
{
	lb->policy = c->policy;
	lb->hash = c->hash;
	snprintf(lb->hash_arg, sizeof(lb->hash_arg), "%s", c->hash_arg ? c->hash_arg : "");
	lb->affinity = c->affinity;
	lb->affinity_ttl = c->affinity_ttl > 0 ? c->affinity_ttl : 10800;
	lb->partitions = c->partitions ? c->partitions : 100;
	lb->replicas = c->replicas ? c->replicas : 10;
	lb->load = c->load >= 1.0 ? c->load : 1.25;
}

int
lb_conf_service(struct lb_conf *c, const struct em_service *s, const struct em_config *cfg)
{
	memset(c, 0, sizeof(*c));
	c->policy = s->lb;
	c->hash = s->hash;
	c->hash_arg = s->hash_arg;
	c->affinity = s->affinity_client_ip;
	c->affinity_ttl = s->affinity_timeout;
	c->partitions = (unsigned)cfg->proxy.hash_partitions;
	c->replicas = (unsigned)cfg->proxy.hash_replicas;
	c->load = cfg->proxy.hash_load;
	return s->affinity_client_ip && s->lb != EM_LB_ROUND_ROBIN;
}

void
lb_endpoint_id(char *out, size_t outlen, const struct em_endpoint *e, uint16_t port)
{
	snprintf(out, outlen, "%s:%s:%s:%u", e->node[0] ? e->node : "EMPTY_NODE_NAME",
		 e->pod[0] ? e->pod : "EMPTY_POD_NAME", e->ip, port);
}

void
lb_init(struct lb *lb, const struct lb_conf *c)
{
	memset(lb, 0, sizeof(*lb));
	lb_apply_conf(lb, c);
	lb->aff = hmap_new();
}

static void
lb_rebuild_ring(struct lb *lb)
{
	lb_ring_free(lb->ring);
	lb->ring = NULL;
	if (lb->policy == EM_LB_CONSISTENT_HASH)
		lb->ring = lb_ring_new(lb->ids, lb->n, lb->partitions, lb->replicas, lb->load);
}

void
lb_reconf(struct lb *lb, const struct lb_conf *c)
{
	struct lb old = *lb;

	lb_apply_conf(lb, c);
	if (old.policy != lb->policy || old.partitions != lb->partitions ||
	    old.replicas != lb->replicas || old.load != lb->load)
		lb_rebuild_ring(lb);
	if (!lb->affinity) {
		hmap_free(lb->aff, free);
		lb->aff = hmap_new();
	}
}

static void
lb_free_ids(struct lb *lb)
{
	size_t i;

	for (i = 0; i < lb->n; i++)
		free(lb->ids[i]);
	free(lb->ids);
	lb->ids = NULL;
	lb->n = 0;
}

void
lb_free(struct lb *lb)
{
	lb_free_ids(lb);
	lb_ring_free(lb->ring);
	hmap_free(lb->aff, free);
	memset(lb, 0, sizeof(*lb));
}

void
lb_set_endpoints(struct lb *lb, char *const *ids, size_t n)
{
	struct hmap_iter it;
	const char *k;
	void *v;
	size_t i, j;
	int same = n == lb->n;

	for (i = 0; same && i < n; i++)
		same = strcmp(ids[i], lb->ids[i]) == 0;
	if (same)
		return;
	lb_free_ids(lb);
	lb->ids = xcalloc(n ? n : 1, sizeof(char *));
	for (i = 0; i < n; i++)
		lb->ids[i] = xstrdup(ids[i]);
	lb->n = n;
	lb->rr = n ? lb->rr % n : 0;
	lb_rebuild_ring(lb);
	/* affinity to endpoints that are gone is dropped */
	hmap_iter_init(&it);
	while (hmap_next(lb->aff, &it, &k, &v)) {
		struct lb_aff *a = v;

		for (j = 0; j < n; j++)
			if (strcmp(a->id, ids[j]) == 0)
				break;
		if (j == n)
			free(hmap_del(lb->aff, k));
	}
}

int
lb_wants_peek(const struct lb *lb)
{
	return !lb->affinity && lb->policy == EM_LB_CONSISTENT_HASH &&
	       (lb->hash == EM_HASH_HEADER || lb->hash == EM_HASH_COOKIE);
}

int
lb_is_sticky(const struct lb *lb)
{
	return lb->affinity || lb->policy == EM_LB_CONSISTENT_HASH;
}

static int
usable(const unsigned char *skip, size_t i)
{
	return skip == NULL || !skip[i];
}

static int
lb_rr(struct lb *lb, const unsigned char *skip)
{
	size_t k, i;

	for (k = 0; k < lb->n; k++) {
		i = (lb->rr + k) % lb->n;
		if (usable(skip, i)) {
			lb->rr = (i + 1) % lb->n;
			return (int)i;
		}
	}
	return -1;
}

static int
lb_random(struct lb *lb, const unsigned char *skip)
{
	size_t i, nok = 0, r;

	for (i = 0; i < lb->n; i++)
		nok += usable(skip, i);
	if (nok == 0)
		return -1;
	r = arc4random_uniform((uint32_t)nok);
	for (i = 0; i < lb->n; i++)
		if (usable(skip, i) && r-- == 0)
			return (int)i;
	return -1;
}

int
lb_pick(struct lb *lb, const char *client, const char *key, size_t keylen,
	const unsigned char *skip, double now)
{
	struct lb_aff *a;
	size_t i;
	int idx;

	if (lb->n == 0)
		return -1;
	if (lb->affinity) {
		if ((a = hmap_get(lb->aff, client)) != NULL && a->expires > now) {
			for (i = 0; i < lb->n; i++)
				if (strcmp(lb->ids[i], a->id) == 0 && usable(skip, i)) {
					a->expires = now + lb->affinity_ttl;
					return (int)i;
				}
		}
		if ((idx = lb_rr(lb, skip)) == -1)
			return -1;
		if (a == NULL) {
			if (hmap_count(lb->aff) >= 65536)
				lb_expire(lb, now);
			a = xcalloc(1, sizeof(*a));
			hmap_put(lb->aff, client, a);
		}
		snprintf(a->id, sizeof(a->id), "%s", lb->ids[idx]);
		a->expires = now + lb->affinity_ttl;
		return idx;
	}
	switch (lb->policy) {
	case EM_LB_RANDOM:
		return lb_random(lb, skip);
	case EM_LB_CONSISTENT_HASH:
		if (lb->hash == EM_HASH_SOURCE_IP || key == NULL) {
			key = client;
			keylen = strlen(client);
		}
		idx = lb_ring_locate(lb->ring, key, keylen);
		if (idx >= 0 && (size_t)idx < lb->n && usable(skip, (size_t)idx))
			return idx;
		/* the owner is down or tried: the next usable one, deterministically */
		if (idx >= 0)
			for (i = 1; i < lb->n; i++)
				if (usable(skip, ((size_t)idx + i) % lb->n))
					return (int)(((size_t)idx + i) % lb->n);
		return lb_rr(lb, skip);
	default:
		return lb_rr(lb, skip);
	}
}

void
lb_expire(struct lb *lb, double now)
{
	struct hmap_iter it;
	const char *k;
	void *v;

	hmap_iter_init(&it);
	while (hmap_next(lb->aff, &it, &k, &v))
		if (((struct lb_aff *)v)->expires <= now)
			free(hmap_del(lb->aff, k));
}

/* Find the end of the header block: offset past "\r\n\r\n" or 0. */
static size_t
http_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
		    buf[i + 3] == '\n')
			return i + 4;
	return 0;
}

int
lb_http_header(const char *buf, size_t len, const char *name, char *out, size_t outlen)
{
	size_t end, nl = strlen(name), i, ls, le, vs, ve;

	if ((end = http_head_end(buf, len)) == 0)
		return -1;
	/* skip the request line */
	for (i = 0; i < end && buf[i] != '\n'; i++)
		;
	for (ls = i + 1; ls < end; ls = le + 1) {
		for (le = ls; le < end && buf[le] != '\n'; le++)
			;
		if (le - ls > nl && buf[ls + nl] == ':' && strncasecmp(buf + ls, name, nl) == 0) {
			vs = ls + nl + 1;
			ve = le;
			while (vs < ve && (buf[vs] == ' ' || buf[vs] == '\t'))
				vs++;
			while (ve > vs && isspace((unsigned char)buf[ve - 1]))
				ve--;
			if (ve - vs >= outlen)
				ve = vs + outlen - 1;
			memcpy(out, buf + vs, ve - vs);
			out[ve - vs] = '\0';
			return 1;
		}
	}
	return 0;
}

int
lb_http_key(const struct lb *lb, const char *buf, size_t len, char *out, size_t outlen)
{
	if (lb->hash == EM_HASH_COOKIE)
		return lb_http_cookie(buf, len, lb->hash_arg, out, outlen);
	return lb_http_header(buf, len, lb->hash_arg, out, outlen);
}

int
lb_http_cookie(const char *buf, size_t len, const char *name, char *out, size_t outlen)
{
	char line[2048];
	const char *p, *e;
	size_t nl = strlen(name), n;
	int r;

	if ((r = lb_http_header(buf, len, "Cookie", line, sizeof(line))) != 1)
		return r;
	for (p = line; *p != '\0'; p = *e ? e + 1 : e) {
		while (*p == ' ')
			p++;
		e = strchr(p, ';');
		if (e == NULL)
			e = p + strlen(p);
		if ((size_t)(e - p) > nl && p[nl] == '=' && strncmp(p, name, nl) == 0) {
			n = (size_t)(e - p) - nl - 1;
			if (n >= outlen)
				n = outlen - 1;
			memcpy(out, p + nl + 1, n);
			out[n] = '\0';
			return 1;
		}
	}
	return 0;
}
