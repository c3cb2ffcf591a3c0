"""Finding the function under the cursor and rewriting its body: plain functions, no server."""

from __future__ import annotations

import pytest
from lsprotocol import types

from ranker.candidates.applied import CandidateBody, candidate_body
from ranker.source import function_at, split_lines
from toppass_ls.edits import (
    action_title,
    body_edit,
    distinct_previews,
    generate_title,
    indent_body,
    preview,
    utf16_units,
    workspace_edit,
)

MODULE = '''import os
from typing import List


class Stats:
    @staticmethod
    def spread(xs: List[int]) -> int:
        """Largest minus smallest.

        Empty lists give 0."""
        # not written yet
        return 0

    def outer(self):
        def inner(y):
            return y
        return inner


def one_liner(x): return x + 1


def stub(x):
    ...
'''


def apply(source: str, edit: types.TextEdit) -> str:
    """Apply a TextEdit with UTF-16 positions (an independent, line-list implementation)."""
    lines = source.split("\n")

    def offset(pos: types.Position) -> int:
        line = lines[pos.line]
        units, column = 0, 0
        while units < pos.character:
            units += utf16_units(line[column])
            column += 1
        return sum(len(x) + 1 for x in lines[: pos.line]) + column

    start, end = offset(edit.range.start), offset(edit.range.end)
    return source[:start] + edit.new_text + source[end:]


@pytest.mark.parametrize(
    ("line", "qualname"),
    [
        (5, "Stats.spread"),
        (6, "Stats.spread"),
        (11, "Stats.spread"),
        (13, "Stats.outer"),
        (15, "Stats.outer.<locals>.inner"),
        (19, "one_liner"),
        (23, "stub"),
    ],
)
def test_innermost_function_at_a_line(line, qualname):
    ctx = function_at(MODULE, line)
    assert ctx is not None and ctx.qualname == qualname


@pytest.mark.parametrize("line", [0, 3, 4, 12, 18, 21, 99, -1])
def test_no_function_outside_functions(line):
    assert function_at(MODULE, line) is None


def test_method_context_prompt_and_body_position():
    ctx = function_at(MODULE, 11)
    assert ctx is not None
    assert (ctx.start_line, ctx.def_line, ctx.end_line) == (5, 6, 11)
    assert ctx.replace_start == (10, 0)  # the comment above the first statement is replaced too
    assert ctx.body_indent == " " * 8 and ctx.has_docstring and not ctx.inline_body
    assert ctx.header == (
        "@staticmethod\n"
        "def spread(xs: List[int]) -> int:\n"
        '    """Largest minus smallest.\n'
        "\n"
        '    Empty lists give 0."""\n'
    )
    assert ctx.prompt == "import os\nfrom typing import List\n\n" + ctx.header
    assert ctx.text.startswith("    @staticmethod\n") and ctx.text.endswith("        return 0\n")
    assert "class Stats:" in ctx.context and "def one_liner" in ctx.context


def test_edit_replaces_the_body_after_the_docstring():
    ctx = function_at(MODULE, 7)
    assert ctx is not None
    assert ctx.parameters == ("xs",)  # a static method: its positional parameters, typed
    program = ctx.prompt + "    if not xs:\n        return 0\n    return max(xs) - min(xs)\n"
    body = candidate_body(program, "spread", keep_user_docstring=True)
    assert body is not None and body.text == "if not xs:\n    return 0\nreturn max(xs) - min(xs)\n"
    assert body.own == body.text and body.carried == ()
    result = apply(MODULE, body_edit(ctx, body.text, split_lines(MODULE)))
    assert result == MODULE.replace(
        "        # not written yet\n        return 0\n",
        "        if not xs:\n            return 0\n        return max(xs) - min(xs)\n",
    )


def test_candidate_docstring_is_dropped_when_the_user_has_one_and_kept_otherwise():
    program = 'def f(x):\n    """Theirs."""\n    # why\n    return x\n'
    assert text(candidate_body(program, "f", keep_user_docstring=True)) == "# why\nreturn x\n"
    assert (
        text(candidate_body(program, "f", keep_user_docstring=False))
        == '"""Theirs."""\n# why\nreturn x\n'
    )
    assert candidate_body('def f(x):\n    """Only a docstring."""\n', "f", True) is None
    assert candidate_body("def g(x):\n    return x\n", "f", True) is None
    assert candidate_body("def f(:\n", "f", True) is None


