"""Examples written as doctest: `>>> f(x)` with the expected output below, or
`>>> f(x) == y`."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ranker.examples.example import Example, ExampleForm, example_of
from ranker.examples.values import callee, parse_expression


def doctest_examples(lines: list[str], entry_point: str) -> Iterator[tuple[int, Example]]:
    """`>>> source` (with `...` continuation lines) followed by the expected output up to a
    blank line or the next prompt, as doctest reads them. An expected output that is empty
    means None (doctest prints nothing for None) when the source is a bare call; `>>> f(x)
    == y` with no output (or `True`) is the example f(x) -> y."""
    index = 0
    while index < len(lines):
        prompt = re.match(r"^(\s*)>>>(?: (.*)|$)", lines[index])
        if prompt is None:
            index += 1
            continue
        start, indent = index, prompt.group(1)
        source = [prompt.group(2) or ""]
        lines[index] = ""
        index += 1
        while index < len(lines) and re.match(rf"^{indent}\.\.\.(?: |$)", lines[index]):
            source.append(lines[index][len(indent) + 4 :])
            lines[index] = ""
            index += 1
        want_start = index
        while (
            index < len(lines)
            and lines[index].strip()
            and lines[index].startswith(indent)
            and not lines[index].lstrip().startswith(">>>")
        ):
            index += 1
        want = "\n".join(line[len(indent) :] for line in lines[want_start:index]).strip()
        example = _doctest_example("\n".join(source), want, entry_point)
        if example is not None:
            lines[want_start:index] = [""] * (index - want_start)  # read: no other form there
            yield start, example


def _doctest_example(source: str, want: str, entry_point: str) -> Example | None:
    node = parse_expression(source)
    if node is None:
        return None
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq)
        and want in ("", "True")
    ):
        return example_of(node.left, node.comparators[0], entry_point, ExampleForm.DOCTEST)
    if not want:
        bare_call = isinstance(node, ast.Call) and callee(node.func) == entry_point
        expected: ast.expr | None = ast.Constant(None) if bare_call else None
    else:
        expected = parse_expression(want)
    if expected is None:
        return None
    return example_of(node, expected, entry_point, ExampleForm.DOCTEST)
