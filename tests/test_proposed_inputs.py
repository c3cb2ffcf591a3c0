"""Test inputs a model proposed (CodeT-style) in training and evaluation: an in-house problem's
`proposed_inputs` run after its visible tests (or its typed inputs), unjudged, so that
programs which agree on everything else can still part."""

import pytest

from ranker.signals.execution import Probe, probes_of, with_proposed
from train.jsonl import DataError
from train.problems import problem_from_record
from train.signals import execution_signals, visible_probes
from train.slates import Slate

PROMPT = 'def clip(x, high):\n    """x, but at most high."""\n'
RIGHT = PROMPT + "    return min(x, high)\n"
# agrees with RIGHT on the visible test and every input derived from it (all small)
FAR_WRONG = PROMPT + "    return min(x, high) if x < 10 else 0\n"
RECORD = {
    "task_id": "acme/clip",
    "prompt": PROMPT,
    "entry_point": "clip",
    "tests": ["assert clip(5, 3) == 3", "assert clip(50, 3) == 3"],
    "visible_tests": ["assert clip(2, 3) == 2"],
    "proposed_inputs": ["clip(2, 3)", "clip(50, 3)", "clip( 50, 3 )"],
}


def test_with_proposed_appends_new_calls_unjudged():
    probes = probes_of(["assert f(1) == 2"], derived=False)
    assert with_proposed(probes, ["f( 1 )", "f(2)", "f(2)", "f(3)"]) == [
        *probes,
        Probe(None, "f(2)"),
        Probe(None, "f(3)"),
    ]
    assert with_proposed([], ["f(1)"]) == [Probe(None, "f(1)")]


def test_proposed_inputs_run_after_the_visible_tests_and_split_programs(tmp_path):
    problem = problem_from_record(RECORD)
    assert problem.proposed_inputs == ("clip(2, 3)", "clip(50, 3)", "clip( 50, 3 )")
    probes = visible_probes(problem)
    plain = visible_probes(problem_from_record({**RECORD, "proposed_inputs": []}))
    # the visible test's own call and the repeat are not run twice
    assert probes == [*plain, Probe(None, "clip(50, 3)")]
    assert sum(p.judged for p in probes) == 1
    slate = Slate("acme/clip", PROMPT, (RIGHT, FAR_WRONG), (True, False), counts=(1, 1))
    for chosen, parted in (
        (problem, True),
        (problem_from_record({**RECORD, "proposed_inputs": []}), False),
    ):
        signals = execution_signals([slate], {"acme/clip": chosen}, cache_path=tmp_path / "runs")
        execution = signals["acme/clip"].execution
        assert execution is not None and execution.judged and execution.cases == 1
        assert execution.runs[0].passed == execution.runs[1].passed == 1
        assert (execution.clusters[0] != execution.clusters[1]) is parted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"proposed_inputs": "clip(1, 2)"}, "field 'proposed_inputs' must be a list of calls"),
        ({"proposed_inputs": [1]}, "field 'proposed_inputs' must be a list of calls"),
        (
            {
                "entry_point": None,
                "tests": [{"input": "1\n", "output": "1\n"}],
                "visible_tests": [],
            },
            "field 'proposed_inputs' needs an 'entry_point'",
        ),
    ],
)
def test_bad_proposed_inputs_are_named(change, message):
    with pytest.raises(DataError, match=message):
        problem_from_record({**RECORD, **change}, "problems.jsonl:3")
