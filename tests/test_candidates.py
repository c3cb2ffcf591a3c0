import pytest

from ranker.candidates import (
    dedupe_key,
    extract_code,
    function_body,
    prepare_candidate,
    prepare_candidates,
    to_program,
)

PROMPT = 'from typing import List\n\n\ndef uniq(xs: List[int]) -> List[int]:\n    """Sorted unique values."""\n'


def test_fenced_answer_with_prose():
    raw = "Sure! Here is the code:\n\n```python\ndef uniq(xs):\n    return sorted(set(xs))\n```\n\nThis works because sets drop duplicates."
    assert extract_code(raw, "uniq") == "def uniq(xs):\n    return sorted(set(xs))"


def test_prefers_block_defining_the_entry_point():
    raw = "```python\nprint(uniq([1]))\n```\n```python\ndef uniq(xs):\n    return list(xs)\n```"
    assert extract_code(raw, "uniq").startswith("def uniq")


def test_stray_and_unclosed_fences():
    raw = "def f(x):\n    return x\n\n```\n\n```\n\n```python"
    assert extract_code(raw) == "def f(x):\n    return x"


def test_trailing_prose_without_fences():
    raw = "def potato(g):\n    return g + 1\n\nExample usage:\nprint(potato(3))  # Output: 4"
    code = extract_code(raw)
    assert code.startswith("def potato") and "Example usage" not in code


def test_leading_prose_without_fences():
    raw = "Here is a function that adds numbers.\ndef add(a, b):\n    return a + b\n"
    assert extract_code(raw) == "def add(a, b):\n    return a + b"


def test_chat_stop_markers_are_cut():
    assert extract_code("return 1\n<|im_end|>\nassistant: more") == "return 1"


def test_body_is_joined_to_prompt_and_indented():
    program = to_program("return sorted(set(xs))", PROMPT, "uniq")
    assert program == PROMPT + "    return sorted(set(xs))\n"
    program = to_program("    return sorted(set(xs))\n", PROMPT, "uniq")
    assert program == PROMPT + "    return sorted(set(xs))\n"


def test_whole_function_gets_prompt_preamble():
    program = to_program("def uniq(xs: List[int]) -> List[int]:\n    return xs", PROMPT, "uniq")
    assert program.startswith("from typing import List")
    assert program.count("def uniq") == 1


def test_unparsable_candidate_is_dropped_with_reason():
    cand = prepare_candidate("def glork(bork):\n    return bork!", index=4)
    assert not cand.ok and cand.index == 4
    assert cand.dropped is not None and cand.dropped.startswith("syntax error: line 2")
    empty = prepare_candidate("I cannot help with that.```\n```")
    assert not empty.ok


def test_dedupe_ignores_formatting_and_comments_and_keeps_counts():
    raws = [
        "```python\nreturn sorted(set(xs))\n```",
        "    return sorted( set(xs) )  # unique",
        "return list(xs)",
        "return ((",
    ]
    prep = prepare_candidates(raws, PROMPT, "uniq")
    assert [g.indices for g in prep.groups] == [(0, 1), (2,)]
    assert prep.groups[0].count == 2
    assert [c.index for c in prep.dropped] == [3]


def test_dedupe_key_keeps_semantic_differences():
    assert dedupe_key("x = 1\n") == dedupe_key("x=1  # one\n")
    assert dedupe_key("x = 1\n") != dedupe_key("x = 2\n")


@pytest.mark.parametrize(
    "program,expected",
    [
        (PROMPT + "    return xs\n", '    """Sorted unique values."""\n    return xs\n'),
        ("def uniq(xs): return xs\n", None),
        ("def other():\n    pass\n", None),
    ],
)
def test_function_body(program, expected):
    assert function_body(program, "uniq") == expected
