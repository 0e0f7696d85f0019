/*
 * Noise handshakes and transport crypto for tunneld: the handshake on
 * libsodium (OpenSSL for AESGCM), transport records on OpenSSL's EVP
 * chacha20-poly1305 or aes-256-gcm.
 *
 *   Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b   (the one tunneld uses)
 *   Noise_XX, Noise_IK, Noise_IKpsk2 with the same suite: only so that
 *   the public vectors (tests/vectors/, run by tests/unit/check_noise.c)
 *   check the pattern engine on every token order; production never
 *   starts them.
 *
 * Call noise_init() once at start-up, before chroot/privdrop.
 * Every function returns 0 on success and -1 on error unless it says
 * otherwise.  Handshake state lives in sodium_malloc() memory; a failed
 * handshake is wiped and every later call on it fails.
 */
#ifndef TUN_NOISE_H
#define TUN_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define NOISE_KEY_LEN	  32	     /* X25519 keys, PSK, cipher keys */
#define NOISE_HASH_LEN	  64	     /* BLAKE2b-512 */
#define NOISE_TAG_LEN	  16	     /* Poly1305 */
#define NOISE_MAX_MSG_LEN 65535	     /* any handshake or transport message */
#define NOISE_NONCE_MAX	  UINT64_MAX /* reserved: never used to encrypt */

/* The AEAD of a handshake (its protocol name) or of a transport state.
 * ChaChaPoly: nonce 4 zero bytes || LE64(n); AESGCM: 4 zero bytes ||
 * BE64(n) (Noise rev 34, 12.2/12.3). */
enum noise_cipher {
	NOISE_CHACHAPOLY,
	NOISE_AESGCM,
};

enum noise_pattern {
	NOISE_XX,     /* vectors only */
	NOISE_IK,     /* vectors only */
	NOISE_XXPSK3, /* tunneld */
	NOISE_IKPSK2, /* vectors only */
};

struct noise_hs;
struct evp_cipher_ctx_st;

/* One direction of a transport session.  n is the next nonce; ctx is an
 * EVP context (chacha20-poly1305 or aes-256-gcm, per cipher) keyed with k, made by noise_cs_init()
 * (or noise_hs_split()), rekeyed by noise_cs_rekey(), freed by noise_cs_wipe(). It holds a copy of
 * the key on OpenSSL's heap (cleansed when freed).  A noise_cs is not copied: two copies would
 * share one context. */
struct noise_cs {
	uint8_t k[NOISE_KEY_LEN];
	uint64_t n;
	struct evp_cipher_ctx_st *ctx;
	uint8_t cipher; /* enum noise_cipher */
};

int noise_init(void);
/* "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b" and so on; NULL if unknown. */
const char *noise_pattern_name(enum noise_pattern);
const char *noise_protocol_name(enum noise_pattern, enum noise_cipher);
/* "ChaChaPoly", "AESGCM"; NULL if unknown. */
const char *noise_cipher_name(enum noise_cipher);
/* 1 when this CPU has AES and carry-less multiply instructions (x86-64
 * AES-NI + PCLMULQDQ, arm64 AES + PMULL): AES-256-GCM is then faster than
 * ChaCha20-Poly1305 and constant-time. */
int noise_aes_fast(void);

/* Handshake.
 * s_priv: local static key, always.  rs_pub: the responder's static
 * public key for an IK initiator, else NULL.  psk: for the psk patterns,
 * else NULL.  Returns NULL on bad arguments or when out of memory. */
struct noise_hs *noise_hs_new(enum noise_pattern, int initiator, const uint8_t *prologue,
			      size_t plen, const uint8_t s_priv[NOISE_KEY_LEN],
			      const uint8_t *rs_pub, const uint8_t *psk);
/* The same with another AEAD in the protocol name (noise_hs_new: ChaChaPoly). */
struct noise_hs *noise_hs_new_cipher(enum noise_pattern, enum noise_cipher, int initiator,
				     const uint8_t *prologue, size_t plen,
				     const uint8_t s_priv[NOISE_KEY_LEN], const uint8_t *rs_pub,
				     const uint8_t *psk);
void noise_hs_free(struct noise_hs *);
/* Test hook: use this ephemeral key instead of a fresh one. */
int noise_hs_set_ephemeral(struct noise_hs *, const uint8_t e_priv[NOISE_KEY_LEN]);
/* 1 when the next handshake message is ours to write, else 0. */
int noise_hs_our_turn(const struct noise_hs *);
/* Bytes the next handshake message adds to its payload; 0 when done. */
size_t noise_hs_overhead(const struct noise_hs *);
/* Write or read the next handshake message; the buffers must not overlap.
 * A message too long or a buffer too short is refused with the state
 * untouched; any other failure (bad tag, low-order key) kills the state. */
