/*
 * Noise Protocol Framework (rev 34), the 25519_ChaChaPoly_BLAKE2b and
 * 25519_AESGCM_BLAKE2b suites, pattern XXpsk3 for tunneld; XX, IK and IKpsk2 are here only for the
 * public vectors (tests/vectors/, tests/unit/check_noise.c), which thus
 * check every token order the engine knows.  Names follow the spec: CipherState
 * k/n, SymmetricState ck/h, HandshakeState s/e/rs/re.
 *
 * The handshake (X25519, BLAKE2b, its ChaChaPoly) is libsodium.  Transport
 * records, after Split, go through OpenSSL's EVP chacha20-poly1305, several
 * times faster than libsodium's on x86-64: the same IETF construction (12-byte
 * nonce = 4 zero bytes || LE64(n), 16-byte tag appended), byte for byte.
 * Each transport CipherState keeps one EVP context keyed at Split or Rekey,
 * so a record costs no allocation and no key set-up.  AESGCM (EVP
 * aes-256-gcm, nonce 4 zero bytes || BE64(n)) goes the same way; its few
 * handshake and rekey seals use a short-lived context.
 */
#include <limits.h>
#include <string.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include <openssl/evp.h>
#include <sodium.h>

#include "byteorder.h"
#include "tun_noise.h"

#define DHLEN	 32
#define HASHLEN	 64
#define BLOCKLEN 128

enum noise_token { T_END, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };

#define MAX_MSGS   3
#define MAX_TOKENS 5

/* clang-format off */
static const struct noise_pattern_def {
	const char *name[2];	/* per enum noise_cipher */
	int psk;	/* psk modifier: "e" also does MixKey */
	int pre_rs;	/* <- s ... (the responder static is known) */
	int nmsgs;
	uint8_t msgs[MAX_MSGS][MAX_TOKENS + 1];
} noise_patterns[] = {
	[NOISE_XX] = { { "Noise_XX_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XX_25519_AESGCM_BLAKE2b" }, 0, 0, 3, {
		{ T_E },
		{ T_E, T_EE, T_S, T_ES },
		{ T_S, T_SE } } },
	[NOISE_IK] = { { "Noise_IK_25519_ChaChaPoly_BLAKE2b",
	    "Noise_IK_25519_AESGCM_BLAKE2b" }, 0, 1, 2, {
		{ T_E, T_ES, T_S, T_SS },
		{ T_E, T_EE, T_SE } } },
	[NOISE_XXPSK3] = { { "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b",
	    "Noise_XXpsk3_25519_AESGCM_BLAKE2b" }, 1, 0, 3, {
		{ T_E },
		{ T_E, T_EE, T_S, T_ES },
		{ T_S, T_SE, T_PSK } } },
	[NOISE_IKPSK2] = { { "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2b",
	    "Noise_IKpsk2_25519_AESGCM_BLAKE2b" }, 1, 1, 2, {
		{ T_E, T_ES, T_S, T_SS },
		{ T_E, T_EE, T_SE, T_PSK } } },
};
/* clang-format on */

struct noise_hs {
	const struct noise_pattern_def *def;
	int initiator;
	enum noise_cipher cipher;
	int msg; /* next handshake message */
	int failed;
	int split;
	/* SymmetricState and its CipherState */
	uint8_t ck[HASHLEN];
	uint8_t h[HASHLEN];
	uint8_t k[NOISE_KEY_LEN];
	uint64_t n;
	int has_k;
	/* HandshakeState */
	uint8_t s[DHLEN], s_pub[DHLEN];
	uint8_t e[DHLEN], e_pub[DHLEN];
	uint8_t rs[DHLEN], re[DHLEN];
	uint8_t psk[NOISE_KEY_LEN];
	int has_e, e_sent, has_rs, has_re;
};

int
noise_init(void)
{
	return sodium_init() == -1 ? -1 : 0;
}

static int
noise_cipher_ok(enum noise_cipher c)
{
	return c == NOISE_CHACHAPOLY || c == NOISE_AESGCM;
}

const char *
noise_protocol_name(enum noise_pattern p, enum noise_cipher c)
{
	if ((unsigned)p >= sizeof(noise_patterns) / sizeof(noise_patterns[0]) ||
	    !noise_cipher_ok(c))
		return NULL;
	return noise_patterns[p].name[c];
}

