/*
 * hmap: put/get/del/replace, iteration that deletes the current entry,
 * 100k keys through many doublings, and freeing with a value destructor.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "hmap.h"

#define BIG 100000

/* ck_assert records a mark point (a write to a pipe) each time: too slow in 100k loops */
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c))                                                                          \
			ck_abort_msg("%s:%d: failed: %s", __FILE__, __LINE__, #c);                 \
	} while (0)

static void
key_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "ns-%d/svc-%d", i % 97, i);
}

/* values are the key number + 1, so that 0 (NULL) never is one */
static void *
val_of(int i)
{
	return (void *)(uintptr_t)(i + 1);
}

static int
num_of(const void *v)
{
	return (int)(uintptr_t)v - 1;
}

START_TEST(test_basic)
{
	struct hmap *m = hmap_new();
	int a = 1, b = 2, c = 3;

	ck_assert_uint_eq(hmap_count(m), 0);
	ck_assert_ptr_null(hmap_get(m, "x"));
	ck_assert_ptr_null(hmap_del(m, "x"));
	ck_assert_ptr_null(hmap_put(m, "x", &a));
	ck_assert_ptr_null(hmap_put(m, "", &b)); /* the empty key is a key */
	ck_assert_uint_eq(hmap_count(m), 2);
	ck_assert_ptr_eq(hmap_get(m, "x"), &a);
	ck_assert_ptr_eq(hmap_get(m, ""), &b);
	ck_assert_ptr_null(hmap_get(m, "X"));
	ck_assert_ptr_null(hmap_get(m, "x "));
	/* replace returns the old value and keeps the count */
	ck_assert_ptr_eq(hmap_put(m, "x", &c), &a);
	ck_assert_uint_eq(hmap_count(m), 2);
	ck_assert_ptr_eq(hmap_get(m, "x"), &c);
	/* the key is copied: the caller's buffer may change */
	{
		char k[8] = "key";

		ck_assert_ptr_null(hmap_put(m, k, &a));
		k[0] = 'K';
		ck_assert_ptr_eq(hmap_get(m, "key"), &a);
		ck_assert_ptr_null(hmap_get(m, "Key"));
	}
	ck_assert_ptr_eq(hmap_del(m, "x"), &c);
	ck_assert_ptr_null(hmap_get(m, "x"));
	ck_assert_ptr_null(hmap_del(m, "x"));
	ck_assert_uint_eq(hmap_count(m), 2);
	/* a deleted key can come back */
	ck_assert_ptr_null(hmap_put(m, "x", &b));
	ck_assert_ptr_eq(hmap_get(m, "x"), &b);
	/* NULL values are stored too (get cannot tell them from absent) */
	ck_assert_ptr_null(hmap_put(m, "null", NULL));
	ck_assert_uint_eq(hmap_count(m), 4);
	hmap_free(m, NULL);
	hmap_free(NULL, NULL);
}
END_TEST

START_TEST(test_iterate_empty)
{
	struct hmap *m = hmap_new();
	struct hmap_iter it;
	const char *k;
	void *v;

	hmap_iter_init(&it);
	ck_assert_int_eq(hmap_next(m, &it, &k, &v), 0);
	ck_assert_int_eq(hmap_next(m, &it, &k, &v), 0);
	hmap_free(m, NULL);
}
END_TEST

/* 100k keys: every one found, through many doublings; iteration sees each once. */
START_TEST(test_many)
{
	struct hmap *m = hmap_new();
	struct hmap_iter it;
	unsigned char *seen = calloc(BIG, 1);
	char key[64];
	const char *k;
	void *v;
	int i, n;

	for (i = 0; i < BIG; i++) {
		key_of(key, sizeof(key), i);
		CHECK(hmap_put(m, key, val_of(i)) == NULL);
		CHECK(hmap_count(m) == (size_t)i + 1);
		/* an early key survives each growth */
		CHECK(hmap_get(m, "ns-0/svc-0") == val_of(0));
	}
	for (i = 0; i < BIG; i++) {
		key_of(key, sizeof(key), i);
		CHECK(hmap_get(m, key) == val_of(i));
	}
	key_of(key, sizeof(key), BIG);
	CHECK(hmap_get(m, key) == NULL);
	n = 0;
	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v)) {
		i = num_of(v);
		CHECK(i >= 0);
		CHECK(i < BIG);
		CHECK(seen[i] == 0);
		seen[i] = 1;
		key_of(key, sizeof(key), i);
		CHECK(strcmp(k, key) == 0);
		n++;
	}
	CHECK(n == BIG);
	/* replace them all: the count stays */
	for (i = 0; i < BIG; i++) {
		key_of(key, sizeof(key), i);
		CHECK(hmap_put(m, key, val_of(BIG + i)) == val_of(i));
	}
	CHECK(hmap_count(m) == BIG);
	/* delete the odd ones */
	for (i = 1; i < BIG; i += 2) {
		key_of(key, sizeof(key), i);
		CHECK(hmap_del(m, key) == val_of(BIG + i));
	}
	CHECK(hmap_count(m) == BIG / 2);
	for (i = 0; i < BIG; i++) {
		key_of(key, sizeof(key), i);
		if (i % 2)
			CHECK(hmap_get(m, key) == NULL);
		else
			CHECK(hmap_get(m, key) == val_of(BIG + i));
	}
	free(seen);
	hmap_free(m, NULL);
}
END_TEST

