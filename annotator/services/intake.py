"""Intake: how images and the people found with them enter annotation.

Every image that should be annotated comes through ``receive_image``, with
the people boxes its source gave (upright, on the stored pixels: the
catalog's ingest checked them). A box already on the image is the same
person; a new one becomes an imported person. When the boxes come from a
trusted dataset (COCO, ADE20K, EMOTIC) they are all the people, so the image
skips the box-drawing stage, unless workers are already drawing it.

``receive_original_answers`` stores a dataset's own answers for those people
(EMOTIC's), as answers of accounts made for them: *original* workers, found
by their kind and number (``Worker.original_number``), never by a user name a
person could have taken before the import.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from annotator.models import AnnotationStatus, EmotionAnnotation, Person, Worker
from annotator.services.accounts import ORIGINAL_ANNOTATOR_PREFIX
from annotator.services.assignment import recount_slots
from catalog.models import Image
from emotic.taxonomy import TaxonomyError, categories_to_mask, validate_age, validate_gender, validate_vad

Box = tuple[int, int, int, int]


def receive_image(image: Image, people_boxes: Sequence[Box] = (), *, boxes_final: bool = False) -> tuple[Person, ...]:
    """The image's people at ``people_boxes`` (made for boxes not there yet), in the same order.

    The image's row is locked first, so two imports of the same box at the
    same moment make one person, and a box task being handed out meanwhile
    is seen before the box stage is closed.
    """
    boxes = [tuple(int(v) for v in box) for box in people_boxes]
    if not boxes:
        return ()
    with transaction.atomic():
        locked = Image.objects.select_for_update().only("pk", "boxes_confirmed", "box_slots_taken").get(pk=image.pk)
        existing = {person.box: person for person in Person.objects.filter(image=locked)}
        people = []
        for box in boxes:
            person = existing.get(box)
            if person is None:
                x1, y1, x2, y2 = box
                person = Person.objects.create(
                    image=locked, image_width=image.width, image_height=image.height,
                    x1=x1, y1=y1, x2=x2, y2=y2, box_origin=Person.BoxOrigin.IMPORTED,
                )
                existing[box] = person
            people.append(person)
        if boxes_final and not locked.boxes_confirmed and locked.box_slots_taken == 0:
            Image.objects.filter(pk=locked.pk).update(boxes_confirmed=True)
            image.boxes_confirmed = True
    return tuple(people)


def original_annotator(number: int) -> Worker:
    """The worker that owns every imported n-th answer (created on first use).

    EMOTIC keeps each annotator's answer per person but no annotator identity,
    so the n-th answer of every person is stored as the original worker number
    ``n``: an inactive user with no password, who can never log in or be given
    tasks. It is found by its kind and number, so a person who signed up as
    ``emotic-original-<n>`` (sign-up refuses it now; older accounts, or one an
    admin made) owns nothing: the account gets another name.
    """
    for _attempt in range(3):
        worker = Worker.objects.filter(kind=Worker.Kind.ORIGINAL, original_number=number).first()
        if worker is not None:
            return worker
        try:
            with transaction.atomic():
                user = get_user_model()(username=_free_original_name(number), is_active=False)
                user.set_unusable_password()
                user.save()
                return Worker.objects.create(
                    user=user, kind=Worker.Kind.ORIGINAL, original_number=number,
                    qualification=Worker.Qualification.QUALIFIED,
                )
        except IntegrityError:
            continue  # another import made it (or took the name) at the same moment: look again
    raise IntegrityError(f"original_annotator: could not make original worker {number}")


def _free_original_name(number: int) -> str:
    """``emotic-original-<n>``, or, where someone has that name, the same with a random suffix."""
    name = f"{ORIGINAL_ANNOTATOR_PREFIX}{number}"
    users = get_user_model().objects
    while users.filter(username__iexact=name).exists():
        name = f"{ORIGINAL_ANNOTATOR_PREFIX}{number}-{secrets.token_hex(3)}"
    return name


def _answer_fields(answer: dict) -> dict:
    """The EmotionAnnotation fields for one answer; TaxonomyError names the field at fault."""
    return {
        "categories_mask": categories_to_mask(answer.get("categories") or []),
        "valence": validate_vad("valence", answer.get("valence")),
        "arousal": validate_vad("arousal", answer.get("arousal")),
        "dominance": validate_vad("dominance", answer.get("dominance")),
        "gender": validate_gender(answer.get("gender")),
        "age": validate_age(answer.get("age")),
    }


def receive_original_answers(people: Sequence[Person], answers_per_person: Sequence[Sequence[dict]]) -> list[str]:
    """Store each person's answers once (re-imports change nothing); return notes on answers left out.

    The people's pool counters are recounted with them. An answer the platform
    cannot hold (no category, or no valence/arousal/dominance, which EMOTIC
    sometimes lacks) is left out with a note.
    """
    notes = []
    for person_index, (person, answers) in enumerate(zip(people, answers_per_person, strict=False)):
        for number, answer in enumerate(answers, start=1):
            where = f"people[{person_index}].answers[{number - 1}]"
            try:
                fields = _answer_fields(answer)
            except TaxonomyError as error:
                notes.append(f"{where} not imported: {error}")
                continue
            if not fields["categories_mask"]:
                notes.append(f"{where} not imported: categories: none given")
                continue
            EmotionAnnotation.objects.get_or_create(
                person=person,
                worker=original_annotator(number),
                defaults={**fields, "status": AnnotationStatus.ACCEPTED},
            )
    # The original answers count towards each person's annotators, as any answer does:
    # a val person with 3 of them gets 2 more from the crowd, a train person none.
    recount_slots(person_ids=[person.pk for person in people], image_ids=[])
    return notes
