"""Likelihood signals (`ranker.signals.likelihood`): text layouts, token spans, batching, budgets and
fallbacks on a tiny random GPT-2; one slow test on the real SmolLM2."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from ranker.signals.likelihood import (
    EMPTY_SCORE,
    LikelihoodScorer,
    ScoredText,
    coder_text,
    prompt_docstring,
    reviewer_text,
)
from train.jsonl import DataError, read_jsonl
from train.likelihood_features import (
    compute_likelihood_features,
    feature_scores,
    program_sha,
)
from train.problems import Problem
from train.slates import Slate

PROMPT = (
    "import math\n\n\ndef helper(x):\n    return x\n\n\n"
    'def area(r: float) -> float:\n    """Area of a circle\n    of radius r.\n    """\n'
)
BODY = "    # pi r squared\n    return math.pi * r * r\n"
WHOLE = (
    "import math\n\ndef square(x):\n    return x * x\n\n"
    'def area(r):\n    """Area."""\n    s = square(r)\n    return math.pi * s\n\n'
    "print(area(2))\n"
)


@pytest.fixture(scope="module")
def scorer(tiny_decoder_dir: Path) -> LikelihoodScorer:
    scorer = LikelihoodScorer(str(tiny_decoder_dir), max_context_tokens=64, max_target_tokens=48)
    scorer.load()
    return scorer


# -- layouts --------------------------------------------------------------------------------


def test_coder_layout_scores_the_body_after_the_prompt():
    scored, located = coder_text(PROMPT, "area", PROMPT + BODY)
    assert located and scored.context == PROMPT and scored.target == BODY
    # a whole program: its own signature, docstring, imports and prints are not scored, its
    # helpers are (after the body); the prompt's helpers are not repeated
    scored, located = coder_text(PROMPT, "area", WHOLE)
    assert located and scored.context == PROMPT
    assert scored.target == (
        "    s = square(r)\n    return math.pi * s\n\n\ndef square(x):\n    return x * x\n"
    )
    # a body on the def line gets the body's indentation
    scored, _ = coder_text(PROMPT, "area", "def area(r): return r * r\n")
    assert scored.target == "    return r * r\n"


def test_coder_layout_fallbacks():
    for program in ("def perimeter(r):\n    return 2 * r\n", "def area(r)\n  return"):
        scored, located = coder_text(PROMPT, "area", program)
        assert not located and scored.context == PROMPT
        assert scored.target == program.strip("\n") + "\n"
    stdio, located = coder_text("Read n, print n squared.", None, "print(int(input()) ** 2)\n")
    assert not located
    assert stdio.context == '"""Read n, print n squared.\n"""\n\n'
    assert stdio.target == "print(int(input()) ** 2)\n"
    empty, located = coder_text(PROMPT, "area", PROMPT)
    assert located and empty.target == ""


def test_reviewer_layout_predicts_the_prompt_docstring_without_seeing_it():
    assert prompt_docstring(PROMPT, "area") == "Area of a circle\nof radius r."
    scored = reviewer_text(PROMPT, "area", WHOLE)
    assert scored.target == "Area of a circle\nof radius r."
    assert '"""Area."""' not in scored.context
    assert scored.context.endswith('print(area(2))\n\n\narea.__doc__ = """\n')
    # a pool program that repeats the prompt's stub before the whole function: the stub (and
    # with it the docstring) is dropped
    repeated = reviewer_text(PROMPT, "area", PROMPT + "\n\n" + WHOLE)
    assert "Area of a circle" not in repeated.context
    assert repeated.context.count("def area(") == 1
    # a function that only has a docstring keeps a body
    stub = reviewer_text(PROMPT, "area", PROMPT)
    assert "def area(r: float) -> float:\n    pass\n" in stub.context
    # no docstring in the prompt: nothing to predict
    assert reviewer_text("def f(x):\n", "f", "def f(x):\n    return x\n").target == ""
    stdio = reviewer_text("Print hello.", None, "print('hello')\n")
    assert stdio.text == 'print(\'hello\')\n\n\n__doc__ = """\nPrint hello.'


def test_reviewer_reads_code_not_comments_or_other_docstrings():
    wordy = (
        '"""Area of a circle of radius r."""\n'
        "import math\n\n\n"
        "# returns the area of a circle of radius r\n"
        "def area(r):\n"
        '    """Area."""\n'
        "    # area of a circle: pi r squared\n"
        "    return math.pi * r * r  # of radius r\n\n\n"
        "class Circle:\n"
        '    """A circle of radius r."""\n'
    )
    context = reviewer_text(PROMPT, "area", wordy).context
    assert "radius" not in context and "#" not in context
    assert context == (
        "import math\n\ndef area(r):\n    return math.pi * r * r\n\nclass Circle:\n    pass"
        '\n\n\narea.__doc__ = """\n'
    )
    # what does not parse is read as written
    broken = "def area(r):\n    # radius\n    return (\n"
    assert reviewer_text(PROMPT, "area", broken).context.startswith(broken.rstrip())


