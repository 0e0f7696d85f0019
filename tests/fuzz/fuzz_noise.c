/*
 * libFuzzer: the Noise handshake state machine (tunneld/tun_noise.c).  An
 * initiator and a responder with fixed keys run a handshake the input
 * drives: honest steps with chosen payload and buffer sizes, messages
 * tampered with or cut short, raw input read as a message, writes and
 * reads out of turn, early splits (make fuzz).
 *
 * Checked beside "no crash": refusals (out of turn, short buffers) leave
 * the state as it was; as long as every message arrived untouched, each
 * one is read back with its payload, and a finished handshake gives both
 * sides the same hash, each other's static keys and transport keys that
 * work.
 */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/tun_noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define BUFLEN 1024

struct in {
	const uint8_t *p;
	size_t n;
};

static unsigned
in_u8(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static const uint8_t *
in_take(struct in *in, size_t *n)
{
	const uint8_t *p = in->p;

	if (*n > in->n)
		*n = in->n;
	in->p += *n;
	in->n -= *n;
	return p;
}

static int
is_ik(enum noise_pattern p)
{
	return p == NOISE_IK || p == NOISE_IKPSK2;
}

static int
is_psk(enum noise_pattern p)
{
	return p == NOISE_XXPSK3 || p == NOISE_IKPSK2;
}

/* Both done and untouched: same hash, the right static keys, working transport. */
static void
check_done(struct noise_hs *hs[2], const uint8_t pub[2][NOISE_KEY_LEN])
{
	struct noise_cs cs[2][2];
	uint8_t h0[NOISE_HASH_LEN], h1[NOISE_HASH_LEN], ct[5 + NOISE_TAG_LEN], pt[5];

	noise_hs_hash(hs[0], h0);
	noise_hs_hash(hs[1], h1);
	if (memcmp(h0, h1, sizeof(h0)) != 0 || noise_hs_remote_static(hs[0]) == NULL ||
	    noise_hs_remote_static(hs[1]) == NULL ||
	    memcmp(noise_hs_remote_static(hs[0]), pub[1], NOISE_KEY_LEN) != 0 ||
	    memcmp(noise_hs_remote_static(hs[1]), pub[0], NOISE_KEY_LEN) != 0)
		__builtin_trap();
	memset(cs, 0, sizeof(cs));
	if (noise_hs_split(hs[0], &cs[0][0], &cs[0][1]) == -1 ||
	    noise_hs_split(hs[1], &cs[1][0], &cs[1][1]) == -1)
		__builtin_trap();
	if (noise_hs_split(hs[0], &cs[0][0], &cs[0][1]) != -1) /* once only */
		__builtin_trap();
	if (noise_cs_encrypt(&cs[0][0], NULL, 0, (const uint8_t *)"hello", 5, ct) == -1 ||
	    noise_cs_decrypt(&cs[1][1], NULL, 0, ct, sizeof(ct), pt) == -1 ||
	    memcmp(pt, "hello", 5) != 0)
		__builtin_trap();
	noise_cs_wipe(&cs[0][0]);
	noise_cs_wipe(&cs[0][1]);
	noise_cs_wipe(&cs[1][0]);
	noise_cs_wipe(&cs[1][1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint8_t psk[NOISE_KEY_LEN] = {7};
	static uint8_t priv[2][NOISE_KEY_LEN], pub[2][NOISE_KEY_LEN], eph[2][NOISE_KEY_LEN];
	static int keyed;
	uint8_t msg[BUFLEN], pay[BUFLEN], sent[BUFLEN];
	struct in in = {data, len};
	struct noise_hs *hs[2];
	struct noise_cs tx, rx;
	enum noise_pattern pat;
	const uint8_t *prologue, *raw;
	size_t plen, mlen, outcap, paycap, paylen, n;
	int clean = 1, step, w, r, rc;
	unsigned op;

	if (!keyed) {
		if (noise_init() == -1)
			return 0;
		for (w = 0; w < 2; w++) {
			memset(priv[w], 0x11 * (w + 1), NOISE_KEY_LEN);
			memset(eph[w], 0x55 * (w + 1), NOISE_KEY_LEN);
			if (noise_pubkey(priv[w], pub[w]) == -1)
				__builtin_trap();
		}
		keyed = 1;
	}
	pat = (enum noise_pattern)(in_u8(&in) % 4);
	plen = in_u8(&in) % 32;
	prologue = in_take(&in, &plen);
	for (w = 0; w < 2; w++) {
		hs[w] =
		    noise_hs_new(pat, w == 0, prologue, plen, priv[w],
				 w == 0 && is_ik(pat) ? pub[1] : NULL, is_psk(pat) ? psk : NULL);
		if (hs[w] == NULL || noise_hs_set_ephemeral(hs[w], eph[w]) == -1)
			__builtin_trap();
	}
	for (step = 0; step < 12 && in.n > 0; step++) {
		op = in_u8(&in);
		w = noise_hs_our_turn(hs[0]) ? 0 : 1; /* the writer, if any */
		r = 1 - w;
		switch (op % 5) {
		case 0: /* an honest step, maybe with a short buffer, maybe tampered */
			if (noise_hs_done(hs[w]))
				break;
			plen = in_u8(&in) * 3;
			memset(sent, (int)op, plen);
			outcap = op & 0x80 ? in_u8(&in) : sizeof(msg);
			rc = noise_hs_write(hs[w], sent, plen, msg, outcap, &mlen);
			if (rc == -1) {
				if (clean && outcap >= plen + noise_hs_overhead(hs[w]))
					__builtin_trap(); /* room enough: must write */
				break;
			}
			if (op & 0x40) { /* tamper or cut */
				n = in_u8(&in);
				if (n & 1 && mlen > 0)
					msg[n % mlen] ^= (uint8_t)(in_u8(&in) | 1);
				else
					mlen = n % (mlen + 1);
				clean = 0;
			}
			paycap = op & 0x20 ? in_u8(&in) : sizeof(pay);
			rc = noise_hs_read(hs[r], msg, mlen, pay, paycap, &paylen);
			if (rc == -1 && clean && paycap < plen) /* refused: try again */
				rc = noise_hs_read(hs[r], msg, mlen, pay, sizeof(pay), &paylen);
			if (clean && (rc == -1 || paylen != plen || memcmp(pay, sent, plen) != 0))
				__builtin_trap();
			break;
		case 1: /* out of turn: refused, nothing changes (in step: both refused) */
			rc = noise_hs_write(hs[r], NULL, 0, msg, sizeof(msg), &mlen) != -1;
			rc |= noise_hs_read(hs[w], msg, 64, pay, sizeof(pay), &paylen) != -1;
			if (rc && clean)
				__builtin_trap();
			clean &= !rc;
			break;
		case 2: /* raw input as the next message */
			n = in_u8(&in) * 2;
			raw = in_take(&in, &n);
			(void)noise_hs_read(hs[r], raw, n, pay, sizeof(pay), &paylen);
			clean = 0;
			break;
		case 3: /* split before (or after) the end */
			memset(&tx, 0, sizeof(tx));
			memset(&rx, 0, sizeof(rx));
			rc = noise_hs_split(hs[op & 8 ? 1 : 0], &tx, &rx);
			if (rc == 0) {
				noise_cs_wipe(&tx);
				noise_cs_wipe(&rx);
				clean = 0;
			}
			break;
		default: /* read-only calls */
			(void)noise_hs_overhead(hs[w]);
			(void)noise_hs_remote_static(hs[r]);
			noise_hs_hash(hs[w], msg);
			break;
		}
	}
	if (clean && noise_hs_done(hs[0]) && noise_hs_done(hs[1]))
		check_done(hs, (const uint8_t(*)[NOISE_KEY_LEN])pub);
	noise_hs_free(hs[0]);
	noise_hs_free(hs[1]);
	return 0;
}
