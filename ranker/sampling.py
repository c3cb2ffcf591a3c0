"""Sampling candidates from an LLM: the prompt template and the OpenAI-compatible provider.

Used by the language server (the function under the cursor) and by training (`toppass-train
generate`), so both ask the model the same way. Nothing here knows about editors.

    provider = OpenAIProvider(base_url="http://localhost:8000/v1", model="qwen")
    texts = await provider.sample(SamplingPrompt(code, "name"), 16, on_progress=print)

A provider returns raw answers; `ranker.candidates.prepare_candidates` turns them into programs.
Failures the user must act on (endpoint unreachable, bad key, missing model, time budget spent
without an answer) raise `SamplingError` with a one-line message naming the cause.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called with (answers received so far, answers requested)."""

ApiStyle = Literal["chat", "completions"]
HonoursN = Literal["auto", "yes", "no"]

SYSTEM_PROMPT = (
    "You are an expert Python programmer. Reply with the complete function in one "
    "```python code block, without explanations."
)
STDIO_SYSTEM_PROMPT = (
    "You are an expert Python programmer. Reply with a complete Python program that reads "
    "standard input and writes standard output, in one ```python code block, without "
    "explanations."
)
# Completion-style prompts end inside an indented body: a line at column 0 ends the function.
# (OpenAI accepts at most four stop sequences.)
COMPLETION_STOPS = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(")
# How many answers may be in flight at once when the endpoint ignores `n`.
MAX_CONCURRENT_REQUESTS = 16


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
    """

    code: str
    entry_point: str | None = None
    context: str = ""


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


class Provider(Protocol):
    """Anything that samples `n` raw answers for a prompt."""

    async def sample(
        self, prompt: SamplingPrompt, n: int, *, on_progress: ProgressCallback | None = None
    ) -> list[str]: ...

    async def aclose(self) -> None: ...


def chat_messages(prompt: SamplingPrompt) -> list[dict[str, str]]:
    """The chat request for one prompt: a system instruction and the code to complete."""
    if prompt.entry_point is None:
        return [
            {"role": "system", "content": STDIO_SYSTEM_PROMPT},
            {"role": "user", "content": prompt.code.strip() + "\n"},
        ]
    parts = []
    if prompt.context.strip():
        parts.append(
            "Code around the function, for reference:\n```python\n"
            + prompt.context.strip("\n")
            + "\n```\n"
        )
    parts.append("Complete this Python function:\n```python\n" + prompt.code.rstrip() + "\n```")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(parts)},
    ]


def completion_text(prompt: SamplingPrompt) -> str:
    """The raw-completion prompt: context, then the code, ending where the body starts."""
    if prompt.entry_point is None:
        return f'"""{prompt.code.strip()}"""\n\n'
    context = prompt.context.strip("\n")
    code = prompt.code if prompt.code.endswith("\n") else prompt.code + "\n"
    return (context + "\n\n\n" if context else "") + code


def completion_stops(prompt: SamplingPrompt) -> list[str]:
    return list(COMPLETION_STOPS) if prompt.entry_point is not None else []


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the first stop sequence (what an endpoint does with `stop`)."""
    cut = min((i for s in stops if (i := text.find(s)) != -1), default=len(text))
    return text[:cut]


class OpenAIProvider:
    """Samples from any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server,
    LM Studio) with `openai.AsyncOpenAI`.

    honours_n: "yes" sends one request with n=N; "no" sends N concurrent requests with n=1 and
    seeds seed..seed+N-1; "auto" tries n=N and, when fewer answers come back (Ollama and
    llama.cpp ignore `n`), asks for the rest concurrently and remembers that for later calls.
    Cancelling `sample` cancels the requests, which closes their HTTP connections.
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
        self, prompt: SamplingPrompt, n: int, *, on_progress: ProgressCallback | None = None
    ) -> list[str]:
        if n < 1:
            return []
        client = self._get_client()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.time_budget
        seed = self.options.base_seed()
        texts: list[str] = []

        def progress() -> None:
            if on_progress is not None:
                on_progress(len(texts), n)

        progress()
        if not self._ignores_n:
            try:
                answers = await asyncio.wait_for(
                    self._request(client, prompt, n, seed), self._left(deadline)
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
                texts.extend(answers[:n])
                progress()
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
            await self._concurrent(client, prompt, seeds, deadline, texts, progress)
        return texts

    async def _concurrent(
        self,
        client: Any,
        prompt: SamplingPrompt,
        seeds: list[int],
        deadline: float,
        texts: list[str],
        progress: Callable[[], None],
    ) -> None:
        """One n=1 request per seed, at most MAX_CONCURRENT_REQUESTS at once; appends answers
        to `texts` as they arrive. Stops at the deadline with what it has."""
        limit = asyncio.Semaphore(MAX_CONCURRENT_REQUESTS)

        async def one(seed: int) -> list[str]:
            async with limit:
                return await self._request(client, prompt, 1, seed)

        tasks = [asyncio.ensure_future(one(s)) for s in seeds]
        errors: list[BaseException] = []
        timed_out = False
        try:
            for next_done in asyncio.as_completed(tasks, timeout=self._left(deadline)):
                try:
                    texts.extend(await next_done)
                    progress()
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

    async def _request(self, client: Any, prompt: SamplingPrompt, n: int, seed: int) -> list[str]:
        common: dict[str, Any] = {
            "model": self.model,
            "n": n,
            "temperature": self.options.temperature,
            "max_tokens": self.options.max_tokens,
            "seed": seed,
        }
        if self.api == "chat":
            response = await client.chat.completions.create(
                messages=chat_messages(prompt), **common
            )
            answers = [choice.message.content or "" for choice in _choices(response)]
        else:
            stops = completion_stops(prompt)
            response = await client.completions.create(
                prompt=completion_text(prompt), stop=stops or None, **common
            )
            # A completion is the body that follows the prompt; candidate preparation joins them.
            answers = [cut_at_stops(choice.text or "", stops) for choice in _choices(response)]
        return answers

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - asyncio.get_running_loop().time())

    def _timeout_message(self) -> str:
        return (
            f"no answer from {self.endpoint} within the time budget of "
            f"{self.options.time_budget:g} s"
        )


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
