/*
 * The HTTP proxy WebSocket dials go through (transport ws): wsProxy, else
 * $HTTPS_PROXY, else $https_proxy ("none": no proxy), except to peers whose
 * address $NO_PROXY / $no_proxy names, as curl reads them.  The proxy's
 * name is resolved once, at start (getaddrinfo blocks).  The CONNECT
 * request and answer are codecs in tun_wsproto.c; tun_ws.c runs the
 * exchange before the upgrade.
 */
#include <sys/socket.h>

#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "srcrange.h"
#include "tunneld.h"

struct tun_proxy {
	struct sockaddr_storage addr;
	socklen_t len;
	char name[280];		     /* host:port as configured */
	char auth[400];		     /* base64 user:password, or "" */
	struct srcrange_set noproxy; /* NO_PROXY: peers dialed directly */
	int noproxy_all;
};

int
tun_noproxy_parse(const char *list, struct srcrange_set *set, int *all)
{
	struct ip_range r;
	char item[128], why[64];
	const char *p = list, *it;
	size_t n;
	int used = 0;

	*all = 0;
	memset(set, 0, sizeof(*set));
	while (p != NULL && *p != '\0') {
		n = tun_list_next(&p, &it);
		if (n > 0 && n < sizeof(item)) {
			memcpy(item, it, n);
			item[n] = '\0';
			if (strcmp(item, "*") == 0) {
				*all = 1;
				used++;
			} else if (ip_range_parse(item, &r, why, sizeof(why)) == 0 &&
				   srcrange_add(set, &r) == 0) {
				used++;
			} /* host and domain names: peers are dialed by address */
		}
	}
	return used;
}

int
tun_proxy_setup(struct tun_proxy **out, const char *cfg_url, char *err, size_t errlen)
{
	const char *url = cfg_url, *from = "modules.edgeTunnel.wsProxy", *np;
	char host[256], user[256], why[160], pstr[8];
	struct addrinfo hints, *res;
	struct tun_proxy *px;
	int port, r;

	*out = NULL;
	if (url[0] == '\0') {
		from = "HTTPS_PROXY";
		if ((url = getenv("HTTPS_PROXY")) == NULL || url[0] == '\0') {
			from = "https_proxy";
			url = getenv("https_proxy");
		}
	}
	if (url == NULL || url[0] == '\0' || strcmp(url, "none") == 0)
		return 0;
	if (config_http_proxy(url, host, sizeof(host), &port, user, sizeof(user), why,
			      sizeof(why)) == -1) {
		snprintf(err, errlen, "%s '%s': %s", from, url, why);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(pstr, sizeof(pstr), "%d", port);
	if ((r = getaddrinfo(host, pstr, &hints, &res)) != 0) {
		sodium_memzero(user, sizeof(user));
		snprintf(err, errlen, "%s '%s': cannot resolve %s: %s", from, url, host,
			 gai_strerror(r));
		return -1;
	}
	px = xcalloc(1, sizeof(*px));
	memcpy(&px->addr, res->ai_addr, res->ai_addrlen);
	px->len = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(px->name, sizeof(px->name), "%s:%d", host, port);
	if (user[0] != '\0')
		sodium_bin2base64(px->auth, sizeof(px->auth), (const unsigned char *)user,
				  strlen(user), sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(user, sizeof(user));
	log_info("WebSocket dials go through the HTTP proxy %s (from %s)", px->name, from);
	if ((np = getenv("NO_PROXY")) == NULL || np[0] == '\0')
		np = getenv("no_proxy");
	if (np != NULL && tun_noproxy_parse(np, &px->noproxy, &px->noproxy_all) > 0)
		log_info("... except to the addresses in NO_PROXY '%s'", np);
	*out = px;
	return 0;
}

const struct sockaddr_storage *
tun_proxy_route(const struct tun_proxy *px, const char *ip, socklen_t *len)
{
	struct ip_addr a;

	if (px == NULL || px->noproxy_all ||
	    (ip_addr_parse(ip, &a) == 0 && srcrange_match(&px->noproxy, &a)))
		return NULL;
	*len = px->len;
	return &px->addr;
}

const char *
tun_proxy_name(const struct tun_proxy *px)
{
	return px != NULL ? px->name : "";
}

const char *
tun_proxy_auth(const struct tun_proxy *px)
{
	return px != NULL ? px->auth : "";
}
