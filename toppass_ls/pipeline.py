"""The request pipeline shared by the server and `toppass-ls suggest`: the function's context
-> prompt -> samples from the configured provider (async, cancellable; with `adaptiveSampling`,
in rounds that stop once the answers settle the top of the list, `ranker.order.StoppingRule`;
with `probeInputs`, one more request for test inputs) -> `ranker.offer.rank_candidates` in a worker thread (the same
path `toppass-train eval` measures) -> ranked bodies. The ranker and the reviewer's model load
in worker threads while the samples arrive.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from generation.factory import make_provider as build_provider
from generation.provider import Provider, SamplingOptions, SamplingPrompt
from ranker.examples.proposed import proposed_calls
from ranker.model.ranker import Ranker
from ranker.model.shipped import load_ranker
from ranker.offer import RankedResult, evidence, prewarm, rank_candidates
from ranker.order import StoppingRule
from ranker.signals.examples_run import ExampleRunner
from ranker.signals.likelihood import LikelihoodScorer
from ranker.source import FunctionContext
from toppass_ls.settings import Settings

logger = logging.getLogger(__name__)

Report = Callable[[str, "int | None"], None]
"""Progress: (message, percentage or None)."""


def sampling_prompt(ctx: FunctionContext) -> SamplingPrompt:
    return SamplingPrompt(code=ctx.prompt, entry_point=ctx.name, context=ctx.context)


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


def stopping_rule(settings: Settings) -> StoppingRule | None:
    """The rule that ends sampling early (`adaptiveSampling`), or None: all `samples`."""
    return StoppingRule() if settings.adaptive_sampling else None


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
    """The provider the settings name (`generation.factory.make_provider`)."""
    o = settings.openai
    return build_provider(
        settings.provider,
        sampling_options(settings),
        model=settings.local.model if settings.provider == "local" else o.model,
        base_url=o.base_url,
        api_key=o.api_key,
        api=o.api,
        honours_n=o.honours_n,
    )


class Prewarmer:
    """A worker thread that does `ranker.offer.prewarm` for answers as they arrive, while the
    rest are sampled: their bodies run on the examples and their programs are embedded, into
    the runner's and the ranker's caches, so that ranking the whole list at the end finds
    most of its work done. The ranker joins when it has loaded (`set_ranker`); answers that
    came before are embedded then. `close` stops it after the chunk in hand."""

    def __init__(
        self,
        ctx: FunctionContext,
        examples: ExampleRunner | None,
        reviewer: LikelihoodScorer | None = None,
    ) -> None:
        self.ctx = ctx
        self.examples = examples
        self.reviewer = reviewer
        self._ranker: Ranker | None = None
        self._pending: list[str] = []  # answers not yet warmed
        self._waiting: list[str] = []  # warmed without the ranker: to embed once it loads
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="toppass-prewarm", daemon=True)
        self._thread.start()

    def add(self, answers: Sequence[str]) -> None:
        with self._wake:
            self._pending.extend(answers)
            self._wake.notify()

    def set_ranker(self, ranker: Ranker) -> None:
        with self._wake:
            self._ranker = ranker
            self._pending.extend(self._waiting)
            self._waiting.clear()
            self._wake.notify()

    def close(self) -> None:
        """Stop taking work and wait for the chunk in hand (blocking: call it off the loop)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                chunk, self._pending = self._pending, []
                ranker = self._ranker
                if ranker is None:
                    self._waiting.extend(chunk)
            try:
                prewarm(ranker, self.ctx, chunk, self.examples, self.reviewer)
            except Exception:  # the final ranking does the work again, and reports
                logger.debug("prewarming %d answers failed", len(chunk), exc_info=True)


