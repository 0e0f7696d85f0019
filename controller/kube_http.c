/*
 * libcurl's multi interface on the libev loop: curl tells us which sockets
 * to watch (CURLMOPT_SOCKETFUNCTION -> ev_io) and when to call it back
 * (CURLMOPT_TIMERFUNCTION -> ev_timer); we tell curl what happened with
 * curl_multi_socket_action().  Finished transfers are reported after
 * curl_multi_socket_action() returns, so a done callback may start the
 * next request.
 *
 * kubeAPIConfig.qps/burst (as client-go's rate limiter): a token bucket
 * on request starts.  A list page, a watch (re)start and a relist each
 * take a token; a long-lived watch takes none while it runs.  A request
 * without a token waits in a FIFO queue, not in curl.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_source.h"
#include "log.h"

struct kube_req {
	struct kube_http *h;
	CURL *easy;
	struct curl_slist *hdrs;
	kube_data_cb data_cb;
	kube_done_cb done_cb;
	void *arg;
	char err[CURL_ERROR_SIZE];
	int queued; /* waiting for a token, not in curl yet */
	LIST_ENTRY(kube_req) entry;
	TAILQ_ENTRY(kube_req) qentry;
};

struct kube_sock {
	ev_io io;
	int active;
};

struct kube_http {
	struct ev_loop *loop;
	CURLM *multi;
	ev_timer timer;
	int running;
	LIST_HEAD(, kube_req) reqs;
	TAILQ_HEAD(, kube_req) queue;
	struct kube_bucket bucket;
	ev_timer qtimer;
	unsigned long started;
};

static void kube_http_check(struct kube_http *);

static void
kube_http_event(struct ev_loop *loop, ev_io *w, int revents)
{
	struct kube_http *h = w->data;
	int action = 0;

	if (revents & EV_READ)
		action |= CURL_CSELECT_IN;
	if (revents & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, w->fd, action, &h->running);
	kube_http_check(h);
}

static void
kube_http_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kube_http *h = w->data;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
	kube_http_check(h);
}

static int
kube_http_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct kube_http *h = arg;

	ev_timer_stop(h->loop, &h->timer);
	if (ms >= 0) {
		ev_timer_set(&h->timer, ms / 1000.0, 0.);
		ev_timer_start(h->loop, &h->timer);
	}
	return 0;
}

static int
kube_http_sock_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct kube_http *h = arg;
	struct kube_sock *ks = sockp;
	int ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (ks != NULL) {
			ev_io_stop(h->loop, &ks->io);
			free(ks);
			curl_multi_assign(h->multi, s, NULL);
		}
		return 0;
	}
	if (ks == NULL) {
		ks = xcalloc(1, sizeof(*ks));
		curl_multi_assign(h->multi, s, ks);
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	/* never change an active watcher */
	ev_io_stop(h->loop, &ks->io);
	ev_io_init(&ks->io, kube_http_event, s, ev);
	ks->io.data = h;
	ev_io_start(h->loop, &ks->io);
	return 0;
}

static size_t
kube_http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct kube_req *r = arg;
	size_t n = size * nmemb;
	long status = 0;

	if (r->data_cb == NULL)
		return n;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	if (r->data_cb(r->arg, status, ptr, n) == -1)
		return 0; /* CURLE_WRITE_ERROR */
	return n;
}

static void
kube_req_free(struct kube_req *r)
{
	LIST_REMOVE(r, entry);
	if (r->queued)
		TAILQ_REMOVE(&r->h->queue, r, qentry);
	else
		curl_multi_remove_handle(r->h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	free(r);
}

static void
kube_http_check(struct kube_http *h)
{
	struct kube_req *r;
	CURLMsg *m;
	CURLcode rc;
	long status;
	int left;
	char err[CURL_ERROR_SIZE];

	while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL)
			continue;
		status = 0;
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
		snprintf(err, sizeof(err), "%s", r->err[0] ? r->err : curl_easy_strerror(rc));
		kube_done_cb done = r->done_cb;
		void *arg = r->arg;
		kube_req_free(r); /* m is invalid from here on */
		if (done != NULL)
			done(arg, rc, status, err);
	}
}

static void
kube_http_add(struct kube_http *h, struct kube_req *r)
{
	r->queued = 0;
	h->started++;
	if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK)
		fatalx("%s: curl_multi_add_handle failed", __func__);
}

