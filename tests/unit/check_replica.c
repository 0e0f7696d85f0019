/*
 * replica: a daemon's copy of the controller's state.  Snapshots (objects
 * the snapshot does not mention are swept with a delete callback, per
 * topic), deltas, malformed messages (refused, nothing changes), and a
 * resync after a snapshot that was cut off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "ipc.h"
#include "mp.h"
#include "replica.h"

#define ERRLEN 512
#define MAXEV  64

enum ev_kind { EV_ADD, EV_CHANGE, EV_DELETE };

struct event {
	enum ev_kind kind;
	enum em_topic topic;
	char key[EM_KEY_LEN];
	int old_port, new_port; /* services: first port; -1 when none */
};

static struct event events[MAXEV];
static int nevents;

static int
first_port(const struct em_object *o)
{
	if (o == NULL)
		return -1;
	if (o->topic == EM_TOPIC_SERVICES && o->u.svc->nports > 0)
		return o->u.svc->ports[0].port;
	if (o->topic == EM_TOPIC_ENDPOINTS)
		return (int)o->u.eps->neps;
	return 0;
}

static void
on_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
	  const struct em_object *cur)
{
	struct event *e;
	char k[EM_KEY_LEN];

	ck_assert_ptr_eq(arg, &events);
	ck_assert(old != NULL || cur != NULL);
	/* the objects are whole and match the key during the call */
	if (old != NULL) {
		ck_assert_int_eq(old->topic, t);
		ck_assert_str_eq(em_object_key(old, k, sizeof(k)), key);
	}
	if (cur != NULL) {
		ck_assert_int_eq(cur->topic, t);
		ck_assert_str_eq(em_object_key(cur, k, sizeof(k)), key);
	}
	ck_assert_int_lt(nevents, MAXEV);
	e = &events[nevents++];
	e->kind = old == NULL ? EV_ADD : cur == NULL ? EV_DELETE : EV_CHANGE;
	e->topic = t;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->old_port = first_port(old);
	e->new_port = first_port(cur);
}

static struct replica *
new_replica(void)
{
	nevents = 0;
	memset(events, 0, sizeof(events));
	return replica_new(on_change, &events);
}

/* Find the event for a key, -1 if none. */
static int
find_event(enum ev_kind kind, enum em_topic t, const char *key)
{
	int i;

	for (i = 0; i < nevents; i++)
		if (events[i].kind == kind && events[i].topic == t &&
		    strcmp(events[i].key, key) == 0)
			return i;
	return -1;
}

static int
count_events(enum ev_kind kind)
{
	int i, n = 0;

	for (i = 0; i < nevents; i++)
		n += events[i].kind == kind;
	return n;
}

/* ---------------------------------------------------------------------- */
/* building controller messages */

