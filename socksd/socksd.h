/* edgemesh-socksd: SOCKS5 (RFC 1928, no-auth CONNECT) to nodes by name. */
#ifndef EM_SOCKSD_H
#define EM_SOCKSD_H

#include <stddef.h>
#include <stdint.h>

#include "daemon.h"
#include "tunclient.h"

/* RFC 1928 reply codes */
#define SOCKS_OK	   0x00
#define SOCKS_FAILURE	   0x01
#define SOCKS_NOT_ALLOWED  0x02
#define SOCKS_HOST_UNREACH 0x04
#define SOCKS_REFUSED	   0x05
#define SOCKS_CMD_UNSUPP   0x07
#define SOCKS_ATYP_UNSUPP  0x08

#define SOCKS_MORE    (-1) /* parse: not enough bytes yet */
#define SOCKS_BAD     (-2) /* parse: not SOCKS5: close without a reply */
#define SOCKS_REQ_MAX 262  /* 4 + 1 + 255 + 2 */

struct socks_req {
	uint8_t atyp;	/* 1 IPv4, 3 domain, 4 IPv6 */
	char host[256]; /* the name, or the address as text */
	uint16_t port;
};

/* socks_proto.c */
/* 0: no-auth offered (reply 05 00); SOCKS_NOT_ACCEPTABLE: reply 05 FF. */
#define SOCKS_NO_METHOD (-3)
int socks_parse_greeting(const uint8_t *, size_t, size_t *used);
/* 0 and r filled, SOCKS_MORE, SOCKS_BAD, or a reply code (> 0) to refuse with. */
int socks_parse_request(const uint8_t *, size_t, struct socks_req *, size_t *used);
/* A reply with BND.ADDR 0.0.0.0:0, as EdgeMesh sends; returns its length (10). */
size_t socks_reply(uint8_t rep, uint8_t out[10]);
/* The reply code for a failed tunnel open, from tunneld's reason. */
uint8_t socks_rep_for(const char *reason);

/* socks_conn.c */
struct socksd;
struct socksd *socks_new(struct em_daemon *, int lfd);
void socks_start(struct socksd *);
void socks_stop(struct socksd *);
void socks_quiesce(struct socksd *); /* SIGTERM: accept nothing new */
size_t socks_busy(const struct socksd *);
void socks_health(struct socksd *, char *buf, size_t len);

/* socksd_sandbox.c */
void socksd_sandbox(struct em_daemon *);

#endif
