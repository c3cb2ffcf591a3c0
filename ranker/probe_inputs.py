"""Extra inputs derived from a problem's visible examples, so that programs which agree on the
examples can still be told apart.

Every program that reproduces the docstring's examples returns the same values on them, so on
the examples alone all passing programs fall into one behaviour cluster: agreement says
nothing among them, and "one per cluster" diversity has nothing to choose from. Calling the
entry point on inputs *near* the examples splits them by what they actually compute, with no
LLM and no expected values (EvalPlus-style type-aware mutation, used here only for agreement,
never for judging):

    derived_calls(["f([3, 1, 2], 2)"])
    ['f([2, 1, 3], 2)', 'f([3, 1, 2], 3)', 'f([3, 1], 2)', 'f([3, 1, 2], 1)', ...]

Only calls whose arguments are all literals are mutated; one argument changes at a time;
values stay small (an int moves by one, a sequence loses or repeats one element), so a
derived call costs about what its example costs. A derived input may break a precondition
of the problem: programs then raise or return different things, which is behaviour too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from typing import Any

DEFAULT_LIMIT = 6
"""Derived calls per problem: enough to split programs that agree on the examples, few
enough that a program's run stays within a few case timeouts."""

_MAX_LITERAL = 2000
"""Longest argument source mutated (characters); longer examples are left alone."""


def derived_calls(calls: Sequence[str], limit: int = DEFAULT_LIMIT) -> list[str]:
    """Up to `limit` calls near the given ones (each a call expression like `f(1, "a")`),
    none equal to a given call, in a fixed order: taking mutations from the examples in
    turn, so that every example contributes before any contributes twice."""
    seen = {_normal(call) for call in calls}
    streams = [_mutations(call) for call in calls]
    out: list[str] = []
    while streams and len(out) < limit:
        alive = []
        for stream in streams:
            for candidate in stream:
                key = _normal(candidate)
                if key not in seen:
                    seen.add(key)
                    out.append(candidate)
                    alive.append(stream)
                    break
            if len(out) >= limit:
                break
        streams = alive
    return out


def _normal(call: str) -> str:
    try:
        return ast.unparse(ast.parse(call, mode="eval"))
    except SyntaxError:
        return call


def _mutations(call: str) -> Iterator[str]:
    """Calls with one literal argument of `call` changed, argument by argument."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return
    if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
        return
    slots: list[tuple[str, int | str, Any]] = []
    for position, arg in enumerate(node.args):
        slots.append(("arg", position, arg))
    for keyword in node.keywords:
        if keyword.arg is None:
            return
        slots.append(("kw", keyword.arg, keyword.value))
    values = []
    for _, _, expr in slots:
        source = ast.unparse(expr)
        if len(source) > _MAX_LITERAL:
            return
        try:
            values.append(ast.literal_eval(expr))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return
    # one variant of each argument in turn, then the next variant of each
    per_slot = [list(_variants(v)) for v in values]
    for round_ in range(max((len(v) for v in per_slot), default=0)):
        for index, variants in enumerate(per_slot):
            if round_ >= len(variants):
                continue
            args = [ast.unparse(a) for a in node.args]
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            kind, name, _ = slots[index]
            text = repr(variants[round_])
            if kind == "arg":
                args[int(name)] = text
            else:
                keywords[str(name)] = text
            parts = args + [f"{k}={v}" for k, v in keywords.items()]
            yield f"{ast.unparse(node.func)}({', '.join(parts)})"


def _variants(value: Any) -> Iterator[Any]:
    """Small changes of one literal value, most informative first."""
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield value + 1
        yield value - 1
        if value not in (0, 1, -1):
            yield 0
    elif isinstance(value, float):
        yield value + 0.5
        yield value * 2 if value else 1.0
    elif isinstance(value, str):
        if len(value) > 1:
            yield value[::-1]
            yield value[:-1]
        yield value + (value[:1] or "a")
        if value.swapcase() != value:
            yield value.swapcase()
    elif isinstance(value, list | tuple):
        items = list(value)
        kind = type(value)
        if len(items) > 1:
            yield kind(reversed(items))
            yield kind(items[:-1])
        yield kind(items + items[:1]) if items else kind([1])
    elif isinstance(value, dict) and value:
        first = next(iter(value))
        yield {k: v for k, v in value.items() if k != first}
