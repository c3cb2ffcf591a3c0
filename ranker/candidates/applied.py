"""The body as applied: what an edit puts into the user's function from a candidate program.
The editor applies it, the ranker judges it (examples run on it, static defects are its), and
`toppass-train eval` measures the same, so the order eval reports is the one the editor shows.

The part replaced is the body after the docstring (signature and docstring stay the user's);
a function without a docstring gets its whole body replaced. What the model wrote outside its
function and the body needs (an import, a helper function, a constant) and the user's file
does not define comes with the body, at its top; a body written for other parameter names
reads the user's, where renaming cannot change its meaning. Plain functions over text.
"""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from collections.abc import Collection, Sequence
from typing import NamedTuple

from ranker.source import (
    body_start,
    bound_names,
    comment_start,
    decorated_start,
    find_function,
    read_names,
    split_lines,
)


class CandidateBody(NamedTuple):
    """A candidate's new body for the user's function, at column 0, ending in a newline.

    text: what the edit applies: the candidate function's own body, with the definitions
        carried from around it at its top (after its docstring, where it brings one).
    own: the candidate function's own body alone (what the title previews).
    carried: the names those carried definitions bind, in the program's order.
    """

    text: str
    own: str
    carried: tuple[str, ...] = ()


def candidate_body(
    program: str,
    name: str,
    keep_user_docstring: bool,
    defined: Collection[str] | None = None,
    parameters: Sequence[str] | None = None,
) -> CandidateBody | None:
    """The new body for function `name` from a candidate program; None when the program has
    no such function or only a docstring.

    keep_user_docstring: the user's function has a docstring that stays, so the candidate's
        docstring (if any) is left out.
    defined: the names the user's file defines or imports. Given, the top-level imports,
        functions, classes and assignments of the program that the function needs and the file
        lacks are carried into the body (`carried_definitions`); None carries nothing.
    parameters: the user's positional parameter names. Where the candidate's function takes
        as many under other names, the body reads the user's names instead
        (`renamed_parameters`), where that is certain to mean the same.
    """
    return _candidate_body(
        program,
        name,
        keep_user_docstring,
        frozenset(defined) if defined is not None else None,
        tuple(parameters) if parameters is not None else None,
    )


@functools.lru_cache(maxsize=4096)  # answers as they arrive, then all of them again
def _candidate_body(
    program: str,
    name: str,
    keep_user_docstring: bool,
    defined: frozenset[str] | None,
    parameters: tuple[str, ...] | None,
) -> CandidateBody | None:
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return None
    node = find_function(tree, name)
    if node is None:
        return None
    lines = split_lines(program)
    docstring_lines = 0
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
            if ast.get_docstring(node, clean=False) is not None and len(node.body) > 1:
                docstring_lines = (first.end_lineno or first.lineno) - line
    end = (node.end_lineno or node.lineno) - 1
    if inline:
        body_lines = [lines[line][column:].strip(), *_dedent_block(lines[line + 1 : end + 1])]
    else:
        body_lines = _dedent_block(lines[line : end + 1])
    while body_lines and not body_lines[-1].strip():
        body_lines.pop()
    if not any(x.strip() and not x.strip().startswith("#") for x in body_lines):
        return None
    if parameters is not None:
        body_lines = _rename(body_lines, renamed_parameters(node, parameters))
    own = "\n".join(body_lines) + "\n"
    if defined is None:
        return CandidateBody(own, own)
    statements, carried = carried_definitions(tree, node, defined)
    if not statements:
        return CandidateBody(own, own)
    block: list[str] = []
    for statement in statements:
        if block and block[-1] and isinstance(statement, DEFINITIONS):
            block.append("")
        block.extend(_statement_lines(lines, statement))
    while block and not block[-1]:
        block.pop()
    text_lines = [*body_lines[:docstring_lines], *block, "", *body_lines[docstring_lines:]]
    return CandidateBody("\n".join(text_lines) + "\n", own, carried)


DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def renamed_parameters(
    function: ast.FunctionDef | ast.AsyncFunctionDef, parameters: Sequence[str]
) -> dict[str, str]:
    """{candidate's name: user's name} for the positional parameters the candidate's
    `function` names otherwise, when it takes as many; empty where renaming could change
    what the body means: a user's name the function uses otherwise than as one of these
    parameters (bound or read), a parameter name passed as a keyword argument, or one read
    inside an f-string."""
    own = [argument.arg for argument in [*function.args.posonlyargs, *function.args.args]]
    if len(own) != len(parameters):
        return {}
    renames = {old: new for old, new in zip(own, parameters, strict=True) if old != new}
    if not renames:
        return {}
    # renamed all at once, so parameters may trade names (a swap); another use is a capture
    used = (bound_names(function) | read_names(function)) - renames.keys()
    if any(new in used for new in renames.values()):
        return {}
    for node in ast.walk(function):
        if isinstance(node, ast.keyword) and node.arg in renames:
            return {}
        if isinstance(node, ast.JoinedStr) and read_names(node) & renames.keys():
            return {}  # an f-string tokenizes as one string before Python 3.12
    return renames


