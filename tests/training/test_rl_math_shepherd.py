"""Math-Shepherd labelling on a task whose right continuation is known: solutions "carry N" step by step
from the question's start value, the answer the last value carried. A tiny Llama trained here to copy the
last carried value completes every prefix with that value, so a step is on a path to the gold answer
exactly when no corrupted step precedes it: the expected labels are known before sampling. Labelled
through the real HF backend in-process and through real vLLM (CPU build) via `mathforge train prm-label`."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from evaluation.backends import BackendConfig
from evaluation.backends.hf import HFBackend
from evaluation.benchmarks import BenchmarkItem
from evaluation.grading import Grader
from training.rl.math_shepherd import ShepherdConfig, label_solutions, prefix_prompt, step_labels
from training.rl.step_labels import question_prompt, read_labelled
from training.tokenizer import train_bpe

REPO = Path(__file__).resolve().parents[2]


def carry_solution(rng: random.Random) -> tuple[int, list[str], int | None]:
    """(start value, steps, index of the first corrupted step or None)."""
    start, k = rng.randint(10, 99), rng.randint(2, 4)
    values = [start] * k
    wrong = rng.randrange(k + 1)
    if wrong < k:
        values[wrong:] = [rng.choice([v for v in range(10, 100) if v != start])] * (k - wrong)
    return start, [f"carry {v}" for v in values] + [f"The answer is {values[-1]}."], wrong if wrong < k else None


def _question(start: int) -> str:
    return f"Start at {start}."


@pytest.fixture(scope="module")
def copy_model(tmp_path_factory) -> Path:
    """A tiny Llama (head_dim 64 for vLLM's CPU kernels) trained to continue a carry solution."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("copy_model")
    rng = random.Random(0)
    texts = []
    for _ in range(2000):
        start, steps, _ = carry_solution(rng)
        texts.append(question_prompt(_question(start), "plain") + " " + "\n".join(steps))
    tok = train_bpe(texts, 500, folder, split_digits=False)  # every value one token: copying is one lookup
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=64, max_position_embeddings=128,
                         bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sequences = [tok.encode(t) + [tok.eos_id] for t in texts]
    for step in range(200):
        batch = random.Random(step).sample(sequences, 32)
        length = max(map(len, batch))
        ids = torch.tensor([s + [tok.eos_id] * (length - len(s)) for s in batch])
        labels = torch.tensor([s + [-100] * (length - len(s)) for s in batch])
        loss = model(input_ids=ids, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.save_pretrained(folder)
    return folder


def _solutions(n: int, seed: int) -> tuple[list[tuple[BenchmarkItem, list[str]]], list[int | None]]:
    rng = random.Random(seed)
    out, wrong = [], []
    for i in range(n):
        start, steps, first_wrong = carry_solution(rng)
        out.append((BenchmarkItem("carry", str(i), _question(start), str(start)), steps))
        wrong.append(first_wrong)
    return out, wrong


def test_labels_from_reach_counts():
    assert step_labels([3, 0, 1], 4, True, "hard") == (1.0, 0.0, 1.0, 1.0)
    assert step_labels([3, 0, 1], 4, False, "soft") == (0.75, 0.0, 0.25, 0.0)
    assert prefix_prompt("Q?", ["a", "b", "c"], 2, "\n", "plain") == "User: Q?\n\nAssistant: a\nb\n"
    assert prefix_prompt("Q?", ["a", "b"], 1, "\n").endswith("within \\boxed{}.\n\nAssistant: a\n")


def test_hard_and_soft_labels_find_the_first_corrupted_step(copy_model):
    solutions, first_wrong = _solutions(12, seed=5)
    backend = HFBackend(BackendConfig(kind="hf", batch_size=16), str(copy_model))
    grader = Grader()
    try:
        hard, stats = label_solutions(solutions, backend, ShepherdConfig(completions=4, temperature=0.5, prompt="plain",
                                                                         max_new_tokens=24), grader)
        soft, _ = label_solutions(solutions, backend, ShepherdConfig(completions=4, temperature=0.5, max_new_tokens=24,
                                                                     prompt="plain", labels="soft"), grader)
    finally:
        grader.close()
    assert stats.prefixes == sum(len(steps) - 1 for _, steps in solutions) and stats.completions == 4 * stats.prefixes
    for labelled, soft_labelled, wrong in zip(hard, soft, first_wrong, strict=True):
        expected = [1.0 if wrong is None or k < wrong else 0.0 for k in range(len(labelled.steps))]
        assert list(labelled.labels) == expected, (labelled.steps, labelled.labels)
        assert all(abs(s - e) <= 0.25 for s, e in zip(soft_labelled.labels, expected, strict=True))
        assert labelled.first_wrong_step() == wrong


@pytest.mark.vllm
@pytest.mark.timeout(400)
def test_prm_label_command_with_vllm(copy_model, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    solutions, first_wrong = _solutions(16, seed=9)
    source = tmp_path / "solutions.jsonl"
    source.write_text("".join(json.dumps({"question": item.question, "answer": item.answer, "solution": "\n".join(steps)})
                              + "\n" for item, steps in solutions), encoding="utf-8")
    out = tmp_path / "labels.jsonl"
    overrides = [f'model="{copy_model}"', f'input="{source}"', f'output="{out}"', "backend.max_model_len=128",
                 "shepherd.completions=4", "shepherd.max_new_tokens=24", "shepherd.temperature=0.5",
                 'shepherd.prompt="plain"']
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_TARGET_DEVICE": "cpu"}
    proc = subprocess.run([sys.executable, "-m", "training.cli", "prm-label", str(REPO / "configs/tiny/prm_label.toml"),
                           *overrides], capture_output=True, text=True, env=env, timeout=380, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    labelled = read_labelled(out)
    assert [s.first_wrong_step() for s in labelled] == first_wrong
    stats = json.loads(out.with_suffix(".stats.json").read_text())
    assert stats["completions"] == 4 * stats["prefixes"] and stats["steps_per_s"] > 0
