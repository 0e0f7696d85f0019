/* Unix sockets under the runtime dir, and SO_PEERCRED access checks. */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

static int
sock_path(const char *dir, const char *name, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s", dir, name) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
ipc_listen(const char *dir, const char *name, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd;

	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (sock_path(dir, name, &sun) == -1) {
		snprintf(err, errlen, "%s/%s: path too long", dir, name);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* a stale socket from a crashed run is replaced; a live one is refused */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
		snprintf(err, errlen, "%s: another daemon is listening there", sun.sun_path);
		close(fd);
		return -1;
	}
	unlink(sun.sun_path);
	close(fd);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(sun.sun_path, 0666) == -1 || listen(fd, 128) == -1) {
		snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
ipc_connect(const char *dir, const char *name)
{
	struct sockaddr_un sun;
	int fd;

	if (sock_path(dir, name, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
ipc_peercred(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1)
		return -1;
	*uid = uc.uid;
	*gid = uc.gid;
	*pid = uc.pid;
	return 0;
}

void
ipc_acl_init(struct ipc_acl *acl, char users[][64], size_t n)
{
	struct passwd *pw;
	char *end;
	unsigned long v;
	size_t i;

	acl->n = 0;
	for (i = 0; i < n && acl->n < sizeof(acl->uids) / sizeof(acl->uids[0]); i++) {
		errno = 0;
		v = strtoul(users[i], &end, 10);
		if (users[i][0] != '\0' && *end == '\0' && errno == 0) {
			acl->uids[acl->n++] = (uid_t)v;
			continue;
		}
		if ((pw = getpwnam(users[i])) == NULL) {
			log_warnx("commonConfig.ipcUsers: no user named %s; ignored", users[i]);
			continue;
		}
		acl->uids[acl->n++] = pw->pw_uid;
	}
}

int
ipc_acl_allows(const struct ipc_acl *acl, uid_t uid)
{
	size_t i;

	if (uid == 0 || uid == geteuid())
		return 1;
	for (i = 0; i < acl->n; i++)
		if (acl->uids[i] == uid)
			return 1;
	return 0;
}
