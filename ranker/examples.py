"""The examples a function's docstring shows, as runnable (call, expected value) pairs.

    extract_examples(prompt_or_function_source, "sort_array")
    # [Example(call='sort_array([1, 5, 2])', expected='[1, 2, 5]', source_form=...), ...]
    [e.to_assert() for e in examples]      # visible tests for the sandbox
    call_and_expected("assert f(1) == 2")  # ('f(1)', '2'): the call alone, for behaviour signatures

Written forms read (each an `ExampleForm`): `>>> f(x)` with its expected output line(s)
(or `>>> f(x) == y`); `assert f(x) == y`; `f(x) == y`; arrows (`->`, `=>`, `==>`, `➞`, `→`);
`f(x) = y`; prose (`f(x) should return y`, `f(x) returns y`); a comment (`f(x)  # => y`);
`Input: ... Output: ...` blocks, named (`arr = [1, 2], k = 3`, one `name : value` per line)
or not; `For x = 1 the output should be y`. Named inputs become a call with the entry point's
parameters in signature order. A docstring that shows no example of the function may show
them under its old name (a function renamed after its docstring was written); those are read
as the function's own, under strict conditions (`_renamed_examples`).

Only what is unambiguous is kept: both sides must parse as Python expressions built from
literals (and a few pure builtins such as `round` or `set`), the call side must call the entry
point and the expected side must not; a call written in a conditional (`if f(1) == 2`) or
inside another expression in prose is not an example; a call shown with two different
results is dropped. Nothing here runs code: the examples are text for the sandbox.
Standard library only (the language server reads the function under the cursor with it).
"""

from __future__ import annotations

import ast
import builtins
import enum
import inspect
import re
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from keyword import kwlist as _KEYWORDS

from ranker.example_values import (
    arithmetic,
    bracket_depths,
    callee,
    calls_entry,
    continued,
    expected_value,
    is_value,
    parse_expression,
    strip_comment,
    top_level_split,
)

# Docstring floats are short decimals (`0.5`, `6.00`, `2.2`); exact `==` rejects a correct
# result for harmless rounding (`0.1 + 0.2`), while a wrong digit among those shown is far
# above 1e-6. 1e-6 relative, absolute below 1, is what EvalPlus's evaluator uses for float
# outputs that state no tolerance, and the labels of this project follow EvalPlus.
FLOAT_TOLERANCE = 1e-6

# A call right after one of these words states a condition, not an example.
_CONDITION_WORDS = frozenset(
    [
        "if",
        "iff",
        "when",
        "whenever",
        "unless",
        "whether",
        "while",
        "until",
        "not",
        "never",
        "where",
        "assume",
        "assuming",
        "suppose",
        "because",
        "since",
        "once",
    ]
)


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


def extract_examples(
    prompt_or_function_source: str, entry_point: str, known_names: Iterable[str] = ()
) -> list[Example]:
    """The examples in `entry_point`'s docstring (or, with no such function, the module
    docstring) in the order written, duplicates removed.

    A docstring that shows no example of `entry_point` may show them under the function's
    old name (`_renamed_examples`); `known_names` are names defined outside the source given
    (the rest of the document), which are other functions and never taken for an old name."""
    parsed = _parse(prompt_or_function_source)
    if parsed is None:
        return []
    found = _function(*parsed, entry_point)
    if found is None:
        return []
    docstring, signature = found
    if not docstring.strip():
        return []
    examples = _examples_of(docstring, entry_point, signature)
    if examples or signature is None:
        return examples
    defined = set(known_names) | defined_names(parsed[0])
    return _renamed_examples(docstring, entry_point, signature, defined)


def _examples_of(docstring: str, name: str, signature: _Signature | None) -> list[Example]:
    """The examples in `docstring` that call `name`."""
    lines = docstring.splitlines()
    examples: list[tuple[int, Example]] = []
    examples += _doctest_examples(lines, name)  # blanks the lines it reads
    examples += _assert_examples(lines, name)  # idem
    examples += _input_output_examples(lines, name, signature)
    examples += _for_named_examples(lines, name, signature)
    examples += _inline_examples(lines, name)
    examples.sort(key=lambda item: item[0])
    return _deduplicate([example for _, example in examples])


# ---------------------------------------------------------------- a renamed function


