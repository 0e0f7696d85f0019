/*
 * Strict msgpack reading.  Every message is a msgpack array of a fixed
 * number of fields; a reader walks it field by field and the first error
 * sticks (later calls return zero values), so a decoder reads straight
 * through and checks once at mp_end().
 */
#ifndef EM_MP_H
#define EM_MP_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mp_rd {
	const msgpack_object *arr;
	uint32_t i;
	const char *what; /* message or object name for errors */
	char *err;
	size_t errlen;
	int failed;
};

/* Expect an array of exactly n fields. */
int mp_begin(struct mp_rd *, const msgpack_object *, uint32_t n, const char *what, char *err,
	     size_t errlen);
int mp_end(struct mp_rd *);
uint64_t mp_uint(struct mp_rd *, uint64_t max);
bool mp_bool(struct mp_rd *);
double mp_double(struct mp_rd *);
/* Heap copy of a string field of at most maxlen bytes, no NUL inside. */
char *mp_strdup(struct mp_rd *, size_t maxlen);
/* Copy into a fixed buffer (size includes the NUL). */
void mp_strcpy(struct mp_rd *, char *dst, size_t dstsz);
/* A bin field of at most cap bytes copied into dst; returns its length. */
size_t mp_bin(struct mp_rd *, uint8_t *dst, size_t cap);
/* An array field of at most maxn elements; returns its object (NULL on error). */
const msgpack_object *mp_array(struct mp_rd *, uint32_t maxn);
/* A nested array of exactly n fields, read with a child reader sharing err. */
int mp_nested(struct mp_rd *parent, struct mp_rd *child, const msgpack_object *o, uint32_t n,
	      const char *what);
void mp_fail(struct mp_rd *, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writing helpers. */
void mp_pack_str(msgpack_packer *, const char *);

#endif
