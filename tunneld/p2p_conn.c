/*
 * An EdgeMesh v1.17 agent's libp2p connection on our tunnel port (issue 15),
 * handed over by the accept path once p2p_sniff() saw pnet with our PSK:
 *
 *   pnet (XSalsa20 both ways) -> multistream /noise ("na" to the rest:
 *   /libp2p/simultaneous-connect) -> Noise XX (p2p_noise.c; our payload
 *   signs our X25519 key with the Ed25519 key EdgeMesh derives from our
 *   node name) -> records (u16 + ChaChaPoly) -> yamux (offered inline in
 *   msg2; multistream /yamux/1.0.0 when the agent's msg3 did not) ->
 *   streams (p2p_stream.c).
 *
 * Served only while modules.edgeTunnel.edgemeshAgents is true.  Bounds: 64
 * connections, 10 s to finish the handshake, 256 streams each, 16 MiB queued
 * towards the agent (then the connection is dropped).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "byteorder.h"
#include "log.h"
#include "model.h"
#include "netaddr.h"
#include "p2p_conn.h"
#include "replica.h"

#define P2P_CONNS_MAX  64
#define P2P_HS_TIMEOUT 10.0
#define P2P_OQ_MAX     (16u << 20)
#define P2P_REC_MAX    (65535 - 16) /* plaintext in one record */

static struct p2p_connl conns = LIST_HEAD_INITIALIZER(conns);
static size_t nconns;

static void conn_read_cb(struct ev_loop *, ev_io *, int);
static void conn_write_cb(struct ev_loop *, ev_io *, int);

/* the node name whose EdgeMesh peer ID is id, from the peers we know */
static void
peer_name(struct tunneld *t, const char *id, char *out, size_t cap)
{
	const struct em_object *o;
	struct replica_iter it;
	char pid[P2P_PEERID_MAX], why[80];

	snprintf(out, cap, "?");
	replica_iter_init(&it);
	while (replica_next(t->d->replica, EM_TOPIC_PEERS, &it, &o)) {
		if (p2p_peerid_from_name(o->u.peer->name, strlen(o->u.peer->name), pid, why,
					 sizeof(why)) == 0 &&
		    strcmp(pid, id) == 0) {
			snprintf(out, cap, "%s", o->u.peer->name);
			return;
		}
	}
}

const char *
p2p_conn_who(const struct p2p_conn *c)
{
	return c->who;
}

void
p2p_conn_close(struct p2p_conn *c, const char *why)
{
	struct ev_loop *loop = c->t->d->loop;
	struct p2p_stream *st;

	if (c->dead)
		return;
	c->dead = 1;
	if (c->up)
		log_info("EdgeMesh agent %s: connection closed: %s", c->who, why);
	else if (c->initiator) {
		log_warnx("EdgeMesh agent of %s at %s (dialled): %s; next opens use our handshake",
			  c->node, c->addr, why);
		p2p_forget(c->node);
	} else
		log_warnx("EdgeMesh agent at %s: %s", c->who, why);
	while ((st = LIST_FIRST(&c->streams)) != NULL)
		p2p_stream_free(st);
	ev_io_stop(loop, &c->rw);
	ev_io_stop(loop, &c->ww);
	ev_timer_stop(loop, &c->tmo);
	close(c->fd);
	LIST_REMOVE(c, link);
	nconns--;
	p2p_noise_wipe(&c->hs);
	noise_cs_wipe(&c->tx);
	noise_cs_wipe(&c->rx);
	p2p_pnet_dir_wipe(&c->ptx);
	p2p_pnet_dir_wipe(&c->prx);
	free(c->ob);
	free(c->rbuf);
	free(c->pbuf);
	c->ob = c->rbuf = c->pbuf = NULL; /* c itself: freed by the callback that saw it die */
}

static void
conn_flush(struct p2p_conn *c)
{
	ssize_t n;

	if (c->connecting)
		return; /* conn_write_cb: once connected */
	while (c->oblen > c->oboff) {
		n = write(c->fd, c->ob + c->oboff, c->oblen - c->oboff);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			char why[96];

			snprintf(why, sizeof(why), "write: %s", strerror(errno));
			p2p_conn_close(c, why);
			return;
		}
		c->oboff += (size_t)n;
	}
	if (c->oboff == c->oblen) {
		c->oboff = c->oblen = 0;
		ev_io_stop(c->t->d->loop, &c->ww);
		p2p_streams_resume(c);
	} else {
		ev_io_start(c->t->d->loop, &c->ww);
	}
}

