/*
 * tunneld wire formats (tun_frame.c), records over the Noise transport
 * (implicit nonces: replay and reordering fail), rekey at a marked record
 * boundary, and the key and PSK files (tun_keys.c).
 */
#include <sys/stat.h>

#include <check.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "../../tunneld/tunneld.h"

START_TEST(test_frame_roundtrip)
{
	uint8_t buf[256], pay[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct tun_frame f;
	size_t n, used;

	n = tun_frame_put(buf, sizeof(buf), TUN_F_PING, 0, pay, 8);
	ck_assert_uint_eq(n, TUN_FRAME_HDR + 8);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), 1);
	ck_assert_uint_eq(f.type, TUN_F_PING);
	ck_assert_uint_eq(f.len, 8);
	ck_assert_uint_eq(used, n);
	ck_assert_mem_eq(f.payload, pay, 8);
	/* every truncation is "incomplete", never an error */
	for (used = 0; used < n; used++)
		ck_assert_int_eq(tun_frame_get(buf, used, &f, &n), 0);
	/* does not fit */
	ck_assert_uint_eq(tun_frame_put(buf, 10, TUN_F_DATA, 1, pay, 8), 0);
	ck_assert_str_eq(tun_ftype_name(TUN_F_OPEN_FAIL), "OPEN_FAIL");
	ck_assert_str_eq(tun_ftype_name(99), "?");
}
END_TEST

START_TEST(test_frame_malformed)
{
	uint8_t buf[64], w[4] = {0, 0, 1, 0};
	struct tun_frame f;
	size_t n, used;

	n = tun_frame_put(buf, sizeof(buf), TUN_F_WINDOW, 3, w, 3); /* WINDOW is 4 bytes */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_DATA, 0, w, 4); /* DATA on stream 0 */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), 0, 3, NULL, 0); /* type 0 */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_MAX, 3, NULL, 0); /* unknown type */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_FIN, 3, w, 1); /* FIN has no payload */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	/* REACH: on stream 0, an ok byte and a reason */
	n = tun_frame_put(buf, sizeof(buf), TUN_F_REACH, 0, "\0why", 4);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), 1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_REACH, 3, "\1", 1); /* not stream 0 */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_REACH, 0, NULL, 0); /* no ok byte */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	/* MIGRATE, OBSERVED, PUNCH: stream 0, bounded lengths */
	n = tun_frame_put(buf, sizeof(buf), TUN_F_MIGRATE, 0, "0123456789abcdef", 16);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), 1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_MIGRATE, 0, "0123", 4); /* nonce is 16 */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_MIGRATE, 5, "0123456789abcdef", 16);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_OBSERVED, 0, "1.2.3.4:5", 9);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), 1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_OBSERVED, 0, NULL, 0);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_PUNCH, 0,
			  "\1\0"
			  "1.2.3.4:5",
			  11);
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), 1);
	n = tun_frame_put(buf, sizeof(buf), TUN_F_PUNCH, 0, "\1", 1); /* kind and flags */
	ck_assert_int_eq(tun_frame_get(buf, n, &f, &used), -1);
	ck_assert_str_eq(tun_ftype_name(TUN_F_PUNCH), "PUNCH");
}
END_TEST

/* Path migration (tun_migkey.c): both ends derive one key and id from
 * their split states; a proof binds key, role, both nonces and rxn. */
