"""The annotation protocol in force: the one accessor of its values.

Every reader of the protocol (annotators per split, the hidden controls'
rate, the task timeout, the trust rule, the qualification test, the workers'
instructions) asks ``protocol_in_force()``, never ``settings``: the values
are edited in the admin and versioned (``ProtocolVersion``; changes go
through ``services.protocol.change_protocol``). The environment's settings
are the defaults of a new installation: until the first version is saved
(by the first answer, or an admin's first change), the protocol in force is
``from_settings()``, unsaved.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q

from annotator.models import Person, ProtocolVersion, TaskAssignment, Worker
from catalog.models import Image

# The values a version holds, in the order the admin's form shows them (the record's fields are not values).
VALUE_FIELDS: tuple[str, ...] = (
    "annotators_train", "annotators_val", "annotators_test", "annotators_unsplit", "box_annotators_per_image",
    "control_rate", "control_block_size", "controls_exhausted", "assignment_timeout_minutes",
    "auto_block", "trust_window", "trust_min_answers", "trust_min_accuracy", "skipped_control_fails",
    "qualification_items", "qualification_pass_rate", "qualification_attempts", "qualification_retry_wait_hours",
    "instructions",
)


DEFAULT_INSTRUCTIONS = """\
Each task shows a whole photo with one person marked by a box. Look at the whole scene, not only the face: \
what is the person doing, with whom, where?

Tick every emotion category that fits how the marked person feels (at least one). The examples below show \
answers other workers gave that the research team accepted.

Set Valence (how pleasant), Arousal (how calm or agitated) and Dominance (how much in control) from 1 to 10, \
then the person's gender and age group. If the photo is broken or offensive, report it instead of answering."""


def from_settings() -> ProtocolVersion:
    """The protocol the environment's settings describe (unsaved): a new installation's first version."""
    per_split = settings.ANNOTATORS_PER_SPLIT
    return ProtocolVersion(
        number=0,
        annotators_train=per_split["train"],
        annotators_val=per_split["val"],
        annotators_test=per_split["test"],
        annotators_unsplit=settings.ANNOTATORS_PER_UNSPLIT_PERSON,
        box_annotators_per_image=settings.BOX_ANNOTATORS_PER_IMAGE,
        control_rate=settings.GOLD_RATE,
        control_block_size=settings.GOLD_BLOCK_SIZE,
        controls_exhausted=settings.CONTROLS_EXHAUSTED,
        assignment_timeout_minutes=int(settings.ASSIGNMENT_TIMEOUT.total_seconds() // 60),
        auto_block=settings.QUALITY_AUTO_BLOCK,
        trust_window=settings.QUALITY_GOLD_WINDOW,
        trust_min_answers=settings.QUALITY_GOLD_MIN_ANSWERS,
        trust_min_accuracy=settings.QUALITY_GOLD_MIN_ACCURACY,
        skipped_control_fails=settings.QUALITY_SKIPPED_CONTROL_FAILS,
        qualification_items=settings.QUALIFICATION_ITEMS,
        qualification_pass_rate=settings.QUALIFICATION_PASS_RATE,
        # Qualification retries: the place where the retry policy's settings (attempts, waiting time) wire in.
        qualification_attempts=1,
        qualification_retry_wait_hours=0,
        instructions=DEFAULT_INSTRUCTIONS,
    )


def protocol_in_force() -> ProtocolVersion:
    """The newest saved version, or the environment's defaults (unsaved, number 0) before the first is saved."""
    return ProtocolVersion.objects.order_by("-number").first() or from_settings()


@dataclass(frozen=True)
class Strand:
    """Work in progress a proposed change would strand: the field, and the figures in words."""

    field: str
    figures: str


def stranded_by(current: ProtocolVersion, proposed: dict) -> list[Strand]:
    """What work in progress the proposed values would strand, each with its figures (empty: nothing).

    Fewer annotators than a person already has given or assigned leave its
    live tasks surplus; fewer box workers than an image in its box stage has,
    the same; a shorter qualification test than a worker taking it was
    already given leaves their items over the length. People, images and
    workers whose numbers were pinned by an earlier change keep them, and are
    not counted.
    """
    live = TaskAssignment.objects.filter(state=TaskAssignment.State.ASSIGNED, gold_item__isnull=True)
    strands = []
    for field, split in (("annotators_train", "train"), ("annotators_val", "val"), ("annotators_test", "test"),
                         ("annotators_unsplit", "")):
        new = proposed.get(field, getattr(current, field))
        if new >= getattr(current, field):
            continue
        over = Person.objects.filter(
            box_status=Person.BoxStatus.FINAL, image__split=split, annotators_pinned__isnull=True,
            annotation_slots_taken__gt=new,
        ).filter(Exists(live.filter(person=OuterRef("pk"))))
        people = over.count()
        if people:
            tasks = live.filter(person__in=over).count()
            most = over.order_by("-annotation_slots_taken").values_list("annotation_slots_taken", flat=True).first()
            where = f"of the {split} split" if split else "of images without a split"
            strands.append(Strand(field, (
                f"{people} person(s) {where} already have more annotators given or assigned (up to {most}) than the "
                f"new {new}, with {tasks} task(s) still in progress on them"
            )))
    new = proposed.get("box_annotators_per_image", current.box_annotators_per_image)
    if new < current.box_annotators_per_image:
        over = Image.objects.filter(
            boxes_confirmed=False, box_annotators_pinned__isnull=True, box_slots_taken__gt=new
        ).filter(Exists(live.filter(image=OuterRef("pk"))))
        images = over.count()
        if images:
            tasks = live.filter(image__in=over).count()
            strands.append(Strand("box_annotators_per_image", (
                f"{images} image(s) in their box stage already have more box workers given or assigned than the new "
                f"{new}, with {tasks} box task(s) still in progress on them"
            )))
    new = proposed.get("qualification_items", current.qualification_items)
    if new < current.qualification_items:
        given = (
            Worker.objects.filter(qualification=Worker.Qualification.PENDING, qualification_protocol__isnull=True)
            .annotate(items=Count("assignments", filter=Q(assignments__is_qualification=True)))
            .filter(items__gt=new)
        )
        workers = given.count()
        if workers:
            strands.append(Strand("qualification_items", (
                f"{workers} worker(s) taking the test were already given more than the new {new} item(s)"
            )))
    return strands


def changed_values(current: ProtocolVersion, proposed: dict) -> dict[str, list]:
    """``{field: [previous, new]}`` for every value ``proposed`` changes."""
    return {
        field: [getattr(current, field), proposed[field]]
        for field in VALUE_FIELDS
        if field in proposed and proposed[field] != getattr(current, field)
    }