/* raw bytes onto the wire: pnet-encrypted into the output queue */
static void
conn_raw(struct p2p_conn *c, const uint8_t *p, size_t n, int pnet)
{
	size_t cap;
	uint8_t *nb;

	if (c->dead)
		return;
	if (c->oblen + n > c->obcap) {
		if (c->oblen + n > P2P_OQ_MAX) {
			p2p_conn_close(c, "the agent does not read: over 16 MiB queued");
			return;
		}
		if (c->oboff > 0) {
			memmove(c->ob, c->ob + c->oboff, c->oblen - c->oboff);
			c->oblen -= c->oboff;
			c->oboff = 0;
		}
		for (cap = c->obcap ? c->obcap : 65536; cap < c->oblen + n; cap *= 2)
			;
		if (cap > c->obcap) {
			if ((nb = realloc(c->ob, cap)) == NULL) {
				p2p_conn_close(c, "out of memory");
				return;
			}
			c->ob = nb;
			c->obcap = cap;
		}
	}
	if (pnet)
		p2p_pnet_xor(&c->ptx, c->ob + c->oblen, p, n);
	else
		memcpy(c->ob + c->oblen, p, n);
	c->oblen += n;
}

/* plaintext through the secure channel: records of u16 length || AEAD */
void
p2p_conn_send(struct p2p_conn *c, const uint8_t *p, size_t n)
{
	uint8_t rec[2 + 65535];
	size_t k;

	while (n > 0 && !c->dead) {
		k = n > P2P_REC_MAX ? P2P_REC_MAX : n;
		be16_put(rec, (uint16_t)(k + 16));
		if (noise_cs_encrypt(&c->tx, NULL, 0, p, k, rec + 2) == -1) {
			p2p_conn_close(c, "record encryption failed");
			return;
		}
		conn_raw(c, rec, 2 + k + 16, 1);
		p += k;
		n -= k;
	}
}

void
p2p_conn_yamux(struct p2p_conn *c, const struct p2p_yamux_hdr *h, const uint8_t *data, size_t n)
{
	uint8_t b[P2P_YAMUX_HDR + 16384];

	p2p_yamux_encode(b, h);
	if (n <= sizeof(b) - P2P_YAMUX_HDR) {
		memcpy(b + P2P_YAMUX_HDR, data, n);
		p2p_conn_send(c, b, P2P_YAMUX_HDR + n);
	} else {
		p2p_conn_send(c, b, P2P_YAMUX_HDR); /* two records: rare (large reads) */
		p2p_conn_send(c, data, n);
	}
}

size_t
p2p_conn_queued(const struct p2p_conn *c)
{
	return c->oblen - c->oboff;
}

static void
mss_out(struct p2p_conn *c, const char *line, int secure)
{
	uint8_t b[P2P_MSS_MAX + 16];
	size_t n = p2p_mss_encode(b, sizeof(b), line);

	if (secure)
		p2p_conn_send(c, b, n);
	else
		conn_raw(c, b, n, 1);
}

/*
 * multistream-select as the listener, on the raw connection (want /noise)
 * or inside the secure one (want /yamux/1.0.0).  Consumes from buf; 1 once
 * want was agreed, 0 for more bytes, -1 closed.
 */
static int
mss_listen(struct p2p_conn *c, const uint8_t *buf, size_t len, size_t *off, const char *want,
	   int secure)
{
	char line[P2P_MSS_MAX + 1], why[160], msg[256];
	int r;

	while ((r = p2p_mss_next(buf, len, off, line, sizeof(line), why, sizeof(why))) == 1) {
		if (!c->mss_hdr) {
			if (strcmp(line, P2P_MSS_PROTO) != 0) {
				snprintf(msg, sizeof(msg),
					 "multistream: expected %s first, got \"%.60s\"",
					 P2P_MSS_PROTO, line);
				p2p_conn_close(c, msg);
				return -1;
			}
			c->mss_hdr = 1;
			mss_out(c, P2P_MSS_PROTO, secure);
			continue;
		}
		if (strcmp(line, want) == 0) {
			mss_out(c, want, secure);
			c->mss_hdr = 0;
			return 1;
		}
		if (++c->mss_na > 8) {
			p2p_conn_close(c, "multistream: over 8 protocols proposed, none we speak");
			return -1;
		}
		log_debug("EdgeMesh agent at %s proposes %s: na", c->who, line);
		mss_out(c, P2P_MSS_NA, secure);
	}
	if (r == -1)
		p2p_conn_close(c, why); /* "multistream: ..." */
	return r;
}

