"""Grading: is a predicted final answer equal to the gold one?

Two stages, because math-verify is both slow (~370/s/core) and not safe to call from threads
(its timeout is a SIGALRM): `quick_grade` settles choices, exact matches and plain numbers in the
calling process (linear-time text work only; an answer over `MAX_ANSWER_CHARS` is wrong); everything
it leaves undecided goes to the `Grader`'s pool of worker processes. Model text is hostile input
there: each worker has an address-space limit, each pair a whole-pair deadline in CPU seconds (SIGPROF: a loaded machine does not turn
slow pairs into timeouts), and a worker
stuck in C code past it is killed. A timeout or a kill grades the pair wrong and is counted
(`Grader.counts`), never a hang; a pool that cannot grade a known-equal probe pair is an error.

Numeric rule: two exactly written numbers (integers, fractions) must be equal; when either side is
a decimal, |a - b| <= max(abs_tol, rel_tol * max(|a|, |b|)).

Percent rule, per benchmark (`BenchmarkItem.percent`, overridden by `GradingConfig.percent[name]`),
for a number written with % (`50\\%`): "value" reads % as a unit, so it equals `50` only (GSM8K-style
sets whose gold is 50 for "50%": `0.5` or `5000%` would be wrong answers there); "fraction" reads it
as value/100, so it equals `0.5` only (a set that expects 0.5); "either" accepts both (sets that
write their golds both ways, e.g. MATH). Two sides both written with % compare their values.
"""

from __future__ import annotations

import logging
import re
import resource
import signal
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context

from evaluation.answers import last_boxed
from evaluation.benchmarks import LETTERS, BenchmarkItem, PercentRule
from evaluation.normalize import Number, normalize, numbers_close, parse_number


@dataclass
class GradingConfig:
    """How lenient grading is, and how the symbolic stage runs."""

    rel_tol: float = 1e-4
    abs_tol: float = 0.0  # a gold of 0 needs an exact 0 unless raised
    # benchmark name -> percent rule ("value", "fraction", "either"), replacing the benchmark's own
    percent: dict[str, PercentRule] = field(default_factory=dict)
    symbolic: bool = True  # send undecided pairs to math-verify (else they count as wrong)
    workers: int = 2
    timeout_s: float = 5  # CPU seconds per pair (parse + verify) in the worker; 0 = none (only the stuck kill)
    stuck_after_s: float = 10.0  # a worker silent this long past its pairs' timeouts is killed
    chunk_size: int = 32
    memory_mb: int = 2048  # address space a worker may add to what it holds at start
    start_timeout_s: float = 120.0  # the pool must grade its probe pair within this


class GradingError(RuntimeError):
    """The symbolic grading pool cannot work (it would otherwise grade every pair wrong)."""


MAX_ANSWER_CHARS = 10_000  # no final answer is longer; longer ones are wrong without parsing


def _percent_readings(number: Number, other: Number, rule: PercentRule) -> list:
    """The values a number may stand for under the percent rule (see the module docstring)."""
    if not number.percent or other.percent:
        return [number.value]
    return {"value": [number.value], "fraction": [number.value / 100],
            "either": [number.value, number.value / 100]}[rule]


def _numbers_equal(a: Number, b: Number, cfg: GradingConfig, percent: PercentRule = "either") -> bool:
    candidates_a = _percent_readings(a, b, percent)
    candidates_b = _percent_readings(b, a, percent)
    for x in candidates_a:
        for y in candidates_b:
            if a.exact and b.exact and x == y:
                return True
            if not (a.exact and b.exact) and numbers_close(x, y, cfg.rel_tol, cfg.abs_tol):
                return True
    return False


def choice_letters(pred: str, choices: Sequence[str] = (), letters: str = LETTERS) -> str | None:
    """Letters a prediction picks: "C", "(C)", "C. text", "A, D", or the text of one option."""
    s = normalize(pred).replace("\\text", "")
    match = re.fullmatch(r"[\[(]?([A-J](?:[\s,、和and]*[A-J])*)[\])]?(?:[.:：)]\S*)?", s)
    if match:
        return "".join(sorted(set(re.sub(r"[^A-J]", "", match.group(1)))))
    target = normalize(re.sub(r"^\(?[A-J][).:]\s*", "", pred))
    for index, option in enumerate(choices):
        if normalize(option) == target and target:
            return letters[index]
    return None


