/*
 * tun_noise: the public Noise test vectors (cacophony, snow) run from both
 * sides, then failure cases, transport, rekey and PSK.
 * Vectors: $EM_VECTORS_DIR, else tests/vectors (copied with their source note) from the working
 * dir.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "../../tunneld/tun_noise.h"

#define BUFLEN 1024

/* ---- vectors ---- */

static const char *vec_files[] = {
    "cacophony-25519_ChaChaPoly_BLAKE2b.json",
    "snow-25519_ChaChaPoly_BLAKE2b.json",
    "cacophony-25519_AESGCM_BLAKE2b.json",
};

static const struct vec_case {
	int file;
	enum noise_pattern p;
	enum noise_cipher c;
} vec_cases[] = {
    {0, NOISE_XX, NOISE_CHACHAPOLY},	 {1, NOISE_XX, NOISE_CHACHAPOLY},
    {0, NOISE_IK, NOISE_CHACHAPOLY},	 {1, NOISE_IK, NOISE_CHACHAPOLY},
    {0, NOISE_XXPSK3, NOISE_CHACHAPOLY}, {0, NOISE_IKPSK2, NOISE_CHACHAPOLY},
    {2, NOISE_XX, NOISE_AESGCM},	 {2, NOISE_IK, NOISE_AESGCM},
    {2, NOISE_XXPSK3, NOISE_AESGCM},	 {2, NOISE_IKPSK2, NOISE_AESGCM},
};

static json_t *
vec_find(const struct vec_case *vc)
{
	char path[4096];
	const char *dir;
	json_error_t err;
	json_t *root, *v, *found = NULL;
	size_t i;

	if ((dir = getenv("EM_VECTORS_DIR")) == NULL)
		dir = "tests/vectors";
	snprintf(path, sizeof(path), "%s/%s", dir, vec_files[vc->file]);
	root = json_load_file(path, 0, &err);
	ck_assert_msg(root != NULL, "%s: %s (set EM_VECTORS_DIR)", path, err.text);
	json_array_foreach(json_object_get(root, "vectors"), i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "protocol_name")),
			   noise_protocol_name(vc->p, vc->c)) == 0 &&
		    found == NULL)
			found = json_incref(v);
	}
	json_decref(root);
	ck_assert_msg(found != NULL, "%s not in %s", noise_protocol_name(vc->p, vc->c), path);
	return found;
}

/* hex string -> bytes; returns the length, or -1 if j is absent */
static long
vec_unhex(json_t *j, const char *what, uint8_t *out, size_t cap)
{
	const char *s;
	size_t len;

	if (j == NULL)
		return -1;
	s = json_string_value(j);
	ck_assert_msg(s != NULL, "%s: not a string", what);
	ck_assert_msg(sodium_hex2bin(out, cap, s, strlen(s), NULL, &len, NULL) == 0,
		      "%s: bad hex or longer than %zu bytes", what, cap);
	return (long)len;
}

static long
vec_hex(json_t *obj, const char *key, uint8_t *out, size_t cap)
{
	return vec_unhex(json_object_get(obj, key), key, out, cap);
}

/* first entry of a psk list, or -1 when there is none */
static long
vec_psk(json_t *v, const char *key, uint8_t out[NOISE_KEY_LEN])
{
	return vec_unhex(json_array_get(json_object_get(v, key), 0), key, out, NOISE_KEY_LEN);
}

