"""The function whose docstring is read: its source parsed (a function being written may end
at its docstring, or be indented), its docstring as written and its signature."""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass

from ranker.source import find_function


@dataclass(frozen=True)
class Signature:
    positional: tuple[str, ...]  # in order, positional-only and ordinary parameters
    keyword_only: tuple[str, ...]
    required: frozenset[str]
    varargs: bool = False  # *args
    varkw: bool = False  # **kwargs

    @property
    def names(self) -> tuple[str, ...]:
        return self.positional + self.keyword_only


def parse_source(source: str) -> tuple[ast.Module, str] | None:
    """The module and the text it was parsed from: a function being written may end at its
    docstring (given a body here), or be indented (a method's text)."""
    dedented = textwrap.dedent(source)
    for text in (
        source,
        source.rstrip() + "\n    pass\n",
        dedented,
        dedented.rstrip() + "\n    pass\n",
    ):
        try:
            return ast.parse(text), text
        except SyntaxError:
            continue
    return None


def function_docstring(
    tree: ast.Module, text: str, entry_point: str
) -> tuple[str, Signature | None] | None:
    """The docstring and signature of `entry_point` in `tree` (parsed from `text`), the
    module docstring with no signature when there is no such function, None for a method."""
    node = find_function(tree, entry_point)
    if node is None:
        return _docstring(tree.body, text), None
    methods = {
        id(item) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for item in node.body
    }
    if id(node) in methods:
        return None  # `f(x)` does not call a method
    return _docstring(node.body, text), _signature(node.args)


def _docstring(body: list[ast.stmt], source: str) -> str:
    """The docstring as written in the source (escapes such as `\\n` in a string argument
    stay as the reader sees them), dedented; imports before it are allowed."""
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        if not (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            return ""
        raw = ast.get_source_segment(source, statement.value)
        match = re.match(r"(?i)[rub]*(\"\"\"|'''|\"|')", raw or "")
        if raw is None or match is None or not raw.endswith(match.group(1)):
            return inspect.cleandoc(statement.value.value)
        quote = match.group(1)
        return inspect.cleandoc(raw[match.end() : len(raw) - len(quote)])
    return ""


def _signature(args: ast.arguments) -> Signature:
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    with_default = positional[len(positional) - len(args.defaults) :] if args.defaults else []
    required = set(positional) - set(with_default)
    required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None}
    return Signature(
        tuple(positional),
        tuple(a.arg for a in args.kwonlyargs),
        frozenset(required),
        varargs=args.vararg is not None,
        varkw=args.kwarg is not None,
    )