const char *
noise_pattern_name(enum noise_pattern p)
{
	return noise_protocol_name(p, NOISE_CHACHAPOLY);
}

const char *
noise_cipher_name(enum noise_cipher c)
{
	switch (c) {
	case NOISE_CHACHAPOLY:
		return "ChaChaPoly";
	case NOISE_AESGCM:
		return "AESGCM";
	}
	return NULL;
}

int
noise_aes_fast(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#elif defined(__aarch64__) && defined(HWCAP_AES) && defined(HWCAP_PMULL)
	unsigned long hw = getauxval(AT_HWCAP);

	return (hw & HWCAP_AES) != 0 && (hw & HWCAP_PMULL) != 0;
#else
	return 0;
#endif
}

/* ChaChaPoly: nonce = 4 zero bytes || LE64(n); AESGCM: 4 zero bytes || BE64(n) */
static void
noise_nonce(uint8_t out[12], uint64_t n, enum noise_cipher c)
{
	memset(out, 0, 4);
	if (c == NOISE_AESGCM)
		be64_put(out + 4, n);
	else
		le64_put(out + 4, n);
}

static int noise_cs_crypt(const struct noise_cs *, uint64_t n, const uint8_t *ad, size_t adlen,
			  const uint8_t *in, size_t len, uint8_t *out, int enc);

/* ENCRYPT (enc) or DECRYPT with key k, the rare calls (handshake, rekey):
 * ChaChaPoly on libsodium, AESGCM on a short-lived EVP context. */
static int
noise_aead(enum noise_cipher c, const uint8_t k[NOISE_KEY_LEN], uint64_t n, const uint8_t *ad,
	   size_t adlen, const uint8_t *in, size_t len, uint8_t *out, int enc)
{
	uint8_t nonce[12];
	struct noise_cs tmp;
	int ret;

	if (!enc && len < NOISE_TAG_LEN)
		return -1;
	if (c == NOISE_CHACHAPOLY) {
		noise_nonce(nonce, n, c);
		if (enc)
			return crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, ad,
									 adlen, NULL, nonce, k);
		return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, ad,
								 adlen, nonce, k) == 0
			   ? 0
			   : -1;
	}
	if (noise_cs_init_cipher(&tmp, c, k) == -1)
		return -1;
	ret = noise_cs_crypt(&tmp, n, ad, adlen, in, enc ? len : len - NOISE_TAG_LEN, out, enc);
	noise_cs_wipe(&tmp);
	return ret;
}

/* HMAC-BLAKE2b over a || b; keys here are always HASHLEN bytes. */
static void
noise_hmac(uint8_t out[HASHLEN], const uint8_t key[HASHLEN], const uint8_t *a, size_t alen,
	   const uint8_t *b, size_t blen)
{
	crypto_generichash_blake2b_state st;
	uint8_t pad[BLOCKLEN], inner[HASHLEN];
	size_t i;

	memset(pad, 0x36, sizeof(pad));
	for (i = 0; i < HASHLEN; i++)
		pad[i] ^= key[i];
	crypto_generichash_blake2b_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_blake2b_update(&st, pad, sizeof(pad));
	if (alen > 0)
		crypto_generichash_blake2b_update(&st, a, alen);
	if (blen > 0)
		crypto_generichash_blake2b_update(&st, b, blen);
	crypto_generichash_blake2b_final(&st, inner, HASHLEN);

	memset(pad, 0x5c, sizeof(pad));
	for (i = 0; i < HASHLEN; i++)
		pad[i] ^= key[i];
	crypto_generichash_blake2b_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_blake2b_update(&st, pad, sizeof(pad));
	crypto_generichash_blake2b_update(&st, inner, sizeof(inner));
	crypto_generichash_blake2b_final(&st, out, HASHLEN);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(&st, sizeof(st));
}

