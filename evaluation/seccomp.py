"""A seccomp filter for sandboxed programs: the kernel refuses the syscalls that reach outside a container.

Why a hand-built BPF program: the filter is ~70 instructions, libseccomp is not guaranteed on every
machine, and the Python bindings are not on PyPI. Refused with EPERM: ptrace and cross-process memory
access, mount/pivot_root/chroot and the new mount API, namespace changes (unshare, setns, clone with a
CLONE_NEW* flag), keyrings, bpf, perf, modules, kexec, swap, reboot, io_uring, userfaultfd, clock and
host-name changes. `clone3` answers ENOSYS (its flags live in memory a filter cannot read), so libc
falls back to `clone`, whose flags the filter checks. Another architecture's syscall ABI (x32, i386
on x86_64) kills the process.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct
from functools import cache

# struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]
_NR, _ARCH, _ARG0_LOW = 0, 4, 16
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
# Numbers from the kernel headers (asm/unistd_64.h for x86_64, asm-generic/unistd.h for aarch64).
_NAMES = ("ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp mount umount2 pivot_root chroot "
          "open_tree move_mount fsopen fsconfig fsmount fspick mount_setattr unshare setns keyctl add_key "
          "request_key bpf perf_event_open kexec_load kexec_file_load init_module finit_module delete_module "
          "swapon swapoff reboot open_by_handle_at name_to_handle_at userfaultfd fanotify_init io_uring_setup "
          "io_uring_enter io_uring_register acct syslog sethostname setdomainname settimeofday clock_settime "
          "adjtimex quotactl").split()
_NUMBERS = {
    "x86_64": (101, 310, 311, 438, 312, 165, 166, 155, 161, 428, 429, 430, 431, 432, 433, 442, 272, 308, 250, 248,
               249, 321, 298, 246, 320, 175, 313, 176, 167, 168, 169, 304, 303, 323, 300, 425, 426, 427, 163, 103,
               170, 171, 164, 227, 159, 179),
    "aarch64": (117, 270, 271, 438, 272, 40, 39, 41, 51, 428, 429, 430, 431, 432, 433, 442, 97, 268, 219, 217,
                218, 280, 241, 104, 294, 105, 273, 106, 224, 225, 142, 265, 264, 282, 262, 425, 426, 427, 89, 116,
                161, 162, 170, 112, 171, 60),
}
BLOCKED_SYSCALLS = {arch: dict(zip(_NAMES, numbers, strict=True)) for arch, numbers in _NUMBERS.items()}
CLONE = {"x86_64": 56, "aarch64": 220}
CLONE3 = 435
X32_SYSCALL_BIT = 0x40000000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET | NEWTIME
CLONE_NEW_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
RET_ALLOW, RET_KILL_PROCESS = 0x7FFF0000, 0x80000000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def _ret_errno(code: int) -> int:
    return 0x00050000 | code  # SECCOMP_RET_ERRNO | errno


def filter_program(arch: str) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) instructions for `arch` (a key of AUDIT_ARCH)."""
    prog = [(_LD_W_ABS, 0, 0, _ARCH), (_JEQ, 1, 0, AUDIT_ARCH[arch]), (_RET, 0, 0, RET_KILL_PROCESS),
            (_LD_W_ABS, 0, 0, _NR)]
    if arch == "x86_64":
        prog += [(_JGE, 0, 1, X32_SYSCALL_BIT), (_RET, 0, 0, RET_KILL_PROCESS)]
    for number in BLOCKED_SYSCALLS[arch].values():
        prog += [(_JEQ, 0, 1, number), (_RET, 0, 0, _ret_errno(errno.EPERM))]
    prog += [(_JEQ, 0, 1, CLONE3), (_RET, 0, 0, _ret_errno(errno.ENOSYS))]
    # clone: refuse new namespaces (flags are args[0]; the low 32 bits hold every CLONE_NEW* flag)
    prog += [(_JEQ, 0, 3, CLONE[arch]), (_LD_W_ABS, 0, 0, _ARG0_LOW), (_JSET, 0, 1, CLONE_NEW_FLAGS),
             (_RET, 0, 0, _ret_errno(errno.EPERM))]
    prog.append((_RET, 0, 0, RET_ALLOW))
    return prog


def machine_arch() -> str | None:
    """This machine's architecture if the filter knows its syscall table, else None."""
    arch = platform.machine()
    return arch if arch in AUDIT_ARCH else None


@cache
def packed_filter(arch: str) -> tuple[bytes, int]:
    instructions = filter_program(arch)
    return b"".join(struct.pack("=HBBI", *ins) for ins in instructions), len(instructions)


def install_filter(arch: str) -> None:
    """Set no_new_privs and load the filter into this process (inherited by its children; irreversible)."""
    libc = ctypes.CDLL(None, use_errno=True)
    raw, count = packed_filter(arch)
    buffer = ctypes.create_string_buffer(raw, len(raw))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(count, ctypes.addressof(buffer))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
