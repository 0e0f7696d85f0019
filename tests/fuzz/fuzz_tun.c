/* libFuzzer: tunnel mux frames and the handshake hello payload (make fuzz). */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/tunneld.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tun_frame f;
	struct tun_hello h;
	size_t off = 0, used;

	(void)tun_hello_decode(data, len, &h);
	/* a record's plaintext: frames back to back */
	while (off < len && tun_frame_get(data + off, len - off, &f, &used) == 1) {
		if (used == 0 || used > len - off)
			__builtin_trap();
		off += used;
	}
	return 0;
}