/* multistream as the dialler: the header, then /noise (proposed at once) */
static int
mss_dial(struct p2p_conn *c, const uint8_t *buf, size_t len, size_t *off)
{
	char line[P2P_MSS_MAX + 1], why[160], msg[240];
	int r;

	while ((r = p2p_mss_next(buf, len, off, line, sizeof(line), why, sizeof(why))) == 1) {
		if (!c->mss_hdr && strcmp(line, P2P_MSS_PROTO) == 0) {
			c->mss_hdr = 1;
			continue;
		}
		if (c->mss_hdr && strcmp(line, "/noise") == 0) {
			c->mss_hdr = 0;
			return 1;
		}
		snprintf(msg, sizeof(msg), "multistream: the agent answered \"%.60s\" to %s", line,
			 c->mss_hdr ? "/noise" : P2P_MSS_PROTO);
		p2p_conn_close(c, msg);
		return -1;
	}
	if (r == -1)
		p2p_conn_close(c, why);
	return r;
}

/* Noise handshake message num carrying payload pl, behind its u16 length on
 * the raw connection; -1 closed */
static int
noise_send(struct p2p_conn *c, int num, const uint8_t *pl, size_t pll)
{
	uint8_t out[P2P_NOISEPL_MAX + 128], fr[2 + sizeof(out)];
	char msg[64];
	size_t ol;

	if (p2p_noise_write(&c->hs, pl, pll, out, sizeof(out), &ol) == -1) {
		snprintf(msg, sizeof(msg), "noise: writing message %d failed", num);
		p2p_conn_close(c, msg);
		return -1;
	}
	be16_put(fr, (uint16_t)ol);
	memcpy(fr + 2, out, ol);
	conn_raw(c, fr, 2 + ol, 1);
	return 0;
}

static void
conn_up(struct p2p_conn *c)
{
	char name[256];

	c->stage = P2P_C_YAMUX;
	c->up = 1;
	ev_timer_stop(c->t->d->loop, &c->tmo);
	if (c->initiator) /* the node we dialled: its peer ID checked in msg2 */
		snprintf(name, sizeof(name), "%s", c->node);
	else
		peer_name(c->t, c->peerid, name, sizeof(name));
	snprintf(c->node, sizeof(c->node), "%s", name);
	snprintf(c->who, sizeof(c->who), "%s (%s at %s)", name, c->peerid, c->addr);
	log_info("EdgeMesh agent %s: libp2p session up (pnet, Noise XX, yamux%s)", c->who,
		 c->initiator ? ", dialled by us" : "");
	p2p_streams_up(c);
}

/* keys after the last message: this side's send and receive states */
static int
noise_split(struct p2p_conn *c)
{
	uint8_t k1[32], k2[32];
	int rc = 0;

	if (p2p_noise_split(&c->hs, k1, k2) == -1 || noise_cs_init(&c->tx, k1) == -1 ||
	    noise_cs_init(&c->rx, k2) == -1)
		rc = -1;
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	p2p_noise_wipe(&c->hs);
	if (rc == 0 && (c->pbuf = malloc(P2P_PBUF)) == NULL)
		rc = -1;
	if (rc == -1)
		p2p_conn_close(c, "noise: split failed (out of memory?)");
	return rc;
}

/* the dialler read msg2: the agent must be the node we dialled (its peer
 * ID derived from the name); answer msg3 with our signed payload */
