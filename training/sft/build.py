"""Build the SFT dataset: convert each source, decontaminate, execute and verify, write Parquet shards.

Per shard of `shard_size` examples, in order:
  1. decontamination: question + solution against the corpus decontamination index of every
     evaluation benchmark (`corpus.decontam_step`, the same code the corpus uses); removals are logged;
  2. execution in the evaluation sandbox (its worker processes run the shard's programs in parallel):
     a PoT solution's program gives its answer (the last printed line); in a tool-integrated solution
     every ```python block runs and the ```output block after it is rewritten with the real output,
     as the evaluation's tool loop writes it;
  3. grading with the evaluation grader against the gold answer (CoT and tool: the last \\boxed{}).
Dropped examples are counted by reason (contaminated, no_answer, program_error, wrong_answer) and
written aside with the reason. Shards are written atomically with a summary beside them, so a rerun
skips the shards already done (resumable); `summary.json` adds everything up.

Output under `out_dir`: shards/<source>/<n>.parquet (the dataset), shards/<source>/<n>.json (counts),
dropped/<source>/<n>.jsonl, decontam_index.npz, decontam_removed.jsonl, summary.json.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from corpus.config import DecontamConfig
from evaluation.answers import extract_answer
from evaluation.benchmarks import BenchmarkItem
from evaluation.grading import Grader, GradingConfig
from evaluation.programs import extract_program
from evaluation.sandbox import SandboxConfig, SandboxPool, SandboxResult
from mathforge.config import ConfigError
from mathforge.io import atomic_write_text
from mathforge.log import get_logger, progress
from training.sft import converters
from training.sft.schema import SFTExample, write_examples
from training.sft.synthetic import heldout_split

log = get_logger(__name__)
# a tool call: a ```python block, then (optionally) the ```output block that shows its result
_TOOL_CALL = re.compile(r"```python[ \t]*\n(?P<code>.*?)```[ \t]*\n?(?P<output>```output\n.*?```[ \t]*(?:\n|$))?",
                        re.DOTALL)


@dataclass
class SourceConfig:
    name: str = ""
    kind: str = "synthetic"  # gsm8k | math | tora | ape210k | synthetic
    path: str = ""  # local file (JSONL) or, for math, the folder of per-problem JSON files
    hf: bool = False  # read the Hugging Face dataset of this kind by name (converters.HF_SOURCES)
    limit: int = 0  # first N examples after conversion; 0 = all
    count: int = 0  # synthetic: training items (each in every format)
    heldout: int = 0  # synthetic: test items drawn from stream seed + 1 and kept out of training
    seed: int = 0  # synthetic
    formats: list[str] = field(default_factory=lambda: ["cot", "pot", "tool"])  # synthetic


@dataclass
class BuildConfig:
    out_dir: Path = Path("runs/sft/data")
    sources: list[SourceConfig] = field(default_factory=list)
    shard_size: int = 512
    max_output_chars: int = 2000  # of a tool call's output kept in the solution (evaluation's value)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)
    decontam: DecontamConfig = field(default_factory=lambda: DecontamConfig(enabled=False))


def source_examples(source: SourceConfig) -> converters.Converted:
    """The examples of one source before verification (with the records skipped by conversion)."""
    if source.kind == "synthetic":
        items, _ = heldout_split(source.count, source.heldout, source.seed)
        out = converters.Converted(converters.synthetic_examples(items, source.formats))
    elif source.hf:
        out = converters.convert(source.kind, converters.hf_records(source.kind))
    elif source.path:
        out = converters.convert(source.kind, converters.local_records(source.kind, source.path))
    else:
        raise ConfigError(f"build.sources {source.name!r}: give path, hf = true, or kind = 'synthetic'")
    if source.limit:
        out.examples = out.examples[: source.limit]
    return out


def tool_output(result: SandboxResult, max_chars: int) -> str:
    """An output block as `evaluation.programs.run_tool_integrated` writes it after a call."""
    shown = result.output[-max_chars:] if result.ok else f"Error: {result.reason}\n{result.output[-500:]}"
    return f"```output\n{shown.strip()}\n```\n"


def _programs(example: SFTExample) -> list[str]:
    if example.format == "pot":
        program = extract_program(example.solution)
        return [program] if program else []
    if example.format == "tool":
        return [m.group("code") for m in _TOOL_CALL.finditer(example.solution)]
    return []


def _with_real_outputs(solution: str, results: list[SandboxResult], max_chars: int) -> str:
    """The tool-integrated solution with each call's output block replaced by (or given) the real one."""
    calls = iter(results)
    return _TOOL_CALL.sub(lambda m: f"```python\n{m.group('code')}```\n{tool_output(next(calls), max_chars)}", solution)


