/*
 * libFuzzer: the pnet key file parser and peer ID / base58 decoding
 * (tunneld/p2p_pnet.c, p2p_peerid.c), and the XSalsa20 stream cut where
 * the input says, and the shared port's first-bytes test.  Beside "no crash": base58 decodes
 * re-encode to the text they came from; a stream cut anywhere equals one call (make fuzz).
 */
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t psk[32], pk[32], bin[128], one[256], cut[256];
	char s[200], enc[200], why[160] = "";
	struct p2p_pnet_dir d;
	long n;
	size_t k, at;

	if (p2p_pnet_parse_keyfile(data, len, psk, why, sizeof(why)) == -1 && why[0] == '\0')
		__builtin_trap();
	k = len < sizeof(s) - 1 ? len : sizeof(s) - 1;
	memcpy(s, data, k);
	s[k] = '\0';
	(void)p2p_peerid_to_pk(s, pk, why, sizeof(why));
	if ((n = p2p_base58_decode(s, bin, sizeof(bin), why, sizeof(why))) >= 0) {
		if (p2p_base58_encode(bin, (size_t)n, enc, sizeof(enc)) != strlen(s) ||
		    strcmp(enc, s) != 0)
			__builtin_trap();
	}
	/* the first-bytes test of the shared port: decides only on enough bytes */
	memset(psk, 0x42, sizeof(psk));
	if (p2p_sniff(data, len, psk) == P2P_SNIFF_PNET && len < P2P_SNIFF_LEN)
		__builtin_trap();
	/* the stream: key and nonce from the input, cut at its first byte */
	memset(psk, 0x42, sizeof(psk));
	k = len < sizeof(one) ? len : sizeof(one);
	at = len > 0 ? data[0] % (k + 1) : 0;
	p2p_pnet_dir_init(&d, psk, (const uint8_t *)"0123456789abcdefghijklmn");
	p2p_pnet_xor(&d, one, data, k);
	p2p_pnet_dir_init(&d, psk, (const uint8_t *)"0123456789abcdefghijklmn");
	p2p_pnet_xor(&d, cut, data, at);
	p2p_pnet_xor(&d, cut + at, data + at, k - at);
	if (memcmp(one, cut, k) != 0)
		__builtin_trap();
	return 0;
}
