"""The sandbox's worker process: runs model-written Python programs, one at a time, each contained.

Why a long-lived server that forks: starting an interpreter per program costs ~50 ms and sympy
another second; forking a server that already imported the usual modules costs ~2 ms, so two
servers reach hundreds of short programs per second on 2 cores. Started by `evaluation.sandbox` as
`python -m evaluation.sandbox_server UID` with a scrubbed environment; speaks JSON lines on
stdin/stdout. Layers, each independent of the others:

- the server enters a new network namespace (only a down loopback) when it may (root), and a
  private mount namespace in which directories on the interpreter's path that other users cannot
  enter (e.g. /root) are replaced by an empty tmpfs that shows only the interpreter;
- each program runs in a forked child in its own session/process group, cwd a fresh private temp
  dir, with RLIMIT_CPU/AS/FSIZE/NOFILE/NPROC/CORE, an empty environment, and (when root) the uid
  of this server's sandbox user, so it can signal no other process and NPROC counts only its own;
- an audit hook in the child refuses sockets, new processes, signals, ctypes, rlimit changes and
  writes outside its directory;
- the server enforces wall time and output size and, after each program, kills every process of
  the sandbox uid (fork-bomb leftovers) and reaps them (it is the children's subreaper).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

PRELOAD = ("math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "statistics",
           "random", "re", "string", "heapq", "bisect", "operator", "json", "datetime", "typing", "traceback",
           "sympy")
for _name in PRELOAD:
    __import__(_name)

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)

BLOCKED_EVENTS = {
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
    "os.kill", "os.killpg", "signal.pthread_kill", "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function",
    "resource.setrlimit", "resource.prlimit", "os.setuid", "os.chroot", "sys.remote_exec",
}
PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod",
               "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile"}
# Primitives under the audited APIs (`_posixsubprocess.fork_exec` raises no audit event): not importable.
BLOCKED_IMPORTS = {"_posixsubprocess", "_ctypes", "ctypes", "_socket", "socket", "subprocess", "multiprocessing",
                   "_multiprocessing", "pty"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    def enc(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if _libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        raise OSError(ctypes.get_errno(), f"mount {target}")


def _hide_closed_ancestors() -> None:
    """Make the interpreter reachable for another uid: every closed directory on its path (e.g.
    /root, mode 700) becomes, in this mount namespace only, a tmpfs holding just that path."""
    needed = {Path(p).resolve() for p in (sys.base_prefix, sys.prefix, *sys.path) if p and Path(p).exists()}
    closed: dict[Path, set[str]] = {}
    for path in needed:
        for ancestor in reversed(path.parents):
            if ancestor != path and not ancestor.stat().st_mode & 0o001:
                closed.setdefault(ancestor, set()).add(path.relative_to(ancestor).parts[0])
                break
    for ancestor, children in closed.items():
        holders = {}
        for child in children:
            holders[child] = tempfile.mkdtemp(prefix="mf-bind-")
            _mount(str(ancestor / child), holders[child], None, MS_BIND | MS_REC, None)
        _mount("tmpfs", str(ancestor), "tmpfs", 0, "mode=755")
        for child, holder in holders.items():
            (ancestor / child).mkdir()
            _mount(holder, str(ancestor / child), None, MS_BIND | MS_REC, None)
            _libc.umount2(holder.encode(), MNT_DETACH)  # the holder was only a stepping stone
            os.rmdir(holder)


def setup_isolation() -> dict[str, bool]:
    """Once per server: namespaces and subreaper. Returns which layers are active."""
    active = {"net_namespace": False, "mount_namespace": False, "uid_drop": False}
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.geteuid() != 0:
        return active
    active["net_namespace"] = _libc.unshare(CLONE_NEWNET) == 0
    if _libc.unshare(CLONE_NEWNS) == 0:
        try:
            _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
            _hide_closed_ancestors()
            active["mount_namespace"] = True
        except OSError:
            pass
    active["uid_drop"] = True
    return active


def _audit_hook(workdir: str):
    def inside(path: object) -> bool:
        if isinstance(path, int):
            return True
        try:
            real = os.path.realpath(os.fsdecode(path))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
        return real == workdir or real.startswith(workdir + os.sep)

    def hook(event: str, args: tuple) -> None:
        if event == "import" and args and str(args[0]).split(".")[0] in BLOCKED_IMPORTS:
            raise ImportError(f"sandbox: import of {args[0]} is not allowed")
        if event in BLOCKED_EVENTS:
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and args:
            path, mode, flags = (list(args) + [None, None])[:3]
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS)
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the working directory")
        elif event in PATH_EVENTS and args and not all(inside(a) for a in args[:2] if isinstance(a, str | bytes)):
            raise PermissionError(f"sandbox: {event} outside the working directory")

    return hook


def _limit(kind: int, value: int) -> None:
    resource.setrlimit(kind, (value, value))


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _run_child(job: dict, workdir: str, uid: int | None, out_fd: int) -> None:
    """In the forked child: confine, then exec the program in this interpreter. Never returns."""
    try:
        os.setsid()
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.closerange(3, 1024)
        os.chdir(workdir)
        _limit(resource.RLIMIT_CORE, 0)
        resource.setrlimit(resource.RLIMIT_CPU, (job["cpu_time_s"], job["cpu_time_s"] + 1))
        _limit(resource.RLIMIT_AS, _vm_size() + job["memory_mb"] * 2**20)
        _limit(resource.RLIMIT_FSIZE, job["max_file_bytes"])
        _limit(resource.RLIMIT_NOFILE, 64)
        _limit(resource.RLIMIT_NPROC, job["max_processes"])
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"})
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.argv = ["main.py"]
        for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED_IMPORTS]:
            del sys.modules[name]  # so that importing them goes through the (blocking) import hook
        sys.addaudithook(_audit_hook(os.path.realpath(workdir)))
        code = compile(job["code"], "main.py", "exec")
    except BaseException as exc:  # noqa: BLE001 - setup failure: report and leave
        os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(120)
    status = 0
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException as exc:  # noqa: BLE001 - the program's own error, reported as its stderr
        import traceback

        # the first frame is this function's exec(): show the program's frames only
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(status)


def _kill_uid(uid: int) -> None:
    """Kill every process of `uid` (kill(-1) from a child that has become that uid), then reap."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


