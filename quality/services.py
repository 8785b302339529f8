"""Writes of the quality service: recompute and store the figures, review answers, queue the work.

Two ways in, one set of functions:

- ``recompute_quality()``: every figure from scratch (the periodic Celery
  task; also the admin's "recompute now", queued by ``queue_recompute``).
  The task runs it through ``run_recomputation``, which keeps one
  recomputation queued or running at a time (a ``Recomputation`` row).
  Order matters: workers' gold figures first and automatic blocks, so the
  agreement figures and combined labels that follow already leave the
  blocked workers' answers out.
- ``refresh_after_answers(worker_ids, person_ids)``: after submissions, the
  workers' figures and trust, and the people's agreement; asked for by
  ``queue_refresh_after_answer`` (an outbox row written with the answer) and
  run by ``drain_pending_refreshes`` (a periodic task, every
  QUALITY_REFRESH_SECONDS).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from annotator.models import AnnotationStatus, EmotionAnnotation, Worker
from annotator.services.review import set_answer_status
from emotic.taxonomy import SPLITS
from quality import selectors
from quality.arrays import PeopleArrays, masks_from_choices
from quality.errors import QualityError
from quality.figures import combined_labels, dataset_figures, subset_labels
from quality.models import PendingRefresh, PersonAgreement, QualityReport, Recomputation
from quality.stored_figures import refresh_people, refresh_worker_figures, store_person_figures
from quality.trust import apply_automatic_blocks
from quality.worker_figures import gold_figures

logger = logging.getLogger(__name__)
REPORT_SCOPES = ("all", *SPLITS, "unassigned")


# ---------------------------------------------------------------- background work


def queue_refresh_after_answer(worker_id: int, person_id: int | None, *, using: str | None = None) -> None:
    """Ask for a refresh of the worker's (and the person's) figures, in the caller's transaction.

    An outbox row, not a broker message: an answer never waits on the broker
    (a hung Redis would stall every submission), and a request made while
    the broker is down is not lost. ``drain_pending_refreshes`` runs them.
    ``using``: the answer's database (the row refers to its worker and person there).
    """
    PendingRefresh.objects.db_manager(using).create(worker_id=worker_id, person_id=person_id)


def queue_refresh_after_import(worker_ids: Sequence[int], person_ids: Sequence[int]) -> None:
    """One refresh for a batch of imported answers: every worker and person concerned, in one insert.

    The drain refreshes the union of the rows' workers and people, so each
    worker needs one row and each person one (with any of the workers).
    """
    if not worker_ids:
        return
    rows = [PendingRefresh(worker_id=worker_id, person_id=None) for worker_id in worker_ids[1:]]
    rows += [PendingRefresh(worker_id=worker_ids[0], person_id=person_id) for person_id in person_ids]
    PendingRefresh.objects.bulk_create(rows or [PendingRefresh(worker_id=worker_ids[0], person_id=None)])


DRAIN_BATCH = 5000


def drain_pending_refreshes(batch: int = DRAIN_BATCH) -> int:
    """Run the refreshes asked for since the last drain, as one refresh of everyone concerned; returns how many.

    The rows are taken (and deleted) in a short transaction of their own, so
    the refresh itself holds no lock an answer would wait for; a drain that
    dies half way leaves the rest to the periodic full recomputation.
    """
    with transaction.atomic():
        rows = list(
            PendingRefresh.objects.select_for_update(skip_locked=True).order_by("id")[:batch]
            .values_list("id", "worker_id", "person_id")
        )
        PendingRefresh.objects.filter(id__in=[row[0] for row in rows]).delete()
    if rows:
        refresh_after_answers({worker_id for _, worker_id, _ in rows}, {person for _, _, person in rows if person})
    return len(rows)


def _check_trigger(trigger: str) -> None:
    if trigger not in QualityReport.Trigger.values:
        raise QualityError("trigger", f"must be one of {', '.join(QualityReport.Trigger.values)}, got {trigger!r}")


def _lost() -> Q:
    """Active recomputations not finished after ``QUALITY_RECOMPUTE_TIMEOUT_MINUTES``: their worker died."""
    cutoff = timezone.now() - timedelta(minutes=settings.QUALITY_RECOMPUTE_TIMEOUT_MINUTES)
    return Q(state=Recomputation.State.QUEUED, created_at__lt=cutoff) | Q(state=Recomputation.State.RUNNING, started_at__lt=cutoff)


def pending_recomputation() -> Recomputation | None:
    """The recomputation queued or running now, if any (one lost longer than the timeout does not count)."""
    return Recomputation.objects.filter(active=True).exclude(_lost()).first()


def _forget_lost_recomputations() -> None:
    """A lost recomputation blocks nothing more: it is marked failed."""
    lost = Recomputation.objects.filter(active=True).filter(_lost())
    for recomputation in lost:
        logger.warning("recomputation %s %s since %s never finished; taken for lost", recomputation.pk, recomputation.state,
                       recomputation.started_at or recomputation.created_at)
    lost.update(state=Recomputation.State.FAILED, active=None, finished_at=timezone.now(), error="timed out: its worker never finished")


def _claim(trigger: str, state: str, requested_by: str = "") -> Recomputation | None:
    """Make the one active recomputation, or None when another is queued or running."""
    _forget_lost_recomputations()
    try:
        with transaction.atomic():
            return Recomputation.objects.create(
                trigger=trigger, requested_by=requested_by[:150], state=state, active=True,
                started_at=timezone.now() if state == Recomputation.State.RUNNING else None,
            )
    except IntegrityError:  # the unique constraint: one is queued or running already
        return None


def queue_recompute(trigger: str, requested_by: str = "") -> Recomputation | None:
    """Queue a full recomputation for a worker once the current transaction commits.

    Returns it, or None when one is queued or running already (nothing more
    is queued: one at a time, however often the button is pressed).
    """
    _check_trigger(trigger)
    recomputation = _claim(trigger, Recomputation.State.QUEUED, requested_by)
    if recomputation is None:
        return None
    from quality.tasks import recompute_quality

    transaction.on_commit(lambda: recompute_quality.delay(trigger, recomputation.pk))
    return recomputation


def run_recomputation(trigger: str = QualityReport.Trigger.SCHEDULE, recomputation_id: int | None = None) -> QualityReport | None:
    """What the task runs: the queued recomputation ``recomputation_id``, or (the beat) a new one.

    Returns the report, or None when there was nothing to do: another
    recomputation is queued or running (the beat's turn is skipped), or this
    one is no longer active (a message delivered twice, or taken for lost).
    """
    _check_trigger(trigger)
    if recomputation_id is None:
        recomputation = _claim(trigger, Recomputation.State.RUNNING)
        if recomputation is None:
            logger.info("a quality recomputation is already queued or running; this %s one is skipped", trigger)
            return None
    else:
        started = Recomputation.objects.filter(pk=recomputation_id, active=True, state=Recomputation.State.QUEUED).update(
            state=Recomputation.State.RUNNING, started_at=timezone.now()
        )
        if not started:
            logger.info("recomputation %s is not queued any more; nothing to do", recomputation_id)
            return None
        recomputation = Recomputation.objects.get(pk=recomputation_id)
    try:
        report = recompute_quality(trigger)
    except Exception as error:
        Recomputation.objects.filter(pk=recomputation.pk).update(
            state=Recomputation.State.FAILED, active=None, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"[:1000]
        )
        raise
    Recomputation.objects.filter(pk=recomputation.pk).update(
        state=Recomputation.State.DONE, active=None, finished_at=timezone.now(), report=report
    )
    return report


# ---------------------------------------------------------------- refreshing


def refresh_workers(worker_ids: Iterable[int] | None = None, *, apply_blocks: bool = True, people: PeopleArrays | None = None):
    """Recompute and store these workers' figures (all if None), then block those the trust rule condemns.

    Returns the trust events of the workers blocked now.
    """
    figures = refresh_worker_figures(worker_ids, people)
    if not apply_blocks:
        return []
    return apply_automatic_blocks(figures.worker_ids, figures.gold_window_accuracy, figures.gold_window_answers)


def refresh_after_answers(worker_ids: set[int], person_ids: set[int]) -> None:
    """After submissions: the figures and trust of the workers and of the people's other annotators (their
    leave-one-out consensus now includes these answers), then the people's agreement."""
    # Not the accounts that hold imported answers (EMOTIC's originals, who can never log in): they have
    # answered nearly every imported person, so refreshing them is a full recomputation, left to the periodic run.
    worker_ids = set(Worker.objects.filter(pk__in=list(worker_ids), user__is_active=True).values_list("pk", flat=True))
    if person_ids:
        others = selectors.counted_annotations().filter(person_id__in=sorted(person_ids), worker__user__is_active=True)
        worker_ids |= set(others.values_list("worker_id", flat=True))
    refresh_workers(sorted(worker_ids))
    if person_ids:
        refresh_people(person_ids)


