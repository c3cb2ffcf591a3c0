import itertools

import pytest
import torch

from ranker.model.losses import (
    LossConfig,
    classification_loss,
    exact_pass_at_k_loss,
    kth_negative,
    pass_at_k_loss,
    ranking_loss,
)


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def full_mask(scores: torch.Tensor) -> torch.Tensor:
    return torch.ones_like(scores, dtype=torch.bool)


# Hand-made slates: (scores, labels); the comment says whether pass@1 fails.
HAND_MADE = [
    ([3.0, 1.0, 0.0, -1.0], [1, 0, 0, 0]),  # positive on top: succeeds
    ([0.0, 2.0, 1.0, -1.0], [1, 0, 0, 0]),  # two negatives above: fails at k=1,2
    ([0.5, 2.0, -1.0, 0.2], [1, 0, 1, 0]),  # best positive second: fails at k=1 only
    ([-2.0, -1.0, -3.0, 5.0], [0, 1, 0, 1]),  # best positive first among many
    ([1.0, 1.0 + 1e-3, 0.9, 0.8], [1, 0, 0, 0]),  # near-tie lost
]


@pytest.mark.parametrize("scores,labels", HAND_MADE)
@pytest.mark.parametrize("k", [1, 2, 3])
def test_surrogate_agrees_in_sign_with_exact_loss(scores, labels, k):
    s, y = t([scores]), t([labels])
    m = full_mask(s)
    exact = exact_pass_at_k_loss(s, y, m, k).item()
    # Margin 0, best positive only: the surrogate is positive exactly when pass@k fails.
    for kind in ("hinge", "squared_hinge", "logistic"):
        loss = pass_at_k_loss(s, y, m, ks=[k], surrogate_kind=kind, margin=0.0, top_positives=1)
        if exact == 1.0:
            assert loss.item() > 0, (kind, scores, labels, k)
        elif kind != "logistic":
            assert loss.item() == 0.0, (kind, scores, labels, k)
    # The default (margin 1, top-3 positives, several k) still upper-bounds the exact loss.
    default = pass_at_k_loss(s, y, m, ks=[k])
    assert (default.item() > 0) or exact == 0.0


def test_surrogate_sign_on_random_slates():
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(500, 7, generator=gen)
    y = torch.rand(500, 7, generator=gen) < 0.4
    m = torch.rand(500, 7, generator=gen) < 0.9
    n_neg = (m & ~y).sum(dim=1)
    for k in (1, 2, 3):
        exact = exact_pass_at_k_loss(s, y, m, k)
        for row in range(500):
            sl = slice(row, row + 1)
            loss = pass_at_k_loss(
                s[sl], y[sl], m[sl], ks=[k], surrogate_kind="hinge", margin=0.0, top_positives=1
            )
            if exact[row] == 1.0:
                assert loss.item() > 0  # an upper bound everywhere
            if n_neg[row] >= k:
                assert (loss.item() > 0) == (exact[row].item() == 1.0)  # and exact in sign


def test_exact_loss_matches_top_k_definition():
    s = t([[0.0, 2.0, 1.0, -1.0, 0.5]])
    y = t([[1, 0, 0, 0, 1]])
    m = full_mask(s)
    # Order: 2.0(neg) 1.0(neg) 0.5(pos) ... => pass@1, pass@2 fail, pass@3 succeeds.
    assert [exact_pass_at_k_loss(s, y, m, k).item() for k in (1, 2, 3)] == [1.0, 1.0, 0.0]


def test_kth_negative_uses_lowest_negative_when_fewer_than_k():
    s = t([[5.0, 3.0, 1.0, 0.0]])
    y = t([[1, 0, 0, 1]])
    value, has = kth_negative(s, y, full_mask(s), k=5)
    assert has.item() and value.item() == 1.0
    value, _ = kth_negative(s, y, full_mask(s), k=1)
    assert value.item() == 3.0