int noise_hs_write(struct noise_hs *, const uint8_t *payload, size_t plen, uint8_t *out,
		   size_t outcap, size_t *outlen);
int noise_hs_read(struct noise_hs *, const uint8_t *msg, size_t mlen, uint8_t *payload,
		  size_t paycap, size_t *paylen);
int noise_hs_done(const struct noise_hs *);
/* The peer's static public key, or NULL while it is not known. */
const uint8_t *noise_hs_remote_static(const struct noise_hs *);
/* The handshake hash h (channel binding); final once noise_hs_done(). */
void noise_hs_hash(const struct noise_hs *, uint8_t out[NOISE_HASH_LEN]);
/* After the last message: this side's send and receive states (as
 * noise_cs_init() makes them; wipe them with noise_cs_wipe()).  The
 * handshake keys are wiped; only remote static and hash stay readable. */
int noise_hs_split(struct noise_hs *, struct noise_cs *send, struct noise_cs *recv);
/* Split, the transport states keyed for cipher instead of the handshake's
 * (tunneld: its handshake payloads negotiate the transport AEAD). */
int noise_hs_split_cipher(struct noise_hs *, enum noise_cipher, struct noise_cs *send,
			  struct noise_cs *recv);

/* InitializeKey(k): n = 0 and a keyed EVP context; -1 when out of memory.
 * cs is overwritten: wipe a state that holds a key first. */
int noise_cs_init(struct noise_cs *, const uint8_t k[NOISE_KEY_LEN]);
/* The same for a given AEAD (noise_cs_init: ChaChaPoly); -1 if unknown. */
int noise_cs_init_cipher(struct noise_cs *, enum noise_cipher, const uint8_t k[NOISE_KEY_LEN]);
/* Transport.  out holds len + NOISE_TAG_LEN bytes (encrypt) or
 * len - NOISE_TAG_LEN bytes (decrypt); in and out may be the same buffer.
 * A decryption that fails zeroes its output (in place: the record).
 * Both use and advance cs->n (not on failure): records arrive in order
 * over TCP, so a replayed, dropped or reordered one fails to open. */
int noise_cs_encrypt(struct noise_cs *, const uint8_t *ad, size_t adlen, const uint8_t *in,
		     size_t len, uint8_t *out);
int noise_cs_decrypt(struct noise_cs *, const uint8_t *ad, size_t adlen, const uint8_t *in,
		     size_t len, uint8_t *out);
/* REKEY(k): k = ENCRYPT(k, 2^64-1, "", zeros[32])[0..32] in cs's AEAD; n is kept. */
int noise_cs_rekey(struct noise_cs *);
/* Frees the EVP context and zeroes cs; a zeroed cs may be wiped again. */
void noise_cs_wipe(struct noise_cs *);

/*
 * A transport state as bytes, for tunneld's hand-over to its successor
 * (tun_handover.c): kind u8 (NOISE_CS_CHACHAPOLY, NOISE_CS_AESGCM) || keylen u8 || key ||
 * n (u64, big-endian).  Another cipher is another kind byte.  out holds
 * NOISE_CS_EXPORT_MAX bytes; returns the length.  Import makes a keyed
 * state (wipe it with noise_cs_wipe()); -1 for an unknown kind or a bad
 * length.  The bytes are a secret: wipe them after use.
 */
#define NOISE_CS_CHACHAPOLY 1
#define NOISE_CS_AESGCM	    2
#define NOISE_CS_EXPORT_MAX (2 + 64 + 8)
size_t noise_cs_export(const struct noise_cs *, uint8_t *out);
int noise_cs_import(struct noise_cs *, const uint8_t *in, size_t len);

/* Keys and PSK. */
void noise_keypair(uint8_t priv[NOISE_KEY_LEN], uint8_t pub[NOISE_KEY_LEN]);
int noise_pubkey(const uint8_t priv[NOISE_KEY_LEN], uint8_t pub[NOISE_KEY_LEN]);
/* BLAKE2b-256("edgemesh-psk-v1" || bytes), trailing ASCII white space of
 * the file dropped.  -1 if nothing is left. */
int noise_psk_from_string(const uint8_t *bytes, size_t len, uint8_t out[NOISE_KEY_LEN]);
/* 8 hex digits of BLAKE2b-256("edgemesh-psk-fingerprint" || psk). */
void noise_psk_fingerprint(const uint8_t psk[NOISE_KEY_LEN], char out[9]);

#endif
