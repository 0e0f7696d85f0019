/*
 * edgemeshctl ping NODE: a PING over the node's tunnel session, in band,
 * answered with the round trip and the path (direct, or relayed via which
 * node).  With no session up yet the peer is dialled (as a stream would)
 * and the ping waits for it; TUN_PING_WAIT seconds at most.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tunneld.h"

#define TUN_PING_WAIT 5.0
#define TUN_PINGS_MAX 64

struct tun_ping {
	struct ipc_conn *c; /* the asker; cleared when it goes */
	char node[254];
	int sent;	   /* a PING is out on the session */
	ev_timer tick;	   /* 100 ms: session up yet? */
	ev_tstamp started; /* for the deadline */
	LIST_ENTRY(tun_ping) link;
};
static LIST_HEAD(, tun_ping) pings = LIST_HEAD_INITIALIZER(pings);
static size_t npings;

static void
ping_answer(struct ipc_conn *c, const struct ipc_ping_result *res)
{
	IPC_SEND(c, IPC_PING_RESULT, ipc_pack_ping_result, res);
}

static void
ping_done(struct tun_ping *pg, const struct ipc_ping_result *res)
{
	if (pg->c != NULL)
		ping_answer(pg->c, res);
	ev_timer_stop(tunneld_get()->d->loop, &pg->tick);
	LIST_REMOVE(pg, link);
	npings--;
	free(pg);
}

static void
ping_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct tun_ping *pg = w->data;
	struct tunneld *t = tunneld_get();
	struct tun_peer *p = tun_peer_get(t, pg->node, 0);
	struct tun_session *s = p != NULL ? p->sess : NULL;
	struct ipc_ping_result res;

	if (s != NULL && s->state == SS_UP && !pg->sent) {
		tun_session_ping(s);
		pg->sent = 1;
	}
	if (ev_now(loop) - pg->started >= TUN_PING_WAIT) {
		memset(&res, 0, sizeof(res));
		snprintf(res.reason, sizeof(res.reason), "%s within %.0f s%s%s",
			 pg->sent ? "no answer" : "no session", TUN_PING_WAIT,
			 p != NULL && p->last_err[0] ? ": " : "", p != NULL ? p->last_err : "");
		ping_done(pg, &res);
	}
}

void
tun_ping_start(struct tunneld *t, struct ipc_conn *c, const char *node)
{
	struct tun_ping *pg;
	struct tun_peer *p;
	struct ipc_ping_result res;

	memset(&res, 0, sizeof(res));
	if (strcmp(node, t->d->cfg.node_name) == 0 ||
	    replica_get(t->d->replica, EM_TOPIC_PEERS, node) == NULL) {
		snprintf(res.reason, sizeof(res.reason), "%s is %s", node,
			 strcmp(node, t->d->cfg.node_name) == 0 ? "this node" : "not a known node");
		ping_answer(c, &res);
		return;
	}
	if (npings >= TUN_PINGS_MAX) {
		snprintf(res.reason, sizeof(res.reason), "%d pings in flight already",
			 TUN_PINGS_MAX);
		ping_answer(c, &res);
		return;
	}
	pg = xcalloc(1, sizeof(*pg));
	pg->c = c;
	snprintf(pg->node, sizeof(pg->node), "%s", node);
	pg->started = ev_now(t->d->loop);
	LIST_INSERT_HEAD(&pings, pg, link);
	npings++;
	p = tun_peer_get(t, node, 1);
	p->want = 1;
	tun_peer_dial(p);
	ev_timer_init(&pg->tick, ping_tick, 0., 0.1);
	pg->tick.data = pg;
	ev_timer_again(t->d->loop, &pg->tick);
}

/* A PONG on session s: answer the pings sent on it. */
void
tun_ping_pong(struct tun_session *s, uint64_t rtt_us)
{
	struct tun_ping *pg, *next;
	struct ipc_ping_result res;

	for (pg = LIST_FIRST(&pings); pg != NULL; pg = next) {
		next = LIST_NEXT(pg, link);
		if (!pg->sent || strcmp(pg->node, s->name) != 0)
			continue;
		memset(&res, 0, sizeof(res));
		res.ok = 1;
		res.rtt_us = rtt_us;
		snprintf(res.path, sizeof(res.path), "%s",
			 s->relayed   ? "relayed"
			 : s->punched ? "punched"
				      : "direct");
		snprintf(res.via, sizeof(res.via), "%s", s->relayed ? s->addr : "");
		snprintf(res.addr, sizeof(res.addr), "%s", s->addr);
		ping_done(pg, &res);
	}
}

/* The asker went away: its pings finish without an answer. */
void
tun_ping_forget(struct ipc_conn *c)
{
	struct tun_ping *pg;

	LIST_FOREACH(pg, &pings, link)
	if (pg->c == c)
		pg->c = NULL;
}
