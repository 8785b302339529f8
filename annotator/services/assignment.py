"""Handing out tasks: who annotates what next.

Rules (EMOTIC's protocol): a worker never gets the same person (or, for boxes,
the same image) twice; each person gets as many annotators as its split needs
(the protocol in force, ``annotator.protocol.protocol_in_force``; a person
whose work began before a change applied to new work only keeps its pinned
number), counting submitted answers and live assignments; hidden gold items
are mixed in at the protocol's control rate; an assignment not submitted in
time expires and its slot returns to the pool.

A worker whose control is due and who has met every control is given the
control it met longest ago (the protocol's ``controls_exhausted``: "reuse"),
or no task at all until new controls are added ("pause": ``WorkerNotEligible``
with the code ``controls_exhausted``).
An image without a split is placed in one when its first person is handed out
(``settings.SPLIT_IMAGES_AT``), so the count is its split's from the start.

Concurrency: the counters ``Person.annotation_slots_taken`` and
``Image.box_slots_taken`` are read in the WHERE clause and written in the same
transaction that claims the row. On PostgreSQL the claim is ``SELECT ... FOR NO
KEY UPDATE SKIP LOCKED``: a concurrent claimer (which takes the same lock)
skips the locked row, and one that meets a row updated meanwhile re-checks the
counter on its newest version, so a person is never over-allocated. Not ``FOR
UPDATE``: that lock also conflicts with the ``FOR KEY SHARE`` lock that
PostgreSQL's foreign-key checks take on a person (or image) while another
transaction inserts a row referencing it (an answer, an assignment, quality's
agreement row), and the claim then skipped a person that still needed answers.
The counter updates change no key column, so they too take ``FOR NO KEY
UPDATE`` and never wait for a key-share lock. When every row the worker could
be given is locked by other claimers, the claim is retried a few times, each in
a fresh transaction (``CLAIM_ATTEMPTS``), before the worker is told to come
back. On SQLite (no row locks) transactions begin with ``BEGIN IMMEDIATE`` (set
in the settings) and every assignment transaction's first statement is a
write, so either way it holds the database's single write lock from its first
read: assignments are serialised.

When nothing is given, ``next_task`` says why (``work_outlook``, one query):
work may come later (``later``: someone else holds or has locked what this
worker could do, or images are still in their box stage), or nothing is left
for this worker (``done``).

Another part may narrow a worker's pool and end its work (``scopes.WorkScope``:
task kinds, splits, a quota): the claims and the outlook keep to the scope,
and a worker whose scope is finished is given no new task (``done``, with the
scope's ``finish_url``).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.models import (
    BoxAnnotation, EmotionAnnotation, GoldItem, Person, ProtocolVersion, TaskAssignment, TaskKind, Worker,
)
from annotator.protocol import protocol_in_force
from catalog.models import Image
from catalog.splits import draw_split
from annotator.services.errors import WorkerNotEligible
from annotator.services.gold import draw_order
from annotator.services.scopes import WorkScope, work_scope

logger = logging.getLogger(__name__)

State = TaskAssignment.State


def ensure_worker_may_work(worker: Worker) -> None:
    """Raise ``WorkerNotEligible`` with the reason a blocked or failed worker sees."""
    if worker.kind != Worker.Kind.CROWD:
        raise WorkerNotEligible("internal", "This account holds a dataset's original answers: it is given no tasks.")
    if worker.is_blocked:
        reason = worker.blocked_reason or "an administrator blocked your account"
        raise WorkerNotEligible("blocked", f"Your account is blocked: {reason}.")
    if worker.qualification == Worker.Qualification.FAILED:
        raise WorkerNotEligible(
            "failed_qualification", "You did not pass the qualification test, so no tasks can be given to you."
        )


# A claim that finds every row it could take locked by other claimers is tried again, in a fresh
# transaction, this many times in all, pausing CLAIM_PAUSE seconds, then twice as long each time
# (0.02 + 0.04 + 0.08 + 0.16: at most 0.3 s of one request). A claimer holds its row for milliseconds.
CLAIM_ATTEMPTS = 5
CLAIM_PAUSE = 0.02
# Seconds a worker told "nothing right now" should wait before asking again (the API's Retry-After):
RETRY_AFTER_LOCKED = 2  # what it could do was locked by other claimers even after the retries
RETRY_AFTER_LATER = 30  # others hold what it could do (their tasks may expire) or images await their boxes
CONTROLS_PAUSED = "Your tasks are paused for now: new check items are being prepared. Please come back later."
RETRY_AFTER_DONE = 3600  # nothing is left for it; new images may still be added


@dataclass(frozen=True)
class WorkOutlook:
    """What ``work_outlook`` found for a worker the claim gave nothing to."""

    # A row the worker may take exists, yet the claim skipped it: another transaction holds it locked
    # (a claimer, or a write to its counters), or it came free a moment after the claim looked.
    claimable: bool
    held: bool  # a person the worker may annotate is taken by someone else's live task (which may expire)
    boxes_open: bool  # images are still in their box stage: their people will need answers

    @property
    def work_later(self) -> bool:
        return self.claimable or self.held or self.boxes_open


@dataclass(frozen=True)
class NextTask:
    """``next_task``'s answer: a task, or why there is none and when to ask again."""

    task: TaskAssignment | None
    outlook: str = ""  # without a task: "later" (work may come later) or "done" (nothing is left for this worker)
    retry_after: int | None = None  # without a task: seconds to wait before asking again
    finish_url: str = ""  # "done" for a worker whose work scope ends somewhere: where to go next

    LATER = "later"
    DONE = "done"


