"""Gold items: the order each worker meets them in, retiring them, and checking answers against them.

The rules are those ``GoldItem`` documents; the answers themselves never leave
the server. Box answers go through ``emotic.gold.check_box_answer``, so the
box rule and its matching (``emotic.boxes``) exist once.

Draws: every worker meets the items of a pool (hidden controls, the
qualification test) in an order of its own, ``draw_order``: a keyed hash
(HMAC-SHA256 under ``SECRET_KEY``) of the pool, the worker and the item. Two
accounts see different subsets in different orders, so they cannot compare
notes on one fixed list, and without the key no one can tell which items an
account will get. The order is fixed for a worker: an item added later takes
its place in every worker's order.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from annotator.models import GoldItem
from annotator.services.errors import AnnotationError
from emotic.boxes import Box
from emotic.gold import check_box_answer

DRAWS = ("controls", "qualification")


def draw_order(worker_id: int, draw: str, item_ids: Iterable[int]) -> list[int]:
    """``item_ids`` in the order ``worker_id`` meets them in ``draw`` (one of ``DRAWS``)."""
    if draw not in DRAWS:
        raise ValueError(f"draw: must be one of {', '.join(DRAWS)}, got {draw!r}")
    key = settings.SECRET_KEY.encode()

    def rank(item_id: int) -> bytes:
        return hmac.new(key, f"gold:{draw}:{worker_id}:{item_id}".encode(), hashlib.sha256).digest()

    return sorted(item_ids, key=rank)


def set_retired(item_ids: Iterable[int], retired: bool = True) -> int:
    """Take gold items out of new draws (or put them back); their answers are untouched. Returns how many changed."""
    return GoldItem.objects.filter(pk__in=list(item_ids)).exclude(retired=retired).update(retired=retired)


def emotion_answer_passes(
    gold: GoldItem, *, categories_mask: int, valence: int, arousal: int, dominance: int, gender: str, age: str
) -> bool:
    """At least one required category, nothing outside the allowed ones, VAD in range, gender and age allowed."""
    if categories_mask & gold.required_categories_mask == 0:
        return False
    if categories_mask & ~gold.allowed_categories_mask:
        return False
    for name, value in (("valence", valence), ("arousal", arousal), ("dominance", dominance)):
        if not getattr(gold, f"{name}_min") <= value <= getattr(gold, f"{name}_max"):
            return False
    if gold.allowed_genders and gender not in gold.allowed_genders:
        return False
    return not gold.allowed_ages or age in gold.allowed_ages


def box_answer_passes(gold: GoldItem, *, boxes: Sequence[Box], no_people: bool) -> bool:
    """Every expected box matched one-to-one with IoU >= ``min_iou``; no expected boxes means "no people".

    Extra boxes are allowed: the matching pairs as many people as it can, so a
    worker who boxed everyone plus someone the gold leaves out still passes.
    """
    expected = gold.expected_boxes
    if not expected:  # nobody in the image: any box drawn is wrong
        return no_people or not boxes
    return not no_people and check_box_answer(expected, boxes, gold.min_iou).passed


def save_gold_item(item: GoldItem) -> GoldItem:
    """Store a control item made or edited in the admin (its typed form wrote the masks and boxes), checked whole.

    Raises ``GoldItemInvalid`` naming the field: a target of the wrong kind,
    a person or image that is already another item's, boxes outside the image.
    """
    try:
        item.full_clean()
    except ValidationError as error:
        field, reasons = next(iter(error.message_dict.items()))
        raise GoldItemInvalid("item" if field == NON_FIELD_ERRORS else field, "; ".join(reasons)) from None
    item.save()
    return item


class GoldItemInvalid(AnnotationError):
    """A control item's values break its rules."""
