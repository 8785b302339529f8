"""Per-worker figures: gold accuracy, skips, speed, and agreement with the others."""

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from emotic.annotation_arrays import AnnotationArrayError
from emotic.worker_quality import (
    gold_accuracy,
    index_workers,
    leave_one_out_agreement,
    median_seconds,
    skipped_share,
)


def test_index_workers_keeps_first_seen_order():
    ids, index = index_workers(["bob", "ann", "bob", 7])
    assert ids == ("bob", "ann", 7)
    assert index.tolist() == [0, 1, 0, 2]


def test_gold_accuracy_and_skipped_share_per_worker():
    workers = np.array([0, 0, 0, 2, 2])
    accuracy = gold_accuracy(workers, [True, False, True, False, False], n_workers=4)
    np.testing.assert_allclose(accuracy.rate, [2 / 3, np.nan, 0.0, np.nan])
    assert accuracy.count.tolist() == [3, 0, 2, 0]
    skipped = skipped_share(workers, np.array([0, 0, 1, 1, 1]))
    np.testing.assert_allclose(skipped.rate, [1 / 3, np.nan, 1.0])


def test_median_seconds_matches_numpy_per_worker():
    rng = np.random.default_rng(4)
    workers = rng.integers(0, 6, size=80)
    seconds = rng.exponential(30, size=80)
    result = median_seconds(workers, seconds, n_workers=8)
    for w in range(8):
        mine = seconds[workers == w]
        if mine.size:
            assert result[w] == pytest.approx(np.median(mine))
        else:
            assert np.isnan(result[w])


def test_median_seconds_even_and_odd_counts_by_hand():
    np.testing.assert_allclose(median_seconds([1, 0, 1, 0, 0], [10, 5, 30, 1, 100]), [5, 20])


@pytest.mark.parametrize(
    "call, field",
    [
        (lambda: gold_accuracy([0, 1], [True]), "passed"),
        (lambda: gold_accuracy([0, -1], [True, False]), "worker_index"),
        (lambda: gold_accuracy([0, 1], ["yes", "no"]), "passed"),
        (lambda: median_seconds([0], [-3.0]), "seconds"),
        (lambda: skipped_share([0, 5], [True, False], n_workers=3), "n_workers"),
    ],
)
def test_task_inputs_are_validated(call, field):
    with pytest.raises(AnnotationArrayError, match=field):
        call()


def random_annotations(seed, people=30, slots=4, workers=8):
    rng = np.random.default_rng(seed)
    worker_index = np.stack([rng.choice(workers, slots, replace=False) for _ in range(people)])
    worker_index[rng.random((people, slots)) < 0.25] = -1
    choices = rng.random((people, slots, 26)) < 0.15
    vad = rng.integers(1, 11, size=(people, slots, 3)).astype(float)
    vad[worker_index < 0] = np.nan
    return choices, vad, worker_index


def test_jaccard_per_answer_matches_sklearn_against_the_others():
    choices, vad, worker_index = random_annotations(1)
    result = leave_one_out_agreement(choices, vad, worker_index)
    present = worker_index >= 0
    for p in range(choices.shape[0]):
        for a in range(choices.shape[1]):
            others = present[p] & (np.arange(choices.shape[1]) != a)
            if not present[p, a] or not others.any():
                assert np.isnan(result.jaccard_union[p, a]) and np.isnan(result.jaccard_majority[p, a])
                continue
            union = choices[p, others].any(axis=0)
            majority = choices[p, others].sum(axis=0) > others.sum() / 2
            own = choices[p, a]
            for got, reference in ((result.jaccard_union[p, a], union), (result.jaccard_majority[p, a], majority)):
                if (own | reference).any():
                    assert got == pytest.approx(jaccard_score(reference, own))
                else:
                    assert np.isnan(got)


def test_vad_difference_from_the_others_mean_and_worker_means():
    choices, vad, worker_index = random_annotations(2)
    result = leave_one_out_agreement(choices, vad, worker_index, n_workers=10)
    present = worker_index >= 0
    per_answer = {}
    for p, a in zip(*np.nonzero(present)):
        others = present[p] & (np.arange(vad.shape[1]) != a)
        if others.any():
            expected = np.abs(vad[p, a] - vad[p, others].mean(axis=0))
            np.testing.assert_allclose(result.vad_abs_diff[p, a], expected)
            per_answer.setdefault(worker_index[p, a], []).append((expected, result.jaccard_union[p, a]))
    for w in range(10):
        if w not in per_answer:
            assert np.isnan(result.worker_vad_abs_diff[w]).all() and result.answers_compared[w] == 0
            continue
        diffs, jaccards = zip(*per_answer[w])
        np.testing.assert_allclose(result.worker_vad_abs_diff[w], np.mean(diffs, axis=0))
        assert result.worker_jaccard_union[w] == pytest.approx(np.nanmean(jaccards))
        assert result.answers_compared[w] == len(diffs)


def test_leave_one_out_hand_case():
    # One person, three workers: 0 and 1 agree on {Happiness}; 2 chose {Anger, Happiness}.
    choices = np.zeros((1, 3, 26), bool)
    choices[0, :, 16] = True
    choices[0, 2, 1] = True
    vad = np.array([[[8, 5, 6], [8, 5, 6], [2, 5, 6]]], float)
    result = leave_one_out_agreement(choices, vad, np.array([[0, 1, 2]]))
    np.testing.assert_allclose(result.jaccard_union[0], [1 / 2, 1 / 2, 1 / 2])
    # Majority of two others needs both: for 0 it is {Happiness} (1 and 2 agree on it).
    np.testing.assert_allclose(result.jaccard_majority[0], [1, 1, 1 / 2])
    np.testing.assert_allclose(result.vad_abs_diff[0, :, 0], [3, 3, 6])
    np.testing.assert_allclose(result.worker_vad_abs_diff[:, 1:], 0)


def test_a_lone_annotator_has_nothing_to_compare_with():
    choices = np.ones((1, 2, 26), bool)
    vad = np.array([[[5, 5, 5], [np.nan] * 3]])
    result = leave_one_out_agreement(choices, vad, np.array([[0, -1]]))
    assert np.isnan(result.jaccard_union).all() and np.isnan(result.worker_vad_abs_diff).all()
    assert result.answers_compared.tolist() == [0]


def test_leave_one_out_shapes_are_checked():
    with pytest.raises(AnnotationArrayError, match="vad"):
        leave_one_out_agreement(np.zeros((2, 3, 26), bool), np.full((2, 2, 3), 5.0), np.zeros((2, 3), int))
    with pytest.raises(AnnotationArrayError, match="worker_index"):
        leave_one_out_agreement(np.zeros((2, 3, 26), bool), np.full((2, 3, 3), 5.0), np.full((2, 3), -2))
    with pytest.raises(AnnotationArrayError, match="worker_index"):
        leave_one_out_agreement(np.zeros((2, 3, 26), bool), np.full((2, 3, 3), 5.0), np.zeros((2, 2), int))
