/*
 * The pure parts of the Kubernetes API source, free of the loop and of
 * libcurl so that tests/unit/check_kube.c can drive them directly:
 *
 *	kube_lines_feed()	a watch body -> one callback per line, whatever
 *				the transport's chunk boundaries; bounded lines
 *	kube_list_scan()	a list body -> one callback per item (each item
 *				parsed alone: no tree of the whole page)
 *	kube_known_diff()	after a relist: what vanished
 *	kube_bucket_take()	kubeAPIConfig.qps/burst as a token bucket
 *	kube_urlenc()		a query parameter value
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube_source.h"
#include "log.h"

/* ---- watch lines ---- */

void
kube_lines_init(struct kube_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max;
}

void
kube_lines_reset(struct kube_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
	l->skipping = 0;
}

int
kube_buf_append(char **buf, size_t *len, size_t *cap, size_t max, size_t first, const char *p,
		size_t n)
{
	size_t ncap;

	if (n > max - *len)
		return -1;
	if (*len + n + 1 > *cap) {
		ncap = *cap ? *cap : first;
		while (ncap < *len + n + 1)
			ncap *= 2;
		if (ncap > max + 1)
			ncap = max + 1;
		*buf = xreallocarray(*buf, 1, ncap);
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int
kube_lines_add(struct kube_lines *l, const char *p, size_t n)
{
	return kube_buf_append(&l->buf, &l->len, &l->cap, l->max, 4096, p, n);
}

int
kube_lines_feed(struct kube_lines *l, const char *p, size_t n, kube_line_cb cb, void *arg)
{
	const char *nl;
	size_t take;

	while (n > 0) {
		nl = memchr(p, '\n', n);
		take = nl != NULL ? (size_t)(nl - p) : n;
		if (!l->skipping && kube_lines_add(l, p, take) == -1) {
			/* over-long: say so once, then drop up to the next newline */
			l->skipping = 1;
			l->len = 0;
			if (cb(arg, NULL, 0) == -1)
				return -1;
		}
		if (nl == NULL)
			break;
		if (!l->skipping && cb(arg, l->buf != NULL ? l->buf : "", l->len) == -1) {
			l->len = 0;
			return -1;
		}
		l->len = 0;
		l->skipping = 0;
		p += take + 1;
		n -= take + 1;
	}
	return 0;
}

/* ---- list pages ---- */

static size_t
kube_ws(const char *b, size_t len, size_t i)
{
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
		i++;
	return i;
}

/* The end (one past) of the JSON value at b[i]; 0 if malformed. */
static size_t
kube_skip_value(const char *b, size_t len, size_t i)
{
	size_t depth = 0;
	int instr = 0;

	if (i >= len)
		return 0;
	if (b[i] != '{' && b[i] != '[' && b[i] != '"') {
		while (i < len && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' &&
		       b[i] != '\t' && b[i] != '\r' && b[i] != '\n')
			i++;
		return i;
	}
	for (; i < len; i++) {
		char c = b[i];

		if (instr) {
			if (c == '\\')
				i++;
			else if (c == '"') {
				instr = 0;
				if (depth == 0)
					return i + 1;
			}
		} else if (c == '"')
			instr = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				return 0;
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

int
kube_list_scan(const char *b, size_t len, json_t **meta, kube_item_cb cb, void *arg, char *err,
	       size_t errlen)
{
	json_t *top = json_object(), *key, *val;
	json_error_t jerr;
	size_t i, e, ks;
	int items = 0;

	*meta = NULL;
	i = kube_ws(b, len, 0);
	if (i >= len || b[i] != '{') {
		snprintf(err, errlen, "not a JSON object");
		goto fail;
	}
	i = kube_ws(b, len, i + 1);
	if (i < len && b[i] == '}')
		goto done;
	for (;;) {
		ks = i;
		if (i >= len || b[i] != '"' || (e = kube_skip_value(b, len, i)) == 0) {
			snprintf(err, errlen, "bad key at byte %zu", i);
			goto fail;
		}
		if ((key = json_loadb(b + ks, e - ks, JSON_DECODE_ANY, &jerr)) == NULL) {
			snprintf(err, errlen, "bad key at byte %zu: %s", ks, jerr.text);
			goto fail;
		}
		i = kube_ws(b, len, e);
		if (i >= len || b[i] != ':') {
			json_decref(key);
			snprintf(err, errlen, "expected ':' at byte %zu", i);
			goto fail;
		}
		i = kube_ws(b, len, i + 1);
		if (strcmp(json_string_value(key), "items") == 0 && i < len && b[i] == '[') {
			/* each item alone */
			items = 1;
			i = kube_ws(b, len, i + 1);
			if (i < len && b[i] == ']')
				i++;
			else
				for (;;) {
					if ((e = kube_skip_value(b, len, i)) == 0) {
						json_decref(key);
						snprintf(err, errlen, "bad item at byte %zu", i);
						goto fail;
					}
					cb(arg, b + i, e - i);
					i = kube_ws(b, len, e);
					if (i < len && b[i] == ',') {
						i = kube_ws(b, len, i + 1);
						continue;
					}
					if (i < len && b[i] == ']') {
						i++;
						break;
					}
					json_decref(key);
					snprintf(err, errlen, "expected ',' or ']' at byte %zu", i);
					goto fail;
				}
		} else {
			if ((e = kube_skip_value(b, len, i)) == 0 ||
			    (val = json_loadb(b + i, e - i, JSON_DECODE_ANY, &jerr)) == NULL) {
				json_decref(key);
				snprintf(err, errlen, "bad value at byte %zu", i);
				goto fail;
			}
			json_object_set_new(top, json_string_value(key), val);
			i = e;
		}
		json_decref(key);
		i = kube_ws(b, len, i);
		if (i < len && b[i] == ',') {
			i = kube_ws(b, len, i + 1);
			continue;
		}
		if (i < len && b[i] == '}')
			break;
		snprintf(err, errlen, "expected ',' or '}' at byte %zu", i);
		goto fail;
	}
done:
	if (kube_ws(b, len, i + 1) != len) {
		snprintf(err, errlen, "trailing bytes after the object");
		goto fail;
	}
	if (!items) {
		snprintf(err, errlen, "no items");
		goto fail;
	}
	*meta = top;
	return 0;
fail:
	json_decref(top);
	return -1;
}

/* ---- relist ---- */

size_t
kube_known_diff(const struct hmap *known, const struct hmap *seen, kube_key_cb del, void *arg)
{
	struct hmap_iter it;
	const char *key;
	void *v;
	size_t n = 0;

	hmap_iter_init(&it);
	while (hmap_next(known, &it, &key, &v))
		if (hmap_get(seen, key) == NULL) {
			del(arg, key);
			n++;
		}
	return n;
}

/* ---- qps/burst ---- */

void
kube_bucket_init(struct kube_bucket *b, double qps, double burst, double now)
{
	b->rate = qps > 0 ? qps : 1e9;
	b->burst = burst >= 1 ? burst : 1;
	b->tokens = b->burst;
	b->last = now;
}

double
kube_bucket_take(struct kube_bucket *b, double now)
{
	if (now > b->last) {
		b->tokens += (now - b->last) * b->rate;
		if (b->tokens > b->burst)
			b->tokens = b->burst;
		b->last = now;
	}
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return 0;
	}
	return (1 - b->tokens) / b->rate;
}

/* ---- URLs ---- */

void
kube_urlenc(char *out, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~')
			out[o++] = (char)c;
		else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}
