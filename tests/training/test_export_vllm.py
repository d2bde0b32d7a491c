"""The pretrained tiny model's HF export (with its BPE tokenizer) is served by real vLLM (CPU build)
and decodes greedily exactly as transformers does."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.vllm


PROMPTS = ["Problem: compute $12 + 30$.\nSolution:", "Problem: compute $7 \\times 9$."]


@pytest.mark.timeout(300)
def test_vllm_serves_the_export_like_transformers(demo_run):
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from vllm import SamplingParams

    from evaluation.backends.vllm_backend import close_llm, start_llm

    hf_dir = demo_run[1]["hf_dir"]
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    llm = start_llm(hf_dir, 64, False, dtype="float32", gpu_memory_utilization=0.3, seed=0)
    try:
        greedy = SamplingParams(temperature=0.0, max_tokens=10, ignore_eos=True)
        served = [list(o.outputs[0].token_ids) for o in llm.generate(PROMPTS, greedy, use_tqdm=False)]
    finally:
        close_llm(llm)
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
    for prompt, ids_vllm in zip(PROMPTS, served, strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            ref = model.generate(ids, max_new_tokens=10, min_new_tokens=10, do_sample=False)
        assert ids_vllm == ref[0, ids.shape[1]:].tolist()
