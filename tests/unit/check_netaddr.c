/*
 * net_connect_failed: EADDRNOTAVAIL said as the node's lack of ports, with
 * what to set, and remembered for net_noport_recent (the out-of-ports fact
 * every daemon reports); other errors are strerror and remembered not.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "netaddr.h"

START_TEST(test_other_errors)
{
	ck_assert_str_eq(net_connect_failed(ECONNREFUSED, "10.201.2.10", 80),
			 strerror(ECONNREFUSED));
	ck_assert_str_eq(net_connect_failed(ETIMEDOUT, "10.201.2.10", 80), strerror(ETIMEDOUT));
	ck_assert_ptr_null(net_noport_recent(60));
}
END_TEST

START_TEST(test_no_port)
{
	const char *why = net_connect_failed(EADDRNOTAVAIL, "10.201.2.10", 7000);

	ck_assert_ptr_nonnull(strstr(why, "no local port free"));
	ck_assert_ptr_nonnull(strstr(why, "net.ipv4.tcp_tw_reuse=1"));
	ck_assert_ptr_nonnull(strstr(why, "net.ipv4.ip_local_port_range"));
	/* it reaches the opener in TUN_RESULT's 200-byte reason, after "NODE refused:
	 * connect IP:PORT: " */
	ck_assert_uint_lt(strlen(why), 200 - 64);
	ck_assert_str_eq(net_noport_recent(60), "10.201.2.10:7000");
	net_connect_failed(EADDRNOTAVAIL, "10.201.2.11", 7001);
	ck_assert_str_eq(net_noport_recent(60), "10.201.2.11:7001"); /* the last one */
	ck_assert_ptr_null(net_noport_recent(-1));		     /* older than asked */
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("netaddr");
	TCase *tc = tcase_create("connect errors");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_other_errors);
	tcase_add_test(tc, test_no_port);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
