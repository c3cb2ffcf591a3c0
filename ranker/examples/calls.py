"""Calls with literal arguments, as the input kinds build and compare them: read a call's
literal arguments (`literal_call`), render it with one changed, and drop calls equal as Python
to ones already known (`unseen_calls`)."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_LITERAL = 2000
"""Longest argument source mutated (characters); longer examples are left alone."""


def unseen_calls(
    calls: Iterable[str], known: Sequence[str] = (), limit: int | None = None
) -> list[str]:
    """`calls` without those equal (as Python) to a `known` call or to an earlier one, at
    most `limit` of them."""
    seen = {normal_call(call) for call in known}
    out: list[str] = []
    for call in calls:
        if limit is not None and len(out) >= limit:
            break
        key = normal_call(call)
        if key not in seen:
            seen.add(key)
            out.append(call)
    return out


def normal_call(call: str) -> str:
    try:
        return ast.unparse(ast.parse(call, mode="eval"))
    except SyntaxError:
        return call


@dataclass(frozen=True)
class LiteralCall:
    """A call whose arguments are all literals: its parts as source, and their values."""

    func: str
    positional: list[str]
    keywords: dict[str, str]
    values: list[Any]  # positional arguments' values, then the keywords'

    def with_value(self, index: int, value: Any) -> str:
        """The call with argument `index` (counted as `values` is) set to `value`."""
        if index < len(self.positional):
            changed = list(self.positional)
            changed[index] = repr(value)
            return self.render(changed, self.keywords)
        name = list(self.keywords)[index - len(self.positional)]
        return self.render(self.positional, {**self.keywords, name: repr(value)})

    def render(self, args: list[str], named: dict[str, str]) -> str:
        return f"{self.func}({', '.join(args + [f'{k}={v}' for k, v in named.items()])})"


def literal_call(call: str) -> LiteralCall | None:
    """`call` read as a call with only literal arguments (none longer than `MAX_LITERAL`
    characters, no `*args` or `**kwargs`), or None."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return None
    return literal_node(node) if isinstance(node, ast.Call) else None


def literal_node(node: ast.Call) -> LiteralCall | None:
    """`literal_call` of a parsed call."""
    if any(isinstance(a, ast.Starred) for a in node.args):
        return None
    if any(keyword.arg is None for keyword in node.keywords):
        return None
    expressions = [*node.args, *(keyword.value for keyword in node.keywords)]
    sources = [ast.unparse(expr) for expr in expressions]
    if any(len(source) > MAX_LITERAL for source in sources):
        return None
    try:
        values = [ast.literal_eval(expr) for expr in expressions]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return LiteralCall(
        func=ast.unparse(node.func),
        positional=sources[: len(node.args)],
        keywords={
            str(k.arg): source
            for k, source in zip(node.keywords, sources[len(node.args) :], strict=True)
        },
        values=values,
    )
