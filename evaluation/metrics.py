"""Metrics over graded samples: greedy accuracy, unbiased Pass@K, Maj@K.

Pure functions over plain Python data, so that GRPO analysis and reports reuse them.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from evaluation.normalize import normalize, parse_number


def accuracy(correct: Sequence[bool]) -> float:
    """Fraction correct (greedy accuracy when there is one greedy sample per question); 0 for none."""
    return sum(bool(c) for c in correct) / len(correct) if correct else 0.0


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


def answer_key(answer: str | None) -> Hashable | None:
    """What votes are counted by: the exact value for numbers (`0.5` and `1/2` vote together),
    else the normalised text. None (no answer) casts no vote."""
    if answer is None or not str(answer).strip():
        return None
    number = parse_number(answer)
    if number is not None:
        return ("number", number.value, number.percent)
    return ("text", normalize(answer))


def majority_vote(answers: Sequence[str | None]) -> int | None:
    """Index of the sample whose answer wins the vote, or None when no sample has an answer.

    Tie rule (deterministic): among the answers with the most votes, the one that appears first in
    sample order wins; the returned index is that answer's first occurrence.
    """
    counts: dict[Hashable, int] = {}
    first: dict[Hashable, int] = {}
    for index, answer in enumerate(answers):
        key = answer_key(answer)
        if key is None:
            continue
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, index)
    if not counts:
        return None
    best = max(counts, key=lambda key: (counts[key], -first[key]))
    return first[best]


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool], k: int) -> bool:
    """Maj@K of one question: the majority answer of the first k samples is correct."""
    if not (1 <= k <= len(answers)) or len(answers) != len(correct):
        raise ValueError(f"maj_at_k needs 1 <= k <= {len(answers)} and one verdict per answer")
    winner = majority_vote(answers[:k])
    return winner is not None and bool(correct[winner])


def k_values(n: int) -> list[int]:
    """1, 2, 4, ... up to n, and n itself: the K axis of the Pass@K / Maj@K plots."""
    ks, k = [], 1
    while k < n:
        ks.append(k)
        k *= 2
    return [*ks, n]


def summarize_samples(answers: Sequence[Sequence[str | None]], correct: Sequence[Sequence[bool]]) -> dict:
    """Per-benchmark metrics from n samples per question: pass@k and maj@k for every k in k_values(n),
    averaged over questions, and accuracy of the first sample."""
    if not answers:
        return {"questions": 0}
    n = min(len(a) for a in answers)
    ks = k_values(n)
    return {
        "questions": len(answers),
        "samples": n,
        "accuracy_first_sample": accuracy([c[0] for c in correct]),
        "pass_at_k": {k: sum(pass_at_k(n, sum(c[:n]), k) for c in correct) / len(correct) for k in ks},
        "maj_at_k": {k: accuracy([maj_at_k(a[:n], c[:n], k) for a, c in zip(answers, correct, strict=True)]) for k in ks},
    }
