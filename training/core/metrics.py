"""The metrics of the papers, on numpy arrays (no model, no files).

- Average precision per category with scikit-learn's ``average_precision_score``.
- mAP: the mean over categories that have at least one positive in the split.
  A category without positives has no defined AP (scikit-learn warns and returns
  0); counting it as 0 would punish the model for the split, so it is left out
  and reported as null. The baseline averaged all 26, which on EMOTIC's test set
  is the same thing because every category has positives there.
- Mean absolute VAD error on the 1-10 scale, per dimension and averaged.
- Per-category decision thresholds where precision equals recall (the papers'
  operating point; the baseline computes them on validation and uses them at
  inference). Exact equality may not occur on a finite set (the baseline then
  falls back to 0), so the threshold is the lowest one where |precision - recall|
  is smallest, ignoring the trivial P = R = 0 points. A category with no
  positives gets +inf: it is never predicted.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve

from emotic.errors import FieldError
from emotic.taxonomy import NUM_CATEGORIES, VAD_DIMENSIONS


class MetricError(FieldError):
    """Inputs for which a metric is undefined; ``field`` says which, ``reason`` why."""


def _check_pair(labels: np.ndarray, scores: np.ndarray, width: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if labels.shape != scores.shape or labels.ndim != 2 or labels.shape[1] != width:
        raise MetricError(name, f"labels {labels.shape} and predictions {scores.shape} must both be (N, {width})")
    non_finite = int((~np.isfinite(scores)).sum())
    if non_finite:
        # A diverged model; scikit-learn would stop with a bare "Input contains NaN".
        raise MetricError(
            name, f"predictions hold {non_finite} NaN or infinite values; the model has diverged "
            "(try a lower learning_rate)"
        )
    return labels, scores


def average_precision_per_category(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """AP of each of the 26 categories; NaN where the category has no positive."""
    labels, scores = _check_pair(labels, scores, NUM_CATEGORIES, "categories")
    result = np.full(NUM_CATEGORIES, np.nan)
    for index in range(NUM_CATEGORIES):
        if labels[:, index].sum() > 0:
            result[index] = average_precision_score(labels[:, index], scores[:, index])
    return result


def mean_average_precision(average_precisions: np.ndarray) -> float:
    defined = np.asarray(average_precisions, dtype=np.float64)
    defined = defined[~np.isnan(defined)]
    if defined.size == 0:
        raise MetricError("categories", "no category has a positive label, so mAP is undefined")
    return float(defined.mean())


def vad_mean_absolute_error(labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """Mean |error| per dimension (valence, arousal, dominance), both on the 1-10 scale."""
    labels, predictions = _check_pair(labels, predictions, len(VAD_DIMENSIONS), "vad")
    return np.abs(predictions - labels).mean(axis=0)


def thresholds_where_precision_equals_recall(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    labels, scores = _check_pair(labels, scores, NUM_CATEGORIES, "categories")
    thresholds = np.full(NUM_CATEGORIES, np.inf)
    for index in range(NUM_CATEGORIES):
        if labels[:, index].sum() == 0:
            continue
        precision, recall, candidate = precision_recall_curve(labels[:, index], scores[:, index])
        thresholds[index] = candidate[precision_equals_recall_index(precision, recall)]
    return thresholds


def precision_equals_recall_index(precision: np.ndarray, recall: np.ndarray) -> int:
    """Index into ``precision_recall_curve``'s thresholds of the point where P and R are closest.

    Points with recall 0 are skipped: there P = R = 0 holds trivially and says
    nothing (it happens whenever the top score is a negative). The last pair
    (1, 0) has no threshold. Ties go to the lowest threshold, as the baseline's
    first exact match does.
    """
    gap = np.abs(precision[:-1] - recall[:-1])
    gap[recall[:-1] == 0] = np.inf
    return int(np.argmin(gap))
