/*
 * ClusterIPs for file-registry Services that have none.  EdgeMesh's
 * examples carry no clusterIP (the API server allocates one); here every
 * node's controller reads the same manifests, so each must pick the same
 * address without talking to the others:
 *
 *   - a Service's first choice is FNV-1a("ns/name") within the range
 *     (registry.serviceCIDR, network and broadcast addresses excluded),
 *     then the following addresses in order, wrapping: a fixed probe
 *     sequence, so two controllers that see the same Services agree;
 *   - an address is never given while another Service claims it with an
 *     explicit clusterIP; an explicit clusterIP that arrives later takes
 *     the address from the Service that had it, which moves on;
 *   - what was given is kept in stateDir (one "ns/name address" per line,
 *     replaced atomically), so a Service keeps its address across restarts
 *     while others come and go.
 */
#include <arpa/inet.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"

#define ALLOC_LINE_MAX 512

struct alloc_ent {
	char *key; /* "ns/name" */
	char ip[INET_ADDRSTRLEN];
};

struct alloc {
	uint32_t base; /* host order; given: base+1 .. base+size-2 */
	uint64_t size;
	char cidr[32];
	char path[EM_PATH_MAX + 32]; /* "" when not kept */
	struct hmap *by_key;	     /* "ns/name" -> struct alloc_ent */
	struct hmap *by_ip;	     /* "a.b.c.d" -> the same struct alloc_ent */
	struct hmap *claims;	     /* "a.b.c.d" -> (uintptr_t) explicit clusterIPs */
	int dirty;		     /* changed since the last save */
};

static void
ent_free(void *p)
{
	struct alloc_ent *e = p;

	free(e->key);
	free(e);
}

static uint64_t
alloc_hash(const char *key)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The canonical text of an IPv4 address, -1 if s is none. */
static int
ip4_text(const char *s, char *buf, uint32_t *addr)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -1;
	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
	if (addr != NULL)
		*addr = ntohl(a.s_addr);
	return 0;
}

