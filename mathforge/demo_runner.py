"""Runs the demo's stages: each once, resumable, locally or on Slurm, with a live status line.

A finished stage leaves RUN_DIR/stages/<name>.json (its command, outputs, figures and seconds, written
atomically after its command succeeded); a rerun skips it. A stage killed midway has no marker and runs
again: its command resumes by itself (training stages from their latest checkpoint, recall from its
finished rounds, the SFT data build from its finished shards). Each command's output goes to
RUN_DIR/logs/<name>.log; the terminal shows one status line per running stage.

Slurm (`executor = "slurm"`): corpus commands run here and submit their datatrove tasks through the
Slurm executor (their [executor] table); every other command is an `sbatch --wait` job — training-core
stages through training/launch/pretrain.sbatch (srun + torchrun, MATHFORGE_STAGE = the command), the
rest as a one-task job running the same command line.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mathforge.demo_config import REPO, DemoConfig
from mathforge.demo_stages import DemoPlan, Stage, StageFailed, python_module_argv
from mathforge.io import atomic_write_text
from mathforge.log import get_logger

log = get_logger("mathforge.demo")


def marker_path(root: Path, name: str) -> Path:
    return root / "stages" / f"{name}.json"


def read_marker(root: Path, name: str) -> dict[str, Any] | None:
    path = marker_path(root, name)
    return json.loads(path.read_text()) if path.is_file() else None


def redo_from(plan: DemoPlan, name: str) -> None:
    """Forget stage `name` and every later one: their markers and outputs (a training run folder left in
    place would resume to its finished state instead of training again)."""
    names = [s.name for s in plan.stages()]
    if name not in names:
        raise SystemExit(f"mathforge demo: --redo {name!r}: no such stage (stages: {', '.join(names)})")
    for stage in plan.stages()[names.index(name):]:
        marker_path(plan.root, stage.name).unlink(missing_ok=True)
        for path in stage.owns:
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def run_all(plan: DemoPlan, until: str | None = None) -> list[dict[str, Any]]:
    """Every stage in order, or up to stage `until` (the list is rebuilt after each stage: a later command
    may point at an output the earlier one chose, e.g. the recall's last round); returns the markers."""
    done: list[dict[str, Any]] = []
    names = [s.name for s in plan.stages()]
    if until is not None and until not in names:
        raise SystemExit(f"mathforge demo: --until {until!r}: no such stage (stages: {', '.join(names)})")
    count = names.index(until) + 1 if until else len(names)
    for index in range(count):
        stage = plan.stages()[index]
        marker = read_marker(plan.root, stage.name)
        if marker is not None:
            print(f"[{index + 1:2d}/{count}] {stage.name:<18} done before ({marker['seconds']:.0f} s): skipped",
                  flush=True)
        else:
            marker = run_stage(plan, stage, f"[{index + 1:2d}/{count}]")
        done.append(marker)
    return done


def run_stage(plan: DemoPlan, stage: Stage, tag: str) -> dict[str, Any]:
    began = time.perf_counter()
    if stage.prepare is not None:
        stage.prepare()
    if stage.argv is not None:
        log_path = plan.root / "logs" / f"{stage.name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        argv, env = launch_argv(plan.cfg, stage, log_path)
        with log_path.open("a", encoding="utf-8") as log_file:
            log_file.write(f"$ {stage.command()}\n")
            log_file.flush()
            proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=Path.cwd())
            returncode = watch(proc, stage, tag, began)
        if returncode != 0:
            tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-15:])
            raise StageFailed(f"stage {stage.name} failed (exit {returncode}): {stage.command()}\n"
                              f"last lines of {log_path}:\n{tail}")
    figures = stage.collect()
    marker = {"stage": stage.name, "what": stage.what, "command": stage.command(), **figures,
              "seconds": round(time.perf_counter() - began, 1)}
    atomic_write_text(marker_path(plan.root, stage.name), json.dumps(marker, indent=2, ensure_ascii=False) + "\n")
    line = f"{tag} {stage.name:<18} {marker['seconds']:6.0f} s  {figures['metric'] or figures['produced']}"
    print(("\r" + line + " " * 10) if sys.stdout.isatty() else line, flush=True)
    return marker


def watch(proc: subprocess.Popen, stage: Stage, tag: str, began: float, poll_s: float = 2.0) -> int:
    """Wait for the command; a status line (overwritten on a terminal, every 30 s in a log). Interrupted
    (Ctrl-C, SIGTERM), the command gets SIGTERM first: a training stage then saves a checkpoint to resume from."""
    try:
        return _watch(proc, stage, tag, began, poll_s)
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise


def _watch(proc: subprocess.Popen, stage: Stage, tag: str, began: float, poll_s: float) -> int:
    tty = sys.stdout.isatty()
    last_print = 0.0
    while proc.poll() is None:
        time.sleep(poll_s)
        elapsed = time.perf_counter() - began
        if tty or elapsed - last_print >= 30:
            try:
                status = stage.progress()
            except (OSError, ValueError, KeyError):  # a file mid-write: shown next time
                status = ""
            line = f"{tag} {stage.name:<18} {elapsed:6.0f} s  {status}"
            print(("\r" + line + " " * 10) if tty else line, end="" if tty else "\n", flush=True)
            last_print = elapsed
    return proc.returncode


def launch_argv(cfg: DemoConfig, stage: Stage, log_path: Path) -> tuple[list[str], dict[str, str]]:
    """The process to start for a stage: the command itself, or the sbatch job that runs it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    local = python_module_argv(stage)
    if cfg.executor == "local" or (stage.argv is not None and stage.argv[0] == "corpus"):
        return local, env
    sbatch = ["sbatch", "--wait", "--nodes", "1", "--chdir", str(Path.cwd()), "--output", str(log_path),
              "--open-mode", "append", f"--job-name=mathforge-demo-{stage.name}", *cfg.slurm.sbatch_args]
    if stage.distributed:
        assert stage.argv is not None
        env |= {"MATHFORGE_STAGE": stage.argv[1], "NPROC_PER_NODE": str(cfg.slurm.processes_per_node),
                "MATHFORGE_PYTHON": sys.executable}
        return [*sbatch, str(REPO / "training" / "launch" / "pretrain.sbatch"), *stage.argv[2:]], env
    return [*sbatch, "--ntasks=1", "--wrap", shlex.join(local)], env
