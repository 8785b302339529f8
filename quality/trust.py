"""Worker trust: blocking (automatic or by an admin) and unblocking, reversibly.

Blocking a worker stops their tasks (the assignment service refuses blocked
workers), expires the task they hold, and marks every answer of theirs
``excluded``: kept in the database, left out of agreement figures and of
exports. Unblocking (an admin's decision, never automatic) restores them, and
restarts the worker's gold window: control answers from before count no more.
``excluded`` means exactly this, so the two stay in step.

The people a blocked worker drew alone are their work too: their boxes are
excluded with the answers (no more emotion tasks, live ones ended; left out
of figures and exports) and their images go back to stage 1, for a trusted
worker to draw.
Unblocking restores those people and settles the images again from the
restored answers, unless someone has drawn them again meanwhile: then the
new boxes stand and the old people stay out (withdrawn).
"""

from __future__ import annotations

import logging

import numpy as np
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotator.models import BoxAnnotation, EmotionAnnotation, Person, TaskAssignment, Worker
from catalog.models import Image
from quality.errors import QualityError
from quality.models import WorkerTrustEvent
from quality.stored_figures import refresh_people, refresh_worker_figures
from quality.worker_figures import should_block
from annotator.services.assignment import close_assignment, recount_slots
from annotator.services.boxes import settle_image_boxes

logger = logging.getLogger(__name__)
MAX_REASON = 300