/* HKDF(ck, ikm) with two or three outputs; o1 may be ck itself. */
static void
noise_hkdf(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikmlen, uint8_t o1[HASHLEN],
	   uint8_t o2[HASHLEN], uint8_t *o3)
{
	static const uint8_t one = 1, two = 2, three = 3;
	uint8_t temp[HASHLEN];

	noise_hmac(temp, ck, ikm, ikmlen, NULL, 0);
	noise_hmac(o1, temp, &one, 1, NULL, 0);
	noise_hmac(o2, temp, o1, HASHLEN, &two, 1);
	if (o3 != NULL)
		noise_hmac(o3, temp, o2, HASHLEN, &three, 1);
	sodium_memzero(temp, sizeof(temp));
}

static void
noise_mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, NULL, 0, HASHLEN);
	crypto_generichash_blake2b_update(&st, hs->h, HASHLEN);
	if (len > 0)
		crypto_generichash_blake2b_update(&st, data, len);
	crypto_generichash_blake2b_final(&st, hs->h, HASHLEN);
}

static void
noise_mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t tk[HASHLEN];

	noise_hkdf(hs->ck, ikm, len, hs->ck, tk, NULL);
	memcpy(hs->k, tk, NOISE_KEY_LEN);
	hs->n = 0;
	hs->has_k = 1;
	sodium_memzero(tk, sizeof(tk));
}

static void
noise_mix_key_and_hash(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t th[HASHLEN], tk[HASHLEN];

	noise_hkdf(hs->ck, ikm, len, hs->ck, th, tk);
	noise_mix_hash(hs, th, HASHLEN);
	memcpy(hs->k, tk, NOISE_KEY_LEN);
	hs->n = 0;
	hs->has_k = 1;
	sodium_memzero(th, sizeof(th));
	sodium_memzero(tk, sizeof(tk));
}

/* out holds len (+ NOISE_TAG_LEN once there is a key) bytes; -1 only when
 * EVP fails (out of memory) */
static int
noise_encrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	if (hs->has_k) {
		if (noise_aead(hs->cipher, hs->k, hs->n, hs->h, HASHLEN, in, len, out, 1) == -1)
			return -1;
		hs->n++;
		len += NOISE_TAG_LEN;
	} else if (len > 0)
		memcpy(out, in, len);
	noise_mix_hash(hs, out, len);
	return 0;
}

static int
noise_decrypt_and_hash(struct noise_hs *hs, const uint8_t *in, size_t len, uint8_t *out)
{
	if (hs->has_k) {
		if (noise_aead(hs->cipher, hs->k, hs->n, hs->h, HASHLEN, in, len, out, 0) == -1)
			return -1;
		hs->n++;
	} else if (len > 0)
		memcpy(out, in, len);
	noise_mix_hash(hs, in, len);
	return 0;
}

/* MixKey(DH(priv, pub)); an all-zero result (low-order point) is refused. */
static int
noise_mix_dh(struct noise_hs *hs, const uint8_t priv[DHLEN], const uint8_t pub[DHLEN])
{
	uint8_t dh[DHLEN];
	int ret = -1;

	if (crypto_scalarmult(dh, priv, pub) != 0 || sodium_is_zero(dh, sizeof(dh)))
		goto out;
	noise_mix_key(hs, dh, sizeof(dh));
	ret = 0;
out:
	sodium_memzero(dh, sizeof(dh));
	return ret;
}

static void
noise_hs_fail(struct noise_hs *hs)
{
	const struct noise_pattern_def *def = hs->def;
	int initiator = hs->initiator;
	enum noise_cipher cipher = hs->cipher;

	sodium_memzero(hs, sizeof(*hs));
	hs->def = def;
	hs->initiator = initiator;
	hs->cipher = cipher;
	hs->failed = 1;
}

struct noise_hs *
noise_hs_new(enum noise_pattern p, int initiator, const uint8_t *prologue, size_t plen,
	     const uint8_t s_priv[NOISE_KEY_LEN], const uint8_t *rs_pub, const uint8_t *psk)
{
	return noise_hs_new_cipher(p, NOISE_CHACHAPOLY, initiator, prologue, plen, s_priv, rs_pub,
				   psk);
}

