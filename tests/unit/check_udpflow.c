/*
 * common/udpflow: the idle policy (DNS shorter, never longer than the
 * configured timeout) and the least-recently-used bound that proxyd's
 * flows and tunneld's UDP streams share.
 */
#include <stdlib.h>

#include <check.h>

#include "udpflow.h"

struct fl {
	struct udpflow u;
	int id;
};

#define FL(p) ((struct fl *)(p))

START_TEST(test_idle_policy)
{
	ck_assert(udpflow_idle(30, 12345) == 30.0);
	ck_assert(udpflow_idle(30, 53) == UDPFLOW_DNS_IDLE);
	ck_assert(UDPFLOW_DNS_IDLE < 30.0);
	/* a timeout below the DNS one applies to DNS too */
	ck_assert(udpflow_idle(2, 53) == 2.0);
	ck_assert(udpflow_idle(2, 9377) == 2.0);
	/* unset (0) falls back to the default */
	ck_assert(udpflow_idle(0, 80) == 30.0);
}
END_TEST

START_TEST(test_lru_evicts_least_recent)
{
	struct udpflow_lru l;
	struct fl f[4];
	int i;

	udpflow_lru_init(&l, 3);
	ck_assert_ptr_null(udpflow_victim(&l));
	for (i = 0; i < 3; i++) {
		f[i].id = i;
		ck_assert_ptr_null(udpflow_victim(&l));
		udpflow_add(&l, &f[i].u, 10.0 + i);
	}
	ck_assert_uint_eq(l.n, 3);
	/* full: the oldest (0) goes first */
	ck_assert_ptr_nonnull(udpflow_victim(&l));
	ck_assert_int_eq(FL(udpflow_victim(&l))->id, 0);
	/* traffic on 0 makes 1 the least recently used */
	udpflow_touch(&l, &f[0].u, 20.0);
	ck_assert_int_eq(FL(udpflow_victim(&l))->id, 1);
	udpflow_touch(&l, &f[1].u, 21.0);
	ck_assert_int_eq(FL(udpflow_victim(&l))->id, 2);
	/* touching the most recent changes nothing */
	udpflow_touch(&l, &f[1].u, 22.0);
	ck_assert_int_eq(FL(udpflow_victim(&l))->id, 2);
	/* evict 2, add 3: below the bound no victim until full again */
	udpflow_del(&l, &f[2].u);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_ptr_null(udpflow_victim(&l));
	f[3].id = 3;
	udpflow_add(&l, &f[3].u, 23.0);
	ck_assert_int_eq(FL(udpflow_victim(&l))->id, 0);
	udpflow_del(&l, &f[0].u);
	udpflow_del(&l, &f[1].u);
	udpflow_del(&l, &f[3].u);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_ptr_null(udpflow_victim(&l));
}
END_TEST

START_TEST(test_lru_many)
{
	struct udpflow_lru l;
	struct fl *f = calloc(10000, sizeof(*f));
	struct udpflow *v;
	int i, ev = 0;

	/* 10000 flows through a bound of 4096: always room, oldest out first */
	udpflow_lru_init(&l, 4096);
	for (i = 0; i < 10000; i++) {
		f[i].id = i;
		if ((v = udpflow_victim(&l)) != NULL) {
			if (FL(v)->id != ev)
				ck_abort_msg("evicted %d, wanted %d", FL(v)->id, ev);
			udpflow_del(&l, v);
			ev++;
		}
		udpflow_add(&l, &f[i].u, (double)i);
		if (l.n > 4096)
			ck_abort_msg("%zu flows above the bound", l.n);
	}
	ck_assert_int_eq(ev, 10000 - 4096);
	free(f);
}
END_TEST

START_TEST(test_left)
{
	struct udpflow_lru l;
	struct fl f;

	udpflow_lru_init(&l, 0);
	udpflow_add(&l, &f.u, 100.0);
	ck_assert(udpflow_left(&f.u, 5.0, 103.0) == 2.0);
	udpflow_touch(&l, &f.u, 104.0);
	ck_assert(udpflow_left(&f.u, 5.0, 109.0) <= 0.0);
	/* max 0: no bound */
	ck_assert_ptr_null(udpflow_victim(&l));
}
END_TEST

static Suite *
udpflow_suite(void)
{
	Suite *s = suite_create("udpflow");
	TCase *tc = tcase_create("udpflow");

	tcase_add_test(tc, test_idle_policy);
	tcase_add_test(tc, test_lru_evicts_least_recent);
	tcase_add_test(tc, test_lru_many);
	tcase_add_test(tc, test_left);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(udpflow_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
