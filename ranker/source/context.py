"""The function at a line of a document: where it is, what to ask the model, what an edit
replaces, and what the rest of the document defines. The editor asks it of the user's file;
`toppass-train eval` of a problem's prompt made into a file (`context_for_prompt`), so both
offer candidates for the same function the same way.

Plain functions over source text. Lines and columns are 0-based; columns are Python string
indices (code points), converted to the client's units by the server's edits.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from dataclasses import dataclass

from ranker.source.names import defined_names
from ranker.source.trees import (
    body_start,
    decorated_start,
    docstring_node,
    find_function,
    parse_prompt,
    positional_parameters,
    split_lines,
)

CONTEXT_LINES_BEFORE = 60
CONTEXT_LINES_AFTER = 20
CONTEXT_MAX_CHARS = 4000

_DEF_LINE = re.compile(r"^(\s*)(async\s+)?def\s+([A-Za-z_]\w*)\s*\(")
_DEFINED_LINE = re.compile(r"(?m)^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")


@dataclass(frozen=True)
class FunctionContext:
    """One function in a document.

    start_line..end_line: the whole function, decorators included (end inclusive).
    replace_start: (line, column) where the replaceable body starts: the line after the
        docstring, else the first body statement (with the comments right above it); for a
        one-line `def f(): return 1`, the column after the colon's whitespace.
    body_indent: indentation the body is written with.
    header: decorators, signature and docstring, dedented to column 0, ending in a newline;
        what the candidate completes.
    imports: the module's top-level import statements (the program preamble).
    context: code around the function (not part of the program), for the model.
    in_class: defined directly in a class body (a method: calling it needs an instance).
    is_async: an `async def` (calling it gives a coroutine, not its value).
    document_names: every name the document defines or imports (functions, classes,
        assignments): a docstring example calling one of them shows that function, not this.
    """

    name: str
    qualname: str
    start_line: int
    def_line: int
    end_line: int
    replace_start: tuple[int, int]
    inline_body: bool
    body_indent: str
    has_docstring: bool
    header: str
    text: str
    imports: str
    context: str
    in_class: bool = False
    is_async: bool = False
    document_names: frozenset[str] = frozenset()

    @property
    def prompt(self) -> str:
        """The program prefix a candidate completes: imports, then the dedented header."""
        return (self.imports + "\n\n" if self.imports else "") + self.header

    @property
    def parameters(self) -> tuple[str, ...] | None:
        """The function's positional parameter names, from its header; None where the header
        does not parse."""
        tree = parse_prompt(self.header)
        node = find_function(tree, self.name) if tree is not None else None
        return positional_parameters(node) if node is not None else None

    @property
    def names_outside(self) -> frozenset[str] | None:
        """Names a candidate may use without defining them: what the rest of the document
        defines or imports. None for a nested function, which may also use its enclosing
        function's locals (not known here)."""
        return None if "<locals>" in self.qualname else self.document_names


