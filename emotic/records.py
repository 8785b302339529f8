"""Plain records of an EMOTIC dataset, independent of Django.

The exporter turns database rows into these records and every file format in
``emotic.formats`` writes and reads them, so a format never needs Django and a
snapshot can be read back on a GPU box. Records validate themselves when they
are built: an invalid record cannot exist, and the error names the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from emotic.boxes import BoxError, validate_box
from emotic.names import UnsafeName, clean_filename, clean_folder
from emotic.taxonomy import (
    CATEGORY_INDEX,
    SPLITS,
    VAD_DIMENSIONS,
    VAD_MAX,
    VAD_MIN,
    TaxonomyError,
    validate_age,
    validate_gender,
    validate_vad,
)


class RecordError(TaxonomyError):
    """A record field is invalid; ``field`` is its path (``people[2].body_bbox``)."""


@contextmanager
def located(prefix: str) -> Iterator[None]:
    """Prefix the field path of any validation error raised inside, e.g. ``people[2].``."""
    try:
        yield
    except TaxonomyError as error:
        raise RecordError(f"{prefix}{error.field}", error.reason) from None


def _categories(field_name: str, names: object) -> tuple[str, ...]:
    """Valid, distinct category names in taxonomy order (so equal sets compare equal)."""
    if isinstance(names, str) or not hasattr(names, "__iter__"):
        raise RecordError(field_name, f"must be a list of category names, got {names!r}")
    names = tuple(names)
    for name in names:
        if not isinstance(name, str):
            raise RecordError(field_name, f"category names must be strings, got {name!r}")
        if name not in CATEGORY_INDEX:
            raise RecordError(field_name, f"unknown category {name!r}")
        if names.count(name) > 1:
            raise RecordError(field_name, f"category {name!r} appears more than once")
    return tuple(sorted(names, key=CATEGORY_INDEX.__getitem__))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_box(box: object, field_name: str, width: int | None = None, height: int | None = None) -> tuple:
    """``emotic.boxes``'s rules for a body box, reported as a record error."""
    try:
        return validate_box(box, width, height, field=field_name)
    except BoxError as error:
        raise RecordError(error.field, error.reason) from None


@dataclass(frozen=True)
class AnnotatorAnswer:
    """One annotator's answer for one person.

    VAD is all three integers or all ``None`` (the official file stores NaN
    where a person got no continuous annotation). Gender and age are ``None``
    where the source keeps them per person only (val/test of Annotations.mat).
    """

    categories: tuple[str, ...]
    valence: int | None
    arousal: int | None
    dominance: int | None
    gender: str | None = None
    age: str | None = None
    annotator_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", _categories("categories", self.categories))
        given = [d for d in VAD_DIMENSIONS if getattr(self, d) is not None]
        if given and len(given) != len(VAD_DIMENSIONS):
            missing = ", ".join(d for d in VAD_DIMENSIONS if d not in given)
            raise RecordError(missing, "valence, arousal and dominance must be given together")
        if not self.categories and not given:
            raise RecordError("categories", "an answer needs categories or valence/arousal/dominance")
        with located(""):
            for dimension in given:
                validate_vad(dimension, getattr(self, dimension))
            if self.gender is not None:
                validate_gender(self.gender)
            if self.age is not None:
                validate_age(self.age)
        if self.annotator_id is not None and not isinstance(self.annotator_id, str):
            raise RecordError("annotator_id", f"must be a string, got {self.annotator_id!r}")

    @property
    def vad(self) -> tuple[int, int, int] | None:
        if self.valence is None:
            return None
        return (self.valence, self.arousal, self.dominance)  # type: ignore[return-value]


@dataclass(frozen=True)
class PersonRecord:
    """One person: the body box, every annotator's answer and the combined labels.

    ``body_bbox`` is ``(x1, y1, x2, y2)`` in whole pixels of the image as the
    annotators saw it. ``combined_continuous`` is the (valence, arousal,
    dominance) of the label rule, floats on the 1-10 scale, or ``None``.
    """

    body_bbox: tuple[int, int, int, int]
    answers: tuple[AnnotatorAnswer, ...]
    combined_categories: tuple[str, ...]
    combined_continuous: tuple[float, float, float] | None
    combined_gender: str
    combined_age: str

    def __post_init__(self) -> None:
        # The image's size is known only to the ImageRecord, which checks the far corner.
        object.__setattr__(self, "body_bbox", _checked_box(self.body_bbox, "body_bbox"))

        answers = tuple(self.answers)
        if not answers:
            raise RecordError("answers", "a person needs at least one annotator answer")
        for i, answer in enumerate(answers):
            if not isinstance(answer, AnnotatorAnswer):
                raise RecordError(f"answers[{i}]", f"must be an AnnotatorAnswer, got {type(answer).__name__}")
        object.__setattr__(self, "answers", answers)

        object.__setattr__(
            self, "combined_categories", _categories("combined_categories", self.combined_categories)
        )
        object.__setattr__(self, "combined_continuous", _combined_vad(self.combined_continuous))
        with located("combined_"):
            validate_gender(self.combined_gender)
            validate_age(self.combined_age)


def _combined_vad(values: object) -> tuple[float, float, float] | None:
    if values is None:
        return None
    values = tuple(values) if hasattr(values, "__iter__") else ()
    if len(values) != len(VAD_DIMENSIONS):
        raise RecordError("combined_continuous", "must be (valence, arousal, dominance) or None")
    result = []
    for dimension, value in zip(VAD_DIMENSIONS, values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise RecordError(f"combined_continuous.{dimension}", f"must be a number, got {value!r}")
        if not VAD_MIN <= value <= VAD_MAX:
            raise RecordError(f"combined_continuous.{dimension}", f"must be from {VAD_MIN} to {VAD_MAX}, got {value}")
        result.append(float(value))
    return tuple(result)  # type: ignore[return-value]


@dataclass(frozen=True)
class ImageRecord:
    """One image of a split and its annotated people.

    ``folder`` is relative (``mscoco/images``); the file lies at
    ``<root>/<folder>/<filename>``. ``width`` and ``height`` are EMOTIC's
    ``n_col`` and ``n_row``.
    """

    filename: str
    folder: str
    width: int
    height: int
    original_database: str
    split: str
    people: tuple[PersonRecord, ...] = field(default=())

    def __post_init__(self) -> None:
        try:  # the one rule for names (emotic.names); an unambiguous folder spelling is normalised
            clean_filename(self.filename)
            object.__setattr__(self, "folder", clean_folder(self.folder))
        except UnsafeName as error:
            raise RecordError(error.field, error.reason) from None
        for name in ("width", "height"):
            value = getattr(self, name)
            if not _is_int(value) or value <= 0:
                raise RecordError(name, f"must be a positive whole number of pixels, got {value!r}")
        if not isinstance(self.original_database, str) or not self.original_database:
            raise RecordError("original_database", f"must be a non-empty name, got {self.original_database!r}")
        if self.split not in SPLITS:
            raise RecordError("split", f"must be one of {', '.join(SPLITS)}, got {self.split!r}")
        people = tuple(self.people)
        if not people:
            raise RecordError("people", "an image in an EMOTIC file needs at least one annotated person")
        for i, person in enumerate(people):
            if not isinstance(person, PersonRecord):
                raise RecordError(f"people[{i}]", f"must be a PersonRecord, got {type(person).__name__}")
            _checked_box(person.body_bbox, f"people[{i}].body_bbox", self.width, self.height)
        object.__setattr__(self, "people", people)

    @property
    def relative_path(self) -> str:
        return f"{self.folder}/{self.filename}" if self.folder else self.filename

