"""Answers to tasks: submit, skip, report a bad image.

Every rule of the protocol is checked here, before anything is written, and
each failure names its field. A submission carries a client-made
``submission_id``: sending the same one again (a retry after a lost response)
returns the stored answer and writes nothing.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from annotator.models import BoxAnnotation, EmotionAnnotation, TaskAssignment, TaskKind, Worker
from catalog.models import Image
from annotator.services.assignment import close_assignment
from annotator.services.boxes import min_box_side_for, settle_image_boxes
from annotator.services.errors import AnswerInvalid, SubmissionConflict, TaskNotFound, TaskNotOpen
from annotator.services.gold import box_answer_passes, emotion_answer_passes
from annotator.services.protocol import version_for_answer
from annotator.services.qualification import evaluate_qualification_if_complete
from annotator.signals import task_given_back
from emotic import boxes as box_rules
from emotic.boxes import BoxError
from emotic.taxonomy import TaxonomyError, categories_to_mask, validate_age, validate_gender, validate_vad

State = TaskAssignment.State
MAX_SECONDS_SPENT = 24 * 3600


@dataclass(frozen=True)
class SubmitResult:
    assignment: TaskAssignment
    created: bool  # False: this submission_id was already stored; nothing was written


def submit_task(worker: Worker, task_id: int, submission_id: uuid.UUID, answer: dict[str, Any]) -> SubmitResult:
    """Store the worker's answer to its task.

    ``answer`` holds, for an emotions task: ``categories`` (names),
    ``valence``, ``arousal``, ``dominance`` (1..10), ``gender``, ``age``; for a
    boxes task: ``boxes`` (``[[x1, y1, x2, y2], ...]`` pixels) and
    ``no_people``; for both, optionally ``seconds_spent``.
    """
    try:
        return _submit(worker, task_id, submission_id, answer)
    except IntegrityError:
        # A submission id sent for two tasks at the same instant: the other one won.
        if _stored_submission(submission_id) is None:
            raise
        raise SubmissionConflict("submission_id", "was used by another submission at the same time") from None


def _submit(worker: Worker, task_id: int, submission_id: uuid.UUID, answer: dict[str, Any]) -> SubmitResult:
    now = timezone.now()
    with transaction.atomic():
        assignment = _lock_own_assignment(worker, task_id)
        previous = _stored_submission(submission_id)
        if previous is not None:
            if previous["assignment_id"] != assignment.pk:
                raise SubmissionConflict("submission_id", "was already used for a different task")
            return SubmitResult(assignment, created=False)
        _ensure_open(assignment, now)
        seconds = _seconds_spent(answer.get("seconds_spent", 0))
        if assignment.kind == TaskKind.EMOTIONS:
            _store_emotions(assignment, submission_id, answer, seconds)
        else:
            _store_boxes(assignment, submission_id, answer, seconds)
        assignment.state = State.SUBMITTED
        assignment.finished_at = now
        assignment.save(update_fields=["state", "finished_at", "gold_passed"])
        Worker.objects.filter(pk=worker.pk).update(tasks_submitted=F("tasks_submitted") + 1)
        _after_answer(worker, assignment, now)
    return SubmitResult(assignment, created=True)


def skip_task(worker: Worker, task_id: int, reason: str = "") -> TaskAssignment:
    """Give the task back; the worker will not see this person again. Repeating it changes nothing."""
    return _close_without_answer(worker, task_id, State.SKIPPED, reason.strip())


def report_task(worker: Worker, task_id: int, reason: str) -> TaskAssignment:
    """Report the task's image as bad (with a reason) and give the task back. Repeating it changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise AnswerInvalid("reason", "say what is wrong with the image")
    if len(reason) > 300:
        raise AnswerInvalid("reason", f"must be at most 300 characters, got {len(reason)}")
    return _close_without_answer(worker, task_id, State.REPORTED, reason)


def _close_without_answer(worker: Worker, task_id: int, state: str, reason: str) -> TaskAssignment:
    now = timezone.now()
    with transaction.atomic():
        assignment = _lock_own_assignment(worker, task_id)
        if assignment.state == state:
            return assignment
        _ensure_open(assignment, now)
        close_assignment(assignment, state, now, reason=reason)
        if state == State.REPORTED:
            image_id = assignment.image_id or assignment.person.image_id
            Image.objects.filter(pk=image_id).update(reported_count=F("reported_count") + 1)
        if assignment.is_qualification or assignment.gold_item_id is not None:
            # A qualification item or a hidden control given back unanswered is not passed: skipping or
            # reporting one must cost what a wrong answer costs (QUALITY_SKIPPED_CONTROL_FAILS decides
            # whether quality's trust rule counts it for controls).
            TaskAssignment.objects.filter(pk=assignment.pk).update(gold_passed=False)
            assignment.gold_passed = False
        _after_answer(worker, assignment, now)
        task_given_back.send(
            sender=TaskAssignment, worker_id=worker.pk, assignment_id=assignment.pk, state=state
        )
    return assignment


