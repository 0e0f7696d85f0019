/*
 * YAML manifests -> jansson values, typed as sigs.k8s.io/yaml types them.
 *
 * kubectl turns YAML into JSON with sigs.k8s.io/yaml, which decodes with
 * yaml.v2 (YAML 1.1 resolution) and re-encodes with encoding/json.  We do
 * the same on libyaml's event stream, so that a manifest means the same
 * here as it does to kubectl:
 *  - quoted and block scalars are strings; plain scalars resolve to
 *    null ("", ~, null), bool (true/false/yes/no/on/off/y/n in their
 *    three spellings), int (decimal, 0x, 0o, 0b, 0755 octal, underscores
 *    ignored), float, else string (timestamps stay strings);
 *  - a float with an integral value becomes a JSON integer, as
 *    encoding/json prints it without a fraction; NaN and Inf are errors;
 *  - mapping keys are converted to strings (yes: -> "true", 0x10: -> "16");
 *    null and complex keys are errors;
 *  - anchors, aliases and the merge key "<<" work; duplicate keys are
 *    errors (as kubectl's strict field validation makes them).
 * Bounded: file size, nesting depth, node count with aliases expanded.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "kobj.h"
#include "yaml_scalar.h"

#define YAML_TAG_PREFIX "tag:yaml.org,2002:"

struct yj_frame {
	json_t *node; /* object or array being built */
	char *anchor; /* registered when the node is complete */
	char *key;    /* pending mapping key */
	size_t keylen;
	bool have_key;
	bool merge;	      /* the pending key is the merge key */
	yaml_mark_t key_mark; /* where the pending key is */
	json_t *merges;	      /* mappings to merge when the node ends */
	size_t nodes;	      /* nodes below, aliases expanded */
};

struct yj_anchor {
	char *name;
	json_t *node;
	size_t nodes;
};

struct yj {
	const char *name;
	size_t line_base; /* lines before buf in its file */
	char *err;
	size_t errlen;
	struct yj_frame stack[YAML_JSON_MAX_DEPTH];
	size_t depth;
	struct yj_anchor *anchors;
	size_t nanchors;
	size_t total;
	int doc_line;
	json_t *root;
	struct yaml_doc *docs;
	size_t ndocs;
};

enum yj_type { YJ_STR, YJ_NULL, YJ_BOOL, YJ_INT, YJ_FLOAT };

struct yj_val {
	enum yj_type t;
	bool b;
	json_int_t i;
	double d;
};

static int yj_run(const char *, size_t, const char *, size_t, struct yaml_doc **, size_t *, char *,
		  size_t);
static int yj_error(struct yj *, const yaml_mark_t *, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static int
yj_error(struct yj *y, const yaml_mark_t *m, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m != NULL)
		snprintf(y->err, y->errlen, "%s:%zu:%zu: %s", y->name, y->line_base + m->line + 1,
			 m->column + 1, msg);
	else
		snprintf(y->err, y->errlen, "%s: %s", y->name, msg);
	return -1;
}

static int
yj_parser_error(struct yj *y, const yaml_parser_t *p)
{
	const char *problem = p->problem != NULL ? p->problem : "unknown error";

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		return yj_error(y, NULL, "out of memory");
	case YAML_READER_ERROR:
		if (p->problem_value != -1)
			return yj_error(y, NULL, "%s: #%X at byte %zu", problem,
					(unsigned int)p->problem_value, p->problem_offset);
		return yj_error(y, NULL, "%s at byte %zu", problem, p->problem_offset);
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		if (p->context != NULL)
			return yj_error(y, &p->problem_mark, "%s (%s at line %zu)", problem,
					p->context, y->line_base + p->context_mark.line + 1);
		return yj_error(y, &p->problem_mark, "%s", problem);
	default:
		return yj_error(y, &p->problem_mark, "%s", problem);
	}
}

