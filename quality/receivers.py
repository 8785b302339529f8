"""Incremental recomputation: every new answer (or skip) asks for a refresh, in its own transaction.

A receiver rather than a call inside the submission service keeps quality
out of the annotator, which knows nothing of it; the request is an outbox
row (``quality.models.PendingRefresh``), so an answer never waits on the
broker, and a periodic task runs the refreshes.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from annotator.models import BoxAnnotation, EmotionAnnotation
from annotator.signals import original_answers_stored, task_given_back
from quality.services import queue_refresh_after_answer as queue_refresh
from quality.services import queue_refresh_after_import


@receiver(post_save, sender=EmotionAnnotation, dispatch_uid="quality_after_emotion_answer")
def emotion_answer_saved(sender, instance: EmotionAnnotation, created: bool, raw: bool = False, using=None, **kwargs) -> None:
    if created and not raw:
        queue_refresh(instance.worker_id, None if instance.is_gold else instance.person_id, using=using)


@receiver(post_save, sender=BoxAnnotation, dispatch_uid="quality_after_box_answer")
def box_answer_saved(sender, instance: BoxAnnotation, created: bool, raw: bool = False, using=None, **kwargs) -> None:
    if created and not raw:
        queue_refresh(instance.worker_id, None, using=using)


@receiver(task_given_back, dispatch_uid="quality_after_task_given_back")
def task_skipped_or_reported(sender, worker_id: int, **kwargs) -> None:
    """The worker's share of skipped tasks changed."""
    queue_refresh(worker_id, None)


@receiver(original_answers_stored, dispatch_uid="quality_after_imported_answers")
def imported_answers_stored(sender, worker_ids: list[int], person_ids: list[int], **kwargs) -> None:
    """A batch of a dataset's answers (bulk-inserted, so no post_save): one refresh for the batch."""
    queue_refresh_after_import(worker_ids, person_ids)
