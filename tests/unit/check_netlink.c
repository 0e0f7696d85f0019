/*
 * proxyd/netlink.c: attributes written into a request and read back
 * (nested, as proxy_ct.c asks conntrack), and reads of malformed or
 * truncated attribute lists that must find nothing.
 */
#include <linux/netlink.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../proxyd/proxyd.h"

#define DATA(a) ((const char *)(a) + NLA_HDRLEN)
#define LEN(a)	((size_t)(a)->nla_len - NLA_HDRLEN)

static union {
	struct nlmsghdr nh;
	char buf[256];
} req;

START_TEST(test_put_get_nested)
{
	struct nlattr *outer, *inner;
	const struct nlattr *a, *b;
	uint32_t v = 0x0a600114, w;
	uint16_t port = 0x3500;
	uint8_t proto = 17;

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(4);
	outer = nl_put(&req.nh, sizeof(req), 1 | NLA_F_NESTED, NULL, 0);
	inner = nl_put(&req.nh, sizeof(req), 2 | NLA_F_NESTED, NULL, 0);
	nl_put(&req.nh, sizeof(req), 3, &v, 4);
	nl_nest_end(&req.nh, inner);
	nl_put(&req.nh, sizeof(req), 4, &proto, 1); /* padded to 4 */
	nl_put(&req.nh, sizeof(req), 5, &port, 2);
	nl_nest_end(&req.nh, outer);
	ck_assert_uint_eq(req.nh.nlmsg_len, NLMSG_LENGTH(4) + 4 + (4 + 8) + 8 + 8);
	ck_assert_uint_eq(outer->nla_len, 4 + 12 + 8 + 8);
	ck_assert_uint_eq(inner->nla_len, 12);

	a = nl_get((char *)&req + NLMSG_LENGTH(4), req.nh.nlmsg_len - NLMSG_LENGTH(4), 1);
	ck_assert_ptr_nonnull(a);
	/* the type is found with or without the nested flag */
	b = nl_get(DATA(a), LEN(a), 2);
	ck_assert_ptr_nonnull(b);
	b = nl_get(DATA(b), LEN(b), 3);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(LEN(b), 4);
	memcpy(&w, DATA(b), 4);
	ck_assert_uint_eq(w, v);
	/* after the padded one-byte attribute */
	b = nl_get(DATA(a), LEN(a), 5);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(LEN(b), 2);
	ck_assert_mem_eq(DATA(b), &port, 2);
	ck_assert_ptr_null(nl_get(DATA(a), LEN(a), 9));
}
END_TEST

START_TEST(test_get_malformed)
{
	char buf[32] __attribute__((aligned(4)));
	struct nlattr *a = (struct nlattr *)buf;

	memset(buf, 0, sizeof(buf));
	/* shorter than a header */
	a->nla_len = 2;
	a->nla_type = 1;
	ck_assert_ptr_null(nl_get(buf, sizeof(buf), 1));
	/* longer than what is there */
	a->nla_len = 40;
	ck_assert_ptr_null(nl_get(buf, sizeof(buf), 1));
	/* the list ends inside an attribute header */
	ck_assert_ptr_null(nl_get(buf, 3, 1));
	/* a good first attribute, then one that runs past the end */
	a->nla_len = 8;
	a->nla_type = 1;
	a = (struct nlattr *)(buf + 8);
	a->nla_len = 30;
	a->nla_type = 2;
	ck_assert_ptr_nonnull(nl_get(buf, sizeof(buf), 1));
	ck_assert_ptr_null(nl_get(buf, sizeof(buf), 2));
}
END_TEST

static Suite *
netlink_suite(void)
{
	Suite *s = suite_create("netlink");
	TCase *tc = tcase_create("netlink");

	tcase_add_test(tc, test_put_get_nested);
	tcase_add_test(tc, test_get_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(netlink_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
