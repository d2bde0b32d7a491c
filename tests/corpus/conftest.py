"""Where the real development data lies (../shared/data or $MATHFORGE_SHARED/data); tests skip without it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    return Path(os.environ.get("MATHFORGE_SHARED", REPO.parent / "shared")) / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding train/ and web/ (real problems, real pages)."""
    path = shared_data_dir()
    if not (path / "web" / "SOURCES.md").is_file() or not (path / "train").is_dir():
        pytest.skip(f"real data not found at {path} (set MATHFORGE_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def web_dir(shared_data) -> Path:
    return shared_data / "web"
