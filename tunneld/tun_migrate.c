/*
 * Session path migration: an up session (Noise transport state, nonces,
 * streams, windows) carries on over another byte path, a TCP connection or
 * a relay circuit's socketpair end.  Only the session's fd changes.
 *
 * The new path is authenticated before anything of the session goes over
 * it.  Both ends send, on the new path, the same kind of hello and then a
 * proof (symmetric: a TCP simultaneous open has no accepting side):
 *
 *   hello = 00 00 || "EMGR" || version 1 || flags || id[16] || nonce[16] || rxn u64
 *   proof = BLAKE2b-256(key = mig_key, "EMGR-proof" || role || nonce_self ||
 *                       nonce_peer || rxn || flags)        (tun_migkey.c)
 *
 * mig_key is derived from both transport keys at the split (secret: only
 * the two ends have it), id from mig_key (public: it only names the
 * session, for a new connection accepted on the listen port, whose first
 * two bytes 00 00 can be no handshake message).  role is I or R, the end's
 * role in the Noise handshake, so a proof cannot be reflected; the fresh
 * nonces make an old proof worthless.  rxn is the number of records the
 * sender has opened so far.
 *
 * The switch (the old path still works, e.g. a hole was punched):
 *   each end, once it holds the peer's valid proof, ends its current record
 *   with MIGRATE(its nonce) on the old path and writes nothing more there
 *   (records sealed after it wait);
 *   each end reads the old path up to the peer's MIGRATE and no further;
 *   when both are done (our old bytes all written, the peer's MIGRATE read,
 *   our proof written), the session's fd becomes the new path, the old one
 *   is closed (a relay circuit ends), and what waited is written.
 * Records keep their order and nonces: no byte lost or duplicated.
 *
 * When the old path is already dead (old_dead): a relayed session's EOF or
 * write error calls tun_migrate_path_lost(); if another relay can carry a
 * circuit, the initiator opens one and migrates over it, the responder
 * waits for it (accepted as above: the circuit's first bytes are 00 00).
 * There is no MIGRATE then: the switch is made only if the peer has opened
 * every record we sealed before the path died (its rxn) and we wrote them
 * all whole; else the session closes (streams reset): sent records are not
 * kept, so those lost with the relay cannot be resent.  A migration that
 * does not finish in TUN_MIG_TIMEOUT gives up: before any MIGRATE was sent
 * or read the session stays on its old path, after it (or with the old
 * path dead) the session closes.
 */
#include <sys/socket.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "log.h"
#include "tunneld.h"

struct tun_mig {
	struct tun_session *s;
	int fd;
	char addr[64];
	unsigned old_dead : 1;
	unsigned relayed : 1;	  /* the new path is a relay circuit */
	unsigned have_hello : 1;  /* the peer's hello is in */
	unsigned verified : 1;	  /* the peer's proof is good */
	unsigned sent_marker : 1; /* our MIGRATE is sealed */
	unsigned got_marker : 1;  /* the peer's MIGRATE was read */
	uint8_t nonce[16], pnonce[16];
	uint64_t rxn, prxn;
	uint8_t flags, pflags; /* the hellos' TUN_MIGH_DEAD */
	uint8_t in[TUN_MIG_HELLO + TUN_MIG_PROOF];
	size_t inlen;
	uint8_t out[TUN_MIG_HELLO + TUN_MIG_PROOF];
	size_t outoff, outlen;
	size_t old_left; /* wbuf bytes still for the old path, MIGRATE included */
	ev_io rw, ww;
	ev_timer tmo, kick;
};

static void mig_dead(struct tun_mig *);

/*
 * A relayed session's last sealed records (ciphertext, u16 length prefix
 * included), oldest first: records [first, first + count) are
 * buf[head..head+len).  A record the peer had not opened when the relay
 * died is written again on the new path; older ones are dropped beyond
 * TUN_TXRING_MAX.
 */
