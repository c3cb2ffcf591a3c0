"""Cross-model ranker study (issue 25): train rankers on one generator's i.i.d. samples,
choose the variant on pools from *other* generators, report every pool, execution-free and
with execution, with each baseline in the same run and paired bootstrap intervals.

    python benchmarks/cross_model_ranker.py --out runs/cross-model \\
        --train mbpp:runs/smollm2/labelled.jsonl [--train mbpp:runs/ldb-mbpp.relabelled.jsonl.gz] \\
        --hold-out 0.3 \\
        --select mbpp-seeds=mbpp:runs/mbpp-seeds.jsonl \\
        --select canaicode=runs/canaicode/problems.jsonl:runs/canaicode/pool.jsonl \\
        --report he-seeds=humaneval:runs/he-seeds.jsonl \\
        --report ldb-humaneval=humaneval:runs/ldb-humaneval.relabelled.jsonl.gz \\
        [--variants passk,bce,...] [--seeds 0,1,2] [--compare ranker/weights/default] \\
        [--json runs/cross-model/results.json]

A pool argument is `[name=]problems:pool` (problems as `toppass-train` takes them: a set name
or a JSONL path). Problems any --train pool holds are dropped from the --select and --report
pools (another generator's answers to a training problem would measure the problem, not the
generator). The first --train pool is split by task id: --hold-out of its problems never
train and are reported as "<name>-held-out" (the training generator on unseen problems).
Everything runs through `toppass-train fit` and `toppass-train eval --json`, so each figure
is reproducible with those commands; run directories under --out are reused (fit resumes,
eval results are kept as JSON), so an interrupted study continues where it stopped.

How the pools are made (none is in the repository): docs/results.md, "The pools".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from train.jsonl import read_jsonl

FEATURES = "sampling,agreement,defects,execution,generator"
VARIANTS: dict[str, list[str]] = {
    # feature groups alone, the pass@k loss: what the issue asks to earn its place
    "passk": ["--no-text", "--features", FEATURES, "--served", "learned"],
    # the same features and head, pointwise BCE (CodeRanker's loss)
    "bce": ["--no-text", "--features", FEATURES, "--served", "learned", "--loss", "bce"],
    # the features through a linear head: its weights are all it weighs
    "passk-linear": [
        "--no-text",
        "--features",
        FEATURES,
        "--served",
        "learned",
        "--head-hidden",
        "",
    ],
    # the text beside the features, read only where nothing ran
    "passk-text": [
        "--text",
        "--features",
        FEATURES,
        "--served",
        "learned",
        "--text-without-execution",
    ],
}
KS = ("pass@1", "pass@5")


@dataclass(frozen=True)
class PoolSpec:
    name: str
    problems: str
    pool: Path

    @classmethod
    def parse(cls, text: str) -> PoolSpec:
        name, _, rest = text.rpartition("=") if "=" in text else ("", "", text)
        problems, _, pool = rest.rpartition(":")
        if not problems or not pool:
            raise SystemExit(f"pool {text!r}: expected [name=]problems:pool")
        path = Path(pool)
        return cls(name or path.name.split(".")[0], problems, path)


def toppass_train(*args: str) -> str:
    """Run `toppass-train` with these arguments; its stdout (progress goes to stderr)."""
    command = [sys.executable, "-c", "from train.cli import main; main()", *args]
    print("+ toppass-train " + " ".join(args), file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"toppass-train {args[0]} failed with exit status {done.returncode}")
    return done.stdout


def split_pool(spec: PoolSpec, fraction: float, out: Path) -> tuple[PoolSpec, PoolSpec]:
    """The pool's rows split by a hash of the task id: (training part, held-out part)."""
    train_path, held_path = out / f"{spec.name}-train.jsonl", out / f"{spec.name}-held-out.jsonl"
    if not held_path.exists():
        out.mkdir(parents=True, exist_ok=True)
        with train_path.open("w") as train, held_path.open("w") as held:
            for _, row in read_jsonl(spec.pool):
                digest = hashlib.sha256(str(row["task_id"]).encode()).digest()
                target = held if digest[0] / 256 < fraction else train
                target.write(json.dumps(row) + "\n")
    return (
        PoolSpec(spec.name, spec.problems, train_path),
        PoolSpec(f"{spec.name}-held-out", spec.problems, held_path),
    )


