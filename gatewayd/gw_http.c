/*
 * HTTP/1.1 message heads (RFC 9112): bounded, strict (CRLF line ends, no
 * obs-fold, token header names), and the body framing that tells where a
 * message ends so the next request on a keep-alive connection can be
 * routed on its own.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gatewayd.h"

static int
is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static const char *
find_crlf2(const char *p, size_t n)
{
	size_t i;

	for (i = 3; i < n; i++)
		if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r')
			return p + i + 1;
	return NULL;
}

/* Does a comma list value contain token tok (case-insensitive)? */
static int
list_has(const char *v, size_t n, const char *tok)
{
	size_t tl = strlen(tok), i = 0, s, e;

	while (i < n) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s == tl && strncasecmp(v + s, tok, tl) == 0)
			return 1;
	}
	return 0;
}

/* The header lines after the start line; fills framing fields. */
static int
parse_fields(const char *p, const char *end, struct gw_head *h)
{
	const char *eol, *colon, *v, *ve;
	size_t nl, nh = 0;
	char *num_end;
	long long cl;
	char tmp[32];

	while (p < end) {
		eol = memchr(p, '\r', (size_t)(end - p));
		if (eol == NULL || eol + 1 >= end || eol[1] != '\n')
			return GW_HEAD_BAD;
		if (eol == p)
			return p + 2 == end ? GW_HEAD_OK : GW_HEAD_BAD;
		if (++nh > GW_MAX_HDRS)
			return GW_HEAD_TOOBIG;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (colon == NULL || colon == p)
			return GW_HEAD_BAD;
		for (v = p; v < colon; v++)
			if (!is_tchar((unsigned char)*v))
				return GW_HEAD_BAD; /* also obs-fold and "name :" */
		for (v = colon + 1; v < eol; v++)
			if (*v == '\n' || *v == '\0')
				return GW_HEAD_BAD;
		v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		ve = eol;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		nl = (size_t)(colon - p);
#define IS(name) (nl == sizeof(name) - 1 && strncasecmp(p, name, nl) == 0)
		if (IS("host")) {
			if (h->host != NULL)
				return GW_HEAD_BAD; /* two Host fields */
			h->host = v;
			h->host_len = (size_t)(ve - v);
		} else if (IS("content-length")) {
			if ((size_t)(ve - v) == 0 || (size_t)(ve - v) >= sizeof(tmp))
				return GW_HEAD_BAD;
			memcpy(tmp, v, (size_t)(ve - v));
			tmp[ve - v] = '\0';
			if (!isdigit((unsigned char)tmp[0]))
				return GW_HEAD_BAD;
			cl = strtoll(tmp, &num_end, 10);
			if (*num_end != '\0' || cl < 0 || (h->clen != -1 && h->clen != cl))
				return GW_HEAD_BAD;
			h->clen = cl;
		} else if (IS("transfer-encoding")) {
			/* only a plain "chunked" is understood; anything else: 501 */
			if ((size_t)(ve - v) == 7 && strncasecmp(v, "chunked", 7) == 0)
				h->chunked = 1;
			else
				return GW_HEAD_UNSUPP;
		} else if (IS("connection")) {
			if (list_has(v, (size_t)(ve - v), "close"))
				h->conn_close = 1;
			if (list_has(v, (size_t)(ve - v), "keep-alive"))
				h->conn_keepalive = 1;
			if (list_has(v, (size_t)(ve - v), "upgrade"))
				h->upgrade = 1;
		} else if (IS("x-forwarded-for")) {
			if (h->xff == NULL) {
				h->xff = v;
				h->xff_len = (size_t)(ve - v);
			}
		}
#undef IS
		p = eol + 2;
	}
	return GW_HEAD_BAD;
}

static void
head_init(struct gw_head *h)
{
	memset(h, 0, sizeof(*h));
	h->clen = -1;
}

