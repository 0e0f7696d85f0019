/*
 * libFuzzer: the libp2p Noise handshake payload (tunneld/p2p_noisepl.c).
 * Beside "no crash": an input that verifies is accepted only for the
 * static key it signs; a refusal says why (make fuzz).
 */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint8_t xpk[32] = {9}, other[32] = {10};
	uint8_t pk[32];
	char why[160] = "";
	int yamux;

	if (p2p_noisepl_verify(data, len, xpk, pk, &yamux, why, sizeof(why)) == 0) {
		/* (the seed is signed for xpk): never valid for another key */
		if (p2p_noisepl_verify(data, len, other, pk, &yamux, why, sizeof(why)) == 0)
			__builtin_trap();
	} else if (why[0] == '\0') {
		__builtin_trap();
	}
	return 0;
}
