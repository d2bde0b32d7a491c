"""The sandbox against hostile programs: each is contained, reported as an error, and the pool goes on.

The OS layers must hold on their own: the attack programs first switch the in-process audit hook
off (as any program can), then try to reach the server, the host's files, processes and network.
When the suite runs as root (CI), `test_hostile_suite_as_unprivileged_user` runs this whole file
again as uid 65534, so both the root and the user-namespace paths are tested.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluation.sandbox import IsolationError, SandboxConfig, SandboxPool, run_program

SECRET = "mf-secret-" + uuid.uuid4().hex
REPO = Path(__file__).resolve().parents[2]
UNPRIVILEGED_RUN = "MATHFORGE_SANDBOX_TEST_UNPRIVILEGED"

# Any program can do this: find the hook through the garbage collector and empty what it checks.
DISABLE_HOOK = """
import gc
for obj in gc.get_objects():
    if callable(obj) and getattr(obj, "__name__", "") == "hook" and "BLOCKED_EVENTS" in getattr(obj, "__globals__", {}):
        for key in ("BLOCKED_EVENTS", "BLOCKED_IMPORTS", "PATH_EVENTS"):
            obj.__globals__[key] = frozenset()
        obj.__globals__["WRITE_FLAGS"] = 0
import ctypes, socket, subprocess
print("HOOK-OFF")
libc = ctypes.CDLL(None, use_errno=True)
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    os.environ["MATHFORGE_TEST_SECRET"] = SECRET  # must not reach any program
    # wall time well above the CPU limit: on a loaded CI machine a trivial program may wait seconds for a core
    cfg = SandboxConfig(workers=2, cpu_time_s=1, wall_time_s=6.0, memory_mb=256, max_output_bytes=10_000, tmp_mb=16)
    with SandboxPool(cfg) as sandbox:
        yield sandbox
    del os.environ["MATHFORGE_TEST_SECRET"]


def assert_pool_healthy(pool: SandboxPool) -> None:
    """The pool still answers, and nothing a program left behind lives on: its pid namespace holds
    only the server (pid 1) and the program asking; /tmp and /dev/shm are empty again."""
    for _ in range(pool.cfg.workers):
        result = pool.run("import os\nprint(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()), "
                          "os.listdir('/tmp'), os.listdir('/dev/shm'), sep=';')")
        assert result.ok, result
        pids, tmp, shm = (eval(part) for part in result.output.split(";"))  # noqa: S307 - printed lists
        assert len(pids) == 2 and pids[0] == 1 and tmp == [] and shm == [], result.output


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
    # fork_exec raises no audit event: its import is refused (RLIMIT_NPROC and the pid namespace back this up)
    "unaudited_spawn": ("import _posixsubprocess\nprint('imported')", {"error"}),
    "unaudited_spawn_via_subprocess": ("import subprocess\nprint(subprocess._posixsubprocess)", {"error"}),
    # with the audit hook switched off, the OS limits still end these
    "fork_bomb_hook_off": (DISABLE_HOOK + "import os\nwhile True:\n    os.fork()", {"error", "timeout", "cpu_time"}),
    "orphans_hook_off": (DISABLE_HOOK + "import os, time\nfor _ in range(5):\n    if os.fork() == 0:\n"
                         "        os.setsid()\n        time.sleep(1000)\nraise SystemExit(3)", {"error"}),
    # 1 MB files (RLIMIT_FSIZE) until the 16 MB tmpfs is full: ENOSPC, and the memory is freed afterwards
    "fill_shm_hook_off": (DISABLE_HOOK + "import os\nfor i in range(200):\n"
                          "    fd = os.open(f'/dev/shm/f{i}', os.O_CREAT | os.O_WRONLY)\n"
                          "    os.write(fd, b'x' * (1 << 20))\n    os.close(fd)", {"error"}),
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
    assert result.wall_s < pool.cfg.wall_time_s + 5
    if name == "stdout_flood":
        assert len(result.output) <= 10_000
    if name == "fill_shm_hook_off":
        assert "No space left on device" in result.output, result.output
    assert_pool_healthy(pool)


