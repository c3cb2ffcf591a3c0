"""The examples a function's docstring shows, as runnable (call, expected value) pairs, and the
inputs built beside them when examples alone cannot tell programs apart.

    extract_examples(prompt_or_function_source, "sort_array")
    # [Example(call='sort_array([1, 5, 2])', expected='[1, 2, 5]', source_form=...), ...]
    [e.to_assert() for e in examples]      # visible tests for the sandbox
    call_and_expected("assert f(1) == 2")  # ('f(1)', '2'): the call alone, for behaviour signatures

Written forms, one module each (`docstring` reads them all, in the order written): `doctest`
(`>>> f(x)` and its output), `asserts` (`assert f(x) == y`), `inline` (`f(x) -> y`, `==`, `=`,
prose, comments), `named` (`Input: ... Output: ...`, `For x = 1 the output should be y`).
Input kinds: `derived` (near the examples), `typed` (from the parameter types, where there are
no examples), `proposed` (calls a model proposed), over the literal calls of `calls`.

Only what is unambiguous is kept: both sides must parse as Python expressions built from
literals (and a few pure builtins such as `round` or `set`), the call side must call the entry
point and the expected side must not; a call written in a conditional (`if f(1) == 2`) or
inside another expression in prose is not an example; a call shown with two different
results is dropped. Nothing here runs code. Standard library only.
"""

from ranker.examples.docstring import extract_examples
from ranker.examples.example import Example, ExampleForm
from ranker.examples.statements import FLOAT_TOLERANCE, assert_statement, call_and_expected

__all__ = [
    "FLOAT_TOLERANCE",
    "Example",
    "ExampleForm",
    "assert_statement",
    "call_and_expected",
    "extract_examples",
]
