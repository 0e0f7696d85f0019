/* gatewayd: routing table, HTTP/1.1 heads and bodies, ClientHello SNI. */
#include <check.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "../../gatewayd/gatewayd.h"

static char s_star[] = "*", s_org[] = "hostname.org", s_wild[] = "*.example.com";
static char *star[] = {s_star};
static char *org[] = {s_org};
static char *wild[] = {s_wild};

static struct em_gw_route
rt(int kind, char **hosts, uint16_t port, const char *prefix, const char *exact, const char *regex,
   const char *dest)
{
	struct em_gw_route r;

	memset(&r, 0, sizeof(r));
	r.kind = (uint8_t)kind;
	r.hosts = hosts;
	r.nhosts = 1;
	r.port = port;
	r.prefix = (char *)(uintptr_t)prefix;
	r.exact = (char *)(uintptr_t)exact;
	r.regex = (char *)(uintptr_t)regex;
	r.dest_host = (char *)(uintptr_t)dest;
	r.dest_ns = (char *)(uintptr_t) "default";
	r.dest_port = 80;
	return r;
}

static const char *
route(struct em_gateway *g, uint16_t port, const char *host, const char *uri)
{
	struct em_gateway *gws[1] = {g};
	const struct em_gw_route *r = gw_route_http(gws, 1, port, host, uri);

	return r == NULL ? "404" : r->dest_host;
}

START_TEST(test_route_table)
{
	struct em_gw_server sv[2];
	struct em_gw_route routes[8];
	struct em_gateway g;
	struct em_gateway *gws[1] = {&g};

	memset(sv, 0, sizeof(sv));
	sv[0].port = 23333;
	sv[0].protocol = (char *)(uintptr_t) "HTTP";
	sv[0].tls_mode = sv[0].credential = (char *)(uintptr_t) "";
	sv[0].hosts = star;
	sv[0].nhosts = 1;
	sv[1] = sv[0];
	sv[1].port = 23337;
	sv[1].protocol = (char *)(uintptr_t) "TCP";
	/* the controller's order: VirtualServices by name, routes in order */
	routes[0] = rt(EM_GW_HTTP, org, 0, "/who", "", "", "org-who");
	routes[1] = rt(EM_GW_HTTP, wild, 0, "/", "", "", "wild-all");
	routes[2] = rt(EM_GW_HTTP, star, 0, "", "/api", "", "api-exact");
	routes[3] = rt(EM_GW_HTTP, star, 0, "/api", "", "", "api-prefix");
	routes[4] = rt(EM_GW_HTTP, star, 0, "", "", "/re/[0-9]+", "regex");
	routes[5] = rt(EM_GW_HTTP, star, 0, "/api/welcome", "", "", "shadowed");
	routes[6] = rt(EM_GW_HTTP, star, 0, "/welcome", "", "", "welcome");
	routes[7] = rt(EM_GW_TCP, star, 23337, "", "", "", "echo");
	memset(&g, 0, sizeof(g));
	g.ns = (char *)(uintptr_t) "default";
	g.name = (char *)(uintptr_t) "gw";
	g.servers = sv;
	g.nservers = 2;
	g.routes = routes;
	g.nroutes = 8;

	ck_assert_str_eq(route(&g, 23333, "hostname.org", "/whoami"), "org-who");
	ck_assert_str_eq(route(&g, 23333, "HOSTNAME.ORG", "/who/x"), "org-who");
	ck_assert_str_eq(route(&g, 23333, "other.org", "/who"), "404");
	/* prefix "/" matches everything (EdgeMesh matched only "/") */
	ck_assert_str_eq(route(&g, 23333, "a.example.com", "/anything?q=1"), "wild-all");
	ck_assert_str_eq(route(&g, 23333, "example.com", "/api"), "api-exact");
	/* exact ignores the query; the first match in order wins (Istio) */
	ck_assert_str_eq(route(&g, 23333, "x", "/api?x=1"), "api-exact");
	ck_assert_str_eq(route(&g, 23333, "x", "/api/welcome"), "api-prefix");
	ck_assert_str_eq(route(&g, 23333, "x", "/welcome"), "welcome");
	/* regex is a full match on the path */
	ck_assert_str_eq(route(&g, 23333, "x", "/re/42"), "regex");
	ck_assert_str_eq(route(&g, 23333, "x", "/re/42?y"), "regex");
	ck_assert_str_eq(route(&g, 23333, "x", "/re/42x"), "404");
	ck_assert_str_eq(route(&g, 23333, "x", "/pre/re/42"), "404");
	ck_assert_str_eq(route(&g, 23333, "x", "/nothing"), "404");
	/* no server on that port */
	ck_assert_str_eq(route(&g, 8080, "x", "/api"), "404");
	ck_assert_ptr_nonnull(gw_route_tcp(gws, 1, 23337, NULL));
	ck_assert_str_eq(gw_route_tcp(gws, 1, 23337, NULL)->dest_host, "echo");
	ck_assert_ptr_null(gw_route_tcp(gws, 1, 23333, NULL));
	ck_assert_int_eq(gw_port_mode(gws, 1, 23333, NULL, NULL), GW_M_HTTP);
	ck_assert_int_eq(gw_port_mode(gws, 1, 23337, NULL, NULL), GW_M_TCP);
	gw_route_cache_clear();
}
END_TEST

