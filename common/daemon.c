#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "netaddr.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define HEALTH_PERIOD  2.0
#define TRIM_MIN       (128 << 10) /* free heap worth handing back */
#define MMAP_MIN       (256 << 10) /* allocations this big get their own mapping */
#define NOPORT_SECS    60.0	   /* a connect without a local port is news this long */

/* --help: the text on stdout, exit 0; a bad option: on stderr, exit 2. */
static void
usage(const char *name, const struct em_opt *opts, int status)
{
	FILE *f = status == 0 ? stdout : stderr;
	const struct em_opt *o;

	fprintf(f, "usage: edgemesh-%s [-dn] [-c file] [-u user]", name);
	for (o = opts; o != NULL && o->name != NULL; o++)
		fprintf(f, " [--%s%s]", o->name, o->has_arg ? " arg" : "");
	fprintf(f,
		"\n  -c file  config (default %s)\n  -n       check the config and exit\n"
		"  -d       foreground, debug log\n  -u user  run as this user\n"
		"  -h, --help      this text\n  -V, --version   the version\n",
		EM_CONFIG_DEFAULT);
	for (o = opts; o != NULL && o->name != NULL; o++)
		fprintf(f, "  --%-14s %s\n", o->name, o->help);
	exit(status);
}

/* Returns 1 for -n (check the config only). */
static int
daemon_parse(struct em_daemon *d, int argc, char **argv, const struct em_opt *opts)
{
	struct option lo[32];
	int n = 0, ch, idx, checkonly = 0;
	const struct em_opt *o;

	for (o = opts; o != NULL && o->name != NULL && n < 28; o++, n++) {
		lo[n].name = o->name;
		lo[n].has_arg = o->has_arg ? required_argument : no_argument;
		lo[n].flag = NULL;
		lo[n].val = 256 + n;
	}
	lo[n] = (struct option){"help", no_argument, NULL, 'h'};
	lo[n + 1] = (struct option){"version", no_argument, NULL, 'V'};
	memset(&lo[n + 2], 0, sizeof(lo[n + 2]));
	d->cfg_path = NULL;
	while ((ch = getopt_long(argc, argv, "c:dnu:hV", lo, &idx)) != -1) {
		switch (ch) {
		case 'c':
			d->cfg_path = optarg;
			break;
		case 'd':
			d->debug = 1;
			break;
		case 'n':
			checkonly = 1;
			break;
		case 'u':
			d->user = optarg;
			break;
		case 'h':
			usage(d->name, opts, 0);
			break;
		case 'V':
			printf("edgemesh-%s %s\n", d->name, EM_BUILD_VERSION);
			exit(0);
		default:
			if (ch >= 256 && ch < 256 + n) {
				o = &opts[ch - 256];
				if (o->has_arg && o->value != NULL)
					*o->value = optarg;
				else if (o->flag != NULL)
					*o->flag = 1;
				break;
			}
			usage(d->name, opts, 2);
		}
	}
	if (optind != argc)
		usage(d->name, opts, 2);
	return checkonly;
}

