"""The qualification test: a short run of gold items a new worker must pass.

A pending worker is given the protocol's ``qualification_items`` items (fewer if
fewer exist) marked ``for_qualification`` and not retired, one at a time, in
an order of its own (``gold.draw_order``): from a pool larger than the test,
each account gets its own subset, so what one account learnt of its items
serves another little. When that many are answered the worker is qualified
if at least the protocol's ``qualification_pass_rate`` of them were
acceptable. A worker taking the test when a change was applied to new work
only is judged by the version pinned on it (``Worker.qualification_protocol``).

A skipped or reported item is no failure: it is not counted, and another item
takes its place (an item that expired unanswered is replaced too). The test
ends early only when no item is left to draw, and then the items missing
count as not accepted.

Attempts: each run of the test is an attempt (``Worker.qualification_attempt``;
its items carry the number). A worker who fails with attempts left (the
protocol's ``qualification_attempts``) may start the next one after its
``qualification_retry_wait_hours``; an admin's reset starts the next one at
once. Only the items of the attempt in progress count, so a reset really
resets. A new attempt draws the items the worker has never met first, then
those met in earlier attempts.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from annotator.models import GoldItem, ProtocolVersion, TaskAssignment, Worker
from annotator.protocol import protocol_in_force
from annotator.services.errors import WorkerNotEligible
from annotator.services.gold import draw_order

State = TaskAssignment.State
# Given back or out of time: shown in the history, never counted (another item replaces it).
ANSWERED_STATES = (State.SUBMITTED, State.SKIPPED, State.REPORTED)
COUNTED_STATES = (State.SUBMITTED,)


def qualification_pool():
    """The gold items the test is drawn from: marked for qualification, not retired."""
    return GoldItem.objects.filter(for_qualification=True, retired=False)


def qualification_protocol_for(worker: Worker | None = None) -> ProtocolVersion:
    """The protocol the worker's test is judged by: the one pinned on it, or the one in force."""
    if worker is not None and worker.qualification_protocol_id is not None:
        return ProtocolVersion.objects.get(pk=worker.qualification_protocol_id)
    return protocol_in_force()


def qualification_size(worker: Worker | None = None, protocol: ProtocolVersion | None = None) -> int:
    """Items in the test (of ``worker``, where one is pinned): the protocol's length, or fewer if fewer exist."""
    protocol = protocol or qualification_protocol_for(worker)
    return min(protocol.qualification_items, qualification_pool().count())


def attempt_items(worker: Worker):
    """The qualification items of the worker's attempt in progress (or its last one)."""
    return TaskAssignment.objects.filter(worker=worker, is_qualification=True, attempt=worker.qualification_attempt)


def _met(worker: Worker, **attempt):
    return TaskAssignment.objects.filter(worker=worker, **attempt).filter(
        Q(person=OuterRef("person")) | Q(image=OuterRef("image"))
    )


def _drawable_items(worker: Worker):
    """Items this attempt has not met yet (nor met as a hidden control)."""
    in_attempt = _met(worker, is_qualification=True, attempt=worker.qualification_attempt)
    as_control = _met(worker, is_qualification=False)
    return qualification_pool().filter(~Exists(in_attempt) & ~Exists(as_control))


def _next_item(worker: Worker) -> GoldItem | None:
    drawable = list(_drawable_items(worker).values_list("pk", flat=True))
    if not drawable:
        return None
    met_before = set(
        TaskAssignment.objects.filter(worker=worker, is_qualification=True, gold_item__in=drawable).values_list(
            "gold_item_id", flat=True
        )
    )
    order = draw_order(worker.pk, "qualification", drawable)
    order.sort(key=lambda pk: pk in met_before)  # stable: never met first, each group in the worker's order
    return GoldItem.objects.get(pk=order[0])


