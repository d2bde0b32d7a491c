"""GRPO's questions: benchmark train splits (GSM8K JSONL, MATH per-problem JSON files) read with the
evaluation package's record parsers, or the synthetic EN/ZH problems of `training.sft.synthetic`; each
becomes a `BenchmarkItem` (question + gold answer + grading rules) and is shown to the policy with the
evaluation's chat prompt (`build_prompt(item, style, chat=True)`: the SFT template, byte-identical to
what evaluation uses).

Step k takes questions k·Q .. k·Q+Q−1 of an endless stream that walks a fresh seeded permutation of
all questions per epoch, so a resumed run sees exactly the questions the uninterrupted run would.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from evaluation.benchmarks import BenchmarkError, BenchmarkItem, load_jsonl_benchmark, parse_records
from evaluation.prompts import Style, build_prompt
from mathforge.config import ConfigError
from mathforge.log import get_logger

log = get_logger(__name__)


@dataclass
class PromptSourceConfig:
    name: str = "gsm8k"  # the benchmark name the items carry (grading rules, reports)
    kind: Literal["jsonl", "json_files", "synthetic"] = "jsonl"
    paths: list[Path] = field(default_factory=list)  # jsonl: files; json_files: folders searched for *.json
    format: str = "gsm8k"  # record format (evaluation.record_formats): gsm8k, math, ...
    lang: str = "en"
    count: int = 0  # synthetic: items to draw; files: keep the first `count` (0 = all)
    seed: int = 0  # synthetic: stream seed (training.sft.synthetic.heldout_split's train side)
    heldout: int = 200  # synthetic: questions of the held-out test stream kept out of training
    langs: list[str] = field(default_factory=lambda: ["en", "zh"])  # synthetic: languages, taking turns


@dataclass
class PromptsConfig:
    sources: list[PromptSourceConfig] = field(default_factory=lambda: [PromptSourceConfig()])
    style: Style = "cot"
    seed: int = 0  # order of the questions


def synthetic_items(count: int, seed: int, heldout: int, split: Literal["train", "test"] = "train",
                    langs: Sequence[str] = ("en", "zh")) -> list[BenchmarkItem]:
    """The synthetic task as graded items: `count` training questions, or the `heldout` test questions."""
    from training.sft.synthetic import heldout_split

    train, test = heldout_split(count, heldout, seed, langs)  # type: ignore[arg-type]
    chosen = train if split == "train" else test
    return [BenchmarkItem("synthetic", item.item_id, item.question, item.answer, lang=item.lang,
                          answer_type="number", percent="value") for item in chosen]


def _source_items(source: PromptSourceConfig) -> list[BenchmarkItem]:
    if source.kind == "synthetic":
        if source.count <= 0:
            raise ConfigError(f"prompts.sources {source.name!r}: a synthetic source needs count > 0")
        return synthetic_items(source.count, source.seed, source.heldout, "train", source.langs)
    if not source.paths:
        raise ConfigError(f"prompts.sources {source.name!r}: paths is empty")
    items: list[BenchmarkItem] = []
    for path in map(Path, source.paths):
        if source.kind == "jsonl":
            items += load_jsonl_benchmark(path, source.name, source.format, source.lang)
        else:
            files = sorted(path.rglob("*.json"))
            if not files:
                raise ConfigError(f"prompts.sources {source.name!r}: no *.json files under {path}")
            items += _json_file_items(files, path, source)
    return items[: source.count] if source.count > 0 else items


def _json_file_items(files: list[Path], root: Path, source: PromptSourceConfig) -> list[BenchmarkItem]:
    """One record per file; a file without a gradable gold answer (e.g. a MATH solution with no \\boxed{})
    is skipped, counted and logged with its name."""
    items, skipped = [], []
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8")) | {"unique_id": str(path.relative_to(root))}
        try:
            items += parse_records([record], source.name, source.format, source.lang, source=str(path))
        except BenchmarkError as exc:
            skipped.append(str(exc))
    if skipped:
        log.warning("prompts %s: skipped %d of %d files without a usable gold answer, e.g. %s", source.name,
                    len(skipped), len(files), skipped[0])
    return items


def load_items(cfg: PromptsConfig) -> list[BenchmarkItem]:
    """Every question of every source, in source order."""
    items = [item for source in cfg.sources for item in _source_items(source)]
    if not items:
        raise ConfigError("prompts.sources: no questions")
    return items


def step_items(items: list[BenchmarkItem], step: int, per_step: int, seed: int) -> list[BenchmarkItem]:
    """Questions of step `step`: positions step·Q .. step·Q+Q−1 of the epoch-wise permuted stream."""
    out = []
    for position in range(step * per_step, (step + 1) * per_step):
        epoch, index = divmod(position, len(items))
        order = list(range(len(items)))
        random.Random(f"{seed}/{epoch}").shuffle(order)
        out.append(items[order[index]])
    return out


def prompt_text(item: BenchmarkItem, style: Style) -> str:
    return build_prompt(item, style=style, chat=True)
