/*
 * libFuzzer: a byte stream, with passed fds, into a live ipc_conn
 * (common/ipc_conn.c's reader: batched reads, frames split across reads,
 * fds paired with the frames they came with).  The input is a script:
 *
 *   byte 0        the message after which the callback drops the conn
 *                 (0: never)
 *   then ops      ctl, len, len bytes:
 *     ctl & 0x0f  the frame's type, from types[] (15: one no daemon knows)
 *     ctl & 0x10  the header's fd flag
 *     ctl & 0x20  a pipe's write end rides on the frame's first byte
 *     ctl & 0x40  the frame goes in two writes, split inside it
 *     ctl & 0x80  the loop runs after this frame (else frames pile up)
 *   the payload is the len bytes as a msgpack bin (always well formed), or,
 *   with an odd len, the bytes as they are (mostly malformed).
 *
 * Whatever comes, the conn must not crash, and every fd passed must be
 * closed once the conn is gone: each pipe's read end then reads EOF, else
 * an fd leaked and the target aborts.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define MAX_PIPES 64

struct run {
	struct ipc_conn *c;
	size_t nmsg, drop_at;
	int closed;
};

static void
on_msg(struct ipc_conn *c, struct ipc_msg *m, void *arg)
{
	struct run *r = arg;

	if (ipc_type_requires_fd(m->type) && m->fd < 0) {
		fprintf(stderr, "fuzz_ipcconn: %s dispatched without its fd\n",
			ipc_type_name(m->type));
		abort();
	}
	if (++r->nmsg == r->drop_at)
		ipc_conn_drop(c, "fuzz: dropped from the callback");
}

static void
on_close(struct ipc_conn *c, const char *why, void *arg)
{
	struct run *r = arg;

	r->closed = 1;
	r->c = NULL;
}

static void
send_part(int sock, const uint8_t *p, size_t len, int fd)
{
	struct iovec iov = {(void *)(uintptr_t)p, len};

	(void)ipc_sendmsg_fd(sock, &iov, 1, fd, MSG_DONTWAIT);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const uint16_t types[16] = {
	    IPC_HELLO,	    IPC_ERROR,	      IPC_SUBSCRIBE, IPC_HEALTH,
	    IPC_STATUS_REQ, IPC_FD_STORE,     IPC_FD_FETCH,  IPC_SNAPSHOT_BEGIN,
	    IPC_UPSERT,	    IPC_SNAPSHOT_END, IPC_FD_RETURN, IPC_TUN_OPEN,
	    IPC_TUN_RESULT, IPC_PEERS,	      IPC_METRICS,   0xfff0};
	static uint8_t frame[IPC_HDR_LEN + 2 + 255];
	struct ev_loop *loop;
	struct ipc_hdr h;
	struct run r;
	int sv[2], pipes[MAX_PIPES], np = 0, p[2], i;
	size_t off = 1, l, flen, cut;
	uint8_t ctl;
	char c;

	log_init("fuzz", 0);
	if (len < 1 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return 0;
	loop = ev_loop_new(EVFLAG_AUTO);
	memset(&r, 0, sizeof(r));
	r.drop_at = data[0];
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	r.c = ipc_conn_new(loop, sv[1], IPC_MAX_CONTROL, on_msg, on_close, &r);
	while (off + 2 <= len && r.c != NULL) {
		ctl = data[off];
		l = data[off + 1];
		off += 2;
		if (l > len - off)
			l = len - off;
		h.type = types[ctl & 0x0f];
		h.flags = (ctl & 0x10) ? IPC_F_FD : 0;
		if (l % 2 == 0) { /* msgpack bin 8 */
			h.len = (uint32_t)(l + 2);
			frame[IPC_HDR_LEN] = 0xc4;
			frame[IPC_HDR_LEN + 1] = (uint8_t)l;
			memcpy(frame + IPC_HDR_LEN + 2, data + off, l);
		} else {
			h.len = (uint32_t)l;
			memcpy(frame + IPC_HDR_LEN, data + off, l);
		}
		off += l;
		ipc_hdr_encode(&h, frame);
		flen = IPC_HDR_LEN + h.len;
		p[1] = -1;
		if ((ctl & 0x20) && np < MAX_PIPES && pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0)
			pipes[np++] = p[0];
		cut = (ctl & 0x40) ? 1 + (flen > 1 ? (size_t)data[off - 1] % (flen - 1) : 0) : flen;
		if (cut > flen)
			cut = flen;
		send_part(sv[0], frame, cut, p[1]);
		if (cut < flen)
			send_part(sv[0], frame + cut, flen - cut, -1);
		if (p[1] != -1)
			close(p[1]);
		if (ctl & 0x80)
			ev_run(loop, EVRUN_NOWAIT);
	}
	for (i = 0; i < 8 && r.c != NULL; i++)
		ev_run(loop, EVRUN_NOWAIT);
	close(sv[0]); /* the peer leaves: the conn reads EOF and drops */
	for (i = 0; i < 8 && r.c != NULL; i++)
		ev_run(loop, EVRUN_NOWAIT);
	if (r.c != NULL)
		ipc_conn_free(r.c);
	ev_loop_destroy(loop);
	for (i = 0; i < np; i++) {
		if (read(pipes[i], &c, 1) != 0) { /* a writer is still open */
			fprintf(stderr, "fuzz_ipcconn: fd %d of %d passed to the conn leaked\n",
				i + 1, np);
			abort();
		}
		close(pipes[i]);
	}
	return 0;
}
