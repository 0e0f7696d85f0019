/* The opener's side of tunnel.sock; see tunclient.h. */
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "model.h"
#include "tunclient.h"

struct tun_pend {
	TAILQ_ENTRY(tun_pend) entry;
	uint64_t id;
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
	double retry_after;
	struct pend_list pend;
};

struct tunclient *
tunclient_new(struct ev_loop *loop, const char *runtime_dir, const char *name)
{
	struct tunclient *tc = xcalloc(1, sizeof(*tc));

	tc->loop = loop;
	snprintf(tc->dir, sizeof(tc->dir), "%s", runtime_dir);
	snprintf(tc->name, sizeof(tc->name), "%s", name);
	tc->next_id = 1;
	TAILQ_INIT(&tc->pend);
	return tc;
}

void
tunclient_free(struct tunclient *tc)
{
	struct tun_pend *t;

	if (tc == NULL)
		return;
	while ((t = TAILQ_FIRST(&tc->pend)) != NULL) {
		TAILQ_REMOVE(&tc->pend, t, entry);
		free(t);
	}
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
		if (t->id == r.id)
			break;
		if (t == NULL) {
			log_debug("tunneld result for unknown open %llu", (unsigned long long)r.id);
			break;
		}
		TAILQ_REMOVE(&tc->pend, t, entry);
		t->cb(t->arg, r.ok, r.reason);
		free(t);
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
tun_closed(struct ipc_conn *ic, const char *why, void *arg)
{
	struct tunclient *tc = arg;
	struct pend_list l;
	struct tun_pend *t;

	log_warnx("tunnel.sock connection lost: %s", why);
	tc->conn = NULL;
	tc->retry_after = ev_now(tc->loop) + 1.0;
	TAILQ_INIT(&l);
	TAILQ_CONCAT(&l, &tc->pend, entry);
	while ((t = TAILQ_FIRST(&l)) != NULL) {
		TAILQ_REMOVE(&l, t, entry);
		t->cb(t->arg, 0, "tunneld connection lost");
		free(t);
	}
}

static int
tun_connect(struct tunclient *tc)
{
	struct ipc_hello h;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	if (tc->conn != NULL)
		return 0;
	if (ev_now(tc->loop) < tc->retry_after)
		return -1;
	if ((fd = ipc_connect(tc->dir, IPC_TUNNEL_SOCK)) == -1) {
		log_warn("cannot reach tunneld at %s/%s", tc->dir, IPC_TUNNEL_SOCK);
		tc->retry_after = ev_now(tc->loop) + 1.0;
		return -1;
	}
	tc->conn = ipc_conn_new(tc->loop, fd, IPC_MAX_TUNNEL, tunclient_dispatch_tunneld, tun_closed, tc);
	ipc_hello_init(&h, tc->name);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_hello(&pk, &h);
	ipc_conn_send_sbuf(tc->conn, IPC_HELLO, &sb, -1);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

int
tunclient_open(struct tunclient *tc, int fd, struct ipc_tun_open *o, tunclient_cb cb, void *arg,
	       uint64_t *id)
{
	struct tun_pend *t;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int dfd, rc;

	if (tun_connect(tc) == -1)
		return -1;
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("dup");
		return -1;
	}
	o->id = tc->next_id++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_tun_open(&pk, o);
	rc = ipc_conn_send_sbuf(tc->conn, IPC_TUN_OPEN, &sb, dfd);
	msgpack_sbuffer_destroy(&sb);
	if (rc == -1)
		return -1;
	t = xcalloc(1, sizeof(*t));
	t->id = o->id;
	t->cb = cb;
	t->arg = arg;
	TAILQ_INSERT_TAIL(&tc->pend, t, entry);
	*id = o->id;
	return 0;
}

void
tunclient_cancel(struct tunclient *tc, uint64_t id)
{
	struct tun_pend *t;

	TAILQ_FOREACH(t, &tc->pend, entry)
	if (t->id == id) {
		TAILQ_REMOVE(&tc->pend, t, entry);
		free(t);
		return;
	}
}
