#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"

static void
peers_json(const struct ipc_peers *p)
{
	const struct ipc_peer_row *r;
	json_t *rows = json_array(), *o;
	size_t i;

	for (i = 0; i < p->nrows; i++) {
		char path[sizeof(r->path)];
		const char *via = "";

		r = &p->rows[i];
		/* "relayed via NODE" is path "relayed" and via NODE, as in `ping` */
		snprintf(path, sizeof(path), "%s", r->path);
		if (strncmp(path, "relayed via ", 12) == 0) {
			via = r->path + 12;
			path[7] = '\0';
		}
		json_array_append_new(
		    rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I, s:i, s:s}", "name",
				    r->name, "address", r->addr, "state", r->state, "path", path,
				    "via", via, "rtt_ms", r->rtt_us / 1000.0, "tx_bytes",
				    (json_int_t)r->tx_bytes, "rx_bytes", (json_int_t)r->rx_bytes,
				    "streams", (int)r->streams, "cipher", r->cipher));
	}
	o = json_pack("{s:s, s:s, s:o}", "node", p->self, "psk_fingerprint", p->fingerprint,
		      "peers", rows);
	ctl_json_print(o);
}

int
ctl_peers(const struct em_config *cfg, int json)
{
	struct ipc_peers p;
	struct ipc_msg m;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	char err[512], rtt[32], tx[32], rx[32];
	size_t i;
	int rc;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ipc_pack_peers_req(&pk, IPC_PEERS_ROW_LAST); /* the cipher too (an older tunneld: not) */
	rc = ctl_ask(cfg, IPC_TUNNEL_SOCK, IPC_PEERS_REQ, &sb, &m, 0);
	msgpack_sbuffer_destroy(&sb);
	if (rc == -1 || ctl_decoded(&m, ipc_unpack_peers(&m, &p, err, sizeof(err)), err) == -1)
		return 1;
	if (json) {
		peers_json(&p);
		ipc_peers_clear(&p);
		return 0;
	}
	printf("node %s, PSK fingerprint %s\n\n", p.self, p.fingerprint);
	printf("%-16s %-22s %-11s %-22s %-10s %-10s %-10s %-7s %s\n", "NODE", "ADDRESS", "STATE",
	       "PATH", "RTT", "TX", "RX", "STREAMS", "CIPHER");
	for (i = 0; i < p.nrows; i++) {
		if (p.rows[i].rtt_us > 0)
			snprintf(rtt, sizeof(rtt), "%.2fms", p.rows[i].rtt_us / 1000.0);
		else
			snprintf(rtt, sizeof(rtt), "-");
		ctl_fmt_bytes(p.rows[i].tx_bytes, tx, sizeof(tx));
		ctl_fmt_bytes(p.rows[i].rx_bytes, rx, sizeof(rx));
		printf("%-16s %-22s %-11s %-22s %-10s %-10s %-10s %-7u %s\n", p.rows[i].name,
		       p.rows[i].addr, p.rows[i].state, p.rows[i].path[0] ? p.rows[i].path : "-",
		       rtt, tx, rx, p.rows[i].streams,
		       p.rows[i].cipher[0] ? p.rows[i].cipher : "-");
	}
	ipc_peers_clear(&p);
	return 0;
}
