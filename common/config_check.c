/*
 * The values of edgemesh.yaml's string keys (config.c's table names a check
 * per key): paths, interface names, addresses, ranges, domains, the proxy
 * URL; and how a value is quoted in a message.  config_service_cidr and
 * config_http_proxy serve the daemons too (config.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "byteorder.h"
#include "config.h"
#include "config_int.h"
#include "srcrange.h"

/* Printable, shortened copy of v (for messages and warnings). */
void
cfg_clean(const char *v, size_t vlen, char *buf, size_t len)
{
	size_t i, n = 0;

	if (len == 0)
		return;
	for (i = 0; i < vlen && n + 4 < len; i++) {
		if (i == CFG_SHOW_LEN) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		buf[n++] = isprint((unsigned char)v[i]) ? v[i] : '?';
	}
	buf[n] = '\0';
}

/* Quote a value for a message: 'value'. */
void
cfg_show(const char *v, size_t vlen, char *buf, size_t len)
{
	char clean[CFG_SHOW_LEN + 8];
	int r;

	cfg_clean(v, vlen, clean, sizeof(clean));
	r = snprintf(buf, len, "'%s'", clean);
	if (r < 0 && len > 0)
		buf[0] = '\0';
}

int
cfg_check_nonempty(const char *v, char *why, size_t len)
{
	if (*v != '\0')
		return 0;
	snprintf(why, len, "must not be empty");
	return -1;
}

int
cfg_check_cidr(const char *v, char *why, size_t len)
{
	struct ip_range r;

	return ip_range_parse(v, &r, why, len);
}

/* why: v shown (quoted, cut) between before and after; returns -1. */
static int
check_refuse(const char *v, char *why, size_t len, const char *before, const char *after)
{
	char s[CFG_SHOW_LEN + 8];

	cfg_show(v, strlen(v), s, sizeof(s));
	snprintf(why, len, "%s%s%s", before, s, after);
	return -1;
}

int
cfg_check_abspath(const char *v, char *why, size_t len)
{
	if (*v == '/')
		return 0;
	return check_refuse(v, why, len, "expected an absolute path, got ", "");
}

/* Linux dev_valid_name(); the length is the field's. */
int
cfg_check_ifname(const char *v, char *why, size_t len)
{
	const char *c;

	if (cfg_check_nonempty(v, why, len) == -1)
		return -1;
	for (c = v; *c != '\0'; c++)
		if (*c == '/' || *c == ':' || isspace((unsigned char)*c) ||
		    !isprint((unsigned char)*c))
			break;
	if (*c == '\0' && strcmp(v, ".") != 0 && strcmp(v, "..") != 0)
		return 0;
	return check_refuse(v, why, len, "", " is not a valid interface name");
}

int
cfg_check_ipv4(const char *v, char *why, size_t len)
{
	struct in_addr a;

	if (inet_pton(AF_INET, v, &a) == 1)
		return 0;
	return check_refuse(v, why, len, "expected an IPv4 address, got ", "");
}

static int
cfg_port_ok(const char *s)
{
	char *end;
	long l;

	if (!isdigit((unsigned char)*s))
		return 0;
	errno = 0;
	l = strtol(s, &end, 10);
	return errno == 0 && *end == '\0' && l >= 1 && l <= 65535;
}

/* ip, ip:port, ipv6 or [ipv6]:port */
int
cfg_check_hostport(const char *v, char *why, size_t len)
{
	struct in6_addr a6;
	struct in_addr a4;
	char host[INET6_ADDRSTRLEN + 1];
	const char *c, *port = NULL;
	size_t n;

	if (inet_pton(AF_INET, v, &a4) == 1 || inet_pton(AF_INET6, v, &a6) == 1)
		return 0;
	if (*v == '[') {
		if ((c = strchr(v, ']')) != NULL && c[1] == ':') {
			n = (size_t)(c - v - 1);
			port = c + 2;
			if (n < sizeof(host)) {
				memcpy(host, v + 1, n);
				host[n] = '\0';
				if (inet_pton(AF_INET6, host, &a6) == 1 && cfg_port_ok(port))
					return 0;
			}
		}
	} else if ((c = strchr(v, ':')) != NULL) {
		n = (size_t)(c - v);
		port = c + 1;
		if (n < sizeof(host)) {
			memcpy(host, v, n);
			host[n] = '\0';
			if (inet_pton(AF_INET, host, &a4) == 1 && cfg_port_ok(port))
				return 0;
		}
	}
	return check_refuse(v, why, len, "expected an IP address or IP:port, got ", "");
}

