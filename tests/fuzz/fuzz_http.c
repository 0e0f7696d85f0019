/* libFuzzer: gatewayd's HTTP heads, bodies and the TLS ClientHello SNI (make fuzz). */
#include <stdint.h>
#include <string.h>

#include "../../gatewayd/gatewayd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct gw_head h;
	struct gw_body b;
	char name[256];
	size_t off;
	ssize_t k;

	(void)gw_http_parse_request((const char *)data, len, &h);
	(void)gw_http_parse_response((const char *)data, len, &h);
	(void)gw_sni_parse(data, len, name, sizeof(name));
	gw_body_init(&b, GW_BODY_CHUNKED, 0);
	for (off = 0; off < len && !b.done; off += (size_t)k) {
		if ((k = gw_body_feed(&b, (const char *)data + off, len - off)) <= 0)
			break;
		if ((size_t)k > len - off)
			__builtin_trap();
	}
	return 0;
}
