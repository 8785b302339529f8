"""Writes of the quality service: recompute and store the figures, review answers.

Two ways in, one set of functions:

- ``recompute_quality()``: every figure from scratch (the periodic Celery
  task; also the admin's "recompute now"). Order matters: workers' gold
  figures first and automatic blocks, so the agreement figures and combined
  labels that follow already leave the blocked workers' answers out.
- ``refresh_after_answer(worker_id, person_id)``: after one submission, the
  submitting worker's figures and trust, and the person's agreement.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotator.models import AnnotationStatus, EmotionAnnotation, Worker
from annotator.quality import selectors
from annotator.quality.arrays import PeopleArrays, masks_from_choices
from annotator.quality.figures import combined_labels, dataset_figures, defined_or_none, person_figures, subset_labels
from annotator.quality.models import PersonAgreement, QualityReport
from annotator.quality.trust import QualityError, apply_automatic_blocks
from annotator.quality.worker_figures import WorkerFigures, compute_worker_figures, gold_figures
from emotic.taxonomy import SPLITS

logger = logging.getLogger(__name__)
BATCH = 2000
REPORT_SCOPES = ("all", *SPLITS, "unassigned")
PERSON_FIGURES = (
    "annotators", "fleiss_kappa", "valence_std", "arousal_std", "dominance_std", "union_mask", "majority_mask",
    "dawid_skene_mask",
)
WORKER_FIGURES = ("gold_accuracy", "gold_answered", "median_seconds_per_task", "skip_rate", "consensus_agreement")


def _changed(stored_rows: Iterable[tuple], computed: dict[int, tuple]) -> list[int]:
    """Primary keys whose computed figures differ from the stored ones (or that have none stored).

    Writing only those keeps a steady-state run cheap: most figures do not move between runs.
    """
    stored = {row[0]: tuple(row[1:]) for row in stored_rows}
    return [pk for pk, values in computed.items() if stored.get(pk) != values]


# ---------------------------------------------------------------- people


def store_person_figures(
    people: PeopleArrays, dawid_skene_masks: np.ndarray | None = None, labels: dict | None = None
) -> int:
    """Upsert ``PersonAgreement`` for the people in ``people`` whose figures changed; returns how many.

    Dawid-Skene is NULL when not given; ``labels`` (union and majority) are reused when given.
    """
    figures = person_figures(people, labels)
    columns = [
        figures.annotators.tolist(),
        *([defined_or_none(v) for v in values] for values in (figures.fleiss_kappa, *figures.vad_std.T)),
        figures.union_mask.tolist(),
        figures.majority_mask.tolist(),
        [None] * len(people.person_ids) if dawid_skene_masks is None else np.asarray(dawid_skene_masks).tolist(),
    ]
    computed = dict(zip(people.person_ids.tolist(), zip(*columns)))
    stored = PersonAgreement.objects.filter(person_id__in=list(computed)).values_list("person_id", *PERSON_FIGURES)
    now = timezone.now()
    rows = [
        PersonAgreement(person_id=pk, computed_at=now, **dict(zip(PERSON_FIGURES, computed[pk])))
        for pk in _changed(stored.iterator(chunk_size=BATCH), computed)
    ]
    PersonAgreement.objects.bulk_create(
        rows, batch_size=BATCH, update_conflicts=True, unique_fields=["person"],
        update_fields=[*PERSON_FIGURES, "computed_at"],
    )
    return len(rows)


def refresh_people(person_ids: Iterable[int]) -> None:
    """Recompute the stored figures of these people from their counted answers (the incremental path)."""
    person_ids = sorted(set(person_ids))
    if not person_ids:
        return
    people = selectors.counted_people_arrays(person_ids)
    with transaction.atomic():
        PersonAgreement.objects.filter(person_id__in=person_ids).exclude(person_id__in=people.person_ids.tolist()).delete()
        # Dawid-Skene labels of people whose answers changed are stale until the next full run.
        PersonAgreement.objects.filter(person_id__in=person_ids).update(dawid_skene_mask=None)
        store_person_figures(people)


# ---------------------------------------------------------------- workers


def store_worker_figures(figures: WorkerFigures) -> int:
    """Write the figures onto the rows of the workers whose figures changed; returns how many.

    A blocked worker has no counted answers, so no consensus to measure:
    their ``consensus_agreement`` keeps the value it had when they were blocked.
    """
    stored = {row[0]: row for row in Worker.objects.filter(pk__in=figures.worker_ids.tolist()).values_list(
        "pk", *WORKER_FIGURES, "is_blocked"
    )}
    computed = {}
    for i, worker_id in enumerate(figures.worker_ids.tolist()):
        if worker_id not in stored:
            continue  # deleted meanwhile
        consensus = defined_or_none(figures.consensus_majority[i])
        computed[worker_id] = (
            defined_or_none(figures.gold_window_accuracy[i]),
            int(figures.gold_window_answers[i]),
            defined_or_none(figures.median_seconds[i]),
            defined_or_none(figures.skip_rate[i]),
            stored[worker_id][5] if stored[worker_id][6] else consensus,
        )
    changed = _changed((row[:6] for row in stored.values()), computed)
    workers = [Worker(pk=pk, **dict(zip(WORKER_FIGURES, computed[pk]))) for pk in changed]
    Worker.objects.bulk_update(workers, WORKER_FIGURES, batch_size=500)
    return len(workers)


def refresh_workers(worker_ids: Iterable[int] | None = None, *, apply_blocks: bool = True, people: PeopleArrays | None = None):
    """Recompute and store these workers' figures (all if None), then block those the trust rule condemns.

    Returns the trust events of the workers blocked now.
    """
    figures = compute_worker_figures(worker_ids, people)
    store_worker_figures(figures)
    if not apply_blocks:
        return []
    return apply_automatic_blocks(figures.worker_ids, figures.gold_window_accuracy, figures.gold_window_answers)


def refresh_after_answer(worker_id: int, person_id: int | None = None) -> None:
    """After a submission: the figures and trust of the worker and of the person's other annotators
    (their leave-one-out consensus now includes this answer), then the person's agreement."""
    worker_ids = {worker_id}
    if person_id is not None:
        # Not the accounts that hold imported answers (EMOTIC's originals, who can never log in): they
        # have answered nearly every imported person, so refreshing them is a full recomputation.
        others = selectors.counted_annotations().filter(person_id=person_id, worker__user__is_active=True)
        worker_ids |= set(others.values_list("worker_id", flat=True))
    refresh_workers(sorted(worker_ids))
    if person_id is not None:
        refresh_people([person_id])


