"""What the editor offers for one function, and what `toppass-train eval` measures as offered:
raw answers -> programs (`ranker.candidates`) -> the body each gives the user's function, as
applied (`ranker.candidates.applied`; answers giving the same body merged) -> the bodies run on
the docstring's examples (`ranker.signals.examples_run`, where allowed) -> the reviewer's
likelihood (where asked) -> static defects of each body as applied -> the serving order
(`ranker.order`). Blocking: the server calls it in a worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ranker.candidates import dedupe_key, prepare_candidates, to_program
from ranker.candidates.applied import CandidateBody, candidate_body
from ranker.model.calibration import sigmoid
from ranker.model.features import feature_matrix
from ranker.model.ranker import Ranker
from ranker.order import Evidence
from ranker.signals.defects import static_defects
from ranker.signals.examples_run import ExampleRun, ExampleRunner
from ranker.signals.execution import ExecutionCancelled
from ranker.signals.likelihood import LikelihoodScorer, reviewer_text
from ranker.signals.types import Signals
from ranker.source import FunctionContext

logger = logging.getLogger(__name__)


REVIEWER_OFF = "reviewer tie-break off"


REVIEWER_CHUNK = 8  # programs scored between two looks at the cancel flag (~2.5 s on CPU)


@dataclass(frozen=True)
class RankedCandidate:
    """One distinct candidate. score: sigmoid of the ranker's score (0-1, higher is better);
    count: how many samples were this program (duplicates merged); body: the new function body
    at column 0, as applied (`ranker.candidates.applied.candidate_body`: with the definitions carried
    from around the model's function at its top); own_body: the function's own body, without
    them (the title's preview); carried: the names those definitions bind; examples: how it
    did on the docstring's examples (`3/3 examples`), None when they were not run; defect: why
    it cannot work, seen without running it (`name 'cube' is not defined`;
    `ranker.signals.defects.static_defect`), None when none was seen; probability: the
    calibrated probability that it is correct (`ranker.model.calibration`), None where the
    ranker has no calibration for how it was ranked."""

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
    answers: tuple[int, ...] = ()  # positions of the raw answers it stands for
    passed: int | None = None  # docstring examples it passes, where they ran and judged
    behaviour: int | None = None  # its behaviour cluster (same results on every input run)
    probability: float | None = None  # calibrated P(correct) (`ranker.model.calibration`)


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
    prompt: str = ""  # what the ranker read beside each program (the feedback log keeps it)
    signals: Signals | None = None
    """What the ranker was served with besides the text, aligned with `candidates` (best
    first): execution, likelihood, sample counts and static defects (the feedback log keeps
    them, so a ranker can be retrained on the user's choices without running anything)."""

    def top(self, k: int) -> tuple[RankedCandidate, ...]:
        return self.candidates[:k]

    @property
    def warning(self) -> str | None:
        """What the user must know before trusting any of the list: no candidate passes any of
        the docstring's examples (or, with none run, every candidate has a certain defect)."""
        if not self.candidates:
            return None
        n = len(self.candidates)
        if self.examples and all(c.passed == 0 for c in self.candidates):
            shown = "the example" if self.examples == 1 else f"any of the {self.examples} examples"
            if n == 1:
                return f"the only candidate fails {shown.replace('any of ', '')}"
            return f"none of the {n} candidates passes {shown}"
        if all(c.defect is not None for c in self.candidates):
            first = self.candidates[0].defect
            if n == 1:
                return f"the only candidate cannot work as written ({first})"
            return f"every one of the {n} candidates has a defect ({first}, ...)"
        return low_confidence(self.candidates, self.examples)

    def empty_message(self) -> str:
        """Why nothing can be offered (for the user)."""
        if self.sampled == 0:
            return f"the model returned no answers for {self.function}()"
        reason = f" (e.g. {self.dropped[0]})" if self.dropped else ""
        return f"none of the {self.sampled} answers for {self.function}() was usable Python{reason}"


LOW_CONFIDENCE = 0.5
"""Below this calibrated probability that the first candidate is correct, the offer says so:
the first candidate is then more likely wrong than right (docs/ranking.md, "Calibrated
confidence", says how often that happens)."""


def low_confidence(candidates: Sequence[RankedCandidate], examples: int | None) -> str | None:
    """Why the first of `candidates` (best first) is not to be trusted, where its calibrated
    probability is below `LOW_CONFIDENCE`; None where it is not, or is not known."""
    first = candidates[0]
    if first.probability is None or first.probability >= LOW_CONFIDENCE:
        return None
    if examples and first.passed is not None and first.passed < examples:
        why = f"#1 passes {first.passed}/{examples} examples"
    elif examples:
        why = "the examples do not decide between the candidates"
    elif first.behaviour is not None:
        why = "candidates disagree and no example decides"
    else:
        why = "nothing ran to decide between the candidates"
    return f"low confidence: #1 is correct with p={first.probability:.2f} ({why})"


@dataclass
class OfferedBodies:
    """The distinct bodies a function's answers give, in order of first answer: the model's
    program for each (what the ranker and the reviewer read), the body as applied, how many
    answers gave it and which, and why the other answers give none."""

    programs: list[str] = field(default_factory=list)
    bodies: list[CandidateBody] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    answers: list[list[int]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def applied(self, ctx: FunctionContext) -> list[str]:
        """Each body as applied: under the user's own signature, with the file's imports."""
        return [to_program(body.text, ctx.prompt) for body in self.bodies]


def offered_bodies(ctx: FunctionContext, raws: Sequence[str]) -> OfferedBodies:
    """Prepare raw answers (the same module training uses) and turn each distinct program
    into a body for this function (`candidate_body`: carrying the imports and helpers it
    needs from around the model's function, reading the user's parameter names); programs
    that give the same body are one offer."""
    preparation = prepare_candidates(raws, ctx.prompt, ctx.name)
    offered = OfferedBodies(dropped=[c.dropped or "dropped" for c in preparation.dropped])
    by_key: dict[str, int] = {}
    parameters = ctx.parameters
    for group in preparation.groups:
        body = candidate_body(
            group.program, ctx.name, ctx.has_docstring, ctx.document_names, parameters
        )
        if body is None:
            offered.dropped.extend([f"no body for {ctx.name}()"] * group.count)
            continue
        key = dedupe_key(body.text)
        if key in by_key:
            offered.counts[by_key[key]] += group.count
            offered.answers[by_key[key]].extend(group.indices)
            continue
        by_key[key] = len(offered.programs)
        offered.programs.append(group.program)
        offered.bodies.append(body)
        offered.counts.append(group.count)
        offered.answers.append(list(group.indices))
    return offered


def prewarm(
    ranker: Ranker | None,
    ctx: FunctionContext,
    raws: Sequence[str],
    examples: ExampleRunner | None = None,
    reviewer: LikelihoodScorer | None = None,
) -> None:
    """Do now, for some of a request's answers, the work `rank_candidates` will ask again for
    all of them: run their bodies on the docstring's examples (kept by the runner's cache)
    embed their programs where the ranker reads the text (kept by the ranker), and score them
    with the reviewer (kept by the scorer). Called as
    answers arrive, so that when the last one does only its own work is left. Results are
    not returned: only the caches change."""
    offered = offered_bodies(ctx, raws)
    if not offered.programs:
        return
    execution = None
    if examples is not None:
        execution = examples.run(ctx, offered.applied(ctx), offered.counts).signals
    if ranker is None:
        return
    signals = Signals(execution=execution) if execution is not None else None
    features = (
        feature_matrix(len(offered.programs), signals, ranker.config.features)
        if ranker.feature_names
        else None
    )
    reads = ranker.reads_text(features) if features is not None else None
    texts = [p for i, p in enumerate(offered.programs) if reads is None or reads[i]]
    if texts:
        ranker.pooled(ctx.prompt, texts)
    if reviewer is not None:
        _reviewer_scores(reviewer, ranker, ctx, offered.programs)


def _reviewer_scores(
    scorer: LikelihoodScorer, ranker: Ranker, ctx: FunctionContext, programs: Sequence[str]
) -> list[tuple[float, float]]:
    """(coder, reviewer) of each program: the coder score only for a ranker with the
    `likelihood` feature group (0.0, unused, otherwise)."""
    if "likelihood" in ranker.config.features:
        return [(s.coder, s.reviewer) for s in scorer.score(ctx.prompt, ctx.name, programs)]
    texts = [reviewer_text(ctx.prompt, ctx.name, program) for program in programs]
    return [(0.0, mean) for mean, _tokens in scorer.score_texts(texts)]


def evidence(
    ctx: FunctionContext,
    raws: Sequence[str],
    examples: ExampleRunner | None = None,
    stop: threading.Event | None = None,
) -> Evidence:
    """What the answers drawn so far say, for `ranker.order.StoppingRule`: the distinct bodies
    they give (as `rank_candidates` merges them), each body's static defect and, with
    `examples`, its run on the docstring's examples (the runner's cache keeps the runs for
    the final ranking). Blocking; `stop` set meanwhile raises `RankingCancelled`."""
    offered = offered_bodies(ctx, raws)
    applied = offered.applied(ctx)
    execution = None
    if examples is not None and applied:
        execution = run_examples(examples, ctx, applied, offered.counts, stop).signals
    if stop is not None and stop.is_set():
        raise RankingCancelled
    defects = static_defects(ctx.prompt, applied, ctx.name, ctx.names_outside)
    return Evidence(len(raws), list(offered.counts), execution, defects)


def forget_prepared() -> None:
    """Forget the answers prepared, the bodies made and the defects found so far (they are
    remembered by content, for the answers' second pass; benchmarks start from nothing)."""
    from ranker.candidates import applied, prepare
    from ranker.signals import defects
    from ranker.source import trees

    for cached in (
        prepare._prepared,
        prepare._parses,
        prepare._trim_prose,
        prepare.dedupe_key,
        trees.defines,
        applied._candidate_body,
    ):
        cached.cache_clear()
    defects._static_defect.cache_clear()


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
    offered = offered_bodies(ctx, raws)
    programs, bodies, counts, answers = (
        offered.programs,
        offered.bodies,
        offered.counts,
        offered.answers,
    )
    dropped = offered.dropped
    # judged as applied: the body (with what it carries, reading the user's parameter names)
    # under the user's own signature, beside the rest of the file; the examples run on that
    # program, the ranker and the reviewer read the model's
    applied = offered.applied(ctx)
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
    calibration = ranker.calibration
    probabilities = (
        calibration.probabilities([score for _, score in sorted(ranked)], counts, signals)
        if calibration is not None and ranked
        else None
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
            answers=tuple(answers[index]),
            passed=execution.runs[index].passed
            if execution is not None and execution.judged
            else None,
            behaviour=execution.clusters[index] if execution is not None else None,
            probability=probabilities[index] if probabilities is not None else None,
        )
        for position, (index, score) in enumerate(ranked)
    )
    served = Signals(
        execution=execution, likelihood=likelihood, counts=list(counts), defects=list(defects)
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
        prompt=ctx.prompt,
        signals=served.select([index for index, _ in ranked]) if ranked else None,
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
    started = time.perf_counter()
    values: list[tuple[float, float]] = []
    try:
        for first in range(0, len(programs), REVIEWER_CHUNK):
            if stop is not None and stop.is_set():
                raise RankingCancelled
            chunk = programs[first : first + REVIEWER_CHUNK]
            values += _reviewer_scores(scorer, ranker, ctx, chunk)
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
