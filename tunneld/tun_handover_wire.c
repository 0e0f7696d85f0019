/*
 * The hand-over's wire: records, the sealed blob, the carrier socket.  See
 * tun_handover.h for the format; tun_handover.c decides what goes in.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteorder.h"
#include "daemon.h"
#include "log.h"
#include "tun_handover.h"
#include "tun_noise.h"

#define HO_BLOB_MAX (1ull << 32) /* a sanity bound on what we read back */

/* The blob key: BLAKE2b keyed with the static private key. */
static void
ho_key(const uint8_t *spriv, uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES])
{
	static const char label[] = "edgemesh-tunneld-handover-v1";

	crypto_generichash(key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES,
			   (const unsigned char *)label, sizeof(label) - 1, spriv, NOISE_KEY_LEN);
}

/* Grow without leaving copies behind: the old buffer is wiped. */
static void
ho_reserve(struct ho_buf *b, size_t n)
{
	uint8_t *np;
	size_t ncap;

	if (b->len + n <= b->cap)
		return;
	ncap = b->cap ? b->cap * 2 : 65536;
	while (ncap < b->len + n)
		ncap *= 2;
	np = xcalloc(1, ncap);
	if (b->len > 0)
		memcpy(np, b->p, b->len);
	if (b->p != NULL) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	b->p = np;
	b->cap = ncap;
}

/* n more bytes at the end, for the caller to fill. */
static uint8_t *
ho_grow(struct ho_buf *b, size_t n)
{
	ho_reserve(b, n);
	b->len += n;
	return b->p + b->len - n;
}

void
ho_put_u8(struct ho_buf *b, uint8_t v)
{
	*ho_grow(b, 1) = v;
}

void
ho_put_u16(struct ho_buf *b, uint16_t v)
{
	be16_put(ho_grow(b, 2), v);
}

void
ho_put_u32(struct ho_buf *b, uint32_t v)
{
	be32_put(ho_grow(b, 4), v);
}

void
ho_put_u64(struct ho_buf *b, uint64_t v)
{
	be64_put(ho_grow(b, 8), v);
}

void
ho_put_bytes(struct ho_buf *b, const void *p, size_t n)
{
	ho_put_u32(b, (uint32_t)n);
	if (n > 0)
		memcpy(ho_grow(b, n), p, n);
}

void
ho_put_str(struct ho_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > 0xffff)
		n = 0xffff;
	ho_put_u16(b, (uint16_t)n);
	memcpy(ho_grow(b, n), s, n);
}

void
ho_put_fd(struct ho_buf *b, int fd)
{
	if (fd < 0) {
		ho_put_u32(b, HO_NOFD);
		return;
	}
	if (b->nfds == b->fdcap) {
		b->fdcap = b->fdcap ? b->fdcap * 2 : 256;
		b->fds = xreallocarray(b->fds, b->fdcap, sizeof(*b->fds));
	}
	b->fds[b->nfds++] = fd;
	ho_put_u32(b, (uint32_t)b->nfds); /* index 0 is the blob itself */
}

void
ho_rec_begin(struct ho_buf *b, uint8_t type)
{
	ho_put_u8(b, type);
	b->rec = b->len;
	ho_put_u32(b, 0);
}

void
ho_rec_end(struct ho_buf *b)
{
	be32_put(b->p + b->rec, (uint32_t)(b->len - b->rec - 4));
}

void
ho_buf_free(struct ho_buf *b)
{
	if (b->p != NULL) {
		sodium_memzero(b->p, b->cap);
		free(b->p);
	}
	free(b->fds);
	memset(b, 0, sizeof(*b));
}

static int
ho_need(struct ho_rd *r, size_t n)
{
	if (r->err != NULL)
		return -1;
	if (r->len - r->off < n) {
		r->err = "a record is shorter than its fields";
		return -1;
	}
	return 0;
}