# ---------------------------------------------------------------- everything


def scope_rows(people: PeopleArrays, scope: str) -> np.ndarray:
    if scope == "all":
        return np.ones(len(people.person_ids), dtype=bool)
    return people.split == ("" if scope == "unassigned" else scope)


def recompute_quality(trigger: str = QualityReport.Trigger.SCHEDULE) -> QualityReport:
    """Every figure from the database, stored: workers, automatic blocks, people, and a report."""
    if trigger not in QualityReport.Trigger.values:
        raise QualityError("trigger", f"must be one of {', '.join(QualityReport.Trigger.values)}, got {trigger!r}")
    started = time.perf_counter()
    # Gold figures and blocks first: a worker blocked now is already left out below.
    worker_ids = np.array(sorted(Worker.objects.values_list("pk", flat=True)), dtype=np.int64)
    window_accuracy, window_answers, _, _ = gold_figures(worker_ids)
    blocked = apply_automatic_blocks(worker_ids, window_accuracy, window_answers)

    people = selectors.counted_people_arrays()
    labels = combined_labels(people)
    with transaction.atomic():
        PersonAgreement.objects.exclude(person_id__in=selectors.counted_annotations().values("person_id")).delete()
        dawid_skene = masks_from_choices(labels["dawid_skene"].categories) if labels else None
        store_person_figures(people, dawid_skene, labels)
    refresh_workers(None, apply_blocks=False, people=people)

    figures = {}
    for scope in REPORT_SCOPES:
        rows = scope_rows(people, scope)
        if scope != "all" and not rows.any():
            continue
        figures[scope] = dataset_figures(
            people.subset(rows), {method: subset_labels(label, rows) for method, label in labels.items()}
        )
    report = QualityReport.objects.create(
        trigger=trigger, figures=figures, workers_blocked=len(blocked), seconds=time.perf_counter() - started
    )
    logger.info("quality recomputed in %.1f s: %d people, %d workers blocked", report.seconds, len(people.person_ids), len(blocked))
    return report


# ---------------------------------------------------------------- review


def review_annotations(annotation_ids: Iterable[int], status: str, by: AbstractBaseUser | None = None) -> int:
    """Accept or reject answers (or put them back to submitted); returns how many changed.

    Rejected answers leave the agreement figures, combined labels and exports.
    """
    if status not in AnnotationStatus.values:
        raise QualityError("status", f"must be one of {', '.join(AnnotationStatus.values)}, got {status!r}")
    try:
        ids = sorted({int(i) for i in annotation_ids})
    except (TypeError, ValueError):
        raise QualityError("annotation_ids", "must be whole numbers") from None
    with transaction.atomic():
        changing = EmotionAnnotation.objects.filter(pk__in=ids).exclude(status=status)
        person_ids = set(changing.values_list("person_id", flat=True))
        changed = changing.update(status=status)
        refresh_people(person_ids)
    if changed:
        logger.info("%s set %d answers to %s", by or "a service", changed, status)
    return changed