# -- scoring --------------------------------------------------------------------------------


def _reference_mean(scorer: LikelihoodScorer, scored: ScoredText) -> float:
    """Mean log-probability of the scored tokens from the full model's own logits."""
    encoded = scorer.encode(scored)
    ids = torch.tensor([encoded.ids])
    with torch.inference_mode():
        logprobs = torch.log_softmax(scorer._model(input_ids=ids).logits[0].float(), dim=-1)
    picked = [
        float(logprobs[p - 1, encoded.ids[p]])
        for p in range(max(encoded.target_from, 1), len(encoded.ids))
    ]
    return sum(picked) / len(picked)


def test_scored_span_is_the_target_text(scorer):
    tokenizer = scorer._tokenizer
    for scored in (coder_text(PROMPT, "area", WHOLE)[0], reviewer_text(PROMPT, "area", WHOLE)):
        encoded = scorer.encode(scored)
        target_ids = encoded.ids[encoded.target_from :]
        expected = tokenizer(scored.target, add_special_tokens=False).input_ids
        assert target_ids == expected[: scorer.max_target_tokens]
        context_ids = encoded.ids[: encoded.target_from]
        full_context = tokenizer(scored.context, add_special_tokens=False).input_ids
        assert context_ids == full_context[-scorer.max_context_tokens :]


def test_scores_match_the_full_model_and_ignore_batching(scorer):
    programs = [
        PROMPT + BODY,
        WHOLE,
        PROMPT + "    return 1\n",
        PROMPT + "    total = 0\n" + "    total += r\n" * 6 + "    return total\n",
        "def perimeter(r):\n    return 2 * r\n",
    ]
    scorer.forget_scores()  # each batching computes every score (none kept from before)
    scorer.batch_size = 1
    one = scorer.score(PROMPT, "area", programs)
    scorer.forget_scores()
    scorer.batch_size = 8
    batched = scorer.score(PROMPT, "area", programs)
    scorer.forget_scores()
    scorer.batch_size = 3
    reversed_batch = scorer.score(PROMPT, "area", programs[::-1])[::-1]
    for a, b, c in zip(one, batched, reversed_batch, strict=True):
        assert a.coder_tokens == b.coder_tokens > 0 and a.reviewer_tokens == b.reviewer_tokens > 0
        for x, y in ((a, b), (a, c)):
            assert x.coder == pytest.approx(y.coder, abs=1e-5)
            assert x.reviewer == pytest.approx(y.reviewer, abs=1e-5)
    for program, result in zip(programs, one, strict=True):
        assert result.coder == pytest.approx(
            _reference_mean(scorer, coder_text(PROMPT, "area", program)[0]), abs=1e-4
        )
        assert result.reviewer == pytest.approx(
            _reference_mean(scorer, reviewer_text(PROMPT, "area", program)), abs=1e-4
        )
    assert [r.located for r in one] == [True, True, True, True, False]
    # different bodies, different scores: the body is what is scored
    assert len({round(r.coder, 6) for r in one}) == len(programs)


def test_scores_are_kept_and_a_text_is_scored_once(scorer, monkeypatch):
    texts = [reviewer_text(PROMPT, "area", PROMPT + BODY), reviewer_text(PROMPT, "area", WHOLE)]
    scorer.forget_scores()
    first = scorer.score_texts(texts)
    scored: list[int] = []
    real = scorer.mean_logprobs
    monkeypatch.setattr(
        scorer, "mean_logprobs", lambda encoded: scored.append(len(encoded)) or real(encoded)
    )
    again = scorer.score_texts([texts[1], texts[0], texts[1]])
    assert scored == [0] and again == [first[1], first[0], first[1]]
    new = reviewer_text(PROMPT, "area", PROMPT + "    return 1\n")
    scorer.score_texts([texts[0], new])
    assert scored == [0, 1]  # only the new text ran through the model


