"""Inputs built from a function's parameter types, for a function with no examples at all: its
annotations (or its defaults) still say what it takes, so candidates can be told apart by
what they compute even then:

    typed_calls("def f(xs: list[int], k: int) -> int: ...", "f")
    ['f([3, 1, 2], 3)', 'f([5], 1)', 'f([2, 7, 7, 4], 5)', ...]
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from ranker.source import find_function, parse_prompt

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
    """The prompt's function `name` (`find_function`); not an `async def`, which gives
    coroutines, whose values say nothing of what they compute."""
    tree = parse_prompt(prompt)
    node = find_function(tree, name) if tree is not None else None
    return node if isinstance(node, ast.FunctionDef) else None


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
