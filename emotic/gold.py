"""Gold (control) item checks: does an answer fall inside the set of acceptable answers?

EMOTIC screened workers with a qualification of sample annotations that had
sets of acceptable answers, and hid 2 control images in every batch of 20
(TPAMI 2019, section 3). A check returns every reason an answer failed, each
worded for the worker, so the qualification page can show what to fix.

Emotion gold passes when the answer picks at least one required category,
nothing outside the allowed categories, VAD values inside the ranges, and a
gender and age among those allowed (empty: any). Box gold passes when every
expected person box is matched one-to-one by a drawn box with IoU >= min_iou.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from emotic.annotation_arrays import AnnotationArrayError
from emotic.taxonomy import AGES, CATEGORY_NAMES, GENDERS, VAD_DIMENSIONS, VAD_MAX, VAD_MIN, category_index


@dataclass(frozen=True)
class GoldFailure:
    """One reason a gold answer failed. ``field`` is machine-readable, ``message`` is for the worker."""

    # required_categories, disallowed_categories, valence, arousal, dominance, gender, age, missed_box, extra_box
    field: str
    message: str


@dataclass(frozen=True)
class GoldCheck:
    failures: tuple[GoldFailure, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(failure.message for failure in self.failures)


@dataclass(frozen=True)
class EmotionGold:
    """The acceptable answers for one person (mirrors ``annotator.models.GoldItem``)."""

    required_categories: frozenset[str]
    allowed_categories: frozenset[str] = frozenset(CATEGORY_NAMES)
    valence: tuple[int, int] = (VAD_MIN, VAD_MAX)
    arousal: tuple[int, int] = (VAD_MIN, VAD_MAX)
    dominance: tuple[int, int] = (VAD_MIN, VAD_MAX)
    allowed_genders: frozenset[str] = field(default_factory=frozenset)  # empty: any
    allowed_ages: frozenset[str] = field(default_factory=frozenset)  # empty: any

    def __post_init__(self) -> None:
        for name in ("required_categories", "allowed_categories"):
            object.__setattr__(self, name, _category_set(getattr(self, name), name))
        if not self.required_categories:
            raise AnnotationArrayError("required_categories", "a gold item needs at least one")
        if unreachable := self.required_categories - self.allowed_categories:
            raise AnnotationArrayError(
                "required_categories", f"{', '.join(_ordered(unreachable))} not in allowed_categories, "
                "so no answer could pass"
            )
        for name in VAD_DIMENSIONS:
            low, high = getattr(self, name)
            if not VAD_MIN <= low <= high <= VAD_MAX:
                raise AnnotationArrayError(
                    name, f"range must satisfy {VAD_MIN} <= min <= max <= {VAD_MAX}, got {low}-{high}"
                )
        for name, choices in (("allowed_genders", GENDERS), ("allowed_ages", AGES)):
            values = frozenset(getattr(self, name))
            if unknown := values - set(choices):
                raise AnnotationArrayError(name, f"unknown {sorted(unknown)}, expected some of {', '.join(choices)}")
            object.__setattr__(self, name, values)


def check_emotion_answer(
    gold: EmotionGold,
    categories: Iterable[str],
    valence: int,
    arousal: int,
    dominance: int,
    gender: str | None = None,
    age: str | None = None,
) -> GoldCheck:
    """Every way the answer misses ``gold``; an empty result means it passed."""
    chosen = _category_set(categories, "categories")
    failures = []
    if not chosen & gold.required_categories:
        required = ", ".join(_ordered(gold.required_categories))
        failures.append(GoldFailure("required_categories", f"Choose at least one of: {required}."))
    if outside := chosen - gold.allowed_categories:
        unfitting = ", ".join(_ordered(outside))
        failures.append(GoldFailure("disallowed_categories", f"These categories do not fit this person: {unfitting}."))
    for name, value in zip(VAD_DIMENSIONS, (valence, arousal, dominance)):
        low, high = getattr(gold, name)
        if not low <= value <= high:
            message = f"{name.capitalize()} {value} is outside the acceptable range {low}-{high}."
            failures.append(GoldFailure(name, message))
    for name, value, allowed, order in (
        ("gender", gender, gold.allowed_genders, GENDERS),
        ("age", age, gold.allowed_ages, AGES),
    ):
        if allowed and value not in allowed:
            acceptable = ", ".join(v for v in order if v in allowed)
            given = f"{name.capitalize()} {value}" if value is not None else f"A missing {name}"
            failures.append(GoldFailure(name, f"{given} is not acceptable here (acceptable: {acceptable})."))
    return GoldCheck(tuple(failures))


@dataclass(frozen=True, order=True)
class BoxMatch:
    expected: int  # index into the expected boxes
    drawn: int  # index into the drawn boxes
    iou: float


def box_iou(boxes_a: object, boxes_b: object) -> np.ndarray:
    """Intersection over union of every pair, shape (len(a), len(b)); boxes are [x1, y1, x2, y2]."""
    a = as_boxes(boxes_a, "boxes_a")
    b = as_boxes(boxes_b, "boxes_b")
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=-1)
    return intersection / (area_a[:, None] + area_b[None, :] - intersection)


def match_boxes(expected: object, drawn: object, min_iou: float = 0.5, method: str = "hungarian") -> list[BoxMatch]:
    """One-to-one matches with IoU >= ``min_iou``, sorted by expected box.

    ``hungarian`` (scipy's ``linear_sum_assignment``) finds the most matches,
    and among those the largest total IoU, so one drawn box covering two
    people cannot steal the match another drawn box needs. ``greedy`` takes
    pairs by falling IoU, as COCO-style evaluation does; it can match fewer.
    """
    if not 0 < min_iou <= 1:
        raise AnnotationArrayError("min_iou", f"must be in (0, 1], got {min_iou}")
    iou = box_iou(as_boxes(expected, "expected_boxes"), as_boxes(drawn, "drawn_boxes"))
    eligible = iou >= min_iou
    if method == "hungarian":
        # Weight big + IoU for an eligible pair: one more match always outweighs any IoU gain.
        big = min(iou.shape) + 1
        rows, cols = linear_sum_assignment(np.where(eligible, big + iou, 0.0), maximize=True)
        pairs = [(r, c) for r, c in zip(rows, cols) if eligible[r, c]]
    elif method == "greedy":
        candidates = np.argwhere(eligible)
        candidates = candidates[np.argsort(-iou[eligible], kind="stable")]
        used_rows: set[int] = set()
        used_cols: set[int] = set()
        pairs = []
        for r, c in candidates:
            if r not in used_rows and c not in used_cols:
                used_rows.add(r)
                used_cols.add(c)
                pairs.append((r, c))
    else:
        raise AnnotationArrayError("method", f"must be 'hungarian' or 'greedy', got {method!r}")
    return sorted(BoxMatch(int(r), int(c), float(iou[r, c])) for r, c in pairs)


def check_box_answer(
    expected: object,
    drawn: object,
    min_iou: float = 0.5,
    method: str = "hungarian",
    allow_extra_boxes: bool = True,
) -> GoldCheck:
    """Every expected box missed (and, unless allowed, every drawn box matching no one)."""
    expected_boxes = as_boxes(expected, "expected_boxes")
    drawn_boxes = as_boxes(drawn, "drawn_boxes")
    matches = match_boxes(expected_boxes, drawn_boxes, min_iou, method)
    iou = box_iou(expected_boxes, drawn_boxes)
    matched_expected = {m.expected for m in matches}
    matched_drawn = {m.drawn for m in matches}
    failures = []
    for i, box in enumerate(expected_boxes):
        if i in matched_expected:
            continue
        best = iou[i].max() if drawn_boxes.size else 0.0
        failures.append(
            GoldFailure(
                "missed_box",
                f"The person at {_box_text(box)} has no box of its own: the closest drawn box "
                f"overlaps it by IoU {best:.2f}, at least {min_iou:.2f} is needed.",
            )
        )
    if not allow_extra_boxes:
        for j, box in enumerate(drawn_boxes):
            if j not in matched_drawn:
                failures.append(GoldFailure("extra_box", f"The box at {_box_text(box)} does not match any person."))
    return GoldCheck(tuple(failures))


def as_boxes(boxes: object, field: str) -> np.ndarray:
    """A (N, 4) float array of [x1, y1, x2, y2] with x2 > x1 and y2 > y1, or an error naming the box."""
    arr = np.asarray(boxes, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise AnnotationArrayError(field, f"expected a list of [x1, y1, x2, y2] boxes, got shape {arr.shape}")
    for i, (x1, y1, x2, y2) in enumerate(arr):
        if not np.isfinite([x1, y1, x2, y2]).all():
            raise AnnotationArrayError(f"{field}[{i}]", "coordinates must be finite numbers")
        if not (x2 > x1 and y2 > y1):
            raise AnnotationArrayError(f"{field}[{i}]", f"needs x2 > x1 and y2 > y1, got {[x1, y1, x2, y2]}")
    return arr


def _category_set(names: Iterable[str], field: str) -> frozenset[str]:
    if isinstance(names, str):
        raise AnnotationArrayError(field, f"expected a collection of category names, got the string {names!r}")
    names = frozenset(names)
    for name in names:
        try:
            category_index(name)
        except ValueError:
            raise AnnotationArrayError(field, f"unknown category {name!r}") from None
    return names


def _ordered(names: Iterable[str]) -> list[str]:
    return sorted(names, key=CATEGORY_NAMES.index)


def _box_text(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"
