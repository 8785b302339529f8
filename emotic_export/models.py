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


class ArrayShard(models.Model):
    """A run of one snapshot split's images whose pixel rows any worker may make (``emotic_export.array_shards``).

    Pending until made; a helper worker leaves its rows in storage (done, ``part_key``) for the
    snapshot's builder to copy into place (merged); rows the builder makes itself go straight to merged.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Made, waiting to be copied into place"
        MERGED = "merged", "In place"
        FAILED = "failed", "Failed"

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="array_shards")
    split = models.CharField(max_length=5)
    index = models.PositiveIntegerField()
    first_row = models.PositiveIntegerField(help_text="The split's row of the shard's first person.")
    rows = models.PositiveIntegerField()
    work = models.JSONField(help_text="Per image: storage key, path, size, boxes, first row (array_shards.shard_work).")
    state = models.CharField(max_length=7, choices=State.choices, default=State.PENDING)
    claim = models.CharField(max_length=32, blank=True, help_text="Token of the claim in force; a stale worker's result is dropped.")
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    part_key = models.CharField(max_length=500, blank=True, help_text="Stored rows of a done shard: <key>-context.npy, <key>-body.npy.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["snapshot", "split", "index"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "split", "index"], name="array_shard_unique_index"),
            models.CheckConstraint(condition=Q(state__in=["pending", "done", "merged", "failed"]), name="array_shard_state_valid"),
            models.CheckConstraint(condition=~Q(state="done") | ~Q(part_key=""), name="array_shard_done_has_part"),
            models.CheckConstraint(condition=Q(rows__gt=0), name="array_shard_has_rows"),
        ]
        indexes = [models.Index(fields=["snapshot", "state"], name="array_shard_snapshot_state")]

    def __str__(self) -> str:
        return f"{self.snapshot_id} {self.split}[{self.index}] ({self.state})"
