/*
 * One TCP relay between two connected sockets, both ways, for every
 * daemon that pipes bytes (proxyd's local endpoints, gatewayd's TCP, TLS
 * passthrough and upgraded connections).  Per direction one bounded buffer
 * or one pipe; splice(2) for bulk between plain sockets; half-close
 * propagated; a bounded number of reads per event.  An end can be a TLS
 * session (relay_io): it is read and written through its callbacks and
 * never spliced.  See relay.c for the rules.
 */
#ifndef EM_RELAY_H
#define EM_RELAY_H

#include <sys/types.h>
#include <stddef.h>

#include <ev.h>

#define RELAY_BUF_SIZE	16384 /* per direction; a read this size switches to splice */
#define RELAY_PIPE_SIZE 65536 /* bytes spliced per read (the pipe's capacity) */
#define RELAY_PIPE_POOL 64    /* empty pipes kept for reuse */
#define RELAY_ROUNDS	16    /* reads per direction per event */

/* What relay_io calls return besides a byte count (>0), 0 (EOF) and -1 (error). */
enum { RELAY_WANT_READ = -2, RELAY_WANT_WRITE = -3 };

/* An end read and written by someone else (a TLS session). */
struct relay_io {
	ssize_t (*read)(void *arg, char *buf, size_t n);
	ssize_t (*write)(void *arg, const char *buf, size_t n);
	void (*shutdown)(void *arg);  /* send our EOF */
	size_t (*pending)(void *arg); /* bytes readable without the fd becoming readable */
};

/* Empty pipes kept for reuse, one pool per daemon. */
struct relay_pool {
	int fds[RELAY_PIPE_POOL][2];
	size_t n;
};
void relay_pool_drain(struct relay_pool *);

struct relay;
struct relay_end {
	struct relay *r;
	int fd;
	const struct relay_io *io; /* NULL: a plain socket */
	void *arg;
	int xrd, xwr; /* the io asks for readability / writability for itself */
	ev_io rd, wr;
};

struct relay_dir {
	struct relay_end *src, *dst;
	int pipe[2]; /* while splicing, else -1 */
	size_t inpipe;
	char *buf; /* read, not yet written (allocated on first use) */
	size_t off, len, cap;
	int eof, shut;
	unsigned long long bytes, spliced; /* moved in total, of which by splice */
};

/* Both directions done (error 0), or an error (-1): the caller stops and closes. */
typedef void relay_done_cb(void *arg, int error);

struct relay {
	struct ev_loop *loop;
	struct relay_pool *pool;
	struct relay_end a, b;
	struct relay_dir up, down; /* a -> b, b -> a */
	relay_done_cb *done;
	void *arg;
	ev_tstamp t_io; /* last byte read either way */
	int started;
};

/* Set up a relay between fd a and fd b (each with its io or NULL); nothing runs yet. */
void relay_init(struct relay *, struct ev_loop *, struct relay_pool *, int a,
		const struct relay_io *aio, void *aarg, int b, const struct relay_io *bio,
		void *barg, relay_done_cb *, void *arg);
/* Bytes already read from one end that go first to the other (to_b: towards b). */
void relay_preload(struct relay *, int to_b, const char *, size_t);
/*
 * Start moving: 0 running (done is called later), -1 an error, 1 both
 * directions are done already (done is not called for these two).
 */
int relay_start(struct relay *);
/* Stop the watchers and free the buffers and pipes; the fds stay open. */
void relay_stop(struct relay *);
/* Start or stop w as the interest says (a no-op when it already is). */
void relay_want(struct ev_loop *, ev_io *, int on);
/* Bytes held in user space and in the pipe for a direction (tests, status). */
size_t relay_held(const struct relay_dir *);

#endif
