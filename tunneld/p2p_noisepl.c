/*
 * The libp2p Noise handshake payload (libp2p noise spec, "Handshake
 * payload"): a peer proves that its Noise static key belongs to its libp2p
 * identity by signing "noise-libp2p-static-key:" || static key with its
 * identity key.  EdgeMesh identities are Ed25519 (p2p_peerid.c); other key
 * types are refused by name.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "p2p.h"

#define YAMUX_PROTO "/yamux/1.0.0"

static const char *const key_types[] = {"RSA", "Ed25519", "Secp256k1", "ECDSA"};

size_t
p2p_noisepl_encode(uint8_t *out, size_t cap, const uint8_t sk[64], const uint8_t static_pk[32],
		   const char *muxer)
{
	uint8_t msg[sizeof(P2P_NOISE_SIG_PREFIX) - 1 + 32], sig[64], ext[64];
	size_t n = 0, mlen = muxer != NULL ? strlen(muxer) : 0, elen = 0;

	if (mlen > 60)
		return 0;
	if (mlen > 0) {
		/* NoiseExtensions { stream_muxers (2) = muxer } */
		ext[elen++] = 2 << 3 | P2P_PB_WT_LEN;
		ext[elen++] = (uint8_t)mlen;
		memcpy(ext + elen, muxer, mlen);
		elen += mlen;
	}
	if (2 + 36 + 2 + 64 + (elen > 0 ? 2 + elen : 0) > cap)
		return 0;
	memcpy(msg, P2P_NOISE_SIG_PREFIX, sizeof(P2P_NOISE_SIG_PREFIX) - 1);
	memcpy(msg + sizeof(P2P_NOISE_SIG_PREFIX) - 1, static_pk, 32);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), sk);
	/* identity_key (1) = PublicKey { Type (1) = Ed25519 (1), Data (2) = pub } */
	out[n++] = 1 << 3 | P2P_PB_WT_LEN;
	out[n++] = 36;
	out[n++] = 1 << 3 | P2P_PB_WT_VARINT;
	out[n++] = 1;
	out[n++] = 2 << 3 | P2P_PB_WT_LEN;
	out[n++] = 32;
	memcpy(out + n, sk + 32, 32); /* libsodium keeps the public key there */
	n += 32;
	/* identity_sig (2) */
	out[n++] = 2 << 3 | P2P_PB_WT_LEN;
	out[n++] = 64;
	memcpy(out + n, sig, 64);
	n += 64;
	if (elen > 0) {
		/* extensions (4) */
		out[n++] = 4 << 3 | P2P_PB_WT_LEN;
		out[n++] = (uint8_t)elen;
		memcpy(out + n, ext, elen);
		n += elen;
	}
	return n;
}

/* PublicKey { Type = 1; Data = 2 } holding an Ed25519 key */
static int
parse_pubkey(const uint8_t *p, size_t len, uint8_t pk[32], char *why, size_t whylen)
{
	const uint8_t *end = p + len;
	struct p2p_pb_field f;
	int r, type = -1;
	const uint8_t *data = NULL;
	size_t dlen = 0;

	while ((r = p2p_pb_next(&p, end, &f, why, whylen)) == 1) {
		if (f.num == 1 && f.wt == P2P_PB_WT_VARINT)
			type = f.v > 3 ? 99 : (int)f.v;
		else if (f.num == 2 && f.wt == P2P_PB_WT_LEN) {
			data = f.data;
			dlen = f.len;
		} else if (f.num == 1 || f.num == 2) {
			snprintf(why, whylen,
				 "noise payload: identity key field %u has wire type %u", f.num,
				 f.wt);
			return -1;
		}
	}
	if (r == -1)
		return -1;
	if (type == -1 || data == NULL) {
		snprintf(why, whylen, "noise payload: identity key without %s",
			 type == -1 ? "a type" : "data");
		return -1;
	}
	if (type != 1) {
		snprintf(why, whylen,
			 "noise payload: identity key type %s is not supported (EdgeMesh "
			 "uses Ed25519)",
			 type <= 3 ? key_types[type] : "unknown");
		return -1;
	}
	if (dlen != 32) {
		snprintf(why, whylen, "noise payload: Ed25519 key of %zu bytes, not 32", dlen);
		return -1;
	}
	memcpy(pk, data, 32);
	return 0;
}

static int
parse_extensions(const uint8_t *p, size_t len, int *yamux, char *why, size_t whylen)
{
	const uint8_t *end = p + len;
	struct p2p_pb_field f;
	int r;

	while ((r = p2p_pb_next(&p, end, &f, why, whylen)) == 1)
		if (f.num == 2 && f.wt == P2P_PB_WT_LEN && f.len == strlen(YAMUX_PROTO) &&
		    memcmp(f.data, YAMUX_PROTO, f.len) == 0)
			*yamux = 1;
	return r;
}

int
p2p_noisepl_verify(const uint8_t *buf, size_t len, const uint8_t static_pk[32], uint8_t pk[32],
		   int *yamux, char *why, size_t whylen)
{
	const uint8_t *p = buf, *end = buf + len, *key = NULL, *sig = NULL;
	uint8_t msg[sizeof(P2P_NOISE_SIG_PREFIX) - 1 + 32];
	size_t klen = 0, slen = 0;
	struct p2p_pb_field f;
	int r;

	*yamux = 0;
	if (len > P2P_NOISEPL_MAX) {
		snprintf(why, whylen, "noise payload: %zu bytes, at most %d", len, P2P_NOISEPL_MAX);
		return -1;
	}
	while ((r = p2p_pb_next(&p, end, &f, why, whylen)) == 1) {
		if (f.num != 1 && f.num != 2 && f.num != 4)
			continue;
		if (f.wt != P2P_PB_WT_LEN) {
			snprintf(why, whylen, "noise payload: field %u has wire type %u", f.num,
				 f.wt);
			return -1;
		}
		if (f.num == 1) {
			key = f.data;
			klen = f.len;
		} else if (f.num == 2) {
			sig = f.data;
			slen = f.len;
		} else if (parse_extensions(f.data, f.len, yamux, why, whylen) == -1)
			return -1;
	}
	if (r == -1)
		return -1;
	if (key == NULL) {
		snprintf(why, whylen, "noise payload: no identity key");
		return -1;
	}
	if (parse_pubkey(key, klen, pk, why, whylen) == -1)
		return -1;
	if (sig == NULL || slen != 64) {
		snprintf(why, whylen, "noise payload: identity signature %s",
			 sig == NULL ? "missing" : "not 64 bytes");
		return -1;
	}
	memcpy(msg, P2P_NOISE_SIG_PREFIX, sizeof(P2P_NOISE_SIG_PREFIX) - 1);
	memcpy(msg + sizeof(P2P_NOISE_SIG_PREFIX) - 1, static_pk, 32);
	if (crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) != 0) {
		snprintf(why, whylen,
			 "noise payload: the identity key's signature over the static key does not "
			 "verify");
		return -1;
	}
	return 0;
}
