/*
 * log_repeat: the same key at most once a second, the count held back said
 * with the next line, keys apart from each other, the bounded table;
 * log_client_repeat: keyed without the client.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "log.h"

static char more[64];

/* NULL (held back) or the suffix */
static const char *
at(const char *key, double now)
{
	return log_repeat_at(key, now, more, sizeof(more));
}

START_TEST(test_repeat_held)
{
	ck_assert_str_eq(at("endpoint down", 10.0), "");
	ck_assert_ptr_null(at("endpoint down", 10.5));
	ck_assert_ptr_null(at("endpoint down", 10.99));
	ck_assert_str_eq(at("endpoint down", 11.0), "; 2 more like it held back");
	ck_assert_ptr_null(at("endpoint down", 11.5));
	ck_assert_str_eq(at("endpoint down", 12.2), "; 1 more like it held back");
	/* nothing held in between: nothing to say */
	ck_assert_str_eq(at("endpoint down", 13.5), "");
}
END_TEST

START_TEST(test_repeat_keys_apart)
{
	ck_assert_str_eq(at("tcp 10.96.0.1:80: endpoint a failed", 10.0), "");
	ck_assert_str_eq(at("tcp 10.96.0.1:80: endpoint b failed", 10.1), "");
	ck_assert_ptr_null(at("tcp 10.96.0.1:80: endpoint a failed", 10.2));
	ck_assert_ptr_null(at("tcp 10.96.0.1:80: endpoint b failed", 10.3));
	ck_assert_str_eq(at("tcp 10.96.0.2:80: endpoint a failed", 10.4), "");
}
END_TEST

START_TEST(test_repeat_bounded)
{
	char key[32];
	int i;

	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "key %d", i);
		ck_assert_msg(at(key, 10.0 + i * 0.001) != NULL, "a new key is logged: %s", key);
	}
	/* the oldest were pushed out: they log again (sooner than a second) */
	ck_assert_str_eq(at("key 0", 10.5), "");
	/* the newest are still followed */
	ck_assert_ptr_null(at("key 99", 10.5));
}
END_TEST

START_TEST(test_repeat_long_keys)
{
	char a[400], b[400];

	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	memcpy(b, a, sizeof(b));
	b[300] = 'y'; /* differs only past what is compared */
	ck_assert_str_eq(at(a, 10.0), "");
	ck_assert_ptr_null(at(b, 10.1));
}
END_TEST

/* What log_client_repeat writes to stderr, read back from a file. */
START_TEST(test_client_repeat)
{
	FILE *f = tmpfile();
	char out[2048];
	int saved = dup(2);
	size_t n;

	ck_assert_ptr_nonnull(f);
	dup2(fileno(f), 2);
	log_init("test", 0);
	log_client_repeat(false, "tcp", "10.0.0.1:4000", "-> %s: endpoint %s failed", "svc", "a");
	log_client_repeat(false, "tcp", "10.0.0.2:4001", "-> %s: endpoint %s failed", "svc", "a");
	log_client_repeat(true, "", "10.0.0.3:4002", "GET /: connect %s failed", "b");
	fflush(stderr);
	dup2(saved, 2);
	rewind(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	fclose(f);
	ck_assert_str_eq(
	    out, "level=info daemon=test msg=\"tcp 10.0.0.1:4000 -> svc: endpoint a failed\"\n"
		 "level=warn daemon=test msg=\"10.0.0.3:4002 GET /: connect b failed\"\n");
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("repeat");

	tcase_add_test(tc, test_repeat_held);
	tcase_add_test(tc, test_repeat_keys_apart);
	tcase_add_test(tc, test_repeat_bounded);
	tcase_add_test(tc, test_repeat_long_keys);
	tcase_add_test(tc, test_client_repeat);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
