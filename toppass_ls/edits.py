"""Turning a ranked candidate program into an edit of the user's function body, and its title.

The part replaced is the body after the docstring (signature and docstring stay the user's);
a function without a docstring gets its whole body replaced. Plain functions over text.
"""

from __future__ import annotations

import ast
from collections.abc import Callable

from lsprotocol import types

from toppass_ls.context import FunctionContext, body_start, comment_start, split_lines

PREVIEW_CHARS = 60


def utf16_units(text: str) -> int:
    """Length of `text` in UTF-16 code units (the LSP default position encoding)."""
    return len(text.encode("utf-16-le")) // 2


def _find(tree: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The definition of `name` that Python would keep: the last at top level (a program
    that repeats the prompt's stub before its own definition, or redefines the function);
    else the last anywhere (e.g. the model wrote the whole class)."""
    for nodes in (tree.body, list(ast.walk(tree))):
        found = [
            node
            for node in nodes
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        ]
        if found:
            return found[-1]
    return None


def candidate_body(program: str, name: str, keep_user_docstring: bool) -> str | None:
    """The new body for function `name` from a candidate program, at column 0, ending in a
    newline; None when the program has no such function or only a docstring.

    keep_user_docstring: the user's function has a docstring that stays, so the candidate's
    docstring (if any) is left out.
    """
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    node = _find(tree, name)
    if node is None:
        return None
    lines = split_lines(program)
    if keep_user_docstring:
        line, column, inline = body_start(lines, node)
        if line > (node.end_lineno or node.lineno) - 1:
            return None  # docstring only
    else:
        first = node.body[0]
        line = first.lineno - 1
        column = len(lines[line].encode()[: first.col_offset].decode(errors="ignore"))
        inline = bool(lines[line][:column].strip())
        if not inline:
            line, column = comment_start(lines, line, node.lineno - 1), 0
    end = (node.end_lineno or node.lineno) - 1
    if inline:
        body_lines = [lines[line][column:].strip(), *_dedent_block(lines[line + 1 : end + 1])]
    else:
        body_lines = _dedent_block(lines[line : end + 1])
    while body_lines and not body_lines[-1].strip():
        body_lines.pop()
    if not any(x.strip() and not x.strip().startswith("#") for x in body_lines):
        return None
    return "\n".join(body_lines) + "\n"


def _dedent_block(block: list[str]) -> list[str]:
    """Dedent by the indentation of the first non-blank line; lines indented less (string
    continuations) are kept as they are."""
    first = next((x for x in block if x.strip()), "")
    width = len(first) - len(first.lstrip())
    return [x[width:] if not x[:width].strip() else x.lstrip() for x in block]


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


def body_range(
    ctx: FunctionContext, lines: list[str], units: Callable[[str], int] = utf16_units
) -> types.Range:
    """The range `body_edit` replaces (for inline completion items)."""
    return body_edit(ctx, "pass\n", lines, units).range


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


def action_title(
    rank: int,
    score: float,
    count: int,
    body: str,
    examples: str | None = None,
    defect: str | None = None,
) -> str:
    """e.g. `toppass #1 (0.93): return sorted(set(xs))`; `(0.93, x3)` for three merged
    duplicates; `(0.93, x3, 2/3 examples)` when the candidates ran on the docstring's
    examples; `(0.00, name 'cube' is not defined)` for a static defect."""
    details = [f"{score:.2f}"]
    if count > 1:
        details.append(f"x{count}")
    if examples is not None:
        details.append(examples)
    if defect is not None:
        details.append(defect)
    return f"toppass #{rank} ({', '.join(details)}): {preview(body)}"


def generate_title(name: str) -> str:
    return f"toppass: generate ranked candidates for `{name}()`"
