/*
 * The one hash table: chained, doubling at load 1, keyed by byte strings
 * (copied in) and hashed with SipHash-2-4 (libsodium's crypto_shorthash)
 * under a key drawn at random when the process makes its first table, so
 * keys chosen by others (client addresses, names, stream ids) cannot be
 * aimed at one bucket.  The plain names take C strings; the ...b names
 * take a pointer and a length.  Not for threads.
 */
#ifndef EM_HMAP_H
#define EM_HMAP_H

#include <stddef.h>
#include <stdint.h>

#define HMAP_SEEDBYTES 16

struct hmap;
struct hmap_iter {
	size_t bucket;
	void *next;
};

/* A table under the process's random seed. */
struct hmap *hmap_new(void);
/* A table under this seed (tests: a fixed order). */
struct hmap *hmap_new_seeded(const uint8_t seed[HMAP_SEEDBYTES]);
void hmap_free(struct hmap *, void (*freeval)(void *));
size_t hmap_count(const struct hmap *);

void *hmap_getb(const struct hmap *, const void *key, size_t klen);
/* Insert or replace; returns the previous value or NULL. */
void *hmap_putb(struct hmap *, const void *key, size_t klen, void *val);
/* Remove; returns the value or NULL. Safe during iteration for the current entry. */
void *hmap_delb(struct hmap *, const void *key, size_t klen);

void *hmap_get(const struct hmap *, const char *key);
void *hmap_put(struct hmap *, const char *key, void *val);
void *hmap_del(struct hmap *, const char *key);

/* Iteration in bucket order; 1 with key/val set, 0 at the end.  A key
 * is followed by a NUL byte not counted in klen (a C string for the
 * plain names); klen may be NULL. */
void hmap_iter_init(struct hmap_iter *);
int hmap_nextb(const struct hmap *, struct hmap_iter *, const void **key, size_t *klen, void **val);
int hmap_next(const struct hmap *, struct hmap_iter *, const char **key, void **val);

/* Copies of the (C string) keys in strcmp order, *n of them and a NULL:
 * for walks whose order must not depend on the seed, or that change the
 * map.  Free with hmap_keys_free(). */
char **hmap_keys(const struct hmap *, size_t *n);
void hmap_keys_free(char **);

#endif
