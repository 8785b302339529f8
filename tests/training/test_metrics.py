"""Metrics against direct computations and hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.core.metrics import (
    MetricError,
    average_precision_per_category,
    mean_average_precision,
    thresholds_where_precision_equals_recall,
    vad_mean_absolute_error,
)


def _direct_average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mean, over the positives, of the precision among items ranked at or above each one (no ties)."""
    order = np.argsort(-scores)
    ranked = labels[order]
    hits = np.cumsum(ranked)
    return float(np.mean([hits[rank] / (rank + 1) for rank in np.flatnonzero(ranked)]))


def test_average_precision_matches_direct_computation():
    rng = np.random.default_rng(7)
    labels = (rng.random((40, 26)) < 0.3).astype(int)
    labels[0] = 1  # every category has a positive
    scores = rng.permutation(40 * 26).reshape(40, 26) / 1000.0  # distinct scores: no ties
    computed = average_precision_per_category(labels, scores)
    for index in range(26):
        assert computed[index] == pytest.approx(_direct_average_precision(labels[:, index], scores[:, index]))
    assert mean_average_precision(computed) == pytest.approx(computed.mean())


def test_hand_made_average_precision():
    labels = np.zeros((4, 26), dtype=int)
    scores = np.zeros((4, 26))
    labels[:, 0] = [1, 0, 1, 0]
    scores[:, 0] = [0.9, 0.8, 0.7, 0.1]
    labels[:, 1] = [0, 0, 1, 1]
    scores[:, 1] = [0.9, 0.8, 0.7, 0.1]
    ap = average_precision_per_category(labels, scores)
    assert ap[0] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert ap[1] == pytest.approx((1 / 3 + 2 / 4) / 2)
    # Categories 2-25 have no positive: undefined, and left out of the mean.
    assert np.isnan(ap[2:]).all()
    assert mean_average_precision(ap) == pytest.approx((ap[0] + ap[1]) / 2)


def test_map_without_any_positive_is_an_error():
    with pytest.raises(MetricError, match="no category has a positive"):
        mean_average_precision(average_precision_per_category(np.zeros((3, 26)), np.random.rand(3, 26)))


def test_threshold_where_precision_equals_recall():
    labels = np.zeros((4, 26), dtype=int)
    scores = np.tile(np.array([[0.9], [0.8], [0.7], [0.1]]), (1, 26))
    labels[:, 0] = [1, 0, 1, 0]
    # At 0.8: predicted {0.9, 0.8}, one of two right: precision 1/2 = recall 1/2.
    labels[:, 1] = [0, 1, 1, 1]
    # At 0.7: predicted {0.9, 0.8, 0.7}, two of three right: precision 2/3 = recall 2/3.
    labels[:, 2] = [1, 1, 0, 0]
    # At 0.8: precision 1 = recall 1.
    thresholds = thresholds_where_precision_equals_recall(labels, scores)
    assert thresholds[0] == pytest.approx(0.8)
    assert thresholds[1] == pytest.approx(0.7)
    assert thresholds[2] == pytest.approx(0.8)
    assert all(math.isinf(t) for t in thresholds[3:])


def test_threshold_without_exact_equality_takes_the_closest_point():
    labels = np.zeros((3, 26), dtype=int)
    labels[:, 0] = [1, 0, 1]
    scores = np.zeros((3, 26))
    scores[:, 0] = [0.9, 0.5, 0.2]
    # Thresholds 0.2: P 2/3 R 1 (gap 1/3); 0.5: P 1/2 R 1/2 (gap 0); 0.9: P 1 R 1/2.
    assert thresholds_where_precision_equals_recall(labels, scores)[0] == pytest.approx(0.5)
    scores[:, 0] = [0.9, 0.2, 0.5]
    # 0.2: P 2/3 R 1 (1/3); 0.5: P 1 R 1 (0); 0.9: P 1 R 1/2.
    assert thresholds_where_precision_equals_recall(labels, scores)[0] == pytest.approx(0.5)
    labels[:, 0] = [1, 1, 0]
    scores[:, 0] = [0.9, 0.1, 0.5]
    # 0.1: P 2/3 R 1 (1/3); 0.5: P 1/2 R 1/2 (0)
    assert thresholds_where_precision_equals_recall(labels, scores)[0] == pytest.approx(0.5)
    labels[:, 0] = [1, 1, 1]
    scores[:, 0] = [0.9, 0.6, 0.5]
    # All positive: 0.5: P 1 R 1 (0).
    assert thresholds_where_precision_equals_recall(labels, scores)[0] == pytest.approx(0.5)
    labels[:, 0] = [1, 0, 0]
    scores[:, 0] = [0.2, 0.9, 0.5]
    # 0.2: P 1/3 R 1 (gap 2/3); 0.5 and 0.9: P = R = 0, trivially equal and skipped.
    assert thresholds_where_precision_equals_recall(labels, scores)[0] == pytest.approx(0.2)


def test_vad_mean_absolute_error_by_hand():
    labels = np.array([[5.0, 5.0, 5.0], [1.0, 10.0, 6.0]])
    predictions = np.array([[6.0, 5.0, 3.0], [2.0, 7.0, 6.0]])
    assert np.allclose(vad_mean_absolute_error(labels, predictions), [1.0, 1.5, 1.0])


def test_shape_mismatch_is_named():
    with pytest.raises(MetricError, match="vad: labels"):
        vad_mean_absolute_error(np.zeros((2, 3)), np.zeros((3, 3)))
