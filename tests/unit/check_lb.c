/*
 * Load balancing (common/lb.c, shared by proxyd and gatewayd): every
 * policy, distribution bounds, churn stability.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

static char id1[] = "n1:a:10.0.0.1:80", id2[] = "n1:b:10.0.0.2:80", id3[] = "n2:c:10.0.0.3:80",
	    id4[] = "n2:d:10.0.0.4:80", id5[] = "n3:e:10.0.0.5:80";
static char *ids5[] = {id1, id2, id3, id4, id5};

static void
mk(struct lb *lb, int policy, int hash, int affinity)
{
	struct lb_conf c;

	memset(&c, 0, sizeof(c));
	c.policy = policy;
	c.hash = hash;
	c.hash_arg = "X-User";
	c.affinity = affinity;
	c.affinity_ttl = 10;
	lb_init(lb, &c);
	lb_set_endpoints(lb, ids5, 5);
}

START_TEST(test_xxh64_vectors)
{
	ck_assert_uint_eq(lb_xxh64("", 0, 0), 0xEF46DB3751D8E999ULL);
	ck_assert_uint_eq(lb_xxh64("a", 1, 0), 0xD24EC4F1A98C6E5BULL);
	ck_assert_uint_eq(lb_xxh64("abc", 3, 0), 0x44BC2CF5AD770999ULL);
}
END_TEST

START_TEST(test_round_robin)
{
	struct lb lb;
	int cnt[5] = {0}, i;

	mk(&lb, EM_LB_ROUND_ROBIN, 0, 0);
	for (i = 0; i < 50; i++)
		cnt[lb_pick(&lb, "1.1.1.1", NULL, 0, NULL, 0)]++;
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(cnt[i], 10);
	lb_free(&lb);
}
END_TEST

START_TEST(test_skip)
{
	struct lb lb;
	unsigned char skip[5] = {1, 1, 0, 1, 1};
	int i;

	mk(&lb, EM_LB_ROUND_ROBIN, 0, 0);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(lb_pick(&lb, "c", NULL, 0, skip, 0), 2);
	memset(skip, 1, 5);
	ck_assert_int_eq(lb_pick(&lb, "c", NULL, 0, skip, 0), -1);
	lb_free(&lb);
	mk(&lb, EM_LB_CONSISTENT_HASH, EM_HASH_HEADER, 0);
	skip[3] = 0;
	ck_assert_int_eq(lb_pick(&lb, "c", "k", 1, skip, 0), 3);
	lb_free(&lb);
}
END_TEST

START_TEST(test_random_bounds)
{
	struct lb lb;
	int cnt[5] = {0}, i;

	mk(&lb, EM_LB_RANDOM, 0, 0);
	for (i = 0; i < 10000; i++)
		cnt[lb_pick(&lb, "c", NULL, 0, NULL, 0)]++;
	for (i = 0; i < 5; i++) { /* mean 2000, sd ~40 */
		ck_assert_int_gt(cnt[i], 1700);
		ck_assert_int_lt(cnt[i], 2300);
	}
	lb_free(&lb);
}
END_TEST

START_TEST(test_hash_sticky_and_spread)
{
	struct lb lb;
	char key[32];
	int cnt[5] = {0}, i, first;

	mk(&lb, EM_LB_CONSISTENT_HASH, EM_HASH_HEADER, 0);
	first = lb_pick(&lb, "c", "alice", 5, NULL, 0);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(lb_pick(&lb, "other", "alice", 5, NULL, i), first);
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "user-%d", i);
		cnt[lb_pick(&lb, "c", key, strlen(key), NULL, 0)]++;
	}
	/* bounded load: no member above ceil(100/5*1.25)=25 of 100 partitions */
	for (i = 0; i < 5; i++) {
		ck_assert_int_gt(cnt[i], 500);
		ck_assert_int_lt(cnt[i], 2700);
	}
	lb_free(&lb);
}
END_TEST

START_TEST(test_hash_churn)
{
	struct lb a, b;
	char key[32];
	int i, ia, ib, moved = 0, moved_unaffected = 0, n = 10000;

	mk(&a, EM_LB_CONSISTENT_HASH, EM_HASH_HEADER, 0);
	mk(&b, EM_LB_CONSISTENT_HASH, EM_HASH_HEADER, 0);
	lb_set_endpoints(&b, ids5, 4); /* the fifth endpoint leaves */
	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ia = lb_pick(&a, "c", key, strlen(key), NULL, 0);
		ib = lb_pick(&b, "c", key, strlen(key), NULL, 0);
		if (strcmp(ids5[ia], b.ids[ib]) != 0) {
			moved++;
			if (ia != 4)
				moved_unaffected++;
		}
	}
	/* the removed member's ~20% must move; the rest should mostly stay */
	ck_assert_int_lt(moved, n * 45 / 100);
	ck_assert_int_lt(moved_unaffected, n * 25 / 100);
	lb_free(&a);
	lb_free(&b);
}
END_TEST

