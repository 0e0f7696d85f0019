/*
 * The controller's state (controller/ctl_state.c): raw Kubernetes objects
 * in, published topic objects and deltas out.  Service + DestinationRule
 * in either order publish the same service; the EndpointSlices of a
 * service are joined; deleting emits a delete; putting an identical object
 * again emits nothing; versions strictly increase.  Objects come from
 * kobj_parse on JSON text, as the registry sources produce them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "../../controller/controller.h"

#define MAXEV 256

struct event {
	enum em_topic topic;
	uint64_t version;
	char key[EM_KEY_LEN];
	int deleted;
	uint8_t lb, hash; /* services */
	char hash_arg[64];
	int nports;
	size_t neps;   /* endpoints */
	char ips[256]; /* endpoints: "ip,ip,..." in published order */
	int relay;     /* peers */
};

static struct event ev[MAXEV];
static int nev;
static struct em_config cfg;

/* services and endpoints are kept packed only: read them as a subscriber does */
static void
unpack(const struct pub *p, enum em_topic t, struct em_object *o)
{
	msgpack_unpacked up;
	char err[256];

	ck_assert_ptr_null(p->obj.u.any);
	msgpack_unpacked_init(&up);
	ck_assert_int_eq(msgpack_unpack_next(&up, p->packed, p->packed_len, NULL),
			 MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(ipc_unpack_object(&up.data, t, o, err, sizeof(err)), 0);
	msgpack_unpacked_destroy(&up);
}

static void
emit(void *arg, enum em_topic t, uint64_t version, const char *key, const struct pub *p)
{
	struct event *e;
	struct em_object o;
	size_t i, n;

	ck_assert_ptr_eq(arg, &ev);
	ck_assert_int_lt(nev, MAXEV);
	e = &ev[nev++];
	memset(e, 0, sizeof(*e));
	e->topic = t;
	e->version = version;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->deleted = p == NULL;
	if (p == NULL)
		return;
	/* what is published agrees with the delta; services and endpoints
	 * are kept packed only: read them as a subscriber does */
	ck_assert_uint_eq(p->version, version);
	ck_assert_int_eq(p->obj.topic, t);
	ck_assert_ptr_nonnull(p->packed);
	ck_assert_uint_gt(p->packed_len, 0);
	if (t == EM_TOPIC_SERVICES || t == EM_TOPIC_ENDPOINTS)
		unpack(p, t, &o);
	switch (t) {
	case EM_TOPIC_SERVICES:
		e->lb = o.u.svc->lb;
		e->hash = o.u.svc->hash;
		snprintf(e->hash_arg, sizeof(e->hash_arg), "%s", o.u.svc->hash_arg);
		e->nports = (int)o.u.svc->nports;
		em_object_free(&o);
		break;
	case EM_TOPIC_ENDPOINTS:
		e->neps = o.u.eps->neps;
		for (i = 0, n = 0; i < o.u.eps->neps; i++)
			n += (size_t)snprintf(e->ips + n,
					      n < sizeof(e->ips) ? sizeof(e->ips) - n : 0, "%s%s",
					      i ? "," : "", o.u.eps->eps[i].ip);
		em_object_free(&o);
		break;
	case EM_TOPIC_PEERS:
		e->relay = p->obj.u.peer->relay;
		break;
	default:
		break;
	}
}

static struct state *
new_state(void)
{
	struct state *s;

	nev = 0;
	s = state_new(&cfg, emit, &ev);
	state_commit(s); /* the self object */
	ck_assert_int_eq(nev, 1);
	ck_assert_int_eq(ev[0].topic, EM_TOPIC_SELF);
	nev = 0;
	return s;
}

/* Parse one object from JSON text and hand it to the state. */
static void
put(struct state *s, const char *json, const char *source)
{
	struct kobj_diag diag;
	struct kobj *k = NULL;
	json_error_t jerr;
	json_t *j;

	j = json_loads(json, 0, &jerr);
	ck_assert_msg(j != NULL, "bad test JSON: %s: %s", jerr.text, json);
	memset(&diag, 0, sizeof(diag));
	if (kobj_parse(j, &k, &diag) == -1)
		ck_abort_msg("kobj_parse: %s", diag.err);
	ck_assert_ptr_nonnull(k);
	json_decref(j);
	state_put(s, k, source);
}

static int
find(enum em_topic t, const char *key)
{
	int i;

	for (i = nev - 1; i >= 0; i--)
		if (ev[i].topic == t && strcmp(ev[i].key, key) == 0)
			return i;
	return -1;
}

static const struct pub *
published(struct state *s, enum em_topic t, const char *key)
{
	return hmap_get(state_topic(s, t), key);
}

#define SVC_WEB                                                                                    \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\","                                             \
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"                                  \
	"\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":["                                       \
	"{\"name\":\"http\",\"port\":80,\"targetPort\":8080},"                                     \
	"{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"}]}}"
