"""The editor's own path over labelled pools: each problem's prompt is the user's file (the
function with a stub body), its pool programs are the model's answers (each repeated as often
as it was sampled), and `toppass_ls.pipeline.rank_candidates` turns them into bodies, judges
their static defects as applied and ranks them, with nothing run (the editor's default,
`allowExecution` off).

`toppass-train eval` ranks the programs themselves; the editor ranks the bodies it will apply
under the user's signature, which can differ: a helper or import the model wrote outside its
function is carried into the body (`toppass_ls.edits.candidate_body`), and a parameter the
model named otherwise is renamed to the user's where that cannot change the meaning (else the
body is flagged). Reported per pool:

- top-1: how often the first candidate offered is right (problems whose programs are all
  right or all wrong count as they are);
- right bodies flagged: right candidates the title calls defective as applied (a parameter
  it could not rename, or a name nothing defines), of all right candidates offered;
- dropped: answers that gave no body for the function.

    python benchmarks/editor_bodies.py \\
        --eval ldb-humaneval=humaneval:ldb-humaneval.relabelled.jsonl.gz \\
        --eval canaicode=problems.jsonl:pool.jsonl [--ranker DIR] [--json]

`--eval` takes `[NAME=]PROBLEMS:POOL` as `benchmarks/fused_ranker.py` does.

Measured with the shipped ranker (2 CPU cores, 4.5 min for the four pools), before -> after
the body was taken from the function's last definition, carried the helpers and imports it
needs and read the user's parameter names:

| pool | editor top-1 | right bodies flagged | answers giving no body |
|---|---|---|---|
| LDB HumanEval | 0.646 -> 0.683 | 22 of 399 -> 0 of 528 | 383 -> 58 of 2,230 |
| HumanEval seed pool | 0.738 -> 0.780 | 18 of 342 -> 0 of 450 | 165 -> 2 of 806 |
| canaicode | 0.647 -> 0.647 | 27 of 1,371 -> 8 of 1,373 | 2 of 11,186 |
| MBPP (LDB pool) | 0.660 -> 0.686 | 32 of 757 -> 0 of 821 | 136 -> 58 of 3,604 |

The 8 right canaicode bodies still flagged call `math.gcd` without importing `math`: they pass
there only because that pool's harness imports it.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from typing import Any

# benchmarks/ is on the path when run as a script
from fused_ranker import parse_pool, rankers_or_shipped


def stub_document(prompt: str, entry_point: str) -> tuple[str, int] | None:
    """The user's file for a problem: its prompt with a stub body, and the line of the
    function to rank for."""
    document = prompt.rstrip() + "\n    raise NotImplementedError\n"
    try:
        tree = ast.parse(document)
    except SyntaxError:
        return None
    lines = [
        node.lineno - 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == entry_point
    ]
    return (document, lines[-1]) if lines else None


def measure(spec: str, ranker_dir: str) -> dict[str, Any]:
    from ranker.candidates import prepare_candidates
    from ranker.model.ranker import Ranker
    from toppass_ls.context import function_at
    from toppass_ls.pipeline import rank_candidates
    from train.loaders import load_problems
    from train.pools import read_pool
    from train.slates import build_slates

    name, problems_spec, pool = parse_pool(spec)
    problems = load_problems(problems_spec)
    slates = build_slates(read_pool(pool), problems).slates
    ranker = Ranker.from_pretrained(ranker_dir, device="cpu")
    top1: list[float] = []
    right = flagged = dropped = answers = skipped = carried = 0
    for number, slate in enumerate(slates, 1):
        entry_point = problems[slate.task_id].entry_point
        target = stub_document(slate.problem, entry_point) if entry_point else None
        ctx = function_at(*target) if target is not None else None
        if ctx is None:
            skipped += 1
            continue
        label: dict[str, bool] = {}
        raws: list[str] = []
        for program, passed, count in zip(slate.programs, slate.labels, slate.counts, strict=True):
            for group in prepare_candidates([program], ctx.prompt, ctx.name).groups:
                label[group.program] = passed
            raws.extend([program] * count)
        result = rank_candidates(ranker, ctx, raws)
        answers += result.sampled
        dropped += len(result.dropped)
        first = result.candidates[0] if result.candidates else None
        top1.append(float(first is not None and label.get(first.program, False)))
        for candidate in result.candidates:
            carried += bool(candidate.carried)
            if label.get(candidate.program, False):
                right += 1
                flagged += candidate.defect is not None
        if number % 20 == 0:
            print(f"{name}: {number}/{len(slates)} problems", file=sys.stderr, flush=True)
    return {
        "pool": name,
        "problems": len(top1),
        "skipped": skipped,
        "top1": round(sum(top1) / max(len(top1), 1), 3),
        "right_bodies": right,
        "right_bodies_flagged": flagged,
        "bodies_carrying_definitions": carried,
        "answers": answers,
        "dropped": dropped,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", action="append", required=True, metavar="[NAME=]PROBLEMS:POOL")
    parser.add_argument("--ranker", help="ranker directory (default: the shipped one)")
    parser.add_argument("--json", action="store_true", help="one JSON object per pool")
    args = parser.parse_args(argv)
    ranker_dir = rankers_or_shipped([args.ranker] if args.ranker else None)[0]
    for spec in args.eval:
        row = measure(spec, ranker_dir)
        if args.json:
            print(json.dumps(row), flush=True)
            continue
        print(
            f"{row['pool']}: {row['problems']} problems, editor top-1 {row['top1']:.3f}; "
            f"right bodies flagged as defective {row['right_bodies_flagged']} of "
            f"{row['right_bodies']}; {row['bodies_carrying_definitions']} bodies carry "
            f"definitions; {row['dropped']} of {row['answers']} answers gave no body"
            + (f"; {row['skipped']} problems skipped (no function)" if row["skipped"] else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
