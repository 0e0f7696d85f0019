/*
 * srcrange: address parsing and classes (what tunneld never dials), CIDR
 * parsing with its errors, matching, and the default client ranges.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "srcgate.h"
#include "srcrange.h"

static bool
in_range(const char *range, const char *addr)
{
	struct ip_range r;
	struct ip_addr a;
	char why[160];

	ck_assert_msg(ip_range_parse(range, &r, why, sizeof(why)) == 0, "%s: %s", range, why);
	ck_assert_msg(ip_addr_parse(addr, &a) == 0, "%s", addr);
	return ip_range_contains(&r, &a);
}

static const char *
special(const char *addr)
{
	struct ip_addr a;

	ck_assert_msg(ip_addr_parse(addr, &a) == 0, "%s", addr);
	return ip_addr_special(&a);
}

static const char *
range_error(const char *range)
{
	static char why[160];
	struct ip_range r;

	why[0] = '\0';
	ck_assert_msg(ip_range_parse(range, &r, why, sizeof(why)) == -1, "%s accepted", range);
	return why;
}

START_TEST(test_special)
{
	ck_assert_str_eq(special("127.0.0.1"), "loopback");
	ck_assert_str_eq(special("127.1.2.3"), "loopback");
	ck_assert_str_eq(special("::1"), "loopback");
	ck_assert_str_eq(special("::ffff:127.0.0.1"), "loopback"); /* mapped: as IPv4 */
	ck_assert_str_eq(special("0.0.0.0"), "unspecified");
	ck_assert_str_eq(special("::"), "unspecified");
	ck_assert_str_eq(special("::127.0.0.1"), "unspecified");
	ck_assert_str_eq(special("169.254.96.16"), "link-local");
	ck_assert_str_eq(special("fe80::1"), "link-local");
	ck_assert_str_eq(special("febf::1"), "link-local");
	ck_assert_str_eq(special("224.0.0.1"), "multicast");
	ck_assert_str_eq(special("ff02::1"), "multicast");
	ck_assert_str_eq(special("255.255.255.255"), "broadcast");
	ck_assert_ptr_null(special("10.200.0.12"));
	ck_assert_ptr_null(special("169.253.1.1"));
	ck_assert_ptr_null(special("fec0::1"));
	ck_assert_ptr_null(special("2001:db8::1"));
	ck_assert_ptr_null(special("::ffff:10.0.0.1"));
}
END_TEST

START_TEST(test_parse_addr)
{
	struct ip_addr a, b;
	char t[64];

	ck_assert_int_eq(ip_addr_parse("::ffff:10.1.2.3", &a), 0);
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_int_eq(ip_addr_parse("10.1.2.3", &b), 0);
	ck_assert(ip_addr_equal(&a, &b));
	ck_assert_str_eq(ip_addr_text(&a, t, sizeof(t)), "10.1.2.3");
	ck_assert_int_eq(ip_addr_parse("127.1", &a), -1);
	ck_assert_int_eq(ip_addr_parse("10.0.0.1 ", &a), -1);
	ck_assert_int_eq(ip_addr_parse("", &a), -1);
	ck_assert_int_eq(ip_addr_parse("edge-1", &a), -1);
}
END_TEST

START_TEST(test_contains)
{
	ck_assert(in_range("10.201.1.0/24", "10.201.1.10"));
	ck_assert(in_range("10.201.1.0/24", "10.201.1.255"));
	ck_assert(!in_range("10.201.1.0/24", "10.201.2.10"));
	ck_assert(!in_range("10.201.1.0/24", "10.200.0.50"));
	ck_assert(in_range("10.0.0.0/8", "10.255.0.1"));
	ck_assert(!in_range("10.0.0.0/8", "11.0.0.1"));
	ck_assert(in_range("10.200.0.11", "10.200.0.11"));
	ck_assert(!in_range("10.200.0.11", "10.200.0.12"));
	ck_assert(in_range("10.200.0.11/32", "10.200.0.11"));
	ck_assert(in_range("0.0.0.0/0", "192.0.2.1"));
	ck_assert(!in_range("0.0.0.0/0", "2001:db8::1")); /* families never mix */
	ck_assert(in_range("::/0", "2001:db8::1"));
	ck_assert(in_range("fd00::/8", "fd12:3456::1"));
	ck_assert(!in_range("fd00::/8", "fe00::1"));
	ck_assert(in_range("10.1.0.0/20", "10.1.15.1"));
	ck_assert(!in_range("10.1.0.0/20", "10.1.16.1"));
	ck_assert(in_range("2001:db8:0:80::/57", "2001:db8:0:ff::1"));
	ck_assert(!in_range("2001:db8:0:80::/57", "2001:db8:0:100::1"));
	/* a mapped client matches IPv4 ranges, a mapped range is IPv4 */
	ck_assert(in_range("10.201.1.0/24", "::ffff:10.201.1.10"));
	ck_assert(in_range("::ffff:10.201.1.0/120", "10.201.1.10"));
	ck_assert(!in_range("::ffff:10.201.1.0/120", "10.201.2.10"));
}
END_TEST

