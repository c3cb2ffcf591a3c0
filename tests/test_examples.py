"""Docstring examples: every written form read from hand-written docstrings, what must not be
read, the asserts they become (judged in the sandbox), and HumanEval's canonical solutions
passing every example extracted from their prompts."""

from __future__ import annotations

import ast
import textwrap

import pytest

from ranker.examples import Example, ExampleForm, call_and_expected, extract_examples
from ranker.sandbox import FunctionJob, Limits, Outcome, Sandbox
from train.loaders import load_problems
from train.loaders.humaneval import KNOWN_WRONG_EXAMPLES, visible_asserts


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, limits=Limits(timeout=10.0, memory=1 << 30)) as box:
        yield box


def function(docstring: str, name: str = "f", params: str = "x") -> str:
    body = textwrap.indent(textwrap.dedent(docstring).strip("\n"), "    ")
    return f'def {name}({params}):\n    """\n{body}\n    """\n'


def pairs(source: str, entry_point: str = "f") -> list[tuple[str, str, str]]:
    return [(e.call, e.expected, str(e.source_form)) for e in extract_examples(source, entry_point)]


# ---------------------------------------------------------------- each written form


def test_doctest_single_and_multi_line():
    source = function(
        """
        Doc.
        >>> f(1)
        2
        >>> f([1,
        ...    2])
        ['a',
         'b']
        >>> f(3) == [4]
        >>> f('a\\nb')
        'c'
        """
    )
    assert pairs(source) == [
        ("f(1)", "2", "doctest"),
        ("f([1, 2])", "['a', 'b']", "doctest"),
        ("f(3)", "[4]", "doctest"),
        ("f('a\\nb')", "'c'", "doctest"),  # escapes as written, not the docstring's value
    ]


def test_doctest_without_output_means_none_only_for_a_bare_call():
    source = function(
        """
        >>> f([])

        >>> f([1]) [0]
        >>> f(2) == 3
        True
        """
    )
    assert pairs(source) == [("f([])", "None", "doctest"), ("f(2)", "3", "doctest")]


def test_arrows_comparisons_and_equals():
    source = function(
        """
        Examples:
        f(1) == 2
        * f(2) => 3
        - f(3) -> 4
        f(4) ➞ 5
            # a comment line under the example
        f(5) → 6
        f(6) ==> 7
        f(7) = 8
        for f(8) == 9
        assert f(9) == 10
        """
    )
    assert pairs(source) == [
        ("f(1)", "2", "comparison"),
        ("f(2)", "3", "arrow"),
        ("f(3)", "4", "arrow"),
        ("f(4)", "5", "arrow"),
        ("f(5)", "6", "arrow"),
        ("f(6)", "7", "arrow"),
        ("f(7)", "8", "equals"),
        ("f(8)", "9", "comparison"),
        ("f(9)", "10", "assert"),
    ]


def test_prose_and_comment_forms():
    source = function(
        """
        For example: f('a') should return 'b'.
        f('c') returns 'd' # because
        f([1, 2]) returns [3], since it adds one
        f('e')   # returns "E"
        f('g')  # => 'G' (capitalised)
        For example f('h') should
        return 'H' and f('i') should return 'I'.
        """
    )
    assert pairs(source) == [
        ("f('a')", "'b'", "prose"),
        ("f('c')", "'d'", "prose"),
        ("f([1, 2])", "[3]", "prose"),
        ("f('e')", "'E'", "comment"),
        ("f('g')", "'G'", "comment"),
        ("f('h')", "'H'", "prose"),
        ("f('i')", "'I'", "prose"),
    ]


def test_values_written_loosely():
    source = function(
        """
        f(1) => true
        f(2) -> 19 - 5 - 6 = 8
        f(3) == 1 + 9 + 0 + 0 = 10
        f(4) -> None
        f(
          [1, 2],
        ) == [(0, 0),
              (1, 0)]
        """
    )
    assert pairs(source) == [
        ("f(1)", "True", "arrow"),
        ("f(2)", "8", "arrow"),  # a derivation whose parts all equal the last
        ("f(3)", "10", "comparison"),
        ("f(4)", "None", "arrow"),
        ("f([1, 2])", "[(0, 0), (1, 0)]", "comparison"),
    ]


