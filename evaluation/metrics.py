"""Metrics over graded samples: greedy accuracy, unbiased Pass@K, Maj@K, paired differences.

Pure functions over plain Python data, so that GRPO analysis and reports reuse them.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

from evaluation.answers import last_boxed
from evaluation.benchmarks import BenchmarkItem, PercentRule
from evaluation.grading import choice_letters
from evaluation.normalize import normalize, parse_number


def accuracy(correct: Sequence[bool]) -> float:
    """Fraction correct (greedy accuracy when there is one greedy sample per question); 0 for none."""
    return sum(bool(c) for c in correct) / len(correct) if correct else 0.0


def paired_difference(before: Sequence[float], after: Sequence[float]) -> tuple[float, float]:
    """Mean per-question change and its standard error, the question as the unit (two models scored on
    the same questions, so their shared question difficulty cancels):

        d_q = after_q − before_q,   mean = Σ d_q / n,   se = sqrt(Σ (d_q − mean)² / (n − 1) / n)
    """
    if len(before) != len(after) or len(before) < 2:
        raise ValueError(f"paired scores need the same questions, at least 2 (got {len(before)} and {len(after)})")
    diffs = [b - a for a, b in zip(before, after, strict=True)]
    mean = sum(diffs) / len(diffs)
    return mean, math.sqrt(sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased Pass@K from n samples of which c are correct (Chen et al. 2021):

        pass@k = 1 - C(n-c, k) / C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k / i)

    The product form avoids the huge binomials. Defined for 1 <= k <= n, 0 <= c <= n.
    """
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def answer_key(answer: str | None, answer_type: str = "math", choices: Sequence[str] = (),
               percent: PercentRule = "either") -> Hashable | None:
    """What votes are counted by, so that answers that grade equal vote together: the letters for
    multiple choice (`(C)`, `C`, `\\text{C}`), the exact value for numbers (`0.5` and `1/2`; `50\\%` and
    `50` unless the benchmark reads % as a fraction, then `50\\%` and `0.5`), else the normalised text.
    A box is unwrapped first, as grading does. None (no answer) casts no vote."""
    if answer is None or not str(answer).strip():
        return None
    boxed = last_boxed(answer)
    answer = answer if boxed is None else boxed
    if answer_type == "choice":
        letters = choice_letters(answer, choices)
        if letters:
            return ("choice", letters)
    if answer_type == "text":
        return ("text", normalize(answer).lower())
    number = parse_number(answer, strip_units=answer_type == "number")
    if number is not None:
        return ("number", number.value / 100 if number.percent and percent == "fraction" else number.value)
    return ("text", normalize(answer))


def item_keys(answers: Sequence[str | None], item: BenchmarkItem) -> list[Hashable | None]:
    """`answer_key` of each answer under the item's grading conventions."""
    return [answer_key(a, item.answer_type, item.choices, item.percent) for a in answers]


def majority_vote(answers: Sequence[str | None], keys: Sequence[Hashable | None] | None = None) -> int | None:
    """Index of the sample whose answer wins the vote, or None when no sample has an answer.

    Tie rule (deterministic): among the answers with the most votes, the one that appears first in
    sample order wins; the returned index is that answer's first occurrence. `keys`: the voting key
    of each answer (`item_keys`); by default `answer_key` with no benchmark conventions.
    """
    counts: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for index, key in enumerate(keys if keys is not None else [answer_key(a) for a in answers]):
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, index)
    if not counts:
        return None
    best = max(counts, key=lambda key: (counts[key], -first[key]))
    return first[best]


