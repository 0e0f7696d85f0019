/*
 * The sandbox mechanism (sandbox.h): Landlock through its raw system calls,
 * seccomp through libseccomp with SCMP_ACT_TRAP, and a SIGSYS handler that
 * names the forbidden call and ends the process.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/landlock.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "sandbox.h"

/* after ev.h (daemon.h): seccomp.h pulls elf.h, whose EV_NONE macro would break ev.h */
#include <seccomp.h>

#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif

#define LL_FILE                                                                                    \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                              \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)
#define LL_RO (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_RW                                                                                      \
	(LL_RO | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                   \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR |                            \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |                              \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM | LANDLOCK_ACCESS_FS_REFER |   \
	 LANDLOCK_ACCESS_FS_TRUNCATE)
#define LL_ALL                                                                                     \
	(LL_RW | LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_CHAR |                       \
	 LANDLOCK_ACCESS_FS_MAKE_BLOCK)

/*
 * What the common code calls: libev (epoll, signalfd, eventfd, timers), the
 * IPC (unix sockets with fds), logs, sodium_malloc (mlock, mprotect),
 * glibc's own start-up, stdio, time, and the socket calls every daemon makes.
 */
const char *const sandbox_base_syscalls[] = {
    /* memory */
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mlock", "munlock", "mlock2",
    "membarrier",
    /* files and fds */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "close", "close_range", "stat", "fstat", "lstat",
    "newfstatat", "statx", "fstatfs", "statfs", "lseek", "access", "faccessat", "faccessat2",
    "getdents", "getdents64", "readlink", "readlinkat", "fcntl", "dup", "dup2", "dup3", "pipe",
    "pipe2", "ftruncate", "fsync", "fdatasync", "rename", "renameat", "renameat2", "unlink",
    "unlinkat", "mkdir", "mkdirat", "fchmod", "chmod", "fchmodat", "flock", "ioctl", "umask",
    "getcwd", "fadvise64", "sendfile", "splice", "tee", "copy_file_range", "memfd_create",
    /* events */
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "poll", "ppoll", "select", "pselect6", "eventfd", "eventfd2", "signalfd", "signalfd4",
    "timerfd_create", "timerfd_settime", "timerfd_gettime", "inotify_init1", "inotify_add_watch",
    "inotify_rm_watch",
    /* signals */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
    "rt_sigsuspend", "sigaltstack", "kill", "tgkill", "tkill", "restart_syscall", "alarm",
    /* time */
    "clock_gettime", "clock_getres", "gettimeofday", "time", "nanosleep", "clock_nanosleep",
    /* process */
    "getpid", "getppid", "gettid", "getuid", "geteuid", "getgid", "getegid", "getresuid",
    "getresgid", "getgroups", "getrlimit", "prlimit64", "getrusage", "uname", "sched_yield",
    "sched_getaffinity", "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq",
    "set_tid_address", "exit", "exit_group", "prctl", "arch_prctl", "getrandom", "sysinfo",
    "capget", "getpgrp", "getpgid", "getsid", "getpriority",
    /* sockets */
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname",
    "getpeername", "setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg",
    "sendmmsg", "recvmmsg", "shutdown", NULL};

/*
 * A sanitizer build (make SAN=1, development only) also lets LeakSanitizer
 * stop the world at exit: a tracer thread that ptraces the others.
 */
#if defined(__SANITIZE_ADDRESS__)
static const char *const sb_san_syscalls[] = {
    "clone", "clone3", "ptrace", "wait4", "waitid", "sched_getaffinity", NULL};
#else
static const char *const sb_san_syscalls[] = {NULL};
#endif

static char sb_name[32] = "edgemesh";
static const char *sb_state = "off";
static long sb_abi; /* the kernel's Landlock ABI version */
/* syscall names for the SIGSYS handler, resolved before the filter is loaded */
#define SB_NR_MAX 512
static char sb_names[SB_NR_MAX][28];

int
sandbox_disabled(void)
{
	const char *e = getenv("EDGEMESH_SANDBOX");

	return e != NULL && (strcmp(e, "off") == 0 || strcmp(e, "0") == 0);
}

