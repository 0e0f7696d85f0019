/*
 * One resource of the Kubernetes API: list it (limit=500 pages with
 * continue), then watch from the list's resourceVersion with bookmarks,
 * re-watching from the last version seen when the stream ends, stalls or
 * breaks, and relisting on 410 Gone (HTTP status or in-stream ERROR).
 *
 *	IDLE -> LIST (pages) -> WATCH -> (end, stall, error) -> WATCH
 *	                 ^          | 410
 *	                 +----------+
 *
 * Every object we put is remembered by kind/ns/name (`known`) with its
 * resourceVersion only, so a relist ends with deletes for exactly the
 * objects that vanished meanwhile, an item whose version we hold is not
 * parsed or put again, and a restart seeded from the disk cache converges
 * the same way.  List pages are scanned item by item (kube_list_scan): no
 * tree of a whole page is ever built.  A malformed
 * object is logged and skipped (its last good version stays); an invalid
 * line in a watch stream ends that watch, and the next one resumes from
 * the last good resourceVersion, so nothing is lost or applied twice.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_source.h"
#include "log.h"

#define KW_BACKOFF_MIN_MS   500
#define KW_BACKOFF_MAX_MS   30000
#define KW_OPTIONAL_RECHECK 60. /* seconds between lists of an absent CRD */
#define KW_ERRBODY_MAX	    4096
#define KW_LIST_STALL	    30	/* seconds without a byte */
#define KW_LIST_TOTAL	    300 /* seconds for one page */

enum kw_state { KW_IDLE = 0, KW_LIST, KW_WATCH, KW_WAIT };
enum kw_next { KW_NEXT_LIST = 0, KW_NEXT_WATCH };

struct kube_watch {
	struct reg_kube *rk;
	const struct kube_res *res; /* the one in use (maybe the fallback) */
	enum kw_state st;
	struct kube_req *req;
	char rv[256];	    /* resume point: list, event or bookmark */
	char *cont;	    /* list continue token */
	struct hmap *known; /* "kind/ns/name" -> resourceVersion */
	struct hmap *seen;  /* during a list: what it returned so far */
	char *buf;	    /* list (or error) body */
	size_t len, cap;
	struct kube_lines lines; /* the watch's current line */
	int seeding;		 /* from the disk cache: not journaled */
	int gone;		 /* the stream said 410 */
	int broken;		 /* the stream sent something invalid */
	int synced;
	unsigned nevents; /* in this watch */
	unsigned backoff_ms;
	enum kw_next next;
	ev_timer retry;
	ev_tstamp started;
	ev_tstamp last_gone; /* the last relist for a 410 */
	int absent;	     /* optional and not served (404) */
	char error[200];     /* the last list error, "" after a good list */
};

static void kw_list_begin(struct kube_watch *);
static void kw_watch_begin(struct kube_watch *);

static void
kw_buf_reset(struct kube_watch *kw)
{
	free(kw->buf);
	kw->buf = NULL;
	kw->len = kw->cap = 0;
	kube_lines_reset(&kw->lines);
}

static int
kw_buf_add(struct kube_watch *kw, const char *p, size_t n, size_t max)
{
	return kube_buf_append(&kw->buf, &kw->len, &kw->cap, max, 16384, p, n);
}

