/*
 * libp2p's Noise handshake: Noise_XX_25519_ChaChaPoly_SHA256, empty
 * prologue, no PSK (go-libp2p p2p/security/noise).  A small state of its
 * own rather than a mode of tun_noise.c, whose hash is BLAKE2b-512 all
 * through: here SHA-256 (HASHLEN 32) and HKDF over HMAC-SHA256, on
 * libsodium.  Only the handshake: its split keys go to noise_cs_init()
 * (transport records are ChaChaPoly with the same nonce layout as ours).
 *
 *   -> e
 *   <- e, ee, s, es
 *   -> s, se
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "p2p.h"

#define PROTO "Noise_XX_25519_ChaChaPoly_SHA256" /* 32 bytes: h is the name */

static void
mix_hash(struct p2p_noise *n, const uint8_t *data, size_t len)
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, n->h, 32);
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, n->h);
}

static void
hmac(const uint8_t key[32], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
     uint8_t out[32])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, 32);
	crypto_auth_hmacsha256_update(&st, a, alen);
	if (blen > 0)
		crypto_auth_hmacsha256_update(&st, b, blen);
	crypto_auth_hmacsha256_final(&st, out);
}

/* HKDF(ck, ikm) -> out1, out2 */
static void
hkdf(const uint8_t ck[32], const uint8_t *ikm, size_t ilen, uint8_t o1[32], uint8_t o2[32])
{
	uint8_t temp[32], one = 1, two[33];

	hmac(ck, ikm, ilen, NULL, 0, temp);
	hmac(temp, &one, 1, NULL, 0, o1);
	memcpy(two, o1, 32);
	two[32] = 2;
	hmac(temp, two, 33, NULL, 0, o2);
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(two, sizeof(two));
}

static int
mix_dh(struct p2p_noise *n, const uint8_t priv[32], const uint8_t pub[32])
{
	uint8_t dh[32], ck[32];

	if (crypto_scalarmult(dh, priv, pub) != 0)
		return -1; /* low-order point */
	hkdf(n->ck, dh, 32, ck, n->k);
	memcpy(n->ck, ck, 32);
	n->n = 0;
	n->haskey = 1;
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(ck, sizeof(ck));
	return 0;
}

static void
nonce(uint64_t v, uint8_t out[12])
{
	int i;

	memset(out, 0, 12);
	for (i = 0; i < 8; i++)
		out[4 + i] = (uint8_t)(v >> (8 * i));
}

/* EncryptAndHash into out (len + 16 bytes once keyed) */
static size_t
enc_hash(struct p2p_noise *n, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t nb[12];
	unsigned long long clen;

	if (!n->haskey) {
		if (len > 0) /* an empty payload may come as NULL */
			memmove(out, in, len);
		mix_hash(n, out, len);
		return len;
	}
	nonce(n->n++, nb);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, n->h, 32, NULL, nb, n->k);
	mix_hash(n, out, (size_t)clen);
	return (size_t)clen;
}

static int
dec_hash(struct p2p_noise *n, const uint8_t *in, size_t len, uint8_t *out, size_t *olen)
{
	uint8_t nb[12];
	unsigned long long plen;

	if (!n->haskey) {
		if (len > 0) /* an empty payload may come as NULL */
			memmove(out, in, len);
		*olen = len;
		mix_hash(n, in, len);
		return 0;
	}
	if (len < 16)
		return -1;
	nonce(n->n, nb);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, in, len, n->h, 32, nb,
						      n->k) != 0)
		return -1;
	n->n++;
	mix_hash(n, in, len);
	*olen = (size_t)plen;
	return 0;
}

void
p2p_noise_init_with(struct p2p_noise *n, int initiator, const uint8_t s_priv[32],
		    const uint8_t *e_priv, const uint8_t *prologue, size_t plen)
{
	memset(n, 0, sizeof(*n));
	n->initiator = initiator;
	memcpy(n->h, PROTO, 32);
	memcpy(n->ck, n->h, 32);
	mix_hash(n, prologue, plen);
	memcpy(n->s_priv, s_priv, 32);
	crypto_scalarmult_base(n->s_pub, n->s_priv);
	if (e_priv != NULL)
		memcpy(n->e_priv, e_priv, 32);
	else
		randombytes_buf(n->e_priv, 32);
	crypto_scalarmult_base(n->e_pub, n->e_priv);
}

void
p2p_noise_init(struct p2p_noise *n, int initiator, const uint8_t s_priv[32])
{
	p2p_noise_init_with(n, initiator, s_priv, NULL, NULL, 0); /* libp2p: no prologue */
}

