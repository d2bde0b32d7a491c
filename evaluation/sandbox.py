"""Run model-written Python (PoT programs, tool calls) without trusting it.

`SandboxPool` keeps `workers` server processes (`evaluation.sandbox_server`, which documents the
isolation layers) and hands each program to a free one; the evaluation process only ever talks
JSON to them, so a program that crashes, hangs or floods output costs a result marked not-ok, never
the evaluation. A server that dies is restarted. Use as a context manager.

Each server runs in its own namespaces, root or not (`evaluation.isolation`). Where the kernel
refuses them, the pool refuses to start unless `allow_weak_isolation` is set, and then says so in
one log line: rlimits, seccomp and the audit hook remain, but files, /proc and the network are shared.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from evaluation.isolation import launcher, namespaces_available
from mathforge.log import get_logger

log = get_logger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SandboxConfig:
    """Limits for one program. `memory_mb` is address space on top of the (forked) server's own."""

    workers: int = 2
    cpu_time_s: int = 5
    wall_time_s: float = 10.0
    memory_mb: int = 512
    max_output_bytes: int = 65536
    max_file_bytes: int = 1 << 20
    max_processes: int = 16  # RLIMIT_NPROC for the sandbox uid (counts threads too)
    base_uid: int = 100000  # sandbox uids are drawn from [base_uid, base_uid + 65536) (when started as root)
    tmp_mb: int = 64  # size of each program's private /tmp (its working directory) and of /dev/shm
    # Run model code even where namespaces are refused (rlimits + seccomp + audit hook only): never for RL.
    allow_weak_isolation: bool = False


@dataclass(frozen=True)
class SandboxResult:
    """How a program ended. `reason` is None when it exited 0, else timeout / cpu_time / output_limit /
    error (non-zero exit, e.g. an exception) / signal NAME / sandbox (the server itself failed)."""

    ok: bool
    output: str
    reason: str | None
    returncode: int
    wall_s: float


class IsolationError(RuntimeError):
    """The OS cannot isolate model code here and the config does not allow the weaker mode."""


def server_launcher(cfg: SandboxConfig) -> list[str]:
    """The namespace launcher for the servers, or [] for the weak mode (when allowed; else an error)."""
    root = os.geteuid() == 0
    refused = namespaces_available(root)
    if refused is None:
        return launcher(root)
    if not cfg.allow_weak_isolation:
        raise IsolationError(f"sandbox: refusing to run model code without namespaces ({refused}); "
                             "set sandbox.allow_weak_isolation=true to accept rlimits + seccomp + audit hook only")
    log.warning("sandbox: WEAK isolation, no namespaces (%s): files, /proc and network are visible", refused)
    return []


