"""Person boxes: IoU and one-to-one matching (moved here from ``emotic.gold``).

Boxes are ``[x1, y1, x2, y2]`` with ``x1 < x2`` and ``y1 < y2``. Django-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from emotic.annotation_arrays import AnnotationArrayError


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
        raise AnnotationArrayError(f"min_iou: must be in (0, 1], got {min_iou}")
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
        raise AnnotationArrayError(f"method: must be 'hungarian' or 'greedy', got {method!r}")
    return sorted(BoxMatch(int(r), int(c), float(iou[r, c])) for r, c in pairs)


def as_boxes(boxes: object, field: str) -> np.ndarray:
    """A (N, 4) float array of [x1, y1, x2, y2] with x2 > x1 and y2 > y1, or an error naming the box."""
    arr = np.asarray(boxes, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise AnnotationArrayError(f"{field}: expected a list of [x1, y1, x2, y2] boxes, got shape {arr.shape}")
    for i, (x1, y1, x2, y2) in enumerate(arr):
        if not np.isfinite([x1, y1, x2, y2]).all():
            raise AnnotationArrayError(f"{field}[{i}]: coordinates must be finite numbers")
        if not (x2 > x1 and y2 > y1):
            raise AnnotationArrayError(f"{field}[{i}]: needs x2 > x1 and y2 > y1, got {[x1, y1, x2, y2]}")
    return arr


def _box_text(box: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"
