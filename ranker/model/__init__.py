"""The learned ranker, Hugging Face style: a config that validates itself (`config`), a
backbone (`backbone`) reading (problem, candidate) pairs as encoded by `encoding`, feature
groups from the signals (`features`), a score head (`ranker.Ranker`), the pass@k losses it
trains with (`losses`) and the metrics it is judged by (`metrics`), saved as config.json,
model.safetensors and a model card (`card`), with the calibrated probability that a candidate
is correct beside them (`calibration`, calibration.json); `shipped` loads the default that ships
in the package. Serving order is not decided here but in `ranker.order`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ranker.lazy import lazy_exports

if TYPE_CHECKING:
    from ranker.model.card import ModelCard
    from ranker.model.config import RankerConfig, RankerConfigError
    from ranker.model.ranker import Ranker

_EXPORTS = {
    "ModelCard": "ranker.model.card",
    "Ranker": "ranker.model.ranker",
    "RankerConfig": "ranker.model.config",
    "RankerConfigError": "ranker.model.config",
}
__all__ = [
    "ModelCard",
    "Ranker",
    "RankerConfig",
    "RankerConfigError",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)
