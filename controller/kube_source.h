/*
 * The Kubernetes API registry source: private declarations shared by the
 * kube_*.c files.  controller.h carries only reg_kube_new()/reg_kube_free().
 *
 *	kube_client.c	where the API is and how to authenticate (kubeAPIConfig)
 *	kube_http.c	libcurl multi driven by the libev loop
 *	kube_watch.c	per resource: list (paged) -> watch -> relist on 410
 *	kube_source.c	the watchers, commit coalescing, the disk cache,
 *			the per-credentialName Secret watches
 *	kube_util.c	the pure parts: line splitter, list scanner, relist
 *			diff, token bucket (unit-tested alone)
 */
#ifndef EM_KUBE_SOURCE_H
#define EM_KUBE_SOURCE_H

#include <sys/types.h>

#include <stdbool.h>
#include <time.h>

#include <curl/curl.h>
#include <ev.h>

#include "config.h"
#include "controller.h"
#include "hmap.h"

#define KUBE_SOURCE	"kubernetes-api" /* state_put/state_del source */
#define KUBE_SA_DIR	"/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_LINE_MAX	(16u * 1024 * 1024)  /* one watch event */
#define KUBE_LIST_MAX	(256u * 1024 * 1024) /* one list page */
#define KUBE_PAGE_LIMIT 500
#define KUBE_TOKEN_MAX	(64u * 1024)

/* kube_client.c */
enum kube_mode {
	KUBE_MODE_INCLUSTER = 0, /* service account, KUBERNETES_SERVICE_HOST */
	KUBE_MODE_KUBECONFIG,	 /* kubeAPIConfig.kubeConfig (+ master) */
	KUBE_MODE_MASTER,	 /* kubeAPIConfig.master alone */
	KUBE_MODE_METASERVER	 /* edge: KubeEdge metaServer */
};

struct kube_blob {
	char *data;
	size_t len;
};

struct kube_client {
	enum kube_mode mode;
	char server[EM_PATH_MAX];     /* scheme://host:port[/prefix], no '/' at the end */
	char token_file[EM_PATH_MAX]; /* "" if none */
	char *token;		      /* NULL if none */
	ino_t token_ino;
	struct timespec token_mtime;
	char ca_file[EM_PATH_MAX]; /* "" = system CAs */
	char cert_file[EM_PATH_MAX];
	char key_file[EM_PATH_MAX];
	struct kube_blob ca, cert, key; /* inline *-data of a kubeconfig */
	bool insecure;
	char desc[EM_PATH_MAX + 64]; /* for logs */
};

const char *kube_mode_name(enum kube_mode);
int kube_client_init(struct kube_client *, const struct em_config *, char *err, size_t errlen);
void kube_client_free(struct kube_client *);
/* Re-read the token file if it changed (projected tokens rotate). */
void kube_client_token(struct kube_client *);
/* Set URL-independent options (TLS, auth); *hdrs gets the headers. */
void kube_client_setup(struct kube_client *, CURL *, struct curl_slist **hdrs);

/* kube_http.c */
struct kube_http;
struct kube_req;
/* The response body as it arrives; status is the HTTP status.  -1 aborts. */
typedef int (*kube_data_cb)(void *arg, long status, const char *buf, size_t len);
/* The end: curl result, HTTP status (0 if none), curl's error text. */
typedef void (*kube_done_cb)(void *arg, CURLcode, long status, const char *err);

/* qps, burst: kubeAPIConfig.qps/burst, a token bucket on request starts */
struct kube_http *kube_http_new(struct ev_loop *, double qps, double burst);
void kube_http_free(struct kube_http *);
/*
 * GET server+path.  stall: abort when no byte came for that many seconds;
 * total: abort after that many seconds (0: no limit).  The callbacks run
 * from the loop, never from inside kube_http_get().
 */
struct kube_req *kube_http_get(struct kube_http *, struct kube_client *, const char *path,
			       long stall, long total, kube_data_cb, kube_done_cb, void *arg);
/* PATCH server+path with a JSON merge patch (the same callbacks as a GET). */
struct kube_req *kube_http_patch(struct kube_http *, struct kube_client *, const char *path,
				 const char *patch, long total, kube_data_cb, kube_done_cb,
				 void *arg);
/* Abort a request; its callbacks are not called any more. */
void kube_http_cancel(struct kube_http *, struct kube_req *);
/* Requests started / waiting for a token (tests, logs). */
unsigned long kube_http_started(const struct kube_http *);
size_t kube_http_queued(const struct kube_http *);

