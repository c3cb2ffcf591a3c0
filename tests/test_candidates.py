from ranker.candidates import (
    dedupe_key,
    extract_code,
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


# Odd formats found in the canaicode answers (../shared/data/canaicode), written by hand.


def test_numbered_lines_lose_their_numbers_and_keep_indentation():
    raw = "1. def glork(bork):\n2.     total = 1\n3.     for i in range(2, bork + 1):\n4.         total *= i\n5.     return total\n6.\n7. print(glork(5))\n\nThis computes the factorial."
    code = extract_code(raw, "glork")
    assert code.startswith("def glork(bork):\n    total = 1\n    for i")
    assert "This computes" not in code


def test_numbered_prose_is_not_mistaken_for_numbered_code():
    raw = "Steps:\n1. Read the input\n2. Sort it\n\ndef f(xs):\n    return sorted(xs)\n"
    assert extract_code(raw, "f") == "def f(xs):\n    return sorted(xs)"


def test_step_marker_ends_the_answer():
    raw = "def ids():\n    return {'Batman': 'Bruce Wayne'} <step> Source: assistant\nDestination: user\n\n The function returns a dict."
    assert (
        prepare_candidate(raw, entry_point="ids").program
        == "def ids():\n    return {'Batman': 'Bruce Wayne'} "
    )


def test_code_indented_under_prose_is_dedented():
    raw = "Here's your Python function:\n\n    def count(s, sub):\n        return s.count(sub)\n\nHope this helps!"
    assert extract_code(raw, "count") == "def count(s, sub):\n    return s.count(sub)"


def test_language_tag_without_fence_is_dropped():
    assert (
        extract_code("python def potato(g): return g + 1", "potato")
        == "def potato(g): return g + 1"
    )


def test_broken_function_is_not_cut_down_to_a_fragment_of_its_body():
    cand = prepare_candidate("def f(x):\n    return x!\n    y = 1\n", entry_point="f")
    assert not cand.ok and cand.dropped.startswith("syntax error")


def test_canaicode_answers_are_recovered_or_dropped_with_a_reason(shared_data):
    """11,299 real answers from 605 models: count what preparation keeps and drops. Every
    answer canaicode's own harness passed must be kept; every drop says why."""
    import collections
    import gzip
    import json

    path = shared_data / "canaicode" / "canaicode_python_results.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    kept, dropped = 0, collections.Counter()
    passed_but_dropped = []
    for i, row in enumerate(rows):
        entry = row["Signature"].split("(")[0].strip()
        cand = prepare_candidate(row["code"], i, entry_point=entry)
        if cand.ok:
            kept += 1
            continue
        assert cand.dropped
        dropped[cand.dropped.split(":")[0]] += 1
        if row["status"] == "PASS":
            passed_but_dropped.append(i)
    print(
        f"canaicode: {kept} of {len(rows)} answers recovered as programs, dropped {dict(dropped)}"
    )
    assert len(rows) == 11299
    assert passed_but_dropped == []
    assert sum(dropped.values()) <= 113  # 135 answers have no function per canaicode itself


def test_forget_prepared_leaves_nothing_remembered():
    """Benchmarks measure preparation from nothing: every cache of the preparation path is
    empty after `forget_prepared`, and the answer prepares the same again."""
    from ranker.candidates import prepare
    from ranker.offer import forget_prepared
    from ranker.source import trees

    raw = "Sure:\n```python\ndef f(x):\n    return x + 1\n```\nDone."
    first = prepare.prepare_candidate(raw, 0, "def f(x):\n", "f")
    caches = (prepare._prepared, prepare._parses, prepare._trim_prose, trees.defines)
    assert all(cache.cache_info().currsize for cache in caches)
    forget_prepared()
    assert not any(cache.cache_info().currsize for cache in caches)
    assert prepare.prepare_candidate(raw, 0, "def f(x):\n", "f") == first
