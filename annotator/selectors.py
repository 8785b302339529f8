"""Reads for the worker pages and the API. A worker only ever reads its own work.

What a task looks like to a worker is built here, in one place, from fields
that real tasks and hidden gold items share: nothing in it tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from annotator.models import Person, TaskAssignment, TaskKind, Worker
from annotator.services.qualification import ANSWERED_STATES, qualification_size
from annotator.services.scopes import work_scope
from emotic.taxonomy import mask_to_categories

State = TaskAssignment.State
FINISHED_STATES = (State.SUBMITTED, State.SKIPPED, State.REPORTED, State.EXPIRED)


@dataclass(frozen=True)
class TaskView:
    id: int
    kind: str
    qualification: bool
    image_url: str
    original_image_url: str
    image_width: int
    image_height: int
    person_box: list[int] | None
    suggested_boxes: list[list[int]]
    expires_at: datetime


def task_view(assignment: TaskAssignment) -> TaskView:
    image = assignment.image if assignment.kind == TaskKind.BOXES else assignment.person.image
    image_url = reverse("annotator-api:task-image", args=[assignment.pk])
    if assignment.kind == TaskKind.BOXES:
        # A control's (or qualification item's) image may hold people imported with it: they are its answer.
        hidden_answer = assignment.gold_item_id is not None
        final_people = image.people.filter(box_status=Person.BoxStatus.FINAL)  # never a blocked worker's boxes
        person_box, suggested = None, [] if hidden_answer else [list(p.box) for p in final_people]
    else:
        person_box, suggested = list(assignment.person.box), []
    return TaskView(
        id=assignment.pk,
        kind=assignment.kind,
        qualification=assignment.is_qualification,
        image_url=image_url,
        original_image_url=f"{image_url}?size=original",
        image_width=image.width,
        image_height=image.height,
        person_box=person_box,
        suggested_boxes=suggested,
        expires_at=assignment.expires_at,
    )


def own_assignment(worker: Worker, task_id: int) -> TaskAssignment | None:
    return (
        TaskAssignment.objects.select_related("person__image", "image")
        .filter(pk=task_id, worker=worker)
        .first()
    )


@dataclass(frozen=True)
class WorkCounter:
    submitted_today: int
    submitted_total: int
    qualification_answered: int
    qualification_size: int


def work_counter(worker: Worker) -> WorkCounter:
    """What the page's counter shows. ``worker.tasks_submitted`` is kept by the submit service."""
    start_of_day = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    mine = TaskAssignment.objects.filter(worker=worker)
    pending = worker.qualification == Worker.Qualification.PENDING
    return WorkCounter(
        submitted_today=mine.filter(state=State.SUBMITTED, finished_at__gte=start_of_day).count(),
        submitted_total=worker.tasks_submitted,
        qualification_answered=(
            mine.filter(is_qualification=True, state__in=ANSWERED_STATES).count() if pending else 0
        ),
        qualification_size=qualification_size() if pending else 0,
    )


def work_scope_view(worker: Worker) -> dict | None:
    """What the page shows of the worker's bounded work (a panel's session), or None when its work is not bounded."""
    scope = work_scope(worker)
    if scope is None:
        return None
    return {
        "label": scope.label, "tasks_left": scope.tasks_left, "minutes_left": scope.minutes_left,
        "finished": scope.finished, "finish_url": scope.finish_url,
    }


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    kind: str
    state: str
    assigned_at: datetime
    finished_at: datetime | None
    categories: list[str] | None
    valence: int | None
    arousal: int | None
    dominance: int | None
    gender: str | None
    age: str | None
    boxes: list[list[int]] | None
    no_people: bool | None
    reason: str


def history(worker: Worker) -> QuerySet[TaskAssignment]:
    """The worker's finished tasks, newest first, with their answers."""
    return (
        TaskAssignment.objects.filter(worker=worker, state__in=FINISHED_STATES)
        .select_related("emotion_annotation", "box_annotation")
        .order_by("-finished_at", "-id")
    )


def history_entry(assignment: TaskAssignment) -> HistoryEntry:
    emotions = getattr(assignment, "emotion_annotation", None)
    boxes = getattr(assignment, "box_annotation", None)
    return HistoryEntry(
        id=assignment.pk,
        kind=assignment.kind,
        state=assignment.state,
        assigned_at=assignment.assigned_at,
        finished_at=assignment.finished_at,
        categories=mask_to_categories(emotions.categories_mask) if emotions else None,
        valence=emotions.valence if emotions else None,
        arousal=emotions.arousal if emotions else None,
        dominance=emotions.dominance if emotions else None,
        gender=emotions.gender if emotions else None,
        age=emotions.age if emotions else None,
        boxes=boxes.boxes if boxes else None,
        no_people=boxes.no_people if boxes else None,
        reason=assignment.skip_reason,
    )


@dataclass(frozen=True)
class QualificationItemResult:
    number: int
    kind: str
    passed: bool
    explanation: str


def qualification_results(worker: Worker) -> list[QualificationItemResult]:
    """Each answered qualification item: accepted or not, with the admin's explanation when not.

    The acceptable answers themselves are never shown.
    """
    answered = (
        TaskAssignment.objects.filter(worker=worker, is_qualification=True, state__in=ANSWERED_STATES)
        .select_related("gold_item")
        .order_by("assigned_at", "id")
    )
    return [
        QualificationItemResult(
            number=number,
            kind=a.get_kind_display(),
            passed=bool(a.gold_passed),
            explanation="" if a.gold_passed or a.gold_item is None else a.gold_item.explanation,
        )
        for number, a in enumerate(answered, start=1)
    ]
