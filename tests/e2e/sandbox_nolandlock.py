#!/usr/bin/env python3
"""Run a program as on a kernel without Landlock: a seccomp filter (through
libseccomp) makes landlock_create_ruleset fail with ENOSYS, as old kernels
do; everything else is allowed.  Used by tests/e2e/test_sandbox.sh to show a
daemon's sandbox saying "unsupported" and going on with seccomp alone.

    sandbox_nolandlock.py PROGRAM ARGS...
"""
import ctypes
import errno
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
    sys.exit("prctl: %s" % os.strerror(ctypes.get_errno()))
seccomp = ctypes.CDLL("libseccomp.so.2")
seccomp.seccomp_init.restype = ctypes.c_void_p
seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
seccomp.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000 | errno.ENOSYS
ctx = seccomp.seccomp_init(SCMP_ACT_ALLOW)
nr = seccomp.seccomp_syscall_resolve_name(b"landlock_create_ruleset")
if not ctx or nr < 0 or seccomp.seccomp_rule_add(ctx, SCMP_ACT_ERRNO, nr, 0) != 0 \
        or seccomp.seccomp_load(ctx) != 0:
    sys.exit("cannot load the filter")
os.execv(sys.argv[1], sys.argv[1:])
