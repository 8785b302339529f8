"""People, workers, assignments, annotations and gold items (images are the catalog's).

Invariants that matter for the dataset live in the database as constraints,
so no code path (admin, API, shell, bulk import) can store a bad row.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from catalog.models import Image
from emotic.boxes import BoxError, validate_boxes
from emotic.taxonomy import AGES, ALL_CATEGORIES_MASK, CATEGORY_NAMES, GENDERS, VAD_MAX, VAD_MIN, mask_to_categories

Gender = models.TextChoices("Gender", [(g, g) for g in GENDERS])
Age = models.TextChoices("Age", [(a, a) for a in AGES])


class Person(models.Model):
    """One person in an image, as a box in pixels [x1, y1, x2, y2).

    The image's size is copied here (images are immutable) so the database
    itself can check that the box lies inside the image.
    """

    class BoxOrigin(models.TextChoices):
        IMPORTED = "imported", "Imported from a dataset"
        WORKER = "worker", "Drawn by a worker"
        CONSENSUS = "consensus", "Consensus of workers"

    class BoxStatus(models.TextChoices):
        FINAL = "final", "Final"
        # Drawn by a worker who was then blocked: out until an admin unblocks them.
        EXCLUDED = "excluded", "Drawn by a blocked worker"
        # A later settlement of the image's boxes dropped it; kept for the answers it has.
        WITHDRAWN = "withdrawn", "Dropped when the image's boxes were drawn again"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="people")
    x1 = models.IntegerField()
    y1 = models.IntegerField()
    x2 = models.IntegerField()
    y2 = models.IntegerField()
    image_width = models.PositiveIntegerField(editable=False)
    image_height = models.PositiveIntegerField(editable=False)
    box_origin = models.CharField(max_length=10, choices=BoxOrigin.choices)
    box_status = models.CharField(
        max_length=10,
        choices=BoxStatus.choices,
        default=BoxStatus.FINAL,
        help_text="Only people with final boxes are annotated and exported.",
    )
    box_answer = models.ForeignKey(
        "BoxAnnotation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="people",
        help_text="The one worker's box answer this box comes from (empty for imported and consensus boxes).",
    )
    annotation_slots_taken = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Emotion answers plus live assignments; kept under the row lock by the assignment service.",
    )
    annotators_pinned = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="Annotators this person needs whatever the protocol now says: its work had begun when a change "
        "was applied to new work only (services/protocol.py).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["image_id", "id"]
        verbose_name_plural = "people"
        # The task pool is read in this order: least-annotated people first.
        indexes = [models.Index(fields=["annotation_slots_taken", "id"], name="person_pool_order")]
        constraints = [
            models.CheckConstraint(condition=Q(x1__gte=0) & Q(y1__gte=0), name="person_box_origin_inside"),
            models.CheckConstraint(condition=Q(x2__gt=F("x1")) & Q(y2__gt=F("y1")), name="person_box_positive_area"),
            models.CheckConstraint(
                condition=Q(x2__lte=F("image_width")) & Q(y2__lte=F("image_height")),
                name="person_box_inside_image",
            ),
            models.CheckConstraint(
                condition=Q(box_origin__in=["imported", "worker", "consensus"]), name="person_box_origin_valid"
            ),
            models.CheckConstraint(
                condition=Q(box_status__in=["final", "excluded", "withdrawn"]), name="person_box_status_valid"
            ),
        ]

    def save(self, *args, **kwargs):
        if self.image_id and (not self.image_width or not self.image_height):
            self.image_width, self.image_height = self.image.width, self.image.height
        super().save(*args, **kwargs)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x1, self.y1, self.x2, self.y2)

    @property
    def box_width(self) -> int:
        return self.x2 - self.x1

    @property
    def box_height(self) -> int:
        return self.y2 - self.y1

    def __str__(self) -> str:
        return f"person {self.pk} in {self.image}"


class AccountName(models.Model):
    """What a user's name looks like (``services.accounts.name_skeletons``), kept for every user.

    A new name is refused when it looks like an existing one: one indexed
    query here, whatever the number of accounts. Written whenever a user is
    saved (``annotator.receivers``).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="account_name"
    )
    skeleton_folded = models.CharField(max_length=600, db_index=True, help_text="Case folded, then look-alikes replaced.")
    skeleton_cased = models.CharField(max_length=600, db_index=True, help_text="Look-alikes replaced, then case folded.")

    def __str__(self) -> str:
        return self.skeleton_folded


