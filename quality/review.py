"""What the review pages show, read and computed in one place (the admin views stay thin).

Figures here are computed live from the current rows (one image's people,
one worker's answers), so a page is right even between recomputations; the
only stored figure shown is the Dawid-Skene label, which needs every answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from annotator.protocol import protocol_in_force
from annotator.models import AnnotationStatus, EmotionAnnotation, GoldItem, Person, TaskAssignment, Worker
from catalog.models import Image
from quality import selectors
from quality.figures import combined_labels, display, person_figures
from quality.models import PersonAgreement, WorkerTrustEvent
from quality.worker_figures import compute_worker_figures, last_in_window
from emotic.gold import acceptable_from_answers
from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS, mask_to_categories
from emotic.worker_quality import leave_one_out_agreement

BOX_COLOURS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324")


def not_counted_because(annotation: EmotionAnnotation, person: Person, counts: bool) -> str:
    """Why an answer is left out of the figures and exports ("" if it counts).

    Whether it counts is ``selectors.counted_annotations``' decision (``counts``);
    this only words the reason for the admin.
    """
    if counts:
        return ""
    if person.box_status == Person.BoxStatus.EXCLUDED:
        return "box drawn by a blocked worker"
    if person.box_status == Person.BoxStatus.WITHDRAWN:
        return "box withdrawn"
    if annotation.is_gold:
        return "gold answer"
    if annotation.status == AnnotationStatus.REJECTED:
        return "rejected"
    if annotation.excluded or annotation.worker.is_blocked:
        return "worker blocked"
    return "not counted"


@dataclass
class AnswerView:
    annotation: EmotionAnnotation
    categories: list[str]
    not_counted: str
    agrees_with_majority: str  # Jaccard with the others' majority (leave-one-out), or "n/a"
    agrees_with_union: str


@dataclass
class PersonReview:
    person: object
    number: int
    colour: str
    answers: list[AnswerView] = field(default_factory=list)
    annotators: int = 0
    fleiss_kappa: str = "n/a"
    vad_std: dict[str, str] = field(default_factory=dict)
    combined: dict[str, dict] = field(default_factory=dict)  # method -> {categories, valence, ..., age}
    dawid_skene: list[str] | None = None
    low_agreement: bool = False

    @property
    def box_width(self) -> int:
        return self.person.x2 - self.person.x1

    @property
    def box_height(self) -> int:
        return self.person.y2 - self.person.y1


@dataclass
class ImageReview:
    image: Image
    people: list[PersonReview]
    reports: list[TaskAssignment]


def image_review(image: Image) -> ImageReview:
    people = list(image.people.order_by("id"))
    annotations = (
        EmotionAnnotation.objects.filter(person__image=image)
        .select_related("worker__user")
        .order_by("person_id", "created_at", "id")
    )
    counted_ids = set(selectors.counted_annotations().filter(person__image=image).values_list("pk", flat=True))
    by_person: dict[int, list[EmotionAnnotation]] = {}
    for annotation in annotations:
        by_person.setdefault(annotation.person_id, []).append(annotation)
    counted = selectors.counted_people_arrays([p.pk for p in people])
    row_of = {int(pid): p for p, pid in enumerate(counted.person_ids)}
    figures = person_figures(counted)
    labels = combined_labels(counted, ("union", "majority"))
    agreement = _answer_agreement(counted)
    stored = {a.person_id: a for a in PersonAgreement.objects.filter(person__in=people)}

    reviews = []
    for number, person in enumerate(people, start=1):
        review = PersonReview(person, number, BOX_COLOURS[(number - 1) % len(BOX_COLOURS)])
        for annotation in by_person.get(person.pk, []):
            majority, union = agreement.get(annotation.pk, (np.nan, np.nan))
            review.answers.append(AnswerView(
                annotation, annotation.categories, not_counted_because(annotation, person, annotation.pk in counted_ids),
                display(majority), display(union)
            ))
        p = row_of.get(person.pk)
        if p is not None:
            review.annotators = int(figures.annotators[p])
            kappa = figures.fleiss_kappa[p]
            review.fleiss_kappa = display(kappa)
            review.low_agreement = review.annotators >= 2 and kappa < settings.QUALITY_LOW_AGREEMENT_KAPPA
            review.vad_std = {d: display(figures.vad_std[p, i]) for i, d in enumerate(VAD_DIMENSIONS)}
            review.combined = {method: _label(label.record(p)) for method, label in labels.items()}
        else:
            review.vad_std = {d: "n/a" for d in VAD_DIMENSIONS}
        if person.pk in stored and stored[person.pk].dawid_skene_mask is not None:
            review.dawid_skene = mask_to_categories(stored[person.pk].dawid_skene_mask)
        reviews.append(review)
    reports = list(
        TaskAssignment.objects.filter(state=TaskAssignment.State.REPORTED)
        .filter(person__image=image).select_related("worker__user").order_by("-finished_at")
    ) + list(
        TaskAssignment.objects.filter(state=TaskAssignment.State.REPORTED, image=image)
        .select_related("worker__user").order_by("-finished_at")
    )
    return ImageReview(image, reviews, reports)


def _label(record: dict) -> dict:
    return {**record, **{d: display(record[d], 1) for d in VAD_DIMENSIONS}, "age": record["age"] or "n/a",
            "gender": record["gender"] or "n/a"}


def _answer_agreement(counted) -> dict[int, tuple[float, float]]:
    """Leave-one-out Jaccard of each counted answer with the others' majority and union, by annotation id."""
    arrays = counted.arrays
    if not arrays.n_workers:
        return {}
    loo = leave_one_out_agreement(arrays.choices, arrays.vad, arrays.worker_index, arrays.n_workers)
    filled = counted.annotation_ids >= 0
    return {
        int(a): (float(m), float(u))
        for a, m, u in zip(counted.annotation_ids[filled], loo.jaccard_majority[filled], loo.jaccard_union[filled])
    }