def _functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function with its qualified name, outer before inner."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = prefix + child.name
                found.append((qual, child))
                visit(child, qual + ".<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _imports(tree: ast.Module, lines: list[str]) -> str:
    chunks = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            chunks.append("\n".join(lines[node.lineno - 1 : node.end_lineno]))
    return "\n".join(chunks)


def _dedent(text_lines: list[str], width: int) -> list[str]:
    """Remove `width` columns of leading whitespace where present (string continuation lines
    with less indentation are left alone)."""
    out = []
    for line in text_lines:
        prefix = line[:width]
        out.append(line[width:] if not prefix.strip() else line.lstrip())
    return out


def _surrounding(lines: list[str], start: int, end: int) -> str:
    before = lines[max(0, start - CONTEXT_LINES_BEFORE) : start]
    after = lines[end + 1 : end + 1 + CONTEXT_LINES_AFTER]
    text = "\n".join(before)
    if len(text) > CONTEXT_MAX_CHARS:
        text = text[-CONTEXT_MAX_CHARS:].split("\n", 1)[-1]
    tail = "\n".join(after)
    if len(tail) > CONTEXT_MAX_CHARS // 4:
        tail = tail[: CONTEXT_MAX_CHARS // 4].rsplit("\n", 1)[0]
    parts = [text.strip("\n")]
    if tail.strip():
        parts.append("# ... (the function to complete is here) ...")
        parts.append(tail.strip("\n"))
    return "\n".join(p for p in parts if p)


def _build(
    lines: list[str],
    qualname: str,
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    imports: str,
    context_lines: list[str],
    end_line: int | None = None,
    in_class: bool = False,
    document_names: frozenset[str] = frozenset(),
) -> FunctionContext:
    start = decorated_start(node) - 1
    def_line = node.lineno - 1
    end = (node.end_lineno or node.lineno) - 1 if end_line is None else end_line
    indent = lines[def_line][: len(lines[def_line]) - len(lines[def_line].lstrip())]
    replace_line, column, inline = body_start(lines, node)
    if inline:
        body_indent = indent + "    "
        header_lines = [*lines[start:replace_line], lines[replace_line][:column].rstrip()]
    else:
        first = lines[node.body[0].lineno - 1]
        body_indent = first[: len(first) - len(first.lstrip())]
        header_lines = lines[start:replace_line]
    header = "\n".join(_dedent(header_lines, len(indent))).rstrip("\n") + "\n"
    return FunctionContext(
        name=node.name,
        qualname=qualname,
        start_line=start,
        def_line=def_line,
        end_line=end,
        replace_start=(replace_line, column),
        inline_body=inline,
        body_indent=body_indent,
        has_docstring=docstring_node(node) is not None,
        header=header,
        text="\n".join(context_lines[start : end + 1]) + "\n",
        imports=imports,
        context=_surrounding(context_lines, start, end),
        in_class=in_class,
        is_async=isinstance(node, ast.AsyncFunctionDef),
        document_names=document_names,
    )


def _innermost(
    tree: ast.AST, line: int
) -> tuple[str, ast.FunctionDef | ast.AsyncFunctionDef] | None:
    best = None
    for qualname, node in _functions(tree):
        if decorated_start(node) - 1 <= line <= (node.end_lineno or node.lineno) - 1:
            best = (qualname, node)  # later = deeper (outer functions come first)
    return best


def function_at(source: str, line: int) -> FunctionContext | None:
    """The innermost function whose lines (decorators included) contain `line`, or None.

    A module that does not parse (the user is typing elsewhere) falls back to the block
    around `line` found by indentation, parsed on its own.
    """
    lines = split_lines(source)
    if not 0 <= line < len(lines):
        return None
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return _find_by_indentation(lines, line)
    found = _innermost(tree, line)
    if found is None:
        return None
    qualname, node = found
    in_class = "." in qualname and qualname.rsplit(".", 2)[-2] != "<locals>"
    return _build(
        lines,
        qualname,
        node,
        _imports(tree, lines),
        lines,
        in_class=in_class,
        document_names=defined_names(tree),
    )


def function_named(source: str, qualname: str) -> FunctionContext | None:
    """The function of qualified name `qualname` (the first, where several are), wherever it
    is now in `source`; None where there is none or the module does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for name, node in _functions(tree):
        if name == qualname:
            return function_at(source, node.lineno - 1)
    return None


def _find_by_indentation(lines: list[str], line: int) -> FunctionContext | None:
    """Fallback for unparsable modules: the nearest `def` at or above `line` whose indented
    block covers it, parsed alone with every other line blanked (so positions stay those of
    the document). A `def` with no body yet gets a body inserted after its last line."""
    for def_line in range(line, -1, -1):
        match = _DEF_LINE.match(lines[def_line])
        if not match:
            continue
        indent = len(match.group(1))
        end = def_line
        for j in range(def_line + 1, len(lines)):
            if lines[j].strip() and len(lines[j]) - len(lines[j].lstrip()) <= indent:
                break
            if lines[j].strip():
                end = j
        if end < line and def_line != line:
            continue
        start = def_line
        while start > 0 and lines[start - 1].strip().startswith("@"):
            start -= 1
        if indent and start == 0:
            return None
        block = [""] * len(lines)
        block[start : end + 1] = lines[start : end + 1]
        if indent:
            block[start - 1] = "if True:"  # lets an indented block parse where it stands
        for extra in ([], [" " * (indent + 4) + "pass"]):
            try:
                tree = ast.parse("\n".join(block[: end + 1] + extra) + "\n")
            except (SyntaxError, ValueError):
                continue
            found = _innermost(tree, def_line)
            if found is None:
                return None
            in_class = _enclosed_by_class(lines, start, indent)
            ctx = _build(
                block[: end + 1] + extra,
                found[1].name,
                found[1],
                "",
                lines,
                end,
                in_class,
                _names_by_line(lines),
            )
            if extra:  # no body yet: write one after the header
                return dataclasses.replace(
                    ctx, replace_start=(end + 1, 0), inline_body=False, has_docstring=False
                )
            return ctx
        return None
    return None


def _names_by_line(lines: list[str]) -> frozenset[str]:
    """What an unparsable document defines, as far as its `def`, `class` and import lines
    tell (each parsed alone)."""
    names: set[str] = set(_DEFINED_LINE.findall("\n".join(lines)))
    for line in lines:
        if line.lstrip().startswith(("import ", "from ")):
            try:
                names |= defined_names(ast.parse(line.strip()))
            except (SyntaxError, ValueError):
                continue
    return frozenset(names)


def _enclosed_by_class(lines: list[str], start: int, indent: int) -> bool:
    """Whether the nearest statement above `start` indented less than `indent` is a `class`
    (for the unparsable-module fallback, which has no syntax tree to ask)."""
    for line in reversed(lines[:start]):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "@")):
            continue
        if len(line) - len(line.lstrip()) < indent:
            return stripped.startswith("class ")
    return False


def context_for_prompt(prompt: str, entry_point: str) -> FunctionContext | None:
    """A benchmark problem as the user's file: its prompt (imports, helpers, the function's
    signature and docstring) with a stub body, and the context of its function `entry_point`
    there; None when the prompt has no such function."""
    document = prompt.rstrip() + "\n    raise NotImplementedError\n"
    tree = parse_prompt(document)
    node = find_function(tree, entry_point) if tree is not None else None
    return function_at(document, node.lineno - 1) if node is not None else None