/* Deleting the entry the iterator just returned is allowed. */
START_TEST(test_iterate_delete)
{
	struct hmap *m = hmap_new();
	struct hmap_iter it;
	unsigned char *seen = calloc(BIG, 1);
	char key[64], copy[64];
	const char *k;
	void *v;
	int i, n = 0, kept = 0;

	for (i = 0; i < BIG; i++) {
		key_of(key, sizeof(key), i);
		hmap_put(m, key, val_of(i));
	}
	/* delete every third as we go: the rest is still visited exactly once */
	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v)) {
		i = num_of(v);
		CHECK(seen[i] == 0);
		seen[i] = 1;
		n++;
		if (i % 3 == 0) {
			snprintf(copy, sizeof(copy), "%s", k); /* k dies with the entry */
			CHECK(hmap_del(m, copy) == v);
		} else {
			kept++;
		}
	}
	CHECK(n == BIG);
	CHECK(hmap_count(m) == (size_t)kept);
	for (i = 0; i < BIG; i++) {
		key_of(key, sizeof(key), i);
		if (i % 3 == 0)
			CHECK(hmap_get(m, key) == NULL);
		else
			CHECK(hmap_get(m, key) == val_of(i));
	}
	/* delete everything while iterating */
	n = 0;
	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v)) {
		snprintf(copy, sizeof(copy), "%s", k);
		CHECK(hmap_del(m, copy) == v);
		n++;
	}
	CHECK(n == kept);
	CHECK(hmap_count(m) == 0);
	hmap_iter_init(&it);
	CHECK(hmap_next(m, &it, &k, &v) == 0);
	/* and the map still works */
	CHECK(hmap_put(m, "again", val_of(1)) == NULL);
	CHECK(hmap_get(m, "again") == val_of(1));
	free(seen);
	hmap_free(m, NULL);
}
END_TEST

/* Replacing the current entry's value during iteration (no new key: no growth). */
START_TEST(test_iterate_replace)
{
	struct hmap *m = hmap_new();
	struct hmap_iter it;
	char key[64];
	const char *k;
	void *v;
	int i, n = 0;

	for (i = 0; i < 1000; i++) {
		key_of(key, sizeof(key), i);
		hmap_put(m, key, val_of(i));
	}
	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v)) {
		CHECK(hmap_put(m, k, val_of(num_of(v) + 5000)) == v);
		n++;
	}
	CHECK(n == 1000);
	for (i = 0; i < 1000; i++) {
		key_of(key, sizeof(key), i);
		CHECK(hmap_get(m, key) == val_of(i + 5000));
	}
	hmap_free(m, NULL);
}
END_TEST

/* Keys that share buckets (same low hash bits at small sizes) and long keys. */
START_TEST(test_odd_keys)
{
	struct hmap *m = hmap_new();
	char key[4096];
	int i;

	for (i = 0; i < 2000; i++) {
		memset(key, 'a' + i % 26, (size_t)(i + 1));
		key[i + 1] = '\0';
		CHECK(hmap_put(m, key, val_of(i)) == NULL);
	}
	for (i = 0; i < 2000; i++) {
		memset(key, 'a' + i % 26, (size_t)(i + 1));
		key[i + 1] = '\0';
		CHECK(hmap_get(m, key) == val_of(i));
		key[i] = '\0'; /* its prefix is another key or none */
		if (i >= 26)
			CHECK(hmap_get(m, key) != val_of(i));
	}
	/* bytes >= 0x80 hash as unsigned */
	CHECK(hmap_put(m, "\xff\xfe", val_of(1)) == NULL);
	CHECK(hmap_put(m, "\x7f\x7e", val_of(2)) == NULL);
	CHECK(hmap_get(m, "\xff\xfe") == val_of(1));
	CHECK(hmap_get(m, "\x7f\x7e") == val_of(2));
	hmap_free(m, NULL);
}
END_TEST

static int freed;

static void
count_free(void *v)
{
	freed++;
	free(v);
}

START_TEST(test_free_values)
{
	struct hmap *m = hmap_new();
	char key[64];
	int i;

	for (i = 0; i < 5000; i++) {
		key_of(key, sizeof(key), i);
		hmap_put(m, key, malloc(16));
	}
	for (i = 0; i < 5000; i += 5) {
		key_of(key, sizeof(key), i);
		free(hmap_del(m, key));
	}
	freed = 0;
	hmap_free(m, count_free);
	ck_assert_int_eq(freed, 4000);
}
END_TEST

static Suite *
hmap_suite(void)
{
	Suite *s = suite_create("hmap");
	TCase *tc = tcase_create("hmap");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_basic);
	tcase_add_test(tc, test_iterate_empty);
	tcase_add_test(tc, test_many);
	tcase_add_test(tc, test_iterate_delete);
	tcase_add_test(tc, test_iterate_replace);
	tcase_add_test(tc, test_odd_keys);
	tcase_add_test(tc, test_free_values);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(hmap_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