void
p2p_noise_wipe(struct p2p_noise *n)
{
	sodium_memzero(n, sizeof(*n));
}

int
p2p_noise_our_turn(const struct p2p_noise *n)
{
	return (n->step % 2 == 0) == (n->initiator != 0) && n->step < 3;
}

int
p2p_noise_write(struct p2p_noise *n, const uint8_t *pl, size_t plen, uint8_t *out, size_t cap,
		size_t *olen)
{
	size_t o = 0;

	if (!p2p_noise_our_turn(n) || plen > P2P_NOISEPL_MAX || cap < 32 + 48 + plen + 16)
		return -1;
	switch (n->step) {
	case 0: /* -> e */
		memcpy(out, n->e_pub, 32);
		mix_hash(n, n->e_pub, 32);
		o = 32;
		break;
	case 1: /* <- e, ee, s, es */
		memcpy(out, n->e_pub, 32);
		mix_hash(n, n->e_pub, 32);
		o = 32;
		if (mix_dh(n, n->e_priv, n->re) == -1)
			return -1;
		o += enc_hash(n, n->s_pub, 32, out + o);
		if (mix_dh(n, n->s_priv, n->re) == -1)
			return -1;
		break;
	case 2: /* -> s, se */
		o = enc_hash(n, n->s_pub, 32, out);
		if (mix_dh(n, n->s_priv, n->re) == -1)
			return -1;
		break;
	}
	o += enc_hash(n, pl, plen, out + o);
	n->step++;
	*olen = o;
	return 0;
}

int
p2p_noise_read(struct p2p_noise *n, const uint8_t *msg, size_t mlen, uint8_t *pl, size_t cap,
	       size_t *plen, char *why, size_t whylen)
{
	size_t off = 0, l;
	int sk = 48; /* an encrypted static key */

	if (p2p_noise_our_turn(n) || n->step >= 3) {
		snprintf(why, whylen, "noise: a handshake message out of turn");
		return -1;
	}
	switch (n->step) {
	case 0: /* -> e */
		if (mlen < 32)
			goto shortmsg;
		memcpy(n->re, msg, 32);
		mix_hash(n, n->re, 32);
		off = 32;
		break;
	case 1: /* <- e, ee, s, es */
		if (mlen < 32 + (size_t)sk + 16)
			goto shortmsg;
		memcpy(n->re, msg, 32);
		mix_hash(n, n->re, 32);
		off = 32;
		if (mix_dh(n, n->e_priv, n->re) == -1)
			goto lowdh;
		if (dec_hash(n, msg + off, (size_t)sk, n->rs, &l) == -1)
			goto badtag;
		off += (size_t)sk;
		if (mix_dh(n, n->e_priv, n->rs) == -1)
			goto lowdh;
		break;
	case 2: /* -> s, se */
		if (mlen < (size_t)sk + 16)
			goto shortmsg;
		if (dec_hash(n, msg, (size_t)sk, n->rs, &l) == -1)
			goto badtag;
		off = (size_t)sk;
		if (mix_dh(n, n->e_priv, n->rs) == -1)
			goto lowdh;
		break;
	}
	if (mlen - off > cap + (n->haskey ? 16 : 0)) {
		snprintf(why, whylen, "noise: payload of %zu bytes too long", mlen - off);
		return -1;
	}
	if (dec_hash(n, msg + off, mlen - off, pl, plen) == -1)
		goto badtag;
	n->step++;
	return 0;
shortmsg:
	snprintf(why, whylen, "noise: handshake message %d of %zu bytes is short", n->step + 1,
		 mlen);
	return -1;
badtag:
	snprintf(why, whylen,
		 "noise: handshake message %d does not authenticate (not the libp2p Noise "
		 "suite Noise_XX_25519_ChaChaPoly_SHA256?)",
		 n->step + 1);
	return -1;
lowdh:
	snprintf(why, whylen, "noise: a low-order key in handshake message %d", n->step + 1);
	return -1;
}

int
p2p_noise_split(struct p2p_noise *n, uint8_t ksend[32], uint8_t krecv[32])
{
	uint8_t k1[32], k2[32];

	if (n->step < 3)
		return -1;
	hkdf(n->ck, NULL, 0, k1, k2);
	memcpy(n->initiator ? ksend : krecv, k1, 32);
	memcpy(n->initiator ? krecv : ksend, k2, 32);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return 0;
}
