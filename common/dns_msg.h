/*
 * The DNS wire format (common/dns_msg.c): names, the query parser, the
 * message scanner and the response builder.  dnsd's engine is built on it;
 * tunneld answers EdgeMesh agents' mDNS questions with it (p2p_mdns.c).
 */
#ifndef EM_DNS_MSG_H
#define EM_DNS_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire-format limits (RFC 1035 2.3.4, RFC 6891). */
#define DNS_HDR_LEN	  12
#define DNS_NAME_MAX	  255 /* wire octets, root label included */
#define DNS_LABEL_MAX	  63
#define DNS_LABELS_MAX	  127	/* non-root labels in a 255-octet name */
#define DNS_NAME_TEXT_MAX 1024	/* presentation form, \DDD escapes, NUL */
#define DNS_UDP_MIN	  512	/* limit without EDNS */
#define DNS_EDNS_UDP_MAX  4096	/* the most we answer over UDP and advertise */
#define DNS_MSG_MAX	  65535 /* TCP message limit */
#define DNS_OPT_LEN	  11	/* an OPT RR without options */
#define DNS_COMP_MAX	  128	/* names remembered for compression */

/* Types, classes, rcodes (IANA DNS parameters). */
#define DNS_T_A	    1
#define DNS_T_NS    2
#define DNS_T_CNAME 5
#define DNS_T_SOA   6
#define DNS_T_PTR   12
#define DNS_T_MX    15
#define DNS_T_TXT   16
#define DNS_T_AAAA  28
#define DNS_T_SRV   33
#define DNS_T_DNAME 39
#define DNS_T_OPT   41
#define DNS_T_IXFR  251
#define DNS_T_AXFR  252
#define DNS_T_MAILB 253
#define DNS_T_MAILA 254
#define DNS_T_ANY   255

#define DNS_C_IN   1
#define DNS_C_CH   3
#define DNS_C_NONE 254
#define DNS_C_ANY  255

#define DNS_R_NOERROR  0
#define DNS_R_FORMERR  1
#define DNS_R_SERVFAIL 2
#define DNS_R_NXDOMAIN 3
#define DNS_R_NOTIMP   4
#define DNS_R_REFUSED  5
#define DNS_R_BADVERS  16 /* extended: upper bits travel in the OPT TTL */

/* Header flag bits (second 16-bit word). */
#define DNS_F_QR	 0x8000
#define DNS_F_OPCODE	 0x7800
#define DNS_F_AA	 0x0400
#define DNS_F_TC	 0x0200
#define DNS_F_RD	 0x0100
#define DNS_F_RA	 0x0080
#define DNS_F_AD	 0x0020
#define DNS_F_CD	 0x0010
#define DNS_F_RCODE	 0x000f
#define DNS_OPCODE_QUERY 0

#define DNS_EDNS_DO 0x8000 /* in the low 16 bits of the OPT TTL */

enum dns_section {
	DNS_SEC_QUESTION = 0,
	DNS_SEC_ANSWER = 1,
	DNS_SEC_AUTHORITY = 2,
	DNS_SEC_ADDITIONAL = 3,
};

/*
 * A domain name, uncompressed wire form, always lowercased (DNS compares
 * names case-insensitively, RFC 4343).  lab[i] is the offset in wire of the
 * length octet of label i, left to right; the root label is not counted.
 */
struct dns_name {
	uint8_t wire[DNS_NAME_MAX];
	size_t len; /* wire octets incl. the root label */
	size_t nlabels;
	uint8_t lab[DNS_LABELS_MAX];
};

/* A parsed query (dns_msg_parse_query). */
struct dns_query {
	uint16_t id;
	uint16_t flags; /* as received */
	uint8_t opcode;
	bool has_question;		 /* question parsed, echo it in replies */
	struct dns_name name;		 /* qname, lowercased */
	uint8_t qname_raw[DNS_NAME_MAX]; /* qname as received (case kept, 0x20) */
	uint16_t qtype, qclass;
	bool edns; /* an OPT RR came with the query */
	uint8_t edns_version;
	uint16_t edns_size; /* client's UDP payload size, >= 512 */
	bool do_bit;
};

