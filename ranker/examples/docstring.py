"""Reading the examples out of a function's docstring: every written form, in the order
written, duplicates and contradictions removed, and examples written under the function's
old name (a function renamed after its docstring was written).

The forms, one module each: `doctest`, `asserts`, `inline` (arrows, `==`, `=`, prose and
comments after a call), `named` (`Input: ... Output: ...` blocks and `For x = 1 the output
should be y`); `function` finds the docstring and signature they read.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterable
from dataclasses import replace
from keyword import kwlist as _KEYWORDS

from ranker.examples.asserts import assert_examples
from ranker.examples.doctest import doctest_examples
from ranker.examples.example import Example
from ranker.examples.function import Signature, function_docstring, parse_source
from ranker.examples.inline import inline_examples
from ranker.examples.named import for_named_examples, input_output_examples
from ranker.source import defined_names


def extract_examples(
    prompt_or_function_source: str, entry_point: str, known_names: Iterable[str] = ()
) -> list[Example]:
    """The examples in `entry_point`'s docstring (or, with no such function, the module
    docstring) in the order written, duplicates removed.

    A docstring that shows no example of `entry_point` may show them under the function's
    old name (`_renamed_examples`); `known_names` are names defined outside the source given
    (the rest of the document), which are other functions and never taken for an old name."""
    parsed = parse_source(prompt_or_function_source)
    if parsed is None:
        return []
    found = function_docstring(*parsed, entry_point)
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


def _examples_of(docstring: str, name: str, signature: Signature | None) -> list[Example]:
    """The examples in `docstring` that call `name`."""
    lines = docstring.splitlines()
    examples: list[tuple[int, Example]] = []
    examples += doctest_examples(lines, name)  # blanks the lines it reads
    examples += assert_examples(lines, name)  # idem
    examples += input_output_examples(lines, name, signature)
    examples += for_named_examples(lines, name, signature)
    examples += inline_examples(lines, name)
    examples.sort(key=lambda item: item[0])
    return _deduplicate([example for _, example in examples])


# ---------------------------------------------------------------- a renamed function


def _renamed_examples(
    docstring: str, entry_point: str, signature: Signature, defined: set[str]
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


def _fits(call: str, name: str, signature: Signature) -> bool:
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


# ---------------------------------------------------------------- values and calls


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