const char *
sandbox_landlock_state(void)
{
	return sb_state;
}

void
sandbox_add(struct sandbox *sb, const char *path, enum sandbox_access a)
{
	if (path == NULL || path[0] == '\0')
		return;
	if (sb->npaths == SANDBOX_MAX_PATHS) {
		log_warnx("sandbox: more than %d paths; %s left out", SANDBOX_MAX_PATHS, path);
		return;
	}
	sb->paths[sb->npaths].path = path;
	sb->paths[sb->npaths].access = a;
	sb->npaths++;
}

void
sandbox_add_dir_of(struct sandbox *sb, const char *path, enum sandbox_access a)
{
	/* a few static slots: the strings must outlive sandbox_apply() */
	static char dirs[16][256];
	static size_t n;
	const char *slash;

	if (path == NULL || path[0] == '\0' || n == 16)
		return;
	if ((slash = strrchr(path, '/')) == NULL) {
		sandbox_add(sb, ".", a);
		return;
	}
	snprintf(dirs[n], sizeof(dirs[n]), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	sandbox_add(sb, dirs[n++], a);
}

void
sandbox_add_base(struct sandbox *sb)
{
	static const char *const ro[] = {
	    "/proc/self", "/dev/urandom", "/dev/random", "/etc/passwd", "/etc/group",
	    "/etc/nsswitch.conf", "/etc/hosts", "/etc/host.conf", "/etc/gai.conf", "/etc/localtime",
	    "/usr/share/zoneinfo",
	    /* lazily loaded (NSS modules); those already mapped need nothing */
	    "/usr/lib", "/lib", "/lib64", NULL};
	size_t i;

	for (i = 0; ro[i] != NULL; i++)
		sandbox_add(sb, ro[i], SANDBOX_RO);
	sandbox_add(sb, "/dev/null", SANDBOX_RW);
}

void
sandbox_add_daemon(struct sandbox *sb, const struct em_daemon *d)
{
	sandbox_add_base(sb);
	sandbox_add(sb, d->cfg.runtime_dir, SANDBOX_RW);
	sandbox_add(sb, d->cfg.state_dir, SANDBOX_RW);
	/* the config file is read once, before; a daemon that reloads it
	 * (cfgwatch.c) reads its directory again (editors and ConfigMaps
	 * replace the file, so a rule on the file itself would not follow) */
	if (d->on_config != NULL)
		sandbox_add_dir_of(sb, d->cfg.path, SANDBOX_RO);
}

static void
sb_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[200], num[16], *p = num + sizeof(num);
	const char *name = "?";
	int nr = si->si_syscall;
	size_t n;

	(void)sig;
	(void)uc;
	if (nr >= 0 && nr < SB_NR_MAX && sb_names[nr][0] != '\0')
		name = sb_names[nr];
	/* no stdio here: build the line by hand */
	do {
		*--p = (char)('0' + (nr < 0 ? 0 : nr) % 10);
		nr /= 10;
	} while (nr > 0);
	n = 0;
#define SB_CAT(s)                                                                                  \
	do {                                                                                       \
		const char *s_ = (s);                                                              \
		while (*s_ != '\0' && n < sizeof(msg) - 2)                                         \
			msg[n++] = *s_++;                                                          \
	} while (0)
	SB_CAT("level=fatal daemon=");
	SB_CAT(sb_name);
	SB_CAT(" msg=\"sandbox: forbidden system call ");
	SB_CAT(name);
	SB_CAT(" (");
	msg[n] = '\0';
	{
		char tmp[sizeof(num) + 1];
		size_t k = (size_t)(num + sizeof(num) - p);

		memcpy(tmp, p, k);
		tmp[k] = '\0';
		SB_CAT(tmp);
	}
	SB_CAT("); the process ends (EDGEMESH_SANDBOX=off lifts the sandbox)\"\n");
#undef SB_CAT
	if (write(2, msg, n) == -1) {
		/* nothing left to do */
	}
	_exit(128 + SIGSYS);
}