class Worker(models.Model):
    """A crowd worker: a Django user plus qualification and trust.

    An *original* worker is no person: it holds the n-th imported answer of
    every person of a dataset (EMOTIC's), made and found only by the importer
    (``services.intake.original_annotator``) by its ``original_number``, never
    by its user's name, which a person could have taken first. Its user is
    inactive, with no usable password.
    """

    class Kind(models.TextChoices):
        CROWD = "crowd", "Crowd worker"
        ORIGINAL = "original", "Holds a dataset's original answers (never logs in)"

    class Qualification(models.TextChoices):
        PENDING = "pending", "Not yet qualified"
        QUALIFIED = "qualified", "Qualified"
        FAILED = "failed", "Failed qualification"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="worker")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CROWD, editable=False)
    original_number = models.PositiveIntegerField(
        null=True, blank=True, unique=True, editable=False,
        help_text="An original worker's number: it holds the n-th imported answer of every person.",
    )
    qualification = models.CharField(max_length=10, choices=Qualification.choices, default=Qualification.PENDING)
    qualified_at = models.DateTimeField(null=True, blank=True)
    is_blocked = models.BooleanField(default=False)
    blocked_reason = models.CharField(max_length=300, blank=True)
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_automatically = models.BooleanField(default=False)
    # Trust figures, recomputed by the quality service.
    gold_accuracy = models.FloatField(null=True, blank=True)
    gold_answered = models.PositiveIntegerField(default=0)
    consensus_agreement = models.FloatField(null=True, blank=True)
    median_seconds_per_task = models.FloatField(null=True, blank=True)
    skip_rate = models.FloatField(null=True, blank=True)
    tasks_submitted = models.PositiveIntegerField(default=0)
    bounded = models.BooleanField(
        default=False, editable=False,
        help_text="Another part bounds this worker's work (a panel's participant): the assignment asks its work scope.",
    )
    last_task_request_at = models.DateTimeField(
        null=True, blank=True, help_text="Written first in every assignment transaction: it serialises one worker's requests."
    )
    qualification_protocol = models.ForeignKey(
        "ProtocolVersion", null=True, blank=True, editable=False, on_delete=models.PROTECT, related_name="+",
        help_text="The protocol whose test length and pass mark judge this worker's test in progress: set when a "
        "change was applied to new work only while the worker was taking the test.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(gold_accuracy__isnull=True) | (Q(gold_accuracy__gte=0) & Q(gold_accuracy__lte=1)),
                name="worker_gold_accuracy_unit",
            ),
            models.CheckConstraint(
                condition=Q(qualification__in=["pending", "qualified", "failed"]), name="worker_qualification_valid"
            ),
            models.CheckConstraint(
                condition=(Q(kind="crowd") & Q(original_number__isnull=True))
                | (Q(kind="original") & Q(original_number__gte=1)),
                name="worker_original_number_iff_original",
            ),
        ]

    def __str__(self) -> str:
        return self.user.get_username()


class TaskKind(models.TextChoices):
    BOXES = "boxes", "Person boxes"
    EMOTIONS = "emotions", "Emotions of one person"


