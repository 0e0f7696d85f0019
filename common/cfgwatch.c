/*
 * Config reload, in one place for every daemon: a daemon that sets
 * d->on_config gets the config file watched (ev_stat: inotify where libev
 * has it, else a 2 s poll) and SIGHUP handled.  On a change the file is
 * parsed again into a fresh struct; a file that does not parse is reported
 * (file:line:col) and the running config stays.  The daemon's callback
 * takes from the new config what it can apply live and leaves the rest for
 * the next start.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

static void
cfgwatch_reload(struct em_daemon *d, const char *why)
{
	struct em_config *nc;
	char err[1024];

	nc = xcalloc(1, sizeof(*nc));
	if (config_load(nc, d->cfg.path, err, sizeof(err)) == -1) {
		log_warnx("config %s changed (%s) but does not load, keeping the running "
			  "one: %s",
			  d->cfg.path, why, err);
		free(nc);
		return;
	}
	log_info("config %s reloaded (%s)", d->cfg.path, why);
	d->on_config(d->arg, nc);
	free(nc);
}

static void
cfgwatch_stat_cb(struct ev_loop *loop, ev_stat *w, int revents)
{
	struct em_daemon *d = w->data;

	/* gone for a moment (an editor or a ConfigMap swapping files): wait */
	if (w->attr.st_nlink == 0)
		return;
	cfgwatch_reload(d, "file changed");
}

static void
cfgwatch_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	cfgwatch_reload(w->data, "SIGHUP");
}

void
daemon_config_watch(struct em_daemon *d)
{
	if (d->on_config == NULL || d->cfg.path[0] == '\0')
		return;
	ev_stat_init(&d->cfg_stat, cfgwatch_stat_cb, d->cfg.path, 2.);
	d->cfg_stat.data = d;
	ev_stat_start(d->loop, &d->cfg_stat);
	ev_signal_init(&d->sighup, cfgwatch_hup_cb, SIGHUP);
	d->sighup.data = d;
	ev_signal_start(d->loop, &d->sighup);
}