struct tun_txring {
	uint8_t *buf;
	size_t head, len, cap;
	uint64_t first, count;
};

static void
ring_free(struct tun_session *s)
{
	if (s->txring == NULL)
		return;
	free(s->txring->buf);
	free(s->txring);
	s->txring = NULL;
}

void
tun_migrate_sealed(struct tun_session *s, const uint8_t *rec, size_t n)
{
	struct tun_txring *r = s->txring;

	if (r == NULL) {
		r = s->txring = xcalloc(1, sizeof(*r));
		r->cap = TUN_TXRING_MAX + TUN_RBUF;
		r->buf = xcalloc(1, r->cap);
		r->first = s->cs[0].n - 1; /* this record's nonce */
	}
	while (r->len > 0 && r->len + n > TUN_TXRING_MAX) { /* drop the oldest */
		size_t old = 2 + (size_t)be16_get(r->buf + r->head);

		r->head += old;
		r->len -= old;
		r->first++;
		r->count--;
	}
	if (r->head + r->len + n > r->cap) {
		memmove(r->buf, r->buf + r->head, r->len);
		r->head = 0;
	}
	memcpy(r->buf + r->head + r->len, rec, n);
	r->len += n;
	r->count++;
}

/* The records from nonce from on, in wbuf in place of the sealed ones not
 * yet written (those are in the ring too); the open record stays after
 * them.  -1 if the ring no longer has them. */
static int
ring_rewind(struct tun_session *s, uint64_t from)
{
	struct tun_txring *r = s->txring;
	size_t off = 0, skip, tail, ncap;
	uint64_t i;
	uint8_t *nb;

	log_debug("session with %s: the peer opened %llu of our %llu records, %zu bytes queued",
		  s->name, (unsigned long long)from, (unsigned long long)s->cs[0].n,
		  s->sealed - s->woff);
	if (from == s->cs[0].n) { /* the peer has all we sealed */
		memmove(s->wbuf, s->wbuf + s->sealed, s->wlen - s->sealed);
		tail = s->wlen - s->sealed;
		if (s->rec != SIZE_MAX)
			s->rec -= s->sealed;
		s->woff = s->sealed = 0;
		s->wlen = tail;
		return 0;
	}
	if (r == NULL || from < r->first || from > r->first + r->count ||
	    r->first + r->count != s->cs[0].n)
		return -1;
	for (i = r->first; i < from; i++)
		off += 2 + (size_t)be16_get(r->buf + r->head + off);
	skip = r->len - off; /* bytes to write again */
	tail = s->wlen - s->sealed;
	ncap = skip + tail + 2 * TUN_HS_MAX;
	nb = xcalloc(1, ncap > s->wcap ? ncap : s->wcap);
	memcpy(nb, r->buf + r->head + off, skip);
	memcpy(nb + skip, s->wbuf + s->sealed, tail);
	if (s->rec != SIZE_MAX)
		s->rec = skip + (s->rec - s->sealed);
	free(s->wbuf);
	s->wbuf = nb;
	s->wcap = ncap > s->wcap ? ncap : s->wcap;
	s->woff = 0;
	s->sealed = skip;
	s->wlen = skip + tail;
	log_info("session with %s: %llu records the peer missed are sent again (%zu bytes)",
		 s->name, (unsigned long long)(s->cs[0].n - from), skip);
	return 0;
}

void
tun_migrate_keys(struct tun_session *s)
{
	const struct noise_cs *i2r = s->initiator ? &s->cs[0] : &s->cs[1];
	const struct noise_cs *r2i = s->initiator ? &s->cs[1] : &s->cs[0];

	tun_mig_derive(i2r->k, r2i->k, s->mig_key, s->mig_id);
}

static uint8_t
role_of(const struct tun_session *s, int peer)
{
	return (s->initiator != 0) != (peer != 0) ? 'I' : 'R';
}

