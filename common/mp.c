#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "mp.h"

void
mp_fail(struct mp_rd *r, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	if (r->failed)
		return;
	r->failed = 1;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "%s field %u: %s", r->what, r->i, buf);
}

int
mp_begin(struct mp_rd *r, const msgpack_object *o, uint32_t n, const char *what, char *err,
	 size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->what = what;
	r->err = err;
	r->errlen = errlen;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		snprintf(err, errlen, "%s: expected an array", what);
		r->failed = 1;
		return -1;
	}
	if (o->via.array.size != n) {
		snprintf(err, errlen, "%s: expected %u fields, got %u", what, n, o->via.array.size);
		r->failed = 1;
		return -1;
	}
	r->arr = o;
	return 0;
}

int
mp_end(struct mp_rd *r)
{
	if (r->failed)
		return -1;
	if (r->i != r->arr->via.array.size) {
		mp_fail(r, "decoder read %u of %u fields", r->i, r->arr->via.array.size);
		return -1;
	}
	return 0;
}

static const msgpack_object *
mp_next(struct mp_rd *r)
{
	if (r->failed)
		return NULL;
	if (r->i >= r->arr->via.array.size) {
		mp_fail(r, "missing");
		return NULL;
	}
	return &r->arr->via.array.ptr[r->i++];
}

uint64_t
mp_uint(struct mp_rd *r, uint64_t max)
{
	const msgpack_object *o;

	if ((o = mp_next(r)) == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		r->i--;
		mp_fail(r, "expected an unsigned integer");
		return 0;
	}
	if (o->via.u64 > max) {
		r->i--;
		mp_fail(r, "%llu exceeds %llu", (unsigned long long)o->via.u64,
			(unsigned long long)max);
		return 0;
	}
	return o->via.u64;
}

bool
mp_bool(struct mp_rd *r)
{
	const msgpack_object *o;

	if ((o = mp_next(r)) == NULL)
		return false;
	if (o->type != MSGPACK_OBJECT_BOOLEAN) {
		r->i--;
		mp_fail(r, "expected a boolean");
		return false;
	}
	return o->via.boolean;
}

double
mp_double(struct mp_rd *r)
{
	const msgpack_object *o;

	if ((o = mp_next(r)) == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_FLOAT64 && o->type != MSGPACK_OBJECT_FLOAT32) {
		r->i--;
		mp_fail(r, "expected a float");
		return 0;
	}
	return o->via.f64;
}

static const msgpack_object *
mp_str_obj(struct mp_rd *r, size_t maxlen)
{
	const msgpack_object *o;

	if ((o = mp_next(r)) == NULL)
		return NULL;
	if (o->type != MSGPACK_OBJECT_STR) {
		r->i--;
		mp_fail(r, "expected a string");
		return NULL;
	}
	if (o->via.str.size > maxlen) {
		r->i--;
		mp_fail(r, "string of %u bytes exceeds %zu", o->via.str.size, maxlen);
		return NULL;
	}
	/* an empty string may come with a NULL ptr: no memchr/memcpy on it */
	if (o->via.str.size > 0 && memchr(o->via.str.ptr, '\0', o->via.str.size) != NULL) {
		r->i--;
		mp_fail(r, "string contains NUL");
		return NULL;
	}
	return o;
}

char *
mp_strdup(struct mp_rd *r, size_t maxlen)
{
	const msgpack_object *o;
	char *s;

	if ((o = mp_str_obj(r, maxlen)) == NULL)
		return NULL;
	s = xcalloc(1, o->via.str.size + 1);
	if (o->via.str.size > 0)
		memcpy(s, o->via.str.ptr, o->via.str.size);
	return s;
}

void
mp_strcpy(struct mp_rd *r, char *dst, size_t dstsz)
{
	const msgpack_object *o;

	dst[0] = '\0';
	if ((o = mp_str_obj(r, dstsz - 1)) == NULL)
		return;
	if (o->via.str.size > 0)
		memcpy(dst, o->via.str.ptr, o->via.str.size);
	dst[o->via.str.size] = '\0';
}

size_t
mp_bin(struct mp_rd *r, uint8_t *dst, size_t cap)
{
	const msgpack_object *o;

	if ((o = mp_next(r)) == NULL)
		return 0;
	if (o->type != MSGPACK_OBJECT_BIN) {
		r->i--;
		mp_fail(r, "expected bytes");
		return 0;
	}
	if (o->via.bin.size > cap) {
		r->i--;
		mp_fail(r, "%u bytes exceed %zu", o->via.bin.size, cap);
		return 0;
	}
	if (o->via.bin.size > 0)
		memcpy(dst, o->via.bin.ptr, o->via.bin.size);
	return o->via.bin.size;
}

const msgpack_object *
mp_array(struct mp_rd *r, uint32_t maxn)
{
	const msgpack_object *o;

	if ((o = mp_next(r)) == NULL)
		return NULL;
	if (o->type != MSGPACK_OBJECT_ARRAY) {
		r->i--;
		mp_fail(r, "expected an array");
		return NULL;
	}
	if (o->via.array.size > maxn) {
		r->i--;
		mp_fail(r, "array of %u exceeds %u", o->via.array.size, maxn);
		return NULL;
	}
	return o;
}

int
mp_nested(struct mp_rd *parent, struct mp_rd *child, const msgpack_object *o, uint32_t n,
	  const char *what)
{
	if (parent->failed)
		return -1;
	if (mp_begin(child, o, n, what, parent->err, parent->errlen) == -1) {
		parent->failed = 1;
		return -1;
	}
	return 0;
}

void
mp_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}
