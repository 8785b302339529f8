"""Campaigns: recruiting, admitting, paying and releasing crowd workers through Prolific and other panels.

- ``Marketplace``: a panel and how it talks (its id parameter, its exit URLs, its currency and minimum hourly pay).
- ``Campaign``: what a team runs on a marketplace: the work it serves, the session quota, the pay, the codes.
- ``Participant``: a person as the marketplace knows them, keyed by (marketplace, external id), with the worker
  account the annotator gives them. Never merged across marketplaces.
- ``ParticipantSession``: one bounded sitting (consent, qualification, N tasks or M minutes), bound to one
  marketplace submission.
- ``LedgerEntry``: every reward (approval), rejection, bonus and paid screen-out, written before the marketplace
  is called, under an idempotency key: the ledger cannot pay twice.
- ``WebhookEvent``: every marketplace event received, once (by its id).

Money is in whole cents (pence) of the marketplace's currency.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from annotator.models import Worker
from campaigns.rules import CampaignInvalid, check_campaign, check_marketplace


def _checked(row: models.Model, check) -> None:
    """Run a rule check, its failure as a ``ValidationError`` on the field it names."""
    try:
        check(row)
    except CampaignInvalid as error:
        names = {field.name for field in row._meta.fields}
        raise ValidationError({error.field: error.reason} if error.field in names else error.reason) from None


class Marketplace(models.Model):
    """A panel participants come from: how they arrive, where they go back, how they are paid."""

    class Kind(models.TextChoices):
        PROLIFIC = "prolific", "Prolific"
        CONNECT = "connect", "CloudResearch Connect"
        SONA = "sona", "SONA Systems"
        GENERIC = "generic", "Other panel (configurable id parameter)"

    class Currency(models.TextChoices):
        GBP = "GBP", "£ (GBP)"
        USD = "USD", "$ (USD)"
        EUR = "EUR", "€ (EUR)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.GBP)
    min_hourly_cents = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="The marketplace's minimum pay per hour, in cents. Empty: Prolific's (£6.00 or $8.00 an hour); "
        "no minimum for the others.",
    )
    id_parameter = models.CharField(
        max_length=40, blank=True,
        help_text="Query parameter carrying the participant's id. Empty: PROLIFIC_PID (Prolific), participantId "
        "(Connect), id (SONA's %SURVEY_CODE%); required for other panels.",
    )
    completion_url = models.CharField(
        max_length=500, blank=True,
        help_text="Where a participant goes after a completed session. Placeholders: {code}, {participant_id}, "
        "{session_id}, {study_id}. Empty: Prolific's https://app.prolific.com/submissions/complete?cc={code}.",
    )
    screen_out_url = models.CharField(
        max_length=500, blank=True, help_text="After a screen-out (failed qualification). Empty: the completion URL."
    )
    no_consent_url = models.CharField(
        max_length=500, blank=True, help_text="After declining consent. Empty: the completion URL."
    )
    allowed_group_id = models.CharField(
        max_length=64, blank=True,
        help_text="Prolific participant group kept in step with those who passed the qualification test.",
    )
    blocked_group_id = models.CharField(
        max_length=64, blank=True, help_text="Prolific participant group kept in step with those quality control blocked.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["prolific", "connect", "sona", "generic"]), name="marketplace_kind_valid"
            ),
            models.CheckConstraint(condition=~Q(kind="generic") | ~Q(id_parameter=""), name="marketplace_generic_has_id_parameter"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        _checked(self, check_marketplace)

    @property
    def has_api(self) -> bool:
        """Whether the platform calls this marketplace's API (studies, approvals, bonuses): Prolific only."""
        return self.kind == self.Kind.PROLIFIC