def quick_grade(pred: str | None, gold: str, answer_type: str = "math", choices: Sequence[str] = (),
                cfg: GradingConfig | None = None, percent: PercentRule = "either") -> bool | None:
    """True/False when settled without math-verify; None when a symbolic comparison is needed."""
    cfg = cfg or GradingConfig()
    if pred is None or not str(pred).strip() or len(pred) > MAX_ANSWER_CHARS:
        return False
    boxed = last_boxed(pred)
    pred = pred if boxed is None else boxed
    if answer_type == "choice":
        return choice_letters(pred, choices) == gold
    if answer_type == "text":
        return normalize(pred).lower() == normalize(gold).lower()
    if normalize(pred) == normalize(gold):
        return True
    gold_number = parse_number(gold)
    pred_number = parse_number(pred, strip_units=answer_type == "number")
    if gold_number is not None and pred_number is not None:
        return _numbers_equal(gold_number, pred_number, cfg, percent)
    return None


_BARE_FRAC = re.compile(r"\\frac\s*(\\[A-Za-z]+|[0-9A-Za-z])\s*(\\[A-Za-z]+|[0-9A-Za-z])")


def _latex(text: str) -> str:
    """One `$...$` math span for math-verify: box unwrapped, currency and inner `$` removed, `;` lists as sets."""
    text = str(text)
    inner = last_boxed(text)
    if inner is not None:
        text = inner
    text = text.replace("\\$", "").replace("$", " ").replace("\\!", "").replace(";", ",")
    text = _BARE_FRAC.sub(r"\\frac{\1}{\2}", text)  # "\frac \pi4" -> "\frac{\pi}{4}"
    return f"${text.strip()}$"


def _numerically_far(a: object, b: object, rel_tol: float) -> bool:
    """True when both are constants whose values differ beyond rel_tol (math-verify rounds to 6 places,
    so it calls 1/2004! and 2/2004! equal)."""
    try:
        if not (getattr(a, "is_number", False) and getattr(b, "is_number", False)):
            return False
        # sympy Floats keep any exponent (1/2004! underflows a Python float)
        gap = abs((a - b).evalf(30))  # type: ignore[operator]
        scale = max(abs(a.evalf(30)), abs(b.evalf(30)))  # type: ignore[attr-defined]
        return bool(gap > rel_tol * scale)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return False


class PairTimeout(BaseException):
    """A pair's deadline passed (BaseException: math-verify's `except Exception` must not swallow it)."""


def _raise_timeout(signum: int, frame: object) -> None:
    raise PairTimeout


def _symbolic_verdict(pred: str, gold: str, rel_tol: float) -> bool:
    from math_verify import LatexExtractionConfig, parse, verify

    config = [LatexExtractionConfig()]
    try:
        gold_parsed = parse(_latex(gold), config, fallback_mode="no_fallback", parsing_timeout=None)
        pred_parsed = parse(_latex(pred), config, fallback_mode="no_fallback", parsing_timeout=None)
        if not gold_parsed or not pred_parsed:
            return False
        if not verify(gold_parsed, pred_parsed, timeout_seconds=None):
            return False
        return not _numerically_far(gold_parsed[0], pred_parsed[0], rel_tol)
    except Exception:  # noqa: BLE001 - any parser failure (MemoryError included) means "not shown equal"
        return False


def symbolic_check(pred: str, gold: str, timeout_s: float = 5, rel_tol: float = 1e-4) -> bool | None:
    """math-verify's verdict (gold first: its comparison is not symmetric), or None when the pair
    took more than `timeout_s` CPU seconds (0: no deadline). Main thread only (a SIGPROF timer).

    LaTeX extraction only, no fallback: math-verify's plain-expression fallback reads an unparsable
    answer as its last number (`11:55 p.m. on 24 December 2014` -> 2014), which made wrong answers
    equal. A form it cannot parse is therefore "not shown equal".
    """
    if len(pred) > MAX_ANSWER_CHARS or len(gold) > MAX_ANSWER_CHARS:
        return False
    previous = signal.signal(signal.SIGPROF, _raise_timeout)
    try:
        if timeout_s > 0:
            signal.setitimer(signal.ITIMER_PROF, timeout_s)
        return _symbolic_verdict(pred, gold, rel_tol)
    except PairTimeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def symbolic_equal(pred: str, gold: str, timeout_s: float = 5, rel_tol: float = 1e-4) -> bool:
    """`symbolic_check` with a timeout read as "not equal"."""
    return bool(symbolic_check(pred, gold, timeout_s, rel_tol))


PROBE = ("\\frac{1}{2}", "0.5")  # known equal: a pool that cannot say so cannot grade


def _init_worker(memory_mb: int) -> None:
    """Pool initializer: cap the worker's address space (huge integers end as MemoryError, not swap);
    silence math-verify's warning that its own timeout is off (ours, `symbolic_check`, is on); then
    grade one pair with no deadline, so that importing sympy and building the parsers (seconds of CPU
    on a busy machine) is not charged to the first pair's deadline."""
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = vm_kb * 1024 + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    symbolic_check(*PROBE, timeout_s=0)