def unseen(spec: PoolSpec, seen: set[str], out: Path) -> PoolSpec:
    """`spec` without the problems a ranker trained on: a pool of another generator on the
    same problem set (mbpp-seeds beside SmolLM2's MBPP answers) measures the generator, not
    problems the ranker has met. The pool itself where it shares none."""
    rows = [row for _, row in read_jsonl(spec.pool)]
    if not any(str(row["task_id"]) in seen for row in rows):
        return spec
    if all(str(row["task_id"]) in seen for row in rows):
        raise SystemExit(
            f"{spec.name}: every problem of {spec.pool} is a training problem; measure another "
            "generator's answers to other problems (e.g. train on one set, select on another)"
        )
    path = out / f"{spec.name}-unseen.jsonl"
    if not path.exists():
        out.mkdir(parents=True, exist_ok=True)
        with path.open("w") as handle:
            for row in rows:
                if str(row["task_id"]) not in seen:
                    handle.write(json.dumps(row) + "\n")
    return PoolSpec(spec.name, spec.problems, path)


def task_ids(specs: list[PoolSpec]) -> set[str]:
    return {str(row["task_id"]) for spec in specs for _, row in read_jsonl(spec.pool)}


def fit(
    out: Path, variant: str, seed: int, train: list[PoolSpec], val: PoolSpec, epochs: int
) -> Path:
    run = out / "rankers" / f"{variant}-seed{seed}"
    if (run / "metrics.json").exists():
        return run
    problems = sorted({spec.problems for spec in [*train, val]})
    args = ["fit", "--out", str(run), "--val", str(val.pool), "--seed", str(seed)]
    args += ["--epochs", str(epochs)]
    for spec in train:
        args += ["--train", str(spec.pool)]
    for name in problems:
        args += ["--problems", name]
    toppass_train(*args, *VARIANTS[variant])
    return run


def evaluate(out: Path, spec: PoolSpec, rankers: list[Path], execution: bool) -> dict[str, Any]:
    mode = "execution" if execution else "execution-free"
    path = out / "eval" / f"{spec.name}.{mode}.json"
    if path.exists():
        saved = json.loads(path.read_text())
        if saved.get("rankers") == [str(r) for r in rankers]:
            return saved["result"]
    args = ["eval", "--problems", spec.problems, "--pool", str(spec.pool), "--json"]
    args += ["--no-offered", "--execution" if execution else "--no-execution"]
    for ranker in rankers:
        args += ["--ranker", str(ranker)]
    result = json.loads(toppass_train(*args))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"rankers": [str(r) for r in rankers], "result": result}))
    return result