class Campaign(models.Model):
    """A recruitment campaign: a study on one marketplace serving some of the annotation work, in bounded sessions."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAUSED = "paused", "Paused"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True, help_text="The study URL is /c/<slug>/.")
    marketplace = models.ForeignKey(Marketplace, on_delete=models.PROTECT, related_name="campaigns")
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    task_kinds = models.JSONField(default=list, blank=True, help_text='Task kinds served: "boxes", "emotions". Empty: both.')
    splits = models.JSONField(
        default=list, blank=True,
        help_text='Splits served: "train", "val", "test", "" for images not split yet. Empty: every split.',
    )
    target_answers = models.PositiveIntegerField(null=True, blank=True, help_text="Stop admitting after this many answers.")
    target_participants = models.PositiveIntegerField(
        null=True, blank=True, help_text="Places: completed sessions wanted (Prolific's total_available_places)."
    )
    reward_cents = models.PositiveIntegerField(help_text="Reward per completed session, in cents of the marketplace's currency.")
    expected_minutes = models.PositiveIntegerField(help_text="Expected minutes per session (consent, qualification, tasks).")
    session_tasks = models.PositiveIntegerField(null=True, blank=True, help_text="Session quota: N tasks.")
    session_minutes = models.PositiveIntegerField(null=True, blank=True, help_text="Session quota: M minutes of work.")
    max_extra_tasks = models.PositiveIntegerField(
        default=0, help_text="Tasks a participant may add beyond the quota (each paid bonus_per_extra_task)."
    )
    allow_returning = models.BooleanField(default=False, help_text="Participants may take more than one session.")
    consent_text = models.TextField(help_text="The information and consent sheet shown before any work.")
    completion_code = models.CharField(max_length=40)
    screen_out_code = models.CharField(max_length=40)
    no_consent_code = models.CharField(max_length=40)
    screen_out_reward_cents = models.PositiveIntegerField(
        default=0, help_text="Paid screen-out (Prolific's fixed screen-out payment); 0: screened out unpaid."
    )
    auto_approve = models.BooleanField(
        default=False, help_text="Prolific approves completed submissions by itself (else an admin approves them here)."
    )
    bonus_per_control_cents = models.PositiveIntegerField(default=0, help_text="Bonus rule: per hidden control answered correctly.")
    bonus_per_extra_task_cents = models.PositiveIntegerField(default=0, help_text="Bonus rule: per task beyond the quota.")
    frame_ancestors = models.CharField(
        max_length=500, blank=True,
        help_text="Origins allowed to frame the pages of this campaign (https://panel.example.org ...). "
        "Empty: never framed (X-Frame-Options: DENY).",
    )
    external_study_id = models.CharField(max_length=64, blank=True, db_index=True, help_text="Prolific study id (STUDY_ID).")
    external_project_id = models.CharField(max_length=64, blank=True, help_text="Connect projectId, when checked.")
    external_status = models.CharField(max_length=32, blank=True, help_text="The study's status at the marketplace.")
    admissions_halted_at = models.DateTimeField(null=True, blank=True)
    admissions_halted_reason = models.CharField(
        max_length=300, blank=True, help_text="Set while the marketplace cannot be reached: no one new is admitted."
    )
    marketplace_failures = models.PositiveIntegerField(default=0)
    last_api_error = models.CharField(max_length=500, blank=True)
    last_api_error_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=["draft", "open", "paused", "closed"]), name="campaign_state_valid"),
            models.CheckConstraint(
                condition=Q(session_tasks__gt=0) | Q(session_minutes__gt=0), name="campaign_has_a_session_quota"
            ),
            models.CheckConstraint(condition=Q(expected_minutes__gt=0), name="campaign_expected_minutes_positive"),
            models.CheckConstraint(
                condition=~Q(completion_code="") & ~Q(screen_out_code="") & ~Q(no_consent_code=""),
                name="campaign_codes_present",
            ),
            models.CheckConstraint(
                condition=~Q(completion_code=F("screen_out_code")) & ~Q(completion_code=F("no_consent_code"))
                & ~Q(screen_out_code=F("no_consent_code")),
                name="campaign_codes_distinct",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Every rule of ``campaigns.rules`` (kinds, splits, quota, codes, the hourly minimum), as the admin's errors."""
        super().clean()
        _checked(self, check_campaign)

    @property
    def admitting(self) -> bool:
        return self.state == self.State.OPEN and not self.admissions_halted_at


class Participant(models.Model):
    """A marketplace's participant, with the worker account they work under; one per (marketplace, external id)."""

    marketplace = models.ForeignKey(Marketplace, on_delete=models.PROTECT, related_name="participants")
    external_id = models.CharField(max_length=64)
    worker = models.OneToOneField(Worker, on_delete=models.PROTECT, related_name="participant")
    groups_dirty = models.BooleanField(
        default=False, help_text="Qualification or block changed: the marketplace's participant groups need updating."
    )
    in_allowed_group = models.BooleanField(default=False)
    in_blocked_group = models.BooleanField(default=False)
    groups_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["marketplace", "external_id"], name="participant_once_per_marketplace"),
            models.CheckConstraint(condition=~Q(external_id=""), name="participant_external_id_present"),
        ]
        indexes = [models.Index(fields=["groups_dirty"], name="participant_groups_dirty", condition=Q(groups_dirty=True))]

    def __str__(self) -> str:
        return f"{self.external_id} ({self.marketplace})"


LIVE_SESSION_STATES = ("consent", "working")


