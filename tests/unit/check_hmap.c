/*
 * hmap: put/get/del/replace, iteration that deletes the current entry,
 * 100k keys through many doublings, freeing with a value destructor, byte
 * keys, and the seed (applied; random per process).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>

#include <unistd.h>

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

/* Byte keys: the length is part of the key, NUL bytes are bytes, and a
 * walk hands back each key with its length (and a NUL after it). */
START_TEST(test_bytes)
{
	static const uint8_t a[] = {1, 0, 2}, b[] = {1, 0, 3};
	struct hmap *m = hmap_new();
	struct hmap_iter it;
	const void *k;
	size_t klen, seen = 0;
	uint32_t id;
	void *v;

	ck_assert_ptr_null(hmap_putb(m, a, sizeof(a), val_of(1)));
	ck_assert_ptr_null(hmap_putb(m, b, sizeof(b), val_of(2)));
	ck_assert_ptr_null(hmap_putb(m, a, 2, val_of(3))); /* a prefix is another key */
	ck_assert_ptr_null(hmap_putb(m, "", 0, val_of(4)));
	ck_assert_uint_eq(hmap_count(m), 4);
	ck_assert_ptr_eq(hmap_getb(m, a, sizeof(a)), val_of(1));
	ck_assert_ptr_eq(hmap_getb(m, b, sizeof(b)), val_of(2));
	ck_assert_ptr_eq(hmap_getb(m, a, 2), val_of(3));
	ck_assert_ptr_eq(hmap_getb(m, "", 0), val_of(4));
	ck_assert_ptr_null(hmap_getb(m, a, 1));
	/* a string key is its bytes without the NUL */
	ck_assert_ptr_eq(hmap_get(m, ""), val_of(4));
	ck_assert_ptr_null(hmap_putb(m, "abc", 3, val_of(5)));
	ck_assert_ptr_eq(hmap_get(m, "abc"), val_of(5));
	hmap_iter_init(&it);
	while (hmap_nextb(m, &it, &k, &klen, &v)) {
		ck_assert_ptr_eq(hmap_getb(m, k, klen), v);
		ck_assert_int_eq(((const char *)k)[klen], '\0');
		seen++;
	}
	ck_assert_uint_eq(seen, 5);
	ck_assert_ptr_eq(hmap_delb(m, a, 2), val_of(3));
	ck_assert_ptr_eq(hmap_getb(m, a, sizeof(a)), val_of(1));
	/* fixed-size binary keys, as tunneld's stream ids */
	for (id = 1; id < 5000; id += 2)
		CHECK(hmap_putb(m, &id, sizeof(id), val_of((int)id)) == NULL);
	for (id = 1; id < 5000; id += 2)
		CHECK(hmap_getb(m, &id, sizeof(id)) == val_of((int)id));
	id = 2;
	ck_assert_ptr_null(hmap_getb(m, &id, sizeof(id)));
	hmap_free(m, NULL);
}
END_TEST

/* The order of a walk over keys 0..n-1: the key numbers, comma separated. */
static void
walk_order(struct hmap *m, char *out, size_t len)
{
	struct hmap_iter it;
	const char *k;
	size_t off = 0;
	void *v;

	out[0] = '\0';
	hmap_iter_init(&it);
	while (hmap_next(m, &it, &k, &v) && off < len)
		off += (size_t)snprintf(out + off, len - off, "%d,", num_of(v));
}

static void
fill(struct hmap *m, int n)
{
	char key[64];
	int i;

	for (i = 0; i < n; i++) {
		key_of(key, sizeof(key), i);
		hmap_put(m, key, val_of(i));
	}
}

/* The seed is applied: the same keys in the same order land in other
 * buckets under another seed, and in the same ones under the same seed. */
START_TEST(test_seed_applied)
{
	uint8_t s1[HMAP_SEEDBYTES] = {1}, s2[HMAP_SEEDBYTES] = {2};
	struct hmap *a = hmap_new_seeded(s1), *b = hmap_new_seeded(s2), *c = hmap_new_seeded(s1);
	char oa[2048], ob[2048], oc[2048];

	fill(a, 200);
	fill(b, 200);
	fill(c, 200);
	walk_order(a, oa, sizeof(oa));
	walk_order(b, ob, sizeof(ob));
	walk_order(c, oc, sizeof(oc));
	ck_assert_str_eq(oa, oc);
	ck_assert_str_ne(oa, ob);
	hmap_free(a, NULL);
	hmap_free(b, NULL);
	hmap_free(c, NULL);
}
END_TEST

/* hmap_new seeds from a random key per process: two processes that put
 * the same keys walk them in other orders. */
START_TEST(test_seed_random)
{
	char order[2][2048];
	int fds[2], i;
	pid_t pid;

	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(pipe(fds), 0);
		if ((pid = fork()) == 0) {
			struct hmap *m = hmap_new();

			close(fds[0]);
			fill(m, 200);
			walk_order(m, order[i], sizeof(order[i]));
			if (write(fds[1], order[i], sizeof(order[i])) != (ssize_t)sizeof(order[i]))
				_exit(1);
			_exit(0);
		}
		ck_assert_int_gt(pid, 0);
		close(fds[1]);
		ck_assert_int_eq(read(fds[0], order[i], sizeof(order[i])), sizeof(order[i]));
		close(fds[0]);
		ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
	}
	ck_assert_uint_gt(strlen(order[0]), 0);
	ck_assert_str_ne(order[0], order[1]);
}
END_TEST

/* hmap_keys: every key once, in strcmp order whatever the seed, copies
 * that outlive the entries, NULL after the last. */
START_TEST(test_keys_sorted)
{
	uint8_t seed[HMAP_SEEDBYTES] = {9};
	struct hmap *m = hmap_new_seeded(seed);
	char key[64], **keys;
	size_t n, i;

	keys = hmap_keys(m, &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(keys[0]);
	hmap_keys_free(keys);
	fill(m, 500);
	keys = hmap_keys(m, &n);
	ck_assert_uint_eq(n, 500);
	ck_assert_ptr_null(keys[n]);
	for (i = 0; i < n; i++) {
		if (i > 0)
			CHECK(strcmp(keys[i - 1], keys[i]) < 0);
		CHECK(hmap_del(m, keys[i]) != NULL); /* each a key, deletable while held */
	}
	ck_assert_uint_eq(hmap_count(m), 0);
	key_of(key, sizeof(key), 0);
	ck_assert_str_eq(keys[0], key); /* "ns-0/svc-0" sorts first */
	hmap_keys_free(keys);
	hmap_keys_free(NULL);
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
	tcase_add_test(tc, test_bytes);
	tcase_add_test(tc, test_seed_applied);
	tcase_add_test(tc, test_seed_random);
	tcase_add_test(tc, test_keys_sorted);
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
