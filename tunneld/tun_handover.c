/*
 * Restart and upgrade without dropping a session or a stream.
 *
 * At SIGTERM (systemctl stop/restart, a container stop) tunneld hands the
 * next process what it holds instead of closing it: the tunnel listener,
 * every up session (its socket, both transport keys and nonces, the rekey
 * schedule, the bytes read of a record not yet whole, the sealed records
 * not yet written) and every stream (its fd, windows, half-close state,
 * the bytes its fd did not take yet).  All of it is written between two
 * loop iterations, so every record boundary is where the old process left
 * it; the kernel keeps what arrives meanwhile in the sockets.  The records
 * are sealed (tun_handover_wire.c) and parked with the fds in the
 * controller (FD_STORE, as the listening sockets of every daemon, closed if
 * not fetched within 10 s); the next process fetches them at start, opens
 * them with the node's static key and goes on.  The peers see a pause.
 *
 * SIGHUP or SIGUSR2 (systemctl reload): the same hand-over, tunnel.sock's
 * listener too, to a new exec of the binary (the path it was started from:
 * an upgraded build) in the same pid, the carrier socket inherited.  If the
 * exec fails, nothing was let go: the old process serves on.
 *
 * A session over a WebSocket (transport ws, wsPort) goes with its
 * WebSocket: the TCP socket, both ends of the socketpair between the two,
 * the framing state and its buffers (tun_ws.c).  A relay circuit still
 * opening at the relay goes too: each half's record names the other's
 * session and stream id, paired again once everything is restored.
 *
 * Not handed over: sessions still in their handshake (closed, redialed),
 * sessions moving to another path right then (closed, redialed), tunnel.sock's clients
 * (they reconnect and send again the opens not answered yet: those streams
 * are reset at the peer by the next process), edgemeshctl pings in flight.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hmap.h"
#include "log.h"
#include "sandbox.h"
#include "tun_handover.h"
#include "tunneld.h"

struct tun_handover {
	struct ho_in in;
	int have_psk;
	uint8_t psk[NOISE_KEY_LEN];
};

enum { SF_INITIATOR = 1, SF_DRAINING = 2, SF_RELAYED = 4, SF_PEER_SESS = 8, SF_REKEY_DUE = 16 };
enum {
	TF_LOCAL = 1,
	TF_RD_EOF = 2,
	TF_REMOTE_FIN = 4,
	TF_WR_SHUT = 8,
	TF_CIRCUIT = 16,
	TF_CIRC_OUT = 32,
};

#define HO_ENV_SANDBOXED "EDGEMESH_TUNNELD_SANDBOXED"

static char ho_exe[PATH_MAX];
static int ho_sandboxed;  /* an exec'd successor: the predecessor's sandbox holds */
static int ho_ws_fd = -1; /* the wsPort listener a reload's predecessor handed over */
static char **ho_argv;
static ev_signal ho_sighup, ho_sigusr2;

static uint64_t
us(double s)
{
	return s > 0 ? (uint64_t)(s * 1e6) : 0;
}

/* ---- saving ---- */

/* Whether an up session goes to the next process: not one moving to
 * another path right now, nor one whose WebSocket is closing. */
static int
carried(const struct tun_session *s)
{
	return s->state == SS_UP && s->mig == NULL && (s->ws == NULL || tun_ws_carried(s));
}

/* A carried session's place among those handed over: a relay circuit being
 * opened names its other half's session so. */
static uint32_t
sess_ordinal(struct tunneld *t, const struct tun_session *target)
{
	const struct tun_session *s;
	uint32_t n = 0;

	LIST_FOREACH(s, &t->sessions, link)
	{
		if (!carried(s))
			continue;
		if (s == target)
			return n;
		n++;
	}
	return HO_NOFD;
}

