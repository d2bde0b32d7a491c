"""Token-budget / top-fraction selection from a score histogram, against a page-by-page reference."""

import numpy as np
import pytest

from corpus.config import SelectConfig
from corpus.selection import cut_threshold, score_bin, score_histogram, select_threshold


def reference_threshold(scores, amounts, bins, target):
    """Slow and obvious: walk the bins from the top, adding each bin's pages, until the target is reached."""
    def bin_of(s):
        return min(int(s * bins), bins - 1)

    for b in range(bins - 1, -1, -1):
        kept = [i for i, s in enumerate(scores) if bin_of(s) >= b]
        if sum(amounts[i] for i in kept) >= target:
            return min(scores[i] for i in kept)
    return min(scores)


@pytest.mark.parametrize("seed", range(20))
def test_budget_threshold_matches_reference_and_keeps_the_budget(seed):
    rng = np.random.default_rng(seed)
    n, bins = int(rng.integers(1, 300)), int(rng.choice([1, 7, 50, 1000]))
    scores = np.round(rng.beta(0.5, 0.5, n), 6)
    tokens = rng.integers(0, 5000, n)
    budget = int(rng.integers(1, max(2, int(tokens.sum() * 1.2))))
    hist = score_histogram(scores, tokens, bins)
    t = cut_threshold(hist.tokens, hist.min_score, budget)
    assert t == reference_threshold(list(scores), list(tokens), bins, budget)
    kept = scores >= t
    assert np.array_equal(kept, score_bin(scores, bins) >= score_bin(np.array([t]), bins)[0])  # whole bins
    if tokens.sum() >= budget:
        assert tokens[kept].sum() >= budget
        # the exact page-by-page cut lies in the threshold's bin: overshoot is less than one bin
        order = np.argsort(-scores, kind="stable")
        exact_cut = scores[order][np.searchsorted(np.cumsum(tokens[order]), budget)]
        assert score_bin(np.array([exact_cut]), bins)[0] == score_bin(np.array([t]), bins)[0]
    else:
        assert kept.all()


def test_top_fraction_mode_keeps_at_least_the_fraction_in_whole_bins():
    rng = np.random.default_rng(0)
    scores = rng.random(10_000)
    hist = score_histogram(scores, np.ones(10_000, np.int64), 1000)
    t, info = select_threshold(SelectConfig(mode="top_fraction", top_fraction=0.1), hist)
    kept = int((scores >= t).sum())
    assert 1000 <= kept < 1000 + hist.pages.max() and info["mode"] == "top_fraction"


def test_token_budget_mode_and_fixed_threshold_mode():
    scores = np.array([0.95, 0.9, 0.5, 0.2, 0.1])
    tokens = np.array([100, 100, 100, 100, 100])
    hist = score_histogram(scores, tokens, 100)
    assert select_threshold(SelectConfig(mode="token_budget", token_budget=150), hist)[0] == 0.9
    assert select_threshold(SelectConfig(mode="token_budget", token_budget=10_000), hist)[0] == 0.1
    assert select_threshold(SelectConfig(mode="threshold", threshold=0.42), hist)[0] == 0.42


def test_bad_selection_values_are_errors():
    hist = score_histogram(np.array([0.5]), np.array([1]), 10)
    with pytest.raises(ValueError, match="top_fraction"):
        select_threshold(SelectConfig(mode="top_fraction", top_fraction=0.0), hist)
    with pytest.raises(ValueError, match="positive"):
        select_threshold(SelectConfig(mode="token_budget", token_budget=0), hist)
