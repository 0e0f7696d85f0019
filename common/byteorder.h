/*
 * Big- and little-endian loads and stores at any alignment, on <endian.h>:
 * be16_get/be16_put, be32_get/be32_put, be64_get/be64_put,
 * le32_get/le32_put, le64_get/le64_put.
 */
#ifndef EM_BYTEORDER_H
#define EM_BYTEORDER_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

/* clang-format off */
#define EM_BYTEORDER(name, type, tohost, fromhost)                                                 \
	static inline type name##_get(const void *p)                                               \
	{                                                                                          \
		type v;                                                                            \
		memcpy(&v, p, sizeof(v));                                                          \
		return tohost(v);                                                                  \
	}                                                                                          \
	static inline void name##_put(void *p, type v)                                             \
	{                                                                                          \
		v = fromhost(v);                                                                   \
		memcpy(p, &v, sizeof(v));                                                          \
	}

EM_BYTEORDER(be16, uint16_t, be16toh, htobe16)
EM_BYTEORDER(be32, uint32_t, be32toh, htobe32)
EM_BYTEORDER(be64, uint64_t, be64toh, htobe64)
EM_BYTEORDER(le32, uint32_t, le32toh, htole32)
EM_BYTEORDER(le64, uint64_t, le64toh, htole64)
/* clang-format on */

#undef EM_BYTEORDER

#endif
