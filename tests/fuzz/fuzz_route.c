/*
 * libFuzzer: gateway routing (gatewayd/gw_route.c): Host stripping, host
 * patterns, uri matches (exact, prefix, regex) and the route lookup over
 * one Gateway made from the input (make fuzz).
 *
 * Input: NUL-separated fields: host pattern, Host header, uri, prefix,
 * exact, regex.  Checked beside "no crash": a regex route matches exactly
 * when the regex, compiled alone, matches the whole path (Istio's full
 * match; refused regexes match nothing), and a host pattern matches its
 * own stripped name.
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../gatewayd/gatewayd.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NFIELDS 6

/* The regex alone matches the whole of path (POSIX: leftmost-longest);
 * -1 when it does not compile. */
static int
full_match(const char *re, const char *path)
{
	regmatch_t m[1];
	regex_t r;
	int ok;

	if (regcomp(&r, re, REG_EXTENDED) != 0)
		return -1;
	ok = regexec(&r, path, 1, m, 0) == 0 && m[0].rm_so == 0 &&
	     (size_t)m[0].rm_eo == strlen(path);
	regfree(&r);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char none[] = "", http[] = "HTTP", ns[] = "ns", gwn[] = "gw";
	char *buf, *f[NFIELDS], host[256], path[GW_HEAD_MAX], why[128];
	struct em_gw_server sv;
	struct em_gw_route rt;
	struct em_gateway gw, *gws[1] = {&gw};
	const struct em_gw_route *r;
	size_t i, n, off = 0;
	int want;

	log_init("fuzz", 0);
	if (len > 4096)
		return 0;
	buf = malloc(len + 1);
	memcpy(buf, data, len);
	buf[len] = '\0';
	for (i = 0; i < NFIELDS; i++) {
		f[i] = buf + off;
		off += strlen(buf + off);
		if (off < len)
			off++;
	}

	gw_host_strip(f[1], strlen(f[1]), host, sizeof(host));
	(void)gw_host_match(f[0], host);
	if (host[0] != '\0' && strchr(host, '/') == NULL && gw_host_match(host, host) != 1)
		__builtin_trap();

	memset(&rt, 0, sizeof(rt));
	rt.kind = EM_GW_HTTP;
	rt.nhosts = 1;
	rt.hosts = &f[0];
	rt.prefix = f[3];
	rt.exact = f[4];
	rt.regex = f[5];
	rt.dest_host = f[1];
	rt.dest_ns = f[0];
	(void)gw_uri_match(&rt, f[2]);
	/* the regex alone, when no exact or prefix takes precedence */
	rt.prefix = rt.exact = none;
	n = strcspn(f[2], "?#");
	if (n < sizeof(path) && f[5][0] != '\0' && gw_regex_check(f[5], why, sizeof(why)) == 0) {
		memcpy(path, f[2], n);
		path[n] = '\0';
		want = full_match(f[5], path);
		if (want != -1 && gw_uri_match(&rt, f[2]) != want)
			__builtin_trap();
	}
	gw_dest_key(&rt, path, sizeof(path));

	memset(&sv, 0, sizeof(sv));
	sv.port = 80;
	sv.protocol = http;
	sv.nhosts = 1;
	sv.hosts = &f[0];
	sv.tls_mode = none;
	memset(&gw, 0, sizeof(gw));
	gw.ns = ns;
	gw.name = gwn;
	gw.nservers = 1;
	gw.servers = &sv;
	gw.nroutes = 1;
	gw.routes = &rt;
	r = gw_route_http(gws, 1, 80, host, f[2]);
	if (r != NULL && r != &rt)
		__builtin_trap();
	rt.kind = EM_GW_TCP;
	(void)gw_route_tcp(gws, 1, 80, host);
	(void)gw_route_tcp(gws, 1, 80, NULL);
	free(buf);
	return 0;
}
