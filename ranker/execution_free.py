"""Ranking when nothing may run: the head's text score, combined with two things every
sampled pool carries whatever model wrote it.

- Static defects: a program that does not parse, does not define the function the prompt
  asks for, defines it with another number of parameters, whose body does nothing (only
  `pass`, `...`, a docstring or `raise NotImplementedError`), whose function uses a name that
  nothing defines (a helper it never wrote, a module it never imported), or that never returns
  a value where the prompt says the function returns one cannot pass. Such programs go last,
  whatever their text scores.
- Sample multiplicity: an answer sampled `count` times is `count` candidates that happen to be
  equal. Random order takes it `count` times as often, and agreement between independent
  samples is evidence of correctness (self-consistency). Its log is added to the score.

The text score is z-scored within the problem first, so one standard deviation of the head's
opinion weighs as much as a factor e in sample count, whatever the head's scale. Text rankers
trained on one model's candidates learn that model's habits (length, above all); measured on
pools from other models they fall below random order, and the count keeps them above it (model
card: "Execution-free").

Where execution signals exist they decide, and defects, counts and (where computed) the
reviewer likelihood only break their ties (`served_scores`). Where the programs ran only on
inputs without expected results (a function with no examples, on inputs built from its
parameter types), nothing was judged and the head never saw such features: the score stays
the execution-free one, with the sample count widened to the *behaviour* count, the answers
whose programs returned the same on every input (self-consistency over behaviour, as CodeT's
agreement without tests). `Ranker.rank` and `toppass-train eval` both go through
`served_with_signals`, so the evaluated order is the served one.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import math
import re
from collections.abc import Collection, Sequence
from typing import NamedTuple

from ranker.candidates import parse_prompt
from ranker.execution import ExecutionSignals
from ranker.features import Signals, zscores

DEFECT_PENALTY = 1000.0  # below any count or z-score: defective programs always rank last


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
    """The signature the prompt asks for: of `entry_point` when given, else of the prompt's
    last top-level `def`. None when no name is known."""
    tree = parse_prompt(prompt)
    defs = [
        node
        for node in (tree.body if tree is not None else [])
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    if entry_point is None:
        if not defs:
            return None
        entry_point = defs[-1].name
    for node in reversed(defs):
        if node.name == entry_point:
            annotated = node.returns is not None and not _is_none(node.returns)
            docstring = ast.get_docstring(node) or ""
            return EntrySignature(
                entry_point, _positional(node), annotated or bool(_SAYS_RETURNS.search(docstring))
            )
    return EntrySignature(entry_point, None, bool(_SAYS_RETURNS.search(prompt)))


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _positional(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    return len(node.args.posonlyargs) + len(node.args.args)


def static_defect(
    program: str,
    signature: EntrySignature | None,
    defined: Collection[str] | None = frozenset(),
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
        return "empty body" if _does_nothing(tree.body) else None
    name, arity, returns_value = signature
    found = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
    ]
    if not found:
        return f"no function {name}()"
    function = found[-1]
    takes = _positional(function)
    if arity is not None and takes != arity and function.args.vararg is None:
        return f"{name}() takes {takes} parameters, the prompt's {arity}"
    if _does_nothing(function.body):
        return "empty body"
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


_TYPE_PARAMETERS = frozenset({"TypeVar", "ParamSpec", "TypeVarTuple"})


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


def _returns_value(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """`function` (or a function nested in it) has a `return` of something other than None,
    or is a generator."""
    return any(
        (isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value))
        or isinstance(node, ast.Yield | ast.YieldFrom)
        for node in ast.walk(function)
    )


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


def execution_free_scores(
    scores: Sequence[float],
    counts: Sequence[float],
    defects: Sequence[str | None],
    reviewer: Sequence[float] | None = None,
) -> list[float]:
    """z(score) + log(count), less `DEFECT_PENALTY` for a program with a static defect. Where
    the `reviewer` log-probabilities are known (`ranker.likelihood`: how well each program
    predicts the docstring), z(reviewer) takes the place of z(score): the text a head learned
    on one pool does not carry to other models' programs, the reviewer does better (model
    card: "Execution-free")."""
    if not len(scores) == len(counts) == len(defects):
        raise ValueError(f"{len(scores)} scores, {len(counts)} counts, {len(defects)} defects")
    if reviewer is not None and len(reviewer) != len(scores):
        raise ValueError(f"{len(reviewer)} reviewer scores for {len(scores)} programs")
    first = zscores(reviewer if reviewer is not None else scores)
    return [
        z + math.log(max(count, 1)) - (DEFECT_PENALTY if defect else 0.0)
        for z, count, defect in zip(first, counts, defects, strict=True)
    ]


TIE_BREAK = 1e-6
"""Scale of the tie-break added to execution-based scores: far below any real difference
between them, so it only orders programs whose scores are equal."""


def served_scores(
    head: Sequence[float],
    counts: Sequence[int],
    defects: Sequence[str | None],
    executed: bool,
    reviewer: Sequence[float] | None = None,
) -> list[float]:
    """The scores a ranker serves from its `head` scores. Without execution (`executed`
    False) the execution-free scores. With it, `head` itself, ties broken by defects, sample
    counts and, where known, the reviewer log-probability (`ranker.likelihood`: how well the
    program predicts the prompt's docstring), z-scored: programs that pass the same examples
    and behave alike on every probe get equal features, and the head cannot tell them apart.
    The text does not break those ties: measured across models it chose worse than the
    counts (the default ranker's card)."""
    if not executed:
        return execution_free_scores(head, counts, defects, reviewer)
    tie = execution_free_scores([0.0] * len(head), counts, defects, reviewer)
    ascending = sorted(tie)
    n = max(len(tie), 1)
    # each program's place in the tie-break order (equal values, equal places)
    return [
        score + TIE_BREAK * bisect.bisect_left(ascending, value) / n
        for score, value in zip(head, tie, strict=True)
    ]


def served_with_signals(
    head: Sequence[float],
    counts: Sequence[int],
    defects: Sequence[str | None],
    signals: Signals | None,
) -> list[float]:
    """`served_scores` for a problem's `signals` (executed when they hold judged execution
    results; the reviewer from their likelihood scores, when given): what `Ranker.rank`
    serves and `toppass-train eval` measures. Execution that judged nothing (agreement
    only) gives the execution-free scores over `behaviour_counts`."""
    execution = signals.execution if signals is not None else None
    likelihood = signals.likelihood if signals is not None else None
    reviewer = [value for _, value in likelihood] if likelihood is not None else None
    if execution is not None and not execution.judged:
        return execution_free_scores(head, behaviour_counts(execution, counts), defects, reviewer)
    return served_scores(head, counts, defects, executed=execution is not None, reviewer=reviewer)


def behaviour_counts(execution: ExecutionSignals, counts: Sequence[int]) -> list[float]:
    """Each program's number of sampled answers that behaved as it did on every probe: its
    cluster's share of all `counts`."""
    if len(execution.cluster_shares) != len(counts):
        raise ValueError(f"execution signals for {len(execution.runs)} programs, not {len(counts)}")
    total = sum(counts)
    return [share * total for share in execution.cluster_shares]
