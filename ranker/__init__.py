"""Everything that scores candidates at serving time, in rooms (imports point down only):

    model/       the learned ranker: config, backbone, encoding, features, losses, metrics,
                 the saved-ranker format and model card, calibration, the shipped default
    order.py     the serving order: how scores, defects, counts, execution and the reviewer
                 decide the list the user sees, told once
    candidates/  raw answers -> programs (extract, normalise, dedupe) -> the body as applied
    signals/     what is known besides the text: execution on examples, static defects,
                 reviewer likelihood; `signals.types` is the leaf every room passes around
    examples/    the examples a docstring shows (one module per written form) and the inputs
                 built beside them (derived, typed, proposed)
    sandbox/     the confined executor and its small public face
    source.py    one analysis of Python source: parse a prompt, find a function, names
    feedback.py  the feedback log's records (the server writes them, training reads them)
    local_models.py  where model weights are on this machine, and the lock every load holds
    cache.py     where toppass keeps what it can recompute ($XDG_CACHE_HOME/toppass)
    offer.py     the top: one request's answers -> prepared, run, scored, ordered and titled
                 (what the editor offers and `toppass-train eval` measures as "offered")

    from ranker import Ranker
    ranker = Ranker.from_pretrained("path/to/ranker")   # or Ranker(RankerConfig()) untrained
    ranker.rank(problem_prompt, candidate_programs, top_k=5)  # [(index, score), ...]

`import ranker` is cheap: torch loads when a model is first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ranker.lazy import lazy_exports

if TYPE_CHECKING:
    from ranker.model.card import ModelCard
    from ranker.model.config import DEFAULT_BACKBONE, RankerConfig, RankerConfigError
    from ranker.model.losses import (
        LossConfig,
        classification_loss,
        exact_pass_at_k_loss,
        pass_at_k_loss,
        ranking_loss,
    )
    from ranker.model.metrics import (
        evaluate_rankings,
        oracle,
        random_pass_at_k,
        ranked_pass_at_k,
    )
    from ranker.model.ranker import Ranker
    from ranker.order import order_by_score

_EXPORTS = {
    "DEFAULT_BACKBONE": "ranker.model.config",
    "LossConfig": "ranker.model.losses",
    "ModelCard": "ranker.model.card",
    "Ranker": "ranker.model.ranker",
    "RankerConfig": "ranker.model.config",
    "RankerConfigError": "ranker.model.config",
    "classification_loss": "ranker.model.losses",
    "evaluate_rankings": "ranker.model.metrics",
    "exact_pass_at_k_loss": "ranker.model.losses",
    "oracle": "ranker.model.metrics",
    "order_by_score": "ranker.order",
    "pass_at_k_loss": "ranker.model.losses",
    "random_pass_at_k": "ranker.model.metrics",
    "ranked_pass_at_k": "ranker.model.metrics",
    "ranking_loss": "ranker.model.losses",
}
__all__ = [
    "DEFAULT_BACKBONE",
    "LossConfig",
    "ModelCard",
    "Ranker",
    "RankerConfig",
    "RankerConfigError",
    "classification_loss",
    "evaluate_rankings",
    "exact_pass_at_k_loss",
    "oracle",
    "order_by_score",
    "pass_at_k_loss",
    "random_pass_at_k",
    "ranked_pass_at_k",
    "ranking_loss",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