int
config_service_cidr(const char *v, uint32_t *base, unsigned *prefix, char *why, size_t len)
{
	struct ip_range r;

	if (ip_range_parse(v, &r, why, len) == -1)
		return -1;
	if (r.a.family != AF_INET || strchr(v, '/') == NULL) {
		snprintf(why, len, "%s: expected an IPv4 range like 10.96.0.0/12", v);
		return -1;
	}
	if (r.bits > 30) {
		snprintf(why, len, "%s: /%u is too small a range: use a prefix of at most /30", v,
			 r.bits);
		return -1;
	}
	*base = be32_get(r.a.b);
	*prefix = r.bits;
	return 0;
}

int
cfg_check_cidr4(const char *v, char *why, size_t len)
{
	uint32_t base;
	unsigned prefix;

	return config_service_cidr(v, &base, &prefix, why, len);
}

int
config_http_proxy(const char *url, char *host, size_t hostlen, int *port, char *userinfo,
		  size_t ulen, char *why, size_t whylen)
{
	const char *p = url, *at, *end, *colon, *h;
	char *e;
	size_t n;
	long v;

	if (strncasecmp(p, "http://", 7) == 0)
		p += 7;
	else if (strstr(p, "://") != NULL) {
		snprintf(why, whylen,
			 "only http:// proxies are supported (a proxy reached with TLS "
			 "is not)");
		return -1;
	}
	end = p + strcspn(p, "/");
	if (end[0] == '/' && end[1] != '\0') {
		snprintf(why, whylen, "a proxy URL has no path");
		return -1;
	}
	userinfo[0] = '\0';
	at = memchr(p, '@', (size_t)(end - p));
	if (at != NULL) {
		if ((size_t)(at - p) >= ulen) {
			snprintf(why, whylen, "proxy user:password too long");
			return -1;
		}
		memcpy(userinfo, p, (size_t)(at - p));
		userinfo[at - p] = '\0';
		p = at + 1;
	}
	h = p;
	if (*h == '[') {
		if ((colon = memchr(h, ']', (size_t)(end - h))) == NULL) {
			snprintf(why, whylen, "unclosed [ in the proxy address");
			return -1;
		}
		h++;
		n = (size_t)(colon - h);
		colon++;
		if (colon >= end || *colon != ':')
			colon = NULL;
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		n = colon != NULL ? (size_t)(colon - h) : (size_t)(end - h);
	}
	if (n == 0 || n >= hostlen) {
		snprintf(why, whylen, "proxy host missing or too long");
		return -1;
	}
	memcpy(host, h, n);
	host[n] = '\0';
	for (e = host; *e != '\0'; e++)
		if (!isalnum((unsigned char)*e) && *e != '.' && *e != '-' && *e != ':' &&
		    *e != '_') {
			snprintf(why, whylen, "proxy host has a bad character");
			return -1;
		}
	if (colon == NULL) {
		snprintf(why, whylen, "proxy URL without a port (http://HOST:PORT)");
		return -1;
	}
	errno = 0;
	v = strtol(colon + 1, &e, 10);
	if (errno != 0 || e != end || v < 1 || v > 65535) {
		snprintf(why, whylen, "proxy port is not 1-65535");
		return -1;
	}
	*port = (int)v;
	return 0;
}

/* wsProxy: "", "none" (not even the environment's) or a proxy URL. */
int
cfg_check_proxy_opt(const char *v, char *why, size_t len)
{
	char host[256], user[256];
	int port;

	if (*v == '\0' || strcmp(v, "none") == 0)
		return 0;
	return config_http_proxy(v, host, sizeof(host), &port, user, sizeof(user), why, len);
}

/* Dot-separated labels of letters, digits and '-', 1-63 bytes each. */
int
cfg_check_domain(const char *v, char *why, size_t len)
{
	const char *c;
	size_t label = 0;

	for (c = v; *c != '\0'; c++) {
		if (*c == '.') {
			if (label == 0)
				break;
			label = 0;
		} else if (isalnum((unsigned char)*c) || *c == '-') {
			if (++label > 63)
				break;
		} else
			break;
	}
	if (*c == '\0' && label > 0)
		return 0;
	return check_refuse(v, why, len, "", " is not a valid domain name");
}
