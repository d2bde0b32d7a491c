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
from evaluation.sandbox import SandboxConfig, SandboxPool
from mathforge.config import ConfigError
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


def _train_tiny_lm(texts: list[str], folder: Path, steps: int = 200) -> Path:
    """A tiny Llama (head_dim 64 for vLLM's CPU kernels) trained for `steps` steps of 32 of `texts`."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_bpe(texts, 500, folder, split_digits=False)  # every value one token: copying is one lookup
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tok.vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=1, num_key_value_heads=1, head_dim=64, max_position_embeddings=128,
                         bos_token_id=tok.bos_id, eos_token_id=tok.eos_id, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sequences = [tok.encode(t) + [tok.eos_id] for t in texts]
    for step in range(steps):
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


@pytest.fixture(scope="module")
def copy_model(tmp_path_factory) -> Path:
    """Trained to continue a carry solution."""
    rng = random.Random(0)
    texts = []
    for _ in range(2000):
        start, steps, _ = carry_solution(rng)
        texts.append(question_prompt(_question(start), "plain") + " " + "\n".join(steps))
    return _train_tiny_lm(texts, tmp_path_factory.mktemp("copy_model"))


def chain_program(rng: random.Random) -> tuple[int, list[str], int | None]:
    """A program that passes the start value down a chain of variables and prints it, as steps (fences
    included); a corrupted one assigns a wrong constant on one line, which every later line inherits.
    (start value, steps, index of the first corrupted step or None)."""
    start, k = rng.randint(10, 99), rng.randint(2, 4)
    names = "abcde"[:k]
    lines = [f"a = {start}"] + [f"{names[i]} = {names[i - 1]}" for i in range(1, k)]
    wrong = rng.randrange(k + 1)
    if wrong < k:
        lines[wrong] = f"{names[wrong]} = {rng.choice([v for v in range(10, 100) if v != start])}"
    steps = ["```python", *lines, f"print({names[k - 1]})", "```"]
    return start, steps, wrong + 1 if wrong < k else None


@pytest.fixture(scope="module")
def program_model(tmp_path_factory) -> Path:
    """Trained on correct chain programs only: from any prefix it continues the chain it was given."""
    rng = random.Random(1)
    texts = []
    while len(texts) < 2000:
        start, steps, wrong = chain_program(rng)
        if wrong is None:
            texts.append(question_prompt(_question(start), "plain") + " " + "\n".join(steps))
    return _train_tiny_lm(texts, tmp_path_factory.mktemp("program_model"), steps=400)  # 200: it does not copy yet


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


def test_program_of_thought_labels_run_the_completed_programs(program_model):
    """PoT: a prefix's completions are graded by running prefix + completion in the sandbox, so a step
    after the corrupted constant is labelled wrong although its own line is right."""
    rng = random.Random(7)
    solutions, first_wrong = [], []
    while len(solutions) < 12:
        start, steps, wrong = chain_program(rng)
        solutions.append((BenchmarkItem("chain", str(len(solutions)), _question(start), str(start)), steps))
        first_wrong.append(wrong)
    backend = HFBackend(BackendConfig(kind="hf", batch_size=16), str(program_model))
    grader = Grader()
    cfg = ShepherdConfig(completions=4, temperature=0.5, prompt="plain", style="pot", max_new_tokens=48)
    try:
        with pytest.raises(ConfigError, match="sandbox"):
            label_solutions(solutions, backend, cfg, grader)
        with SandboxPool(SandboxConfig(workers=2)) as sandbox:
            labelled, stats = label_solutions(solutions, backend, cfg, grader, sandbox)
    finally:
        grader.close()
    assert any(w is not None for w in first_wrong) and any(w is None for w in first_wrong)
    for solution, wrong in zip(labelled, first_wrong, strict=True):
        expected = [1.0 if wrong is None or k < wrong else 0.0 for k in range(len(solution.steps))]
        assert list(solution.labels) == expected, (solution.steps, solution.labels)
    assert stats.completions == 4 * stats.prefixes


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
