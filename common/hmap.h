/* A string-keyed hash map (chained, FNV-1a, doubles at load 1). */
#ifndef EM_HMAP_H
#define EM_HMAP_H

#include <stddef.h>

struct hmap;
struct hmap_iter {
	size_t bucket;
	void *next;
};

struct hmap *hmap_new(void);
void hmap_free(struct hmap *, void (*freeval)(void *));
void *hmap_get(const struct hmap *, const char *key);
/* Insert or replace; returns the previous value or NULL. */
void *hmap_put(struct hmap *, const char *key, void *val);
/* Remove; returns the value or NULL. Safe during iteration for the current entry. */
void *hmap_del(struct hmap *, const char *key);
size_t hmap_count(const struct hmap *);
void hmap_iter_init(struct hmap_iter *);
/* 1 with key/val set, 0 at the end. */
int hmap_next(const struct hmap *, struct hmap_iter *, const char **key, void **val);

#endif