def verify_shard(examples: list[SFTExample], pool: SandboxPool, grader: Grader, max_chars: int,
                 contaminated: set[int]) -> tuple[list[SFTExample], list[tuple[SFTExample, str]]]:
    """(kept examples, (dropped example, reason)); tool outputs of the kept ones are the real ones."""
    programs = [_programs(e) if i not in contaminated else [] for i, e in enumerate(examples)]
    flat = pool.run_many([p for ps in programs for p in ps])
    starts = list(itertools.accumulate((len(ps) for ps in programs), initial=0))
    printed = {i: flat[starts[i]].output for i, e in enumerate(examples)
               if e.format == "pot" and programs[i] and flat[starts[i]].ok}
    # program output -> LaTeX runs sympy on model-controlled text: in the sandbox, under its limits
    latex = dict(zip(printed, pool.to_latex_many(list(printed.values())), strict=True))
    kept, dropped, answers, at = [], [], [], 0
    for i, example in enumerate(examples):
        results, at = flat[at: at + len(programs[i])], at + len(programs[i])
        if i in contaminated:
            answers.append(("contaminated", example, None))
        elif example.format == "pot":
            ok = bool(results) and results[0].ok
            answers.append((None if ok else "program_error", example, latex.get(i)))
        else:
            if example.format == "tool":
                example = example.with_solution(_with_real_outputs(example.solution, results, max_chars))
            answers.append((None, example, extract_answer(example.solution)))
    gradable = [(pred, BenchmarkItem("sft", e.id, e.question, e.answer, lang=e.lang)) for why, e, pred in answers
                if why is None and pred is not None]
    verdicts = iter(grader.grade_many(gradable))
    for why, example, pred in answers:
        if why is None and pred is None:
            why = "no_answer"
        elif why is None and not next(verdicts):
            why = "wrong_answer"
        if why is None:
            kept.append(example)
        else:
            dropped.append((example, why))
    return kept, dropped


def build_dataset(cfg: BuildConfig) -> dict:
    """Build (or finish building) every source; returns the summary also written to summary.json."""
    if not cfg.sources:
        raise ConfigError("build.sources is empty")
    names = [s.name for s in cfg.sources]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError(f"build.sources need unique, non-empty names (got {names})")
    out = Path(cfg.out_dir)
    index = _decontam_index(cfg.decontam, out)
    began, summary = time.perf_counter(), {"sources": {}}
    with SandboxPool(cfg.sandbox) as pool, Grader(cfg.grading) as grader:
        for source in cfg.sources:
            summary["sources"][source.name] = _build_source(source, cfg, out, pool, grader, index)
    totals = Counter()
    for counts in summary["sources"].values():
        totals.update({k: v for k, v in counts.items() if isinstance(v, int)})
    summary |= {"total": dict(totals), "seconds": round(time.perf_counter() - began, 2)}
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def _build_source(source: SourceConfig, cfg: BuildConfig, out: Path, pool, grader, index) -> dict:
    converted = source_examples(source)
    examples = converted.examples
    shards = [examples[i: i + cfg.shard_size] for i in range(0, len(examples), cfg.shard_size)]
    counts: Counter = Counter({"examples": len(examples), **{f"skipped_{k}": v for k, v in converted.skipped.items()}})
    for n, shard in enumerate(progress(shards, f"sft-data {source.name}", total=len(shards), unit="shard")):
        done = out / "shards" / source.name / f"{n:05d}.json"
        if not done.is_file():
            _build_shard(shard, n, source.name, cfg, out, pool, grader, index)
        counts.update(json.loads(done.read_text()))
    log.info("%s: %d examples, %d kept, dropped %s", source.name, len(examples), counts["kept"],
             {k: v for k, v in counts.items() if k.startswith("dropped_")})
    return dict(counts)


def _build_shard(shard, n, name, cfg, out, pool, grader, index) -> None:
    contaminated = _contaminated(shard, index, out / "decontam_removed" / name / f"{n:05d}.jsonl")
    kept, dropped = verify_shard(shard, pool, grader, cfg.max_output_chars, contaminated)
    rows = "".join(json.dumps({**e.to_row(), "reason": why}, ensure_ascii=False) + "\n" for e, why in dropped)
    atomic_write_text(out / "dropped" / name / f"{n:05d}.jsonl", rows)
    write_examples(out / "shards" / name / f"{n:05d}.parquet", kept)
    counts = Counter({"kept": len(kept), **Counter(f"dropped_{why}" for _, why in dropped)})
    atomic_write_text(out / "shards" / name / f"{n:05d}.json", json.dumps(dict(counts)) + "\n")  # last: shard done


def _decontam_index(cfg: DecontamConfig, out: Path):
    """The benchmark n-gram index (built once into out_dir), or None when decontamination is off."""
    if not cfg.enabled:
        return None
    from corpus.decontam_step import build_decontam_index
    from corpus.decontaminate import NGramIndex

    path = out / "decontam_index.npz"
    if not path.is_file():
        log.info("decontamination index: %s", build_decontam_index(cfg, path))
    return NGramIndex.load(path)


def _contaminated(shard: list[SFTExample], index, audit: Path) -> set[int]:
    """Indices of the shard's contaminated examples; each removal logged (benchmark, item, matched n-gram)."""
    if index is None:
        return set()
    from corpus.decontaminate import find_contamination

    matches = find_contamination([f"{e.question}\n{e.solution}" for e in shard], index)
    rows = []
    for m in matches:
        benchmark, item_id = index.items[m.item]
        rows.append({"id": shard[m.doc].id, "benchmark": benchmark, "item_id": item_id, "ngram": m.ngram, "kind": m.kind})
    atomic_write_text(audit, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return {m.doc for m in matches}