void
daemon_init(struct em_daemon *d, const char *name, int argc, char **argv, const struct em_opt *opts)
{
	char err[1024];
	const char *path, *env;
	int checkonly;

	memset(d, 0, sizeof(*d));
	d->name = name;
	/* big buffers (a bulk stream's, a snapshot's) are mapped apart and go
	 * back when freed; glibc would otherwise raise this after the first */
	mallopt(M_MMAP_THRESHOLD, MMAP_MIN);
	log_init(name, 0);
	checkonly = daemon_parse(d, argc, argv, opts);
	path = d->cfg_path;
	if (path == NULL && access(EM_CONFIG_DEFAULT, F_OK) == 0)
		path = EM_CONFIG_DEFAULT;
	if (config_load(&d->cfg, path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	/* systemd's StateDirectory= (the daemon's own, see systemd/) is its stateDir */
	if ((env = getenv("STATE_DIRECTORY")) != NULL && env[0] == '/') {
		snprintf(d->cfg.state_dir, sizeof(d->cfg.state_dir), "%.*s", (int)strcspn(env, ":"),
			 env);
		d->own_state_dir = 1;
	}
	if (checkonly) {
		printf("configuration OK\n");
		exit(0);
	}
	log_setdebug(d->debug);
	signal(SIGPIPE, SIG_IGN);
	d->loop = ev_default_loop(EVFLAG_AUTO);
	d->started = time(NULL);
	ipc_acl_init(&d->acl, d->cfg.ipc_users, d->cfg.n_ipc_users);
}

int
daemon_peer_allowed(const struct em_daemon *d, int fd)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	pid_t pid;

	if (ipc_peercred(fd, &uid, &gid, &pid) == -1)
		return 0;
	if (ipc_acl_allows(&d->acl, uid))
		return 1;
	if (d->cfg.n_ipc_users == 0 && (pw = getpwuid(uid)) != NULL &&
	    strncmp(pw->pw_name, "edgemesh", 8) == 0)
		return 1;
	log_warnx("refused a local connection from uid %u pid %d: not in commonConfig.ipcUsers",
		  (unsigned)uid, (int)pid);
	return 0;
}

static void daemon_connect(struct em_daemon *);

static void
daemon_send_health(struct em_daemon *d)
{
	struct ipc_health h;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	if (d->ctl == NULL)
		return;
	memset(&h, 0, sizeof(h));
	snprintf(h.state, sizeof(h.state), "%s",
		 replica_synced(d->replica, d->topics) ? "ok" : "starting");
	h.uptime = (uint64_t)(time(NULL) - d->started);
	h.state_version = replica_version(d->replica);
	h.rss_kb = proc_rss_kb();
	if (d->fill_health != NULL)
		d->fill_health(d->arg, &h);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_health(&pk, &h);
	if (ipc_conn_send_sbuf(d->ctl, IPC_HEALTH, &sb, -1) == -1) {
		msgpack_sbuffer_destroy(&sb);
		return;
	}
	metrics_clear(&d->samples);
	daemon_base_samples(d, &d->samples);
	if (d->fill_metrics != NULL)
		d->fill_metrics(d->arg, &d->samples);
	if (d->samples.n == EM_SAMPLES_MAX)
		log_warnx_once("metrics full",
			       "metrics: the report is full (%d samples); the "
			       "rest are left out",
			       EM_SAMPLES_MAX);
	msgpack_sbuffer_clear(&sb);
	ipc_pack_metrics(&pk, &d->samples);
	ipc_conn_send_sbuf(d->ctl, IPC_METRICS, &sb, -1);
	msgpack_sbuffer_destroy(&sb);
}

void
daemon_base_samples(const struct em_daemon *d, struct em_samples *ss)
{
	struct dirent *de;
	const char *noport;
	DIR *dir;
	int n = 0;

	if ((dir = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(dir)) != NULL)
			n += de->d_name[0] != '.';
		closedir(dir);
		n--; /* the one opendir holds */
	}
	metrics_add(ss, EM_M_DAEMON_RSS, (double)proc_rss_kb() * 1024, NULL);
	metrics_add(ss, EM_M_DAEMON_FDS, n, NULL);
	metrics_add(ss, EM_M_DAEMON_UPTIME, (double)(time(NULL) - d->started), NULL);
	if ((noport = net_noport_recent(NOPORT_SECS)) != NULL)
		metrics_add(ss, EM_M_OUT_OF_PORTS, 1, "target", noport, NULL);
	privdrop_samples(ss);
}

/*
 * Give free heap back to the kernel once a burst is over: glibc keeps the
 * pages of freed buffers (a bulk stream's, a snapshot's) mapped, and an
 * idle daemon would go on counting them.  Only when the free bytes changed
 * since the last trim, so an idle daemon does not walk its heap each time.
 */
static void
daemon_trim(struct em_daemon *d)
{
	struct mallinfo2 mi = mallinfo2();

	if (mi.fordblks < TRIM_MIN || mi.fordblks == d->trimmed_free)
		return;
	malloc_trim(0);
	d->trimmed_free = mallinfo2().fordblks;
}

static void
health_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	sd_notify_watchdog(); /* the loop turns: tell systemd (WatchdogSec=) */
	daemon_send_health(w->data);
	daemon_trim(w->data);
}

static void
health_soon_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	daemon_send_health(w->data);
}

