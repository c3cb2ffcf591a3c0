"""HumanEval+ and MBPP+ (EvalPlus) in their published schema: `task_id`, `prompt`,
`entry_point`, `canonical_solution`, `base_input`, `plus_input`, `atol`.

EvalPlus judges a candidate by comparing its output with the canonical solution's on every
input. The generated test code does exactly that inside the sandbox: it loads the canonical
solution into a separate namespace and, for each input, compares outputs the way EvalPlus's
evaluator does (exact equality, float tolerance `atol` with rtol 1e-7, set equality for the
tasks EvalPlus lists, the `find_zero` root oracle). MBPP+ stores tuples and complex numbers as
JSON lists and strings; the per-task conversions below restore them (the same rules as
EvalPlus's `mbpp_deserialize_inputs`). Two MBPP+ special oracles that need EvalPlus's own
reference functions (`surface_Area`, `find_Max_Num`) are not reproduced: those tasks use the
ordinary comparison. These suites are large; give them a longer `--timeout` than HumanEval.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from train.jsonl import DataError
from train.loaders.humaneval import visible_asserts
from train.loaders.mbpp import humaneval_style_prompt, signature_lines
from train.problems import Problem

HUB_IDS = {"humaneval-plus": "evalplus/humanevalplus", "mbpp-plus": "evalplus/mbppplus"}
HUB_FILES = ["data/*.parquet", "*.jsonl", "*.jsonl.gz"]

_TUPLE_ARGS = {2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596}
_TUPLE_ARGS |= {616, 630, 726, 740, 744, 809}
_NESTED_TUPLES = {63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780}
_FIRST_ARG_TUPLES = {75, 413, 444, 753}
_FIRST_ARG_TUPLE = {250, 405, 446, 617, 720, 763, 808}
_NESTED_THEN_TUPLE = {259, 401, 445}
_ALL_TUPLES = {580, 615, 791}
_SET_EQUAL_OUTPUT = {
    "similar_elements",
    "find_char_long",
    "common_in_nested_lists",
    "extract_singly",
    "larg_nnum",
    "intersection_array",
    "find_dissimilar",
    "Diff",
}
_BOOL_OR_NOT_NONE_OUTPUT = {"check_str", "text_match_three", "text_starta_endb"}


def _mbpp_input_fix(number: int) -> str:
    """Python expression over `inputs` (a list of argument lists) restoring MBPP+ types."""
    if number in _TUPLE_ARGS:
        return "[[tuple(a) for a in inp] for inp in inputs]"
    if number in _NESTED_TUPLES:
        return "[[[tuple(x) for x in a] for a in inp] for inp in inputs]"
    if number in _FIRST_ARG_TUPLES:
        return "[[[tuple(x) for x in inp[0]]] + [inp[1]] for inp in inputs]"
    if number in (106, 750):
        return "[[inp[0], tuple(inp[1])] for inp in inputs]"
    if number == 115:
        return "[[[set(x) if isinstance(x, list) and x else {} for x in inp[0]]] for inp in inputs]"
    if number == 124:
        return "[[float(inp[0]), complex(inp[1])] for inp in inputs]"
    if number in _FIRST_ARG_TUPLE:
        return "[[tuple(inp[0])] + inp[1:2] for inp in inputs]"
    if number in _NESTED_THEN_TUPLE:
        return "[[tuple(tuple(x) for x in a) for a in inp] for inp in inputs]"
    if number == 278:
        return "[[tuple(tuple(x) if isinstance(x, list) else x for x in inp[0])] for inp in inputs]"
    if number == 307:
        return "[[tuple(inp[0]), inp[1], inp[2]] for inp in inputs]"
    if number == 722:
        return "[[{k: tuple(v) for k, v in inp[0].items()}] + inp[1:] for inp in inputs]"
    if number == 252:
        return "[[complex(inp[0])] for inp in inputs]"
    if number in _ALL_TUPLES:
        return "[_tp_tuples(inp) for inp in inputs]"
    return "inputs"


_TEST_TEMPLATE = """
import copy as _tp_copy
import json as _tp_json


def _tp_tuples(value):
    return tuple(_tp_tuples(v) for v in value) if isinstance(value, list) else value


def _tp_floats(value):
    if isinstance(value, float):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, float) for v in value)


def _tp_close(out, exp, atol):
    if isinstance(exp, (list, tuple)):
        return type(out) == type(exp) and len(out) == len(exp) and all(
            _tp_close(o, e, atol) for o, e in zip(out, exp)
        )
    return abs(out - exp) <= atol + 1e-07 * abs(exp)


