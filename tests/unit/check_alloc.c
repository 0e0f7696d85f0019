/*
 * ClusterIPs for file-registry Services without one (controller/ctl_alloc.c
 * through controller/ctl_state.c): the same address on every node for the
 * same Services whatever the order they come in, explicit clusterIPs win
 * and move an allocated Service, a full range is an error that clears when
 * an address frees, headless and ExternalName Services get none, the table
 * survives a restart (stale entries dropped), a corrupt table is reported
 * with its file and line and recomputed.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "../../controller/controller.h"

static struct em_config cfg;
static char tmpdir[64];
static char table[128];

static void
emit(void *arg, enum em_topic t, uint64_t version, const char *key, const struct pub *p)
{
}

static struct state *
new_state(const char *cidr, const char *path)
{
	struct state *s = state_new(&cfg, emit, NULL);
	struct alloc *a;
	char err[512];

	a = alloc_new(cidr, err, sizeof(err));
	ck_assert_msg(a != NULL, "alloc_new: %s", err);
	if (path != NULL)
		ck_assert_msg(alloc_load(a, path, err, sizeof(err)) == 0, "alloc_load: %s", err);
	state_set_alloc(s, a);
	return s;
}

/* A Service ns/name; ip NULL: no clusterIP, "None": headless, "ext": ExternalName. */
static void
put_svc(struct state *s, const char *ns, const char *name, const char *ip, int port)
{
	char json[1024], spec[256];
	struct kobj_diag diag;
	struct kobj *k = NULL;
	json_error_t jerr;
	json_t *j;

	if (ip == NULL)
		snprintf(spec, sizeof(spec), "\"ports\":[{\"port\":%d}]", port);
	else if (strcmp(ip, "ext") == 0)
		snprintf(spec, sizeof(spec),
			 "\"type\":\"ExternalName\",\"externalName\":\"example.com\"");
	else
		snprintf(spec, sizeof(spec), "\"clusterIP\":\"%s\",\"ports\":[{\"port\":%d}]", ip,
			 port);
	snprintf(json, sizeof(json),
		 "{\"apiVersion\":\"v1\",\"kind\":\"Service\","
		 "\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\"},\"spec\":{%s}}",
		 name, ns, spec);
	j = json_loads(json, 0, &jerr);
	ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
	memset(&diag, 0, sizeof(diag));
	if (kobj_parse(j, &k, &diag) == -1)
		ck_abort_msg("kobj_parse: %s", diag.err);
	json_decref(j);
	state_put(s, k, "test.yaml");
}

