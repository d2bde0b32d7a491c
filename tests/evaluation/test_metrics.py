"""Pass@K and Maj@K against the exact combinatorial formula and brute-force subset enumeration; ties."""

from __future__ import annotations

import itertools
import math
import random
from fractions import Fraction

import pytest

from evaluation.metrics import (
    accuracy,
    k_values,
    maj_at_k,
    majority_vote,
    paired_difference,
    pass_at_k,
    summarize_samples,
)


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


def brute_pass_at_k(outcomes: list[bool], k: int) -> Fraction:
    """Probability that a uniformly random k-subset of the samples holds a correct one, by enumeration."""
    subsets = list(itertools.combinations(range(len(outcomes)), k))
    return Fraction(sum(any(outcomes[i] for i in s) for s in subsets), len(subsets))


def test_pass_at_k_matches_exact_formula_on_random_inputs() -> None:
    rng = random.Random(0)
    for _ in range(2000):
        n = rng.randint(1, 200)
        c, k = rng.randint(0, n), rng.randint(1, n)
        assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), abs=1e-12)


def test_pass_at_k_matches_brute_force_enumeration() -> None:
    rng = random.Random(1)
    for _ in range(200):
        n = rng.randint(1, 10)
        outcomes = [rng.random() < 0.3 for _ in range(n)]
        k = rng.randint(1, n)
        assert pass_at_k(n, sum(outcomes), k) == pytest.approx(float(brute_pass_at_k(outcomes, k)), abs=1e-12)


def test_paired_difference_matches_statistics_on_random_inputs() -> None:
    import statistics

    rng = random.Random(0)
    for _ in range(50):
        n = rng.randrange(2, 40)
        before = [rng.choice([0.0, 1.0, rng.random()]) for _ in range(n)]
        after = [rng.choice([0.0, 1.0, rng.random()]) for _ in range(n)]
        diffs = [b - a for a, b in zip(before, after, strict=True)]
        mean, se = paired_difference(before, after)
        assert mean == pytest.approx(statistics.fmean(diffs))
        assert se == pytest.approx(statistics.stdev(diffs) / math.sqrt(n))
    assert paired_difference([0, 1, 1], [0, 1, 1]) == (0.0, 0.0)
    with pytest.raises(ValueError, match="same questions"):
        paired_difference([1.0, 0.0], [1.0])


def test_pass_at_k_edges() -> None:
    assert pass_at_k(10, 0, 5) == 0.0
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(1024, 1, 1024) == 1.0
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_majority_vote_groups_equal_numbers_and_breaks_ties_by_first_occurrence() -> None:
    assert majority_vote(["3", "0.5", "1/2", "3"]) == 0  # 2 votes each: "3" appears first
    assert majority_vote(["1/2", "3", "0.5", "3"]) == 0  # the half wins the tie now
    assert majority_vote(["7", "\\frac{1}{2}", "0.5", "1/2"]) == 1
    assert majority_vote([None, "", "5"]) == 2
    assert majority_vote([None, None]) is None
    answers, correct = ["4", "5", "5", "4"], [True, False, False, True]
    assert maj_at_k(answers, correct, 4) == 1.0  # tie 2:2, "4" came first
    assert maj_at_k(answers, correct, 1) == 0.5  # K=1: the fraction of correct samples
    # K=3: "4" wins in {0,1,3} and {0,2,3}, "5" in {0,1,2} and {1,2,3}
    assert maj_at_k(answers, correct, 3) == 0.5
    assert maj_at_k([None], [False], 1) == 0.0
    assert maj_at_k(["1", None, "2"], [False, False, True], 2) == pytest.approx(1 / 3)  # {2}: "2"; {0,2}: tie, "1" first


def brute_maj_at_k(answers: list[str | None], correct: list[bool], k: int) -> Fraction:
    """The vote of every k-subset (sample order kept), by enumeration: the definition of Maj@K."""
    subsets = list(itertools.combinations(range(len(answers)), k))
    wins = 0
    for subset in subsets:
        winner = majority_vote([answers[i] for i in subset])
        wins += winner is not None and correct[subset[winner]]
    return Fraction(wins, len(subsets))


def test_maj_at_k_matches_subset_enumeration_on_random_inputs() -> None:
    rng = random.Random(3)
    for _ in range(300):
        n = rng.randint(1, 11)
        answers = [rng.choice(["1", "2", "0.5", "1/2", "x", None]) for _ in range(n)]
        # verdicts per sample, not per answer: the sample the vote picks is the one graded
        correct = [a is not None and rng.random() < 0.6 for a in answers]
        k = rng.randint(1, n)
        assert maj_at_k(answers, correct, k) == pytest.approx(float(brute_maj_at_k(answers, correct, k)), abs=1e-12)


