/* Message names and the typed pack/unpack pair of every control message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "mp.h"

static const struct {
	int type;
	const char *name;
	int fd; /* 0: never, 1: always, 2: may carry one */
} ipc_types[] = {
    {IPC_HELLO, "HELLO", 0},
    {IPC_ERROR, "ERROR", 0},
    {IPC_SUBSCRIBE, "SUBSCRIBE", 0},
    {IPC_HEALTH, "HEALTH", 0},
    {IPC_STATUS_REQ, "STATUS_REQ", 0},
    {IPC_FD_STORE, "FD_STORE", 1},
    {IPC_FD_FETCH, "FD_FETCH", 0},
    {IPC_METRICS, "METRICS", 0},
    {IPC_METRICS_REQ, "METRICS_REQ", 0},
    {IPC_SNAPSHOT_BEGIN, "SNAPSHOT_BEGIN", 0},
    {IPC_UPSERT, "UPSERT", 0},
    {IPC_DELETE, "DELETE", 0},
    {IPC_SNAPSHOT_END, "SNAPSHOT_END", 0},
    {IPC_STATUS, "STATUS", 0},
    {IPC_FD_RETURN, "FD_RETURN", 2},
    {IPC_HEALTH_REQ, "HEALTH_REQ", 0},
    {IPC_TUN_OPEN, "TUN_OPEN", 1},
    {IPC_TUN_RESULT, "TUN_RESULT", 0},
    {IPC_PEERS_REQ, "PEERS_REQ", 0},
    {IPC_PEERS, "PEERS", 0},
    {IPC_PING_REQ, "PING_REQ", 0},
    {IPC_PING_RESULT, "PING_RESULT", 0},
};

const char *
ipc_type_name(int type)
{
	size_t i;

	for (i = 0; i < sizeof(ipc_types) / sizeof(ipc_types[0]); i++)
		if (ipc_types[i].type == type)
			return ipc_types[i].name;
	return "?";
}

int
ipc_type_known(int type)
{
	return strcmp(ipc_type_name(type), "?") != 0;
}

static int
type_fd(int type)
{
	size_t i;

	for (i = 0; i < sizeof(ipc_types) / sizeof(ipc_types[0]); i++)
		if (ipc_types[i].type == type)
			return ipc_types[i].fd;
	return 0;
}

int
ipc_type_carries_fd(int type)
{
	return type_fd(type) != 0;
}

int
ipc_type_requires_fd(int type)
{
	return type_fd(type) == 1;
}

/* Decoders refuse a message of another type: dispatch bugs show up early. */
static int
want_type(const struct ipc_msg *m, int type, char *err, size_t errlen)
{
	if (m->type != type) {
		snprintf(err, errlen, "expected %s, got %s", ipc_type_name(type),
			 ipc_type_name(m->type));
		return -1;
	}
	return 0;
}

void
ipc_hello_init(struct ipc_hello *h, const char *name)
{
	memset(h, 0, sizeof(*h));
	h->version = IPC_VERSION;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->pid = (uint32_t)getpid();
	snprintf(h->build, sizeof(h->build), "%s", EM_BUILD_VERSION);
}

void
ipc_pack_hello(msgpack_packer *pk, const struct ipc_hello *h)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint32(pk, h->version);
	mp_pack_str(pk, h->name);
	msgpack_pack_uint32(pk, h->pid);
	mp_pack_str(pk, h->build);
}

int
ipc_unpack_hello(const struct ipc_msg *m, struct ipc_hello *h, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_HELLO, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 4, "HELLO", err, errlen) == -1)
		return -1;
	h->version = (uint32_t)mp_uint(&r, UINT32_MAX);
	mp_strcpy(&r, h->name, sizeof(h->name));
	h->pid = (uint32_t)mp_uint(&r, UINT32_MAX);
	mp_strcpy(&r, h->build, sizeof(h->build));
	return mp_end(&r);
}

void
ipc_pack_error(msgpack_packer *pk, const char *reason)
{
	msgpack_pack_array(pk, 1);
	mp_pack_str(pk, reason);
}

int
ipc_unpack_error(const struct ipc_msg *m, char *reason, size_t len, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_ERROR, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 1, "ERROR", err, errlen) == -1)
		return -1;
	mp_strcpy(&r, reason, len);
	return mp_end(&r);
}

void
ipc_pack_subscribe(msgpack_packer *pk, uint32_t topics)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_uint32(pk, topics);
}