static void
save_stream(struct tunneld *t, struct ho_buf *b, const struct tun_stream *st)
{
	uint8_t fl = (st->local ? TF_LOCAL : 0) | (st->rd_eof ? TF_RD_EOF : 0) |
		     (st->remote_fin ? TF_REMOTE_FIN : 0) | (st->wr_shut ? TF_WR_SHUT : 0) |
		     (st->circuit ? TF_CIRCUIT : 0) | (st->circ_out ? TF_CIRC_OUT : 0);

	ho_put_u32(b, st->id);
	ho_put_u8(b, st->proto);
	ho_put_u8(b, st->state);
	ho_put_u8(b, fl);
	ho_put_fd(b, st->fd);
	ho_put_str(b, st->circ_name);
	ho_put_u32(b, st->send_win);
	ho_put_u32(b, st->recv_win);
	ho_put_u32(b, st->win);
	ho_put_u32(b, st->consumed);
	ho_put_bytes(b, st->obuf != NULL ? st->obuf + st->ooff : NULL, st->olen);
	ho_put_u64(b, st->client_serial);
	ho_put_u64(b, st->open_id);
	ho_put_bytes(b, st->reply, st->reply_len);
	ho_put_u8(b, st->req.proto);
	ho_put_u16(b, st->req.port);
	ho_put_str(b, st->req.ip);
	ho_put_str(b, st->req.client);
	ho_put_u64(b, us(st->idle));
	/* a relay circuit still opening: its other half (session, stream id) */
	ho_put_u32(b, st->twin != NULL ? sess_ordinal(t, st->twin->s) : HO_NOFD);
	ho_put_u32(b, st->twin != NULL ? st->twin->id : 0);
}

/* A stream opened through tunnel.sock whose opener has no answer yet. */
static int
local_unanswered(const struct tun_stream *st)
{
	return st->local && st->state != ST_OPEN;
}

static void
save_session(struct ho_buf *b, struct tun_session *s, ev_tstamp now, size_t *nst)
{
	uint8_t cs[NOISE_CS_EXPORT_MAX], fl;
	struct hmap_iter it;
	const void *k;
	void *v;
	size_t n;

	tun_session_seal(s); /* the open record: wbuf is whole records now */
	fl = (s->initiator ? SF_INITIATOR : 0) | (s->draining ? SF_DRAINING : 0) |
	     (s->relayed ? SF_RELAYED : 0) |
	     (s->peer != NULL && s->peer->sess == s ? SF_PEER_SESS : 0) |
	     (s->rekey_due ? SF_REKEY_DUE : 0);
	ho_rec_begin(b, HR_SESSION);
	ho_put_fd(b, s->fd);
	ho_put_u8(b, fl);
	ho_put_str(b, s->name);
	ho_put_str(b, s->addr);
	ho_put_str(b, s->expect);
	n = noise_cs_export(&s->cs[0], cs);
	ho_put_bytes(b, cs, n);
	n = noise_cs_export(&s->cs[1], cs);
	ho_put_bytes(b, cs, n);
	sodium_memzero(cs, sizeof(cs));
	ho_put_u64(b, s->since_rekey);
	ho_put_u64(b, us(now - s->rekey_at));
	ho_put_u64(b, us(now - s->up_at));
	ho_put_u64(b, s->tx);
	ho_put_u64(b, s->rx);
	ho_put_u32(b, s->next_sid);
	ho_put_u64(b, s->rtt_us);
	ho_put_bytes(b, s->rbuf, s->rlen);
	ho_put_bytes(b, s->wbuf + s->woff, s->wlen - s->woff);
	/* opens of ours not answered yet: the opener asks the next process again
	 * (tunnel.sock is not carried), so the next one resets them at the peer */
	n = 0;
	hmap_iter_init(&it);
	while (hmap_nextb(s->streams, &it, &k, NULL, &v))
		n += local_unanswered(v);
	ho_put_u32(b, (uint32_t)n);
	hmap_iter_init(&it);
	while (hmap_nextb(s->streams, &it, &k, NULL, &v))
		if (local_unanswered(v))
			ho_put_u32(b, ((struct tun_stream *)v)->id);
	/* what proves a later move of the session to another path (tun_migrate.c) */
	ho_put_bytes(b, s->mig_key, sizeof(s->mig_key));
	ho_put_bytes(b, s->mig_id, sizeof(s->mig_id));
	ho_put_u8(b, s->peer_caps); /* what the peer's hello offered (early data) */
	ho_rec_end(b);
	if (s->ws != NULL) { /* its WebSocket, before its streams */
		ho_rec_begin(b, HR_WS);
		tun_ws_save(s, b);
		ho_rec_end(b);
	}
	hmap_iter_init(&it);
	while (hmap_nextb(s->streams, &it, &k, NULL, &v)) {
		if (local_unanswered(v))
			continue;
		ho_rec_begin(b, HR_STREAM);
		save_stream(s->t, b, v);
		ho_rec_end(b);
		(*nst)++;
	}
}