def _renamed_examples(
    docstring: str, entry_point: str, signature: _Signature, defined: set[str]
) -> list[Example]:
    """Examples written with a function's old name: a function renamed after its docstring
    was written (`def sorted_list_sum(lst)` whose docstring shows `list_sort(["aa"]) =>
    ["aa"]`). Used only when the docstring shows no example of the function's own name and
    exactly one other name gives examples. That name must share a word with the function's
    (a rename keeps part of the name: `list_sort`, `sorted_list_sum`); a name defined or
    imported in the source or bound in the docstring (`>>> g = make(57)`), or a builtin, is
    a different function and never taken; every call must fit the function's signature.
    The calls are rewritten to the entry point."""
    defined = defined | _bound_in(docstring) | set(dir(builtins)) | set(_KEYWORDS)
    words = _name_words(entry_point)
    written = {
        match.group(1)
        for match in re.finditer(r"(?<![\w.])([A-Za-z_]\w*)[ \t]*\(", docstring)
        if match.group(1) not in defined
        and match.group(1) != entry_point
        and words & _name_words(match.group(1))
    }
    found = {}
    for name in sorted(written):
        examples = _examples_of(docstring, name, signature)
        if examples and all(_fits(example.call, name, signature) for example in examples):
            found[name] = examples
    if len(found) != 1:
        return []
    ((name, examples),) = found.items()
    return [
        replace(example, call=_renamed_call(example.call, name, entry_point), written_as=name)
        for example in examples
    ]


def defined_names(tree: ast.AST) -> frozenset[str]:
    """Every name `tree`'s statements define or import: functions, classes, assigned names,
    aliases. Only statements are visited, not the expressions in them (the server asks this of
    the whole document on every request: a full `ast.walk` costs a large share of the parse)."""
    names: set[str] = set()
    statements: list[ast.AST] = [tree]
    while statements:
        node = statements.pop()
        targets: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars]
        names.update(
            name.id
            for target in targets
            for name in ast.walk(target)
            if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store)
        )
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                statements.extend(block)
    return frozenset(names)


def _bound_in(docstring: str) -> frozenset[str]:
    """Names a docstring's code lines bind (`>>> g = make(57)`, `>>> from m import f as g`)."""
    names: set[str] = set()
    for line in docstring.splitlines():
        code = re.sub(r"^\s*(?:>>>|\.\.\.)\s?", "", line).strip()
        if "=" in code or "import" in code:
            try:
                names |= defined_names(ast.parse(code))
            except (SyntaxError, ValueError):
                continue
    return frozenset(names)