def _with_padding(s: torch.Tensor, y: torch.Tensor, extra: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    pad_s = torch.randn(s.shape[0], extra, generator=gen) * 100
    pad_y = torch.rand(s.shape[0], extra, generator=gen) < 0.5
    s2 = torch.cat([s, pad_s], dim=1)
    y2 = torch.cat([y.bool(), pad_y], dim=1)
    m2 = torch.cat(
        [torch.ones_like(s, dtype=torch.bool), torch.zeros(s.shape[0], extra, dtype=torch.bool)], 1
    )
    # Shuffle columns so padding is not only at the end.
    perm = torch.randperm(s2.shape[1], generator=gen)
    return s2[:, perm], y2[:, perm], m2[:, perm], perm


LOSSES = {
    "passk": lambda s, y, m: pass_at_k_loss(s, y, m),
    "passk_logistic_all_pos": lambda s, y, m: pass_at_k_loss(
        s, y, m, surrogate_kind="logistic", top_positives=None
    ),
    "bce": classification_loss,
    "mix": lambda s, y, m: ranking_loss(s, y, m, LossConfig(kind="mix", bce_weight=0.5)),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_padding_never_changes_loss_or_gradient(name):
    loss_fn = LOSSES[name]
    base = torch.tensor([[0.3, -1.2, 2.0, 0.1], [1.0, 0.5, -0.5, 0.0], [0.2, 0.2, 0.9, -3.0]])
    y = t([[1, 0, 0, 1], [0, 0, 1, 0], [1, 1, 1, 1]])
    s = base.clone().requires_grad_(True)
    loss = loss_fn(s, y, full_mask(s))
    loss.backward()
    for seed in range(3):
        s2, y2, m2, perm = _with_padding(base, y, extra=3, seed=seed)
        s2 = s2.clone().requires_grad_(True)
        loss2 = loss_fn(s2, y2, m2)
        loss2.backward()
        assert torch.allclose(loss, loss2, atol=1e-6)
        # Gradient on real candidates is unchanged and zero on padding.
        inverse = torch.argsort(perm)
        grad_back = s2.grad[:, inverse]
        assert torch.allclose(grad_back[:, :4], s.grad, atol=1e-6)
        assert torch.all(grad_back[:, 4:] == 0)


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_extreme_scores_give_finite_loss_and_gradient(name, sign):
    s = torch.tensor([[1e4, -1e4, 0.0, 1e4], [-1e4, 1e4, -1e4, 1e4]]) * sign
    s.requires_grad_(True)
    y = t([[0, 1, 0, 1], [1, 0, 0, 1]])
    loss = LOSSES[name](s, y, full_mask(s))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(s.grad).all()


def test_problems_without_positives_or_negatives_contribute_nothing():
    mixed = t([[0.0, 1.0, -1.0]]), t([[1, 0, 0]])
    only_pos = t([[0.0, 1.0, 2.0]]), t([[1, 1, 1]])
    only_neg = t([[5.0, 1.0, 2.0]]), t([[0, 0, 0]])
    s = torch.cat([mixed[0], only_pos[0], only_neg[0]])
    y = torch.cat([mixed[1], only_pos[1], only_neg[1]])
    s.requires_grad_(True)
    loss = pass_at_k_loss(s, y, full_mask(s))
    alone = pass_at_k_loss(mixed[0], mixed[1], full_mask(mixed[0]))
    assert torch.allclose(loss, alone)
    loss.backward()
    assert torch.all(s.grad[1:] == 0)
    # A batch with no mixed problem is a differentiable zero.
    none = pass_at_k_loss(only_pos[0].requires_grad_(True), only_pos[1], full_mask(only_pos[0]))
    assert none.item() == 0.0 and none.requires_grad


def test_selective_positives_leave_low_scored_positive_without_gradient():
    # A positive at the bottom (e.g. a weak-test false positive) gets no push with top-1.
    s = torch.tensor([[2.0, 1.5, 1.0, -4.0]], requires_grad=True)
    y = t([[1, 0, 0, 1]])
    pass_at_k_loss(s, y, full_mask(s), ks=[1], top_positives=1).backward()
    assert s.grad[0, 3] == 0 and s.grad[0, 0] < 0
    s.grad = None
    pass_at_k_loss(s, y, full_mask(s), ks=[1], top_positives=None).backward()
    assert s.grad[0, 3] < 0


def test_gradient_pushes_positive_up_and_kth_negative_down():
    s = torch.tensor([[0.0, 2.0, 1.0, -1.0]], requires_grad=True)
    y = t([[1, 0, 0, 0]])
    pass_at_k_loss(s, y, full_mask(s), ks=[2]).backward()
    # d loss / d s_pos < 0 (raise it), the 2nd negative (score 1.0) > 0, others untouched.
    assert s.grad[0, 0] < 0 and s.grad[0, 2] > 0
    assert s.grad[0, 1] == 0 and s.grad[0, 3] == 0


def test_sum_over_ks():
    s = t([[0.0, 2.0, 1.0, -1.0]])
    y = t([[1, 0, 0, 0]])
    m = full_mask(s)
    parts = [pass_at_k_loss(s, y, m, ks=[k]) for k in (1, 2, 3)]
    assert torch.allclose(pass_at_k_loss(s, y, m, ks=[1, 2, 3]), sum(parts))


def test_mix_is_weighted_sum():
    s = t([[0.0, 2.0, 1.0, -1.0]])
    y = t([[1, 0, 1, 0]])
    m = full_mask(s)
    cfg = LossConfig(kind="mix", passk_weight=0.7, bce_weight=0.3)
    expected = 0.7 * pass_at_k_loss(s, y, m) + 0.3 * classification_loss(s, y, m)
    assert torch.allclose(ranking_loss(s, y, m, cfg), expected)


def test_bce_matches_torch_on_unpadded():
    s = t([[0.0, 2.0, -1.0]])
    y = t([[1, 0, 1]])
    ref = torch.nn.functional.binary_cross_entropy_with_logits(s, y)
    assert torch.allclose(classification_loss(s, y, full_mask(s)), ref)


def test_bad_shapes_and_arguments_raise():
    s = t([[0.0, 1.0]])
    with pytest.raises(ValueError):
        pass_at_k_loss(s, t([[1.0]]), full_mask(s))
    with pytest.raises(ValueError):
        pass_at_k_loss(s, t([[1, 0]]), full_mask(s), ks=[])
    with pytest.raises(ValueError):
        pass_at_k_loss(s, t([[1, 0]]), full_mask(s), surrogate_kind="nope")  # type: ignore[arg-type]


def test_exact_loss_counts_ties_against_the_ranker():
    # With a tie between the best positive and the k-th negative, pass@k is not guaranteed.
    for scores in itertools.permutations([1.0, 1.0, 0.0]):
        s = t([list(scores)])
        y = t([[1, 0, 0]])
        exact = exact_pass_at_k_loss(s, y, full_mask(s), 1).item()
        assert exact == (1.0 if scores[0] <= max(scores[1:]) else 0.0)
