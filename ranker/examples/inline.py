"""Examples written inline: a call followed by a connector and the value (`f(x) -> y`, `=>`,
`==`, `=`, `f(x) should return y`, `f(x)  # => y`), anywhere in the text, the call possibly
spanning lines. A call inside a condition or an expression in prose is not an example."""

from __future__ import annotations

import re
from collections.abc import Iterator

from ranker.examples.example import Example, ExampleForm, example_of
from ranker.examples.values import (
    bracket_depths,
    continued,
    expected_value,
    parse_expression,
    strip_comment,
)

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


def inline_examples(lines: list[str], entry_point: str) -> Iterator[tuple[int, Example]]:
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
        example = example_of(call, expected, entry_point, form)
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