def _name_words(name: str) -> set[str]:
    """The words of a snake_case or camelCase name, lowercased, of three letters or more."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return {word.lower() for word in re.split(r"[_\d]+", spaced) if len(word) >= 3}


def _fits(call: str, name: str, signature: _Signature) -> bool:
    """Every call of `name` in `call` binds the signature's parameters: not too many
    positional arguments, known keywords, every required parameter given."""
    for node in ast.walk(ast.parse(call, mode="eval")):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id != name:
            continue
        if not signature.varargs and len(node.args) > len(signature.positional):
            return False
        keywords = {k.arg for k in node.keywords if k.arg is not None}
        if not signature.varkw and not keywords <= set(signature.names):
            return False
        given = set(signature.positional[: len(node.args)]) | keywords
        if not signature.required <= given:
            return False
    return True


def _renamed_call(call: str, old: str, new: str) -> str:
    tree = ast.parse(call, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == old:
            node.func.id = new
    return ast.unparse(tree)


# ---------------------------------------------------------------- asserts and their inverse


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


# ---------------------------------------------------------------- the function and its text


@dataclass(frozen=True)
class _Signature:
    positional: tuple[str, ...]  # in order, positional-only and ordinary parameters
    keyword_only: tuple[str, ...]
    required: frozenset[str]
    varargs: bool = False  # *args
    varkw: bool = False  # **kwargs

    @property
    def names(self) -> tuple[str, ...]:
        return self.positional + self.keyword_only


def _parse(source: str) -> tuple[ast.Module, str] | None:
    """The module and the text it was parsed from: a function being written may end at its
    docstring (given a body here), or be indented (a method's text)."""
    dedented = textwrap.dedent(source)
    for text in (
        source,
        source.rstrip() + "\n    pass\n",
        dedented,
        dedented.rstrip() + "\n    pass\n",
    ):
        try:
            return ast.parse(text), text
        except SyntaxError:
            continue
    return None


def _function(
    tree: ast.Module, text: str, entry_point: str
) -> tuple[str, _Signature | None] | None:
    """The docstring and signature of `entry_point` in `tree` (parsed from `text`), the
    module docstring with no signature when there is no such function, None for a method."""
    methods = {
        id(item) for node in ast.walk(tree) if isinstance(node, ast.ClassDef) for item in node.body
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == entry_point:
            if id(node) in methods:
                return None  # `f(x)` does not call a method
            return _docstring(node.body, text), _signature(node.args)
    return _docstring(tree.body, text), None


def _docstring(body: list[ast.stmt], source: str) -> str:
    """The docstring as written in the source (escapes such as `\\n` in a string argument
    stay as the reader sees them), dedented; imports before it are allowed."""
    for statement in body:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            continue
        if not (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str)
        ):
            return ""
        raw = ast.get_source_segment(source, statement.value)
        match = re.match(r"(?i)[rub]*(\"\"\"|'''|\"|')", raw or "")
        if raw is None or match is None or not raw.endswith(match.group(1)):
            return inspect.cleandoc(statement.value.value)
        quote = match.group(1)
        return inspect.cleandoc(raw[match.end() : len(raw) - len(quote)])
    return ""


def _signature(args: ast.arguments) -> _Signature:
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    with_default = positional[len(positional) - len(args.defaults) :] if args.defaults else []
    required = set(positional) - set(with_default)
    required |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None}
    return _Signature(
        tuple(positional),
        tuple(a.arg for a in args.kwonlyargs),
        frozenset(required),
        varargs=args.vararg is not None,
        varkw=args.kwarg is not None,
    )


# ---------------------------------------------------------------- values and calls


def _example(
    call: ast.expr, expected: ast.expr, entry_point: str, form: ExampleForm
) -> Example | None:
    if not (is_value(call, entry_point, True) and calls_entry(call, entry_point)):
        return None
    if not is_value(expected, entry_point, False):
        return None
    return Example(ast.unparse(call), ast.unparse(expected), form)


def _deduplicate(examples: list[Example]) -> list[Example]:
    """First occurrence of each (call, value); a call shown with two different values is
    contradictory and dropped."""
    first: dict[str, str] = {}
    contradicted: set[str] = set()
    for example in examples:
        shown = first.setdefault(example.call, example.expected)
        if example.call not in contradicted and not _same_value(example.expected, shown):
            contradicted.add(example.call)
    kept, seen = [], set()
    for example in examples:
        if example.call not in contradicted and example.call not in seen:
            kept.append(example)
            seen.add(example.call)
    return kept


def _same_value(a: str, b: str) -> bool:
    """Same text, or literals that compare equal (`2` and `2.0`)."""
    if a == b:
        return True
    try:
        return bool(ast.literal_eval(a) == ast.literal_eval(b))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


# ---------------------------------------------------------------- text scanning


# ---------------------------------------------------------------- doctest and assert lines


def _doctest_examples(lines: list[str], entry_point: str) -> Iterator[tuple[int, Example]]:
    """`>>> source` (with `...` continuation lines) followed by the expected output up to a
    blank line or the next prompt, as doctest reads them. An expected output that is empty
    means None (doctest prints nothing for None) when the source is a bare call; `>>> f(x)
    == y` with no output (or `True`) is the example f(x) -> y."""
    index = 0
    while index < len(lines):
        prompt = re.match(r"^(\s*)>>>(?: (.*)|$)", lines[index])
        if prompt is None:
            index += 1
            continue
        start, indent = index, prompt.group(1)
        source = [prompt.group(2) or ""]
        lines[index] = ""
        index += 1
        while index < len(lines) and re.match(rf"^{indent}\.\.\.(?: |$)", lines[index]):
            source.append(lines[index][len(indent) + 4 :])
            lines[index] = ""
            index += 1
        want_start = index
        while (
            index < len(lines)
            and lines[index].strip()
            and lines[index].startswith(indent)
            and not lines[index].lstrip().startswith(">>>")
        ):
            index += 1
        want = "\n".join(line[len(indent) :] for line in lines[want_start:index]).strip()
        example = _doctest_example("\n".join(source), want, entry_point)
        if example is not None:
            lines[want_start:index] = [""] * (index - want_start)  # read: no other form there
            yield start, example