/* One resource record found by dns_msg_scan (offsets into the message). */
struct dns_rr {
	enum dns_section section;
	size_t name_off; /* owner name (may be compressed) */
	uint16_t type, class;
	uint32_t ttl;
	size_t ttl_off; /* offset of the 32-bit TTL */
	size_t rdata_off;
	uint16_t rdlen;
};

/* The header counts of a scanned message. */
struct dns_hdr {
	uint16_t id, flags;
	uint16_t qdcount, ancount, nscount, arcount;
};

/*
 * Response builder.  Records go to buf in section order; names are
 * compressed against every name already written.  A record that does not
 * fit is rolled back whole and sets overflow.  dns_msg_finish applies the
 * client's size limit (dropping Additional first, then setting TC) and adds
 * the OPT record when the query carried one.
 */
struct dns_msg_builder {
	uint8_t *buf;
	size_t cap; /* <= DNS_MSG_MAX */
	size_t len;
	size_t qend;	/* end of header and question */
	size_t arstart; /* start of Additional, 0 before it */
	enum dns_section section;
	uint16_t count[4];
	uint16_t flags; /* QR, opcode, AA, TC, RD, RA, CD; rcode apart */
	int rcode;	/* may be extended (> 15) */
	bool edns;
	bool do_bit;
	bool overflow; /* a record did not fit in cap */
	enum dns_section overflow_sec;
	size_t ncomp;
	uint16_t comp[DNS_COMP_MAX]; /* offsets of names written */
};

struct dns_soa {
	const struct dns_name *mname, *rname;
	uint32_t serial, refresh, retry, expire, minimum;
};

/* dns_msg.c */
int dns_name_from_text(struct dns_name *, const char *);
int dns_name_to_text(const struct dns_name *, char *, size_t);
int dns_name_from_labels(struct dns_name *, const char *const *labels, size_t n,
			 const struct dns_name *suffix);
bool dns_name_is_subdomain(const struct dns_name *, const struct dns_name *parent);
bool dns_name_equal(const struct dns_name *, const struct dns_name *);
size_t dns_name_label(const struct dns_name *, size_t i, const uint8_t **);
int dns_msg_read_name(const uint8_t *msg, size_t len, size_t *off, struct dns_name *, uint8_t *raw);
int dns_msg_parse_query(const uint8_t *msg, size_t len, struct dns_query *);
int dns_msg_scan(const uint8_t *msg, size_t len, struct dns_hdr *, struct dns_rr *rrs,
		 size_t maxrrs, size_t *nrrs, size_t *qend);
size_t dns_msg_udp_limit(const struct dns_query *);
void dns_msg_init(struct dns_msg_builder *, uint8_t *buf, size_t cap, const struct dns_query *);
void dns_msg_set_rcode(struct dns_msg_builder *, int rcode);
void dns_msg_set_flags(struct dns_msg_builder *, uint16_t flags);
int dns_msg_section(struct dns_msg_builder *, enum dns_section);
int dns_msg_add_rr(struct dns_msg_builder *, const struct dns_name *, uint16_t type, uint16_t class,
		   uint32_t ttl, const uint8_t *rdata, size_t rdlen);
int dns_msg_add_a(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		  const uint8_t addr[4]);
int dns_msg_add_aaaa(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		     const uint8_t addr[16]);
int dns_msg_add_cname(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		      const struct dns_name *target);
int dns_msg_add_ptr(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		    const struct dns_name *target);
int dns_msg_add_ns(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		   const struct dns_name *target);
int dns_msg_add_srv(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl, uint16_t prio,
		    uint16_t weight, uint16_t port, const struct dns_name *target);
int dns_msg_add_txt(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		    const char *text);
int dns_msg_add_soa(struct dns_msg_builder *, const struct dns_name *, uint32_t ttl,
		    const struct dns_soa *);
int dns_msg_append_answers(struct dns_msg_builder *, const uint8_t *msg, size_t len);
size_t dns_msg_finish(struct dns_msg_builder *, size_t limit);
size_t dns_msg_truncate(uint8_t *msg, size_t len, size_t limit);
size_t dns_msg_strip_opt(uint8_t *msg, size_t len);

#endif
