/*
 * A daemon restricts itself once it has started (after privdrop(), its
 * sockets and files open), whatever started it: a seccomp allow-list of the
 * system calls it uses and a Landlock rule set of the files it may reach.
 * Each daemon's lists sit beside its main (<daemon>/<daemon>_sandbox.c);
 * the mechanism is here.
 *
 * A call outside the list kills the process: the SIGSYS handler writes
 * "<daemon>: sandbox: forbidden system call NAME (NR)" to stderr and _exits,
 * so a missing entry is never a silent EPERM loop.  A path outside the rule
 * set fails with EACCES, which the daemon reports like any other error.
 * Landlock applies where the kernel has it (else its state is
 * "unsupported" and the daemon runs with seccomp alone).
 *
 * EDGEMESH_SANDBOX=off in the environment skips both (README: a field escape
 * hatch that leaves the daemon able to make any call and open any file its
 * user can reach).
 */
#ifndef EM_SANDBOX_H
#define EM_SANDBOX_H

#include <stddef.h>

/* What a path rule grants (the path and everything beneath it). */
enum sandbox_access {
	SANDBOX_RO = 1, /* read files, list directories */
	SANDBOX_RX = 2, /* RO and execute */
	SANDBOX_RW = 3, /* RO and create, write, remove, rename */
};

struct sandbox_path {
	const char *path; /* NULL or "" entries are skipped; a missing path too */
	enum sandbox_access access;
};

#define SANDBOX_MAX_PATHS 48

/* A daemon's lists: the base calls every daemon makes are always allowed. */
struct sandbox {
	const char *name;
	const char *const *syscalls; /* beyond sandbox_base_syscalls; NULL-terminated */
	struct sandbox_path paths[SANDBOX_MAX_PATHS];
	size_t npaths;
};

/* Calls made by the common code (loop, IPC, logs, memory, time, sockets). */
extern const char *const sandbox_base_syscalls[];

/* Add a path rule (dropped with a warning once SANDBOX_MAX_PATHS are in). */
void sandbox_add(struct sandbox *, const char *path, enum sandbox_access);
/* Add the directory holding path (config files, kube credentials). */
void sandbox_add_dir_of(struct sandbox *, const char *path, enum sandbox_access);
/* Paths every daemon reads: /proc/self, /dev/null, /dev/urandom, NSS files, libraries. */
void sandbox_add_base(struct sandbox *);

/*
 * What every daemon reaches: sandbox_add_base(), its runtime dir and its
 * state dir (read-write).  The config file and the PSK are read before the
 * sandbox is applied and never again, so they get no rule.
 */
struct em_daemon;
void sandbox_add_daemon(struct sandbox *, const struct em_daemon *);

/*
 * Apply both: Landlock first (when supported), then seccomp.  0 on success
 * or when EDGEMESH_SANDBOX=off; -1 with a message in err.
 */
int sandbox_apply(const struct sandbox *, char *err, size_t errlen);

/* "on", "unsupported", "off" (not applied or EDGEMESH_SANDBOX=off). */
const char *sandbox_landlock_state(void);
/* 1 when EDGEMESH_SANDBOX=off */
int sandbox_disabled(void);

#endif
