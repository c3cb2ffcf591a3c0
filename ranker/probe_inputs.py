"""Extra inputs derived from a problem's visible examples, so that programs which agree on the
examples can still be told apart.

Every program that reproduces the docstring's examples returns the same values on them, so on
the examples alone all passing programs fall into one behaviour cluster: agreement says
nothing among them, and "one per cluster" diversity has nothing to choose from. Calling the
entry point on inputs *near* the examples splits them by what they actually compute, with no
LLM and no expected values (EvalPlus-style type-aware mutation, used here only for agreement,
never for judging):

    derived_calls(["f([3, 1, 2], 2)"])
    ['f([2, 1, 3], 2)', 'f([3, 1, 2], 3)', 'f([3, 1], 2)', 'f([3, 1, 2], 1)', ..., 'f([], 2)']

A function with no examples at all still says what it takes when its parameters are annotated
(or have defaults): `typed_calls` builds calls from those types, so that candidates can be
told apart by what they compute even then:

    typed_calls("def f(xs: list[int], k: int) -> int: ...", "f")
    ['f([3, 1, 2], 3)', 'f([5], 1)', 'f([2, 7, 7, 4], 5)', ...]

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

A model can also be asked for test inputs (CodeT-style, the server's `probeInputs`):
`proposed_calls` keeps the calls of the entry point with literal arguments from its replies
(`f([1, 2], 3)`, also inside `assert f(...) == ...` or `print(f(...))`), for agreement only:
the expected values a model writes are not trusted, only its inputs.

    proposed_calls(["```python\nassert f([1, 2], 3) == 5\nf([], 0)\n```"], "f")
    ['f([1, 2], 3)', 'f([], 0)']
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ranker.candidates import parse_prompt

DEFAULT_LIMIT = 9
"""Calls near the examples per problem: enough to split programs that agree on the examples,
few enough that a program's run stays within a few case timeouts."""

EDGE_LIMIT = 3
"""Calls with an argument emptied, after those near the examples."""

PROPOSED_LIMIT = 8
"""Calls taken from a model's proposed test inputs (`proposed_calls`), per problem."""

_MAX_REPLY = 20_000
"""Characters of a reply searched for proposed calls."""

_LIST_MARKER = re.compile(r"^(\d+[.)]|[-*•])\s+")

_MAX_LITERAL = 2000
"""Longest argument source mutated (characters); longer examples are left alone."""


def derived_calls(
    calls: Sequence[str], limit: int = DEFAULT_LIMIT, edges: int = EDGE_LIMIT
) -> list[str]:
    """Up to `limit` calls near the given ones (each a call expression like `f(1, "a")`),
    then up to `edges` calls with one argument emptied; none equal to a given call, in a
    fixed order: taking from the examples in turn, so that every example contributes before
    any contributes twice."""
    seen = {_normal(call) for call in calls}
    parsed = [literal for call in calls if (literal := _literal_call(call)) is not None]
    near = _in_turn([_mutations(literal) for literal in parsed], seen, limit)
    return near + _in_turn([_emptied(literal) for literal in parsed], seen, edges)


def proposed_calls(
    replies: Sequence[str], entry_point: str, limit: int = PROPOSED_LIMIT
) -> list[str]:
    """Up to `limit` distinct calls of `entry_point` with literal arguments found in a
    model's `replies`, in the order written. A reply is read as Python (code fences dropped);
    one that does not parse is read line by line (`>>> ` prompts dropped), so prose around
    the calls costs nothing. Calls with other arguments (names, expressions) are skipped."""
    found = (call for reply in replies for call in _calls_in(reply[:_MAX_REPLY], entry_point))
    return unseen_calls(found, (), limit)


def unseen_calls(
    calls: Iterable[str], known: Sequence[str] = (), limit: int | None = None
) -> list[str]:
    """`calls` without those equal (as Python) to a `known` call or to an earlier one, at
    most `limit` of them."""
    seen = {_normal(call) for call in known}
    out: list[str] = []
    for call in calls:
        if limit is not None and len(out) >= limit:
            break
        key = _normal(call)
        if key not in seen:
            seen.add(key)
            out.append(call)
    return out


