"""The fused ranker, end to end through the CLI: train it with `toppass-train fit` for several
seeds (text + feature groups, pass@k loss, group dropout, checkpoint picked on held-out
*training* problems), then measure it with `toppass-train eval --json` on each evaluation
pool, every baseline in the same run, in three settings:

    served          execution features on, one program per behaviour cluster first
    no diversity    execution features on, plain score order
    execution-free  nothing runs: the head sees only text (and likelihood features if
                    trained with them), served with static defects last and sample counts
                    added; with likelihood files, the reviewer score in the text score's
                    place (ranker.order)

    python benchmarks/fused_ranker.py --work /tmp/fused \\
        --train mbpp=../shared/data/mbpp/mbpp.jsonl.gz:POOL.jsonl.gz \\
        --eval humaneval:ldb-humaneval.relabelled.jsonl.gz \\
        --eval canaicode=problems.jsonl:pool.jsonl \\
        [--features execution,likelihood --likelihood FILE ...] [--seeds 0,1,2] \
        [--fit-args "--text-without-execution --group-dropout 0.5"] [--name NAME] [--json]

`--train`/`--eval` take `[NAME=]PROBLEMS:POOL` (PROBLEMS as `--problems` takes it). Every
likelihood feature file is passed to eval (served rankings break execution ties by the
reviewer score where it is known) and, when the rankers have the likelihood feature group,
to fit; rows join by program, so one file per pool is enough. Runs are kept under `--work` and reused when rerun (fit resumes).
Besides pass@k, it reports what the execution-free scores share with program length and
with each likelihood feature (mean within-problem Spearman), so a score can be read as what
it learned, not only how well it did. Figures: docs/results.md and the default ranker's
model card (ranker/weights/default/README.md), which has the full tables and commands.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

SETTINGS = {
    "served": [],
    "no diversity": ["--no-diverse"],
    "execution-free": ["--no-execution"],
}
KS = ("pass@1", "pass@3", "pass@5")


def toppass_train(*args: str | Path) -> str:
    command = [sys.executable, "-m", "train.cli", *[str(a) for a in args]]
    print("$ toppass-train " + " ".join(str(a) for a in args), file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"toppass-train {args[0]} failed (exit {done.returncode})")
    return done.stdout


def parse_pool(spec: str) -> tuple[str, str, str]:
    name, rest = "", spec
    head, equals, tail = spec.partition("=")
    if equals and ":" not in head and "/" not in head:
        name, rest = head, tail
    problems, _, pool = rest.rpartition(":")
    if not problems or not pool:
        raise SystemExit(f"{spec!r}: expected [NAME=]PROBLEMS:POOL")
    return name or Path(pool).name.split(".")[0], problems, pool


def rankers_or_shipped(paths: list[str] | None) -> list[str]:
    """The ranker directories given, else the shipped default's."""
    if paths:
        return paths
    from ranker.model.shipped import default_ranker_path

    shipped = default_ranker_path()
    if shipped is None:
        raise SystemExit("no default ranker is shipped in this install; pass --ranker")
    return [str(shipped)]


def train(args: argparse.Namespace, seeds: list[int]) -> list[Path]:
    _, problems, pool = parse_pool(args.train)
    runs = []
    for seed in seeds:
        out = args.work / f"{args.name}-seed{seed}"
        command: list[str | Path] = ["fit", "--problems", problems, "--train", pool]
        command += ["--val-split", str(args.val_split), "--out", out, "--seed", str(seed)]
        command += ["--epochs", str(args.epochs), "--device", "cpu"]
        if args.features:
            command += ["--features", args.features]
        if "likelihood" in args.features.split(","):
            for path in args.likelihood or []:
                command += ["--likelihood", path]
        toppass_train(*command, *args.fit_args)
        runs.append(out)
    return runs


def evaluate(args: argparse.Namespace, runs: list[Path], spec: str) -> dict[str, Any]:
    _, problems, pool = parse_pool(spec)
    results = {}
    for setting, flags in SETTINGS.items():
        command: list[str | Path] = ["eval", "--problems", problems, "--pool", pool, "--json"]
        for run in runs:
            command += ["--ranker", run]
        for path in args.likelihood or []:
            command += ["--likelihood", path]
        command += ["--bootstrap", "0", "--device", "cpu", *flags]
        results[setting] = json.loads(toppass_train(*command))
    return results