static int
sb_landlock(const struct sandbox *sb, char *err, size_t errlen)
{
	struct landlock_ruleset_attr attr;
	struct landlock_path_beneath_attr pb;
	struct stat st;
	uint64_t handled, want;
	long abi;
	size_t i;
	int rfd, pfd;

	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		sb_state = "unsupported";
		log_info("sandbox: Landlock unsupported by this kernel (%s); seccomp only",
			 strerror(errno));
		return 0;
	}
	handled = LL_ALL & ~(LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE);
	if (abi >= 2)
		handled |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		handled |= LANDLOCK_ACCESS_FS_TRUNCATE;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = handled;
	if ((rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0)) == -1) {
		snprintf(err, errlen, "landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < sb->npaths; i++) {
		const char *path = sb->paths[i].path;

		if ((pfd = open(path, O_PATH | O_CLOEXEC)) == -1) {
			log_debug("sandbox: %s: %s; no rule", path, strerror(errno));
			continue;
		}
		want = sb->paths[i].access == SANDBOX_RW   ? LL_RW
		       : sb->paths[i].access == SANDBOX_RX ? LL_RO | LANDLOCK_ACCESS_FS_EXECUTE
							   : LL_RO;
		if (fstat(pfd, &st) == 0 && !S_ISDIR(st.st_mode))
			want &= LL_FILE;
		memset(&pb, 0, sizeof(pb));
		pb.allowed_access = want & handled;
		pb.parent_fd = pfd;
		if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) == -1) {
			snprintf(err, errlen, "landlock_add_rule %s: %s", path, strerror(errno));
			close(pfd);
			close(rfd);
			return -1;
		}
		close(pfd);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    syscall(SYS_landlock_restrict_self, rfd, 0) == -1) {
		snprintf(err, errlen, "landlock_restrict_self: %s", strerror(errno));
		close(rfd);
		return -1;
	}
	close(rfd);
	sb_abi = abi;
	sb_state = "on";
	return 0;
}

static int
sb_allow(scmp_filter_ctx ctx, const char *const *list, char *err, size_t errlen)
{
	int nr, rc;

	for (; list != NULL && *list != NULL; list++) {
		/* a call this architecture does not have (open on arm64) is skipped */
		if ((nr = seccomp_syscall_resolve_name(*list)) == __NR_SCMP_ERROR)
			continue;
		if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) < 0) {
			snprintf(err, errlen, "seccomp_rule_add %s: %s", *list, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static int
sb_seccomp(const struct sandbox *sb, char *err, size_t errlen)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	char *s;
	int nr, rc;

	for (nr = 0; nr < SB_NR_MAX; nr++) {
		if ((s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr)) != NULL) {
			snprintf(sb_names[nr], sizeof(sb_names[nr]), "%s", s);
			free(s);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sb_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) == -1) {
		snprintf(err, errlen, "sigaction SIGSYS: %s", strerror(errno));
		return -1;
	}
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL) {
		snprintf(err, errlen, "seccomp_init failed");
		return -1;
	}
	/* a call made through another ABI (x32, i386) ends the process outright */
	seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (sb_allow(ctx, sandbox_base_syscalls, err, errlen) == -1 ||
	    sb_allow(ctx, sb->syscalls, err, errlen) == -1 ||
	    sb_allow(ctx, sb_san_syscalls, err, errlen) == -1)
		goto fail;
	if ((rc = seccomp_load(ctx)) < 0) {
		snprintf(err, errlen, "seccomp_load: %s", strerror(-rc));
		goto fail;
	}
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

int
sandbox_apply(const struct sandbox *sb, char *err, size_t errlen)
{
	snprintf(sb_name, sizeof(sb_name), "%s", sb->name);
	if (sandbox_disabled()) {
		log_warnx("sandbox: off (EDGEMESH_SANDBOX=off): any system call and any file this "
			  "user can reach are allowed");
		return 0;
	}
	if (sb_landlock(sb, err, errlen) == -1 || sb_seccomp(sb, err, errlen) == -1)
		return -1;
	log_debug("sandbox: seccomp on, Landlock %s (ABI %ld), %zu path rules", sb_state, sb_abi,
		  sb->npaths);
	return 0;
}
