"""Settings parsing and the result cache: plain functions, no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ranker.source import function_at
from toppass_ls.cache import ResultCache, cache_key
from toppass_ls.settings import (
    Settings,
    merge,
    normalise,
    parse_settings,
    settings_markdown,
    settings_schema,
    to_json,
)

EXPECTED_KEYS = [
    "provider",
    "openai.baseUrl",
    "openai.model",
    "openai.apiKey",
    "openai.api",
    "openai.honoursN",
    "local.model",
    "samples",
    "adaptiveSampling",
    "temperature",
    "maxTokens",
    "timeBudget",
    "topK",
    "rankerPath",
    "inlineCompletion",
    "logFile",
    "feedbackLog",
    "allowExecution",
    "probeInputs",
    "reviewerTieBreak",
]


def test_schema_lists_every_setting_once_with_type_default_and_description():
    schema = settings_schema()
    assert list(schema) == EXPECTED_KEYS
    for key, entry in schema.items():
        assert entry["description"].strip() and "\n" not in entry["description"], key
        assert {"type", "default", "description"} <= set(entry)
    assert schema["provider"]["enum"] == ["local", "openai"]
    assert schema["openai.baseUrl"]["type"] == ["string", "null"]
    assert schema["samples"] == {
        "type": "integer",
        "default": 16,
        "description": "How many candidates to sample per request (the most, with adaptiveSampling).",
        "minimum": 1,
        "maximum": 256,
    }
    assert schema["timeBudget"]["exclusiveMinimum"] == 0
    assert "sandbox" in schema["allowExecution"]["description"]
    assert schema["allowExecution"]["default"] == "ask"  # consent, asked once per workspace
    assert schema["allowExecution"]["type"] == ["boolean", "string"]
    assert schema["allowExecution"]["enum"] == [True, False, "ask"]
    assert "docstring" in schema["reviewerTieBreak"]["description"]
    assert schema["reviewerTieBreak"]["default"] is False
    # the defaults in the schema are the defaults of the dataclasses
    assert parse_settings({key: e["default"] for key, e in schema.items()}) == (Settings(), [])


def test_defaults():
    settings, problems = parse_settings(None)
    assert problems == []
    assert settings.provider == "local" and settings.openai.model == "gpt-4o-mini"
    assert (settings.samples, settings.temperature, settings.max_tokens) == (16, 0.8, 384)
    assert (settings.time_budget, settings.top_k, settings.ranker_path) == (60.0, 5, None)
    assert settings.inline_completion is False and settings.allow_execution == "ask"
    assert settings.reviewer_tie_break is False


@pytest.mark.parametrize(
    "raw",
    [
        {"toppass": {"openai": {"baseUrl": "http://x/v1", "honoursN": "no"}, "samples": 4}},
        {"openai": {"baseUrl": "http://x/v1", "honoursN": "no"}, "samples": 4},
        {"openai.baseUrl": "http://x/v1", "openai.honoursN": "no", "samples": 4.0},
    ],
)
def test_wrapped_nested_and_dotted_forms_are_the_same(raw):
    settings, problems = parse_settings(raw)
    assert problems == []
    assert settings.openai.base_url == "http://x/v1" and settings.openai.honours_n == "no"
    assert settings.samples == 4 and isinstance(settings.samples, int)


def test_reviewer_tie_break_is_a_boolean_beside_allow_execution():
    settings, problems = parse_settings(
        {"toppass": {"allowExecution": True, "reviewerTieBreak": True}}
    )
    assert problems == [] and settings.allow_execution and settings.reviewer_tie_break
    assert parse_settings({"reviewerTieBreak": 1})[1] == [
        "invalid setting reviewerTieBreak = 1 (must be true or false); using the default False"
    ]


def test_probe_inputs_is_a_small_count_off_by_default():
    assert Settings().probe_inputs == 0
    settings, problems = parse_settings({"toppass": {"allowExecution": True, "probeInputs": 6}})
    assert problems == [] and settings.probe_inputs == 6
    assert parse_settings({"probeInputs": 33})[1] == [
        "invalid setting probeInputs = 33 (must be <= 32); using the default 0"
    ]
    assert parse_settings({"probeInputs": -1})[0].probe_inputs == 0
    assert "allowExecution" in settings_schema()["probeInputs"]["description"]


def test_invalid_values_fall_back_per_key_with_a_message_naming_it():
    settings, problems = parse_settings(
        {
            "provider": "gpt",
            "samples": -3,
            "temperature": "hot",
            "topK": 2.5,
            "inlineCompletion": "yes",
            "timeBudget": 0,
            "reviewerTieBreak": "yes",
            "openai": {"model": None, "apiKey": ""},
            "somethingElse": 1,
        }
    )
    assert settings.provider == "local" and settings.samples == 16 and settings.temperature == 0.8
    assert settings.top_k == 5 and settings.inline_completion is False
    assert settings.reviewer_tie_break is False
    assert settings.time_budget == 60.0 and settings.openai.model == "gpt-4o-mini"
    assert settings.openai.api_key is None  # "" means unset for an optional string
    assert problems == [
        "unknown setting 'somethingElse' (ignored)",
        "invalid setting provider = 'gpt' (must be one of local, openai); using the default 'local'",
        "invalid setting openai.model = None (must be a string, not null); using the default 'gpt-4o-mini'",
        "invalid setting samples = -3 (must be >= 1); using the default 16",
        "invalid setting temperature = 'hot' (must be a number); using the default 0.8",
        "invalid setting timeBudget = 0 (must be > 0); using the default 60.0",
        "invalid setting topK = 2.5 (must be an integer); using the default 5",
        "invalid setting inlineCompletion = 'yes' (must be true or false); using the default False",
        "invalid setting reviewerTieBreak = 'yes' (must be true or false); using the default False",
    ]


def test_updates_merge_over_earlier_settings():
    base = merge({}, {"toppass": {"samples": 4, "openai": {"model": "a"}}})
    assert base == {"samples": 4, "openai.model": "a"}
    updated = merge(base, {"openai": {"model": "b"}})
    assert parse_settings(updated)[0].samples == 4
    assert parse_settings(updated)[0].openai.model == "b"
    assert merge(updated, {}) == updated
    assert normalise("not a mapping") == (
        {},
        ["settings must be an object of keys and values, not a string"],
    )


@pytest.mark.parametrize(
    ("raw", "flat", "problem"),
    [
        # Lua's empty table arrives as []: an empty group, not a setting
        ({"toppass": {"local": [], "samples": 4}}, {"samples": 4}, None),
        ({"toppass": []}, {}, None),
        (
            {"toppass": {"openai": "http://x/v1"}},
            {},
            "ignoring setting openai: it must be an object of settings (openai.model, ...), not "
            "a string",
        ),
        (
            {"toppass": {"samples": 4}, "provider": "openai"},
            {"samples": 4},
            "ignoring provider beside the 'toppass' object (put them inside it)",
        ),
        (["provider", "openai"], {}, "settings must be an object of keys and values, not a list"),
    ],
)
def test_settings_of_the_wrong_shape_are_named_not_dropped_silently(raw, flat, problem):
    assert normalise(raw) == (flat, [problem] if problem else [])
    _, problems = parse_settings(raw)
    assert problems == ([problem] if problem else [])


def test_unknown_keys_are_named_except_the_editors_own():
    _, problems = parse_settings({"toppass": {"topk": 3, "serverPath": "toppass-ls"}})
    assert problems == ["unknown setting 'topk' (ignored)"]


def test_allow_execution_takes_true_false_or_ask():
    assert parse_settings({"allowExecution": True})[0].allow_execution is True
    assert parse_settings({"allowExecution": False})[0].allow_execution is False
    settings, problems = parse_settings({"allowExecution": "yes"})
    assert settings.allow_execution == "ask" and problems == [
        "invalid setting allowExecution = 'yes' (must be true, false or \"ask\"); using the "
        "default 'ask'"
    ]


def test_to_json_masks_the_api_key():
    settings, _ = parse_settings({"openai": {"apiKey": "sk-secret"}})
    flat = to_json(settings)
    assert flat["openai.apiKey"] == "***" and list(flat) == EXPECTED_KEYS


def test_settings_schema_command_prints_the_schema():
    out = subprocess.run(
        [sys.executable, "-m", "toppass_ls", "settings-schema"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out) == json.loads(json.dumps(settings_schema()))


def test_readme_documents_every_setting_as_the_schema_does():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- settings:start -->\n")[1].split("<!-- settings:end -->")[0]
    assert table == settings_markdown()  # regenerate: toppass-ls settings-schema --markdown


def test_cache_is_keyed_by_the_function_asked_for_and_bounded():
    source = (
        'def f(xs):\n    """Sum xs."""\n    raise NotImplementedError\n\n\ndef g():\n    pass\n'
    )
    ctx = function_at(source, 0)
    assert ctx is not None
    cache: ResultCache[str] = ResultCache(capacity=2)
    cache.put(cache_key("a", ctx), "r1")
    # a candidate applied, the body typed over, another function edited: the same list
    applied = source.replace("raise NotImplementedError", "return sum(xs)")
    edited = applied.replace("pass", "return 1")
    for text in (applied, edited):
        again = function_at(text, 0)
        assert again is not None and cache.get(cache_key("a", again)) == "r1"
    # another signature or docstring asks for other candidates
    for text in (source.replace("f(xs)", "f(xs, k)"), source.replace("Sum xs", "Sum ys")):
        other = function_at(text, 0)
        assert other is not None and cache.get(cache_key("a", other)) is None
    g = function_at(source, 5)
    assert g is not None
    cache.put(cache_key("b", g), "r2")
    cache.get(cache_key("a", ctx))  # a is now the most recent
    cache.put(cache_key("c", g), "r3")
    assert cache.get(cache_key("b", g)) is None and len(cache) == 2
    cache.forget_document("a")
    assert len(cache) == 1 and cache.get(cache_key("c", g)) == "r3"
    with pytest.raises(ValueError):
        ResultCache(capacity=0)