class GoldItem(models.Model):
    """A control item with its set of acceptable answers.

    Emotions: the answer passes when it picks at least one of
    ``required_categories`` and nothing outside ``allowed_categories``, its
    VAD values fall in the ranges, and gender and age are among those allowed.
    Boxes: every expected box is matched with IoU >= ``min_iou``.

    Items are drawn per worker in an order of its own (``services.gold.draw_order``);
    a ``retired`` item is drawn no more (hidden controls and the qualification
    test alike) and keeps its answers. Its ``explanation`` reaches a worker
    who fails it in the qualification test only where the admin marked it
    safe to show (``show_explanation``) and the item is no hidden control:
    an explanation that gives the answer away would serve the next account.
    """

    kind = models.CharField(max_length=10, choices=TaskKind.choices)
    person = models.OneToOneField(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="gold")
    image = models.OneToOneField(Image, null=True, blank=True, on_delete=models.CASCADE, related_name="gold")
    for_qualification = models.BooleanField(default=False, help_text="Shown in the qualification test.")
    for_control = models.BooleanField(default=True, help_text="Mixed hidden into real work.")
    required_categories_mask = models.PositiveIntegerField(default=0)
    allowed_categories_mask = models.PositiveIntegerField(default=ALL_CATEGORIES_MASK)
    valence_min = models.PositiveSmallIntegerField(default=VAD_MIN)
    valence_max = models.PositiveSmallIntegerField(default=VAD_MAX)
    arousal_min = models.PositiveSmallIntegerField(default=VAD_MIN)
    arousal_max = models.PositiveSmallIntegerField(default=VAD_MAX)
    dominance_min = models.PositiveSmallIntegerField(default=VAD_MIN)
    dominance_max = models.PositiveSmallIntegerField(default=VAD_MAX)
    allowed_genders = models.JSONField(default=list, blank=True, help_text="Empty: any.")
    allowed_ages = models.JSONField(default=list, blank=True, help_text="Empty: any.")
    expected_boxes = models.JSONField(default=list, blank=True, help_text="[[x1, y1, x2, y2], ...] for box gold.")
    min_iou = models.FloatField(default=0.5)
    explanation = models.TextField(
        blank=True,
        help_text="Why the acceptable answers are what they are. Shown to a worker who fails the item in the "
        "qualification test only if 'show explanation' is ticked and the item is no hidden control.",
    )
    show_explanation = models.BooleanField(
        default=False,
        help_text="Safe to show: the explanation helps without giving the answer away (a new account could reuse "
        "it). Never shown for an item that is also a hidden control.",
    )
    retired = models.BooleanField(
        default=False,
        help_text="Drawn no more, as a hidden control or in the qualification test (over-exposed); its answers stay.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="emotions") & Q(person__isnull=False) & Q(image__isnull=True))
                | (Q(kind="boxes") & Q(image__isnull=False) & Q(person__isnull=True)),
                name="gold_target_matches_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="emotions")
                | (Q(required_categories_mask__gt=0) & Q(required_categories_mask__lte=ALL_CATEGORIES_MASK)),
                name="gold_emotions_require_a_category",
            ),
            models.CheckConstraint(
                condition=Q(allowed_categories_mask__lte=ALL_CATEGORIES_MASK), name="gold_allowed_mask_range"
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{d}_min__gte": VAD_MIN})
                    & Q(**{f"{d}_max__lte": VAD_MAX})
                    & Q(**{f"{d}_min__lte": F(f"{d}_max")}),
                    name=f"gold_{d}_range_valid",
                )
                for d in ("valence", "arousal", "dominance")
            ],
            models.CheckConstraint(condition=Q(min_iou__gt=0) & Q(min_iou__lte=1), name="gold_min_iou_unit"),
        ]

    def clean(self) -> None:
        """The expected boxes are boxes of the item's image (checked where items are made: the admin)."""
        super().clean()
        if self.kind == TaskKind.BOXES and self.image_id is not None:
            try:
                self.expected_boxes = validate_boxes(
                    self.expected_boxes, self.image.width, self.image.height, field="expected_boxes"
                )
            except BoxError as error:
                raise ValidationError({"expected_boxes": f"{error.field}: {error.reason}"}) from None

    @property
    def required_categories(self) -> list[str]:
        return mask_to_categories(self.required_categories_mask)

    @property
    def allowed_categories(self) -> list[str]:
        return mask_to_categories(self.allowed_categories_mask)

    def __str__(self) -> str:
        return f"gold {self.kind} #{self.pk}"


class TaskAssignment(models.Model):
    """A task handed to a worker: boxes for an image, or emotions for a person."""

    class State(models.TextChoices):
        ASSIGNED = "assigned", "Assigned"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        REPORTED = "reported", "Image reported"
        EXPIRED = "expired", "Expired"

    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="assignments")
    kind = models.CharField(max_length=10, choices=TaskKind.choices)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments")
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.CASCADE, related_name="assignments")
    gold_item = models.ForeignKey(GoldItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments")
    is_qualification = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ASSIGNED)
    assigned_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=300, blank=True)
    gold_passed = models.BooleanField(null=True, blank=True, help_text="For gold items: whether the answer was acceptable.")
    control_repeat = models.PositiveSmallIntegerField(
        default=0,
        db_default=0,
        help_text="0 for every task but a hidden control met again: the n-th time this worker meets it (a worker who "
        "has met every control is given the one met longest ago when the protocol says 'reuse').",
    )

    class Meta:
        ordering = ["-assigned_at"]
        indexes = [models.Index(fields=["state", "expires_at"]), models.Index(fields=["person", "state"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="emotions") & Q(person__isnull=False) & Q(image__isnull=True))
                | (Q(kind="boxes") & Q(image__isnull=False) & Q(person__isnull=True)),
                name="assignment_target_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["assigned", "submitted", "skipped", "reported", "expired"]),
                name="assignment_state_valid",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=F("assigned_at")), name="assignment_expires_after_start"),
            # Never the same person (or image, for boxes) twice to one worker, but a control met again
            # (control_repeat 1, 2, ...; only hidden controls are met again).
            models.UniqueConstraint(
                fields=["worker", "person", "control_repeat"], condition=Q(person__isnull=False),
                name="assignment_once_per_worker_person",
            ),
            models.UniqueConstraint(
                fields=["worker", "image", "control_repeat"], condition=Q(image__isnull=False),
                name="assignment_once_per_worker_image",
            ),
            models.CheckConstraint(
                condition=Q(control_repeat=0) | (Q(gold_item__isnull=False) & Q(is_qualification=False)),
                name="assignment_repeat_only_controls",
            ),
        ]

    def __str__(self) -> str:
        target = f"person {self.person_id}" if self.person_id else f"image {self.image_id}"
        return f"{self.kind} {target} -> {self.worker} ({self.state})"


