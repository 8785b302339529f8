"""Which annotations a snapshot reads: the answers that count (``quality.selectors.counted_annotations``).

An answer counts when it is not rejected, not excluded (blocked workers'
work is excluded by the quality service, reversibly), its worker is not
blocked now, it is not an answer to a gold item (those measure workers,
they are not data), and its person's box is final (not drawn by a blocked
worker, not dropped when the image's boxes were drawn again).
"""

from __future__ import annotations

from typing import NamedTuple

from django.db.models import QuerySet

from annotator.models import EmotionAnnotation
from catalog.models import Image
from emotic_export.models import DatasetSnapshot
from quality.selectors import counted_annotations


# What a snapshot reads of each row (a snapshot of EMOTIC's size holds tens of thousands).
ANSWER_FIELDS = ("id", "person", "worker", "categories_mask", "valence", "arousal", "dominance", "gender", "age", "created_at")
PERSON_FIELDS = ("id", "image", "x1", "y1", "x2", "y2")


def exportable_annotations(*, require_review: bool = False) -> QuerySet[EmotionAnnotation]:
    return (
        counted_annotations(accepted_only=require_review)
        .select_related("person")
        .only(*ANSWER_FIELDS, *(f"person__{f}" for f in PERSON_FIELDS))
        .order_by("person__image_id", "person_id", "created_at", "id")
    )


def images_with_exportable_people(*, require_review: bool = False) -> QuerySet[Image]:
    ids = exportable_annotations(require_review=require_review).values("person__image_id")
    return Image.objects.filter(id__in=ids).defer("http_headers").order_by("id")


class AnswerRow(NamedTuple):
    """One exportable answer with its person's box: plain values, no model instances."""

    person_id: int
    image_id: int
    box: tuple[int, int, int, int]
    worker_id: int
    categories_mask: int
    valence: int
    arousal: int
    dominance: int
    gender: str
    age: str


def exportable_answer_rows(*, require_review: bool = False) -> list[AnswerRow]:
    """The same answers as ``exportable_annotations``, in the same order, as tuples (fast at EMOTIC's size)."""
    rows = exportable_annotations(require_review=require_review).values_list(
        "person_id", "person__image_id", "person__x1", "person__y1", "person__x2", "person__y2",
        "worker_id", "categories_mask", "valence", "arousal", "dominance", "gender", "age",
    )
    return [AnswerRow(p, i, (x1, y1, x2, y2), *rest) for p, i, x1, y1, x2, y2, *rest in rows.iterator(chunk_size=5000)]


def snapshots(*, state: str | None = None) -> QuerySet[DatasetSnapshot]:
    """The snapshots, newest first, of one state or all."""
    rows = DatasetSnapshot.objects.order_by("-id")
    return rows if state is None else rows.filter(state=state)
