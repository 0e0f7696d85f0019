/* SOCKS5 wire format: greeting, request, reply, failure mapping. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../../socksd/socksd.h"

START_TEST(test_greeting)
{
	const uint8_t noauth[] = {5, 2, 2, 0}, userpass[] = {5, 1, 2}, v4[] = {4, 1, 0};
	const uint8_t zero[] = {5, 0};
	size_t used = 0, i;

	ck_assert_int_eq(socks_parse_greeting(noauth, sizeof(noauth), &used), 0);
	ck_assert_uint_eq(used, 4);
	/* every prefix asks for more */
	for (i = 0; i < sizeof(noauth); i++)
		ck_assert_int_eq(socks_parse_greeting(noauth, i, &used), SOCKS_MORE);
	ck_assert_int_eq(socks_parse_greeting(userpass, sizeof(userpass), &used), SOCKS_NO_METHOD);
	ck_assert_int_eq(socks_parse_greeting(v4, sizeof(v4), &used), SOCKS_BAD);
	ck_assert_int_eq(socks_parse_greeting(zero, sizeof(zero), &used), SOCKS_BAD);
}
END_TEST

START_TEST(test_request_domain)
{
	/* 05 01 00 03 <len> <name> <port>: what `nc -X 5` and EdgeMesh's docs send */
	uint8_t b[64] = {5, 1, 0, 3, 6, 'e', 'd', 'g', 'e', '-', '2', 0, 22};
	struct socks_req r;
	size_t used = 0, i, n = 13;

	ck_assert_int_eq(socks_parse_request(b, n, &r, &used), 0);
	ck_assert_uint_eq(used, n);
	ck_assert_str_eq(r.host, "edge-2");
	ck_assert_uint_eq(r.port, 22);
	ck_assert_uint_eq(r.atyp, 3);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(socks_parse_request(b, i, &r, &used), SOCKS_MORE);
	b[1] = 2; /* BIND */
	ck_assert_int_eq(socks_parse_request(b, n, &r, &used), SOCKS_CMD_UNSUPP);
	b[1] = 1;
	b[7] = '\0'; /* a NUL inside the name */
	ck_assert_int_eq(socks_parse_request(b, n, &r, &used), SOCKS_HOST_UNREACH);
}
END_TEST

START_TEST(test_request_addr)
{
	const uint8_t v4[] = {5, 1, 0, 1, 10, 200, 0, 12, 0x08, 0xae};
	const uint8_t v6[] = {5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22};
	const uint8_t badatyp[] = {5, 1, 0, 9, 1, 2, 3, 4, 0, 22};
	const uint8_t badver[] = {4, 1, 0, 1, 1, 2, 3, 4, 0, 22};
	struct socks_req r;
	size_t used;

	ck_assert_int_eq(socks_parse_request(v4, sizeof(v4), &r, &used), 0);
	ck_assert_str_eq(r.host, "10.200.0.12");
	ck_assert_uint_eq(r.port, 2222);
	ck_assert_int_eq(socks_parse_request(v6, sizeof(v6), &r, &used), 0);
	ck_assert_str_eq(r.host, "fd00::1");
	ck_assert_int_eq(socks_parse_request(badatyp, sizeof(badatyp), &r, &used), SOCKS_BAD);
	ck_assert_int_eq(socks_parse_request(badver, sizeof(badver), &r, &used), SOCKS_BAD);
	ck_assert_int_eq(socks_parse_request(badver, 1, &r, &used), SOCKS_BAD);
}
END_TEST

START_TEST(test_reply)
{
	const uint8_t want[10] = {5, 0, 0, 1, 0, 0, 0, 0, 0, 0}; /* EdgeMesh's fixed reply */
	uint8_t out[10];

	ck_assert_uint_eq(socks_reply(SOCKS_OK, out), 10);
	ck_assert_mem_eq(out, want, 10);
	socks_reply(SOCKS_REFUSED, out);
	ck_assert_uint_eq(out[1], 5);
	ck_assert_uint_eq(socks_rep_for("edge-2 refused: port 23 is not in "
					"modules.edgeTunnel.allowedNodePorts"),
			  SOCKS_NOT_ALLOWED);
	ck_assert_uint_eq(socks_rep_for("edge-2 refused: connect 10.0.0.2:22: Connection refused"),
			  SOCKS_REFUSED);
	ck_assert_uint_eq(socks_rep_for("unknown node x (no Node object in the peers topic)"),
			  SOCKS_HOST_UNREACH);
	ck_assert_uint_eq(socks_rep_for("something else"), SOCKS_FAILURE);
}
END_TEST

/* Random bytes never crash the parsers, and every result is one of the defined ones. */
START_TEST(test_random)
{
	uint8_t b[300];
	struct socks_req r;
	size_t used, n;
	int i, rc;

	srandom(42);
	for (i = 0; i < 200000; i++) {
		n = (size_t)random() % sizeof(b);
		for (size_t j = 0; j < n; j++)
			b[j] = (uint8_t)(j < 4 && random() % 2 ? (j == 0   ? 5
								  : j == 2 ? 0
									   : b[j])
							       : random());
		rc = socks_parse_greeting(b, n, &used);
		ck_assert(rc == 0 || rc == SOCKS_MORE || rc == SOCKS_BAD || rc == SOCKS_NO_METHOD);
		rc = socks_parse_request(b, n, &r, &used);
		ck_assert(rc == 0 || rc == SOCKS_MORE || rc == SOCKS_BAD || rc > 0);
		if (rc == 0)
			ck_assert(used <= n && strlen(r.host) < sizeof(r.host));
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("socks");
	TCase *tc = tcase_create("proto");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_greeting);
	tcase_add_test(tc, test_request_domain);
	tcase_add_test(tc, test_request_addr);
	tcase_add_test(tc, test_reply);
	tcase_add_test(tc, test_random);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
