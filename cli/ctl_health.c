/*
 * edgemeshctl health [DAEMON]: the exit code of a Kubernetes exec probe
 * (k8s/), which needs no metricConfig: EdgeMesh's ConfigMap as it is works.
 * 0 when the controller answers and DAEMON (every known daemon without
 * one) is connected to it and synced (its health state is "ok");
 * 1 otherwise, with one line that says which and why.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int
ctl_health(const struct em_config *cfg, const char *daemon)
{
	struct ipc_status st;
	size_t i, seen = 0, bad = 0;

	if (ctl_fetch_status(cfg, &st, 0) == -1)
		return 1;
	for (i = 0; i < st.nrows; i++) {
		if (daemon != NULL && strcmp(st.rows[i].name, daemon) != 0)
			continue;
		seen++;
		if (st.rows[i].connected && strcmp(st.rows[i].state, "ok") == 0)
			continue;
		bad++;
		printf("%s: %s%s%s%s\n", st.rows[i].name,
		       st.rows[i].connected ? "not synced, state " : "not connected",
		       st.rows[i].connected ? st.rows[i].state : "",
		       st.rows[i].detail[0] ? "; " : "", st.rows[i].detail);
	}
	if (seen == 0) {
		fprintf(stderr, "edgemeshctl: no daemon named %s\n", daemon);
		return 1;
	}
	if (bad > 0)
		return 1;
	printf("%s: ok\n", daemon != NULL ? daemon : "all daemons");
	return 0;
}
