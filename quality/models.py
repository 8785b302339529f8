"""What the quality service stores: per-person agreement, reports and worker trust events.

They hold *computed* figures: every row can be rebuilt from the annotations
by ``quality.services``. The tables keep the names they had when quality was
part of the annotator app (``annotator_*``): the move changed no data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from emotic.taxonomy import ALL_CATEGORIES_MASK


class PersonAgreement(models.Model):
    """Agreement and combined labels of one person over its counted answers.

    Counted answers are the ones exports read: not rejected, not excluded,
    not gold, by a worker who is not blocked. NULL marks a figure that is
    not defined (fewer than two annotators; kappa when every annotator chose
    every category). ``dawid_skene_mask`` is NULL until the next full
    recomputation after the person's answers changed, because Dawid-Skene
    weighs each worker by all their answers, not this person's alone.
    """

    person = models.OneToOneField(
        "annotator.Person", primary_key=True, on_delete=models.CASCADE, related_name="agreement"
    )
    annotators = models.PositiveSmallIntegerField(help_text="Counted answers.")
    fleiss_kappa = models.FloatField(null=True, blank=True, help_text="Over the 26 category decisions (TPAMI).")
    valence_std = models.FloatField(null=True, blank=True)
    arousal_std = models.FloatField(null=True, blank=True)
    dominance_std = models.FloatField(null=True, blank=True)
    union_mask = models.PositiveIntegerField(default=0, help_text="Categories any annotator chose (EMOTIC's rule).")
    majority_mask = models.PositiveIntegerField(default=0, help_text="Categories more than half chose.")
    dawid_skene_mask = models.PositiveIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        db_table = "annotator_personagreement"
        ordering = ["person_id"]
        verbose_name = "person agreement"
        indexes = [models.Index(fields=["fleiss_kappa"], name="person_agreement_kappa")]
        constraints = [
            models.CheckConstraint(
                condition=Q(fleiss_kappa__isnull=True) | Q(fleiss_kappa__lte=1), name="person_agreement_kappa_max"
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{d}_std__isnull": True}) | Q(**{f"{d}_std__gte": 0}),
                    name=f"person_agreement_{d}_std_nonnegative",
                )
                for d in ("valence", "arousal", "dominance")
            ],
            models.CheckConstraint(
                condition=Q(union_mask__lte=ALL_CATEGORIES_MASK)
                & Q(majority_mask__lte=ALL_CATEGORIES_MASK)
                & (Q(dawid_skene_mask__isnull=True) | Q(dawid_skene_mask__lte=ALL_CATEGORIES_MASK)),
                name="person_agreement_masks_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"agreement of person {self.person_id}"


class QualityReport(models.Model):
    """One full recomputation: the dataset-wide figures per split, as JSON.

    ``figures`` maps a scope ("all", "train", "val", "test", "unassigned")
    to the figures of ``quality.figures.dataset_figures``; an
    undefined figure is null.
    """

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Periodic task"
        ADMIN = "admin", "Started by an admin"
        COMMAND = "command", "Command line or shell"

    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    figures = models.JSONField(default=dict)
    workers_blocked = models.PositiveIntegerField(default=0, help_text="Blocked automatically by this run.")
    seconds = models.FloatField(default=0, help_text="How long the recomputation took.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "annotator_qualityreport"
        ordering = ["-created_at", "-id"]
        verbose_name = "quality report"
        verbose_name_plural = "quality dashboard"
        constraints = [
            models.CheckConstraint(
                condition=Q(trigger__in=["schedule", "admin", "command"]), name="quality_report_trigger_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"quality report {self.created_at:%Y-%m-%d %H:%M}"


class Recomputation(models.Model):
    """A full recomputation asked for (by an admin or the beat), while it waits, runs, and after.

    At most one is ``active`` (queued or running) at a time: the database's
    unique constraint says so, so a second request while one is pending is
    refused however many web processes ask at once. One that has not finished
    after ``QUALITY_RECOMPUTE_TIMEOUT_MINUTES`` is taken for lost (its worker
    died) and no longer blocks the next.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=10, choices=QualityReport.Trigger.choices)
    requested_by = models.CharField(max_length=150, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    active = models.BooleanField(null=True, default=True, help_text="True while queued or running; NULL after.")
    report = models.ForeignKey(QualityReport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=Q(active=True), name="one_active_recomputation"),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running"], active=True) | Q(state__in=["done", "failed"], active__isnull=True),
                name="recomputation_active_while_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"recomputation {self.pk} ({self.state})"


class WorkerTrustEvent(models.Model):
    """A block or unblock of a worker, automatic or by an admin: the worker's trust history."""

    class Kind(models.TextChoices):
        BLOCKED = "blocked", "Blocked"
        UNBLOCKED = "unblocked", "Unblocked"

    worker = models.ForeignKey("annotator.Worker", on_delete=models.CASCADE, related_name="trust_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    automatic = models.BooleanField(default=False)
    reason = models.CharField(max_length=300, blank=True)
    gold_accuracy = models.FloatField(null=True, blank=True, help_text="Over the gold window, when it happened.")
    annotations_changed = models.PositiveIntegerField(default=0, help_text="Answers excluded or restored.")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "annotator_workertrustevent"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["worker", "kind", "created_at"], name="trust_event_worker_kind")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["blocked", "unblocked"]), name="trust_event_kind_valid"),
            models.CheckConstraint(
                condition=~(Q(kind="unblocked") & Q(automatic=True)), name="trust_event_unblock_by_admin"
            ),
        ]

    def __str__(self) -> str:
        how = "automatically" if self.automatic else "by an admin"
        return f"{self.worker} {self.kind} {how} at {self.created_at:%Y-%m-%d %H:%M}"


class PendingRefresh(models.Model):
    """A request to refresh figures after an answer or a skip: an outbox row, drained by a periodic task.

    Written in the answer's own transaction, so the request path never
    waits on the Celery broker (a hung Redis stalls nobody) and no request
    is lost when the broker is down; ``quality.services.drain_pending_refreshes``
    turns every row waiting into one refresh of the workers and people concerned.
    """

    worker = models.ForeignKey("annotator.Worker", on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey("annotator.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "pending refresh"

    def __str__(self) -> str:
        return f"refresh worker {self.worker_id}" + (f" and person {self.person_id}" if self.person_id else "")
