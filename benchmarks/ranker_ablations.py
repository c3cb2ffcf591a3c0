"""Ranker ablations: every loss / input / backbone variant, several seeds, one table.

    python benchmarks/ranker_ablations.py \\
        --train-problems ../shared/data/mbpp/mbpp.jsonl.gz --train POOL \\
        --val-problems humaneval --val POOL [--variants passk,bce,...] [--seeds 0,1,2] \\
        [--epochs 30] [--device auto] [--json results.json]

Pools must be labelled (`toppass-train label`). For each variant and seed the checkpoint is
picked on the validation pool's ranked pass@1, as `toppass-train fit` does; the table shows that
(optimistic: chosen on the same pool) and the last epoch's value (not chosen). Random order,
the oracle, length-only ordering and "degenerate bodies last" are measured on the same
programs. For each trained variant it also reports the mean within-problem Spearman
correlation of its scores with program length: how much of the ranking is length. Figures:
the default ranker's model card (ranker/weights/default/README.md), "Text-only ablations".
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from ranker import LossConfig, RankerConfig
from train.embeddings import default_cache_dir
from train.evaluate import evaluate_scores, length_correlation, length_scores
from train.fit import FitConfig, fit
from train.loaders import load_problems
from train.pools import read_pool
from train.scoring import ranker_scores
from train.slates import Slate, build_slates

VARIANTS: dict[str, dict[str, Any]] = {
    "bce": {"loss": LossConfig(kind="bce")},
    "passk": {"loss": LossConfig()},
    "passk-k1": {"loss": LossConfig(ks=(1,))},
    "passk-allpos": {"loss": LossConfig(top_positives=None)},
    "passk-logistic": {"loss": LossConfig(surrogate="logistic", margin=0.0)},
    "mix": {"loss": LossConfig(kind="mix", bce_weight=0.5)},
    "passk-plain": {"loss": LossConfig(), "ranker": RankerConfig(input_template="plain")},
    "passk-canonical": {"loss": LossConfig(), "ranker": RankerConfig(input_template="canonical")},
    "bce-plain": {"loss": LossConfig(kind="bce"), "ranker": RankerConfig(input_template="plain")},
    "passk-tuned2": {
        "loss": LossConfig(),
        "ranker": RankerConfig(trainable_layers=2),
        "lr": 1e-3,
        "backbone_lr": 3e-5,
    },
    "bce-tuned2": {
        "loss": LossConfig(kind="bce"),
        "ranker": RankerConfig(trainable_layers=2),
        "lr": 1e-3,
        "backbone_lr": 3e-5,
    },
}


def degenerate(program: str) -> bool:
    """A body that does nothing: only `pass`, `...`, docstrings, or `raise NotImplementedError`."""
    try:
        tree = ast.parse(program)
    except SyntaxError:
        return True
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    if not functions:
        return False
    body = [
        s
        for s in functions[-1].body
        if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        and not isinstance(s, ast.Pass)
    ]
    return not body or all(
        isinstance(s, ast.Raise) and "NotImplementedError" in ast.unparse(s) for s in body
    )


def score_slates(ranker_dir: Path, slates: list[Slate], cache_dir: str) -> list[list[float]]:
    """Scores of a saved ranker, through the embedding cache when its backbone is frozen."""
    from ranker.model.ranker import Ranker

    return ranker_scores(Ranker.from_pretrained(ranker_dir), slates, cache_dir=cache_dir)


def slates_of(problems: str, pool: str) -> list[Slate]:
    built = build_slates(read_pool(pool), load_problems(problems))
    print(f"{pool}: {built.summary()}", file=sys.stderr)
    return built.slates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-problems", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val-problems", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--variants", default="bce,passk,passk-k1,passk-allpos,passk-plain")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runs", default="runs/ablations")
    parser.add_argument("--cache-dir", default=str(default_cache_dir()))
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--backbone", help="backbone for every variant (default: the package)")
    parser.add_argument("--extra-problems", help="problems of a further evaluation pool")
    parser.add_argument("--extra", help="a further labelled pool (e.g. from other models)")
    args = parser.parse_args()

    train = slates_of(args.train_problems, args.train)
    val = slates_of(args.val_problems, args.val)
    extra = slates_of(args.extra_problems, args.extra) if args.extra else []
    if extra:
        for name, scores in (("length-only", length_scores(extra)),):
            ev = evaluate_scores(name, extra, scores)
            print(
                f"extra pool: random pass@1 {ev.random[1]:.3f}, {name} {ev.ranked[1]:.3f}, "
                f"oracle {ev.oracle:.3f}"
            )
    rows: list[dict[str, Any]] = []
    baselines = {
        "length-only": length_scores(val),
        "degenerate-last": [[0.0 if degenerate(p) else 1.0 for p in s.programs] for s in val],
    }
    reference = None
    for name, scores in baselines.items():
        ev = evaluate_scores(name, val, scores)
        reference = ev
        rows.append({"variant": name, "selected": ev.ranked, "ci95": ev.ranked_ci95})
    for name in args.variants.split(","):
        spec = dict(VARIANTS[name])
        if args.backbone:
            base = spec.get("ranker", RankerConfig())
            spec["ranker"] = base.replace(backbone=args.backbone)
        selected: list[dict[str, Any]] = []
        last: list[float] = []
        rhos: list[float] = []
        extras: list[float] = []
        for seed in (int(s) for s in args.seeds.split(",")):
            config = FitConfig(
                seed=seed, epochs=args.epochs, device=args.device, cache_dir=args.cache_dir, **spec
            )
            result = fit(config, train, val, Path(args.runs) / f"{name}-{seed}", restart=True)
            selected.append(result.best_metrics["validation"]["ranked"])
            final = result.history[-1].val_pass_at_1
            assert final is not None, "fit ran without validation problems"
            last.append(final)
            rhos.append(length_correlation(val, result.val_scores))
            if extra:
                extras.append(
                    evaluate_scores(
                        name, extra, score_slates(result.out, extra, args.cache_dir)
                    ).ranked[1]
                )
            print(name, seed, selected[-1]["pass@1"], last[-1], file=sys.stderr, flush=True)
        keys = selected[0].keys()
        rows.append(
            {
                "variant": name,
                "selected": {k: statistics.mean(s[k] for s in selected) for k in keys},
                "selected_sd": {k: statistics.pstdev(s[k] for s in selected) for k in keys},
                "last_pass@1": statistics.mean(last),
                "last_pass@1_sd": statistics.pstdev(last),
                "spearman_length": statistics.mean(rhos),
                **(
                    {
                        "extra_pass@1": statistics.mean(extras),
                        "extra_pass@1_sd": statistics.pstdev(extras),
                    }
                    if extras
                    else {}
                ),
            }
        )
    assert reference is not None
    print(
        f"validation: {reference.problems} problems, {reference.candidates} programs; "
        f"random pass@1 {reference.random[1]:.3f} pass@3 {reference.random[3]:.3f}; "
        f"oracle {reference.oracle:.3f}"
    )
    print(
        f"{'variant':<18}{'pass@1 (sel.)':>16}{'pass@3':>9}{'pass@5':>9}"
        f"{'pass@1 (last)':>16}{'rho(len)':>10}"
    )
    for row in rows:
        sel = row["selected"]
        p1 = sel.get("pass@1", sel.get(1))
        p3 = sel.get("pass@3", sel.get(3))
        p5 = sel.get("pass@5", sel.get(5))
        sd = row.get("selected_sd", {}).get("pass@1")
        last_p1 = row.get("last_pass@1")
        print(
            f"{row['variant']:<18}{p1:>10.3f}"
            + (f" ±{sd:.3f}" if sd is not None else " " * 7)
            + f"{p3:>9.3f}{p5:>9.3f}"
            + (
                f"{last_p1:>10.3f} ±{row['last_pass@1_sd']:.3f}"
                if last_p1 is not None
                else " " * 16
            )
            + (f"{row['spearman_length']:>10.2f}" if "spearman_length" in row else "")
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