/* The published clusterIP of ns/name ("" none, NULL not published). */
static const char *
ip_of(struct state *s, const char *key)
{
	const struct pub *p = hmap_get(state_topic(s, EM_TOPIC_SERVICES), key);
	static char ring[16][64]; /* callers hold a few results at once */
	static unsigned next;
	char *ip = ring[next++ % 16];
	struct em_object o;
	msgpack_unpacked up;
	char err[256];

	if (p == NULL)
		return NULL;
	/* services are kept packed only: read them as a subscriber does */
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(msgpack_unpack_next(&up, p->packed, p->packed_len, NULL),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(ipc_unpack_object(&up.data, EM_TOPIC_SERVICES, &o, err, sizeof(err)), 0);
	msgpack_unpacked_destroy(&up);
	if (o.u.svc->cluster_ip[0] != '\0' && !o.u.svc->headless) {
		/* clusterIPs agrees with clusterIP */
		ck_assert_uint_eq(o.u.svc->n_cluster_ips, 1);
		ck_assert_str_eq(o.u.svc->cluster_ips[0], o.u.svc->cluster_ip);
	}
	snprintf(ip, sizeof(ring[0]), "%s", o.u.svc->cluster_ip);
	em_object_free(&o);
	return ip;
}

static int
in_cidr(const char *ip, const char *base, int prefix)
{
	struct in_addr a, b;
	uint32_t mask = prefix == 0 ? 0 : ~0u << (32 - prefix), x, y;

	if (inet_pton(AF_INET, ip, &a) != 1 || inet_pton(AF_INET, base, &b) != 1)
		return 0;
	x = ntohl(a.s_addr);
	y = ntohl(b.s_addr);
	/* inside, and neither the network nor the broadcast address */
	return (x & mask) == y && x != y && x != (y | ~mask);
}

/* The first choice of key in cidr: what a fresh allocator gives it. */
static void
first_choice(const char *cidr, const char *key, char *ip, size_t len)
{
	struct alloc *a;
	char err[256];

	a = alloc_new(cidr, err, sizeof(err));
	ck_assert_ptr_nonnull(a);
	snprintf(ip, len, "%s", alloc_assign(a, key));
	alloc_free(a);
}

/* Two names of namespace "t" with the same first choice in cidr, n1 < n2. */
static void
colliding(const char *cidr, char *n1, char *n2, size_t len)
{
	char ips[64][INET_ADDRSTRLEN], key[32];
	int i, j;

	for (i = 0; i < 64; i++) {
		snprintf(key, sizeof(key), "t/svc-%d", i);
		first_choice(cidr, key, ips[i], sizeof(ips[i]));
		for (j = 0; j < i; j++)
			if (strcmp(ips[i], ips[j]) == 0) {
				snprintf(n1, len, "svc-%d", j);
				snprintf(n2, len, "svc-%d", i);
				if (strcmp(n1, n2) > 0) { /* n1 first in key order */
					snprintf(n1, len, "svc-%d", i);
					snprintf(n2, len, "svc-%d", j);
				}
				return;
			}
	}
	ck_abort_msg("no collision among 64 names in %s", cidr);
}

static int
strcmp_p(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

static char *
read_file(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_alloc.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(table, sizeof(table), "%s/clusterips", tmpdir);
}

static void
teardown(void)
{
	struct dirent *de;
	char p[256];
	DIR *d = opendir(tmpdir);

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", tmpdir, de->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(tmpdir);
}

/* ---------------------------------------------------------------------- */

START_TEST(test_kubeadm_range_and_kinds)
{
	struct state *s = new_state("10.96.0.0/12", NULL);
	const char *ip;

	put_svc(s, "default", "hostname-svc", NULL, 12345);
	put_svc(s, "default", "explicit", "10.96.0.10", 80);
	put_svc(s, "default", "headless", "None", 80);
	put_svc(s, "default", "external", "ext", 0);
	state_commit(s);
	ip = ip_of(s, "default/hostname-svc");
	ck_assert_ptr_nonnull(ip);
	ck_assert_msg(in_cidr(ip, "10.96.0.0", 12), "%s is not inside 10.96.0.0/12", ip);
	ck_assert_str_eq(ip_of(s, "default/explicit"), "10.96.0.10");
	ck_assert_str_eq(ip_of(s, "default/headless"), "None");
	ck_assert_str_eq(ip_of(s, "default/external"), "");
	state_free(s);

	/* without an allocator (the Kubernetes API source) nothing is given */
	s = state_new(&cfg, emit, NULL);
	put_svc(s, "default", "hostname-svc", NULL, 12345);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, "default/hostname-svc"), "");
	state_free(s);
}
END_TEST

/*
 * Two nodes, the same Services in opposite orders: the same addresses, and
 * those of a node that saw them one at a time in key order (what a commit
 * does with a batch), so the batching of events does not matter either.
 */
