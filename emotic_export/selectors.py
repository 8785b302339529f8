"""Which annotations a snapshot reads.

An annotation counts when it is not rejected, not excluded (blocked workers'
work is excluded by the quality service, reversibly), its worker is not
blocked now, and it is not an answer to a gold item (those measure workers,
they are not data).
"""

from __future__ import annotations

from django.db.models import QuerySet

from annotator.models import AnnotationStatus, EmotionAnnotation, Image


# What a snapshot reads of each row (a snapshot of EMOTIC's size holds tens of thousands).
ANSWER_FIELDS = ("id", "person", "worker", "categories_mask", "valence", "arousal", "dominance", "gender", "age", "created_at")
PERSON_FIELDS = ("id", "image", "x1", "y1", "x2", "y2")


def exportable_annotations(*, require_review: bool = False) -> QuerySet[EmotionAnnotation]:
    statuses = [AnnotationStatus.ACCEPTED] if require_review else [AnnotationStatus.ACCEPTED, AnnotationStatus.SUBMITTED]
    return (
        EmotionAnnotation.objects.filter(status__in=statuses, excluded=False, is_gold=False, worker__is_blocked=False)
        .select_related("person")
        .only(*ANSWER_FIELDS, *(f"person__{f}" for f in PERSON_FIELDS))
        .order_by("person__image_id", "person_id", "created_at", "id")
    )


def images_with_exportable_people(*, require_review: bool = False) -> QuerySet[Image]:
    ids = exportable_annotations(require_review=require_review).values("person__image_id")
    return Image.objects.filter(id__in=ids).defer("http_headers").order_by("id")
