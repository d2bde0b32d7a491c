"""The held-out synthetic split goes through the evaluation runner (chat prompts, CoT and PoT) as two
local benchmarks, with the items' gold answers."""

from __future__ import annotations

import json

from evaluation.benchmarks import LOCAL_BENCHMARKS
from training.sft.heldout import evaluate_heldout
from training.sft.synthetic import draw_items


def test_heldout_split_is_evaluated_by_the_evaluation_runner(tiny_llama_dir, tmp_path):
    items = draw_items(4, seed=9)
    scores = evaluate_heldout(tiny_llama_dir, items, tmp_path, max_new_tokens=8)
    assert set(scores) == {"synthetic_en/cot", "synthetic_en/pot", "synthetic_zh/cot", "synthetic_zh/pot"}
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert not {"synthetic_en", "synthetic_zh"} & set(LOCAL_BENCHMARKS)  # the registry is left as it was
    rows = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["style"], r["gold"]) for r in rows) == sorted((s, i.answer) for i in items for s in ("cot", "pot"))