class AnnotationStatus(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"


class EmotionAnnotation(models.Model):
    """One worker's answer for one person: categories, VAD, gender, age."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="annotations")
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="emotion_annotations")
    assignment = models.OneToOneField(
        TaskAssignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="emotion_annotation"
    )
    categories_mask = models.PositiveIntegerField(help_text="Bit i set: category i of emotic.taxonomy chosen.")
    valence = models.PositiveSmallIntegerField()
    arousal = models.PositiveSmallIntegerField()
    dominance = models.PositiveSmallIntegerField()
    gender = models.CharField(max_length=6, choices=Gender.choices)
    age = models.CharField(max_length=8, choices=Age.choices)
    seconds_spent = models.FloatField(default=0)
    submission_id = models.UUIDField(unique=True, default=uuid.uuid4, help_text="Client-made id: resubmits are stored once.")
    status = models.CharField(max_length=10, choices=AnnotationStatus.choices, default=AnnotationStatus.SUBMITTED)
    excluded = models.BooleanField(default=False, help_text="Left out of exports (blocked worker); reversible.")
    is_gold = models.BooleanField(default=False, help_text="Answer to a hidden control item.")
    protocol_version = models.ForeignKey(
        "ProtocolVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="emotion_annotations",
        help_text="The annotation protocol in force when the answer was given (empty: imported, or given before "
        "versions were kept).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # A control met again (TaskAssignment.control_repeat) is answered again: only gold answers repeat.
            models.UniqueConstraint(
                fields=["person", "worker"], condition=Q(is_gold=False), name="emotion_once_per_worker_person"
            ),
            models.CheckConstraint(
                condition=Q(categories_mask__gt=0) & Q(categories_mask__lte=ALL_CATEGORIES_MASK),
                name="emotion_at_least_one_category",
            ),
            *[
                models.CheckConstraint(
                    condition=Q(**{f"{d}__gte": VAD_MIN}) & Q(**{f"{d}__lte": VAD_MAX}), name=f"emotion_{d}_in_range"
                )
                for d in ("valence", "arousal", "dominance")
            ],
            models.CheckConstraint(condition=Q(gender__in=list(GENDERS)), name="emotion_gender_valid"),
            models.CheckConstraint(condition=Q(age__in=list(AGES)), name="emotion_age_valid"),
            models.CheckConstraint(condition=Q(seconds_spent__gte=0), name="emotion_seconds_nonnegative"),
            models.CheckConstraint(
                condition=Q(status__in=["submitted", "accepted", "rejected"]), name="emotion_status_valid"
            ),
        ]

    @property
    def categories(self) -> list[str]:
        return mask_to_categories(self.categories_mask)

    def __str__(self) -> str:
        return f"{self.worker} on person {self.person_id}: {', '.join(self.categories)}"


class BoxAnnotation(models.Model):
    """One worker's boxes for one image (stage 1). ``boxes`` is [[x1, y1, x2, y2], ...]."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="box_annotations")
    worker = models.ForeignKey(Worker, on_delete=models.PROTECT, related_name="box_annotations")
    assignment = models.OneToOneField(
        TaskAssignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="box_annotation"
    )
    boxes = models.JSONField(default=list)
    no_people = models.BooleanField(default=False)
    seconds_spent = models.FloatField(default=0)
    submission_id = models.UUIDField(unique=True, default=uuid.uuid4)
    status = models.CharField(max_length=10, choices=AnnotationStatus.choices, default=AnnotationStatus.SUBMITTED)
    excluded = models.BooleanField(default=False)
    is_gold = models.BooleanField(default=False, help_text="Answer to a gold item (qualification or hidden control).")
    protocol_version = models.ForeignKey(
        "ProtocolVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="box_annotations",
        help_text="The annotation protocol in force when the answer was given (empty: imported, or given before "
        "versions were kept).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "worker"], condition=Q(is_gold=False), name="boxes_once_per_worker_image"
            ),
            models.CheckConstraint(condition=Q(seconds_spent__gte=0), name="boxes_seconds_nonnegative"),
            models.CheckConstraint(
                condition=Q(status__in=["submitted", "accepted", "rejected"]), name="boxes_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.worker} boxes on {self.image}"


class ApiToken(models.Model):
    """A worker's key for programs calling the API. Only its SHA-256 is stored.

    A token expires ``API_TOKEN_LIFETIME_DAYS`` after it was made (the setting
    as it is now, so shortening it ends older tokens at once); an expired
    token is refused like an unknown one. Revoking deletes it.
    """

    worker = models.ForeignKey(Worker, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the worker uses it for.")
    key_prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart.")
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(key_sha256__regex=r"^[0-9a-f]{64}$"), name="api_token_sha256_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}...) of {self.worker}"

    @staticmethod
    def lifetime() -> timedelta:
        return timedelta(days=settings.API_TOKEN_LIFETIME_DAYS)

    @property
    def expires_at(self):
        return self.created_at + self.lifetime() if self.created_at else None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()



class ProtocolVersion(models.Model):
    """One version of the annotation protocol: every rule an answer is given under, kept for ever.

    The newest version is in force (``annotator.selectors.protocol_in_force``,
    the one accessor every reader uses); a change makes a new version through
    ``services.protocol.change_protocol`` and records who made it, when, and
    every changed value with its previous one (``changes``). The first version
    is made from the environment's settings, the defaults of a new
    installation. Every answer keeps the version in force when it was given.
    """

    class ControlsExhausted(models.TextChoices):
        REUSE = "reuse", "Reuse the control met longest ago"
        PAUSE = "pause", "Pause the worker's tasks until new controls are added"

    class AppliedTo(models.TextChoices):
        ALL = "all", "All work, in progress included"
        NEW_WORK = "new_work", "New work only (work in progress keeps the previous values)"

    number = models.PositiveIntegerField(unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+",
        help_text="Empty for the first version, made from the environment's settings.",
    )
    note = models.CharField(max_length=300, blank=True, help_text="Why the protocol changed.")
    changes = models.JSONField(
        default=dict, blank=True, editable=False, help_text="{field: [previous, new]} for every value changed."
    )
    applied_to = models.CharField(max_length=10, choices=AppliedTo.choices, default=AppliedTo.ALL, editable=False)
    # How many annotators (the same person never twice to one worker).
    annotators_train = models.PositiveSmallIntegerField("annotators per person, train split")
    annotators_val = models.PositiveSmallIntegerField("annotators per person, val split")
    annotators_test = models.PositiveSmallIntegerField("annotators per person, test split")
    annotators_unsplit = models.PositiveSmallIntegerField(
        "annotators per person of an image without a split", help_text="SPLIT_IMAGES_AT=export leaves images unsplit."
    )
    box_annotators_per_image = models.PositiveSmallIntegerField(
        "workers drawing boxes per image", help_text="More than one: the people are the consensus of their boxes."
    )
    # Hidden controls.
    control_rate = models.FloatField("share of tasks that are hidden controls", help_text="EMOTIC: 0.1 (2 in 20).")
    control_block_size = models.PositiveSmallIntegerField(
        "tasks per block", help_text="Each block holds round(rate x size) controls at positions a worker cannot predict."
    )
    controls_exhausted = models.CharField(
        "when a worker has met every control", max_length=10, choices=ControlsExhausted.choices,
        default=ControlsExhausted.REUSE,
    )
    assignment_timeout_minutes = models.PositiveSmallIntegerField(
        "minutes to answer a task", help_text="A task not answered in time goes back to the pool."
    )
    # The trust rule (quality blocks a worker automatically by it).
    auto_block = models.BooleanField("block workers automatically on control accuracy")
    trust_window = models.PositiveSmallIntegerField("control answers judged (the last n)")
    trust_min_answers = models.PositiveSmallIntegerField("control answers needed before judging")
    trust_min_accuracy = models.FloatField("lowest accuracy on controls kept", help_text="From 0 to 1.")
    skipped_control_fails = models.BooleanField("a skipped or reported control counts as failed")
    # The qualification test.
    qualification_items = models.PositiveSmallIntegerField("items in the qualification test")
    qualification_pass_rate = models.FloatField("share of test items to pass", help_text="From 0 to 1.")
    # --- Qualification retries: the place for the retry policy (attempts, waiting time). Read through
    # ``protocol_in_force().qualification_retry``; nothing reads them yet (see docs/protocol.md).
    qualification_attempts = models.PositiveSmallIntegerField(
        "qualification attempts", default=1, help_text="How many times a worker may take the test (1: no retry)."
    )
    qualification_retry_wait_hours = models.PositiveIntegerField(
        "hours to wait before a retry", default=0, help_text="Between a failed attempt and the next."
    )
    # What workers read before they start.
    instructions = models.TextField(
        "instructions for workers", blank=True,
        help_text="Plain text; a blank line starts a new paragraph. Shown on the workers' instructions page.",
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.CheckConstraint(
                condition=Q(annotators_train__gte=1) & Q(annotators_val__gte=1) & Q(annotators_test__gte=1)
                & Q(annotators_unsplit__gte=1) & Q(box_annotators_per_image__gte=1),
                name="protocol_annotators_positive",
            ),
            models.CheckConstraint(condition=Q(control_rate__gte=0) & Q(control_rate__lte=1), name="protocol_control_rate_unit"),
            models.CheckConstraint(condition=Q(control_block_size__gte=1), name="protocol_block_positive"),
            models.CheckConstraint(condition=Q(assignment_timeout_minutes__gte=1), name="protocol_timeout_positive"),
            models.CheckConstraint(
                condition=Q(trust_min_answers__gte=1) & Q(trust_min_answers__lte=F("trust_window")),
                name="protocol_trust_answers_in_window",
            ),
            models.CheckConstraint(
                condition=Q(trust_min_accuracy__gte=0) & Q(trust_min_accuracy__lte=1), name="protocol_trust_accuracy_unit"
            ),
            models.CheckConstraint(condition=Q(qualification_items__gte=1), name="protocol_qualification_items_positive"),
            models.CheckConstraint(
                condition=Q(qualification_pass_rate__gte=0) & Q(qualification_pass_rate__lte=1),
                name="protocol_pass_rate_unit",
            ),
            models.CheckConstraint(condition=Q(qualification_attempts__gte=1), name="protocol_attempts_positive"),
            models.CheckConstraint(
                condition=Q(controls_exhausted__in=["reuse", "pause"]), name="protocol_controls_exhausted_valid"
            ),
            models.CheckConstraint(condition=Q(applied_to__in=["all", "new_work"]), name="protocol_applied_to_valid"),
        ]

    def __str__(self) -> str:
        return f"protocol v{self.number}" if self.number else "protocol (the environment's defaults)"

    @property
    def annotators_per_split(self) -> dict[str, int]:
        return {"train": self.annotators_train, "val": self.annotators_val, "test": self.annotators_test}

    @property
    def assignment_timeout(self) -> timedelta:
        return timedelta(minutes=self.assignment_timeout_minutes)

    @property
    def qualification_retry(self) -> tuple[int, timedelta]:
        """(attempts, wait between attempts): the qualification's retry policy."""
        return self.qualification_attempts, timedelta(hours=self.qualification_retry_wait_hours)


class InstructionExample(models.Model):
    """An example of a category on the workers' instructions page: an accepted answer the admin picked.

    Examples belong to a protocol version (a new version copies them), so
    what workers were shown is kept with the rest of the protocol.
    """

    protocol = models.ForeignKey(ProtocolVersion, on_delete=models.CASCADE, related_name="examples")
    category = models.CharField(max_length=30, choices=[(c, c) for c in CATEGORY_NAMES])
    annotation = models.ForeignKey(EmotionAnnotation, on_delete=models.PROTECT, related_name="instruction_examples")

    class Meta:
        ordering = ["protocol_id", "category", "id"]
        constraints = [
            models.UniqueConstraint(fields=["protocol", "category", "annotation"], name="example_once_per_category"),
            models.CheckConstraint(condition=Q(category__in=list(CATEGORY_NAMES)), name="example_category_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.category}: answer {self.annotation_id}"
