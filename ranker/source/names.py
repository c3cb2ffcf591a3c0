"""The names a syntax tree defines, binds and reads (static defects, the body as applied and
the docstring reader all ask these)."""

from __future__ import annotations

import ast


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
