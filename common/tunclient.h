/*
 * The opener's side of tunnel.sock (proxyd, socksd, gatewayd): HELLO, then
 * one TUN_OPEN per flow with a dup of the client's socket attached;
 * TUN_RESULT answers by id.  The caller keeps its own fd until the result:
 * on failure it may try elsewhere (tunneld writes nothing to a stream it
 * failed to open), on success it closes its copy and tunneld owns the flow.
 * The socket is dialled lazily and again after a loss (at most once a
 * second); a loss fails every pending open.
 */
#ifndef EM_TUNCLIENT_H
#define EM_TUNCLIENT_H

#include <ev.h>

#include "ipc.h"

typedef void (*tunclient_cb)(void *arg, int ok, const char *reason);

struct tunclient;
struct tunclient *tunclient_new(struct ev_loop *, const char *runtime_dir, const char *name);
void tunclient_free(struct tunclient *);
/*
 * Hand a dup of fd to tunneld for o (its id is set here and returned in
 * *id); its cb runs once with the outcome, never from inside this call.
 * -1: tunneld is not reachable now, cb will not run.
 */
int tunclient_open(struct tunclient *, int fd, struct ipc_tun_open *o, tunclient_cb, void *arg,
		   uint64_t *id);
/* Forget a pending open: its cb will not run. */
void tunclient_cancel(struct tunclient *, uint64_t id);

#endif
