"""Per-worker quality figures: gold accuracy, agreement with the others, speed, skips.

Two input forms:

- Task lists (gold answers, finished assignments): flat arrays of equal
  length, one entry per task, with ``worker_index`` saying whose task it is.
  ``index_workers`` turns any worker ids into such indices.
- People x slots arrays (``emotic.annotation_arrays``) for agreement with
  the leave-one-out consensus: each answer is compared with the *other*
  annotators of the same person, so a worker is never compared with a
  consensus that includes their own answer.

Every per-worker result is an array of length n_workers, NaN for a worker
with nothing to measure.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from emotic.annotation_arrays import (
    AnnotationArrayError,
    as_bool,
    as_choices,
    as_codes,
    as_vad,
    as_worker_index,
    count_workers,
)


def index_workers(worker_ids: Sequence[Hashable]) -> tuple[tuple[Hashable, ...], np.ndarray]:
    """Distinct workers in first-seen order, and each task's index into them."""
    order: dict[Hashable, int] = {}
    index = np.array([order.setdefault(worker, len(order)) for worker in worker_ids], dtype=np.int64)
    return tuple(order), index


@dataclass(frozen=True)
class WorkerRate:
    """A share per worker (NaN where the worker has no task) and the tasks it is over."""

    rate: np.ndarray
    count: np.ndarray


def gold_accuracy(worker_index: object, passed: object, n_workers: int | None = None) -> WorkerRate:
    """Share of each worker's gold answers that passed (see ``emotic.gold``)."""
    index, passed_arr = _task_arrays(worker_index, passed, "passed")
    return _rate(index, as_bool(passed_arr, "passed"), count_workers(index, n_workers))


def skipped_share(worker_index: object, skipped: object, n_workers: int | None = None) -> WorkerRate:
    """Share of each worker's finished tasks that were skipped.

    Pass one entry per finished task (submitted or skipped); tasks still
    open or expired say nothing about the worker's choices and are left out
    by the caller.
    """
    index, skipped_arr = _task_arrays(worker_index, skipped, "skipped")
    return _rate(index, as_bool(skipped_arr, "skipped"), count_workers(index, n_workers))


def median_seconds(worker_index: object, seconds: object, n_workers: int | None = None) -> np.ndarray:
    """Median seconds per task for each worker; the median resists the odd task left open over lunch."""
    index, seconds_arr = _task_arrays(worker_index, seconds, "seconds")
    seconds_arr = seconds_arr.astype(float)
    if not np.isfinite(seconds_arr).all() or (seconds_arr < 0).any():
        raise AnnotationArrayError("seconds", "must be finite and not negative")
    n_workers = count_workers(index, n_workers)
    order = np.lexsort((seconds_arr, index))  # by worker, then by time
    ordered = seconds_arr[order]
    counts = np.bincount(index, minlength=n_workers)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    has_tasks = counts > 0
    low = starts + np.maximum(counts - 1, 0) // 2
    high = starts + counts // 2
    medians = np.full(n_workers, np.nan)
    medians[has_tasks] = (ordered[low[has_tasks]] + ordered[high[has_tasks]]) / 2
    return medians


@dataclass(frozen=True)
class LeaveOneOutAgreement:
    """Each answer against the other annotators of the same person.

    Per answer (P, A), NaN where the slot is empty or no other annotator
    exists: ``jaccard_union`` (own category set vs the union of the others'),
    ``jaccard_majority`` (vs the categories more than half of the others
    chose), ``vad_abs_diff`` (P, A, 3: |own - mean of the others|).
    Per worker: the means of those over the worker's answers, and
    ``answers_compared``, the answers that had at least one other annotator.
    """

    jaccard_union: np.ndarray
    jaccard_majority: np.ndarray
    vad_abs_diff: np.ndarray
    worker_jaccard_union: np.ndarray
    worker_jaccard_majority: np.ndarray
    worker_vad_abs_diff: np.ndarray
    answers_compared: np.ndarray


