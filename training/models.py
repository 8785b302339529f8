"""A training run of the recogniser, launched and watched from the admin."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class TrainingRun(models.Model):
    class Mode(models.TextChoices):
        BODY = "body", "Body only (B)"
        CONTEXT = "context", "Context only (I)"
        BODY_CONTEXT = "body_context", "Body + context (B+I)"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    snapshot = models.ForeignKey("emotic_export.DatasetSnapshot", on_delete=models.PROTECT, related_name="training_runs")
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.BODY_CONTEXT)
    hyperparameters = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    epoch = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    last_loss = models.FloatField(null=True, blank=True)
    best_val_map = models.FloatField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True, help_text="Per-epoch losses and validation mAP.")
    metrics = models.JSONField(default=dict, blank=True, help_text="The final evaluation report.")
    checkpoint_key = models.CharField(max_length=500, blank=True)
    report_key = models.CharField(max_length=500, blank=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=50, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=["body", "context", "body_context"]), name="run_mode_valid"),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="run_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(best_val_map__isnull=True) | (Q(best_val_map__gte=0) & Q(best_val_map__lte=1)),
                name="run_map_unit",
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.get_mode_display()}, {self.state})"