static void
check_pub(const uint8_t *got, const uint8_t priv[NOISE_KEY_LEN])
{
	uint8_t pub[NOISE_KEY_LEN];

	ck_assert_int_eq(noise_pubkey(priv, pub), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_mem_eq(got, pub, NOISE_KEY_LEN);
}

START_TEST(test_vector)
{
	const struct vec_case *vc = &vec_cases[_i];
	const char *name = noise_protocol_name(vc->p, vc->c);
	json_t *v = vec_find(vc), *m;
	uint8_t ipro[BUFLEN], rpro[BUFLEN], is[32], ie[32], irs[32], rs[32], re[32];
	uint8_t ipsk[32], rpsk[32], hh[64], h1[64], h2[64];
	uint8_t pay[BUFLEN], ct[BUFLEN], out[BUFLEN], dec[BUFLEN];
	long iplen, rplen, plen, ctlen, hhlen;
	struct noise_hs *init, *resp, *w, *r;
	struct noise_cs isend, irecv, rsend, rrecv, *cs_out, *cs_in;
	size_t i, nhs, outlen, declen;

	iplen = vec_hex(v, "init_prologue", ipro, sizeof(ipro));
	rplen = vec_hex(v, "resp_prologue", rpro, sizeof(rpro));
	ck_assert_int_eq(vec_hex(v, "init_static", is, 32), 32);
	ck_assert_int_eq(vec_hex(v, "init_ephemeral", ie, 32), 32);
	ck_assert_int_eq(vec_hex(v, "resp_static", rs, 32), 32);
	ck_assert_int_eq(vec_hex(v, "resp_ephemeral", re, 32), 32);
	hhlen = vec_hex(v, "handshake_hash", hh, sizeof(hh));
	if (vc->p == NOISE_IK || vc->p == NOISE_IKPSK2) {
		ck_assert_int_eq(vec_hex(v, "init_remote_static", irs, 32), 32);
		check_pub(irs, rs);
	}
	if (vc->p == NOISE_XXPSK3 || vc->p == NOISE_IKPSK2) {
		ck_assert_int_eq(vec_psk(v, "init_psks", ipsk), 32);
		ck_assert_int_eq(vec_psk(v, "resp_psks", rpsk), 32);
	}

	init = noise_hs_new_cipher(vc->p, vc->c, 1, ipro, iplen < 0 ? 0 : (size_t)iplen, is,
				   vc->p == NOISE_IK || vc->p == NOISE_IKPSK2 ? irs : NULL,
				   vc->p == NOISE_XXPSK3 || vc->p == NOISE_IKPSK2 ? ipsk : NULL);
	resp = noise_hs_new_cipher(vc->p, vc->c, 0, rpro, rplen < 0 ? 0 : (size_t)rplen, rs, NULL,
				   vc->p == NOISE_XXPSK3 || vc->p == NOISE_IKPSK2 ? rpsk : NULL);
	ck_assert_ptr_nonnull(init);
	ck_assert_ptr_nonnull(resp);
	ck_assert_int_eq(noise_hs_set_ephemeral(init, ie), 0);
	ck_assert_int_eq(noise_hs_set_ephemeral(resp, re), 0);
	nhs = vc->p == NOISE_IK || vc->p == NOISE_IKPSK2 ? 2 : 3;
	ck_assert_uint_gt(json_array_size(json_object_get(v, "messages")), nhs);

	json_array_foreach(json_object_get(v, "messages"), i, m)
	{
		plen = vec_hex(m, "payload", pay, sizeof(pay));
		ctlen = vec_hex(m, "ciphertext", ct, sizeof(ct));
		ck_assert(plen >= 0 && ctlen >= 0);
		if (i < nhs) {
			/* handshake: even messages initiator -> responder */
			w = i % 2 == 0 ? init : resp;
			r = i % 2 == 0 ? resp : init;
			ck_assert(noise_hs_our_turn(w) && !noise_hs_our_turn(r));
			ck_assert_uint_eq(noise_hs_overhead(w), (size_t)(ctlen - plen));
			ck_assert_int_eq(
			    noise_hs_write(w, pay, (size_t)plen, out, sizeof(out), &outlen), 0);
			ck_assert_uint_eq(outlen, (size_t)ctlen);
			ck_assert_msg(memcmp(out, ct, outlen) == 0,
				      "%s msg %zu: ciphertext differs", name, i);
			ck_assert_int_eq(
			    noise_hs_read(r, ct, (size_t)ctlen, dec, sizeof(dec), &declen), 0);
			ck_assert_uint_eq(declen, (size_t)plen);
			ck_assert_mem_eq(dec, pay, declen);
			if (i + 1 < nhs)
				continue;
			ck_assert(noise_hs_done(init) && noise_hs_done(resp));
			noise_hs_hash(init, h1);
			noise_hs_hash(resp, h2);
			ck_assert_mem_eq(h1, h2, 64);
			if (hhlen >= 0) {
				ck_assert_int_eq(hhlen, 64);
				ck_assert_msg(memcmp(h1, hh, 64) == 0, "%s: handshake_hash", name);
			}
			check_pub(noise_hs_remote_static(init), rs);
			check_pub(noise_hs_remote_static(resp), is);
			ck_assert_int_eq(noise_hs_split(init, &isend, &irecv), 0);
			ck_assert_int_eq(noise_hs_split(resp, &rsend, &rrecv), 0);
			ck_assert_int_eq(noise_hs_split(init, &isend, &irecv), -1);
			continue;
		}
		/* transport: still alternating, c1 initiator -> responder */
		cs_out = i % 2 == 0 ? &isend : &rsend;
		cs_in = i % 2 == 0 ? &rrecv : &irecv;
		ck_assert_uint_eq((size_t)ctlen, (size_t)plen + NOISE_TAG_LEN);
		ck_assert_int_eq(noise_cs_encrypt(cs_out, NULL, 0, pay, (size_t)plen, out), 0);
		ck_assert_msg(memcmp(out, ct, (size_t)ctlen) == 0, "%s msg %zu: ciphertext differs",
			      name, i);
		ck_assert_int_eq(noise_cs_decrypt(cs_in, NULL, 0, ct, (size_t)ctlen, dec), 0);
		ck_assert_mem_eq(dec, pay, (size_t)plen);
	}
	noise_hs_free(init);
	noise_hs_free(resp);
	noise_cs_wipe(&isend);
	noise_cs_wipe(&irecv);
	noise_cs_wipe(&rsend);
	noise_cs_wipe(&rrecv);
	json_decref(v);
}
END_TEST

/* ---- handshakes between fresh keys ---- */

struct pair {
	uint8_t is[32], ipub[32], rs[32], rpub[32], psk[32];
	struct noise_hs *init, *resp;
	uint8_t msg[3][BUFLEN];
	size_t len[3];
};

static int
is_psk(enum noise_pattern p)
{
	return p == NOISE_XXPSK3 || p == NOISE_IKPSK2;
}

static int
is_ik(enum noise_pattern p)
{
	return p == NOISE_IK || p == NOISE_IKPSK2;
}

static void
pair_new(struct pair *pr, enum noise_pattern p, const uint8_t *ipsk, const uint8_t *rpsk)
{
	noise_keypair(pr->is, pr->ipub);
	noise_keypair(pr->rs, pr->rpub);
	randombytes_buf(pr->psk, sizeof(pr->psk));
	if (ipsk == NULL)
		ipsk = pr->psk;
	if (rpsk == NULL)
		rpsk = pr->psk;
	pr->init = noise_hs_new(p, 1, (const uint8_t *)"em", 2, pr->is, is_ik(p) ? pr->rpub : NULL,
				is_psk(p) ? ipsk : NULL);
	pr->resp =
	    noise_hs_new(p, 0, (const uint8_t *)"em", 2, pr->rs, NULL, is_psk(p) ? rpsk : NULL);
	ck_assert_ptr_nonnull(pr->init);
	ck_assert_ptr_nonnull(pr->resp);
}

static void
pair_free(struct pair *pr)
{
	noise_hs_free(pr->init);
	noise_hs_free(pr->resp);
}

/* message i from its writer to its reader; returns the reader's result */
static int
pair_step(struct pair *pr, int i, const char *payload)
{
	struct noise_hs *w = i % 2 == 0 ? pr->init : pr->resp;
	struct noise_hs *r = i % 2 == 0 ? pr->resp : pr->init;
	uint8_t dec[BUFLEN];
	size_t plen = strlen(payload), declen;
	int ret;

	ck_assert_int_eq(noise_hs_write(w, (const uint8_t *)payload, plen, pr->msg[i],
					sizeof(pr->msg[i]), &pr->len[i]),
			 0);
	if ((ret = noise_hs_read(r, pr->msg[i], pr->len[i], dec, sizeof(dec), &declen)) == 0) {
		ck_assert_uint_eq(declen, plen);
		ck_assert_mem_eq(dec, payload, plen);
	}
	return ret;
}

START_TEST(test_handshake_roundtrip)
{
	enum noise_pattern p = (enum noise_pattern)_i;
	struct noise_cs isend, irecv, rsend, rrecv;
	uint8_t h1[64], h2[64], buf[BUFLEN], dec[BUFLEN];
	struct pair pr;
	int i, nmsgs = is_ik(p) ? 2 : 3;

	pair_new(&pr, p, NULL, NULL);
	ck_assert_ptr_null(noise_hs_remote_static(pr.resp));
	ck_assert_int_eq(noise_hs_split(pr.init, &isend, &irecv), -1);
	for (i = 0; i < nmsgs; i++) {
		size_t over = noise_hs_overhead(i % 2 == 0 ? pr.init : pr.resp);

		ck_assert_int_eq(pair_step(&pr, i, "node-a"), 0);
		ck_assert_uint_eq(pr.len[i], over + 6);
	}
	ck_assert(noise_hs_done(pr.init) && noise_hs_done(pr.resp));
	ck_assert_uint_eq(noise_hs_overhead(pr.init), 0);
	ck_assert_int_eq(noise_hs_set_ephemeral(pr.init, pr.is), -1);
	ck_assert_int_eq(noise_hs_write(pr.init, NULL, 0, buf, sizeof(buf), &pr.len[0]), -1);
	ck_assert_mem_eq(noise_hs_remote_static(pr.init), pr.rpub, 32);
	ck_assert_mem_eq(noise_hs_remote_static(pr.resp), pr.ipub, 32);
	noise_hs_hash(pr.init, h1);
	noise_hs_hash(pr.resp, h2);
	ck_assert_mem_eq(h1, h2, 64);
	ck_assert_int_eq(noise_hs_split(pr.init, &isend, &irecv), 0);
	ck_assert_int_eq(noise_hs_split(pr.resp, &rsend, &rrecv), 0);
	ck_assert_mem_eq(isend.k, rrecv.k, 32);
	ck_assert_mem_eq(irecv.k, rsend.k, 32);
	ck_assert_mem_ne(isend.k, irecv.k, 32);
	/* still readable after split */
	ck_assert_mem_eq(noise_hs_remote_static(pr.init), pr.rpub, 32);

	ck_assert_int_eq(
	    noise_cs_encrypt(&rsend, (const uint8_t *)"ad", 2, (const uint8_t *)"hello", 5, buf),
	    0);
	ck_assert_int_eq(noise_cs_decrypt(&irecv, (const uint8_t *)"ad", 2, buf, 21, dec), 0);
	ck_assert_mem_eq(dec, "hello", 5);
	/* in place */
	memcpy(buf, "world", 5);
	ck_assert_int_eq(noise_cs_encrypt(&isend, NULL, 0, buf, 5, buf), 0);
	ck_assert_int_eq(noise_cs_decrypt(&rrecv, NULL, 0, buf, 21, buf), 0);
	ck_assert_mem_eq(buf, "world", 5);
	noise_cs_wipe(&isend);
	noise_cs_wipe(&irecv);
	noise_cs_wipe(&rsend);
	noise_cs_wipe(&rrecv);
	pair_free(&pr);
}
END_TEST

START_TEST(test_out_of_turn)
{
	uint8_t buf[BUFLEN];
	size_t len;
	struct pair pr;

	pair_new(&pr, NOISE_XXPSK3, NULL, NULL);
	ck_assert(!noise_hs_our_turn(pr.resp));
	ck_assert_int_eq(noise_hs_write(pr.resp, NULL, 0, buf, sizeof(buf), &len), -1);
	ck_assert_int_eq(noise_hs_read(pr.init, buf, 64, buf, sizeof(buf), &len), -1);
	/* refusals leave both usable */
	ck_assert_int_eq(pair_step(&pr, 0, "a"), 0);
	ck_assert_int_eq(pair_step(&pr, 1, "b"), 0);
	ck_assert_int_eq(pair_step(&pr, 2, "c"), 0);
	pair_free(&pr);
}
END_TEST

START_TEST(test_short_buffers)
{
	uint8_t buf[BUFLEN], dec[BUFLEN];
	size_t len, declen;
	struct pair pr;

	pair_new(&pr, NOISE_XXPSK3, NULL, NULL);
	ck_assert_int_eq(pair_step(&pr, 0, "a"), 0);
	/* msg 2 is 32 + 48 + 4 + 16 bytes */
	ck_assert_int_eq(noise_hs_write(pr.resp, (const uint8_t *)"abcd", 4, buf, 99, &len), -1);
	ck_assert_int_eq(noise_hs_write(pr.resp, (const uint8_t *)"abcd", 4, buf, 100, &len), 0);
	ck_assert_uint_eq(len, 100);
	/* too short, no room for the payload: refused, state untouched */
	ck_assert_int_eq(noise_hs_read(pr.init, buf, 95, dec, sizeof(dec), &declen), -1);
	ck_assert_int_eq(noise_hs_read(pr.init, buf, len, dec, 3, &declen), -1);
	ck_assert_int_eq(noise_hs_read(pr.init, buf, len, dec, 4, &declen), 0);
	ck_assert_uint_eq(declen, 4);
	ck_assert_int_eq(pair_step(&pr, 2, "c"), 0);
	ck_assert(noise_hs_done(pr.resp));
	pair_free(&pr);
}
END_TEST

/* ---- failures ---- */

START_TEST(test_tampered_handshake)
{
	enum noise_pattern p = (enum noise_pattern)_i;
	struct noise_cs a, b;
	uint8_t bad[BUFLEN], dec[BUFLEN];
	struct noise_hs *w, *r;
	size_t declen, pos;
	struct pair pr;
	int i, last = is_ik(p) ? 1 : 2;

	/* flip one bit of each position class of the last message */
	for (pos = 0; pos < 3; pos++) {
		pair_new(&pr, p, NULL, NULL);
		for (i = 0; i < last; i++)
			ck_assert_int_eq(pair_step(&pr, i, "x"), 0);
		w = last % 2 == 0 ? pr.init : pr.resp;
		r = last % 2 == 0 ? pr.resp : pr.init;
		ck_assert_int_eq(
		    noise_hs_write(w, (const uint8_t *)"x", 1, pr.msg[last], BUFLEN, &pr.len[last]),
		    0);
		memcpy(bad, pr.msg[last], pr.len[last]);
		/* first byte, a middle byte, the last tag byte */
		bad[pos == 0 ? 0 : pos == 1 ? pr.len[last] / 2 : pr.len[last] - 1] ^= 0x01;
		ck_assert_int_eq(noise_hs_read(r, bad, pr.len[last], dec, sizeof(dec), &declen),
				 -1);
		/* dead: the genuine message no longer helps */
		ck_assert_int_eq(
		    noise_hs_read(r, pr.msg[last], pr.len[last], dec, sizeof(dec), &declen), -1);
		ck_assert(!noise_hs_done(r));
		ck_assert(!noise_hs_our_turn(r));
		ck_assert_uint_eq(noise_hs_overhead(r), 0);
		ck_assert_ptr_null(noise_hs_remote_static(r));
		ck_assert_int_eq(noise_hs_split(r, &a, &b), -1);
		pair_free(&pr);
	}
}
END_TEST

START_TEST(test_wrong_psk_xxpsk3)
{
	uint8_t other[32];
	struct pair pr;

	randombytes_buf(other, sizeof(other));
	pair_new(&pr, NOISE_XXPSK3, other, NULL);
	ck_assert_int_eq(pair_step(&pr, 0, "a"), 0);
	ck_assert_int_eq(pair_step(&pr, 1, "b"), 0);
	/* the responder finds out at msg 3, before trusting the initiator */
	ck_assert_int_eq(pair_step(&pr, 2, "c"), -1);
	ck_assert(!noise_hs_done(pr.resp));
	ck_assert_ptr_null(noise_hs_remote_static(pr.resp));
	pair_free(&pr);
}
END_TEST

START_TEST(test_wrong_psk_ikpsk2)
{
	uint8_t other[32];
	struct pair pr;

	randombytes_buf(other, sizeof(other));
	pair_new(&pr, NOISE_IKPSK2, other, NULL);
	/* psk2 is mixed in at the end of msg 2: msg 1 reads fine at the
	 * responder, which learns of the wrong PSK only when the first
	 * transport record fails, so it must not act on msg 1's payload */
	ck_assert_int_eq(pair_step(&pr, 0, "a"), 0);
	/* ...and the initiator finds out reading msg 2 */
	ck_assert_int_eq(pair_step(&pr, 1, "b"), -1);
	ck_assert(noise_hs_done(pr.resp));
	ck_assert(!noise_hs_done(pr.init));
	pair_free(&pr);
}
END_TEST

START_TEST(test_wrong_prologue)
{
	uint8_t is[32], ipub[32], rs[32], rpub[32], buf[BUFLEN], dec[BUFLEN];
	struct noise_hs *init, *resp;
	size_t len, declen;

	noise_keypair(is, ipub);
	noise_keypair(rs, rpub);
	init = noise_hs_new(NOISE_XX, 1, (const uint8_t *)"v1", 2, is, NULL, NULL);
	resp = noise_hs_new(NOISE_XX, 0, (const uint8_t *)"v2", 2, rs, NULL, NULL);
	ck_assert_int_eq(noise_hs_write(init, NULL, 0, buf, sizeof(buf), &len), 0);
	ck_assert_int_eq(noise_hs_read(resp, buf, len, dec, sizeof(dec), &declen), 0);
	ck_assert_int_eq(noise_hs_write(resp, NULL, 0, buf, sizeof(buf), &len), 0);
	ck_assert_int_eq(noise_hs_read(init, buf, len, dec, sizeof(dec), &declen), -1);
	noise_hs_free(init);
	noise_hs_free(resp);
}
END_TEST

START_TEST(test_ik_wrong_responder_key)
{
	uint8_t is[32], ipub[32], rs[32], rpub[32], xs[32], xpub[32];
	uint8_t buf[BUFLEN], dec[BUFLEN];
	struct noise_hs *init, *resp;
	size_t len, declen;

	noise_keypair(is, ipub);
	noise_keypair(rs, rpub);
	noise_keypair(xs, xpub);
	init = noise_hs_new(NOISE_IKPSK2, 1, NULL, 0, is, xpub, rs /* any psk */);
	resp = noise_hs_new(NOISE_IKPSK2, 0, NULL, 0, rs, NULL, rs);
	ck_assert_int_eq(noise_hs_write(init, (const uint8_t *)"n", 1, buf, sizeof(buf), &len), 0);
	ck_assert_int_eq(noise_hs_read(resp, buf, len, dec, sizeof(dec), &declen), -1);
	noise_hs_free(init);
	noise_hs_free(resp);
}
END_TEST

START_TEST(test_low_order_point)
{
	uint8_t is[32], ipub[32], rs[32], rpub[32], buf[BUFLEN], dec[BUFLEN];
	struct noise_hs *init, *resp;
	size_t len, declen;

	noise_keypair(is, ipub);
	noise_keypair(rs, rpub);
	/* IK: msg 1 with e = 0 makes es all zero at the responder */
	init = noise_hs_new(NOISE_IK, 1, NULL, 0, is, rpub, NULL);
	resp = noise_hs_new(NOISE_IK, 0, NULL, 0, rs, NULL, NULL);
	ck_assert_int_eq(noise_hs_write(init, NULL, 0, buf, sizeof(buf), &len), 0);
	memset(buf, 0, 32);
	ck_assert_int_eq(noise_hs_read(resp, buf, len, dec, sizeof(dec), &declen), -1);
	noise_hs_free(init);
	noise_hs_free(resp);

	/* XX: msg 1 is only e; ee fails when the responder writes msg 2 */
	resp = noise_hs_new(NOISE_XX, 0, NULL, 0, rs, NULL, NULL);
	memset(buf, 0, 32);
	buf[0] = 1; /* u = 1, another low-order point */
	ck_assert_int_eq(noise_hs_read(resp, buf, 32, dec, sizeof(dec), &declen), 0);
	ck_assert_int_eq(noise_hs_write(resp, NULL, 0, buf, sizeof(buf), &len), -1);
	ck_assert(!noise_hs_our_turn(resp));
	noise_hs_free(resp);
}
END_TEST

START_TEST(test_bad_args)
{
	uint8_t s[32], pub[32], psk[32] = {1};

	noise_keypair(s, pub);
	ck_assert_ptr_null(noise_hs_new(NOISE_XX, 1, NULL, 0, NULL, NULL, NULL));
	ck_assert_ptr_null(noise_hs_new(NOISE_XX, 1, NULL, 0, s, pub, NULL));
	ck_assert_ptr_null(noise_hs_new(NOISE_XX, 1, NULL, 0, s, NULL, psk));
	ck_assert_ptr_null(noise_hs_new(NOISE_XX, 1, NULL, 3, s, NULL, NULL));
	ck_assert_ptr_null(noise_hs_new(NOISE_IK, 1, NULL, 0, s, NULL, NULL));
	ck_assert_ptr_null(noise_hs_new(NOISE_IK, 0, NULL, 0, s, pub, NULL));
	ck_assert_ptr_null(noise_hs_new(NOISE_XXPSK3, 0, NULL, 0, s, NULL, NULL));
	ck_assert_ptr_null(noise_hs_new(NOISE_IKPSK2, 1, NULL, 0, s, pub, NULL));
	ck_assert_ptr_null(noise_hs_new((enum noise_pattern)7, 1, NULL, 0, s, NULL, NULL));
	ck_assert_ptr_null(noise_pattern_name((enum noise_pattern)7));
	ck_assert_str_eq(noise_pattern_name(NOISE_XXPSK3), "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b");
	ck_assert_str_eq(noise_protocol_name(NOISE_IK, NOISE_AESGCM),
			 "Noise_IK_25519_AESGCM_BLAKE2b");
	ck_assert_ptr_null(noise_protocol_name(NOISE_IK, (enum noise_cipher)5));
}
END_TEST

/* ---- transport ---- */

/* two states with one fresh key, each with its own EVP context */
static void
cs_pair(struct noise_cs *a, struct noise_cs *b)
{
	uint8_t k[NOISE_KEY_LEN];

	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(noise_cs_init(a, k), 0);
	ck_assert_int_eq(noise_cs_init(b, k), 0);
}

START_TEST(test_tampered_transport)
{
	struct noise_cs tx, rx;
	uint8_t ct[64], bad[64], pt[48], dec[48];
	size_t j;

	cs_pair(&tx, &rx);
	randombytes_buf(pt, sizeof(pt));
	ck_assert_int_eq(noise_cs_encrypt(&tx, (const uint8_t *)"hdr", 3, pt, sizeof(pt), ct), 0);
	for (j = 0; j < sizeof(ct); j += 7) {
		memcpy(bad, ct, sizeof(ct));
		bad[j] ^= 0x80;
		ck_assert_int_eq(
		    noise_cs_decrypt(&rx, (const uint8_t *)"hdr", 3, bad, sizeof(bad), dec), -1);
		ck_assert_uint_eq(rx.n, 0);
	}
	ck_assert_int_eq(noise_cs_decrypt(&rx, (const uint8_t *)"HDR", 3, ct, sizeof(ct), dec), -1);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, sizeof(ct), dec), -1);
	ck_assert_int_eq(noise_cs_decrypt(&rx, (const uint8_t *)"hdr", 3, ct, 15, dec), -1);
	ck_assert_int_eq(noise_cs_decrypt(&rx, (const uint8_t *)"hdr", 3, ct, sizeof(ct), dec), 0);
	ck_assert_mem_eq(dec, pt, sizeof(pt));
	ck_assert_uint_eq(rx.n, 1);
	/* the same record again is under the wrong nonce now */
	ck_assert_int_eq(noise_cs_decrypt(&rx, (const uint8_t *)"hdr", 3, ct, sizeof(ct), dec), -1);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
}
END_TEST

