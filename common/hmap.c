#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "model.h"

#if HMAP_SEEDBYTES != crypto_shorthash_KEYBYTES
#error "HMAP_SEEDBYTES must be crypto_shorthash_KEYBYTES"
#endif

struct hent {
	struct hent *next;
	uint64_t hash;
	void *val;
	size_t klen;
	unsigned char key[]; /* klen bytes and a NUL */
};

struct hmap {
	struct hent **b;
	size_t nb, n; /* nb: a power of two */
	uint8_t seed[HMAP_SEEDBYTES];
};

static uint8_t process_seed[HMAP_SEEDBYTES];
static int process_seeded;

static uint64_t
hmap_hash(const struct hmap *m, const void *key, size_t klen)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, key, klen, m->seed);
	memcpy(&h, out, sizeof(h));
	return h;
}

struct hmap *
hmap_new_seeded(const uint8_t seed[HMAP_SEEDBYTES])
{
	struct hmap *m = xcalloc(1, sizeof(*m));

	m->nb = 16;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	memcpy(m->seed, seed, HMAP_SEEDBYTES);
	return m;
}

struct hmap *
hmap_new(void)
{
	if (!process_seeded) {
		randombytes_buf(process_seed, sizeof(process_seed));
		process_seeded = 1;
	}
	return hmap_new_seeded(process_seed);
}

void
hmap_free(struct hmap *m, void (*freeval)(void *))
{
	struct hent *e, *next;
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			if (freeval != NULL)
				freeval(e->val);
			free(e);
		}
	}
	free(m->b);
	free(m);
}

size_t
hmap_count(const struct hmap *m)
{
	return m->n;
}

static struct hent **
hmap_slot(const struct hmap *m, const void *key, size_t klen, uint64_t h)
{
	struct hent **pp;

	for (pp = &m->b[h & (m->nb - 1)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen &&
		    (klen == 0 || memcmp((*pp)->key, key, klen) == 0))
			break;
	return pp;
}

void *
hmap_getb(const struct hmap *m, const void *key, size_t klen)
{
	struct hent **pp = hmap_slot(m, key, klen, hmap_hash(m, key, klen));

	return *pp == NULL ? NULL : (*pp)->val;
}

static void
hmap_grow(struct hmap *m)
{
	struct hent **nb, *e, *next;
	size_t i, n = m->nb * 2;

	if (n < m->nb || n > SIZE_MAX / sizeof(*nb))
		return;
	nb = xcalloc(n, sizeof(*nb));
	for (i = 0; i < m->nb; i++) {
		for (e = m->b[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	}
	free(m->b);
	m->b = nb;
	m->nb = n;
}

void *
hmap_putb(struct hmap *m, const void *key, size_t klen, void *val)
{
	uint64_t h = hmap_hash(m, key, klen);
	struct hent **pp = hmap_slot(m, key, klen, h), *e;
	void *old;

	if (*pp != NULL) {
		old = (*pp)->val;
		(*pp)->val = val;
		return old;
	}
	e = xcalloc(1, sizeof(*e) + klen + 1);
	if (klen > 0)
		memcpy(e->key, key, klen);
	e->klen = klen;
	e->hash = h;
	e->val = val;
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	if (++m->n > m->nb)
		hmap_grow(m);
	return NULL;
}

void *
hmap_delb(struct hmap *m, const void *key, size_t klen)
{
	struct hent **pp = hmap_slot(m, key, klen, hmap_hash(m, key, klen)), *e;
	void *val;

	if ((e = *pp) == NULL)
		return NULL;
	*pp = e->next;
	val = e->val;
	free(e);
	m->n--;
	return val;
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	return hmap_getb(m, key, strlen(key));
}

void *
hmap_put(struct hmap *m, const char *key, void *val)
{
	return hmap_putb(m, key, strlen(key), val);
}

void *
hmap_del(struct hmap *m, const char *key)
{
	return hmap_delb(m, key, strlen(key));
}

void
hmap_iter_init(struct hmap_iter *it)
{
	it->bucket = 0;
	it->next = NULL;
}

/* The iterator keeps the entry after the current one, so deleting the current one is safe. */
int
hmap_nextb(const struct hmap *m, struct hmap_iter *it, const void **key, size_t *klen, void **val)
{
	struct hent *e = it->next;

	while (e == NULL) {
		if (it->bucket >= m->nb)
			return 0;
		e = m->b[it->bucket++];
	}
	it->next = e->next;
	*key = e->key;
	if (klen != NULL)
		*klen = e->klen;
	*val = e->val;
	return 1;
}

int
hmap_next(const struct hmap *m, struct hmap_iter *it, const char **key, void **val)
{
	const void *k;

	if (hmap_nextb(m, it, &k, NULL, val) == 0)
		return 0;
	*key = k;
	return 1;
}

static int
hmap_key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
hmap_keys(const struct hmap *m, size_t *n)
{
	char **keys = xcalloc(m->n + 1, sizeof(*keys));
	struct hmap_iter it;
	const char *k;
	void *v;

	*n = 0;
	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v))
		keys[(*n)++] = xstrdup(k);
	qsort(keys, *n, sizeof(*keys), hmap_key_cmp);
	return keys;
}

void
hmap_keys_free(char **keys)
{
	size_t i;

	if (keys == NULL)
		return;
	for (i = 0; keys[i] != NULL; i++)
		free(keys[i]);
	free(keys);
}