def assign_next_task(worker: Worker) -> TaskAssignment | None:
    """The worker's next task, or None when the pool has nothing for it now (``next_task`` says why)."""
    return next_task(worker).task


def next_task(worker: Worker) -> NextTask:
    """The worker's next task, or why there is none and when to ask again.

    A worker holds at most one live task: asking again returns the same one,
    so reloading the page never burns a person. Raises ``WorkerNotEligible``
    for blocked or failed workers and when the qualification test has no items.

    When all the worker could be given is locked by other claimers, the claim
    is tried again (``CLAIM_ATTEMPTS`` in all, with short pauses); each attempt
    is a transaction of its own, so no lock (the worker row's included) is held
    while pausing.
    """
    pause = CLAIM_PAUSE
    scope = work_scope(worker)
    protocol = protocol_in_force()  # once per request, whatever the attempts
    for attempt in range(1, CLAIM_ATTEMPTS + 1):
        task, outlook = _next_task_once(worker, scope, protocol)
        if task is not None:
            return NextTask(task)
        if outlook is None:  # a pending qualification test with no item to give now
            return NextTask(None, NextTask.LATER, RETRY_AFTER_LATER)
        if outlook is _SCOPE_FINISHED:
            return NextTask(None, NextTask.DONE, RETRY_AFTER_DONE, scope.finish_url)
        if not outlook.claimable or attempt == CLAIM_ATTEMPTS:
            break
        logger.debug("worker %s: every free row locked by other claimers (attempt %d)", worker.pk, attempt)
        time.sleep(pause)
        pause *= 2
    if outlook.claimable:
        return NextTask(None, NextTask.LATER, RETRY_AFTER_LOCKED)
    if outlook.work_later:
        return NextTask(None, NextTask.LATER, RETRY_AFTER_LATER)
    return NextTask(None, NextTask.DONE, RETRY_AFTER_DONE, scope.finish_url if scope is not None else "")


# ``_next_task_once``'s outlook for a worker whose work scope is finished (its quota met).
_SCOPE_FINISHED = WorkOutlook(claimable=False, held=False, boxes_open=False)


def _next_task_once(
    worker: Worker, scope: WorkScope | None = None, protocol: ProtocolVersion | None = None
) -> tuple[TaskAssignment | None, WorkOutlook | None]:
    """One attempt, in one transaction: a task, or None and the outlook (None for a pending qualification)."""
    from annotator.services.qualification import assign_qualification_item

    now = timezone.now()
    with transaction.atomic():
        _start_serialised(worker, now)
        ensure_worker_may_work(worker)
        live = _live_assignment(worker, now)
        if live is not None:
            return live, None
        if scope is not None and scope.finished:
            return None, _SCOPE_FINISHED
        if worker.qualification == Worker.Qualification.PENDING:
            item = assign_qualification_item(worker, now)
            if worker.qualification == Worker.Qualification.PENDING:
                return item, None
            ensure_worker_may_work(worker)  # the test just ended: failed workers stop here
        protocol = protocol or protocol_in_force()
        claim = (worker, now, scope, protocol)
        if control_is_due(worker.pk, tasks_given(worker), protocol):
            control = _assign_control(*claim)
            if control is not None:
                return control, None
        task = _assign_emotions(*claim) or _assign_boxes(*claim)
        if task is not None:
            return task, None
        return None, work_outlook(worker, scope, protocol)


