"""Worker trust: blocking (automatic or by an admin) and unblocking, reversibly.

This module decides and records (the reason, who, the trust event, the
figures refreshed); ``annotator.services.standing`` carries a block into the
annotation data: the worker's tasks stop, their answers and the people they
drew alone are excluded (kept, left out of figures and exports), and their
images go back to box drawing. Unblocking (an admin's decision, never
automatic) restores them, and restarts the worker's gold window: control
answers from before count no more.
"""

from __future__ import annotations

import logging

import numpy as np
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from annotator.models import Worker
from annotator.protocol import protocol_in_force
from annotator.services.standing import block_worker_work, unblock_worker_work
from quality.errors import QualityError
from quality.models import WorkerTrustEvent
from quality.stored_figures import refresh_people, refresh_worker_figures
from quality.worker_figures import should_block

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
    with transaction.atomic():
        changed = block_worker_work(worker.pk, reason=reason, automatically=automatically, now=timezone.now())
        if changed is None:
            return None
        event = WorkerTrustEvent.objects.create(
            worker=changed.worker, kind=WorkerTrustEvent.Kind.BLOCKED, automatic=automatically, reason=reason,
            gold_accuracy=gold_accuracy, annotations_changed=changed.answers_changed, by=by,
        )
        refresh_people(changed.person_ids)
    worker.refresh_from_db()
    logger.info("blocked worker %s (%s): %s; %d answers excluded", worker.pk, "auto" if automatically else "admin",
                reason, changed.answers_changed)
    return event


def unblock_worker(worker: Worker, *, by: AbstractBaseUser | None = None, note: str = "") -> WorkerTrustEvent | None:
    """Unblock ``worker`` and restore their work; None (and no change) if not blocked."""
    note = _checked_reason(note, required=False)
    with transaction.atomic():
        changed = unblock_worker_work(worker.pk)
        if changed is None:
            return None
        event = WorkerTrustEvent.objects.create(
            worker=changed.worker, kind=WorkerTrustEvent.Kind.UNBLOCKED, reason=note,
            annotations_changed=changed.answers_changed, by=by,
        )
        refresh_people(changed.person_ids)
        refresh_worker_figures([worker.pk])  # the gold window starts again from here
    worker.refresh_from_db()
    logger.info("unblocked worker %s; %d answers restored", worker.pk, changed.answers_changed)
    return event


def automatic_block_reason(accuracy: float, answers: int) -> str:
    return (
        f"gold accuracy {accuracy:.0%} over the last {answers} control answers "
        f"is below {protocol_in_force().trust_min_accuracy:.0%}"
    )


def apply_automatic_blocks(
    worker_ids: np.ndarray, window_accuracy: np.ndarray, window_answers: np.ndarray
) -> list[WorkerTrustEvent]:
    """Block every worker whom the trust rule (``should_block``) condemns; the arrays run over ``worker_ids``."""
    events = []
    protocol = protocol_in_force()
    for worker_id, accuracy, answers in zip(worker_ids.tolist(), window_accuracy.tolist(), window_answers.tolist()):
        if not should_block(accuracy, int(answers), protocol):
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