void
daemon_health_soon(struct em_daemon *d)
{
	if (!ev_is_active(&d->health_soon))
		ev_timer_start(d->loop, &d->health_soon);
}

static void
reconnect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	daemon_connect(w->data);
}

static void
daemon_schedule_reconnect(struct em_daemon *d)
{
	double jitter = (double)(random() % (d->backoff_ms / 4 + 1)) / 1000.0;

	ev_timer_stop(d->loop, &d->reconnect_timer);
	ev_timer_set(&d->reconnect_timer, d->backoff_ms / 1000.0 + jitter, 0.);
	ev_timer_start(d->loop, &d->reconnect_timer);
	d->backoff_ms *= 2;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
}

static void
ctl_closed(struct ipc_conn *c, const char *why, void *arg)
{
	struct em_daemon *d = arg;

	log_warnx("controller connection lost (%s); serving the last known state (version %llu)",
		  why, (unsigned long long)replica_version(d->replica));
	d->ctl = NULL;
	d->ctl_synced = 0;
	daemon_schedule_reconnect(d);
}

/* Once: by the first sync or by the hold timer (no longer active in its own
 * callback, so a flag, not the timer, says whether it ran). */
static void
daemon_serve(struct em_daemon *d, const char *why)
{
	if (d->on_serve == NULL || d->hold_over)
		return;
	d->hold_over = 1;
	ev_timer_stop(d->loop, &d->hold);
	d->on_serve(d->arg, why);
}

static void
hold_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct em_daemon *d = w->data;

	log_warnx("not synced with the controller after %.0f s: serving with what we have",
		  d->hold_secs);
	daemon_serve(d, "the controller has not answered yet");
}

static void
daemon_dispatch_controller(struct ipc_conn *c, struct ipc_msg *m, void *arg)
{
	struct em_daemon *d = arg;
	char err[512], reason[256];

	if (m->type == IPC_ERROR) {
		if (ipc_unpack_error(m, reason, sizeof(reason), err, sizeof(err)) == 0)
			log_warnx("controller refused us: %s", reason);
		ipc_conn_drop(c, "controller sent an error");
		return;
	}
	if (m->type == IPC_FD_RETURN)
		return; /* a socket we forgot, moved back to us: closed with the message */
	if (m->type == IPC_HEALTH_REQ) { /* someone asks for status: report now */
		if (ipc_unpack_empty(m, err, sizeof(err)) == -1) {
			log_warnx("controller: %s", err);
			ipc_conn_drop(c, "bad HEALTH_REQ");
			return;
		}
		daemon_send_health(d);
		return;
	}
	if (m->type == IPC_HELLO) {
		struct ipc_hello h;

		if (ipc_unpack_hello(m, &h, err, sizeof(err)) == -1) {
			log_warnx("controller: %s", err);
			ipc_conn_drop(c, "bad hello");
		}
		return;
	}
	if (replica_apply(d->replica, m, err, sizeof(err)) == -1) {
		log_warnx("controller sent a malformed message: %s; reconnecting", err);
		ipc_conn_drop(c, "malformed message");
		return;
	}
	if (m->type == IPC_SNAPSHOT_END && !d->ctl_synced &&
	    replica_synced(d->replica, d->topics)) {
		d->ctl_synced = 1;
		d->backoff_ms = BACKOFF_MIN_MS;
		log_info("synced with the controller at version %llu",
			 (unsigned long long)replica_version(d->replica));
		if (d->on_synced != NULL)
			d->on_synced(d->arg);
		daemon_serve(d, "synced with the controller");
		daemon_send_health(d);
	}
}

/* Park a dup of kept socket i in the controller. */
static void
daemon_send_kept(struct em_daemon *d, size_t i)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	if (d->ctl == NULL)
		return;
	if ((fd = dup(d->kept[i].fd)) == -1) {
		log_warn("dup of the %s socket", d->kept[i].key);
		return;
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_fd_key(&pk, d->kept[i].key);
	ipc_conn_send_sbuf(d->ctl, IPC_FD_STORE, &sb, fd);
	msgpack_sbuffer_destroy(&sb);
}

#define KEPT_MAX 64 /* the controller keeps 128 in all */

