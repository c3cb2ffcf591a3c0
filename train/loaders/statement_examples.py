"""The example inputs and outputs a competitive-programming statement shows (APPS `question`).

APPS keeps no public tests apart from its hidden ones: a problem's examples exist only in its
statement text, laid out as on the site it was scraped from:

- Codeforces: an `-----Examples-----` (or `-----Example-----`) section of `Input` and `Output`
  lines, each followed by its block, several pairs in a row. CodeChef writes `Input:` /
  `Output:` there, Kattis `Sample Input 1:` / `Sample Output 1:`.
- AtCoder and CodeChef: separate `-----Sample Input-----` / `-----Sample Output-----` sections
  (numbered, `-----Sample Input 1-----`; with a colon, `-----Sample Input:-----`; or `Example
  Input`), the explanation often following the output after a blank line.

LeetCode-style `Example 1:` / `Input: nums = [1, 2]` / `Output: 3` belongs to APPS's call-based
problems, whose examples are argument lists rather than stdin, and is not read here.

Nothing is guessed. A statement without such a section, or whose example inputs and outputs do
not alternate one for one (or one of them is empty), gives no examples and says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from train.problems import IOTest

NO_SECTION = "no example section"
UNPAIRED = "inputs and outputs do not pair up"

# `-----Examples-----`, `----- Sample Input 1 -----`, `=====Sample Output=====`: a title with
# at least one letter, so that a row of dashes inside an example stays data
_HEADER = re.compile(r"^\s*(?:-{3,}|={3,})\s*([^-=\s][^\n]*?)\s*(?:-{3,}|={3,})\s*$")
_SAMPLE = r"(?:sample|example)s?(?:\s+test)?(?:\s+cases?)?"
# a header naming one example's input or output: `Sample Input 2`, `Example Output`
_IO_TITLE = re.compile(rf"^{_SAMPLE}\s+(input|output|ouput)s?(?:\s*(\d+))?$")
# a header opening a run of examples: `Examples`, `Example`, `Sample Test Case 1`
_BLOCK_TITLE = re.compile(rf"^{_SAMPLE}(?:\s*\d+)?$")
# inside such a run, the line that opens an input or output block: `Input`, `Output:`,
# `Sample Input 1:`; nothing after it on the line (`Input: nums = [...]` is LeetCode's)
_MARKER = re.compile(
    r"^\s*(?:(?:sample|example)\s+)?(input|output|ouput)(?:\s*(\d+))?\s*:?\s*$", re.I
)
# where an output's explanation starts without a header of its own
_EXPLANATION = re.compile(r"^\s*\(?\s*(?:explanation|note)s?\b", re.I)
_WORD = re.compile(r"[(\"'`]?[A-Za-z][A-Za-z'-]*[.,:;!?)\"'`]*")


@dataclass(frozen=True)
class StatementExamples:
    """The examples found, in statement order, or none and why (`NO_SECTION`, `UNPAIRED`)."""

    tests: tuple[IOTest, ...] = ()
    missing: str | None = None


@dataclass
class _Block:
    kind: str  # "input" or "output"
    number: str | None
    lines: list[str]


def statement_examples(text: str) -> StatementExamples:
    """The example input/output pairs of a statement: each input ends in a newline, each
    output is what the statement shows (without an explanation that follows it)."""
    blocks = _blocks(text)
    if not blocks:
        return StatementExamples(missing=NO_SECTION)
    if len(blocks) % 2:
        return StatementExamples(missing=UNPAIRED)
    tests = []
    for given, expected in zip(blocks[::2], blocks[1::2], strict=True):
        if given.kind != "input" or expected.kind != "output":
            return StatementExamples(missing=UNPAIRED)
        if given.number and expected.number and given.number != expected.number:
            return StatementExamples(missing=UNPAIRED)
        stdin, stdout = _input_text(given.lines), _output_text(expected.lines)
        if not stdin or not stdout:
            return StatementExamples(missing=UNPAIRED)
        tests.append(IOTest(stdin, stdout))
    return StatementExamples(tuple(tests))


def _blocks(text: str) -> list[_Block]:
    """Every example input and output block, in order, with its lines."""
    blocks: list[_Block] = []
    current: _Block | None = None
    in_run = False  # inside an `Examples` section, where marker lines open blocks
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        header = _HEADER.match(line)
        if header:
            title = " ".join(header.group(1).replace(":", " ").lower().split())
            io_title, in_run, current = _IO_TITLE.match(title), False, None
            if io_title:
                current = _Block(_kind(io_title.group(1)), io_title.group(2), [])
                blocks.append(current)
            else:
                in_run = bool(_BLOCK_TITLE.match(title))
            continue
        marker = _MARKER.match(line) if in_run else None
        if marker:
            current = _Block(_kind(marker.group(1).lower()), marker.group(2), [])
            blocks.append(current)
        elif current is not None:
            current.lines.append(line)
    return blocks


def _kind(word: str) -> str:
    return "input" if word == "input" else "output"  # `ouput` is a common typo


def _trimmed(lines: list[str]) -> list[str]:
    lines = [line.rstrip() for line in lines]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _input_text(lines: list[str]) -> str:
    kept = _trimmed(lines)
    return "\n".join(kept) + "\n" if kept else ""


def _output_text(lines: list[str]) -> str:
    """The output up to its explanation: a line starting `Explanation` or `Note`, or a later
    paragraph that reads as prose (AtCoder's explanations follow the output after a blank
    line). Blank-line-separated answers (`5`, blank, `1`) stay."""
    kept: list[str] = []
    for line in _trimmed(lines):
        if _EXPLANATION.match(line):
            break
        kept.append(line)
    paragraphs: list[list[str]] = [[]]
    for line in _trimmed(kept):
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    answer = paragraphs[:1]
    for paragraph in paragraphs[1:]:
        if any(_reads_as_prose(line) for line in paragraph):
            break
        answer.append(paragraph)
    text = "\n\n".join("\n".join(p) for p in answer if p)
    return text + "\n" if text else ""


def _reads_as_prose(line: str) -> bool:
    """A sentence, not an answer: four or more tokens, three of them words."""
    tokens = line.split()
    return len(tokens) >= 4 and sum(1 for t in tokens if _WORD.fullmatch(t)) >= 3