#define NODE_SVCS 40
START_TEST(test_same_on_every_node)
{
	const char *cidr = "10.96.0.0/26"; /* 62 addresses for 40: many collisions */
	struct state *a = new_state(cidr, NULL), *b = new_state(cidr, NULL), *c;
	char key[32], ip[INET_ADDRSTRLEN], *names[NODE_SVCS];
	int i, differ = 0;

	for (i = 0; i < NODE_SVCS; i++) {
		snprintf(key, sizeof(key), "svc-%d", i);
		put_svc(a, "t", key, NULL, 80);
		snprintf(key, sizeof(key), "svc-%d", NODE_SVCS - 1 - i);
		put_svc(b, "t", key, NULL, 80);
	}
	state_commit(a);
	state_commit(b);
	for (i = 0; i < NODE_SVCS; i++) {
		snprintf(key, sizeof(key), "t/svc-%d", i);
		ck_assert_ptr_nonnull(ip_of(a, key));
		ck_assert_msg(in_cidr(ip_of(a, key), "10.96.0.0", 26), "%s", ip_of(a, key));
		ck_assert_str_eq(ip_of(a, key), ip_of(b, key));
		/* and it comes from the name, not from a counter */
		first_choice(cidr, key, ip, sizeof(ip));
		differ += strcmp(ip, ip_of(a, key)) != 0;
	}
	ck_assert_msg(differ > 0 && differ < NODE_SVCS, "%d of %d moved on", differ, NODE_SVCS);
	/* one commit per Service, in key order ("svc-1" < "svc-10" < "svc-2") */
	for (i = 0; i < NODE_SVCS; i++) {
		names[i] = malloc(16);
		snprintf(names[i], 16, "svc-%d", i);
	}
	qsort(names, NODE_SVCS, sizeof(*names), strcmp_p);
	c = new_state(cidr, NULL);
	for (i = 0; i < NODE_SVCS; i++) {
		put_svc(c, "t", names[i], NULL, 80);
		state_commit(c);
		free(names[i]);
	}
	for (i = 0; i < NODE_SVCS; i++) {
		snprintf(key, sizeof(key), "t/svc-%d", i);
		ck_assert_str_eq(ip_of(a, key), ip_of(c, key));
	}
	state_free(a);
	state_free(b);
	state_free(c);
}
END_TEST

START_TEST(test_no_duplicates)
{
	struct state *s = new_state("10.96.0.0/27", NULL); /* 30 addresses */
	char key[32], ips[30][INET_ADDRSTRLEN];
	int i, j;

	put_svc(s, "t", "explicit", "10.96.0.7", 80);
	for (i = 0; i < 29; i++) {
		snprintf(key, sizeof(key), "svc-%d", i);
		put_svc(s, "t", key, NULL, 80);
	}
	state_commit(s);
	for (i = 0; i < 29; i++) {
		snprintf(key, sizeof(key), "t/svc-%d", i);
		snprintf(ips[i], sizeof(ips[i]), "%s", ip_of(s, key));
		ck_assert_msg(in_cidr(ips[i], "10.96.0.0", 27), "%s got %s", key, ips[i]);
		ck_assert_str_ne(ips[i], "10.96.0.7");
		for (j = 0; j < i; j++)
			ck_assert_str_ne(ips[i], ips[j]);
	}
	state_free(s);
}
END_TEST

/* An explicit clusterIP is never given; one that comes later moves the holder. */
START_TEST(test_explicit_wins)
{
	const char *cidr = "10.96.0.0/24";
	struct state *s = new_state(cidr, NULL);
	char first[INET_ADDRSTRLEN], moved[INET_ADDRSTRLEN];

	first_choice(cidr, "t/auto", first, sizeof(first));
	/* the explicit one first: auto does not get its first choice */
	put_svc(s, "t", "pinned", first, 80);
	put_svc(s, "t", "auto", NULL, 80);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, "t/pinned"), first);
	ck_assert_str_ne(ip_of(s, "t/auto"), first);
	ck_assert(in_cidr(ip_of(s, "t/auto"), "10.96.0.0", 24));
	state_free(s);

	/* auto first, then an explicit clusterIP equal to its address */
	s = new_state(cidr, NULL);
	put_svc(s, "t", "auto", NULL, 80);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, "t/auto"), first);
	put_svc(s, "t", "pinned", first, 80);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, "t/pinned"), first);
	snprintf(moved, sizeof(moved), "%s", ip_of(s, "t/auto"));
	ck_assert_str_ne(moved, first);
	ck_assert(in_cidr(moved, "10.96.0.0", 24));
	/* the pinned one goes: auto stays where it moved (stable) */
	state_del(s, KOBJ_SERVICE, "t", "pinned", NULL);
	put_svc(s, "t", "auto", NULL, 81);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, "t/auto"), moved);
	/* auto is given a clusterIP of its own: its address is free again */
	put_svc(s, "t", "auto", "192.0.2.1", 80);
	put_svc(s, "t", "other", first, 80);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, "t/auto"), "192.0.2.1");
	state_free(s);
}
END_TEST

