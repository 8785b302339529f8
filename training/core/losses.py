"""The losses of the papers and the common baseline.

Categories: squared error weighted per category by 1/ln(count + 1.2), count being
the positives of that category in the batch (Tandon-A/emotic ``DiscreteLoss``,
"dynamic"). A category with no positive in the batch would get 1/ln(1.2) = 5.5,
the largest weight of all, for pushing an absent category to zero; the baseline
gives it 0.0001 instead and so do we (``zero_count_weight``). The TPAMI paper
writes the weight as 1/ln(c + p_i) with p_i the category's probability; the
baseline's batch counts are what published PyTorch numbers were trained with.

VAD: Smooth L1, or L2 with a margin (no loss while |error| < margin), both on the
1-10 scale (network outputs and targets multiplied by ``VAD_SCALE``), so the
margin is in VAD points. The baseline sums over the batch; we sum over
categories (or VAD dimensions) and average over the batch, so the learning rate
does not depend on the batch size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from emotic.errors import FieldError
from training.core.data import VAD_SCALE

DYNAMIC_WEIGHT_OFFSET = 1.2


def dynamic_category_weights(
    targets: torch.Tensor, zero_count_weight: float = 1e-4, counts: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-category weights (26,) from the positives of each category in this batch.

    ``counts`` gives those positives when ``targets`` is only part of the batch
    (one training process's share): the weights must be the whole batch's.
    """
    counts = targets.sum(dim=0) if counts is None else counts
    weights = 1.0 / torch.log(counts + DYNAMIC_WEIGHT_OFFSET)
    return torch.where(counts > 0, weights, torch.full_like(weights, zero_count_weight))


def weighted_category_loss(
    scores: torch.Tensor, targets: torch.Tensor, zero_count_weight: float = 1e-4, counts: torch.Tensor | None = None
) -> torch.Tensor:
    weights = dynamic_category_weights(targets, zero_count_weight, counts)
    return (((scores - targets) ** 2) * weights).sum(dim=1).mean()


def smooth_l1_vad_loss(predicted: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Smooth L1 on the 1-10 scale: 0.5 e^2 / margin below the margin, |e| - margin / 2 above."""
    if margin == 0:
        elementwise = (predicted - targets).abs() * VAD_SCALE
    else:
        elementwise = F.smooth_l1_loss(predicted * VAD_SCALE, targets * VAD_SCALE, beta=margin, reduction="none")
    return elementwise.sum(dim=1).mean()


def margin_l2_vad_loss(predicted: torch.Tensor, targets: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Squared error on the 1-10 scale, zero where |error| < margin."""
    error = (predicted - targets) * VAD_SCALE
    squared = error**2
    return torch.where(error.abs() < margin, torch.zeros_like(squared), squared).sum(dim=1).mean()


VAD_LOSS_FUNCTIONS = {"smooth_l1": smooth_l1_vad_loss, "margin_l2": margin_l2_vad_loss}


@dataclass(frozen=True)
class LossParts:
    total: torch.Tensor
    categories: torch.Tensor
    vad: torch.Tensor


@dataclass(frozen=True)
class EmoticLoss:
    """(1 - vad_weight) * category loss + vad_weight * VAD loss."""

    vad_loss: str = "smooth_l1"
    vad_margin: float = 1.0
    vad_weight: float = 0.5
    zero_count_weight: float = 1e-4

    def __post_init__(self) -> None:
        if self.vad_loss not in VAD_LOSS_FUNCTIONS:
            raise FieldError("vad_loss", f"must be one of {', '.join(VAD_LOSS_FUNCTIONS)}, got {self.vad_loss!r}")
        if not 0.0 <= self.vad_weight <= 1.0 or math.isnan(self.vad_weight):
            raise FieldError("vad_loss_weight", f"must lie in [0, 1], got {self.vad_weight}")

    def __call__(
        self,
        scores: torch.Tensor,
        vad: torch.Tensor,
        category_targets: torch.Tensor,
        vad_targets: torch.Tensor,
        category_counts: torch.Tensor | None = None,
    ) -> LossParts:
        """``category_counts``: the whole batch's positives per category, when the targets are a share of it."""
        # Computed in float32 even under autocast: squared errors overflow half precision easily.
        category_part = weighted_category_loss(
            scores.float(), category_targets.float(), self.zero_count_weight, category_counts
        )
        vad_part = VAD_LOSS_FUNCTIONS[self.vad_loss](vad.float(), vad_targets.float(), self.vad_margin)
        total = (1.0 - self.vad_weight) * category_part + self.vad_weight * vad_part
        return LossParts(total, category_part, vad_part)
