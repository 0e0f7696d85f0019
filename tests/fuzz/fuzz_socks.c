/* libFuzzer: SOCKS5 greeting and request parsers (make fuzz). */
#include <stdint.h>
#include <string.h>

#include "../../socksd/socksd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct socks_req r;
	size_t used = 0;
	int rc;

	rc = socks_parse_greeting(data, len, &used);
	if (rc == 0 || rc == SOCKS_NO_METHOD) {
		if (used > len)
			__builtin_trap();
		data += used;
		len -= used;
	}
	rc = socks_parse_request(data, len, &r, &used);
	if (rc == 0 && (used > len || strlen(r.host) >= sizeof(r.host)))
		__builtin_trap();
	return 0;
}