int
ipc_unpack_subscribe(const struct ipc_msg *m, uint32_t *topics, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_SUBSCRIBE, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 1, "SUBSCRIBE", err, errlen) == -1)
		return -1;
	*topics = (uint32_t)mp_uint(&r, (1u << EM_TOPIC_COUNT) - 1);
	return mp_end(&r);
}

void
ipc_pack_health(msgpack_packer *pk, const struct ipc_health *h)
{
	msgpack_pack_array(pk, 5);
	mp_pack_str(pk, h->state);
	mp_pack_str(pk, h->detail);
	msgpack_pack_uint64(pk, h->uptime);
	msgpack_pack_uint64(pk, h->state_version);
	msgpack_pack_uint64(pk, h->rss_kb);
}

int
ipc_unpack_health(const struct ipc_msg *m, struct ipc_health *h, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_HEALTH, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 5, "HEALTH", err, errlen) == -1)
		return -1;
	mp_strcpy(&r, h->state, sizeof(h->state));
	mp_strcpy(&r, h->detail, sizeof(h->detail));
	h->uptime = mp_uint(&r, UINT64_MAX);
	h->state_version = mp_uint(&r, UINT64_MAX);
	h->rss_kb = mp_uint(&r, UINT64_MAX);
	return mp_end(&r);
}

void
ipc_pack_metrics(msgpack_packer *pk, const struct em_samples *ss)
{
	const struct em_sample *s;
	size_t i;

	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, ss->n);
	for (i = 0; i < ss->n; i++) {
		s = &ss->s[i];
		msgpack_pack_array(pk, 4);
		msgpack_pack_uint16(pk, s->id);
		msgpack_pack_uint8(pk, s->part);
		mp_pack_str(pk, s->labels);
		msgpack_pack_double(pk, s->value);
	}
}

int
ipc_unpack_metrics(const struct ipc_msg *m, struct em_samples *ss, char *err, size_t errlen)
{
	struct mp_rd r, rr;
	const msgpack_object *arr;
	struct em_sample *s;
	uint32_t i;

	metrics_clear(ss);
	if (want_type(m, IPC_METRICS, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 1, "METRICS", err, errlen) == -1)
		return -1;
	if ((arr = mp_array(&r, EM_SAMPLES_MAX)) == NULL)
		return mp_end(&r);
	if (ss->cap < arr->via.array.size) {
		ss->cap = arr->via.array.size;
		if ((ss->s = reallocarray(ss->s, ss->cap, sizeof(*ss->s))) == NULL)
			fatal("%s: reallocarray", __func__);
	}
	for (i = 0; i < arr->via.array.size; i++) {
		s = &ss->s[ss->n];
		if (mp_nested(&r, &rr, &arr->via.array.ptr[i], 4, "METRICS sample") == -1)
			goto bad;
		s->id = (uint16_t)mp_uint(&rr, UINT16_MAX);
		s->part = (uint8_t)mp_uint(&rr, EM_MP_COUNT);
		mp_strcpy(&rr, s->labels, sizeof(s->labels));
		s->value = mp_double(&rr);
		if (mp_end(&rr) == -1)
			goto bad;
		/* a metric a newer daemon knows and we do not (the ids are
		 * append-only): left out, so an upgrade in any order keeps the rest */
		if (s->id < EM_M__COUNT)
			ss->n++;
	}
	if (mp_end(&r) == 0)
		return 0;
bad:
	metrics_clear(ss);
	return -1;
}

void
ipc_pack_status(msgpack_packer *pk, const struct ipc_status *s)
{
	const struct ipc_status_row *row;
	size_t i;

	msgpack_pack_array(pk, 3);
	msgpack_pack_uint64(pk, s->version);
	mp_pack_str(pk, s->registry);
	msgpack_pack_array(pk, s->nrows);
	for (i = 0; i < s->nrows; i++) {
		row = &s->rows[i];
		msgpack_pack_array(pk, 9);
		mp_pack_str(pk, row->name);
		msgpack_pack_uint8(pk, row->connected ? 1 : 0);
		mp_pack_str(pk, row->build);
		msgpack_pack_uint32(pk, row->pid);
		msgpack_pack_uint64(pk, row->uptime);
		msgpack_pack_uint64(pk, row->state_version);
		mp_pack_str(pk, row->state);
		mp_pack_str(pk, row->detail);
		msgpack_pack_uint64(pk, row->rss_kb);
	}
}