def assign_qualification_item(worker: Worker, now: datetime) -> TaskAssignment | None:
    """The pending worker's next qualification item; None once the test is complete.

    Runs inside the transaction of ``next_task``'s attempt. When the test is complete
    the worker's state is updated here and the caller goes on accordingly.
    """
    protocol = qualification_protocol_for(worker)
    size = qualification_size(protocol=protocol)
    if size == 0:
        raise WorkerNotEligible(
            "qualification_unavailable",
            "The qualification test is not ready yet: no qualification items have been set up. Please come back later.",
        )
    counted = attempt_items(worker).filter(state__in=COUNTED_STATES).count()
    gold = _next_item(worker) if counted < size else None
    if gold is None:
        evaluate_qualification_if_complete(worker, now=now)
        return None
    return TaskAssignment.objects.create(
        worker=worker,
        kind=gold.kind,
        person=gold.person,
        image=gold.image,
        gold_item=gold,
        is_qualification=True,
        attempt=worker.qualification_attempt,
        started_at=now,
        expires_at=now + protocol_in_force().assignment_timeout,
    )


def evaluate_qualification_if_complete(worker: Worker, now: datetime | None = None) -> str:
    """Qualify or fail a pending worker whose test is over; returns the worker's state.

    The test is over when nothing is live and either enough items were
    answered or no item is left to draw (the missing ones count as not
    accepted). A worker who fails with attempts left gets a time from which
    it may try again.
    """
    if worker.qualification != Worker.Qualification.PENDING:
        return worker.qualification
    mine = attempt_items(worker)
    if mine.filter(state=State.ASSIGNED).exists():
        return worker.qualification
    protocol = qualification_protocol_for(worker)
    size = qualification_size(protocol=protocol)
    counted = mine.filter(state__in=COUNTED_STATES)
    if size == 0 or (counted.count() < size and _drawable_items(worker).exists()):
        return worker.qualification
    now = now or timezone.now()
    passed = counted.filter(gold_passed=True).count()
    if passed / size >= protocol.qualification_pass_rate:
        worker.qualification, worker.qualified_at, worker.qualification_retry_at = (
            Worker.Qualification.QUALIFIED, now, None,
        )
    else:
        worker.qualification, worker.qualified_at = Worker.Qualification.FAILED, None
        attempts, wait = protocol.qualification_retry
        attempts_left = attempts - worker.qualification_attempt
        worker.qualification_retry_at = now + wait if attempts_left > 0 else None
    worker.save(update_fields=["qualification", "qualified_at", "qualification_retry_at"])
    return worker.qualification


def attempts_left(worker: Worker) -> int:
    """Attempts the worker may still start after the one in progress (or its last one)."""
    attempts, _ = qualification_protocol_for(worker).qualification_retry
    return max(0, attempts - worker.qualification_attempt)


def begin_retry_if_due(worker: Worker, now: datetime) -> bool:
    """Start the next attempt of a failed worker whose waiting time is over; returns whether it started."""
    retry_at = worker.qualification_retry_at
    if worker.qualification != Worker.Qualification.FAILED or retry_at is None or retry_at > now:
        return False
    _start_attempt(worker)
    return True


def reset_qualification(worker: Worker, now: datetime | None = None) -> Worker:
    """An admin's reset: the worker takes the test afresh, now (the next attempt; earlier answers stay on record).

    A qualification item the worker holds is ended (as expired). Works from any
    state: a failed worker gets another chance, a qualified one is tested again.
    """
    now = now or timezone.now()
    # Qualification items take no slot in the pool: closing them frees nothing.
    attempt_items(worker).filter(state=State.ASSIGNED).update(state=State.EXPIRED, finished_at=now)
    _start_attempt(worker)
    return worker


def _start_attempt(worker: Worker) -> None:
    worker.qualification = Worker.Qualification.PENDING
    worker.qualified_at = None
    worker.qualification_retry_at = None
    worker.qualification_attempt += 1
    worker.save(update_fields=["qualification", "qualified_at", "qualification_retry_at", "qualification_attempt"])
