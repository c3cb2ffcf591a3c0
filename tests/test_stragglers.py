"""`generation.stragglers`: when a batch of local answers stops waiting for its slowest rows,
and the local provider's per-step tracker that applies it."""

import threading

import pytest
import torch

from generation.local import _AnswerTracker
from generation.stragglers import StragglerRule

RULE = StragglerRule(quorum=0.5, factor=2.0, floor=4)


def test_the_limit_waits_for_the_quorum_then_scales_the_median_length():
    assert RULE.limit([], 4) is None
    assert RULE.limit([3], 4) is None  # one of four ended: below the quorum
    assert RULE.limit([3, 5], 4) == 8  # twice the median of 3 and 5
    assert RULE.limit([1, 1], 4) == 4  # never before the floor
    assert RULE.limit([3], 1) is None  # a batch of one has nothing to compare with
    with pytest.raises(ValueError):
        StragglerRule(quorum=0.0)
    with pytest.raises(ValueError):
        StragglerRule(factor=0.5)


def test_replay_stops_a_batch_at_the_limit_or_when_every_row_ended():
    # rows of 10, 12, 60 and 200 tokens (200 = maxTokens: it never ended by itself)
    assert RULE.replay([10, 12, 60, 200], 200) == 22  # half ended by 12; 2 x 11 = 22
    assert RULE.replay([10, 12, 14, 16], 200) == 16  # everyone ended first
    assert StragglerRule(quorum=1.0).replay([10, 200], 200) == 200  # nobody cut without quorum
    assert RULE.replay([200, 200], 200) == 200  # nothing ended: maxTokens as before


class Tokenizer:
    eos_token_id = 0

    def decode(self, ids, skip_special_tokens=True):
        return "x"


def test_the_tracker_cuts_the_rows_still_going_and_hands_them_over():
    ends = [3, 5, 99, 99]  # rows 0 and 1 write end-of-sequence at steps 3 and 5
    handed: list[int] = []
    done_counts: list[int] = []
    tracker = _AnswerTracker(
        Tokenizer(),
        rows=4,
        chat=False,
        deadline=float("inf"),
        cancel=threading.Event(),
        on_row_done=done_counts.append,
        on_answer=lambda ids: handed.append(int(ids[0])),
        stragglers=RULE,
    )
    stopped_at = None
    for step in range(1, 20):
        ids = torch.tensor([[row, 0 if step == ends[row] else 7] for row in range(4)])
        if bool(tracker(ids, None).all()):
            stopped_at = step
            break
    # half ended by step 5, answers of 2 and 4 tokens (end-of-sequence is not one): rows still
    # going at twice their median, 6 tokens, are cut, as `replay` says of the same lengths
    assert stopped_at == 6 and tracker.cut == 2 and not tracker.stopped_early
    assert RULE.replay([2, 4, 200, 200], 200) == 6
    assert sorted(handed) == [0, 1, 2, 3] and sum(done_counts) == 4


def test_without_a_rule_the_tracker_waits_for_every_row():
    tracker = _AnswerTracker(Tokenizer(), 2, False, float("inf"), threading.Event(), lambda n: None)
    for step in range(1, 50):
        ids = torch.tensor([[0, 0 if step == 1 else 7], [1, 7]])
        assert not bool(tracker(ids, None).all())
    assert tracker.cut == 0


def test_the_local_provider_cuts_by_default_and_generate_can_turn_it_off(monkeypatch):
    from generation.factory import make_provider
    from generation.provider import SamplingOptions
    from generation.stragglers import DEFAULT_STRAGGLERS

    assert make_provider("local", SamplingOptions()).stragglers is DEFAULT_STRAGGLERS
    assert make_provider("local", SamplingOptions(), stragglers=None).stragglers is None

    from typer.testing import CliRunner

    import generation.factory
    from train.cli import app

    made: list[object] = []

    def fake_provider(*args, **kwargs):
        made.append(kwargs["stragglers"])
        raise ValueError("stop here")  # nothing loads: only the argument is checked

    monkeypatch.setattr(generation.factory, "make_provider", fake_provider)
    for flag, expected in (("--straggler-cut", DEFAULT_STRAGGLERS), ("--no-straggler-cut", None)):
        result = CliRunner().invoke(
            app, ["generate", "--problems", "humaneval", "--out", "/dev/null", "--limit", "1", flag]
        )
        assert result.exit_code == 1 and "stop here" in result.output
        assert made.pop() is expected
