/*
 * The WebSocket transport's codecs (tun_wsproto.c): the upgrade request and
 * answer (RFC 6455 4.1, 4.2.2), an HTTP proxy's answer to CONNECT, frame
 * headers (5.2) and masking; garbage and mutations of valid input into every
 * parser (an answer in {-1, 0, 1}, -1 with a reason, never a read past the
 * input: run under ASan with make SAN=1); and listenInterfaces /
 * extraFilteredInterfaces selection (tun_ifaces.c).
 */
#include <check.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srcrange.h"
#include "../../tunneld/tunneld.h"

#define FUZZ_ROUNDS 20000

START_TEST(test_accept_key_rfc)
{
	char acc[TUN_WS_ACCEPT_LEN];

	/* RFC 6455 section 1.3's example */
	ck_assert_int_eq(tun_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", acc), 0);
	ck_assert_str_eq(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_upgrade_roundtrip)
{
	char key[TUN_WS_KEY_LEN], got[64], req[512], resp[512], why[160];
	size_t n, m, used, i;

	tun_ws_new_key(key);
	ck_assert_uint_eq(strlen(key), 24);
	n = tun_ws_request(req, sizeof(req), "10.0.0.2:443", key);
	ck_assert_uint_gt(n, 0);
	ck_assert_int_eq(tun_ws_parse_request(req, n, &used, got, sizeof(got), why, sizeof(why)),
			 1);
	ck_assert_uint_eq(used, n);
	ck_assert_str_eq(got, key);
	/* every truncation waits for more */
	for (i = 0; i < n; i++)
		ck_assert_int_eq(
		    tun_ws_parse_request(req, i, &used, got, sizeof(got), why, sizeof(why)), 0);
	m = tun_ws_response(resp, sizeof(resp), key);
	ck_assert_uint_gt(m, 0);
	ck_assert_int_eq(tun_ws_parse_response(resp, m, key, &used, why, sizeof(why)), 1);
	ck_assert_uint_eq(used, m);
	for (i = 0; i < m; i++)
		ck_assert_int_eq(tun_ws_parse_response(resp, i, key, &used, why, sizeof(why)), 0);
	/* frames may follow the answer in the same read: used stops at the blank line */
	memcpy(resp + m, "\x82\x01x", 3);
	ck_assert_int_eq(tun_ws_parse_response(resp, m + 3, key, &used, why, sizeof(why)), 1);
	ck_assert_uint_eq(used, m);
	/* another key's answer is refused */
	ck_assert_int_eq(
	    tun_ws_parse_response(resp, m, "AAAAAAAAAAAAAAAAAAAAAA==", &used, why, sizeof(why)),
	    -1);
	ck_assert_ptr_nonnull(strstr(why, "Sec-WebSocket-Accept"));
}
END_TEST

/* Requests a listener must refuse, with the reason it gives. */
START_TEST(test_request_malformed)
{
	static const struct {
		const char *req, *why;
	} t[] = {
	    {"POST / HTTP/1.1\r\n\r\n", "not a WebSocket upgrade"},
	    {"\x00\x20\x01\x02", "not a WebSocket upgrade"}, /* a Noise msg1 on the ws port */
	    {"GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n", "HTTP/1.1"},
	    {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "Upgrade: websocket"},
	    {"GET / HTTP/1.1\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", "Upgrade: websocket"},
	    {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n",
	     "Connection: Upgrade"},
	    {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
	     "Sec-WebSocket-Version: 8\r\n\r\n",
	     "Version is not 13"},
	    {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Version: 13\r\n\r\n",
	     "Sec-WebSocket-Key"},
	    {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n",
	     "Sec-WebSocket-Key"},
	    {"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n\r\n",
	     "Sec-WebSocket-Key"},
	};
	char key[64], why[160], big[TUN_WS_HDR_MAX + 16];
	size_t i, used;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(tun_ws_parse_request(t[i].req, strlen(t[i].req) + (i == 1 ? 4 : 0),
						   &used, key, sizeof(key), why, sizeof(why)) == -1,
			      "accepted: %s", t[i].req);
		ck_assert_msg(strstr(why, t[i].why) != NULL, "%zu: '%s' lacks '%s'", i, why,
			      t[i].why);
	}
	/* a header block that never ends is cut at TUN_WS_HDR_MAX */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	ck_assert_int_eq(
	    tun_ws_parse_request(big, sizeof(big), &used, key, sizeof(key), why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "over 4096 bytes"));
	/* header names are case-insensitive; the key too big for the caller's buffer fails */
	{
		const char ok[] =
		    "GET /x HTTP/1.1\r\nupgrade: WebSocket\r\nconnection: keep-alive, "
		    "upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: "
		    "dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

		ck_assert_int_eq(tun_ws_parse_request(ok, sizeof(ok) - 1, &used, key, sizeof(key),
						      why, sizeof(why)),
				 1);
		ck_assert_str_eq(key, "dGhlIHNhbXBsZSBub25jZQ==");
		ck_assert_int_eq(
		    tun_ws_parse_request(ok, sizeof(ok) - 1, &used, key, 10, why, sizeof(why)), -1);
	}
}
END_TEST

START_TEST(test_answers)
{
	char why[160];
	size_t used;
	const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	const char ok10[] = "HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n";
	const char deny[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	const char notfound[] = "HTTP/1.1 404 Not Found\r\n\r\n";

	ck_assert_int_eq(tun_http_connect_response(ok, sizeof(ok) - 1, &used, why, sizeof(why)), 1);
	ck_assert_uint_eq(used, sizeof(ok) - 1);
	ck_assert_int_eq(tun_http_connect_response(ok10, sizeof(ok10) - 1, &used, why, sizeof(why)),
			 1);
	ck_assert_int_eq(tun_http_connect_response(ok, 10, &used, why, sizeof(why)), 0);
	ck_assert_int_eq(tun_http_connect_response(deny, sizeof(deny) - 1, &used, why, sizeof(why)),
			 -1);
	ck_assert_str_eq(why, "proxy refused CONNECT: 'HTTP/1.1 403 Forbidden'");
	ck_assert_int_eq(
	    tun_http_connect_response("SSH-2.0-OpenSSH\r\n", 17, &used, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "not an HTTP proxy"));
	ck_assert_int_eq(
	    tun_http_connect_response("HTTP/1.1 2x0 ?\r\n\r\n", 18, &used, why, sizeof(why)), -1);
	/* an upgrade answered with something else: the status line is named */
	ck_assert_int_eq(
	    tun_ws_parse_response(notfound, sizeof(notfound) - 1, "k", &used, why, sizeof(why)),
	    -1);
	ck_assert_ptr_nonnull(strstr(why, "'HTTP/1.1 404 Not Found'"));
	/* the CONNECT request with and without credentials */
	{
		char req[256];

		ck_assert_uint_gt(tun_http_connect_request(req, sizeof(req), "10.0.0.2:443", ""),
				  0);
		ck_assert_str_eq(req,
				 "CONNECT 10.0.0.2:443 HTTP/1.1\r\nHost: 10.0.0.2:443\r\n\r\n");
		tun_http_connect_request(req, sizeof(req), "h:443", "Ym9iOnM=");
		ck_assert_ptr_nonnull(
		    strstr(req, "\r\nProxy-Authorization: Basic Ym9iOnM=\r\n\r\n"));
		ck_assert_uint_eq(tun_http_connect_request(req, 20, "10.0.0.2:443", ""), 0);
	}
}
END_TEST

START_TEST(test_frames)
{
	static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 1u << 20};
	uint8_t hdr[16], mask[4] = {1, 2, 3, 4};
	struct tun_ws_frame f;
	char why[160];
	size_t i, h, k;
	int m;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (m = 0; m < 2; m++) {
			h = tun_ws_frame_header(hdr, TUN_WS_BINARY, lens[i], m ? mask : NULL);
			ck_assert_int_eq(tun_ws_frame_parse(hdr, h, m, &f, why, sizeof(why)), 1);
			ck_assert_uint_eq(f.len, lens[i]);
			ck_assert_uint_eq(f.hlen, h);
			ck_assert_uint_eq(f.opcode, TUN_WS_BINARY);
			ck_assert_uint_eq(f.fin, 1);
			if (m)
				ck_assert_mem_eq(f.mask, mask, 4);
			for (k = 0; k < h; k++)
				ck_assert_int_eq(
				    tun_ws_frame_parse(hdr, k, m, &f, why, sizeof(why)), 0);
			/* the wrong side's masking is refused */
			ck_assert_int_eq(tun_ws_frame_parse(hdr, h, !m, &f, why, sizeof(why)), -1);
			ck_assert_ptr_nonnull(
			    strstr(why, m ? "server frame masked" : "client frame not masked"));
		}
	}
	/* reserved bits, text frames, long or fragmented control frames, 2^63 */
	memcpy(hdr, "\xc2\x00", 2);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 2, 0, &f, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "reserved bits"));
	memcpy(hdr, "\x81\x00", 2);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 2, 0, &f, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "opcode 1"));
	memcpy(hdr, "\x89\x7e\x00\x80", 4);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 4, 0, &f, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "control frame"));
	memcpy(hdr, "\x08\x00", 2);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 2, 0, &f, why, sizeof(why)), -1);
	memcpy(hdr, "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 10, 0, &f, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "top bit"));
	/* PING/PONG/CLOSE and continuation frames are fine */
	memcpy(hdr, "\x89\x00", 2);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 2, 0, &f, why, sizeof(why)), 1);
	memcpy(hdr, "\x00\x05", 2);
	ck_assert_int_eq(tun_ws_frame_parse(hdr, 2, 0, &f, why, sizeof(why)), 1);
	ck_assert_uint_eq(f.fin, 0);
}
END_TEST

