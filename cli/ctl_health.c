/*
 * edgemeshctl health [--live] [DAEMON]: the exit code of a Kubernetes exec
 * probe (k8s/), which needs no metricConfig: EdgeMesh's ConfigMap as it is
 * works.  The controller's status rows say what its /healthz and /readyz
 * say (server_daemon_health): state "stale" when a connected daemon sent no
 * health report for 10 s (hung), "ok" when it is ready.
 *   ready (default): the controller answers and DAEMON (without one: every
 *                    daemon the config enables, is connected or was seen)
 *                    is connected, reporting, state "ok";
 *   --live:          ... connected and reporting, whatever its state (a
 *                    daemon waiting for its state is not restarted).
 * 0 when so; 1 otherwise, with one line that says which and why.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int
ctl_health(const struct em_config *cfg, const char *daemon, int live)
{
	struct ipc_status st;
	const struct ipc_status_row *r;
	size_t i, seen = 0, bad = 0;

	if (ctl_fetch_status(cfg, &st, 0) == -1)
		return 1;
	for (i = 0; i < st.nrows; i++) {
		r = &st.rows[i];
		if (daemon != NULL
			? strcmp(r->name, daemon) != 0
			: !r->connected && r->detail[0] == '\0' && !ctl_daemon_wanted(cfg, r->name))
			continue; /* without DAEMON: those this node runs */
		seen++;
		if (r->connected &&
		    (live ? strcmp(r->state, "stale") != 0 : strcmp(r->state, "ok") == 0))
			continue;
		bad++;
		if (!r->connected)
			printf("%s: not connected%s%s\n", r->name, r->detail[0] ? "; " : "",
			       r->detail);
		else
			printf("%s: not %s, state %s%s%s\n", r->name, live ? "live" : "ready",
			       r->state, r->detail[0] ? "; " : "", r->detail);
	}
	if (seen == 0) {
		fprintf(stderr, "edgemeshctl: no daemon named %s\n", daemon);
		return 1;
	}
	if (bad > 0)
		return 1;
	printf("%s: %s\n", daemon != NULL ? daemon : "all daemons", live ? "live" : "ready");
	return 0;
}