START_TEST(test_nonce_exhaustion)
{
	struct noise_cs tx, rx;
	uint8_t ct[32], dec[16], pt[16] = {0};

	cs_pair(&tx, &rx);
	tx.n = rx.n = NOISE_NONCE_MAX - 1;
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, pt, 16, ct), 0);
	ck_assert_uint_eq(tx.n, NOISE_NONCE_MAX);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, 32, dec), 0);
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, pt, 16, ct), -1);
	ck_assert_uint_eq(tx.n, NOISE_NONCE_MAX);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, 32, dec), -1);
	/* record size limit: refused before anything is read */
	tx.n = 0;
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, pt, NOISE_MAX_MSG_LEN, ct), -1);
	ck_assert_uint_eq(tx.n, 0);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
}
END_TEST

START_TEST(test_rekey)
{
	static const uint8_t zeros[32];
	struct noise_cs tx, rx, old;
	uint8_t nonce[12], ref[48], ct[21], dec[5];

	cs_pair(&tx, &rx);
	ck_assert_int_eq(noise_cs_init(&old, rx.k), 0);
	tx.n = rx.n = old.n = 42;
	/* independent: ENCRYPT(k, 2^64-1, "", zeros[32]) */
	memset(nonce, 0, 4);
	memset(nonce + 4, 0xff, 8);
	crypto_aead_chacha20poly1305_ietf_encrypt(ref, NULL, zeros, 32, NULL, 0, NULL, nonce, tx.k);
	ck_assert_int_eq(noise_cs_rekey(&tx), 0);
	ck_assert_int_eq(noise_cs_rekey(&rx), 0);
	ck_assert_mem_eq(tx.k, ref, 32);
	ck_assert_mem_ne(tx.k, old.k, 32);
	ck_assert_uint_eq(tx.n, 42);
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, (const uint8_t *)"hello", 5, ct), 0);
	ck_assert_int_eq(noise_cs_decrypt(&old, NULL, 0, ct, sizeof(ct), dec), -1);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, sizeof(ct), dec), 0);
	ck_assert_mem_eq(dec, "hello", 5);
	noise_cs_wipe(&tx);
	ck_assert(sodium_is_zero(tx.k, 32) && tx.n == 0 && tx.ctx == NULL);
	noise_cs_wipe(&tx); /* again: harmless */
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, (const uint8_t *)"hello", 5, ct), -1);
	noise_cs_wipe(&rx);
	noise_cs_wipe(&old);
}
END_TEST