/* strconv.ParseUint(s, 0, 64) without the sign: 0 ok, -1 syntax, -2 range. */
static int
yj_parse_uint(const char *s, uint64_t *out)
{
	uint64_t n = 0;
	unsigned int base = 10, d;

	if (*s == '\0')
		return -1;
	if (s[0] == '0') {
		if (strlen(s) >= 3 && (s[1] == 'b' || s[1] == 'B')) {
			base = 2;
			s += 2;
		} else if (strlen(s) >= 3 && (s[1] == 'o' || s[1] == 'O')) {
			base = 8;
			s += 2;
		} else if (strlen(s) >= 3 && (s[1] == 'x' || s[1] == 'X')) {
			base = 16;
			s += 2;
		} else {
			base = 8;
			s += 1;
		}
	}
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (*s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (*s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return -1;
		if (d >= base)
			return -1;
		if (n > (UINT64_MAX - d) / base)
			return -2;
		n = n * base + d;
	}
	*out = n;
	return 0;
}

/* strconv.ParseInt(s, 0, 64). */
static int
yj_parse_int(const char *s, int64_t *out)
{
	uint64_t u;
	bool neg = false;
	int r;

	if (*s == '+' || *s == '-') {
		neg = *s == '-';
		s++;
	}
	if ((r = yj_parse_uint(s, &u)) != 0)
		return r;
	if (!neg && u > (uint64_t)INT64_MAX)
		return -2;
	if (neg && u > (uint64_t)INT64_MAX + 1)
		return -2;
	*out = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

/* ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool
yj_float_syntax(const char *s)
{
	size_t n;

	if (*s == '+' || *s == '-')
		s++;
	if (*s == '.') {
		s++;
		for (n = 0; *s >= '0' && *s <= '9'; s++)
			n++;
		if (n == 0)
			return false;
	} else {
		for (n = 0; *s >= '0' && *s <= '9'; s++)
			n++;
		if (n == 0)
			return false;
		if (*s == '.')
			for (s++; *s >= '0' && *s <= '9'; s++)
				;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		for (n = 0; *s >= '0' && *s <= '9'; s++)
			n++;
		if (n == 0)
			return false;
	}
	return *s == '\0';
}

static bool
yj_parse_float(const char *s, double *out)
{
	char *end;
	double d;

	if (!yj_float_syntax(s))
		return false;
	errno = 0;
	d = strtod(s, &end);
	if (*end != '\0')
		return false;
	if (errno == ERANGE && isinf(d))
		return false; /* Go's ParseFloat fails on overflow */
	*out = d;
	return true;
}

/* yaml.v2's resolve() for a plain scalar (or an explicitly tagged one). */
static void
yj_resolve(const char *s, size_t len, struct yj_val *v)
{
	char *plain;
	const char *p;
	uint64_t u;
	int64_t i;
	size_t n;
	int r;

	memset(v, 0, sizeof(*v));
	v->t = YJ_STR;
	if (len != strlen(s))
		return; /* an escaped NUL: only a string */
	if (len == 0) {
		v->t = YJ_NULL;
		return;
	}
	/* the words (y, no, ~, .inf, -.Inf, ...) are short and start with one of these */
	if (len > 6 || strchr("yYnNtTfFoO~.+-", s[0]) == NULL)
		goto notword;
	switch (yaml_scalar_word(s, &v->b, &v->d)) {
	case YAML_WORD_NULL:
		v->t = YJ_NULL;
		return;
	case YAML_WORD_BOOL:
		v->t = YJ_BOOL;
		return;
	case YAML_WORD_FLOAT:
		v->t = YJ_FLOAT;
		return;
	case YAML_WORD_NONE:
		break;
	}
notword:
	if (s[0] == '.') {
		if (yj_parse_float(s, &v->d))
			v->t = YJ_FLOAT;
		return;
	}
	if (!(s[0] == '+' || s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return;
	/* Timestamps (2001-12-14...) fail every test below: strings. */
	plain = xcalloc(1, len + 1);
	for (p = s, n = 0; *p != '\0'; p++)
		if (*p != '_')
			plain[n++] = *p;
	plain[n] = '\0';
	if ((r = yj_parse_int(plain, &i)) == 0) {
		v->t = YJ_INT;
		v->i = (json_int_t)i;
	} else if (plain[0] != '+' && plain[0] != '-' && yj_parse_uint(plain, &u) == 0) {
		v->t = YJ_FLOAT; /* > INT64_MAX: JSON can only carry it as a number */
		v->d = (double)u;
	} else if (yj_parse_float(plain, &v->d)) {
		v->t = YJ_FLOAT;
	} else if (r == -2 && (strncmp(plain, "0x", 2) == 0 || strncmp(plain, "0X", 2) == 0)) {
		/* a big.Int in yaml.v2 */
		v->t = YJ_FLOAT;
		v->d = strtod(plain, NULL);
	}
	free(plain);
}

static int
yj_tag_check(struct yj *y, const yaml_mark_t *m, const char *tag, const char *want,
	     struct yj_val *v)
{
	if (v->t == YJ_INT && strcmp(want, "float") == 0) {
		v->t = YJ_FLOAT;
		v->d = (double)v->i;
		return 0;
	}
	if ((strcmp(want, "int") == 0 && v->t == YJ_INT) ||
	    (strcmp(want, "float") == 0 && v->t == YJ_FLOAT) ||
	    (strcmp(want, "bool") == 0 && v->t == YJ_BOOL) ||
	    (strcmp(want, "null") == 0 && v->t == YJ_NULL))
		return 0;
	return yj_error(y, m, "cannot decode this scalar as %s", tag);
}

/* A scalar event as a json_t; *merge is set for a plain "<<". */
static int
yj_scalar_value(struct yj *y, const yaml_event_t *ev, json_t **out, bool *merge)
{
	const char *s = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	size_t len = ev->data.scalar.length;
	struct yj_val v;
	const char *short_tag;

	*merge = false;
	memset(&v, 0, sizeof(v));
	v.t = YJ_STR;
	if (tag != NULL && strcmp(tag, "!") != 0) {
		if (strncmp(tag, YAML_TAG_PREFIX, strlen(YAML_TAG_PREFIX)) != 0)
			return yj_error(y, &ev->start_mark, "unsupported tag \"%.64s\"", tag);
		short_tag = tag + strlen(YAML_TAG_PREFIX);
		if (strcmp(short_tag, "str") == 0 || strcmp(short_tag, "timestamp") == 0) {
			v.t = YJ_STR;
		} else if (strcmp(short_tag, "int") == 0 || strcmp(short_tag, "float") == 0 ||
			   strcmp(short_tag, "bool") == 0 || strcmp(short_tag, "null") == 0) {
			yj_resolve(s, len, &v);
			if (yj_tag_check(y, &ev->start_mark, tag, short_tag, &v) == -1)
				return -1;
		} else if (strcmp(short_tag, "merge") == 0 && strcmp(s, "<<") == 0) {
			*merge = true;
			v.t = YJ_STR;
		} else {
			return yj_error(y, &ev->start_mark, "unsupported tag \"!!%.64s\"",
					short_tag);
		}
	} else if (tag == NULL && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
		if (strcmp(s, "<<") == 0)
			*merge = true;
		yj_resolve(s, len, &v);
	}

	switch (v.t) {
	case YJ_NULL:
		*out = json_null();
		break;
	case YJ_BOOL:
		*out = json_boolean(v.b);
		break;
	case YJ_INT:
		*out = json_integer(v.i);
		break;
	case YJ_FLOAT:
		if (!isfinite(v.d))
			return yj_error(y, &ev->start_mark, "%s cannot be represented in JSON",
					isnan(v.d) ? "NaN" : "infinity");
		/* encoding/json prints integral floats without a fraction */
		if (v.d == floor(v.d) && fabs(v.d) < 9223372036854775808.0)
			*out = json_integer((json_int_t)v.d);
		else
			*out = json_real(v.d);
		break;
	case YJ_STR:
	default:
		*out = json_stringn(s, len);
		break;
	}
	if (*out == NULL)
		return yj_error(y, &ev->start_mark, "invalid string");
	return 0;
}

/* Mapping keys become strings, as sigs.k8s.io/yaml converts them. */
static int
yj_key(struct yj *y, const yaml_mark_t *m, const json_t *k, char **key, size_t *keylen)
{
	char buf[64], tmp[64];
	float f;
	int prec, exp;
	const char *e;

	switch (json_typeof(k)) {
	case JSON_STRING:
		if (memchr(json_string_value(k), '\0', json_string_length(k)) != NULL)
			return yj_error(y, m, "mapping key contains a NUL character");
		*keylen = json_string_length(k);
		*key = xcalloc(1, *keylen + 1);
		memcpy(*key, json_string_value(k), *keylen);
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(buf, sizeof(buf), "%s", json_is_true(k) ? "true" : "false");
		break;
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(k));
		break;
	case JSON_REAL:
		/* strconv.FormatFloat(v, 'g', -1, 32) */
		f = (float)json_real_value(k);
		for (prec = 1; prec < 9; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, (double)f);
			if (strtof(tmp, NULL) == f)
				break;
		}
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, (double)f);
		e = strchr(tmp, 'e');
		exp = e != NULL ? atoi(e + 1) : 0;
		if (exp < -4 || exp >= 6)
			snprintf(buf, sizeof(buf), "%s", tmp);
		else
			snprintf(buf, sizeof(buf), "%.*f", prec - 1 - exp > 0 ? prec - 1 - exp : 0,
				 (double)f);
		break;
	case JSON_NULL:
		return yj_error(y, m, "null mapping keys are not supported");
	default:
		return yj_error(y, m, "complex mapping keys are not supported");
	}
	*key = xstrdup(buf);
	*keylen = strlen(buf);
	return 0;
}

