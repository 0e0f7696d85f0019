/* The SOCKS5 wire format (RFC 1928): greeting, request, reply. Pure code. */
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "byteorder.h"
#include "socksd.h"

int
socks_parse_greeting(const uint8_t *b, size_t len, size_t *used)
{
	size_t i;

	if (len < 1)
		return SOCKS_MORE;
	if (b[0] != 5)
		return SOCKS_BAD;
	if (len < 2)
		return SOCKS_MORE;
	if (b[1] == 0)
		return SOCKS_BAD;
	if (len < 2 + (size_t)b[1])
		return SOCKS_MORE;
	*used = 2 + (size_t)b[1];
	for (i = 0; i < b[1]; i++)
		if (b[2 + i] == 0x00)
			return 0;
	return SOCKS_NO_METHOD;
}

int
socks_parse_request(const uint8_t *b, size_t len, struct socks_req *r, size_t *used)
{
	size_t need, alen;

	memset(r, 0, sizeof(*r));
	if (len < 4)
		return len >= 1 && b[0] != 5 ? SOCKS_BAD : SOCKS_MORE;
	if (b[0] != 5 || b[2] != 0)
		return SOCKS_BAD;
	switch (b[3]) {
	case 1:
		alen = 4;
		break;
	case 3:
		if (len < 5)
			return SOCKS_MORE;
		alen = 1 + (size_t)b[4];
		break;
	case 4:
		alen = 16;
		break;
	default:
		return SOCKS_BAD;
	}
	need = 4 + alen + 2;
	if (len < need)
		return SOCKS_MORE;
	*used = need;
	r->atyp = b[3];
	r->port = be16_get(b + 4 + alen);
	switch (r->atyp) {
	case 1:
		inet_ntop(AF_INET, b + 4, r->host, sizeof(r->host));
		break;
	case 3:
		if (b[4] == 0 || memchr(b + 5, '\0', b[4]) != NULL)
			return SOCKS_HOST_UNREACH;
		memcpy(r->host, b + 5, b[4]);
		r->host[b[4]] = '\0';
		break;
	case 4:
		inet_ntop(AF_INET6, b + 4, r->host, sizeof(r->host));
		break;
	}
	if (b[1] != 1) /* only CONNECT */
		return SOCKS_CMD_UNSUPP;
	return 0;
}

size_t
socks_reply(uint8_t rep, uint8_t out[10])
{
	memset(out, 0, 10);
	out[0] = 5;
	out[1] = rep;
	out[3] = 1; /* IPv4 0.0.0.0:0 */
	return 10;
}

uint8_t
socks_rep_for(const char *reason)
{
	if (strstr(reason, "allowedNodePorts") != NULL || strstr(reason, "not allowed") != NULL)
		return SOCKS_NOT_ALLOWED;
	if (strstr(reason, "Connection refused") != NULL)
		return SOCKS_REFUSED;
	if (strstr(reason, "unknown node") != NULL || strstr(reason, "unreachable") != NULL ||
	    strstr(reason, "timed out") != NULL || strstr(reason, "no session") != NULL)
		return SOCKS_HOST_UNREACH;
	return SOCKS_FAILURE;
}
