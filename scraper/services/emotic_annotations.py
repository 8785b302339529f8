"""The original EMOTIC annotations, imported as answers of dedicated workers.

EMOTIC keeps each annotator's answer per person but no annotator identity,
so the n-th answer of every person is stored as worker ``emotic-original-<n>``.
These workers are inactive users with no password: they exist to own the
imported answers and can never log in or be given tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth import get_user_model

from annotator.models import AnnotationStatus, EmotionAnnotation, Person, Worker
from catalog.models import Image
from annotator.services.assignment import recount_slots
from emotic.taxonomy import TaxonomyError, categories_to_mask, validate_age, validate_gender, validate_vad

WORKER_PREFIX = "emotic-original-"


def original_annotator(number: int) -> Worker:
    """The worker that owns every imported n-th answer (created on first use)."""
    user, created = get_user_model().objects.get_or_create(username=f"{WORKER_PREFIX}{number}", defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    worker, _ = Worker.objects.get_or_create(user=user, defaults={"qualification": Worker.Qualification.QUALIFIED})
    return worker


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


def import_original_answers(people: Sequence[Person], answers_per_person: Sequence[Sequence[dict]]) -> list[str]:
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


def keep_original_split(image: Image, split: str) -> str | None:
    """Give a newly imported image the split EMOTIC put it in (locked, so re-splitting keeps it).

    Returns a note when the image already sits in another split (EMOTIC lists a few images twice).
    """
    updated = Image.objects.filter(pk=image.pk, split="").update(split=split, split_locked=True)
    if updated:
        image.split, image.split_locked = split, True
        return None
    image.refresh_from_db(fields=["split", "split_locked"])
    return None if image.split == split else f"split: EMOTIC also lists this image in {split}; it stays in {image.split}"
