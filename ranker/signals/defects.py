"""Static defects: why a candidate program cannot pass, seen without running it.

A program that does not parse, does not define the function the prompt asks for, defines it
with another number of parameters, whose body does nothing (only `pass`, `...`, a docstring or
`raise NotImplementedError`), whose function uses a name that nothing defines (a helper it
never wrote, a module it never imported), or that never returns a value where the prompt says
the function returns one cannot pass. The serving order (`ranker.order`) puts such programs
last, whatever their scores.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
from collections.abc import Collection, Sequence
from typing import NamedTuple

from ranker.signals.types import EMPTY_BODY
from ranker.source import (
    bound_names,
    find_function,
    parse_prompt,
    positional_parameters,
    read_names,
)


class EntrySignature(NamedTuple):
    """What the prompt asks of the function it names."""

    name: str
    arity: int | None
    """Positional parameters; None when the prompt has no `def` of that name (e.g. an MBPP
    description)."""
    returns_value: bool = False
    """The prompt says the function returns something: a return annotation other than None,
    or "return" in its docstring (in the whole prompt when it has no `def`)."""


_SAYS_RETURNS = re.compile(r"\breturn(s|ed|ing)?\b", re.IGNORECASE)


def entry_signature(prompt: str, entry_point: str | None = None) -> EntrySignature | None:
    """The signature the prompt asks for: of `entry_point` (`find_function`) when given, else
    of the prompt's last top-level `def`. None when no name is known."""
    tree = parse_prompt(prompt)
    if entry_point is None:
        defs = [
            node
            for node in (tree.body if tree is not None else [])
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        if not defs:
            return None
        entry_point = defs[-1].name
    node = find_function(tree, entry_point) if tree is not None else None
    if node is None:
        return EntrySignature(entry_point, None, bool(_SAYS_RETURNS.search(prompt)))
    annotated = node.returns is not None and not _is_none(node.returns)
    docstring = ast.get_docstring(node) or ""
    return EntrySignature(
        entry_point,
        len(positional_parameters(node)),
        annotated or bool(_SAYS_RETURNS.search(docstring)),
    )


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def static_defect(
    program: str,
    signature: EntrySignature | None,
    defined: Collection[str] | None = frozenset(),
) -> str | None:
    """Why `program` cannot pass, found without running it, or None (see `_static_defect`)."""
    return _static_defect(program, signature, frozenset(defined) if defined is not None else None)


@functools.lru_cache(maxsize=4096)  # answers as they arrive, then all of them again
def _static_defect(
    program: str,
    signature: EntrySignature | None,
    defined: frozenset[str] | None,
) -> str | None:
    """Why `program` cannot pass, found without running it, or None. `defined`: names the
    program may use without defining them (the rest of the user's file, where the program is
    one function of it); None to skip the check for names nothing defines (a nested function,
    whose enclosing function's names are not in the program)."""
    try:
        tree = ast.parse(program)
    except (SyntaxError, ValueError):
        return "does not parse"
    if signature is None:
        return EMPTY_BODY if _does_nothing(tree.body) else None
    name, arity, returns_value = signature
    function = find_function(tree, name)
    if function is None:
        return f"no function {name}()"
    takes = len(positional_parameters(function))
    if arity is not None and takes != arity and function.args.vararg is None:
        return f"{name}() takes {takes} parameters, the prompt's {arity}"
    if _does_nothing(function.body):
        return EMPTY_BODY
    if defined is not None:
        undefined = _undefined_names(tree, function, defined)
        if undefined:
            return f"name '{undefined[0]}' is not defined"
    if returns_value and not _returns_value(function):
        return f"{name}() returns nothing"
    return None


_ALWAYS_DEFINED = frozenset(dir(builtins)) | {
    "__builtins__",
    "__class__",
    "__doc__",
    "__file__",
    "__loader__",
    "__name__",
    "__package__",
    "__spec__",
}


def _undefined_names(
    tree: ast.Module, function: ast.FunctionDef | ast.AsyncFunctionDef, defined: Collection[str]
) -> list[str]:
    """Names `function` reads that nothing binds: not a builtin, not `defined`, and bound
    nowhere in the program, in any scope (so a name another scope binds counts as defined:
    only certain misses are reported). A star import makes every name possibly defined."""
    if _has_star_import(tree):
        return []
    return sorted(read_names(function) - bound_names(tree) - _ALWAYS_DEFINED - set(defined))


def _has_star_import(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
        for node in ast.walk(tree)
    )


def _returns_value(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`function` itself has a `return` of something other than None, or is a generator. A
    `return` inside a function, lambda or class nested in it returns from that one, not from
    `function`: a body that only defines helpers returns nothing."""
    pending: list[ast.AST] = list(function.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
            return True
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue  # its returns are its own
        pending.extend(ast.iter_child_nodes(node))
    return False


def _does_nothing(body: Sequence[ast.stmt]) -> bool:
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring or `...`
        if isinstance(statement, ast.Raise) and _names_not_implemented(statement.exc):
            continue
        return False
    return True


def _names_not_implemented(exc: ast.expr | None) -> bool:
    target = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"


def static_defects(
    prompt: str,
    programs: Sequence[str],
    entry_point: str | None = None,
    defined: Collection[str] | None = frozenset(),
) -> list[str | None]:
    """`static_defect` of each program, against the signature the prompt asks for."""
    signature = entry_signature(prompt, entry_point)
    return [static_defect(program, signature, defined) for program in programs]