static void
mig_free(struct tun_mig *m, int close_fd)
{
	struct ev_loop *loop = m->s->t->d->loop;

	ev_io_stop(loop, &m->rw);
	ev_io_stop(loop, &m->ww);
	ev_timer_stop(loop, &m->tmo);
	ev_timer_stop(loop, &m->kick);
	if (close_fd && m->fd != -1)
		close(m->fd);
	m->s->mig = NULL;
	free(m);
}

/* The migration failed.  Before any MIGRATE the session stays where it
 * was; after one it cannot. */
static void
mig_fail(struct tun_mig *m, const char *why)
{
	struct tun_session *s = m->s;
	int committed = m->sent_marker || m->got_marker || m->old_dead;
	char reason[256];

	log_info("session with %s: moving to %s failed: %s%s", s->name, m->addr, why,
		 committed ? "" : " (staying on the old path)");
	mig_free(m, 1);
	if (committed) {
		snprintf(reason, sizeof(reason), "path migration to another path failed: %s", why);
		tun_session_close(s, reason);
		return;
	}
	tun_punch_migrated(s, 0);
}

/* Old path dead, this candidate path failed before it was verified: drop
 * it and wait (TUN_MIG_TIMEOUT in all) for another.  0 if that does not
 * apply. */
static int
mig_detach(struct tun_mig *m, const char *why)
{
	struct ev_loop *loop = m->s->t->d->loop;

	if (!m->old_dead || m->verified || m->fd == -1)
		return 0;
	log_info("session with %s: path %s refused (%s): waiting for another", m->s->name, m->addr,
		 why);
	ev_io_stop(loop, &m->rw);
	ev_io_stop(loop, &m->ww);
	close(m->fd);
	m->fd = -1;
	m->inlen = m->outlen = m->outoff = 0;
	m->have_hello = 0;
	return 1;
}

static void
mig_kick(struct tun_mig *m)
{
	if (!ev_is_active(&m->kick))
		ev_timer_start(m->s->t->d->loop, &m->kick);
}

/* The session's fd becomes the new path. */
static void
mig_swap(struct tun_mig *m)
{
	struct tun_session *s = m->s;
	struct ev_loop *loop = s->t->d->loop;
	char old[64];
	int ofd = s->fd, was_relayed = s->relayed;

	if (s->rlen != 0 && !m->old_dead) {
		mig_fail(m, "bytes after the peer's MIGRATE on the old path");
		return;
	}
	s->rlen = 0; /* old_dead: a partial record of the dead path */
	ev_io_stop(loop, &s->rw);
	ev_io_stop(loop, &s->ww);
	s->fd = m->fd;
	ev_io_set(&s->rw, s->fd, EV_READ);
	ev_io_set(&s->ww, s->fd, EV_WRITE);
	ev_io_start(loop, &s->rw);
	close(ofd);
	snprintf(old, sizeof(old), "%s", s->addr);
	snprintf(s->addr, sizeof(s->addr), "%s", m->addr);
	s->relayed = m->relayed;
	s->pings_out = 0; /* the old path's silence is not the new one's */
	if (!s->relayed)
		ring_free(s);
	m->fd = -1;
	mig_free(m, 0);
	log_info("session with %s moved from %s%s to %s%s (streams kept: %zu)", s->name,
		 was_relayed ? "relay " : "", old, s->relayed ? "relay " : "", s->addr,
		 s->nstreams);
	tun_session_dirty(s); /* what waited for the new path */
	tun_punch_migrated(s, 1);
}

/* Everything the switch waits for is there? */
static void
mig_try(struct tun_mig *m)
{
	if (!m->verified || m->outoff < m->outlen)
		return;
	if (m->old_dead) {
		if (ring_rewind(m->s, m->prxn) == -1) {
			char why[160];

			snprintf(why, sizeof(why),
				 "the peer opened %llu of our %llu records and the rest are no "
				 "longer kept",
				 (unsigned long long)m->prxn, (unsigned long long)m->s->cs[0].n);
			mig_fail(m, why);
			return;
		}
		mig_swap(m);
		return;
	}
	if (m->sent_marker && m->old_left == 0 && m->got_marker)
		mig_swap(m);
}