def test_input_output_blocks_use_the_signature():
    source = function(
        """
        Example 1:
            Input: arr = [1, 2], k = 3
            Output: [2, 1]
        Example 2: Input: k = 1, arr = [3] Output: 7  # reversed names
        Example 3:
            Input:
                arr : [[0, 1]]
                bucket_k : 2
            Output: 6
        Example 4:
            Input: [5], 6
            Output: 0
        """,
        params="arr, k",
    )
    assert pairs(source) == [
        ("f([1, 2], 3)", "[2, 1]", "input-output"),
        ("f([3], 1)", "7", "input-output"),
        ("f([[0, 1]], 2)", "6", "input-output"),  # `bucket_k` is the parameter `k`
        ("f([5], 6)", "0", "input-output"),
    ]
    single = function("Example 1:\n    Input: 3\n    Output: (1, 2)\n", params="n")
    assert pairs(single) == [("f(3)", "(1, 2)", "input-output")]
    defaults = function("Input: b = 2\nOutput: 3\n", params="a=1, b=0, *, c=5")
    assert pairs(defaults) == [("f(b=2)", "3", "input-output")]


def test_for_named_inputs():
    source = function(
        """
        For lst = [1, 2] the output should be 3
        For lst = [], k = 2 the result should be ('', False).
        For lst = [4], k = 1, the sum is 5 the output should be "5".
        """,
        params="lst, k=0",
    )
    assert pairs(source) == [
        ("f([1, 2])", "3", "for-named"),
        ("f([], 2)", "('', False)", "for-named"),
        ("f([4], 1)", "'5'", "for-named"),
    ]


def test_mbpp_style_prompt_without_a_def_line():
    prompt = (
        '"""\nWrite a function.\nassert set(shared((3, 4), (4, 5))) == set((4,))\n'
        'assert math.isclose(shared(0, 1), 1.57, rel_tol=0.001)\n"""\n'
    )
    examples = extract_examples(prompt, "shared")
    assert [(e.call, e.expected) for e in examples] == [
        ("set(shared((3, 4), (4, 5)))", "set((4,))"),
        ("shared(0, 1)", "1.57"),
    ]
    assert examples[1].tolerance == 0.001  # the tolerance the prompt states


def test_a_function_being_written():
    unfinished = "def f(x):\n    '''Double.\n\n    >>> f(2)\n    4\n    '''"
    assert pairs(unfinished) == [("f(2)", "4", "doctest")]
    indented = "    def f(x):\n        '''f(2) == 4'''\n        return 2 * x\n"
    assert pairs(indented) == [("f(2)", "4", "comparison")]


def test_examples_written_with_the_functions_old_name():
    source = function(
        """
        Keep the words of even length, shortest first.
        assert list_sort(["aa", "a", "aaa"]) => ["aa"]
        >>> list_sort(words=["ab", "a", "cd"])
        ['ab', 'cd']
        """,
        name="sorted_list_sum",
        params="words",
    )
    assert pairs(source, "sorted_list_sum") == [
        ("sorted_list_sum(['aa', 'a', 'aaa'])", "['aa']", "arrow"),
        ("sorted_list_sum(words=['ab', 'a', 'cd'])", "['ab', 'cd']", "doctest"),
    ]
    assert {e.written_as for e in extract_examples(source, "sorted_list_sum")} == {"list_sort"}
    assert {e.written_as for e in extract_examples(function("f(1) == 2"), "f")} == {None}
    camel = function("oldGradeOf(3.5) == 'A-'", name="letter_grade", params="gpa")
    assert pairs(camel, "letter_grade") == [("letter_grade(3.5)", "'A-'", "comparison")]


