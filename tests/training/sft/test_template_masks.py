"""Chat template and loss masks: SFT text is the evaluation's prompt plus the answer, the loss counts
no prompt token and no tool-output token, and the EOS closing each assistant turn counts."""

from __future__ import annotations

import pytest

from evaluation.benchmarks import BenchmarkItem
from evaluation.chat_template import chat_prompt, chat_segments
from evaluation.prompts import build_prompt
from training.sft.converters import synthetic_examples
from training.sft.encode import encode_conversation
from training.sft.synthetic import draw_items
from training.tokenizer import train_bpe

ITEMS = draw_items(12, seed=7)
EXAMPLES = synthetic_examples(ITEMS)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = [chat_prompt(e.messages, add_generation_prompt=False) for e in EXAMPLES]
    return train_bpe(texts * 3, 400, tmp_path_factory.mktemp("tok"))


def test_template_round_trips_through_the_evaluation_prompt_builder():
    for item, example in zip((i for i in ITEMS for _ in range(3)), EXAMPLES, strict=True):
        bench = BenchmarkItem("synthetic", item.item_id, item.question, item.answer, lang=item.lang)
        prompt = build_prompt(bench, example.format, chat=True)
        full = chat_prompt(example.messages, add_generation_prompt=False)
        assert full == f"{prompt} {example.solution}"
        assert "".join(s.text for s in chat_segments(example.messages)) == full
        assert "".join(s.text for s in chat_segments(example.messages) if not s.trainable).startswith(prompt)


def test_tool_output_bodies_and_prompts_are_not_trainable():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3?"},
                {"role": "assistant", "content": "Compute.\n```python\nprint(2+3)\n```\n```output\n5\n```\nSo \\boxed{5}."},
                {"role": "user", "content": "times 2?"}, {"role": "assistant", "content": "\\boxed{10}"}]
    trainable = "".join(s.text for s in chat_segments(messages) if s.trainable)
    assert trainable == " Compute.\n```python\nprint(2+3)\n```\n```output" + "So \\boxed{5}." + " \\boxed{10}"
    assert [s.ends_turn for s in chat_segments(messages)].count(True) == 2


def test_loss_tokens_are_exactly_the_assistant_text_without_output_bodies(tokenizer):
    for example in EXAMPLES:
        sample = encode_conversation(example.messages, tokenizer)
        assert sample.tokens[0] == tokenizer.bos_id and not sample.trainable[0]
        assert sample.tokens[-1] == tokenizer.eos_id and sample.trainable[-1]
        ids = sample.tokens.tolist()
        counted = tokenizer.decode([t for t, m in zip(ids[:-1], sample.trainable[:-1], strict=True) if m])
        ignored = tokenizer.decode([t for t, m in zip(ids[1:], sample.trainable[1:], strict=True) if not m])
        expected = "".join(s.text for s in chat_segments(example.messages) if s.trainable)
        assert counted == expected
        assert ignored == "".join(s.text for s in chat_segments(example.messages) if not s.trainable)
        if example.format == "tool":
            assert f"\n{example.answer}\n```\n" in ignored  # the output body is masked
            assert counted.endswith(f"\\boxed{{{example.answer}}}.") or counted.endswith("。")