struct pbuf {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static void
pb_init(struct pbuf *b)
{
	msgpack_sbuffer_init(&b->sb);
	msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

/* Apply a packed message as the replica would get it off the wire; returns replica_apply's. */
static int
apply_packed(struct replica *r, uint16_t type, struct pbuf *b, char *err)
{
	struct ipc_msg m;
	uint8_t *payload;
	int rc;

	memset(&m, 0, sizeof(m));
	m.fd = -1;
	payload = malloc(b->sb.size);
	memcpy(payload, b->sb.data, b->sb.size);
	msgpack_sbuffer_destroy(&b->sb);
	err[0] = '\0';
	if (ipc_msg_parse(&m, type, payload, b->sb.size, err, ERRLEN) == -1)
		ck_abort_msg("parse: %s", err);
	m.owned = payload;
	rc = replica_apply(r, &m, err, ERRLEN);
	ipc_msg_clear(&m);
	return rc;
}

static void
apply_ok(struct replica *r, uint16_t type, struct pbuf *b)
{
	char err[ERRLEN];

	if (apply_packed(r, type, b, err) == -1)
		ck_abort_msg("replica_apply(%s): %s", ipc_type_name(type), err);
}

static void
snap_begin(struct replica *r, enum em_topic t, uint64_t v)
{
	struct pbuf b;

	pb_init(&b);
	ipc_pack_snapmark(&b.pk, t, v);
	apply_ok(r, IPC_SNAPSHOT_BEGIN, &b);
}

static void
snap_end(struct replica *r, enum em_topic t, uint64_t v)
{
	struct pbuf b;

	pb_init(&b);
	ipc_pack_snapmark(&b.pk, t, v);
	apply_ok(r, IPC_SNAPSHOT_END, &b);
}

static struct em_object
svc(const char *ns, const char *name, uint16_t port)
{
	struct em_object o;
	struct em_service *s = xcalloc(1, sizeof(*s));

	s->ns = xstrdup(ns);
	s->name = xstrdup(name);
	s->cluster_ip = xstrdup("10.96.0.1");
	s->external_name = xstrdup("");
	s->hash_arg = xstrdup("");
	s->nports = 1;
	s->ports = xcalloc(1, sizeof(*s->ports));
	s->ports[0].name = xstrdup("");
	s->ports[0].target_port_name = xstrdup("");
	s->ports[0].port = port;
	s->ports[0].target_port = port;
	o.topic = EM_TOPIC_SERVICES;
	o.u.svc = s;
	return o;
}

static struct em_object
eps(const char *ns, const char *name, size_t n)
{
	struct em_object o;
	struct em_endpoints *e = xcalloc(1, sizeof(*e));
	char ip[32];
	size_t i;

	e->ns = xstrdup(ns);
	e->name = xstrdup(name);
	e->neps = n;
	e->eps = xcalloc(n, sizeof(*e->eps));
	for (i = 0; i < n; i++) {
		snprintf(ip, sizeof(ip), "10.244.0.%zu", i + 1);
		e->eps[i].ip = xstrdup(ip);
		e->eps[i].node = xstrdup("edge-1");
		e->eps[i].hostname = xstrdup("");
		e->eps[i].zone = xstrdup("");
		e->eps[i].pod = xstrdup("");
		e->eps[i].ready = true;
	}
	o.topic = EM_TOPIC_ENDPOINTS;
	o.u.eps = e;
	return o;
}

/* UPSERT of o (freed here). */
static int
upsert(struct replica *r, struct em_object o, uint64_t v, char *err)
{
	struct pbuf b;
	char key[EM_KEY_LEN];

	pb_init(&b);
	ipc_pack_upsert_head(&b.pk, o.topic, v, em_object_key(&o, key, sizeof(key)));
	ipc_pack_object(&b.pk, &o);
	em_object_free(&o);
	return apply_packed(r, IPC_UPSERT, &b, err);
}

static void
upsert_ok(struct replica *r, struct em_object o, uint64_t v)
{
	char err[ERRLEN];

	if (upsert(r, o, v, err) == -1)
		ck_abort_msg("upsert: %s", err);
}

static void
del_ok(struct replica *r, enum em_topic t, const char *key, uint64_t v)
{
	struct pbuf b;

	pb_init(&b);
	ipc_pack_delete(&b.pk, t, v, key);
	apply_ok(r, IPC_DELETE, &b);
}

static int
svc_port(const struct replica *r, const char *key)
{
	const struct em_object *o = replica_get(r, EM_TOPIC_SERVICES, key);

	return o == NULL ? -1 : o->u.svc->ports[0].port;
}

/* ---------------------------------------------------------------------- */

START_TEST(test_snapshot_initial)
{
	const uint32_t svcs = EM_TOPIC_BIT(EM_TOPIC_SERVICES);
	const uint32_t both = svcs | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
	struct replica *r = new_replica();

	ck_assert_uint_eq(replica_version(r), 0);
	ck_assert(!replica_synced(r, svcs));
	ck_assert(replica_synced(r, 0));
	snap_begin(r, EM_TOPIC_SERVICES, 100);
	upsert_ok(r, svc("default", "a", 80), 90);
	upsert_ok(r, svc("default", "b", 81), 95);
	upsert_ok(r, svc("shop", "a", 82), 97);
	ck_assert(!replica_synced(r, svcs)); /* not before the END */
	snap_end(r, EM_TOPIC_SERVICES, 100);
	ck_assert(replica_synced(r, svcs));
	ck_assert(!replica_synced(r, both));
	ck_assert_int_eq(nevents, 3);
	ck_assert_int_eq(count_events(EV_ADD), 3);
	ck_assert_int_ge(find_event(EV_ADD, EM_TOPIC_SERVICES, "shop/a"), 0);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 3);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_ENDPOINTS), 0);
	ck_assert_int_eq(svc_port(r, "default/b"), 81);
	ck_assert_ptr_null(replica_get(r, EM_TOPIC_SERVICES, "b"));
	ck_assert_ptr_null(replica_get(r, EM_TOPIC_ENDPOINTS, "default/a"));
	ck_assert_uint_eq(replica_version(r), 100);
	/* an empty snapshot of another topic syncs it */
	snap_begin(r, EM_TOPIC_ENDPOINTS, 100);
	snap_end(r, EM_TOPIC_ENDPOINTS, 100);
	ck_assert(replica_synced(r, both));
	ck_assert_int_eq(nevents, 3);
	replica_free(r);
}
END_TEST