static const char *
kw_meta(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static void
kw_key(char *buf, size_t len, int kind, const char *ns, const char *name)
{
	snprintf(buf, len, "%d/%s/%s", kind, ns, name);
}

int
kube_obj_key(const json_t *obj, char *key, size_t len)
{
	const char *ns = kw_meta(obj, "namespace"), *name = kw_meta(obj, "name");
	int kind = kobj_kind_of(obj);

	if (kind == -1 || name == NULL)
		return -1;
	kw_key(key, len, kind, ns ? ns : "", name);
	return 0;
}

/* "kind/ns/name" -> its parts (ns may be ""); 0 or -1. */
static int
kw_key_split(const char *key, int *kind, char *ns, size_t nslen, const char **name)
{
	const char *a, *b;

	if ((a = strchr(key, '/')) == NULL || (b = strchr(a + 1, '/')) == NULL)
		return -1;
	*kind = atoi(key);
	snprintf(ns, nslen, "%.*s", (int)(b - a - 1), a + 1);
	*name = b + 1;
	return 0;
}

/* List items carry no apiVersion/kind: the list's kind says what they are. */
static void
kw_set_kind(const struct kube_res *res, json_t *obj)
{
	if (!json_is_string(json_object_get(obj, "apiVersion")))
		json_object_set_new(obj, "apiVersion", json_string(res->api));
	if (!json_is_string(json_object_get(obj, "kind")))
		json_object_set_new(obj, "kind", json_string(res->kind));
}

/* Put one object; remember it in map.  -1: skipped. */
static int
kw_apply(struct kube_watch *kw, json_t *obj, struct hmap *map)
{
	struct kobj_diag diag;
	struct kobj *k = NULL;
	const char *ns, *name, *rv, *old;
	char key[EM_KEY_LEN + 16];
	int kind;

	if (!json_is_object(obj)) {
		log_warnx("kube: %s: an item is not an object; skipped", kw->res->name);
		return -1;
	}
	kw_set_kind(kw->res, obj);
	kind = kobj_kind_of(obj);
	ns = kw_meta(obj, "namespace");
	name = kw_meta(obj, "name");
	if ((rv = kw_meta(obj, "resourceVersion")) == NULL)
		rv = "";
	if (kind == -1 || name == NULL) {
		log_warnx("kube: %s: object %s without kind or metadata.name; skipped",
			  kw->res->name, name ? name : "?");
		return -1;
	}
	kw_key(key, sizeof(key), kind, ns ? ns : "", name);
	old = hmap_get(kw->known, key);
	if (map == kw->seen && old != NULL && rv[0] != '\0' && strcmp(old, rv) == 0) {
		/* a relist item we hold in this very version: nothing to do */
		free(hmap_put(map, key, xstrdup(rv)));
		return 0;
	}
	memset(&diag, 0, sizeof(diag));
	if (kobj_parse(obj, &k, &diag) == -1 || k == NULL) {
		log_warnx("kube: skipped: %s%s", diag.err[0] ? diag.err : "unusable object",
			  map == kw->seen && old != NULL ? "; keeping its last good version" : "");
		/* a list keeps the last good version of a now malformed object */
		if (map == kw->seen && old != NULL)
			free(hmap_put(map, key, xstrdup(old)));
		return -1;
	}
	if (diag.warn[0] != '\0')
		log_warnx("kube: %s", diag.warn);
	if (k->kind == KOBJ_GATEWAY)
		kube_gateway_refs(kw->rk, k->ns, k->name, k->u.gw);
	state_put(kube_state(kw->rk), k, KUBE_SOURCE);
	free(hmap_put(map, key, xstrdup(rv)));
	if (kw->res->cache && !kw->seeding)
		kube_cache_put(kw->rk, obj);
	kube_dirty(kw->rk);
	return 0;
}

static void
kw_delete_key(struct kube_watch *kw, const char *key)
{
	const char *name;
	char ns[EM_KEY_LEN];
	int kind;

	if (kw_key_split(key, &kind, ns, sizeof(ns), &name) == -1 || kind < 0 ||
	    kind >= KOBJ_NKINDS)
		return;
	if (kind == KOBJ_GATEWAY)
		kube_gateway_refs(kw->rk, ns, name, NULL);
	state_del(kube_state(kw->rk), (enum kobj_kind)kind, ns, name, KUBE_SOURCE);
	kube_dirty(kw->rk);
}

static void
kw_delete_cb(void *arg, const char *key)
{
	kw_delete_key(arg, key);
}

static void
kw_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kube_watch *kw = w->data;

	if (kw->next == KW_NEXT_WATCH && kw->rv[0] != '\0')
		kw_watch_begin(kw);
	else
		kw_list_begin(kw);
}

/* Try again later, with exponential backoff and jitter. */
static void
kw_backoff(struct kube_watch *kw, enum kw_next next)
{
	double d;

	kw->backoff_ms = kw->backoff_ms == 0			  ? KW_BACKOFF_MIN_MS
			 : kw->backoff_ms * 2 > KW_BACKOFF_MAX_MS ? KW_BACKOFF_MAX_MS
								  : kw->backoff_ms * 2;
	/* jitter: somewhere in [backoff/2, backoff] */
	d = kw->backoff_ms / 2000.0 + (double)arc4random_uniform(kw->backoff_ms / 2 + 1) / 1000.0;
	kw->st = KW_WAIT;
	kw->next = next;
	ev_timer_stop(kube_loop(kw->rk), &kw->retry);
	ev_timer_set(&kw->retry, d, 0.);
	ev_timer_start(kube_loop(kw->rk), &kw->retry);
	log_debug("kube: %s: retrying in %.1fs", kw->res->name, d);
}

