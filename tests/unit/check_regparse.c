/*
 * A registry file's documents parsed on worker threads
 * (controller/reg_parse.c) and jansson's per-chunk arena
 * (controller/json_arena.c):
 *  - the split at "---" lines, and none where a directive forbids it;
 *  - a file of many documents parses on threads (on a host with more than
 *    one CPU) and comes back in file order, `kind: List` flattened, a
 *    document that is no mapping and an invalid object said as such;
 *  - a chunk that does not parse fails its wait with the file's line, the
 *    chunks before it are whole; reused chunks are not parsed;
 *  - the arena: values made before it are freed to malloc, its own are all
 *    released at its end.
 */
#include <dirent.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../controller/controller.h"

#define NDOCS 300

static char *
many_docs(size_t n, size_t bad_at)
{
	size_t cap = n * 256 + 1, len = 0, i;
	char *s = malloc(cap);

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < n; i++) {
		if (i == bad_at)
			len += (size_t)snprintf(s + len, cap - len, "---\nkind: [unclosed\n");
		else if (i == 7)
			len +=
			    (size_t)snprintf(s + len, cap - len, "---\n- a list, not a mapping\n");
		else if (i == 9)
			len += (size_t)snprintf(s + len, cap - len,
						"---\napiVersion: v1\nkind: Service\nmetadata:\n"
						"  name: bad\nspec:\n  ports: [{port: 99999}]\n");
		else if (i == 11)
			len += (size_t)snprintf(
			    s + len, cap - len,
			    "---\napiVersion: v1\nkind: List\nitems:\n"
			    "- {apiVersion: v1, kind: Service, metadata: {name: l1}, spec: "
			    "{clusterIP: 10.1.0.1, ports: [{port: 1}]}}\n"
			    "- {apiVersion: v1, kind: Service, metadata: {name: l2}, spec: "
			    "{clusterIP: 10.1.0.2, ports: [{port: 2}]}}\n");
		else
			len += (size_t)snprintf(s + len, cap - len,
						"---\napiVersion: v1\nkind: Service\nmetadata:\n"
						"  name: s%zu\n  namespace: ns\nspec:\n"
						"  ports:\n  - port: %zu\n",
						i, 1000 + i);
	}
	return s;
}

