"""One example: a call of the function and the value the docstring shows for it, and how it
was written."""

from __future__ import annotations

import ast
import enum
from dataclasses import dataclass

from ranker.examples.statements import FLOAT_TOLERANCE, assert_statement
from ranker.examples.values import calls_entry, is_value


class ExampleForm(str, enum.Enum):
    """How the docstring wrote the example."""

    DOCTEST = "doctest"  # >>> f(x) / expected   or   >>> f(x) == y
    ASSERT = "assert"  # assert f(x) == y
    COMPARISON = "comparison"  # f(x) == y
    ARROW = "arrow"  # f(x) -> y, =>, ==>, ➞, →
    EQUALS = "equals"  # f(x) = y
    PROSE = "prose"  # f(x) should return y, f(x) returns y
    COMMENT = "comment"  # f(x)  # => y
    INPUT_OUTPUT = "input-output"  # Input: arr = [1, 2], k = 3 / Output: 5
    FOR_NAMED = "for-named"  # For x = 3 the output should be 5

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Example:
    """`call` evaluates the entry point on the example's input; `expected` is the value the
    docstring shows. Both are normalised Python expressions (`ast.unparse`)."""

    call: str
    expected: str
    source_form: ExampleForm
    tolerance: float = FLOAT_TOLERANCE  # used only when `expected` holds floats
    written_as: str | None = None  # the function's old name, where the docstring used one

    def to_assert(self) -> str:
        """One standalone statement (no imports, no helpers) that passes when the call gives
        the expected value: `assert call == expected`, or a float-tolerant comparison when
        the expected value holds floats (the call is evaluated once)."""
        return assert_statement(self.call, self.expected, self.tolerance)


def example_of(
    call: ast.expr, expected: ast.expr, entry_point: str, form: ExampleForm
) -> Example | None:
    if not (is_value(call, entry_point, True) and calls_entry(call, entry_point)):
        return None
    if not is_value(expected, entry_point, False):
        return None
    return Example(ast.unparse(call), ast.unparse(expected), form)
