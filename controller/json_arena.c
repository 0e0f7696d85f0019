/*
 * A bump allocator for jansson on the thread that parses a registry chunk.
 * A chunk's JSON lives from its first scalar to the end of kobj_parse, all
 * of it freed at once: one block of bumped allocations instead of a
 * malloc and a free per value, key and hashtable.  Outside an arena (any
 * other thread, the Kubernetes API client) jansson allocates with malloc;
 * a free of memory not in this thread's arena goes to free(), so values
 * made before json_arena_begin are released as usual.  No value made in an
 * arena may outlive json_arena_end: kobj_parse keeps no JSON.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "controller.h"

#define ARENA_BLOCK (64u * 1024)
#define ARENA_ALIGN 16u

struct arena_block {
	struct arena_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

static __thread struct json_arena *cur;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static int
owns(const struct json_arena *a, const void *p)
{
	const struct arena_block *b;
	uintptr_t u = (uintptr_t)p;

	for (b = a->head; b != NULL; b = b->next)
		if (u >= (uintptr_t)b->data && u < (uintptr_t)b->data + b->size)
			return 1;
	return 0;
}

static void *
arena_malloc(size_t n)
{
	struct json_arena *a = cur;
	struct arena_block *b;
	size_t size;
	void *p;

	if (a == NULL)
		return malloc(n);
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	b = a->head;
	if (b == NULL || b->size - b->used < n) {
		size = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK - sizeof(*b);
		if ((b = malloc(sizeof(*b) + size)) == NULL)
			return NULL; /* jansson reports it */
		b->used = 0;
		b->size = size;
		/* a big one-off goes behind the current block, which stays in use */
		if (a->head != NULL && size != ARENA_BLOCK - sizeof(*b)) {
			b->next = a->head->next;
			a->head->next = b;
			b->used = n;
			return b->data;
		}
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

static void
arena_free(void *p)
{
	if (p == NULL || (cur != NULL && owns(cur, p)))
		return;
	free(p);
}

static void
arena_install(void)
{
	json_set_alloc_funcs(arena_malloc, arena_free);
}

void
json_arena_init(void)
{
	pthread_once(&once, arena_install);
}

void
json_arena_begin(struct json_arena *a)
{
	json_arena_init();
	a->head = NULL;
	cur = a;
}

void
json_arena_end(struct json_arena *a)
{
	struct arena_block *b, *next;

	cur = NULL;
	for (b = a->head; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}
