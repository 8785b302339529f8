"""The end of stage 1: several workers' boxes for an image become its people.

The geometry (validation, IoU, matching, consensus) lives in ``emotic.boxes``;
this module only reads the answers from the database and writes the people.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from annotator.models import BoxAnnotation, Person
from annotator.protocol import protocol_in_force
from catalog.models import Image
from emotic.boxes import consensus_boxes, min_box_side


def min_box_side_for(width: int, height: int) -> int:
    """The smallest side a person's box may have in an image of this size (``MIN_BOX_SIDE_*`` settings)."""
    return min_box_side(width, height, settings.MIN_BOX_SIDE_FRACTION, settings.MIN_BOX_SIDE_PIXELS)


def settle_image_boxes(image: Image) -> bool:
    """End stage 1 for ``image`` once it has enough box answers; True when it did.

    The final boxes become ``Person`` rows: a box already there unchanged (an
    imported one confirmed, or the same box drawn again) keeps its row; new or
    adjusted boxes get new rows (drawn by a worker, linked to that answer, or a
    consensus of several). People whose box is no longer among the final ones
    are deleted, or withdrawn (kept, never annotated or exported again) when
    something already refers to them. Boxes under the minimum size
    (``min_box_side_for``) make no person.
    """
    with transaction.atomic():
        image = Image.objects.select_for_update().get(pk=image.pk)
        if image.boxes_confirmed:
            return False
        answers = list(BoxAnnotation.objects.filter(image=image, excluded=False, is_gold=False).order_by("id"))
        needed = image.box_annotators_pinned or protocol_in_force().box_annotators_per_image
        if len(answers) < needed:
            return False
        # Boxes under the minimum side never become people, even in answers stored before the rule.
        final = consensus_boxes([answer.boxes for answer in answers], min_side=min_box_side_for(image.width, image.height))
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