START_TEST(test_migrate_proof)
{
	uint8_t k1[32], k2[32], ka[32], kb[32], ida[16], idb[16], kc[32], idc[16];
	uint8_t na[16], nb[16], p[TUN_MIG_PROOF], q[TUN_MIG_PROOF], h[TUN_MIG_HELLO];
	uint8_t id[16], nonce[16], flags;
	uint64_t rxn;

	memset(k1, 1, sizeof(k1));
	memset(k2, 2, sizeof(k2));
	memset(na, 0xa, sizeof(na));
	memset(nb, 0xb, sizeof(nb));
	tun_mig_derive(k1, k2, ka, ida); /* the initiator: send k1, receive k2 */
	tun_mig_derive(k1, k2, kb, idb); /* the responder, the same order */
	ck_assert_mem_eq(ka, kb, 32);
	ck_assert_mem_eq(ida, idb, 16);
	tun_mig_derive(k2, k1, kc, idc); /* another session */
	ck_assert(memcmp(ka, kc, 32) != 0);
	ck_assert(memcmp(ida, idc, 16) != 0);
	ck_assert(memcmp(ida, ka, 16) != 0); /* the public id is not the key */

	/* A (I) proves; B checks with the roles and nonces seen from A */
	tun_mig_proof(ka, 'I', na, nb, 7, 0, p);
	tun_mig_proof(kb, 'I', na, nb, 7, 0, q);
	ck_assert_mem_eq(p, q, TUN_MIG_PROOF);
	tun_mig_proof(kb, 'R', na, nb, 7, 0, q); /* reflected: the other role */
	ck_assert(memcmp(p, q, TUN_MIG_PROOF) != 0);
	tun_mig_proof(kb, 'I', nb, na, 7, 0, q); /* nonces swapped */
	ck_assert(memcmp(p, q, TUN_MIG_PROOF) != 0);
	tun_mig_proof(kb, 'I', na, nb, 8, 0, q); /* another rxn */
	ck_assert(memcmp(p, q, TUN_MIG_PROOF) != 0);
	tun_mig_proof(kb, 'I', na, nb, 7, TUN_MIGH_DEAD, q); /* another flag */
	ck_assert(memcmp(p, q, TUN_MIG_PROOF) != 0);
	tun_mig_proof(kc, 'I', na, nb, 7, 0, q); /* another session's key */
	ck_assert(memcmp(p, q, TUN_MIG_PROOF) != 0);

	/* the hello: 00 00 first (no handshake message is empty) */
	tun_mig_hello_encode(ida, na, 0x0102030405060708ull, TUN_MIGH_DEAD, h);
	ck_assert_uint_eq(be16_get(h), 0);
	ck_assert_int_eq(tun_mig_hello_decode(h, sizeof(h), id, nonce, &rxn, &flags), 0);
	ck_assert_uint_eq(flags, TUN_MIGH_DEAD);
	ck_assert_mem_eq(id, ida, 16);
	ck_assert_mem_eq(nonce, na, 16);
	ck_assert(rxn == 0x0102030405060708ull);
	ck_assert_int_eq(tun_mig_hello_decode(h, sizeof(h) - 1, id, nonce, &rxn, &flags), -1);
	h[6] = 2; /* another version */
	ck_assert_int_eq(tun_mig_hello_decode(h, sizeof(h), id, nonce, &rxn, &flags), -1);
	h[6] = 1;
	h[2] = 'X';
	ck_assert_int_eq(tun_mig_hello_decode(h, sizeof(h), id, nonce, &rxn, &flags), -1);
}
END_TEST

START_TEST(test_frames_in_a_record)
{
	uint8_t rec[TUN_REC_MAX], big[TUN_REC_MAX];
	struct tun_frame f;
	size_t off = 0, used;
	uint32_t sid;
	int count = 0;

	memset(big, 'x', sizeof(big));
	off += tun_frame_put(rec + off, sizeof(rec) - off, TUN_F_DATA, 1, big, 1);
	off += tun_frame_put(rec + off, sizeof(rec) - off, TUN_F_WINDOW, 3, "\0\4\0\0", 4);
	off += tun_frame_put(rec + off, sizeof(rec) - off, TUN_F_FIN, 5, NULL, 0);
	off += tun_frame_put(rec + off, sizeof(rec) - off, TUN_F_DATA, 7, big,
			     sizeof(rec) - off - 2 * TUN_FRAME_HDR);
	off += tun_frame_put(rec + off, sizeof(rec) - off, TUN_F_REKEY, 0, NULL, 0);
	ck_assert_uint_eq(off, sizeof(rec));
	for (used = 0, sid = 0; off > 0; count++) {
		ck_assert_int_eq(tun_frame_get(rec + (sizeof(rec) - off), off, &f, &used), 1);
		off -= used;
		sid = f.sid;
	}
	ck_assert_int_eq(count, 5);
	ck_assert_uint_eq(f.type, TUN_F_REKEY);
	ck_assert_uint_eq(sid, 0);
	ck_assert_uint_eq(be32_get((const uint8_t *)"\0\4\0\0"), 256u << 10);
}
END_TEST

