"""The qualification test: a short run of gold items a new worker must pass.

A pending worker is given the protocol's ``qualification_items`` items (fewer if
fewer exist) marked ``for_qualification`` and not retired, one at a time, in
an order of its own (``gold.draw_order``): from a pool larger than the test,
each account gets its own subset, so what one account learnt of its items
serves another little. When all are answered the worker is qualified if at
least the protocol's ``qualification_pass_rate`` of them were acceptable; a
skipped, reported or expired item counts as not. A worker taking the test
when a change was applied to new work only is judged by the version pinned
on it (``Worker.qualification_protocol``).
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
ANSWERED_STATES = (State.SUBMITTED, State.SKIPPED, State.REPORTED)


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


def _unseen_qualification_items(worker: Worker):
    seen = TaskAssignment.objects.filter(worker=worker).filter(
        Q(person=OuterRef("person")) | Q(image=OuterRef("image"))
    )
    return qualification_pool().filter(~Exists(seen))


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
    answered = TaskAssignment.objects.filter(worker=worker, is_qualification=True, state__in=ANSWERED_STATES).count()
    gold = None
    if answered < size:
        order = draw_order(worker.pk, "qualification", _unseen_qualification_items(worker).values_list("pk", flat=True))
        gold = GoldItem.objects.get(pk=order[0]) if order else None
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
        expires_at=now + protocol_in_force().assignment_timeout,
    )


def evaluate_qualification_if_complete(worker: Worker, now: datetime | None = None) -> str:
    """Qualify or fail a pending worker whose test is over; returns the worker's state.

    The test is over when nothing is live and either enough items were
    answered or no unseen item is left (items that expired unanswered count
    against the worker).
    """
    if worker.qualification != Worker.Qualification.PENDING:
        return worker.qualification
    mine = TaskAssignment.objects.filter(worker=worker, is_qualification=True)
    if mine.filter(state=State.ASSIGNED).exists():
        return worker.qualification
    protocol = qualification_protocol_for(worker)
    size = qualification_size(protocol=protocol)
    answered = mine.filter(state__in=ANSWERED_STATES)
    if size == 0 or (answered.count() < size and _unseen_qualification_items(worker).exists()):
        return worker.qualification
    passed = answered.filter(gold_passed=True).count()
    worker.qualification = (
        Worker.Qualification.QUALIFIED
        if passed / size >= protocol.qualification_pass_rate
        else Worker.Qualification.FAILED
    )
    worker.qualified_at = (now or timezone.now()) if worker.qualification == Worker.Qualification.QUALIFIED else None
    worker.save(update_fields=["qualification", "qualified_at"])
    return worker.qualification