#define SVC_WEB_3PORTS                                                                             \
	"{\"apiVersion\":\"v1\",\"kind\":\"Service\","                                             \
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"                                  \
	"\"spec\":{\"clusterIP\":\"10.96.0.10\",\"ports\":["                                       \
	"{\"name\":\"http\",\"port\":80,\"targetPort\":8080},"                                     \
	"{\"name\":\"dns\",\"port\":53,\"protocol\":\"UDP\"},"                                     \
	"{\"name\":\"https\",\"port\":443}]}}"
#define DR_WEB                                                                                     \
	"{\"apiVersion\":\"networking.istio.io/v1beta1\",\"kind\":\"DestinationRule\","            \
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"                                  \
	"\"spec\":{\"host\":\"web.shop.svc.cluster.local\",\"trafficPolicy\":{\"loadBalancer\":"   \
	"{\"consistentHash\":{\"httpHeaderName\":\"x-user\"}}}}}"
#define DR_WEB_RANDOM                                                                              \
	"{\"apiVersion\":\"networking.istio.io/v1beta1\",\"kind\":\"DestinationRule\","            \
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"                                  \
	"\"spec\":{\"trafficPolicy\":{\"loadBalancer\":{\"simple\":\"RANDOM\"}}}}"
#define DR_OTHER_NS                                                                                \
	"{\"apiVersion\":\"networking.istio.io/v1beta1\",\"kind\":\"DestinationRule\","            \
	"\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"},"                               \
	"\"spec\":{\"trafficPolicy\":{\"loadBalancer\":{\"simple\":\"RANDOM\"}}}}"

static const char *
slice(char *buf, size_t len, const char *name, const char *svc, const char *ip1, const char *ip2)
{
	snprintf(
	    buf, len,
	    "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
	    "\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\","
	    "\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},"
	    "\"addressType\":\"IPv4\","
	    "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],"
	    "\"endpoints\":[{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":true},"
	    "\"nodeName\":\"edge-1\"},"
	    "{\"addresses\":[\"%s\"],\"conditions\":{\"ready\":false},\"nodeName\":\"edge-2\"}]}",
	    name, svc, ip1, ip2);
	return buf;
}

/* ---------------------------------------------------------------------- */

