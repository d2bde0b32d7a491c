"""Continued pretraining (stage 1): tokenised mixture -> megatron-core GPT, with checkpoints and metrics.

The loop only composes the pieces: `data` (tokenise + blended stream), `schedule` (LR, batch plan),
`step` (one optimizer step under TP/PP/DP), `checkpoint` (save/resume), `metrics` (JSONL,
TensorBoard, plot), `hf_checkpoint` (start from / export to a Hugging Face Llama checkpoint).
Sample i of the stream is read for global sample index i, so the data position is just the step.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.distributed as dist

from mathforge.config import ConfigError, save_resolved_config
from mathforge.log import get_logger, progress
from training import checkpoint, hf_checkpoint
from training.data import DataConfig, blend, build_gpt_dataset, sample_tokens, tokenize_sources
from training.metrics import METRICS_NAME, MetricsLog, plot_loss
from training.model import ModelConfig, build_model, flops_per_token
from training.parallel import ParallelConfig, distributed
from training.preemption import StopRequest
from training.schedule import BatchPlan, ScheduleConfig, multi_step_lr, plan_batch
from training.step import NonFiniteLossError, OptimizerConfig, build_optimizer, train_step, wrap_model

log = get_logger(__name__)


@dataclass
class TrainConfig:
    run_dir: Path = Path("runs/pretrain")
    total_tokens: int = 1_000_000
    global_batch_tokens: int = 4096
    micro_batch_size: int = 4
    seed: int = 1234
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    save_every: int = 100  # steps; 0 saves only at the end
    keep_checkpoints: int = 3  # newest checkpoints kept (a 7B one is ~110 GB with AdamW states); 0 keeps all
    init_from_hf: Path | None = None  # stage 0: start from a Llama-format checkpoint
    export_hf: bool = True  # write run_dir/hf (with the tokenizer) at the end
    peak_tflops: float = 989.0  # per accelerator, for MFU (H100 SXM dense bf16)


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    parallel: ParallelConfig = field(default_factory=ParallelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


class TrainingStopped(RuntimeError):
    """The run stopped early (non-finite loss); the message names the step and the last good checkpoint."""


def micro_batches(dataset, plan: BatchPlan, step: int, dp_rank: int) -> list[torch.Tensor]:
    """This rank's micro-batches of `step`: global sample index = step*G + (m*DP + rank)*B + b."""
    base = step * plan.global_batch_sequences
    out = []
    for m in range(plan.num_microbatches):
        first = base + (m * plan.data_parallel + dp_rank) * plan.micro_batch_size
        out.append(torch.stack([sample_tokens(dataset, first + b) for b in range(plan.micro_batch_size)]))
    return out


def _use_bf16(precision: str) -> bool:
    if precision == "bf16" and not torch.cuda.is_available():
        # megatron's schedules autocast with device "cuda": on CPU that would silently train in fp32
        raise ConfigError("train.precision = 'bf16' needs a GPU; use 'auto' or 'fp32' on CPU")
    return precision == "bf16" or (precision == "auto" and torch.cuda.is_available())


def pretrain(cfg: PretrainConfig) -> dict:
    """Run (or resume) pretraining under torchrun or as one process. Returns a summary on every rank."""
    bf16 = _use_bf16(cfg.train.precision)
    logging.getLogger("megatron").setLevel(max(logging.WARNING, log.getEffectiveLevel()))  # per-dataset chatter
    with distributed(cfg.parallel, cfg.train.seed):
        from megatron.core import parallel_state as ps

        if dist.get_rank() == 0:
            cfg.train.run_dir.mkdir(parents=True, exist_ok=True)
            save_resolved_config(cfg, cfg.train.run_dir)
        dataset, plan, total_steps = _prepare_data(cfg)
        model = build_model(
            cfg.model, bf16=bf16, tp=cfg.parallel.tensor, pp=cfg.parallel.pipeline,
            pre_process=ps.is_pipeline_first_stage(), post_process=ps.is_pipeline_last_stage(),
        )
        folder = checkpoint.latest(cfg.train.run_dir)
        if folder is None and cfg.train.init_from_hf is not None:
            _init_from_hf(cfg, model)
        model = wrap_model(model, cfg.optimizer)
        optimizer = build_optimizer(model, cfg.optimizer)
        start = _resume(folder, model, optimizer, total_steps) if folder is not None else 0
        last_saved, stopped_at = _train_loop(cfg, model, optimizer, dataset, plan, start, total_steps)
        return _finish(cfg, total_steps, last_saved, stopped_at)