def _after_answer(worker: Worker, assignment: TaskAssignment, now) -> None:
    if assignment.is_qualification:
        worker.refresh_from_db(fields=["qualification", "qualified_at"])
        evaluate_qualification_if_complete(worker, now=now)


def _lock_own_assignment(worker: Worker, task_id: int) -> TaskAssignment:
    try:
        return (
            TaskAssignment.objects.select_for_update(of=("self",))
            .select_related("person", "image", "gold_item")
            .get(pk=task_id, worker=worker)
        )
    except TaskAssignment.DoesNotExist:
        raise TaskNotFound(task_id) from None


def _stored_submission(submission_id: uuid.UUID) -> dict | None:
    """``{"assignment_id": ...}`` of the answer stored under this id, if any."""
    return (
        EmotionAnnotation.objects.filter(submission_id=submission_id).values("assignment_id").first()
        or BoxAnnotation.objects.filter(submission_id=submission_id).values("assignment_id").first()
    )


def _ensure_open(assignment: TaskAssignment, now) -> None:
    if assignment.state == State.ASSIGNED and assignment.expires_at > now:
        return
    state = State.EXPIRED if assignment.state == State.ASSIGNED else assignment.state
    reasons = {
        State.SUBMITTED: "was already submitted",
        State.SKIPPED: "was skipped",
        State.REPORTED: "was reported as a bad image",
        State.EXPIRED: "expired: it was not submitted in time and went back to the pool",
    }
    raise TaskNotOpen("task", reasons[state])


def _seconds_spent(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AnswerInvalid("seconds_spent", f"must be a number of seconds, got {value!r}")
    if not 0 <= value <= MAX_SECONDS_SPENT:
        raise AnswerInvalid("seconds_spent", f"must be from 0 to {MAX_SECONDS_SPENT}, got {value}")
    return float(value)


def _required(answer: dict[str, Any], field: str, hint: str) -> Any:
    if answer.get(field) is None:
        raise AnswerInvalid(field, f"is required: {hint}")
    return answer[field]


def _store_emotions(assignment: TaskAssignment, submission_id: uuid.UUID, answer: dict[str, Any], seconds: float):
    categories = _required(answer, "categories", "choose at least one category")
    if not isinstance(categories, (list, tuple)) or not all(isinstance(c, str) for c in categories):
        raise AnswerInvalid("categories", "must be a list of category names")
    if not categories:
        raise AnswerInvalid("categories", "choose at least one category")
    try:
        mask = categories_to_mask(categories)
        values = {
            dim: validate_vad(dim, _required(answer, dim, "set the slider from 1 to 10"))
            for dim in ("valence", "arousal", "dominance")
        }
        gender = validate_gender(_required(answer, "gender", "choose Male or Female"))
        age = validate_age(_required(answer, "age", "choose Kid, Teenager or Adult"))
    except TaxonomyError as error:
        raise AnswerInvalid(error.field, error.reason) from None
    gold = assignment.gold_item
    if gold is not None:
        assignment.gold_passed = emotion_answer_passes(gold, categories_mask=mask, gender=gender, age=age, **values)
    EmotionAnnotation.objects.create(
        person=assignment.person,
        worker_id=assignment.worker_id,
        assignment=assignment,
        categories_mask=mask,
        gender=gender,
        age=age,
        seconds_spent=seconds,
        submission_id=submission_id,
        is_gold=gold is not None,
        protocol_version=version_for_answer(),
        **values,
    )


def validate_boxes(boxes: Any, width: int, height: int) -> list[list[int]]:
    """Integer boxes inside a ``width`` x ``height`` image, each large enough, at most
    ``MAX_BOXES_PER_IMAGE`` of them, or ``AnswerInvalid``.

    The rules and their wording are ``emotic.boxes``'s; this passes the
    settings and carries the field and reason over to the answer's error.
    """
    try:
        return box_rules.validate_boxes(
            boxes, width, height, max_count=settings.MAX_BOXES_PER_IMAGE, min_side=min_box_side_for(width, height)
        )
    except BoxError as error:
        raise AnswerInvalid(error.field, error.reason) from None


def _store_boxes(assignment: TaskAssignment, submission_id: uuid.UUID, answer: dict[str, Any], seconds: float):
    image = assignment.image
    no_people = answer.get("no_people", False)
    if not isinstance(no_people, bool):
        raise AnswerInvalid("no_people", f"must be true or false, got {no_people!r}")
    boxes = validate_boxes(answer.get("boxes") or [], image.width, image.height)
    if no_people and boxes:
        raise AnswerInvalid("no_people", "cannot be true when boxes are drawn")
    if not no_people and not boxes:
        raise AnswerInvalid("boxes", "draw at least one box, or mark the image as having no people")
    gold = assignment.gold_item
    if gold is not None:
        assignment.gold_passed = box_answer_passes(gold, boxes=boxes, no_people=no_people)
    BoxAnnotation.objects.create(
        image=image,
        worker_id=assignment.worker_id,
        assignment=assignment,
        boxes=boxes,
        no_people=no_people,
        seconds_spent=seconds,
        submission_id=submission_id,
        is_gold=gold is not None,
        protocol_version=version_for_answer(),
    )
    if gold is None:
        settle_image_boxes(image)