struct noise_hs *
noise_hs_new_cipher(enum noise_pattern p, enum noise_cipher c, int initiator,
		    const uint8_t *prologue, size_t plen, const uint8_t s_priv[NOISE_KEY_LEN],
		    const uint8_t *rs_pub, const uint8_t *psk)
{
	const struct noise_pattern_def *def;
	struct noise_hs *hs;
	size_t namelen;

	if (noise_protocol_name(p, c) == NULL || s_priv == NULL || (prologue == NULL && plen > 0))
		return NULL;
	def = &noise_patterns[p];
	initiator = initiator != 0;
	if ((rs_pub != NULL) != (def->pre_rs && initiator))
		return NULL;
	if ((psk != NULL) != def->psk)
		return NULL;
	if (sodium_init() == -1 || (hs = sodium_malloc(sizeof(*hs))) == NULL)
		return NULL;
	memset(hs, 0, sizeof(*hs));
	hs->def = def;
	hs->initiator = initiator;
	hs->cipher = c;
	memcpy(hs->s, s_priv, DHLEN);
	if (crypto_scalarmult_base(hs->s_pub, hs->s) != 0) {
		sodium_free(hs);
		return NULL;
	}
	if (psk != NULL)
		memcpy(hs->psk, psk, NOISE_KEY_LEN);

	/* InitializeSymmetric: every name here is <= HASHLEN, so zero-pad */
	namelen = strlen(def->name[c]);
	memcpy(hs->h, def->name[c], namelen);
	memcpy(hs->ck, hs->h, HASHLEN);
	noise_mix_hash(hs, prologue, plen);

	/* pre-message: <- s */
	if (def->pre_rs) {
		if (initiator) {
			memcpy(hs->rs, rs_pub, DHLEN);
			hs->has_rs = 1;
			noise_mix_hash(hs, hs->rs, DHLEN);
		} else
			noise_mix_hash(hs, hs->s_pub, DHLEN);
	}
	return hs;
}

void
noise_hs_free(struct noise_hs *hs)
{
	if (hs != NULL)
		sodium_free(hs); /* zeroes the region */
}

int
noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t e_priv[NOISE_KEY_LEN])
{
	if (hs->failed || hs->e_sent)
		return -1;
	memcpy(hs->e, e_priv, DHLEN);
	hs->has_e = 1;
	return 0;
}

int
noise_hs_our_turn(const struct noise_hs *hs)
{
	if (hs->failed || hs->msg >= hs->def->nmsgs)
		return 0;
	return (hs->msg % 2 == 0) == hs->initiator;
}

int
noise_hs_done(const struct noise_hs *hs)
{
	return !hs->failed && hs->msg == hs->def->nmsgs;
}

size_t
noise_hs_overhead(const struct noise_hs *hs)
{
	const uint8_t *t;
	size_t len = 0;
	int has_k = hs->has_k;

	if (hs->failed || hs->msg >= hs->def->nmsgs)
		return 0;
	for (t = hs->def->msgs[hs->msg]; *t != T_END; t++) {
		switch (*t) {
		case T_E:
			len += DHLEN;
			if (hs->def->psk)
				has_k = 1;
			break;
		case T_S:
			len += DHLEN + (has_k ? NOISE_TAG_LEN : 0);
			break;
		default:
			has_k = 1;
			break;
		}
	}
	return len + (has_k ? NOISE_TAG_LEN : 0);
}

/* e after it is sent or read: MixHash, and MixKey in a psk pattern. */
static void
noise_token_e(struct noise_hs *hs, const uint8_t *e_pub)
{
	noise_mix_hash(hs, e_pub, DHLEN);
	if (hs->def->psk)
		noise_mix_key(hs, e_pub, DHLEN);
}

/* psk, and ee, es, se, ss: which of our keys meets which of theirs;
 * the same whether we write the message or read it. */
static int
noise_token_mix(struct noise_hs *hs, enum noise_token t)
{
	switch (t) {
	case T_PSK:
		noise_mix_key_and_hash(hs, hs->psk, NOISE_KEY_LEN);
		return 0;
	case T_EE:
		return noise_mix_dh(hs, hs->e, hs->re);
	case T_ES:
		return hs->initiator ? noise_mix_dh(hs, hs->e, hs->rs)
				     : noise_mix_dh(hs, hs->s, hs->re);
	case T_SE:
		return hs->initiator ? noise_mix_dh(hs, hs->s, hs->re)
				     : noise_mix_dh(hs, hs->e, hs->rs);
	case T_SS:
		return noise_mix_dh(hs, hs->s, hs->rs);
	default:
		return -1;
	}
}