def test_token_budget_bounds_every_sequence(scorer):
    long_prompt = "def area(r):\n    " + '"""' + "word " * 400 + '"""\n'
    long_body = "    x = 1\n" * 200 + "    return x\n"
    coder, _ = coder_text(long_prompt, "area", long_prompt + long_body)
    encoded = scorer.encode(coder)
    assert encoded.target_from == scorer.max_context_tokens
    assert len(encoded.ids) == scorer.max_context_tokens + scorer.max_target_tokens
    # the context keeps its end (next to the body), the target its beginning
    ids = scorer._tokenizer(coder.context, add_special_tokens=False).input_ids
    assert encoded.ids[: encoded.target_from] == ids[-scorer.max_context_tokens :]
    result = scorer.score(long_prompt, "area", [long_prompt + long_body])[0]
    assert result.coder_tokens == scorer.max_target_tokens
    assert result.reviewer_tokens == scorer.max_target_tokens
    assert math.isfinite(result.coder) and math.isfinite(result.reviewer)


def test_fallbacks_get_defined_scores(scorer):
    programs = [
        "def perimeter(r):\n    return 2 * r\n",  # no entry function
        "def area(r)\n    return",  # does not parse
        PROMPT,  # an entry function with only its docstring: nothing to score
    ]
    missing, broken, empty = scorer.score(PROMPT, "area", programs)
    for result in (missing, broken):
        assert not result.located and result.coder_tokens > 0 and math.isfinite(result.coder)
        assert result.reviewer_tokens > 0 and math.isfinite(result.reviewer)
    assert empty.located and empty.coder_tokens == 0 and empty.coder == EMPTY_SCORE
    undocumented = scorer.score("def f(x):\n", "f", ["def f(x):\n    return x\n"])[0]
    assert undocumented.reviewer == EMPTY_SCORE and undocumented.reviewer_tokens == 0
    stdio = scorer.score("Read n and print it.", None, ["print(input())\n"])[0]
    assert stdio.coder_tokens > 0 and stdio.reviewer_tokens > 0
    assert scorer.score(PROMPT, "area", []) == []


def test_int8_precision_loads_and_scores(tiny_decoder_dir):
    scorer = LikelihoodScorer(str(tiny_decoder_dir), precision="int8")
    result = scorer.score(PROMPT, "area", [PROMPT + BODY])[0]
    assert math.isfinite(result.coder) and result.coder < 0


# -- feature files --------------------------------------------------------------------------


def test_feature_file_is_written_per_program_and_resumed(scorer, tmp_path):
    problem = Problem("t/1", PROMPT, "area", tests="assert True")
    slates = [
        Slate("t/1", PROMPT, (PROMPT + BODY, WHOLE), (True, False), (2, 1)),
    ]
    out = tmp_path / "features.jsonl"
    seen: list[int] = []
    rows = compute_likelihood_features(
        slates, {"t/1": problem}, scorer, out, lambda d, n, s: seen.append(s)
    )
    assert seen == [2]
    written = [r for _, r in read_jsonl(out)]
    assert [r["program_sha"] for r in written] == [program_sha(p) for p in slates[0].programs]
    assert set(written[0]) == {
        "task_id",
        "program_sha",
        "coder",
        "reviewer",
        "coder_tokens",
        "reviewer_tokens",
    }
    expected = scorer.score(PROMPT, "area", list(slates[0].programs))
    assert feature_scores(slates, rows, "coder") == [[round(e.coder, 6) for e in expected]]
    # a rerun scores nothing new; a third program is added
    more = [Slate("t/1", PROMPT, (*slates[0].programs, PROMPT), (True, False, False), (1, 1, 1))]
    seen.clear()
    rows = compute_likelihood_features(
        more, {"t/1": problem}, scorer, out, lambda d, n, s: seen.append(s)
    )
    assert seen == [1] and len(list(read_jsonl(out))) == 3
    assert feature_scores(more, rows, "coder_tokens") is not None
    # other settings do not mix into the same file
    meta = json.loads((tmp_path / "features.jsonl.meta.json").read_text())
    assert meta["max_target_tokens"] == scorer.max_target_tokens
    other = LikelihoodScorer(scorer.model_reference, max_target_tokens=7)
    with pytest.raises(DataError, match="was computed with"):
        compute_likelihood_features(slates, {"t/1": problem}, other, out)


@pytest.mark.slow
def test_default_model_reviewer_prefers_the_program_that_does_what_the_docstring_says():
    prompt = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b."""\n'
    right = "def add(a: int, b: int) -> int:\n    return a + b\n"
    wrong = "def add(a: int, b: int) -> int:\n    return str(a)[::-1].upper()\n"
    scorer = LikelihoodScorer()
    good, bad = scorer.score(prompt, "add", [right, wrong])
    assert good.reviewer > bad.reviewer
    assert good.coder > bad.coder
