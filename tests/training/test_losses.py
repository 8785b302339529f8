"""Loss values against hand computation and against the baseline's published test values."""

from __future__ import annotations

import math

import pytest
import torch

from training.core.losses import (
    EmoticLoss,
    dynamic_category_weights,
    margin_l2_vad_loss,
    smooth_l1_vad_loss,
    weighted_category_loss,
)


def test_dynamic_weights_follow_batch_counts():
    targets = torch.zeros(3, 26)
    targets[:, 0] = 1  # three positives
    targets[0, 1] = 1  # one positive; every other category none
    weights = dynamic_category_weights(targets, zero_count_weight=1e-4)
    assert weights[0].item() == pytest.approx(1 / math.log(3 + 1.2))
    assert weights[1].item() == pytest.approx(1 / math.log(1 + 1.2))
    assert torch.all(weights[2:] == 1e-4)


def test_category_loss_by_hand():
    scores = torch.zeros(2, 26)
    scores[0, 0], scores[1, 0], scores[1, 5] = 0.5, 1.0, 2.0
    targets = torch.zeros(2, 26)
    targets[0, 0] = 1
    # Category 0: one positive, weight 1/ln 2.2; errors 0.5 and 1.0. Category 5: no positive, weight 1e-4; error 2.
    w0 = 1 / math.log(2.2)
    expected = ((0.5**2) * w0 + ((1.0**2) * w0 + (2.0**2) * 1e-4)) / 2
    assert weighted_category_loss(scores, targets).item() == pytest.approx(expected)


def test_category_loss_matches_baseline_value():
    # The baseline's loss.py self-test; it sums over the batch of 2 (37.1217), we average.
    target = torch.zeros(2, 26)
    target[0, 0:13] = 1
    target[1, 13:] = 2
    target[:, 13] = 0
    pred = torch.ones(2, 26)
    assert weighted_category_loss(pred, target).item() * 2 == pytest.approx(37.1217, abs=1e-3)


def _baseline_vad_pair() -> tuple[torch.Tensor, torch.Tensor]:
    # The baseline's self-test, on the network scale (labels / 10).
    predicted = torch.tensor([[0.7] * 3, [0.25] * 3])
    target = torch.tensor([[0.9] * 3, [0.2] * 3])
    return predicted, target


def test_smooth_l1_by_hand():
    predicted, target = _baseline_vad_pair()
    # Errors on the 1-10 scale: 2 (above margin 1: 2 - 0.5) and 0.5 (below: 0.5 * 0.5^2), three dims each.
    expected = (3 * 1.5 + 3 * 0.125) / 2
    assert smooth_l1_vad_loss(predicted, target, margin=1.0).item() == pytest.approx(expected)
    assert smooth_l1_vad_loss(predicted, target).item() * 2 == pytest.approx(4.875)  # baseline's sum


def test_margin_l2_ignores_errors_inside_margin():
    predicted, target = _baseline_vad_pair()
    # Error 2 -> 4 per dim; error 0.5 < margin 1 -> 0.
    assert margin_l2_vad_loss(predicted, target, margin=1.0).item() == pytest.approx(3 * 4 / 2)
    assert margin_l2_vad_loss(predicted, target, margin=3.0).item() == 0.0
    assert margin_l2_vad_loss(predicted, target, margin=0.0).item() == pytest.approx((3 * 4 + 3 * 0.25) / 2)


def test_weight_between_the_two_losses():
    predicted, target = _baseline_vad_pair()
    scores, category_targets = torch.ones(2, 26), torch.zeros(2, 26)
    category_targets[0, 3] = 1
    category_part = weighted_category_loss(scores, category_targets).item()
    vad_part = margin_l2_vad_loss(predicted, target).item()
    parts = EmoticLoss(vad_loss="margin_l2", vad_weight=0.25)(scores, predicted, category_targets, target)
    assert parts.categories.item() == pytest.approx(category_part)
    assert parts.vad.item() == pytest.approx(vad_part)
    assert parts.total.item() == pytest.approx(0.75 * category_part + 0.25 * vad_part)


def test_unknown_vad_loss_is_named():
    with pytest.raises(ValueError, match="vad_loss: must be one of smooth_l1, margin_l2"):
        EmoticLoss(vad_loss="huber")
