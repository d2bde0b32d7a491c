"""The seccomp filter, run on a small BPF interpreter against the rule it encodes, on random syscalls."""

from __future__ import annotations

import errno
import random

import pytest

from evaluation.seccomp import (
    AUDIT_ARCH,
    BLOCKED_SYSCALLS,
    CLONE,
    CLONE3,
    CLONE_NEW_FLAGS,
    RET_ALLOW,
    RET_KILL_PROCESS,
    X32_SYSCALL_BIT,
    filter_program,
)


def run_bpf(program: list[tuple[int, int, int, int]], data: dict[int, int]) -> int:
    """Execute classic BPF (the subset the filter uses) over 32-bit words of seccomp_data at byte offsets."""
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        if code == 0x20:  # ld [k]
            acc = data[k]
            pc += 1
        elif code in (0x15, 0x35, 0x45):  # jeq / jge / jset
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def expected(arch: str, audit_arch: int, nr: int, arg0: int) -> int:
    if audit_arch != AUDIT_ARCH[arch] or (arch == "x86_64" and nr >= X32_SYSCALL_BIT):
        return RET_KILL_PROCESS
    if nr in BLOCKED_SYSCALLS[arch].values():
        return 0x00050000 | errno.EPERM
    if nr == CLONE3:
        return 0x00050000 | errno.ENOSYS
    if nr == CLONE[arch] and arg0 & CLONE_NEW_FLAGS:
        return 0x00050000 | errno.EPERM
    return RET_ALLOW


@pytest.mark.parametrize("arch", sorted(AUDIT_ARCH))
def test_filter_matches_its_rule_on_random_syscalls(arch: str) -> None:
    rng = random.Random(0)
    program = filter_program(arch)
    assert len(program) < 4096  # the kernel's BPF_MAXINSNS
    special = [*BLOCKED_SYSCALLS[arch].values(), CLONE[arch], CLONE3, X32_SYSCALL_BIT + 1]
    for _ in range(5000):
        nr = rng.choice(special) if rng.random() < 0.5 else rng.randrange(0, 1000)
        audit = AUDIT_ARCH[arch] if rng.random() < 0.9 else rng.choice(list(AUDIT_ARCH.values()) + [0x40000003])
        arg0 = rng.choice([0x11, 0x3D0F00, rng.getrandbits(32), 0x10000000 | 0x11])  # fork, threads, random, NEWUSER
        data = {0: nr, 4: audit, 16: arg0}
        assert run_bpf(program, data) == expected(arch, audit, nr, arg0), (nr, hex(audit), hex(arg0))
