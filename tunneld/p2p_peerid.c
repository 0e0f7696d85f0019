/*
 * EdgeMesh peer IDs from node names (edgemesh-features.md section 5.2,
 * EdgeMesh pkg/tunnel/util.go GenerateKeyPairWithString): MD5 of the name
 * seeds Go's math/rand; the first 32 bytes it reads are the Ed25519 seed;
 * the peer ID is base58btc of the identity multihash of the protobuf
 * PublicKey.  Go's generator is written here from its description (an
 * additive lagged Fibonacci generator, lags 607 and 273, seeded through
 * x = 48271 x mod (2^31 - 1) xor-ed with p2p_gorand_cooked).
 *
 * Anyone who knows a node's name knows its EdgeMesh key: this identity is
 * for talking to EdgeMesh agents during a migration, never for our own
 * sessions.
 */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "p2p.h"

#define GORAND_M    2147483647LL /* 2^31 - 1 */
#define GORAND_MASK 0x7fffffffffffffffULL

static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* protobuf PublicKey {Type: Ed25519 (1), Data: 32 bytes} behind the
 * identity multihash (code 0x00, length 36) */
static const uint8_t ed25519_id_prefix[6] = {0x00, 0x24, 0x08, 0x01, 0x12, 0x20};

/* x(n+1) = 48271 x(n) mod (2^31 - 1), Schrage's method as Go does it */
static int32_t
seedrand(int32_t x)
{
	int64_t hi = x / 44488, lo = x % 44488, r = 48271 * lo - 3399 * hi;

	if (r < 0)
		r += GORAND_M;
	return (int32_t)r;
}

void
p2p_gorand_seed(struct p2p_gorand *g, int64_t seed)
{
	int32_t x;
	int i;

	g->tap = 0;
	g->feed = P2P_GORAND_LEN - P2P_GORAND_TAP;
	g->readval = 0;
	g->readpos = 0;
	seed %= GORAND_M;
	if (seed < 0)
		seed += GORAND_M;
	if (seed == 0)
		seed = 89482311;
	x = (int32_t)seed;
	for (i = -20; i < P2P_GORAND_LEN; i++) {
		x = seedrand(x);
		if (i >= 0) {
			uint64_t u = (uint64_t)(int64_t)x << 40;

			x = seedrand(x);
			u ^= (uint64_t)(int64_t)x << 20;
			x = seedrand(x);
			u ^= (uint64_t)(int64_t)x;
			g->vec[i] = u ^ (uint64_t)p2p_gorand_cooked[i];
		}
	}
}

int64_t
p2p_gorand_int63(struct p2p_gorand *g)
{
	uint64_t x;

	if (--g->tap < 0)
		g->tap += P2P_GORAND_LEN;
	if (--g->feed < 0)
		g->feed += P2P_GORAND_LEN;
	x = g->vec[g->feed] + g->vec[g->tap];
	g->vec[g->feed] = x;
	return (int64_t)(x & GORAND_MASK);
}

void
p2p_gorand_read(struct p2p_gorand *g, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (g->readpos == 0) {
			g->readval = (uint64_t)p2p_gorand_int63(g);
			g->readpos = 7;
		}
		out[i] = (uint8_t)g->readval;
		g->readval >>= 8;
		g->readpos--;
	}
}