static void
mig_kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	mig_try(w->data);
}

static void
mig_tmo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	mig_fail(w->data, "timed out");
}

static void
mig_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_mig *m = w->data;
	ssize_t n;

	while (m->outoff < m->outlen) {
		n = write(m->fd, m->out + m->outoff, m->outlen - m->outoff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1) {
			char why[128];

			snprintf(why, sizeof(why), "write: %s", strerror(errno));
			mig_fail(m, why);
			return;
		}
		m->outoff += (size_t)n;
	}
	ev_io_stop(loop, &m->ww);
	mig_try(m);
}

static void
mig_send(struct tun_mig *m, const uint8_t *p, size_t n)
{
	memcpy(m->out + m->outlen, p, n);
	m->outlen += n;
	ev_io_start(m->s->t->d->loop, &m->ww);
}

/* Seal MIGRATE at the end of the current record: the last on the old path. */
static void
mig_marker(struct tun_mig *m)
{
	struct tun_session *s = m->s;

	if (tun_session_frame(s, TUN_F_MIGRATE, 0, m->nonce, sizeof(m->nonce)) == -1)
		return;
	tun_session_seal(s);
	if (s->state == SS_DEAD)
		return;
	m->sent_marker = 1;
	m->old_left = s->sealed - s->woff;
	tun_session_dirty(s);
}

/* The peer's hello is in m->in: check it, answer with our proof. */
static int
mig_hello_in(struct tun_mig *m)
{
	struct tun_session *s = m->s;
	uint8_t proof[TUN_MIG_PROOF];

	uint8_t id[16];

	if (tun_mig_hello_decode(m->in, TUN_MIG_HELLO, id, m->pnonce, &m->prxn, &m->pflags) == -1) {
		if (!mig_detach(m, "not a migration hello"))
			mig_fail(m, "not a migration hello");
		return -1;
	}
	if (sodium_memcmp(id, s->mig_id, 16) != 0) {
		if (!mig_detach(m, "the hello names another session"))
			mig_fail(m, "the hello names another session");
		return -1;
	}
	m->have_hello = 1;
	tun_mig_proof(s->mig_key, role_of(s, 0), m->nonce, m->pnonce, m->rxn, m->flags, proof);
	mig_send(m, proof, sizeof(proof));
	return 0;
}

static void
mig_proof_in(struct tun_mig *m)
{
	struct tun_session *s = m->s;
	uint8_t want[TUN_MIG_PROOF];

	tun_mig_proof(s->mig_key, role_of(s, 1), m->pnonce, m->nonce, m->prxn, m->pflags, want);
	if (sodium_memcmp(want, m->in + TUN_MIG_HELLO, TUN_MIG_PROOF) != 0) {
		log_warnx("session with %s: a new path at %s did not prove it belongs to the "
			  "session: refused",
			  s->name, m->addr);
		if (!mig_detach(m, "bad proof"))
			mig_fail(m, "bad proof");
		return;
	}
	m->verified = 1;
	ev_io_stop(s->t->d->loop, &m->rw); /* the session reads it after the switch */
	log_debug("session with %s: path %s authenticated", s->name, m->addr);
	/* the peer's old path is gone (believed only now, with the proof):
	 * so is ours, no MIGRATE */
	if ((m->pflags & TUN_MIGH_DEAD) && !m->old_dead)
		mig_dead(m);
	if (!m->old_dead)
		mig_marker(m);
	if (s->state != SS_DEAD && s->mig == m)
		mig_try(m);
}

static void
mig_input(struct tun_mig *m)
{
	if (!m->have_hello && m->inlen >= TUN_MIG_HELLO && mig_hello_in(m) == -1)
		return;
	if (m->have_hello && m->inlen == TUN_MIG_HELLO + TUN_MIG_PROOF)
		mig_proof_in(m);
}

