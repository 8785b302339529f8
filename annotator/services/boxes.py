"""Person boxes: geometry, matching and the end of stage 1.

Boxes are ``[x1, y1, x2, y2]`` integer pixels with ``x1 < x2`` and ``y1 < y2``,
the right and bottom edges exclusive, as ``Person`` stores them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.conf import settings
from django.db import transaction
from scipy.optimize import linear_sum_assignment

from annotator.models import BoxAnnotation, Person
from catalog.models import Image

Box = Sequence[int]


def iou_matrix(boxes_a: Sequence[Box], boxes_b: Sequence[Box]) -> np.ndarray:
    """Intersection over union of every box in ``boxes_a`` with every box in ``boxes_b``."""
    a = np.asarray(boxes_a, dtype=float).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=float).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    intersection = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.divide(intersection, union, out=np.zeros_like(intersection), where=union > 0)


def match_boxes(expected: Sequence[Box], drawn: Sequence[Box], min_iou: float) -> list[tuple[int, int]]:
    """One-to-one pairs (expected index, drawn index) with the best total IoU, each at least ``min_iou``."""
    if not expected or not drawn:
        return []
    overlaps = iou_matrix(expected, drawn)
    rows, cols = linear_sum_assignment(overlaps, maximize=True)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if overlaps[r, c] >= min_iou]


def consensus_boxes(answers: Sequence[Sequence[Box]], min_iou: float = 0.5) -> list[list[int]]:
    """Boxes that a majority of the answers agree on, each the median of its matches.

    Answers are taken in turn; each box joins the cluster it overlaps best
    (IoU >= ``min_iou``, one box per answer per cluster) or starts a new one.
    An answer with no boxes ("no people") votes against every cluster.
    """
    if len(answers) == 1:
        return [list(map(int, box)) for box in answers[0]]
    clusters: list[list[Box]] = []
    for boxes in answers:
        centres = [np.median(np.asarray(c, dtype=float), axis=0) for c in clusters]
        matched = dict((d, e) for e, d in match_boxes(centres, boxes, min_iou)) if centres else {}
        for index, box in enumerate(boxes):
            if index in matched:
                clusters[matched[index]].append(box)
            else:
                clusters.append([box])
    majority = len(answers) / 2
    return [
        [int(round(v)) for v in np.median(np.asarray(members, dtype=float), axis=0)]
        for members in clusters
        if len(members) > majority
    ]


def settle_image_boxes(image: Image) -> bool:
    """End stage 1 for ``image`` once it has enough box answers; True when it did.

    The final boxes become ``Person`` rows: a box already there unchanged (an
    imported one confirmed, or the same box drawn again) keeps its row; new or
    adjusted boxes get new rows (drawn by a worker, linked to that answer, or a
    consensus of several). People whose box is no longer among the final ones
    are deleted, or withdrawn (kept, never annotated or exported again) when
    something already refers to them.
    """
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image.pk)
        if image.boxes_confirmed:
            return False
        answers = list(BoxAnnotation.objects.filter(image=image, excluded=False, is_gold=False).order_by("id"))
        if len(answers) < settings.BOX_ANNOTATORS_PER_IMAGE:
            return False
        final = consensus_boxes([answer.boxes for answer in answers])
        origin = Person.BoxOrigin.WORKER if len(answers) == 1 else Person.BoxOrigin.CONSENSUS
        drawn_from = answers[0] if len(answers) == 1 else None
        existing = {person.box: person for person in image.people.all()}
        for box in final:
            person = existing.pop(tuple(box), None)
            if person is None:
                x1, y1, x2, y2 = box
                Person.objects.create(
                    image=image, x1=x1, y1=y1, x2=x2, y2=y2, box_origin=origin, box_answer=drawn_from
                )
            else:  # the same box again: it now rests on this settlement's answers
                person.box_status = Person.BoxStatus.FINAL
                if person.box_origin != Person.BoxOrigin.IMPORTED:
                    person.box_origin, person.box_answer = origin, drawn_from
                person.save(update_fields=["box_status", "box_origin", "box_answer"])
        for person in existing.values():
            if person.annotations.exists() or person.assignments.exists() or hasattr(person, "gold"):
                person.box_status = Person.BoxStatus.WITHDRAWN
                person.save(update_fields=["box_status"])
            else:
                person.delete()
        image.boxes_confirmed = True
        image.save(update_fields=["boxes_confirmed"])
    return True
