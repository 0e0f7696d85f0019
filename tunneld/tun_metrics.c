/*
 * tunneld's metrics: per peer its session state and path, RTT, bytes and
 * streams; handshakes completed and failed by reason.  Read from the state
 * the daemon keeps anyway, at report time.
 */
#include <stdio.h>
#include <string.h>

#include "tunneld.h"

static const char *const hsf_names[TUN_HSF_N] = {
    [TUN_HSF_PSK] = "psk_mismatch",
    [TUN_HSF_TIMEOUT] = "timeout",
    [TUN_HSF_REFUSED] = "refused",
    [TUN_HSF_PROTOCOL] = "protocol",
};

/* A session that ends before it is up: count why, unless it just lost a race. */
void
tun_metrics_hs_failed(struct tunneld *t, const struct tun_session *s, const char *why)
{
	if (strcmp(why, "shutting down") == 0 || strcmp(why, "duplicate session drained") == 0 ||
	    strcmp(why, "a connection from ourselves") == 0 || strcmp(why, TUN_WHY_PROBE) == 0 ||
	    strcmp(why, TUN_WHY_P2P) == 0 || strcmp(why, TUN_WHY_MIGRATE) == 0)
		return;
	if (s->fp_mismatch || strstr(why, "PSK mismatch") != NULL)
		t->hs_fail[TUN_HSF_PSK]++;
	else if (strstr(why, "timed out") != NULL || strstr(why, "timeout") != NULL)
		t->hs_fail[TUN_HSF_TIMEOUT]++;
	else if (s->state == SS_CONNECTING || strstr(why, "refused") != NULL)
		t->hs_fail[TUN_HSF_REFUSED]++;
	else
		t->hs_fail[TUN_HSF_PROTOCOL]++;
}

static void
peer_samples(struct tunneld *t, const char *name, struct em_samples *ss)
{
	struct tun_peer *p = tun_peer_get(t, name, 0);
	struct tun_session *s = p != NULL ? p->sess : NULL;
	uint64_t tx = p != NULL ? p->tx : 0, rx = p != NULL ? p->rx : 0;
	char ours[16], err[72] = ""; /* a label: kept short */
	const char *path = "direct";
	int up = s != NULL && s->state == SS_UP;

	if (!up && p != NULL)
		snprintf(err, sizeof(err), "%s", p->last_err);
	if (up) {
		tx += s->tx;
		rx += s->rx;
	}
	if (up && s->ws != NULL)
		path = "ws";
	else if (up && s->relayed)
		path = "relayed";
	else if (up && s->punched)
		path = "punched";
	metrics_add(ss, EM_M_PEER_UP, up, "peer", name, "path", path, "via",
		    up && s->relayed ? s->addr : "", "error", err, NULL);
	if (up && s->rtt_us > 0) /* absent until the first keepalive's answer */
		metrics_add(ss, EM_M_PEER_RTT, (double)s->rtt_us / 1e6, "peer", name, NULL);
	metrics_add(ss, EM_M_PEER_TX, (double)tx, "peer", name, NULL);
	metrics_add(ss, EM_M_PEER_RX, (double)rx, "peer", name, NULL);
	metrics_add(ss, EM_M_PEER_STREAMS, up ? (double)s->nstreams : 0, "peer", name, NULL);
	if (p != NULL && p->reach_known) {
		snprintf(err, sizeof(err), "%s", p->reach_ok ? "" : p->reach_why);
		metrics_add(ss, EM_M_PEER_UNREACHABLE, !p->reach_ok, "peer", name, "error", err,
			    NULL);
	}
	if (p != NULL && p->refused) {
		tun_fp_short(t->fp, ours);
		metrics_add(ss, EM_M_PEER_PSK_MISMATCH, 1, "peer", name, "ours", ours, "theirs",
			    p->their_fp, NULL);
	}
}

void
tun_metrics_fill(void *arg, struct em_samples *ss)
{
	struct tunneld *t = arg;
	struct replica_iter it;
	const struct em_object *o;
	int i;

	tun_pin_samples(t, ss);
	replica_iter_init(&it);
	while (replica_next(t->d->replica, EM_TOPIC_PEERS, &it, &o))
		if (strcmp(o->u.peer->name, t->d->cfg.node_name) != 0)
			peer_samples(t, o->u.peer->name, ss);
	metrics_add(ss, EM_M_HANDSHAKES, (double)t->hs_ok, NULL);
	for (i = 0; i < TUN_HSF_N; i++)
		metrics_add(ss, EM_M_HANDSHAKE_FAILURES, (double)t->hs_fail[i], "reason",
			    hsf_names[i], NULL);
}