static void
mig_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct tun_mig *m = w->data;
	size_t want = m->have_hello ? TUN_MIG_HELLO + TUN_MIG_PROOF : TUN_MIG_HELLO;
	ssize_t n;

	/* exactly the hello, then exactly the proof: records after it are the
	 * session's, read once the fd is its own */
	n = read(m->fd, m->in + m->inlen, want - m->inlen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		const char *why = n == 0 ? "the new path closed" : strerror(errno);

		if (!mig_detach(m, why))
			mig_fail(m, why);
		return;
	}
	m->inlen += (size_t)n;
	mig_input(m);
}

static struct tun_mig *
mig_new(struct tun_session *s, const char *addr)
{
	struct tun_mig *m;

	m = xcalloc(1, sizeof(*m));
	m->s = s;
	m->fd = -1;
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	ev_timer_init(&m->tmo, mig_tmo_cb, TUN_MIG_TIMEOUT, 0.);
	ev_timer_init(&m->kick, mig_kick_cb, 0., 0.);
	m->tmo.data = m->kick.data = m;
	s->mig = m;
	ev_timer_start(s->t->d->loop, &m->tmo);
	return m;
}

/* The new path's fd: our hello goes out. */
static void
mig_attach(struct tun_mig *m, int fd)
{
	struct tun_session *s = m->s;
	uint8_t hello[TUN_MIG_HELLO];

	m->fd = fd;
	randombytes_buf(m->nonce, sizeof(m->nonce));
	m->rxn = s->cs[1].n;
	ev_io_init(&m->rw, mig_read_cb, fd, EV_READ);
	ev_io_init(&m->ww, mig_write_cb, fd, EV_WRITE);
	m->rw.data = m->ww.data = m;
	m->flags = m->old_dead ? TUN_MIGH_DEAD : 0;
	tun_mig_hello_encode(s->mig_id, m->nonce, m->rxn, m->flags, hello);
	mig_send(m, hello, sizeof(hello));
	ev_io_start(s->t->d->loop, &m->rw);
}

/* The old path is gone: read and write nothing more there.  The peer's
 * rxn will say which records to write again (ring_rewind). */
static void
mig_dead(struct tun_mig *m)
{
	struct tun_session *s = m->s;

	m->old_dead = 1;
	ev_io_stop(s->t->d->loop, &s->rw);
	ev_io_stop(s->t->d->loop, &s->ww);
}

/*
 * Move up session s to fd (connected; a TCP connection to the peer, or a
 * relay circuit's socketpair end: flags TUN_MIG_RELAYED, addr the relay).
 * TUN_MIG_OLD_DEAD: the old path is gone (see above).  0 when started (fd
 * is the migration's), -1 when refused (fd is still the caller's).
 */
int
tun_session_migrate(struct tun_session *s, int fd, const char *addr, int flags)
{
	struct tun_mig *m;

	if (s->state != SS_UP || s->mig != NULL || s->cs == NULL)
		return -1;
	m = mig_new(s, addr);
	m->relayed = (flags & TUN_MIG_RELAYED) != 0;
	if ((flags & TUN_MIG_OLD_DEAD) != 0)
		mig_dead(m);
	mig_attach(m, fd);
	log_debug("session with %s: moving to %s", s->name, addr);
	return 0;
}

/* A pre-auth connection whose first bytes are 00 00 (no handshake message
 * is empty): a migration hello for one of our sessions?  pre is closed
 * either way; its fd goes to the migration. */
