"""Person boxes: the one home of box geometry and box rules.

A box is ``[x1, y1, x2, y2]`` in whole pixels, the right and bottom edges
exclusive, with ``x1 < x2`` and ``y1 < y2``, inside its image. Workers draw
them, datasets import them, control items expect them, training crops them:
all of those check a box here, so one rule gives one answer and one message.

A worker's box must also be large enough to hold a person one can judge:
each side at least ``min_box_side(width, height, fraction, floor)`` pixels
(a share of the image's shorter side, never under an absolute floor). The
answer rules ask for it; consensus leaves smaller boxes out, so no person is
made from one.

Matching pairs expected boxes with drawn ones one-to-one, *most pairs first*:
a worker who boxed everyone, plus an extra box, must match everyone, even
where another pairing would have a larger total IoU. Consensus clusters
several workers' boxes with the same matching.

Django-free (numpy and scipy only): the services, the importers and the
training code all import it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from emotic.errors import FieldError

Box = tuple[int, int, int, int]
CORNERS = ("x1", "y1", "x2", "y2")
MATCHING_METHODS = ("hungarian", "greedy")


class BoxError(FieldError):
    """A box breaks a rule; ``field`` names it by its place, e.g. ``boxes[2]``, ``reason`` says which rule."""


# --- validation -------------------------------------------------------------------
def validate_box(
    box: object, width: int | None = None, height: int | None = None, *, field: str = "box", integers: bool = True
) -> tuple:
    """The box as a tuple, once it has four coordinates, positive area and lies inside the image.

    ``integers`` asks for whole pixels, as workers and datasets give them;
    ``False`` takes any finite numbers (a box given for prediction, the median
    of several boxes). Without the image's size only the top-left corner can
    be checked against it.
    """
    coordinates = _coordinates(box, field, integers)
    _require_area(coordinates, field)
    x1, y1, x2, y2 = coordinates
    if width is None or height is None:
        if x1 < 0 or y1 < 0:
            raise BoxError(field, f"{box_text(coordinates)} lies outside the image")
    elif x1 < 0 or y1 < 0 or x2 > width or y2 > height:
        raise BoxError(field, f"{box_text(coordinates)} lies outside the image ({width} x {height} pixels)")
    return coordinates


def min_box_side(width: int, height: int, fraction: float = 0.0, floor: int = 1) -> int:
    """The smallest side, in pixels, a person's box may have in a ``width`` x ``height`` image.

    ``fraction`` of the image's shorter side, rounded up, and never under
    ``floor`` pixels; never over the shorter side itself, so a box of the
    whole image is always allowed.
    """
    for name, value in (("width", width), ("height", height), ("floor", floor)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise BoxError(name, f"must be a whole number of pixels of at least 1, got {value!r}")
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 <= fraction <= 1:
        raise BoxError("fraction", f"must be a number from 0 to 1, got {fraction!r}")
    shorter = min(int(width), int(height))
    # The product is rounded first: 0.02 * 500 is 10.000000000000002 in floating point, and 10 is meant.
    return min(shorter, max(int(floor), math.ceil(round(fraction * shorter, 6))))


def box_is_too_small(box: Sequence[float], min_side: int | None) -> bool:
    """Whether either side of ``box`` is under ``min_side`` pixels (never, without a minimum)."""
    return bool(min_side) and min(box[2] - box[0], box[3] - box[1]) < min_side


def validate_boxes(
    boxes: object,
    width: int,
    height: int,
    *,
    field: str = "boxes",
    max_count: int | None = None,
    min_side: int | None = None,
) -> list[list[int]]:
    """A worker's answer: distinct whole-pixel boxes inside the image, at most ``max_count`` of them,
    each side at least ``min_side`` pixels (see ``min_box_side``).

    A box drawn twice is a slip of the mouse, not two people, so it is refused.
    A box smaller than the minimum is a click or a scribble, not a person one
    can judge, so it is refused too, by its place (``boxes[3]``).
    The boxes come back as lists, the shape a JSON answer stores.
    """
    if not isinstance(boxes, (list, tuple)):
        raise BoxError(field, "must be a list of [x1, y1, x2, y2] pixel boxes")
    if max_count is not None and len(boxes) > max_count:
        raise BoxError(field, f"at most {max_count} boxes, got {len(boxes)}")
    first_index: dict[tuple, int] = {}
    for index, box in enumerate(boxes):
        checked = validate_box(box, width, height, field=f"{field}[{index}]")
        if box_is_too_small(checked, min_side):
            x1, y1, x2, y2 = checked
            raise BoxError(
                f"{field}[{index}]",
                f"{box_text(checked)} is too small ({x2 - x1} x {y2 - y1} pixels): "
                f"each side must be at least {min_side} pixels in this {width} x {height} image",
            )
        if checked in first_index:
            raise BoxError(
                f"{field}[{index}]", f"{box_text(checked)} is the same box as {field}[{first_index[checked]}]"
            )
        first_index[checked] = index
    return [list(box) for box in first_index]


def clip_box(box: object, width: int, height: int, *, field: str = "box") -> Box:
    """An imported box cut to the image, or an error when nothing of it is inside.

    Datasets draw boxes past the border (COCO's covering boxes, a polygon on
    the edge, EMOTIC's own annotations); the part outside has no pixels to show.
    """
    x1, y1, x2, y2 = coordinates = _coordinates(box, field, integers=True)
    _require_area(coordinates, field)
    clipped = (max(0, x1), max(0, y1), min(width, x2), min(height, y2))
    if not (clipped[0] < clipped[2] and clipped[1] < clipped[3]):
        raise BoxError(field, f"{box_text(coordinates)} has no area inside the image ({width} x {height} pixels)")
    return clipped


def as_box_array(boxes: object, field: str = "boxes") -> np.ndarray:
    """(N, 4) floats for the geometry below, each row a valid box (fractions allowed); errors name the box."""
    if isinstance(boxes, np.ndarray) and boxes.size == 0 or isinstance(boxes, (list, tuple)) and not boxes:
        return np.zeros((0, 4))
    if not isinstance(boxes, (list, tuple, np.ndarray)):
        raise BoxError(field, f"must be a list of [x1, y1, x2, y2] boxes, got {boxes!r}")
    rows = [validate_box(box, field=f"{field}[{i}]", integers=False) for i, box in enumerate(boxes)]
    return np.array(rows, dtype=float)


def box_text(box: Sequence[float]) -> str:
    """``[5, 5, 3, 9]``: whole numbers without a decimal point, so messages read the same for ints and floats."""
    return "[" + ", ".join(_number_text(v) for v in box) + "]"


def _coordinates(box: object, field: str, integers: bool) -> tuple:
    if isinstance(box, np.ndarray):
        box = box.tolist()  # numpy scalars become Python numbers; a 2-D array fails below
    kind = numbers.Integral if integers else numbers.Real
    if (
        not isinstance(box, (list, tuple))
        or len(box) != 4
        or not all(isinstance(v, kind) and not isinstance(v, bool) for v in box)
    ):
        wanted = "four integer pixel coordinates" if integers else "four numbers"
        raise BoxError(field, f"must be {wanted} [x1, y1, x2, y2], got {box!r}")
    if integers:
        return tuple(int(v) for v in box)
    for name, value in zip(CORNERS, box):
        if not math.isfinite(value):
            raise BoxError(f"{field}.{name}", f"must be a finite number, got {value!r}")
    return tuple(float(v) for v in box)


def _require_area(box: tuple, field: str) -> None:
    x1, y1, x2, y2 = box
    if not (x1 < x2 and y1 < y2):
        raise BoxError(field, f"{box_text(box)} has no area: need x1 < x2 and y1 < y2")


def _number_text(value: float) -> str:
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


# --- overlap and matching ----------------------------------------------------------
def iou_matrix(boxes_a: object, boxes_b: object) -> np.ndarray:
    """Intersection over union of every box in ``boxes_a`` with every box in ``boxes_b``, shape (len(a), len(b)).

    Edges are exclusive, so boxes that only touch share no pixel: IoU 0.
    """
    return _iou(as_box_array(boxes_a, "boxes_a"), as_box_array(boxes_b, "boxes_b"))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.clip(bottom_right - top_left, 0, None).prod(axis=-1)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=-1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=-1)
    return intersection / (area_a[:, None] + area_b[None, :] - intersection)  # valid boxes: union > 0


@dataclass(frozen=True, order=True)
class BoxMatch:
    expected: int  # index into the expected boxes
    drawn: int  # index into the drawn boxes
    iou: float


def match_boxes(
    expected: object, drawn: object, min_iou: float = 0.5, method: str = "hungarian"
) -> list[BoxMatch]:
    """One-to-one pairs with IoU >= ``min_iou``, sorted by expected box.

    ``hungarian`` finds the most pairs, and among those the largest total IoU,
    so one drawn box covering two people cannot take the match another drawn
    box needs; maximising total IoU alone and then dropping the weak pairs
    can match fewer people than were boxed. ``greedy`` takes pairs by falling
    IoU, as COCO-style detection evaluation does; it can match fewer, and
    stays so a check can be compared with that evaluation.
    """
    if isinstance(min_iou, bool) or not isinstance(min_iou, numbers.Real) or not 0 < min_iou <= 1:
        raise BoxError("min_iou", f"must be in (0, 1], got {min_iou}")
    if method not in MATCHING_METHODS:
        raise BoxError("method", f"must be 'hungarian' or 'greedy', got {method!r}")
    iou = _iou(as_box_array(expected, "expected_boxes"), as_box_array(drawn, "drawn_boxes"))
    eligible = iou >= min_iou
    if not eligible.any():
        return []
    pairs = _most_pairs(iou, eligible) if method == "hungarian" else _greedy_pairs(iou, eligible)
    return sorted(BoxMatch(int(r), int(c), float(iou[r, c])) for r, c in pairs)


def _most_pairs(iou: np.ndarray, eligible: np.ndarray) -> list[tuple[int, int]]:
    # Weight big + IoU for an eligible pair, 0 otherwise: the IoU of all pairs together is below
    # ``big``, so one more pair always outweighs any gain in IoU (Hungarian method, maximising).
    big = min(iou.shape) + 1
    rows, cols = linear_sum_assignment(np.where(eligible, big + iou, 0.0), maximize=True)
    return [(r, c) for r, c in zip(rows, cols) if eligible[r, c]]


def _greedy_pairs(iou: np.ndarray, eligible: np.ndarray) -> list[tuple[int, int]]:
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
    return pairs


# --- consensus ----------------------------------------------------------------------
def consensus_boxes(
    answers: Sequence[Sequence[Sequence[int]]], min_iou: float = 0.5, *, min_side: int | None = None
) -> list[list[int]]:
    """Boxes that a majority of the answers agree on, each the median of its matches.

    Answers are taken in turn; each box joins the cluster whose median it is
    matched to (``match_boxes``: IoU >= ``min_iou``, one box per answer per
    cluster, most pairs first) or starts a new one. An answer with no boxes
    ("no people") votes against every cluster. A single answer is taken as it is.

    ``min_side``: boxes with a side under it are no person. They are left out
    of the answers before voting (an answer of only such boxes votes "no
    people") and out of the result (a median rounded under the minimum), so
    no person is ever made from one, whatever answers were stored before the
    rule.
    """
    answers = [[box for box in boxes if not box_is_too_small(box, min_side)] for boxes in answers]
    if len(answers) == 1:
        return [[int(v) for v in box] for box in answers[0]]
    clusters: list[list[Sequence[int]]] = []
    for boxes in answers:
        centres = [np.median(np.asarray(members, dtype=float), axis=0) for members in clusters]
        matched = {m.drawn: m.expected for m in match_boxes(centres, boxes, min_iou)}
        for index, box in enumerate(boxes):
            if index in matched:
                clusters[matched[index]].append(box)
            else:
                clusters.append([box])
    majority = len(answers) / 2
    medians = [
        [int(round(v)) for v in np.median(np.asarray(members, dtype=float), axis=0)]
        for members in clusters
        if len(members) > majority
    ]
    return [box for box in medians if not box_is_too_small(box, min_side)]
