"""From raw answers to ranked bodies (the server's and `toppass-ls suggest`'s pipeline)."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import torch
from fake_openai import FakeOpenAI

from generation.provider import SamplingPrompt
from ranker import Ranker, RankerConfig
from ranker.model.shipped import UNTRAINED_WARNING, default_ranker_path, load_ranker
from ranker.offer import rank_candidates, sigmoid
from ranker.order import DEFECT_PENALTY
from ranker.source import function_at
from toppass_ls.edits import candidate_json, candidate_titles, indent_body
from toppass_ls.pipeline import RankerLoader, generate, sampling_prompt

SOURCE = '''import math


def unique_sorted(xs: list[int]) -> list[int]:
    """Return the distinct elements of xs in increasing order."""
    raise NotImplementedError
'''
HEADER = 'def unique_sorted(xs: list[int]) -> list[int]:\n    """Return the distinct elements of xs in increasing order."""\n'


@pytest.fixture(scope="module")
def tiny_ranker(tiny_encoder_dir: Path) -> Ranker:
    torch.manual_seed(0)
    return Ranker(RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,), max_length=128))


def test_rank_candidates_prepares_merges_and_ranks(tiny_ranker):
    ctx = function_at(SOURCE, 5)
    assert ctx is not None
    raws = [
        "```python\n" + HEADER + "    return sorted(set(xs))\n```\nThis works.",
        "    return sorted(set(xs))  # same program, other formatting\n",
        # another docstring: the same body once the user's docstring is kept
        '```python\ndef unique_sorted(xs):\n    """Mine."""\n    return sorted(set(xs))\n```',
        "    return sorted(xs)\n",
        "```python\ndef unique_sorted(xs):\n    return [x for x in\n```",  # does not parse
        "I cannot help with that.",
        # the whole class: the method's body is found inside it
        "```python\nclass Util:\n    def unique_sorted(self, xs):\n        return sorted(set(xs))\n```",
    ]
    result = rank_candidates(tiny_ranker, ctx, raws)
    assert result.function == "unique_sorted" and result.sampled == 7
    assert sorted((c.body, c.count) for c in result.candidates) == [
        ("return sorted(set(xs))\n", 4),
        ("return sorted(xs)\n", 1),
    ]
    assert len(result.dropped) == 2
    assert any(reason.startswith("syntax error") for reason in result.dropped)
    assert [c.rank for c in result.candidates] == [1, 2]
    scores = [c.raw_score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(c.score == pytest.approx(sigmoid(c.raw_score)) for c in result.candidates)
    # the ranker saw whole programs built from the same prompt as in training
    programs = [c.program for c in result.candidates]
    assert all(p.startswith("import math\n\n" + "def unique_sorted") for p in programs)
    counts = [c.count for c in result.candidates]
    expected = tiny_ranker.rank(ctx.prompt, programs, counts=counts, entry_point=ctx.name)
    assert [s for _, s in expected] == pytest.approx(scores)


USES_THE_FILE = '''import math


def square(x):
    return x * x


def total(xs: list[int]) -> int:
    """Return the sum of the squares of xs."""
    raise NotImplementedError


LIMIT = 10


def outer(k):
    def scaled(xs: list[int]) -> int:
        """Return the sum of xs, times k."""
        raise NotImplementedError

    return scaled
'''


def test_a_candidate_using_a_name_nothing_defines_goes_last(tiny_ranker):
    ctx = function_at(USES_THE_FILE, 9)
    assert ctx is not None and ctx.name == "total"
    undefined = "    return sum(cube(x) for x in xs)\n"
    raws = [
        undefined,
        undefined,
        undefined,  # sampled most often, still last: cube() is defined nowhere
        "    return sum(square(x) for x in xs)\n",  # defined elsewhere in the file
        "    return sum(x * x for x in xs if x < LIMIT)\n",  # below the function
    ]
    result = rank_candidates(tiny_ranker, ctx, raws)
    assert [c.count for c in result.candidates] == [1, 1, 3]
    assert result.candidates[-1].body == "return sum(cube(x) for x in xs)\n"
    assert result.candidates[-1].raw_score < -DEFECT_PENALTY / 2 < result.candidates[1].raw_score
    # the user sees why
    assert result.candidates[-1].defect == "name 'cube' is not defined"
    titles = candidate_titles(result.candidates)
    assert titles[-1] == (
        "toppass #3 (0.00, x3, name 'cube' is not defined): return sum(cube(x) for x in xs)"
    )
    assert candidate_json(result.candidates[-1], titles[-1])["defect"] == (
        "name 'cube' is not defined"
    )
    assert [c.defect for c in result.candidates[:2]] == [None, None]
    # a nested function may use its enclosing function's names: nothing is judged undefined
    inner = function_at(USES_THE_FILE, 18)
    assert inner is not None and inner.name == "scaled" and inner.names_outside is None
    nested = rank_candidates(
        tiny_ranker, inner, ["    return k * sum(xs)\n", "    return sum(xs)\n"]
    )
    assert all(c.raw_score > -DEFECT_PENALTY / 2 for c in nested.candidates)


def test_a_body_is_judged_as_it_will_be_applied(tiny_ranker):
    """Only the body replaces the user's, with what it needs from around the model's function
    (a helper, an import) carried at its top, and reading the user's parameter names; where
    renaming a parameter could change the meaning, it is not renamed and the title says so."""
    ctx = function_at(SOURCE, 5)
    assert ctx is not None and ctx.parameters == ("xs",)
    raws = [
        "```python\ndef unique_sorted(lst):\n    xs = sorted(set(lst))\n    return xs\n```",
        "```python\ndef unique_sorted(lst):\n    return sorted(set(lst), reverse=False)\n```",
        "```python\ndef _dedupe(xs):\n    return set(xs)\n\n"
        "def unique_sorted(xs):\n    return sorted(_dedupe(xs))\n```",
        "```python\nimport heapq\n\ndef unique_sorted(xs):\n"
        "    return heapq.nsmallest(len(set(xs)), set(xs))\n```",
        "```python\nimport math\n\ndef unique_sorted(xs):\n"
        "    return sorted(set(xs)) if math.inf else []\n```",
    ]
    result = rank_candidates(tiny_ranker, ctx, raws)
    by_body = {c.body: c for c in result.candidates}
    assert {body: c.defect for body, c in by_body.items()} == {
        "xs = sorted(set(lst))\nreturn xs\n": "name 'lst' is not defined",
        "return sorted(set(xs), reverse=False)\n": None,  # renamed: xs is the user's name
        "def _dedupe(xs):\n    return set(xs)\n\nreturn sorted(_dedupe(xs))\n": None,
        "import heapq\n\nreturn heapq.nsmallest(len(set(xs)), set(xs))\n": None,
        # the user's file imports math already: nothing to carry
        "return sorted(set(xs)) if math.inf else []\n": None,
    }
    assert result.candidates[-1].body == "xs = sorted(set(lst))\nreturn xs\n"
    helper = by_body["def _dedupe(xs):\n    return set(xs)\n\nreturn sorted(_dedupe(xs))\n"]
    assert helper.carried == ("_dedupe",) and helper.own_body == "return sorted(_dedupe(xs))\n"
    title = candidate_titles(result.candidates)[result.candidates.index(helper)]
    assert title.endswith(", +_dedupe): return sorted(_dedupe(xs))")
    assert candidate_json(helper, title)["carried"] == ["_dedupe"]
    assert candidate_json(helper, title)["body"] == helper.body
    # applied, the helper is defined inside the user's function, after its docstring
    function = ast.parse(ctx.header + indent_body(helper.body, ctx.body_indent)).body[0]
    assert isinstance(function, ast.FunctionDef) and function.name == "unique_sorted"
    assert isinstance(function.body[0], ast.Expr)  # the user's docstring
    assert isinstance(function.body[1], ast.FunctionDef) and function.body[1].name == "_dedupe"
    # the programs themselves (what runs and what the head reads) are the model's, intact
    assert "def _dedupe(xs):\n    return set(xs)\n\ndef unique_sorted" in helper.program


def test_nothing_usable_says_why(tiny_ranker):
    ctx = function_at(SOURCE, 5)
    assert ctx is not None
    result = rank_candidates(tiny_ranker, ctx, ["no code here", "```python\ndef (\n```"])
    assert result.candidates == ()
    assert result.empty_message().startswith(
        "none of the 2 answers for unique_sorted() was usable Python (e.g. "
    )
    assert rank_candidates(tiny_ranker, ctx, []).empty_message() == (
        "the model returned no answers for unique_sorted()"
    )


def test_sampling_prompt_and_sigmoid():
    ctx = function_at(SOURCE, 3)
    assert ctx is not None
    assert sampling_prompt(ctx) == SamplingPrompt(
        "import math\n\n" + HEADER, "unique_sorted", "import math"
    )
    assert sigmoid(0.0) == 0.5 and sigmoid(-1000.0) == 0.0 and sigmoid(1000.0) == 1.0


class CountingProvider:
    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.calls = 0

    async def sample(
        self, prompt: Any, n: int, *, on_progress: Any = None, on_answers: Any = None
    ) -> list[str]:
        self.calls += 1
        for i in range(n + 1):
            on_progress(i, n)
        return self.answers[:n]

    async def aclose(self) -> None:
        return None


async def test_generate_reports_progress_and_ranks_off_the_loop(tiny_ranker):
    ctx = function_at(SOURCE, 3)
    assert ctx is not None
    reports: list[tuple[str, int | None]] = []

    async def get_ranker() -> Ranker:
        return tiny_ranker

    result = await generate(
        ctx,
        CountingProvider(["    return sorted(set(xs))\n", "    return list(xs)\n"]),
        get_ranker,
        2,
        lambda message, percent: reports.append((message, percent)),
    )
    assert len(result.candidates) == 2
    assert reports == [
        ("sampling 0/2", 0),
        ("sampling 1/2", 45),
        ("sampling 2/2", 90),
        ("ranking", 90),
    ]


class TrickleProvider:
    """Hands its answers over one at a time, as a backend that ignores `n` does."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers

    async def sample(
        self, prompt: Any, n: int, *, on_progress: Any = None, on_answers: Any = None
    ) -> list[str]:
        for answer in self.answers[:n]:
            await asyncio.sleep(0.2)  # time for the worker to take the answer before the next
            if on_answers is not None:
                on_answers([answer])
        return self.answers[:n]

    async def aclose(self) -> None:
        return None


