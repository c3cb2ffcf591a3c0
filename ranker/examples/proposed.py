"""Inputs a model proposed (CodeT-style, the server's `probeInputs`): the calls of the entry
point with literal arguments in its replies (`f([1, 2], 3)`, also inside `assert f(...) ==
...` or `print(f(...))`), for agreement only: the expected values a model writes are not
trusted, only its inputs.

    proposed_calls(["```python\nassert f([1, 2], 3) == 5\nf([], 0)\n```"], "f")
    ['f([1, 2], 3)', 'f([], 0)']
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Sequence

from ranker.examples.calls import MAX_LITERAL, literal_node, unseen_calls

PROPOSED_LIMIT = 8
"""Calls taken from a model's proposed test inputs (`proposed_calls`), per problem."""


_MAX_REPLY = 20_000
"""Characters of a reply searched for proposed calls."""


_LIST_MARKER = re.compile(r"^(\d+[.)]|[-*•])\s+")


def proposed_calls(
    replies: Sequence[str], entry_point: str, limit: int = PROPOSED_LIMIT
) -> list[str]:
    """Up to `limit` distinct calls of `entry_point` with literal arguments found in a
    model's `replies`, in the order written. A reply is read as Python (code fences dropped);
    one that does not parse is read line by line (`>>> ` prompts dropped), so prose around
    the calls costs nothing. Calls with other arguments (names, expressions) are skipped."""
    found = (call for reply in replies for call in _calls_in(reply[:_MAX_REPLY], entry_point))
    return unseen_calls(found, (), limit)


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
                parsed = literal_node(node)
                if parsed is not None:
                    yield parsed.render(parsed.positional, parsed.keywords)


def _line_tree(line: str) -> ast.Module | None:
    """One line of prose or a list as Python: without a `>>> ` prompt or a list marker, cut
    after its last `)` that leaves it parsing (`f(2) -> 4` reads as `f(2)`)."""
    line = _LIST_MARKER.sub("", line.strip().removeprefix(">>>").strip())
    if len(line) > MAX_LITERAL:
        return None
    for end in [len(line), *(i + 1 for i in range(len(line) - 1, -1, -1) if line[i] == ")")]:
        try:
            return ast.parse(line[:end])
        except (SyntaxError, ValueError):
            continue
    return None