def test_candidate_body_found_inside_a_class_and_on_one_line():
    whole_class = "class Stats:\n    def spread(self, xs):\n        return max(xs) - min(xs)\n"
    assert text(candidate_body(whole_class, "spread", True)) == "return max(xs) - min(xs)\n"
    assert text(candidate_body("def f(x): return x * 2\n", "f", False)) == "return x * 2\n"


def test_the_definition_python_keeps_gives_the_body():
    # the program repeats the prompt's stub before its own definition: the last one counts
    repeated = 'def f(x):\n    """Doc."""\n\n\ndef f(x):\n    """Doc."""\n    return x + 1\n'
    assert text(candidate_body(repeated, "f", True)) == "return x + 1\n"
    redefined = "def f(x):\n    return 1\n\ndef f(x):\n    return 2\n"
    assert text(candidate_body(redefined, "f", False)) == "return 2\n"


def text(body: CandidateBody | None) -> str | None:
    return None if body is None else body.text


HELPED = '''import math
from collections import Counter as Tally
import os

VOWELS = set("aeiou")
LIMIT = 3
UNUSED = 1


def _is_prime(n):
    """True for a prime."""
    return n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))


def _score(word):
    return sum(c in VOWELS for c in word) + len(Tally(word))


def best(words):
    """The best word."""
    # highest score, primes first
    return max(words, key=lambda w: (_is_prime(len(w)), _score(w), LIMIT))


if __name__ == "__main__":
    print(best(["a"]))
'''


def test_a_body_carries_what_the_model_wrote_around_its_function():
    # the user's file defines LIMIT and imports os: only the rest is carried, in order
    body = candidate_body(HELPED, "best", True, defined={"LIMIT", "os", "best"})
    assert body is not None
    assert body.carried == ("math", "Tally", "VOWELS", "_is_prime", "_score")
    assert body.own == (
        "# highest score, primes first\n"
        "return max(words, key=lambda w: (_is_prime(len(w)), _score(w), LIMIT))\n"
    )
    assert body.text == (
        "import math\n"
        "from collections import Counter as Tally\n"
        'VOWELS = set("aeiou")\n'
        "\n"
        "def _is_prime(n):\n"
        '    """True for a prime."""\n'
        "    return n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))\n"
        "\n"
        "def _score(word):\n"
        "    return sum(c in VOWELS for c in word) + len(Tally(word))\n"
        "\n" + body.own
    )
    # the edited function runs: its helpers come with it, nothing else of the program does
    namespace: dict[str, object] = {"LIMIT": 3}
    exec("def best(words):\n" + indent_body(body.text, "    "), namespace)
    assert namespace["best"](["abc", "aeiou", "xy"]) == "aeiou"  # type: ignore[operator]
    assert "UNUSED" not in body.text and "print" not in body.text
    # without the user's docstring, the candidate's stays first
    kept = candidate_body(HELPED, "best", False, defined={"LIMIT", "os"})
    assert kept is not None and kept.text.startswith('"""The best word."""\nimport math\n')
    # a helper's own needs are carried for it too; given no `defined`, nothing is carried
    assert must(candidate_body(HELPED, "_is_prime", True, defined=set())).carried == ("math",)
    assert text(candidate_body(HELPED, "best", True)) == body.own


def test_a_star_import_or_a_name_the_file_defines_is_not_carried():
    starred = "from math import *\n\ndef g(x):\n    return x\n\ndef f(x):\n    return sqrt(g(x))\n"
    assert must(candidate_body(starred, "f", True, defined=set())).text == (
        "def g(x):\n    return x\n\nreturn sqrt(g(x))\n"
    )
    helped = "def g(x):\n    return x\n\ndef f(x):\n    return g(x)\n"
    assert must(candidate_body(helped, "f", True, defined={"g"})).text == "return g(x)\n"
    assert must(candidate_body(helped, "f", True, defined=set())).carried == ("g",)
    # a local that shadows a module-level name does not pull it in
    shadow = "g = 1\n\ndef f(x):\n    g = x\n    return g\n"
    assert must(candidate_body(shadow, "f", True, defined=set())).carried == ()