int
noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
	       size_t outcap, size_t *outlen)
{
	const uint8_t *t;
	size_t need, off = 0;

	if (!noise_hs_our_turn(hs) || (payload == NULL && plen > 0))
		return -1;
	need = noise_hs_overhead(hs);
	if (plen > NOISE_MAX_MSG_LEN - need || plen + need > outcap)
		return -1;

	for (t = hs->def->msgs[hs->msg]; *t != T_END; t++) {
		switch (*t) {
		case T_E: /* e */
			if (!hs->has_e)
				randombytes_buf(hs->e, DHLEN);
			if (crypto_scalarmult_base(hs->e_pub, hs->e) != 0)
				goto fail;
			hs->has_e = hs->e_sent = 1;
			memcpy(out + off, hs->e_pub, DHLEN);
			noise_token_e(hs, hs->e_pub);
			off += DHLEN;
			break;
		case T_S: /* s */
			if (noise_encrypt_and_hash(hs, hs->s_pub, DHLEN, out + off) == -1)
				goto fail;
			off += DHLEN + (hs->has_k ? NOISE_TAG_LEN : 0);
			break;
		case T_PSK: /* psk */
		case T_EE:  /* ee */
		case T_ES:  /* es */
		case T_SE:  /* se */
		case T_SS:  /* ss */
			if (noise_token_mix(hs, *t) == -1)
				goto fail;
			break;
		}
	}
	if (noise_encrypt_and_hash(hs, payload, plen, out + off) == -1)
		goto fail;
	*outlen = off + plen + (hs->has_k ? NOISE_TAG_LEN : 0);
	hs->msg++;
	return 0;
fail:
	noise_hs_fail(hs);
	return -1;
}

int
noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *payload, size_t paycap,
	      size_t *paylen)
{
	const uint8_t *t;
	size_t need, len, off = 0;

	if (hs->failed || hs->msg >= hs->def->nmsgs || noise_hs_our_turn(hs))
		return -1;
	need = noise_hs_overhead(hs);
	if (mlen < need || mlen > NOISE_MAX_MSG_LEN || mlen - need > paycap)
		return -1;

	for (t = hs->def->msgs[hs->msg]; *t != T_END; t++) {
		switch (*t) {
		case T_E: /* e */
			memcpy(hs->re, msg + off, DHLEN);
			hs->has_re = 1;
			noise_token_e(hs, hs->re);
			off += DHLEN;
			break;
		case T_S: /* s */
			len = DHLEN + (hs->has_k ? NOISE_TAG_LEN : 0);
			if (noise_decrypt_and_hash(hs, msg + off, len, hs->rs) == -1)
				goto fail;
			hs->has_rs = 1;
			off += len;
			break;
		case T_PSK: /* psk */
		case T_EE:  /* ee */
		case T_ES:  /* es */
		case T_SE:  /* se */
		case T_SS:  /* ss */
			if (noise_token_mix(hs, *t) == -1)
				goto fail;
			break;
		}
	}
	if (noise_decrypt_and_hash(hs, msg + off, mlen - off, payload) == -1)
		goto fail;
	*paylen = mlen - off - (hs->has_k ? NOISE_TAG_LEN : 0);
	hs->msg++;
	return 0;
fail:
	noise_hs_fail(hs);
	return -1;
}

const uint8_t *
noise_hs_remote_static(const struct noise_hs *hs)
{
	return !hs->failed && hs->has_rs ? hs->rs : NULL;
}

void
noise_hs_hash(const struct noise_hs *hs, uint8_t out[NOISE_HASH_LEN])
{
	memcpy(out, hs->h, HASHLEN);
}

int
noise_hs_split(struct noise_hs *hs, struct noise_cs *send, struct noise_cs *recv)
{
	return noise_hs_split_cipher(hs, hs->cipher, send, recv);
}

int
noise_hs_split_cipher(struct noise_hs *hs, enum noise_cipher c, struct noise_cs *send,
		      struct noise_cs *recv)
{
	uint8_t k1[HASHLEN], k2[HASHLEN];
	int ret = 0;

