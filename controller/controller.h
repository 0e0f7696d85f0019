/* edgemesh-controller: registry sources -> state -> subscribers. */
#ifndef EM_CONTROLLER_H
#define EM_CONTROLLER_H

#include <stdio.h>

#include <msgpack.h>

#include "daemon.h"
#include "hmap.h"
#include "kobj.h"

/* A published topic object and its packed bytes (what subscribers get). */
struct pub {
	struct em_object obj; /* peers, gateways, self; NULL (u.any) for services and
				 endpoints, of which only the packed bytes are kept */
	char *packed;
	size_t packed_len;
	uint64_t version;
};

struct state;
struct alloc;
typedef void (*state_emit_cb)(void *arg, enum em_topic, uint64_t version, const char *key,
			      const struct pub *p /* NULL: deleted */);

/* ctl_state.c */
struct state *state_new(const struct em_config *, state_emit_cb, void *arg);
void state_free(struct state *);
/* Take ownership of a parsed object; `source` names where it came from (a file). */
void state_put(struct state *, struct kobj *, const char *source);
void state_del(struct state *, enum kobj_kind, const char *ns, const char *name,
	       const char *source);
/* Recompute what changed since the last commit and emit the deltas. */
void state_commit(struct state *);
/* relayNodes in the config changed: the peers' relay flags are derived again. */
void state_relays_changed(struct state *);
uint64_t state_version(const struct state *);
struct hmap *state_topic(struct state *, enum em_topic); /* key -> struct pub */
size_t state_raw_count(const struct state *, enum kobj_kind);
/* Where the raw object came from (state_put's source), NULL if absent. */
const char *state_raw_source(struct state *, enum kobj_kind, const char *ns, const char *name);
/* How many puts so far replaced an object another source had put. */
uint64_t state_takeovers(const struct state *);

/* Give file-registry Services without a clusterIP one (the state owns it). */
void state_set_alloc(struct state *, struct alloc *);

/* ctl_alloc.c: ClusterIPs from registry.serviceCIDR, keyed "ns/name" */
struct alloc *alloc_new(const char *cidr, char *err, size_t errlen);
void alloc_free(struct alloc *);
/* Read the table kept in path (saves go there too); -1: corrupt, err says where. */
int alloc_load(struct alloc *, const char *path, char *err, size_t errlen);
int alloc_save(struct alloc *, char *err, size_t errlen); /* if it changed */
const char *alloc_cidr(const struct alloc *);
size_t alloc_count(const struct alloc *);
const char *alloc_get(const struct alloc *, const char *key);
/* key's address: the one it has, else its hash and on in order; NULL: range full */
const char *alloc_assign(struct alloc *, const char *key);
int alloc_release(struct alloc *, const char *key); /* 1 if it had one */
/* An explicit clusterIP; 1 when it took the address of the Service now in displaced. */
int alloc_claim(struct alloc *, const char *ip, char *displaced, size_t len);
void alloc_unclaim(struct alloc *, const char *ip);
/* Drop the entries keep() refuses (Services gone while we were down). */
void alloc_prune(struct alloc *, int (*keep)(void *arg, const char *key), void *arg);

/* ctl_file.c: replace a file atomically (temporary file, fsync, rename) */
struct ctl_file {
	FILE *f;
	const char *path;
	char tmp[EM_PATH_MAX + 48];
};
int ctl_file_open(struct ctl_file *, const char *path); /* -1 with errno */
int ctl_file_commit(struct ctl_file *);			/* -1 with errno; tmp removed */
void ctl_file_abort(struct ctl_file *);

/* ctl_server.c */
struct server;
struct server *server_new(struct em_daemon *, const char *registry_desc);
void server_set_state(struct server *, struct state *);
void server_emit(void *arg, enum em_topic, uint64_t version, const char *key, const struct pub *);
void server_free(struct server *);
/* 0 when the daemon is live (ready: and ready), else -1; why says which. */
int server_daemon_health(struct server *, const char *name, int ready, char *why, size_t len);
void server_metrics(struct server *, struct em_textbuf *);
/*
 * The registry's health for metrics, status and doctor (see reg_kube_health)
 * and whether it has synced (the controller's readiness).
 */
