/*
 * libFuzzer: yamux frame headers (tunneld/p2p_yamux.c), read as a stream
 * of frames (data frames skip their payload).  Beside "no crash": a header
 * parsed is re-encoded to the same 12 bytes (make fuzz).
 */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct p2p_yamux_hdr h;
	uint8_t again[P2P_YAMUX_HDR];
	char why[160];
	size_t off = 0;
	int r;

	while ((r = p2p_yamux_parse(data + off, len - off, &h, why, sizeof(why))) == 1) {
		p2p_yamux_encode(again, &h);
		if (memcmp(again, data + off, P2P_YAMUX_HDR) != 0)
			__builtin_trap();
		off += P2P_YAMUX_HDR;
		if (h.type == P2P_YAMUX_DATA) {
			if (h.length > len - off)
				break;
			off += h.length;
		}
	}
	if (r == -1 && why[0] == '\0')
		__builtin_trap();
	return 0;
}