@pytest.mark.parametrize(
    ("program", "body"),
    [
        # another name for the same parameter: the body reads the user's
        ("def f(lst, k):\n    return sorted(lst)[:k]\n", "return sorted(xs)[:k]\n"),
        # an attribute of that name is not the parameter; comments are kept as written
        (
            "def f(lst, k):\n    # lst\n    return lst.copy() + [o.lst for o in lst]\n",
            "# lst\nreturn xs.copy() + [o.lst for o in xs]\n",
        ),
        # a nested function's parameter of that name is renamed with it, consistently
        (
            "def f(lst, n):\n    def g(lst):\n        return lst\n    return g(lst)[:n]\n",
            "def g(xs):\n    return xs\nreturn g(xs)[:k]\n",
        ),
        # parameters in another order trade names, all at once
        ("def f(k, xs):\n    return xs - k\n", "return k - xs\n"),
        # not renamed where the meaning could change: the user's name is a local here, the
        # name is a keyword argument, or it is read inside an f-string
        ("def f(lst, k):\n    xs = 1\n    return lst\n", "xs = 1\nreturn lst\n"),
        ("def f(lst, k):\n    return g(lst=lst)\n", "return g(lst=lst)\n"),
        ("def f(lst, k):\n    return f'{lst}'\n", "return f'{lst}'\n"),
        # another number of parameters: a defect of its own, left as written
        ("def f(lst):\n    return lst\n", "return lst\n"),
    ],
)
def test_the_body_reads_the_users_parameter_names(program, body):
    assert must(candidate_body(program, "f", True, parameters=("xs", "k"))).text == body


def test_without_the_users_parameters_nothing_is_renamed():
    program = "def f(lst, k):\n    return sorted(lst)[:k]\n"
    assert must(candidate_body(program, "f", True)).text == "return sorted(lst)[:k]\n"


def must(body: CandidateBody | None) -> CandidateBody:
    assert body is not None
    return body


def test_one_line_function_becomes_a_block():
    ctx = function_at(MODULE, 19)
    assert ctx is not None and ctx.inline_body
    assert ctx.header == "def one_liner(x):\n"
    result = apply(MODULE, body_edit(ctx, "y = x + 1\nreturn y\n", split_lines(MODULE)))
    assert "def one_liner(x):\n    y = x + 1\n    return y\n\n\ndef stub" in result


def test_stub_body_is_replaced_and_a_docstring_only_function_gets_a_body():
    ctx = function_at(MODULE, 22)
    assert ctx is not None
    result = apply(MODULE, body_edit(ctx, "return x\n", split_lines(MODULE)))
    assert result.endswith("def stub(x):\n    return x\n")
    source = 'def f():\n    """Doc."""'  # no newline at the end of the file
    ctx = function_at(source, 0)
    assert ctx is not None and ctx.replace_start == (2, 0)
    assert apply(source, body_edit(ctx, "return 1\n", split_lines(source))) == (
        'def f():\n    """Doc."""\n    return 1'
    )


def test_unparsable_module_falls_back_to_the_indented_block():
    broken = (
        MODULE
        + "\n\ndef later(:\n    pass\n\n\ndef todo(a, b):\n    '''Add.'''\n\n\nclass C:\n    def m(self):\n"
    )
    lines = split_lines(broken)
    todo = lines.index("def todo(a, b):")
    ctx = function_at(broken, todo + 1)
    assert ctx is not None and ctx.name == "todo" and ctx.has_docstring
    assert ctx.header == "def todo(a, b):\n    '''Add.'''\n"
    result = apply(broken, body_edit(ctx, "return a + b\n", lines))
    assert "def todo(a, b):\n    '''Add.'''\n    return a + b\n" in result
    method = function_at(broken, len(lines) - 1)  # `def m(self):` with no body yet
    assert method is not None and method.name == "m" and method.body_indent == " " * 8
    assert apply(broken, body_edit(method, "return 1\n", lines)).endswith(
        "    def m(self):\n        return 1\n"
    )
    assert function_at(broken, lines.index("def later(:")) is None
    spread = function_at(broken, 11)
    assert spread is not None and spread.name == "spread" and spread.replace_start == (10, 0)


