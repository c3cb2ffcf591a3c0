"""How the model is asked: the chat messages or completion text for a `SamplingPrompt`, and the
stop sequences that end a completion. Used for the editor's function and for training's
problems alike, so both ask the model the same way."""

from __future__ import annotations

from collections.abc import Sequence

from generation.provider import SamplingPrompt

INPUTS_SYSTEM_PROMPT = (
    "You are an expert Python tester. Reply with calls of the function in one ```python code "
    "block, one per line, without explanations."
)


SYSTEM_PROMPT = (
    "You are an expert Python programmer. Reply with the complete function in one "
    "```python code block, without explanations."
)


STDIO_SYSTEM_PROMPT = (
    "You are an expert Python programmer. Reply with a complete Python program that reads "
    "standard input and writes standard output, in one ```python code block, without "
    "explanations."
)


# Completion-style prompts end inside an indented body: a line at column 0 ends the function.
# (OpenAI accepts at most four stop sequences.)
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(")


def chat_messages(prompt: SamplingPrompt) -> list[dict[str, str]]:
    """The chat request for one prompt: a system instruction and the code to complete."""
    if prompt.entry_point is None:
        return [
            {"role": "system", "content": STDIO_SYSTEM_PROMPT},
            {"role": "user", "content": prompt.code.strip() + "\n"},
        ]
    parts = []
    if prompt.context.strip():
        parts.append(
            "Code around the function, for reference:\n```python\n"
            + prompt.context.strip("\n")
            + "\n```\n"
        )
    if prompt.asks_inputs:
        parts.append(
            f"Write {prompt.inputs} calls of {prompt.entry_point}() with different valid "
            "inputs, edge cases included, one call per line, with literal arguments only. The "
            "function:\n```python\n" + prompt.code.rstrip() + "\n```"
        )
        system = INPUTS_SYSTEM_PROMPT
    else:
        parts.append("Complete this Python function:\n```python\n" + prompt.code.rstrip() + "\n```")
        system = SYSTEM_PROMPT
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": "\n".join(parts)},
    ]


def completion_text(prompt: SamplingPrompt) -> str:
    """The raw-completion prompt: context, then the code, ending where the body starts."""
    if prompt.entry_point is None:
        return f'"""{prompt.code.strip()}"""\n\n'
    context = prompt.context.strip("\n")
    code = prompt.code if prompt.code.endswith("\n") else prompt.code + "\n"
    if prompt.asks_inputs:
        # the calls go in a test function's body, so the answer ends where a completion of
        # the function would (a line at column 0)
        code += (
            f"    ...\n\n\ndef test_{prompt.entry_point}():\n"
            f"    # {prompt.inputs} calls with different valid inputs, edge cases included\n    "
        )
    return (context + "\n\n\n" if context else "") + code


def completion_stops(prompt: SamplingPrompt) -> list[str]:
    return list(COMPLETION_STOPS) if prompt.entry_point is not None else []


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the first stop sequence (what an endpoint does with `stop`)."""
    cut = min((i for s in stops if (i := text.find(s)) != -1), default=len(text))
    return text[:cut]
