"""Syntax trees of Python source: parse a prompt (a function being written), find a function
by the one rule Python keeps, its parameters, docstring and decorators, and where its body
starts in the lines it was parsed from."""

from __future__ import annotations

import ast
import functools
import re

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@functools.lru_cache(maxsize=256)
def parse_prompt(prompt: str) -> ast.Module | None:
    """A prompt's syntax tree. A prompt ends inside the function it asks for (at its
    signature or docstring), so where it does not parse as written it is given a body; None
    when neither parses. Cached: one request asks it of the same prompt from several places
    (examples, defects, typed inputs, parameters), so the tree is shared and must not be
    changed."""
    for text in (prompt, prompt.rstrip() + "\n    pass\n"):
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError):
            continue
    return None


def find_function(tree: ast.AST, name: str) -> FunctionNode | None:
    """The definition of function `name` that Python keeps: the last one at the top level of
    `tree` (a program that repeats the prompt's stub before its own definition, or redefines
    the function); else the last one anywhere (the model wrote the whole class, or nested
    it). The one rule everything here uses to find "the function"."""
    body = getattr(tree, "body", [])
    for nodes in (body, ast.walk(tree)):
        found = [node for node in nodes if isinstance(node, FunctionNode) and node.name == name]
        if found:
            return found[-1]
    return None


_ANY_DEF = re.compile(r"^\s*(async\s+)?def\s+\w+", re.M)


@functools.lru_cache(maxsize=256)
def defines(code: str, name: str | None) -> bool:
    """Whether `code` defines function `name` (any function, for None): by `find_function`
    where it parses; else by its text, a `def name(` line (code being trimmed out of prose).
    Remembered: preparing an answer asks this of the same code several times."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        if name is None:
            return bool(_ANY_DEF.search(code))
        return bool(re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M))
    if name is None:
        return any(isinstance(node, FunctionNode) for node in ast.walk(tree))
    return find_function(tree, name) is not None


def decorated_start(node: ast.stmt) -> int:
    """The first line (1-based) of a statement, a definition's decorators included."""
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])


def positional_parameters(node: FunctionNode) -> tuple[str, ...]:
    """A function's positional parameters in order (positional-only, then ordinary)."""
    return tuple(argument.arg for argument in [*node.args.posonlyargs, *node.args.args])


def docstring_node(
    node: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
) -> ast.Expr | None:
    """The statement holding the docstring of a module, class or function, if it has one."""
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def split_lines(source: str) -> list[str]:
    """Lines as LSP and Python count them (LF, CRLF and CR end a line; str.splitlines also
    splits on form feeds and other separators, which would shift every position after them)."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def comment_start(lines: list[str], line: int, floor: int) -> int:
    """Move `line` up over comment lines directly above it (not above `floor`)."""
    while line - 1 > floor and lines[line - 1].strip().startswith("#"):
        line -= 1
    return line


def body_start(
    lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef
) -> tuple[int, int, bool]:
    """(line, column, inline) of the replaceable body of `node` (0-based; `lines` are the
    source lines the node was parsed from)."""
    doc = docstring_node(node)
    if doc is not None and len(node.body) > 1:
        first = node.body[1]
        line = first.lineno - 1
        if line == (doc.end_lineno or doc.lineno) - 1:  # `"""doc"""; return x`
            return line, _column(lines[line], first.col_offset), True
        return comment_start(lines, line, (doc.end_lineno or doc.lineno) - 1), 0, False
    if doc is not None:  # docstring only: insert right after it
        return doc.end_lineno or doc.lineno, 0, False
    first = node.body[0]
    line = first.lineno - 1
    if lines[line][: _column(lines[line], first.col_offset)].strip():
        return line, _column(lines[line], first.col_offset), True  # body on the `def` line
    return comment_start(lines, line, node.lineno - 1), 0, False


def _column(line: str, byte_offset: int) -> int:
    """ast gives UTF-8 byte offsets; return the code-point column."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))
