"""Everything needed to score code candidates at serving time.

from ranker import Ranker
ranker = Ranker.from_pretrained("path/to/ranker")   # or Ranker(RankerConfig()) untrained
ranker.rank(problem_prompt, candidate_programs, top_k=5)  # [(index, score), ...]
"""

from ranker.config import DEFAULT_BACKBONE, RankerConfig, RankerConfigError
from ranker.losses import (
    LossConfig,
    classification_loss,
    exact_pass_at_k_loss,
    pass_at_k_loss,
    ranking_loss,
)
from ranker.metrics import (
    evaluate_rankings,
    oracle,
    order_by_score,
    random_pass_at_k,
    ranked_pass_at_k,
)
from ranker.model import Ranker
from ranker.model_card import ModelCard

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