def _calls_in(text: str, entry_point: str) -> Iterator[str]:
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(("```", "~~~"))]
    try:
        chunks = [ast.parse("\n".join(lines))]
    except (SyntaxError, ValueError):
        chunks = [
            tree for line in lines if entry_point in line and (tree := _line_tree(line)) is not None
        ]
    for tree in chunks:
        for statement in tree.body:
            calls = [
                node
                for node in ast.walk(statement)
                if isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == entry_point
            ]
            for node in sorted(calls, key=lambda n: (n.lineno, n.col_offset)):
                parsed = _literal_node(node)
                if parsed is not None:
                    yield parsed.render(parsed.positional, parsed.keywords)


def _line_tree(line: str) -> ast.Module | None:
    """One line of prose or a list as Python: without a `>>> ` prompt or a list marker, cut
    after its last `)` that leaves it parsing (`f(2) -> 4` reads as `f(2)`)."""
    line = _LIST_MARKER.sub("", line.strip().removeprefix(">>>").strip())
    if len(line) > _MAX_LITERAL:
        return None
    for end in [len(line), *(i + 1 for i in range(len(line) - 1, -1, -1) if line[i] == ")")]:
        try:
            return ast.parse(line[:end])
        except (SyntaxError, ValueError):
            continue
    return None


def _in_turn(streams: list[Iterator[str]], seen: set[str], limit: int) -> list[str]:
    """Up to `limit` calls not in `seen` (which they join), one from each stream in turn."""
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


TYPED_LIMIT = 6
"""Calls built from a signature's types per problem."""

# Typical values of each type, as a caller would pass them. No empty, negative or otherwise
# edge values: a correct program may raise on those or return anything, and two correct
# programs that differ there would fall into different behaviour clusters. (Derived calls do
# empty arguments: there the examples judge first, and agreement only orders the programs
# that pass them alike. Here agreement is all there is.)
_TYPICAL: dict[str, tuple[Any, ...]] = {
    "int": (3, 1, 5, 2, 10, 7),
    "float": (1.5, 2.0, 0.5, 3.25, 10.0, 4.75),
    "str": ("abc", "hello world", "a", "Abc De", "aab", "xyz"),
    "bool": (True, False),
}
_SEQUENCES = frozenset({"list", "List", "Sequence", "Iterable", "set", "Set", "frozenset"})
_TUPLES = frozenset({"tuple", "Tuple"})
_MAPPINGS = frozenset({"dict", "Dict", "Mapping"})
_OPTIONAL = frozenset({"Optional"})
_UNIONS = frozenset({"Union"})
_ROWS = 6  # values made per type


def typed_calls(prompt: str, entry_point: str, limit: int = TYPED_LIMIT) -> list[str]:
    """Up to `limit` distinct calls of `entry_point` (a top-level `def` in `prompt`, which
    may end inside that function) with typical values of its parameters' annotated types,
    or of their defaults' types; none when a parameter has neither, or a type is not one of
    the builtins and `typing` forms listed here (int, float, str, bool, lists, sets and
    tuples of them, dicts, Optional, Union: its first member)."""
    function = _function(prompt, entry_point)
    if function is None or limit < 1:
        return []
    args = function.args
    if args.vararg is not None or args.kwarg is not None:
        return []
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    columns = []
    shifts = []
    for j, (arg, default) in enumerate(zip(positional, defaults, strict=True)):
        values = _values_of(arg.annotation) if arg.annotation is not None else None
        given = _default_value(default) if default is not None else None
        if given is not None and (values is None or type(given) in {type(v) for v in values}):
            # the author's default first: the most typical value there is
            values = [given, *(v for v in values or _TYPICAL[type(given).__name__] if v != given)]
            shifts.append(0)
        else:
            shifts.append(j)  # parameter j starts j values on, so two ints differ
        if values is None:
            return []
        columns.append(values[:_ROWS])
    if any(
        a.annotation is None and d is None
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ):
        return []
    out: list[str] = []
    for row in range(max((len(c) for c in columns), default=1)):
        parts = [
            repr(column[(row + shift) % len(column)])
            for column, shift in zip(columns, shifts, strict=True)
        ]
        call = f"{entry_point}({', '.join(parts)})"
        if call not in out:
            out.append(call)
        if len(out) >= limit:
            break
    return out


def _function(prompt: str, name: str) -> ast.FunctionDef | None:
    """The last top-level `def name` of the prompt; an `async def` gives coroutines, whose
    values say nothing of what they compute."""
    tree = parse_prompt(prompt)
    found = (
        [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name] if tree else []
    )
    return found[-1] if found else None


