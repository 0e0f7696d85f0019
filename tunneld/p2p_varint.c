/*
 * Unsigned LEB128 varints: multiformats' uvarint (multistream-select
 * lengths, where the shortest form is required) and protobuf's varint
 * (EdgeMesh's message lengths and fields).
 */
#include <stdio.h>

#include "p2p.h"

size_t
p2p_uvarint_put(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

int
p2p_uvarint_get(const uint8_t *buf, size_t len, uint64_t *v, size_t *used, int minimal, char *why,
		size_t whylen)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < len && i < P2P_UVARINT_MAX; i++) {
		uint8_t b = buf[i];

		if (i == 9 && b > 1) {
			snprintf(why, whylen, "varint over 64 bits");
			return -1;
		}
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			if (minimal && i > 0 && b == 0) {
				snprintf(why, whylen, "varint not in its shortest form (%zu bytes)",
					 i + 1);
				return -1;
			}
			*v = x;
			*used = i + 1;
			return 1;
		}
	}
	return 0; /* (a tenth byte always ends it or is refused above) */
}

int
p2p_uvarint_prefix(const uint8_t *buf, size_t len, int minimal, const char *what, uint64_t *n,
		   size_t *hdr, char *why, size_t whylen)
{
	char sub[64];
	int r;

	if ((r = p2p_uvarint_get(buf, len, n, hdr, minimal, sub, sizeof(sub))) == -1)
		snprintf(why, whylen, "%s: %s", what, sub);
	return r;
}
