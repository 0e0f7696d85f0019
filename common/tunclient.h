/*
 * The opener's side of tunnel.sock (proxyd, socksd, gatewayd): HELLO, then
 * one TUN_OPEN per flow with the client's socket attached;
 * TUN_RESULT answers by id.  The caller keeps its own fd until the result:
 * on failure it may try elsewhere (tunneld writes nothing to a stream it
 * failed to open, and takes nothing from it: what it sent ahead with the
 * OPEN it only peeked), on success it closes its copy and tunneld owns the
 * flow.  The connection to tunneld is eager (ipc_conn_set_eager): an open
 * is on the socket when tunclient_open returns.
 * The socket is dialled lazily, and again at once after a loss.  An open
 * never fails because tunnel.sock is briefly away (tunneld restarting): it
 * waits, retried every 50-500 ms, up to TUNCLIENT_WAIT seconds; opens that
 * tunneld had not answered when the connection was lost are sent again on
 * the next one (the caller's fd stays open until the result).  Only
 * then does it fail, with the reason tunclient_unavailable, which is no
 * fault of the target; until tunnel.sock answers again, later opens fail
 * so at once (after one connect attempt) instead of waiting in turn.
 */
#ifndef EM_TUNCLIENT_H
#define EM_TUNCLIENT_H

#include <ev.h>

#include "ipc.h"

#define TUNCLIENT_WAIT 3.0 /* seconds an open waits for tunnel.sock */

typedef void (*tunclient_cb)(void *arg, int ok, const char *reason);
/* The reason (this very pointer) of an open that never reached tunneld. */
extern const char tunclient_unavailable[];

struct tunclient;
struct tunclient *tunclient_new(struct ev_loop *, const char *runtime_dir, const char *name);
void tunclient_free(struct tunclient *);
/*
 * Hand fd to tunneld for o (its id is set here and returned in *id); its cb
 * runs once with the outcome, never from inside this call.  fd is lent: the
 * caller keeps it open until cb has run or the open is cancelled (sending
 * attaches it without a copy; a copy is made only while a send waits).
 */
void tunclient_open(struct tunclient *, int fd, struct ipc_tun_open *o, tunclient_cb, void *arg,
		    uint64_t *id);
/* Forget a pending open: its cb will not run. */
void tunclient_cancel(struct tunclient *, uint64_t id);

#endif
