/* libFuzzer: any frame payload through every IPC decoder (make fuzz). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const int types[] = {
	    IPC_HELLO,	      IPC_ERROR,    IPC_SUBSCRIBE,	IPC_HEALTH,   IPC_STATUS_REQ,
	    IPC_FD_STORE,     IPC_FD_FETCH, IPC_SNAPSHOT_BEGIN, IPC_UPSERT,   IPC_DELETE,
	    IPC_SNAPSHOT_END, IPC_STATUS,   IPC_FD_RETURN,	IPC_TUN_OPEN, IPC_TUN_RESULT,
	    IPC_PEERS_REQ,    IPC_PEERS,    IPC_METRICS};
	union {
		struct ipc_hello h;
		struct ipc_health he;
		struct ipc_status st;
		struct ipc_tun_open o;
		struct ipc_tun_result r;
	} u;
	struct ipc_hdr hdr;
	struct ipc_peers p;
	static struct em_samples samples;
	struct ipc_msg m;
	struct em_object o;
	char err[256], key[EM_KEY_LEN];
	enum em_topic t;
	uint64_t v;
	uint32_t topics;
	size_t i;

	log_init("fuzz", 0);
	if (len >= IPC_HDR_LEN)
		(void)ipc_hdr_decode(data, IPC_MAX_CONTROL, &hdr, err, sizeof(err));
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.fd = -1;
		if (ipc_msg_parse(&m, (uint16_t)types[i], data, len, err, sizeof(err)) == -1)
			return 0; /* the same for every type */
		switch (types[i]) {
		case IPC_HELLO:
			(void)ipc_unpack_hello(&m, &u.h, err, sizeof(err));
			break;
		case IPC_ERROR:
			(void)ipc_unpack_error(&m, key, sizeof(key), err, sizeof(err));
			break;
		case IPC_SUBSCRIBE:
			(void)ipc_unpack_subscribe(&m, &topics, err, sizeof(err));
			break;
		case IPC_HEALTH:
			(void)ipc_unpack_health(&m, &u.he, err, sizeof(err));
			break;
		case IPC_METRICS:
			(void)ipc_unpack_metrics(&m, &samples, err, sizeof(err));
			break;
		case IPC_STATUS:
			(void)ipc_unpack_status(&m, &u.st, err, sizeof(err));
			break;
		case IPC_SNAPSHOT_BEGIN:
		case IPC_SNAPSHOT_END:
			(void)ipc_unpack_snapmark(&m, &t, &v, err, sizeof(err));
			break;
		case IPC_UPSERT:
			if (ipc_unpack_upsert(&m, &v, &o, err, sizeof(err)) == 0)
				em_object_free(&o);
			break;
		case IPC_DELETE:
			(void)ipc_unpack_delete(&m, &t, &v, key, sizeof(key), err, sizeof(err));
			break;
		case IPC_TUN_OPEN:
			(void)ipc_unpack_tun_open(&m, &u.o, err, sizeof(err));
			break;
		case IPC_TUN_RESULT:
			(void)ipc_unpack_tun_result(&m, &u.r, err, sizeof(err));
			break;
		case IPC_PEERS_REQ:
			(void)ipc_unpack_peers_req(&m, &topics, err, sizeof(err));
			break;
		case IPC_PEERS:
			if (ipc_unpack_peers(&m, &p, err, sizeof(err)) == 0)
				ipc_peers_clear(&p);
			break;
		case IPC_FD_STORE:
		case IPC_FD_FETCH:
		case IPC_FD_RETURN:
			(void)ipc_unpack_fd_key(&m, key, sizeof(key), err, sizeof(err));
			break;
		default:
			(void)ipc_unpack_empty(&m, err, sizeof(err));
			break;
		}
		/* every topic's object decoder on the whole value */
		for (t = 0; t < EM_TOPIC_COUNT; t++)
			if (ipc_unpack_object(m.obj, t, &o, err, sizeof(err)) == 0)
				em_object_free(&o);
		ipc_msg_clear(&m);
	}
	return 0;
}
