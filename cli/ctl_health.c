/*
 * edgemeshctl health [DAEMON]: the exit code of a Kubernetes exec probe.
 * 0 when the controller answers and DAEMON (every known daemon without
 * one) is connected to it and synced (its health state is "ok");
 * 1 otherwise, with one line that says which and why.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

int
ctl_health(const struct em_config *cfg, const char *daemon)
{
	struct ipc_status st;
	struct ipc_msg m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512];
	size_t i, seen = 0, bad = 0;
	int fd, rc = 1;

	if ((fd = ctl_open(cfg, IPC_CONTROLLER_SOCK)) == -1)
		return 1;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_empty(&pk);
	if (ctl_send(fd, IPC_STATUS_REQ, &sb) == -1 || ctl_recv(fd, IPC_MAX_CONTROL, &m) == -1)
		goto out;
	if (ipc_unpack_status(&m, &st, err, sizeof(err)) == -1) {
		fprintf(stderr, "edgemeshctl: %s\n", err);
		ipc_msg_clear(&m);
		goto out;
	}
	ipc_msg_clear(&m);
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
		goto out;
	}
	if (bad == 0) {
		printf("%s: ok\n", daemon != NULL ? daemon : "all daemons");
		rc = 0;
	}
out:
	msgpack_sbuffer_destroy(&sb);
	close(fd);
	return rc;
}
