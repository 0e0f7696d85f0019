/*
 * One port for both: is an accepted connection ours or libp2p?  A
 * go-libp2p dialer writes at once its pnet nonce (24 bytes) and, encrypted,
 * "/multistream/1.0.0\n" then its proposals (the EdgeMesh agent: 58 bytes,
 * tests/unit/check_p2p.c test_agent_capture); without pnet the header
 * comes in clear.  Our dialers write msg1 or the migration hello (more than 44
 * bytes).  So 44 bytes decide: bytes 24..43 decrypting to the multistream
 * header under our pnet key is libp2p with our PSK (our msg1 does that by
 * chance with probability 2^-160); the header in clear is libp2p without
 * pnet; anything else is left to our handshake, which names what is wrong.
 */
#include <string.h>

#include "p2p.h"

static const uint8_t mss_hdr[] = "\x13/multistream/1.0.0\n";

int
p2p_sniff(const uint8_t *buf, size_t len, const uint8_t psk[P2P_PNET_KEY])
{
	struct p2p_pnet_dir d;
	uint8_t plain[sizeof(mss_hdr) - 1];
	int pnet;

	if (len >= sizeof(plain) && memcmp(buf, mss_hdr, sizeof(plain)) == 0)
		return P2P_SNIFF_PLAIN;
	if (len < P2P_SNIFF_LEN)
		return P2P_SNIFF_MORE;
	if (psk == NULL)
		return P2P_SNIFF_OURS;
	p2p_pnet_dir_init(&d, psk, buf);
	p2p_pnet_xor(&d, plain, buf + P2P_PNET_NONCE, sizeof(plain));
	p2p_pnet_dir_wipe(&d);
	pnet = memcmp(plain, mss_hdr, sizeof(plain)) == 0;
	return pnet ? P2P_SNIFF_PNET : P2P_SNIFF_OURS;
}
