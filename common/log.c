#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *log_name = "edgemesh";
static int log_verbose;

#define ONCE_MAX 64
static char *once_keys[ONCE_MAX];

#define REPEAT_MAX    32  /* keys followed at once */
#define REPEAT_KEYLEN 160 /* longer keys compare on this much */
static struct {
	char key[REPEAT_KEYLEN];
	double last; /* logged then; 0: free */
	unsigned long long held;
} repeats[REPEAT_MAX];

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

/* Quote a message (msg, then tail when not NULL) so a line stays one logfmt
 * record; err (may be NULL) follows it. */
static void
log_emit_text(const char *level, const char *msg, const char *tail, const char *err)
{
	char line[2300];
	size_t n = 0;
	const char *p;
	int part;

	n = (size_t)snprintf(line, sizeof(line), "level=%s daemon=%s msg=\"", level, log_name);
	for (part = 0; part < 2; part++) {
		p = part == 0 ? msg : tail;
		for (; p != NULL && *p != '\0' && n < sizeof(line) - 8; p++) {
			if (*p == '"' || *p == '\\')
				line[n++] = '\\';
			line[n++] = (*p == '\n' || *p == '\r') ? ' ' : *p;
		}
	}
	line[n++] = '"';
	line[n] = '\0';
	if (err != NULL)
		snprintf(line + n, sizeof(line) - n, " err=\"%s\"", err);
	fprintf(stderr, "%s\n", line);
}

static void
log_emit(const char *level, const char *err, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit_text(level, msg, NULL, err);
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

const char *
log_repeat_at(const char *key, double now, char *buf, size_t len)
{
	int i, slot = 0;

	for (i = 0; i < REPEAT_MAX; i++) {
		if (repeats[i].last > 0 && strncmp(repeats[i].key, key, REPEAT_KEYLEN - 1) == 0)
			break;
		if (repeats[i].last < repeats[slot].last)
			slot = i; /* free, or logged longest ago: taken for a new key */
	}
	buf[0] = '\0';
	if (i < REPEAT_MAX) {
		if (!log_due(&repeats[i].last, now)) {
			repeats[i].held++;
			return NULL;
		}
		if (repeats[i].held > 0)
			snprintf(buf, len, "; %llu more like it held back", repeats[i].held);
		slot = i;
	}
	snprintf(repeats[slot].key, REPEAT_KEYLEN, "%s", key);
	repeats[slot].last = now > 0 ? now : 1e-9;
	repeats[slot].held = 0;
	return buf;
}

double
log_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *
log_repeat(const char *key, char *buf, size_t len)
{
	return log_repeat_at(key, log_clock(), buf, len);
}

void
log_warnx_repeat(const char *fmt, ...)
{
	char msg[1024], more[64];
	const char *m;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if ((m = log_repeat(msg, more, sizeof(more))) != NULL)
		log_emit_text("warn", msg, m, NULL);
}

void
log_client_repeat(bool warn, const char *head, const char *client, const char *fmt, ...)
{
	char what[768], key[900], line[1024], more[64];
	const char *m, *sp = head[0] != '\0' ? " " : "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(key, sizeof(key), "%s%s%s", head, sp, what);
	if ((m = log_repeat(key, more, sizeof(more))) == NULL)
		return;
	snprintf(line, sizeof(line), "%s%s%s %s", head, sp, client, what);
	log_emit_text(warn ? "warn" : "info", line, m, NULL);
}
