"""Hugging Face transformers backend: the fallback where vLLM is absent (and the reference for it)."""

from __future__ import annotations

from evaluation.backends import BackendConfig, SamplingConfig, cut_at_stop


class HFBackend:
    """Batched `model.generate` with left padding; one seed per batch (seed + batch index)."""

    def __init__(self, cfg: BackendConfig, model_dir: str):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, cfg.dtype)).eval()

    def generate(self, prompts: list[str], sampling: SamplingConfig, stop: list[str]) -> list[list[str]]:
        import torch

        out: list[list[str]] = []
        size = self.cfg.batch_size
        for batch_index, start in enumerate(range(0, len(prompts), size)):
            batch = prompts[start : start + size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False)
            torch.manual_seed(sampling.seed + batch_index)
            sample = sampling.temperature > 0
            kwargs = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p} if sample else {
                "do_sample": False}
            with torch.inference_mode():
                ids = self.model.generate(
                    **enc, max_new_tokens=sampling.max_new_tokens, num_return_sequences=sampling.n,
                    pad_token_id=self.tokenizer.pad_token_id, stop_strings=stop or None, tokenizer=self.tokenizer,
                    **kwargs,
                )
            new = ids[:, enc["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            texts = [cut_at_stop(t, stop) for t in texts]
            out.extend(texts[i * sampling.n : (i + 1) * sampling.n] for i in range(len(batch)))
        return out

    def close(self) -> None:
        self.model = None