def _start_serialised(worker: Worker, now: datetime) -> None:
    """First statement of every assignment transaction: a write to the worker row.

    It locks the row on PostgreSQL (one worker's requests run one at a time)
    and takes the write lock on SQLite (all assignments run one at a time).
    Then the worker's state is re-read, as an admin may have blocked it meanwhile.
    """
    Worker.objects.filter(pk=worker.pk).update(last_task_request_at=now)
    worker.refresh_from_db(fields=["qualification", "is_blocked", "blocked_reason", "qualified_at"])


def _live_assignment(worker: Worker, now: datetime) -> TaskAssignment | None:
    live = (
        TaskAssignment.objects.filter(worker=worker, state=State.ASSIGNED)
        .select_related("person", "image", "person__image")
        .order_by("assigned_at")
        .first()
    )
    if live is None:
        return None
    if live.expires_at <= now:
        close_assignment(live, State.EXPIRED, now)
        return None
    return live


def tasks_given(worker: Worker) -> int:
    return TaskAssignment.objects.filter(worker=worker, is_qualification=False).count()


def control_is_due(worker_id: int, task_index: int, protocol: ProtocolVersion | None = None) -> bool:
    """Whether task number ``task_index`` (0-based) of this worker is a hidden control.

    Each block of the protocol's ``control_block_size`` tasks holds exactly
    ``round(control_rate * control_block_size)`` controls at positions drawn from a
    generator seeded with the secret key, the worker and the block: fixed for
    the worker, unpredictable to it.
    """
    protocol = protocol or protocol_in_force()
    size = protocol.control_block_size
    per_block = min(size, round(protocol.control_rate * size))
    if per_block <= 0:
        return False
    block, position = divmod(task_index, size)
    positions = random.Random(f"{settings.SECRET_KEY}:controls:{worker_id}:{block}").sample(range(size), per_block)
    return position in positions


def _new_assignment(worker: Worker, now: datetime, protocol: ProtocolVersion, **target) -> TaskAssignment:
    return TaskAssignment.objects.create(
        worker=worker, expires_at=now + protocol.assignment_timeout, state=State.ASSIGNED, **target
    )


def _claim_first(queryset: QuerySet):
    """Lock and return the first row of ``queryset`` that no one else is claiming.

    ``FOR NO KEY UPDATE SKIP LOCKED OF self`` on PostgreSQL: it conflicts with
    other claimers' locks, not with the key-share locks of foreign-key checks.
    """
    return _skip_locked(queryset, of=("self",)).first()


def _skip_locked(queryset: QuerySet, **options) -> QuerySet:
    """``queryset`` locking its rows ``FOR NO KEY UPDATE SKIP LOCKED`` where the database has row locks."""
    features = connection.features
    if not features.has_select_for_update_skip_locked:
        return queryset  # SQLite: assignments are serialised by BEGIN IMMEDIATE
    return queryset.select_for_update(skip_locked=True, no_key=features.has_select_for_no_key_update, **options)


def unseen_by(worker: Worker, field: str) -> Exists:
    """True for rows whose ``field`` (person or image) was never assigned to ``worker``."""
    return ~Exists(TaskAssignment.objects.filter(worker=worker, **{field: OuterRef("pk")}))


def drawable_controls() -> QuerySet[GoldItem]:
    """Gold items hidden controls are drawn from: marked for control, not retired."""
    return GoldItem.objects.filter(for_control=True, retired=False)


def unseen_controls(worker: Worker, controls: QuerySet[GoldItem] | None = None) -> QuerySet[GoldItem]:
    """Drawable controls (or ``controls``) whose person or image this worker was never given."""
    seen = TaskAssignment.objects.filter(worker=worker).filter(
        Q(person=OuterRef("person")) | Q(image=OuterRef("image"))
    )
    return (drawable_controls() if controls is None else controls).filter(~Exists(seen))


