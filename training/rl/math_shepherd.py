"""Math-Shepherd step labels: is each step of a solution on a path to the gold answer?

For a solution with steps s_1..s_n to a question with gold answer a*, the prefix after step k is the
question's prompt (`step_labels.question_prompt`) + " " + s_1..s_k joined by `step_delimiter`, then
the delimiter. N completions are sampled from it (vLLM, or any `evaluation.backends` backend), each graded by the evaluation grader
against a*: chain of thought (`style = "cot"`), the completion's extracted final answer; program of
thought (`"pot"`), what the program made of s_1..s_k and the completion prints, run in the sandbox
(a program's early lines cannot be judged without the rest). Step k's labels (Wang et al., 2024):
  hard label  y_k = 1 if any completion reaches a*, else 0       (HE: "hard estimation")
  soft label  y_k = (#completions reaching a*) / N                (SE: "soft estimation")
The last step needs no sampling: the solution's own final answer is graded (1 or 0 for both).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from evaluation.backends import Backend, BackendConfig, SamplingConfig
from evaluation.benchmarks import BenchmarkItem
from evaluation.grading import Grader, GradingConfig
from evaluation.sandbox import SandboxConfig, SandboxPool
from mathforge.config import ConfigError
from mathforge.io import atomic_write_text
from training.rl.rewards import response_answers
from training.rl.step_labels import (
    LabelledSolution,
    PromptStyle,
    StepLabelError,
    question_prompt,
    write_labelled,
)


@dataclass
class ShepherdConfig:
    completions: int = 8  # N per step prefix
    temperature: float = 0.7
    top_p: float = 1.0
    max_new_tokens: int = 256
    seed: int = 0
    step_delimiter: str = "\n"
    prompt: PromptStyle = "cot"  # as the reward model's data.prompt
    style: Literal["cot", "pot"] = "cot"  # how a completed solution's answer is read (pot: its program, sandboxed)
    labels: Literal["hard", "soft"] = "hard"
    prompts_per_call: int = 256  # step prefixes per generate() call
    stop: list[str] | None = None  # stop strings for the completions (default: none, the model's EOS)


@dataclass
class ShepherdStats:
    solutions: int = 0
    steps: int = 0  # steps labelled (the last steps included)
    prefixes: int = 0  # step prefixes sampled from
    completions: int = 0
    seconds: float = 0.0

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.seconds if self.seconds else 0.0


def prefix_prompt(question: str, steps: Sequence[str], k: int, delimiter: str, prompt: str = "cot") -> str:
    """The prompt continuing after step k (1-based): `question_prompt` + " " + the first k steps + delimiter."""
    return question_prompt(question, prompt) + " " + delimiter.join(steps[:k]) + delimiter


def step_labels(reached: Sequence[int], completions: int, final_correct: bool, kind: str) -> tuple[float, ...]:
    """Labels of steps 1..n from the number of completions reaching the gold after steps 1..n-1."""
    if kind == "hard":
        labels = [1.0 if r > 0 else 0.0 for r in reached]
    else:
        labels = [r / completions for r in reached]
    return (*labels, 1.0 if final_correct else 0.0)


def label_solutions(solutions: Sequence[tuple[BenchmarkItem, Sequence[str]]], backend: Backend,
                    cfg: ShepherdConfig, grader: Grader, sandbox: SandboxPool | None = None
                    ) -> tuple[list[LabelledSolution], ShepherdStats]:
    """Math-Shepherd labels for (question item with its gold answer, solution steps) pairs; `sandbox` runs
    the programs of `style = "pot"`."""
    if cfg.style == "pot" and sandbox is None:
        raise ConfigError("shepherd.style 'pot' reads answers by running programs: it needs a sandbox")
    began = time.perf_counter()
    stats = ShepherdStats(solutions=len(solutions))
    requests = [(i, k) for i, (_, steps) in enumerate(solutions) for k in range(1, len(steps))]
    prompts = [prefix_prompt(solutions[i][0].question, solutions[i][1], k, cfg.step_delimiter, cfg.prompt)
               for i, k in requests]
    sampling = SamplingConfig(n=cfg.completions, temperature=cfg.temperature, top_p=cfg.top_p,
                              max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
    texts: list[list[str]] = []
    for start in range(0, len(prompts), cfg.prompts_per_call):
        texts.extend(backend.generate(prompts[start:start + cfg.prompts_per_call], sampling, cfg.stop or []))
    delim, pool = cfg.step_delimiter, sandbox if cfg.style == "pot" else None
    completed = [(delim.join(solutions[i][1][:k]) + delim + text if pool else text)
                 for (i, k), outs in zip(requests, texts, strict=True) for text in outs]
    answers = response_answers(completed + [delim.join(steps) for _, steps in solutions], pool)
    items = [solutions[i][0] for i, _ in requests for _ in range(cfg.completions)] + [item for item, _ in solutions]
    verdicts = grader.grade_many(list(zip(answers, items, strict=True)))
    reached: list[list[int]] = [[] for _ in solutions]
    for n, (i, _) in enumerate(requests):
        reached[i].append(sum(verdicts[n * cfg.completions:(n + 1) * cfg.completions]))
    out = []
    for i, (item, steps) in enumerate(solutions):
        labels = step_labels(reached[i], cfg.completions, verdicts[len(completed) + i], cfg.labels)
        out.append(LabelledSolution(item.question, tuple(steps), labels, item.answer, f"math-shepherd:{item.item_id}"))
    stats.steps = sum(len(steps) for _, steps in solutions)
    stats.prefixes, stats.completions = len(prompts), len(completed)
    stats.seconds = time.perf_counter() - began
    return out, stats


@dataclass
class ShepherdRunConfig:
    """`mathforge train prm-label CONFIG`: label the solutions of `input` with completions of `model`."""

    model: Path = Path("runs/sft/hf")  # the completer (an HF folder: the SFT model or the current policy)
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)  # runs the programs of shepherd.style 'pot'
    input: Path = Path("runs/prm/solutions.jsonl")  # {"question", "answer", "steps": [...] or "solution": "..."}
    output: Path = Path("runs/prm/labels.jsonl")  # our step-label JSONL (+ .stats.json)
    backend: BackendConfig = field(default_factory=lambda: BackendConfig(kind="vllm"))
    shepherd: ShepherdConfig = field(default_factory=ShepherdConfig)
    grading: GradingConfig = field(default_factory=GradingConfig)


def read_solutions(path: Path, delimiter: str) -> list[tuple[BenchmarkItem, list[str]]]:
    """Solutions to label: each line {"question", "answer", "steps"} or with "solution" split at `delimiter`."""
    if not Path(path).is_file():
        raise ConfigError(f"input {path}: file not found")
    out = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            steps = record["steps"] if "steps" in record else [s for s in record["solution"].split(delimiter) if s.strip()]
            item = BenchmarkItem("prm-label", str(record.get("id", lineno)), record["question"], str(record["answer"]))
        except (json.JSONDecodeError, KeyError, AttributeError) as exc:
            raise StepLabelError(f"{path}:{lineno}: not a solution record ({exc!r})") from exc
        if not steps:
            raise StepLabelError(f"{path}:{lineno}: the solution has no step")
        out.append((item, list(steps)))
    return out


class RolloutEngineBackend:
    """The `Backend` interface over GRPO's vLLM engine (`training.rl.rollout`), which seeds every
    question's samples (seed + q·N) and runs on the vLLM CPU build (chunked prefill off there: a seeded
    CPU generator cannot rewind)."""

    def __init__(self, cfg: BackendConfig, model_dir: str, shepherd: ShepherdConfig):
        from training.rl.rollout import RolloutConfig, VLLMRolloutEngine

        rollout = RolloutConfig(group_size=shepherd.completions, max_new_tokens=shepherd.max_new_tokens,
                                temperature=shepherd.temperature, top_p=shepherd.top_p, seed=shepherd.seed,
                                stop=list(shepherd.stop or []), dtype=cfg.dtype,
                                gpu_memory_utilization=cfg.gpu_memory_utilization, cpu_kvcache_gb=cfg.cpu_kvcache_gb,
                                max_model_len=cfg.max_model_len)
        self.engine = VLLMRolloutEngine(rollout, model_dir)
        self.calls = 0

    def generate(self, prompts: list[str], sampling: SamplingConfig, stop: list[str]) -> list[list[str]]:
        n = self.engine.cfg.group_size
        if sampling.n != n:
            raise ValueError(f"this engine samples {n} completions per prompt, {sampling.n} asked")
        items = [BenchmarkItem("prm-label", str(i), "", "") for i in range(len(prompts))]
        rollouts = self.engine.generate(items, prompts, step=self.calls)  # each call its own seeds
        self.calls += 1
        return [[r.response for r in rollouts[q * n:(q + 1) * n]] for q in range(len(prompts))]

    def close(self) -> None:
        self.engine.close()


def make_labelling_backend(cfg: BackendConfig, model_dir: str, shepherd: ShepherdConfig) -> Backend:
    """vLLM through GRPO's rollout engine, else the evaluation's transformers backend."""
    from evaluation.backends import make_backend

    if cfg.kind == "vllm":
        return RolloutEngineBackend(cfg, model_dir, shepherd)
    return make_backend(cfg, model_dir)


def run_labelling(cfg: ShepherdRunConfig) -> ShepherdStats:
    """Read, label with the configured backend (vLLM: call under a `__main__` guard), write atomically."""
    solutions = read_solutions(cfg.input, cfg.shepherd.step_delimiter)
    backend = make_labelling_backend(cfg.backend, str(cfg.model), cfg.shepherd)
    grader = Grader(cfg.grading)
    sandbox = SandboxPool(cfg.sandbox) if cfg.shepherd.style == "pot" else None
    try:
        labelled, stats = label_solutions(solutions, backend, cfg.shepherd, grader, sandbox)
    finally:
        grader.close()
        backend.close()
        if sandbox is not None:
            sandbox.close()
    write_labelled(cfg.output, labelled)
    summary = asdict(stats) | {"steps_per_s": stats.steps_per_s}
    atomic_write_text(cfg.output.with_suffix(".stats.json"), json.dumps(summary, indent=2) + "\n")
    return stats
