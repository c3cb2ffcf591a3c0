"""Examples that name their inputs: `Input: arr = [1, 2], k = 3 / Output: 5` blocks (one
`name : value` per line, or unnamed values) and `For x = 3 the output should be 5`. The names
become a call with the function's parameters in signature order."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator

from ranker.examples.example import Example, ExampleForm, example_of
from ranker.examples.function import Signature
from ranker.examples.values import (
    continued,
    expected_value,
    parse_expression,
    strip_comment,
    top_level_split,
)

_INPUT_LABEL = re.compile(
    r"^\s*(?:[*\-]\s*)?(?:example\s*\d*\s*[:.]?\s*)?input\s*\d*\s*[:=]\s*(.*)$", re.I
)


_OUTPUT_LABEL = re.compile(r"(?:^|\s)output\s*\d*\s*[:=]\s*(.*)$", re.I)


def input_output_examples(
    lines: list[str], entry_point: str, signature: Signature | None
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
            example = example_of(call, expected, entry_point, ExampleForm.INPUT_OUTPUT)
            if example is not None:
                yield index, example


_FOR_NAMED = re.compile(
    r"^\s*(?:[*\-]\s*)?for\s+(?P<inputs>.+?)\s*,?\s+the\s+(?:output|result|answer|return\s+value)"
    r"\s+(?:should\s+be|will\s+be|would\s+be|must\s+be|is)\s*:?\s+(?P<expected>.+)$",
    re.I,
)


def for_named_examples(
    lines: list[str], entry_point: str, signature: Signature | None
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
            example = example_of(call, expected, entry_point, ExampleForm.FOR_NAMED)
            if example is not None:
                yield index, example


def _arguments(text: str) -> tuple[list[ast.expr], dict[str, ast.expr]] | None:
    """Positional and keyword arguments written as `a, b` or `x = a, y = b`."""
    node = parse_expression(f"_f({text})")
    if not isinstance(node, ast.Call) or any(k.arg is None for k in node.keywords):
        return None
    return list(node.args), {k.arg: k.value for k in node.keywords if k.arg is not None}


def _named_call(entry_point: str, signature: Signature, inputs: list[str]) -> ast.expr | None:
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
    entry_point: str, signature: Signature, named: dict[str, ast.expr]
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