/* A second snapshot: what it does not mention is swept, with a delete callback. */
START_TEST(test_snapshot_sweep)
{
	struct replica *r = new_replica();
	int i;

	snap_begin(r, EM_TOPIC_SERVICES, 10);
	upsert_ok(r, svc("default", "a", 80), 1);
	upsert_ok(r, svc("default", "b", 81), 2);
	upsert_ok(r, svc("default", "c", 82), 3);
	snap_end(r, EM_TOPIC_SERVICES, 10);
	nevents = 0;

	snap_begin(r, EM_TOPIC_SERVICES, 20);
	upsert_ok(r, svc("default", "b", 8081), 15); /* changed */
	upsert_ok(r, svc("default", "d", 83), 16);   /* new */
	/* nothing is swept before the END */
	ck_assert_int_eq(count_events(EV_DELETE), 0);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 4);
	snap_end(r, EM_TOPIC_SERVICES, 20);

	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 2);
	ck_assert_int_eq(count_events(EV_DELETE), 2);
	ck_assert_int_eq(count_events(EV_ADD), 1);
	i = find_event(EV_DELETE, EM_TOPIC_SERVICES, "default/a");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(events[i].old_port, 80); /* the old object, still whole */
	ck_assert_int_ge(find_event(EV_DELETE, EM_TOPIC_SERVICES, "default/c"), 0);
	ck_assert_int_ge(find_event(EV_ADD, EM_TOPIC_SERVICES, "default/d"), 0);
	i = find_event(EV_CHANGE, EM_TOPIC_SERVICES, "default/b");
	ck_assert_int_ge(i, 0);
	ck_assert_int_eq(events[i].old_port, 81);
	ck_assert_int_eq(events[i].new_port, 8081);
	ck_assert_ptr_null(replica_get(r, EM_TOPIC_SERVICES, "default/a"));
	ck_assert_int_eq(svc_port(r, "default/b"), 8081);
	ck_assert_int_eq(svc_port(r, "default/d"), 83);
	ck_assert_uint_eq(replica_version(r), 20);

	/* an empty snapshot empties the topic */
	nevents = 0;
	snap_begin(r, EM_TOPIC_SERVICES, 30);
	snap_end(r, EM_TOPIC_SERVICES, 30);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 0);
	ck_assert_int_eq(count_events(EV_DELETE), 2);
	replica_free(r);
}
END_TEST

/* A snapshot of one topic leaves the others alone. */
START_TEST(test_snapshot_per_topic)
{
	struct replica *r = new_replica();

	snap_begin(r, EM_TOPIC_SERVICES, 10);
	upsert_ok(r, svc("default", "a", 80), 1);
	snap_end(r, EM_TOPIC_SERVICES, 10);
	snap_begin(r, EM_TOPIC_ENDPOINTS, 10);
	upsert_ok(r, eps("default", "a", 3), 2);
	snap_end(r, EM_TOPIC_ENDPOINTS, 10);
	nevents = 0;
	/* services again, without a: endpoints keep default/a */
	snap_begin(r, EM_TOPIC_SERVICES, 20);
	snap_end(r, EM_TOPIC_SERVICES, 20);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 0);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_ENDPOINTS), 1);
	ck_assert_int_eq(nevents, 1);
	ck_assert_int_ge(find_event(EV_DELETE, EM_TOPIC_SERVICES, "default/a"), 0);
	/* the same key in two topics: two objects */
	upsert_ok(r, svc("default", "a", 80), 21);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 1);
	ck_assert_uint_eq(replica_get(r, EM_TOPIC_ENDPOINTS, "default/a")->u.eps->neps, 3);
	replica_free(r);
}
END_TEST

