"""Combined labels for people with several annotators.

The default is EMOTIC's own rule: a category is positive if any annotator
chose it (union; the official evaluation code builds ``combined_categories``
so) and VAD is the mean over annotators. Stricter rules are options, never
silent defaults:

- ``majority``: chosen by strictly more than half of the person's
  annotators. A tie (exactly half, with an even count) is *not* chosen, so
  the rule never adds a category on split evidence. It can leave a person
  with no category at all; the caller decides what to do with such people.
- ``dawid_skene``: per-category Dawid-Skene EM (``emotic.dawid_skene``),
  which weighs each worker by their estimated reliability.

Gender and age are nominal: the most frequent answer. A tie goes to the
tied value that was given first (lowest annotator slot; ``from_answers``
keeps submission order), which is deterministic and favours no value of the
taxonomy over another. VAD is the mean whatever the method.

Arrays follow ``emotic.annotation_arrays``. A person with no answers gets no
category, NaN VAD and -1 gender and age.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emotic.annotation_arrays import MISSING, AnnotationArrayError, AnnotationArrays, as_choices, as_codes, as_vad
from emotic.dawid_skene import dawid_skene
from emotic.taxonomy import AGES, CATEGORY_NAMES, GENDERS, VAD_DIMENSIONS

METHODS = ("union", "majority", "dawid_skene")


def union_categories(choices: object, present: object) -> np.ndarray:
    """(P, C): chosen by at least one annotator (EMOTIC's combined_categories)."""
    choices_arr, _ = as_choices(choices, present)
    return choices_arr.any(axis=1)


def majority_categories(choices: object, present: object) -> np.ndarray:
    """(P, C): chosen by strictly more than half of the person's annotators; ties are not chosen."""
    choices_arr, present_arr = as_choices(choices, present)
    return 2 * choices_arr.sum(axis=1) > present_arr.sum(axis=1)[:, None]


def mean_vad(vad: object) -> np.ndarray:
    """(P, 3): mean of the given values per dimension; NaN where a person has none."""
    arr = as_vad(vad)
    given = ~np.isnan(arr)
    n = given.sum(axis=1)
    return np.divide(np.where(given, arr, 0).sum(axis=1), n, out=np.full(n.shape, np.nan), where=n > 0)


def majority_label(codes: object, n_labels: int, field: str = "codes") -> np.ndarray:
    """(P,): the most frequent code per row of (P, A) codes (-1 missing); ties go to the earliest answer.

    -1 where a row has no answer.
    """
    arr = as_codes(codes, n_labels, field)
    if arr.ndim != 2:
        raise AnnotationArrayError(field, f"expected a (people, annotators) array, got shape {arr.shape}")
    one_hot = arr[:, :, None] == np.arange(n_labels)  # (P, A, K)
    counts = one_hot.sum(axis=1)
    first_slot = np.where(one_hot.any(axis=1), one_hot.argmax(axis=1), arr.shape[1])  # (P, K)
    tied = counts == counts.max(axis=1, keepdims=True)
    winner = np.where(tied, first_slot, arr.shape[1] + 1).argmin(axis=1)
    return np.where(counts.max(axis=1) > 0, winner, MISSING)


@dataclass(frozen=True)
class CombinedLabels:
    """One combined label per person: categories (P, C) bool, vad (P, 3), gender and age codes (P,)."""

    method: str
    categories: np.ndarray
    vad: np.ndarray
    gender: np.ndarray
    age: np.ndarray

    def record(self, person: int) -> dict:
        """Person ``person``'s label with names, as the export formats write it."""
        return {
            "categories": [CATEGORY_NAMES[c] for c in np.flatnonzero(self.categories[person])],
            **{name: float(self.vad[person, d]) for d, name in enumerate(VAD_DIMENSIONS)},
            "gender": GENDERS[self.gender[person]] if self.gender[person] != MISSING else None,
            "age": AGES[self.age[person]] if self.age[person] != MISSING else None,
        }


def combine_labels(arrays: AnnotationArrays, method: str = "union", **dawid_skene_options) -> CombinedLabels:
    """Combined labels for every person in ``arrays`` by ``method`` (union, majority, dawid_skene)."""
    if dawid_skene_options and method != "dawid_skene":
        raise AnnotationArrayError("method", f"options {sorted(dawid_skene_options)} apply only to dawid_skene")
    if method == "union":
        categories = union_categories(arrays.choices, arrays.present)
    elif method == "majority":
        categories = majority_categories(arrays.choices, arrays.present)
    elif method == "dawid_skene":
        categories = dawid_skene(arrays.choices, arrays.worker_index, arrays.n_workers, **dawid_skene_options).labels
    else:
        raise AnnotationArrayError("method", f"must be one of {', '.join(METHODS)}, got {method!r}")
    present = arrays.present[:, :, None]
    return CombinedLabels(
        method=method,
        categories=categories,
        vad=mean_vad(np.where(present, arrays.vad, np.nan)),
        gender=majority_label(np.where(arrays.present, arrays.gender, MISSING), len(GENDERS), "gender"),
        age=majority_label(np.where(arrays.present, arrays.age, MISSING), len(AGES), "age"),
    )