# ---------------------------------------------------------------- workers


@dataclass
class GoldAnswerView:
    assignment: TaskAssignment
    passed: bool
    in_window: bool


@dataclass
class WorkerOverview:
    worker: Worker
    figures: dict[str, str]
    gold_answers: list[GoldAnswerView]
    events: list[WorkerTrustEvent]
    recent_answers: list[tuple[EmotionAnnotation, str]]  # with the person's stored kappa
    answer_counts: dict[str, int]


def worker_overview(worker: Worker, recent: int = 50) -> WorkerOverview:
    figures = compute_worker_figures([worker.pk]).row(worker.pk)
    shown = {
        "Gold accuracy (window)": display(figures["gold_window_accuracy"], 0, percent=True),
        "Gold answers in window": str(int(figures["gold_window_answers"])),
        "Gold accuracy (all time)": display(figures["gold_accuracy_all_time"], 0, percent=True),
        "Gold answers (all time)": str(int(figures["gold_answers_all_time"])),
        "Agreement with the others' majority": display(figures["consensus_majority"]),
        "Agreement with the others' union": display(figures["consensus_union"]),
        **{f"{d.capitalize()} distance from the others": display(figures["vad_abs_diff"][i]) for i, d in enumerate(VAD_DIMENSIONS)},
        "Answers compared": str(int(figures["answers_compared"])),
        "Median seconds per task": display(figures["median_seconds"], 1),
        "Skipped tasks": display(figures["skip_rate"], 0, percent=True),
    }
    golds = list(selectors.control_answers([worker.pk]).select_related("gold_item").order_by("finished_at", "id"))
    reset = selectors.trust_reset_times([worker.pk]).get(worker.pk)
    recent_golds = np.array([reset is None or g.finished_at > reset for g in golds], dtype=bool)
    in_window = np.zeros(len(golds), dtype=bool)
    in_window[recent_golds] = last_in_window(np.zeros(int(recent_golds.sum()), dtype=np.int64), protocol_in_force().trust_window)
    answers = (
        EmotionAnnotation.objects.filter(worker=worker)
        .select_related("person__image", "person__agreement", "worker")
        .order_by("-created_at", "-id")[:recent]
    )
    statuses = dict(
        (status, EmotionAnnotation.objects.filter(worker=worker, status=status).count()) for status in AnnotationStatus.values
    )
    return WorkerOverview(
        worker=worker,
        figures=shown,
        gold_answers=[GoldAnswerView(g, bool(g.gold_passed), bool(w)) for g, w in zip(golds, in_window)],
        events=list(worker.trust_events.select_related("by").order_by("-created_at", "-id")),
        recent_answers=[(a, _stored_kappa(a)) for a in answers],
        answer_counts={**statuses, "excluded": EmotionAnnotation.objects.filter(worker=worker, excluded=True).count()},
    )


def _stored_kappa(annotation: EmotionAnnotation) -> str:
    try:
        return display(annotation.person.agreement.fleiss_kappa)
    except PersonAgreement.DoesNotExist:
        return "n/a"


# ---------------------------------------------------------------- control items from the review page


@dataclass
class ControlItemStart:
    """What "make control item" opens with: the form's initial values, and where they came from."""

    initial: dict
    source: str  # in words, for the admin
    existing: GoldItem | None


def control_item_start(image: Image, person: Person | None) -> ControlItemStart:
    """The acceptable answers the accepted consensus suggests (``emotic.gold.acceptable_from_answers``).

    For a person: its accepted answers (those that count when none is
    accepted yet, and the taxonomy's whole range when it has none); for the
    image's boxes: its final people boxes. An existing item opens as it is.
    """
    existing = GoldItem.objects.filter(person=person).first() if person is not None else (
        GoldItem.objects.filter(image=image).first()
    )
    if person is None:
        people = list(image.people.filter(box_status=Person.BoxStatus.FINAL).order_by("id"))
        initial = {"kind": "boxes", "image": image.pk, "expected_people": [str(p.pk) for p in people], "min_iou": 0.5}
        source = f"the image's {len(people)} final box(es)"
        return ControlItemStart(initial, source, existing)
    initial = {"kind": "emotions", "person": person.pk}
    answers = list(EmotionAnnotation.objects.filter(person=person, is_gold=False, status=AnnotationStatus.ACCEPTED))
    source = f"{len(answers)} accepted answer(s)"
    if not answers:
        counted = selectors.counted_annotations().filter(person=person)
        answers = list(counted)
        source = f"no accepted answers yet: the {len(answers)} answer(s) that count"
    if not answers:
        return ControlItemStart({**initial, "allowed_categories": list(CATEGORY_NAMES)}, "no answers yet", existing)
    gold = acceptable_from_answers(
        (a.categories, a.valence, a.arousal, a.dominance, a.gender, a.age) for a in answers
    )
    initial.update(
        required_categories=[c for c in CATEGORY_NAMES if c in gold.required_categories],
        allowed_categories=[c for c in CATEGORY_NAMES if c in gold.allowed_categories],
        allowed_genders_choice=sorted(gold.allowed_genders),
        allowed_ages_choice=sorted(gold.allowed_ages),
        **{f"{d}_{end}": getattr(gold, d)[i] for d in VAD_DIMENSIONS for i, end in enumerate(("min", "max"))},
    )
    return ControlItemStart(initial, source, existing)
