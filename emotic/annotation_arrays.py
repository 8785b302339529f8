"""Array forms of multi-annotator emotion answers, shared by agreement and aggregation.

Every quality figure is computed on these arrays, so the maths is vectorised
over people instead of looping over Python objects. Shapes (P people,
A annotator slots, C categories; C is 26 in ``emotic.taxonomy`` column order):

``choices``       bool  (P, A, C)  True where the answer in slot a chose category c
``present``       bool  (P, A)     which slots hold an answer
``vad``           float (P, A, 3)  valence, arousal, dominance on 1..10; NaN where no answer
``worker_index``  int   (P, A)     index into ``worker_ids``; -1 where no answer
``gender``, ``age`` int (P, A)     index into ``GENDERS`` / ``AGES``; -1 where not given

A slot is not a worker: slot 0 of one person and slot 0 of another are
usually different workers. Worker identity lives in ``worker_index``. People
with fewer answers than A leave the trailing slots empty. Values in empty
slots are ignored by every function here.

``AnnotationArrays.from_answers`` builds the arrays from a list of answers
per person, the convenient form for callers holding database rows.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from emotic.errors import FieldError
from emotic.taxonomy import (
    AGES,
    GENDERS,
    NUM_CATEGORIES,
    VAD_DIMENSIONS,
    VAD_MAX,
    VAD_MIN,
    TaxonomyError,
    categories_to_mask,
    mask_to_categories,
    validate_age,
    validate_gender,
    validate_vad,
)

MISSING = -1  # code for "no answer" in worker_index, gender and age arrays


class AnnotationArrayError(FieldError):
    """An input array of the wrong shape, type or range; ``field`` names it."""


def as_choices(choices: object, present: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``choices`` (P, A, C) and ``present`` (P, A); return them as booleans.

    The returned choices are False in empty slots, so sums over the annotator
    axis count only real answers.
    """
    choices_arr = np.asarray(choices)
    if choices_arr.ndim != 3 or choices_arr.shape[2] == 0:
        raise AnnotationArrayError(
            "choices", f"expected a (people, annotators, categories) array, got shape {choices_arr.shape}"
        )
    present_arr = as_bool(present, "present")
    if present_arr.shape != choices_arr.shape[:2]:
        raise AnnotationArrayError(
            "present", f"expected shape {choices_arr.shape[:2]} to match choices, got {present_arr.shape}"
        )
    return as_bool(choices_arr, "choices") & present_arr[:, :, None], present_arr