static int
noise_dialler(struct p2p_conn *c, const uint8_t *pl, size_t pll)
{
	uint8_t mine[P2P_NOISEPL_MAX + 64], pk[32];
	char why[160], msg[400], want[P2P_PEERID_MAX];
	size_t ml;
	int yamux = 0;

	if (p2p_noisepl_verify(pl, pll, c->hs.rs, pk, &yamux, why, sizeof(why)) == -1) {
		snprintf(msg, sizeof(msg), "noise: its handshake payload: %s", why);
		p2p_conn_close(c, msg);
		return -1;
	}
	p2p_peerid_from_pk(pk, c->peerid);
	if (p2p_peerid_from_name(c->node, strlen(c->node), want, why, sizeof(why)) == -1 ||
	    strcmp(want, c->peerid) != 0) {
		snprintf(msg, sizeof(msg),
			 "node %s answered as peer %s, not %s (the ID its name gives): refused",
			 c->node, c->peerid, want);
		p2p_conn_close(c, msg);
		return -1;
	}
	if (!yamux) {
		p2p_conn_close(c,
			       "the agent offered no /yamux/1.0.0 in its handshake (v1.17 does)");
		return -1;
	}
	ml = p2p_noisepl_encode(mine, sizeof(mine), c->t->p2p_sk, c->hs.s_pub, "/yamux/1.0.0");
	if (noise_send(c, 3, mine, ml) == -1 || noise_split(c) == -1)
		return -1;
	conn_up(c);
	return 0;
}

/* one Noise handshake message (u16 length stripped) */
static int
noise_step(struct p2p_conn *c, const uint8_t *m, size_t n)
{
	uint8_t pl[P2P_NOISEPL_MAX + 64], pk[32];
	size_t pll;
	char why[160], msg[220];
	int yamux = 0;

	if (p2p_noise_read(&c->hs, m, n, pl, sizeof(pl), &pll, why, sizeof(why)) == -1) {
		p2p_conn_close(c, why);
		return -1;
	}
	if (c->initiator)
		return noise_dialler(c, pl, pll);
	if (c->hs.step == 1) { /* msg1 read: answer msg2 with our signed payload */
		pll = p2p_noisepl_encode(pl, sizeof(pl), c->t->p2p_sk, c->hs.s_pub, "/yamux/1.0.0");
		return noise_send(c, 2, pl, pll);
	}
	/* msg3: the agent's identity, its key signed over its Noise static key */
	if (p2p_noisepl_verify(pl, pll, c->hs.rs, pk, &yamux, why, sizeof(why)) == -1) {
		snprintf(msg, sizeof(msg), "noise: its handshake payload: %s", why);
		p2p_conn_close(c, msg);
		return -1;
	}
	p2p_peerid_from_pk(pk, c->peerid);
	if (noise_split(c) == -1)
		return -1;
	if (yamux) {
		conn_up(c);
	} else {
		c->stage = P2P_C_MSS_MUX;
		snprintf(c->who, sizeof(c->who), "%s at %s", c->peerid, c->addr);
	}
	return 0;
}

/* decrypted record bytes, appended to pbuf and consumed by stage */
static int
plain_input(struct p2p_conn *c)
{
	size_t off = 0;
	int r;

	if (c->stage == P2P_C_MSS_MUX) {
		r = mss_listen(c, c->pbuf, c->plen, &off, "/yamux/1.0.0", 1);
		if (r == -1)
			return -1;
		if (r == 1)
			conn_up(c);
	}
	if (c->stage == P2P_C_YAMUX && p2p_yamux_input(c, c->pbuf + off, c->plen - off, &off) == -1)
		return -1;
	if (c->dead)
		return -1;
	buf_consume(c->pbuf, &c->plen, off);
	return 0;
}