static void
kw_later(struct kube_watch *kw, enum kw_next next, double secs)
{
	kw->st = KW_WAIT;
	kw->next = next;
	ev_timer_stop(kube_loop(kw->rk), &kw->retry);
	ev_timer_set(&kw->retry, secs, 0.);
	ev_timer_start(kube_loop(kw->rk), &kw->retry);
}

/* A short reason from a Status body, for logs. */
static void
kw_status_msg(const struct kube_watch *kw, char *out, size_t len)
{
	json_t *j;
	const char *m;

	out[0] = '\0';
	if (kw->buf == NULL || kw->len == 0)
		return;
	if ((j = json_loadb(kw->buf, kw->len, 0, NULL)) != NULL &&
	    (m = json_string_value(json_object_get(j, "message"))) != NULL)
		snprintf(out, len, ": %s", m);
	else
		snprintf(out, len, ": %.120s", kw->buf);
	json_decref(j);
}

/* An HTTP error status; returns 1 if handled. */
static int
kw_http_error(struct kube_watch *kw, long status, enum kw_next next)
{
	char msg[300];

	kw_status_msg(kw, msg, sizeof(msg));
	if (status == 401) {
		log_warnx("kube: %s: 401 Unauthorized%s; check the token or client certificate "
			  "(the token file is re-read before every request)",
			  kw->res->name, msg);
	} else if (status == 403) {
		log_warnx("kube: %s: 403 Forbidden%s; the ClusterRole must allow get/list/watch "
			  "on %s (see k8s/base/02-rbac.yaml)",
			  kw->res->name, msg, kw->res->name);
	} else
		log_warnx("kube: %s: HTTP %ld%s", kw->res->name, status, msg);
	kw_buf_reset(kw);
	kw_backoff(kw, next);
	return 1;
}

/* ---- list ---- */

static int
kw_list_data(void *arg, long status, const char *p, size_t n)
{
	struct kube_watch *kw = arg;

	if (kw_buf_add(kw, p, n, status == 200 ? KUBE_LIST_MAX : KW_ERRBODY_MAX) == -1) {
		if (status != 200)
			return 0; /* enough of an error body */
		log_warnx("kube: %s: list page larger than %u bytes", kw->res->name, KUBE_LIST_MAX);
		return -1;
	}
	return 0;
}

static void
kw_list_finish(struct kube_watch *kw)
{
	size_t ndel;

	ndel = kube_known_diff(kw->known, kw->seen, kw_delete_cb, kw);
	hmap_free(kw->known, free);
	kw->known = kw->seen;
	kw->seen = NULL;
	log_info("kube: %s: listed %zu objects (%zu gone since the last list) at "
		 "resourceVersion %s",
		 kw->res->name, hmap_count(kw->known), ndel, kw->rv[0] ? kw->rv : "-");
	kw->backoff_ms = 0;
	if (!kw->synced) {
		kw->synced = 1;
		kube_synced(kw->rk, kw);
	}
	kube_dirty(kw->rk);
	/* the pages' transient memory back to the system */
	malloc_trim(0);
}

static void
kw_list_item(void *arg, const char *p, size_t n)
{
	struct kube_watch *kw = arg;
	json_error_t jerr;
	json_t *it;

	if ((it = json_loadb(p, n, 0, &jerr)) == NULL) {
		log_warnx("kube: %s: list: an item is invalid JSON (%s); skipped", kw->res->name,
			  jerr.text);
		return;
	}
	kw_apply(kw, it, kw->seen);
	json_decref(it);
}

