"""Reads of the quality service: which answers count, and the rows each figure is computed from.

``counted_annotations`` is the one definition of the answers that count, for
agreement figures and combined labels here and for snapshots
(``emotic_export.selectors``): not rejected, not excluded, not an answer to a
gold item, by a worker who is not blocked, about a person whose box is final.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet

from annotator.protocol import protocol_in_force
from annotator.models import AnnotationStatus, BoxAnnotation, EmotionAnnotation, Person, TaskAssignment, Worker
from catalog.models import Image
from quality.arrays import AnswerRows, PeopleArrays, build_people_arrays
from quality.models import PersonAgreement, QualityReport, WorkerTrustEvent

State = TaskAssignment.State
COUNTED_STATUSES = (AnnotationStatus.SUBMITTED, AnnotationStatus.ACCEPTED)
ANSWER_COLUMNS = (
    "id", "person_id", "worker_id", "categories_mask", "valence", "arousal", "dominance", "gender", "age",
    "person__image__split",
)


def counted_annotations(*, accepted_only: bool = False) -> QuerySet[EmotionAnnotation]:
    """The answers agreement and combined labels are computed over, and exports read.

    ``accepted_only``: only answers an admin accepted (a snapshot that requires review).
    """
    return EmotionAnnotation.objects.filter(
        status__in=[AnnotationStatus.ACCEPTED] if accepted_only else COUNTED_STATUSES,
        excluded=False,
        is_gold=False,
        worker__is_blocked=False,
        person__box_status=Person.BoxStatus.FINAL,
    )


def answer_rows(annotations: QuerySet[EmotionAnnotation]) -> AnswerRows:
    """The answers' columns, in submission order within each person."""
    ordered = annotations.order_by("person_id", "created_at", "id")
    return AnswerRows.from_values(list(ordered.values_list(*ANSWER_COLUMNS)))


def counted_people_arrays(person_ids: Iterable[int] | QuerySet | None = None) -> PeopleArrays:
    """Arrays of the counted answers of ``person_ids`` (ids or a query of them; everyone if None)."""
    annotations = counted_annotations()
    if person_ids is not None:
        ids = person_ids if isinstance(person_ids, QuerySet) else list(person_ids)
        annotations = annotations.filter(person_id__in=ids)
    return build_people_arrays(answer_rows(annotations))


def people_annotated_by(worker_ids: Iterable[int]) -> QuerySet:
    return counted_annotations().filter(worker_id__in=list(worker_ids)).values_list("person_id", flat=True)


# ---------------------------------------------------------------- worker task rows


def trust_reset_times(worker_ids: Iterable[int] | None = None) -> dict[int, datetime]:
    """When an admin last unblocked each worker: older gold answers no longer count against them."""
    events = WorkerTrustEvent.objects.filter(kind=WorkerTrustEvent.Kind.UNBLOCKED)
    if worker_ids is not None:
        events = events.filter(worker_id__in=list(worker_ids))
    return dict(events.values("worker_id").annotate(last=Max("created_at")).values_list("worker_id", "last"))


def control_answers(worker_ids: Iterable[int] | None = None) -> QuerySet[TaskAssignment]:
    """Answers to hidden control items (qualification answers are judged separately).

    With the protocol's ``skipped_control_fails`` (the default), a control skipped or
    reported counts as a failed answer: otherwise a worker who recognises a
    control could give it back at no cost. (Those given back before this rule
    carry no result and are left out; an expired one is left out too: letting
    a task expire holds the worker's only task for the whole timeout.)
    """
    states = [State.SUBMITTED]
    if protocol_in_force().skipped_control_fails:
        states += [State.SKIPPED, State.REPORTED]
    answers = TaskAssignment.objects.filter(
        gold_item__isnull=False, is_qualification=False, state__in=states, gold_passed__isnull=False
    )
    if worker_ids is not None:
        answers = answers.filter(worker_id__in=list(worker_ids))
    return answers