/* Relay circuits still opening at the relay pair two streams by pointer
 * (the stream records name each other's session and id): a pair with a
 * half on a session that is not carried is torn down (both openers hear of
 * it). */
static void
drop_opening_circuits(struct tunneld *t)
{
	struct tun_session *s;
	struct hmap_iter it;
	const void *k;
	void *v;
	int again;

	LIST_FOREACH(s, &t->sessions, link)
	{
		if (s->state != SS_UP)
			continue;
		do {
			again = 0;
			hmap_iter_init(&it);
			while (hmap_nextb(s->streams, &it, &k, NULL, &v)) {
				struct tun_stream *tw = ((struct tun_stream *)v)->twin;

				if (tw != NULL && (!carried(s) || !carried(tw->s))) {
					tun_stream_reset(v, "the relay is restarting");
					again = 1;
					break;
				}
			}
		} while (again);
	}
}

/* Everything into records and a carrier socket; nothing is let go here. */
static int
ho_save(struct tunneld *t, int with_hfd, int *carrier, char *err, size_t errlen, size_t *nsess,
	size_t *nst)
{
	struct ho_buf b;
	struct tun_session *s;
	ev_tstamp now = ev_now(t->d->loop);
	int rc;

	drop_opening_circuits(t);
	/* answers already queued for the openers reach them first: an opener
	 * that did not get one asks the next process again */
	tun_handoff_flush(0.2);
	memset(&b, 0, sizeof(b));
	*nsess = *nst = 0;
	ho_rec_begin(&b, HR_GLOBAL);
	ho_put_bytes(&b, t->psk, NOISE_KEY_LEN);
	ho_put_fd(&b, t->lfd);
	/* tunnel.sock: an exec as our user could not make it again (the runtime
	 * dir may be root's); a start after a stop makes it anew */
	ho_put_fd(&b, with_hfd ? t->hfd : -1);
	/* and the WebSocket listener (wsPort may be below 1024; and a restart's
	 * dials wait in its backlog rather than be refused) */
	ho_put_fd(&b, tun_ws_listen_fd(t));
	ho_rec_end(&b);
	LIST_FOREACH(s, &t->sessions, link)
	{
		if (s->state != SS_UP)
			continue;
		/* a move to another path under way is not carried (nor a
		 * WebSocket not open): those sessions close, their peers redial */
		if (!carried(s)) {
			log_info("hand-over: the session with %s is not carried (%s)", s->name,
				 s->mig != NULL ? "moving to another path"
						: "its WebSocket is closing");
			continue;
		}
		save_session(&b, s, now, nst);
		(*nsess)++;
	}
	ho_rec_begin(&b, HR_END);
	ho_rec_end(&b);
	rc = ho_send(&b, t->spriv, carrier, err, errlen);
	ho_buf_free(&b);
	return rc;
}

/* After the hand-over: let go of everything without a word, wipe the keys. */
static void
ho_let_go(struct tunneld *t)
{
	struct tun_session *s;
	struct tun_stream *st;
	struct tun_peer *p;
	struct hmap_iter it;
	const char *name;

	ev_io_stop(t->d->loop, &t->lw);
	ev_io_stop(t->d->loop, &t->hw);
	while ((s = LIST_FIRST(&t->sessions)) != NULL)
		tun_session_forget(s);
	tun_ws_let_go(t);
	hmap_iter_init(&it);
	while (hmap_next(t->peers, &it, &name, (void **)&p)) {
		p->dialing = p->relaying = NULL;
		ev_timer_stop(t->d->loop, &p->retry);
		while ((st = TAILQ_FIRST(&p->pending)) != NULL)
			tun_stream_free(st);
	}
	sodium_memzero(t->spriv, NOISE_KEY_LEN);
	sodium_memzero(t->psk, NOISE_KEY_LEN);
}