/* kube_watch.c */
struct reg_kube;
struct kube_watch;
struct kube_res {
	const char *name; /* "services" */
	const char *path; /* "/api/v1/services" */
	const char *api;  /* apiVersion of the items: "v1" */
	const char *kind; /* "Service" */
	enum kobj_kind kkind;
	const char *query;		 /* extra list/watch parameters or NULL */
	int optional;			 /* 404: not served, treat as empty */
	int cache;			 /* may be written to the disk cache */
	const struct kube_res *fallback; /* 404: use this one instead */
};
struct kube_watch *kube_watch_new(struct reg_kube *, const struct kube_res *);
void kube_watch_free(struct kube_watch *);
void kube_watch_start(struct kube_watch *);
void kube_watch_disable(struct kube_watch *); /* counts as synced */
/* Seed from the disk cache: the object counts as known (relist deletes it). */
int kube_watch_seed(struct kube_watch *, json_t *obj);
int kube_watch_synced(const struct kube_watch *);
enum kobj_kind kube_watch_kind(const struct kube_watch *);
size_t kube_watch_count(const struct kube_watch *);
int kube_watch_absent(const struct kube_watch *);	 /* optional, not served (404) */
const char *kube_watch_error(const struct kube_watch *); /* the last list error, or "" */
/* Is obj (key, resourceVersion) the version we hold?  For the disk cache. */
int kube_watch_holds(const struct kube_watch *, const char *key, const char *rv);
/* Delete every object this watch put (a Secret no Gateway names any more). */
void kube_watch_forget(struct kube_watch *);
/* "kind/ns/name" of an object, the key of `known`; -1 if it has none. */
int kube_obj_key(const json_t *obj, char *key, size_t len);

/* kube_source.c: what the watchers call back */
struct ev_loop *kube_loop(struct reg_kube *);
struct kube_http *kube_http(struct reg_kube *);
struct kube_client *kube_client(struct reg_kube *);
struct state *kube_state(struct reg_kube *);
long kube_watch_timeout(struct reg_kube *);
/* Something was put or deleted: commit soon (same loop iteration). */
void kube_dirty(struct reg_kube *);
void kube_synced(struct reg_kube *, struct kube_watch *);
/* A new version of a cacheable object: append it to the cache journal. */
void kube_cache_put(struct reg_kube *, const json_t *obj);
/* A Gateway was put (its credentialNames) or deleted (gw NULL). */
void kube_gateway_refs(struct reg_kube *, const char *ns, const char *name,
		       const struct kobj_gateway *gw);

/* kube_util.c */
/* Append n bytes to a NUL-terminated buffer of at most max bytes (the first
 * allocation first bytes, doubling); -1 when they would not fit. */
int kube_buf_append(char **buf, size_t *len, size_t *cap, size_t max, size_t first, const char *p,
		    size_t n);
/* A watch body split into lines; line NULL: one longer than max was dropped. */
typedef int (*kube_line_cb)(void *arg, const char *line, size_t len);
struct kube_lines {
	char *buf;
	size_t len, cap, max;
	int skipping; /* inside an over-long line */
};
void kube_lines_init(struct kube_lines *, size_t max);
void kube_lines_reset(struct kube_lines *);
/* -1 when cb returned -1 (the rest of the data is not looked at). */
int kube_lines_feed(struct kube_lines *, const char *p, size_t n, kube_line_cb, void *arg);
/*
 * A list body: cb gets each element of "items" as JSON text; *meta the
 * other top-level members (metadata, kind...).  -1 and err on bad JSON.
 */
typedef void (*kube_item_cb)(void *arg, const char *item, size_t len);
int kube_list_scan(const char *buf, size_t len, json_t **meta, kube_item_cb, void *arg, char *err,
		   size_t errlen);
typedef void (*kube_key_cb)(void *arg, const char *key);
/* del(key) for every key of known that is not in seen; how many. */
size_t kube_known_diff(const struct hmap *known, const struct hmap *seen, kube_key_cb del,
		       void *arg);
struct kube_bucket {
	double rate, burst, tokens, last;
};
void kube_bucket_init(struct kube_bucket *, double qps, double burst, double now);
/* 0: take a token now; else the seconds until one is there. */
double kube_bucket_take(struct kube_bucket *, double now);
void kube_urlenc(char *out, size_t len, const char *s);

#endif