def as_bool(values: object, field: str) -> np.ndarray:
    """Return a boolean array, accepting 0/1 numbers; anything else is an error naming ``field``."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
        raise AnnotationArrayError(field, "values must be booleans or 0/1")
    return arr.astype(bool)


def as_vad(vad: object) -> np.ndarray:
    """Validate a (P, A, 3) VAD array: finite values on the 1..10 scale or NaN."""
    arr = np.asarray(vad, dtype=float)
    if arr.ndim != 3 or arr.shape[2] != len(VAD_DIMENSIONS):
        raise AnnotationArrayError("vad", f"expected a (people, annotators, 3) array, got shape {arr.shape}")
    given = arr[~np.isnan(arr)]
    if given.size and not ((given >= VAD_MIN) & (given <= VAD_MAX)).all():
        raise AnnotationArrayError("vad", f"values must lie in {VAD_MIN}..{VAD_MAX} or be NaN for a missing answer")
    return arr


def as_codes(codes: object, n_labels: int, field: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Validate an integer code array with values in -1..n_labels-1 (-1: missing)."""
    arr = np.asarray(codes)
    if arr.dtype.kind not in "iu":
        raise AnnotationArrayError(field, f"expected integer codes, got dtype {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise AnnotationArrayError(field, f"expected shape {shape}, got {arr.shape}")
    if arr.size and (arr.min() < MISSING or arr.max() >= n_labels):
        raise AnnotationArrayError(field, f"codes must lie in -1..{n_labels - 1} (-1 for missing)")
    return arr.astype(np.int64)


def as_worker_index(worker_index: object, choices: object) -> np.ndarray:
    """Validate (P, A) worker indices (-1: empty slot) against (P, A, C) choices."""
    expected = np.shape(choices)[:2]
    return as_codes(worker_index, np.iinfo(np.int64).max, "worker_index", expected)


def count_workers(worker_index: np.ndarray, n_workers: int | None) -> int:
    """The number of workers: ``n_workers`` if given (checked), else max index + 1."""
    needed = int(worker_index.max()) + 1 if worker_index.size else 0
    if n_workers is None:
        return needed
    if n_workers < needed:
        raise AnnotationArrayError("n_workers", f"{n_workers} is less than the largest worker index + 1 ({needed})")
    return n_workers


@dataclass(frozen=True)
class EmotionAnswer:
    """One worker's answer for one person, in the plain form callers hold.

    ``categories`` is a collection of category names or a 26-bit mask (as
    stored on ``EmotionAnnotation.categories_mask``). ``gender`` and ``age``
    may be None when the task did not ask for them.
    """

    worker: Hashable
    categories: Iterable[str] | int
    valence: int
    arousal: int
    dominance: int
    gender: str | None = None
    age: str | None = None


@dataclass(frozen=True)
class AnnotationArrays:
    """The arrays described in the module docstring, for one set of people."""

    choices: np.ndarray
    present: np.ndarray
    vad: np.ndarray
    worker_index: np.ndarray
    gender: np.ndarray
    age: np.ndarray
    worker_ids: tuple[Hashable, ...]

    def __post_init__(self) -> None:
        as_choices(self.choices, self.present)
        slots = self.present.shape
        if as_vad(self.vad).shape[:2] != slots:
            raise AnnotationArrayError("vad", f"expected shape {slots + (len(VAD_DIMENSIONS),)}, got {self.vad.shape}")
        index = as_codes(self.worker_index, len(self.worker_ids), "worker_index", slots)
        if ((index >= 0) != self.present).any():
            raise AnnotationArrayError("worker_index", "must be >= 0 exactly where present is True")
        as_codes(self.gender, len(GENDERS), "gender", slots)
        as_codes(self.age, len(AGES), "age", slots)

    @property
    def n_workers(self) -> int:
        return len(self.worker_ids)

    @classmethod
    def from_answers(cls, people: Sequence[Sequence[EmotionAnswer]]) -> AnnotationArrays:
        """Build arrays from a list of answers per person (order of people is kept).

        Slots follow the order of each person's answers, so pass them in
        submission order: the gender/age tie-break prefers earlier answers.
        """
        n_people = len(people)
        n_slots = max((len(answers) for answers in people), default=0)
        choices = np.zeros((n_people, n_slots, NUM_CATEGORIES), dtype=bool)
        vad = np.full((n_people, n_slots, len(VAD_DIMENSIONS)), np.nan)
        worker_index = np.full((n_people, n_slots), MISSING, dtype=np.int64)
        gender = np.full((n_people, n_slots), MISSING, dtype=np.int64)
        age = np.full((n_people, n_slots), MISSING, dtype=np.int64)
        worker_ids: dict[Hashable, int] = {}
        for p, answers in enumerate(people):
            seen: set[Hashable] = set()
            for a, answer in enumerate(answers):
                where = f"answers[{p}][{a}]"
                if answer.worker in seen:
                    raise AnnotationArrayError(f"{where}.worker", f"worker {answer.worker!r} answered person {p} twice")
                seen.add(answer.worker)
                worker_index[p, a] = worker_ids.setdefault(answer.worker, len(worker_ids))
                choices[p, a] = _category_row(answer.categories, f"{where}.categories")
                for d, name in enumerate(VAD_DIMENSIONS):
                    value = getattr(answer, name)
                    vad[p, a, d] = _taxonomy_checked(f"{where}.{name}", lambda: validate_vad(name, value))
                if answer.gender is not None:
                    checked = _taxonomy_checked(f"{where}.gender", lambda: validate_gender(answer.gender))
                    gender[p, a] = GENDERS.index(checked)
                if answer.age is not None:
                    age[p, a] = AGES.index(_taxonomy_checked(f"{where}.age", lambda: validate_age(answer.age)))
        return cls(choices, worker_index >= 0, vad, worker_index, gender, age, tuple(worker_ids))


def _category_row(categories: Iterable[str] | int, field: str) -> np.ndarray:
    if isinstance(categories, str):
        raise AnnotationArrayError(field, f"expected a collection of category names, got the string {categories!r}")
    try:
        mask = categories if isinstance(categories, int) else categories_to_mask(categories)
        names = mask_to_categories(mask)
    except TaxonomyError as error:
        raise AnnotationArrayError(field, error.reason) from None
    if not names:
        raise AnnotationArrayError(field, "an answer must choose at least one category")
    return (mask >> np.arange(NUM_CATEGORIES)) & 1 == 1


def _taxonomy_checked(field: str, check):
    """Run a taxonomy validator, re-raising its error as an AnnotationArrayError naming ``field``."""
    try:
        return check()
    except TaxonomyError as error:
        raise AnnotationArrayError(field, error.reason) from None