int
tun_handover_park(struct tunneld *t)
{
	char err[256];
	size_t nsess, nst;
	int carrier;
	double t0 = ev_time();

	if (ho_save(t, 0, &carrier, err, sizeof(err), &nsess, &nst) == -1) {
		log_warnx("hand-over: %s; closing the sessions instead", err);
		return -1;
	}
	if (daemon_fd_park(t->d, HO_CTL_KEY, carrier, err, sizeof(err)) == -1) {
		close(carrier);
		log_warnx("hand-over: cannot park it with the controller (%s); closing the "
			  "sessions instead",
			  err);
		return -1;
	}
	close(carrier);
	ho_let_go(t);
	log_info("handed %zu sessions and %zu streams to the next tunneld (parked with the "
		 "controller, %.1f ms)",
		 nsess, nst, (ev_time() - t0) * 1e3);
	return 0;
}

/* Every fd but the carrier closes at exec: a stray copy would keep a stream
 * open after the successor closed it. */
static void
cloexec_all(int keep)
{
	struct dirent *de;
	DIR *dir;
	int fd, fl;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		fd = atoi(de->d_name);
		if (de->d_name[0] == '.' || fd <= 2 || fd == keep || fd == dirfd(dir))
			continue;
		if ((fl = fcntl(fd, F_GETFD)) != -1 && !(fl & FD_CLOEXEC))
			fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
	}
	closedir(dir);
}

static void
ho_exec_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct tunneld *t = w->data;
	char err[256], num[16];
	size_t nsess, nst;
	sigset_t none;
	int carrier;

	log_info("signal %d: handing over to a new %s", w->signum, ho_exe);
	if (ho_save(t, 1, &carrier, err, sizeof(err), &nsess, &nst) == -1) {
		log_warnx("hand-over: %s; serving on", err);
		return;
	}
	if (fcntl(carrier, F_SETFD, 0) == -1) {
		log_warn("hand-over: the carrier socket");
		close(carrier);
		return;
	}
	snprintf(num, sizeof(num), "%d", carrier);
	setenv(HO_ENV, num, 1);
	if (!sandbox_disabled())
		setenv(HO_ENV_SANDBOXED, "1", 1);
	cloexec_all(carrier);
	log_info("handing %zu sessions and %zu streams to %s", nsess, nst, ho_exe);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv(ho_exe, ho_argv);
	/* still here: nothing was let go */
	log_warn("hand-over: exec %s failed; serving on", ho_exe);
	unsetenv(HO_ENV);
	unsetenv(HO_ENV_SANDBOXED);
	close(carrier);
}

int
tun_handover_ws_fd(struct tunneld *t, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd = ho_ws_fd, got = -1;

	(void)t;
	ho_ws_fd = -1;
	if (fd == -1)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		got = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (got != port) {
		close(fd);
		return -1;
	}
	return fd;
}

int
tun_handover_sandboxed(void)
{
	return ho_sandboxed;
}

void
tun_handover_signals(struct tunneld *t, char **argv)
{
	ssize_t n;

	ho_argv = argv;
	if ((n = readlink("/proc/self/exe", ho_exe, sizeof(ho_exe) - 1)) <= 0)
		snprintf(ho_exe, sizeof(ho_exe), "%s", argv[0]);
	else
		ho_exe[n] = '\0';
	ev_signal_init(&ho_sighup, ho_exec_cb, SIGHUP);
	ev_signal_init(&ho_sigusr2, ho_exec_cb, SIGUSR2);
	ho_sighup.data = ho_sigusr2.data = t;
	ev_signal_start(t->d->loop, &ho_sighup);
	ev_signal_start(t->d->loop, &ho_sigusr2);
}

/* ---- taking over ---- */

