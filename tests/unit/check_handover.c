/*
 * tunneld's hand-over wire (tunneld/tun_handover_wire.c): records and fds
 * through a carrier socket and back, the blob refused when tampered with,
 * opened with another key or of another version; cipher states exported and
 * imported go on where they were.
 */
#include <sys/socket.h>

#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "ipc.h"
#include "../../tunneld/tun_handover.h"
#include "../../tunneld/tun_noise.h"

static uint8_t key1[NOISE_KEY_LEN], key2[NOISE_KEY_LEN];

/* Records with every kind of field and two pipes' write ends (their read
 * ends in rfds); the carrier. */
static int
make_carrier(int rfds[2])
{
	struct ho_buf b;
	char err[256];
	int carrier, p1[2], p2[2];

	ck_assert_int_eq(pipe(p1), 0);
	ck_assert_int_eq(pipe(p2), 0);
	memset(&b, 0, sizeof(b));
	ho_rec_begin(&b, HR_GLOBAL);
	ho_put_bytes(&b, "0123456789abcdef0123456789abcdef", 32);
	ho_put_fd(&b, p1[1]);
	ho_put_fd(&b, -1);
	ho_rec_end(&b);
	ho_rec_begin(&b, 200); /* a record of a newer build */
	ho_put_u64(&b, 7);
	ho_rec_end(&b);
	ho_rec_begin(&b, HR_SESSION);
	ho_put_fd(&b, p2[1]);
	ho_put_u8(&b, 0xab);
	ho_put_u16(&b, 0xbeef);
	ho_put_u32(&b, 0xdeadbeef);
	ho_put_u64(&b, 0x0102030405060708ull);
	ho_put_str(&b, "edge-2");
	ho_put_u32(&b, 99); /* a field this reader does not know: skipped */
	ho_rec_end(&b);
	ho_rec_begin(&b, HR_END);
	ho_rec_end(&b);
	ck_assert_int_eq(ho_send(&b, key1, &carrier, err, sizeof(err)), 0);
	ho_buf_free(&b);
	close(p1[1]);
	close(p2[1]);
	rfds[0] = p1[0];
	rfds[1] = p2[0];
	return carrier;
}

START_TEST(test_round_trip)
{
	struct ho_in in;
	struct ho_rd r, f;
	char err[256], name[16];
	const uint8_t *psk;
	size_t plen;
	uint8_t type, c;
	int rfds[2], carrier, fd;

	carrier = make_carrier(rfds);
	ck_assert_int_eq(ho_recv(carrier, &in, err, sizeof(err)), 0);
	ck_assert_int_eq(in.nfds, 3);
	ck_assert_int_eq(ho_open(&in, key1, err, sizeof(err)), 0);
	ck_assert_str_eq(in.build, EM_BUILD_VERSION);
	memset(&r, 0, sizeof(r));
	r.p = in.plain;
	r.len = in.plen;
	ck_assert_int_eq(ho_next_rec(&r, &type, &f), 1);
	ck_assert_int_eq(type, HR_GLOBAL);
	psk = ho_get_bytes(&f, &plen);
	ck_assert_uint_eq(plen, 32);
	ck_assert(memcmp(psk, "0123456789abcdef", 16) == 0);
	fd = ho_take_fd(&in, ho_get_u32(&f));
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ho_take_fd(&in, ho_get_u32(&f)), -1); /* none was given */
	/* the fd is the pipe's write end: what goes in comes out of ours */
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(read(rfds[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	close(fd);
	ck_assert_int_eq(ho_next_rec(&r, &type, &f), 1);
	ck_assert_int_eq(type, 200);
	ck_assert_int_eq(ho_next_rec(&r, &type, &f), 1);
	ck_assert_int_eq(type, HR_SESSION);
	fd = ho_take_fd(&in, ho_get_u32(&f));
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(ho_get_u8(&f), 0xab);
	ck_assert_uint_eq(ho_get_u16(&f), 0xbeef);
	ck_assert_uint_eq(ho_get_u32(&f), 0xdeadbeef);
	ck_assert(ho_get_u64(&f) == 0x0102030405060708ull);
	ho_get_str(&f, name, sizeof(name));
	ck_assert_str_eq(name, "edge-2");
	ck_assert_ptr_null(f.err);
	/* past the record's end: an error, not a read beyond it */
	ho_get_u32(&f);
	ho_get_u64(&f);
	ck_assert_ptr_nonnull(f.err);
	ck_assert_int_eq(ho_take_fd(&in, 2), -1); /* taken once only */
	ck_assert_int_eq(ho_next_rec(&r, &type, &f), 0);
	ck_assert_uint_eq(ho_in_free(&in), 0);
	close(fd);
	close(rfds[0]);
	close(rfds[1]);
}
END_TEST

/* Opened with key, after f changed the received blob: the error, or "" if it opened. */
static void
open_with(const uint8_t *key, void (*f)(struct ho_in *), char *err, size_t len)
{
	struct ho_in in;
	int rfds[2], carrier;

	carrier = make_carrier(rfds);
	ck_assert_int_eq(ho_recv(carrier, &in, err, len), 0);
	if (f != NULL)
		f(&in);
	err[0] = '\0';
	ho_open(&in, key, err, len);
	/* every fd that came (the pipes' write ends) is closed when refused */
	ck_assert_uint_eq(ho_in_free(&in), 2);
	close(rfds[0]);
	close(rfds[1]);
}

static void
flip_ciphertext(struct ho_in *in)
{
	in->plain[HO_HDR_LEN + 5] ^= 1;
}

static void
flip_header(struct ho_in *in)
{
	in->plain[30] ^= 1; /* in the build string: the header is authenticated */
}

static void
newer_version(struct ho_in *in)
{
	in->plain[9] = 2;
}

static void
bad_magic(struct ho_in *in)
{
	in->plain[0] = 'X';
}

START_TEST(test_refused)
{
	char err[512];

	open_with(key1, NULL, err, sizeof(err));
	ck_assert_str_eq(err, "");
	open_with(key1, flip_ciphertext, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "does not authenticate"));
	open_with(key1, flip_header, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "does not authenticate"));
	open_with(key2, NULL, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "another node"));
	open_with(key1, newer_version, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "hand-over version 2"));
	open_with(key1, bad_magic, err, sizeof(err));
	ck_assert_ptr_nonnull(strstr(err, "not a tunneld hand-over"));
}
END_TEST