START_TEST(test_service_dr_both_orders)
{
	struct state *a, *b, *c;
	const struct pub *pa, *pb, *pc;
	struct em_object o;
	int i;

	/* Service, then DestinationRule */
	a = new_state();
	put(a, SVC_WEB, "a.yaml");
	put(a, DR_WEB, "a.yaml");
	state_commit(a);
	ck_assert_int_eq(nev, 1);
	ck_assert_int_eq(ev[0].topic, EM_TOPIC_SERVICES);
	ck_assert_str_eq(ev[0].key, "shop/web");
	ck_assert_uint_eq(ev[0].lb, EM_LB_CONSISTENT_HASH);
	ck_assert_uint_eq(ev[0].hash, EM_HASH_HEADER);
	ck_assert_str_eq(ev[0].hash_arg, "x-user");
	ck_assert_int_eq(ev[0].nports, 2);

	/* DestinationRule first: nothing to publish until the Service comes */
	b = new_state();
	put(b, DR_WEB, "b.yaml");
	state_commit(b);
	ck_assert_int_eq(nev, 0);
	ck_assert_ptr_null(published(b, EM_TOPIC_SERVICES, "shop/web"));
	put(b, SVC_WEB, "b.yaml");
	state_commit(b);
	ck_assert_int_eq(nev, 1);
	ck_assert_uint_eq(ev[0].lb, EM_LB_CONSISTENT_HASH);
	ck_assert_str_eq(ev[0].hash_arg, "x-user");

	/* Service committed alone first (round robin), then its DR */
	c = new_state();
	put(c, SVC_WEB, "c.yaml");
	state_commit(c);
	ck_assert_int_eq(nev, 1);
	ck_assert_uint_eq(ev[0].lb, EM_LB_ROUND_ROBIN);
	ck_assert_uint_eq(ev[0].hash, EM_HASH_NONE);
	put(c, DR_WEB, "c.yaml");
	state_commit(c);
	ck_assert_int_eq(nev, 2);
	ck_assert_uint_eq(ev[1].lb, EM_LB_CONSISTENT_HASH);

	/* all three publish the same bytes */
	pa = published(a, EM_TOPIC_SERVICES, "shop/web");
	pb = published(b, EM_TOPIC_SERVICES, "shop/web");
	pc = published(c, EM_TOPIC_SERVICES, "shop/web");
	ck_assert_ptr_nonnull(pa);
	ck_assert_ptr_nonnull(pb);
	ck_assert_ptr_nonnull(pc);
	ck_assert_uint_eq(pa->packed_len, pb->packed_len);
	ck_assert_mem_eq(pa->packed, pb->packed, pa->packed_len);
	ck_assert_uint_eq(pa->packed_len, pc->packed_len);
	ck_assert_mem_eq(pa->packed, pc->packed, pa->packed_len);
	unpack(pa, EM_TOPIC_SERVICES, &o);
	ck_assert_uint_eq(o.u.svc->lb, EM_LB_CONSISTENT_HASH);
	em_object_free(&o);

	/* the DR changes its policy; then it goes: back to round robin */
	nev = 0;
	put(c, DR_WEB_RANDOM, "c.yaml");
	state_commit(c);
	ck_assert_int_eq(nev, 1);
	ck_assert_uint_eq(ev[0].lb, EM_LB_RANDOM);
	state_del(c, KOBJ_DESTINATIONRULE, "shop", "web", "c.yaml");
	state_commit(c);
	ck_assert_int_eq(nev, 2);
	ck_assert_int_eq(ev[1].deleted, 0);
	ck_assert_uint_eq(ev[1].lb, EM_LB_ROUND_ROBIN);

	/* a DR of the same name in another namespace does not apply */
	put(c, DR_OTHER_NS, "c.yaml");
	state_commit(c);
	for (i = 2; i < nev; i++)
		ck_assert_str_ne(ev[i].key, "shop/web");
	unpack(published(c, EM_TOPIC_SERVICES, "shop/web"), EM_TOPIC_SERVICES, &o);
	ck_assert_uint_eq(o.u.svc->lb, EM_LB_ROUND_ROBIN);
	em_object_free(&o);
	state_free(a);
	state_free(b);
	state_free(c);
}
END_TEST

