"""Inputs derived from visible examples (ranker.examples.derived)."""

import ast

from ranker.examples.calls import unseen_calls
from ranker.examples.derived import DEFAULT_LIMIT, EDGE_LIMIT, derived_calls
from ranker.examples.proposed import PROPOSED_LIMIT, proposed_calls
from ranker.examples.typed import TYPED_LIMIT, typed_calls


def test_one_argument_changes_at_a_time_and_examples_take_turns():
    calls = derived_calls(["f([3, 1, 2], 2)", "f([], 0)"], limit=4, edges=0)
    assert calls == ["f([2, 1, 3], 2)", "f([1], 0)", "f([3, 1, 2], 3)", "f([], 1)"]


def test_keywords_strings_and_floats_are_mutated_and_given_calls_never_repeated():
    calls = derived_calls(['g(1.5, key="ab")', 'g(2.0, key="ab")'], limit=10, edges=0)
    assert "g(1.5, key='ba')" in calls and "g(1.5, key='AB')" in calls
    assert "g(2.0, key='ab')" not in calls  # that one is an example already
    assert len(calls) == len(set(calls)) <= 10


def test_non_literal_or_odd_calls_give_nothing():
    assert derived_calls(["f(x)", "f(*xs)", "f(**kw)", "not a call", "f(1"]) == []
    assert derived_calls(["f(1)"], limit=0, edges=0) == []
    assert derived_calls(["f(True)"]) == ["f(False)"]
    assert derived_calls(["f(1)"], limit=0, edges=0) == []


def test_typed_calls_use_typical_values_of_each_annotated_type():
    prompt = 'from typing import List\n\ndef f(xs: List[int], k: int, name: str = "x") -> int:\n'
    calls = typed_calls(prompt + '    """No examples."""\n', "f")
    assert len(calls) == TYPED_LIMIT == len(set(calls))
    assert calls[0] == "f([3, 1, 5], 1, 'x')"  # a default is the first value of its type
    for call in calls:
        xs, k, name = ast.literal_eval(call[1:])  # "(...)" of "f(...)": the argument tuple
        assert xs and all(isinstance(x, int) and x > 0 for x in xs)  # never empty or negative
        assert isinstance(k, int) and k > 0 and isinstance(name, str) and name


def test_typed_calls_read_typing_forms_and_string_annotations():
    prompt = (
        "def g(a: 'list[str]', t: tuple[int, float], d: dict[str, bool],"
        " o: Optional[float] = None, u: int | None = None) -> None:\n    pass\n"
    )
    a, t, d, o, u = ast.literal_eval(typed_calls(prompt, "g", limit=1)[0][1:])
    assert all(isinstance(x, str) for x in a) and isinstance(t, tuple)
    assert [type(x) for x in t] == [int, float]
    assert d and all(isinstance(k, str) and isinstance(v, bool) for k, v in d.items())
    assert isinstance(o, float) and isinstance(u, int)


def test_typed_calls_give_nothing_where_a_type_is_unknown():
    assert typed_calls("def f(x, y: int): pass", "f") == []  # x: no annotation, no default
    assert typed_calls("def f(x: Widget): pass", "f") == []
    assert typed_calls("def f(*xs: int): pass", "f") == []
    assert typed_calls("def f(x: dict): pass", "f") == []  # says nothing of what it holds
    assert typed_calls("def f(x: int): pass", "g") == []  # no such function
    assert typed_calls("async def f(x: int): pass", "f") == []  # calls give coroutines
    assert typed_calls("def f(x: int): pass", "f", limit=0) == []
    assert typed_calls("def f() -> int: pass", "f") == ["f()"]


def test_arguments_of_the_same_type_trade_places_first():
    # programs that assume the last side is the longest part from those that sort the sides
    assert derived_calls(["right_angle_triangle(3, 4, 5)"], limit=4, edges=0) == [
        "right_angle_triangle(4, 3, 5)",
        "right_angle_triangle(5, 4, 3)",
        "right_angle_triangle(3, 5, 4)",
        "right_angle_triangle(4, 4, 5)",
    ]
    assert derived_calls(['f("ab", "cd", k=1)'], limit=2, edges=0) == [
        "f('cd', 'ab', k=1)",
        "f('ba', 'cd', k=1)",
    ]
    # arguments of different types, or equal values, stay where they are
    assert derived_calls(["f([1, 2], 2)"], limit=1, edges=0) == ["f([2, 1], 2)"]
    assert derived_calls(["g(1, 1)"], limit=2, edges=0) == ["g(2, 1)", "g(1, 2)"]


