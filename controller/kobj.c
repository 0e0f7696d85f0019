/*
 * Kubernetes objects: kind detection, dispatch, and the strict field
 * accessors every kobj_*.c parser uses.  Accessors take the parent value,
 * the path of the parent ("spec.ports[1]") and the key, so that an error
 * names the exact field: "Service default/foo: spec.ports[1].port:
 * expected an integer 1-65535, got the string \"80\"".  JSON null counts
 * as absent, as in the Kubernetes API.
 */
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "kobj.h"

static const struct {
	const char *api;
	const char *kind;
	enum kobj_kind k;
} kobj_kinds[] = {
    {"v1", "Service", KOBJ_SERVICE},
    {"v1", "Endpoints", KOBJ_ENDPOINTS},
    {"v1", "Node", KOBJ_NODE},
    {"v1", "Secret", KOBJ_SECRET},
    {"discovery.k8s.io/v1", "EndpointSlice", KOBJ_ENDPOINTSLICE},
    {"discovery.k8s.io/v1beta1", "EndpointSlice", KOBJ_ENDPOINTSLICE},
    {"networking.istio.io/v1alpha3", "DestinationRule", KOBJ_DESTINATIONRULE},
    {"networking.istio.io/v1beta1", "DestinationRule", KOBJ_DESTINATIONRULE},
    {"networking.istio.io/v1", "DestinationRule", KOBJ_DESTINATIONRULE},
    {"networking.istio.io/v1alpha3", "Gateway", KOBJ_GATEWAY},
    {"networking.istio.io/v1beta1", "Gateway", KOBJ_GATEWAY},
    {"networking.istio.io/v1", "Gateway", KOBJ_GATEWAY},
    {"networking.istio.io/v1alpha3", "VirtualService", KOBJ_VIRTUALSERVICE},
    {"networking.istio.io/v1beta1", "VirtualService", KOBJ_VIRTUALSERVICE},
    {"networking.istio.io/v1", "VirtualService", KOBJ_VIRTUALSERVICE},
};

static const char *kobj_names[KOBJ_NKINDS] = {
    [KOBJ_SERVICE] = "Service",
    [KOBJ_ENDPOINTS] = "Endpoints",
    [KOBJ_ENDPOINTSLICE] = "EndpointSlice",
    [KOBJ_NODE] = "Node",
    [KOBJ_DESTINATIONRULE] = "DestinationRule",
    [KOBJ_GATEWAY] = "Gateway",
    [KOBJ_VIRTUALSERVICE] = "VirtualService",
    [KOBJ_SECRET] = "Secret",
};

int
kobj_kind_of(const json_t *obj)
{
	const char *api, *kind;
	size_t i;

	if (!json_is_object(obj))
		return -1;
	api = json_string_value(json_object_get(obj, "apiVersion"));
	kind = json_string_value(json_object_get(obj, "kind"));
	if (api == NULL || kind == NULL)
		return -1;
	for (i = 0; i < sizeof(kobj_kinds) / sizeof(kobj_kinds[0]); i++)
		if (strcmp(api, kobj_kinds[i].api) == 0 && strcmp(kind, kobj_kinds[i].kind) == 0)
			return (int)kobj_kinds[i].k;
	return -1;
}

const char *
kobj_kind_name(int kind)
{
	if (kind < 0 || kind >= KOBJ_NKINDS)
		return "?";
	return kobj_names[kind];
}

void
kobj_ctx_init(struct kobj_ctx *c, const char *kind, struct kobj_diag *diag)
{
	c->kind = kind;
	snprintf(c->id, sizeof(c->id), "<unnamed>");
	c->diag = diag;
	if (diag != NULL) {
		diag->err[0] = '\0';
		diag->warn[0] = '\0';
	}
}

/* snprintf for messages that may be cut short on purpose. */
static void __attribute__((format(printf, 3, 4)))
kobj_fmt(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

void
kobj_err(struct kobj_ctx *c, const char *path, const char *fmt, ...)
{
	char msg[KOBJ_MSGLEN];
	va_list ap;

	if (c->diag == NULL || c->diag->err[0] != '\0')
		return; /* keep the first error */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path != NULL && *path != '\0')
		kobj_fmt(c->diag->err, sizeof(c->diag->err), "%s %s: %s: %s", c->kind, c->id, path,
			 msg);
	else
		kobj_fmt(c->diag->err, sizeof(c->diag->err), "%s %s: %s", c->kind, c->id, msg);
}

