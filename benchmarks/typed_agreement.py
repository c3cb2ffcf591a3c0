"""Ranking a function whose docstring has no examples: what running the candidates on inputs
built from its parameter types (`ranker.examples.typed.typed_calls`, unjudged, agreement only)
adds over ranking without execution.

Most functions in real code carry no docstring examples. To measure that case on labelled
pools, every problem whose prompt annotates its parameters is taken *with its examples
withheld*: the candidates run only on typed inputs, and the served order is
`ranker.order`'s with behaviour counts in place of sample counts, the top k
apportioned among behaviour clusters by agreement. The same problems with their examples
(judged, as served) are shown for reference; random and oracle as always.

    python benchmarks/typed_agreement.py \\
        --eval ldb-humaneval=humaneval:ldb-humaneval.relabelled.jsonl.gz \\
        --eval canaicode=problems.jsonl:pool.jsonl [--ranker DIR ...] [--json]

`--eval` takes `[NAME=]PROBLEMS:POOL` as `benchmarks/fused_ranker.py` does. Runs are cached
in the default visible-runs cache; embeddings in `toppass-train fit`'s cache. Figures:
docs/results.md, "A function without examples: typed inputs".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from typing import Any

# benchmarks/ is on the path when run as a script
from fused_ranker import parse_pool, rankers_or_shipped

KS = (1, 3, 5)


def measure(spec: str, rankers: list[str]) -> dict[str, Any]:
    from ranker.model.ranker import Ranker
    from ranker.signals.execution import typed_probes
    from train.evaluate import (
        diversity_of,
        evaluate_scores,
        execution_scores,
        sample_count_scores,
        served_slate_scores,
    )
    from train.fit import FitConfig
    from train.loaders import load_problems
    from train.pools import read_pool
    from train.scoring import ranker_scores
    from train.signals import execution_signals
    from train.slates import build_slates

    name, problems_spec, pool = parse_pool(spec)
    problems = load_problems(problems_spec)
    typed = {
        task_id: problem
        for task_id, problem in problems.items()
        if problem.entry_point and typed_probes(problem.prompt, problem.entry_point)
    }
    slates = [s for s in build_slates(read_pool(pool), problems).slates if s.task_id in typed]
    if not slates:
        raise SystemExit(f"{name}: no problem with typed parameters")
    withheld = {t: dataclasses.replace(p, visible_tests=()) for t, p in typed.items()}
    print(f"{name}: {len(slates)} problems with typed parameters", file=sys.stderr, flush=True)
    agreement = execution_signals(slates, withheld)
    examples = execution_signals(slates, typed)
    examples = {t: s for t, s in examples.items() if s.execution and s.execution.judged}

    def score(label: str, scores: list[list[float]], signals: dict[str, Any]) -> dict[int, float]:
        diversity = diversity_of(slates, signals).arguments()
        result = evaluate_scores(label, slates, scores, ks=KS, bootstrap=0, **diversity)
        return result.ranked

    rows: dict[str, list[dict[int, float]]] = {}
    for path in rankers:
        ranker = Ranker.from_pretrained(path, device="cpu")
        cache = FitConfig().cache_dir
        text = ranker_scores(ranker, slates, cache_dir=cache)
        rows.setdefault("ranker, execution-free", []).append(
            score("free", served_slate_scores(slates, text, {}, problems), {})
        )
        rows.setdefault("ranker, typed inputs (agreement)", []).append(
            score("typed", served_slate_scores(slates, text, agreement, problems), agreement)
        )
        judged = ranker_scores(ranker, slates, signals=examples, cache_dir=cache)
        rows.setdefault("ranker, with the examples (reference)", []).append(
            score("examples", served_slate_scores(slates, judged, examples, problems), examples)
        )
    rows["sample-count (no learning)"] = [score("count", sample_count_scores(slates, problems), {})]
    rows["typed inputs, no learning"] = [
        score(
            "typed-baseline",
            served_slate_scores(slates, execution_scores(slates, agreement), agreement, problems),
            agreement,
        )
    ]
    reference = evaluate_scores("random", slates, [[0.0] * len(s.programs) for s in slates], KS, 0)
    clusters = [len(set(s.execution.clusters)) for s in agreement.values() if s.execution]
    return {
        "name": name,
        "problems": len(slates),
        "ran": len(agreement),
        "mean_clusters": statistics.fmean(clusters) if clusters else 0.0,
        "rows": {
            label: {f"pass@{k}": [round(r[k], 4) for r in results] for k in KS}
            for label, results in rows.items()
        },
        "random": {f"pass@{k}": round(reference.random[k], 4) for k in KS},
        "oracle": round(reference.oracle, 4),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        f"### {result['name']}: {result['problems']} problems with typed parameters "
        f"(mean {result['mean_clusters']:.1f} behaviour clusters on typed inputs)",
        "",
        "| ordering | " + " | ".join(f"pass@{k}" for k in KS) + " |",
        "|---|" + "---|" * len(KS),
    ]
    for label, values in result["rows"].items():
        cells = []
        for k in KS:
            runs = values[f"pass@{k}"]
            spread = f" ± {statistics.pstdev(runs):.3f}" if len(runs) > 1 else ""  # as fused_ranker
            cells.append(f"{statistics.fmean(runs):.3f}{spread}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("| random | " + " | ".join(f"{v:.3f}" for v in result["random"].values()) + " |")
    lines.append("| oracle | " + " | ".join(f"{result['oracle']:.3f}" for _ in KS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", action="append", required=True, help="[NAME=]PROBLEMS:POOL")
    parser.add_argument("--ranker", action="append", help="ranker dir (default: shipped)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rankers = rankers_or_shipped(args.ranker)
    results = [measure(spec, rankers) for spec in args.eval]
    if args.json:
        print(json.dumps(results))
        return
    for result in results:
        print(table(result))


if __name__ == "__main__":
    main()
