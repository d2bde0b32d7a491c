"""How good is a reward model: outcome AUC and process first-wrong-step location (pure functions).

- AUC: the probability that a random correct solution scores above a random wrong one, ties counting
  one half (the Mann-Whitney U statistic / (#correct · #wrong)); 0.5 is chance.
- First wrong step: the PRM's guess is the first step whose probability σ(s_k) falls below
  `threshold`; a wrong solution counts as located when the guess is its labelled first wrong step.
  Chance: guessing one of its n steps uniformly, 1/n averaged over the wrong solutions. A PRM that flags
  early steps everywhere locates more and clears fewer correct solutions (no step below the threshold):
  report both.
- Group AUC: the AUC over pairs from the same question only, the ranking GRPO's group baseline sees.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Area under the ROC curve by ranks (average ranks for ties): (R₊ − n₊(n₊+1)/2) / (n₊ n₋)."""
    values = torch.tensor(list(scores), dtype=torch.float64)
    labels = torch.tensor(list(positive), dtype=torch.bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both correct and wrong solutions")
    order = torch.argsort(values)
    sorted_values = values[order]
    ranks = torch.empty_like(values)
    i = 0
    while i < len(values):  # average rank over each run of equal scores
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def group_auc(scores: Sequence[float], positive: Sequence[bool], groups: Sequence[object]) -> float:
    """AUC over the (correct, wrong) pairs of the same group only, pooled: Σ_g U_g / Σ_g n₊(g) n₋(g).
    GRPO compares the outputs of one question with each other, so this, not the AUC over all
    solutions, is the ranking a reward model gives the policy (a model can rank easy questions above
    hard ones, and score well overall, while ranking a question's outputs at chance)."""
    members: dict[object, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    wins, pairs = 0.0, 0
    for rows in members.values():
        labels = [positive[i] for i in rows]
        n_pos = sum(labels)
        if 0 < n_pos < len(rows):
            wins += auc([scores[i] for i in rows], labels) * n_pos * (len(rows) - n_pos)
            pairs += n_pos * (len(rows) - n_pos)
    if pairs == 0:
        raise ValueError("group AUC needs a group with both correct and wrong solutions")
    return wins / pairs


def predicted_first_wrong(step_scores: Sequence[float], threshold: float = 0.5) -> int | None:
    """Index of the first step whose σ(score) < threshold (None: the PRM finds every step right)."""
    for k, score in enumerate(step_scores):
        if torch.sigmoid(torch.tensor(float(score))) < threshold:
            return k
    return None


def first_wrong_step_location(step_scores: Sequence[Sequence[float]], first_wrong: Sequence[int],
                              threshold: float = 0.5) -> dict[str, float]:
    """Over wrong solutions: the share whose first wrong step the PRM names exactly, and chance (1/n)."""
    if not first_wrong:
        raise ValueError("no wrong solution to locate")
    hits = sum(predicted_first_wrong(s, threshold) == t for s, t in zip(step_scores, first_wrong, strict=True))
    chance = sum(1 / len(s) for s in step_scores) / len(step_scores)
    return {"located": hits / len(first_wrong), "chance": chance, "solutions": float(len(first_wrong))}


def cleared_share(step_scores: Sequence[Sequence[float]], threshold: float = 0.5) -> float:
    """Over correct solutions: the share in which the PRM finds every step right (no σ(score) < threshold)."""
    if not step_scores:
        raise ValueError("no correct solution to clear")
    return sum(predicted_first_wrong(s, threshold) is None for s in step_scores) / len(step_scores)
