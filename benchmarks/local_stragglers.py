"""What the straggler rule (`generation.stragglers`) saves and what it cuts, replayed on a
labelled pool the local model wrote (`toppass-train generate` records each answer's length in
tokens, `logprob_tokens`; `toppass-train label` adds `passed`).

    python benchmarks/local_stragglers.py runs/smollm2/labelled.jsonl [--batch-size 16] \\
        [--rules 0.5:2,0.5:3,0.75:2] [--json]

    python benchmarks/local_stragglers.py --live examples/demo.py:7 [--runs 5] [--json]

`--live` times the local model itself: 16 answers for the function at FILE:LINE (as
`toppass-ls suggest`, maxTokens 384), with and without the rule, alternating, one seed per run
shared by both, and reports the median seconds and the answers cut.

The pool must have been sampled without the rule (`toppass-train generate --no-straggler-cut`),
so that every answer's own length is known. Each problem's answers form batches as the
generator drew them (answer index // batch size). A batch's decoding steps are its longest
answer's length (or `max_tokens`) without the rule and `StragglerRule.replay` with it; an answer
longer than the batch's stop is cut, and counts as lost if it passed. The time of a batch is
close to proportional to its steps on a CPU (one decoding step for all rows).
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from generation.stragglers import StragglerRule
from train.jsonl import read_jsonl


def batches(pool: Path, batch_size: int) -> list[list[dict[str, Any]]]:
    """The pool's answers grouped as they were sampled together."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for _, row in read_jsonl(pool):
        if "logprob_tokens" not in row or "passed" not in row:
            raise SystemExit(f"{pool}: rows need logprob_tokens and passed (generate, then label)")
        grouped[(str(row["task_id"]), int(row["index"]) // batch_size)].append(row)
    return list(grouped.values())


def replay(groups: list[list[dict[str, Any]]], rule: StragglerRule | None) -> dict[str, Any]:
    steps = cut = lost = answers = passed = 0
    solved_before: set[str] = set()
    solved_after: set[str] = set()
    for rows in groups:
        cap = int(rows[0]["max_tokens"])
        lengths = [min(int(r["logprob_tokens"]), cap) for r in rows]
        stop = rule.replay(lengths, cap) if rule is not None else max(lengths)
        steps += stop
        for row, length in zip(rows, lengths, strict=True):
            answers += 1
            passed += bool(row["passed"])
            if row["passed"]:
                solved_before.add(str(row["task_id"]))
            if length > stop:
                cut += 1
                lost += bool(row["passed"])
            elif row["passed"]:
                solved_after.add(str(row["task_id"]))
    return {
        "steps": steps,
        "answers": answers,
        "cut": cut,
        "passing": passed,
        "passing_cut": lost,
        "problems_solved": len(solved_before),
        "problems_still_solved": len(solved_after),
    }


def live(target: str, runs: int) -> dict[str, Any]:
    """Seconds to sample 16 answers with the default rule and without it, per run."""
    import asyncio
    import statistics
    import time

    from generation.local import LocalProvider
    from generation.provider import SamplingOptions
    from generation.stragglers import DEFAULT_STRAGGLERS
    from ranker.source import function_at
    from toppass_ls.pipeline import sampling_prompt

    path, _, line = target.rpartition(":")
    context = function_at(Path(path).read_text(), int(line) - 1)
    if context is None:
        raise SystemExit(f"{target}: no function there")
    prompt = sampling_prompt(context)
    provider = LocalProvider(options=SamplingOptions(max_tokens=384, time_budget=600))
    asyncio.run(provider.warm_up())
    times: dict[str, list[float]] = {"rule": [], "none": []}
    for run in range(runs):
        for name, rule in (("rule", DEFAULT_STRAGGLERS), ("none", None)):
            provider.stragglers = rule
            provider.options = SamplingOptions(max_tokens=384, time_budget=600, seed=1000 * run)
            start = time.perf_counter()
            answers = asyncio.run(provider.sample(prompt, 16))
            times[name].append(time.perf_counter() - start)
            assert len(answers) == 16
            print(f"run {run} {name}: {times[name][-1]:.1f} s", flush=True)
    return {
        "runs": times,
        "median_s": {name: statistics.median(values) for name, values in times.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", type=Path, nargs="?")
    parser.add_argument("--live", metavar="FILE:LINE")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--rules", default="0.5:1.5,0.5:2,0.5:3,0.75:2", help="quorum:factor pairs, floor 64"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.live:
        result = live(args.live, args.runs)
        print(json.dumps(result, indent=2) if args.json else result["median_s"])
        return
    if args.pool is None:
        parser.error("a labelled pool, or --live FILE:LINE")
    groups = batches(args.pool, args.batch_size)
    results: dict[str, Any] = {"none": replay(groups, None)}
    for spec in args.rules.split(","):
        quorum, factor = (float(x) for x in spec.split(":"))
        results[spec] = replay(groups, StragglerRule(quorum=quorum, factor=factor))
    if args.json:
        print(json.dumps({"batches": len(groups), "rules": results}, indent=2))
        return
    base = results["none"]["steps"]
    print(f"{len(groups)} batches, {results['none']['answers']} answers")
    print(
        "| rule (quorum:factor) | decoding steps | vs none | answers cut | passing cut "
        "| problems solved |"
    )
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['steps']} | {r['steps'] / base:.2f} | {r['cut']} | "
            f"{r['passing_cut']} of {r['passing']} | {r['problems_still_solved']} of "
            f"{r['problems_solved']} |"
        )


if __name__ == "__main__":
    main()
