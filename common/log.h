/* One line per event to stderr: level=info daemon=proxyd msg="..." [err="..."] */
#ifndef EM_LOG_H
#define EM_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define EM_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_init(const char *daemon, int debug);
void log_setdebug(int debug);
const char *log_daemon(void);
void log_warn(const char *, ...) EM_PRINTF(1, 2); /* appends err=strerror(errno) */
void log_warnx(const char *, ...) EM_PRINTF(1, 2);
void log_info(const char *, ...) EM_PRINTF(1, 2);
void log_debug(const char *, ...) EM_PRINTF(1, 2);
void fatal(const char *, ...) EM_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *, ...) EM_PRINTF(1, 2) __attribute__((noreturn));
/* Warn only the first time this key is seen (bounded table). */
void log_warnx_once(const char *key, const char *, ...) EM_PRINTF(2, 3);
/*
 * A line repeated under load, at most once a second: true (and *last = now)
 * when a second has passed since *last (0: never logged).
 */
bool log_due(double *last, double now);
/*
 * A line that can repeat under load (every new connection to a failing
 * endpoint): the same key (the line without what differs per connection)
 * logs at most once a second.  NULL while held back (counted); else what to
 * append to the line: "" or "; N more like it held back" (in buf).  The
 * table is bounded: a key pushed out only logs again sooner.  log_repeat_at
 * takes the time (seconds, monotonic) for tests.
 */
const char *log_repeat(const char *key, char *buf, size_t len);
const char *log_repeat_at(const char *key, double now, char *buf, size_t len);
/* The same with the line as its own key (level warn). */
void log_warnx_repeat(const char *, ...) EM_PRINTF(1, 2);
/* The monotonic clock log_repeat uses, in seconds. */
double log_clock(void);
/*
 * A line about one client's connection, "HEAD CLIENT WHAT" (HEAD may be ""):
 * keyed without the client, so the same failure held back whoever the
 * client; the line logged names its client.  warn: level warn, else info.
 */
void log_client_repeat(bool warn, const char *head, const char *client, const char *fmt, ...)
    EM_PRINTF(4, 5);

#endif