START_TEST(test_source_ip)
{
	struct lb lb;
	char ip[32];
	int first, i, idx, seen[5] = {0};

	mk(&lb, EM_LB_CONSISTENT_HASH, EM_HASH_SOURCE_IP, 0);
	first = lb_pick(&lb, "10.1.2.3", NULL, 0, NULL, 0);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(lb_pick(&lb, "10.1.2.3", NULL, 0, NULL, 0), first);
	/* the ring's owner of the IP, whatever header key the caller also has */
	ck_assert_int_eq(first, lb_ring_locate(lb.ring, "10.1.2.3", 8));
	ck_assert_int_eq(lb_pick(&lb, "10.1.2.3", "alice", 5, NULL, 0), first);
	/* 100 clients: each sticks, together they use every endpoint */
	for (i = 0; i < 100; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 10, i % 10 + 1);
		idx = lb_pick(&lb, ip, NULL, 0, NULL, 0);
		ck_assert_int_ge(idx, 0);
		ck_assert_int_eq(lb_pick(&lb, ip, NULL, 0, NULL, 0), idx);
		ck_assert_int_eq(idx, lb_ring_locate(lb.ring, ip, strlen(ip)));
		seen[idx]++;
	}
	for (i = 0; i < 5; i++)
		ck_assert_msg(seen[i] > 0 && seen[i] <= 50, "endpoint %d: %d of 100", i, seen[i]);
	lb_free(&lb);
}
END_TEST

START_TEST(test_affinity)
{
	struct lb lb;
	int first, i;

	mk(&lb, EM_LB_RANDOM, 0, 1); /* affinity wins over the DR policy */
	first = lb_pick(&lb, "10.1.2.3", NULL, 0, NULL, 0);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(lb_pick(&lb, "10.1.2.3", NULL, 0, NULL, 1), first);
	ck_assert_int_ne(lb_pick(&lb, "10.9.9.9", NULL, 0, NULL, 1), first);
	/* after the timeout (10s of idle) the next pick may move: RR moves on */
	ck_assert_int_ne(lb_pick(&lb, "10.1.2.3", NULL, 0, NULL, 100), first);
	/*
	 * affinity dropped when its endpoint leaves: gone from the table, and
	 * when the endpoint is back before the client's next pick (within the
	 * timeout) the client does not return to it: a fresh round-robin pick
	 * (rr is past the old one) gives another endpoint.
	 */
	first = lb_pick(&lb, "10.1.2.4", NULL, 0, NULL, 200);
	ck_assert_ptr_nonnull(hmap_get(lb.aff, "10.1.2.4"));
	{
		char *rest[4];
		int j, n = 0;

		for (j = 0; j < 5; j++)
			if (j != first)
				rest[n++] = ids5[j];
		lb_set_endpoints(&lb, rest, 4);
	}
	ck_assert_ptr_null(hmap_get(lb.aff, "10.1.2.4"));
	ck_assert_ptr_nonnull(hmap_get(lb.aff, "10.9.9.9")); /* the others stay */
	lb_set_endpoints(&lb, ids5, 5);
	ck_assert_int_ne(lb_pick(&lb, "10.1.2.4", NULL, 0, NULL, 201), first);
	lb_free(&lb);
}
END_TEST