/* Start queued requests as tokens come in. */
static void
kube_http_dequeue(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct kube_http *h = w->data;
	struct kube_req *r;
	double wait;

	while ((r = TAILQ_FIRST(&h->queue)) != NULL) {
		if ((wait = kube_bucket_take(&h->bucket, ev_now(loop))) > 0) {
			ev_timer_set(&h->qtimer, wait, 0.);
			ev_timer_start(loop, &h->qtimer);
			return;
		}
		TAILQ_REMOVE(&h->queue, r, qentry);
		kube_http_add(h, r);
	}
}

unsigned long
kube_http_started(const struct kube_http *h)
{
	return h->started;
}

size_t
kube_http_queued(const struct kube_http *h)
{
	const struct kube_req *r;
	size_t n = 0;

	TAILQ_FOREACH(r, &h->queue, qentry)
	n++;
	return n;
}

struct kube_http *
kube_http_new(struct ev_loop *loop, double qps, double burst)
{
	struct kube_http *h = xcalloc(1, sizeof(*h));

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("%s: curl_global_init failed", __func__);
	h->loop = loop;
	LIST_INIT(&h->reqs);
	TAILQ_INIT(&h->queue);
	kube_bucket_init(&h->bucket, qps, burst, ev_now(loop));
	ev_timer_init(&h->qtimer, kube_http_dequeue, 0., 0.);
	h->qtimer.data = h;
	if ((h->multi = curl_multi_init()) == NULL)
		fatalx("%s: curl_multi_init failed", __func__);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, kube_http_sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, kube_http_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	ev_timer_init(&h->timer, kube_http_timeout, 0., 0.);
	h->timer.data = h;
	return h;
}

void
kube_http_free(struct kube_http *h)
{
	if (h == NULL)
		return;
	while (!LIST_EMPTY(&h->reqs))
		kube_req_free(LIST_FIRST(&h->reqs));
	ev_timer_stop(h->loop, &h->timer);
	ev_timer_stop(h->loop, &h->qtimer);
	curl_multi_cleanup(h->multi);
	free(h);
}

static struct kube_req *
kube_http_req(struct kube_http *h, struct kube_client *c, const char *path, const char *patch,
	      long stall, long total, kube_data_cb data_cb, kube_done_cb done_cb, void *arg)
{
	struct kube_req *r = xcalloc(1, sizeof(*r));
	char url[EM_PATH_MAX * 4];

	r->h = h;
	r->data_cb = data_cb;
	r->done_cb = done_cb;
	r->arg = arg;
	if ((r->easy = curl_easy_init()) == NULL)
		fatalx("%s: curl_easy_init failed", __func__);
	snprintf(url, sizeof(url), "%s%s", c->server, path);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, kube_http_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(r->easy, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "edgemesh-controller/" EM_BUILD_VERSION);
	if (stall > 0) {
		/* a stalled stream: fewer than 1 byte/s for `stall` seconds */
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME, stall);
	}
	if (total > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, total);
	r->hdrs = curl_slist_append(r->hdrs, "Accept: application/json");
	if (patch != NULL) {
		/* a JSON merge patch (RFC 7386); curl copies the body */
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, "PATCH");
		curl_easy_setopt(r->easy, CURLOPT_COPYPOSTFIELDS, patch);
		r->hdrs = curl_slist_append(r->hdrs, "Content-Type: application/merge-patch+json");
	}
	kube_client_setup(c, r->easy, &r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	LIST_INSERT_HEAD(&h->reqs, r, entry);
	if (TAILQ_EMPTY(&h->queue) && kube_bucket_take(&h->bucket, ev_now(h->loop)) == 0) {
		kube_http_add(h, r);
		return r;
	}
	r->queued = 1;
	TAILQ_INSERT_TAIL(&h->queue, r, qentry);
	if (!ev_is_active(&h->qtimer)) {
		ev_timer_set(&h->qtimer, 0., 0.); /* computes the wait */
		ev_timer_start(h->loop, &h->qtimer);
	}
	return r;
}

struct kube_req *
kube_http_get(struct kube_http *h, struct kube_client *c, const char *path, long stall, long total,
	      kube_data_cb data_cb, kube_done_cb done_cb, void *arg)
{
	return kube_http_req(h, c, path, NULL, stall, total, data_cb, done_cb, arg);
}

struct kube_req *
kube_http_patch(struct kube_http *h, struct kube_client *c, const char *path, const char *patch,
		long total, kube_data_cb data_cb, kube_done_cb done_cb, void *arg)
{
	return kube_http_req(h, c, path, patch, 0, total, data_cb, done_cb, arg);
}

void
kube_http_cancel(struct kube_http *h, struct kube_req *r)
{
	if (r != NULL)
		kube_req_free(r);
}
