"""The sandbox against hostile programs: each is contained, reported as an error, and the pool goes on."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.sandbox import SandboxConfig, SandboxPool, run_program

SECRET = "mf-secret-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    os.environ["MATHFORGE_TEST_SECRET"] = SECRET  # must not reach any program
    cfg = SandboxConfig(workers=2, cpu_time_s=1, wall_time_s=3.0, memory_mb=256, max_output_bytes=10_000)
    with SandboxPool(cfg) as sandbox:
        yield sandbox
    del os.environ["MATHFORGE_TEST_SECRET"]


def sandbox_processes(pool: SandboxPool) -> list[int]:
    """Processes running as one of the pool's sandbox uids."""
    uids = set(pool.uids)
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid in uids:
                found.append(int(entry.name))
        except FileNotFoundError:
            continue
    return found


def assert_pool_healthy(pool: SandboxPool) -> None:
    result = pool.run("print(6 * 7)")
    assert result.ok and result.output == "42\n"
    if all(pool.isolation.values()):  # only each server's resident killer helper may remain
        assert len(sandbox_processes(pool)) <= pool.cfg.workers


@pytest.mark.timeout(60)
def test_normal_programs(pool: SandboxPool) -> None:
    result = pool.run("import sympy\nprint(sympy.sqrt(18))")
    assert result.ok and result.reason is None and result.output == "3*sqrt(2)\n"
    result = pool.run("with open('scratch.txt', 'w') as f: f.write('x')\nprint(open('scratch.txt').read())")
    assert result.ok and result.output == "x\n"  # its own directory is writable
    results = pool.run_many([f"print({i} ** 2)" for i in range(50)])
    assert [r.output for r in results] == [f"{i * i}\n" for i in range(50)]
    result = pool.run("raise ValueError('bad step')")
    assert not result.ok and result.reason == "error" and "ValueError: bad step" in result.output
    assert "sandbox_server" not in result.output  # only the program's own frames


HOSTILE = {
    "infinite_loop": ("while True:\n    pass", {"cpu_time", "timeout"}),
    "sleep_forever": ("import time\ntime.sleep(1000)", {"timeout"}),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()", {"error"}),
    "subprocess_bomb": ("import subprocess\nwhile True:\n    subprocess.Popen(['sleep', '100'])", {"error"}),
    "alloc_10gb": ("x = bytearray(10 * 1024**3)\nprint(len(x))", {"error"}),
    "stdout_flood": ("while True:\n    print('x' * 1000)", {"output_limit"}),
    "deep_recursion": ("import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)", None),
    "kill_parent": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)", {"error"}),
    "kill_all": ("import os, signal\nos.kill(-1, signal.SIGKILL)", {"error"}),
    "ctypes_escape": ("import ctypes\nctypes.CDLL(None).kill(1, 9)", {"error"}),
    # fork_exec raises no audit event: its import is refused (RLIMIT_NPROC and the uid kill back this up)
    "unaudited_spawn": ("import _posixsubprocess\nprint('imported')", {"error"}),
    "unaudited_spawn_via_subprocess": ("import subprocess\nprint(subprocess._posixsubprocess)", {"error"}),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_program_is_contained(pool: SandboxPool, name: str) -> None:
    code, reasons = HOSTILE[name]
    result = pool.run(code)
    assert not result.ok
    if reasons is not None:
        assert result.reason in reasons, result
    else:  # recursion ends as RecursionError, a crash signal, or a limit; never as success
        assert result.reason is not None
    assert result.wall_s < 10
    if name == "stdout_flood":
        assert len(result.output) <= 10_000
    assert_pool_healthy(pool)


@pytest.mark.timeout(60)
def test_writes_outside_its_directory_are_refused(pool: SandboxPool, tmp_path: Path) -> None:
    targets = [tmp_path / "escape.txt", Path("/tmp") / f"mf-escape-{uuid.uuid4().hex}.txt"]
    for target in targets:
        for code in (f"open({str(target)!r}, 'w').write('owned')",
                     f"import os\nos.open({str(target)!r}, os.O_WRONLY | os.O_CREAT)",
                     f"import pathlib\npathlib.Path({str(target)!r}).write_text('owned')",
                     f"import os\nos.symlink({str(target)!r}, 'link')\nopen('link', 'w').write('owned')"):
            result = pool.run(code)
            assert not result.ok and result.reason == "error", code
            assert not target.exists()
    result = pool.run("import os\nos.makedirs('../../mf-escape-dir', exist_ok=True)")
    assert not result.ok
    assert_pool_healthy(pool)


@pytest.mark.timeout(60)
def test_no_network(pool: SandboxPool) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')"
        result = pool.run(code)
        assert not result.ok and "connected" not in result.output
        raw = pool.run("import _socket\ns = _socket.socket()\nprint('made')")
        assert not raw.ok and "made" not in raw.output
    finally:
        listener.close()


@pytest.mark.timeout(60)
def test_no_inherited_secrets(pool: SandboxPool) -> None:
    code = (
        "import os\nprint(dict(os.environ))\n"
        "print(open('/proc/self/environ', 'rb').read())\n"
        "try:\n    print(open(f'/proc/{os.getppid()}/environ', 'rb').read())\nexcept OSError as e:\n    print(e)\n"
    )
    result = pool.run(code)
    assert SECRET not in result.output
    assert "MATHFORGE_TEST_SECRET" not in result.output


@pytest.mark.timeout(60)
def test_isolation_layers_reported_and_run_program() -> None:
    result = run_program("print('hi')", SandboxConfig(cpu_time_s=1, wall_time_s=5))
    assert result.ok and result.output == "hi\n"
    with SandboxPool(SandboxConfig(workers=1)) as pool:
        layers = pool.isolation
    assert set(layers) == {"net_namespace", "mount_namespace", "uid_drop"}
    if os.geteuid() == 0:  # CI runs as root: every OS layer must be on, not only the audit hook
        assert all(layers.values()), layers
