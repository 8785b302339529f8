"""Campaigns follow the annotator and quality without being called: a participant who passes (or fails) the
qualification test, or whom quality control blocks or unblocks, needs their marketplace groups updated."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from annotator.models import Worker
from campaigns.services.sync import mark_groups_dirty
from quality.models import WorkerTrustEvent


@receiver(post_save, sender=Worker, dispatch_uid="campaigns_after_worker_saved")
def worker_saved(sender, instance: Worker, created: bool, update_fields=None, raw: bool = False, **kwargs) -> None:
    if not raw and not created and (update_fields is None or "qualification" in update_fields):
        mark_groups_dirty(instance.pk)


@receiver(post_save, sender=WorkerTrustEvent, dispatch_uid="campaigns_after_trust_event")
def trust_event_saved(sender, instance: WorkerTrustEvent, created: bool, raw: bool = False, **kwargs) -> None:
    if created and not raw:
        mark_groups_dirty(instance.worker_id)
