/*
 * The server_name of a TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3), read
 * from the bytes a client sent without terminating TLS.  The handshake
 * message may span several records; everything is bounds-checked.
 */
#include <ctype.h>
#include <string.h>

#include "byteorder.h"
#include "gatewayd.h"

#define HS_MAX 16384

int
gw_sni_parse(const unsigned char *buf, size_t n, char *name, size_t namelen)
{
	unsigned char hs[HS_MAX];
	size_t hl = 0, off = 0, rl, need = 0, p, l, el, end, i;
	unsigned type, len;

	name[0] = '\0';
	/* gather the handshake bytes from consecutive handshake records */
	for (;;) {
		if (n - off < 5)
			return GW_SNI_MORE;
		if (buf[off] != 0x16 || buf[off + 1] != 3)
			return GW_SNI_BAD;
		rl = be16_get(buf + off + 3);
		if (rl == 0 || rl > 16384 + 2048)
			return GW_SNI_BAD;
		if (n - off - 5 < rl)
			return GW_SNI_MORE;
		if (hl + rl > sizeof(hs))
			return GW_SNI_BAD;
		memcpy(hs + hl, buf + off + 5, rl);
		hl += rl;
		off += 5 + rl;
		if (hl >= 4) {
			if (hs[0] != 1)
				return GW_SNI_BAD; /* not a ClientHello */
			need = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
			if (need > sizeof(hs))
				return GW_SNI_BAD;
			if (hl >= need)
				break;
		}
	}
	end = need;
	p = 4 + 2 + 32; /* version, random */
	if (p + 1 > end)
		return GW_SNI_BAD;
	p += 1 + hs[p]; /* session id */
	if (p + 2 > end)
		return GW_SNI_BAD;
	p += 2 + be16_get(hs + p); /* cipher suites */
	if (p + 1 > end)
		return GW_SNI_BAD;
	p += 1 + hs[p]; /* compression methods */
	if (p == end)
		return GW_SNI_OK; /* no extensions, no name */
	if (p + 2 > end)
		return GW_SNI_BAD;
	el = be16_get(hs + p);
	p += 2;
	if (p + el > end)
		return GW_SNI_BAD;
	end = p + el;
	while (p + 4 <= end) {
		type = be16_get(hs + p);
		len = be16_get(hs + p + 2);
		p += 4;
		if (p + len > end)
			return GW_SNI_BAD;
		if (type == 0) { /* server_name */
			if (len < 2 || be16_get(hs + p) + 2u != len)
				return GW_SNI_BAD;
			for (i = p + 2; i + 3 <= p + len; i += 3 + l) {
				l = be16_get(hs + i + 1);
				if (i + 3 + l > p + len)
					return GW_SNI_BAD;
				if (hs[i] != 0)
					continue; /* not host_name */
				if (l == 0 || l >= namelen)
					return GW_SNI_BAD;
				memcpy(name, hs + i + 3, l);
				name[l] = '\0';
				for (l = 0; name[l] != '\0'; l++) {
					if (!isalnum((unsigned char)name[l]) && name[l] != '-' &&
					    name[l] != '.' && name[l] != '_') {
						name[0] = '\0';
						return GW_SNI_BAD;
					}
				}
				return GW_SNI_OK;
			}
			return GW_SNI_OK;
		}
		p += len;
	}
	return p == end ? GW_SNI_OK : GW_SNI_BAD;
}