class ParticipantSession(models.Model):
    """One sitting of a participant in a campaign, bound to one marketplace submission.

    ``submission_status`` is the marketplace's view (ACTIVE, AWAITING REVIEW,
    RETURNED, ...), and ``submission_status_at`` the time of the event that
    set it: an older event never overwrites a newer one.
    """

    class State(models.TextChoices):
        CONSENT = "consent", "Reading the information sheet"
        WORKING = "working", "Working"
        COMPLETED = "completed", "Completed"
        SCREENED_OUT = "screened_out", "Screened out"
        NO_CONSENT = "no_consent", "Declined consent"
        RELEASED = "released", "Returned, timed out or rejected at the marketplace"
        REPLACED = "replaced", "Replaced by a newer submission of the participant"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="sessions")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="sessions")
    state = models.CharField(max_length=12, choices=State.choices, default=State.CONSENT)
    external_session_id = models.CharField(max_length=64, blank=True, help_text="Prolific SESSION_ID, Connect assignmentId.")
    external_study_id = models.CharField(max_length=64, blank=True)
    submission_status = models.CharField(max_length=32, blank=True)
    submission_status_at = models.DateTimeField(null=True, blank=True)
    task_quota = models.PositiveIntegerField(null=True, blank=True)
    minute_quota = models.PositiveIntegerField(null=True, blank=True)
    extra_tasks_allowed = models.PositiveIntegerField(default=0)
    extra_offer_answered = models.BooleanField(default=False)
    started_at = models.DateTimeField(default=timezone.now)
    consented_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    # Figures written when the session ends (time and money honestly recorded).
    tasks_done = models.PositiveIntegerField(default=0)
    controls_passed = models.PositiveIntegerField(default=0)
    seconds_on_tasks = models.FloatField(default=0)
    active_seconds = models.FloatField(default=0)
    idle_seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["consent", "working", "completed", "screened_out", "no_consent", "released", "replaced"]),
                name="session_state_valid",
            ),
            # One live session per participant, whatever the campaign: their answers belong to one session.
            models.UniqueConstraint(
                fields=["participant"], condition=Q(state__in=LIVE_SESSION_STATES), name="session_one_live_per_participant"
            ),
            models.UniqueConstraint(
                fields=["campaign", "external_session_id"], condition=~Q(external_session_id=""),
                name="session_once_per_submission",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")), name="session_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(state__in=LIVE_SESSION_STATES) | Q(ended_at__isnull=False), name="session_ended_has_end"
            ),
        ]
        indexes = [models.Index(fields=["campaign", "state"], name="session_campaign_state")]

    def __str__(self) -> str:
        return f"session {self.pk} of {self.participant} in {self.campaign}"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_SESSION_STATES


class LedgerEntry(models.Model):
    """One movement of money (or a rejection), written before the marketplace is called.

    States: ``planned`` (written, money committed, nothing sent), ``sending``
    (the call is being made), ``unknown`` (the call's answer was lost:
    reconciled from the marketplace's own record before anything is sent
    again), ``paid`` (done: the marketplace confirmed it; for a rejection, it
    was rejected), ``failed`` (the marketplace refused: nothing happened),
    ``cancelled`` (not owed after all, e.g. the submission was returned).
    """

    class Kind(models.TextChoices):
        REWARD = "reward", "Reward (approval of the submission)"
        REJECTION = "rejection", "Rejection"
        BONUS = "bonus", "Bonus"
        SCREEN_OUT = "screen_out", "Paid screen-out"

    class State(models.TextChoices):
        PLANNED = "planned", "Planned"
        SENDING = "sending", "Sending"
        UNKNOWN = "unknown", "Outcome unknown: to reconcile"
        PAID = "paid", "Done"
        FAILED = "failed", "Refused by the marketplace"
        CANCELLED = "cancelled", "Cancelled"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="ledger")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="ledger")
    session = models.ForeignKey(ParticipantSession, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PLANNED)
    amount_cents = models.PositiveIntegerField(default=0)
    currency = models.CharField(max_length=3)
    idempotency_key = models.CharField(max_length=120, unique=True)
    external_ref = models.CharField(max_length=64, blank=True, help_text="The marketplace's id of the call (bulk bonus id).")
    rule = models.CharField(max_length=120, blank=True, help_text="What made the row: the bonus rule, an admin's decision.")
    rejection_category = models.CharField(max_length=32, blank=True)
    message = models.TextField(blank=True, help_text="The rejection's message to the participant.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["reward", "rejection", "bonus", "screen_out"]), name="ledger_kind_valid"),
            models.CheckConstraint(
                condition=Q(state__in=["planned", "sending", "unknown", "paid", "failed", "cancelled"]), name="ledger_state_valid"
            ),
            models.CheckConstraint(condition=~Q(kind="rejection") | Q(amount_cents=0), name="ledger_rejection_moves_no_money"),
            models.CheckConstraint(condition=Q(kind="rejection") | Q(amount_cents__gt=0), name="ledger_payment_positive"),
            models.CheckConstraint(condition=~Q(state="paid") | Q(settled_at__isnull=False), name="ledger_paid_has_time"),
        ]
        indexes = [models.Index(fields=["state"], name="ledger_state")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount_cents / 100:.2f} {self.currency} ({self.state})"


class WebhookEvent(models.Model):
    """A marketplace event received, stored once by its id (``X-Event-ID``): a redelivery is acknowledged and skipped."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        STALE = "stale", "Older than what is known: not applied"
        UNKNOWN_RESOURCE = "unknown", "About nothing of this platform"
        IGNORED = "ignored", "Nothing to do"

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=40, blank=True)
    sent_at = models.DateTimeField(help_text="When the marketplace sent the event (X-Timestamp): events are ordered by it.")
    received_at = models.DateTimeField(default=timezone.now)
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event_type} {self.resource_id} {self.status} ({self.event_id})"