size_t
p2p_base58_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
	uint8_t digits[180];
	size_t zeros = 0, nd = 0, i, j, len;

	if (n > 128) /* 128 bytes need at most 176 digits */
		return 0;
	while (zeros < n && in[zeros] == 0)
		zeros++;
	for (i = zeros; i < n; i++) {
		unsigned carry = in[i];

		for (j = 0; j < nd; j++) {
			carry += (unsigned)digits[j] << 8;
			digits[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		while (carry > 0) {
			digits[nd++] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	len = zeros + nd;
	if (len + 1 > cap)
		return 0;
	for (i = 0; i < zeros; i++)
		out[i] = '1';
	for (j = 0; j < nd; j++)
		out[zeros + j] = b58[digits[nd - 1 - j]];
	out[len] = '\0';
	return len;
}

long
p2p_base58_decode(const char *s, uint8_t *out, size_t cap, char *why, size_t whylen)
{
	uint8_t bytes[128];
	size_t zeros = 0, nb = 0, i, j, slen = strlen(s);

	if (slen > 170) {
		snprintf(why, whylen, "base58: %zu characters, at most 170", slen);
		return -1;
	}
	while (s[zeros] == '1')
		zeros++;
	for (i = zeros; i < slen; i++) {
		const char *p = s[i] != '\0' ? strchr(b58, s[i]) : NULL;
		unsigned carry;

		if (p == NULL) {
			snprintf(why, whylen,
				 "base58: character 0x%02x at %zu is not in the alphabet",
				 (unsigned char)s[i], i);
			return -1;
		}
		carry = (unsigned)(p - b58);
		for (j = 0; j < nb; j++) {
			carry += (unsigned)bytes[j] * 58;
			bytes[j] = (uint8_t)carry;
			carry >>= 8;
		}
		while (carry > 0) {
			bytes[nb++] = (uint8_t)carry;
			carry >>= 8;
		}
	}
	if (zeros + nb > cap) {
		snprintf(why, whylen, "base58: decodes to %zu bytes, at most %zu", zeros + nb, cap);
		return -1;
	}
	memset(out, 0, zeros);
	for (j = 0; j < nb; j++)
		out[zeros + j] = bytes[nb - 1 - j];
	return (long)(zeros + nb);
}

int
p2p_key_from_name(const char *name, size_t len, uint8_t pk[32], uint8_t sk[64], char *why,
		  size_t whylen)
{
	uint8_t d[16], seed[32], skbuf[64];
	struct p2p_gorand g;
	int64_t s = 0;
	int i;

	if (len == 0) {
		snprintf(why, whylen, "EdgeMesh identity: empty node name");
		return -1;
	}
	if (EVP_Digest(name, len, d, NULL, EVP_md5(), NULL) != 1) {
		snprintf(why, whylen, "EdgeMesh identity: MD5 unavailable in this OpenSSL");
		return -1;
	}
	/* the seed is d[0:8] read as a big-endian int64 */
	for (i = 0; i < 8; i++)
		s = (int64_t)(((uint64_t)s << 8) | d[i]);
	p2p_gorand_seed(&g, s);
	p2p_gorand_read(&g, seed, sizeof(seed));
	sodium_memzero(&g, sizeof(g));
	crypto_sign_seed_keypair(pk, skbuf, seed);
	if (sk != NULL)
		memcpy(sk, skbuf, sizeof(skbuf));
	sodium_memzero(skbuf, sizeof(skbuf));
	sodium_memzero(seed, sizeof(seed));
	return 0;
}

void
p2p_peerid_from_pk(const uint8_t pk[32], char out[P2P_PEERID_MAX])
{
	uint8_t bin[P2P_PEERID_BIN];

	memcpy(bin, ed25519_id_prefix, sizeof(ed25519_id_prefix));
	memcpy(bin + sizeof(ed25519_id_prefix), pk, 32);
	p2p_base58_encode(bin, sizeof(bin), out, P2P_PEERID_MAX);
}

int
p2p_peerid_from_name(const char *name, size_t len, char out[P2P_PEERID_MAX], char *why,
		     size_t whylen)
{
	uint8_t pk[32];

	if (p2p_key_from_name(name, len, pk, NULL, why, whylen) == -1)
		return -1;
	p2p_peerid_from_pk(pk, out);
	return 0;
}

int
p2p_peerid_to_pk(const char *peerid, uint8_t pk[32], char *why, size_t whylen)
{
	uint8_t bin[64];
	char sub[96];
	long n;

	if ((n = p2p_base58_decode(peerid, bin, sizeof(bin), sub, sizeof(sub))) == -1) {
		snprintf(why, whylen, "peer ID: %s", sub);
		return -1;
	}
	if (n != P2P_PEERID_BIN || memcmp(bin, ed25519_id_prefix, sizeof(ed25519_id_prefix)) != 0) {
		snprintf(why, whylen,
			 "peer ID: not an inline Ed25519 key (%ld bytes, expected 38 starting "
			 "00 24 08 01 12 20)",
			 n);
		return -1;
	}
	memcpy(pk, bin + sizeof(ed25519_id_prefix), 32);
	return 0;
}
