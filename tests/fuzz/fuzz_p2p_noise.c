/*
 * libFuzzer: libp2p's Noise handshake (tunneld/p2p_noise.c) read by a
 * dialler after its msg1 (the agent's msg2) and by a listener (msg1, then
 * the first bytes again as msg3).  Beside "no crash": a refusal says why;
 * random bytes never authenticate as msg2 (make fuzz).
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint8_t sk[32] = {7}, ek[32] = {8};
	struct p2p_noise ini, resp;
	uint8_t m[256], pl[1024];
	size_t ml, pll;
	char why[200] = "";

	if (len > 65535)
		return 0;
	p2p_noise_init_with(&ini, 1, sk, ek, NULL, 0);
	if (p2p_noise_write(&ini, NULL, 0, m, sizeof(m), &ml) == -1)
		__builtin_trap();
	if (p2p_noise_read(&ini, data, len, pl, sizeof(pl), &pll, why, sizeof(why)) == 0)
		__builtin_trap(); /* only the holder of ini's ephemeral peer could */
	if (why[0] == '\0')
		__builtin_trap();
	why[0] = '\0';
	p2p_noise_init_with(&resp, 0, sk, ek, NULL, 0);
	if (p2p_noise_read(&resp, data, len, pl, sizeof(pl), &pll, why, sizeof(why)) == -1) {
		if (why[0] == '\0')
			__builtin_trap();
		return 0;
	}
	if (p2p_noise_write(&resp, NULL, 0, m, sizeof(m), &ml) == -1)
		return 0; /* a low-order ephemeral key: refused */
	why[0] = '\0';
	if (p2p_noise_read(&resp, data, len, pl, sizeof(pl), &pll, why, sizeof(why)) == 0)
		__builtin_trap(); /* msg3 needs the initiator's keys */
	if (why[0] == '\0')
		__builtin_trap();
	p2p_noise_wipe(&ini);
	p2p_noise_wipe(&resp);
	return 0;
}