typedef int (*registry_health_fn)(void *arg, char *err, size_t len, int *istio_missing);
void server_set_registry(struct server *, registry_health_fn, int (*ready)(void *), void *arg);

/* ctl_http.c: metricConfig's /metrics and health endpoints (NULL: disabled) */
struct ctl_http;
struct ctl_http *ctl_http_new(struct em_daemon *, struct server *, struct state *);
void ctl_http_free(struct ctl_http *);

/* reg_file.c: the embedded file registry */
struct reg_file;
struct reg_file *reg_file_new(struct ev_loop *, const char *dir, struct state *);
void reg_file_free(struct reg_file *);

/* reg_parse.c: a registry file's documents, parsed on worker threads */
struct doc_obj {
	int line;	/* of its document in the file */
	struct kobj *k; /* NULL: not kept (err says why, if it is an error) */
	char *err;	/* why it was skipped */
	char *warn;	/* what was accepted with a warning */
};
struct doc_chunk {
	const char *p; /* one piece of a file, starting at a "---" line */
	size_t len;
	size_t line0; /* lines before it in the file */
	int reuse;    /* not parsed: its objects stay (the bytes of old chunk `old`) */
	size_t old;
	struct doc_obj *objs; /* parsed: its objects, `kind: List` items flattened */
	size_t nobjs;
	char *err; /* why it did not parse */
};
/* Split at the "---" lines; -1 when the file must be parsed whole (directives, "..."). */
ssize_t reg_split(const char *buf, size_t len, struct doc_chunk **);
/* Start parsing the chunks not reused; workers run at most `ahead` chunks past the awaited one. */
struct parse_pool *parse_pool_start(const char *name, struct doc_chunk *, size_t n, size_t ahead);
/* Chunk i parsed (awaited in file order): 0, or -1 with its err set. */
int parse_pool_wait(struct parse_pool *, size_t i);
/* Worker threads it runs (0: parsed inline, by parse_pool_wait). */
size_t parse_pool_threads(const struct parse_pool *);
/* Stop and join the workers; what the chunks hold stays the caller's. */
void parse_pool_end(struct parse_pool *);
/* Free what a chunk holds (its objects not taken: k set to NULL when taken). */
void doc_chunk_clear(struct doc_chunk *);

/* json_arena.c: jansson's allocations on this thread from one arena, freed at once */
struct json_arena {
	struct arena_block *head;
};
/* Route jansson's allocations through the arena hooks: on the main thread,
 * before any other thread parses (json_arena_begin does it too, once). */
void json_arena_init(void);
void json_arena_begin(struct json_arena *);
void json_arena_end(struct json_arena *);

/* kube_*.c: the Kubernetes API registry (kubeAPIConfig) */
struct reg_kube;
struct reg_kube *reg_kube_new(struct ev_loop *, const struct em_config *, struct state *);
void reg_kube_free(struct reg_kube *);
int reg_kube_synced(const struct reg_kube *);
/* 1 when listed and watching with no error; err says what failed; Istio CRDs not served. */
int reg_kube_health(const struct reg_kube *, char *err, size_t len, int *istio_missing);

/* ctl_server.c: the first sample with that id in daemon's last METRICS, NULL if none */
struct em_sample;
const struct em_sample *server_daemon_sample(struct server *, const char *daemon, int id);
/* kube_nodekey.c: publish tunneld's public key as our Node's annotation (API registry) */
struct kube_nodekey *kube_nodekey_new(struct reg_kube *, struct server *, const char *node);
void kube_nodekey_free(struct kube_nodekey *);
/* kube_source.c: files the API client re-reads (for the sandbox rules) */
size_t reg_kube_files(const struct reg_kube *, const char *files[4]);
/* controller_sandbox.c */
void controller_sandbox(struct em_daemon *, const char *const *files, size_t nfiles);

#endif