START_TEST(test_range_full)
{
	struct state *s = new_state("10.96.0.0/30", NULL); /* .1 and .2 */
	const char *a, *b;

	put_svc(s, "t", "a", NULL, 80);
	put_svc(s, "t", "b", NULL, 80);
	put_svc(s, "t", "c", NULL, 80);
	state_commit(s);
	a = ip_of(s, "t/a");
	b = ip_of(s, "t/b");
	ck_assert(strcmp(a, "10.96.0.1") == 0 || strcmp(a, "10.96.0.2") == 0);
	ck_assert(strcmp(b, "10.96.0.1") == 0 || strcmp(b, "10.96.0.2") == 0);
	ck_assert_str_ne(a, b);
	/* the third is published, without an address */
	ck_assert_str_eq(ip_of(s, "t/c"), "");
	/* an address comes free: the waiting Service gets it */
	state_del(s, KOBJ_SERVICE, "t", "a", NULL);
	state_commit(s);
	ck_assert_ptr_null(ip_of(s, "t/a"));
	ck_assert_str_ne(ip_of(s, "t/c"), "");
	ck_assert_str_ne(ip_of(s, "t/c"), ip_of(s, "t/b"));
	state_free(s);
}
END_TEST

START_TEST(test_range_full_alloc)
{
	struct alloc *a;
	char err[256], d[64];

	ck_assert_ptr_null(alloc_new("10.96.0.0/31", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "registry.serviceCIDR 10.96.0.0/31"));
	a = alloc_new("10.96.0.0/30", err, sizeof(err));
	ck_assert_int_eq(alloc_claim(a, "10.96.0.1", d, sizeof(d)), 0);
	ck_assert_ptr_nonnull(alloc_assign(a, "t/a"));
	ck_assert_str_eq(alloc_get(a, "t/a"), "10.96.0.2");
	ck_assert_ptr_null(alloc_assign(a, "t/b"));
	/* a second claim of a given address takes it */
	ck_assert_int_eq(alloc_claim(a, "10.96.0.2", d, sizeof(d)), 1);
	ck_assert_str_eq(d, "t/a");
	ck_assert_ptr_null(alloc_get(a, "t/a"));
	ck_assert_ptr_null(alloc_assign(a, "t/a"));
	alloc_unclaim(a, "10.96.0.1");
	ck_assert_str_eq(alloc_assign(a, "t/a"), "10.96.0.1");
	alloc_free(a);
}
END_TEST

/* The table keeps a Service's address across a restart while others came and went. */
START_TEST(test_persist_round_trip)
{
	const char *cidr = "10.96.0.0/28";
	char n1[32], n2[32], k1[40], k2[40], ip2[INET_ADDRSTRLEN], *text;
	struct state *s;
	struct dirent *de;
	DIR *d;
	int files = 0;

	colliding(cidr, n1, n2, sizeof(n1));
	snprintf(k1, sizeof(k1), "t/%s", n1);
	snprintf(k2, sizeof(k2), "t/%s", n2);
	/* n2 comes first and takes the shared first choice; n1 probes on */
	s = new_state(cidr, table);
	put_svc(s, "t", n2, NULL, 80);
	state_commit(s);
	put_svc(s, "t", "gone-later", NULL, 80);
	put_svc(s, "t", n1, NULL, 80);
	state_commit(s);
	snprintf(ip2, sizeof(ip2), "%s", ip_of(s, k2));
	ck_assert_str_ne(ip_of(s, k1), ip2);
	text = read_file(table);
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, k2));
	ck_assert_ptr_nonnull(strstr(text, ip2));
	ck_assert_ptr_nonnull(strstr(text, "t/gone-later "));
	/* written atomically: nothing else is left in the directory */
	d = opendir(tmpdir);
	while ((de = readdir(d)) != NULL)
		files += de->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(files, 1);
	state_free(s);

	/* restart with the same Services but one: same addresses, although a
	 * fresh start would give n1 (first in key order) the shared choice */
	s = new_state(cidr, table);
	put_svc(s, "t", n1, NULL, 80);
	put_svc(s, "t", n2, NULL, 80);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, k2), ip2);
	ck_assert_str_ne(ip_of(s, k1), ip2);
	/* the Service gone while we were down left the table */
	text = read_file(table);
	ck_assert_ptr_null(strstr(text, "t/gone-later"));
	ck_assert_ptr_nonnull(strstr(text, k2));
	state_free(s);

	/* without the table a fresh node serves them in key order: n1 first */
	s = new_state(cidr, NULL);
	put_svc(s, "t", n2, NULL, 80);
	put_svc(s, "t", n1, NULL, 80);
	state_commit(s);
	ck_assert_str_eq(ip_of(s, k1), ip2);
	ck_assert_str_ne(ip_of(s, k2), ip2);
	state_free(s);
}
END_TEST