def _values_of(annotation: ast.expr) -> list[Any] | None:
    """`_ROWS` typical values of an annotated type, or None for a type not handled."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:  # a string annotation: "list[int]"
            return _values_of(ast.parse(annotation.value, mode="eval").body)
        except SyntaxError:
            return None
    name = _type_name(annotation)
    if name in _TYPICAL:
        return _cycle(_TYPICAL[name])
    if name in _SEQUENCES:
        return _sequences(_TYPICAL["int"], set if name in {"set", "Set", "frozenset"} else list)
    if name in _TUPLES | _MAPPINGS:
        return None  # a bare tuple or dict says nothing of what it holds
    if not isinstance(annotation, ast.Subscript):
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            left = annotation.left  # `int | None`: the first type that is not None
            if isinstance(left, ast.Constant) and left.value is None:
                return _values_of(annotation.right)
            return _values_of(left)
        return None
    outer = _type_name(annotation.value)
    inner = annotation.slice
    members = list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
    if outer in _OPTIONAL | _UNIONS:
        kept = [m for m in members if not (isinstance(m, ast.Constant) and m.value is None)]
        return _values_of(kept[0]) if kept else None
    if outer in _SEQUENCES:
        items = _values_of(members[0])
        if items is None:
            return None
        return _sequences(items, set if outer in {"set", "Set", "frozenset"} else list)
    if outer in _TUPLES:
        if len(members) == 2 and isinstance(members[1], ast.Constant) and members[1].value is ...:
            items = _values_of(members[0])
            return None if items is None else [tuple(v) for v in _sequences(items, list)]
        fields = [_values_of(m) for m in members]
        if any(f is None for f in fields):
            return None
        return [
            tuple(f[(row + j) % len(f)] for j, f in enumerate(fields) if f) for row in range(_ROWS)
        ]
    if outer in _MAPPINGS and len(members) == 2:
        keys, values = _values_of(members[0]), _values_of(members[1])
        if keys is None or values is None:
            return None
        return [
            {
                keys[(row + j) % len(keys)]: values[(row + 2 * j) % len(values)]
                for j in range(1 + row % 3)
            }
            for row in range(_ROWS)
        ]
    return None


def _type_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):  # typing.List, collections.abc.Sequence
        return node.attr
    return None


def _cycle(values: Sequence[Any]) -> list[Any]:
    return [values[row % len(values)] for row in range(_ROWS)]


def _sequences(items: Sequence[Any], kind: type) -> list[Any]:
    """Non-empty sequences of the given typical items, of lengths 3, 1, 4, 2, 5, 3."""
    out = []
    for row, length in enumerate((3, 1, 4, 2, 5, 3)):
        values = [items[(2 * row + i) % len(items)] for i in range(length)]
        out.append(kind(values) if kind is not set else set(values))
    return out


def _default_value(default: ast.expr) -> Any:
    """A parameter's default when it is a literal of one of the `_TYPICAL` types, else None."""
    try:
        value = ast.literal_eval(default)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if type(value).__name__ in _TYPICAL else None


def _normal(call: str) -> str:
    try:
        return ast.unparse(ast.parse(call, mode="eval"))
    except SyntaxError:
        return call


@dataclass(frozen=True)
class _LiteralCall:
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


def _literal_call(call: str) -> _LiteralCall | None:
    """`call` read as a call with only literal arguments (none longer than `_MAX_LITERAL`
    characters, no `*args` or `**kwargs`), or None."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return None
    return _literal_node(node) if isinstance(node, ast.Call) else None


def _literal_node(node: ast.Call) -> _LiteralCall | None:
    """`_literal_call` of a parsed call."""
    if any(isinstance(a, ast.Starred) for a in node.args):
        return None
    if any(keyword.arg is None for keyword in node.keywords):
        return None
    expressions = [*node.args, *(keyword.value for keyword in node.keywords)]
    sources = [ast.unparse(expr) for expr in expressions]
    if any(len(source) > _MAX_LITERAL for source in sources):
        return None
    try:
        values = [ast.literal_eval(expr) for expr in expressions]
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return _LiteralCall(
        func=ast.unparse(node.func),
        positional=sources[: len(node.args)],
        keywords={
            str(k.arg): source
            for k, source in zip(node.keywords, sources[len(node.args) :], strict=True)
        },
        values=values,
    )


def _mutations(parsed: _LiteralCall) -> Iterator[str]:
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


def _emptied(parsed: _LiteralCall) -> Iterator[str]:
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