void
kobj_warn(struct kobj_ctx *c, const char *path, const char *fmt, ...)
{
	char msg[KOBJ_MSGLEN], one[KOBJ_MSGLEN];
	size_t n;
	va_list ap;

	if (c->diag == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path != NULL && *path != '\0')
		kobj_fmt(one, sizeof(one), "%s: %s", path, msg);
	else
		kobj_fmt(one, sizeof(one), "%s", msg);
	n = strlen(c->diag->warn);
	if (n == 0)
		kobj_fmt(c->diag->warn, sizeof(c->diag->warn), "%s %s: %s", c->kind, c->id, one);
	else if (n + 2 < sizeof(c->diag->warn))
		kobj_fmt(c->diag->warn + n, sizeof(c->diag->warn) - n, "; %s", one);
}

/* Append s at buf[n] (len > 0), cut to fit with its NUL; the new length. */
static size_t
path_cat(char *buf, size_t len, size_t n, const char *s)
{
	size_t k = strlen(s);

	if (n >= len - 1) {
		buf[len - 1] = '\0';
		return len - 1;
	}
	if (k > len - 1 - n)
		k = len - 1 - n;
	memcpy(buf + n, s, k);
	buf[n + k] = '\0';
	return n + k;
}

void
kobj_path(char *buf, size_t len, const char *base, const char *key)
{
	/* as snprintf "%s.%s" (cut at len), without printf: built for every field read */
	size_t n = 0;

	if (len == 0)
		return;
	if (base != NULL && *base != '\0') {
		n = path_cat(buf, len, 0, base);
		n = path_cat(buf, len, n, ".");
	}
	path_cat(buf, len, n, key);
}

void
kobj_path_idx(char *buf, size_t len, const char *base, size_t idx)
{
	char num[24], *p = num + sizeof(num) - 1;
	size_t n;

	if (len == 0)
		return;
	*p = '\0';
	*--p = ']';
	do
		*--p = (char)('0' + idx % 10);
	while ((idx /= 10) > 0);
	*--p = '[';
	n = path_cat(buf, len, 0, base);
	path_cat(buf, len, n, p);
}

/* A user string made safe and short for a message. */
const char *
kobj_quote(const char *s, char *buf, size_t len)
{
	size_t i, n = 0;

	if (len == 0)
		return "";
	for (i = 0; s[i] != '\0' && n + 1 < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (n + 4 >= len || i >= 64) {
			snprintf(buf + n, len - n, "...");
			return buf;
		}
		buf[n++] = (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') ? '?' : (char)ch;
	}
	buf[n] = '\0';
	return buf;
}

static const char *
kobj_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "a mapping";
	case JSON_ARRAY:
		return "a list";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
	default:
		return "null";
	}
}

/* "a string \"80\"", "the integer 70000": what we got, for a message. */
static const char *
kobj_got(const json_t *v, char *buf, size_t len)
{
	char q[96];

	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(buf, len, "the string \"%s\"",
			 kobj_quote(json_string_value(v), q, sizeof(q)));
		break;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
		snprintf(buf, len, "true");
		break;
	case JSON_FALSE:
		snprintf(buf, len, "false");
		break;
	default:
		snprintf(buf, len, "%s", kobj_type_name(v));
		break;
	}
	return buf;
}

const json_t *
kobj_get(const json_t *obj, const char *key)
{
	const json_t *v;

	if (!json_is_object(obj))
		return NULL;
	v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v))
		return NULL;
	return v;
}

static int
kobj_missing(struct kobj_ctx *c, const char *path, int flags)
{
	if (flags & KOBJ_REQ) {
		kobj_err(c, path, "missing");
		return -1;
	}
	return 0;
}

int
kobj_obj(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	 const json_t **out)
{
	char path[256], got[160];
	const json_t *v;

	kobj_path(path, sizeof(path), base, key);
	*out = NULL;
	if ((v = kobj_get(o, key)) == NULL)
		return kobj_missing(c, path, flags);
	if (!json_is_object(v)) {
		kobj_err(c, path, "expected a mapping, got %s", kobj_got(v, got, sizeof(got)));
		return -1;
	}
	*out = v;
	return 0;
}

int
kobj_arr(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	 size_t max, const json_t **out)
{
	char path[256], got[160];
	const json_t *v;

	kobj_path(path, sizeof(path), base, key);
	*out = NULL;
	if ((v = kobj_get(o, key)) == NULL)
		return kobj_missing(c, path, flags);
	if (!json_is_array(v)) {
		kobj_err(c, path, "expected a list, got %s", kobj_got(v, got, sizeof(got)));
		return -1;
	}
	if (json_array_size(v) > max) {
		kobj_err(c, path, "more than %zu entries", max);
		return -1;
	}
	if ((flags & KOBJ_REQ) && json_array_size(v) == 0) {
		kobj_err(c, path, "must not be empty");
		return -1;
	}
	*out = v;
	return 0;
}

