"""A ranked candidate as the editor shows and applies it: the LSP text edit that replaces the
user's function body with the body as applied (`ranker.candidates.applied`), in the client's
position units, and the code action's title. Plain functions over text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lsprotocol import types

from ranker.offer import RankedCandidate
from ranker.source import (
    FunctionContext,
)

PREVIEW_CHARS = 60


def utf16_units(text: str) -> int:
    """Length of `text` in UTF-16 code units (the LSP default position encoding)."""
    return len(text.encode("utf-16-le")) // 2


def indent_body(body: str, indent: str) -> str:
    return "".join(indent + line if line.strip() else line for line in body.splitlines(True))


def body_edit(
    ctx: FunctionContext,
    body: str,
    lines: list[str],
    units: Callable[[str], int] = utf16_units,
) -> types.TextEdit:
    """Replace the body of `ctx` in a document of `lines` with `body` (column-0 text).

    `units` measures a string in the client's position encoding.
    """
    new_text = indent_body(body, ctx.body_indent).rstrip("\n")
    line, column = ctx.replace_start
    end = types.Position(ctx.end_line, units(lines[ctx.end_line]) if lines else 0)
    if ctx.inline_body:
        head = lines[line][:column].rstrip()
        start = types.Position(line, units(head))
        new_text = "\n" + new_text
    elif line > ctx.end_line:  # nothing to replace (docstring only, or no body yet): append
        start = end
        new_text = "\n" + new_text
    else:
        start = types.Position(line, 0)
    return types.TextEdit(range=types.Range(start=start, end=end), new_text=new_text)


def workspace_edit(
    uri: str, version: int | None, edit: types.TextEdit, document_changes: bool
) -> types.WorkspaceEdit:
    """A WorkspaceEdit with one text edit: versioned `documentChanges` when the client supports
    them (it then refuses the edit if the document changed), else `changes`."""
    if document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=[edit],
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: [edit]})


def preview(body: str) -> str:
    """First line of code in `body` (comments skipped), `…` when more follows, cut to fit."""
    code = [x.strip() for x in body.splitlines() if x.strip() and not x.strip().startswith("#")]
    if not code:
        return ""
    text = code[0]
    more = len(code) > 1
    if len(text) > PREVIEW_CHARS:
        text, more = text[: PREVIEW_CHARS - 1].rstrip(), True
    return text + (" …" if more else "")


CARRIED_SHOWN = 2  # carried names a title lists before `…`


def action_title(
    rank: int,
    score: float,
    count: int,
    body: str,
    examples: str | None = None,
    defect: str | None = None,
    carried: Sequence[str] = (),
) -> str:
    """e.g. `toppass #1 (0.93): return sorted(set(xs))`; `(0.93, x3)` for three merged
    duplicates; `(0.93, x3, 2/3 examples)` when the candidates ran on the docstring's
    examples; `(0.00, name 'cube' is not defined)` for a static defect; `(0.93, +is_prime,
    math)` when the edit brings definitions the model wrote outside the function (`body` is
    then the function's own body, which the title previews)."""
    details = [f"{score:.2f}"]
    if count > 1:
        details.append(f"x{count}")
    if examples is not None:
        details.append(examples)
    if defect is not None:
        details.append(defect)
    if carried:
        shown = ", ".join(carried[:CARRIED_SHOWN])
        details.append("+" + shown + (", …" if len(carried) > CARRIED_SHOWN else ""))
    return f"toppass #{rank} ({', '.join(details)}): {preview(body)}"


def generate_title(name: str) -> str:
    return f"toppass: generate ranked candidates for `{name}()`"


def candidate_title(candidate: RankedCandidate) -> str:
    """The code action's title for a ranked candidate (`action_title`)."""
    return action_title(
        candidate.rank,
        candidate.score,
        candidate.count,
        candidate.body if candidate.own_body is None else candidate.own_body,
        candidate.examples,
        candidate.defect,
        candidate.carried,
    )


def candidate_json(candidate: RankedCandidate) -> dict[str, Any]:
    """A ranked candidate as `suggest --json` and the server's messages give it."""
    return {
        "rank": candidate.rank,
        "score": round(candidate.score, 4),
        "count": candidate.count,
        "examples": candidate.examples,
        "defect": candidate.defect,
        "carried": list(candidate.carried),
        "title": candidate_title(candidate),
        "body": candidate.body,
    }