@pytest.mark.timeout(60)
def test_main_module_is_the_programs_own(pool: SandboxPool) -> None:
    result = pool.run("import __main__\nprint(sorted(k for k in vars(__main__) if not k.startswith('__')))")
    assert result.ok and result.output == "[]\n", result  # not the server's globals


@pytest.mark.timeout(60)
def test_hook_off_program_cannot_harm_the_server(pool: SandboxPool) -> None:
    code = DISABLE_HOOK + (
        "import os, signal\n"
        "for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSTOP):\n"
        "    libc.kill(1, sig)\n"
        "print('ptrace', libc.ptrace(16, 1, 0, 0), ctypes.get_errno())\n"  # PTRACE_ATTACH the server
        "print('mount', libc.mount(b'none', b'/usr', b'tmpfs', 0, None), ctypes.get_errno())\n"
        "print('umount', libc.umount2(b'/usr', 2), ctypes.get_errno())\n"
        "print('unshare', libc.unshare(0x10000000 | 0x00020000), ctypes.get_errno())\n"
        "print('keyctl', libc.syscall(250, 0, 0), ctypes.get_errno())\n"  # x86_64 keyctl
        "print('chroot', libc.chroot(b'/tmp'), ctypes.get_errno())\n"
        "try:\n    os.open('/usr/mf-owned', os.O_CREAT | os.O_WRONLY)\nexcept OSError as exc:\n    print('write /usr', exc.errno)\n"
        "try:\n    print(open('/proc/1/environ', 'rb').read())\nexcept OSError as exc:\n    print('environ', exc.errno)\n"
    )
    result = pool.run(code)
    assert "HOOK-OFF" in result.output, result
    lines = dict(line.split(" ", 1) for line in result.output.splitlines() if line[:1].isalpha() and " " in line)
    for call in ("ptrace", "mount", "umount", "unshare", "chroot"):
        assert lines[call].split()[0] == "-1", result.output
    if os.uname().machine == "x86_64":
        assert lines["keyctl"] == "-1 1", result.output  # EPERM from the seccomp filter
    assert lines["write"].endswith(("30", "13")), result.output  # EROFS / EACCES
    assert SECRET not in result.output
    assert_pool_healthy(pool)


@pytest.mark.timeout(60)
def test_hook_off_program_sees_no_host_files_or_processes(pool: SandboxPool, tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET)
    secret_file.chmod(0o644)
    targets = [secret_file, REPO / "pyproject.toml", REPO / "evaluation" / "sandbox.py",
               REPO.parent / "shared" / "data" / "benchmarks" / "gsm8k" / "test.jsonl"]
    code = DISABLE_HOOK + "import os\n" + "".join(
        f"print('visible', {str(t)!r}) if os.path.exists({str(t)!r}) and {str(t)!r} != '/' else None\n"
        for t in targets
    ) + (
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    print('cmdline', open(f'/proc/{pid}/cmdline', 'rb').read())\n"
        "def ls(folder):\n    return os.listdir(folder) if os.path.isdir(folder) else []\n"
        f"print('listing', ls({str(REPO)!r}), ls({str(Path.home())!r}))\n"
        "print('ls', subprocess.run(['ls', '/'], capture_output=True, text=True).stdout.split())\n"
    )
    result = pool.run(code)
    assert "HOOK-OFF" in result.output, result
    assert "visible" not in result.output and SECRET not in result.output, result.output
    assert "pytest" not in result.output and "shared" not in result.output, result.output
    runtime = [Path(p).resolve() for p in (sys.prefix, sys.base_prefix)]
    checkout, home = eval(result.output.split("listing ", 1)[1].split("\n", 1)[0].replace("] [", "], ["))  # noqa: S307
    for folder, entries in ((REPO, checkout), (Path.home(), home)):  # only the runtime's own path shows
        assert all(any(r.is_relative_to(folder / e) for r in runtime) for e in entries), (folder, entries)
    assert "ls ['" in result.output  # the program did run a subprocess: the hook was really off
    cmdlines = [line for line in result.output.splitlines() if line.startswith("cmdline")]
    assert 1 <= len(cmdlines) <= 4, result.output  # the server, the program and its `ls` child at most


