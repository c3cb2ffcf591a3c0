"""Execution signals on visible tests, the feature matrix, diversity-aware ordering, and a
ranker with feature groups."""

import pytest
import torch

from ranker import Ranker, RankerConfig
from ranker.model.features import feature_matrix, feature_names, group_slices
from ranker.model.metrics import diverse_pass_at_k, ranked_pass_at_k
from ranker.order import diverse_order, order_by_score
from ranker.sandbox import Limits, Sandbox
from ranker.signals.execution import execute_visible, probes_of, split_assert
from ranker.signals.types import Signals

PROGRAMS = [
    "def f(x):\n    return x + 1\n",
    "def f(x):\n    return x + 2\n",
    "def f(x):\n    return 1 / 0\n",
    "def f(x):\n    while True:\n        pass\n",
    "def f(x):\n    return 1 + x  # behaves like the first\n",
    "def f(x:\n",
]
VISIBLE = ["assert f(1) == 2", "assert f(5) == 6", "f(3)"]


@pytest.fixture(scope="module")
def signals():
    with Sandbox(workers=2, limits=Limits(timeout=4)) as sandbox:
        return execute_visible(sandbox, PROGRAMS, VISIBLE, counts=[2, 1, 1, 1, 1, 1])


def test_split_assert_and_probes():
    assert split_assert("assert f(1) == 2") == "f(1)"
    assert split_assert("assert 2 == f(1)") == "f(1)"
    assert split_assert("assert f(1) < 2") is None
    assert split_assert("print(1)") is None
    probes = probes_of(VISIBLE, derived=False)
    assert [(p.statement, p.call) for p in probes] == [
        ("assert f(1) == 2", "f(1)"),
        ("assert f(5) == 6", "f(5)"),
        (None, "f(3)"),
    ]


def test_runs_tally_outcomes_and_record_behaviour(signals):
    assert signals.cases == 2  # the bare call has no expected value: recorded, not judged
    good, off, crash, loop, same, broken = signals.runs
    assert same.signature == good.signature
    assert (good.passed, off.failed, crash.errors, loop.timeouts) == (2, 2, 2, 2)
    assert good.signature[:3] == ("=2", "=6", "=4") and off.signature[:3] == ("=3", "=7", "=5")
    assert good.signature[3:] == ("=3", "=7", "=5", "=1")  # f(2), f(6), f(4), f(0)
    assert crash.signature[0] == "!ZeroDivisionError"
    assert broken.errors == 2 and broken.passed == 0
    assert signals.clusters[0] == signals.clusters[4] != signals.clusters[1]
    assert signals.cluster_shares[0] == pytest.approx(3 / 7)  # counts 2 + 1 of 7 answers
    assert signals.summary(0) == "2/2 examples"


def test_feature_matrix_groups_and_absence(signals):
    names = feature_names(("execution", "likelihood"))
    full = feature_matrix(
        6, Signals(signals, [(-1.0, -2.0)] * 3 + [(-3.0, -1.0)] * 3), ("execution", "likelihood")
    )
    assert full.shape == (6, len(names))
    row = dict(zip(names, full[0].tolist(), strict=True))
    assert (
        row["exec_available"] == 1 and row["exec_pass_fraction"] == 1 and row["exec_all_pass"] == 1
    )
    assert row["exec_largest_cluster"] == 1 and row["exec_passing_cluster_share"] == pytest.approx(
        1.0
    )
    assert row["lm_available"] == 1 and row["lm_coder_z"] > 0
    crash = dict(zip(names, full[2].tolist(), strict=True))
    assert crash["exec_error_fraction"] == 1 and crash["exec_passing_cluster_share"] == 0
    absent = feature_matrix(6, None, ("execution", "likelihood"))
    assert torch.count_nonzero(absent) == 0
    assert group_slices(("execution", "likelihood"))["likelihood"] == slice(8, 11)


def test_diverse_order_takes_one_per_cluster_first():
    order = [0, 1, 2, 3, 4]
    clusters = [7, 7, 8, 7, 9]
    assert diverse_order(order, clusters) == [0, 2, 4, 1, 3]