def test_other_functions_are_not_taken_for_an_old_name():
    shown = "grade_of(3.5) == 'A-'"
    assert pairs(function(shown, name="letter_grade", params="gpa"), "letter_grade") != []
    cases = {
        # defined or imported in the source, or defined elsewhere in the document
        "defined": "def grade_of(x):\n    return x\n\n\n"
        + function(shown, name="letter_grade", params="gpa"),
        "imported": "from grades import grade_of\n\n\n"
        + function(shown, name="letter_grade", params="gpa"),
        # bound in the docstring
        "bound": function(">>> grade_of = make(4)\n" + shown, name="letter_grade", params="gpa"),
        # no word in common with the function's name
        "unrelated": function(shown, name="score", params="gpa"),
        # a call that does not fit the signature
        "too many": function("grade_of(3.5, 4) == 'A-'", name="letter_grade", params="gpa"),
        "unknown keyword": function("grade_of(x=3.5) == 'A-'", name="letter_grade", params="gpa"),
        "missing": function(shown, name="letter_grade", params="gpa, scale"),
        # two names could be the old one
        "ambiguous": function(
            shown + "\nold_grade(2.0) == 'C+'", name="letter_grade", params="gpa"
        ),
        # the function's own examples come first; other names are then never read
        "own": function(shown + "\nletter_grade(2.0) == 'C+'", name="letter_grade", params="gpa"),
    }
    found = {case: pairs(source, "letter_grade") for case, source in cases.items()}
    assert found == {
        **{case: [] for case in cases if case != "own"},
        "own": [("letter_grade(2.0)", "'C+'", "comparison")],
    }
    alone = function(shown, name="letter_grade", params="gpa")
    assert extract_examples(alone, "letter_grade", known_names={"grade_of"}) == []
    variadic = function("grade_of(3.5, 4, key=1) == 'A-'", name="letter_grade", params="*a, **k")
    assert pairs(variadic, "letter_grade") == [
        ("letter_grade(3.5, 4, key=1)", "'A-'", "comparison")
    ]


# ---------------------------------------------------------------- what must not be read


def test_prose_arrows_and_other_functions_are_not_examples():
    source = "def helper(x):\n    '''>>> helper(1)\n    2\n    '''\n\n" + function(
        """
            sort arr -> [1, 2, 3] -> done
            g(f(1)) == 2
            other(1) == 2
            grade(f) => 'A'
            >>> helper(1)
            2
            x = f(2) == 3
            self.f(3) == 4
            """
    )
    assert pairs(source) == []
    assert pairs(source, "helper") == [("helper(1)", "2", "doctest")]


def test_definitions_conditions_and_free_names_are_not_examples():
    source = function(
        """
        f(n) == f(n - 1) + f(n - 2)
        f(0) = 1 + x
        f(6) = 2 * 3, if even
        f(a) => False
        If f(2) returns 5, stop.
        when f(3) == 4 the list is full
        f(4) == 4 if flag else 5
        f(5) -> 1 + 1 = 3
        f(9) returns 4 bytes
        >>> xs = [1]
        >>> f(xs)
        1
        """
    )
    assert pairs(source) == []


def test_unparsable_and_unsupported_outputs_are_skipped():
    source = function(
        """
        f(1) == ""a"
        f(2) -> [1, 2
        >>> f(3)
        Traceback (most recent call last):
        ValueError
        >>> print(f(4))
        four
        >>> f(5)
        [1, ...]
        >>> f(6)
        7
        an explanation that is not a value
        Input: [1]
        Output: a list of numbers
        """
    )
    assert pairs(source) == []


def test_methods_are_skipped():
    source = "class A:\n    def f(self, x):\n        '''>>> f(1)\n        2\n        '''\n"
    assert extract_examples(source, "f") == []


def test_named_inputs_that_do_not_match_the_signature_are_skipped():
    source = function(
        """
        Input: xs = [1], k = 2
        Output: 1
        Input: arr = [1]
        Output: 2
        Input: 1, 2, 3
        Output: 3
        """,
        params="arr, k",
    )
    assert pairs(source) == []  # unknown name, missing k, and three values for two parameters
    assert pairs(function("Input: 1, 2\nOutput: 3\n", params="n")) == []  # one param or a tuple?


def test_duplicates_merge_and_contradictions_drop():
    source = function(
        """
        >>> f(2)
        2

        f(2) == 2.0
        f(2) -> 2
        f(1) == 2
        f(1) == 3
        """
    )
    assert pairs(source) == [("f(2)", "2", "doctest")]


# ---------------------------------------------------------------- asserts


def test_to_assert_is_exact_without_floats():
    assert Example("f(1)", "[1, 'a']", ExampleForm.ARROW).to_assert() == "assert f(1) == [1, 'a']"
    assert Example("f(1)", "{0.5}", ExampleForm.ARROW).to_assert() == "assert f(1) == {0.5}"