/* rbuf holds pnet-decrypted bytes: as much as the stage can use */
static void
conn_input(struct p2p_conn *c)
{
	size_t off = 0, len;
	int r;

	while (!c->dead && off < c->rlen) {
		if (c->stage == P2P_C_MSS_SEC && c->initiator) {
			r = mss_dial(c, c->rbuf, c->rlen, &off);
			if (r == 1) {
				c->stage = P2P_C_NOISE;
				(void)noise_send(c, 1, NULL, 0);
				continue;
			}
			break;
		}
		if (c->stage == P2P_C_MSS_SEC) {
			r = mss_listen(c, c->rbuf, c->rlen, &off, "/noise", 0);
			if (r == 1) {
				c->stage = P2P_C_NOISE;
				continue;
			}
			break;
		}
		if (c->rlen - off < 2)
			break;
		len = be16_get(c->rbuf + off);
		if (c->rlen - off < 2 + len)
			break;
		if (c->stage == P2P_C_NOISE) {
			if (noise_step(c, c->rbuf + off + 2, len) == -1)
				break;
			off += 2 + len;
			continue;
		}
		/* a transport record */
		if (len < 16 || c->plen + len - 16 > P2P_PBUF) {
			p2p_conn_close(c, len < 16 ? "record shorter than its tag"
						   : "yamux input backlog over its bound");
			break;
		}
		if (noise_cs_decrypt(&c->rx, NULL, 0, c->rbuf + off + 2, len, c->pbuf + c->plen) ==
		    -1) {
			p2p_conn_close(c, "a record does not authenticate");
			break;
		}
		c->plen += len - 16;
		off += 2 + len;
		if (plain_input(c) == -1)
			break;
	}
	if (c->dead)
		return;
	buf_consume(c->rbuf, &c->rlen, off);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct p2p_conn *c = w->data;
	uint8_t tmp[16384];
	ssize_t n;
	size_t room = P2P_RBUF - c->rlen;
	char why[120];

	(void)loop;
	(void)revents;
	if (room == 0) {
		p2p_conn_close(c, "read buffer full");
		return;
	}
	n = read(c->fd, tmp, room < sizeof(tmp) ? room : sizeof(tmp));
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		if (n == 0 && !c->up && c->stage == P2P_C_MSS_SEC)
			snprintf(why, sizeof(why), "closed the connection before multistream");
		else if (n == 0)
			snprintf(why, sizeof(why), "connection closed by the agent");
		else
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
		p2p_conn_close(c, why);
		return;
	}
	{
		size_t k = 0;

		if (c->initiator && !c->got_nonce) { /* the agent's nonce comes first */
			k = P2P_PNET_NONCE - c->rnlen < (size_t)n ? P2P_PNET_NONCE - c->rnlen
								  : (size_t)n;
			memcpy(c->rnonce + c->rnlen, tmp, k);
			c->rnlen += k;
			if (c->rnlen < P2P_PNET_NONCE) {
				p2p_conn_kick(c);
				return;
			}
			p2p_pnet_dir_init(&c->prx, c->t->p2p_psk, c->rnonce);
			c->got_nonce = 1;
		}
		p2p_pnet_xor(&c->prx, c->rbuf + c->rlen, tmp + k, (size_t)n - k);
		c->rlen += (size_t)n - k;
	}
	conn_input(c);
	p2p_conn_kick(c);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct p2p_conn *c = w->data;
	int err = 0;
	char why[160];

	(void)revents;
	if (c->connecting) {
		err = net_sock_error(c->fd);
		if (err != 0) {
			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			p2p_conn_close(c, why);
			free(c);
			return;
		}
		c->connecting = 0;
		ev_io_start(loop, &c->rw);
	}
	p2p_conn_kick(c);
}

static void
conn_tmo_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct p2p_conn *c = w->data;

	(void)loop;
	(void)revents;
	p2p_conn_close(c, "libp2p handshake timeout (10s)");
	free(c);
}

/* at the end of every callback: flush, and free a connection that died
 * (c is not to be touched afterwards then) */
void
p2p_conn_kick(struct p2p_conn *c)
{
	if (!c->dead)
		conn_flush(c);
	if (c->dead)
		free(c);
}

/* a connection on fd, in the list, its Noise and yamux states for this side
 * and its watchers set up (none started); NULL out of memory (fd left open) */
static struct p2p_conn *
conn_new(struct tunneld *t, int fd, int initiator)
{
	struct p2p_conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL || (c->rbuf = malloc(P2P_RBUF)) == NULL) {
		free(c);
		return NULL;
	}
	c->t = t;
	c->fd = fd;
	c->initiator = initiator;
	LIST_INIT(&c->streams);
	LIST_INSERT_HEAD(&conns, c, link);
	nconns++;
	p2p_noise_init(&c->hs, initiator, t->p2p_npriv);
	p2p_yamux_init(&c->ym, initiator, c->ytab, P2P_STREAMS_MAX);
	c->stage = P2P_C_MSS_SEC;
	ev_io_init(&c->rw, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->ww, conn_write_cb, fd, EV_WRITE);
	ev_timer_init(&c->tmo, conn_tmo_cb, P2P_HS_TIMEOUT, 0);
	c->rw.data = c->ww.data = c->tmo.data = c;
	return c;
}