void
tun_migrate_accept(struct tun_session *pre)
{
	struct tunneld *t = pre->t;
	struct tun_session *s;
	struct tun_mig *m;
	int fd = pre->fd;

	uint8_t id[16], nonce[16], flags;
	uint64_t rxn;

	if (tun_mig_hello_decode(pre->rbuf, pre->rlen, id, nonce, &rxn, &flags) == -1) {
		tun_session_close(pre, "not a migration hello");
		return;
	}
	LIST_FOREACH(s, &t->sessions, link)
	if (s != pre && s->state == SS_UP && sodium_memcmp(s->mig_id, id, 16) == 0)
		break;
	/* a session waiting for a new path (mig without fd), or a live one */
	if (s == NULL || (s->mig != NULL && s->mig->fd != -1) ||
	    (pre->expect[0] != '\0' && strcmp(pre->expect, s->name) != 0)) {
		log_debug("connection %s: a migration hello for %s session", pre->addr,
			  s == NULL ? "no" : "a busy or another");
		tun_session_close(pre, "migration hello for no session");
		return;
	}
	pre->fd = -1; /* the migration's now */
	m = s->mig != NULL ? s->mig : mig_new(s, pre->addr);
	snprintf(m->addr, sizeof(m->addr), "%s", pre->addr);
	m->relayed = pre->relayed;
	mig_attach(m, fd);
	memcpy(m->in, pre->rbuf, TUN_MIG_HELLO);
	m->inlen = TUN_MIG_HELLO;
	tun_session_close(pre, TUN_WHY_MIGRATE);
	mig_input(m);
}

int
tun_migrate_flush_limit(struct tun_session *s, size_t *len)
{
	struct tun_mig *m = s->mig;

	if (m == NULL)
		return 0;
	if (m->old_dead)
		return 1; /* all of it waits for the new path */
	if (!m->sent_marker)
		return 0;
	if (m->old_left == 0)
		return 1;
	if (*len > m->old_left)
		*len = m->old_left;
	return 0;
}

void
tun_migrate_wrote(struct tun_session *s, size_t n)
{
	struct tun_mig *m = s->mig;

	if (m == NULL || !m->sent_marker || m->old_left == 0)
		return;
	m->old_left -= n < m->old_left ? n : m->old_left;
	if (m->old_left == 0)
		mig_kick(m);
}

int
tun_migrate_rx_hold(const struct tun_session *s)
{
	return s->mig != NULL && s->mig->got_marker;
}

/* The peer's MIGRATE: the last record it wrote on the old path. */
void
tun_migrate_marker(struct tun_session *s, const uint8_t *p, size_t len)
{
	struct tun_mig *m = s->mig;

	if (m == NULL || !m->have_hello || len != 16 || sodium_memcmp(p, m->pnonce, 16) != 0) {
		log_warnx("session with %s: MIGRATE for a path we do not have: closing", s->name);
		tun_session_close(s, "MIGRATE for an unknown path");
		return;
	}
	m->got_marker = 1;
	ev_io_stop(s->t->d->loop, &s->rw); /* the old path is read to its end */
	mig_kick(m);
}

void
tun_migrate_gone(struct tun_session *s)
{
	ring_free(s);
	if (s->mig != NULL)
		mig_free(s->mig, 1);
}

/*
 * The relayed session s lost its path (EOF or an error on the circuit: the
 * relay died, or its session with the peer).  1 when s waits for a new
 * path through another relay (the initiator opens the circuit, the
 * responder expects it), 0 when it cannot and is to be closed.
 */
int
tun_migrate_path_lost(struct tun_session *s, const char *why)
{
	struct tun_peer *r;
	struct tun_mig *m;
	int fd = -1;

	if (!s->relayed || s->state != SS_UP || s->draining || s->peer == NULL)
		return 0;
	if (s->mig != NULL) { /* a migration under way: it is the way on */
		if (s->mig->old_dead)
			return 0;
		mig_dead(s->mig);
		return 1;
	}
	r = tun_relay_other(s->peer, s->addr, s->initiator ? &fd : NULL);
	if (r == NULL)
		return 0;
	log_info("session with %s: its path through relay %s is gone (%s): moving to relay %s",
		 s->name, s->addr, why, r->name);
	m = mig_new(s, r->name);
	m->relayed = 1;
	mig_dead(m);
	if (fd != -1)
		mig_attach(m, fd);
	return 1;
}
