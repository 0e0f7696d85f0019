/*
 * libFuzzer: a Gateway server's TLS material (gatewayd/gw_tls.c): the
 * Secret's tls.crt (with its chain), tls.key and ca.crt PEM through
 * gw_tls_ctx(), in each TLS mode (make fuzz).  Seeds in
 * tests/fuzz/seeds/fuzz_tls/ hold a working set to mutate.
 *
 * Input: one mode byte, then tls.crt, tls.key and ca.crt separated by NULs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../gatewayd/gatewayd.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* gw.c: only the SNI callback calls it, never here */
void
gw_gateways_refresh(struct gw *g)
{
	(void)g;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char none[] = "", simple[] = "SIMPLE", mutual[] = "MUTUAL";
	static char *const modes[] = {none, simple, mutual};
	static char cred[] = "tls-secret", star[] = "*", https[] = "HTTPS", ns[] = "ns",
		    gwn[] = "gw";
	char *buf, *f[3], *hosts[1] = {star};
	struct em_gw_server sv;
	struct em_gateway gw;
	size_t i, off = 1;

	log_init("fuzz", 0);
	if (len < 1 || len > 16384)
		return 0;
	buf = malloc(len + 1);
	memcpy(buf, data, len);
	buf[len] = '\0';
	for (i = 0; i < 3; i++) {
		f[i] = buf + off;
		off += strlen(buf + off);
		if (off < len)
			off++;
	}
	memset(&sv, 0, sizeof(sv));
	sv.port = 443;
	sv.protocol = https;
	sv.nhosts = 1;
	sv.hosts = hosts;
	sv.tls_mode = modes[data[0] % 3];
	sv.credential = cred;
	sv.cert_pem = f[0];
	sv.key_pem = f[1];
	sv.ca_pem = f[2];
	memset(&gw, 0, sizeof(gw));
	gw.ns = ns;
	gw.name = gwn;
	gw.nservers = 1;
	gw.servers = &sv;
	(void)gw_tls_ctx(&gw, &sv);
	(void)gw_tls_ctx(&gw, &sv); /* cached */
	gw_tls_flush_cache();
	free(buf);
	return 0;
}
