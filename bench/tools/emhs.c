/*
 * emhs: the tunnel session's handshake in memory, as tunneld runs it
 * (tunneld/tun_session.c): Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b with
 * tunneld's prologue, a PSK and a static key on each side, a payload in
 * every message the size of tunneld's hello, then the split into AES-256-GCM
 * transport states (ChaChaPoly where this CPU has no fast AES).  Both
 * sides run in this process, so the CPU is the whole handshake: what the
 * initiator and the responder spend together.
 *
 *   emhs N      N handshakes in 5 batches
 *   -> msgs=M (messages until both sides are done; 1.5 round trips is 3)
 *      cpu_us=X (median over the batches of CPU-µs per handshake, both sides)
 *      min_us= max_us=
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../../tunneld/tun_noise.h"
#include "../../tunneld/tunneld.h"

#define BATCHES 5
#define PAYLOAD 96 /* ~ tunneld's hello: node name, caps, ciphers */

static double
cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One handshake; the number of messages, or -1. */
static int
handshake(const uint8_t *ipriv, const uint8_t *rpriv, const uint8_t *psk, enum noise_cipher c)
{
	struct noise_hs *hs[2];
	struct noise_cs send[2], recv[2];
	uint8_t pay[PAYLOAD], msg[NOISE_MAX_MSG_LEN], got[NOISE_MAX_MSG_LEN];
	size_t mlen, glen;
	int msgs = 0, w, i;

	memset(pay, 'p', sizeof(pay));
	hs[0] = noise_hs_new(NOISE_XXPSK3, 1, (const uint8_t *)TUN_PROLOGUE, strlen(TUN_PROLOGUE),
			     ipriv, NULL, psk);
	hs[1] = noise_hs_new(NOISE_XXPSK3, 0, (const uint8_t *)TUN_PROLOGUE, strlen(TUN_PROLOGUE),
			     rpriv, NULL, psk);
	if (hs[0] == NULL || hs[1] == NULL)
		return -1;
	while (!noise_hs_done(hs[0]) || !noise_hs_done(hs[1])) {
		w = noise_hs_our_turn(hs[0]) ? 0 : 1;
		if (noise_hs_write(hs[w], pay, sizeof(pay), msg, sizeof(msg), &mlen) == -1 ||
		    noise_hs_read(hs[!w], msg, mlen, got, sizeof(got), &glen) == -1 ||
		    glen != sizeof(pay))
			return -1;
		msgs++;
	}
	for (i = 0; i < 2; i++) {
		if (noise_hs_split_cipher(hs[i], c, &send[i], &recv[i]) == -1)
			return -1;
		noise_cs_wipe(&send[i]);
		noise_cs_wipe(&recv[i]);
		noise_hs_free(hs[i]);
	}
	return msgs;
}

int
main(int argc, char **argv)
{
	uint8_t ipriv[NOISE_KEY_LEN], rpriv[NOISE_KEY_LEN], psk[NOISE_KEY_LEN];
	double per[BATCHES], t0;
	enum noise_cipher c;
	int n, b, i, msgs = 0;

	if (argc != 2 || (n = atoi(argv[1])) < BATCHES) {
		fprintf(stderr, "usage: emhs N (N >= %d)\n", BATCHES);
		return 2;
	}
	if (noise_init() == -1)
		return 1;
	randombytes_buf(ipriv, sizeof(ipriv));
	randombytes_buf(rpriv, sizeof(rpriv));
	randombytes_buf(psk, sizeof(psk));
	c = noise_aes_fast() ? NOISE_AESGCM : NOISE_CHACHAPOLY;
	for (b = 0; b < BATCHES; b++) {
		t0 = cpu_us();
		for (i = 0; i < n / BATCHES; i++)
			if ((msgs = handshake(ipriv, rpriv, psk, c)) == -1) {
				fprintf(stderr, "emhs: a handshake failed\n");
				return 1;
			}
		per[b] = (cpu_us() - t0) / (n / BATCHES);
	}
	qsort(per, BATCHES, sizeof(per[0]), cmp);
	printf("n=%d msgs=%d transport=%s cpu_us=%.1f min_us=%.1f max_us=%.1f\n", n, msgs,
	       noise_cipher_name(c), per[BATCHES / 2], per[0], per[BATCHES - 1]);
	return 0;
}
