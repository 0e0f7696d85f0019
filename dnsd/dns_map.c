/*
 * A chained hash table keyed by byte strings, private to dnsd.  Keys are
 * copied into the entry; values are the caller's.  The table doubles when
 * the load passes 1 and hashes with a per-process random seed, so keys
 * chosen by others cannot be aimed at one bucket.
 */
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "model.h"

#define MAP_MIN_BUCKETS 16

struct map_ent {
	struct map_ent *next;
	uint64_t hash;
	void *val;
	size_t klen;
	uint8_t key[];
};

struct dns_map {
	struct map_ent **buckets;
	size_t nbuckets; /* a power of two */
	size_t count;
};

static uint64_t map_seed;

static uint64_t
map_hash(const void *key, size_t klen)
{
	const uint8_t *p = key;
	uint64_t h;
	size_t i;

	if (map_seed == 0) {
		arc4random_buf(&map_seed, sizeof(map_seed));
		map_seed |= 1;
	}
	/* FNV-1a, seeded, with a final avalanche (splitmix64) */
	h = 0xcbf29ce484222325ULL ^ map_seed;
	for (i = 0; i < klen; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

struct dns_map *
dns_map_new(void)
{
	struct dns_map *m;

	m = xcalloc(1, sizeof(*m));
	m->nbuckets = MAP_MIN_BUCKETS;
	m->buckets = xcalloc(m->nbuckets, sizeof(*m->buckets));
	return m;
}

void
dns_map_free(struct dns_map *m, void (*freefn)(void *))
{
	struct map_ent *e, *next;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (freefn != NULL)
				freefn(e->val);
			free(e);
		}
	}
	free(m->buckets);
	free(m);
}

static struct map_ent **
map_slot(const struct dns_map *m, const void *key, size_t klen, uint64_t h)
{
	struct map_ent **pp;

	for (pp = &m->buckets[h & (m->nbuckets - 1)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
			break;
	return pp;
}

void *
dns_map_get(const struct dns_map *m, const void *key, size_t klen)
{
	struct map_ent **pp = map_slot(m, key, klen, map_hash(key, klen));

	return *pp == NULL ? NULL : (*pp)->val;
}

static void
map_grow(struct dns_map *m)
{
	struct map_ent **nb, *e, *next;
	size_t i, n = m->nbuckets * 2;

	if (n < m->nbuckets || n > SIZE_MAX / sizeof(*nb))
		return;
	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < m->nbuckets; i++) {
		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->buckets);
	m->buckets = nb;
	m->nbuckets = n;
}

/* Insert; -1 if the key is already there (nothing changes). */
int
dns_map_put(struct dns_map *m, const void *key, size_t klen, void *val)
{
	uint64_t h = map_hash(key, klen);
	struct map_ent **pp = map_slot(m, key, klen, h), *e;

	if (*pp != NULL)
		return -1;
	e = xcalloc(1, sizeof(*e) + klen);
	e->hash = h;
	e->val = val;
	e->klen = klen;
	memcpy(e->key, key, klen);
	e->next = m->buckets[h & (m->nbuckets - 1)];
	m->buckets[h & (m->nbuckets - 1)] = e;
	if (++m->count > m->nbuckets)
		map_grow(m);
	return 0;
}

/* Remove; returns the value, NULL if the key was not there. */
void *
dns_map_del(struct dns_map *m, const void *key, size_t klen)
{
	struct map_ent **pp = map_slot(m, key, klen, map_hash(key, klen)), *e;
	void *val;

	if ((e = *pp) == NULL)
		return NULL;
	*pp = e->next;
	val = e->val;
	free(e);
	m->count--;
	return val;
}

size_t
dns_map_count(const struct dns_map *m)
{
	return m->count;
}

/*
 * Call fn for every entry; it must not change the map.  Stops at the first
 * fn that returns -1 and returns -1.
 */
int
dns_map_foreach(struct dns_map *m, int (*fn)(const void *, size_t, void *, void *), void *arg)
{
	struct map_ent *e;
	size_t i;

	for (i = 0; i < m->nbuckets; i++)
		for (e = m->buckets[i]; e != NULL; e = e->next)
			if (fn(e->key, e->klen, e->val, arg) == -1)
				return -1;
	return 0;
}
