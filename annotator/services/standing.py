"""A worker's standing in annotation: blocked or not, and their work excluded or restored with it.

Quality decides who is blocked and why (``quality.trust``); this module
carries the decision into the annotation data, under the worker's row lock:

- blocking stops the worker's tasks (the assignment service refuses blocked
  workers), ends the task they hold, and marks every answer of theirs
  ``excluded``: kept, but out of the pool's counts, of agreement figures and
  of exports. The people they drew alone are excluded with their answers
  (live tasks on them ended) and those images go back to box drawing.
- unblocking restores all of it, and settles the reopened images again from
  the restored answers, unless someone drew them again meanwhile: then the
  new boxes stand and the old people stay out (withdrawn).

``excluded`` means exactly this, so the two stay in step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q

from annotator.models import BoxAnnotation, EmotionAnnotation, Person, TaskAssignment, Worker
from annotator.services.assignment import close_assignment, recount_slots
from annotator.services.boxes import settle_image_boxes
from catalog.models import Image


@dataclass(frozen=True)
class StandingChanged:
    """What a block or unblock changed: the answers excluded or restored, and the people whose answers moved."""

    worker: Worker
    answers_changed: int
    person_ids: set[int] = field(default_factory=set)


def block_worker_work(worker_id: int, *, reason: str, automatically: bool, now: datetime) -> StandingChanged | None:
    """Block the worker and exclude their work; None (and no change) if already blocked."""
    with transaction.atomic():
        worker = Worker.objects.select_for_update().get(pk=worker_id)
        if worker.is_blocked:
            return None
        worker.is_blocked, worker.blocked_reason, worker.blocked_at = True, reason, now
        worker.blocked_automatically = automatically
        worker.save(update_fields=["is_blocked", "blocked_reason", "blocked_at", "blocked_automatically"])
        person_ids, image_ids, changed = _set_excluded(worker, True)
        drawn_people, drawn_images = _set_drawn_people(worker, excluded=True)
        person_ids |= drawn_people
        image_ids |= drawn_images
        # The worker's own live task, and other workers' live tasks on the people excluded with it
        # (their answers would no longer count): ended now, rather than when the worker submits.
        live_tasks = TaskAssignment.objects.select_for_update().filter(
            Q(worker=worker) | Q(person_id__in=drawn_people), state=TaskAssignment.State.ASSIGNED
        )
        for live in live_tasks.order_by("pk"):
            close_assignment(live, TaskAssignment.State.EXPIRED, now)
            if live.person_id:
                person_ids.add(live.person_id)
            else:
                image_ids.add(live.image_id)
        recount_slots(person_ids=sorted(person_ids), image_ids=sorted(image_ids))
        _settle_again(drawn_images)
    return StandingChanged(worker, changed, person_ids)


def unblock_worker_work(worker_id: int) -> StandingChanged | None:
    """Unblock the worker and restore their work; None (and no change) if not blocked."""
    with transaction.atomic():
        worker = Worker.objects.select_for_update().get(pk=worker_id)
        if not worker.is_blocked:
            return None
        worker.is_blocked, worker.blocked_reason, worker.blocked_at, worker.blocked_automatically = False, "", None, False
        worker.save(update_fields=["is_blocked", "blocked_reason", "blocked_at", "blocked_automatically"])
        person_ids, image_ids, changed = _set_excluded(worker, False)
        drawn_people, drawn_images = _set_drawn_people(worker, excluded=False)
        person_ids |= drawn_people
        image_ids |= drawn_images
        recount_slots(person_ids=sorted(person_ids), image_ids=sorted(image_ids))
        _settle_again(drawn_images)
    return StandingChanged(worker, changed, person_ids)


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
