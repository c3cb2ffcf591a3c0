"""What CodeT-style test inputs proposed by a model (`probeInputs`) add to ranking, measured
with EvalPlus's generated inputs standing in for a capable model's proposals.

A model asked for test inputs (`generation.provider.SamplingPrompt.inputs`) replies with calls;
`ranker.examples.proposed.proposed_calls` keeps those with literal arguments, and they run after
the examples (and derived inputs), unjudged: candidates that compute the same on them agree.
No model that writes useful inputs runs on this machine (SmolLM2-135M writes calls of the
wrong types), so the stand-in is HumanEval+'s / MBPP+'s `plus_input`: inputs EvalPlus
generated with ChatGPT and type-aware mutation. They are an *optimistic* stand-in: EvalPlus
showed ChatGPT the reference solution, and kept only inputs valid for it. The expected values
are never used. Each problem gets its first `--k` such inputs (calls of at most 120
characters), written as a model's reply and read back by `proposed_calls`, as the server does.

Two settings per pool: with the problem's examples (as served), and with the examples
withheld (a function without examples: typed inputs where its parameters are annotated,
then the proposed ones). Each row is served pass@k, mean over the rankers given, with the
no-learning execution baseline beside it.

    python benchmarks/proposed_inputs.py \\
        --eval ldb-humaneval=humaneval:ldb-humaneval.relabelled.jsonl.gz \\
        --inputs ../shared/data/humaneval-plus/HumanEvalPlus.jsonl.gz \\
        [--inputs ../shared/data/mbpp/MbppPlus.jsonl.gz] [--k 8] [--ranker DIR ...] [--json]

Runs are cached in the default visible-runs cache; embeddings in `toppass-train fit`'s cache.
Figures: docs/results.md, "Test inputs a model proposes".
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
import statistics
import sys
from pathlib import Path
from typing import Any

# benchmarks/ is on the path when run as a script
from fused_ranker import parse_pool, rankers_or_shipped

KS = (1, 3, 5)
MAX_CALL = 120


def read_inputs(paths: list[Path], k: int) -> dict[str, str]:
    """task id -> a model-style reply holding the first `k` EvalPlus inputs as calls."""
    replies: dict[str, str] = {}
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                calls: list[str] = []
                for args in record.get("plus_input", []):
                    call = f"{record['entry_point']}({', '.join(repr(a) for a in args)})"
                    if len(call) <= MAX_CALL and call not in calls:
                        calls.append(call)
                    if len(calls) >= k:
                        break
                task_id = record["task_id"].replace("Mbpp/", "MBPP/")
                replies[task_id] = "```python\n" + "\n".join(calls) + "\n```"
    return replies


def measure(spec: str, replies: dict[str, str], k: int, rankers: list[str]) -> dict[str, Any]:
    from ranker.examples.proposed import proposed_calls
    from ranker.model.ranker import Ranker
    from train.evaluate import diversity_of, evaluate_scores, execution_scores, served_slate_scores
    from train.fit import FitConfig
    from train.loaders import load_problems
    from train.pools import read_pool
    from train.scoring import ranker_scores
    from train.signals import execution_signals
    from train.slates import build_slates

    name, problems_spec, pool = parse_pool(spec)
    every = load_problems(problems_spec)
    problems = {
        task_id: problem
        for task_id, problem in every.items()
        if problem.entry_point and task_id in replies
    }
    slates = [s for s in build_slates(read_pool(pool), every).slates if s.task_id in problems]
    if not slates:
        raise SystemExit(f"{name}: no problem has proposed inputs")
    proposed = {
        task_id: tuple(proposed_calls([replies[task_id]], problem.entry_point or "", limit=k))
        for task_id, problem in problems.items()
    }
    settings = {
        "examples": problems,
        "examples withheld": {
            t: dataclasses.replace(p, visible_tests=()) for t, p in problems.items()
        },
    }
    loaded = [Ranker.from_pretrained(path, device="cpu") for path in rankers]
    cache = FitConfig().cache_dir
    rows: dict[str, dict[str, list[dict[int, float]]]] = {}
    for setting, base in settings.items():
        with_model = {
            t: dataclasses.replace(p, proposed_inputs=proposed[t]) for t, p in base.items()
        }
        for label, chosen in (("without", base), (f"+{k} proposed", with_model)):
            print(f"{name}: {setting}, {label}", file=sys.stderr, flush=True)
            signals = execution_signals(slates, chosen)
            diversity = diversity_of(slates, signals).arguments()
            heads = [
                ranker_scores(ranker, slates, signals=signals, cache_dir=cache) for ranker in loaded
            ]
            results = [
                evaluate_scores(
                    "x",
                    slates,
                    served_slate_scores(slates, scores, signals, chosen),
                    ks=KS,
                    bootstrap=0,
                    **diversity,
                ).ranked
                for scores in [*heads, execution_scores(slates, signals)]
            ]
            rows[f"{setting}, {label}"] = {"ranker": results[:-1], "baseline": results[-1:]}
    reference = evaluate_scores("random", slates, [[0.0] * len(s.programs) for s in slates], KS, 0)
    counts = [len(calls) for calls in proposed.values()]
    return {
        "name": name,
        "problems": len(slates),
        "mean_proposed": statistics.fmean(counts),
        "rows": {
            label: {
                who: {f"pass@{k}": [round(r[k], 4) for r in results] for k in KS}
                for who, results in row.items()
            }
            for label, row in rows.items()
        },
        "random": {f"pass@{k}": round(reference.random[k], 4) for k in KS},
        "oracle": round(reference.oracle, 4),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### {result['name']}: {result['problems']} problems, "
        f"{result['mean_proposed']:.1f} proposed inputs each on average",
        "",
        "| setting | "
        + " | ".join(f"ranker pass@{k}" for k in KS)
        + " | baseline pass@1 | baseline pass@3 |",
        "|---|" + "---|" * (len(KS) + 2),
    ]
    for label, row in result["rows"].items():
        cells = []
        for k in KS:
            runs = row["ranker"][f"pass@{k}"]
            spread = f" ± {statistics.pstdev(runs):.3f}" if len(runs) > 1 else ""
            cells.append(f"{statistics.fmean(runs):.3f}{spread}")
        cells += [f"{row['baseline'][f'pass@{k}'][0]:.3f}" for k in (1, 3)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    random = result["random"]
    lines.append(f"\nrandom pass@1 {random['pass@1']:.3f}, oracle {result['oracle']:.3f}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", action="append", required=True, help="[NAME=]PROBLEMS:POOL")
    parser.add_argument(
        "--inputs", action="append", required=True, type=Path, help="HumanEval+/MBPP+ JSONL"
    )
    parser.add_argument("--k", type=int, default=8, help="proposed inputs per problem")
    parser.add_argument("--ranker", action="append", help="ranker dir (default: shipped)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rankers = rankers_or_shipped(args.ranker)
    replies = read_inputs(args.inputs, args.k)
    for spec in args.eval:
        result = measure(spec, replies, args.k, rankers)
        print(json.dumps(result) if args.json else table(result), flush=True)


if __name__ == "__main__":
    main()
