/*
 * libFuzzer: EdgeMesh's delimited protobuf messages (tunneld/p2p_pb.c).
 * Beside "no crash": a message parsed, encoded again and parsed again
 * gives the same fields (make fuzz).
 */
#include <stdint.h>
#include <string.h>

#include "../../tunneld/p2p.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct p2p_pb_msg m, back;
	uint8_t again[P2P_PB_MAX];
	char why[160] = "";
	size_t used, n, used2;
	int r;

	r = p2p_pb_parse(data, len, &m, &used, why, sizeof(why));
	if (r == -1 && why[0] == '\0')
		__builtin_trap();
	if (r != 1)
		return 0;
	if (used > len || (n = p2p_pb_encode(again, sizeof(again), &m)) == 0)
		__builtin_trap();
	if (p2p_pb_parse(again, n, &back, &used2, why, sizeof(why)) != 1 || used2 != n ||
	    memcmp(&m, &back, sizeof(m)) != 0)
		__builtin_trap();
	return 0;
}