def test_diverse_order_never_lifts_a_program_over_one_passing_more_examples():
    order = [0, 1, 2, 3, 4]
    clusters = [7, 7, 8, 9, 9]
    tiers = [3, 3, 3, 1, 1]  # 0-2 pass all three examples, 3-4 pass one
    # 2 (new cluster, same tier) moves ahead of the clone 1; 3 (lower tier) does not
    assert diverse_order(order, clusters, tiers) == [0, 2, 1, 3, 4]
    assert diverse_order(order, clusters) == [0, 2, 3, 1, 4]


def test_diverse_order_by_weights_apportions_the_top_by_agreement():
    order = [0, 1, 2, 3, 4, 5]
    clusters = [7, 7, 7, 8, 8, 9]
    weights = [0.6, 0.6, 0.6, 0.25, 0.25, 0.15]  # each program's cluster share
    # a j-th member weighs share / j: 7's second (0.3) beats 8 (0.25), its third (0.2) not;
    # 8's second (0.125) then loses to 9 (0.15)
    assert diverse_order(order, clusters, weights=weights) == [0, 1, 3, 2, 5, 4]
    # equal shares: one per cluster first, as without weights
    even = [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert diverse_order(order, clusters, weights=even) == diverse_order(order, clusters)
    labels = [False, True, False, False, False, False]  # the second of the big cluster
    assert diverse_pass_at_k([6, 5, 4, 3, 2, 1], labels, clusters, 3, weights=weights) == 1.0
    assert diverse_pass_at_k([6, 5, 4, 3, 2, 1], labels, clusters, 3) == 0.0


def test_unjudged_runs_say_only_who_agrees_and_give_the_head_nothing():
    with Sandbox(workers=2, limits=Limits(timeout=4)) as sandbox:
        unjudged = execute_visible(sandbox, PROGRAMS[:3], ["f(1)", "f(5)"], counts=[2, 1, 1])
    assert unjudged is not None and not unjudged.judged and unjudged.cases == 0
    assert unjudged.summary(0) == "agrees with 50%" and unjudged.summary(2) == "agrees with 25%"
    assert unjudged.weights == unjudged.cluster_shares
    assert unjudged.tiers == (0, 0, 0)
    # the head was trained where examples judge: agreement alone reaches it as no execution
    assert torch.count_nonzero(feature_matrix(3, Signals(unjudged), ("execution",))) == 0


def test_diverse_metric_counts_only_the_diverse_top():
    scores = [0.9, 0.8, 0.1]
    labels = [False, False, True]
    assert ranked_pass_at_k(scores, labels, 2) == 0.0
    assert diverse_pass_at_k(scores, labels, [0, 0, 1], 2) == 1.0  # the clone gives way
    # Ties are resolved in expectation, not by storage order.
    assert diverse_pass_at_k([0.0, 0.0], [False, True], [0, 1], 1) == pytest.approx(0.5, abs=0.2)


def test_ranker_with_features_uses_them_and_survives_their_absence(
    tiny_encoder_dir, signals, tmp_path
):
    torch.manual_seed(0)
    config = RankerConfig(
        backbone=str(tiny_encoder_dir), head_hidden=(8,), max_length=96, features=("execution",)
    )
    ranker = Ranker(config)
    problem = 'def f(x):\n    """Add one."""\n'
    with_signals = ranker.score(problem, PROGRAMS, Signals(signals))
    without = ranker.score(problem, PROGRAMS)
    assert with_signals != without
    ranked = ranker.rank(problem, PROGRAMS, signals=Signals(signals))
    assert [i for i, _ in ranked] == diverse_order(
        order_by_score(with_signals), signals.clusters, signals.tiers
    )
    loaded = Ranker.from_pretrained(ranker.save_pretrained(tmp_path / "r"), device="cpu")
    assert loaded.config.features == ("execution",)
    assert loaded.score(problem, PROGRAMS, Signals(signals)) == pytest.approx(
        with_signals, abs=1e-6
    )


def test_text_only_where_nothing_ran(tiny_encoder_dir, signals):
    torch.manual_seed(0)
    config = RankerConfig(
        backbone=str(tiny_encoder_dir),
        head_hidden=(8,),
        max_length=96,
        features=("execution",),
        text_with_execution=False,
    )
    ranker = Ranker(config)
    problem = 'def f(x):\n    """Add one."""\n'
    executed = ranker.score(problem, PROGRAMS, Signals(signals))
    assert executed[0] == pytest.approx(executed[4])  # same behaviour, different text
    textual = ranker.score(problem, PROGRAMS)
    assert textual[0] != pytest.approx(textual[4])  # nothing ran: the text decides


def test_config_rejects_unknown_feature_group():
    from ranker.model.config import RankerConfigError

    with pytest.raises(RankerConfigError, match="features"):
        RankerConfig(features=("telepathy",))


def test_split_assert_reads_the_tolerant_forms_examples_write():
    from ranker.examples import assert_statement

    assert split_assert(assert_statement("f(0.5)", "1.25")) == "f(0.5)"
    assert split_assert("assert math.isclose(f(2), 0.3, rel_tol=1e-6)") == "f(2)"
    assert split_assert("assert f(1) == 2, 'message'") == "f(1)"


def test_derived_inputs_split_programs_that_agree_on_the_examples():
    programs = [
        "def f(xs):\n    return max(x for x in xs)\n",
        "def f(xs):\n    return max(xs)\n",
        "def f(xs):\n    return xs[-1]  # right on the example only\n",
    ]
    with Sandbox(workers=2, limits=Limits(timeout=4)) as sandbox:
        plain = execute_visible(sandbox, programs, ["assert f([1, 2, 3]) == 3"], derived=False)
        derived = execute_visible(sandbox, programs, ["assert f([1, 2, 3]) == 3"])
    assert plain is not None and derived is not None
    assert len(set(plain.clusters)) == 1  # the example alone cannot tell them apart
    assert derived.clusters[0] == derived.clusters[1] != derived.clusters[2]
    assert [run.passed for run in derived.runs] == [1, 1, 1]  # derived inputs judge nothing


def test_an_emptied_input_splits_programs_that_start_from_the_first_element():
    programs = [
        "def f(xs):\n    out, top = [], None\n    for x in xs:\n"
        "        top = x if top is None else max(top, x)\n        out.append(top)\n    return out\n",
        "def f(xs):\n    out, top = [xs[0]], xs[0]\n    for x in xs[1:]:\n"
        "        top = max(top, x)\n        out.append(top)\n    return out\n",
    ]
    tests = ["assert f([1, 3, 2]) == [1, 3, 3]"]
    assert probes_of(tests)[-1].call == "f([])"
    with Sandbox(workers=2, limits=Limits(timeout=4)) as sandbox:
        signals = execute_visible(sandbox, programs, tests)
    assert signals is not None
    assert signals.clusters[0] != signals.clusters[1]
    first, second = (run.signature for run in signals.runs)
    assert first[:-1] == second[:-1]  # equal on the example and every input near it
    assert (first[-1], second[-1]) == ("=[]", "!IndexError")


def test_programs_returning_functions_behave_alike_whatever_their_addresses():
    """A default repr carries a memory address, which differs from process to process: two
    programs returning the same kind of function are one behaviour, in every run."""
    returns_function = "def f(x):\n    def g():\n        return x\n    return g\n"
    returns_number = "def f(x):\n    return x\n"
    with Sandbox(workers=2, limits=Limits(timeout=4)) as sandbox:
        found = execute_visible(
            sandbox, [returns_function, returns_function + "\n", returns_number], ["f(3)"]
        )
    assert found is not None
    first, second, _ = found.runs
    assert first.signature == second.signature
    assert first.signature[0].endswith(" at 0x>")  # the address itself is gone
    assert found.clusters[0] == found.clusters[1] != found.clusters[2]
