"""Reads for the worker pages and the API. A worker only ever reads its own work.

What a task looks like to a worker is built here, in one place, from fields
that real tasks and hidden gold items share: nothing in it tells them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from annotator.models import (
    EmotionAnnotation, GoldItem, InstructionExample, Person, ProtocolVersion, TaskAssignment, TaskKind, Worker,
)
from annotator.services.assignment import control_is_due, drawable_controls, tasks_given, unseen_controls
from annotator.services.qualification import ANSWERED_STATES, qualification_pool, qualification_size
from annotator.protocol import protocol_in_force
from annotator.services.scopes import work_scope
from emotic.taxonomy import CATEGORY_NAMES, categories_to_mask, mask_to_categories

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
        qualification_size=qualification_size(worker) if pending else 0,
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
    note: str  # why it was not accepted, in words that give no answer away
    explanation: str  # the admin's explanation, only where it is safe to show


NOT_ACCEPTED = {
    TaskKind.EMOTIONS: "this answer is outside what we accept for this person",
    TaskKind.BOXES: "these boxes are not what we accept for this image",
}
GIVEN_BACK = "skipped or reported: it counts as not accepted"


def qualification_results(worker: Worker) -> list[QualificationItemResult]:
    """Each answered qualification item: accepted or not and, when not, why in general words.

    Feedback must not hand the next account the key: the acceptable answers
    are never shown, and the admin's explanation only where the admin marked
    it safe to show (``GoldItem.show_explanation``) and the item is no hidden
    control (whoever read it would know that person for a control, and its
    answer). Each account draws its own items from the pool, so what one
    failed account learnt serves another little.
    """
    answered = (
        TaskAssignment.objects.filter(worker=worker, is_qualification=True, state__in=ANSWERED_STATES)
        .select_related("gold_item")
        .order_by("assigned_at", "id")
    )
    results = []
    for number, a in enumerate(answered, start=1):
        gold, passed = a.gold_item, bool(a.gold_passed)
        if passed:
            note = ""
        else:
            note = NOT_ACCEPTED.get(a.kind, NOT_ACCEPTED[TaskKind.EMOTIONS]) if a.state == State.SUBMITTED else GIVEN_BACK
        safe = not passed and gold is not None and gold.show_explanation and not gold.for_control
        results.append(
            QualificationItemResult(number, a.get_kind_display(), passed, note, gold.explanation if safe else "")
        )
    return results


# ---------------------------------------------------------------- the pools of gold items

ACTIVE_WORKER_DAYS = 30  # a worker who asked for a task this recently is active
KIND_LABELS = {TaskKind.EMOTIONS: "emotions", TaskKind.BOXES: "boxes", "all": "all kinds"}


@dataclass(frozen=True)
class ControlPoolRow:
    """The hidden controls of one kind (or of all kinds: ``kind == "all"``)."""

    kind: str
    label: str
    items: int  # controls that can be drawn: marked for control, not retired
    retired: int
    in_qualification: int  # drawable controls that are qualification items too: recognisable to whoever took the test
    times_shown: int  # hand-outs of the drawable controls, all time
    most_shown: int  # hand-outs of the most shown one
    workers_exhausted: int  # active workers who have met every drawable control: none is left to draw for them
    tasks_covered: int | None  # more tasks the controls cover at GOLD_RATE for the active worker closest to running out
    new_worker_tasks: int | None  # the same for a worker who has met none
    short: bool  # tasks_covered under CONTROL_POOL_WARN_TASKS

    @property
    def mean_shown(self) -> float | None:
        return self.times_shown / self.items if self.items else None


@dataclass(frozen=True)
class ControlPool:
    """What the admin needs to keep the pools of gold items ahead of the campaign."""

    rows: list[ControlPoolRow]  # emotions, boxes, all kinds
    active_workers: int
    gold_rate: float
    warn_below_tasks: int
    qualification_items: int  # the pool the qualification test is drawn from
    qualification_length: int  # QUALIFICATION_ITEMS
    qualification_short: bool
    warnings: list[str]
    per_worker: list[WorkerCoverage] = ()  # active workers, closest to running out first
    when_exhausted: str = ""  # what the protocol does for a worker who has met every control
    active_days: int = ACTIVE_WORKER_DAYS


@dataclass(frozen=True)
class WorkerCoverage:
    """One active worker's hidden controls: met, left unseen, and the tasks those cover."""

    worker_id: int
    username: str
    met: int
    left: int
    tasks_covered: int | None
    short: bool


def active_workers() -> QuerySet[Worker]:
    """Crowd workers who may work and asked for a task in the last ``ACTIVE_WORKER_DAYS`` days."""
    since = timezone.now() - timedelta(days=ACTIVE_WORKER_DAYS)
    return Worker.objects.filter(
        kind=Worker.Kind.CROWD, qualification=Worker.Qualification.QUALIFIED, is_blocked=False,
        user__is_active=True, last_task_request_at__gte=since,
    )


