#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *log_name = "edgemesh";
static int log_verbose;

#define ONCE_MAX 64
static char *once_keys[ONCE_MAX];

void
log_init(const char *daemon, int debug)
{
	log_name = daemon;
	log_verbose = debug;
}

void
log_setdebug(int debug)
{
	log_verbose = debug;
}

const char *
log_daemon(void)
{
	return log_name;
}

/* Quote a message so a line stays one logfmt record. */
static void
log_emit(const char *level, const char *err, const char *fmt, va_list ap)
{
	char msg[1024], line[2300];
	size_t n = 0;
	const char *p;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = (size_t)snprintf(line, sizeof(line), "level=%s daemon=%s msg=\"", level, log_name);
	for (p = msg; *p != '\0' && n < sizeof(line) - 8; p++) {
		if (*p == '"' || *p == '\\')
			line[n++] = '\\';
		line[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
	}
	line[n++] = '"';
	line[n] = '\0';
	if (err != NULL)
		snprintf(line + n, sizeof(line) - n, " err=\"%s\"", err);
	fprintf(stderr, "%s\n", line);
}

/* log_emit with the arguments after fmt */
#define LOG_VA(level, err)                                                                         \
	do {                                                                                       \
		va_list ap;                                                                        \
		va_start(ap, fmt);                                                                 \
		log_emit(level, err, fmt, ap);                                                     \
		va_end(ap);                                                                        \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	int saved = errno;

	LOG_VA("warn", strerror(saved));
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	LOG_VA("warn", NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_VA("info", NULL);
}

void
log_debug(const char *fmt, ...)
{
	if (!log_verbose)
		return;
	LOG_VA("debug", NULL);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;

	LOG_VA("fatal", strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_VA("fatal", NULL);
	exit(1);
}

void
log_warnx_once(const char *key, const char *fmt, ...)
{
	int i;

	for (i = 0; i < ONCE_MAX && once_keys[i] != NULL; i++)
		if (strcmp(once_keys[i], key) == 0)
			return;
	if (i < ONCE_MAX)
		once_keys[i] = strdup(key);
	LOG_VA("warn", NULL);
}

bool
log_due(double *last, double now)
{
	if (*last > 0 && now - *last < 1.0)
		return false;
	*last = now;
	return true;
}
