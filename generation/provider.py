"""What sampling is, whatever the backend: the request (`SamplingPrompt`, `SamplingOptions`), the
answer (`Answer`), the `Provider` protocol every backend implements, and `SamplingError`, the
one error a user must act on (endpoint unreachable, bad key, missing model, time budget spent
without an answer), whose message is one line naming the cause.

Backends: `generation.openai_endpoint` (any OpenAI-compatible endpoint) and `generation.local`
(a transformers model on this machine); `generation.factory.make_provider` builds either.
`sample_scored` also returns each answer's mean token log-probability under the generator,
where the backend reports it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

ProgressCallback = Callable[[int, int], None]
"""Called with (answers received so far, answers requested)."""

AnswersCallback = Callable[[Sequence[str]], None]
"""Called with answers as they arrive, before `sample` returns them all (on the event loop):
the server prepares, runs and embeds them while the rest are sampled."""

ApiStyle = Literal["chat", "completions"]
HonoursN = Literal["auto", "yes", "no"]


class SamplingError(RuntimeError):
    """Sampling failed in a way the user must act on; the message is one line with the cause."""


@dataclass(frozen=True)
class SamplingPrompt:
    """What to ask for.

    code: the program prefix the answer completes, HumanEval style: imports, then the
        signature and docstring of `entry_point`. For a stdio problem (`entry_point` None), the
        problem statement.
    entry_point: the function to write, or None for a whole stdin/stdout program.
    context: code around the function, shown to the model for reference but not part of the
        program (the editor's surrounding lines).
    inputs: when above 0, ask for that many calls of `entry_point` with different inputs
        (test inputs, CodeT-style: `ranker.examples.proposed.proposed_calls` reads them) instead
        of the function.
    """

    code: str
    entry_point: str | None = None
    context: str = ""
    inputs: int = 0

    @property
    def asks_inputs(self) -> bool:
        return self.inputs > 0 and self.entry_point is not None


@dataclass(frozen=True)
class SamplingOptions:
    """temperature: sampling temperature. max_tokens: new tokens per answer. time_budget:
    seconds for the whole call; answers received by then are returned, none is an error.
    seed: base seed (answer i uses seed + i); None draws one per call."""

    temperature: float = 0.8
    max_tokens: int = 384
    time_budget: float = 60.0
    seed: int | None = None

    def base_seed(self) -> int:
        return self.seed if self.seed is not None else random.randrange(2**31 - 2**16)


@dataclass(frozen=True)
class Answer:
    """One raw answer and the *generator's* mean token log-probability of it (nats, the
    model's own distribution before temperature), over `tokens` answer tokens; None when the
    backend returned no log-probabilities.

    The generator is not the likelihood scorer (`ranker.signals.likelihood`): its numbers depend on
    which model wrote the answers and, for chat, include prose and fences around the code. Use
    them within one problem only, z-scored there, never as absolute values across models."""

    text: str
    mean_logprob: float | None = None
    tokens: int = 0


def mean_or_none(logprobs: Sequence[float | None] | None) -> tuple[float | None, int]:
    """(mean, count) of the known log-probabilities; (None, 0) when there are none."""
    known = [float(x) for x in logprobs or () if x is not None]
    return (sum(known) / len(known), len(known)) if known else (None, 0)


class Provider(Protocol):
    """Anything that samples `n` raw answers for a prompt."""

    async def sample(
        self,
        prompt: SamplingPrompt,
        n: int,
        *,
        on_progress: ProgressCallback | None = None,
        on_answers: AnswersCallback | None = None,
    ) -> list[str]: ...

    async def aclose(self) -> None: ...
