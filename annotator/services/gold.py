"""Checking an answer against a gold item's set of acceptable answers.

The rules are those ``GoldItem`` documents; the answers themselves never leave
the server.
"""

from __future__ import annotations

from collections.abc import Sequence

from annotator.models import GoldItem
from annotator.services.boxes import Box, match_boxes


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
    """Every expected box matched one-to-one with IoU >= ``min_iou``; no expected boxes means "no people"."""
    expected = gold.expected_boxes
    if not expected:
        return no_people or not boxes
    if no_people:
        return False
    return len(match_boxes(expected, boxes, gold.min_iou)) == len(expected)