def _doctest_example(source: str, want: str, entry_point: str) -> Example | None:
    node = parse_expression(source)
    if node is None:
        return None
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.Eq)
        and want in ("", "True")
    ):
        return _example(node.left, node.comparators[0], entry_point, ExampleForm.DOCTEST)
    if not want:
        bare_call = isinstance(node, ast.Call) and callee(node.func) == entry_point
        expected: ast.expr | None = ast.Constant(None) if bare_call else None
    else:
        expected = parse_expression(want)
    if expected is None:
        return None
    return _example(node, expected, entry_point, ExampleForm.DOCTEST)


def _assert_examples(lines: list[str], entry_point: str) -> Iterator[tuple[int, Example]]:
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
            example = _example(node.left, node.comparators[0], entry_point, ExampleForm.ASSERT)
        elif isinstance(node, ast.Call) and callee(node.func) in ("isclose", "math.isclose"):
            tolerance = _isclose_tolerance(node)
            if tolerance is not None and len(node.args) == 2:
                example = _example(node.args[0], node.args[1], entry_point, ExampleForm.ASSERT)
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


# ---------------------------------------------------------------- calls written inline

_CONNECTORS: list[tuple[re.Pattern[str], ExampleForm]] = [
    (
        re.compile(r"#\s*(?:==>|=>|-{1,2}>|➞|→|⇒|returns?:?|gives:?|output:?|result:?)\s*", re.I),
        ExampleForm.COMMENT,
    ),
    (re.compile(r"(?:==>|=>|-{1,2}>|➞|→|⇒|⟶)\s*"), ExampleForm.ARROW),
    (re.compile(r"==(?![=>])\s*"), ExampleForm.COMPARISON),
    (re.compile(r"=(?![=>])\s*"), ExampleForm.EQUALS),
    (
        re.compile(
            r"(?:(?:should|would|will|must)\s+(?:return|be|give|output)|returns|gives|outputs"
            r"|evaluates\s+to|is\s+expected\s+to\s+return)\s*:?\s+",
            re.I,
        ),
        ExampleForm.PROSE,
    ),
]
_LEAD_IN_STRIP = re.compile(r"^\s*(?:[*\-•+]\s+|\d{1,2}[.)]\s+)?(?:assert\s+)?")


def _inline_examples(lines: list[str], entry_point: str) -> Iterator[tuple[int, Example]]:
    """`f(x) <connector> y` anywhere in the text, the call possibly spanning lines."""
    text = "\n".join(lines)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    consumed = 0
    for match in re.finditer(rf"(?<![\w.]){re.escape(entry_point)}[ \t]*\(", text):
        if match.start() < consumed:
            continue
        line_index = _line_of(starts, match.start())
        lead_in = text[starts[line_index] : match.start()]
        if not _plain_lead_in(lead_in):
            continue
        end = _closing(text, match.end() - 1)
        if end is None:
            continue
        call = parse_expression(text[match.start() : end])
        if call is None:
            continue
        end_line = _line_of(starts, end)
        rest = text[end : starts[end_line + 1] - 1]
        found = _connector(rest)
        if found is None and end_line + 1 < len(lines) and _connector_only(rest):
            end_line += 1  # wrapped: `f(x) should` / `return y`
            found = _connector(rest + " " + lines[end_line])
        if found is None:
            continue
        form, value_text = found
        value_text, _ = continued(lines, end_line, value_text)
        if form is ExampleForm.EQUALS and not _plain_value_line(value_text):
            continue
        expected = expected_value(value_text, entry_point)
        if expected is None:
            continue
        if _lead_in_is_assert(lead_in) and form is ExampleForm.COMPARISON:
            form = ExampleForm.ASSERT
        example = _example(call, expected, entry_point, form)
        if example is not None:
            consumed = end
            yield line_index, example


