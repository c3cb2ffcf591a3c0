"""Adaptive sampling replayed on pools (issue 26, part 2): how many answers the server's
`adaptiveSampling` draws, against a fixed N, and what that does to ranked pass@1 and pass@3.

    python benchmarks/adaptive_sampling.py --out runs/adaptive \\
        --pool ldb-humaneval=humaneval:runs/ldb-humaneval.relabelled.jsonl.gz \\
        --pool ldb-mbpp=../shared/data/mbpp/mbpp.jsonl.gz:runs/ldb-mbpp.relabelled.jsonl.gz \\
        --pool canaicode=runs/canaicode/problems.jsonl:runs/canaicode/pool.jsonl \\
        --pool he-seeds=humaneval:runs/he-seeds.jsonl [--samples 16] [--seeds 1,2,3]

A pool argument is `name=problems:pool` (problems as `toppass-train` takes them). Each
problem's answers are replayed in the pool's row order (and, per `--seeds`, in a shuffled
order): cut into consecutive requests of `--samples` answers (a problem with fewer rows is
one shorter request), and each request is served twice: with all its answers (fixed N), and
as the server samples with `adaptiveSampling` (`ranker.order.StoppingRule`: its first round;
the rest only where the rule finds the first round unsettled). Both lists are ranked by the
shipped ranker's serving order (`ranker.order`, through `train.evaluate`, as `toppass-train
eval` measures it), with the problem's visible tests run (`--execution`, the editor's
docstring examples) or nothing run. The paired 95% bootstrap interval of the pass@1
difference resamples requests (`train.evaluate.paired_difference`).

Caveat: the LDB pools' rows are a few models' seeds and their repair iterations, so their
duplicates and their order are artefacts of how the pool was built, not i.i.d. samples;
canaicode (one answer per model) and the seed pool come closer to what the server samples.
Figures: docs/results.md, "Adaptive sampling".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ranker.order import Evidence, StoppingRule
from ranker.signals.types import Signals
from train.evaluate import diversity_of, evaluate_scores, paired_difference, served_slate_scores
from train.pools import Pool, PoolCandidate
from train.problems import Problem
from train.slates import Slate, build_slates

KS = (1, 3)


@dataclass(frozen=True)
class Request:
    """One replayed request: `rows`, in the order they are drawn, for `task_id`."""

    key: str
    task_id: str
    rows: tuple[PoolCandidate, ...]


def requests(pool: Pool, samples: int, seed: int | None = None) -> list[Request]:
    """Each problem's rows (shuffled with `seed`; pool order for None) cut into consecutive
    requests of `samples`; a trailing shorter part is dropped unless it is the problem's only
    request (the server always asks for `samples`)."""
    out = []
    for task_id, rows in pool.by_task().items():
        order = list(rows)
        if seed is not None:
            random.Random(f"{seed}:{task_id}").shuffle(order)
        parts = [order[i : i + samples] for i in range(0, len(order), samples)]
        if len(parts) > 1 and len(parts[-1]) < samples:
            parts.pop()
        out += [Request(f"{task_id}#{j}", task_id, tuple(part)) for j, part in enumerate(parts)]
    return out


def drawn(rule: StoppingRule, maximum: int, settled_at: Callable[[int], bool]) -> int:
    """How many of `maximum` answers the server draws (`toppass_ls.pipeline.sample_rounds`):
    its rounds, stopping after any but the last where `settled_at(answers so far)`."""
    rounds = rule.rounds(maximum)
    total = 0
    for number, size in enumerate(rounds):
        total += size
        if number < len(rounds) - 1 and settled_at(total):
            break
    return total


def evidence_of(answers: int, slate: Slate | None, signals: Signals | None) -> Evidence:
    """The rule's evidence for a request's first `answers` rows: their distinct programs
    (`slate`, None when none is usable), counts, execution and static defects."""
    if slate is None:
        return Evidence(answers, [])
    execution = signals.execution if signals is not None else None
    defects = signals.defects if signals is not None else None
    return Evidence(answers, list(slate.counts), execution, defects)


@dataclass
class Replay:
    """One pool, one order, one mode: per request the answers drawn, and the ranked metrics of
    the fixed and the adaptive list (`train.evaluate.Evaluation`)."""

    pool: str
    order: str
    execution: bool
    requests: int
    fixed_samples: float
    adaptive_samples: float
    fixed: dict[int, float]
    adaptive: dict[int, float]
    difference: dict[int, tuple[float, float, float]]

    @property
    def fewer(self) -> float:
        return 1.0 - self.adaptive_samples / self.fixed_samples

    def to_json(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "order": self.order,
            "execution": self.execution,
            "requests": self.requests,
            "fixed_samples": round(self.fixed_samples, 3),
            "adaptive_samples": round(self.adaptive_samples, 3),
            "fewer": round(self.fewer, 4),
            "fixed": {f"pass@{k}": round(v, 4) for k, v in self.fixed.items()},
            "adaptive": {f"pass@{k}": round(v, 4) for k, v in self.adaptive.items()},
            "difference": {
                f"pass@{k}": [round(x, 4) for x in v] for k, v in self.difference.items()
            },
        }


def replay(
    name: str,
    order: str,
    pool: Pool,
    problems: Mapping[str, Problem],
    ranker: Any,
    rule: StoppingRule,
    samples: int,
    seed: int | None,
    execution: bool,
    bootstrap: int = 1000,
    run_cache: Path | None = None,
    embedding_cache: Path | None = None,
    workers: int = 2,
) -> Replay:
    """Replay `pool` (see the module docstring): the requests' answers drawn with `rule`
    against all `samples`, and ranked pass@k of both lists by `ranker` as served."""
    from train.data import with_cross_model_signals
    from train.scoring import ranker_scores
    from train.signals import execution_signals

    plan = requests(pool, samples, seed)
    aliases: dict[str, Problem] = {}
    full: dict[str, Slate] = {}
    first: dict[str, Slate] = {}
    for request in plan:
        problem = problems[request.task_id]
        for key, rows, into in (
            (request.key, request.rows, full),
            (f"{request.key}@first", request.rows[: rule.first_round], first),
        ):
            aliases[key] = dataclasses.replace(problem, task_id=key)
            built = build_slates(Pool(list(rows)), {request.task_id: problem}).slates
            if built:
                into[key] = dataclasses.replace(built[0], task_id=key)
    slates = [*full.values(), *first.values()]
    signals: dict[str, Signals] = {}
    if execution:
        kwargs: dict[str, Any] = {"workers": workers}
        if run_cache is not None:
            kwargs["cache_path"] = run_cache
        # the whole requests first: their runs are cached, and the first rounds find them
        signals.update(execution_signals(list(full.values()), aliases, **kwargs))
        signals.update(execution_signals(list(first.values()), aliases, **kwargs))
    signals = with_cross_model_signals(slates, aliases, signals)

    chosen: list[tuple[Slate, Slate]] = []  # (fixed, adaptive) per request with a program
    fixed_n: list[int] = []
    adaptive_n: list[int] = []
    for request in plan:
        if request.key not in full:
            continue  # no usable answer at all: nothing to rank either way
        head = first.get(f"{request.key}@first")
        evidence = evidence_of(
            min(rule.first_round, len(request.rows)),
            head,
            signals.get(head.task_id) if head is not None else None,
        )

        def settled_at(_drawn: int, settled: bool = rule.settled(evidence)) -> bool:
            return settled  # the first round's evidence decides every later round

        count = drawn(rule, len(request.rows), settled_at)
        fixed_n.append(len(request.rows))
        adaptive_n.append(count)
        whole = full[request.key]
        chosen.append((whole, head if count < len(request.rows) and head is not None else whole))

    fixed_slates = [f for f, _ in chosen]
    adaptive_slates = [a for _, a in chosen]
    scored = {s.task_id: s for s in [*fixed_slates, *adaptive_slates]}
    heads = ranker_scores(ranker, list(scored.values()), signals=signals, cache_dir=embedding_cache)
    head_of = dict(zip(scored, heads, strict=True))

    def evaluation(label: str, group: Sequence[Slate]) -> Any:
        served = served_slate_scores(group, [head_of[s.task_id] for s in group], signals, aliases)
        diversity = diversity_of(group, signals).arguments()
        return evaluate_scores(label, group, served, ks=KS, bootstrap=bootstrap, **diversity)

    fixed = evaluation("fixed", fixed_slates)
    adaptive = evaluation("adaptive", adaptive_slates)
    return Replay(
        pool=name,
        order=order,
        execution=execution,
        requests=len(chosen),
        fixed_samples=sum(fixed_n) / len(fixed_n),
        adaptive_samples=sum(adaptive_n) / len(adaptive_n),
        fixed=fixed.ranked,
        adaptive=adaptive.ranked,
        difference=paired_difference(adaptive, fixed, bootstrap),
    )


def table(rows: Sequence[Replay]) -> str:
    lines = [
        "| pool | order | execution | requests | samples fixed → adaptive | fewer "
        "| pass@1 fixed → adaptive | pass@3 fixed → adaptive | pass@1 difference (95%) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, lo, hi = r.difference[1]
        lines.append(
            f"| {r.pool} | {r.order} | {'yes' if r.execution else 'no'} | {r.requests} "
            f"| {r.fixed_samples:.1f} → {r.adaptive_samples:.1f} | {r.fewer:.0%} "
            f"| {r.fixed[1]:.3f} → {r.adaptive[1]:.3f} | {r.fixed[3]:.3f} → {r.adaptive[3]:.3f} "
            f"| {d:+.3f} ({lo:+.3f} .. {hi:+.3f}) |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pool", action="append", required=True, help="name=problems:pool")
    parser.add_argument("--out", type=Path, required=True, help="results.json, table.md, caches")
    parser.add_argument("--samples", type=int, default=16, help="N: answers per request")
    parser.add_argument("--seeds", default="1,2,3", help="shuffled orders besides pool order")
    parser.add_argument("--modes", default="execution,none", help="execution and/or none")
    parser.add_argument("--ranker", default=None, help="ranker directory (default: shipped)")
    defaults = StoppingRule()
    parser.add_argument("--majority", type=float, default=defaults.majority)
    parser.add_argument("--majority-unexecuted", type=float, default=defaults.majority_unexecuted)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)

    from ranker.model.shipped import load_ranker
    from train.data import load_problem_sets
    from train.pools import read_pool

    args.out.mkdir(parents=True, exist_ok=True)
    ranker, warning = load_ranker(args.ranker, "cpu")
    if warning:
        print(warning, file=sys.stderr)
    rule = StoppingRule(majority=args.majority, majority_unexecuted=args.majority_unexecuted)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results: list[Replay] = []
    for spec in args.pool:
        name, _, rest = spec.partition("=")
        problems_spec, _, pool_path = rest.rpartition(":")
        problems = load_problem_sets([problems_spec])
        pool = read_pool(pool_path)
        for mode in modes:
            for seed in [None, *seeds]:
                order = "pool order" if seed is None else f"shuffled {seed}"
                result = replay(
                    name,
                    order,
                    pool,
                    problems,
                    ranker,
                    rule,
                    args.samples,
                    seed,
                    execution=mode == "execution",
                    bootstrap=args.bootstrap,
                    run_cache=args.out / "visible-runs.jsonl",
                    embedding_cache=args.out / "embeddings",
                    workers=args.workers,
                )
                results.append(result)
                print(table([result]).splitlines()[-1], file=sys.stderr, flush=True)
                (args.out / "results.json").write_text(
                    json.dumps(
                        {
                            "rule": dataclasses.asdict(rule),
                            "samples": args.samples,
                            "results": [r.to_json() for r in results],
                        },
                        indent=2,
                    )
                )
    (args.out / "table.md").write_text(table(results) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
