"""How often the low-confidence warning fires, and how often the first candidate is right with
and without it, per serving mode.

    python benchmarks/confidence_warning.py --problems humaneval \\
        --pool runs/ldb-humaneval.relabelled.jsonl.gz [--ranker DIR] [--split 0.2] \\
        [--threshold 0.3 --threshold 0.5 --threshold 0.6] [--json]

Every problem of the pool is served in each mode the calibration knows (`train.calibration`:
its visible tests run, the same calls run with their expected values withheld, nothing run),
and its first-ranked program's calibrated probability is compared with the threshold
(`ranker.offer.LOW_CONFIDENCE` by default, and any `--threshold`s). `--split F` keeps the
fraction `fit --val-split F` holds out (the shipped ranker's calibration problems). The ranker
must have a calibration (default: the shipped one). Runs and embeddings come from the caches
`toppass-train eval` fills. Figures: docs/results.md, "Calibrated confidence".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from ranker.model.calibration import MODES
    from ranker.model.ranker import Ranker
    from ranker.model.shipped import DEFAULT_RANKER_DIR
    from ranker.offer import LOW_CONFIDENCE
    from train.calibration import CalibrateOptions, calibration_data
    from train.data import load_problem_sets, load_slates
    from train.embeddings import default_cache_dir
    from train.slates import split_by_task

    problems = load_problem_sets([args.problems])
    slates = load_slates(Path(args.pool), problems).slates
    if args.split:
        slates = split_by_task(slates, args.split)[1]
    ranker = Ranker.from_pretrained(args.ranker or DEFAULT_RANKER_DIR, device="cpu")
    calibration = ranker.calibration
    if calibration is None:
        raise SystemExit(f"{args.ranker}: no calibration.json (toppass-train calibrate)")
    options = CalibrateOptions(workers=args.workers, cache_dir=default_cache_dir(), device="cpu")
    samples = calibration_data(ranker, slates, problems, options)
    firsts: dict[str, list[tuple[float, bool]]] = defaultdict(list)
    by_problem: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for sample in samples:
        by_problem[(sample.mode, sample.problem)].append(sample)
    for (mode, _), programs in by_problem.items():
        mapping = calibration.modes.get(mode)
        if mapping is None:
            continue
        best = max(programs, key=lambda s: s.served)  # the served order's first
        p = calibration.defect if best.defect else mapping.probability(best.x)
        firsts[mode].append((p, best.label))
    thresholds = sorted({LOW_CONFIDENCE, *args.threshold})
    out: dict[str, Any] = {"pool": args.pool, "problems": len(slates), "modes": {}}
    for mode in MODES:
        rows = firsts.get(mode, [])
        if not rows:
            continue
        entry: dict[str, Any] = {
            "problems": len(rows),
            "first_right": round(sum(label for _, label in rows) / len(rows), 3),
            "mean_first_probability": round(sum(p for p, _ in rows) / len(rows), 3),
        }
        for threshold in thresholds:
            low = [label for p, label in rows if p < threshold]
            high = [label for p, label in rows if p >= threshold]
            entry[f"below {threshold:g}"] = {
                "warned": len(low),
                "first_right_when_warned": round(sum(low) / len(low), 3) if low else None,
                "first_right_otherwise": round(sum(high) / len(high), 3) if high else None,
            }
        out["modes"][mode] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--ranker", default=None)
    parser.add_argument("--split", type=float, default=0.0)
    parser.add_argument("--threshold", type=float, action="append", default=[])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['pool']}: {result['problems']} problems")
    for mode, entry in result["modes"].items():
        print(
            f"{mode}: {entry['problems']} problems, #1 right {entry['first_right']:.3f}, "
            f"mean p(#1) {entry['mean_first_probability']:.3f}"
        )
        for key, row in entry.items():
            if key.startswith("below"):
                print(
                    f"  {key}: warned {row['warned']}, #1 right when warned "
                    f"{row['first_right_when_warned']}, otherwise {row['first_right_otherwise']}"
                )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