static int
yj_count(struct yj *y, const yaml_mark_t *m, size_t n)
{
	if (n > YAML_JSON_MAX_NODES || y->total > YAML_JSON_MAX_NODES - n)
		return yj_error(y, m, "more than %u nodes (aliases expanded)", YAML_JSON_MAX_NODES);
	y->total += n;
	return 0;
}

static void
yj_anchor_set(struct yj *y, const char *name, json_t *node, size_t nodes)
{
	size_t i;

	for (i = 0; i < y->nanchors; i++) {
		if (strcmp(y->anchors[i].name, name) == 0) {
			json_decref(y->anchors[i].node);
			y->anchors[i].node = json_incref(node);
			y->anchors[i].nodes = nodes;
			return;
		}
	}
	y->anchors = xreallocarray(y->anchors, y->nanchors + 1, sizeof(*y->anchors));
	y->anchors[y->nanchors].name = xstrdup(name);
	y->anchors[y->nanchors].node = json_incref(node);
	y->anchors[y->nanchors].nodes = nodes;
	y->nanchors++;
}

static void
yj_anchors_clear(struct yj *y)
{
	size_t i;

	for (i = 0; i < y->nanchors; i++) {
		free(y->anchors[i].name);
		json_decref(y->anchors[i].node);
	}
	free(y->anchors);
	y->anchors = NULL;
	y->nanchors = 0;
}