int
ipc_unpack_status(const struct ipc_msg *m, struct ipc_status *s, char *err, size_t errlen)
{
	struct mp_rd r, rr;
	struct ipc_status_row *row;
	const msgpack_object *rows;
	uint32_t i;

	memset(s, 0, sizeof(*s));
	if (want_type(m, IPC_STATUS, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 3, "STATUS", err, errlen) == -1)
		return -1;
	s->version = mp_uint(&r, UINT64_MAX);
	mp_strcpy(&r, s->registry, sizeof(s->registry));
	if ((rows = mp_array(&r, IPC_STATUS_MAX)) == NULL)
		return mp_end(&r);
	for (i = 0; i < rows->via.array.size; i++) {
		row = &s->rows[i];
		if (mp_nested(&r, &rr, &rows->via.array.ptr[i], 9, "STATUS row") == -1)
			return -1;
		mp_strcpy(&rr, row->name, sizeof(row->name));
		row->connected = (int)mp_uint(&rr, 1);
		mp_strcpy(&rr, row->build, sizeof(row->build));
		row->pid = (uint32_t)mp_uint(&rr, UINT32_MAX);
		row->uptime = mp_uint(&rr, UINT64_MAX);
		row->state_version = mp_uint(&rr, UINT64_MAX);
		mp_strcpy(&rr, row->state, sizeof(row->state));
		mp_strcpy(&rr, row->detail, sizeof(row->detail));
		row->rss_kb = mp_uint(&rr, UINT64_MAX);
		if (mp_end(&rr) == -1)
			return -1;
		s->nrows++;
	}
	return mp_end(&r);
}

void
ipc_pack_snapmark(msgpack_packer *pk, enum em_topic t, uint64_t version)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_uint8(pk, (uint8_t)t);
	msgpack_pack_uint64(pk, version);
}

int
ipc_unpack_snapmark(const struct ipc_msg *m, enum em_topic *t, uint64_t *version, char *err,
		    size_t errlen)
{
	struct mp_rd r;

	if (m->type != IPC_SNAPSHOT_BEGIN && m->type != IPC_SNAPSHOT_END) {
		snprintf(err, errlen, "expected a snapshot mark, got %s", ipc_type_name(m->type));
		return -1;
	}
	if (mp_begin(&r, m->obj, 2, ipc_type_name(m->type), err, errlen) == -1)
		return -1;
	*t = (enum em_topic)mp_uint(&r, EM_TOPIC_COUNT - 1);
	*version = mp_uint(&r, UINT64_MAX);
	return mp_end(&r);
}

void
ipc_pack_upsert_head(msgpack_packer *pk, enum em_topic t, uint64_t version, const char *key)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, (uint8_t)t);
	msgpack_pack_uint64(pk, version);
	mp_pack_str(pk, key);
	/* the caller packs the object next */
}

int
ipc_unpack_upsert(const struct ipc_msg *m, uint64_t *version, struct em_object *o, char *err,
		  size_t errlen)
{
	struct mp_rd r;
	char key[EM_KEY_LEN], okey[EM_KEY_LEN];
	enum em_topic t;

	memset(o, 0, sizeof(*o));
	if (want_type(m, IPC_UPSERT, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 4, "UPSERT", err, errlen) == -1)
		return -1;
	t = (enum em_topic)mp_uint(&r, EM_TOPIC_COUNT - 1);
	*version = mp_uint(&r, UINT64_MAX);
	mp_strcpy(&r, key, sizeof(key));
	if (r.failed)
		return -1;
	if (ipc_unpack_object(&m->obj->via.array.ptr[3], t, o, err, errlen) == -1) {
		char why[256];

		/* name the message and the object, not only the nested field */
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "UPSERT %s %s: %s", em_topic_name(t), key, why);
		return -1;
	}
	r.i++;
	if (strcmp(em_object_key(o, okey, sizeof(okey)), key) != 0) {
		snprintf(err, errlen, "UPSERT: key %s does not match the object's %s", key, okey);
		em_object_free(o);
		return -1;
	}
	return mp_end(&r);
}

void
ipc_pack_delete(msgpack_packer *pk, enum em_topic t, uint64_t version, const char *key)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, (uint8_t)t);
	msgpack_pack_uint64(pk, version);
	mp_pack_str(pk, key);
}

int
ipc_unpack_delete(const struct ipc_msg *m, enum em_topic *t, uint64_t *version, char *key,
		  size_t keylen, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_DELETE, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 3, "DELETE", err, errlen) == -1)
		return -1;
	*t = (enum em_topic)mp_uint(&r, EM_TOPIC_COUNT - 1);
	*version = mp_uint(&r, UINT64_MAX);
	mp_strcpy(&r, key, keylen);
	return mp_end(&r);
}

