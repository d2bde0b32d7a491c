"""Fixtures shared by every test package: where the benchmark data lies, and the local Slurm cluster."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("MATHFORGE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def benchmarks_dir() -> Path:
    """`../shared/data/benchmarks` (real benchmark test sets); tests that need it skip where it is absent."""
    path = _shared_dir() / "data" / "benchmarks"
    if not path.is_dir():
        pytest.skip(f"benchmark data not found at {path} (set MATHFORGE_SHARED to the shared/ folder)")
    return path


def slurm_running() -> bool:
    if shutil.which("sinfo") is None:
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(s.strip("*") in {"idle", "mixed", "allocated"} for s in out.stdout.split())


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A running single-node Slurm (`just slurm-up`). Skips where there is none, unless CI demands it."""
    if not slurm_running():
        if os.environ.get("MATHFORGE_REQUIRE_SLURM") == "1":
            pytest.fail("MATHFORGE_REQUIRE_SLURM=1 but no Slurm cluster answers `sinfo` (run `just slurm-up`)")
        pytest.skip("no Slurm cluster running (start one with `just slurm-up`)")


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A tiny random Llama checkpoint with tokenizer, written by the test session itself (no hub)."""
    from evaluation.tiny_model import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