def test_positions_are_in_utf16_units_and_lines_split_like_lsp():
    source = 'def f(s):\n    """Ünïcode 😀."""  # x\n    return s\n'
    ctx = function_at(source, 2)
    assert ctx is not None
    edit = body_edit(ctx, "return s * 2\n", split_lines(source))
    assert edit.range.end == types.Position(2, 12)
    assert apply(source, edit) == source.replace("return s\n", "return s * 2\n")
    one_line = 'def g(): return "😀"\n'
    ctx = function_at(one_line, 0)
    assert ctx is not None
    assert body_edit(ctx, "pass\n", split_lines(one_line)).range == types.Range(
        types.Position(0, 8),
        types.Position(0, 20),  # 17 characters, one emoji (2 units), a quote
    )
    # a form feed is not a line break for LSP or Python
    assert split_lines("a\x0cb\nc\r\nd\re\n") == ["a\x0cb", "c", "d", "e"]


def test_workspace_edit_is_versioned_when_the_client_supports_it():
    edit = types.TextEdit(types.Range(types.Position(0, 0), types.Position(0, 1)), "x")
    versioned = workspace_edit("file:///a.py", 7, edit, document_changes=True)
    assert versioned.document_changes is not None
    change = versioned.document_changes[0]
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.version == 7
    assert workspace_edit("file:///a.py", 7, edit, document_changes=False).changes == {
        "file:///a.py": [edit]
    }


def test_titles_and_previews():
    assert generate_title("spread") == "toppass: generate ranked candidates for `spread()`"
    assert action_title(1, 0.934, 1, "return sorted(set(xs))\n") == (
        "toppass #1 (0.93): return sorted(set(xs))"
    )
    assert action_title(2, 0.5, 3, "# why\nresult = []\nreturn result\n") == (
        "toppass #2 (0.50, x3): result = [] …"
    )
    # where examples ran they decide the order, so they come first
    assert action_title(1, 0.97, 1, "return sorted(set(xs))\n", "3/3 examples") == (
        "toppass #1 (3/3 examples, 0.97): return sorted(set(xs))"
    )
    assert action_title(3, 0.4, 2, "return xs\n", "0/3 examples") == (
        "toppass #3 (0/3 examples, 0.40, x2): return xs"
    )
    assert action_title(4, 0.0, 1, "print(xs)\n", defect="spread() returns nothing") == (
        "toppass #4 (0.00, spread() returns nothing): print(xs)"
    )
    assert action_title(1, 0.9, 1, "return f(xs)\n", carried=("f",)) == (
        "toppass #1 (0.90, +f): return f(xs)"
    )
    assert action_title(2, 0.8, 2, "return f(xs)\n", "1/1 examples", None, ("a", "b", "c")) == (
        "toppass #2 (1/1 examples, 0.80, x2, +a, b, …): return f(xs)"
    )
    # one that behaved as an earlier candidate says so: why it comes after one scored lower
    assert action_title(4, 0.8, 1, "return xs\n", "3/3 examples", behaves_as=1) == (
        "toppass #4 (3/3 examples, 0.80, as #1): return xs"
    )
    long = "return " + "x + " * 30 + "x\n"
    assert len(preview(long)) <= 62 and preview(long).endswith(" …")
    assert preview("# only a comment\n") == ""


def test_titles_of_a_list_tell_candidates_that_start_alike_apart():
    bodies = [
        "if not strings:\n    return None\nreturn max(strings, key=len)\n",
        "if not strings:\n    return None\nlongest = strings[0]\nreturn longest\n",
        "if not strings:\n    return None\nreturn sorted(strings, key=len)[-1]\n",
        "return max(strings, key=len) if strings else None\n",
    ]
    assert distinct_previews(bodies) == [
        "… return max(strings, key=len)",
        "… longest = strings[0] …",
        "… return sorted(strings, key=len)[-1]",
        "return max(strings, key=len) if strings else None",
    ]
    # the same first line and then the same lines: shown where they first part
    assert distinct_previews(["a = 1\nb = 2\n", "a = 1\nb = 3\n"]) == ["… b = 2", "… b = 3"]