/*
 * Transport records go through OpenSSL's EVP chacha20-poly1305: every one
 * must be byte for byte libsodium's IETF ChaCha20-Poly1305 with Noise's
 * nonce (4 zero bytes || LE64(n)), and each side must open the other's.
 */
static void
sodium_seal(const uint8_t *k, uint64_t n, const uint8_t *ad, size_t adlen, const uint8_t *in,
	    size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, ad, adlen, NULL, nonce, k);
}

static int
sodium_open(const uint8_t *k, uint64_t n, const uint8_t *ad, size_t adlen, const uint8_t *in,
	    size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
	return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, ad, adlen, nonce,
							 k);
}

#define REC_PT_MAX (NOISE_MAX_MSG_LEN - NOISE_TAG_LEN)

START_TEST(test_evp_matches_sodium)
{
	static const size_t fixed[] = {0,
				       1,
				       15,
				       16,
				       17,
				       63,
				       64,
				       65,
				       255,
				       256,
				       4096,
				       16384,
				       65536 - 64 - NOISE_TAG_LEN,
				       REC_PT_MAX - 1,
				       REC_PT_MAX};
	uint8_t *pt, *ref, *ct, *dec, k[NOISE_KEY_LEN], ad[64];
	struct noise_cs cs;
	size_t len, adlen, i, nfixed = sizeof(fixed) / sizeof(fixed[0]);
	uint64_t n;

	pt = malloc(NOISE_MAX_MSG_LEN);
	ref = malloc(NOISE_MAX_MSG_LEN);
	ct = malloc(NOISE_MAX_MSG_LEN);
	dec = malloc(NOISE_MAX_MSG_LEN);
	ck_assert(pt != NULL && ref != NULL && ct != NULL && dec != NULL);
	for (i = 0; i < nfixed + 300; i++) {
		randombytes_buf(k, sizeof(k));
		ck_assert_int_eq(noise_cs_init(&cs, k), 0);
		len = i < nfixed ? fixed[i] : randombytes_uniform(REC_PT_MAX + 1);
		adlen = randombytes_uniform(3) == 0 ? 0 : randombytes_uniform(sizeof(ad) + 1);
		switch (i % 4) { /* nonces: small, large, random, the last usable */
		case 0:
			n = randombytes_uniform(1000);
			break;
		case 1:
			n = (uint64_t)randombytes_random() << 32 | 0xffffff00u;
			break;
		case 2:
			randombytes_buf(&n, sizeof(n));
			n = n == NOISE_NONCE_MAX ? 0 : n;
			break;
		default:
			n = NOISE_NONCE_MAX - 1;
			break;
		}
		randombytes_buf(pt, len);
		randombytes_buf(ad, adlen);
		sodium_seal(k, n, ad, adlen, pt, len, ref);

		/* out of place, then in place: the same record */
		cs.n = n;
		ck_assert_int_eq(noise_cs_encrypt(&cs, ad, adlen, pt, len, ct), 0);
		ck_assert_msg(memcmp(ct, ref, len + NOISE_TAG_LEN) == 0,
			      "record differs: len %zu adlen %zu n %llu", len, adlen,
			      (unsigned long long)n);
		memcpy(ct, pt, len);
		cs.n = n;
		ck_assert_int_eq(noise_cs_encrypt(&cs, ad, adlen, ct, len, ct), 0);
		ck_assert_uint_eq(cs.n, n + 1);
		ck_assert_msg(memcmp(ct, ref, len + NOISE_TAG_LEN) == 0,
			      "in-place record differs: len %zu adlen %zu", len, adlen);

		/* EVP opens libsodium's record, in place too */
		cs.n = n;
		ck_assert_int_eq(noise_cs_decrypt(&cs, ad, adlen, ref, len + NOISE_TAG_LEN, dec),
				 0);
		ck_assert(len == 0 || memcmp(dec, pt, len) == 0);
		cs.n = n;
		ck_assert_int_eq(noise_cs_decrypt(&cs, ad, adlen, ct, len + NOISE_TAG_LEN, ct), 0);
		ck_assert(len == 0 || memcmp(ct, pt, len) == 0);

		/* libsodium opens EVP's */
		cs.n = n;
		ck_assert_int_eq(noise_cs_encrypt(&cs, ad, adlen, pt, len, ct), 0);
		ck_assert_int_eq(sodium_open(k, n, ad, adlen, ct, len + NOISE_TAG_LEN, dec), 0);
		ck_assert(len == 0 || memcmp(dec, pt, len) == 0);

		/* a flipped bit fails and leaves n; the output is zeroed, nothing unverified */
		ct[randombytes_uniform((uint32_t)(len + NOISE_TAG_LEN))] ^= 0x01;
		if (len > 0)
			memset(dec, 0xaa, len);
		cs.n = n;
		ck_assert_int_eq(noise_cs_decrypt(&cs, ad, adlen, ct, len + NOISE_TAG_LEN, dec),
				 -1);
		ck_assert_uint_eq(cs.n, n);
		ck_assert(len == 0 || sodium_is_zero(dec, len));
		/* and the context is fine for the next record */
		ck_assert_int_eq(noise_cs_decrypt(&cs, ad, adlen, ref, len + NOISE_TAG_LEN, dec),
				 0);
		noise_cs_wipe(&cs);
	}
	free(pt);
	free(ref);
	free(ct);
	free(dec);
}
END_TEST

