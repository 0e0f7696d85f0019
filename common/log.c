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

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit("warn", strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("warn", NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("info", NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_emit("debug", NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_emit("fatal", strerror(saved), fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit("fatal", NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_warnx_once(const char *key, const char *fmt, ...)
{
	va_list ap;
	int i;

	for (i = 0; i < ONCE_MAX && once_keys[i] != NULL; i++)
		if (strcmp(once_keys[i], key) == 0)
			return;
	if (i < ONCE_MAX)
		once_keys[i] = strdup(key);
	va_start(ap, fmt);
	log_emit("warn", NULL, fmt, ap);
	va_end(ap);
}

bool
log_due(double *last, double now)
{
	if (*last > 0 && now - *last < 1.0)
		return false;
	*last = now;
	return true;
}