START_TEST(test_not_a_carrier)
{
	struct ho_in in;
	char err[256];
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	ck_assert_int_eq(write(sv[0], "hello world", 11), 11);
	close(sv[0]);
	ck_assert_int_eq(ho_recv(sv[1], &in, err, sizeof(err)), -1);
	ho_in_free(&in);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	close(sv[0]);
	ck_assert_int_eq(ho_recv(sv[1], &in, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ho_in_free(&in);
}
END_TEST

/* Both AEADs (_i: 0 ChaChaPoly, 1 AESGCM) */
START_TEST(test_cipher_state)
{
	static const enum noise_cipher ciphers[] = {NOISE_CHACHAPOLY, NOISE_AESGCM};
	static const uint8_t kinds[] = {NOISE_CS_CHACHAPOLY, NOISE_CS_AESGCM};
	struct noise_cs a, b, rx, moved;
	uint8_t k[NOISE_KEY_LEN], ex[NOISE_CS_EXPORT_MAX], ct[64 + NOISE_TAG_LEN], pt[64];
	size_t n;
	int i;

	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(noise_cs_init_cipher(&a, ciphers[_i], k), 0);
	ck_assert_int_eq(noise_cs_init_cipher(&rx, ciphers[_i], k), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(noise_cs_encrypt(&a, NULL, 0, (const uint8_t *)"hello", 5, ct), 0);
		ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, 5 + NOISE_TAG_LEN, pt), 0);
	}
	ck_assert_int_eq(noise_cs_rekey(&a), 0);
	ck_assert_int_eq(noise_cs_rekey(&rx), 0);
	n = noise_cs_export(&a, ex);
	ck_assert_uint_le(n, NOISE_CS_EXPORT_MAX);
	ck_assert_int_eq(ex[0], kinds[_i]);
	ck_assert_int_eq(noise_cs_import(&moved, ex, n), 0);
	ck_assert(moved.n == a.n);
	ck_assert_int_eq(moved.cipher, ciphers[_i]);
	/* the moved state seals the next record as the old one would have */
	ck_assert_int_eq(noise_cs_encrypt(&moved, NULL, 0, (const uint8_t *)"world", 5, ct), 0);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, ct, 5 + NOISE_TAG_LEN, pt), 0);
	ck_assert(memcmp(pt, "world", 5) == 0);
	/* an unknown cipher kind, a bad length */
	ex[0] = 77;
	ck_assert_int_eq(noise_cs_import(&b, ex, n), -1);
	ex[0] = kinds[_i];
	ck_assert_int_eq(noise_cs_import(&b, ex, n - 1), -1);
	noise_cs_wipe(&a);
	noise_cs_wipe(&rx);
	noise_cs_wipe(&moved);
	sodium_memzero(ex, sizeof(ex));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("handover");
	TCase *tc = tcase_create("wire");
	SRunner *sr;
	int nf;

	if (noise_init() == -1)
		return 1;
	randombytes_buf(key1, sizeof(key1));
	randombytes_buf(key2, sizeof(key2));
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_not_a_carrier);
	tcase_add_loop_test(tc, test_cipher_state, 0, 2);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
