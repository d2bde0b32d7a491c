"""The pretrained tiny model's HF export (with its BPE tokenizer) is served by real vLLM (CPU build)
and decodes greedily exactly as transformers does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.vllm

PROMPTS = ["Problem: compute $12 + 30$.\nSolution:", "Problem: compute $7 \\times 9$."]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from vllm import LLM, SamplingParams
    from evaluation.backends.vllm_backend import engine_kwargs

    if __name__ == "__main__":
        llm = LLM(model=sys.argv[1], dtype="float32", gpu_memory_utilization=0.3, seed=0, **engine_kwargs(64, False))
        greedy = SamplingParams(temperature=0.0, max_tokens=10, ignore_eos=True)
        out = [list(o.outputs[0].token_ids) for o in llm.generate(json.loads(sys.argv[2]), greedy)]
        print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.timeout(300)
def test_vllm_serves_the_export_like_transformers(demo_run, tmp_path):
    pytest.importorskip("vllm", reason="vLLM is not installed (install the `cpu` or `gpu` extra)")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hf_dir = demo_run[1]["hf_dir"]
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_TARGET_DEVICE": "cpu"}
    proc = subprocess.run([sys.executable, str(script), hf_dir, json.dumps(PROMPTS)],
                          capture_output=True, text=True, env=env, timeout=280)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    served = json.loads(lines[-1].removeprefix("RESULT "))
    tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir, torch_dtype=torch.float32).eval()
    for prompt, ids_vllm in zip(PROMPTS, served, strict=True):
        ids = tokenizer(prompt, return_tensors="pt").input_ids
        with torch.no_grad():
            ref = model.generate(ids, max_new_tokens=10, min_new_tokens=10, do_sample=False)
        assert ids_vllm == ref[0, ids.shape[1]:].tolist()