def _assign_control(
    worker: Worker, now: datetime, scope: WorkScope | None, protocol: ProtocolVersion
) -> TaskAssignment | None:
    """The first control in this worker's own order (``draw_order``) it has not met, of a kind its scope allows.

    Met means given in any way, answered, skipped, reported or expired (and
    qualification items too): a worker never meets the same person or image
    twice, so a skipped control is never shown again. A worker who has met
    every control: the protocol's ``controls_exhausted`` says what happens
    (``_reuse_control``, or a pause). None when no control is drawable at all.
    """
    controls = drawable_controls()
    if scope is not None and scope.kinds is not None:
        controls = controls.filter(kind__in=sorted(scope.kinds))
    unseen = unseen_controls(worker, controls).values_list("pk", flat=True)
    order = draw_order(worker.pk, "controls", unseen)
    if not order:
        if not controls.exists():
            return None  # no controls at all: nothing to reuse, nothing to wait for
        if protocol.controls_exhausted == ProtocolVersion.ControlsExhausted.PAUSE:
            raise WorkerNotEligible("controls_exhausted", CONTROLS_PAUSED)
        return _reuse_control(worker, now, controls, protocol)
    gold = GoldItem.objects.select_related("person", "image").get(pk=order[0])
    return _new_assignment(worker, now, protocol, kind=gold.kind, person=gold.person, image=gold.image, gold_item=gold)


def _reuse_control(
    worker: Worker, now: datetime, controls: QuerySet[GoldItem], protocol: ProtocolVersion
) -> TaskAssignment | None:
    """The control this worker answered as a control longest ago, met again (``control_repeat`` one more).

    Only controls it answered as hidden controls come back: not one it
    skipped or reported (never given again), not a person it annotated as
    real work before the person became a control, nor a qualification item.
    """
    met_as_control = TaskAssignment.objects.filter(worker=worker, gold_item=OuterRef("pk"), is_qualification=False)
    answered = met_as_control.filter(state=State.SUBMITTED)
    last_met = (
        controls.filter(Exists(answered))
        .filter(~Exists(met_as_control.exclude(state=State.SUBMITTED)))
        .filter(~Exists(TaskAssignment.objects.filter(worker=worker).filter(
            Q(person=OuterRef("person")) | Q(image=OuterRef("image"))
        ).filter(Q(gold_item__isnull=True) | Q(is_qualification=True))))
        .annotate(
            last=Subquery(met_as_control.order_by("-assigned_at").values("assigned_at")[:1]),
            times=Subquery(
                met_as_control.order_by().values("worker").annotate(n=Count("*")).values("n"),
                output_field=IntegerField(),
            ),
        )
        .select_related("person", "image")
        .order_by("last", "pk")
        .first()
    )
    if last_met is None:
        return None
    return _new_assignment(
        worker, now, protocol, kind=last_met.kind, person=last_met.person, image=last_met.image, gold_item=last_met,
        control_repeat=last_met.times,
    )


def annotators_required(protocol: ProtocolVersion | None = None) -> Coalesce:
    """SQL expression: how many annotators a person needs: its pinned number, or its split's in the protocol."""
    protocol = protocol or protocol_in_force()
    return Coalesce(
        F("annotators_pinned"),
        Case(
            *[When(image__split=split, then=Value(count)) for split, count in protocol.annotators_per_split.items()],
            default=Value(protocol.annotators_unsplit),
            output_field=IntegerField(),
        ),
        output_field=IntegerField(),
    )


def box_annotators_required(protocol: ProtocolVersion | None = None) -> Coalesce:
    """SQL expression: how many box answers an image needs: its pinned number, or the protocol's."""
    protocol = protocol or protocol_in_force()
    return Coalesce(
        F("box_annotators_pinned"), Value(protocol.box_annotators_per_image), output_field=IntegerField()
    )


def emotion_pool(protocol: ProtocolVersion | None = None) -> QuerySet[Person]:
    """People whose boxes are final, whose image is not withdrawn, with an open slot; gold people excluded."""
    return (
        Person.objects.filter(
            box_status=Person.BoxStatus.FINAL,
            image__boxes_confirmed=True,
            image__reported_count__lt=settings.IMAGE_REPORTS_TO_WITHDRAW,
        )
        .alias(required=annotators_required(protocol))
        .filter(annotation_slots_taken__lt=F("required"))
        .filter(~Exists(GoldItem.objects.filter(person=OuterRef("pk"))))
    )


def images_awaiting_boxes() -> QuerySet[Image]:
    """Images in their box stage, not withdrawn, whether or not a slot is open.

    Gold images are left out, and so are images holding a gold person: a gold
    item's box is final by definition.
    """
    return (
        Image.objects.filter(boxes_confirmed=False, reported_count__lt=settings.IMAGE_REPORTS_TO_WITHDRAW)
        .filter(~Exists(GoldItem.objects.filter(image=OuterRef("pk"))))
        .filter(~Exists(GoldItem.objects.filter(person__image=OuterRef("pk"))))
    )