async def generate(
    ctx: FunctionContext,
    provider: Provider,
    ranker: Callable[[], Any],
    samples: int,
    report: Report,
    examples: ExampleRunner | None = None,
    reviewer: LikelihoodScorer | None = None,
    probe_inputs: int = 0,
    stopping: StoppingRule | None = None,
) -> RankedResult:
    """Sample up to `samples` answers for `ctx` (all of them, or with `stopping` in its rounds
    until its evidence settles, `sample_rounds`), then prepare, run on the docstring's examples (with
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

    warm = Prewarmer(ctx, examples, reviewer)

    def ranker_loaded(task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is None:
            warm.set_ranker(task.result())

    ranker_task.add_done_callback(ranker_loaded)
    try:
        raws = await sample_rounds(
            ctx, provider, samples, report, stopping, examples, on_answers=warm.add
        )
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
        await asyncio.to_thread(warm.close)
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


async def sample_rounds(
    ctx: FunctionContext,
    provider: Provider,
    samples: int,
    report: Report,
    stopping: StoppingRule | None = None,
    examples: ExampleRunner | None = None,
    on_answers: Callable[[Sequence[str]], None] | None = None,
) -> list[str]:
    """Up to `samples` raw answers for `ctx`: all in one request without `stopping`; with it,
    in its rounds, asking for the next only while `ranker.offer.evidence` of the answers so
    far (run on the docstring's examples where `examples` is given) is not `settled`.
    Progress counts against `samples`, and says when sampling stopped early. Cancelling
    between rounds, or while the evidence is gathered, stops there."""
    if stopping is not None and getattr(provider, "samples_together", False):
        return await _sample_until_settled(
            ctx, provider, samples, report, stopping, examples, on_answers
        )
    rounds = stopping.rounds(samples) if stopping is not None else [samples]
    raws: list[str] = []
    for number, size in enumerate(rounds):
        before = len(raws)

        def on_progress(done: int, _total: int, before: int = before) -> None:
            report(f"sampling {before + done}/{samples}", int(90 * (before + done) / samples))

        raws += await provider.sample(
            sampling_prompt(ctx), size, on_progress=on_progress, on_answers=on_answers
        )
        if stopping is None or number == len(rounds) - 1:
            break
        stop = threading.Event()
        try:
            seen = await asyncio.to_thread(evidence, ctx, raws, examples, stop)
        except asyncio.CancelledError:
            stop.set()
            raise
        if stopping.settled(seen):
            logger.info("%s(): settled after %d of %d answers", ctx.name, len(raws), samples)
            report(f"settled: {len(raws)} of {samples} sampled", 90)
            break
    return raws


async def _sample_until_settled(
    ctx: FunctionContext,
    provider: Provider,
    samples: int,
    report: Report,
    stopping: StoppingRule,
    examples: ExampleRunner | None,
    on_answers: Callable[[Sequence[str]], None] | None,
) -> list[str]:
    """`sample_rounds` for a provider that samples a request's answers together (the local
    model: one batch, each answer handed out as it ends). A second round would cost a second
    pass as long as the first, so all `samples` are asked for at once, the rule is checked
    when the first round's worth has arrived, and the request is cancelled if that settles
    it: never longer than sampling them all."""
    first = stopping.rounds(samples)[0]
    arrived: list[str] = []
    enough = asyncio.Event()

    def got(answers: Sequence[str]) -> None:
        arrived.extend(answers)
        if on_answers is not None:
            on_answers(answers)
        if len(arrived) >= first:
            enough.set()

    def on_progress(done: int, _total: int) -> None:
        report(f"sampling {done}/{samples}", int(90 * done / samples))

    request = asyncio.ensure_future(
        provider.sample(sampling_prompt(ctx), samples, on_progress=on_progress, on_answers=got)
    )
    waiter = asyncio.ensure_future(enough.wait())
    stop = threading.Event()
    try:
        await asyncio.wait({request, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if not request.done() and first < samples:
            seen = await asyncio.to_thread(evidence, ctx, list(arrived), examples, stop)
            if stopping.settled(seen) and not request.done():
                request.cancel()
                await asyncio.wait({request})  # the batch stops after its current step
                logger.info("%s(): settled after %d of %d answers", ctx.name, len(arrived), samples)
                report(f"settled: {len(arrived)} of {samples} sampled", 90)
                return list(arrived)
        return await request
    finally:
        stop.set()  # evidence still being gathered stops
        waiter.cancel()
        request.cancel()  # on cancellation or an error: the batch stops too


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