/* Masking in pieces (as payload arrives) equals masking at once; twice undoes it. */
START_TEST(test_mask_pieces)
{
	uint8_t a[1000], b[1000], orig[1000], mask[4] = {0xde, 0xad, 0xbe, 0xef};
	size_t cut;

	randombytes_buf(orig, sizeof(orig));
	memcpy(a, orig, sizeof(a));
	tun_ws_mask(a, sizeof(a), mask, 0);
	ck_assert(memcmp(a, orig, sizeof(a)) != 0);
	for (cut = 0; cut <= sizeof(b); cut += 37) {
		memcpy(b, orig, sizeof(b));
		tun_ws_mask(b, cut, mask, 0);
		tun_ws_mask(b + cut, sizeof(b) - cut, mask, cut);
		ck_assert_mem_eq(a, b, sizeof(a));
	}
	tun_ws_mask(a, sizeof(a), mask, 0);
	ck_assert_mem_eq(a, orig, sizeof(a));
	/* against the RFC's byte-at-a-time definition, every length and offset */
	{
		size_t n, i;
		uint64_t off;

		for (off = 0; off < 9; off++)
			for (n = 0; n < 41; n++) {
				memcpy(a, orig, n);
				tun_ws_mask(a, n, mask, off);
				for (i = 0; i < n; i++)
					ck_assert_uint_eq(a[i], orig[i] ^ mask[(off + i) % 4]);
			}
	}
}
END_TEST

