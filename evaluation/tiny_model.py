"""A tiny random Llama checkpoint with its own tokenizer, for tests, the demo and benchmarks (no hub).

head_dim 64: vLLM's CPU attention kernels refuse smaller heads. The tokenizer is a byte-level BPE
trained on a few sentences, so any text encodes; the model's outputs are random but deterministic.
"""

from __future__ import annotations

from pathlib import Path

_CORPUS = [
    "Question: Tom has 3 apples and buys 4 more. How many apples does he have? Answer: 3 + 4 = 7. The answer is 7.",
    "问题：小明有15个苹果，送给同学6个。答案：15 - 6 = 9。答案是 9。",
    "```python\nprint(3 * 4)\n```\n```output\n12\n```\nThe answer is \\boxed{12}.",
    "User: What is 2 + 2?\n\nAssistant: 2 + 2 = 4, so the answer is \\boxed{4}.",
    "0123456789 + - * / = ( ) [ ] { } \\frac \\sqrt \\pi x y z",
]


def write_tiny_llama(path: Path, seed: int = 0, vocab_size: int = 512, layers: int = 2) -> Path:
    """Write config.json, model.safetensors and tokenizer files of a random tiny Llama to `path`."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(_CORPUS * 4, vocab_size=vocab_size, min_frequency=1, special_tokens=["<s>", "</s>", "<pad>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    tokenizer.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=2, head_dim=64, max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False, torch_dtype="float32",
    )
    LlamaForCausalLM(config).save_pretrained(path, safe_serialization=True)
    return path
