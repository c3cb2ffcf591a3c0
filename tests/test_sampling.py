"""Sampling providers: the real `openai` client against a real HTTP server speaking the OpenAI
API, and the local transformers provider on a tiny random model."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fake_openai import FakeOpenAI, fake_logprob, fake_tokens

from generation.local import LocalProvider, _kept_tokens, new_token_limit
from generation.openai_endpoint import OpenAIProvider
from generation.prompts import COMPLETION_STOPS, chat_messages, completion_text, cut_at_stops
from generation.provider import Answer, SamplingError, SamplingOptions, SamplingPrompt

PROMPT = SamplingPrompt(
    code='import math\n\ndef area(r: float) -> float:\n    """Area of a circle."""\n',
    entry_point="area",
    context="RADIUS = 2\n",
)


@pytest.fixture
def fake() -> Any:
    server = FakeOpenAI(slow_seconds=60).start()
    yield server
    server.stop()


def provider(fake: FakeOpenAI, mode: str, **kwargs: Any) -> OpenAIProvider:
    options = kwargs.pop("options", SamplingOptions(seed=100, time_budget=20))
    return OpenAIProvider(
        model="fake-coder", base_url=fake.url(mode), api_key="k", options=options, **kwargs
    )


def test_prompt_templates():
    system, user = chat_messages(PROMPT)
    assert system["role"] == "system" and "```python" in system["content"]
    assert user["content"] == (
        "Code around the function, for reference:\n```python\nRADIUS = 2\n```\n\n"
        "Complete this Python function:\n```python\n" + PROMPT.code.rstrip() + "\n```"
    )
    assert completion_text(PROMPT) == "RADIUS = 2\n\n\n" + PROMPT.code
    stdio = SamplingPrompt("Read two numbers and print their sum.")
    assert "standard input" in chat_messages(stdio)[0]["content"]
    assert chat_messages(stdio)[1]["content"] == "Read two numbers and print their sum.\n"
    assert cut_at_stops("    return 1\ndef g():\n", COMPLETION_STOPS) == "    return 1"
    assert cut_at_stops("    return 1\n", COMPLETION_STOPS) == "    return 1\n"


def test_inputs_prompt_asks_for_calls_and_ends_inside_a_test_function():
    inputs = SamplingPrompt(PROMPT.code, "area", PROMPT.context, inputs=5)
    system, user = chat_messages(inputs)
    assert "calls of the function" in system["content"] and "```python" in system["content"]
    assert "Write 5 calls of area()" in user["content"]
    assert user["content"].startswith("Code around the function, for reference:")
    assert user["content"].endswith("```python\n" + PROMPT.code.rstrip() + "\n```")
    # a completion model continues a test function's body: its first line at column 0 (the
    # completion stops) ends the answer, as for a function body
    text = completion_text(inputs)
    assert text.startswith("RADIUS = 2\n\n\n" + PROMPT.code + "    ...\n")
    assert text.endswith(
        "def test_area():\n    # 5 calls with different valid inputs, edge cases included\n    "
    )
    compile(text + "area(1.0)\n", "prompt", "exec")
    # without an entry point there is nothing to call: the program prompt as before
    stdio = SamplingPrompt("Read two numbers.", inputs=5)
    assert not stdio.asks_inputs and chat_messages(stdio) == chat_messages(
        SamplingPrompt("Read two numbers.")
    )


async def test_endpoint_honouring_n_gets_one_request(fake):
    progress: list[tuple[int, int]] = []
    texts = await provider(fake, "honours-n").sample(
        PROMPT, 6, on_progress=lambda d, t: progress.append((d, t))
    )
    assert len(texts) == 6 and all("def area(r: float) -> float:" in t for t in texts)
    assert [(r.n, r.seed) for r in fake.requests] == [(6, 100)]
    body = fake.requests[0].body
    assert body["model"] == "fake-coder" and body["temperature"] == 0.8
    assert body["max_tokens"] == 384 and body["messages"] == chat_messages(PROMPT)
    assert progress == [(0, 6), (6, 6)]


async def test_endpoint_ignoring_n_is_detected_and_remembered(fake):
    sampler = provider(fake, "ignores-n")
    progress: list[int] = []
    texts = await sampler.sample(PROMPT, 5, on_progress=lambda d, t: progress.append(d))
    assert len(texts) == 5
    assert [r.n for r in fake.requests] == [5, 1, 1, 1, 1]
    assert sorted(r.seed for r in fake.requests) == [100, 101, 102, 103, 104]
    assert progress == [0, 1, 2, 3, 4, 5]
    fake.reset()
    assert len(await sampler.sample(PROMPT, 3)) == 3
    assert [r.n for r in fake.requests] == [1, 1, 1]


async def test_honours_n_settings_are_obeyed(fake):
    assert len(await provider(fake, "ignores-n", honours_n="yes").sample(PROMPT, 4)) == 1
    assert [r.n for r in fake.requests] == [4]
    fake.reset()
    assert len(await provider(fake, "honours-n", honours_n="no").sample(PROMPT, 3)) == 3
    assert [r.n for r in fake.requests] == [1, 1, 1]


async def test_endpoint_rejecting_n_falls_back_to_single_requests(fake):
    texts = await provider(fake, "rejects-n").sample(PROMPT, 3)
    assert len(texts) == 3 and [r.n for r in fake.requests] == [3, 1, 1, 1]


async def test_completions_api_returns_bodies_with_stops(fake):
    texts = await provider(fake, "honours-n", api="completions").sample(PROMPT, 2)
    assert texts == [fake.bodies[0], fake.bodies[1]]  # seed 100: choices 100 % 4, 101 % 4
    request = fake.requests[0]
    assert request.endpoint == "completions"
    assert request.body["prompt"] == completion_text(PROMPT)
    assert request.body["stop"] == list(COMPLETION_STOPS)
    assert all(t.startswith("    ") for t in texts)


def _fake_mean(text: str) -> float:
    tokens = fake_tokens(text)
    return sum(fake_logprob(t) for t in tokens) / len(tokens)


async def test_scored_chat_answers_carry_the_endpoint_logprobs(fake):
    sampler = provider(fake, "honours-n")
    answers = await sampler.sample_scored(PROMPT, 3)
    assert [a.text for a in answers] == await sampler.sample(PROMPT, 3)  # same seed
    first, plain = fake.requests[0].body, fake.requests[1].body
    assert first["logprobs"] is True and "logprobs" not in plain  # `sample` is unchanged
    for answer in answers:
        assert answer.tokens == len(fake_tokens(answer.text))
        assert answer.mean_logprob == pytest.approx(_fake_mean(answer.text))
    assert len({a.mean_logprob for a in answers}) == 3
    # n ignored: the single seeded requests ask for logprobs too
    fake.reset()
    answers = await provider(fake, "ignores-n").sample_scored(PROMPT, 3)
    assert len(answers) == 3 and all(a.mean_logprob is not None for a in answers)
    assert all(r.body["logprobs"] is True for r in fake.requests)


async def test_scored_completions_count_only_tokens_before_the_stop(fake):
    fake.bodies = ("    return 1\ndef after_the_stop():\n    return 2\n", "    return 22\n")
    answers = await provider(fake, "honours-n", api="completions").sample_scored(PROMPT, 2)
    assert fake.requests[0].body["logprobs"] == 1
    assert [a.text for a in answers] == ["    return 1", "    return 22\n"]
    cut, whole = answers
    assert cut.tokens == len(fake_tokens("    return 1"))
    assert cut.mean_logprob == pytest.approx(_fake_mean("    return 1"))
    assert whole.mean_logprob == pytest.approx(_fake_mean("    return 22\n"))


async def test_scored_answers_without_logprobs_from_the_backend(fake):
    answers = await provider(fake, "no-logprobs").sample_scored(PROMPT, 2)
    assert len(answers) == 2 and all(a == Answer(a.text) for a in answers)
    # a backend that rejects the parameter is asked again without it, once per provider
    sampler = provider(fake, "rejects-logprobs")
    fake.reset()
    answers = await sampler.sample_scored(PROMPT, 2)
    assert [a.mean_logprob for a in answers] == [None, None]
    assert [bool(r.body.get("logprobs")) for r in fake.requests] == [True, False]
    await sampler.sample_scored(PROMPT, 2)
    assert [bool(r.body.get("logprobs")) for r in fake.requests] == [True, False, False]
    with pytest.raises(SamplingError, match="401"):
        await provider(fake, "401").sample_scored(PROMPT, 2)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("401", "rejected the API key (401): Incorrect API key provided"),
        ("404", "model 'fake-coder' not found at"),
        ("500", "failed with HTTP 500: the fake server failed"),
        ("malformed", "the body is not valid JSON"),
    ],
)
@pytest.mark.parametrize("honours_n", ["auto", "no"])
async def test_errors_are_one_line_with_the_cause(fake, mode, message, honours_n):
    with pytest.raises(SamplingError) as info:
        await provider(fake, mode, honours_n=honours_n).sample(PROMPT, 3)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert len(fake.requests) == 1 if honours_n == "auto" else 1 <= len(fake.requests) <= 3


async def test_unreachable_endpoint_and_missing_key(monkeypatch):
    refused = OpenAIProvider(model="m", base_url="http://127.0.0.1:9/v1", api_key="k")
    with pytest.raises(
        SamplingError, match=r"cannot reach http://127.0.0.1:9/v1 \(connection refused\)"
    ):
        await refused.sample(PROMPT, 2)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(SamplingError, match="no OpenAI API key"):
        await OpenAIProvider(model="m").sample(PROMPT, 1)
    # a local server needs no key
    assert OpenAIProvider(model="m", base_url="http://127.0.0.1:9/v1")._get_client() is not None


async def test_time_budget_and_cancellation_close_the_requests(fake):
    slow = provider(fake, "slow", honours_n="no", options=SamplingOptions(time_budget=0.5))
    with pytest.raises(SamplingError, match=r"within the time budget of 0\.5 s"):
        await slow.sample(PROMPT, 3)
    assert await asyncio.to_thread(fake.wait_for, lambda f: f.disconnects == 3)
    fake.reset()
    task = asyncio.ensure_future(provider(fake, "slow", honours_n="no").sample(PROMPT, 4))
    assert await asyncio.to_thread(fake.wait_for, lambda f: len(f.requests) == 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake.wait_for, lambda f: f.disconnects == 4)


# -- local provider ----------------------------------------------------------------------


async def test_local_provider_samples_in_batches_with_progress(tiny_decoder_dir):
    local = LocalProvider(
        str(tiny_decoder_dir),
        options=SamplingOptions(max_tokens=6, seed=1, time_budget=120),
        batch_size=2,
    )
    progress: list[tuple[int, int]] = []
    texts = await local.sample(PROMPT, 3, on_progress=lambda d, t: progress.append((d, t)))
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert progress[0] == (0, 3) and progress[-1] == (3, 3)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    again = await local.sample(PROMPT, 3)
    assert again == texts  # same seed, same answers


async def test_local_provider_runs_the_prompt_once_for_every_row(tiny_decoder_dir, monkeypatch):
    import generation.local

    options = SamplingOptions(max_tokens=8, seed=3, time_budget=120)
    shared = LocalProvider(str(tiny_decoder_dir), options=options, batch_size=4)
    handed: list[str] = []
    texts = await shared.sample(PROMPT, 4, on_answers=handed.extend)
    monkeypatch.setattr(generation.local, "_prompt_cache", lambda model, ids: None)
    alone = await LocalProvider(str(tiny_decoder_dir), options=options, batch_size=4).sample(
        PROMPT, 4
    )
    assert texts == alone  # the shared prompt cache changes nothing but the time
    # rows that finished before the batch did were handed over as they finished, as returned
    assert all(text in texts for text in handed)


async def test_local_provider_time_budget_and_cancellation(tiny_decoder_dir):
    local = LocalProvider(
        str(tiny_decoder_dir), options=SamplingOptions(max_tokens=100_000, time_budget=1e-6)
    )
    await local.warm_up()
    with pytest.raises(SamplingError, match="finished no answer within the time budget"):
        await local.sample(PROMPT, 2)
    local.options = SamplingOptions(max_tokens=100_000, time_budget=300)
    started = asyncio.Event()
    task = asyncio.ensure_future(local.sample(PROMPT, 2, on_progress=lambda d, t: started.set()))
    await started.wait()
    await asyncio.sleep(0.2)  # let generation run a few steps
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the worker stopped: the next call gets the model without waiting out the budget
    local.options = SamplingOptions(max_tokens=2, time_budget=300)
    assert len(await local.sample(PROMPT, 1)) == 1


def test_new_tokens_fit_the_model_context():
    class Model:
        def __init__(self, context: object) -> None:
            self.config = type("Config", (), {"max_position_embeddings": context})()

    assert new_token_limit(Model(512), 100, 64) == 64
    assert new_token_limit(Model(512), 100, 100_000) == 412
    assert new_token_limit(Model(None), 100, 100_000) == 100_000  # context unknown
    with pytest.raises(SamplingError, match="prompt has 512 tokens, the local model's context"):
        new_token_limit(Model(512), 512, 10)


async def test_local_provider_answers_within_a_short_context(short_decoder_dir):
    """maxTokens far beyond the model's context: the answers stop at its end, where
    generation used to fail mid-answer (a learned-position model has no position beyond)."""
    local = LocalProvider(
        str(short_decoder_dir), options=SamplingOptions(max_tokens=100_000, seed=2)
    )
    texts = await local.sample(PROMPT, 2)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


async def test_local_provider_scores_its_own_answers(tiny_decoder_dir):
    local = LocalProvider(
        str(tiny_decoder_dir),
        options=SamplingOptions(max_tokens=8, seed=3, time_budget=120, temperature=1.5),
        batch_size=2,
    )
    await local.warm_up()
    # the fixture's BERT tokenizer also returns token_type_ids, which GPT-2 would embed: drop
    # them so that a plain forward pass below sees what generation saw
    local._tokenizer.model_input_names = ["input_ids", "attention_mask"]
    answers = await local.sample_scored(PROMPT, 3)
    assert [a.text for a in answers] == await local.sample(PROMPT, 3)
    # the recorded log-probabilities are the model's own (temperature 1) for the sampled
    # tokens: recompute them with one forward pass over prompt + answer tokens
    tokenizer, model = local._tokenizer, local._model
    text = completion_text(PROMPT)
    prompt_ids = tokenizer(text, return_tensors="pt")["input_ids"]
    for answer in answers:
        assert answer.mean_logprob is not None and answer.mean_logprob < 0
        assert 1 <= answer.tokens <= 8
    import torch

    torch.manual_seed(3)
    with torch.inference_mode():
        output = model.generate(
            prompt_ids,
            do_sample=True,
            temperature=1.5,
            top_p=None,
            top_k=None,
            max_new_tokens=8,
            num_return_sequences=2,
            pad_token_id=tokenizer.pad_token_id,
        )
        logprobs = torch.log_softmax(model(output).logits.float(), dim=-1)
    start = prompt_ids.shape[1]
    row = output[0]
    expected = [float(logprobs[0, p - 1, row[p]]) for p in range(start, start + answers[0].tokens)]
    assert answers[0].mean_logprob == pytest.approx(sum(expected) / len(expected), abs=1e-4)


def test_kept_tokens_of_an_answer_cut_at_a_stop(tiny_decoder_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder_dir)
    ids = tokenizer("return 1 def g", add_special_tokens=False).input_ids
    assert _kept_tokens(tokenizer, ids, "return 1") == 2
    assert _kept_tokens(tokenizer, ids, "return 1 def g") == len(ids)
    assert _kept_tokens(tokenizer, ids, "") == 0


@pytest.mark.slow
async def test_default_local_model_writes_python():
    local = LocalProvider(options=SamplingOptions(max_tokens=96, seed=0, time_budget=600))
    texts = await local.sample(
        SamplingPrompt('def add(a: int, b: int) -> int:\n    """Return a + b."""\n', "add"), 2
    )
    assert len(texts) == 2 and any("def add" in t or "return" in t for t in texts)