void
tun_handover_fetch(struct tunneld *t)
{
	struct tun_handover *ho;
	struct rlimit rl;
	const char *env;
	char err[256];
	int carrier = -1;

	if (getenv(HO_ENV_SANDBOXED) != NULL) {
		/* seccomp and Landlock stay across an exec: the predecessor's hold
		 * (another layer each reload would reach the kernel's bounds) */
		ho_sandboxed = 1;
		unsetenv(HO_ENV_SANDBOXED);
	}
	/* a hand-over of many streams is many fds at once */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((env = getenv(HO_ENV)) != NULL) {
		carrier = atoi(env);
		unsetenv(HO_ENV);
		if (carrier <= 2 || fcntl(carrier, F_GETFD) == -1) {
			log_warnx("%s=%s names no open fd: starting clean", HO_ENV, env);
			carrier = -1;
		} else
			fcntl(carrier, F_SETFD, FD_CLOEXEC);
	} else
		carrier = daemon_fd_fetch(t->d, HO_CTL_KEY);
	if (carrier == -1)
		return;
	ho = xcalloc(1, sizeof(*ho));
	if (ho_recv(carrier, &ho->in, err, sizeof(err)) == -1) {
		log_warnx("hand-over refused: %s; starting clean", err);
		ho_in_free(&ho->in);
		free(ho);
		return;
	}
	t->ho = ho;
}

void
tun_handover_open(struct tunneld *t, int psk_from_file)
{
	struct tun_handover *ho = t->ho;
	struct ho_rd r, f;
	const uint8_t *psk;
	size_t plen;
	uint8_t type;
	char err[256];
	int fd;

	if (ho == NULL)
		return;
	if (ho_open(&ho->in, t->spriv, err, sizeof(err)) == -1)
		goto refuse;
	memset(&r, 0, sizeof(r));
	r.p = ho->in.plain;
	r.len = ho->in.plen;
	if (ho_next_rec(&r, &type, &f) != 1 || type != HR_GLOBAL) {
		snprintf(err, sizeof(err), "the hand-over does not start with its global record");
		goto refuse;
	}
	if (ho->in.age > HO_PARK_SECS + 5) {
		snprintf(err, sizeof(err),
			 "it was made %.0f s ago (peers have given its sessions up)", ho->in.age);
		goto refuse;
	}
	psk = ho_get_bytes(&f, &plen);
	if (psk != NULL && plen == NOISE_KEY_LEN) {
		memcpy(ho->psk, psk, NOISE_KEY_LEN);
		ho->have_psk = 1;
	}
	if (psk_from_file && ho->have_psk && sodium_memcmp(ho->psk, t->psk, NOISE_KEY_LEN) != 0) {
		snprintf(err, sizeof(err),
			 "the PSK file holds another PSK now: the sessions admitted with the "
			 "old one are closed, peers come back with the new one");
		goto refuse;
	}
	if ((fd = ho_take_fd(&ho->in, ho_get_u32(&f))) != -1) {
		int acc = 0;
		socklen_t al = sizeof(acc);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1 || !acc) {
			close(fd);
			fd = -1;
		}
		if (t->lfd != -1)
			close(t->lfd);
		if (fd != -1)
			t->lfd = fd;
	}
	if ((fd = ho_take_fd(&ho->in, ho_get_u32(&f))) != -1)
		t->hfd = fd;
	ho_ws_fd = ho_take_fd(&ho->in, ho_get_u32(&f));
	if (f.err != NULL) {
		snprintf(err, sizeof(err), "global record: %s", f.err);
		goto refuse;
	}
	log_info("taking over from tunneld pid %u (build %s), handed over %.0f ms ago", ho->in.pid,
		 ho->in.build, ho->in.age * 1e3);
	return;
refuse:
	log_warnx("hand-over refused: %s; starting clean", err);
	if (t->lfd != -1) {
		close(t->lfd);
		t->lfd = -1;
	}
	if (t->hfd != -1) {
		close(t->hfd);
		t->hfd = -1;
	}
	if (ho_ws_fd != -1) {
		close(ho_ws_fd);
		ho_ws_fd = -1;
	}
	ho_in_free(&ho->in); /* closes the sessions the predecessor held */
	sodium_memzero(ho->psk, sizeof(ho->psk));
	free(ho);
	t->ho = NULL;
}

int
tun_handover_psk(struct tunneld *t)
{
	if (t->ho == NULL || !t->ho->have_psk)
		return -1;
	memcpy(t->psk, t->ho->psk, NOISE_KEY_LEN);
	noise_psk_fingerprint(t->psk, t->fp);
	return 0;
}

static int
load_stream(struct ho_rd *f, struct ho_in *in, struct tun_stream **out, struct tun_session *s,
	    struct tun_peer *p, uint32_t *tord, uint32_t *tid)
{
	struct tun_stream *st;
	const uint8_t *ob, *rp;
	size_t olen, rlen;
	uint32_t id;
	uint8_t proto, state, fl;
	int fd;