/* The regex alone must match the whole path (found by fuzz_route): an
 * unbalanced ")" must not escape the anchors; an empty match is a match of
 * the empty path only. */
START_TEST(test_route_regex_full)
{
	struct em_gw_route r = rt(EM_GW_HTTP, star, 0, "", "", "/x)|(.*", "d");

	/* does not compile alone (unmatched "("): matches nothing */
	ck_assert_int_eq(gw_uri_match(&r, "/anything"), 0);
	ck_assert_int_eq(gw_uri_match(&r, "/x"), 0);
	/* ")" alone is a literal in an ERE */
	r.regex = (char *)(uintptr_t) "/a)|/b";
	ck_assert_int_eq(gw_uri_match(&r, "/a)"), 1);
	ck_assert_int_eq(gw_uri_match(&r, "/b"), 1);
	ck_assert_int_eq(gw_uri_match(&r, "/a"), 0);
	ck_assert_int_eq(gw_uri_match(&r, "/a)/b"), 0);
	/* alternatives: the longest one must span the path */
	r.regex = (char *)(uintptr_t) "/a|/ab";
	ck_assert_int_eq(gw_uri_match(&r, "/ab"), 1);
	ck_assert_int_eq(gw_uri_match(&r, "/abc"), 0);
	r.regex = (char *)(uintptr_t) ")*";
	ck_assert_int_eq(gw_uri_match(&r, ""), 1);
	ck_assert_int_eq(gw_uri_match(&r, "))"), 1);
	ck_assert_int_eq(gw_uri_match(&r, "/"), 0);
	gw_route_cache_clear();
}
END_TEST

/* Regexes glibc would unroll into gigabytes (found by fuzz_route: "v+++...")
 * or match in exponential time are refused, within RE2's (Istio's) rules. */