static void
kw_list_done(void *arg, CURLcode rc, long status, const char *err)
{
	struct kube_watch *kw = arg;
	json_t *j;
	const char *cont, *rv;
	char emsg[256];

	kw->req = NULL;
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status != 200)) {
		log_warnx("kube: %s: list: %s (%s); keeping the last known state", kw->res->name,
			  err, kube_client(kw->rk)->server);
		snprintf(kw->error, sizeof(kw->error), "%s: %s", kube_client(kw->rk)->server, err);
		kw_buf_reset(kw);
		kw_backoff(kw, KW_NEXT_LIST);
		return;
	}
	if (status == 404 && kw->res->fallback != NULL) {
		log_info("kube: %s not served (404); using %s", kw->res->name,
			 kw->res->fallback->name);
		kw_buf_reset(kw);
		kw->res = kw->res->fallback;
		kw_list_begin(kw);
		return;
	}
	if (status == 404 && kw->res->optional) {
		kw->absent = 1;
		kw->error[0] = '\0';
		log_info("kube: %s not served (404: CRD not installed?); using defaults, "
			 "checking again every %.0fs",
			 kw->res->name, KW_OPTIONAL_RECHECK);
		kw_buf_reset(kw);
		kw->rv[0] = '\0';
		kw_list_finish(kw); /* empty: whatever we had is gone */
		kw_later(kw, KW_NEXT_LIST, KW_OPTIONAL_RECHECK);
		return;
	}
	if (status == 410) {
		/* the continue token expired: start the list again */
		log_info("kube: %s: continue token expired (410); listing again", kw->res->name);
		kw_buf_reset(kw);
		kw_list_begin(kw);
		return;
	}
	if (status != 200) {
		snprintf(kw->error, sizeof(kw->error), "%s: HTTP %ld on %s",
			 kube_client(kw->rk)->server, status, kw->res->path);
		kw_http_error(kw, status, KW_NEXT_LIST);
		return;
	}
	if (kube_list_scan(kw->buf ? kw->buf : "", kw->len, &j, kw_list_item, kw, emsg,
			   sizeof(emsg)) == -1) {
		log_warnx("kube: %s: list: invalid JSON (%s)", kw->res->name, emsg);
		kw_buf_reset(kw);
		kw_backoff(kw, KW_NEXT_LIST);
		return;
	}
	kw_buf_reset(kw);
	cont = kw_meta(j, "continue");
	rv = kw_meta(j, "resourceVersion");
	free(kw->cont);
	kw->cont = cont != NULL && *cont != '\0' ? xstrdup(cont) : NULL;
	snprintf(kw->rv, sizeof(kw->rv), "%s", rv ? rv : "");
	json_decref(j);
	if (kw->cont != NULL) {
		kw_list_begin(kw); /* the next page */
		return;
	}
	kw->absent = 0;
	kw->error[0] = '\0';
	kw_list_finish(kw);
	if (kw->rv[0] == '\0') {
		log_warnx("kube: %s: list without resourceVersion; listing again later",
			  kw->res->name);
		kw_later(kw, KW_NEXT_LIST, KW_OPTIONAL_RECHECK);
		return;
	}
	kw_watch_begin(kw);
}

/* Start a list, or fetch its next page when kw->cont is set. */
static void
kw_list_begin(struct kube_watch *kw)
{
	char path[8192], cont[4096];

	if (kw->cont == NULL) {
		if (kw->seen != NULL)
			hmap_free(kw->seen, free);
		kw->seen = hmap_new();
	}
	cont[0] = '\0';
	if (kw->cont != NULL)
		kube_urlenc(cont, sizeof(cont), kw->cont);
	snprintf(path, sizeof(path), "%s?limit=%d%s%s%s%s", kw->res->path, KUBE_PAGE_LIMIT,
		 cont[0] ? "&continue=" : "", cont, kw->res->query ? "&" : "",
		 kw->res->query ? kw->res->query : "");
	kw->st = KW_LIST;
	kw_buf_reset(kw);
	kw->req = kube_http_get(kube_http(kw->rk), kube_client(kw->rk), path, KW_LIST_STALL,
				KW_LIST_TOTAL, kw_list_data, kw_list_done, kw);
}

/* ---- watch ---- */