def _rename(lines: list[str], renames: dict[str, str]) -> list[str]:
    """`lines` with every name token in `renames` replaced (attributes after a `.` kept);
    unchanged where they do not tokenize."""
    if not renames:
        return lines
    edited = list(lines)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline))
    except (tokenize.TokenError, SyntaxError):
        return lines
    previous = None
    replacements: list[tuple[int, int, int, str]] = []
    for token in tokens:
        if token.type == tokenize.NAME and token.string in renames:
            after_dot = (
                previous is not None and previous.type == tokenize.OP and previous.string == "."
            )
            if not after_dot:
                row, column = token.start
                replacements.append((row - 1, column, token.end[1], renames[token.string]))
        if token.type not in (tokenize.NL, tokenize.COMMENT):
            previous = token
    for row, start, end, new in sorted(replacements, reverse=True):
        edited[row] = edited[row][:start] + new + edited[row][end:]
    return edited


def carried_definitions(
    tree: ast.Module,
    function: ast.FunctionDef | ast.AsyncFunctionDef,
    defined: Collection[str],
) -> tuple[list[ast.stmt], tuple[str, ...]]:
    """The top-level statements of a candidate program that `function` needs, directly or
    through each other, and that bind names not `defined` (by the user's file), in the
    program's order, with the names they bind: imports, functions, classes and assignments
    (`if __name__ == "__main__":` blocks, tests and prints are not definitions). A star import
    is never carried: it is only allowed at module level, and what it binds is unknown."""
    providers: dict[str, list[int]] = {}
    for index, statement in enumerate(tree.body):
        if not _carriable(statement) or any(inner is function for inner in ast.walk(statement)):
            continue
        for bound in _top_level_bindings(statement):
            providers.setdefault(bound, []).append(index)
    needed = read_names(ast.Module(body=function.body, type_ignores=[])) - bound_names(function)
    wanted: set[int] = set()
    pending = sorted(needed)
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen or name in defined:
            continue
        seen.add(name)
        for index in providers.get(name, ()):
            if index not in wanted:
                wanted.add(index)
                statement = tree.body[index]
                pending.extend(_needs(statement))
    statements = [tree.body[index] for index in sorted(wanted)]
    names = [
        bound
        for statement in statements
        for bound in _top_level_bindings(statement)
        if bound in seen
    ]
    return statements, tuple(dict.fromkeys(names))


def _carriable(statement: ast.stmt) -> bool:
    """A definition: an import, a function, a class or an assignment."""
    if isinstance(statement, (ast.Import, ast.ImportFrom, *DEFINITIONS)):
        return True
    return isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None


def _top_level_bindings(statement: ast.stmt) -> list[str]:
    """The module-level names a definition binds."""
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [statement.name]
    if isinstance(statement, ast.Import | ast.ImportFrom):
        return [(alias.asname or alias.name).split(".")[0] for alias in statement.names]
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, ast.AnnAssign):
        targets = [statement.target]
    else:
        return []
    return [
        node.id
        for target in targets
        for node in ast.walk(target)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
    ]


def _needs(statement: ast.stmt) -> set[str]:
    """The names a top-level definition reads from elsewhere: a function or class binds its
    own parameters and locals; an assignment's targets are module-level, defined elsewhere."""
    if isinstance(statement, DEFINITIONS):
        return read_names(statement) - bound_names(statement)
    return read_names(statement)


def _statement_lines(lines: list[str], statement: ast.stmt) -> list[str]:
    """A top-level statement's source lines, decorators included, then a blank line after a
    function or class."""
    first = decorated_start(statement) - 1
    block = lines[first : statement.end_lineno or statement.lineno]
    if isinstance(statement, DEFINITIONS):
        block.append("")
    return block


def _dedent_block(block: list[str]) -> list[str]:
    """Dedent by the indentation of the first non-blank line; lines indented less (string
    continuations) are kept as they are."""
    first = next((x for x in block if x.strip()), "")
    width = len(first) - len(first.lstrip())
    return [x[width:] if not x[:width].strip() else x.lstrip() for x in block]
