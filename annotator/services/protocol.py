"""Changing the annotation protocol: validated, versioned, recorded, and never stranding work unnoticed.

``change_protocol`` makes a new ``ProtocolVersion`` from the one in force
and the values given, recording who, when, why and every value changed with
its previous one. A change that would strand work in progress
(``protocol.stranded_by``: fewer annotators than a person already has, ...)
is refused with the figures, unless the admin applies it to new work only:
then people, images and test-takers already begun keep the previous
version's numbers (pinned on their rows), and only work not yet begun
follows the new ones.

``version_for_answer`` is the saved version in force, for an answer to
record; the first version is made from the environment's settings.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from annotator.models import EmotionAnnotation, InstructionExample, Person, ProtocolVersion, TaskAssignment, Worker
from annotator.protocol import VALUE_FIELDS, changed_values, from_settings, stranded_by
from annotator.services.errors import AnnotationError
from catalog.models import Image
from emotic.taxonomy import CATEGORY_NAMES, categories_to_mask

AppliedTo = ProtocolVersion.AppliedTo
MAX_ANNOTATORS = 50
MAX_INSTRUCTIONS = 20_000
EXAMPLES_PER_CATEGORY = 6


class ProtocolInvalid(AnnotationError):
    """A value of the protocol breaks its rule."""


class ProtocolChangeRefused(AnnotationError):
    """The change would strand work in progress; the reason gives the figures."""

    status_code = 409
    code = "strands_work"


def version_for_answer() -> ProtocolVersion:
    """The saved version in force; the first one is made from the environment's settings when none is saved yet."""
    saved = ProtocolVersion.objects.order_by("-number").first()
    if saved is not None:
        return saved
    first = from_settings()
    first.number = 1
    first.note = "The first version, made from the environment's settings."
    try:
        with transaction.atomic():
            first.save()
    except IntegrityError:  # another request made it a moment ago
        return ProtocolVersion.objects.order_by("-number").first()
    return first