static bool
yj_key_position(const struct yj *y)
{
	const struct yj_frame *f;

	if (y->depth == 0)
		return false;
	f = &y->stack[y->depth - 1];
	return json_is_object(f->node) && !f->have_key;
}

static void
yj_doc_line(struct yj *y, const yaml_mark_t *m)
{
	if (y->depth == 0 && y->doc_line == 0)
		y->doc_line = (int)(y->line_base + m->line + 1);
}

/* Attach a complete value (reference stolen) to the node being built. */
static int
yj_add(struct yj *y, const yaml_mark_t *m, json_t *v, size_t nodes)
{
	struct yj_frame *f;
	json_t *e;
	size_t i;

	if (y->depth == 0) {
		json_decref(y->root);
		y->root = v;
		return 0;
	}
	f = &y->stack[y->depth - 1];
	f->nodes += nodes;
	if (json_is_array(f->node)) {
		if (json_array_append_new(f->node, v) == -1)
			return yj_error(y, m, "out of memory");
		return 0;
	}
	if (f->merge) {
		if (f->merges == NULL)
			f->merges = json_array();
		if (json_is_object(v)) {
			json_array_append(f->merges, v);
		} else if (json_is_array(v)) {
			json_array_foreach(v, i, e)
			{
				if (!json_is_object(e)) {
					json_decref(v);
					return yj_error(y, m,
							"merge key \"<<\" takes a mapping "
							"or a sequence of mappings");
				}
				json_array_append(f->merges, e);
			}
		} else {
			json_decref(v);
			return yj_error(
			    y, m, "merge key \"<<\" takes a mapping or a sequence of mappings");
		}
		json_decref(v);
	} else {
		if (json_object_getn(f->node, f->key, f->keylen) != NULL) {
			json_decref(v);
			return yj_error(y, &f->key_mark, "duplicate mapping key \"%.64s\"", f->key);
		}
		if (json_object_setn_new(f->node, f->key, f->keylen, v) == -1)
			return yj_error(y, m, "invalid mapping key");
	}
	free(f->key);
	f->key = NULL;
	f->keylen = 0;
	f->have_key = false;
	f->merge = false;
	return 0;
}

