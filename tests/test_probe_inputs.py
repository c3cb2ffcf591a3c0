"""Inputs derived from visible examples (ranker.probe_inputs)."""

from ranker.probe_inputs import derived_calls


def test_one_argument_changes_at_a_time_and_examples_take_turns():
    calls = derived_calls(["f([3, 1, 2], 2)", "f([], 0)"], limit=4)
    assert calls == ["f([2, 1, 3], 2)", "f([1], 0)", "f([3, 1, 2], 3)", "f([], 1)"]


def test_keywords_strings_and_floats_are_mutated_and_given_calls_never_repeated():
    calls = derived_calls(['g(1.5, key="ab")', 'g(2.0, key="ab")'], limit=10)
    assert "g(1.5, key='ba')" in calls and "g(1.5, key='AB')" in calls
    assert "g(2.0, key='ab')" not in calls  # that one is an example already
    assert len(calls) == len(set(calls)) <= 10


def test_non_literal_or_odd_calls_give_nothing():
    assert derived_calls(["f(x)", "f(*xs)", "f(**kw)", "not a call", "f(1"]) == []
    assert derived_calls(["f(1)"], limit=0) == []
    assert derived_calls(["f(True)"]) == ["f(False)"]
