"""Reading Python values out of docstring text, for `ranker.examples`: which expressions
count as literal values, where a bracketed expression ends in running text, where a value
stops and prose starts, and constant arithmetic for derivations such as `19 - 5 - 6 = 8`.
Standard library only; nothing here runs code.
"""

from __future__ import annotations

import ast
import math
import re

# Pure builtins an example may use around its values or its call (`round(f(x), 2)`,
# `set(...)`, `float('inf')`); any other name is a variable or another function: skipped.
PURE_CALLS = frozenset(
    [
        "abs",
        "all",
        "any",
        "bool",
        "bytes",
        "complex",
        "dict",
        "float",
        "frozenset",
        "int",
        "len",
        "list",
        "max",
        "min",
        "range",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
    ]
)


IN_STRING = -(10**9)  # the depth `bracket_depths` gives characters of a string literal


def callee(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{callee(node.value)}.{node.attr}"
    return ""


def is_value(node: ast.AST, entry_point: str, allow_entry: bool) -> bool:
    """Built from literals, containers, arithmetic and pure builtins (and, on the call side,
    calls of the entry point); no variables, attributes or other functions."""
    for child in ast.walk(node):
        if isinstance(child, ast.Constant):
            if child.value is Ellipsis:
                return False
        elif isinstance(child, ast.Call):
            name = child.func.id if isinstance(child.func, ast.Name) else None
            if name is None or (
                name not in PURE_CALLS and not (allow_entry and name == entry_point)
            ):
                return False
            if any(isinstance(a, ast.Starred) for a in child.args):
                return False
        elif isinstance(child, ast.Name):
            continue  # only callees reach here; checked at their Call
        elif not isinstance(
            child,
            (
                ast.Expression,
                ast.List,
                ast.Tuple,
                ast.Set,
                ast.Dict,
                ast.UnaryOp,
                ast.BinOp,
                ast.operator,
                ast.unaryop,
                ast.Load,
                ast.keyword,
                ast.Subscript,
                ast.Slice,
            ),
        ):
            return False
    names = [n for n in ast.walk(node) if isinstance(n, ast.Name)]
    callees = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return all(id(n) in callees for n in names)


def calls_entry(node: ast.AST, entry_point: str) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == entry_point
        for n in ast.walk(node)
    )


def parse_expression(text: str) -> ast.expr | None:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        return None


def bracket_depths(text: str) -> list[int]:
    """Bracket depth before each character (a closing bracket gets the depth after it),
    `IN_STRING` inside a string literal, quotes included. Good enough for Python-looking
    text; an unclosed quote (an apostrophe in prose) makes the rest a string."""
    depths: list[int] = []
    depth, i = 0, 0
    while i < len(text):
        char = text[i]
        if char in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ('"""', "'''") else char
            end = i + len(quote)
            while end < len(text) and text[end : end + len(quote)] != quote:
                end += 2 if text[end] == "\\" else 1
            end = min(end + len(quote), len(text))
            depths.extend([IN_STRING] * (end - i))
            i = end
            continue
        if char in ")]}":
            depth -= 1
        depths.append(depth)
        if char in "([{":
            depth += 1
        i += 1
    return depths


def strip_comment(text: str) -> str:
    depths = bracket_depths(text)
    for i, char in enumerate(text):
        if char == "#" and depths[i] != IN_STRING:
            return text[:i]
    return text


def _open_at_end(text: str) -> bool:
    """An expression that goes on to the next line (an unclosed bracket)."""
    depths = bracket_depths(text.rstrip())
    if not depths or depths[-1] == IN_STRING:
        return False
    return depths[-1] + (1 if text.rstrip()[-1] in "([{" else 0) > 0


def continued(lines: list[str], index: int, text: str, limit: int = 30) -> tuple[str, int]:
    """`text` (which starts on line `index`) joined with the lines that close its open
    brackets; returns the text and the index of its last line."""
    end = index
    while _open_at_end(strip_comment(text)) and end + 1 < len(lines) and end - index < limit:
        end += 1
        text = strip_comment(text) + "\n" + lines[end]
    return text, end


def top_level_split(text: str, separator: str) -> list[str]:
    depths = bracket_depths(text)
    parts, start = [], 0
    for i, char in enumerate(text):
        if char == separator and depths[i] == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


# Where a value stops and prose starts: `-> 3 (the sum of ...)`, `returns 15 and ...`
_PROSE_BOUNDARY = re.compile(
    r",|;|\.\s|\s\(|\s-{1,2}\s|\s—\s|\s(?:and|but|since|because|as|which|so|whereas|while|for|i\.e\.|e\.g\.)\s"
)


_WORD_VALUES = {"true": "True", "false": "False", "none": "None", "null": "None"}


def expected_value(text: str, entry_point: str) -> ast.expr | None:
    """The value at the start of `text` (the rest of a line after `->`, `returns`, ...): the
    whole text, else the longest head that ends where prose starts; a derivation such as
    `19 - 5 - 6 = 8` gives its last part when every part has the same value."""
    text = strip_comment(text).strip()
    text = re.sub(r"(?<=\S)[.,;:]$", "", text).strip()
    if text.lower() in _WORD_VALUES:  # `=> true`: lowercase booleans are common in prose
        text = _WORD_VALUES[text.lower()]
    depths = bracket_depths(text)
    heads = [text] + [
        text[: m.start()]
        for m in reversed(list(_PROSE_BOUNDARY.finditer(text)))
        if depths[m.start()] == 0
    ]
    for head in heads:
        head = head.strip().rstrip(",;").strip()  # `[3], since ...` is not the tuple `([3],)`
        if not head:
            continue
        if _top_level_equals(head):
            derived = _derivation(head, entry_point)
            if derived is not None:
                return derived
            continue
        node = parse_expression(head)
        if node is not None and is_value(node, entry_point, False):
            return node
    return None


def _top_level_equals(text: str) -> list[int]:
    depths = bracket_depths(text)
    return [
        i
        for i, char in enumerate(text)
        if char == "="
        and depths[i] == 0
        and text[i - 1 : i] not in ("=", "<", ">", "!")
        and text[i + 1 : i + 2] not in ("=", ">")
    ]


def _derivation(text: str, entry_point: str) -> ast.expr | None:
    cuts = _top_level_equals(text)
    parts = [
        text[a + 1 if a >= 0 else 0 : b]
        for a, b in zip([-1, *cuts], [*cuts, len(text)], strict=True)
    ]
    nodes = [parse_expression(part) for part in parts]
    if any(n is None or not is_value(n, entry_point, False) for n in nodes):
        return None
    values = [arithmetic(n) for n in nodes if n is not None]
    if any(v is None for v in values):
        return None
    first = values[0]
    assert first is not None
    if all(v is not None and math.isclose(v, first, rel_tol=1e-9, abs_tol=1e-12) for v in values):
        return nodes[-1]
    return None


def arithmetic(node: ast.expr) -> float | None:
    """The value of a constant arithmetic expression (numbers, + - * / // % and small
    powers), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return None if isinstance(node.value, bool) else float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = arithmetic(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.BinOp):
        left, right = arithmetic(node.left), arithmetic(node.right)
        if left is None or right is None:
            return None
        try:
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return left / right
            if isinstance(node.op, ast.FloorDiv):
                return float(left // right)
            if isinstance(node.op, ast.Mod):
                return left % right
            if isinstance(node.op, ast.Pow) and abs(right) <= 64 and abs(left) <= 1e6:
                return float(left**right)
        except (ZeroDivisionError, OverflowError):
            return None
    return None
