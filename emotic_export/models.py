"""Immutable, versioned dataset snapshots."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class DatasetSnapshot(models.Model):
    """A frozen export. Files become visible only when ``state`` is complete."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        BUILDING = "building", "Building"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    name = models.SlugField(max_length=100, unique=True)
    version = models.PositiveIntegerField(default=1)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    formats = models.JSONField(default=list, help_text="Formats written: mat, npy, jsonl, coco.")
    split_rule = models.CharField(max_length=50, default="stratified", help_text="How unplaced images got a split.")
    split_ratios = models.JSONField(default=dict, help_text="Share of images per split, e.g. train 0.7.")
    split_seed = models.IntegerField(default=0)
    label_rule = models.CharField(max_length=30, default="union-mean", help_text="How combined labels were made.")
    require_review = models.BooleanField(
        default=False, help_text="Only annotations an admin accepted (otherwise: every one not rejected)."
    )
    counts = models.JSONField(default=dict, blank=True, help_text="Images and people per split.")
    agreement = models.JSONField(default=dict, blank=True)
    storage_key = models.CharField(max_length=500, blank=True, help_text="Prefix of the files in storage.")
    archive_key = models.CharField(max_length=500, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    progress = models.FloatField(default=0)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=50, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "building", "complete", "failed"]), name="snapshot_state_valid"
            ),
            models.CheckConstraint(condition=Q(progress__gte=0) & Q(progress__lte=1), name="snapshot_progress_unit"),
            models.CheckConstraint(
                condition=~Q(state="complete") | (~Q(storage_key="") & Q(completed_at__isnull=False)),
                name="snapshot_complete_has_files",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.state})"
