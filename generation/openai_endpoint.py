"""`OpenAIProvider`: sample candidates from any OpenAI-compatible endpoint (OpenAI, vLLM,
Ollama, llama.cpp server, LM Studio) through the `openai` async client.

    provider = OpenAIProvider(base_url="http://localhost:8000/v1", model="qwen")
    texts = await provider.sample(SamplingPrompt(code, "name"), 16, on_progress=print)

Uses `n` where the backend honours it and concurrent seeded requests where it does not (Ollama
and llama.cpp ignore `n`); cancelling the awaiting task closes the HTTP requests.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from generation.prompts import chat_messages, completion_stops, completion_text, cut_at_stops
from generation.provider import (
    Answer,
    AnswersCallback,
    ApiStyle,
    HonoursN,
    ProgressCallback,
    SamplingError,
    SamplingOptions,
    SamplingPrompt,
    mean_or_none,
)

logger = logging.getLogger(__name__)


# How many answers may be in flight at once when the endpoint ignores `n`.
MAX_CONCURRENT_REQUESTS = 16


class OpenAIProvider:
    """Samples from any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server,
    LM Studio) with `openai.AsyncOpenAI`.

    honours_n: "yes" sends one request with n=N; "no" sends N concurrent requests with n=1 and
    seeds seed..seed+N-1; "auto" tries n=N and, when fewer answers come back (Ollama and
    llama.cpp ignore `n`), asks for the rest concurrently and remembers that for later calls.
    Cancelling `sample` cancels the requests, which closes their HTTP connections.
    `sample_scored` asks for log-probabilities too (`logprobs` in the request); a backend that
    rejects that parameter is asked again without it (answers then carry None).
    """

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        api: ApiStyle = "chat",
        honours_n: HonoursN = "auto",
        options: SamplingOptions | None = None,
    ) -> None:
        self.model = model
        self.api = api
        self.honours_n = honours_n
        self.options = options or SamplingOptions()
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or None
        self._client: Any = None
        self._ignores_n = honours_n == "no"
        self._rejects_logprobs = False

    @property
    def endpoint(self) -> str:
        return (self.base_url or "https://api.openai.com/v1").rstrip("/")

    def _get_client(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            api_key = self.api_key
            if api_key is None:
                if self.base_url is None:
                    raise SamplingError(
                        "no OpenAI API key: set openai.apiKey or the OPENAI_API_KEY "
                        "environment variable (or point openai.baseUrl at a local server)"
                    )
                api_key = "EMPTY"  # local servers (vLLM, Ollama) take any key
            self._client = AsyncOpenAI(
                base_url=self.endpoint,
                api_key=api_key,
                max_retries=0,  # the time budget, not the client, decides how long to try
                timeout=self.options.time_budget,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def sample(
        self,
        prompt: SamplingPrompt,
        n: int,
        *,
        on_progress: ProgressCallback | None = None,
        on_answers: AnswersCallback | None = None,
    ) -> list[str]:
        answers = await self._sample(prompt, n, on_progress, logprobs=False, on_answers=on_answers)
        return [answer.text for answer in answers]

    async def sample_scored(
        self, prompt: SamplingPrompt, n: int, *, on_progress: ProgressCallback | None = None
    ) -> list[Answer]:
        """As `sample`, with each answer's mean token log-probability where the endpoint
        returns them (see `Answer`)."""
        try:
            return await self._sample(prompt, n, on_progress, logprobs=not self._rejects_logprobs)
        except SamplingError as exc:
            if self._rejects_logprobs or not _mentions_logprobs(exc.__cause__):
                raise
            logger.info("%s rejects logprobs; sampling without them", self.endpoint)
            self._rejects_logprobs = True
            return await self._sample(prompt, n, on_progress, logprobs=False)

    async def _sample(
        self,
        prompt: SamplingPrompt,
        n: int,
        on_progress: ProgressCallback | None,
        logprobs: bool,
        on_answers: AnswersCallback | None = None,
    ) -> list[Answer]:
        if n < 1:
            return []
        client = self._get_client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.time_budget
        seed = self.options.base_seed()
        texts: list[Answer] = []

        def progress() -> None:
            if on_progress is not None:
                on_progress(len(texts), n)

        def got(answers: Sequence[Answer]) -> None:
            texts.extend(answers)
            progress()
            if on_answers is not None and answers:
                on_answers([answer.text for answer in answers])

        progress()
        if not self._ignores_n:
            try:
                answers = await asyncio.wait_for(
                    self._request(client, prompt, n, seed, logprobs), self._left(deadline)
                )
            except asyncio.TimeoutError:
                raise SamplingError(self._timeout_message()) from None
            except Exception as exc:
                if self.honours_n == "auto" and _rejects_n(exc):
                    logger.info("%s rejects n=%d; sending single requests", self.endpoint, n)
                    self._ignores_n = True
                else:
                    raise SamplingError(describe_error(exc, self.endpoint, self.model)) from exc
            else:
                got(answers[:n])
                if len(answers) < n and self.honours_n == "auto" and n > 1:
                    logger.info(
                        "%s answered %d of n=%d; sending single seeded requests from now on",
                        self.endpoint,
                        len(answers),
                        n,
                    )
                    self._ignores_n = True
                if self.honours_n == "yes" or not self._ignores_n:
                    return texts
        missing = n - len(texts)
        if missing > 0:
            seeds = [seed + len(texts) + i for i in range(missing)]
            await self._concurrent(client, prompt, seeds, deadline, texts, got, logprobs)
        return texts

    async def _concurrent(
        self,
        client: Any,
        prompt: SamplingPrompt,
        seeds: list[int],
        deadline: float,
        texts: list[Answer],
        got: Callable[[Sequence[Answer]], None],
        logprobs: bool,
    ) -> None:
        """One n=1 request per seed, at most MAX_CONCURRENT_REQUESTS at once; hands answers
        to `got` as they arrive (`texts` holds all so far). Stops at the deadline with what it
        has."""
        limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(seed: int) -> list[Answer]:
            async with limit:
                return await self._request(client, prompt, 1, seed, logprobs)

        tasks = [asyncio.ensure_future(one(s)) for s in seeds]
        errors: list[BaseException] = []
        timed_out = False
        try:
            for next_done in asyncio.as_completed(tasks, timeout=self._left(deadline)):
                try:
                    got(await next_done)
                except asyncio.TimeoutError:
                    timed_out = True
                    break
                except Exception as exc:
                    errors.append(exc)
                    if isinstance(exc, _fatal_errors()):
                        break  # every request would fail the same way
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if texts:
            if errors or timed_out:
                logger.warning(
                    "%s: %d answers; %d requests failed%s",
                    self.endpoint,
                    len(texts),
                    len(errors),
                    ", time budget spent" if timed_out else "",
                )
            return
        if errors:
            raise SamplingError(describe_error(errors[0], self.endpoint, self.model)) from errors[0]
        raise SamplingError(self._timeout_message())

    async def _request(
        self, client: Any, prompt: SamplingPrompt, n: int, seed: int, logprobs: bool = False
    ) -> list[Answer]:
        common: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "seed": seed,
        }
        if self.api == "chat":
            if logprobs:
                common["logprobs"] = True
            response = await client.chat.completions.create(
                messages=chat_messages(prompt), **common
            )
            return [_chat_answer(choice) for choice in _choices(response)]
        if logprobs:
            common["logprobs"] = 1  # the sampled token's own log-probability comes with it
        stops = completion_stops(prompt)
        response = await client.completions.create(
            prompt=completion_text(prompt), stop=stops or None, **common
        )
        # A completion is the body that follows the prompt; candidate preparation joins them.
        return [_completion_answer(choice, stops) for choice in _choices(response)]

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - asyncio.get_running_loop().time())

    def _timeout_message(self) -> str:
        return (
            f"no answer from {self.endpoint} within the time budget of "
            f"{self.options.time_budget:g} s"
        )


def _chat_answer(choice: Any) -> Answer:
    text = choice.message.content or ""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    mean, count = mean_or_none([token.logprob for token in content or ()])
    return Answer(text, mean, count)


def _completion_answer(choice: Any, stops: Sequence[str]) -> Answer:
    """The answer cut at the first stop sequence (servers that ignore `stop` run on), and the
    mean over the tokens that contribute to what is kept."""
    raw = choice.text or ""
    text = cut_at_stops(raw, stops)
    logprobs = getattr(choice, "logprobs", None)
    tokens = getattr(logprobs, "tokens", None)
    values = getattr(logprobs, "token_logprobs", None)
    if not tokens or not values:
        return Answer(text)
    kept: list[float | None] = []
    length = 0
    for token, value in zip(tokens, values, strict=False):
        if length >= len(text) and len(text) < len(raw):
            break
        kept.append(value)
        length += len(token)
    mean, count = mean_or_none(kept)
    return Answer(text, mean, count)


def _mentions_logprobs(exc: BaseException | None) -> bool:
    import openai

    return isinstance(exc, openai.BadRequestError) and "logprobs" in str(exc)


def _choices(response: Any) -> list[Any]:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise MalformedResponse(f"the answer has no list of choices ({type(response).__name__})")
    return choices


class MalformedResponse(ValueError):
    """The endpoint answered 200 with a body that is not an OpenAI completion."""


def _fatal_errors() -> tuple[type[BaseException], ...]:
    import openai

    return (
        openai.AuthenticationError,
        openai.PermissionDeniedError,
        openai.NotFoundError,
        openai.APIConnectionError,
        MalformedResponse,
    )


def _rejects_n(exc: BaseException) -> bool:
    import openai

    return isinstance(exc, openai.BadRequestError) and "'n'" in str(exc).replace('"', "'")


def _root_cause(exc: BaseException) -> str:
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        seen = nxt
    text = str(seen).strip() or type(seen).__name__
    if isinstance(seen, ConnectionRefusedError) or "connection refused" in text.lower():
        return "connection refused"
    return text


def _api_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return str(getattr(exc, "message", "") or exc)


def describe_error(exc: BaseException, endpoint: str, model: str) -> str:
    """One line a user can act on, for anything the OpenAI client raised."""
    import openai

    if isinstance(exc, SamplingError):
        return str(exc)
    if isinstance(exc, openai.APITimeoutError):
        return f"no answer from {endpoint} in time ({_root_cause(exc)})"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach {endpoint} ({_root_cause(exc)})"
    if isinstance(exc, openai.AuthenticationError):
        return f"{endpoint} rejected the API key (401): {_api_message(exc)}"
    if isinstance(exc, openai.PermissionDeniedError):
        return f"{endpoint} refused access (403): {_api_message(exc)}"
    if isinstance(exc, openai.NotFoundError):
        return f"model {model!r} not found at {endpoint} (404): {_api_message(exc)}"
    if isinstance(exc, openai.RateLimitError):
        return f"{endpoint} is rate limiting requests (429): {_api_message(exc)}"
    if isinstance(exc, openai.APIStatusError):
        return f"{endpoint} failed with HTTP {exc.status_code}: {_api_message(exc)}"
    if isinstance(exc, json.JSONDecodeError):
        return f"unexpected answer from {endpoint}: the body is not valid JSON ({exc})"
    if isinstance(exc, (openai.APIResponseValidationError, MalformedResponse, ValueError)):
        return f"unexpected answer from {endpoint}: {exc}"
    return f"sampling from {endpoint} failed: {type(exc).__name__}: {exc}"