int
gw_http_parse_request(const char *buf, size_t n, struct gw_head *h)
{
	const char *end, *p, *sp1, *sp2, *eol;
	size_t ml, i;
	int r;

	head_init(h);
	if ((end = find_crlf2(buf, n > GW_HEAD_MAX ? GW_HEAD_MAX : n)) == NULL) {
		if (n >= GW_HEAD_MAX)
			return GW_HEAD_TOOBIG;
		/* fail early on what can never become a request line */
		for (i = 0; i < n && buf[i] != ' '; i++)
			if (!is_tchar((unsigned char)buf[i]))
				return GW_HEAD_BAD;
		return GW_HEAD_MORE;
	}
	h->len = (size_t)(end - buf);
	eol = memchr(buf, '\r', (size_t)(end - buf));
	sp1 = memchr(buf, ' ', (size_t)(eol - buf));
	if (sp1 == NULL || sp1 == buf)
		return GW_HEAD_BAD;
	ml = (size_t)(sp1 - buf);
	if (ml >= sizeof(h->method))
		return GW_HEAD_BAD;
	for (p = buf; p < sp1; p++)
		if (!is_tchar((unsigned char)*p))
			return GW_HEAD_BAD;
	memcpy(h->method, buf, ml);
	h->method[ml] = '\0';
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return GW_HEAD_BAD;
	for (p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return GW_HEAD_BAD;
	h->target = sp1 + 1;
	h->target_len = (size_t)(sp2 - sp1 - 1);
	if (eol - sp2 - 1 != 8 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return GW_HEAD_BAD;
	if (sp2[8] == '0')
		h->minor = 0;
	else if (sp2[8] == '1')
		h->minor = 1;
	else
		return GW_HEAD_BAD;
	if ((r = parse_fields(eol + 2, end, h)) != GW_HEAD_OK)
		return r;
	if (h->chunked && h->clen != -1)
		return GW_HEAD_BAD; /* smuggling guard (RFC 9112 6.1) */
	if (h->minor == 1 && h->host == NULL)
		return GW_HEAD_BAD; /* RFC 9112 3.2 */
	return GW_HEAD_OK;
}

int
gw_http_parse_response(const char *buf, size_t n, struct gw_head *h)
{
	const char *end, *eol;
	int r;

	head_init(h);
	if ((end = find_crlf2(buf, n > GW_HEAD_MAX ? GW_HEAD_MAX : n)) == NULL)
		return n >= GW_HEAD_MAX ? GW_HEAD_TOOBIG : GW_HEAD_MORE;
	h->len = (size_t)(end - buf);
	eol = memchr(buf, '\r', h->len);
	if (eol - buf < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
	    !isdigit((unsigned char)buf[9]) || !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]) || (eol - buf > 12 && buf[12] != ' '))
		return GW_HEAD_BAD;
	h->minor = buf[7] == '0' ? 0 : 1;
	h->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if ((r = parse_fields(eol + 2, end, h)) != GW_HEAD_OK)
		return r;
	if (h->chunked)
		h->clen = -1; /* RFC 9112 6.3: chunked wins */
	return GW_HEAD_OK;
}

enum {
	CH_SIZE,
	CH_EXT,
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TR_START,
	CH_TR_LINE,
	CH_TR_LF,
	CH_FINAL_LF
};