void
ipc_pack_tun_open(msgpack_packer *pk, const struct ipc_tun_open *o)
{
	msgpack_pack_array(pk, 7);
	msgpack_pack_uint64(pk, o->id);
	mp_pack_str(pk, o->peer);
	mp_pack_str(pk, o->ip);
	msgpack_pack_uint16(pk, o->port);
	msgpack_pack_uint8(pk, o->proto);
	mp_pack_str(pk, o->client);
	msgpack_pack_bin(pk, o->reply_len);
	msgpack_pack_bin_body(pk, o->reply, o->reply_len);
}

int
ipc_unpack_tun_open(const struct ipc_msg *m, struct ipc_tun_open *o, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_TUN_OPEN, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 7, "TUN_OPEN", err, errlen) == -1)
		return -1;
	o->id = mp_uint(&r, UINT64_MAX);
	mp_strcpy(&r, o->peer, sizeof(o->peer));
	mp_strcpy(&r, o->ip, sizeof(o->ip));
	o->port = (uint16_t)mp_uint(&r, UINT16_MAX);
	o->proto = (uint8_t)mp_uint(&r, EM_PROTO_SCTP);
	mp_strcpy(&r, o->client, sizeof(o->client));
	o->reply_len = (uint8_t)mp_bin(&r, o->reply, sizeof(o->reply));
	return mp_end(&r);
}

void
ipc_pack_ping_req(msgpack_packer *pk, const char *node)
{
	msgpack_pack_array(pk, 1);
	mp_pack_str(pk, node);
}

int
ipc_unpack_ping_req(const struct ipc_msg *m, char *node, size_t len, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_PING_REQ, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 1, "PING_REQ", err, errlen) == -1)
		return -1;
	mp_strcpy(&r, node, len);
	return mp_end(&r);
}

void
ipc_pack_ping_result(msgpack_packer *pk, const struct ipc_ping_result *res)
{
	msgpack_pack_array(pk, 6);
	if (res->ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	msgpack_pack_uint64(pk, res->rtt_us);
	mp_pack_str(pk, res->path);
	mp_pack_str(pk, res->via);
	mp_pack_str(pk, res->addr);
	mp_pack_str(pk, res->reason);
}

int
ipc_unpack_ping_result(const struct ipc_msg *m, struct ipc_ping_result *res, char *err,
		       size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_PING_RESULT, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 6, "PING_RESULT", err, errlen) == -1)
		return -1;
	res->ok = mp_bool(&r);
	res->rtt_us = mp_uint(&r, UINT64_MAX);
	mp_strcpy(&r, res->path, sizeof(res->path));
	mp_strcpy(&r, res->via, sizeof(res->via));
	mp_strcpy(&r, res->addr, sizeof(res->addr));
	mp_strcpy(&r, res->reason, sizeof(res->reason));
	return mp_end(&r);
}

void
ipc_pack_tun_result(msgpack_packer *pk, const struct ipc_tun_result *res)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint64(pk, res->id);
	if (res->ok)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	mp_pack_str(pk, res->reason);
}

int
ipc_unpack_tun_result(const struct ipc_msg *m, struct ipc_tun_result *res, char *err, size_t errlen)
{
	struct mp_rd r;

	if (want_type(m, IPC_TUN_RESULT, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 3, "TUN_RESULT", err, errlen) == -1)
		return -1;
	res->id = mp_uint(&r, UINT64_MAX);
	res->ok = mp_bool(&r);
	mp_strcpy(&r, res->reason, sizeof(res->reason));
	return mp_end(&r);
}

void
ipc_pack_peers_req(msgpack_packer *pk, uint32_t fields)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_uint32(pk, fields);
}

int
ipc_unpack_peers_req(const struct ipc_msg *m, uint32_t *fields, char *err, size_t errlen)
{
	struct mp_rd r;

	*fields = IPC_PEERS_ROW_V1;
	if (want_type(m, IPC_PEERS_REQ, err, errlen) == -1)
		return -1;
	if (m->obj->type == MSGPACK_OBJECT_ARRAY && m->obj->via.array.size == 0)
		return 0; /* an older edgemeshctl */
	if (mp_begin(&r, m->obj, 1, "PEERS_REQ", err, errlen) == -1)
		return -1;
	*fields = (uint32_t)mp_uint(&r, UINT32_MAX);
	return mp_end(&r);
}