def box_pool(protocol: ProtocolVersion | None = None) -> QuerySet[Image]:
    """Images still waiting for person boxes, not withdrawn, with an open slot."""
    return (
        images_awaiting_boxes()
        .alias(required=box_annotators_required(protocol))
        .filter(box_slots_taken__lt=F("required"))
    )


def _in_scope(queryset: QuerySet, scope: WorkScope | None, kind: str, split_field: str) -> QuerySet:
    """``queryset`` narrowed to the scope's splits; empty when the scope leaves out ``kind``."""
    if scope is None:
        return queryset
    if not scope.allows_kind(kind):
        return queryset.none()
    if scope.splits is not None:
        queryset = queryset.filter(**{f"{split_field}__in": sorted(scope.splits)})
    return queryset


def work_outlook(
    worker: Worker, scope: WorkScope | None = None, protocol: ProtocolVersion | None = None
) -> WorkOutlook:
    """Why the claim gave ``worker`` nothing, in one query of four EXISTS, each led by an index.

    ``claimable``: the pools still hold a row the worker may take (the claim's own
    filters, without the lock), so other claimers had locked it. ``held``: a
    live task of someone else is on a person the worker has not seen (it may be
    submitted, or expire and come back). ``boxes_open``: an image is still in its
    box stage, so people may yet come out of it. None of the three: nothing is
    left that this worker has not seen and that still needs an answer.
    """
    protocol = protocol or protocol_in_force()
    held = TaskAssignment.objects.filter(
        state=State.ASSIGNED,
        gold_item__isnull=True,
        person__box_status=Person.BoxStatus.FINAL,
        person__image__boxes_confirmed=True,
        person__image__reported_count__lt=settings.IMAGE_REPORTS_TO_WITHDRAW,
    ).filter(~Exists(TaskAssignment.objects.filter(worker=worker, person=OuterRef("person"))))
    awaiting = images_awaiting_boxes()
    if scope is not None and scope.splits is not None:
        awaiting = awaiting.filter(split__in=sorted(scope.splits))
    row = (
        Worker.objects.filter(pk=worker.pk)
        .values(
            free_person=Exists(
                _in_scope(emotion_pool(protocol), scope, TaskKind.EMOTIONS, "image__split")
                .filter(unseen_by(worker, "person"))
            ),
            free_image=Exists(
                _in_scope(box_pool(protocol), scope, TaskKind.BOXES, "split").filter(unseen_by(worker, "image"))
            ),
            held=Exists(_in_scope(held, scope, TaskKind.EMOTIONS, "person__image__split")),
            boxes_open=Exists(awaiting),
        )
        .get()
    )
    return WorkOutlook(
        claimable=row["free_person"] or row["free_image"], held=row["held"], boxes_open=row["boxes_open"]
    )


def _assign_emotions(
    worker: Worker, now: datetime, scope: WorkScope | None, protocol: ProtocolVersion
) -> TaskAssignment | None:
    # Least-annotated first (index person_pool_order): every person gets a
    # first answer before anyone gets a second.
    person = _claim_first(
        _in_scope(emotion_pool(protocol), scope, TaskKind.EMOTIONS, "image__split")
        .filter(unseen_by(worker, "person"))
        .select_related("image")
        .order_by("annotation_slots_taken", "id")
    )
    if person is None:
        return None
    if not person.image.split and settings.SPLIT_IMAGES_AT == "annotation":
        # From now on its people need their split's number of annotators.
        draw_split(person.image)
    Person.objects.filter(pk=person.pk).update(annotation_slots_taken=F("annotation_slots_taken") + 1)
    return _new_assignment(worker, now, protocol, kind=TaskKind.EMOTIONS, person=person)


def _assign_boxes(
    worker: Worker, now: datetime, scope: WorkScope | None, protocol: ProtocolVersion
) -> TaskAssignment | None:
    pool = _in_scope(box_pool(protocol), scope, TaskKind.BOXES, "split")
    image = _claim_first(pool.filter(unseen_by(worker, "image")).order_by("id"))
    if image is None:
        return None
    Image.objects.filter(pk=image.pk).update(box_slots_taken=F("box_slots_taken") + 1)
    return _new_assignment(worker, now, protocol, kind=TaskKind.BOXES, image=image)