/* The next n bytes, consumed; NULL (r->err set) when the record is shorter. */
static const uint8_t *
ho_take(struct ho_rd *r, size_t n)
{
	const uint8_t *p;

	if (ho_need(r, n) == -1)
		return NULL;
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t
ho_get_u8(struct ho_rd *r)
{
	const uint8_t *p = ho_take(r, 1);

	return p != NULL ? *p : 0;
}

uint16_t
ho_get_u16(struct ho_rd *r)
{
	const uint8_t *p = ho_take(r, 2);

	return p != NULL ? be16_get(p) : 0;
}

uint32_t
ho_get_u32(struct ho_rd *r)
{
	const uint8_t *p = ho_take(r, 4);

	return p != NULL ? be32_get(p) : 0;
}

uint64_t
ho_get_u64(struct ho_rd *r)
{
	const uint8_t *p = ho_take(r, 8);

	return p != NULL ? be64_get(p) : 0;
}

const uint8_t *
ho_get_bytes(struct ho_rd *r, size_t *len)
{
	uint32_t n = ho_get_u32(r);
	const uint8_t *p = ho_take(r, n);

	*len = p != NULL ? n : 0;
	return p;
}

void
ho_get_str(struct ho_rd *r, char *out, size_t cap)
{
	uint16_t n = ho_get_u16(r);

	out[0] = '\0';
	if (ho_need(r, n) == -1)
		return;
	if (n >= cap) {
		r->err = "a name is longer than this build allows";
		return;
	}
	memcpy(out, r->p + r->off, n);
	out[n] = '\0';
	r->off += n;
}

int
ho_next_rec(struct ho_rd *r, uint8_t *type, struct ho_rd *f)
{
	uint32_t n;

	if (r->off == r->len)
		return 0;
	*type = ho_get_u8(r);
	n = ho_get_u32(r);
	if (ho_need(r, n) == -1)
		return -1;
	memset(f, 0, sizeof(*f));
	f->p = r->p + r->off;
	f->len = n;
	r->off += n;
	return *type == HR_END ? 0 : 1;
}

/* Room for one message's fds, aligned for a cmsghdr. */
union ho_cmsg {
	struct cmsghdr hdr;
	char buf[CMSG_SPACE(sizeof(int) * HO_FDS_PER_MSG)];
};

/* One message: data (a little header) and up to HO_FDS_PER_MSG fds. */
static int
ho_sendmsg(int sock, uint32_t seq, const int *fds, size_t n)
{
	union ho_cmsg cm;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	uint8_t d[8];

	memcpy(d, "HO", 2);
	d[2] = d[3] = 0;
	be32_put(d + 4, seq);
	iov.iov_base = d;
	iov.iov_len = sizeof(d);
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(d) ? 0 : -1;
}

int
ho_send(const struct ho_buf *b, const uint8_t *spriv, int *carrier, char *err, size_t errlen)
{
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], *blob = NULL, *h;
	unsigned long long clen;
	struct timeval tv;
	size_t total, off, n;
	int sv[2] = {-1, -1}, mfd = -1, bufsz = 4 << 20;
	uint32_t seq = 0;

	total = HO_HDR_LEN + b->len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	if ((mfd = memfd_create("tunneld-handover", MFD_CLOEXEC | MFD_ALLOW_SEALING)) == -1 ||
	    ftruncate(mfd, (off_t)total) == -1) {
		snprintf(err, errlen, "memfd: %s", strerror(errno));
		goto fail;
	}
	blob = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (blob == MAP_FAILED) {
		blob = NULL;
		snprintf(err, errlen, "mmap: %s", strerror(errno));
		goto fail;
	}
	h = blob;
	memset(h, 0, HO_HDR_LEN);
	memcpy(h, HO_MAGIC, 8);
	be16_put(h + 8, HO_VERSION);
	snprintf((char *)h + 10, 32, "%s", EM_BUILD_VERSION);
	be32_put(h + 42, (uint32_t)getpid());
	gettimeofday(&tv, NULL);
	be64_put(h + 46, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec);
	be32_put(h + 54, (uint32_t)(b->nfds + 1));
	randombytes_buf(h + 58, 24);
	ho_key(spriv, key);
	crypto_aead_xchacha20poly1305_ietf_encrypt(blob + HO_HDR_LEN, &clen, b->p, b->len, h,
						   HO_HDR_LEN, NULL, h + 58, key);
	sodium_memzero(key, sizeof(key));
	munmap(blob, total);
	blob = NULL;
	/* nobody changes it on the way (it is authenticated all the same) */
	fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto fail;
	}
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (ho_sendmsg(sv[0], seq++, &mfd, 1) == -1)
		goto sendfail;
	for (off = 0; off < b->nfds; off += n) {
		n = b->nfds - off > HO_FDS_PER_MSG ? HO_FDS_PER_MSG : b->nfds - off;
		if (ho_sendmsg(sv[0], seq++, b->fds + off, n) == -1)
			goto sendfail;
	}
	close(sv[0]);
	close(mfd);
	*carrier = sv[1];
	return 0;
sendfail:
	snprintf(err, errlen, "passing %zu fds: %s%s", b->nfds + 1, strerror(errno),
		 errno == ETOOMANYREFS ? " (raise LimitNOFILE)" : "");
fail:
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (mfd != -1)
		close(mfd);
	return -1;
}

static int
ho_add_fd(struct ho_in *in, int fd, size_t *cap)
{
	if (in->nfds == *cap) {
		*cap = *cap ? *cap * 2 : 256;
		in->fds = xreallocarray(in->fds, *cap, sizeof(*in->fds));
	}
	in->fds[in->nfds++] = fd;
	return 0;
}

