"""Likelihood feature files: the coder and reviewer scores (`ranker.signals.likelihood`) of every
distinct program of a labelled pool, one JSONL row per (task_id, program):

    {"task_id": "HumanEval/0", "program_sha": "<sha256 hex of the program text>",
     "coder": -0.41, "reviewer": -1.93, "coder_tokens": 57, "reviewer_tokens": 88}

Programs are the slates' programs (`train.slates.build_slates`: prepared and deduplicated as in
training and serving), so `program_sha` joins a row to a slate's program. Rows are appended
as each problem finishes; a rerun skips the programs already in the file. A sidecar
`<file>.meta.json` records the model and budgets; resuming with other settings is an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ranker.candidates import program_sha
from ranker.signals.likelihood import LikelihoodScorer
from train.jsonl import DataError, JsonlAppender, read_jsonl
from train.problems import Problem
from train.slates import Slate

FeatureKey = tuple[str, str]


def scorer_settings(scorer: LikelihoodScorer) -> dict[str, Any]:
    """What a feature file's numbers depend on (batch size does not change them)."""
    return {
        "model": scorer.name,
        "precision": scorer.precision,
        "max_context_tokens": scorer.max_context_tokens,
        "max_target_tokens": scorer.max_target_tokens,
        "layout": "coder-body/reviewer-code v2",
    }


def read_likelihood_features(path: str | Path) -> dict[FeatureKey, dict[str, Any]]:
    """Rows of a feature file by (task_id, program_sha); a last line cut short by a killed
    writer is ignored."""
    rows: dict[FeatureKey, dict[str, Any]] = {}
    for number, row in read_jsonl(path, resuming=True):
        try:
            rows[(str(row["task_id"]), str(row["program_sha"]))] = row
        except KeyError as exc:
            raise DataError(f"{path}:{number}: missing field {exc}") from None
    return rows


def compute_likelihood_features(
    slates: Sequence[Slate],
    problems: Mapping[str, Problem],
    scorer: LikelihoodScorer,
    out: str | Path,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict[FeatureKey, dict[str, Any]]:
    """Score every program of `slates` not yet in `out`, appending one row per program as
    each problem finishes; returns all rows of the file. `progress(problems done, problems,
    programs scored in this run)` after each problem."""
    out = Path(out)
    meta_path = out.with_name(out.name + ".meta.json")
    settings = scorer_settings(scorer)
    if meta_path.is_file():
        previous = json.loads(meta_path.read_text())
        if previous != settings:
            raise DataError(
                f"{out} was computed with {previous}, not {settings}: use another --out"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(settings, indent=1) + "\n")
    rows = read_likelihood_features(out) if out.is_file() else {}
    scored = 0
    with JsonlAppender(out) as appender:
        for done, slate in enumerate(slates, start=1):
            problem = problems[slate.task_id]
            missing = [
                p
                for p in dict.fromkeys(slate.programs)
                if (slate.task_id, program_sha(p)) not in rows
            ]
            if missing:
                results = scorer.score(problem.prompt, problem.entry_point, missing)
                for program, result in zip(missing, results, strict=True):
                    row = {"task_id": slate.task_id, "program_sha": program_sha(program)}
                    row.update(result.to_record())
                    appender.append(row)
                    rows[(slate.task_id, row["program_sha"])] = row
                scored += len(missing)
            if progress is not None:
                progress(done, len(slates), scored)
    return rows


def feature_scores(
    slates: Sequence[Slate], rows: Mapping[FeatureKey, Mapping[str, Any]], field: str
) -> list[list[float]] | None:
    """`field` of every slate program (aligned with `Slate.programs`), or None when some
    program has no row."""
    result = []
    for slate in slates:
        values = []
        for program in slate.programs:
            row = rows.get((slate.task_id, program_sha(program)))
            if row is None:
                return None
            values.append(float(row[field]))
        result.append(values)
    return result
