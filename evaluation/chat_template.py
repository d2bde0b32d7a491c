"""The DeepSeekMath-Instruct chat format: one home for SFT data, GRPO rollouts and evaluation, so that
training, RL and evaluation see byte-identical text.

    {system}\\n\\nUser: {user}\\n\\nAssistant: {assistant}<eos>User: {user}\\n\\nAssistant:

(the DeepSeek tokenizer's own template; the end-of-sentence token is added by the tokenizer, not
here). Tool-integrated answers interleave text with ```python blocks, each followed by an ```output
block holding the program's real execution output.

For training, `chat_segments` cuts the same text into (text, trainable) pieces: the loss counts only
assistant text, and inside it not the ```output blocks (the sandbox writes those, not the model).
The model does write the "```output" that opens one (it is the stop string that makes the
evaluation loop run the program), so the mask starts right after it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

USER_PREFIX = "User: "
ASSISTANT_PREFIX = "Assistant:"  # the generation prompt; the answer starts with a space
TURN_SEPARATOR = "\n\n"
OUTPUT_OPEN = "```output"
# what follows the opening "```output" up to and including the line that closes the block
_OUTPUT_BODY = re.compile(re.escape(OUTPUT_OPEN) + r"(\n.*?\n```[ \t]*(?:\n|$)|\n```[ \t]*(?:\n|$))", re.DOTALL)


def chat_prompt(messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The conversation as text. A system message, if any, is plain text followed by a blank line;
    an assistant turn is `Assistant: {content}` (its end-of-sentence token belongs to the tokenizer)."""
    parts = []
    for message in messages:
        role, content = message["role"], message["content"]
        if role == "system":
            parts.append(f"{content}{TURN_SEPARATOR}")
        elif role == "user":
            parts.append(f"{USER_PREFIX}{content}{TURN_SEPARATOR}")
        elif role == "assistant":
            parts.append(f"{ASSISTANT_PREFIX} {content}")
        else:
            raise ValueError(f"unknown chat role {role!r}")
    if add_generation_prompt:
        parts.append(ASSISTANT_PREFIX)
    return "".join(parts)


@dataclass(frozen=True)
class Segment:
    text: str
    trainable: bool  # the loss counts these characters' tokens
    ends_turn: bool = False  # an assistant turn ends here: the tokenizer's end-of-sentence token follows


def chat_segments(messages: Sequence[dict[str, str]]) -> list[Segment]:
    """`chat_prompt(messages, add_generation_prompt=False)` cut into segments whose text joins to exactly
    that string: everything up to and including each "Assistant:" is not trainable; the assistant's
    content (from its leading space) is, except the body of each ```output block."""
    segments: list[Segment] = []
    for message in messages:
        if message["role"] != "assistant":
            segments.append(Segment(chat_prompt([message], add_generation_prompt=False), False))
            continue
        segments.append(Segment(ASSISTANT_PREFIX, False))
        text, start = " " + message["content"], 0
        for match in _OUTPUT_BODY.finditer(text):
            segments += [Segment(text[start:match.start(1)], True), Segment(match.group(1), False)]
            start = match.end(1)
        segments.append(Segment(text[start:], True, ends_turn=True))
    return [s for s in segments if s.text or s.ends_turn]