def refresh_after_answer(worker_id: int, person_id: int | None = None) -> None:
    """After one submission (the task queued before the outbox, still run for messages in flight)."""
    refresh_after_answers({worker_id}, {person_id} if person_id is not None else set())


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
        changed, person_ids = set_answer_status(ids, status)
        refresh_people(person_ids)
    if changed:
        logger.info("%s set %d answers to %s", by or "a service", changed, status)
    return changed


REVIEW_ACTIONS = {"accept": AnnotationStatus.ACCEPTED, "reject": AnnotationStatus.REJECTED, "reopen": AnnotationStatus.SUBMITTED}


def review_image_answers(image_id: int, action: str, annotation_ids: Iterable[object], by: AbstractBaseUser | None = None):
    """An admin's decision on the review page of one image: ``action`` (accept, reject, reopen) on answers given there.

    Returns the status set and how many answers changed; an answer from another image refuses the whole decision.
    """
    if action not in REVIEW_ACTIONS:
        raise QualityError("action", f"must be one of {', '.join(REVIEW_ACTIONS)}, got {action!r}")
    try:
        ids = {int(i) for i in annotation_ids}
    except (TypeError, ValueError):
        raise QualityError("annotation", "must be whole numbers") from None
    on_image = set(EmotionAnnotation.objects.filter(person__image_id=image_id, pk__in=ids).values_list("pk", flat=True))
    if not ids or ids != on_image:
        raise QualityError("annotation", "choose answers given on this image")
    status = REVIEW_ACTIONS[action]
    return status, review_annotations(ids, status, by=by)