/* The value k (borrowed) in key position. */
static int
yj_set_key(struct yj *y, const yaml_mark_t *m, const json_t *k, bool merge)
{
	struct yj_frame *f = &y->stack[y->depth - 1];

	f->nodes++;
	f->key_mark = *m;
	if (merge) {
		f->merge = true;
		f->have_key = true;
		return 0;
	}
	if (yj_key(y, m, k, &f->key, &f->keylen) == -1)
		return -1;
	f->have_key = true;
	return 0;
}

static int
yj_scalar(struct yj *y, const yaml_event_t *ev)
{
	json_t *v;
	bool merge;
	int r;

	yj_doc_line(y, &ev->start_mark);
	if (yj_count(y, &ev->start_mark, 1) == -1)
		return -1;
	if (yj_scalar_value(y, ev, &v, &merge) == -1)
		return -1;
	if (ev->data.scalar.anchor != NULL)
		yj_anchor_set(y, (const char *)ev->data.scalar.anchor, v, 1);
	if (yj_key_position(y)) {
		r = yj_set_key(y, &ev->start_mark, v, merge);
		json_decref(v);
		return r;
	}
	return yj_add(y, &ev->start_mark, v, 1);
}

static int
yj_alias(struct yj *y, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	size_t i;

	yj_doc_line(y, &ev->start_mark);
	for (i = 0; i < y->nanchors; i++)
		if (strcmp(y->anchors[i].name, name) == 0)
			break;
	if (i == y->nanchors)
		return yj_error(y, &ev->start_mark, "unknown anchor \"%.64s\"", name);
	if (yj_count(y, &ev->start_mark, y->anchors[i].nodes) == -1)
		return -1;
	if (yj_key_position(y))
		return yj_set_key(y, &ev->start_mark, y->anchors[i].node, false);
	return yj_add(y, &ev->start_mark, json_incref(y->anchors[i].node), y->anchors[i].nodes);
}

static int
yj_push(struct yj *y, const yaml_event_t *ev, bool mapping)
{
	struct yj_frame *f;
	const unsigned char *anchor, *tag;

	yj_doc_line(y, &ev->start_mark);
	if (yj_key_position(y))
		return yj_error(y, &ev->start_mark, "complex mapping keys are not supported");
	if (y->depth >= YAML_JSON_MAX_DEPTH)
		return yj_error(y, &ev->start_mark, "nesting deeper than %d levels",
				YAML_JSON_MAX_DEPTH);
	if (yj_count(y, &ev->start_mark, 1) == -1)
		return -1;
	anchor = mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	tag = mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag;
	if (tag != NULL && strcmp((const char *)tag, "!") != 0 &&
	    strcmp((const char *)tag, mapping ? YAML_TAG_PREFIX "map" : YAML_TAG_PREFIX "seq") != 0)
		return yj_error(y, &ev->start_mark, "unsupported tag \"%.64s\"", (const char *)tag);
	f = &y->stack[y->depth++];
	memset(f, 0, sizeof(*f));
	f->node = mapping ? json_object() : json_array();
	if (f->node == NULL)
		return yj_error(y, &ev->start_mark, "out of memory");
	if (anchor != NULL)
		f->anchor = xstrdup((const char *)anchor);
	return 0;
}

static int
yj_pop(struct yj *y, const yaml_event_t *ev)
{
	struct yj_frame f;
	const char *k;
	json_t *m, *v;
	size_t i;

	if (y->depth == 0)
		return yj_error(y, &ev->start_mark, "unbalanced collection end");
	f = y->stack[--y->depth];
	free(f.key);
	if (f.merges != NULL) {
		/* Explicit keys win; earlier merged mappings win over later ones. */
		json_array_foreach(f.merges, i, m)
		{
			json_object_foreach(m, k, v)
			{
				if (json_object_get(f.node, k) == NULL)
					json_object_set(f.node, k, v);
			}
		}
		json_decref(f.merges);
	}
	if (f.anchor != NULL) {
		yj_anchor_set(y, f.anchor, f.node, f.nodes + 1);
		free(f.anchor);
	}
	return yj_add(y, &ev->start_mark, f.node, f.nodes + 1);
}

static void
yj_doc_end(struct yj *y)
{
	if (y->root != NULL && !json_is_null(y->root)) {
		y->docs = xreallocarray(y->docs, y->ndocs + 1, sizeof(*y->docs));
		y->docs[y->ndocs].root = y->root;
		y->docs[y->ndocs].line = y->doc_line;
		y->ndocs++;
	} else {
		json_decref(y->root);
	}
	y->root = NULL;
	y->doc_line = 0;
	yj_anchors_clear(y);
}

