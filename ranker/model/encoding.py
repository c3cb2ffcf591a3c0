"""How a (problem, candidate) pair becomes model input.

The default backbone's tokenizer is uncased and treats all whitespace alike, so
`if x:\\n    return 1\\nreturn 2` and `if x: return 1 return 2` look the same to it. The
`structured` template therefore writes Python's layout as marker words taken from the
`tokenize` module: NEWLINE as `¶`, INDENT as `→`, DEDENT as `←` (each a single token in the
MiniLM vocabulary and rare in real code). Text that does not tokenize as Python (prose, a
truncated program) gets the same markers from its leading whitespace, line by line.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Sequence
from typing import Any

from ranker.model.config import RankerConfig
from ranker.source import docstring_node

NEWLINE = "¶"
INDENT = "→"
DEDENT = "←"


def structured_text(source: str) -> str:
    """`source` with layout written as marker words, tokens separated by single spaces."""
    try:
        return _structured_from_tokens(source)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return _structured_from_lines(source)


def _structured_from_tokens(source: str) -> str:
    words: list[str] = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NEWLINE:
            words.append(NEWLINE)
        elif tok.type == tokenize.INDENT:
            words.append(INDENT)
        elif tok.type == tokenize.DEDENT:
            words.append(DEDENT)
        elif tok.type in (tokenize.NL, tokenize.ENDMARKER, tokenize.ENCODING):
            continue
        else:
            words.append(tok.string)
    return " ".join(words)


def _structured_from_lines(source: str) -> str:
    words: list[str] = []
    indents = [0]
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        width = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        if width > indents[-1]:
            indents.append(width)
            words.append(INDENT)
        while width < indents[-1]:
            indents.pop()
            words.append(DEDENT)
        words.append(stripped)
        words.append(NEWLINE)
    return " ".join(words)


def canonical_code(source: str) -> str:
    """The program as the AST sees it: `ast.unparse` without comments, docstrings or the
    original formatting, so style (verbosity, comment density, quoting) carries no signal;
    code that does not parse is returned unchanged."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return source
    for node in ast.walk(tree):
        if isinstance(
            node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ) and docstring_node(node):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def render(text: str, config: RankerConfig, side: str = "candidate") -> str:
    """One side ("problem" or "candidate") of the pair as the configured template writes it."""
    if config.input_template == "structured":
        return structured_text(text)
    if config.input_template == "canonical" and side == "candidate":
        return canonical_code(text)
    return text


def encode_pairs(
    tokenizer: Any,
    problems: Sequence[str],
    candidates: Sequence[str],
    config: RankerConfig,
) -> dict[str, Any]:
    """Tokenize pairs into padded tensors (`input_ids[B, T]`, `attention_mask[B, T]`, ...).

    Pairs over `config.max_length` tokens lose tokens from the end of the longer side first,
    so a long problem statement cannot push the candidate out of the window.
    """
    if len(problems) != len(candidates):
        raise ValueError(f"{len(problems)} problems for {len(candidates)} candidates")
    encoded = tokenizer(
        [render(p, config, "problem") for p in problems],
        [render(c, config, "candidate") for c in candidates],
        truncation="longest_first",
        max_length=config.max_length,
        padding=True,
        return_tensors="pt",
    )
    return dict(encoded)