	id = ho_get_u32(f);
	proto = ho_get_u8(f);
	state = ho_get_u8(f);
	fl = ho_get_u8(f);
	fd = ho_take_fd(in, ho_get_u32(f));
	if (f->err != NULL || fd == -1 || (proto != EM_PROTO_TCP && proto != EM_PROTO_UDP) ||
	    state > ST_OPEN) {
		if (fd != -1)
			close(fd);
		if (f->err == NULL)
			f->err = "a stream without its fd, or of an unknown kind";
		return -1;
	}
	st = tun_stream_new(s, p, fd, proto);
	st->id = id;
	st->state = state;
	st->local = (fl & TF_LOCAL) != 0;
	st->rd_eof = (fl & TF_RD_EOF) != 0;
	st->remote_fin = (fl & TF_REMOTE_FIN) != 0;
	st->wr_shut = (fl & TF_WR_SHUT) != 0;
	st->circuit = (fl & TF_CIRCUIT) != 0;
	st->circ_out = (fl & TF_CIRC_OUT) != 0;
	ho_get_str(f, st->circ_name, sizeof(st->circ_name));
	st->send_win = ho_get_u32(f);
	st->recv_win = ho_get_u32(f);
	st->win = ho_get_u32(f);
	st->consumed = ho_get_u32(f);
	ob = ho_get_bytes(f, &olen);
	st->client_serial = ho_get_u64(f);
	st->client_serial = 0; /* that opener's connection was not carried: answer nobody */
	st->open_id = ho_get_u64(f);
	rp = ho_get_bytes(f, &rlen);
	if (rlen <= sizeof(st->reply)) {
		memcpy(st->reply, rp, rlen);
		st->reply_len = (uint8_t)rlen;
	}
	st->req.proto = ho_get_u8(f);
	st->req.port = ho_get_u16(f);
	ho_get_str(f, st->req.ip, sizeof(st->req.ip));
	ho_get_str(f, st->req.client, sizeof(st->req.client));
	st->idle = (double)ho_get_u64(f) / 1e6;
	*tord = HO_NOFD;
	*tid = 0;
	if (f->err == NULL && f->off < f->len) { /* not in a blob of an older build */
		*tord = ho_get_u32(f);
		*tid = ho_get_u32(f);
	}
	if (olen > 0 && ob != NULL) {
		st->obuf = xcalloc(1, olen);
		memcpy(st->obuf, ob, olen);
		st->ocap = st->olen = olen;
	}
	*out = st;
	if (f->err != NULL) {
		tun_stream_free(st);
		return -1;
	}
	return 0;
}

/* A stream of an up session: its watchers and timers as the state says. */
static void
start_stream(struct tun_stream *st, struct tun_session *s, uint32_t id)
{
	struct ev_loop *loop = s->t->d->loop;

	tun_stream_attach(st, s, id);
	if (st->state == ST_OPEN) {
		tun_stream_start(st);
		if (st->olen > 0)
			ev_io_start(loop, &st->ww);
	} else {
		if (st->state == ST_CONNECTING)
			ev_io_start(loop, &st->ww);
		/* the relay's half toward the opener waits for the other's answer */
		if (!st->circuit || st->circ_out || st->state != ST_OPENING)
			ev_timer_start(loop, &st->tmo);
	}
}

/* What the restore collects to pair the halves of relay circuits still
 * opening: the sessions in the order they were handed over, and the
 * streams that name their other half. */
struct ho_twin {
	struct tun_stream *st;
	uint32_t ord, id; /* its other half: session (place), stream id */
};
struct ho_pairing {
	struct tun_session **sess;
	size_t nsess, scap;
	struct ho_twin *tw;
	size_t ntw, tcap;
};