START_TEST(test_http_header)
{
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\nx-user:  bob \r\n"
			  "Cookie: a=1; sess=xyz; b=2\r\n\r\nbody";
	char out[64];

	ck_assert_int_eq(lb_http_header(req, strlen(req), "X-User", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "bob");
	ck_assert_int_eq(lb_http_header(req, strlen(req), "Missing", out, sizeof(out)), 0);
	ck_assert_int_eq(lb_http_header(req, 20, "X-User", out, sizeof(out)), -1);
	ck_assert_int_eq(lb_http_cookie(req, strlen(req), "sess", out, sizeof(out)), 1);
	ck_assert_str_eq(out, "xyz");
	ck_assert_int_eq(lb_http_cookie(req, strlen(req), "zz", out, sizeof(out)), 0);
}
END_TEST

START_TEST(test_empty)
{
	struct lb lb;
	struct lb_conf c;

	memset(&c, 0, sizeof(c));
	c.policy = EM_LB_CONSISTENT_HASH;
	lb_init(&lb, &c);
	ck_assert_int_eq(lb_pick(&lb, "c", "k", 1, NULL, 0), -1);
	lb_set_endpoints(&lb, ids5, 1);
	ck_assert_int_eq(lb_pick(&lb, "c", "k", 1, NULL, 0), 0);
	lb_free(&lb);
}
END_TEST

/* A service's DestinationRule and affinity, as both daemons configure their balancers. */
START_TEST(test_conf_service)
{
	struct em_service svc;
	struct em_config cfg;
	struct lb_conf c;
	char arg[] = "X-User";

	memset(&svc, 0, sizeof(svc));
	memset(&cfg, 0, sizeof(cfg));
	svc.lb = EM_LB_CONSISTENT_HASH;
	svc.hash = EM_HASH_HEADER;
	svc.hash_arg = arg;
	cfg.proxy.hash_partitions = 7;
	cfg.proxy.hash_replicas = 3;
	cfg.proxy.hash_load = 1.5;
	ck_assert_int_eq(lb_conf_service(&c, &svc, &cfg), 0);
	ck_assert_int_eq(c.policy, EM_LB_CONSISTENT_HASH);
	ck_assert_int_eq(c.hash, EM_HASH_HEADER);
	ck_assert_str_eq(c.hash_arg, "X-User");
	ck_assert_uint_eq(c.partitions, 7);
	ck_assert_uint_eq(c.replicas, 3);
	ck_assert(c.load == 1.5);
	ck_assert_int_eq(c.affinity, 0);
	/* a policy and ClientIP affinity: reported, affinity set */
	svc.affinity_client_ip = true;
	svc.affinity_timeout = 60;
	ck_assert_int_eq(lb_conf_service(&c, &svc, &cfg), 1);
	ck_assert_int_eq(c.affinity, 1);
	ck_assert(c.affinity_ttl == 60);
	svc.lb = EM_LB_ROUND_ROBIN;
	ck_assert_int_eq(lb_conf_service(&c, &svc, &cfg), 0);
}
END_TEST

START_TEST(test_endpoint_id)
{
	char ip[] = "10.0.0.1", node[] = "edge-1", pod[] = "web-0", empty[] = "", id[320];
	struct em_endpoint e;

	memset(&e, 0, sizeof(e));
	e.ip = ip;
	e.node = node;
	e.pod = pod;
	lb_endpoint_id(id, sizeof(id), &e, 8080);
	ck_assert_str_eq(id, "edge-1:web-0:10.0.0.1:8080");
	e.node = e.pod = empty; /* EdgeMesh's placeholders, so rings agree with it */
	lb_endpoint_id(id, sizeof(id), &e, 80);
	ck_assert_str_eq(id, "EMPTY_NODE_NAME:EMPTY_POD_NAME:10.0.0.1:80");
}
END_TEST

/* Which policies depend on the request, and which key a request gives them. */
START_TEST(test_sticky_and_key)
{
	const char *req = "GET / HTTP/1.1\r\nX-User: alice\r\nCookie: a=1; user=bob\r\n\r\n";
	struct lb lb;
	struct lb_conf c;
	char out[64];

	mk(&lb, EM_LB_ROUND_ROBIN, 0, 0);
	ck_assert(!lb_is_sticky(&lb));
	ck_assert(!lb_wants_peek(&lb));
	lb_free(&lb);
	mk(&lb, EM_LB_RANDOM, 0, 0);
	ck_assert(!lb_is_sticky(&lb));
	lb_free(&lb);
	mk(&lb, EM_LB_ROUND_ROBIN, 0, 1);
	ck_assert(lb_is_sticky(&lb));
	lb_free(&lb);
	mk(&lb, EM_LB_CONSISTENT_HASH, EM_HASH_HEADER, 0);
	ck_assert(lb_is_sticky(&lb));
	ck_assert(lb_wants_peek(&lb));
	ck_assert_int_eq(lb_http_key(&lb, req, strlen(req), out, sizeof(out)), 1);
	ck_assert_str_eq(out, "alice");
	lb_free(&lb);
	memset(&c, 0, sizeof(c));
	c.policy = EM_LB_CONSISTENT_HASH;
	c.hash = EM_HASH_COOKIE;
	c.hash_arg = "user";
	lb_init(&lb, &c);
	ck_assert_int_eq(lb_http_key(&lb, req, strlen(req), out, sizeof(out)), 1);
	ck_assert_str_eq(out, "bob");
	lb_free(&lb);
}
END_TEST

static Suite *
lb_suite(void)
{
	Suite *s = suite_create("lb");
	TCase *tc = tcase_create("policies");

	tcase_add_test(tc, test_xxh64_vectors);
	tcase_add_test(tc, test_round_robin);
	tcase_add_test(tc, test_skip);
	tcase_add_test(tc, test_random_bounds);
	tcase_add_test(tc, test_hash_sticky_and_spread);
	tcase_add_test(tc, test_hash_churn);
	tcase_add_test(tc, test_source_ip);
	tcase_add_test(tc, test_affinity);
	tcase_add_test(tc, test_http_header);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_conf_service);
	tcase_add_test(tc, test_endpoint_id);
	tcase_add_test(tc, test_sticky_and_key);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(lb_suite());
	int nf;

	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? 0 : 1;
}