@pytest.mark.parametrize(
    ("expected", "returned", "passes"),
    [
        ("0.3", "0.1 + 0.2", True),
        ("0.3", "0.31", False),
        ("-0.5", "-0.5000000001", True),
        ("1e9", "1e9 + 1", True),  # relative above 1
        ("1e9", "1e9 + 2000", False),
        ("0.3", "'0.3'", False),
        ("[0.5, 1.0]", "[0.5, 1.0 + 1e-12]", True),
        ("[0.5, 1.0]", "(0.5, 1.0)", False),  # a tuple is not the list shown
        ("[0.5, 1.0]", "[0.5]", False),
        ("(2.0, [0.1, 'a'])", "(2.0, [0.1 + 1e-9, 'a'])", True),
        ("(2.0, [0.1, 'a'])", "(2.0, [0.1, 'b'])", False),
        ("{'a': 0.5}", "{'a': 0.5000001}", True),
        ("{'a': 0.5}", "{'b': 0.5}", False),
        ("[float('inf'), 1.5]", "[float('inf'), 1.5]", True),
    ],
)
def test_float_asserts_are_tolerant_in_the_sandbox(sandbox, expected, returned, passes):
    statement = Example("f(1)", expected, ExampleForm.DOCTEST).to_assert()
    program = f"calls = []\ndef f(x):\n    calls.append(x)\n    return {returned}\n"
    result = sandbox.run(FunctionJob(program, [statement, "assert calls == [1]"]))
    assert result.passed is passes, (statement, result.result)
    if passes:
        assert call_and_expected(statement) == ("f(1)", ast.unparse(ast.parse(expected)))


def test_call_and_expected_splits_what_it_can():
    assert call_and_expected("assert f(1) == 2") == ("f(1)", "2")
    assert call_and_expected("assert f( 1 ) == [2, 3], 'message'") == ("f( 1 )", "[2, 3]")
    assert call_and_expected("assert set(f(1)) == set((2,))") == ("set(f(1))", "set((2,))")
    assert call_and_expected("assert math.isclose(f(1), 0.5, rel_tol=0.001)") == ("f(1)", "0.5")
    for example in extract_examples(function(">>> f(1)\n[0.5, (1.5, 'a')]\n>>> f(2)\n0.5"), "f"):
        assert call_and_expected(example.to_assert()) == (example.call, example.expected)
    for not_split in (
        "assert f(1)",
        "assert not f(1)",
        "assert f(1) != 2",
        "x = f(1) == 2",
        "assert (lambda a: a)(f(1))",
        "assert abs(f(1) - 0.5) <= 1e-06 * max(1.0, abs(0.7))",  # not what to_assert writes
        "assert f(1) == 2\nassert f(2) == 3",
        "assert f(1 ==",
    ):
        assert call_and_expected(not_split) is None, not_split


# ---------------------------------------------------------------- HumanEval


def test_humaneval_canonical_solutions_pass_every_visible_example(sandbox):
    problems = load_problems("humaneval")
    with_examples = [p for p in problems.values() if p.visible_tests]
    assert len(with_examples) == 156  # the `>>>`-only reader found 69
    assert sum(len(p.visible_tests) for p in problems.values()) == 446
    jobs = [
        (p.task_id, FunctionJob(p.extra["reference"], list(p.visible_tests), stop_on_failure=False))
        for p in with_examples
    ]
    failures = [
        (task_id, case.index, case.message)
        for task_id, result in sandbox.imap_unordered(jobs)
        for case in result.cases
        if case.outcome is not Outcome.PASSED
    ]
    assert failures == []
    # every visible test is one the loader's split gives back
    for problem in with_examples:
        for statement in problem.visible_tests:
            assert call_and_expected(statement) is not None, statement


def test_known_wrong_humaneval_examples_are_still_there_and_still_wrong(sandbox):
    problems = load_problems("humaneval")
    for (task_id, call), reason in KNOWN_WRONG_EXAMPLES.items():
        problem = problems[task_id]
        assert problem.entry_point is not None and reason
        examples = {e.call: e for e in extract_examples(problem.prompt, problem.entry_point)}
        assert call in examples, (task_id, call)
        statement = examples[call].to_assert()
        assert statement not in problem.visible_tests
        result = sandbox.run(FunctionJob(problem.extra["reference"], [statement]))
        assert not result.passed, (task_id, call)
    assert visible_asserts(problems["HumanEval/148"].prompt, "bf") != visible_asserts(
        problems["HumanEval/148"].prompt, "bf", "HumanEval/148"
    )
