"""Per-worker figures from the database rows, computed by ``emotic.worker_quality``.

- gold accuracy over the *window* (the last ``QUALITY_GOLD_WINDOW`` control
  answers since an admin last unblocked the worker): what trust is decided
  on, stored as ``Worker.gold_accuracy`` over ``Worker.gold_answered`` answers;
  all-time gold accuracy is shown beside it;
- agreement with the leave-one-out consensus of the other counted annotators
  of the same people (Jaccard with the others' strict majority, stored as
  ``Worker.consensus_agreement``; with their union; VAD distance);
- median seconds per answered task, and the share of finished tasks skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from annotator.models import ProtocolVersion, Worker
from annotator.protocol import protocol_in_force
from quality import selectors
from quality.arrays import PeopleArrays
from emotic.worker_quality import gold_accuracy, leave_one_out_agreement, median_seconds, skipped_share


@dataclass(frozen=True)
class WorkerFigures:
    """Arrays over ``worker_ids``; NaN where a worker has nothing to measure."""

    worker_ids: np.ndarray
    gold_window_accuracy: np.ndarray
    gold_window_answers: np.ndarray
    gold_accuracy_all_time: np.ndarray
    gold_answers_all_time: np.ndarray
    consensus_majority: np.ndarray
    consensus_union: np.ndarray
    vad_abs_diff: np.ndarray  # (W, 3)
    answers_compared: np.ndarray
    median_seconds: np.ndarray
    skip_rate: np.ndarray

    def row(self, worker_id: int) -> dict:
        """One worker's figures by name (for a page)."""
        i = int(np.searchsorted(self.worker_ids, worker_id))
        if i >= len(self.worker_ids) or self.worker_ids[i] != worker_id:
            raise KeyError(f"worker_id: {worker_id} is not among these figures")
        return {name: getattr(self, name)[i] for name in self.__dataclass_fields__ if name != "worker_ids"}


def should_block(accuracy: float, answers: int, protocol: ProtocolVersion | None = None) -> bool:
    """The trust rule of the protocol in force: enough recent control answers, and too few of them right."""
    protocol = protocol or protocol_in_force()
    return (
        protocol.auto_block
        and answers >= protocol.trust_min_answers
        and not np.isnan(accuracy)
        and accuracy < protocol.trust_min_accuracy
    )


def _positions(worker_ids: np.ndarray, row_workers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each row's worker in ``worker_ids`` (sorted), and which rows belong to one of them."""
    index = np.searchsorted(worker_ids, row_workers)
    known = index < len(worker_ids)
    known[known] = worker_ids[index[known]] == row_workers[known]
    return np.where(known, index, 0), known


def last_in_window(index: np.ndarray, window: int) -> np.ndarray:
    """Rows (sorted by worker, then time) among each worker's last ``window``."""
    n = len(index)
    if n == 0:
        return np.zeros(0, dtype=bool)
    group_end = np.searchsorted(index, index, side="right")
    return group_end - 1 - np.arange(n) < window


def gold_figures(
    worker_ids: np.ndarray, only: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(window accuracy, window answers, all-time accuracy, all-time answers) per worker of ``worker_ids``.

    ``only``: read just these workers' rows (None: read every row, cheaper than a long IN list).
    """
    rows = selectors.gold_rows(only)
    index, known = _positions(worker_ids, rows.worker_id)
    n = len(worker_ids)
    all_time = gold_accuracy(index[known], rows.passed[known], n)
    recent = known & rows.since_reset
    # gold_rows are sorted by worker then time, so every subset keeps that order.
    in_window = np.zeros(len(index), dtype=bool)
    in_window[recent] = last_in_window(index[recent], protocol_in_force().trust_window)
    window = gold_accuracy(index[in_window], rows.passed[in_window], n)
    return window.rate, window.count, all_time.rate, all_time.count


def compute_worker_figures(
    worker_ids: Iterable[int] | None = None, people: PeopleArrays | None = None
) -> WorkerFigures:
    """Every figure for ``worker_ids`` (every worker if None).

    ``people`` must hold every counted answer of theirs; it is loaded if None.
    """
    everyone = worker_ids is None
    if everyone:
        worker_ids = Worker.objects.values_list("id", flat=True)
    ids = np.unique(np.asarray(list(worker_ids), dtype=np.int64))
    n = len(ids)
    only = None if everyone else ids.tolist()
    window_rate, window_count, all_rate, all_count = gold_figures(ids, only)

    if people is None:
        people = selectors.counted_people_arrays(None if everyone else selectors.people_annotated_by(only))
    arrays = people.arrays
    consensus = np.full(n, np.nan), np.full(n, np.nan), np.full((n, 3), np.nan), np.zeros(n, dtype=np.int64)
    if arrays.n_workers:
        loo = leave_one_out_agreement(arrays.choices, arrays.vad, arrays.worker_index, arrays.n_workers)
        index, known = _positions(ids, np.asarray(arrays.worker_ids, dtype=np.int64))
        for target, values in zip(consensus, (
            loo.worker_jaccard_majority, loo.worker_jaccard_union, loo.worker_vad_abs_diff, loo.answers_compared,
        )):
            target[index[known]] = values[known]

    seconds_workers, seconds = selectors.seconds_rows(only)
    index, known = _positions(ids, seconds_workers)
    speed = median_seconds(index[known], seconds[known], n)
    task_workers, skipped = selectors.finished_task_rows(only)
    index, known = _positions(ids, task_workers)
    skips = skipped_share(index[known], skipped[known], n)

    return WorkerFigures(
        worker_ids=ids,
        gold_window_accuracy=window_rate,
        gold_window_answers=window_count,
        gold_accuracy_all_time=all_rate,
        gold_answers_all_time=all_count,
        consensus_majority=consensus[0],
        consensus_union=consensus[1],
        vad_abs_diff=consensus[2],
        answers_compared=consensus[3],
        median_seconds=speed,
        skip_rate=skips.rate,
    )