/* Rekey goes through the context: records after it match libsodium under
 * the new key, and the old key no longer opens them. */
START_TEST(test_evp_rekey_matches_sodium)
{
	static const uint8_t zeros[32];
	uint8_t k[NOISE_KEY_LEN], nk[NOISE_KEY_LEN + NOISE_TAG_LEN], pt[100], ref[116], ct[116];
	struct noise_cs cs;
	int r;

	randombytes_buf(k, sizeof(k));
	randombytes_buf(pt, sizeof(pt));
	ck_assert_int_eq(noise_cs_init(&cs, k), 0);
	for (r = 0; r < 3; r++) {
		sodium_seal(k, NOISE_NONCE_MAX, NULL, 0, zeros, sizeof(zeros), nk);
		ck_assert_int_eq(noise_cs_rekey(&cs), 0);
		ck_assert_mem_eq(cs.k, nk, NOISE_KEY_LEN);
		ck_assert_int_eq(noise_cs_encrypt(&cs, NULL, 0, pt, sizeof(pt), ct), 0);
		ck_assert_int_eq(sodium_open(k, cs.n - 1, NULL, 0, ct, sizeof(ct), ref), -1);
		memcpy(k, nk, NOISE_KEY_LEN);
		sodium_seal(k, cs.n - 1, NULL, 0, pt, sizeof(pt), ref);
		ck_assert_mem_eq(ct, ref, sizeof(ct));
	}
	noise_cs_wipe(&cs);
}
END_TEST

