"""Sampling candidate pools with the same provider code the language server uses.

Each problem gets `n` raw answers from the provider, appended to the pool as they arrive (one
JSONL row per answer: `task_id`, `index`, `completion` = the raw answer, plus what produced it:
`model`, `api`, `temperature`, `max_tokens`, `seed`, `prompt_sha`). Where the backend reports
log-probabilities, a row also has the generator's mean token log-probability of the answer,
`mean_logprob`, over `logprob_tokens` tokens (`generation.provider.Answer`; `toppass-train eval`
orders by it as a baseline). A rerun tops each problem up to `n` and never repeats finished
work. Answers are kept raw: `train.pools.candidate_program`
prepares them exactly as the editor prepares a sampled answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generation.provider import Answer, Provider, SamplingError, SamplingOptions, SamplingPrompt
from train.jsonl import JsonlAppender, read_jsonl
from train.problems import Problem


@dataclass
class GenerateStats:
    problems: int = 0
    written: int = 0
    already_done: int = 0
    failed: list[str] = field(default_factory=list)


def finished_counts(out: Path) -> Counter[str]:
    """Answers already in `out` per task (a row cut short by an interruption is ignored)."""
    counts: Counter[str] = Counter()
    if out.is_file():
        for _, record in read_jsonl(out, resuming=True):
            task = record.get("task_id")
            if isinstance(task, str):
                counts[task] += 1
    return counts


def sampling_prompt(problem: Problem) -> SamplingPrompt:
    return SamplingPrompt(problem.prompt, problem.entry_point)


async def generate_pool(
    problems: Mapping[str, Problem],
    provider: Provider,
    n: int,
    out: str | Path,
    *,
    model_name: str,
    api: str,
    options: SamplingOptions,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> GenerateStats:
    """Top every problem up to `n` answers in `out`. A problem whose sampling fails is
    recorded in `stats.failed` (with the cause) and the run goes on; rerun to retry it."""
    out = Path(out)
    done = finished_counts(out)
    stats = GenerateStats(problems=len(problems))
    total = n * len(problems)
    finished = sum(min(done[t], n) for t in problems)
    stats.already_done = finished
    if progress is not None:
        progress(finished, total)
    with JsonlAppender(out) as appender:
        for task_id, problem in problems.items():
            have = done[task_id]
            need = n - have
            if need <= 0:
                continue
            prompt = sampling_prompt(problem)
            # Answer i of a problem always has the same seed, however the run was split up.
            base_seed = (seed + zlib.crc32(task_id.encode())) % 2**30 + have
            if hasattr(provider, "options"):
                provider.options = dataclasses.replace(options, seed=base_seed)
            try:
                answers = await _sample(provider, prompt, need)
            except SamplingError as exc:
                stats.failed.append(f"{task_id}: {exc}")
                continue
            prompt_sha = hashlib.sha256(prompt.code.encode()).hexdigest()[:16]
            for offset, answer in enumerate(answers):
                index = have + offset
                record: dict[str, Any] = {
                    "task_id": task_id,
                    "index": index,
                    "completion": answer.text,
                    "model": model_name,
                    "api": api,
                    "temperature": options.temperature,
                    "max_tokens": options.max_tokens,
                    "seed": base_seed + offset,
                    "prompt_sha": prompt_sha,
                }
                if answer.mean_logprob is not None:
                    record["mean_logprob"] = round(answer.mean_logprob, 6)
                    record["logprob_tokens"] = answer.tokens
                appender.append(record)
                stats.written += 1
            finished += len(answers)
            if progress is not None:
                progress(finished, total)
    return stats


async def _sample(provider: Provider, prompt: SamplingPrompt, n: int) -> list[Answer]:
    """Answers with the generator's log-probabilities where the provider can ask for them
    (a backend that rejects them is asked again without: `OpenAIProvider.sample_scored`)."""
    scored = getattr(provider, "sample_scored", None)
    if scored is not None:
        answers: list[Answer] = await scored(prompt, n)
        return answers
    return [Answer(text) for text in await provider.sample(prompt, n)]