START_TEST(test_corrupt_table)
{
	struct state *s;
	struct alloc *a;
	char err[512], want[256], *text;

	write_file(table, "# edgemesh-controller\nt/a 10.96.0.5\nt/b not-an-ip\n");
	a = alloc_new("10.96.0.0/24", err, sizeof(err));
	ck_assert_int_eq(alloc_load(a, table, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: ", table);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error does not name %s:3: %s", table,
		      err);
	ck_assert_ptr_nonnull(strstr(err, "not-an-ip"));
	/* nothing of it is used, not even its good lines */
	ck_assert_uint_eq(alloc_count(a), 0);
	alloc_free(a);

	/* the controller recomputes and replaces the file with a good one */
	s = state_new(&cfg, emit, NULL);
	a = alloc_new("10.96.0.0/24", err, sizeof(err));
	ck_assert_int_eq(alloc_load(a, table, err, sizeof(err)), -1);
	state_set_alloc(s, a);
	put_svc(s, "t", "a", NULL, 80);
	state_commit(s);
	ck_assert(in_cidr(ip_of(s, "t/a"), "10.96.0.0", 24));
	text = read_file(table);
	ck_assert_ptr_null(strstr(text, "not-an-ip"));
	state_free(s);
	a = alloc_new("10.96.0.0/24", err, sizeof(err));
	ck_assert_msg(alloc_load(a, table, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(alloc_count(a), 1);
	alloc_free(a);

	/* a table that cannot be written: an error naming it */
	a = alloc_new("10.96.0.0/24", err, sizeof(err));
	ck_assert_int_eq(alloc_load(a, "/nonexistent-hc/clusterips", err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(alloc_assign(a, "t/a"));
	ck_assert_int_eq(alloc_save(a, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "/nonexistent-hc/clusterips") != NULL, "%s", err);
	alloc_free(a);

	/* other kinds of damage */
	a = alloc_new("10.96.0.0/24", err, sizeof(err));
	write_file(table, "t/a 10.96.0.5\nt/b 10.96.0.5\n");
	ck_assert_int_eq(alloc_load(a, table, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":2: 10.96.0.5 is given twice") != NULL, "%s", err);
	write_file(table, "noslash 10.96.0.5\n");
	ck_assert_int_eq(alloc_load(a, table, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, ":1: \"noslash\" is not namespace/name") != NULL, "%s", err);
	write_file(table, "t/a 10.96.0.5 extra\n");
	ck_assert_int_eq(alloc_load(a, table, err, sizeof(err)), -1);
	/* an entry outside a changed range is dropped, not an error */
	write_file(table, "t/a 10.97.0.5\nt/b 10.96.0.6\n");
	ck_assert_int_eq(alloc_load(a, table, err, sizeof(err)), 0);
	ck_assert_ptr_null(alloc_get(a, "t/a"));
	ck_assert_str_eq(alloc_get(a, "t/b"), "10.96.0.6");
	alloc_free(a);
}
END_TEST

static Suite *
alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("alloc");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_kubeadm_range_and_kinds);
	tcase_add_test(tc, test_same_on_every_node);
	tcase_add_test(tc, test_no_duplicates);
	tcase_add_test(tc, test_explicit_wins);
	tcase_add_test(tc, test_range_full);
	tcase_add_test(tc, test_range_full_alloc);
	tcase_add_test(tc, test_persist_round_trip);
	tcase_add_test(tc, test_corrupt_table);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(alloc_suite());
	int failed;

	config_defaults(&cfg);
	snprintf(cfg.node_name, sizeof(cfg.node_name), "test-node");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
