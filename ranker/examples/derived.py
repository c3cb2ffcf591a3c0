"""Inputs derived from a function's examples, so that programs which agree on the examples can
still be told apart.

Every program that reproduces the docstring's examples returns the same values on them, so on
the examples alone all passing programs fall into one behaviour cluster: agreement says
nothing among them, and "one per cluster" diversity has nothing to choose from. Calling the
entry point on inputs *near* the examples splits them by what they actually compute, with no
LLM and no expected values (EvalPlus-style type-aware mutation, used here only for agreement,
never for judging):

    derived_calls(["f([3, 1, 2], 2)"])
    ['f([2, 1, 3], 2)', 'f([3, 1, 2], 3)', 'f([3, 1], 2)', 'f([3, 1, 2], 1)', ..., 'f([], 2)']

Only calls whose arguments are all literals are mutated. First, two positional arguments of
the same type trade places (`f(3, 4, 5)` -> `f(4, 3, 5)`, `f(5, 4, 3)`, ...): programs that
assume an order the problem does not promise part from those that do not. Then one argument
changes at a time, by small steps (an int moves by one, a string is reversed or loses its last
character, a sequence is reversed, loses or repeats one element, and then has its elements
changed the same small way: every element, then the first), so a derived call costs about
what its example costs. Last, a string, sequence, set or dict argument is emptied, one argument
at a time: the classic edge case, where programs that agree elsewhere part (one that starts
from `xs[0]` raises, one that starts from nothing does not). A derived input may break a
precondition of the problem: programs then raise or return different things, which is
behaviour too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ranker.examples.calls import LiteralCall, literal_call, normal_call

DEFAULT_LIMIT = 9
"""Calls near the examples per problem: enough to split programs that agree on the examples,
few enough that a program's run stays within a few case timeouts."""


EDGE_LIMIT = 3
"""Calls with an argument emptied, after those near the examples."""


def derived_calls(
    calls: Sequence[str], limit: int = DEFAULT_LIMIT, edges: int = EDGE_LIMIT
) -> list[str]:
    """Up to `limit` calls near the given ones (each a call expression like `f(1, "a")`),
    then up to `edges` calls with one argument emptied; none equal to a given call, in a
    fixed order: taking from the examples in turn, so that every example contributes before
    any contributes twice."""
    seen = {normal_call(call) for call in calls}
    parsed = [literal for call in calls if (literal := literal_call(call)) is not None]
    near = _in_turn([_mutations(literal) for literal in parsed], seen, limit)
    return near + _in_turn([_emptied(literal) for literal in parsed], seen, edges)


def _in_turn(streams: list[Iterator[str]], seen: set[str], limit: int) -> list[str]:
    """Up to `limit` calls not in `seen` (which they join), one from each stream in turn."""
    out: list[str] = []
    while streams and len(out) < limit:
        alive = []
        for stream in streams:
            for candidate in stream:
                key = normal_call(candidate)
                if key not in seen:
                    seen.add(key)
                    out.append(candidate)
                    alive.append(stream)
                    break
            if len(out) >= limit:
                break
        streams = alive
    return out


def _mutations(parsed: LiteralCall) -> Iterator[str]:
    """Calls with one literal argument of the call changed, argument by argument."""
    for i, j in _swappable(parsed.values[: len(parsed.positional)]):
        swapped = list(parsed.positional)
        swapped[i], swapped[j] = swapped[j], swapped[i]
        yield parsed.render(swapped, parsed.keywords)
    # one variant of each argument in turn, then the next variant of each
    per_slot = [list(_variants(v)) for v in parsed.values]
    for round_ in range(max((len(v) for v in per_slot), default=0)):
        for index, variants in enumerate(per_slot):
            if round_ < len(variants):
                yield parsed.with_value(index, variants[round_])


def _emptied(parsed: LiteralCall) -> Iterator[str]:
    """The call with one non-empty string, sequence, set or dict argument made empty,
    argument by argument."""
    for index, value in enumerate(parsed.values):
        if isinstance(value, str | list | tuple | set | dict) and len(value) > 0:
            yield parsed.with_value(index, type(value)())


def _swappable(values: Sequence[Any]) -> Iterator[tuple[int, int]]:
    """Pairs of positions holding different values of the same type."""
    for i, first in enumerate(values):
        for j in range(i + 1, len(values)):
            if type(values[j]) is type(first) and values[j] != first:
                yield i, j


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
        yield from _element_changes(items, kind)
    elif isinstance(value, dict) and value:
        first = next(iter(value))
        yield {k: v for k, v in value.items() if k != first}


def _element_changes(items: list[Any], kind: type) -> Iterator[Any]:
    """A flat sequence with every element changed by its own first variant, then with only
    its first element changed (nested containers are left alone)."""
    if not items or any(isinstance(item, list | tuple | dict | set) for item in items):
        return
    changed = [next(_variants(item), item) for item in items]
    if changed != items:
        yield kind(changed)
    if changed[0] != items[0]:
        yield kind([changed[0], *items[1:]])
