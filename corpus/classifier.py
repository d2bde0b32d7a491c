"""The fastText math classifier: training set, training, held-out metrics, scoring and selection.

One round = `train_round(positives, negatives, cfg, out_dir)`: the recall rounds of the paper call
it again with a grown seed set and a new `out_dir` (rounds/<n>/). Training and scoring both pass
text through `normalize_for_fasttext`, the one normalisation of this module.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.filters.base_filter import BaseFilter

from corpus.config import ClassifierConfig
from mathforge.io import atomic_path, atomic_write_text

POS, NEG = "__label__math", "__label__other"
SPLIT_RE = re.compile(r"([^\w\s]|[\u3400-\u4dbf\u4e00-\u9fff])")  # punctuation or a CJK character
MAX_CHARS = 20_000  # the head of a page decides; keeps training lines and scoring bounded


def normalize_for_fasttext(text: str) -> str:
    """Lower-case; punctuation and each CJK character become their own tokens; whitespace -> one space.

    `Let $x^2$ be` -> `let $ x ^ 2 $ be`;  `求函数` -> `求 函 数`. fastText splits on spaces only,
    so formulas and Chinese need the spaces to yield useful word n-grams.
    """
    return " ".join(SPLIT_RE.sub(r" \1 ", text[:MAX_CHARS].lower()).split())


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """AUC = P(score of a random positive > score of a random negative), ties counting 1/2.

    Computed with average ranks: (sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # average rank (1-based) within each run of equal scores
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_recall(scores: np.ndarray, labels: np.ndarray, threshold: float) -> tuple[float, float]:
    """precision = TP / (TP + FP), recall = TP / (TP + FN) for `score >= threshold` (nan when undefined)."""
    pred = np.asarray(scores) >= threshold
    labels = np.asarray(labels, dtype=bool)
    tp = int((pred & labels).sum())
    precision = tp / int(pred.sum()) if pred.any() else float("nan")
    recall = tp / int(labels.sum()) if labels.any() else float("nan")
    return precision, recall


def top_fraction_threshold(scores: np.ndarray, fraction: float) -> float:
    """The score of the ceil(fraction * n)-th best page: keeping `score >= it` keeps the top fraction (ties aside)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1], got {fraction}")
    scores = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if len(scores) == 0:
        return 1.0
    k = int(np.ceil(fraction * len(scores)))
    return float(scores[k - 1])


@dataclass
class TrainingSet:
    train: list[str]  # "__label__x normalised text" lines
    heldout_texts: list[str]
    heldout_labels: np.ndarray
    n_pos: int
    n_neg: int


def build_training_set(positives: Sequence[str], negatives: Sequence[str], cfg: ClassifierConfig) -> TrainingSet:
    """Balanced set: n = min(cfg.positives, cfg.negatives, available of each) per class, shuffled with
    cfg.seed, the last `holdout_fraction` of each class held out for metrics."""
    n = min(cfg.positives, cfg.negatives, len(positives), len(negatives))
    if n < 10:
        raise ValueError(f"training set too small: {len(positives)} positives, {len(negatives)} negatives available")
    rng = random.Random(cfg.seed)
    pos = rng.sample(list(positives), n)
    neg = rng.sample(list(negatives), n)
    n_hold = max(1, int(n * cfg.holdout_fraction))
    train = [f"{POS} {normalize_for_fasttext(t)}" for t in pos[n_hold:]]
    train += [f"{NEG} {normalize_for_fasttext(t)}" for t in neg[n_hold:]]
    rng.shuffle(train)
    held = pos[:n_hold] + neg[:n_hold]
    labels = np.r_[np.ones(n_hold, dtype=bool), np.zeros(n_hold, dtype=bool)]
    return TrainingSet(train, held, labels, n, n)


class MathClassifier:
    """A trained fastText model; `scores(texts)` = P(math) per text."""

    def __init__(self, model):
        self.model = model

    @classmethod
    def load(cls, path: str | Path) -> MathClassifier:
        import fasttext

        return cls(fasttext.load_model(str(path)))

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        labels, probs = self.model.predict([normalize_for_fasttext(t) for t in texts], k=2)
        return np.array([dict(zip(ls, ps, strict=True)).get(POS, 0.0) for ls, ps in zip(labels, probs, strict=True)],
                        dtype=np.float64).clip(0.0, 1.0)


def train_round(positives: Sequence[str], negatives: Sequence[str], cfg: ClassifierConfig, out_dir: str | Path) -> dict:
    """Train one round's classifier into out_dir/model.bin with out_dir/metrics.json (held-out P/R/AUC).

    Reuses a finished round (metrics.json present) instead of retraining: reruns after a crash are free.
    """
    out_dir = Path(out_dir)
    metrics_path = out_dir / "metrics.json"
    if metrics_path.is_file() and (out_dir / "model.bin").is_file():
        return json.loads(metrics_path.read_text())
    ts = build_training_set(positives, negatives, cfg)
    with atomic_path(out_dir / "train.txt") as tmp:
        tmp.write_text("\n".join(ts.train) + "\n", encoding="utf-8")
    params = {"dim": cfg.dim, "lr": cfg.lr, "wordNgrams": cfg.word_ngrams, "minCount": cfg.min_count,
              "epoch": cfg.epoch, "bucket": cfg.bucket, "thread": cfg.threads, "seed": cfg.seed}
    with atomic_path(out_dir / "model.bin") as tmp:
        _fit_in_fresh_process(out_dir / "train.txt", params, tmp)
    scores = MathClassifier.load(out_dir / "model.bin").scores(ts.heldout_texts)
    precision, recall = precision_recall(scores, ts.heldout_labels, 0.5)
    metrics = {"positives": ts.n_pos, "negatives": ts.n_neg, "heldout": len(ts.heldout_texts),
               "precision@0.5": precision, "recall@0.5": recall, "auc": roc_auc(scores, ts.heldout_labels),
               "params": {"dim": cfg.dim, "lr": cfg.lr, "wordNgrams": cfg.word_ngrams, "minCount": cfg.min_count,
                          "epoch": cfg.epoch, "bucket": cfg.bucket}}
    atomic_write_text(metrics_path, json.dumps(metrics, indent=2) + "\n")
    return metrics


def _fit(train_path: str, params: dict, model_path: str) -> None:
    import fasttext

    fasttext.train_supervised(input=train_path, verbose=0, **params).save_model(model_path)


def _fit_in_fresh_process(train_path: Path, params: dict, model_path: Path) -> None:
    """Train in a spawned process: the caller never holds the model's GBs of training memory, and the
    training never inherits the caller's process state (inside a long pytest session, fastText 0.9.2
    trained in-process hit "Encountered NaN" on data that trains cleanly in a fresh interpreter)."""
    import multiprocessing

    proc = multiprocessing.get_context("spawn").Process(target=_fit, args=(str(train_path), params, str(model_path)))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"fastText training on {train_path} failed (exit code {proc.exitcode}); see the log above")


class MathScorer(PipelineStep):
    """Adds metadata `math_score` (fastText P(math)) to every document, predicting in batches."""

    name = "📐 fastText math score"
    type = "🔢 - SCORER"

    def __init__(self, model_path: str | Path, batch_size: int = 256):
        super().__init__()
        self.model_path = str(model_path)
        self.batch_size = batch_size
        self._clf: MathClassifier | None = None

    def run(self, data, rank: int = 0, world_size: int = 1) -> Iterator:
        if self._clf is None:
            self._clf = MathClassifier.load(self.model_path)
        batch = []
        for doc in data:
            batch.append(doc)
            if len(batch) == self.batch_size:
                yield from self._score(batch)
                batch = []
        yield from self._score(batch)

    def _score(self, batch):
        with self.track_time("batch"):
            scores = self._clf.scores([d.text for d in batch])
        for doc, s in zip(batch, scores, strict=True):
            doc.metadata["math_score"] = round(float(s), 6)
            self.stat_update("scored")
            yield doc


class ScoreThresholdFilter(BaseFilter):
    """Keeps documents with math_score >= threshold (drop reason: below_threshold)."""

    name = "🎯 math_score threshold"

    def __init__(self, threshold: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.threshold = threshold

    def filter(self, doc):
        return True if doc.metadata["math_score"] >= self.threshold else (False, "below_threshold")
