"""Likelihood signals as rankers: compute the coder / reviewer feature file of a labelled pool
and print ranked pass@k of ordering by each, beside random order, length and the oracle.

    python benchmarks/likelihood_signal.py --problems humaneval \
        --pool /work/scratch/pools/ldb-humaneval.relabelled.jsonl.gz \
        --out /work/scratch/features/likelihood-ldb-humaneval.jsonl [--json]

Programs are the slates' (`train.slates.build_slates`: prepared and deduplicated exactly as
in training); the feature file (`train.likelihood_features`) is written as problems finish and
a rerun resumes it. `--max-programs-per-task N` scores a stratified random subset of each
problem (passing and failing programs in their proportions, seed 0) and evaluates on it.
`--no-compute` only evaluates what the file already has (problems with every program scored).

Orderings: coder (log p(body | prompt)), reviewer (log p(docstring | code)), their sum, the
sum of their within-problem z-scores, longest first and shortest first; all are mean token
log-probabilities of `ranker.signals.likelihood` with the default SmolLM2-135M unless `--model`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from collections.abc import Sequence

from ranker.signals.likelihood import DEFAULT_BATCH_SIZE, LikelihoodScorer
from train.evaluate import Evaluation, evaluate_scores, length_correlation, length_scores
from train.likelihood_features import (
    compute_likelihood_features,
    feature_scores,
    program_sha,
    read_likelihood_features,
)
from train.loaders import load_problems
from train.pools import read_pool
from train.slates import Slate, build_slates

KS = (1, 2, 3, 5, 10)


def stratified_subset(slate: Slate, limit: int, seed: int = 0) -> Slate:
    """At most `limit` programs of a slate, passing and failing ones in proportion."""
    if len(slate.programs) <= limit:
        return slate
    rng = random.Random(f"{seed}:{slate.task_id}")
    passing = [i for i, label in enumerate(slate.labels) if label]
    failing = [i for i, label in enumerate(slate.labels) if not label]
    take_passing = round(limit * len(passing) / len(slate.programs))
    if passing and take_passing == 0:
        take_passing = 1
    if failing and take_passing == limit:
        take_passing = limit - 1
    keep = sorted(rng.sample(passing, take_passing) + rng.sample(failing, limit - take_passing))
    return Slate(
        slate.task_id,
        slate.problem,
        tuple(slate.programs[i] for i in keep),
        tuple(slate.labels[i] for i in keep),
        tuple(slate.counts[i] for i in keep),
    )


def zscores(values: Sequence[float]) -> list[float]:
    if len(values) < 2:
        return [0.0 for _ in values]
    mean, spread = statistics.fmean(values), statistics.pstdev(values)
    return [(v - mean) / spread if spread > 0 else 0.0 for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--out", required=True, help="feature file (JSONL), resumed if present")
    parser.add_argument("--model", default=None, help="model folder or .gguf (default SmolLM2)")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16", "int8"])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--max-programs-per-task", type=int, default=None)
    parser.add_argument("--no-compute", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    problems = load_problems(args.problems)
    slates = build_slates(read_pool(args.pool), problems).slates
    if args.max_programs_per_task:
        slates = [stratified_subset(s, args.max_programs_per_task) for s in slates]
    total = sum(len(s.programs) for s in slates)
    print(f"{len(slates)} problems, {total} distinct programs", file=sys.stderr)

    if args.no_compute:
        rows = read_likelihood_features(args.out)
    else:
        scorer = LikelihoodScorer(args.model, precision=args.precision, batch_size=args.batch_size)
        scorer.load()
        print(f"model loaded in {scorer.load_seconds:.1f} s", file=sys.stderr)
        started = time.monotonic()

        def progress(done: int, count: int, scored: int) -> None:
            if done % 10 == 0 or done == count:
                rate = (time.monotonic() - started) / max(scored, 1)
                print(
                    f"{done}/{count} problems, {scored} programs scored ({rate:.2f} s/program)",
                    file=sys.stderr,
                    flush=True,
                )

        rows = compute_likelihood_features(slates, problems, scorer, args.out, progress)

    complete = [s for s in slates if all((s.task_id, program_sha(p)) in rows for p in s.programs)]
    if not complete:
        raise SystemExit(f"{args.out}: no problem has all its programs scored")
    coder = feature_scores(complete, rows, "coder")
    reviewer = feature_scores(complete, rows, "reviewer")
    assert coder is not None and reviewer is not None
    orderings = {
        "coder": coder,
        "reviewer": reviewer,
        "coder+reviewer": [
            [c + r for c, r in zip(cs, rs, strict=True)]
            for cs, rs in zip(coder, reviewer, strict=True)
        ],
        "z(coder)+z(reviewer)": [
            [c + r for c, r in zip(zscores(cs), zscores(rs), strict=True)]
            for cs, rs in zip(coder, reviewer, strict=True)
        ],
        "longest first": length_scores(complete),
        "shortest first": [[-x for x in xs] for xs in length_scores(complete)],
    }
    evaluations = {
        name: evaluate_scores(name, complete, scores, ks=KS) for name, scores in orderings.items()
    }
    correlations = {
        name: length_correlation(complete, scores) for name, scores in orderings.items()
    }
    print_table(args.pool, complete, len(slates), evaluations, correlations, args.json)


def print_table(
    pool: str,
    slates: Sequence[Slate],
    all_problems: int,
    evaluations: dict[str, Evaluation],
    correlations: dict[str, float],
    as_json: bool,
) -> None:
    first = next(iter(evaluations.values()))
    if as_json:
        result = {
            "pool": pool,
            "problems": len(slates),
            "problems_in_pool": all_problems,
            "programs": sum(len(s.programs) for s in slates),
            "random": {f"pass@{k}": round(v, 4) for k, v in first.random.items()},
            "oracle": round(first.oracle, 4),
            "ranked": {name: e.to_json()["ranked"] for name, e in evaluations.items()},
            "ranked_ci95": {name: e.to_json()["ranked_ci95"] for name, e in evaluations.items()},
            "length_spearman": {name: round(c, 3) for name, c in correlations.items()},
        }
        print(json.dumps(result))
        return
    print(
        f"{pool}: {len(slates)} of {all_problems} problems fully scored, "
        f"{sum(len(s.programs) for s in slates)} distinct programs"
    )
    print("| ordering | pass@1 | pass@3 | pass@5 | pass@1 95% CI | Spearman with length |")
    print("|---|---|---|---|---|---|")
    print(f"| random | {first.random[1]:.3f} | {first.random[3]:.3f} | {first.random[5]:.3f} | | |")
    for name, e in evaluations.items():
        lo, hi = e.ranked_ci95[1]
        print(
            f"| {name} | {e.ranked[1]:.3f} | {e.ranked[3]:.3f} | {e.ranked[5]:.3f} "
            f"| {lo:.3f}-{hi:.3f} | {correlations[name]:+.2f} |"
        )
    print(f"| oracle | {first.oracle:.3f} | | | | |")


if __name__ == "__main__":
    main()
