/* dnsd's metrics: answers by question type and rcode, cache hits, upstream latency. */
#include <stdio.h>

#include <netinet/in.h>

#include "byteorder.h"
#include "dns.h"
#include "netaddr.h"

const char *const dns_qt_names[DNS_QT_N] = {"A", "AAAA", "SRV", "PTR", "CNAME", "TXT", "other"};
const char *const dns_rc_names[DNS_RC_N] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "other"};

static int
qt_index(unsigned type)
{
	switch (type) {
	case 1:
		return DNS_QT_A;
	case 28:
		return DNS_QT_AAAA;
	case 33:
		return DNS_QT_SRV;
	case 12:
		return DNS_QT_PTR;
	case 5:
		return DNS_QT_CNAME;
	case 16:
		return DNS_QT_TXT;
	default:
		return DNS_QT_OTHER;
	}
}

void
dns_stats_answer(struct dns_stats *st, const uint8_t *msg, size_t len)
{
	size_t off = DNS_HDR_LEN;
	unsigned rcode, type = 0;

	if (len < DNS_HDR_LEN)
		return;
	rcode = msg[3] & 0x0f;
	/* the question's name is never compressed: walk its labels */
	if (be16_get(msg + 4) >= 1) {
		while (off < len && msg[off] != 0 && (msg[off] & 0xc0) == 0)
			off += 1u + msg[off];
		if (off + 3 < len && msg[off] == 0)
			type = be16_get(msg + off + 1);
	}
	st->answers[qt_index(type)][rcode <= 5 ? rcode : DNS_RC_OTHER]++;
}

void
dns_stats_fill(const struct dns_stats *st, const struct dns_fwd *fwd, struct em_samples *ss)
{
	struct sockaddr_storage up;
	char addr[INET6_ADDRSTRLEN + 8];
	size_t i;
	int t, r, state;

	for (i = 0; fwd != NULL && i < dns_fwd_upstreams(fwd); i++) {
		if ((state = dns_fwd_upstream(fwd, i, &up)) == -1)
			continue; /* not asked yet */
		net_addr_text(&up, addr, sizeof(addr));
		metrics_add(ss, EM_M_DNS_UPSTREAM_UP, state, "upstream", addr, NULL);
	}

	for (t = 0; t < DNS_QT_N; t++)
		for (r = 0; r < DNS_RC_N; r++)
			if (st->answers[t][r] != 0)
				metrics_add(ss, EM_M_DNS_QUERIES, (double)st->answers[t][r], "type",
					    dns_qt_names[t], "rcode", dns_rc_names[r], NULL);
	metrics_add(ss, EM_M_DNS_CACHE_HITS, (double)st->cache_hits, NULL);
	metrics_add_histogram(ss, EM_M_DNS_UPSTREAM_LATENCY, &st->upstream, NULL, NULL);
}