/* AESGCM: records tamper-proof like ChaChaPoly's; REKEY is AES-256-GCM of
 * 32 zero bytes under nonce 0^32 || BE64(2^64-1), computed here with EVP
 * directly; the rekeyed states talk, the old key does not open them. */
static void
evp_gcm_seal(const uint8_t *k, const uint8_t nonce[12], const uint8_t *in, int len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int outl;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, k, nonce), 1);
	ck_assert_int_eq(EVP_EncryptUpdate(c, out, &outl, in, len), 1);
	ck_assert_int_eq(EVP_EncryptFinal_ex(c, out + len, &outl), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + len), 1);
	EVP_CIPHER_CTX_free(c);
}

START_TEST(test_aesgcm_transport)
{
	static const uint8_t zeros[32];
	struct noise_cs tx, rx, old, bad;
	uint8_t k[32], nonce[12], ref[64], ct[64], pt[48], dec[48];

	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(noise_cs_init_cipher(&tx, NOISE_AESGCM, k), 0);
	ck_assert_int_eq(noise_cs_init_cipher(&rx, NOISE_AESGCM, k), 0);
	ck_assert_int_eq(noise_cs_init_cipher(&old, NOISE_AESGCM, k), 0);
	ck_assert_int_eq(noise_cs_init_cipher(&bad, (enum noise_cipher)7, k), -1);
	/* n = 258: BE64 puts 0x01 0x02 last, LE64 would not */
	tx.n = rx.n = 258;
	randombytes_buf(pt, sizeof(pt));
	memset(nonce, 0, sizeof(nonce));
	nonce[10] = 1;
	nonce[11] = 2;
	evp_gcm_seal(k, nonce, pt, sizeof(pt), ref);
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, pt, sizeof(pt), ct), 0);
	ck_assert_mem_eq(ct, ref, sizeof(pt) + 16);
	ct[5] ^= 1;
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, sizeof(pt) + 16, dec), -1);
	ck_assert_uint_eq(rx.n, 258);
	ct[5] ^= 1;
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, sizeof(pt) + 16, dec), 0);
	ck_assert_mem_eq(dec, pt, sizeof(pt));
	/* rekey */
	memset(nonce + 4, 0xff, 8);
	evp_gcm_seal(k, nonce, zeros, 32, ref);
	ck_assert_int_eq(noise_cs_rekey(&tx), 0);
	ck_assert_int_eq(noise_cs_rekey(&rx), 0);
	ck_assert_mem_eq(tx.k, ref, 32);
	ck_assert_int_eq(noise_cs_encrypt(&tx, NULL, 0, pt, 5, ct), 0);
	old.n = rx.n;
	ck_assert_int_eq(noise_cs_decrypt(&old, NULL, 0, ct, 21, dec), -1);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, 21, dec), 0);
	ck_assert_mem_eq(dec, pt, 5);
	ck_assert_uint_eq(tx.cipher, NOISE_AESGCM);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
	noise_cs_wipe(&old);
}
END_TEST