static int
kobj_str_value(struct kobj_ctx *c, const char *path, const json_t *v, int flags, size_t maxlen,
	       const char **out)
{
	char got[160];

	if (!json_is_string(v)) {
		kobj_err(c, path, "expected a string, got %s", kobj_got(v, got, sizeof(got)));
		return -1;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		kobj_err(c, path, "contains a NUL character");
		return -1;
	}
	if (json_string_length(v) > maxlen) {
		kobj_err(c, path, "longer than %zu characters", maxlen);
		return -1;
	}
	if ((flags & KOBJ_NONEMPTY) && json_string_length(v) == 0) {
		kobj_err(c, path, "must not be empty");
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

int
kobj_str(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	 size_t maxlen, const char **out)
{
	char path[256];
	const json_t *v;

	kobj_path(path, sizeof(path), base, key);
	*out = "";
	if ((v = kobj_get(o, key)) == NULL)
		return kobj_missing(c, path, flags);
	return kobj_str_value(c, path, v, flags, maxlen, out);
}

int
kobj_int(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	 json_int_t min, json_int_t max, json_int_t *out)
{
	char path[256], got[160];
	const json_t *v;

	kobj_path(path, sizeof(path), base, key);
	if ((v = kobj_get(o, key)) == NULL)
		return kobj_missing(c, path, flags);
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		kobj_err(c, path,
			 "expected an integer %" JSON_INTEGER_FORMAT "-%" JSON_INTEGER_FORMAT
			 ", got %s",
			 min, max, kobj_got(v, got, sizeof(got)));
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

int
kobj_port(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	  uint16_t *out)
{
	json_int_t v = 0;

	if (kobj_int(c, o, base, key, flags, 1, 65535, &v) == -1)
		return -1;
	if (v != 0)
		*out = (uint16_t)v; /* absent: left as it was */
	return 0;
}

int
kobj_bool(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	  bool *out)
{
	char path[256], got[160];
	const json_t *v;

	kobj_path(path, sizeof(path), base, key);
	if ((v = kobj_get(o, key)) == NULL)
		return kobj_missing(c, path, flags);
	if (!json_is_boolean(v)) {
		kobj_err(c, path, "expected true or false, got %s", kobj_got(v, got, sizeof(got)));
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

void
kobj_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

char **
kobj_strv_copy(char *const *v, size_t n)
{
	char **c;
	size_t i;

	c = xcalloc(n, sizeof(*c));
	for (i = 0; i < n; i++)
		c[i] = xstrdup(v[i]);
	return c;
}

/* A list of strings; KOBJ_REQ: present and not empty; flags apply to items. */
int
kobj_str_list(struct kobj_ctx *c, const json_t *o, const char *base, const char *key, int flags,
	      size_t max, char ***out, size_t *n)
{
	char path[256], ipath[280];
	const json_t *a, *v;
	const char *s;
	size_t i;

	*out = NULL;
	*n = 0;
	if (kobj_arr(c, o, base, key, flags, max, &a) == -1)
		return -1;
	if (a == NULL)
		return 0;
	kobj_path(path, sizeof(path), base, key);
	for (i = 0; i < json_array_size(a); i++) {
		v = json_array_get(a, i);
		kobj_path_idx(ipath, sizeof(ipath), path, i);
		if (kobj_str_value(c, ipath, v, flags, 253, &s) == -1) {
			kobj_strv_free(*out, *n);
			*out = NULL;
			*n = 0;
			return -1;
		}
		*out = xreallocarray(*out, *n + 1, sizeof(**out));
		(*out)[(*n)++] = xstrdup(s);
	}
	if (*out == NULL)
		*out = xcalloc(1, sizeof(**out));
	return 0;
}

static bool
kobj_label_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 63)
		return false;
	for (i = 0; i < len; i++) {
		if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9'))
			continue;
		if (s[i] == '-' && i != 0 && i != len - 1)
			continue;
		return false;
	}
	return true;
}

bool
kobj_is_dns_label(const char *s, size_t max)
{
	size_t len = strlen(s);

	return len <= max && kobj_label_ok(s, len);
}

bool
kobj_is_dns_subdomain(const char *s)
{
	const char *p, *dot;
	size_t len = strlen(s);

	if (len == 0 || len > 253)
		return false;
	for (p = s;; p = dot + 1) {
		dot = strchr(p, '.');
		if (!kobj_label_ok(p, dot != NULL ? (size_t)(dot - p) : strlen(p)))
			return false;
		if (dot == NULL)
			return true;
	}
}

bool
kobj_is_ip(const char *s, int *family)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, s, buf) == 1) {
		if (family != NULL)
			*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, buf) == 1) {
		if (family != NULL)
			*family = AF_INET6;
		return true;
	}
	return false;
}

