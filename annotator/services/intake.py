"""Intake: how images and the people found with them enter annotation.

Every image that should be annotated comes through ``receive_images`` (one
or many at once, set-based: an import's batch costs a few statements), with
the people boxes its source gave (upright, on the stored pixels: the
catalog's ingest checked them). A box already on the image is the same
person; a new one becomes an imported person. When the boxes come from a
trusted dataset (COCO, ADE20K, EMOTIC) they are all the people, so the image
skips the box-drawing stage, unless workers are already drawing it.

``store_original_answers`` stores a dataset's own answers for those people
(EMOTIC's), as answers of accounts made for them: *original* workers, found
by their kind and number (``Worker.original_number``), never by a user name a
person could have taken before the import.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction

from annotator.models import AnnotationStatus, EmotionAnnotation, Person, Worker
from annotator.services.accounts import ORIGINAL_ANNOTATOR_PREFIX
from annotator.services.assignment import recount_slots
from annotator.signals import original_answers_stored
from catalog.models import Image
from emotic.taxonomy import TaxonomyError, categories_to_mask, validate_age, validate_gender, validate_vad

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class Arrival:
    """One image entering annotation: the people boxes its source gave and, per box, that person's answers."""

    image: Image
    people_boxes: Sequence[Box] = ()
    answers: Sequence[Sequence[dict]] = ()


@dataclass(frozen=True)
class Received:
    """What became of an arrival: its people, in the order of its boxes, and notes on answers left out."""

    people: tuple[Person, ...]
    notes: list[str]


def receive_image(image: Image, people_boxes: Sequence[Box] = (), *, boxes_final: bool = False) -> tuple[Person, ...]:
    """The image's people at ``people_boxes`` (made for boxes not there yet), in the same order."""
    return receive_images([Arrival(image, people_boxes)], boxes_final=boxes_final)[0].people


def receive_images(arrivals: Sequence[Arrival], *, boxes_final: bool = False) -> list[Received]:
    """Many images at once, set-based: their people and original answers, in a few statements whatever their number.

    The images' rows are locked first (in id order, so two batches never wait
    on each other in a circle): two imports of the same box at the same moment
    make one person, and a box task being handed out meanwhile is seen before
    the box stage is closed. New people are inserted together, then every
    answer (``store_original_answers``). Results come in the order of ``arrivals``.
    """
    prepared = [[tuple(int(v) for v in box) for box in arrival.people_boxes] for arrival in arrivals]
    ids = sorted({arrival.image.pk for arrival, boxes in zip(arrivals, prepared) if boxes})
    if not ids:
        return [Received((), []) for _ in arrivals]
    with transaction.atomic():
        locked = {
            row.pk: row
            for row in Image.objects.select_for_update().only("pk", "boxes_confirmed", "box_slots_taken").filter(pk__in=ids).order_by("pk")
        }
        existing = {(person.image_id, person.box): person for person in Person.objects.filter(image_id__in=ids)}
        new: list[Person] = []
        people_of: list[tuple[Person, ...]] = []
        for arrival, boxes in zip(arrivals, prepared):
            image, people = arrival.image, []
            for box in boxes:
                person = existing.get((image.pk, box))
                if person is None:
                    x1, y1, x2, y2 = box
                    person = Person(
                        image_id=image.pk, image_width=image.width, image_height=image.height,
                        x1=x1, y1=y1, x2=x2, y2=y2, box_origin=Person.BoxOrigin.IMPORTED,
                    )  # fmt: skip
                    existing[(image.pk, box)] = person
                    new.append(person)
                people.append(person)
            people_of.append(tuple(people))
        Person.objects.bulk_create(new)
        if boxes_final:
            closing = [pk for pk, row in locked.items() if not row.boxes_confirmed and row.box_slots_taken == 0]
            Image.objects.filter(pk__in=closing).update(boxes_confirmed=True)
            for arrival in arrivals:
                if arrival.image.pk in closing:
                    arrival.image.boxes_confirmed = True
        notes = store_original_answers([(people, arrival.answers) for people, arrival in zip(people_of, arrivals)])
    return [Received(people, note) for people, note in zip(people_of, notes)]


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
    """Store each person's answers once (re-imports change nothing); return notes on answers left out."""
    return store_original_answers([(people, answers_per_person)])[0]


def original_annotators(count: int) -> dict[int, Worker]:
    """Original workers 1 to ``count``, by number: one query when they exist, made where they do not."""
    found = {worker.original_number: worker for worker in Worker.objects.filter(kind=Worker.Kind.ORIGINAL, original_number__lte=count)}
    return {number: found.get(number) or original_annotator(number) for number in range(1, count + 1)}


def store_original_answers(groups: Sequence[tuple[Sequence[Person], Sequence[Sequence[dict]]]]) -> list[list[str]]:
    """Store the answers of many images' people in one insert; per group (an image), notes on answers left out.

    Each group is an image's people and, per person, the dataset's answers; the
    n-th answer is original worker n's. An answer the platform cannot hold (no
    category, or no valence/arousal/dominance, which EMOTIC sometimes lacks) is
    left out with a note naming it; one already stored (a re-import) is left
    alone. The people's pool counters are recounted together, and quality is
    told once (``original_answers_stored``) rather than once per answer.
    """
    notes: list[list[str]] = [[] for _ in groups]
    wanted: list[tuple[Person, int, dict]] = []
    for group, (people, answers_per_person) in enumerate(groups):
        for person_index, (person, answers) in enumerate(zip(people, answers_per_person, strict=False)):
            for number, answer in enumerate(answers, start=1):
                where = f"people[{person_index}].answers[{number - 1}]"
                try:
                    fields = _answer_fields(answer)
                except TaxonomyError as error:
                    notes[group].append(f"{where} not imported: {error}")
                    continue
                if not fields["categories_mask"]:
                    notes[group].append(f"{where} not imported: categories: none given")
                    continue
                wanted.append((person, number, fields))
    people_ids = {person.pk for people, _ in groups for person in people}
    if not wanted:
        if people_ids:
            recount_slots(person_ids=sorted(people_ids), image_ids=[])
        return notes
    workers = original_annotators(max(number for _, number, _ in wanted))
    taken = set(
        EmotionAnnotation.objects.filter(person_id__in={person.pk for person, _, _ in wanted}, worker__in=workers.values())
        .values_list("person_id", "worker_id")
    )
    rows = []
    for person, number, fields in wanted:
        key = (person.pk, workers[number].pk)
        if key not in taken:  # stored before, or twice in this batch (a dataset listing an image twice)
            taken.add(key)
            rows.append(EmotionAnnotation(person=person, worker=workers[number], status=AnnotationStatus.ACCEPTED, **fields))
    with transaction.atomic():
        EmotionAnnotation.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent import of the same answers
        # The original answers count towards each person's annotators, as any answer does:
        # a val person with 3 of them gets 2 more from the crowd, a train person none.
        recount_slots(person_ids=sorted(people_ids), image_ids=[])
        if rows:
            original_answers_stored.send(
                sender=EmotionAnnotation,
                worker_ids=sorted({row.worker_id for row in rows}),
                person_ids=sorted({row.person_id for row in rows}),
            )
    return notes