def test_maj_at_k_is_exact_for_many_samples() -> None:
    answers = ["7"] * 30 + ["8"] * 34  # "8" holds the majority of all 64 samples
    correct = [True] * 30 + [False] * 34
    assert maj_at_k(answers, correct, 64) == 0.0
    assert maj_at_k(answers, correct, 1) == pytest.approx(30 / 64)
    # K=2: "7" wins when it has 2 votes, or 1:1 with its sample first (all 7s come first)
    exact = Fraction(math.comb(30, 2) + 30 * 34, math.comb(64, 2))
    assert maj_at_k(answers, correct, 2) == pytest.approx(float(exact), abs=1e-15)


def test_majority_vote_matches_counting_reference_on_random_inputs() -> None:
    rng = random.Random(2)
    for _ in range(500):
        answers = [rng.choice(["1", "2", "3", None]) for _ in range(rng.randint(1, 12))]
        voted = [a for a in answers if a is not None]
        winner = majority_vote(answers)
        if not voted:
            assert winner is None
            continue
        top = max(voted.count(a) for a in set(voted))
        expected = next(a for a in answers if a is not None and voted.count(a) == top)
        assert answers[winner] == expected and winner == answers.index(expected)


def test_summaries() -> None:
    assert accuracy([]) == 0.0 and accuracy([True, False]) == 0.5
    assert k_values(1) == [1] and k_values(8) == [1, 2, 4, 8] and k_values(6) == [1, 2, 4, 6]
    summary = summarize_samples([["1", "2", "2", "2"], ["3", "3", "4", "4"]], [[True, False, False, False], [False, False, True, True]])
    assert summary["pass_at_k"][4] == 1.0 and summary["pass_at_k"][1] == pytest.approx((0.25 + 0.5) / 2)
    assert summary["maj_at_k"][4] == 0.0 and summary["maj_at_k"][1] == pytest.approx((0.25 + 0.5) / 2)


def test_answers_that_grade_equal_vote_together() -> None:
    """Voting keys follow the benchmark's grading rules: `(C)` and `C`, `50%` and `50` (percent read as a
    value), `\\boxed{7}` and `7` vote together; with percent read as a fraction `50%` votes with `0.5`."""
    from evaluation.benchmarks import BenchmarkItem
    from evaluation.grading import quick_grade
    from evaluation.metrics import item_keys

    choice = BenchmarkItem("mmlu_stem", "m", "q", "C", choices=("1", "2", "3", "4"), answer_type="choice")
    answers = ["(C)", "C", "A", "A"]
    assert maj_at_k(answers, [True, True, False, False], 4, item_keys(answers, choice)) == 1.0
    assert maj_at_k(answers, [True, True, False, False], 4) == 0.0  # without the item's rules: split votes
    for percent, answers in (("value", ["50\\%", "50", "40", "40"]), ("fraction", ["50\\%", "0.5", "40", "40"])):
        item = BenchmarkItem("gsm8k", "g", "q", answers[1], answer_type="number", percent=percent)  # type: ignore[arg-type]
        correct = [bool(quick_grade(a, item.answer, "number", percent=item.percent)) for a in answers]
        assert correct == [True, True, False, False]
        assert maj_at_k(answers, correct, 4, item_keys(answers, item)) == 1.0
    item = BenchmarkItem("math", "x", "q", "7")
    assert len(set(item_keys(["\\boxed{7}", "7", "7.0"], item))) == 1
    rng = random.Random(5)  # whenever two answers share a key, grading calls them equal
    pool = ["(B)", "B", "\\text{B}", "b", "B. 2", "A", "(A)"]
    for _ in range(200):
        a, b = rng.choice(pool), rng.choice(pool)
        if item_keys([a], choice) == item_keys([b], choice):
            assert quick_grade(a, "B", "choice", choice.choices) == quick_grade(b, "B", "choice", choice.choices)


def test_unequal_sample_counts_are_an_error() -> None:
    with pytest.raises(ValueError, match="question 1: 3 answers"):
        summarize_samples([["1", "2", "3", "4"], ["1", "2", "3"]], [[True] * 4, [True] * 3])
    with pytest.raises(ValueError, match="question 0: 2 answers and 1 verdicts"):
        summarize_samples([["1", "2"]], [[True]])