int
kobj_meta(struct kobj_ctx *c, const json_t *obj, bool namespaced, char **ns, char **name)
{
	const json_t *meta;
	const char *n, *s;
	char q[96];

	*ns = NULL;
	*name = NULL;
	if (kobj_obj(c, obj, "", "metadata", KOBJ_REQ, &meta) == -1)
		return -1;
	if (kobj_str(c, meta, "metadata", "name", KOBJ_REQ | KOBJ_NONEMPTY, 253, &n) == -1)
		return -1;
	if (!kobj_is_dns_subdomain(n)) {
		kobj_err(c, "metadata.name",
			 "\"%s\" is not a valid name (lowercase letters, "
			 "digits, '-' and '.', at most 253)",
			 kobj_quote(n, q, sizeof(q)));
		return -1;
	}
	if (!namespaced) {
		snprintf(c->id, sizeof(c->id), "%s", n);
		*ns = xstrdup("");
		*name = xstrdup(n);
		return 0;
	}
	snprintf(c->id, sizeof(c->id), "?/%s", n);
	if (kobj_str(c, meta, "metadata", "namespace", 0, 63, &s) == -1)
		return -1;
	if (*s == '\0')
		s = "default";
	if (!kobj_is_dns_label(s, 63)) {
		kobj_err(c, "metadata.namespace",
			 "\"%s\" is not a valid namespace (lowercase "
			 "letters, digits and '-', at most 63)",
			 kobj_quote(s, q, sizeof(q)));
		return -1;
	}
	snprintf(c->id, sizeof(c->id), "%s/%s", s, n);
	*ns = xstrdup(s);
	*name = xstrdup(n);
	return 0;
}

/* metadata.labels[key]: *val NULL when absent. */
int
kobj_label(struct kobj_ctx *c, const json_t *obj, const char *key, const char **val)
{
	const json_t *labels, *v;
	char path[300], got[160];

	*val = NULL;
	if (kobj_obj(c, kobj_get(obj, "metadata"), "metadata", "labels", 0, &labels) == -1)
		return -1;
	if (labels == NULL || (v = json_object_get(labels, key)) == NULL)
		return 0;
	snprintf(path, sizeof(path), "metadata.labels[\"%s\"]", key);
	if (!json_is_string(v) && !json_is_null(v)) {
		kobj_err(c, path, "expected a string, got %s", kobj_got(v, got, sizeof(got)));
		return -1;
	}
	*val = json_is_string(v) ? json_string_value(v) : "";
	return 0;
}

/* base.protocol: TCP (default), UDP, SCTP. */
int
kobj_proto(struct kobj_ctx *c, const json_t *o, const char *base, uint8_t *out)
{
	char path[256], q[96];
	const char *s;
	int p;

	kobj_path(path, sizeof(path), base, "protocol");
	if (kobj_str(c, o, base, "protocol", 0, 16, &s) == -1)
		return -1;
	if (*s == '\0') {
		*out = EM_PROTO_TCP;
		return 0;
	}
	if ((p = em_proto_parse(s)) == -1) {
		kobj_err(c, path, "expected TCP, UDP or SCTP, got \"%s\"",
			 kobj_quote(s, q, sizeof(q)));
		return -1;
	}
	*out = (uint8_t)p;
	return 0;
}

static void
kobj_flatten(struct em_endpoints **e)
{
	struct em_endpoints *f = em_endpoints_flat(*e);

	em_endpoints_free(*e);
	*e = f;
}