class _Server:
    def __init__(self, uid: int, prefix: list[str]):
        self.uid = uid
        self.root_dir = tempfile.mkdtemp(prefix="mf-sandbox-root-")  # the mount point of its private root
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONPATH": str(REPO_ROOT)}  # no inherited secrets
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "evaluation.sandbox_server", str(uid), self.root_dir, str(REPO_ROOT)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
            cwd=str(REPO_ROOT), start_new_session=True,
        )
        hello = json.loads(self.proc.stdout.readline() or "{}")  # type: ignore[union-attr]
        if not hello.get("ready"):
            self.close()
            raise RuntimeError(f"sandbox server failed to start: {hello.get('error', 'no answer')}")
        self.isolation: dict[str, bool] = hello["isolation"]

    def run(self, job: dict) -> dict:
        self.proc.stdin.write(json.dumps(job) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("sandbox server died")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        Path(self.root_dir).rmdir()


_pools_started = itertools.count()


def _allocate_uids(base: int, workers: int) -> list[int]:
    """A block of uids for one pool. Each server kills every process of its uid after each program,
    so two live pools must not share one: blocks differ by process id and by pool within a process."""
    slot = (os.getpid() * 64 + next(_pools_started)) % 4096
    return [base + slot * 16 + i for i in range(workers)]


class SandboxPool:
    """`run(code)` / `run_many(codes)` -> SandboxResult(s), on `cfg.workers` sandbox servers."""

    def __init__(self, cfg: SandboxConfig | None = None):
        self.cfg = cfg or SandboxConfig()
        self._free: queue.Queue[_Server] = queue.Queue()
        self._lock = threading.Lock()
        if not 1 <= self.cfg.workers <= 16:
            raise ValueError(f"sandbox workers must be 1..16, got {self.cfg.workers}")
        self.uids = _allocate_uids(self.cfg.base_uid, self.cfg.workers)
        self._launcher = server_launcher(self.cfg)
        self._servers = [_Server(uid, self._launcher) for uid in self.uids]
        for server in self._servers:
            self._free.put(server)
        self._threads = ThreadPoolExecutor(max_workers=self.cfg.workers)
        self.counts: Counter[str] = Counter()  # output conversions that failed, by reason (latex_timeout, ...)

    @property
    def isolation(self) -> dict[str, bool]:
        """Which OS layers are active (namespaces, private root, seccomp, capabilities, uid drop); the
        audit hook always is."""
        return dict(self._servers[0].isolation)

    def isolation_summary(self) -> str:
        """One line for reports, e.g. `namespaces (user, mount, pid, net, ipc) + private root + ...`."""
        layers = self.isolation
        spaces = [k.removesuffix("_namespace") for k, on in layers.items() if on and k.endswith("_namespace")]
        parts = [f"namespaces ({', '.join(spaces)})"] if spaces else ["WEAK: no namespaces"]
        names = {"private_root": "private root", "seccomp": "seccomp", "no_capabilities": "no capabilities",
                 "uid_drop": "own uid"}
        parts += [label for key, label in names.items() if layers.get(key)]
        return " + ".join([*parts, "rlimits", "audit hook"])

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the servers; a second call does nothing (a GRPO grader is closed as reward and as grader)."""
        self._threads.shutdown(wait=True)
        for server in self._servers:
            server.close()
        self._servers = []

    def _job(self, code: str) -> dict:
        cfg = asdict(self.cfg)
        keys = ("cpu_time_s", "wall_time_s", "memory_mb", "max_output_bytes", "max_file_bytes", "max_processes",
                "tmp_mb")
        return {"code": code, **{k: cfg[k] for k in keys}}

    def run(self, code: str) -> SandboxResult:
        server = self._free.get()
        try:
            raw = server.run(self._job(code))
        except (RuntimeError, OSError, ValueError, BrokenPipeError) as exc:
            server = self._replace(server)
            return SandboxResult(False, "", f"sandbox: {exc}", -1, 0.0)
        finally:
            self._free.put(server)
        return SandboxResult(raw["ok"], raw["output"], raw["reason"], raw["returncode"], raw["wall_s"])

    def _replace(self, dead: _Server) -> _Server:
        with self._lock:
            dead.close()
            fresh = _Server(dead.uid, self._launcher)
            self._servers[self._servers.index(dead)] = fresh
            return fresh

    def run_many(self, codes: Sequence[str]) -> list[SandboxResult]:
        return list(self._threads.map(self.run, codes))

    def to_latex(self, output: str) -> str | None:
        """`programs.python_output_to_latex(output)` computed in a confined child of a server, under the
        program limits: sympy on hostile text (`root(2, 10**10**10)`) costs at most the wall time.
        None when the output is empty or the conversion failed (counted in `self.counts`)."""
        job = {**self._job(""), "kind": "latex", "text": output, "max_output_bytes": 4 * len(output) + 65536}
        server = self._free.get()
        try:
            raw = server.run(job)
        except (RuntimeError, OSError, ValueError, BrokenPipeError):
            server = self._replace(server)
            raw = {"ok": False, "reason": "sandbox"}
        finally:
            self._free.put(server)
        if not raw["ok"]:
            with self._lock:
                self.counts[f"latex_{raw['reason']}"] += 1
            return None
        return json.loads(raw["output"])

    def to_latex_many(self, outputs: Sequence[str]) -> list[str | None]:
        return list(self._threads.map(self.to_latex, outputs))


def run_program(code: str, cfg: SandboxConfig | None = None) -> SandboxResult:
    """One program in a one-server pool (for tests and one-offs; use a SandboxPool for many)."""
    cfg = cfg or SandboxConfig()
    with SandboxPool(SandboxConfig(**{**asdict(cfg), "workers": 1})) as pool:
        return pool.run(code)

