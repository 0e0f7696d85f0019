#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "model.h"

struct hent {
	struct hent *next;
	uint64_t hash;
	void *val;
	char key[];
};

struct hmap {
	struct hent **b;
	size_t nb, n;
};

static uint64_t
hmap_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

struct hmap *
hmap_new(void)
{
	struct hmap *m = xcalloc(1, sizeof(*m));

	m->nb = 16;
	m->b = xcalloc(m->nb, sizeof(*m->b));
	return m;
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

static struct hent **
hmap_slot(const struct hmap *m, const char *key, uint64_t h)
{
	struct hent **pp;

	for (pp = &m->b[h & (m->nb - 1)]; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

void *
hmap_get(const struct hmap *m, const char *key)
{
	struct hent **pp = hmap_slot(m, key, hmap_hash(key));

	return *pp == NULL ? NULL : (*pp)->val;
}

static void
hmap_grow(struct hmap *m)
{
	struct hent **nb, *e, *next;
	size_t i, n = m->nb * 2;

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
hmap_put(struct hmap *m, const char *key, void *val)
{
	uint64_t h = hmap_hash(key);
	struct hent **pp = hmap_slot(m, key, h), *e;
	size_t len;
	void *old;

	if (*pp != NULL) {
		old = (*pp)->val;
		(*pp)->val = val;
		return old;
	}
	len = strlen(key) + 1;
	e = xcalloc(1, sizeof(*e) + len);
	memcpy(e->key, key, len);
	e->hash = h;
	e->val = val;
	e->next = m->b[h & (m->nb - 1)];
	m->b[h & (m->nb - 1)] = e;
	if (++m->n > m->nb)
		hmap_grow(m);
	return NULL;
}

void *
hmap_del(struct hmap *m, const char *key)
{
	struct hent **pp = hmap_slot(m, key, hmap_hash(key)), *e;
	void *val;

	if ((e = *pp) == NULL)
		return NULL;
	*pp = e->next;
	val = e->val;
	free(e);
	m->n--;
	return val;
}

size_t
hmap_count(const struct hmap *m)
{
	return m->n;
}

void
hmap_iter_init(struct hmap_iter *it)
{
	it->bucket = 0;
	it->next = NULL;
}

/* The iterator keeps the entry after the current one, so deleting the current one is safe. */
int
hmap_next(const struct hmap *m, struct hmap_iter *it, const char **key, void **val)
{
	struct hent *e = it->next;

	while (e == NULL) {
		if (it->bucket >= m->nb)
			return 0;
		e = m->b[it->bucket++];
	}
	it->next = e->next;
	*key = e->key;
	*val = e->val;
	return 1;
}
