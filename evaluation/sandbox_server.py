"""The sandbox's worker process: runs model-written Python programs, one at a time, each contained.

Why a long-lived server that forks: starting an interpreter per program costs ~50 ms and sympy
another second; forking a server that already imported the usual modules costs ~2 ms, so two
servers reach hundreds of short programs per second on 2 cores. Started by `evaluation.sandbox`
through `unshare` (see `evaluation.isolation`) as `python -m evaluation.sandbox_server UID ROOT
CHECKOUT` with a scrubbed environment; speaks JSON lines on stdin/stdout. Layers, outermost first:

- namespaces: the server is pid 1 of its own pid namespace, with its own mount, network (a down
  loopback only), IPC and UTS namespaces, inside a user namespace when not started as root;
- a private root (`isolation.build_private_root`): only /usr and the Python runtime, read-only;
  a /proc of the namespace; /tmp and /dev/shm size-limited tmpfs, renewed for every program;
- each program runs in a forked child in its own session, cwd /tmp, with RLIMIT_CPU/AS/FSIZE/
  NOFILE/NPROC/CORE, an empty environment, a fresh `__main__`, no capabilities (and, when the server
  is real root, its own uid), no_new_privs and a seccomp filter (`evaluation.seccomp`);
- an audit hook in the child refuses sockets, new processes, signals, ctypes, rlimit changes and
  writes outside /tmp: defence in depth only, since Python code can switch it off;
- program output is turned into LaTeX (sympy on hostile text) the same way, in a confined child;
- the server enforces wall time and output size and, after each program, kills every other
  process of its pid namespace (kill(-1) from pid 1) and reaps them.
Without namespaces (only when the config allows the weaker mode) the last three layers remain.
"""

from __future__ import annotations

import builtins
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
import types
from dataclasses import dataclass
from pathlib import Path

from evaluation.isolation import build_private_root, drop_privileges, fresh_scratch, last_capability
from evaluation.programs import python_output_to_latex
from evaluation.seccomp import install_filter, machine_arch, packed_filter

PRELOAD = ("math", "cmath", "fractions", "decimal", "itertools", "functools", "collections", "statistics",
           "random", "re", "string", "heapq", "bisect", "operator", "json", "datetime", "typing", "traceback",
           "sympy")
for _name in PRELOAD:
    __import__(_name)
python_output_to_latex("[sqrt(2)/2, factorial(3)]")  # warm sympy's lazily imported printers once, not per fork

PR_SET_CHILD_SUBREAPER, PR_SET_DUMPABLE = 36, 4
_libc = ctypes.CDLL(None, use_errno=True)