/* One parser answer: in {-1, 0, 1}; -1 says why; used within the input. */
static void
check_answer(int r, size_t used, size_t len, const char *why)
{
	ck_assert(r >= -1 && r <= 1);
	if (r == -1)
		ck_assert(why[0] != '\0');
	if (r == 1)
		ck_assert(used > 0 && used <= len);
}

static void
feed(const uint8_t *buf, size_t len)
{
	struct tun_ws_frame f;
	char key[64], why[160];
	size_t used;
	int r;

	why[0] = '\0';
	used = 0;
	r = tun_ws_parse_request((const char *)buf, len, &used, key, sizeof(key), why, sizeof(why));
	check_answer(r, used, len, why);
	why[0] = '\0';
	used = 0;
	r = tun_ws_parse_response((const char *)buf, len, "dGhlIHNhbXBsZSBub25jZQ==", &used, why,
				  sizeof(why));
	check_answer(r, used, len, why);
	why[0] = '\0';
	used = 0;
	r = tun_http_connect_response((const char *)buf, len, &used, why, sizeof(why));
	check_answer(r, used, len, why);
	why[0] = '\0';
	r = tun_ws_frame_parse(buf, len, len & 1, &f, why, sizeof(why));
	check_answer(r, r == 1 ? f.hlen : 0, len, why);
}

/* Fuzz-ish: random bytes, and valid inputs with random bytes changed, cut at
 * random lengths, copied to exact-size heap buffers (ASan sees overreads). */
START_TEST(test_fuzz_parsers)
{
	char key[TUN_WS_KEY_LEN], seeds[3][512];
	size_t lens[3], i, n, k;
	uint8_t *buf;

	srand(12);
	tun_ws_new_key(key);
	lens[0] = tun_ws_request(seeds[0], sizeof(seeds[0]), "10.0.0.2:443", key);
	lens[1] = tun_ws_response(seeds[1], sizeof(seeds[1]), "dGhlIHNhbXBsZSBub25jZQ==");
	lens[2] = (size_t)snprintf(seeds[2], sizeof(seeds[2]), "HTTP/1.1 200 OK\r\n\r\n");
	for (i = 0; i < FUZZ_ROUNDS; i++) {
		if (i % 2 == 0) {
			n = (size_t)rand() % 600;
			buf = malloc(n + 1);
			for (k = 0; k < n; k++)
				buf[k] = (uint8_t)rand();
		} else {
			const char *s = seeds[i % 3];

			n = lens[i % 3];
			buf = malloc(n + 1);
			memcpy(buf, s, n);
			for (k = 0; k < 1 + (size_t)rand() % 4; k++)
				buf[(size_t)rand() % n] =
				    (uint8_t)(rand() % 4 == 0 ? rand() : "\r\n: "[rand() % 4]);
			n = (size_t)rand() % (n + 1);
		}
		feed(buf, n);
		free(buf);
	}
}
END_TEST