/* A ChaChaPoly handshake split for AESGCM transport: both ends' records are
 * AES-GCM under Split's keys; a side that split for ChaChaPoly cannot open them. */
START_TEST(test_split_cipher)
{
	struct pair pr;
	struct noise_cs is, ir, rs, rr, cs2, cr2;
	uint8_t ct[32], dec[16];

	pair_new(&pr, NOISE_XXPSK3, NULL, NULL);
	ck_assert_int_eq(pair_step(&pr, 0, "a"), 0);
	ck_assert_int_eq(pair_step(&pr, 1, "b"), 0);
	ck_assert_int_eq(pair_step(&pr, 2, ""), 0);
	ck_assert_int_eq(noise_hs_split_cipher(pr.init, NOISE_AESGCM, &is, &ir), 0);
	ck_assert_int_eq(noise_hs_split_cipher(pr.resp, NOISE_AESGCM, &rs, &rr), 0);
	ck_assert_uint_eq(is.cipher, NOISE_AESGCM);
	ck_assert_int_eq(noise_cs_init(&cs2, rr.k), 0); /* same key, ChaChaPoly */
	ck_assert_int_eq(noise_cs_init(&cr2, rr.k), 0);
	ck_assert_int_eq(
	    noise_cs_encrypt(&is, NULL, 0, (const uint8_t *)"0123456789abcdef", 16, ct), 0);
	ck_assert_int_eq(noise_cs_decrypt(&cs2, NULL, 0, ct, 32, dec), -1);
	ck_assert_int_eq(noise_cs_decrypt(&rr, NULL, 0, ct, 32, dec), 0);
	ck_assert_mem_eq(dec, "0123456789abcdef", 16);
	ck_assert_int_eq(noise_cs_encrypt(&rs, NULL, 0, dec, 16, ct), 0);
	ck_assert_int_eq(noise_cs_decrypt(&ir, NULL, 0, ct, 32, dec), 0);
	noise_cs_wipe(&is);
	noise_cs_wipe(&ir);
	noise_cs_wipe(&rs);
	noise_cs_wipe(&rr);
	noise_cs_wipe(&cs2);
	noise_cs_wipe(&cr2);
	pair_free(&pr);
}
END_TEST

/* tunneld's cipher offer rides in msg1's plaintext payload: someone on the
 * path who strips or changes it (a downgrade to ChaChaPoly) is not noticed
 * by the responder, but msg2, sealed under a transcript hash that holds the
 * genuine msg1, then fails at the initiator; the session never comes up. */