static void
yj_cleanup(struct yj *y)
{
	while (y->depth > 0) {
		struct yj_frame *f = &y->stack[--y->depth];

		json_decref(f->node);
		json_decref(f->merges);
		free(f->key);
		free(f->anchor);
	}
	json_decref(y->root);
	y->root = NULL;
	yj_anchors_clear(y);
}

int
yaml_json_load_buf(const char *buf, size_t len, const char *name, struct yaml_doc **docs,
		   size_t *ndocs, char *err, size_t errlen)
{
	return yaml_json_load_buf_at(buf, len, name, 0, docs, ndocs, err, errlen);
}

int
yaml_json_load_buf_at(const char *buf, size_t len, const char *name, size_t line_base,
		      struct yaml_doc **docs, size_t *ndocs, char *err, size_t errlen)
{
	return yj_run(buf, len, name, line_base, docs, ndocs, err, errlen);
}

static int
yj_run(const char *buf, size_t len, const char *name, size_t line_base, struct yaml_doc **docs,
       size_t *ndocs, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	struct yj y;
	bool done = false;
	int r = 0;

	*docs = NULL;
	*ndocs = 0;
	memset(&y, 0, sizeof(y));
	y.name = name != NULL ? name : "<input>";
	y.line_base = line_base;
	y.err = err;
	y.errlen = errlen;
	if (errlen > 0)
		err[0] = '\0';
	if (len > YAML_JSON_MAX_FILE)
		return yj_error(&y, NULL, "larger than %u bytes", YAML_JSON_MAX_FILE);
	if (!yaml_parser_initialize(&parser))
		return yj_error(&y, NULL, "cannot initialize the YAML parser");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && r == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			r = yj_parser_error(&y, &parser);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			y.root = NULL;
			y.doc_line = 0;
			break;
		case YAML_DOCUMENT_END_EVENT:
			yj_doc_end(&y);
			break;
		case YAML_SCALAR_EVENT:
			r = yj_scalar(&y, &ev);
			break;
		case YAML_ALIAS_EVENT:
			r = yj_alias(&y, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = yj_push(&y, &ev, false);
			break;
		case YAML_MAPPING_START_EVENT:
			r = yj_push(&y, &ev, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			r = yj_pop(&y, &ev);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	yj_cleanup(&y);
	if (r == -1) {
		yaml_json_docs_free(y.docs, y.ndocs);
		return -1;
	}
	*docs = y.docs;
	*ndocs = y.ndocs;
	return 0;
}

int
yaml_json_read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap;
	ssize_t n;
	int fd;

	*out = NULL;
	*outlen = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > (off_t)YAML_JSON_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %u bytes; refusing to load it", path,
			 YAML_JSON_MAX_FILE);
		close(fd);
		return -1;
	}
	cap = (size_t)st.st_size + 1;
	buf = xcalloc(1, cap);
	for (;;) {
		if (len == cap) {
			if (cap > YAML_JSON_MAX_FILE) {
				snprintf(err, errlen,
					 "%s: larger than %u bytes; refusing to load it", path,
					 YAML_JSON_MAX_FILE);
				free(buf);
				close(fd);
				return -1;
			}
			cap = cap * 2 > YAML_JSON_MAX_FILE + 1 ? YAML_JSON_MAX_FILE + 1 : cap * 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (len > YAML_JSON_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %u bytes; refusing to load it", path,
			 YAML_JSON_MAX_FILE);
		free(buf);
		return -1;
	}
	buf[len] = '\0'; /* len < cap: the loop grows the buffer before a read */
	*out = buf;
	*outlen = len;
	return 0;
}

int
yaml_json_load_file(const char *path, struct yaml_doc **docs, size_t *ndocs, char *err,
		    size_t errlen)
{
	char *buf;
	size_t len;
	int r;

	*docs = NULL;
	*ndocs = 0;
	if (yaml_json_read_file(path, &buf, &len, err, errlen) == -1)
		return -1;
	r = yaml_json_load_buf(buf, len, path, docs, ndocs, err, errlen);
	free(buf);
	return r;
}

void
yaml_json_docs_free(struct yaml_doc *docs, size_t ndocs)
{
	size_t i;

	if (docs == NULL)
		return;
	for (i = 0; i < ndocs; i++)
		json_decref(docs[i].root);
	free(docs);
}