class UidKiller:
    """A resident helper running as the sandbox uid that, on request, kills every other process of
    that uid (Linux's kill(-1) spares the caller). Saves a fork of this large server per program;
    if a program managed to kill the helper, the one-shot `_kill_uid` is used and the helper restarted."""

    def __init__(self, uid: int):
        self.uid = uid
        self._start()

    def _start(self) -> None:
        req_r, self.req_w = os.pipe()
        self.ack_r, ack_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.req_w)
            os.close(self.ack_r)
            try:
                os.setgid(self.uid)
                os.setuid(self.uid)
                while os.read(req_r, 1):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    os.write(ack_w, b"k")
            finally:
                os._exit(0)
        os.close(req_r)
        os.close(ack_w)

    def kill_all(self) -> None:
        try:
            os.write(self.req_w, b"k")
            ok = os.read(self.ack_r, 1) == b"k"
        except OSError:
            ok = False
        if not ok:
            os.close(self.req_w)
            os.close(self.ack_r)
            _kill_uid(self.uid)
            os.waitpid(self.pid, 0)
            self._start()


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_job(job: dict, uid: int | None, killer: UidKiller | None = None) -> dict:
    """Run one program; the result says how it ended. Output beyond the limit is cut and kills it."""
    workdir = tempfile.mkdtemp(prefix="mf-sandbox-")
    if uid is not None:
        os.chown(workdir, uid, uid)
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _run_child(job, workdir, uid, write_fd)
    os.close(write_fd)
    chunks, size, reason = [], 0, None
    deadline = start + job["wall_time_s"]
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            reason = "timeout"
            break
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            continue
        data = os.read(read_fd, 65536)
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > job["max_output_bytes"]:
            reason = "output_limit"
            break
    if reason is not None:
        _killpg(pid)
    _, wait_status = os.waitpid(pid, 0)
    os.close(read_fd)
    if killer is not None:
        killer.kill_all()
    elif uid is not None:
        _kill_uid(uid)
    _reap_all()
    shutil.rmtree(workdir, ignore_errors=True)
    output = b"".join(chunks)[: job["max_output_bytes"]].decode("utf-8", errors="replace")
    return _result(wait_status, reason, output, time.monotonic() - start)


def _killpg(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _result(wait_status: int, reason: str | None, output: str, wall_s: float) -> dict:
    returncode = os.waitstatus_to_exitcode(wait_status)
    if reason is None and returncode < 0:
        sig = -returncode
        reason = "cpu_time" if sig == signal.SIGXCPU else f"signal {signal.Signals(sig).name}"
    elif reason is None and returncode != 0:
        reason = "error"
    return {"ok": reason is None, "reason": reason, "returncode": returncode, "output": output, "wall_s": wall_s}


def main() -> int:
    uid = int(sys.argv[1]) if len(sys.argv) > 1 else 60000
    active = setup_isolation()
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    protocol_in = os.fdopen(os.dup(0), encoding="utf-8")
    killer = UidKiller(uid) if active["uid_drop"] else None
    print(json.dumps({"ready": True, "isolation": active}), file=protocol_out, flush=True)
    for line in protocol_in:
        if not line.strip():
            continue
        job = json.loads(line)
        result = run_job(job, uid if active["uid_drop"] else None, killer)
        print(json.dumps(result), file=protocol_out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