def _train_loop(cfg: PretrainConfig, model, optimizer, dataset, plan: BatchPlan, start: int,
                total_steps: int) -> tuple[Path | None, int | None]:
    """Steps `start`..`total_steps`-1 with metrics and checkpoints; (last checkpoint, step stopped at by a signal)."""
    from megatron.core import parallel_state as ps

    run_dir, rank0 = cfg.train.run_dir, dist.get_rank() == 0
    metrics = MetricsLog(run_dir, start) if rank0 else None
    flops = flops_per_token(cfg.model)
    last_saved = checkpoint.latest(run_dir)
    report_every = max(1, total_steps // 20)
    steps = range(start, total_steps)
    stop = StopRequest()
    try:
        for step in progress(steps, "pretrain", total=len(steps), unit="step") if rank0 else steps:
            lr = multi_step_lr(step, total_steps, cfg.schedule)
            began = time.perf_counter()
            batches = micro_batches(dataset, plan, step, ps.get_data_parallel_rank())
            try:
                result = train_step(model, optimizer, batches, lr)
            except NonFiniteLossError as exc:
                raise TrainingStopped(
                    f"step {step}: {exc}; stopped without applying it. Last good checkpoint: {last_saved}"
                ) from exc
            seconds = time.perf_counter() - began
            if metrics:
                metrics.log(_record(step, lr, result, seconds, plan, flops, cfg.train.peak_tflops))
                if step % report_every == 0 or step == total_steps - 1:
                    log.info("step %d/%d loss %.4f lr %.3g grad-norm %.3f %.0f tokens/s", step, total_steps,
                             result.loss, lr, result.grad_norm, plan.global_batch_tokens / seconds)
            done = step + 1
            stopping = stop.agreed()
            if stopping or done == total_steps or (cfg.train.save_every and done % cfg.train.save_every == 0):
                meta = {"consumed_samples": done * plan.global_batch_sequences, "total_steps": total_steps}
                last_saved = checkpoint.save(run_dir, done, model, optimizer, meta, cfg.train.keep_checkpoints)
            if stopping and done < total_steps:
                log.warning("stop signal: saved %s after step %d of %d; rerun to resume", last_saved, done,
                            total_steps)
                return last_saved, done
    finally:
        stop.close()
        if metrics:
            metrics.close()
    return last_saved, None


def _finish(cfg: PretrainConfig, total_steps: int, last_saved: Path | None, stopped_at: int | None) -> dict:
    """Summary; for a complete run also the HF export (rank 0, from the final checkpoint) and the loss plot."""
    run_dir, rank0 = cfg.train.run_dir, dist.get_rank() == 0
    summary = {"run_dir": str(run_dir), "steps": total_steps, "checkpoint": str(last_saved)}
    if stopped_at is not None:
        summary["stopped_at"] = stopped_at  # incomplete: no export
        return summary
    if cfg.train.export_hf:  # from the checkpoint's shards on disk: one host copy, no GPU memory
        if rank0:
            hf = hf_checkpoint.megatron_to_hf(checkpoint.read_full_model(last_saved, cfg.model), cfg.model)
            hf_checkpoint.save_hf(run_dir / "hf", hf, cfg.model, tokenizer_dir=cfg.data.tokenizer_dir)
        dist.barrier()
        summary["hf"] = str(run_dir / "hf")
    if rank0:
        summary["plot"] = str(plot_loss(run_dir / METRICS_NAME, run_dir / "loss.png"))
    return summary


def _prepare_data(cfg: PretrainConfig):
    """Tokenise (rank 0 first, the others then find the files done) and build the blended stream."""
    from megatron.core import parallel_state as ps

    from training.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(cfg.data.tokenizer_dir)
    if tokenizer.vocab_size > cfg.model.vocab_size:
        raise ConfigError(
            f"tokenizer {cfg.data.tokenizer_dir} has {tokenizer.vocab_size} tokens, more than model.vocab_size "
            f"{cfg.model.vocab_size}"
        )
    if dist.get_rank() == 0:
        files = tokenize_sources(cfg.data)
    dist.barrier()
    if dist.get_rank() != 0:
        files = tokenize_sources(cfg.data)
    try:
        plan = plan_batch(cfg.train.global_batch_tokens, cfg.model.seq_length, cfg.train.micro_batch_size,
                          ps.get_data_parallel_world_size())
    except ValueError as exc:
        raise ConfigError(f"train.global_batch_tokens / train.micro_batch_size: {exc}") from exc
    total_steps = cfg.train.total_tokens // plan.global_batch_tokens
    if total_steps == 0:
        raise ConfigError(f"train.total_tokens {cfg.train.total_tokens} is less than one global batch")
    prefixes, weights = blend(files, {s.name: s.weight for s in cfg.data.sources})
    args = (prefixes, weights, cfg.model.seq_length, total_steps * plan.global_batch_sequences,
            tokenizer.vocab_size, tokenizer.eod, cfg.data.seed, cfg.data.tokenized_dir / "cache")
    if dist.get_rank() == 0:  # rank 0 writes megatron's index cache, the others read it
        dataset = build_gpt_dataset(*args)
    dist.barrier()
    if dist.get_rank() != 0:
        dataset = build_gpt_dataset(*args)
    log.info("batch: %d x %d micro-batches x %d DP = %d tokens/step; %d steps", plan.micro_batch_size,
             plan.num_microbatches, plan.data_parallel, plan.global_batch_tokens, total_steps)
    return dataset, plan, total_steps


def _resume(folder: Path, model, optimizer, total_steps: int) -> int:
    """Continue from checkpoint `folder` (any TP/PP/DP layout); returns the step to run next."""
    meta = checkpoint.load(folder, model, optimizer)
    log.info("resumed from %s (step %d)", folder, meta["step"])
    if meta["total_steps"] != total_steps:
        log.warning("the checkpoint was written by a run of %d steps, this one has %d: the LR schedule "
                    "and the data order after the resume point differ from the original run",
                    meta["total_steps"], total_steps)
    return int(meta["step"])


def _init_from_hf(cfg: PretrainConfig, model) -> None:
    """Stage 0 of a fresh run: the weights of a Llama-format checkpoint."""
    hf_cfg, hf = hf_checkpoint.load_hf(cfg.train.init_from_hf, seq_length=cfg.model.seq_length)
    if hf_cfg != cfg.model:
        raise ConfigError(f"train.init_from_hf {cfg.train.init_from_hf}: config.json gives {hf_cfg}, "
                          f"the [model] table {cfg.model}")
    hf_checkpoint.load_into_model(model, hf_checkpoint.hf_to_megatron(hf, cfg.model), cfg.model)
    log.info("initialised from %s", cfg.train.init_from_hf)


def _record(step, lr, result, seconds, plan, flops, peak_tflops) -> dict:
    tokens_per_s = plan.global_batch_tokens / seconds
    tflops = flops * tokens_per_s / 1e12 / dist.get_world_size()  # per accelerator / process
    record = {"step": step, "loss": result.loss, "lr": lr, "grad_norm": result.grad_norm,
              "tokens_per_s": tokens_per_s, "tflops": tflops, "seconds": seconds}
    if torch.cuda.is_available():
        record["mfu"] = tflops / peak_tflops
    return record