START_TEST(test_slices_joined)
{
	struct state *s = new_state();
	const struct pub *p;
	struct em_object o;
	char b1[1024], b2[1024], b3[1024];
	int i;

	put(s, slice(b1, sizeof(b1), "web-abc", "web", "10.244.1.1", "10.244.1.2"), "e.yaml");
	put(s, slice(b2, sizeof(b2), "web-def", "web", "10.244.2.1", "10.244.2.2"), "e.yaml");
	put(s, slice(b3, sizeof(b3), "api-xyz", "api", "10.244.3.1", "10.244.3.2"), "e.yaml");
	state_commit(s);
	/* one endpoints object per service, the two slices of web joined */
	ck_assert_int_eq(nev, 2);
	i = find(EM_TOPIC_ENDPOINTS, "shop/web");
	ck_assert_int_ge(i, 0);
	ck_assert_uint_eq(ev[i].neps, 4);
	ck_assert_ptr_nonnull(strstr(ev[i].ips, "10.244.1.1"));
	ck_assert_ptr_nonnull(strstr(ev[i].ips, "10.244.2.2"));
	ck_assert_ptr_null(strstr(ev[i].ips, "10.244.3."));
	i = find(EM_TOPIC_ENDPOINTS, "shop/api");
	ck_assert_int_ge(i, 0);
	ck_assert_uint_eq(ev[i].neps, 2);
	p = published(s, EM_TOPIC_ENDPOINTS, "shop/web");
	ck_assert_ptr_nonnull(p);
	unpack(p, EM_TOPIC_ENDPOINTS, &o);
	ck_assert_uint_eq(o.u.eps->nports, 1);
	ck_assert_uint_eq(o.u.eps->ports[0].port, 8080);
	em_object_free(&o);

	/* the same slices put in the other order publish the same bytes */
	{
		struct state *s2 = new_state();
		const struct pub *p2;

		put(s2, b3, "e.yaml");
		put(s2, b2, "e.yaml");
		put(s2, b1, "e.yaml");
		state_commit(s2);
		p2 = published(s2, EM_TOPIC_ENDPOINTS, "shop/web");
		ck_assert_uint_eq(p->packed_len, p2->packed_len);
		ck_assert_mem_eq(p->packed, p2->packed, p->packed_len);
		state_free(s2);
	}

	/* one slice changes: one upsert for the service, with the new set */
	nev = 0;
	put(s, slice(b2, sizeof(b2), "web-def", "web", "10.244.2.1", "10.244.2.9"), "e.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 1);
	ck_assert_str_eq(ev[0].key, "shop/web");
	ck_assert_uint_eq(ev[0].neps, 4);
	ck_assert_ptr_nonnull(strstr(ev[0].ips, "10.244.2.9"));
	ck_assert_ptr_null(strstr(ev[0].ips, "10.244.2.2"));

	/* a slice moves to another service: both services change */
	nev = 0;
	put(s, slice(b2, sizeof(b2), "web-def", "api", "10.244.2.1", "10.244.2.9"), "e.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 2);
	ck_assert_uint_eq(ev[find(EM_TOPIC_ENDPOINTS, "shop/web")].neps, 2);
	ck_assert_uint_eq(ev[find(EM_TOPIC_ENDPOINTS, "shop/api")].neps, 4);

	/* the last slice of web goes: a delete */
	nev = 0;
	state_del(s, KOBJ_ENDPOINTSLICE, "shop", "web-abc", "e.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 1);
	ck_assert_str_eq(ev[0].key, "shop/web");
	ck_assert_int_eq(ev[0].deleted, 1);
	ck_assert_ptr_null(published(s, EM_TOPIC_ENDPOINTS, "shop/web"));
	state_free(s);
}
END_TEST

START_TEST(test_delete_emits_delete)
{
	struct state *s = new_state();
	uint64_t v;

	put(s, SVC_WEB, "s.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 1);
	v = ev[0].version;
	ck_assert_uint_eq(state_raw_count(s, KOBJ_SERVICE), 1);

	/* another source cannot delete it */
	state_del(s, KOBJ_SERVICE, "shop", "web", "other.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 1);
	/* deleting what is not there: nothing */
	state_del(s, KOBJ_SERVICE, "shop", "nope", "s.yaml");
	state_del(s, KOBJ_NODE, "", "nope", "s.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 1);

	state_del(s, KOBJ_SERVICE, "shop", "web", "s.yaml");
	/* nothing is emitted before the commit */
	ck_assert_int_eq(nev, 1);
	state_commit(s);
	ck_assert_int_eq(nev, 2);
	ck_assert_int_eq(ev[1].topic, EM_TOPIC_SERVICES);
	ck_assert_str_eq(ev[1].key, "shop/web");
	ck_assert_int_eq(ev[1].deleted, 1);
	ck_assert_uint_gt(ev[1].version, v);
	ck_assert_uint_eq(state_version(s), ev[1].version);
	ck_assert_ptr_null(published(s, EM_TOPIC_SERVICES, "shop/web"));
	ck_assert_uint_eq(state_raw_count(s, KOBJ_SERVICE), 0);
	/* put then delete within one commit: nothing at all */
	nev = 0;
	put(s, SVC_WEB, "s.yaml");
	state_del(s, KOBJ_SERVICE, "shop", "web", NULL);
	state_commit(s);
	ck_assert_int_eq(nev, 0);
	state_free(s);
}
END_TEST

START_TEST(test_identical_noop)
{
	struct state *s = new_state();
	uint64_t v;
	char b1[1024];

	put(s, SVC_WEB, "s.yaml");
	put(s, DR_WEB, "s.yaml");
	put(s, slice(b1, sizeof(b1), "web-abc", "web", "10.244.1.1", "10.244.1.2"), "s.yaml");
	put(s,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"edge-2\"},"
	    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.200.0.12\"}]}}",
	    "s.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 3);
	v = state_version(s);

	/* the same objects again (a file saved unchanged) */
	nev = 0;
	put(s, SVC_WEB, "s.yaml");
	put(s, DR_WEB, "s.yaml");
	put(s, b1, "s.yaml");
	put(s,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"edge-2\"},"
	    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.200.0.12\"}]}}",
	    "s.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 0);
	ck_assert_uint_eq(state_version(s), v);
	/* the same content from another file: still nothing to publish */
	put(s, SVC_WEB, "t.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 0);
	ck_assert_uint_eq(state_version(s), v);
	/* a commit with nothing dirty */
	state_commit(s);
	ck_assert_int_eq(nev, 0);
	/* a real change does emit */
	put(s, SVC_WEB_3PORTS, "t.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 1);
	ck_assert_int_eq(ev[0].nports, 3);
	ck_assert_uint_eq(state_version(s), v + 1);
	state_free(s);
}
END_TEST

START_TEST(test_versions_increase)
{
	struct state *s = new_state();
	char b1[1024], svc[512];
	uint64_t last, start;
	int i, round, ndel = 0;

	last = start = state_version(s);
	for (round = 0; round < 5; round++) {
		for (i = 0; i < 20; i++) {
			snprintf(
			    svc, sizeof(svc),
			    "{\"apiVersion\":\"v1\",\"kind\":\"Service\","
			    "\"metadata\":{\"name\":\"s%d\",\"namespace\":\"shop\"},"
			    "\"spec\":{\"clusterIP\":\"10.96.1.%d\",\"ports\":[{\"port\":%d}]}}",
			    i, i + 1, 1000 + round);
			put(s, svc, "v.yaml");
			snprintf(b1, sizeof(b1), "10.244.%d.%d", round, i);
			put(s, slice(svc, sizeof(svc), "x", "s0", b1, "10.0.0.1"), "v.yaml");
		}
		if (round == 3) {
			for (i = 0; i < 20; i += 2) {
				snprintf(svc, sizeof(svc), "s%d", i);
				state_del(s, KOBJ_SERVICE, "shop", svc, "v.yaml");
			}
		}
		state_commit(s);
	}
	ck_assert_int_gt(nev, 100);
	for (i = 0; i < nev; i++) {
		ndel += ev[i].deleted;
		ck_assert_msg(ev[i].version > last, "event %d: version %llu after %llu", i,
			      (unsigned long long)ev[i].version, (unsigned long long)last);
		last = ev[i].version;
	}
	ck_assert_int_eq(ndel, 10);
	ck_assert_uint_eq(state_version(s), last);
	/* a new state (a controller restart) starts from the clock, not from 0 */
	{
		struct state *s2 = state_new(&cfg, emit, &ev);

		ck_assert_uint_ge(state_version(s2), start - 1);
		state_free(s2);
	}
	state_free(s);
}
END_TEST

/* Peers: a Node; the relay flag comes from the config's relayNodes. */
START_TEST(test_peers_and_self)
{
	struct state *s;
	const struct pub *p;
	int i;

	nev = 0;
	s = state_new(&cfg, emit, &ev);
	put(s,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"edge-2\"},"
	    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.200.0.12\"}]}}",
	    "n.yaml");
	put(s,
	    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"edge-3\"},"
	    "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.200.0.13\"}]}}",
	    "n.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 3);
	i = find(EM_TOPIC_SELF, "self");
	ck_assert_int_ge(i, 0);
	p = published(s, EM_TOPIC_SELF, "self");
	ck_assert_str_eq(p->obj.u.self->node, "test-node");
	ck_assert_str_eq(p->obj.u.self->domain, "cluster.local");
	i = find(EM_TOPIC_PEERS, "edge-2");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(ev[i].relay, 1);
	i = find(EM_TOPIC_PEERS, "edge-3");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(ev[i].relay, 0);
	p = published(s, EM_TOPIC_PEERS, "edge-3");
	ck_assert_uint_eq(p->obj.u.peer->naddrs, 1);
	ck_assert_str_eq(p->obj.u.peer->addrs[0], "10.200.0.13");
	state_del(s, KOBJ_NODE, "", "edge-3", "n.yaml");
	state_commit(s);
	ck_assert_int_eq(nev, 4);
	ck_assert_str_eq(ev[3].key, "edge-3");
	ck_assert_int_eq(ev[3].deleted, 1);
	state_free(s);
}
END_TEST

static Suite *
state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("state");

	tcase_add_test(tc, test_service_dr_both_orders);
	tcase_add_test(tc, test_slices_joined);
	tcase_add_test(tc, test_delete_emits_delete);
	tcase_add_test(tc, test_identical_noop);
	tcase_add_test(tc, test_versions_increase);
	tcase_add_test(tc, test_peers_and_self);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	config_defaults(&cfg);
	snprintf(cfg.node_name, sizeof(cfg.node_name), "test-node");
	snprintf(cfg.cluster_domain, sizeof(cfg.cluster_domain), "cluster.local");
	cfg.tunnel.n_relays = 1;
	snprintf(cfg.tunnel.relays[0].node_name, sizeof(cfg.tunnel.relays[0].node_name), "edge-2");
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
