/*
 * dnsd's view of the common hash table (common/hmap.c: seeded SipHash,
 * byte-string keys): insert never replaces, and a walk may stop early.
 */
#include <stdlib.h>

#include "dns.h"
#include "hmap.h"
#include "model.h"

struct dns_map {
	struct hmap *h;
};

struct dns_map *
dns_map_new(void)
{
	struct dns_map *m = xcalloc(1, sizeof(*m));

	m->h = hmap_new();
	return m;
}

void
dns_map_free(struct dns_map *m, void (*freefn)(void *))
{
	if (m == NULL)
		return;
	hmap_free(m->h, freefn);
	free(m);
}

void *
dns_map_get(const struct dns_map *m, const void *key, size_t klen)
{
	return hmap_getb(m->h, key, klen);
}

/* Insert; -1 if the key is already there (nothing changes). */
int
dns_map_put(struct dns_map *m, const void *key, size_t klen, void *val)
{
	size_t n = hmap_count(m->h);
	void *old = hmap_putb(m->h, key, klen, val);

	if (hmap_count(m->h) == n) { /* it was there: put the old value back */
		hmap_putb(m->h, key, klen, old);
		return -1;
	}
	return 0;
}

/* Remove; returns the value, NULL if the key was not there. */
void *
dns_map_del(struct dns_map *m, const void *key, size_t klen)
{
	return hmap_delb(m->h, key, klen);
}

size_t
dns_map_count(const struct dns_map *m)
{
	return hmap_count(m->h);
}

/*
 * Call fn for every entry; it must not change the map.  Stops at the first
 * fn that returns -1 and returns -1.
 */
int
dns_map_foreach(struct dns_map *m, int (*fn)(const void *, size_t, void *, void *), void *arg)
{
	struct hmap_iter it;
	const void *key;
	size_t klen;
	void *val;

	hmap_iter_init(&it);
	while (hmap_nextb(m->h, &it, &key, &klen, &val))
		if (fn(key, klen, val, arg) == -1)
			return -1;
	return 0;
}
