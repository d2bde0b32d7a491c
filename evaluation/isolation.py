"""OS isolation of the sandbox server: namespaces, a private root with only the Python runtime, no capabilities.

The server is started by util-linux `unshare` in new mount, pid, network, IPC and UTS namespaces
(plus a user namespace when not root: unprivileged user namespaces give any user the same layers),
so it is pid 1 of a pid namespace holding only itself and its programs. `build_private_root` then
pivots into a fresh tmpfs in which the Python runtime (interpreter prefix, venv) and /usr are
read-only bind mounts at their usual paths, /proc is a new proc of that pid namespace, /dev holds
five harmless devices, and /tmp and /dev/shm are size-limited tmpfs mounts renewed for every
program. The checkout, data, home folders and every other process stay outside.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MS_PRIVATE, MNT_DETACH = 1 << 18, 2
# statvfs f_flag bits that a bind remount inside a user namespace must keep (the kernel locks them)
_LOCKED_FLAGS = {os.ST_NOSUID: MS_NOSUID, os.ST_NODEV: MS_NODEV, os.ST_NOEXEC: MS_NOEXEC,
                 os.ST_NOATIME: 1024, os.ST_NODIRATIME: 2048, os.ST_RELATIME: 1 << 21}
DEVICES = ("null", "zero", "full", "random", "urandom")
PR_CAPBSET_DROP, LINUX_CAPABILITY_VERSION_3 = 24, 0x20080522
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # syscall numbers (no libc wrapper)
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {source} on {target}")


def launcher(root: bool) -> list[str]:
    """The `unshare` command line that puts the server into its namespaces (`--kill-child`: the server
    dies with its launcher; the server's death, as pid 1, kills every program left in its namespace)."""
    binary = shutil.which("unshare", path="/usr/bin:/bin")
    if binary is None:
        raise RuntimeError("sandbox: util-linux `unshare` not found in /usr/bin or /bin")
    flags = ["--mount", "--pid", "--net", "--ipc", "--uts", "--fork", "--kill-child"]
    return [binary, *([] if root else ["--user", "--map-root-user"]), *flags]


@cache
def namespaces_available(root: bool) -> str | None:
    """None when this user may create the sandbox's namespaces here, else why not (one line)."""
    try:
        command = launcher(root)
    except RuntimeError as exc:
        return str(exc)
    probe = subprocess.run([*command, "/bin/true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        return f"`{' '.join(command)}` failed: {probe.stderr.strip() or probe.returncode}"
    return None


def runtime_paths(exclude: Path) -> list[Path]:
    """What the programs need to see, read-only: the interpreter's prefixes and the import path,
    except anything under `exclude` (the checkout) that is not itself a prefix (a venv inside it)."""
    prefixes = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)}
    paths = set(prefixes)
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.is_dir() and not any(path.is_relative_to(p) for p in prefixes) and not path.is_relative_to(exclude):
            paths.add(path)
    return sorted(p for p in paths if not any(p != q and p.is_relative_to(q) for q in paths))


def _bind_readonly(source: Path, target: Path) -> None:
    if source.is_dir():
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    _mount(str(source), str(target), None, MS_BIND | MS_REC)
    locked = os.statvfs(str(target)).f_flag
    keep = sum(ms for st, ms in _LOCKED_FLAGS.items() if locked & st)
    _mount(None, str(target), None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | keep)


def _system_dirs(new_root: Path) -> None:
    """/usr read-only; /bin, /lib, /lib64, /sbin as on the host (symlinks into /usr, or binds)."""
    _bind_readonly(Path("/usr"), new_root / "usr")
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        host = Path("/") / name
        if host.is_symlink():
            (new_root / name).symlink_to(os.readlink(host))
        elif host.is_dir():
            _bind_readonly(host, new_root / name)
    if Path("/etc/ld.so.cache").is_file():
        _bind_readonly(Path("/etc/ld.so.cache"), new_root / "etc/ld.so.cache")


def build_private_root(new_root: Path, exclude: Path) -> None:
    """Pivot into `new_root` (an empty directory) holding only the runtime (see the module docstring).
    Must run in fresh mount and pid namespaces, with CAP_SYS_ADMIN there."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", str(new_root), "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=1m")
    _system_dirs(new_root)
    for path in runtime_paths(exclude):
        _bind_readonly(path, new_root / path.relative_to("/"))
    (new_root / "proc").mkdir()
    _mount("proc", str(new_root / "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    dev = new_root / "dev"
    dev.mkdir()
    _mount("tmpfs", str(dev), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k")
    for name in DEVICES:
        (dev / name).touch()
        _mount(f"/dev/{name}", str(dev / name), None, MS_BIND)
    (dev / "shm").mkdir()
    (new_root / "tmp").mkdir()
    old = new_root / ".old-root"
    old.mkdir()
    if _libc.syscall(PIVOT_ROOT[os.uname().machine], str(new_root).encode(), str(old).encode()) != 0:
        raise OSError(ctypes.get_errno(), "pivot_root")
    os.chdir("/")
    if _libc.umount2(b"/.old-root", MNT_DETACH) != 0:
        raise OSError(ctypes.get_errno(), "umount old root")
    os.rmdir("/.old-root")
    _mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def fresh_scratch(size_mb: int, owner: int | None) -> None:
    """New, empty, size-limited /tmp and /dev/shm (the previous program's files and memory are freed)."""
    for target in ("/tmp", "/dev/shm"):
        _libc.umount2(target.encode(), MNT_DETACH)  # nothing mounted the first time: ignore the error
        _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={size_mb}m")
        if owner is not None:
            os.chown(target, owner, owner)


@cache
def last_capability() -> int:
    return int(Path("/proc/sys/kernel/cap_last_cap").read_text())


def drop_privileges(uid: int | None) -> None:
    """Empty the capability bounding set, switch to `uid` (when given: the server runs as real root),
    then empty every capability set: as namespace root a program may do nothing beyond what file
    permissions allow, and nothing it could exec can regain a capability."""
    last = last_capability() if os.geteuid() == 0 else -1
    for cap in range(last + 1):  # only (namespace) root holds CAP_SETPCAP and a bounding set worth emptying
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap})")
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()  # two structs of (effective, permitted, inheritable), all zero
    if _libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
