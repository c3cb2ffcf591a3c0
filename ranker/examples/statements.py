"""Visible tests as standalone statements, and back: `assert_statement` writes the assert
an example runs as (float-tolerant where the expected value holds floats), `call_and_expected`
reads the call and the expected value out of an assert (or `math.isclose`, or the tolerant
form written here)."""

from __future__ import annotations

import ast

from ranker.examples.values import arithmetic, callee

# Docstring floats are short decimals (`0.5`, `6.00`, `2.2`); exact `==` rejects a correct
# result for harmless rounding (`0.1 + 0.2`), while a wrong digit among those shown is far
# above 1e-6. 1e-6 relative, absolute below 1, is what EvalPlus's evaluator uses for float
# outputs that state no tolerance, and the labels of this project follow EvalPlus.
FLOAT_TOLERANCE = 1e-6


def assert_statement(call: str, expected: str, tolerance: float = FLOAT_TOLERANCE) -> str:
    expected_node = ast.parse(expected, mode="eval").body
    if _holds_float(expected_node) and (
        arithmetic(expected_node) is not None
        or isinstance(expected_node, (ast.List, ast.Tuple, ast.Dict))
    ):
        return f"assert {_tolerant_test(call, expected, expected_node, tolerance)}"
    # anything else (`set(...)`, `float('inf')`) compares exactly: no element pairs to match
    return f"assert {_unparse(call)} == {_unparse(expected)}"


def _tolerant_test(call: str, expected: str, expected_node: ast.expr, tolerance: float) -> str:
    if not isinstance(expected_node, (ast.List, ast.Tuple, ast.Dict)):
        text = f"abs(({call}) - ({expected})) <= {tolerance!r} * max(1.0, abs({expected}))"
        return _unparse(text)
    # Containers: element-wise, recursively, through a self-applied lambda so the statement
    # stays standalone and the call runs once; lists and tuples must match in type and
    # length, as `==` requires; non-float leaves compare with `==`.
    close = (
        "lambda close, got, want: "
        "type(got) is type(want) and len(got) == len(want) "
        "and all(close(close, g, w) for g, w in zip(got, want)) "
        "if isinstance(want, (list, tuple)) else "
        "isinstance(got, dict) and got.keys() == want.keys() "
        "and all(close(close, got[k], want[k]) for k in want) "
        "if isinstance(want, dict) else "
        f"got == want or abs(got - want) <= {tolerance!r} * max(1.0, abs(want)) "
        "if isinstance(want, float) else got == want"
    )
    return _unparse(f"(lambda close: close(close, ({call}), ({expected})))({close})")


def call_and_expected(statement: str) -> tuple[str, str] | None:
    """(call, expected) of `assert A == B` (a message after it is ignored), of
    `assert math.isclose(A, B, ...)`, or of the float-tolerant statements `to_assert`
    writes; None for anything else."""
    try:
        tree = ast.parse(statement.strip())
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    pair: tuple[ast.expr, ast.expr] | None = None
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq):
        pair = (test.left, test.comparators[0])
    elif isinstance(test, ast.Call) and callee(test.func) in ("isclose", "math.isclose"):
        if len(test.args) >= 2:
            pair = (test.args[0], test.args[1])
    else:
        pair = _tolerant_parts(test)
    if pair is None:
        return None
    source = statement.strip()
    return tuple(  # type: ignore[return-value]
        ast.get_source_segment(source, node) or ast.unparse(node) for node in pair
    )


def _tolerant_parts(test: ast.expr) -> tuple[ast.expr, ast.expr] | None:
    """The call and expected value of a statement `_tolerant_test` wrote, checked by
    writing it again from them."""
    candidate: tuple[ast.expr, ast.expr] | None = None
    tolerance: ast.expr | None = None
    if (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Call)
        and len(test.left.args) == 1
        and isinstance(test.left.args[0], ast.BinOp)
        and isinstance(test.comparators[0], ast.BinOp)
    ):
        candidate = (test.left.args[0].left, test.left.args[0].right)
        tolerance = test.comparators[0].left
    elif (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Lambda)
        and isinstance(test.func.body, ast.Call)
        and len(test.func.body.args) == 3
        and len(test.args) == 1
    ):
        candidate = (test.func.body.args[1], test.func.body.args[2])
        for node in ast.walk(test.args[0]):
            if isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.LtE):
                tolerance = node.comparators[0].left  # type: ignore[attr-defined]
    if candidate is None or not isinstance(tolerance, ast.Constant):
        return None
    if not isinstance(tolerance.value, float):
        return None
    call, expected = (ast.unparse(node) for node in candidate)
    rebuilt = ast.parse(
        _tolerant_test(call, expected, candidate[1], tolerance.value), mode="eval"
    ).body
    return candidate if ast.dump(rebuilt) == ast.dump(test) else None


def _unparse(text: str) -> str:
    return ast.unparse(ast.parse(text, mode="eval").body)


def _holds_float(node: ast.expr) -> bool:
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, (float, complex))
        for n in ast.walk(node)
    )