def leave_one_out_agreement(
    choices: object, vad: object, worker_index: object, n_workers: int | None = None
) -> LeaveOneOutAgreement:
    """Agreement of each worker with the leave-one-out consensus of the others.

    A slot holds an answer where ``worker_index >= 0``. Jaccard = |A & B| /
    |A | B|, NaN when both sets are empty (nothing to compare; cannot happen
    for real answers, which choose at least one category). The others'
    majority is strict: chosen by more than half of them, so with two other
    annotators both must agree.
    """
    index = as_worker_index(worker_index, choices)
    present = index >= 0
    choices_arr, _ = as_choices(choices, present)
    vad_arr = as_vad(vad)
    if vad_arr.shape[:2] != present.shape:
        raise AnnotationArrayError(
            "vad", f"expected shape {present.shape + (3,)} to match worker_index, got {vad_arr.shape}"
        )
    n_workers = count_workers(index, n_workers)

    others = present.sum(axis=1, keepdims=True) - 1  # (P, A): other annotators of the same person
    compared = present & (others >= 1)
    others_chosen = choices_arr.sum(axis=1, keepdims=True) - choices_arr  # (P, A, C)
    jaccard_union = _jaccard(choices_arr, others_chosen > 0, compared)
    jaccard_majority = _jaccard(choices_arr, others_chosen > others[:, :, None] / 2, compared)

    vad_given = ~np.isnan(vad_arr) & present[:, :, None]
    vad_filled = np.where(vad_given, vad_arr, 0.0)
    others_vad_n = vad_given.sum(axis=1, keepdims=True) - vad_given
    others_vad_sum = vad_filled.sum(axis=1, keepdims=True) - vad_filled
    vad_compared = vad_given & (others_vad_n > 0)
    others_mean = np.divide(others_vad_sum, others_vad_n, out=np.zeros(vad_arr.shape), where=vad_compared)
    vad_abs_diff = np.where(vad_compared, np.abs(vad_filled - others_mean), np.nan)

    return LeaveOneOutAgreement(
        jaccard_union=jaccard_union,
        jaccard_majority=jaccard_majority,
        vad_abs_diff=vad_abs_diff,
        worker_jaccard_union=_worker_mean(index, jaccard_union, n_workers),
        worker_jaccard_majority=_worker_mean(index, jaccard_majority, n_workers),
        worker_vad_abs_diff=np.stack(
            [_worker_mean(index, vad_abs_diff[:, :, d], n_workers) for d in range(vad_arr.shape[2])], axis=1
        ),
        answers_compared=np.bincount(index[compared], minlength=n_workers),
    )


def _jaccard(own: np.ndarray, reference: np.ndarray, compared: np.ndarray) -> np.ndarray:
    intersection = (own & reference).sum(axis=-1)
    union = (own | reference).sum(axis=-1)
    defined = compared & (union > 0)
    return np.divide(intersection, union, out=np.full(union.shape, np.nan), where=defined)


def _worker_mean(index: np.ndarray, values: np.ndarray, n_workers: int) -> np.ndarray:
    """Mean of the defined values per worker (values and index share a shape)."""
    defined = ~np.isnan(values) & (index >= 0)
    totals = np.bincount(index[defined], weights=values[defined], minlength=n_workers)
    counts = np.bincount(index[defined], minlength=n_workers)
    return np.divide(totals, counts, out=np.full(n_workers, np.nan), where=counts > 0)


def _task_arrays(worker_index: object, values: object, field: str) -> tuple[np.ndarray, np.ndarray]:
    index = np.asarray(worker_index)
    values_arr = np.asarray(values)
    if index.ndim != 1 or values_arr.shape != index.shape:
        raise AnnotationArrayError(
            field, f"expected one value per task, shape {index.shape} like worker_index, got {values_arr.shape}"
        )
    index = as_codes(index, np.iinfo(np.int64).max, "worker_index")
    if (index < 0).any():
        raise AnnotationArrayError("worker_index", "every task needs a worker (index >= 0)")
    return index, values_arr


def _rate(index: np.ndarray, flags: np.ndarray, n_workers: int) -> WorkerRate:
    counts = np.bincount(index, minlength=n_workers)
    hits = np.bincount(index, weights=flags.astype(float), minlength=n_workers)
    return WorkerRate(np.divide(hits, counts, out=np.full(n_workers, np.nan), where=counts > 0), counts)
