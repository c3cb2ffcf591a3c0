"""Candidate preparation: raw LLM output -> a whole Python program, the same way for training
and for the editor, so the ranker scores at serving time exactly what it saw in training.

Steps: `extract_code` (markdown fences, prose, chat stop tokens) -> `to_program` (join a
body to its prompt, or keep a whole program and give it the prompt's imports) -> parse check
-> `dedupe` (programs equal up to formatting and comments are one candidate, with a count).
Nothing is dropped silently: every candidate that does not make a program says why.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ranker.source import decorated_start, defines, find_function, parse_prompt

_FENCE = re.compile(r"^\s*(```|~~~)")
_STOP_MARKERS = (
    "<|endoftext|>",
    "<|im_end|>",
    "<|eot_id|>",
    "<|end|>",
    "</s>",
    "<|EOT|>",
    "<step>",
)
_LINE_NUMBER = re.compile(r"^\s*\d+\. ?")
_LANGUAGE_TAG = re.compile(r"^\s*python\b:?[ \t]*", re.I)
_CODE_START = re.compile(
    r"^(def |async def |class |import |from |@|#|if __name__|[A-Za-z_][A-Za-z_0-9]*\s*=|"
    r"for |while |with |try:|return |print\()"
)


@dataclass(frozen=True)
class PreparedCandidate:
    """One raw candidate after preparation. `program` is None when it was dropped, and then
    `dropped` says why (e.g. `syntax error: line 3: invalid syntax`)."""

    index: int
    raw: str
    program: str | None
    dropped: str | None = None

    @property
    def ok(self) -> bool:
        return self.program is not None


@dataclass(frozen=True)
class CandidateGroup:
    """Programs that are the same up to formatting and comments; `indices` are the raw
    candidates' positions, first occurrence first (its text is `program`)."""

    program: str
    indices: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.indices)


@dataclass
class Preparation:
    """All candidates of one problem: the distinct programs and what was dropped."""

    groups: list[CandidateGroup] = field(default_factory=list)
    dropped: list[PreparedCandidate] = field(default_factory=list)

    @property
    def programs(self) -> list[str]:
        return [g.program for g in self.groups]


def strip_stop_markers(text: str) -> str:
    """Cut chat-template end markers and everything after the first one."""
    for marker in _STOP_MARKERS:
        cut = text.find(marker)
        if cut != -1:
            text = text[:cut]
    return text


@functools.lru_cache(maxsize=256)
def _parses(code: str) -> bool:
    """Whether `code` parses (remembered: an answer's segments are tried several times)."""
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return False
    return True


def _fenced_segments(text: str) -> list[str]:
    """Split on fence lines; an unclosed or stray fence just ends a segment."""
    segments: list[list[str]] = [[]]
    for line in text.splitlines():
        if _FENCE.match(line):
            segments.append([])
        else:
            segments[-1].append(line)
    return ["\n".join(s) for s in segments if any(x.strip() for x in s)]


def _strip_line_numbers(text: str) -> str:
    """`1. def f(x):` / `2.     return x`: an answer numbered line by line (most non-blank
    lines start with consecutive numbers) loses the numbers and keeps its indentation."""
    lines = text.splitlines()
    numbered = [line for line in lines if _LINE_NUMBER.match(line)]
    if len(numbered) < 2 or len(numbered) < 0.6 * sum(bool(x.strip()) for x in lines):
        return text
    numbers = [int(line.split(".", 1)[0]) for line in numbered]
    if numbers[:2] != [numbers[0], numbers[0] + 1]:
        return text
    return "\n".join(_LINE_NUMBER.sub("", line, count=1) for line in lines)


def _is_code_start(lines: list[str], i: int) -> bool:
    """A code-looking line at column 0, or an indented one right under a line of prose
    (never a line inside a block of code)."""
    line = lines[i]
    if not _CODE_START.match(line.lstrip()):
        return False
    if line == line.lstrip():
        return True
    previous = next((x for x in reversed(lines[:i]) if x.strip()), "")
    return previous == previous.lstrip() and not _CODE_START.match(previous)


@functools.lru_cache(maxsize=256)
def _trim_prose(code: str) -> str:
    """Largest run of lines that parses: drop prose before the first code-looking line and
    after the last line that keeps the program valid. Code indented under a line of prose
    (no fences) is dedented; a leading `python` language tag is dropped."""
    if _parses(code):
        return code
    lines = code.splitlines()
    if lines and _LANGUAGE_TAG.match(lines[0]):
        lines[0] = _LANGUAGE_TAG.sub("", lines[0], count=1)
        if _parses("\n".join(lines)):
            return "\n".join(lines)
    starts = [0] + [i for i in range(1, len(lines)) if _is_code_start(lines, i)]
    for start in starts[:8]:
        indented = lines[start] != lines[start].lstrip()
        for end in range(len(lines), start, -1):
            chunk = "\n".join(lines[start:end])
            if indented:
                chunk = textwrap.dedent(chunk)
            if chunk.strip() and _parses(chunk) and _looks_like_code(chunk):
                return chunk
    return code