void
gw_body_init(struct gw_body *b, int mode, uint64_t len)
{
	memset(b, 0, sizeof(*b));
	b->mode = mode;
	b->left = len;
	b->st = CH_SIZE;
	b->done = mode == GW_BODY_NONE || (mode == GW_BODY_LENGTH && len == 0);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t
gw_body_feed(struct gw_body *b, const char *p, size_t n)
{
	size_t i = 0, k;
	int c, hv;

	if (b->done)
		return 0;
	switch (b->mode) {
	case GW_BODY_EOF:
		return (ssize_t)n;
	case GW_BODY_LENGTH:
		k = n < b->left ? n : (size_t)b->left;
		b->left -= k;
		b->done = b->left == 0;
		return (ssize_t)k;
	case GW_BODY_CHUNKED:
		break;
	default:
		return 0;
	}
	while (i < n && !b->done) {
		if (b->st == CH_DATA) {
			k = n - i < b->left ? n - i : (size_t)b->left;
			i += k;
			b->left -= k;
			if (b->left == 0)
				b->st = CH_DATA_CR;
			continue;
		}
		c = (unsigned char)p[i++];
		switch (b->st) {
		case CH_SIZE:
			if ((hv = hexval(c)) != -1) {
				if (b->csize >> 56)
					return -1;
				b->csize = b->csize * 16 + (uint64_t)hv;
				b->left++; /* digits seen */
			} else if (b->left == 0)
				return -1;
			else if (c == ';' || c == ' ' || c == '\t')
				b->st = CH_EXT;
			else if (c == '\r')
				b->st = CH_SIZE_LF;
			else
				return -1;
			break;
		case CH_EXT:
			if (c == '\r')
				b->st = CH_SIZE_LF;
			else if (c == '\n')
				return -1;
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				return -1;
			b->left = b->csize;
			b->csize = 0;
			b->st = b->left == 0 ? CH_TR_START : CH_DATA;
			break;
		case CH_DATA_CR:
			if (c != '\r')
				return -1;
			b->st = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (c != '\n')
				return -1;
			b->st = CH_SIZE;
			b->left = 0;
			break;
		case CH_TR_START:
			b->st = c == '\r' ? CH_FINAL_LF : CH_TR_LINE;
			break;
		case CH_TR_LINE:
			if (c == '\r')
				b->st = CH_TR_LF;
			break;
		case CH_TR_LF:
			if (c != '\n')
				return -1;
			b->st = CH_TR_START;
			break;
		case CH_FINAL_LF:
			if (c != '\n')
				return -1;
			b->done = 1;
			break;
		default:
			return -1;
		}
	}
	return (ssize_t)i;
}

const char *
gw_http_reason(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 421:
		return "Misdirected Request";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Error";
	}
}

int
gw_http_error(char *buf, size_t len, int status, const char *msg)
{
	int n;

	n = snprintf(buf, len,
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\nServer: edgemesh-gatewayd\r\n\r\n%s\n",
		     status, gw_http_reason(status), strlen(msg) + 1, msg);
	return n < 0 || (size_t)n >= len ? -1 : n;
}

/* Copy the head, merging our client into X-Forwarded-For and adding -Proto. */
size_t
gw_http_rewrite(const char *head, const struct gw_head *h, const char *client_ip, int tls,
		char *out, size_t outlen)
{
	const char *p = head, *end = head + h->len - 2, *eol;
	size_t o = 0, l;
	int n;

#define PUT(s, len)                                                                                \
	do {                                                                                       \
		if (o + (len) > outlen)                                                            \
			return 0;                                                                  \
		memcpy(out + o, (s), (len));                                                       \
		o += (len);                                                                        \
	} while (0)
	while (p < end) {
		eol = memchr(p, '\n', (size_t)(end - p));
		l = (size_t)(eol - p) + 1;
		if ((l > 16 && strncasecmp(p, "x-forwarded-for:", 16) == 0) ||
		    (l > 18 && strncasecmp(p, "x-forwarded-proto:", 18) == 0)) {
			p = eol + 1;
			continue; /* replaced below */
		}
		PUT(p, l);
		p = eol + 1;
	}
	if (h->xff != NULL) {
		PUT("X-Forwarded-For: ", 17);
		PUT(h->xff, h->xff_len);
		PUT(", ", 2);
	} else
		PUT("X-Forwarded-For: ", 17);
	PUT(client_ip, strlen(client_ip));
	n = snprintf(out + o, outlen - o, "\r\nX-Forwarded-Proto: %s\r\n\r\n",
		     tls ? "https" : "http");
	if (n < 0 || (size_t)n >= outlen - o)
		return 0;
	return o + (size_t)n;
#undef PUT
}
