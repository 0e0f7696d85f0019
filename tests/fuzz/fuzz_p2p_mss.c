/*
 * libFuzzer: multistream-select messages (tunneld/p2p_mss.c), read one
 * after another as a stream.  Beside "no crash": a message parsed is
 * re-encoded to exactly the bytes it came from (make fuzz).
 */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t again[P2P_MSS_MAX + P2P_UVARINT_MAX];
	char line[P2P_MSS_MAX + 1], why[160];
	size_t used, off = 0;
	int r;

	while ((r = p2p_mss_parse(data + off, len - off, line, sizeof(line), &used, why,
				  sizeof(why))) == 1) {
		if (used > len - off || p2p_mss_encode(again, sizeof(again), line) != used ||
		    memcmp(again, data + off, used) != 0)
			__builtin_trap();
		off += used;
	}
	if (r == -1 && why[0] == '\0')
		__builtin_trap();
	return 0;
}