void
daemon_fd_keep(struct em_daemon *d, const char *key, int fd)
{
	size_t i;

	for (i = 0; i < d->nkept; i++)
		if (strcmp(d->kept[i].key, key) == 0)
			break;
	if (i == d->nkept) {
		if (d->nkept == KEPT_MAX) {
			log_warnx("%s: %d sockets parked already; %s is not kept across a restart",
				  __func__, KEPT_MAX, key);
			return;
		}
		if (d->nkept == d->kcap) {
			d->kcap = d->kcap ? d->kcap * 2 : 4;
			d->kept = xreallocarray(d->kept, d->kcap, sizeof(*d->kept));
		}
		snprintf(d->kept[i].key, sizeof(d->kept[i].key), "%s", key);
		d->nkept++;
	}
	d->kept[i].fd = fd;
	daemon_send_kept(d, i);
}

void
daemon_fd_forget(struct em_daemon *d, const char *key)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t i;

	for (i = 0; i < d->nkept; i++)
		if (strcmp(d->kept[i].key, key) == 0)
			break;
	if (i == d->nkept)
		return;
	d->kept[i] = d->kept[--d->nkept];
	if (d->ctl == NULL) {
		/* the controller may still hold it: release it once we are back */
		if (d->nforgotten < KEPT_MAX) {
			d->forgotten =
			    xreallocarray(d->forgotten, d->nforgotten + 1, sizeof(*d->forgotten));
			snprintf(d->forgotten[d->nforgotten++], sizeof(d->forgotten[0]), "%s", key);
		}
		return;
	}
	/* fetching moves it out of the controller; the FD_RETURN is dropped on arrival */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_fd_key(&pk, key);
	ipc_conn_send_sbuf(d->ctl, IPC_FD_FETCH, &sb, -1);
	msgpack_sbuffer_destroy(&sb);
}