BLOCKED_EVENTS = frozenset({
    "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "socket.sendto",
    "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
    "os.kill", "os.killpg", "signal.pthread_kill", "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function",
    "resource.setrlimit", "resource.prlimit", "os.setuid", "os.chroot", "sys.remote_exec",
})
PATH_EVENTS = frozenset({"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod",
                         "os.chown", "os.truncate", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile"})
# Primitives under the audited APIs (`_posixsubprocess.fork_exec` raises no audit event): not importable.
BLOCKED_IMPORTS = frozenset({"_posixsubprocess", "_ctypes", "ctypes", "_socket", "socket", "subprocess",
                             "multiprocessing", "_multiprocessing", "pty"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@dataclass(frozen=True)
class Context:
    """How this server isolates: `namespaced` (pid 1 of its namespaces, private root), `uid` (the
    programs' uid when the server is real root, else None), `seccomp_arch` (None: no filter)."""

    namespaced: bool
    uid: int | None
    seccomp_arch: str | None


def setup_isolation(uid: int, new_root: str, checkout: str) -> tuple[Context, dict[str, bool]]:
    """Once per server; returns the context and which layers are active (for every report)."""
    namespaced = os.getpid() == 1  # started by `unshare --pid --fork`
    user_namespace = Path("/proc/self/uid_map").read_text().split()[2] != "4294967295"  # not the whole range
    if namespaced:
        build_private_root(Path(new_root), Path(checkout))
    else:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # programs of the same uid may not ptrace or read our memory
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # pid 1 ignores default-action signals from its namespace
    ctx = Context(namespaced, uid if os.geteuid() == 0 and not user_namespace else None, machine_arch())
    if ctx.seccomp_arch is not None:
        packed_filter(ctx.seccomp_arch)  # built once here, not in every forked program
    last_capability()
    active = {"user_namespace": user_namespace, **dict.fromkeys(
        ("mount_namespace", "pid_namespace", "net_namespace", "ipc_namespace", "private_root"), namespaced),
        "seccomp": ctx.seccomp_arch is not None, "no_capabilities": True, "uid_drop": ctx.uid is not None}
    return ctx, active


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


def _confine(job: dict, workdir: str, ctx: Context, out_fd: int) -> None:
    """In a forked child: own session, output to the pipe, limits, no privileges, seccomp."""
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
    drop_privileges(ctx.uid)
    if ctx.seccomp_arch is not None:
        install_filter(ctx.seccomp_arch)


def _convert_child(job: dict, workdir: str, ctx: Context, out_fd: int) -> None:
    """In the forked child: a program's printed output to LaTeX (sympy on hostile text), as JSON."""
    try:
        _confine(job, workdir, ctx, out_fd)
        os.write(1, json.dumps(python_output_to_latex(job["text"])).encode())
    finally:
        os._exit(0)


def _run_child(job: dict, workdir: str, ctx: Context, out_fd: int) -> None:
    """In the forked child: confine, then exec the program in this interpreter. Never returns."""
    try:
        _confine(job, workdir, ctx, out_fd)
        os.environ.clear()
        os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"})
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.argv = ["main.py"]
        main_module = types.ModuleType("__main__")  # `import __main__` must not reach this server
        main_module.__builtins__ = builtins  # type: ignore[attr-defined]
        sys.modules["__main__"] = main_module
        for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED_IMPORTS]:
            del sys.modules[name]  # so that importing them goes through the (blocking) import hook
        sys.addaudithook(_audit_hook(os.path.realpath(workdir)))
        code = compile(job["code"], "main.py", "exec")
    except BaseException as exc:  # noqa: BLE001 - setup failure: report and leave
        os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
        os._exit(120)
    status = 0
    try:
        exec(code, main_module.__dict__)
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


def _reap(block: bool) -> None:
    """Wait for every child (blocking: after kill(-1) all of them are dying) or only the finished ones."""
    while True:
        try:
            pid, _ = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _end_all(pid: int, ctx: Context) -> None:
    """Kill what the program left behind: as pid 1, every process of the namespace (kill(-1) spares
    only the caller); without namespaces, its process group (a setsid'd grandchild may escape)."""
    if ctx.namespaced:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap(block=True)
    else:
        _killpg(pid)
        _reap(block=False)


def run_job(job: dict, ctx: Context) -> dict:
    """Run one program (or, for kind "latex", one output conversion); the result says how it ended.
    Output beyond the limit is cut and kills it."""
    if ctx.namespaced:
        fresh_scratch(job["tmp_mb"], ctx.uid)
        workdir = "/tmp"
    else:
        workdir = tempfile.mkdtemp(prefix="mf-sandbox-")
        if ctx.uid is not None:
            os.chown(workdir, ctx.uid, ctx.uid)
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        (_convert_child if job.get("kind") == "latex" else _run_child)(job, workdir, ctx, write_fd)
    os.close(write_fd)
    output, reason = _collect(read_fd, os.pidfd_open(pid), start + job["wall_time_s"], job["max_output_bytes"])
    if reason is not None:
        _killpg(pid)
    _, wait_status = os.waitpid(pid, 0)
    _end_all(pid, ctx)
    if not ctx.namespaced:
        shutil.rmtree(workdir, ignore_errors=True)
    return _result(wait_status, reason, output, time.monotonic() - start)


def _collect(read_fd: int, pid_fd: int, deadline: float, limit: int) -> tuple[str, str | None]:
    """Read the program's output until it exits (what its leftover children still write is not
    waited for), the deadline passes ("timeout") or the output passes `limit` ("output_limit")."""
    chunks, size, reason, exited = [], 0, None, False
    while True:
        wait = 0.0 if exited else deadline - time.monotonic()
        if wait < 0:
            reason = "timeout"
            break
        ready, _, _ = select.select([read_fd] if exited else [read_fd, pid_fd], [], [], wait)
        if not ready and exited:
            break
        if read_fd not in ready:
            exited = exited or pid_fd in ready  # then drain what is already in the pipe and stop
            continue
        data = os.read(read_fd, 65536)
        if not data:
            break
        chunks.append(data)
        size += len(data)
        if size > limit:
            reason = "output_limit"
            break
    os.close(read_fd)
    os.close(pid_fd)
    return b"".join(chunks)[:limit].decode("utf-8", errors="replace"), reason


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
    uid, new_root, checkout = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    protocol_in = os.fdopen(os.dup(0), encoding="utf-8")
    try:
        ctx, active = setup_isolation(uid, new_root, checkout)
    except OSError as exc:
        print(json.dumps({"ready": False, "error": f"isolation setup failed: {exc}"}), file=protocol_out, flush=True)
        return 1
    print(json.dumps({"ready": True, "isolation": active}), file=protocol_out, flush=True)
    for line in protocol_in:
        if not line.strip():
            continue
        print(json.dumps(run_job(json.loads(line), ctx)), file=protocol_out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