def test_sequences_have_their_elements_changed_after_their_shape():
    assert derived_calls(["f([3, 1, 2])"], limit=10, edges=0) == [
        "f([2, 1, 3])",  # reversed
        "f([3, 1])",  # one element fewer
        "f([3, 1, 2, 3])",  # one repeated
        "f([4, 2, 3])",  # every element changed
        "f([4, 1, 2])",  # the first changed
    ]
    # 'AA' reversed is 'AA', so changing only the first element gives nothing new
    assert derived_calls(["f(['AA', 'Be'])"], limit=10, edges=0)[3:] == ["f(['AA', 'eB'])"]
    # elements of nested sequences are left alone
    assert derived_calls(["f([[1], [2]])"], limit=10, edges=0) == [
        "f([[2], [1]])",
        "f([[1]])",
        "f([[1], [2], [1]])",
    ]


def test_arguments_are_emptied_after_the_calls_near_the_examples():
    calls = derived_calls(['f([3, 1], "ab", n=2)'], limit=2)
    assert calls == [
        "f([1, 3], 'ab', n=2)",
        "f([3, 1], 'ba', n=2)",
        "f([], 'ab', n=2)",
        "f([3, 1], '', n=2)",
    ]
    # dicts and sets too; a set's empty value is a call, not a literal
    assert derived_calls(["g({1: 2}, {3})"], limit=0) == ["g({}, {3})", "g({1: 2}, set())"]
    # numbers, booleans and values that are empty already are left alone
    assert derived_calls(["h(0, True, [], '')"], limit=0) == []
    # examples take turns; an emptied call that is an example is not run again
    assert derived_calls(["k([1], [2])", "k([], [2])", "k([5], 'x')"], limit=0, edges=3) == [
        "k([1], [])",  # k([], [2]) is the second example
        "k([], [])",
        "k([], 'x')",
    ]
    assert derived_calls(['f("ab", "cd")'], limit=0, edges=1) == ["f('', 'cd')"]


def test_default_limits_reach_the_empty_input_of_a_long_example():
    # a sequence of seven numbers has more than enough small changes to fill the limit, and
    # the empty list still comes after them
    calls = derived_calls(["rolling_max([1, 2, 3, 2, 3, 4, 2])"])
    assert len(calls) <= DEFAULT_LIMIT + EDGE_LIMIT
    assert calls[-1] == "rolling_max([])"


def test_proposed_calls_keep_the_inputs_of_a_models_reply_and_drop_its_expectations():
    reply = """Here are some inputs:
```python
assert f([1, 2], 3) == 5
print(f([], 0))
f(xs=[4], k=-1)
f(y, 2)
g([1], 1)
f(f([9], 1), 2)
```"""
    assert proposed_calls([reply], "f") == [
        "f([1, 2], 3)",
        "f([], 0)",
        "f(xs=[4], k=-1)",
        "f([9], 1)",  # the inner call has literal arguments, the outer one does not
    ]


def test_proposed_calls_read_prose_line_by_line():
    reply = """Test inputs:
1. f([1, 2], 3) -> 5
- f('a b', 0) ➞ 'a'
>>> f({1: 2}, 1)
* f([3], 1)  # a single element
f ( [1,2] , 3 ) should be 5
Not a call: f(
"""
    assert proposed_calls([reply], "f") == [
        "f([1, 2], 3)",
        "f('a b', 0)",
        "f({1: 2}, 1)",
        "f([3], 1)",
    ]


def test_proposed_calls_are_distinct_in_order_and_limited():
    replies = ["f(1)\nf( 1 )\nf(2)", "f(2)\nf(3)"]
    assert proposed_calls(replies, "f") == ["f(1)", "f(2)", "f(3)"]
    assert proposed_calls(replies, "f", limit=2) == ["f(1)", "f(2)"]
    many = "\n".join(f"f({i})" for i in range(PROPOSED_LIMIT + 5))
    assert len(proposed_calls([many], "f")) == PROPOSED_LIMIT
    assert proposed_calls(["nothing here", ""], "f") == []
    assert proposed_calls(["f([" + "1, " * 1000 + "1])"], "f") == []  # an argument too long


def test_unseen_calls_drop_known_and_repeated_calls():
    assert unseen_calls(["f(1)", "f( 2 )", "f(2)", "f(3)"], ["f(1)"]) == ["f( 2 )", "f(3)"]
