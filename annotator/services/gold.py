"""Checking an answer against a gold item's set of acceptable answers.

The rules are those ``GoldItem`` documents; the answers themselves never leave
the server. Box answers go through ``emotic.gold.check_box_answer``, so the
box rule and its matching (``emotic.boxes``) exist once.
"""

from __future__ import annotations

from collections.abc import Sequence

from annotator.models import GoldItem
from emotic.boxes import Box
from emotic.gold import check_box_answer


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