/* One event line.  -1: end this watch (see kw->gone, kw->broken). */
static int
kw_event(struct kube_watch *kw, const char *line, size_t len)
{
	json_t *ev, *obj;
	json_error_t jerr;
	const char *type, *rv, *ns, *name;
	char key[EM_KEY_LEN + 16];
	json_int_t code;
	int kind, rc = 0;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if ((ev = json_loadb(line, len, 0, &jerr)) == NULL) {
		log_warnx("kube: %s: watch: invalid JSON (%s): %.60s; watching again from %s",
			  kw->res->name, jerr.text, line, kw->rv);
		kw->broken = 1;
		return -1;
	}
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (type == NULL || !json_is_object(obj)) {
		log_warnx("kube: %s: watch: event without type or object; watching again from %s",
			  kw->res->name, kw->rv);
		kw->broken = 1;
		rc = -1;
		goto out;
	}
	kw->nevents++;
	rv = kw_meta(obj, "resourceVersion");
	if (strcmp(type, "ERROR") == 0) {
		code = json_integer_value(json_object_get(obj, "code"));
		if (code == 410) {
			log_info("kube: %s: watch: 410 Gone (%s); relisting", kw->res->name,
				 json_string_value(json_object_get(obj, "message"))
				     ? json_string_value(json_object_get(obj, "message"))
				     : "expired");
			kw->gone = 1;
		} else {
			log_warnx("kube: %s: watch: ERROR %lld: %s", kw->res->name, (long long)code,
				  json_string_value(json_object_get(obj, "message"))
				      ? json_string_value(json_object_get(obj, "message"))
				      : "?");
			kw->broken = 1;
		}
		rc = -1;
		goto out;
	}
	if (strcmp(type, "BOOKMARK") == 0) {
		/* nothing else in it is meaningful */
	} else if (strcmp(type, "ADDED") == 0 || strcmp(type, "MODIFIED") == 0) {
		kw_apply(kw, obj, kw->known);
	} else if (strcmp(type, "DELETED") == 0) {
		kw_set_kind(kw->res, obj);
		kind = kobj_kind_of(obj);
		ns = kw_meta(obj, "namespace");
		name = kw_meta(obj, "name");
		if (kind != -1 && name != NULL) {
			kw_key(key, sizeof(key), kind, ns ? ns : "", name);
			kw_delete_key(kw, key);
			free(hmap_del(kw->known, key));
		}
	} else
		log_warnx("kube: %s: watch: unknown event type %s; ignored", kw->res->name, type);
	if (rv != NULL && *rv != '\0')
		snprintf(kw->rv, sizeof(kw->rv), "%s", rv);
	kw->backoff_ms = 0;
out:
	json_decref(ev);
	return rc;
}

static int
kw_watch_line(void *arg, const char *line, size_t len)
{
	struct kube_watch *kw = arg;

	if (line == NULL) {
		log_warnx("kube: %s: watch: an event longer than %u bytes; relisting to "
			  "catch up",
			  kw->res->name, KUBE_LINE_MAX);
		kw->gone = 1; /* we missed an object: only a relist is exact */
		return -1;
	}
	if (kw_event(kw, line, len) == -1 || kw->gone)
		return -1;
	return 0;
}

static int
kw_watch_data(void *arg, long status, const char *p, size_t n)
{
	struct kube_watch *kw = arg;

	if (status != 200) {
		kw_buf_add(kw, p, n, KW_ERRBODY_MAX);
		return 0;
	}
	kw->error[0] = '\0'; /* the stream flows again */
	/* newline-delimited events, split anywhere by the transport */
	return kube_lines_feed(&kw->lines, p, n, kw_watch_line, kw);
}

static void
kw_watch_done(void *arg, CURLcode rc, long status, const char *err)
{
	struct kube_watch *kw = arg;
	ev_tstamp lasted = ev_now(kube_loop(kw->rk)) - kw->started;

	kw->req = NULL;
	if (kw->gone || status == 410) {
		if (status == 410)
			log_info("kube: %s: watch from %s: 410 Gone; relisting", kw->res->name,
				 kw->rv);
		kw_buf_reset(kw);
		kw->rv[0] = '\0';
		/* a server that answers every fresh list with 410: do not spin */
		if (ev_now(kube_loop(kw->rk)) - kw->last_gone < 2.)
			kw_backoff(kw, KW_NEXT_LIST);
		else
			kw_list_begin(kw);
		kw->last_gone = ev_now(kube_loop(kw->rk));
		return;
	}
	if (kw->broken) {
		kw_buf_reset(kw);
		kw_backoff(kw, KW_NEXT_WATCH);
		return;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT && status == 200) {
		log_warnx("kube: %s: watch stalled (no data past its timeout); watching again "
			  "from %s",
			  kw->res->name, kw->rv);
		kw_buf_reset(kw);
		kw_watch_begin(kw);
		return;
	}
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status != 200)) {
		log_warnx("kube: %s: watch: %s; keeping the last known state", kw->res->name, err);
		snprintf(kw->error, sizeof(kw->error), "%s: %s", kube_client(kw->rk)->server, err);
		kw_buf_reset(kw);
		kw_backoff(kw, KW_NEXT_WATCH);
		return;
	}
	if (status == 404) {
		kw_buf_reset(kw);
		kw->rv[0] = '\0';
		kw_backoff(kw, KW_NEXT_LIST);
		return;
	}
	if (status != 200) {
		kw_http_error(kw, status, KW_NEXT_WATCH);
		return;
	}
	/* a clean end (the server's timeout): watch again from where we are */
	if (kw->lines.len > 0)
		log_warnx("kube: %s: watch ended inside an event; watching again from %s",
			  kw->res->name, kw->rv);
	kw_buf_reset(kw);
	log_debug("kube: %s: watch ended after %.1fs, %u events", kw->res->name, lasted,
		  kw->nevents);
	if (lasted < 1. && kw->nevents == 0)
		kw_backoff(kw, KW_NEXT_WATCH); /* a server that hangs up at once */
	else
		kw_watch_begin(kw);
}