START_TEST(test_route_regex_bounds)
{
	static const char *const ok[] = {"/api/v[0-9]+/users/[a-z0-9-]{1,64}",
					 "[[:alpha:]]+",
					 "[]+]+",
					 "\\++",
					 "a{3,}",
					 "a{,5}",
					 "(ab){2}(cd){1000}",
					 "[a-f0-9]{64}/[a-f0-9]{64}",
					 "a{"};
	static const char *const bad[] = {"v++",
					  "v+++++++++++++++++++++++++++++++++++++++++++++",
					  "a*+",
					  "a?*",
					  "a{2}{3}",
					  "a+{2}",
					  "(a)\\1",
					  "a{1,1001}",
					  "a{1001}",
					  "(a{100}){101}",
					  "((a{20}){20}){30}"};
	struct em_gw_route r = rt(EM_GW_HTTP, star, 0, "", "", "", "d");
	char why[128], big[1100];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(gw_regex_check(ok[i], why, sizeof(why)) == 0, "%s: %s", ok[i], why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		ck_assert_msg(gw_regex_check(bad[i], why, sizeof(why)) == -1, "%s", bad[i]);
		ck_assert_uint_gt(strlen(why), 0);
		r.regex = (char *)(uintptr_t)bad[i];
		ck_assert_int_eq(gw_uri_match(&r, "v"), 0); /* refused: matches nothing */
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(gw_regex_check(big, why, sizeof(why)), -1);
	r.regex = (char *)(uintptr_t) "/v[0-9]+";
	ck_assert_int_eq(gw_uri_match(&r, "/v12"), 1);
	gw_route_cache_clear();
}
END_TEST

START_TEST(test_hosts)
{
	char h[256];
	struct em_gw_route r;
	struct em_gw_server s;
	char buf[EM_KEY_LEN];

	ck_assert(gw_host_match("*", "x"));
	ck_assert(gw_host_match("*", ""));
	ck_assert(gw_host_match("*.example.com", "a.b.example.com"));
	ck_assert(!gw_host_match("*.example.com", "example.com"));
	ck_assert(gw_host_match("ns1/hostname.org", "hostname.org"));
	ck_assert(!gw_host_match("hostname.org", "hostname.org.evil"));
	gw_host_strip("Hostname.ORG:23333", 18, h, sizeof(h));
	ck_assert_str_eq(h, "hostname.org");
	gw_host_strip("[fd00::1]:80", 12, h, sizeof(h));
	ck_assert_str_eq(h, "fd00::1");
	gw_host_strip("example.com.", 12, h, sizeof(h));
	ck_assert_str_eq(h, "example.com");

	memset(&r, 0, sizeof(r));
	r.dest_ns = (char *)(uintptr_t) "web";
	r.dest_host = (char *)(uintptr_t) "svc";
	gw_dest_key(&r, buf, sizeof(buf));
	ck_assert_str_eq(buf, "web/svc");
	r.dest_host = (char *)(uintptr_t) "svc.other.svc.cluster.local";
	gw_dest_key(&r, buf, sizeof(buf));
	ck_assert_str_eq(buf, "other/svc");
	r.dest_host = (char *)(uintptr_t) "svc.other";
	gw_dest_key(&r, buf, sizeof(buf));
	ck_assert_str_eq(buf, "other/svc");

	memset(&s, 0, sizeof(s));
	s.protocol = (char *)(uintptr_t) "HTTPS";
	s.tls_mode = (char *)(uintptr_t) "SIMPLE";
	s.credential = (char *)(uintptr_t) "x";
	ck_assert_int_eq(gw_server_mode(&s), GW_M_TLS_HTTP);
	s.protocol = (char *)(uintptr_t) "HTTP"; /* EdgeMesh's tls example shape */
	s.tls_mode = (char *)(uintptr_t) "MUTUAL";
	ck_assert_int_eq(gw_server_mode(&s), GW_M_TLS_HTTP);
	s.protocol = (char *)(uintptr_t) "TLS";
	s.tls_mode = (char *)(uintptr_t) "PASSTHROUGH";
	ck_assert_int_eq(gw_server_mode(&s), GW_M_TLS_PASS);
	s.protocol = (char *)(uintptr_t) "MYSQL";
	s.tls_mode = (char *)(uintptr_t) "";
	s.credential = (char *)(uintptr_t) "";
	ck_assert_int_eq(gw_server_mode(&s), GW_M_NONE);
}
END_TEST

START_TEST(test_head_parse)
{
	const char *two = "GET /a?b HTTP/1.1\r\nHost: h.org:80\r\nX-Forwarded-For: 1.2.3.4\r\n"
			  "Connection: keep-alive\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
	struct gw_head h;
	size_t first, i;
	char out[512];

	ck_assert_int_eq(gw_http_parse_request(two, strlen(two), &h), GW_HEAD_OK);
	first = h.len;
	ck_assert_str_eq(h.method, "GET");
	ck_assert_int_eq((int)h.target_len, 4);
	ck_assert(strncmp(h.target, "/a?b", 4) == 0);
	ck_assert(strncmp(h.host, "h.org:80", h.host_len) == 0);
	ck_assert_int_eq(h.conn_keepalive, 1);
	ck_assert_int_eq((int)h.clen, -1);
	/* pipelining: the second request starts right after the first head */
	ck_assert_int_eq(gw_http_parse_request(two + first, strlen(two) - first, &h), GW_HEAD_OK);
	ck_assert(strncmp(h.target, "/b", 2) == 0);
	/* every prefix of a head asks for more */
	for (i = 0; i < first; i++)
		ck_assert_int_eq(gw_http_parse_request(two, i, &h), GW_HEAD_MORE);
	/* X-Forwarded-For merged, -Proto added */
	ck_assert_int_eq(gw_http_parse_request(two, strlen(two), &h), GW_HEAD_OK);
	i = gw_http_rewrite(two, &h, "10.0.0.9", 0, out, sizeof(out));
	ck_assert_uint_gt(i, 0);
	out[i] = '\0';
	ck_assert_ptr_nonnull(strstr(out, "\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.9\r\n"));
	ck_assert_ptr_nonnull(strstr(out, "\r\nX-Forwarded-Proto: http\r\n\r\n"));
	ck_assert_ptr_null(strstr(out + 20, "GET /b"));
	ck_assert_int_eq(gw_http_parse_request(out, i, &h), GW_HEAD_OK);
}
END_TEST

static int
parse(const char *s)
{
	struct gw_head h;

	return gw_http_parse_request(s, strlen(s), &h);
}

START_TEST(test_head_bad)
{
	char *big;

	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\r\n"), GW_HEAD_BAD); /* no Host */
	ck_assert_int_eq(parse("GET / HTTP/1.0\r\n\r\n"), GW_HEAD_OK);
	ck_assert_int_eq(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), GW_HEAD_BAD);
	ck_assert_int_eq(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), GW_HEAD_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), GW_HEAD_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n"), GW_HEAD_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), GW_HEAD_BAD);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n"), GW_HEAD_BAD);
	ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			       "Transfer-Encoding: chunked\r\n\r\n"),
			 GW_HEAD_BAD);
	ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
			       "Content-Length: 6\r\n\r\n"),
			 GW_HEAD_BAD);
	ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
			 GW_HEAD_BAD);
	ck_assert_int_eq(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
			 GW_HEAD_UNSUPP);
	ck_assert_int_eq(parse("\x16\x03\x01\x02\x00\x01"), GW_HEAD_BAD); /* TLS on HTTP */
	big = calloc(1, GW_HEAD_MAX + 64);
	memcpy(big, "GET / HTTP/1.1\r\nHost: a\r\nX: ", 28);
	memset(big + 28, 'a', GW_HEAD_MAX + 10);
	ck_assert_int_eq(gw_http_parse_request(big, GW_HEAD_MAX + 38, &(struct gw_head){0}),
			 GW_HEAD_TOOBIG);
	free(big);
}
END_TEST

