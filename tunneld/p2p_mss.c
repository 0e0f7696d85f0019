/*
 * multistream-select 1.0 messages (libp2p connection-establishment spec):
 * each is a uvarint length, then a protocol id (or "na", "ls") ending in
 * "\n"; the length counts the "\n".  A dialer sends "/multistream/1.0.0"
 * then its proposal; the listener echoes the header, then the proposal
 * (accepted) or "na".
 */
#include <stdio.h>
#include <string.h>

#include "p2p.h"

size_t
p2p_mss_encode(uint8_t *out, size_t cap, const char *line)
{
	size_t len = strlen(line), hdr;
	uint8_t v[P2P_UVARINT_MAX];

	if (len == 0 || len + 1 > P2P_MSS_MAX || memchr(line, '\n', len) != NULL)
		return 0;
	hdr = p2p_uvarint_put(v, len + 1);
	if (hdr + len + 1 > cap)
		return 0;
	memcpy(out, v, hdr);
	memcpy(out + hdr, line, len);
	out[hdr + len] = '\n';
	return hdr + len + 1;
}

int
p2p_mss_parse(const uint8_t *buf, size_t len, char *line, size_t cap, size_t *used, char *why,
	      size_t whylen)
{
	uint64_t n;
	size_t hdr;
	int r;

	r = p2p_uvarint_prefix(buf, len, 1, "multistream: length", &n, &hdr, why, whylen);
	if (r != 1)
		return r;
	if (n == 0 || n > P2P_MSS_MAX) {
		snprintf(why, whylen, "multistream: message of %llu bytes (1 to %d allowed)",
			 (unsigned long long)n, P2P_MSS_MAX);
		return -1;
	}
	if (n > cap) {
		snprintf(why, whylen, "multistream: message of %llu bytes, room for %zu",
			 (unsigned long long)n, cap - 1);
		return -1;
	}
	if (len - hdr < n)
		return 0;
	if (n == 1) {
		snprintf(why, whylen, "multistream: empty message");
		return -1;
	}
	if (buf[hdr + n - 1] != '\n') {
		snprintf(why, whylen, "multistream: message does not end in a newline");
		return -1;
	}
	if (memchr(buf + hdr, '\n', n - 1) != NULL || memchr(buf + hdr, '\0', n - 1) != NULL) {
		snprintf(why, whylen, "multistream: newline or NUL inside a message");
		return -1;
	}
	memcpy(line, buf + hdr, n - 1);
	line[n - 1] = '\0';
	*used = hdr + n;
	return 1;
}

int
p2p_mss_next(const uint8_t *buf, size_t len, size_t *off, char *line, size_t cap, char *why,
	     size_t whylen)
{
	size_t used;
	int r;

	if (*off >= len)
		return 0;
	r = p2p_mss_parse(buf + *off, len - *off, line, cap, &used, why, whylen);
	if (r == 1)
		*off += used;
	return r;
}
