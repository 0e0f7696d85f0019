/*
 * The hand-off to tunneld over tunnel.sock: HELLO, then one TUN_OPEN per
 * remote flow with the client's socket attached; TUN_RESULT answers by id.
 * We send a dup of the client fd and keep ours until the result: on
 * failure the connection moves on to the next endpoint with no byte lost
 * (tunneld writes nothing to a stream it failed to open), on success we
 * close our copy and tunneld owns the flow.  The socket is dialled lazily
 * and again after a loss (at most once a second).
 */
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxyd.h"

struct tun_pend {
	TAILQ_ENTRY(tun_pend) entry;
	uint64_t id;
	tun_result_cb cb;
	void *arg;
};
TAILQ_HEAD(pend_list, tun_pend);

struct pd_tun {
	struct ipc_conn *conn;
	uint64_t next_id;
	double retry_after;
	struct pend_list pend;
};

void
tun_init(struct proxyd *p)
{
	p->tun = xcalloc(1, sizeof(*p->tun));
	p->tun->next_id = 1;
	TAILQ_INIT(&p->tun->pend);
}

static void
tun_msg(struct ipc_conn *ic, struct ipc_msg *m, void *arg)
{
	struct proxyd *p = arg;
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
		TAILQ_FOREACH(t, &p->tun->pend, entry)
			if (t->id == r.id)
				break;
		if (t == NULL) {
			log_debug("tunneld result for unknown open %llu", (unsigned long long)r.id);
			break;
		}
		TAILQ_REMOVE(&p->tun->pend, t, entry);
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
	struct proxyd *p = arg;
	struct pend_list l;
	struct tun_pend *t;

	log_warnx("tunnel.sock connection lost: %s", why);
	p->tun->conn = NULL;
	p->tun->retry_after = ev_now(p->loop) + 1.0;
	TAILQ_INIT(&l);
	TAILQ_CONCAT(&l, &p->tun->pend, entry);
	while ((t = TAILQ_FIRST(&l)) != NULL) {
		TAILQ_REMOVE(&l, t, entry);
		t->cb(t->arg, 0, "tunneld connection lost");
		free(t);
	}
}

static int
tun_connect(struct proxyd *p)
{
	struct ipc_hello h;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	if (p->tun->conn != NULL)
		return 0;
	if (ev_now(p->loop) < p->tun->retry_after)
		return -1;
	if ((fd = ipc_connect(p->d->cfg.runtime_dir, IPC_TUNNEL_SOCK)) == -1) {
		log_warn("cannot reach tunneld at %s/%s", p->d->cfg.runtime_dir, IPC_TUNNEL_SOCK);
		p->tun->retry_after = ev_now(p->loop) + 1.0;
		return -1;
	}
	p->tun->conn = ipc_conn_new(p->loop, fd, IPC_MAX_TUNNEL, tun_msg, tun_closed, p);
	ipc_hello_init(&h, "proxyd");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_hello(&pk, &h);
	ipc_conn_send_sbuf(p->tun->conn, IPC_HELLO, &sb, -1);
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

int
tun_open(struct proxyd *p, int fd, const char *peer, const char *ip, uint16_t port,
    int proto, const char *client, tun_result_cb cb, void *arg, uint64_t *id)
{
	struct ipc_tun_open o;
	struct tun_pend *t;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int dfd, rc;

	if (tun_connect(p) == -1)
		return -1;
	if ((dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("dup");
		return -1;
	}
	memset(&o, 0, sizeof(o));
	o.id = p->tun->next_id++;
	snprintf(o.peer, sizeof(o.peer), "%s", peer);
	snprintf(o.ip, sizeof(o.ip), "%s", ip);
	o.port = port;
	o.proto = (uint8_t)proto;
	snprintf(o.client, sizeof(o.client), "%s", client);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_tun_open(&pk, &o);
	rc = ipc_conn_send_sbuf(p->tun->conn, IPC_TUN_OPEN, &sb, dfd);
	msgpack_sbuffer_destroy(&sb);
	if (rc == -1)
		return -1;
	t = xcalloc(1, sizeof(*t));
	t->id = o.id;
	t->cb = cb;
	t->arg = arg;
	TAILQ_INSERT_TAIL(&p->tun->pend, t, entry);
	*id = o.id;
	return 0;
}

void
tun_cancel(struct proxyd *p, uint64_t id)
{
	struct tun_pend *t;

	TAILQ_FOREACH(t, &p->tun->pend, entry)
		if (t->id == id) {
			TAILQ_REMOVE(&p->tun->pend, t, entry);
			free(t);
			return;
		}
}
