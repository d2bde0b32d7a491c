"""Step-labelled solutions for process reward models: the PRM800K and Math-Shepherd formats, and ours.

A `LabelledSolution` is a question, its solution as a list of reasoning steps, and one label per step
in [0, 1]: 1 = the step is correct (or, Math-Shepherd style, it can still reach the gold answer),
0 = it is wrong; soft labels (a share of completions that reach the gold answer) lie between.

Formats read (records as dicts, so rows of a Hugging Face dataset work as well as JSONL lines):
- PRM800K (openai/prm800k): `label.steps[k]` holds rated `completions` (rating -1/0/1), the one the
  labeler continued with (`chosen_completion`) or a `human_completion` written in its place. The
  trajectory is followed step by step: the chosen completion (its rating), else the human one (written
  to be correct: label 1); a step with neither is where the labeler stopped (finish_reason
  found_error / give_up): its first completion rated -1, if any, ends the solution with label 0.
  Neutral ratings (0) count as `neutral` says (PRM800K's paper counts them positive for its PRM).
  Quality-control and screening questions are skipped and counted.
- Math-Shepherd (peiyi9979/Math-Shepherd): `input` is the question and "Step k: ..." steps each
  followed by the tag "ки"; `label` is the same text with "+" or "-" in each tag's place. The
  "Step k:" prefixes are removed (our solutions join steps with a configurable delimiter).
- ours (`write_labelled`): {"question", "steps", "labels", "answer", "source"} per line.

A reward model reads a solution as `question_prompt(question, style)` + " " + the steps joined by the step
delimiter: the policy's own chat prompt (chain of thought or program of thought), so it scores text as
GRPO's rollouts show it, or the bare question turn (`plain`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from mathforge.io import atomic_path

SHEPHERD_TAG = "ки"
_CJK = re.compile(r"[\u4e00-\u9fff]")
_STEP_PREFIX = re.compile(r"^\s*Step \d+:\s*")


PromptStyle = Literal["cot", "pot", "plain"]


def question_prompt(question: str, style: PromptStyle = "cot") -> str:
    """The prompt a solution continues: the policy's chat prompt with the chain-of-thought or
    program-of-thought instruction (Chinese when the question has CJK characters), or `plain`: the chat
    turn with the question alone."""
    from evaluation.benchmarks import BenchmarkItem
    from evaluation.chat_template import chat_prompt
    from evaluation.prompts import build_prompt

    if style == "plain":
        return chat_prompt([{"role": "user", "content": question}])
    lang = "zh" if _CJK.search(question) else "en"
    if style not in ("cot", "pot"):
        raise ValueError(f"prompt style {style!r}: expected cot, pot or plain")
    return build_prompt(BenchmarkItem("rm", "", question, "", lang=lang), style, chat=True)


class StepLabelError(ValueError):
    """A record that cannot be read; the message names the source and record."""


@dataclass(frozen=True)
class LabelledSolution:
    question: str
    steps: tuple[str, ...]
    labels: tuple[float, ...]  # one per step, in [0, 1]
    answer: str | None = None  # the gold answer, where the record has one
    source: str = ""  # file:line or dataset:index, for error messages and provenance

    def __post_init__(self) -> None:
        if not self.steps or len(self.steps) != len(self.labels):
            raise StepLabelError(f"{self.source}: {len(self.steps)} steps and {len(self.labels)} labels")
        if any(not 0.0 <= label <= 1.0 for label in self.labels):
            raise StepLabelError(f"{self.source}: labels must lie in [0, 1], got {self.labels}")

    def first_wrong_step(self, threshold: float = 0.5) -> int | None:
        """Index of the first step labelled below `threshold`, None when every step is right."""
        return next((i for i, label in enumerate(self.labels) if label < threshold), None)


@dataclass
class LoadReport:
    """What a loader read and what it skipped (with why), so nothing is dropped silently."""

    read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def parse_prm800k(record: dict, source: str, neutral: Literal["positive", "negative"] = "positive",
                  report: LoadReport | None = None) -> LabelledSolution | None:
    """One PRM800K record -> the labelled trajectory the labeler followed (None: skipped, counted)."""
    report = report if report is not None else LoadReport()
    if record.get("is_quality_control_question") or record.get("is_initial_screening_question"):
        report.skip("prm800k quality-control or screening question")
        return None
    try:
        question, steps_in = record["question"], record["label"]["steps"]
        problem, answer = question["problem"], question.get("ground_truth_answer")
    except (KeyError, TypeError) as exc:
        raise StepLabelError(f"{source}: not a PRM800K record (missing {exc})") from exc
    rating_label = {1: 1.0, 0: 1.0 if neutral == "positive" else 0.0, -1: 0.0}
    steps: list[str] = []
    labels: list[float] = []
    for step in steps_in:
        completions = step.get("completions") or []
        chosen = step.get("chosen_completion")
        if chosen is not None:
            text, rating = completions[chosen]["text"], completions[chosen]["rating"]
            if rating not in rating_label:
                raise StepLabelError(f"{source}: step {len(steps)} has rating {rating!r}")
            steps.append(text)
            labels.append(rating_label[rating])
        elif step.get("human_completion"):
            steps.append(step["human_completion"]["text"])
            labels.append(1.0)
        else:  # the labeler stopped here: the error found ends the solution
            wrong = next((c for c in completions if c.get("rating") == -1), None)
            if wrong is not None:
                steps.append(wrong["text"])
                labels.append(0.0)
            break
    if not steps:
        report.skip("prm800k record without a labelled step")
        return None
    report.read += 1
    return LabelledSolution(problem, tuple(steps), tuple(labels), answer, source)


def parse_math_shepherd(record: dict, source: str, report: LoadReport | None = None) -> LabelledSolution:
    """One Math-Shepherd record: steps end at each "ки" of `input`, labels are the "+"/"-" of `label`."""
    try:
        text, labelled = record["input"], record["label"]
    except KeyError as exc:
        raise StepLabelError(f"{source}: not a Math-Shepherd record (missing {exc})") from exc
    pieces = text.split(SHEPHERD_TAG)
    if len(pieces) < 2:
        raise StepLabelError(f"{source}: `input` has no step tag {SHEPHERD_TAG!r}")
    labels: list[float] = []
    position = 0
    for piece in pieces[:-1]:
        if labelled[position:position + len(piece)] != piece:
            raise StepLabelError(f"{source}: `label` differs from `input` at character {position}")
        position += len(piece)
        mark = labelled[position:position + 1]
        if mark not in ("+", "-"):
            raise StepLabelError(f"{source}: expected '+' or '-' at character {position} of `label`, got {mark!r}")
        labels.append(1.0 if mark == "+" else 0.0)
        position += 1
    head, *rest = pieces[:-1]
    question, sep, first = head.partition("Step 1:")
    if not sep:
        raise StepLabelError(f"{source}: no 'Step 1:' after the question")
    steps = tuple(_STEP_PREFIX.sub("", s).strip() for s in [first, *rest])
    if report is not None:
        report.read += 1
    return LabelledSolution(question.strip(), steps, tuple(labels), None, source)


def parse_ours(record: dict, source: str) -> LabelledSolution:
    try:
        return LabelledSolution(record["question"], tuple(record["steps"]), tuple(float(x) for x in record["labels"]),
                                record.get("answer"), record.get("source") or source)
    except KeyError as exc:
        raise StepLabelError(f"{source}: missing {exc}") from exc


Format = Literal["auto", "prm800k", "math_shepherd", "ours"]


def detect_format(record: dict) -> Format:
    if "label" in record and isinstance(record["label"], dict) and "steps" in record["label"]:
        return "prm800k"
    if "input" in record and "label" in record:
        return "math_shepherd"
    if "steps" in record and "labels" in record:
        return "ours"
    raise StepLabelError(f"unknown step-label format (keys {sorted(record)})")


def parse_records(records: Iterable[dict], name: str, fmt: Format = "auto",
                  neutral: Literal["positive", "negative"] = "positive",
                  report: LoadReport | None = None) -> Iterator[LabelledSolution]:
    """Records (JSONL lines or a Hugging Face dataset's rows) -> labelled solutions; `name` for messages."""
    report = report if report is not None else LoadReport()
    for index, record in enumerate(records, 1):
        source = f"{name}:{index}"
        kind = detect_format(record) if fmt == "auto" else fmt
        if kind == "prm800k":
            parsed = parse_prm800k(record, source, neutral, report)
        elif kind == "math_shepherd":
            parsed = parse_math_shepherd(record, source, report)
        else:
            parsed = parse_ours(record, source)
            report.read += 1
        if parsed is not None:
            yield parsed


def read_labelled(path: str | Path, fmt: Format = "auto", neutral: Literal["positive", "negative"] = "positive",
                  report: LoadReport | None = None) -> list[LabelledSolution]:
    """All labelled solutions of a JSONL file in any of the formats above."""
    path = Path(path)
    if not path.is_file():
        raise StepLabelError(f"{path}: step-label file not found")
    return list(parse_records(_jsonl(path), str(path), fmt, neutral, report))


def _jsonl(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise StepLabelError(f"{path}:{lineno}: not valid JSON: {exc}") from exc


def write_labelled(path: str | Path, solutions: Iterable[LabelledSolution]) -> int:
    """Our JSONL format, written atomically; returns the number of solutions written."""
    count = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8") as handle:
        for solution in solutions:
            handle.write(json.dumps(asdict(solution), ensure_ascii=False) + "\n")
            count += 1
    return count
