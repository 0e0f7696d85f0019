/* The opener's side of tunnel.sock; see tunclient.h. */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "model.h"
#include "tunclient.h"

const char tunclient_unavailable[] = "tunneld unavailable";

struct tun_pend {
	TAILQ_ENTRY(tun_pend) entry;
	struct ipc_tun_open o;
	int fd;		 /* the caller's, lent until the result */
	int sent;	 /* TUN_OPEN is on the current connection */
	double deadline; /* while not sent: fail then */
	tunclient_cb cb;
	void *arg;
};
TAILQ_HEAD(pend_list, tun_pend);

struct tunclient {
	struct ev_loop *loop;
	char dir[512];
	char name[32];
	struct ipc_conn *conn;
	uint64_t next_id;
	double backoff;
	int warned;
	int down; /* an open waited in vain and no connection since: fail at once */
	ev_timer retry;
	struct pend_list pend;
};

static void tun_retry_cb(struct ev_loop *, ev_timer *, int);

struct tunclient *
tunclient_new(struct ev_loop *loop, const char *runtime_dir, const char *name)
{
	struct tunclient *tc = xcalloc(1, sizeof(*tc));

	tc->loop = loop;
	snprintf(tc->dir, sizeof(tc->dir), "%s", runtime_dir);
	snprintf(tc->name, sizeof(tc->name), "%s", name);
	tc->next_id = 1;
	ev_timer_init(&tc->retry, tun_retry_cb, 0., 0.);
	tc->retry.data = tc;
	TAILQ_INIT(&tc->pend);
	return tc;
}

static void
pend_free(struct tunclient *tc, struct tun_pend *t)
{
	TAILQ_REMOVE(&tc->pend, t, entry);
	free(t);
}

void
tunclient_free(struct tunclient *tc)
{
	struct tun_pend *t;

	if (tc == NULL)
		return;
	ev_timer_stop(tc->loop, &tc->retry);
	while ((t = TAILQ_FIRST(&tc->pend)) != NULL)
		pend_free(tc, t);
	if (tc->conn != NULL)
		ipc_conn_free(tc->conn);
	free(tc);
}

static void
tunclient_dispatch_tunneld(struct ipc_conn *ic, struct ipc_msg *m, void *arg)
{
	struct tunclient *tc = arg;
	struct ipc_tun_result r;
	struct ipc_hello h;
	struct tun_pend *t;
	tunclient_cb cb;
	void *cbarg;
	char err[256];

	switch (m->type) {
	case IPC_HELLO:
		if (ipc_unpack_hello(m, &h, err, sizeof(err)) == -1)
			log_warnx("tunneld hello: %s", err);
		else if (h.version != IPC_VERSION)
			log_warnx("tunneld speaks IPC version %u, we speak %u", h.version,
				  IPC_VERSION);
		break;
	case IPC_TUN_RESULT:
		if (ipc_unpack_tun_result(m, &r, err, sizeof(err)) == -1) {
			ipc_conn_drop(ic, err);
			return;
		}
		TAILQ_FOREACH(t, &tc->pend, entry)
		if (t->sent && t->o.id == r.id)
			break;
		if (t == NULL) {
			log_debug("tunneld result for unknown open %llu", (unsigned long long)r.id);
			break;
		}
		cb = t->cb;
		cbarg = t->arg;
		pend_free(tc, t);
		cb(cbarg, r.ok, r.reason);
		break;
	case IPC_ERROR:
		if (ipc_unpack_error(m, err, sizeof(err), NULL, 0) == 0)
			log_warnx("tunneld: %s", err);
		break;
	default:
		log_debug("tunneld sent %s: ignored", ipc_type_name(m->type));
		break;
	}
}

static void
tun_schedule(struct tunclient *tc, double after)
{
	if (ev_is_active(&tc->retry))
		ev_timer_stop(tc->loop, &tc->retry);
	ev_timer_set(&tc->retry, after, 0.);
	ev_timer_start(tc->loop, &tc->retry);
}

/*
 * The connection is gone.  Opens already sent go back to waiting (tunneld
 * wrote nothing to their fds, and those it held died with it) and are sent
 * again on the next connection; the next one is tried at once.
 */
static void
tun_closed(struct ipc_conn *ic, const char *why, void *arg)
{
	struct tunclient *tc = arg;
	struct tun_pend *t;
	double now = ev_now(tc->loop);

	log_warnx("tunnel.sock connection lost: %s; reconnecting", why);
	tc->conn = NULL;
	tc->backoff = 0.;
	TAILQ_FOREACH(t, &tc->pend, entry)
	if (t->sent) {
		t->sent = 0;
		t->deadline = now + TUNCLIENT_WAIT;
	}
	tun_schedule(tc, 0.);
}

