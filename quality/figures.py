"""The quality figures, computed by ``emotic`` on ``PeopleArrays``, in the form pages and reports store.

No maths here: every number comes from ``emotic.agreement``,
``emotic.aggregation`` or ``emotic.worker_quality``. This module only picks
the people each figure is over and turns arrays into JSON-able values, with
undefined figures (NaN) as None, which every page shows as "n/a".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from quality.arrays import PeopleArrays, masks_from_choices
from emotic.aggregation import METHODS, CombinedLabels, combine_labels
from emotic.agreement import agreement_summary, person_kappa, vad_spread
from emotic.taxonomy import CATEGORY_NAMES, NUM_CATEGORIES, VAD_DIMENSIONS

# Kosti et al., TPAMI 2019, validation split with 5 annotators per person.
TPAMI_MEAN_CATEGORY_KAPPA = 0.30
TPAMI_VAD_SPREAD = {"valence": 1.04, "arousal": 1.57, "dominance": 1.84}
NOT_DEFINED = "n/a"


def defined_or_none(value) -> float | None:
    """A float, or None for NaN/None: what JSON, the database and the pages hold."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def as_list(values: np.ndarray) -> list[float | None]:
    return [defined_or_none(v) for v in np.asarray(values, dtype=float).ravel()]


def display(value, digits: int = 2, percent: bool = False) -> str:
    """How a figure reads on a page: fixed digits, or "n/a" when it is not defined."""
    number = defined_or_none(value)
    if number is None:
        return NOT_DEFINED
    return f"{number * 100:.{digits}f}%" if percent else f"{number:.{digits}f}"


def dataset_figures(people: PeopleArrays, combined: dict[str, CombinedLabels] | None = None) -> dict:
    """Every dataset-wide figure over ``people`` (one scope, e.g. the val split), JSON-able.

    ``combined`` maps a method to labels for these same people (rows in
    order); the counts of positive labels per category compare the methods
    over the people with two or more annotators, where they can differ.
    """
    arrays = people.arrays
    summary = agreement_summary(arrays.choices, arrays.present, arrays.vad)
    multi = people.annotators >= 2
    figures = {
        "people": int(len(people.person_ids)),
        "answers": int(arrays.present.sum()),
        "people_compared": summary.people_compared,
        "annotators_per_person": {str(k): int(v) for k, v in zip(*np.unique(people.annotators, return_counts=True))},
        "category_kappa": as_list(summary.category_kappa),
        "mean_category_kappa": defined_or_none(summary.mean_category_kappa),
        "mean_person_kappa": defined_or_none(summary.mean_person_kappa),
        "share_people_above_threshold": defined_or_none(summary.share_people_above_threshold),
        "kappa_threshold": summary.kappa_threshold,
        "category_alpha": as_list(summary.category_alpha),
        "pooled_category_alpha": defined_or_none(summary.pooled_category_alpha),
        "vad_alpha": dict(zip(VAD_DIMENSIONS, as_list(summary.vad_alpha))),
        "vad_spread": dict(zip(VAD_DIMENSIONS, as_list(summary.vad_spread))),
        "answers_choosing": [int(v) for v in arrays.choices.sum(axis=(0, 1))] if len(people.person_ids) else [0] * NUM_CATEGORIES,
        "positive_labels": {
            method: [int(v) for v in labels.categories[multi].sum(axis=0)] if multi.any() else [0] * NUM_CATEGORIES
            for method, labels in (combined or {}).items()
        },
    }
    return figures


def combined_labels(people: PeopleArrays, methods=METHODS) -> dict[str, CombinedLabels]:
    """Combined labels of every person by each method (Dawid-Skene fitted on all of ``people``).

    Dawid-Skene stops when no posterior moves by more than
    ``settings.QUALITY_DAWID_SKENE_TOLERANCE``: labels are posteriors above
    0.5, so a finer tolerance only costs iterations.
    """
    if not len(people.person_ids):
        return {}
    options = {"dawid_skene": {"tol": settings.QUALITY_DAWID_SKENE_TOLERANCE}}
    return {method: combine_labels(people.arrays, method=method, **options.get(method, {})) for method in methods}


def subset_labels(labels: CombinedLabels, rows: np.ndarray) -> CombinedLabels:
    return CombinedLabels(labels.method, labels.categories[rows], labels.vad[rows], labels.gender[rows], labels.age[rows])


@dataclass(frozen=True)
class PersonFigures:
    """Per person (rows of ``PeopleArrays``): what ``PersonAgreement`` stores."""

    annotators: np.ndarray  # (P,)
    fleiss_kappa: np.ndarray  # (P,) NaN where undefined
    vad_std: np.ndarray  # (P, 3) NaN where fewer than two answers
    union_mask: np.ndarray  # (P,)
    majority_mask: np.ndarray  # (P,)


def person_figures(people: PeopleArrays, labels: dict[str, CombinedLabels] | None = None) -> PersonFigures:
    """Per-person figures; ``labels`` holds union and majority labels already made for ``people``, if any."""
    arrays = people.arrays
    if not labels or not {"union", "majority"} <= set(labels):
        labels = combined_labels(people, ("union", "majority"))
    if not labels:
        empty = np.zeros(0)
        return PersonFigures(empty.astype(int), empty, np.zeros((0, 3)), empty.astype(int), empty.astype(int))
    return PersonFigures(
        annotators=people.annotators,
        fleiss_kappa=person_kappa(arrays.choices, arrays.present),
        vad_std=vad_spread(arrays.vad),
        union_mask=masks_from_choices(labels["union"].categories),
        majority_mask=masks_from_choices(labels["majority"].categories),
    )


def category_rows(figures: dict) -> list[dict]:
    """One row per category for the dashboard table and its CSV."""
    positive = figures.get("positive_labels", {})
    return [
        {
            "category": name,
            "fleiss_kappa": figures["category_kappa"][c],
            "krippendorff_alpha": figures["category_alpha"][c],
            "answers_choosing": figures["answers_choosing"][c],
            **{f"positive_{method}": positive[method][c] for method in METHODS if method in positive},
        }
        for c, name in enumerate(CATEGORY_NAMES)
    ]


def vad_rows(figures: dict) -> list[dict]:
    return [
        {
            "dimension": name,
            "mean_std": figures["vad_spread"][name],
            "tpami_std": TPAMI_VAD_SPREAD[name],
            "krippendorff_alpha": figures["vad_alpha"][name],
        }
        for name in VAD_DIMENSIONS
    ]