def _looks_like_code(chunk: str) -> bool:
    # A lone English word parses as an expression; demand a statement a program would have.
    tree = ast.parse(chunk)
    return any(not isinstance(node, ast.Expr) for node in tree.body) or len(tree.body) > 1


def extract_code(text: str, entry_point: str | None = None) -> str:
    """The code in one raw LLM answer: stop markers cut, the best fenced block chosen (one
    defining `entry_point` and parsing beats one that only parses beats the longest), prose
    lines around it dropped. Returns "" when nothing code-like is left."""
    text = _strip_line_numbers(strip_stop_markers(text).replace("\r\n", "\n"))
    segments = _fenced_segments(text) if any(_FENCE.match(x) for x in text.splitlines()) else [text]
    if not segments:
        return ""

    def preference(segment: str) -> tuple[bool, bool, bool, int]:
        trimmed = _trim_prose(segment)
        return (
            defines(trimmed, entry_point),
            _parses(trimmed),
            defines(trimmed, None),
            len(segment),
        )

    best = max(segments, key=preference)
    return _trim_prose(best).strip("\n")


def _prompt_preamble(prompt: str, entry_point: str) -> str:
    """What a prompt has before its function `entry_point`: imports and helper functions."""
    tree = parse_prompt(prompt)
    node = find_function(tree, entry_point) if tree is not None else None
    if node is None:
        return ""
    return "".join(prompt.splitlines(True)[: decorated_start(node) - 1])


def to_program(code: str, prompt: str | None = None, entry_point: str | None = None) -> str:
    """A whole program from extracted code.

    With a prompt: code that defines `entry_point` is a whole program and gets the prompt's
    preamble (imports, helpers) in front unless it already starts with it; anything else is a
    body and is appended to the prompt, indented one level when written at column 0.
    """
    if prompt is None:
        return code
    if entry_point is not None and defines(code, entry_point):
        preamble = _prompt_preamble(prompt, entry_point).strip("\n")
        if preamble and not code.lstrip().startswith(preamble.lstrip()):
            return preamble + "\n\n" + code
        return code
    body = code.strip("\n")
    lines = [line for line in body.splitlines() if line.strip()]
    if lines and not lines[0].startswith((" ", "\t")):
        body = textwrap.indent(body, "    ")
    return prompt.rstrip(" ") + ("" if prompt.endswith("\n") else "\n") + body + "\n"


KEPT = 4096
"""Answers (and programs) whose preparation is remembered: the server prepares answers as they
arrive and all of them again at the end."""


def prepare_candidate(
    raw: str, index: int = 0, prompt: str | None = None, entry_point: str | None = None
) -> PreparedCandidate:
    """Extract, join and parse-check one raw candidate."""
    program, dropped = _prepared(raw, prompt, entry_point)
    return PreparedCandidate(index, raw, program, dropped)


@functools.lru_cache(maxsize=KEPT)
def _prepared(
    raw: str, prompt: str | None, entry_point: str | None
) -> tuple[str | None, str | None]:
    code = extract_code(raw, entry_point)
    if not code.strip():
        return None, "empty: no code in the answer"
    program = to_program(code, prompt, entry_point)
    try:
        ast.parse(program)
    except SyntaxError as exc:
        return None, f"syntax error: line {exc.lineno}: {exc.msg}"
    except ValueError as exc:
        return None, f"syntax error: {exc}"
    return program, None


@functools.lru_cache(maxsize=KEPT)
def dedupe_key(program: str) -> str:
    """Programs with equal keys behave identically: same AST, so formatting and comments
    are ignored (docstrings are not)."""
    try:
        return ast.unparse(ast.parse(program))
    except (SyntaxError, ValueError):
        return program


def dedupe(candidates: Iterable[PreparedCandidate]) -> list[CandidateGroup]:
    """Group kept candidates by `dedupe_key`, in order of first occurrence."""
    groups: dict[str, tuple[str, list[int]]] = {}
    for cand in candidates:
        if cand.program is None:
            continue
        key = dedupe_key(cand.program)
        if key in groups:
            groups[key][1].append(cand.index)
        else:
            groups[key] = (cand.program, [cand.index])
    return [CandidateGroup(program, tuple(indices)) for program, indices in groups.values()]


def prepare_candidates(
    raws: Sequence[str], prompt: str | None = None, entry_point: str | None = None
) -> Preparation:
    """Prepare every raw answer for one problem: distinct programs plus the dropped ones."""
    prepared = [prepare_candidate(raw, i, prompt, entry_point) for i, raw in enumerate(raws)]
    return Preparation(groups=dedupe(prepared), dropped=[c for c in prepared if c.program is None])


def program_sha(program: str) -> str:
    """Identity of a prepared program (hex SHA-256 of its text): how label caches, feature
    files and execution caches refer to it."""
    return hashlib.sha256(program.encode("utf-8", "surrogateescape")).hexdigest()