def _line_of(starts: list[int], offset: int) -> int:
    low, high = 0, len(starts) - 1
    while low < high - 1:
        middle = (low + high) // 2
        if starts[middle] <= offset:
            low = middle
        else:
            high = middle
    return low


def _plain_lead_in(lead_in: str) -> bool:
    """What precedes a call on its line: nothing, a bullet, `assert`, or prose that does not
    make the call part of an expression or a condition."""
    rest = _LEAD_IN_STRIP.sub("", lead_in, count=1).rstrip()
    if not rest:
        return True
    if rest[-1] in "([{=+-*/%<>!&|^~@\"'`)]}":
        return False
    words = re.findall(r"[A-Za-z]+", rest)
    return not words or words[-1].lower() not in _CONDITION_WORDS


def _lead_in_is_assert(lead_in: str) -> bool:
    return re.match(r"^\s*(?:[*\-•+]\s+)?assert\s", lead_in) is not None


def _closing(text: str, open_index: int) -> int | None:
    """Index just after the `)` that closes the `(` at `open_index`, or None."""
    for width in (400, 4000):  # most calls close within a line
        window = text[open_index : open_index + width]
        for offset, depth in enumerate(bracket_depths(window)):
            if depth == 0 and offset > 0:
                return open_index + offset + 1 if window[offset] == ")" else None
        if len(window) < width:
            break
    return None


def _connector(rest: str) -> tuple[ExampleForm, str] | None:
    stripped = rest.lstrip(" \t")
    for pattern, form in _CONNECTORS:
        match = pattern.match(stripped)
        if match and stripped[match.end() :].strip():
            return form, stripped[match.end() :]
    return None


def _connector_only(rest: str) -> bool:
    """Nothing, or only a connector, after a call at the end of a line (`f(x) should`,
    `f(x) ==`): the example may go on below."""
    return bool(
        re.fullmatch(
            r"\s*:?\s*|\s*(?:(?:should|would|will|must)(?:\s+(?:return|be))?|returns"
            r"|==>|=>|->|➞|→|==)\s*",
            rest,
        )
    )


def _plain_value_line(text: str) -> bool:
    """`f(1) = 3` is an example, `f(n) = n * f(n - 1), if ...` a definition: with the weak
    `=` connector the value must not be followed by a condition."""
    return re.search(r"\b(?:if|when|for all|otherwise)\b", strip_comment(text)) is None


# ---------------------------------------------------------------- named inputs

_INPUT_LABEL = re.compile(
    r"^\s*(?:[*\-]\s*)?(?:example\s*\d*\s*[:.]?\s*)?input\s*\d*\s*[:=]\s*(.*)$", re.I
)
_OUTPUT_LABEL = re.compile(r"(?:^|\s)output\s*\d*\s*[:=]\s*(.*)$", re.I)


def _input_output_examples(
    lines: list[str], entry_point: str, signature: _Signature | None
) -> Iterator[tuple[int, Example]]:
    """`Input: <args>` (on the same line or the next ones) then `Output: <value>`."""
    if signature is None:
        return
    for index, line in enumerate(lines):
        match = _INPUT_LABEL.match(line)
        if match is None:
            continue
        inputs, output, output_line = [], None, index
        first = match.group(1)
        same_line = _OUTPUT_LABEL.search(first)
        if same_line:
            inputs.append(first[: same_line.start()])
            output = same_line.group(1)
        else:
            inputs.append(first)
            for later in range(index + 1, min(index + 12, len(lines))):
                found = _OUTPUT_LABEL.search(lines[later])
                if found and not lines[later][: found.start()].strip():
                    output, output_line = found.group(1), later
                    break
                if _INPUT_LABEL.match(lines[later]) or re.match(
                    r"\s*example\b", lines[later], re.I
                ):
                    break
                inputs.append(lines[later])
        if output is None:
            continue
        call = _named_call(entry_point, signature, [i for i in inputs if i.strip()])
        output, _ = continued(lines, output_line, output)
        expected = expected_value(output, entry_point)
        if call is not None and expected is not None:
            example = _example(call, expected, entry_point, ExampleForm.INPUT_OUTPUT)
            if example is not None:
                yield index, example