int
kobj_parse(const json_t *obj, struct kobj **out, struct kobj_diag *diag)
{
	struct kobj_ctx c;
	struct kobj *o;
	char q1[96], q2[96];
	const char *api, *kind;
	int k, r = -1;

	*out = NULL;
	kobj_ctx_init(&c, "object", diag);
	if (!json_is_object(obj)) {
		kobj_err(&c, NULL,
			 "not a Kubernetes object: expected a mapping with apiVersion "
			 "and kind, got %s",
			 kobj_type_name(obj));
		return -1;
	}
	api = json_string_value(json_object_get(obj, "apiVersion"));
	kind = json_string_value(json_object_get(obj, "kind"));
	if (api == NULL || kind == NULL || *api == '\0' || *kind == '\0') {
		kobj_err(&c, NULL,
			 "not a Kubernetes object: apiVersion and kind must be "
			 "non-empty strings");
		return -1;
	}
	if ((k = kobj_kind_of(obj)) == -1) {
		log_debug("skipping %s %s", kobj_quote(api, q1, sizeof(q1)),
			  kobj_quote(kind, q2, sizeof(q2)));
		return 0;
	}
	o = xcalloc(1, sizeof(*o));
	o->kind = (enum kobj_kind)k;
	switch (o->kind) {
	case KOBJ_SERVICE:
		if ((r = kobj_service_parse(obj, &o->u.svc, diag)) == 0) {
			o->ns = xstrdup(o->u.svc->ns);
			o->name = xstrdup(o->u.svc->name);
		}
		break;
	case KOBJ_ENDPOINTS:
		if ((r = kobj_endpoints_parse(obj, &o->u.eps, diag)) == 0) {
			o->ns = xstrdup(o->u.eps->ns);
			o->name = xstrdup(o->u.eps->name);
		}
		break;
	case KOBJ_ENDPOINTSLICE:
		if ((r = kobj_slice_parse(obj, &o->u.slice, diag)) == 0) {
			o->ns = xstrdup(o->u.slice->ns);
			o->name = xstrdup(o->u.slice->name);
		}
		break;
	case KOBJ_NODE:
		if ((r = kobj_node_parse(obj, &o->u.peer, diag)) == 0) {
			o->ns = xstrdup("");
			o->name = xstrdup(o->u.peer->name);
		}
		break;
	case KOBJ_DESTINATIONRULE:
		if ((r = kobj_dr_parse(obj, &o->u.dr, diag)) == 0) {
			o->ns = xstrdup(o->u.dr->ns);
			o->name = xstrdup(o->u.dr->name);
		}
		break;
	case KOBJ_GATEWAY:
		if ((r = kobj_gateway_parse(obj, &o->u.gw, diag)) == 0) {
			o->ns = xstrdup(o->u.gw->ns);
			o->name = xstrdup(o->u.gw->name);
		}
		break;
	case KOBJ_VIRTUALSERVICE:
		if ((r = kobj_vs_parse(obj, &o->u.vs, diag)) == 0) {
			o->ns = xstrdup(o->u.vs->ns);
			o->name = xstrdup(o->u.vs->name);
		}
		break;
	case KOBJ_SECRET:
		if ((r = kobj_secret_parse(obj, &o->u.secret, diag)) == 0) {
			o->ns = xstrdup(o->u.secret->ns);
			o->name = xstrdup(o->u.secret->name);
		}
		break;
	default:
		break;
	}
	if (r == -1) {
		free(o);
		return -1;
	}
	/* the many, kept long: services and endpoints in one block each */
	if (o->kind == KOBJ_SERVICE) {
		struct em_service *f = em_service_flat(o->u.svc);

		em_service_free(o->u.svc);
		o->u.svc = f;
	} else if (o->kind == KOBJ_ENDPOINTS)
		kobj_flatten(&o->u.eps);
	else if (o->kind == KOBJ_ENDPOINTSLICE && o->u.slice->eps != NULL)
		kobj_flatten(&o->u.slice->eps);
	*out = o;
	return 0;
}

void
kobj_free(struct kobj *o)
{
	if (o == NULL)
		return;
	switch (o->kind) {
	case KOBJ_SERVICE:
		em_service_free(o->u.svc);
		break;
	case KOBJ_ENDPOINTS:
		em_endpoints_free(o->u.eps);
		break;
	case KOBJ_ENDPOINTSLICE:
		kobj_slice_free(o->u.slice);
		break;
	case KOBJ_NODE:
		em_peer_free(o->u.peer);
		break;
	case KOBJ_DESTINATIONRULE:
		kobj_dr_free(o->u.dr);
		break;
	case KOBJ_GATEWAY:
		kobj_gateway_free(o->u.gw);
		break;
	case KOBJ_VIRTUALSERVICE:
		kobj_vs_free(o->u.vs);
		break;
	case KOBJ_SECRET:
		kobj_secret_free(o->u.secret);
		break;
	default:
		break;
	}
	free(o->ns);
	free(o->name);
	free(o);
}
