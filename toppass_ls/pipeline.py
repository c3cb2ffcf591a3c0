"""The request pipeline shared by the server and `toppass-ls suggest`:
function context -> prompt -> samples -> prepared candidates -> (docstring examples run ->
reviewer scores) -> ranked bodies.

Sampling is async (cancellable); preparation, execution, likelihood scoring and ranking run in
a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from generation.local import LocalProvider
from generation.openai_endpoint import OpenAIProvider
from generation.provider import Provider, SamplingOptions, SamplingPrompt
from ranker import Ranker
from ranker.candidates import dedupe_key, prepare_candidates, to_program
from ranker.examples.proposed import proposed_calls
from ranker.model.shipped import load_ranker
from ranker.signals.defects import static_defects
from ranker.signals.execution import ExecutionCancelled
from ranker.signals.likelihood import LikelihoodScorer, reviewer_text
from ranker.signals.types import Signals
from toppass_ls.context import FunctionContext
from toppass_ls.edits import CandidateBody, action_title, candidate_body
from toppass_ls.examples_run import ExampleRun, ExampleRunner
from toppass_ls.settings import Settings

logger = logging.getLogger(__name__)

Report = Callable[[str, "int | None"], None]
"""Progress: (message, percentage or None)."""

REVIEWER_OFF = "reviewer tie-break off"
REVIEWER_CHUNK = 8  # programs scored between two looks at the cancel flag (~2.5 s on CPU)


@dataclass(frozen=True)
class RankedCandidate:
    """One distinct candidate. score: sigmoid of the ranker's score (0-1, higher is better);
    count: how many samples were this program (duplicates merged); body: the new function body
    at column 0, as applied (`toppass_ls.edits.candidate_body`: with the definitions carried
    from around the model's function at its top); own_body: the function's own body, without
    them (the title's preview); carried: the names those definitions bind; examples: how it
    did on the docstring's examples (`3/3 examples`), None when they were not run; defect: why
    it cannot work, seen without running it (`name 'cube' is not defined`;
    `ranker.signals.defects.static_defect`), None when none was seen."""

    rank: int
    score: float
    raw_score: float
    count: int
    program: str
    body: str
    examples: str | None = None
    defect: str | None = None
    own_body: str | None = None
    carried: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return action_title(
            self.rank,
            self.score,
            self.count,
            self.body if self.own_body is None else self.own_body,
            self.examples,
            self.defect,
            self.carried,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 4),
            "count": self.count,
            "examples": self.examples,
            "defect": self.defect,
            "carried": list(self.carried),
            "title": self.title,
            "body": self.body,
        }


@dataclass(frozen=True)
class RankedResult:
    """All ranked candidates for one function, best first, and what was dropped; `execution`
    says whether the candidates ran on the docstring's examples (or why not), `reviewer`
    whether their ties were broken by reviewer likelihood (`reviewerTieBreak`, or why not)."""

    function: str
    candidates: tuple[RankedCandidate, ...]
    sampled: int
    dropped: tuple[str, ...]
    execution: str = "examples not run: allowExecution is off"
    examples: int | None = None  # judged docstring examples the candidates ran on
    execution_seconds: float = 0.0  # spent running them in the sandbox
    reviewer: str = REVIEWER_OFF

    def top(self, k: int) -> tuple[RankedCandidate, ...]:
        return self.candidates[:k]

    def empty_message(self) -> str:
        """Why nothing can be offered (for the user)."""
        if self.sampled == 0:
            return f"the model returned no answers for {self.function}()"
        reason = f" (e.g. {self.dropped[0]})" if self.dropped else ""
        return f"none of the {self.sampled} answers for {self.function}() was usable Python{reason}"


def sampling_prompt(ctx: FunctionContext) -> SamplingPrompt:
    return SamplingPrompt(code=ctx.prompt, entry_point=ctx.name, context=ctx.context)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


class RankingCancelled(Exception):
    """The request was cancelled while its candidates were prepared, run or ranked."""


def rank_candidates(
    ranker: Ranker,
    ctx: FunctionContext,
    raws: Sequence[str],
    examples: ExampleRunner | None = None,
    stop: threading.Event | None = None,
    reviewer: LikelihoodScorer | None = None,
    proposed: Sequence[str] = (),
) -> RankedResult:
    """Prepare raw answers (the same module training uses), turn each distinct program into
    a body for this function (`candidate_body`: carrying the imports and helpers it needs
    from around the model's function, reading the user's parameter names), merge programs
    that give the same body, rank. With `examples` (allowExecution), each body as applied
    (under the user's signature, with the file's imports) first runs on the docstring's
    examples in its sandbox and the ranker gets those signals. With `reviewer`
    (reviewerTieBreak), each program's reviewer log-probability goes with them: it breaks
    the ties between programs the execution features cannot tell apart, and where nothing
    ran or nothing was judged it takes the place of the ranker's text score. Static defects
    are those of each body as applied, under the user's signature. Calls the model
    `proposed` as test inputs (`probeInputs`) run after the examples, for agreement.
    Blocking: run it in a worker thread; setting `stop` makes it raise `RankingCancelled`
    instead of ranking."""
    preparation = prepare_candidates(raws, ctx.prompt, ctx.name)
    dropped = [c.dropped or "dropped" for c in preparation.dropped]
    programs: list[str] = []
    bodies: list[CandidateBody] = []
    counts: list[int] = []
    by_key: dict[str, int] = {}
    parameters = ctx.parameters
    for group in preparation.groups:
        body = candidate_body(
            group.program, ctx.name, ctx.has_docstring, ctx.document_names, parameters
        )
        if body is None:
            dropped.extend([f"no body for {ctx.name}()"] * group.count)
            continue
        key = dedupe_key(body.text)
        if key in by_key:
            counts[by_key[key]] += group.count
            continue
        by_key[key] = len(programs)
        programs.append(group.program)
        bodies.append(body)
        counts.append(group.count)
    # judged as applied: the body (with what it carries, reading the user's parameter names)
    # under the user's own signature, beside the rest of the file; the examples run on that
    # program, the ranker and the reviewer read the model's
    applied = [to_program(body.text, ctx.prompt) for body in bodies]
    run = run_examples(examples, ctx, applied, counts, stop, proposed)
    if stop is not None and stop.is_set():
        raise RankingCancelled
    execution = run.signals
    likelihood, reviewer_note = likelihood_signals(
        reviewer,
        ranker,
        ctx,
        programs,
        judged=execution is not None and execution.judged,
        stop=stop,
    )
    defects = static_defects(ctx.prompt, applied, ctx.name, ctx.names_outside)
    signals = (
        Signals(execution=execution, likelihood=likelihood)
        if execution is not None or likelihood is not None
        else None
    )
    ranked = (
        ranker.rank(
            ctx.prompt,
            programs,
            signals=signals,
            counts=counts,
            entry_point=ctx.name,
            defects=defects,
        )
        if programs
        else []
    )
    candidates = tuple(
        RankedCandidate(
            rank=position + 1,
            score=sigmoid(score),
            raw_score=score,
            count=counts[index],
            program=programs[index],
            body=bodies[index].text,
            examples=execution.summary(index) if execution is not None else None,
            defect=defects[index],
            own_body=bodies[index].own,
            carried=bodies[index].carried,
        )
        for position, (index, score) in enumerate(ranked)
    )
    return RankedResult(
        ctx.name,
        candidates,
        len(raws),
        tuple(dropped),
        execution=run.note,
        examples=execution.cases if execution is not None else None,
        execution_seconds=run.seconds,
        reviewer=reviewer_note,
    )


def run_examples(
    examples: ExampleRunner | None,
    ctx: FunctionContext,
    programs: Sequence[str],
    counts: Sequence[int],
    stop: threading.Event | None,
    proposed: Sequence[str] = (),
) -> ExampleRun:
    """The candidates' run on the docstring's examples (and the `proposed` inputs), or why
    there is none (logged)."""
    if examples is None:
        run = ExampleRun.skipped("allowExecution is off")
    else:
        try:
            run = examples.run(ctx, programs, counts, stop, proposed)
        except ExecutionCancelled:
            raise RankingCancelled from None
    if run.signals is None:
        logger.info("%s(): %s", ctx.name, run.note)
    else:
        logger.info("%s(): %s in %.2f s", ctx.name, run.note, run.seconds)
    return run


def likelihood_signals(
    scorer: LikelihoodScorer | None,
    ranker: Ranker,
    ctx: FunctionContext,
    programs: Sequence[str],
    *,
    judged: bool,
    stop: threading.Event | None,
) -> tuple[list[tuple[float, float]] | None, str]:
    """(coder, reviewer) per program for `Signals.likelihood`, or None, and a note saying
    which (logged). Where the examples ran and judged (`judged`) the reviewer breaks the ties
    the execution features leave; elsewhere it takes the place of the ranker's text score
    (`ranker.order`). The coder score is computed only for a ranker with the
    `likelihood` feature group (it is 0.0, and unused, otherwise). A scorer that fails to load
    or score is logged and the programs are ranked without it; `stop` set before, between
    chunks of programs or after scoring raises `RankingCancelled`."""
    if scorer is None:
        return None, REVIEWER_OFF
    role = "reviewer tie-break" if judged else "reviewer order (nothing judged)"
    both = "likelihood" in ranker.config.features
    started = time.perf_counter()
    values: list[tuple[float, float]] = []
    try:
        for first in range(0, len(programs), REVIEWER_CHUNK):
            if stop is not None and stop.is_set():
                raise RankingCancelled
            chunk = programs[first : first + REVIEWER_CHUNK]
            if both:
                values += [(s.coder, s.reviewer) for s in scorer.score(ctx.prompt, ctx.name, chunk)]
            else:
                texts = [reviewer_text(ctx.prompt, ctx.name, program) for program in chunk]
                values += [(0.0, mean) for mean, _tokens in scorer.score_texts(texts)]
    except RankingCancelled:
        raise
    except Exception as exc:  # a model that cannot load or score: rank without it
        logger.warning("%s(): reviewer scoring failed", ctx.name, exc_info=True)
        return None, f"{role} failed ({type(exc).__name__}: {exc}); ranked without it"
    if stop is not None and stop.is_set():
        raise RankingCancelled
    seconds = time.perf_counter() - started
    plural = "" if len(programs) == 1 else "s"
    note = f"{role}: scored {len(programs)} candidate{plural} in {seconds:.1f} s"
    logger.info("%s(): %s", ctx.name, note)
    return values, note


def load_quietly(scorer: LikelihoodScorer) -> None:
    """Load the likelihood model ahead of its first use; a failure is only logged here (the
    scoring that needs the model tries again and says so in the result)."""
    try:
        scorer.load()
    except Exception as exc:
        logger.warning("loading the reviewer model %s failed: %s", scorer.name, exc)


class RankerLoader:
    """Loads the ranker for a `rankerPath` once, in a worker thread; reloads when the path
    changes or the last load failed. A cancelled caller does not cancel the load."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._future: asyncio.Future[tuple[Ranker, str | None]] | None = None
        self.warning: str | None = None

    async def get(self, path: str | None) -> Ranker:
        future = self._future
        if (
            future is None
            or path != self._path
            or (future.done() and future.exception() is not None)
        ):
            self._path = path
            future = self._future = asyncio.ensure_future(
                asyncio.to_thread(load_ranker, path, "cpu")
            )
        ranker, self.warning = await asyncio.shield(future)
        return ranker


def sampling_options(settings: Settings) -> SamplingOptions:
    return SamplingOptions(
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        time_budget=settings.time_budget,
    )


def provider_key(settings: Settings) -> tuple[Any, ...]:
    """Settings that need a new provider object when they change."""
    if settings.provider == "local":
        return ("local", settings.local.model, sampling_options(settings))
    o = settings.openai
    return (
        "openai",
        o.base_url,
        o.model,
        o.api_key,
        o.api,
        o.honours_n,
        sampling_options(settings),
    )


def make_provider(settings: Settings) -> Provider:
    options = sampling_options(settings)
    if settings.provider == "local":
        return LocalProvider(settings.local.model, options=options)
    o = settings.openai
    return OpenAIProvider(
        model=o.model,
        base_url=o.base_url,
        api_key=o.api_key,
        api=o.api,
        honours_n=o.honours_n,
        options=options,
    )


async def generate(
    ctx: FunctionContext,
    provider: Provider,
    ranker: Callable[[], Any],
    samples: int,
    report: Report,
    examples: ExampleRunner | None = None,
    reviewer: LikelihoodScorer | None = None,
    probe_inputs: int = 0,
) -> RankedResult:
    """Sample `samples` answers for `ctx`, then prepare, run on the docstring's examples (with
    `examples`), score with the reviewer (with `reviewer`) and rank them off the event loop.
    With `examples` and `probe_inputs`, one more request asks the model for that many test
    inputs while the answers are sampled (`propose_inputs`); the calls it gives run
    with the examples, for agreement. `ranker` is an async callable returning the Ranker
    (loaded while sampling runs); the reviewer's model loads in a worker thread meanwhile
    too. Cancelling stops the worker thread from handing out more sandbox jobs, from scoring
    and from ranking (jobs already running end within their limits; a model load goes on,
    for the next request)."""
    ranker_task = asyncio.ensure_future(ranker())
    inputs_task = (
        asyncio.ensure_future(propose_inputs(provider, ctx, probe_inputs))
        if examples is not None and probe_inputs > 0
        else None
    )
    if reviewer is not None:
        # not awaited: the scoring waits for the model itself (the scorer's lock)
        asyncio.get_running_loop().run_in_executor(None, load_quietly, reviewer)

    def on_progress(done: int, total: int) -> None:
        report(f"sampling {done}/{total}", int(90 * done / max(total, 1)))

    try:
        raws = await provider.sample(sampling_prompt(ctx), samples, on_progress=on_progress)
        proposed = await inputs_task if inputs_task is not None else []
        steps = ", ".join(
            step
            for step, on in (
                ("running examples", examples is not None),
                ("reviewer scores", reviewer is not None),
                ("ranking", True),
            )
            if on
        )
        report(steps, 90)
        loaded = await ranker_task
    finally:
        if inputs_task is not None and not inputs_task.done():
            inputs_task.cancel()
        if not ranker_task.done():
            ranker_task.cancel()  # the load itself goes on (shielded) for the next request
        elif not ranker_task.cancelled():
            ranker_task.exception()  # retrieved: a failed load is reported by the await above
    stop = threading.Event()
    try:
        return await asyncio.to_thread(
            rank_candidates, loaded, ctx, raws, examples, stop, reviewer, proposed
        )
    except asyncio.CancelledError:
        stop.set()
        raise


async def propose_inputs(provider: Provider, ctx: FunctionContext, n: int) -> list[str]:
    """Up to `n` calls of the function with literal arguments that the model proposes as test
    inputs (one request, `ranker.examples.proposed.proposed_calls`); [] when the request fails or
    the reply holds none (logged: the candidates are ranked without them)."""
    prompt = SamplingPrompt(code=ctx.prompt, entry_point=ctx.name, context=ctx.context, inputs=n)
    try:
        replies = await provider.sample(prompt, 1)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        logger.warning("%s(): asking the model for test inputs failed: %s", ctx.name, exc)
        return []
    calls = await asyncio.to_thread(proposed_calls, replies, ctx.name, n)  # off the event loop
    logger.info("%s(): the model proposed %d test inputs", ctx.name, len(calls))
    return calls
