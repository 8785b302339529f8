"""Gold (control) item checks: does an answer fall inside the set of acceptable answers?

EMOTIC screened workers with a qualification of sample annotations that had
sets of acceptable answers, and hid 2 control images in every batch of 20
(TPAMI 2019, section 3). A check returns every reason an answer failed, each
worded for the worker, so the qualification page can show what to fix.

Emotion gold passes when the answer picks at least one required category,
nothing outside the allowed categories, VAD values inside the ranges, and a
gender and age among those allowed (empty: any). Box gold passes when every
expected person box is matched one-to-one by a drawn box with IoU >= min_iou;
the IoU and the matching (most pairs first) are ``emotic.boxes``'s, the same
that production's control checks use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from emotic.annotation_arrays import AnnotationArrayError
from emotic.boxes import as_box_array, box_text, iou_matrix, match_boxes
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


def check_box_answer(
    expected: object,
    drawn: object,
    min_iou: float = 0.5,
    method: str = "hungarian",
    allow_extra_boxes: bool = True,
) -> GoldCheck:
    """Every expected box missed (and, unless allowed, every drawn box matching no one)."""
    expected_boxes = as_box_array(expected, "expected_boxes")
    drawn_boxes = as_box_array(drawn, "drawn_boxes")
    matches = match_boxes(expected_boxes, drawn_boxes, min_iou, method)
    iou = iou_matrix(expected_boxes, drawn_boxes)
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
                f"The person at {box_text(box)} has no box of its own: the closest drawn box "
                f"overlaps it by IoU {best:.2f}, at least {min_iou:.2f} is needed.",
            )
        )
    if not allow_extra_boxes:
        for j, box in enumerate(drawn_boxes):
            if j not in matched_drawn:
                failures.append(GoldFailure("extra_box", f"The box at {box_text(box)} does not match any person."))
    return GoldCheck(tuple(failures))


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


def acceptable_from_answers(
    answers: Iterable[tuple[Iterable[str], int, int, int, str, str]], vad_margin: int = 1
) -> EmotionGold:
    """The acceptable answers a set of accepted answers suggests, for an admin to edit into a control item.

    ``answers``: (categories, valence, arousal, dominance, gender, age) each.
    Required: the categories at least half of the answers chose (the most
    chosen ones if none reaches half); allowed: every category any answer
    chose; each VAD range spans the answers' values widened by
    ``vad_margin``; the genders and ages given. Raises
    ``AnnotationArrayError`` on ``answers`` when there are none.
    """
    answers = list(answers)
    if not answers:
        raise AnnotationArrayError("answers", "no accepted answers to make a control item from")
    chosen = [_category_set(a[0], "categories") for a in answers]
    counts = {name: sum(name in c for c in chosen) for name in CATEGORY_NAMES}
    top = max(counts.values())
    required = {n for n, k in counts.items() if 2 * k >= len(answers)} or {n for n, k in counts.items() if k == top}
    ranges = {}
    for i, name in enumerate(VAD_DIMENSIONS):
        values = [int(a[1 + i]) for a in answers]
        ranges[name] = (max(VAD_MIN, min(values) - vad_margin), min(VAD_MAX, max(values) + vad_margin))
    return EmotionGold(
        required_categories=frozenset(required),
        allowed_categories=frozenset().union(*chosen),
        allowed_genders=frozenset(a[4] for a in answers if a[4]),
        allowed_ages=frozenset(a[5] for a in answers if a[5]),
        **ranges,
    )