START_TEST(test_open_codec)
{
	struct tun_open_req r, o;
	uint8_t buf[128];
	size_t n;

	memset(&r, 0, sizeof(r));
	r.proto = EM_PROTO_UDP;
	r.port = 53;
	snprintf(r.ip, sizeof(r.ip), "10.201.2.10");
	snprintf(r.client, sizeof(r.client), "169.254.96.16:40000");
	n = tun_open_encode(&r, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(tun_open_decode(buf, n, &o), 0);
	ck_assert_uint_eq(o.proto, EM_PROTO_UDP);
	ck_assert_uint_eq(o.port, 53);
	ck_assert_str_eq(o.ip, "10.201.2.10");
	ck_assert_str_eq(o.client, "169.254.96.16:40000");
	/* trailing byte, truncation, control characters, bad proto, port 0 */
	ck_assert_int_eq(tun_open_decode(buf, n + 1, &o), -1);
	ck_assert_int_eq(tun_open_decode(buf, n - 1, &o), -1);
	buf[5] = '\n';
	ck_assert_int_eq(tun_open_decode(buf, n, &o), -1);
	buf[5] = '0';
	buf[0] = 2;
	ck_assert_int_eq(tun_open_decode(buf, n, &o), -1);
	buf[0] = 0;
	buf[1] = buf[2] = 0;
	ck_assert_int_eq(tun_open_decode(buf, n, &o), -1);
	/* no ip at all */
	memset(&r, 0, sizeof(r));
	r.port = 1;
	n = tun_open_encode(&r, buf, sizeof(buf));
	ck_assert_int_eq(tun_open_decode(buf, n, &o), -1);
}
END_TEST

START_TEST(test_hello_codec)
{
	struct tun_hello h, o;
	uint8_t buf[300];
	size_t n;
	char s[16];

	memset(&h, 0, sizeof(h));
	h.version = 1;
	snprintf(h.fp, sizeof(h.fp), "3f2a0b1c");
	snprintf(h.name, sizeof(h.name), "edge-1");
	n = tun_hello_encode(&h, buf, sizeof(buf));
	ck_assert_uint_eq(n, 10 + 6);
	ck_assert_int_eq(tun_hello_decode(buf, n, &o), 0);
	ck_assert_str_eq(o.fp, "3f2a0b1c");
	ck_assert_str_eq(o.name, "edge-1");
	ck_assert_int_eq(tun_hello_decode(buf, n - 1, &o), -1);
	buf[3] = 'G'; /* not lower-case hex */
	ck_assert_int_eq(tun_hello_decode(buf, n, &o), -1);
	buf[3] = '2';
	buf[0] = 2; /* unknown version */
	ck_assert_int_eq(tun_hello_decode(buf, n, &o), -1);
	tun_fp_short("91c0aa55", s);
	ck_assert_str_eq(s, "91c0\xe2\x80\xa6");
}
END_TEST

/* The caps byte: absent from an older hello (ChaChaPoly then), carried when
 * set, and the transport AEAD follows from both offers. */
START_TEST(test_hello_caps)
{
	struct tun_hello h, o;
	uint8_t buf[300];
	size_t n;

	memset(&h, 0, sizeof(h));
	h.version = 1;
	snprintf(h.fp, sizeof(h.fp), "3f2a0b1c");
	snprintf(h.name, sizeof(h.name), "edge-2");
	n = tun_hello_encode(&h, buf, sizeof(buf));
	ck_assert_int_eq(tun_hello_decode(buf, n, &o), 0);
	ck_assert_uint_eq(o.caps, 0);
	h.caps = TUN_CAP_CHACHAPOLY | TUN_CAP_AESGCM | TUN_CAP_EARLY;
	ck_assert_uint_eq(tun_hello_encode(&h, buf, sizeof(buf)), n + 1);
	ck_assert_int_eq(tun_hello_decode(buf, n + 1, &o), 0);
	ck_assert_uint_eq(o.caps, h.caps);
	ck_assert_str_eq(o.name, "edge-2");
	ck_assert_int_eq(tun_hello_decode(buf, n + 2, &o), -1); /* one byte, no more */
	buf[n] = TUN_CAP_AESGCM;				/* a list without ChaChaPoly */
	ck_assert_int_eq(tun_hello_decode(buf, n + 1, &o), -1);
	ck_assert_int_eq(tun_cipher_pick(TUN_CAP_CHACHAPOLY | TUN_CAP_AESGCM,
					 TUN_CAP_CHACHAPOLY | TUN_CAP_AESGCM),
			 NOISE_AESGCM);
	ck_assert_int_eq(tun_cipher_pick(TUN_CAP_CHACHAPOLY | TUN_CAP_AESGCM, TUN_CAP_CHACHAPOLY),
			 NOISE_CHACHAPOLY);
	ck_assert_int_eq(tun_cipher_pick(TUN_CAP_CHACHAPOLY, TUN_CAP_CHACHAPOLY | TUN_CAP_AESGCM),
			 NOISE_CHACHAPOLY);
	ck_assert_int_eq(tun_cipher_pick(TUN_CAP_CHACHAPOLY | TUN_CAP_AESGCM, 0), NOISE_CHACHAPOLY);
}
END_TEST

/* Seal like the session does: frames || tag, implicit nonce. */
static size_t
seal(struct noise_cs *cs, const char *txt, uint8_t *out)
{
	size_t n = tun_frame_put(out, 256, TUN_F_DATA, 1, txt, strlen(txt));

	ck_assert_int_eq(noise_cs_encrypt(cs, NULL, 0, out, n, out), 0);
	return n + NOISE_TAG_LEN;
}

START_TEST(test_records_replay_reorder)
{
	struct noise_cs tx, rx;
	uint8_t a[300], b[300], c[300], tmp[300];
	uint8_t k[NOISE_KEY_LEN];
	size_t na, nb, nc;

	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(noise_cs_init(&tx, k), 0);
	ck_assert_int_eq(noise_cs_init(&rx, k), 0);
	na = seal(&tx, "first", a);
	nb = seal(&tx, "second", b);
	nc = seal(&tx, "third", c);
	/* reordered: b before a fails */
	memcpy(tmp, b, nb);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, tmp, nb, tmp), -1);
	memcpy(tmp, a, na);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, tmp, na, tmp), 0);
	/* replayed: a again fails */
	memcpy(tmp, a, na);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, tmp, na, tmp), -1);
	/* tampered */
	memcpy(tmp, b, nb);
	tmp[3] ^= 1;
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, tmp, nb, tmp), -1);
	memcpy(tmp, b, nb);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, tmp, nb, tmp), 0);
	memcpy(tmp, c, nc);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, tmp, nc, tmp), 0);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
}
END_TEST