void
ipc_pack_peers(msgpack_packer *pk, const struct ipc_peers *p)
{
	const struct ipc_peer_row *row;
	uint32_t nf = p->row_fields >= IPC_PEERS_ROW_LAST ? IPC_PEERS_ROW_LAST : IPC_PEERS_ROW_V1;
	size_t i;

	msgpack_pack_array(pk, 3);
	mp_pack_str(pk, p->self);
	mp_pack_str(pk, p->fingerprint);
	msgpack_pack_array(pk, p->nrows);
	for (i = 0; i < p->nrows; i++) {
		row = &p->rows[i];
		msgpack_pack_array(pk, nf);
		mp_pack_str(pk, row->name);
		mp_pack_str(pk, row->addr);
		mp_pack_str(pk, row->state);
		msgpack_pack_uint64(pk, row->rtt_us);
		msgpack_pack_uint64(pk, row->tx_bytes);
		msgpack_pack_uint64(pk, row->rx_bytes);
		msgpack_pack_uint32(pk, row->streams);
		mp_pack_str(pk, row->path);
		if (nf >= IPC_PEERS_ROW_LAST)
			mp_pack_str(pk, row->cipher);
	}
}

int
ipc_unpack_peers(const struct ipc_msg *m, struct ipc_peers *p, char *err, size_t errlen)
{
	struct mp_rd r, rr;
	struct ipc_peer_row *row;
	const msgpack_object *rows, *o;
	uint32_t i, nf;

	memset(p, 0, sizeof(*p));
	if (want_type(m, IPC_PEERS, err, errlen) == -1 ||
	    mp_begin(&r, m->obj, 3, "PEERS", err, errlen) == -1)
		return -1;
	mp_strcpy(&r, p->self, sizeof(p->self));
	mp_strcpy(&r, p->fingerprint, sizeof(p->fingerprint));
	if ((rows = mp_array(&r, IPC_PEERS_MAX)) == NULL)
		return mp_end(&r);
	p->rows = xcalloc(rows->via.array.size, sizeof(*p->rows));
	for (i = 0; i < rows->via.array.size; i++) {
		row = &p->rows[i];
		o = &rows->via.array.ptr[i];
		nf = o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == IPC_PEERS_ROW_LAST
			 ? IPC_PEERS_ROW_LAST
			 : IPC_PEERS_ROW_V1;
		if (mp_nested(&r, &rr, o, nf, "PEERS row") == -1)
			goto fail;
		mp_strcpy(&rr, row->name, sizeof(row->name));
		mp_strcpy(&rr, row->addr, sizeof(row->addr));
		mp_strcpy(&rr, row->state, sizeof(row->state));
		row->rtt_us = mp_uint(&rr, UINT64_MAX);
		row->tx_bytes = mp_uint(&rr, UINT64_MAX);
		row->rx_bytes = mp_uint(&rr, UINT64_MAX);
		row->streams = (uint32_t)mp_uint(&rr, UINT32_MAX);
		mp_strcpy(&rr, row->path, sizeof(row->path));
		if (nf >= IPC_PEERS_ROW_LAST)
			mp_strcpy(&rr, row->cipher, sizeof(row->cipher));
		if (mp_end(&rr) == -1)
			goto fail;
		if (i == 0 || nf < p->row_fields)
			p->row_fields = nf;
		p->nrows++;
	}
	if (mp_end(&r) == -1)
		goto fail;
	return 0;
fail:
	ipc_peers_clear(p);
	return -1;
}

void
ipc_peers_clear(struct ipc_peers *p)
{
	free(p->rows);
	p->rows = NULL;
	p->nrows = 0;
}

void
ipc_pack_fd_key(msgpack_packer *pk, const char *key)
{
	msgpack_pack_array(pk, 1);
	mp_pack_str(pk, key);
}

int
ipc_unpack_fd_key(const struct ipc_msg *m, char *key, size_t keylen, char *err, size_t errlen)
{
	struct mp_rd r;

	if (m->type != IPC_FD_STORE && m->type != IPC_FD_FETCH && m->type != IPC_FD_RETURN) {
		snprintf(err, errlen, "expected an fd store message, got %s",
			 ipc_type_name(m->type));
		return -1;
	}
	if (mp_begin(&r, m->obj, 1, ipc_type_name(m->type), err, errlen) == -1)
		return -1;
	mp_strcpy(&r, key, keylen);
	return mp_end(&r);
}

void
ipc_pack_empty(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 0);
}

int
ipc_unpack_empty(const struct ipc_msg *m, char *err, size_t errlen)
{
	struct mp_rd r;

	if (mp_begin(&r, m->obj, 0, ipc_type_name(m->type), err, errlen) == -1)
		return -1;
	return mp_end(&r);
}