START_TEST(test_body)
{
	const char *ch = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
	struct gw_body b;
	size_t i, used = 0;
	ssize_t k;
	struct gw_head h;
	const char *resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
			   "Content-Length: 3\r\n\r\n";

	gw_body_init(&b, GW_BODY_CHUNKED, 0);
	/* byte by byte: ends exactly before NEXT */
	for (i = 0; i < strlen(ch) && !b.done; i++) {
		k = gw_body_feed(&b, ch + i, 1);
		ck_assert_int_eq((int)k, 1);
		used++;
	}
	ck_assert(b.done);
	ck_assert_str_eq(ch + used, "NEXT");
	gw_body_init(&b, GW_BODY_CHUNKED, 0);
	ck_assert_int_eq((int)gw_body_feed(&b, ch, strlen(ch)), (int)(strlen(ch) - 4));
	gw_body_init(&b, GW_BODY_CHUNKED, 0);
	ck_assert_int_eq((int)gw_body_feed(&b, "zz\r\n", 4), -1);
	gw_body_init(&b, GW_BODY_LENGTH, 3);
	ck_assert_int_eq((int)gw_body_feed(&b, "abcdef", 6), 3);
	ck_assert(b.done);
	gw_body_init(&b, GW_BODY_LENGTH, 0);
	ck_assert(b.done);
	ck_assert_int_eq(gw_http_parse_response(resp, strlen(resp), &h), GW_HEAD_OK);
	ck_assert_int_eq(h.status, 200);
	ck_assert_int_eq(h.chunked, 1);
	ck_assert_int_eq((int)h.clen, -1);
	ck_assert_int_eq(gw_http_parse_response("HTTP/1.1 20", 11, &h), GW_HEAD_MORE);
	ck_assert_int_eq(gw_http_parse_response("HTTX/1.1 200 OK\r\n\r\n", 19, &h), GW_HEAD_BAD);
}
END_TEST