START_TEST(test_deltas)
{
	struct replica *r = new_replica();
	int i;

	snap_begin(r, EM_TOPIC_SERVICES, 10);
	snap_end(r, EM_TOPIC_SERVICES, 10);
	upsert_ok(r, svc("default", "a", 80), 11);
	ck_assert_int_eq(nevents, 1);
	ck_assert_int_eq(events[0].kind, EV_ADD);
	ck_assert_int_eq(events[0].new_port, 80);
	ck_assert_uint_eq(replica_version(r), 11);
	upsert_ok(r, svc("default", "a", 81), 12);
	ck_assert_int_eq(nevents, 2);
	ck_assert_int_eq(events[1].kind, EV_CHANGE);
	ck_assert_int_eq(events[1].old_port, 80);
	ck_assert_int_eq(events[1].new_port, 81);
	ck_assert_int_eq(svc_port(r, "default/a"), 81);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 1);
	upsert_ok(r, eps("default", "a", 2), 13);
	ck_assert_int_eq(nevents, 3);
	del_ok(r, EM_TOPIC_SERVICES, "default/a", 14);
	ck_assert_int_eq(nevents, 4);
	i = find_event(EV_DELETE, EM_TOPIC_SERVICES, "default/a");
	ck_assert_int_eq(i, 3);
	ck_assert_int_eq(events[i].old_port, 81);
	ck_assert_ptr_null(replica_get(r, EM_TOPIC_SERVICES, "default/a"));
	ck_assert_ptr_nonnull(replica_get(r, EM_TOPIC_ENDPOINTS, "default/a"));
	ck_assert_uint_eq(replica_version(r), 14);
	/* deleting what is not there: no callback, the version still moves */
	del_ok(r, EM_TOPIC_SERVICES, "default/a", 15);
	del_ok(r, EM_TOPIC_PEERS, "nobody", 16);
	ck_assert_int_eq(nevents, 4);
	ck_assert_uint_eq(replica_version(r), 16);
	/* an older version never lowers it */
	upsert_ok(r, svc("default", "z", 1), 3);
	ck_assert_uint_eq(replica_version(r), 16);
	/* deltas for a key survive the next snapshot only if it lists them */
	snap_begin(r, EM_TOPIC_SERVICES, 20);
	upsert_ok(r, svc("default", "z", 1), 17);
	snap_end(r, EM_TOPIC_SERVICES, 20);
	ck_assert_int_eq(svc_port(r, "default/z"), 1);
	replica_free(r);
}
END_TEST

