"""Examples written as assert lines: `assert f(x) == y` and `assert math.isclose(f(x), y)`
(MBPP-style prompts)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ranker.examples.example import Example, ExampleForm, example_of
from ranker.examples.statements import FLOAT_TOLERANCE
from ranker.examples.values import callee, continued, parse_expression, strip_comment


def assert_examples(lines: list[str], entry_point: str) -> Iterator[tuple[int, Example]]:
    """`assert A == B` and `assert math.isclose(A, B, rel_tol=r)` lines (as in MBPP-style
    prompts), A calling the entry point."""
    for index, line in enumerate(lines):
        match = re.match(r"^\s*assert\s+(.*)$", line)
        if match is None or entry_point not in line:
            continue
        text, end = continued(lines, index, match.group(1))
        node = parse_expression(strip_comment(text))
        example: Example | None = None
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            example = example_of(node.left, node.comparators[0], entry_point, ExampleForm.ASSERT)
        elif isinstance(node, ast.Call) and callee(node.func) in ("isclose", "math.isclose"):
            tolerance = _isclose_tolerance(node)
            if tolerance is not None and len(node.args) == 2:
                example = example_of(node.args[0], node.args[1], entry_point, ExampleForm.ASSERT)
                if example is not None:
                    example = Example(
                        example.call, example.expected, example.source_form, tolerance
                    )
        if example is None:
            continue
        for blank in range(index, end + 1):
            lines[blank] = ""
        yield index, example


def _isclose_tolerance(node: ast.Call) -> float | None:
    tolerance = 1e-9  # math.isclose's default
    for keyword in node.keywords:
        value = keyword.value.value if isinstance(keyword.value, ast.Constant) else None
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        if keyword.arg in ("rel_tol", "abs_tol"):
            tolerance = max(tolerance, float(value))
    return max(tolerance, FLOAT_TOLERANCE)