static void
ip4_format(uint32_t addr, char *buf)
{
	struct in_addr a = {htonl(addr)};

	inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static int
alloc_in_range(const struct alloc *a, uint32_t addr)
{
	return addr > a->base && addr - a->base < a->size - 1;
}

static void
alloc_set(struct alloc *a, const char *key, const char *ip)
{
	struct alloc_ent *e = xcalloc(1, sizeof(*e));

	e->key = xstrdup(key);
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	hmap_put(a->by_key, e->key, e);
	hmap_put(a->by_ip, e->ip, e);
	a->dirty = 1;
}

struct alloc *
alloc_new(const char *cidr, char *err, size_t errlen)
{
	struct alloc *a;
	uint32_t base;
	unsigned prefix;
	char why[256];

	if (config_service_cidr(cidr, &base, &prefix, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "registry.serviceCIDR %s: %s", cidr, why);
		return NULL;
	}
	a = xcalloc(1, sizeof(*a));
	a->base = base;
	a->size = (uint64_t)1 << (32 - prefix);
	snprintf(a->cidr, sizeof(a->cidr), "%s", cidr);
	a->by_key = hmap_new();
	a->by_ip = hmap_new();
	a->claims = hmap_new();
	return a;
}

void
alloc_free(struct alloc *a)
{
	if (a == NULL)
		return;
	hmap_free(a->by_ip, NULL);
	hmap_free(a->by_key, ent_free);
	hmap_free(a->claims, NULL);
	free(a);
}

const char *
alloc_cidr(const struct alloc *a)
{
	return a->cidr;
}

size_t
alloc_count(const struct alloc *a)
{
	return hmap_count(a->by_key);
}

const char *
alloc_get(const struct alloc *a, const char *key)
{
	const struct alloc_ent *e = hmap_get(a->by_key, key);

	return e == NULL ? NULL : e->ip;
}

int
alloc_release(struct alloc *a, const char *key)
{
	struct alloc_ent *e = hmap_del(a->by_key, key);

	if (e == NULL)
		return 0;
	hmap_del(a->by_ip, e->ip);
	ent_free(e);
	a->dirty = 1;
	return 1;
}

int
alloc_claim(struct alloc *a, const char *ip, char *displaced, size_t len)
{
	struct alloc_ent *e;
	char t[INET_ADDRSTRLEN];
	uintptr_t n;

	if (ip4_text(ip, t, NULL) == -1)
		return 0; /* IPv6: never in our range */
	n = (uintptr_t)hmap_get(a->claims, t);
	hmap_put(a->claims, t, (void *)(n + 1));
	if ((e = hmap_get(a->by_ip, t)) == NULL)
		return 0;
	snprintf(displaced, len, "%s", e->key);
	alloc_release(a, displaced);
	return 1;
}

void
alloc_unclaim(struct alloc *a, const char *ip)
{
	char t[INET_ADDRSTRLEN];
	uintptr_t n;

	if (ip4_text(ip, t, NULL) == -1)
		return;
	n = (uintptr_t)hmap_get(a->claims, t);
	if (n > 1)
		hmap_put(a->claims, t, (void *)(n - 1));
	else
		hmap_del(a->claims, t);
}

const char *
alloc_assign(struct alloc *a, const char *key)
{
	const char *have = alloc_get(a, key);
	uint64_t span = a->size - 2, i, start;
	char ip[INET_ADDRSTRLEN];

	if (have != NULL)
		return have;
	start = alloc_hash(key) % span;
	for (i = 0; i < span; i++) {
		ip4_format(a->base + 1 + (uint32_t)((start + i) % span), ip);
		if (hmap_get(a->by_ip, ip) == NULL && hmap_get(a->claims, ip) == NULL) {
			alloc_set(a, key, ip);
			return alloc_get(a, key);
		}
	}
	return NULL;
}

void
alloc_prune(struct alloc *a, int (*keep)(void *arg, const char *key), void *arg)
{
	struct hmap_iter it;
	const char *key;
	void *v;

	hmap_iter_init(&it);
	while (hmap_next(a->by_key, &it, &key, &v)) {
		struct alloc_ent *e = v;

		if (keep(arg, e->key))
			continue;
		hmap_del(a->by_ip, e->ip);
		hmap_del(a->by_key, e->key);
		ent_free(e);
		a->dirty = 1;
	}
}

/* One "ns/name address" line; -1 with why. */
static int
alloc_parse_line(struct alloc *a, char *line, char *why, size_t len)
{
	char *key, *ip, *extra, *slash, t[INET_ADDRSTRLEN];
	uint32_t addr;

	key = strtok(line, " \t");
	ip = strtok(NULL, " \t");
	extra = strtok(NULL, " \t");
	if (key == NULL || ip == NULL || extra != NULL) {
		snprintf(why, len, "expected \"namespace/name address\"");
		return -1;
	}
	slash = strchr(key, '/');
	if (slash == NULL || slash == key || slash[1] == '\0' || strchr(slash + 1, '/') != NULL ||
	    strlen(key) >= EM_KEY_LEN) {
		snprintf(why, len, "\"%.80s\" is not namespace/name", key);
		return -1;
	}
	if (ip4_text(ip, t, &addr) == -1) {
		snprintf(why, len, "\"%.64s\" is not an IPv4 address", ip);
		return -1;
	}
	if (hmap_get(a->by_key, key) != NULL) {
		snprintf(why, len, "%s is listed twice", key);
		return -1;
	}
	if (hmap_get(a->by_ip, t) != NULL) {
		snprintf(why, len, "%s is given twice", t);
		return -1;
	}
	if (alloc_in_range(a, addr))
		alloc_set(a, key, t);
	else
		log_info("registry: %s %s is outside registry.serviceCIDR %s now; it gets "
			 "another",
			 key, t, a->cidr);
	return 0;
}

int
alloc_load(struct alloc *a, const char *path, char *err, size_t errlen)
{
	char *line = NULL, why[256];
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = 0;
	FILE *f;

	snprintf(a->path, sizeof(a->path), "%s", path);
	if ((f = fopen(path, "re")) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		a->dirty = 1;
		return -1;
	}
	while ((n = getline(&line, &cap, f)) != -1) {
		lineno++;
		if ((size_t)n > ALLOC_LINE_MAX || strlen(line) != (size_t)n) {
			snprintf(err, errlen, "%s:%d: not a text line of at most %d bytes", path,
				 lineno, ALLOC_LINE_MAX);
			rc = -1;
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '\0' || line[strspn(line, " \t")] == '#')
			continue;
		if (alloc_parse_line(a, line, why, sizeof(why)) == -1) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(line);
	fclose(f);
	if (rc == -1) {
		/* recompute from the Services; the next save replaces the file */
		hmap_free(a->by_ip, NULL);
		hmap_free(a->by_key, ent_free);
		a->by_key = hmap_new();
		a->by_ip = hmap_new();
		a->dirty = 1;
		return -1;
	}
	a->dirty = 0;
	return 0;
}

int
alloc_save(struct alloc *a, char *err, size_t errlen)
{
	struct ctl_file cf;
	char **keys;
	size_t n, i;

	if (a->path[0] == '\0' || !a->dirty)
		return 0;
	if (ctl_file_open(&cf, a->path) == -1) {
		snprintf(err, errlen, "%s: %s", cf.tmp, strerror(errno));
		return -1;
	}
	/* sorted: the file diffs well and two nodes' files compare equal */
	keys = hmap_keys(a->by_key, &n);
	fprintf(cf.f,
		"# edgemesh-controller: ClusterIPs it gave to Services without one, from\n"
		"# registry.serviceCIDR %s.  One \"namespace/name address\" per line.\n",
		a->cidr);
	for (i = 0; i < n; i++)
		fprintf(cf.f, "%s %s\n", keys[i], alloc_get(a, keys[i]));
	hmap_keys_free(keys);
	if (ctl_file_commit(&cf) == -1) {
		snprintf(err, errlen, "%s: %s", a->path, strerror(errno));
		return -1;
	}
	a->dirty = 0;
	return 0;
}
