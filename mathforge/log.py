"""One logging format for every command, and progress bars that stay quiet when output is not a terminal."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

NOISY_LIBRARIES = ("megatron", "datatrove", "vllm")

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(level: str | int | None = None) -> None:
    """Configure the root logger once; level from the argument, else $MATHFORGE_LOG_LEVEL, else INFO."""
    level = level or os.environ.get("MATHFORGE_LOG_LEVEL", "INFO")
    logging.basicConfig(level=level, format=FORMAT, datefmt="%H:%M:%S", stream=sys.stderr, force=True)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for noisy in NOISY_LIBRARIES:  # their INFO lines (e.g. megatron's FSDP notice at import) bury ours
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # expected on CPU and on GPUs without TE: megatron repeats it once per module it imports
        warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm bar on a terminal; plain iteration (no carriage-return noise) in CI logs."""
    disable = not sys.stderr.isatty() or os.environ.get("CI") == "true"
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=disable, dynamic_ncols=True)