def close_assignment(assignment: TaskAssignment, state: str, now: datetime, *, reason: str = "") -> bool:
    """End a live assignment without an answer (skip, report, expiry) and free its slot.

    The row is closed only if it is still live, in the same UPDATE that checks
    it, and the slot is freed only by the call that closed it: the expiry beat
    and the worker's own next request may both find the same expired row, and
    freeing its slot twice would give the person one annotator too many.
    Returns whether this call closed it.
    """
    closed = TaskAssignment.objects.filter(pk=assignment.pk, state=State.ASSIGNED).update(
        state=state, finished_at=now, skip_reason=reason[:300]
    )
    if not closed:
        assignment.refresh_from_db(fields=["state", "finished_at", "skip_reason"])
        return False
    assignment.state, assignment.finished_at, assignment.skip_reason = state, now, reason[:300]
    if assignment.gold_item_id is not None:
        return True  # gold items take no slot in the pool
    if assignment.person_id is not None:
        Person.objects.filter(pk=assignment.person_id, annotation_slots_taken__gt=0).update(
            annotation_slots_taken=F("annotation_slots_taken") - 1
        )
    else:
        Image.objects.filter(pk=assignment.image_id, box_slots_taken__gt=0).update(
            box_slots_taken=F("box_slots_taken") - 1
        )
    return True


def release_live_tasks(worker: Worker, now: datetime | None = None) -> int:
    """End the worker's live tasks now (as expired): their slots go back to the pool at once, for other workers.

    For work withdrawn from outside the annotation (a panel's participant who
    returned the study or ran out of its time); answers already given stay.
    A qualification item ended this way counts as not passed, as an expired
    one does. Returns how many were ended.
    """
    from annotator.services.qualification import evaluate_qualification_if_complete

    now = now or timezone.now()
    with transaction.atomic():
        live = TaskAssignment.objects.select_for_update().filter(worker=worker, state=State.ASSIGNED).order_by("pk")
        released = [assignment for assignment in live if close_assignment(assignment, State.EXPIRED, now)]
        if any(a.is_qualification for a in released):
            evaluate_qualification_if_complete(Worker.objects.get(pk=worker.pk), now=now)
    if released:
        logger.info("released %d live task(s) of worker %s", len(released), worker.pk)
    return len(released)


def expire_stale_assignments(now: datetime | None = None) -> int:
    """Expire every live assignment past its deadline; their slots return to the pool.

    Rows being submitted right now are skipped (locked) and left to the submit.
    Returns how many expired.
    """
    from annotator.services.qualification import evaluate_qualification_if_complete

    now = now or timezone.now()
    with transaction.atomic():
        # Skipped: rows a submit has locked (FOR UPDATE); not rows only key-share locked by a foreign-key check.
        stale = _skip_locked(TaskAssignment.objects.filter(state=State.ASSIGNED, expires_at__lte=now))
        expired = [assignment for assignment in stale if close_assignment(assignment, State.EXPIRED, now)]
        for worker_id in {a.worker_id for a in expired if a.is_qualification}:
            evaluate_qualification_if_complete(Worker.objects.get(pk=worker_id))
    if expired:
        logger.info("expired %d stale assignments", len(expired))
    return len(expired)


def _count_of(queryset: QuerySet, field: str) -> Coalesce:
    counted = queryset.filter(**{field: OuterRef("pk")}).order_by().values(field).annotate(n=Count("*")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def recount_slots(person_ids: list[int] | None = None, image_ids: list[int] | None = None) -> None:
    """Recompute the pool counters from the rows themselves.

    Call after changing annotations outside the submit service (excluding a
    blocked worker's answers, bulk imports): excluded answers free their slot,
    so those people are annotated again. ``None`` recounts every row.
    """
    live = TaskAssignment.objects.filter(state=State.ASSIGNED, gold_item__isnull=True)
    people = Person.objects.all() if person_ids is None else Person.objects.filter(pk__in=person_ids)
    people.update(
        annotation_slots_taken=_count_of(EmotionAnnotation.objects.filter(excluded=False), "person")
        + _count_of(live, "person")
    )
    images = Image.objects.all() if image_ids is None else Image.objects.filter(pk__in=image_ids)
    images.update(
        box_slots_taken=_count_of(BoxAnnotation.objects.filter(excluded=False, is_gold=False), "image")
        + _count_of(live, "image")
    )