	if (!noise_hs_done(hs) || hs->split)
		return -1;
	noise_hkdf(hs->ck, NULL, 0, k1, k2, NULL);
	if (noise_cs_init_cipher(send, c, hs->initiator ? k1 : k2) == -1) {
		ret = -1;
		goto out;
	}
	if (noise_cs_init_cipher(recv, c, hs->initiator ? k2 : k1) == -1) {
		noise_cs_wipe(send);
		ret = -1;
		goto out;
	}
	sodium_memzero(hs->ck, sizeof(hs->ck));
	sodium_memzero(hs->k, sizeof(hs->k));
	sodium_memzero(hs->s, sizeof(hs->s));
	sodium_memzero(hs->e, sizeof(hs->e));
	sodium_memzero(hs->psk, sizeof(hs->psk));
	hs->has_k = hs->has_e = 0;
	hs->split = 1;
out:
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	return ret;
}

/* Key the context with cs->k (InitializeKey, or after Rekey). */
static int
noise_cs_key(struct noise_cs *cs)
{
	const EVP_CIPHER *c = NULL;

	if (cs->ctx == NULL) {
		if ((cs->ctx = EVP_CIPHER_CTX_new()) == NULL)
			return -1;
		c = cs->cipher == NOISE_AESGCM ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
	}
	/* the new key overwrites the old one inside the context */
	if (EVP_CipherInit_ex(cs->ctx, c, NULL, cs->k, NULL, 1) != 1)
		return -1;
	return 0;
}

int
noise_cs_init(struct noise_cs *cs, const uint8_t k[NOISE_KEY_LEN])
{
	return noise_cs_init_cipher(cs, NOISE_CHACHAPOLY, k);
}

int
noise_cs_init_cipher(struct noise_cs *cs, enum noise_cipher cipher, const uint8_t k[NOISE_KEY_LEN])
{
	memset(cs, 0, sizeof(*cs));
	if (!noise_cipher_ok(cipher))
		return -1;
	cs->cipher = (uint8_t)cipher;
	memcpy(cs->k, k, NOISE_KEY_LEN);
	if (noise_cs_key(cs) == -1) {
		noise_cs_wipe(cs);
		return -1;
	}
	return 0;
}

/* One record through the EVP context: in and out may be the same buffer.
 * enc: in is len bytes of plaintext, out gets len + tag.  !enc: in is len
 * bytes of ciphertext + tag, out gets len bytes; on failure out is zeroed
 * (EVP decrypts before it checks the tag: nothing unverified stays). */
static int
noise_cs_crypt(const struct noise_cs *cs, uint64_t n, const uint8_t *ad, size_t adlen,
	       const uint8_t *in, size_t len, uint8_t *out, int enc)
{
	EVP_CIPHER_CTX *ctx = cs->ctx;
	uint8_t nonce[12], tag[NOISE_TAG_LEN];
	int outl, ok = 0;

	if (ctx == NULL || adlen > INT_MAX)
		return -1;
	noise_nonce(nonce, n, cs->cipher);
	if (!enc)
		memcpy(tag, in + len, NOISE_TAG_LEN); /* before an in-place decrypt */
	if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, NOISE_TAG_LEN, tag) != 1)
		goto out;
	if (adlen > 0 && EVP_CipherUpdate(ctx, NULL, &outl, ad, (int)adlen) != 1)
		goto out;
	if (len > 0 &&
	    (EVP_CipherUpdate(ctx, out, &outl, in, (int)len) != 1 || (size_t)outl != len))
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &outl) != 1 || outl != 0)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, NOISE_TAG_LEN, out + len) != 1)
		goto out;
	ok = 1;
out:
	if (!ok && !enc && len > 0)
		sodium_memzero(out, len);
	return ok ? 0 : -1;
}

int
noise_cs_encrypt(struct noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
		 size_t len, uint8_t *out)
{
	if (cs->n == NOISE_NONCE_MAX || len > NOISE_MAX_MSG_LEN - NOISE_TAG_LEN ||
	    noise_cs_crypt(cs, cs->n, ad, adlen, in, len, out, 1) == -1)
		return -1;
	cs->n++;
	return 0;
}

