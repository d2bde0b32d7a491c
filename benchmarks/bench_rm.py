"""Reward models on CPU: training step time, Math-Shepherd labelling throughput, and (--quality) what an
outcome and a process RM learn on the synthetic task.

    .venv/bin/python benchmarks/bench_rm.py [--steps 10] [--quality] [--seeds 0 1]     (just bench-rm)

1. RM training step (same tiny Llama, batch, lengths, pointwise BCE at the last token, Adam): ours =
   megatron-core GPTModel + scalar head through the training core's `train_step`; reference = a
   transformers `LlamaForSequenceClassification` with torch AdamW (the model TRL's RewardTrainer trains).
2. Math-Shepherd labelling (`training.rl.math_shepherd`): steps labelled per second with N completions
   per step prefix, vLLM CPU engine vs the transformers backend, on the tiny random Llama of
   `evaluation.tiny_model` (the labels are meaningless there; the throughput is what is measured).
3. --quality (generated data only: the synthetic task of `training.sft.synthetic`): a short SFT warm-up
   (`training.rl.experiment.warm_up`) or `--start` (an SFT export, e.g. `benchmarks/sft_gain.py`'s), then
   an outcome RM and a process RM trained from it on correct and corrupted solutions in `--style`
   (`training.rl.synthetic_steps`: CoT with a wrong step result, PoT with a mis-copied constant);
   held-out ORM AUC, PRM first-wrong-step location against chance and the share of correct solutions it
   clears (PoT: also against guessing the first program line, and on multi-line programs alone), per seed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _rows(batch: int, length: int, vocab: int, seed: int):
    import torch

    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(3, vocab, (batch, length + 1), generator=gen)
    targets = torch.randint(0, 2, (batch, 1), generator=gen).float()
    return tokens, targets


def ours_step_seconds(cfg, batch: int, steps: int) -> float:
    import torch

    from training.model import build_model
    from training.parallel import ParallelConfig, distributed
    from training.reward_model import RewardObjective, attach_scalar_head
    from training.step import OptimizerConfig, build_optimizer, train_step, wrap_model

    with distributed(ParallelConfig(), seed=0):
        model = build_model(cfg)
        attach_scalar_head(model)
        opt_cfg = OptimizerConfig(weight_decay=0.0)
        model = wrap_model(model, opt_cfg)
        optimizer = build_optimizer(model, opt_cfg)
        tokens, targets = _rows(batch, cfg.seq_length, cfg.vocab_size, 0)
        micro = {"tokens": tokens, "score_index": torch.full((batch, 1), cfg.seq_length - 1),
                 "score_target": targets, "score_mask": torch.ones(batch, 1)}
        times = []
        for _ in range(steps + 1):
            began = time.perf_counter()
            train_step(model, optimizer, [micro], 1e-5, RewardObjective())
            times.append(time.perf_counter() - began)
    return sum(times[1:]) / steps


def reference_step_seconds(cfg, batch: int, steps: int) -> float:
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    config = LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.ffn_hidden_size,
                         num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_attention_heads,
                         num_key_value_heads=cfg.num_attention_heads, max_position_embeddings=cfg.seq_length,
                         num_labels=1, pad_token_id=0, tie_word_embeddings=False)
    model = LlamaForSequenceClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.0)
    tokens, targets = _rows(batch, cfg.seq_length, cfg.vocab_size, 0)
    times = []
    for _ in range(steps + 1):
        began = time.perf_counter()
        logits = model(input_ids=tokens[:, :-1]).logits
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        times.append(time.perf_counter() - began)
    return sum(times[1:]) / steps


def labelling_throughput(work: Path, kind: str, solutions: int, completions: int) -> dict:
    from evaluation.backends import BackendConfig
    from evaluation.benchmarks import BenchmarkItem
    from evaluation.grading import Grader
    from evaluation.tiny_model import write_tiny_llama
    from training.rl.math_shepherd import ShepherdConfig, label_solutions, make_labelling_backend
    from training.sft.synthetic import draw_items

    model = work / "tiny"
    if not (model / "config.json").is_file():
        write_tiny_llama(model)
    items = draw_items(solutions, 0, ("en",))
    pairs = [(BenchmarkItem("synthetic", i.item_id, i.question, i.answer), i.solution("cot").split("\n")) for i in items]
    cfg = ShepherdConfig(completions=completions, max_new_tokens=48, temperature=1.0)
    backend = make_labelling_backend(BackendConfig(kind=kind, max_model_len=512), str(model), cfg)
    grader = Grader()
    try:
        label_solutions(pairs[:2], backend, cfg, grader)  # warm-up
        _, stats = label_solutions(pairs, backend, cfg, grader)
    finally:
        grader.close()
        backend.close()
    return {"steps_per_s": stats.steps_per_s, "completions_per_s": stats.completions / stats.seconds,
            "steps": stats.steps, "seconds": stats.seconds}


def quality(work: Path, seed: int, sft_steps: int, start: Path | None = None, style: str = "cot",
            langs: tuple[str, ...] = ("en",), train_count: int = 1500, seq_length: int = 160, lr: float = 1e-4,
            epochs: float = 2.0) -> dict:
    """Generated data: ORM AUC and PRM first-wrong-step location on held-out synthetic solutions in format
    `style`, reward models trained from `start` (an SFT export) or else a fresh warm-up."""
    from training.reward_training import encode
    from training.rl.experiment import TINY_MODEL, WarmupConfig, train_synthetic_reward_model, warm_up
    from training.rl.model_rewards import RewardScorer
    from training.rl.rm_eval import auc, cleared_share, first_wrong_step_location
    from training.rl.synthetic_steps import labelled_solutions
    from training.sft.synthetic import heldout_split
    from training.tokenizer import load_tokenizer

    root = work / f"seed{seed}"
    sft = start or root / "warmup" / "sft" / "hf"
    if not (sft / "model.safetensors").is_file():
        warm_up(root / "warmup", seed=seed, cfg=WarmupConfig(steps=sft_steps))
    model = TINY_MODEL
    if start is not None:
        from training.hf_checkpoint import model_config_from_hf

        model = model_config_from_hf(json.loads((start / "config.json").read_text()), seq_length=seq_length)
    _, test_items = heldout_split(train_count, 200, seed, langs)
    test = labelled_solutions(test_items, seed=seed + 100, wrong_per_item=1, fmt=style)
    tokenizer = load_tokenizer(sft)
    examples = [encode(tokenizer, s, "\n", "process", style) for s in test]
    out = {"seed": seed, "start": str(sft), "style": style, "rm_questions": train_count, "lr": lr, "epochs": epochs,
           "test_solutions": len(test)}
    for kind in ("outcome", "process"):
        began = time.perf_counter()
        hf = root / f"rm-{style}-{kind}" / "hf"
        if not (hf / "config.json").is_file():
            hf = train_synthetic_reward_model(root / f"rm-{style}-{kind}", sft, kind, seed=seed, train_count=train_count,
                                              model=model, lr=lr, epochs=epochs, fmt=style, langs=langs)
        out[f"{kind}_train_seconds"] = time.perf_counter() - began
        scores = RewardScorer(hf).position_scores([ids for ids, _, _ in examples])
        last = [float(sc[ends[-1]]) for sc, (_, ends, _) in zip(scores, examples, strict=True)]
        correct = [s.labels[-1] > 0.5 for s in test]
        if kind == "outcome":
            out["orm_auc"] = auc(last, correct)
            continue
        wrong = [(sc, ends, s) for sc, (_, ends, _), s in zip(scores, examples, test, strict=True)
                 if s.first_wrong_step() is not None]
        step_scores = [[float(sc[e]) for e in ends] for sc, ends, _ in wrong]
        first = [s.first_wrong_step() for _, _, s in wrong]
        out |= {f"prm_{k}": v for k, v in first_wrong_step_location(step_scores, first).items()}
        out["prm_correct_cleared"] = cleared_share([[float(sc[e]) for e in ends] for sc, (_, ends, _), s
                                                    in zip(scores, examples, test, strict=True) if s.labels[-1] > 0.5])
        out["prm_last_step_auc"] = auc(last, correct)
        if style == "pot":  # the fences are never wrong: guessing among the program lines is the fair chance
            lines = [len(s.steps) - 2 for _, _, s in wrong]
            out["chance_program_lines"] = sum(1 / n for n in lines) / len(lines)
            out["first_program_line_guess"] = sum(f == 1 for f in first) / len(first)  # it clears no correct one
            multi = [k for k, n in enumerate(lines) if n > 1]
            out |= {f"prm_multiline_{k}": v for k, v in first_wrong_step_location(
                [step_scores[k] for k in multi], [first[k] for k in multi]).items()}
            out["first_program_line_guess_multiline"] = sum(first[k] == 1 for k in multi) / len(multi)
    return out


def main() -> None:
    from training.model import ModelConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--solutions", type=int, default=32)
    parser.add_argument("--completions", type=int, default=8)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--sft-steps", type=int, default=1500, help="warm-up SFT steps of --quality")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--start", type=Path, default=None, help="--quality: an SFT export instead of a warm-up")
    parser.add_argument("--style", choices=["cot", "pot"], default="cot", help="--quality: the solution format")
    parser.add_argument("--langs", nargs="+", choices=["en", "zh"], default=["en"])
    parser.add_argument("--rm-questions", type=int, default=1500, help="--quality: training questions of the RMs")
    parser.add_argument("--rm-lr", type=float, default=1e-4)
    parser.add_argument("--rm-epochs", type=float, default=2.0)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_rm_"))
    if not args.skip_speed:
        cfg = ModelConfig(num_layers=2, hidden_size=128, num_attention_heads=2, ffn_hidden_size=256, vocab_size=512,
                          seq_length=128)
        ours, ref = ours_step_seconds(cfg, args.batch, args.steps), reference_step_seconds(cfg, args.batch, args.steps)
        print(f"RM training step, {args.batch} x {cfg.seq_length} tokens, tiny Llama (2 x 128), mean of {args.steps}")
        print(f"{'':<30}{'mathforge (megatron)':>22}{'transformers + AdamW':>22}")
        print(f"{'seconds / step':<30}{ours:>22.3f}{ref:>22.3f}")
        print(f"{'tokens / s':<30}{args.batch * cfg.seq_length / ours:>22.0f}{args.batch * cfg.seq_length / ref:>22.0f}")
        rows = {kind: labelling_throughput(work, kind, args.solutions, args.completions) for kind in ("vllm", "hf")}
        print(f"\nMath-Shepherd labelling, {args.solutions} solutions x 3 steps, N = {args.completions} completions "
              "(<= 48 tokens) per prefix, tiny random Llama")
        print(f"{'':<30}{'vLLM CPU':>22}{'transformers':>22}")
        for key in ("steps_per_s", "completions_per_s"):
            print(f"{key.replace('_', ' ').replace(' per s', ' / s'):<30}{rows['vllm'][key]:>22.2f}{rows['hf'][key]:>22.2f}")
    if args.quality:
        for seed in args.seeds:
            print(json.dumps(quality(work, seed, args.sft_steps, args.start, args.style, tuple(args.langs),
                                     args.rm_questions, lr=args.rm_lr, epochs=args.rm_epochs), indent=2))


if __name__ == "__main__":
    main()