START_TEST(test_error_response)
{
	char buf[512];
	struct gw_head h;
	int n = gw_http_error(buf, sizeof(buf), 404, "no route");

	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(gw_http_parse_response(buf, (size_t)n, &h), GW_HEAD_OK);
	ck_assert_int_eq(h.status, 404);
	ck_assert_int_eq((int)h.clen, 9);
	ck_assert_int_eq((int)(n - (int)h.len), 9);
	ck_assert_int_eq(h.conn_close, 1);
}
END_TEST

/* A real ClientHello: what OpenSSL's client sends first. */
static size_t
client_hello(const char *sni, unsigned char *out, size_t max)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = SSL_new(ctx);
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	int n;

	SSL_set_bio(ssl, rb, wb);
	if (sni != NULL)
		SSL_set_tlsext_host_name(ssl, sni);
	SSL_connect(ssl);
	n = BIO_read(wb, out, (int)max);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return n > 0 ? (size_t)n : 0;
}

START_TEST(test_sni)
{
	unsigned char ch[8192], frag[8192];
	char name[256];
	size_t n, i, hl;

	n = client_hello("secure.example.com", ch, sizeof(ch));
	ck_assert_uint_gt(n, 50);
	ck_assert_int_eq(gw_sni_parse(ch, n, name, sizeof(name)), GW_SNI_OK);
	ck_assert_str_eq(name, "secure.example.com");
	for (i = 0; i < n; i += 7)
		ck_assert_int_eq(gw_sni_parse(ch, i, name, sizeof(name)), GW_SNI_MORE);
	/* the handshake split over two records */
	hl = n - 5;
	memcpy(frag, ch, 5);
	frag[3] = 0;
	frag[4] = 40;
	memcpy(frag + 5, ch + 5, 40);
	memcpy(frag + 45, ch, 5);
	frag[48] = (unsigned char)((hl - 40) >> 8);
	frag[49] = (unsigned char)((hl - 40) & 0xff);
	memcpy(frag + 50, ch + 45, hl - 40);
	ck_assert_int_eq(gw_sni_parse(frag, n + 5, name, sizeof(name)), GW_SNI_OK);
	ck_assert_str_eq(name, "secure.example.com");
	/* no SNI: OK with an empty name */
	n = client_hello(NULL, ch, sizeof(ch));
	ck_assert_int_eq(gw_sni_parse(ch, n, name, sizeof(name)), GW_SNI_OK);
	ck_assert_str_eq(name, "");
	ck_assert_int_eq(
	    gw_sni_parse((const unsigned char *)"GET / HTTP/1.1\r\n", 16, name, sizeof(name)),
	    GW_SNI_BAD);
	/* a lying extension length */
	n = client_hello("a.example.com", ch, sizeof(ch));
	for (i = 0; i + 13 < n; i++)
		if (memcmp(ch + i, "a.example.com", 13) == 0)
			break;
	ch[i - 1] = 0xff;
	ck_assert_int_eq(gw_sni_parse(ch, n, name, sizeof(name)), GW_SNI_BAD);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("gw");
	TCase *tc = tcase_create("gw");
	SRunner *sr;
	int nf;

	tcase_add_test(tc, test_route_table);
	tcase_add_test(tc, test_route_regex_full);
	tcase_add_test(tc, test_route_regex_bounds);
	tcase_add_test(tc, test_hosts);
	tcase_add_test(tc, test_head_parse);
	tcase_add_test(tc, test_head_bad);
	tcase_add_test(tc, test_body);
	tcase_add_test(tc, test_error_response);
	tcase_add_test(tc, test_sni);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	nf = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nf == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
