/* libFuzzer: the WebSocket upgrade, proxy answer and frame header parsers (make fuzz). */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/tunneld.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tun_ws_frame f;
	char key[64], why[160];
	size_t used = 0;

	if (tun_ws_parse_request((const char *)data, len, &used, key, sizeof(key), why,
				 sizeof(why)) == 1 &&
	    used > len)
		__builtin_trap();
	if (tun_ws_parse_response((const char *)data, len, "dGhlIHNhbXBsZSBub25jZQ==", &used, why,
				  sizeof(why)) == 1 &&
	    used > len)
		__builtin_trap();
	if (tun_http_connect_response((const char *)data, len, &used, why, sizeof(why)) == 1 &&
	    used > len)
		__builtin_trap();
	if (tun_ws_frame_parse(data, len, len & 1, &f, why, sizeof(why)) == 1 && f.hlen > len)
		__builtin_trap();
	return 0;
}