/* The comma lists of listenInterfaces and NO_PROXY: items trimmed, runs of commas skipped. */
START_TEST(test_list_next)
{
	const char *p = " eth0 ,, wlan0,lo , ", *it;
	const char *want[] = {"eth0", "wlan0", "lo", ""}; /* a trailing comma: one empty */
	size_t n, i;

	for (i = 0; *p != '\0'; i++) {
		ck_assert_uint_lt(i, 4);
		n = tun_list_next(&p, &it);
		ck_assert_uint_eq(n, strlen(want[i]));
		ck_assert_int_eq(strncmp(it, want[i], n), 0);
	}
	ck_assert_uint_eq(i, 4);
	p = "";
	ck_assert_uint_eq(tun_list_next(&p, &it), 0);
	ck_assert_ptr_eq(p, it);
}
END_TEST

START_TEST(test_interfaces)
{
	/* EdgeMesh: "*" or "" is every NIC, less the built-in prefixes and extra ones */
	ck_assert_int_eq(tun_iface_selected("*", "", "eth0"), 1);
	ck_assert_int_eq(tun_iface_selected("", "", "eth0"), 1);
	ck_assert_int_eq(tun_iface_selected("*", "", "lo"), 1);
	ck_assert_int_eq(tun_iface_selected("*", "", "cni0"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "", "br-lan"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "", "docker0"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "", "edgemesh0"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "", "flannel.1"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "", "tunl0"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "", "kube-ipvs0"), 0);
	/* a list names NICs exactly */
	ck_assert_int_eq(tun_iface_selected("eth0,lo", "", "eth0"), 1);
	ck_assert_int_eq(tun_iface_selected("eth0,lo", "", "eth1"), 0);
	ck_assert_int_eq(tun_iface_selected("eth0,lo", "", "eth"), 0);
	ck_assert_int_eq(tun_iface_selected(" eth0 , wlan0 ", "", "wlan0"), 1);
	/* the filter applies to listed NICs too */
	ck_assert_int_eq(tun_iface_selected("cni0", "", "cni0"), 0);
	/* extraFilteredInterfaces: prefixes */
	ck_assert_int_eq(tun_iface_selected("*", "veth,wg", "veth12ab"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "veth, wg", "wg0"), 0);
	ck_assert_int_eq(tun_iface_selected("*", "veth,wg", "eth0"), 1);
}
END_TEST

/* NO_PROXY as curl reads it: "*", addresses, CIDRs; names skipped. */
START_TEST(test_noproxy)
{
	struct srcrange_set set;
	struct ip_addr a;
	int all;

	ck_assert_int_eq(
	    tun_noproxy_parse("localhost, .corp,10.0.0.0/8 ,192.168.1.5,fd00::/8", &set, &all), 3);
	ck_assert_int_eq(all, 0);
	ck_assert_int_eq(ip_addr_parse("10.9.8.7", &a), 0);
	ck_assert(srcrange_match(&set, &a));
	ck_assert_int_eq(ip_addr_parse("192.168.1.5", &a), 0);
	ck_assert(srcrange_match(&set, &a));
	ck_assert_int_eq(ip_addr_parse("192.168.1.6", &a), 0);
	ck_assert(!srcrange_match(&set, &a));
	ck_assert_int_eq(ip_addr_parse("fd00::2", &a), 0);
	ck_assert(srcrange_match(&set, &a));
	ck_assert_int_eq(tun_noproxy_parse("*", &set, &all), 1);
	ck_assert_int_eq(all, 1);
	ck_assert_int_eq(tun_noproxy_parse("", &set, &all), 0);
	ck_assert_int_eq(tun_noproxy_parse(",,, ,10.0.0.1/33,example.com", &set, &all), 0);
	ck_assert_int_eq(all, 0);
}
END_TEST

static Suite *
ws_suite(void)
{
	Suite *s = suite_create("ws");
	TCase *tc;

	tc = tcase_create("codec");
	tcase_add_test(tc, test_accept_key_rfc);
	tcase_add_test(tc, test_upgrade_roundtrip);
	tcase_add_test(tc, test_request_malformed);
	tcase_add_test(tc, test_answers);
	tcase_add_test(tc, test_frames);
	tcase_add_test(tc, test_mask_pieces);
	tcase_add_test(tc, test_fuzz_parsers);
	tcase_add_test(tc, test_list_next);
	tcase_add_test(tc, test_interfaces);
	tcase_add_test(tc, test_noproxy);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() == -1)
		return 1;
	sr = srunner_create(ws_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
