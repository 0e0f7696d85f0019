/* Byte buffers consumed from the front. */
#ifndef EM_BUF_H
#define EM_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Drops the first n of the *len bytes at b: the rest moves to the front. */
static inline void
buf_consume(uint8_t *b, size_t *len, size_t n)
{
	memmove(b, b + n, *len - n);
	*len -= n;
}

#endif