@pytest.mark.timeout(60)
def test_hook_off_writes_stay_inside(pool: SandboxPool, tmp_path: Path) -> None:
    name = f"mf-escape-{uuid.uuid4().hex}"
    code = DISABLE_HOOK + (
        "import os\n"
        f"for folder in ('/tmp', '/var/tmp', '/dev/shm', {str(tmp_path)!r}, '/'):\n"
        "    try:\n"
        "        fd = os.open(folder, os.O_RDONLY)\n"
        f"        os.close(os.open({name!r}, os.O_CREAT | os.O_WRONLY, dir_fd=fd))\n"
        "        print('created in', folder)\n"
        "    except OSError as exc:\n"
        "        print('refused', folder, exc.errno)\n"
    )
    result = pool.run(code)
    assert "HOOK-OFF" in result.output, result
    for folder in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), tmp_path):
        assert not (folder / name).exists(), result.output
    assert "created in /\n" not in result.output
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
        raw = pool.run(DISABLE_HOOK + f"s = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('made')")
        assert "HOOK-OFF" in raw.output and not raw.ok and "made" not in raw.output, raw
    finally:
        listener.close()


@pytest.mark.timeout(60)
def test_no_inherited_secrets(pool: SandboxPool) -> None:
    code = (
        "import os\nprint(dict(os.environ))\n"
        "try:\n    print(open('/proc/self/environ', 'rb').read())\nexcept OSError as e:\n    print(e)\n"
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
        layers, summary = pool.isolation, pool.isolation_summary()
    root = os.geteuid() == 0
    namespaces = ("mount_namespace", "pid_namespace", "net_namespace", "ipc_namespace", "private_root")
    assert all(layers[k] for k in namespaces), layers
    assert layers["seccomp"] == (os.uname().machine in ("x86_64", "aarch64"))
    assert layers["user_namespace"] is not root and layers["uid_drop"] is root, layers
    assert summary.startswith("namespaces (") and "WEAK" not in summary


WEAK_PROBE = """
import sys
from evaluation.seccomp import install_filter, machine_arch
from evaluation.sandbox import IsolationError, SandboxConfig, SandboxPool
install_filter(machine_arch())  # the kernel now refuses unshare/clone(CLONE_NEW*) to this process tree
try:
    SandboxPool(SandboxConfig(workers=1))
except IsolationError as exc:
    print("REFUSED", exc)
with SandboxPool(SandboxConfig(workers=1, allow_weak_isolation=True)) as pool:
    print("WEAK", pool.isolation_summary(), pool.run("print(6 * 7)").output.strip())
"""


@pytest.mark.timeout(60)
def test_refuses_without_namespaces_unless_weak_mode_allowed() -> None:
    if os.uname().machine not in ("x86_64", "aarch64"):
        pytest.skip("the seccomp filter that forbids namespaces here knows x86_64 and aarch64 only")
    run = subprocess.run([sys.executable, "-c", WEAK_PROBE], capture_output=True, text=True, timeout=50, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr
    assert "REFUSED sandbox: refusing to run model code without namespaces" in run.stdout, run.stdout
    assert "WEAK WEAK: no namespaces" in run.stdout and run.stdout.rstrip().endswith("42"), run.stdout
    assert "WEAK isolation" in run.stderr  # the one-line warning
    assert issubclass(IsolationError, RuntimeError)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_hostile_suite_as_unprivileged_user() -> None:
    """As root, run this file again as uid 65534: the user-namespace path must hold the same way."""
    if os.environ.get(UNPRIVILEGED_RUN):
        pytest.skip("already the unprivileged run")
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root (to become uid 65534) and setpriv; the suite then runs as this user anyway")
    scratch = Path(tempfile.mkdtemp(prefix="mf-unprivileged-"))  # pytest's own tmp folders are root-only
    scratch.chmod(0o777)
    command = ["unshare", "--mount", "--propagation", "private", sys.executable, str(Path(__file__).parent /
               "as_unprivileged.py"), sys.executable, "-m", "pytest", str(Path(__file__)), "-q", "-x",
               "-p", "no:cacheprovider", f"--basetemp={scratch / 'basetemp'}", "-k", "not unprivileged"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch), UNPRIVILEGED_RUN: "1",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO)}
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=280, cwd=REPO, env=env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "failed" not in run.stdout, run.stdout[-2000:]