_FOR_NAMED = re.compile(
    r"^\s*(?:[*\-]\s*)?for\s+(?P<inputs>.+?)\s*,?\s+the\s+(?:output|result|answer|return\s+value)"
    r"\s+(?:should\s+be|will\s+be|would\s+be|must\s+be|is)\s*:?\s+(?P<expected>.+)$",
    re.I,
)


def _for_named_examples(
    lines: list[str], entry_point: str, signature: _Signature | None
) -> Iterator[tuple[int, Example]]:
    """`For lst = [1, 2] the output should be 3` (prose between inputs and `the output` is
    allowed after a comma: `For N = 150, the sum of digits will be 6 the output should be
    "110"`)."""
    if signature is None:
        return
    for index, line in enumerate(lines):
        match = _FOR_NAMED.match(line)
        if match is None:
            continue
        call = None
        chunks = top_level_split(match.group("inputs"), ",")
        for keep in range(len(chunks), 0, -1):
            parsed = _arguments(",".join(chunks[:keep]))
            if parsed is not None and parsed[1] and not parsed[0]:
                call = _named_call(entry_point, signature, [",".join(chunks[:keep])])
                break
        expected_text, _ = continued(lines, index, match.group("expected"))
        expected = expected_value(expected_text, entry_point)
        if call is not None and expected is not None:
            example = _example(call, expected, entry_point, ExampleForm.FOR_NAMED)
            if example is not None:
                yield index, example


def _arguments(text: str) -> tuple[list[ast.expr], dict[str, ast.expr]] | None:
    """Positional and keyword arguments written as `a, b` or `x = a, y = b`."""
    node = parse_expression(f"_f({text})")
    if not isinstance(node, ast.Call) or any(k.arg is None for k in node.keywords):
        return None
    return list(node.args), {k.arg: k.value for k in node.keywords if k.arg is not None}


def _named_call(entry_point: str, signature: _Signature, inputs: list[str]) -> ast.expr | None:
    """A call of the entry point from input text: `arr = [1], k = 3`, one `name : value` or
    `name = value` per line, or unnamed values (one per parameter)."""
    if len(inputs) > 1:
        pairs = [re.match(r"^\s*(\w+)\s*[:=]\s*(.+?)\s*$", line) for line in inputs]
        if any(p is None for p in pairs):
            return None
        text = ", ".join(f"{p.group(1)}={p.group(2)}" for p in pairs if p is not None)
    else:
        text = inputs[0].strip() if inputs else ""
        pair = re.match(r"^(\w+)\s*:\s*(.+)$", text)
        if pair and not text.startswith(("{", "[", "(")):
            text = f"{pair.group(1)}={pair.group(2)}"
    text = strip_comment(text).strip()
    parsed = _arguments(text)
    if parsed is None:
        return None
    positional, named = parsed
    if positional and named:
        return None
    if positional:
        arity = len(signature.positional)
        required = [n for n in signature.positional if n in signature.required]
        unparenthesised_tuple = len(positional) > 1
        if unparenthesised_tuple and not (len(required) <= len(positional) <= arity):
            return None
        if not unparenthesised_tuple and len(required) > 1:
            return None
        return ast.Call(ast.Name(entry_point, ast.Load()), positional, [])
    return _call_with_names(entry_point, signature, named)


def _call_with_names(
    entry_point: str, signature: _Signature, named: dict[str, ast.expr]
) -> ast.expr | None:
    """Map the written names to parameters: exactly, else by a `_`-separated part
    (`bucket_capacity` -> `capacity`) when that is unique; every required parameter bound."""
    bound: dict[str, ast.expr] = {}
    for name, value in named.items():
        if name in signature.names:
            target = name
        else:
            options = [
                p
                for p in signature.names
                if p not in named
                and (p.lower() == name.lower() or p in name.split("_") or name in p.split("_"))
            ]
            if len(options) != 1:
                return None
            target = options[0]
        if target in bound:
            return None
        bound[target] = value
    if not signature.required <= bound.keys():
        return None
    args: list[ast.expr] = []
    keywords: list[ast.keyword] = []
    for name in signature.names:  # positionally up to the first gap, then by name
        if name not in bound:
            continue
        if not keywords and name in signature.positional[: len(args) + 1]:
            args.append(bound[name])
        else:
            keywords.append(ast.keyword(name, bound[name]))
    return ast.Call(ast.Name(entry_point, ast.Load()), args, keywords)
