#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "replica.h"

struct rentry {
	struct em_object obj;
	uint64_t gen;
};

struct replica {
	struct hmap *t[EM_TOPIC_COUNT];
	uint64_t gen[EM_TOPIC_COUNT];
	int in_snapshot[EM_TOPIC_COUNT];
	uint32_t synced;
	uint64_t version;
	replica_change_cb cb;
	void *arg;
};

struct replica *
replica_new(replica_change_cb cb, void *arg)
{
	struct replica *r = xcalloc(1, sizeof(*r));
	int i;

	for (i = 0; i < EM_TOPIC_COUNT; i++)
		r->t[i] = hmap_new();
	r->cb = cb;
	r->arg = arg;
	return r;
}

static void
rentry_free(void *p)
{
	struct rentry *e = p;

	em_object_free(&e->obj);
	free(e);
}

void
replica_free(struct replica *r)
{
	int i;

	if (r == NULL)
		return;
	for (i = 0; i < EM_TOPIC_COUNT; i++)
		hmap_free(r->t[i], rentry_free);
	free(r);
}

static void
replica_upsert(struct replica *r, struct em_object *o)
{
	char key[EM_KEY_LEN];
	struct rentry *e, *old;

	em_object_key(o, key, sizeof(key));
	e = xcalloc(1, sizeof(*e));
	e->obj = *o;
	e->gen = r->gen[o->topic];
	old = hmap_put(r->t[o->topic], key, e);
	if (r->cb != NULL)
		r->cb(r->arg, o->topic, key, old ? &old->obj : NULL, &e->obj);
	if (old != NULL)
		rentry_free(old);
}

static void
replica_delete(struct replica *r, enum em_topic t, const char *key)
{
	struct rentry *old;

	if ((old = hmap_del(r->t[t], key)) == NULL)
		return;
	if (r->cb != NULL)
		r->cb(r->arg, t, key, &old->obj, NULL);
	rentry_free(old);
}

/* After a snapshot: whatever it did not mention is gone. */
static void
replica_sweep(struct replica *r, enum em_topic t)
{
	struct hmap_iter it;
	const char *key;
	void *v;
	char k[EM_KEY_LEN];

	hmap_iter_init(&it);
	while (hmap_next(r->t[t], &it, &key, &v)) {
		if (((struct rentry *)v)->gen != r->gen[t]) {
			snprintf(k, sizeof(k), "%s", key);
			replica_delete(r, t, k);
		}
	}
}

int
replica_apply(struct replica *r, const struct ipc_msg *m, char *err, size_t errlen)
{
	struct em_object o;
	enum em_topic t;
	uint64_t v;
	char key[EM_KEY_LEN];

	switch (m->type) {
	case IPC_SNAPSHOT_BEGIN:
		if (ipc_unpack_snapmark(m, &t, &v, err, errlen) == -1)
			return -1;
		r->gen[t]++;
		r->in_snapshot[t] = 1;
		break;
	case IPC_SNAPSHOT_END:
		if (ipc_unpack_snapmark(m, &t, &v, err, errlen) == -1)
			return -1;
		if (!r->in_snapshot[t]) {
			snprintf(err, errlen, "SNAPSHOT_END for %s without a BEGIN",
				 em_topic_name(t));
			return -1;
		}
		r->in_snapshot[t] = 0;
		replica_sweep(r, t);
		r->synced |= EM_TOPIC_BIT(t);
		break;
	case IPC_UPSERT:
		if (ipc_unpack_upsert(m, &v, &o, err, errlen) == -1)
			return -1;
		replica_upsert(r, &o);
		break;
	case IPC_DELETE:
		if (ipc_unpack_delete(m, &t, &v, key, sizeof(key), err, errlen) == -1)
			return -1;
		replica_delete(r, t, key);
		break;
	default:
		snprintf(err, errlen, "unexpected %s from the controller", ipc_type_name(m->type));
		return -1;
	}
	if (v > r->version)
		r->version = v;
	return 0;
}

const struct em_object *
replica_get(const struct replica *r, enum em_topic t, const char *key)
{
	struct rentry *e = hmap_get(r->t[t], key);

	return e == NULL ? NULL : &e->obj;
}

size_t
replica_count(const struct replica *r, enum em_topic t)
{
	return hmap_count(r->t[t]);
}

uint64_t
replica_version(const struct replica *r)
{
	return r->version;
}

int
replica_synced(const struct replica *r, uint32_t topics)
{
	return (r->synced & topics) == topics;
}

void
replica_iter_init(struct replica_iter *it)
{
	hmap_iter_init(&it->hi);
}

int
replica_next(const struct replica *r, enum em_topic t, struct replica_iter *it,
	     const struct em_object **o)
{
	const char *key;
	void *v;

	if (!hmap_next(r->t[t], &it->hi, &key, &v))
		return 0;
	*o = &((struct rentry *)v)->obj;
	return 1;
}
