"""Turn ../shared/data/canaicode into a problem file and a labelled pool for `toppass-train eval`.

    python benchmarks/canaicode_pool.py [--data ../shared/data/canaicode] --out runs/canaicode

canaicode holds 11,299 answers from 605 models to 17 small interview questions, each judged by
canaicode's own checks. None of those models' answers are in the LDB training pools, so this is
a *cross-model* pool with hundreds of candidates per problem: the setting where a ranker that
learned the training pool's artefacts (e.g. "longer is better") falls below random.

Problems: a HumanEval-style prompt (the question's signature and a docstring from its Input and
Output text); `tests` from canaicode's `f.call(...)` checks (argument-name checks become
`inspect` asserts); `visible_tests`: the first value check. Pool rows keep canaicode's verdict
as `passed` (its checks include argument names, which a re-run by `toppass-train label` with
these tests also enforces) and say `independent`: each is one model's own answer, so identical
answers are models agreeing and a ranker's sampling features count them. The pools used for the figures: docs/results.md, "The pools".
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any


def check_to_assert(check: dict[str, Any], name: str) -> str | None:
    expression = check["assert"]
    expression = expression.replace("f.call(", f"{name}(")
    expression = re.sub(r"len\(f\.args\)", f"len(inspect.signature({name}).parameters)", expression)
    expression = re.sub(
        r"f\.args\[(\d+)\]\.name", rf"list(inspect.signature({name}).parameters)[\1]", expression
    )
    expression = expression.replace("f.name", f"{name}.__name__")
    if "f." in expression:
        return None
    if "eq-any" in check:
        return f"assert {expression} in {check['eq-any']!r}"
    return f"assert {expression} == {check['eq']!r}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/canaicode")
    parser.add_argument("--out", default="runs/canaicode")
    args = parser.parse_args()
    with gzip.open(Path(args.data) / "canaicode_python_results.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems: dict[str, dict[str, Any]] = {}
    pool: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        task_id = f"canaicode/{row['name']}"
        name = row["Signature"].split("(")[0].strip()
        if task_id not in problems:
            asserts = [a for a in (check_to_assert(c, name) for c in row["checks"]) if a]
            value_checks = [a for a in asserts if f"assert {name}(" in a]
            problems[task_id] = {
                "task_id": task_id,
                "prompt": f"import inspect\n\n\ndef {row['Signature']}:\n"
                f'    """A function {row["Input"]} that returns {row["Output"]}."""\n',
                "entry_point": name,
                "tests": asserts,
                "visible_tests": value_checks[:1],
                "source": "canaicode",
            }
        pool.append(
            {
                "task_id": task_id,
                "index": counts[task_id],
                "code": row["code"],
                "passed": row["status"] == "PASS",
                "model": row["model"],
                "independent": True,
            }
        )
        counts[task_id] += 1
    (out / "problems.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems.values()))
    (out / "pool.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pool))
    print(
        f"{len(problems)} problems, {len(pool)} candidates -> {out}/problems.jsonl, {out}/pool.jsonl"
    )


if __name__ == "__main__":
    main()