def _tp_same(out, exp, atol, args):
    exact = out == exp
    if {special}:
        return True
    if atol == 0 and _tp_floats(exp):
        atol = 1e-06
    if not exact and atol != 0:
        return type(out) == type(exp) and _tp_close(out, exp, atol)
    return exact


inputs = _tp_json.loads({inputs!r})
_tp_inputs = {fix}
_tp_reference_namespace = {{}}
exec({reference!r}, _tp_reference_namespace)
_tp_reference = _tp_reference_namespace[{entry_point!r}]
for _tp_number, _tp_args in enumerate(_tp_inputs):
    _tp_expected = _tp_reference(*_tp_copy.deepcopy(_tp_args))
    _tp_out = {entry_point}(*_tp_copy.deepcopy(_tp_args))
    assert _tp_same(_tp_out, _tp_expected, {atol!r}, _tp_args), f"input #{{_tp_number}}"
del inputs
"""


def _special(entry_point: str, dataset: str) -> str:
    """The EvalPlus special oracle for this task, as a Python condition (False if none)."""
    if dataset == "humaneval" and entry_point == "find_zero":
        return "abs(sum(c * out ** i for i, c in enumerate(args[0]))) <= (atol or 1e-06)"
    if dataset != "mbpp":
        return "False"
    if entry_point == "are_equivalent":
        return "True"
    if entry_point == "sum_div":
        return "exact or out == 0"
    if entry_point in _SET_EQUAL_OUTPUT:
        return "set(out) == set(exp)"
    if entry_point in _BOOL_OR_NOT_NONE_OUTPUT:
        truth = "(exp if isinstance(exp, bool) else exp is not None)"
        return f"(out == {truth}) if isinstance(out, bool) else ({truth} == (out is not None))"
    return "False"


def plus_tests(
    entry_point: str, reference: str, inputs: list[Any], atol: float, dataset: str, number: int
) -> str:
    fix = _mbpp_input_fix(number) if dataset == "mbpp" else "inputs"
    special = _special(entry_point, dataset)
    if special != "False":
        special = f"({special})"
    return _TEST_TEMPLATE.format(
        special=special,
        inputs=json.dumps(inputs),
        fix=fix,
        reference=reference,
        entry_point=entry_point,
        atol=float(atol),
    )


def _json_field(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, str):  # Parquet exports keep nested lists as JSON text
        return json.loads(value)
    return value


def plus_problem(record: Mapping[str, Any], dataset: str) -> Problem:
    """`dataset` is `humaneval` or `mbpp`."""
    try:
        task_id, prompt = str(record["task_id"]), str(record["prompt"])
        entry_point = str(record["entry_point"])
        canonical = str(record["canonical_solution"])
        inputs = list(_json_field(record, "base_input") or []) + list(
            _json_field(record, "plus_input") or []
        )
        atol = float(record.get("atol") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{dataset}-plus: not an EvalPlus record ({exc})") from None
    number = int(task_id.rsplit("/", 1)[-1])
    if dataset == "humaneval":
        reference = prompt + canonical
        problem_prompt = prompt
        visible = visible_asserts(prompt, entry_point, task_id)
        new_id = task_id
    else:
        reference = canonical
        lines = [line for line in prompt.strip().strip('"').strip().splitlines() if line.strip()]
        text = " ".join(line.strip() for line in lines if not line.lstrip().startswith("assert "))
        visible = tuple(line.strip() for line in lines if line.lstrip().startswith("assert "))
        signature = signature_lines(canonical.strip("\n"), entry_point)
        if signature is None:
            raise DataError(f"mbpp-plus {task_id}: canonical solution lacks def {entry_point}")
        problem_prompt = humaneval_style_prompt(signature, text)
        new_id = f"MBPP/{number}"
    return Problem(
        task_id=new_id,
        prompt=problem_prompt,
        entry_point=entry_point,
        tests=plus_tests(entry_point, reference, inputs, atol, dataset, number),
        visible_tests=visible[:1] if dataset == "mbpp" else visible,
        source=f"{dataset}-plus",
        extra={"reference": reference},
    )


def plus_problems(records: Iterable[Mapping[str, Any]], dataset: str) -> dict[str, Problem]:
    problems = [plus_problem(record, dataset) for record in records]
    return {p.task_id: p for p in problems}
