/* sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. */
#include <sys/socket.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

static void
sd_send(const char *msg)
{
	struct sockaddr_un sun;
	const char *path = getenv("NOTIFY_SOCKET");
	socklen_t len;
	int fd;

	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(sun.sun_path))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sun, len);
	close(fd);
}

void
sd_notify_ready(const char *status)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	sd_send(buf);
}

void
sd_notify_status(const char *status)
{
	char buf[256];

	snprintf(buf, sizeof(buf), "STATUS=%s", status);
	sd_send(buf);
}

/* systemd sets WATCHDOG_USEC (and WATCHDOG_PID: ours) when the unit has WatchdogSec=. */
double
sd_watchdog_period(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	char *end;
	unsigned long long us;

	if (usec == NULL || (pid != NULL && strtol(pid, NULL, 10) != (long)getpid()))
		return 0;
	us = strtoull(usec, &end, 10);
	if (*end != '\0' || us == 0)
		return 0;
	return (double)us / 2e6;
}

void
sd_notify_watchdog(void)
{
	if (sd_watchdog_period() > 0)
		sd_send("WATCHDOG=1");
}

uint64_t
proc_rss_kb(void)
{
	char line[256];
	unsigned long long kb = 0;
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}
