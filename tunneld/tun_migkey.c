/*
 * Path migration's pure parts (tun_migrate.c uses them; tests/unit/check_tun.c
 * checks them): the session's migration key and id, the hello a new path
 * starts with, and the proof that the path belongs to the session.
 *
 *   mig_key = BLAKE2b-256(key = k_i2r || k_r2i, "edgemesh-migrate-key-v1")
 *   mig_id  = BLAKE2b-128(key = mig_key, "edgemesh-migrate-id-v1")
 *   hello   = 00 00 || "EMGR" || version 1 || flags u8 || id[16] || nonce[16] ||
 *             rxn u64
 *   proof   = BLAKE2b-256(key = mig_key, "EMGR-proof" || role || nonce_self ||
 *                         nonce_peer || rxn || flags)
 */
#include <sodium.h>
#include <string.h>

#include "byteorder.h"
#include "tunneld.h"

#define MIG_MAGIC   "EMGR"
#define MIG_VERSION 1

void
tun_mig_derive(const uint8_t k_i2r[32], const uint8_t k_r2i[32], uint8_t key[32], uint8_t id[16])
{
	static const char klabel[] = "edgemesh-migrate-key-v1", ilabel[] = "edgemesh-migrate-id-v1";
	uint8_t km[64];

	memcpy(km, k_i2r, 32);
	memcpy(km + 32, k_r2i, 32);
	crypto_generichash(key, 32, (const uint8_t *)klabel, sizeof(klabel) - 1, km, sizeof(km));
	crypto_generichash(id, 16, (const uint8_t *)ilabel, sizeof(ilabel) - 1, key, 32);
	sodium_memzero(km, sizeof(km));
}

void
tun_mig_proof(const uint8_t key[32], uint8_t role, const uint8_t nonce_self[16],
	      const uint8_t nonce_peer[16], uint64_t rxn, uint8_t flags, uint8_t out[TUN_MIG_PROOF])
{
	uint8_t m[10 + 1 + 16 + 16 + 8 + 1];

	memcpy(m, "EMGR-proof", 10);
	m[10] = role;
	memcpy(m + 11, nonce_self, 16);
	memcpy(m + 27, nonce_peer, 16);
	be64_put(m + 43, rxn);
	m[51] = flags;
	crypto_generichash(out, TUN_MIG_PROOF, m, sizeof(m), key, 32);
}

void
tun_mig_hello_encode(const uint8_t id[16], const uint8_t nonce[16], uint64_t rxn, uint8_t flags,
		     uint8_t out[TUN_MIG_HELLO])
{
	out[0] = out[1] = 0;
	memcpy(out + 2, MIG_MAGIC, 4);
	out[6] = MIG_VERSION;
	out[7] = flags;
	memcpy(out + 8, id, 16);
	memcpy(out + 24, nonce, 16);
	be64_put(out + 40, rxn);
}

int
tun_mig_hello_decode(const uint8_t *in, size_t len, uint8_t id[16], uint8_t nonce[16],
		     uint64_t *rxn, uint8_t *flags)
{
	if (len != TUN_MIG_HELLO || in[0] != 0 || in[1] != 0 || memcmp(in + 2, MIG_MAGIC, 4) != 0 ||
	    in[6] != MIG_VERSION)
		return -1;
	*flags = in[7];
	memcpy(id, in + 8, 16);
	memcpy(nonce, in + 24, 16);
	*rxn = be64_get(in + 40);
	return 0;
}