int
ho_recv(int carrier, struct ho_in *in, char *err, size_t errlen)
{
	union ho_cmsg cm;
	struct cmsghdr *c;
	struct msghdr mh;
	struct iovec iov;
	struct stat sb;
	uint8_t d[8];
	size_t cap = 0, i, k;
	ssize_t r;
	int fd, fl;

	memset(in, 0, sizeof(*in));
	/* all of it is queued already: never wait */
	if ((fl = fcntl(carrier, F_GETFL)) != -1)
		fcntl(carrier, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = d;
		iov.iov_len = sizeof(d);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		r = recvmsg(carrier, &mh, MSG_CMSG_CLOEXEC);
		if (r <= 0)
			break;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				ho_add_fd(in, fd, &cap);
			}
		}
		if ((mh.msg_flags & MSG_CTRUNC) || r != (ssize_t)sizeof(d) ||
		    memcmp(d, "HO", 2) != 0) {
			snprintf(err, errlen, "the carrier socket holds something else");
			goto fail;
		}
	}
	close(carrier);
	carrier = -1;
	if (in->nfds == 0) {
		snprintf(err, errlen, "the carrier socket is empty");
		goto fail;
	}
	in->used = xcalloc(in->nfds, 1);
	in->used[0] = 1;
	if (fstat(in->fds[0], &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_size < HO_HDR_LEN ||
	    (uint64_t)sb.st_size > HO_BLOB_MAX) {
		snprintf(err, errlen, "the first fd is not a hand-over blob");
		goto fail;
	}
	in->plen = (size_t)sb.st_size;
	if ((in->plain = sodium_malloc(in->plen)) == NULL)
		fatal("%s: sodium_malloc", __func__);
	for (i = 0; i < in->plen; i += (size_t)r)
		if ((r = pread(in->fds[0], in->plain + i, in->plen - i, (off_t)i)) <= 0) {
			snprintf(err, errlen, "reading the blob: %s",
				 r == 0 ? "short" : strerror(errno));
			goto fail;
		}
	return 0;
fail:
	if (carrier != -1)
		close(carrier);
	return -1;
}

int
ho_open(struct ho_in *in, const uint8_t *spriv, char *err, size_t errlen)
{
	uint8_t key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES], *h = in->plain;
	unsigned long long mlen;
	struct timeval tv;
	uint64_t created, now;
	uint16_t version;

	if (memcmp(h, HO_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a tunneld hand-over (bad magic)");
		return -1;
	}
	version = be16_get(h + 8);
	memcpy(in->build, h + 10, 32);
	in->build[32] = '\0';
	in->pid = be32_get(h + 42);
	created = be64_get(h + 46);
	if (version != HO_VERSION) {
		snprintf(err, errlen,
			 "hand-over version %u (from build %s) is not one this build (%s) reads "
			 "(%u)",
			 version, in->build, EM_BUILD_VERSION, HO_VERSION);
		return -1;
	}
	if (be32_get(h + 54) != in->nfds) {
		snprintf(err, errlen, "the hand-over names %u fds but %zu came with it",
			 be32_get(h + 54), in->nfds);
		return -1;
	}
	if (in->plen < HO_HDR_LEN + crypto_aead_xchacha20poly1305_ietf_ABYTES) {
		snprintf(err, errlen, "the hand-over is truncated");
		return -1;
	}
	ho_key(spriv, key);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(h + HO_HDR_LEN, &mlen, NULL, h + HO_HDR_LEN,
						       in->plen - HO_HDR_LEN, h, HO_HDR_LEN, h + 58,
						       key) != 0) {
		sodium_memzero(key, sizeof(key));
		snprintf(err, errlen,
			 "the hand-over does not authenticate under this node's static key "
			 "(corrupt, or made by another node's tunneld)");
		return -1;
	}
	sodium_memzero(key, sizeof(key));
	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	in->age = now > created ? (double)(now - created) / 1e6 : 0;
	/* the records, in place after the header */
	memmove(h, h + HO_HDR_LEN, (size_t)mlen);
	sodium_memzero(h + mlen, in->plen - mlen);
	in->plen = (size_t)mlen;
	return 0;
}

int
ho_take_fd(struct ho_in *in, uint32_t idx)
{
	if (idx == HO_NOFD || idx >= in->nfds || in->used[idx])
		return -1;
	in->used[idx] = 1;
	return in->fds[idx];
}

size_t
ho_in_free(struct ho_in *in)
{
	size_t i, n = 0;

	for (i = 0; i < in->nfds; i++)
		if (in->used == NULL || !in->used[i] || i == 0) {
			close(in->fds[i]);
			n += i != 0;
		}
	if (in->plain != NULL)
		sodium_free(in->plain); /* zeroes it */
	free(in->fds);
	free(in->used);
	memset(in, 0, sizeof(*in));
	return n;
}
