"""A cross-model pool without debugging iterations, from a (re-labelled) LDB pool: one row per
*seed* sample, i.e. each model's first answer to each problem (HumanEval: CodeLlama,
GPT-3.5, GPT-4, StarCoder and Reflexion seeds, five per problem; MBPP: three).

The LDB pools hold every program LDB's repair loop produced, once each: later iterations are
longer and more often correct, and a program merged from several unchanged iterations is
usually a failed one. A seed pool keeps only independent samples (rows say `independent`, so
a ranker's sampling features count them), so its duplicates are models agreeing and its length bias is what different models write. Used to measure
execution-free ranking on candidates from models the ranker was not trained on:

    python benchmarks/ldb_seed_pool.py runs/ldb-humaneval.relabelled.jsonl.gz runs/he-seeds.jsonl
    toppass-train eval --problems humaneval --pool runs/he-seeds.jsonl --no-execution

Figures on this pool: docs/results.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from train.jsonl import read_jsonl


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", type=Path, help="labelled LDB pool (rows with `sources`)")
    parser.add_argument("out", type=Path, help="seed pool to write (JSONL)")
    args = parser.parse_args()
    rows = written = 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for _, row in read_jsonl(args.pool):
            rows += 1
            for source in row.get("sources", []):
                if source.startswith("seed:"):
                    record = {
                        "task_id": row["task_id"],
                        "code": row["code"],
                        "sources": [source],
                        "independent": True,
                    }
                    if "passed" in row:
                        record["passed"] = row["passed"]
                    out.write(json.dumps(record) + "\n")
                    written += 1
    print(f"{written} seed samples from {rows} pool rows -> {args.out}")


if __name__ == "__main__":
    main()