START_TEST(test_errors)
{
	ck_assert_str_eq(
	    range_error("10.201.1.1/24"),
	    "10.201.1.1/24 has bits set after the /24 prefix: did you mean 10.201.1.0/24?");
	ck_assert_str_eq(range_error("10.0.0.0/33"),
			 "10.0.0.0/33: the prefix length must be a number from 0 to 32");
	ck_assert_str_eq(range_error("fd00::/129"),
			 "fd00::/129: the prefix length must be a number from 0 to 128");
	ck_assert_str_eq(range_error("10.0.0.0/"),
			 "10.0.0.0/: the prefix length must be a number from 0 to 32");
	ck_assert_str_eq(range_error("10.0.0.0/-8"),
			 "10.0.0.0/-8: the prefix length must be a number from 0 to 32");
	ck_assert_str_eq(range_error("10.0.0.0/8x"),
			 "10.0.0.0/8x: the prefix length must be a number from 0 to 32");
	ck_assert_str_eq(range_error("10.0.0/8"), "10.0.0/8: 10.0.0 is not an IP address");
	ck_assert_str_eq(range_error("pods"),
			 "pods is not an IP address or CIDR range (10.0.0.0/8, fd00::/8)");
	ck_assert_str_eq(range_error("::ffff:10.0.0.0/64"),
			 "::ffff:10.0.0.0/64: an IPv4-mapped range needs a prefix of at least 96");
	ck_assert_str_eq(range_error("fd00::1/8"),
			 "fd00::1/8 has bits set after the /8 prefix: did you mean fd00::/8?");
}
END_TEST

START_TEST(test_set)
{
	struct srcrange_set s;
	struct ip_range r;
	struct ip_addr a;
	char why[128], text[256];
	size_t i;

	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(ip_range_parse("10.201.1.0/24", &r, why, sizeof(why)), 0);
	ck_assert_int_eq(srcrange_add(&s, &r), 0);
	ck_assert_int_eq(srcrange_add(&s, &r), 0); /* once */
	ck_assert_int_eq(ip_range_parse("127.0.0.0/8", &r, why, sizeof(why)), 0);
	ck_assert_int_eq(srcrange_add(&s, &r), 0);
	ck_assert_uint_eq(s.n, 2);
	srcrange_text(&s, text, sizeof(text));
	ck_assert_str_eq(text, "10.201.1.0/24 127.0.0.0/8");
	ip_addr_parse("127.0.0.53", &a);
	ck_assert(srcrange_match(&s, &a));
	ip_addr_parse("10.200.0.50", &a);
	ck_assert(!srcrange_match(&s, &a));
	for (i = 0; s.n < SRCRANGE_MAX; i++) {
		snprintf(text, sizeof(text), "192.0.%zu.0/24", i);
		ck_assert_int_eq(ip_range_parse(text, &r, why, sizeof(why)), 0);
		ck_assert_int_eq(srcrange_add(&s, &r), 0);
	}
	ck_assert_int_eq(ip_range_parse("198.51.100.0/24", &r, why, sizeof(why)), 0);
	ck_assert_int_eq(srcrange_add(&s, &r), -1);
}
END_TEST

/* An IPv4 address of a non-loopback interface with a subnet wider than /31,
 * and a neighbour in that subnet that is no local address; 0 if none. */
static int
find_lan(struct ip_addr *mine, struct ip_addr *neighbour)
{
	struct ifaddrs *all, *ifa;
	struct sockaddr_in *sin, *mask;
	uint32_t m, h;
	int found = 0;

	if (getifaddrs(&all) == -1)
		return 0;
	for (ifa = all; ifa != NULL && !found; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr == NULL || ifa->ifa_addr->sa_family != AF_INET ||
		    (ifa->ifa_flags & IFF_LOOPBACK) || ifa->ifa_netmask == NULL)
			continue;
		sin = (struct sockaddr_in *)(void *)ifa->ifa_addr;
		mask = (struct sockaddr_in *)(void *)ifa->ifa_netmask;
		m = ntohl(mask->sin_addr.s_addr);
		if (m == 0 || (~m) < 3)
			continue;
		h = ntohl(sin->sin_addr.s_addr);
		ip_addr_from_sockaddr(ifa->ifa_addr, mine);
		*neighbour = *mine;
		h = (h & m) | (((h & ~m) + 1) & ~m ? ((h & ~m) + 1) & ~m : 1);
		h = htonl(h);
		memcpy(neighbour->b, &h, 4);
		found = 1;
	}
	freeifaddrs(all);
	return found;
}

