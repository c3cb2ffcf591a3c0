"""`toppass-train generate / label / fit / eval` end to end on tiny problems (CliRunner)."""

import json
from pathlib import Path
from typing import Any

import pytest
from fake_openai import FakeOpenAI, fake_logprob, fake_tokens
from typer.testing import CliRunner

from train.cli import app

runner = CliRunner()

PROBLEMS = [
    {
        "task_id": f"toy/{name}",
        "prompt": f'def {name}(xs):\n    """Return the sorted unique values of xs."""\n',
        "entry_point": name,
        "tests": [f"assert {name}([3, 1, 3]) == [1, 3]", f"assert {name}([]) == []"],
        "visible_tests": [f"assert {name}([3, 1, 3]) == [1, 3]"],
    }
    for name in ("uniq", "dedupe", "distinct")
]


@pytest.fixture
def problems_file(tmp_path: Path) -> Path:
    path = tmp_path / "problems.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS))
    return path


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI(slow_seconds=60).start()
    yield server
    server.stop()


def invoke(*args: str) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_generate_records_provenance_and_resumes(problems_file, fake, tmp_path):
    pool = tmp_path / "pool.jsonl"
    common = [
        "generate",
        "--problems",
        problems_file,
        "--out",
        pool,
        "--provider",
        "openai",
        "--model",
        "fake-coder",
        "--base-url",
        fake.url("ignores-n"),
        "--seed",
        "7",
    ]
    result = invoke(*common, "--n", "2")
    assert result.exit_code == 0, result.output
    first = rows(pool)
    assert len(first) == 6
    assert {(r["task_id"], r["index"]) for r in first} == {
        (p["task_id"], i) for p in PROBLEMS for i in range(2)
    }
    assert all(r["model"] == "fake-coder" and r["api"] == "chat" for r in first)
    assert all("```python" in r["completion"] for r in first)
    requests_before = len(fake.requests)
    result = invoke(*common, "--n", "3")  # tops every problem up to 3, repeats nothing
    assert result.exit_code == 0, result.output
    second = rows(pool)
    assert second[:6] == first and len(second) == 9
    assert sorted(r["index"] for r in second if r["task_id"] == "toy/uniq") == [0, 1, 2]
    assert len(fake.requests) - requests_before == 3
    assert "3 already there" not in result.output and "6 already there" in result.output
    assert invoke(*common, "--n", "3").output.count("wrote 0 answers") == 1


def test_generate_records_generator_logprobs_and_eval_orders_by_them(problems_file, fake, tmp_path):
    def generate(mode: str, out: Path) -> list[dict[str, Any]]:
        args = ["generate", "--problems", problems_file, "--out", out, "--provider", "openai"]
        result = invoke(*args, "--model", "m", "--base-url", fake.url(mode), "--n", "3")
        assert result.exit_code == 0, result.output
        return rows(out)

    scored = generate("honours-n", tmp_path / "scored.jsonl")
    for row in scored:  # the fake's log-probability of each token of the answer, averaged
        tokens = fake_tokens(row["completion"])
        assert row["logprob_tokens"] == len(tokens)
        mean = sum(fake_logprob(t) for t in tokens) / len(tokens)
        assert row["mean_logprob"] == pytest.approx(mean, abs=1e-6)
    plain = generate("no-logprobs", tmp_path / "plain.jsonl")
    assert len(plain) == 9 and not any("mean_logprob" in row for row in plain)

    def evaluate(pool: Path) -> dict[str, Any]:
        args = ["eval", "--problems", problems_file, "--pool", pool, "--json", "--bootstrap", "0"]
        result = invoke(*args, "--no-execution", "--workers", "2", "--no-cache")
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    with_logprobs = evaluate(tmp_path / "scored.jsonl")  # labelled beside it, keeping them
    assert all("mean_logprob" in row for row in rows(tmp_path / "scored.labelled.jsonl"))
    assert with_logprobs["settings"]["problems_with_generator_logprobs"] == 3
    assert "generator-likelihood" in with_logprobs["baselines"]
    without = evaluate(tmp_path / "plain.jsonl")
    assert without["settings"]["problems_with_generator_logprobs"] == 0
    assert "generator-likelihood" not in without["baselines"]


def test_generate_reports_endpoint_errors_as_one_line(problems_file, fake, tmp_path):
    result = invoke(
        "generate",
        "--problems",
        problems_file,
        "--out",
        tmp_path / "p.jsonl",
        "--provider",
        "openai",
        "--model",
        "m",
        "--base-url",
        fake.url("401"),
    )
    assert result.exit_code == 1
    assert "failed: toy/uniq" in result.output and "Traceback" not in result.output