static void
pair_circuits(struct ho_pairing *pg, size_t *npaired)
{
	struct tun_stream *st, *x;
	struct tun_session *ts;
	size_t i;

	for (i = 0; i < pg->ntw; i++) {
		st = pg->tw[i].st;
		if (st->twin != NULL)
			continue; /* paired from its other half */
		ts = pg->tw[i].ord < pg->nsess ? pg->sess[pg->tw[i].ord] : NULL;
		x = ts != NULL ? tun_stream_find(ts, pg->tw[i].id) : NULL;
		if (x == NULL || x == st || x->twin != NULL || !x->circuit || x->state == ST_OPEN ||
		    st->state == ST_OPEN) {
			tun_circuit_drop(st,
					 "the relay restarted without the circuit's other half");
			continue;
		}
		st->twin = x;
		x->twin = st;
		(*npaired)++;
	}
	free(pg->sess);
	free(pg->tw);
}

static struct tun_session *
load_session(struct tunneld *t, struct ho_rd *f, struct ho_in *in)
{
	struct tun_session *s;
	struct tun_peer *p;
	const uint8_t *cs0, *cs1, *rb, *wb, *mk;
	size_t l0, l1, rl, wl, ml;
	ev_tstamp now = ev_now(t->d->loop);
	uint32_t norph, i, sid;
	uint8_t fl;
	int fd;

	fd = ho_take_fd(in, ho_get_u32(f));
	fl = ho_get_u8(f);
	if (fd == -1) {
		f->err = "a session without its socket";
		return NULL;
	}
	s = tun_session_adopt(t, fd, (fl & SF_INITIATOR) != 0);
	s->draining = (fl & SF_DRAINING) != 0;
	s->relayed = (fl & SF_RELAYED) != 0;
	s->rekey_due = (fl & SF_REKEY_DUE) != 0;
	ho_get_str(f, s->name, sizeof(s->name));
	ho_get_str(f, s->addr, sizeof(s->addr));
	ho_get_str(f, s->expect, sizeof(s->expect));
	cs0 = ho_get_bytes(f, &l0);
	cs1 = ho_get_bytes(f, &l1);
	s->since_rekey = ho_get_u64(f);
	s->rekey_at = now - (double)ho_get_u64(f) / 1e6;
	s->up_at = now - (double)ho_get_u64(f) / 1e6;
	s->created = s->up_at;
	s->tx = ho_get_u64(f);
	s->rx = ho_get_u64(f);
	s->next_sid = ho_get_u32(f);
	s->rtt_us = ho_get_u64(f);
	rb = ho_get_bytes(f, &rl);
	wb = ho_get_bytes(f, &wl);
	norph = ho_get_u32(f);
	if (f->err == NULL &&
	    (cs0 == NULL || cs1 == NULL || noise_cs_import(&s->cs[0], cs0, l0) == -1 ||
	     noise_cs_import(&s->cs[1], cs1, l1) == -1))
		f->err = "a session's cipher state is of a kind this build does not know";
	if (f->err == NULL && (rl > s->rcap || s->name[0] == '\0'))
		f->err = "a session's read buffer is over this build's bound";
	if (f->err != NULL) {
		s->peer = NULL;
		tun_session_close(s, "could not be taken over");
		return NULL;
	}
	memcpy(s->rbuf, rb, rl);
	s->rlen = rl;
	if (wl > s->wcap) {
		free(s->wbuf);
		s->wbuf = xcalloc(1, wl);
		s->wcap = wl;
	}
	memcpy(s->wbuf, wb, wl);
	s->woff = 0;
	s->wlen = s->sealed = wl;
	/* no OPEN is read before the replica says what may be opened */
	ev_io_stop(t->d->loop, &s->rw);
	p = tun_peer_get(t, s->name, 1);
	s->peer = p;
	p->want = 1;
	if (fl & SF_PEER_SESS)
		p->sess = s;
	/* our opens the opener will ask again for: gone at the peer too */
	for (i = 0; i < norph && f->err == NULL; i++) {
		sid = ho_get_u32(f);
		tun_session_frame(s, TUN_F_RST, sid, "tunneld restarted", 17);
	}
	if ((mk = ho_get_bytes(f, &ml)) != NULL && ml == sizeof(s->mig_key))
		memcpy(s->mig_key, mk, ml);
	if ((mk = ho_get_bytes(f, &ml)) != NULL && ml == sizeof(s->mig_id))
		memcpy(s->mig_id, mk, ml);
	s->peer_caps = ho_get_u8(f);
	if (s->state == SS_UP)
		tun_session_dirty(s);
	return s;
}