/* Send one open on the connection, lending it our fd. */
static int
tun_send(struct tunclient *tc, struct tun_pend *t)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_tun_open(&pk, &t->o);
	rc = ipc_conn_send_lent(tc->conn, IPC_TUN_OPEN, sb.data, sb.size, t->fd);
	msgpack_sbuffer_destroy(&sb);
	if (rc == 0)
		t->sent = 1;
	return rc;
}

static int
tun_connect(struct tunclient *tc)
{
	struct ipc_hello h;
	int fd;

	if (tc->conn != NULL)
		return 0;
	if ((fd = ipc_connect(tc->dir, IPC_TUNNEL_SOCK)) == -1) {
		if (!tc->warned)
			log_warn("cannot reach tunneld at %s/%s (opens wait up to %.0fs for it)",
				 tc->dir, IPC_TUNNEL_SOCK, TUNCLIENT_WAIT);
		tc->warned = 1;
		return -1;
	}
	if (tc->warned)
		log_info("tunnel.sock reached again");
	tc->warned = 0;
	tc->down = 0;
	tc->backoff = 0.;
	tc->conn =
	    ipc_conn_new(tc->loop, fd, IPC_MAX_TUNNEL, tunclient_dispatch_tunneld, tun_closed, tc);
	ipc_conn_set_eager(tc->conn, 1); /* an open goes at once, not a loop turn later */
	ipc_hello_init(&h, tc->name);
	IPC_SEND(tc->conn, IPC_HELLO, ipc_pack_hello, &h);
	return tc->conn != NULL ? 0 : -1;
}

/*
 * (Re)connect and send what waits; opens that waited past their deadline
 * fail with tunclient_unavailable.  While some still wait, try again soon.
 * The callbacks run last, on a list of their own: they may open or cancel.
 */
static void
tun_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tunclient *tc = w->data;
	struct pend_list dead;
	struct tun_pend *t, *next;
	double now = ev_now(loop), first = 0.;
	int waiting = 0;

	if (tun_connect(tc) == 0)
		for (t = TAILQ_FIRST(&tc->pend); t != NULL && tc->conn != NULL; t = next) {
			next = TAILQ_NEXT(t, entry);
			if (!t->sent && tun_send(tc, t) == -1 && tc->conn != NULL)
				t->deadline = now; /* no fd to send: fail it below */
		}
	TAILQ_INIT(&dead);
	for (t = TAILQ_FIRST(&tc->pend); t != NULL; t = next) {
		next = TAILQ_NEXT(t, entry);
		if (t->sent)
			continue;
		if (t->deadline <= now) {
			TAILQ_REMOVE(&tc->pend, t, entry);
			TAILQ_INSERT_TAIL(&dead, t, entry);
			continue;
		}
		if (!waiting || t->deadline < first)
			first = t->deadline;
		waiting = 1;
	}
	if (!TAILQ_EMPTY(&dead) && tc->conn == NULL)
		tc->down = 1;
	if (waiting && tc->conn == NULL) {
		/* tunneld is restarting: its socket is back within a fraction of a second */
		tc->backoff = tc->backoff == 0. ? 0.05 : tc->backoff * 2;
		if (tc->backoff > 0.5)
			tc->backoff = 0.5;
		tun_schedule(tc, first - now < tc->backoff ? first - now : tc->backoff);
	}
	while ((t = TAILQ_FIRST(&dead)) != NULL) {
		TAILQ_REMOVE(&dead, t, entry);
		t->cb(t->arg, 0, tunclient_unavailable);
		free(t);
	}
}

void
tunclient_open(struct tunclient *tc, int fd, struct ipc_tun_open *o, tunclient_cb cb, void *arg,
	       uint64_t *id)
{
	struct tun_pend *t;

	o->id = tc->next_id++;
	t = xcalloc(1, sizeof(*t));
	t->o = *o;
	t->fd = fd;
	t->cb = cb;
	t->arg = arg;
	t->deadline = ev_now(tc->loop) + TUNCLIENT_WAIT;
	TAILQ_INSERT_TAIL(&tc->pend, t, entry);
	*id = o->id;
	if (tun_connect(tc) == 0 && tun_send(tc, t) == 0)
		return;
	if (tc->down && tc->conn == NULL) {
		/* tunneld has been away longer than an open waits: no new wait */
		t->deadline = ev_now(tc->loop);
		tun_schedule(tc, 0.);
		return;
	}
	if (!ev_is_active(&tc->retry))
		tun_schedule(tc, tc->conn == NULL ? 0.05 : 0.);
}

void
tunclient_cancel(struct tunclient *tc, uint64_t id)
{
	struct tun_pend *t;

	TAILQ_FOREACH(t, &tc->pend, entry)
	if (t->o.id == id) {
		pend_free(tc, t);
		return;
	}
}