/* A connection of its own to the controller, for one exchange: HELLO sent. */
static int
ctl_oneshot(struct em_daemon *d)
{
	struct ipc_hello h;
	struct timeval tv = {1, 0};
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int fd;

	if ((fd = ipc_connect(d->cfg.runtime_dir, IPC_CONTROLLER_SOCK)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ipc_hello_init(&h, d->name);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_hello(&pk, &h);
	ipc_write_frame(fd, IPC_HELLO, sb.data, sb.size, -1);
	msgpack_sbuffer_destroy(&sb);
	return fd;
}

/* One type{key} frame (+ sfd) on a blocking socket; -1 with errno. */
static int
ctl_fd_key_write(int fd, uint16_t type, const char *key, int sfd)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int r, saved;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_fd_key(&pk, key);
	r = ipc_write_frame(fd, type, sb.data, sb.size, sfd);
	saved = errno;
	msgpack_sbuffer_destroy(&sb);
	errno = saved;
	return r;
}

/* Send type{key} (+ sfd) on a oneshot connection and read the FD_RETURN for key:
 * its fd, or -1 (none; err says why when the exchange failed). */
static int
ctl_fd_exchange(int fd, uint16_t type, const char *key, int sfd, char *err, size_t errlen)
{
	struct ipc_hdr hdr;
	struct ipc_msg m;
	uint8_t *payload = NULL;
	char rkey[64], reason[256];
	int rfd = -1;

	err[0] = '\0';
	if (ctl_fd_key_write(fd, type, key, sfd) == -1) {
		snprintf(err, errlen, "write: %s", strerror(errno));
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.fd = -1;
	if (ipc_read_frame(fd, IPC_MAX_CONTROL, &hdr, &payload, &rfd, err, errlen) == -1 ||
	    ipc_msg_parse(&m, hdr.type, payload, hdr.len, err, errlen) == -1) {
		free(payload);
		if (rfd != -1)
			close(rfd);
		if (err[0] == '\0')
			snprintf(err, errlen, "no answer");
		return -1;
	}
	m.owned = payload;
	m.fd = rfd;
	if (hdr.type == IPC_ERROR &&
	    ipc_unpack_error(&m, reason, sizeof(reason), rkey, sizeof(rkey)) == 0) {
		snprintf(err, errlen, "the controller refused: %s", reason);
		rfd = -1;
	} else if (hdr.type != IPC_FD_RETURN ||
		   ipc_unpack_fd_key(&m, rkey, sizeof(rkey), reason, sizeof(reason)) == -1 ||
		   strcmp(rkey, key) != 0) {
		snprintf(err, errlen, "unexpected %s", ipc_type_name(hdr.type));
		rfd = -1;
	} else {
		rfd = ipc_msg_take_fd(&m);
	}
	ipc_msg_clear(&m);
	return rfd;
}

int
daemon_fd_fetch(struct em_daemon *d, const char *key)
{
	char err[256];
	int fd, rfd;

	if ((fd = ctl_oneshot(d)) == -1)
		return -1;
	rfd = ctl_fd_exchange(fd, IPC_FD_FETCH, key, -1, err, sizeof(err));
	if (rfd == -1 && err[0] != '\0')
		log_warnx("fetching the %s socket from the controller: %s", key, err);
	close(fd);
	return rfd;
}

int
daemon_fd_park(struct em_daemon *d, const char *key, int pfd, char *err, size_t errlen)
{
	char sync[80];
	int fd, rfd;

	if ((fd = ctl_oneshot(d)) == -1) {
		snprintf(err, errlen, "controller at %s/%s: %s", d->cfg.runtime_dir,
			 IPC_CONTROLLER_SOCK, strerror(errno));
		return -1;
	}
	/* FD_STORE has no answer: the FD_FETCH of a key nobody stores, answered
	 * in order, says the store was taken */
	snprintf(sync, sizeof(sync), "%s.sync", key);
	if (ctl_fd_key_write(fd, IPC_FD_STORE, key, pfd) == -1) {
		snprintf(err, errlen, "FD_STORE: %s", strerror(errno));
		close(fd);
		return -1;
	}
	rfd = ctl_fd_exchange(fd, IPC_FD_FETCH, sync, -1, err, errlen);
	close(fd);
	if (rfd != -1)
		close(rfd);
	return err[0] == '\0' ? 0 : -1;
}

static void
daemon_connect(struct em_daemon *d)
{
	struct ipc_hello h;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	size_t i;
	int fd;

	if ((fd = ipc_connect(d->cfg.runtime_dir, IPC_CONTROLLER_SOCK)) == -1) {
		log_debug("controller at %s/%s: %s", d->cfg.runtime_dir, IPC_CONTROLLER_SOCK,
			  strerror(errno));
		daemon_schedule_reconnect(d);
		return;
	}
	d->ctl =
	    ipc_conn_new(d->loop, fd, IPC_MAX_CONTROL, daemon_dispatch_controller, ctl_closed, d);
	ipc_hello_init(&h, d->name);
	IPC_SEND(d->ctl, IPC_HELLO, ipc_pack_hello, &h);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_subscribe(&pk, d->topics);
	ipc_conn_send_sbuf(d->ctl, IPC_SUBSCRIBE, &sb, -1);
	msgpack_sbuffer_clear(&sb);
	log_info("connected to the controller; subscribed to 0x%x", d->topics);
	for (i = 0; i < d->nkept; i++)
		daemon_send_kept(d, i);
	for (i = 0; i < d->nforgotten; i++) {
		ipc_pack_fd_key(&pk, d->forgotten[i]);
		ipc_conn_send_sbuf(d->ctl, IPC_FD_FETCH, &sb, -1);
		msgpack_sbuffer_clear(&sb);
	}
	d->nforgotten = 0;
	msgpack_sbuffer_destroy(&sb);
	daemon_send_health(d);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct em_daemon *d = w->data;

	log_info("received signal %d, shutting down", w->signum);
	daemon_stop(d);
}

/* Every change of the replica, logged once here, then the daemon's own handler. */
static void
daemon_change(void *arg, enum em_topic t, const char *key, const struct em_object *old,
	      const struct em_object *cur)
{
	struct em_daemon *d = arg;

	log_debug("%s %s %s",
		  cur == NULL	? "delete"
		  : old == NULL ? "add"
				: "change",
		  em_topic_name(t), key);
	if (d->on_change != NULL)
		d->on_change(d->arg, t, key, old, cur);
}

void
daemon_start(struct em_daemon *d)
{
	double wd;

	d->replica = replica_new(daemon_change, d);
	d->backoff_ms = BACKOFF_MIN_MS;
	srandom((unsigned)(getpid() ^ time(NULL)));
	ev_timer_init(&d->reconnect_timer, reconnect_cb, 0., 0.);
	d->reconnect_timer.data = d;
	wd = sd_watchdog_period();
	wd = wd > 0 && wd < HEALTH_PERIOD ? wd : HEALTH_PERIOD;
	ev_timer_init(&d->health_timer, health_cb, wd, wd);
	d->health_timer.data = d;
	ev_timer_start(d->loop, &d->health_timer);
	ev_timer_init(&d->health_soon, health_soon_cb, 0.05, 0.);
	d->health_soon.data = d;
	ev_timer_init(&d->hold, hold_cb, d->hold_secs, 0.);
	d->hold.data = d;
	if (d->on_serve != NULL)
		ev_timer_start(d->loop, &d->hold);
	ev_signal_init(&d->sigterm, signal_cb, SIGTERM);
	ev_signal_init(&d->sigint, signal_cb, SIGINT);
	d->sigterm.data = d->sigint.data = d;
	ev_signal_start(d->loop, &d->sigterm);
	ev_signal_start(d->loop, &d->sigint);
	if (d->topics != 0 || strcmp(d->name, "controller") != 0)
		daemon_connect(d);
	daemon_config_watch(d);
	sd_notify_ready("running");
	log_info("started (node %s, runtime dir %s)", d->cfg.node_name, d->cfg.runtime_dir);
}

static void
drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct em_daemon *d = w->data;
	size_t n = d->busy(d->arg);

	if (n > 0 && ev_now(loop) < d->drain_until)
		return;
	if (n > 0)
		log_warnx("still %zu in hand after %.0f s: exiting anyway", n, DAEMON_DRAIN_MAX);
	ev_timer_stop(loop, w);
	ev_break(loop, EVBREAK_ALL);
}

void
daemon_stop(struct em_daemon *d)
{
	size_t n;

	if (ev_is_active(&d->drain))
		return; /* a second signal while draining */
	ev_timer_stop(d->loop, &d->hold);
	d->hold_over = 1; /* a sync while draining does not start serving */
	if (d->on_shutdown != NULL)
		d->on_shutdown(d->arg);
	if (d->busy == NULL || (n = d->busy(d->arg)) == 0) {
		ev_break(d->loop, EVBREAK_ALL);
		return;
	}
	log_info("finishing %zu connections in hand (new ones wait for the next process)", n);
	d->drain_until = ev_now(d->loop) + DAEMON_DRAIN_MAX;
	ev_timer_init(&d->drain, drain_cb, 0.02, 0.02);
	d->drain.data = d;
	ev_timer_start(d->loop, &d->drain);
}

void
daemon_run(struct em_daemon *d)
{
	ev_run(d->loop, 0);
	if (d->ctl != NULL) {
		ipc_conn_free(d->ctl);
		d->ctl = NULL;
	}
	replica_free(d->replica);
	d->replica = NULL;
	free(d->kept);
	d->kept = NULL;
	free(d->forgotten);
	metrics_free(&d->samples);
	d->forgotten = NULL;
	d->nkept = d->kcap = 0;
	log_info("stopped");
}

int
daemon_connected(const struct em_daemon *d)
{
	return d->ctl != NULL && d->ctl_synced;
}

int
daemon_state_dir(struct em_daemon *d, char *out, size_t len)
{
	uid_t uid;
	gid_t gid;

	if (d->own_state_dir) { /* systemd made it, for our user */
		snprintf(out, len, "%s", d->cfg.state_dir);
		return 0;
	}
	if ((size_t)snprintf(out, len, "%s/%s", d->cfg.state_dir, d->name) >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((mkdir(d->cfg.state_dir, 0755) == -1 && errno != EEXIST) ||
	    (mkdir(out, 0700) == -1 && errno != EEXIST))
		return -1;
	/* made as root for the user privdrop() switches to */
	if (privdrop_user(d, &uid, &gid) == 0 && chown(out, uid, gid) == -1)
		return -1;
	return 0;
}