void
tun_handover_restore(struct tunneld *t)
{
	struct tun_handover *ho = t->ho;
	struct tun_session *s = NULL;
	struct tun_stream *st;
	struct ho_pairing pg;
	struct ho_rd r, f;
	size_t nsess = 0, nst = 0, nws = 0, ncirc = 0, left;
	uint32_t tord, tid;
	uint8_t type;
	int rc;

	if (ho_ws_fd != -1) { /* a WebSocket listener the config no longer has */
		close(ho_ws_fd);
		ho_ws_fd = -1;
	}
	if (ho == NULL)
		return;
	memset(&r, 0, sizeof(r));
	memset(&pg, 0, sizeof(pg));
	r.p = ho->in.plain;
	r.len = ho->in.plen;
	while ((rc = ho_next_rec(&r, &type, &f)) == 1) {
		switch (type) {
		case HR_SESSION:
			if ((s = load_session(t, &f, &ho->in)) != NULL)
				nsess++;
			if (pg.nsess == pg.scap) {
				pg.scap = pg.scap ? 2 * pg.scap : 16;
				pg.sess = xreallocarray(pg.sess, pg.scap, sizeof(*pg.sess));
			}
			pg.sess[pg.nsess++] = s;
			break;
		case HR_WS:
			if (s == NULL)
				break;
			if (tun_ws_adopt(t, s, &f, &ho->in) == -1) {
				/* its socketpair end closes with the rest: say why now */
				tun_session_close(s, "its WebSocket could not be taken over");
				s = NULL;
				pg.sess[pg.nsess - 1] = NULL;
				nsess--;
			} else
				nws++;
			break;
		case HR_STREAM:
			if (s == NULL) /* its session could not be taken: the fd closes */
				break;
			if (load_stream(&f, &ho->in, &st, NULL, NULL, &tord, &tid) == 0) {
				start_stream(st, s, st->id);
				nst++;
				if (tord == HO_NOFD)
					break;
				if (pg.ntw == pg.tcap) {
					pg.tcap = pg.tcap ? 2 * pg.tcap : 16;
					pg.tw = xreallocarray(pg.tw, pg.tcap, sizeof(*pg.tw));
				}
				pg.tw[pg.ntw].st = st;
				pg.tw[pg.ntw].ord = tord;
				pg.tw[pg.ntw++].id = tid;
			}
			break;
		default:
			break; /* a record of a newer build: skipped */
		}
		if (f.err != NULL)
			log_warnx("hand-over: record %u: %s; the rest of it is dropped", type,
				  f.err);
	}
	if (rc == -1)
		log_warnx("hand-over: the records end early (%s)", r.err ? r.err : "?");
	pair_circuits(&pg, &ncirc);
	left = ho_in_free(&ho->in);
	sodium_memzero(ho->psk, sizeof(ho->psk));
	free(ho);
	t->ho = NULL;
	log_info("took over %zu sessions and %zu streams (%zu sessions over a WebSocket, %zu "
		 "relay circuits opening)%s",
		 nsess, nst, nws, ncirc, left ? " (some fds were left over and closed)" : "");
}

/* The replica is synced, or the controller did not answer in time (daemon.h
 * on_serve, once): handed-over sessions read again and tunnel.sock takes
 * openers (before, an OPEN either way would be refused for a node or
 * endpoint not known yet). */
void
tun_handover_serve(struct tunneld *t)
{
	struct tun_session *s;

	LIST_FOREACH(s, &t->sessions, link)
	if (s->state == SS_UP && !ev_is_active(&s->rw))
		ev_io_start(t->d->loop, &s->rw);
	tun_handoff_start(t);
}

int
tun_listen_reuse(struct tunneld *t, int port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss), al;
	int fd, acc = 0, got = -1;

	if (t->lfd != -1)
		return 0; /* handed over */
	if ((fd = daemon_fd_fetch(t->d, "tunnel")) == -1)
		return -1;
	al = sizeof(acc);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			got = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			got = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	if (got != port || getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1 || !acc) {
		log_info("the kept tunnel listener is for port %d; opening port %d", got, port);
		close(fd);
		return -1;
	}
	t->lfd = fd;
	log_info("took the tunnel listener back from the controller: peers that dialed "
		 "meanwhile wait in its backlog");
	return 0;
}
