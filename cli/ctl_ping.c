/* edgemeshctl ping NODE: the round trip over the tunnel session, in band, and its path. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"

int
ctl_ping(const struct em_config *cfg, const char *node, int json)
{
	struct ipc_ping_result res;
	struct ipc_msg m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512];
	json_t *o;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_ping_req(&pk, node);
	rc = ctl_ask(cfg, IPC_TUNNEL_SOCK, IPC_PING_REQ, &sb, &m, 0);
	msgpack_sbuffer_destroy(&sb);
	if (rc == -1 ||
	    ctl_decoded(&m, ipc_unpack_ping_result(&m, &res, err, sizeof(err)), err) == -1)
		return 1;
	rc = res.ok ? 0 : 1;
	if (json) {
		o = json_pack("{s:s, s:b, s:f, s:s, s:s, s:s, s:s}", "node", node, "ok", res.ok,
			      "rtt_ms", res.rtt_us / 1000.0, "path", res.path, "via", res.via,
			      "address", res.addr, "error", res.reason);
		ctl_json_print(o);
	} else if (res.ok)
		printf("%s: %.3f ms over the tunnel, %s%s%s (%s)\n", node, res.rtt_us / 1000.0,
		       res.path, res.via[0] ? " via " : "", res.via, res.addr);
	else
		printf("%s: no answer: %s\n", node, res.reason);
	return rc;
}
