"""An answer's review status (submitted, accepted, rejected): the one writer of ``EmotionAnnotation.status``.

Quality's review pages and actions decide (``quality.services.review_annotations``);
rejected answers then leave the figures and exports.
"""

from __future__ import annotations

from collections.abc import Iterable

from annotator.models import EmotionAnnotation


def set_answer_status(annotation_ids: Iterable[int], status: str) -> tuple[int, set[int]]:
    """Set ``status`` on the answers not already in it; (how many changed, the people whose answers changed)."""
    changing = EmotionAnnotation.objects.filter(pk__in=list(annotation_ids)).exclude(status=status)
    person_ids = set(changing.values_list("person_id", flat=True))
    return changing.update(status=status), person_ids