def _integer(field: str, value, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolInvalid(field, f"must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ProtocolInvalid(field, f"must be from {low} to {high}, got {value}")
    return value


def _share(field: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ProtocolInvalid(field, f"must be a number from 0 to 1, got {value!r}")
    if not 0 <= value <= 1:
        raise ProtocolInvalid(field, f"must be from 0 to 1, got {value}")
    return float(value)


def _flag(field: str, value) -> bool:
    if not isinstance(value, bool):
        raise ProtocolInvalid(field, f"must be true or false, got {value!r}")
    return value


def validate_values(current: ProtocolVersion, values: dict) -> dict:
    """The values given, checked one by one and together; unknown fields are refused by name."""
    if unknown := sorted(set(values) - set(VALUE_FIELDS)):
        raise ProtocolInvalid(unknown[0], "is not a value of the protocol")
    checked = {}
    for field, value in values.items():
        if field in ("annotators_train", "annotators_val", "annotators_test", "annotators_unsplit",
                     "box_annotators_per_image"):
            checked[field] = _integer(field, value, 1, MAX_ANNOTATORS)
        elif field in ("control_block_size", "trust_window", "trust_min_answers", "qualification_items"):
            checked[field] = _integer(field, value, 1, 1000)
        elif field == "assignment_timeout_minutes":
            checked[field] = _integer(field, value, 1, 24 * 60)
        elif field == "qualification_attempts":
            checked[field] = _integer(field, value, 1, 100)
        elif field == "qualification_retry_wait_hours":
            checked[field] = _integer(field, value, 0, 24 * 365)
        elif field in ("control_rate", "trust_min_accuracy", "qualification_pass_rate"):
            checked[field] = _share(field, value)
        elif field in ("auto_block", "skipped_control_fails"):
            checked[field] = _flag(field, value)
        elif field == "controls_exhausted":
            if value not in ProtocolVersion.ControlsExhausted.values:
                raise ProtocolInvalid(field, f"must be one of {', '.join(ProtocolVersion.ControlsExhausted.values)}, got {value!r}")
            checked[field] = value
        elif field == "instructions":
            if not isinstance(value, str):
                raise ProtocolInvalid(field, "must be text")
            if len(value) > MAX_INSTRUCTIONS:
                raise ProtocolInvalid(field, f"must be at most {MAX_INSTRUCTIONS} characters, got {len(value)}")
            checked[field] = value.replace("\r\n", "\n").strip()
    window = checked.get("trust_window", current.trust_window)
    needed = checked.get("trust_min_answers", current.trust_min_answers)
    if needed > window:
        raise ProtocolInvalid(
            "trust_min_answers", f"must be at most the control answers judged ({window}), got {needed}: no one could be judged"
        )
    return checked


def change_protocol(
    by, values: dict, *, applied_to: str = AppliedTo.ALL, note: str = ""
) -> ProtocolVersion:
    """A new version: the one in force with ``values`` changed. Raises ``ProtocolInvalid`` or ``ProtocolChangeRefused``.

    ``applied_to``: ``all`` refuses a change that would strand work in
    progress, naming the figures; ``new_work`` applies it to work not yet
    begun and pins what has begun to the previous numbers.
    """
    if applied_to not in AppliedTo.values:
        raise ProtocolInvalid("applied_to", f"must be one of {', '.join(AppliedTo.values)}, got {applied_to!r}")
    note = (note or "").strip()
    if len(note) > 300:
        raise ProtocolInvalid("note", f"must be at most 300 characters, got {len(note)}")
    with transaction.atomic():
        current = _lock_in_force()
        checked = validate_values(current, values)
        changes = changed_values(current, checked)
        if not changes:
            raise ProtocolInvalid("values", "nothing changed: every value is the one in force")
        if applied_to == AppliedTo.ALL:
            strands = stranded_by(current, checked)
            if strands:
                first = strands[0]
                figures = "; ".join(s.figures for s in strands)
                raise ProtocolChangeRefused(
                    first.field,
                    f"would strand work in progress: {figures}. Apply it to new work only, or wait until that work is done.",
                )
        else:
            _pin_work_in_progress(current, checked)
        version = _new_version(current, checked, by=by, note=note, changes=changes, applied_to=applied_to)
        _copy_examples(current, version)
    return version


def set_instruction_examples(by, examples: dict[str, list[int]], *, note: str = "") -> ProtocolVersion:
    """A new version whose instructions show these accepted answers as examples of these categories.

    Each answer must be accepted, counted (not gold, not excluded) and have
    the category ticked; at most ``EXAMPLES_PER_CATEGORY`` per category.
    """
    chosen: list[tuple[str, int]] = []
    for category, ids in examples.items():
        if category not in CATEGORY_NAMES:
            raise ProtocolInvalid(f"examples.{category}", "is not an emotion category")
        ids = sorted(set(ids))
        if len(ids) > EXAMPLES_PER_CATEGORY:
            raise ProtocolInvalid(f"examples.{category}", f"at most {EXAMPLES_PER_CATEGORY} examples, got {len(ids)}")
        bit = categories_to_mask([category])
        fitting = set(
            EmotionAnnotation.objects.filter(
                pk__in=ids, status="accepted", is_gold=False, excluded=False,
            ).alias(hit=F("categories_mask").bitand(bit)).filter(hit__gt=0).values_list("pk", flat=True)
        )
        if missing := [i for i in ids if i not in fitting]:
            raise ProtocolInvalid(
                f"examples.{category}", f"answer {missing[0]} is not an accepted answer with {category} ticked"
            )
        chosen += [(category, i) for i in ids]
    with transaction.atomic():
        current = _lock_in_force()
        before = sorted(current.examples.values_list("category", "annotation_id")) if current.pk else []
        after = sorted(chosen)
        if before == after:
            raise ProtocolInvalid("examples", "nothing changed: these are the examples in force")
        changes = {"examples": [_examples_text(before), _examples_text(after)]}
        version = _new_version(current, {}, by=by, note=note, changes=changes, applied_to=AppliedTo.ALL)
        InstructionExample.objects.bulk_create(
            InstructionExample(protocol=version, category=c, annotation_id=i) for c, i in after
        )
    return version


def _examples_text(pairs) -> str:
    by_category: dict[str, list[str]] = {}
    for category, annotation_id in pairs:
        by_category.setdefault(category, []).append(str(annotation_id))
    return "; ".join(f"{c}: answers {', '.join(ids)}" for c, ids in by_category.items()) or "none"


def _lock_in_force() -> ProtocolVersion:
    version_for_answer()
    return ProtocolVersion.objects.select_for_update().order_by("-number").first()


def _new_version(current, checked, *, by, note, changes, applied_to) -> ProtocolVersion:
    values = {field: checked.get(field, getattr(current, field)) for field in VALUE_FIELDS}
    return ProtocolVersion.objects.create(
        number=current.number + 1, created_by=by, note=note, changes=changes, applied_to=applied_to, **values
    )


def _copy_examples(current: ProtocolVersion, version: ProtocolVersion) -> None:
    InstructionExample.objects.bulk_create(
        InstructionExample(protocol=version, category=e.category, annotation_id=e.annotation_id)
        for e in current.examples.all()
    )


def _pin_work_in_progress(current: ProtocolVersion, checked: dict) -> None:
    """Work already begun keeps the numbers of ``current`` where ``checked`` changes them."""
    splits = {"annotators_train": "train", "annotators_val": "val", "annotators_test": "test", "annotators_unsplit": ""}
    changed = {split: getattr(current, field) for field, split in splits.items()
               if field in checked and checked[field] != getattr(current, field)}
    for split, number in changed.items():
        Person.objects.filter(
            annotators_pinned__isnull=True, annotation_slots_taken__gt=0, image__split=split
        ).update(annotators_pinned=number)
    if checked.get("box_annotators_per_image", current.box_annotators_per_image) != current.box_annotators_per_image:
        Image.objects.filter(
            boxes_confirmed=False, box_annotators_pinned__isnull=True, box_slots_taken__gt=0
        ).update(box_annotators_pinned=current.box_annotators_per_image)
    test_changed = any(
        checked.get(field, getattr(current, field)) != getattr(current, field)
        for field in ("qualification_items", "qualification_pass_rate")
    )
    if test_changed:
        Worker.objects.filter(
            qualification=Worker.Qualification.PENDING, qualification_protocol__isnull=True,
            pk__in=TaskAssignment.objects.filter(is_qualification=True).values("worker_id"),
        ).update(qualification_protocol=current)