def _symbolic_batch(pairs: list[tuple[str, str]], timeout_s: float, rel_tol: float) -> list[bool | None]:
    return [symbolic_check(pred, gold, timeout_s, rel_tol) for pred, gold in pairs]


class Grader:
    """Grades many (prediction, item) pairs; owns the math-verify worker pool (use as a context manager)."""

    def __init__(self, cfg: GradingConfig | None = None):
        self.cfg = cfg or GradingConfig()
        self._pool: ProcessPoolExecutor | None = None
        # pairs sent to math-verify ("symbolic"), past their deadline ("timeout"), in a killed worker
        # ("killed"), longer than MAX_ANSWER_CHARS ("too_long"); timeouts and kills graded wrong
        self.counts: Counter[str] = Counter()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: the parent may hold threads (torch, vLLM) that fork would copy in a broken state
            self._pool = ProcessPoolExecutor(max_workers=self.cfg.workers, mp_context=get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.cfg.memory_mb,))
            try:
                probe = self._pool.submit(_symbolic_batch, [PROBE], self.cfg.timeout_s, self.cfg.rel_tol)
                verdict = probe.result(timeout=self.cfg.start_timeout_s)
            except Exception as exc:  # noqa: BLE001 - any failure here means the pool cannot grade
                verdict = [exc]
            if verdict != [True]:
                self._kill_pool()
                raise GradingError(f"the math-verify worker pool cannot grade (probe {PROBE} gave {verdict!r}); "
                                   "refusing to grade every pair wrong")
        return self._pool

    def grade(self, pred: str | None, item: BenchmarkItem) -> bool:
        return self.grade_many([(pred, item)])[0]

    def grade_many(self, pairs: Sequence[tuple[str | None, BenchmarkItem]]) -> list[bool]:
        """One verdict per pair, in order. Pairs the fast path settles never reach a worker."""
        self.counts["too_long"] += sum(1 for pred, _ in pairs if pred is not None and len(pred) > MAX_ANSWER_CHARS)
        verdicts: list[bool | None] = [
            quick_grade(pred, item.answer, item.answer_type, item.choices, self.cfg,
                        self.cfg.percent.get(item.benchmark, item.percent))
            for pred, item in pairs
        ]
        pending = [i for i, v in enumerate(verdicts) if v is None]
        if pending and self.cfg.symbolic:
            work = [(str(pairs[i][0]), pairs[i][1].answer) for i in pending]
            results = self._run_symbolic(work)
            for index, result in zip(pending, results, strict=True):
                verdicts[index] = result
        return [bool(v) for v in verdicts]

    def _run_symbolic(self, work: list[tuple[str, str]]) -> list[bool]:
        size = self.cfg.chunk_size
        self.counts["symbolic"] += len(work)
        verdicts = self._run_chunks([work[i : i + size] for i in range(0, len(work), size)])
        self.counts["timeout"] += sum(v is None for v in verdicts)
        return [bool(v) for v in verdicts]

    def _run_chunks(self, chunks: list[list[tuple[str, str]]]) -> list[bool | None]:
        """Verdicts for chunks of pairs, in order. A chunk whose worker is stuck past its pairs' timeouts
        (C code that a signal cannot interrupt) gets the pool killed and is retried pair by pair, so
        that only the pair that hangs on its own counts wrong; later chunks go to a fresh pool."""
        futures = [self._executor().submit(_symbolic_batch, c, self.cfg.timeout_s, self.cfg.rel_tol) for c in chunks]
        out: list[bool | None] = []
        for index, (chunk, future) in enumerate(zip(chunks, futures, strict=True)):
            try:
                out.extend(future.result(timeout=len(chunk) * 2 * self.cfg.timeout_s + self.cfg.stuck_after_s))
                continue
            except (FutureTimeout, BrokenProcessPool):
                self._kill_pool()
            if len(chunk) == 1:
                self.counts["killed"] += 1
                out.append(False)
            else:
                out.extend(self._run_chunks([[pair] for pair in chunk]))
            rest = chunks[index + 1 :]
            return out + (self._run_chunks(rest) if rest else [])
        return out

    def _kill_pool(self) -> None:
        if self._pool is not None:
            for process in list(self._pool._processes.values()):  # no public API to kill a stuck worker
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def is_correct(pred: str | None, gold: str, answer_type: str = "math", choices: Sequence[str] = (),
               cfg: GradingConfig | None = None, percent: PercentRule = "either") -> bool:
    """Single-pair grading in the calling process (main thread only: the deadline is a SIGPROF timer)."""
    cfg = cfg or GradingConfig()
    verdict = quick_grade(pred, gold, answer_type, choices, cfg, percent)
    if verdict is None:
        return cfg.symbolic and symbolic_equal(str(pred), gold, cfg.timeout_s, cfg.rel_tol)
    return verdict