static void
kw_watch_begin(struct kube_watch *kw)
{
	char path[8192], rv[1024];
	long t = kube_watch_timeout(kw->rk);

	/* as client-go: a random timeout in [t, 2t) spreads the re-watches */
	t += (long)arc4random_uniform((uint32_t)t);
	kube_urlenc(rv, sizeof(rv), kw->rv);
	snprintf(path, sizeof(path),
		 "%s?watch=1&resourceVersion=%s&allowWatchBookmarks=true"
		 "&timeoutSeconds=%ld%s%s",
		 kw->res->path, rv, t, kw->res->query ? "&" : "",
		 kw->res->query ? kw->res->query : "");
	kw->st = KW_WATCH;
	kw->gone = kw->broken = 0;
	kw->nevents = 0;
	kw->started = ev_now(kube_loop(kw->rk));
	kw_buf_reset(kw);
	kw->req = kube_http_get(kube_http(kw->rk), kube_client(kw->rk), path, t + (t < 30 ? 2 : 30),
				0, kw_watch_data, kw_watch_done, kw);
}

/* ---- the rest ---- */

struct kube_watch *
kube_watch_new(struct reg_kube *rk, const struct kube_res *res)
{
	struct kube_watch *kw = xcalloc(1, sizeof(*kw));

	kw->rk = rk;
	kw->res = res;
	kw->known = hmap_new();
	kube_lines_init(&kw->lines, KUBE_LINE_MAX);
	ev_timer_init(&kw->retry, kw_retry_cb, 0., 0.);
	kw->retry.data = kw;
	return kw;
}

void
kube_watch_free(struct kube_watch *kw)
{
	if (kw == NULL)
		return;
	ev_timer_stop(kube_loop(kw->rk), &kw->retry);
	if (kw->req != NULL)
		kube_http_cancel(kube_http(kw->rk), kw->req);
	hmap_free(kw->known, free);
	if (kw->seen != NULL)
		hmap_free(kw->seen, free);
	free(kw->cont);
	kw_buf_reset(kw);
	free(kw);
}

void
kube_watch_start(struct kube_watch *kw)
{
	kw_list_begin(kw);
}

void
kube_watch_disable(struct kube_watch *kw)
{
	kw->synced = 1;
}

int
kube_watch_seed(struct kube_watch *kw, json_t *obj)
{
	const struct kube_res *saved = kw->res;
	int kind = kobj_kind_of(obj), rc;

	/* the cache may hold Endpoints where we now list EndpointSlices */
	if (kind != (int)saved->kkind &&
	    (saved->fallback == NULL || kind != (int)saved->fallback->kkind))
		return -1;
	if (kind != (int)saved->kkind)
		kw->res = saved->fallback;
	kw->seeding = 1;
	rc = kw_apply(kw, obj, kw->known);
	kw->seeding = 0;
	kw->res = saved;
	return rc;
}

int
kube_watch_synced(const struct kube_watch *kw)
{
	return kw->synced;
}

enum kobj_kind
kube_watch_kind(const struct kube_watch *kw)
{
	return kw->res->kkind;
}

size_t
kube_watch_count(const struct kube_watch *kw)
{
	return hmap_count(kw->known);
}

int
kube_watch_holds(const struct kube_watch *kw, const char *key, const char *rv)
{
	const char *have = hmap_get(kw->known, key);

	return have != NULL && strcmp(have, rv) == 0;
}

void
kube_watch_forget(struct kube_watch *kw)
{
	struct hmap_iter it;
	const char *key;
	void *v;

	hmap_iter_init(&it);
	while (hmap_next(kw->known, &it, &key, &v))
		kw_delete_key(kw, key);
	hmap_free(kw->known, free);
	kw->known = hmap_new();
}

int
kube_watch_absent(const struct kube_watch *kw)
{
	return kw->absent;
}

const char *
kube_watch_error(const struct kube_watch *kw)
{
	return kw->error;
}
