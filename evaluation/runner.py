"""An evaluation run: benchmarks x prompt styles -> generations -> answers -> grades -> metrics -> report.

The runner composes the parts (benchmarks, prompts, backends, programs, grading, metrics, report)
and holds no maths of its own. Outputs in `run_dir`: config.json (resolved config), samples.jsonl
(every completion, extracted answer and verdict), results.json, report.md, pass_maj.png.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from evaluation.answers import extract_answer
from evaluation.backends import Backend, BackendConfig, SamplingConfig, make_backend
from evaluation.benchmarks import BenchmarkItem, iter_benchmark_items, iter_hf_items
from evaluation.grading import Grader, GradingConfig
from evaluation.metrics import summarize_samples
from evaluation.programs import run_pot, run_tool_integrated
from evaluation.prompts import build_prompt, pot_format, stop_sequences
from evaluation.report import write_report
from evaluation.sandbox import SandboxConfig, SandboxPool
from mathforge.config import ConfigError, save_resolved_config
from mathforge.io import atomic_path
from mathforge.log import get_logger

log = get_logger(__name__)
STYLES = ("cot", "pot", "tool")


@dataclass
class DataConfig:
    """Which test sets: local files under `root` (laid out like shared/data/benchmarks), or Hugging
    Face datasets by name (`source = "hf"`, needs the network or a filled HF cache)."""

    source: str = "local"
    root: str = ""
    benchmarks: list[str] = field(default_factory=lambda: ["gsm8k"])
    limit: int = 0  # first N items of each benchmark; 0 = all


@dataclass
class PromptConfig:
    styles: list[str] = field(default_factory=lambda: ["cot"])
    shots: int = -1  # few-shot exemplars; -1: all of the paper's prompt (8 for GSM8K, 4 for MATH, ...)
    chat: bool = False  # instruct model: chat template, zero-shot
    max_tool_calls: int = 4


@dataclass
class EvalConfig:
    model: str = ""  # Hugging Face checkpoint folder
    run_dir: str = "runs/eval"
    data: DataConfig = field(default_factory=DataConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)


def check_config(cfg: EvalConfig) -> None:
    """Errors a run would otherwise hit late, named by key."""
    if not cfg.model:
        raise ConfigError("key 'model': a Hugging Face checkpoint folder is required")
    if cfg.data.source not in ("local", "hf"):
        raise ConfigError(f"key 'data.source': {cfg.data.source!r} is not 'local' or 'hf'")
    if cfg.data.source == "local" and not cfg.data.root:
        raise ConfigError("key 'data.root': a folder laid out like shared/data/benchmarks is required")
    bad = [s for s in cfg.prompt.styles if s not in STYLES]
    if bad:
        raise ConfigError(f"key 'prompt.styles': unknown {bad} (known: {', '.join(STYLES)})")
    if cfg.sampling.n < 1:
        raise ConfigError("key 'sampling.n': must be at least 1")
    unused = sorted(set(cfg.grading.percent) - set(cfg.data.benchmarks))
    if unused:  # a misspelt benchmark name would silently keep that benchmark's own percent rule
        raise ConfigError(f"key 'grading.percent': {unused} not among data.benchmarks {cfg.data.benchmarks}")


def load_items(cfg: DataConfig, skipped: list[str]) -> dict[str, list[BenchmarkItem]]:
    out: dict[str, list[BenchmarkItem]] = {}
    for name in cfg.benchmarks:
        if cfg.source == "hf":
            items = list(iter_hf_items(name))
        else:
            items = list(iter_benchmark_items(Path(cfg.root), [name], skipped=skipped))
        out[name] = items[: cfg.limit] if cfg.limit else items
    return out


def _generate_style(style: str, items: list[BenchmarkItem], cfg: EvalConfig, backend: Backend,
                    pool: SandboxPool | None) -> tuple[list[list[str]], list[list[str | None]]]:
    """Completions and extracted answers, n per item, for one prompt style."""
    n = cfg.sampling.n
    chat = cfg.prompt.chat
    shots = None if cfg.prompt.shots < 0 else cfg.prompt.shots
    prompts = [build_prompt(item, style, shots, chat) for item in items]  # type: ignore[arg-type]
    stop = stop_sequences(style, chat, items[0]) if items else []  # type: ignore[arg-type]
    if style == "tool":
        assert pool is not None
        single = dataclasses.replace(cfg.sampling, n=1)

        def step(texts: list[str], stop: list[str]) -> list[str]:
            return [c[0] for c in backend.generate(texts, single, stop)]

        flat = run_tool_integrated([p for p in prompts for _ in range(n)], step, pool, cfg.prompt.max_tool_calls,
                                   stop=stop)
        completions = [flat[i * n : (i + 1) * n] for i in range(len(items))]
    else:
        completions = backend.generate(prompts, cfg.sampling, stop)
    if style == "pot":
        assert pool is not None
        formats = [pot_format(item, chat) for item in items for _ in range(n)]
        flat_answers = [a for a, _ in run_pot([c for cs in completions for c in cs], pool, program_format=formats)]
        answers = [flat_answers[i * n : (i + 1) * n] for i in range(len(items))]
    else:
        answers = [[extract_answer(c, choices=item.answer_type == "choice") for c in cs]
                   for item, cs in zip(items, completions, strict=True)]
    return completions, answers


def run_eval(cfg: EvalConfig, backend: Backend | None = None) -> dict:
    """Run the configured evaluation; returns the results dict also written to run_dir/results.json.

    `backend`: an already loaded one (e.g. a policy being trained); else one is made from config.
    """
    check_config(cfg)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_resolved_config(cfg, run_dir)
    skipped: list[str] = []
    items_by_benchmark = load_items(cfg.data, skipped)
    own_backend = backend is None
    backend = backend or make_backend(cfg.backend, cfg.model)
    needs_pool = any(s in ("pot", "tool") for s in cfg.prompt.styles)
    pool = SandboxPool(cfg.sandbox) if needs_pool else None
    results: dict = {"model": cfg.model, "sampling": dataclasses.asdict(cfg.sampling), "benchmarks": {},
                     "skipped": skipped, "sandbox_isolation": pool.isolation if pool else None}
    try:
        with Grader(cfg.grading) as grader, atomic_path(run_dir / "samples.jsonl") as samples_path:
            # backslashreplace: a lone surrogate in model text is written as its JSON escape, not a crash
            with samples_path.open("w", encoding="utf-8", errors="backslashreplace") as samples:
                for name, items in items_by_benchmark.items():
                    for style in cfg.prompt.styles:
                        log.info("evaluating %s (%d items) in %s style", name, len(items), style)
                        completions, answers = _generate_style(style, items, cfg, backend, pool)
                        pairs = [(a, item) for item, answer_list in zip(items, answers, strict=True) for a in answer_list]
                        flat = grader.grade_many(pairs)
                        n = cfg.sampling.n
                        correct = [flat[i * n : (i + 1) * n] for i in range(len(items))]
                        summary = summarize_samples(answers, correct, items)
                        summary["pass_at_k"] = {str(k): v for k, v in summary.get("pass_at_k", {}).items()}
                        summary["maj_at_k"] = {str(k): v for k, v in summary.get("maj_at_k", {}).items()}
                        results["benchmarks"][f"{name}/{style}"] = summary
                        for item, cs, ans, ok in zip(items, completions, answers, correct, strict=True):
                            samples.write(json.dumps({"benchmark": name, "style": style, "item_id": item.item_id,
                                                      "gold": item.answer, "completions": cs, "answers": ans,
                                                      "correct": ok}, ensure_ascii=False) + "\n")
            results["grading_counts"] = dict(grader.counts)  # timeouts and kills were graded wrong
            if pool is not None:
                results["sandbox_isolation_summary"] = pool.isolation_summary()
                results["latex_failures"] = dict(pool.counts)
    finally:
        if pool is not None:
            pool.close()
        if own_backend:
            backend.close()
    results["files"] = {k: str(v) for k, v in write_report(results, run_dir).items()}
    return results
