"""The README.md written beside a saved ranker: what it is, what it saw, how it scores."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ranker.model.config import RankerConfig


@dataclass
class ModelCard:
    """Sections of a model card; the trainer fills in data, settings and evaluation."""

    title: str = "toppass ranker"
    description: str = (
        "Scores (problem, candidate program) pairs so that a correct candidate lands in the top "
        "k. Load with `ranker.Ranker.from_pretrained(path)` or point `toppass-ls` at this folder."
    )
    training_data: list[str] = field(default_factory=list)
    training_settings: dict[str, Any] = field(default_factory=dict)
    evaluation: str = ""
    notes: str = ""

    def render(self, config: RankerConfig) -> str:
        parts = [
            "---",
            "library_name: toppass",
            "tags: [code-ranking, pass-at-k, top-pass]",
            f"base_model: {json.dumps(config.backbone)}",
            "---",
            "",
            f"# {self.title}",
            "",
            self.description,
            "",
            "## Architecture",
            "",
            f"- backbone: `{config.backbone}` "
            + (
                "(frozen; not stored here, loaded from its source)"
                if config.backbone_frozen
                else f"(top {'all' if config.trainable_layers == -1 else config.trainable_layers}"
                " layers fine-tuned; stored here)"
            ),
            f"- pooling: {config.pooling}; score head hidden widths: {list(config.head_hidden)}",
            f"- input: `{config.input_template}` template, at most {config.max_length} tokens",
        ]
        if self.training_data:
            parts += ["", "## Training data", ""]
            parts += [f"- {line}" for line in self.training_data]
        if self.training_settings:
            parts += ["", "## Training settings", "", "```json"]
            parts += [json.dumps(self.training_settings, indent=2, sort_keys=True), "```"]
        if self.evaluation:
            parts += ["", "## Evaluation", "", self.evaluation.strip()]
        if self.notes:
            parts += ["", "## Notes", "", self.notes.strip()]
        return "\n".join(parts) + "\n"