def _subset_count(others: list[tuple[int, int]], free: int, j: int, size: int) -> int:
    """[x^size] (1 + x)^free * prod_b (sum_{t<j} C(c_b, t) x^t + C(s_b, j) x^j) over `others` = [(c_b, s_b)]:
    the ways to pick `size` samples outside the voted cluster so that no other cluster beats it."""
    big = [(c, s) for c, s in others if c >= j]
    free += sum(c for c, _ in others if c < j)  # such a cluster can never reach j votes: any pick is fine
    poly = [math.comb(free, t) for t in range(size + 1)]
    for c, s in big:
        factor = [math.comb(c, t) for t in range(min(j, size + 1))] + ([math.comb(s, j)] if j <= size else [])
        poly = [sum(poly[d - t] * factor[t] for t in range(min(d, len(factor) - 1) + 1)) for d in range(size + 1)]
    return poly[size]


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool], k: int,
             keys: Sequence[Hashable | None] | None = None) -> float:
    """Maj@K of one question: the probability that the majority vote of a uniformly random K-subset
    of the n samples is correct (the Maj@K analogue of the unbiased Pass@K estimator; K = n is the
    plain vote of all samples, K < n uses every sample rather than the first K). Exact, by counting.

    Inside a subset the tie rule of `majority_vote` holds: most votes wins, ties go to the answer whose
    first selected sample comes first, and that first selected sample is the one graded. So condition
    on that sample p (cluster a, correct[p] true) and on j >= 1 votes for a: a's samples before p are
    left out, j - 1 of the r samples of a after p are chosen, and every other cluster b (c_b samples,
    s_b of them after p) gets t < j samples anywhere or exactly j samples all after p; the m samples
    without an answer are free. Then

        N(p, j) = C(r, j - 1) * [x^(K-j)] (1 + x)^m * prod_b (sum_{t<j} C(c_b, t) x^t + C(s_b, j) x^j)
        Maj@K   = sum_{p correct} sum_{j=1}^{K} N(p, j) / C(n, K)

    Exact integers throughout; a cluster with c_b < j is (1 + x)^{c_b}, so it is merged into m.
    `keys`: voting keys as in `majority_vote`.
    """
    n = len(answers)
    if not (1 <= k <= n) or n != len(correct):
        raise ValueError(f"maj_at_k needs 1 <= k <= {n} and one verdict per answer")
    keys = list(keys) if keys is not None else [answer_key(a) for a in answers]
    members: dict[Hashable, list[int]] = {}
    for index, key in enumerate(keys):
        if key is not None:
            members.setdefault(key, []).append(index)
    unanswered = n - sum(len(idx) for idx in members.values())
    winning = 0
    for p, key in enumerate(keys):
        if key is None or not correct[p]:
            continue
        later = sum(1 for i in members[key] if i > p)
        others = [(len(idx), sum(1 for i in idx if i > p)) for other, idx in members.items() if other != key]
        for j in range(1, min(k, later + 1) + 1):
            winning += math.comb(later, j - 1) * _subset_count(others, unanswered, j, k - j)
    return winning / math.comb(n, k)


def k_values(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself: the K axis of the Pass@K / Maj@K plots."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n]


def summarize_samples(answers: Sequence[Sequence[str | None]], correct: Sequence[Sequence[bool]],
                      items: Sequence[BenchmarkItem] | None = None) -> dict:
    """Per-benchmark metrics from n samples per question: pass@k and maj@k (both expectations over
    k-subsets) for every k in k_values(n), averaged over questions, and accuracy of the first sample.
    `items`: the questions, whose grading conventions decide which answers vote together. Every
    question must have the same number of samples and one verdict per sample (else an error)."""
    if not answers:
        return {"questions": 0}
    if len(correct) != len(answers) or (items is not None and len(items) != len(answers)):
        raise ValueError(f"{len(answers)} questions of answers, {len(correct)} of verdicts, "
                         f"{len(items) if items is not None else '-'} items")
    n = len(answers[0])
    for index, (a, c) in enumerate(zip(answers, correct, strict=True)):
        if len(a) != n or len(c) != n:
            raise ValueError(f"question {index}: {len(a)} answers and {len(c)} verdicts, question 0 has {n}")
    keys = [item_keys(a, item) for a, item in zip(answers, items, strict=True)] if items is not None else \
        [None] * len(answers)
    ks = k_values(n)
    return {
        "questions": len(answers),
        "samples": n,
        "accuracy_first_sample": accuracy([c[0] for c in correct]),
        "pass_at_k": {k: sum(pass_at_k(n, sum(c), k) for c in correct) / len(correct) for k in ks},
        "maj_at_k": {k: sum(maj_at_k(a, c, k, key) for a, c, key in zip(answers, correct, keys, strict=True))
                     / len(answers) for k in ks},
    }