@dataclass(frozen=True)
class GoldRows:
    worker_id: np.ndarray  # (N,)
    passed: np.ndarray  # (N,) bool
    finished_at: np.ndarray  # (N,) float seconds since the epoch
    since_reset: np.ndarray  # (N,) bool: after the worker's last unblock


def gold_rows(worker_ids: Iterable[int] | None = None) -> GoldRows:
    ids = None if worker_ids is None else list(worker_ids)
    values = list(control_answers(ids).order_by("worker_id", "finished_at", "id").values_list(
        "worker_id", "gold_passed", "finished_at"
    ))
    resets = trust_reset_times(ids)
    if not values:
        empty = np.zeros(0)
        return GoldRows(empty.astype(np.int64), empty.astype(bool), empty, empty.astype(bool))
    workers, passed, finished = zip(*values)
    since = [resets.get(w) is None or at > resets[w] for w, at in zip(workers, finished)]
    return GoldRows(
        np.array(workers, dtype=np.int64),
        np.array(passed, dtype=bool),
        np.array([at.timestamp() for at in finished]),
        np.array(since, dtype=bool),
    )


def seconds_rows(worker_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(worker ids, seconds) of every answered task, emotions and boxes, gold included (workers cannot tell)."""
    columns = []
    for model in (EmotionAnnotation, BoxAnnotation):
        rows = model.objects.all() if worker_ids is None else model.objects.filter(worker_id__in=list(worker_ids))
        columns.extend(rows.values_list("worker_id", "seconds_spent"))
    if not columns:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    workers, seconds = zip(*columns)
    return np.array(workers, dtype=np.int64), np.array(seconds, dtype=float)


def finished_task_rows(worker_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(worker ids, skipped?) of tasks a worker answered or skipped; reports judge the image, not the task."""
    tasks = TaskAssignment.objects.filter(is_qualification=False, state__in=[State.SUBMITTED, State.SKIPPED])
    if worker_ids is not None:
        tasks = tasks.filter(worker_id__in=list(worker_ids))
    values = list(tasks.values_list("worker_id", "state"))
    if not values:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    workers, states = zip(*values)
    return np.array(workers, dtype=np.int64), np.array(states) == State.SKIPPED


# ---------------------------------------------------------------- review filters


def flagged_workers() -> QuerySet[Worker]:
    """Workers an admin should look at: blocked, under the gold threshold, or far from the consensus."""
    return Worker.objects.filter(
        Q(is_blocked=True)
        | Q(gold_accuracy__lt=protocol_in_force().trust_min_accuracy)
        | Q(consensus_agreement__lt=settings.QUALITY_LOW_CONSENSUS)
    )


def low_agreement_people() -> QuerySet[Person]:
    return Person.objects.filter(
        agreement__annotators__gte=2, agreement__fleiss_kappa__lt=settings.QUALITY_LOW_AGREEMENT_KAPPA
    )


def images_with_low_agreement(images: QuerySet[Image]) -> QuerySet[Image]:
    return images.filter(Exists(low_agreement_people().filter(image=OuterRef("pk"))))


def images_with_flagged_workers(images: QuerySet[Image]) -> QuerySet[Image]:
    flagged = EmotionAnnotation.objects.filter(person__image=OuterRef("pk"), worker__in=flagged_workers())
    return images.filter(Exists(flagged))


def reported_images(images: QuerySet[Image]) -> QuerySet[Image]:
    return images.filter(reported_count__gt=0)


def latest_report() -> QualityReport | None:
    return QualityReport.objects.order_by("-created_at", "-id").first()


def person_agreements(split: str | None = None) -> QuerySet[PersonAgreement]:
    """Stored per-person figures, of one split ("" for unassigned) or all."""
    rows = PersonAgreement.objects.select_related("person__image").order_by("person_id")
    return rows if split is None else rows.filter(person__image__split=split)


def worker_rows_for_export() -> QuerySet[Worker]:
    return Worker.objects.select_related("user").order_by("id").annotate(username=F("user__username"))