def _tasks_for(controls_left: int, gold_rate: float) -> int | None:
    return None if gold_rate <= 0 else int(controls_left / gold_rate)


def control_pool() -> ControlPool:
    """The hidden controls per kind: how many, how exposed, and how long they last; warnings where they run short.

    A worker never meets a control twice, so each active worker has a number
    of controls left (drawable ones it has not been given). At ``GOLD_RATE``
    those cover ``left / GOLD_RATE`` more of its tasks; the figure shown is
    that of the active worker closest to running out (of a new worker when
    none is active). The row of all kinds is the one the draw uses (it mixes
    kinds); the rows per kind say which kind to add.
    """
    protocol = protocol_in_force()
    gold_rate, warn_below = protocol.control_rate, settings.CONTROL_POOL_WARN_TASKS
    drawable = drawable_controls()
    per_kind = {
        row["kind"]: row
        for row in GoldItem.objects.filter(for_control=True).values("kind").annotate(
            n_items=Count("id", filter=Q(retired=False)),
            n_retired=Count("id", filter=Q(retired=True)),
            n_in_qualification=Count("id", filter=Q(retired=False, for_qualification=True)),
        )
    }
    shown = dict(
        drawable.values("kind").annotate(n=Count("assignments")).values_list("kind", "n")
    )
    shown_each = list(drawable.annotate(n=Count("assignments")).values_list("kind", "n"))
    workers = list(active_workers().values_list("pk", flat=True))
    seen: dict[int, dict[str, int]] = {pk: {} for pk in workers}
    met = (
        TaskAssignment.objects.filter(worker_id__in=workers)
        .filter(Q(person__gold__in=drawable) | Q(image__gold__in=drawable))
        .values("worker_id", "kind")
        .annotate(n=Count("person", distinct=True) + Count("image", distinct=True))
        .values_list("worker_id", "kind", "n")
    )
    for worker_id, kind, n in met:
        seen[worker_id][kind] = n

    rows = []
    for kind in (TaskKind.EMOTIONS, TaskKind.BOXES, "all"):
        kinds = [TaskKind.EMOTIONS, TaskKind.BOXES] if kind == "all" else [kind]
        items = sum(per_kind.get(k, {}).get("n_items", 0) for k in kinds)
        left = [items - sum(seen[w].get(k, 0) for k in kinds) for w in workers]
        tasks = _tasks_for(min(left) if left else items, gold_rate)
        rows.append(ControlPoolRow(
            kind=str(kind),
            label=KIND_LABELS[kind],
            items=items,
            retired=sum(per_kind.get(k, {}).get("n_retired", 0) for k in kinds),
            in_qualification=sum(per_kind.get(k, {}).get("n_in_qualification", 0) for k in kinds),
            times_shown=sum(shown.get(k, 0) for k in kinds),
            most_shown=max((n for k, n in shown_each if k in kinds), default=0),
            workers_exhausted=sum(1 for n in left if n <= 0),
            tasks_covered=tasks,
            new_worker_tasks=_tasks_for(items, gold_rate),
            short=tasks is not None and tasks < warn_below,
        ))

    warnings = []
    for row in rows:
        if row.short:
            warnings.append(
                f"Hidden controls ({row.label}) run short: they cover about {row.tasks_covered} more tasks for the "
                f"active worker closest to running out (warning below {warn_below}); {row.workers_exhausted} active "
                f"worker(s) have met every one. Add control items{'' if row.kind == 'all' else ' of this kind'}."
            )
    overlap = rows[-1].in_qualification
    if overlap:
        warnings.append(
            f"{overlap} hidden control(s) are qualification items too: whoever took the test can recognise them. "
            "Untick 'for control' or 'for qualification' on them."
        )
    qualification_items = qualification_pool().count()
    qualification_short = qualification_items < settings.QUALIFICATION_POOL_WARN_ITEMS
    if qualification_short:
        warnings.append(
            f"The qualification test ({protocol.qualification_items} items) is drawn from only {qualification_items}: "
            f"accounts meet the same items (warning below {settings.QUALIFICATION_POOL_WARN_ITEMS}). "
            "Add qualification items."
        )
    names = dict(Worker.objects.filter(pk__in=workers).values_list("pk", "user__username"))
    everything = rows[-1].items
    per_worker = []
    for worker_id in workers:
        met_here = sum(seen[worker_id].values())
        left = max(0, everything - met_here)
        tasks = _tasks_for(left, gold_rate)
        per_worker.append(WorkerCoverage(
            worker_id, names.get(worker_id, ""), met_here, left, tasks, tasks is not None and tasks < warn_below
        ))
    per_worker.sort(key=lambda w: (w.left, w.username))
    if any(w.left == 0 for w in per_worker):
        then = ("they are given the control they answered longest ago"
                if protocol.controls_exhausted == "reuse" else "their tasks are paused until controls are added")
        warnings.append(
            f"{sum(w.left == 0 for w in per_worker)} active worker(s) have met every control: {then} "
            "(the protocol's 'when a worker has met every control')."
        )
    return ControlPool(
        rows=rows, active_workers=len(workers), gold_rate=gold_rate, warn_below_tasks=warn_below,
        qualification_items=qualification_items, qualification_length=protocol.qualification_items,
        qualification_short=qualification_short, warnings=warnings, per_worker=per_worker[:100],
        when_exhausted=protocol.get_controls_exhausted_display(),
    )