async def test_answers_are_embedded_while_the_rest_are_sampled(tiny_ranker, monkeypatch):
    ctx = function_at(SOURCE, 5)
    assert ctx is not None
    raws = [
        "    return sorted(set(xs))\n",
        "    return list(xs)\n",
        "    return sorted(xs)\n",
        "    return sorted(set(xs))\n",  # a duplicate: nothing new to embed
    ]
    tiny_ranker.forget_pooled()
    embedded_on: list[str] = []
    real_embed = tiny_ranker.embed

    def spy(batch: Any) -> Any:
        embedded_on.append(threading.current_thread().name)
        return real_embed(batch)

    monkeypatch.setattr(tiny_ranker, "embed", spy)

    async def get_ranker() -> Ranker:
        return tiny_ranker

    result = await generate(ctx, TrickleProvider(raws), get_ranker, len(raws), lambda *_: None)
    # the final ranking found every program embedded: the backbone ran only while sampling
    assert embedded_on and set(embedded_on) == {"toppass-prewarm"}
    tiny_ranker.forget_pooled()
    again = rank_candidates(tiny_ranker, ctx, raws)  # from nothing kept: the same list
    assert [(c.body, c.count) for c in result.candidates] == [
        (c.body, c.count) for c in again.candidates
    ]
    assert [c.score for c in result.candidates] == pytest.approx(
        [c.score for c in again.candidates]
    )