def learned(args: argparse.Namespace, runs: list[Path], spec: str) -> dict[str, float]:
    """What the first seed's execution-free served scores (`ranker.order`) share
    with length, sample count and the likelihood features, and what its head's text score
    alone shares with length."""
    import math

    from ranker.model.ranker import Ranker
    from train.evaluate import length_correlation, served_slate_scores, within_problem_correlation
    from train.fit import FitConfig
    from train.likelihood_features import feature_scores, read_likelihood_features
    from train.loaders import load_problems
    from train.pools import read_pool
    from train.scoring import ranker_scores
    from train.slates import build_slates

    _, problems, pool = parse_pool(spec)
    problem_set = load_problems(problems)
    slates = build_slates(read_pool(pool), problem_set).slates
    signals: dict[str, Any] = {}
    rows: dict[Any, Any] = {}
    for path in args.likelihood or []:
        rows.update(read_likelihood_features(path))
    if rows:
        from train.signals import with_likelihood

        signals = with_likelihood(slates, {}, rows)
    head = ranker_scores(
        Ranker.from_pretrained(runs[0], device="cpu"),
        slates,
        signals=signals,
        cache_dir=FitConfig().cache_dir,
    )
    scores = served_slate_scores(slates, head, signals, problem_set)
    counts = [[math.log(c) for c in slate.counts] for slate in slates]
    out = {
        "head score ~ length": length_correlation(slates, head),
        "length": length_correlation(slates, scores),
        "log count": within_problem_correlation(slates, scores, counts),
    }
    for field in ("coder", "reviewer"):
        values = feature_scores(slates, rows, field) if rows else None
        if values is not None:
            out[field] = within_problem_correlation(slates, scores, values)
    return out


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for setting, payload in results.items():
        rankers = [payload, *payload["others"]]
        row: dict[str, Any] = {"ordering": f"fused ranker, {setting}"}
        for k in KS:
            values = [r["ranked"][k] for r in rankers]
            row[k] = statistics.fmean(values)
            row[k + " sd"] = statistics.pstdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    served = results["served"]
    for name, ranked in served["baselines"].items():
        label = "execution baseline (no learning), served" if name == "execution" else name
        rows.append({"ordering": label, **{k: ranked[k] for k in KS}})
    plain = results["no diversity"]["baselines"].get("execution")
    if plain is not None:
        rows.append({"ordering": "execution baseline, no diversity", **{k: plain[k] for k in KS}})
    rows.append({"ordering": "random (unbiased)", **{k: served["random"][k] for k in KS}})
    rows.append({"ordering": "oracle", **{k: served["oracle"] for k in KS}})
    return rows


def print_markdown(name: str, results: dict[str, Any], correlations: dict[str, float]) -> None:
    served = results["served"]
    print(f"\n### {name}: {served['problems']} problems, {served['candidates']} programs")
    visible = served["settings"]["problems_with_visible_tests"]
    print(f"({visible} with visible tests; rankers: mean ± sd over {1 + len(served['others'])})\n")
    print("| ordering | " + " | ".join(KS) + " |")
    print("|---|" + "---|" * len(KS))
    for row in summary(results):
        cells = []
        for k in KS:
            sd = row.get(k + " sd")
            cells.append(f"{row[k]:.3f}" + (f" ± {sd:.3f}" if sd is not None else ""))
        print(f"| {row['ordering']} | " + " | ".join(cells) + " |")
    described = ", ".join(f"{k} {v:+.2f}" for k, v in correlations.items())
    print(f"\nExecution-free served scores (first seed), within-problem Spearman: {described}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--train", required=True, help="[NAME=]PROBLEMS:POOL")
    parser.add_argument("--eval", action="append", required=True, help="[NAME=]PROBLEMS:POOL")
    parser.add_argument("--features", default="execution")
    parser.add_argument("--name", default="fused", help="run folders: <work>/<name>-seed<N>")
    parser.add_argument(
        "--fit-args", default="", help='more fit options, e.g. "--group-dropout 0.5"'
    )
    parser.add_argument("--likelihood", action="append", type=Path)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--val-split", type=float, default=0.2)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    args.fit_args = args.fit_args.split()
    args.work.mkdir(parents=True, exist_ok=True)
    runs = train(args, [int(s) for s in args.seeds.split(",")])
    report = {}
    for spec in args.eval:
        name = parse_pool(spec)[0]
        results = evaluate(args, runs, spec)
        correlations = learned(args, runs, spec)
        report[name] = {"results": results, "execution_free_correlations": correlations}
        if not args.json:
            print_markdown(name, results, correlations)
    if args.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