/* The default: loopback and local addresses always; subnets only of
 * interfaces without a Node address, and only once Node addresses are known. */
START_TEST(test_local)
{
	struct srcrange_set s;
	struct ip_addr a, mine, nb, other;
	char why[128];

	ck_assert_int_eq(srcrange_local(&s, NULL, 0, why, sizeof(why)), 0);
	ip_addr_parse("127.0.0.1", &a);
	ck_assert(srcrange_match(&s, &a));
	ip_addr_parse("127.255.0.1", &a);
	ck_assert(srcrange_match(&s, &a));
	ip_addr_parse("::1", &a);
	ck_assert(srcrange_match(&s, &a));
	if (!find_lan(&mine, &nb))
		return; /* no interface with a subnet here */
	/* no Node addresses: local addresses only, no subnet */
	ck_assert(srcrange_match(&s, &mine));
	ck_assert(!srcrange_match(&s, &nb));
	/* the Node address is elsewhere: this interface's subnet is a pod network */
	ip_addr_parse("203.0.113.250", &other);
	ck_assert_int_eq(srcrange_local(&s, &other, 1, why, sizeof(why)), 0);
	ck_assert(srcrange_match(&s, &nb));
	/* the Node address is on it: its LAN neighbours stay out */
	ck_assert_int_eq(srcrange_local(&s, &mine, 1, why, sizeof(why)), 0);
	ck_assert(srcrange_match(&s, &mine));
	ck_assert(!srcrange_match(&s, &nb));
}
END_TEST

static struct sockaddr_storage *
sin_of(const char *ip)
{
	static struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return &ss;
}

#define ALLOWS(g, ip) srcgate_allows((g), (struct sockaddr *)sin_of(ip), 100.0)

/* Configured ranges replace the default; no ranges: the default. */
START_TEST(test_gate)
{
	static const char ranges[][50] = {"10.201.1.0/24", "192.0.2.7"};
	static const char bad[][50] = {"10.201.1.0/24", "10.201.1.1/24"};
	struct srcgate g;
	char why[160];

	ck_assert_int_eq(srcgate_init(&g, ranges, 2, NULL, "edge-1", why, sizeof(why)), 0);
	ck_assert(ALLOWS(&g, "10.201.1.10"));
	ck_assert(ALLOWS(&g, "192.0.2.7"));
	ck_assert(!ALLOWS(&g, "192.0.2.8"));
	ck_assert(!ALLOWS(&g, "10.200.0.50"));
	ck_assert(!ALLOWS(&g, "127.0.0.1")); /* not listed: not a client */
	ck_assert_int_eq(srcgate_init(&g, bad, 2, NULL, "edge-1", why, sizeof(why)), -1);
	ck_assert_str_eq(why, "10.201.1.1/24 has bits set after the /24 prefix: did you mean "
			      "10.201.1.0/24?");
	ck_assert_int_eq(srcgate_init(&g, ranges, 0, NULL, "edge-1", why, sizeof(why)), 0);
	ck_assert(ALLOWS(&g, "127.0.0.1"));
	ck_assert(ALLOWS(&g, "127.0.0.53"));
	ck_assert(!ALLOWS(&g, "203.0.113.9"));
	ck_assert(srcgate_log_refused(&g, "test", (struct sockaddr *)sin_of("203.0.113.9"), 100.0));
	/* the second within the second: counted, not logged; the next after it logged */
	ck_assert(
	    !srcgate_log_refused(&g, "test", (struct sockaddr *)sin_of("203.0.113.9"), 100.5));
	ck_assert(srcgate_log_refused(&g, "test", (struct sockaddr *)sin_of("203.0.113.8"), 101.1));
	ck_assert_uint_eq(g.refused, 3);
}
END_TEST

int
main(void)
{
	Suite *su = suite_create("srcrange");
	TCase *tc = tcase_create("srcrange");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_special);
	tcase_add_test(tc, test_parse_addr);
	tcase_add_test(tc, test_contains);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_local);
	tcase_add_test(tc, test_gate);
	suite_add_tcase(su, tc);
	sr = srunner_create(su);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
