/*
 * A daemon's copy of the controller's state: the objects of the topics it
 * subscribed to, kept while the controller is away and reconciled by the
 * snapshot when it comes back (objects not in the snapshot are deleted).
 */
#ifndef EM_REPLICA_H
#define EM_REPLICA_H

#include "hmap.h"
#include "ipc.h"
#include "model.h"

/* old is NULL on add, new is NULL on delete; both valid only during the call. */
typedef void (*replica_change_cb)(void *arg, enum em_topic, const char *key,
				  const struct em_object *old, const struct em_object *cur);

struct replica;
struct replica *replica_new(replica_change_cb, void *arg);
void replica_free(struct replica *);
/* Apply one controller message (SNAPSHOT_BEGIN/END, UPSERT, DELETE); -1 with err if malformed. */
int replica_apply(struct replica *, const struct ipc_msg *, char *err, size_t errlen);
const struct em_object *replica_get(const struct replica *, enum em_topic, const char *key);
size_t replica_count(const struct replica *, enum em_topic);
uint64_t replica_version(const struct replica *);
/* 1 once every subscribed topic has had a full snapshot */
int replica_synced(const struct replica *, uint32_t topics);
/* Iterate a topic: returns 1 and sets *o, 0 at the end. */
struct replica_iter {
	struct hmap_iter hi;
};
void replica_iter_init(struct replica_iter *);
int replica_next(const struct replica *, enum em_topic, struct replica_iter *,
		 const struct em_object **);

#endif