int
noise_cs_decrypt(struct noise_cs *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
		 size_t len, uint8_t *out)
{
	if (cs->n == NOISE_NONCE_MAX || len > NOISE_MAX_MSG_LEN || len < NOISE_TAG_LEN ||
	    noise_cs_crypt(cs, cs->n, ad, adlen, in, len - NOISE_TAG_LEN, out, 0) == -1)
		return -1;
	cs->n++;
	return 0;
}

int
noise_cs_rekey(struct noise_cs *cs)
{
	static const uint8_t zeros[NOISE_KEY_LEN];
	uint8_t out[NOISE_KEY_LEN + NOISE_TAG_LEN];

	if (cs->ctx == NULL)
		return -1;
	if (noise_aead(cs->cipher, cs->k, NOISE_NONCE_MAX, NULL, 0, zeros, sizeof(zeros), out, 1) ==
	    -1)
		return -1;
	memcpy(cs->k, out, NOISE_KEY_LEN);
	sodium_memzero(out, sizeof(out));
	return noise_cs_key(cs);
}

void
noise_cs_wipe(struct noise_cs *cs)
{
	EVP_CIPHER_CTX_free(cs->ctx); /* cleanses the key schedule */
	sodium_memzero(cs, sizeof(*cs));
}

size_t
noise_cs_export(const struct noise_cs *cs, uint8_t *out)
{
	out[0] = cs->cipher == NOISE_AESGCM ? NOISE_CS_AESGCM : NOISE_CS_CHACHAPOLY;
	out[1] = NOISE_KEY_LEN;
	memcpy(out + 2, cs->k, NOISE_KEY_LEN);
	be64_put(out + 2 + NOISE_KEY_LEN, cs->n);
	return 2 + NOISE_KEY_LEN + 8;
}

int
noise_cs_import(struct noise_cs *cs, const uint8_t *in, size_t len)
{
	enum noise_cipher c;

	if (len != 2 + NOISE_KEY_LEN + 8 || in[1] != NOISE_KEY_LEN)
		return -1;
	if (in[0] == NOISE_CS_CHACHAPOLY)
		c = NOISE_CHACHAPOLY;
	else if (in[0] == NOISE_CS_AESGCM)
		c = NOISE_AESGCM;
	else
		return -1;
	if (noise_cs_init_cipher(cs, c, in + 2) == -1)
		return -1;
	cs->n = be64_get(in + 2 + NOISE_KEY_LEN);
	return 0;
}

void
noise_keypair(uint8_t priv[NOISE_KEY_LEN], uint8_t pub[NOISE_KEY_LEN])
{
	do
		randombytes_buf(priv, NOISE_KEY_LEN);
	while (noise_pubkey(priv, pub) == -1);
}

int
noise_pubkey(const uint8_t priv[NOISE_KEY_LEN], uint8_t pub[NOISE_KEY_LEN])
{
	return crypto_scalarmult_base(pub, priv) == 0 ? 0 : -1;
}

static void
noise_label_hash(const char *label, const uint8_t *in, size_t len, uint8_t out[32])
{
	crypto_generichash_blake2b_state st;

	crypto_generichash_blake2b_init(&st, NULL, 0, 32);
	crypto_generichash_blake2b_update(&st, (const unsigned char *)label, strlen(label));
	crypto_generichash_blake2b_update(&st, in, len);
	crypto_generichash_blake2b_final(&st, out, 32);
	sodium_memzero(&st, sizeof(st));
}

int
noise_psk_from_string(const uint8_t *bytes, size_t len, uint8_t out[NOISE_KEY_LEN])
{
	while (len > 0 && (bytes[len - 1] == ' ' || bytes[len - 1] == '\t' ||
			   bytes[len - 1] == '\r' || bytes[len - 1] == '\n'))
		len--;
	if (len == 0)
		return -1;
	noise_label_hash("edgemesh-psk-v1", bytes, len, out);
	return 0;
}

void
noise_psk_fingerprint(const uint8_t psk[NOISE_KEY_LEN], char out[9])
{
	uint8_t h[32];

	noise_label_hash("edgemesh-psk-fingerprint", psk, NOISE_KEY_LEN, h);
	sodium_bin2hex(out, 9, h, 4);
	sodium_memzero(h, sizeof(h));
}
