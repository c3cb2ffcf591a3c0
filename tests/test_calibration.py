"""Calibrated probabilities (`ranker.model.calibration`): fitting, the saved format beside a
ranker, the measures (ECE, Brier), the editor's titles and low-confidence warning, and
`toppass-train calibrate` / `eval --plots`."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from ranker import Ranker, RankerConfig, RankerConfigError
from ranker.model.calibration import (
    CALIBRATION_FILE,
    CEILING,
    FLOOR,
    Calibration,
    CalibrationError,
    CalibrationSample,
    ModeMap,
    _fit_map,
    _merge_small_blocks,
    brier_score,
    calibration_inputs,
    calibration_mode,
    expected_calibration_error,
    fit_calibration,
    reliability_bins,
)
from ranker.offer import LOW_CONFIDENCE, RankedCandidate, RankedResult, rank_candidates
from ranker.order import DEFECT_PENALTY, execution_free_scores
from ranker.signals.types import ExecutionSignals, ProgramRun, Signals
from ranker.source import function_at
from toppass_ls.edits import action_title, candidate_json, candidate_titles


def logistic_samples(
    n_problems: int, seed: int, mode: str = "none", slope: float = 2.0
) -> list[CalibrationSample]:
    """Programs whose chance of being right is sigmoid(slope * x), five per problem."""
    rng = random.Random(seed)
    out = []
    for p in range(n_problems):
        for _ in range(5):
            x = rng.uniform(-3, 3)
            label = rng.random() < 1 / (1 + math.exp(-slope * x))
            out.append(CalibrationSample(f"t/{p}", mode, x, False, label, x))  # type: ignore[arg-type]
    return out


GRID = [x / 10 for x in range(-60, 61)]


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_each_method_is_monotone_and_bounded(method):
    samples = logistic_samples(200, seed=1)
    mapping = _fit_map(method, [s.x for s in samples], [s.label for s in samples])
    assert mapping.method == method
    values = [mapping.probability(x) for x in GRID]
    assert values == sorted(values)  # monotone in the score
    assert all(FLOOR <= v <= CEILING for v in values)
    assert values[0] < 0.1 and values[-1] > 0.9  # and it learned the slope, not a constant
    assert mapping.probability(0.0) == pytest.approx(0.5, abs=0.12)
    for extreme in (-math.inf, math.inf, math.nan, -1e9, 1e9):
        assert FLOOR <= mapping.probability(extreme) <= CEILING


def test_fitted_calibration_is_calibrated_on_fresh_problems():
    calibration = fit_calibration(logistic_samples(300, seed=2), fitted_on="synthetic")
    assert set(calibration.modes) == {"none"}  # no samples of the other modes: no map there
    fresh = logistic_samples(300, seed=3)
    served = [s.x for s in fresh]
    probabilities = [calibration.modes["none"].probability(x) for x in served]
    labels = [s.label for s in fresh]
    assert expected_calibration_error(probabilities, labels) < 0.05
    # the raw score's sigmoid is too sure of itself here (the true slope is 2, not 1)
    squashed = [1 / (1 + math.exp(-x)) for x in served]
    assert expected_calibration_error(squashed, labels) > expected_calibration_error(
        probabilities, labels
    )
    notes = calibration.notes["none"]
    assert notes["cross_validated_ece"] < notes["ece_of_sigmoid_of_served_score"]


def test_a_mode_with_too_few_problems_gets_no_map_and_no_probability():
    few = logistic_samples(3, seed=4, mode="judged")  # 15 programs of 3 problems
    calibration = fit_calibration(few + logistic_samples(100, seed=5))
    assert "judged" not in calibration.modes and "none" in calibration.modes
    assert calibration.notes["judged"].startswith("not calibrated: 15 programs from 3 problems")
    judged = Signals(execution=execution([1, 0], cases=1))
    assert calibration.probabilities([0.5, 0.1], [1, 1], judged) is None
    assert calibration.probabilities([0.5, 0.1], [1, 1], None) is not None


def test_small_isotonic_steps_are_merged_and_stay_monotone():
    # a top step of three right answers would say 1.0; merged, it rests on 20 programs
    blocks = [[40.0, 4.0, -2.0, -1.0], [30.0, 15.0, -0.9, 0.0], [3.0, 3.0, 0.1, 0.2]]
    merged = _merge_small_blocks(blocks, 20)
    assert all(b[0] >= 20 for b in merged) and sum(b[0] for b in merged) == 73
    rates = [b[1] / b[0] for b in merged]
    assert rates == sorted(rates) and rates[-1] == pytest.approx(18 / 33)
    assert merged[-1][2:] == [-0.9, 0.2]


def execution(passed: list[int], cases: int, clusters: list[int] | None = None) -> ExecutionSignals:
    runs = tuple(ProgramRun(p, cases - p, 0, 0, (str(p),)) for p in passed)
    ids = tuple(clusters or range(len(passed)))
    share = 1 / len(passed)
    return ExecutionSignals(cases, runs, ids, tuple(share for _ in passed))


def test_calibration_inputs_mean_the_same_for_any_number_of_samples():
    assert calibration_mode(None) == "none"
    assert calibration_mode(Signals(execution=execution([1, 0], cases=1))) == "judged"
    assert calibration_mode(Signals(execution=execution([0, 0], cases=0))) == "agreement"
    # nothing ran: z + log(count) - log(mean count), the same for any number of answers
    small = execution_free_scores([1.0, 0.0, 2.0], [2, 1, 1], [None, None, "no return"])
    large = execution_free_scores([1.0, 0.0, 2.0], [20, 10, 10], [None, None, "no return"])
    mode, xs, defect = calibration_inputs(small, [2, 1, 1], None)
    assert mode == "none" and defect == [False, False, True]
    assert xs[:2] == pytest.approx(calibration_inputs(large, [20, 10, 10], None)[1][:2])
    assert xs[0] == pytest.approx(0.0 + math.log(2 / (4 / 3)))  # z = 0 for the middle score
    # ... and for any number of distinct programs: five programs sampled once each as one
    alike = execution_free_scores([1.0, 0.0], [1, 1], [None, None])
    many = execution_free_scores([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [1] * 9, [None] * 9)
    assert calibration_inputs(alike, [1, 1], None)[1] == pytest.approx(alike)
    assert calibration_inputs(many, [1] * 9, None)[1] == pytest.approx(many)
    # judged: the served score itself (the head's, on fractions and shares)
    judged = Signals(execution=execution([1, 0], cases=1))
    assert calibration_inputs([0.7, -DEFECT_PENALTY], [1, 1], judged) == (
        "judged",
        [0.7, -DEFECT_PENALTY],
        [False, True],
    )


def a_calibration(value: float = 0.3, modes: tuple[str, ...] = ("none",)) -> Calibration:
    ramp = ModeMap("isotonic", (-1.0, 1.0), (value / 2, value))
    return Calibration({m: ramp for m in modes}, defect=0.02, fitted_on="a test")


def test_probabilities_keep_the_served_order_and_defects_get_the_defect_rate():
    calibration = a_calibration(0.8)
    served = execution_free_scores([0.3, 0.1, 0.9], [1, 3, 1], [None, None, "empty body"])
    probabilities = calibration.probabilities(served, [1, 3, 1], None)
    assert probabilities is not None
    order = sorted(range(3), key=lambda i: -served[i])
    assert [probabilities[i] for i in order] == sorted(probabilities, reverse=True)
    assert probabilities[2] == 0.02


def test_calibration_round_trips_through_json_and_refuses_damage(tmp_path):
    calibration = fit_calibration(logistic_samples(120, seed=6) + logistic_samples(80, 7, "judged"))
    path = tmp_path / CALIBRATION_FILE
    calibration.save(path)
    loaded = Calibration.load(path)
    assert loaded.to_dict() == calibration.to_dict()
    served = [-2.0, -0.5, 0.0, 0.4, 3.0]
    for signals in (None, Signals(execution=execution([1, 0, 1, 1, 0], cases=1))):
        assert loaded.probabilities(served, [1] * 5, signals) == pytest.approx(
            calibration.probabilities(served, [1] * 5, signals), abs=1e-5
        )
    data = json.loads(path.read_text())
    for damage, message in (
        ({"format": "other/1"}, "unsupported calibration format"),
        ({"modes": {"sometimes": data["modes"]["none"]}}, "unknown calibration mode"),
        ({"defect": 1.5}, "defect must lie in [0, 1]"),
        ({"modes": {"none": {"method": "platt", "slope": -1.0}}}, "slope must be >= 0"),
        (
            {"modes": {"none": {"method": "isotonic", "knots_x": [0, 1], "knots_y": [0.9, 0.1]}}},
            "must not decrease",
        ),
    ):
        path.write_text(json.dumps({**data, **damage}))
        with pytest.raises(CalibrationError, match=message.replace("[", r"\[")):
            Calibration.load(path)
    path.write_text("{not json")
    with pytest.raises(CalibrationError, match="not readable JSON"):
        Calibration.load(path)


@pytest.fixture
def tiny_ranker(tiny_encoder_dir: Path) -> Ranker:
    torch.manual_seed(0)
    return Ranker(RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,), max_length=128))


def test_saved_ranker_keeps_its_calibration_and_an_old_one_loads_without(tiny_ranker, tmp_path):
    old = tiny_ranker.save_pretrained(tmp_path / "old")
    assert not (old / CALIBRATION_FILE).exists()
    assert Ranker.from_pretrained(old, device="cpu").calibration is None
    tiny_ranker.calibration = a_calibration()
    saved = tiny_ranker.save_pretrained(tmp_path / "new")
    loaded = Ranker.from_pretrained(saved, device="cpu")
    assert loaded.calibration is not None
    assert loaded.calibration.weights is not None and len(loaded.calibration.weights) == 64
    assert loaded.calibration.probabilities([0.0], [1], None) == [pytest.approx(0.225)]
    # saving a ranker without one over it removes the old file (it described other scores)
    tiny_ranker.calibration = None
    tiny_ranker.save_pretrained(saved)
    assert not (saved / CALIBRATION_FILE).exists()


def test_a_calibration_for_other_weights_is_ignored_and_a_damaged_one_named(
    tiny_ranker, tmp_path, caplog
):
    tiny_ranker.calibration = a_calibration()
    saved = tiny_ranker.save_pretrained(tmp_path / "r")
    data = json.loads((saved / CALIBRATION_FILE).read_text())
    (saved / CALIBRATION_FILE).write_text(json.dumps({**data, "weights_sha256": "0" * 64}))
    assert Ranker.from_pretrained(saved, device="cpu").calibration is None
    assert "fitted for other weights" in caplog.text
    (saved / CALIBRATION_FILE).write_text('{"format": "toppass-calibration/1", "defect": "x"}')
    with pytest.raises(RankerConfigError, match=r"calibration\.json: defect must be a finite"):
        Ranker.from_pretrained(saved, device="cpu")


def test_ece_and_brier_of_a_hand_computed_example():
    probabilities = [0.1, 0.2, 0.8, 0.9, 0.95]
    labels = [False, True, True, True, False]
    # bins of width 0.1: {0.1} correct 0/1, {0.2} 1/1, {0.8} 1/1, {0.9, 0.95} 1/2
    # ECE = (0.1 + 0.8 + 0.2) / 5 + |0.5 - 0.925| * 2 / 5 = 0.22 + 0.17
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.39)
    # Brier = (0.01 + 0.64 + 0.04 + 0.01 + 0.9025) / 5
    assert brier_score(probabilities, labels) == pytest.approx(0.3205)
    bins = reliability_bins(probabilities, labels)
    assert [(b.low, b.count) for b in bins] == [(0.1, 1), (0.2, 1), (0.8, 1), (0.9, 2)]
    assert bins[-1].confidence == pytest.approx(0.925) and bins[-1].accuracy == 0.5
    assert expected_calibration_error([1.0, 0.0], [True, False]) == 0.0  # 1.0 in the last bin
    with pytest.raises(ValueError, match="outside"):
        expected_calibration_error([1.2], [True])


SOURCE = '''def unique_sorted(xs: list[int]) -> list[int]:
    """Return the distinct elements of xs in increasing order."""
    raise NotImplementedError
'''
RAWS = ["    return sorted(set(xs))\n"] * 2 + ["    return sorted(xs)\n", "    return list(xs)\n"]


def test_titles_show_the_probability_and_a_low_one_is_said(tiny_ranker):
    ctx = function_at(SOURCE, 0)
    assert ctx is not None
    plain = rank_candidates(tiny_ranker, ctx, RAWS)  # no calibration: today's raw score
    assert all(c.probability is None for c in plain.candidates) and plain.warning is None
    assert all(" (0." in t and "p=" not in t for t in candidate_titles(plain.candidates))

    tiny_ranker.calibration = a_calibration(0.3)  # nothing ran: the `none` map
    result = rank_candidates(tiny_ranker, ctx, RAWS)
    probabilities = [c.probability for c in result.candidates]
    served = {c.program: c.raw_score for c in result.candidates}
    counts = {c.program: c.count for c in result.candidates}
    programs = list(served)
    expected = tiny_ranker.calibration.probabilities(
        [served[p] for p in programs], [counts[p] for p in programs], None
    )
    assert probabilities == [expected[programs.index(c.program)] for c in result.candidates]
    assert probabilities == sorted(probabilities, reverse=True)  # as the list is ordered
    titles = candidate_titles(result.candidates)
    for title, candidate in zip(titles, result.candidates, strict=True):
        assert f"(p={candidate.probability:.2f}" in title
    first = result.candidates[0].probability
    assert first is not None and first < LOW_CONFIDENCE
    assert result.warning == (
        f"low confidence: #1 is correct with p={first:.2f} "
        "(nothing ran to decide between the candidates)"
    )
    assert candidate_json(result.candidates[0], titles[0])["probability"] == round(first, 4)

    tiny_ranker.calibration = a_calibration(1.0)  # confident: no warning
    assert rank_candidates(tiny_ranker, ctx, RAWS).warning is None


def candidate(rank: int, probability: float | None, **fields: object) -> RankedCandidate:
    return RankedCandidate(rank, 0.5, 0.0, 1, "p", "return 1\n", probability=probability, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "examples", "why"),
    [
        ({"passed": 1, "examples": "1/3 examples", "behaviour": 0}, 3, "#1 passes 1/3 examples"),
        (
            {"passed": 3, "examples": "3/3 examples", "behaviour": 0},
            3,
            "the examples do not decide between the candidates",
        ),
        ({"behaviour": 0}, 0, "candidates disagree and no example decides"),
        ({}, None, "nothing ran to decide between the candidates"),
    ],
)
def test_the_low_confidence_warning_says_why(fields, examples, why):
    ranked = (candidate(1, 0.31, **fields), candidate(2, 0.2, **fields))
    result = RankedResult("f", ranked, 2, (), examples=examples)
    assert result.warning == f"low confidence: #1 is correct with p=0.31 ({why})"
    sure = RankedResult("f", (candidate(1, LOW_CONFIDENCE, **fields),), 1, (), examples=examples)
    assert sure.warning is None


def test_action_title_shows_p_in_place_of_the_score():
    assert action_title(1, 0.93, 2, "return xs\n", "3/3 examples", probability=0.834) == (
        "toppass #1 (3/3 examples, p=0.83, x2): return xs"
    )
    assert action_title(1, 0.93, 2, "return xs\n") == "toppass #1 (0.93, x2): return xs"


# -- toppass-train calibrate and eval --plots, on tiny problems ---------------------------------

NAMES = ("uniq", "dedupe", "distinct", "unique", "once", "single", "nodup", "setlist")
BODIES = {  # body -> right?
    "    return sorted(set(xs))\n": True,
    "    return sorted(xs)\n": False,
    "    return list(xs)\n": False,
    "    return xs[::-1]\n": False,
    "    return list(dict.fromkeys(sorted(xs)))\n": True,
}
PNG_HEADER = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny_pool(tmp_path: Path) -> tuple[Path, Path]:
    problems, pool = tmp_path / "problems.jsonl", tmp_path / "pool.jsonl"
    with problems.open("w") as p, pool.open("w") as c:
        for name in NAMES:
            prompt = f'def {name}(xs):\n    """Return the sorted unique values of xs."""\n'
            record = {
                "task_id": f"toy/{name}",
                "prompt": prompt,
                "entry_point": name,
                "tests": [f"assert {name}([3, 1, 3]) == [1, 3]", f"assert {name}([]) == []"],
                "visible_tests": [f"assert {name}([3, 1, 3]) == [1, 3]"],
            }
            p.write(json.dumps(record) + "\n")
            for index, (body, right) in enumerate(BODIES.items()):
                row = {"task_id": f"toy/{name}", "index": index, "completion": body}
                c.write(json.dumps({**row, "passed": right}) + "\n")
    return problems, pool


def test_calibrate_writes_a_calibration_the_ranker_loads_and_eval_measures_and_plots(
    tiny_pool, tmp_path, tiny_ranker
):
    from typer.testing import CliRunner

    from train.cli import app

    problems, pool = tiny_pool
    ranker_dir = tiny_ranker.save_pretrained(tmp_path / "ranker")
    common = ["--problems", str(problems), "--pool", str(pool), "--workers", "2"]
    common += ["--no-cache", "--device", "cpu"]
    runner = CliRunner()
    result = runner.invoke(app, ["calibrate", "--ranker", str(ranker_dir), *common])
    assert result.exit_code == 0, result.output
    saved = json.loads((ranker_dir / CALIBRATION_FILE).read_text())
    assert set(saved["modes"]) == {"judged", "agreement", "none"}
    assert all(m["programs"] == 40 and m["problems"] == 8 for m in saved["modes"].values())
    assert "40 programs of 8 problems" in result.output
    loaded = Ranker.from_pretrained(ranker_dir, device="cpu")
    assert loaded.calibration is not None and loaded.calibration.fitted_on.startswith("pool.jsonl")

    plots = tmp_path / "plots"
    args = ["eval", "--ranker", str(ranker_dir), *common, "--json", "--bootstrap", "0"]
    result = runner.invoke(app, [*args, "--plots", str(plots)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["calibration"]
    assert report["programs"] == 40 and report["problems"] == 8
    for key in ("calibrated", "uncalibrated"):
        assert 0.0 <= report[key]["ece"] <= 1.0 and 0.0 <= report[key]["brier"] <= 1.0
        assert report[key]["first_ranked_problems"] == 8
    assert set(report["by_mode"]) == {"judged"}
    written = sorted(p.name for p in plots.iterdir())
    assert written == ["passk.png", "reliability.png"]
    for name in written:
        data = (plots / name).read_bytes()
        assert data[:8] == PNG_HEADER and len(data) > 2000

    # an uncalibrated ranker: measured uncalibrated, its table says how to calibrate it
    (ranker_dir / CALIBRATION_FILE).unlink()
    result = runner.invoke(app, [*args, "--no-offered"])
    assert json.loads(result.stdout)["calibration"]["calibrated"] is None
    result = runner.invoke(app, ["eval", "--ranker", str(ranker_dir), *common, "--bootstrap", "0"])
    assert result.exit_code == 0 and "toppass-train calibrate fits one" in result.stdout
    result = runner.invoke(
        app, ["calibrate", "--ranker", str(ranker_dir), *common, "--split", "1.5"]
    )
    assert result.exit_code == 1 and "--split must be in [0, 1)" in result.output


def test_plots_without_matplotlib_is_one_line_before_any_work(tiny_pool, monkeypatch, tmp_path):
    import sys

    from typer.testing import CliRunner

    from train.cli import app

    problems, pool = tiny_pool
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    args = ["eval", "--problems", str(problems), "--pool", str(pool), "--plots", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "--plots needs matplotlib: pip install matplotlib" in result.output
    assert "Traceback" not in result.output and not list(tmp_path.glob("*.png"))


def test_the_shipped_ranker_carries_a_calibration_for_its_own_weights():
    from ranker.model.calibration import weights_digest
    from ranker.model.ranker import WEIGHTS_FILE
    from ranker.model.shipped import DEFAULT_RANKER_DIR

    calibration = Calibration.load(DEFAULT_RANKER_DIR / CALIBRATION_FILE)
    assert calibration.weights == weights_digest(DEFAULT_RANKER_DIR / WEIGHTS_FILE)
    assert set(calibration.modes) == {"judged", "agreement", "none"}
    assert "humaneval" not in calibration.fitted_on.lower()  # never fitted on an eval pool
    assert calibration.fitted_on.startswith("ldb-mbpp")