def _checked_reason(reason: str, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise QualityError("reason", "say why, for the worker and the other admins")
    if len(reason) > MAX_REASON:
        raise QualityError("reason", f"must be at most {MAX_REASON} characters, got {len(reason)}")
    return reason


def block_worker(
    worker: Worker,
    *,
    reason: str,
    automatically: bool = False,
    by: AbstractBaseUser | None = None,
    gold_accuracy: float | None = None,
) -> WorkerTrustEvent | None:
    """Block ``worker`` and exclude their work; None (and no change) if already blocked."""
    reason = _checked_reason(reason, required=True)
    now = timezone.now()
    with transaction.atomic():
        locked = Worker.objects.select_for_update().get(pk=worker.pk)
        if locked.is_blocked:
            return None
        locked.is_blocked = True
        locked.blocked_reason = reason
        locked.blocked_at = now
        locked.blocked_automatically = automatically
        locked.save(update_fields=["is_blocked", "blocked_reason", "blocked_at", "blocked_automatically"])
        person_ids, image_ids, changed = _set_excluded(locked, True)
        drawn_people, drawn_images = _set_drawn_people(locked, excluded=True)
        person_ids |= drawn_people
        image_ids |= drawn_images
        # The worker's own live task, and other workers' live tasks on the people excluded with it
        # (their answers would no longer count): ended now, rather than when the worker submits.
        live_tasks = TaskAssignment.objects.select_for_update().filter(
            Q(worker=locked) | Q(person_id__in=drawn_people), state=TaskAssignment.State.ASSIGNED
        )
        for live in live_tasks.order_by("pk"):
            close_assignment(live, TaskAssignment.State.EXPIRED, now)
            if live.person_id:
                person_ids.add(live.person_id)
            else:
                image_ids.add(live.image_id)
        event = WorkerTrustEvent.objects.create(
            worker=locked, kind=WorkerTrustEvent.Kind.BLOCKED, automatic=automatically, reason=reason,
            gold_accuracy=gold_accuracy, annotations_changed=changed, by=by,
        )
        recount_slots(person_ids=sorted(person_ids), image_ids=sorted(image_ids))
        _settle_again(drawn_images)
        refresh_people(person_ids)
    worker.refresh_from_db()
    logger.info("blocked worker %s (%s): %s; %d answers excluded", worker.pk, "auto" if automatically else "admin", reason, changed)
    return event


def unblock_worker(worker: Worker, *, by: AbstractBaseUser | None = None, note: str = "") -> WorkerTrustEvent | None:
    """Unblock ``worker`` and restore their work; None (and no change) if not blocked."""
    note = _checked_reason(note, required=False)
    with transaction.atomic():
        locked = Worker.objects.select_for_update().get(pk=worker.pk)
        if not locked.is_blocked:
            return None
        locked.is_blocked = False
        locked.blocked_reason = ""
        locked.blocked_at = None
        locked.blocked_automatically = False
        locked.save(update_fields=["is_blocked", "blocked_reason", "blocked_at", "blocked_automatically"])
        person_ids, image_ids, changed = _set_excluded(locked, False)
        drawn_people, drawn_images = _set_drawn_people(locked, excluded=False)
        person_ids |= drawn_people
        image_ids |= drawn_images
        event = WorkerTrustEvent.objects.create(
            worker=locked, kind=WorkerTrustEvent.Kind.UNBLOCKED, reason=note, annotations_changed=changed, by=by,
        )
        recount_slots(person_ids=sorted(person_ids), image_ids=sorted(image_ids))
        _settle_again(drawn_images)
        refresh_people(person_ids)
        refresh_worker_figures([locked.pk])  # the gold window starts again from here
    worker.refresh_from_db()
    logger.info("unblocked worker %s; %d answers restored", worker.pk, changed)
    return event


def _set_excluded(worker: Worker, excluded: bool) -> tuple[set[int], set[int], int]:
    """Mark all of the worker's answers; (people touched, images touched, answers changed)."""
    emotions = EmotionAnnotation.objects.filter(worker=worker, excluded=not excluded)
    boxes = BoxAnnotation.objects.filter(worker=worker, excluded=not excluded)
    person_ids = set(emotions.values_list("person_id", flat=True))
    image_ids = set(boxes.values_list("image_id", flat=True))
    changed = emotions.update(excluded=excluded) + boxes.update(excluded=excluded)
    return person_ids, image_ids, changed


def _set_drawn_people(worker: Worker, excluded: bool) -> tuple[set[int], set[int]]:
    """Exclude (or restore) the people whose box this worker drew alone; (people, their images).

    Excluding also reopens their images' box stage: the people there are no
    longer final, so the image needs boxes from someone trusted. The images are
    locked first, in the order box settlement locks them, so a box answer
    settling one of them at the same moment waits (and then sees the change)
    rather than having its outcome overwritten.
    """
    before, after = (Person.BoxStatus.FINAL, Person.BoxStatus.EXCLUDED) if excluded else (
        Person.BoxStatus.EXCLUDED, Person.BoxStatus.FINAL)
    drawn = Person.objects.filter(box_answer__worker=worker)
    candidates = sorted(set(drawn.filter(box_status=before).values_list("image_id", flat=True)))
    list(Image.objects.select_for_update().filter(pk__in=candidates).order_by("pk").values_list("pk", flat=True))
    rows = list(drawn.filter(box_status=before, image_id__in=candidates).values_list("pk", "image_id"))
    Person.objects.filter(pk__in=[pk for pk, _ in rows], box_status=before).update(box_status=after)
    image_ids = {image_id for _, image_id in rows}
    if excluded:
        Image.objects.filter(pk__in=image_ids).update(boxes_confirmed=False)
    return {pk for pk, _ in rows}, image_ids


def _settle_again(image_ids: set[int]) -> None:
    """Settle reopened images whose counted box answers suffice (after a block: the others'; after an unblock: all)."""
    for image in Image.objects.filter(pk__in=sorted(image_ids), boxes_confirmed=False):
        settle_image_boxes(image)


def automatic_block_reason(accuracy: float, answers: int) -> str:
    return (
        f"gold accuracy {accuracy:.0%} over the last {answers} control answers "
        f"is below {settings.QUALITY_GOLD_MIN_ACCURACY:.0%}"
    )


def apply_automatic_blocks(
    worker_ids: np.ndarray, window_accuracy: np.ndarray, window_answers: np.ndarray
) -> list[WorkerTrustEvent]:
    """Block every worker whom the trust rule (``should_block``) condemns; the arrays run over ``worker_ids``."""
    events = []
    for worker_id, accuracy, answers in zip(worker_ids.tolist(), window_accuracy.tolist(), window_answers.tolist()):
        if not should_block(accuracy, int(answers)):
            continue
        worker = Worker.objects.filter(pk=worker_id, is_blocked=False).first()
        if worker is None:
            continue
        event = block_worker(
            worker, reason=automatic_block_reason(accuracy, int(answers)), automatically=True, gold_accuracy=accuracy
        )
        if event is not None:
            events.append(event)
    return events
