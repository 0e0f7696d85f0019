/* edgemeshctl's commands, one file each. */
#ifndef EM_CTL_H
#define EM_CTL_H

#include "config.h"
#include "ipc.h"

/* ctl_conn.c: a blocking conversation with a daemon */
int ctl_open(const struct em_config *, const char *sock);
int ctl_send(int fd, uint16_t type, msgpack_sbuffer *);
int ctl_recv(int fd, size_t max, struct ipc_msg *);
void ctl_fmt_duration(uint64_t secs, char *buf, size_t len);
void ctl_fmt_bytes(uint64_t n, char *buf, size_t len);

/* ctl_status.c */
int ctl_status(const struct em_config *);
/* ctl_services.c */
int ctl_services(const struct em_config *);
/* ctl_peers.c */
int ctl_peers(const struct em_config *);
/* ctl_health.c: a probe's exit code */
int ctl_health(const struct em_config *, const char *daemon);

#endif
