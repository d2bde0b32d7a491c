"""GRPO's data side: the micro-batch layout of scored outputs, the question stream, the prompt sources
(real GSM8K / MATH train files where ../shared is present)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from training.rl.batches import Sample, micro_batches, rank_samples, step_length
from training.rl.prompts import PromptsConfig, PromptSourceConfig, load_items, prompt_text, step_items

TRAIN_DATA = Path(os.environ.get("MATHFORGE_SHARED", Path(__file__).resolve().parents[3] / "shared")) / "data/train"


def test_micro_batches_put_each_response_token_at_its_label_position():
    samples = [Sample((1, 2, 3), (7, 8), (0.5, 0.5), (-1.0, -2.0)), Sample((4,), (9, 10, 11), (1.0, 2.0, 3.0), (-3.0,) * 3)]
    length = step_length(samples)
    assert length == 5
    (batch,) = micro_batches(samples, 2, length, pad_id=0)
    assert batch["tokens"].tolist() == [[1, 2, 3, 7, 8], [4, 9, 10, 11, 0]]
    assert batch["loss_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 0]]
    # label position t predicts tokens[t + 1]: the advantage/log-prob of response token r sits at P + r - 1
    assert batch["advantages"].tolist() == [[0, 0, 0.5, 0.5], [1, 2, 3, 0]]
    assert batch["sampler_logprobs"].tolist() == [[0, 0, -1, -2], [-3, -3, -3, 0]]
    assert [s.response_ids for s in rank_samples(samples * 2, 1, 2)] == [(9, 10, 11), (9, 10, 11)]
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        micro_batches(samples[:1], 2, length, pad_id=0)


def test_question_stream_is_a_permutation_per_epoch_and_deterministic():
    items = list(range(10))
    epoch = [x for step in range(5) for x in step_items(items, step, 2, seed=3)]
    assert sorted(epoch) == items and epoch != items
    assert step_items(items, 7, 2, seed=3) == step_items(items, 7, 2, seed=3)
    assert step_items(items, 7, 2, seed=3) != step_items(items, 7, 2, seed=4)


def test_json_file_sources_skip_and_count_records_without_a_gold_answer(tmp_path, caplog):
    folder = tmp_path / "math" / "algebra"
    folder.mkdir(parents=True)
    (folder / "1.json").write_text(json.dumps({"problem": "What is $1+1$?", "solution": "It is $\\boxed{2}$."}))
    (folder / "2.json").write_text(json.dumps({"problem": "No box.", "solution": "It is 3."}))
    source = PromptSourceConfig(name="math", kind="json_files", paths=[tmp_path / "math"], format="math")
    items = load_items(PromptsConfig(sources=[source]))
    assert [(i.question, i.answer) for i in items] == [("What is $1+1$?", "2")]
    assert "skipped 1 of 2 files" in caplog.text
    prompt = prompt_text(items[0], "cot")
    assert prompt.startswith("User: What is $1+1$?\n") and prompt.endswith("Assistant:")


def test_synthetic_source_keeps_the_heldout_questions_out():
    from training.rl.prompts import synthetic_items

    train = load_items(PromptsConfig(sources=[PromptSourceConfig(name="synthetic", kind="synthetic", count=300,
                                                                  heldout=50, langs=["en"])]))
    test = synthetic_items(300, 0, 50, "test", ["en"])
    assert len(train) == 300 and len(test) == 50
    assert not {i.question for i in train} & {i.question for i in test}


def test_real_gsm8k_and_math_train_splits_load():
    if not TRAIN_DATA.is_dir():
        pytest.skip(f"train data not found at {TRAIN_DATA} (set MATHFORGE_SHARED to the shared/ folder)")
    sources = [PromptSourceConfig(name="gsm8k", kind="jsonl", paths=[TRAIN_DATA / "gsm8k/train.jsonl"], format="gsm8k"),
               PromptSourceConfig(name="math", kind="json_files", paths=[TRAIN_DATA / "math/train/geometry"],
                                  format="math")]
    items = load_items(PromptsConfig(sources=sources))
    gsm = [i for i in items if i.benchmark == "gsm8k"]
    math = [i for i in items if i.benchmark == "math"]
    assert len(gsm) == 7473 and all(i.answer_type == "number" for i in gsm)
    assert len(math) > 800 and all(i.answer for i in math)
    assert torch.tensor([len(i.question) for i in items]).min() > 0