def test_label_fit_eval_json(problems_file, fake, tmp_path, tiny_encoder_dir):
    pool, labelled = tmp_path / "pool.jsonl", tmp_path / "labelled.jsonl"
    assert (
        invoke(
            "generate",
            "--problems",
            problems_file,
            "--out",
            pool,
            "--provider",
            "openai",
            "--model",
            "m",
            "--base-url",
            fake.url("honours-n"),
            "--n",
            "4",
        ).exit_code
        == 0
    )
    result = invoke(
        "label",
        "--problems",
        problems_file,
        "--pool",
        pool,
        "--out",
        labelled,
        "--workers",
        "2",
        "--no-cache",
    )
    assert result.exit_code == 0, result.output
    labels = rows(labelled)
    assert len(labels) == 12 and {r["passed"] for r in labels} == {True, False}
    run = tmp_path / "run"
    fit = ["fit", "--train", labelled, "--val", labelled, "--problems", problems_file]
    fit += ["--backbone", tiny_encoder_dir, "--epochs", "2", "--device", "cpu"]
    result = invoke(*fit, "--out", run)
    assert result.exit_code == 0, result.output
    assert (run / "model.safetensors").is_file() and (run / "run_config.json").is_file()
    result = invoke(
        "eval",
        "--problems",
        problems_file,
        "--pool",
        labelled,
        "--ranker",
        run,
        "--json",
        "--bootstrap",
        "50",
        "--device",
        "cpu",
        "--no-cache",
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)  # stdout is exactly one JSON object
    assert {"ranker", "problems", "candidates", "ranked", "random", "oracle"} <= set(payload)
    assert payload["problems"] == 3
    assert list(payload["ranked"]) == ["pass@1", "pass@2", "pass@3", "pass@5", "pass@10"]
    assert set(payload["random"]) == set(payload["ranked"])
    assert 0.0 <= payload["random"]["pass@1"] <= payload["oracle"] <= 1.0
    assert {"length-only", "sample-count"} <= set(payload["baselines"])
    assert payload["settings"]["execution"] and payload["settings"]["diverse"]
    assert payload["settings"]["problems_with_visible_tests"] == 3
    assert (
        payload["random"]["pass@1"]
        <= payload["baselines"]["execution"]["pass@1"]
        <= payload["oracle"]
    )
    # a ranker that takes the execution features, trained and evaluated with them
    run = tmp_path / "run-exec"
    result = invoke(*fit, "--out", run, "--features", "execution")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "config.json").read_text())["features"] == ["execution"]
    common = ["eval", "--problems", problems_file, "--ranker", run, "--json", "--bootstrap", "0"]
    with_exec = json.loads(invoke(*common, "--pool", labelled, "--no-cache").stdout)
    cached = [
        json.loads(invoke(*common, "--pool", labelled, "--cache-dir", tmp_path / "c").stdout)
        for _ in range(2)  # first fills the embedding cache, second reads it
    ]
    assert cached[0]["ranked"] == cached[1]["ranked"] == with_exec["ranked"]
    assert list((tmp_path / "c").glob("embeddings-*.safetensors"))
    without = json.loads(invoke(*common, "--pool", labelled, "--no-execution").stdout)
    assert "execution" not in without["baselines"] and not without["settings"]["execution"]
    assert without["settings"]["problems_with_visible_tests"] == 0
    assert with_exec["problems"] == without["problems"] == 3
    # a ranker without text: the feature groups alone, served by its own score
    run = tmp_path / "run-no-text"
    groups = ["--features", "sampling,agreement,defects,execution", "--served", "learned"]
    result = invoke(*fit, "--out", run, "--no-text", *groups, "--head-hidden", "")
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "config.json").read_text())
    assert saved["text"] is False and saved["served"] == "learned"
    assert saved["head_hidden"] == []  # a linear head: the probe below explains it whole
    weighs = json.loads((run / "metrics.json").read_text())["weighs"]
    assert weighs["r2"] > 0.999 and weighs["problems"] == 3
    assert "exec_pass_fraction" in weighs["weights"]
    assert "What it weighs" in (run / "README.md").read_text()
    assert not list(run.glob("embeddings-*"))
    no_text = json.loads(invoke(*common[:4], run, "--json", "--pool", labelled).stdout)
    assert no_text["problems"] == 3
    assert 0.0 <= no_text["ranked"]["pass@1"] <= no_text["oracle"]
    # an unlabelled pool is labelled first, beside it, then evaluated
    result = invoke(*common, "--pool", pool, "--workers", "2", "--no-cache")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["oracle"] == payload["oracle"]
    assert len(rows(tmp_path / "pool.labelled.jsonl")) == 12