/* Malformed messages are refused with a reason, and nothing changes. */
START_TEST(test_malformed)
{
	struct replica *r = new_replica();
	struct pbuf b;
	struct em_object o;
	char err[ERRLEN], key[EM_KEY_LEN];

	snap_begin(r, EM_TOPIC_SERVICES, 10);
	upsert_ok(r, svc("default", "a", 80), 1);
	snap_end(r, EM_TOPIC_SERVICES, 10);
	nevents = 0;

	/* UPSERT: a string where the version goes */
	pb_init(&b);
	msgpack_pack_array(&b.pk, 4);
	msgpack_pack_uint8(&b.pk, EM_TOPIC_SERVICES);
	mp_pack_str(&b.pk, "11");
	mp_pack_str(&b.pk, "default/a");
	o = svc("default", "a", 99);
	ipc_pack_object(&b.pk, &o);
	em_object_free(&o);
	ck_assert_int_eq(apply_packed(r, IPC_UPSERT, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "UPSERT"));

	/* UPSERT: the object is one field short */
	pb_init(&b);
	ipc_pack_upsert_head(&b.pk, EM_TOPIC_SERVICES, 11, "default/a");
	msgpack_pack_array(&b.pk, 2);
	mp_pack_str(&b.pk, "default");
	mp_pack_str(&b.pk, "a");
	ck_assert_int_eq(apply_packed(r, IPC_UPSERT, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "service"));

	/* UPSERT: key and object disagree */
	pb_init(&b);
	o = svc("default", "b", 99);
	ipc_pack_upsert_head(&b.pk, EM_TOPIC_SERVICES, 11, "default/a");
	ipc_pack_object(&b.pk, &o);
	em_object_free(&o);
	ck_assert_int_eq(apply_packed(r, IPC_UPSERT, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "does not match"));

	/* UPSERT: a service packed under the endpoints topic */
	pb_init(&b);
	o = svc("default", "a", 99);
	ipc_pack_upsert_head(&b.pk, EM_TOPIC_ENDPOINTS, 11, em_object_key(&o, key, sizeof(key)));
	ipc_pack_object(&b.pk, &o);
	em_object_free(&o);
	ck_assert_int_eq(apply_packed(r, IPC_UPSERT, &b, err), -1);

	/* DELETE: a topic that does not exist, a negative version */
	pb_init(&b);
	ipc_pack_delete(&b.pk, (enum em_topic)9, 11, "default/a");
	ck_assert_int_eq(apply_packed(r, IPC_DELETE, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "DELETE"));
	pb_init(&b);
	msgpack_pack_array(&b.pk, 3);
	msgpack_pack_uint8(&b.pk, EM_TOPIC_SERVICES);
	msgpack_pack_int8(&b.pk, -1);
	mp_pack_str(&b.pk, "default/a");
	ck_assert_int_eq(apply_packed(r, IPC_DELETE, &b, err), -1);

	/* SNAPSHOT_END without a BEGIN; a BEGIN with an extra field */
	pb_init(&b);
	ipc_pack_snapmark(&b.pk, EM_TOPIC_PEERS, 11);
	ck_assert_int_eq(apply_packed(r, IPC_SNAPSHOT_END, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "without a BEGIN"));
	pb_init(&b);
	msgpack_pack_array(&b.pk, 3);
	msgpack_pack_uint8(&b.pk, EM_TOPIC_SERVICES);
	msgpack_pack_uint64(&b.pk, 11);
	msgpack_pack_nil(&b.pk);
	ck_assert_int_eq(apply_packed(r, IPC_SNAPSHOT_BEGIN, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "SNAPSHOT_BEGIN"));

	/* a message the controller does not send on this channel */
	pb_init(&b);
	ipc_pack_empty(&b.pk);
	ck_assert_int_eq(apply_packed(r, IPC_STATUS_REQ, &b, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unexpected"));

	/* nothing changed */
	ck_assert_int_eq(nevents, 0);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 1);
	ck_assert_int_eq(svc_port(r, "default/a"), 80);
	ck_assert_uint_eq(replica_version(r), 10);
	ck_assert(!replica_synced(r, EM_TOPIC_BIT(EM_TOPIC_PEERS)));
	/* a refused BEGIN did not open a snapshot: a later END is still refused */
	pb_init(&b);
	ipc_pack_snapmark(&b.pk, EM_TOPIC_SERVICES, 11);
	apply_ok(r, IPC_SNAPSHOT_BEGIN, &b);
	snap_end(r, EM_TOPIC_SERVICES, 11);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 0);
	replica_free(r);
}
END_TEST

/*
 * The connection drops in the middle of a snapshot; the daemon keeps what
 * it had (nothing swept); the next full snapshot reconciles everything.
 */
