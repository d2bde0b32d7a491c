"""The DeepSeekMath-Instruct chat format: one home for SFT data, GRPO rollouts and evaluation, so that
training, RL and evaluation see byte-identical text.

    {system}\\n\\nUser: {user}\\n\\nAssistant: {assistant}<eos>User: {user}\\n\\nAssistant:

(the DeepSeek tokenizer's own template; the end-of-sentence token is added by the tokenizer, not
here). Tool-integrated answers interleave text with ```python blocks, each followed by an ```output
block holding the program's real execution output.
"""

from __future__ import annotations

from collections.abc import Sequence

USER_PREFIX = "User: "
ASSISTANT_PREFIX = "Assistant:"  # the generation prompt; the answer starts with a space
TURN_SEPARATOR = "\n\n"


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