def test_malformed_pool_line_is_reported_with_its_line(problems_file, tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        json.dumps({"task_id": "toy/uniq", "code": "x = 1", "passed": False})
        + "\n"
        + '{"task_id": "toy/uniq", "code": \n'
    )
    for command in (
        ["fit", "--train", pool, "--val", pool, "--out", tmp_path / "r"],
        ["eval", "--pool", pool, "--ranker", tmp_path],
    ):
        result = invoke(*command, "--problems", problems_file)
        assert result.exit_code == 1
        assert "pool.jsonl:2: malformed JSON" in result.output
        assert "Traceback" not in result.output


def test_unlabelled_training_pool_is_refused_with_advice(problems_file, tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(json.dumps({"task_id": "toy/uniq", "code": "x = 1"}) + "\n")
    result = invoke(
        "fit", "--train", pool, "--val", pool, "--out", tmp_path / "r", "--problems", problems_file
    )
    assert result.exit_code == 1 and "toppass-train label" in result.output


@pytest.mark.parametrize("widths", ["wide", "64,-1"])
def test_bad_head_widths_are_refused_before_any_training(problems_file, tmp_path, widths):
    pool = tmp_path / "pool.jsonl"
    pool.write_text(
        "".join(
            json.dumps({"task_id": "toy/uniq", "code": code, "passed": passed}) + "\n"
            for code, passed in (
                ("def uniq(xs):\n    return sorted(set(xs))\n", True),
                ("def uniq(xs):\n    return xs\n", False),
            )
        )
    )
    out = tmp_path / "r"
    result = invoke(
        "fit",
        "--train",
        pool,
        "--val",
        pool,
        "--out",
        out,
        "--problems",
        problems_file,
        "--no-text",
        "--features",
        "defects",
        "--head-hidden",
        widths,
    )
    assert result.exit_code == 1 and f"--head-hidden {widths!r}" in result.output
    assert not out.exists()


def test_split_by_task_is_stable_and_disjoint():
    from train.slates import Slate, split_by_task

    slates = [Slate(f"t/{i}", "p", (f"x = {i}",), (True,), (1,)) for i in range(200)]
    kept, held = split_by_task(slates, 0.2)
    assert {s.task_id for s in kept}.isdisjoint({s.task_id for s in held})
    assert len(kept) + len(held) == 200 and 20 <= len(held) <= 60
    assert [s.task_id for s in split_by_task(list(reversed(slates)), 0.2)[1]] == [
        s.task_id for s in reversed(held)
    ]


def test_fit_data_holds_out_problems_or_reads_a_validation_pool():
    from train.data import fit_data
    from train.jsonl import DataError
    from train.slates import Slate, SlateSet

    def pool(prefix: str) -> SlateSet:
        slates = [Slate(f"{prefix}/{i}", "p", (f"x = {i}",), (True,), (1,)) for i in range(50)]
        return SlateSet(slates=slates)

    problems: dict = {"t/0": object()}
    split = fit_data(problems, [Path("a")], None, 0.2, [], load=lambda p: pool("t"))
    assert split.train and split.val and not split.logged
    assert {s.task_id for s in split.train}.isdisjoint({s.task_id for s in split.val})
    assert len(split.train) + len(split.val) == 50
    read = fit_data(problems, [Path("a")], Path("b"), 0.0, [], load=lambda p: pool(str(p)))
    assert {s.task_id.split("/")[0] for s in read.val} == {"b"} and len(read.train) == 50
    with pytest.raises(DataError, match="--val-split"):
        fit_data(problems, [Path("a")], None, 0.0, [], load=lambda p: pool("t"))
    with pytest.raises(DataError, match="need --problems"):
        fit_data({}, [Path("a")], None, 0.2, [], load=lambda p: pool("t"))
    with pytest.raises(DataError, match="--feedback LOG"):
        fit_data(problems, [], None, 0.2, [], load=lambda p: pool("t"))


def test_progress_is_a_plain_line_at_intervals_where_stderr_is_not_a_terminal(monkeypatch):
    import io

    from train import cli

    clock = iter([0.0, 1.0, 11.0, 12.0, 30.0, 31.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock))
    out = io.StringIO()
    report = cli.plain_progress(out, every=10.0)
    for done in (0, 5, 50, 60, 100, 100):
        report("labelling", done, 100)
    assert out.getvalue().splitlines() == [
        "labelling: 0/100 (0%)",  # the first report
        "labelling: 50/100 (50%)",  # ten seconds on
        "labelling: 100/100 (100%)",  # done, once
    ]