START_TEST(test_rekey_boundary)
{
	struct noise_cs tx, rx;
	uint8_t r1[300], r2[300];
	uint8_t k[NOISE_KEY_LEN];
	size_t n1, n2;

	randombytes_buf(k, sizeof(k));
	ck_assert_int_eq(noise_cs_init(&tx, k), 0);
	ck_assert_int_eq(noise_cs_init(&rx, k), 0);
	/* the record carrying REKEY is sealed with the old key, then both rekey */
	n1 = seal(&tx, "last under the old key", r1);
	ck_assert_int_eq(noise_cs_rekey(&tx), 0);
	n2 = seal(&tx, "first under the new key", r2);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, r1, n1, r1), 0);
	ck_assert_int_eq(noise_cs_rekey(&rx), 0);
	ck_assert_int_eq(noise_cs_decrypt(&rx, NULL, 0, r2, n2, r2), 0);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
}
END_TEST

static char tmpdir[] = "/tmp/check_tun.XXXXXX";

static void
write_file(const char *path, const char *s, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(s, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(test_psk_file)
{
	struct tunneld t;
	char path[256], fp[9], err[1024];

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/psk", tmpdir);
	write_file(path, "some psk", 0600);
	memset(&t, 0, sizeof(t));
	t.run_uid = geteuid();
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), 0);
	memcpy(fp, t.fp, sizeof(fp));
	/* trailing white space does not change the PSK */
	write_file(path, "some psk \n", 0600);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), 0);
	ck_assert_str_eq(fp, t.fp);
	/* readable by others: refused, with the fix */
	chmod(path, 0644);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	chmod(path, 0600);
	if (geteuid() == 0) {
		/* README's recipe as root: owned by the user we switch to, accepted */
		ck_assert_int_eq(chown(path, 4242, 4242), 0);
		t.run_uid = 4242;
		ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), 0);
		ck_assert_str_eq(fp, t.fp);
		/* owned by a third user: refused, with the fix */
		t.run_uid = 4343;
		ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), -1);
		ck_assert_ptr_nonnull(strstr(err, "chown 4343"));
		t.run_uid = geteuid();
		ck_assert_int_eq(chown(path, geteuid(), getegid()), 0);
	}
	/* empty */
	write_file(path, " \n", 0600);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "edgemeshctl gen-psk"));
	/* EdgeMesh's public example PSK, as its ConfigMap mounts it and with a newline */
	write_file(path, "JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ=", 0600);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "public example PSK"));
	ck_assert_ptr_nonnull(strstr(err, "openssl rand -base64 32"));
	ck_assert_ptr_nonnull(
	    strstr(err, "kubectl -n kubeedge create configmap edgemesh-agent-psk"));
	write_file(path, "JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ=\n", 0600);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), -1);
	/* a prefix of it is just a PSK */
	write_file(path, "JugH9HP1XBouyO5pWGeZa8LtipDURrf17EJvUHcJGuQ", 0600);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), 0);
	/* missing: says how to make one */
	unlink(path);
	ck_assert_int_eq(tun_psk_load(&t, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no PSK file"));
	ck_assert_ptr_nonnull(strstr(err, "edgemeshctl gen-psk"));
	ck_assert_ptr_nonnull(strstr(err, "kubectl -n kubeedge create configmap"));
	rmdir(tmpdir);
}
END_TEST

START_TEST(test_static_key)
{
	struct tunneld t;
	struct stat st;
	uint8_t pub[NOISE_KEY_LEN];
	char path[256], err[512];

	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	memset(&t, 0, sizeof(t));
	/* as root, the key is made for the user tunneld switches to */
	t.run_uid = geteuid() == 0 ? 4242 : geteuid();
	t.run_gid = geteuid() == 0 ? 4242 : getegid();
	ck_assert_int_eq(tun_keys_load(&t, path, err, sizeof(err)), 0);
	memcpy(pub, t.spub, sizeof(pub));
	snprintf(path, sizeof(path), "%s/state/tunnel.key", tmpdir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(st.st_uid, t.run_uid);
	/* loaded again, same key */
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	ck_assert_int_eq(tun_keys_load(&t, path, err, sizeof(err)), 0);
	ck_assert_mem_eq(pub, t.spub, sizeof(pub));
	/* group-readable key refused */
	snprintf(path, sizeof(path), "%s/state/tunnel.key", tmpdir);
	chmod(path, 0640);
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	ck_assert_int_eq(tun_keys_load(&t, path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	/* garbage refused */
	snprintf(path, sizeof(path), "%s/state/tunnel.key", tmpdir);
	write_file(path, "not a key", 0600);
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	ck_assert_int_eq(tun_keys_load(&t, path, err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/state/tunnel.key", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/state", tmpdir);
	rmdir(path);
	rmdir(tmpdir);
}
END_TEST

/* The circuit OPEN payload (relay): round trip, truncations, bad fields. */
START_TEST(test_circuit_payload)
{
	uint8_t buf[300], bad[300];
	char name[254];
	struct tun_open_req req;
	size_t n, i;

	n = tun_circuit_encode(TUN_CIRC_TO, "edge-2", buf, sizeof(buf));
	ck_assert_uint_eq(n, 4 + 6);
	ck_assert_int_eq(tun_circuit_decode(buf, n, name), TUN_CIRC_TO);
	ck_assert_str_eq(name, "edge-2");
	n = tun_circuit_encode(TUN_CIRC_FROM, "edge-1", buf, sizeof(buf));
	ck_assert_int_eq(tun_circuit_decode(buf, n, name), TUN_CIRC_FROM);
	ck_assert_str_eq(name, "edge-1");
	for (i = 0; i < n; i++)
		ck_assert_int_eq(tun_circuit_decode(buf, i, name), -1);
	memcpy(bad, buf, n);
	bad[1] = TUN_CIRCUIT_V1 + 1; /* a version we do not speak */
	ck_assert_int_eq(tun_circuit_decode(bad, n, name), -1);
	memcpy(bad, buf, n);
	bad[2] = 9; /* no such kind */
	ck_assert_int_eq(tun_circuit_decode(bad, n, name), -1);
	memcpy(bad, buf, n);
	bad[5] = '\0'; /* a NUL inside the name */
	ck_assert_int_eq(tun_circuit_decode(bad, n, name), -1);
	memcpy(bad, buf, n);
	bad[n] = 'x'; /* a trailing byte */
	ck_assert_int_eq(tun_circuit_decode(bad, n + 1, name), -1);
	ck_assert_uint_eq(tun_circuit_encode(TUN_CIRC_TO, "edge-2", buf, 5), 0);
	/* an ordinary OPEN payload is no circuit, and a circuit is no ordinary OPEN */
	memset(&req, 0, sizeof(req));
	req.proto = EM_PROTO_TCP;
	req.port = 22;
	snprintf(req.ip, sizeof(req.ip), "10.0.0.2");
	n = tun_open_encode(&req, buf, sizeof(buf));
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(tun_circuit_decode(buf, n, name), -1);
	n = tun_circuit_encode(TUN_CIRC_TO, "edge-2", buf, sizeof(buf));
	ck_assert_int_eq(tun_open_decode(buf, n, &req), -1);
}
END_TEST

/* The RELAYS frame payload (tun_advert.c): round trip, strictness. */
START_TEST(test_relays_payload)
{
	uint8_t buf[TUN_ADV_MAX], bad[TUN_ADV_MAX];
	struct tun_adv a;
	struct tun_adv_entry e;
	size_t n, count, off = 0, i;

	n = tun_adv_put_head(buf, sizeof(buf), 1, "100.64.0.1:41234", &count);
	ck_assert_uint_eq(n, 4 + 16);
	n = tun_adv_put_entry(buf, sizeof(buf), n, count, "edge-2", 12, "100.64.0.2");
	n = tun_adv_put_entry(buf, sizeof(buf), n, count, "edge-3", 70000, "");
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(tun_adv_decode(buf, n, &a), 0);
	ck_assert_int_eq(a.relay, 1);
	ck_assert_str_eq(a.seen, "100.64.0.1:41234");
	ck_assert_uint_eq(a.n, 2);
	ck_assert_int_eq(tun_adv_next(&a, &off, &e), 1);
	ck_assert_str_eq(e.name, "edge-2");
	ck_assert_uint_eq(e.rtt_ms, 12);
	ck_assert_str_eq(e.ip, "100.64.0.2");
	ck_assert_int_eq(tun_adv_next(&a, &off, &e), 1);
	ck_assert_str_eq(e.name, "edge-3");
	ck_assert_uint_eq(e.rtt_ms, 0xffff); /* capped */
	ck_assert_str_eq(e.ip, "");
	ck_assert_int_eq(tun_adv_next(&a, &off, &e), 0);
	/* every truncation is malformed, a trailing byte too */
	for (i = 0; i < n; i++)
		ck_assert_int_eq(tun_adv_decode(buf, i, &a), -1);
	memcpy(bad, buf, n);
	bad[n] = 'x';
	ck_assert_int_eq(tun_adv_decode(bad, n + 1, &a), -1);
	memcpy(bad, buf, n);
	bad[3] = ' '; /* a space in the seen address */
	ck_assert_int_eq(tun_adv_decode(bad, n, &a), -1);
	memcpy(bad, buf, n);
	bad[20] = 0; /* an empty name */
	ck_assert_int_eq(tun_adv_decode(bad, n, &a), -1);
	memcpy(bad, buf, n);
	bad[19] = 3; /* more entries than there are */
	ck_assert_int_eq(tun_adv_decode(bad, n, &a), -1);
	memcpy(bad, buf, n);
	bad[0] = TUN_ADV_V1 + 1; /* a newer version: not ours to read */
	ck_assert_int_eq(tun_adv_decode(bad, n, &a), 1);
	/* no room: nothing written */
	ck_assert_uint_eq(tun_adv_put_head(buf, 10, 0, "100.64.0.1:41234", &count), 0);
	n = tun_adv_put_head(buf, 30, 0, "", &count);
	ck_assert_uint_eq(
	    tun_adv_put_entry(buf, 30, n, count, "a-very-long-node-name", 1, "192.168.100.200"), 0);
	ck_assert_uint_eq(tun_adv_put_entry(buf, 30, n, count, "", 1, "1.2.3.4"), 0);
	ck_assert_int_eq(tun_adv_decode(buf, n, &a), 0);
	ck_assert_int_eq(a.relay, 0);
	ck_assert_uint_eq(a.n, 0);
	/* the frame itself: stream 0 only */
	n = tun_frame_put(bad, sizeof(bad), TUN_F_RELAYS, 0, buf, 4);
	{
		struct tun_frame f;
		size_t used;

		ck_assert_int_eq(tun_frame_get(bad, n, &f, &used), 1);
		ck_assert_str_eq(tun_ftype_name(TUN_F_RELAYS), "RELAYS");
		n = tun_frame_put(bad, sizeof(bad), TUN_F_RELAYS, 3, buf, 4);
		ck_assert_int_eq(tun_frame_get(bad, n, &f, &used), -1);
	}
}
END_TEST

static Suite *
tun_suite(void)
{
	Suite *s = suite_create("tun");
	TCase *tc;

	tc = tcase_create("frames");
	tcase_add_test(tc, test_frame_roundtrip);
	tcase_add_test(tc, test_circuit_payload);
	tcase_add_test(tc, test_relays_payload);
	tcase_add_test(tc, test_frame_malformed);
	tcase_add_test(tc, test_frames_in_a_record);
	tcase_add_test(tc, test_migrate_proof);
	tcase_add_test(tc, test_open_codec);
	tcase_add_test(tc, test_hello_codec);
	tcase_add_test(tc, test_hello_caps);
	suite_add_tcase(s, tc);

	tc = tcase_create("records");
	tcase_add_test(tc, test_records_replay_reorder);
	tcase_add_test(tc, test_rekey_boundary);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_psk_file);
	tcase_add_test(tc, test_static_key);
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
	sr = srunner_create(tun_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