START_TEST(test_downgrade_detected)
{
	struct pair pr;
	struct noise_hs *mitm;
	uint8_t e[32], m1[BUFLEN], m2[BUFLEN], dec[BUFLEN];
	size_t l1, l2, declen;

	/* msg1's payload key comes from public values only (psk3: MixKey(e.pub)),
	 * so the path can rewrite it: a second initiator with the same e stands
	 * in for that, its msg1 the genuine one with another offer */
	pair_new(&pr, NOISE_XXPSK3, NULL, NULL);
	randombytes_buf(e, sizeof(e));
	mitm = noise_hs_new(NOISE_XXPSK3, 1, (const uint8_t *)"em", 2, pr.is, NULL, pr.psk);
	ck_assert_ptr_nonnull(mitm);
	ck_assert_int_eq(noise_hs_set_ephemeral(pr.init, e), 0);
	ck_assert_int_eq(noise_hs_set_ephemeral(mitm, e), 0);
	ck_assert_int_eq(noise_hs_write(pr.init, (const uint8_t *)"hello\x07", 6, m1, BUFLEN, &l1),
			 0);
	ck_assert_int_eq(noise_hs_write(mitm, (const uint8_t *)"hello\x01", 6, m1, BUFLEN, &l1), 0);
	ck_assert_int_eq(noise_hs_read(pr.resp, m1, l1, dec, BUFLEN, &declen), 0);
	ck_assert_uint_eq(dec[5], 0x01); /* the responder saw "ChaChaPoly only" */
	ck_assert_int_eq(noise_hs_write(pr.resp, (const uint8_t *)"hi\x01", 3, m2, BUFLEN, &l2), 0);
	ck_assert_int_eq(noise_hs_read(pr.init, m2, l2, dec, BUFLEN, &declen), -1);
	noise_hs_free(mitm);
	pair_free(&pr);
	/* and with msg1 as sent, the same exchange succeeds */
	pair_new(&pr, NOISE_XXPSK3, NULL, NULL);
	ck_assert_int_eq(pair_step(&pr, 0, "hello\x07"), 0);
	ck_assert_int_eq(pair_step(&pr, 1, "hi\x03"), 0);
	pair_free(&pr);
}
END_TEST

/* ---- keys and PSK ---- */

START_TEST(test_psk)
{
	static const char file[] = "c2VjcmV0IHBzayBmb3IgZWRnZW1lc2gK";
	crypto_generichash_blake2b_state st;
	uint8_t a[32], b[32], ref[32];
	char fp[9], fp2[9], hex[9];

	ck_assert_int_eq(noise_psk_from_string((const uint8_t *)file, strlen(file), a), 0);
	crypto_generichash_blake2b_init(&st, NULL, 0, 32);
	crypto_generichash_blake2b_update(&st, (const uint8_t *)"edgemesh-psk-v1", 15);
	crypto_generichash_blake2b_update(&st, (const uint8_t *)file, strlen(file));
	crypto_generichash_blake2b_final(&st, ref, 32);
	ck_assert_mem_eq(a, ref, 32);
	/* the file's trailing newline does not matter */
	ck_assert_int_eq(
	    noise_psk_from_string((const uint8_t *)"c2VjcmV0IHBzayBmb3IgZWRnZW1lc2gK\r\n",
				  strlen(file) + 2, b),
	    0);
	ck_assert_mem_eq(a, b, 32);
	ck_assert_int_eq(noise_psk_from_string((const uint8_t *)"c2VjcmV0IHBzayBmb3IgZWRnZW1lc2gL",
					       strlen(file), b),
			 0);
	ck_assert_mem_ne(a, b, 32);
	ck_assert_int_eq(noise_psk_from_string((const uint8_t *)" \n\t", 3, b), -1);
	ck_assert_int_eq(noise_psk_from_string(NULL, 0, b), -1);

	noise_psk_fingerprint(a, fp);
	noise_psk_fingerprint(a, fp2);
	ck_assert_uint_eq(strlen(fp), 8);
	ck_assert_str_eq(fp, fp2);
	ck_assert_uint_eq(strspn(fp, "0123456789abcdef"), 8);
	sodium_bin2hex(hex, sizeof(hex), a, 4);
	ck_assert_str_ne(fp, hex);
	noise_psk_fingerprint(b, fp2);
	ck_assert_str_ne(fp, fp2);
}
END_TEST

START_TEST(test_keypair)
{
	uint8_t priv[32], pub[32], pub2[32], priv2[32];

	noise_keypair(priv, pub);
	ck_assert_int_eq(noise_pubkey(priv, pub2), 0);
	ck_assert_mem_eq(pub, pub2, 32);
	noise_keypair(priv2, pub2);
	ck_assert_mem_ne(pub, pub2, 32);
}
END_TEST

static Suite *
noise_suite(void)
{
	Suite *s = suite_create("noise");
	TCase *tc;

	tc = tcase_create("vectors");
	tcase_add_loop_test(tc, test_vector, 0, sizeof(vec_cases) / sizeof(vec_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("handshake");
	tcase_add_loop_test(tc, test_handshake_roundtrip, NOISE_XX, NOISE_IKPSK2 + 1);
	tcase_add_test(tc, test_out_of_turn);
	tcase_add_test(tc, test_short_buffers);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_loop_test(tc, test_tampered_handshake, NOISE_XX, NOISE_IKPSK2 + 1);
	tcase_add_test(tc, test_wrong_psk_xxpsk3);
	tcase_add_test(tc, test_wrong_psk_ikpsk2);
	tcase_add_test(tc, test_wrong_prologue);
	tcase_add_test(tc, test_ik_wrong_responder_key);
	tcase_add_test(tc, test_low_order_point);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("transport");
	tcase_add_test(tc, test_tampered_transport);
	tcase_add_test(tc, test_nonce_exhaustion);
	tcase_add_test(tc, test_rekey);
	tcase_add_test(tc, test_evp_matches_sodium);
	tcase_add_test(tc, test_evp_rekey_matches_sodium);
	tcase_add_test(tc, test_aesgcm_transport);
	tcase_add_test(tc, test_split_cipher);
	tcase_add_test(tc, test_downgrade_detected);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_psk);
	tcase_add_test(tc, test_keypair);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (noise_init() == -1)
		return 1;
	sr = srunner_create(noise_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
