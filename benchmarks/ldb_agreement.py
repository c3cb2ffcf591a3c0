"""Agreement of our labels with a labelled pool's own `passed` field (e.g. the LDB pools).

    python benchmarks/ldb_agreement.py --problems humaneval \
        --pool ../shared/data/pools/ldb-humaneval.labeled.jsonl.gz
    python benchmarks/ldb_agreement.py --problems ../shared/data/mbpp/mbpp.jsonl.gz \
        --pool ../shared/data/pools/ldb-mbpp.labeled.jsonl.gz

Each candidate is labelled twice: as `toppass-train label` does (the candidate prepared into a
whole program: fences and prose stripped, bodies joined to the prompt, prompt imports and
helpers added) and raw (its `code` run as it is, as the pool's labeller did). A disagreement
where the raw run agrees with the pool is caused by normalisation; one where the raw run
disagrees too is an executor or test difference, listed one by one with both messages.
Figures: docs/results.md, "Labels".
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from ranker.candidates import extract_code
from ranker.sandbox import FunctionJob, Limits, Sandbox
from train.jsonl import read_jsonl
from train.labelling import label_pool
from train.loaders import load_problems
from train.pools import read_pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args()
    problems = load_problems(args.problems)
    pool = read_pool(args.pool)
    limits = Limits(timeout=args.timeout)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "labelled.jsonl"
        label_pool(problems, args.pool, out, workers=args.workers, limits=limits)
        ours = {(r["task_id"], r["index"]): r for _, r in read_jsonl(out)}
    jobs = []
    for cand in pool.candidates:
        problem = problems[cand.task_id]
        jobs.append(
            ((cand.task_id, cand.index), FunctionJob(cand.text, [problem.tests], problem.setup))
        )
    with Sandbox(workers=args.workers, limits=limits) as sandbox:
        raw = dict(sandbox.imap_unordered(jobs))
    elapsed = time.monotonic() - started

    causes: collections.Counter[str] = collections.Counter()
    listed = []
    for cand in pool.candidates:
        key = (cand.task_id, cand.index)
        row = ours[key]
        if row["passed"] == cand.passed:
            continue
        entry = problems[cand.task_id].entry_point or ""
        if raw[key].passed == cand.passed:
            code = cand.text
            if not code.strip():
                cause = "normalisation: empty candidate"
            elif f"def {entry}" not in code:
                cause = "normalisation: bare body joined to the prompt"
            elif extract_code(code, entry).strip() != code.strip():
                cause = "normalisation: code extracted from fences/prose"
            else:
                cause = "normalisation: prompt imports/helpers added"
            cause += (
                " (pool failed, ours passed)" if row["passed"] else " (pool passed, ours failed)"
            )
        else:
            cause = "executor or tests"
            listed.append((key, cand.result, row["result"]))
        causes[cause] += 1
    total = len(pool.candidates)
    disagree = sum(causes.values())
    normalised = sum(n for c, n in causes.items() if c.startswith("normalisation"))
    print(
        f"pool: {args.pool}  problems: {args.problems}  timeout {args.timeout}s, {args.workers} workers"
    )
    print(f"candidates: {total}  labelled in {elapsed:.0f}s (both passes)")
    print(f"agreement overall: {total - disagree}/{total} = {(total - disagree) / total:.4f}")
    rest = total - normalised
    print(
        f"agreement excluding normalisation flips: {rest - (disagree - normalised)}/{rest} = "
        f"{(rest - (disagree - normalised)) / rest:.4f}"
    )
    raw_agree = sum(raw[(c.task_id, c.index)].passed == c.passed for c in pool.candidates)
    print(f"raw code (no preparation) vs pool: {raw_agree}/{total} = {raw_agree / total:.4f}")
    for cause, count in causes.most_common():
        print(f"  {count:5d}  {cause}")
    for key, theirs, mine in sorted(listed):
        print(f"    {key[0]} #{key[1]}: pool {(theirs or '')[:70]!r} / ours {mine[:70]!r}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