async def test_ranker_loader_loads_once_and_falls_back_to_untrained(
    tmp_path, tiny_encoder_dir, monkeypatch
):
    torch.manual_seed(0)
    saved = Ranker(RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,))).save_pretrained(
        tmp_path / "r"
    )
    loader = RankerLoader()
    first, second = await asyncio.gather(loader.get(str(saved)), loader.get(str(saved)))
    assert first is second and loader.warning is None
    assert await loader.get(str(saved)) is first
    # no shipped default yet: the untrained default config, with a warning
    monkeypatch.setattr("ranker.model.shipped.DEFAULT_RANKER_DIR", tmp_path / "absent")
    assert default_ranker_path() is None
    monkeypatch.setattr(
        "ranker.model.shipped.RankerConfig", lambda: RankerConfig(backbone=str(tiny_encoder_dir))
    )
    ranker, warning = load_ranker(None)
    assert warning == UNTRAINED_WARNING and isinstance(ranker, Ranker)
    monkeypatch.setattr("ranker.model.shipped.DEFAULT_RANKER_DIR", saved)
    assert default_ranker_path() == saved
    assert load_ranker(None)[1] is None


@pytest.mark.e2e
def test_suggest_prints_ranked_candidates(tmp_path, tiny_encoder_dir):
    fake = FakeOpenAI().start()
    try:
        torch.manual_seed(0)
        ranker_dir = Ranker(
            RankerConfig(backbone=str(tiny_encoder_dir), head_hidden=(8,))
        ).save_pretrained(tmp_path / "r")
        source = tmp_path / "demo.py"
        source.write_text(SOURCE, encoding="utf-8")
        command = [
            sys.executable,
            "-m",
            "toppass_ls",
            "suggest",
            f"{source}:6",
            "--provider",
            "openai",
            "--base-url",
            fake.url("honours-n"),
            "--model",
            "fake-coder",
            "--ranker",
            str(ranker_dir),
            "--samples",
            "8",
            "--top-k",
            "2",
        ]
        env = {**os.environ, "OPENAI_API_KEY": "k"}
        shown = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        assert shown.stdout.count("#") >= 2 and "score" in shown.stdout
        assert "def unique_sorted(xs: list[int]) -> list[int]:" in shown.stdout
        assert "8 sampled, 4 distinct, 0 dropped" in shown.stderr
        as_json = subprocess.run(
            [*command, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        result = json.loads(as_json.stdout)
        assert result["function"] == "unique_sorted" and result["sampled"] == 8
        assert [c["rank"] for c in result["candidates"]] == [1, 2]
        assert result["execution"] == "examples not run: allowExecution is off"
        assert result["reviewer"] == "reviewer tie-break off"  # its model does not load
        # with the docstring's examples run in the sandbox
        source.write_text(
            SOURCE.replace(
                "increasing order.",
                "increasing order.\n\n    >>> unique_sorted([2, 1, 2])\n    [1, 2]\n    ",
            ),
            encoding="utf-8",
        )
        executed = subprocess.run(
            [*command, "--allow-execution", "--top-k", "4"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        assert "ran 4 candidates on 1 docstring example" in executed.stderr
        assert "1/1 examples" in executed.stdout and "0/1 examples" in executed.stdout
        as_json = subprocess.run(
            [*command, "--allow-execution", "--top-k", "4", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        ranked = json.loads(as_json.stdout)["candidates"]
        # two right bodies (one behaviour), two wrong ones (two behaviours)
        assert sorted(c["examples"] for c in ranked) == ["0/1 examples"] * 2 + ["1/1 examples"] * 2
        # one per behaviour first: the second right body comes last
        assert ranked[3]["examples"] == "1/1 examples"
        assert all(c["examples"] in c["title"] for c in ranked)
        failed = subprocess.run(
            [*command[:4], f"{source}:1"], capture_output=True, text=True, env=env
        )
        assert failed.returncode == 1
        assert failed.stderr.strip() == f"toppass-ls: no Python function at line 1 of {source}"
        # with --json, a failure is one JSON object too, and the exit code says it failed
        failed_json = subprocess.run(
            [*command[:4], f"{source}:1", "--json"], capture_output=True, text=True, env=env
        )
        assert failed_json.returncode == 1
        assert json.loads(failed_json.stdout) == {
            "error": f"no Python function at line 1 of {source}"
        }
        # piped, a long line of code is printed whole: the output is valid Python
        long_line = "    return sorted(set(xs))  # " + "x" * 150 + "\n"
        fake.bodies = (long_line,)
        piped = subprocess.run(
            [*command, "--top-k", "1"], capture_output=True, text=True, env=env, check=True
        )
        fake.bodies = FakeOpenAI.bodies
        code = piped.stdout.split("\n", 1)[1]  # after the `# #1 ...` heading line
        assert long_line.strip() in code
        compile(code, "<suggested>", "exec")
        refused = subprocess.run(
            [*command, "--base-url", "http://127.0.0.1:9/v1"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert refused.returncode == 1 and "connection refused" in refused.stderr
    finally:
        fake.stop()
