"""Pure metric and selection functions of the classifier, against slow references on random inputs."""

from __future__ import annotations

import numpy as np
import pytest

from corpus.classifier import normalize_for_fasttext, precision_recall, roc_auc, top_fraction_threshold


def slow_auc(scores, labels) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(10))
def test_auc_matches_pairwise_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 200))
    scores = rng.integers(0, 10, n) / 10 if seed % 2 else rng.random(n)  # with and without ties
    labels = rng.random(n) < 0.4
    labels[0], labels[1] = True, False
    assert roc_auc(scores, labels) == pytest.approx(slow_auc(scores.tolist(), labels.tolist()))


@pytest.mark.parametrize("seed", range(5))
def test_precision_recall_and_top_fraction(seed):
    rng = np.random.default_rng(seed)
    scores, labels = rng.random(100), rng.random(100) < 0.3
    t = 0.6
    tp = sum(1 for s, y in zip(scores, labels, strict=True) if s >= t and y)
    assert precision_recall(scores, labels, t) == pytest.approx((tp / (scores >= t).sum(), tp / labels.sum()))
    frac = float(rng.uniform(0.01, 1.0))
    thr = top_fraction_threshold(scores, frac)
    assert (scores >= thr).sum() == int(np.ceil(frac * len(scores)))
    assert thr == sorted(scores, reverse=True)[int(np.ceil(frac * len(scores))) - 1]


def test_normalisation_examples():
    assert normalize_for_fasttext("Let $x^2$ be\n\nREAL.") == "let $ x ^ 2 $ be real ."
    assert normalize_for_fasttext("求函数f(x)") == "求 函 数 f ( x )"