void
p2p_accept(struct tunneld *t, int fd, const char *addr, const uint8_t *buf, size_t len)
{
	struct ev_loop *loop = t->d->loop;
	uint8_t nonce[P2P_PNET_NONCE];
	struct p2p_conn *c, *old;

	if (nconns >= P2P_CONNS_MAX) {
		old = LIST_FIRST(&conns); /* the newest is first: drop the oldest */
		while (LIST_NEXT(old, link) != NULL)
			old = LIST_NEXT(old, link);
		p2p_conn_close(old, "evicted: 64 EdgeMesh connections");
		free(old);
	}
	if ((c = conn_new(t, fd, 0)) == NULL) {
		log_warnx("EdgeMesh agent at %s: out of memory", addr);
		close(fd);
		return;
	}
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	snprintf(c->who, sizeof(c->who), "%s", addr);
	p2p_pnet_dir_init(&c->prx, t->p2p_psk, buf);
	randombytes_buf(nonce, sizeof(nonce));
	p2p_pnet_dir_init(&c->ptx, t->p2p_psk, nonce);
	ev_io_start(loop, &c->rw);
	ev_timer_start(loop, &c->tmo);
	conn_raw(c, nonce, sizeof(nonce), 0);
	log_debug("EdgeMesh agent at %s: libp2p with our PSK", addr);
	p2p_pnet_xor(&c->prx, c->rbuf, buf + P2P_PNET_NONCE, len - P2P_PNET_NONCE);
	c->rlen = len - P2P_PNET_NONCE;
	conn_input(c);
	p2p_conn_kick(c);
}

struct p2p_conn *
p2p_conn_find_any(const char *node)
{
	struct p2p_conn *c;

	LIST_FOREACH(c, &conns, link)
	if (!c->dead && (c->up || c->initiator) && strcmp(c->node, node) == 0)
		return c;
	return NULL;
}

struct p2p_conn *
p2p_dial(struct tunneld *t, const char *node)
{
	const struct em_object *o;
	struct sockaddr_in sin;
	uint8_t b[2 * P2P_MSS_MAX + P2P_PNET_NONCE], nonce[P2P_PNET_NONCE];
	struct p2p_conn *c;
	size_t n;
	int fd, one = 1;

	if (t->p2p_psk == NULL)
		return NULL;
	o = replica_get(t->d->replica, EM_TOPIC_PEERS, node);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)t->d->cfg.tunnel.listen_port);
	if (o == NULL || o->u.peer->naddrs == 0 ||
	    inet_pton(AF_INET, o->u.peer->addrs[0], &sin.sin_addr) != 1) {
		log_warnx("EdgeMesh agent of %s: no IPv4 address to dial", node);
		return NULL;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 && errno != EINPROGRESS) {
		log_warnx("EdgeMesh agent of %s: connect %s: %s", node, o->u.peer->addrs[0],
			  strerror(errno));
		close(fd);
		return NULL;
	}
	if ((c = conn_new(t, fd, 1)) == NULL) {
		close(fd);
		return NULL;
	}
	c->connecting = 1;
	snprintf(c->node, sizeof(c->node), "%s", node);
	snprintf(c->addr, sizeof(c->addr), "%s:%d", o->u.peer->addrs[0],
		 t->d->cfg.tunnel.listen_port);
	snprintf(c->who, sizeof(c->who), "%s at %s", node, c->addr);
	ev_timer_start(t->d->loop, &c->tmo);
	/* our nonce, then multistream and /noise at once, as go-libp2p dials */
	randombytes_buf(nonce, sizeof(nonce));
	p2p_pnet_dir_init(&c->ptx, t->p2p_psk, nonce);
	conn_raw(c, nonce, sizeof(nonce), 0);
	n = p2p_mss_encode(b, sizeof(b), P2P_MSS_PROTO);
	n += p2p_mss_encode(b + n, sizeof(b) - n, "/noise");
	conn_raw(c, b, n, 1);
	ev_io_start(t->d->loop, &c->ww); /* the connect, then the queue */
	log_info("dialling the EdgeMesh agent of %s at %s (libp2p)", node, c->addr);
	return c;
}

struct p2p_conn *
p2p_conn_find(const char *node)
{
	struct p2p_conn *c;

	LIST_FOREACH(c, &conns, link)
	if (c->up && !c->dead && strcmp(c->node, node) == 0)
		return c;
	return NULL;
}

size_t
p2p_conn_count(void)
{
	return nconns;
}

void
p2p_conns_close(const char *why)
{
	struct p2p_conn *c;

	while ((c = LIST_FIRST(&conns)) != NULL) {
		p2p_conn_close(c, why);
		free(c);
	}
}