def ranked(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each ranker's and baseline's ranked pass@k in one eval result."""
    rows = {result["ranker"]: result["ranked"]}
    rows.update({other["ranker"]: other["ranked"] for other in result["others"]})
    rows.update(result["baselines"])
    rows["random"] = result["random"]
    rows["oracle"] = {k: result["oracle"] for k in result["random"]}
    return rows


def variant_means(
    results: dict[str, dict[str, Any]], runs: dict[str, list[Path]]
) -> dict[str, float]:
    """Mean pass@1 over seeds and over the given eval results, per variant."""
    means = {}
    for variant, paths in runs.items():
        values = [ranked(result)[str(p)]["pass@1"] for result in results.values() for p in paths]
        means[variant] = statistics.fmean(values)
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", action="append", required=True, type=PoolSpec.parse)
    parser.add_argument("--hold-out", type=float, default=0.3)
    parser.add_argument("--select", action="append", required=True, type=PoolSpec.parse)
    parser.add_argument("--report", action="append", default=[], type=PoolSpec.parse)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        type=Path,
        help="a saved ranker evaluated beside the study's (e.g. ranker/weights/default)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    seeds = [int(s) for s in args.seeds.split(",")]

    first, held_out = split_pool(args.train[0], args.hold_out, args.out / "pools")
    train = [first, *args.train[1:]]
    seen = task_ids(train)
    args.select = [unseen(spec, seen, args.out / "pools") for spec in args.select]
    args.report = [unseen(spec, seen, args.out / "pools") for spec in args.report]
    val = args.select[0]  # picks each run's epoch; the variant is picked on every --select
    runs = {v: [fit(args.out, v, s, train, val, args.epochs) for s in seeds] for v in variants}
    every = [path for paths in runs.values() for path in paths] + args.compare

    study: dict[str, Any] = {"selection": {}, "report": {}}
    for execution in (False, True):
        mode = "execution" if execution else "execution-free"
        selection = {spec.name: evaluate(args.out, spec, every, execution) for spec in args.select}
        study["selection"][mode] = variant_means(selection, runs)
        for spec in [*args.select, held_out, *args.report]:
            result = selection.get(spec.name) or evaluate(args.out, spec, every, execution)
            study["report"].setdefault(spec.name, {})[mode] = {
                "ranked": ranked(result),
                "versus": result["versus"],
                "problems": result["problems"],
                "candidates": result["candidates"],
            }
    scores = {
        v: statistics.fmean(study["selection"][m][v] for m in study["selection"]) for v in variants
    }
    study["chosen"] = max(scores, key=lambda v: scores[v])
    study["runs"] = {v: [str(p) for p in paths] for v, paths in runs.items()}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(study, indent=2) + "\n")
    print(markdown(study))


def markdown(study: dict[str, Any]) -> str:
    """One table per pool and mode: each variant's mean over seeds (min-max), the baselines,
    and the chosen variant's paired difference to sample count / the execution order."""
    lines = [f"chosen on the selection pools: **{study['chosen']}**", ""]
    for pool, modes in study["report"].items():
        for mode, data in modes.items():
            lines += [
                f"### {pool}, {mode} ({data['problems']} problems, "
                f"{data['candidates']} distinct programs)",
                "",
                "| order | " + " | ".join(KS) + " |",
                "|---|" + "---|" * len(KS),
            ]
            rows = data["ranked"]
            for variant, paths in study["runs"].items():
                cells = []
                for k in KS:
                    values = [rows[p][k] for p in paths]
                    cells.append(
                        f"{statistics.fmean(values):.3f} ({min(values):.3f}-{max(values):.3f})"
                    )
                lines.append(f"| {variant} | " + " | ".join(cells) + " |")
            named = {p for paths in study["runs"].values() for p in paths}
            for name, values in rows.items():
                if name not in named:
                    lines.append(f"| {name} | " + " | ".join(f"{values[k]:.3f}" for k in KS) + " |")
            baseline = "execution" if mode == "execution" else "sample-count"
            for variant, paths in study["runs"].items():
                deltas = [data["versus"][p][baseline] for p in paths]
                cells = []
                for k in KS:
                    d, lo, hi = deltas[0][k]
                    cells.append(f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
                lines.append(f"| {variant} (seed 0) − {baseline} | " + " | ".join(cells) + " |")
            lines.append("")
    lines += ["### What each variant weighs (seed 0, on its validation problems)", ""]
    for variant, paths in study["runs"].items():
        weighs = json.loads((Path(paths[0]) / "metrics.json").read_text()).get("weighs")
        if weighs:
            lines += [f"**{variant}**: " + probe_line(weighs), ""]
    return "\n".join(lines)


def probe_line(weighs: dict[str, Any], top: int = 6) -> str:
    """The largest weights of a ranker's linear probe (`train.probe`), on one line."""
    ranked = sorted(weighs["weights"].items(), key=lambda item: -abs(item[1]))[:top]
    return f"R² {weighs['r2']:.2f}; " + ", ".join(f"{name} {w:+.2f}" for name, w in ranked)


if __name__ == "__main__":
    main()
