/*
 * What every daemon shares: options (-c FILE, -n, -d, -u USER, --help,
 * --version), the config ($STATE_DIRECTORY over stateDir),
 * the log, signals, the controller connection (hello, subscribe, snapshot
 * and deltas into a replica, health reports, reconnect with backoff) and
 * sd_notify (READY=1, WATCHDOG=1 from the health timer).  A daemon's main():
 *
 *	daemon_init(&d, "dnsd", argc, argv, opts);   options, config, log, loop
 *	... acquire privileged resources (sockets, keys) ...
 *	privdrop(&d, caps, ncaps);
 *	d.topics = ...; d.on_change = ...;
 *	daemon_start(&d);   connect to the controller, READY=1
 *	daemon_run(&d);     until SIGTERM/SIGINT
 */
#ifndef EM_DAEMON_H
#define EM_DAEMON_H

#include <sys/types.h>

#include <ev.h>
#include <time.h>

#include "config.h"
#include "ipc.h"
#include "replica.h"

/* A daemon's own long options beyond the common ones. */
struct em_opt {
	const char *name;
	int has_arg; /* 0: sets *flag = 1; 1: sets *value */
	int *flag;
	const char **value;
	const char *help;
};

struct em_daemon {
	const char *name;
	struct em_config cfg;
	const char *cfg_path;
	const char *user; /* -u: the user to run as */
	int debug;
	int own_state_dir; /* stateDir is $STATE_DIRECTORY, ours alone (systemd) */
	struct ev_loop *loop;
	time_t started;
	size_t trimmed_free; /* free heap bytes after the last malloc_trim() */

	uint32_t topics; /* subscriptions */
	struct replica *replica;
	replica_change_cb on_change;  /* each add/change/delete */
	void (*on_synced)(void *arg); /* after the snapshot of every topic */
	void (*fill_health)(void *arg, struct ipc_health *);
	void (*fill_metrics)(void *arg, struct em_samples *); /* beside the base samples */
	void (*on_shutdown)(void *arg); /* SIGTERM/SIGINT: stop taking new work */
	size_t (*busy)(void *arg);	/* work in hand a SIGTERM lets finish (DAEMON_DRAIN_MAX) */
	/* Work held back until the first sync (a restarted daemon finds what
	 * came meanwhile in its sockets' backlogs), hold_secs at most: then it
	 * serves with what the replica has.  on_serve runs once, after on_synced. */
	void (*on_serve)(void *arg, const char *why);
	double hold_secs;
	void *arg;

	struct ipc_acl acl; /* who may connect to our sockets */

	struct em_kept {
		char key[64];
		int fd; /* the daemon's own fd: parked as a dup */
	} * kept;	/* sockets parked in the controller, re-sent on connect */
	size_t nkept, kcap;
	char (*forgotten)[64]; /* forgotten while away: released on connect */
	size_t nforgotten;

	struct ipc_conn *ctl;
	int ctl_synced;
	unsigned backoff_ms;
	ev_timer reconnect_timer, health_timer, health_soon;
	ev_signal sigterm, sigint;
	ev_timer cred_check;
	ev_timer drain; /* after SIGTERM: until busy() is 0 */
	ev_timer hold;	/* until the first sync: on_serve */
	int hold_over;	/* on_serve ran, or the daemon is stopping */
	ev_tstamp drain_until;
	struct em_samples samples; /* reused for each METRICS report */

	/* cfgwatch.c: set on_config before daemon_start() to get the config
	 * file watched (and SIGHUP); called with the newly loaded config */
	void (*on_config)(void *arg, const struct em_config *);
	ev_stat cfg_stat;
	ev_signal sighup;
};

void daemon_init(struct em_daemon *, const char *name, int argc, char **argv,
		 const struct em_opt *opts);
void daemon_start(struct em_daemon *);
void daemon_run(struct em_daemon *);
/* Report health within 50 ms, not at the next tick: what `edgemeshctl status`
 * shows changed (a tunnel session went up or down).  Coalesced. */
void daemon_health_soon(struct em_daemon *);
/* cfgwatch.c: watch the config file when d->on_config is set (daemon_start calls it). */
void daemon_config_watch(struct em_daemon *);
/*
 * SIGTERM: on_shutdown (stop accepting: the listening sockets wait in the
 * controller for the next process), then the loop runs until busy() is 0 or
 * DAEMON_DRAIN_MAX seconds have passed, so what is in hand is finished.
 */
#define DAEMON_DRAIN_MAX 10.0
void daemon_stop(struct em_daemon *);
/* The controller connection, for a daemon that sends its own messages. */
int daemon_connected(const struct em_daemon *);
/* Allowed peer on one of our sockets: root, ourselves, ipcUsers, edgemesh* users. */
int daemon_peer_allowed(const struct em_daemon *, int fd);

/*
 * Listening sockets that outlive a restart: fetch what this daemon parked
 * in the controller (-1: nothing, or no controller), and keep a socket
 * parked there (a dup is re-sent at every controller connect).
 */
int daemon_fd_fetch(struct em_daemon *, const char *key);
void daemon_fd_keep(struct em_daemon *, const char *key, int fd);
/* Park fd under key now, on a connection of its own, and wait until the
 * controller has it (a process about to exit); -1 with err. */
int daemon_fd_park(struct em_daemon *, const char *key, int fd, char *err, size_t errlen);
/* A kept socket the daemon closes for good: the controller lets go of it too. */
void daemon_fd_forget(struct em_daemon *, const char *key);

/*
 * stateDir/<daemon>: this daemon's own writable state, made before privdrop()
 * (0700, owned by the user it switches to); under systemd, $STATE_DIRECTORY
 * itself (StateDirectory=edgemesh/<daemon>).  -1 with errno.
 */
int daemon_state_dir(struct em_daemon *, char *out, size_t len);

/* privdrop.c: keep only these capabilities (CAP_* numbers), switch to d->user. */
void privdrop(struct em_daemon *, const int *caps, int ncaps);
/* uid, capabilities, seccomp, no_new_privs, Landlock of this process, as a sample. */
void privdrop_samples(struct em_samples *);
/* The user privdrop() switches to: 0 and its ids; 1 staying as is; -1 unknown user. */
int privdrop_user(const struct em_daemon *, uid_t *, gid_t *);
/* sdnotify.c */
void sd_notify_ready(const char *status);
void sd_notify_status(const char *status);
/* WATCHDOG=1, and half of systemd's WatchdogSec= in seconds (0: none asked). */
void sd_notify_watchdog(void);
double sd_watchdog_period(void);
uint64_t proc_rss_kb(void);
/* RSS, open fds and uptime of this process (the controller adds daemon="..."). */
void daemon_base_samples(const struct em_daemon *, struct em_samples *);

#endif
