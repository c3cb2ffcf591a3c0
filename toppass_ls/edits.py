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


def line_break(source: str) -> str:
    """The line break a document uses (its first: CRLF, CR or LF), for the text an edit puts
    into it."""
    for index, char in enumerate(source):
        if char == "\r":
            return "\r\n" if source[index + 1 : index + 2] == "\n" else "\r"
        if char == "\n":
            return "\n"
    return "\n"


def body_edit(
    ctx: FunctionContext,
    body: str,
    lines: list[str],
    units: Callable[[str], int] = utf16_units,
    newline: str = "\n",
) -> types.TextEdit:
    """Replace the body of `ctx` in a document of `lines` with `body` (column-0 text).

    `units` measures a string in the client's position encoding; `newline` is the document's
    line break (`line_break`), which the new text keeps.
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
    new_text = new_text.replace("\n", newline)
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


def _code_lines(body: str) -> list[str]:
    return [x.strip() for x in body.splitlines() if x.strip() and not x.strip().startswith("#")]


def preview(body: str, line: int = 0) -> str:
    """A line of code in `body` (comments skipped; the first by default), `…` around it
    where more comes before or after, cut to fit."""
    code = _code_lines(body)
    if not code:
        return ""
    line = min(line, len(code) - 1)
    text = code[line]
    more = len(code) > line + 1
    if len(text) > PREVIEW_CHARS:
        text, more = text[: PREVIEW_CHARS - 1].rstrip(), True
    return ("… " if line else "") + text + (" …" if more else "")


def distinct_previews(bodies: Sequence[str]) -> list[str]:
    """A preview per body that tells it apart from the others: the first line of code, or,
    where another body starts the same way, the first line where it differs from every body
    that starts as it does (`… if not strings: …` is no use five times over)."""
    lines = [_code_lines(body) for body in bodies]
    previews = []
    for i, mine in enumerate(lines):
        alike = [other for j, other in enumerate(lines) if j != i and other[:1] == mine[:1]]
        if not mine or not alike:
            previews.append(preview(bodies[i]))
            continue
        apart = [
            k for k in range(1, len(mine)) if all(other[k : k + 1] != [mine[k]] for other in alike)
        ]
        some = [
            k for k in range(1, len(mine)) if any(other[k : k + 1] != [mine[k]] for other in alike)
        ]
        at = apart[0] if apart else (some[0] if some else 0)
        previews.append(preview(bodies[i], at))
    return previews


CARRIED_SHOWN = 2  # carried names a title lists before `…`


def action_title(
    rank: int,
    score: float,
    count: int,
    body: str,
    examples: str | None = None,
    defect: str | None = None,
    carried: Sequence[str] = (),
    shown: str | None = None,
    behaves_as: int | None = None,
    probability: float | None = None,
) -> str:
    """e.g. `toppass #1 (0.93): return sorted(set(xs))`; `(0.93, x3)` for three merged
    duplicates; `(2/3 examples, 0.93, x3)` when the candidates ran on the docstring's
    examples (they decide the order, so they come first); `(0.00, name 'cube' is not
    defined)` for a static defect; `(0.93, +is_prime, math)` when the edit brings definitions
    the model wrote outside the function (`body` is then the function's own body, which the
    title previews); `(3/3 examples, 0.80, as #1)` for a candidate that behaved as #1 on every
    input run, which is why one of another behaviour may come before it with a lower score.
    `shown`: the preview to show instead of `body`'s first line. With the ranker's calibrated
    `probability` that the candidate is correct, `p=0.83` takes the raw score's place."""
    details = [] if examples is None else [examples]
    details.append(f"{score:.2f}" if probability is None else f"p={probability:.2f}")
    if count > 1:
        details.append(f"x{count}")
    if behaves_as is not None:
        details.append(f"as #{behaves_as}")
    if defect is not None:
        details.append(defect)
    if carried:
        names = ", ".join(carried[:CARRIED_SHOWN])
        details.append("+" + names + (", …" if len(carried) > CARRIED_SHOWN else ""))
    return (
        f"toppass #{rank} ({', '.join(details)}): {shown if shown is not None else preview(body)}"
    )


def generate_title(name: str) -> str:
    return f"toppass: generate ranked candidates for `{name}()`"


def candidate_titles(candidates: Sequence[RankedCandidate]) -> list[str]:
    """The code actions' titles for a ranked list (`action_title`): previews that tell the
    candidates apart, and each candidate that behaved as an earlier one says which."""
    own = [c.body if c.own_body is None else c.own_body for c in candidates]
    shown = distinct_previews(own)
    first_of: dict[int, int] = {}
    titles = []
    for candidate, preview_text, body in zip(candidates, shown, own, strict=True):
        behaves_as = None
        if candidate.behaviour is not None:
            behaves_as = first_of.setdefault(candidate.behaviour, candidate.rank)
            behaves_as = None if behaves_as == candidate.rank else behaves_as
        titles.append(
            action_title(
                candidate.rank,
                candidate.score,
                candidate.count,
                body,
                candidate.examples,
                candidate.defect,
                candidate.carried,
                preview_text,
                behaves_as,
                candidate.probability,
            )
        )
    return titles


def candidate_json(candidate: RankedCandidate, title: str) -> dict[str, Any]:
    """A ranked candidate (with its title in the list, `candidate_titles`) as `suggest --json`
    and the server's answers give it."""
    return {
        "rank": candidate.rank,
        "score": round(candidate.score, 4),
        "probability": round(candidate.probability, 4)
        if candidate.probability is not None
        else None,
        "count": candidate.count,
        "examples": candidate.examples,
        "defect": candidate.defect,
        "carried": list(candidate.carried),
        "title": title,
        "body": candidate.body,
    }