# ---------------------------------------------------------------- the protocol and its instructions

EXAMPLE_CANDIDATES = 8  # accepted answers offered per category to pick examples from


def protocol_versions() -> QuerySet[ProtocolVersion]:
    return ProtocolVersion.objects.select_related("created_by").order_by("-number")


def instruction_examples(protocol: ProtocolVersion | None = None) -> dict[str, list[InstructionExample]]:
    """The examples of the protocol in force (or of ``protocol``), by category in the taxonomy's order."""
    protocol = protocol or protocol_in_force()
    if not protocol.pk:
        return {}
    by_category: dict[str, list[InstructionExample]] = {}
    for example in protocol.examples.select_related("annotation__person__image"):
        by_category.setdefault(example.category, []).append(example)
    return {c: by_category[c] for c in CATEGORY_NAMES if c in by_category}


def instruction_example(example_id: int) -> InstructionExample | None:
    """An example of the protocol in force (a worker may see only those), or None."""
    protocol = protocol_in_force()
    if not protocol.pk:
        return None
    return protocol.examples.select_related("annotation__person__image").filter(pk=example_id).first()


def example_candidates(per_category: int = EXAMPLE_CANDIDATES) -> dict[str, list[EmotionAnnotation]]:
    """Per category, accepted answers that ticked it (newest first) and the examples in force: what the admin picks from."""
    chosen = {(e.category, e.annotation_id) for examples in instruction_examples().values() for e in examples}
    accepted = EmotionAnnotation.objects.filter(
        status="accepted", is_gold=False, excluded=False, person__box_status=Person.BoxStatus.FINAL,
    ).select_related("person__image")
    candidates = {}
    for category in CATEGORY_NAMES:
        bit = categories_to_mask([category])
        rows = list(accepted.alias(hit=F("categories_mask").bitand(bit)).filter(hit__gt=0).order_by("-created_at", "-id")[:per_category])
        extra = [i for c, i in chosen if c == category and i not in {a.pk for a in rows}]
        rows += list(accepted.filter(pk__in=extra))
        if rows:
            candidates[category] = rows
    return candidates


def paused_for_controls(worker: Worker) -> bool:
    """Whether the protocol pauses this worker now: its next task is a control, and it has met every one."""
    protocol = protocol_in_force()
    if protocol.controls_exhausted != ProtocolVersion.ControlsExhausted.PAUSE:
        return False
    if not control_is_due(worker.pk, tasks_given(worker), protocol):
        return False
    return drawable_controls().exists() and not unseen_controls(worker).exists()
# --- for research programs (the researcher API reads these; staff only) ------------------------
def people(*, image_id: int | None = None, split: str | None = None, box_status: str | None = None) -> QuerySet[Person]:
    """People in the images, filtered (None: any), by id."""
    rows = Person.objects.select_related("image").only(
        "id", "image_id", "x1", "y1", "x2", "y2", "box_origin", "box_status", "created_at", "image__split"
    ).order_by("id")
    if image_id is not None:
        rows = rows.filter(image_id=image_id)
    if split is not None:
        rows = rows.filter(image__split=split)
    if box_status is not None:
        rows = rows.filter(box_status=box_status)
    return rows


def emotion_answers(
    answers: QuerySet[EmotionAnnotation] | None = None, *, person_id: int | None = None, image_id: int | None = None,
    worker_id: int | None = None, status: str | None = None, split: str | None = None, created_after: datetime | None = None,
) -> QuerySet[EmotionAnnotation]:
    """Emotion answers (all of them, or those of ``answers``), filtered (None: any), by id."""
    rows = (EmotionAnnotation.objects.all() if answers is None else answers).select_related("person__image", "worker__user")
    if person_id is not None:
        rows = rows.filter(person_id=person_id)
    if image_id is not None:
        rows = rows.filter(person__image_id=image_id)
    if worker_id is not None:
        rows = rows.filter(worker_id=worker_id)
    if status is not None:
        rows = rows.filter(status=status)
    if split is not None:
        rows = rows.filter(person__image__split=split)
    if created_after is not None:
        rows = rows.filter(created_at__gt=created_after)
    return rows.order_by("id")


def worker_ids() -> list[int]:
    return list(Worker.objects.order_by("id").values_list("id", flat=True))