START_TEST(test_resync)
{
	const uint32_t topics = EM_TOPIC_BIT(EM_TOPIC_SERVICES) | EM_TOPIC_BIT(EM_TOPIC_ENDPOINTS);
	struct replica *r = new_replica();

	snap_begin(r, EM_TOPIC_SERVICES, 10);
	upsert_ok(r, svc("default", "a", 80), 1);
	upsert_ok(r, svc("default", "b", 81), 2);
	upsert_ok(r, svc("default", "c", 82), 3);
	snap_end(r, EM_TOPIC_SERVICES, 10);
	snap_begin(r, EM_TOPIC_ENDPOINTS, 10);
	upsert_ok(r, eps("default", "a", 1), 4);
	snap_end(r, EM_TOPIC_ENDPOINTS, 10);
	ck_assert(replica_synced(r, topics));

	/* reconnect 1: cut off after one object */
	nevents = 0;
	snap_begin(r, EM_TOPIC_SERVICES, 50);
	upsert_ok(r, svc("default", "a", 8080), 45);
	/* ... connection lost: the last known state is still served */
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 3);
	ck_assert_int_eq(count_events(EV_DELETE), 0);
	ck_assert(replica_synced(r, topics)); /* it was synced once; it keeps serving */

	/* reconnect 2: the full snapshot (the controller restarted: b is gone, d is new) */
	nevents = 0;
	snap_begin(r, EM_TOPIC_SERVICES, 60);
	upsert_ok(r, svc("default", "c", 82), 3);
	upsert_ok(r, svc("default", "d", 83), 55);
	snap_end(r, EM_TOPIC_SERVICES, 60);
	snap_begin(r, EM_TOPIC_ENDPOINTS, 60);
	upsert_ok(r, eps("default", "a", 2), 56);
	snap_end(r, EM_TOPIC_ENDPOINTS, 60);
	ck_assert(replica_synced(r, topics));
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 2);
	ck_assert_ptr_null(replica_get(r, EM_TOPIC_SERVICES, "default/a"));
	ck_assert_ptr_null(replica_get(r, EM_TOPIC_SERVICES, "default/b"));
	ck_assert_int_eq(svc_port(r, "default/c"), 82);
	ck_assert_int_eq(svc_port(r, "default/d"), 83);
	ck_assert_uint_eq(replica_get(r, EM_TOPIC_ENDPOINTS, "default/a")->u.eps->neps, 2);
	ck_assert_int_ge(find_event(EV_DELETE, EM_TOPIC_SERVICES, "default/a"), 0);
	ck_assert_int_ge(find_event(EV_DELETE, EM_TOPIC_SERVICES, "default/b"), 0);
	ck_assert_int_ge(find_event(EV_ADD, EM_TOPIC_SERVICES, "default/d"), 0);
	ck_assert_int_ge(find_event(EV_CHANGE, EM_TOPIC_ENDPOINTS, "default/a"), 0);
	ck_assert_int_eq(count_events(EV_DELETE), 2);
	ck_assert_uint_eq(replica_version(r), 60);
	replica_free(r);
}
END_TEST

START_TEST(test_iterate)
{
	struct replica *r = new_replica();
	struct replica_iter it;
	const struct em_object *o;
	char name[16];
	int i, n = 0, seen[50] = {0};

	snap_begin(r, EM_TOPIC_SERVICES, 1);
	for (i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		upsert_ok(r, svc("ns", name, (uint16_t)(1000 + i)), 1);
	}
	snap_end(r, EM_TOPIC_SERVICES, 1);
	replica_iter_init(&it);
	while (replica_next(r, EM_TOPIC_SERVICES, &it, &o)) {
		i = o->u.svc->ports[0].port - 1000;
		ck_assert_int_ge(i, 0);
		ck_assert_int_lt(i, 50);
		ck_assert_int_eq(seen[i]++, 0);
		n++;
	}
	ck_assert_int_eq(n, 50);
	replica_iter_init(&it);
	ck_assert_int_eq(replica_next(r, EM_TOPIC_PEERS, &it, &o), 0);
	replica_free(r);
	replica_free(NULL);
}
END_TEST

/* Without a callback the replica works the same. */
START_TEST(test_no_callback)
{
	struct replica *r = replica_new(NULL, NULL);

	snap_begin(r, EM_TOPIC_SERVICES, 1);
	upsert_ok(r, svc("a", "b", 1), 1);
	upsert_ok(r, svc("a", "b", 2), 1);
	snap_end(r, EM_TOPIC_SERVICES, 1);
	del_ok(r, EM_TOPIC_SERVICES, "a/b", 2);
	snap_begin(r, EM_TOPIC_SERVICES, 3);
	upsert_ok(r, svc("a", "c", 1), 3);
	snap_end(r, EM_TOPIC_SERVICES, 3);
	snap_begin(r, EM_TOPIC_SERVICES, 4);
	snap_end(r, EM_TOPIC_SERVICES, 4);
	ck_assert_uint_eq(replica_count(r, EM_TOPIC_SERVICES), 0);
	replica_free(r);
}
END_TEST

static Suite *
replica_suite(void)
{
	Suite *s = suite_create("replica");
	TCase *tc = tcase_create("replica");

	tcase_add_test(tc, test_snapshot_initial);
	tcase_add_test(tc, test_snapshot_sweep);
	tcase_add_test(tc, test_snapshot_per_topic);
	tcase_add_test(tc, test_deltas);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_resync);
	tcase_add_test(tc, test_iterate);
	tcase_add_test(tc, test_no_callback);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(replica_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