static size_t
tasks(void)
{
	struct dirent *e;
	DIR *d = opendir("/proc/self/task");
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Bytes malloc'd now: ASan's own allocator when built with it (mallinfo2 then says 0). */
#if defined(__SANITIZE_ADDRESS__)
size_t __sanitizer_get_current_allocated_bytes(void); /* ASan's runtime */
static size_t
used(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t
used(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}
#endif

static int
cpus(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == -1 ? 1 : CPU_COUNT(&set);
}

START_TEST(test_split)
{
	const char *text = "a: 1\n---\nb: 2\nc: 3\n--- \nd: 4\n---x: not a start\n";
	struct doc_chunk *c;
	ssize_t n = reg_split(text, strlen(text), &c);

	ck_assert_int_eq(n, 3);
	ck_assert_uint_eq(c[0].line0, 0);
	ck_assert_uint_eq(c[1].line0, 1);
	ck_assert_uint_eq(c[2].line0, 4);
	ck_assert_uint_eq(c[0].len, 5);
	ck_assert_uint_eq(c[2].len, strlen(text) - (size_t)(c[2].p - text));
	free(c);
	text = "%YAML 1.1\n---\na: 1\n";
	ck_assert_int_eq(reg_split(text, strlen(text), &c), -1);
	text = "a: 1\n...\n---\nb: 2\n";
	ck_assert_int_eq(reg_split(text, strlen(text), &c), -1);
}
END_TEST

START_TEST(test_in_order_on_threads)
{
	char *text = many_docs(NDOCS, (size_t)-1), name[32];
	struct doc_chunk *c;
	struct parse_pool *pp;
	size_t i, before = tasks(), seen = 0;
	ssize_t n = reg_split(text, strlen(text), &c);

	ck_assert_int_eq(n, NDOCS);
	pp = parse_pool_start("t.yaml", c, (size_t)n, 8);
	if (cpus() > 1)
		ck_assert_uint_gt(tasks(), before); /* workers run */
	for (i = 0; i < (size_t)n; i++) {
		ck_assert_int_eq(parse_pool_wait(pp, i), 0);
		if (i == 7) {
			ck_assert_uint_eq(c[i].nobjs, 1);
			ck_assert_ptr_null(c[i].objs[0].k);
			ck_assert_str_eq(c[i].objs[0].err, "a document must be a mapping");
		} else if (i == 9) {
			ck_assert_uint_eq(c[i].nobjs, 1);
			ck_assert_ptr_null(c[i].objs[0].k);
			ck_assert_ptr_nonnull(strstr(c[i].objs[0].err, "port"));
			ck_assert_int_eq(c[i].objs[0].line, 8 * 9 + 2 + 2); /* 9 lines each, #7 2 */
		} else if (i == 11) {
			ck_assert_uint_eq(c[i].nobjs, 2);
			ck_assert_str_eq(c[i].objs[0].k->name, "l1");
			ck_assert_str_eq(c[i].objs[1].k->name, "l2");
		} else {
			snprintf(name, sizeof(name), "s%zu", i);
			ck_assert_uint_eq(c[i].nobjs, 1);
			ck_assert_ptr_nonnull(c[i].objs[0].k);
			ck_assert_str_eq(c[i].objs[0].k->name, name);
			ck_assert_str_eq(c[i].objs[0].k->ns, "ns");
			seen++;
		}
		doc_chunk_clear(&c[i]);
	}
	parse_pool_end(pp);
	ck_assert_uint_eq(tasks(), before); /* joined */
	ck_assert_uint_eq(seen, NDOCS - 3);
	free(c);
	free(text);
}
END_TEST

START_TEST(test_error_and_reuse)
{
	char *text = many_docs(NDOCS, 200);
	struct doc_chunk *c;
	struct parse_pool *pp;
	size_t i;
	ssize_t n = reg_split(text, strlen(text), &c);

	ck_assert_int_eq(n, NDOCS);
	for (i = 20; i < 40; i++)
		c[i].reuse = 1;
	pp = parse_pool_start("t.yaml", c, (size_t)n, (size_t)n);
	for (i = 0; i < 200; i++) {
		ck_assert_int_eq(parse_pool_wait(pp, i), 0);
		ck_assert_uint_eq(c[i].nobjs, i >= 20 && i < 40 ? 0 : i == 11 ? 2 : 1);
	}
	ck_assert_int_eq(parse_pool_wait(pp, 200), -1);
	ck_assert_ptr_null(c[200].objs);
	/* the file's lines: 9 per document before it (#7: 2, #9: 7, #11: 6), "---", the flow */
	ck_assert_msg(strstr(c[200].err, "t.yaml:1791:") != NULL &&
			  strstr(c[200].err, "at line 1790") != NULL,
		      "%s", c[200].err);
	parse_pool_end(pp);
	for (i = 0; i < (size_t)n; i++)
		doc_chunk_clear(&c[i]);
	free(c);
	free(text);
}
END_TEST

START_TEST(test_arena)
{
	struct json_arena a;
	size_t m0, m1;
	json_t *big, *o;
	char *s = malloc(1 << 20), key[16];
	int i;

	memset(s, 'x', (1 << 20) - 1);
	s[(1 << 20) - 1] = '\0';
	big = json_string(s); /* before the arena: malloc'd */
	free(s);
	m0 = used();
	json_arena_begin(&a);
	json_decref(big); /* freed to malloc, not swallowed */
	m1 = used();
	ck_assert_uint_le(m1 + (1 << 20), m0);
	o = json_object();
	for (i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		json_object_set_new(o, key, json_integer(i));
	}
	ck_assert_int_eq(json_integer_value(json_object_get(o, "k4321")), 4321);
	json_decref(o);
	json_arena_end(&a);
	m0 = used();
	ck_assert_uint_le(m0, m1 + 1024);   /* all of it released */
	o = json_pack("{s:i}", "after", 1); /* outside an arena: malloc again */
	ck_assert_int_eq(json_integer_value(json_object_get(o, "after")), 1);
	json_decref(o);
}
END_TEST

static Suite *
regparse_suite(void)
{
	Suite *s = suite_create("regparse");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_in_order_on_threads);
	tcase_add_test(tc, test_error_and_reuse);
	tcase_add_test(tc, test_arena);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(regparse_suite());
	int failed;

	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
