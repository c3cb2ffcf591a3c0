"""One analysis of Python source, shared by the server, candidate preparation and training:
parse a prompt (a function being written), find a function in a syntax tree, and the names a
tree defines, binds and reads. Standard library only; nothing here runs code.
"""

from __future__ import annotations

import ast
import functools
import re

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


@functools.lru_cache(maxsize=256)
def parse_prompt(prompt: str) -> ast.Module | None:
    """A prompt's syntax tree. A prompt ends inside the function it asks for (at its
    signature or docstring), so where it does not parse as written it is given a body; None
    when neither parses. Cached: one request asks it of the same prompt from several places
    (examples, defects, typed inputs, parameters), so the tree is shared and must not be
    changed."""
    for text in (prompt, prompt.rstrip() + "\n    pass\n"):
        try:
            return ast.parse(text)
        except (SyntaxError, ValueError):
            continue
    return None


def find_function(tree: ast.AST, name: str) -> FunctionNode | None:
    """The definition of function `name` that Python keeps: the last one at the top level of
    `tree` (a program that repeats the prompt's stub before its own definition, or redefines
    the function); else the last one anywhere (the model wrote the whole class, or nested
    it). The one rule everything here uses to find "the function"."""
    body = getattr(tree, "body", [])
    for nodes in (body, ast.walk(tree)):
        found = [node for node in nodes if isinstance(node, FunctionNode) and node.name == name]
        if found:
            return found[-1]
    return None


_ANY_DEF = re.compile(r"^\s*(async\s+)?def\s+\w+", re.M)


def defines(code: str, name: str | None) -> bool:
    """Whether `code` defines function `name` (any function, for None): by `find_function`
    where it parses; else by its text, a `def name(` line (code being trimmed out of prose)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        if name is None:
            return bool(_ANY_DEF.search(code))
        return bool(re.search(rf"^\s*(async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M))
    if name is None:
        return any(isinstance(node, FunctionNode) for node in ast.walk(tree))
    return find_function(tree, name) is not None


def decorated_start(node: ast.stmt) -> int:
    """The first line (1-based) of a statement, a definition's decorators included."""
    return min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])


def positional_parameters(node: FunctionNode) -> tuple[str, ...]:
    """A function's positional parameters in order (positional-only, then ordinary)."""
    return tuple(argument.arg for argument in [*node.args.posonlyargs, *node.args.args])


def docstring_node(
    node: ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
) -> ast.Expr | None:
    """The statement holding the docstring of a module, class or function, if it has one."""
    first = node.body[0] if node.body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


def defined_names(tree: ast.AST) -> frozenset[str]:
    """Every name `tree`'s statements define or import: functions, classes, assigned names,
    aliases. Only statements are visited, not the expressions in them (the server asks this of
    the whole document on every request: a full `ast.walk` costs a large share of the parse)."""
    names: set[str] = set()
    statements: list[ast.AST] = [tree]
    while statements:
        node = statements.pop()
        targets: list[ast.AST] = []
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.AsyncFor)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars]
        names.update(
            name.id
            for target in targets
            for name in ast.walk(target)
            if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store)
        )
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                statements.extend(block)
    return frozenset(names)


_TYPE_PARAMETERS = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple"})


def bound_names(tree: ast.AST) -> set[str]:
    """Every name `tree` binds, in any scope inside it: assignment targets, definitions,
    imports, parameters, exception and match captures, `global`/`nonlocal` declarations and
    (Python 3.12+) type parameters."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, ast.Global | ast.Nonlocal):
            bound.update(node.names)
        elif type(node).__name__ in _TYPE_PARAMETERS:  # `def f[T](x: T)`, Python 3.12+
            bound.add(getattr(node, "name", ""))
    return bound


def read_names(tree: ast.AST) -> set[str]:
    """The names `tree` reads, annotations skipped (lazily evaluated under `from __future__
    import annotations`)."""
    annotations: set[int] = set()
    for node in ast.walk(tree):
        annotation = _annotation_of(node)
        if annotation is not None:
            annotations.update(id(inner) for inner in ast.walk(annotation))
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and id(node) not in annotations
    }


def _annotation_of(node: ast.AST) -> ast.expr | None:
    if isinstance(node, ast.arg | ast.AnnAssign):
        return node.annotation
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.returns
    return None
