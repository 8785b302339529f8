"""The shapes of the worker API: what it accepts and what it returns.

Serializers check types and presence; the rules of the protocol (category
names, the 1..10 range, boxes inside the image) are checked by the services,
so that every caller meets them, and reported with the same field names.
"""

from __future__ import annotations

from rest_framework import serializers

from annotator.models import TaskKind, Worker
from emotic.taxonomy import AGES, CATEGORY_NAMES, GENDERS, VAD_MAX, VAD_MIN


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: DRF's own also takes "yes", "on", 1 and the like, which no client should send."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class ImageSerializer(serializers.Serializer):
    """A photo by its identity: every task showing it gives the same URLs (download once, revalidate by ETag)."""

    id = serializers.CharField(help_text="The image's SHA-256: the same photo has the same id in every task.")
    url = serializers.CharField(help_text="The largest WebP rendition (long side at most the largest IMAGE_WEB_SIDES).")
    srcset = serializers.CharField(help_text="Every rendition as an <img srcset>: '<url> <width>w, ...'.")
    width = serializers.IntegerField(help_text="Original width in pixels (boxes are in original pixels).")
    height = serializers.IntegerField(help_text="Original height in pixels.")


class TaskSerializer(serializers.Serializer):
    """A task as the worker sees it. Gold items look exactly the same."""

    id = serializers.IntegerField(help_text="Task id, used in the submit, skip, report and extend URLs.")
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    qualification = serializers.BooleanField(help_text="Part of the qualification test shown before real work.")
    image = ImageSerializer()
    image_url = serializers.CharField(help_text="The image, resized for the screen (image.url); boxes are in original pixels.")
    original_image_url = serializers.CharField(help_text="The image at full size.")
    image_width = serializers.IntegerField(help_text="Original width in pixels.")
    image_height = serializers.IntegerField(help_text="Original height in pixels.")
    person_box = serializers.ListField(
        child=serializers.IntegerField(), allow_null=True, help_text="Emotions tasks: [x1, y1, x2, y2] of the person."
    )
    suggested_boxes = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="Boxes tasks: boxes already known (imported) to confirm, adjust or delete.",
    )
    expires_at = serializers.DateTimeField(
        help_text="Submit before this time, or the task returns to the pool (an answer a little late is kept while "
        "the person is still free). POST .../extend/ while working moves it on."
    )
    ahead = serializers.BooleanField(
        help_text="Handed out ahead of the current task: its time starts (afresh) when it becomes current."
    )
    extendable_until = serializers.DateTimeField(
        allow_null=True, help_text="The latest deadline extensions can give (null while the task is ahead)."
    )


class NextTaskSerializer(TaskSerializer):
    following = TaskSerializer(
        required=False, allow_null=True,
        help_text="With ?include=ahead: the task after this one, already handed out (null when none is free, during "
        "the qualification test, or for a bounded session). Load it (and its image) while answering this one.",
    )


class SubmissionSerializer(serializers.Serializer):
    """An answer. Emotions tasks send the emotion fields; boxes tasks send ``boxes`` or ``no_people``."""

    submission_id = serializers.UUIDField(
        help_text="Made by the client once per answer; resending the same id stores the answer once."
    )
    categories = serializers.ListField(
        child=serializers.CharField(), required=False, help_text=f"At least one of: {', '.join(CATEGORY_NAMES)}."
    )
    valence = serializers.IntegerField(required=False, help_text=f"{VAD_MIN} (negative) to {VAD_MAX} (positive).")
    arousal = serializers.IntegerField(required=False, help_text=f"{VAD_MIN} (calm) to {VAD_MAX} (active).")
    dominance = serializers.IntegerField(required=False, help_text=f"{VAD_MIN} (dominated) to {VAD_MAX} (in control).")
    gender = serializers.CharField(required=False, help_text=" or ".join(GENDERS))
    age = serializers.CharField(required=False, help_text=", ".join(AGES))
    boxes = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        required=False,
        help_text=(
            "[[x1, y1, x2, y2], ...] in original image pixels, inside the image, with positive area; each side at "
            "least MIN_BOX_SIDE_FRACTION of the image's shorter side and MIN_BOX_SIDE_PIXELS; at most "
            "MAX_BOXES_PER_IMAGE boxes. A box breaking a rule is named by its place, e.g. boxes[3]."
        ),
    )
    no_people = StrictBooleanField(required=False, help_text="True: nobody is visible in the image.")
    seconds_spent = serializers.FloatField(required=False, help_text="Time the worker spent on the task.")


class QualificationItemResultSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    kind = serializers.CharField()
    passed = serializers.BooleanField()
    note = serializers.CharField(help_text="Why it was not accepted, in words that give no answer away.")
    explanation = serializers.CharField(help_text="The admin's explanation, where it is safe to show.")


class QualificationOutcomeSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=["continue", "passed", "failed"],
        help_text="continue: another item comes; passed: real work comes next; failed: see retry_at.",
    )
    answered = serializers.IntegerField(help_text="Answers counted in this attempt (skipped items are not).")
    size = serializers.IntegerField(help_text="Answers the test needs.")
    attempt = serializers.IntegerField()
    attempts_left = serializers.IntegerField(help_text="Failed: attempts the worker may still start.")
    retry_at = serializers.DateTimeField(allow_null=True, help_text="Failed with attempts left: from when.")
    results = QualificationItemResultSerializer(many=True, help_text="Once the test is over: each counted item.")


class SubmitResultSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    state = serializers.CharField()
    stored = serializers.BooleanField(help_text="False when this submission_id had already been stored.")
    submitted_today = serializers.IntegerField()
    submitted_total = serializers.IntegerField()
    qualification = QualificationOutcomeSerializer(
        required=False, help_text="Only for a qualification item: where the test stands now."
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300)


class ReportSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="What is wrong with the image.")


class ClosedTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    state = serializers.CharField()
    qualification = QualificationOutcomeSerializer(
        required=False, help_text="Only for a qualification item: where the test stands now (a skip is no failure)."
    )


class ExtendedTaskSerializer(serializers.Serializer):
    task_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField(help_text="The task's deadline now.")
    extendable_until = serializers.DateTimeField(help_text="Extensions stop here (ASSIGNMENT_MAX_MINUTES).")


class CounterSerializer(serializers.Serializer):
    submitted_today = serializers.IntegerField()
    submitted_total = serializers.IntegerField()
    qualification_answered = serializers.IntegerField()
    qualification_size = serializers.IntegerField()


class WorkScopeSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="What the page shows, e.g. '3 tasks left in this session (about 4 min)'.")
    tasks_left = serializers.IntegerField(allow_null=True)
    minutes_left = serializers.FloatField(allow_null=True)
    finished = serializers.BooleanField(help_text="No new task will be given: go to finish_url.")
    finish_url = serializers.CharField(allow_blank=True)


class WorkerStatusSerializer(serializers.Serializer):
    username = serializers.CharField()
    qualification = serializers.ChoiceField(choices=Worker.Qualification.choices)
    is_blocked = serializers.BooleanField()
    blocked_reason = serializers.CharField()
    counter = CounterSerializer()
    session = WorkScopeSerializer(
        allow_null=True, help_text="For a worker whose work is bounded (a panel's session): what is left of it."
    )


class HistoryEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    state = serializers.CharField()
    assigned_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    categories = serializers.ListField(child=serializers.CharField(), allow_null=True)
    valence = serializers.IntegerField(allow_null=True)
    arousal = serializers.IntegerField(allow_null=True)
    dominance = serializers.IntegerField(allow_null=True)
    gender = serializers.CharField(allow_null=True)
    age = serializers.CharField(allow_null=True)
    boxes = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()), allow_null=True)
    no_people = serializers.BooleanField(allow_null=True)
    reason = serializers.CharField()


class HistoryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = HistoryEntrySerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="'<field>: <reason>'")
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Reasons by field name."
    )
